//! Count pivots over very many groups: byte-encoded keys in hash partitions.
//!
//! The integer-key path ([`crate::query::fast`]) interns every distinct string of a key. For a pivot
//! on (ClientIP, ClientRequestPath) that is millions of strings held until the end, and when
//! they outgrow the budget it hands over to the general aggregator, which allocates a key per
//! group. This path allocates nothing per group:
//!
//! 1. A worker counts a segment's selected rows, a chunk at a time, on their local dictionary codes (packed into
//!    one integer, sorted and run-length counted: with about as many groups as rows, a hash
//!    table would be a cache miss per row), then writes each group as one record into one of
//!    [`PARTITIONS`] buffers, chosen by a hash of the row key:
//!    `u64 row hash | varint len, row key | varint len, column value | varint count`, where a
//!    key is the [`put_key`] encoding of its parts. Each distinct value is encoded (and
//!    hashed) once per segment, in dictionary order, and looked up by its code in an array.
//! 2. The calling thread appends the buffers to per-partition memory; when that outgrows the
//!    budget (a quarter of `--memory-limit`) every partition is written to the spill directory as
//!    one zstd frame ([`Spill::write_raw`]) and memory starts over.
//! 3. At the end the partitions are merged one at a time, on every worker thread: a partition
//!    holds whole pivot rows, so its merged groups are final. With `--top N` (sorted by total,
//!    without `--totals`) a partition hands on only the rows whose total reaches its own N-th
//!    largest, a superset of its rows in the global top N (ties included).
//!
//! Peak memory: the budget, the chunks in flight (one being counted per worker, one being
//! taken in: none wait in a queue; a chunk is at most [`chunk_rows`] rows, whatever the
//! segment's size), each worker's segment (its key columns' ids and encoded values), and one
//! merged partition per thread.

use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::HashTable;

use crate::codec::bytes::{self as b, ByteReader};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::segment::{ColumnType, SegmentReader};

use crate::query::exec::{
    key_ids, select_segment, Decoder, IdColumn, Plan, SegmentReport, NULL_ID,
};
use crate::query::plan::{AggFn, KeyPart, Schema, TimeSource};
use crate::query::spill::{Spill, PARTITIONS};
use crate::query::value::{get_key, AggState, KeyValue};
use crate::query::{
    resolve_spill_dir, scan_segments_queued, ColCounts, PivotRequest, QueryStats, Scanned, Sink,
    SortBy,
};

/// At most this many key parts (as in the integer-key path).
const WIDTH: usize = 4;

/// Above this many groups a segment on average (estimated from dictionary sizes) a count
/// pivot takes this path instead of interning strings: the integer-key path counts up to
/// 65,536 possible groups a segment in a dense array, and past that its hash tables no longer
/// fit the caches nor pre-aggregate (benches/aggregation.rs: 13.5 million rows a second at
/// 10^5 groups, 1.0 at 10^7, against 20.1 and 4.4 here).
pub const MANY_GROUPS_PER_SEGMENT: u64 = 65_536;

/// The hasher of encoded values and row keys (fixed seeds: partitions are chosen by workers
/// and must agree).
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(0x6c70, 0x7069, 0x766f, 0x7421)
}

/// Partition of a row hash: bits 32..40, which hash tables use neither for their bucket index
/// (low bits) nor for their tag (top bits).
fn partition_of(row_hash: u64) -> usize {
    ((row_hash >> 32) as usize) % PARTITIONS
}

/// Whether a count pivot (one the integer-key path accepts) is better served here: when the
/// sum over segments of the possible groups (the product of the key columns' dictionary sizes,
/// at most the rows) exceeds `threshold`, by default [`MANY_GROUPS_PER_SEGMENT`] times the
/// segments the time range leaves.
pub(crate) fn prefer(plan: &Plan, segs: &[SegmentReader], threshold: Option<u64>) -> bool {
    if plan.keys.len() > WIDTH || !plan.grouping_sets.is_empty() {
        return false;
    }
    let mut est = 0u64;
    let mut live = 0u64;
    for seg in segs {
        let m = seg.meta();
        let rows = m.rows;
        // Segments the time range prunes hold no groups.
        let outside = match (m.min_time, m.max_time) {
            (Some(a), Some(b)) => {
                plan.from.is_some_and(|lo| b < lo) || plan.to.is_some_and(|hi| a >= hi)
            }
            _ => false,
        } && m.null_time == 0;
        if outside {
            continue;
        }
        live += 1;
        let mut prod = 1u64;
        for k in &plan.keys {
            let c = match &k.part {
                KeyPart::Bucket {
                    src: TimeSource::Derived,
                    width_ns,
                } => match (m.min_time, m.max_time) {
                    (Some(a), Some(b)) if *width_ns > 0 => {
                        (b.saturating_sub(a) / width_ns) as u64 + 3
                    }
                    _ => rows,
                },
                KeyPart::Hour { .. } => 25,
                KeyPart::Weekday { .. } => 8,
                KeyPart::Column { name, .. } => match seg.meta().column(name) {
                    None => 1,
                    Some((_, cm)) if cm.ty == ColumnType::Str => cm.cardinality + 1,
                    Some((_, cm)) if cm.ty == ColumnType::Bool => 3,
                    Some(_) => rows,
                },
                // The map column's distinct values (17 categories of 3,000 rules), and the
                // unmatched label.
                KeyPart::Joined { join, column } => plan
                    .joins
                    .get(*join)
                    .map_or(rows, |j| j.table.distinct_values(*column) as u64 + 1),
                _ => rows,
            };
            prod = prod.saturating_mul(c.max(1));
        }
        est = est.saturating_add(prod.min(rows));
    }
    est > threshold.unwrap_or(MANY_GROUPS_PER_SEGMENT.saturating_mul(live))
}

/// Per key part, its bits and its null's local id (the dictionary's length), when every part
/// is a dictionary column and the parts fit in 64 bits together.
fn packing(cols: &[IdColumn]) -> Option<Vec<(u32, u64)>> {
    let mut total = 0u32;
    let mut out = Vec::with_capacity(cols.len());
    for c in cols {
        let Decoder::Dict(d) = &c.decoder else {
            return None;
        };
        let top = d.len() as u64;
        let bits = (64 - top.leading_zeros()).max(1);
        total += bits;
        out.push((bits, top));
    }
    (total <= 64).then_some(out)
}

/// One segment's groups: records in one exactly sized buffer, partition by partition.
struct SegmentGroups {
    buf: Vec<u8>,
    /// `PARTITIONS + 1` offsets: partition `p` is `buf[offsets[p]..offsets[p + 1]]`.
    offsets: Vec<usize>,
    records: Vec<u32>,
    col_counts: Vec<(KeyValue, u64)>,
}

impl SegmentGroups {
    fn part(&self, p: usize) -> &[u8] {
        &self.buf[self.offsets[p]..self.offsets[p + 1]]
    }
}

/// Selected rows a worker counts and encodes at a time, for a memory limit: a segment's
/// records are handed on a chunk at a time, so a worker's buffers (the sorted codes, the local
/// groups, their spans and records: about 150 bytes a row of a chunk at most) are bounded by
/// the budget, not by its segment's rows (a compacted segment may hold millions). A chunk
/// aggregates only its own rows, so smaller chunks hand on more records: at 10M events,
/// chunks of 2^16 rows made the unlimited high-cardinality pivot 20% slower than whole
/// segments of 525k rows, 2^17 rows 10%. So a chunk is about a 4096th of the limit (2^16 rows
/// at 256 MiB, 2^18 at 1 GiB), between 2^10 and 2^20 rows (the default limit, a quarter of the
/// memory, takes whole segments up to that; the tests' 64 KiB limit cuts their segments of
/// 4,000 rows into chunks).
fn chunk_rows(memory_limit: u64) -> usize {
    ((memory_limit / 4096) as usize).clamp(1 << 10, 1 << 20)
}

/// Count one segment and hand its groups to `emit`, encoded, a chunk of rows at a time.
fn segment(
    plan: &Plan,
    schema: &Schema,
    seg: &SegmentReader,
    with_col_counts: bool,
    chunk_rows: usize,
    emit: &mut dyn FnMut(SegmentGroups) -> Result<()>,
) -> Result<SegmentReport> {
    let (report, selected) = select_segment(plan, schema, seg)?;
    let Some(sel) = selected else {
        return Ok(report);
    };
    let cols = plan
        .keys
        .iter()
        .map(|k| key_ids(seg, &k.part, plan, &sel))
        .collect::<Result<Vec<_>>>()?;
    let rows = seg.meta().rows as usize;
    for c in &cols {
        if c.ids.len() < rows || c.lists.is_some() {
            return Err(Error::invalid("byte-key path: key column shape"));
        }
    }
    let bits = packing(&cols);
    // Each distinct value is encoded once per segment, whichever chunk meets it first.
    let mut enc = Encoded {
        arenas: vec![Vec::new(); cols.len()],
        memo: cols.iter().map(Memo::for_column).collect(),
    };
    let all_rows = sel.count() == rows as u64;
    let mut selected_rows = sel.iter();
    let mut chunk: Vec<u32> = Vec::new();
    let mut start = 0usize;
    loop {
        let local = if all_rows {
            if start >= rows {
                break;
            }
            let end = (start + chunk_rows).min(rows);
            let l = count_local(seg, &cols, bits.as_deref(), start..end)?;
            start = end;
            l
        } else {
            chunk.clear();
            chunk.extend(selected_rows.by_ref().take(chunk_rows).map(|r| r as u32));
            if chunk.is_empty() {
                break;
            }
            count_local(
                seg,
                &cols,
                bits.as_deref(),
                chunk.iter().map(|&r| r as usize),
            )?
        };
        emit(encode(plan, &cols, &mut enc, &local, with_col_counts)?)?;
    }
    Ok(report)
}

/// The groups of `rows` on their local ids, with their counts: packed into one integer when
/// every key is a dictionary column whose codes (and null) fit together in 64 bits, else as
/// an array of ids.
#[allow(clippy::type_complexity)]
fn count_local(
    seg: &SegmentReader,
    cols: &[IdColumn],
    bits: Option<&[(u32, u64)]>,
    rows: impl Iterator<Item = usize>,
) -> Result<Vec<([u64; WIDTH], u64)>> {
    let Some(bits) = bits else {
        let mut map: hashbrown::HashMap<[u64; WIDTH], u64, ahash::RandomState> =
            hashbrown::HashMap::default();
        for row in rows {
            let mut key = [0u64; WIDTH];
            for (k, c) in key.iter_mut().zip(cols) {
                *k = c.ids[row];
            }
            *map.entry(key).or_insert(0) += 1;
        }
        return Ok(map.into_iter().collect());
    };
    // Sorted, not hashed: the groups come out in code order (the first key part's dictionary
    // and encodings are then read front to back), and with about as many groups as rows a
    // hash table is a cache miss per row.
    let mut packed: Vec<u64> = Vec::with_capacity(rows.size_hint().0);
    let mut bad = None;
    for row in rows {
        let mut key = 0u64;
        for (c, &(b, top)) in cols.iter().zip(bits) {
            let id = c.ids[row];
            let l = if id == NULL_ID { top } else { id };
            if id != NULL_ID && id >= top {
                bad = Some((row, id));
            }
            key = (key << b) | l.min(top);
        }
        packed.push(key);
    }
    if let Some((row, id)) = bad {
        return Err(Error::corrupt(
            seg.path(),
            0,
            format!("row {row}: dictionary code {id} beyond its dictionary"),
        ));
    }
    packed.sort_unstable();
    Ok(packed
        .chunk_by(|a, b| a == b)
        .map(|run| (run[0], run.len() as u64))
        .map(|(mut key, n)| {
            let mut ids = [0u64; WIDTH];
            for (k, &(b, top)) in bits.iter().enumerate().rev() {
                let l = key & (u64::MAX >> (64 - b));
                key = key.checked_shr(b).unwrap_or(0);
                ids[k] = if l == top { NULL_ID } else { l };
            }
            (ids, n)
        })
        .collect())
}

/// A segment's encoded values: each part's arena and, by local id, where a value is in it.
struct Encoded {
    arenas: Vec<Vec<u8>>,
    memo: Vec<Memo>,
}

impl Encoded {
    /// The (offset, length, hash) of local id `id` of part `k`, encoded on first use (not
    /// through the column's decode cache: each value is encoded once here anyway).
    fn entry(&mut self, cols: &[IdColumn], plan: &Plan, k: usize, id: u64) -> (u32, u32, u64) {
        if let Some(e) = self.memo[k].get(id) {
            return e;
        }
        let a = &mut self.arenas[k];
        let off = a.len();
        cols[k].decoder.put_encoded(id, &plan.joins, a);
        let e = (
            off as u32,
            (a.len() - off) as u32,
            hasher().hash_one(&a[off..]),
        );
        self.memo[k].insert(id, e);
        e
    }
}

/// Encode a chunk's groups as records, partition by partition.
fn encode(
    plan: &Plan,
    cols: &[IdColumn],
    enc: &mut Encoded,
    local: &[([u64; WIDTH], u64)],
    with_col_counts: bool,
) -> Result<SegmentGroups> {
    let nk = cols.len();
    let h = hasher();
    let n_row = plan.n_row_keys.min(nk);
    let has_col = nk > n_row;
    let mut col_tot: hashbrown::HashMap<u64, u64, ahash::RandomState> = Default::default();
    let mut placed: Vec<(u32, u64)> = Vec::with_capacity(local.len());
    // Each group's (offset, length) per part, for pass 2 (kept in order: no second lookup).
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(local.len() * nk);
    let mut sizes = vec![0usize; PARTITIONS];
    let mut records = vec![0u32; PARTITIONS];
    // The dictionary values the groups use and the segment has not encoded yet, encoded first
    // and in code order: the dictionary is read front to back, not in the groups' order (a
    // hash table's, or sorted by the first key part only).
    for (k, c) in cols.iter().enumerate() {
        let Decoder::Dict(d) = &c.decoder else {
            continue;
        };
        let mut used = vec![0u64; d.len().div_ceil(64)];
        for (key, _) in local {
            if let Some(w) = used.get_mut((key[k] / 64) as usize) {
                *w |= 1 << (key[k] % 64);
            }
        }
        for code in crate::query::filter::set_bits(&used) {
            enc.entry(cols, plan, k, code as u64);
        }
    }
    // Pass 1: each group's encoded parts, partition and record length.
    for (key, n) in local.iter().map(|(k, n)| (k, *n)) {
        let mut ent = [(0u32, 0u32, 0u64); WIDTH];
        for k in 0..nk {
            ent[k] = enc.entry(cols, plan, k, key[k]);
            spans.push((ent[k].0, ent[k].1));
        }
        let mut hs = [0u64; WIDTH];
        for (d, e) in hs.iter_mut().zip(&ent[..n_row]) {
            *d = e.2;
        }
        let rh = h.hash_one(&hs[..n_row]);
        let p = partition_of(rh);
        let row_len: u32 = ent[..n_row].iter().map(|e| e.1).sum();
        let col_len = if has_col { ent[n_row].1 } else { 0 };
        let len = 8
            + varint_len(u64::from(row_len))
            + row_len as usize
            + varint_len(u64::from(col_len))
            + col_len as usize
            + varint_len(n);
        sizes[p] += len;
        records[p] += 1;
        placed.push((p as u32, rh));
        if has_col && with_col_counts {
            *col_tot.entry(key[n_row]).or_insert(0) += n;
        }
    }
    // Pass 2: write every record at its partition's cursor in one exactly sized buffer.
    let mut offsets = Vec::with_capacity(PARTITIONS + 1);
    let mut at = 0usize;
    for &sz in &sizes {
        offsets.push(at);
        at += sz;
    }
    offsets.push(at);
    let mut buf = vec![0u8; at];
    let mut cursor: Vec<usize> = offsets[..PARTITIONS].to_vec();
    let mut rec = Vec::with_capacity(256);
    let arenas = &enc.arenas;
    for (i, (&(_, n), &(p, rh))) in local.iter().zip(&placed).enumerate() {
        let ent = spans.get(i * nk..(i + 1) * nk).unwrap_or_default();
        rec.clear();
        rec.extend_from_slice(&rh.to_le_bytes());
        let row_len: u32 = ent[..n_row].iter().map(|e| e.1).sum();
        b::put_varint_u64(&mut rec, u64::from(row_len));
        for (k, e) in ent[..n_row].iter().enumerate() {
            rec.extend_from_slice(&arenas[k][e.0 as usize..(e.0 + e.1) as usize]);
        }
        if has_col {
            let e = ent[n_row];
            b::put_varint_u64(&mut rec, u64::from(e.1));
            rec.extend_from_slice(&arenas[n_row][e.0 as usize..(e.0 + e.1) as usize]);
        } else {
            b::put_varint_u64(&mut rec, 0);
        }
        b::put_varint_u64(&mut rec, n);
        let c = &mut cursor[p as usize];
        buf.get_mut(*c..*c + rec.len())
            .ok_or_else(|| Error::invalid("byte-key record larger than planned"))?
            .copy_from_slice(&rec);
        *c += rec.len();
    }
    let mut out = SegmentGroups {
        buf,
        offsets,
        records,
        col_counts: Vec::new(),
    };
    if has_col && with_col_counts {
        out.col_counts = col_tot
            .into_iter()
            .map(|(id, n)| (cols[n_row].decoder.decode(id, &plan.joins), n))
            .collect();
    }
    Ok(out)
}

/// Each distinct value's encoding in its part's arena: (offset, length, hash) by local id.
/// A dictionary column's codes index an array (a lookup is one memory access: as a hash
/// map these lookups were half of the query's samples, each a cache miss or two in a table
/// of hundreds of thousands of entries); other ids go through a hash map.
enum Memo {
    /// By dictionary code; null (and any code beyond the dictionary, which the packed
    /// path reports as corrupt) in `other`.
    Dense {
        slots: Vec<(u32, u32, u64)>,
        other: hashbrown::HashMap<u64, (u32, u32, u64), ahash::RandomState>,
    },
    Sparse(hashbrown::HashMap<u64, (u32, u32, u64), ahash::RandomState>),
}

/// An empty dense slot (no value is `u32::MAX` bytes long).
const UNSET: (u32, u32, u64) = (0, u32::MAX, 0);

impl Memo {
    fn for_column(c: &IdColumn) -> Memo {
        match &c.decoder {
            Decoder::Dict(d) => Memo::Dense {
                slots: vec![UNSET; d.len()],
                other: Default::default(),
            },
            _ => Memo::Sparse(Default::default()),
        }
    }

    fn get(&self, id: u64) -> Option<(u32, u32, u64)> {
        match self {
            Memo::Dense { slots, other } => match slots.get(id as usize) {
                Some(e) => Some(*e).filter(|e| e.1 != u32::MAX),
                None => other.get(&id).copied(),
            },
            Memo::Sparse(m) => m.get(&id).copied(),
        }
    }

    fn insert(&mut self, id: u64, e: (u32, u32, u64)) {
        match self {
            Memo::Dense { slots, other } => match slots.get_mut(id as usize) {
                Some(slot) => *slot = e,
                None => {
                    other.insert(id, e);
                }
            },
            Memo::Sparse(m) => {
                m.insert(id, e);
            }
        }
    }
}

/// The shortest record: row hash, three one-byte varints (lengths, count) and a one-byte key.
const MIN_RECORD_BYTES: usize = 11;

/// Bytes of the LEB128 varint of `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// One merged group of a partition.
struct Group<'a> {
    hash: u64,
    row_hash: u64,
    row: &'a [u8],
    col: &'a [u8],
    count: u64,
    row_index: u32,
}

/// Partial-aggregate records per destination partition, with their record counts.
pub(crate) type RawParts = Vec<(Vec<u8>, u64)>;

/// How a merged partition is handed on: rows cut to a partition's own top N, distinct counts
/// of the pairs path, or partial-aggregate records for `parts` partitions (a map step).
#[derive(Clone, Copy)]
struct Handoff<'a> {
    cut: Option<usize>,
    distinct: Option<&'a DistinctCounts>,
    raw_parts: Option<usize>,
}

/// What merging one partition hands on.
struct Merged {
    groups: Vec<(Vec<KeyValue>, Vec<AggState>)>,
    /// With `raw_parts`: the groups as partial-aggregate records, per destination partition
    /// (`query::partial`), instead of `groups`.
    raw: RawParts,
    distinct_groups: u64,
    distinct_rows: u64,
    bytes_read: u64,
}

/// Merge partition `p`: its spilled frames and its in-memory records.
fn merge_partition(
    plan: &Plan,
    spill: Option<&Spill>,
    mem: &[&[u8]],
    mem_records: u64,
    p: usize,
    how: &Handoff<'_>,
) -> Result<Merged> {
    let Handoff {
        cut,
        distinct,
        raw_parts,
    } = *how;
    let (frames, spilled_records, bytes_read) = match spill {
        Some(s) => s.read_raw(p)?,
        None => (Vec::new(), 0, 0),
    };
    // Sized for every record up front (no rehash while merging; groups are at most that).
    // The spilled count is read from disk: a record has at least 11 bytes, so no more than
    // the bytes allow are reserved.
    let bytes: usize =
        frames.iter().map(Vec::len).sum::<usize>() + mem.iter().map(|m| m.len()).sum::<usize>();
    let records = ((mem_records + spilled_records) as usize).min(bytes / MIN_RECORD_BYTES);
    let where_ = || match spill {
        Some(s) => s.path().join(format!("part-{p:03}.run")),
        None => std::path::PathBuf::from("(memory)"),
    };
    let h = hasher();
    let mut groups: Vec<Group<'_>> = Vec::with_capacity(records);
    let mut table: HashTable<u32> = HashTable::with_capacity(records);
    for frame in frames.iter().map(|f| &f[..]).chain(mem.iter().copied()) {
        let mut r = ByteReader::new(frame);
        while r.remaining() > 0 {
            let rec = (|| -> std::result::Result<_, DecodeError> {
                let rh = r.read_u64_le()?;
                let rl = r.read_varint_u64()? as usize;
                let row = r.read_bytes(rl)?;
                let cl = r.read_varint_u64()? as usize;
                let col = r.read_bytes(cl)?;
                let n = r.read_varint_u64()?;
                Ok((rh, row, col, n))
            })()
            .map_err(|e| Error::decode(where_(), 0, e))?;
            let (rh, row, col, n) = rec;
            let gh = if col.is_empty() {
                rh
            } else {
                rh ^ h.hash_one(col).rotate_left(17)
            };
            let found = table.find(gh, |&i| {
                let g = &groups[i as usize];
                g.hash == gh && g.row == row && g.col == col
            });
            match found {
                Some(&i) => groups[i as usize].count += n,
                None => {
                    let i = groups.len() as u32;
                    groups.push(Group {
                        hash: gh,
                        row_hash: rh,
                        row,
                        col,
                        count: n,
                        row_index: 0,
                    });
                    let gs = &groups;
                    table.insert_unique(gh, i, |&j| gs[j as usize].hash);
                }
            }
        }
    }
    drop(table);
    // Row totals (a row's columns are all in this partition).
    let mut rows: Vec<(u64, &[u8], u64)> = Vec::with_capacity(groups.len());
    let mut row_table: HashTable<u32> = HashTable::with_capacity(groups.len());
    for g in &mut groups {
        let found = row_table.find(g.row_hash, |&i| {
            let r = &rows[i as usize];
            r.0 == g.row_hash && r.1 == g.row
        });
        g.row_index = match found {
            Some(&i) => {
                rows[i as usize].2 += g.count;
                i
            }
            None => {
                let i = rows.len() as u32;
                rows.push((g.row_hash, g.row, g.count));
                let rs = &rows;
                row_table.insert_unique(g.row_hash, i, |&j| rs[j as usize].0);
                i
            }
        };
    }
    drop(row_table);
    // With distinct counts, a row's distinct values are its groups whose value is not null
    // (a joined key's unmatched label is a value), and it is ranked by its first value.
    let null = [0u8];
    let mut distinct_of = vec![0u64; if distinct.is_some() { rows.len() } else { 0 }];
    if let Some(d) = distinct {
        for g in &groups {
            if g.col != null {
                distinct_of[g.row_index as usize] += 1;
            }
        }
        if d.rank_by_distinct {
            for (r, &n) in rows.iter_mut().zip(&distinct_of) {
                r.2 = n;
            }
        }
    }
    let threshold = match cut {
        Some(top) if top > 0 && rows.len() > top => {
            let mut totals: Vec<u64> = rows.iter().map(|r| r.2).collect();
            let (_, nth, _) = totals.select_nth_unstable_by(top - 1, |a, b| b.cmp(a));
            *nth
        }
        _ => 0,
    };
    let n_row = plan.n_row_keys;
    let decode_row = |row: &[u8]| -> Result<Vec<KeyValue>> {
        let mut r = ByteReader::new(row);
        (0..n_row)
            .map(|_| get_key(&mut r))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::decode(where_(), 0, e))
    };
    // Rows at the threshold beyond what this partition's top N needs are cut here in the
    // builder's order (key order among equal totals): when most rows tie (every row one
    // event), the partition hands on at most N rows, not all of them.
    let mut cut_out = vec![false; rows.len()];
    if let Some(top) = cut.filter(|&t| t > 0 && threshold > 0) {
        let above = rows.iter().filter(|r| r.2 > threshold).count();
        let need = top.saturating_sub(above);
        let tied: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].2 == threshold)
            .collect();
        if tied.len() > need {
            let mut keyed = tied
                .into_iter()
                .map(|i| Ok((decode_row(rows[i].1)?, i)))
                .collect::<Result<Vec<_>>>()?;
            if need > 0 {
                keyed.select_nth_unstable_by(need - 1, |a, b| a.0.cmp(&b.0));
            }
            for (_, i) in keyed.iter().skip(need) {
                cut_out[*i] = true;
            }
        }
    }
    let states = 1 + plan.values.len();
    let mut out = Vec::new();
    if let Some(d) = distinct {
        // One group a row: its events and distinct values, in the original plan's states.
        let mut events = vec![0u64; rows.len()];
        for g in &groups {
            events[g.row_index as usize] += g.count;
        }
        for (ri, r) in rows.iter().enumerate() {
            if r.2 < threshold || cut_out[ri] {
                continue;
            }
            let mut st = vec![AggState::Count(events[ri])];
            st.extend(d.funcs.iter().map(|f| match f {
                AggFn::CountDistinct => AggState::Count(distinct_of[ri]),
                _ => AggState::Count(events[ri]),
            }));
            out.push((decode_row(r.1)?, st));
        }
        return Ok(Merged {
            groups: out,
            raw: Vec::new(),
            distinct_groups: rows.len() as u64,
            distinct_rows: rows.len() as u64,
            bytes_read,
        });
    }
    if let Some(parts) = raw_parts {
        // Partial-aggregate records as they are: the keys are already `put_key` encodings.
        let mut raw: RawParts = vec![(Vec::new(), 0); parts.max(1)];
        let nkeys = plan.keys.len() as u64;
        for g in &groups {
            let ri = g.row_index as usize;
            if rows[ri].2 < threshold || cut_out[ri] {
                continue;
            }
            let (buf, n) = &mut raw[crate::query::partial::partition_of_bytes(g.row, parts)];
            b::put_varint_u64(buf, nkeys);
            buf.extend_from_slice(g.row);
            buf.extend_from_slice(g.col);
            b::put_varint_u64(buf, states as u64);
            for _ in 0..states {
                b::put_u8(buf, 0);
                b::put_varint_u64(buf, g.count);
            }
            *n += 1;
        }
        return Ok(Merged {
            groups: Vec::new(),
            raw,
            distinct_groups: groups.len() as u64,
            distinct_rows: rows.len() as u64,
            bytes_read,
        });
    }
    for g in &groups {
        let ri = g.row_index as usize;
        if rows[ri].2 < threshold || cut_out[ri] {
            continue;
        }
        let decoded = (|| -> std::result::Result<Vec<KeyValue>, DecodeError> {
            let mut key = Vec::with_capacity(plan.keys.len());
            let mut r = ByteReader::new(g.row);
            for _ in 0..n_row {
                key.push(get_key(&mut r)?);
            }
            if !g.col.is_empty() {
                key.push(get_key(&mut ByteReader::new(g.col))?);
            }
            Ok(key)
        })()
        .map_err(|e| Error::decode(where_(), 0, e))?;
        out.push((decoded, vec![AggState::Count(g.count); states]));
    }
    Ok(Merged {
        groups: out,
        raw: Vec::new(),
        distinct_groups: groups.len() as u64,
        distinct_rows: rows.len() as u64,
        bytes_read,
    })
}

/// Run a count pivot on byte keys; the groups go to `sink` one partition at a time.
pub(crate) fn run_groups(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<(QueryStats, Option<u64>)> {
    run(plan, schema, segs, req, sink, None, None).map(|(st, n, _)| (st, n))
}

/// [`run_groups`] for a map step of `query::partial`: the groups as partial-aggregate records
/// in `parts` partitions (each `(records, count)`), never decoded; `sink` gets only the column
/// counts (with no groups).
pub(crate) fn run_partial(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
    parts: usize,
) -> Result<(QueryStats, RawParts)> {
    run(plan, schema, segs, req, sink, None, Some(parts)).map(|(st, _, raw)| (st, raw))
}

/// `count_distinct(V)` by row keys over many groups (Spark's rewrite): the pairs (row key,
/// value) are counted as a count pivot whose column key is `V`, partitioned by the row key as
/// always, so a partition holds every pair of its rows; a row's distinct count is its number
/// of pairs whose value is not null, and its events their sum. Nothing but the pairs is held
/// or spilled: no set per group.
pub(crate) struct DistinctCounts {
    /// The original plan's value functions (`count` or `count_distinct` of `V`).
    funcs: Vec<AggFn>,
    /// `--top` ranks by the first value: a distinct count when it is one.
    rank_by_distinct: bool,
}

/// The rewritten plan and its finish, when `plan` is row keys only (no column key, no
/// grouping sets) with `count` and `count_distinct` of one column `V` as values, and the row
/// keys plus `V` are keys the integer-key path takes (so this path does).
pub(crate) fn distinct_rewrite(
    plan: &Plan,
    schema: &Schema,
    req: &PivotRequest,
) -> Option<(Plan, DistinctCounts)> {
    if req.totals
        || req.cols_top.is_some()
        || !plan.grouping_sets.is_empty()
        || plan.keys.len() != plan.n_row_keys
        || plan.keys.is_empty()
    {
        return None;
    }
    let mut field: Option<&KeyPart> = None;
    for v in &plan.values {
        match (v.func, &v.field) {
            (AggFn::Count, None) => {}
            (AggFn::CountDistinct, Some(f)) => match field {
                None => field = Some(f),
                Some(g) if format!("{g:?}") == format!("{f:?}") => {}
                Some(_) => return None,
            },
            _ => return None,
        }
    }
    let field = field?;
    let mut keys = plan.keys.clone();
    keys.push(crate::query::plan::KeySpec {
        label: "(distinct value)".into(),
        part: field.clone(),
    });
    let rewritten = Plan {
        keys,
        values: Vec::new(),
        ..plan.clone()
    };
    if !crate::query::fast::eligible(&rewritten, schema) {
        return None;
    }
    let funcs: Vec<AggFn> = plan.values.iter().map(|v| v.func).collect();
    let rank_by_distinct = funcs.first() == Some(&AggFn::CountDistinct);
    Some((
        rewritten,
        DistinctCounts {
            funcs,
            rank_by_distinct,
        },
    ))
}

/// Run [`distinct_rewrite`]'s plan; the groups handed to `sink` are the original plan's.
pub(crate) fn run_distinct(
    rewritten: &Plan,
    d: &DistinctCounts,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<(QueryStats, Option<u64>)> {
    run(rewritten, schema, segs, req, sink, Some(d), None).map(|(st, n, _)| (st, n))
}

fn run(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
    distinct: Option<&DistinctCounts>,
    raw_parts: Option<usize>,
) -> Result<(QueryStats, Option<u64>, RawParts)> {
    let mut stats = QueryStats {
        segments: segs.len() as u64,
        ..QueryStats::default()
    };
    // A quarter of the limit for the partition buffers: the rest is the chunks in flight
    // (local counts and their records: one per worker, and the one being taken in), each
    // worker's segment (decoded key columns and dictionaries, encoded values), the merge and
    // the allocator's slack. At 10M events and 256 MiB, after an unlimited pivot in the same
    // notebook process, a third (and chunks of 2^17 rows) peaked at 341-367 MiB, a quarter
    // (and 2^16) at 283-285 MiB.
    let budget = (req.memory_limit as usize / 4).max(1 << 10);
    // Segments' records held in memory (not yet spilled), and their bytes.
    let mut held: Vec<SegmentGroups> = Vec::new();
    let mut held_bytes = 0usize;
    let mut spill: Option<Spill> = None;
    let mut col_counts = ColCounts::default();
    let chunk = chunk_rows(req.memory_limit);
    let work = |seg: &SegmentReader, emit: &mut dyn FnMut(SegmentGroups) -> Result<()>| {
        segment(plan, schema, seg, distinct.is_none(), chunk, emit)
    };
    // A chunk's records are megabytes: none wait in the channel, so in flight are only those
    // being built (one per worker) and the one being taken in.
    scan_segments_queued(segs, req.threads, 0, &work, &mut |msg| {
        match msg {
            Scanned::Item(mut g) => {
                if req.cancel.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                for (k, n) in std::mem::take(&mut g.col_counts) {
                    *col_counts.entry(k).or_insert(0) += n;
                }
                held_bytes += g.buf.len();
                held.push(g);
                if held_bytes > budget {
                    let sp = match spill.as_mut() {
                        Some(s) => s,
                        None => spill.insert(Spill::new(
                            &resolve_spill_dir(req.spill_dir.as_ref()),
                            plan.n_row_keys,
                            req.max_spill,
                        )?),
                    };
                    let mut frame = Vec::new();
                    for p in 0..PARTITIONS {
                        frame.clear();
                        let mut n = 0u32;
                        for g in &held {
                            frame.extend_from_slice(g.part(p));
                            n += g.records[p];
                        }
                        if n > 0 {
                            sp.write_raw(p, &frame, n)?;
                        }
                    }
                    sp.end_run();
                    held.clear();
                    held_bytes = 0;
                }
            }
            Scanned::Done(r) => stats.add_segment(&r),
        }
        Ok(())
    })?;
    // Merge the partitions on the worker threads; hand each to the sink on this thread.
    let cut = match (req.top, &req.sort, req.totals) {
        (Some(top), SortBy::Total, false) => Some(top),
        _ => None,
    };
    let threads = req.threads.clamp(1, PARTITIONS);
    let mut raw: RawParts = vec![(Vec::new(), 0); raw_parts.unwrap_or(0)];
    let how = Handoff {
        cut,
        distinct,
        raw_parts,
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = crossbeam_channel::bounded::<Result<Merged>>(threads);
    let mut distinct_rows = 0u64;
    let spill_ref = spill.as_ref();
    let held_ref = &held;
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..threads {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let p = next.fetch_add(1, Ordering::Relaxed);
                if p >= PARTITIONS || req.cancel.is_cancelled() {
                    break;
                }
                let mem: Vec<&[u8]> = held_ref.iter().map(|g| g.part(p)).collect();
                let n: u64 = held_ref.iter().map(|g| u64::from(g.records[p])).sum();
                let r = merge_partition(plan, spill_ref, &mem, n, p, &how);
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    break;
                }
            });
        }
        drop(tx);
        for r in rx {
            let m = r?;
            stats.groups += m.distinct_groups;
            stats.spill_bytes_read += m.bytes_read;
            distinct_rows += m.distinct_rows;
            for (acc, (buf, n)) in raw.iter_mut().zip(m.raw) {
                acc.0.extend_from_slice(&buf);
                acc.1 += n;
            }
            if !m.groups.is_empty() {
                sink(&col_counts, &mut m.groups.into_iter());
            }
        }
        Ok(())
    })?;
    if req.cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }
    if let Some(sp) = &spill {
        stats.spill_runs = sp.runs;
        stats.spill_bytes_written = sp.bytes_written;
        stats.spill_dir = Some(sp.path().display().to_string());
    }
    if raw_parts.is_some() {
        // The column counts for the map step (its groups went to `raw`).
        sink(&col_counts, &mut std::iter::empty());
    }
    Ok((stats, cut.map(|_| distinct_rows), raw))
}
