//! Splitting an input byte stream into records, without parsing them.
//!
//! Two input shapes:
//! - **NDJSON**: one record per line. The splitter finds the last newline of a buffer; records are
//!   the lines before it.
//! - **JSON array**: a file holding one `[ {...}, {...} ]` (as the Suricata samples are). An
//!   [`ArrayScanner`] tracks strings, escapes and nesting depth and reports the byte span of each
//!   top-level element, across buffer boundaries, with the line each element starts on.
//!
//! Pure: works on byte slices. Must not: read files or parse values.

/// The shape of an input, decided from its first non-whitespace byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputShape {
    Ndjson,
    JsonArray,
    /// A stream of JSON values that may span lines: objects that hold the events in an array
    /// (CloudTrail's `{"Records": [...]}`; the input's records path says where), or, with no
    /// records path, pretty-printed objects that are each an event.
    Envelope,
}

/// `[` first means a JSON array; anything else is NDJSON. A UTF-8 byte order mark is skipped.
pub fn detect_shape(head: &[u8]) -> InputShape {
    match first_byte(head) {
        Some(b'[') => InputShape::JsonArray,
        _ => InputShape::Ndjson,
    }
}

/// The first byte of `head` that is not whitespace, after a UTF-8 byte order mark.
pub fn first_byte(head: &[u8]) -> Option<u8> {
    let head = head.strip_prefix(&UTF8_BOM[..]).unwrap_or(head);
    head.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The UTF-8 byte order mark that Windows tools write at the start of a text file.
pub const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Does `head` (the first decompressed bytes of a file) look like JSON: `{` or `[` first, after
/// an optional byte order mark and whitespace?
pub fn looks_like_json(head: &[u8]) -> bool {
    matches!(first_byte(head), Some(b'{' | b'['))
}

/// The keys that make an envelope without a flag when they are the first key of the first
/// object and hold an array: CloudTrail's and S3 event notifications' `Records`, Azure Monitor's
/// `records` (diagnostic logs archived to storage).
pub const ENVELOPE_KEYS: [&str; 2] = ["Records", "records"];

/// The shape of an input from its first decompressed bytes, `records` the envelope path the
/// user named (`--records`), if any. With none, an input whose first value is an object whose
/// first key is one of [`ENVELOPE_KEYS`] holding an array (seen within `head`) is an envelope of
/// that key; one whose first object spreads over lines is a stream of objects (an envelope
/// without a path); `[` first is a JSON array; anything else is NDJSON.
pub fn detect_input(
    head: &[u8],
    records: Option<&RecordsPath>,
) -> (InputShape, Option<RecordsPath>) {
    if let Some(p) = records {
        return (InputShape::Envelope, Some(p.clone()));
    }
    if first_byte(head) != Some(b'{') {
        return (detect_shape(head), None);
    }
    let mut candidates: Vec<(RecordsPath, EnvelopeScanner)> = ENVELOPE_KEYS
        .iter()
        .map(|k| {
            let p = RecordsPath(vec![k.to_string()]);
            let s = EnvelopeScanner::new(&p);
            (p, s)
        })
        .collect();
    // Follows the first object without looking for any array.
    let mut plain = EnvelopeScanner::new(&RecordsPath(Vec::new()));
    let (mut out, mut multiline) = (Vec::new(), false);
    for (i, &b) in head.iter().enumerate() {
        for (p, s) in &mut candidates {
            s.step(b, i as u64, &mut Vec::new());
            if s.array.is_some() && s.top_keys == 1 {
                return (InputShape::Envelope, Some(p.clone()));
            }
        }
        plain.step(b, i as u64, &mut out);
        multiline |= b == b'\n' && plain.depth > 0;
        // The first top-level object ended without the array: not an envelope.
        if !out.is_empty() {
            break;
        }
    }
    // A first object spread over lines (pretty-printed): a stream of JSON objects, each an
    // event, not NDJSON.
    if multiline {
        return (InputShape::Envelope, None);
    }
    (InputShape::Ndjson, None)
}

/// Number of `\n` in `data`.
pub fn count_newlines(data: &[u8]) -> u64 {
    // memchr's SIMD search (runtime-dispatched to AVX2) skips the long runs between newlines;
    // a byte-wise count was 5% of ingest CPU on 1 KB events.
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// One element of a JSON array input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Start and end, as offsets into the stream.
    pub start: u64,
    pub end: u64,
    /// 1-based line on which the element starts.
    pub line: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// Between elements (after `[` or `,`).
    Between,
    /// Inside an element.
    Element,
    /// After the closing `]`.
    Done,
}

/// Incremental scanner of a top-level JSON array.
#[derive(Clone, Debug)]
pub struct ArrayScanner {
    state: State,
    depth: u32,
    in_str: bool,
    escape: bool,
    scalar: bool,
    start: u64,
    start_line: u64,
    line: u64,
    /// Bytes outside any element that are not whitespace, `,`, `[` or `]`.
    pub junk: u64,
    /// The array is inside an envelope: scanning stops after its closing `]`.
    nested: bool,
}

impl ArrayScanner {
    /// A scanner at the start of a file (line 1).
    pub fn new() -> ArrayScanner {
        ArrayScanner::resume_between(1, false)
    }

    /// A scanner resumed at an element boundary on `line`; `inside` says whether the opening
    /// `[` was already consumed.
    pub fn resume_between(line: u64, inside: bool) -> ArrayScanner {
        ArrayScanner {
            state: if inside { State::Between } else { State::Start },
            depth: 0,
            in_str: false,
            escape: false,
            scalar: false,
            start: 0,
            start_line: line,
            line,
            junk: 0,
            nested: false,
        }
    }

    /// A scanner of an array inside an envelope, its `[` consumed (its spans' lines are
    /// replaced by ordinals, so it does not know the line).
    fn nested() -> ArrayScanner {
        ArrayScanner {
            nested: true,
            ..ArrayScanner::resume_between(1, true)
        }
    }

    /// The current line (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// True once the closing `]` was seen.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// True when between elements (a safe resume point).
    pub fn between(&self) -> bool {
        matches!(self.state, State::Between | State::Start | State::Done)
    }

    /// Scan `data`, whose first byte is at stream offset `base`, appending complete elements.
    pub fn scan(&mut self, data: &[u8], base: u64, out: &mut Vec<Span>) {
        self.scan_until_done(data, base, out);
    }

    /// Scan `data` until the array's closing `]` (included) or the end of `data`; returns the
    /// bytes consumed. Inside a string, the bytes up to the next `"`, `\\` or newline are
    /// skipped with one SIMD search instead of a step each (most of a log's bytes are in
    /// strings).
    pub fn scan_until_done(&mut self, data: &[u8], base: u64, out: &mut Vec<Span>) -> usize {
        let mut i = 0;
        while i < data.len() {
            if self.state == State::Done {
                // Trailing bytes are the caller's (an envelope's), or junk for a plain array.
                if self.nested {
                    return i;
                }
            } else if self.in_str && !self.escape {
                // A raw newline (invalid in a JSON string, but counted) stops the skip too.
                let rest = &data[i..];
                i += memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
                if i == data.len() {
                    break;
                }
            }
            self.step(data[i], base + i as u64, out);
            i += 1;
        }
        i
    }

    /// Scan one byte at stream offset `pos`.
    #[inline]
    pub fn step(&mut self, b: u8, pos: u64, out: &mut Vec<Span>) {
        match self.state {
            State::Start => match b {
                b'[' => self.state = State::Between,
                b if b.is_ascii_whitespace() => {}
                // A UTF-8 byte order mark before the array.
                0xEF | 0xBB | 0xBF if pos < 3 => {}
                _ => self.junk += 1,
            },
            State::Between => match b {
                b']' => self.state = State::Done,
                b',' => {}
                b if b.is_ascii_whitespace() => {}
                _ => self.begin(b, pos),
            },
            State::Element => self.element_byte(b, pos, out),
            State::Done => {
                if !b.is_ascii_whitespace() {
                    self.junk += 1;
                }
            }
        }
        if b == b'\n' {
            self.line += 1;
        }
    }

    fn begin(&mut self, b: u8, pos: u64) {
        self.state = State::Element;
        self.start = pos;
        self.start_line = self.line;
        self.in_str = b == b'"';
        self.escape = false;
        self.scalar = !matches!(b, b'{' | b'[');
        self.depth = u32::from(!self.scalar);
    }

    fn element_byte(&mut self, b: u8, pos: u64, out: &mut Vec<Span>) {
        if self.in_str {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_str = false;
                if self.scalar && self.depth == 0 {
                    // A bare string element ends at its closing quote.
                    self.finish(pos + 1, out);
                }
            }
            return;
        }
        match b {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' if self.depth > 0 => {
                self.depth -= 1;
                if self.depth == 0 {
                    self.finish(pos + 1, out);
                }
            }
            b',' | b']' if self.scalar && self.depth == 0 => {
                self.finish(pos, out);
                if b == b']' {
                    self.state = State::Done;
                }
            }
            b if self.scalar && self.depth == 0 && b.is_ascii_whitespace() => self.finish(pos, out),
            _ => {}
        }
    }

    fn finish(&mut self, end: u64, out: &mut Vec<Span>) {
        out.push(Span {
            start: self.start,
            end,
            line: self.start_line,
        });
        if self.state == State::Element {
            self.state = State::Between;
        }
    }

    /// Stream offset where the element in progress started, if one is.
    pub fn pending_start(&self) -> Option<u64> {
        (self.state == State::Element).then_some(self.start)
    }

    /// Line where the element in progress started.
    pub fn pending_line(&self) -> u64 {
        self.start_line
    }
}

/// The dotted path of the array that holds the events inside an envelope object: `Records` for
/// CloudTrail's `{"Records": [...]}`, `data.events` for `{"data": {"events": [...]}}`. A `.`
/// inside a key is written `\.` (as in column names).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordsPath(pub Vec<String>);

impl RecordsPath {
    /// Parse a dotted path; `\.` is a dot inside a key and `\\` a backslash.
    pub fn parse(text: &str) -> std::result::Result<RecordsPath, String> {
        let mut parts = vec![String::new()];
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n @ ('.' | '\\')) => parts.last_mut().map_or((), |p| p.push(n)),
                    _ => {
                        return Err(format!(
                            "records path `{text}`: `\\` must be followed by `.` or `\\`"
                        ))
                    }
                },
                '.' => parts.push(String::new()),
                c => parts.last_mut().map_or((), |p| p.push(c)),
            }
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "records path `{text}`: empty key (write keys separated by `.`, e.g. `data.events`)"
            ));
        }
        Ok(RecordsPath(parts))
    }
}

impl std::fmt::Display for RecordsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&p.replace('\\', "\\\\").replace('.', "\\."))?;
        }
        Ok(())
    }
}

/// What comes next inside an object on the records path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Key,
    Colon,
    Value,
    CommaOrEnd,
}

/// Longest key compared against the records path; longer keys never match.
const MAX_KEY: usize = 1024;

/// Incremental scanner of an envelope stream: a sequence of top-level JSON values (one object,
/// NDJSON lines, or concatenated objects). In each top-level object, the array at the records
/// path holds events: every element is one [`Span`]. A top-level object that does not hold the
/// array is itself one event (as an NDJSON line would be), so nothing is dropped; a top-level
/// array's elements are events too. Other bytes of an envelope (its keys and values outside the
/// array) are skipped. A span's `line` is its ordinal among the input's events (1-based), since
/// an envelope is often a single line.
#[derive(Clone, Debug)]
pub struct EnvelopeScanner {
    path: Vec<Vec<u8>>,
    /// Container depth in the outer document (0 = between top-level values).
    depth: u32,
    /// Depth of the deepest object on the path (1 = the top-level object).
    on_path: u32,
    expect: Expect,
    in_str: bool,
    escape: bool,
    key: Vec<u8>,
    key_capture: bool,
    key_matches: bool,
    /// Skipping a bare scalar value inside an object on the path.
    scalar: bool,
    /// Inside the records array (or a top-level array).
    array: Option<ArrayScanner>,
    top_start: u64,
    /// The current top-level value holds the records array (or was abandoned).
    found: bool,
    /// The current top-level object grew past the caller's bound before its array was seen:
    /// it is no longer kept as a candidate event.
    abandoned: bool,
    ordinal: u64,
    /// Keys read so far in the current top-level object (at depth 1).
    top_keys: u32,
    /// Bytes outside any value or element that are not whitespace or separators.
    pub junk: u64,
    /// Top-level objects without the records array that were abandoned (too long to keep as an
    /// event): their spans, for the caller to reject.
    pub oversize: Vec<Span>,
}

impl EnvelopeScanner {
    /// A scanner at the start of an input, looking for the array at `path` (an empty path
    /// matches nothing: every top-level object is an event).
    pub fn new(path: &RecordsPath) -> EnvelopeScanner {
        EnvelopeScanner {
            path: path.0.iter().map(|p| p.as_bytes().to_vec()).collect(),
            depth: 0,
            on_path: 0,
            expect: Expect::Key,
            in_str: false,
            escape: false,
            key: Vec::new(),
            key_capture: false,
            key_matches: false,
            scalar: false,
            array: None,
            top_start: 0,
            found: false,
            abandoned: false,
            ordinal: 0,
            top_keys: 0,
            junk: 0,
            oversize: Vec::new(),
        }
    }

    /// Scan `data`, whose first byte is at stream offset `base`, appending complete events.
    pub fn scan(&mut self, data: &[u8], base: u64, out: &mut Vec<Span>) {
        let mut i = 0;
        while i < data.len() {
            if let Some(a) = &mut self.array {
                let before = out.len();
                let n = a.scan_until_done(&data[i..], base + i as u64, out);
                for sp in &mut out[before..] {
                    self.ordinal += 1;
                    sp.line = self.ordinal;
                }
                i += n;
                if a.done() {
                    self.junk += a.junk;
                    self.array = None;
                    self.expect = Expect::CommaOrEnd;
                }
                continue;
            }
            if self.in_str && !self.escape {
                // Skip string bytes up to the next quote or backslash in one search.
                let rest = &data[i..];
                let k = memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len());
                if self.key_capture {
                    let room = (MAX_KEY + 1).saturating_sub(self.key.len()).min(k);
                    self.key.extend_from_slice(&rest[..room]);
                }
                i += k;
                if i == data.len() {
                    break;
                }
            }
            self.step(data[i], base + i as u64, out);
            i += 1;
        }
    }

    /// Did the scanner enter a records array (so the input is an envelope)?
    pub fn entered_array(&self) -> bool {
        self.array.is_some() || self.ordinal > 0 && self.found
    }

    /// Stream offset of the earliest byte still needed: the start of an element in progress,
    /// or of a top-level object that may turn out to be an event itself.
    pub fn pending_start(&self) -> Option<u64> {
        match &self.array {
            Some(a) => a.pending_start(),
            None if self.depth > 0 && !self.found && !self.abandoned => Some(self.top_start),
            None => None,
        }
    }

    /// The pending value is a top-level candidate (not an element).
    pub fn pending_is_candidate(&self) -> bool {
        self.array.is_none() && self.depth > 0 && !self.found && !self.abandoned
    }

    /// Stop keeping the current top-level object as a candidate event (it grew too long); if
    /// it ends without the records array, its span goes to [`EnvelopeScanner::oversize`].
    pub fn abandon_candidate(&mut self) {
        self.abandoned = true;
    }

    /// True between top-level values (nothing open).
    pub fn between(&self) -> bool {
        self.depth == 0 && self.array.is_none() && !self.in_str
    }

    /// Events seen so far (the ordinal of the last one).
    pub fn events(&self) -> u64 {
        self.ordinal
    }

    #[inline]
    fn step(&mut self, b: u8, pos: u64, out: &mut Vec<Span>) {
        if let Some(a) = &mut self.array {
            let before = out.len();
            a.step(b, pos, out);
            for sp in &mut out[before..] {
                self.ordinal += 1;
                sp.line = self.ordinal;
            }
            if a.done() {
                self.junk += a.junk;
                self.array = None;
                self.expect = Expect::CommaOrEnd;
            }
            return;
        }
        if self.in_str {
            self.string_byte(b);
            return;
        }
        if self.depth == 0 {
            self.top_byte(b, pos);
        } else if self.depth > self.on_path {
            // Skipping a nested value that is not on the path.
            match b {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == self.on_path {
                        self.expect = Expect::CommaOrEnd;
                    }
                }
                _ => {}
            }
        } else if self.scalar {
            match b {
                b',' => {
                    self.scalar = false;
                    self.expect = Expect::Key;
                }
                b'}' => {
                    self.scalar = false;
                    self.close_object(pos, out);
                }
                _ => {}
            }
        } else {
            self.object_byte(b, pos, out);
        }
    }

    fn string_byte(&mut self, b: u8) {
        if self.escape {
            self.escape = false;
        } else if b == b'\\' {
            self.escape = true;
        } else if b == b'"' {
            self.in_str = false;
            if self.key_capture {
                self.key_capture = false;
                self.expect = Expect::Colon;
                if self.depth == 1 {
                    self.top_keys += 1;
                }
                let i = self.on_path as usize - 1;
                self.key_matches = self.path.get(i).is_some_and(|k| *k == self.key);
            } else if self.depth > 0 && self.depth == self.on_path {
                self.expect = Expect::CommaOrEnd;
            }
            return;
        }
        if self.key_capture && self.key.len() <= MAX_KEY {
            self.key.push(b);
        }
    }

    fn top_byte(&mut self, b: u8, pos: u64) {
        match b {
            b'{' => {
                self.depth = 1;
                self.on_path = 1;
                self.expect = Expect::Key;
                self.top_start = pos;
                self.found = false;
                self.abandoned = false;
                self.top_keys = 0;
            }
            b'[' => {
                self.array = Some(ArrayScanner::nested());
                self.found = true;
            }
            b if b.is_ascii_whitespace() => {}
            0xEF | 0xBB | 0xBF if pos < 3 => {}
            b'"' => {
                self.junk += 1;
                self.in_str = true;
            }
            _ => self.junk += 1,
        }
    }

    fn object_byte(&mut self, b: u8, pos: u64, out: &mut Vec<Span>) {
        let last = self.on_path as usize == self.path.len();
        match (self.expect, b) {
            (_, b' ' | b'\t' | b'\r' | b'\n') => {}
            (Expect::Key, b'"') => {
                self.in_str = true;
                self.key_capture = true;
                self.key.clear();
            }
            (Expect::Key | Expect::CommaOrEnd, b'}') => self.close_object(pos, out),
            (Expect::Colon, b':') => self.expect = Expect::Value,
            (Expect::Value, b'[') if self.key_matches && last => {
                self.array = Some(ArrayScanner::nested());
                self.found = true;
            }
            (Expect::Value, b'{') if self.key_matches && !last => {
                self.depth += 1;
                self.on_path += 1;
                self.expect = Expect::Key;
            }
            (Expect::Value, b'{' | b'[') => self.depth += 1,
            (Expect::Value, b'"') => self.in_str = true,
            (Expect::Value, _) => self.scalar = true,
            (Expect::CommaOrEnd, b',') => self.expect = Expect::Key,
            _ => self.junk += 1,
        }
    }

    /// The object on the path at `depth` closes at `pos`.
    fn close_object(&mut self, pos: u64, out: &mut Vec<Span>) {
        self.depth -= 1;
        self.on_path -= 1;
        self.expect = Expect::CommaOrEnd;
        if self.depth > 0 {
            return;
        }
        if !self.found {
            self.ordinal += 1;
            let span = Span {
                start: self.top_start,
                end: pos + 1,
                line: self.ordinal,
            };
            if self.abandoned {
                self.oversize.push(span);
            } else {
                out.push(span);
            }
        }
    }
}

impl Default for ArrayScanner {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str, step: usize) -> Vec<(String, u64)> {
        let mut s = ArrayScanner::new();
        let mut out = Vec::new();
        for (k, piece) in text.as_bytes().chunks(step).enumerate() {
            s.scan(piece, (k * step) as u64, &mut out);
        }
        out.iter()
            .map(|sp| {
                (
                    text[sp.start as usize..sp.end as usize].to_string(),
                    sp.line,
                )
            })
            .collect()
    }

    #[test]
    fn splits_elements_across_any_buffer_size() {
        let text = "[\n  {\"a\": \"x]}\\\"\"},\n  {\"b\": [1, {\"c\": 2}]},\n  42, \"s\" ,[3]\n]\n";
        for step in 1..text.len() {
            let got = spans(text, step);
            assert_eq!(
                got,
                vec![
                    ("{\"a\": \"x]}\\\"\"}".to_string(), 2),
                    ("{\"b\": [1, {\"c\": 2}]}".to_string(), 3),
                    ("42".to_string(), 4),
                    ("\"s\"".to_string(), 4),
                    ("[3]".to_string(), 4),
                ],
                "step {step}"
            );
        }
    }

    fn envelope_spans(text: &str, path: &[&str], step: usize) -> Vec<(String, u64)> {
        let p = RecordsPath(path.iter().map(|s| s.to_string()).collect());
        let mut s = EnvelopeScanner::new(&p);
        let mut out = Vec::new();
        for (k, piece) in text.as_bytes().chunks(step).enumerate() {
            s.scan(piece, (k * step) as u64, &mut out);
        }
        assert!(s.between(), "scanner closed at the end");
        assert_eq!(s.junk, 0);
        out.iter()
            .map(|sp| {
                (
                    text[sp.start as usize..sp.end as usize].to_string(),
                    sp.line,
                )
            })
            .collect()
    }

    #[test]
    fn envelope_events_across_any_buffer_size() {
        // Keys before the array, a decoy key of the same name deeper down, brackets and
        // escaped quotes in strings, scalars and nested values skipped, a second envelope,
        // an object without the array (an event itself), and a top-level array.
        let text = concat!(
            "\u{feff}{\"meta\": {\"events\": [1, 2], \"s\": \"]}\\\"[{\"}, \"n\": -1.5e3,\n",
            " \"data\": {\"x\": null, \"events\": [{\"a\": \"]\"}, {\"b\": [1, {}]} ], \"t\": true}}\n",
            "{\"data\": {\"events\": []}}\n",
            "{\"error\": \"rate limited\"}\r\n",
            "{\"data\": {\"events\": [{\"c\": 3}]}, \"z\": \"}\"}\n",
            "[{\"d\": 4}]\n"
        );
        let want = vec![
            ("{\"a\": \"]\"}".to_string(), 1),
            ("{\"b\": [1, {}]}".to_string(), 2),
            ("{\"error\": \"rate limited\"}".to_string(), 3),
            ("{\"c\": 3}".to_string(), 4),
            ("{\"d\": 4}".to_string(), 5),
        ];
        for step in 1..text.len() {
            assert_eq!(
                envelope_spans(text, &["data", "events"], step),
                want,
                "step {step}"
            );
        }
        // No path: every top-level object is an event.
        let objs = envelope_spans("{\n \"a\": 1\n}\n{\"b\": {\"c\": [2]}}", &[], 3);
        assert_eq!(objs.len(), 2);
    }

    #[test]
    fn detects_envelopes() {
        let ct = br#"{"Records": [{"eventName": "x"}]}"#;
        assert_eq!(
            detect_input(ct, None),
            (
                InputShape::Envelope,
                Some(RecordsPath(vec!["Records".into()]))
            )
        );
        let az = b"\xEF\xBB\xBF {\"records\": [\n";
        assert_eq!(
            detect_input(az, None),
            (
                InputShape::Envelope,
                Some(RecordsPath(vec!["records".into()]))
            )
        );
        // An event that merely has a `Records` array after other keys stays NDJSON.
        let ev = b"{\"id\": 1, \"Records\": [1, 2]}\n{\"id\": 2}\n";
        assert_eq!(detect_input(ev, None), (InputShape::Ndjson, None));
        let pretty = b"{\n  \"id\": 1\n}\n";
        assert_eq!(detect_input(pretty, None), (InputShape::Envelope, None));
        assert_eq!(detect_input(b" [{}]", None), (InputShape::JsonArray, None));
        assert_eq!(
            detect_input(b"{\"a\":1}\n{", None),
            (InputShape::Ndjson, None)
        );
        assert_eq!(
            RecordsPath::parse(r"data.ev\.x").map(|p| p.0),
            Ok(vec!["data".to_string(), "ev.x".to_string()])
        );
        assert!(RecordsPath::parse("a..b").is_err());
        assert_eq!(
            RecordsPath::parse(r"a\.b.c").map(|p| p.to_string()),
            Ok(r"a\.b.c".into())
        );
    }

    #[test]
    fn detects_shape() {
        assert_eq!(detect_shape(b"  \n[{}]"), InputShape::JsonArray);
        assert_eq!(detect_shape(b"{\"a\":1}\n"), InputShape::Ndjson);
        assert_eq!(count_newlines(b"a\nb\n\n"), 3);
    }
}
