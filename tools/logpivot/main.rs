//! `logpivot`: the command-line tool. Thin: it parses flags (all of them in `args.rs`) into
//! library options, calls the library, and prints. Exit codes: 0 success, 1 error (one line on
//! stderr), 2 usage error. A closed stdout (`| head`) ends the program quietly.

mod args;
mod compact_cmd;
mod demo;
mod demo_gen;
mod ingest_cmd;
mod inspect_cmd;
mod pivot_cmd;
mod stats_cmd;
mod util;

use clap::Parser;

/// glibc returns a freed block of more than a few megabytes to the kernel (munmap, or trimming
/// a thread's heap), and the next segment's column vectors of the same size fault every page
/// in again; with two threads each unmap also interrupts the other core (TLB shootdown). A
/// query allocates and frees such vectors for every segment, so keep freed memory for reuse:
/// peak RSS, which the memory budget bounds, is unchanged.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets allocator parameters; called before any other thread exists
    // (argument parsing is single-threaded).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// Ingest: the opposite trade. Builders and chunk buffers are freed by several threads, in
/// different arenas, at different sizes; with glibc's sliding mmap threshold (it rises to the
/// largest block freed, up to 32 MiB) those blocks later come from the arenas and stay there,
/// fragmented. A fixed 4 MiB threshold keeps every large block an mmap of its own (grown in
/// place with mremap, returned on free): peak RSS of 10M events from a file fell from 498 to
/// 379 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_ingest_allocator() {
    // SAFETY: as in `tune_allocator`: called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_ingest_allocator() {}

fn main() {
    let cli = args::Cli::parse();
    // Queries only: ingest frees its builders and chunks in more threads and arenas, and with
    // the memory kept its peak RSS rose from 440 to 600 MB (10M events through a pipe).
    if matches!(
        cli.command,
        args::Command::Pivot(_) | args::Command::Contrast(_)
    ) {
        tune_allocator();
    } else if matches!(
        cli.command,
        args::Command::Ingest(_) | args::Command::Score(_)
    ) {
        // Score too: its counting pass frees hundreds of MB of tables in the middle of the
        // learned ones, and its scan runs in other threads. At 10M events and 256 MiB its peak
        // RSS was 447 MB with the query tuning, 426 MB with glibc's defaults, 375 MB with this.
        tune_ingest_allocator();
    }
    // Ctrl-C: stop at the next check and clean up (spill files, temp segments) instead of dying.
    // With `ingest --follow`, the first signal (Ctrl-C, SIGTERM) ends the following after one
    // more cycle, which commits what was written until then; a second interrupts that cycle.
    let follow = matches!(&cli.command, args::Command::Ingest(a) if a.follow);
    let _ = ctrlc::set_handler(move || {
        use std::sync::atomic::Ordering;
        if follow && !ingest_cmd::FOLLOW_STOP.swap(true, Ordering::Relaxed) {
            eprintln!("logpivot: stopping after this cycle (again to interrupt it)");
            return;
        }
        if logpivot::interrupted() {
            std::process::exit(130);
        }
        logpivot::INTERRUPTED.store(true, Ordering::Relaxed);
    });
    let result = match cli.command {
        args::Command::Ingest(a) => ingest_cmd::run(a),
        args::Command::Inspect(a) => inspect_cmd::run(a),
        args::Command::Pivot(a) => pivot_cmd::run(*a),
        args::Command::Contrast(a) => stats_cmd::run_contrast(*a),
        args::Command::Score(a) => stats_cmd::run_score(*a),
        args::Command::Compact(a) => compact_cmd::run_compact(a),
        args::Command::Retain(a) => compact_cmd::run_retain(a),
        args::Command::Demo(a) => demo::run(a),
    };
    if let Err(e) = result {
        if util::is_broken_pipe(&e) {
            std::process::exit(0);
        }
        eprintln!("logpivot: {e:#}");
        std::process::exit(if logpivot::interrupted() { 130 } else { 1 });
    }
}
