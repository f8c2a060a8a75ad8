//! The parse stage: a worker turns chunks into rows of its own `SegmentBuilder`, and when the
//! builder is full encodes the segment, writes it to `tmp/` (fsynced) and hands it to the
//! committer with the input ranges it covers.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::codec::bytes::eq_bytes;
use crate::error::{Error, Result};
use crate::json::{time, JsonValue, RecordParser, RecordSink};
use crate::segment::builder::Value;
use crate::segment::{
    encode_segment, SegmentBuilder, WriteOptions, FILE_COLUMN, LINE_COLUMN, TIME_COLUMN,
};
use crate::store::{Range, SegmentEntry};

use super::reader::Chunk;
use super::rejects::write_reject;
use super::Shared;

/// A segment is also cut once rows times columns reach this (2^28): the writer pads and encodes
/// every column over every row, so a log with tens of thousands of distinct keys (a field name
/// per event) gets smaller segments instead of a quadratic encode. 55 columns of 1M rows, or
/// 250 of 1M, stay under it.
const SEGMENT_CELLS: usize = 1 << 28;

/// A finished batch, ready for the committer.
pub struct Flushed {
    pub segment: Option<(PathBuf, SegmentEntry)>,
    pub rejects: Vec<u8>,
    pub reject_count: u64,
    /// (input index, range, rows, rejects, repaired)
    pub ranges: Vec<(usize, Range, u64, u64, u64)>,
    /// The worker's last flush of the run (a partial segment): the committer merges these.
    pub last: bool,
}

/// How the event time is chosen.
#[derive(Clone, Debug)]
pub enum TimeSelector {
    /// Exactly this (flattened, escaped) column.
    Field(String),
    /// The default candidates, in priority order; top-level first, then nested leaf names.
    Auto(Vec<String>),
}

impl TimeSelector {
    /// The default: `Datetime`, `timestamp`, `@timestamp`, `ts`, `time`, `eventTime`.
    pub fn auto() -> TimeSelector {
        TimeSelector::Auto(
            [
                "Datetime",
                "timestamp",
                "@timestamp",
                "ts",
                "time",
                "eventTime",
            ]
            .map(String::from)
            .to_vec(),
        )
    }

    /// Rank of a column as the time field (lower is better), or None.
    fn rank(&self, path: &str) -> Option<u8> {
        match self {
            TimeSelector::Field(f) => (path == f).then_some(0),
            TimeSelector::Auto(c) => {
                if let Some(i) = c.iter().position(|n| n == path) {
                    return Some(i as u8);
                }
                c.iter()
                    .position(|n| is_leaf(path, n))
                    .map(|i| (c.len() + i) as u8)
            }
        }
    }
}

/// Is `name` the last component of the dotted, escaped `path`?
fn is_leaf(path: &str, name: &str) -> bool {
    path.len() > name.len()
        && path.ends_with(name)
        && path.as_bytes()[path.len() - name.len() - 1] == b'.'
        && !path[..path.len() - name.len() - 1].ends_with('\\')
}

fn event_time(v: &JsonValue<'_>) -> Option<i64> {
    match *v {
        JsonValue::Int(i) => time::from_epoch_int(i),
        JsonValue::BigUint(u) => time::from_epoch_u64(u),
        JsonValue::Float(f) => time::from_epoch_f64(f),
        JsonValue::Str(s) => time::parse_time_str(s),
        _ => None,
    }
}

/// The field that followed a given column last time: most logs repeat their key order line
/// after line, so the field after column `c` is usually the same key as last time, and a
/// comparison of the path replaces a hash lookup of the column and of its time rank. Keyed by
/// the previous column rather than by position, an optional field (present in some events, as
/// Cloudflare's `Metadata.*`) costs a miss at the fields around it, not at every field after it.
struct Slot {
    path: String,
    idx: usize,
    rank: Option<u8>,
}

struct EventSink<'a> {
    b: &'a mut SegmentBuilder,
    sel: &'a TimeSelector,
    /// Time-field rank per builder column index (computed once per column, not per field).
    ranks: &'a mut Vec<Option<Option<u8>>>,
    /// Per previous column index + 1 (0: the start of the record), the field that followed it.
    slots: &'a mut Vec<Option<Slot>>,
    /// The previous field's column index + 1 (0 at the start of the record).
    prev: usize,
    best: u8,
    time: Option<i64>,
}

impl EventSink<'_> {
    /// Column index and time rank of `path` (named `name` in the builder), remembered at `pos`.
    fn lookup(&mut self, pos: usize, path: &str, name: &str) -> (usize, Option<u8>) {
        let idx = self.b.index_of(name);
        if self.ranks.len() <= idx {
            self.ranks.resize(idx + 1, None);
        }
        let rank = *self.ranks[idx].get_or_insert_with(|| self.sel.rank(path));
        let slot = Slot {
            path: path.to_string(),
            idx,
            rank,
        };
        if self.slots.len() <= pos {
            self.slots.resize_with(pos + 1, || None);
        }
        self.slots[pos] = Some(slot);
        (idx, rank)
    }
}

impl RecordSink for EventSink<'_> {
    fn field(&mut self, path: &str, value: JsonValue<'_>) {
        // `_time`, `_file` and `_line` are reserved for derived columns; fields of those
        // names move aside to `_time#2` etc.
        let name = if path.len() == 5 && path.starts_with('_') {
            match path {
                TIME_COLUMN => "_time#2",
                FILE_COLUMN => "_file#2",
                LINE_COLUMN => "_line#2",
                other => other,
            }
        } else {
            path
        };
        let pos = self.prev;
        let (idx, rank) = match self.slots.get(pos) {
            Some(Some(s)) if eq_bytes(s.path.as_bytes(), path.as_bytes()) => (s.idx, s.rank),
            _ => self.lookup(pos, path, name),
        };
        self.prev = idx + 1;
        if let Some(rank) = rank {
            if rank < self.best {
                if let Some(t) = event_time(&value) {
                    self.best = rank;
                    self.time = Some(t);
                }
            }
        }
        let v = match value {
            JsonValue::Null => Value::Null,
            JsonValue::Bool(b) => Value::Bool(b),
            JsonValue::Int(i) => Value::Int(i),
            JsonValue::BigUint(u) => Value::BigUint(u),
            JsonValue::Float(f) => Value::Float(f),
            JsonValue::Str(s) => Value::Str(s),
            JsonValue::Json(s) => Value::Json(s),
        };
        self.b.set_at(idx, name, v);
    }
}

/// Per-worker state.
pub struct Worker<'a> {
    pub id: usize,
    pub shared: &'a Shared,
    builder: SegmentBuilder,
    parser: RecordParser,
    rejects: Vec<u8>,
    reject_count: u64,
    ranges: Vec<(usize, Range, u64, u64, u64)>,
    flushes: u64,
    repaired_buf: String,
    ranks: Vec<Option<Option<u8>>>,
    slots: Vec<Option<Slot>>,
    /// Builder column indices of `_time`, `_file` and `_line`.
    derived: Option<[usize; 3]>,
}

impl<'a> Worker<'a> {
    /// A worker with an empty builder.
    pub fn new(id: usize, shared: &'a Shared) -> Worker<'a> {
        Worker {
            id,
            shared,
            builder: SegmentBuilder::new(),
            parser: RecordParser::new(),
            rejects: Vec::new(),
            reject_count: 0,
            ranges: Vec::new(),
            flushes: 0,
            repaired_buf: String::new(),
            ranks: Vec::new(),
            slots: Vec::new(),
            derived: None,
        }
    }

    /// Parse every record of `chunk` into the builder; flush when full.
    pub fn process(&mut self, chunk: &Chunk) -> Result<Option<Flushed>> {
        let display = self.shared.inputs[chunk.input].display.clone();
        let rows_before = self.builder.rows() as u64;
        let (mut rejects, mut repaired) = (chunk.prereject_count, 0u64);
        if chunk.prereject_count > 0 && self.shared.strict {
            return Err(strict_error(&display, &chunk.prerejects));
        }
        self.rejects.extend_from_slice(&chunk.prerejects);
        let base = chunk.range.start;
        let mut each = |w: &mut Self, rec: &[u8], line: u64, off: usize| -> Result<()> {
            match w.record(rec, &display, line, base + off as u64)? {
                Outcome::Stored => {}
                Outcome::Repaired => repaired += 1,
                Outcome::Rejected => rejects += 1,
                Outcome::Blank => {}
            }
            Ok(())
        };
        match &chunk.records {
            Some(recs) => {
                for r in recs {
                    let rec = chunk
                        .data
                        .get(r.start as usize..r.end as usize)
                        .unwrap_or(b"");
                    each(self, rec, r.line, r.start as usize)?;
                }
            }
            None => {
                let mut line = chunk.range.first_line;
                let mut pos = 0usize;
                let data = &chunk.data;
                while pos < data.len() {
                    let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i);
                    each(self, &data[pos..end], line, pos)?;
                    pos = end + 1;
                    line += 1;
                }
            }
        }
        let rows = self.builder.rows() as u64 - rows_before;
        self.reject_count += rejects;
        self.ranges
            .push((chunk.input, chunk.range, rows, rejects, repaired));
        let p = &self.shared.progress;
        p.events.fetch_add(rows, Ordering::Relaxed);
        p.rejects.fetch_add(rejects, Ordering::Relaxed);
        p.repaired.fetch_add(repaired, Ordering::Relaxed);
        p.bytes
            .fetch_add(chunk.range.end - chunk.range.start, Ordering::Relaxed);
        if self.builder.rows() >= self.shared.segment_rows
            || self.builder.heap_bytes() >= self.shared.segment_bytes
            || self.builder.cells() >= SEGMENT_CELLS
        {
            return self.flush().map(Some);
        }
        Ok(None)
    }

    fn record(&mut self, rec: &[u8], display: &str, line: u64, offset: u64) -> Result<Outcome> {
        let rec = trim_record(rec);
        if rec.is_empty() {
            return Ok(Outcome::Blank);
        }
        match self.parse_into_builder(rec, display, line) {
            Ok(()) => Ok(Outcome::Stored),
            Err(failure) => {
                let utf8_bad = std::str::from_utf8(rec).is_err();
                if utf8_bad {
                    self.repaired_buf = String::from_utf8_lossy(rec).into_owned();
                    let fixed = std::mem::take(&mut self.repaired_buf);
                    let ok = self
                        .parse_into_builder(fixed.as_bytes(), display, line)
                        .is_ok();
                    self.repaired_buf = fixed;
                    if ok {
                        write_reject(
                            &mut self.rejects,
                            display,
                            line,
                            offset,
                            "invalid UTF-8 replaced with U+FFFD; the event was stored repaired",
                            true,
                            rec,
                        );
                        return Ok(Outcome::Repaired);
                    }
                }
                let reason = if utf8_bad {
                    format!("{failure} (and invalid UTF-8)")
                } else {
                    failure.to_string()
                };
                if self.shared.strict {
                    return Err(Error::BadInput {
                        path: display.to_string(),
                        line,
                        offset,
                        reason,
                    });
                }
                write_reject(
                    &mut self.rejects,
                    display,
                    line,
                    offset,
                    &reason,
                    false,
                    rec,
                );
                Ok(Outcome::Rejected)
            }
        }
    }

    fn parse_into_builder(
        &mut self,
        rec: &[u8],
        display: &str,
        line: u64,
    ) -> std::result::Result<(), crate::json::ParseFailure> {
        self.builder.begin_row();
        let mut sink = EventSink {
            b: &mut self.builder,
            sel: &self.shared.time,
            ranks: &mut self.ranks,
            slots: &mut self.slots,
            prev: 0,
            best: u8::MAX,
            time: None,
        };
        let res = self.parser.parse(rec, &mut sink);
        let t = sink.time;
        match res {
            Ok(()) => {
                let b = &mut self.builder;
                let [ti, fi, li] = *self.derived.get_or_insert_with(|| {
                    [TIME_COLUMN, FILE_COLUMN, LINE_COLUMN].map(|c| b.index_of(c))
                });
                b.set_at(ti, TIME_COLUMN, t.map_or(Value::Null, Value::Int));
                b.set_at(fi, FILE_COLUMN, Value::Str(display));
                b.set_at(li, LINE_COLUMN, Value::Int(line as i64));
                self.builder.end_row();
                Ok(())
            }
            Err(e) => {
                self.builder.abort_row();
                Err(e)
            }
        }
    }

    /// Encode and write what the builder holds; hand back the batch.
    pub fn flush(&mut self) -> Result<Flushed> {
        let builder = std::mem::take(&mut self.builder);
        self.ranks.clear();
        self.slots.clear();
        self.derived = None;
        let rows = builder.rows();
        let segment = if rows > 0 {
            let (rows, cols) = builder.finish();
            let opts = WriteOptions {
                zstd_level: self.shared.zstd_level,
                index_columns: self.shared.index_columns.clone(),
            };
            let enc = encode_segment(rows, cols, &opts);
            self.flushes += 1;
            let tmp = self.shared.tmp_dir.join(format!(
                "w{}-{}-{}.lps",
                std::process::id(),
                self.id,
                self.flushes
            ));
            crate::io::write_synced(&tmp, &enc.bytes)?;
            Some((tmp, SegmentEntry::unlisted(rows as u64, &enc)))
        } else {
            None
        };
        Ok(Flushed {
            segment,
            rejects: std::mem::take(&mut self.rejects),
            reject_count: std::mem::take(&mut self.reject_count),
            ranges: std::mem::take(&mut self.ranges),
            last: false,
        })
    }

    /// True when the worker holds nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.builder.rows() == 0
    }
}

enum Outcome {
    Stored,
    Repaired,
    Rejected,
    Blank,
}

/// A record without the whitespace around it (CR of CRLF line ends included) and without a
/// UTF-8 byte order mark at its start (Windows tools write one at the start of a file, and
/// files concatenated from such files hold more).
fn trim_record(rec: &[u8]) -> &[u8] {
    let rec = rec
        .strip_prefix(&crate::json::split::UTF8_BOM[..])
        .unwrap_or(rec);
    let start = rec
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rec.len());
    let end = rec
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &rec[start..end.max(start)]
}

fn strict_error(display: &str, prerejects: &[u8]) -> Error {
    let v: serde_json::Value =
        serde_json::from_slice(prerejects.split(|&b| b == b'\n').next().unwrap_or(b"{}"))
            .unwrap_or_default();
    Error::BadInput {
        path: display.to_string(),
        line: v["line"].as_u64().unwrap_or(0),
        offset: v["offset"].as_u64().unwrap_or(0),
        reason: v["reason"].as_str().unwrap_or("bad input").to_string(),
    }
}
