//! In-memory column builders for one segment.
//!
//! A `SegmentBuilder` receives events one at a time as (column name, value) pairs and keeps,
//! per column, a typed vector plus a validity bit set. Absent keys are nulls. When a column
//! sees a second type, it widens without losing a value (the rule is in docs/FORMAT.md):
//!
//! - int + float -> float64 when every int is exactly representable (|v| <= 2^53), else string;
//! - any other mix (bool with numbers, numbers with strings, JSON text) -> string, where numbers
//!   and booleans become their JSON text (`42`, `1.5`, `true`).
//!
//! Must not: do I/O or know the byte layout (that is `writer`).

use std::collections::HashMap;
use std::hash::BuildHasher;

use super::{flags, ColumnType, TIME_COLUMN};
use crate::codec::bytes::eq_bytes;

/// One value as it arrives from a parsed event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An unsigned integer above `i64::MAX`: kept exactly as text.
    BigUint(u64),
    Float(f64),
    Str(&'a str),
    /// JSON text of an array or an empty object.
    Json(&'a str),
}

/// Interns strings of one column and hands out dense codes in first-seen order.
///
/// The strings live in one arena, each behind a 4-byte length (no allocation per distinct
/// string). The table is open addressing with linear probing, at most half full; a slot holds
/// the upper 32 bits of the string's hash (which also place it), its code and its arena offset,
/// so a probe touches one slot and, only when the hash bits match, the arena. Strings arrive in
/// batches (`intern_batch`), which prefetch the slot and then the arena bytes a few strings
/// ahead: on a column with 100k distinct values both live in memory, not in cache.
pub struct Interner {
    table: Vec<Slot>,
    /// Arena offset of each code's length prefix.
    starts: Vec<u64>,
    arena: Vec<u8>,
    hasher: hashbrown::DefaultHashBuilder,
    bytes: usize,
    /// Per-batch scratch: the hash of each string.
    hashes: Vec<u64>,
}

#[derive(Clone, Copy)]
struct Slot {
    tag: u32,
    code: u32,
    start: u64,
}

const EMPTY: u32 = u32::MAX;
const EMPTY_SLOT: Slot = Slot {
    tag: 0,
    code: EMPTY,
    start: 0,
};
/// How far ahead the slot (and, at half the distance, the arena bytes) is prefetched.
const PREFETCH: usize = 16;

impl Default for Interner {
    fn default() -> Self {
        Interner {
            table: vec![EMPTY_SLOT; 16],
            starts: Vec::new(),
            arena: Vec::new(),
            hasher: Default::default(),
            bytes: 0,
            hashes: Vec::new(),
        }
    }
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Interner {
    fn at(&self, start: u64) -> &[u8] {
        let st = start as usize;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.arena[st..st + 4]);
        &self.arena[st + 4..st + 4 + u32::from_le_bytes(len) as usize]
    }

    fn slice(&self, code: u32) -> &[u8] {
        self.at(self.starts[code as usize])
    }

    /// The code of `s`, whose hash is `h`.
    #[inline]
    fn probe(&mut self, h: u64, s: &[u8]) -> u32 {
        let tag = (h >> 32) as u32;
        let mask = self.table.len() - 1;
        let mut i = tag as usize & mask;
        loop {
            let e = self.table[i];
            if e.code == EMPTY {
                return self.insert(i, tag, s);
            }
            if e.tag == tag && eq_bytes(self.at(e.start), s) {
                return e.code;
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let cap = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, vec![EMPTY_SLOT; cap]);
        let mask = cap - 1;
        for e in old.into_iter().filter(|e| e.code != EMPTY) {
            let mut i = e.tag as usize & mask;
            while self.table[i].code != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = e;
        }
    }

    fn insert(&mut self, mut i: usize, tag: u32, s: &[u8]) -> u32 {
        if (self.starts.len() + 1) * 2 > self.table.len() {
            self.grow();
            let mask = self.table.len() - 1;
            i = tag as usize & mask;
            while self.table[i].code != EMPTY {
                i = (i + 1) & mask;
            }
        }
        let code = self.starts.len() as u32;
        let start = self.arena.len() as u64;
        self.arena
            .extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.arena.extend_from_slice(s);
        self.starts.push(start);
        self.bytes += s.len();
        self.table[i] = Slot { tag, code, start };
        code
    }

    /// Heap bytes held: table, offsets and arena.
    pub fn heap_bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<Slot>() + self.starts.len() * 8 + self.arena.len()
    }

    /// The code of one string.
    pub fn intern(&mut self, s: &[u8]) -> u32 {
        let h = self.hasher.hash_one(s);
        self.probe(h, s)
    }

    /// Intern every string of `batch`, writing the code of its `i`-th string to
    /// `codes[batch.rows[i]]`.
    fn intern_batch(&mut self, batch: &Pending, codes: &mut Codes) {
        let n = batch.rows.len();
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        hashes.extend((0..n).map(|i| self.hasher.hash_one(batch.get(i))));
        for i in 0..n {
            let mask = self.table.len() - 1;
            if let Some(&h) = hashes.get(i + PREFETCH) {
                prefetch(&self.table[(h >> 32) as usize & mask]);
            }
            if let Some(&h) = hashes.get(i + PREFETCH / 2) {
                let e = self.table[(h >> 32) as usize & mask];
                if e.code != EMPTY && e.tag == (h >> 32) as u32 {
                    prefetch(self.arena.as_ptr().wrapping_add(e.start as usize));
                }
            }
            let code = self.probe(hashes[i], batch.get(i));
            codes.set(batch.rows[i] as usize, code);
        }
        self.hashes = hashes;
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when no string was interned.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Sorted distinct strings and the remapping old code -> sorted position.
    pub fn into_sorted(self) -> (SortedStrings, Vec<u32>) {
        // Sort on the first eight bytes as a big-endian integer (zero-padded, so the integer
        // order is the byte order of the prefixes), then order each run of equal prefixes by
        // the whole string: most comparisons are then integer ones on a dense array, not two
        // arena lookups each.
        let prefix = |s: &[u8]| {
            let mut w = [0u8; 8];
            let k = s.len().min(8);
            w[..k].copy_from_slice(&s[..k]);
            u64::from_be_bytes(w)
        };
        let mut keyed: Vec<(u64, u32)> = (0..self.starts.len() as u32)
            .map(|c| (prefix(self.slice(c)), c))
            .collect();
        keyed.sort_unstable();
        let mut i = 0;
        while i < keyed.len() {
            let p = keyed[i].0;
            let j = i + keyed[i..].iter().take_while(|e| e.0 == p).count();
            if j - i > 1 {
                keyed[i..j].sort_unstable_by(|a, b| self.slice(a.1).cmp(self.slice(b.1)));
            }
            i = j;
        }
        let order: Vec<u32> = keyed.into_iter().map(|(_, c)| c).collect();
        let mut remap = vec![0u32; order.len()];
        for (pos, &old) in order.iter().enumerate() {
            remap[old as usize] = pos as u32;
        }
        (
            SortedStrings {
                interner: self,
                order,
            },
            remap,
        )
    }
}

/// The distinct strings of a column in sorted order (borrowing the interner's arena).
pub struct SortedStrings {
    interner: Interner,
    order: Vec<u32>,
}

impl SortedStrings {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The strings in sorted order.
    pub fn items(&self) -> Vec<&[u8]> {
        self.order.iter().map(|&c| self.interner.slice(c)).collect()
    }
}

/// The dictionary codes of a string column under construction: two bytes a row while the
/// column has at most 65,536 distinct strings (most columns of most logs), four after. The
/// builder's memory budget then holds about a quarter more rows a segment (fewer, larger
/// segments: less per-segment work for every query, and fewer dictionaries on disk).
pub enum Codes {
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Codes {
    fn zeros(rows: usize) -> Codes {
        Codes::U16(vec![0; rows])
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Codes::U16(v) => v.len(),
            Codes::U32(v) => v.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The code of row `i` (0 past the end).
    pub fn get(&self, i: usize) -> u32 {
        match self {
            Codes::U16(v) => v.get(i).map_or(0, |&c| u32::from(c)),
            Codes::U32(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    /// Set row `i` (which must exist) to `code`, widening to four bytes a row if needed.
    fn set(&mut self, i: usize, code: u32) {
        if let Codes::U16(v) = self {
            match u16::try_from(code) {
                Ok(c) => {
                    if let Some(x) = v.get_mut(i) {
                        *x = c;
                    }
                    return;
                }
                Err(_) => *self = Codes::U32(v.iter().map(|&c| u32::from(c)).collect()),
            }
        }
        if let Codes::U32(v) = self {
            if let Some(x) = v.get_mut(i) {
                *x = code;
            }
        }
    }

    fn push_zero(&mut self) {
        match self {
            Codes::U16(v) => v.push(0),
            Codes::U32(v) => v.push(0),
        }
    }

    fn resize(&mut self, rows: usize) {
        match self {
            Codes::U16(v) => v.resize(rows, 0),
            Codes::U32(v) => v.resize(rows, 0),
        }
    }

    fn truncate(&mut self, rows: usize) {
        match self {
            Codes::U16(v) => v.truncate(rows),
            Codes::U32(v) => v.truncate(rows),
        }
    }

    /// Insert `n` zero codes in front.
    fn prepend_zeros(&mut self, n: usize) {
        match self {
            Codes::U16(v) => prepend(v, n, 0),
            Codes::U32(v) => prepend(v, n, 0),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Codes::U16(v) => v.capacity() * 2,
            Codes::U32(v) => v.capacity() * 4,
        }
    }

    /// Each code `c` replaced by `map[c]` (0 when `c` is out of `map`), widened to u32.
    pub fn remap(self, map: &[u32]) -> Vec<u32> {
        let get = |c: u32| map.get(c as usize).copied().unwrap_or(0);
        match self {
            Codes::U16(v) => v.iter().map(|&c| get(u32::from(c))).collect(),
            Codes::U32(mut v) => {
                for c in v.iter_mut() {
                    *c = get(*c);
                }
                v
            }
        }
    }
}

/// A string column whose dictionary holds fewer strings than this interns each string as it
/// arrives (its table, at most 512 slots of 16 bytes, stays in cache); a larger one stages
/// them and interns a batch at a time (`Pending`).
const DIRECT_INTERN: usize = 256;

/// Strings of one column waiting to be interned, in row order. A column's strings are interned
/// a batch at a time (`PENDING_ROWS` strings or `PENDING_BYTES` bytes), which keeps its table in
/// cache and lets `Interner::intern_batch` prefetch; row by row, fifty columns' tables evict one
/// another.
#[derive(Default)]
pub struct Pending {
    /// The row of each string.
    rows: Vec<u32>,
    /// End offset of each string in `bytes`.
    ends: Vec<usize>,
    bytes: Vec<u8>,
}

const PENDING_ROWS: usize = 2048;
const PENDING_BYTES: usize = 256 << 10;

impl Pending {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn push(&mut self, row: usize, s: &[u8]) {
        self.rows.push(row as u32);
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
    }

    /// Stage `s` as row `row` of a column (its code a placeholder in `codes` until the batch is
    /// interned, which happens here once the batch is full).
    /// Returns true when it interned the batch.
    fn stage(&mut self, row: usize, s: &[u8], codes: &mut Codes, dict: &mut Interner) -> bool {
        codes.push_zero();
        self.push(row, s);
        if self.rows.len() >= PENDING_ROWS || self.bytes.len() >= PENDING_BYTES {
            dict.intern_batch(self, codes);
            self.clear();
            return true;
        }
        false
    }

    /// Forget the strings of rows `rows..`.
    fn truncate(&mut self, rows: usize) {
        while self.rows.last().is_some_and(|&r| r as usize >= rows) {
            self.rows.pop();
            self.ends.pop();
            self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.ends.clear();
        self.bytes.clear();
    }
}

/// Typed storage of a column under construction.
pub enum ColumnData {
    /// Only nulls so far.
    Empty,
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str {
        codes: Codes,
        dict: Interner,
        /// Strings not yet interned; their `codes` are placeholders until `intern_pending`.
        pending: Pending,
    },
    /// A near-unique string column, kept as its strings in row order (no interning, no
    /// dictionary): see [`PLAIN_PROBE`].
    Plain(PlainStrings),
    Time(Vec<i64>),
}

/// The strings of a plain string column in row order; a null row holds an empty string.
#[derive(Default)]
pub struct PlainStrings {
    pub bytes: Vec<u8>,
    /// End of each row's string in `bytes`.
    pub ends: Vec<usize>,
}

impl PlainStrings {
    /// The string of row `i` (empty past the end).
    pub fn get(&self, i: usize) -> &[u8] {
        crate::codec::strings::nth_of(&self.bytes, &self.ends, i)
    }

    fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
    }

    fn resize(&mut self, rows: usize) {
        self.ends.resize(rows, self.bytes.len());
    }

    fn truncate(&mut self, rows: usize) {
        self.ends.truncate(rows);
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
    }
}

/// Insert `n` copies of `x` in front of `v`.
fn prepend<T: Copy>(v: &mut Vec<T>, n: usize, x: T) {
    v.splice(0..0, std::iter::repeat_n(x, n));
}

/// A string column whose first `PLAIN_PROBE` strings of a segment are at least 15/16 distinct
/// (a request ID, a nonce) turns plain: its strings are kept in row order and written without a
/// dictionary. Interning them cost a hash-table miss each, sorting the dictionary, and on disk a
/// permutation of codes that does not compress (about 1.1 MB of a 4.8 MB `RayID` column per
/// 460k rows). A column that repeats more is left dictionary-encoded, and so is an indexed one
/// (the writer turns it back, see [`ColumnBuilder::plain_to_dictionary`]).
pub const PLAIN_PROBE: usize = 8192;

/// One column under construction.
pub struct ColumnBuilder {
    /// The values of rows `base..len` (row `base + i` at index `i`).
    pub data: ColumnData,
    /// Validity bits of rows `base..len`, one per row: set = a value is present.
    pub valid: Vec<u64>,
    /// The first row held (a multiple of 64): the rows before it are null and take no memory,
    /// so a key first seen late in a segment (a rare header, a per-event field name) costs its
    /// values, not a slot for every row before them. The writer calls [`Self::materialize`].
    pub base: usize,
    /// Rows covered, `base` included: rows `len..` are null until padded.
    pub len: usize,
    /// Null rows among `0..len`, the rows before `base` included.
    pub nulls: usize,
    pub flags: u8,
    /// In a float column, rows whose value arrived as an integer (so that a later widening to
    /// text writes `3`, not `3.0`, whatever the order of arrival). Empty when unused.
    int_marks: Vec<u64>,
    /// A truncation (an aborted row) may have left strings in the dictionary that no row refers
    /// to: the writer drops them (`drop_unused_strings`).
    stale_strings: bool,
}

const MAX_EXACT_INT: i64 = 1 << 53;

impl ColumnBuilder {
    pub(crate) fn new(rows: usize, time: bool) -> ColumnBuilder {
        let base = rows - rows % 64;
        let mut c = ColumnBuilder {
            data: if time {
                ColumnData::Time(Vec::new())
            } else {
                ColumnData::Empty
            },
            valid: Vec::new(),
            base,
            len: base,
            nulls: base,
            flags: 0,
            int_marks: Vec::new(),
            stale_strings: false,
        };
        c.pad_to(rows);
        c
    }

    /// The type this column will be written as.
    pub fn column_type(&self) -> ColumnType {
        match self.data {
            ColumnData::Bool(_) => ColumnType::Bool,
            ColumnData::Int(_) => ColumnType::Int,
            ColumnData::Float(_) => ColumnType::Float,
            ColumnData::Str { .. } | ColumnData::Plain(_) | ColumnData::Empty => ColumnType::Str,
            ColumnData::Time(_) => ColumnType::Time,
        }
    }

    /// Is row `i` non-null?
    pub fn is_valid(&self, i: usize) -> bool {
        i >= self.base
            && self
                .valid
                .get((i - self.base) / 64)
                .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// Mark row `i` (at least `base`) non-null.
    fn set_valid_bit(&mut self, i: usize) {
        let w = (i - self.base) / 64;
        if self.valid.len() <= w {
            self.valid.resize(w + 1, 0);
        }
        self.valid[w] |= 1 << (i % 64);
    }

    /// Hold rows from 0 (`base` = 0) up to `rows`: the rows before the old `base`, and those
    /// from `len` on, become nulls. The writer calls this on one column at a time.
    pub fn materialize(&mut self, rows: usize) {
        self.pad_to(rows);
        let n = self.base;
        if n == 0 {
            return;
        }
        match &mut self.data {
            ColumnData::Empty => {}
            ColumnData::Bool(v) => prepend(v, n, false),
            ColumnData::Int(v) | ColumnData::Time(v) => prepend(v, n, 0),
            ColumnData::Float(v) => prepend(v, n, 0.0),
            ColumnData::Str { codes, pending, .. } => {
                for r in &mut pending.rows {
                    *r += n as u32;
                }
                codes.prepend_zeros(n);
            }
            ColumnData::Plain(p) => prepend(&mut p.ends, n, 0),
        }
        prepend(&mut self.valid, n / 64, 0);
        if !self.int_marks.is_empty() {
            prepend(&mut self.int_marks, n / 64, 0);
        }
        self.base = 0;
    }

    /// Append nulls until the column has `rows` rows.
    pub fn pad_to(&mut self, rows: usize) {
        if self.len >= rows {
            return;
        }
        let n = rows - self.len;
        let held = rows - self.base;
        match &mut self.data {
            ColumnData::Empty => {}
            ColumnData::Bool(v) => v.resize(held, false),
            ColumnData::Int(v) | ColumnData::Time(v) => v.resize(held, 0),
            ColumnData::Float(v) => v.resize(held, 0.0),
            ColumnData::Str { codes, .. } => codes.resize(held),
            ColumnData::Plain(p) => p.resize(held),
        }
        self.nulls += n;
        self.len = rows;
        let words = held.div_ceil(64);
        if self.valid.len() < words {
            self.valid.resize(words, 0);
        }
    }

    /// Append one value at row `self.len` (the caller pads first).
    pub fn push(&mut self, v: Value<'_>) {
        // The common cases first: a string into a string column, an integer into an integer
        // column (no widening check, no text conversion).
        let row = self.len;
        match (&mut self.data, v) {
            (
                ColumnData::Str {
                    codes,
                    dict,
                    pending,
                },
                Value::Str(s),
            ) => {
                if pending.rows.is_empty() && dict.len() < DIRECT_INTERN {
                    // A small table stays in cache: intern at once, without staging a copy.
                    let code = dict.intern(s.as_bytes());
                    codes.push_zero();
                    codes.set(row - self.base, code);
                    self.set_valid_bit(row);
                    self.len = row + 1;
                    return;
                }
                let interned = pending.stage(row - self.base, s.as_bytes(), codes, dict);
                self.set_valid_bit(row);
                self.len = row + 1;
                if interned {
                    self.maybe_plain();
                }
                return;
            }
            (ColumnData::Plain(p), Value::Str(s)) => {
                p.push(s.as_bytes());
                self.set_valid_bit(row);
                self.len = row + 1;
                return;
            }
            (ColumnData::Int(d), Value::Int(i)) => {
                d.push(i);
                self.set_valid_bit(row);
                self.len = row + 1;
                return;
            }
            _ => {}
        }
        if v == Value::Null {
            self.pad_to(self.len + 1);
            return;
        }
        self.coerce_for(&v);
        let row = self.len;
        match (&mut self.data, v) {
            (ColumnData::Bool(d), Value::Bool(b)) => d.push(b),
            (ColumnData::Int(d), Value::Int(i)) | (ColumnData::Time(d), Value::Int(i)) => d.push(i),
            (ColumnData::Float(d), Value::Float(f)) => d.push(f),
            (ColumnData::Float(d), Value::Int(i)) => {
                d.push(i as f64);
                mark(&mut self.int_marks, row - self.base);
            }
            (
                ColumnData::Str {
                    codes,
                    dict,
                    pending,
                },
                v,
            ) => {
                let mut buf = String::new();
                let text = value_text(&v, &mut buf);
                pending.stage(row - self.base, text.as_bytes(), codes, dict);
                self.flags |= text_flag(&v);
            }
            (ColumnData::Plain(p), v) => {
                let mut buf = String::new();
                p.push(value_text(&v, &mut buf).as_bytes());
                self.flags |= text_flag(&v);
            }
            // coerce_for guarantees one of the arms above matches.
            _ => {
                self.pad_to(row + 1);
                return;
            }
        }
        self.set_valid_bit(row);
        self.len = row + 1;
    }

    /// Make the column able to hold `v`, widening if needed.
    fn coerce_for(&mut self, v: &Value<'_>) {
        let rows = self.len - self.base;
        let target = match (&self.data, v) {
            (ColumnData::Empty, Value::Bool(_)) => Some(ColumnData::Bool(vec![false; rows])),
            (ColumnData::Empty, Value::Int(_)) => Some(ColumnData::Int(vec![0; rows])),
            (ColumnData::Empty, Value::Float(_)) => Some(ColumnData::Float(vec![0.0; rows])),
            (ColumnData::Empty, _) => Some(ColumnData::Str {
                codes: Codes::zeros(rows),
                dict: Interner::default(),
                pending: Pending::default(),
            }),
            (ColumnData::Bool(_), Value::Bool(_))
            | (ColumnData::Int(_), Value::Int(_))
            | (ColumnData::Time(_), Value::Int(_))
            | (ColumnData::Float(_), Value::Float(_))
            | (ColumnData::Str { .. } | ColumnData::Plain(_), _) => None,
            (ColumnData::Float(_), Value::Int(i)) if i.unsigned_abs() <= MAX_EXACT_INT as u64 => {
                None
            }
            (ColumnData::Int(d), Value::Float(_))
                if d.iter().all(|i| i.unsigned_abs() <= MAX_EXACT_INT as u64) =>
            {
                for row in 0..d.len() {
                    mark(&mut self.int_marks, row);
                }
                Some(ColumnData::Float(d.iter().map(|&i| i as f64).collect()))
            }
            _ => Some(self.take_as_strings()),
        };
        if let Some(t) = target {
            self.data = t;
        }
    }

    /// Convert the existing values to their JSON text (string column).
    fn take_as_strings(&mut self) -> ColumnData {
        let mut dict = Interner::default();
        let base = self.base;
        let mut codes = Vec::with_capacity(self.len - base);
        let mut buf = String::new();
        let old = std::mem::replace(&mut self.data, ColumnData::Empty);
        let mut push = |i: usize, v: Value<'_>, valid: bool| {
            if valid {
                codes.push(dict.intern(value_text(&v, &mut buf).as_bytes()));
            } else {
                codes.push(0);
            }
            let _ = i;
        };
        match &old {
            ColumnData::Bool(d) => {
                for (i, &b) in d.iter().enumerate() {
                    push(i, Value::Bool(b), self.is_valid(base + i));
                }
            }
            ColumnData::Int(d) | ColumnData::Time(d) => {
                for (i, &x) in d.iter().enumerate() {
                    push(i, Value::Int(x), self.is_valid(base + i));
                }
            }
            ColumnData::Float(d) => {
                for (i, &x) in d.iter().enumerate() {
                    let v = if is_marked(&self.int_marks, i) {
                        Value::Int(x as i64)
                    } else {
                        Value::Float(x)
                    };
                    push(i, v, self.is_valid(base + i));
                }
                self.int_marks = Vec::new();
            }
            ColumnData::Empty | ColumnData::Str { .. } | ColumnData::Plain(_) => {}
        }
        if !matches!(old, ColumnData::Empty) {
            self.flags |= flags::WIDENED;
        }
        if let ColumnData::Str { .. } | ColumnData::Plain(_) = old {
            return old;
        }
        codes.resize(self.len - base, 0);
        ColumnData::Str {
            codes: Codes::U32(codes),
            dict,
            pending: Pending::default(),
        }
    }

    /// Cut the column back to `rows` rows.
    pub fn truncate(&mut self, rows: usize) {
        if self.len > rows && matches!(self.data, ColumnData::Str { .. }) {
            self.stale_strings = true;
        }
        // A column is created at or after the first row of the record being cut, so `rows`
        // is never below `base`.
        debug_assert!(
            rows >= self.base,
            "truncate below a column's first held row"
        );
        let rows = rows.max(self.base);
        while self.len > rows {
            let i = self.len - 1;
            let w = (i - self.base) / 64;
            if let Some(w) = self.int_marks.get_mut(w) {
                *w &= !(1 << (i % 64));
            }
            if self.is_valid(i) {
                if let Some(w) = self.valid.get_mut(w) {
                    *w &= !(1 << (i % 64));
                }
            } else {
                self.nulls -= 1;
            }
            self.len = i;
        }
        let held = rows - self.base;
        match &mut self.data {
            ColumnData::Empty => {}
            ColumnData::Bool(v) => v.truncate(held),
            ColumnData::Int(v) | ColumnData::Time(v) => v.truncate(held),
            ColumnData::Float(v) => v.truncate(held),
            ColumnData::Str { codes, pending, .. } => {
                codes.truncate(held);
                pending.truncate(held);
            }
            ColumnData::Plain(p) => p.truncate(held),
        }
    }

    /// After a batch of strings was interned: within the first [`PLAIN_PROBE`] strings of the
    /// segment, turn the column plain once they prove at least 15/16 distinct.
    fn maybe_plain(&mut self) {
        let ColumnData::Str { dict, pending, .. } = &self.data else {
            return;
        };
        let strings = self.len - self.nulls;
        if !pending.rows.is_empty() || !(PLAIN_PROBE..2 * PLAIN_PROBE).contains(&strings) {
            return;
        }
        if dict.len() * 16 < strings * 15 {
            return;
        }
        let ColumnData::Str { codes, dict, .. } =
            std::mem::replace(&mut self.data, ColumnData::Empty)
        else {
            return;
        };
        let mut p = PlainStrings {
            bytes: Vec::with_capacity(dict.bytes * 2),
            ends: Vec::with_capacity((self.len - self.base) * 2),
        };
        for i in 0..self.len - self.base {
            if self.is_valid(self.base + i) {
                p.push(dict.slice(codes.get(i)));
            } else {
                p.push(b"");
            }
        }
        self.data = ColumnData::Plain(p);
    }

    /// Re-intern a string column's values if a truncation may have left strings in its
    /// dictionary that no row refers to (an aborted row's strings are interned at once while
    /// the dictionary is small), so the dictionary holds exactly the values of the rows.
    pub fn drop_unused_strings(&mut self) {
        if !std::mem::take(&mut self.stale_strings) {
            return;
        }
        self.intern_pending();
        let ColumnData::Str { codes, dict, .. } =
            std::mem::replace(&mut self.data, ColumnData::Empty)
        else {
            return;
        };
        self.data = self.interned(|i| dict.slice(codes.get(i)));
    }

    /// A string column interning `text(i)` for each non-null row `base + i`, in row order.
    fn interned<'a>(&self, text: impl Fn(usize) -> &'a [u8]) -> ColumnData {
        let mut dict = Interner::default();
        let mut codes = Codes::zeros(0);
        for i in 0..self.len - self.base {
            codes.push_zero();
            if self.is_valid(self.base + i) {
                let c = dict.intern(text(i));
                codes.set(i, c);
            }
        }
        ColumnData::Str {
            codes,
            dict,
            pending: Pending::default(),
        }
    }

    /// A plain column as a dictionary-encoded one (for a column that gets a value index, whose
    /// keys are dictionary codes); other columns are left as they are.
    pub fn plain_to_dictionary(&mut self) {
        let ColumnData::Plain(p) = &self.data else {
            return;
        };
        self.data = self.interned(|i| p.get(i));
    }

    /// Intern the strings still pending, so that `codes` are final.
    pub fn intern_pending(&mut self) {
        if let ColumnData::Str {
            codes,
            dict,
            pending,
        } = &mut self.data
        {
            dict.intern_batch(pending, codes);
            *pending = Pending::default();
        }
    }

    /// Rough heap bytes held, for the flush threshold.
    pub fn heap_bytes(&self) -> usize {
        let data = match &self.data {
            ColumnData::Empty => 0,
            ColumnData::Bool(v) => v.len(),
            ColumnData::Int(v) | ColumnData::Time(v) => v.len() * 8,
            ColumnData::Float(v) => v.len() * 8,
            ColumnData::Str {
                codes,
                dict,
                pending,
            } => codes.heap_bytes() + dict.heap_bytes() + pending.bytes.capacity(),
            ColumnData::Plain(p) => p.bytes.capacity() + p.ends.capacity() * 8,
        };
        data + self.valid.len() * 8
    }
}

fn mark(bits: &mut Vec<u64>, i: usize) {
    if bits.len() <= i / 64 {
        bits.resize(i / 64 + 1, 0);
    }
    bits[i / 64] |= 1 << (i % 64);
}

fn is_marked(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

/// The column flag a non-string value stored as text sets (none for a string).
fn text_flag(v: &Value<'_>) -> u8 {
    match v {
        Value::Json(_) => flags::JSON_TEXT,
        Value::Str(_) => 0,
        _ => flags::WIDENED,
    }
}

/// The JSON text of a scalar, as stored in a string column.
pub fn value_text<'a>(v: &Value<'a>, buf: &'a mut String) -> &'a str {
    use std::fmt::Write;
    buf.clear();
    match *v {
        Value::Null => "null",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
            buf
        }
        Value::BigUint(u) => {
            let _ = write!(buf, "{u}");
            buf
        }
        Value::Float(f) => {
            let _ = write!(buf, "{f:?}");
            buf
        }
        Value::Str(s) | Value::Json(s) => s,
    }
}

/// Builds one segment's columns from events.
pub struct SegmentBuilder {
    columns: Vec<(String, ColumnBuilder)>,
    by_name: HashMap<String, usize, ahash::RandomState>,
    rows: usize,
    /// Column indices that got a value in the current row (to detect duplicate keys).
    touched: Vec<u32>,
    row_open: bool,
    scratch: String,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SegmentBuilder {
    /// An empty builder.
    pub fn new() -> SegmentBuilder {
        SegmentBuilder {
            columns: Vec::new(),
            by_name: HashMap::default(),
            rows: 0,
            touched: Vec::new(),
            row_open: false,
            scratch: String::new(),
        }
    }

    /// Rows completed so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Start a new row.
    pub fn begin_row(&mut self) {
        self.touched.clear();
        self.row_open = true;
    }

    /// Set `name` in the current row. A key that already has a value in this row (a duplicate
    /// key in the JSON object) goes to `name#2`, `name#3`, ... so no value is lost.
    pub fn set(&mut self, name: &str, v: Value<'_>) {
        let idx = self.column_index(name);
        self.set_at(idx, name, v);
    }

    /// The column index of `name` (created if new); stable until the builder is finished.
    pub fn index_of(&mut self, name: &str) -> usize {
        self.column_index(name)
    }

    /// Set column `idx` (which must be `index_of(name)`) in the current row.
    pub fn set_at(&mut self, idx: usize, name: &str, v: Value<'_>) {
        let mut idx = idx;
        if self.columns[idx].1.len > self.rows {
            idx = self.duplicate_index(name);
        }
        self.touched.push(idx as u32);
        let rows = self.rows;
        let col = &mut self.columns[idx].1;
        col.pad_to(rows);
        col.push(v);
    }

    fn duplicate_index(&mut self, name: &str) -> usize {
        let mut n = 2;
        loop {
            self.scratch.clear();
            self.scratch.push_str(name);
            self.scratch.push('#');
            self.scratch.push_str(&n.to_string());
            let key = self.scratch.clone();
            let idx = self.column_index(&key);
            if self.columns[idx].1.len <= self.rows {
                return idx;
            }
            n += 1;
        }
    }

    fn column_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.columns.len();
        let time = name == TIME_COLUMN;
        self.columns
            .push((name.to_string(), ColumnBuilder::new(self.rows, time)));
        self.by_name.insert(name.to_string(), i);
        i
    }

    /// Drop whatever the current row set (a record that failed half-way).
    pub fn abort_row(&mut self) {
        let rows = self.rows;
        for &i in &self.touched {
            if let Some((_, c)) = self.columns.get_mut(i as usize) {
                c.truncate(rows);
            }
        }
        self.touched.clear();
        self.row_open = false;
    }

    /// Finish the current row.
    pub fn end_row(&mut self) {
        self.rows += 1;
        self.row_open = false;
    }

    /// Rough heap bytes held, each column's own size and name included.
    pub fn heap_bytes(&self) -> usize {
        let fixed = std::mem::size_of::<(String, ColumnBuilder)>() + 256;
        self.columns
            .iter()
            .map(|(n, c)| c.heap_bytes() + n.len() * 2 + fixed)
            .sum()
    }

    /// Rows times columns: what the segment writer pads (one column at a time) and encodes.
    pub fn cells(&self) -> usize {
        self.rows.saturating_mul(self.columns.len())
    }

    /// Hand the columns over, sorted by name, with the row count. A column may hold fewer rows
    /// (from `base` to `len`): [`ColumnBuilder::materialize`] pads it, one column at a time,
    /// so that a segment of many sparse columns is never padded whole.
    pub fn finish(mut self) -> (usize, Vec<(String, ColumnBuilder)>) {
        let rows = self.rows;
        for (_, c) in &mut self.columns {
            c.intern_pending();
        }
        self.columns.sort_by(|a, b| a.0.cmp(&b.0));
        (rows, self.columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(rows: &[&[(&str, Value<'_>)]]) -> Vec<(String, ColumnBuilder)> {
        let mut b = SegmentBuilder::new();
        for r in rows {
            b.begin_row();
            for (k, v) in r.iter() {
                b.set(k, *v);
            }
            b.end_row();
        }
        b.finish().1
    }

    #[test]
    fn absent_keys_are_nulls_and_types_widen() {
        let cols = build(&[
            &[("a", Value::Int(1))],
            &[("b", Value::Str("x"))],
            &[("a", Value::Str("s")), ("b", Value::Str(""))],
        ]);
        let a = &cols[0].1;
        assert_eq!(a.column_type(), ColumnType::Str);
        assert_eq!(a.nulls, 1);
        assert!(a.is_valid(0) && !a.is_valid(1) && a.is_valid(2));
        let b = &cols[1].1;
        assert_eq!(b.nulls, 1);
        assert!(b.is_valid(2), "empty string is not null");
    }

    #[test]
    fn int_float_widen_to_float_when_exact() {
        let cols = build(&[&[("x", Value::Int(3))], &[("x", Value::Float(1.5))]]);
        assert_eq!(cols[0].1.column_type(), ColumnType::Float);
        let cols = build(&[
            &[("x", Value::Int(1_718_000_000_123_456_789))],
            &[("x", Value::Float(1.5))],
        ]);
        assert_eq!(cols[0].1.column_type(), ColumnType::Str);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let cols = build(&[&[("a", Value::Int(1)), ("a", Value::Int(2))]]);
        let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["a", "a#2"]);
    }

    /// The strings of a finished string column, row by row (None for null).
    fn strings(col: &ColumnBuilder) -> Vec<Option<String>> {
        let ColumnData::Str { codes, dict, .. } = &col.data else {
            panic!("not a string column");
        };
        (0..col.len)
            .map(|i| {
                col.is_valid(i)
                    .then(|| String::from_utf8_lossy(dict.slice(codes.get(i))).into_owned())
            })
            .collect()
    }

    #[test]
    fn batched_interning_keeps_every_row_and_drops_aborted_ones() {
        let mut b = SegmentBuilder::new();
        let mut want = Vec::new();
        for i in 0..5000usize {
            let v = format!("value-{}", (i * 7919) % 3001);
            b.begin_row();
            b.set("s", Value::Str(&v));
            if i % 1000 == 999 {
                // A record that fails half-way leaves nothing behind.
                b.abort_row();
                continue;
            }
            b.set(
                "n",
                if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::Int(i as i64)
                },
            );
            b.end_row();
            want.push(Some(v));
        }
        let (rows, cols) = b.finish();
        assert_eq!(rows, want.len());
        let s = &cols.iter().find(|c| c.0 == "s").expect("column s").1;
        assert_eq!(strings(s), want);
        let ColumnData::Str { dict, .. } = &s.data else {
            panic!("not a string column");
        };
        let distinct: std::collections::HashSet<_> = want.iter().collect();
        assert_eq!(
            dict.len(),
            distinct.len(),
            "aborted rows' strings were not interned"
        );
    }

    #[test]
    fn sorted_strings_are_in_byte_order() {
        let mut d = Interner::default();
        let words: [&[u8]; 12] = [
            b"abcdefgh2",
            b"abcdefgh1",
            b"abcdefgh",
            b"ab",
            b"ab\0",
            b"",
            b"\xff",
            b"b",
            b"abcdefgi",
            b"a",
            b"abcdefgh10",
            b"ab\0\0",
        ];
        for w in words {
            d.intern(w);
        }
        let (sorted, remap) = d.into_sorted();
        let mut want: Vec<&[u8]> = words.to_vec();
        want.sort();
        assert_eq!(sorted.items(), want);
        for (code, w) in words.iter().enumerate() {
            assert_eq!(sorted.items()[remap[code] as usize], *w);
        }
    }

    #[test]
    fn codes_widen_past_65536_distinct_strings() {
        let mut b = SegmentBuilder::new();
        let mut want = Vec::new();
        for i in 0..120_000usize {
            // Every third row repeats an early value, so old codes keep being written after
            // the widening too.
            let v = if i % 3 == 0 {
                format!("v{}", i % 1000)
            } else {
                format!("v{i}")
            };
            b.begin_row();
            b.set("s", Value::Str(&v));
            b.end_row();
            want.push(Some(v));
        }
        let (_, mut cols) = b.finish();
        let s = &mut cols[0].1;
        assert!(matches!(
            &s.data,
            ColumnData::Str {
                codes: Codes::U32(_),
                ..
            }
        ));
        assert_eq!(strings(s), want);
    }
}
