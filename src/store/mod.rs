//! The data directory: manifest, writer lock, segment and rejects files, and the commit protocol.
//!
//! ```text
//! DIR/MANIFEST                 live segments and committed input ranges (JSON, atomic replace)
//! DIR/LOCK                     writer lock (flock), holds the writer's pid
//! DIR/segments/seg-NNNNNNNN.lps
//! DIR/rejects/seg-NNNNNNNN.ndjson
//! DIR/tmp/                     segments being written; emptied when a writer opens
//! ```
//! Commit of one batch (docs/FORMAT.md has what a crash at each step leaves behind):
//! 1. the segment is written to `tmp/` and fsynced (by an ingest worker);
//! 2. it is renamed into `segments/` and the directory fsynced;
//! 3. its rejects are written to `rejects/` (temp, fsync, rename, fsync);
//! 4. the manifest listing it and the input ranges it covers replaces the old one atomically.
//!
//! Readers load the manifest once and see only what it lists. Files not listed are orphans of
//! an interrupted commit and are deleted when the next writer opens the directory.

pub mod compact;
pub mod inspect;
pub mod lease;
pub mod manifest;
pub mod shards;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{self, FileLock, MappedFile};
use crate::segment::SegmentReader;

pub use manifest::{InputEntry, Manifest, Range, Retired, SegmentEntry, MANIFEST_VERSION};

/// Crash injection for tests: `LOGPIVOT_FAILPOINT=NAME:N` aborts the process (as a power cut
/// or `kill -9` would stop it) the N-th time the commit protocol reaches point NAME. Points:
/// `commit:before-rename`, `commit:after-rename`, `commit:after-rejects`, `commit:after-manifest`.
pub(crate) fn failpoint(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SPEC: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("LOGPIVOT_FAILPOINT").ok()?;
        let (n, count) = v.rsplit_once(':')?;
        Some((n.to_string(), count.parse().ok()?))
    });
    if let Some((n, count)) = spec {
        if n == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *count {
            eprintln!("logpivot: failpoint {name} reached, aborting");
            std::process::abort();
        }
    }
}

/// Default data directory name.
pub const DEFAULT_DIR: &str = "logpivot-data";

/// A data directory path and its layout.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (nothing is read or created).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/MANIFEST`.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("MANIFEST")
    }

    /// `DIR/segments`.
    pub fn segments_dir(&self) -> PathBuf {
        self.root.join("segments")
    }

    /// `DIR/rejects`.
    pub fn rejects_dir(&self) -> PathBuf {
        self.root.join("rejects")
    }

    /// `DIR/tmp`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Does a manifest exist?
    pub fn exists(&self) -> bool {
        io::exists(&self.manifest_path())
    }

    /// Load the manifest (a reader's snapshot).
    pub fn load_manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        if !io::exists(&path) {
            return Err(Error::NoDataDir {
                path: self.root.clone(),
            });
        }
        let bytes = io::read_file(&path)?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::corrupt(
                &path,
                e.column() as u64,
                format!("manifest is not valid: {e}"),
            )
        })?;
        if m.format != MANIFEST_VERSION {
            return Err(Error::Version {
                path,
                found: m.format,
                supported: MANIFEST_VERSION,
            });
        }
        Ok(m)
    }

    /// Open a listed segment.
    pub fn open_segment(&self, entry: &SegmentEntry) -> Result<Option<SegmentReader>> {
        let Some(file) = &entry.file else {
            return Ok(None);
        };
        let path = self.root.join(file);
        let mapped = MappedFile::open(&path)?;
        if mapped.bytes().len() as u64 != entry.bytes {
            return Err(Error::corrupt(
                &path,
                mapped.bytes().len() as u64,
                format!(
                    "file is {} bytes but the manifest says {}: truncated or replaced",
                    mapped.bytes().len(),
                    entry.bytes
                ),
            ));
        }
        SegmentReader::new(mapped).map(Some)
    }

    /// Take the writer lock, create the layout, load (or start) the manifest and delete the
    /// orphans of interrupted commits.
    pub fn open_writer(&self, wait: bool) -> Result<StoreWriter> {
        if shards::is_sharded(&self.root) {
            return Err(Error::invalid(format!(
                "{} is a sharded root: its shards (shards/NNNN/) are the data directories",
                self.root.display()
            )));
        }
        io::create_dir_all(&self.root)?;
        let lock = FileLock::acquire(&self.root.join("LOCK"), wait)?;
        for d in [self.segments_dir(), self.rejects_dir(), self.tmp_dir()] {
            io::create_dir_all(&d)?;
        }
        let manifest = if self.exists() {
            self.load_manifest()?
        } else {
            let m = Manifest::default();
            write_manifest(&self.manifest_path(), &m)?;
            io::sync_dir(&self.root)?;
            m
        };
        let mut w = StoreWriter {
            dir: self.clone(),
            manifest,
            _lock: lock,
            orphans_removed: 0,
            retired_removed: 0,
        };
        w.remove_orphans()?;
        w.retired_removed = w.sweep_retired()?;
        Ok(w)
    }
}

fn write_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::invalid(format!("cannot serialize the manifest: {e}")))?;
    bytes.push(b'\n');
    io::write_atomic(path, &bytes)
}

/// A change ready to commit: an ingest batch, or a compaction's or retention's replacement.
pub struct Batch<'a> {
    /// Fsynced segment files in `tmp/` and their summaries, in the order they are listed (an
    /// ingest batch has at most one; the end of a run, compaction and retention may have
    /// several). The first also gets the rejects and the input bytes of `ranges`.
    pub segments: Vec<(PathBuf, SegmentEntry)>,
    /// NDJSON of the batch's rejects.
    pub rejects: &'a [u8],
    pub reject_count: u64,
    /// Per input (by fingerprint): the ranges this batch covers and its rows/rejects/repaired.
    pub ranges: Vec<(String, Range, u64, u64, u64)>,
    /// Ids of live entries this change replaces: they leave the manifest in the same commit
    /// (the new entries take the place of the first of them) and their files are retired.
    pub replaces: Vec<u64>,
}

impl Batch<'_> {
    /// A batch of one segment (or none), as an ingest worker flushes it.
    pub fn ingest(
        segment: Option<(PathBuf, SegmentEntry)>,
        rejects: &[u8],
        reject_count: u64,
        ranges: Vec<(String, Range, u64, u64, u64)>,
    ) -> Batch<'_> {
        Batch {
            segments: segment.into_iter().collect(),
            rejects,
            reject_count,
            ranges,
            replaces: Vec::new(),
        }
    }
}

/// The single writer of a data directory (holds the lock).
pub struct StoreWriter {
    dir: DataDir,
    manifest: Manifest,
    _lock: FileLock,
    /// Orphan files deleted at open.
    pub orphans_removed: usize,
    /// Retired files (of an earlier compaction or retention) deleted at open.
    pub retired_removed: usize,
}

impl StoreWriter {
    /// The manifest as of the last commit.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Mutable manifest, for registering inputs before their first commit. Changes are written
    /// with the next commit.
    pub fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// The data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    fn remove_orphans(&mut self) -> Result<()> {
        let live: std::collections::HashSet<String> = self
            .manifest
            .segments
            .iter()
            .flat_map(|s| s.file.iter().chain(s.rejects_file.iter()).cloned())
            .chain(self.manifest.retired.iter().map(|r| r.file.clone()))
            .collect();
        for (sub, dir) in [
            ("segments", self.dir.segments_dir()),
            ("rejects", self.dir.rejects_dir()),
        ] {
            for f in io::list_files(&dir)? {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                if !live.contains(&format!("{sub}/{name}")) {
                    io::remove_file(&f)?;
                    self.orphans_removed += 1;
                }
            }
        }
        for f in io::list_files(&self.dir.root)? {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name.starts_with("MANIFEST.") && name.ends_with(".tmp") {
                io::remove_file(&f)?;
                self.orphans_removed += 1;
            }
        }
        for f in io::list_files(&self.dir.tmp_dir())? {
            io::remove_file(&f)?;
            self.orphans_removed += 1;
        }
        Ok(())
    }

    /// Write the manifest (e.g. after registering inputs or settings).
    pub fn save(&mut self) -> Result<()> {
        self.manifest.generation += 1;
        write_manifest(&self.dir.manifest_path(), &self.manifest)
    }

    /// Commit one change (steps 2-4 of the protocol, docs/FORMAT.md 10.2 and 10.6). Returns
    /// the ids of the entries it added.
    pub fn commit(&mut self, batch: Batch<'_>) -> Result<Vec<u64>> {
        let step = if batch.replaces.is_empty() {
            "commit"
        } else {
            "compact"
        };
        let first = self.manifest.next_segment_id;
        let range_bytes: u64 = batch.ranges.iter().map(|r| r.1.end - r.1.start).sum();
        let mut entries = Vec::with_capacity(batch.segments.len().max(1));
        failpoint(&format!("{step}:before-rename"));
        for (k, (tmp, summary)) in batch.segments.into_iter().enumerate() {
            let id = first + k as u64;
            let rel = format!("segments/seg-{id:08}.lps");
            io::rename_synced(&tmp, &self.dir.root.join(&rel))?;
            entries.push(SegmentEntry {
                id,
                file: Some(rel),
                rejects: 0,
                rejects_file: None,
                ..summary
            });
        }
        let has_rejects = batch.reject_count > 0 || !batch.rejects.is_empty();
        if entries.is_empty() && (batch.replaces.is_empty() || has_rejects) {
            entries.push(SegmentEntry {
                id: first,
                file: None,
                rows: 0,
                bytes: 0,
                min_time: None,
                max_time: None,
                null_time: 0,
                rejects: 0,
                rejects_file: None,
                input_bytes: 0,
            });
        }
        failpoint(&format!("{step}:after-rename"));
        if let Some(head) = entries.first_mut() {
            head.rejects = batch.reject_count;
            head.input_bytes += range_bytes;
            if !batch.rejects.is_empty() {
                let rel = format!("rejects/seg-{:08}.ndjson", head.id);
                io::write_atomic(&self.dir.root.join(&rel), batch.rejects)?;
                head.rejects_file = Some(rel);
            }
        }
        for (fp, range, rows, rejects, repaired) in batch.ranges {
            if let Some(input) = self.manifest.input_mut(&fp) {
                input.add_range(range);
                input.rows += rows;
                input.rejects += rejects;
                input.repaired += repaired;
            }
        }
        failpoint(&format!("{step}:after-rejects"));
        let generation = self.manifest.generation + 1;
        let mut at = self.manifest.segments.len();
        if !batch.replaces.is_empty() {
            let mut found = 0;
            let mut retired = Vec::new();
            let mut pos = 0;
            self.manifest.segments.retain(|e| {
                let gone = batch.replaces.contains(&e.id);
                if gone {
                    at = at.min(pos);
                    found += 1;
                    for f in e.file.iter().chain(e.rejects_file.iter()) {
                        retired.push(Retired {
                            file: f.clone(),
                            generation,
                        });
                    }
                } else {
                    pos += 1;
                }
                !gone
            });
            if found != batch.replaces.len() {
                return Err(Error::invalid(format!(
                    "{}: {} of the {} segments to replace are not in the manifest",
                    self.dir.manifest_path().display(),
                    batch.replaces.len() - found,
                    batch.replaces.len()
                )));
            }
            self.manifest.retired.extend(retired);
        }
        let added: Vec<u64> = entries.iter().map(|e| e.id).collect();
        self.manifest.next_segment_id += added.len() as u64;
        self.manifest.segments.splice(at..at, entries);
        self.save()?;
        failpoint(&format!("{step}:after-manifest"));
        Ok(added)
    }

    /// Delete the retired files no reader can still need: those retired at or before the
    /// oldest generation a live lease holds (all of them when there is no lease). Returns how
    /// many were deleted. The manifest stops listing them in one more commit.
    pub fn sweep_retired(&mut self) -> Result<usize> {
        if self.manifest.retired.is_empty() {
            return Ok(0);
        }
        let oldest = lease::oldest_live(&self.dir)?;
        let (gone, kept): (Vec<Retired>, Vec<Retired>) = self
            .manifest
            .retired
            .drain(..)
            .partition(|r| oldest.is_none_or(|g| r.generation <= g));
        self.manifest.retired = kept;
        if gone.is_empty() {
            return Ok(0);
        }
        for r in &gone {
            io::remove_file(&self.dir.root.join(&r.file))?;
        }
        failpoint("compact:after-delete");
        self.save()?;
        Ok(gone.len())
    }
}
