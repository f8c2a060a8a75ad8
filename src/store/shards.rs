//! Sharded data directories: one root holding several complete stores.
//!
//! ```text
//! ROOT/SHARDS                  {"format": 1, "shards": N} (JSON, written once, atomically)
//! ROOT/shards/0000/ .. NNNN/   each a complete data directory (MANIFEST, LOCK, segments/, ...)
//! ```
//! Each shard has its own manifest and writer lock, so writers of different shards never
//! contend (a distributed ingest runs one writer per shard). Readers load every shard's
//! manifest once (a snapshot per shard) and see the union of their segments as one store. The
//! shard count is fixed when the root is created: the assignment of input files to shards
//! depends on it, and a re-run must send every file to the shard that already holds it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DataDir, Manifest};
use crate::error::{Error, Result};
use crate::io;

/// Version of the `SHARDS` file.
pub const SHARDS_VERSION: u32 = 1;

/// Most shards a root may have.
pub const MAX_SHARDS: usize = 4096;

#[derive(Serialize, Deserialize)]
struct ShardsFile {
    format: u32,
    shards: usize,
}

/// `ROOT/SHARDS`.
pub fn shards_path(root: &Path) -> PathBuf {
    root.join("SHARDS")
}

/// Is `root` a sharded root (it has a `SHARDS` file)?
pub fn is_sharded(root: &Path) -> bool {
    io::exists(&shards_path(root))
}

/// The directory of shard `i` of `root`.
pub fn shard_dir(root: &Path, i: usize) -> DataDir {
    DataDir::new(root.join("shards").join(format!("{i:04}")))
}

/// The sharded root that `dir` is a shard of (`ROOT/shards/NNNN`), if it is one.
pub fn root_of_shard(dir: &Path) -> Option<PathBuf> {
    let parent = dir.parent()?;
    if parent.file_name()? != "shards" {
        return None;
    }
    let root = parent.parent()?;
    is_sharded(root).then(|| root.to_path_buf())
}

/// The shard count of a sharded root (None: not sharded).
pub fn shard_count(root: &Path) -> Result<Option<usize>> {
    let path = shards_path(root);
    if !io::exists(&path) {
        return Ok(None);
    }
    let bytes = io::read_file(&path)?;
    let f: ShardsFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::corrupt(
            &path,
            e.column() as u64,
            format!("SHARDS is not valid: {e}"),
        )
    })?;
    if f.format != SHARDS_VERSION {
        return Err(Error::Version {
            path,
            found: f.format,
            supported: SHARDS_VERSION,
        });
    }
    if f.shards == 0 || f.shards > MAX_SHARDS {
        return Err(Error::corrupt(
            &path,
            0,
            format!("SHARDS says {} shards (1 to {MAX_SHARDS})", f.shards),
        ));
    }
    Ok(Some(f.shards))
}

/// Make `root` a sharded root of `n` shards, or check that it is one with `n` shards (None:
/// keep the count it has). A plain data directory (with a MANIFEST) cannot become sharded.
pub fn create(root: &Path, n: Option<usize>) -> Result<usize> {
    if let Some(have) = shard_count(root)? {
        return match n {
            Some(n) if n != have => Err(Error::invalid(format!(
                "{} has {have} shards, not {n}: the shard count is fixed when the store is \
                 created (each input file stays in the shard that holds it); pass shards={have} \
                 or none",
                root.display()
            ))),
            _ => Ok(have),
        };
    }
    if DataDir::new(root).exists() {
        return Err(Error::invalid(format!(
            "{} is a data directory of one shard (it has a MANIFEST): a sharded store needs \
             a root of its own",
            root.display()
        )));
    }
    let n = n.unwrap_or(1);
    if n == 0 || n > MAX_SHARDS {
        return Err(Error::invalid(format!(
            "invalid shard count {n}: 1 to {MAX_SHARDS}"
        )));
    }
    io::create_dir_all(&root.join("shards"))?;
    let mut bytes = serde_json::to_vec(&ShardsFile {
        format: SHARDS_VERSION,
        shards: n,
    })
    .map_err(|e| Error::invalid(format!("cannot serialize SHARDS: {e}")))?;
    bytes.push(b'\n');
    io::write_atomic(&shards_path(root), &bytes)?;
    io::sync_dir(root)?;
    Ok(n)
}

/// What a reader of `dir` sees, as one manifest: the directory's own, or for a sharded root
/// the union of its shards' manifests (each loaded once: a snapshot per shard), with file
/// paths relative to the root (`shards/0003/segments/seg-00000001.lps`), generations summed
/// and the index columns of every shard. Segment ids are per shard (the file names one).
pub fn load_view(dir: &DataDir) -> Result<Manifest> {
    let Some(n) = shard_count(dir.root())? else {
        return dir.load_manifest();
    };
    let mut view = Manifest {
        index_columns: Vec::new(),
        ..Manifest::default()
    };
    let mut time_from: Option<PathBuf> = None;
    for i in 0..n {
        let shard = shard_dir(dir.root(), i);
        if !shard.exists() {
            continue;
        }
        let m = shard.load_manifest()?;
        let prefix = format!("shards/{i:04}/");
        if let Some(tf) = m.time_field {
            match (&view.time_field, &time_from) {
                (Some(have), Some(first)) if *have != tf => {
                    return Err(Error::invalid(format!(
                        "the shards disagree on the time field: `{have}` in {} but `{tf}` in {}",
                        first.display(),
                        shard.root().display()
                    )))
                }
                (Some(_), _) => {}
                _ => {
                    view.time_field = Some(tf);
                    time_from = Some(shard.root().to_path_buf());
                }
            }
        }
        view.generation += m.generation;
        for c in m.index_columns {
            if !view.index_columns.contains(&c) {
                view.index_columns.push(c);
            }
        }
        view.segments.extend(m.segments.into_iter().map(|mut e| {
            e.file = e.file.map(|f| format!("{prefix}{f}"));
            e.rejects_file = e.rejects_file.map(|f| format!("{prefix}{f}"));
            e
        }));
        view.inputs.extend(m.inputs);
    }
    Ok(view)
}

/// Load the view of `dir` and open what it lists with `open`. When a listed file is gone
/// because a compaction or retention committed and deleted it in between (the view changed),
/// load the view again: a reader that opens every file at once needs no lease.
pub fn open_view<T>(dir: &DataDir, open: impl Fn(&Manifest) -> Result<T>) -> Result<(Manifest, T)> {
    let mut attempts = 0;
    loop {
        let view = load_view(dir)?;
        match open(&view) {
            Ok(t) => return Ok((view, t)),
            Err(Error::Io { path, error })
                if error.kind() == std::io::ErrorKind::NotFound && attempts < 16 =>
            {
                attempts += 1;
                if load_view(dir)?.generation == view.generation {
                    return Err(Error::Io { path, error });
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The stores a reader of `dir` sees: the directory itself, or every shard of a sharded root
/// that has been written (a shard no ingest has reached yet has no manifest and no rows).
pub fn stores(dir: &DataDir) -> Result<Vec<DataDir>> {
    match shard_count(dir.root())? {
        None => Ok(vec![dir.clone()]),
        Some(n) => Ok((0..n)
            .map(|i| shard_dir(dir.root(), i))
            .filter(DataDir::exists)
            .collect()),
    }
}
