//! `logpivot`: the command-line tool. Thin: it parses flags (all of them in `args.rs`) into
//! library options, calls the library, and prints. Exit codes: 0 success, 1 error (one line on
//! stderr), 2 usage error. A closed stdout (`| head`) ends the program quietly.

mod args;
mod demo;
mod demo_gen;
mod ingest_cmd;
mod inspect_cmd;
mod pivot_cmd;
mod stats_cmd;
mod util;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    // Ctrl-C: stop at the next check and clean up (spill files, temp segments) instead of dying.
    let _ = ctrlc::set_handler(|| {
        if logpivot::interrupted() {
            std::process::exit(130);
        }
        logpivot::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let result = match cli.command {
        args::Command::Ingest(a) => ingest_cmd::run(a),
        args::Command::Inspect(a) => inspect_cmd::run(a),
        args::Command::Pivot(a) => pivot_cmd::run(*a),
        args::Command::Contrast(a) => stats_cmd::run_contrast(*a),
        args::Command::Score(a) => stats_cmd::run_score(*a),
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
