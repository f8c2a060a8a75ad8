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
    let rules_path = root.join("rules.csv");
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
    writeln!(out, "{}\n", gen.description)?;
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
    writeln!(
        out,
        "# 3. what is in the data directory (logpivot inspect --data {} shows every column)",
        root.display()
    )?;
    let report = logpivot::store::inspect::inspect(&dir, None, false)?;
    writeln!(
        out,
        "{} events in {} segments, {} on disk, {} columns, time {} .. {}\n",
        thousands(report.rows),
        report.segments.iter().filter(|s| s.file.is_some()).count(),
        human_bytes(report.bytes),
        report.columns.len(),
        report.min_time.as_deref().unwrap_or("-"),
        report.max_time.as_deref().unwrap_or("-")
    )?;
    let d = root.display().to_string();
    let rules = rules_path.display().to_string();
    let mut queries: Vec<(String, Vec<String>)> = vec![
        (
            "4. rule categories by action (enrichment join; unknown rule ids stay visible)".into(),
            vec![
                "pivot".into(),
                "--join".into(),
                format!("{rules}:RuleID=rule_id"),
                "--rows".into(),
                "rules.category".into(),
                "--cols".into(),
                "Action".into(),
                "--cols-top".into(),
                "5".into(),
                "--totals".into(),
            ],
        ),
        (
            "5. an hourly series for one day (the injected attack, 19:12-21:12 UTC, shows as extra blocks)".into(),
            vec![
                "pivot".into(),
                "--rows".into(),
                "Datetime:1h".into(),
                "--cols".into(),
                "Action".into(),
                "--cols-top".into(),
                "3".into(),
                "--from".into(),
                "2024-06-05".into(),
                "--to".into(),
                "2024-06-06".into(),
                "--sort".into(),
                "Datetime:1h".into(),
                "--plot".into(),
                format!("{d}/hourly.svg"),
            ],
        ),
        (
            "6. blocked WAF events by country (filters on dictionary codes)".into(),
            vec![
                "pivot".into(),
                "--where".into(),
                "Source = waf and Action = block".into(),
                "--rows".into(),
                "ClientCountry".into(),
                "--top".into(),
                "5".into(),
            ],
        ),
        (
            "7. blocked user agents, with their distinct client IPs".into(),
            vec![
                "pivot".into(),
                "--rows".into(),
                "ClientRequestUserAgent".into(),
                "--value".into(),
                "count".into(),
                "--value".into(),
                "count_distinct(ClientIP)".into(),
                "--where".into(),
                "Action = block".into(),
                "--top".into(),
                "5".into(),
            ],
        ),
    ];
    if gen.attack.1 > gen.attack.0 {
        let suspect = format!(
            "Datetime >= {} and Datetime < {}",
            rfc3339_minutes(gen.attack.0),
            rfc3339_minutes(gen.attack.1)
        );
        queries.push((
            "8. what is over-represented in the attack window against all other traffic".into(),
            vec![
                "contrast".into(),
                "--suspect".into(),
                suspect.clone(),
                "--fields".into(),
                "ClientRequestUserAgent,ClientASN,ClientCountry,ClientRequestPath,RuleID,hour(Datetime)".into(),
                "--top".into(),
                "12".into(),
                "--plot".into(),
                format!("{d}/contrast.svg"),
            ],
        ));
        queries.push((
            "9. the events that look most like the attack, and why (SpamBayes-style scoring)"
                .into(),
            vec![
                "score".into(),
                "--suspect".into(),
                suspect,
                "--fields".into(),
                "ClientRequestUserAgent,ClientASN,ClientIP,ClientRequestPath,hour(Datetime)".into(),
                "--top".into(),
                "2".into(),
            ],
        ));
    }
    for (title, args) in queries {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.contains('(') {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        writeln!(out, "# {title}")?;
        let command = format!("logpivot {} --data {d} {}", shown[0], shown[1..].join(" "));
        writeln!(out, "$ {command}")?;
        let mut full = vec![
            "logpivot".to_string(),
            args[0].clone(),
            "--data".into(),
            d.clone(),
        ];
        full.extend(args.into_iter().skip(1));
        let parsed = <crate::args::Cli as clap::Parser>::try_parse_from(&full)?;
        out.flush()?;
        match parsed.command {
            crate::args::Command::Pivot(p) => {
                let req = crate::pivot_cmd::request(&p)?;
                let table = logpivot::query::pivot(&dir, &req)?;
                logpivot::query::output::write(
                    &table,
                    logpivot::query::output::Format::Table,
                    &mut out,
                    160,
                )?;
                if let Some(path) = &p.plot {
                    let f = logpivot::plot::Format::of(path)?;
                    let chart = logpivot::plot::pivot_chart(&table, &command, f)?;
                    logpivot::plot::write(path, &chart)?;
                    writeln!(
                        out,
                        "(the chart: {}, {})",
                        path.display(),
                        crate::pivot_cmd::describe(&chart.kind)
                    )?;
                }
            }
            crate::args::Command::Contrast(c) => {
                let path = c.plot.clone();
                crate::stats_cmd::run_contrast_titled(*c, &command)?;
                if let Some(path) = path {
                    writeln!(out, "(the chart: {})", path.display())?;
                }
            }
            crate::args::Command::Score(c) => crate::stats_cmd::run_score(*c)?,
            _ => {}
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Next: logpivot pivot --help, logpivot contrast --help, logpivot inspect --data {d}, and README.md."
    )?;
    Ok(())
}

/// RFC 3339 to the minute (the attack window starts and ends on whole minutes).
fn rfc3339_minutes(ns: i64) -> String {
    let full = logpivot::json::time::format_rfc3339(ns);
    match full.get(..16) {
        Some(m) => format!("{m}:00Z"),
        None => full,
    }
}
