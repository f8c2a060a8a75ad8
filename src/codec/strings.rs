//! Sorted byte-string dictionaries, and plain string lists in the same layout.
//!
//! Owns: the string list layout
//! `count:varint  lengths(ints::encode_lengths)  concatenated bytes`
//! (the byte total is implied by the sum of lengths) and [`StrDict`], a
//! zero-copy view with lookup by code and (sorted lists only) binary search by key.
//! A dictionary is a list sorted ascending; a plain string block holds its rows' strings in
//! row order ([`encode_list`]).
//! Must not: do I/O, sort or dedupe (callers pass items sorted ascending
//! bytewise), assume UTF-8, or panic / over-allocate on untrusted input.

use super::bytes::{put_varint_u64, ByteReader};
use super::ints::{decode_lengths, encode_lengths};
use super::{DecodeError, Result};

/// Upper bound on `count` relative to section size: at most 8 items per byte
/// of input, so a corrupt count cannot force a huge allocation.
const MAX_ITEMS_PER_BYTE: usize = 8;

/// Append a dictionary section for `items` (already sorted by the caller).
pub fn encode_dict(items: &[&[u8]], out: &mut Vec<u8>) {
    encode_list(items, out);
}

/// Append a string list for `items` in the order given (the layout of a dictionary, without
/// the ordering that makes [`StrDict::find`] work).
pub fn encode_list<T: AsRef<[u8]>>(items: &[T], out: &mut Vec<u8>) {
    put_varint_u64(out, items.len() as u64);
    let lens: Vec<u64> = items.iter().map(|s| s.as_ref().len() as u64).collect();
    encode_lengths(&lens, out);
    for s in items {
        out.extend_from_slice(s.as_ref());
    }
}

/// String `i` of strings concatenated in `bytes`, where `ends[i]` is where string `i` ends (string
/// 0 starts at 0); empty past the end or when `ends` points outside `bytes`.
pub fn nth_of<'a>(bytes: &'a [u8], ends: &[usize], i: usize) -> &'a [u8] {
    let start = match i.checked_sub(1) {
        None => 0,
        Some(p) => ends.get(p).copied().unwrap_or(usize::MAX),
    };
    ends.get(i)
        .and_then(|&e| bytes.get(start..e))
        .unwrap_or(b"")
}

/// Parsed view of a dictionary section; strings borrow the input slice.
#[derive(Debug, Clone)]
pub struct StrDict<'a> {
    /// Prefix sums of lengths: `count + 1` entries, first is 0.
    offsets: Vec<u64>,
    /// Concatenated string bytes (exactly `offsets.last()` long).
    data: &'a [u8],
}

impl<'a> StrDict<'a> {
    /// Parse and validate a section at the start of `data`; returns the
    /// dictionary and the number of bytes consumed.
    pub fn parse(data: &'a [u8]) -> Result<(StrDict<'a>, usize)> {
        let mut r = ByteReader::new(data);
        let count = read_count(&mut r, data.len())?;
        Self::parse_items(r, count)
    }

    /// Parse a string list that must hold exactly `count` strings (a plain string block: the
    /// count comes from the block's row count, which the caller has bounded, so empty strings
    /// are not limited by the section's size as in [`StrDict::parse`]).
    pub fn parse_list(data: &'a [u8], count: usize) -> Result<(StrDict<'a>, usize)> {
        let mut r = ByteReader::new(data);
        let at = r.pos();
        if r.read_varint_u64()? != count as u64 {
            return Err(DecodeError::Invalid {
                offset: at,
                what: "string count differs from the block's rows",
            });
        }
        Self::parse_items(r, count)
    }

    fn parse_items(mut r: ByteReader<'a>, count: usize) -> Result<(StrDict<'a>, usize)> {
        let mut offsets = Vec::new();
        offsets.push(0);
        let lens_at = r.pos();
        let used =
            decode_lengths(r.rest(), count, &mut offsets).map_err(|e| e.offset_by(lens_at))?;
        r.read_bytes(used)?;
        let total = prefix_sums(&mut offsets, lens_at)?;
        let bytes_at = r.pos();
        let total = usize::try_from(total).map_err(|_| DecodeError::Invalid {
            offset: bytes_at,
            what: "dictionary too large",
        })?;
        let bytes = r.read_bytes(total)?;
        Ok((
            StrDict {
                offsets,
                data: bytes,
            },
            r.pos(),
        ))
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bytes of string data (excluding the header).
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// String with code `i`, or `None` if out of range.
    pub fn get(&self, i: u32) -> Option<&'a [u8]> {
        let i = usize::try_from(i).ok()?;
        let start = usize::try_from(*self.offsets.get(i)?).ok()?;
        let end = usize::try_from(*self.offsets.get(i.checked_add(1)?)?).ok()?;
        self.data.get(start..end)
    }

    /// All strings in code order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.item(i))
    }

    /// Code of `key` if present (dictionary must be sorted ascending).
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let i = self.lower_bound(key);
        (self.get(i)? == key).then_some(i)
    }

    /// First code whose string is `>= key` (`len()` if none).
    pub fn lower_bound(&self, key: &[u8]) -> u32 {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.item(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo as u32
    }

    /// Item by `usize` index; empty slice if out of range (never for `< len`).
    fn item(&self, i: usize) -> &'a [u8] {
        u32::try_from(i)
            .ok()
            .and_then(|i| self.get(i))
            .unwrap_or(&[])
    }
}

/// Read the item count and bound it by the section size and by u32 codes.
fn read_count(r: &mut ByteReader<'_>, section_len: usize) -> Result<usize> {
    let at = r.pos();
    let count = r.read_varint_u64()?;
    let limit = section_len
        .saturating_mul(MAX_ITEMS_PER_BYTE)
        .min(u32::MAX as usize);
    match usize::try_from(count) {
        Ok(c) if c <= limit => Ok(c),
        _ => Err(DecodeError::Invalid {
            offset: at,
            what: "dictionary count too large",
        }),
    }
}

/// Turn `[0, l0, l1, ..]` into prefix sums in place; returns the total.
fn prefix_sums(offsets: &mut [u64], lens_at: usize) -> Result<u64> {
    let mut total = 0u64;
    for o in offsets.iter_mut() {
        total = total.checked_add(*o).ok_or(DecodeError::Invalid {
            offset: lens_at,
            what: "dictionary size overflows",
        })?;
        *o = total;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::XorShift;
    use super::*;

    #[test]
    fn nth_of_never_panics() {
        let (bytes, ends) = (b"abc".as_slice(), [1usize, 3]);
        assert_eq!(nth_of(bytes, &ends, 0), b"a");
        assert_eq!(nth_of(bytes, &ends, 1), b"bc");
        assert_eq!(nth_of(bytes, &ends, 2), b"");
        assert_eq!(nth_of(bytes, &ends, 9), b"");
        assert_eq!(nth_of(bytes, &[10], 0), b"", "end outside the bytes");
        assert_eq!(nth_of(bytes, &[2, 1], 1), b"", "end before start");
    }

    fn encode(items: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_dict(items, &mut buf);
        buf
    }

    fn round_trip(items: &[&[u8]]) {
        let mut buf = encode(items);
        buf.extend_from_slice(b"trailer");
        let (d, used) = StrDict::parse(&buf).unwrap();
        assert_eq!(used, buf.len() - 7);
        assert_eq!(d.len(), items.len());
        assert_eq!(d.is_empty(), items.is_empty());
        assert_eq!(d.data_len(), items.iter().map(|s| s.len()).sum::<usize>());
        assert!(d.iter().eq(items.iter().copied()));
        for (i, s) in items.iter().enumerate() {
            assert_eq!(d.get(i as u32), Some(*s));
        }
        assert_eq!(d.get(items.len() as u32), None);
        assert_eq!(d.get(u32::MAX), None);
        for k in 0..used {
            assert!(StrDict::parse(&buf[..k]).is_err(), "k={k}");
        }
    }

    #[test]
    fn edge_cases() {
        round_trip(&[]);
        round_trip(&[b""]);
        round_trip(&[b"", b"a"]);
        round_trip(&[b"only"]);
        round_trip(&[b"\x00\xff", b"\xff\xfe\xfd"]);
        let big = vec![b'x'; 70_000];
        round_trip(&[b"a", &big, b"z"]);
    }

    #[test]
    fn find_and_lower_bound() {
        let items: [&[u8]; 5] = [b"", b"apple", b"banana", b"cherry", b"cherryx"];
        let buf = encode(&items);
        let (d, _) = StrDict::parse(&buf).unwrap();
        for (i, s) in items.iter().enumerate() {
            assert_eq!(d.find(s), Some(i as u32));
            assert_eq!(d.lower_bound(s), i as u32);
        }
        assert_eq!(d.find(b"b"), None);
        assert_eq!(d.lower_bound(b"b"), 2);
        assert_eq!(d.lower_bound(b"zzz"), 5);
        assert_eq!(d.find(b"zzz"), None);
        assert_eq!(d.lower_bound(b"\x00"), 1);
        let empty = encode(&[]);
        let (e, _) = StrDict::parse(&empty).unwrap();
        assert_eq!(e.find(b""), None);
        assert_eq!(e.lower_bound(b"x"), 0);
    }

    fn random_sorted(r: &mut XorShift) -> Vec<Vec<u8>> {
        let n = r.below(200) as usize;
        let maxlen = 1 + r.below(30);
        let mut items: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                (0..r.below(maxlen))
                    .map(|_| b'a' + r.below(4) as u8)
                    .collect()
            })
            .collect();
        items.sort();
        items.dedup();
        items
    }

    #[test]
    fn random_round_trips_and_search() {
        for seed in 0..150 {
            let mut r = XorShift::new(seed);
            let owned = random_sorted(&mut r);
            let items: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            round_trip(&items);
            let buf = encode(&items);
            let (d, _) = StrDict::parse(&buf).unwrap();
            for _ in 0..50 {
                let key: Vec<u8> = (0..r.below(6)).map(|_| b'a' + r.below(5) as u8).collect();
                let expect = items.partition_point(|s| *s < key.as_slice());
                assert_eq!(d.lower_bound(&key) as usize, expect);
                let found = items.binary_search(&key.as_slice()).ok().map(|i| i as u32);
                assert_eq!(d.find(&key), found);
            }
        }
    }

    #[test]
    fn absurd_count_is_invalid() {
        let mut buf = Vec::new();
        put_varint_u64(&mut buf, u64::MAX);
        buf.extend_from_slice(&[0; 9]);
        assert!(matches!(
            StrDict::parse(&buf),
            Err(DecodeError::Invalid { offset: 0, .. })
        ));
        // Huge count of zero-width (all-empty) items is bounded too.
        let mut buf = Vec::new();
        put_varint_u64(&mut buf, 1 << 40);
        encode_lengths(&[], &mut buf);
        assert!(StrDict::parse(&buf).is_err());
    }

    #[test]
    fn overflowing_lengths_are_invalid() {
        let mut buf = Vec::new();
        put_varint_u64(&mut buf, 2);
        encode_lengths(&[u64::MAX / 2 + 1, u64::MAX / 2 + 1], &mut buf);
        assert!(matches!(
            StrDict::parse(&buf),
            Err(DecodeError::Invalid { .. })
        ));
        let mut buf = Vec::new();
        put_varint_u64(&mut buf, 1);
        encode_lengths(&[1 << 40], &mut buf);
        assert!(matches!(
            StrDict::parse(&buf),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn random_flips_never_panic() {
        let mut r = XorShift::new(1234);
        for seed in 0..60 {
            let mut g = XorShift::new(seed);
            let owned = random_sorted(&mut g);
            let items: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            let clean = encode(&items);
            for _ in 0..60 {
                let mut buf = clean.clone();
                let flips = 1 + r.below(3) as usize;
                r.corrupt(&mut buf, flips);
                if let Ok((d, used)) = StrDict::parse(&buf) {
                    assert!(used <= buf.len());
                    let _ = d.iter().count();
                    let _ = d.find(b"abc");
                    let _ = d.lower_bound(b"b");
                }
            }
        }
    }
}
