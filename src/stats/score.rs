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
use crate::query::{PivotRequest, QueryStats};
use crate::segment::{Cell, SegmentReader};
use crate::store::DataDir;

use super::contrast::{merge_stats, prepare_on, probabilities, CountPass, Prepared, Smoothing};
use super::math::{self, Combined};

/// Tokens whose probability is within this distance of 0.5 are ignored (SpamBayes'
/// `minimum_prob_strength`).
pub const MIN_STRENGTH: f64 = 0.1;

/// The most memory `score`'s one-pass counting takes, whatever the limit: the fallback of the
/// per-field count pivots when a field's suspect values would outgrow a quarter of the limit.
/// Its groups are the general aggregator's (one grouping set per field, about 250 bytes a
/// group), whose time goes to reading rows, not to spilling: at 10M events (2.9M client IPs and
/// paths) it ran as fast at 128 MiB as with 3 GiB (30-31 s against 31-35 s), at 230 MB peak
/// RSS instead of 910 MB.
pub const COUNTING_CAP: u64 = 128 << 20;

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
    probs: Vec<super::contrast::ValueProbs>,
    pub n_suspect: u64,
    pub n_baseline: u64,
    pub stats: QueryStats,
    threads: usize,
    cancel: crate::Cancel,
}

impl Scorer {
    /// Learn the probabilities of the chosen fields' values.
    pub fn new(dir: &DataDir, req: &ScoreRequest) -> Result<Scorer> {
        let (segs, time_field) = crate::query::open_segments(dir)?;
        Scorer::new_on(segs, time_field, req, &mut CountPass::Local)?
            .ok_or_else(|| Error::invalid("a local score that did not count"))
    }

    /// [`Scorer::new`] over segments already open, its counting pass run where `pass` says
    /// (None when it was only planned: `logpivot.ray`'s map and reduce steps).
    pub fn new_on(
        segs: Vec<SegmentReader>,
        time_field: Option<String>,
        req: &ScoreRequest,
        pass: &mut CountPass<'_>,
    ) -> Result<Option<Scorer>> {
        let (pre, fields) = prepare_score(segs, time_field, req)?;
        let _kept = crate::query::fit_kept(&pre.segs, req.query.memory_limit);
        let mut stats = QueryStats::default();
        // The counting pass gets half the limit: the value list and the learned tables it
        // builds (12 bytes a value each: about 35 MB for 2.9M client IPs and paths) grow beside
        // its groups while it merges them.
        let counting = PivotRequest {
            memory_limit: (req.query.memory_limit / 2).max(1 << 20),
            ..req.query.clone()
        };
        let Some((ns, nb, probs)) =
            probabilities(&pre, &fields, &counting, req.smoothing, &mut stats, pass)?
        else {
            return Ok(None);
        };
        // The counting pass's tables are freed among the learned ones: give their pages back
        // before the scan allocates its own.
        crate::io::release_free_memory();
        Scorer::with_probs(pre, fields, req, (ns, nb, probs), stats).map(Some)
    }

    /// A scorer over `segs` with the token table of another ([`Scorer::table`]): no counting
    /// pass (`logpivot.ray` learns the table once and shares it with every task).
    pub fn with_table(
        segs: Vec<SegmentReader>,
        time_field: Option<String>,
        req: &ScoreRequest,
        table: &[u8],
    ) -> Result<Scorer> {
        let (pre, fields) = prepare_score(segs, time_field, req)?;
        let learned = read_table(table, fields.len())?;
        Scorer::with_probs(pre, fields, req, learned, QueryStats::default())
    }

    fn with_probs(
        pre: Prepared,
        fields: Vec<KeySpec>,
        req: &ScoreRequest,
        (ns, nb, probs): Learned,
        stats: QueryStats,
    ) -> Result<Scorer> {
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

    /// The learned token table (set sizes and every field value's probability), encoded: a
    /// version byte, varint suspect and baseline sizes, then per field a varint count of
    /// (value key, f64 LE probability) entries.
    pub fn table(&self) -> Vec<u8> {
        use crate::codec::bytes::{put_f64_le, put_varint_u64};
        let mut out = vec![TABLE_FORMAT];
        put_varint_u64(&mut out, self.n_suspect);
        put_varint_u64(&mut out, self.n_baseline);
        for m in &self.probs {
            put_varint_u64(&mut out, m.len() as u64);
            for (h, p) in m.iter() {
                out.extend_from_slice(&h.to_le_bytes());
                put_f64_le(&mut out, p);
            }
        }
        out
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
                        .get(super::contrast::value_hash(&v))
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
        self.for_each_of(None, visit)
    }

    /// [`Scorer::for_each`] over the segments `only` lists (all when None).
    fn for_each_of(
        &self,
        only: Option<&[usize]>,
        visit: &(dyn Fn(usize, usize, Combined) + Sync),
    ) -> Result<QueryStats> {
        let all: Vec<usize>;
        let which: &[usize] = match only {
            Some(w) => w,
            None => {
                all = (0..self.pre.segs.len()).collect();
                &all
            }
        };
        let segs = &self.pre.segs;
        let next = AtomicUsize::new(0);
        let stats = Mutex::new(QueryStats {
            segments: which.len() as u64,
            ..QueryStats::default()
        });
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.threads.clamp(1, which.len().max(1)) {
                s.spawn(|| {
                    let mut probs = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = which.get(n) else { break };
                        let Some(seg) = segs.get(i) else {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(Error::invalid(format!(
                                    "score: segment {i} of {}",
                                    segs.len()
                                )));
                            }
                            break;
                        };
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
    let top = scorer.top(req, None)?;
    scorer.result(req, top)
}

/// The best events of a scan: (score, segment index, row), best first; events scored and
/// those at or above the threshold; what the scan did.
#[derive(Clone, Debug, Default)]
pub struct Top {
    pub best: Vec<(Combined, usize, usize)>,
    pub scored: u64,
    pub above: u64,
    pub stats: QueryStats,
}

impl Top {
    /// Merge the tops of scans of other segments, keeping the best `limit` (the order of one
    /// scan: score, then segment, then row).
    pub fn merge(parts: Vec<Top>, limit: usize) -> Top {
        let mut best = Best::new(limit);
        let mut out = Top::default();
        for p in parts {
            out.scored += p.scored;
            out.above += p.above;
            merge_stats(&mut out.stats, &p.stats);
            out.stats.segments += p.stats.segments;
            for (c, seg, row) in p.best {
                best.offer(c, seg, row);
            }
        }
        best.cut();
        out.best = best.items;
        out
    }
}

/// How many events a request lists (`--top 0` or a threshold alone: every one that
/// qualifies).
pub fn limit_of(req: &ScoreRequest) -> usize {
    match (req.top, req.threshold) {
        (Some(0), _) | (None, Some(_)) => usize::MAX,
        (Some(n), _) => n,
        (None, None) => 20,
    }
}

impl Scorer {
    /// Score the selected events of the segments `only` lists (indexes into
    /// [`Scorer::segments`]; all when None) and keep the best.
    pub fn top(&self, req: &ScoreRequest, only: Option<&[usize]>) -> Result<Top> {
        let _kept = crate::query::fit_kept(&self.pre.segs, req.query.memory_limit);
        let limit = limit_of(req);
        let threshold = req.threshold.unwrap_or(f64::NEG_INFINITY);
        let scored = AtomicU64::new(0);
        let above = AtomicU64::new(0);
        // Per-thread buffers would avoid the lock; one short critical section per event that
        // passes the current cut keeps this simple, and most events do not.
        let best: Mutex<Best> = Mutex::new(Best::new(limit));
        let stats = self.for_each_of(only, &|seg, row, c| {
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
        Ok(Top {
            best: best.items,
            scored: scored.into_inner(),
            above: above.into_inner(),
            stats,
        })
    }

    /// The listed events of `top`, read in full, segment by segment.
    pub fn result(&self, req: &ScoreRequest, top: Top) -> Result<ScoreResult> {
        let mut stats = self.stats.clone();
        merge_stats(&mut stats, &top.stats);
        let mut events: Vec<Option<ScoredEvent>> = vec![None; top.best.len()];
        let mut by_seg: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (pos, &(_, seg, row)) in top.best.iter().enumerate() {
            by_seg.entry(seg).or_default().push((pos, row));
        }
        for (seg, list) in by_seg {
            let rows: Vec<usize> = list.iter().map(|x| x.1).collect();
            let Some(s) = self.pre.segs.get(seg) else {
                return Err(Error::invalid(format!(
                    "score: segment {seg} of {}",
                    self.pre.segs.len()
                )));
            };
            let cells = s.row_cells(&rows)?;
            let drivers = self.drivers(seg, &rows)?;
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
                    combined: top.best[pos].0,
                    file,
                    line,
                    drivers,
                    fields,
                });
            }
        }
        Ok(ScoreResult {
            n_suspect: self.n_suspect,
            n_baseline: self.n_baseline,
            fields: self.fields(),
            scored: top.scored,
            above_threshold: req.threshold.map(|_| top.above),
            events: events.into_iter().flatten().collect(),
            stats,
        })
    }
}

/// Sizes of the suspect and baseline sets, and per field its values' probabilities.
type Learned = (u64, u64, Vec<super::contrast::ValueProbs>);

/// The sets of a score over open segments, and its fields.
fn prepare_score(
    segs: Vec<SegmentReader>,
    time_field: Option<String>,
    req: &ScoreRequest,
) -> Result<(Prepared, Vec<KeySpec>)> {
    let pre = prepare_on(
        segs,
        time_field,
        &req.suspect,
        req.baseline.as_deref(),
        &[],
        &req.query,
    )?;
    let fields = pre.fields(&req.fields)?;
    Ok((pre, fields))
}

/// Version of [`Scorer::table`]'s encoding: 2 holds values by their 64-bit hash.
const TABLE_FORMAT: u8 = 2;

fn read_table(table: &[u8], fields: usize) -> Result<Learned> {
    let bad =
        |e: &dyn std::fmt::Display| Error::invalid(format!("a token table does not decode: {e}"));
    let mut r = crate::codec::bytes::ByteReader::new(table);
    let version = r.read_u8().map_err(|e| bad(&e))?;
    if version != TABLE_FORMAT {
        return Err(bad(&format!(
            "format {version}, this build reads {TABLE_FORMAT}"
        )));
    }
    let ns = r.read_varint_u64().map_err(|e| bad(&e))?;
    let nb = r.read_varint_u64().map_err(|e| bad(&e))?;
    let mut probs = Vec::with_capacity(fields.min(1024));
    for _ in 0..fields {
        let n = r.read_varint_u64().map_err(|e| bad(&e))?;
        let mut m = Vec::with_capacity((n as usize).min(r.remaining() / 16 + 1));
        for _ in 0..n {
            let h = r.read_u64_le().map_err(|e| bad(&e))?;
            let p = r.read_f64_le().map_err(|e| bad(&e))?;
            m.push((h, p));
        }
        probs.push(super::values::ValueProbs::from_entries(m));
    }
    if r.remaining() != 0 {
        return Err(bad(&format!(
            "{} bytes left: a table of another field list",
            r.remaining()
        )));
    }
    Ok((ns, nb, probs))
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
