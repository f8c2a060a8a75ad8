//! What open segments keep between queries (a long-lived handle's decoded dictionaries and
//! index chunks) stays within an eighth of a query's memory limit while that query runs, and
//! the answers do not depend on it. A test binary of its own: the kept bytes are a process
//! total.

use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{open_segments, plan, run, PivotRequest, PivotTable};
use logpivot::segment::{kept_bytes, set_kept_budget};
use logpivot::store::DataDir;
use logpivot_synth::{Synth, SynthConfig};

fn csv(t: &PivotTable) -> String {
    let mut out = Vec::new();
    logpivot::query::output::write(t, logpivot::query::output::Format::Csv, &mut out, 0)
        .expect("csv");
    String::from_utf8(out).expect("utf8")
}

#[test]
fn a_query_with_a_small_limit_drops_and_does_not_refill_the_kept_regions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("events.ndjson");
    let mut buf = Vec::new();
    Synth::new(SynthConfig {
        events: 20_000,
        seed: 11,
        days: 1,
        ips: 3_000,
        ..SynthConfig::default()
    })
    .write_events(&mut buf, None)
    .expect("gen");
    std::fs::write(&input, &buf).expect("write");
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        threads: 2,
        segment_rows: 4_000,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");

    set_kept_budget(64 << 20);
    // Segments held open across queries, as the Python module's `Store` holds them.
    let (segs, time_field) = open_segments(&dir).expect("open");
    let schema = logpivot::query::plan::Schema::from_segments(&segs, time_field.as_deref());
    let query = |limit: u64| {
        let req = PivotRequest {
            rows: vec!["ClientIP".into(), "Action".into()],
            filters: vec!["ClientCountry != 'zz'".into()],
            memory_limit: limit,
            ..PivotRequest::default()
        }
        .normalized();
        let p = plan(&req, &schema).expect("plan");
        run(&p, &schema, &segs, &req).expect("pivot")
    };
    let wide = query(PivotRequest::default().memory_limit);
    let kept = kept_bytes();
    assert!(kept > 64 << 10, "the first query kept only {kept} bytes");

    // A limit whose eighth is below what is kept: the segments drop it, and the query keeps
    // no more than that eighth while it runs.
    let limit = kept; // an eighth of it is below `kept`
    let small = query(limit);
    assert!(
        kept_bytes() <= limit / 8,
        "after a query limited to {limit} bytes, {} bytes are kept (cap {})",
        kept_bytes(),
        limit / 8
    );
    assert_eq!(
        csv(&small),
        csv(&wide),
        "the answer depends on the kept regions"
    );

    // Without the small limit the segments keep regions again.
    let again = query(PivotRequest::default().memory_limit);
    assert!(kept_bytes() > limit / 8, "nothing kept after the cap ended");
    assert_eq!(csv(&again), csv(&wide));
    drop(segs);
    assert_eq!(kept_bytes(), 0, "kept bytes outlived their segments");
}
