//! A small typed result table (text, counts, floats) with the same four writers as pivot
//! tables: an aligned terminal table that fits the width, CSV (RFC 4180, spreadsheet-safe),
//! JSON lines and Arrow IPC. Used by `contrast` and `score`, whose results are lists rather
//! than rows x columns.
//!
//! Must not: compute anything; it only formats what it is given.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

use crate::query::output::{csv_field, truncate, Format};

/// The type of a frame column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Count,
    Float,
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Count(u64),
    Float(f64),
}

/// Columns and rows; every row has one cell per column.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub columns: Vec<(String, Kind)>,
    pub rows: Vec<Vec<Val>>,
    /// Lines printed under the terminal table (e.g. "30 of 412 values shown").
    pub notes: Vec<String>,
}

impl Frame {
    pub fn new(columns: &[(&str, Kind)]) -> Frame {
        Frame {
            columns: columns.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Write in `format`; `width` bounds the terminal table.
    pub fn write(&self, format: Format, out: &mut dyn Write, width: usize) -> Result<()> {
        let io = |e: std::io::Error| Error::io("<output>", e);
        match format {
            Format::Table => self.write_table(out, width).map_err(io),
            Format::Csv => self.write_csv(out).map_err(io),
            Format::Json => self.write_json(out).map_err(io),
            Format::ArrowFile | Format::ArrowStream => {
                self.write_arrow(out, format == Format::ArrowFile)
            }
        }
    }

    fn write_table(&self, out: &mut dyn Write, width: usize) -> std::io::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| c.0.clone()).collect();
        let body: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(table_text).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for line in &body {
            for (w, c) in widths.iter_mut().zip(line) {
                *w = (*w).max(c.chars().count());
            }
        }
        // Fit the width: shrink the widest text columns first.
        let total = |ws: &[usize]| ws.iter().sum::<usize>() + 2 * ws.len();
        while total(&widths) > width {
            let widest = (0..widths.len())
                .filter(|&i| self.columns[i].1 == Kind::Text && widths[i] > 12)
                .max_by_key(|&i| widths[i]);
            let Some(i) = widest else { break };
            let excess = total(&widths) - width;
            widths[i] = (widths[i] - excess).max(12).max(widths[i] * 2 / 3);
        }
        let fmt = |cells: &[String], out: &mut dyn Write| -> std::io::Result<()> {
            let mut line = String::new();
            for ((c, w), (_, kind)) in cells.iter().zip(&widths).zip(&self.columns) {
                let c = truncate(c, *w);
                if *kind == Kind::Text {
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
        for n in &self.notes {
            writeln!(out, "{n}")?;
        }
        Ok(())
    }

    fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(&c.0, true)).collect();
        write!(out, "{}\r\n", header.join(","))?;
        for r in &self.rows {
            let fields: Vec<String> = r
                .iter()
                .map(|v| match v {
                    Val::Null => String::new(),
                    Val::Text(s) => csv_field(s, true),
                    Val::Count(n) => n.to_string(),
                    Val::Float(f) => float_text(*f),
                })
                .collect();
            write!(out, "{}\r\n", fields.join(","))?;
        }
        Ok(())
    }

    fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for r in &self.rows {
            let mut obj = serde_json::Map::new();
            for ((name, _), v) in self.columns.iter().zip(r) {
                let j = match v {
                    Val::Null => serde_json::Value::Null,
                    Val::Text(s) => serde_json::Value::from(s.as_str()),
                    Val::Count(n) => serde_json::Value::from(*n),
                    Val::Float(f) => serde_json::Number::from_f64(*f)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number),
                };
                obj.insert(name.clone(), j);
            }
            serde_json::to_writer(&mut *out, &serde_json::Value::Object(obj))?;
            writeln!(out)?;
        }
        Ok(())
    }

    /// The frame as an Arrow record batch (text columns Utf8, counts UInt64, floats Float64;
    /// all nullable).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (ci, (name, kind)) in self.columns.iter().enumerate() {
            let cells = self.rows.iter().map(|r| r.get(ci).unwrap_or(&Val::Null));
            let (ty, array): (DataType, ArrayRef) = match kind {
                Kind::Text => {
                    let mut b = StringBuilder::new();
                    for v in cells {
                        match v {
                            Val::Text(s) => b.append_value(s),
                            Val::Null => b.append_null(),
                            other => b.append_value(table_text(other)),
                        }
                    }
                    (DataType::Utf8, Arc::new(b.finish()))
                }
                Kind::Count => {
                    let mut b = UInt64Builder::new();
                    for v in cells {
                        b.append_option(match v {
                            Val::Count(n) => Some(*n),
                            _ => None,
                        });
                    }
                    (DataType::UInt64, Arc::new(b.finish()))
                }
                Kind::Float => {
                    let mut b = Float64Builder::new();
                    for v in cells {
                        b.append_option(match v {
                            Val::Float(f) => Some(*f),
                            Val::Count(n) => Some(*n as f64),
                            _ => None,
                        });
                    }
                    (DataType::Float64, Arc::new(b.finish()))
                }
            };
            fields.push(Field::new(name, ty, true));
            arrays.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| Error::invalid(format!("arrow: {e}")))
    }

    fn write_arrow(&self, out: &mut dyn Write, file: bool) -> Result<()> {
        let batch = self.to_record_batch()?;
        let schema = batch.schema();
        let arrow_err = |e: arrow::error::ArrowError| Error::invalid(format!("arrow: {e}"));
        if file {
            let mut buf = Vec::new();
            {
                let mut w = arrow::ipc::writer::FileWriter::try_new(&mut buf, &schema)
                    .map_err(arrow_err)?;
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
}

/// Full-precision float text (shortest round-trip form).
fn float_text(f: f64) -> String {
    if f.is_finite() {
        format!("{f:?}")
    } else {
        String::new()
    }
}

/// A cell for the terminal: floats to 4 significant figures (scientific below 0.001).
fn table_text(v: &Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Text(s) => s.replace(['\n', '\r', '\t'], " "),
        Val::Count(n) => n.to_string(),
        Val::Float(f) if *f == 0.0 => "0".into(),
        Val::Float(f) if f.abs() < 1e-3 || f.abs() >= 1e6 => format!("{f:.3e}"),
        Val::Float(f) => format!("{f:.4}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frame {
        let mut f = Frame::new(&[
            ("field", Kind::Text),
            ("n", Kind::Count),
            ("p", Kind::Float),
        ]);
        f.rows.push(vec![
            Val::Text("=cmd".into()),
            Val::Count(3),
            Val::Float(1.5e-9),
        ]);
        f.rows
            .push(vec![Val::Text("a,b".into()), Val::Count(0), Val::Null]);
        f
    }

    #[test]
    fn csv_quotes_and_neutralises() {
        let mut out = Vec::new();
        sample().write(Format::Csv, &mut out, 80).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "field,n,p\r\n'=cmd,3,1.5e-9\r\n\"a,b\",0,\r\n");
    }

    #[test]
    fn json_is_typed() {
        let mut out = Vec::new();
        sample().write(Format::Json, &mut out, 80).unwrap();
        let s = String::from_utf8(out).unwrap();
        let first: serde_json::Value = serde_json::from_str(s.lines().next().unwrap()).unwrap();
        assert_eq!(first["n"], 3);
        assert_eq!(first["p"], 1.5e-9);
        assert_eq!(first["field"], "=cmd");
    }

    #[test]
    fn table_fits_width() {
        let mut f = sample();
        f.rows[0][0] = Val::Text("x".repeat(200));
        let mut out = Vec::new();
        f.write(Format::Table, &mut out, 60).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.lines().all(|l| l.chars().count() <= 60), "{s}");
        assert!(s.contains("1.500e-9"));
    }

    #[test]
    fn arrow_round_trip() {
        let b = sample().to_record_batch().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema().field(1).data_type(), &DataType::UInt64);
    }
}
