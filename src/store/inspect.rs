//! `inspect`: what a data directory holds, as a serializable report.
//!
//! Reads the manifest and every live segment's footer (not its blocks, unless `verify`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Result;
use crate::segment::{IndexKind, SegmentReader};

use super::{DataDir, InputEntry};

/// One column summed over segments.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ColumnReport {
    pub name: String,
    /// Types seen (a column can be int in one segment and string in another).
    pub types: Vec<String>,
    /// Largest per-segment cardinality (string columns).
    pub max_cardinality: u64,
    pub nulls: u64,
    pub stored_bytes: u64,
    /// Segments in which some values are JSON text of arrays or objects.
    pub json_text_segments: u64,
    /// Segments in which numbers were widened to text.
    pub widened_segments: u64,
    /// Segments in which the column is a plain string column (no dictionary; its cardinality
    /// there is the non-null rows, an upper bound).
    pub plain_segments: u64,
}

/// One index summed over segments.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexReport {
    pub column: String,
    pub kind: String,
    pub segments: u64,
    pub keys: u64,
    pub bytes: u64,
}

/// One segment.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentReport {
    pub id: u64,
    pub file: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub min_time: Option<String>,
    pub max_time: Option<String>,
    pub null_time: u64,
    pub rejects: u64,
    pub columns: usize,
    pub verified: bool,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub data_dir: String,
    pub generation: u64,
    pub rows: u64,
    pub rejects: u64,
    pub repaired: u64,
    pub events_without_time: u64,
    pub bytes: u64,
    pub time_field: String,
    pub index_columns: Vec<String>,
    pub min_time: Option<String>,
    pub max_time: Option<String>,
    pub segments: Vec<SegmentReport>,
    pub columns: Vec<ColumnReport>,
    pub indexes: Vec<IndexReport>,
    pub inputs: Vec<InputEntry>,
    pub rejects_files: Vec<String>,
}

fn fmt_time(t: Option<i64>) -> Option<String> {
    t.map(crate::json::time::format_rfc3339)
}

/// Build the report; `only` restricts the per-column part to one segment id; `verify` reads
/// and checks every region of every segment.
pub fn inspect(dir: &DataDir, only: Option<u64>, verify: bool) -> Result<Report> {
    let m = super::shards::load_view(dir)?;
    let mut columns: BTreeMap<String, ColumnReport> = BTreeMap::new();
    let mut indexes: BTreeMap<(String, String), IndexReport> = BTreeMap::new();
    let mut segments = Vec::new();
    for e in &m.segments {
        if only.is_some_and(|id| id != e.id) {
            continue;
        }
        let reader = dir.open_segment(e)?;
        if let (Some(r), true) = (&reader, verify) {
            r.verify_all()?;
        }
        if let Some(r) = &reader {
            add_columns(r, &mut columns);
            add_indexes(r, &mut indexes)?;
        }
        segments.push(SegmentReport {
            id: e.id,
            file: e.file.clone(),
            rows: e.rows,
            bytes: e.bytes,
            min_time: fmt_time(e.min_time),
            max_time: fmt_time(e.max_time),
            null_time: e.null_time,
            rejects: e.rejects,
            columns: reader.as_ref().map_or(0, |r| r.meta().columns.len()),
            verified: verify && reader.is_some(),
        });
    }
    Ok(Report {
        data_dir: dir.root().display().to_string(),
        generation: m.generation,
        rows: m.rows(),
        rejects: m.rejects(),
        repaired: m.inputs.iter().map(|i| i.repaired).sum(),
        events_without_time: m.segments.iter().map(|s| s.null_time).sum(),
        bytes: m.bytes(),
        time_field: m.time_field.clone().unwrap_or_else(|| {
            "auto (Datetime, timestamp, @timestamp, ts, time, eventTime)".into()
        }),
        index_columns: m.index_columns.clone(),
        min_time: fmt_time(m.segments.iter().filter_map(|s| s.min_time).min()),
        max_time: fmt_time(m.segments.iter().filter_map(|s| s.max_time).max()),
        segments,
        columns: columns.into_values().collect(),
        indexes: indexes.into_values().collect(),
        rejects_files: m
            .segments
            .iter()
            .filter_map(|s| s.rejects_file.clone())
            .collect(),
        inputs: m.inputs.clone(),
    })
}

fn add_columns(r: &SegmentReader, columns: &mut BTreeMap<String, ColumnReport>) {
    for c in &r.meta().columns {
        let rep = columns
            .entry(c.name.clone())
            .or_insert_with(|| ColumnReport {
                name: c.name.clone(),
                ..ColumnReport::default()
            });
        let ty = c.ty.name().to_string();
        if !rep.types.contains(&ty) {
            rep.types.push(ty);
        }
        rep.max_cardinality = rep.max_cardinality.max(c.cardinality);
        rep.nulls += c.null_count;
        rep.stored_bytes += c.stored_bytes();
        rep.json_text_segments += u64::from(c.flags & crate::segment::flags::JSON_TEXT != 0);
        rep.widened_segments += u64::from(c.flags & crate::segment::flags::WIDENED != 0);
        rep.plain_segments += u64::from(c.flags & crate::segment::flags::PLAIN != 0);
    }
}

fn add_indexes(
    r: &SegmentReader,
    indexes: &mut BTreeMap<(String, String), IndexReport>,
) -> Result<()> {
    for i in &r.meta().indexes {
        let kind = match i.kind {
            IndexKind::Values => "values",
            IndexKind::TimeMinutes => "time-minutes",
        };
        let keys = r.index(i)?.len() as u64;
        let rep = indexes
            .entry((i.column.clone(), kind.to_string()))
            .or_insert_with(|| IndexReport {
                column: i.column.clone(),
                kind: kind.to_string(),
                ..IndexReport::default()
            });
        rep.segments += 1;
        rep.keys += keys;
        rep.bytes += i.stored_bytes();
    }
    Ok(())
}
