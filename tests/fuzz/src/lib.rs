//! The bodies of the fuzz targets (`fuzz_targets/*.rs` call them; `tests/fuzz_regressions.rs`
//! in the library's own tests runs them over every saved crash and seed, on stable Rust).
//! Each takes arbitrary bytes and must not panic: bad input is an error value.

use std::io::Write;

use logpivot::codec::{ints, strings::StrDict};
use logpivot::index::Directory;
use logpivot::io::MappedFile;
use logpivot::json::split::{detect_input, ArrayScanner, EnvelopeScanner, RecordsPath};
use logpivot::json::{JsonValue, RecordParser, RecordSink};
use logpivot::query::csvmap::{parse_records, MapTable};
use logpivot::query::plan::Schema;
use logpivot::query::{parse_filter, parse_size, partial, plan, PivotRequest};
use logpivot::segment::{block, footer, ColumnType, SegmentReader};
use logpivot::store::{shards, DataDir};

struct Sink(usize);

impl RecordSink for Sink {
    fn field(&mut self, path: &str, value: JsonValue<'_>) {
        self.0 += path.len();
        if let JsonValue::Str(s) = value {
            let _ = logpivot::json::time::parse_time_str(s);
        }
    }
}

/// One input as ingest sees it: shape detection, the array and envelope scanners over the
/// bytes, and each record (or the whole input) through simd-json and the flattener, with the
/// time parser on every string value. Nothing may panic; a bad record is a `ParseFailure`.
pub fn json_record(data: &[u8]) {
    let _ = detect_input(data, None);
    let mut parser = RecordParser::new();
    let mut sink = Sink(0);
    // The whole input as one record, then each line.
    let _ = parser.parse(data, &mut sink);
    for line in data.split(|&b| b == b'\n') {
        let _ = parser.parse(line, &mut sink);
    }
    // Array elements and envelope records, each parsed.
    let mut spans = Vec::new();
    let mut scanner = ArrayScanner::new();
    scanner.scan(data, 0, &mut spans);
    if let Ok(path) = RecordsPath::parse("Records") {
        let mut env = EnvelopeScanner::new(&path);
        env.scan(data, 0, &mut spans);
    }
    for s in &spans {
        if let Some(rec) = data.get(s.start as usize..s.end as usize) {
            let _ = parser.parse(rec, &mut sink);
        }
    }
}

fn whole_file(data: &[u8]) {
    let Ok(mut f) = tempfile::NamedTempFile::new() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    let Ok(map) = MappedFile::open(f.path()) else {
        return;
    };
    let Ok(seg) = SegmentReader::new(map) else {
        return;
    };
    let _ = seg.verify_all();
    for c in 0..seg.meta().columns.len() {
        let _ = seg.column_cells(c);
    }
    for im in &seg.meta().indexes {
        if let Ok(ix) = seg.index(im) {
            let _ = ix.len();
        }
    }
    let rows = seg.meta().rows.min(64) as usize;
    let _ = seg.row_cells(&(0..rows).collect::<Vec<_>>());
}

/// The segment reader over arbitrary bytes: the first byte picks a layer. 0: a whole file
/// (header, trailer, metadata, then every region verified, every column decoded, every index
/// opened); 1: the metadata decoder behind the trailer's checksum (every format version); 2:
/// column blocks of each type and plain string blocks; 3: the integer and length codecs; 4:
/// dictionaries and string lists; 5: index directories. Errors are expected; panics,
/// overflows and unbounded allocations are not.
pub fn segment(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => whole_file(rest),
        1 => {
            for v in 1..=4 {
                let _ = footer::decode_meta(rest, v);
            }
            let _ = footer::decode_trailer(rest);
        }
        2 => {
            let rows = rest.first().map_or(0, |&b| b as usize * 257);
            let body = rest.get(1..).unwrap_or(&[]);
            for ty in [
                ColumnType::Bool,
                ColumnType::Int,
                ColumnType::Float,
                ColumnType::Str,
                ColumnType::Time,
            ] {
                let _ = block::decode_block(body, ty, rows);
            }
            let _ = block::decode_plain_block(body, rows);
        }
        3 => {
            let n = rest.first().map_or(0, |&b| b as usize * 129);
            let body = rest.get(1..).unwrap_or(&[]);
            let mut out = Vec::new();
            let _ = ints::decode_i64(body, n, &mut out);
            let mut lens = Vec::new();
            let _ = ints::decode_lengths(body, n, &mut lens);
        }
        4 => {
            if let Ok((d, _)) = StrDict::parse(rest) {
                for s in d.iter() {
                    let _ = s.len();
                }
            }
            let n = rest.first().map_or(0, |&b| b as usize);
            let _ = StrDict::parse_list(rest.get(1..).unwrap_or(&[]), n);
        }
        _ => {
            if let Ok((d, _)) = Directory::parse(rest) {
                for i in 0..d.len().min(1024) {
                    let _ = d.row_range(i);
                }
                let _ = d.ordered_runs();
            }
        }
    }
}

/// A data directory's MANIFEST (and a sharded root's SHARDS) as readers load them: arbitrary
/// bytes are refused with an error, never a panic; a manifest that parses also goes through
/// the view a reader opens (paths checked when segments are opened, not here).
pub fn manifest(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let (sharded, body) = match data.split_first() {
        Some((&b, rest)) if b % 4 == 0 => (true, rest),
        _ => (false, data),
    };
    if sharded {
        if std::fs::write(dir.path().join("SHARDS"), body).is_err() {
            return;
        }
        let _ = shards::shard_count(dir.path());
        let _ = shards::load_view(&DataDir::new(dir.path()));
        return;
    }
    if std::fs::write(dir.path().join("MANIFEST"), body).is_err() {
        return;
    }
    let d = DataDir::new(dir.path());
    if let Ok(m) = d.load_manifest() {
        let _ = m.rows();
        let _ = m.bytes();
        for e in &m.inputs {
            let _ = e.committed_bytes();
            let _ = e.complete();
        }
    }
    let _ = shards::load_view(&d);
}

/// Enrichment maps (`--join map.csv:Field=key`): the CSV reader and the map table over
/// arbitrary bytes, then lookups of a few keys.
pub fn csv_map(data: &[u8]) {
    let _ = parse_records(data);
    // The key column is named by the first bytes' header when there is one.
    let key = std::str::from_utf8(data)
        .ok()
        .and_then(|t| t.split([',', '\n']).next())
        .unwrap_or("key")
        .trim_matches('"')
        .to_string();
    for k in [key.as_str(), "rule_id", "key"] {
        if let Ok(t) = MapTable::from_csv(data, k) {
            let _ = t.len();
            for c in 0..4 {
                let _ = t.distinct_values(c);
                let _ = t.get("1", c);
            }
            let _ = t.lookup(&key);
        }
    }
}

/// The filter language (`--where`, `--suspect`, `--baseline`) and the other request syntax a
/// user types (keys such as `Datetime:1h`, `extract(F, 'a', 'b')`, values such as
/// `count_distinct(F)`, sizes, times): arbitrary text is an error or a plan, never a panic.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut schema = Schema::default();
    for (name, ty) in [
        ("Action", ColumnType::Str),
        ("RuleID", ColumnType::Str),
        ("ClientIP", ColumnType::Str),
        ("EdgeResponseStatus", ColumnType::Int),
        ("score", ColumnType::Float),
        ("flag", ColumnType::Bool),
        ("Datetime", ColumnType::Int),
        ("_time", ColumnType::Time),
        ("id\\.orig_h", ColumnType::Str),
    ] {
        schema.columns.insert(name.to_string(), vec![ty]);
    }
    schema.time_names = vec!["Datetime".into(), "_time".into()];
    let _ = parse_filter(text, &schema, "--where");
    let _ = parse_size(text);
    let _ = logpivot::query::plan::parse_time_arg(text, "--from");
    // Two halves, split on a character boundary, as a key and a value.
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(text.len(), |(i, _)| i);
    let (a, b) = text.split_at(mid);
    let req = PivotRequest {
        rows: vec![a.to_string()],
        cols: Some(b.to_string()),
        values: vec![b.to_string()],
        filters: vec![text.to_string()],
        ..PivotRequest::default()
    };
    let _ = plan(&req.normalized(), &schema);
}

/// Partial aggregates as `logpivot.ray` hands them between machines: arbitrary blobs through
/// the reduce steps (count-only on byte keys, and every state on values) and the finish, and
/// arbitrary score tables. A blob that does not fit the query is an error, never a panic.
pub fn partial(data: &[u8]) {
    let mut schema = Schema::default();
    for (name, ty) in [
        ("a", ColumnType::Str),
        ("b", ColumnType::Str),
        ("n", ColumnType::Int),
    ] {
        schema.columns.insert(name.to_string(), vec![ty]);
    }
    for values in [
        vec!["count".to_string()],
        vec![
            "count".into(),
            "count_distinct(b)".into(),
            "approx_count_distinct(b)".into(),
            "avg(n)".into(),
            "min(n)".into(),
        ],
    ] {
        let req = PivotRequest {
            rows: vec!["a".into()],
            cols: Some("b".into()),
            values,
            top: Some(3),
            ..PivotRequest::default()
        }
        .normalized();
        let Ok(p) = plan(&req, &schema) else {
            return;
        };
        // The bytes as a blob, and as the body of a well-formed blob (record count, records).
        let wrapped = partial::groups_blob(data).unwrap_or_default();
        if let Ok(r) = partial::reduce(&p, &req, &[&wrapped, &wrapped]) {
            let _ = partial::finish(&p, &req, &[], &[&r.groups], r.rows, Default::default());
        }
        if let Ok(r) = partial::reduce(&p, &req, &[data, data]) {
            let _ = partial::finish(&p, &req, &[], &[&r.groups], r.rows, Default::default());
        }
        let _ = partial::finish(&p, &req, &[data], &[data], 0, Default::default());
    }
}
