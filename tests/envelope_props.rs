//! Property tests of the envelope and array scanners against serde_json: random events (nested
//! objects, arrays, strings full of brackets, quotes, escapes and non-ASCII), wrapped in random
//! envelopes (keys before and after the records array, decoys of the same name at other depths,
//! top-level objects without the array), written compact or pretty, scanned in random pieces.
//! The spans must be exactly the events, in order; arbitrary bytes must never panic.

use logpivot::json::split::{ArrayScanner, EnvelopeScanner, RecordsPath, Span};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-z\\[\\]{}\",:\\\\ é\\n\\t]{0,12}".prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_.]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z_.]{1,6}", value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// One top-level value of the stream: an envelope holding events at `path` (with extra keys
/// before and after, and a decoy `path[0]` key inside another value), or a plain object that
/// is an event itself.
#[derive(Clone, Debug)]
enum Top {
    Envelope {
        before: Vec<(String, Value)>,
        events: Vec<Value>,
        after: Vec<(String, Value)>,
    },
    Plain(Value),
}

fn top() -> impl Strategy<Value = Top> {
    let extra = || prop::collection::vec(("[a-z]{1,5}", value()), 0..3);
    prop_oneof![
        (extra(), prop::collection::vec(event(), 0..6), extra()).prop_map(
            |(before, events, after)| Top::Envelope {
                before,
                events,
                after
            }
        ),
        event()
            .prop_filter("not an envelope", |e| e.get("data").is_none())
            .prop_map(Top::Plain),
    ]
}

/// The text of one top-level value; `events` gets the events it holds, in order.
fn render(t: &Top, pretty: bool, events: &mut Vec<Value>) -> String {
    let v = match t {
        Top::Plain(e) => {
            events.push(e.clone());
            e.clone()
        }
        Top::Envelope {
            before,
            events: evs,
            after,
        } => {
            events.extend(evs.iter().cloned());
            let mut m = Map::new();
            for (k, v) in before {
                if k != "data" {
                    m.insert(k.clone(), v.clone());
                }
            }
            // A decoy: `events` at the wrong depth.
            m.insert("meta".into(), json!({"events": [1, 2, {"x": "]"}]}));
            m.insert("data".into(), json!({"n": 1, "events": evs, "tail": "}"}));
            for (k, v) in after {
                if k != "data" && k != "meta" {
                    m.insert(k.clone(), v.clone());
                }
            }
            Value::Object(m)
        }
    };
    let text = if pretty {
        serde_json::to_string_pretty(&v)
    } else {
        serde_json::to_string(&v)
    };
    text.unwrap_or_default()
}

fn scan_in_pieces(text: &[u8], cuts: &[usize], mut step: impl FnMut(&[u8], u64)) {
    let mut at = 0usize;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain(std::iter::once(text.len())) {
        if c > at {
            step(&text[at..c], at as u64);
            at = c;
        }
    }
}

fn parsed(text: &[u8], spans: &[Span]) -> Vec<Value> {
    spans
        .iter()
        .map(|s| {
            serde_json::from_slice(&text[s.start as usize..s.end as usize])
                .unwrap_or_else(|e| panic!("span {s:?} is not JSON: {e}"))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn envelope_spans_are_the_events(
        tops in prop::collection::vec(top(), 0..5),
        pretty in any::<bool>(),
        bom in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut want = Vec::new();
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        for t in &tops {
            text.push_str(&render(t, pretty, &mut want));
            text.push('\n');
        }
        let path = RecordsPath(vec!["data".into(), "events".into()]);
        let mut s = EnvelopeScanner::new(&path);
        let mut spans = Vec::new();
        scan_in_pieces(text.as_bytes(), &cuts, |piece, base| s.scan(piece, base, &mut spans));
        prop_assert!(s.between());
        prop_assert_eq!(s.junk, 0);
        prop_assert_eq!(parsed(text.as_bytes(), &spans), want.clone());
        let ordinals: Vec<u64> = spans.iter().map(|s| s.line).collect();
        prop_assert_eq!(ordinals, (1..=want.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn array_spans_are_the_elements(
        events in prop::collection::vec(event(), 0..8),
        pretty in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let v = Value::Array(events.clone());
        let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }
            .unwrap_or_default();
        let mut s = ArrayScanner::new();
        let mut spans = Vec::new();
        scan_in_pieces(text.as_bytes(), &cuts, |piece, base| s.scan(piece, base, &mut spans));
        prop_assert!(s.done());
        prop_assert_eq!(parsed(text.as_bytes(), &spans), events);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
    ) {
        let path = RecordsPath(vec!["Records".into()]);
        let mut e = EnvelopeScanner::new(&path);
        let mut a = ArrayScanner::new();
        let mut spans = Vec::new();
        scan_in_pieces(&bytes, &cuts, |piece, base| {
            e.scan(piece, base, &mut spans);
            a.scan(piece, base, &mut spans);
        });
        for s in &spans {
            prop_assert!(s.start <= s.end && s.end <= bytes.len() as u64);
        }
        let _ = logpivot::json::split::detect_input(&bytes, None);
    }
}
