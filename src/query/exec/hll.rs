//! HyperLogLog sketches for `approx_count_distinct(F)`.
//!
//! Pure: no I/O. A sketch starts sparse, as HLL++'s (Heule, Nunkesser and Hall 2013): a
//! sorted list of 25-bit indexes and their ranks, 4 bytes an entry, estimated by linear
//! counting over 2^25 indexes, so up to 1,024 distinct values the count is exact but for
//! hash collisions (about n²/2^26 of them: 0.02 at 1,000 values). Past 1,024 entries it
//! turns dense: 2^14 registers (precision 14, 16 KiB), whose relative standard error is
//! 1.04/√16384 ≈ 0.81%, so about 95% of estimates fall within ±1.6% and 99.7% within ±2.4%
//! of the exact count. The dense estimate is Ertl's improved estimator ("New cardinality
//! estimation algorithms for HyperLogLog sketches", 2017, algorithm 6): unbiased up to 2^64
//! without bias tables. A group with few values costs bytes, not 16 KiB.
//!
//! Sketches merge register by register (the maximum), in any order
//! and any grouping, to the sketch of the union: partial sketches from segments, threads,
//! spill runs (and machines) combine to the same estimate as one sketch over all values.
//!
//! Values are hashed with [`hash_key`], a 64-bit hash written out here (not the standard
//! library's or ahash's, which differ between builds and CPUs), so a sketch means the same on
//! every machine and in every version of this encoding.

use crate::codec::bytes::{self as b, ByteReader};
use crate::codec::DecodeError;

use crate::query::value::KeyValue;

/// Index bits.
pub const PRECISION: u32 = 14;
/// Registers.
pub const REGISTERS: usize = 1 << PRECISION;
/// The relative standard error of a dense sketch's estimate: 1.04/√m.
pub const STANDARD_ERROR: f64 = 1.04 / 128.0;
/// Bits left for the rank after the index.
const Q: u32 = 64 - PRECISION;
/// Index bits of a sparse entry (HLL++'s p').
const SPARSE_PRECISION: u32 = 25;
/// Sparse entries before a sketch turns dense (4 KiB, a quarter of the dense registers).
pub const SPARSE_MAX: usize = 1024;

/// A HyperLogLog sketch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hll {
    /// Entries `index25 << 6 | rank25` at precision 25 (as HLL++'s sparse form), sorted by
    /// index, one entry an index: a few hundred values are counted without the collisions of
    /// 14-bit indexes.
    Sparse(Vec<u32>),
    /// Every register's rank at precision 14 (0 = unset).
    Dense(Box<[u8]>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Sparse(Vec::new())
    }
}

/// The index and rank of a hash at precision `p`: the top `p` bits, and one more than the
/// leading zeros of the rest (at most 64 - p + 1).
fn split(h: u64, p: u32) -> (u32, u8) {
    let index = (h >> (64 - p)) as u32;
    let rank = ((h << p).leading_zeros().min(64 - p) + 1) as u8;
    (index, rank)
}

/// A sparse entry's dense register and rank: the 11 index bits below the top 14 are the
/// first bits of the dense rank's bit string.
fn to_dense(e: u32) -> (usize, u8) {
    let idx = e >> 6;
    let rank = (e & 63) as u8;
    let low = idx & ((1 << (SPARSE_PRECISION - PRECISION)) - 1);
    let dense_rank = if low == 0 {
        (SPARSE_PRECISION - PRECISION) as u8 + rank
    } else {
        (low.leading_zeros() - (32 - (SPARSE_PRECISION - PRECISION))) as u8 + 1
    };
    ((idx >> (SPARSE_PRECISION - PRECISION)) as usize, dense_rank)
}

impl Hll {
    /// Add a value by its hash ([`hash_key`]).
    pub fn insert_hash(&mut self, h: u64) {
        match self {
            Hll::Dense(r) => {
                let (index, rank) = split(h, PRECISION);
                if let Some(slot) = r.get_mut(index as usize) {
                    *slot = (*slot).max(rank);
                }
            }
            Hll::Sparse(list) => {
                let (index, rank) = split(h, SPARSE_PRECISION);
                let e = index << 6 | u32::from(rank);
                match list.binary_search_by_key(&index, |e| e >> 6) {
                    Ok(i) => list[i] = list[i].max(e),
                    Err(i) => list.insert(i, e),
                }
                if list.len() > SPARSE_MAX {
                    self.densify();
                }
            }
        }
    }

    /// The sketch of `n` hashes at once: the sparse entries sorted once (inserting them one
    /// by one moves the list on every insert), or dense from the start past four times what a
    /// sparse sketch holds. Its registers are those of inserting the hashes one by one; when
    /// the hashes are of distinct values (as every caller's are), so is its form, and so its
    /// estimate.
    pub fn from_hashes(hashes: impl IntoIterator<Item = u64>, n: usize) -> Hll {
        if n > 4 * SPARSE_MAX {
            let mut h = Hll::Dense(vec![0u8; REGISTERS].into_boxed_slice());
            hashes.into_iter().for_each(|x| h.insert_hash(x));
            return h;
        }
        let mut list: Vec<u32> = hashes
            .into_iter()
            .map(|x| {
                let (index, rank) = split(x, SPARSE_PRECISION);
                index << 6 | u32::from(rank)
            })
            .collect();
        list.sort_unstable();
        // Of equal indexes the largest rank, which sorts last.
        list.reverse();
        list.dedup_by_key(|e| *e >> 6);
        list.reverse();
        let mut h = Hll::Sparse(list);
        if let Hll::Sparse(l) = &h {
            if l.len() > SPARSE_MAX {
                h.densify();
            }
        }
        h
    }

    /// Add a value.
    pub fn insert(&mut self, k: &KeyValue) {
        self.insert_hash(hash_key(k));
    }

    fn densify(&mut self) {
        if let Hll::Sparse(list) = self {
            let mut r = vec![0u8; REGISTERS].into_boxed_slice();
            for &e in list.iter() {
                let (i, rank) = to_dense(e);
                if let Some(slot) = r.get_mut(i) {
                    *slot = (*slot).max(rank);
                }
            }
            *self = Hll::Dense(r);
        }
    }

    /// Merge `o` into `self`: the sketch of the union.
    pub fn merge(&mut self, o: &Hll) {
        match (&mut *self, o) {
            (Hll::Dense(a), Hll::Dense(b)) => {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x = (*x).max(*y);
                }
            }
            (Hll::Dense(a), Hll::Sparse(list)) => {
                for &e in list {
                    let (i, rank) = to_dense(e);
                    if let Some(slot) = a.get_mut(i) {
                        *slot = (*slot).max(rank);
                    }
                }
            }
            (Hll::Sparse(_), Hll::Dense(_)) => {
                let mut d = o.clone();
                d.merge(self);
                *self = d;
            }
            (Hll::Sparse(a), Hll::Sparse(bl)) => {
                let mut out = Vec::with_capacity(a.len() + bl.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() && j < bl.len() {
                    let (x, y) = (a[i], bl[j]);
                    match (x >> 6).cmp(&(y >> 6)) {
                        std::cmp::Ordering::Less => {
                            out.push(x);
                            i += 1;
                        }
                        std::cmp::Ordering::Greater => {
                            out.push(y);
                            j += 1;
                        }
                        std::cmp::Ordering::Equal => {
                            out.push(x.max(y));
                            i += 1;
                            j += 1;
                        }
                    }
                }
                out.extend_from_slice(&a[i..]);
                out.extend_from_slice(&bl[j..]);
                *a = out;
                if a.len() > SPARSE_MAX {
                    self.densify();
                }
            }
        }
    }

    /// How many registers hold each rank: `c[k]` for k in 0..=Q+1.
    fn histogram(&self) -> [u32; Q as usize + 2] {
        let mut c = [0u32; Q as usize + 2];
        match self {
            Hll::Dense(r) => {
                for &x in r.iter() {
                    c[usize::from(x).min(Q as usize + 1)] += 1;
                }
            }
            Hll::Sparse(_) => {
                let mut d = self.clone();
                d.densify();
                return d.histogram();
            }
        }
        c
    }

    /// The estimated number of distinct values: linear counting over the 2^25 sparse
    /// indexes while sparse (HLL++), Ertl's estimator once dense.
    pub fn estimate(&self) -> u64 {
        if let Hll::Sparse(list) = self {
            let m = (1u64 << SPARSE_PRECISION) as f64;
            let empty = m - list.len() as f64;
            return (m * (m / empty).ln()).round() as u64;
        }
        let c = self.histogram();
        let m = REGISTERS as f64;
        if c[0] as usize == REGISTERS {
            return 0;
        }
        let mut z = m * tau(1.0 - f64::from(c[Q as usize + 1]) / m);
        for k in (1..=Q as usize).rev() {
            z = 0.5 * (z + f64::from(c[k]));
        }
        z += m * sigma(f64::from(c[0]) / m);
        let alpha = 0.5 / std::f64::consts::LN_2;
        (alpha * m * m / z).round() as u64
    }

    /// Heap bytes, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hll::Sparse(l) => l.capacity() * 4,
            Hll::Dense(r) => r.len(),
        }
    }

    /// Append the sketch: a tag (0 sparse, 1 dense), then the entries (count, then
    /// little-endian u32s) or the 2^14 register bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Hll::Sparse(list) => {
                b::put_u8(out, 0);
                b::put_varint_u64(out, list.len() as u64);
                for &e in list {
                    b::put_u32_le(out, e);
                }
            }
            Hll::Dense(r) => {
                b::put_u8(out, 1);
                out.extend_from_slice(r);
            }
        }
    }

    /// Read a sketch written by [`Hll::encode`], checking what a merge relies on (sorted
    /// distinct indexes, ranks in range).
    pub fn decode(r: &mut ByteReader<'_>) -> Result<Hll, DecodeError> {
        let at = r.pos();
        let bad = |what| DecodeError::Invalid { offset: at, what };
        match r.read_u8()? {
            0 => {
                let n = r.read_varint_u64()?;
                if n > SPARSE_MAX as u64 || n.saturating_mul(4) > r.remaining() as u64 {
                    return Err(bad("sketch longer than a sparse sketch or its bytes"));
                }
                let mut list = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let e = r.read_u32_le()?;
                    let rank = e & 63;
                    if rank == 0
                        || rank > 64 - SPARSE_PRECISION + 1
                        || e >> 6 >= 1 << SPARSE_PRECISION
                    {
                        return Err(bad("sketch register out of range"));
                    }
                    if list.last().is_some_and(|&p: &u32| p >> 6 >= e >> 6) {
                        return Err(bad("sketch registers out of order"));
                    }
                    list.push(e);
                }
                Ok(Hll::Sparse(list))
            }
            1 => {
                let bytes = r.read_bytes(REGISTERS)?;
                if bytes.iter().any(|&x| u32::from(x) > Q + 1) {
                    return Err(bad("sketch register out of range"));
                }
                Ok(Hll::Dense(bytes.to_vec().into_boxed_slice()))
            }
            id => Err(DecodeError::UnknownCodec {
                offset: at,
                kind: "distinct-count sketch",
                id,
            }),
        }
    }
}

/// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1) (Ertl, eq. 8).
fn sigma(mut x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

/// τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))^2 2^-k) / 3 (Ertl, eq. 11).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// murmur3's 64-bit finaliser: a bijection that mixes every bit into every other.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A pinned 64-bit hash of a tagged byte string: little-endian words through [`fmix64`],
/// the length and tag mixed in. The same on every CPU, build and version of this format.
pub fn hash_bytes(tag: u8, bytes: &[u8]) -> u64 {
    let mut h = u64::from(tag).wrapping_mul(GOLDEN) ^ (bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in words.by_ref() {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h = fmix64(h ^ u64::from_le_bytes(a).wrapping_mul(GOLDEN));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut a = [0u8; 8];
        a[..tail.len()].copy_from_slice(tail);
        h = fmix64(h ^ u64::from_le_bytes(a).wrapping_mul(GOLDEN));
    }
    fmix64(h ^ GOLDEN)
}

/// The pinned hash of a value: its type (as `count_distinct` tells values apart: the number
/// 5 and the text "5" are two values) and its bytes.
pub fn hash_key(k: &KeyValue) -> u64 {
    match k {
        KeyValue::Null => hash_bytes(0, &[]),
        KeyValue::Bool(v) => hash_bytes(1, &[u8::from(*v)]),
        KeyValue::Int(v) => hash_bytes(2, &v.to_le_bytes()),
        KeyValue::Float(v) => hash_bytes(3, &v.get().to_bits().to_le_bytes()),
        KeyValue::Time(v) => hash_bytes(4, &v.to_le_bytes()),
        KeyValue::Str(s) => hash_str(s),
    }
}

/// [`hash_key`] of `KeyValue::Str(s)` (without building one).
pub fn hash_str(s: &str) -> u64 {
    hash_bytes(5, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(range: std::ops::Range<u64>) -> Hll {
        let mut h = Hll::default();
        for i in range {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            h.insert(&KeyValue::Str(ip.into()));
        }
        h
    }

    #[test]
    fn estimates_within_the_documented_bound() {
        for n in [
            0u64, 1, 2, 10, 100, 1_000, 5_000, 20_000, 100_000, 1_000_000,
        ] {
            let est = sketch(0..n).estimate();
            let err = (est as f64 - n as f64).abs() / (n.max(1) as f64);
            // 4 standard errors; small counts are exact in practice.
            assert!(err <= 4.0 * STANDARD_ERROR, "n={n} est={est} err={err}");
            if n <= 1000 {
                // Sparse: linear counting over 2^25 indexes.
                assert!(est.abs_diff(n) <= 1, "small counts: n={n} est={est}");
            }
        }
    }

    #[test]
    fn error_over_many_sketches_matches_the_standard_error() {
        // 200 independent sketches of 50,000 values: the RMS relative error is the
        // documented standard error, within sampling noise.
        let n = 50_000u64;
        let mut sq = 0.0;
        let runs = 200u64;
        for r in 0..runs {
            let mut h = Hll::default();
            for i in 0..n {
                h.insert(&KeyValue::Int((r * n + i) as i64));
            }
            let e = (h.estimate() as f64 - n as f64) / n as f64;
            sq += e * e;
        }
        let rms = (sq / runs as f64).sqrt();
        assert!(
            rms < 1.3 * STANDARD_ERROR && rms > 0.6 * STANDARD_ERROR,
            "rms={rms}"
        );
    }

    #[test]
    fn sparse_entries_become_the_dense_registers() {
        // A sketch that was sparse, then densified, holds the registers of one that was
        // dense from the start: the sparse entry's low index bits are the rank's first bits.
        for n in [1u64, 700, 1025, 5000] {
            let mut dense = Hll::Dense(vec![0u8; REGISTERS].into_boxed_slice());
            let mut h = Hll::default();
            for i in 0..n {
                let k = KeyValue::Int(i as i64 * 7919);
                dense.insert(&k);
                h.insert(&k);
            }
            h.densify();
            assert_eq!(h, dense, "n={n}");
        }
        // A rank that runs past the sparse index bits.
        let h = 1u64 << 10;
        let mut a = Hll::default();
        a.insert_hash(h);
        a.densify();
        let mut b = Hll::Dense(vec![0u8; REGISTERS].into_boxed_slice());
        b.insert_hash(h);
        assert_eq!(a, b);
    }

    #[test]
    fn a_sketch_made_at_once_is_the_one_made_value_by_value() {
        for (n, copies) in [
            (0u64, 1),
            (1, 2),
            (5, 3),
            (900, 2),
            (1024, 1),
            (1025, 1),
            (3000, 1),
        ]
        .into_iter()
        .chain([(5000, 1), (2000, 3)])
        {
            let hashes: Vec<u64> = (0..n)
                .flat_map(|i| vec![hash_key(&KeyValue::Int(i as i64)); copies])
                .collect();
            let mut one = Hll::default();
            hashes.iter().for_each(|&x| one.insert_hash(x));
            let at_once = Hll::from_hashes(hashes.iter().copied(), hashes.len());
            let mut a = one.clone();
            a.densify();
            let mut b = at_once.clone();
            b.densify();
            assert_eq!(a, b, "n={n}");
            if copies == 1 || hashes.len() <= 4 * SPARSE_MAX {
                assert_eq!(one.estimate(), at_once.estimate(), "n={n}");
            }
        }
    }

    #[test]
    fn merge_is_the_sketch_of_the_union() {
        for (a, b) in [(0..10, 5..20), (0..3000, 1000..9000), (0..50, 0..40_000)] {
            let whole = sketch(a.start.min(b.start)..a.end.max(b.end));
            let (sa, sb) = (sketch(a), sketch(b));
            let mut ab = sa.clone();
            ab.merge(&sb);
            let mut ba = sb.clone();
            ba.merge(&sa);
            for x in [&ab, &ba] {
                let mut d = x.clone();
                d.densify();
                let mut w = whole.clone();
                w.densify();
                assert_eq!(d, w);
                assert_eq!(x.estimate(), whole.estimate());
            }
        }
    }

    #[test]
    fn encoding_round_trips_and_rejects_bad_bytes() {
        for s in [sketch(0..0), sketch(0..100), sketch(0..100_000)] {
            let mut buf = Vec::new();
            s.encode(&mut buf);
            let got = Hll::decode(&mut ByteReader::new(&buf)).expect("decode");
            assert_eq!(got, s);
        }
        let mut buf = Vec::new();
        sketch(0..5).encode(&mut buf);
        // Out of order.
        let (a, b) = (buf[2..6].to_vec(), buf[6..10].to_vec());
        buf[2..6].copy_from_slice(&b);
        buf[6..10].copy_from_slice(&a);
        assert!(Hll::decode(&mut ByteReader::new(&buf)).is_err());
        assert!(Hll::decode(&mut ByteReader::new(&[1, 0, 0])).is_err());
        assert!(Hll::decode(&mut ByteReader::new(&[7])).is_err());
    }

    #[test]
    fn hash_is_pinned() {
        // These values are part of the sketch format: a change breaks merging with
        // sketches made by other versions.
        assert_eq!(hash_key(&KeyValue::Str("".into())), hash_bytes(5, b""));
        assert_ne!(
            hash_key(&KeyValue::Int(5)),
            hash_key(&KeyValue::Str("5".into()))
        );
        let pinned = [
            hash_key(&KeyValue::Null),
            hash_key(&KeyValue::Int(0)),
            hash_key(&KeyValue::Str("203.0.113.7".into())),
        ];
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [u64; 3] = [
        11_286_133_854_226_296_554,
        14_784_915_206_556_204_987,
        16_512_453_947_488_740_171,
    ];
}
