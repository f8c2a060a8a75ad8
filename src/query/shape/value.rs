//! Group-key values and aggregate states, and their spill encoding.
//!
//! Pure: no I/O. `KeyValue` orders naturally (numbers numerically, times chronologically);
//! `AggState`s merge associatively, so partial results from segments, threads and spill runs
//! combine in any order to the same answer.

use std::collections::HashSet;
use std::sync::Arc;

use crate::codec::bytes::{self as b, ByteReader};
use crate::codec::DecodeError;

use crate::query::hll::Hll;
use crate::query::plan::AggFn;

/// The distinct values of a `count_distinct` (ahash: the default SipHash was a sixth of the
/// query's time).
pub type KeySet = HashSet<KeyValue, ahash::RandomState>;

/// An order-preserving encoding of an f64 (total order, -0 < +0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct F64Key(u64);

impl F64Key {
    /// Encode.
    pub fn new(f: f64) -> F64Key {
        let bits = f.to_bits();
        F64Key(if bits >> 63 == 1 {
            !bits
        } else {
            bits | (1 << 63)
        })
    }

    /// Decode.
    pub fn get(self) -> f64 {
        let b = self.0;
        f64::from_bits(if b >> 63 == 1 { b & !(1 << 63) } else { !b })
    }
}

/// One part of a group key, after segment-local codes were turned into values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(F64Key),
    /// A time or time-bucket start, ns UTC.
    Time(i64),
    Str(Arc<str>),
}

impl KeyValue {
    /// Rough heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            KeyValue::Str(s) => s.len() + 16,
            _ => 0,
        }
    }
}

/// The state of one aggregate in one group.
#[derive(Clone, Debug, PartialEq)]
pub enum AggState {
    Count(u64),
    Sum {
        sum: f64,
        n: u64,
    },
    Min(Option<f64>),
    Max(Option<f64>),
    Avg {
        sum: f64,
        n: u64,
    },
    /// Boxed so the common states stay small (24 bytes).
    Distinct(Box<KeySet>),
    /// The sketch of an `approx_count_distinct`.
    Approx(Box<Hll>),
}

impl AggState {
    /// The empty state of `f`.
    pub fn new(f: AggFn) -> AggState {
        match f {
            AggFn::Count => AggState::Count(0),
            AggFn::Sum => AggState::Sum { sum: 0.0, n: 0 },
            AggFn::Min => AggState::Min(None),
            AggFn::Max => AggState::Max(None),
            AggFn::Avg => AggState::Avg { sum: 0.0, n: 0 },
            AggFn::CountDistinct => AggState::Distinct(Box::default()),
            AggFn::ApproxCountDistinct => AggState::Approx(Box::default()),
        }
    }

    /// Merge `o` (of the same function) into `self`.
    pub fn merge(&mut self, o: AggState) {
        match (self, o) {
            (AggState::Count(a), AggState::Count(b)) => *a += b,
            (AggState::Sum { sum, n }, AggState::Sum { sum: s2, n: n2 })
            | (AggState::Avg { sum, n }, AggState::Avg { sum: s2, n: n2 }) => {
                *sum += s2;
                *n += n2;
            }
            (AggState::Min(a), AggState::Min(b)) => *a = opt(*a, b, f64::min),
            (AggState::Max(a), AggState::Max(b)) => *a = opt(*a, b, f64::max),
            (AggState::Distinct(a), AggState::Distinct(b)) => {
                if a.len() < b.len() {
                    let small = std::mem::replace(a, b);
                    a.extend(*small);
                } else {
                    a.extend(*b);
                }
            }
            (AggState::Approx(a), AggState::Approx(b)) => a.merge(&b),
            _ => {}
        }
    }

    /// Merge a copy (for totals).
    pub fn merge_ref(&mut self, o: &AggState) {
        self.merge(o.clone());
    }

    /// The result as a number (None = empty: no value to show).
    pub fn result(&self) -> Option<f64> {
        match self {
            AggState::Count(c) => Some(*c as f64),
            AggState::Sum { sum, n } => (*n > 0).then_some(*sum),
            AggState::Min(v) | AggState::Max(v) => *v,
            AggState::Avg { sum, n } => (*n > 0).then(|| sum / *n as f64),
            AggState::Distinct(s) => Some(s.len() as f64),
            AggState::Approx(h) => Some(h.estimate() as f64),
        }
    }

    /// Is the result an integer count?
    pub fn is_count(&self) -> bool {
        matches!(
            self,
            AggState::Count(_) | AggState::Distinct(_) | AggState::Approx(_)
        )
    }

    /// Rough heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            AggState::Distinct(s) => s.iter().map(|k| k.heap_bytes() + 40).sum::<usize>() + 48,
            AggState::Approx(h) => h.heap_bytes() + 32,
            _ => 0,
        }
    }
}

fn opt(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Append a key value.
pub fn put_key(out: &mut Vec<u8>, k: &KeyValue) {
    match k {
        KeyValue::Null => b::put_u8(out, 0),
        KeyValue::Bool(v) => {
            b::put_u8(out, 1);
            b::put_u8(out, u8::from(*v));
        }
        KeyValue::Int(v) => {
            b::put_u8(out, 2);
            b::put_i64_le(out, *v);
        }
        KeyValue::Float(v) => {
            b::put_u8(out, 3);
            b::put_u64_le(out, v.0);
        }
        KeyValue::Time(v) => {
            b::put_u8(out, 4);
            b::put_i64_le(out, *v);
        }
        KeyValue::Str(s) => put_str_key(out, s),
    }
}

/// Append the encoding of `KeyValue::Str(s)` (without building one).
pub fn put_str_key(out: &mut Vec<u8>, s: &str) {
    b::put_u8(out, 5);
    b::put_len_prefixed(out, s.as_bytes());
}

/// Read a key value.
pub fn get_key(r: &mut ByteReader<'_>) -> Result<KeyValue, DecodeError> {
    let at = r.pos();
    Ok(match r.read_u8()? {
        0 => KeyValue::Null,
        1 => KeyValue::Bool(r.read_u8()? != 0),
        2 => KeyValue::Int(r.read_i64_le()?),
        3 => KeyValue::Float(F64Key(r.read_u64_le()?)),
        4 => KeyValue::Time(r.read_i64_le()?),
        5 => {
            let bytes = r.read_len_prefixed()?;
            KeyValue::Str(String::from_utf8_lossy(bytes).into())
        }
        id => {
            return Err(DecodeError::UnknownCodec {
                offset: at,
                kind: "key value",
                id,
            })
        }
    })
}

/// Step over one key value written by [`put_key`] without building it.
pub fn skip_key(r: &mut ByteReader<'_>) -> Result<(), DecodeError> {
    let at = r.pos();
    match r.read_u8()? {
        0 => {}
        1 => {
            r.read_u8()?;
        }
        2..=4 => {
            r.read_bytes(8)?;
        }
        5 => {
            r.read_len_prefixed()?;
        }
        id => {
            return Err(DecodeError::UnknownCodec {
                offset: at,
                kind: "key value",
                id,
            })
        }
    }
    Ok(())
}

/// Append an aggregate state.
pub fn put_state(out: &mut Vec<u8>, s: &AggState) {
    let opt_f = |out: &mut Vec<u8>, v: &Option<f64>| match v {
        Some(x) => {
            b::put_u8(out, 1);
            b::put_f64_le(out, *x);
        }
        None => b::put_u8(out, 0),
    };
    match s {
        AggState::Count(c) => {
            b::put_u8(out, 0);
            b::put_varint_u64(out, *c);
        }
        AggState::Sum { sum, n } | AggState::Avg { sum, n } => {
            b::put_u8(
                out,
                if matches!(s, AggState::Sum { .. }) {
                    1
                } else {
                    4
                },
            );
            b::put_f64_le(out, *sum);
            b::put_varint_u64(out, *n);
        }
        AggState::Min(v) => {
            b::put_u8(out, 2);
            opt_f(out, v);
        }
        AggState::Max(v) => {
            b::put_u8(out, 3);
            opt_f(out, v);
        }
        AggState::Distinct(set) => {
            b::put_u8(out, 5);
            b::put_varint_u64(out, set.len() as u64);
            for k in set.iter() {
                put_key(out, k);
            }
        }
        AggState::Approx(h) => {
            b::put_u8(out, 6);
            h.encode(out);
        }
    }
}

/// Read an aggregate state.
pub fn get_state(r: &mut ByteReader<'_>) -> Result<AggState, DecodeError> {
    let at = r.pos();
    let opt_f = |r: &mut ByteReader<'_>| -> Result<Option<f64>, DecodeError> {
        Ok(if r.read_u8()? == 1 {
            Some(r.read_f64_le()?)
        } else {
            None
        })
    };
    Ok(match r.read_u8()? {
        0 => AggState::Count(r.read_varint_u64()?),
        1 => AggState::Sum {
            sum: r.read_f64_le()?,
            n: r.read_varint_u64()?,
        },
        4 => AggState::Avg {
            sum: r.read_f64_le()?,
            n: r.read_varint_u64()?,
        },
        2 => AggState::Min(opt_f(r)?),
        3 => AggState::Max(opt_f(r)?),
        5 => {
            let n = r.read_varint_u64()?;
            if n > r.remaining() as u64 {
                return Err(DecodeError::Invalid {
                    offset: at,
                    what: "distinct set larger than the spill run",
                });
            }
            let mut set = KeySet::with_capacity_and_hasher(n as usize, Default::default());
            for _ in 0..n {
                set.insert(get_key(r)?);
            }
            AggState::Distinct(Box::new(set))
        }
        6 => AggState::Approx(Box::new(Hll::decode(r)?)),
        id => {
            return Err(DecodeError::UnknownCodec {
                offset: at,
                kind: "aggregate state",
                id,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_key_orders() {
        let xs = [-1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::INFINITY];
        for w in xs.windows(2) {
            assert!(F64Key::new(w[0]) < F64Key::new(w[1]), "{w:?}");
            assert_eq!(F64Key::new(w[0]).get().to_bits(), w[0].to_bits());
        }
    }

    #[test]
    fn spill_encoding_round_trips() {
        let keys = [
            KeyValue::Null,
            KeyValue::Bool(true),
            KeyValue::Int(-5),
            KeyValue::Float(F64Key::new(2.5)),
            KeyValue::Time(7),
            KeyValue::Str("é".into()),
        ];
        let states = [
            AggState::Count(9),
            AggState::Sum { sum: 1.5, n: 2 },
            AggState::Min(None),
            AggState::Max(Some(3.0)),
            AggState::Avg { sum: 4.0, n: 2 },
            AggState::Distinct(Box::new(keys.iter().cloned().collect())),
            AggState::Approx(Box::new({
                let mut h = Hll::default();
                keys.iter().for_each(|k| h.insert(k));
                h
            })),
        ];
        let mut buf = Vec::new();
        for k in &keys {
            put_key(&mut buf, k);
        }
        for s in &states {
            put_state(&mut buf, s);
        }
        let mut r = ByteReader::new(&buf);
        for k in &keys {
            assert_eq!(&get_key(&mut r).expect("key"), k);
        }
        for s in &states {
            assert_eq!(&get_state(&mut r).expect("state"), s);
        }
        assert_eq!(r.remaining(), 0);
    }
}
