//! Charts of pivot tables and contrasts, as SVG or PNG (`--plot FILE`), drawn with `plotters`.
//!
//! What a table becomes:
//! - a time-bucket row key (`Datetime:1h`), alone: a line per column value (the `--cols-top`
//!   columns and OTHER), or one line without `--cols`;
//! - two keys (a row key and `--cols`, or two row keys): a heatmap, with the value in each cell
//!   when the cells are large enough to hold it;
//! - one key: horizontal bars, in the table's order;
//! - a contrast: paired bars of the suspect and baseline rates of the top values.
//!
//! The first value (`count` by default) is drawn. Colours: the Okabe-Ito palette (told apart
//! by colour-blind readers) with a marker shape per line, so lines stay apart in grey; heatmaps
//! use viridis, whose lightness rises with the value. Text is laid out with DejaVu Sans,
//! compiled in (`src/plot/DejaVuSans.ttf`, its licence beside it), so no system font is
//! needed: PNG text is drawn with it, an SVG names the family and the viewer draws it.
//!
//! Must not: run queries (it is handed finished tables).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::error::{Error, Result};
use crate::query::pivot::{KeyFormat, PivotTable};
use crate::query::value::KeyValue;
use crate::stats::contrast::Contrast;

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1200;
/// Most lines of a time series (the rest of the columns are not drawn; `--cols-top` folds).
pub const MAX_SERIES: usize = 12;
/// Most bars, and rows and columns of a heatmap.
pub const MAX_BARS: usize = 40;

/// Okabe and Ito's palette for colour-blind readers (black last).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// The image formats, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// `.svg` or `.png` (any case).
    pub fn of(path: &Path) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(Error::invalid(format!(
                "--plot {}: name a .svg or .png file",
                path.display()
            ))),
        }
    }
}

/// What a chart shows (for a caller that says so, and for tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Lines over time: the series' names.
    Lines(Vec<String>),
    /// A heatmap of rows x columns.
    Heatmap { rows: usize, cols: usize },
    /// Horizontal bars.
    Bars(usize),
    /// Paired bars of a contrast.
    Contrast(usize),
}

/// A drawn chart.
pub struct Chart {
    pub kind: Kind,
    pub bytes: Vec<u8>,
}

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::invalid(format!("drawing the chart: {e}"))
}

/// Draw `t` (`title`: the command that made it) as `format`.
pub fn pivot_chart(t: &PivotTable, title: &str, format: Format) -> Result<Chart> {
    if t.rows.is_empty() {
        return Err(Error::invalid("--plot: the table has no rows to draw"));
    }
    let time_rows = t.row_labels.len() == 1 && matches!(t.row_formats[0], KeyFormat::Time);
    let two_keys = (t.row_labels.len() == 1 && t.col_label.is_some())
        || (t.row_labels.len() == 2 && t.col_label.is_none());
    if time_rows {
        let lines = time_series(t);
        let names: Vec<String> = lines.iter().map(|l| l.0.clone()).collect();
        let h = 640;
        let bytes = render(format, h, &LinesChart(t, title, &lines))?;
        return Ok(Chart {
            kind: Kind::Lines(names),
            bytes,
        });
    }
    if two_keys {
        let grid = heatmap_grid(t);
        let rows = grid.rows.len();
        let longest = grid
            .cols
            .iter()
            .map(|c| c.chars().count() as u32)
            .max()
            .unwrap_or(1);
        let h = (200 + 8 * longest + 22 * rows as u32).clamp(360, 1600);
        let kind = Kind::Heatmap {
            rows,
            cols: grid.cols.len(),
        };
        let bytes = render(format, h, &HeatmapChart(t, title, &grid))?;
        return Ok(Chart { kind, bytes });
    }
    let bars: Vec<(String, f64)> = t
        .rows
        .iter()
        .take(MAX_BARS)
        .map(|r| (row_label(t, &r.keys), first_value(&r.total)))
        .collect();
    let h = (140 + 24 * bars.len() as u32).max(320);
    let n = bars.len();
    let x_desc = value_desc(t);
    let bytes = render(format, h, &BarsChart(title, &bars, &x_desc))?;
    Ok(Chart {
        kind: Kind::Bars(n),
        bytes,
    })
}

/// Draw a contrast's top values as paired bars of their suspect and baseline rates.
pub fn contrast_chart(c: &Contrast, title: &str, format: Format) -> Result<Chart> {
    if c.tokens.is_empty() {
        return Err(Error::invalid("--plot: the contrast has no value to draw"));
    }
    let items: Vec<(String, f64, f64)> = c
        .tokens
        .iter()
        .take(MAX_BARS / 2)
        .map(|t| {
            let label = t
                .fields
                .iter()
                .zip(&t.values)
                .map(|(f, v)| format!("{f}={v}"))
                .collect::<Vec<_>>()
                .join(" & ");
            (label, t.suspect_rate * 100.0, t.baseline_rate * 100.0)
        })
        .collect();
    let h = (160 + 40 * items.len() as u32).max(360);
    let n = items.len();
    let bytes = render(format, h, &ContrastChart(c, title, &items))?;
    Ok(Chart {
        kind: Kind::Contrast(n),
        bytes,
    })
}

/// Write a chart to `path` (its format from the extension).
pub fn write(path: &Path, chart: &Chart) -> Result<()> {
    crate::io::write_synced(path, &chart.bytes)
}

type Area<'a, B> = DrawingArea<B, Shift>;

/// A chart that can draw itself on any backend.
trait Draw {
    fn draw<B: DrawingBackend>(&self, area: &Area<'_, B>) -> Result<()>;
}

struct LinesChart<'a>(&'a PivotTable, &'a str, &'a [Line]);
struct HeatmapChart<'a>(&'a PivotTable, &'a str, &'a Grid);
struct BarsChart<'a>(&'a str, &'a [(String, f64)], &'a str);
struct ContrastChart<'a>(&'a Contrast, &'a str, &'a [(String, f64, f64)]);

impl Draw for LinesChart<'_> {
    fn draw<B: DrawingBackend>(&self, area: &Area<'_, B>) -> Result<()> {
        draw_lines(area, self.0, self.1, self.2)
    }
}
impl Draw for HeatmapChart<'_> {
    fn draw<B: DrawingBackend>(&self, area: &Area<'_, B>) -> Result<()> {
        draw_heatmap(area, self.0, self.1, self.2)
    }
}
impl Draw for BarsChart<'_> {
    fn draw<B: DrawingBackend>(&self, area: &Area<'_, B>) -> Result<()> {
        draw_bars(area, self.0, self.1, self.2)
    }
}
impl Draw for ContrastChart<'_> {
    fn draw<B: DrawingBackend>(&self, area: &Area<'_, B>) -> Result<()> {
        draw_contrast(area, self.0, self.1, self.2)
    }
}

/// Draw `chart` onto a `WIDTH` x `height` canvas of `format`.
fn render<D: Draw>(format: Format, height: u32, chart: &D) -> Result<Vec<u8>> {
    // Text is laid out with the bundled font in both formats (an SVG names the family and
    // the viewer draws it with its own).
    register_font()?;
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
                root.fill(&WHITE).map_err(plot_err)?;
                chart.draw(&root)?;
                root.present().map_err(plot_err)?;
            }
            Ok(svg.into_bytes())
        }
        Format::Png => {
            let mut pixels = vec![0u8; (WIDTH * height * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut pixels, (WIDTH, height)).into_drawing_area();
                root.fill(&WHITE).map_err(plot_err)?;
                chart.draw(&root)?;
                root.present().map_err(plot_err)?;
            }
            encode_png(&pixels, WIDTH, height)
        }
    }
}

fn register_font() -> Result<()> {
    static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("the bundled font could not be loaded"))
    }
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)
        .map_err(plot_err)?;
    Ok(out)
}

/// The number a chart draws for a row or cell: the first value.
fn first_value(states: &[crate::query::value::AggState]) -> f64 {
    states.first().and_then(|s| s.result()).unwrap_or(0.0)
}

fn value_desc(t: &PivotTable) -> String {
    let v = t.value_labels.first().map_or("count", String::as_str);
    if v == "count" {
        "events (count)".to_string()
    } else {
        v.to_string()
    }
}

fn row_label(t: &PivotTable, keys: &[KeyValue]) -> String {
    let text = keys
        .iter()
        .zip(&t.row_formats)
        .map(|(k, f)| t.key_text(k, f))
        .collect::<Vec<_>>()
        .join(" / ");
    shorten(&text, 48)
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The lines of a time series: (name, points (time ns, value) in time order).
type Line = (String, Vec<(i64, f64)>);

fn time_series(t: &PivotTable) -> Vec<Line> {
    let mut rows: Vec<(i64, &crate::query::pivot::PivotRow)> = t
        .rows
        .iter()
        .filter_map(|r| match r.keys.first() {
            Some(KeyValue::Time(ns)) => Some((*ns, r)),
            _ => None,
        })
        .collect();
    rows.sort_by_key(|(ns, _)| *ns);
    let count = t.value_labels.first().is_none_or(|v| v == "count");
    if t.columns.is_empty() {
        let name = t
            .value_labels
            .first()
            .cloned()
            .unwrap_or_else(|| "count".into());
        return vec![(
            name,
            rows.iter()
                .map(|(ns, r)| (*ns, first_value(&r.total)))
                .collect(),
        )];
    }
    (0..t.columns.len().min(MAX_SERIES))
        .map(|ci| {
            let pts = rows
                .iter()
                .filter_map(|(ns, r)| match r.cells.get(ci) {
                    Some(Some(states)) => Some((*ns, first_value(states))),
                    // No event in the cell: a count of 0; other values have no point.
                    _ if count => Some((*ns, 0.0)),
                    _ => None,
                })
                .collect();
            (shorten(&t.column_text(ci), 40), pts)
        })
        .collect()
}

fn draw_lines<B: DrawingBackend>(
    area: &Area<'_, B>,
    t: &PivotTable,
    title: &str,
    lines: &[Line],
) -> Result<()> {
    let (lo, hi) = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.0))
        .fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo > hi {
        (0, 1)
    } else {
        (lo, hi.max(lo + 1))
    };
    // x in buckets from the first, so that the axis labels fall on bucket starts.
    let mut times: Vec<i64> = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)).collect();
    times.sort_unstable();
    times.dedup();
    let step = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(1)
        .max(1);
    let x_of = |ns: i64| (ns - lo) as f64 / step as f64;
    let span = x_of(hi).max(1.0);
    let ymax = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let ymin = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(0.0f64, f64::min);
    let fmt = t.row_formats[0].clone();
    let key_fmt = |x: &f64| {
        let k = x.round();
        if (x - k).abs() > 1e-6 || k < 0.0 {
            return String::new();
        }
        t.key_text(&KeyValue::Time(lo + k as i64 * step), &fmt)
    };
    let zone = t.tz.name();
    let mut chart = ChartBuilder::on(area)
        .caption(shorten(title, 110), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..span, ymin..(ymax * 1.08).max(ymin + 1.0))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&key_fmt)
        .y_label_formatter(&|v| human(*v))
        .x_desc(format!("{} ({zone})", t.row_labels[0]))
        .y_desc(value_desc(t))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_err)?;
    for (i, (name, pts)) in lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let style = colour.stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(ns, v)| (x_of(ns), v)),
                style,
            ))
            .map_err(plot_err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], colour.stroke_width(2))
                    + marker(i, (12, 0), colour)
            });
        // A marker shape per line (every point when few, else spread out), so the lines
        // stay apart in grey.
        let every = (pts.len() / 24).max(1);
        chart
            .draw_series(
                pts.iter()
                    .enumerate()
                    .filter(|(k, _)| k % every == 0)
                    .map(|(_, &(ns, v))| {
                        EmptyElement::at((x_of(ns), v)) + marker(i, (0, 0), colour)
                    }),
            )
            .map_err(plot_err)?;
    }
    if lines.len() > 1 || t.col_label.is_some() {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// The legend box of a chart's labelled series, at `at`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(at)
        .label_font(("sans-serif", 14))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(plot_err)
}

/// Marker `i` (circle, triangle, square, cross, diamond, ...), centred at `at`.
fn marker<B: DrawingBackend>(
    i: usize,
    at: (i32, i32),
    colour: RGBColor,
) -> DynElement<'static, B, (i32, i32)> {
    let (x, y) = at;
    let s = colour.filled();
    match i % 6 {
        0 => Circle::new((x, y), 4, s).into_dyn(),
        1 => Polygon::new(vec![(x, y - 5), (x - 5, y + 4), (x + 5, y + 4)], s).into_dyn(),
        2 => Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], s).into_dyn(),
        3 => PathElement::new(
            vec![
                (x - 5, y - 5),
                (x + 5, y + 5),
                (x, y),
                (x - 5, y + 5),
                (x + 5, y - 5),
            ],
            colour.stroke_width(2),
        )
        .into_dyn(),
        4 => Polygon::new(vec![(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)], s).into_dyn(),
        _ => Circle::new((x, y), 4, colour.stroke_width(2)).into_dyn(),
    }
}

/// 1234567 -> 1.2M; small numbers as they are.
fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

struct Grid {
    rows: Vec<String>,
    cols: Vec<String>,
    /// Row-major; None = no event.
    cells: Vec<Vec<Option<f64>>>,
    x_desc: String,
    y_desc: String,
}

fn heatmap_grid(t: &PivotTable) -> Grid {
    if t.col_label.is_some() {
        let cols: Vec<String> = (0..t.columns.len().min(MAX_BARS))
            .map(|i| shorten(&t.column_text(i), 24))
            .collect();
        let rows: Vec<&crate::query::pivot::PivotRow> = t.rows.iter().take(MAX_BARS).collect();
        return Grid {
            rows: rows.iter().map(|r| row_label(t, &r.keys)).collect(),
            cells: rows
                .iter()
                .map(|r| {
                    (0..cols.len())
                        .map(|ci| match r.cells.get(ci) {
                            Some(Some(s)) => Some(first_value(s)),
                            _ => None,
                        })
                        .collect()
                })
                .collect(),
            cols,
            x_desc: t.col_label.clone().unwrap_or_default(),
            y_desc: t.row_labels[0].clone(),
        };
    }
    // Two row keys: the first's values down, the second's across, in order of appearance
    // (the table's order: largest rows first).
    let mut rows: Vec<KeyValue> = Vec::new();
    let mut cols: Vec<KeyValue> = Vec::new();
    for r in &t.rows {
        if !rows.contains(&r.keys[0]) && rows.len() < MAX_BARS {
            rows.push(r.keys[0].clone());
        }
        if !cols.contains(&r.keys[1]) && cols.len() < MAX_BARS {
            cols.push(r.keys[1].clone());
        }
    }
    let mut cells = vec![vec![None; cols.len()]; rows.len()];
    for r in &t.rows {
        if let (Some(i), Some(j)) = (
            rows.iter().position(|k| *k == r.keys[0]),
            cols.iter().position(|k| *k == r.keys[1]),
        ) {
            cells[i][j] = Some(first_value(&r.total));
        }
    }
    Grid {
        rows: rows
            .iter()
            .map(|k| shorten(&t.key_text(k, &t.row_formats[0]), 48))
            .collect(),
        cols: cols
            .iter()
            .map(|k| shorten(&t.key_text(k, &t.row_formats[1]), 24))
            .collect(),
        cells,
        x_desc: t.row_labels[1].clone(),
        y_desc: t.row_labels[0].clone(),
    }
}

/// Viridis at `x` in 0..=1 (dark purple to yellow: lightness rises with the value).
fn viridis(x: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let x = x.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn draw_heatmap<B: DrawingBackend>(
    area: &Area<'_, B>,
    t: &PivotTable,
    title: &str,
    g: &Grid,
) -> Result<()> {
    let (nr, nc) = (g.rows.len() as i32, g.cols.len().max(1) as i32);
    let max = g
        .cells
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &b| a.max(b));
    let (main, legend) = area.split_horizontally(WIDTH - 110);
    let longest = g
        .cols
        .iter()
        .map(|c| c.chars().count() as u32)
        .max()
        .unwrap_or(1);
    let mut chart = ChartBuilder::on(&main)
        .caption(shorten(title, 100), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(if nc <= 8 { 60 } else { 40 + 8 * longest })
        .y_label_area_size(260)
        .build_cartesian_2d(0..nc, 0..nr)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|_| String::new())
        .x_desc(g.x_desc.clone())
        .y_desc(g.y_desc.clone())
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_err)?;
    // The labels, at the middle of each row and column (drawn here: the mesh labels the
    // lines between cells).
    let font = ("sans-serif", 13).into_font();
    let across = nc <= 8;
    for (j, label) in g.cols.iter().enumerate() {
        let (x0, y0) = chart.backend_coord(&(j as i32, 0));
        let (x1, _) = chart.backend_coord(&(j as i32 + 1, 0));
        let style = if across {
            font.clone()
                .into_text_style(area)
                .pos(Pos::new(HPos::Center, VPos::Top))
        } else {
            font.clone()
                .transform(FontTransform::Rotate90)
                .into_text_style(area)
                .pos(Pos::new(HPos::Left, VPos::Center))
        };
        main.draw(&Text::new(label.clone(), ((x0 + x1) / 2, y0 + 8), style))
            .map_err(plot_err)?;
    }
    for (i, label) in g.rows.iter().enumerate() {
        let y = nr - 1 - i as i32;
        let (x0, y0) = chart.backend_coord(&(0, y));
        let (_, y1) = chart.backend_coord(&(0, y + 1));
        let style = font
            .clone()
            .into_text_style(area)
            .pos(Pos::new(HPos::Right, VPos::Center));
        main.draw(&Text::new(label.clone(), (x0 - 8, (y0 + y1) / 2), style))
            .map_err(plot_err)?;
    }
    let cell_w = (WIDTH as i32 - 110 - 260 - 32) / nc;
    let show_text = cell_w >= 44;
    for (i, row) in g.cells.iter().enumerate() {
        let y = nr - 1 - i as i32;
        for (j, v) in row.iter().enumerate() {
            let x = j as i32;
            let fill = match v {
                Some(v) if max > 0.0 => viridis(v / max),
                Some(_) => viridis(0.0),
                None => RGBColor(235, 235, 235),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1, y + 1)],
                    fill.filled(),
                )))
                .map_err(plot_err)?;
            if let (true, Some(v)) = (show_text, v) {
                let light = max > 0.0 && v / max > 0.6;
                let colour = if light { BLACK } else { WHITE };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!(" {}", human(*v)),
                        (x, y + 1),
                        ("sans-serif", 12).into_font().color(&colour),
                    )))
                    .map_err(plot_err)?;
            }
        }
    }
    // The colour scale.
    let mut scale = ChartBuilder::on(&legend)
        .margin_top(60)
        .margin_bottom(120)
        .y_label_area_size(60)
        .build_cartesian_2d(0..1, 0.0..max.max(1.0))
        .map_err(plot_err)?;
    scale
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| human(*v))
        .label_style(("sans-serif", 12))
        .y_desc(value_desc(t))
        .draw()
        .map_err(plot_err)?;
    let steps = 64;
    scale
        .draw_series((0..steps).map(|k| {
            let a = max.max(1.0) * k as f64 / steps as f64;
            let b = max.max(1.0) * (k + 1) as f64 / steps as f64;
            Rectangle::new(
                [(0, a), (1, b)],
                viridis(k as f64 / (steps - 1) as f64).filled(),
            )
        }))
        .map_err(plot_err)?;
    Ok(())
}

fn draw_bars<B: DrawingBackend>(
    area: &Area<'_, B>,
    title: &str,
    bars: &[(String, f64)],
    x_desc: &str,
) -> Result<()> {
    let n = bars.len() as i32;
    let max = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(shorten(title, 110), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(300)
        .build_cartesian_2d(0.0..max * 1.12, 0..n)
        .map_err(plot_err)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|y| {
            labels
                .get((n - 1 - *y) as usize)
                .cloned()
                .unwrap_or_default()
        })
        .x_label_formatter(&|v| human(*v))
        .x_desc(x_desc.to_string())
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let y = n - 1 - i as i32;
            Rectangle::new([(0.0, y), (*v, y + 1)], PALETTE[0].filled())
        }))
        .map_err(plot_err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let y = n - 1 - i as i32;
            Text::new(format!(" {}", human(*v)), (*v, y + 1), ("sans-serif", 12))
        }))
        .map_err(plot_err)?;
    Ok(())
}

fn draw_contrast<B: DrawingBackend>(
    area: &Area<'_, B>,
    c: &Contrast,
    title: &str,
    items: &[(String, f64, f64)],
) -> Result<()> {
    let n = items.len() as i32;
    let max = items
        .iter()
        .map(|i| i.1.max(i.2))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .caption(shorten(title, 110), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(340)
        .build_cartesian_2d(0.0..max * 1.25, 0..n * 2)
        .map_err(plot_err)?;
    let labels: Vec<String> = items.iter().map(|i| shorten(&i.0, 52)).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels((n * 2) as usize)
        .y_label_formatter(&|y| {
            // One label per pair, on its upper bar.
            if y % 2 == 1 {
                labels
                    .get((n - 1 - y / 2) as usize)
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&|v| format!("{v:.1}%"))
        .x_desc(format!(
            "share of the set's events (%): suspect {} events, baseline {}",
            c.n_suspect, c.n_baseline
        ))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(plot_err)?;
    let (sus, base) = (PALETTE[5], PALETTE[0]);
    chart
        .draw_series(items.iter().enumerate().map(|(i, it)| {
            let y = (n - 1 - i as i32) * 2 + 1;
            Rectangle::new([(0.0, y), (it.1, y + 1)], sus.filled())
        }))
        .map_err(plot_err)?
        .label("suspect")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], sus.filled()));
    chart
        .draw_series(items.iter().enumerate().map(|(i, it)| {
            let y = (n - 1 - i as i32) * 2;
            Rectangle::new([(0.0, y), (it.2, y + 1)], base.filled())
        }))
        .map_err(plot_err)?
        .label("baseline")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], base.filled()));
    chart
        .draw_series(items.iter().enumerate().flat_map(|(i, it)| {
            let y = (n - 1 - i as i32) * 2;
            [
                Text::new(format!(" {:.2}%", it.1), (it.1, y + 2), ("sans-serif", 12)),
                Text::new(format!(" {:.3}%", it.2), (it.2, y + 1), ("sans-serif", 12)),
            ]
        }))
        .map_err(plot_err)?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// The `logpivot pivot` command that asks for `req`: a chart's title when none was typed (the
/// Python module's `plot=`).
pub fn pivot_title(req: &crate::query::PivotRequest) -> String {
    let q = |s: &str| {
        if s.contains(|c: char| c.is_whitespace() || "'\"()$&|;<>*?".contains(c)) {
            format!("'{}'", s.replace('\'', "'\\''"))
        } else {
            s.to_string()
        }
    };
    let mut w = vec!["logpivot pivot --rows".to_string(), q(&req.rows.join(","))];
    if let Some(c) = &req.cols {
        w.push(format!("--cols {}", q(c)));
    }
    for v in &req.values {
        w.push(format!("--value {}", q(v)));
    }
    for f in &req.filters {
        w.push(format!("--where {}", q(f)));
    }
    for (flag, v) in [("--from", &req.from), ("--to", &req.to), ("--tz", &req.tz)] {
        if let Some(v) = v {
            w.push(format!("{flag} {}", q(v)));
        }
    }
    if let Some(n) = req.top {
        w.push(format!("--top {n}"));
    }
    if let Some(n) = req.cols_top {
        w.push(format!("--cols-top {n}"));
    }
    w.join(" ")
}

/// The `logpivot contrast` command that asks for `req` (see [`pivot_title`]).
pub fn contrast_title(req: &crate::stats::ContrastRequest) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut w = vec!["logpivot contrast --suspect".to_string(), q(&req.suspect)];
    if let Some(b) = &req.baseline {
        w.push(format!("--baseline {}", q(b)));
    }
    if !req.fields.is_empty() {
        w.push(format!("--fields {}", q(&req.fields.join(","))));
    }
    for f in &req.filters {
        w.push(format!("--where {}", q(f)));
    }
    w.join(" ")
}
