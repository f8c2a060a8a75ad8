//! Helpers shared by the integration tests: an independent reference flattening (serde_json,
//! not simd-json) and a reader that turns a data directory back into canonical rows.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use logpivot::segment::Cell;
use logpivot::store::DataDir;

/// The real fixtures, copied into the repository with their provenance and licenses
/// (`tests/data/fixtures/README.md`), so a clone with nothing beside it tests itself.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures")
}

/// A canonical row: column name -> value text.
pub type Row = BTreeMap<String, String>;

fn escape_key(k: &str) -> String {
    let mut s = String::new();
    for c in k.chars() {
        if c == '.' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn canon_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Flatten a serde_json object the way the documented rule says.
pub fn reference_flatten(v: &serde_json::Value) -> Row {
    let mut row = Row::new();
    if let serde_json::Value::Object(m) = v {
        flatten_into(m, "", &mut row);
    }
    row
}

fn flatten_into(m: &serde_json::Map<String, serde_json::Value>, prefix: &str, row: &mut Row) {
    for (k, v) in m {
        let path = if prefix.is_empty() {
            escape_key(k)
        } else {
            format!("{prefix}.{}", escape_key(k))
        };
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Object(inner) if !inner.is_empty() => {
                flatten_into(inner, &path, row)
            }
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                row.insert(path, canon_json(v));
            }
            serde_json::Value::String(s) => {
                row.insert(path, s.clone());
            }
            serde_json::Value::Bool(b) => {
                row.insert(path, b.to_string());
            }
            serde_json::Value::Number(n) => {
                let text = if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    format!("{:?}", n.as_f64().unwrap_or(f64::NAN))
                };
                row.insert(path, text);
            }
        }
    }
}

/// Canonical text of a stored cell (JSON text re-serialized through serde_json).
fn canon_cell(c: &Cell) -> String {
    match c {
        Cell::Str(s) if (s.starts_with('[') && s.ends_with(']')) || s == "{}" => {
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(v) => canon_json(&v),
                Err(_) => s.clone(),
            }
        }
        other => other.to_text(),
    }
}

/// Every stored row of a data directory, canonical, with the derived columns
/// (`_time`, `_file`, `_line`) kept under their names.
pub fn stored_rows(dir: &Path) -> Vec<Row> {
    let dd = DataDir::new(dir);
    let m = dd.load_manifest().expect("manifest");
    let mut rows = Vec::new();
    for e in &m.segments {
        let Some(r) = dd.open_segment(e).expect("open segment") else {
            continue;
        };
        let n = r.meta().rows as usize;
        let mut seg_rows = vec![Row::new(); n];
        for (ci, c) in r.meta().columns.iter().enumerate() {
            let cells = r.column_cells(ci).expect("decode column");
            assert_eq!(cells.len(), n);
            for (i, cell) in cells.iter().enumerate() {
                if let Some(cell) = cell {
                    seg_rows[i].insert(c.name.clone(), canon_cell(cell));
                }
            }
        }
        rows.extend(seg_rows);
    }
    rows
}

/// Remove the derived columns from a stored row.
pub fn strip_derived(mut r: Row) -> Row {
    r.remove("_time");
    r.remove("_file");
    r.remove("_line");
    r
}

/// What an independent reading of an input says it holds.
#[derive(Default, Debug)]
pub struct Expected {
    pub rows: Vec<Row>,
    pub rejects: u64,
    pub repaired: u64,
}

/// Read an input independently: NDJSON (optionally gzip) or a JSON array, with serde_json.
pub fn expected(path: &Path) -> Expected {
    let raw = std::fs::read(path).expect("read fixture");
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
            .expect("gunzip");
        out
    } else {
        raw
    };
    let mut e = Expected::default();
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let v: Vec<serde_json::Value> = serde_json::from_slice(&bytes).expect("array fixture");
        for item in v {
            if item.is_object() {
                e.rows.push(reference_flatten(&item));
            } else {
                e.rejects += 1;
            }
        }
        return e;
    }
    for line in bytes.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            continue;
        }
        let repaired = std::str::from_utf8(line).is_err();
        match serde_json::from_str::<serde_json::Value>(text.trim()) {
            Ok(v) if v.is_object() => {
                e.rows.push(reference_flatten(&v));
                if repaired {
                    e.repaired += 1;
                }
            }
            _ => e.rejects += 1,
        }
    }
    e
}

/// Sort rows canonically for multiset comparison.
pub fn sorted(mut rows: Vec<Row>) -> Vec<String> {
    let mut out: Vec<String> = rows
        .drain(..)
        .map(|r| serde_json::to_string(&r).unwrap_or_default())
        .collect();
    out.sort();
    out
}

/// Split one CSV line (RFC 4180 quoting, no embedded newlines): an independent reader for tests.
pub fn parse_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, q) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => q = !q,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `logpivot inspect --verify` on `data` passes.
pub fn verify(data: &Path, what: &str) {
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_logpivot"))
        .args(["inspect", "--verify", "--data"])
        .arg(data)
        .output()
        .expect("spawn");
    assert!(
        v.status.success(),
        "{what}: inspect --verify: {}",
        String::from_utf8_lossy(&v.stderr)
    );
}

/// The stored `id`s of `data`, checked to be stored once each.
pub fn ids_once(data: &Path, what: &str) -> Vec<String> {
    let ids: Vec<String> = stored_rows(data).iter().map(|r| r["id"].clone()).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: a row stored twice");
    ids
}
