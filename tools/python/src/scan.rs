//! `Store.scan`: the library's scan iterator behind a `pyarrow.RecordBatchReader`, through the
//! Arrow C stream interface. The reader owns an `Arc` of the store's snapshot, so batches are
//! decoded lazily, one per `read_next_batch` (pyarrow calls it without the GIL), from segments
//! that stay open as long as the reader lives, whatever `refresh()` does meanwhile.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::pyarrow::IntoPyArrow;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use logpivot::query::scan::{scan, ScanIter, ScanRequest};
use logpivot::segment::SegmentReader;
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::errors::to_py;
use crate::store::Snapshot;

/// The segments of a snapshot, owned (an `Arc`), as the scan iterator's segment source.
struct Segments(Arc<Snapshot>);

impl AsRef<[SegmentReader]> for Segments {
    fn as_ref(&self) -> &[SegmentReader] {
        &self.0.segs
    }
}

/// The scan as an Arrow `RecordBatchReader` (library errors become external Arrow errors:
/// pyarrow raises them as `ArrowException` with the library's message).
struct Reader(ScanIter<Segments>);

impl Iterator for Reader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next()
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for Reader {
    fn schema(&self) -> SchemaRef {
        self.0.arrow_schema()
    }
}

/// Plan a scan of `snap` (errors here are the library's exceptions) and hand it to Python as
/// a `pyarrow.RecordBatchReader`.
pub fn reader<'py>(
    py: Python<'py>,
    snap: Arc<Snapshot>,
    req: &ScanRequest,
) -> PyResult<Bound<'py, PyAny>> {
    let it = scan(Segments(snap.clone()), &snap.schema, req).map_err(to_py)?;
    let boxed: Box<dyn RecordBatchReader + Send> = Box::new(Reader(it));
    boxed.into_pyarrow(py)
}
