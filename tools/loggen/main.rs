//! `loggen`: a deterministic generator of Cloudflare Logpush `firewall_events` NDJSON, with a
//! matching rule map and the ground truth of an injected attack window.
//!
//! ```text
//! loggen --events 10000000 --seed 7 --output events.ndjson --rules rules.csv --truth truth.txt
//! loggen --events 100000000 | logpivot ingest -
//! ```

mod scenario;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use logpivot_synth::{Synth, SynthConfig, TimeFormat};

/// Generate synthetic Cloudflare firewall events (NDJSON) with realistic skew.
#[derive(Parser, Debug)]
#[command(
    name = "loggen",
    version,
    after_help = "Examples:
  loggen --events 1000000 --output events.ndjson --rules rules.csv
  loggen --events 100000000 --time-format rfc3339 | logpivot ingest -
The same --seed and --events always give the same bytes."
)]
struct Args {
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days the events span.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Start time, Unix seconds (default 2024-06-03T00:00:00Z).
    #[arg(long, default_value_t = 1_717_372_800)]
    start: i64,
    /// Distinct rule IDs.
    #[arg(long, default_value_t = 3000)]
    rules_count: u32,
    /// Distinct client IPs.
    #[arg(long, default_value_t = 300_000)]
    ips: u32,
    /// How Datetime is written: unixnano (Cloudflare's default), rfc3339 or datetime.
    #[arg(long, default_value = "unixnano")]
    time_format: String,
    /// Disable the injected attack window.
    #[arg(long)]
    no_attack: bool,
    /// One malformed line per N events (0 = none).
    #[arg(long, default_value_t = 111_111)]
    malformed_every: u64,
    /// Output file (default stdout).
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Write the rule map CSV here.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Write the attack events' line numbers here.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Instead of firewall events: a contrast scenario (plain web events with a thin attack of
    /// known indicators), e.g. `share=0.05,overlap=0.001,window=6h,spread=4,paths=5`; --truth
    /// then gets its window and indicator values as JSON. See docs/STATISTICS.md.
    #[arg(long, value_name = "KNOBS")]
    scenario: Option<String>,
}

fn main() {
    if let Err(e) = run() {
        if e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        }) {
            std::process::exit(0);
        }
        eprintln!("loggen: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let a = Args::parse();
    if let Some(spec) = &a.scenario {
        let sc = scenario::Scenario::parse(spec, a.events, a.seed, a.days, a.start)?;
        let mut truth = match &a.truth {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        let t = truth.as_mut().map(|t| t as &mut dyn Write);
        let (n, attack) = match &a.output {
            Some(p) => {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?);
                let r = scenario::write(&sc, &mut w, t)?;
                w.flush()?;
                r
            }
            None => {
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
                let r = scenario::write(&sc, &mut w, t)?;
                w.flush()?;
                r
            }
        };
        if let Some(t) = truth.as_mut() {
            t.flush()?;
        }
        eprintln!("loggen: scenario {spec}: {n} events, {attack} attack events");
        return Ok(());
    }
    let time_format = match a.time_format.as_str() {
        "unixnano" => TimeFormat::UnixNano,
        "rfc3339" => TimeFormat::Rfc3339,
        "datetime" => TimeFormat::DateTime,
        other => {
            anyhow::bail!("unknown --time-format `{other}` (use unixnano, rfc3339 or datetime)")
        }
    };
    let cfg = SynthConfig {
        events: a.events,
        seed: a.seed,
        days: a.days,
        start_unix_s: a.start,
        rules: a.rules_count,
        ips: a.ips,
        time_format,
        attack: !a.no_attack,
        malformed_every: a.malformed_every,
        ..SynthConfig::default()
    };
    let mut synth = Synth::new(cfg);
    if let Some(p) = &a.rules {
        let mut w = std::io::BufWriter::new(std::fs::File::create(p)?);
        synth.write_rule_map(&mut w)?;
        w.flush()?;
    }
    let mut truth = match &a.truth {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    let truth_dyn: Option<&mut dyn Write> = truth.as_mut().map(|t| t as &mut dyn Write);
    let summary = match &a.output {
        Some(p) => {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?);
            let s = synth.write_events(&mut w, truth_dyn)?;
            w.flush()?;
            s
        }
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            let s = synth.write_events(&mut w, truth_dyn)?;
            w.flush()?;
            s
        }
    };
    if let Some(t) = truth.as_mut() {
        t.flush()?;
    }
    eprintln!(
        "loggen: {} events, {} lines ({} malformed), {} bytes, {} attack events",
        summary.events,
        summary.lines,
        summary.malformed_lines.len(),
        summary.bytes,
        summary.attack_events
    );
    if a.output.is_some() {
        eprintln!("{}", synth.attack_description());
    }
    Ok(())
}
