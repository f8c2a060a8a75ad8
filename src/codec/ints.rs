//! Block encodings for i64 columns (and FOR-packed u64 lengths/offsets).
//!
//! Owns: the choice between [`IntCodec`] variants and their byte layouts:
//!
//! * `Constant`:     `[0] value:i64`
//! * `ForBitpack`:   `[1] min:i64 width:u8 bits((v - min) as u64)`
//! * `DeltaBitpack`: `[2] first:i64 base:u64 width:u8 bits(zigzag(v[i]-v[i-1]) - base)`
//!   for i in 1..n (all subtraction wrapping)
//! * `Dictionary`:   `[3] k:varint <k sorted distinct values as a nested Constant/FOR/Delta
//!   encoding> width:u8 bits(index of v in the distinct values)`: for blocks with few distinct
//!   values spread over a wide range (ASNs, status codes), chosen only when smaller
//!
//! and the codec-less lengths layout `base:u64 width:u8 bits(len - base)`.
//! The value count `n` is not stored; the caller keeps it.
//! Must not: do I/O or panic on untrusted bytes.

use super::bitpack::{bits_needed, pack, packed_len, unpack_map, MAX_WIDTH};
use super::bytes::{put_i64_le, put_u64_le, put_u8, ByteReader};
use super::varint::{unzigzag, zigzag};
use super::{DecodeError, Result};

/// Codec id byte at the start of every encoded i64 block.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntCodec {
    Constant = 0,
    ForBitpack = 1,
    DeltaBitpack = 2,
    Dictionary = 3,
}

impl TryFrom<u8> for IntCodec {
    type Error = DecodeError;

    /// Unknown ids yield `UnknownCodec` at offset 0 (the id byte).
    fn try_from(id: u8) -> Result<Self> {
        match id {
            0 => Ok(Self::Constant),
            1 => Ok(Self::ForBitpack),
            2 => Ok(Self::DeltaBitpack),
            3 => Ok(Self::Dictionary),
            _ => Err(DecodeError::UnknownCodec {
                offset: 0,
                kind: "int",
                id,
            }),
        }
    }
}

/// One-pass statistics used to size every candidate codec.
struct Stats {
    min: i64,
    max: i64,
    zmin: u64,
    zmax: u64,
}

fn stats(values: &[i64]) -> Stats {
    let first = values.first().copied().unwrap_or(0);
    let mut s = Stats {
        min: first,
        max: first,
        zmin: u64::MAX,
        zmax: 0,
    };
    for w in values.windows(2) {
        if let [a, b] = *w {
            let z = zigzag(b.wrapping_sub(a));
            s.zmin = s.zmin.min(z);
            s.zmax = s.zmax.max(z);
            s.min = s.min.min(b);
            s.max = s.max.max(b);
        }
    }
    if values.len() < 2 {
        s.zmin = 0;
    }
    s
}

fn span(min: i64, max: i64) -> u64 {
    (i128::from(max) - i128::from(min)) as u64
}

fn for_width(s: &Stats) -> u8 {
    bits_needed(span(s.min, s.max))
}

fn delta_width(s: &Stats) -> u8 {
    bits_needed(s.zmax - s.zmin)
}

/// The codec with the fewest encoded bytes (ties: Constant < FOR < Delta).
fn pick(values: &[i64], s: &Stats) -> IntCodec {
    if s.min == s.max {
        return IntCodec::Constant;
    }
    let n = values.len();
    let for_size = 10 + packed_len(n, for_width(s));
    let delta_size = 18 + packed_len(n - 1, delta_width(s));
    if delta_size < for_size {
        IntCodec::DeltaBitpack
    } else {
        IntCodec::ForBitpack
    }
}

/// Bytes of the Constant/FOR/Delta encoding `pick` would choose for `values`.
fn encoded_size(values: &[i64]) -> usize {
    let s = stats(values);
    match pick(values, &s) {
        IntCodec::Constant => 9,
        IntCodec::DeltaBitpack => 18 + packed_len(values.len().saturating_sub(1), delta_width(&s)),
        _ => 10 + packed_len(values.len(), for_width(&s)),
    }
}

/// Most distinct values a dictionary block may have.
const MAX_DICT: usize = 4096;

/// The sorted distinct values, if there are at most [`MAX_DICT`] of them.
fn distinct(values: &[i64]) -> Option<Vec<i64>> {
    let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::with_capacity(256);
    for &v in values {
        if seen.insert(v) && seen.len() > MAX_DICT {
            return None;
        }
    }
    let mut d: Vec<i64> = seen.into_iter().collect();
    d.sort_unstable();
    Some(d)
}

/// Append the smallest encoding of `values` (id byte, params, bits).
/// Empty input encodes as `Constant(0)`.
pub fn encode_i64(values: &[i64], out: &mut Vec<u8>) {
    let s = stats(values);
    let codec = pick(values, &s);
    if codec != IntCodec::Constant && values.len() >= 64 {
        let best = match codec {
            IntCodec::ForBitpack => packed_len(values.len(), for_width(&s)),
            _ => packed_len(values.len() - 1, delta_width(&s)),
        };
        // A dictionary pays off when its index width is well below the chosen width.
        if best > values.len() / 2 {
            if let Some(d) = distinct(values) {
                let iw = bits_needed(d.len().saturating_sub(1) as u64);
                let dict_size = 12 + encoded_size(&d) + packed_len(values.len(), iw);
                if dict_size < best {
                    encode_dict(values, &d, iw, out);
                    return;
                }
            }
        }
    }
    put_u8(out, codec as u8);
    match codec {
        IntCodec::Constant => put_i64_le(out, s.min),
        IntCodec::ForBitpack | IntCodec::Dictionary => encode_for(values, &s, out),
        IntCodec::DeltaBitpack => encode_delta(values, &s, out),
    }
}

fn encode_dict(values: &[i64], dict: &[i64], width: u8, out: &mut Vec<u8>) {
    put_u8(out, IntCodec::Dictionary as u8);
    super::bytes::put_varint_u64(out, dict.len() as u64);
    let s = stats(dict);
    let inner = pick(dict, &s);
    put_u8(out, inner as u8);
    match inner {
        IntCodec::Constant => put_i64_le(out, s.min),
        IntCodec::DeltaBitpack => encode_delta(dict, &s, out),
        _ => encode_for(dict, &s, out),
    }
    put_u8(out, width);
    let idx: Vec<u64> = values
        .iter()
        .map(|v| dict.binary_search(v).unwrap_or(0) as u64)
        .collect();
    pack(&idx, width, out);
}

fn encode_for(values: &[i64], s: &Stats, out: &mut Vec<u8>) {
    let width = for_width(s);
    put_i64_le(out, s.min);
    put_u8(out, width);
    let rel: Vec<u64> = values.iter().map(|&v| span(s.min, v)).collect();
    pack(&rel, width, out);
}

fn encode_delta(values: &[i64], s: &Stats, out: &mut Vec<u8>) {
    let width = delta_width(s);
    put_i64_le(out, values.first().copied().unwrap_or(0));
    put_u64_le(out, s.zmin);
    put_u8(out, width);
    let rel: Vec<u64> = values
        .windows(2)
        .map(|w| match *w {
            [a, b] => zigzag(b.wrapping_sub(a)) - s.zmin,
            _ => 0,
        })
        .collect();
    pack(&rel, width, out);
}

/// Decode `n` values appended to `out`; returns bytes consumed.
/// All length checks happen before anything is appended, so on error `out`
/// is unchanged.
pub fn decode_i64(data: &[u8], n: usize, out: &mut Vec<i64>) -> Result<usize> {
    let mut r = ByteReader::new(data);
    let codec = IntCodec::try_from(r.read_u8()?)?;
    match codec {
        IntCodec::Constant => {
            let v = r.read_i64_le()?;
            out.extend(std::iter::repeat_n(v, n));
        }
        IntCodec::ForBitpack => {
            let base = r.read_i64_le()?;
            read_packed(&mut r, n, out, |u| base.wrapping_add(u as i64))?;
        }
        IntCodec::DeltaBitpack => decode_delta(&mut r, n, out)?,
        IntCodec::Dictionary => decode_dict(&mut r, n, out)?,
    }
    Ok(r.pos())
}

fn decode_dict(r: &mut ByteReader<'_>, n: usize, out: &mut Vec<i64>) -> Result<()> {
    let at = r.pos();
    let k = r.read_varint_u64()?;
    if k == 0 || k > MAX_DICT as u64 {
        return Err(DecodeError::Invalid {
            offset: at,
            what: "int dictionary size out of range",
        });
    }
    let inner_at = r.pos();
    let inner = IntCodec::try_from(r.read_u8()?).map_err(|e| e.offset_by(inner_at))?;
    let mut dict = Vec::with_capacity(k as usize);
    match inner {
        IntCodec::Constant => {
            let v = r.read_i64_le()?;
            dict.extend(std::iter::repeat_n(v, k as usize));
        }
        IntCodec::ForBitpack => {
            let base = r.read_i64_le()?;
            read_packed(r, k as usize, &mut dict, |u| base.wrapping_add(u as i64))?;
        }
        IntCodec::DeltaBitpack => decode_delta(r, k as usize, &mut dict)?,
        IntCodec::Dictionary => {
            return Err(DecodeError::Invalid {
                offset: inner_at,
                what: "nested int dictionary",
            })
        }
    }
    let (width, bits, bits_at) = read_width_and_bits(r, n)?;
    let mut bad = false;
    let before = out.len();
    unpack_map(bits, width, n, out, |u| match dict.get(u as usize) {
        Some(&v) => v,
        None => {
            bad = true;
            0
        }
    })
    .map_err(|e| e.offset_by(bits_at))?;
    if bad {
        out.truncate(before);
        return Err(DecodeError::Invalid {
            offset: bits_at,
            what: "int dictionary index out of range",
        });
    }
    Ok(())
}

fn decode_delta(r: &mut ByteReader<'_>, n: usize, out: &mut Vec<i64>) -> Result<()> {
    let first = r.read_i64_le()?;
    let base = r.read_u64_le()?;
    let deltas = n.saturating_sub(1);
    let (width, bits, at) = read_width_and_bits(r, deltas)?;
    if n > 0 {
        out.push(first);
    }
    let mut prev = first;
    unpack_map(bits, width, deltas, out, |u| {
        prev = prev.wrapping_add(unzigzag(u.wrapping_add(base)));
        prev
    })
    .map_err(|e| e.offset_by(at))
}

/// Read `width:u8` then exactly `packed_len(n, width)` bytes.
fn read_width_and_bits<'a>(r: &mut ByteReader<'a>, n: usize) -> Result<(u8, &'a [u8], usize)> {
    let at = r.pos();
    let width = r.read_u8()?;
    if width > MAX_WIDTH {
        return Err(DecodeError::Invalid {
            offset: at,
            what: "bit width > 64",
        });
    }
    let bits_at = r.pos();
    let bits = r.read_bytes(packed_len(n, width))?;
    Ok((width, bits, bits_at))
}

/// Read width + bits and append `f(value)` for each of `n` packed values.
fn read_packed<T>(
    r: &mut ByteReader<'_>,
    n: usize,
    out: &mut Vec<T>,
    f: impl FnMut(u64) -> T,
) -> Result<()> {
    let (width, bits, at) = read_width_and_bits(r, n)?;
    unpack_map(bits, width, n, out, f).map_err(|e| e.offset_by(at))
}

/// Append `base:u64 width:u8 bits(len - base)` for lengths/offsets.
pub fn encode_lengths(lens: &[u64], out: &mut Vec<u8>) {
    let min = lens.iter().copied().min().unwrap_or(0);
    let max = lens.iter().copied().max().unwrap_or(0);
    let width = bits_needed(max - min);
    put_u64_le(out, min);
    put_u8(out, width);
    let rel: Vec<u64> = lens.iter().map(|&l| l - min).collect();
    pack(&rel, width, out);
}

/// Decode `n` lengths appended to `out`; returns bytes consumed.
/// `base + packed` overflowing u64 is `Invalid` (and `out` is left as it was).
pub fn decode_lengths(data: &[u8], n: usize, out: &mut Vec<u64>) -> Result<usize> {
    let mut r = ByteReader::new(data);
    let base = r.read_u64_le()?;
    let start = out.len();
    let mut overflow = false;
    read_packed(&mut r, n, out, |u| {
        base.checked_add(u).unwrap_or_else(|| {
            overflow = true;
            0
        })
    })?;
    if overflow {
        out.truncate(start);
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "length overflows u64",
        });
    }
    Ok(r.pos())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::XorShift;
    use super::*;

    fn round_trip(values: &[i64]) -> Vec<u8> {
        let mut buf = vec![0x55];
        encode_i64(values, &mut buf);
        let mut out = vec![7];
        let used = decode_i64(&buf[1..], values.len(), &mut out).unwrap();
        assert_eq!(used, buf.len() - 1);
        assert_eq!(&out[1..], values);
        buf.remove(0);
        check_truncations(&buf, values.len());
        buf
    }

    fn check_truncations(buf: &[u8], n: usize) {
        for k in 0..buf.len() {
            let mut out = Vec::new();
            assert!(decode_i64(&buf[..k], n, &mut out).is_err(), "k={k}");
            assert!(out.is_empty(), "appended on error at k={k}");
        }
    }

    fn codec_of(buf: &[u8]) -> IntCodec {
        IntCodec::try_from(buf[0]).unwrap()
    }

    #[test]
    fn edge_cases() {
        assert_eq!(codec_of(&round_trip(&[])), IntCodec::Constant);
        assert_eq!(round_trip(&[]).len(), 9);
        assert_eq!(codec_of(&round_trip(&[i64::MIN])), IntCodec::Constant);
        assert_eq!(codec_of(&round_trip(&[5; 1000])), IntCodec::Constant);
        round_trip(&[i64::MIN, i64::MAX]);
        round_trip(&[i64::MAX, i64::MIN, 0, -1, 1, i64::MAX, i64::MIN]);
        round_trip(&[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
        round_trip(&[0, 1]);
        round_trip(&[1, 0]);
        round_trip(&[-5, 5, -5, 5]);
    }

    #[test]
    fn small_range_uses_for() {
        let values: Vec<i64> = (0..1000).map(|i| 1_000_000 + (i * 7919) % 256).collect();
        let buf = round_trip(&values);
        assert_eq!(codec_of(&buf), IntCodec::ForBitpack);
        assert_eq!(buf.len(), 10 + 1000);
    }

    #[test]
    fn sorted_timestamps_use_delta() {
        let mut r = XorShift::new(42);
        let mut t = 1_700_000_000_000_000_000i64;
        let values: Vec<i64> = (0..10_000)
            .map(|_| {
                t += r.below(1000) as i64;
                t
            })
            .collect();
        let buf = round_trip(&values);
        assert_eq!(codec_of(&buf), IntCodec::DeltaBitpack);
        assert!(buf.len() <= 18 + packed_len(9_999, 11), "len {}", buf.len());
    }

    #[test]
    fn random_round_trips() {
        for seed in 0..300 {
            let mut r = XorShift::new(seed);
            let n = r.below(300) as usize;
            let shift = r.below(64);
            let base = r.next_u64() as i64;
            let values: Vec<i64> = match seed % 3 {
                0 => (0..n).map(|_| (r.next_u64() >> shift) as i64).collect(),
                1 => (0..n)
                    .map(|_| base.wrapping_add((r.next_u64() >> shift) as i64))
                    .collect(),
                _ => {
                    let mut v = base;
                    (0..n)
                        .map(|_| {
                            v = v.wrapping_add(((r.next_u64() >> shift) as i64) >> 1);
                            v
                        })
                        .collect()
                }
            };
            round_trip(&values);
        }
    }

    #[test]
    fn unknown_codec_and_bad_width() {
        let mut out = Vec::new();
        assert_eq!(
            decode_i64(&[9, 0, 0], 1, &mut out),
            Err(DecodeError::UnknownCodec {
                offset: 0,
                kind: "int",
                id: 9
            })
        );
        let mut buf = vec![1];
        buf.extend_from_slice(&[0; 8]);
        buf.push(65);
        buf.extend_from_slice(&[0; 16]);
        assert_eq!(
            decode_i64(&buf, 1, &mut out),
            Err(DecodeError::Invalid {
                offset: 9,
                what: "bit width > 64"
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn random_flips_never_panic() {
        let mut r = XorShift::new(99);
        for seed in 0..100 {
            let mut g = XorShift::new(seed);
            let n = 1 + g.below(100) as usize;
            let values: Vec<i64> = (0..n)
                .map(|i| i as i64 * 1000 + g.below(50) as i64)
                .collect();
            let mut clean = Vec::new();
            encode_i64(&values, &mut clean);
            for _ in 0..50 {
                let mut buf = clean.clone();
                let flips = 1 + r.below(3) as usize;
                r.corrupt(&mut buf, flips);
                let mut out = Vec::new();
                if let Ok(used) = decode_i64(&buf, n, &mut out) {
                    assert!(used <= buf.len());
                    assert_eq!(out.len(), n);
                }
            }
        }
    }

    #[test]
    fn lengths_round_trip() {
        let mut r = XorShift::new(8);
        let cases: Vec<Vec<u64>> = vec![
            vec![],
            vec![0],
            vec![u64::MAX],
            vec![0, u64::MAX],
            vec![3; 50],
            (0..500).map(|_| r.below(40)).collect(),
            (0..77).map(|_| r.next_u64()).collect(),
        ];
        for lens in cases {
            let mut buf = Vec::new();
            encode_lengths(&lens, &mut buf);
            let mut out = Vec::new();
            assert_eq!(decode_lengths(&buf, lens.len(), &mut out), Ok(buf.len()));
            assert_eq!(out, lens);
            for k in 0..buf.len() {
                assert!(decode_lengths(&buf[..k], lens.len(), &mut Vec::new()).is_err());
            }
        }
    }

    #[test]
    fn lengths_overflow_is_invalid() {
        let mut buf = Vec::new();
        put_u64_le(&mut buf, u64::MAX);
        put_u8(&mut buf, 1);
        buf.push(0b10);
        let mut out = vec![1];
        assert!(matches!(
            decode_lengths(&buf, 2, &mut out),
            Err(DecodeError::Invalid { .. })
        ));
        assert_eq!(out, vec![1]);
    }
}
