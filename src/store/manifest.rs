//! The manifest: the one file that says which segments are live and how far each input has been
//! ingested. It is JSON (small, human-readable) and replaced atomically; see docs/FORMAT.md.

use serde::{Deserialize, Serialize};

use crate::io::Compression;
use crate::json::split::{InputShape, RecordsPath};

/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// A byte range of an input that is committed: every record in it is stored (or rejected)
/// exactly once. Ranges are in decompressed bytes and start and end on record boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub start: u64,
    pub end: u64,
    /// 1-based line number at `start`.
    pub first_line: u64,
    /// Newlines inside `[start, end)`.
    pub lines: u64,
}

/// What the store knows of one input file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputEntry {
    /// The path as given on the command line (for display).
    pub path: String,
    /// Hash of the first 64 KiB of raw bytes and their length: the file's identity.
    pub fingerprint: String,
    pub shape: InputShape,
    pub compression: Compression,
    /// Raw size when last ingested.
    pub raw_size: u64,
    /// Committed ranges, sorted, merged when adjacent.
    pub committed: Vec<Range>,
    /// Decompressed length, known once the whole file was read.
    pub total_len: Option<u64>,
    pub rows: u64,
    pub rejects: u64,
    pub repaired: u64,
    /// For an envelope input, the path of the array that holds its events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<RecordsPath>,
    /// Where the last run found this compressed input's stream broken (decompressed bytes);
    /// None once it was read to a proper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
}

impl InputEntry {
    /// Add a committed range, merging with neighbours.
    pub fn add_range(&mut self, r: Range) {
        let pos = self.committed.partition_point(|x| x.start < r.start);
        self.committed.insert(pos, r);
        let mut merged: Vec<Range> = Vec::with_capacity(self.committed.len());
        for x in self.committed.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end == x.start => {
                    last.end = x.end;
                    last.lines += x.lines;
                }
                _ => merged.push(x),
            }
        }
        self.committed = merged;
    }

    /// Bytes committed so far.
    pub fn committed_bytes(&self) -> u64 {
        self.committed.iter().map(|r| r.end - r.start).sum()
    }

    /// True when the whole file (as long as it was when fully read) is committed.
    pub fn complete(&self) -> bool {
        match (self.total_len, self.committed.as_slice()) {
            (Some(0), []) => true,
            (Some(n), [only]) => only.start == 0 && only.end >= n,
            _ => false,
        }
    }
}

/// One committed batch: a segment file (when it has rows) and a rejects file (when it has
/// rejects).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub id: u64,
    /// Relative to the data directory; None for a batch that only had rejects.
    pub file: Option<String>,
    pub rows: u64,
    pub bytes: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub null_time: u64,
    pub rejects: u64,
    pub rejects_file: Option<String>,
    /// Input bytes (decompressed) this batch covers.
    pub input_bytes: u64,
}

impl SegmentEntry {
    /// The entry of a segment written but not yet committed (id, file and input bytes are
    /// set by the commit).
    pub fn unlisted(rows: u64, enc: &crate::segment::writer::EncodedSegment) -> SegmentEntry {
        SegmentEntry {
            id: 0,
            file: None,
            rows,
            bytes: enc.bytes.len() as u64,
            min_time: enc.meta.min_time,
            max_time: enc.meta.max_time,
            null_time: enc.meta.null_time,
            rejects: 0,
            rejects_file: None,
            input_bytes: 0,
        }
    }
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Incremented at every commit.
    pub generation: u64,
    pub next_segment_id: u64,
    /// The time field chosen by the user (None = automatic detection).
    pub time_field: Option<String>,
    pub index_columns: Vec<String>,
    pub segments: Vec<SegmentEntry>,
    pub inputs: Vec<InputEntry>,
    /// Files that compaction or retention replaced and that a reader holding an older
    /// generation may still open; deleted once no lease protects them (docs/FORMAT.md 10.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<Retired>,
}

/// A file no longer listed by the manifest, kept until no reader can still need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// Relative to the data directory.
    pub file: String,
    /// The first manifest generation that does not list it.
    pub generation: u64,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: MANIFEST_VERSION,
            generation: 0,
            next_segment_id: 1,
            time_field: None,
            index_columns: vec!["RuleID".to_string()],
            segments: Vec::new(),
            inputs: Vec::new(),
            retired: Vec::new(),
        }
    }
}

impl Manifest {
    /// Total rows in live segments.
    pub fn rows(&self) -> u64 {
        self.segments.iter().map(|s| s.rows).sum()
    }

    /// Total rejects recorded.
    pub fn rejects(&self) -> u64 {
        self.segments.iter().map(|s| s.rejects).sum()
    }

    /// Bytes of segment files.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The input with this fingerprint.
    pub fn input_mut(&mut self, fingerprint: &str) -> Option<&mut InputEntry> {
        self.inputs
            .iter_mut()
            .find(|i| i.fingerprint == fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_in_any_order() {
        let mut e = InputEntry {
            path: "x".into(),
            fingerprint: "f".into(),
            shape: InputShape::Ndjson,
            compression: Compression::None,
            raw_size: 30,
            committed: vec![],
            total_len: Some(30),
            rows: 0,
            rejects: 0,
            repaired: 0,
            records: None,
            broken_at: None,
        };
        let r = |s, e, l| Range {
            start: s,
            end: e,
            first_line: 1,
            lines: l,
        };
        e.add_range(r(10, 20, 2));
        assert!(!e.complete());
        e.add_range(r(20, 30, 3));
        e.add_range(r(0, 10, 1));
        assert_eq!(e.committed, vec![r(0, 30, 6)]);
        assert!(e.complete());
    }
}
