//! The aggregation kernel as the number of groups grows: a count pivot on two string keys
//! and a column key, over the same rows, with 10^5, 10^6 and 10^7 distinct groups, on each
//! of the two paths that take such pivots (integer keys: `query::fast`; byte keys in hash
//! partitions: `query::bytegroups`). Throughput is in rows a second: the rows are the same
//! at every size, so a fall when the table outgrows the caches shows as a fall in it.
//!
//! `cargo bench --bench aggregation`. The store is generated once per run (10^7 rows of
//! three fields, about 30 s to write and ingest); `LOGPIVOT_BENCH_ROWS` sets another row
//! count (the groups are then capped by it), `LOGPIVOT_BENCH_DIR` keeps the store in a
//! directory of yours between runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{pivot, PivotRequest};
use logpivot::store::DataDir;

const ACTIONS: [&str; 5] = ["block", "challenge", "log", "allow", "jschallenge"];

fn rows() -> u64 {
    std::env::var("LOGPIVOT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// Group `g` of row `i` for `groups` groups: a permutation of the row numbers modulo
/// `groups` (an odd multiplier that is not a multiple of 5 is invertible modulo 10^k), so
/// every group occurs and rows of one group are far apart.
fn group(i: u64, groups: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761)) % groups
}

/// One NDJSON file per group count: `ip` and `path` together identify the group (the path
/// alone has 1,000 values), `action` is the column key.
fn write_events(path: &Path, n: u64, groups: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        let g = group(i, groups);
        let ip = g / 1000;
        writeln!(
            f,
            r#"{{"ip":"10.{}.{}.{}","path":"/api/v1/items/{}","action":"{}","ts":{}}}"#,
            (ip >> 16) & 255,
            (ip >> 8) & 255,
            ip & 255,
            g % 1000,
            ACTIONS[(i / 7 % 5) as usize],
            1_717_200_000 + i / 1000,
        )?;
    }
    f.flush()
}

fn store(root: &Path, groups: u64) -> DataDir {
    let dir = DataDir::new(root.join(format!("g{groups}")));
    if dir.root().join("MANIFEST").exists() {
        return dir;
    }
    let input = root.join(format!("events-{groups}.ndjson"));
    write_events(&input, rows(), groups).expect("generate events");
    let opts = IngestOptions {
        inputs: vec![input.clone()],
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let _ = std::fs::remove_file(&input);
    dir
}

fn bench_groups(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tmp");
    let root: PathBuf = std::env::var_os("LOGPIVOT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root).expect("bench dir");
    let n = rows();
    let mut g = c.benchmark_group("count_pivot_by_groups");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    let mut sizes: Vec<u64> = [100_000u64, 1_000_000, 10_000_000]
        .map(|g| g.min(n))
        .to_vec();
    sizes.dedup();
    for groups in sizes {
        let dir = store(&root, groups);
        for (path, many_groups) in [("integer_keys", u64::MAX), ("byte_keys", 0)] {
            let req = PivotRequest {
                rows: vec!["ip".into(), "path".into()],
                cols: Some("action".into()),
                top: Some(100),
                many_groups: Some(many_groups),
                ..PivotRequest::default()
            };
            let t = pivot(&dir, &req).expect("pivot");
            assert!(t.stats.groups >= groups, "groups of the generated store");
            g.bench_with_input(BenchmarkId::new(path, groups), &req, |b, req| {
                b.iter(|| pivot(&dir, req).expect("pivot"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_groups);
criterion_main!(benches);
