//! Reject records: one JSON line per input record that was not stored as-is.
//!
//! ```json
//! {"file":"x.ndjson","line":12,"offset":3456,"reason":"invalid JSON: ...","repaired":false,"raw":"..."}
//! ```
//! `raw` holds the record when it is valid UTF-8; otherwise `raw_base64` holds its exact bytes.
//! `repaired: true` marks an event that *was* stored, with invalid UTF-8 replaced by U+FFFD; the
//! line is kept here so the original bytes are never lost. Records longer than
//! [`MAX_RAW`] keep their first `MAX_RAW` bytes and say `raw_len` and `raw_truncated`.

use base64::Engine;

/// Longest raw record kept in full in a rejects file.
pub const MAX_RAW: usize = 1 << 20;

/// Append one reject record as a JSON line to `out`.
pub fn write_reject(
    out: &mut Vec<u8>,
    file: &str,
    line: u64,
    offset: u64,
    reason: &str,
    repaired: bool,
    raw: &[u8],
) {
    let truncated = raw.len() > MAX_RAW;
    let kept = &raw[..raw.len().min(MAX_RAW)];
    let mut obj = serde_json::Map::new();
    obj.insert("file".into(), file.into());
    obj.insert("line".into(), line.into());
    obj.insert("offset".into(), offset.into());
    obj.insert("reason".into(), reason.into());
    obj.insert("repaired".into(), repaired.into());
    match std::str::from_utf8(kept) {
        Ok(s) => obj.insert("raw".into(), s.into()),
        Err(_) => obj.insert(
            "raw_base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(kept)
                .into(),
        ),
    };
    if truncated {
        obj.insert("raw_len".into(), (raw.len() as u64).into());
        obj.insert("raw_truncated".into(), true.into());
    }
    // Serializing a Map of plain values cannot fail.
    if let Ok(bytes) = serde_json::to_vec(&serde_json::Value::Object(obj)) {
        out.extend_from_slice(&bytes);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_bytes_survive() {
        let mut out = Vec::new();
        write_reject(&mut out, "f", 3, 10, "bad", true, b"{\"a\":\"\xff\"}");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        let b64 = v["raw_base64"].as_str().expect("b64");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("decode");
        assert_eq!(raw, b"{\"a\":\"\xff\"}");
        assert_eq!(v["repaired"], true);
    }
}
