//! Writing a pivot table: an aligned terminal table, CSV (RFC 4180, spreadsheet-safe), JSON
//! lines, and Arrow IPC (file or stream) for pandas, Polars and DuckDB.
//!
//! Must not: compute anything; it only formats a finished [`PivotTable`].

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

use crate::query::pivot::{KeyFormat, PivotRow, PivotTable};
use crate::query::value::{AggState, KeyValue};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// Arrow IPC file format (random access; `.arrow`).
    ArrowFile,
    /// Arrow IPC stream format (for pipes).
    ArrowStream,
}

/// Header names of the value columns: `COL` (one value) or `COL/VALUE`, then `Total`.
pub fn value_headers(t: &PivotTable) -> Vec<String> {
    let single = t.value_labels.len() == 1;
    let name = |base: &str, v: &str| {
        if single {
            base.to_string()
        } else {
            format!("{base}/{v}")
        }
    };
    let mut out = Vec::new();
    if t.col_label.is_some() {
        for i in 0..t.columns.len() {
            let c = t.column_text(i);
            for v in &t.value_labels {
                out.push(name(&c, v));
            }
        }
    }
    if t.col_label.is_none() || t.show_totals {
        for v in &t.value_labels {
            out.push(if t.col_label.is_some() {
                name("Total", v)
            } else {
                v.clone()
            });
        }
    }
    out
}

/// A state as a number (None = empty cell). Empty count cells are 0.
fn cell_number(cell: Option<&AggState>, is_count: bool) -> Option<f64> {
    match cell {
        Some(s) => s.result(),
        None => is_count.then_some(0.0),
    }
}

/// The numbers of a row in header order.
fn row_numbers(t: &PivotTable, r: &PivotRow) -> Vec<(Option<f64>, bool)> {
    let mut out = Vec::new();
    let counts: Vec<bool> = r.total.iter().map(AggState::is_count).collect();
    if t.col_label.is_some() {
        for c in &r.cells {
            for (vi, is_count) in counts.iter().enumerate() {
                out.push((
                    cell_number(c.as_ref().and_then(|c| c.get(vi)), *is_count),
                    *is_count,
                ));
            }
        }
    }
    if t.col_label.is_none() || t.show_totals {
        for (vi, is_count) in counts.iter().enumerate() {
            out.push((cell_number(r.total.get(vi), *is_count), *is_count));
        }
    }
    out
}

fn number_text(v: Option<f64>, is_count: bool) -> String {
    match v {
        None => String::new(),
        Some(x) if is_count || (x.fract() == 0.0 && x.abs() < 1e15) => format!("{}", x as i64),
        Some(x) => {
            let s = format!("{x:.6}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

fn key_texts(t: &PivotTable, r: &PivotRow) -> Vec<String> {
    r.keys
        .iter()
        .zip(&t.row_formats)
        .map(|(k, f)| t.key_text(k, f))
        .collect()
}

/// Write `t` in `format`.
pub fn write(t: &PivotTable, format: Format, out: &mut dyn Write, width: usize) -> Result<()> {
    let io = |e: std::io::Error| Error::io("<output>", e);
    match format {
        Format::Table => write_table(t, out, width).map_err(io),
        Format::Csv => write_csv(t, out).map_err(io),
        Format::Json => write_json(t, out).map_err(io),
        Format::ArrowFile | Format::ArrowStream => write_arrow(t, out, format == Format::ArrowFile),
    }
}

/// `s` cut to `w` characters, ending in `…` when cut.
pub(crate) fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn write_table(t: &PivotTable, out: &mut dyn Write, width: usize) -> std::io::Result<()> {
    let mut header: Vec<String> = t.row_labels.clone();
    header.extend(value_headers(t));
    let nk = t.row_labels.len();
    let mut body: Vec<Vec<String>> = Vec::new();
    for r in t.rows.iter().chain(t.totals.iter()) {
        let mut line = if r.keys.is_empty() {
            let mut v = vec![String::new(); nk];
            v[0] = "Total".into();
            v
        } else {
            key_texts(t, r)
        };
        line.extend(
            row_numbers(t, r)
                .into_iter()
                .map(|(v, c)| number_text(v, c)),
        );
        body.push(line);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in &body {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Fit the width: shrink key columns first, then value headers.
    let total: usize = widths.iter().sum::<usize>() + 2 * widths.len();
    if total > width {
        let excess = total - width;
        let key_max = (width / (2 * nk.max(1))).max(12);
        let mut cut = 0;
        for w in widths.iter_mut().take(nk) {
            if *w > key_max && cut < excess {
                cut += *w - key_max;
                *w = key_max;
            }
        }
    }
    let fmt = |cells: &[String], out: &mut dyn Write| -> std::io::Result<()> {
        let mut line = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let c = truncate(c, *w);
            if i < nk {
                line.push_str(&format!("{c:<w$}  "));
            } else {
                line.push_str(&format!("{c:>w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    fmt(&header, out)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    fmt(&rule, out)?;
    for line in &body {
        fmt(line, out)?;
    }
    if t.total_rows > t.rows.len() as u64 {
        writeln!(out, "({} of {} rows shown)", t.rows.len(), t.total_rows)?;
    }
    Ok(())
}

/// Quote a CSV field per RFC 4180 and neutralise spreadsheet formulas in text fields: a text
/// cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`,
/// unless the whole cell is a number (`-9223372036854775808`, `-1.5e-7`), which a spreadsheet
/// reads as a number, never as a formula, and which pandas and DuckDB must read as one too.
pub fn csv_field(s: &str, text: bool) -> String {
    let s = if text && s.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(s) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Is `s` a decimal number and nothing else (digits, sign, point, exponent)?
fn is_plain_number(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && s.parse::<f64>().is_ok()
}

fn write_csv(t: &PivotTable, out: &mut dyn Write) -> std::io::Result<()> {
    let mut header: Vec<String> = t.row_labels.iter().map(|h| csv_field(h, true)).collect();
    header.extend(value_headers(t).iter().map(|h| csv_field(h, true)));
    write!(out, "{}\r\n", header.join(","))?;
    for r in t.rows.iter().chain(t.totals.iter()) {
        let mut fields: Vec<String> = if r.keys.is_empty() {
            let mut v = vec![String::new(); t.row_labels.len()];
            v[0] = "Total".into();
            v
        } else {
            key_texts(t, r)
                .iter()
                .zip(&r.keys)
                .map(|(text, k)| csv_field(text, matches!(k, KeyValue::Str(_))))
                .collect()
        };
        fields.extend(
            row_numbers(t, r)
                .into_iter()
                .map(|(v, c)| number_text(v, c)),
        );
        write!(out, "{}\r\n", fields.join(","))?;
    }
    Ok(())
}

fn write_json(t: &PivotTable, out: &mut dyn Write) -> std::io::Result<()> {
    let headers = value_headers(t);
    for r in t.rows.iter().chain(t.totals.iter()) {
        let mut obj = serde_json::Map::new();
        if r.keys.is_empty() {
            obj.insert("_total".into(), true.into());
        }
        for (label, k) in t.row_labels.iter().zip(key_texts(t, r)) {
            obj.insert(label.clone(), k.into());
        }
        for (h, (v, c)) in headers.iter().zip(row_numbers(t, r)) {
            let val = match v {
                None => serde_json::Value::Null,
                Some(x) if c => serde_json::Value::from(x as u64),
                Some(x) => serde_json::Number::from_f64(x)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
            };
            obj.insert(h.clone(), val);
        }
        serde_json::to_writer(&mut *out, &serde_json::Value::Object(obj))?;
        writeln!(out)?;
    }
    Ok(())
}

fn write_arrow(t: &PivotTable, out: &mut dyn Write, file: bool) -> Result<()> {
    let headers = value_headers(t);
    let rows: Vec<&PivotRow> = t.rows.iter().chain(t.totals.iter()).collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, label) in t.row_labels.iter().enumerate() {
        fields.push(Field::new(label, DataType::Utf8, false));
        arrays.push(text_key_column(t, &rows, i));
    }
    value_columns(t, &rows, &headers, false, &mut fields, &mut arrays);
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::invalid(format!("arrow: {e}")))?;
    let arrow_err = |e: arrow::error::ArrowError| Error::invalid(format!("arrow: {e}"));
    if file {
        let mut buf = Vec::new();
        {
            let mut w =
                arrow::ipc::writer::FileWriter::try_new(&mut buf, &schema).map_err(arrow_err)?;
            w.write(&batch).map_err(arrow_err)?;
            w.finish().map_err(arrow_err)?;
        }
        out.write_all(&buf).map_err(|e| Error::io("<output>", e))?;
    } else {
        let mut w =
            arrow::ipc::writer::StreamWriter::try_new(&mut *out, &schema).map_err(arrow_err)?;
        w.write(&batch).map_err(arrow_err)?;
        w.finish().map_err(arrow_err)?;
    }
    Ok(())
}

/// The table as Arrow RecordBatch (for the Rust API).
pub fn to_record_batch(t: &PivotTable) -> Result<RecordBatch> {
    let mut buf = Vec::new();
    write_arrow(t, &mut buf, false)?;
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(buf), None)
        .map_err(|e| Error::invalid(format!("arrow: {e}")))?;
    match reader.into_iter().next() {
        Some(b) => b.map_err(|e| Error::invalid(format!("arrow: {e}"))),
        None => Err(Error::invalid("arrow: no batch")),
    }
}

/// The table as a typed Arrow RecordBatch, for dataframes (the Python module): the columns and
/// rows of the CSV, but a row key that holds times (a time bucket such as `Datetime:1h`, or the
/// time field itself) is `Timestamp(ns, zone)` in the query's zone (`UTC` unless `tz` names
/// another) instead of text, counts are `Int64` (not `UInt64`), other aggregates `Float64`.
/// Other row keys are text as in the CSV. In a timestamp key column the `(null)` key and the
/// Total row's key are null (the Total row is the last row, present with `totals`).
pub fn to_typed_record_batch(t: &PivotTable) -> Result<RecordBatch> {
    let headers = value_headers(t);
    let rows: Vec<&PivotRow> = t.rows.iter().chain(t.totals.iter()).collect();
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, label) in t.row_labels.iter().enumerate() {
        let keys = || rows.iter().filter_map(|r| r.keys.get(i));
        let is_time = matches!(t.row_formats.get(i), Some(KeyFormat::Time))
            || (keys().any(|k| matches!(k, KeyValue::Time(_)))
                && keys().all(|k| matches!(k, KeyValue::Time(_) | KeyValue::Null)));
        if is_time {
            let mut b = TimestampNanosecondBuilder::new().with_timezone(t.tz.name());
            for r in &rows {
                match r.keys.get(i) {
                    Some(KeyValue::Time(ns)) => b.append_value(*ns),
                    _ => b.append_null(),
                }
            }
            let ty = DataType::Timestamp(TimeUnit::Nanosecond, Some(t.tz.name().into()));
            fields.push(Field::new(label, ty, true));
            arrays.push(Arc::new(b.finish()));
        } else {
            fields.push(Field::new(label, DataType::Utf8, false));
            arrays.push(text_key_column(t, &rows, i));
        }
    }
    value_columns(t, &rows, &headers, true, &mut fields, &mut arrays);
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::invalid(format!("arrow: {e}")))
}

/// Row key `i` of `rows` as text, as the CSV writes it (`Total` in the first key column of the
/// Total row).
fn text_key_column(t: &PivotTable, rows: &[&PivotRow], i: usize) -> ArrayRef {
    let mut b = StringBuilder::new();
    for r in rows {
        match r.keys.get(i) {
            Some(k) => b.append_value(t.key_text(k, &t.row_formats[i])),
            None => b.append_value(if i == 0 { "Total" } else { "" }),
        }
    }
    Arc::new(b.finish())
}

/// The value columns of `rows`, one per header: counts as `Int64` (`signed`, for pandas) or
/// `UInt64`, other aggregates as `Float64`. Without rows, a column is a count when its value
/// label is one (`count`, `count_distinct(...)`, `approx_count_distinct(...)`).
fn value_columns(
    t: &PivotTable,
    rows: &[&PivotRow],
    headers: &[String],
    signed: bool,
    fields: &mut Vec<Field>,
    arrays: &mut Vec<ArrayRef>,
) {
    let numbers: Vec<Vec<(Option<f64>, bool)>> = rows.iter().map(|r| row_numbers(t, r)).collect();
    for (ci, h) in headers.iter().enumerate() {
        let is_count = match numbers.first() {
            Some(n) => n.get(ci).is_some_and(|x| x.1),
            None => {
                let v = ci % t.value_labels.len().max(1);
                t.value_labels.get(v).is_some_and(|l| {
                    l == "count"
                        || l.starts_with("count_distinct(")
                        || l.starts_with("approx_count_distinct(")
                })
            }
        };
        let cell = |n: &Vec<(Option<f64>, bool)>| n.get(ci).and_then(|x| x.0);
        let (ty, array): (DataType, ArrayRef) = match (is_count, signed) {
            (true, true) => {
                let mut b = Int64Builder::new();
                numbers
                    .iter()
                    .for_each(|n| b.append_option(cell(n).map(|x| x as i64)));
                (DataType::Int64, Arc::new(b.finish()))
            }
            (true, false) => {
                let mut b = UInt64Builder::new();
                numbers
                    .iter()
                    .for_each(|n| b.append_option(cell(n).map(|x| x as u64)));
                (DataType::UInt64, Arc::new(b.finish()))
            }
            (false, _) => {
                let mut b = Float64Builder::new();
                numbers.iter().for_each(|n| b.append_option(cell(n)));
                (DataType::Float64, Arc::new(b.finish()))
            }
        };
        fields.push(Field::new(h, ty, true));
        arrays.push(array);
    }
}
