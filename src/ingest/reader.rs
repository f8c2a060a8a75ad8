//! The reader stage: turns each input's decompressed byte stream into chunks of whole records,
//! skipping the ranges the manifest says are already committed.
//!
//! A chunk covers a contiguous byte range `[start, end)` of one input, which begins and ends on
//! record boundaries; a committed range is never split or overlapped, so a resumed ingest
//! re-reads exactly the uncommitted records. Memory is bounded by the chunk size (plus the
//! longest line, up to `max_line_bytes`).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::io;
use crate::json::split::{
    count_newlines, detect_input, ArrayScanner, EnvelopeScanner, InputShape, RecordsPath, Span,
};
use crate::store::Range;

use super::rejects::write_reject;

/// A record of a JSON-array chunk: its byte span within the chunk and its line.
#[derive(Clone, Copy, Debug)]
pub struct Rec {
    pub start: u32,
    pub end: u32,
    pub line: u64,
}

/// A unit of work for a parser: whole records of one input.
pub struct Chunk {
    /// Index into the run's input list.
    pub input: usize,
    /// The covered range (start/end offsets, first line, newline count).
    pub range: Range,
    /// The bytes of `[range.start, range.end)`.
    pub data: Vec<u8>,
    /// For JSON-array inputs, the element spans; None for NDJSON (split on newlines).
    pub records: Option<Vec<Rec>>,
    /// Rejects found by the reader itself (over-long lines, truncated arrays), as JSON lines.
    pub prerejects: Vec<u8>,
    pub prereject_count: u64,
}

/// Reader settings.
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    pub chunk_bytes: usize,
    pub max_line_bytes: usize,
    /// Chunk buffers the workers are done with, reused so that each chunk does not fault in
    /// (and have the kernel zero) fresh pages.
    pub recycled: Option<crossbeam_channel::Receiver<Vec<u8>>>,
    /// The ingest's cancellation token.
    pub cancel: crate::Cancel,
    /// The inputs may still be written to (`ingest --follow`): an NDJSON input's last line
    /// without a newline is not read yet (it may be half written); the next run reads it whole.
    pub open_tail: bool,
}

/// What the reader learned about one input.
pub struct InputPlan<'a> {
    pub index: usize,
    pub path: &'a std::path::Path,
    pub display: &'a str,
    pub shape: InputShape,
    /// For an envelope, the path of the array that holds the events.
    pub records: Option<&'a RecordsPath>,
    /// Decide the shape from the first decompressed bytes (stdin, which cannot be sniffed
    /// before it is read); `records` is then the user's `--records`, if any.
    pub detect: bool,
    /// Committed ranges, sorted and merged.
    pub committed: &'a [Range],
    /// Where an earlier run found this input's compressed stream broken (its reject is
    /// written once, not at every run).
    pub known_break: Option<u64>,
}

/// A compressed input whose stream ended early or broke: every complete record before
/// `offset` (decompressed bytes) was read; the rest was not.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StreamBreak {
    pub offset: u64,
    pub reason: String,
}

/// How the reading of one input ended.
#[derive(Clone, Debug)]
pub struct InputEnd {
    /// Decompressed length read (up to the break, if any).
    pub len: u64,
    pub broken: Option<StreamBreak>,
    /// The shape the input was read as, and its records path (stdin decides these late).
    pub shape: InputShape,
    pub records: Option<RecordsPath>,
}

/// The record splitter of an array or envelope input.
enum Scanner {
    Array(ArrayScanner),
    Envelope(EnvelopeScanner),
}

impl Scanner {
    fn scan(&mut self, data: &[u8], base: u64, out: &mut Vec<Span>) {
        match self {
            Scanner::Array(s) => s.scan(data, base, out),
            Scanner::Envelope(s) => s.scan(data, base, out),
        }
    }

    fn pending_start(&self) -> Option<u64> {
        match self {
            Scanner::Array(s) => s.pending_start(),
            Scanner::Envelope(s) => s.pending_start(),
        }
    }

    /// Nothing but whitespace and separators outside the events, and nothing left open.
    fn clean(&self) -> bool {
        match self {
            Scanner::Array(s) => s.junk == 0 && s.done(),
            Scanner::Envelope(s) => s.junk == 0 && s.between(),
        }
    }
}

/// The reader's buffer: `bytes[..len]` holds input, and the bytes after it stay initialized
/// between fills, so a fill reads straight into memory that an earlier chunk used instead of
/// zeroing it first (a chunk buffer a worker hands back keeps its old bytes as scratch).
#[derive(Default)]
struct ReadBuf {
    bytes: Vec<u8>,
    len: usize,
}

impl std::ops::Deref for ReadBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl ReadBuf {
    /// An empty buffer over a used one's memory.
    fn reuse(bytes: Vec<u8>) -> ReadBuf {
        ReadBuf { bytes, len: 0 }
    }

    /// The room from `len` up to `want` bytes, for a fill to read into.
    fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        &mut self.bytes[self.len..want.max(self.len)]
    }

    fn extend_from_slice(&mut self, s: &[u8]) {
        let end = self.len + s.len();
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[self.len..end].copy_from_slice(s);
        self.len = end;
    }

    fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Drop the first `n` bytes.
    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }

    fn into_vec(mut self) -> Vec<u8> {
        self.bytes.truncate(self.len);
        self.bytes
    }
}

/// Reads one input and calls `emit` for each chunk. Returns the decompressed length.
pub struct InputReader<'a> {
    plan: InputPlan<'a>,
    cfg: &'a ReaderConfig,
    src: Box<dyn Read + Send>,
    buf: ReadBuf,
    /// Stream offset of `buf[0]`.
    buf_start: u64,
    /// Line number at `buf_start`.
    buf_line: u64,
    eof: bool,
    /// The input is compressed (a read error past the header is a broken stream).
    compressed: bool,
    broken: Option<StreamBreak>,
    abort: &'a AtomicBool,
    /// Bytes left unread at the end (a last line without a newline, with `open_tail`).
    held: usize,
}

impl<'a> InputReader<'a> {
    /// Open the input, seeking past a committed prefix when the file allows it.
    pub fn open(
        plan: InputPlan<'a>,
        cfg: &'a ReaderConfig,
        raw_count: std::sync::Arc<std::sync::atomic::AtomicU64>,
        abort: &'a AtomicBool,
    ) -> Result<InputReader<'a>> {
        let (skip, line) = match plan.committed.first() {
            Some(r) if r.start == 0 && plan.shape == InputShape::Ndjson => {
                (r.end, r.first_line + r.lines)
            }
            _ => (0, 1),
        };
        let opened = io::open_input(plan.path, skip, raw_count)?;
        Ok(InputReader {
            plan,
            cfg,
            src: opened.reader,
            buf: ReadBuf::default(),
            buf_start: skip,
            buf_line: line,
            eof: false,
            compressed: opened.compression != io::Compression::None,
            broken: None,
            abort,
            held: 0,
        })
    }

    fn refill(&mut self, want: usize) -> Result<()> {
        if self.eof || self.buf.len() >= want {
            return Ok(());
        }
        let old = self.buf.len();
        let (n, err) = io::read_full_partial(&mut self.src, self.buf.spare(want));
        self.buf.len += n;
        if let Some(e) = err {
            // A decompressor that fails (a truncated or corrupt .gz/.zst, e.g. a file still
            // being written) ends the input where its stream broke: what decoded before is
            // read, and the caller reports the break. A failing disk stays an error.
            if !self.compressed || io::is_raw_read_error(&e) {
                return Err(Error::io(self.plan.path, e));
            }
            self.broken = Some(StreamBreak {
                offset: self.buf_start + self.buf.len() as u64,
                reason: e.to_string(),
            });
            self.eof = true;
            return Ok(());
        }
        if old + n < want {
            self.eof = true;
        }
        Ok(())
    }

    fn drop_front(&mut self, n: usize) {
        self.buf_line += count_newlines(&self.buf[..n]);
        self.buf.drop_front(n);
        self.buf_start += n as u64;
    }

    /// The committed range containing `pos`, or the start of the next one after it.
    fn committed_at(&self, pos: u64) -> (Option<Range>, Option<u64>) {
        let c = self.plan.committed;
        let i = c.partition_point(|r| r.end <= pos);
        match c.get(i) {
            Some(r) if r.start <= pos => (Some(*r), c.get(i + 1).map(|n| n.start)),
            Some(r) => (None, Some(r.start)),
            None => (None, None),
        }
    }

    /// Run to the end of the input (or to where its compressed stream broke).
    pub fn run(mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<InputEnd> {
        let mut records = self.plan.records.cloned();
        let mut shape = self.plan.shape;
        if self.plan.detect {
            self.refill(64 << 10)?;
            (shape, records) = detect_input(&self.buf, records.as_ref());
        }
        match (shape, &records) {
            (InputShape::Ndjson, _) => self.run_ndjson(emit)?,
            (InputShape::JsonArray, _) => {
                self.run_array(Scanner::Array(ArrayScanner::new()), emit)?
            }
            (InputShape::Envelope, Some(p)) => {
                self.run_array(Scanner::Envelope(EnvelopeScanner::new(p)), emit)?
            }
            (InputShape::Envelope, None) => {
                let none = RecordsPath(Vec::new());
                self.run_array(Scanner::Envelope(EnvelopeScanner::new(&none)), emit)?
            }
        }
        let len = self.buf_start + (self.buf.len() - self.held.min(self.buf.len())) as u64;
        if let Some(b) = &self.broken {
            if self.plan.known_break != Some(b.offset) {
                self.emit_break(b.clone(), emit)?;
            }
        }
        Ok(InputEnd {
            len,
            broken: self.broken,
            shape,
            records,
        })
    }

    /// One reject for a broken compressed stream, committed with an empty range at the break
    /// (the records after it were never read, so no range covers them).
    fn emit_break(
        &mut self,
        b: StreamBreak,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        let mut rej = Vec::new();
        let reason = format!(
            "compressed stream broken after {} decompressed bytes ({}): the complete records before it were read; run the same ingest again once the file is whole to read the rest",
            b.offset, b.reason
        );
        let at = self.buf_start;
        write_reject(
            &mut rej,
            self.plan.display,
            self.buf_line,
            at,
            &reason,
            false,
            &self.buf,
        );
        emit(Chunk {
            input: self.plan.index,
            range: Range {
                start: at,
                end: at,
                first_line: self.buf_line,
                lines: 0,
            },
            data: Vec::new(),
            records: Some(Vec::new()),
            prerejects: rej,
            prereject_count: 1,
        })
    }

    fn run_ndjson(&mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<()> {
        let chunk = self.cfg.chunk_bytes;
        loop {
            if self.abort.load(Ordering::Relaxed) || self.cfg.cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            self.refill(chunk)?;
            if self.buf.is_empty() {
                return Ok(());
            }
            let (inside, next) = self.committed_at(self.buf_start);
            if let Some(r) = inside {
                let n = ((r.end - self.buf_start) as usize).min(self.buf.len());
                self.drop_front(n);
                continue;
            }
            let limit = next.map_or(usize::MAX, |n| (n - self.buf_start) as usize);
            let region = self.buf.len().min(limit);
            let cut = if limit <= self.buf.len() {
                Some(limit)
            } else {
                memchr::memrchr(b'\n', &self.buf[..region]).map(|i| i + 1)
            };
            let cut = match cut {
                Some(c) => c,
                // A broken stream's last, cut-off line is not read: it is read whole once the
                // file is complete.
                None if self.broken.is_some() => return Ok(()),
                None if self.eof && self.cfg.open_tail && limit > self.buf.len() => {
                    self.held = self.buf.len();
                    return Ok(());
                }
                None if self.eof => region,
                None if self.buf.len() >= self.cfg.max_line_bytes => {
                    self.overlong(emit)?;
                    continue;
                }
                None => {
                    let want = (self.buf.len() + chunk).min(self.cfg.max_line_bytes.max(chunk));
                    self.refill(want.max(self.buf.len() + 1))?;
                    continue;
                }
            };
            self.emit_front(cut, None, emit)?;
        }
    }

    fn emit_front(
        &mut self,
        n: usize,
        records: Option<Vec<Rec>>,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        // Hand the buffer itself over as the chunk and keep only the tail: no copy of the chunk.
        let recycled = self
            .cfg
            .recycled
            .as_ref()
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        let mut tail = ReadBuf::reuse(recycled);
        tail.bytes.reserve(self.cfg.chunk_bytes + 4096);
        tail.extend_from_slice(&self.buf[n..]);
        self.buf.truncate(n);
        let data: Vec<u8> = std::mem::replace(&mut self.buf, tail).into_vec();
        let lines = count_newlines(&data);
        let range = Range {
            start: self.buf_start,
            end: self.buf_start + n as u64,
            first_line: self.buf_line,
            lines,
        };
        self.buf_start += n as u64;
        self.buf_line += lines;
        emit(Chunk {
            input: self.plan.index,
            range,
            data,
            records,
            prerejects: Vec::new(),
            prereject_count: 0,
        })
    }

    /// A line longer than `max_line_bytes`: reject it (keeping its first bytes) and skip to the
    /// next newline.
    fn overlong(&mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<()> {
        let start = self.buf_start;
        let line = self.buf_line;
        let head: Vec<u8> = self.buf[..self.buf.len().min(super::rejects::MAX_RAW)].to_vec();
        let mut total = 0u64;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                total += i as u64 + 1;
                self.buf.drop_front(i + 1);
                break;
            }
            total += self.buf.len() as u64;
            self.buf.clear();
            if self.eof {
                break;
            }
            self.refill(self.cfg.chunk_bytes)?;
            if self.buf.is_empty() {
                break;
            }
        }
        let mut rej = Vec::new();
        let reason = format!(
            "line longer than --max-line-bytes {} ({total} bytes)",
            self.cfg.max_line_bytes
        );
        write_reject(
            &mut rej,
            self.plan.display,
            line,
            start,
            &reason,
            false,
            &head,
        );
        let range = Range {
            start,
            end: start + total,
            first_line: line,
            lines: 1,
        };
        self.buf_start += total;
        self.buf_line += 1;
        emit(Chunk {
            input: self.plan.index,
            range,
            data: Vec::new(),
            records: Some(Vec::new()),
            prerejects: rej,
            prereject_count: 1,
        })
    }

    /// A JSON array or envelope input: the scanner finds each event's span; chunks are cut
    /// between events and never overlap a committed range.
    fn run_array(
        &mut self,
        mut scanner: Scanner,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        let mut spans: Vec<Span> = Vec::new();
        // Bytes of `buf` already scanned.
        let mut scanned = 0usize;
        loop {
            if self.abort.load(Ordering::Relaxed) || self.cfg.cancel.is_cancelled() {
                return Err(Error::Interrupted);
            }
            let want = self.buf.len() + self.cfg.chunk_bytes;
            self.refill(want)?;
            let base = self.buf_start + scanned as u64;
            scanner.scan(&self.buf[scanned..], base, &mut spans);
            scanned = self.buf.len();
            self.bound_candidate(&mut scanner);
            self.flush_spans(&mut spans, &mut scanned, &scanner, emit, self.eof)?;
            if let Scanner::Envelope(e) = &mut scanner {
                if !e.oversize.is_empty() {
                    let over = std::mem::take(&mut e.oversize);
                    self.emit_oversize(&over, emit)?;
                }
            }
            if self.eof {
                return self.finish_array(&scanner, emit);
            }
        }
    }

    /// An envelope's top-level object that has not shown its records array yet is kept whole
    /// (it may be an event itself); past `max_line_bytes` it is let go, so memory stays bounded.
    fn bound_candidate(&self, scanner: &mut Scanner) {
        if let Scanner::Envelope(e) = scanner {
            if e.pending_is_candidate() && self.buf.len() >= self.cfg.max_line_bytes {
                e.abandon_candidate();
            }
        }
    }

    /// Emit chunks of whole events from the front of the buffer: up to the start of the event
    /// in progress (or all that was scanned), once that is a chunk's worth or `force`; committed
    /// ranges are skipped, never split.
    fn flush_spans(
        &mut self,
        spans: &mut Vec<Span>,
        scanned: &mut usize,
        scanner: &Scanner,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
        force: bool,
    ) -> Result<()> {
        loop {
            let (inside, next) = self.committed_at(self.buf_start);
            if let Some(r) = inside {
                let n = (r.end.saturating_sub(self.buf_start) as usize).min(self.buf.len());
                if n == 0 {
                    return Ok(());
                }
                self.drop_front(n);
                *scanned = scanned.saturating_sub(n);
                spans.retain(|s| s.start >= self.buf_start);
                continue;
            }
            let scanned_to = self.buf_start + *scanned as u64;
            let mut hard = scanner
                .pending_start()
                .unwrap_or(scanned_to)
                .min(scanned_to);
            if force && !scanner.clean() {
                // The tail after the last event goes to rejects with what is wrong with it.
                hard = hard.min(spans.last().map_or(self.buf_start, |s| s.end));
            }
            let cut = next.map_or(hard, |n| n.min(hard));
            if cut <= self.buf_start {
                return Ok(());
            }
            let at_committed = next.is_some_and(|n| n <= hard);
            let size = (cut - self.buf_start) as usize;
            if !(force || at_committed || size >= self.cfg.chunk_bytes) {
                return Ok(());
            }
            let k = spans.partition_point(|s| s.end <= cut);
            let recs: Vec<Rec> = spans
                .drain(..k)
                .map(|s| Rec {
                    start: (s.start - self.buf_start) as u32,
                    end: (s.end - self.buf_start) as u32,
                    line: s.line,
                })
                .collect();
            self.emit_front(size, Some(recs), emit)?;
            *scanned = scanned.saturating_sub(size);
            if !at_committed {
                return Ok(());
            }
        }
    }

    /// Reject envelope objects that held no records array and were too long to keep.
    fn emit_oversize(
        &mut self,
        over: &[Span],
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        let mut rej = Vec::new();
        for s in over {
            let reason = format!(
                "a top-level value of {} bytes without the records array, longer than --max-line-bytes {}: not stored",
                s.end - s.start,
                self.cfg.max_line_bytes
            );
            write_reject(
                &mut rej,
                self.plan.display,
                s.line,
                s.start,
                &reason,
                false,
                b"",
            );
        }
        emit(Chunk {
            input: self.plan.index,
            range: Range {
                start: self.buf_start,
                end: self.buf_start,
                first_line: self.buf_line,
                lines: 0,
            },
            data: Vec::new(),
            records: Some(Vec::new()),
            prerejects: rej,
            prereject_count: over.len() as u64,
        })
    }

    fn finish_array(
        &mut self,
        scanner: &Scanner,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        let (inside, _) = self.committed_at(self.buf_start);
        if let Some(r) = inside {
            let n = ((r.end - self.buf_start) as usize).min(self.buf.len());
            self.drop_front(n);
        }
        // A broken stream stops before the event it cut: that event is read whole once the
        // file is complete (no range covers it).
        if self.buf.is_empty() || self.broken.is_some() {
            return Ok(());
        }
        let mut rej = Vec::new();
        let mut count = 0;
        let (junk, done, pending_line) = match scanner {
            Scanner::Array(a) => (a.junk, a.done(), a.pending_line()),
            Scanner::Envelope(e) => (e.junk, e.between(), e.events() + 1),
        };
        if let Some(start) = scanner.pending_start() {
            let from = (start.saturating_sub(self.buf_start) as usize).min(self.buf.len());
            let what = match scanner {
                Scanner::Array(_) => "truncated JSON array element at end of input",
                Scanner::Envelope(_) => "truncated event or envelope at end of input",
            };
            write_reject(
                &mut rej,
                self.plan.display,
                pending_line,
                start,
                what,
                false,
                &self.buf[from..],
            );
            count += 1;
        } else if junk > 0 || !done {
            let what = match scanner {
                Scanner::Array(_) if done => "bytes after the closing `]`",
                Scanner::Array(_) => "JSON array not closed by `]`",
                Scanner::Envelope(_) if done => "bytes outside any JSON value",
                Scanner::Envelope(_) => "envelope not closed at end of input",
            };
            write_reject(
                &mut rej,
                self.plan.display,
                self.buf_line,
                self.buf_start,
                what,
                false,
                &self.buf,
            );
            count += 1;
        }
        let n = self.buf.len();
        let lines = count_newlines(&self.buf);
        let range = Range {
            start: self.buf_start,
            end: self.buf_start + n as u64,
            first_line: self.buf_line,
            lines,
        };
        self.buf.clear();
        self.buf_start += n as u64;
        self.buf_line += lines;
        emit(Chunk {
            input: self.plan.index,
            range,
            data: Vec::new(),
            records: Some(Vec::new()),
            prerejects: rej,
            prereject_count: count,
        })
    }
}
