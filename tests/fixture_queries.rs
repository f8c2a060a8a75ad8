//! Pivots with enrichment joins on the real fixtures, checked against an independent count:
//! Suricata alerts joined with the Emerging Threats rule map (gzip CSV) on alert.signature_id,
//! and ModSecurity audit events joined with the OWASP CRS map on the rule ids inside
//! `audit_data.messages` (some ids have no row and must show as unmatched).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use logpivot::ingest::{ingest, IngestOptions, IngestProgress};
use logpivot::query::{pivot, JoinRequest, PivotRequest, PivotTable};
use logpivot::store::DataDir;

fn ingest_into(dir: &DataDir, inputs: Vec<std::path::PathBuf>, index: Option<Vec<String>>) {
    let opts = IngestOptions {
        inputs,
        index_columns: index,
        threads: 2,
        ..IngestOptions::default()
    };
    ingest(dir, &opts, Arc::new(IngestProgress::default())).expect("ingest");
}

fn as_map(t: &PivotTable) -> BTreeMap<Vec<String>, u64> {
    t.rows
        .iter()
        .map(|r| {
            let k = r
                .keys
                .iter()
                .zip(&t.row_formats)
                .map(|(k, f)| t.key_text(k, f))
                .collect();
            (k, r.total[0].result().unwrap_or(0.0) as u64)
        })
        .collect()
}

fn gunzip(path: &std::path::Path) -> String {
    let raw = std::fs::read(path).expect("read");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
        .expect("gunzip");
    out
}

#[test]
fn suricata_alerts_joined_with_emerging_threats_classtypes() {
    let data = common::fixtures();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("d"));
    ingest_into(
        &dir,
        vec![data.join("suricata")],
        Some(vec!["alert.signature_id".into()]),
    );
    let map_path = data.join("suricata/et_rules_2019.csv.gz");
    let mut classtype: HashMap<String, String> = HashMap::new();
    for (i, line) in gunzip(&map_path).lines().enumerate() {
        if i > 0 {
            let f = common::parse_csv_line(line);
            classtype.insert(f[0].clone(), f[4].clone());
        }
    }
    let mut want: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for sub in [
        "first-org-conf-2015",
        "honeypot-2018",
        "wrccdc-2017",
        "wrccdc-2018",
    ] {
        let text = std::fs::read_to_string(data.join(format!("suricata/{sub}/alerts-only.json")))
            .expect("read");
        let alerts: Vec<serde_json::Value> = serde_json::from_str(&text).expect("array");
        for a in alerts {
            let sid = a["alert"]["signature_id"].to_string();
            let c = classtype
                .get(&sid)
                .cloned()
                .unwrap_or_else(|| "(no map row)".into());
            *want.entry(vec![c]).or_default() += 1;
        }
    }
    let req = PivotRequest {
        rows: vec!["et_rules_2019.classtype".into()],
        joins: vec![JoinRequest {
            unmatched: "(no map row)".into(),
            ..JoinRequest::parse(&format!("{}:alert.signature_id=sid", map_path.display()))
                .expect("join")
        }],
        ..PivotRequest::default()
    };
    let t = pivot(&dir, &req).expect("pivot");
    assert_eq!(as_map(&t), want);
    // The same through the signature index: one rule's alerts.
    let one = pivot(
        &dir,
        &PivotRequest {
            rows: vec!["alert.signature".into()],
            filters: vec!["alert.signature_id = 2001219".into()],
            ..PivotRequest::default()
        },
    )
    .expect("pivot");
    assert!(one.stats.index_lookups > 0, "answered from the index");
    assert_eq!(one.rows.len(), 1);
}

#[test]
fn modsecurity_rule_ids_joined_with_crs_including_unmatched() {
    let data = common::fixtures();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = DataDir::new(tmp.path().join("d"));
    let log = data.join("modsecurity/modsec_audit.json.log");
    ingest_into(&dir, vec![log.clone()], None);
    let map_path = data.join("modsecurity/crs_rules.csv");
    let mut msg: HashMap<String, String> = HashMap::new();
    for (i, line) in std::fs::read_to_string(&map_path)
        .expect("map")
        .lines()
        .enumerate()
    {
        if i > 0 {
            let f = common::parse_csv_line(line);
            msg.insert(f[0].clone(), f[3].clone());
        }
    }
    // Independent model: every distinct `[id "N"]` of an event's messages counts once.
    let mut want: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    let raw = std::fs::read(&log).expect("read");
    for line in raw.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let mut ids: Vec<String> = Vec::new();
        for m in v["audit_data"]["messages"].as_array().into_iter().flatten() {
            for part in m.as_str().unwrap_or("").split("[id \"").skip(1) {
                if let Some(end) = part.find('"') {
                    let id = part[..end].to_string();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        for id in ids {
            let sev = msg
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "(unmatched)".into());
            *want.entry(vec![id, sev]).or_default() += 1;
        }
    }
    let key = "extract(audit_data.messages, 'id \"', '\"')";
    let req = PivotRequest {
        rows: vec![key.into(), "crs_rules.severity".into()],
        joins: vec![
            JoinRequest::parse(&format!("{}:{key}=rule_id", map_path.display())).expect("join"),
        ],
        ..PivotRequest::default()
    };
    let t = pivot(&dir, &req).expect("pivot");
    let got = as_map(&t);
    assert_eq!(got, want);
    assert!(
        got.keys().any(|k| k[1] == "(unmatched)"),
        "CRS 3.x-only ids stay visible as unmatched"
    );
}
