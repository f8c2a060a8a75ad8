//! A truncated or bit-flipped segment is a clear error naming the file and offset, never a
//! panic; a golden data directory of format v1 (tests/data/v1) still reads.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::io::MappedFile;
use logpivot::segment::SegmentReader;
use logpivot::store::DataDir;
use logpivot::Error;

fn small_segment(tmp: &Path) -> PathBuf {
    let dir = DataDir::new(tmp.join("d"));
    let opts = IngestOptions {
        inputs: vec![common::fixtures().join("aws_waf/panther_aws_waf.ndjson")],
        threads: 1,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let m = dir.load_manifest().expect("manifest");
    let file = m
        .segments
        .iter()
        .find_map(|s| s.file.clone())
        .expect("a segment");
    dir.root().join(file)
}

/// Open and fully verify a segment file.
fn open_and_verify(path: &Path) -> logpivot::Result<()> {
    let r = SegmentReader::new(MappedFile::open(path)?)?;
    r.verify_all()?;
    for c in 0..r.meta().columns.len() {
        r.column_cells(c)?;
    }
    Ok(())
}

#[test]
fn every_truncation_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = small_segment(tmp.path());
    let bytes = std::fs::read(&seg).expect("read");
    open_and_verify(&seg).expect("intact segment verifies");
    let cut_path = tmp.path().join("cut.lps");
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        std::fs::write(&cut_path, &bytes[..len]).expect("write");
        match open_and_verify(&cut_path) {
            Err(Error::Corrupt { path, .. }) => assert_eq!(path, cut_path),
            other => panic!("truncated to {len} of {} bytes: {other:?}", bytes.len()),
        }
    }
}

#[test]
fn every_byte_flip_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = small_segment(tmp.path());
    let bytes = std::fs::read(&seg).expect("read");
    let flip_path = tmp.path().join("flip.lps");
    for pos in 0..bytes.len() {
        let mut b = bytes.clone();
        b[pos] ^= 1 << (pos % 8);
        std::fs::write(&flip_path, &b).expect("write");
        let err = open_and_verify(&flip_path).expect_err(&format!("flip at byte {pos} undetected"));
        let msg = err.to_string();
        assert!(msg.contains("flip.lps"), "error names the file: {msg}");
    }
}

#[test]
fn a_truncated_segment_in_a_data_directory_is_reported_by_inspect() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seg = small_segment(tmp.path());
    let bytes = std::fs::read(&seg).expect("read");
    std::fs::write(&seg, &bytes[..bytes.len() / 2]).expect("truncate");
    let err = logpivot::store::inspect::inspect(&DataDir::new(tmp.path().join("d")), None, false)
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(msg.contains("seg-") && msg.contains("truncated"), "{msg}");
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1")
}

#[test]
fn golden_v1_directory_reads_back() {
    let rows = common::stored_rows(&golden().join("aws_waf"));
    assert_eq!(rows.len(), 50);
    let exp = common::expected(&common::fixtures().join("aws_waf/panther_aws_waf.ndjson"));
    let got = common::sorted(rows.into_iter().map(common::strip_derived).collect());
    assert_eq!(got, common::sorted(exp.rows));
}

#[test]
fn golden_v1_corrupt_twin_is_an_error() {
    let dir = DataDir::new(golden().join("aws_waf_corrupt"));
    let err =
        logpivot::store::inspect::inspect(&dir, None, true).expect_err("corrupt twin must fail");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
}
