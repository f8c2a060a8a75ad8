//! The steps of a distributed query, for `logpivot.ray`: map, reduce and finish of a pivot
//! (`Store.pivot(..., _stage={...})`, over the library's `query::partial`), and the shard plan
//! of a distributed ingest (the library's `ingest::shard`). Ray moves the bytes; the library
//! does the work.

use std::path::PathBuf;
use std::sync::Arc;

use logpivot::query::{open_entries, partial, PivotRequest};
use logpivot::store::DataDir;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyAny, PyBytes, PyDict};

use crate::errors::to_py;
use crate::store::{to_table, Snapshot};
use crate::{job, json_to_py};

fn item<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
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

/// Run one step of a distributed pivot over `snap` (a pinned view):
/// - `{"op": "map", "parts": R, "segments": [i, ...]}` (indexes into the view's segments) ->
///   `(column counts, [R partition blobs], stats dict)`;
/// - `{"op": "reduce", "inputs": [blob, ...]}` (one partition from every map) ->
///   `(blob, rows, groups)`;
/// - `{"op": "finish", "col_counts": [blob, ...], "inputs": [blob, ...], "rows": n}` -> the
///   `pyarrow.Table` that `Store.pivot` returns.
pub fn stage<'py>(
    py: Python<'py>,
    dir: &DataDir,
    snap: Arc<Snapshot>,
    req: PivotRequest,
    stage: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let op: String = item(stage, "op")?;
    let cancel = req.cancel.clone();
    match op.as_str() {
        "map" => {
            let parts: usize = item(stage, "parts")?;
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
        "reduce" => {
            let inputs: Vec<PyBackedBytes> = item(stage, "inputs")?;
            let r = job::run(
                py,
                &cancel,
                move || {
                    let plan = logpivot::query::plan(&req, &snap.schema)?;
                    let blobs: Vec<&[u8]> = inputs.iter().map(|b| &b[..]).collect();
                    partial::reduce(&plan, &req, &blobs)
                },
                |_| Ok(()),
            )?;
            (PyBytes::new(py, &r.groups), r.rows, r.groups_merged)
                .into_pyobject(py)
                .map(|t| t.into_any())
        }
        "finish" => {
            let cols: Vec<PyBackedBytes> = item(stage, "col_counts")?;
            let inputs: Vec<PyBackedBytes> = item(stage, "inputs")?;
            let rows: u64 = item(stage, "rows")?;
            let batch = job::run(
                py,
                &cancel,
                move || {
                    let plan = logpivot::query::plan(&req, &snap.schema)?;
                    let c: Vec<&[u8]> = cols.iter().map(|b| &b[..]).collect();
                    let i: Vec<&[u8]> = inputs.iter().map(|b| &b[..]).collect();
                    let t = partial::finish(&plan, &req, &c, &i, rows, Default::default())?;
                    logpivot::query::output::to_typed_record_batch(&t)
                },
                |_| Ok(()),
            )?;
            to_table(py, batch)
        }
        other => Err(to_py(logpivot::Error::invalid(format!(
            "_stage: unknown op `{other}` (map, reduce, finish)"
        )))),
    }
}

/// Make `data` a sharded root (or check its shard count) and assign the files of `paths` to
/// its shards: `(shards, [[file, ...] per shard], [(file, why it is not a log), ...])`.
#[pyfunction]
#[pyo3(signature = (paths, data, shards=None))]
pub fn _plan_shards(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    data: PathBuf,
    shards: Option<usize>,
) -> PyResult<(usize, Vec<Vec<String>>, Vec<(String, String)>)> {
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
