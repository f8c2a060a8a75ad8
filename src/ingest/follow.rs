//! Following growing logs (`logpivot ingest --follow`): the same exactly-once ingest, run again
//! every `interval` on what the inputs hold by then, until asked to stop.
//!
//! Each cycle is one ingest run: it reads every input from its last committed record to its
//! current end and commits, so a query sees new events within about one interval, and a
//! restart continues where the last cycle committed. A last line without a newline is left for
//! the next cycle (it may be half written: [`IngestOptions::open_tail`]).
//!
//! Rotation: the inputs (files, and the files of walked directories) are remembered by device
//! and inode. When a path now names another file and the old one is still in the same
//! directory under another name (`eve.json` renamed to `eve.json.1`, a new `eve.json`
//! created), the old one is read to its end first, as the same input
//! ([`IngestOptions::renamed`]), then the new one from its start. A file truncated in place
//! (copytruncate) gets a new identity from its new first bytes and is read from the start;
//! what was written to it after the last cycle and before the truncation is in the copy, which
//! is read (to its end, as the same input) when it lies in a followed directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{expand_inputs, ingest, IngestOptions, IngestProgress, IngestSummary};
use crate::error::{Error, Result};
use crate::io;
use crate::store::DataDir;

/// What one cycle did.
#[derive(Debug, Default)]
pub struct Cycle {
    /// 1-based.
    pub number: u64,
    pub summary: IngestSummary,
    /// Rotated files read to their end: (the path now, the path they were followed under).
    pub rotated: Vec<(String, String)>,
    /// Files that shrank in place (truncated): read again from their start.
    pub truncated: Vec<String>,
}

/// Follow `opts.inputs` into `dir`: an ingest every `interval` (with the tiered compaction of
/// `ingest --compact`, since every cycle adds a segment), until `stop` is set; the cycle that
/// is running then finishes, and one more reads what was written until then. `report` gets each cycle that read something or saw a
/// rotation. Returns the summed summary.
pub fn follow(
    dir: &DataDir,
    opts: &IngestOptions,
    interval: Duration,
    stop: &AtomicBool,
    progress: Arc<IngestProgress>,
    report: &mut dyn FnMut(&Cycle),
) -> Result<IngestSummary> {
    let started = Instant::now();
    let mut total = IngestSummary {
        data_dir: dir.root().display().to_string(),
        ..IngestSummary::default()
    };
    // Path -> (identity, size) at the last cycle.
    let mut known: HashMap<PathBuf, ((u64, u64), u64)> = HashMap::new();
    let mut number = 0;
    loop {
        // Asked to stop: one more cycle reads what was written until now, then the loop ends.
        let last_round = stop.load(Ordering::Relaxed);
        let began = Instant::now();
        number += 1;
        let mut cycle = Cycle {
            number,
            ..Cycle::default()
        };
        // Inputs that do not exist yet are waited for.
        let present: Vec<PathBuf> = opts.inputs.iter().filter(|p| p.exists()).cloned().collect();
        let (files, _) = if present.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            expand_inputs(&present)?
        };
        let mut now: HashMap<PathBuf, ((u64, u64), u64)> = HashMap::new();
        for f in &files {
            if let (Some(id), Ok(len)) = (io::file_id(f), io::file_len(f)) {
                now.insert(f.clone(), (id, len));
            }
        }
        let mut first = Vec::new();
        let mut renamed = Vec::new();
        for f in &files {
            let Some(&(id, len)) = now.get(f) else {
                continue;
            };
            // This file was another followed path at the last cycle (and that path now names
            // another file or none): a rotation. Read it first, as that input.
            let was = known
                .iter()
                .find(|(p, (kid, _))| {
                    *kid == id && *p != f && now.get(*p).is_none_or(|n| n.0 != id)
                })
                .map(|(p, _)| p.clone());
            if let Some(old) = was {
                cycle
                    .rotated
                    .push((f.display().to_string(), old.display().to_string()));
                renamed.push((f.clone(), old.display().to_string()));
                first.push(f.clone());
            }
            if let Some(&(kid, klen)) = known.get(f) {
                if kid == id && len < klen {
                    cycle.truncated.push(f.display().to_string());
                }
            }
        }
        // A followed path that now names another file (or none) whose old file is not among
        // the inputs (a file named on the command line): look for it beside the path.
        for (p, &(kid, _)) in &known {
            if now.get(p).is_some_and(|n| n.0 == kid) || now.values().any(|n| n.0 == kid) {
                continue;
            }
            let Some(parent) = p.parent() else { continue };
            let beside = io::list_files(if parent.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                parent
            })
            .unwrap_or_default();
            if let Some(old) = beside.into_iter().find(|f| io::file_id(f) == Some(kid)) {
                cycle
                    .rotated
                    .push((old.display().to_string(), p.display().to_string()));
                renamed.push((old.clone(), p.display().to_string()));
                first.push(old);
            }
        }
        let mut inputs = first.clone();
        inputs.extend(files.iter().filter(|f| !first.contains(f)).cloned());
        known = now;
        if !inputs.is_empty() {
            let run = IngestOptions {
                inputs,
                renamed,
                open_tail: true,
                compact: true,
                ..opts.clone()
            };
            match ingest(dir, &run, progress.clone()) {
                Ok(s) => cycle.summary = s,
                Err(Error::NoLogs { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let did = cycle.summary.events + cycle.summary.rejects > 0
            || !cycle.rotated.is_empty()
            || !cycle.truncated.is_empty();
        if did {
            report(&cycle);
        }
        let s = std::mem::take(&mut cycle.summary);
        total.events += s.events;
        total.rejects += s.rejects;
        total.repaired += s.repaired;
        total.segments += s.segments;
        total.bytes_in += s.bytes_in;
        total.raw_bytes_in += s.raw_bytes_in;
        total.bytes_on_disk += s.bytes_on_disk;
        total.events_without_time += s.events_without_time;
        total.small_segments = s.small_segments;
        if last_round {
            break;
        }
        while began.elapsed() < interval && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(interval));
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}
