//! A pivot in three steps, for running it on many machines (`logpivot.ray`): **map** over some
//! segments, **reduce** one hash partition of the row keys, **finish** on one machine.
//!
//! 1. [`map`] aggregates its segments on the usual paths (with `--top`, `--cols-top` and
//!    `--totals` left for later: they need every shard) and splits the groups into `parts`
//!    partitions by the pinned hash [`crate::query::hll::hash_bytes`] of the row key's encoding, so
//!    every group of a row key lands in the same partition on every machine and build. It
//!    also returns the event count per column value (for `--cols-top`).
//! 2. [`reduce`] merges one partition's partials from every map: its row keys are then
//!    complete. With `--top N` (and no `--totals`) it keeps only the rows among its own first N
//!    in the finished table's order (total, then key; or the `--sort` key), a superset of its
//!    rows in the global first N, as the pivot builder would rank them.
//! 3. [`finish`] hands every reduced partition and the summed column counts to the pivot
//!    builder, as a query on one machine does.
//!
//! The states are those of the spill files ([`crate::query::value::put_state`]): counts, sums, min,
//! max, avg as sum and count, `count_distinct` as the set of a group's values (so a value
//! reaches its row key's reducer once per map, as Spark's (key, value) rewrite sends it) and
//! `approx_count_distinct` as a HyperLogLog sketch. Each blob: the magic `LPPART`, a format
//! version (u16 LE, [`PARTIAL_FORMAT`]), a kind byte (groups or column counts), then zstd of
//! varint record count and records (`varint key parts, keys, varint states, states`).

use std::collections::{HashMap, HashSet};

use crate::codec::bytes::{put_varint_u64, ByteReader};
use crate::error::{Error, Result};
use crate::query::exec::Plan;
use crate::query::pivot::{row_order, PivotBuilder, PivotTable, SortBy};
use crate::query::plan::AggFn;
use crate::query::plan::Schema;
use crate::query::spill::{merge_into, read_record, Groups};
use crate::query::value::{get_key, put_key, put_state, skip_key, AggState, KeyValue};
use crate::query::{bytegroups, fast, run_groups, ColCounts, GroupIter, PivotRequest, QueryStats};
use crate::segment::SegmentReader;

/// Version of the partial-aggregate blobs; a reader refuses any other.
pub const PARTIAL_FORMAT: u16 = 1;

/// Row key -> the row's total states.
type Totals<'a> = HashMap<&'a [KeyValue], Vec<AggState>, ahash::RandomState>;

const MAGIC: &[u8; 6] = b"LPPART";
const KIND_GROUPS: u8 = 1;
const KIND_COLS: u8 = 2;

/// What one map step returns.
#[derive(Debug)]
pub struct MapOutput {
    /// One blob per partition (groups of the row keys that hash to it).
    pub parts: Vec<Vec<u8>>,
    /// Events per column value (a blob).
    pub col_counts: Vec<u8>,
    pub stats: QueryStats,
}

/// What one reduce step returns.
#[derive(Debug)]
pub struct Reduced {
    /// The merged groups it hands on (a blob).
    pub groups: Vec<u8>,
    /// Row keys of its partition (all of them, before any `--top` cut).
    pub rows: u64,
    /// Groups after the merge (all of them).
    pub groups_merged: u64,
}

/// The request a map step runs: what needs the whole data (top, cols-top, totals, the sort)
/// waits for the finish.
fn map_request(req: &PivotRequest) -> PivotRequest {
    PivotRequest {
        top: None,
        cols_top: None,
        totals: false,
        sort: SortBy::Total,
        ..req.clone()
    }
}

/// The partition of a row key among `parts`.
pub fn partition_of(row: &[KeyValue], parts: usize, scratch: &mut Vec<u8>) -> usize {
    scratch.clear();
    for k in row {
        put_key(scratch, k);
    }
    partition_of_bytes(scratch, parts)
}

/// [`partition_of`] of a row key already encoded (its parts' `put_key` bytes, concatenated).
pub fn partition_of_bytes(row: &[u8], parts: usize) -> usize {
    (crate::query::hll::hash_bytes(9, row) % parts.max(1) as u64) as usize
}

fn put_record(out: &mut Vec<u8>, k: &[KeyValue], states: &[AggState]) {
    put_varint_u64(out, k.len() as u64);
    for part in k {
        put_key(out, part);
    }
    put_varint_u64(out, states.len() as u64);
    for s in states {
        put_state(out, s);
    }
}

fn seal(kind: u8, records: u64, raw: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(raw.len() + 10);
    put_varint_u64(&mut body, records);
    body.extend_from_slice(raw);
    let z = crate::codec::zst::compress(&body, 1)
        .map_err(|e| Error::invalid(format!("compressing a partial aggregate: {e}")))?;
    let mut out = Vec::with_capacity(z.len() + 17);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&PARTIAL_FORMAT.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&z);
    Ok(out)
}

/// A groups blob around `body` (a varint record count, then records), as a map step seals
/// its partitions: for tools that build partials themselves (tests, the fuzz targets).
pub fn groups_blob(body: &[u8]) -> Result<Vec<u8>> {
    let mut r = ByteReader::new(body);
    let n = r.read_varint_u64().map_err(bad)?;
    seal(KIND_GROUPS, n, r.rest())
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::invalid(format!("a partial aggregate does not decode: {what}"))
}

/// Check a blob's header and hand each record to `f`.
fn open_blob(
    blob: &[u8],
    kind: u8,
    f: &mut dyn FnMut(Vec<KeyValue>, Vec<AggState>) -> Result<()>,
) -> Result<()> {
    let body = body_of(blob, kind)?;
    let mut r = ByteReader::new(&body);
    let n = r.read_varint_u64().map_err(bad)?;
    for i in 0..n {
        let (k, s) = read_record(&mut r).map_err(|e| bad(format!("record {i}: {e}")))?;
        f(k, s)?;
    }
    if r.remaining() != 0 {
        return Err(bad(format!(
            "{} bytes after the last record",
            r.remaining()
        )));
    }
    Ok(())
}

/// Check a blob's header and decompress its body (record count, records).
fn body_of(blob: &[u8], kind: u8) -> Result<Vec<u8>> {
    if blob.len() < 17 || &blob[..6] != MAGIC {
        return Err(bad("it does not start with LPPART"));
    }
    let version = u16::from_le_bytes([blob[6], blob[7]]);
    if version != PARTIAL_FORMAT {
        return Err(bad(format!(
            "format {version}, this build reads {PARTIAL_FORMAT} (mixed logpivot versions?)"
        )));
    }
    if blob[8] != kind {
        return Err(bad(format!("kind {} where {kind} was expected", blob[8])));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&blob[9..17]);
    let raw_len = usize::try_from(u64::from_le_bytes(len)).map_err(bad)?;
    // Records compress a few times over, never thousands: a larger claim is a broken header
    // (refused before allocating it).
    if raw_len
        > (blob.len() - 17)
            .saturating_mul(4096)
            .saturating_add(1 << 20)
    {
        return Err(bad(format!(
            "a body of {raw_len} bytes claimed for {} compressed bytes",
            blob.len() - 17
        )));
    }
    crate::codec::zst::decompress(&blob[17..], raw_len).map_err(bad)
}

/// Check that a decoded group fits the plan (the map and this step planned the same query).
fn check(plan: &Plan, k: &[KeyValue], s: &[AggState]) -> Result<()> {
    // With grouping sets a key is the set's number and that set's values.
    let keys_fit = if plan.grouping_sets.is_empty() {
        k.len() == plan.keys.len()
    } else {
        !k.is_empty() && k.len() <= plan.key_width()
    };
    if !keys_fit || s.len() != plan.values.len() + 1 {
        return Err(bad(format!(
            "a group of {} keys and {} states in a query of {} keys and {} values",
            k.len(),
            s.len(),
            plan.key_width(),
            plan.values.len()
        )));
    }
    Ok(())
}

/// Map: aggregate `segs` and split the groups into `parts` partitions by row key.
pub fn map(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    parts: usize,
) -> Result<MapOutput> {
    let parts = parts.max(1);
    let mreq = map_request(req);
    let mut bufs: Vec<(Vec<u8>, u64)> = vec![(Vec::new(), 0); parts];
    let mut cols: Option<ColCounts> = None;
    let mut scratch = Vec::new();
    let n = plan.n_row_keys;
    let mut sink = |cc: &ColCounts, groups: &mut GroupIter<'_>| {
        if cols.is_none() {
            cols = Some(cc.clone());
        }
        for (k, s) in groups {
            let p = partition_of(&k[..n.min(k.len())], parts, &mut scratch);
            put_record(&mut bufs[p].0, &k, &s);
            bufs[p].1 += 1;
        }
    };
    // The paths that hand on mergeable states: counts on integer or byte keys, else the
    // general path (the distinct paths hand on finished counts).
    let fast = fast::eligible(plan, schema);
    let stats = if fast && bytegroups::prefer(plan, segs, mreq.many_groups) {
        // Many groups: records straight from the byte-key path, nothing decoded.
        let (st, raw) = bytegroups::run_partial(plan, schema, segs, &mreq, &mut sink, parts)?;
        for (acc, (buf, n)) in bufs.iter_mut().zip(raw) {
            acc.0.extend_from_slice(&buf);
            acc.1 += n;
        }
        st
    } else if fast {
        fast::run_groups(plan, schema, segs, &mreq, &mut sink)?.0
    } else {
        run_groups(plan, schema, segs, &mreq, &mut sink)?
    };
    let mut col_raw = Vec::new();
    let cols = cols.unwrap_or_default();
    for (k, c) in &cols {
        put_record(
            &mut col_raw,
            std::slice::from_ref(k),
            &[AggState::Count(*c)],
        );
    }
    Ok(MapOutput {
        parts: bufs
            .into_iter()
            .map(|(raw, n)| seal(KIND_GROUPS, n, &raw))
            .collect::<Result<_>>()?,
        col_counts: seal(KIND_COLS, cols.len() as u64, &col_raw)?,
        stats,
    })
}

/// Are all of the plan's states counts (the hidden event count and `count` values)? Such
/// partials merge on their encoded key bytes ([`reduce_counts`]).
fn counts_only(plan: &Plan) -> bool {
    plan.grouping_sets.is_empty()
        && !plan.values.is_empty()
        && plan.values.iter().all(|v| v.func == AggFn::Count)
}

/// Reduce: merge one partition's blobs from every map.
pub fn reduce(plan: &Plan, req: &PivotRequest, inputs: &[&[u8]]) -> Result<Reduced> {
    if counts_only(plan) && matches!(req.sort, SortBy::Total) {
        return reduce_counts(plan, req, inputs);
    }
    reduce_groups(plan, req, inputs)
}

/// One group of [`reduce_counts`]: its encoded keys (the record's prefix) and where the row
/// key's bytes lie in them.
struct ByteGroup<'a> {
    key: &'a [u8],
    row: std::ops::Range<usize>,
}

impl<'a> ByteGroup<'a> {
    /// The row key's encoded bytes.
    fn row(&self) -> &'a [u8] {
        &self.key[self.row.clone()]
    }
}

/// [`reduce`] of count-only partials: groups merge on their encoded key bytes (a key value has
/// one encoding) and counts, with nothing decoded; only the rows tied at a `--top` cut are
/// decoded, to be ordered by key as the pivot builder orders them. A high-cardinality pivot's
/// reduce then costs a hash of its key bytes per group, not an allocation per key part.
fn reduce_counts(plan: &Plan, req: &PivotRequest, inputs: &[&[u8]]) -> Result<Reduced> {
    let k = plan.values.len() + 1;
    let n = plan.n_row_keys;
    let bodies = inputs
        .iter()
        .map(|b| body_of(b, KIND_GROUPS))
        .collect::<Result<Vec<_>>>()?;
    let hasher = ahash::RandomState::with_seeds(7, 11, 13, 17);
    let mut table: hashbrown::HashTable<u32> = hashbrown::HashTable::new();
    let mut groups: Vec<ByteGroup<'_>> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    for body in &bodies {
        req.cancel.check()?;
        let mut r = ByteReader::new(body);
        let records = r.read_varint_u64().map_err(bad)?;
        let more = usize::try_from(records.min(body.len() as u64)).unwrap_or(0);
        table.reserve(more, |&i| hasher.hash_one(groups[i as usize].key));
        groups.reserve(more);
        for i in 0..records {
            let at = |e| bad(format!("record {i}: {e}"));
            let start = r.pos();
            let nk = r.read_varint_u64().map_err(at)? as usize;
            let keys_at = r.pos();
            let mut row_end = keys_at;
            for j in 0..nk {
                skip_key(&mut r).map_err(at)?;
                if j + 1 == n {
                    row_end = r.pos();
                }
            }
            let key = &body[start..r.pos()];
            let ns = r.read_varint_u64().map_err(at)? as usize;
            if nk != plan.keys.len() || ns != k {
                return Err(bad(format!(
                    "a group of {nk} keys and {ns} states in a query of {} keys and {} values",
                    plan.keys.len(),
                    plan.values.len()
                )));
            }
            let h = hasher.hash_one(key);
            let slot = match table.find(h, |&g| groups[g as usize].key == key) {
                Some(&g) => g as usize,
                None => {
                    let g = groups.len();
                    let id = u32::try_from(g).map_err(|_| bad("more than 2^32 groups"))?;
                    table.insert_unique(h, id, |&x| hasher.hash_one(groups[x as usize].key));
                    groups.push(ByteGroup {
                        key,
                        row: keys_at - start..row_end - start,
                    });
                    counts.resize(counts.len() + k, 0);
                    g
                }
            };
            for c in &mut counts[slot * k..slot * k + k] {
                if r.read_u8().map_err(at)? != 0 {
                    return Err(bad(format!("record {i}: a state that is not a count")));
                }
                *c += r.read_varint_u64().map_err(at)?;
            }
        }
        if r.remaining() != 0 {
            return Err(bad(format!(
                "{} bytes after the last record",
                r.remaining()
            )));
        }
    }
    // Row totals of the first value (what the builder ranks by), per distinct row key.
    let mut rows: HashMap<&[u8], u64, ahash::RandomState> = HashMap::default();
    rows.reserve(groups.len());
    let first = usize::from(k > 1);
    for (g, grp) in groups.iter().enumerate() {
        *rows.entry(grp.row()).or_insert(0) += counts[g * k + first];
    }
    let n_rows = rows.len() as u64;
    let keep: Option<HashSet<&[u8], ahash::RandomState>> = match req.top {
        Some(top) if top > 0 && !req.totals && n_rows > top as u64 => {
            let mut totals: Vec<u64> = rows.values().copied().collect();
            totals.select_nth_unstable_by(top - 1, |a, b| b.cmp(a));
            let floor = totals[top - 1];
            let above: Vec<&[u8]> = rows
                .iter()
                .filter(|(_, &t)| t > floor)
                .map(|(r, _)| *r)
                .collect();
            let need = top - above.len();
            // Rows tied at the floor: the first `need` in key order, decoded to compare.
            let mut tied: Vec<(Vec<KeyValue>, &[u8])> = Vec::new();
            for (r, _) in rows.iter().filter(|(_, &t)| t == floor) {
                let mut br = ByteReader::new(r);
                let mut key = Vec::with_capacity(n);
                for _ in 0..n {
                    key.push(get_key(&mut br).map_err(bad)?);
                }
                tied.push((key, r));
            }
            if tied.len() > need && need > 0 {
                tied.select_nth_unstable_by(need - 1, |a, b| a.0.cmp(&b.0));
            }
            tied.truncate(need);
            Some(
                above
                    .into_iter()
                    .chain(tied.into_iter().map(|t| t.1))
                    .collect(),
            )
        }
        _ => None,
    };
    let mut raw = Vec::new();
    let mut kept = 0u64;
    for (g, grp) in groups.iter().enumerate() {
        if keep.as_ref().is_some_and(|set| !set.contains(grp.row())) {
            continue;
        }
        raw.extend_from_slice(grp.key);
        put_varint_u64(&mut raw, k as u64);
        for &c in &counts[g * k..g * k + k] {
            put_state(&mut raw, &AggState::Count(c));
        }
        kept += 1;
    }
    Ok(Reduced {
        groups: seal(KIND_GROUPS, kept, &raw)?,
        rows: if plan.keys.len() > n {
            n_rows
        } else {
            groups.len() as u64
        },
        groups_merged: groups.len() as u64,
    })
}

/// [`reduce`] of any states: groups decoded and merged as values.
fn reduce_groups(plan: &Plan, req: &PivotRequest, inputs: &[&[u8]]) -> Result<Reduced> {
    let mut g = Groups::default();
    for blob in inputs {
        req.cancel.check()?;
        open_blob(blob, KIND_GROUPS, &mut |k, s| {
            check(plan, &k, &s)?;
            merge_into(&mut g, k, s);
            Ok(())
        })?;
    }
    let n = plan.n_row_keys;
    let groups_merged = g.len() as u64;
    let cut = req.top.filter(|&t| t > 0 && !req.totals);
    // Each row's total over its groups (as the pivot builder sums a row's cells), when a
    // `--top` cut needs them or the rows must be counted.
    let has_col = plan.keys.len() > n;
    let mut totals: Totals<'_> = Totals::default();
    if has_col || cut.is_some() {
        totals.reserve(g.len());
        for (k, s) in &g {
            let t = totals.entry(&k[..n]).or_insert_with(|| plan.new_states());
            if cut.is_some() {
                for (a, b) in t.iter_mut().zip(s) {
                    a.merge_ref(b);
                }
            }
        }
    }
    let rows = if has_col {
        totals.len() as u64
    } else {
        groups_merged
    };
    // The rows this partition can place in the top N: its own first N, in the finished
    // table's order.
    let keep: Option<HashSet<&[KeyValue], ahash::RandomState>> = match cut {
        Some(top) if rows > top as u64 => {
            let mut ranked: Vec<(&[KeyValue], Vec<AggState>)> = totals.into_iter().collect();
            let order = |a: &(&[KeyValue], Vec<AggState>), b: &(&[KeyValue], Vec<AggState>)| {
                row_order(plan, &req.sort, (a.0, &a.1), (b.0, &b.1))
            };
            ranked.select_nth_unstable_by(top - 1, order);
            ranked.truncate(top);
            Some(ranked.into_iter().map(|r| r.0).collect())
        }
        _ => None,
    };
    let mut raw = Vec::new();
    let mut kept = 0u64;
    for (k, s) in &g {
        if keep.as_ref().is_some_and(|set| !set.contains(&k[..n])) {
            continue;
        }
        put_record(&mut raw, k, s);
        kept += 1;
    }
    Ok(Reduced {
        groups: seal(KIND_GROUPS, kept, &raw)?,
        rows,
        groups_merged,
    })
}

/// The groups of a reduced blob (every group of its row keys).
pub fn groups(plan: &Plan, blob: &[u8]) -> Result<Vec<(Vec<KeyValue>, Vec<AggState>)>> {
    let mut out = Vec::new();
    open_blob(blob, KIND_GROUPS, &mut |k, s| {
        check(plan, &k, &s)?;
        out.push((k, s));
        Ok(())
    })?;
    Ok(out)
}

/// Finish: the pivot table of every reduced partition, with the maps' column counts; `rows`
/// is the sum of the reduces' row counts.
pub fn finish(
    plan: &Plan,
    req: &PivotRequest,
    col_counts: &[&[u8]],
    reduced: &[&[u8]],
    rows: u64,
    mut stats: QueryStats,
) -> Result<PivotTable> {
    let mut cc = ColCounts::default();
    for blob in col_counts {
        open_blob(
            blob,
            KIND_COLS,
            &mut |mut k, s| match (k.pop(), s.first()) {
                (Some(c), Some(AggState::Count(n))) if k.is_empty() => {
                    *cc.entry(c).or_insert(0) += n;
                    Ok(())
                }
                _ => Err(bad("a column count that is not (value, count)")),
            },
        )?;
    }
    let mut b = PivotBuilder::new(plan, req, &cc);
    for blob in reduced {
        let groups = groups(plan, blob)?;
        stats.groups += groups.len() as u64;
        b.add_groups(groups);
    }
    b.set_total_rows(rows);
    Ok(b.finish(stats))
}
