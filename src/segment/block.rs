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
//!
//! A block of a plain string column (column flag `PLAIN`, format v3) sets flag bit 1 and holds
//! its strings instead of codes: after the validity map, a string list
//! (`codec::strings::encode_list`) of exactly `rows` strings in row order, null rows empty.
//!
//! A sparse block (format v4; flags = 4, no other bit) stores only the rows that have a value:
//!
//! ```text
//! u8 flags = 4
//! count               varint, the rows with a value (at most `rows`)
//! positions           codec::ints, `count` strictly increasing row offsets within the block
//! values              the type's layout above, over `count` values
//! ```
//! It decodes to the same [`Block`] as the dense layout (null rows get the placeholder and a
//! validity map), so readers above this module never see the difference.

use crate::codec::strings::{encode_list, nth_of, StrDict};
use crate::codec::{bitpack, ints, varint, DecodeError};

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

/// Borrowed values of a range of rows (what the writer encodes as one block, without copying
/// the range out of the column).
#[derive(Clone, Copy, Debug)]
pub enum ValuesRef<'a> {
    Bool(&'a [bool]),
    Int(&'a [i64]),
    Float(&'a [f64]),
    Codes(&'a [u32]),
}

impl Values {
    /// Rows `start..end`, borrowed. Panics when the range is out of bounds (caller bug).
    pub fn slice(&self, start: usize, end: usize) -> ValuesRef<'_> {
        match self {
            Values::Bool(v) => ValuesRef::Bool(&v[start..end]),
            Values::Int(v) => ValuesRef::Int(&v[start..end]),
            Values::Float(v) => ValuesRef::Float(&v[start..end]),
            Values::Codes(v) => ValuesRef::Codes(&v[start..end]),
        }
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
/// Block flag: the values are a string list, not dictionary codes (plain string columns).
const PLAIN_STRINGS: u8 = 2;
/// Block flag: only the rows with a value are stored, after their positions (format v4).
const SPARSE: u8 = 4;

/// The strings of a decoded plain string block, in row order (null rows empty).
#[derive(Clone, Debug, PartialEq)]
pub struct PlainBlock {
    /// The strings, concatenated.
    pub bytes: Vec<u8>,
    /// End of row `i`'s string in `bytes` (row `i` starts at `ends[i - 1]`, row 0 at 0).
    pub ends: Vec<usize>,
    pub validity: Option<Vec<bool>>,
}

impl PlainBlock {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The string of row `i` (empty for a null row or past the end).
    pub fn get(&self, i: usize) -> &[u8] {
        nth_of(&self.bytes, &self.ends, i)
    }

    /// Is row `i` non-null?
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|v| v.get(i).copied().unwrap_or(false))
    }
}

/// Encode one block of a plain string column: `items` holds one string per row (null rows
/// empty), `validity` is `None` when every row has a value.
pub fn encode_plain_block<T: AsRef<[u8]>>(
    items: &[T],
    validity: Option<&[bool]>,
    out: &mut Vec<u8>,
) {
    match validity {
        Some(v) => {
            out.push(HAS_NULLS | PLAIN_STRINGS);
            bitpack::pack_bools(v, out);
        }
        None => out.push(PLAIN_STRINGS),
    }
    encode_list(items, out);
}

/// Decode a block of a plain string column holding `rows` rows.
pub fn decode_plain_block(data: &[u8], rows: usize) -> Result<PlainBlock, DecodeError> {
    let (flags, validity, pos) = read_header(data, rows)?;
    if flags & PLAIN_STRINGS == 0 {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "not a plain string block",
        });
    }
    let (list, _) = StrDict::parse_list(&data[pos..], rows).map_err(|e| shift(e, pos))?;
    let mut bytes = Vec::with_capacity(list.data_len());
    let mut ends = Vec::with_capacity(rows);
    for s in list.iter() {
        bytes.extend_from_slice(s);
        ends.push(bytes.len());
    }
    Ok(PlainBlock {
        bytes,
        ends,
        validity,
    })
}

/// Encode one block. `validity` is `None` when every row has a value.
pub fn encode_block(values: &Values, validity: Option<&[bool]>, out: &mut Vec<u8>) {
    encode_block_ref(values.slice(0, values.len()), validity, out)
}

/// [`encode_block`] over borrowed values.
pub fn encode_block_ref(values: ValuesRef<'_>, validity: Option<&[bool]>, out: &mut Vec<u8>) {
    match validity {
        Some(v) => {
            out.push(HAS_NULLS);
            bitpack::pack_bools(v, out);
        }
        None => out.push(0),
    }
    encode_values(values, out);
}

/// Encode one sparse block: `positions` are the rows of the block that have a value (strictly
/// increasing), `values` holds their values in that order (one per position).
pub fn encode_sparse_block(values: &Values, positions: &[u32], out: &mut Vec<u8>) {
    debug_assert_eq!(values.len(), positions.len());
    out.push(SPARSE);
    varint::encode_u64(positions.len() as u64, out);
    let pos: Vec<i64> = positions.iter().map(|&p| i64::from(p)).collect();
    ints::encode_i64(&pos, out);
    encode_values(values.slice(0, values.len()), out);
}

fn encode_values(values: ValuesRef<'_>, out: &mut Vec<u8>) {
    match values {
        ValuesRef::Bool(v) => bitpack::pack_bools(v, out),
        ValuesRef::Int(v) => ints::encode_i64(v, out),
        ValuesRef::Float(v) => {
            for f in v {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        ValuesRef::Codes(codes) => {
            let max = codes.iter().copied().max().unwrap_or(0);
            let width = bitpack::bits_needed(u64::from(max));
            out.push(width);
            bitpack::pack_u32(codes, width, out);
        }
    }
}

/// Decode a block of `rows` rows of type `ty`.
pub fn decode_block(data: &[u8], ty: ColumnType, rows: usize) -> Result<Block, DecodeError> {
    if data.first() == Some(&SPARSE) {
        return decode_sparse(data, ty, rows);
    }
    let (flags, validity, pos) = read_header(data, rows)?;
    if flags & PLAIN_STRINGS != 0 {
        return Err(DecodeError::Invalid {
            offset: 0,
            what: "a plain string block where dictionary codes were expected",
        });
    }
    let (values, _) = decode_values(&data[pos..], ty, rows).map_err(|e| shift(e, pos))?;
    Ok(Block { values, validity })
}

/// A sparse block, expanded to `rows` rows (null rows hold the placeholder).
fn decode_sparse(data: &[u8], ty: ColumnType, rows: usize) -> Result<Block, DecodeError> {
    let mut pos = 1;
    let (count, n) = varint::decode_u64(&data[pos..]).map_err(|e| shift(e, pos))?;
    if count > rows as u64 {
        return Err(DecodeError::Invalid {
            offset: pos,
            what: "sparse block: more values than rows",
        });
    }
    pos += n;
    let count = count as usize;
    let mut positions = Vec::with_capacity(count);
    pos += ints::decode_i64(&data[pos..], count, &mut positions).map_err(|e| shift(e, pos))?;
    let ordered = positions.windows(2).all(|w| w[0] < w[1]);
    let in_range = positions
        .first()
        .is_none_or(|&p| p >= 0 && positions.last().is_some_and(|&l| l < rows as i64));
    if !ordered || !in_range {
        return Err(DecodeError::Invalid {
            offset: pos,
            what: "sparse block: positions out of order or out of range",
        });
    }
    let (present, _) = decode_values(&data[pos..], ty, count).map_err(|e| shift(e, pos))?;
    let mut validity = vec![false; rows];
    for &p in &positions {
        validity[p as usize] = true;
    }
    fn scatter<T: Copy + Default>(present: Vec<T>, positions: &[i64], rows: usize) -> Vec<T> {
        let mut v = vec![T::default(); rows];
        for (&p, x) in positions.iter().zip(present) {
            v[p as usize] = x;
        }
        v
    }
    let values = match present {
        Values::Bool(v) => Values::Bool(scatter(v, &positions, rows)),
        Values::Int(v) => Values::Int(scatter(v, &positions, rows)),
        Values::Float(v) => Values::Float(scatter(v, &positions, rows)),
        Values::Codes(v) => Values::Codes(scatter(v, &positions, rows)),
    };
    Ok(Block {
        values,
        validity: Some(validity),
    })
}

/// `n` values of type `ty` at the start of `body`, and the bytes they take.
fn decode_values(body: &[u8], ty: ColumnType, n: usize) -> Result<(Values, usize), DecodeError> {
    Ok(match ty {
        ColumnType::Bool => {
            let mut v = Vec::with_capacity(n);
            bitpack::unpack_bools(body, n, &mut v)?;
            (Values::Bool(v), bitpack::packed_len(n, 1))
        }
        ColumnType::Int | ColumnType::Time => {
            let mut v = Vec::with_capacity(n);
            let used = ints::decode_i64(body, n, &mut v)?;
            (Values::Int(v), used)
        }
        ColumnType::Float => {
            let need = n * 8;
            if body.len() < need {
                return Err(DecodeError::Truncated {
                    offset: 0,
                    need,
                    have: body.len(),
                });
            }
            let v = body[..need]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            (Values::Float(v), need)
        }
        ColumnType::Str => {
            let width = *body.first().ok_or(DecodeError::Truncated {
                offset: 0,
                need: 1,
                have: 0,
            })?;
            let mut v = Vec::with_capacity(n);
            bitpack::unpack_u32(&body[1..], width, n, &mut v).map_err(|e| shift(e, 1))?;
            (Values::Codes(v), 1 + bitpack::packed_len(n, width))
        }
    })
}

/// The flags byte (checked for unknown bits), the validity map if there is one, and where the
/// values start.
fn read_header(data: &[u8], rows: usize) -> Result<(u8, Option<Vec<bool>>, usize), DecodeError> {
    let flags = *data.first().ok_or(DecodeError::Truncated {
        offset: 0,
        need: 1,
        have: 0,
    })?;
    if flags & !(HAS_NULLS | PLAIN_STRINGS) != 0 {
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
    Ok((flags, validity, pos))
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
    fn plain_round_trip_and_truncation() {
        let items: Vec<&[u8]> = vec![b"b015a8c18a47e69d", b"", b"x", b"\xff\x00raw"];
        for validity in [None, Some(vec![true, false, true, true])] {
            let mut buf = Vec::new();
            encode_plain_block(&items, validity.as_deref(), &mut buf);
            let b = decode_plain_block(&buf, 4).expect("decode");
            assert_eq!(b.len(), 4);
            for (i, s) in items.iter().enumerate() {
                assert_eq!(b.get(i), *s);
            }
            assert_eq!(b.validity, validity);
            assert!(decode_plain_block(&buf, 5).is_err(), "row count checked");
            assert!(decode_block(&buf, ColumnType::Str, 4).is_err(), "not codes");
            for cut in 0..buf.len() {
                assert!(decode_plain_block(&buf[..cut], 4).is_err(), "cut {cut}");
            }
        }
        // A block of many empty strings is a few bytes: its count is bounded by the rows
        // asked for, not by the section's size.
        let empty = vec![b""; 65_536];
        let mut buf = Vec::new();
        encode_plain_block(&empty, None, &mut buf);
        assert!(buf.len() < 32);
        assert_eq!(
            decode_plain_block(&buf, 65_536).expect("decode").len(),
            65_536
        );
        // Codes are not a plain block.
        let mut codes = Vec::new();
        encode_block(&Values::Codes(vec![1, 2]), None, &mut codes);
        assert!(decode_plain_block(&codes, 2).is_err());
    }

    #[test]
    fn sparse_round_trip_truncation_and_bad_positions() {
        let rows = 10;
        let positions = [1u32, 4, 9];
        let cases = [
            (ColumnType::Bool, Values::Bool(vec![true, false, true])),
            (ColumnType::Int, Values::Int(vec![5, -3, i64::MAX])),
            (ColumnType::Float, Values::Float(vec![0.5, -1e300, 2.0])),
            (ColumnType::Str, Values::Codes(vec![2, 7, 3])),
        ];
        for (ty, present) in cases {
            let mut buf = Vec::new();
            encode_sparse_block(&present, &positions, &mut buf);
            let b = decode_block(&buf, ty, rows).expect("decode");
            let validity: Vec<bool> = (0..rows as u32).map(|i| positions.contains(&i)).collect();
            assert_eq!(b.validity.as_deref(), Some(&validity[..]));
            // Null rows hold the placeholder (false, 0, 0.0, code 0).
            fn dense<T: Copy + Default>(p: &[T], positions: &[u32], rows: usize) -> Vec<T> {
                let mut v = vec![T::default(); rows];
                for (&i, &x) in positions.iter().zip(p) {
                    v[i as usize] = x;
                }
                v
            }
            let want = match &present {
                Values::Bool(p) => Values::Bool(dense(p, &positions, rows)),
                Values::Int(p) => Values::Int(dense(p, &positions, rows)),
                Values::Float(p) => Values::Float(dense(p, &positions, rows)),
                Values::Codes(p) => Values::Codes(dense(p, &positions, rows)),
            };
            assert_eq!(b.values, want, "{ty:?}");
            for cut in 0..buf.len() {
                assert!(
                    decode_block(&buf[..cut], ty, rows).is_err(),
                    "cut {cut} of {ty:?}"
                );
            }
            // Positions past the block's rows, more values than rows.
            assert!(
                decode_block(&buf, ty, 9).is_err(),
                "{ty:?}: position 9 of 9 rows"
            );
            assert!(
                decode_block(&buf, ty, 2).is_err(),
                "{ty:?}: 3 values in 2 rows"
            );
        }
        // Positions must increase strictly.
        for bad in [[4u32, 1, 9], [1, 1, 9]] {
            let mut buf = Vec::new();
            encode_sparse_block(&Values::Int(vec![1, 2, 3]), &bad, &mut buf);
            assert!(
                decode_block(&buf, ColumnType::Int, rows).is_err(),
                "{bad:?}"
            );
        }
        // An all-null block is a few bytes, and the sparse flag combines with no other.
        let mut buf = Vec::new();
        encode_sparse_block(&Values::Codes(Vec::new()), &[], &mut buf);
        assert!(buf.len() < 16, "{} bytes", buf.len());
        let b = decode_block(&buf, ColumnType::Str, 65_536).expect("decode");
        assert_eq!(b.values, Values::Codes(vec![0; 65_536]));
        assert_eq!(b.validity, Some(vec![false; 65_536]));
        buf[0] |= HAS_NULLS;
        assert!(decode_block(&buf, ColumnType::Str, 65_536).is_err());
        buf[0] = SPARSE | PLAIN_STRINGS;
        assert!(decode_plain_block(&buf, 65_536).is_err());
    }

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
