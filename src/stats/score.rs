//! `score`: rate every event by combining the smoothed probabilities of its field values
//! (learned by contrasting the suspect set with the baseline) with Fisher/Robinson
//! chi-square combining, as SpamBayes rates a message from its words; list the top events.
//!
//! Two passes over the data: one grouping-set pivot to learn each value's probability (counts
//! from the indexes where possible, inside the memory budget), then a parallel scan of the
//! events `--where` selects, decoding only the chosen fields, keeping the best `top` events
//! (or those above `--threshold`) as (segment, row, score) triples. Only the listed events
//! are read in full.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::query::exec::{Plan, SegmentRows};
use crate::query::frame::{Frame, Kind, Val};
use crate::query::pivot::{format_of, key_text};
use crate::query::plan::KeySpec;
use crate::query::value::KeyValue;
use crate::query::{PivotRequest, QueryStats};
use crate::segment::Cell;
use crate::store::DataDir;

use super::contrast::{merge_stats, prepare, probabilities, Prepared, Smoothing};
use super::math::{self, Combined};

/// Tokens whose probability is within this distance of 0.5 are ignored (SpamBayes'
/// `minimum_prob_strength`).
pub const MIN_STRENGTH: f64 = 0.1;

/// At most this many of an event's strongest tokens are combined (SpamBayes'
/// `max_discriminators`).
pub const MAX_DISCRIMINATORS: usize = 150;

/// Drivers listed per event.
pub const DRIVERS: usize = 5;

/// What to score.
#[derive(Clone, Debug)]
pub struct ScoreRequest {
    pub suspect: String,
    pub baseline: Option<String>,
    /// Fields whose values are the tokens; empty = the contrast defaults.
    pub fields: Vec<String>,
    /// Which events to score (all when empty); the probabilities are learned from the
    /// suspect and baseline sets regardless.
    pub filters: Vec<String>,
    /// Events listed (the best first); None with a threshold = all above it.
    pub top: Option<usize>,
    /// List only events scoring at least this.
    pub threshold: Option<f64>,
    pub smoothing: Smoothing,
    pub query: PivotRequest,
}

impl Default for ScoreRequest {
    fn default() -> Self {
        ScoreRequest {
            suspect: String::new(),
            baseline: None,
            fields: Vec::new(),
            filters: Vec::new(),
            top: Some(20),
            threshold: None,
            smoothing: Smoothing::default(),
            query: PivotRequest::default(),
        }
    }
}

/// A token that moved an event's score.
#[derive(Clone, Debug, PartialEq)]
pub struct Driver {
    pub field: String,
    pub value: String,
    /// Its smoothed probability (above 0.5 points to the suspect set).
    pub f: f64,
}

/// One listed event.
#[derive(Clone, Debug)]
pub struct ScoredEvent {
    pub rank: usize,
    pub combined: Combined,
    /// Where it was read from (`_file`, `_line`) when the data records it.
    pub file: Option<String>,
    pub line: Option<i64>,
    pub drivers: Vec<Driver>,
    /// Every non-null field of the event (stored column names).
    pub fields: Vec<(String, Cell)>,
}

/// The result of `score`.
#[derive(Clone, Debug)]
pub struct ScoreResult {
    pub n_suspect: u64,
    pub n_baseline: u64,
    pub fields: Vec<String>,
    /// Events scored, and those at or above the threshold (when one was given).
    pub scored: u64,
    pub above_threshold: Option<u64>,
    pub events: Vec<ScoredEvent>,
    pub stats: QueryStats,
}

/// Learned token probabilities and the plan of the scan: the engine behind `score`, also
/// usable to score every event (e.g. to measure ROC AUC against ground truth).
pub struct Scorer {
    pre: Prepared,
    plan: Plan,
    probs: Vec<HashMap<KeyValue, f64>>,
    pub n_suspect: u64,
    pub n_baseline: u64,
    pub stats: QueryStats,
    threads: usize,
    cancel: crate::Cancel,
}

impl Scorer {
    /// Learn the probabilities of the chosen fields' values.
    pub fn new(dir: &DataDir, req: &ScoreRequest) -> Result<Scorer> {
        let pre = prepare(dir, &req.suspect, req.baseline.as_deref(), &[], &req.query)?;
        let fields: Vec<KeySpec> = pre.fields(&req.fields)?;
        let mut stats = QueryStats::default();
        let (ns, nb, probs) = probabilities(&pre, &fields, &req.query, req.smoothing, &mut stats)?;
        if ns == 0 {
            return Err(Error::invalid(format!(
                "the suspect set is empty: no event matches `{}`",
                req.suspect
            )));
        }
        let mut filters = Vec::new();
        for f in &req.filters {
            filters.push(crate::query::parse_filter(f, &pre.schema, "--where")?);
        }
        let plan = Plan {
            n_row_keys: fields.len(),
            keys: fields,
            values: Vec::new(),
            filter: crate::query::expr::and_all(filters),
            from: None,
            to: None,
            joins: pre.joins.clone(),
            tz: pre.tz.clone(),
            use_indexes: req.query.use_indexes,
            grouping_sets: Vec::new(),
        };
        Ok(Scorer {
            pre,
            plan,
            probs,
            n_suspect: ns,
            n_baseline: nb,
            stats,
            threads: req.query.threads.max(1),
            cancel: req.query.cancel.clone(),
        })
    }

    /// The field labels.
    pub fn fields(&self) -> Vec<String> {
        self.plan.keys.iter().map(|k| k.label.clone()).collect()
    }

    /// The open segments (indexes as passed to `visit`).
    pub fn segments(&self) -> &[crate::segment::SegmentReader] {
        &self.pre.segs
    }

    /// The clues of `row`: (key index, local id, probability), strongest first, capped.
    fn clues(
        &self,
        rows: &SegmentRows,
        memo: &mut [HashMap<u64, Option<f64>>],
        row: usize,
        out: &mut Vec<(usize, u64, f64)>,
    ) {
        out.clear();
        for (k, m) in memo.iter_mut().enumerate() {
            for &id in rows.ids(k, row) {
                let p = *m.entry(id).or_insert_with(|| {
                    let v = rows.value(&self.plan, k, id);
                    self.probs[k]
                        .get(&v)
                        .copied()
                        .filter(|p| (p - 0.5).abs() >= MIN_STRENGTH)
                });
                if let Some(p) = p {
                    out.push((k, id, p));
                }
            }
        }
        if out.len() > MAX_DISCRIMINATORS {
            out.sort_by(|a, b| (b.2 - 0.5).abs().total_cmp(&(a.2 - 0.5).abs()));
            out.truncate(MAX_DISCRIMINATORS);
        }
    }

    /// Score every selected event, in parallel over segments: `visit(segment, row, score)`.
    pub fn for_each(&self, visit: &(dyn Fn(usize, usize, Combined) + Sync)) -> Result<QueryStats> {
        let segs = &self.pre.segs;
        let next = AtomicUsize::new(0);
        let stats = Mutex::new(QueryStats {
            segments: segs.len() as u64,
            ..QueryStats::default()
        });
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.threads.clamp(1, segs.len().max(1)) {
                s.spawn(|| {
                    let mut probs = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(seg) = segs.get(i) else { break };
                        let r = self.scan_segment(i, seg, &mut probs, visit);
                        seg.release_read_pages();
                        match r {
                            Ok(rep) => {
                                if let Ok(mut st) = stats.lock() {
                                    st.add_segment(&rep);
                                }
                            }
                            Err(e) => {
                                if let Ok(mut f) = failed.lock() {
                                    f.get_or_insert(e);
                                }
                                next.store(usize::MAX / 2, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(stats.into_inner().unwrap_or_default())
    }

    fn scan_segment(
        &self,
        i: usize,
        seg: &crate::segment::SegmentReader,
        buf: &mut Vec<(usize, u64, f64)>,
        visit: &(dyn Fn(usize, usize, Combined) + Sync),
    ) -> Result<crate::query::exec::SegmentReport> {
        self.cancel.check()?;
        let (report, rows) = SegmentRows::new(&self.plan, &self.pre.schema, seg)?;
        let Some(rows) = rows else {
            return Ok(report);
        };
        let mut memo = vec![HashMap::new(); self.plan.keys.len()];
        let mut probs = Vec::new();
        for row in rows.rows() {
            self.clues(&rows, &mut memo, row, buf);
            probs.clear();
            probs.extend(buf.iter().map(|c| c.2));
            visit(i, row, math::chi_combine(&probs));
        }
        Ok(report)
    }

    /// The drivers of some rows of one segment, strongest first.
    fn drivers(&self, seg: usize, rows: &[usize]) -> Result<Vec<Vec<Driver>>> {
        let Some(s) = self.pre.segs.get(seg) else {
            return Ok(vec![Vec::new(); rows.len()]);
        };
        let (_, sr) = SegmentRows::new(&self.plan, &self.pre.schema, s)?;
        let Some(sr) = sr else {
            return Ok(vec![Vec::new(); rows.len()]);
        };
        let mut memo = vec![HashMap::new(); self.plan.keys.len()];
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for &row in rows {
            self.clues(&sr, &mut memo, row, &mut buf);
            buf.sort_by(|a, b| (b.2 - 0.5).abs().total_cmp(&(a.2 - 0.5).abs()));
            out.push(
                buf.iter()
                    .take(DRIVERS)
                    .map(|&(k, id, f)| {
                        let key = &self.plan.keys[k];
                        Driver {
                            field: key.label.clone(),
                            value: key_text(
                                &sr.value(&self.plan, k, id),
                                &format_of(&key.part),
                                &self.plan.tz,
                            ),
                            f,
                        }
                    })
                    .collect(),
            );
        }
        Ok(out)
    }
}

/// Run `score`.
pub fn score(dir: &DataDir, req: &ScoreRequest) -> Result<ScoreResult> {
    let scorer = Scorer::new(dir, req)?;
    // `--top 0` lists every event that qualifies (as contrast's `--top 0` lists every value).
    let limit = match (req.top, req.threshold) {
        (Some(0), _) | (None, Some(_)) => usize::MAX,
        (Some(n), _) => n,
        (None, None) => 20,
    };
    let threshold = req.threshold.unwrap_or(f64::NEG_INFINITY);
    let scored = AtomicU64::new(0);
    let above = AtomicU64::new(0);
    // Per-thread buffers would avoid the lock; one short critical section per event that
    // passes the current cut keeps this simple, and most events do not.
    let best: Mutex<Best> = Mutex::new(Best::new(limit));
    let scan = scorer.for_each(&|seg, row, c| {
        scored.fetch_add(1, Ordering::Relaxed);
        if c.score < threshold {
            return;
        }
        above.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut b) = best.lock() {
            b.offer(c, seg, row);
        }
    })?;
    let mut best = best
        .into_inner()
        .map_err(|_| Error::invalid("score: poisoned"))?;
    best.cut();
    let mut stats = scorer.stats.clone();
    merge_stats(&mut stats, &scan);
    // Read the listed events in full, segment by segment.
    let mut events: Vec<Option<ScoredEvent>> = vec![None; best.items.len()];
    let mut by_seg: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
    for (pos, &(_, seg, row)) in best.items.iter().enumerate() {
        by_seg.entry(seg).or_default().push((pos, row));
    }
    for (seg, list) in by_seg {
        let rows: Vec<usize> = list.iter().map(|x| x.1).collect();
        let s = &scorer.pre.segs[seg];
        let cells = s.row_cells(&rows)?;
        let drivers = scorer.drivers(seg, &rows)?;
        for (((pos, _), cells), drivers) in list.into_iter().zip(cells).zip(drivers) {
            let names = &s.meta().columns;
            let fields: Vec<(String, Cell)> = cells
                .into_iter()
                .filter_map(|(ci, c)| names.get(ci).map(|m| (m.name.clone(), c)))
                .collect();
            let file = fields
                .iter()
                .find(|f| f.0 == "_file")
                .map(|f| f.1.to_text());
            let line = fields.iter().find_map(|f| match (&f.0[..], &f.1) {
                ("_line", Cell::Int(n)) => Some(*n),
                _ => None,
            });
            events[pos] = Some(ScoredEvent {
                rank: pos + 1,
                combined: best.items[pos].0,
                file,
                line,
                drivers,
                fields,
            });
        }
    }
    Ok(ScoreResult {
        n_suspect: scorer.n_suspect,
        n_baseline: scorer.n_baseline,
        fields: scorer.fields(),
        scored: scored.into_inner(),
        above_threshold: req.threshold.map(|_| above.into_inner()),
        events: events.into_iter().flatten().collect(),
        stats,
    })
}

/// The best events so far: (score, segment, row), best first after `cut`.
struct Best {
    k: usize,
    items: Vec<(Combined, usize, usize)>,
    /// The score an event must beat once the buffer has been cut to `k`.
    floor: f64,
}

impl Best {
    fn new(k: usize) -> Best {
        Best {
            k,
            items: Vec::new(),
            floor: f64::NEG_INFINITY,
        }
    }

    fn offer(&mut self, c: Combined, seg: usize, row: usize) {
        if self.k == 0 || c.score < self.floor {
            return;
        }
        self.items.push((c, seg, row));
        if self.items.len() >= self.k.saturating_mul(2).max(4096) {
            self.cut();
        }
    }

    fn cut(&mut self) {
        self.items.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
        });
        self.items.truncate(self.k);
        if self.items.len() == self.k {
            self.floor = self.items.last().map_or(f64::NEG_INFINITY, |x| x.0.score);
        }
    }
}

impl ScoreResult {
    /// One row per listed event: rank, score, the two evidences, drivers, then every field
    /// seen in the listed events (as text; empty where the event lacks it).
    pub fn to_frame(&self) -> Frame {
        let mut names: Vec<String> = Vec::new();
        for e in &self.events {
            for (n, _) in &e.fields {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        names.sort();
        let mut cols: Vec<(&str, Kind)> = vec![
            ("rank", Kind::Count),
            ("score", Kind::Float),
            ("suspect_evidence", Kind::Float),
            ("baseline_evidence", Kind::Float),
            ("drivers", Kind::Text),
        ];
        cols.extend(names.iter().map(|n| (n.as_str(), Kind::Text)));
        let mut f = Frame::new(&cols);
        for e in &self.events {
            let mut row = vec![
                Val::Count(e.rank as u64),
                Val::Float(e.combined.score),
                Val::Float(e.combined.s),
                Val::Float(e.combined.h),
                Val::Text(drivers_text(&e.drivers)),
            ];
            for n in &names {
                row.push(
                    e.fields
                        .iter()
                        .find(|f| &f.0 == n)
                        .map_or(Val::Null, |f| Val::Text(f.1.to_text())),
                );
            }
            f.rows.push(row);
        }
        f
    }

    /// The terminal layout: a block per event (score, origin, drivers, then its fields
    /// wrapped to `width`).
    pub fn write_text(&self, out: &mut dyn Write, width: usize) -> Result<()> {
        let io = |e: std::io::Error| Error::io("<output>", e);
        for e in &self.events {
            let origin = match (&e.file, e.line) {
                (Some(f), Some(l)) => format!("  {f}:{l}"),
                _ => String::new(),
            };
            writeln!(
                out,
                "#{:<3} score {:.6}  (suspect evidence {:.4}, baseline evidence {:.4}){origin}",
                e.rank, e.combined.score, e.combined.s, e.combined.h
            )
            .map_err(io)?;
            let drivers: Vec<String> = e.drivers.iter().map(driver_text).collect();
            write_wrapped(out, "     drivers:", &drivers, width).map_err(io)?;
            let fields: Vec<String> = e
                .fields
                .iter()
                .filter(|(n, _)| n != "_file" && n != "_line")
                .map(|(n, c)| format!("{n}={}", c.to_text().replace(['\n', '\r'], " ")))
                .collect();
            write_wrapped(out, "    ", &fields, width).map_err(io)?;
            writeln!(out).map_err(io)?;
        }
        Ok(())
    }
}

fn driver_text(d: &Driver) -> String {
    format!("{}={} ({:.3})", d.field, d.value, d.f)
}

fn drivers_text(d: &[Driver]) -> String {
    d.iter().map(driver_text).collect::<Vec<_>>().join("; ")
}

/// Items after `lead`, space-separated, wrapped at `width` (continuation lines indented
/// like the first); an item longer than a line is cut with `…`.
fn write_wrapped(
    out: &mut dyn Write,
    lead: &str,
    items: &[String],
    width: usize,
) -> std::io::Result<()> {
    let indent = " ".repeat(lead.chars().count().min(8));
    let max_item = width.saturating_sub(indent.len() + 1).max(20);
    let mut line = lead.to_string();
    let mut has_item = false;
    for item in items {
        let mut item = item.clone();
        if item.chars().count() > max_item {
            item = item.chars().take(max_item - 1).collect();
            item.push('…');
        }
        if has_item && line.chars().count() + 1 + item.chars().count() > width {
            writeln!(out, "{line}")?;
            line = indent.clone();
        }
        line.push(' ');
        line.push_str(&item);
        has_item = true;
    }
    if has_item {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
