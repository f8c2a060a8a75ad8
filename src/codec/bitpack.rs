//! Fixed-width bit packing: an LSB-first, little-endian bit stream where value
//! `i` occupies bits `i*width .. (i+1)*width` (bit `b` is bit `b % 8` of byte
//! `b / 8`). The last byte is zero-padded.
//!
//! Owns: `pack`/`unpack` of u64 (width 0..=64), u32 dictionary codes and bools.
//! Must not: do I/O or panic on untrusted input; decoders check the slice is
//! at least `packed_len` bytes before touching it. `unpack*` is the query hot
//! loop: it decodes groups of 8 values from one bounds-checked window (with
//! constant-width copies for widths 1..=32), then unaligned 8/16-byte loads
//! per value near the end, and a byte-by-byte path for the last few values.

use super::{DecodeError, Result};

/// Widest supported value width in bits.
pub const MAX_WIDTH: u8 = 64;

/// Bits needed to represent `max` (0 for 0, 64 for `u64::MAX`).
pub fn bits_needed(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// Bytes occupied by `n` values of `width` bits: ceil(n * width / 8).
/// Saturates at `usize::MAX` (which no real slice can satisfy).
pub fn packed_len(n: usize, width: u8) -> usize {
    let bits = n as u128 * u128::from(width);
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

fn mask(width: u8) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Append exactly `packed_len(values.len(), width)` bytes.
///
/// Panics if `width > 64` (caller bug); values must fit in `width` bits
/// (checked only in debug builds, high bits are masked off in release).
pub fn pack(values: &[u64], width: u8, out: &mut Vec<u8>) {
    assert!(width <= MAX_WIDTH, "bit width {width} > 64");
    if width == 0 {
        return;
    }
    let m = mask(width);
    out.reserve(packed_len(values.len(), width));
    let mut acc: u128 = 0;
    let mut nbits: u32 = 0;
    for &v in values {
        debug_assert!(v & !m == 0, "value {v} does not fit in {width} bits");
        acc |= u128::from(v & m) << nbits;
        nbits += u32::from(width);
        if nbits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            nbits -= 64;
        }
    }
    let tail = nbits.div_ceil(8) as usize;
    out.extend_from_slice(&acc.to_le_bytes()[..tail]);
}

/// [`pack`] for dictionary codes (`width <= 32`): the same bytes, without widening the codes
/// to u64 first. The accumulator is 64 bits and is flushed 32 bits at a time (a little-endian
/// stream flushed in 4-byte steps is the stream `pack` flushes in 8-byte steps).
///
/// Panics if `width > 32` (caller bug); values must fit in `width` bits (high bits masked off).
pub fn pack_u32(values: &[u32], width: u8, out: &mut Vec<u8>) {
    assert!(width <= 32, "bit width {width} > 32");
    if width == 0 {
        return;
    }
    let m = mask(width) as u32;
    let w = u32::from(width);
    let start = out.len();
    let total = packed_len(values.len(), width);
    out.resize(start + total, 0);
    let buf = &mut out[start..];
    let mut acc: u64 = 0;
    let mut nbits: u32 = 0;
    let mut pos = 0usize;
    for &v in values {
        debug_assert!(v & !m == 0, "value {v} does not fit in {width} bits");
        acc |= u64::from(v & m) << nbits;
        nbits += w;
        if nbits >= 32 {
            buf[pos..pos + 4].copy_from_slice(&(acc as u32).to_le_bytes());
            pos += 4;
            acc >>= 32;
            nbits -= 32;
        }
    }
    let tail = nbits.div_ceil(8) as usize;
    buf[pos..pos + tail].copy_from_slice(&acc.to_le_bytes()[..tail]);
}

/// Append `n` values of `width` bits decoded from `data`.
pub fn unpack(data: &[u8], width: u8, n: usize, out: &mut Vec<u64>) -> Result<()> {
    unpack_map(data, width, n, out, |v| v)
}

/// Like [`unpack`] but for dictionary codes (`width <= 32`).
pub fn unpack_u32(data: &[u8], width: u8, n: usize, out: &mut Vec<u32>) -> Result<()> {
    if width > 32 {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "u32 bit width > 32",
        });
    }
    unpack_map(data, width, n, out, |v| v as u32)
}

/// Decode `n` values and append `f(value)` for each, in order. `f` may carry
/// state (e.g. a running prefix sum). Checks `width <= 64` and that `data`
/// holds at least `packed_len(n, width)` bytes before decoding anything;
/// width 0 yields `n` zeros without reading `data`.
#[inline]
pub fn unpack_map<T>(
    data: &[u8],
    width: u8,
    n: usize,
    out: &mut Vec<T>,
    mut f: impl FnMut(u64) -> T,
) -> Result<()> {
    check(data, width, n)?;
    if width == 0 {
        out.extend(std::iter::repeat_with(|| f(0)).take(n));
        return Ok(());
    }
    out.reserve(n);
    let w = usize::from(width);
    let done = unpack_groups_dispatch(data, width, n, out, &mut f);
    let done = if width <= 57 {
        unpack_narrow(
            data,
            width,
            done,
            fast_count(data.len(), w, 8).min(n),
            out,
            &mut f,
        )
    } else {
        unpack_wide(
            data,
            width,
            done,
            fast_count(data.len(), w, 16).min(n),
            out,
            &mut f,
        )
    };
    out.extend((done..n).map(|i| f(read_slow(data, i * w, width))));
    Ok(())
}

fn check(data: &[u8], width: u8, n: usize) -> Result<()> {
    if width > MAX_WIDTH {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "bit width > 64",
        });
    }
    let need = packed_len(n, width);
    if data.len() < need {
        return Err(DecodeError::Truncated {
            offset: 0,
            need,
            have: data.len(),
        });
    }
    Ok(())
}

/// Bulk path: whole groups of 8 values (a group is exactly `width` bytes).
/// Widths 1..=32 get a constant-width copy of the loop (the literal is
/// propagated through the `inline(always)` callee); 33..=57 share one
/// runtime-width copy; wider widths return 0 (handled per value).
/// Returns the number of values decoded (a multiple of 8).
#[inline(always)]
fn unpack_groups_dispatch<T>(
    data: &[u8],
    width: u8,
    n: usize,
    out: &mut Vec<T>,
    f: &mut impl FnMut(u64) -> T,
) -> usize {
    macro_rules! by_width {
        ($($w:literal)*) => {
            match width {
                $($w => unpack_groups::<40, T>(data, $w, n / 8, out, f),)*
                33..=57 => unpack_groups::<64, T>(data, usize::from(width), n / 8, out, f),
                _ => 0,
            }
        };
    }
    by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
}

/// Decode up to `groups` groups of 8 values while a `WIN`-byte window at the
/// group start fits in `data` (`WIN >= 8 + 7 * w / 8 + 1`). Returns values done.
#[inline(always)]
fn unpack_groups<const WIN: usize, T>(
    data: &[u8],
    w: usize,
    groups: usize,
    out: &mut Vec<T>,
    f: &mut impl FnMut(u64) -> T,
) -> usize {
    let m = mask(w as u8);
    let mut done = 0;
    for g in 0..groups {
        let Some(win) = data.get(g * w..).and_then(<[u8]>::first_chunk::<WIN>) else {
            break;
        };
        out.extend(group8(win, w, m).into_iter().map(&mut *f));
        done += 8;
    }
    done
}

/// Extract 8 consecutive `w`-bit values (w <= 57) starting at bit 0 of `win`.
#[inline(always)]
fn group8<const WIN: usize>(win: &[u8; WIN], w: usize, m: u64) -> [u64; 8] {
    let mut vals = [0u64; 8];
    for (j, v) in vals.iter_mut().enumerate() {
        let bit = j * w;
        let b = (bit >> 3).min(WIN - 8);
        let word = win
            .get(b..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map_or(0, |c| u64::from_le_bytes(*c));
        *v = (word >> (bit & 7)) & m;
    }
    vals
}

/// Number of leading values whose `win`-byte window at `bit / 8` lies inside
/// a slice of `len` bytes: i such that floor(i*w/8) + win <= len.
fn fast_count(len: usize, w: usize, win: usize) -> usize {
    match len.checked_sub(win - 1) {
        Some(slack) if slack > 0 => (slack * 8 - 1) / w + 1,
        _ => 0,
    }
}

/// Values `from..to` for width 1..=57: one unaligned u64 load each.
/// Returns the index of the next undecoded value.
fn unpack_narrow<T>(
    data: &[u8],
    width: u8,
    from: usize,
    to: usize,
    out: &mut Vec<T>,
    f: &mut impl FnMut(u64) -> T,
) -> usize {
    let m = mask(width);
    let w = usize::from(width);
    out.extend((from..to).map(|i| {
        let bit = i * w;
        let win = data
            .get(bit >> 3..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map_or(0, |b| u64::from_le_bytes(*b));
        f((win >> (bit & 7)) & m)
    }));
    to.max(from)
}

/// Values `from..to` for width 58..=64: one unaligned u128 load each.
/// Returns the index of the next undecoded value.
fn unpack_wide<T>(
    data: &[u8],
    width: u8,
    from: usize,
    to: usize,
    out: &mut Vec<T>,
    f: &mut impl FnMut(u64) -> T,
) -> usize {
    let m = mask(width);
    let w = usize::from(width);
    out.extend((from..to).map(|i| {
        let bit = i * w;
        let win = data
            .get(bit >> 3..)
            .and_then(<[u8]>::first_chunk::<16>)
            .map_or(0, |b| u128::from_le_bytes(*b));
        f(((win >> (bit & 7)) as u64) & m)
    }));
    to.max(from)
}

/// Byte-by-byte read of one value at `bit`; missing bytes read as zero.
fn read_slow(data: &[u8], bit: usize, width: u8) -> u64 {
    let first = bit >> 3;
    let end = (bit + usize::from(width)).div_ceil(8);
    let bytes = data.get(first..end).unwrap_or(&[]);
    let acc = bytes
        .iter()
        .enumerate()
        .fold(0u128, |acc, (k, &b)| acc | (u128::from(b) << (8 * k)));
    ((acc >> (bit & 7)) as u64) & mask(width)
}

/// Pack bools one bit each (LSB-first), appending ceil(n/8) bytes.
pub fn pack_bools(bits: &[bool], out: &mut Vec<u8>) {
    out.extend(bits.chunks(8).map(|chunk| {
        chunk
            .iter()
            .enumerate()
            .fold(0u8, |byte, (k, &b)| byte | (u8::from(b) << k))
    }));
}

/// Append `n` bools decoded from `data` (inverse of [`pack_bools`]).
pub fn unpack_bools(data: &[u8], n: usize, out: &mut Vec<bool>) -> Result<()> {
    check(data, 1, n)?;
    out.extend((0..n).map(|i| data.get(i >> 3).is_some_and(|b| (b >> (i & 7)) & 1 == 1)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::XorShift;
    use super::*;

    fn random_values(r: &mut XorShift, n: usize, width: u8) -> Vec<u64> {
        (0..n).map(|_| r.next_u64() & mask(width)).collect()
    }

    fn round_trip(values: &[u64], width: u8) {
        let mut buf = vec![0xee]; // unrelated prefix must be preserved
        pack(values, width, &mut buf);
        assert_eq!(buf.len(), 1 + packed_len(values.len(), width));
        let mut out = vec![42];
        unpack(&buf[1..], width, values.len(), &mut out).unwrap();
        assert_eq!(out[0], 42);
        assert_eq!(&out[1..], values, "width {width}");
        if width <= 32 {
            let mut codes = Vec::new();
            unpack_u32(&buf[1..], width, values.len(), &mut codes).unwrap();
            assert!(codes.iter().zip(values).all(|(&c, &v)| u64::from(c) == v));
        }
    }

    #[test]
    fn bits_needed_edges() {
        assert_eq!(bits_needed(0), 0);
        assert_eq!(bits_needed(1), 1);
        assert_eq!(bits_needed(2), 2);
        assert_eq!(bits_needed(255), 8);
        assert_eq!(bits_needed(256), 9);
        assert_eq!(bits_needed(u64::MAX), 64);
        assert_eq!(packed_len(0, 64), 0);
        assert_eq!(packed_len(3, 3), 2);
        assert_eq!(packed_len(usize::MAX, 64), usize::MAX);
    }

    #[test]
    fn layout_is_lsb_first() {
        let mut buf = Vec::new();
        pack(&[1, 2, 3, 0], 2, &mut buf);
        assert_eq!(buf, [0b00_11_10_01]);
        buf.clear();
        pack(&[0x1ff], 9, &mut buf);
        assert_eq!(buf, [0xff, 0x01]);
    }

    #[test]
    fn all_widths_edges() {
        let mut r = XorShift::new(1);
        for width in 0..=64u8 {
            for n in [
                0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, 577, 1000, 1031,
            ] {
                round_trip(&random_values(&mut r, n, width), width);
                round_trip(&vec![mask(width); n], width);
                round_trip(&vec![0; n], width);
            }
        }
    }

    #[test]
    fn random_round_trips() {
        for seed in 0..200 {
            let mut r = XorShift::new(seed);
            let width = r.below(65) as u8;
            let n = r.below(3000) as usize;
            round_trip(&random_values(&mut r, n, width), width);
        }
    }

    #[test]
    fn every_truncation_errors() {
        let mut r = XorShift::new(5);
        for width in 1..=64u8 {
            let values = random_values(&mut r, 37, width);
            let mut buf = Vec::new();
            pack(&values, width, &mut buf);
            for k in 0..buf.len() {
                let mut out = Vec::new();
                let err = unpack(&buf[..k], width, values.len(), &mut out);
                assert!(
                    matches!(err, Err(DecodeError::Truncated { .. })),
                    "w={width} k={k}"
                );
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn bad_widths_rejected() {
        let data = [0u8; 64];
        let mut out = Vec::new();
        assert!(unpack(&data, 65, 1, &mut out).is_err());
        assert!(unpack(&data, 255, 0, &mut out).is_err());
        let mut codes = Vec::new();
        assert!(unpack_u32(&data, 33, 1, &mut codes).is_err());
        assert!(unpack(&[], 0, 1000, &mut out).is_ok());
        assert_eq!(out, vec![0; 1000]);
        assert!(unpack(&data, 64, usize::MAX, &mut out).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut r = XorShift::new(9);
        for _ in 0..2000 {
            let len = r.below(40) as usize;
            let data: Vec<u8> = (0..len).map(|_| r.next_u64() as u8).collect();
            let width = r.below(70) as u8;
            let n = r.below(80) as usize;
            let mut out = Vec::new();
            if unpack(&data, width, n, &mut out).is_ok() {
                assert_eq!(out.len(), n);
            }
        }
    }

    #[test]
    fn bools_round_trip() {
        let mut r = XorShift::new(4);
        for n in 0..100 {
            let bits: Vec<bool> = (0..n).map(|_| r.below(2) == 1).collect();
            let mut buf = Vec::new();
            pack_bools(&bits, &mut buf);
            assert_eq!(buf.len(), packed_len(n, 1));
            let mut out = Vec::new();
            unpack_bools(&buf, n, &mut out).unwrap();
            assert_eq!(out, bits);
            let as_u64: Vec<u64> = bits.iter().map(|&b| u64::from(b)).collect();
            let mut buf2 = Vec::new();
            pack(&as_u64, 1, &mut buf2);
            assert_eq!(buf, buf2);
            if n > 0 {
                assert!(unpack_bools(&buf[..buf.len() - 1], n, &mut out).is_err());
            }
        }
    }

    /// Manual throughput check: `--ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_unpack_u32() {
        let mut r = XorShift::new(2);
        for width in [1u8, 7, 12, 17, 32] {
            let values = random_values(&mut r, 1 << 22, width);
            let mut buf = Vec::new();
            pack(&values, width, &mut buf);
            let mut out: Vec<u32> = Vec::with_capacity(values.len());
            let t = std::time::Instant::now();
            for _ in 0..10 {
                out.clear();
                unpack_u32(&buf, width, values.len(), &mut out).unwrap();
            }
            let ns = t.elapsed().as_nanos() as f64 / (10.0 * values.len() as f64);
            println!("width {width}: {ns:.3} ns/value");
        }
    }
}
