//! Real logs as users have them: envelopes (CloudTrail's `{"Records": [...]}` and `--records`),
//! pretty-printed objects, directories of rotated and dated names walked by content, a byte
//! order mark, CRLF, truncated `.gz`/`.zst` files, and CSV output of extreme numbers. Every
//! count is checked against an independent count of the generated input, and the envelope and
//! the truncated file are checked exactly once after an abort or a completed copy.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn logpivot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_logpivot"))
}

fn run(args: &[&str], data: &Path, inputs: &[&Path]) -> Output {
    let mut c = logpivot();
    c.args(args).arg("--data").arg(data);
    for i in inputs {
        c.arg(i);
    }
    c.stdin(Stdio::null()).output().expect("spawn logpivot")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A CloudTrail-like event; `i` is unique.
fn cloudtrail_event(i: u64) -> serde_json::Value {
    let names = [
        "GetObject",
        "PutObject",
        "AssumeRole",
        "ConsoleLogin",
        "ListBuckets",
    ];
    serde_json::json!({
        "eventVersion": "1.08",
        "eventTime": format!("2024-06-05T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
        "eventSource": if i.is_multiple_of(3) { "iam.amazonaws.com" } else { "s3.amazonaws.com" },
        "eventName": names[(i % 5) as usize],
        "userIdentity": {"type": "IAMUser", "userName": format!("user{}", i % 11)},
        "requestParameters": {"bucketName": "b", "key": format!("k/{i}")},
        "resources": [{"ARN": "arn:aws:s3:::b"}],
        "id": i,
    })
}

fn envelope_bytes(events: std::ops::Range<u64>, pretty: bool) -> Vec<u8> {
    let records: Vec<serde_json::Value> = events.map(cloudtrail_event).collect();
    let doc = serde_json::json!({ "Records": records });
    if pretty {
        serde_json::to_vec_pretty(&doc).expect("json")
    } else {
        serde_json::to_vec(&doc).expect("json")
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// Stored rows' `id` values, sorted; panics on a duplicate.
fn ids(data: &Path) -> Vec<u64> {
    let rows = common::stored_rows(data);
    let ids: Vec<u64> = rows
        .iter()
        .map(|r| r.get("id").and_then(|v| v.parse().ok()).expect("id"))
        .collect();
    let set: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "an event was stored twice");
    set.into_iter().collect()
}

fn reject_records(data: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(data.join("rejects")) else {
        return out;
    };
    for f in dir {
        let t = std::fs::read_to_string(f.expect("entry").path()).expect("read");
        for l in t.lines() {
            out.push(serde_json::from_str(l).expect("reject json"));
        }
    }
    out
}

#[test]
fn cloudtrail_envelope_plain_gzip_and_zstd_without_a_flag() {
    let tmp = tempfile::tempdir().expect("tmp");
    const N: u64 = 100_000;
    let plain = envelope_bytes(0..N, false);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("ct.json", plain.clone()),
        ("ct.json.gz", gzip(&plain)),
        (
            "ct.json.zst",
            zstd::stream::encode_all(&plain[..], 1).expect("zstd"),
        ),
        ("pretty.json", envelope_bytes(0..N, true)),
    ];
    for (name, bytes) in cases {
        let input = tmp.path().join(name);
        std::fs::write(&input, &bytes).expect("write");
        let data = tmp.path().join(format!("data-{name}"));
        let out = run(
            &["ingest", "--chunk-bytes", "256K", "--segment-rows", "30000"],
            &data,
            &[&input],
        );
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("envelope"), "{name}: {stdout}");
        let got = ids(&data);
        assert_eq!(got.len() as u64, N, "{name}: events");
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "{name}");
        // Nested fields of each event are columns; `_line` is the element's ordinal.
        let rows = common::stored_rows(&data);
        for r in rows.iter().take(2000) {
            let id: u64 = r["id"].parse().expect("id");
            assert_eq!(r["userIdentity.userName"], format!("user{}", id % 11));
            assert_eq!(r["_line"], (id + 1).to_string(), "{name}: _line of id {id}");
        }
        assert!(reject_records(&data).is_empty(), "{name}: no rejects");
    }
}

#[test]
fn records_path_names_the_array_and_other_objects_are_events() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Two pages of an API export, one NDJSON line each, and an error object without the
    // array: the error is an event of its own, never dropped. Keys before the array, a decoy
    // `events` key at the wrong depth, strings holding brackets.
    let page = |from: u64, to: u64| {
        let events: Vec<serde_json::Value> = (from..to).map(cloudtrail_event).collect();
        serde_json::json!({
            "meta": {"events": "not this one", "note": "]}[{"},
            "data": {"cursor": "x\"]", "events": events, "count": to - from},
            "next": "abc"
        })
    };
    let mut body = Vec::new();
    for v in [
        page(0, 700),
        serde_json::json!({"error": "rate limited", "id": 100_000}),
        page(700, 1500),
    ] {
        body.extend(serde_json::to_vec(&v).expect("json"));
        body.push(b'\n');
    }
    let input = tmp.path().join("export.json");
    std::fs::write(&input, &body).expect("write");
    let data = tmp.path().join("data");
    let out = run(
        &["ingest", "--records", "data.events", "--chunk-bytes", "8K"],
        &data,
        &[&input],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut want: Vec<u64> = (0..1500).collect();
    want.push(100_000);
    assert_eq!(ids(&data), want);
    let rows = common::stored_rows(&data);
    let err = rows
        .iter()
        .find(|r| r["id"] == "100000")
        .expect("error row");
    assert_eq!(err["error"], "rate limited");
    // Envelope fields are not columns of the events.
    assert!(rows.iter().all(|r| !r.contains_key("next")));

    // Without --records the same file is NDJSON: three events, one per line.
    let data2 = tmp.path().join("data2");
    let out = run(&["ingest"], &data2, &[&input]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(common::stored_rows(&data2).len(), 3);

    // A bad path is a usage error naming it.
    let out = run(&["ingest", "--records", "data..events"], &data2, &[&input]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("data..events"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pretty_printed_objects_are_events_not_rejects() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut body = Vec::new();
    for i in 0..50u64 {
        body.extend(serde_json::to_vec_pretty(&cloudtrail_event(i)).expect("json"));
        body.extend(b"\r\n");
    }
    let input = tmp.path().join("pretty.json");
    std::fs::write(&input, &body).expect("write");
    let data = tmp.path().join("data");
    let out = run(&["ingest"], &data, &[&input]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ids(&data), (0..50).collect::<Vec<_>>());
    assert!(reject_records(&data).is_empty());
}

#[test]
fn envelope_is_exactly_once_after_an_abort_at_each_commit_step() {
    const N: u64 = 20_000;
    for point in ["commit:after-rename", "commit:after-manifest"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let input = tmp.path().join("ct.json.gz");
        std::fs::write(&input, gzip(&envelope_bytes(0..N, false))).expect("write");
        let data = tmp.path().join("data");
        let args = [
            "ingest",
            "--quiet",
            "--chunk-bytes",
            "64K",
            "--segment-rows",
            "2000",
            "--threads",
            "2",
        ];
        let mut c = logpivot();
        c.args(args).arg("--data").arg(&data).arg(&input);
        let out = c
            .env("LOGPIVOT_FAILPOINT", format!("{point}:3"))
            .output()
            .expect("spawn");
        assert!(!out.status.success(), "{point} should abort");
        let partial = ids(&data).len() as u64;
        assert!(
            partial < N,
            "{point}: the abort left work to do ({partial})"
        );
        let out = run(&args, &data, &[&input]);
        assert!(out.status.success(), "{point}: {}", text(&out.stderr));
        assert_eq!(ids(&data), (0..N).collect::<Vec<_>>(), "{point}");
        let out = run(&["ingest"], &data, &[&input]);
        assert!(text(&out.stdout).contains("already ingested"));
        assert_eq!(ids(&data).len() as u64, N);
    }
}

/// NDJSON lines with a unique `id` and varied lengths.
fn ndjson(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":{i},"RuleID":"{}","pad":"{}"}}"#,
            900_000 + i % 13,
            "y".repeat((i * 7 % 150) as usize)
        )
        .expect("write");
    }
    out
}

/// The ids of the complete lines (ending in `\n`) that a decoder yields before it fails.
fn complete_ids_of_prefix(decoded: &[u8]) -> Vec<u64> {
    let end = decoded
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    decoded[..end]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).expect("line");
            v["id"].as_u64().expect("id")
        })
        .collect()
}

fn decode_prefix(r: impl std::io::Read) -> Vec<u8> {
    let mut r = r;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn truncated_gzip_and_zstd_keep_their_complete_records_then_continue_exactly_once() {
    const N: u64 = 100_000;
    let full = ndjson(N);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("events.ndjson.gz", gzip(&full)),
        (
            "events.ndjson.zst",
            zstd::stream::encode_all(&full[..], 3).expect("zstd"),
        ),
        ("small.ndjson.gz", gzip(&full[..20_000])),
        ("envelope.json.gz", gzip(&envelope_bytes(0..20_000, false))),
    ];
    for (name, packed) in cases {
        let tmp = tempfile::tempdir().expect("tmp");
        let input = tmp.path().join(name);
        let cut = &packed[..packed.len() * 45 / 100];
        std::fs::write(&input, cut).expect("write");
        // The independent count: what a decoder yields of the cut file, complete lines only
        // (for the envelope, complete elements: checked by count below).
        let decoded = if name.ends_with(".gz") {
            decode_prefix(flate2::read::MultiGzDecoder::new(cut))
        } else {
            decode_prefix(zstd::stream::read::Decoder::new(cut).expect("zstd"))
        };
        let data = tmp.path().join("data");
        let args = ["ingest", "--chunk-bytes", "64K", "--segment-rows", "5000"];
        let out = run(&args, &data, &[&input]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("broken"),
            "{}",
            text(&out.stderr)
        );
        let got = ids(&data);
        if name.starts_with("envelope") {
            assert!(
                !got.is_empty() && got.len() < 20_000,
                "{name}: {}",
                got.len()
            );
            assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
        } else {
            assert_eq!(got, complete_ids_of_prefix(&decoded), "{name}");
        }
        let rejects = reject_records(&data);
        assert_eq!(rejects.len(), 1, "{name}: one reject for the break");
        assert!(rejects[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("broken after")));
        // Again on the same cut file: nothing new, no second reject, still exit 3.
        let out = run(&args, &data, &[&input]);
        assert_eq!(out.status.code(), Some(3), "{name}");
        assert_eq!(reject_records(&data).len(), 1, "{name}");
        // The file is whole now: the rest is read, exactly once.
        std::fs::write(&input, &packed).expect("write");
        let out = run(&args, &data, &[&input]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let total = if name.starts_with("small") {
            complete_ids_of_prefix(&full[..20_000]).len() as u64
        } else if name.starts_with("envelope") {
            20_000
        } else {
            N
        };
        assert_eq!(ids(&data), (0..total).collect::<Vec<_>>(), "{name}");
        let out = run(&args, &data, &[&input]);
        assert!(text(&out.stdout).contains("already ingested"), "{name}");
    }
}

#[test]
fn directories_are_walked_by_content_whatever_the_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let mut want = 0u64;
    let mut next = 0u64;
    let mut lines = |n: u64| {
        let mut out = Vec::new();
        for _ in 0..n {
            writeln!(out, r#"{{"id":{next},"f":"x"}}"#).expect("write");
            next += 1;
        }
        out
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("cowrie.json.2018-05-06", lines(120)),
        ("cowrie.json.2018-05-07", lines(80)),
        ("eve.json.1", lines(50)),
        ("eve.json.2.gz", gzip(&lines(40))),
        ("access.log-20240601.gz", gzip(&lines(30))),
        ("batch-0001", lines(10)),
        ("sub/part", lines(5)),
        (
            "sub/array.out",
            format!("\u{feff} [{{\"id\": {}}}]", 1_000_000).into_bytes(),
        ),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    want += 120 + 80 + 50 + 40 + 30 + 10 + 5 + 1;
    std::fs::write(dir.join("README"), "Logs of the honeypot.\n").expect("write");
    std::fs::write(
        dir.join("capture.pcap"),
        [0xd4u8, 0xc3, 0xb2, 0xa1, 0, 0, 1, 2],
    )
    .expect("w");
    std::fs::write(dir.join("notes.txt.gz"), gzip(b"plain text, gzipped\n")).expect("w");
    std::fs::write(dir.join("empty.json"), b"").expect("write");
    let data = tmp.path().join("data");
    let out = run(&["ingest"], &data, &[&dir]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(ids(&data).len() as u64, want, "{stdout}");
    assert!(
        stdout.contains("skipped 4 files that are not JSON logs"),
        "{stdout}"
    );
    for name in ["README", "capture.pcap", "notes.txt.gz", "empty.json"] {
        assert!(stdout.contains(name), "{name} named: {stdout}");
    }
    // Nothing new: says so, exit 0.
    let out = run(&["ingest"], &data, &[&dir]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("nothing new"),
        "{}",
        text(&out.stdout)
    );

    // A directory with no log at all is an error naming what it skipped.
    let junk = tmp.path().join("junk");
    std::fs::create_dir_all(&junk).expect("mkdir");
    std::fs::write(junk.join("README"), "hello\n").expect("write");
    let out = run(&["ingest"], &tmp.path().join("data3"), &[&junk]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no JSON log") && err.contains("README"),
        "{err}"
    );
}

#[test]
fn byte_order_mark_and_crlf_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut body = b"\xEF\xBB\xBF".to_vec();
    for i in 0..100u64 {
        body.extend(format!("{{\"id\":{i},\"msg\":\"a\\r\\nb\"}}\r\n").as_bytes());
    }
    body.extend(b"\r\n");
    // A file concatenated from two BOM files holds a second BOM at a line start.
    body.extend(b"\xEF\xBB\xBF{\"id\":100}\r\n");
    let input = tmp.path().join("win.ndjson");
    std::fs::write(&input, &body).expect("write");
    let gz = tmp.path().join("win2.ndjson.gz");
    let mut other = b"\xEF\xBB\xBF".to_vec();
    other.extend(b"{\"id\":101}\r\n{\"id\":102}");
    std::fs::write(&gz, gzip(&other)).expect("write");
    let data = tmp.path().join("data");
    let out = run(&["ingest"], &data, &[&input, &gz]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(ids(&data), (0..103).collect::<Vec<_>>());
    assert!(
        reject_records(&data).is_empty(),
        "{:?}",
        reject_records(&data)
    );
    let rows = common::stored_rows(&data);
    assert!(rows.iter().all(|r| r["id"] != "0" || r["msg"] == "a\r\nb"));
}

#[test]
fn csv_output_keeps_numbers_as_numbers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let values: Vec<serde_json::Value> = vec![
        serde_json::json!(i64::MIN),
        serde_json::json!(i64::MAX),
        serde_json::json!(-1),
        serde_json::json!(0),
    ];
    let floats = [-1.5e-7, -0.25, 3.0e300, -2.5];
    let texts = [
        "=cmd|' /C calc'!A0",
        "-2+3",
        "+x",
        "@SUM(A1)",
        "\tx",
        "plain",
        "-",
    ];
    let mut body = Vec::new();
    for v in &values {
        writeln!(body, r#"{{"Keywords":{v},"F":1.0,"T":"plain"}}"#).expect("w");
    }
    for f in floats {
        writeln!(body, r#"{{"Keywords":0,"F":{f:e},"T":"plain"}}"#).expect("w");
    }
    for t in texts {
        writeln!(
            body,
            "{}",
            serde_json::json!({"Keywords": 0, "F": 1.0, "T": t})
        )
        .expect("w");
    }
    let input = tmp.path().join("e.ndjson");
    std::fs::write(&input, &body).expect("write");
    let data = tmp.path().join("data");
    assert!(run(&["ingest", "-q"], &data, &[&input]).status.success());
    let csv_of = |rows: &str| {
        let out = run(
            &["pivot", "--rows", rows, "--format", "csv", "--top", "0"],
            &data,
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut r = csv::ReaderBuilder::new().from_reader(&out.stdout[..]);
        r.records()
            .map(|rec| rec.expect("csv").get(0).expect("cell").to_string())
            .collect::<BTreeSet<String>>()
    };
    let ints = csv_of("Keywords");
    for v in [i64::MIN, i64::MAX, -1, 0] {
        assert!(ints.contains(&v.to_string()), "{v} in {ints:?}");
    }
    let floats_out = csv_of("F");
    for f in floats {
        assert!(
            floats_out.iter().any(|c| c.parse::<f64>().ok() == Some(f)),
            "{f} in {floats_out:?}"
        );
    }
    let texts_out = csv_of("T");
    for t in texts {
        let want = if t == "plain" {
            t.to_string()
        } else {
            format!("'{t}")
        };
        assert!(texts_out.contains(&want), "{want:?} in {texts_out:?}");
    }
}

#[test]
fn top_zero_means_all_rows_in_every_command() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("e.ndjson");
    std::fs::write(&input, ndjson(1000)).expect("write");
    let data = tmp.path().join("data");
    assert!(run(&["ingest", "-q"], &data, &[&input]).status.success());
    let rows = |args: &[&str]| {
        let out = run(args, &data, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().count() - 1
    };
    let base = ["pivot", "--rows", "RuleID", "--format", "csv"];
    let all = rows(&base);
    assert_eq!(all, 13);
    assert_eq!(rows(&[&base[..], &["--top", "0"]].concat()), all);
    assert_eq!(rows(&[&base[..], &["--top", "5"]].concat()), 5);
    let cols = run(
        &[
            "pivot",
            "--rows",
            "RuleID",
            "--cols",
            "RuleID",
            "--cols-top",
            "0",
            "--format",
            "csv",
        ],
        &data,
        &[],
    );
    let header = text(&cols.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(header.split(',').count(), 1 + 13, "{header}");
    assert!(!header.contains("OTHER"));
    let contrast = run(
        &[
            "contrast",
            "--suspect",
            "RuleID = 900001",
            "--fields",
            "pad",
            "--top",
            "0",
            "--format",
            "csv",
            "--min-count",
            "1",
        ],
        &data,
        &[],
    );
    assert!(contrast.status.success(), "{}", text(&contrast.stderr));
    let mut per: BTreeMap<String, u64> = BTreeMap::new();
    for l in text(&contrast.stdout).lines().skip(1) {
        *per.entry(l.to_string()).or_default() += 1;
    }
    assert!(
        per.len() > 30,
        "contrast --top 0 lists every value: {}",
        per.len()
    );
}

#[test]
fn fixtures_live_in_the_repository() {
    // The suite must pass in a clone with nothing beside it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for dir in ["tests", "benches", "src"] {
        walk(&root.join(dir), &mut |p: &PathBuf| {
            if p.extension().is_some_and(|e| e == "rs") {
                let t = std::fs::read_to_string(p).unwrap_or_default();
                if t.contains(concat!("../", "shared")) {
                    offenders.push(p.display().to_string());
                }
            }
        });
    }
    assert!(
        offenders.is_empty(),
        "tests read outside the repository: {offenders:?}"
    );
}

fn walk(dir: &Path, f: &mut dyn FnMut(&PathBuf)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}
