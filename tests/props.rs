//! Property tests: every codec round-trips, decoders never panic on arbitrary bytes, and a
//! segment built from random typed rows reads back cell for cell.

use logpivot::codec::{bitpack, ints, strings};
use logpivot::io::MappedFile;
use logpivot::segment::builder::Value;
use logpivot::segment::{encode_segment, Cell, SegmentBuilder, SegmentReader, WriteOptions};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn time_index_bitmaps_hold_exactly_each_keys_rows(
        // Values in runs, as the minutes of events in time order are, a key coming back later.
        runs in prop::collection::vec((0i64..6, 1usize..40), 0..200),
        nulls in prop::collection::vec(prop::bool::weighted(0.05), 0..3000),
    ) {
        let values: Vec<i64> = runs
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
            .collect();
        let valid = |r: usize| !nulls.get(r).copied().unwrap_or(false);
        let (keys, maps) = logpivot::index::bitmaps_by_value(&values, valid);
        let mut want: std::collections::BTreeMap<i64, Vec<u32>> = Default::default();
        for (r, &v) in values.iter().enumerate() {
            if valid(r) {
                want.entry(v).or_default().push(r as u32);
            }
        }
        prop_assert_eq!(&keys, &want.keys().copied().collect::<Vec<_>>());
        for (m, rows) in maps.iter().zip(want.values()) {
            prop_assert_eq!(&m.iter().collect::<Vec<_>>(), rows);
        }
    }

    #[test]
    fn value_index_bitmaps_hold_exactly_each_codes_rows(
        codes in prop::collection::vec(0u32..12, 0..3000),
        nulls in prop::collection::vec(prop::bool::weighted(0.1), 0..3000),
    ) {
        // Codes 10 and 11 lie beyond the 10 codes of the dictionary: in no bitmap.
        let valid = |r: usize| !nulls.get(r).copied().unwrap_or(false);
        let maps = logpivot::index::bitmaps_by_code(&codes, valid, 10);
        prop_assert_eq!(maps.len(), 10);
        for (c, m) in maps.iter().enumerate() {
            let want: Vec<u32> = (0..codes.len())
                .filter(|&r| codes[r] as usize == c && valid(r))
                .map(|r| r as u32)
                .collect();
            prop_assert_eq!(m.iter().collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn ints_round_trip(values in prop::collection::vec(any::<i64>(), 0..3000)) {
        let mut buf = Vec::new();
        ints::encode_i64(&values, &mut buf);
        let mut out = Vec::new();
        let used = ints::decode_i64(&buf, values.len(), &mut out).expect("decode");
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(out, values);
    }

    #[test]
    fn few_distinct_wide_ints_round_trip(pool in prop::collection::vec(any::<i64>(), 1..40), picks in prop::collection::vec(any::<usize>(), 0..3000)) {
        let values: Vec<i64> = picks.iter().map(|p| pool[p % pool.len()]).collect();
        let mut buf = Vec::new();
        ints::encode_i64(&values, &mut buf);
        let mut out = Vec::new();
        let used = ints::decode_i64(&buf, values.len(), &mut out).expect("decode");
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(out, values);
    }

    #[test]
    fn sorted_times_round_trip_small(start in 1_600_000_000_000_000_000i64..1_800_000_000_000_000_000, steps in prop::collection::vec(0i64..5_000_000_000, 0..3000)) {
        let mut t = start;
        let values: Vec<i64> = steps.iter().map(|s| { t += s; t }).collect();
        let mut buf = Vec::new();
        ints::encode_i64(&values, &mut buf);
        prop_assert!(buf.len() <= 32 + values.len() * 5, "delta coding keeps sorted times small");
        let mut out = Vec::new();
        ints::decode_i64(&buf, values.len(), &mut out).expect("decode");
        prop_assert_eq!(out, values);
    }

    #[test]
    fn bitpack_u32_matches_pack(width in 0u8..=32, raw in prop::collection::vec(any::<u32>(), 0..2000)) {
        let mask = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
        let values: Vec<u32> = raw.iter().map(|v| v & mask).collect();
        let wide: Vec<u64> = values.iter().map(|&v| u64::from(v)).collect();
        let (mut a, mut b) = (vec![7u8], vec![7u8]);
        bitpack::pack(&wide, width, &mut a);
        bitpack::pack_u32(&values, width, &mut b);
        prop_assert_eq!(&a, &b);
        let mut out = Vec::new();
        bitpack::unpack_u32(&b[1..], width, values.len(), &mut out).expect("unpack");
        prop_assert_eq!(out, values);
    }

    #[test]
    fn bitpack_round_trip(width in 0u8..=64, raw in prop::collection::vec(any::<u64>(), 0..2000)) {
        let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
        let values: Vec<u64> = raw.iter().map(|v| v & mask).collect();
        let mut buf = Vec::new();
        bitpack::pack(&values, width, &mut buf);
        prop_assert_eq!(buf.len(), bitpack::packed_len(values.len(), width));
        let mut out = Vec::new();
        bitpack::unpack(&buf, width, values.len(), &mut out).expect("unpack");
        prop_assert_eq!(out, values);
    }

    #[test]
    fn dictionary_round_trip(mut items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..300)) {
        items.sort();
        items.dedup();
        let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
        let mut buf = Vec::new();
        strings::encode_dict(&refs, &mut buf);
        let (d, used) = strings::StrDict::parse(&buf).expect("parse");
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(d.len(), items.len());
        for (i, it) in items.iter().enumerate() {
            prop_assert_eq!(d.get(i as u32), Some(&it[..]));
            prop_assert_eq!(d.find(it), Some(i as u32));
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), n in 0usize..5000, width in any::<u8>()) {
        let mut o64 = Vec::new();
        let _ = ints::decode_i64(&bytes, n, &mut o64);
        let mut u = Vec::new();
        let _ = bitpack::unpack(&bytes, width, n, &mut u);
        let mut u32s = Vec::new();
        let _ = bitpack::unpack_u32(&bytes, width, n, &mut u32s);
        let _ = strings::StrDict::parse(&bytes);
        let _ = logpivot::segment::footer::decode_meta(&bytes, 1);
        let _ = logpivot::segment::footer::decode_meta(&bytes, 2);
        let _ = logpivot::index::KeyedBitmaps::parse(&bytes);
        for ty in [logpivot::segment::ColumnType::Bool, logpivot::segment::ColumnType::Int, logpivot::segment::ColumnType::Float, logpivot::segment::ColumnType::Str] {
            let _ = logpivot::segment::block::decode_block(&bytes, ty, n);
        }
    }
}

#[derive(Clone, Debug)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        Just(V::Null),
        any::<bool>().prop_map(V::Bool),
        any::<i64>().prop_map(V::Int),
        (-1e6f64..1e6).prop_map(V::Float),
        "[a-c]{0,3}".prop_map(V::Str),
    ]
}

/// What the documented widening rule says a column of these values reads back as.
fn expected_text(col: &[V]) -> Vec<Option<String>> {
    let has = |f: fn(&V) -> bool| col.iter().any(f);
    let only_ints_floats = !has(|v| matches!(v, V::Bool(_) | V::Str(_)));
    let ints_exact = col
        .iter()
        .all(|v| !matches!(v, V::Int(i) if i.unsigned_abs() > 1 << 53));
    let as_float = only_ints_floats && has(|v| matches!(v, V::Float(_))) && ints_exact;
    col.iter()
        .map(|v| match v {
            V::Null => None,
            V::Bool(b) => Some(b.to_string()),
            V::Int(i) if as_float => Some(format!("{:?}", *i as f64)),
            V::Int(i) => Some(i.to_string()),
            V::Float(f) => Some(format!("{f:?}")),
            V::Str(s) => Some(s.clone()),
        })
        .collect()
}

/// Encode a finished builder's columns, write the segment to a temporary file, open it and
/// verify every region. The directory lives as long as the returned guard.
fn written(
    rows: usize,
    cols: Vec<(String, logpivot::segment::builder::ColumnBuilder)>,
) -> (tempfile::TempDir, SegmentReader) {
    let enc = encode_segment(rows, cols, &WriteOptions::default());
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("s.lps");
    std::fs::write(&p, &enc.bytes).expect("write");
    let r = SegmentReader::new(MappedFile::open(&p).expect("map")).expect("open");
    r.verify_all().expect("verify");
    (dir, r)
}

/// Column `name` as text per row (all null when the segment has no such column).
fn column_text(r: &SegmentReader, name: &str, rows: usize) -> Vec<Option<String>> {
    match r.meta().column(name) {
        Some((idx, _)) => r
            .column_cells(idx)
            .expect("cells")
            .into_iter()
            .map(|c| c.map(|c: Cell| c.to_text()))
            .collect(),
        None => vec![None; rows],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn segment_round_trip(rows in prop::collection::vec(prop::collection::vec(value(), 3), 1..300)) {
        let mut b = SegmentBuilder::new();
        for r in &rows {
            b.begin_row();
            for (ci, v) in r.iter().enumerate() {
                let name = format!("c{ci}");
                let val = match v {
                    V::Null => continue,
                    V::Bool(x) => Value::Bool(*x),
                    V::Int(x) => Value::Int(*x),
                    V::Float(x) => Value::Float(*x),
                    V::Str(s) => Value::Str(s),
                };
                b.set(&name, val);
            }
            b.end_row();
        }
        let (n, cols) = b.finish();
        let (_dir, r) = written(n, cols);
        for ci in 0..3 {
            let col: Vec<V> = rows.iter().map(|row| row[ci].clone()).collect();
            let want = expected_text(&col);
            prop_assert_eq!(column_text(&r, &format!("c{ci}"), rows.len()), want, "column c{}", ci);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Columns with a value in few rows are written as sparse blocks (format v4): every value
    /// and every null reads back, whatever the density around the 1/8 threshold.
    #[test]
    fn sparse_columns_round_trip(
        rows in prop::collection::vec(
            (
                prop::option::weighted(0.06, any::<bool>()),
                prop::option::weighted(0.1, any::<i64>()),
                prop::option::weighted(0.14, -1e6f64..1e6),
                prop::option::weighted(0.03, "[a-d]{0,3}"),
            ),
            1..400,
        )
    ) {
        let mut b = SegmentBuilder::new();
        for (x, i, f, s) in &rows {
            b.begin_row();
            b.set("always", Value::Int(1));
            if let Some(x) = x { b.set("b", Value::Bool(*x)); }
            if let Some(i) = i { b.set("i", Value::Int(*i)); }
            if let Some(f) = f { b.set("f", Value::Float(*f)); }
            if let Some(s) = s { b.set("s", Value::Str(s)); }
            b.end_row();
        }
        let (n, cols) = b.finish();
        let (_dir, r) = written(n, cols);
        let cells = |name: &str| column_text(&r, name, rows.len());
        prop_assert_eq!(cells("b"), rows.iter().map(|r| r.0.map(|x| x.to_string())).collect::<Vec<_>>());
        prop_assert_eq!(cells("i"), rows.iter().map(|r| r.1.map(|x| x.to_string())).collect::<Vec<_>>());
        prop_assert_eq!(cells("f"), rows.iter().map(|r| r.2.map(|x| format!("{x:?}"))).collect::<Vec<_>>());
        prop_assert_eq!(cells("s"), rows.iter().map(|r| r.3.clone()).collect::<Vec<_>>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Keys first seen late in a segment are held from their first value on (the builder's
    /// `base`) and padded only when written: every value and null reads back, through type
    /// widening (an int column that later gets a string), aborted records, and columns that
    /// appear only in the last rows.
    #[test]
    fn late_keys_round_trip(
        rows in 1usize..1500,
        keys in prop::collection::vec((0usize..1500, 1usize..40, 0u8..3), 1..6),
        aborts in prop::collection::vec(0usize..1500, 0..8),
    ) {
        // Key k starts at row first_k, then has a value every step_k rows; kind 0 ints, 1 strings,
        // 2 ints that turn into strings halfway.
        let mut want: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows); keys.len()];
        let mut b = SegmentBuilder::new();
        for r in 0..rows {
            if aborts.contains(&r) {
                // A record that fails half-way: its values must vanish.
                b.begin_row();
                for k in 0..keys.len() {
                    b.set(&format!("k{k}"), Value::Str("aborted"));
                }
                b.set("late_abort", Value::Int(1));
                b.abort_row();
            }
            b.begin_row();
            b.set("row", Value::Int(r as i64));
            for (k, &(first, step, kind)) in keys.iter().enumerate() {
                let mut got = None;
                if r >= first && (r - first).is_multiple_of(step) {
                    let text = format!("{}", r * 7 + k);
                    let v = match kind {
                        0 => Value::Int((r * 7 + k) as i64),
                        2 if r < first + (rows - first) / 2 => Value::Int((r * 7 + k) as i64),
                        _ => Value::Str(&text),
                    };
                    b.set(&format!("k{k}"), v);
                    got = Some(text.clone());
                }
                want[k].push(got);
            }
            b.end_row();
        }
        let (n, cols) = b.finish();
        prop_assert_eq!(n, rows);
        let (_dir, r) = written(n, cols);
        let aborted_only_nulls = r.meta().column("late_abort").is_none_or(|(idx, _)| {
            r.column_cells(idx).expect("cells").iter().all(Option::is_none)
        });
        prop_assert!(aborted_only_nulls);
        for (k, w) in want.iter().enumerate() {
            prop_assert_eq!(&column_text(&r, &format!("k{k}"), rows), w, "key k{}", k);
        }
    }
}
