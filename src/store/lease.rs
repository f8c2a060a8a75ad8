//! Reader leases: how a reader that opens segment files well after it read the manifest (the
//! tasks of a distributed query, a lazily read dataset) keeps compaction and retention from
//! deleting them.
//!
//! ```text
//! DIR/leases/<pid>-<nanos>-<n>.lease   the manifest generation the reader holds, as text;
//!                                      locked (flock) by the reader for as long as it lives
//! ```
//! A file replaced by compaction or retention is *retired* at the first generation that does
//! not list it (`Manifest::retired`). The writer deletes it only when no live lease holds an
//! older generation ([`StoreWriter::sweep_retired`](super::StoreWriter::sweep_retired)). A
//! lease whose lock can be taken belongs to a process that is gone and is removed.
//!
//! Readers that open every listed file at once (the CLI, `logpivot.open`) take no lease: an
//! open file stays readable after it is deleted, and a file deleted between their reading the
//! manifest and opening it makes them read the manifest again ([`open_view`](super::shards::open_view)).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{shards, DataDir};
use crate::error::{Error, Result};
use crate::io;

/// `DIR/leases`.
pub fn leases_dir(dir: &DataDir) -> PathBuf {
    dir.root().join("leases")
}

/// A reader's hold on the generation it read, in every store of a view (each shard of a
/// sharded root). Released when dropped.
pub struct Lease {
    held: Vec<io::HeldFile>,
    generations: Vec<u64>,
}

impl Lease {
    /// Take a lease on the current generation of `dir` (of every shard of a sharded root). Take
    /// it *before* reading the view it protects: the view is then at least as new.
    ///
    /// A directory the reader cannot write to (a read-only mount) gets no lease file: nothing
    /// can compact it either.
    pub fn take(dir: &DataDir) -> Result<Lease> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let mut lease = Lease {
            held: Vec::new(),
            generations: Vec::new(),
        };
        for store in shards::stores(dir)? {
            let generation = store.load_manifest()?.generation;
            let leases = leases_dir(&store);
            let name = format!(
                "{}-{}-{}.lease",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let made = io::create_dir_all(&leases).and_then(|()| {
                io::HeldFile::create(&leases.join(name), generation.to_string().as_bytes())
            });
            match made {
                Ok(h) => lease.held.push(h),
                Err(Error::Io { error, .. })
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::PermissionDenied
                            | std::io::ErrorKind::ReadOnlyFilesystem
                    ) => {}
                Err(e) => return Err(e),
            }
            lease.generations.push(generation);
        }
        Ok(lease)
    }

    /// The generation held in each store.
    pub fn generations(&self) -> &[u64] {
        &self.generations
    }

    /// The lease files (none on a read-only directory).
    pub fn files(&self) -> Vec<PathBuf> {
        self.held.iter().map(|h| h.path().to_path_buf()).collect()
    }
}

/// The oldest generation a live lease of `dir` holds (None: no live lease). Lease files left
/// by processes that are gone are removed.
pub fn oldest_live(dir: &DataDir) -> Result<Option<u64>> {
    let leases = leases_dir(dir);
    if !io::exists(&leases) {
        return Ok(None);
    }
    let mut oldest: Option<u64> = None;
    for f in io::list_files(&leases)? {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.ends_with(".tmp") {
            // A lease being created (locked before it is renamed into place), or one whose
            // creator died before the rename: removed once unheld and a minute old.
            let old = std::fs::metadata(&f)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() >= 60);
            if old && !io::is_held(&f)? {
                io::remove_file(&f)?;
            }
            continue;
        }
        if !name.ends_with(".lease") {
            continue;
        }
        if !io::is_held(&f)? {
            io::remove_file(&f)?;
            continue;
        }
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            // Released between the two looks.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&f, e)),
        };
        let g: u64 = text.trim().parse().map_err(|_| {
            Error::corrupt(
                &f,
                0,
                format!("a lease that holds `{}`, not a generation", text.trim()),
            )
        })?;
        oldest = Some(oldest.map_or(g, |o| o.min(g)));
    }
    Ok(oldest)
}
