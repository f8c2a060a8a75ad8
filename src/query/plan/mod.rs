//! Planning: resolve user-facing names (fields, time buckets, joined columns, aggregates)
//! against the schema of the live segments, before any block is decoded.
//!
//! Must not: decode column data (that is `exec`) or print anything (that is `output`).
//!
//! The planning room: this module and [`tz`] (named and fixed time zones: what a time bucket,
//! an hour of day and a printed time mean in `--tz`).

pub mod tz;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::json::time;
use crate::segment::{ColumnType, SegmentReader, TIME_COLUMN};

use crate::query::csvmap::MapTable;
use crate::query::tz::Tz;

/// The union of the columns of all live segments and the types seen for each.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub columns: BTreeMap<String, Vec<ColumnType>>,
    /// Field names that mean "the event time" (configured time field and the automatic
    /// candidates), all resolving to `_time` in time contexts.
    pub time_names: Vec<String>,
}

impl Schema {
    /// Build from open segments.
    pub fn from_segments(segs: &[SegmentReader], time_field: Option<&str>) -> Schema {
        let mut columns: BTreeMap<String, Vec<ColumnType>> = BTreeMap::new();
        for s in segs {
            for c in &s.meta().columns {
                let e = columns.entry(c.name.clone()).or_default();
                if !e.contains(&c.ty) {
                    e.push(c.ty);
                }
            }
        }
        let mut time_names: Vec<String> = [
            "Datetime",
            "timestamp",
            "@timestamp",
            "ts",
            "time",
            TIME_COLUMN,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(t) = time_field {
            time_names.push(t.to_string());
        }
        Schema {
            columns,
            time_names,
        }
    }

    /// Resolve a user-typed field name to a stored column name.
    ///
    /// Exact names win; otherwise a name whose dots are literal key characters (Zeek's
    /// `id.orig_h`, stored escaped as `id\.orig_h`) is found by trying escaped spellings.
    pub fn resolve(&self, name: &str) -> Result<String> {
        if self.columns.contains_key(name) {
            return Ok(name.to_string());
        }
        let escaped_all = name.replace('\\', "\\\\").replace('.', "\\.");
        if self.columns.contains_key(&escaped_all) {
            return Ok(escaped_all);
        }
        let unescaped: Vec<&String> = self
            .columns
            .keys()
            .filter(|k| k.replace('\\', "") == name)
            .collect();
        if unescaped.len() == 1 {
            return Ok(unescaped[0].clone());
        }
        Err(Error::UnknownField {
            name: name.to_string(),
            hint: self.hint(name),
        })
    }

    fn hint(&self, name: &str) -> String {
        let lower = name.to_lowercase();
        let mut close: Vec<&String> = self
            .columns
            .keys()
            .filter(|k| {
                let kl = k.to_lowercase();
                kl.contains(&lower) || lower.contains(&kl) || edit_distance(&kl, &lower) <= 2
            })
            .take(5)
            .collect();
        close.sort();
        if close.is_empty() {
            format!(
                " ({} fields exist; `logpivot inspect` lists them)",
                self.columns.len()
            )
        } else {
            let names: Vec<String> = close.iter().map(|s| format!("`{s}`")).collect();
            format!("; did you mean {}?", names.join(", "))
        }
    }

    /// Is `name` the event time (in a time context)?
    pub fn is_time_name(&self, name: &str) -> bool {
        self.time_names.iter().any(|t| t == name) && self.columns.contains_key(TIME_COLUMN)
    }

    /// Types of a resolved column.
    pub fn types(&self, col: &str) -> &[ColumnType] {
        self.columns.get(col).map_or(&[], |v| v.as_slice())
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Where a time value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeSource {
    /// The derived `_time` column.
    Derived,
    /// Another column, parsed per row (strings as text times, ints as epoch).
    Column(String),
}

/// One part of a group key.
#[derive(Clone, Debug)]
pub enum KeyPart {
    /// A stored column's value.
    Column { name: String, as_text: bool },
    /// Time bucket of `width_ns`.
    Bucket { src: TimeSource, width_ns: i64 },
    /// Hour of day 0..=23.
    Hour { src: TimeSource },
    /// ISO weekday 1..=7.
    Weekday { src: TimeSource },
    /// A column of a joined map, looked up by an event field.
    Joined { join: usize, column: usize },
    /// Every substring between `prefix` and `suffix` in a text column (for a JSON array of
    /// strings, in each element): a multi-valued key, e.g. the CRS rule ids in ModSecurity's
    /// `audit_data.messages`. An event counts once under each distinct value it holds.
    Extract {
        name: String,
        prefix: String,
        suffix: String,
    },
    /// Whether the event matches a filter expression: as a value input, `count` then counts
    /// only matching events (contrast counts the suspect set this way, in the same pass as
    /// the baseline).
    Flag(Box<crate::query::expr::Expr>),
}

/// A key as the user wrote it and what it resolved to.
#[derive(Clone, Debug)]
pub struct KeySpec {
    pub label: String,
    pub part: KeyPart,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFn {
    Count,
    CountDistinct,
    /// A HyperLogLog estimate of the distinct count ([`crate::query::hll`]).
    ApproxCountDistinct,
    Sum,
    Min,
    Max,
    Avg,
}

/// One `--value`.
#[derive(Clone, Debug)]
pub struct ValueSpec {
    pub label: String,
    pub func: AggFn,
    /// The argument column (None for count).
    pub field: Option<KeyPart>,
}

/// A loaded enrichment map.
#[derive(Clone)]
pub struct Join {
    /// The name used in keys: the map file's stem (`rules` for rules.csv).
    pub alias: String,
    /// The event key: a resolved column, or an `extract(...)` of one.
    pub source: KeyPart,
    pub table: Arc<MapTable>,
    pub unmatched: String,
}

/// Parse a bucket width: `30s`, `1m`, `5m`, `1h`, `1d`, `1w`.
pub fn parse_width(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = if num.is_empty() { 1 } else { num.parse().ok()? };
    let unit_ns = match unit {
        "s" | "sec" => time::NANOS_PER_SEC,
        "m" | "min" => time::NANOS_PER_MIN,
        "h" | "hour" => time::NANOS_PER_HOUR,
        "d" | "day" => time::NANOS_PER_DAY,
        "w" | "week" => 7 * time::NANOS_PER_DAY,
        _ => return None,
    };
    (n > 0).then(|| n.checked_mul(unit_ns)).flatten()
}

fn time_source(schema: &Schema, name: &str) -> Result<TimeSource> {
    if schema.is_time_name(name) {
        return Ok(TimeSource::Derived);
    }
    let col = schema.resolve(name)?;
    if col == TIME_COLUMN {
        return Ok(TimeSource::Derived);
    }
    Ok(TimeSource::Column(col))
}

fn call_arg<'a>(s: &'a str, func: &str) -> Option<&'a str> {
    let rest = s.strip_prefix(func)?.trim_start();
    rest.strip_prefix('(')?.strip_suffix(')').map(str::trim)
}

/// Split `a, 'b, c', "d"` into unquoted arguments.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), '\\') => {
                if let Some(n) = chars.next() {
                    if n != q && n != '\\' {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => out.push(std::mem::take(&mut cur).trim().to_string()),
            (None, c) => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Resolve `extract(F, 'prefix', 'suffix')`, if `spec` is one.
pub fn resolve_extract(spec: &str, schema: &Schema) -> Result<Option<KeyPart>> {
    let Some(args) = call_arg(spec.trim(), "extract") else {
        return Ok(None);
    };
    let a = split_args(args);
    if a.len() != 3 || a[1].is_empty() || a[2].is_empty() {
        return Err(Error::invalid(format!(
            "invalid `{spec}`: expected extract(FIELD, 'prefix', 'suffix'), e.g. extract(audit_data.messages, 'id \"', '\"')"
        )));
    }
    Ok(Some(KeyPart::Extract {
        name: schema.resolve(&a[0])?,
        prefix: a[1].clone(),
        suffix: a[2].clone(),
    }))
}

/// Resolve a key spec (`ClientIP`, `Datetime:1h`, `hour(Datetime)`, `weekday(ts)`,
/// `rules.category`, `extract(F, 'prefix', 'suffix')`).
pub fn resolve_key(spec: &str, schema: &Schema, joins: &[Join]) -> Result<KeySpec> {
    let spec = spec.trim();
    let label = spec.to_string();
    if let Some(part) = resolve_extract(spec, schema)? {
        return Ok(KeySpec { label, part });
    }
    if let Some(arg) = call_arg(spec, "hour") {
        return Ok(KeySpec {
            label,
            part: KeyPart::Hour {
                src: time_source(schema, arg)?,
            },
        });
    }
    if let Some(arg) = call_arg(spec, "weekday") {
        return Ok(KeySpec {
            label,
            part: KeyPart::Weekday {
                src: time_source(schema, arg)?,
            },
        });
    }
    if let Some((name, width)) = spec.rsplit_once(':') {
        if let Some(w) = parse_width(width) {
            return Ok(KeySpec {
                label,
                part: KeyPart::Bucket {
                    src: time_source(schema, name)?,
                    width_ns: w,
                },
            });
        }
    }
    if let Some(part) = joined_part(spec, joins)? {
        return Ok(KeySpec { label, part });
    }
    let name = schema.resolve(spec)?;
    let as_text = schema.types(&name).len() > 1;
    Ok(KeySpec {
        label,
        part: KeyPart::Column { name, as_text },
    })
}

fn joined_part(spec: &str, joins: &[Join]) -> Result<Option<KeyPart>> {
    for (ji, j) in joins.iter().enumerate() {
        if let Some(col) = spec
            .strip_prefix(&j.alias)
            .and_then(|r| r.strip_prefix('.'))
        {
            return match j.table.column_index(col) {
                Some(ci) => Ok(Some(KeyPart::Joined {
                    join: ji,
                    column: ci,
                })),
                None => Err(Error::UnknownField {
                    name: spec.to_string(),
                    hint: format!(
                        "; the map `{}` has columns {}",
                        j.alias,
                        j.table.columns.join(", ")
                    ),
                }),
            };
        }
    }
    Ok(None)
}

/// Resolve a value spec (`count`, `count_distinct(ClientIP)`, `approx_count_distinct(F)`,
/// `sum(F)`, `min(F)`, `max(F)`, `avg(F)`).
pub fn resolve_value(spec: &str, schema: &Schema, joins: &[Join]) -> Result<ValueSpec> {
    let s = spec.trim();
    if s.eq_ignore_ascii_case("count") || s.eq_ignore_ascii_case("count()") {
        return Ok(ValueSpec {
            label: "count".into(),
            func: AggFn::Count,
            field: None,
        });
    }
    let funcs = [
        ("count_distinct", AggFn::CountDistinct),
        ("approx_count_distinct", AggFn::ApproxCountDistinct),
        ("sum", AggFn::Sum),
        ("min", AggFn::Min),
        ("max", AggFn::Max),
        ("avg", AggFn::Avg),
    ];
    for (name, func) in funcs {
        if let Some(arg) = call_arg(s, name) {
            let key = resolve_key(arg, schema, joins)?;
            return Ok(ValueSpec {
                label: format!("{name}({arg})"),
                func,
                field: Some(key.part),
            });
        }
    }
    Err(Error::invalid(format!(
        "invalid --value `{spec}`: expected count, count_distinct(F), approx_count_distinct(F), sum(F), min(F), max(F) or avg(F)"
    )))
}

/// Parse `--from`/`--to`: RFC 3339, a date, `YYYY-MM-DD HH:MM:SS` or epoch seconds/ms/ns.
pub fn parse_time_arg(s: &str, what: &str) -> Result<i64> {
    time::parse_time_str(s).ok_or_else(|| {
        Error::invalid(format!(
            "invalid {what} `{s}`: expected a date (2024-06-09), an RFC 3339 time (2024-06-09T12:00:00Z) or epoch seconds"
        ))
    })
}

/// Parse a `--tz` value: `UTC`, a fixed offset (`+05:30`) or an IANA name (the system's tzdata,
/// else the database compiled in).
pub fn load_tz(name: &str) -> Result<Tz> {
    if let Some(tz) = Tz::parse_fixed(name) {
        return Ok(tz);
    }
    Tz::named(name).map_err(|e| {
        Error::invalid(format!(
            "{e} (use an IANA name like Europe/Berlin, UTC, or an offset like +05:30)"
        ))
    })
}
