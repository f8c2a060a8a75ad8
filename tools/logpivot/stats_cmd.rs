//! `logpivot contrast` and `logpivot score`.

use std::time::Instant;

use logpivot::query::output::Format;
use logpivot::stats::{contrast, score, ContrastRequest, ScoreRequest};
use logpivot::store::DataDir;

use crate::args::{ContrastArgs, ScoreArgs};
use crate::pivot_cmd::{engine_request, explain_scan, format_and_width, split_all, with_output};
use crate::util::thousands;

pub fn run_contrast(a: ContrastArgs) -> anyhow::Result<()> {
    run_contrast_titled(a, &crate::pivot_cmd::command_line())
}

/// `contrast`, its chart (with `--plot`) titled `title`.
pub fn run_contrast_titled(a: ContrastArgs, title: &str) -> anyhow::Result<()> {
    let req = ContrastRequest {
        suspect: a.suspect.clone(),
        baseline: a.baseline.clone(),
        filters: a.filters.clone(),
        fields: split_all(&a.fields),
        pairs: a.pairs,
        min_count: a.min_count,
        top: (a.top > 0).then_some(a.top),
        rank: a.sort.parse()?,
        query: engine_request(&a.engine)?,
        ..ContrastRequest::default()
    };
    let started = Instant::now();
    let plot = a
        .plot
        .as_deref()
        .map(logpivot::plot::Format::of)
        .transpose()?;
    let c = contrast(&DataDir::new(&a.data.data), &req)?;
    let (format, width) = format_and_width(&a.engine);
    let mut frame = c.to_frame(format == Format::Table);
    if (c.tokens.len() as u64) < c.tested {
        frame.notes.push(format!(
            "({} of {} values shown; --top 0 for all)",
            c.tokens.len(),
            thousands(c.tested)
        ));
    }
    if format == Format::Table && a.engine.output.is_none() {
        const SHOWN: usize = 12;
        let mut names = c
            .fields
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if c.fields.len() > SHOWN {
            names.push_str(&format!(
                ", … ({} more; --format json lists values of all)",
                c.fields.len() - SHOWN
            ));
        }
        println!(
            "suspect: {} events; baseline: {} events; {} values tested in {} fields: {names}",
            thousands(c.n_suspect),
            thousands(c.n_baseline),
            thousands(c.tested),
            c.fields.len(),
        );
    }
    with_output(&a.engine, &mut |out| frame.write(format, out, width))?;
    if let (Some(path), Some(f)) = (&a.plot, plot) {
        let chart = logpivot::plot::contrast_chart(&c, title, f)?;
        logpivot::plot::write(path, &chart)?;
        eprintln!(
            "logpivot: drew {} to {}",
            crate::pivot_cmd::describe(&chart.kind),
            path.display()
        );
    }
    if a.engine.explain {
        explain_scan(&c.stats);
        eprintln!("-- {:.3} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

pub fn run_score(a: ScoreArgs) -> anyhow::Result<()> {
    if let Some(t) = a.threshold {
        if !(0.0..=1.0).contains(&t) {
            anyhow::bail!("invalid --threshold {t}: a score is between 0 and 1");
        }
    }
    let req = ScoreRequest {
        suspect: a.suspect.clone(),
        baseline: a.baseline.clone(),
        fields: split_all(&a.fields),
        filters: a.filters.clone(),
        top: a.top,
        threshold: a.threshold,
        query: engine_request(&a.engine)?,
        ..ScoreRequest::default()
    };
    let started = Instant::now();
    let r = score(&DataDir::new(&a.data.data), &req)?;
    let (format, width) = format_and_width(&a.engine);
    if format == Format::Table {
        let head = format!(
            "learned from {} suspect and {} baseline events; fields: {}\nscored {} events{}; listing {}\n\n",
            thousands(r.n_suspect),
            thousands(r.n_baseline),
            r.fields.join(", "),
            thousands(r.scored),
            r.above_threshold
                .map(|n| format!(", {} at or above the threshold", thousands(n)))
                .unwrap_or_default(),
            r.events.len()
        );
        with_output(&a.engine, &mut |out| {
            out.write_all(head.as_bytes())
                .map_err(|e| logpivot::Error::io("<output>", e))?;
            r.write_text(out, width)
        })?;
    } else {
        let frame = r.to_frame();
        with_output(&a.engine, &mut |out| frame.write(format, out, width))?;
    }
    if a.engine.explain {
        explain_scan(&r.stats);
        eprintln!("-- {:.3} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}
