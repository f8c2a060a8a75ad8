//! Per-call cancellation: a cancelled token stops the call that carries it, with
//! `Error::Interrupted`, and only that call; a cancelled ingest leaves a store that the next
//! run completes exactly once.

mod common;

use std::io::Write;
use std::path::Path;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{pivot, PivotRequest};
use logpivot::store::DataDir;
use logpivot::{Cancel, Error};

fn write_events(path: &Path, n: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..n {
        writeln!(
            f,
            r#"{{"id":{i},"RuleID":"{}","ClientIP":"10.{}.{}.{}"}}"#,
            100 + i % 7,
            i % 3,
            i % 251,
            i % 13
        )
        .expect("write");
    }
    f.flush().expect("flush");
}

fn options(input: &Path) -> IngestOptions {
    IngestOptions {
        inputs: vec![input.to_path_buf()],
        threads: 2,
        chunk_bytes: 16 << 10,
        segment_rows: 2_000,
        ..IngestOptions::default()
    }
}

#[test]
fn a_cancelled_token_stops_only_its_own_call() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("e.ndjson");
    write_events(&input, 50_000);
    let dir = DataDir::new(tmp.path().join("data"));

    // An ingest cancelled before it starts reading commits nothing it did not finish...
    let cancelled = Cancel::new();
    cancelled.cancel();
    let opts = IngestOptions {
        cancel: cancelled.clone(),
        ..options(&input)
    };
    let r = ingest(&dir, &opts, Default::default());
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    // ...and the next run, with a fresh token, stores every event exactly once.
    let s = ingest(
        &dir,
        &options(&input),
        std::sync::Arc::new(IngestProgress::default()),
    )
    .expect("ingest");
    let ids: std::collections::BTreeSet<String> = common::stored_rows(dir.root())
        .into_iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids.len(), 50_000, "{s:?}");
    assert_eq!(common::stored_rows(dir.root()).len(), 50_000);

    let req = |cancel: Cancel, rows: &str| PivotRequest {
        rows: vec![rows.to_string()],
        cancel,
        threads: 1,
        ..PivotRequest::default()
    };
    // Every aggregation path hears its token: integer keys, byte keys (many groups), the
    // general path (a sum), distinct counts.
    let shapes: Vec<Box<dyn Fn(Cancel) -> PivotRequest + Sync>> = vec![
        Box::new(move |c| req(c, "RuleID")),
        Box::new(move |c| PivotRequest {
            many_groups: Some(0),
            ..req(c, "ClientIP")
        }),
        Box::new(move |c| PivotRequest {
            values: vec!["sum(id)".into()],
            ..req(c, "RuleID")
        }),
        Box::new(move |c| PivotRequest {
            values: vec!["count_distinct(ClientIP)".into()],
            ..req(c, "RuleID")
        }),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        let r = pivot(&dir, &shape(cancelled.clone()));
        assert!(matches!(r, Err(Error::Interrupted)), "shape {i}: {r:?}");
        // The same query with its own token, at the same time as a cancelled one.
        std::thread::scope(|s| {
            let a = s.spawn(|| pivot(&dir, &shape(cancelled.clone())));
            let b = s.spawn(|| pivot(&dir, &shape(Cancel::new())));
            assert!(matches!(a.join().expect("a"), Err(Error::Interrupted)));
            let t = b.join().expect("b").expect("not cancelled");
            assert!(!t.rows.is_empty(), "shape {i}");
        });
    }
}
