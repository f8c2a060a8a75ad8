//! Integer-keyed aggregation for count pivots (the high-cardinality case).
//!
//! The general path turns every group of every morsel into `KeyValue`s on the worker and
//! merges those on the calling thread: for a pivot whose groups barely repeat (client IP x
//! path) that is an allocation, a string hash and a string compare per event. Here instead:
//!
//! - each string key part has one query-wide interner; a worker maps a segment's dictionary
//!   codes (those its selected rows use) to interned ids once per segment, under one lock;
//! - other key parts (integers, floats, booleans, times, buckets, hours) are their value bits,
//!   except buckets, hours and weekdays read off the minute index (local ids of the segment's
//!   distinct values, so they can be counted densely);
//! - a group key is then a fixed `[u64; 4]` plus a null mask, counted in a plain integer
//!   hash map on the worker and merged into another on the calling thread;
//! - only when the table is complete are keys turned into values, and with `--top N` (sorted
//!   by total, no `--totals`) only for the rows whose total can reach the top N.
//!
//! Taken when every value is a plain count, there are one to four keys, each a stored column
//! of one type in every segment or a time bucket / hour / weekday (not a single bucket of the
//! event time: the minute index answers that), and no grouping sets. If the integer table
//! outgrows the memory budget the query moves to the general path (which spills) with what
//! it has counted; the interned strings stay in memory until the end of the query.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::error::{Error, Result};
use crate::segment::{ColumnType, SegmentReader};

use crate::query::exec::{
    code_key, id_int, key_hash, key_ids, process_segment, select_segment, CodeKey, Decoder,
    IdColumn, Partial, Plan, SegmentReport, NULL_ID,
};
use crate::query::filter::Bits;
use crate::query::plan::{AggFn, KeyPart, Schema, TimeSource};
use crate::query::value::{AggState, F64Key, KeyValue};
use crate::query::{scan_segments, Aggregator, ColCounts, PivotRequest, QueryStats, Scanned, Sink};
use crate::segment::Values;

/// Key parts a fast key holds.
const WIDTH: usize = 4;

/// Groups a worker counts before handing its table on.
const FLUSH_GROUPS: usize = 1 << 14;

/// Bytes per group of the merged table, for the memory budget (key, count, hash-table slot).
const GROUP_BYTES: usize = 96;

/// Shards of the merged table: each worker merges its tables into them under the shard's
/// lock, so the merge runs on every thread, not on the calling thread alone.
const SHARDS: usize = 64;

/// The shard of a group key: a hash (other than the table's) of its first `n` parts, the row
/// key, so that every group of a pivot row is in one shard and a shard's row totals are final.
fn shard_of(k: &FastKey, n: usize) -> usize {
    let mut h = u64::from(k.nulls & ((1u16 << n) - 1) as u8) ^ 0x2545_F491_4F6C_DD1D;
    for &id in k.ids.iter().take(n) {
        h = (h ^ id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 31;
    }
    (h >> 58) as usize % SHARDS
}

/// Merge `t` into the shards (by the first `n` key parts), one lock per shard touched; the
/// number of new groups.
fn merge_into(shards: &[Mutex<FastTable>], t: FastTable, n: usize) -> Result<usize> {
    let mut parts: Vec<Vec<(FastKey, u64)>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for (k, c) in t {
        parts[shard_of(&k, n)].push((k, c));
    }
    let mut added = 0;
    for (part, shard) in parts.into_iter().zip(shards) {
        if part.is_empty() {
            continue;
        }
        let mut table = shard
            .lock()
            .map_err(|_| Error::invalid("a query worker panicked"))?;
        let before = table.len();
        for (k, c) in part {
            *table.entry(k).or_insert(0) += c;
        }
        added += table.len() - before;
    }
    Ok(added)
}

/// A group key: value bits (or interned ids) per part, and which parts are null.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FastKey {
    ids: [u64; WIDTH],
    nulls: u8,
}

impl FastKey {
    /// The row key: the first `n` parts (the others, the column key, zeroed).
    fn row(&self, n: usize) -> FastKey {
        let mut r = *self;
        for i in n..WIDTH {
            r.ids[i] = 0;
        }
        r.nulls &= (1u8 << n) - 1;
        r
    }
}

impl Hash for FastKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One mixed word: the hasher below passes it through.
        let mut h = u64::from(self.nulls).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for &id in &self.ids {
            h = (h ^ id).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 29;
        }
        h = (h ^ (h >> 32)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state.write_u64(h ^ (h >> 29));
    }
}

/// Passes through the one word [`FastKey`] writes.
#[derive(Default)]
struct PassHasher(u64);

impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type FastTable = HashMap<FastKey, u64, BuildHasherDefault<PassHasher>>;

/// Event counts per row key.
type RowTable = FastTable;

/// How the ids of one key part become values.
#[derive(Clone, Copy)]
enum Kind {
    /// Interned strings.
    Str,
    Int {
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
}

/// Interned strings of one key part.
#[derive(Default)]
struct Interner {
    ids: HashMap<Arc<str>, u32, ahash::RandomState>,
    values: Vec<Arc<str>>,
    bytes: usize,
}

impl Interner {
    fn intern(&mut self, s: &[u8]) -> u32 {
        let text = String::from_utf8_lossy(s);
        if let Some(&id) = self.ids.get(text.as_ref()) {
            return id;
        }
        let v: Arc<str> = text.into();
        let id = self.values.len() as u32;
        // The string, its Arc header, a map slot and a list slot, with growth slack.
        self.bytes += v.len() + 128;
        self.values.push(v.clone());
        self.ids.insert(v, id);
        id
    }
}

/// The parts of the plan the fast path needs.
struct Fast<'a> {
    plan: &'a Plan,
    kinds: Vec<Kind>,
    interners: Vec<Mutex<Interner>>,
    /// Set when the integer table outgrew the budget: segments not yet started take the
    /// general path (which spills) and intern nothing more.
    demoted: AtomicBool,
    /// Segments started on integer keys; once every one of them has reported done after the
    /// demotion, no table refers to interned ids any more and the strings are dropped.
    fast_started: AtomicUsize,
}

/// Whether `plan` can run on integer keys; the kind of each key part if so.
fn kinds(plan: &Plan, schema: &Schema) -> Option<Vec<Kind>> {
    if !plan.grouping_sets.is_empty()
        || plan.keys.is_empty()
        || plan.keys.len() > WIDTH
        || plan
            .values
            .iter()
            .any(|v| v.func != AggFn::Count || v.field.is_some())
    {
        return None;
    }
    if let [k] = plan.keys.as_slice() {
        if matches!(
            k.part,
            KeyPart::Bucket {
                src: TimeSource::Derived,
                ..
            }
        ) {
            return None;
        }
    }
    plan.keys
        .iter()
        .map(|k| match &k.part {
            KeyPart::Column { name, as_text } => match schema.types(name) {
                [] => Some(Kind::Str),
                [ColumnType::Str] => Some(Kind::Str),
                [ColumnType::Int] => Some(Kind::Int { as_text: *as_text }),
                [ColumnType::Float] => Some(Kind::Float { as_text: *as_text }),
                [ColumnType::Bool] => Some(Kind::Bool { as_text: *as_text }),
                [ColumnType::Time] => Some(Kind::Time),
                _ => None,
            },
            // A joined map column (not through a multi-valued extract): its texts are
            // interned like a string column's, and an unmatched key as its label.
            KeyPart::Joined { join, .. }
                if matches!(
                    plan.joins.get(*join).map(|j| &j.source),
                    Some(KeyPart::Column { .. })
                ) =>
            {
                Some(Kind::Str)
            }
            KeyPart::Bucket { .. } => Some(Kind::Time),
            KeyPart::Hour { .. } | KeyPart::Weekday { .. } => Some(Kind::SmallInt),
            _ => None,
        })
        .collect()
}

/// Groups an array may count directly (product of the parts' local domains).
const DENSE_MAX: usize = 1 << 16;

/// The local id domain of every part (its last slot is the null id), when all are small and
/// dense: dictionary codes, joined values, booleans, absent columns.
fn dense_domains(cols: &[crate::query::exec::IdColumn]) -> Option<Vec<usize>> {
    let mut product = 1usize;
    let mut out = Vec::with_capacity(cols.len());
    for c in cols {
        let d = match &c.decoder {
            Decoder::Dict(d) => d.len() + 1,
            Decoder::Joined { values, .. } => values.len() + 1,
            Decoder::Bool { .. } => 3,
            Decoder::Null => 1,
            Decoder::TimeList(values) => values.len() + 1,
            Decoder::IntList { values, .. } => values.len() + 1,
            _ => return None,
        };
        product = product.checked_mul(d)?;
        if product > DENSE_MAX {
            return None;
        }
        out.push(d);
    }
    Some(out)
}

/// Whether [`run_groups`] handles `plan`.
pub(crate) fn eligible(plan: &Plan, schema: &Schema) -> bool {
    kinds(plan, schema).is_some()
}

impl Fast<'_> {
    /// A local id beyond its part's `n` values: checksums passed, so a writer bug; it is an
    /// error naming the file and key, never counted as a null.
    fn code_error(&self, seg: &SegmentReader, k: usize, row: usize, id: u64, n: usize) -> Error {
        Error::corrupt(
            seg.path(),
            0,
            format!(
                "code {id} of key `{}` is beyond its {n} values (row {row})",
                self.plan.keys[k].label
            ),
        )
    }

    /// Count a segment's selected rows in the dense array straight from the key columns'
    /// dictionary codes, block by block, when every key is a string column or a join on one
    /// and the product of their domains is small: no per-row id vector per key (eight bytes a
    /// row, written, gathered through the join and read back), only one cell per row of a
    /// block. None when the keys do not qualify in this segment.
    #[allow(clippy::type_complexity)]
    fn count_on_codes(
        &self,
        seg: &SegmentReader,
        sel: &Bits,
    ) -> Result<Option<(Vec<IdColumn>, Vec<usize>, Vec<u64>)>> {
        let plan = self.plan;
        let mut keys: Vec<CodeKey> = Vec::with_capacity(plan.keys.len());
        let mut product = 1usize;
        for k in &plan.keys {
            let Some(c) = code_key(seg, &k.part, plan)? else {
                return Ok(None);
            };
            product = match product.checked_mul(c.domain) {
                Some(p) if p <= DENSE_MAX => p,
                _ => return Ok(None),
            };
            keys.push(c);
        }
        let n = seg.meta().rows as usize;
        let Some(first) = keys.first() else {
            return Ok(None);
        };
        let block_rows = first.block_rows.clone();
        let covered: usize = block_rows.iter().map(|&r| r as usize).sum();
        if covered != n || keys.iter().any(|k| k.block_rows != block_rows) {
            return Ok(None);
        }
        let all_rows = sel.count() == n as u64;
        let rows: Vec<u32> = if all_rows {
            Vec::new()
        } else {
            sel.iter().map(|r| r as u32).collect()
        };
        let mut next = 0usize;
        let mut counts = vec![0u64; product];
        let mut cell: Vec<u32> = Vec::new();
        let mut start = 0usize;
        for (bi, &len) in block_rows.iter().enumerate() {
            let len = len as usize;
            let end = start + len;
            if !sel.any_in(start, end) {
                start = end;
                continue;
            }
            cell.clear();
            cell.resize(len, 0);
            for (k, key) in keys.iter().enumerate() {
                let b = seg.block(key.col, bi)?;
                let at = key.block_at.get(bi).copied().unwrap_or(0);
                let Values::Codes(codes) = &b.values else {
                    return Err(Error::corrupt(
                        seg.path(),
                        at,
                        format!("block {bi} of string key {k} holds no dictionary codes"),
                    ));
                };
                if codes.len() != len {
                    return Err(Error::corrupt(
                        seg.path(),
                        at,
                        format!(
                            "block {bi} of string key {k} holds {} values, its metadata says {len}",
                            codes.len()
                        ),
                    ));
                }
                let d = key.domain as u32;
                let top = d - 1;
                let local = |c: u32| -> u32 {
                    match &key.map {
                        None if c < top => c,
                        None => u32::MAX,
                        Some(m) => m.get(c as usize).copied().unwrap_or(u32::MAX),
                    }
                };
                let mut bad = false;
                match b.validity.as_deref() {
                    None => cell.iter_mut().zip(codes).for_each(|(x, &c)| {
                        let l = local(c);
                        bad |= l == u32::MAX;
                        *x = *x * d + l.min(top);
                    }),
                    Some(ok) => cell
                        .iter_mut()
                        .zip(codes)
                        .enumerate()
                        .for_each(|(i, (x, &c))| {
                            let l = if ok.get(i).copied().unwrap_or(false) {
                                local(c)
                            } else {
                                top
                            };
                            bad |= l == u32::MAX;
                            *x = *x * d + l.min(top);
                        }),
                }
                if bad {
                    let valid =
                        |i: usize| b.validity.as_ref().is_none_or(|v| v.get(i) == Some(&true));
                    let at = (0..len)
                        .find(|&i| valid(i) && local(codes[i]) == u32::MAX)
                        .unwrap_or(0);
                    let code = codes.get(at).copied().unwrap_or(0);
                    return Err(self.code_error(seg, k, start + at, u64::from(code), top as usize));
                }
            }
            if all_rows {
                for &x in &cell {
                    if let Some(c) = counts.get_mut(x as usize) {
                        *c += 1;
                    }
                }
            } else {
                while let Some(&r) = rows.get(next) {
                    let r = r as usize;
                    if r >= end {
                        break;
                    }
                    if let Some(c) = cell
                        .get(r - start)
                        .and_then(|&x| counts.get_mut(x as usize))
                    {
                        *c += 1;
                    }
                    next += 1;
                }
            }
            start = end;
        }
        let domains = keys.iter().map(|k| k.domain).collect();
        let cols = keys.into_iter().map(|k| k.column).collect();
        Ok(Some((cols, domains, counts)))
    }

    /// Count one segment's selected rows by fast key, handing full tables to `emit`.
    fn segment(
        &self,
        schema: &Schema,
        seg: &SegmentReader,
        emit: &mut dyn FnMut(FastTable) -> Result<()>,
    ) -> Result<SegmentReport> {
        let plan = self.plan;
        let (report, selected) = select_segment(plan, schema, seg)?;
        let Some(sel) = selected else {
            return Ok(report);
        };
        let (cols, domains, dense_counts) = match self.count_on_codes(seg, &sel)? {
            Some((cols, domains, counts)) => (cols, Some(domains), Some(counts)),
            None => {
                let cols = plan
                    .keys
                    .iter()
                    .map(|k| key_ids(seg, &k.part, plan, &sel))
                    .collect::<Result<Vec<_>>>()?;
                let all_rows = sel.count() == seg.meta().rows;
                let domains = dense_domains(&cols);
                // Few possible groups (dictionary codes, joined values, booleans): count in an array
                // indexed by the local ids first; the codes in use are then read off its non-empty
                // cells instead of in a pass of their own.
                let dense_counts = match &domains {
                    Some(domains) => {
                        let mut counts = vec![0u64; domains.iter().product()];
                        // The cell of each selected row, built one key column at a time (simple loops
                        // the compiler vectorizes), then counted. NULL_ID is u64::MAX, so `min` puts a
                        // null in the last slot of its domain; a code beyond the domain is an error.
                        let rows: Vec<u32> = if all_rows {
                            Vec::new()
                        } else {
                            sel.iter().map(|r| r as u32).collect()
                        };
                        let n = if all_rows {
                            seg.meta().rows as usize
                        } else {
                            rows.len()
                        };
                        let mut cell = vec![0u32; n];
                        for (k, (c, &d)) in cols.iter().zip(domains).enumerate() {
                            let top = (d - 1) as u64;
                            let (d32, mut bad) = (d as u32, false);
                            let mut step = |x: &mut u32, id: u64| {
                                bad |= id >= top && id != NULL_ID;
                                *x = *x * d32 + id.min(top) as u32;
                            };
                            if all_rows {
                                let ids = c.ids.get(..n).ok_or_else(|| {
                                    Error::invalid("key column shorter than its segment")
                                })?;
                                cell.iter_mut().zip(ids).for_each(|(x, &id)| step(x, id));
                            } else {
                                for (x, &r) in cell.iter_mut().zip(&rows) {
                                    step(x, c.ids.get(r as usize).copied().unwrap_or(NULL_ID));
                                }
                            }
                            if bad {
                                let at = (0..n)
                                    .map(|i| if all_rows { i } else { rows[i] as usize })
                                    .find(|&r| {
                                        let id = c.ids.get(r).copied().unwrap_or(NULL_ID);
                                        id >= top && id != NULL_ID
                                    })
                                    .unwrap_or(0);
                                let id = c.ids.get(at).copied().unwrap_or(NULL_ID);
                                return Err(self.code_error(seg, k, at, id, d - 1));
                            }
                        }
                        for &x in &cell {
                            if let Some(c) = counts.get_mut(x as usize) {
                                *c += 1;
                            }
                        }
                        Some(counts)
                    }
                    None => None,
                };
                (cols, domains, dense_counts)
            }
        };
        // Per part: which local ids occur in the selected rows.
        let used: Vec<Vec<bool>> = match (&domains, &dense_counts) {
            (Some(domains), Some(counts)) => {
                let mut used: Vec<Vec<bool>> = domains.iter().map(|&d| vec![false; d]).collect();
                for (mut idx, _) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
                    for (k, &d) in domains.iter().enumerate().rev() {
                        used[k][idx % d] = true;
                        idx /= d;
                    }
                }
                used
            }
            _ => {
                let mut used = Vec::with_capacity(cols.len());
                for (k, c) in cols.iter().enumerate() {
                    let n = match &c.decoder {
                        Decoder::Dict(d) => d.len(),
                        Decoder::Joined { values, .. } => values.len(),
                        _ => {
                            used.push(Vec::new());
                            continue;
                        }
                    };
                    let mut u = vec![false; n];
                    for row in sel.iter() {
                        let id = c.ids[row];
                        match u.get_mut(id as usize) {
                            Some(u) => *u = true,
                            None if id == NULL_ID => {}
                            // Checksums passed, so a writer bug; never count it as a null.
                            None => return Err(self.code_error(seg, k, row, id, n)),
                        }
                    }
                    used.push(u);
                }
                used
            }
        };
        // Per part: how a local id becomes a fast id (interned texts of dictionary codes and
        // joined values; the interned unmatched label of a join).
        let mut maps: Vec<Vec<u32>> = Vec::with_capacity(cols.len());
        let mut unmatched: Vec<Option<u32>> = Vec::with_capacity(cols.len());
        for (k, c) in cols.iter().enumerate() {
            let texts: Vec<&[u8]> = match &c.decoder {
                Decoder::Dict(d) => d.iter().collect(),
                Decoder::Joined { values, .. } => values.iter().map(|v| v.as_bytes()).collect(),
                _ => {
                    maps.push(Vec::new());
                    unmatched.push(None);
                    continue;
                }
            };
            let mut interner = self.interners[k]
                .lock()
                .map_err(|_| Error::invalid("interner lock poisoned"))?;
            maps.push(
                texts
                    .iter()
                    .zip(&used[k])
                    .map(|(s, &u)| if u { interner.intern(s) } else { u32::MAX })
                    .collect(),
            );
            unmatched.push(match &c.decoder {
                Decoder::Joined { join, .. } => plan
                    .joins
                    .get(*join)
                    .map(|j| interner.intern(j.unmatched.as_bytes())),
                _ => None,
            });
        }
        // The fast id of local id `id` of part `k` (None: null).
        let fast_id = |k: usize, id: u64| -> Option<u64> {
            let c = &cols[k];
            match &c.decoder {
                Decoder::Joined { .. } if id == NULL_ID => unmatched[k].map(u64::from),
                _ if id == NULL_ID => None,
                Decoder::Dict(_) | Decoder::Joined { .. } => {
                    maps[k].get(id as usize).map(|&g| u64::from(g))
                }
                Decoder::Int { .. } | Decoder::Time | Decoder::SmallInt => Some(id_int(id) as u64),
                Decoder::IntList { values, .. } => values.get(id as usize).map(|&v| v as u64),
                Decoder::TimeList(values) => values.get(id as usize).map(|&v| v as u64),
                Decoder::Float { .. } | Decoder::Bool { .. } => Some(id),
                _ => None,
            }
        };
        let key_of = |local: &[u64]| {
            let mut key = FastKey {
                ids: [0; WIDTH],
                nulls: 0,
            };
            for (k, &id) in local.iter().enumerate() {
                match fast_id(k, id) {
                    Some(v) => key.ids[k] = v,
                    None => key.nulls |= 1 << k,
                }
            }
            key
        };
        let mut table = FastTable::default();
        if let (Some(domains), Some(counts)) = (&domains, &dense_counts) {
            let mut local = [0u64; WIDTH];
            for (mut idx, &n) in counts.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                for (k, &d) in domains.iter().enumerate().rev() {
                    let l = idx % d;
                    idx /= d;
                    local[k] = if l == d - 1 { NULL_ID } else { l as u64 };
                }
                *table.entry(key_of(&local[..cols.len()])).or_insert(0) += n;
            }
            if !table.is_empty() {
                emit(table)?;
            }
            return Ok(report);
        }
        let mut local = [0u64; WIDTH];
        for row in sel.iter() {
            for (l, c) in local.iter_mut().zip(&cols) {
                *l = c.ids[row];
            }
            *table.entry(key_of(&local[..cols.len()])).or_insert(0) += 1;
            if table.len() >= FLUSH_GROUPS {
                emit(std::mem::take(&mut table))?;
            }
        }
        if !table.is_empty() {
            emit(table)?;
        }
        Ok(report)
    }

    /// The values of a fast key (`parts` of them).
    fn decode(&self, key: &FastKey, parts: usize, interned: &[&[Arc<str>]]) -> Vec<KeyValue> {
        (0..parts)
            .map(|k| {
                if key.nulls & (1 << k) != 0 {
                    return KeyValue::Null;
                }
                let v = key.ids[k];
                match self.kinds[k] {
                    Kind::Str => interned[k]
                        .get(v as usize)
                        .map_or(KeyValue::Null, |s| KeyValue::Str(s.clone())),
                    Kind::Int { as_text: false } | Kind::SmallInt => KeyValue::Int(v as i64),
                    Kind::Int { as_text: true } => KeyValue::Str((v as i64).to_string().into()),
                    Kind::Float { as_text: false } => {
                        KeyValue::Float(F64Key::new(f64::from_bits(v)))
                    }
                    Kind::Float { as_text: true } => {
                        KeyValue::Str(format!("{:?}", f64::from_bits(v)).into())
                    }
                    Kind::Bool { as_text: false } => KeyValue::Bool(v == 1),
                    Kind::Bool { as_text: true } => {
                        KeyValue::Str(if v == 1 { "true" } else { "false" }.into())
                    }
                    Kind::Time => KeyValue::Time(v as i64),
                }
            })
            .collect()
    }

    /// The interners, locked (to decode keys without copying the strings).
    fn lock(&self) -> Result<Vec<MutexGuard<'_, Interner>>> {
        self.interners
            .iter()
            .map(|m| {
                m.lock()
                    .map_err(|_| Error::invalid("interner lock poisoned"))
            })
            .collect()
    }

    fn interned_bytes(&self) -> usize {
        self.interners
            .iter()
            .map(|m| m.lock().map_or(0, |i| i.bytes))
            .sum()
    }

    /// The states of a group of `n` events.
    fn states(&self, n: u64) -> Vec<AggState> {
        vec![AggState::Count(n); 1 + self.plan.values.len()]
    }

    /// Turn fast groups into a general partial.
    fn partial(&self, table: &FastTable) -> Result<Partial> {
        let guards = self.lock()?;
        let interned: Vec<&[Arc<str>]> = guards.iter().map(|g| &g.values[..]).collect();
        let parts = self.plan.keys.len();
        Ok(table
            .iter()
            .map(|(k, &n)| {
                let key = self.decode(k, parts, &interned);
                (key_hash(&key), key, self.states(n))
            })
            .collect())
    }
}

impl Fast<'_> {
    /// Hand the integer table to the general aggregator a slice at a time, so it can spill
    /// between slices (converting it whole would need its size again in values at once).
    fn demote(&self, table: FastTable, g: &mut Aggregator<'_>) -> Result<()> {
        let mut chunk = FastTable::default();
        for (k, n) in table {
            chunk.insert(k, n);
            if chunk.len() >= FLUSH_GROUPS {
                g.add(self.partial(&chunk)?)?;
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            g.add(self.partial(&chunk)?)?;
        }
        Ok(())
    }
}

/// What finishing one shard of the merged table gives.
#[derive(Default)]
struct ShardEnd {
    /// Events per column value (id, null).
    by_col: HashMap<(u64, bool), u64>,
    /// The shard's rows.
    rows: usize,
    /// With --top N: the row totals that reach the shard's N-th largest, and the groups of
    /// those rows with their row totals.
    totals: Vec<u64>,
    groups: Vec<(FastKey, u64, u64)>,
}

/// The row keys of `n` parts, with `--top` over `top` rows and the global N-th largest total
/// `floor`, that the top N takes among the rows whose total is `floor`, when fewer than all
/// of them: the first in key order (as the pivot builder orders equal totals). None when
/// every row at `floor` fits.
fn tied_winners(
    fast: &Fast<'_>,
    ends: &[ShardEnd],
    floor: u64,
    top: usize,
    n: usize,
    interned: &[&[Arc<str>]],
) -> Option<std::collections::HashSet<FastKey, BuildHasherDefault<PassHasher>>> {
    let row_of = |k: &FastKey| k.row(n);
    let mut above: std::collections::HashSet<FastKey, BuildHasherDefault<PassHasher>> =
        Default::default();
    let mut tied: std::collections::HashSet<FastKey, BuildHasherDefault<PassHasher>> =
        Default::default();
    for g in ends.iter().flat_map(|e| e.groups.iter()) {
        if g.2 > floor {
            above.insert(row_of(&g.0));
        } else if g.2 == floor {
            tied.insert(row_of(&g.0));
        }
    }
    let need = top.saturating_sub(above.len());
    if tied.len() <= need {
        return None;
    }
    let mut keyed: Vec<(Vec<KeyValue>, FastKey)> = tied
        .into_iter()
        .map(|r| (fast.decode(&r, n, interned), r))
        .collect();
    if need > 0 {
        keyed.select_nth_unstable_by(need - 1, |a, b| a.0.cmp(&b.0));
    }
    keyed.truncate(need);
    Some(keyed.into_iter().map(|(_, r)| r).collect())
}

/// What a worker emits: integer-keyed tables, or general partials after the demotion.
enum Item {
    Table(FastTable),
    Groups(Partial),
    /// The merged table outgrew the budget (the calling thread moves to the general path).
    Over,
}

/// Run a count pivot on integer keys; hands complete groups to `sink` like
/// [`crate::query::run_groups`]. Returns the stats and, when only the rows that can reach `--top`
/// were handed on, the number of rows before that cut.
pub(crate) fn run_groups(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<(QueryStats, Option<u64>)> {
    let kinds = kinds(plan, schema).ok_or_else(|| Error::invalid("not a fast plan"))?;
    let fast = Fast {
        plan,
        interners: kinds.iter().map(|_| Mutex::default()).collect(),
        kinds,
        demoted: AtomicBool::new(false),
        fast_started: AtomicUsize::new(0),
    };
    let mut fast_done = 0usize;
    let mut interner_dropped = false;
    let mut stats = QueryStats {
        segments: segs.len() as u64,
        ..QueryStats::default()
    };
    let budget = (req.memory_limit as usize / 2).max(1 << 10);
    // The merged table, in shards the workers merge into; `gate` is held for reading while a
    // worker merges and for writing while the calling thread moves the shards to the general
    // path (so no table is merged into a shard after it was drained).
    let shards: Vec<Mutex<FastTable>> = (0..SHARDS).map(|_| Mutex::default()).collect();
    let grouped = AtomicUsize::new(0);
    let gate = RwLock::new(());
    let mut general: Option<Aggregator<'_>> = None;
    // A segment's result says whether it was counted on integer keys.
    let work = |seg: &SegmentReader, emit: &mut dyn FnMut(Item) -> Result<()>| {
        let fast_mode = !fast.demoted.load(Ordering::SeqCst);
        let r = if fast_mode {
            fast.fast_started.fetch_add(1, Ordering::SeqCst);
            fast.segment(schema, seg, &mut |t| {
                if req.cancel.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                {
                    let _open = gate
                        .read()
                        .map_err(|_| Error::invalid("a query worker panicked"))?;
                    if fast.demoted.load(Ordering::SeqCst) {
                        // After the move to the general path: the calling thread converts it.
                        return emit(Item::Table(t));
                    }
                    grouped.fetch_add(merge_into(&shards, t, plan.n_row_keys)?, Ordering::Relaxed);
                }
                let over =
                    grouped.load(Ordering::Relaxed) * GROUP_BYTES + fast.interned_bytes() > budget;
                if over && !fast.demoted.load(Ordering::SeqCst) {
                    emit(Item::Over)?;
                }
                Ok(())
            })
        } else {
            process_segment(plan, schema, seg, &mut |g| emit(Item::Groups(g)))
        };
        r.map(|r| (r, fast_mode))
    };
    scan_segments(segs, req.threads, &work, &mut |msg| {
        match msg {
            Scanned::Item(Item::Table(t)) => {
                if req.cancel.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                match general.as_mut() {
                    Some(g) => return g.add(fast.partial(&t)?),
                    None => return Err(Error::invalid("integer table before demotion")),
                }
            }
            Scanned::Item(Item::Groups(p)) => match general.as_mut() {
                Some(g) => g.add(p)?,
                None => return Err(Error::invalid("general partial before demotion")),
            },
            Scanned::Item(Item::Over) | Scanned::Done(_) => {
                if let Scanned::Done((r, was_fast)) = msg {
                    stats.add_segment(&r);
                    fast_done += usize::from(was_fast);
                }
                let over =
                    grouped.load(Ordering::Relaxed) * GROUP_BYTES + fast.interned_bytes() > budget;
                if general.is_none() && over {
                    // Over budget: continue on the general path, which spills.
                    let _closed = gate
                        .write()
                        .map_err(|_| Error::invalid("a query worker panicked"))?;
                    fast.demoted.store(true, Ordering::SeqCst);
                    let mut g = Aggregator::new(plan, req);
                    for shard in &shards {
                        let t = std::mem::take(
                            &mut *shard
                                .lock()
                                .map_err(|_| Error::invalid("a query worker panicked"))?,
                        );
                        fast.demote(t, &mut g)?;
                    }
                    general = Some(g);
                }
                if general.is_some()
                    && !interner_dropped
                    && fast_done == fast.fast_started.load(Ordering::SeqCst)
                {
                    // Every table on interned ids has been merged or converted (a segment's
                    // tables are merged or arrive before its Done): drop the strings. A
                    // segment that raced past the demotion interns into the fresh
                    // interners, consistently.
                    for m in &fast.interners {
                        if let Ok(mut i) = m.lock() {
                            *i = Interner::default();
                        }
                    }
                    interner_dropped = true;
                }
            }
        }
        Ok(())
    })?;
    if let Some(g) = general {
        g.finish(&mut stats, sink)?;
        return Ok((stats, None));
    }
    let tables: Vec<FastTable> = shards
        .into_iter()
        .map(|m| {
            m.into_inner()
                .map_err(|_| Error::invalid("a query worker panicked"))
        })
        .collect::<Result<_>>()?;
    stats.groups = tables.iter().map(|t| t.len() as u64).sum();
    let n = plan.n_row_keys;
    let has_col = plan.keys.len() > n;
    let cut = match (req.top, &req.sort, req.totals) {
        (Some(top), crate::query::SortBy::Total, false) => Some(top),
        _ => None,
    };
    // Rows (row-key parts only) and their totals, to hand on only those that can make --top.
    let row_of = |k: &FastKey| k.row(n);
    // Shard by shard on every thread (a shard holds whole rows): events per column value,
    // the shard's rows, and with --top its groups whose row total reaches the shard's own
    // N-th largest (a superset of its groups in the global top N), with their row totals.
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<ShardEnd>> = Mutex::new(Vec::new());
    let job = |_: usize| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(table) = tables.get(i) else { break };
        let mut end = ShardEnd::default();
        if has_col {
            for (k, &c) in table {
                *end.by_col
                    .entry((k.ids[n], k.nulls & (1 << n) != 0))
                    .or_insert(0) += c;
            }
        }
        if let Some(top) = cut {
            let mut rows = RowTable::default();
            for (k, &c) in table {
                *rows.entry(row_of(k)).or_insert(0) += c;
            }
            end.rows = rows.len();
            let mut totals: Vec<u64> = rows.values().copied().collect();
            let floor = if top > 0 && totals.len() > top {
                *totals.select_nth_unstable_by(top - 1, |a, b| b.cmp(a)).1
            } else {
                0
            };
            end.totals = totals.into_iter().filter(|&t| t >= floor).collect();
            for (k, &c) in table {
                let t = rows.get(&row_of(k)).copied().unwrap_or(0);
                if t >= floor {
                    end.groups.push((*k, c, t));
                }
            }
        }
        if let Ok(mut d) = done.lock() {
            d.push(end);
        }
    };
    crate::pool::shared(req.threads)?.scope(req.threads.clamp(1, SHARDS), &job, || ())?;
    let ends = done
        .into_inner()
        .map_err(|_| Error::invalid("a query worker panicked"))?;
    let guards = fast.lock()?;
    let interned: Vec<&[Arc<str>]> = guards.iter().map(|g| &g.values[..]).collect();
    let mut col_counts = ColCounts::default();
    if has_col {
        let mut by_col: HashMap<(u64, bool), u64> = HashMap::new();
        for (key, c) in ends.iter().flat_map(|e| e.by_col.iter()) {
            *by_col.entry(*key).or_insert(0) += c;
        }
        for ((id, null), c) in by_col {
            let mut key = FastKey {
                ids: [0; WIDTH],
                nulls: 0,
            };
            key.ids[n] = id;
            if null {
                key.nulls = 1 << n;
            }
            let v = fast
                .decode(&key, n + 1, &interned)
                .pop()
                .unwrap_or(KeyValue::Null);
            *col_counts.entry(v).or_insert(0) += c;
        }
    }
    let parts = plan.keys.len();
    let total_rows = cut.map(|_| ends.iter().map(|e| e.rows as u64).sum::<u64>());
    if let Some(top) = cut {
        // The global N-th largest row total is among the shards' candidates.
        let mut totals: Vec<u64> = ends.iter().flat_map(|e| e.totals.iter().copied()).collect();
        let floor = if top > 0 && total_rows.is_some_and(|r| r > top as u64) && totals.len() >= top
        {
            *totals.select_nth_unstable_by(top - 1, |a, b| b.cmp(a)).1
        } else {
            0
        };
        // Rows below it cannot make the top N. Rows at it beyond what the top N needs are cut
        // here in the builder's order (key order among equal totals), so the builder gets at
        // most N rows: a pivot whose rows all have one event (a narrow window, a sparse key)
        // would otherwise hand every row over.
        let keep = (top > 0)
            .then(|| tied_winners(&fast, &ends, floor, top, n, &interned))
            .flatten();
        let mut groups = ends
            .iter()
            .flat_map(|e| e.groups.iter())
            .filter(|g| {
                g.2 > floor
                    || (g.2 == floor && keep.as_ref().is_none_or(|w| w.contains(&row_of(&g.0))))
            })
            .map(|(k, c, _)| (fast.decode(k, parts, &interned), fast.states(*c)));
        sink(&col_counts, &mut groups);
        return Ok((stats, total_rows));
    }
    let mut groups = tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|(k, &c)| (fast.decode(k, parts, &interned), fast.states(c)));
    sink(&col_counts, &mut groups);
    Ok((stats, total_rows))
}
