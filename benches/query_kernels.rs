//! Query kernels: bitmap-index filtering against a column scan, and the aggregation kernel,
//! on a small generated data directory. `cargo bench --bench query_kernels`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{pivot, PivotRequest};
use logpivot::store::DataDir;
use logpivot_synth::{Synth, SynthConfig};

fn setup() -> (tempfile::TempDir, DataDir, String) {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("events.ndjson");
    let mut synth = Synth::new(SynthConfig {
        events: 200_000,
        ..SynthConfig::default()
    });
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
    synth.write_events(&mut f, None).expect("generate");
    drop(f);
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let top = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["RuleID".into()],
            top: Some(20),
            ..PivotRequest::default()
        },
    )
    .expect("top rules");
    let rule = top.key_text(&top.rows[19].keys[0], &top.row_formats[0]);
    (tmp, dir, rule)
}

fn bench_filters(c: &mut Criterion) {
    let (_tmp, dir, rule) = setup();
    let mut g = c.benchmark_group("single_rule_per_hour");
    g.sample_size(20);
    for (name, use_indexes) in [("bitmap_index", true), ("column_scan", false)] {
        let req = PivotRequest {
            rows: vec!["Datetime:1h".into()],
            filters: vec![format!("RuleID = {rule}")],
            use_indexes,
            ..PivotRequest::default()
        };
        g.bench_function(name, |b| b.iter(|| pivot(&dir, &req).expect("pivot")));
    }
    g.finish();
    let mut g = c.benchmark_group("aggregate");
    g.sample_size(10);
    for (name, rows) in [
        (
            "low_cardinality",
            vec!["Action".to_string(), "Source".to_string()],
        ),
        (
            "high_cardinality",
            vec!["ClientIP".to_string(), "ClientRequestPath".to_string()],
        ),
    ] {
        let req = PivotRequest {
            rows,
            top: Some(100),
            ..PivotRequest::default()
        };
        g.bench_function(name, |b| b.iter(|| pivot(&dir, &req).expect("pivot")));
    }
    g.finish();
}

criterion_group!(benches, bench_filters);
criterion_main!(benches);
