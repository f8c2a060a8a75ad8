//! `ingest --follow`: growing files, half-written lines, rotation by rename, truncation in
//! place (copytruncate) and restarts, each event stored exactly once.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logpivot::ingest::follow::follow;
use logpivot::ingest::{IngestOptions, IngestProgress};
use logpivot::store::DataDir;

fn line(id: u64) -> String {
    format!(
        "{{\"id\":{id},\"ts\":\"2024-06-01T00:{:02}:{:02}Z\",\"pad\":\"{}\"}}\n",
        (id / 60) % 60,
        id % 60,
        "p".repeat((id % 40) as usize)
    )
}

fn append(path: &Path, ids: std::ops::Range<u64>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for i in ids {
        f.write_all(line(i).as_bytes()).expect("write");
    }
}

fn append_raw(path: &Path, bytes: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(bytes.as_bytes()).expect("write");
}

fn rows(dir: &DataDir) -> u64 {
    dir.load_manifest().map(|m| m.rows()).unwrap_or(0)
}

/// Wait until the store holds `n` rows (a cycle committed them). A follower that never gets
/// there fails the test after 1,500 looks instead of hanging it (not a measure of speed).
fn wait_rows(dir: &DataDir, n: u64) {
    for _ in 0..1_500 {
        if rows(dir) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} rows, waiting for {n}", rows(dir));
}

struct Follower {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<logpivot::Result<logpivot::ingest::IngestSummary>>,
}

fn start(dir: &DataDir, inputs: Vec<PathBuf>) -> Follower {
    let stop = Arc::new(AtomicBool::new(false));
    let (d, s) = (dir.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let opts = IngestOptions {
            inputs,
            threads: 2,
            ..IngestOptions::default()
        };
        follow(
            &d,
            &opts,
            Duration::from_millis(100),
            &s,
            Arc::new(IngestProgress::default()),
            &mut |_| {},
        )
    });
    Follower { stop, handle }
}

fn finish(f: Follower) {
    f.stop.store(true, Ordering::Relaxed);
    f.handle.join().expect("join").expect("follow");
}

fn check_exactly_once(dir: &DataDir, want: u64) {
    let ids: Vec<u64> = common::stored_rows(dir.root())
        .iter()
        .map(|r| r["id"].parse().expect("id"))
        .collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event stored twice");
    assert_eq!(
        unique,
        (0..want).collect::<BTreeSet<u64>>(),
        "events missing"
    );
    let m = dir.load_manifest().expect("manifest");
    assert_eq!(m.rejects(), 0, "a half-written line was read");
}

#[test]
fn a_followed_file_grows_rotates_and_is_truncated_and_every_event_is_stored_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let eve = logs.join("eve.json");
    let dir = DataDir::new(tmp.path().join("data"));
    append(&eve, 0..50);
    let f = start(&dir, vec![logs.clone()]);
    wait_rows(&dir, 50);
    // Growth, with a line half written when a cycle reads.
    append(&eve, 50..120);
    let half = line(120);
    let (a, b) = half.split_at(half.len() / 2);
    append_raw(&eve, a);
    wait_rows(&dir, 120);
    std::thread::sleep(Duration::from_millis(250));
    append_raw(&eve, b);
    append(&eve, 121..150);
    wait_rows(&dir, 150);
    // Rotation: more lines to the old file after the last cycle, then renamed, and a new file.
    append(&eve, 150..170);
    std::fs::rename(&eve, logs.join("eve.json.1")).expect("rotate");
    append(&eve, 170..200);
    wait_rows(&dir, 200);
    // A big file (over the 64 KiB of a fingerprint) rotated the same way.
    append(&eve, 200..2_000);
    wait_rows(&dir, 2_000);
    append(&eve, 2_000..2_100);
    std::fs::rename(&eve, logs.join("eve.json.2")).expect("rotate");
    append(&eve, 2_100..2_150);
    wait_rows(&dir, 2_150);
    // copytruncate: the lines written since the last cycle are in the copy.
    append(&eve, 2_150..2_180);
    std::fs::copy(&eve, logs.join("eve.json.3")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&eve)
        .expect("truncate");
    append(&eve, 2_180..2_200);
    wait_rows(&dir, 2_200);
    // Written just before the stop: the last cycle reads it.
    append(&eve, 2_200..2_230);
    finish(f);
    check_exactly_once(&dir, 2_230);
    // A restart continues after the last commit.
    append(&logs.join("eve.json"), 2_230..2_260);
    let f = start(&dir, vec![logs.clone()]);
    wait_rows(&dir, 2_260);
    finish(f);
    check_exactly_once(&dir, 2_260);
    // Every cycle added a segment; the tiered policy keeps them few.
    let m = dir.load_manifest().expect("manifest");
    let segs = m.segments.iter().filter(|e| e.file.is_some()).count();
    assert!(segs < 25, "{segs} segments");
}

#[test]
fn a_followed_file_named_on_the_command_line_is_read_across_a_rotation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let eve = tmp.path().join("eve.json");
    let dir = DataDir::new(tmp.path().join("data"));
    let f = start(&dir, vec![eve.clone()]);
    // The file does not exist yet: it is waited for.
    std::thread::sleep(Duration::from_millis(250));
    append(&eve, 0..40);
    wait_rows(&dir, 40);
    append(&eve, 40..60);
    std::fs::rename(&eve, tmp.path().join("eve.json.1")).expect("rotate");
    append(&eve, 60..90);
    wait_rows(&dir, 90);
    finish(f);
    check_exactly_once(&dir, 90);
}
