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
//! [keys]             kind 1 only: codec::ints encoding of the n sorted keys
//! u64 x (n+1)        little-endian offsets of each bitmap, relative to the bitmap area
//! bitmap area        roaring bitmaps in the portable serialization format
//! ```
//! Pure: builds and reads bytes, never touches files. Must not: know about segments or queries.

use roaring::RoaringBitmap;

use crate::codec::bytes::ByteReader;
use crate::codec::{ints, DecodeError};

/// Key kind: keys are 0..n (dictionary codes).
const DENSE: u8 = 0;
/// Key kind: explicit sorted i64 keys.
const KEYED: u8 = 1;

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
    let mut maps = vec![RoaringBitmap::new(); n_codes];
    for (row, &c) in codes.iter().enumerate() {
        if valid(row) {
            if let Some(m) = maps.get_mut(c as usize) {
                m.insert(row as u32);
            }
        }
    }
    for m in &mut maps {
        m.optimize();
    }
    maps
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
    for (k, row) in pairs {
        if keys.last() != Some(&k) {
            keys.push(k);
            maps.push(RoaringBitmap::new());
        }
        if let Some(m) = maps.last_mut() {
            m.insert(row);
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

/// Serialize bitmaps under sorted i64 keys.
pub fn encode_keyed(keys: &[i64], maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    debug_assert_eq!(keys.len(), maps.len());
    out.push(KEYED);
    crate::codec::bytes::put_varint_u64(out, keys.len() as u64);
    ints::encode_i64(keys, out);
    put_bitmaps(maps, out);
}

fn put_bitmaps(maps: &[RoaringBitmap], out: &mut Vec<u8>) {
    let mut off = 0u64;
    out.extend_from_slice(&off.to_le_bytes());
    for m in maps {
        off += m.serialized_size() as u64;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for m in maps {
        // Writing into a Vec cannot fail.
        let _ = m.serialize_into(&mut *out);
    }
}

/// A parsed keyed-bitmaps blob, borrowing the bytes.
pub struct KeyedBitmaps<'a> {
    keys: Option<Vec<i64>>,
    n: usize,
    offsets: &'a [u8],
    area: &'a [u8],
    area_pos: usize,
}

impl<'a> KeyedBitmaps<'a> {
    /// Parse and bound-check the directory (bitmaps are checked when read).
    pub fn parse(data: &'a [u8]) -> Result<KeyedBitmaps<'a>, DecodeError> {
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
            KEYED => {
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
        let offsets = r.read_bytes((n + 1) * 8)?;
        let area_pos = r.pos();
        let area = &data[area_pos..];
        let idx = KeyedBitmaps {
            keys,
            n,
            offsets,
            area,
            area_pos,
        };
        let last = idx.offset(n);
        if last != area.len() as u64 {
            return Err(DecodeError::Invalid {
                offset: area_pos,
                what: "index bitmap area length does not match its offsets",
            });
        }
        Ok(idx)
    }

    fn offset(&self, i: usize) -> u64 {
        let b = &self.offsets[i * 8..i * 8 + 8];
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the index has no key.
    pub fn is_empty(&self) -> bool {
        self.n == 0
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
            None => (key >= 0 && (key as u64) < self.n as u64).then_some(key as usize),
        }
    }

    /// Positions whose keys lie in `[lo, hi)`.
    pub fn range(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        match &self.keys {
            Some(k) => k.partition_point(|&x| x < lo)..k.partition_point(|&x| x < hi),
            None => {
                let n = self.n as i64;
                (lo.clamp(0, n) as usize)..(hi.clamp(0, n) as usize)
            }
        }
    }

    /// The bitmap at position `i`, validated.
    pub fn bitmap(&self, i: usize) -> Result<RoaringBitmap, DecodeError> {
        if i >= self.n {
            return Err(DecodeError::Invalid {
                offset: 0,
                what: "index position out of range",
            });
        }
        let (a, b) = (self.offset(i), self.offset(i + 1));
        if a > b || b > self.area.len() as u64 {
            return Err(DecodeError::Invalid {
                offset: self.area_pos,
                what: "index offsets out of order",
            });
        }
        let bytes = &self.area[a as usize..b as usize];
        RoaringBitmap::deserialize_from(bytes).map_err(|_| DecodeError::Invalid {
            offset: self.area_pos + a as usize,
            what: "invalid roaring bitmap",
        })
    }

    /// Stored bytes of the bitmap at position `i`.
    pub fn bitmap_len(&self, i: usize) -> u64 {
        if i >= self.n {
            return 0;
        }
        self.offset(i + 1).saturating_sub(self.offset(i))
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
        encode_keyed(&keys, &maps, &mut buf);
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
}
