//! Enrichment maps are parsed once per process and reused by later queries, but never stale:
//! a map rewritten between two queries (another size, or the same size and a new modification
//! time) is read again.

use std::io::Write;
use std::time::{Duration, SystemTime};

use logpivot::ingest::{ingest, IngestOptions};
use logpivot::query::{pivot, JoinRequest, PivotRequest};
use logpivot::store::DataDir;

fn labels(dir: &DataDir, map: &std::path::Path) -> Vec<String> {
    let req = PivotRequest {
        rows: vec!["rules.category".into()],
        joins: vec![
            JoinRequest::parse(&format!("{}:RuleID=rule_id", map.display())).expect("join"),
        ],
        ..PivotRequest::default()
    };
    let t = pivot(dir, &req).expect("pivot");
    let mut out: Vec<String> = t.rows.iter().map(|r| format!("{:?}", r.keys[0])).collect();
    out.sort();
    out
}

#[test]
fn a_rewritten_map_is_read_again() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("e.ndjson");
    let mut f = std::fs::File::create(&input).expect("create");
    for i in 0..100 {
        writeln!(f, r#"{{"RuleID":"r{}"}}"#, i % 2).expect("write");
    }
    drop(f);
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Default::default()).expect("ingest");
    let map = tmp.path().join("rules.csv");
    std::fs::write(&map, "rule_id,category\nr0,sqli\nr1,xss\n").expect("write");
    assert_eq!(labels(&dir, &map), ["Str(\"sqli\")", "Str(\"xss\")"]);
    // Another size.
    std::fs::write(&map, "rule_id,category\nr0,lfi\n").expect("write");
    assert_eq!(labels(&dir, &map), ["Str(\"(unmatched)\")", "Str(\"lfi\")"]);
    // The same size, a later modification time.
    std::fs::write(&map, "rule_id,category\nr0,rce\n").expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(&map)
        .expect("open");
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .expect("mtime");
    assert_eq!(labels(&dir, &map), ["Str(\"(unmatched)\")", "Str(\"rce\")"]);
}
