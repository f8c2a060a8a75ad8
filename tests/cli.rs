//! The `logpivot` command as a user runs it: output formats (CSV safe for spreadsheets, JSON
//! lines, Arrow IPC readable by arrow), clear errors with a non-zero exit and an untouched data
//! directory, the spill quota, named time zones across a DST change, and `--help` examples.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn logpivot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logpivot"))
        .args(args)
        .output()
        .expect("run logpivot")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A small data directory with spreadsheet-hostile values and a fall-back night in New York.
fn data(tmp: &Path) -> PathBuf {
    let input = tmp.join("in.ndjson");
    let mut f = std::fs::File::create(&input).expect("create");
    let hostile = [
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2",
        "@SUM(A1)",
        "plain, with comma",
        "quote \" inside",
    ];
    // 2024-11-03 04:00Z .. 08:00Z every 10 minutes: 00:00 EDT .. 03:00 EST local.
    let start = 1_730_606_400i64;
    for i in 0..24 {
        let t = start + i * 600;
        writeln!(
            f,
            r#"{{"ts": {t}, "RuleID": "{}", "Path": {}, "n": {i}}}"#,
            100 + i % 3,
            serde_json::to_string(hostile[(i % 6) as usize]).expect("json")
        )
        .expect("write");
    }
    drop(f);
    let dir = tmp.join("data");
    ok(&logpivot(&[
        "ingest",
        "-q",
        "--data",
        dir.to_str().expect("utf8"),
        input.to_str().expect("utf8"),
    ]));
    dir
}

#[test]
fn csv_is_rfc4180_and_spreadsheet_safe() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = data(tmp.path());
    let out = ok(&logpivot(&[
        "pivot",
        "--data",
        d.to_str().expect("utf8"),
        "--rows",
        "Path",
        "--cols",
        "RuleID",
        "--totals",
        "--format",
        "csv",
        "--sort",
        "Path",
    ]));
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "Path,100,101,102,Total");
    assert!(lines.contains(&"'+1+1,0,4,0,4"), "{out}");
    // A text cell that is a whole number is a number to a spreadsheet, not a formula.
    assert!(lines.contains(&"-2,0,0,4,4"), "{out}");
    assert!(lines.contains(&"'=cmd|' /C calc'!A0,4,0,0,4"), "{out}");
    assert!(lines.contains(&"'@SUM(A1),4,0,0,4"), "{out}");
    assert!(lines.contains(&"\"plain, with comma\",0,4,0,4"), "{out}");
    assert!(lines.contains(&"\"quote \"\" inside\",0,0,4,4"), "{out}");
    assert_eq!(*lines.last().expect("total"), "Total,8,8,8,24");
}

#[test]
fn json_lines_and_arrow_ipc() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = data(tmp.path());
    let ds = d.to_str().expect("utf8");
    let out = ok(&logpivot(&[
        "pivot", "--data", ds, "--rows", "RuleID", "--value", "count", "--value", "sum(n)",
        "--format", "json", "--sort", "RuleID",
    ]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["RuleID"], "100");
    assert_eq!(rows[0]["count"], 8);
    assert_eq!(
        rows[0]["sum(n)"],
        0.0 + 3.0 + 6.0 + 9.0 + 12.0 + 15.0 + 18.0 + 21.0
    );
    let arrow_path = tmp.path().join("out.arrow");
    ok(&logpivot(&[
        "pivot",
        "--data",
        ds,
        "--rows",
        "RuleID",
        "--format",
        "arrow",
        "--output",
        arrow_path.to_str().expect("utf8"),
    ]));
    let f = std::fs::File::open(&arrow_path).expect("open arrow");
    let reader = arrow::ipc::reader::FileReader::try_new(f, None).expect("arrow file");
    let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    assert_eq!(batches[0].schema().field(0).name(), "RuleID");
}

#[test]
fn errors_are_one_clear_line_and_leave_the_data_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = data(tmp.path());
    let ds = d.to_str().expect("utf8");
    let manifest_before = std::fs::read(d.join("MANIFEST")).expect("manifest");
    let spill_dir = tmp.path().join("spill");
    let spill_s = spill_dir.to_str().expect("utf8");
    let cases: &[(&[&str], &str)] = &[
        (&["--rows", "Pathh"], "unknown field `Pathh`"),
        (&["--rows", "Path", "--where", "n >="], "--where"),
        (
            &["--rows", "Path", "--memory-limit", "12 parsecs"],
            "invalid size",
        ),
        (
            &["--rows", "Path", "--join", "nope.csv:RuleID=id"],
            "nope.csv",
        ),
        (&["--rows", "Path", "--from", "last tuesday"], "--from"),
        (&["--rows", "Path", "--sort", "RuleID"], "--sort"),
        (
            &[
                "--rows",
                "Path,n",
                "--memory-limit",
                "1K",
                "--max-spill",
                "10",
                "--spill-dir",
                spill_s,
            ],
            "max-spill",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["pivot", "--data", ds];
        full.extend_from_slice(args);
        let out = logpivot(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert_eq!(
        std::fs::read(d.join("MANIFEST")).expect("manifest"),
        manifest_before
    );
    let spill = tmp.path().join("spill");
    let left = std::fs::read_dir(&spill).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "spill files removed after the error");
    let out = logpivot(&[
        "pivot",
        "--data",
        tmp.path().join("none").to_str().expect("utf8"),
        "--rows",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a logpivot data directory"));
}

#[test]
fn hourly_buckets_in_a_named_zone_across_fall_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = data(tmp.path());
    let out = ok(&logpivot(&[
        "pivot",
        "--data",
        d.to_str().expect("utf8"),
        "--rows",
        "ts:1h",
        "--tz",
        "America/New_York",
        "--sort",
        "ts:1h",
        "--format",
        "csv",
    ]));
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    // 4 UTC hours = 00:00 EDT, 01:00 EDT, 01:00 EST (the repeated hour), 02:00 EST.
    assert_eq!(
        lines,
        [
            "ts:1h,count",
            "2024-11-03T00:00:00-04:00,6",
            "2024-11-03T01:00:00-04:00,6",
            "2024-11-03T01:00:00-05:00,6",
            "2024-11-03T02:00:00-05:00,6"
        ]
    );
    let out = ok(&logpivot(&[
        "pivot",
        "--data",
        d.to_str().expect("utf8"),
        "--rows",
        "hour(ts)",
        "--tz",
        "America/New_York",
        "--sort",
        "hour(ts)",
        "--format",
        "csv",
    ]));
    assert!(
        out.contains("\r\n1,12\r\n"),
        "both 01:00 hours fall in hour 1: {out}"
    );
}

#[test]
fn contrast_and_score_in_every_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = data(tmp.path());
    let ds = d.to_str().expect("utf8");
    // The last two hours (12 of 24 events) against the first two.
    let suspect = "ts >= 2024-11-03T06:00:00Z";
    let csv = ok(&logpivot(&[
        "contrast",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--fields",
        "RuleID,Path",
        "--min-count",
        "1",
        "--format",
        "csv",
    ]));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("field,value,suspect,baseline,suspect_rate,baseline_rate,f,G,p,q,JLH,z,RR_low")
    );
    let rows: Vec<Vec<String>> = lines.map(common::parse_csv_line).collect();
    // 3 rule ids and 6 paths, each seen in both halves: 9 values.
    assert_eq!(rows.len(), 9, "{csv}");
    assert!(rows.iter().all(|r| r[2] == "4" || r[2] == "2"), "{csv}");
    // Hostile paths are neutralised for spreadsheets.
    assert!(rows.iter().any(|r| r[1] == "'=cmd|' /C calc'!A0"), "{csv}");
    assert!(
        !rows
            .iter()
            .any(|r| r[1].starts_with(['=', '+', '-', '@']) && r[1].parse::<f64>().is_err()),
        "{csv}"
    );

    let json = ok(&logpivot(&[
        "contrast",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--fields",
        "RuleID",
        "--min-count",
        "1",
        "--format",
        "json",
        "--sort",
        "g",
    ]));
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["suspect"].as_u64().unwrap() + rows[0]["baseline"].as_u64().unwrap(),
        8
    );
    assert!(rows[0]["f"].as_f64().is_some() && rows[0]["q"].as_f64().is_some());

    let arrow_path = tmp.path().join("contrast.arrow");
    ok(&logpivot(&[
        "contrast",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--fields",
        "Path",
        "--min-count",
        "1",
        "--format",
        "arrow",
        "--output",
        arrow_path.to_str().expect("utf8"),
    ]));
    let f = std::fs::File::open(&arrow_path).expect("open arrow");
    let reader = arrow::ipc::reader::FileReader::try_new(f, None).expect("arrow file");
    let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
    assert_eq!(batches[0].num_rows(), 6);
    assert_eq!(batches[0].schema().field(2).name(), "suspect");

    let scored = ok(&logpivot(&[
        "score",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--fields",
        "RuleID,Path,hour(ts)",
        "--top",
        "5",
        "--format",
        "json",
    ]));
    let rows: Vec<serde_json::Value> = scored
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["rank"], 1);
    // Hours 06:00 and 07:00 only occur in the suspect set: the top events are from there.
    for r in &rows {
        let t = r["_time"].as_str().expect("_time");
        assert!(t >= "2024-11-03T06:00:00", "{r}");
        assert!(r["score"].as_f64().unwrap() > 0.5, "{r}");
        assert!(r["drivers"].as_str().unwrap().contains("hour(ts)="), "{r}");
    }
    let text = ok(&logpivot(&[
        "score",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--threshold",
        "0.9",
    ]));
    assert!(text.contains("at or above the threshold"), "{text}");

    // Clear errors.
    let out = logpivot(&[
        "score",
        "--data",
        ds,
        "--suspect",
        suspect,
        "--threshold",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threshold"));
    let out = logpivot(&["contrast", "--data", ds, "--suspect", "ts >= 2030-01-01"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("suspect set is empty"));
    let out = logpivot(&["contrast", "--data", ds]);
    assert_eq!(out.status.code(), Some(2));
}

/// -1 (and i64::MIN) are values, not nulls: integer ids must not collide with the null id.
#[test]
fn negative_and_extreme_integers_are_values_not_nulls() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("n.ndjson");
    std::fs::write(
        &input,
        "{\"n\":-1,\"a\":1}\n{\"n\":-1,\"a\":2}\n{\"n\":5,\"a\":3}\n{\"a\":4}\n\
         {\"n\":-9223372036854775808,\"a\":5}\n{\"n\":9223372036854775807,\"a\":6}\n",
    )
    .expect("write");
    let d = tmp.path().join("data");
    let ds = d.to_str().expect("utf8");
    ok(&logpivot(&[
        "ingest",
        "-q",
        "--data",
        ds,
        input.to_str().expect("utf8"),
    ]));
    let out = ok(&logpivot(&[
        "pivot", "--data", ds, "--rows", "n", "--format", "csv", "--sort", "n",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "n,count",
            "(null),1",
            "-9223372036854775808,1",
            "-1,2",
            "5,1",
            "9223372036854775807,1"
        ],
        "{out}"
    );
    let out = ok(&logpivot(&[
        "pivot",
        "--data",
        ds,
        "--rows",
        "a",
        "--value",
        "min(n)",
        "--value",
        "count_distinct(n)",
        "--where",
        "a <= 2",
        "--format",
        "csv",
        "--sort",
        "a",
    ]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["a,min(n),count_distinct(n)", "1,-1,1", "2,-1,1"]
    );
}

#[test]
fn help_has_examples() {
    for cmd in ["ingest", "pivot", "inspect", "demo", "contrast", "score"] {
        let out = ok(&logpivot(&[cmd, "--help"]));
        assert!(out.contains("Examples:"), "{cmd} --help lacks examples");
    }
}

#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().expect("tmp");
    // Enough output (50k rows) to overflow the pipe buffer after the reader is gone.
    let input = tmp.path().join("many.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("create"));
    for i in 0..50_000 {
        writeln!(f, r#"{{"n": {i}}}"#).expect("write");
    }
    drop(f);
    let d = tmp.path().join("many");
    ok(&logpivot(&[
        "ingest",
        "-q",
        "--data",
        d.to_str().expect("utf8"),
        input.to_str().expect("utf8"),
    ]));
    for format in ["table", "csv", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logpivot"))
            .args([
                "pivot",
                "--data",
                d.to_str().expect("utf8"),
                "--rows",
                "n",
                "--format",
                format,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read");
        // The reader is dropped here: the rest of the output hits a closed pipe.
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// A data directory written by the format-v1 writer (one 1,500-event loggen segment with a
/// single-blob RuleID index and minute index) answers index queries as it did when it was
/// written (the CSVs beside it were produced then), with indexes and without.
#[test]
fn golden_v1_indexes_answer_as_when_written() {
    golden_answers_as_when_written("v1", &[]);
}

/// A data directory written by the format-v2 writer (one 3,000-event loggen segment, every
/// string column dictionary-encoded, `RayID` included) answers as it did when it was written,
/// including filters, distinct counts and a sort on `RayID`, which format v3 stores without a
/// dictionary.
#[test]
fn golden_v2_answers_as_when_written() {
    golden_answers_as_when_written("v2", &rayid_queries());
}

/// The golden `RayID` queries (filters, a distinct count, a sort), answered by the v2 and v3
/// golden directories alike.
fn rayid_queries() -> Vec<(Vec<String>, &'static str)> {
    vec![
        (
            [
                "--where",
                "RayID prefix a or RayID contains ff",
                "--rows",
                "Action",
                "--value",
                "count_distinct(RayID)",
                "--value",
                "min(EdgeResponseStatus)",
            ]
            .map(String::from)
            .to_vec(),
            "loggen-rayid.csv",
        ),
        (
            ["--rows", "RayID", "--top", "7", "--sort", "RayID"]
                .map(String::from)
                .to_vec(),
            "loggen-rayid-top.csv",
        ),
    ]
}

/// `tests/data/v3/loggen`: 10,000 loggen events (`loggen --events 10000 --seed 7`) written by
/// the format-v3 binary at `--threads 1`, so `RayID` is a plain column, and every mostly-null
/// `Metadata.*` column is in dense blocks (v4 writes those sparse).
#[test]
fn golden_v3_answers_as_when_written() {
    let mut extra = rayid_queries();
    extra.push((
        [
            "--rows",
            "Metadata.group",
            "--cols",
            "Metadata.paranoia-level",
        ]
        .map(String::from)
        .to_vec(),
        "loggen-sparse.csv",
    ));
    golden_answers_as_when_written("v3", &extra);
}

/// Copy `tests/data/<version>/loggen` and check that the index queries (and `extra`) answer
/// exactly as the CSVs written beside it by that version's binary, with indexes and without.
fn golden_answers_as_when_written(version: &str, extra: &[(Vec<String>, &str)]) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(version);
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("loggen");
    copy_tree(&golden.join("loggen"), &d);
    std::fs::create_dir_all(d.join("rejects")).ok();
    std::fs::create_dir_all(d.join("tmp")).ok();
    let d = d.to_str().expect("utf-8 path");
    let want = |name: &str| std::fs::read_to_string(golden.join(name)).expect("expected csv");
    let counts = want("loggen-rule-counts.csv");
    let rule = counts
        .lines()
        .nth(9)
        .and_then(|l| l.split(',').next())
        .expect("a rule id")
        .to_string();
    let mut queries: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--rows".into(), "RuleID".into()],
            "loggen-rule-counts.csv",
        ),
        (
            vec![
                "--where".into(),
                format!("RuleID={rule}"),
                "--rows".into(),
                "Datetime:1h".into(),
                "--cols".into(),
                "Action".into(),
            ],
            "loggen-one-rule.csv",
        ),
        (
            vec![
                "--from".into(),
                "2024-06-05T19:00:00Z".into(),
                "--to".into(),
                "2024-06-05T21:30:00Z".into(),
                "--rows".into(),
                "Datetime:10m".into(),
            ],
            "loggen-window.csv",
        ),
    ];
    queries.extend(extra.iter().cloned());
    for (args, file) in queries {
        for no_index in [false, true] {
            let mut a = vec!["pivot", "--data", d, "--format", "csv"];
            a.extend(args.iter().map(String::as_str));
            if no_index {
                a.push("--no-index");
            }
            let got = ok(&logpivot(&a));
            assert_eq!(got, want(file), "{version} {file} (no_index {no_index})");
        }
    }
}

/// A sharded root (`ingest --shards 3`) of the real Zeek logs (one file per log type) reads as
/// one store: pivots equal the one-directory answers; a rerun adds nothing, nor does a renamed
/// copy of an ingested file (it belongs to the shard that holds its content); misuses are
/// refused with a clear error and change nothing.
#[test]
fn a_sharded_root_reads_as_one_store() {
    let tmp = tempfile::tempdir().expect("tmp");
    let zeek = common::fixtures().join("zeek_wrccdc");
    let zeek = zeek.to_str().expect("utf8");
    let root = tmp.path().join("root");
    let one = tmp.path().join("one");
    let (r, o) = (root.to_str().expect("utf8"), one.to_str().expect("utf8"));
    ok(&logpivot(&[
        "ingest", "-q", "--shards", "3", "--data", r, zeek,
    ]));
    ok(&logpivot(&["ingest", "-q", "--data", o, zeek]));
    let used = std::fs::read_dir(root.join("shards"))
        .expect("shards")
        .count();
    assert!(used >= 2, "{used} shards written");
    for q in [
        vec!["--rows", "_file"],
        vec![
            "--rows",
            "id\\.orig_h",
            "--cols",
            "_file",
            "--cols-top",
            "3",
            "--top",
            "10",
        ],
        vec!["--rows", "ts:1h", "--value", "count_distinct(id\\.resp_h)"],
        vec!["--rows", "proto", "--totals"],
    ] {
        let mut a = vec!["pivot", "--format", "csv", "--data", r];
        a.extend(&q);
        let mut b = vec!["pivot", "--format", "csv", "--data", o];
        b.extend(&q);
        let (x, y) = (ok(&logpivot(&a)), ok(&logpivot(&b)));
        assert_eq!(x, y, "{q:?}");
        assert!(x.lines().count() > 2, "{q:?}: {x}");
    }
    let again = ok(&logpivot(&["ingest", "--json", "--data", r, zeek]));
    let again: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert_eq!(again["events"], 0, "{again}");
    let moved = tmp.path().join("moved");
    std::fs::create_dir_all(&moved).expect("mkdir");
    std::fs::copy(
        common::fixtures().join("zeek_wrccdc/dns.json.gz"),
        moved.join("renamed.json.gz"),
    )
    .expect("copy");
    let renamed = ok(&logpivot(&[
        "ingest",
        "--json",
        "--data",
        r,
        moved.to_str().expect("utf8"),
    ]));
    let renamed: serde_json::Value = serde_json::from_str(&renamed).expect("json");
    assert_eq!(renamed["events"], 0, "{renamed}");
    let shard0 = root.join("shards/0000");
    for (args, says) in [
        (
            vec!["ingest", "--shards", "2", "--data", r, zeek],
            "has 3 shards",
        ),
        (
            vec!["ingest", "--data", shard0.to_str().expect("utf8"), zeek],
            "is a shard of the sharded root",
        ),
        (
            vec!["ingest", "--shards", "2", "--data", o, zeek],
            "a data directory of one shard",
        ),
    ] {
        let out = logpivot(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let inspect = ok(&logpivot(&["inspect", "--json", "--data", r]));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).expect("json");
    let plain = ok(&logpivot(&["inspect", "--json", "--data", o]));
    let plain: serde_json::Value = serde_json::from_str(&plain).expect("json");
    assert_eq!(inspect["rows"], plain["rows"]);
}
