//! `logpivot._logpivot`: the Python binding of the logpivot library. Thin: it maps Python
//! arguments to the library's requests exactly as the CLI maps its flags
//! (tools/logpivot/pivot_cmd.rs, ingest_cmd.rs, stats_cmd.rs), runs the library on a Rust
//! thread with the GIL released, and hands results to Python as pyarrow objects through the
//! Arrow C data interface. The library knows nothing of Python.

mod dist;
mod errors;
mod job;
mod scan;
mod store;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logpivot::ingest::{ingest as run_ingest, IngestOptions, IngestProgress};
use logpivot::json::split::RecordsPath;
use logpivot::store::DataDir;
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::errors::to_py;

/// One string or a list of strings (`rows="A"` or `rows=["A", "B"]`).
#[derive(FromPyObject)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// One path or a list of paths (str or os.PathLike).
#[derive(FromPyObject)]
enum PathOrMany {
    One(PathBuf),
    Many(Vec<PathBuf>),
}

/// Parse JSON text (a serialized library report) into Python objects with `json.loads`.
pub fn json_to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Write one line to Python's `sys.stderr` (so Jupyter shows it).
/// How often a long ingest reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Hand the ingest's counters to the Python progress callback as a dict.
fn report_progress(
    py: Python<'_>,
    cb: &Py<PyAny>,
    c: &IngestProgress,
    started: Instant,
    done: bool,
) -> PyResult<()> {
    let d = pyo3::types::PyDict::new(py);
    d.set_item("events", c.events.load(Ordering::Relaxed))?;
    d.set_item("rejects", c.rejects.load(Ordering::Relaxed))?;
    d.set_item("bytes", c.bytes.load(Ordering::Relaxed))?;
    d.set_item("raw_bytes", c.raw_bytes.load(Ordering::Relaxed))?;
    d.set_item("raw_total", c.raw_total.load(Ordering::Relaxed))?;
    d.set_item("segments", c.segments.load(Ordering::Relaxed))?;
    d.set_item("seconds", started.elapsed().as_secs_f64())?;
    let current = c.current.lock().map(|g| g.clone()).unwrap_or_default();
    d.set_item("current", current)?;
    d.set_item("done", done)?;
    cb.call1(py, (d,))?;
    Ok(())
}

/// Ingest JSON logs into a data directory; returns the summary as a dict.
#[pyfunction]
#[pyo3(signature = (paths, data=None, time_field=None, index=None, threads=None, strict=false, records=None, progress=None, shards=None, compact=false, _shard=false))]
#[allow(clippy::too_many_arguments)]
fn ingest<'py>(
    py: Python<'py>,
    paths: PathOrMany,
    data: Option<PathBuf>,
    time_field: Option<String>,
    index: Option<OneOrMany>,
    threads: Option<usize>,
    strict: bool,
    records: Option<String>,
    progress: Option<Py<PyAny>>,
    shards: Option<usize>,
    compact: bool,
    _shard: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let inputs = match paths {
        PathOrMany::One(p) => vec![p],
        PathOrMany::Many(v) => v,
    };
    let records = match records {
        Some(p) => Some(
            RecordsPath::parse(&p).map_err(|e| to_py(logpivot::Error::invalid(e.to_string())))?,
        ),
        None => None,
    };
    let mut opts = IngestOptions {
        inputs,
        time_field,
        index_columns: index.map(OneOrMany::into_vec),
        strict,
        records,
        shards,
        compact,
        as_shard: _shard,
        ..IngestOptions::default()
    };
    if let Some(t) = threads {
        opts.threads = t.max(1);
    }
    let dir = DataDir::new(data.unwrap_or_else(|| PathBuf::from(logpivot::store::DEFAULT_DIR)));
    let counters = Arc::new(IngestProgress::default());
    let started = Instant::now();
    let mut last = started;
    let c2 = counters.clone();
    let cancel = opts.cancel.clone();
    let summary = job::run(
        py,
        &cancel,
        move || run_ingest(&dir, &opts, c2),
        |py| match &progress {
            Some(cb) if last.elapsed() >= PROGRESS_EVERY => {
                last = Instant::now();
                report_progress(py, cb, &counters, started, false)
            }
            _ => Ok(()),
        },
    )?;
    if let Some(cb) = &progress {
        report_progress(py, cb, &counters, started, true)?;
    }
    let text = serde_json::to_string(&summary)
        .map_err(|e| to_py(logpivot::Error::invalid(format!("summary: {e}"))))?;
    json_to_py(py, &text)
}

/// Merge small segments (`logpivot compact`); returns the summary as a dict.
#[pyfunction]
#[pyo3(signature = (data=None, target_rows=None, dry_run=false))]
fn compact<'py>(
    py: Python<'py>,
    data: Option<PathBuf>,
    target_rows: Option<u64>,
    dry_run: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let dir = DataDir::new(data.unwrap_or_else(|| PathBuf::from(logpivot::store::DEFAULT_DIR)));
    let mut opts = logpivot::store::compact::CompactOptions {
        dry_run,
        ..Default::default()
    };
    if let Some(t) = target_rows {
        opts.target_rows = t.max(1);
    }
    let cancel = opts.cancel.clone();
    let s = job::run(
        py,
        &cancel,
        move || logpivot::store::compact::compact(&dir, &opts, &|_, _, _| {}),
        |_| Ok(()),
    )?;
    summary_to_py(py, &s)
}

/// Drop events before `before` (a time) or older than `older_than` (an age such as `90d`)
/// (`logpivot retain`); returns the summary as a dict.
#[pyfunction]
#[pyo3(signature = (data=None, before=None, older_than=None, dry_run=false))]
fn retain<'py>(
    py: Python<'py>,
    data: Option<PathBuf>,
    before: Option<String>,
    older_than: Option<String>,
    dry_run: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let cut = match (before, older_than) {
        (Some(t), None) => logpivot::query::plan::parse_time_arg(&t, "before").map_err(to_py)?,
        (None, Some(age)) => {
            let width = logpivot::query::plan::parse_width(&age).ok_or_else(|| {
                to_py(logpivot::Error::invalid(format!(
                    "invalid older_than `{age}`: expected a number and s, m, h, d or w (90d)"
                )))
            })?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            now - width
        }
        _ => {
            return Err(to_py(logpivot::Error::invalid(
                "give one of before= or older_than=",
            )))
        }
    };
    let dir = DataDir::new(data.unwrap_or_else(|| PathBuf::from(logpivot::store::DEFAULT_DIR)));
    let opts = logpivot::store::compact::CompactOptions {
        dry_run,
        ..Default::default()
    };
    let cancel = opts.cancel.clone();
    let s = job::run(
        py,
        &cancel,
        move || logpivot::store::compact::retain(&dir, cut, &opts),
        |_| Ok(()),
    )?;
    summary_to_py(py, &s)
}

fn summary_to_py<'py>(
    py: Python<'py>,
    s: &logpivot::store::compact::CompactSummary,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(s)
        .map_err(|e| to_py(logpivot::Error::invalid(format!("summary: {e}"))))?;
    json_to_py(py, &text)
}

/// Open a data directory (or a sharded root): a handle shared by every query.
#[pyfunction]
fn open(py: Python<'_>, data: PathBuf) -> PyResult<store::Store> {
    store::Store::open(py, data, None)
}

/// Open the segments a view (`Store._view()`) lists, as they were (for `logpivot.ray`).
#[pyfunction]
fn _open_view(py: Python<'_>, data: PathBuf, view: String) -> PyResult<store::Store> {
    store::Store::open(py, data, Some(view))
}

/// Parse a size such as "256MiB", "16M", "1g" into bytes (the CLI's syntax).
#[pyfunction]
fn parse_size(text: &str) -> PyResult<u64> {
    logpivot::query::parse_size(text).map_err(to_py)
}

/// glibc returns a freed block of more than a few megabytes to the kernel, and the next
/// query's vectors of the same size (per-row key ids of a segment, some 16 MB at 1M events)
/// fault every page in again: 57% of a warm time-series query's CPU was page faults. As the CLI
/// does for its queries (tools/logpivot/main.rs), blocks up to 32 MiB come from the heap and
/// freed memory up to 128 MiB is kept for reuse. And at most one malloc arena per core (glibc
/// allows eight): the threads that run calls, scan segments and merge partitions are new
/// to each other from call to call, and each arena kept its own free memory, so a 10M-event
/// pivot limited to 256 MiB grew the process by 270-280 MB after an unlimited one, and by
/// 220-230 MB with two arenas on this two-core machine (no slower). Set
/// `LOGPIVOT_MALLOC_TUNING=0` before the import to leave the process's allocator as it was.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    if std::env::var_os("LOGPIVOT_MALLOC_TUNING").is_some_and(|v| v == "0") {
        return;
    }
    // SAFETY: mallopt only sets allocator parameters; glibc serialises it with its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
        let cores = logpivot::query::default_threads().clamp(1, 64) as libc::c_int;
        libc::mallopt(libc::M_ARENA_MAX, cores);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Let open segments keep decoded dictionaries and index chunks between queries (a `Store`
/// lives across many): `LOGPIVOT_KEEP_BYTES` (a size such as `256MiB`, `0` for none) before
/// the import, else 64 MiB for the process.
fn keep_regions() -> PyResult<()> {
    let budget = match std::env::var("LOGPIVOT_KEEP_BYTES") {
        Ok(v) => logpivot::query::parse_size(&v).map_err(errors::to_py)?,
        Err(_) => logpivot::segment::KEPT_BYTES_DEFAULT,
    };
    logpivot::segment::set_kept_budget(budget);
    Ok(())
}

#[pymodule]
fn _logpivot(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tune_allocator();
    keep_regions()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(ingest, m)?)?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(_open_view, m)?)?;
    m.add_function(wrap_pyfunction!(dist::_plan_shards, m)?)?;
    m.add_function(wrap_pyfunction!(dist::_lease, m)?)?;
    m.add_function(wrap_pyfunction!(compact, m)?)?;
    m.add_function(wrap_pyfunction!(retain, m)?)?;
    m.add_class::<dist::Lease>()?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_class::<store::Store>()?;
    errors::register(m)?;
    Ok(())
}
