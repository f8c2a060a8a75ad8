//! Differential tests of the query layer: random pivot queries over generated Cloudflare events,
//! each compared with a naive in-memory model (a HashMap pivot over the parsed JSON), and each
//! also run with a memory limit small enough to force spilling and with the bitmap indexes
//! bypassed. All must agree exactly.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::pivot::{key_text, PivotRow};
use logpivot::query::value::AggState;
use logpivot::query::{pivot, JoinRequest, PivotRequest, PivotTable};
use logpivot::store::DataDir;
use logpivot_synth::{Synth, SynthConfig};
use serde_json::Value;

type Event = serde_json::Map<String, Value>;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: DataDir,
    rules: std::path::PathBuf,
    events: Vec<Event>,
    rule_map: HashMap<String, String>,
}

fn fixture() -> Fixture {
    fixture_with(false)
}

/// The fixture; with `shuffle`, the input lines in a random order, so the rows of a minute
/// are scattered over a segment (the minute index's row ranges then overlap and are sparse).
fn fixture_with(shuffle: bool) -> Fixture {
    fixture_opts(shuffle, 4_000)
}

/// The fixture with segments of up to `segment_rows` rows (from 8,192 rows a near-unique
/// string column such as `RayID` is stored plain).
fn fixture_opts(shuffle: bool, segment_rows: usize) -> Fixture {
    fixture_full(shuffle, segment_rows, 0, 0)
}

/// [`fixture_opts`], with the time field of the first event of every `untimed_every`-th
/// minute renamed (0: none), so untimed rows lie between the minutes' row runs of a
/// time-ordered segment.
/// With `no_rule_every` > 0, every so many events lose their `RuleID` (the join key).
fn fixture_full(
    shuffle: bool,
    segment_rows: usize,
    untimed_every: usize,
    no_rule_every: usize,
) -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("events.ndjson");
    let rules = tmp.path().join("rules.csv");
    let mut synth = Synth::new(SynthConfig {
        events: 30_000,
        seed: 7,
        days: 2,
        ips: 2_000,
        malformed_every: 5_000,
        ..SynthConfig::default()
    });
    let mut buf = Vec::new();
    synth.write_events(&mut buf, None).expect("gen");
    if shuffle {
        let mut lines: Vec<&[u8]> = buf
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut rng = Rng(0x5eed);
        for i in (1..lines.len()).rev() {
            lines.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        buf = lines.join(&b'\n');
        buf.push(b'\n');
    }
    if untimed_every > 0 {
        // The first event of every `untimed_every`-th new minute loses its time, so it lies
        // between two minutes' row runs (in time-ordered input).
        let text = String::from_utf8(buf).expect("utf8");
        let mut out = String::new();
        let (mut prev, mut boundaries) = (None, 0usize);
        for line in text.lines() {
            let minute = line.split_once("\"Datetime\":").and_then(|(_, rest)| {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse::<i64>().ok().map(|ns| ns / 60_000_000_000)
            });
            let mut line = line.to_string();
            if minute.is_some() && minute != prev {
                boundaries += 1;
                if boundaries % untimed_every == 0 {
                    line = line.replacen("\"Datetime\":", "\"NoTime\":", 1);
                }
            }
            prev = minute.or(prev);
            out.push_str(&line);
            out.push('\n');
        }
        buf = out.into_bytes();
    }
    if no_rule_every > 0 {
        let text = String::from_utf8(buf).expect("utf8");
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            match i % no_rule_every {
                3 => out.push_str(&line.replacen("\"RuleID\":", "\"NoRule\":", 1)),
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        buf = out.into_bytes();
    }
    std::fs::write(&input, &buf).expect("write");
    let mut rb = Vec::new();
    synth.write_rule_map(&mut rb).expect("rules");
    std::fs::write(&rules, &rb).expect("write rules");
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        threads: 2,
        segment_rows,
        chunk_bytes: 256 << 10,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let events: Vec<Event> = buf
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect();
    let mut rule_map = HashMap::new();
    let text = String::from_utf8(rb).expect("utf8");
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            continue;
        }
        // rule_id is the first field and never quoted; category is the second-to-last.
        let fields = common::parse_csv_line(line);
        rule_map.insert(fields[0].clone(), fields[fields.len() - 2].clone());
    }
    Fixture {
        _tmp: tmp,
        dir,
        rules,
        events,
        rule_map,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn time_ns(e: &Event) -> i64 {
    e["Datetime"].as_i64().expect("unixnano")
}

/// A key of the model: how to compute the text of one key part for an event.
#[derive(Clone, Copy)]
enum MKey {
    Field(&'static str),
    Hour1,
    HourOfDay,
    /// ISO weekday as the pivot shows it, `1-Mon` .. `7-Sun` (1970-01-01 was a Thursday).
    Weekday,
    Category,
}

fn key_of(k: MKey, e: &Event, f: &Fixture) -> String {
    match k {
        MKey::Field(name) => {
            let mut parts = name.split('.');
            let first = parts.next().and_then(|p| e.get(p));
            let v = parts.fold(first, |v, p| v.and_then(|v| v.get(p)));
            text(v).unwrap_or_else(|| "(null)".into())
        }
        MKey::Hour1 => {
            let t = time_ns(e).div_euclid(3_600_000_000_000) * 3_600_000_000_000;
            logpivot::json::time::format_rfc3339(t)
        }
        MKey::HourOfDay => (time_ns(e).div_euclid(3_600_000_000_000) % 24).to_string(),
        MKey::Weekday => {
            let d = (time_ns(e).div_euclid(86_400_000_000_000) + 3).rem_euclid(7) as usize;
            let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            format!("{}-{}", d + 1, names[d])
        }
        MKey::Category => text(e.get("RuleID"))
            .and_then(|r| f.rule_map.get(&r).cloned())
            .unwrap_or_else(|| "(unmatched)".into()),
    }
}

fn key_spec(k: MKey) -> String {
    match k {
        MKey::Field(n) => n.to_string(),
        MKey::Hour1 => "Datetime:1h".into(),
        MKey::HourOfDay => "hour(Datetime)".into(),
        MKey::Weekday => "weekday(Datetime)".into(),
        MKey::Category => "rules.category".into(),
    }
}

type Filter = (&'static str, fn(&Event) -> bool);

/// A filter expression and the model's predicate for it.
type ModelFilter = (String, Box<dyn Fn(&Event) -> bool>);

fn filters() -> Vec<Filter> {
    vec![
        ("Action in (block, challenge)", |e| {
            matches!(e["Action"].as_str(), Some("block" | "challenge"))
        }),
        (
            "EdgeResponseStatus >= 403 and not ClientCountry = us",
            |e| {
                e["EdgeResponseStatus"].as_i64().unwrap_or(0) >= 403
                    && e["ClientCountry"].as_str() != Some("us")
            },
        ),
        ("ClientRequestPath prefix /api", |e| {
            e["ClientRequestPath"]
                .as_str()
                .is_some_and(|p| p.starts_with("/api"))
        }),
        ("ClientRequestUserAgent contains bot or Source = waf", |e| {
            e["ClientRequestUserAgent"]
                .as_str()
                .is_some_and(|u| u.contains("bot"))
                || e["Source"].as_str() == Some("waf")
        }),
        ("Metadata.ruleset is null", |e| {
            e.get("Metadata").and_then(|m| m.get("ruleset")).is_none()
        }),
        ("ClientASN != 13335 and MatchIndex <= 1", |e| {
            e["ClientASN"].as_i64() != Some(13335) && e["MatchIndex"].as_i64().unwrap_or(0) <= 1
        }),
    ]
}

/// The rule IDs of the data, most frequent first (for indexed equality filters).
fn top_rules(f: &Fixture) -> Vec<String> {
    let mut c: HashMap<String, u64> = HashMap::new();
    for e in &f.events {
        *c.entry(text(e.get("RuleID")).unwrap_or_default())
            .or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = c.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|x| x.0).collect()
}

/// Model result: (row keys, col key) -> (count, distinct IPs, sum of status, min, max).
type Cells = BTreeMap<(Vec<String>, String), (u64, HashSet<String>, f64, f64, f64)>;

struct Query {
    rows: Vec<MKey>,
    col: Option<MKey>,
    filter: Option<ModelFilter>,
    from: Option<i64>,
    to: Option<i64>,
}

fn model(f: &Fixture, q: &Query) -> Cells {
    let mut out = Cells::new();
    for e in &f.events {
        let t = time_ns(e);
        if q.from.is_some_and(|x| t < x) || q.to.is_some_and(|x| t >= x) {
            continue;
        }
        if let Some((_, pred)) = &q.filter {
            if !pred(e) {
                continue;
            }
        }
        let rk: Vec<String> = q.rows.iter().map(|k| key_of(*k, e, f)).collect();
        let ck = q.col.map(|k| key_of(k, e, f)).unwrap_or_default();
        let c = out.entry((rk, ck)).or_insert((
            0,
            HashSet::new(),
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ));
        c.0 += 1;
        if let Some(ip) = text(e.get("ClientIP")) {
            c.1.insert(ip);
        }
        let s = e["EdgeResponseStatus"].as_f64().unwrap_or(0.0);
        c.2 += s;
        c.3 = c.3.min(s);
        c.4 = c.4.max(s);
    }
    out
}

fn request(f: &Fixture, q: &Query) -> PivotRequest {
    PivotRequest {
        rows: q.rows.iter().map(|k| key_spec(*k)).collect(),
        cols: q.col.map(key_spec),
        values: vec![
            "count".into(),
            "count_distinct(ClientIP)".into(),
            "sum(EdgeResponseStatus)".into(),
            "min(EdgeResponseStatus)".into(),
            "max(EdgeResponseStatus)".into(),
        ],
        filters: q.filter.iter().map(|(s, _)| s.clone()).collect(),
        from: q.from.map(logpivot::json::time::format_rfc3339),
        to: q.to.map(logpivot::json::time::format_rfc3339),
        joins: vec![
            JoinRequest::parse(&format!("{}:RuleID=rule_id", f.rules.display())).expect("join"),
        ],
        threads: 2,
        ..PivotRequest::default()
    }
}

/// (row key texts, column key text) -> count, of a count-only pivot.
fn flatten_counts(t: &PivotTable) -> BTreeMap<(Vec<String>, String), u64> {
    walk_cells(
        t,
        |r| r.events,
        |states| states[0].result().unwrap_or(0.0) as u64,
    )
    .into_iter()
    .collect()
}

/// A pivot cell: (row key texts, column key text) and its states.
type Cell = ((Vec<String>, String), Vec<AggState>);

/// Every cell of a pivot (the row's total states when there is no column key).
fn cells(t: &PivotTable) -> Vec<Cell> {
    walk_cells(t, |r| r.total.clone(), |states| states.to_vec())
}

/// One entry per cell of `t`, keyed by (row key texts, column key text): `whole(row)` when the
/// pivot has no column key, else `cell(states)` for each non-empty cell (`OTHER` for the
/// folded column).
fn walk_cells<T>(
    t: &PivotTable,
    whole: impl Fn(&PivotRow) -> T,
    cell: impl Fn(&[AggState]) -> T,
) -> Vec<((Vec<String>, String), T)> {
    let mut out = Vec::new();
    for r in &t.rows {
        let rk: Vec<String> = r
            .keys
            .iter()
            .zip(&t.row_formats)
            .map(|(k, fmt)| t.key_text(k, fmt))
            .collect();
        if t.col_label.is_none() {
            out.push(((rk, String::new()), whole(r)));
            continue;
        }
        for (ci, states) in r.cells.iter().enumerate() {
            let Some(states) = states else { continue };
            let ck = match &t.columns[ci] {
                Some(k) => key_text(k, &t.col_format, &t.tz),
                None => "OTHER".into(),
            };
            out.push(((rk.clone(), ck), cell(states)));
        }
    }
    out
}

/// (row key texts, column key text) -> (count, first value), of a count, distinct pivot.
fn flatten_two(t: &PivotTable) -> BTreeMap<(Vec<String>, String), (u64, u64)> {
    cells(t)
        .into_iter()
        .map(|(k, st)| {
            let v = |i: usize| st.get(i).and_then(|s| s.result()).unwrap_or(0.0) as u64;
            (k, (v(0), v(1)))
        })
        .collect()
}

fn flatten_result(t: &PivotTable) -> Cells {
    cells(t)
        .into_iter()
        .map(|(k, states)| {
            let n = states[0].result().unwrap_or(0.0) as u64;
            let distinct = match &states[1] {
                AggState::Distinct(s) => s
                    .iter()
                    .map(|k| key_text(k, &t.col_format, &t.tz))
                    .collect(),
                _ => HashSet::new(),
            };
            (
                k,
                (
                    n,
                    distinct,
                    states[2].result().unwrap_or(0.0),
                    states[3].result().unwrap_or(f64::INFINITY),
                    states[4].result().unwrap_or(f64::NEG_INFINITY),
                ),
            )
        })
        .collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

fn random_query(rng: &mut Rng, f: &Fixture, rules: &[String]) -> Query {
    let keys = [
        MKey::Field("Action"),
        MKey::Field("Source"),
        MKey::Field("ClientCountry"),
        MKey::Field("RuleID"),
        MKey::Field("ClientASN"),
        MKey::Field("EdgeResponseStatus"),
        MKey::Field("Metadata.ruleset"),
        MKey::Hour1,
        MKey::HourOfDay,
        MKey::Weekday,
        MKey::Category,
    ];
    let nrows = 1 + (rng.next() % 2) as usize;
    let rows: Vec<MKey> = (0..nrows).map(|_| rng.pick(&keys)).collect();
    let col = rng.next().is_multiple_of(2).then(|| {
        rng.pick(&[
            MKey::Field("Action"),
            MKey::Field("Source"),
            MKey::HourOfDay,
            MKey::Category,
        ])
    });
    let fs = filters();
    let filter: Option<ModelFilter> = match rng.next() % 4 {
        0 => None,
        1 => {
            let r1 = rules[(rng.next() % 5) as usize].clone();
            let r2 = rules[(rng.next() % 40) as usize].clone();
            let s = format!("RuleID in ({r1}, {r2})");
            Some((
                s,
                Box::new(move |e: &Event| {
                    let r = e.get("RuleID").and_then(Value::as_str).unwrap_or("");
                    r == r1 || r == r2
                }),
            ))
        }
        _ => {
            let (s, p) = fs[(rng.next() % fs.len() as u64) as usize];
            Some((s.to_string(), Box::new(p)))
        }
    };
    let (from, to) = if rng.next().is_multiple_of(3) {
        let t0 = f.events.iter().map(time_ns).min().unwrap_or(0);
        // Not minute-aligned on purpose: edge minutes are checked row by row.
        let a = t0 + (rng.next() % 20_000) as i64 * 7_919_000_000;
        (Some(a), Some(a + 3 * 3_600_000_000_000 + 123_456_789))
    } else {
        (None, None)
    };
    Query {
        rows,
        col,
        filter,
        from,
        to,
    }
}

/// Which paths the checked queries took (each must be exercised).
#[derive(Default)]
struct Coverage {
    spilled: usize,
    fast: usize,
    bytes: usize,
    byte_spills: usize,
    distinct: usize,
    /// Distinct counts as (row key, value) pairs on byte keys, and of those spilled.
    pairs: usize,
    pair_spills: usize,
    /// approx_count_distinct on the distinct path, and spilled on the general path.
    sketches: usize,
    sketch_spills: usize,
}

/// Run `q` every way (as asked; count only on each count path, in memory and spilled; with a
/// distinct count; spilled; without indexes) and check each against the model.
fn check_query(f: &Fixture, q: &Query, spill: &Path, label: &str, cov: &mut Coverage) {
    let want = model(f, q);
    let req = request(f, q);
    let what = format!(
        "{label}: rows {:?} cols {:?} where {:?} from {:?} to {:?}",
        req.rows, req.cols, req.filters, req.from, req.to
    );
    let normal = pivot(&f.dir, &req).unwrap_or_else(|e| panic!("{what}: {e}"));
    let got = flatten_result(&normal);
    // The same keys counting only (the integer-key path when the keys allow it), in
    // memory and forced to spill.
    let want_counts: BTreeMap<(Vec<String>, String), u64> =
        want.iter().map(|(k, w)| (k.clone(), w.0)).collect();
    // Also on byte keys in hash partitions (forced: these data have few groups).
    for (limit, many) in [
        (PivotRequest::default().memory_limit, None),
        (64 << 10, None),
        (PivotRequest::default().memory_limit, Some(0)),
        (64 << 10, Some(0)),
    ] {
        let counts = pivot(
            &f.dir,
            &PivotRequest {
                values: vec!["count".into()],
                memory_limit: limit,
                spill_dir: Some(spill.to_path_buf()),
                many_groups: many,
                ..req.clone()
            },
        )
        .unwrap_or_else(|e| panic!("{what} (count only): {e}"));
        cov.fast += usize::from(counts.stats.plan.iter().any(|l| l.contains("integer keys")));
        let bytes = counts.stats.plan.iter().any(|l| l.contains("byte keys"));
        cov.bytes += usize::from(bytes);
        cov.byte_spills += usize::from(bytes && counts.stats.spill_runs > 0);
        assert_eq!(
            flatten_counts(&counts),
            want_counts,
            "{what}: count only, limit {limit}, many_groups {many:?}"
        );
    }
    // Count and distinct count only (bitmaps of interned values when the keys allow it;
    // with a 64 KiB budget that path gives way to the general one).
    let want_distinct: BTreeMap<(Vec<String>, String), (u64, u64)> = want
        .iter()
        .map(|(k, w)| (k.clone(), (w.0, w.1.len() as u64)))
        .collect();
    for limit in [PivotRequest::default().memory_limit, 64 << 10] {
        let d = pivot(
            &f.dir,
            &PivotRequest {
                values: vec!["count".into(), "count_distinct(ClientIP)".into()],
                memory_limit: limit,
                spill_dir: Some(spill.to_path_buf()),
                ..req.clone()
            },
        )
        .unwrap_or_else(|e| panic!("{what} (distinct): {e}"));
        cov.distinct += usize::from(d.stats.plan.iter().any(|l| l.contains("bitmaps")));
        let pairs = d.stats.plan.iter().any(|l| l.contains("pairs"));
        cov.pairs += usize::from(pairs);
        cov.pair_spills += usize::from(pairs && d.stats.spill_runs > 0);
        assert_eq!(
            flatten_two(&d),
            want_distinct,
            "{what}: count and distinct, limit {limit}"
        );
        // The HyperLogLog estimate, in memory and spilled: counts exact, distinct counts
        // within four standard errors (0.81% each) or one value of the model's.
        let a = pivot(
            &f.dir,
            &PivotRequest {
                values: vec!["count".into(), "approx_count_distinct(ClientIP)".into()],
                memory_limit: limit,
                spill_dir: Some(spill.to_path_buf()),
                // Spilled, also with totals: the general path's sketches (in memory the
                // distinct path's, when the keys are few).
                totals: limit < 1 << 20,
                ..req.clone()
            },
        )
        .unwrap_or_else(|e| panic!("{what} (approx distinct): {e}"));
        cov.sketches += usize::from(a.stats.plan.iter().any(|l| l.contains("bitmaps")));
        cov.sketch_spills += usize::from(a.stats.spill_runs > 0);
        let approx = flatten_two(&a);
        assert_eq!(
            approx.keys().collect::<Vec<_>>(),
            want_distinct.keys().collect::<Vec<_>>(),
            "{what}: approx cells, limit {limit}"
        );
        for (k, &(n, d)) in &want_distinct {
            let (gn, gd) = approx[k];
            let slack = (d as f64 * 4.0 * logpivot::query::hll::STANDARD_ERROR).max(1.0);
            assert!(
                gn == n && (gd as f64 - d as f64).abs() <= slack,
                "{what}: approx cell {k:?}: got ({gn}, {gd}), want ({n}, ~{d}), limit {limit}"
            );
        }
    }
    assert_eq!(got.len(), want.len(), "{what}: number of cells");
    for (k, w) in &want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: missing cell {k:?}"));
        assert_eq!(
            (g.0, &g.1, g.2, g.3, g.4),
            (w.0, &w.1, w.2, w.3, w.4),
            "{what}: cell {k:?}"
        );
    }
    let spilled = pivot(
        &f.dir,
        &PivotRequest {
            memory_limit: 64 << 10,
            spill_dir: Some(spill.to_path_buf()),
            ..req.clone()
        },
    )
    .unwrap_or_else(|e| panic!("{what} (spill): {e}"));
    assert_eq!(
        flatten_result(&spilled),
        got,
        "{what}: spill changed the result"
    );
    cov.spilled += usize::from(spilled.stats.spill_runs > 0);
    let no_index = pivot(
        &f.dir,
        &PivotRequest {
            use_indexes: false,
            ..req.clone()
        },
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        flatten_result(&no_index),
        got,
        "{what}: indexes changed the result"
    );
    // Spill files are gone afterwards.
    assert_eq!(
        std::fs::read_dir(spill).expect("ls").count(),
        0,
        "{what}: spill files left"
    );
}

#[test]
fn random_pivots_match_the_naive_model_with_and_without_spill_and_indexes() {
    let f = fixture();
    let rules = top_rules(&f);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let spill = tempfile::tempdir().expect("spill dir");
    let mut cov = Coverage::default();
    for qi in 0..40 {
        let q = random_query(&mut rng, &f, &rules);
        check_query(&f, &q, spill.path(), &format!("query {qi}"), &mut cov);
    }
    let Coverage {
        spilled: spilled_queries,
        fast: fast_queries,
        bytes: byte_queries,
        byte_spills,
        distinct: distinct_queries,
        pairs,
        pair_spills,
        sketches,
        sketch_spills,
    } = cov;
    assert!(
        sketches >= 4 && sketch_spills >= 4,
        "approx_count_distinct: {sketches} runs on the distinct path, {sketch_spills} spilled"
    );
    assert!(
        spilled_queries >= 10,
        "only {spilled_queries} queries spilled: the spill path is not exercised"
    );
    // The integer-key path is exercised (the general one by every query above).
    assert!(
        fast_queries >= 16,
        "{fast_queries} of 80 count-only runs took the integer-key path"
    );
    assert!(
        distinct_queries >= 8,
        "{distinct_queries} count_distinct runs took the bitmap path"
    );
    // Distinct counts over (row key, value) pairs, in memory and spilled.
    assert!(
        pairs >= 8 && pair_spills >= 4,
        "{pairs} count_distinct runs took the pairs path, {pair_spills} of them spilled"
    );
    // ... and the byte-key path, in memory and spilled.
    assert!(
        byte_queries >= 16 && byte_spills >= 8,
        "{byte_queries} count-only runs took the byte-key path, {byte_spills} of them spilled"
    );
}

/// With segments large enough for `RayID` (unique per event) to be stored plain (format v3),
/// pivots keyed on it, filtered on it (in, prefix, contains) and over a time range match the
/// model, every way `check_query` runs them; and so does a distinct count of it.
#[test]
fn plain_string_columns_match_the_naive_model() {
    let f = fixture_opts(false, 16_000);
    let (segs, _) = logpivot::query::open_segments(&f.dir).expect("open");
    let plain = segs
        .iter()
        .filter(|s| {
            s.meta()
                .column("RayID")
                .is_some_and(|(_, c)| c.flags & logpivot::segment::flags::PLAIN != 0)
        })
        .count();
    assert!(plain >= 1, "RayID is plain in no segment of {}", segs.len());
    let ids: Vec<String> = f
        .events
        .iter()
        .filter_map(|e| e.get("RayID")?.as_str().map(String::from))
        .collect();
    let (a, b) = (ids[17].clone(), ids[ids.len() - 5].clone());
    let t0 = f.events.iter().map(time_ns).min().unwrap_or(0);
    let field = |e: &Event| e["RayID"].as_str().unwrap_or("").to_string();
    let queries = [
        Query {
            rows: vec![MKey::Field("Action")],
            col: Some(MKey::Field("Source")),
            filter: Some((
                format!("RayID in ({a}, {b}, not-an-id)"),
                Box::new(move |e: &Event| {
                    let r = field(e);
                    r == a || r == b
                }),
            )),
            from: None,
            to: None,
        },
        Query {
            rows: vec![MKey::Field("RayID")],
            col: Some(MKey::Field("Action")),
            filter: Some((
                "RayID prefix ab".into(),
                Box::new(move |e: &Event| field(e).starts_with("ab")),
            )),
            from: None,
            to: None,
        },
        Query {
            rows: vec![MKey::Field("RayID"), MKey::Hour1],
            col: None,
            filter: Some((
                "RayID contains 7f".into(),
                Box::new(move |e: &Event| field(e).contains("7f")),
            )),
            from: Some(t0 + 3_600_000_000_000),
            to: Some(t0 + 9 * 3_600_000_000_000),
        },
    ];
    let spill = tempfile::tempdir().expect("spill dir");
    let mut cov = Coverage::default();
    for (i, q) in queries.iter().enumerate() {
        check_query(&f, q, spill.path(), &format!("plain query {i}"), &mut cov);
    }
    // The distinct count of the plain column itself, per Action, against the model.
    let got = pivot(
        &f.dir,
        &PivotRequest {
            rows: vec!["Action".into()],
            values: vec!["count".into(), "count_distinct(RayID)".into()],
            ..PivotRequest::default()
        },
    )
    .expect("distinct RayID");
    let mut model: BTreeMap<String, (u64, HashSet<String>)> = BTreeMap::new();
    for e in &f.events {
        let action = text(e.get("Action")).unwrap_or_else(|| "(null)".into());
        let cell = model.entry(action).or_default();
        cell.0 += 1;
        if let Some(id) = text(e.get("RayID")) {
            cell.1.insert(id);
        }
    }
    let want: BTreeMap<(Vec<String>, String), (u64, u64)> = model
        .into_iter()
        .map(|(k, (n, ids))| ((vec![k], String::new()), (n, ids.len() as u64)))
        .collect();
    let got = flatten_two(&got);
    assert_eq!(got, want, "count_distinct(RayID) by Action");
}

/// Each `--top n` of `base`, with the default path and with byte keys forced, is the head of
/// the full sorted result (keys and cells) over the same number of rows; the full result.
fn check_top_heads(f: &Fixture, base: &PivotRequest, ns: &[usize]) -> PivotTable {
    let full = pivot(&f.dir, base).expect("full");
    for (n, many) in ns.iter().flat_map(|&n| [(n, None), (n, Some(0))]) {
        let what = format!("{:?} top {n}, many_groups {many:?}", base.rows);
        let top = pivot(
            &f.dir,
            &PivotRequest {
                top: Some(n),
                many_groups: many,
                ..base.clone()
            },
        )
        .expect("top");
        assert_eq!(top.rows.len(), n.min(full.rows.len()), "{what}");
        for (a, b) in top.rows.iter().zip(&full.rows) {
            assert_eq!(a.keys, b.keys, "{what}");
            assert_eq!(a.cells, b.cells, "{what}");
        }
        assert_eq!(top.total_rows, full.rows.len() as u64, "{what}");
    }
    full
}

#[test]
fn top_n_is_the_head_of_the_full_sorted_result() {
    let f = fixture();
    let base = PivotRequest {
        rows: vec!["ClientIP".into()],
        threads: 2,
        ..PivotRequest::default()
    };
    let full = check_top_heads(&f, &base, &[1, 7, 50]);
    // Two row keys and a column key: the cut is on row totals, not on single cells.
    let wide = PivotRequest {
        rows: vec!["ClientCountry".into(), "Action".into()],
        cols: Some("Source".into()),
        threads: 2,
        ..PivotRequest::default()
    };
    check_top_heads(&f, &wide, &[1, 5, 40]);
    // Rows that mostly hold one event: the N-th row's total is shared by many more rows than
    // the top N has room for, and the cut among them is by key order, on both paths.
    let sparse = PivotRequest {
        rows: vec!["ClientIP".into(), "ClientRequestPath".into()],
        cols: Some("Action".into()),
        threads: 2,
        ..PivotRequest::default()
    };
    let ns = [3, 1000, 3000];
    let sparse_full = check_top_heads(&f, &sparse, &ns);
    let events = |i: usize| sparse_full.rows.get(i).map(|r| r.total[0].result());
    let crossed = ns
        .iter()
        .filter(|&&n| events(n - 1).is_some() && events(n - 1) == events(n))
        .count();
    assert!(
        crossed >= 2,
        "ties across the N-th row for {crossed} of {ns:?}: {:?}",
        ns.map(|n| (events(n - 1), events(n)))
    );
    let spilled = pivot(
        &f.dir,
        &PivotRequest {
            top: Some(7),
            memory_limit: 64 << 10,
            ..base.clone()
        },
    )
    .expect("spilled top");
    for (a, b) in spilled.rows.iter().zip(&full.rows) {
        assert_eq!(a.keys, b.keys, "exact top under spill");
    }
}

#[test]
fn cols_top_folds_the_rest_into_other_and_totals_add_up() {
    let f = fixture();
    let t = pivot(
        &f.dir,
        &PivotRequest {
            rows: vec!["Source".into()],
            cols: Some("ClientCountry".into()),
            cols_top: Some(5),
            totals: true,
            threads: 2,
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    assert_eq!(t.columns.len(), 6);
    assert!(t.columns[5].is_none(), "last column is OTHER");
    let totals = t.totals.as_ref().expect("totals row");
    assert_eq!(totals.total[0].result(), Some(f.events.len() as f64));
    for r in &t.rows {
        let sum: f64 = r
            .cells
            .iter()
            .flatten()
            .map(|c| c[0].result().unwrap_or(0.0))
            .sum();
        assert_eq!(
            Some(sum),
            r.total[0].result(),
            "row cells add up to the row total"
        );
    }
}

#[test]
fn unknown_fields_and_bad_filters_are_clear_errors() {
    let f = fixture();
    let err = |req: PivotRequest| pivot(&f.dir, &req).expect_err("must fail").to_string();
    let base = PivotRequest {
        rows: vec!["Action".into()],
        ..PivotRequest::default()
    };
    let e = err(PivotRequest {
        rows: vec!["Actoin".into()],
        ..base.clone()
    });
    assert!(
        e.contains("unknown field `Actoin`") && e.contains("Action"),
        "{e}"
    );
    let e = err(PivotRequest {
        filters: vec!["Action in (block".into()],
        ..base.clone()
    });
    assert!(e.contains("--where"), "{e}");
    let e = err(PivotRequest {
        from: Some("yesterday".into()),
        ..base.clone()
    });
    assert!(e.contains("--from"), "{e}");
    let e = err(PivotRequest {
        joins: vec![JoinRequest::parse("/nonexistent/map.csv:RuleID=rule_id").expect("parse")],
        ..base.clone()
    });
    assert!(e.contains("/nonexistent/map.csv"), "{e}");
    let _ = Path::new("x");
}

#[test]
fn minute_index_counts_equal_the_scan() {
    minute_index_counts_equal_the_scan_on(&fixture());
}

#[test]
fn minute_index_counts_equal_the_scan_when_rows_are_out_of_time_order() {
    minute_index_counts_equal_the_scan_on(&fixture_with(true));
}

#[test]
fn random_pivots_match_the_model_when_the_join_key_is_missing() {
    // A missing join key is `(unmatched)`, on the integer-key path (which counts a joined
    // key on its column's codes and maps the cells at the end) as on the others.
    let f = fixture_full(false, 4_000, 0, 7);
    let rules = top_rules(&f);
    let spill = tempfile::tempdir().expect("spill dir");
    let mut cov = Coverage::default();
    let q = Query {
        rows: vec![MKey::Category],
        col: Some(MKey::Field("Action")),
        filter: None,
        from: None,
        to: None,
    };
    check_query(&f, &q, spill.path(), "category by action", &mut cov);
    let mut rng = Rng(0x51ed_2701);
    for qi in 0..16 {
        let q = random_query(&mut rng, &f, &rules);
        check_query(&f, &q, spill.path(), &format!("query {qi}"), &mut cov);
    }
    assert!(cov.fast > 0, "the integer-key path was not taken");
    // Distinct counts of a value that is sometimes missing (null is no value), and of the
    // joined category (where a missing key is the `(unmatched)` value), per client country:
    // in memory and at 64 KiB, where the bitmap path gives way to the (row key, value) pairs.
    let mut model: BTreeMap<String, (u64, HashSet<String>, HashSet<String>)> = BTreeMap::new();
    for e in &f.events {
        let country = text(e.get("ClientCountry")).unwrap_or_else(|| "(null)".into());
        let cell = model.entry(country).or_default();
        cell.0 += 1;
        let rule = text(e.get("RuleID"));
        if let Some(r) = &rule {
            cell.1.insert(r.clone());
        }
        let category = rule
            .and_then(|r| f.rule_map.get(&r).cloned())
            .unwrap_or_else(|| "(unmatched)".into());
        cell.2.insert(category);
    }
    let want: BTreeMap<String, (u64, u64, u64)> = model
        .into_iter()
        .map(|(k, (n, r, c))| (k, (n, r.len() as u64, c.len() as u64)))
        .collect();
    let mut pairs = 0;
    for (values, limit) in [
        (
            ["count_distinct(RuleID)", "count"],
            PivotRequest::default().memory_limit,
        ),
        (["count_distinct(RuleID)", "count"], 64 << 10),
        (["count", "count_distinct(rules.category)"], 64 << 10),
    ] {
        let t = pivot(
            &f.dir,
            &PivotRequest {
                rows: vec!["ClientCountry".into()],
                values: values.iter().map(|v| v.to_string()).collect(),
                joins: vec![
                    JoinRequest::parse(&format!("{}:RuleID=rule_id", f.rules.display()))
                        .expect("join"),
                ],
                memory_limit: limit,
                spill_dir: Some(spill.path().to_path_buf()),
                ..PivotRequest::default()
            },
        )
        .expect("distinct with nulls");
        pairs += usize::from(t.stats.plan.iter().any(|l| l.contains("pairs")));
        for r in &t.rows {
            let k = t.key_text(&r.keys[0], &t.row_formats[0]);
            let w = want[&k];
            let got: Vec<u64> = r
                .total
                .iter()
                .map(|s| s.result().unwrap_or(0.0) as u64)
                .collect();
            let distinct = if values[1] == "count" { w.1 } else { w.2 };
            let expect = if values[1] == "count" {
                vec![distinct, w.0]
            } else {
                vec![w.0, distinct]
            };
            assert_eq!(got, expect, "{values:?} at {limit} for {k}");
        }
        assert_eq!(t.rows.len(), want.len());
    }
    assert!(pairs >= 2, "{pairs} distinct runs took the pairs path");
}

#[test]
fn minute_index_counts_equal_the_scan_with_untimed_rows_between_minutes() {
    // Time-ordered segments whose minutes' row runs have untimed rows between them (the
    // runs path subtracts those gaps), in single gaps and in runs of gaps.
    // No time range, so the untimed rows are selected.
    for every in [3, 1] {
        let f = fixture_full(false, 4_000, every, 0);
        minute_index_counts_equal_the_scan_from(&f, None);
        minute_index_counts_equal_the_scan_from(&f, Some("2024-06-03T05:17:00Z"));
    }
}

fn minute_index_counts_equal_the_scan_on(f: &Fixture) {
    // Without a time range an indexed filter's rows stay a bitmap (the sparse path).
    minute_index_counts_equal_the_scan_from(f, None);
    minute_index_counts_equal_the_scan_from(f, Some("2024-06-03T05:17:00Z"));
}

fn minute_index_counts_equal_the_scan_from(f: &Fixture, from: Option<&str>) {
    let rules = top_rules(f);
    let zones: Vec<Option<String>> =
        vec![None, Some("Europe/Berlin".into()), Some("+05:30".into())];
    // Single buckets are counted off the minute index; a bucket, hour or weekday beside
    // another key gets its per-row ids from the minute index's row ranges when the segment's
    // minutes are contiguous (else `_time` is decoded): both against the scan.
    let keys: [&[&str]; 7] = [
        &["Datetime:1h"],
        &["Datetime:1d"],
        &["Datetime:7m"],
        &["_time:15m"],
        &["Datetime:1h", "Source"],
        &["hour(Datetime)"],
        &["Action", "weekday(Datetime)"],
    ];
    for key in keys {
        for filter in [
            None,
            Some(format!("RuleID = {}", rules[3])),
            Some("Action = block".to_string()),
        ] {
            for (tz, to) in zones
                .iter()
                .flat_map(|z| [None, Some("2024-06-04T07:43:30Z")].map(move |to| (z, to)))
            {
                let req = PivotRequest {
                    rows: key.iter().map(|k| k.to_string()).collect(),
                    // flatten_result reads five values.
                    values: vec!["count".into(); 5],
                    filters: filter.iter().cloned().collect(),
                    from: from.map(String::from),
                    to: to.map(String::from),
                    tz: tz.clone(),
                    ..PivotRequest::default()
                };
                let fast = pivot(&f.dir, &req).expect("fast");
                let scan = pivot(
                    &f.dir,
                    &PivotRequest {
                        use_indexes: false,
                        ..req.clone()
                    },
                )
                .expect("scan");
                // Untimed rows between minutes (selected only without a time range) send a
                // bucket beside another key to `_time`.
                assert!(fast.stats.time_index_segments > 0 || from.is_none());
                assert_eq!(
                    flatten_result(&fast),
                    flatten_result(&scan),
                    "{key:?} {filter:?} {tz:?} {to:?}"
                );
            }
        }
    }
}

/// A pivot run as map (over groups of segments), reduce (per partition of the row keys) and
/// finish, as `logpivot.ray` runs it, with the partials through their encoded blobs.
fn split_pivot(
    f: &Fixture,
    req: &PivotRequest,
    maps: usize,
    parts: usize,
) -> logpivot::Result<PivotTable> {
    use logpivot::query::partial;
    let (segs, tf) = logpivot::query::open_segments(&f.dir)?;
    let schema = logpivot::query::plan::Schema::from_segments(&segs, tf.as_deref());
    let req = req.normalized();
    let plan = logpivot::query::plan(&req, &schema)?;
    let view = logpivot::store::shards::load_view(&f.dir)?;
    let mut outs = Vec::new();
    for m in 0..maps {
        // Every `maps`-th segment: a shard holds segments of every time range.
        let mine: Vec<_> = view
            .segments
            .iter()
            .enumerate()
            .filter(|(i, _)| i % maps == m)
            .map(|(_, e)| e.clone())
            .collect();
        let mine = logpivot::query::open_entries(&f.dir, &mine)?;
        outs.push(partial::map(&plan, &schema, &mine, &req, parts)?);
    }
    let mut reduced = Vec::new();
    let mut rows = 0;
    for p in 0..parts {
        let inputs: Vec<&[u8]> = outs.iter().map(|o| o.parts[p].as_slice()).collect();
        let r = partial::reduce(&plan, &req, &inputs)?;
        rows += r.rows;
        reduced.push(r.groups);
    }
    let cols: Vec<&[u8]> = outs.iter().map(|o| o.col_counts.as_slice()).collect();
    let red: Vec<&[u8]> = reduced.iter().map(Vec::as_slice).collect();
    partial::finish(&plan, &req, &cols, &red, rows, Default::default())
}

fn batch(t: &PivotTable) -> logpivot::Result<arrow::record_batch::RecordBatch> {
    logpivot::query::output::to_typed_record_batch(t)
}

/// Random pivots (every value function, top, cols-top, totals, key sort, count-only on the
/// integer-key and byte-key paths, spilled maps) split over maps and reduce partitions equal
/// the answer on one machine, cell for cell and row for row.
#[test]
fn split_pivots_equal_the_single_store_answer() {
    let f = fixture();
    let rules = top_rules(&f);
    let mut rng = Rng(0x51ab_d00d_1234_5678);
    let spill = tempfile::tempdir().expect("spill dir");
    let (segs, _) = logpivot::query::open_segments(&f.dir).expect("open");
    assert!(segs.len() >= 4, "{} segments", segs.len());
    let mut cut = 0;
    for qi in 0..30 {
        let q = random_query(&mut rng, &f, &rules);
        let mut req = request(&f, &q);
        match qi % 6 {
            0 => {}
            1 => {
                req.top = Some(1 + (rng.next() % 7) as usize);
                req.cols_top = Some(1 + (rng.next() % 3) as usize);
            }
            2 => {
                req.totals = true;
                req.top = Some(3);
                req.values.push("avg(EdgeResponseStatus)".into());
                req.values.push("approx_count_distinct(ClientIP)".into());
            }
            3 => {
                req.values = vec!["count".into()];
                req.top = Some(5);
            }
            4 => {
                req.values = vec!["count".into()];
                req.many_groups = Some(0);
                req.top = Some(4);
                req.memory_limit = 64 << 10;
                req.spill_dir = Some(spill.path().to_path_buf());
            }
            _ => {
                req.sort = logpivot::query::SortBy::Key(req.rows[0].clone());
                req.top = Some(6);
                req.memory_limit = 64 << 10;
                req.spill_dir = Some(spill.path().to_path_buf());
            }
        }
        let what = format!("query {qi}: {req:?}");
        let one = pivot(&f.dir, &req).unwrap_or_else(|e| panic!("{what}: {e}"));
        for (maps, parts) in [(1, 1), (3, 4), (segs.len(), 7)] {
            let split = split_pivot(&f, &req, maps, parts)
                .unwrap_or_else(|e| panic!("{what}, {maps} maps, {parts} parts: {e}"));
            assert_eq!(
                split.total_rows, one.total_rows,
                "{what}, {maps} maps, {parts} parts: total rows"
            );
            assert_eq!(
                batch(&split).expect("batch"),
                batch(&one).expect("batch"),
                "{what}, {maps} maps, {parts} parts"
            );
            if req.top.is_some_and(|t| (t as u64) < one.total_rows) {
                cut += 1;
            }
        }
    }
    assert!(cut >= 20, "only {cut} split runs had a --top cut to check");
}

/// A partial from another format version, of another query's shape, or broken, is a clear
/// error.
#[test]
fn broken_partials_are_clear_errors() {
    use logpivot::query::partial;
    let f = fixture();
    let req = PivotRequest {
        rows: vec!["Action".into()],
        cols: Some("Source".into()),
        ..PivotRequest::default()
    }
    .normalized();
    let (segs, tf) = logpivot::query::open_segments(&f.dir).expect("open");
    let schema = logpivot::query::plan::Schema::from_segments(&segs, tf.as_deref());
    let plan = logpivot::query::plan(&req, &schema).expect("plan");
    let out = partial::map(&plan, &schema, &segs, &req, 2).expect("map");
    let good = &out.parts[0];
    assert!(partial::reduce(&plan, &req, &[good]).is_ok());
    let mut version = good.clone();
    version[6] = 9;
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    let mut kind = good.clone();
    kind[8] = 2;
    for (bad, why) in [
        (version, "format 9"),
        (cut, "does not decode"),
        (kind, "kind 2"),
        (b"hello".to_vec(), "LPPART"),
    ] {
        let e = partial::reduce(&plan, &req, &[&bad]).expect_err(why);
        assert!(e.to_string().contains(why), "{e}");
    }
    let other = PivotRequest {
        rows: vec!["Action".into(), "Source".into(), "ClientCountry".into()],
        ..PivotRequest::default()
    }
    .normalized();
    let other_plan = logpivot::query::plan(&other, &schema).expect("plan");
    let e = partial::reduce(&other_plan, &other, &[good]).expect_err("shape");
    assert!(e.to_string().contains("keys"), "{e}");
}
