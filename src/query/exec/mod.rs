//! Execution: per segment, select rows (filters, indexes), decode only the key and value
//! columns' blocks that hold selected rows, aggregate on segment-local ids (dictionary codes,
//! integers, bucket starts), and turn ids into values once per group per morsel.
//!
//! Segments are processed in parallel by worker threads; their partial group tables flow over
//! a bounded channel to the calling thread, which merges them under the memory budget and
//! spills to disk when the budget would be exceeded (see `spill`).
//!
//! The execution room: this module (the general path, on `KeyValue` groups) and
//! - [`fast`]: count pivots on integer keys (dictionary codes interned to global ids);
//! - [`bytegroups`]: count pivots over very many groups, byte-encoded keys in hash partitions;
//! - [`distinct`]: exact distinct counts on bitsets of dictionary codes and roaring bitmaps;
//! - [`hll`]: HyperLogLog sketches for `approx_count_distinct`;
//! - [`spill`]: hash partitions of compressed runs when groups outgrow the memory budget;
//! - [`partial`]: a pivot as map, reduce and finish steps (`logpivot.ray`);
//! - [`scan`]: the selected rows of some columns as Arrow record batches.
//!
//! Contract: reads segments through `segment` and selects rows through `lang::filter`; takes
//! a resolved `Plan` (never a user's names) and hands back groups in `shape::value`'s terms.
//! Which path a query takes is decided in `query::run_groups`, from the plan alone.

pub(in crate::query) mod bytegroups;
pub(in crate::query) mod distinct;
pub(in crate::query) mod fast;
pub mod hll;
pub mod partial;
pub mod scan;
pub mod spill;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::index::RowRange;
use crate::json::time;
use crate::segment::{ColumnType, Dictionary, SegmentReader, Values, BLOCK_ROWS, TIME_COLUMN};

use crate::query::expr::Expr;
use crate::query::filter::{Bits, FilterStats, SegmentFilter};
use crate::query::hll::Hll;
use crate::query::plan::{AggFn, Join, KeyPart, KeySpec, Schema, TimeSource, ValueSpec};
use crate::query::tz::{self, Tz};
use crate::query::value::{AggState, F64Key, KeyValue};

/// A local id meaning "no value".
pub(crate) const NULL_ID: u64 = u64::MAX;

/// Integer-valued ids (ints, times, time buckets, hours) are the value with every bit but the
/// sign flipped, so the null id (all ones) stands for `i64::MIN`, never for a common value such
/// as -1. A column that holds `i64::MIN` itself gets segment-local codes instead
/// ([`Decoder::IntList`]).
const FLIP: u64 = 0x7FFF_FFFF_FFFF_FFFF;

fn int_id(v: i64) -> u64 {
    (v as u64) ^ FLIP
}

pub(crate) fn id_int(id: u64) -> i64 {
    (id ^ FLIP) as i64
}

/// Rows aggregated locally before the partial table is handed on.
const MORSEL_ROWS: usize = BLOCK_ROWS;

/// Groups a local table may hold before it is handed on early (bounds the memory of partials
/// in flight when one row updates many groups: grouping sets, exploded keys).
const MORSEL_GROUPS: usize = 1 << 15;

/// The resolved query.
#[derive(Clone)]
pub struct Plan {
    /// Row keys, then the column key (if any) last.
    pub keys: Vec<KeySpec>,
    pub n_row_keys: usize,
    pub values: Vec<ValueSpec>,
    pub filter: Option<Expr>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub joins: Vec<Join>,
    pub tz: Tz,
    pub use_indexes: bool,
    /// Grouping sets (indexes into `keys`): when not empty, every selected event is counted
    /// once per set, under the key `[Int(set index), the set's values..., Null padding]`,
    /// so one scan serves several group-bys (contrast counts every field in one pass).
    /// Empty: the usual single grouping by all keys.
    pub grouping_sets: Vec<Vec<usize>>,
}

impl Plan {
    /// Width of an emitted group key.
    pub fn key_width(&self) -> usize {
        if self.grouping_sets.is_empty() {
            self.keys.len()
        } else {
            1 + self.grouping_sets.iter().map(Vec::len).max().unwrap_or(0)
        }
    }

    /// The state vector of a new group: a hidden event count, then each value.
    pub fn new_states(&self) -> Vec<AggState> {
        std::iter::once(AggState::Count(0))
            .chain(self.values.iter().map(|v| AggState::new(v.func)))
            .collect()
    }
}

/// What processing one segment did.
#[derive(Clone, Debug, Default)]
pub struct SegmentReport {
    pub pruned: bool,
    pub rows: u64,
    pub selected: u64,
    pub filter: FilterStats,
}

/// Turns a segment-local id into a value.
pub(crate) enum Decoder {
    Null,
    Dict(Arc<Dictionary>),
    Int {
        as_text: bool,
    },
    /// Integers by segment-local code (a column holding `i64::MIN`, whose flipped id would be
    /// the null id).
    IntList {
        values: Vec<i64>,
        as_text: bool,
    },
    Float {
        as_text: bool,
    },
    Bool {
        as_text: bool,
    },
    Time,
    SmallInt,
    /// Times by local id (time buckets read off the minute index).
    TimeList(Vec<i64>),
    /// Texts by local id (extracted values).
    Texts(Vec<Arc<str>>),
    /// Values of a joined map column, by local id; NULL_ID = unmatched.
    Joined {
        join: usize,
        values: Vec<Arc<str>>,
    },
}

impl Decoder {
    /// Append the [`crate::query::value::put_key`] encoding of `decode(id)` to `out`; a dictionary
    /// string is copied straight from the dictionary (borrowed when valid UTF-8, as the
    /// ingester stores it), without building a `KeyValue`.
    pub(crate) fn put_encoded(&self, id: u64, joins: &[Join], out: &mut Vec<u8>) {
        match self {
            Decoder::Dict(d) if id != NULL_ID => {
                crate::query::value::put_str_key(out, &d.get_str(id as u32));
            }
            _ => crate::query::value::put_key(out, &self.decode(id, joins)),
        }
    }

    pub(crate) fn decode(&self, id: u64, joins: &[Join]) -> KeyValue {
        if id == NULL_ID {
            if let Decoder::Joined { join, .. } = self {
                return KeyValue::Str(joins[*join].unmatched.as_str().into());
            }
            return KeyValue::Null;
        }
        match self {
            Decoder::Null => KeyValue::Null,
            Decoder::Dict(d) => KeyValue::Str(d.get_str(id as u32).into()),
            Decoder::Int { as_text: false } => KeyValue::Int(id_int(id)),
            Decoder::Int { as_text: true } => KeyValue::Str(id_int(id).to_string().into()),
            Decoder::IntList { values, as_text } => match values.get(id as usize) {
                Some(v) if *as_text => KeyValue::Str(v.to_string().into()),
                Some(v) => KeyValue::Int(*v),
                None => KeyValue::Null,
            },
            Decoder::Float { as_text } => {
                let f = f64::from_bits(id);
                if *as_text {
                    KeyValue::Str(format!("{f:?}").into())
                } else {
                    KeyValue::Float(F64Key::new(f))
                }
            }
            Decoder::Bool { as_text: false } => KeyValue::Bool(id == 1),
            Decoder::Bool { as_text: true } => {
                KeyValue::Str(if id == 1 { "true" } else { "false" }.into())
            }
            Decoder::Time => KeyValue::Time(id_int(id)),
            Decoder::SmallInt => KeyValue::Int(id_int(id)),
            Decoder::TimeList(values) => values
                .get(id as usize)
                .map_or(KeyValue::Null, |&t| KeyValue::Time(t)),
            Decoder::Texts(values) | Decoder::Joined { values, .. } => KeyValue::Str(
                values
                    .get(id as usize)
                    .cloned()
                    .unwrap_or_else(|| "".into()),
            ),
        }
    }
}

/// Per-row ids of one key (or distinct-value) column within a segment.
pub(crate) struct IdColumn {
    pub(crate) ids: Vec<u64>,
    pub(crate) decoder: Decoder,
    /// For a multi-valued key (`extract`): `ids[row]` indexes these lists of value ids.
    pub(crate) lists: Option<Vec<Vec<u64>>>,
    /// Decoded values of dictionary codes, filled on first use (one allocation per distinct
    /// value per segment, not per group).
    cache: std::cell::RefCell<Vec<Option<KeyValue>>>,
}

/// Identity of an exploded source: keys from the same `extract(...)` move in lockstep.
fn explode_source(part: &KeyPart, plan: &Plan) -> Option<String> {
    match part {
        KeyPart::Extract { .. } => Some(format!("{part:?}")),
        KeyPart::Joined { join, .. } => explode_source(&plan.joins[*join].source, plan),
        _ => None,
    }
}

impl IdColumn {
    fn single(ids: Vec<u64>, decoder: Decoder) -> IdColumn {
        IdColumn {
            ids,
            decoder,
            lists: None,
            cache: Default::default(),
        }
    }

    /// Decode an id, through the per-segment cache for dictionary codes.
    fn decode(&self, id: u64, joins: &[Join]) -> KeyValue {
        let Decoder::Dict(d) = &self.decoder else {
            return self.decoder.decode(id, joins);
        };
        if id == NULL_ID || id as usize >= d.len() {
            return self.decoder.decode(id, joins);
        }
        let mut cache = self.cache.borrow_mut();
        if cache.is_empty() {
            cache.resize(d.len(), None);
        }
        match &cache[id as usize] {
            Some(v) => v.clone(),
            None => {
                let v = self.decoder.decode(id, joins);
                cache[id as usize] = Some(v.clone());
                v
            }
        }
    }

    /// [`crate::query::hll::hash_key`] of `decode(id)`; a dictionary string that is valid UTF-8 is
    /// hashed straight from the dictionary, without building a `KeyValue`.
    fn value_hash(&self, id: u64, joins: &[Join]) -> u64 {
        match &self.decoder {
            Decoder::Dict(d) if id != NULL_ID => crate::query::hll::hash_str(&d.get_str(id as u32)),
            _ => crate::query::hll::hash_key(&self.decoder.decode(id, joins)),
        }
    }

    /// The value ids of `row` (one for a single-valued key; NULL_ID for none).
    fn values_of(&self, row: usize) -> &[u64] {
        const NULL: &[u64] = &[NULL_ID];
        let id = self.ids[row];
        match &self.lists {
            None => std::slice::from_ref(&self.ids[row]),
            Some(_) if id == NULL_ID => NULL,
            Some(l) => match l.get(id as usize) {
                Some(v) if !v.is_empty() => v,
                _ => NULL,
            },
        }
    }
}

/// Does block `bi` (rows `[start, end)`) hold a selected row?
fn block_needed(sel: &Bits, start: usize, end: usize) -> bool {
    sel.any_in(start, end)
}

/// Decode a stored column into per-row ids (NULL_ID for nulls and unselected blocks).
fn column_ids(seg: &SegmentReader, name: &str, as_text: bool, sel: &Bits) -> Result<IdColumn> {
    let n = seg.meta().rows as usize;
    let Some((ci, cm)) = seg.meta().column(name) else {
        return Ok(IdColumn::single(vec![NULL_ID; n], Decoder::Null));
    };
    let decoder = match cm.ty {
        ColumnType::Str => Decoder::Dict(seg.dictionary(ci)?),
        ColumnType::Int => Decoder::Int { as_text },
        ColumnType::Float => Decoder::Float { as_text },
        ColumnType::Bool => Decoder::Bool { as_text },
        ColumnType::Time => Decoder::Time,
    };
    // Built block by block with `extend` (skipped blocks as NULL_ID), not zero-filled first and
    // then overwritten: one write pass over the column instead of two.
    let mut ids: Vec<u64> = Vec::with_capacity(n);
    let mut saw_min = false;
    let mut start = 0usize;
    for (bi, bm) in cm.blocks.iter().enumerate() {
        let end = start + bm.rows as usize;
        if end > n {
            return Err(Error::corrupt(
                seg.path(),
                0,
                format!("column `{name}` has more rows than the segment"),
            ));
        }
        if block_needed(sel, start, end) {
            let b = seg.block(ci, bi)?;
            if b.values.len() != bm.rows as usize {
                return Err(Error::corrupt(
                    seg.path(),
                    bm.region.offset,
                    format!(
                        "block {bi} of column `{name}` holds {} values, its metadata says {}",
                        b.values.len(),
                        bm.rows
                    ),
                ));
            }
            // One loop per value type, so the per-row work is a load and a store.
            fn fill<T: Copy>(
                out: &mut Vec<u64>,
                v: &[T],
                valid: Option<&[bool]>,
                f: impl Fn(T) -> u64,
            ) {
                match valid {
                    None => out.extend(v.iter().map(|&x| f(x))),
                    Some(ok) => out.extend(
                        v.iter()
                            .zip(ok)
                            .map(|(&x, &ok)| if ok { f(x) } else { NULL_ID }),
                    ),
                }
            }
            let valid = b.validity.as_deref();
            match &b.values {
                Values::Codes(c) => fill(&mut ids, c, valid, u64::from),
                Values::Int(v) => {
                    fill(&mut ids, v, valid, int_id);
                    // Only i64::MIN maps onto NULL_ID: look for it in the values themselves.
                    saw_min |= v
                        .iter()
                        .enumerate()
                        .any(|(i, &x)| x == i64::MIN && valid.is_none_or(|ok| ok[i]));
                }
                Values::Float(v) => fill(&mut ids, v, valid, f64::to_bits),
                Values::Bool(v) => fill(&mut ids, v, valid, u64::from),
            }
        }
        // A validity vector shorter than the values leaves the rest of the block null.
        ids.resize(end, NULL_ID);
        start = end;
    }
    ids.resize(n, NULL_ID);
    if saw_min && cm.ty == ColumnType::Int {
        if let Some(c) = int_list(seg, ci, as_text, sel)? {
            return Ok(c);
        }
    }
    Ok(IdColumn::single(ids, decoder))
}

/// An integer column as segment-local codes, if it holds `i64::MIN` (else None: the flipped
/// ids are unambiguous).
fn int_list(seg: &SegmentReader, ci: usize, as_text: bool, sel: &Bits) -> Result<Option<IdColumn>> {
    let n = seg.meta().rows as usize;
    let mut ids = vec![NULL_ID; n];
    let mut values: Vec<i64> = Vec::new();
    let mut codes: HashMap<i64, u64> = HashMap::new();
    let mut start = 0usize;
    let cm = &seg.meta().columns[ci];
    for (bi, bm) in cm.blocks.iter().enumerate() {
        let end = start + bm.rows as usize;
        if block_needed(sel, start, end) {
            let b = seg.block(ci, bi)?;
            if let Values::Int(v) = &b.values {
                for (i, &x) in v.iter().enumerate() {
                    if b.is_valid(i) {
                        ids[start + i] = *codes.entry(x).or_insert_with(|| {
                            values.push(x);
                            values.len() as u64 - 1
                        });
                    }
                }
            }
        }
        start = end;
    }
    if !codes.contains_key(&i64::MIN) {
        return Ok(None);
    }
    Ok(Some(IdColumn::single(
        ids,
        Decoder::IntList { values, as_text },
    )))
}

/// Event times of a segment from `src` (None = no usable time).
fn times(seg: &SegmentReader, src: &TimeSource, sel: &Bits) -> Result<Vec<Option<i64>>> {
    let name = match src {
        TimeSource::Derived => TIME_COLUMN,
        TimeSource::Column(c) => c.as_str(),
    };
    let col = column_ids(seg, name, false, sel)?;
    Ok(map_rows(&col, time::parse_time_str, |id| {
        match &col.decoder {
            Decoder::Time => Some(id_int(id)),
            Decoder::Int { .. } => time::from_epoch_int(id_int(id)),
            Decoder::IntList { values, .. } => values
                .get(id as usize)
                .and_then(|v| time::from_epoch_int(*v)),
            Decoder::Float { .. } => time::from_epoch_f64(f64::from_bits(id)),
            _ => None,
        }
    }))
}

/// Map each row's id to a value: dictionary entries through `from_text`, once per entry (not
/// per row); other ids through `other`. Null ids map to None.
fn map_rows<T: Copy>(
    col: &IdColumn,
    from_text: impl Fn(&str) -> Option<T>,
    other: impl Fn(u64) -> Option<T>,
) -> Vec<Option<T>> {
    let per_code: Option<Vec<Option<T>>> = match &col.decoder {
        Decoder::Dict(d) => Some(
            d.iter()
                .map(|s| from_text(&String::from_utf8_lossy(s)))
                .collect(),
        ),
        _ => None,
    };
    col.ids
        .iter()
        .map(|&id| match (&per_code, id) {
            (_, NULL_ID) => None,
            (Some(p), id) => p.get(id as usize).copied().flatten(),
            (None, id) => other(id),
        })
        .collect()
}

/// The segment's per-minute time index, if it has one.
fn minute_index(seg: &SegmentReader) -> Result<Option<crate::segment::IndexReader<'_>>> {
    match seg
        .meta()
        .index(TIME_COLUMN, crate::segment::IndexKind::TimeMinutes)
    {
        Some(im) => seg.index(im).map(Some),
        None => Ok(None),
    }
}

/// Whether the zone's offset at minute start `t0` (ns) is whole minutes, so that every instant
/// of that minute falls in the same bucket, hour and weekday as its start.
fn whole_minute_offset(tz: &Tz, t0: i64) -> bool {
    tz.offset_at(t0.div_euclid(1_000_000_000)) % 60 == 0
}

/// Per-row local ids of `f(minute)` (a time bucket, an hour, a weekday) read off the
/// per-minute time index instead of decoding `_time`. When events arrive in time order (logs
/// usually do; the writer does not sort them) each minute's rows are one run, its directory's
/// row range, and the whole run gets the id of its minute's value. The values by id come back
/// beside the ids. None (decode `_time` instead) when indexes are off, the segment has no
/// minute index or an older one without row ranges, a minute's rows are not one run, or a
/// minute's zone offset is not whole minutes (then `f` could differ within a minute). Rows
/// without a time are NULL_ID.
#[allow(clippy::type_complexity)]
fn minute_index_ids(
    plan: &Plan,
    seg: &SegmentReader,
    src: &TimeSource,
    f: &impl Fn(i64) -> i64,
) -> Result<Option<(Vec<u64>, Vec<i64>)>> {
    let minute = crate::index::MINUTE_NS;
    if !plan.use_indexes || !matches!(src, TimeSource::Derived) {
        return Ok(None);
    }
    let Some(kb) = minute_index(seg)? else {
        return Ok(None);
    };
    let n = seg.meta().rows as usize;
    let mut ids = vec![NULL_ID; n];
    let mut values: Vec<i64> = Vec::new();
    let mut seen: HashMap<i64, u64> = HashMap::new();
    for pos in 0..kb.len() {
        let Some(g) = kb.directory().row_range(pos) else {
            return Ok(None);
        };
        if g.len == 0 {
            continue;
        }
        if !g.is_dense() {
            return Ok(None);
        }
        let t0 = kb.key(pos).saturating_mul(minute);
        if !whole_minute_offset(&plan.tz, t0) {
            return Ok(None);
        }
        let v = f(t0);
        // Minutes come in time order, so a value usually repeats the previous minute's.
        let id = match values.last() {
            Some(&last) if last == v => values.len() as u64 - 1,
            _ => *seen.entry(v).or_insert_with(|| {
                values.push(v);
                values.len() as u64 - 1
            }),
        };
        let run = ids
            .get_mut(g.min as usize..=g.max as usize)
            .ok_or_else(|| {
                Error::corrupt(
                    seg.path(),
                    0,
                    format!(
                        "time index minute {} holds rows {}..={} of a {n}-row segment",
                        kb.key(pos),
                        g.min,
                        g.max
                    ),
                )
            })?;
        run.fill(id);
    }
    Ok(Some((ids, values)))
}

fn time_ids(
    seg: &SegmentReader,
    src: &TimeSource,
    sel: &Bits,
    f: impl Fn(i64) -> i64,
) -> Result<IdColumn> {
    let ts = times(seg, src, sel)?;
    // Only selected rows are ever read: compute the (possibly costly) bucket for those alone.
    let mut ids = vec![NULL_ID; ts.len()];
    for row in sel.iter() {
        if let Some(Some(t)) = ts.get(row) {
            ids[row] = int_id(f(*t));
        }
    }
    Ok(IdColumn {
        ids,
        decoder: Decoder::SmallInt,
        lists: None,
        cache: Default::default(),
    })
}

/// Interns texts into dense per-segment ids.
#[derive(Default)]
struct TextIds {
    values: Vec<Arc<str>>,
    seen: HashMap<String, u64, ahash::RandomState>,
}

impl TextIds {
    fn id(&mut self, v: &str) -> u64 {
        if let Some(&id) = self.seen.get(v) {
            return id;
        }
        let id = self.values.len() as u64;
        self.values.push(v.into());
        self.seen.insert(v.to_string(), id);
        id
    }
}

/// The text of each id of a decoded column (dictionary entries, numbers as text).
fn id_text(col: &IdColumn, id: u64, joins: &[Join]) -> Option<String> {
    match col.decoder.decode(id, joins) {
        KeyValue::Null => None,
        KeyValue::Int(i) => Some(i.to_string()),
        KeyValue::Float(f) => Some(format!("{:?}", f.get())),
        KeyValue::Bool(b) => Some(b.to_string()),
        KeyValue::Str(s) => Some(s.to_string()),
        KeyValue::Time(t) => Some(time::format_rfc3339(t)),
    }
}

/// Map every row's value text through `f` (once per distinct id) to an id of `out`. The ids
/// are mapped in place: `col.ids` is taken (left empty) and returned mapped.
fn map_texts(col: &mut IdColumn, joins: &[Join], mut f: impl FnMut(&str) -> u64) -> Vec<u64> {
    let mut ids = std::mem::take(&mut col.ids);
    let col: &IdColumn = col;
    let mut map = |id: u64| id_text(col, id, joins).map_or(NULL_ID, |t| f(&t));
    match &col.decoder {
        // Map every code once, then gather: no memo test per row (when the dictionary is not
        // larger than the column, so the up-front work is bounded by the rows).
        Decoder::Dict(d) if d.len() <= ids.len() => {
            // Dictionary entries are texts already: no decode into an owned value per code.
            let table: Vec<u64> = (0..d.len() as u32).map(|c| f(&d.get_str(c))).collect();
            for id in &mut ids {
                *id = table.get(*id as usize).copied().unwrap_or(NULL_ID);
            }
        }
        decoder => {
            // Dictionary codes are dense: a vector memo; other ids (numbers as text) a hash memo.
            let mut dense: Vec<Option<u64>> = match decoder {
                Decoder::Dict(d) => vec![None; d.len()],
                _ => Vec::new(),
            };
            let mut cache: HashMap<u64, u64, ahash::RandomState> = HashMap::default();
            for id in &mut ids {
                if *id == NULL_ID {
                    continue;
                }
                *id = match dense.get_mut(*id as usize) {
                    Some(slot) => *slot.get_or_insert_with(|| map(*id)),
                    None => *cache.entry(*id).or_insert_with(|| map(*id)),
                };
            }
        }
    }
    ids
}

/// All substrings between `prefix` and `suffix`, in each string of a JSON array or in the text.
pub fn extract_all(text: &str, prefix: &str, suffix: &str) -> Vec<String> {
    let elements: Vec<String> = match serde_json::from_str::<Vec<serde_json::Value>>(text) {
        Ok(items) if text.starts_with('[') => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => vec![text.to_string()],
    };
    let mut out: Vec<String> = Vec::new();
    for e in &elements {
        let mut rest = e.as_str();
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let Some(j) = rest.find(suffix) else { break };
            let v = rest[..j].to_string();
            if !out.contains(&v) {
                out.push(v);
            }
            rest = &rest[j + suffix.len()..];
        }
    }
    out
}

/// Multi-valued ids of `extract(name, prefix, suffix)`.
fn extract_ids(
    seg: &SegmentReader,
    name: &str,
    prefix: &str,
    suffix: &str,
    sel: &Bits,
    joins: &[Join],
) -> Result<IdColumn> {
    let mut col = column_ids(seg, name, true, sel)?;
    let mut texts = TextIds::default();
    let mut lists: Vec<Vec<u64>> = Vec::new();
    let ids = map_texts(&mut col, joins, |t| {
        let l: Vec<u64> = extract_all(t, prefix, suffix)
            .iter()
            .map(|v| texts.id(v))
            .collect();
        lists.push(l);
        lists.len() as u64 - 1
    });
    Ok(IdColumn {
        ids,
        decoder: Decoder::Texts(texts.values),
        lists: Some(lists),
        cache: Default::default(),
    })
}

/// Ids of a joined map column: the event key's text looked up in the map.
fn joined_column_ids(
    seg: &SegmentReader,
    plan: &Plan,
    join: usize,
    column: usize,
    sel: &Bits,
) -> Result<IdColumn> {
    let joins = &plan.joins;
    let j = &joins[join];
    let mut src = key_ids(seg, &j.source, plan, sel)?;
    let mut out = TextIds::default();
    if let (None, Decoder::Dict(d)) = (&src.lists, &src.decoder) {
        if d.len() <= src.ids.len() {
            let ids = join_dict(d, std::mem::take(&mut src.ids), j, column, &mut out);
            return Ok(IdColumn {
                ids,
                decoder: Decoder::Joined {
                    join,
                    values: out.values,
                },
                lists: None,
                cache: Default::default(),
            });
        }
    }
    let mut lookup = |text: &str| j.table.get(text, column).map_or(NULL_ID, |v| out.id(v));
    let (ids, lists) = match &src.lists {
        None => (map_texts(&mut src, joins, &mut lookup), None),
        Some(lists) => {
            let mapped: Vec<Vec<u64>> = lists
                .iter()
                .map(|l| {
                    let mut v: Vec<u64> = Vec::new();
                    for &id in l {
                        let t = match &src.decoder {
                            Decoder::Texts(vals) => vals.get(id as usize).map(|s| s.to_string()),
                            _ => id_text(&src, id, joins),
                        };
                        // Keep positions aligned with the source list (lockstep explode).
                        v.push(t.map_or(NULL_ID, |t| lookup(&t)));
                    }
                    v
                })
                .collect();
            (src.ids.clone(), Some(mapped))
        }
    };
    Ok(IdColumn {
        ids,
        decoder: Decoder::Joined {
            join,
            values: out.values,
        },
        lists,
        cache: Default::default(),
    })
}

/// Map a dictionary column through a join: each code to the id of its joined value (or to
/// NULL_ID, the unmatched label), by one merge of the sorted dictionary with the map's sorted
/// keys; then every row by a gather.
fn join_dict(
    d: &Dictionary,
    mut ids: Vec<u64>,
    j: &Join,
    column: usize,
    out: &mut TextIds,
) -> Vec<u64> {
    let table = join_table(d, j, column, out);
    for id in &mut ids {
        *id = table.get(*id as usize).copied().unwrap_or(NULL_ID);
    }
    ids
}

/// The joined value id (of `out`) of each code of `d`, NULL_ID where the map has no row.
fn join_table(d: &Dictionary, j: &Join, column: usize, out: &mut TextIds) -> Vec<u64> {
    const UNSET: u64 = u64::MAX - 1;
    let entry = |c: usize| d.get(c as u32).unwrap_or(b"");
    let rows = j.table.rows_of_sorted((0..d.len()).map(entry));
    let mut row_ids = vec![UNSET; j.table.len()];
    let mut value_id = |r: usize, out: &mut TextIds| {
        if row_ids[r] == UNSET {
            row_ids[r] = j.table.row_value(r, column).map_or(NULL_ID, |v| out.id(v));
        }
        row_ids[r]
    };
    (0..d.len())
        .map(|c| {
            let bytes = entry(c);
            if std::str::from_utf8(bytes).is_err() {
                // Keys are compared as text: an entry with invalid UTF-8 is looked up as its
                // lossy text, as the general path does.
                let text = String::from_utf8_lossy(bytes);
                return j.table.get(&text, column).map_or(NULL_ID, |v| out.id(v));
            }
            rows[c].map_or(NULL_ID, |r| value_id(r, out))
        })
        .collect()
}

/// A key part that can be counted block by block on its column's dictionary codes, without
/// per-row id vectors (`query::fast`): a string column, or a join on one.
pub(crate) struct CodeKey {
    /// The stored column (index in the segment).
    pub(crate) col: usize,
    /// Rows of each of its blocks.
    pub(crate) block_rows: Vec<u32>,
    /// File offset of each of its blocks (for errors).
    pub(crate) block_at: Vec<u64>,
    /// Local id of each code (None: the code itself); the joined value's id for a join.
    pub(crate) map: Option<Vec<u32>>,
    /// Number of local ids, the last being null (for a join: the unmatched label).
    pub(crate) domain: usize,
    /// The decoder of the local ids, as `key_ids` would give it (its `ids` are empty).
    pub(crate) column: IdColumn,
}

/// `part` as a [`CodeKey`] in this segment, or None when it is not a string column here (or a
/// join on one): the caller then takes the per-row path.
pub(crate) fn code_key(
    seg: &SegmentReader,
    part: &KeyPart,
    plan: &Plan,
) -> Result<Option<CodeKey>> {
    let (name, join) = match part {
        KeyPart::Column { name, .. } => (name, None),
        KeyPart::Joined { join, column } => match plan.joins.get(*join).map(|j| &j.source) {
            Some(KeyPart::Column { name, .. }) => (name, Some((*join, *column))),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some((ci, cm)) = seg.meta().column(name) else {
        return Ok(None);
    };
    if cm.ty != ColumnType::Str {
        return Ok(None);
    }
    let block_rows = cm.blocks.iter().map(|b| b.rows).collect();
    let block_at = cm.blocks.iter().map(|b| b.region.offset).collect();
    let d = seg.dictionary(ci)?;
    Ok(Some(match join {
        None => CodeKey {
            col: ci,
            block_rows,
            block_at,
            map: None,
            domain: d.len() + 1,
            column: IdColumn::single(Vec::new(), Decoder::Dict(d)),
        },
        Some((join, column)) => {
            let mut out = TextIds::default();
            let table = join_table(&d, &plan.joins[join], column, &mut out);
            let top = out.values.len() as u32;
            let map = table
                .iter()
                .map(|&id| if id == NULL_ID { top } else { id as u32 })
                .collect();
            CodeKey {
                col: ci,
                block_rows,
                block_at,
                map: Some(map),
                domain: out.values.len() + 1,
                column: IdColumn::single(
                    Vec::new(),
                    Decoder::Joined {
                        join,
                        values: out.values,
                    },
                ),
            }
        }
    }))
}

/// Hour-of-day or weekday ids: off the minute index when it serves, else from `_time`.
fn small_time_ids(
    seg: &SegmentReader,
    src: &TimeSource,
    plan: &Plan,
    sel: &Bits,
    f: impl Fn(i64) -> i64,
) -> Result<IdColumn> {
    if let Some((ids, values)) = minute_index_ids(plan, seg, src, &f)? {
        return Ok(IdColumn::single(
            ids,
            Decoder::IntList {
                values,
                as_text: false,
            },
        ));
    }
    time_ids(seg, src, sel, f)
}

pub(crate) fn key_ids(
    seg: &SegmentReader,
    part: &KeyPart,
    plan: &Plan,
    sel: &Bits,
) -> Result<IdColumn> {
    let tz = &plan.tz;
    match part {
        KeyPart::Column { name, as_text } => column_ids(seg, name, *as_text, sel),
        KeyPart::Bucket { src, width_ns } => {
            let f = |t| tz::bucket_start(t, *width_ns, tz);
            if *width_ns % crate::index::MINUTE_NS == 0 {
                if let Some((ids, values)) = minute_index_ids(plan, seg, src, &f)? {
                    return Ok(IdColumn::single(ids, Decoder::TimeList(values)));
                }
            }
            let mut c = time_ids(seg, src, sel, f)?;
            c.decoder = Decoder::Time;
            Ok(c)
        }
        KeyPart::Hour { src } => {
            let f = |t| tz::hour_of_day(t, tz) as i64;
            small_time_ids(seg, src, plan, sel, f)
        }
        KeyPart::Weekday { src } => {
            let f = |t| tz::weekday(t, tz) as i64;
            small_time_ids(seg, src, plan, sel, f)
        }
        KeyPart::Joined { join, column } => joined_column_ids(seg, plan, *join, *column, sel),
        KeyPart::Extract {
            name,
            prefix,
            suffix,
        } => extract_ids(seg, name, prefix, suffix, sel, &plan.joins),
        KeyPart::Flag(_) => Err(Error::invalid(
            "a filter flag is a value input, not a group key",
        )),
    }
}

/// Numeric inputs of sum/min/max/avg.
fn numbers(
    seg: &SegmentReader,
    part: &KeyPart,
    plan: &Plan,
    sel: &Bits,
) -> Result<Vec<Option<f64>>> {
    let col = key_ids(seg, part, plan, sel)?;
    Ok(map_rows(
        &col,
        |t| t.trim().parse::<f64>().ok(),
        |id| match &col.decoder {
            Decoder::Int { .. } | Decoder::SmallInt | Decoder::Time => Some(id_int(id) as f64),
            Decoder::TimeList(values) => values.get(id as usize).map(|&t| t as f64),
            Decoder::IntList { values, .. } => values.get(id as usize).map(|v| *v as f64),
            Decoder::Float { .. } => Some(f64::from_bits(id)),
            Decoder::Bool { .. } => Some(id as f64),
            Decoder::Joined { .. } | Decoder::Texts(_) => match col.decoder.decode(id, &plan.joins)
            {
                KeyValue::Str(s) => s.trim().parse().ok(),
                _ => None,
            },
            Decoder::Null | Decoder::Dict(_) => None,
        },
    ))
}

/// Inputs of one value spec within a segment.
enum ValueInput {
    None,
    Ids(IdColumn),
    Numbers(Vec<Option<f64>>),
    /// Rows matching a [`KeyPart::Flag`] expression.
    Flag(Bits),
}

/// Local (segment) aggregate state.
enum LocalState {
    Count(u64),
    Sum(f64, u64),
    Min(Option<f64>),
    Max(Option<f64>),
    Avg(f64, u64),
    Distinct(HashSet<u64, ahash::RandomState>),
    /// The distinct local ids of an `approx_count_distinct`: each is hashed into the sketch
    /// once, when the segment's groups are globalized.
    Approx(HashSet<u64, ahash::RandomState>),
}

impl LocalState {
    fn new(f: AggFn) -> LocalState {
        match f {
            AggFn::Count => LocalState::Count(0),
            AggFn::Sum => LocalState::Sum(0.0, 0),
            AggFn::Min => LocalState::Min(None),
            AggFn::Max => LocalState::Max(None),
            AggFn::Avg => LocalState::Avg(0.0, 0),
            AggFn::CountDistinct => LocalState::Distinct(HashSet::default()),
            AggFn::ApproxCountDistinct => LocalState::Approx(HashSet::default()),
        }
    }

    fn update(&mut self, input: &ValueInput, row: usize) {
        match (self, input) {
            (LocalState::Count(c), ValueInput::Flag(b)) => *c += u64::from(b.get(row)),
            (LocalState::Count(c), _) => *c += 1,
            (LocalState::Distinct(s) | LocalState::Approx(s), ValueInput::Ids(col)) => {
                for &id in col.values_of(row) {
                    if id != NULL_ID || matches!(col.decoder, Decoder::Joined { .. }) {
                        s.insert(id);
                    }
                }
            }
            (st, ValueInput::Numbers(v)) => {
                if let Some(x) = v[row] {
                    match st {
                        LocalState::Sum(s, n) | LocalState::Avg(s, n) => {
                            *s += x;
                            *n += 1;
                        }
                        LocalState::Min(m) => *m = Some(m.map_or(x, |y| y.min(x))),
                        LocalState::Max(m) => *m = Some(m.map_or(x, |y| y.max(x))),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn globalize(self, input: &ValueInput, joins: &[Join]) -> AggState {
        match self {
            LocalState::Count(c) => AggState::Count(c),
            LocalState::Sum(sum, n) => AggState::Sum { sum, n },
            LocalState::Avg(sum, n) => AggState::Avg { sum, n },
            LocalState::Min(m) => AggState::Min(m),
            LocalState::Max(m) => AggState::Max(m),
            LocalState::Distinct(s) => match input {
                ValueInput::Ids(col) => AggState::Distinct(Box::new(
                    s.into_iter().map(|id| col.decode(id, joins)).collect(),
                )),
                _ => AggState::Distinct(Box::default()),
            },
            LocalState::Approx(s) => match input {
                ValueInput::Ids(col) => {
                    let n = s.len();
                    let hashes = s.into_iter().map(|id| col.value_hash(id, joins));
                    AggState::Approx(Box::new(Hll::from_hashes(hashes, n)))
                }
                _ => AggState::Approx(Box::default()),
            },
        }
    }
}

/// [`select_rows`] with a fresh filter: the segment's report (filter statistics included) and
/// its selected rows, None when nothing is selected. For paths that need the filter no
/// further.
pub(crate) fn select_segment(
    plan: &Plan,
    schema: &Schema,
    seg: &SegmentReader,
) -> Result<(SegmentReport, Option<Bits>)> {
    let mut report = SegmentReport::default();
    let mut f = SegmentFilter::new(seg, schema, plan.use_indexes);
    let selected = select_rows(plan, &mut f, &mut report)?;
    report.filter = f.stats;
    Ok((report, selected))
}

/// The rows of one segment a plan selects (time range, then filter), or None when the
/// segment's time range or the filter leaves nothing. `report` records what was done.
pub(crate) fn select_rows(
    plan: &Plan,
    f: &mut SegmentFilter<'_>,
    report: &mut SegmentReport,
) -> Result<Option<Bits>> {
    let meta = f.seg.meta();
    let n = meta.rows as usize;
    report.rows = n as u64;
    if plan.from.is_some() || plan.to.is_some() {
        let (lo, hi) = (plan.from.unwrap_or(i64::MIN), plan.to.unwrap_or(i64::MAX));
        let outside = match (meta.min_time, meta.max_time) {
            (Some(a), Some(b)) => b < lo || a >= hi,
            _ => true,
        };
        if outside {
            report.pruned = true;
            return Ok(None);
        }
    }
    let mut sel = Bits::ones(n);
    if plan.from.is_some() || plan.to.is_some() {
        sel = f.time_range(plan.from, plan.to)?;
    }
    if let Some(e) = &plan.filter {
        if sel.count() > 0 {
            sel.and(&f.eval(e)?);
        }
    }
    report.selected = sel.count();
    Ok((report.selected > 0).then_some(sel))
}

/// Process one segment, handing partial group tables to `emit`.
pub fn process_segment(
    plan: &Plan,
    schema: &Schema,
    seg: &SegmentReader,
    emit: &mut dyn FnMut(Partial) -> Result<()>,
) -> Result<SegmentReport> {
    let mut report = SegmentReport::default();
    let mut f = SegmentFilter::new(seg, schema, plan.use_indexes);
    // Time buckets counted off the minute index, the filter answered by value indexes: the
    // selection stays a bitmap (a selective filter costs its rows, not a pass over all).
    if let (Some(e), None, None, Some(_)) =
        (&plan.filter, plan.from, plan.to, minute_count_width(plan))
    {
        if let Some(rb) = f.index_bitmap(e)? {
            report.rows = seg.meta().rows;
            report.selected = rb.len();
            report.filter = f.stats;
            if rb.is_empty() {
                return Ok(report);
            }
            if let Some(partial) = minute_index_counts(plan, seg, Sel::Sparse(&rb))? {
                report.filter.time_index_used = true;
                emit(partial)?;
                return Ok(report);
            }
            report = SegmentReport::default();
            f = SegmentFilter::new(seg, schema, plan.use_indexes);
        }
    }
    let selected = select_rows(plan, &mut f, &mut report);
    let Some(sel) = selected? else {
        report.filter = f.stats;
        return Ok(report);
    };
    if let Some(partial) = minute_index_counts(plan, seg, Sel::Dense(&sel))? {
        report.filter = f.stats;
        report.filter.time_index_used = true;
        emit(partial)?;
        return Ok(report);
    }
    let inputs: Vec<ValueInput> = plan
        .values
        .iter()
        .map(|v| match (&v.field, v.func) {
            (None, _) => Ok(ValueInput::None),
            (Some(KeyPart::Flag(e)), _) => {
                let mut b = f.eval(e)?;
                b.and(&sel);
                Ok(ValueInput::Flag(b))
            }
            (Some(p), AggFn::CountDistinct | AggFn::ApproxCountDistinct) => {
                key_ids(seg, p, plan, &sel).map(ValueInput::Ids)
            }
            (Some(p), _) => numbers(seg, p, plan, &sel).map(ValueInput::Numbers),
        })
        .collect::<Result<_>>()?;
    report.filter = f.stats;
    // Grouping sets on one indexed column are counted from its bitmaps; the others scan.
    let mut done = vec![false; plan.grouping_sets.len()];
    for (si, set) in plan.grouping_sets.iter().enumerate() {
        if let Some(p) = set_index_counts(plan, seg, si, set, &sel, &inputs)? {
            report.filter.index_lookups += 1;
            done[si] = true;
            emit(p)?;
        }
    }
    let mut needed = vec![plan.grouping_sets.is_empty(); plan.keys.len()];
    for (set, _) in plan.grouping_sets.iter().zip(&done).filter(|x| !*x.1) {
        for &k in set {
            needed[k] = true;
        }
    }
    if !done.is_empty() && done.iter().all(|d| *d) {
        return Ok(report);
    }
    let keys: Vec<IdColumn> = plan
        .keys
        .iter()
        .zip(&needed)
        .map(|(k, &need)| match need {
            true => key_ids(seg, &k.part, plan, &sel),
            false => Ok(IdColumn::single(Vec::new(), Decoder::Null)),
        })
        .collect::<Result<_>>()?;
    aggregate(plan, &sel, &keys, &inputs, &done, emit)?;
    Ok(report)
}

/// Counts of grouping set `si` straight from a value index, when the set is one indexed
/// stored column and every value is a count (plain or of a flag): per indexed value,
/// |bitmap ∩ selection| and |bitmap ∩ flag|; the selected rows in no bitmap are the null
/// group. None when the set does not qualify (the scan path counts it).
fn set_index_counts(
    plan: &Plan,
    seg: &SegmentReader,
    si: usize,
    set: &[usize],
    sel: &Bits,
    inputs: &[ValueInput],
) -> Result<Option<Partial>> {
    let [k] = set else { return Ok(None) };
    let Some(KeyPart::Column { name, as_text }) = plan.keys.get(*k).map(|k| &k.part) else {
        return Ok(None);
    };
    let counts_only = plan.values.iter().zip(inputs).all(|(v, i)| {
        v.func == AggFn::Count && matches!(i, ValueInput::None | ValueInput::Flag(_))
    });
    if !plan.use_indexes || !counts_only {
        return Ok(None);
    }
    let meta = seg.meta();
    let (Some(im), Some((ci, cm))) = (
        meta.index(name, crate::segment::IndexKind::Values),
        meta.column(name),
    ) else {
        return Ok(None);
    };
    let dict = match cm.ty {
        ColumnType::Str => Some(seg.dictionary(ci)?),
        ColumnType::Int => None,
        _ => return Ok(None),
    };
    let kb = seg.index(im)?;
    let width = plan.key_width();
    let group = |v: KeyValue, all: u64, per_value: &[u64]| {
        let mut key = Vec::with_capacity(width);
        key.push(KeyValue::Int(si as i64));
        key.push(v);
        key.resize(width, KeyValue::Null);
        let mut st = vec![AggState::Count(all)];
        st.extend(per_value.iter().map(|&n| AggState::Count(n)));
        (key_hash(&key), key, st)
    };
    let mut out = Partial::new();
    let mut tallies = vec![0u64; inputs.len()];
    let mut left_all = sel.count();
    let mut left: Vec<u64> = inputs
        .iter()
        .map(|i| match i {
            ValueInput::Flag(b) => b.count(),
            _ => left_all,
        })
        .collect();
    for pos in 0..kb.len() {
        let bm = kb.bitmap(pos)?;
        let mut all = 0u64;
        tallies.iter_mut().for_each(|t| *t = 0);
        for r in bm.iter() {
            let r = r as usize;
            if r >= sel.len() || !sel.get(r) {
                continue;
            }
            all += 1;
            for (t, i) in tallies.iter_mut().zip(inputs) {
                *t += match i {
                    ValueInput::Flag(b) => u64::from(b.get(r)),
                    _ => 1,
                };
            }
        }
        if all == 0 {
            continue;
        }
        let key = kb.key(pos);
        let v = match (&dict, *as_text) {
            (Some(d), _) => match u32::try_from(key).ok().and_then(|c| d.get(c)) {
                Some(b) => KeyValue::Str(String::from_utf8_lossy(b).into()),
                None => {
                    return Err(Error::corrupt(
                        seg.path(),
                        im.region.offset,
                        format!("index key {key} is not a dictionary code of `{name}`"),
                    ))
                }
            },
            (None, false) => KeyValue::Int(key),
            (None, true) => KeyValue::Str(key.to_string().into()),
        };
        left_all -= all.min(left_all);
        for (l, t) in left.iter_mut().zip(&tallies) {
            *l -= (*t).min(*l);
        }
        out.push(group(v, all, &tallies));
    }
    if left_all > 0 {
        out.push(group(KeyValue::Null, left_all, &left));
    }
    Ok(Some(out))
}

/// Row-wise access to the key values of the rows a plan selects in one segment, for
/// consumers that work per event (scoring) rather than per group.
pub struct SegmentRows {
    selected: Bits,
    cols: Vec<IdColumn>,
}

impl SegmentRows {
    /// Select rows and decode the plan's keys for them; None when no row is selected.
    pub fn new(
        plan: &Plan,
        schema: &Schema,
        seg: &SegmentReader,
    ) -> Result<(SegmentReport, Option<SegmentRows>)> {
        let (report, selected) = select_segment(plan, schema, seg)?;
        let Some(selected) = selected else {
            return Ok((report, None));
        };
        let cols = plan
            .keys
            .iter()
            .map(|k| key_ids(seg, &k.part, plan, &selected))
            .collect::<Result<_>>()?;
        Ok((report, Some(SegmentRows { selected, cols })))
    }

    /// The selected rows, ascending.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.selected.iter()
    }

    /// Segment-local ids of key `key` at `row` (several for a multi-valued key). Equal ids
    /// mean equal values within this segment, so callers can memoise per id.
    pub fn ids(&self, key: usize, row: usize) -> &[u64] {
        self.cols[key].values_of(row)
    }

    /// The value of a local id of key `key`.
    pub fn value(&self, plan: &Plan, key: usize, id: u64) -> KeyValue {
        self.cols[key].decode(id, &plan.joins)
    }
}

/// Index-only aggregation: counts per time bucket straight from the per-minute time index
/// (|minute bitmap ∩ selection|), without decoding `_time`. Taken when the only key is a bucket
/// of the event time whose width is whole minutes, every value is a count, and every minute's
/// zone offset is whole minutes; otherwise None (the general path runs).
/// A roaring bitmap of rows given in increasing order.
fn sorted_bitmap(rows: &[u32]) -> roaring::RoaringBitmap {
    roaring::RoaringBitmap::from_sorted_iter(rows.iter().copied())
        .unwrap_or_else(|_| rows.iter().copied().collect())
}

/// A segment's selected rows: a dense bit set, or a bitmap when value indexes answered the
/// filter.
#[derive(Clone, Copy)]
enum Sel<'a> {
    Dense(&'a Bits),
    Sparse(&'a roaring::RoaringBitmap),
}

impl Sel<'_> {
    fn count(&self) -> u64 {
        match self {
            Sel::Dense(b) => b.count(),
            Sel::Sparse(r) => r.len(),
        }
    }

    /// Selected rows in `[start, end)`.
    fn count_range(&self, start: usize, end: usize) -> u64 {
        match self {
            Sel::Dense(b) => b.count_range(start, end),
            Sel::Sparse(r) if start < end => {
                let (a, b) = (start as u64, end as u64 - 1);
                match (u32::try_from(a), u32::try_from(b)) {
                    (Ok(a), Ok(b)) => r.range_cardinality(a..=b),
                    _ => 0,
                }
            }
            Sel::Sparse(_) => 0,
        }
    }

    fn rows_u32(&self) -> Vec<u32> {
        match self {
            Sel::Dense(b) => b.rows_u32(),
            Sel::Sparse(r) => r.iter().collect(),
        }
    }
}

/// The bucket width when a plan's only key is a bucket of the event time of whole minutes and
/// every value is a count: what [`minute_index_counts`] answers.
fn minute_count_width(plan: &Plan) -> Option<i64> {
    let [key] = plan.keys.as_slice() else {
        return None;
    };
    let KeyPart::Bucket {
        src: TimeSource::Derived,
        width_ns,
    } = &key.part
    else {
        return None;
    };
    let counts_only = plan
        .values
        .iter()
        .all(|v| v.func == AggFn::Count && v.field.is_none());
    (plan.grouping_sets.is_empty()
        && plan.use_indexes
        && width_ns % crate::index::MINUTE_NS == 0
        && counts_only)
        .then_some(*width_ns)
}

fn minute_index_counts(plan: &Plan, seg: &SegmentReader, sel: Sel<'_>) -> Result<Option<Partial>> {
    let minute = crate::index::MINUTE_NS;
    let Some(width) = minute_count_width(plan) else {
        return Ok(None);
    };
    let width_ns = &width;
    let Some(kb) = minute_index(seg)? else {
        return Ok(None);
    };
    let all = sel.count() == seg.meta().rows;
    // The selected rows, in order; a roaring copy is built only if a minute's bitmap must be
    // read (format v1, or a minute whose rows are not contiguous and overlap the selection).
    let mut rows: Vec<u32> = Vec::new();
    // Events usually arrive in time order, so the minutes' row ranges usually come in
    // increasing order: the selected rows are then walked once, forward, instead of two binary
    // searches a minute.
    let mut cursor = 0usize;
    let mut prev_max: Option<u32> = None;
    let mut sel_rb: Option<roaring::RoaringBitmap> = None;
    let mut counts: HashMap<i64, u64> = HashMap::new();
    let mut timed = 0u64;
    // In UTC every minute is whole, and a bucket that divides a day spans `[start, start +
    // width)`: consecutive minutes of one bucket (minutes come in time order) add to a running
    // count instead of a bucket computation and a hash lookup each.
    let fixed = plan.tz.is_fixed_utc()
        && *width_ns <= 86_400_000_000_000
        && 86_400_000_000_000 % *width_ns == 0;
    let mut run: Option<(i64, u64)> = None;
    let runs = if fixed {
        kb.directory().ordered_runs()
    } else {
        None
    };
    if let Some(gaps) = runs {
        // Each minute's rows are one run and the runs come in row order: a bucket's rows are
        // one row range less the gaps (untimed rows) inside it, counted off the selection's
        // words. Buckets are found by binary search on the minute keys, so the work grows
        // with the buckets, not the minutes.
        let dir = kb.directory();
        let n = dir.len();
        let range = |i: usize| {
            dir.row_range(i).unwrap_or(RowRange {
                min: 0,
                max: 0,
                len: 0,
            })
        };
        let in_rows = |lo: u32, hi_incl: u32| -> u64 {
            let (a, b) = (lo as usize, hi_incl as usize + 1);
            if all {
                (b - a) as u64
            } else {
                sel.count_range(a, b)
            }
        };
        let mut i = 0usize;
        while i < n {
            let t0 = dir.key(i).saturating_mul(minute);
            let b = tz::bucket_start(t0, *width_ns, &plan.tz);
            let next = b.saturating_add(*width_ns) / minute;
            // Keys are distinct minutes, so the bucket's end lies within its width in minutes.
            let j = match dir.keys() {
                Some(keys) => {
                    let w = usize::try_from(*width_ns / minute).unwrap_or(usize::MAX);
                    let window = keys.get(i..n.min(i.saturating_add(w))).unwrap_or(&[]);
                    i + window.partition_point(|&k| k < next)
                }
                None => dir.range(i64::MIN, next).end,
            }
            .max(i + 1);
            let mut c = in_rows(range(i).min, range(j - 1).max);
            let g0 = gaps.partition_point(|&g| (g as usize) <= i);
            let g1 = gaps.partition_point(|&g| (g as usize) < j);
            for &g in gaps.get(g0..g1).unwrap_or(&[]) {
                let g = g as usize;
                let gap = in_rows(range(g - 1).max + 1, range(g).min - 1);
                c = c.saturating_sub(gap);
            }
            if c > 0 {
                timed += c;
                *counts.entry(b).or_insert(0) += c;
            }
            i = j;
        }
    }
    if runs.is_none() && !all {
        rows = sel.rows_u32();
    }
    for pos in (0..kb.len()).filter(|_| runs.is_none()) {
        let t0 = kb.key(pos).saturating_mul(minute);
        if !fixed && !whole_minute_offset(&plan.tz, t0) {
            return Ok(None);
        }
        let range = kb.directory().row_range(pos);
        let n = match range {
            Some(g) if all => u64::from(g.len),
            Some(g) => {
                let (lo, hi) = if prev_max.is_none_or(|m| g.min > m) {
                    let mut lo = cursor;
                    while rows.get(lo).is_some_and(|&r| r < g.min) {
                        lo += 1;
                    }
                    let mut hi = lo;
                    while rows.get(hi).is_some_and(|&r| r <= g.max) {
                        hi += 1;
                    }
                    cursor = hi;
                    prev_max = Some(g.max);
                    (lo, hi)
                } else {
                    (
                        rows.partition_point(|&r| r < g.min),
                        rows.partition_point(|&r| r <= g.max),
                    )
                };
                if lo == hi {
                    0
                } else if g.is_dense() {
                    (hi - lo) as u64
                } else {
                    let rb = sel_rb.get_or_insert_with(|| sorted_bitmap(&rows));
                    kb.bitmap(pos)?.intersection_len(rb)
                }
            }
            None if all => kb.bitmap(pos)?.len(),
            None => {
                let rb = sel_rb.get_or_insert_with(|| sorted_bitmap(&rows));
                kb.bitmap(pos)?.intersection_len(rb)
            }
        };
        if n == 0 {
            continue;
        }
        timed += n;
        match &mut run {
            Some((start, c)) if fixed && t0 >= *start && t0 - *start < *width_ns => *c += n,
            _ => {
                if let Some((start, c)) = run.take() {
                    *counts.entry(start).or_insert(0) += c;
                }
                run = Some((tz::bucket_start(t0, *width_ns, &plan.tz), n));
            }
        }
    }
    if let Some((start, c)) = run {
        *counts.entry(start).or_insert(0) += c;
    }
    let groups = |n: u64| {
        std::iter::once(AggState::Count(n))
            .chain(plan.values.iter().map(|_| AggState::Count(n)))
            .collect::<Vec<_>>()
    };
    let mut out: Partial = counts
        .into_iter()
        .map(|(b, n)| {
            let k = vec![KeyValue::Time(b)];
            (key_hash(&k), k, groups(n))
        })
        .collect();
    let untimed = sel.count().saturating_sub(timed);
    if untimed > 0 {
        let k = vec![KeyValue::Null];
        out.push((key_hash(&k), k, groups(untimed)));
    }
    Ok(Some(out))
}

type LocalTable = HashMap<Vec<u64>, (u64, Vec<LocalState>), ahash::RandomState>;

fn update_group(
    plan: &Plan,
    local: &mut LocalTable,
    key: &[u64],
    inputs: &[ValueInput],
    row: usize,
) {
    let entry = match local.get_mut(key) {
        Some(e) => e,
        None => {
            let states = plan
                .values
                .iter()
                .map(|v| LocalState::new(v.func))
                .collect();
            local.entry(key.to_vec()).or_insert((0, states))
        }
    };
    entry.0 += 1;
    for (st, input) in entry.1.iter_mut().zip(inputs) {
        st.update(input, row);
    }
}

/// Update the groups of `row`, expanding multi-valued keys. `cols[k]` fills `buf[off + k]`.
#[allow(clippy::too_many_arguments)]
fn explode(
    plan: &Plan,
    local: &mut LocalTable,
    buf: &mut Vec<u64>,
    cols: &[&IdColumn],
    off: usize,
    multi: &[Vec<usize>],
    inputs: &[ValueInput],
    row: usize,
) {
    let Some((first, rest)) = multi.split_first() else {
        update_group(plan, local, buf, inputs, row);
        return;
    };
    let n = first
        .iter()
        .map(|&k| cols[k].values_of(row).len())
        .max()
        .unwrap_or(1);
    for i in 0..n {
        for &k in first {
            let vals = cols[k].values_of(row);
            buf[off + k] = vals.get(i).copied().unwrap_or(NULL_ID);
        }
        explode(plan, local, buf, cols, off, rest, inputs, row);
    }
}

/// One grouping set within a segment: its key columns and multi-valued groups.
struct SetView<'a> {
    cols: Vec<&'a IdColumn>,
    /// Multi-valued keys (positions in `cols`), grouped by the extract they come from
    /// (lockstep within a group, cartesian product across groups).
    multi: Vec<Vec<usize>>,
}

fn set_views<'a>(plan: &Plan, keys: &'a [IdColumn]) -> Vec<SetView<'a>> {
    let sets: Vec<Vec<usize>> = if plan.grouping_sets.is_empty() {
        vec![(0..keys.len()).collect()]
    } else {
        plan.grouping_sets.clone()
    };
    sets.into_iter()
        .map(|set| {
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (pos, &i) in set.iter().enumerate() {
                if keys[i].lists.is_none() {
                    continue;
                }
                let src =
                    explode_source(&plan.keys[i].part, plan).unwrap_or_else(|| format!("{i}"));
                match groups.iter_mut().find(|g| g.0 == src) {
                    Some(g) => g.1.push(pos),
                    None => groups.push((src, vec![pos])),
                }
            }
            SetView {
                cols: set.iter().map(|&i| &keys[i]).collect(),
                multi: groups.into_iter().map(|g| g.1).collect(),
            }
        })
        .collect()
}

/// Group the selected rows by every grouping set not `done` (by the index path).
fn aggregate(
    plan: &Plan,
    sel: &Bits,
    keys: &[IdColumn],
    inputs: &[ValueInput],
    done: &[bool],
    emit: &mut dyn FnMut(Partial) -> Result<()>,
) -> Result<()> {
    let mut local: LocalTable = HashMap::default();
    let tagged = !plan.grouping_sets.is_empty();
    let off = usize::from(tagged);
    let width = plan.key_width();
    let views = set_views(plan, keys);
    let mut buf: Vec<u64> = Vec::with_capacity(width);
    let mut in_morsel = 0usize;
    for row in sel.iter() {
        for (si, v) in views.iter().enumerate() {
            if done.get(si).copied().unwrap_or(false) {
                continue;
            }
            buf.clear();
            if tagged {
                buf.push(si as u64);
            }
            buf.extend(v.cols.iter().map(|c| c.ids[row]));
            buf.resize(width, NULL_ID);
            explode(
                plan, &mut local, &mut buf, &v.cols, off, &v.multi, inputs, row,
            );
        }
        in_morsel += 1;
        if in_morsel >= MORSEL_ROWS || local.len() >= MORSEL_GROUPS {
            emit(globalize(plan, &views, inputs, &mut local))?;
            in_morsel = 0;
        }
    }
    if !local.is_empty() {
        emit(globalize(plan, &views, inputs, &mut local))?;
    }
    Ok(())
}

/// Partial groups of one morsel, each with the hash of its key (computed here, on the worker
/// threads, and reused by the merge); keys are unique within a partial (decoders are injective).
pub type Partial = Vec<(u64, Vec<KeyValue>, Vec<AggState>)>;

/// The hash of a group key used by the merge (fixed seeds: stable within a process).
pub fn key_hash(key: &[KeyValue]) -> u64 {
    static STATE: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    STATE
        .get_or_init(|| ahash::RandomState::with_seeds(11, 22, 33, 44))
        .hash_one(key)
}

fn globalize(
    plan: &Plan,
    views: &[SetView<'_>],
    inputs: &[ValueInput],
    local: &mut LocalTable,
) -> Partial {
    let tagged = !plan.grouping_sets.is_empty();
    let mut out = Partial::with_capacity(local.len());
    for (ids, (count, states)) in local.drain() {
        let (view, rest) = match (tagged, ids.split_first()) {
            (true, Some((&si, rest))) => (views.get(si as usize), rest),
            _ => (views.first(), &ids[..]),
        };
        let Some(view) = view else { continue };
        let mut key: Vec<KeyValue> = Vec::with_capacity(ids.len());
        if tagged {
            key.push(KeyValue::Int(ids[0] as i64));
        }
        for (j, &id) in rest.iter().enumerate() {
            key.push(match view.cols.get(j) {
                Some(col) => col.decode(id, &plan.joins),
                None => KeyValue::Null,
            });
        }
        let mut g: Vec<AggState> = Vec::with_capacity(states.len() + 1);
        g.push(AggState::Count(count));
        g.extend(
            states
                .into_iter()
                .zip(inputs)
                .map(|(s, i)| s.globalize(i, &plan.joins)),
        );
        out.push((key_hash(&key), key, g));
    }
    out
}

/// Heap bytes of a group, for the memory budget.
pub fn group_bytes(key: &[KeyValue], states: &[AggState]) -> usize {
    96 + key.len() * 32
        + key.iter().map(KeyValue::heap_bytes).sum::<usize>()
        + states.len() * 40
        + states.iter().map(AggState::heap_bytes).sum::<usize>()
}

/// A shared error slot for worker threads.
pub type SharedError = Arc<std::sync::Mutex<Option<Error>>>;
