//! Which shard of a sharded root ingests each input file (see [`crate::store::shards`]).
//!
//! The same file always goes to the same shard, so that re-running an interrupted distributed
//! ingest continues exactly once, as on one machine:
//! 1. a shard whose manifest already lists the file's fingerprint (its identity: the hash of
//!    its first 64 KiB) keeps it, whatever its path is now;
//! 2. else a shard holding an unfinished input of the same path keeps it (a log that grew since,
//!    whose fingerprint changed: the shard's ingest adopts it as on one machine);
//! 3. else FNV-1a of the absolute path, modulo the shard count: a pinned hash, the same on
//!    every machine and build.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::{
    expand_inputs, fingerprint, fnv64, no_logs, IngestOptions, IngestProgress, IngestSummary,
};
use crate::error::{Error, Result};
use crate::store::shards;
use crate::store::DataDir;

/// The files each shard ingests.
#[derive(Clone, Debug, Default)]
pub struct ShardPlan {
    /// The shard count of the root.
    pub shards: usize,
    /// Per shard (index = shard number), its files, absolute, in input order.
    pub files: Vec<Vec<PathBuf>>,
    /// Files of walked directories that are not JSON logs, with the reason.
    pub not_logs: Vec<(String, String)>,
}

/// Make `root` a sharded root of `n` shards (or check its count, see [`shards::create`]) and
/// assign the files of `inputs` (directories walked as `ingest` walks them) to its shards.
pub fn plan_shards(root: &Path, inputs: &[PathBuf], n: Option<usize>) -> Result<ShardPlan> {
    if inputs.iter().any(|p| p.as_os_str() == "-") {
        return Err(Error::invalid(
            "stdin (`-`) cannot be ingested into a sharded store: name files or directories",
        ));
    }
    let n = shards::create(root, n)?;
    let (files, not_logs) = expand_inputs(inputs)?;
    // Who holds what: fingerprints, and the paths of unfinished inputs.
    let mut by_fp: HashMap<String, usize> = HashMap::new();
    let mut by_path: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        let dir: DataDir = shards::shard_dir(root, i);
        if !dir.exists() {
            continue;
        }
        for e in dir.load_manifest()?.inputs {
            if !e.complete() {
                by_path.insert(e.path.clone(), i);
            }
            by_fp.insert(e.fingerprint, i);
        }
    }
    let mut plan = ShardPlan {
        shards: n,
        files: vec![Vec::new(); n],
        not_logs,
    };
    for f in files {
        let abs = std::path::absolute(&f).map_err(|e| Error::io(&f, e))?;
        let fp = fingerprint(&abs)?;
        let display = abs.display().to_string();
        let shard = match (by_fp.get(&fp), by_path.get(&display)) {
            (Some(&s), _) | (None, Some(&s)) => s,
            (None, None) => (fnv64(display.as_bytes()) % n as u64) as usize,
        };
        plan.files[shard].push(abs);
    }
    Ok(plan)
}

impl IngestSummary {
    /// Add another run's summary (of another shard) to this one.
    pub fn add(&mut self, o: IngestSummary) {
        self.events += o.events;
        self.rejects += o.rejects;
        self.repaired += o.repaired;
        self.segments += o.segments;
        self.bytes_in += o.bytes_in;
        self.raw_bytes_in += o.raw_bytes_in;
        self.bytes_on_disk += o.bytes_on_disk;
        self.events_without_time += o.events_without_time;
        self.orphans_removed += o.orphans_removed;
        self.skipped.extend(o.skipped);
        self.not_logs.extend(o.not_logs);
        self.broken.extend(o.broken);
        self.envelopes.extend(o.envelopes);
        self.resumed.extend(o.resumed);
        self.small_segments += o.small_segments;
        match (&mut self.compaction, o.compaction) {
            (Some(a), Some(b)) => a.add(b),
            (a @ None, b) => *a = b,
            (Some(_), None) => {}
        }
    }
}

/// Ingest into a sharded root on this machine: each shard's files (see [`plan_shards`]) by
/// one ingest after another, each with every thread. `logpivot.ray` runs the same shards as
/// Ray tasks instead.
pub fn ingest_sharded(
    dir: &DataDir,
    opts: &IngestOptions,
    progress: Arc<IngestProgress>,
) -> Result<IngestSummary> {
    let started = Instant::now();
    let plan = plan_shards(dir.root(), &opts.inputs, opts.shards)?;
    let mut total = IngestSummary {
        data_dir: dir.root().display().to_string(),
        not_logs: plan.not_logs.clone(),
        ..IngestSummary::default()
    };
    for (i, files) in plan.files.iter().enumerate() {
        if files.is_empty() {
            continue;
        }
        let o = IngestOptions {
            inputs: files.clone(),
            shards: None,
            as_shard: true,
            ..opts.clone()
        };
        total.add(super::ingest(
            &shards::shard_dir(dir.root(), i),
            &o,
            progress.clone(),
        )?);
    }
    total.seconds = started.elapsed().as_secs_f64();
    if plan.files.iter().all(Vec::is_empty) {
        return Err(no_logs(opts, &total));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_same_shard_and_committed_files_stay() {
        let t = tempfile::tempdir().expect("tempdir");
        let logs = t.path().join("logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        for i in 0..20 {
            std::fs::write(
                logs.join(format!("f{i:02}.ndjson")),
                format!("{{\"a\": {i}}}\n"),
            )
            .expect("write");
        }
        let root = t.path().join("lp");
        let a = plan_shards(&root, std::slice::from_ref(&logs), Some(4)).expect("plan");
        let b = plan_shards(&root, std::slice::from_ref(&logs), None).expect("plan");
        assert_eq!(a.files, b.files);
        assert_eq!(a.files.iter().map(Vec::len).sum::<usize>(), 20);
        assert!(
            a.files.iter().filter(|f| !f.is_empty()).count() > 1,
            "{:?}",
            a.files
        );
        // Another count is refused; a plain store cannot become sharded.
        assert!(plan_shards(&root, std::slice::from_ref(&logs), Some(3)).is_err());
        std::fs::create_dir_all(t.path().join("plain")).expect("mkdir");
        DataDir::new(t.path().join("plain"))
            .open_writer(false)
            .expect("writer");
        assert!(plan_shards(&t.path().join("plain"), &[logs], Some(2)).is_err());
    }
}
