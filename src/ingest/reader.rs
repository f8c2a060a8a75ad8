//! The reader stage: turns each input's decompressed byte stream into chunks of whole records,
//! skipping the ranges the manifest says are already committed.
//!
//! A chunk covers a contiguous byte range `[start, end)` of one input, which begins and ends on
//! record boundaries; a committed range is never split or overlapped, so a resumed ingest
//! re-reads exactly the uncommitted records. Memory is bounded by the chunk size (plus the
//! longest line, up to `max_line_bytes`).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, IoContext, Result};
use crate::io;
use crate::json::split::{count_newlines, ArrayScanner, InputShape, Span};
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
}

/// What the reader learned about one input.
pub struct InputPlan<'a> {
    pub index: usize,
    pub path: &'a std::path::Path,
    pub display: &'a str,
    pub shape: InputShape,
    /// Committed ranges, sorted and merged.
    pub committed: &'a [Range],
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
    abort: &'a AtomicBool,
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
            abort,
        })
    }

    fn refill(&mut self, want: usize) -> Result<()> {
        if self.eof || self.buf.len() >= want {
            return Ok(());
        }
        let old = self.buf.len();
        let n = io::read_full(&mut self.src, self.buf.spare(want)).at(self.plan.path)?;
        self.buf.len += n;
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

    /// Run to the end of the input. Returns the decompressed length.
    pub fn run(mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<u64> {
        match self.plan.shape {
            InputShape::Ndjson => self.run_ndjson(emit)?,
            InputShape::JsonArray => self.run_array(emit)?,
        }
        Ok(self.buf_start + self.buf.len() as u64)
    }

    fn run_ndjson(&mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<()> {
        let chunk = self.cfg.chunk_bytes;
        loop {
            if self.abort.load(Ordering::Relaxed) || crate::interrupted() {
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

    fn run_array(&mut self, emit: &mut dyn FnMut(Chunk) -> Result<()>) -> Result<()> {
        let mut scanner = ArrayScanner::new();
        let mut spans: Vec<Span> = Vec::new();
        // Bytes of `buf` already scanned.
        let mut scanned = 0usize;
        loop {
            if self.abort.load(Ordering::Relaxed) || crate::interrupted() {
                return Err(Error::Interrupted);
            }
            let want = (self.buf.len() + self.cfg.chunk_bytes).max(self.cfg.chunk_bytes);
            self.refill(want)?;
            let base = self.buf_start + scanned as u64;
            scanner.scan(&self.buf[scanned..], base, &mut spans);
            scanned = self.buf.len();
            self.flush_array_spans(&mut spans, &mut scanned, emit, self.eof)?;
            if self.eof {
                return self.finish_array(&scanner, &mut scanned, emit);
            }
        }
    }

    /// Emit chunks for complete spans, honouring committed ranges.
    fn flush_array_spans(
        &mut self,
        spans: &mut Vec<Span>,
        scanned: &mut usize,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
        force: bool,
    ) -> Result<()> {
        let mut taken: Vec<Span> = Vec::new();
        let pending: Vec<Span> = std::mem::take(spans);
        for s in pending {
            let (inside, _) = self.committed_at(s.start);
            if let Some(r) = inside {
                // Emit what we have up to the committed range, then jump over it.
                self.emit_spans(&mut taken, r.start, scanned, emit)?;
                let n = (r.end.saturating_sub(self.buf_start) as usize).min(self.buf.len());
                self.drop_front(n);
                *scanned = scanned.saturating_sub(n);
                continue;
            }
            taken.push(s);
        }
        let size = taken
            .last()
            .map_or(0, |s| s.end.saturating_sub(self.buf_start));
        if !taken.is_empty() && (force || size as usize >= self.cfg.chunk_bytes) {
            let end = taken.last().map_or(self.buf_start, |s| s.end);
            self.emit_spans(&mut taken, end, scanned, emit)?;
        }
        *spans = taken;
        Ok(())
    }

    fn emit_spans(
        &mut self,
        taken: &mut Vec<Span>,
        end: u64,
        scanned: &mut usize,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        if end <= self.buf_start && taken.is_empty() {
            return Ok(());
        }
        let n = (end - self.buf_start) as usize;
        let recs: Vec<Rec> = taken
            .drain(..)
            .map(|s| Rec {
                start: (s.start - self.buf_start) as u32,
                end: (s.end - self.buf_start) as u32,
                line: s.line,
            })
            .collect();
        self.emit_front(n, Some(recs), emit)?;
        *scanned = scanned.saturating_sub(n);
        Ok(())
    }

    fn finish_array(
        &mut self,
        scanner: &ArrayScanner,
        scanned: &mut usize,
        emit: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<()> {
        let (inside, _) = self.committed_at(self.buf_start);
        if let Some(r) = inside {
            let n = ((r.end - self.buf_start) as usize).min(self.buf.len());
            self.drop_front(n);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut rej = Vec::new();
        let mut count = 0;
        if let Some(start) = scanner.pending_start() {
            let from = (start.saturating_sub(self.buf_start) as usize).min(self.buf.len());
            write_reject(
                &mut rej,
                self.plan.display,
                scanner.pending_line(),
                start,
                "truncated JSON array element at end of input",
                false,
                &self.buf[from..],
            );
            count += 1;
        } else if scanner.junk > 0 || !scanner.done() {
            let what = if scanner.done() {
                "bytes after the closing `]`"
            } else {
                "JSON array not closed by `]`"
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
        *scanned = 0;
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
