//! `logpivot pivot`.

use std::io::Write;

use logpivot::query::output::{write, Format};
use logpivot::query::{pivot, JoinRequest, PivotRequest, PivotTable, QueryStats, SortBy};
use logpivot::store::DataDir;

use crate::args::{EngineArgs, PivotArgs};
use crate::util::{human_bytes, parse_size, thousands};

/// Build the library request from the flags.
pub fn request(a: &PivotArgs) -> anyhow::Result<PivotRequest> {
    Ok(PivotRequest {
        rows: a.rows.iter().flat_map(|r| split_keys(r)).collect(),
        cols: a.cols.clone(),
        values: a.values.clone(),
        filters: a.filters.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        top: a.top,
        cols_top: a.cols_top,
        totals: a.totals,
        sort: if a.sort == "total" {
            SortBy::Total
        } else {
            SortBy::Key(a.sort.clone())
        },
        ..engine_request(&a.engine)?
    })
}

/// The engine part of a request (joins, zone, memory, spill, threads, indexes).
pub fn engine_request(e: &EngineArgs) -> anyhow::Result<PivotRequest> {
    let mut joins = Vec::new();
    for (i, j) in e.joins.iter().enumerate() {
        let mut jr = JoinRequest::parse(j)?;
        if let Some(label) = e.unmatched.get(i).or(e.unmatched.last()) {
            jr.unmatched = label.clone();
        }
        joins.push(jr);
    }
    let mut req = PivotRequest {
        joins,
        tz: e.tz.clone(),
        spill_dir: e.spill_dir.clone(),
        max_spill: e.max_spill.as_deref().map(parse_size).transpose()?,
        use_indexes: !e.no_index,
        ..PivotRequest::default()
    };
    if let Some(m) = &e.memory_limit {
        req.memory_limit = parse_size(m)?;
    }
    if let Some(t) = e.threads {
        req.threads = t.max(1);
    }
    Ok(req)
}

/// The output format and terminal width of the flags.
pub fn format_and_width(e: &EngineArgs) -> (Format, usize) {
    let format = match (e.format.as_str(), e.output.is_some()) {
        ("csv", _) => Format::Csv,
        ("json", _) => Format::Json,
        ("arrow", true) => Format::ArrowFile,
        ("arrow", false) => Format::ArrowStream,
        _ => Format::Table,
    };
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(160);
    (format, width)
}

/// Run `write` against `--output FILE` or stdout.
pub fn with_output(
    e: &EngineArgs,
    write: &mut dyn FnMut(&mut dyn Write) -> logpivot::Result<()>,
) -> anyhow::Result<()> {
    match &e.output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|err| anyhow::anyhow!("{}: {err}", p.display()))?,
            );
            write(&mut f)?;
            f.flush()?;
        }
        None => {
            // stdout is line-buffered: a write system call per row of a large result.
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            write(&mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Split the comma lists of repeated flags.
pub fn split_all(v: &[String]) -> Vec<String> {
    v.iter().flat_map(|r| split_keys(r)).collect()
}

/// Split `A,B` at commas outside parentheses and quotes; the parts are kept verbatim.
fn split_keys(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quote, mut escaped) = (0i32, None::<char>, false);
    for c in s.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(std::mem::take(&mut cur).trim().to_string());
                    continue;
                }
                _ => {}
            },
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

pub fn run(a: PivotArgs) -> anyhow::Result<()> {
    let req = request(&a)?;
    let dir = DataDir::new(&a.data.data);
    let started = std::time::Instant::now();
    let plot = a
        .plot
        .as_deref()
        .map(logpivot::plot::Format::of)
        .transpose()?;
    let table = pivot(&dir, &req)?;
    let (format, width) = format_and_width(&a.engine);
    with_output(&a.engine, &mut |out| write(&table, format, out, width))?;
    if let (Some(path), Some(f)) = (&a.plot, plot) {
        let chart = logpivot::plot::pivot_chart(&table, &command_line(), f)?;
        logpivot::plot::write(path, &chart)?;
        eprintln!(
            "logpivot: drew {} to {}",
            describe(&chart.kind),
            path.display()
        );
    }
    if a.engine.explain {
        explain(&table, started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The command as typed (a chart's title).
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut words = vec!["logpivot".to_string()];
    for a in args.iter().skip(1) {
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$&|;<>()*?".contains(c)) {
            words.push(format!("'{}'", a.replace('\'', "'\\''")));
        } else {
            words.push(a.clone());
        }
    }
    words.join(" ")
}

/// What a chart shows, for the line that says where it went.
pub fn describe(k: &logpivot::plot::Kind) -> String {
    match k {
        logpivot::plot::Kind::Lines(names) => format!(
            "a line chart of {} series ({})",
            names.len(),
            names.join(", ")
        ),
        logpivot::plot::Kind::Heatmap { rows, cols } => format!("a {rows} x {cols} heatmap"),
        logpivot::plot::Kind::Bars(n) => format!("{n} bars"),
        logpivot::plot::Kind::Contrast(n) => format!("the rates of {n} values"),
    }
}

fn explain(t: &PivotTable, secs: f64) {
    let s = &t.stats;
    eprintln!("-- plan");
    for line in &s.plan {
        eprintln!("   {line}");
    }
    explain_scan(s);
    eprintln!("-- output rows {} of {}", t.rows.len(), t.total_rows);
    eprintln!("-- {secs:.3} s");
}

/// What the scans of a query did (summed over its passes), to stderr.
pub fn explain_scan(s: &QueryStats) {
    eprintln!(
        "-- segments {} ({} pruned by time range), rows {} scanned -> {} selected",
        s.segments,
        s.segments_pruned,
        thousands(s.rows_total),
        thousands(s.rows_selected)
    );
    eprintln!(
        "-- indexes: {} value-index lookups, time index in {} segments; {} column scans for filters",
        s.index_lookups, s.time_index_segments, s.columns_decoded
    );
    eprintln!("-- groups {}", thousands(s.groups));
    if s.spill_runs > 0 {
        eprintln!(
            "-- spilled {} runs: {} written, {} read, in {}",
            s.spill_runs,
            human_bytes(s.spill_bytes_written),
            human_bytes(s.spill_bytes_read),
            s.spill_dir.as_deref().unwrap_or("?")
        );
    } else {
        eprintln!("-- no spill");
    }
}
