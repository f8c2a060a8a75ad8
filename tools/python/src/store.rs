//! `logpivot.Store`: an open data directory. Immutable and shared (`frozen`, `Arc` state): any
//! number of threads may query one store at once. The segments are opened once (mapped, their
//! footers checked and decoded) and reused by every pivot; `refresh()` sees new commits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use arrow::pyarrow::{IntoPyArrow, Table};
use arrow::record_batch::RecordBatch;
use logpivot::query::plan::Schema;
use logpivot::query::{JoinRequest, PivotRequest, SortBy};
use logpivot::segment::SegmentReader;
use logpivot::stats::{ContrastRequest, ScoreRequest};
use logpivot::store::{DataDir, Manifest};
use logpivot::Cancel;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyDict, PyTuple};

use crate::errors::to_py;
use crate::{job, json_to_py, OneOrMany};

/// The open segments of one generation of the data directory (of each shard's, for a sharded
/// root), the manifest view that lists them, and their schema.
pub(crate) struct Snapshot {
    pub(crate) segs: Vec<SegmentReader>,
    pub(crate) schema: Schema,
    pub(crate) view: Manifest,
}

impl Snapshot {
    fn open(dir: &DataDir) -> logpivot::Result<Snapshot> {
        let (view, segs) = logpivot::store::shards::open_view(dir, |view| {
            logpivot::query::open_entries(dir, &view.segments)
        })?;
        Ok(Snapshot::of(view, segs))
    }

    /// The segments a manifest view lists, as they were then (`logpivot.ray` pins one view
    /// for every task of a query).
    fn pinned(dir: &DataDir, view: Manifest) -> logpivot::Result<Snapshot> {
        let segs = logpivot::query::open_entries(dir, &view.segments)?;
        Ok(Snapshot::of(view, segs))
    }

    fn of(view: Manifest, segs: Vec<SegmentReader>) -> Snapshot {
        let schema = Schema::from_segments(&segs, view.time_field.as_deref());
        // Pages are released after each scanned segment, as in the CLI. Keeping them resident
        // between queries was measured (warm, in-process): less CPU (single rule at 10M events
        // 3.5 against 4.5 ms), but more wall time with two scan threads (3.1 against 2.55 ms;
        // value counts 18.2 against 12.7 ms), so it is not done.
        Snapshot { segs, schema, view }
    }
}

struct Inner {
    dir: DataDir,
    snapshot: RwLock<Arc<Snapshot>>,
}

/// An open logpivot data directory. Create with `logpivot.open(path)`.
#[pyclass(frozen, module = "logpivot")]
pub struct Store {
    inner: Arc<Inner>,
}

/// The engine part of a request (joins, zone, memory, spill, threads), as the CLI's
/// `engine_request` builds it from its flags.
#[allow(clippy::too_many_arguments)]
fn engine_request(
    join: Option<OneOrMany>,
    unmatched: Option<OneOrMany>,
    tz: Option<String>,
    memory_limit: Option<String>,
    spill_dir: Option<PathBuf>,
    max_spill: Option<String>,
    threads: Option<usize>,
) -> logpivot::Result<PivotRequest> {
    let unmatched = unmatched.map(OneOrMany::into_vec).unwrap_or_default();
    let mut joins = Vec::new();
    for (i, j) in join
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let mut jr = JoinRequest::parse(j)?;
        if let Some(label) = unmatched.get(i).or(unmatched.last()) {
            jr.unmatched = label.clone();
        }
        joins.push(jr);
    }
    let mut req = PivotRequest {
        joins,
        tz,
        spill_dir,
        max_spill: max_spill
            .as_deref()
            .map(logpivot::query::parse_size)
            .transpose()?,
        ..PivotRequest::default()
    };
    if let Some(m) = &memory_limit {
        req.memory_limit = logpivot::query::parse_size(m)?;
    }
    if let Some(t) = threads {
        req.threads = t.max(1);
    }
    Ok(req)
}

fn list(v: Option<OneOrMany>) -> Vec<String> {
    v.map(OneOrMany::into_vec).unwrap_or_default()
}

/// A record batch as a `pyarrow.Table` (through the Arrow C data interface).
pub(crate) fn to_table(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyAny>> {
    let schema = batch.schema();
    let table = Table::try_new(vec![batch], schema)
        .map_err(|e| to_py(logpivot::Error::invalid(format!("arrow: {e}"))))?;
    table.into_pyarrow(py)
}

/// Run a query that makes one record batch (as `job::run`, cancelled by `cancel`) and hand it
/// to Python as a `pyarrow.Table`.
fn table_job<'py, W>(py: Python<'py>, cancel: &Cancel, work: W) -> PyResult<Bound<'py, PyAny>>
where
    W: FnOnce() -> logpivot::Result<RecordBatch> + Send,
{
    let batch = job::run(py, cancel, work, |_| Ok(()))?;
    to_table(py, batch)
}

impl Store {
    pub fn open(py: Python<'_>, data: PathBuf, view: Option<String>) -> PyResult<Store> {
        let dir = DataDir::new(&data);
        let d2 = dir.clone();
        let snap = job::run(
            py,
            &Cancel::new(),
            move || match view {
                None => Snapshot::open(&d2),
                Some(text) => {
                    let view: Manifest = serde_json::from_str(&text).map_err(|e| {
                        logpivot::Error::invalid(format!("a pinned view that is not valid: {e}"))
                    })?;
                    Snapshot::pinned(&d2, view)
                }
            },
            |_| Ok(()),
        )?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir,
                snapshot: RwLock::new(Arc::new(snap)),
            }),
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.inner.snapshot.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn root(&self) -> &Path {
        self.inner.dir.root()
    }
}

#[pymethods]
impl Store {
    /// The data directory's path.
    #[getter]
    fn path(&self) -> String {
        self.root().display().to_string()
    }

    /// Re-read the manifest and open the segments committed since `open` (or the last
    /// refresh). Queries already running keep the segments they started with.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let dir = self.inner.dir.clone();
        let snap = job::run(py, &Cancel::new(), move || Snapshot::open(&dir), |_| Ok(()))?;
        match self.inner.snapshot.write() {
            Ok(mut g) => *g = Arc::new(snap),
            Err(p) => *p.into_inner() = Arc::new(snap),
        }
        Ok(())
    }

    /// The columns: a list of (name, type) pairs, sorted by name; a column whose type differs
    /// between segments lists them as `int|str`.
    #[getter]
    fn schema(&self) -> Vec<(String, String)> {
        let snap = self.snapshot();
        snap.schema
            .columns
            .iter()
            .map(|(name, tys)| {
                let t: Vec<&str> = tys.iter().map(|t| t.name()).collect();
                (name.clone(), t.join("|"))
            })
            .collect()
    }

    /// What `logpivot inspect --json` prints, as a dict.
    #[pyo3(signature = (segment=None, verify=false))]
    fn info<'py>(
        &self,
        py: Python<'py>,
        segment: Option<u64>,
        verify: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dir = self.inner.dir.clone();
        let report = job::run(
            py,
            &Cancel::new(),
            move || logpivot::store::inspect::inspect(&dir, segment, verify),
            |_| Ok(()),
        )?;
        let text = serde_json::to_string(&report)
            .map_err(|e| to_py(logpivot::Error::invalid(format!("report: {e}"))))?;
        json_to_py(py, &text)
    }

    /// A pivot table as a `pyarrow.Table`; the arguments are the flags of `logpivot pivot`.
    #[pyo3(signature = (rows, cols=None, values=None, r#where=None, time_from=None, time_to=None,
        join=None, unmatched=None, top=None, cols_top=None, totals=false, sort=None, tz=None,
        memory_limit=None, spill_dir=None, max_spill=None, threads=None, plot=None, _stage=None))]
    #[allow(clippy::too_many_arguments)]
    fn pivot<'py>(
        &self,
        py: Python<'py>,
        rows: OneOrMany,
        cols: Option<String>,
        values: Option<OneOrMany>,
        r#where: Option<OneOrMany>,
        time_from: Option<String>,
        time_to: Option<String>,
        join: Option<OneOrMany>,
        unmatched: Option<OneOrMany>,
        top: Option<usize>,
        cols_top: Option<usize>,
        totals: bool,
        sort: Option<String>,
        tz: Option<String>,
        memory_limit: Option<String>,
        spill_dir: Option<PathBuf>,
        max_spill: Option<String>,
        threads: Option<usize>,
        plot: Option<PathBuf>,
        _stage: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let plot = plot
            .map(|p| logpivot::plot::Format::of(&p).map(|f| (p, f)))
            .transpose()
            .map_err(to_py)?;
        let engine = engine_request(
            join,
            unmatched,
            tz,
            memory_limit,
            spill_dir,
            max_spill,
            threads,
        )
        .map_err(to_py)?;
        let req = PivotRequest {
            rows: rows.into_vec(),
            cols,
            values: list(values),
            filters: list(r#where),
            from: time_from,
            to: time_to,
            top,
            cols_top,
            totals,
            sort: match sort.as_deref() {
                None | Some("total") => SortBy::Total,
                Some(k) => SortBy::Key(k.to_string()),
            },
            ..engine
        }
        .normalized();
        let snap = self.snapshot();
        if let Some(stage) = _stage {
            return crate::dist::stage(py, &self.inner.dir, snap, req, &stage);
        }
        let cancel = req.cancel.clone();
        table_job(py, &cancel, move || {
            let plan = logpivot::query::plan(&req, &snap.schema)?;
            let table = logpivot::query::run(&plan, &snap.schema, &snap.segs, &req)?;
            if let Some((path, format)) = &plot {
                let title = logpivot::plot::pivot_title(&req);
                let chart = logpivot::plot::pivot_chart(&table, &title, *format)?;
                logpivot::plot::write(path, &chart)?;
            }
            logpivot::query::output::to_typed_record_batch(&table)
        })
    }

    /// Rank the field values over-represented in the suspect set against the baseline (the
    /// flags of `logpivot contrast`); a `pyarrow.Table` with the CLI's CSV columns.
    #[pyo3(signature = (suspect, baseline=None, fields=None, pairs=false, min_count=5, top=30,
        sort="f", r#where=None, join=None, unmatched=None, tz=None, memory_limit=None,
        spill_dir=None, max_spill=None, threads=None, plot=None, _stage=None))]
    #[allow(clippy::too_many_arguments)]
    fn contrast<'py>(
        &self,
        py: Python<'py>,
        suspect: String,
        baseline: Option<String>,
        fields: Option<OneOrMany>,
        pairs: bool,
        min_count: u64,
        top: usize,
        sort: &str,
        r#where: Option<OneOrMany>,
        join: Option<OneOrMany>,
        unmatched: Option<OneOrMany>,
        tz: Option<String>,
        memory_limit: Option<String>,
        spill_dir: Option<PathBuf>,
        max_spill: Option<String>,
        threads: Option<usize>,
        plot: Option<PathBuf>,
        _stage: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let plot = plot
            .map(|p| logpivot::plot::Format::of(&p).map(|f| (p, f)))
            .transpose()
            .map_err(to_py)?;
        let req = ContrastRequest {
            suspect,
            baseline,
            filters: list(r#where),
            fields: list(fields),
            pairs,
            min_count,
            top: (top > 0).then_some(top),
            rank: sort.parse().map_err(to_py)?,
            query: engine_request(
                join,
                unmatched,
                tz,
                memory_limit,
                spill_dir,
                max_spill,
                threads,
            )
            .map_err(to_py)?,
            ..ContrastRequest::default()
        };
        if let Some(stage) = _stage {
            return crate::dist::contrast_stage(py, &self.inner.dir, self.snapshot(), req, &stage);
        }
        let dir = self.inner.dir.clone();
        let cancel = req.query.cancel.clone();
        table_job(py, &cancel, move || {
            let c = logpivot::stats::contrast(&dir, &req)?;
            if let Some((path, format)) = &plot {
                let title = logpivot::plot::contrast_title(&req);
                let chart = logpivot::plot::contrast_chart(&c, &title, *format)?;
                logpivot::plot::write(path, &chart)?;
            }
            c.to_frame(false).to_record_batch()
        })
    }

    /// Score events by how much their values look like the suspect set (the flags of
    /// `logpivot score`); a `pyarrow.Table` with the CLI's CSV columns.
    #[pyo3(signature = (suspect, baseline=None, fields=None, r#where=None, top=None,
        threshold=None, join=None, unmatched=None, tz=None, memory_limit=None, spill_dir=None,
        max_spill=None, threads=None, _stage=None))]
    #[allow(clippy::too_many_arguments)]
    fn score<'py>(
        &self,
        py: Python<'py>,
        suspect: String,
        baseline: Option<String>,
        fields: Option<OneOrMany>,
        r#where: Option<OneOrMany>,
        top: Option<usize>,
        threshold: Option<f64>,
        join: Option<OneOrMany>,
        unmatched: Option<OneOrMany>,
        tz: Option<String>,
        memory_limit: Option<String>,
        spill_dir: Option<PathBuf>,
        max_spill: Option<String>,
        threads: Option<usize>,
        _stage: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(t) = threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(to_py(logpivot::Error::invalid(format!(
                    "invalid --threshold {t}: a score is between 0 and 1"
                ))));
            }
        }
        let req = ScoreRequest {
            suspect,
            baseline,
            fields: list(fields),
            filters: list(r#where),
            top,
            threshold,
            query: engine_request(
                join,
                unmatched,
                tz,
                memory_limit,
                spill_dir,
                max_spill,
                threads,
            )
            .map_err(to_py)?,
            ..ScoreRequest::default()
        };
        if let Some(stage) = _stage {
            return crate::dist::score_stage(py, &self.inner.dir, self.snapshot(), req, &stage);
        }
        let dir = self.inner.dir.clone();
        let cancel = req.query.cancel.clone();
        table_job(py, &cancel, move || {
            logpivot::stats::score(&dir, &req)?
                .to_frame()
                .to_record_batch()
        })
    }

    /// Stream the selected rows of `columns` (default: all, by name) as a
    /// `pyarrow.RecordBatchReader`: one batch of at most `batch_size` rows (default 65,536) at a
    /// time, decoded as it is read, so memory stays bounded whatever the store's size. `where`
    /// and `time_from`/`time_to` are the filters of `pivot` (equality on an indexed column and
    /// time ranges answered from the indexes). Every batch has the same schema: strings are
    /// `dictionary<int32, string>` (pandas categoricals), `_time` `timestamp[ns, UTC]`, ints
    /// `int64`, floats `float64`, booleans `bool`; a column whose type differs between segments
    /// is `float64` (ints and floats) or strings, and a segment without it gives nulls. Polars
    /// and DuckDB read the reader directly (`__arrow_c_stream__`).
    #[pyo3(signature = (columns=None, r#where=None, time_from=None, time_to=None, batch_size=None,
        _segments=None))]
    #[allow(clippy::too_many_arguments)]
    fn scan<'py>(
        &self,
        py: Python<'py>,
        columns: Option<OneOrMany>,
        r#where: Option<OneOrMany>,
        time_from: Option<String>,
        time_to: Option<String>,
        batch_size: Option<usize>,
        _segments: Option<Vec<usize>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = logpivot::query::scan::ScanRequest {
            columns: columns.map(OneOrMany::into_vec),
            filters: list(r#where),
            from: time_from,
            to: time_to,
            batch_size,
            ..Default::default()
        };
        let snap = self.snapshot();
        let snap = match _segments {
            None => snap,
            // Some of the view's segments, with the whole view's schema (so every part of a
            // distributed read has the same Arrow schema).
            Some(wanted) => {
                let entries = wanted
                    .iter()
                    .map(|&i| snap.view.segments.get(i).cloned())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        to_py(logpivot::Error::invalid(format!(
                            "_segments: an index past the view's {} segments",
                            snap.view.segments.len()
                        )))
                    })?;
                let dir = self.inner.dir.clone();
                let segs = job::run(
                    py,
                    &Cancel::new(),
                    move || logpivot::query::open_entries(&dir, &entries),
                    |_| Ok(()),
                )?;
                Arc::new(Snapshot {
                    segs,
                    schema: snap.schema.clone(),
                    view: Manifest::default(),
                })
            }
        };
        crate::scan::reader(py, snap, &req)
    }

    /// The view's segments (index, rows, bytes) that may hold events in [time_from,
    /// time_to) by their manifest time range (all with rows when no bound is given), for
    /// `logpivot.ray` to plan reads and map tasks.
    #[pyo3(signature = (time_from=None, time_to=None))]
    fn _segments(
        &self,
        time_from: Option<String>,
        time_to: Option<String>,
    ) -> PyResult<Vec<(usize, u64, u64)>> {
        let parse = |s: Option<String>, flag: &str| {
            s.map(|s| logpivot::query::plan::parse_time_arg(&s, flag))
                .transpose()
                .map_err(to_py)
        };
        let from = parse(time_from, "--from")?;
        let to = parse(time_to, "--to")?;
        let snap = self.snapshot();
        Ok(snap
            .view
            .segments
            .iter()
            .enumerate()
            .filter(|(_, e)| e.file.is_some() && e.rows > 0)
            .filter(|(_, e)| {
                let bounded = from.is_some() || to.is_some();
                // A time range selects timed events only: a segment whose timed rows all
                // lie outside it holds none.
                !bounded
                    || match (e.min_time, e.max_time) {
                        (Some(lo), Some(hi)) => {
                            from.is_none_or(|f| hi >= f) && to.is_none_or(|t| lo < t)
                        }
                        _ => false,
                    }
            })
            .map(|(i, e)| (i, e.rows, e.bytes))
            .collect())
    }

    /// The manifest view this handle reads (its segments and time field) as JSON, for
    /// `logpivot.ray` to pin one view for every task of a query.
    fn _view(&self) -> PyResult<String> {
        let snap = self.snapshot();
        let view = Manifest {
            inputs: Vec::new(),
            ..snap.view.clone()
        };
        serde_json::to_string(&view)
            .map_err(|e| to_py(logpivot::Error::invalid(format!("view: {e}"))))
    }

    /// Pickled by path: unpickling opens the directory again (in the worker process).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let open = py.import("logpivot")?.getattr("open")?;
        let path = self
            .root()
            .to_str()
            .ok_or_else(|| PyValueError::new_err("the data directory's path is not UTF-8"))?
            .to_string();
        (open, (path,)).into_pyobject(py)
    }

    fn __repr__(&self) -> String {
        let snap = self.snapshot();
        let rows: u64 = snap.segs.iter().map(|s| s.meta().rows).sum();
        format!(
            "Store({:?}, segments={}, events={rows})",
            self.path(),
            snap.segs.len()
        )
    }
}
