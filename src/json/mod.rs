//! JSON: parse one record with simd-json and flatten it into (column name, value) pairs.
//!
//! Flattening rule (docs/FORMAT.md, "Column names"):
//! - nested objects join their keys with `.`: `{"Metadata":{"ruleset":"x"}}` -> `Metadata.ruleset`;
//! - a key that itself contains `.` or `\` has them escaped with `\`: Zeek's `id.orig_h` becomes
//!   the column `id\.orig_h`, so it never collides with `{"id":{"orig_h":..}}`; the query layer
//!   accepts the unescaped spelling when it is unambiguous;
//! - arrays, and empty objects, are stored as compact JSON text (`["a",1]`, `{}`); integers keep
//!   their exact value, floats their shortest round-trip form.
//!
//! Invalid UTF-8: simd-json rejects it, so the caller retries with the line repaired
//! (`String::from_utf8_lossy`, U+FFFD) and records the original in rejects/.
//!
//! Must not: know about segments, files or queries.

pub mod split;
pub mod time;

use simd_json::{Buffers, Node, StaticNode, Tape};

/// A scalar (or JSON-text) value handed to a [`RecordSink`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JsonValue<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    BigUint(u64),
    Float(f64),
    Str(&'a str),
    /// Compact JSON text of an array or empty object.
    Json(&'a str),
}

/// Receives the flattened fields of one record.
pub trait RecordSink {
    /// One field: its escaped, dotted path and value.
    fn field(&mut self, path: &str, value: JsonValue<'_>);
}

/// Why a record could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    /// Not valid JSON (simd-json's message).
    Invalid(String),
    /// Valid JSON, but not an object.
    NotObject(&'static str),
}

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseFailure::Invalid(m) => write!(f, "invalid JSON: {m}"),
            ParseFailure::NotObject(kind) => {
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                write!(f, "not a JSON object ({article} {kind})")
            }
        }
    }
}

/// A reusable parser: owns simd-json's buffers and a padded scratch copy of the record.
pub struct RecordParser {
    buffers: Buffers,
    scratch: Vec<u8>,
    tape: Option<Tape<'static>>,
    path: String,
    text: String,
}

impl Default for RecordParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordParser {
    /// A parser with empty buffers.
    pub fn new() -> RecordParser {
        RecordParser {
            buffers: Buffers::new(4096),
            scratch: Vec::new(),
            tape: Some(Tape::null()),
            path: String::new(),
            text: String::new(),
        }
    }

    /// Parse `record` (one JSON text, valid UTF-8 or not: simd-json validates) and send its
    /// flattened fields to `sink`.
    pub fn parse(&mut self, record: &[u8], sink: &mut dyn RecordSink) -> Result<(), ParseFailure> {
        let len = record.len();
        self.scratch.clear();
        self.scratch.extend_from_slice(record);
        self.scratch.resize(len + simd_json::INPUT_PADDING, b' ');
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let res = simd_json::fill_tape_padded(&mut self.scratch, len, &mut self.buffers, &mut tape);
        let out = match res {
            Err(e) => Err(ParseFailure::Invalid(e.to_string())),
            Ok(()) => {
                self.path.clear();
                flatten_root(&tape.0, &mut self.path, &mut self.text, sink)
            }
        };
        self.tape = Some(tape.reset());
        out
    }
}

fn flatten_root(
    nodes: &[Node<'_>],
    path: &mut String,
    text: &mut String,
    sink: &mut dyn RecordSink,
) -> Result<(), ParseFailure> {
    match nodes.first() {
        Some(Node::Object { .. }) => {
            flatten_object(nodes, 0, path, text, sink);
            Ok(())
        }
        Some(Node::Array { .. }) => Err(ParseFailure::NotObject("array")),
        Some(Node::String(_)) => Err(ParseFailure::NotObject("string")),
        Some(Node::Static(StaticNode::Null)) => Err(ParseFailure::NotObject("null")),
        Some(Node::Static(StaticNode::Bool(_))) => Err(ParseFailure::NotObject("boolean")),
        Some(Node::Static(_)) => Err(ParseFailure::NotObject("number")),
        None => Err(ParseFailure::Invalid("empty input".into())),
    }
}

/// True when `key` needs no escaping in a path (no `.` or `\`). Every key of every record
/// passes here, so it tests eight bytes at a time: a word holds a byte equal to `c` exactly
/// when `w ^ (c * 0x01..01)` holds a zero byte.
#[inline]
fn is_plain_key(key: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const DOTS: u64 = ONES * b'.' as u64;
    const SLASHES: u64 = ONES * b'\\' as u64;
    #[inline]
    fn has_zero_byte(v: u64) -> bool {
        v.wrapping_sub(ONES) & !v & HIGH != 0
    }
    let mut words = key.as_bytes().chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let v = u64::from_le_bytes(a);
        if has_zero_byte(v ^ DOTS) || has_zero_byte(v ^ SLASHES) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| b != b'.' && b != b'\\')
}

/// Push a key onto `path`, escaping `.` and `\`.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    if !is_plain_key(key) {
        for ch in key.chars() {
            if ch == '.' || ch == '\\' {
                path.push('\\');
            }
            path.push(ch);
        }
    } else {
        path.push_str(key);
    }
}

/// Flatten the object at `nodes[i]`; returns the index after it.
fn flatten_object(
    nodes: &[Node<'_>],
    i: usize,
    path: &mut String,
    text: &mut String,
    sink: &mut dyn RecordSink,
) -> usize {
    let Some(Node::Object { len, .. }) = nodes.get(i) else {
        return i + 1;
    };
    let mut j = i + 1;
    for _ in 0..*len {
        let key = match nodes.get(j) {
            Some(Node::String(k)) => *k,
            _ => return j,
        };
        // A top-level scalar under a plain key (most fields of most logs) is its own path:
        // no copy into `path`.
        if path.is_empty() && is_plain_key(key) {
            match nodes.get(j + 1) {
                Some(Node::String(s)) => {
                    sink.field(key, JsonValue::Str(s));
                    j += 2;
                    continue;
                }
                Some(Node::Static(s)) => {
                    sink.field(key, static_value(s));
                    j += 2;
                    continue;
                }
                _ => {}
            }
        }
        let base = path.len();
        push_key(path, key);
        j = flatten_value(nodes, j + 1, path, text, sink);
        path.truncate(base);
    }
    j
}

fn flatten_value(
    nodes: &[Node<'_>],
    i: usize,
    path: &mut String,
    text: &mut String,
    sink: &mut dyn RecordSink,
) -> usize {
    match nodes.get(i) {
        Some(Node::Object { len: 0, .. }) => {
            sink.field(path, JsonValue::Json("{}"));
            i + 1
        }
        Some(Node::Object { .. }) => flatten_object(nodes, i, path, text, sink),
        Some(Node::Array { count, .. }) => {
            text.clear();
            write_json(nodes, i, text);
            sink.field(path, JsonValue::Json(text));
            i + 1 + count
        }
        Some(Node::String(s)) => {
            sink.field(path, JsonValue::Str(s));
            i + 1
        }
        Some(Node::Static(s)) => {
            sink.field(path, static_value(s));
            i + 1
        }
        None => i + 1,
    }
}

fn static_value(s: &StaticNode) -> JsonValue<'static> {
    match *s {
        StaticNode::Null => JsonValue::Null,
        StaticNode::Bool(b) => JsonValue::Bool(b),
        StaticNode::I64(v) => JsonValue::Int(v),
        StaticNode::U64(v) => match i64::try_from(v) {
            Ok(i) => JsonValue::Int(i),
            Err(_) => JsonValue::BigUint(v),
        },
        StaticNode::F64(f) => JsonValue::Float(f),
    }
}

/// Serialize the value at `nodes[i]` as compact JSON; returns the index after it.
fn write_json(nodes: &[Node<'_>], i: usize, out: &mut String) -> usize {
    use std::fmt::Write;
    match nodes.get(i) {
        Some(Node::Object { len, .. }) => {
            out.push('{');
            let mut j = i + 1;
            for k in 0..*len {
                if k > 0 {
                    out.push(',');
                }
                if let Some(Node::String(key)) = nodes.get(j) {
                    write_json_str(key, out);
                }
                out.push(':');
                j = write_json(nodes, j + 1, out);
            }
            out.push('}');
            j
        }
        Some(Node::Array { len, .. }) => {
            out.push('[');
            let mut j = i + 1;
            for k in 0..*len {
                if k > 0 {
                    out.push(',');
                }
                j = write_json(nodes, j, out);
            }
            out.push(']');
            j
        }
        Some(Node::String(s)) => {
            write_json_str(s, out);
            i + 1
        }
        Some(Node::Static(s)) => {
            let _ = match static_value(s) {
                JsonValue::Null => write!(out, "null"),
                JsonValue::Bool(b) => write!(out, "{b}"),
                JsonValue::Int(v) => write!(out, "{v}"),
                JsonValue::BigUint(v) => write!(out, "{v}"),
                JsonValue::Float(f) => write!(out, "{f:?}"),
                JsonValue::Str(_) | JsonValue::Json(_) => Ok(()),
            };
            i + 1
        }
        None => i + 1,
    }
}

/// Write `s` as a JSON string literal.
pub fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Escape one key the way flattening does (for building column names from user input).
pub fn escape_key(key: &str) -> String {
    let mut s = String::new();
    push_key(&mut s, key);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(String, String)>);
    impl RecordSink for Collect {
        fn field(&mut self, path: &str, value: JsonValue<'_>) {
            self.0.push((path.to_string(), format!("{value:?}")));
        }
    }

    fn flat(line: &str) -> Result<Vec<(String, String)>, ParseFailure> {
        let mut p = RecordParser::new();
        let mut c = Collect::default();
        p.parse(line.as_bytes(), &mut c).map(|()| c.0)
    }

    #[test]
    fn flattens_nested_dotted_and_arrays() {
        let f = flat(r#"{"a":{"b":1,"c":{"d":"x"}},"id.orig_h":"1.2.3.4","arr":[1,"s",{"k":null}],"e":{},"big":18446744073709551615,"n":null}"#)
            .expect("parse");
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["a.b", "a.c.d", "id\\.orig_h", "arr", "e", "big", "n"]
        );
        assert_eq!(f[3].1, r#"Json("[1,\"s\",{\"k\":null}]")"#);
        assert_eq!(f[4].1, r#"Json("{}")"#);
        assert_eq!(f[5].1, "BigUint(18446744073709551615)");
    }

    #[test]
    fn plain_keys_are_told_apart_at_every_position() {
        for len in 0..20 {
            let base = "k".repeat(len);
            assert!(is_plain_key(&base), "{base}");
            for pos in 0..len {
                for c in [b'.', b'\\'] {
                    let mut k = base.clone().into_bytes();
                    k[pos] = c;
                    let k = String::from_utf8(k).expect("ascii");
                    assert!(!is_plain_key(&k), "{k}");
                }
            }
        }
        assert!(is_plain_key("id_orig_h\u{e9}\u{2e80}\u{5c00}"));
        assert!(!is_plain_key("\u{e9}\u{e9}\u{e9}\u{e9}.x"));
    }

    #[test]
    fn rejects_non_objects_and_garbage() {
        assert_eq!(flat("[1,2]"), Err(ParseFailure::NotObject("array")));
        assert_eq!(flat("\"x\""), Err(ParseFailure::NotObject("string")));
        assert!(matches!(flat("{\"a\":"), Err(ParseFailure::Invalid(_))));
        assert!(matches!(flat(""), Err(ParseFailure::Invalid(_))));
    }

    #[test]
    fn parser_is_reusable_and_unescapes() {
        let mut p = RecordParser::new();
        for _ in 0..3 {
            let mut c = Collect::default();
            p.parse(br#"{"q":"a\"b\\c\u00e9"}"#, &mut c).expect("parse");
            assert_eq!(c.0[0].1, "Str(\"a\\\"b\\\\cé\")");
        }
    }
}
