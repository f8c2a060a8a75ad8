//! `contrast`: count each value of each chosen field (or pair of fields) in a suspect set and a
//! baseline set of events, and rank the values by how much more likely they are in the
//! suspect set (see docs/STATISTICS.md for the statistics and their references).
//!
//! Counting is a count pivot of the query engine per field (and per pair), twice: the suspect
//! events (their counts kept by value), then all selected events (`Prepared::count_by_sets`),
//! each on the path a pivot of those keys takes. For `logpivot.ray` (whose steps run one plan)
//! and when a set's suspect values outgrow a quarter of the limit, it is one pass with a
//! grouping set per field and pair, two counts per group: all selected events, and the suspect
//! ones (a [`KeyPart::Flag`] value input). Filters use the bitmap and time indexes, and group
//! state stays inside the memory budget, spilling like any pivot.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::query::exec::Plan;
use crate::query::expr::Expr;
use crate::query::frame::{Frame, Kind, Val};
use crate::query::pivot::{format_of, key_text};
use crate::query::plan::{self, AggFn, Join, KeyPart, KeySpec, Schema, ValueSpec};
use crate::query::value::{AggState, KeyValue};
use crate::query::{self as q, PivotRequest, QueryStats};
use crate::segment::{ColumnType, SegmentReader, TIME_COLUMN};
use crate::store::DataDir;

use super::math;

/// String columns with more distinct values than this (in some segment) are not default
/// fields; nor are columns whose values are mostly unique (ids, ports, byte counts): distinct
/// values per segment, summed, above a quarter of the rows.
pub const DEFAULT_MAX_CARDINALITY: u64 = 10_000;

/// How the value list is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Robinson's smoothed probability f, descending (the default); then G.
    F,
    /// The G statistic of over-represented values first (equivalently the p-value, and the
    /// q-value, ascending); under-represented values after them.
    G,
    /// Elastic's JLH score, descending.
    Jlh,
    /// The z-score of the log-odds ratio with an informative Dirichlet prior (Monroe et al.
    /// 2008), descending.
    Z,
    /// The lower 95% confidence bound of the rate ratio, descending.
    Rr,
}

impl std::str::FromStr for Rank {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rank> {
        match s {
            "f" | "prob" => Ok(Rank::F),
            "g" | "p" | "q" => Ok(Rank::G),
            "jlh" => Ok(Rank::Jlh),
            "z" | "lor" | "logodds" => Ok(Rank::Z),
            "rr" => Ok(Rank::Rr),
            _ => Err(Error::invalid(format!(
                "invalid ranking `{s}`: use f (the default), g, jlh, z or rr"
            ))),
        }
    }
}

/// Robinson's smoothing: the strength `s` of the prior and the prior `x` (SpamBayes'
/// `unknown_word_strength` and `unknown_word_prob`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Smoothing {
    pub s: f64,
    pub x: f64,
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing { s: 0.45, x: 0.5 }
    }
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct ContrastRequest {
    /// The suspect set (filter language).
    pub suspect: String,
    /// The baseline set; None = every event outside the suspect set. An event in both
    /// counts as suspect only.
    pub baseline: Option<String>,
    /// Restricts both sets (and-ed).
    pub filters: Vec<String>,
    /// Fields (any pivot key: columns, `hour(T)`, `rules.category`); empty = the defaults.
    pub fields: Vec<String>,
    /// Also every pair of the fields.
    pub pairs: bool,
    /// A value must occur at least this often in the suspect set to be tested.
    pub min_count: u64,
    /// Rows kept (None = all tested values).
    pub top: Option<usize>,
    pub rank: Rank,
    pub smoothing: Smoothing,
    /// Joins, time zone, memory limit, spill directory, threads, indexes.
    pub query: PivotRequest,
}

impl Default for ContrastRequest {
    fn default() -> Self {
        ContrastRequest {
            suspect: String::new(),
            baseline: None,
            filters: Vec::new(),
            fields: Vec::new(),
            pairs: false,
            min_count: 5,
            top: Some(30),
            rank: Rank::F,
            smoothing: Smoothing::default(),
            query: PivotRequest::default(),
        }
    }
}

/// One tested value (or pair of values).
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// Field labels (one, or two with `--pairs`).
    pub fields: Vec<String>,
    /// The values as text, one per field.
    pub values: Vec<String>,
    /// Events with the value in the suspect and in the baseline set.
    pub suspect: u64,
    pub baseline: u64,
    /// `suspect / n_suspect`, `baseline / n_baseline`.
    pub suspect_rate: f64,
    pub baseline_rate: f64,
    /// Robinson's smoothed probability that an event with this value is suspect.
    pub f: f64,
    /// G-test of independence (1 d.f.), its p-value and the Benjamini-Hochberg q-value.
    pub g: f64,
    pub p: f64,
    pub q: f64,
    /// Elastic's JLH (the superset is suspect ∪ baseline).
    pub jlh: f64,
    /// The z-score of the log-odds ratio with an informative Dirichlet prior
    /// ([`math::log_odds_z`]).
    pub z: f64,
    /// The lower 95% bound of the rate ratio ([`math::rate_ratio_low`]).
    pub rr_low: f64,
}

impl Token {
    /// Whether the value is more frequent in the suspect set than in the baseline.
    pub fn over(&self) -> bool {
        self.suspect_rate > self.baseline_rate
    }
}

/// The result of `contrast`.
#[derive(Clone, Debug)]
pub struct Contrast {
    pub n_suspect: u64,
    pub n_baseline: u64,
    /// The fields compared (the defaults when none were asked for).
    pub fields: Vec<String>,
    /// Values tested (the m of the q-values).
    pub tested: u64,
    /// The ranked values, cut to `top`.
    pub tokens: Vec<Token>,
    pub rank: Rank,
    pub stats: QueryStats,
}

impl Contrast {
    /// The ranked values as a frame (the CLI's table, CSV, JSON and Arrow output, the Python
    /// module's table); pairs are `A & B` and `a & b` in the text columns. `percent`: rates
    /// as percentages in columns `suspect%` and `baseline%` (the terminal table), else as
    /// fractions in `suspect_rate` and `baseline_rate`.
    pub fn to_frame(&self, percent: bool) -> Frame {
        let mut f = Frame::new(&[
            ("field", Kind::Text),
            ("value", Kind::Text),
            ("suspect", Kind::Count),
            ("baseline", Kind::Count),
            (
                if percent { "suspect%" } else { "suspect_rate" },
                Kind::Float,
            ),
            (
                if percent {
                    "baseline%"
                } else {
                    "baseline_rate"
                },
                Kind::Float,
            ),
            ("f", Kind::Float),
            ("G", Kind::Float),
            ("p", Kind::Float),
            ("q", Kind::Float),
            ("JLH", Kind::Float),
            ("z", Kind::Float),
            ("RR_low", Kind::Float),
        ]);
        let pct = |x: f64| if percent { x * 100.0 } else { x };
        for t in &self.tokens {
            f.rows.push(vec![
                Val::Text(t.fields.join(" & ")),
                Val::Text(t.values.join(" & ")),
                Val::Count(t.suspect),
                Val::Count(t.baseline),
                Val::Float(pct(t.suspect_rate)),
                Val::Float(pct(t.baseline_rate)),
                Val::Float(t.f),
                Val::Float(t.g),
                Val::Float(t.p),
                Val::Float(t.q),
                Val::Float(t.jlh),
                Val::Float(t.z),
                Val::Float(t.rr_low),
            ]);
        }
        f
    }
}

/// Segments, schema and parsed sets, shared by contrast and score.
pub(crate) struct Prepared {
    pub segs: Vec<SegmentReader>,
    pub schema: Schema,
    pub time_field: Option<String>,
    pub joins: Vec<Join>,
    pub suspect: Expr,
    /// The filter selecting suspect ∪ baseline (and the `--where` filters).
    pub selection: Option<Expr>,
    pub tz: crate::query::tz::Tz,
}

/// Segments, schema and the parsed sets of a contrast or score over open segments.
pub(crate) fn prepare_on(
    segs: Vec<SegmentReader>,
    time_field: Option<String>,
    suspect: &str,
    baseline: Option<&str>,
    filters: &[String],
    query: &PivotRequest,
) -> Result<Prepared> {
    let schema = Schema::from_segments(&segs, time_field.as_deref());
    if suspect.trim().is_empty() {
        return Err(Error::invalid(
            "--suspect is required, e.g. --suspect 'Datetime >= 2024-06-05T19:00:00Z and Datetime < 2024-06-05T21:00:00Z'",
        ));
    }
    let s = q::parse_filter(suspect, &schema, "--suspect")?;
    let mut parts = Vec::new();
    for f in filters {
        parts.push(q::parse_filter(f, &schema, "--where")?);
    }
    if let Some(b) = baseline {
        let b = q::parse_filter(b, &schema, "--baseline")?;
        parts.push(Expr::Or(Box::new(s.clone()), Box::new(b)));
    }
    let joins = q::load_joins(&query.joins, &schema)?;
    let tz = match &query.tz {
        Some(name) => plan::load_tz(name)?,
        None => crate::query::tz::Tz::utc(),
    };
    Ok(Prepared {
        segs,
        schema,
        time_field,
        joins,
        suspect: s,
        selection: crate::query::expr::and_all(parts),
        tz,
    })
}

impl Prepared {
    /// A plan counting, in one pass, each grouping set of `keys` (and the totals, as the
    /// empty set, first): all selected events (the hidden count) and the suspect ones.
    pub fn plan(&self, keys: Vec<KeySpec>, sets: &[Vec<usize>], use_indexes: bool) -> Plan {
        let grouping_sets: Vec<Vec<usize>> = std::iter::once(Vec::new())
            .chain(sets.iter().cloned())
            .collect();
        let mut plan = Plan {
            n_row_keys: 0,
            keys,
            values: vec![ValueSpec {
                label: "suspect".into(),
                func: AggFn::Count,
                field: Some(KeyPart::Flag(Box::new(self.suspect.clone()))),
            }],
            filter: self.selection.clone(),
            from: None,
            to: None,
            joins: self.joins.clone(),
            tz: self.tz.clone(),
            use_indexes,
            grouping_sets,
        };
        // Spill partitions hash the whole key; there is no column key.
        plan.n_row_keys = plan.keys.len().max(plan.key_width());
        plan
    }

    /// [`Prepared::count_by`] run as one count pivot per grouping set instead of one pass: the
    /// totals, then per set the suspect events' counts, then every selected event's counts,
    /// each on the path a pivot of those keys takes (integer keys, byte keys for many groups).
    /// One pass with a grouping set per field runs on the general path, a `KeyValue` per group
    /// and morsel: 21 s for client IPs and paths at 10M events, where these pivots take a few
    /// seconds. `visit` gets the same calls as from `count_by`, except that with `min_suspect`
    /// above 0 the values seen fewer times in the suspect set are not visited. Ok(None) when
    /// the suspect values of a set would take more than a quarter of the memory limit (the
    /// caller then counts in one pass, which spills).
    pub(crate) fn count_by_sets(
        &self,
        keys: &[KeySpec],
        sets: &[Vec<usize>],
        min_suspect: u64,
        query: &PivotRequest,
        stats: &mut QueryStats,
        visit: &mut Visit<'_>,
    ) -> Result<Option<(u64, u64)>> {
        // The set sizes: the totals alone (no key decoded).
        let Some((ns, nb)) = self.count_by(
            Vec::new(),
            &[],
            query,
            stats,
            &mut |_, _, _, _| {},
            &mut CountPass::Local,
        )?
        else {
            return Ok(None);
        };
        let cap = (query.memory_limit / 4).max(1 << 20) as usize;
        let suspect_filter = crate::query::expr::and_all(
            self.selection
                .iter()
                .cloned()
                .chain([self.suspect.clone()])
                .collect(),
        );
        let keep = min_suspect.max(1);
        for (i, set) in sets.iter().enumerate() {
            let Some(set_keys) = set
                .iter()
                .map(|&k| keys.get(k).cloned())
                .collect::<Option<Vec<KeySpec>>>()
            else {
                return Ok(None);
            };
            let width = set_keys.len();
            let plan = |filter: Option<Expr>| Plan {
                n_row_keys: width,
                keys: set_keys.clone(),
                values: vec![ValueSpec {
                    label: "count".into(),
                    func: AggFn::Count,
                    field: None,
                }],
                filter,
                from: None,
                to: None,
                joins: self.joins.clone(),
                tz: self.tz.clone(),
                use_indexes: query.use_indexes,
                grouping_sets: Vec::new(),
            };
            let mut suspect: HashMap<Vec<KeyValue>, u64, ahash::RandomState> = HashMap::default();
            let mut bytes = 0usize;
            let st = q::count_groups(
                &plan(suspect_filter.clone()),
                &self.schema,
                &self.segs,
                query,
                &mut |_, groups| {
                    for (k, st) in groups {
                        let n = count_of(st.first());
                        if n < keep || bytes > cap {
                            continue;
                        }
                        bytes += 64 + k.iter().map(|v| 32 + v.heap_bytes()).sum::<usize>();
                        *suspect.entry(k).or_insert(0) += n;
                    }
                },
            )?;
            merge_stats(stats, &st);
            if bytes > cap {
                return Ok(None);
            }
            if suspect.is_empty() && min_suspect > 0 {
                continue;
            }
            let st = q::count_groups(
                &plan(self.selection.clone()),
                &self.schema,
                &self.segs,
                query,
                &mut |_, groups| {
                    for (k, st) in groups {
                        let all = count_of(st.first());
                        let sus = suspect.get(&k).copied().unwrap_or(0).min(all);
                        if min_suspect == 0 || sus >= min_suspect {
                            visit(i, &k[..k.len().min(width)], sus, all - sus);
                        }
                    }
                },
            )?;
            merge_stats(stats, &st);
        }
        Ok(Some((ns, nb)))
    }

    /// Resolve field names (or the default fields when none are given).
    pub fn fields(&self, asked: &[String]) -> Result<Vec<KeySpec>> {
        let names = if asked.is_empty() {
            default_fields(&self.segs, &self.schema, self.time_field.as_deref())?
        } else {
            asked.to_vec()
        };
        if names.is_empty() {
            return Err(Error::invalid(
                "no field to compare: the data has no low-cardinality column; name some with --fields",
            ));
        }
        names
            .iter()
            .map(|n| plan::resolve_key(n, &self.schema, &self.joins))
            .collect()
    }

    /// Count every grouping set of `keys` in one pass: `visit(set, values, suspect,
    /// baseline)` once per group (values has the set's width); returns the sizes of the
    /// suspect and baseline sets (None when `pass` only planned it).
    pub fn count_by(
        &self,
        keys: Vec<KeySpec>,
        sets: &[Vec<usize>],
        query: &PivotRequest,
        stats: &mut QueryStats,
        visit: &mut Visit<'_>,
        pass: &mut CountPass<'_>,
    ) -> Result<Option<(u64, u64)>> {
        let plan = self.plan(keys, sets, query.use_indexes);
        let (mut ns, mut nb) = (0, 0);
        let mut sink = |groups: &mut dyn Iterator<Item = (Vec<KeyValue>, Vec<AggState>)>| {
            for (k, st) in groups {
                let all = count_of(st.first());
                let sus = count_of(st.get(1)).min(all);
                match k.first() {
                    Some(KeyValue::Int(0)) => {
                        ns += sus;
                        nb += all - sus;
                    }
                    Some(KeyValue::Int(i)) if *i > 0 => {
                        let set = (*i as usize) - 1;
                        let width = sets.get(set).map_or(0, Vec::len);
                        visit(set, &k[1..(1 + width).min(k.len())], sus, all - sus);
                    }
                    _ => {}
                }
            }
        };
        let s = match pass {
            CountPass::Local => {
                q::run_groups(&plan, &self.schema, &self.segs, query, &mut |_, groups| {
                    sink(groups)
                })?
            }
            CountPass::PlanOnly(f) => {
                f(&plan, &self.schema)?;
                return Ok(None);
            }
            CountPass::Groups(f) => {
                let (groups, s) = f(&plan)?;
                sink(&mut groups.into_iter());
                s
            }
        };
        merge_stats(stats, &s);
        Ok(Some((ns, nb)))
    }
}

/// Complete groups of a counting pass, and what the pass did.
pub type CountedGroups = (Vec<(Vec<KeyValue>, Vec<AggState>)>, QueryStats);

/// Where the counting pass of [`contrast_on`] runs.
pub enum CountPass<'a> {
    /// Over the segments, here.
    Local,
    /// Only planned: the plan goes to `f` and the contrast stops there (`logpivot.ray`'s map
    /// and reduce tasks run the plan with `query::partial`).
    PlanOnly(&'a mut dyn FnMut(&Plan, &Schema) -> Result<()>),
    /// The counted groups come from `f` (the reduced partials of the map tasks).
    Groups(&'a mut dyn FnMut(&Plan) -> Result<CountedGroups>),
}

/// `visit(set, values, suspect, baseline)` of [`Prepared::count_by`].
pub(crate) type Visit<'a> = dyn FnMut(usize, &[KeyValue], u64, u64) + 'a;

/// A field's values that are evidence (their smoothed probability at least
/// [`super::score::MIN_STRENGTH`] from ½), by [`value_hash`], with that probability.
pub use super::values::ValueProbs;

/// The 64-bit hash of a value (of its encoded key bytes, with the pinned hash of
/// `query::hll`): how `score`'s value tables hold their values. Eight bytes a value instead of
/// its text, so a table of millions of IPs and paths stays small; two values of one field
/// share a hash with probability about n²/2⁶⁵ (2·10⁻⁷ for 3 million values).
pub fn value_hash(v: &KeyValue) -> u64 {
    let mut b = Vec::with_capacity(32);
    crate::query::value::put_key(&mut b, v);
    crate::query::hll::hash_bytes(13, &b)
}

fn count_of(s: Option<&AggState>) -> u64 {
    match s {
        Some(AggState::Count(n)) => *n,
        _ => 0,
    }
}

pub(crate) fn merge_stats(into: &mut QueryStats, s: &QueryStats) {
    into.segments = s.segments;
    into.segments_pruned += s.segments_pruned;
    into.rows_total += s.rows_total;
    into.rows_selected += s.rows_selected;
    into.index_lookups += s.index_lookups;
    into.time_index_segments += s.time_index_segments;
    into.columns_decoded += s.columns_decoded;
    into.groups += s.groups;
    into.spill_runs += s.spill_runs;
    into.spill_bytes_written += s.spill_bytes_written;
    into.spill_bytes_read += s.spill_bytes_read;
    if s.spill_dir.is_some() {
        into.spill_dir = s.spill_dir.clone();
    }
}

/// The default fields: string and boolean columns, and integer columns, with at most
/// [`DEFAULT_MAX_CARDINALITY`] distinct values per segment and fewer distinct values than a
/// quarter of the rows, then `hour(T)` of the event time. Derived columns (`_file`, `_line`,
/// `_time`), time columns, strings that hold times, and floats are left out. String cardinality comes from every
/// segment's dictionary; integer cardinality is counted on the first segment holding the
/// column (integers carry no dictionary).
pub fn default_fields(
    segs: &[SegmentReader],
    schema: &Schema,
    time_field: Option<&str>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, types) in &schema.columns {
        if matches!(name.as_str(), "_file" | "_line" | "_time")
            || schema.is_time_name(name)
            || types
                .iter()
                .any(|t| matches!(t, ColumnType::Float | ColumnType::Time))
        {
            continue;
        }
        let mut ok = true;
        let mut distinct_max = 0u64;
        // Distinct values and rows summed over the segments measured: "mostly unique" is
        // judged on the whole, so a small tail segment cut by ingest cannot flip the choice.
        let (mut distinct_sum, mut rows_sum) = (0u64, 0u64);
        for seg in segs {
            let Some((ci, cm)) = seg.meta().column(name) else {
                continue;
            };
            let rows = seg.meta().rows;
            let distinct = match cm.ty {
                ColumnType::Str if looks_like_time(seg.dictionary(ci)?.as_ref()) => {
                    ok = false;
                    break;
                }
                ColumnType::Str => cm.cardinality,
                ColumnType::Bool => 2,
                _ if distinct_max > 0 => continue,
                _ => {
                    let cells = seg.column_cells(ci)?;
                    let mut seen = std::collections::HashSet::new();
                    for c in cells.iter().flatten() {
                        if let crate::segment::Cell::Int(i) = c {
                            seen.insert(*i);
                            if seen.len() as u64 > DEFAULT_MAX_CARDINALITY {
                                break;
                            }
                        }
                    }
                    seen.len() as u64
                }
            };
            distinct_max = distinct_max.max(distinct);
            distinct_sum += distinct;
            rows_sum += rows;
            if distinct > DEFAULT_MAX_CARDINALITY {
                ok = false;
                break;
            }
        }
        let mostly_unique = rows_sum >= 100 && distinct_sum.saturating_mul(4) > rows_sum;
        if ok && !mostly_unique && distinct_max >= 2 {
            out.push(name.clone());
        }
    }
    let timed = segs.iter().any(|s| s.meta().min_time.is_some());
    if timed {
        out.push(format!("hour({})", time_field.unwrap_or(TIME_COLUMN)));
    }
    Ok(out)
}

/// Whether a string column holds times (`UtcTime`, `TimeCreated`...): its first dictionary
/// entries all parse as dates with times (plain numbers, which could be epochs, do not
/// count). Such columns only restate the suspect window when it is one.
fn looks_like_time(dict: &crate::segment::Dictionary) -> bool {
    let sample: Vec<&[u8]> = dict.iter().take(8).collect();
    !sample.is_empty()
        && sample.iter().all(|v| {
            v.iter().any(|c| matches!(c, b'-' | b'/' | b':'))
                && std::str::from_utf8(v)
                    .ok()
                    .and_then(crate::json::time::parse_time_str)
                    .is_some()
        })
}

/// The statistics of one value.
pub fn token(
    fields: Vec<String>,
    values: Vec<String>,
    (s, b): (u64, u64),
    (ns, nb): (u64, u64),
    sm: Smoothing,
) -> Token {
    let rate = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    let (g, p) = math::g_test(s, ns.saturating_sub(s), b, nb.saturating_sub(b));
    Token {
        fields,
        values,
        suspect: s,
        baseline: b,
        suspect_rate: rate(s, ns),
        baseline_rate: rate(b, nb),
        f: math::robinson_f(s, ns, b, nb, sm.s, sm.x),
        g,
        p,
        q: p,
        jlh: math::jlh(s, ns, s + b, ns + nb),
        z: math::log_odds_z(s, ns, b, nb, math::LOG_ODDS_PRIOR),
        rr_low: math::rate_ratio_low(s, ns, b, nb),
    }
}

/// Ordering of tokens under `rank` (best first), ties by suspect count then text.
fn better(rank: Rank, a: &Token, b: &Token) -> std::cmp::Ordering {
    let signed_g = |t: &Token| if t.over() { t.g } else { -t.g };
    let key = |t: &Token| match rank {
        Rank::F => (t.f, signed_g(t)),
        Rank::G => (signed_g(t), t.f),
        Rank::Jlh => (t.jlh, signed_g(t)),
        Rank::Z => (t.z, signed_g(t)),
        Rank::Rr => (t.rr_low, signed_g(t)),
    };
    let (ka, kb) = (key(a), key(b));
    kb.0.total_cmp(&ka.0)
        .then(kb.1.total_cmp(&ka.1))
        .then(b.suspect.cmp(&a.suspect))
        .then_with(|| a.fields.cmp(&b.fields))
        .then_with(|| a.values.cmp(&b.values))
}

/// Keeps the best `k` tokens seen (bounded memory whatever the number of values).
struct TopK {
    k: usize,
    rank: Rank,
    items: Vec<Token>,
}

impl TopK {
    fn push(&mut self, t: Token) {
        self.items.push(t);
        if self.items.len() >= self.k.saturating_mul(2).max(1024) {
            self.cut();
        }
    }

    fn cut(&mut self) {
        let rank = self.rank;
        self.items.sort_by(|a, b| better(rank, a, b));
        self.items.truncate(self.k);
    }
}

/// Run a contrast.
pub fn contrast(dir: &DataDir, req: &ContrastRequest) -> Result<Contrast> {
    let (segs, time_field) = q::open_segments(dir)?;
    contrast_on(segs, time_field, req, &mut CountPass::Local)?
        .ok_or_else(|| Error::invalid("a local contrast that did not count"))
}

/// [`contrast`] over segments already open, its counting pass run where `pass` says (None
/// when it was only planned).
pub fn contrast_on(
    segs: Vec<SegmentReader>,
    time_field: Option<String>,
    req: &ContrastRequest,
    pass: &mut CountPass<'_>,
) -> Result<Option<Contrast>> {
    let pre = prepare_on(
        segs,
        time_field,
        &req.suspect,
        req.baseline.as_deref(),
        &req.filters,
        &req.query,
    )?;
    let fields = pre.fields(&req.fields)?;
    let mut stats = QueryStats::default();
    let mut sets: Vec<Vec<usize>> = (0..fields.len()).map(|i| vec![i]).collect();
    if req.pairs {
        for i in 0..fields.len() {
            for j in i + 1..fields.len() {
                sets.push(vec![i, j]);
            }
        }
    }
    let labels: Vec<String> = fields.iter().map(|k| k.label.clone()).collect();
    let formats: Vec<_> = fields.iter().map(|k| format_of(&k.part)).collect();
    // The set sizes are known only after the pass: keep the counts of the candidate values
    // (seen min_count times in the suspect set: at most |suspect| / min_count per field or
    // pair), then compute their statistics.
    let mut candidates: Vec<(usize, Vec<String>, u64, u64)> = Vec::new();
    let min = req.min_count.max(1);
    let push = |cands: &mut Vec<(usize, Vec<String>, u64, u64)>,
                set: usize,
                vals: &[KeyValue],
                s: u64,
                b: u64| {
        if s < min {
            return;
        }
        let texts = vals
            .iter()
            .zip(&sets[set])
            .map(|(v, &f)| key_text(v, &formats[f], &pre.tz))
            .collect();
        cands.push((set, texts, s, b));
    };
    // A count pivot per field and pair here; in one pass (a grouping set each) for
    // `logpivot.ray`'s steps, or when a set's suspect values would outgrow a quarter of the
    // limit.
    let by_set = match pass {
        CountPass::Local => pre.count_by_sets(
            &fields,
            &sets,
            min,
            &req.query,
            &mut stats,
            &mut |set, v, s, b| push(&mut candidates, set, v, s, b),
        )?,
        _ => None,
    };
    let counted = match by_set {
        Some(n) => Some(n),
        None => {
            candidates.clear();
            pre.count_by(
                fields,
                &sets,
                &req.query,
                &mut stats,
                &mut |set, v, s, b| push(&mut candidates, set, v, s, b),
                pass,
            )?
        }
    };
    let Some((ns, nb)) = counted else {
        return Ok(None);
    };
    if ns == 0 {
        return Err(Error::invalid(format!(
            "the suspect set is empty: no event matches `{}`{}",
            req.suspect,
            if req.filters.is_empty() {
                ""
            } else {
                " (with the --where filters)"
            }
        )));
    }
    let mut top = TopK {
        k: req.top.unwrap_or(usize::MAX),
        rank: req.rank,
        items: Vec::new(),
    };
    let mut pvals: Vec<f64> = Vec::with_capacity(candidates.len());
    for (set, texts, s, b) in candidates {
        let names = sets[set].iter().map(|&f| labels[f].clone()).collect();
        let t = token(names, texts, (s, b), (ns, nb), req.smoothing);
        pvals.push(t.p);
        top.push(t);
    }
    top.cut();
    let tested = pvals.len() as u64;
    let q_of = q_values(pvals);
    for t in &mut top.items {
        t.q = q_of(t.p);
    }
    Ok(Some(Contrast {
        n_suspect: ns,
        n_baseline: nb,
        fields: labels,
        tested,
        tokens: top.items,
        rank: req.rank,
        stats,
    }))
}

/// Benjamini-Hochberg q-value of a p-value among `pvals` (equal p-values share a q-value).
fn q_values(mut pvals: Vec<f64>) -> impl Fn(f64) -> f64 {
    pvals.sort_by(|a, b| a.total_cmp(b));
    let q = math::benjamini_hochberg(&pvals);
    move |p: f64| {
        let i = pvals.partition_point(|x| x.total_cmp(&p).is_le());
        i.checked_sub(1)
            .and_then(|i| q.get(i))
            .copied()
            .unwrap_or(1.0)
    }
}

/// The counting pass's values, per field: each value's hash and the index of its (suspect,
/// baseline) pair, 12 bytes a value, not its text. The pairs are few (most values share small
/// counts), and the probability depends on the pair alone, once the set sizes are known.
struct Collected {
    hashes: Vec<Vec<u64>>,
    classes: Vec<Vec<u32>>,
    pair_ids: HashMap<(u64, u64), u32>,
    pairs: Vec<(u64, u64)>,
}

impl Collected {
    fn new(fields: usize) -> Collected {
        Collected {
            hashes: vec![Vec::new(); fields],
            classes: vec![Vec::new(); fields],
            pair_ids: HashMap::new(),
            pairs: Vec::new(),
        }
    }

    fn add(&mut self, set: usize, vals: &[KeyValue], s: u64, b: u64) {
        let (Some(h), Some(c), Some(v)) = (
            self.hashes.get_mut(set),
            self.classes.get_mut(set),
            vals.first(),
        ) else {
            return;
        };
        let next = self.pairs.len() as u32;
        let pairs = &mut self.pairs;
        let id = *self.pair_ids.entry((s, b)).or_insert_with(|| {
            pairs.push((s, b));
            next
        });
        h.push(value_hash(v));
        c.push(id);
    }
}

/// Per field, the smoothed probability of each of its values (for scoring), and the sizes
/// of the suspect and baseline sets.
pub(crate) fn probabilities(
    pre: &Prepared,
    fields: &[KeySpec],
    query: &PivotRequest,
    sm: Smoothing,
    stats: &mut QueryStats,
    pass: &mut CountPass<'_>,
) -> Result<Option<(u64, u64, Vec<ValueProbs>)>> {
    let sets: Vec<Vec<usize>> = (0..fields.len()).map(|i| vec![i]).collect();
    let mut col = Collected::new(fields.len());
    let by_field = match pass {
        CountPass::Local => {
            pre.count_by_sets(fields, &sets, 0, query, stats, &mut |set, v, s, b| {
                col.add(set, v, s, b)
            })?
        }
        _ => None,
    };
    let counted = match by_field {
        Some(n) => Some(n),
        None => {
            // One pass with a grouping set per field (`logpivot.ray`'s plan, or suspect values
            // beyond a quarter of the limit): start over.
            col = Collected::new(fields.len());
            let capped = PivotRequest {
                memory_limit: query.memory_limit.min(super::score::COUNTING_CAP),
                ..query.clone()
            };
            pre.count_by(
                fields.to_vec(),
                &sets,
                &capped,
                stats,
                &mut |set, v, s, b| col.add(set, v, s, b),
                pass,
            )?
        }
    };
    let Some((ns, nb)) = counted else {
        return Ok(None);
    };
    let Collected {
        hashes,
        classes,
        pairs,
        ..
    } = col;
    let probs: Vec<f64> = pairs
        .iter()
        .map(|&(s, b)| math::robinson_f(s, ns, b, nb, sm.s, sm.x))
        .collect();
    // A value within MIN_STRENGTH of ½ is no evidence: scoring ignores it.
    let evidence = |c: u32| {
        probs
            .get(c as usize)
            .is_some_and(|p| (p - 0.5).abs() >= super::score::MIN_STRENGTH)
    };
    let mut out = Vec::with_capacity(fields.len());
    for (h, c) in hashes.into_iter().zip(classes) {
        let kept: Vec<(u64, u32)> = h.into_iter().zip(c).filter(|&(_, c)| evidence(c)).collect();
        out.push(ValueProbs::from_classes(kept, &probs));
    }
    Ok(Some((ns, nb, out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(f: f64, g: f64, s: u64) -> Token {
        Token {
            fields: vec!["a".into()],
            values: vec![format!("{f}-{g}-{s}")],
            suspect: s,
            baseline: 0,
            suspect_rate: 0.5,
            baseline_rate: 0.1,
            f,
            g,
            p: 0.0,
            q: 0.0,
            jlh: 0.0,
            z: 0.0,
            rr_low: 0.0,
        }
    }

    #[test]
    fn topk_keeps_the_best_in_order() {
        let mut k = TopK {
            k: 3,
            rank: Rank::F,
            items: Vec::new(),
        };
        for i in 0..5000u64 {
            k.push(t((i % 97) as f64 / 100.0, i as f64, i));
        }
        k.cut();
        let fs: Vec<f64> = k.items.iter().map(|t| t.f).collect();
        assert_eq!(fs, vec![0.96, 0.96, 0.96]);
        assert!(k.items[0].g > k.items[1].g);
    }

    #[test]
    fn q_values_share_ties_and_are_monotone() {
        let q = q_values(vec![0.01, 0.04, 0.04, 0.5]);
        // BH by hand: sorted p = .01 .04 .04 .5 (m = 4): m p / rank = .04 .08 .0533 .5,
        // then the running minimum from the top: .04 .0533 .0533 .5.
        assert!((q(0.01) - 0.04).abs() < 1e-12);
        assert!((q(0.04) - 0.16 / 3.0).abs() < 1e-12);
        assert!((q(0.5) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn never_in_baseline_is_finite_and_high() {
        let tk = token(
            vec!["ua".into()],
            vec!["sqlmap".into()],
            (500, 0),
            (1000, 100_000),
            Smoothing::default(),
        );
        assert!(tk.f > 0.99 && tk.f < 1.0);
        assert!(tk.g.is_finite() && tk.p < 1e-10);
        assert!(tk.jlh.is_finite() && tk.jlh > 0.0);
    }
}
