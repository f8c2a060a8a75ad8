//! `score`'s learned value table: per field, the values that are evidence (by their 64-bit
//! [`super::contrast::value_hash`]) and each one's smoothed probability.
//!
//! Owns: a compact, read-only layout for millions of values, and its lookup. The hashes are
//! sorted in one `Vec<u64>`; a directory on their top bits (about eight values a slot) narrows
//! a lookup to a short run, so a lookup touches two or three cache lines. Probabilities are
//! few: they depend only on a value's (suspect, baseline) counts, and most values share a
//! handful of small counts. Each value holds a 4-byte index into the table of distinct
//! probabilities. That is 12 bytes a value and one directory entry per eight values, where a
//! `HashMap<u64, f64>` took 16 bytes a slot at up to 7/8 load, doubled by the power-of-two
//! growth: 2.9M client IPs and paths take 36 MB instead of 70 to 130 MB.
//!
//! It must not: know about fields, segments or the scan; panic on any input.
//!
//! Documented decisions: two values of a field with one hash (about n²/2⁶⁵) keep the entry
//! that sorts first by (hash, probability bits), so the table does not depend on the order
//! it was built in; iteration is in hash order.

use std::collections::HashMap;

/// A field's evidence values and their probabilities.
#[derive(Clone, Debug, Default)]
pub struct ValueProbs {
    /// `dir[s]..dir[s + 1]` is the run of `keys` whose top `bits` bits are `s`.
    dir: Vec<u32>,
    bits: u32,
    /// Value hashes, ascending, unique.
    keys: Vec<u64>,
    /// `probs[cls[i]]` is the probability of `keys[i]`.
    cls: Vec<u32>,
    probs: Vec<f64>,
}

impl ValueProbs {
    /// A table of `(hash, probability)` entries in any order.
    pub fn from_entries(entries: Vec<(u64, f64)>) -> ValueProbs {
        let mut ids: HashMap<u64, u32> = HashMap::new();
        let mut probs = Vec::new();
        let mut classed = Vec::with_capacity(entries.len());
        for (h, p) in entries {
            let next = probs.len() as u32;
            let c = *ids.entry(p.to_bits()).or_insert_with(|| {
                probs.push(p);
                next
            });
            classed.push((h, c));
        }
        ValueProbs::from_classes(classed, &probs)
    }

    /// A table of `(hash, class)` entries in any order, `probs[class]` being the probability
    /// (the table keeps the probabilities its entries use). Entries whose class is not in
    /// `probs` are dropped.
    pub fn from_classes(mut entries: Vec<(u64, u32)>, probs: &[f64]) -> ValueProbs {
        entries.retain(|&(_, c)| (c as usize) < probs.len());
        let bits_of = |c: u32| probs.get(c as usize).map_or(0, |p| p.to_bits());
        entries.sort_unstable_by_key(|&(h, c)| (h, bits_of(c)));
        entries.dedup_by_key(|e| e.0);
        let n = entries.len();
        // About eight values a directory slot, at most 2^20 slots (4 MiB).
        let bits = (usize::BITS - (n / 8).leading_zeros()).min(20);
        let mut keys = Vec::with_capacity(n);
        let mut cls = Vec::with_capacity(n);
        let mut remap = vec![u32::MAX; probs.len()];
        let mut used = Vec::new();
        for (h, c) in entries {
            let Some(r) = remap.get_mut(c as usize) else {
                continue;
            };
            if *r == u32::MAX {
                *r = used.len() as u32;
                used.push(probs.get(c as usize).copied().unwrap_or(0.5));
            }
            keys.push(h);
            cls.push(*r);
        }
        let probs = used;
        let n = keys.len();
        let slots = 1usize << bits;
        let mut dir = Vec::with_capacity(slots + 1);
        let mut i = 0;
        for s in 0..slots {
            while keys.get(i).is_some_and(|&h| slot(h, bits) < s) {
                i += 1;
            }
            dir.push(i as u32);
        }
        dir.push(n as u32);
        ValueProbs {
            dir,
            bits,
            keys,
            cls,
            probs,
        }
    }

    /// The probability of the value with hash `h`, if it is evidence.
    #[inline]
    pub fn get(&self, h: u64) -> Option<f64> {
        let s = slot(h, self.bits);
        let lo = *self.dir.get(s)? as usize;
        let hi = *self.dir.get(s + 1)? as usize;
        let run = self.keys.get(lo..hi)?;
        let i = run.binary_search(&h).ok()?;
        let c = *self.cls.get(lo + i)?;
        self.probs.get(c as usize).copied()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every `(hash, probability)`, in hash order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, f64)> + '_ {
        self.keys.iter().zip(&self.cls).map(|(&h, &c)| {
            let p = self.probs.get(c as usize).copied().unwrap_or(0.5);
            (h, p)
        })
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.dir.capacity() * 4
            + self.keys.capacity() * 8
            + self.cls.capacity() * 4
            + self.probs.capacity() * 8
    }
}

/// The directory slot of `h`: its top `bits` bits.
#[inline]
fn slot(h: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (h >> (64 - bits)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model(entries: &[(u64, f64)]) -> HashMap<u64, f64> {
        // The documented tie rule: the smallest probability bits of a hash win.
        let mut m: HashMap<u64, f64> = HashMap::new();
        for &(h, p) in entries {
            let e = m.entry(h).or_insert(p);
            if p.to_bits() < e.to_bits() {
                *e = p;
            }
        }
        m
    }

    fn check(entries: Vec<(u64, f64)>, probes: &[u64]) {
        let want = model(&entries);
        let t = ValueProbs::from_entries(entries);
        assert_eq!(t.len(), want.len());
        for (h, p) in &want {
            assert_eq!(t.get(*h).map(f64::to_bits), Some(p.to_bits()), "{h:x}");
        }
        for h in probes {
            assert_eq!(t.get(*h), want.get(h).copied(), "{h:x}");
        }
        let listed: Vec<(u64, f64)> = t.iter().collect();
        assert!(listed.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(listed.len(), want.len());
    }

    #[test]
    fn empty_and_edges() {
        let t = ValueProbs::from_entries(Vec::new());
        assert!(t.is_empty());
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(u64::MAX), None);
        check(
            vec![
                (0, 0.9),
                (u64::MAX, 0.1),
                (1 << 63, 0.2),
                ((1 << 63) - 1, 0.3),
            ],
            &[1, u64::MAX - 1, 7],
        );
    }

    #[test]
    fn many_values_few_probabilities() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut entries = Vec::new();
        for i in 0..200_000u64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            entries.push((x, [0.05, 0.2, 0.95][(i % 3) as usize]));
        }
        let probes: Vec<u64> = entries.iter().map(|e| e.0 ^ 1).take(1000).collect();
        let t = ValueProbs::from_entries(entries.clone());
        assert_eq!(t.probs.len(), 3);
        assert!(t.heap_bytes() < 200_000 * 14, "{}", t.heap_bytes());
        check(entries, &probes);
    }

    #[test]
    fn classes_out_of_range_are_dropped() {
        let t = ValueProbs::from_classes(vec![(5, 0), (6, 3)], &[0.8]);
        assert_eq!((t.len(), t.get(5), t.get(6)), (1, Some(0.8), None));
    }

    proptest! {
        #[test]
        fn matches_a_hash_map(
            entries in proptest::collection::vec((any::<u64>(), 0u8..8), 0..600),
            small in proptest::collection::vec((0u64..64, 0u8..8), 0..100),
            probes in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            let all: Vec<(u64, f64)> = entries
                .into_iter()
                .chain(small)
                .map(|(h, c)| (h, f64::from(c) / 8.0))
                .collect();
            let mut probes = probes;
            probes.extend(0u64..70);
            check(all, &probes);
        }
    }
}
