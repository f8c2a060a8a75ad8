//! contrast and score on generated Cloudflare events with an injected attack window whose
//! ground truth (the attack events' line numbers) the generator writes.
//!
//! - contrast's counts equal a naive count over the parsed JSON, for every tested value, with
//!   and without spilling, with and without indexes, for single fields and pairs;
//! - the attack's user agent, ASNs and paths top the ranking;
//! - score separates attack events from the rest: ROC AUC and precision at k against the
//!   ground truth, with bars chosen from what the method must achieve (see docs/STATISTICS.md).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::PivotRequest;
use logpivot::segment::Cell;
use logpivot::stats::{contrast, math, ContrastRequest, Rank, ScoreRequest, Scorer};
use logpivot::store::DataDir;
use logpivot_synth::{Synth, SynthConfig};
use serde_json::Value;

struct Fixture {
    dir: DataDir,
    events: Vec<(u64, serde_json::Map<String, Value>)>,
    truth: HashSet<u64>,
    window: (i64, i64),
    suspect: String,
}

fn rfc(ns: i64) -> String {
    logpivot::json::time::format_rfc3339(ns)
}

/// One generated and ingested data set shared by every test of this file (in cargo's
/// per-target temp dir, rebuilt on each run).
fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stats-fixture");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("fixture dir");
    let input = root.join("events.ndjson");
    let mut synth = Synth::new(SynthConfig {
        events: 120_000,
        seed: 11,
        days: 7,
        ips: 20_000,
        user_agents: 800,
        malformed_every: 30_000,
        ..SynthConfig::default()
    });
    let mut buf = Vec::new();
    let mut truth_buf = Vec::new();
    let summary = synth
        .write_events(&mut buf, Some(&mut truth_buf))
        .expect("gen");
    std::fs::write(&input, &buf).expect("write");
    let truth: HashSet<u64> = String::from_utf8(truth_buf)
        .expect("utf8")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(truth.len() as u64, summary.attack_events);
    assert!(summary.attack_events >= 500);
    let dir = DataDir::new(root.join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        threads: 2,
        segment_rows: 25_000,
        chunk_bytes: 512 << 10,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let events = buf
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, l)| match serde_json::from_slice::<Value>(l) {
            Ok(Value::Object(m)) => Some((i as u64 + 1, m)),
            _ => None,
        })
        .collect();
    let window = (summary.attack_start_ns, summary.attack_end_ns);
    let suspect = format!(
        "Datetime >= {} and Datetime < {}",
        rfc(window.0),
        rfc(window.1)
    );
    Fixture {
        dir,
        events,
        truth,
        window,
        suspect,
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(null)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn event_time(e: &serde_json::Map<String, Value>) -> i64 {
    e.get("Datetime")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN)
}

/// Naive counts per value (joined with " & " for pairs): (suspect, baseline).
fn naive(f: &Fixture, fields: &[&str]) -> HashMap<String, (u64, u64)> {
    let mut m: HashMap<String, (u64, u64)> = HashMap::new();
    for (_, e) in &f.events {
        let t = event_time(e);
        let sus = t >= f.window.0 && t < f.window.1;
        let key = fields
            .iter()
            .map(|k| text(e.get(*k)))
            .collect::<Vec<_>>()
            .join(" & ");
        let c = m.entry(key).or_default();
        if sus {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    m
}

fn request(f: &Fixture, fields: &[&str]) -> ContrastRequest {
    ContrastRequest {
        suspect: f.suspect.clone(),
        fields: fields.iter().map(|s| s.to_string()).collect(),
        min_count: 1,
        top: None,
        query: PivotRequest {
            threads: 2,
            ..PivotRequest::default()
        },
        ..ContrastRequest::default()
    }
}

#[test]
fn contrast_counts_match_a_naive_model() {
    let f = fixture();
    let fields = [
        "ClientCountry",
        "ClientRequestUserAgent",
        "Action",
        "ClientASN",
    ];
    let mut req = request(f, &fields);
    req.pairs = true;
    let base = contrast(&f.dir, &req).expect("contrast");
    let n_sus = f
        .events
        .iter()
        .filter(|(_, e)| (f.window.0..f.window.1).contains(&event_time(e)))
        .count() as u64;
    assert_eq!(base.n_suspect, n_sus);
    assert_eq!(base.n_suspect + base.n_baseline, f.events.len() as u64);
    let mut expected: HashMap<(String, String), (u64, u64)> = HashMap::new();
    let mut groups: Vec<Vec<&str>> = fields.iter().map(|x| vec![*x]).collect();
    for i in 0..fields.len() {
        for j in i + 1..fields.len() {
            groups.push(vec![fields[i], fields[j]]);
        }
    }
    for g in &groups {
        for (v, c) in naive(f, g) {
            if c.0 > 0 {
                expected.insert((g.join(" & "), v), c);
            }
        }
    }
    let got: HashMap<(String, String), (u64, u64)> = base
        .tokens
        .iter()
        .map(|t| {
            (
                (t.fields.join(" & "), t.values.join(" & ")),
                (t.suspect, t.baseline),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len());
    for (k, v) in &expected {
        assert_eq!(got.get(k), Some(v), "{k:?}");
    }
    assert_eq!(base.tested, expected.len() as u64);
    // q-values are BH over exactly the tested values.
    let mut ps: Vec<f64> = base.tokens.iter().map(|t| t.p).collect();
    ps.sort_by(f64::total_cmp);
    let qs = math::benjamini_hochberg(&ps);
    for t in &base.tokens {
        let i = ps.partition_point(|x| *x <= t.p) - 1;
        assert!((t.q - qs[i]).abs() <= 1e-12 * qs[i].max(1e-300), "{t:?}");
    }

    // Spilling and bypassing the indexes change nothing.
    let mut small = req.clone();
    small.query.memory_limit = 64 << 10;
    small.query.use_indexes = false;
    let spilled = contrast(&f.dir, &small).expect("contrast spilled");
    assert_eq!(spilled.tokens, base.tokens);
}

#[test]
fn contrast_surfaces_the_attack() {
    let f = fixture();
    let mut req = request(
        f,
        &[
            "ClientRequestUserAgent",
            "ClientASN",
            "ClientRequestPath",
            "ClientCountry",
            "hour(Datetime)",
        ],
    );
    req.min_count = 5;
    req.top = Some(15);
    for rank in [Rank::F, Rank::G] {
        req.rank = rank;
        let c = contrast(&f.dir, &req).expect("contrast");
        let top: Vec<(String, String)> = c
            .tokens
            .iter()
            .map(|t| (t.fields[0].clone(), t.values[0].clone()))
            .collect();
        assert_eq!(
            top[0],
            (
                "ClientRequestUserAgent".to_string(),
                "sqlmap/1.7.2#stable (https://sqlmap.org)".to_string()
            ),
            "{rank:?}: {top:#?}"
        );
        if rank == Rank::F {
            let asns = top.iter().filter(|t| t.0 == "ClientASN").count();
            let paths = top.iter().filter(|t| t.0 == "ClientRequestPath").count();
            assert!(asns >= 3, "{top:#?}");
            assert!(paths >= 3, "{top:#?}");
            // Every listed value is over-represented, and f orders them.
            assert!(c.tokens.iter().all(|t| t.over()));
            assert!(c.tokens.windows(2).all(|w| w[0].f >= w[1].f));
        }
    }
}

/// Scores of every event against the ground truth.
fn scored(f: &Fixture, fields: &[&str]) -> Vec<(f64, bool)> {
    let req = ScoreRequest {
        suspect: f.suspect.clone(),
        fields: fields.iter().map(|s| s.to_string()).collect(),
        query: PivotRequest {
            threads: 2,
            ..PivotRequest::default()
        },
        ..ScoreRequest::default()
    };
    let scorer = Scorer::new(&f.dir, &req).expect("scorer");
    // Line numbers per segment row, from the `_line` column.
    let lines: Vec<Vec<Option<i64>>> = scorer
        .segments()
        .iter()
        .map(|s| {
            let (ci, _) = s.meta().column("_line").expect("_line");
            s.column_cells(ci)
                .expect("cells")
                .into_iter()
                .map(|c| match c {
                    Some(Cell::Int(n)) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let out = Mutex::new(Vec::new());
    scorer
        .for_each(&|seg, row, c| {
            let line = lines[seg][row].expect("line") as u64;
            out.lock()
                .expect("lock")
                .push((c.score, f.truth.contains(&line)));
        })
        .expect("score");
    let v = out.into_inner().expect("lock");
    assert_eq!(v.len(), f.events.len());
    v
}

#[test]
fn score_ranks_attack_events_first() {
    let f = fixture();
    let fields = [
        "ClientRequestUserAgent",
        "ClientASN",
        "ClientIP",
        "ClientRequestPath",
        "ClientCountry",
        "hour(Datetime)",
    ];
    let v = scored(f, &fields);
    let auc = math::roc_auc(&v).expect("auc");
    let k = f.truth.len();
    let p_at_k = math::precision_at_k(&v, k).expect("p@k");
    let p_at_100 = math::precision_at_k(&v, 100).expect("p@100");
    eprintln!(
        "score on {} events, {k} attack events: ROC AUC {auc:.5}, precision@{k} {p_at_k:.4}, precision@100 {p_at_100:.4}",
        v.len()
    );
    assert!(auc >= 0.99, "ROC AUC {auc}");
    assert!(p_at_100 >= 0.99, "precision@100 {p_at_100}");
    assert!(p_at_k >= 0.9, "precision@k {p_at_k}");

    // Without the attack's own user agent (an attacker who blends in), the other fields
    // still carry it, less sharply.
    let v = scored(f, &["ClientASN", "ClientCountry", "hour(Datetime)"]);
    let auc = math::roc_auc(&v).expect("auc");
    eprintln!("without user agent, IP and path: ROC AUC {auc:.5}");
    assert!(auc >= 0.95, "ROC AUC {auc}");
}

#[test]
fn explicit_baseline_and_clear_errors() {
    let f = fixture();
    let mut req = request(f, &["Action"]);
    // Baseline: the same hours one day earlier.
    let day = 86_400_000_000_000i64;
    req.baseline = Some(format!(
        "Datetime >= {} and Datetime < {}",
        rfc(f.window.0 - day),
        rfc(f.window.1 - day)
    ));
    let c = contrast(&f.dir, &req).expect("contrast");
    let nb = f
        .events
        .iter()
        .filter(|(_, e)| (f.window.0 - day..f.window.1 - day).contains(&event_time(e)))
        .count() as u64;
    assert_eq!(c.n_baseline, nb);
    let naive = naive(f, &["Action"]);
    let block = c
        .tokens
        .iter()
        .find(|t| t.values[0] == "block")
        .expect("block");
    assert_eq!(block.suspect, naive["block"].0);

    let mut empty = request(f, &["Action"]);
    empty.suspect = "Datetime >= 2030-01-01".into();
    let e = contrast(&f.dir, &empty).expect_err("empty suspect set");
    assert!(e.to_string().contains("suspect set is empty"), "{e}");
    let mut bad = request(f, &["Action"]);
    bad.suspect = "NoSuchField = 1".into();
    let e = contrast(&f.dir, &bad).expect_err("unknown field");
    assert!(e.to_string().contains("NoSuchField"), "{e}");
}

#[test]
fn default_fields_leave_out_ids_and_keep_the_useful_ones() {
    let f = fixture();
    let req = ContrastRequest {
        suspect: f.suspect.clone(),
        top: Some(5),
        ..ContrastRequest::default()
    };
    let c = contrast(&f.dir, &req).expect("contrast");
    for want in [
        "ClientCountry",
        "ClientASN",
        "ClientRequestUserAgent",
        "Action",
        "hour(_time)",
    ] {
        assert!(c.fields.iter().any(|x| x == want), "{want}: {:?}", c.fields);
    }
    for unwanted in ["RayID", "ClientIP", "_line", "_file", "Datetime"] {
        assert!(!c.fields.iter().any(|x| x == unwanted), "{unwanted}");
    }
    assert_eq!(
        c.tokens[0].values[0],
        "sqlmap/1.7.2#stable (https://sqlmap.org)"
    );
}

/// The default fields do not depend on how ingest cut the segments: the same events with a
/// small tail segment (a few hundred rows, where 800 user agents look mostly unique) keep the
/// user agent and still leave out the IPs.
#[test]
fn default_fields_survive_a_small_tail_segment() {
    let f = fixture();
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("stats-tail");
    let _ = std::fs::remove_dir_all(&root);
    let input = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("stats-fixture")
        .join("events.ndjson");
    let dir = DataDir::new(root.join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        threads: 1,
        segment_rows: 119_600,
        chunk_bytes: 64 << 10,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let rows: Vec<u64> = dir
        .load_manifest()
        .expect("manifest")
        .segments
        .iter()
        .map(|s| s.rows)
        .collect();
    assert!(
        rows.iter().any(|&r| (100..2_000).contains(&r)),
        "no small tail segment: {rows:?}"
    );
    let req = ContrastRequest {
        suspect: f.suspect.clone(),
        top: Some(5),
        ..ContrastRequest::default()
    };
    let c = contrast(&dir, &req).expect("contrast");
    assert!(
        c.fields.iter().any(|x| x == "ClientRequestUserAgent"),
        "{:?}",
        c.fields
    );
    assert!(!c.fields.iter().any(|x| x == "ClientIP" || x == "RayID"));
    let _ = std::fs::remove_dir_all(&root);
}

/// The real OTRF LSASS campaign (Windows Sysmon, Security and PowerShell events): the four
/// minutes in which the simulated attacker ran a payload and discovery commands, against the
/// rest of the recording. (The later spike at 09:59 is the lab's `netsh trace stop` running
/// its own diagnostics script, not the attacker: docs/STATISTICS.md.)
#[test]
fn contrast_on_real_windows_events() {
    let input = common::fixtures().join("otrf/lsass_campaign_01.json.gz");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("data"));
    let opts = IngestOptions {
        inputs: vec![input],
        threads: 2,
        ..IngestOptions::default()
    };
    ingest(&dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
    let req = ContrastRequest {
        suspect: "@timestamp >= 2023-08-15T09:54:00Z and @timestamp < 2023-08-15T09:58:00Z".into(),
        fields: [
            "Image",
            "ParentImage",
            "EventID",
            "Channel",
            "User",
            "TargetImage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        top: Some(12),
        ..ContrastRequest::default()
    };
    let c = contrast(&dir, &req).expect("contrast");
    assert_eq!(c.n_suspect + c.n_baseline, 53_698);
    let top: Vec<String> = c.tokens.iter().map(|t| t.values[0].clone()).collect();
    // The payload, the PowerShell it drove, the UAC prompt and the discovery commands, none
    // of them seen outside those minutes.
    for image in [
        "winx64_payload.exe",
        "powershell.exe",
        "consent.exe",
        "whoami.exe",
    ] {
        assert!(top.iter().any(|v| v.ends_with(image)), "{image}: {top:#?}");
    }
    assert!(c.tokens.iter().all(|t| t.baseline == 0), "{:#?}", c.tokens);
    // The default fields leave out the time-like `UtcTime` strings.
    let d = contrast(
        &dir,
        &ContrastRequest {
            fields: Vec::new(),
            ..req.clone()
        },
    )
    .expect("contrast with default fields");
    assert!(!d.fields.iter().any(|f| f == "UtcTime"), "{:?}", d.fields);
    assert!(d.fields.iter().any(|f| f == "Image"), "{:?}", d.fields);
}

/// The counted groups of reduced partials, as a finishing step takes them.
fn merged(
    plan: &logpivot::query::exec::Plan,
    reduced: &[Vec<u8>],
) -> logpivot::Result<logpivot::stats::contrast::CountedGroups> {
    let mut all = Vec::new();
    for b in reduced {
        all.extend(logpivot::query::partial::groups(plan, b)?);
    }
    Ok((all, Default::default()))
}

/// Contrast and score as `logpivot.ray` runs them (the counting pass as map steps over
/// groups of segments and reduce steps over partitions, the token table learned once and
/// shared, each group of segments scored on its own and the tops merged) equal the
/// one-machine answers.
#[test]
fn split_contrast_and_score_equal_the_local_answers() {
    use logpivot::query::{open_entries, partial};
    use logpivot::stats::contrast::{contrast_on, CountPass};
    use logpivot::stats::score::{limit_of, Top};

    let f = fixture();
    let view = logpivot::store::shards::load_view(&f.dir).expect("view");
    let open_all = || open_entries(&f.dir, &view.segments).expect("open");
    let n = view.segments.len();
    assert!(n >= 4, "{n} segments");
    let groups: Vec<Vec<usize>> = (0..3).map(|g| (g..n).step_by(3).collect()).collect();
    let parts = 4;
    // The counting pass of `plan_for` over the groups: map, reduce, then the merged groups.
    type Planned<'a> = dyn FnMut(&mut CountPass<'_>) + 'a;
    let split_groups = |plan_for: &mut Planned<'_>, query: &PivotRequest| {
        let mut maps = Vec::new();
        for g in &groups {
            let entries: Vec<_> = g.iter().map(|&i| view.segments[i].clone()).collect();
            let mut out = None;
            let mut pl = |plan: &logpivot::query::exec::Plan,
                          schema: &logpivot::query::plan::Schema|
             -> logpivot::Result<()> {
                let mine = open_entries(&f.dir, &entries)?;
                out = Some(partial::map(plan, schema, &mine, query, parts)?);
                Ok(())
            };
            plan_for(&mut CountPass::PlanOnly(&mut pl));
            maps.push(out.expect("map ran"));
        }
        let mut reduced = Vec::new();
        for p in 0..parts {
            let inputs: Vec<&[u8]> = maps.iter().map(|m| m.parts[p].as_slice()).collect();
            let mut out = None;
            let mut pl = |plan: &logpivot::query::exec::Plan,
                          _: &logpivot::query::plan::Schema|
             -> logpivot::Result<()> {
                out = Some(partial::reduce(plan, query, &inputs)?);
                Ok(())
            };
            plan_for(&mut CountPass::PlanOnly(&mut pl));
            reduced.push(out.expect("reduce ran").groups);
        }
        reduced
    };

    for (fields, pairs) in [
        (vec!["ClientASN", "ClientRequestUserAgent", "Action"], true),
        (vec![], false),
    ] {
        let mut req = request(f, &fields);
        req.pairs = pairs;
        let local = contrast(&f.dir, &req).expect("contrast");
        let reduced = split_groups(
            &mut |pass| {
                assert!(contrast_on(open_all(), view.time_field.clone(), &req, pass)
                    .expect("plan")
                    .is_none());
            },
            &req.query,
        );
        let mut from = |plan: &logpivot::query::exec::Plan| merged(plan, &reduced);
        let split = contrast_on(
            open_all(),
            view.time_field.clone(),
            &req,
            &mut CountPass::Groups(&mut from),
        )
        .expect("finish")
        .expect("counted");
        assert_eq!(split.n_suspect, local.n_suspect);
        assert_eq!(split.tested, local.tested);
        assert_eq!(split.tokens, local.tokens, "fields {fields:?}");
    }

    let req = ScoreRequest {
        suspect: f.suspect.clone(),
        fields: vec![
            "ClientRequestUserAgent".into(),
            "ClientASN".into(),
            "ClientCountry".into(),
        ],
        top: Some(40),
        query: PivotRequest {
            threads: 2,
            ..PivotRequest::default()
        },
        ..ScoreRequest::default()
    };
    let local = logpivot::stats::score(&f.dir, &req).expect("score");
    let reduced = split_groups(
        &mut |pass| {
            assert!(
                Scorer::new_on(open_all(), view.time_field.clone(), &req, pass)
                    .expect("plan")
                    .is_none()
            );
        },
        &req.query,
    );
    let mut from = |plan: &logpivot::query::exec::Plan| merged(plan, &reduced);
    let learned = Scorer::new_on(
        open_all(),
        view.time_field.clone(),
        &req,
        &mut CountPass::Groups(&mut from),
    )
    .expect("learn")
    .expect("counted");
    let table = learned.table();
    let tops: Vec<Top> = groups
        .iter()
        .map(|g| {
            Scorer::with_table(open_all(), view.time_field.clone(), &req, &table)
                .expect("scorer")
                .top(&req, Some(g))
                .expect("top")
        })
        .collect();
    let top = Top::merge(tops, limit_of(&req));
    let split = learned.result(&req, top).expect("result");
    assert_eq!(split.scored, local.scored);
    assert_eq!(split.events.len(), local.events.len());
    for (a, b) in split.events.iter().zip(&local.events) {
        assert_eq!(
            (a.rank, a.combined, &a.drivers, &a.fields),
            (b.rank, b.combined, &b.drivers, &b.fields)
        );
    }
    // The local counting pass (a count pivot per field) learns the very table of the one-pass
    // plan (a grouping set per field, as `logpivot.ray` runs it), high-cardinality fields, an
    // hour key and a `--where` filter included.
    for fields in [
        vec![
            "ClientIP",
            "ClientRequestPath",
            "hour(Datetime)",
            "ClientASN",
        ],
        vec!["ClientRequestUserAgent", "ClientCountry", "Action"],
    ] {
        for filters in [
            vec![],
            vec!["Action = block or ClientCountry = us".to_string()],
        ] {
            let req = ScoreRequest {
                fields: fields.iter().map(|s| s.to_string()).collect(),
                filters,
                ..req.clone()
            };
            let by_field = Scorer::new(&f.dir, &req).expect("by field");
            let mut one_pass = |plan: &logpivot::query::exec::Plan| {
                let segs = open_all();
                let schema =
                    logpivot::query::plan::Schema::from_segments(&segs, view.time_field.as_deref());
                let mut all = Vec::new();
                let st =
                    logpivot::query::run_groups(plan, &schema, &segs, &req.query, &mut |_, g| {
                        all.extend(g)
                    })?;
                Ok((all, st))
            };
            let whole = Scorer::new_on(
                open_all(),
                view.time_field.clone(),
                &req,
                &mut CountPass::Groups(&mut one_pass),
            )
            .expect("one pass")
            .expect("counted");
            assert_eq!(
                (by_field.n_suspect, by_field.n_baseline),
                (whole.n_suspect, whole.n_baseline)
            );
            assert!(by_field.table().len() > 100, "{fields:?}");
            assert!(
                by_field.table() == whole.table(),
                "{fields:?} {:?}",
                req.filters
            );
        }
    }
    // A table of another field list is refused.
    let other = ScoreRequest {
        fields: vec!["Action".into()],
        ..req.clone()
    };
    let e = Scorer::with_table(open_all(), view.time_field.clone(), &other, &table)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("token table"), "{e}");
}
