//! `logpivot ingest`.

use std::io::Write;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress, IngestSummary};
use logpivot::store::DataDir;

use crate::args::IngestArgs;
use crate::util::{human_bytes, parse_size, thousands, ProgressBar};

pub fn run(a: IngestArgs) -> anyhow::Result<()> {
    let mut opts = IngestOptions {
        inputs: a.inputs.clone(),
        time_field: a.time_field.clone(),
        index_columns: a.index.clone(),
        strict: a.strict,
        max_line_bytes: parse_size(&a.max_line_bytes)? as usize,
        segment_rows: a.segment_rows,
        wait_lock: a.wait,
        ..IngestOptions::default()
    };
    if let Some(c) = &a.chunk_bytes {
        opts.chunk_bytes = parse_size(c)? as usize;
    }
    if let Some(t) = a.threads {
        opts.threads = t.max(1);
    }
    let dir = DataDir::new(&a.data.data);
    let progress = Arc::new(IngestProgress::default());
    let bar = ProgressBar::start(progress.clone(), !a.quiet && !a.json);
    let summary = ingest(&dir, &opts, progress);
    drop(bar);
    let summary = summary?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &summary).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else if !a.quiet {
        print_summary(&mut out, &summary)?;
    }
    Ok(())
}

fn print_summary(out: &mut dyn Write, s: &IngestSummary) -> std::io::Result<()> {
    for (path, why) in &s.skipped {
        writeln!(out, "skipped {path}: {why}")?;
    }
    for path in &s.resumed {
        writeln!(out, "resumed {path} after the last committed record")?;
    }
    if s.orphans_removed > 0 {
        writeln!(
            out,
            "cleaned up {} files left by an interrupted ingest",
            s.orphans_removed
        )?;
    }
    let ratio = if s.bytes_on_disk > 0 {
        s.bytes_in as f64 / s.bytes_on_disk as f64
    } else {
        0.0
    };
    let secs = s.seconds.max(1e-9);
    writeln!(
        out,
        "ingested {} events into {} ({} segments) in {:.2} s: {}/s, {} events/s",
        thousands(s.events),
        s.data_dir,
        s.segments,
        s.seconds,
        human_bytes((s.bytes_in as f64 / secs) as u64),
        thousands((s.events as f64 / secs) as u64),
    )?;
    writeln!(
        out,
        "  input {} ({} read), on disk {} (compression {ratio:.1}x)",
        human_bytes(s.bytes_in),
        human_bytes(s.raw_bytes_in),
        human_bytes(s.bytes_on_disk),
    )?;
    writeln!(
        out,
        "  rejects {}, repaired (invalid UTF-8, kept) {}, events without a time {}",
        thousands(s.rejects),
        thousands(s.repaired),
        thousands(s.events_without_time)
    )?;
    if s.rejects + s.repaired > 0 {
        writeln!(
            out,
            "  raw lines of rejects and repairs: {}/rejects/",
            s.data_dir
        )?;
    }
    Ok(())
}
