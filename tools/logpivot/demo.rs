//! `logpivot demo`: generate sample events, ingest them, show what was built, each step with
//! the command line that does it by hand.

use std::io::Write;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::store::DataDir;

use crate::args::DemoArgs;
use crate::util::{human_bytes, thousands, ProgressBar};

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let root = &a.data;
    let dir = DataDir::new(root);
    if dir.exists() {
        let m = dir.load_manifest()?;
        let demo_input = m
            .inputs
            .iter()
            .all(|i| i.path.ends_with("demo-events.ndjson"));
        anyhow::ensure!(
            demo_input,
            "{} holds data that the demo did not make; pass --data to use another directory",
            root.display()
        );
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    let events_path = root.join("demo-events.ndjson");
    let rules_path = root.join("demo-rules.csv");
    writeln!(
        out,
        "# 1. generate {} Cloudflare firewall events (seed {})",
        thousands(a.events),
        a.seed
    )?;
    writeln!(
        out,
        "$ loggen --events {} --seed {} --output {} --rules {}",
        a.events,
        a.seed,
        events_path.display(),
        rules_path.display()
    )?;
    out.flush()?;
    let gen = crate::demo_gen::generate(a.events, a.seed, &events_path, &rules_path)?;
    writeln!(out, "{gen}\n")?;
    writeln!(out, "# 2. ingest them into {}", root.display())?;
    writeln!(
        out,
        "$ logpivot ingest --data {} {}",
        root.display(),
        events_path.display()
    )?;
    out.flush()?;
    let progress = Arc::new(IngestProgress::default());
    let bar = ProgressBar::start(progress.clone(), true);
    let opts = IngestOptions {
        inputs: vec![events_path.clone()],
        ..IngestOptions::default()
    };
    let s = ingest(&dir, &opts, progress);
    drop(bar);
    let s = s?;
    writeln!(
        out,
        "ingested {} events ({} rejects) in {:.2} s: {} of NDJSON -> {} on disk\n",
        thousands(s.events),
        thousands(s.rejects),
        s.seconds,
        human_bytes(s.bytes_in),
        human_bytes(s.bytes_on_disk)
    )?;
    writeln!(out, "# 3. what is in the data directory")?;
    writeln!(out, "$ logpivot inspect --data {}", root.display())?;
    let report = logpivot::store::inspect::inspect(&dir, None, false)?;
    crate::inspect_cmd::print_report(&mut out, &report, false)?;
    Ok(())
}
