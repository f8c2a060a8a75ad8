//! The byte layout of one column block (before block compression), pure over bytes.
//!
//! ```text
//! u8 flags            bit 0: a validity bit map follows
//! [validity]          bitpack width 1, `rows` bits, set = value present (only with bit 0)
//! values              by column type:
//!   bool              bitpack width 1
//!   int64, timestamp  codec::ints (constant, frame-of-reference or delta, bit-packed)
//!   float64           rows x f64 little-endian
//!   string            u8 width, then dictionary codes bit-packed at that width
//! ```
//! Null rows hold a placeholder value (0, false, code 0) that readers ignore.

use crate::codec::{bitpack, ints, DecodeError};

use super::ColumnType;

/// Decoded values of one block.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    /// Dictionary codes of a string column.
    Codes(Vec<u32>),
}

impl Values {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Values::Bool(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Codes(v) => v.len(),
        }
    }

    /// True when the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded block: values and, when the block has nulls, the validity of each row.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub values: Values,
    pub validity: Option<Vec<bool>>,
}

impl Block {
    /// Is row `i` non-null?
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|v| v.get(i).copied().unwrap_or(false))
    }
}

const HAS_NULLS: u8 = 1;

/// Encode one block. `validity` is `None` when every row has a value.
pub fn encode_block(values: &Values, validity: Option<&[bool]>, out: &mut Vec<u8>) {
    match validity {
        Some(v) => {
            out.push(HAS_NULLS);
            bitpack::pack_bools(v, out);
        }
        None => out.push(0),
    }
    match values {
        Values::Bool(v) => bitpack::pack_bools(v, out),
        Values::Int(v) => ints::encode_i64(v, out),
        Values::Float(v) => {
            for f in v {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        Values::Codes(codes) => {
            let max = codes.iter().copied().max().unwrap_or(0);
            let width = bitpack::bits_needed(max as u64);
            out.push(width);
            let wide: Vec<u64> = codes.iter().map(|&c| c as u64).collect();
            bitpack::pack(&wide, width, out);
        }
    }
}

/// Decode a block of `rows` rows of type `ty`.
pub fn decode_block(data: &[u8], ty: ColumnType, rows: usize) -> Result<Block, DecodeError> {
    let flags = *data.first().ok_or(DecodeError::Truncated {
        offset: 0,
        need: 1,
        have: 0,
    })?;
    if flags & !HAS_NULLS != 0 {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "unknown block flags",
        });
    }
    let mut pos = 1;
    let validity = if flags & HAS_NULLS != 0 {
        let mut v = Vec::with_capacity(rows);
        bitpack::unpack_bools(&data[pos..], rows, &mut v).map_err(|e| shift(e, pos))?;
        pos += bitpack::packed_len(rows, 1);
        Some(v)
    } else {
        None
    };
    let body = &data[pos..];
    let values = match ty {
        ColumnType::Bool => {
            let mut v = Vec::with_capacity(rows);
            bitpack::unpack_bools(body, rows, &mut v).map_err(|e| shift(e, pos))?;
            Values::Bool(v)
        }
        ColumnType::Int | ColumnType::Time => {
            let mut v = Vec::with_capacity(rows);
            ints::decode_i64(body, rows, &mut v).map_err(|e| shift(e, pos))?;
            Values::Int(v)
        }
        ColumnType::Float => {
            let need = rows * 8;
            if body.len() < need {
                return Err(DecodeError::Truncated {
                    offset: pos,
                    need,
                    have: body.len(),
                });
            }
            Values::Float(
                body[..need]
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            )
        }
        ColumnType::Str => {
            let width = *body.first().ok_or(DecodeError::Truncated {
                offset: pos,
                need: 1,
                have: 0,
            })?;
            let mut v = Vec::with_capacity(rows);
            bitpack::unpack_u32(&body[1..], width, rows, &mut v).map_err(|e| shift(e, pos + 1))?;
            Values::Codes(v)
        }
    };
    Ok(Block { values, validity })
}

fn shift(e: DecodeError, by: usize) -> DecodeError {
    match e {
        DecodeError::Truncated { offset, need, have } => DecodeError::Truncated {
            offset: offset + by,
            need,
            have,
        },
        DecodeError::Invalid { offset, what } => DecodeError::Invalid {
            offset: offset + by,
            what,
        },
        DecodeError::UnknownCodec { offset, kind, id } => DecodeError::UnknownCodec {
            offset: offset + by,
            kind,
            id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_each_type() {
        let cases = [
            (ColumnType::Bool, Values::Bool(vec![true, false, true])),
            (ColumnType::Int, Values::Int(vec![5, -3, i64::MAX])),
            (ColumnType::Time, Values::Int(vec![1, 2, 3])),
            (ColumnType::Float, Values::Float(vec![0.5, -1e300, 0.0])),
            (ColumnType::Str, Values::Codes(vec![0, 7, 3])),
        ];
        for (ty, values) in cases {
            for validity in [None, Some(vec![true, false, true])] {
                let mut buf = Vec::new();
                encode_block(&values, validity.as_deref(), &mut buf);
                let b = decode_block(&buf, ty, 3).expect("decode");
                assert_eq!(b.values, values);
                assert_eq!(b.validity, validity);
                for cut in 0..buf.len() {
                    assert!(
                        decode_block(&buf[..cut], ty, 3).is_err(),
                        "cut {cut} of {ty:?}"
                    );
                }
            }
        }
    }
}
