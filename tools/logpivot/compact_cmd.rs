//! `logpivot compact` and `logpivot retain`.

use std::io::Write;

use logpivot::store::compact::{compact, retain, CompactOptions, CompactSummary};
use logpivot::store::DataDir;

use crate::args::{CompactArgs, RetainArgs};
use crate::util::{human_bytes, thousands};

pub fn run_compact(a: CompactArgs) -> anyhow::Result<()> {
    let dir = DataDir::new(&a.data.data);
    let opts = CompactOptions {
        target_rows: a.target_rows.max(1),
        dry_run: a.dry_run,
        wait_lock: a.run.wait,
        ..CompactOptions::default()
    };
    let show = !a.run.quiet && !a.run.json && logpivot::io::stderr_is_terminal();
    let progress = move |done: usize, planned: usize, rows: u64| {
        if show {
            eprint!(
                "\rcompact: {done}/{planned} groups merged, {} rows  ",
                thousands(rows)
            );
        }
    };
    let s = compact(&dir, &opts, &progress);
    if show {
        eprint!("\r\x1b[K");
    }
    let s = s?;
    let mut out = std::io::stdout().lock();
    if a.run.json {
        serde_json::to_writer_pretty(&mut out, &s).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else if !a.run.quiet {
        if s.groups == 0 {
            writeln!(
                out,
                "nothing to compact in {}: {} segments, none of two or more under {} rows to merge",
                s.data_dir,
                thousands(s.segments_before as u64),
                thousands(opts.target_rows)
            )?;
        } else {
            writeln!(
                out,
                "{} {} segments into {} in {} groups in {:.2} s: {} -> {} segments, {} -> {} on disk",
                if s.dry_run { "would merge" } else { "merged" },
                thousands(s.segments_replaced as u64),
                s.segments_replaced + s.segments_after - s.segments_before,
                s.groups,
                s.seconds,
                thousands(s.segments_before as u64),
                thousands(s.segments_after as u64),
                human_bytes(s.bytes_before),
                if s.dry_run {
                    "?".to_string()
                } else {
                    human_bytes(s.bytes_after)
                },
            )?;
        }
        print_files(&mut out, &s)?;
    }
    Ok(())
}

fn print_files(out: &mut dyn Write, s: &CompactSummary) -> std::io::Result<()> {
    if s.files_deleted > 0 {
        writeln!(
            out,
            "  deleted {} replaced files",
            thousands(s.files_deleted as u64)
        )?;
    }
    if s.files_kept > 0 {
        writeln!(
            out,
            "  kept {} replaced files that a running reader may still open (deleted by a later \
             compact, retain or ingest)",
            thousands(s.files_kept as u64)
        )?;
    }
    Ok(())
}

/// `90d`, `12h`, `2w`, `30m`, `45s` in nanoseconds.
fn parse_age(s: &str) -> anyhow::Result<i64> {
    logpivot::query::plan::parse_width(s).ok_or_else(|| {
        anyhow::anyhow!("invalid --older-than `{s}`: expected a number and s, m, h, d or w (90d)")
    })
}

pub fn run_retain(a: RetainArgs) -> anyhow::Result<()> {
    let dir = DataDir::new(&a.data.data);
    let cut = match (&a.before, &a.older_than) {
        (Some(t), _) => logpivot::query::plan::parse_time_arg(t, "--before")?,
        (None, Some(age)) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos() as i64;
            now - parse_age(age)?
        }
        (None, None) => anyhow::bail!("give --before TIME or --older-than AGE"),
    };
    let opts = CompactOptions {
        dry_run: a.dry_run,
        wait_lock: a.run.wait,
        ..CompactOptions::default()
    };
    let s = retain(&dir, cut, &opts)?;
    let mut out = std::io::stdout().lock();
    if a.run.json {
        serde_json::to_writer_pretty(&mut out, &s).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else if !a.run.quiet {
        let when = logpivot::json::time::format_rfc3339(cut);
        if s.segments_replaced == 0 {
            writeln!(
                out,
                "nothing to drop in {}: no event is before {when}",
                s.data_dir
            )?;
        } else if s.dry_run {
            writeln!(
                out,
                "would drop {} segments entirely before {when} ({} events, {} reject lines) and rewrite {} that it cuts through",
                thousands(s.segments_dropped as u64),
                thousands(s.rows_before - s.rows_after),
                thousands(s.rejects_dropped),
                thousands(s.groups as u64),
            )?;
        } else {
            writeln!(
                out,
                "dropped {} events before {when}: {} segments dropped whole ({} reject lines with them), {} rewritten; {} -> {} events, {} -> {} on disk",
                thousands(s.rows_before - s.rows_after),
                thousands(s.segments_dropped as u64),
                thousands(s.rejects_dropped),
                thousands(s.groups as u64),
                thousands(s.rows_before),
                thousands(s.rows_after),
                human_bytes(s.bytes_before),
                human_bytes(s.bytes_after),
            )?;
        }
        print_files(&mut out, &s)?;
    }
    Ok(())
}
