//! `logpivot inspect`.

use logpivot::io::Compression;
use logpivot::json::split::InputShape;
use std::io::Write;

use logpivot::store::inspect::{inspect, Report};
use logpivot::store::DataDir;

use crate::args::InspectArgs;
use crate::util::{human_bytes, thousands};

pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    let dir = DataDir::new(&a.data.data);
    let report = inspect(&dir, a.segment, a.verify)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        print_report(&mut out, &report, a.verify)?;
    }
    Ok(())
}

/// Print the human-readable report.
pub fn print_report(out: &mut dyn Write, r: &Report, verified: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "data directory {} (generation {})",
        r.data_dir, r.generation
    )?;
    writeln!(
        out,
        "  {} events in {} segments, {} on disk; time {} .. {}",
        thousands(r.rows),
        r.segments.iter().filter(|s| s.file.is_some()).count(),
        human_bytes(r.bytes),
        r.min_time.as_deref().unwrap_or("-"),
        r.max_time.as_deref().unwrap_or("-"),
    )?;
    writeln!(
        out,
        "  rejects {}, repaired {}, events without a time {}; time field: {}; indexed: {}",
        thousands(r.rejects),
        thousands(r.repaired),
        thousands(r.events_without_time),
        r.time_field,
        r.index_columns.join(", ")
    )?;
    if verified {
        writeln!(
            out,
            "  verified: every block, dictionary and index checksum matches"
        )?;
    }
    writeln!(out, "\nsegments:")?;
    writeln!(
        out,
        "  {:>6} {:>10} {:>10} {:>24} {:>24} {:>8}",
        "id", "rows", "bytes", "min time", "max time", "rejects"
    )?;
    for s in &r.segments {
        writeln!(
            out,
            "  {:>6} {:>10} {:>10} {:>24} {:>24} {:>8}",
            s.id,
            thousands(s.rows),
            human_bytes(s.bytes),
            s.min_time.as_deref().unwrap_or("-"),
            s.max_time.as_deref().unwrap_or("-"),
            thousands(s.rejects)
        )?;
    }
    let width = r
        .columns
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(6)
        .clamp(6, 48);
    writeln!(out, "\ncolumns:")?;
    writeln!(
        out,
        "  {:<width$} {:<18} {:>12} {:>12} {:>10}  notes",
        "name", "type", "cardinality", "nulls", "bytes"
    )?;
    for c in &r.columns {
        let mut notes = Vec::new();
        if c.json_text_segments > 0 {
            notes.push("arrays/objects as JSON text");
        }
        if c.widened_segments > 0 {
            notes.push("mixed types kept as text");
        }
        if c.plain_segments > 0 {
            notes.push("near-unique: stored plain, no dictionary (cardinality: at most)");
        }
        writeln!(
            out,
            "  {:<width$} {:<18} {:>12} {:>12} {:>10}  {}",
            c.name,
            c.types.join("|"),
            if c.max_cardinality > 0 {
                thousands(c.max_cardinality)
            } else {
                "-".into()
            },
            thousands(c.nulls),
            human_bytes(c.stored_bytes),
            notes.join("; ")
        )?;
    }
    writeln!(out, "\nindexes:")?;
    for i in &r.indexes {
        writeln!(
            out,
            "  {} ({}): {} keys over {} segments, {}",
            i.column,
            i.kind,
            thousands(i.keys),
            i.segments,
            human_bytes(i.bytes)
        )?;
    }
    writeln!(out, "\ninputs:")?;
    for i in &r.inputs {
        let state = match i.broken_at {
            Some(at) => format!("partial, stream broken at byte {at}"),
            None if i.complete() => "complete".to_string(),
            None => "partial".to_string(),
        };
        let shape = match (&i.shape, &i.records) {
            (_, Some(p)) => format!("envelope of `{p}`"),
            (InputShape::Ndjson, None) => "NDJSON".to_string(),
            (InputShape::JsonArray, None) => "JSON array".to_string(),
            (InputShape::Envelope, None) => "JSON objects".to_string(),
        };
        let compression = match i.compression {
            Compression::None => "plain",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        };
        writeln!(
            out,
            "  {} [{}, {}, {}]: {} events, {} rejects, {} repaired, {} of input committed",
            i.path,
            state,
            shape,
            compression,
            thousands(i.rows),
            thousands(i.rejects),
            thousands(i.repaired),
            human_bytes(i.committed_bytes())
        )?;
    }
    if !r.rejects_files.is_empty() {
        writeln!(
            out,
            "\nrejects files ({}): {}/{} ...",
            r.rejects_files.len(),
            r.data_dir,
            r.rejects_files[0]
        )?;
    }
    Ok(())
}
