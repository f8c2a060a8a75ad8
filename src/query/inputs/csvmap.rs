//! CSV enrichment maps for `pivot --join FILE:COL=field`.
//!
//! Owns: reading a map file's bytes into records (RFC 4180, split by the `csv`
//! crate), and the keyed lookup table ([`MapTable`]) that a left join probes
//! with event values.
//!
//! It must not: open or read files (the caller passes the bytes), panic on
//! any input, trim or normalise keys or values, guess delimiters or
//! encodings, or know about events, columns of the store or pivot output.
//!
//! Documented decisions:
//! - Line numbers are 1-based *physical* lines; a record is reported at the
//!   line where it starts. A line ends at `\r\n`, `\n` or a lone `\r`, also
//!   inside quoted fields (which keep their line breaks verbatim).
//! - A UTF-8 byte order mark at the very start is skipped; invalid UTF-8
//!   anywhere is an error naming the line of the first bad byte.
//! - Quotes are special only at the start of a field. `""` inside a quoted
//!   field is one `"`; after the closing quote only `,`, a line end or the
//!   end of input may follow. A `"` inside an unquoted field is literal.
//! - Nothing is trimmed: `a, b` has the field `" b"`; keys compare as exact
//!   text, case-sensitively.
//! - Completely empty physical lines (outside quotes) are skipped, wherever
//!   they are. So in a one-column map an empty key must be written `""`.
//! - The header is the first record. The key column is found by exact name;
//!   it must occur exactly once in the header. Other duplicate column names
//!   are allowed ([`MapTable::column_index`] returns the first).
//! - Every record must have exactly as many fields as the header. An empty
//!   key is a normal key; a repeated key is an error naming both lines.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV syntax or map-building error at a 1-based physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: u64,
    pub message: String,
}

impl CsvError {
    fn new(line: u64, message: impl Into<String>) -> CsvError {
        CsvError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CsvError {}

/// Parse all records (header included) with the physical line each starts on. The `csv`
/// crate splits the records; this adds what it leaves to its caller: the BOM, UTF-8 errors
/// named by line, physical line numbers (lone `\r` included) and strict quotes.
pub fn parse_records(data: &[u8]) -> Result<Vec<(u64, Vec<String>)>, CsvError> {
    let data = data.strip_prefix(BOM).unwrap_or(data);
    std::str::from_utf8(data).map_err(|e| {
        let line = 1 + count_line_breaks(data.get(..e.valid_up_to()).unwrap_or(data));
        CsvError::new(line, "invalid UTF-8")
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    // Byte offset and physical line of the last record start.
    let (mut at, mut line) = (0usize, 1u64);
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(CsvError::new(line, e.to_string())),
        }
        let mut start = record
            .position()
            .map_or(at, |p| p.byte() as usize)
            .clamp(at, data.len());
        // The blank lines the crate skipped before the record are not part of it.
        while matches!(data.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        line += count_line_breaks(&data[at..start]);
        at = start;
        let end = (reader.position().byte() as usize).clamp(start, data.len());
        check_quotes(&data[start..end], line)?;
        out.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

/// The `csv` crate reads a field whose quote is never closed to the end of the input, and text
/// after a closing quote as more of the field; in a map either is a typo that would shift every
/// later key, so both are errors here, at the physical line where they are.
fn check_quotes(raw: &[u8], line: u64) -> Result<(), CsvError> {
    let (mut i, mut line, mut field_start) = (0usize, line, true);
    let breaks = |raw: &[u8], i: usize| {
        let b = raw.get(i).copied();
        b == Some(b'\n') || (b == Some(b'\r') && raw.get(i + 1) != Some(&b'\n'))
    };
    while i < raw.len() {
        if !(field_start && raw[i] == b'"') {
            field_start = raw[i] == b',';
            line += u64::from(breaks(raw, i));
            i += 1;
            continue;
        }
        let open = line;
        i += 1;
        loop {
            match raw.get(i) {
                None => return Err(CsvError::new(open, "quoted field is not closed")),
                Some(b'"') if raw.get(i + 1) == Some(&b'"') => i += 2,
                Some(b'"') => break,
                Some(_) => {
                    line += u64::from(breaks(raw, i));
                    i += 1;
                }
            }
        }
        i += 1;
        if !matches!(raw.get(i), None | Some(b',' | b'\r' | b'\n')) {
            return Err(CsvError::new(
                line,
                "unexpected text after the closing quote of a field",
            ));
        }
        field_start = false;
    }
    Ok(())
}

/// Number of line ends (`\r\n`, `\n`, lone `\r`) in `bytes`.
fn count_line_breaks(bytes: &[u8]) -> u64 {
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let crlf_cr = b == b'\r' && bytes.get(i + 1) == Some(&b'\n');
        if (b == b'\n' || b == b'\r') && !crlf_cr {
            n += 1;
        }
    }
    n
}

/// A CSV map keyed by one column, for left joins.
#[derive(Debug, Clone)]
pub struct MapTable {
    /// Header names, in file order.
    pub columns: Vec<String>,
    /// Index of the key column in `columns` and in every row.
    pub key_column: usize,
    /// Key -> row (ahash: a join looks up every dictionary code of every segment).
    index: HashMap<String, usize, ahash::RandomState>,
    rows: Vec<Vec<String>>,
    /// Row numbers in ascending bytewise order of their keys (for `rows_of_sorted`).
    sorted: Vec<usize>,
}

impl MapTable {
    /// Build from CSV bytes with `key` as the key column; Err if the column
    /// is missing (message lists the available columns), on duplicates, etc.
    pub fn from_csv(data: &[u8], key: &str) -> Result<MapTable, CsvError> {
        let mut records = parse_records(data)?.into_iter();
        let Some((header_line, columns)) = records.next() else {
            return Err(CsvError::new(1, "empty input: a header row is required"));
        };
        let key_column = find_key_column(&columns, key, header_line)?;
        let mut table = MapTable {
            columns,
            key_column,
            index: HashMap::default(),
            rows: Vec::new(),
            sorted: Vec::new(),
        };
        let mut lines = Vec::new();
        for (line, row) in records {
            table.insert(line, row, &lines)?;
            lines.push(line);
        }
        let mut sorted: Vec<usize> = (0..table.rows.len()).collect();
        sorted.sort_unstable_by(|&a, &b| table.key_of(a).cmp(table.key_of(b)));
        table.sorted = sorted;
        Ok(table)
    }

    /// Add one data record; `lines[i]` is the line of row `i`.
    fn insert(&mut self, line: u64, row: Vec<String>, lines: &[u64]) -> Result<(), CsvError> {
        if row.len() != self.columns.len() {
            let msg = format!(
                "record has {} fields, but the header has {}",
                row.len(),
                self.columns.len()
            );
            return Err(CsvError::new(line, msg));
        }
        let key = row.get(self.key_column).cloned().unwrap_or_default();
        match self.index.entry(key) {
            Entry::Occupied(e) => {
                let first = lines.get(*e.get()).copied().unwrap_or(0);
                let msg = format!(
                    "duplicate key {:?} in key column {:?}: first on line {}, again on line {}",
                    e.key(),
                    self.columns.get(self.key_column).map_or("", String::as_str),
                    first,
                    line
                );
                Err(CsvError::new(line, msg))
            }
            Entry::Vacant(e) => {
                e.insert(self.rows.len());
                self.rows.push(row);
                Ok(())
            }
        }
    }

    /// Number of data rows (the header is not counted).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of the first header column named exactly `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The row for `key`, if any.
    pub fn lookup(&self, key: &str) -> Option<&[String]> {
        let &i = self.index.get(key)?;
        self.rows.get(i).map(Vec::as_slice)
    }

    /// Distinct values of column `col` (over all rows; the join's unmatched label aside).
    pub fn distinct_values(&self, col: usize) -> usize {
        let set: std::collections::HashSet<&str> = self
            .rows
            .iter()
            .filter_map(|r| r.get(col).map(String::as_str))
            .collect();
        set.len()
    }

    fn key_of(&self, row: usize) -> &[u8] {
        self.rows
            .get(row)
            .and_then(|r| r.get(self.key_column))
            .map_or(&[][..], |k| k.as_bytes())
    }

    /// The row of each of `keys`, which come in ascending bytewise order (a segment's sorted
    /// dictionary): one merge with the keys of the map in the same order. A hash lookup per
    /// dictionary code missed cache on every code of every segment (about 180 ns each).
    pub fn rows_of_sorted<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) -> Vec<Option<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        for k in keys {
            while i < self.sorted.len() && self.key_of(self.sorted[i]) < k {
                i += 1;
            }
            out.push(self.sorted.get(i).copied().filter(|&r| self.key_of(r) == k));
        }
        out
    }

    /// Value of column `col` in row `row`.
    pub fn row_value(&self, row: usize, col: usize) -> Option<&str> {
        self.rows.get(row)?.get(col).map(String::as_str)
    }

    /// Value of column `col` for `key`.
    pub fn get(&self, key: &str, col: usize) -> Option<&str> {
        self.lookup(key)?.get(col).map(String::as_str)
    }
}

/// The position of `key` in the header: exactly one match required.
fn find_key_column(columns: &[String], key: &str, line: u64) -> Result<usize, CsvError> {
    let mut hits = columns.iter().enumerate().filter(|(_, c)| *c == key);
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some((i, _)), Some((j, _))) => Err(CsvError::new(
            line,
            format!(
                "key column {key:?} appears more than once in the header (columns {} and {})",
                i + 1,
                j + 1
            ),
        )),
        _ => {
            let names: Vec<String> = columns.iter().map(|c| format!("{c:?}")).collect();
            Err(CsvError::new(
                line,
                format!(
                    "key column {key:?} not found; available columns: {}",
                    names.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(data: &str) -> Vec<(u64, Vec<String>)> {
        match parse_records(data.as_bytes()) {
            Ok(r) => r,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    fn fields(data: &str) -> Vec<Vec<String>> {
        recs(data).into_iter().map(|(_, f)| f).collect()
    }

    fn err(data: &[u8], key: &str) -> CsvError {
        match MapTable::from_csv(data, key) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    fn table(data: &[u8], key: &str) -> MapTable {
        match MapTable::from_csv(data, key) {
            Ok(t) => t,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn quoting_edge_cases() {
        let got = fields("a,b,c\n\"x,y\",\"he said \"\"hi\"\"\",\"\"\n\"\"\"\",z\"q,\n");
        assert_eq!(got[1], vec!["x,y", "he said \"hi\"", ""]);
        assert_eq!(got[2], vec!["\"", "z\"q", ""]);
        // Leading space: the field is unquoted and literal.
        assert_eq!(fields("a, \"b\"")[0], vec!["a", " \"b\""]);
        // Empty fields everywhere.
        assert_eq!(fields(",,\n")[0], vec!["", "", ""]);
        // Non-ASCII text survives.
        assert_eq!(fields("é,\"ü,ß\"")[0], vec!["é", "ü,ß"]);
    }

    #[test]
    fn bad_quotes_are_errors() {
        let e = parse_records(b"a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not closed"), "{e}");
        let e = parse_records(b"a,b\n\"x\"y,2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("after the closing quote"), "{e}");
    }

    #[test]
    fn line_ends_crlf_lf_cr_and_final_line() {
        let want = vec![vec!["a", "b"], vec!["1", "2"], vec!["3", "4"]];
        for data in [
            "a,b\r\n1,2\r\n3,4\r\n",
            "a,b\r\n1,2\r\n3,4",
            "a,b\n1,2\n3,4\n",
            "a,b\n1,2\n3,4",
            "a,b\r1,2\r3,4\r",
            "a,b\n\n1,2\r\n\r\n3,4\n\n",
        ] {
            assert_eq!(fields(data), want, "{data:?}");
        }
        let lines: Vec<u64> = recs("a,b\n\n1,2\r\n\r\n3,4\n\n")
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(lines, vec![1, 3, 5]);
        assert_eq!(fields("a\n\"\"")[1], vec![""]);
        assert!(recs("").is_empty());
    }

    #[test]
    fn bom_is_skipped_and_invalid_utf8_names_line() {
        let t = table(b"\xEF\xBB\xBFid,v\r\n1,x\r\n", "id");
        assert_eq!(t.columns, vec!["id", "v"]);
        assert_eq!(t.get("1", 1), Some("x"));
        // A BOM later on is data, not skipped.
        assert_eq!(fields("a\n\u{feff}b")[1], vec!["\u{feff}b"]);
        let e = parse_records(b"id,v\r\n1,x\r\n2,\xff\r\n").unwrap_err();
        assert_eq!(
            (e.line, e.to_string()),
            (3, "line 3: invalid UTF-8".to_string())
        );
        let e = parse_records(b"id,v\n1,\"a\nb\xc3\"\n").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn multiline_quoted_fields_count_physical_lines() {
        let data = "id,note\n1,\"two\nlines\"\n2,\"three\r\nphysical\r\nlines\"\n3,x\n4,\"a\"";
        let r = recs(data);
        let lines: Vec<u64> = r.iter().map(|x| x.0).collect();
        assert_eq!(lines, vec![1, 2, 4, 7, 8]);
        assert_eq!(r[2].1[1], "three\r\nphysical\r\nlines");
        let e = err(b"id,note\n1,\"a\nb\"\n2,\"c\n\nd\"\n3\n", "id");
        assert_eq!(e.line, 7);
    }

    #[test]
    fn ragged_row_names_line() {
        let e = err(b"id,a,b\n1,x,y\n2,x\n", "id");
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: record has 2 fields, but the header has 3"
        );
        assert_eq!(err(b"id,a\n1,x,y\n", "id").line, 2);
    }

    #[test]
    fn duplicate_key_names_key_and_both_lines() {
        let e = err(b"id,a\n7,x\n8,y\n\"7\",z\n", "id");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("\"7\""), "{e}");
        assert!(
            e.message.contains("line 2") && e.message.contains("line 4"),
            "{e}"
        );
        // Keys are exact text: no trimming, case-sensitive.
        let t = table(b"id,a\n7,x\n 7,y\n7 ,z\nk,1\nK,2\n", "id");
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(" 7", 1), Some("y"));
        assert_eq!(t.get("K", 1), Some("2"));
    }

    #[test]
    fn missing_key_column_lists_columns() {
        let e = err(b"rule_id,msg\n1,x\n", "RuleID");
        assert_eq!(e.line, 1);
        assert_eq!(
            e.message,
            "key column \"RuleID\" not found; available columns: \"rule_id\", \"msg\""
        );
        let e = err(b"id,x,id\n1,2,3\n", "id");
        assert!(e.message.contains("more than once"), "{e}");
        let e = err(b"", "id");
        assert!(e.message.contains("header"), "{e}");
        let e = err(b"\r\n\n", "id");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn empty_key_and_lookups() {
        let t = table(b"k,v,w\n,empty,1\na,A,2\n", "k");
        assert_eq!((t.len(), t.is_empty(), t.key_column), (2, false, 0));
        assert_eq!(t.get("", 1), Some("empty"));
        assert_eq!(
            t.lookup("a"),
            Some(&["a".to_string(), "A".into(), "2".into()][..])
        );
        assert_eq!(t.get("a", 3), None);
        assert_eq!(t.get("b", 1), None);
        assert_eq!(t.column_index("w"), Some(2));
        assert_eq!(t.column_index("W"), None);
        let t = table(b"v,k\n", "k");
        assert!(t.is_empty());
        assert_eq!(t.key_column, 1);
    }

    /// Excerpt of /work/shared/data/modsecurity/crs_rules.csv (CRLF, quoted
    /// fields with commas and `""`).
    const CRS: &str = "rule_id,msg,file,severity,paranoia_level,tags\r\n\
901001,\"CRS is deployed without configuration! Please copy the crs-setup.conf.example template to crs-setup.conf, and include the crs-setup.conf file in your webserver configuration before including the CRS rules. See the INSTALL file in the CRS directory for detailed instructions\",REQUEST-901-INITIALIZATION.conf,CRITICAL,,OWASP_CRS\r\n\
901100,,REQUEST-901-INITIALIZATION.conf,,,OWASP_CRS\r\n\
942220,\"Looking for integer overflow attacks, these are taken from skipfish, except 2.2.2250738585072011e-308 is the \"\"magic number\"\" crash\",REQUEST-942-APPLICATION-ATTACK-SQLI.conf,CRITICAL,1,application-multi|language-multi|platform-multi|attack-sqli|paranoia-level/1|OWASP_CRS|OWASP_CRS/ATTACK\r\n\
942250,\"Detects MATCH AGAINST, MERGE and EXECUTE IMMEDIATE injections\",REQUEST-942-APPLICATION-ATTACK-SQLI.conf,CRITICAL,1,application-multi|language-multi|platform-multi|attack-sqli|paranoia-level/1|OWASP_CRS|OWASP_CRS/ATTACK-SQLI|capec/1000/152/248/66\r\n";

    #[test]
    fn crs_rules_excerpt() {
        let t = table(CRS.as_bytes(), "rule_id");
        assert_eq!(t.len(), 4);
        let msg = t.column_index("msg").unwrap_or(usize::MAX);
        assert_eq!(
            t.get("942220", msg),
            Some(
                "Looking for integer overflow attacks, these are taken from skipfish, \
                 except 2.2.2250738585072011e-308 is the \"magic number\" crash"
            )
        );
        assert!(t
            .get("901001", msg)
            .is_some_and(|m| m.starts_with("CRS is deployed")));
        assert_eq!(t.get("901100", msg), Some(""));
        assert_eq!(t.get("901100", 5), Some("OWASP_CRS"));
        assert_eq!(t.get("942250", 3), Some("CRITICAL"));
    }

    /// Excerpts of the Cloudflare and Suricata maps.
    #[test]
    fn cloudflare_and_suricata_excerpts() {
        let cf = "rule_id,legacy_rule_id,description,ruleset,last_change,action_after_change\r\n\
fc7338307e484b9f8d460aca6bc398e9,100675,Adobe ColdFusion - Auth Bypass - CVE:CVE-2023-38205,Cloudflare Specials,2024-10-21,Block\r\n\
9226fa56d43b4d9a81e36575710cc526,100676,Palo Alto Networks - Auth Bypass - CVE:CVE-2024-5910,Cloudflare Specials,2024-10-21,Block\r\n";
        let t = table(cf.as_bytes(), "rule_id");
        assert_eq!(t.get("9226fa56d43b4d9a81e36575710cc526", 1), Some("100676"));
        let et = "sid,gid,rev,msg,classtype,file,enabled,metadata\r\n\
22,1,1,\"FILE pdf claimed, but not pdf\",,files.rules,0,\r\n\
2000005,1,7,ET EXPLOIT Cisco Telnet Buffer Overflow,attempted-dos,emerging-exploit.rules,0,\"created_at 2010_07_30, updated_at 2010_07_30\"\r\n";
        let t = table(et.as_bytes(), "sid");
        assert_eq!(t.get("22", 3), Some("FILE pdf claimed, but not pdf"));
        assert_eq!(t.get("22", 7), Some(""));
        assert_eq!(
            t.get("2000005", 7),
            Some("created_at 2010_07_30, updated_at 2010_07_30")
        );
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let base = CRS.as_bytes();
        for cut in 0..base.len() {
            let _ = MapTable::from_csv(&base[..cut], "rule_id");
        }
        for i in 0..base.len() {
            for b in [b'"', b',', b'\r', b'\n', 0xff, 0xc3] {
                let mut v = base.to_vec();
                v[i] = b;
                let _ = MapTable::from_csv(&v, "rule_id");
            }
        }
    }

    #[test]
    fn rows_of_sorted_agrees_with_lookup() {
        let t = MapTable::from_csv(b"id,cat\nb,x\na,y\nd,z\nab,w\n", "id").expect("map");
        let keys: [&[u8]; 6] = [b"", b"a", b"ab", b"c", b"d", b"e"];
        let rows = t.rows_of_sorted(keys.iter().copied());
        for (k, r) in keys.iter().zip(&rows) {
            let want = t.get(std::str::from_utf8(k).expect("utf8"), 1);
            assert_eq!(r.and_then(|r| t.row_value(r, 1)), want, "key {k:?}");
        }
        assert_eq!(rows.iter().filter(|r| r.is_some()).count(), 3);
    }
}
