//! The query layer: pivot tables with enrichment joins over segments larger than RAM.
//!
//! Its rooms, in the order a query passes through them:
//! - [`lang`]: the `--where` language ([`expr`]) and row selection per segment ([`filter`]);
//! - [`plan`]: names resolved against the segments' schema (fields, buckets, joins,
//!   aggregates) and time zones ([`tz`]);
//! - [`exec`]: per-segment aggregation in parallel, its specialised paths (integer keys, byte
//!   keys, distinct counts, HyperLogLog), [`spill`], the map/reduce steps ([`partial`]) and
//!   row scans ([`scan`]);
//! - [`shape`]: key values and states ([`value`]), pivot shaping ([`pivot`]), writers
//!   ([`output`], [`frame`]);
//! - [`inputs`]: enrichment maps ([`csvmap`]).
//!
//! This module is the entry: it parses a request, plans it, chooses the execution path
//! (`run_groups`), merges the workers' groups under the memory budget and hands them to
//! `shape`. The rooms' former flat paths (`query::expr`, `query::exec`, `query::spill`, ...)
//! stay as re-exports.
//!
//! Reads only: it never writes to the data directory (spill files live in the spill dir).

pub mod exec;
pub mod inputs;
pub mod lang;
pub mod plan;
pub mod shape;

pub use exec::{hll, partial, scan, spill};
pub use inputs::csvmap;
pub use lang::{expr, filter};
pub use plan::tz;
pub use shape::{frame, output, pivot, value};

use exec::{bytegroups, distinct, fast};

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::segment::SegmentReader;
use crate::store::DataDir;

use exec::{group_bytes, process_segment, Plan};
use plan::{Join, Schema};
use spill::{merge_into, Groups, Spill};

pub use pivot::{PivotRow, PivotTable, SortBy};

/// One `--join MAP.csv:FIELD=COLUMN`.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub path: PathBuf,
    /// The event field holding the key.
    pub field: String,
    /// The map's key column.
    pub column: String,
    /// Label for events whose key has no row (default `(unmatched)`).
    pub unmatched: String,
}

impl JoinRequest {
    /// Parse `MAP.csv:FIELD=COLUMN`.
    pub fn parse(s: &str) -> Result<JoinRequest> {
        let bad = || {
            Error::invalid(format!("invalid --join `{s}`: expected MAP.csv:FIELD=COLUMN, e.g. rules.csv:RuleID=rule_id"))
        };
        let split = [".csv:", ".csv.gz:", ".tsv:", ".txt:"]
            .iter()
            .filter_map(|ext| s.find(ext).map(|i| i + ext.len() - 1))
            .min()
            .or_else(|| s.find(':'));
        let (path, rest) = split.map(|i| (&s[..i], &s[i + 1..])).ok_or_else(bad)?;
        let (field, column) = rest.split_once('=').ok_or_else(bad)?;
        if path.is_empty() || field.is_empty() || column.is_empty() {
            return Err(bad());
        }
        Ok(JoinRequest {
            path: PathBuf::from(path),
            field: field.to_string(),
            column: column.to_string(),
            unmatched: "(unmatched)".to_string(),
        })
    }
}

/// A pivot query: the Rust API the CLI is a thin layer over.
#[derive(Clone, Debug)]
pub struct PivotRequest {
    pub rows: Vec<String>,
    pub cols: Option<String>,
    /// Aggregates; empty means `count`.
    pub values: Vec<String>,
    /// `--where` expressions, and-ed.
    pub filters: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub joins: Vec<JoinRequest>,
    pub top: Option<usize>,
    pub cols_top: Option<usize>,
    pub totals: bool,
    pub sort: SortBy,
    pub tz: Option<String>,
    /// Bytes the group table may hold before it spills.
    pub memory_limit: u64,
    pub spill_dir: Option<PathBuf>,
    pub max_spill: Option<u64>,
    pub threads: usize,
    /// Use bitmap indexes (off only to test that results do not depend on them).
    pub use_indexes: bool,
    /// A count pivot whose estimated groups (summed over segments) exceed this takes the
    /// byte-key path of hash partitions instead of interning strings (None: 65,536 a segment
    /// the time range leaves: `bytegroups::MANY_GROUPS_PER_SEGMENT`).
    /// For tests and tuning; results do not depend on it.
    pub many_groups: Option<u64>,
    /// Stops this query (and only it) when cancelled.
    pub cancel: crate::Cancel,
}

impl PivotRequest {
    /// The request with one meaning for `top` and `cols_top` of 0 in every command: all rows
    /// (all column values), as `contrast --top 0` and `score --top 0` list all.
    pub fn normalized(&self) -> PivotRequest {
        let mut r = self.clone();
        r.top = r.top.filter(|&n| n > 0);
        r.cols_top = r.cols_top.filter(|&n| n > 0);
        r
    }
}

impl Default for PivotRequest {
    fn default() -> Self {
        PivotRequest {
            rows: Vec::new(),
            cols: None,
            values: Vec::new(),
            filters: Vec::new(),
            from: None,
            to: None,
            joins: Vec::new(),
            top: None,
            cols_top: None,
            totals: false,
            sort: SortBy::Total,
            tz: None,
            memory_limit: default_memory_limit(),
            spill_dir: None,
            max_spill: None,
            threads: default_threads(),
            use_indexes: true,
            many_groups: None,
            cancel: crate::Cancel::new(),
        }
    }
}

/// A quarter of physical memory (or 1 GiB when unknown); read once per process (a warm
/// in-process query is a fraction of a millisecond, and reading /proc was a sixth of it).
pub fn default_memory_limit() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(read_memory_limit)
}

/// The cores this process may use (cgroup and affinity aware); read once per process.
pub fn default_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn read_memory_limit() -> u64 {
    let total = crate::io::read_file(std::path::Path::new("/proc/meminfo"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024);
    total.map_or(1 << 30, |t| t / 4)
}

/// Parse a size: `16M`, `256MiB`, `1g`, `4096`, `1.5G` (K, M, G, T are powers of 1024; case
/// and a `B`/`iB` suffix are ignored). The CLI's `--memory-limit`, `--max-spill` and
/// `--max-line-bytes`, and the Python module's size arguments.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid size `{s}`: expected a number with an optional K, M, G or T suffix"
        ))
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(Error::invalid(format!(
                "invalid size `{s}`: unknown unit `{other}` (use K, M, G or T)"
            )))
        }
    };
    Ok((n * mult as f64) as u64)
}

/// The spill directory: `--spill-dir`, else `LOGPIVOT_SPILL_DIR`, else the system temp dir.
pub fn resolve_spill_dir(req: Option<&PathBuf>) -> PathBuf {
    req.cloned()
        .or_else(|| std::env::var_os("LOGPIVOT_SPILL_DIR").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
}

/// What a query did, for `--explain`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct QueryStats {
    pub segments: u64,
    pub segments_pruned: u64,
    pub rows_total: u64,
    pub rows_selected: u64,
    pub index_lookups: u64,
    pub time_index_segments: u64,
    pub columns_decoded: u64,
    pub groups: u64,
    pub spill_runs: u64,
    pub spill_bytes_written: u64,
    pub spill_bytes_read: u64,
    pub spill_dir: Option<String>,
    pub plan: Vec<String>,
}

pub fn load_joins(reqs: &[JoinRequest], schema: &Schema) -> Result<Vec<Join>> {
    let mut out = Vec::new();
    for r in reqs {
        let table = load_map(&r.path, &r.column)?;
        let alias = r
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
            .split('.')
            .next()
            .unwrap_or("map")
            .to_string();
        out.push(Join {
            alias,
            source: match plan::resolve_extract(&r.field, schema)? {
                Some(p) => p,
                None => plan::KeyPart::Column {
                    name: schema.resolve(&r.field)?,
                    as_text: true,
                },
            },
            table,
            unmatched: r.unmatched.clone(),
        });
    }
    Ok(out)
}

/// Maps kept parsed for the next query of the same process, at most this many.
const MAP_CACHE: usize = 8;

/// A parsed map keyed by `column`: from the process's cache when the file's size and
/// modification time are those it had when parsed (a notebook runs many queries with the same
/// map; DuckDB's users load it once into a table), else read and parsed again.
fn load_map(path: &std::path::Path, column: &str) -> Result<Arc<csvmap::MapTable>> {
    type Stamp = (u64, Option<std::time::SystemTime>);
    type Cache = std::sync::Mutex<Vec<((PathBuf, String), Stamp, Arc<csvmap::MapTable>)>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let stamp: Stamp = (meta.len(), meta.modified().ok());
    let key = (path.to_path_buf(), column.to_string());
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock() {
        if let Some((_, _, t)) = c.iter().find(|(k, s, _)| *k == key && *s == stamp) {
            return Ok(t.clone());
        }
    }
    let bytes = crate::io::read_maybe_gzip(path)?;
    let table = Arc::new(
        csvmap::MapTable::from_csv(&bytes, column)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?,
    );
    if let Ok(mut c) = cache.lock() {
        c.retain(|(k, _, _)| *k != key);
        if c.len() >= MAP_CACHE {
            c.remove(0);
        }
        c.push((key, stamp, table.clone()));
    }
    Ok(table)
}

/// Parse a filter expression (the `--where` language) and check its field names.
pub fn parse_filter(text: &str, schema: &Schema, flag: &str) -> Result<expr::Expr> {
    let e =
        expr::parse(text).map_err(|e| Error::invalid(format!("invalid {flag} `{text}`: {e}")))?;
    for name in e.fields() {
        if !schema.is_time_name(name) {
            schema.resolve(name)?;
        }
    }
    Ok(e)
}

/// Resolve a request into a plan against the open segments.
pub fn plan(req: &PivotRequest, schema: &Schema) -> Result<Plan> {
    if req.rows.is_empty() {
        return Err(Error::invalid("--rows needs at least one key"));
    }
    let joins = load_joins(&req.joins, schema)?;
    let mut keys = Vec::new();
    for r in &req.rows {
        keys.push(plan::resolve_key(r, schema, &joins)?);
    }
    if let Some(c) = &req.cols {
        keys.push(plan::resolve_key(c, schema, &joins)?);
    }
    if let pivot::SortBy::Key(label) = &req.sort {
        if !keys.iter().take(req.rows.len()).any(|k| &k.label == label) {
            return Err(Error::invalid(format!(
                "invalid --sort `{label}`: use `total` or one of the row keys ({})",
                req.rows.join(", ")
            )));
        }
    }
    let values = if req.values.is_empty() {
        vec![plan::resolve_value("count", schema, &joins)?]
    } else {
        req.values
            .iter()
            .map(|v| plan::resolve_value(v, schema, &joins))
            .collect::<Result<_>>()?
    };
    let parsed = req
        .filters
        .iter()
        .map(|f| parse_filter(f, schema, "--where"))
        .collect::<Result<Vec<_>>>()?;
    let tz = match &req.tz {
        Some(name) => plan::load_tz(name)?,
        None => tz::Tz::utc(),
    };
    Ok(Plan {
        n_row_keys: req.rows.len(),
        keys,
        values,
        filter: expr::and_all(parsed),
        from: req
            .from
            .as_deref()
            .map(|s| plan::parse_time_arg(s, "--from"))
            .transpose()?,
        to: req
            .to
            .as_deref()
            .map(|s| plan::parse_time_arg(s, "--to"))
            .transpose()?,
        joins,
        tz,
        use_indexes: req.use_indexes,
        grouping_sets: Vec::new(),
    })
}

/// Above this many segments a query drops each segment's metadata pages right after opening
/// it (so RSS stays flat as the data grows); below, the madvise calls cost more than they save
/// (2 ms of a 10 ms query over 26 segments). Scanned segments are always released.
const MANY_SEGMENTS: usize = 32;

/// Open every live segment of a data directory, or of every shard of a sharded root (each
/// shard's manifest is loaded once: a snapshot per shard; see
/// [`crate::store::shards::load_view`]), on two threads when there are many: opening maps the
/// file and checks and decodes its metadata.
pub fn open_segments(dir: &DataDir) -> Result<(Vec<SegmentReader>, Option<String>)> {
    let (m, segs) = crate::store::shards::open_view(dir, |m| open_entries(dir, &m.segments))?;
    Ok((segs, m.time_field))
}

/// Open listed segments of `dir` (see [`open_segments`]).
pub fn open_entries(
    dir: &DataDir,
    entries: &[crate::store::SegmentEntry],
) -> Result<Vec<SegmentReader>> {
    // Opening touches the header, trailer and metadata (and the pages the kernel maps around
    // them, some 100 KB a segment): a query over hundreds of segments drops them at once or
    // holds them all until it ends. Over a few segments the madvise costs more than it saves.
    let release = entries.len() > MANY_SEGMENTS;
    let open = |entries: &[crate::store::SegmentEntry]| -> Result<Vec<SegmentReader>> {
        let mut segs = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some(r) = dir.open_segment(e)? {
                if release {
                    r.release_pages();
                }
                segs.push(r);
            }
        }
        Ok(segs)
    };
    if entries.len() < 8 {
        return open(entries);
    }
    let (a, b) = entries.split_at(entries.len() / 2);
    let (ra, rb) = std::thread::scope(|s| {
        let hb = s.spawn(|| open(b));
        let ra = open(a);
        (ra, hb.join())
    });
    let mut segs = ra?;
    segs.extend(rb.map_err(|_| Error::invalid("a thread opening segments panicked"))??);
    Ok(segs)
}

/// Run a pivot query.
pub fn pivot(dir: &DataDir, req: &PivotRequest) -> Result<PivotTable> {
    let (segs, time_field) = open_segments(dir)?;
    let schema = Schema::from_segments(&segs, time_field.as_deref());
    let req = &req.normalized();
    let plan = plan(req, &schema)?;
    run(&plan, &schema, &segs, req)
}

/// What open segments keep between queries (a long-lived handle's decoded dictionaries and
/// index chunks, up to 64 MiB a process) is memory of the process the query's limit must
/// leave room for: an eighth of `--memory-limit` at most. Beyond it the segments of this
/// query drop what they keep before they are scanned, and while it runs no segment keeps
/// more (a notebook at `memory_limit="256MiB"` stayed 64 MiB higher through a
/// high-cardinality pivot after another had filled the kept regions with client IPs).
pub(crate) fn fit_kept(segs: &[SegmentReader], memory_limit: u64) -> crate::segment::KeptCap {
    let cap = memory_limit / 8;
    if crate::segment::kept_bytes() > cap {
        segs.iter().for_each(SegmentReader::release_kept);
    }
    crate::segment::KeptCap::new(cap)
}

/// Execute a plan over open segments.
pub fn run(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
) -> Result<PivotTable> {
    let _kept = fit_kept(segs, req.memory_limit);
    let mut builder: Option<pivot::PivotBuilder<'_>> = None;
    let mut sink = |col_counts: &ColCounts, groups: &mut GroupIter<'_>| {
        builder
            .get_or_insert_with(|| pivot::PivotBuilder::new(plan, req, col_counts))
            .add_groups(groups);
    };
    let path = CountPath::of(plan, schema, segs, req);
    let fast = path != CountPath::General;
    // Distinct counts over few groups; it gives way (having output nothing) when its
    // interned values outgrow the budget.
    let distinct = if !fast && distinct::eligible(plan, schema, segs, req) {
        distinct::run_groups(plan, schema, segs, req, &mut sink)?
    } else {
        None
    };
    let via_distinct = distinct.is_some();
    // Distinct counts over many groups: pairs of row key and value on byte keys.
    let pairs = if fast || via_distinct {
        None
    } else {
        bytegroups::distinct_rewrite(plan, schema, req)
    };
    let (mut stats, total_rows) = if let Some(st) = distinct {
        (st, None)
    } else if let Some((rewritten, d)) = &pairs {
        bytegroups::run_distinct(rewritten, d, schema, segs, req, &mut sink)?
    } else {
        path.run(plan, schema, segs, req, &mut sink)?
    };
    stats.plan = describe(plan, req);
    stats.plan.push(format!(
        "aggregation: {}",
        if via_distinct {
            "distinct values as bitmaps of interned ids (few groups)"
        } else if pairs.is_some() {
            "distinct counts as (row key, value) pairs on byte keys (many groups)"
        } else {
            match path {
                CountPath::Bytes => "byte keys in hash partitions (many groups), count only",
                CountPath::Ints => "integer keys (interned strings), count only",
                CountPath::General => "general",
            }
        }
    ));
    let mut builder =
        builder.unwrap_or_else(|| pivot::PivotBuilder::new(plan, req, &Default::default()));
    if let Some(n) = total_rows {
        builder.set_total_rows(n);
    }
    Ok(builder.finish(stats))
}

/// Complete groups: key, then the hidden event count and one state per value.
pub type GroupIter<'a> = dyn Iterator<Item = (Vec<value::KeyValue>, Vec<value::AggState>)> + 'a;

/// Where an aggregation path hands its complete groups (with the column counts), in one or
/// more batches; every group of a row key is in the same batch.
pub(crate) type Sink<'a> = dyn FnMut(&ColCounts, &mut GroupIter<'_>) + 'a;

/// Counts per column value (of the `--cols` key), gathered while merging.
pub type ColCounts = std::collections::HashMap<value::KeyValue, u64>;

/// Execute a plan over open segments and hand the complete groups to `sink`: in one batch
/// when they fit the memory budget, else one spill partition at a time (every group of a
/// row key is in the same batch). The state vector of a group is the hidden event count,
/// then one state per value.
pub fn run_groups(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<QueryStats> {
    let mut stats = QueryStats {
        segments: segs.len() as u64,
        ..QueryStats::default()
    };
    let mut agg = Aggregator::new(plan, req);
    scan_segments(
        segs,
        req.threads,
        &|seg, emit| process_segment(plan, schema, seg, emit),
        &mut |m| match m {
            Scanned::Item(g) => agg.add(g),
            Scanned::Done(r) => {
                stats.add_segment(&r);
                Ok(())
            }
        },
    )?;
    agg.finish(&mut stats, sink)?;
    Ok(stats)
}

/// The path a plan takes when no distinct-count path does: integer keys, byte keys for many
/// groups (both count only), or the general path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CountPath {
    Bytes,
    Ints,
    General,
}

impl CountPath {
    fn of(plan: &Plan, schema: &Schema, segs: &[SegmentReader], req: &PivotRequest) -> CountPath {
        if !fast::eligible(plan, schema) {
            CountPath::General
        } else if bytegroups::prefer(plan, segs, req.many_groups) {
            CountPath::Bytes
        } else {
            CountPath::Ints
        }
    }

    /// Run the plan on this path; the stats and, when only the rows that can reach `--top`
    /// were handed on, the number of rows before that cut.
    fn run(
        self,
        plan: &Plan,
        schema: &Schema,
        segs: &[SegmentReader],
        req: &PivotRequest,
        sink: &mut Sink<'_>,
    ) -> Result<(QueryStats, Option<u64>)> {
        match self {
            CountPath::Bytes => bytegroups::run_groups(plan, schema, segs, req, sink),
            CountPath::Ints => fast::run_groups(plan, schema, segs, req, sink),
            CountPath::General => Ok((run_groups(plan, schema, segs, req, sink)?, None)),
        }
    }
}

/// Run a count-only plan without grouping sets on the path `run` would take for it (integer
/// keys, byte keys for many groups, else the general path), handing complete groups to `sink`.
/// `contrast` and `score` count each field this way.
pub(crate) fn count_groups(
    plan: &Plan,
    schema: &Schema,
    segs: &[SegmentReader],
    req: &PivotRequest,
    sink: &mut Sink<'_>,
) -> Result<QueryStats> {
    Ok(CountPath::of(plan, schema, segs, req)
        .run(plan, schema, segs, req, sink)?
        .0)
}

impl QueryStats {
    /// Add what one segment's scan did.
    pub fn add_segment(&mut self, r: &exec::SegmentReport) {
        self.segments_pruned += u64::from(r.pruned);
        self.rows_total += r.rows;
        self.rows_selected += r.selected;
        self.index_lookups += r.filter.index_lookups;
        self.time_index_segments += u64::from(r.filter.time_index_used);
        self.columns_decoded += r.filter.columns_decoded;
    }
}

/// What a segment scan hands to the calling thread.
pub(crate) enum Scanned<M, D> {
    /// Something the worker emitted while scanning (a partial table).
    Item(M),
    /// The segment is done.
    Done(D),
}

/// The work one worker does on one segment: scan it, emitting items; its result.
pub(crate) type SegmentWork<'a, M, D> =
    dyn Fn(&SegmentReader, &mut dyn FnMut(M) -> Result<()>) -> Result<D> + Sync + 'a;

/// Run `work` on every segment on up to `threads` worker threads (each segment's mapped
/// pages are released after its scan), and hand what they emit to `on` on the calling
/// thread, a segment's items before its `Done`. The first error, from a worker or from
/// `on`, stops the scan: the workers end when they see the channel closed.
pub(crate) fn scan_segments<M: Send, D: Send>(
    segs: &[SegmentReader],
    threads: usize,
    work: &SegmentWork<'_, M, D>,
    on: &mut dyn FnMut(Scanned<M, D>) -> Result<()>,
) -> Result<()> {
    scan_segments_queued(segs, threads, threads, work, on)
}

/// [`scan_segments`] with at most `queue` messages waiting for `on` (0: a worker hands each
/// one over directly), for items so large that those waiting would count against the memory
/// budget.
pub(crate) fn scan_segments_queued<M: Send, D: Send>(
    segs: &[SegmentReader],
    threads: usize,
    queue: usize,
    work: &SegmentWork<'_, M, D>,
    on: &mut dyn FnMut(Scanned<M, D>) -> Result<()>,
) -> Result<()> {
    let next = &AtomicUsize::new(0);
    let threads = threads.clamp(1, segs.len().max(1));
    // The calling thread scans too (handing its own items straight to `on`, and what the
    // workers sent between its segments), so a query over few segments, or with one
    // thread, needs fewer hand-overs between threads or none. Not when items are handed
    // over one at a time (`queue` 0): a worker would wait for the caller's segment to end.
    let caller_scans = queue > 0;
    let jobs = threads - usize::from(caller_scans);
    let (tx, rx) = crossbeam_channel::bounded::<Result<Scanned<M, D>>>(queue);
    let job = |_: usize| {
        let tx = tx.clone();
        // A worker that panics wakes the consumer (which waits for every segment's `Done`);
        // the pool then resumes the panic on the calling thread.
        let _wake = WakeOnPanic(&tx);
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(seg) = segs.get(i) else { break };
            let mut emit = |m: M| {
                tx.send(Ok(Scanned::Item(m)))
                    .map_err(|_| Error::Interrupted)
            };
            let r = work(seg, &mut emit);
            seg.release_read_pages();
            let stop = r.is_err();
            if tx.send(r.map(Scanned::Done)).is_err() || stop {
                break;
            }
        }
    };
    // Every segment ends in one `Done` or an error, whoever scans it; the receiver moves into
    // the consumer so that the workers' sends fail once it returns early.
    let mut consume = move || -> Result<()> {
        let mut done = 0;
        let mut take = |msg: Result<Scanned<M, D>>, done: &mut usize| -> Result<()> {
            if matches!(msg, Ok(Scanned::Done(_))) {
                *done += 1;
            }
            msg.and_then(&mut *on)
        };
        // (`caller_scans` false: the loop's first test ends it.)
        while let Some(seg) = caller_scans
            .then(|| segs.get(next.fetch_add(1, Ordering::Relaxed)))
            .flatten()
        {
            while let Ok(msg) = rx.try_recv() {
                take(msg, &mut done)?;
            }
            let r = work(seg, &mut |m: M| take(Ok(Scanned::Item(m)), &mut 0));
            seg.release_read_pages();
            take(r.map(Scanned::Done), &mut done)?;
        }
        while done < segs.len() {
            let msg = rx.recv().map_err(|_| Error::Interrupted)?;
            take(msg, &mut done)?;
        }
        Ok(())
    };
    if jobs == 0 {
        return consume();
    }
    crate::pool::shared(threads)?.scope(jobs, &job, consume)?
}

/// Sends the consumer an error when dropped by a panicking worker.
struct WakeOnPanic<'a, T>(&'a crossbeam_channel::Sender<Result<T>>);

impl<T> Drop for WakeOnPanic<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Err(Error::Interrupted));
        }
    }
}

fn describe(plan: &Plan, req: &PivotRequest) -> Vec<String> {
    let mut out = Vec::new();
    let keys: Vec<String> = plan
        .keys
        .iter()
        .map(|k| format!("{} => {:?}", k.label, k.part))
        .collect();
    out.push(format!("group by: {}", keys.join("; ")));
    let vals: Vec<&str> = plan.values.iter().map(|v| v.label.as_str()).collect();
    out.push(format!("aggregates: {}", vals.join(", ")));
    if let Some(f) = &plan.filter {
        out.push(format!("filter: {f}"));
    }
    if plan.from.is_some() || plan.to.is_some() {
        out.push(format!(
            "time range: [{}, {})",
            plan.from
                .map_or("-inf".into(), crate::json::time::format_rfc3339),
            plan.to
                .map_or("+inf".into(), crate::json::time::format_rfc3339)
        ));
    }
    for j in &plan.joins {
        out.push(format!(
            "join: {} ({} rows) on {:?} = key, unmatched as `{}`",
            j.alias,
            j.table.len(),
            j.source,
            j.unmatched
        ));
    }
    out.push(format!(
        "memory limit {} bytes, indexes {}",
        req.memory_limit,
        if plan.use_indexes { "on" } else { "off" }
    ));
    out
}

/// Merges partial group tables under the memory budget, spilling when needed.
struct Aggregator<'a> {
    plan: &'a Plan,
    req: &'a PivotRequest,
    /// Groups with their key hashes (from the workers), so growth never re-hashes keys.
    groups: hashbrown::HashTable<(u64, Vec<value::KeyValue>, Vec<value::AggState>)>,
    bytes: usize,
    budget: usize,
    spill: Option<Spill>,
    col_counts: std::collections::HashMap<value::KeyValue, u64>,
}

impl<'a> Aggregator<'a> {
    fn new(plan: &'a Plan, req: &'a PivotRequest) -> Aggregator<'a> {
        Aggregator {
            plan,
            req,
            groups: hashbrown::HashTable::new(),
            bytes: 0,
            // Leave room for partial tables in flight and the final merge of one partition.
            budget: (req.memory_limit as usize / 2).max(1 << 10),
            spill: None,
            col_counts: Default::default(),
        }
    }

    fn has_col(&self) -> bool {
        self.plan.keys.len() > self.plan.n_row_keys
    }

    fn add(&mut self, g: exec::Partial) -> Result<()> {
        self.req.cancel.check()?;
        let has_col = self.has_col();
        for (h, k, s) in g {
            if has_col {
                if let (Some(c), Some(value::AggState::Count(n))) = (k.last(), s.first()) {
                    *self.col_counts.entry(c.clone()).or_insert(0) += n;
                }
            }
            match self.groups.find_mut(h, |e| e.0 == h && e.1 == k) {
                Some(e) => {
                    for (a, b) in e.2.iter_mut().zip(s) {
                        self.bytes += b.heap_bytes();
                        a.merge(b);
                    }
                }
                None => {
                    self.bytes += group_bytes(&k, &s);
                    self.groups.insert_unique(h, (h, k, s), |e| e.0);
                }
            }
        }
        if self.bytes > self.budget {
            self.spill_now()?;
        }
        Ok(())
    }

    fn spill_now(&mut self) -> Result<()> {
        if self.spill.is_none() {
            let parent = resolve_spill_dir(self.req.spill_dir.as_ref());
            self.spill = Some(Spill::new(
                &parent,
                self.plan.n_row_keys,
                self.req.max_spill,
            )?);
        }
        if let Some(s) = self.spill.as_mut() {
            s.write(self.groups.drain().map(|(_, k, st)| (k, st)))?;
        }
        self.bytes = 0;
        Ok(())
    }

    fn finish(mut self, stats: &mut QueryStats, sink: &mut Sink<'_>) -> Result<()> {
        match self.spill.take() {
            None => {
                stats.groups = self.groups.len() as u64;
                sink(
                    &self.col_counts,
                    &mut self.groups.drain().map(|(_, k, st)| (k, st)),
                );
            }
            Some(mut sp) => {
                sp.write(self.groups.drain().map(|(_, k, st)| (k, st)))?;
                for p in 0..spill::PARTITIONS {
                    let g = sp.read_partition(p)?;
                    stats.groups += g.len() as u64;
                    sink(&self.col_counts, &mut g.into_iter());
                }
                stats.spill_runs = sp.runs;
                stats.spill_bytes_written = sp.bytes_written;
                stats.spill_bytes_read = sp.bytes_read;
                stats.spill_dir = Some(sp.path().display().to_string());
            }
        }
        Ok(())
    }
}

/// Merge helper re-exported for tests.
pub fn merge_groups(into: &mut Groups, from: Groups) {
    for (k, s) in from {
        merge_into(into, k, s);
    }
}
