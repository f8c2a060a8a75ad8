//! `logpivot ingest`.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress, IngestSummary};
use logpivot::json::split::RecordsPath;
use logpivot::store::DataDir;

use crate::args::IngestArgs;
use crate::util::{human_bytes, parse_size, thousands, ProgressBar};

/// Set by the first Ctrl-C or SIGTERM of `ingest --follow`.
pub static FOLLOW_STOP: AtomicBool = AtomicBool::new(false);

fn follow(a: &IngestArgs, dir: &DataDir, opts: &IngestOptions) -> anyhow::Result<()> {
    let interval = logpivot::query::plan::parse_width(&a.commit_interval).ok_or_else(|| {
        anyhow::anyhow!(
            "invalid --commit-interval `{}`: a number and s, m or h (5s)",
            a.commit_interval
        )
    })?;
    let interval = std::time::Duration::from_nanos(interval as u64);
    if !a.quiet && !a.json {
        eprintln!(
            "following {} into {} (a commit every {}; Ctrl-C to stop)",
            a.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            dir.root().display(),
            a.commit_interval
        );
    }
    let quiet = a.quiet || a.json;
    let mut report = |c: &logpivot::ingest::follow::Cycle| {
        if quiet {
            return;
        }
        for (now, was) in &c.rotated {
            eprintln!("  {was} was rotated to {now}: read to its end");
        }
        for t in &c.truncated {
            eprintln!("  {t} shrank (truncated in place): read from its start");
        }
        let s = &c.summary;
        if s.events + s.rejects > 0 {
            eprintln!(
                "  +{} events, {} rejects ({} segments)",
                thousands(s.events),
                thousands(s.rejects),
                s.segments
            );
        }
    };
    let s = logpivot::ingest::follow::follow(
        dir,
        opts,
        interval,
        &FOLLOW_STOP,
        Arc::new(IngestProgress::default()),
        &mut report,
    )?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &s).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else if !a.quiet {
        writeln!(
            out,
            "followed for {:.1} s: {} events, {} rejects into {}",
            s.seconds,
            thousands(s.events),
            thousands(s.rejects),
            s.data_dir
        )?;
    }
    Ok(())
}

pub fn run(a: IngestArgs) -> anyhow::Result<()> {
    let mut opts = IngestOptions {
        inputs: a.inputs.clone(),
        time_field: a.time_field.clone(),
        index_columns: a.index.clone(),
        strict: a.strict,
        max_line_bytes: parse_size(&a.max_line_bytes)? as usize,
        segment_rows: a.segment_rows,
        wait_lock: a.wait,
        shards: a.shards,
        compact: a.compact,
        records: match &a.records {
            Some(p) => Some(RecordsPath::parse(p).map_err(anyhow::Error::msg)?),
            None => None,
        },
        ..IngestOptions::default()
    };
    if let Some(c) = &a.chunk_bytes {
        opts.chunk_bytes = parse_size(c)? as usize;
    }
    if let Some(t) = a.threads {
        opts.threads = t.max(1);
    }
    let dir = DataDir::new(&a.data.data);
    if a.follow {
        return follow(&a, &dir, &opts);
    }
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
        print_summary(&mut out, &summary, a.verbose)?;
    }
    if !summary.broken.is_empty() {
        drop(out);
        for (path, b) in &summary.broken {
            eprintln!(
                "logpivot: {path}: compressed stream broken after {} decompressed bytes ({}); the complete records before it are in, run the same command again once the file is whole",
                b.offset, b.reason
            );
        }
        std::process::exit(3);
    }
    Ok(())
}

/// How many skipped files the summary names without --verbose.
const SKIPPED_SHOWN: usize = 5;

fn print_summary(out: &mut dyn Write, s: &IngestSummary, verbose: bool) -> std::io::Result<()> {
    for (path, why) in &s.skipped {
        writeln!(out, "skipped {path}: {why}")?;
    }
    if !s.not_logs.is_empty() {
        writeln!(
            out,
            "skipped {} file{} that {} not JSON logs{}:",
            thousands(s.not_logs.len() as u64),
            if s.not_logs.len() == 1 { "" } else { "s" },
            if s.not_logs.len() == 1 { "is" } else { "are" },
            if verbose || s.not_logs.len() <= SKIPPED_SHOWN {
                ""
            } else {
                " (--verbose lists all)"
            }
        )?;
        let shown = if verbose { usize::MAX } else { SKIPPED_SHOWN };
        for (path, why) in s.not_logs.iter().take(shown) {
            writeln!(out, "  {path}: {why}")?;
        }
        if s.not_logs.len() > shown {
            writeln!(out, "  ... and {} more", s.not_logs.len() - shown)?;
        }
    }
    let mut by_path: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (path, records) in &s.envelopes {
        by_path.entry(records).or_default().push(path);
    }
    for (records, paths) in by_path {
        let which = match paths.as_slice() {
            [one] => one.to_string(),
            many => format!("{} inputs", thousands(many.len() as u64)),
        };
        if records.is_empty() {
            writeln!(
                out,
                "read {which} as JSON objects spread over lines: each top-level object is an event"
            )?;
        } else {
            writeln!(
                out,
                "read {which} as envelopes: the events are the elements of `{records}`"
            )?;
        }
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
    if s.segments == 0 && s.events == 0 && s.rejects == 0 && s.broken.is_empty() {
        writeln!(out, "nothing new to ingest into {}", s.data_dir)?;
        print_compaction(out, s)?;
        return Ok(());
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
    print_compaction(out, s)
}

fn print_compaction(out: &mut dyn Write, s: &IngestSummary) -> std::io::Result<()> {
    match &s.compaction {
        Some(c) if c.groups > 0 => writeln!(
            out,
            "  compacted {} small segments into {} ({} groups)",
            c.segments_replaced,
            c.segments_replaced + c.segments_after - c.segments_before,
            c.groups
        ),
        Some(_) => Ok(()),
        None if s.small_segments >= logpivot::store::compact::MERGE_FACTOR * 3 => writeln!(
            out,
            "  the store holds {} small segments: `logpivot compact --data {}` merges them \
             (or ingest with --compact)",
            thousands(s.small_segments as u64),
            s.data_dir
        ),
        None => Ok(()),
    }
}
