//! Serializes a finished `SegmentBuilder` into segment bytes (docs/FORMAT.md).
//!
//! Call order, which is also the file order: header magic; for each column (sorted by name) its
//! dictionary (string columns), its blocks, then its index if it has one (the value index
//! of an indexed column, the minute index of `_time`: the directory region, then the bitmap
//! chunks); the metadata; the trailer.
//! The result is a byte vector; writing it to disk is the caller's business (`io`).

use crate::codec::strings;
use crate::index;

use super::block::{encode_block_ref, encode_plain_block, encode_sparse_block, Values, ValuesRef};
use super::builder::{ColumnBuilder, ColumnData};
use super::footer::{encode_meta, encode_trailer, BlockMeta, ColumnMeta, IndexKind, IndexMeta};
use super::footer::{IndexChunk, Region, SegmentMeta};

/// Target raw size of an index chunk: a lookup decompresses one chunk of about this size
/// instead of the whole index (which is about 2 MB for a 400k-row segment's rule index).
pub const INDEX_CHUNK_BYTES: u64 = 64 * 1024;

/// Least zstd level of index regions.
const INDEX_LEVEL: i32 = 3;
use super::TRAILER_MAGIC;
use super::{BlockCompression, ColumnType, BLOCK_ROWS, FORMAT_VERSION, HEADER_MAGIC, TIME_COLUMN};

/// Knobs of the segment writer.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// zstd level for blocks and dictionaries.
    pub zstd_level: i32,
    /// Columns that get a value (rule-ID) index.
    pub index_columns: Vec<String>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd_level: 1,
            index_columns: vec!["RuleID".to_string()],
        }
    }
}

/// A serialized segment and its metadata.
pub struct EncodedSegment {
    pub bytes: Vec<u8>,
    pub meta: SegmentMeta,
}

struct Out {
    bytes: Vec<u8>,
    level: i32,
}

impl Out {
    /// Append a region compressed at `level` (index chunks: read often, written once, and a
    /// small part of the bytes, so a stronger level costs little).
    fn region_at(&mut self, raw: &[u8], level: i32) -> Region {
        let saved = self.level;
        self.level = level;
        let r = self.region(raw, true);
        self.level = saved;
        r
    }

    /// Append a region, compressed when that saves at least 1/16 of its size.
    fn region(&mut self, raw: &[u8], allow_zstd: bool) -> Region {
        let offset = self.bytes.len() as u64;
        let compressed = if allow_zstd && raw.len() > 64 {
            crate::codec::zst::compress(raw, self.level)
                .ok()
                .filter(|c| c.len() + raw.len() / 16 < raw.len())
        } else {
            None
        };
        let (stored, compression): (&[u8], _) = match &compressed {
            Some(c) => (c, BlockCompression::Zstd),
            None => (raw, BlockCompression::None),
        };
        self.bytes.extend_from_slice(stored);
        Region {
            offset,
            len: stored.len() as u64,
            raw_len: raw.len() as u64,
            compression: compression as u8,
            crc: crc32fast::hash(stored),
        }
    }
}

/// Serialize `columns` (sorted by name, as `SegmentBuilder::finish` hands them over; each is
/// padded to `rows` as it is written) into a segment.
pub fn encode_segment(
    rows: usize,
    columns: Vec<(String, ColumnBuilder)>,
    opts: &WriteOptions,
) -> EncodedSegment {
    let mut out = Out {
        bytes: Vec::with_capacity(rows * 64),
        level: opts.zstd_level,
    };
    out.bytes.extend_from_slice(HEADER_MAGIC);
    let mut meta = SegmentMeta {
        rows: rows as u64,
        ..SegmentMeta::default()
    };
    let twin = time_twin(&columns);
    let mut shared: Option<Vec<BlockMeta>> = None;
    for (name, mut col) in columns {
        // Padded here, one column at a time (the builder holds a late or sparse key's rows
        // only from its first value on).
        col.materialize(rows);
        let in_pair =
            twin.as_deref() == Some(name.as_str()) || (twin.is_some() && name == TIME_COLUMN);
        let reuse = if in_pair { shared.clone() } else { None };
        let (cmeta, idx) = encode_column(&mut out, &name, col, opts, reuse);
        if in_pair && shared.is_none() {
            shared = Some(cmeta.blocks.clone());
        }
        if let Some(i) = idx {
            meta.indexes.push(i);
        }
        if name == TIME_COLUMN && cmeta.ty == ColumnType::Time {
            meta.null_time = cmeta.null_count;
            let valid: Vec<&BlockMeta> = cmeta
                .blocks
                .iter()
                .filter(|b| b.null_count < b.rows)
                .collect();
            meta.min_time = valid.iter().map(|b| b.min).min();
            meta.max_time = valid.iter().map(|b| b.max).max();
        }
        meta.columns.push(cmeta);
    }
    if meta.column(TIME_COLUMN).is_none() {
        meta.null_time = rows as u64;
    }
    let mut meta_bytes = Vec::new();
    encode_meta(&meta, &mut meta_bytes);
    out.bytes.extend_from_slice(&meta_bytes);
    encode_trailer(&meta_bytes, FORMAT_VERSION, TRAILER_MAGIC, &mut out.bytes);
    EncodedSegment {
        bytes: out.bytes,
        meta,
    }
}

/// The null count of rows `start..end` and, when it is not zero, their validity (one bool per
/// row, as `encode_block` takes it).
fn block_validity(col: &ColumnBuilder, start: usize, end: usize) -> (u32, Option<Vec<bool>>) {
    if col.nulls == 0 {
        // Most columns of most logs: no row to test.
        return (0, None);
    }
    let nulls = null_count(col, start, end);
    if nulls == 0 {
        return (0, None);
    }
    let words = &col.valid;
    let validity = (start..end)
        .map(|i| words.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1))
        .collect();
    (nulls as u32, Some(validity))
}

/// Null rows among `start..end` (`start` a multiple of 64, as block starts are), by popcount.
fn null_count(col: &ColumnBuilder, start: usize, end: usize) -> usize {
    let valid: usize = valid_words(col, start, end)
        .map(|(_, word)| word.count_ones() as usize)
        .sum();
    (end - start) - valid
}

/// The validity words of rows `start..end` (`start` a multiple of 64) with their index, the
/// bits past `end` cleared.
fn valid_words(
    col: &ColumnBuilder,
    start: usize,
    end: usize,
) -> impl Iterator<Item = (usize, u64)> + '_ {
    debug_assert!(start.is_multiple_of(64));
    (start / 64..end.div_ceil(64)).map(move |w| {
        let word = col.valid.get(w).copied().unwrap_or(0);
        if (w + 1) * 64 > end {
            (w, word & ((1u64 << (end % 64)) - 1))
        } else {
            (w, word)
        }
    })
}

/// The int64 column whose values (and nulls) equal `_time` row for row, if any: Cloudflare's
/// unixnano `Datetime` is the event time itself. The two columns then share their block
/// regions, so the time is stored once.
fn time_twin(columns: &[(String, ColumnBuilder)]) -> Option<String> {
    let (_, t) = columns.iter().find(|(n, _)| n == TIME_COLUMN)?;
    let ColumnData::Time(tv) = &t.data else {
        return None;
    };
    columns.iter().find_map(|(n, c)| {
        let ColumnData::Int(v) = &c.data else {
            return None;
        };
        let same = c.nulls == t.nulls
            && c.base == t.base
            && c.len == t.len
            && v.len() == tv.len()
            && c.valid == t.valid
            && v.iter()
                .zip(tv)
                .enumerate()
                .all(|(i, (a, b))| a == b || !t.is_valid(t.base + i));
        same.then(|| n.clone())
    })
}

/// Encode one column; with `reuse`, point its blocks at already written regions of a column
/// holding the same values instead of writing them again.
fn encode_column(
    out: &mut Out,
    name: &str,
    mut col: ColumnBuilder,
    opts: &WriteOptions,
    reuse: Option<Vec<BlockMeta>>,
) -> (ColumnMeta, Option<IndexMeta>) {
    let ty = col.column_type();
    let mut cmeta = ColumnMeta {
        name: name.to_string(),
        ty,
        flags: col.flags,
        null_count: col.nulls as u64,
        cardinality: 0,
        dict: None,
        blocks: Vec::new(),
    };
    col.intern_pending();
    col.drop_unused_strings();
    if opts.index_columns.iter().any(|c| c == name) {
        // A value index is keyed by dictionary codes.
        col.plain_to_dictionary();
    }
    let data = std::mem::replace(&mut col.data, ColumnData::Empty);
    let len = col.len;
    let values = match data {
        ColumnData::Plain(p) => {
            cmeta.flags |= super::flags::PLAIN;
            // No dictionary: an upper bound of the distinct count (the non-null rows).
            cmeta.cardinality = (len - col.nulls) as u64;
            let mut start = 0;
            while start < len {
                let end = (start + BLOCK_ROWS).min(len);
                let (null_count, validity) = block_validity(&col, start, end);
                let items: Vec<&[u8]> = (start..end).map(|i| p.get(i)).collect();
                let bytes: usize = items.iter().map(|s| s.len()).sum();
                let mut raw = Vec::with_capacity(bytes + 64);
                encode_plain_block(&items, validity.as_deref(), &mut raw);
                cmeta.blocks.push(BlockMeta {
                    region: out.region(&raw, true),
                    rows: (end - start) as u32,
                    null_count,
                    min: 0,
                    max: 0,
                });
                start = end;
            }
            return (cmeta, None);
        }
        ColumnData::Empty => {
            let (d, _) = crate::segment::builder::Interner::default().into_sorted();
            cmeta.dict = Some(encode_dict(out, &d, false));
            Values::Codes(vec![0; len])
        }
        ColumnData::Str { codes, dict, .. } => {
            let (sorted, remap) = dict.into_sorted();
            let mut codes = codes.remap(&remap);
            if col.nulls > 0 {
                // Null rows hold code 0 (their placeholder may be any code).
                for (w, rows) in codes.chunks_mut(64).enumerate() {
                    let word = col.valid.get(w).copied().unwrap_or(0);
                    if word != u64::MAX {
                        for (j, c) in rows.iter_mut().enumerate() {
                            // Branch-free: most null-heavy columns alternate unpredictably.
                            *c &= 0u32.wrapping_sub(((word >> j) & 1) as u32);
                        }
                    }
                }
            }
            cmeta.cardinality = sorted.len() as u64;
            // An indexed column's dictionary is read by every filter on it (to find the
            // codes the index is keyed by): stored uncompressed, like the index directory.
            let raw = opts.index_columns.iter().any(|c| c == name);
            cmeta.dict = Some(encode_dict(out, &sorted, raw));
            Values::Codes(codes)
        }
        ColumnData::Bool(v) => Values::Bool(v),
        ColumnData::Int(v) | ColumnData::Time(v) => Values::Int(v),
        ColumnData::Float(v) => Values::Float(v),
    };
    match reuse {
        Some(blocks) => cmeta.blocks = blocks,
        None => {
            let mut start = 0;
            while start < len {
                let end = (start + BLOCK_ROWS).min(len);
                cmeta
                    .blocks
                    .push(encode_one_block(out, &col, &values, start, end));
                start = end;
            }
        }
    }
    let index = build_index(out, name, &col, &values, ty, opts, cmeta.cardinality);
    (cmeta, index)
}

fn encode_dict(
    out: &mut Out,
    sorted: &crate::segment::builder::SortedStrings,
    uncompressed: bool,
) -> Region {
    // Level 1 like the blocks: on sorted strings level 3 compressed no better (1M loggen
    // events: 41.42 MB of segments at level 1, 41.54 MB at 3) for 3.5% more ingest CPU.
    let items: Vec<&[u8]> = sorted.items();
    let mut raw = Vec::new();
    strings::encode_dict(&items, &mut raw);
    if uncompressed {
        out.region(&raw, false)
    } else {
        out.region_at(&raw, out.level.max(1))
    }
}

/// Least and greatest value of the valid rows (floats as their bits), or (0, 0) when none.
fn min_max(values: ValuesRef<'_>, validity: Option<&[bool]>) -> (i64, i64) {
    let (lo, hi) = match values {
        ValuesRef::Bool(v) => {
            let (a, b) = extremes(v, validity, true, false);
            (i64::from(a), i64::from(b))
        }
        ValuesRef::Int(v) => extremes(v, validity, i64::MAX, i64::MIN),
        ValuesRef::Codes(v) => {
            let (a, b) = extremes(v, validity, u32::MAX, 0);
            (i64::from(a), i64::from(b))
        }
        ValuesRef::Float(v) => {
            let valid = v
                .iter()
                .enumerate()
                .filter(|(i, _)| validity.is_none_or(|ok| ok[*i]));
            let (lo, hi) = valid.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, &x)| {
                (lo.min(x), hi.max(x))
            });
            return (lo.to_bits() as i64, hi.to_bits() as i64);
        }
    };
    // No valid row leaves (top, bottom), which this turns into (0, 0).
    if lo > hi {
        (0, 0)
    } else {
        (lo, hi)
    }
}

/// Least and greatest of the valid values, or (`top`, `bottom`) when there is none. Without
/// nulls a plain fold over the slice (which the compiler vectorizes); with them each null row's
/// value is replaced by a neutral one, with no branch per row.
fn extremes<T: Copy + Ord>(v: &[T], validity: Option<&[bool]>, top: T, bottom: T) -> (T, T) {
    match validity {
        None => (
            v.iter().copied().min().unwrap_or(top),
            v.iter().copied().max().unwrap_or(bottom),
        ),
        Some(ok) => v.iter().zip(ok).fold((top, bottom), |(lo, hi), (&x, &ok)| {
            (
                lo.min(if ok { x } else { top }),
                hi.max(if ok { x } else { bottom }),
            )
        }),
    }
}

/// A block with at most 1/`SPARSE_RATIO` of its rows holding a value is written sparse: the
/// positions and values of those rows only, instead of a validity map and a placeholder per
/// null row (a Windows event field, an HTTP header present in a few requests).
const SPARSE_RATIO: usize = 8;

fn encode_one_block(
    out: &mut Out,
    col: &ColumnBuilder,
    values: &Values,
    start: usize,
    end: usize,
) -> BlockMeta {
    if col.nulls > 0 {
        let nulls = null_count(col, start, end);
        if (end - start - nulls) * SPARSE_RATIO <= end - start {
            return encode_sparse(out, col, values, start, end, nulls);
        }
    }
    let (null_count, validity) = block_validity(col, start, end);
    let part = values.slice(start, end);
    let (min, max) = min_max(part, validity.as_deref());
    let mut raw = Vec::new();
    encode_block_ref(part, validity.as_deref(), &mut raw);
    BlockMeta {
        region: out.region(&raw, true),
        rows: (end - start) as u32,
        null_count,
        min,
        max,
    }
}

/// Rows `start..end` of a mostly-null column as a sparse block.
fn encode_sparse(
    out: &mut Out,
    col: &ColumnBuilder,
    values: &Values,
    start: usize,
    end: usize,
    nulls: usize,
) -> BlockMeta {
    let positions = present_rows(col, start, end);
    fn pick<T: Copy + Default>(v: &[T], positions: &[u32]) -> Vec<T> {
        positions
            .iter()
            .map(|&p| v.get(p as usize).copied().unwrap_or_default())
            .collect()
    }
    let present = match values.slice(start, end) {
        ValuesRef::Bool(v) => Values::Bool(pick(v, &positions)),
        ValuesRef::Int(v) => Values::Int(pick(v, &positions)),
        ValuesRef::Float(v) => Values::Float(pick(v, &positions)),
        ValuesRef::Codes(v) => Values::Codes(pick(v, &positions)),
    };
    let (min, max) = min_max(present.slice(0, present.len()), None);
    let mut raw = Vec::new();
    encode_sparse_block(&present, &positions, &mut raw);
    BlockMeta {
        region: out.region(&raw, true),
        rows: (end - start) as u32,
        null_count: nulls as u32,
        min,
        max,
    }
}

/// The offsets within `start..end` of the rows that have a value (`start` a multiple of 64).
fn present_rows(col: &ColumnBuilder, start: usize, end: usize) -> Vec<u32> {
    let mut rows = Vec::new();
    for (w, mut word) in valid_words(col, start, end) {
        while word != 0 {
            rows.push((w * 64 + word.trailing_zeros() as usize - start) as u32);
            word &= word - 1;
        }
    }
    rows
}

fn build_index(
    out: &mut Out,
    name: &str,
    col: &ColumnBuilder,
    values: &Values,
    ty: ColumnType,
    opts: &WriteOptions,
    cardinality: u64,
) -> Option<IndexMeta> {
    let valid = |i: usize| col.is_valid(i);
    let mut blob = Vec::new();
    let kind = if name == TIME_COLUMN && ty == ColumnType::Time {
        let Values::Int(v) = values else { return None };
        let minutes: Vec<i64> = v.iter().map(|&t| index::minute_of(t)).collect();
        let (keys, maps) = index::bitmaps_by_value(&minutes, valid);
        index::encode_keyed(&keys, &maps, true, &mut blob);
        IndexKind::TimeMinutes
    } else if opts.index_columns.iter().any(|c| c == name) {
        match values {
            Values::Codes(codes) => {
                let maps = index::bitmaps_by_code(codes, valid, cardinality as usize);
                index::encode_dense(&maps, &mut blob);
            }
            Values::Int(v) => {
                let (keys, maps) = index::bitmaps_by_value(v, valid);
                index::encode_keyed(&keys, &maps, false, &mut blob);
            }
            _ => return None,
        }
        IndexKind::Values
    } else {
        return None;
    };
    // The blob was just built by `index::encode_*`; should it not parse, the segment is
    // written without this index and queries scan the column instead.
    let Ok(kb) = index::KeyedBitmaps::parse(&blob) else {
        debug_assert!(false, "freshly encoded index does not parse");
        return None;
    };
    let (dir, dir_len, area) = kb.into_parts();
    let level = out.level.max(INDEX_LEVEL);
    // The directory is read by every lookup in this index (and a query reads it once per
    // segment): stored uncompressed, it costs a crc32 instead of a zstd frame (a 24 KB rule
    // index directory per 500k rows; the single-rule query over 10M events 17% faster, for
    // 0.7 MB more on disk).
    let region = out.region(&blob[..dir_len], false);
    let starts = index::chunk_starts(&dir, INDEX_CHUNK_BYTES);
    let mut chunks = Vec::with_capacity(starts.len());
    for (k, &first) in starts.iter().enumerate() {
        let (a, _) = dir.bounds(first);
        let b = match starts.get(k + 1) {
            Some(&next) => dir.bounds(next).0,
            None => dir.area_len(),
        };
        chunks.push(IndexChunk {
            first: first as u64,
            region: out.region_at(&area[a as usize..b as usize], level),
        });
    }
    Some(IndexMeta {
        column: name.to_string(),
        kind,
        region,
        chunks,
        chunked: true,
    })
}
