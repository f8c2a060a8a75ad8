//! Compaction and retention: small segments merged into full ones, old events dropped.
//!
//! Both rebuild segments with [`crate::segment::merge`] (rows sorted by event time, indexes
//! rebuilt) and publish them with one [`StoreWriter::commit`] that replaces the old entries,
//! under the writer lock. The files they replace are *retired*, not deleted: they go when no
//! reader's lease can still need them ([`StoreWriter::sweep_retired`], docs/FORMAT.md 10.6).
//! The inputs' committed ranges are not touched, so an ingest resumed after a compaction or a
//! retention stays exactly once (and re-ingesting a file does not bring dropped events back).
//!
//! Policies:
//! - [`Policy::All`] (`logpivot compact`): every segment under `target_rows`, in event-time
//!   order, packed into groups of at most `target_rows` rows and `max_input_bytes` of input.
//! - [`Policy::Tiered`] (`logpivot ingest --compact`): like tantivy's `LogMergePolicy`, small
//!   segments are put on levels by size (level k: up to `FLOOR_ROWS x MERGE_FACTOR^k` rows)
//!   and a level is merged once it holds `MERGE_FACTOR` segments, so each row is rewritten
//!   about log10(target / batch) times over the store's life.

use std::path::PathBuf;
use std::time::Instant;

use super::{shards, Batch, DataDir, SegmentEntry, StoreWriter};
use crate::error::{Error, Result};
use crate::io::{self, MappedFile};
use crate::segment::merge::{self, RowRef};
use crate::segment::{SegmentReader, WriteOptions};

/// Segments of the same level merged at once by the tiered policy.
pub const MERGE_FACTOR: usize = 10;
/// Rows of the smallest level of the tiered policy.
pub const FLOOR_ROWS: u64 = 10_000;

/// Which segments to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Every segment under the target size.
    All,
    /// Only levels that hold [`MERGE_FACTOR`] segments.
    Tiered,
}

/// Knobs of `compact` and `retain`.
#[derive(Clone, Debug)]
pub struct CompactOptions {
    /// Rows of a full segment: segments with fewer are merged, up to this many rows.
    pub target_rows: u64,
    /// Most input bytes (decompressed JSON) behind one merged segment: bounds the builder's
    /// memory as `--segment-bytes` bounds an ingest worker's.
    pub max_input_bytes: u64,
    pub policy: Policy,
    /// Plan and report, change nothing.
    pub dry_run: bool,
    pub zstd_level: i32,
    /// Wait for another writer's lock instead of failing.
    pub wait_lock: bool,
    pub cancel: crate::Cancel,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            target_rows: 1 << 20,
            max_input_bytes: 1 << 30,
            policy: Policy::All,
            dry_run: false,
            zstd_level: 1,
            wait_lock: false,
            cancel: crate::Cancel::new(),
        }
    }
}

/// What a compaction or retention did (or, dry, would do).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CompactSummary {
    pub data_dir: String,
    pub dry_run: bool,
    pub segments_before: usize,
    pub segments_after: usize,
    /// Segment files' bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub rows_before: u64,
    pub rows_after: u64,
    /// Merge groups (compaction) or segments rewritten (retention).
    pub groups: usize,
    /// Segments read and replaced.
    pub segments_replaced: usize,
    /// Segments dropped whole (retention).
    pub segments_dropped: usize,
    /// Reject lines of dropped segments (retention).
    pub rejects_dropped: u64,
    /// Retired files deleted (this run's and earlier ones').
    pub files_deleted: usize,
    /// Retired files kept because a reader's lease may still need them.
    pub files_kept: usize,
    pub seconds: f64,
}

impl CompactSummary {
    /// Add another store's counts (the shards of a sharded root).
    pub fn add(&mut self, o: CompactSummary) {
        self.segments_before += o.segments_before;
        self.segments_after += o.segments_after;
        self.bytes_before += o.bytes_before;
        self.bytes_after += o.bytes_after;
        self.rows_before += o.rows_before;
        self.rows_after += o.rows_after;
        self.groups += o.groups;
        self.segments_replaced += o.segments_replaced;
        self.segments_dropped += o.segments_dropped;
        self.rejects_dropped += o.rejects_dropped;
        self.files_deleted += o.files_deleted;
        self.files_kept += o.files_kept;
    }
}

impl CompactSummary {
    /// The store `w` holds, before any change.
    fn before(w: &StoreWriter, opts: &CompactOptions) -> CompactSummary {
        let m = w.manifest();
        CompactSummary {
            data_dir: w.dir().root().display().to_string(),
            dry_run: opts.dry_run,
            segments_before: m.segments.iter().filter(|e| e.file.is_some()).count(),
            bytes_before: m.bytes(),
            rows_before: m.rows(),
            files_deleted: w.retired_removed,
            ..CompactSummary::default()
        }
    }
}

/// Progress: (groups done, groups planned, rows written so far).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, u64) + Sync);

/// Merge small segments of `dir` (of each shard of a sharded root).
pub fn compact(
    dir: &DataDir,
    opts: &CompactOptions,
    progress: Progress<'_>,
) -> Result<CompactSummary> {
    each_store(dir, opts, |w| compact_open(w, opts, progress))
}

/// Run `work` on each store of `dir` under its writer lock, and sum what it did.
fn each_store(
    dir: &DataDir,
    opts: &CompactOptions,
    mut work: impl FnMut(&mut StoreWriter) -> Result<CompactSummary>,
) -> Result<CompactSummary> {
    let started = Instant::now();
    let mut total = CompactSummary {
        data_dir: dir.root().display().to_string(),
        dry_run: opts.dry_run,
        ..CompactSummary::default()
    };
    for store in stores_of(dir)? {
        let mut w = store.open_writer(opts.wait_lock)?;
        total.add(work(&mut w)?);
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// The rejects files of `entries`, concatenated (a newline added where one is missing).
fn concat_rejects<'a>(
    dir: &DataDir,
    entries: impl IntoIterator<Item = &'a SegmentEntry>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        if let Some(f) = &e.rejects_file {
            out.extend_from_slice(&io::read_file(&dir.root().join(f))?);
            if out.last().is_some_and(|&b| b != b'\n') {
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// The stores to work on: `dir`, or every written shard of a sharded root.
fn stores_of(dir: &DataDir) -> Result<Vec<DataDir>> {
    if shards::is_sharded(dir.root()) {
        return shards::stores(dir);
    }
    if !dir.exists() {
        return Err(Error::NoDataDir {
            path: dir.root().to_path_buf(),
        });
    }
    Ok(vec![dir.clone()])
}

/// The groups of entries to merge, by `opts.policy`: each of at least two entries, in
/// event-time order.
pub fn plan(segments: &[SegmentEntry], opts: &CompactOptions) -> Vec<Vec<SegmentEntry>> {
    let target = opts.target_rows.max(1);
    let mut small: Vec<&SegmentEntry> = segments.iter().filter(|e| e.rows < target).collect();
    small.sort_by_key(|e| (e.min_time.is_none(), e.min_time, e.id));
    let pack = |items: &[&SegmentEntry]| -> Vec<Vec<SegmentEntry>> {
        let mut groups: Vec<Vec<SegmentEntry>> = Vec::new();
        let mut cur: Vec<SegmentEntry> = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for e in items {
            let fits = rows + e.rows <= target && bytes + e.input_bytes <= opts.max_input_bytes;
            if !cur.is_empty() && !fits {
                groups.push(std::mem::take(&mut cur));
                rows = 0;
                bytes = 0;
            }
            rows += e.rows;
            bytes += e.input_bytes;
            cur.push((*e).clone());
        }
        groups.push(cur);
        groups.retain(|g| g.len() >= 2);
        groups
    };
    match opts.policy {
        Policy::All => pack(&small),
        Policy::Tiered => {
            let level = |rows: u64| {
                let mut l = 0;
                let mut cap = FLOOR_ROWS;
                while rows > cap {
                    cap = cap.saturating_mul(MERGE_FACTOR as u64);
                    l += 1;
                }
                l
            };
            let mut levels: std::collections::BTreeMap<u32, Vec<&SegmentEntry>> =
                Default::default();
            for e in small {
                levels.entry(level(e.rows)).or_default().push(e);
            }
            let mut out = Vec::new();
            for (_, items) in levels {
                if items.len() >= MERGE_FACTOR {
                    out.extend(pack(&items));
                }
            }
            out
        }
    }
}

/// Compact the store `w` holds the lock of.
pub fn compact_open(
    w: &mut StoreWriter,
    opts: &CompactOptions,
    progress: Progress<'_>,
) -> Result<CompactSummary> {
    let before = w.manifest().segments.clone();
    let mut s = CompactSummary::before(w, opts);
    let groups = plan(&before, opts);
    s.groups = groups.len();
    s.segments_replaced = groups.iter().map(Vec::len).sum();
    if opts.dry_run {
        let merged: usize = groups
            .iter()
            .map(|g| g.iter().any(|e| e.file.is_some()) as usize)
            .sum();
        s.segments_after = s.segments_before + merged
            - groups.iter().flatten().filter(|e| e.file.is_some()).count();
        s.bytes_after = s.bytes_before;
        s.rows_after = s.rows_before;
        s.files_kept = w.manifest().retired.len();
        return Ok(s);
    }
    let wopts = WriteOptions {
        zstd_level: opts.zstd_level,
        index_columns: w.manifest().index_columns.clone(),
    };
    let mut rows_done = 0u64;
    for (gi, group) in groups.iter().enumerate() {
        if opts.cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let rows: u64 = group.iter().map(|e| e.rows).sum();
        rewrite(w, group, &wopts, opts.target_rows, |_| true, "c")?;
        rows_done += rows;
        progress(gi + 1, groups.len(), rows_done);
    }
    s.files_deleted += w.sweep_retired()?;
    finish(w, &mut s);
    Ok(s)
}

fn finish(w: &StoreWriter, s: &mut CompactSummary) {
    let m = w.manifest();
    s.segments_after = m.segments.iter().filter(|e| e.file.is_some()).count();
    s.bytes_after = m.bytes();
    s.rows_after = m.rows();
    s.files_kept = m.retired.len();
}

/// Replace `group` (live entries of `w`) by its rows that `keep` accepts, in event-time order,
/// in segments of at most `target_rows` rows, with their rejects files concatenated; one
/// commit. `tag` names the temporary files.
fn rewrite(
    w: &mut StoreWriter,
    group: &[SegmentEntry],
    wopts: &WriteOptions,
    target_rows: u64,
    keep: impl Fn(Option<i64>) -> bool,
    tag: &str,
) -> Result<Vec<u64>> {
    let dir = w.dir().clone();
    let mut readers = Vec::new();
    for e in group {
        if let Some(r) = dir.open_segment(e)? {
            readers.push(r);
        }
    }
    let sources: Vec<&SegmentReader> = readers.iter().collect();
    let order = merge::time_order(&sources, keep)?;
    let input_bytes: u64 = group.iter().map(|e| e.input_bytes).sum();
    let mut segments = write_merged(&dir.tmp_dir(), &sources, &order, target_rows, wopts, tag)?;
    if let Some((_, head)) = segments.first_mut() {
        head.input_bytes = input_bytes;
    }
    let rejects = concat_rejects(&dir, group)?;
    drop(sources);
    drop(readers);
    w.commit(Batch {
        segments,
        rejects: &rejects,
        reject_count: group.iter().map(|e| e.rejects).sum(),
        ranges: Vec::new(),
        replaces: group.iter().map(|e| e.id).collect(),
    })
}

/// Write `order` (rows of `sources`) as segments of at most `target_rows` rows to `tmp/`,
/// fsynced: the files and their summaries, for a [`Batch`].
pub fn write_merged(
    tmp_dir: &std::path::Path,
    sources: &[&SegmentReader],
    order: &[RowRef],
    target_rows: u64,
    wopts: &WriteOptions,
    tag: &str,
) -> Result<Vec<(PathBuf, SegmentEntry)>> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut out = Vec::new();
    for part in order.chunks(target_rows.max(1) as usize) {
        let enc = merge::merge(sources, part, wopts)?;
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = tmp_dir.join(format!("{tag}{}-{n}.lps", std::process::id()));
        io::write_synced(&tmp, &enc.bytes)?;
        out.push((tmp, SegmentEntry::unlisted(part.len() as u64, &enc)));
    }
    Ok(out)
}

/// Open a segment file that is not (yet) listed: an ingest worker's flush in `tmp/`.
pub fn open_unlisted(path: &std::path::Path) -> Result<SegmentReader> {
    SegmentReader::new(MappedFile::open(path)?)
}

/// Drop the events of `dir` (of each shard) whose event time is before `cut` (ns since the
/// epoch): segments entirely before it are dropped with their rejects files, segments it cuts
/// through are rewritten without those rows; all in one commit per store. Rows without an
/// event time are kept.
pub fn retain(dir: &DataDir, cut: i64, opts: &CompactOptions) -> Result<CompactSummary> {
    each_store(dir, opts, |w| retain_open(w, cut, opts))
}

fn retain_open(w: &mut StoreWriter, cut: i64, opts: &CompactOptions) -> Result<CompactSummary> {
    let before = w.manifest().segments.clone();
    let mut s = CompactSummary::before(w, opts);
    let mut dropped = Vec::new();
    let mut cut_through = Vec::new();
    for e in before.iter().filter(|e| e.file.is_some()) {
        match (e.min_time, e.max_time) {
            (Some(_), Some(hi)) if hi < cut && e.null_time == 0 => dropped.push(e.clone()),
            (Some(lo), Some(_)) if lo < cut => cut_through.push(e.clone()),
            _ => {}
        }
    }
    s.segments_dropped = dropped.len();
    s.groups = cut_through.len();
    s.segments_replaced = dropped.len() + cut_through.len();
    s.rejects_dropped = dropped.iter().map(|e| e.rejects).sum();
    if opts.dry_run || s.segments_replaced == 0 {
        // The rows a cut-through segment would lose, from its time column.
        let mut cut_rows = 0u64;
        for e in &cut_through {
            if let Some(r) = w.dir().open_segment(e)? {
                cut_rows += merge::row_times(&r)?
                    .iter()
                    .filter(|t| t.is_some_and(|t| t < cut))
                    .count() as u64;
            }
        }
        s.segments_after = s.segments_before - dropped.len();
        s.bytes_after = s.bytes_before - dropped.iter().map(|e| e.bytes).sum::<u64>();
        s.rows_after = s.rows_before - dropped.iter().map(|e| e.rows).sum::<u64>() - cut_rows;
        s.files_kept = w.manifest().retired.len();
        return Ok(s);
    }
    let wopts = WriteOptions {
        zstd_level: opts.zstd_level,
        index_columns: w.manifest().index_columns.clone(),
    };
    let dir = w.dir().clone();
    let mut segments = Vec::new();
    for e in &cut_through {
        if opts.cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        let Some(r) = dir.open_segment(e)? else {
            continue;
        };
        let order = merge::time_order(&[&r], |t| t.is_none_or(|t| t >= cut))?;
        let mut parts = write_merged(&dir.tmp_dir(), &[&r], &order, u64::MAX, &wopts, "r")?;
        if let Some((_, head)) = parts.first_mut() {
            head.input_bytes = e.input_bytes;
        }
        segments.extend(parts);
    }
    // A segment cut through keeps its rejects (they are not events of a time).
    let rejects = concat_rejects(&dir, &cut_through)?;
    let reject_count = cut_through.iter().map(|e| e.rejects).sum();
    w.commit(Batch {
        segments,
        rejects: &rejects,
        reject_count,
        ranges: Vec::new(),
        replaces: dropped
            .iter()
            .chain(cut_through.iter())
            .map(|e| e.id)
            .collect(),
    })?;
    s.files_deleted += w.sweep_retired()?;
    finish(w, &mut s);
    Ok(s)
}
