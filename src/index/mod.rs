//! Bitmap indexes: a roaring bitmap of row numbers per key, laid out for random access.
//!
//! Two indexes use the same blob ("keyed bitmaps"):
//! - the **value index** (rule IDs): one bitmap per distinct value of a column; for a string
//!   column the keys are its dictionary codes (implicit 0..n), for an int column the sorted
//!   distinct values;
//! - the **time index**: one bitmap per minute of event time (key = minutes since the epoch),
//!   so a time range selects rows without decoding the time column.
//!
//! ```text
//! u8  key kind       0 = dense (keys are 0..n), 1 = sorted i64 keys
//! varint n           number of keys / bitmaps
//! [keys]             kind 1 and 2: codec::ints encoding of the n sorted keys
//! u64 x (n+1)        little-endian offsets of each bitmap, relative to the bitmap area
//! [ranges]           kind 2 only: per bitmap u32 min row, u32 max row, u32 cardinality (LE);
//!                    an empty bitmap has 0, 0, 0
//! bitmap area        roaring bitmaps in the portable serialization format
//! ```
//! Format v1 stores that blob as one region. Format v2 stores the directory (everything before
//! the bitmap area) as one region and the area as chunks of whole bitmaps ([`chunk_starts`]),
//! each its own compressed region, so a lookup decompresses the directory and one chunk.
//! Pure: builds and reads bytes, never touches files. Must not: know about segments or queries.

use roaring::RoaringBitmap;

use crate::codec::bytes::ByteReader;
use crate::codec::{ints, DecodeError};

/// Key kind: keys are 0..n (dictionary codes).
const DENSE: u8 = 0;
/// Key kind: explicit sorted i64 keys.
const KEYED: u8 = 1;
/// Key kind: explicit sorted i64 keys, and after the offsets each bitmap's row range and
/// cardinality (format v2's time index).
const KEYED_RANGES: u8 = 2;

/// Nanoseconds in a minute: the time index's bucket width.
pub const MINUTE_NS: i64 = 60_000_000_000;

/// The time-index key (minute number, floor) of a timestamp.
pub fn minute_of(ns: i64) -> i64 {
    ns.div_euclid(MINUTE_NS)
}

/// Build one bitmap per dictionary code from a block-concatenated code vector; rows whose
/// `valid` is false are left out.
pub fn bitmaps_by_code(
    codes: &[u32],
    valid: impl Fn(usize) -> bool,
    n_codes: usize,
) -> Vec<RoaringBitmap> {
    // A counting sort of the rows by code (each code's rows stay in increasing order), then
    // each bitmap built from its sorted rows in one go: no per-row search of a bitmap.
    let mut starts = vec![0usize; n_codes + 1];
    for (row, &c) in codes.iter().enumerate() {
        if (c as usize) < n_codes && valid(row) {
            starts[c as usize + 1] += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut rows = vec![0u32; starts[n_codes]];
    for (row, &c) in codes.iter().enumerate() {
        if (c as usize) < n_codes && valid(row) {
            let at = &mut next[c as usize];
            rows[*at] = row as u32;
            *at += 1;
        }
    }
    starts
        .windows(2)
        .map(|w| {
            let part = &rows[w[0]..w[1]];
            let mut m = RoaringBitmap::from_sorted_iter(part.iter().copied())
                .unwrap_or_else(|_| part.iter().copied().collect());
            m.optimize();
            m
        })
        .collect()
}

/// Build one bitmap per distinct value; returns the sorted keys and their bitmaps.
pub fn bitmaps_by_value(
    values: &[i64],
    valid: impl Fn(usize) -> bool,
) -> (Vec<i64>, Vec<RoaringBitmap>) {
    let mut pairs: Vec<(i64, u32)> = values
        .iter()
        .enumerate()
        .filter(|(row, _)| valid(*row))
        .map(|(row, &v)| (v, row as u32))
        .collect();
    pairs.sort_unstable();
    let mut keys = Vec::new();
    let mut maps: Vec<RoaringBitmap> = Vec::new();
    // Runs of consecutive rows under one key go in as ranges: when events arrive in time order
    // a minute's rows are one run, added at once instead of row by row.
    let mut i = 0;
    while let Some(&(k, first)) = pairs.get(i) {
        let mut last = first;
        i += 1;
        while let Some(&(k2, r)) = pairs.get(i) {
            if k2 != k || Some(r) != last.checked_add(1) {
                break;
            }
            last = r;
            i += 1;
        }
        if keys.last() != Some(&k) {
            keys.push(k);
            maps.push(RoaringBitmap::new());
        }
        if let Some(m) = maps.last_mut() {
            m.insert_range(first..=last);
        }
    }
    for m in &mut maps {
        m.optimize();
    }
    (keys, maps)
}

/// Serialize bitmaps with dense keys 0..n.
pub fn encode_dense(maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    out.push(DENSE);
    crate::codec::bytes::put_varint_u64(out, maps.len() as u64);
    put_bitmaps(maps, out);
}

/// Serialize bitmaps under sorted i64 keys; with `ranges`, the directory also holds each
/// bitmap's row range and cardinality, so a count or a range test needs no bitmap.
pub fn encode_keyed(keys: &[i64], maps: &[RoaringBitmap], ranges: bool, out: &mut Vec<u8>) {
    debug_assert_eq!(keys.len(), maps.len());
    out.push(if ranges { KEYED_RANGES } else { KEYED });
    crate::codec::bytes::put_varint_u64(out, keys.len() as u64);
    ints::encode_i64(keys, out);
    put_offsets(maps, out);
    if ranges {
        for m in maps {
            let (lo, hi) = (m.min().unwrap_or(0), m.max().unwrap_or(0));
            out.extend_from_slice(&lo.to_le_bytes());
            out.extend_from_slice(&hi.to_le_bytes());
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
        }
    }
    put_area(maps, out);
}

fn put_bitmaps(maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    put_offsets(maps, out);
    put_area(maps, out);
}

fn put_offsets(maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    let mut off = 0u64;
    out.extend_from_slice(&off.to_le_bytes());
    for m in maps {
        off += m.serialized_size() as u64;
        out.extend_from_slice(&off.to_le_bytes());
    }
}

fn put_area(maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    for m in maps {
        // Writing into a Vec cannot fail.
        let _ = m.serialize_into(&mut *out);
    }
}

/// The directory of a keyed-bitmaps blob: its keys and the offsets of its bitmaps, without
/// the bitmaps themselves. Format v2 stores the directory and the bitmap area apart (the area
/// cut into chunks, see [`chunk_starts`]), so a lookup reads the directory and one chunk.
#[derive(Clone, Debug)]
pub struct Directory {
    keys: Option<Vec<i64>>,
    /// n + 1 offsets into the bitmap area, non-decreasing, starting at 0.
    offsets: Vec<u64>,
    /// Kind 2: per bitmap its min row, max row and cardinality.
    ranges: Option<Vec<RowRange>>,
    /// [`Directory::ordered_runs`], worked out on first use.
    runs: std::sync::OnceLock<Option<Vec<u32>>>,
}

/// A bitmap's smallest and largest row and its number of rows (kind 2 directories).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRange {
    pub min: u32,
    pub max: u32,
    pub len: u32,
}

impl RowRange {
    /// True when the bitmap holds every row from `min` to `max`.
    pub fn is_dense(&self) -> bool {
        self.len > 0 && u64::from(self.max - self.min) + 1 == u64::from(self.len)
    }
}

impl Directory {
    /// Parse the directory at the start of `data`; returns it and its length in bytes (where
    /// the bitmap area begins in a whole blob). Offsets are checked to be non-decreasing and
    /// to start at 0; that the area is as long as the last offset is the caller's check.
    pub fn parse(data: &[u8]) -> Result<(Directory, usize), DecodeError> {
        let mut r = ByteReader::new(data);
        let kind = r.read_u8()?;
        let n = r.read_varint_u64()?;
        if n > data.len() as u64 {
            return Err(DecodeError::Invalid {
                offset: 1,
                what: "index key count larger than the index",
            });
        }
        let n = n as usize;
        let keys = match kind {
            DENSE => None,
            KEYED | KEYED_RANGES => {
                let mut keys = Vec::with_capacity(n);
                let used = ints::decode_i64(&data[r.pos()..], n, &mut keys)?;
                r.read_bytes(used)?;
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(DecodeError::Invalid {
                        offset: r.pos(),
                        what: "index keys not strictly increasing",
                    });
                }
                Some(keys)
            }
            id => {
                return Err(DecodeError::UnknownCodec {
                    offset: 0,
                    kind: "index key kind",
                    id,
                })
            }
        };
        let at = r.pos();
        let raw = r.read_bytes((n + 1) * 8)?;
        let offsets: Vec<u64> = raw
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect();
        if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "index offsets out of order",
            });
        }
        let ranges = if kind == KEYED_RANGES {
            let at = r.pos();
            let raw = r.read_bytes(n * 12)?;
            let u = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let ranges: Vec<RowRange> = raw
                .chunks_exact(12)
                .map(|b| RowRange {
                    min: u(&b[0..4]),
                    max: u(&b[4..8]),
                    len: u(&b[8..12]),
                })
                .collect();
            let bad = ranges.iter().any(|g| {
                g.min > g.max
                    || (g.len == 0 && g.max != 0)
                    || u64::from(g.max - g.min) + 1 < u64::from(g.len)
            });
            if bad {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "index row range inconsistent",
                });
            }
            Some(ranges)
        } else {
            None
        };
        Ok((
            Directory {
                keys,
                offsets,
                ranges,
                runs: std::sync::OnceLock::new(),
            },
            r.pos(),
        ))
    }

    /// The row range and cardinality of bitmap `i`, when the directory records them.
    pub fn row_range(&self, i: usize) -> Option<RowRange> {
        self.ranges.as_ref().and_then(|r| r.get(i).copied())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// When every bitmap's rows are one run (a dense row range) and the runs come in row
    /// order (bitmap `i + 1` begins after bitmap `i` ends), as a time index's minutes do when
    /// events arrive in time order: the positions `i >= 1` whose run does not begin right
    /// after run `i - 1` ends (rows in no bitmap lie between them), in increasing order.
    /// Then the rows of positions `i..j` are rows `min(i)..=max(j - 1)` less those gaps.
    /// None when a bitmap is not one run, the runs are out of order, or the directory
    /// records no row ranges. Worked out once per directory.
    pub fn ordered_runs(&self) -> Option<&[u32]> {
        self.runs
            .get_or_init(|| {
                let ranges = self.ranges.as_ref()?;
                let mut gaps = Vec::new();
                for (i, g) in ranges.iter().enumerate() {
                    if !g.is_dense() {
                        return None;
                    }
                    if let Some(p) = i.checked_sub(1).and_then(|p| ranges.get(p)) {
                        if g.min <= p.max {
                            return None;
                        }
                        if g.min != p.max + 1 {
                            gaps.push(u32::try_from(i).ok()?);
                        }
                    }
                }
                Some(gaps)
            })
            .as_deref()
    }

    /// True when the index has no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, in increasing order (None for a dense index, whose keys are `0..len`).
    pub fn keys(&self) -> Option<&[i64]> {
        self.keys.as_deref()
    }

    /// The key at position `i` (for dense indexes, `i` itself).
    pub fn key(&self, i: usize) -> i64 {
        match &self.keys {
            Some(k) => k.get(i).copied().unwrap_or(i64::MAX),
            None => i as i64,
        }
    }

    /// Position of `key`, if present.
    pub fn find(&self, key: i64) -> Option<usize> {
        match &self.keys {
            Some(k) => k.binary_search(&key).ok(),
            None => (key >= 0 && (key as u64) < self.len() as u64).then_some(key as usize),
        }
    }

    /// Positions whose keys lie in `[lo, hi)`.
    pub fn range(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        match &self.keys {
            Some(k) => k.partition_point(|&x| x < lo)..k.partition_point(|&x| x < hi),
            None => {
                let n = self.len() as i64;
                (lo.clamp(0, n) as usize)..(hi.clamp(0, n) as usize)
            }
        }
    }

    /// Byte range of bitmap `i` in the bitmap area (`0..0` when out of range).
    pub fn bounds(&self, i: usize) -> (u64, u64) {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => (a, b),
            _ => (0, 0),
        }
    }

    /// Length of the whole bitmap area.
    pub fn area_len(&self) -> u64 {
        self.offsets.last().copied().unwrap_or(0)
    }
}

/// Where the chunks of a bitmap area begin: bitmap positions, the first 0. Each chunk holds
/// whole bitmaps; a new chunk begins at the first bitmap boundary where the current one holds
/// at least `target` bytes (so a chunk may exceed `target` by up to one bitmap, and every
/// chunk but the last holds at least `target`). An empty directory has no chunk.
pub fn chunk_starts(dir: &Directory, target: u64) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut chunk_begin = 0u64;
    for i in 0..dir.len() {
        let (a, _) = dir.bounds(i);
        if starts.is_empty() || a - chunk_begin >= target {
            starts.push(i);
            chunk_begin = a;
        }
    }
    starts
}

/// Deserialize one roaring bitmap; `at` is its offset for the error.
pub fn read_bitmap(bytes: &[u8], at: usize) -> Result<RoaringBitmap, DecodeError> {
    RoaringBitmap::deserialize_from(bytes).map_err(|_| DecodeError::Invalid {
        offset: at,
        what: "invalid roaring bitmap",
    })
}

/// A parsed whole keyed-bitmaps blob (directory followed by the bitmap area), borrowing the
/// bytes: format v1's index region, and what the writer builds before chunking. Dereferences
/// to its [`Directory`].
pub struct KeyedBitmaps<'a> {
    dir: Directory,
    area: &'a [u8],
    area_pos: usize,
}

impl std::ops::Deref for KeyedBitmaps<'_> {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.dir
    }
}

impl<'a> KeyedBitmaps<'a> {
    /// Parse and bound-check the directory (bitmaps are checked when read).
    pub fn parse(data: &'a [u8]) -> Result<KeyedBitmaps<'a>, DecodeError> {
        let (dir, area_pos) = Directory::parse(data)?;
        let area = &data[area_pos..];
        if dir.area_len() != area.len() as u64 {
            return Err(DecodeError::Invalid {
                offset: area_pos,
                what: "index bitmap area length does not match its offsets",
            });
        }
        Ok(KeyedBitmaps {
            dir,
            area,
            area_pos,
        })
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.dir
    }

    /// Split into the directory, its length in bytes, and the bitmap area.
    pub fn into_parts(self) -> (Directory, usize, &'a [u8]) {
        (self.dir, self.area_pos, self.area)
    }

    /// The bitmap at position `i`, validated.
    pub fn bitmap(&self, i: usize) -> Result<RoaringBitmap, DecodeError> {
        if i >= self.len() {
            return Err(DecodeError::Invalid {
                offset: 0,
                what: "index position out of range",
            });
        }
        let (a, b) = self.dir.bounds(i);
        read_bitmap(
            &self.area[a as usize..b as usize],
            self.area_pos + a as usize,
        )
    }

    /// Stored bytes of the bitmap at position `i`.
    pub fn bitmap_len(&self, i: usize) -> u64 {
        let (a, b) = self.dir.bounds(i);
        b - a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_keyed_round_trip() {
        let codes = [2u32, 0, 2, 1, 2];
        let maps = bitmaps_by_code(&codes, |r| r != 1, 3);
        let mut buf = Vec::new();
        encode_dense(&maps, &mut buf);
        let idx = KeyedBitmaps::parse(&buf).expect("parse");
        assert_eq!(idx.len(), 3);
        assert_eq!(
            idx.bitmap(2).expect("bm").iter().collect::<Vec<_>>(),
            [0, 2, 4]
        );
        assert!(idx.bitmap(0).expect("bm").is_empty());

        let (keys, maps) = bitmaps_by_value(&[30, 10, 30, -5], |_| true);
        assert_eq!(keys, [-5, 10, 30]);
        let mut buf = Vec::new();
        encode_keyed(&keys, &maps, false, &mut buf);
        let idx = KeyedBitmaps::parse(&buf).expect("parse");
        assert_eq!(idx.find(30), Some(2));
        assert_eq!(idx.range(0, 31), 1..3);
        assert_eq!(
            idx.bitmap(2).expect("bm").iter().collect::<Vec<_>>(),
            [0, 2]
        );
        for cut in 0..buf.len() {
            if let Ok(i) = KeyedBitmaps::parse(&buf[..cut]) {
                for p in 0..i.len() {
                    let _ = i.bitmap(p);
                }
            }
        }
    }

    #[test]
    fn chunks_hold_whole_bitmaps_and_cover_the_area() {
        let codes: Vec<u32> = (0..5000u32).map(|i| (i * 7919) % 40).collect();
        let maps = bitmaps_by_code(&codes, |_| true, 40);
        let mut buf = Vec::new();
        encode_dense(&maps, &mut buf);
        let dir = KeyedBitmaps::parse(&buf)
            .expect("parse")
            .directory()
            .clone();
        for target in [1u64, 100, 1000, 1 << 20] {
            let starts = chunk_starts(&dir, target);
            assert_eq!(starts.first(), Some(&0));
            assert!(starts.windows(2).all(|w| w[0] < w[1]));
            for w in starts.windows(2) {
                let (a, _) = dir.bounds(w[0]);
                let (b, _) = dir.bounds(w[1]);
                assert!(b - a >= target, "chunk {w:?} under target {target}");
            }
        }
        assert_eq!(chunk_starts(&dir, 1).len(), 40);
        assert_eq!(chunk_starts(&dir, 1 << 20), vec![0]);
        let empty = KeyedBitmaps::parse(&{
            let mut b = Vec::new();
            encode_dense(&[], &mut b);
            b
        })
        .expect("parse")
        .directory()
        .clone();
        assert!(chunk_starts(&empty, 10).is_empty());
    }

    #[test]
    fn keyed_ranges_record_each_bitmap() {
        let minutes = [5i64, 5, 7, 5, 7, 9];
        let (keys, maps) = bitmaps_by_value(&minutes, |r| r != 5);
        let mut buf = Vec::new();
        encode_keyed(&keys, &maps, true, &mut buf);
        let idx = KeyedBitmaps::parse(&buf).expect("parse");
        let d = idx.directory();
        assert_eq!(idx.len(), 2);
        let r5 = d.row_range(d.find(5).expect("5")).expect("ranges");
        assert_eq!((r5.min, r5.max, r5.len), (0, 3, 3));
        assert!(!r5.is_dense());
        let r7 = d.row_range(d.find(7).expect("7")).expect("ranges");
        assert_eq!((r7.min, r7.max, r7.len), (2, 4, 2));
        let mut plain = Vec::new();
        encode_keyed(&keys, &maps, false, &mut plain);
        let p = KeyedBitmaps::parse(&plain).expect("parse");
        assert!(p.directory().row_range(0).is_none());
        assert_eq!(p.bitmap(1).expect("bm"), idx.bitmap(1).expect("bm"));
        for cut in 0..buf.len() {
            if let Ok(i) = KeyedBitmaps::parse(&buf[..cut]) {
                for p in 0..i.len() {
                    let _ = i.bitmap(p);
                }
            }
        }
    }
}
