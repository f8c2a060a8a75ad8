//! Plain string columns (format v3): a near-unique string column is stored without a
//! dictionary, and reads back exactly like a dictionary-encoded one (cells, dictionary,
//! codes); an indexed or repetitive column stays dictionary-encoded; a flipped or truncated
//! plain segment is a clear error.

use std::collections::BTreeSet;
use std::path::Path;

use logpivot::io::MappedFile;
use logpivot::segment::builder::Value;
use logpivot::segment::{encode_segment, flags, Cell, SegmentBuilder, SegmentReader, WriteOptions};

const ROWS: usize = 20_000;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The expected text of `id` in row `i` (None = null).
fn id_of(i: usize) -> Option<String> {
    match i {
        _ if i % 97 == 3 => None,
        12_345 => Some("7".to_string()), // arrives as an integer: widened to text
        _ if i >= 15_000 && i.is_multiple_of(50) => Some(format!("{:016x}", splitmix(5))), // repeats
        _ => Some(format!("{:016x}", splitmix(i as u64))),
    }
}

/// Build and write a segment: `id` near-unique, `cat` repetitive, `rid` near-unique but
/// indexed. One aborted row in the middle exercises truncation of a plain column.
fn write_segment(dir: &Path) -> std::path::PathBuf {
    let mut b = SegmentBuilder::new();
    for i in 0..ROWS {
        if i == 10_000 {
            b.begin_row();
            b.set("id", Value::Str("aborted"));
            b.set("cat", Value::Str("aborted"));
            b.abort_row();
        }
        b.begin_row();
        let id = id_of(i);
        match (i, &id) {
            (12_345, _) => b.set("id", Value::Int(7)),
            (_, Some(s)) => b.set("id", Value::Str(s)),
            (_, None) => {}
        }
        let cat = format!("c{}", i % 5);
        b.set("cat", Value::Str(&cat));
        let rid = format!("r{i:08}");
        b.set("rid", Value::Str(&rid));
        b.end_row();
    }
    let (rows, cols) = b.finish();
    assert_eq!(rows, ROWS);
    let opts = WriteOptions {
        index_columns: vec!["rid".to_string()],
        ..WriteOptions::default()
    };
    let seg = encode_segment(rows, cols, &opts);
    let path = dir.join("plain.lps");
    std::fs::write(&path, &seg.bytes).expect("write");
    path
}

fn open(path: &Path) -> logpivot::Result<SegmentReader> {
    SegmentReader::new(MappedFile::open(path)?)
}

#[test]
fn a_near_unique_column_is_plain_and_reads_back_like_a_dictionary_column() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_segment(tmp.path());
    let r = open(&path).expect("open");
    r.verify_all().expect("verify");
    let col = |name: &str| r.meta().column(name).expect("column");

    let (id, idm) = col("id");
    assert!(idm.flags & flags::PLAIN != 0, "id is plain");
    assert!(
        idm.flags & flags::WIDENED != 0,
        "the integer was kept as text"
    );
    assert!(idm.dict.is_none());
    let (_, catm) = col("cat");
    assert_eq!(
        catm.flags & flags::PLAIN,
        0,
        "a repetitive column keeps its dictionary"
    );
    assert_eq!(
        catm.cardinality, 5,
        "the aborted row's string was interned at once, and must not stay in the dictionary"
    );
    let (_, ridm) = col("rid");
    assert_eq!(
        ridm.flags & flags::PLAIN,
        0,
        "an indexed column keeps its dictionary"
    );
    assert!(r
        .meta()
        .index("rid", logpivot::segment::IndexKind::Values)
        .is_some());

    // Cells: every value, nulls where expected, the aborted row gone.
    let cells = r.column_cells(id).expect("cells");
    assert_eq!(cells.len(), ROWS);
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(c.clone(), id_of(i).map(Cell::Str), "row {i}");
    }
    assert_eq!(
        idm.null_count,
        (0..ROWS).filter(|i| i % 97 == 3).count() as u64
    );

    // The dictionary is the sorted distinct non-null values; codes index it.
    let want: BTreeSet<String> = (0..ROWS).filter_map(id_of).collect();
    let dict = r.dictionary(id).expect("dictionary");
    let got: Vec<String> = dict
        .iter()
        .map(|s| String::from_utf8_lossy(s).into())
        .collect();
    assert_eq!(got, want.iter().cloned().collect::<Vec<_>>());
    let mut row = 0;
    for bi in 0..idm.blocks.len() {
        let b = r.block(id, bi).expect("block");
        let logpivot::segment::Values::Codes(codes) = &b.values else {
            panic!("codes expected");
        };
        for (k, &code) in codes.iter().enumerate() {
            let expect = id_of(row + k);
            assert_eq!(b.is_valid(k), expect.is_some(), "row {}", row + k);
            if let Some(s) = expect {
                assert_eq!(dict.get(code), Some(s.as_bytes()), "row {}", row + k);
            }
        }
        row += codes.len();
    }
    assert_eq!(row, ROWS);
    let probe = id_of(1).expect("row 1 has an id");
    let codes = r
        .dictionary_codes(id, &[probe.as_bytes(), b"absent", b"7"])
        .expect("codes");
    assert_eq!(codes[0], dict.find(probe.as_bytes()));
    assert!(codes[0].is_some() && codes[2].is_some());
    assert_eq!(codes[1], None);

    // After release the column is decoded again, to the same answer.
    r.release_pages();
    assert_eq!(r.column_cells(id).expect("cells again"), cells);
}

#[test]
fn a_flipped_or_truncated_plain_segment_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write_segment(tmp.path());
    let bytes = std::fs::read(&path).expect("read");
    let bad = tmp.path().join("bad.lps");
    let check = |b: &[u8], what: &str| {
        std::fs::write(&bad, b).expect("write");
        let r = open(&bad).and_then(|r| {
            r.verify_all()?;
            for c in 0..r.meta().columns.len() {
                r.column_cells(c)?;
            }
            Ok(())
        });
        let err = r.expect_err(what);
        assert!(err.to_string().contains("bad.lps"), "{what}: {err}");
    };
    let step = (bytes.len() / 1500).max(1);
    for pos in (0..bytes.len())
        .step_by(step)
        .chain(bytes.len() - 30..bytes.len())
    {
        let mut b = bytes.clone();
        b[pos] ^= 1 << (pos % 8);
        check(&b, &format!("flip at byte {pos}"));
    }
    for len in (0..bytes.len()).step_by(step * 3) {
        check(&bytes[..len], &format!("truncated to {len}"));
    }
}
