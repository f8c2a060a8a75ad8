//! Charts (`--plot`): the files are valid SVG or PNG and hold the expected series, labels and
//! marks (a check of the SVG's structure, not of pixels).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::plot::{contrast_chart, pivot_chart, Format, Kind};
use logpivot::query::{pivot, PivotRequest};
use logpivot::stats::{contrast, ContrastRequest};
use logpivot::store::DataDir;
use logpivot_synth::{Synth, SynthConfig};

fn store(root: &Path) -> DataDir {
    let input = root.join("events.ndjson");
    let mut synth = Synth::new(SynthConfig {
        events: 20_000,
        seed: 3,
        days: 2,
        ips: 500,
        malformed_every: 0,
        ..SynthConfig::default()
    });
    let mut buf = Vec::new();
    synth.write_events(&mut buf, None).expect("gen");
    std::fs::write(&input, &buf).expect("write");
    let dir = DataDir::new(root.join("data"));
    ingest(
        &dir,
        &IngestOptions {
            inputs: vec![input],
            threads: 2,
            ..IngestOptions::default()
        },
        Arc::new(IngestProgress::default()),
    )
    .expect("ingest");
    dir
}

fn svg(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("utf8");
    assert!(
        text.trim_start().starts_with("<svg"),
        "{}",
        &text[..80.min(text.len())]
    );
    assert!(text.trim_end().ends_with("</svg>"));
    // Every element opened is closed (the structure is well formed).
    let opens = text.matches("<text").count();
    assert_eq!(opens, text.matches("</text>").count(), "unbalanced <text>");
    assert!(text.contains("width=\"1200\""), "1200 px wide");
    text
}

/// The text of every `<text>` element, trimmed (plotters puts it on a line of its own).
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|el| {
            let body = &el[el.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn has_text(svg: &str, want: &str) -> bool {
    texts(svg).iter().any(|t| t == want)
}

/// Polylines drawn with `colour` holding at least `min_points` points.
fn lines_of(text: &str, colour: &str, min_points: usize) -> usize {
    text.split("<polyline")
        .skip(1)
        .filter(|el| {
            let el = &el[..el.find("/>").unwrap_or(el.len())];
            el.contains(&format!("stroke=\"{colour}\""))
                && el.split("points=\"").nth(1).map_or(0, |p| {
                    p.split('"').next().unwrap_or("").split_whitespace().count()
                }) >= min_points
        })
        .count()
}

fn rects_of(text: &str, colour: &str) -> usize {
    text.split("<rect")
        .skip(1)
        .filter(|el| {
            el[..el.find("/>").unwrap_or(el.len())].contains(&format!("fill=\"{colour}\""))
        })
        .count()
}

const BLUE: &str = "#0072B2";
const ORANGE: &str = "#E69F00";
const VERMILION: &str = "#D55E00";

#[test]
fn a_time_series_is_a_line_per_column_with_a_legend() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = store(tmp.path());
    let t = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["Datetime:1h".into()],
            cols: Some("Action".into()),
            cols_top: Some(3),
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    let c = pivot_chart(
        &t,
        "logpivot pivot --rows Datetime:1h --cols Action --cols-top 3",
        Format::Svg,
    )
    .expect("chart");
    let Kind::Lines(names) = &c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(names.len(), 4, "3 columns and OTHER: {names:?}");
    assert_eq!(names.last().map(String::as_str), Some("OTHER"));
    let text = svg(&c.bytes);
    // 48 hourly points per line, in the palette's first colours.
    assert_eq!(lines_of(&text, BLUE, 40), 1);
    assert_eq!(lines_of(&text, ORANGE, 40), 1);
    for n in names {
        assert!(has_text(&text, n), "legend entry {n}: {:?}", texts(&text));
    }
    assert!(
        has_text(
            &text,
            "logpivot pivot --rows Datetime:1h --cols Action --cols-top 3"
        ),
        "the command is the title"
    );
    assert!(
        has_text(&text, "events (count)"),
        "the y axis says what it counts"
    );
    assert!(
        has_text(&text, "Datetime:1h (UTC)"),
        "the x axis says its zone"
    );
    // Without --cols: one line, no legend box needed.
    let t = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["Datetime:1h".into()],
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    let c = pivot_chart(&t, "t", Format::Svg).expect("chart");
    assert_eq!(c.kind, Kind::Lines(vec!["count".into()]));
    assert_eq!(lines_of(&svg(&c.bytes), BLUE, 40), 1);
}

#[test]
fn two_keys_are_a_heatmap_and_one_key_is_bars() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = store(tmp.path());
    let t = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["ClientCountry".into()],
            cols: Some("Action".into()),
            top: Some(8),
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    let c = pivot_chart(&t, "heat", Format::Svg).expect("chart");
    let Kind::Heatmap { rows, cols } = c.kind else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(rows, 8);
    assert_eq!(cols, t.columns.len());
    let text = svg(&c.bytes);
    // A cell per row and column (filled or grey), and the 64 steps of the colour scale.
    assert!(text.matches("<rect").count() >= rows * cols + 64);
    for r in &t.rows {
        let k = t.key_text(&r.keys[0], &t.row_formats[0]);
        assert!(has_text(&text, &k), "row label {k}: {:?}", texts(&text));
    }
    // Two row keys: a heatmap too.
    let t2 = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["Action".into(), "Source".into()],
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    assert!(matches!(
        pivot_chart(&t2, "h2", Format::Svg).expect("chart").kind,
        Kind::Heatmap { .. }
    ));
    // One key: a bar per row, with its value written beside it.
    let t = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["ClientCountry".into()],
            top: Some(12),
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    let c = pivot_chart(&t, "bars", Format::Svg).expect("chart");
    assert_eq!(c.kind, Kind::Bars(12));
    let text = svg(&c.bytes);
    assert_eq!(rects_of(&text, BLUE), 12);
    let first = logpivot::query::value::AggState::result(&t.rows[0].total[0]).expect("count");
    assert!(
        has_text(&text, &format!("{first:.0}")) || first >= 1000.0,
        "the first bar's value {first}"
    );
}

#[test]
fn a_contrast_is_paired_bars_and_png_is_a_png() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = store(tmp.path());
    let c = contrast(
        &dir,
        &ContrastRequest {
            suspect: "Action = block".into(),
            fields: vec!["ClientCountry".into(), "Source".into()],
            top: Some(6),
            ..ContrastRequest::default()
        },
    )
    .expect("contrast");
    let chart = contrast_chart(&c, "contrast", Format::Svg).expect("chart");
    assert_eq!(chart.kind, Kind::Contrast(c.tokens.len()));
    let text = svg(&chart.bytes);
    // A suspect and a baseline bar per value (and one of each in the legend).
    assert_eq!(rects_of(&text, VERMILION), c.tokens.len() + 1);
    assert_eq!(rects_of(&text, BLUE), c.tokens.len() + 1);
    assert!(has_text(&text, "suspect") && has_text(&text, "baseline"));
    let png = contrast_chart(&c, "contrast", Format::Png).expect("png");
    assert_eq!(&png.bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png.bytes[12..16], b"IHDR");
    assert_eq!(
        u32::from_be_bytes(png.bytes[16..20].try_into().expect("w")),
        1200
    );
    assert!(png.bytes.len() > 5_000, "a PNG with something drawn");
}

#[test]
fn the_cli_draws_and_refuses_other_formats() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = store(tmp.path());
    let out = tmp.path().join("hourly.svg");
    let run = |plot: &Path| {
        Command::new(env!("CARGO_BIN_EXE_logpivot"))
            .args([
                "pivot",
                "--rows",
                "Datetime:1h",
                "--cols",
                "Action",
                "--cols-top",
                "2",
                "--data",
            ])
            .arg(dir.root())
            .arg("--plot")
            .arg(plot)
            .output()
            .expect("spawn")
    };
    let o = run(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("a line chart of 3 series") && err.contains("hourly.svg"),
        "{err}"
    );
    let text = svg(&std::fs::read(&out).expect("read"));
    assert!(
        texts(&text)
            .iter()
            .any(|t| t.ends_with("--cols-top 2 --data") || t.contains("--cols-top 2")),
        "the command line is the title"
    );
    let o = run(&tmp.path().join("chart.jpg"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("name a .svg or .png file"), "{err}");
}
