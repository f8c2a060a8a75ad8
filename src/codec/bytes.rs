//! Bounds-checked little-endian byte reading ([`ByteReader`]) and the matching
//! append-only writer helpers (`put_*`).
//!
//! Owns: primitive fixed-width and varint/length-prefixed field access.
//! Must not: do I/O, allocate on the read path, or panic on short input;
//! every read returns `Truncated` with the reader position as offset.

use super::{varint, DecodeError, Result};

/// Cursor over a byte slice; positions and error offsets are relative to it.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Reader positioned at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bytes consumed so far (= offset of the next read).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The unread tail, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Consume exactly `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let rest = self.rest();
        match rest.get(..n) {
            Some(head) => {
                self.pos += n;
                Ok(head)
            }
            None => Err(DecodeError::Truncated {
                offset: self.pos,
                need: n,
                have: rest.len(),
            }),
        }
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let offset = self.pos;
        let head = self.read_bytes(N)?;
        <[u8; N]>::try_from(head).map_err(|_| DecodeError::Invalid {
            offset,
            what: "internal length mismatch",
        })
    }

    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.read_array::<1>()?[0])
    }

    pub fn read_u16_le(&mut self) -> Result<u16> {
        self.read_array().map(u16::from_le_bytes)
    }

    pub fn read_u32_le(&mut self) -> Result<u32> {
        self.read_array().map(u32::from_le_bytes)
    }

    pub fn read_u64_le(&mut self) -> Result<u64> {
        self.read_array().map(u64::from_le_bytes)
    }

    pub fn read_i64_le(&mut self) -> Result<i64> {
        self.read_array().map(i64::from_le_bytes)
    }

    pub fn read_f64_le(&mut self) -> Result<f64> {
        self.read_array().map(f64::from_le_bytes)
    }

    /// LEB128 varint; rejects encodings longer than 10 bytes or above u64.
    pub fn read_varint_u64(&mut self) -> Result<u64> {
        let (v, used) = varint::decode_u64(self.rest()).map_err(|e| e.offset_by(self.pos))?;
        self.pos += used;
        Ok(v)
    }

    /// Varint byte length, then that many bytes.
    pub fn read_len_prefixed(&mut self) -> Result<&'a [u8]> {
        let offset = self.pos;
        let len = self.read_varint_u64()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Invalid {
            offset,
            what: "length exceeds usize",
        })?;
        self.read_bytes(len)
    }
}

pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub fn put_u16_le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u32_le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64_le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_i64_le(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_f64_le(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_varint_u64(out: &mut Vec<u8>, v: u64) {
    varint::encode_u64(v, out);
}

/// Varint length of `bytes`, then `bytes`.
pub fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Byte-slice equality, inlined for the short strings (keys, codes, IPs) that ingest compares
/// tens of times per event: up to 32 bytes it is two overlapping loads per side (field paths
/// such as `ClientRequestUserAgent` are 17 to 32 bytes), where a
/// call to libc `memcmp` cost more than the comparison itself.
#[inline(always)]
pub fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[at..at + 8]);
        u64::from_ne_bytes(w)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&s[at..at + 4]);
        u32::from_ne_bytes(w)
    };
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        17..=32 => {
            let wide = |s: &[u8], at: usize| -> u128 {
                let mut w = [0u8; 16];
                w.copy_from_slice(&s[at..at + 16]);
                u128::from_ne_bytes(w)
            };
            wide(a, 0) == wide(b, 0) && wide(a, n - 16) == wide(b, n - 16)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::XorShift;
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        put_u8(&mut out, 0xab);
        put_u16_le(&mut out, 0x1234);
        put_u32_le(&mut out, 0xdead_beef);
        put_u64_le(&mut out, u64::MAX - 5);
        put_i64_le(&mut out, i64::MIN);
        put_f64_le(&mut out, -1.5);
        put_varint_u64(&mut out, 300);
        put_len_prefixed(&mut out, b"hello");
        put_len_prefixed(&mut out, b"");
        out
    }

    fn read_all(data: &[u8]) -> Result<()> {
        let mut r = ByteReader::new(data);
        assert_eq!(r.read_u8()?, 0xab);
        assert_eq!(r.read_u16_le()?, 0x1234);
        assert_eq!(r.read_u32_le()?, 0xdead_beef);
        assert_eq!(r.read_u64_le()?, u64::MAX - 5);
        assert_eq!(r.read_i64_le()?, i64::MIN);
        assert_eq!(r.read_f64_le()?, -1.5);
        assert_eq!(r.read_varint_u64()?, 300);
        assert_eq!(r.read_len_prefixed()?, b"hello");
        assert_eq!(r.read_len_prefixed()?, b"");
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.pos(), data.len());
        Ok(())
    }

    #[test]
    fn round_trip() {
        let buf = sample();
        assert_eq!(buf[1..3], [0x34, 0x12]);
        read_all(&buf).unwrap();
    }

    #[test]
    fn every_truncation_errors() {
        let buf = sample();
        for k in 0..buf.len() {
            assert!(read_all(&buf[..k]).is_err(), "k={k}");
        }
    }

    #[test]
    fn truncated_reports_offset() {
        let mut r = ByteReader::new(&[1, 2, 3]);
        r.read_u8().unwrap();
        assert_eq!(
            r.read_u32_le(),
            Err(DecodeError::Truncated {
                offset: 1,
                need: 4,
                have: 2
            })
        );
        assert_eq!(r.pos(), 1);
        assert_eq!(r.read_bytes(2).unwrap(), &[2, 3]);
        assert!(r.read_bytes(1).is_err());
        assert_eq!(r.read_bytes(0).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn varint_error_offset_is_rebased() {
        let mut r = ByteReader::new(&[0, 0x80]);
        r.read_u8().unwrap();
        assert_eq!(
            r.read_varint_u64(),
            Err(DecodeError::Truncated {
                offset: 2,
                need: 1,
                have: 0
            })
        );
    }

    #[test]
    fn huge_length_prefix_is_error() {
        let mut buf = Vec::new();
        put_varint_u64(&mut buf, u64::MAX);
        buf.extend_from_slice(b"abc");
        assert!(ByteReader::new(&buf).read_len_prefixed().is_err());
    }

    #[test]
    fn random_flips_never_panic() {
        let base = sample();
        let mut r = XorShift::new(11);
        for _ in 0..3000 {
            let mut buf = base.clone();
            let flips = 1 + r.below(4) as usize;
            r.corrupt(&mut buf, flips);
            let mut rd = ByteReader::new(&buf);
            let _ = rd.read_u8();
            while rd.read_len_prefixed().is_ok() {}
            assert!(rd.pos() <= buf.len());
        }
    }

    #[test]
    fn eq_bytes_agrees_with_slice_equality() {
        let base: Vec<u8> = (0u8..40).collect();
        for n in 0..40 {
            let a = &base[..n];
            assert!(eq_bytes(a, a));
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 1;
                assert!(!eq_bytes(a, &b), "length {n}, byte {i}");
            }
            assert!(!eq_bytes(a, &base[..n + 1]));
        }
    }
}
