//! `logpivot pivot`.

use std::io::Write;

use logpivot::query::output::{write, Format};
use logpivot::query::{pivot, JoinRequest, PivotRequest, PivotTable, SortBy};
use logpivot::store::DataDir;

use crate::args::PivotArgs;
use crate::util::{human_bytes, parse_size, thousands};

/// Build the library request from the flags.
pub fn request(a: &PivotArgs) -> anyhow::Result<PivotRequest> {
    let mut joins = Vec::new();
    for (i, j) in a.joins.iter().enumerate() {
        let mut jr = JoinRequest::parse(j)?;
        if let Some(label) = a.unmatched.get(i).or(a.unmatched.last()) {
            jr.unmatched = label.clone();
        }
        joins.push(jr);
    }
    let mut req = PivotRequest {
        rows: a.rows.iter().flat_map(|r| split_keys(r)).collect(),
        cols: a.cols.clone(),
        values: a.values.clone(),
        filters: a.filters.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        joins,
        top: a.top,
        cols_top: a.cols_top,
        totals: a.totals,
        sort: if a.sort == "total" {
            SortBy::Total
        } else {
            SortBy::Key(a.sort.clone())
        },
        tz: a.tz.clone(),
        spill_dir: a.spill_dir.clone(),
        max_spill: a.max_spill.as_deref().map(parse_size).transpose()?,
        use_indexes: !a.no_index,
        ..PivotRequest::default()
    };
    if let Some(m) = &a.memory_limit {
        req.memory_limit = parse_size(m)?;
    }
    if let Some(t) = a.threads {
        req.threads = t.max(1);
    }
    Ok(req)
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
    let table = pivot(&dir, &req)?;
    let format = match (a.format.as_str(), a.output.is_some()) {
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
    match &a.output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(p)?);
            write(&table, format, &mut f, width)?;
            f.flush()?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            write(&table, format, &mut out, width)?;
            out.flush()?;
        }
    }
    if a.explain {
        explain(&table, started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn explain(t: &PivotTable, secs: f64) {
    let s = &t.stats;
    eprintln!("-- plan");
    for line in &s.plan {
        eprintln!("   {line}");
    }
    eprintln!(
        "-- segments {} ({} pruned by time range), rows {} scanned of {} -> {} selected",
        s.segments,
        s.segments_pruned,
        thousands(s.rows_selected),
        thousands(s.rows_total),
        thousands(s.rows_selected)
    );
    eprintln!(
        "-- indexes: {} value-index lookups, time index in {} segments; {} column scans for filters",
        s.index_lookups, s.time_index_segments, s.columns_decoded
    );
    eprintln!(
        "-- groups {}, output rows {} of {}",
        thousands(s.groups),
        t.rows.len(),
        t.total_rows
    );
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
    eprintln!("-- {secs:.3} s");
}
