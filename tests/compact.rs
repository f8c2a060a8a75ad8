//! The long-lived store: compaction, retention, an ingest run's one partial segment, reader
//! safety (leases, readers beside writers), and compaction killed or failing at every step.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{pivot, PivotRequest, PivotTable};
use logpivot::store::compact::{compact, retain, CompactOptions, Policy};
use logpivot::store::lease::Lease;
use logpivot::store::DataDir;

const DAY: i64 = 86_400;
const START: i64 = 1_717_200_000; // 2024-06-01T00:00:00Z

fn logpivot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_logpivot"))
}

/// `n` events of file `f`: unique `id`, a time on day `f % 5` (none for every 37th), and
/// fields whose type differs between files (`code` an integer, a string, a float or a
/// boolean; `tags` an array or a string), so merged segments widen them. Every 101st line is
/// malformed.
fn write_file(path: &Path, f: usize, n: usize) -> (u64, u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let (mut good, mut bad) = (0, 0);
    for i in 0..n {
        let id = f * 100_000 + i;
        if i % 101 == 50 {
            writeln!(out, "{{\"id\": {id}, \"oops\"").expect("write");
            bad += 1;
            continue;
        }
        let t = START + (f % 5) as i64 * DAY + (i as i64 * 7919) % DAY;
        let time = if i % 37 == 3 {
            String::new()
        } else {
            format!(r#""Datetime":{t},"#)
        };
        let code = match f % 4 {
            0 => format!("{}", i % 7),
            1 => format!("\"{}\"", i % 7),
            2 => format!("{}.5", i % 7),
            _ => format!("{}", i % 2 == 0),
        };
        let tags = if f.is_multiple_of(2) {
            format!("[\"a{}\", {}]", i % 3, i % 4)
        } else {
            format!("\"t{}\"", i % 3)
        };
        let rare = if i % 13 == 0 {
            format!(r#","rare{}":{}"#, f, i)
        } else {
            String::new()
        };
        writeln!(
            out,
            r#"{{"id":{id},{time}"RuleID":"{}","ClientIP":"10.{f}.{}.{}","Action":"{}","code":{code},"tags":{tags},"bytes":{}{rare}}}"#,
            900_000 + (i * 31 + f) % 53,
            i % 97,
            i % 89,
            ["block", "log", "challenge"][(i + f) % 3],
            (i * 13) % 5000,
        )
        .expect("write");
        good += 1;
    }
    out.flush().expect("flush");
    (good, bad)
}

fn ingest_opts(inputs: Vec<PathBuf>) -> IngestOptions {
    IngestOptions {
        inputs,
        threads: 2,
        segment_rows: 3_000,
        chunk_bytes: 32 << 10,
        ..IngestOptions::default()
    }
}

fn run_ingest(dir: &DataDir, opts: &IngestOptions) {
    ingest(dir, opts, Arc::new(IngestProgress::default())).expect("ingest");
}

/// A store of `files` small ingests; the input paths and (good, bad) line counts.
fn small_ingests(root: &Path, files: usize, n: usize) -> (DataDir, Vec<PathBuf>, u64, u64) {
    let dir = DataDir::new(root.join("data"));
    let (mut good, mut bad) = (0, 0);
    let mut paths = Vec::new();
    for f in 0..files {
        let p = root.join(format!("in-{f:03}.ndjson"));
        let (g, b) = write_file(&p, f, n + f * 37);
        good += g;
        bad += b;
        run_ingest(&dir, &ingest_opts(vec![p.clone()]));
        paths.push(p);
    }
    (dir, paths, good, bad)
}

/// The queries whose answers compaction must not change.
fn queries() -> Vec<PivotRequest> {
    let q = |rows: &[&str], cols: Option<&str>, values: &[&str], filters: &[&str]| PivotRequest {
        rows: rows.iter().map(|s| s.to_string()).collect(),
        cols: cols.map(str::to_string),
        values: values.iter().map(|s| s.to_string()).collect(),
        filters: filters.iter().map(|s| s.to_string()).collect(),
        ..PivotRequest::default()
    };
    vec![
        q(&["code"], None, &["count"], &[]),
        q(&["code"], Some("Action"), &["count", "sum(bytes)"], &[]),
        q(&["tags"], None, &["count", "count_distinct(ClientIP)"], &[]),
        q(&["Datetime:1d"], Some("Action"), &["count"], &[]),
        q(
            &["Datetime:1h"],
            None,
            &["count", "min(bytes)", "max(bytes)", "avg(bytes)"],
            &["RuleID = 900007"],
        ),
        q(
            &["ClientIP", "RuleID"],
            None,
            &["count"],
            &["Action = block"],
        ),
        q(
            &["RuleID"],
            None,
            &["count", "approx_count_distinct(ClientIP)"],
            &["code = 3"],
        ),
        q(&["Action"], None, &["count"], &["code is null"]),
        q(
            &["Action"],
            None,
            &["count"],
            &["bytes >= 2500 and bytes < 4000"],
        ),
        q(&["rare3"], None, &["count"], &[]),
        q(
            &["hour(Datetime)"],
            None,
            &["count"],
            &["Datetime >= 2024-06-02T06:00:00Z and Datetime < 2024-06-04"],
        ),
        q(&["Action"], None, &["count"], &["Datetime is null"]),
    ]
}

fn answers(dir: &DataDir) -> Vec<String> {
    queries()
        .iter()
        .map(|q| {
            let t = pivot(dir, q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
            render(&t)
        })
        .collect()
}

fn render(t: &PivotTable) -> String {
    let b = logpivot::query::output::to_record_batch(t).expect("batch");
    let mut s = String::new();
    for c in b.columns() {
        s.push_str(&format!("{:?}\n", c));
    }
    format!("{} rows\n{s}", t.total_rows)
}

fn rows_sorted(dir: &DataDir) -> Vec<String> {
    common::sorted(common::stored_rows(dir.root()))
}

/// Every file in segments/ and rejects/ is listed by the manifest, and none is retired.
fn check_no_leftovers(dir: &DataDir) {
    let m = dir.load_manifest().expect("manifest");
    assert!(m.retired.is_empty(), "retired files left: {:?}", m.retired);
    let listed: BTreeSet<String> = m
        .segments
        .iter()
        .flat_map(|s| s.file.iter().chain(s.rejects_file.iter()).cloned())
        .collect();
    for sub in ["segments", "rejects"] {
        for f in std::fs::read_dir(dir.root().join(sub)).expect("list") {
            let name = format!("{sub}/{}", f.expect("entry").file_name().to_string_lossy());
            assert!(listed.contains(&name), "{name} is not listed");
        }
    }
}

use common::{ids_once, verify};

fn rejects_lines(dir: &DataDir) -> Vec<String> {
    let m = dir.load_manifest().expect("manifest");
    let mut out = Vec::new();
    for e in &m.segments {
        if let Some(f) = &e.rejects_file {
            let text = std::fs::read_to_string(dir.root().join(f)).expect("rejects");
            out.extend(text.lines().map(str::to_string));
        }
    }
    out.sort();
    out
}

#[test]
fn compaction_changes_no_answer_and_no_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, _, good, bad) = small_ingests(tmp.path(), 16, 900);
    let before = dir.load_manifest().expect("manifest");
    let segs_before = before.segments.iter().filter(|e| e.file.is_some()).count();
    assert!(segs_before >= 16, "{segs_before} segments");
    let (rows, answers_before, rejects) = (rows_sorted(&dir), answers(&dir), rejects_lines(&dir));
    assert_eq!(rows.len() as u64, good);
    assert_eq!(rejects.len() as u64, bad);
    let opts = CompactOptions {
        target_rows: 5_000,
        ..CompactOptions::default()
    };
    // A dry run changes nothing.
    let dry = compact(
        &dir,
        &CompactOptions {
            dry_run: true,
            ..opts.clone()
        },
        &|_, _, _| {},
    )
    .expect("dry run");
    assert!(dry.groups >= 2, "{dry:?}");
    assert_eq!(dir.load_manifest().expect("manifest"), before);
    let s = compact(&dir, &opts, &|_, _, _| {}).expect("compact");
    assert_eq!(s.groups, dry.groups);
    assert_eq!(s.segments_after, dry.segments_after);
    let after = dir.load_manifest().expect("manifest");
    let segs_after = after.segments.iter().filter(|e| e.file.is_some()).count();
    assert!(
        segs_after < segs_before / 2,
        "{segs_before} -> {segs_after}"
    );
    assert!(after.segments.iter().all(|e| e.rows <= 5_000));
    assert_eq!(after.inputs, before.inputs, "committed ranges survive");
    assert_eq!(after.rows(), before.rows());
    assert_eq!(after.rejects(), before.rejects());
    verify(dir.root(), "after compaction");
    assert_eq!(rows_sorted(&dir), rows, "stored rows");
    assert_eq!(rejects_lines(&dir), rejects, "reject lines");
    let got = answers(&dir);
    for (i, (g, w)) in got.iter().zip(&answers_before).enumerate() {
        assert_eq!(g, w, "query {i}: {:?}", queries()[i]);
    }
    check_no_leftovers(&dir);
    // Rows of a merged segment are in event-time order, untimed ones last.
    for e in after
        .segments
        .iter()
        .filter(|e| e.file.is_some() && e.id >= before.next_segment_id)
    {
        let r = dir.open_segment(e).expect("open").expect("file");
        let times = logpivot::segment::merge::row_times(&r).expect("times");
        let timed: Vec<i64> = times.iter().map_while(|t| *t).collect();
        assert!(timed.windows(2).all(|w| w[0] <= w[1]));
        assert!(times[timed.len()..].iter().all(Option::is_none));
    }
    // Again: nothing to do.
    let again = compact(&dir, &opts, &|_, _, _| {}).expect("compact again");
    assert_eq!(again.groups, 0);
}

#[test]
fn an_ingest_run_leaves_at_most_one_partial_segment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("data"));
    // A small batch with four workers: one segment.
    let small = tmp.path().join("small.ndjson");
    write_file(&small, 1, 2_000);
    run_ingest(
        &dir,
        &IngestOptions {
            threads: 4,
            ..ingest_opts(vec![small])
        },
    );
    let m = dir.load_manifest().expect("manifest");
    assert_eq!(m.segments.iter().filter(|e| e.file.is_some()).count(), 1);
    // A larger one: full segments and at most one partial one.
    let big = tmp.path().join("big.ndjson");
    let (good, _) = write_file(&big, 2, 20_000);
    run_ingest(
        &dir,
        &IngestOptions {
            threads: 4,
            segment_rows: 4_000,
            ..ingest_opts(vec![big])
        },
    );
    let m = dir.load_manifest().expect("manifest");
    let new: Vec<u64> = m.segments[1..]
        .iter()
        .filter(|e| e.file.is_some())
        .map(|e| e.rows)
        .collect();
    assert_eq!(new.iter().sum::<u64>(), good);
    assert!(
        new.iter().filter(|&&r| r < 4_000).count() <= 1,
        "segments of {new:?} rows"
    );
    verify(dir.root(), "after the merged last batch");
}

#[test]
fn the_tiered_policy_keeps_a_store_of_many_small_ingests_small() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("data"));
    let mut good = 0;
    for f in 0..45 {
        let p = tmp.path().join(format!("b{f}.ndjson"));
        good += write_file(&p, f, 120).0;
        run_ingest(
            &dir,
            &IngestOptions {
                compact: true,
                ..ingest_opts(vec![p])
            },
        );
        let m = dir.load_manifest().expect("manifest");
        let segs = m.segments.iter().filter(|e| e.file.is_some()).count();
        assert!(
            segs < logpivot::store::compact::MERGE_FACTOR * 2,
            "{segs} segments after {f}"
        );
    }
    let m = dir.load_manifest().expect("manifest");
    assert_eq!(m.rows(), good);
    check_no_leftovers(&dir);
    assert_eq!(
        logpivot::store::compact::plan(
            &m.segments,
            &CompactOptions {
                policy: Policy::Tiered,
                target_rows: 3_000,
                ..CompactOptions::default()
            }
        )
        .len(),
        0
    );
}

#[test]
fn retention_drops_exactly_the_events_before_the_cut() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, paths, _, _) = small_ingests(tmp.path(), 10, 700);
    let cut_s = START + 2 * DAY + DAY / 2;
    let cut = cut_s * 1_000_000_000;
    let rows = common::stored_rows(dir.root());
    let mut want: Vec<common::Row> = rows
        .into_iter()
        .filter(|r| {
            r.get("_time")
                .is_none_or(|t| logpivot::json::time::parse_time_str(t).is_some_and(|ns| ns >= cut))
        })
        .collect();
    want.sort();
    let before = dir.load_manifest().expect("manifest");
    let dropped_whole: Vec<u64> = before
        .segments
        .iter()
        .filter(|e| e.max_time.is_some_and(|t| t < cut) && e.null_time == 0)
        .map(|e| e.id)
        .collect();
    let dry = retain(
        &dir,
        cut,
        &CompactOptions {
            dry_run: true,
            ..CompactOptions::default()
        },
    )
    .expect("dry");
    assert_eq!(dir.load_manifest().expect("manifest"), before);
    let s = retain(&dir, cut, &CompactOptions::default()).expect("retain");
    assert_eq!(s.segments_dropped, dropped_whole.len());
    assert_eq!(dry.rows_after, s.rows_after);
    assert!(
        s.groups > 0,
        "the cut should go through some segments: {s:?}"
    );
    let mut got = common::stored_rows(dir.root());
    got.sort();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    verify(dir.root(), "after retain");
    check_no_leftovers(&dir);
    let after = dir.load_manifest().expect("manifest");
    assert_eq!(after.inputs, before.inputs);
    // The inputs stay ingested: the dropped events do not come back.
    run_ingest(&dir, &ingest_opts(paths));
    assert_eq!(dir.load_manifest().expect("manifest").rows(), after.rows());
    // Nothing left before the cut: nothing to do.
    let again = retain(&dir, cut, &CompactOptions::default()).expect("again");
    assert_eq!(again.segments_replaced, 0);
}

#[test]
fn a_lease_keeps_replaced_files_until_it_is_released() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, _, _, _) = small_ingests(tmp.path(), 6, 400);
    let rows = rows_sorted(&dir);
    // An eager reader: its segments are open, then deleted under it.
    let (open, _) = logpivot::query::open_segments(&dir).expect("open");
    // A lazy reader: a lease, then a view whose files it opens later.
    let lease = Lease::take(&dir).expect("lease");
    let view = dir.load_manifest().expect("view");
    let s = compact(&dir, &CompactOptions::default(), &|_, _, _| {}).expect("compact");
    assert!(s.groups >= 1);
    assert!(s.files_kept > 0, "{s:?}");
    let m = dir.load_manifest().expect("manifest");
    assert!(!m.retired.is_empty());
    // The old view still opens and reads whole.
    let old = logpivot::query::open_entries(&dir, &view.segments).expect("old view");
    let n: u64 = old.iter().map(|r| r.meta().rows).sum();
    assert_eq!(n as usize, rows.len());
    let n: u64 = open.iter().map(|r| r.meta().rows).sum();
    assert_eq!(n as usize, rows.len());
    for r in &open {
        r.verify_all().expect("an open segment stays readable");
    }
    // A lease of a process that is gone (a file nobody locks) protects nothing.
    let stale = logpivot::store::lease::leases_dir(&dir).join("1-2-3.lease");
    std::fs::write(&stale, "0").expect("stale lease");
    drop(lease);
    drop(old);
    let again = compact(&dir, &CompactOptions::default(), &|_, _, _| {}).expect("sweep");
    assert_eq!(again.groups, 0);
    assert!(again.files_deleted > 0, "{again:?}");
    assert!(!stale.exists());
    check_no_leftovers(&dir);
    assert_eq!(rows_sorted(&dir), rows);
    // More small ingests to merge.
    for f in 6..9 {
        let p = tmp.path().join(format!("more-{f}.ndjson"));
        write_file(&p, f, 300);
        run_ingest(&dir, &ingest_opts(vec![p]));
    }
    let rows = rows_sorted(&dir);
    // A reader that opens all files at once and takes no lease: files deleted between its
    // reading the view and opening them make it read the view again.
    let calls = std::cell::Cell::new(0);
    let (_, segs) = logpivot::store::shards::open_view(&dir, |view| {
        if calls.get() == 0 {
            let s = compact(
                &dir,
                &CompactOptions {
                    target_rows: 1 << 30,
                    ..CompactOptions::default()
                },
                &|_, _, _| {},
            )
            .expect("compact under the reader");
            assert!(s.groups >= 1 && s.files_deleted > 0, "{s:?}");
        }
        calls.set(calls.get() + 1);
        logpivot::query::open_entries(&dir, &view.segments)
    })
    .expect("the reader reads the new view");
    assert_eq!(calls.get(), 2);
    let n: u64 = segs.iter().map(|r| r.meta().rows).sum();
    assert_eq!(n as usize, rows.len());
    drop(segs);
    check_no_leftovers(&dir);
}

fn compact_cmd(data: &Path) -> Command {
    let mut c = logpivot();
    c.args(["compact", "--quiet", "--target-rows", "2500", "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// After a failed or killed compaction: the directory verifies, holds every row once and
/// answers as before; a re-run completes and leaves no file behind.
fn check_recovers(dir: &DataDir, rows: &[String], answers_before: &[String], what: &str) {
    verify(dir.root(), what);
    assert_eq!(rows_sorted(dir), rows, "{what}: rows");
    let out = compact_cmd(dir.root()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{what}: re-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows_sorted(dir), rows, "{what}: rows after the re-run");
    assert_eq!(
        answers(dir),
        answers_before,
        "{what}: answers after the re-run"
    );
    check_no_leftovers(dir);
}

#[test]
fn a_compaction_killed_at_any_step_leaves_the_store_as_it_was() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, _, _, _) = small_ingests(tmp.path(), 8, 600);
    let pristine = tmp.path().join("pristine");
    copy_dir(dir.root(), &pristine);
    let rows = rows_sorted(&dir);
    let answers_before = answers(&dir);
    let mut met = 0;
    for point in [
        "compact:before-rename",
        "compact:after-rename",
        "compact:after-rejects",
        "compact:after-manifest",
        "compact:after-delete",
    ] {
        for nth in [1, 2] {
            let _ = std::fs::remove_dir_all(dir.root());
            copy_dir(&pristine, dir.root());
            let out = compact_cmd(dir.root())
                .env("LOGPIVOT_FAILPOINT", format!("{point}:{nth}"))
                .output()
                .expect("spawn");
            let what = format!("{point}:{nth}");
            if !out.status.success() {
                met += 1;
            }
            check_recovers(&dir, &rows, &answers_before, &what);
        }
    }
    assert!(met >= 8, "only {met} failpoints were reached");
    // kill -9 at moments through a compaction.
    for delay_ms in [5, 20, 60] {
        let _ = std::fs::remove_dir_all(dir.root());
        copy_dir(&pristine, dir.root());
        let mut child = compact_cmd(dir.root()).spawn().expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        check_recovers(
            &dir,
            &rows,
            &answers_before,
            &format!("kill -9 after {delay_ms} ms"),
        );
    }
}

#[test]
fn a_failed_write_fsync_or_rename_during_compaction_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (dir, _, _, _) = small_ingests(tmp.path(), 6, 500);
    let pristine = tmp.path().join("pristine");
    copy_dir(dir.root(), &pristine);
    let rows = rows_sorted(&dir);
    let answers_before = answers(&dir);
    let mut failed = 0;
    for op in ["write", "fsync", "rename"] {
        for nth in 1..=40 {
            let _ = std::fs::remove_dir_all(dir.root());
            copy_dir(&pristine, dir.root());
            let out = compact_cmd(dir.root())
                .env("LOGPIVOT_FAULT", format!("{op}:{nth}:EIO"))
                .output()
                .expect("spawn");
            let what = format!("{op}:{nth}");
            if out.status.success() {
                check_recovers(&dir, &rows, &answers_before, &what);
                break;
            }
            failed += 1;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("Input/output error")
                    && err.contains(dir.root().to_str().unwrap_or("")),
                "{what}: {err}"
            );
            check_recovers(&dir, &rows, &answers_before, &what);
        }
    }
    assert!(failed >= 10, "only {failed} runs met their fault");
}

#[test]
fn an_ingest_resumed_after_a_compaction_stays_exactly_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("big.ndjson");
    let (good, bad) = write_file(&input, 0, 30_000);
    let data = tmp.path().join("data");
    let ingest = |fail: Option<&str>| {
        let mut c = logpivot();
        c.args([
            "ingest",
            "--quiet",
            "--segment-rows",
            "2000",
            "--chunk-bytes",
            "32K",
            "--threads",
            "2",
            "--data",
        ])
        .arg(&data)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(f) = fail {
            c.env("LOGPIVOT_FAILPOINT", f);
        }
        c.output().expect("spawn")
    };
    assert!(!ingest(Some("commit:after-manifest:5")).status.success());
    let dir = DataDir::new(&data);
    let part = dir.load_manifest().expect("manifest").rows();
    assert!(part > 0 && part < good, "{part} of {good}");
    compact(&dir, &CompactOptions::default(), &|_, _, _| {}).expect("compact");
    let out = ingest(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ids_once(&data, "resumed").len() as u64, good);
    assert_eq!(rejects_lines(&dir).len() as u64, bad);
}

#[test]
fn queries_beside_ingest_compaction_and_retention_see_one_generation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("data"));
    // File f holds events of day f % 5 only; one small ingest is one commit.
    let files: Vec<(PathBuf, u64)> = (0..10)
        .map(|f| {
            let p = tmp.path().join(format!("in-{f}.ndjson"));
            let (g, _) = write_file(&p, f, 300 + 40 * f);
            (p, g)
        })
        .collect();
    let q = PivotRequest {
        rows: vec!["Datetime:1d".into()],
        ..PivotRequest::default()
    };
    // Day index -> count (-1: no time).
    let by_day = |t: &PivotTable| -> BTreeMap<i64, u64> {
        let b = logpivot::query::output::to_record_batch(t).expect("batch");
        let keys =
            arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).expect("cast");
        let keys = keys
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .expect("keys");
        let counts =
            arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::UInt64).expect("cast");
        let counts = counts
            .as_any()
            .downcast_ref::<arrow::array::UInt64Array>()
            .expect("counts");
        (0..b.num_rows())
            .map(|i| {
                let day = match logpivot::json::time::parse_time_str(keys.value(i)) {
                    Some(ns) => (ns / 1_000_000_000 - START) / DAY,
                    None => -1,
                };
                (day, counts.value(i))
            })
            .collect()
    };
    // Every state a reader may see: after each ingest (compaction changes nothing), and
    // after the retention.
    let model = |upto: usize, cut_day: Option<i64>| -> BTreeMap<i64, u64> {
        let mut m = BTreeMap::new();
        for (p, _) in files.iter().take(upto) {
            for line in std::fs::read_to_string(p).expect("read").lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let day = match v.get("Datetime").and_then(|t| t.as_i64()) {
                    Some(s) => (s - START) / DAY,
                    None => -1,
                };
                if day >= 0 && cut_day.is_some_and(|c| day < c) {
                    continue;
                }
                *m.entry(day).or_insert(0) += 1;
            }
        }
        m
    };
    let mut valid: Vec<BTreeMap<i64, u64>> = (0..=files.len()).map(|k| model(k, None)).collect();
    valid.push(model(files.len(), Some(2)));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let stop = stop.clone();
        let answered = answered.clone();
        let dir = dir.clone();
        let q = q.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match pivot(&dir, &q) {
                    Ok(t) => {
                        seen.push(by_day(&t));
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    // Before the first commit with rows the store has no field at all.
                    Err(
                        logpivot::Error::NoDataDir { .. } | logpivot::Error::UnknownField { .. },
                    ) if seen.is_empty() => {}
                    Err(e) => panic!("a query beside the writer failed: {e}"),
                }
            }
            seen
        })
    };
    for (i, (p, _)) in files.iter().enumerate() {
        run_ingest(&dir, &ingest_opts(vec![p.clone()]));
        if i % 3 == 2 {
            compact(
                &dir,
                &CompactOptions {
                    target_rows: 1_500,
                    ..CompactOptions::default()
                },
                &|_, _, _| {},
            )
            .expect("compact");
        }
    }
    compact(&dir, &CompactOptions::default(), &|_, _, _| {}).expect("compact");
    retain(
        &dir,
        (START + 2 * DAY) * 1_000_000_000,
        &CompactOptions::default(),
    )
    .expect("retain");
    // On a slow machine the writer may finish before the reader has asked much: it goes on
    // until it has (the last state is a committed one too), or has stopped on an error.
    while answered.load(Ordering::Relaxed) < 10 && !reader.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let seen = reader.join().expect("reader");
    assert!(seen.len() >= 10, "only {} queries ran", seen.len());
    for (i, got) in seen.iter().enumerate() {
        assert!(
            valid.contains(got),
            "answer {i} is no committed generation's: {got:?}\nvalid: {valid:?}"
        );
    }
    assert_eq!(
        by_day(&pivot(&dir, &q).expect("last")),
        *valid.last().expect("last state")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).expect("copy");
        }
    }
}

/// A power cut just after each durable point (`LOGPIVOT_FAULT=cut:N`: the process dies right
/// after its N-th fsync), of an ingest run that merges its workers' last segments and then
/// compacts (`--compact`): every time, the directory verifies, no row is stored twice, and the
/// same command completes with every line exactly once and the answers of one whole ingest.
#[test]
fn a_cut_after_any_fsync_of_an_ingest_or_its_compaction_then_a_rerun_is_exact() {
    let tmp = tempfile::tempdir().expect("tmp");
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let (mut good, mut bad) = (0, 0);
    for f in 0..4 {
        let (g, b) = write_file(&logs.join(format!("b{f}.ndjson")), f, 1_500);
        good += g;
        bad += b;
    }
    let data = tmp.path().join("data");
    // A store of 12 small segments, so that --compact's tiered policy merges in this run.
    let base = tmp.path().join("base");
    for f in 0..12 {
        let p = tmp.path().join(format!("pre{f}.ndjson"));
        let (g, b) = write_file(&p, 10 + f, 200);
        good += g;
        bad += b;
        run_ingest(&DataDir::new(&base), &ingest_opts(vec![p]));
    }
    let ingest = |cut: Option<u64>| {
        let mut c = logpivot();
        c.args([
            "ingest",
            "--quiet",
            "--compact",
            "--threads",
            "3",
            "--segment-rows",
            "3000",
            "--chunk-bytes",
            "16K",
            "--data",
        ])
        .arg(&data)
        .arg(&logs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if let Some(n) = cut {
            c.env("LOGPIVOT_FAULT", format!("cut:{n}"));
        }
        c.output().expect("spawn")
    };
    let mut cuts = 0;
    for n in 1..400 {
        let _ = std::fs::remove_dir_all(&data);
        copy_dir(&base, &data);
        let out = ingest(Some(n));
        if out.status.success() {
            break;
        }
        cuts += 1;
        let what = format!("cut after fsync {n}");
        verify(&data, &what);
        ids_once(&data, &what);
        let out = ingest(None);
        assert!(
            out.status.success(),
            "{what}: rerun: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ids_once(&data, &what).len() as u64, good, "{what}: rows");
        assert_eq!(
            rejects_lines(&DataDir::new(&data)).len() as u64,
            bad,
            "{what}: rejects"
        );
    }
    assert!(cuts >= 20, "only {cuts} cuts");
}
