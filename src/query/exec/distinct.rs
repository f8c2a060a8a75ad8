//! Distinct counts over few groups: bitsets of dictionary codes, then roaring bitmaps of
//! interned values.
//!
//! `--rows rules.category --value 'count_distinct(ClientIP)'` has a handful of groups and a
//! million distinct values. The general path builds a set of decoded values per group and
//! segment and merges those sets on one thread, hashing and comparing every string again for
//! every segment. Here, per segment:
//!
//! 1. each selected row's group is a cell of a small dense array (the key columns' local
//!    dictionary codes, as in [`crate::query::fast`]), and its distinct value a bit in that cell's
//!    bitset of the value column's local codes: no hashing per row;
//! 2. each local code set in any cell is interned once (a query-wide table per value column,
//!    text or integer, so equal values from different segments get one id; a text is hashed
//!    from the dictionary's bytes before the table's lock is taken and allocated only when
//!    new; texts of up to 16 bytes, such as IPv4 addresses, are held inline in the table, so
//!    a lookup compares two words and follows no pointer), and each cell's codes become a
//!    roaring bitmap of interned ids;
//!
//! and the calling thread merges a segment's few cells by OR-ing bitmaps. A group's distinct
//! count is its bitmap's cardinality. `approx_count_distinct` takes the same cells, but each
//! code in use is hashed once (`hll::hash_key`'s hash, from the dictionary's bytes) and a
//! cell's codes go into a HyperLogLog sketch: nothing is interned and no lock is taken.
//!
//! Taken only when it is exact and bounded: keys of small dictionaries (or joined maps, or
//! booleans) with at most [`DENSE_MAX`] cells per segment, values `count` or `count_distinct`
//! of one plain column, no `--totals` and no `--cols-top` (whose folding would need the sets
//! themselves). The interned values count against the memory budget: past half of it the
//! query starts over on the general path, which spills.

use std::collections::HashMap;
use std::sync::Mutex;

use roaring::RoaringBitmap;

use crate::error::{Error, Result};
use crate::segment::{ColumnType, SegmentReader};

use crate::query::exec::{
    key_ids, select_segment, Decoder, IdColumn, Plan, SegmentReport, NULL_ID,
};
use crate::query::filter::set_bits as ones;
use crate::query::hll::{self, Hll};
use crate::query::plan::{AggFn, KeyPart, Schema};
use crate::query::value::{AggState, KeyValue};
use crate::query::{scan_segments, ColCounts, PivotRequest, QueryStats, Scanned, Sink};

/// Most cells (products of the key columns' local domains) a segment may have.
pub const DENSE_MAX: usize = 1 << 16;

/// Most bits of cell bitsets a segment may allocate (cells x value codes): 64 MiB.
const BITS_MAX: u64 = 1 << 29;

/// Whether `plan` runs here.
pub(crate) fn eligible(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
) -> bool {
    if req.totals
        || req.cols_top.is_some()
        || !plan.grouping_sets.is_empty()
        || plan.keys.is_empty()
        || !plan
            .values
            .iter()
            .any(|v| matches!(v.func, AggFn::CountDistinct | AggFn::ApproxCountDistinct))
    {
        return false;
    }
    let plain = |name: &str| {
        matches!(
            schema.types(name),
            [ColumnType::Str] | [ColumnType::Int] | [ColumnType::Bool]
        )
    };
    let values_ok = plan.values.iter().all(|v| match (v.func, &v.field) {
        (AggFn::Count, None) => true,
        (AggFn::CountDistinct | AggFn::ApproxCountDistinct, Some(KeyPart::Column { name, .. })) => {
            plain(name)
        }
        _ => false,
    });
    let keys_ok = plan.keys.iter().all(|k| match &k.part {
        KeyPart::Column { name, .. } => {
            matches!(
                schema.types(name),
                [] | [ColumnType::Str] | [ColumnType::Bool]
            )
        }
        KeyPart::Joined { join, .. } => matches!(
            plan.joins.get(*join).map(|j| &j.source),
            Some(KeyPart::Column { .. })
        ),
        _ => false,
    });
    if !values_ok || !keys_ok {
        return false;
    }
    segs.iter().all(|seg| {
        let mut cells = 1u64;
        for k in &plan.keys {
            let d = match &k.part {
                KeyPart::Column { name, .. } => match seg.meta().column(name) {
                    None => 1,
                    Some((_, cm)) if cm.ty == ColumnType::Bool => 3,
                    Some((_, cm)) => cm.cardinality + 1,
                },
                KeyPart::Joined { join, column } => plan
                    .joins
                    .get(*join)
                    .map_or(u64::MAX, |j| j.table.distinct_values(*column) as u64 + 1),
                _ => u64::MAX,
            };
            cells = cells.saturating_mul(d);
        }
        cells <= DENSE_MAX as u64
    })
}

/// The query-wide ids of one value column's distinct values: texts by their UTF-8 bytes
/// (looked up from the dictionary's bytes, hashed before the lock is taken, no allocation
/// for a value seen before), other values as `KeyValue`s. Ids are shared by both tables.
#[derive(Default)]
struct Interner {
    /// Texts of up to [`SHORT`] bytes inline (zero-padded, with their length): a lookup
    /// compares two words instead of following a pointer (IPv4 addresses, ports, codes).
    short: hashbrown::HashTable<([u8; SHORT], u8, u32)>,
    texts: hashbrown::HashTable<(Box<[u8]>, u32)>,
    ids: HashMap<KeyValue, u32, ahash::RandomState>,
    next: u32,
    bytes: usize,
}

impl Interner {
    /// The next id, for a new value taking `bytes`.
    fn fresh(&mut self, bytes: usize) -> u32 {
        let g = self.next;
        self.next += 1;
        self.bytes += bytes;
        g
    }
}

/// The longest text [`Interner`] holds inline.
const SHORT: usize = 16;

/// A short text zero-padded to [`SHORT`] bytes.
fn inline_text(text: &[u8]) -> Option<[u8; SHORT]> {
    let mut a = [0u8; SHORT];
    a.get_mut(..text.len())?.copy_from_slice(text);
    Some(a)
}

/// The hasher of interned texts (fixed seeds: hashes are computed outside the lock).
fn text_hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(7, 11, 13, 17)
}

/// A segment's cells: key values, event count, and per distinct spec a bitmap of ids.
type Cells = Vec<(Vec<KeyValue>, u64, Vec<Set>)>;

/// A cell's distinct values: interned ids (`count_distinct`) or a sketch of their pinned
/// hashes (`approx_count_distinct`: nothing interned, no lock).
enum Set {
    Ids(RoaringBitmap),
    Sketch(Box<Hll>),
}

impl Set {
    fn merge(&mut self, o: Set) {
        match (self, o) {
            (Set::Ids(a), Set::Ids(b)) => *a |= b,
            (Set::Sketch(a), Set::Sketch(b)) => a.merge(&b),
            _ => {}
        }
    }
}

/// The local domain of a key column (its last slot is null).
fn domain(c: &IdColumn) -> Option<usize> {
    match &c.decoder {
        Decoder::Dict(d) => Some(d.len() + 1),
        Decoder::Joined { values, .. } => Some(values.len() + 1),
        Decoder::Bool { .. } => Some(3),
        Decoder::Null => Some(1),
        _ => None,
    }
}

struct Run<'a> {
    plan: &'a Plan,
    schema: &'a Schema,
    /// One interner per value spec (None for `count`).
    interners: Vec<Option<Mutex<Interner>>>,
    budget: usize,
}

impl Run<'_> {
    fn segment(&self, seg: &SegmentReader) -> Result<(SegmentReport, Option<Cells>)> {
        let plan = self.plan;
        let (report, selected) = select_segment(plan, self.schema, seg)?;
        let Some(sel) = selected else {
            return Ok((report, None));
        };
        let rows = seg.meta().rows as usize;
        let keys = plan
            .keys
            .iter()
            .map(|k| key_ids(seg, &k.part, plan, &sel))
            .collect::<Result<Vec<_>>>()?;
        let domains = keys
            .iter()
            .map(domain)
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| Error::invalid("distinct path: a key without a dictionary"))?;
        let ncells: usize = domains.iter().product();
        if ncells > DENSE_MAX || keys.iter().any(|c| c.ids.len() < rows) {
            return Err(Error::invalid("distinct path: too many cells"));
        }
        // The value columns, with their ids made local codes 0..n (dictionary codes as they
        // are; other values numbered in order of appearance).
        let mut vals: Vec<Option<(IdColumn, Vec<u64>, usize)>> = Vec::new();
        for v in &plan.values {
            let Some(field) = v
                .field
                .as_ref()
                .filter(|_| matches!(v.func, AggFn::CountDistinct | AggFn::ApproxCountDistinct))
            else {
                vals.push(None);
                continue;
            };
            let col = key_ids(seg, field, plan, &sel)?;
            if col.ids.len() < rows {
                return Err(Error::invalid("distinct path: value column shape"));
            }
            let (codes_of, n) = match &col.decoder {
                Decoder::Dict(d) => (Vec::new(), d.len()),
                _ => {
                    let mut seen: HashMap<u64, u64, ahash::RandomState> = HashMap::default();
                    let mut order = Vec::new();
                    for row in sel.iter() {
                        let id = col.ids[row];
                        if id != NULL_ID && !seen.contains_key(&id) {
                            seen.insert(id, order.len() as u64);
                            order.push(id);
                        }
                    }
                    (order, seen.len())
                }
            };
            vals.push(Some((col, codes_of, n)));
        }
        // Cells and their bitsets of local codes.
        let mut counts = vec![0u64; ncells];
        let mut bits: Vec<Vec<Vec<u64>>> = vals
            .iter()
            .map(|v| match v {
                Some(_) => vec![Vec::new(); ncells],
                None => Vec::new(),
            })
            .collect();
        let mut local_of: Vec<Option<HashMap<u64, u64, ahash::RandomState>>> = vals
            .iter()
            .map(|v| match v {
                Some((_, order, _)) if !order.is_empty() => Some(
                    order
                        .iter()
                        .enumerate()
                        .map(|(i, &id)| (id, i as u64))
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        // Bitsets are allocated for the cells in use only; all of them at once would be
        // cells x codes bits. Past that bound the general path is the better tool.
        let bits_needed: u64 = vals
            .iter()
            .flatten()
            .map(|(_, _, n)| (*n as u64).saturating_mul(ncells as u64))
            .sum();
        if bits_needed > BITS_MAX {
            return Err(Error::invalid(FALLBACK));
        }
        for row in sel.iter() {
            let mut cell = 0usize;
            for (c, &d) in keys.iter().zip(&domains) {
                let id = c.ids[row];
                let local = if id == NULL_ID {
                    d - 1
                } else if (id as usize) < d - 1 {
                    id as usize
                } else {
                    return Err(Error::corrupt(
                        seg.path(),
                        0,
                        format!(
                            "code {id} of a key is beyond its {} values (row {row})",
                            d - 1
                        ),
                    ));
                };
                cell = cell * d + local;
            }
            counts[cell] += 1;
            for (j, v) in vals.iter().enumerate() {
                let Some((col, _, n)) = v else { continue };
                let id = col.ids[row];
                if id == NULL_ID {
                    continue;
                }
                let code = match &local_of[j] {
                    Some(m) => m.get(&id).copied().unwrap_or(u64::MAX),
                    None => id,
                } as usize;
                if code >= *n {
                    return Err(Error::corrupt(
                        seg.path(),
                        0,
                        format!("value code {id} beyond its {n} values (row {row})"),
                    ));
                }
                let set = &mut bits[j][cell];
                if set.is_empty() {
                    set.resize(n.div_ceil(64), 0);
                }
                set[code / 64] |= 1 << (code % 64);
            }
        }
        local_of.clear();
        // Intern the codes in use, once each; then each cell's bitmap of interned ids.
        let mut global: Vec<Vec<u32>> = Vec::with_capacity(vals.len());
        let mut sketch_hashes: Vec<Vec<u64>> = vec![Vec::new(); vals.len()];
        for (j, v) in vals.iter().enumerate() {
            let Some((col, order, n)) = v else {
                global.push(Vec::new());
                continue;
            };
            let mut used = vec![0u64; n.div_ceil(64)];
            for set in bits[j].iter().filter(|s| !s.is_empty()) {
                for (u, w) in used.iter_mut().zip(set) {
                    *u |= w;
                }
            }
            let mut ids = vec![u32::MAX; *n];
            let Some(m) = &self.interners[j] else {
                // A sketch's values: each code in use hashed once (a text from the
                // dictionary's bytes, as `hll::hash_key` hashes its value).
                let mut hashes = vec![0u64; *n];
                for code in ones(&used) {
                    hashes[code] = match (&col.decoder, order.is_empty()) {
                        (Decoder::Dict(d), true) => hll::hash_str(&d.get_str(code as u32)),
                        _ => {
                            let id = if order.is_empty() {
                                code as u64
                            } else {
                                order[code]
                            };
                            hll::hash_key(&col.decoder.decode(id, &plan.joins))
                        }
                    };
                }
                sketch_hashes[j] = hashes;
                global.push(ids);
                continue;
            };
            if let (Decoder::Dict(d), true) = (&col.decoder, order.is_empty()) {
                // Texts: hashed here, then looked up under the lock by their bytes.
                let h = text_hasher();
                let lossy: Vec<(usize, std::borrow::Cow<'_, str>)> = ones(&used)
                    .map(|code| (code, d.get_str(code as u32)))
                    .collect();
                let hashes: Vec<u64> = lossy
                    .iter()
                    .map(|(_, t)| h.hash_one(t.as_bytes()))
                    .collect();
                let mut int = m
                    .lock()
                    .map_err(|_| Error::invalid("interner lock poisoned"))?;
                let int = &mut *int;
                for ((code, text), &hash) in lossy.iter().zip(&hashes) {
                    let text = text.as_bytes();
                    if let Some(a) = inline_text(text) {
                        let len = text.len() as u8;
                        let found = int
                            .short
                            .find(hash, |e| e.1 == len && e.0 == a)
                            .map(|e| e.2);
                        ids[*code] = match found {
                            Some(g) => g,
                            None => {
                                let g = int.fresh(SHORT + 16);
                                int.short.insert_unique(hash, (a, len, g), |e| {
                                    h.hash_one(e.0.get(..usize::from(e.1)).unwrap_or(&e.0))
                                });
                                g
                            }
                        };
                        continue;
                    }
                    let found = int.texts.find(hash, |e| &e.0[..] == text).map(|e| e.1);
                    ids[*code] = match found {
                        Some(g) => g,
                        None => {
                            let g = int.fresh(text.len() + 64);
                            int.texts
                                .insert_unique(hash, (text.to_vec().into(), g), |e| {
                                    h.hash_one(&e.0[..])
                                });
                            g
                        }
                    };
                }
                if int.bytes > self.budget {
                    return Err(Error::invalid(FALLBACK));
                }
                global.push(ids);
                continue;
            }
            let mut int = m
                .lock()
                .map_err(|_| Error::invalid("interner lock poisoned"))?;
            for code in ones(&used) {
                let id = if order.is_empty() {
                    code as u64
                } else {
                    order[code]
                };
                let value = col.decoder.decode(id, &plan.joins);
                let next = int.next;
                let bytes = value.heap_bytes() + 64;
                let g = *int.ids.entry(value).or_insert_with(|| next);
                if g == next {
                    int.next += 1;
                    int.bytes += bytes;
                }
                ids[code] = g;
            }
            if int.bytes > self.budget {
                return Err(Error::invalid(FALLBACK));
            }
            global.push(ids);
        }
        let mut cells: Cells = Vec::new();
        let mut local = vec![0usize; keys.len()];
        for (mut cell, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let c0 = cell;
            for (k, &d) in domains.iter().enumerate().rev() {
                local[k] = cell % d;
                cell /= d;
            }
            let key: Vec<KeyValue> = keys
                .iter()
                .zip(&local)
                .zip(&domains)
                .map(|((c, &l), &d)| {
                    let id = if l == d - 1 { NULL_ID } else { l as u64 };
                    c.decoder.decode(id, &plan.joins)
                })
                .collect();
            let maps = vals
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if v.is_some() && self.interners[j].is_none() {
                        let set = &bits[j][c0];
                        let n = set.iter().map(|w| w.count_ones() as usize).sum();
                        let h = Hll::from_hashes(ones(set).map(|code| sketch_hashes[j][code]), n);
                        return Set::Sketch(Box::new(h));
                    }
                    let mut ids: Vec<u32> = match v {
                        Some(_) => ones(&bits[j][c0]).map(|code| global[j][code]).collect(),
                        None => Vec::new(),
                    };
                    ids.sort_unstable();
                    Set::Ids(
                        RoaringBitmap::from_sorted_iter(ids.iter().copied())
                            .unwrap_or_else(|_| ids.iter().copied().collect()),
                    )
                })
                .collect();
            cells.push((key, n, maps));
        }
        Ok((report, Some(cells)))
    }
}

/// The error a segment returns when this path should give way to the general one (interned
/// values over the budget, or bitsets too large); `run_groups` turns it into `Ok(None)`.
const FALLBACK: &str = "distinct path: over its bounds, general path instead";

/// Run the plan; `Ok(None)` when the interned values outgrew the budget or a segment's
/// bitsets would be too large (nothing was handed to `sink`: the caller runs the general path
/// instead).
pub(crate) fn run_groups(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<Option<QueryStats>> {
    let run = Run {
        plan,
        schema,
        interners: plan
            .values
            .iter()
            .map(|v| (v.func == AggFn::CountDistinct).then(|| Mutex::new(Interner::default())))
            .collect(),
        budget: (req.memory_limit as usize / 2).max(1 << 10),
    };
    let mut stats = QueryStats {
        segments: segs.len() as u64,
        ..QueryStats::default()
    };
    let mut merged: HashMap<Vec<KeyValue>, (u64, Vec<Set>), ahash::RandomState> =
        HashMap::default();
    let work = |seg: &SegmentReader, emit: &mut dyn FnMut(Cells) -> Result<()>| {
        let (report, cells) = run.segment(seg)?;
        if let Some(c) = cells {
            emit(c)?;
        }
        Ok(report)
    };
    let scanned = scan_segments(segs, req.threads, &work, &mut |msg| {
        match msg {
            Scanned::Item(cells) => {
                if req.cancel.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                for (key, n, maps) in cells {
                    match merged.get_mut(&key) {
                        Some((c, m)) => {
                            *c += n;
                            for (a, b) in m.iter_mut().zip(maps) {
                                a.merge(b);
                            }
                        }
                        None => {
                            merged.insert(key, (n, maps));
                        }
                    }
                }
            }
            Scanned::Done(r) => stats.add_segment(&r),
        }
        Ok(())
    });
    match scanned {
        Err(Error::Invalid(m)) if m == FALLBACK => return Ok(None),
        r => r?,
    }
    stats.groups = merged.len() as u64;
    let n_row = plan.n_row_keys;
    let mut col_counts = ColCounts::default();
    if plan.keys.len() > n_row {
        for (k, (n, _)) in &merged {
            if let Some(c) = k.get(n_row) {
                *col_counts.entry(c.clone()).or_insert(0) += n;
            }
        }
    }
    let mut groups = merged.into_iter().map(|(k, (n, maps))| {
        // The final values: a group's distinct count is its bitmap's cardinality (no merge
        // follows: --totals and --cols-top do not take this path).
        let mut st = vec![AggState::Count(n)];
        st.extend(
            plan.values
                .iter()
                .zip(maps)
                .map(|(v, m)| match (v.func, m) {
                    (AggFn::CountDistinct, Set::Ids(m)) => AggState::Count(m.len()),
                    (AggFn::ApproxCountDistinct, Set::Sketch(h)) => AggState::Approx(h),
                    _ => AggState::Count(n),
                }),
        );
        (k, st)
    });
    sink(&col_counts, &mut groups);
    Ok(Some(stats))
}
