//! Pure byte-level codecs for the on-disk column format.
//!
//! Owns: the shared [`DecodeError`] type, bounds-checked byte reading/writing
//! ([`bytes`]), LEB128 varints ([`varint`]), bit packing ([`bitpack`]), integer
//! block encodings ([`ints`]), sorted string dictionaries ([`strings`]) and zstd with
//! per-thread contexts ([`zst`]).
//!
//! Must not: do I/O, know about paths or files, or panic on untrusted input.
//! Every decoder bound-checks and returns an error instead. Error offsets are
//! relative to the slice the caller passed in; the caller adds the file offset
//! (see [`DecodeError::offset_by`]). All integers are little-endian.

pub mod bitpack;
pub mod bytes;
pub mod ints;
pub mod strings;
pub mod varint;
pub mod zst;

use std::fmt;

/// Why a decoder rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// needed `need` bytes at `offset` but only `have` remain
    Truncated {
        offset: usize,
        need: usize,
        have: usize,
    },
    /// structurally invalid data at `offset`
    Invalid { offset: usize, what: &'static str },
    /// a codec id byte at `offset` that this build does not know
    UnknownCodec {
        offset: usize,
        kind: &'static str,
        id: u8,
    },
}

impl DecodeError {
    /// The byte offset the error refers to.
    pub fn offset(&self) -> usize {
        match self {
            Self::Truncated { offset, .. }
            | Self::Invalid { offset, .. }
            | Self::UnknownCodec { offset, .. } => *offset,
        }
    }

    /// The same error with `base` added to its offset (saturating), for
    /// re-basing a sub-slice error onto the enclosing slice or file.
    #[must_use]
    pub fn offset_by(self, base: usize) -> Self {
        match self {
            Self::Truncated { offset, need, have } => Self::Truncated {
                offset: offset.saturating_add(base),
                need,
                have,
            },
            Self::Invalid { offset, what } => Self::Invalid {
                offset: offset.saturating_add(base),
                what,
            },
            Self::UnknownCodec { offset, kind, id } => Self::UnknownCodec {
                offset: offset.saturating_add(base),
                kind,
                id,
            },
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset, need, have } => write!(
                f,
                "truncated data at offset {offset}: needed {need} bytes, only {have} remain"
            ),
            Self::Invalid { offset, what } => {
                write!(f, "invalid data at offset {offset}: {what}")
            }
            Self::UnknownCodec { offset, kind, id } => {
                write!(f, "unknown {kind} codec id {id} at offset {offset}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Result alias for all decoders in this module.
pub type Result<T> = std::result::Result<T, DecodeError>;

/// Test-only helpers shared by the submodule tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// Tiny xorshift64* PRNG so tests are deterministic and dependency-free.
    pub struct XorShift(u64);

    impl XorShift {
        pub fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        pub fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform-ish value in `0..n` (n > 0).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        /// Flip one random bit in each of `flips` random bytes.
        pub fn corrupt(&mut self, data: &mut [u8], flips: usize) {
            if data.is_empty() {
                return;
            }
            for _ in 0..flips {
                let i = self.below(data.len() as u64) as usize;
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << self.below(8);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DecodeError;

    #[test]
    fn display_names_offset() {
        let e = DecodeError::Truncated {
            offset: 7,
            need: 8,
            have: 3,
        };
        assert!(e.to_string().contains("offset 7"));
        let e = DecodeError::UnknownCodec {
            offset: 2,
            kind: "int",
            id: 9,
        };
        assert!(e.to_string().contains("offset 2"));
        let e = DecodeError::Invalid {
            offset: 5,
            what: "x",
        }
        .offset_by(100);
        assert_eq!(e.offset(), 105);
        assert!(e.to_string().contains("offset 105"));
    }
}
