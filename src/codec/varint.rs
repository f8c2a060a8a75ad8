//! LEB128 unsigned varints and zigzag signed<->unsigned mapping.
//!
//! Owns: the varint wire format (7 bits per byte, low group first, high bit =
//! continuation, at most 10 bytes). Must not: do I/O or panic on bad input;
//! overlong (>10 byte) or >u64 encodings are rejected as `Invalid`.

use super::{DecodeError, Result};

/// Maximum encoded length of a u64 varint.
pub const MAX_LEN: usize = 10;

/// Append `v` as a LEB128 varint.
pub fn encode_u64(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decode a varint from the start of `data`; returns (value, bytes consumed).
pub fn decode_u64(data: &[u8]) -> Result<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..MAX_LEN {
        let Some(&b) = data.get(i) else {
            return Err(DecodeError::Truncated {
                offset: i,
                need: 1,
                have: 0,
            });
        };
        if i == MAX_LEN - 1 && b > 1 {
            return Err(DecodeError::Invalid {
                offset: i,
                what: "varint overflows u64",
            });
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    // Unreachable in practice: byte 9 > 1 is rejected above.
    Err(DecodeError::Invalid {
        offset: MAX_LEN - 1,
        what: "varint too long",
    })
}

/// Map signed to unsigned so small magnitudes become small numbers.
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::XorShift;
    use super::*;

    fn round_trip(v: u64) {
        let mut buf = Vec::new();
        encode_u64(v, &mut buf);
        assert!(buf.len() <= MAX_LEN);
        assert_eq!(decode_u64(&buf), Ok((v, buf.len())));
        for k in 0..buf.len() {
            assert!(decode_u64(&buf[..k]).is_err(), "v={v} k={k}");
        }
    }

    #[test]
    fn edges() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            round_trip(v);
        }
        for s in 0..64 {
            round_trip(1u64 << s);
            round_trip((1u64 << s) - 1);
        }
    }

    #[test]
    fn random() {
        for seed in 0..50 {
            let mut r = XorShift::new(seed);
            for _ in 0..200 {
                let v = r.next_u64() >> r.below(64);
                round_trip(v);
            }
        }
    }

    #[test]
    fn rejects_overflow_and_overlong() {
        let mut ten = vec![0xffu8; 9];
        ten.push(0x02);
        assert!(matches!(
            decode_u64(&ten),
            Err(DecodeError::Invalid { offset: 9, .. })
        ));
        assert!(decode_u64(&[0xff; 11]).is_err());
        assert!(decode_u64(&[]).is_err());
        let mut max = vec![0xffu8; 9];
        max.push(0x01);
        assert_eq!(decode_u64(&max), Ok((u64::MAX, 10)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut r = XorShift::new(7);
        for _ in 0..5000 {
            let n = r.below(12) as usize;
            let buf: Vec<u8> = (0..n).map(|_| r.next_u64() as u8).collect();
            if let Ok((_, used)) = decode_u64(&buf) {
                assert!(used <= buf.len());
            }
        }
    }

    #[test]
    fn zigzag_round_trip() {
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
        let mut r = XorShift::new(3);
        for v in [0, 1, -1, i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        for _ in 0..10000 {
            let v = r.next_u64() as i64;
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}
