//! Scan: the selected rows of the requested columns as Arrow record batches, streamed one
//! segment (and one `batch_size` slice of its selected rows) at a time.
//!
//! Rows are selected exactly as a pivot selects them (`exec::select_segment`: segment pruning
//! by time range, `--from/--to` from the minute index, equality on an indexed column from its
//! bitmaps, other predicates per dictionary entry). Only the requested columns are decoded,
//! and only the blocks that hold a selected row of the current slice; the last decoded block
//! of each column is kept for the next slice, and a segment's mapped pages are released when
//! its last slice is out. Memory is bounded by one segment's selection and, per column, one
//! block and one dictionary.
//!
//! Every batch has the same Arrow schema, fixed up front from the columns' types in all
//! segments, widened across segments as the segment builder widens within one (docs/FORMAT.md
//! 7.3): int and float give float64 when every int is exact in an `f64` (|v| <= 2^53, from the
//! blocks' min/max), any other mix gives strings (numbers, booleans and times as their text).
//! A column a segment lacks is all-null in that segment's batches. String columns are
//! `Dictionary(Int32, Utf8)`, each batch with its own dictionary of the values it holds (in
//! the segment dictionary's sorted order); `_time` is `Timestamp(ns, "UTC")`.
//!
//! Must not: evaluate filters itself (that is `filter`, through `exec`), or write anything.

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BooleanBuilder, DictionaryArray, Float64Builder, Int32Array,
    Int64Builder, StringArray, StringDictionaryBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema as ArrowSchema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};
use crate::json::time;
use crate::segment::{Block, ColumnType, Dictionary, SegmentReader, Values, BLOCK_ROWS};

use crate::query::exec::{select_segment, Plan};
use crate::query::plan::Schema;
use crate::query::{parse_filter, plan as qplan, tz, QueryStats};

/// Integers up to this magnitude are exact in an `f64`.
const MAX_EXACT_INT: u64 = 1 << 53;

/// What to scan: the Rust API under `Store.scan` of the Python module.
#[derive(Clone, Debug)]
pub struct ScanRequest {
    /// Columns to read, as a user types them (resolved like pivot fields); None: every column,
    /// in name order.
    pub columns: Option<Vec<String>>,
    /// `--where` expressions, and-ed.
    pub filters: Vec<String>,
    /// `--from` / `--to`: a half-open time range on `_time`.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Most rows in a batch (None: 65,536). A batch never spans two segments.
    pub batch_size: Option<usize>,
    /// Use bitmap indexes (off only to test that results do not depend on them).
    pub use_indexes: bool,
}

impl Default for ScanRequest {
    fn default() -> Self {
        ScanRequest {
            columns: None,
            filters: Vec::new(),
            from: None,
            to: None,
            batch_size: None,
            use_indexes: true,
        }
    }
}

/// The Arrow type a column gets in every batch, and how segment values become it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutKind {
    Bool,
    Int,
    /// float64 (also ints, when every int of the column is exact in an `f64`).
    Float,
    /// `Timestamp(ns, "UTC")`.
    Time,
    /// `Dictionary(Int32, Utf8)`: strings, and other types as their text.
    Text,
}

impl OutKind {
    fn data_type(self) -> DataType {
        match self {
            OutKind::Bool => DataType::Boolean,
            OutKind::Int => DataType::Int64,
            OutKind::Float => DataType::Float64,
            OutKind::Time => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            OutKind::Text => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
        }
    }
}

/// One output column: its stored name and its output type.
#[derive(Clone, Debug)]
struct OutColumn {
    stored: String,
    kind: OutKind,
}

/// The one output type of a column across all segments.
fn out_kind(segs: &[SegmentReader], name: &str, types: &[ColumnType]) -> OutKind {
    match types {
        [ColumnType::Bool] => OutKind::Bool,
        [ColumnType::Int] => OutKind::Int,
        [ColumnType::Float] => OutKind::Float,
        [ColumnType::Time] => OutKind::Time,
        [ColumnType::Int, ColumnType::Float] | [ColumnType::Float, ColumnType::Int]
            if ints_exact(segs, name) =>
        {
            OutKind::Float
        }
        _ => OutKind::Text,
    }
}

/// Is every int value of column `name` exactly representable as an `f64` (from the blocks'
/// min/max; blocks without a value have meaningless extremes)?
fn ints_exact(segs: &[SegmentReader], name: &str) -> bool {
    segs.iter().all(|s| match s.meta().column(name) {
        Some((_, cm)) if cm.ty == ColumnType::Int => cm.blocks.iter().all(|b| {
            b.null_count >= b.rows
                || (b.min.unsigned_abs() <= MAX_EXACT_INT && b.max.unsigned_abs() <= MAX_EXACT_INT)
        }),
        _ => true,
    })
}

/// Start a scan over open segments: the plan (columns, Arrow schema, filter) is resolved now,
/// so an unknown column or a bad filter is an error here; the batches come from the iterator.
/// `segs` is anything that holds the segments (a slice, or an owner such as an `Arc` of a
/// snapshot, for an iterator that outlives the caller's borrow).
pub fn scan<S: AsRef<[SegmentReader]>>(
    segs: S,
    schema: &Schema,
    req: &ScanRequest,
) -> Result<ScanIter<S>> {
    let batch_size = req.batch_size.unwrap_or(BLOCK_ROWS);
    if batch_size == 0 {
        return Err(Error::invalid(
            "invalid batch_size 0: at least one row a batch",
        ));
    }
    let names: Vec<(String, String)> = match &req.columns {
        None => schema
            .columns
            .keys()
            .map(|k| (k.clone(), k.clone()))
            .collect(),
        Some(cols) => {
            let mut out: Vec<(String, String)> = Vec::with_capacity(cols.len());
            for c in cols {
                let stored = schema.resolve(c)?;
                if out.iter().any(|(_, s)| *s == stored) {
                    return Err(Error::invalid(format!(
                        "column `{c}` is listed twice in the scan's columns"
                    )));
                }
                out.push((c.clone(), stored));
            }
            out
        }
    };
    let columns: Vec<OutColumn> = names
        .iter()
        .map(|(_, stored)| OutColumn {
            kind: out_kind(segs.as_ref(), stored, schema.types(stored)),
            stored: stored.clone(),
        })
        .collect();
    let fields: Vec<Field> = names
        .iter()
        .zip(&columns)
        .map(|((label, _), c)| Field::new(label.as_str(), c.kind.data_type(), true))
        .collect();
    let filters = req
        .filters
        .iter()
        .map(|f| parse_filter(f, schema, "--where"))
        .collect::<Result<Vec<_>>>()?;
    let plan = Plan {
        keys: Vec::new(),
        n_row_keys: 0,
        values: Vec::new(),
        filter: crate::query::expr::and_all(filters),
        from: req
            .from
            .as_deref()
            .map(|s| qplan::parse_time_arg(s, "--from"))
            .transpose()?,
        to: req
            .to
            .as_deref()
            .map(|s| qplan::parse_time_arg(s, "--to"))
            .transpose()?,
        joins: Vec::new(),
        tz: tz::Tz::utc(),
        use_indexes: req.use_indexes,
        grouping_sets: Vec::new(),
    };
    Ok(ScanIter {
        segs,
        schema: schema.clone(),
        plan,
        columns,
        arrow: Arc::new(ArrowSchema::new(fields)),
        batch_size,
        next_seg: 0,
        cursor: None,
        stats: QueryStats::default(),
        failed: false,
    })
}

/// The batches of a scan, in segment order (and row order within a segment).
pub struct ScanIter<S> {
    segs: S,
    schema: Schema,
    plan: Plan,
    columns: Vec<OutColumn>,
    arrow: SchemaRef,
    batch_size: usize,
    next_seg: usize,
    cursor: Option<SegmentCursor>,
    stats: QueryStats,
    /// An error was returned: the iterator ends.
    failed: bool,
}

/// Where the scan is in the current segment.
struct SegmentCursor {
    seg: usize,
    /// The selected rows, ascending.
    rows: Vec<u32>,
    /// The first row of `rows` not yet in a batch.
    at: usize,
    cols: Vec<ColumnCursor>,
}

/// One output column within the current segment.
struct ColumnCursor {
    /// The column's index in the segment and its type there (None: the segment lacks it).
    col: Option<(usize, ColumnType)>,
    /// The first row of each block, and the segment's rows last.
    starts: Vec<usize>,
    /// The string dictionary, read on first use.
    dict: Option<std::sync::Arc<Dictionary>>,
    /// The last decoded block, by index.
    block: Option<(usize, Block)>,
}

impl<S: AsRef<[SegmentReader]>> ScanIter<S> {
    /// The schema of every batch.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.arrow.clone()
    }

    /// What the scan did so far: segments pruned, rows selected, index lookups, time-index
    /// use (as `--explain` counts them for a pivot).
    pub fn stats(&self) -> &QueryStats {
        &self.stats
    }

    /// The next batch, or None at the end.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            if let Some(cur) = &mut self.cursor {
                if cur.at < cur.rows.len() {
                    let segs = self.segs.as_ref();
                    let seg = &segs[cur.seg];
                    let end = (cur.at + self.batch_size).min(cur.rows.len());
                    let rows = &cur.rows[cur.at..end];
                    let arrays = self
                        .columns
                        .iter()
                        .zip(&mut cur.cols)
                        .map(|(c, cc)| cc.array(seg, c, rows))
                        .collect::<Result<Vec<ArrayRef>>>()?;
                    cur.at = end;
                    let opts = RecordBatchOptions::new().with_row_count(Some(rows.len()));
                    let batch =
                        RecordBatch::try_new_with_options(self.arrow.clone(), arrays, &opts)
                            .map_err(|e| Error::invalid(format!("arrow: {e}")))?;
                    return Ok(Some(batch));
                }
                // The segment is done: drop its blocks and dictionaries, release its pages.
                let seg = cur.seg;
                self.cursor = None;
                self.segs.as_ref()[seg].release_read_pages();
            }
            let segs = self.segs.as_ref();
            let Some(seg) = segs.get(self.next_seg) else {
                return Ok(None);
            };
            let i = self.next_seg;
            self.next_seg += 1;
            self.stats.segments += 1;
            let (report, sel) = select_segment(&self.plan, &self.schema, seg)?;
            self.stats.add_segment(&report);
            let Some(sel) = sel else {
                continue;
            };
            let cols = self
                .columns
                .iter()
                .map(|c| ColumnCursor::new(seg, &c.stored))
                .collect();
            self.cursor = Some(SegmentCursor {
                seg: i,
                rows: sel.rows_u32(),
                at: 0,
                cols,
            });
        }
    }
}

impl<S: AsRef<[SegmentReader]>> Iterator for ScanIter<S> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.failed {
            return None;
        }
        match self.next_batch() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl ColumnCursor {
    fn new(seg: &SegmentReader, name: &str) -> ColumnCursor {
        let Some((ci, cm)) = seg.meta().column(name) else {
            return ColumnCursor {
                col: None,
                starts: Vec::new(),
                dict: None,
                block: None,
            };
        };
        let mut starts = Vec::with_capacity(cm.blocks.len() + 1);
        let mut at = 0usize;
        for b in &cm.blocks {
            starts.push(at);
            at += b.rows as usize;
        }
        starts.push(at);
        ColumnCursor {
            col: Some((ci, cm.ty)),
            starts,
            dict: None,
            block: None,
        }
    }

    /// Call `f(block, row within block)` for each of `rows` (ascending), decoding each block
    /// that holds one of them once (the last one is kept for the next slice).
    fn for_rows(
        &mut self,
        seg: &SegmentReader,
        ci: usize,
        rows: &[u32],
        mut f: impl FnMut(&Block, usize) -> Result<()>,
    ) -> Result<()> {
        let nblocks = self.starts.len().saturating_sub(1);
        for &r in rows {
            let r = r as usize;
            let bi = match &self.block {
                Some((bi, _)) if self.starts[*bi] <= r && r < self.starts[*bi + 1] => *bi,
                _ => self.starts.partition_point(|&s| s <= r).saturating_sub(1),
            };
            if bi >= nblocks {
                return Err(Error::corrupt(
                    seg.path(),
                    0,
                    format!("row {r} is past the blocks of column {ci}"),
                ));
            }
            if self.block.as_ref().is_none_or(|(b, _)| *b != bi) {
                let b = seg.block(ci, bi)?;
                let want = self.starts[bi + 1] - self.starts[bi];
                if b.values.len() != want {
                    return Err(Error::corrupt(
                        seg.path(),
                        0,
                        format!(
                            "block {bi} of column {ci} holds {} values, its metadata says {want}",
                            b.values.len()
                        ),
                    ));
                }
                self.block = Some((bi, b));
            }
            if let Some((_, b)) = &self.block {
                f(b, r - self.starts[bi])?;
            }
        }
        Ok(())
    }

    /// The column's values at `rows` as an array of the output type.
    fn array(&mut self, seg: &SegmentReader, c: &OutColumn, rows: &[u32]) -> Result<ArrayRef> {
        let Some((ci, ty)) = self.col else {
            return Ok(new_null_array(&c.kind.data_type(), rows.len()));
        };
        let n = rows.len();
        let mismatch = || {
            Error::corrupt(
                seg.path(),
                0,
                format!(
                    "column `{}`: a block's values are not of its type",
                    c.stored
                ),
            )
        };
        Ok(match (c.kind, ty) {
            (OutKind::Text, ColumnType::Str) => return self.dictionary_array(seg, ci, c, rows),
            (OutKind::Text, _) => {
                let mut b = StringDictionaryBuilder::<Int32Type>::new();
                let mut buf = String::new();
                self.for_rows(seg, ci, rows, |blk, i| {
                    if !blk.is_valid(i) {
                        b.append_null();
                        return Ok(());
                    }
                    buf.clear();
                    match (&blk.values, ty) {
                        (Values::Int(v), ColumnType::Time) => {
                            buf.push_str(&time::format_rfc3339(v[i]))
                        }
                        (Values::Int(v), _) => buf.push_str(&v[i].to_string()),
                        (Values::Float(v), _) => buf.push_str(&format!("{:?}", v[i])),
                        (Values::Bool(v), _) => buf.push_str(if v[i] { "true" } else { "false" }),
                        (Values::Codes(_), _) => return Err(mismatch()),
                    }
                    b.append_value(&buf);
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
            (OutKind::Bool, _) => {
                let mut b = BooleanBuilder::with_capacity(n);
                self.for_rows(seg, ci, rows, |blk, i| {
                    match &blk.values {
                        Values::Bool(v) if blk.is_valid(i) => b.append_value(v[i]),
                        Values::Bool(_) => b.append_null(),
                        _ => return Err(mismatch()),
                    }
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
            (OutKind::Int, _) => {
                let mut b = Int64Builder::with_capacity(n);
                self.for_rows(seg, ci, rows, |blk, i| {
                    match &blk.values {
                        Values::Int(v) if blk.is_valid(i) => b.append_value(v[i]),
                        Values::Int(_) => b.append_null(),
                        _ => return Err(mismatch()),
                    }
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
            (OutKind::Float, _) => {
                let mut b = Float64Builder::with_capacity(n);
                self.for_rows(seg, ci, rows, |blk, i| {
                    match &blk.values {
                        Values::Float(v) if blk.is_valid(i) => b.append_value(v[i]),
                        Values::Int(v) if blk.is_valid(i) => b.append_value(v[i] as f64),
                        Values::Float(_) | Values::Int(_) => b.append_null(),
                        _ => return Err(mismatch()),
                    }
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
            (OutKind::Time, _) => {
                let mut b = TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
                self.for_rows(seg, ci, rows, |blk, i| {
                    match &blk.values {
                        Values::Int(v) if blk.is_valid(i) => b.append_value(v[i]),
                        Values::Int(_) => b.append_null(),
                        _ => return Err(mismatch()),
                    }
                    Ok(())
                })?;
                Arc::new(b.finish())
            }
        })
    }

    /// A dictionary-coded string column's values at `rows`: the batch's own dictionary holds
    /// the entries its rows use, in the segment dictionary's (sorted) order.
    fn dictionary_array(
        &mut self,
        seg: &SegmentReader,
        ci: usize,
        c: &OutColumn,
        rows: &[u32],
    ) -> Result<ArrayRef> {
        let mut codes: Vec<Option<u32>> = Vec::with_capacity(rows.len());
        self.for_rows(seg, ci, rows, |blk, i| match &blk.values {
            Values::Codes(v) => {
                codes.push(blk.is_valid(i).then(|| v[i]));
                Ok(())
            }
            _ => Err(Error::corrupt(
                seg.path(),
                0,
                format!("column `{}`: a string block without codes", c.stored),
            )),
        })?;
        let mut used: Vec<u32> = codes.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        if self.dict.is_none() {
            self.dict = Some(seg.dictionary(ci)?);
        }
        let dict = self.dict.as_ref().map_or(0, |d| d.len());
        if used.last().is_some_and(|&m| m as usize >= dict) {
            return Err(Error::corrupt(
                seg.path(),
                0,
                format!("column `{}`: a dictionary code out of range", c.stored),
            ));
        }
        let values: StringArray = match &self.dict {
            Some(d) => used.iter().map(|&k| Some(d.get_str(k))).collect(),
            None => StringArray::new_null(0),
        };
        let keys: Int32Array = codes
            .iter()
            .map(|k| k.and_then(|k| used.binary_search(&k).ok().map(|p| p as i32)))
            .collect();
        let arr = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values))
            .map_err(|e| Error::invalid(format!("arrow: {e}")))?;
        Ok(Arc::new(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, IngestOptions, IngestProgress};
    use crate::store::DataDir;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};

    /// A data directory of `files` (each a list of lines), ingested one after the other with
    /// segments of about `segment_rows` rows (cut at 4 KiB chunk boundaries).
    fn store(files: &[&[String]], segment_rows: usize) -> (tempfile::TempDir, DataDir) {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = DataDir::new(tmp.path().join("data"));
        for (i, lines) in files.iter().enumerate() {
            let input = tmp.path().join(format!("ev{i}.ndjson"));
            std::fs::write(&input, lines.join("\n") + "\n").expect("write");
            let opts = IngestOptions {
                inputs: vec![input],
                threads: 1,
                segment_rows,
                chunk_bytes: 4096,
                ..IngestOptions::default()
            };
            ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
        }
        (tmp, dir)
    }

    fn open(dir: &DataDir) -> (Vec<SegmentReader>, Schema) {
        let (segs, tf) = crate::query::open_segments(dir).expect("open");
        let schema = Schema::from_segments(&segs, tf.as_deref());
        (segs, schema)
    }

    fn events(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let rule = [942100, 100015, 981176][i % 3];
                format!(
                    r#"{{"id":{i},"Datetime":"2024-06-05T{:02}:{:02}:00Z","RuleID":"{rule}","Action":"{}","n":{i},"ok":{}}}"#,
                    i / 60 % 24,
                    i % 60,
                    if i % 4 == 0 { "block" } else { "log" },
                    i % 2 == 0
                )
            })
            .collect()
    }

    fn all(it: impl Iterator<Item = Result<RecordBatch>>) -> Vec<RecordBatch> {
        it.collect::<Result<Vec<_>>>().expect("scan")
    }

    fn ids(batches: &[RecordBatch], col: usize) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(col)
                    .as_primitive::<Int64Type>()
                    .iter()
                    .flatten()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn filters_and_time_ranges_select_the_pivots_rows() {
        let (_t, dir) = store(&[&events(1000)], 300);
        let (segs, schema) = open(&dir);
        assert!(segs.len() >= 3);
        let req = ScanRequest {
            columns: Some(vec!["id".into(), "RuleID".into(), "_time".into()]),
            filters: vec!["RuleID = 942100 and Action = block".into()],
            from: Some("2024-06-05T02:00:00Z".into()),
            to: Some("2024-06-05T10:00:00Z".into()),
            batch_size: Some(7),
            ..ScanRequest::default()
        };
        let mut it = scan(&segs[..], &schema, &req).expect("plan");
        let batches = all(&mut it);
        assert!(it.stats().index_lookups > 0, "{:?}", it.stats());
        assert!(it.stats().time_index_segments > 0);
        let want: Vec<i64> = (0..1000i64)
            .filter(|i| i % 3 == 0 && i % 4 == 0 && (120..600).contains(&(i % 1440)))
            .collect();
        assert_eq!(ids(&batches, 0), want);
        for b in &batches {
            assert!(b.num_rows() <= 7);
            assert_eq!(b.schema(), it.arrow_schema());
            let rules = b.column(1).as_dictionary::<Int32Type>();
            let vals = rules.values().as_string::<i32>();
            assert!(rules
                .keys()
                .iter()
                .all(|k| k.map(|k| vals.value(k as usize)) == Some("942100")));
            let t = b.column(2).as_primitive::<TimestampNanosecondType>();
            assert!(t.iter().all(|t| t.is_some()));
        }
        // Without indexes: the same rows.
        let plain = ScanRequest {
            use_indexes: false,
            ..req
        };
        let again = all(scan(&segs[..], &schema, &plain).expect("plan"));
        assert_eq!(ids(&again, 0), want);
    }

    #[test]
    fn types_widen_across_segments_and_missing_columns_are_null() {
        // Segment 1: v int, w int, only1 present; segment 2: v float, w string, no only1.
        let one: Vec<String> = (0..4)
            .map(|i| format!(r#"{{"id":{i},"v":{i},"w":{i},"only1":"a{i}","b":true}}"#))
            .collect();
        let two: Vec<String> = (4..8)
            .map(|i| format!(r#"{{"id":{i},"v":{i}.5,"w":"x{i}","b":false}}"#))
            .collect();
        let (_t, dir) = store(&[&one, &two], 1000);
        let (segs, schema) = open(&dir);
        assert_eq!(segs.len(), 2);
        let req = ScanRequest {
            columns: Some(vec![
                "id".into(),
                "v".into(),
                "w".into(),
                "only1".into(),
                "b".into(),
            ]),
            ..ScanRequest::default()
        };
        let it = scan(&segs[..], &schema, &req).expect("plan");
        let s = it.arrow_schema();
        assert_eq!(s.field(1).data_type(), &DataType::Float64);
        assert_eq!(s.field(2).data_type(), &OutKind::Text.data_type());
        assert_eq!(s.field(4).data_type(), &DataType::Boolean);
        let batches = all(it);
        assert_eq!(batches.len(), 2);
        let v: Vec<Option<f64>> = batches
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_primitive::<Float64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            v,
            [0.0, 1.0, 2.0, 3.0, 4.5, 5.5, 6.5, 7.5].map(Some).to_vec()
        );
        let text = |b: &RecordBatch, c: usize| -> Vec<Option<String>> {
            let d = b.column(c).as_dictionary::<Int32Type>();
            let vals = d.values().as_string::<i32>();
            d.keys()
                .iter()
                .map(|k| k.map(|k| vals.value(k as usize).to_string()))
                .collect()
        };
        assert_eq!(
            text(&batches[0], 2),
            ["0", "1", "2", "3"].map(|s| Some(s.into()))
        );
        assert_eq!(
            text(&batches[1], 2),
            ["x4", "x5", "x6", "x7"].map(|s| Some(s.into()))
        );
        assert_eq!(text(&batches[1], 3), vec![None; 4]);
        assert_eq!(batches[1].column(3).null_count(), 4);
    }

    #[test]
    fn nothing_selected_and_bad_requests() {
        let (_t, dir) = store(&[&events(50)], 1000);
        let (segs, schema) = open(&dir);
        let req = ScanRequest {
            filters: vec!["RuleID = 1".into()],
            ..ScanRequest::default()
        };
        let it = scan(&segs[..], &schema, &req).expect("plan");
        assert!(it.arrow_schema().fields().len() >= 6);
        assert_eq!(all(it).len(), 0);
        let unknown = ScanRequest {
            columns: Some(vec!["NoSuchField".into()]),
            ..ScanRequest::default()
        };
        assert!(matches!(
            scan(&segs[..], &schema, &unknown).err(),
            Some(Error::UnknownField { .. })
        ));
        let zero = ScanRequest {
            batch_size: Some(0),
            ..ScanRequest::default()
        };
        assert!(scan(&segs[..], &schema, &zero).is_err());
        // Every row of every column, in one batch.
        let every = all(scan(&segs[..], &schema, &ScanRequest::default()).expect("plan"));
        assert_eq!(every.len(), 1);
        assert_eq!(every[0].num_rows(), 50);
    }
}
