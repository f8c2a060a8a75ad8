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

use super::{flags, ColumnType, TIME_COLUMN};

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
/// The strings live in one arena (no allocation per distinct string); the hash table holds
/// (hash, code) pairs and compares against the arena.
#[derive(Default)]
pub struct Interner {
    table: hashbrown::HashTable<(u64, u32)>,
    /// End offset of each code's bytes in `arena`.
    ends: Vec<usize>,
    arena: Vec<u8>,
    hasher: ahash::RandomState,
    bytes: usize,
}

impl Interner {
    fn slice(&self, code: u32) -> &[u8] {
        let i = code as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.arena[start..self.ends[i]]
    }

    fn intern(&mut self, s: &[u8]) -> u32 {
        let h = self.hasher.hash_one(s);
        let (arena, ends) = (&self.arena, &self.ends);
        let slice = |c: u32| {
            let i = c as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &arena[start..ends[i]]
        };
        if let Some(&(_, code)) = self.table.find(h, |&(hh, c)| hh == h && slice(c) == s) {
            return code;
        }
        let code = self.ends.len() as u32;
        self.arena.extend_from_slice(s);
        self.ends.push(self.arena.len());
        self.bytes += s.len();
        self.table.insert_unique(h, (h, code), |&(hh, _)| hh);
        code
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no string was interned.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Sorted distinct strings and the remapping old code -> sorted position.
    pub fn into_sorted(self) -> (SortedStrings, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.ends.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.slice(a).cmp(self.slice(b)));
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

/// Typed storage of a column under construction.
pub enum ColumnData {
    /// Only nulls so far.
    Empty,
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str {
        codes: Vec<u32>,
        dict: Interner,
    },
    Time(Vec<i64>),
}

/// One column under construction.
pub struct ColumnBuilder {
    pub data: ColumnData,
    /// Validity bits, one per row: set = a value is present.
    pub valid: Vec<u64>,
    pub len: usize,
    pub nulls: usize,
    pub flags: u8,
    /// In a float column, rows whose value arrived as an integer (so that a later widening to
    /// text writes `3`, not `3.0`, whatever the order of arrival). Empty when unused.
    int_marks: Vec<u64>,
}

const MAX_EXACT_INT: i64 = 1 << 53;

impl ColumnBuilder {
    fn new(rows: usize, time: bool) -> ColumnBuilder {
        let mut c = ColumnBuilder {
            data: if time {
                ColumnData::Time(Vec::new())
            } else {
                ColumnData::Empty
            },
            valid: Vec::new(),
            len: 0,
            nulls: 0,
            flags: 0,
            int_marks: Vec::new(),
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
            ColumnData::Str { .. } | ColumnData::Empty => ColumnType::Str,
            ColumnData::Time(_) => ColumnType::Time,
        }
    }

    /// Is row `i` non-null?
    pub fn is_valid(&self, i: usize) -> bool {
        self.valid
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    fn set_valid_bit(&mut self, i: usize) {
        let w = i / 64;
        if self.valid.len() <= w {
            self.valid.resize(w + 1, 0);
        }
        self.valid[w] |= 1 << (i % 64);
    }

    /// Append nulls until the column has `rows` rows.
    pub fn pad_to(&mut self, rows: usize) {
        if self.len >= rows {
            return;
        }
        let n = rows - self.len;
        match &mut self.data {
            ColumnData::Empty => {}
            ColumnData::Bool(v) => v.resize(rows, false),
            ColumnData::Int(v) | ColumnData::Time(v) => v.resize(rows, 0),
            ColumnData::Float(v) => v.resize(rows, 0.0),
            ColumnData::Str { codes, .. } => codes.resize(rows, 0),
        }
        self.nulls += n;
        self.len = rows;
        let words = rows.div_ceil(64);
        if self.valid.len() < words {
            self.valid.resize(words, 0);
        }
    }

    /// Append one value at row `self.len` (the caller pads first).
    pub fn push(&mut self, v: Value<'_>) {
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
                mark(&mut self.int_marks, row);
            }
            (ColumnData::Str { codes, dict }, v) => {
                let mut buf = String::new();
                let text = value_text(&v, &mut buf);
                codes.push(dict.intern(text.as_bytes()));
                match v {
                    Value::Json(_) => self.flags |= flags::JSON_TEXT,
                    Value::Str(_) => {}
                    _ => self.flags |= flags::WIDENED,
                }
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
        let rows = self.len;
        let target = match (&self.data, v) {
            (ColumnData::Empty, Value::Bool(_)) => Some(ColumnData::Bool(vec![false; rows])),
            (ColumnData::Empty, Value::Int(_)) => Some(ColumnData::Int(vec![0; rows])),
            (ColumnData::Empty, Value::Float(_)) => Some(ColumnData::Float(vec![0.0; rows])),
            (ColumnData::Empty, _) => Some(ColumnData::Str {
                codes: vec![0; rows],
                dict: Interner::default(),
            }),
            (ColumnData::Bool(_), Value::Bool(_))
            | (ColumnData::Int(_), Value::Int(_))
            | (ColumnData::Time(_), Value::Int(_))
            | (ColumnData::Float(_), Value::Float(_))
            | (ColumnData::Str { .. }, _) => None,
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
        let mut codes = Vec::with_capacity(self.len);
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
                    push(i, Value::Bool(b), self.is_valid(i));
                }
            }
            ColumnData::Int(d) | ColumnData::Time(d) => {
                for (i, &x) in d.iter().enumerate() {
                    push(i, Value::Int(x), self.is_valid(i));
                }
            }
            ColumnData::Float(d) => {
                for (i, &x) in d.iter().enumerate() {
                    let v = if is_marked(&self.int_marks, i) {
                        Value::Int(x as i64)
                    } else {
                        Value::Float(x)
                    };
                    push(i, v, self.is_valid(i));
                }
                self.int_marks = Vec::new();
            }
            ColumnData::Empty | ColumnData::Str { .. } => {}
        }
        if !matches!(old, ColumnData::Empty) {
            self.flags |= flags::WIDENED;
        }
        if let ColumnData::Str { codes: c, dict: d } = old {
            return ColumnData::Str { codes: c, dict: d };
        }
        codes.resize(self.len, 0);
        ColumnData::Str { codes, dict }
    }

    /// Cut the column back to `rows` rows.
    pub fn truncate(&mut self, rows: usize) {
        while self.len > rows {
            let i = self.len - 1;
            if let Some(w) = self.int_marks.get_mut(i / 64) {
                *w &= !(1 << (i % 64));
            }
            if self.is_valid(i) {
                if let Some(w) = self.valid.get_mut(i / 64) {
                    *w &= !(1 << (i % 64));
                }
            } else {
                self.nulls -= 1;
            }
            self.len = i;
        }
        match &mut self.data {
            ColumnData::Empty => {}
            ColumnData::Bool(v) => v.truncate(rows),
            ColumnData::Int(v) | ColumnData::Time(v) => v.truncate(rows),
            ColumnData::Float(v) => v.truncate(rows),
            ColumnData::Str { codes, .. } => codes.truncate(rows),
        }
    }

    /// Rough heap bytes held, for the flush threshold.
    pub fn heap_bytes(&self) -> usize {
        let data = match &self.data {
            ColumnData::Empty => 0,
            ColumnData::Bool(v) => v.len(),
            ColumnData::Int(v) | ColumnData::Time(v) => v.len() * 8,
            ColumnData::Float(v) => v.len() * 8,
            ColumnData::Str { codes, dict } => codes.len() * 4 + dict.bytes + dict.len() * 24,
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

    /// Rough heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.columns.iter().map(|(_, c)| c.heap_bytes()).sum()
    }

    /// Pad every column to the row count and hand the columns over, sorted by name.
    pub fn finish(mut self) -> (usize, Vec<(String, ColumnBuilder)>) {
        let rows = self.rows;
        for (_, c) in &mut self.columns {
            c.pad_to(rows);
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
}
