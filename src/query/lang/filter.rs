//! Filters: evaluate a `--where` expression and a `--from/--to` range over one segment into a
//! bit set of selected rows.
//!
//! Equality and `in` on an indexed column are answered from the value (rule-ID) bitmaps without
//! decoding the column; a time range from the per-minute time index, decoding `_time` only for
//! rows of the two edge minutes. Other predicates on string columns are evaluated once per
//! dictionary entry and then looked up per row by code.
//!
//! Logic is two-valued: a comparison on a missing (null) value is false, and `not` is the
//! complement, so `not Country = ru` selects events without a country too.

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::index::minute_of;
use crate::json::time;
use crate::segment::{Block, ColumnType, IndexKind, SegmentReader, Values, TIME_COLUMN};

use crate::query::expr::{CmpOp, Expr, Literal};
use crate::query::plan::Schema;

/// A dense bit set over the rows of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// No row selected.
    pub fn zeros(len: usize) -> Bits {
        Bits {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Every row selected.
    pub fn ones(len: usize) -> Bits {
        let mut b = Bits {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        b.trim();
        b
    }

    fn trim(&mut self) {
        let r = self.len % 64;
        if r != 0 {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << r) - 1;
            }
        }
    }

    /// Select row `i`.
    pub fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Is row `i` selected?
    pub fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// Intersect.
    pub fn and(&mut self, o: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&o.words) {
            *a &= b;
        }
    }

    /// Union.
    pub fn or(&mut self, o: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&o.words) {
            *a |= b;
        }
    }

    /// Complement.
    pub fn not(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        self.trim();
    }

    /// Selected rows.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// Selected rows in `[start, end)` (clamped to the set).
    pub fn count_range(&self, start: usize, end: usize) -> u64 {
        let end = end.min(self.len);
        if start >= end {
            return 0;
        }
        let (w0, w1) = (start / 64, (end - 1) / 64);
        let lo_mask = u64::MAX << (start % 64);
        let hi_mask = u64::MAX >> (63 - (end - 1) % 64);
        let word = |i: usize| self.words.get(i).copied().unwrap_or(0);
        if w0 == w1 {
            return u64::from((word(w0) & lo_mask & hi_mask).count_ones());
        }
        let inner: u64 = self
            .words
            .get(w0 + 1..w1)
            .unwrap_or(&[])
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        u64::from((word(w0) & lo_mask).count_ones())
            + inner
            + u64::from((word(w1) & hi_mask).count_ones())
    }

    /// Rows in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set covers no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Any row selected in `[start, end)`?
    pub fn any_in(&self, start: usize, end: usize) -> bool {
        (start..end).step_by(64).any(|i| {
            let w = self.words.get(i / 64).copied().unwrap_or(0);
            w != 0
        }) && (start..end).any(|i| self.get(i))
    }

    /// From a roaring bitmap.
    pub fn from_roaring(b: &RoaringBitmap, len: usize) -> Bits {
        let mut out = Bits::zeros(len);
        for r in b.iter() {
            out.set(r as usize);
        }
        out
    }

    /// Iterate selected rows.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        set_bits(&self.words)
    }

    /// The selected rows, in increasing order (a tight loop over the words: several times
    /// faster than collecting `iter()` on a sparse selection).
    pub fn rows_u32(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.count() as usize);
        for (wi, &w) in self.words.iter().enumerate() {
            let mut w = w;
            while w != 0 {
                out.push((wi * 64) as u32 + w.trailing_zeros());
                w &= w - 1;
            }
        }
        out
    }
}

/// Positions of the set bits of a bit set stored in 64-bit words (bit `i` of word `w` is
/// position `64 w + i`), in increasing order.
pub fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(wi, &w)| {
        let mut w = w;
        std::iter::from_fn(move || {
            if w == 0 {
                return None;
            }
            let t = w.trailing_zeros() as usize;
            w &= w - 1;
            Some(wi * 64 + t)
        })
    })
}

/// What filtering one segment did (for `--explain`).
#[derive(Clone, Debug, Default)]
pub struct FilterStats {
    pub index_lookups: u64,
    pub time_index_used: bool,
    pub columns_decoded: u64,
}

/// Evaluation context for one segment.
pub struct SegmentFilter<'a> {
    pub seg: &'a SegmentReader,
    pub schema: &'a Schema,
    pub use_indexes: bool,
    pub stats: FilterStats,
}

impl<'a> SegmentFilter<'a> {
    /// A filter over one segment, with no work done yet.
    pub fn new(seg: &'a SegmentReader, schema: &'a Schema, use_indexes: bool) -> Self {
        SegmentFilter {
            seg,
            schema,
            use_indexes,
            stats: FilterStats::default(),
        }
    }

    fn rows(&self) -> usize {
        self.seg.meta().rows as usize
    }

    /// Evaluate an expression.
    pub fn eval(&mut self, e: &Expr) -> Result<Bits> {
        match e {
            Expr::And(a, b) => {
                let mut x = self.eval(a)?;
                if x.count() == 0 {
                    return Ok(x);
                }
                x.and(&self.eval(b)?);
                Ok(x)
            }
            Expr::Or(a, b) => {
                let mut x = self.eval(a)?;
                x.or(&self.eval(b)?);
                Ok(x)
            }
            Expr::Not(a) => {
                let mut x = self.eval(a)?;
                x.not();
                Ok(x)
            }
            Expr::IsNull { field } => {
                let col = self.schema.resolve(field)?;
                let mut x = self.leaf(&col, &Leaf::NotNull)?;
                x.not();
                Ok(x)
            }
            Expr::Cmp { field, op, value } => self.cmp(field, *op, std::slice::from_ref(value)),
            Expr::In { field, values } => self.cmp(field, CmpOp::Eq, values),
            Expr::Prefix { field, value } => {
                let col = self.schema.resolve(field)?;
                self.leaf(&col, &Leaf::Prefix(value.text.clone()))
            }
            Expr::Contains { field, value } => {
                let col = self.schema.resolve(field)?;
                self.leaf(&col, &Leaf::Contains(value.text.clone()))
            }
        }
    }

    fn cmp(&mut self, field: &str, op: CmpOp, values: &[Literal]) -> Result<Bits> {
        if self.schema.is_time_name(field) {
            let times: Option<Vec<i64>> = values
                .iter()
                .map(|v| time::parse_time_str(&v.text))
                .collect();
            if let Some(ts) = times {
                // A one-sided bound is a time range: the minute index answers it.
                if let ([t], true) = (ts.as_slice(), self.use_indexes) {
                    let range = match op {
                        CmpOp::Ge => Some((Some(*t), None)),
                        CmpOp::Gt => t.checked_add(1).map(|f| (Some(f), None)),
                        CmpOp::Lt => Some((None, Some(*t))),
                        CmpOp::Le => t.checked_add(1).map(|h| (None, Some(h))),
                        _ => None,
                    };
                    if let Some((from, to)) = range {
                        return self.time_range(from, to);
                    }
                }
                return self.leaf(TIME_COLUMN, &Leaf::Time(op, ts));
            }
        }
        let col = self.schema.resolve(field)?;
        let lits: Vec<String> = values.iter().map(|v| v.text.clone()).collect();
        if op == CmpOp::Eq && self.use_indexes {
            if let Some(b) = self.index_lookup(&col, &lits)? {
                return Ok(b);
            }
        }
        self.leaf(&col, &Leaf::Cmp(op, lits))
    }

    /// The rows of `e` as a bitmap when value indexes answer the whole expression (equality
    /// and `in` on indexed columns, under `and` and `or`), without a dense bit set: a
    /// selective filter then costs its bitmaps, not a pass over every row. None when some
    /// part needs a scan (or indexes are off).
    pub fn index_bitmap(&mut self, e: &Expr) -> Result<Option<RoaringBitmap>> {
        if !self.use_indexes {
            return Ok(None);
        }
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let Some(x) = self.index_bitmap(a)? else {
                    return Ok(None);
                };
                if matches!(e, Expr::And(..)) && x.is_empty() {
                    return Ok(Some(x));
                }
                let Some(y) = self.index_bitmap(b)? else {
                    return Ok(None);
                };
                Ok(Some(match e {
                    Expr::And(..) => x & y,
                    _ => x | y,
                }))
            }
            Expr::Cmp {
                field,
                op: CmpOp::Eq,
                value,
            } => self.field_index_bitmap(field, std::slice::from_ref(value)),
            Expr::In { field, values } => self.field_index_bitmap(field, values),
            _ => Ok(None),
        }
    }

    fn field_index_bitmap(
        &mut self,
        field: &str,
        values: &[Literal],
    ) -> Result<Option<RoaringBitmap>> {
        if self.schema.is_time_name(field) {
            return Ok(None);
        }
        let col = self.schema.resolve(field)?;
        let lits: Vec<String> = values.iter().map(|v| v.text.clone()).collect();
        self.index_lookup_bitmap(&col, &lits)
    }

    /// Answer `col in (lits)` from a value index, if the segment has one on `col`.
    fn index_lookup(&mut self, col: &str, lits: &[String]) -> Result<Option<Bits>> {
        let rows = self.rows();
        Ok(self
            .index_lookup_bitmap(col, lits)?
            .map(|b| Bits::from_roaring(&b, rows)))
    }

    /// [`SegmentFilter::index_lookup`] as a bitmap.
    fn index_lookup_bitmap(&mut self, col: &str, lits: &[String]) -> Result<Option<RoaringBitmap>> {
        let meta = self.seg.meta();
        let Some(im) = meta.index(col, IndexKind::Values) else {
            return Ok(None);
        };
        let Some((ci, cm)) = meta.column(col) else {
            return Ok(None);
        };
        let kb = self.seg.index(im)?;
        let mut out = RoaringBitmap::new();
        let keys: Vec<i64> = match cm.ty {
            ColumnType::Str => {
                let lits: Vec<&[u8]> = lits.iter().map(|l| l.as_bytes()).collect();
                self.seg
                    .dictionary_codes(ci, &lits)?
                    .into_iter()
                    .flatten()
                    .map(i64::from)
                    .collect()
            }
            ColumnType::Int => lits.iter().filter_map(|l| l.parse::<i64>().ok()).collect(),
            _ => return Ok(None),
        };
        for k in keys {
            if let Some(pos) = kb.find(k) {
                out |= kb.bitmap(pos)?;
            }
        }
        self.stats.index_lookups += 1;
        Ok(Some(out))
    }

    fn leaf(&mut self, col: &str, leaf: &Leaf) -> Result<Bits> {
        let n = self.rows();
        let Some((ci, cm)) = self.seg.meta().column(col) else {
            return Ok(Bits::zeros(n));
        };
        self.stats.columns_decoded += 1;
        let ty = cm.ty;
        let table: Option<Vec<bool>> = if ty == ColumnType::Str {
            let dict = self.seg.dictionary(ci)?;
            Some(
                dict.iter()
                    .map(|s| leaf.eval_str(&String::from_utf8_lossy(s)))
                    .collect(),
            )
        } else {
            None
        };
        let mut out = Bits::zeros(n);
        let mut row = 0usize;
        for bi in 0..cm.blocks.len() {
            let b = self.seg.block(ci, bi)?;
            eval_block(&b, ty, leaf, table.as_deref(), row, &mut out)?;
            row += b.values.len();
        }
        Ok(out)
    }

    /// Rows whose `_time` lies in `[from, to)`, using the minute index when allowed.
    pub fn time_range(&mut self, from: Option<i64>, to: Option<i64>) -> Result<Bits> {
        let n = self.rows();
        let (lo, hi) = (from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
        let meta = self.seg.meta();
        if let (Some(a), Some(b)) = (meta.min_time, meta.max_time) {
            if a >= lo && b < hi && meta.null_time == 0 {
                return Ok(Bits::ones(n));
            }
        }
        let leaf = Leaf::Range(lo, hi);
        if !self.use_indexes {
            return self.leaf(TIME_COLUMN, &leaf);
        }
        let Some(im) = meta.index(TIME_COLUMN, IndexKind::TimeMinutes) else {
            return self.leaf(TIME_COLUMN, &leaf);
        };
        self.stats.time_index_used = true;
        let kb = self.seg.index(im)?;
        let (mlo, mhi) = (minute_of(lo), minute_of(hi.saturating_sub(1)));
        let mut inner = RoaringBitmap::new();
        let mut edge = RoaringBitmap::new();
        for pos in kb.range(mlo, mhi.saturating_add(1)) {
            let m = kb.key(pos);
            let full = m.saturating_mul(crate::index::MINUTE_NS) >= lo
                && (m + 1).saturating_mul(crate::index::MINUTE_NS) <= hi;
            match kb.directory().row_range(pos) {
                // A minute whose rows are contiguous: a range insert, no bitmap to read.
                Some(g) if full && g.is_dense() => {
                    inner.insert_range(g.min..=g.max);
                }
                _ if full => inner |= kb.bitmap(pos)?,
                _ => edge |= kb.bitmap(pos)?,
            }
        }
        let mut out = Bits::from_roaring(&inner, n);
        if !edge.is_empty() {
            let exact = self.leaf(TIME_COLUMN, &leaf)?;
            for r in edge.iter() {
                if exact.get(r as usize) {
                    out.set(r as usize);
                }
            }
        }
        Ok(out)
    }
}

/// A typed leaf predicate.
#[derive(Clone, Debug)]
enum Leaf {
    Cmp(CmpOp, Vec<String>),
    Time(CmpOp, Vec<i64>),
    Range(i64, i64),
    Prefix(String),
    Contains(String),
    NotNull,
}

fn ord_ok(op: CmpOp, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
    }
}

/// Compare with any of the literals (`in` = equal to any; `!=` = different from all).
fn any_lit<T>(op: CmpOp, lits: &[T], f: impl Fn(&T) -> Option<std::cmp::Ordering>) -> bool {
    if op == CmpOp::Ne {
        return lits
            .iter()
            .all(|l| f(l).is_none_or(|o| o != std::cmp::Ordering::Equal));
    }
    lits.iter().any(|l| f(l).is_some_and(|o| ord_ok(op, o)))
}

fn cmp_text(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if a != b => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

impl Leaf {
    fn eval_str(&self, s: &str) -> bool {
        match self {
            Leaf::Cmp(CmpOp::Eq, lits) => lits.iter().any(|l| l == s),
            Leaf::Cmp(CmpOp::Ne, lits) => lits.iter().all(|l| l != s),
            Leaf::Cmp(op, lits) => any_lit(*op, lits, |l| Some(cmp_text(s, l))),
            Leaf::Prefix(p) => s.starts_with(p.as_str()),
            Leaf::Contains(p) => s.contains(p.as_str()),
            Leaf::NotNull => true,
            Leaf::Time(op, ts) => {
                time::parse_time_str(s).is_some_and(|t| any_lit(*op, ts, |l| Some(t.cmp(l))))
            }
            Leaf::Range(lo, hi) => time::parse_time_str(s).is_some_and(|t| t >= *lo && t < *hi),
        }
    }

    fn eval_int(&self, v: i64, is_time: bool) -> bool {
        match self {
            Leaf::Cmp(op, lits) => any_lit(*op, lits, |l| {
                if let Ok(x) = l.parse::<i64>() {
                    Some(v.cmp(&x))
                } else if let Ok(x) = l.parse::<f64>() {
                    (v as f64).partial_cmp(&x)
                } else if is_time {
                    time::parse_time_str(l).map(|t| v.cmp(&t))
                } else {
                    (*op == CmpOp::Eq || *op == CmpOp::Ne)
                        .then(|| v.to_string().as_str().cmp(l.as_str()))
                }
            }),
            Leaf::Time(op, ts) => any_lit(*op, ts, |l| Some(v.cmp(l))),
            Leaf::Range(lo, hi) => v >= *lo && v < *hi,
            Leaf::Prefix(p) => v.to_string().starts_with(p.as_str()),
            Leaf::Contains(p) => v.to_string().contains(p.as_str()),
            Leaf::NotNull => true,
        }
    }

    fn eval_float(&self, v: f64) -> bool {
        match self {
            Leaf::Cmp(op, lits) => any_lit(*op, lits, |l| {
                l.parse::<f64>().ok().and_then(|x| v.partial_cmp(&x))
            }),
            Leaf::Prefix(p) => format!("{v:?}").starts_with(p.as_str()),
            Leaf::Contains(p) => format!("{v:?}").contains(p.as_str()),
            Leaf::NotNull => true,
            Leaf::Time(..) | Leaf::Range(..) => false,
        }
    }

    fn eval_bool(&self, v: bool) -> bool {
        let s = if v { "true" } else { "false" };
        match self {
            Leaf::NotNull => true,
            Leaf::Time(..) | Leaf::Range(..) => false,
            other => other.eval_str(s),
        }
    }
}

fn eval_block(
    b: &Block,
    ty: ColumnType,
    leaf: &Leaf,
    table: Option<&[bool]>,
    base: usize,
    out: &mut Bits,
) -> Result<()> {
    let is_time = ty == ColumnType::Time;
    for i in 0..b.values.len() {
        if !b.is_valid(i) {
            continue;
        }
        let hit = match &b.values {
            Values::Codes(c) => table
                .and_then(|t| t.get(c[i] as usize))
                .copied()
                .unwrap_or(false),
            Values::Int(v) => leaf.eval_int(v[i], is_time),
            Values::Float(v) => leaf.eval_float(v[i]),
            Values::Bool(v) => leaf.eval_bool(v[i]),
        };
        if hit {
            out.set(base + i);
        }
    }
    Ok(())
}
