//! Ingest: JSON logs in, committed segments out.
//!
//! A crossbeam pipeline on all cores:
//!
//! ```text
//! reader thread ──chunks──▶ N parse workers ──flushed batches──▶ committer (calling thread)
//!  (decompress, split at       (simd-json, flatten,               (rename into segments/,
//!   record boundaries,          column builders, encode,           write rejects, replace
//!   skip committed ranges)      write tmp/ + fsync)                the manifest)
//! ```
//! Both channels are bounded, so memory stays bounded whatever the input size: at most
//! `2 x threads` chunks in flight plus one builder per worker (flushed at `segment_rows` rows,
//! `segment_bytes` of builder memory, or 2^28 rows x columns).
//!
//! Exactly once: each batch carries the input ranges it covers, and the manifest commit that
//! publishes the segment also records them. A killed ingest re-run with the same inputs skips
//! committed ranges and re-reads the rest.

pub mod follow;
pub mod reader;
pub mod rejects;
pub mod shard;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::io;
use crate::json::split::{detect_input, looks_like_json, InputShape, RecordsPath};
use crate::store::{Batch, DataDir, InputEntry, StoreWriter};

use reader::{Chunk, InputEnd, InputPlan, InputReader, ReaderConfig};

pub use reader::StreamBreak;
use worker::{Flushed, Worker};

pub use worker::TimeSelector;

/// Everything `logpivot ingest` can be told.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Files, directories (walked in sorted order) or `-` for stdin.
    pub inputs: Vec<PathBuf>,
    /// The time field; None = automatic (`Datetime`, `timestamp`, `@timestamp`, `ts`, `time`).
    pub time_field: Option<String>,
    /// Columns to add to the data directory's value (rule-ID) index list (`RuleID` for a new
    /// one); None = keep the list.
    pub index_columns: Option<Vec<String>>,
    pub threads: usize,
    /// Make the first bad record fatal.
    pub strict: bool,
    pub max_line_bytes: usize,
    pub chunk_bytes: usize,
    pub segment_rows: usize,
    pub segment_bytes: usize,
    pub zstd_level: i32,
    /// Wait for another writer's lock instead of failing.
    pub wait_lock: bool,
    /// The array that holds the events inside each top-level object (`--records`); None =
    /// automatic (CloudTrail's `Records`, see [`crate::json::split::detect_input`]).
    pub records: Option<RecordsPath>,
    /// Stops this ingest (and only it) when cancelled: what was committed stays, the next run
    /// resumes after it.
    pub cancel: crate::Cancel,
    /// Make the data directory a sharded root of this many shards (or check that it is one);
    /// a sharded root is ingested shard by shard whether or not this is set (see [`shard`]).
    pub shards: Option<usize>,
    /// The directory is one shard of a sharded root and the inputs are the files
    /// [`shard::plan_shards`] gave it (without this, ingesting into a shard directly is
    /// refused: its files could belong to other shards).
    pub as_shard: bool,
    /// After the run, merge small segments by the tiered policy
    /// ([`crate::store::compact::Policy::Tiered`]).
    pub compact: bool,
    /// Inputs that are another input renamed: (the path now, the path it was ingested under).
    /// `follow` sets it for a rotated log (`eve.json` renamed to `eve.json.1`), so that the
    /// rest of the old file is read as the same input even when it is too short for its
    /// fingerprint to stay the same.
    pub renamed: Vec<(PathBuf, String)>,
    /// The inputs may still be written to: a last line without a newline is left for the next
    /// run (set by [`follow`]).
    pub open_tail: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            inputs: Vec::new(),
            time_field: None,
            index_columns: None,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            strict: false,
            max_line_bytes: 16 << 20,
            chunk_bytes: 1 << 20,
            segment_rows: 1 << 20,
            segment_bytes: 144 << 20,
            zstd_level: 1,
            wait_lock: false,
            records: None,
            cancel: crate::Cancel::new(),
            shards: None,
            as_shard: false,
            compact: false,
            renamed: Vec::new(),
            open_tail: false,
        }
    }
}

/// Live counters, shared with a progress display.
#[derive(Default, Debug)]
pub struct IngestProgress {
    /// Raw (possibly compressed) bytes read from inputs.
    pub raw_bytes: Arc<AtomicU64>,
    /// Raw bytes of all inputs, when known (0 = unknown, e.g. stdin).
    pub raw_total: AtomicU64,
    /// Decompressed bytes parsed.
    pub bytes: AtomicU64,
    pub events: AtomicU64,
    pub rejects: AtomicU64,
    pub repaired: AtomicU64,
    pub segments: AtomicU64,
    /// The input being read.
    pub current: Mutex<String>,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IngestSummary {
    pub events: u64,
    pub rejects: u64,
    pub repaired: u64,
    pub segments: u64,
    /// Decompressed input bytes processed in this run.
    pub bytes_in: u64,
    /// Raw input bytes read in this run.
    pub raw_bytes_in: u64,
    /// Bytes of the segment files written in this run.
    pub bytes_on_disk: u64,
    pub events_without_time: u64,
    pub seconds: f64,
    /// Inputs skipped, with the reason (e.g. already ingested).
    pub skipped: Vec<(String, String)>,
    /// Files of walked directories that are not JSON logs, with the reason.
    pub not_logs: Vec<(String, String)>,
    /// Compressed inputs whose stream ended early or broke: their complete records before the
    /// break were ingested, the rest was not (run again once the file is whole).
    pub broken: Vec<(String, StreamBreak)>,
    /// Inputs read as envelopes, with the path of their records array (empty: a stream of
    /// JSON objects spread over lines, each an event).
    pub envelopes: Vec<(String, String)>,
    /// Inputs that were resumed (some ranges already committed).
    pub resumed: Vec<String>,
    pub orphans_removed: usize,
    pub data_dir: String,
    /// Segments of the store under `segment_rows` rows after the run.
    pub small_segments: usize,
    /// What `compact` merged after the run.
    pub compaction: Option<crate::store::compact::CompactSummary>,
}

/// Settings shared by the workers.
pub struct Shared {
    pub inputs: Vec<RunInput>,
    pub time: TimeSelector,
    pub index_columns: Vec<String>,
    pub strict: bool,
    pub segment_rows: usize,
    pub segment_bytes: usize,
    pub zstd_level: i32,
    pub tmp_dir: PathBuf,
    pub progress: Arc<IngestProgress>,
}

/// One input of this run.
#[derive(Clone, Debug)]
pub struct RunInput {
    pub path: PathBuf,
    pub display: String,
    pub fingerprint: String,
    pub shape: InputShape,
    pub records: Option<RecordsPath>,
    /// Read the shape from the first bytes (stdin).
    pub detect: bool,
    pub known_break: Option<u64>,
}

/// A file that was not read, and why: (path, reason).
pub type Skipped = (String, String);

/// How many decompressed bytes are read to decide what an input is.
const SNIFF_BYTES: usize = 64 << 10;

/// Is the file at `path` a JSON log? Its first decompressed bytes must be `{` or `[` (after an
/// optional byte order mark and whitespace), whatever its name; None when it is, else why not.
pub fn not_a_log(path: &Path) -> Option<String> {
    let mut opened = match io::open_input(path, 0, Arc::new(AtomicU64::new(0))) {
        Ok(o) => o,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let mut head = vec![0u8; 4096];
    let (n, err) = io::read_full_partial(&mut opened.reader, &mut head);
    let head = &head[..n];
    if looks_like_json(head) {
        return None;
    }
    let packed = match opened.compression {
        io::Compression::None => "",
        io::Compression::Gzip => "gzip-compressed, ",
        io::Compression::Zstd => "zstd-compressed, ",
    };
    Some(match err {
        Some(e) if n == 0 => format!("{packed}unreadable: {e}"),
        _ if head.iter().all(u8::is_ascii_whitespace) => format!("{packed}empty"),
        _ if head.contains(&0) => format!("{packed}binary, not JSON"),
        _ => {
            let first: String = String::from_utf8_lossy(&head[..head.len().min(24)])
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("{packed}not JSON (starts with `{}`)", first.trim_end())
        }
    })
}

/// Expand directories into their log files (sorted), with the files of walked directories that
/// are not logs and why. A file named on the command line is taken as given.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut out = Vec::new();
    let mut not_logs = Vec::new();
    for p in inputs {
        if p.as_os_str() == "-" {
            out.push(p.clone());
        } else if p.is_dir() {
            for f in io::walk_sorted(p)? {
                match not_a_log(&f) {
                    None => out.push(f),
                    Some(why) => not_logs.push((f.display().to_string(), why)),
                }
            }
        } else if !p.exists() {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
            ));
        } else {
            out.push(p.clone());
        }
    }
    Ok((out, not_logs))
}

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Identity of an input file: a hash of its first 64 KiB and their length.
pub fn fingerprint(path: &Path) -> Result<String> {
    Ok(fingerprint_of(&io::read_prefix(path)?))
}

/// The fingerprint of an input's first raw bytes (see [`fingerprint`]).
fn fingerprint_of(prefix: &[u8]) -> String {
    format!("{:016x}-{}", fnv64(prefix), prefix.len())
}

/// Decompressed first bytes of an input, to detect its shape (and envelope path).
fn sniff_shape(
    path: &Path,
    records: Option<&RecordsPath>,
) -> Result<(InputShape, Option<RecordsPath>)> {
    let mut opened = io::open_input(path, 0, Arc::new(AtomicU64::new(0)))?;
    let mut head = vec![0u8; SNIFF_BYTES];
    // A broken stream is sniffed from what decodes; the reader reports the break.
    let (n, _) = io::read_full_partial(&mut opened.reader, &mut head);
    Ok(detect_input(&head[..n], records))
}

/// Ingest `opts.inputs` into `dir`.
pub fn ingest(
    dir: &DataDir,
    opts: &IngestOptions,
    progress: Arc<IngestProgress>,
) -> Result<IngestSummary> {
    if opts.shards.is_some() || crate::store::shards::is_sharded(dir.root()) {
        return shard::ingest_sharded(dir, opts, progress);
    }
    if !opts.as_shard {
        if let Some(root) = crate::store::shards::root_of_shard(dir.root()) {
            return Err(Error::invalid(format!(
                "{} is a shard of the sharded root {}: ingest into the root (each file goes \
                 to the shard that owns it)",
                dir.root().display(),
                root.display()
            )));
        }
    }
    let started = Instant::now();
    let base = [
        &progress.events,
        &progress.rejects,
        &progress.repaired,
        &progress.bytes,
        &progress.raw_bytes,
        &progress.segments,
    ]
    .map(|c| c.load(Ordering::Relaxed));
    let mut store = dir.open_writer(opts.wait_lock)?;
    let mut summary = IngestSummary {
        orphans_removed: store.orphans_removed,
        data_dir: dir.root().display().to_string(),
        ..IngestSummary::default()
    };
    apply_settings(&mut store, opts)?;
    let (run, plans) = plan_inputs(&mut store, opts, &mut summary, &progress)?;
    store.save()?;
    if run.is_empty() {
        after_run(&mut store, opts, &mut summary)?;
        summary.seconds = started.elapsed().as_secs_f64();
        if summary.skipped.is_empty() {
            return Err(no_logs(opts, &summary));
        }
        return Ok(summary);
    }
    let shared = Shared {
        inputs: run,
        time: match &store.manifest().time_field {
            Some(f) => TimeSelector::Field(f.clone()),
            None => TimeSelector::auto(),
        },
        index_columns: store.manifest().index_columns.clone(),
        strict: opts.strict,
        segment_rows: opts.segment_rows.max(1),
        segment_bytes: opts.segment_bytes.max(1 << 20),
        zstd_level: opts.zstd_level,
        tmp_dir: dir.tmp_dir(),
        progress: progress.clone(),
    };
    let ends = run_pipeline(&mut store, &shared, plans, opts)?;
    for (i, end) in ends {
        let input = &shared.inputs[i];
        if let Some(e) = store.manifest_mut().input_mut(&input.fingerprint) {
            e.shape = end.shape;
            e.records = end.records.clone();
            e.broken_at = end.broken.as_ref().map(|b| b.offset);
            // A broken input is not complete: the next run reads on from its last record.
            e.total_len = if end.broken.is_some() {
                None
            } else {
                Some(end.len)
            };
        }
        if end.shape == InputShape::Envelope {
            let path = end
                .records
                .as_ref()
                .map_or(String::new(), |p| p.to_string());
            summary.envelopes.push((input.display.clone(), path));
        }
        if let Some(b) = end.broken {
            summary.broken.push((input.display.clone(), b));
        }
    }
    store.save()?;
    // The counters may have started above zero (the shards of a sharded root share one
    // progress display): this run's part.
    let since = |c: &AtomicU64, at: u64| c.load(Ordering::Relaxed).saturating_sub(at);
    summary.events = since(&progress.events, base[0]);
    summary.rejects = since(&progress.rejects, base[1]);
    summary.repaired = since(&progress.repaired, base[2]);
    summary.bytes_in = since(&progress.bytes, base[3]);
    summary.raw_bytes_in = since(&progress.raw_bytes, base[4]);
    summary.segments = since(&progress.segments, base[5]);
    finish_summary(&store, &mut summary);
    after_run(&mut store, opts, &mut summary)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Compact by the tiered policy when asked, and count the small segments left.
fn after_run(
    store: &mut StoreWriter,
    opts: &IngestOptions,
    summary: &mut IngestSummary,
) -> Result<()> {
    let target = opts.segment_rows.max(1) as u64;
    if opts.compact {
        let c = crate::store::compact::CompactOptions {
            target_rows: target,
            max_input_bytes: opts.segment_bytes.max(1 << 20) as u64,
            policy: crate::store::compact::Policy::Tiered,
            zstd_level: opts.zstd_level,
            cancel: opts.cancel.clone(),
            ..Default::default()
        };
        summary.compaction = Some(crate::store::compact::compact_open(
            store,
            &c,
            &|_, _, _| {},
        )?);
    }
    summary.small_segments = store
        .manifest()
        .segments
        .iter()
        .filter(|e| e.file.is_some() && e.rows < target)
        .count();
    Ok(())
}

/// The error of an ingest that found no log among its inputs.
pub(crate) fn no_logs(opts: &IngestOptions, summary: &IngestSummary) -> Error {
    let inputs = opts
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let n = summary.not_logs.len();
    let skipped = if n == 0 {
        "the directories hold no files".to_string()
    } else {
        let first: Vec<String> = summary
            .not_logs
            .iter()
            .take(3)
            .map(|(f, why)| format!("{f} ({why})"))
            .collect();
        let more = if n > 3 {
            format!(" and {} more", n - 3)
        } else {
            String::new()
        };
        format!(
            "{n} file{} skipped, none starts with `{{` or `[`: {}{more}",
            if n == 1 { "" } else { "s" },
            first.join(", ")
        )
    };
    Error::NoLogs { inputs, skipped }
}

fn finish_summary(store: &StoreWriter, summary: &mut IngestSummary) {
    let m = store.manifest();
    let new: Vec<_> = m
        .segments
        .iter()
        .rev()
        .filter(|s| s.file.is_some())
        .take(summary.segments as usize)
        .collect();
    summary.bytes_on_disk = new.iter().map(|s| s.bytes).sum();
    summary.events_without_time = new.iter().map(|s| s.null_time).sum();
}

fn apply_settings(store: &mut StoreWriter, opts: &IngestOptions) -> Result<()> {
    let m = store.manifest_mut();
    if let Some(idx) = &opts.index_columns {
        // Additive: a column indexed once stays indexed for later ingests into the directory.
        for c in idx {
            if !m.index_columns.contains(c) {
                m.index_columns.push(c.clone());
            }
        }
    }
    if let Some(tf) = &opts.time_field {
        m.time_field = Some(tf.clone());
    }
    Ok(())
}

type Plans = Vec<(usize, Vec<crate::store::Range>)>;

fn plan_inputs(
    store: &mut StoreWriter,
    opts: &IngestOptions,
    summary: &mut IngestSummary,
    progress: &IngestProgress,
) -> Result<(Vec<RunInput>, Plans)> {
    let (files, not_logs) = expand_inputs(&opts.inputs)?;
    summary.not_logs = not_logs;
    let mut run = Vec::new();
    let mut plans = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut raw_total = 0u64;
    for path in files {
        let display = path.display().to_string();
        let stdin = path.as_os_str() == "-";
        // The first raw bytes give both the identity and the compression.
        let prefix = if stdin {
            Vec::new()
        } else {
            io::read_prefix(&path)?
        };
        let (fp, raw_size) = if stdin {
            (format!("stdin-{}-{}", std::process::id(), now_nanos()), 0)
        } else {
            (fingerprint_of(&prefix), io::file_len(&path)?)
        };
        if !seen.insert(fp.clone()) {
            summary.skipped.push((
                display,
                "same content as an earlier input of this run".into(),
            ));
            continue;
        }
        let (shape, records) = if stdin {
            (InputShape::Ndjson, opts.records.clone())
        } else {
            sniff_shape(&path, opts.records.as_ref())?
        };
        let was = opts
            .renamed
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(display.as_str(), |(_, was)| was.as_str());
        adopt_grown_input(store, was, &prefix, &fp, raw_size, opts.open_tail);
        let (committed, known_break) = match store.manifest_mut().input_mut(&fp) {
            Some(e) if e.complete() && e.raw_size == raw_size => {
                summary.skipped.push((
                    display,
                    format!(
                        "already ingested ({} events, {} rejects)",
                        e.rows, e.rejects
                    ),
                ));
                continue;
            }
            Some(e) => {
                e.raw_size = raw_size;
                e.total_len = None;
                if e.committed.is_empty() {
                    // Nothing of it is in yet: read it as it looks now.
                    e.shape = shape;
                    e.records = records.clone();
                } else {
                    summary.resumed.push(display.clone());
                }
                (e.committed.clone(), e.broken_at)
            }
            None => {
                let compression = io::Compression::detect(&prefix);
                store.manifest_mut().inputs.push(InputEntry {
                    path: display.clone(),
                    fingerprint: fp.clone(),
                    shape,
                    compression,
                    raw_size,
                    committed: Vec::new(),
                    total_len: None,
                    rows: 0,
                    rejects: 0,
                    repaired: 0,
                    records: records.clone(),
                    broken_at: None,
                });
                (Vec::new(), None)
            }
        };
        // A resumed input is read as it was first read (its ranges are in that shape).
        let (shape, records) = match store.manifest_mut().input_mut(&fp) {
            Some(e) => (e.shape, e.records.clone()),
            None => (shape, records),
        };
        raw_total += raw_size;
        plans.push((run.len(), committed));
        run.push(RunInput {
            path,
            display,
            fingerprint: fp,
            shape,
            records,
            detect: stdin,
            known_break,
        });
    }
    progress.raw_total.fetch_add(raw_total, Ordering::Relaxed);
    Ok((run, plans))
}

/// A file that grew since it was last read (a truncated `.gz` copied again whole, a log still
/// being written) had a shorter first-64-KiB prefix then, so its fingerprint changed. When an
/// input of the same path (unfinished, or complete at a smaller size: a log appended to) has a
/// fingerprint that hashes the first bytes of this file, it is the same input: it takes the new
/// fingerprint, and its committed ranges stand.
///
/// When following logs (`siblings`), an input of another path in the same directory counts
/// too: the copy a copytruncate rotation made (`eve.json.1`) holds what was written to
/// `eve.json` since it was last read, after the part already committed.
fn adopt_grown_input(
    store: &mut StoreWriter,
    display: &str,
    prefix: &[u8],
    fp: &str,
    size: u64,
    siblings: bool,
) {
    let m = store.manifest_mut();
    if m.input_mut(fp).is_some() {
        return;
    }
    let parent = |p: &str| Path::new(p).parent().map(Path::to_path_buf);
    let matches = |e: &InputEntry| {
        (!e.complete() || size > e.raw_size)
            && e.fingerprint
                .rsplit_once('-')
                .and_then(|(h, n)| Some((h, n.parse::<usize>().ok()?)))
                .is_some_and(|(h, n)| {
                    n < prefix.len() && h == format!("{:016x}", fnv64(&prefix[..n]))
                })
    };
    // The input of this very path first; then, when following, a sibling's.
    let grown = m
        .inputs
        .iter()
        .position(|e| e.path == display && matches(e))
        .or_else(|| {
            siblings
                .then(|| {
                    m.inputs.iter().position(|e| {
                        e.path != "-" && parent(&e.path) == parent(display) && matches(e)
                    })
                })
                .flatten()
        });
    if let Some(e) = grown.and_then(|i| m.inputs.get_mut(i)) {
        e.fingerprint = fp.to_string();
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn run_pipeline(
    store: &mut StoreWriter,
    shared: &Shared,
    plans: Plans,
    opts: &IngestOptions,
) -> Result<Vec<(usize, InputEnd)>> {
    let threads = opts.threads.max(1);
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Result<Flushed>>(threads);
    let abort = AtomicBool::new(false);
    // Room for every chunk in flight plus one per worker, so that buffers circulate.
    let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Vec<u8>>(threads * 3 + 1);
    let recycle_cap = 2 * (opts.chunk_bytes.max(4096) + 4096);
    let cfg = ReaderConfig {
        chunk_bytes: opts.chunk_bytes.max(4096),
        max_line_bytes: opts.max_line_bytes.max(1024),
        recycled: Some(recycle_rx),
        cancel: opts.cancel.clone(),
        open_tail: opts.open_tail,
    };
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let r = read_all(shared, &plans, &cfg, &chunk_tx, &abort);
            drop(chunk_tx);
            r
        });
        for id in 0..threads {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let recycle = recycle_tx.clone();
            let abort = &abort;
            s.spawn(move || work(id, shared, rx, tx, recycle, recycle_cap, abort));
        }
        drop(chunk_rx);
        drop(done_tx);
        drop(recycle_tx);
        let committed = commit_loop(store, shared, &done_rx, &abort);
        if committed.is_err() {
            abort.store(true, Ordering::Relaxed);
            // Drain so blocked workers can finish.
            for _ in done_rx.iter() {}
        }
        let read = reader
            .join()
            .unwrap_or(Err(Error::invalid("the reader thread panicked")));
        committed?;
        read
    })
}

fn read_all(
    shared: &Shared,
    plans: &Plans,
    cfg: &ReaderConfig,
    tx: &crossbeam_channel::Sender<Chunk>,
    abort: &AtomicBool,
) -> Result<Vec<(usize, InputEnd)>> {
    let mut totals = Vec::new();
    for (i, committed) in plans {
        let input = &shared.inputs[*i];
        if let Ok(mut cur) = shared.progress.current.lock() {
            cur.clone_from(&input.display);
        }
        let plan = InputPlan {
            index: *i,
            path: &input.path,
            display: &input.display,
            shape: input.shape,
            records: input.records.as_ref(),
            detect: input.detect,
            committed,
            known_break: input.known_break,
        };
        let r = InputReader::open(plan, cfg, shared.progress.raw_bytes.clone(), abort)?;
        let mut emit = |c: Chunk| tx.send(c).map_err(|_| Error::Interrupted);
        let end = r.run(&mut emit)?;
        totals.push((*i, end));
    }
    Ok(totals)
}

fn work(
    id: usize,
    shared: &Shared,
    rx: crossbeam_channel::Receiver<Chunk>,
    tx: crossbeam_channel::Sender<Result<Flushed>>,
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    recycle_cap: usize,
    abort: &AtomicBool,
) {
    let mut w = Worker::new(id, shared);
    for chunk in rx.iter() {
        if abort.load(Ordering::Relaxed) {
            return;
        }
        let processed = w.process(&chunk);
        // Hand the buffer back to the reader; when the pool is full, or the buffer grew for a
        // long line, it is simply freed (the pool never holds more than its chunk-sized
        // buffers).
        if chunk.data.capacity() <= recycle_cap {
            let _ = recycle.try_send(chunk.data);
        }
        match processed {
            Ok(Some(f)) => {
                if tx.send(Ok(f)).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                abort.store(true, Ordering::Relaxed);
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
    if !w.is_empty() && !abort.load(Ordering::Relaxed) {
        let _ = tx.send(w.flush().map(|mut f| {
            f.last = true;
            f
        }));
    }
}

fn commit_loop(
    store: &mut StoreWriter,
    shared: &Shared,
    rx: &crossbeam_channel::Receiver<Result<Flushed>>,
    abort: &AtomicBool,
) -> Result<()> {
    // The workers' last (partial) flushes, merged once every worker is done.
    let mut last = Vec::new();
    loop {
        let msg = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(m) => m,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return if abort.load(Ordering::Relaxed) {
                    Err(Error::Interrupted)
                } else {
                    commit_last(store, shared, last)
                };
            }
        };
        // The first real error wins; after an abort, batches still in flight are dropped
        // (their ranges stay uncommitted and are re-read by the next run).
        let f = msg?;
        if abort.load(Ordering::Relaxed) {
            continue;
        }
        if f.last {
            last.push(f);
            continue;
        }
        commit_flushed(store, shared, f)?;
    }
}

fn commit_flushed(store: &mut StoreWriter, shared: &Shared, f: Flushed) -> Result<()> {
    let has_segment = f.segment.is_some();
    let ranges = f
        .ranges
        .into_iter()
        .map(|(i, r, rows, rej, rep)| (shared.inputs[i].fingerprint.clone(), r, rows, rej, rep))
        .collect();
    store.commit(Batch::ingest(f.segment, &f.rejects, f.reject_count, ranges))?;
    if has_segment {
        shared.progress.segments.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Commit the workers' last flushes. Their partial segments are merged (rows in event-time
/// order) into as few segments as `segment_rows` and `segment_bytes` allow, so a run leaves at
/// most one partial segment however many workers it had; all of them in one commit with every
/// range they cover.
fn commit_last(store: &mut StoreWriter, shared: &Shared, last: Vec<Flushed>) -> Result<()> {
    if last.iter().filter(|f| f.segment.is_some()).count() < 2 {
        for f in last {
            commit_flushed(store, shared, f)?;
        }
        return Ok(());
    }
    let tmps: Vec<PathBuf> = last
        .iter()
        .filter_map(|f| f.segment.as_ref().map(|s| s.0.clone()))
        .collect();
    let readers = tmps
        .iter()
        .map(|p| crate::store::compact::open_unlisted(p))
        .collect::<Result<Vec<_>>>()?;
    let sources: Vec<&crate::segment::SegmentReader> = readers.iter().collect();
    let order = crate::segment::merge::time_order(&sources, |_| true)?;
    let rows = order.len() as u64;
    let input: u64 = last
        .iter()
        .flat_map(|f| f.ranges.iter().map(|r| r.1.end - r.1.start))
        .sum();
    // Rows per merged segment: `segment_rows`, fewer when the input behind them would exceed
    // `segment_bytes` (the builder's memory grows with it).
    let by_bytes = (rows as u128 * shared.segment_bytes as u128 / input.max(1) as u128) as u64;
    let cap = (shared.segment_rows as u64).min(by_bytes.max(1));
    let wopts = crate::segment::WriteOptions {
        zstd_level: shared.zstd_level,
        index_columns: shared.index_columns.clone(),
    };
    let segments =
        crate::store::compact::write_merged(&shared.tmp_dir, &sources, &order, cap, &wopts, "m")?;
    drop(sources);
    drop(readers);
    for t in &tmps {
        io::remove_file(t)?;
    }
    let mut rejects = Vec::new();
    let mut reject_count = 0;
    let mut ranges = Vec::new();
    for f in last {
        rejects.extend_from_slice(&f.rejects);
        reject_count += f.reject_count;
        ranges.extend(f.ranges.into_iter().map(|(i, r, rows, rej, rep)| {
            (shared.inputs[i].fingerprint.clone(), r, rows, rej, rep)
        }));
    }
    let n = segments.len() as u64;
    store.commit(Batch {
        segments,
        rejects: &rejects,
        reject_count,
        ranges,
        replaces: Vec::new(),
    })?;
    shared.progress.segments.fetch_add(n, Ordering::Relaxed);
    Ok(())
}
