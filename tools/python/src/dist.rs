//! The steps of a distributed query, for `logpivot.ray`: map, reduce and finish of a pivot
//! (`Store.pivot(..., _stage={...})`, over the library's `query::partial`), and the shard plan
//! of a distributed ingest (the library's `ingest::shard`). Ray moves the bytes; the library
//! does the work.

use std::path::PathBuf;
use std::sync::Arc;

use logpivot::query::exec::Plan;
use logpivot::query::plan::Schema;
use logpivot::query::{open_entries, partial, PivotRequest, QueryStats};
use logpivot::segment::SegmentReader;
use logpivot::stats::contrast::{contrast_on, CountPass, CountedGroups};
use logpivot::stats::math::Combined;
use logpivot::stats::score::{limit_of, Top};
use logpivot::stats::{ContrastRequest, ScoreRequest, Scorer};
use logpivot::store::{DataDir, Manifest, SegmentEntry};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyAny, PyBytes, PyDict};

use crate::errors::to_py;
use crate::store::{to_table, Snapshot};
use crate::{job, json_to_py};

fn item<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    d: &Bound<'py, PyDict>,
    key: &str,
) -> PyResult<T> {
    match d.get_item(key)? {
        Some(v) => v.extract().map_err(Into::into),
        None => Err(to_py(logpivot::Error::invalid(format!(
            "_stage: `{key}` is missing"
        )))),
    }
}

fn bytes_list<'py>(py: Python<'py>, blobs: &[Vec<u8>]) -> Vec<Bound<'py, PyBytes>> {
    blobs.iter().map(|b| PyBytes::new(py, b)).collect()
}

/// One step of a distributed query, as `_stage` gives it.
enum Step {
    /// `{"op": "map", "parts": R, "segments": [i, ...]}` (indexes into the view's segments).
    Map {
        parts: usize,
        entries: Vec<SegmentEntry>,
    },
    /// `{"op": "reduce", "inputs": [blob, ...]}` (one partition from every map).
    Reduce { inputs: Vec<PyBackedBytes> },
    /// `{"op": "finish", "col_counts": [blob, ...], "inputs": [blob, ...], "rows": n}`.
    Finish {
        cols: Vec<PyBackedBytes>,
        inputs: Vec<PyBackedBytes>,
        rows: u64,
    },
}

fn step(snap: &Snapshot, stage: &Bound<'_, PyDict>) -> PyResult<Step> {
    let op: String = item(stage, "op")?;
    match op.as_str() {
        "map" => {
            let wanted: Vec<usize> = item(stage, "segments")?;
            let n = snap.view.segments.len();
            let entries = wanted
                .iter()
                .map(|&i| {
                    snap.view.segments.get(i).cloned().ok_or_else(|| {
                        to_py(logpivot::Error::invalid(format!(
                            "_stage: segment {i} of a view of {n}"
                        )))
                    })
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(Step::Map {
                parts: item(stage, "parts")?,
                entries,
            })
        }
        "reduce" => Ok(Step::Reduce {
            inputs: item(stage, "inputs")?,
        }),
        "finish" => Ok(Step::Finish {
            cols: item(stage, "col_counts")?,
            inputs: item(stage, "inputs")?,
            rows: item(stage, "rows")?,
        }),
        other => Err(to_py(logpivot::Error::invalid(format!(
            "_stage: unknown op `{other}` (map, reduce, finish)"
        )))),
    }
}

fn slices(b: &[PyBackedBytes]) -> Vec<&[u8]> {
    b.iter().map(|b| &b[..]).collect()
}

/// A map's output as Python: `(column counts, [R partition blobs], stats dict)`.
fn map_out(py: Python<'_>, out: partial::MapOutput) -> PyResult<Bound<'_, PyAny>> {
    let stats = serde_json::to_string(&out.stats)
        .map_err(|e| to_py(logpivot::Error::invalid(format!("stats: {e}"))))?;
    (
        PyBytes::new(py, &out.col_counts),
        bytes_list(py, &out.parts),
        json_to_py(py, &stats)?,
    )
        .into_pyobject(py)
        .map(|t| t.into_any())
}

/// A reduce's output as Python: `(blob, rows, groups)`.
fn reduce_out(py: Python<'_>, r: partial::Reduced) -> PyResult<Bound<'_, PyAny>> {
    (PyBytes::new(py, &r.groups), r.rows, r.groups_merged)
        .into_pyobject(py)
        .map(|t| t.into_any())
}

/// Run one step of a distributed pivot over `snap` (a pinned view): map -> `(column counts,
/// [R partition blobs], stats dict)`; reduce -> `(blob, rows, groups)`; finish -> the
/// `pyarrow.Table` that `Store.pivot` returns.
pub fn stage<'py>(
    py: Python<'py>,
    dir: &DataDir,
    snap: Arc<Snapshot>,
    req: PivotRequest,
    stage: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let cancel = req.cancel.clone();
    match step(&snap, stage)? {
        Step::Map { parts, entries } => {
            let dir = dir.clone();
            let out = job::run(
                py,
                &cancel,
                move || {
                    let plan = logpivot::query::plan(&req, &snap.schema)?;
                    let segs = open_entries(&dir, &entries)?;
                    partial::map(&plan, &snap.schema, &segs, &req, parts)
                },
                |_| Ok(()),
            )?;
            map_out(py, out)
        }
        Step::Reduce { inputs } => {
            let r = job::run(
                py,
                &cancel,
                move || {
                    let plan = logpivot::query::plan(&req, &snap.schema)?;
                    partial::reduce(&plan, &req, &slices(&inputs))
                },
                |_| Ok(()),
            )?;
            reduce_out(py, r)
        }
        Step::Finish { cols, inputs, rows } => {
            let batch = job::run(
                py,
                &cancel,
                move || {
                    let plan = logpivot::query::plan(&req, &snap.schema)?;
                    let t = partial::finish(
                        &plan,
                        &req,
                        &slices(&cols),
                        &slices(&inputs),
                        rows,
                        Default::default(),
                    )?;
                    logpivot::query::output::to_typed_record_batch(&t)
                },
                |_| Ok(()),
            )?;
            to_table(py, batch)
        }
    }
}

/// A map or reduce step of a counting pass (a contrast's or a score's), over the segments of
/// a pinned view: `plan` plans the pass on every segment of the view (its schema and default
/// fields) with the given [`CountPass`], which runs the step.
fn count_step<'py, P>(
    py: Python<'py>,
    dir: DataDir,
    view: Manifest,
    step: Step,
    query: PivotRequest,
    plan: P,
) -> PyResult<Bound<'py, PyAny>>
where
    P: FnOnce(Vec<SegmentReader>, Option<String>, &mut CountPass<'_>) -> logpivot::Result<()>
        + Send,
{
    let cancel = query.cancel.clone();
    let out = job::run(
        py,
        &cancel,
        move || {
            let segs = open_entries(&dir, &view.segments)?;
            let mut out = None;
            let mut f = |p: &Plan, schema: &Schema| -> logpivot::Result<()> {
                out = Some(match &step {
                    Step::Map { parts, entries } => {
                        let mine = open_entries(&dir, entries)?;
                        Ok(partial::map(p, schema, &mine, &query, *parts)?)
                    }
                    Step::Reduce { inputs } => Err(partial::reduce(p, &query, &slices(inputs))?),
                    Step::Finish { .. } => return Err(not_counted()),
                });
                Ok(())
            };
            plan(
                segs,
                view.time_field.clone(),
                &mut CountPass::PlanOnly(&mut f),
            )?;
            out.ok_or_else(not_counted)
        },
        |_| Ok(()),
    )?;
    match out {
        Ok(m) => map_out(py, m),
        Err(r) => reduce_out(py, r),
    }
}

fn not_counted() -> logpivot::Error {
    logpivot::Error::invalid("the counting pass did not run")
}

/// The counted groups of reduced blobs, for [`CountPass::Groups`].
fn merged(inputs: &[PyBackedBytes], plan: &Plan) -> logpivot::Result<CountedGroups> {
    let mut all = Vec::new();
    for b in inputs {
        all.extend(partial::groups(plan, b)?);
    }
    Ok((all, QueryStats::default()))
}

/// One step of a distributed contrast: its counting pass is a pivot with grouping sets, run
/// by the same map and reduce steps over a pinned view; the statistics (Benjamini-Hochberg
/// over the complete list of p-values included) are computed once, at the finish, from the
/// merged counts. Map -> `(column counts, [R blobs], stats)`; reduce -> `(blob, rows,
/// groups)`; finish -> the `pyarrow.Table` that `Store.contrast` returns.
pub fn contrast_stage<'py>(
    py: Python<'py>,
    dir: &DataDir,
    snap: Arc<Snapshot>,
    req: ContrastRequest,
    stage: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let dir = dir.clone();
    let step = step(&snap, stage)?;
    let view = snap.view.clone();
    drop(snap);
    let Step::Finish { inputs, .. } = step else {
        let query = req.query.clone();
        return count_step(py, dir, view, step, query, move |segs, tf, pass| {
            contrast_on(segs, tf, &req, pass).map(drop)
        });
    };
    let cancel = req.query.cancel.clone();
    let batch = job::run(
        py,
        &cancel,
        move || {
            let segs = open_entries(&dir, &view.segments)?;
            let mut f = |plan: &Plan| merged(&inputs, plan);
            contrast_on(segs, view.time_field, &req, &mut CountPass::Groups(&mut f))?
                .ok_or_else(not_counted)?
                .to_frame(false)
                .to_record_batch()
        },
        |_| Ok(()),
    )?;
    to_table(py, batch)
}

/// One step of a distributed score. Its counting pass runs as the map and reduce steps of a
/// contrast; then:
/// - `{"op": "finish", "inputs": [blob, ...]}` learns the token table from the merged counts
///   -> `bytes` (shared with every scoring task, once);
/// - `{"op": "score", "table": bytes, "segments": [i, ...]}` scores those segments' events ->
///   `[(score, s, h, segment, row), ...]` (its best, in order), events scored, events at or
///   above the threshold;
/// - `{"op": "list", "table": bytes, "parts": [score's results, ...]}` merges the parts' best
///   and reads the listed events in full -> the `pyarrow.Table` that `Store.score` returns.
pub fn score_stage<'py>(
    py: Python<'py>,
    dir: &DataDir,
    snap: Arc<Snapshot>,
    req: ScoreRequest,
    stage: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let cancel = req.query.cancel.clone();
    let dir = dir.clone();
    let op: String = item(stage, "op")?;
    let view = snap.view.clone();
    let planned = |dir: &DataDir, view: &Manifest| -> logpivot::Result<_> {
        Ok((open_entries(dir, &view.segments)?, view.time_field.clone()))
    };
    match op.as_str() {
        "map" | "reduce" => {
            let step = step(&snap, stage)?;
            drop(snap);
            let query = req.query.clone();
            count_step(py, dir, view, step, query, move |segs, tf, pass| {
                Scorer::new_on(segs, tf, &req, pass).map(drop)
            })
        }
        "finish" => {
            drop(snap);
            let inputs: Vec<PyBackedBytes> = item(stage, "inputs")?;
            let table = job::run(
                py,
                &cancel,
                move || {
                    let (segs, tf) = planned(&dir, &view)?;
                    let mut f = |plan: &Plan| merged(&inputs, plan);
                    Ok(
                        Scorer::new_on(segs, tf, &req, &mut CountPass::Groups(&mut f))?
                            .ok_or_else(not_counted)?
                            .table(),
                    )
                },
                |_| Ok(()),
            )?;
            Ok(PyBytes::new(py, &table).into_any())
        }
        "score" => {
            let table: PyBackedBytes = item(stage, "table")?;
            let wanted: Vec<usize> = item(stage, "segments")?;
            drop(snap);
            let top = job::run(
                py,
                &cancel,
                move || {
                    let (segs, tf) = planned(&dir, &view)?;
                    Scorer::with_table(segs, tf, &req, &table)?.top(&req, Some(&wanted))
                },
                |_| Ok(()),
            )?;
            let best: Vec<(f64, f64, f64, usize, usize)> = top
                .best
                .iter()
                .map(|(c, seg, row)| (c.score, c.s, c.h, *seg, *row))
                .collect();
            (best, top.scored, top.above)
                .into_pyobject(py)
                .map(|t| t.into_any())
        }
        "list" => {
            let table: PyBackedBytes = item(stage, "table")?;
            type Part = (Vec<(f64, f64, f64, usize, usize)>, u64, u64);
            let parts: Vec<Part> = item(stage, "parts")?;
            drop(snap);
            let batch = job::run(
                py,
                &cancel,
                move || {
                    let (segs, tf) = planned(&dir, &view)?;
                    let scorer = Scorer::with_table(segs, tf, &req, &table)?;
                    let tops = parts
                        .into_iter()
                        .map(|(best, scored, above)| Top {
                            best: best
                                .into_iter()
                                .map(|(score, s, h, seg, row)| (Combined { score, s, h }, seg, row))
                                .collect(),
                            scored,
                            above,
                            stats: QueryStats::default(),
                        })
                        .collect();
                    let top = Top::merge(tops, limit_of(&req));
                    scorer.result(&req, top)?.to_frame().to_record_batch()
                },
                |_| Ok(()),
            )?;
            to_table(py, batch)
        }
        other => Err(to_py(logpivot::Error::invalid(format!(
            "_stage: unknown op `{other}` (map, reduce, finish, score, list)"
        )))),
    }
}

/// The shard count, the files of each shard, and the files that are not logs (with why).
type ShardFiles = (usize, Vec<Vec<String>>, Vec<(String, String)>);

/// Make `data` a sharded root (or check its shard count) and assign the files of `paths` to
/// its shards: `(shards, [[file, ...] per shard], [(file, why it is not a log), ...])`.
#[pyfunction]
#[pyo3(signature = (paths, data, shards=None))]
pub fn _plan_shards(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    data: PathBuf,
    shards: Option<usize>,
) -> PyResult<ShardFiles> {
    let plan = job::run(
        py,
        &logpivot::Cancel::new(),
        move || logpivot::ingest::shard::plan_shards(&data, &paths, shards),
        |_| Ok(()),
    )?;
    Ok((
        plan.shards,
        plan.files
            .iter()
            .map(|fs| fs.iter().map(|f| f.display().to_string()).collect())
            .collect(),
        plan.not_logs,
    ))
}

/// A reader's lease on the generation of a store it read (`logpivot.ray` holds one for the
/// length of a query or a dataset): compaction and retention keep the files of that
/// generation until it is released (the library's `store::lease`).
#[pyclass(module = "logpivot")]
pub struct Lease {
    inner: Option<logpivot::store::lease::Lease>,
}

#[pymethods]
impl Lease {
    /// Let compaction delete what this lease kept (also done when the object is collected).
    fn release(&mut self) {
        self.inner = None;
    }

    /// The generation held in each store (each shard of a sharded root).
    #[getter]
    fn generations(&self) -> Vec<u64> {
        self.inner
            .as_ref()
            .map_or_else(Vec::new, |l| l.generations().to_vec())
    }
}

/// Take a lease on the current generation of `data` (before reading the view it protects).
#[pyfunction]
pub fn _lease(py: Python<'_>, data: PathBuf) -> PyResult<Lease> {
    let dir = DataDir::new(data);
    let lease = job::run(
        py,
        &logpivot::Cancel::new(),
        move || logpivot::store::lease::Lease::take(&dir),
        |_| Ok(()),
    )?;
    Ok(Lease { inner: Some(lease) })
}
