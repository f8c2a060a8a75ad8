//! The fuzz targets' bodies (tests/fuzz/src/lib.rs) replayed on stable Rust: every input saved
//! under tests/fuzz/regressions/TARGET/ (a crash `tools/fuzz` found, kept with its fix), and
//! inputs made from the repository's fixtures (real JSON logs, segments of every format
//! version, manifests, maps), whole and cut short at many lengths. None may panic.

#[allow(dead_code)]
#[path = "fuzz/src/lib.rs"]
mod bodies;

use std::path::Path;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 6] = [
    ("json_record", bodies::json_record),
    ("segment", bodies::segment),
    ("manifest", bodies::manifest),
    ("csv_map", bodies::csv_map),
    ("filter", bodies::filter),
    ("partial", bodies::partial),
];

#[test]
fn saved_fuzz_inputs_replay_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/regressions");
    for (name, body) in TARGETS {
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).expect("read a saved input");
            body(&data);
        }
    }
}

/// `data` whole, cut at many lengths, and with single bytes flipped.
fn variants(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![data.to_vec()];
    let step = (data.len() / 40).max(1);
    for cut in (0..data.len()).step_by(step) {
        out.push(data[..cut].to_vec());
    }
    for at in (0..data.len()).step_by(step * 3 + 1) {
        let mut d = data.to_vec();
        d[at] ^= 0x5a;
        out.push(d);
    }
    out
}

#[test]
fn fixture_seeds_through_every_body() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let read = |p: &str| std::fs::read(base.join(p)).expect(p);
    let mut json = read("fixtures/cloudflare/panther_firewall_events.ndjson");
    json.truncate(8192);
    for v in variants(&json) {
        bodies::json_record(&v);
    }
    let seg = read("v1/aws_waf/segments/seg-00000001.lps");
    for v in variants(&seg) {
        let mut d = vec![0u8];
        d.extend_from_slice(&v);
        bodies::segment(&d);
        for layer in 1..6u8 {
            d[0] = layer;
            bodies::segment(&d);
        }
    }
    for m in ["v1/loggen/MANIFEST", "v3/loggen/MANIFEST"] {
        for v in variants(&read(m)) {
            let mut d = vec![1u8];
            d.extend_from_slice(&v);
            bodies::manifest(&d);
        }
    }
    let mut csv = read("fixtures/cloudflare/cf_managed_rules_map.csv");
    csv.truncate(4096);
    for v in variants(&csv) {
        bodies::csv_map(&v);
    }
    for q in [
        "Action = block and not (RuleID in (1, 2) or ClientIP prefix 10.)",
        "EdgeResponseStatus >= 403 or score < 0.5",
        "Datetime >= 2024-06-05T19:00:00Z and Datetime < 2024-06-05T21:00:00Z",
        "Datetime:1hcount_distinct(ClientIP)",
    ] {
        for v in variants(q.as_bytes()) {
            bodies::filter(&v);
        }
    }
    for v in variants(&[2u8, 0, 1, 5, 1, b'x']) {
        bodies::partial(&v);
    }
}
