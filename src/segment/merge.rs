//! Rows of several segments, rebuilt into new segments: what compaction, retention and the end
//! of an ingest run (its workers' last partial segments) do.
//!
//! Rows are rebuilt column by column through the same [`ColumnBuilder`]s an ingest uses, so a
//! merged segment holds what one ingest of the same events in that order would have built:
//! dictionaries are rebuilt, a column whose type differs between the sources widens by the
//! builder's rule (docs/FORMAT.md 7.3), plain and sparse layouts are chosen afresh, and the
//! value and minute indexes are written anew by [`encode_segment`].
//!
//! Must not: open or write files (the caller hands it readers and writes the bytes).

use std::sync::Arc;

use super::block::{Block, Values};
use super::builder::{ColumnBuilder, Value};
use super::reader::{Dictionary, SegmentReader};
use super::writer::{encode_segment, EncodedSegment, WriteOptions};
use super::{flags, ColumnType, BLOCK_ROWS, TIME_COLUMN};
use crate::error::{Error, Result};

/// One row of one source: (index of the source, row in it).
pub type RowRef = (u32, u32);

/// The event time of every row of `seg` (None: no time), from its `_time` column.
pub fn row_times(seg: &SegmentReader) -> Result<Vec<Option<i64>>> {
    let rows = seg.meta().rows as usize;
    let Some((ci, c)) = seg.meta().column(TIME_COLUMN) else {
        return Ok(vec![None; rows]);
    };
    if c.ty != ColumnType::Time {
        return Ok(vec![None; rows]);
    }
    let mut out = Vec::with_capacity(rows);
    for bi in 0..c.blocks.len() {
        let b = seg.block(ci, bi)?;
        if let Values::Int(v) = &b.values {
            out.extend(
                v.iter()
                    .enumerate()
                    .map(|(i, &t)| b.is_valid(i).then_some(t)),
            );
        }
    }
    if out.len() != rows {
        return Err(Error::corrupt(
            seg.path(),
            0,
            format!(
                "the time column holds {} rows, the segment {rows}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// The rows of `sources` that `keep` accepts (given each row's event time), ordered by event
/// time; rows without a time come last; ties keep the sources' order and their row order.
pub fn time_order(
    sources: &[&SegmentReader],
    keep: impl Fn(Option<i64>) -> bool,
) -> Result<Vec<RowRef>> {
    let mut keyed: Vec<(bool, i64, u32, u32)> = Vec::new();
    for (s, seg) in sources.iter().enumerate() {
        for (i, t) in row_times(seg)?.into_iter().enumerate() {
            if keep(t) {
                keyed.push((t.is_none(), t.unwrap_or(0), s as u32, i as u32));
            }
        }
    }
    keyed.sort_unstable();
    Ok(keyed.into_iter().map(|(_, _, s, i)| (s, i)).collect())
}

/// One source's column, decoded whole.
struct SourceColumn {
    blocks: Vec<Block>,
    /// First row of each block.
    starts: Vec<usize>,
    dict: Arc<Dictionary>,
    ty: ColumnType,
    /// Every block but the last holds BLOCK_ROWS rows.
    uniform: bool,
}

impl SourceColumn {
    fn read(seg: &SegmentReader, ci: usize) -> Result<SourceColumn> {
        let c = &seg.meta().columns[ci];
        let mut blocks = Vec::with_capacity(c.blocks.len());
        let mut starts = Vec::with_capacity(c.blocks.len());
        let mut at = 0usize;
        for bi in 0..c.blocks.len() {
            starts.push(at);
            at += c.blocks[bi].rows as usize;
            blocks.push(seg.block(ci, bi)?);
        }
        let uniform = c
            .blocks
            .iter()
            .rev()
            .skip(1)
            .all(|b| b.rows as usize == BLOCK_ROWS);
        Ok(SourceColumn {
            blocks,
            starts,
            dict: seg.dictionary(ci)?,
            ty: c.ty,
            uniform,
        })
    }

    /// The block holding `row` and the row's place in it.
    fn locate(&self, row: usize) -> Option<(&Block, usize)> {
        // Blocks hold BLOCK_ROWS rows but the last: found by a division, else searched.
        let bi = if self.uniform {
            row / BLOCK_ROWS
        } else {
            self.starts.partition_point(|&s| s <= row).saturating_sub(1)
        };
        let b = self.blocks.get(bi)?;
        let i = row - self.starts[bi];
        (i < b.values.len() && b.is_valid(i)).then_some((b, i))
    }
}

/// A source column's strings, validated as UTF-8 once.
struct Strings<'a> {
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Strings<'a> {
    fn of(col: &'a SourceColumn, path: &std::path::Path) -> Result<Strings<'a>> {
        let (text, ends) = col
            .dict
            .text()
            .map_err(|e| Error::corrupt(path, 0, format!("a dictionary that is not UTF-8: {e}")))?;
        Ok(Strings { text, ends })
    }

    fn get(&self, code: u32, path: &std::path::Path) -> Result<&'a str> {
        let i = code as usize;
        let end = self.ends.get(i).copied();
        let start = if i == 0 {
            Some(0)
        } else {
            self.ends.get(i - 1).copied()
        };
        start
            .zip(end)
            .and_then(|(s, e)| self.text.get(s..e))
            .ok_or_else(|| Error::corrupt(path, 0, format!("dictionary code {code} out of range")))
    }
}

/// The value of `row` of `col` (Null when null or past the end).
fn value<'a>(
    col: &'a SourceColumn,
    strings: &Option<Strings<'a>>,
    row: usize,
    path: &std::path::Path,
) -> Result<Value<'a>> {
    let Some((b, i)) = col.locate(row) else {
        return Ok(Value::Null);
    };
    Ok(match &b.values {
        Values::Bool(v) => Value::Bool(v[i]),
        Values::Int(v) => Value::Int(v[i]),
        Values::Float(v) => Value::Float(v[i]),
        Values::Codes(v) => match strings {
            Some(s) => Value::Str(s.get(v[i], path)?),
            None => Value::Null,
        },
    })
}

/// Build one segment of `rows` (in that order) from `sources`.
pub fn merge(
    sources: &[&SegmentReader],
    rows: &[RowRef],
    opts: &WriteOptions,
) -> Result<EncodedSegment> {
    let mut names: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.meta().columns.iter().map(|c| c.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut columns: Vec<(String, ColumnBuilder)> = Vec::with_capacity(names.len());
    for name in names {
        // Only the sources that have the column are decoded; the others' rows are nulls.
        let mut cols: Vec<Option<SourceColumn>> = Vec::with_capacity(sources.len());
        let mut text_flags = 0u8;
        for s in sources {
            match s.meta().column(name) {
                Some((ci, c)) => {
                    text_flags |= c.flags & (flags::JSON_TEXT | flags::WIDENED);
                    cols.push(Some(SourceColumn::read(s, ci)?));
                }
                None => cols.push(None),
            }
        }
        let time = cols.iter().flatten().any(|c| c.ty == ColumnType::Time);
        let strings = cols
            .iter()
            .zip(sources)
            .map(|(c, s)| match c {
                Some(c) if c.ty == ColumnType::Str => Strings::of(c, s.path()).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut b = ColumnBuilder::new(0, name == TIME_COLUMN && time);
        for (r, &(s, i)) in rows.iter().enumerate() {
            let Some(Some(col)) = cols.get(s as usize) else {
                continue;
            };
            let v = value(
                col,
                &strings[s as usize],
                i as usize,
                sources[s as usize].path(),
            )?;
            if v != Value::Null {
                b.pad_to(r);
                b.push(v);
            }
        }
        if b.column_type() == ColumnType::Str {
            b.flags |= text_flags;
        }
        columns.push((name.to_string(), b));
        // The decoded source columns are dropped here, one column at a time.
    }
    for (_, c) in &mut columns {
        c.intern_pending();
    }
    Ok(encode_segment(rows.len(), columns, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MappedFile;
    use crate::segment::{Cell, SegmentBuilder};

    fn segment(
        dir: &std::path::Path,
        name: &str,
        rows: &[Vec<(&str, Value<'_>)>],
    ) -> SegmentReader {
        let mut b = SegmentBuilder::new();
        for r in rows {
            b.begin_row();
            for (k, v) in r {
                b.set(k, *v);
            }
            b.end_row();
        }
        let (n, cols) = b.finish();
        let enc = encode_segment(n, cols, &WriteOptions::default());
        let path = dir.join(name);
        std::fs::write(&path, &enc.bytes).unwrap();
        SegmentReader::new(MappedFile::open(&path).unwrap()).unwrap()
    }

    fn rows_of(seg: &SegmentReader) -> Vec<Vec<(String, String)>> {
        let n = seg.meta().rows as usize;
        let cells = seg.row_cells(&(0..n).collect::<Vec<_>>()).unwrap();
        cells
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|(ci, c)| {
                        let text = match c {
                            Cell::Str(s) => format!("s:{s}"),
                            other => format!("{other:?}"),
                        };
                        (seg.meta().columns[ci].name.clone(), text)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn merged_rows_are_the_sources_rows_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = segment(
            dir.path(),
            "a",
            &[
                vec![
                    ("_time", Value::Int(30)),
                    ("ip", Value::Str("x")),
                    ("n", Value::Int(1)),
                ],
                vec![("ip", Value::Str("y"))],
                vec![
                    ("_time", Value::Int(10)),
                    ("ip", Value::Str("z")),
                    ("b", Value::Bool(true)),
                ],
            ],
        );
        let b = segment(
            dir.path(),
            "b",
            &[
                vec![
                    ("_time", Value::Int(20)),
                    ("ip", Value::Str("x")),
                    ("n", Value::Str("two")),
                ],
                vec![("_time", Value::Int(10)), ("f", Value::Float(1.5))],
            ],
        );
        let order = time_order(&[&a, &b], |_| true).unwrap();
        assert_eq!(order, vec![(0, 2), (1, 1), (1, 0), (0, 0), (0, 1)]);
        let enc = merge(&[&a, &b], &order, &WriteOptions::default()).unwrap();
        let path = dir.path().join("m");
        std::fs::write(&path, &enc.bytes).unwrap();
        let m = SegmentReader::new(MappedFile::open(&path).unwrap()).unwrap();
        m.verify_all().unwrap();
        assert_eq!(m.meta().rows, 5);
        assert_eq!((m.meta().min_time, m.meta().max_time), (Some(10), Some(30)));
        assert_eq!(m.meta().null_time, 1);
        let got = rows_of(&m);
        let (ra, rb) = (rows_of(&a), rows_of(&b));
        let want: Vec<_> = [&ra[2], &rb[1], &rb[0], &ra[0], &ra[1]]
            .into_iter()
            .cloned()
            .collect();
        // `n` mixed int and string: the int widened to its JSON text, as one ingest would.
        let want: Vec<_> = want
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|(k, v)| {
                        if v == "Int(1)" && k == "n" {
                            (k, "s:1".into())
                        } else {
                            (k, v)
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(got, want);
        let (_, n) = m.meta().column("n").unwrap();
        assert_eq!(n.ty, ColumnType::Str);
        assert_ne!(n.flags & flags::WIDENED, 0);
    }

    #[test]
    fn a_filter_drops_rows_and_keeps_untimed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let a = segment(
            dir.path(),
            "a",
            &[
                vec![("_time", Value::Int(5))],
                vec![("x", Value::Int(1))],
                vec![("_time", Value::Int(50))],
            ],
        );
        let order = time_order(&[&a], |t| t.is_none_or(|t| t >= 10)).unwrap();
        assert_eq!(order, vec![(0, 2), (0, 1)]);
    }
}
