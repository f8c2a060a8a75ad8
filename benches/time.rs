//! Time kernels: local-time bucketing in a named zone (the `--tz` path of every time key) and
//! timestamp parsing (the ingest hot path), each against what a crate offers.
//! `cargo bench --bench time`.
//!
//! - `bucket/*`: `query::tz::bucket_start` (1 h and 1 d buckets), `hour_of_day` and
//!   `format_local` in America/New_York over 65,536 timestamps, sorted a second or so apart
//!   (a segment's time column) or spread over a year.
//! - `parse/*`: `json::time::parse_time_str` against `jiff::Timestamp`'s parser on the RFC 3339
//!   shapes logs write (jiff needs an offset; ours also reads the forms without one).
//! - `format/*`: `json::time::format_rfc3339` (jiff's printer at a fixed precision) against
//!   `jiff::Timestamp`'s `Display`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logpivot::json::time::{format_rfc3339, parse_time_str};
use logpivot::query::plan::load_tz;
use logpivot::query::tz;

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

const N: usize = 65_536;
const NS: i64 = 1_000_000_000;

fn times() -> Vec<(&'static str, Vec<i64>)> {
    let mut seed = 11u64;
    let mut t = 1_709_251_200 * NS; // 2024-03-01
    let sorted: Vec<i64> = (0..N)
        .map(|_| {
            t += (xorshift(&mut seed) % (2 * NS as u64)) as i64;
            t
        })
        .collect();
    let year = 365 * 86_400 * NS as u64;
    let spread: Vec<i64> = (0..N)
        .map(|_| 1_704_067_200 * NS + (xorshift(&mut seed) % year) as i64)
        .collect();
    vec![("sorted", sorted), ("year", spread)]
}

fn bench_buckets(c: &mut Criterion) {
    let Ok(ny) = load_tz("America/New_York") else {
        eprintln!("bench time: no America/New_York zone; bucket benches skipped");
        return;
    };
    let mut g = c.benchmark_group("bucket");
    g.throughput(Throughput::Elements(N as u64));
    for (name, ts) in times() {
        for (w, width) in [("1h", 3600 * NS), ("1d", 86_400 * NS)] {
            g.bench_with_input(
                BenchmarkId::new(format!("new_york_{w}"), name),
                &ts,
                |b, ts| {
                    b.iter(|| {
                        ts.iter()
                            .map(|&t| tz::bucket_start(t, width, &ny))
                            .sum::<i64>()
                    })
                },
            );
        }
        g.bench_with_input(BenchmarkId::new("new_york_hour", name), &ts, |b, ts| {
            b.iter(|| ts.iter().map(|&t| tz::hour_of_day(t, &ny)).sum::<u32>())
        });
    }
    let (_, ts) = &times()[0];
    let few = &ts[..1024];
    g.throughput(Throughput::Elements(few.len() as u64));
    g.bench_function("new_york_format", |b| {
        b.iter(|| {
            few.iter()
                .map(|&t| tz::format_local(t, &ny).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let shapes = [
        ("z_seconds", "2024-06-09T12:34:56Z"),
        ("z_millis", "2024-06-09T12:34:56.123Z"),
        ("z_nanos", "2024-06-09T12:34:56.123456789Z"),
        ("offset", "2024-06-09T12:34:56+02:00"),
    ];
    for (name, s) in shapes {
        let lines: Vec<String> = (0..1024)
            .map(|i| s.replacen("34", &format!("{:02}", i % 60), 1))
            .collect();
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_with_input(BenchmarkId::new("logpivot", name), &lines, |b, l| {
            b.iter(|| l.iter().filter_map(|s| parse_time_str(s)).sum::<i64>())
        });
        g.bench_with_input(BenchmarkId::new("jiff", name), &lines, |b, l| {
            b.iter(|| {
                l.iter()
                    .filter_map(|s| s.parse::<jiff::Timestamp>().ok())
                    .map(|t| t.as_nanosecond() as i64)
                    .sum::<i64>()
            })
        });
    }
    g.finish();
}

fn bench_format(c: &mut Criterion) {
    let mut g = c.benchmark_group("format");
    let (_, ts) = &times()[0];
    let few: Vec<i64> = ts[..1024].iter().map(|t| t + 123_000_000).collect();
    g.throughput(Throughput::Elements(few.len() as u64));
    g.bench_function("logpivot", |b| {
        b.iter(|| few.iter().map(|&t| format_rfc3339(t).len()).sum::<usize>())
    });
    g.bench_function("jiff", |b| {
        b.iter(|| {
            few.iter()
                .filter_map(|&t| jiff::Timestamp::from_nanosecond(i128::from(t)).ok())
                .map(|t| t.to_string().len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_buckets, bench_parse, bench_format);
criterion_main!(benches);
