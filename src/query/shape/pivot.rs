//! Shaping groups into a pivot table: rows x column values, `--cols-top` folding into `OTHER`,
//! totals, sorting and an exact `--top N` (kept over the complete rows, never over partials).

use std::collections::HashMap;

use crate::query::exec::Plan;
use crate::query::plan::KeyPart;
use crate::query::tz::Tz;
use crate::query::value::{AggState, KeyValue};
use crate::query::{PivotRequest, QueryStats};

/// Row order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortBy {
    /// By the total of the first value, descending (ties by key).
    Total,
    /// By the row key with this label, ascending.
    Key(String),
}

/// One output row.
#[derive(Clone, Debug)]
pub struct PivotRow {
    pub keys: Vec<KeyValue>,
    /// Per output column, the states of each value (None = no event in that cell); empty
    /// without `--cols` (then `total` is the row's only cell).
    pub cells: Vec<Option<Vec<AggState>>>,
    /// States of each value over the whole row.
    pub total: Vec<AggState>,
    /// Events in the row.
    pub events: u64,
}

/// How to print a key.
#[derive(Clone, Debug)]
pub enum KeyFormat {
    Plain,
    Time,
    Weekday,
}

/// The result of a pivot query.
#[derive(Clone, Debug)]
pub struct PivotTable {
    pub row_labels: Vec<String>,
    pub col_label: Option<String>,
    pub value_labels: Vec<String>,
    /// Column values in output order; None is the `OTHER` fold. Empty without `--cols`.
    pub columns: Vec<Option<KeyValue>>,
    pub rows: Vec<PivotRow>,
    pub totals: Option<PivotRow>,
    /// Rows before `--top` cut.
    pub total_rows: u64,
    /// Show the Total column and row (`--totals`).
    pub show_totals: bool,
    pub stats: QueryStats,
    pub row_formats: Vec<KeyFormat>,
    pub col_format: KeyFormat,
    pub tz: Tz,
}

impl PivotTable {
    /// Print a key value.
    pub fn key_text(&self, v: &KeyValue, fmt: &KeyFormat) -> String {
        key_text(v, fmt, &self.tz)
    }

    /// Header text of output column `i`.
    pub fn column_text(&self, i: usize) -> String {
        match self.columns.get(i) {
            Some(Some(v)) => key_text(v, &self.col_format, &self.tz),
            _ => "OTHER".to_string(),
        }
    }
}

/// Print a key value.
pub fn key_text(v: &KeyValue, fmt: &KeyFormat, tz: &Tz) -> String {
    match (v, fmt) {
        (KeyValue::Null, _) => "(null)".into(),
        (KeyValue::Time(t), _) => crate::query::tz::format_local(*t, tz),
        (KeyValue::Int(d), KeyFormat::Weekday) => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
            .get((*d as usize).wrapping_sub(1))
            .map_or(d.to_string(), |s| format!("{d}-{s}")),
        (KeyValue::Int(i), _) => i.to_string(),
        (KeyValue::Float(f), _) => format!("{:?}", f.get()),
        (KeyValue::Bool(b), _) => b.to_string(),
        (KeyValue::Str(s), _) => s.to_string(),
    }
}

/// How a key of this kind prints.
pub fn format_of(p: &KeyPart) -> KeyFormat {
    match p {
        KeyPart::Bucket { .. } => KeyFormat::Time,
        KeyPart::Weekday { .. } => KeyFormat::Weekday,
        _ => KeyFormat::Plain,
    }
}

/// A row under construction: sparse cells (column index, states), so a wide pivot costs
/// memory only for the cells that have events.
struct RowAcc {
    keys: Vec<KeyValue>,
    cells: Vec<(u32, Vec<AggState>)>,
    total: Vec<AggState>,
    events: u64,
}

impl RowAcc {
    fn dense(self, ncols: usize) -> PivotRow {
        let mut cells: Vec<Option<Vec<AggState>>> = vec![None; ncols];
        for (ci, st) in self.cells {
            if let Some(slot) = cells.get_mut(ci as usize) {
                *slot = Some(st);
            }
        }
        PivotRow {
            keys: self.keys,
            cells,
            total: self.total,
            events: self.events,
        }
    }
}

/// Accumulates complete rows.
pub struct PivotBuilder<'a> {
    plan: &'a Plan,
    req: &'a PivotRequest,
    has_col: bool,
    /// Column key -> output column.
    col_index: HashMap<KeyValue, usize>,
    columns: Vec<Option<KeyValue>>,
    other: Option<usize>,
    rows: Vec<RowAcc>,
    totals: Option<PivotRow>,
    total_rows: u64,
}

/// The order of two rows (row keys, total states) in a finished table: by the `--sort` key,
/// else by the total of the first value, descending; ties by key.
pub(crate) fn row_order(
    plan: &Plan,
    sort: &SortBy,
    (a_keys, a_total): (&[KeyValue], &[AggState]),
    (b_keys, b_total): (&[KeyValue], &[AggState]),
) -> std::cmp::Ordering {
    let key_pos = match sort {
        SortBy::Key(label) => plan.keys.iter().position(|k| &k.label == label),
        SortBy::Total => None,
    };
    match key_pos {
        Some(p) => a_keys
            .get(p)
            .cmp(&b_keys.get(p))
            .then_with(|| a_keys.cmp(b_keys)),
        None => {
            let value = |t: &[AggState]| {
                t.get(1)
                    .and_then(AggState::result)
                    .unwrap_or(f64::NEG_INFINITY)
            };
            value(b_total)
                .total_cmp(&value(a_total))
                .then_with(|| a_keys.cmp(b_keys))
        }
    }
}

impl<'a> PivotBuilder<'a> {
    /// A builder; `col_counts` are the event counts per column value (for `--cols-top`).
    pub fn new(
        plan: &'a Plan,
        req: &'a PivotRequest,
        col_counts: &HashMap<KeyValue, u64>,
    ) -> PivotBuilder<'a> {
        let has_col = plan.keys.len() > plan.n_row_keys;
        let mut cols: Vec<(&KeyValue, u64)> = col_counts.iter().map(|(k, n)| (k, *n)).collect();
        cols.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let keep = req.cols_top.unwrap_or(usize::MAX);
        let mut columns: Vec<Option<KeyValue>> = cols
            .iter()
            .take(keep)
            .map(|(k, _)| Some((*k).clone()))
            .collect();
        if matches!(
            plan.keys.last().map(|k| &k.part),
            Some(KeyPart::Bucket { .. } | KeyPart::Hour { .. } | KeyPart::Weekday { .. })
        ) {
            columns.sort();
        }
        let other = (cols.len() > keep).then(|| {
            columns.push(None);
            columns.len() - 1
        });
        let col_index = columns
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.clone().map(|k| (k, i)))
            .collect();
        if !has_col {
            columns = Vec::new();
        }
        PivotBuilder {
            plan,
            req,
            has_col,
            col_index,
            columns,
            other,
            rows: Vec::new(),
            totals: None,
            total_rows: 0,
        }
    }

    /// Rows of the complete result when fewer were added (the fast path hands on only the
    /// rows that can reach `--top`).
    pub(crate) fn set_total_rows(&mut self, n: u64) {
        self.total_rows = self.total_rows.max(n);
    }

    fn ncols(&self) -> usize {
        self.columns.len()
    }

    /// Add a table of groups whose rows are complete (all of a row's groups are in it).
    pub fn add_groups(&mut self, groups: impl IntoIterator<Item = (Vec<KeyValue>, Vec<AggState>)>) {
        let groups = groups.into_iter();
        if !self.has_col {
            for (k, states) in groups {
                self.push_row(RowAcc {
                    keys: k,
                    cells: Vec::new(),
                    total: states,
                    events: 0,
                });
            }
            self.prune();
            return;
        }
        let n = self.plan.n_row_keys;
        let mut acc: HashMap<Vec<KeyValue>, RowAcc, ahash::RandomState> =
            HashMap::with_capacity_and_hasher(groups.size_hint().0, Default::default());
        for (mut k, states) in groups {
            let col = k.pop();
            let ci = match &col {
                Some(c) => self.col_index.get(c).copied().or(self.other).unwrap_or(0),
                None => 0,
            } as u32;
            k.truncate(n);
            let row = acc.entry(k).or_insert_with(|| RowAcc {
                keys: Vec::new(),
                cells: Vec::new(),
                total: self.plan.new_states(),
                events: 0,
            });
            for (a, b) in row.total.iter_mut().zip(&states) {
                a.merge_ref(b);
            }
            match row.cells.iter_mut().find(|c| c.0 == ci) {
                Some((_, cell)) => {
                    for (a, b) in cell.iter_mut().zip(states) {
                        a.merge(b);
                    }
                }
                None => row.cells.push((ci, states)),
            }
        }
        for (k, mut r) in acc {
            r.keys = k;
            self.push_row(r);
        }
        self.prune();
    }

    fn push_row(&mut self, mut r: RowAcc) {
        self.total_rows += 1;
        r.events = match r.total.first() {
            Some(AggState::Count(c)) => *c,
            _ => 0,
        };
        if self.req.totals {
            let ncols = self.ncols();
            let t = self.totals.get_or_insert_with(|| PivotRow {
                keys: Vec::new(),
                cells: vec![None; ncols],
                total: self.plan.new_states(),
                events: 0,
            });
            t.events += r.events;
            for (a, b) in t.total.iter_mut().zip(&r.total) {
                a.merge_ref(b);
            }
            for (ci, rc) in &r.cells {
                match t.cells.get_mut(*ci as usize) {
                    Some(Some(tc)) => {
                        for (a, b) in tc.iter_mut().zip(rc) {
                            a.merge_ref(b);
                        }
                    }
                    Some(slot) => *slot = Some(rc.clone()),
                    None => {}
                }
            }
        }
        self.rows.push(r);
    }

    fn compare(&self, a: &RowAcc, b: &RowAcc) -> std::cmp::Ordering {
        row_order(
            self.plan,
            &self.req.sort,
            (&a.keys, &a.total),
            (&b.keys, &b.total),
        )
    }

    fn sort(&mut self) {
        let mut rows = std::mem::take(&mut self.rows);
        if let Some(top) = self.req.top {
            // `top` 0 means all rows (PivotRequest::normalized).
            if rows.len() > top && top > 0 {
                rows.select_nth_unstable_by(top - 1, |a, b| self.compare(a, b));
                rows.truncate(top);
            }
        }
        rows.sort_by(|a, b| self.compare(a, b));
        self.rows = rows;
    }

    fn prune(&mut self) {
        if let Some(top) = self.req.top {
            if self.rows.len() > top.saturating_mul(2).max(1024) {
                self.sort();
            }
        }
    }

    /// The finished table.
    pub fn finish(mut self, stats: QueryStats) -> PivotTable {
        self.sort();
        let strip = |mut r: PivotRow| {
            r.total.remove(0);
            for c in r.cells.iter_mut().flatten() {
                c.remove(0);
            }
            r
        };
        let ncols = self.columns.len();
        let rows = self
            .rows
            .into_iter()
            .map(|r| strip(r.dense(ncols)))
            .collect();
        let totals = self.totals.map(strip);
        let n = self.plan.n_row_keys;
        PivotTable {
            row_labels: self.plan.keys[..n]
                .iter()
                .map(|k| k.label.clone())
                .collect(),
            col_label: self.plan.keys.get(n).map(|k| k.label.clone()),
            value_labels: self.plan.values.iter().map(|v| v.label.clone()).collect(),
            columns: self.columns,
            rows,
            totals,
            total_rows: self.total_rows,
            show_totals: self.req.totals,
            stats,
            row_formats: self.plan.keys[..n]
                .iter()
                .map(|k| format_of(&k.part))
                .collect(),
            col_format: self
                .plan
                .keys
                .get(n)
                .map_or(KeyFormat::Plain, |k| format_of(&k.part)),
            tz: self.plan.tz.clone(),
        }
    }
}
