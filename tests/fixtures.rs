//! Every real fixture in tests/data/fixtures is ingested and read back: the row count equals an
//! independent serde_json count, the rejects and repairs are exact, and every stored row equals
//! the reference flattening of its source line (as a multiset, since parallel workers do not
//! keep input order).

mod common;

use std::path::Path;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::store::DataDir;

fn check_fixture(rel: &str, segment_rows: usize) {
    let path = common::fixtures().join(rel);
    assert!(
        path.exists(),
        "fixture {} missing (tests/data/fixtures)",
        path.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![path.clone()],
        threads: 2,
        segment_rows,
        chunk_bytes: 64 << 10,
        ..IngestOptions::default()
    };
    let s = ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let exp = common::expected(&path);
    assert_eq!(s.events, exp.rows.len() as u64, "{rel}: events");
    assert_eq!(s.rejects, exp.rejects, "{rel}: rejects");
    assert_eq!(s.repaired, exp.repaired, "{rel}: repaired");

    let stored = common::stored_rows(dir.root());
    assert_eq!(stored.len(), exp.rows.len(), "{rel}: stored rows");
    for r in &stored {
        assert!(
            r.contains_key("_file") && r.contains_key("_line"),
            "{rel}: provenance columns"
        );
    }
    let got = common::sorted(stored.into_iter().map(common::strip_derived).collect());
    let want = common::sorted(exp.rows);
    if got != want {
        let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{rel}: stored rows differ from the reference flattening\n got: {}\nwant: {}",
            got.get(first).map_or("", |s| s.as_str()),
            want.get(first).map_or("", |s| s.as_str())
        );
    }
    // Rejects on disk: one line per reject or repair, each naming file, line, offset, reason.
    let rejects_dir = dir.root().join("rejects");
    let mut lines = 0u64;
    for f in std::fs::read_dir(&rejects_dir).expect("rejects dir") {
        let text = std::fs::read_to_string(f.expect("entry").path()).expect("read rejects");
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("reject is JSON");
            assert!(v["line"].as_u64().is_some() && v["offset"].as_u64().is_some());
            assert!(v["reason"].as_str().is_some() && v["file"].as_str().is_some());
            assert!(v.get("raw").is_some() || v.get("raw_base64").is_some());
            lines += 1;
        }
    }
    assert_eq!(
        lines,
        exp.rejects + exp.repaired,
        "{rel}: reject lines on disk"
    );
    // Every region of every segment verifies.
    logpivot::store::inspect::inspect(&dir, None, true).expect("verify");
}

#[test]
fn cloudflare_firewall_events() {
    check_fixture("cloudflare/panther_firewall_events.ndjson", 1 << 20);
}

#[test]
fn aws_waf() {
    check_fixture("aws_waf/panther_aws_waf.ndjson", 7);
}

#[test]
fn modsecurity_with_invalid_utf8() {
    check_fixture("modsecurity/modsec_audit.json.log", 50);
}

#[test]
fn suricata_json_arrays() {
    for d in [
        "first-org-conf-2015",
        "honeypot-2018",
        "wrccdc-2017",
        "wrccdc-2018",
    ] {
        check_fixture(&format!("suricata/{d}/alerts-only.json"), 100);
    }
}

#[test]
fn zeek_gzip_logs() {
    let dir = common::fixtures().join("zeek_wrccdc");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("zeek dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        let rel = Path::new("zeek_wrccdc").join(f.file_name().expect("name"));
        check_fixture(rel.to_str().expect("utf8"), 20_000);
    }
}

#[test]
fn windows_events_gzip() {
    check_fixture("otrf/lsass_campaign_01.json.gz", 1 << 20);
}

#[test]
fn modsecurity_time_is_parsed() {
    let path = common::fixtures().join("modsecurity/modsec_audit.json.log");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = DataDir::new(tmp.path().join("d"));
    let opts = IngestOptions {
        inputs: vec![path],
        ..IngestOptions::default()
    };
    let s = ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    assert_eq!(
        s.events_without_time, 0,
        "transaction.time is found as a nested `time`"
    );
    let rows = common::stored_rows(dir.root());
    let r = rows
        .iter()
        .find(|r| {
            r.get("transaction.time").map(String::as_str) == Some("13/May/2017:08:39:31 --0400")
        })
        .expect("row");
    assert_eq!(r["_time"], "2017-05-13T12:39:31Z");
}
