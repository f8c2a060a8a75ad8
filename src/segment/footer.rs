//! The segment footer: the metadata section and the fixed trailer.
//!
//! ```text
//! ... column blocks, dictionaries, index blobs ...
//! meta        (encoded SegmentMeta, see `encode_meta`)
//! trailer     24 bytes: u64 meta_len | u32 crc32(meta) | u32 format version | 8 bytes "LPSEGEND"
//! ```
//! All integers little-endian; variable-length integers are LEB128.

use crate::codec::bytes::{self as b, ByteReader};
use crate::codec::DecodeError;

use super::{BlockCompression, ColumnType};

/// Size of the fixed trailer.
pub const TRAILER_LEN: usize = 24;

/// A byte range of the segment file and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub offset: u64,
    /// Stored (possibly compressed) length.
    pub len: u64,
    /// Length after decompression.
    pub raw_len: u64,
    /// 0 = none, 1 = zstd (see [`BlockCompression`]).
    pub compression: u8,
    /// crc32 of the stored bytes.
    pub crc: u32,
}

/// One column block's directory entry.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockMeta {
    pub region: Region,
    pub rows: u32,
    pub null_count: u32,
    /// Minimum and maximum of the block's non-null values: i64 for int and time, f64 bits for
    /// float, dictionary codes for string, 0/1 for bool. Meaningless when all rows are null.
    pub min: i64,
    pub max: i64,
}

/// One column's directory entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnMeta {
    pub name: String,
    pub ty: ColumnType,
    pub flags: u8,
    pub null_count: u64,
    /// Distinct values (string columns: dictionary size; others: 0 = not computed).
    pub cardinality: u64,
    /// The dictionary of a string column.
    pub dict: Option<Region>,
    pub blocks: Vec<BlockMeta>,
}

impl ColumnMeta {
    /// Stored bytes of this column (blocks and dictionary).
    pub fn stored_bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.region.len).sum::<u64>()
            + self.dict.map(|d| d.len).unwrap_or(0)
    }
}

/// Kinds of index blobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IndexKind {
    /// A bitmap per distinct value of a column (the rule-ID index).
    Values = 1,
    /// A bitmap per minute of event time.
    TimeMinutes = 2,
}

impl TryFrom<u8> for IndexKind {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            1 => Ok(IndexKind::Values),
            2 => Ok(IndexKind::TimeMinutes),
            other => Err(other),
        }
    }
}

/// One index's directory entry.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMeta {
    pub column: String,
    pub kind: IndexKind,
    /// Format v2: the index directory (keys and bitmap offsets). Format v1: the whole blob.
    pub region: Region,
    /// Format v2: the bitmap area in chunks of whole bitmaps, in order. Empty in format v1
    /// (see `chunked`) and for an index without keys.
    pub chunks: Vec<IndexChunk>,
    /// True when `region` holds only the directory and the bitmaps are in `chunks` (v2).
    pub chunked: bool,
}

impl IndexMeta {
    /// Stored bytes of the index (directory and chunks).
    pub fn stored_bytes(&self) -> u64 {
        self.region.len + self.chunks.iter().map(|c| c.region.len).sum::<u64>()
    }
}

/// One chunk of an index's bitmap area (format v2).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexChunk {
    /// Position (in key order) of the first bitmap in the chunk.
    pub first: u64,
    pub region: Region,
}

/// Everything the footer says about a segment.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SegmentMeta {
    pub rows: u64,
    /// Event-time range of the rows that have a time (None when no row has one).
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// Rows whose time was missing or unparseable.
    pub null_time: u64,
    pub columns: Vec<ColumnMeta>,
    pub indexes: Vec<IndexMeta>,
}

impl SegmentMeta {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<(usize, &ColumnMeta)> {
        self.columns
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| (i, &self.columns[i]))
    }

    /// The index of `kind` on `column`.
    pub fn index(&self, column: &str, kind: IndexKind) -> Option<&IndexMeta> {
        self.indexes
            .iter()
            .find(|i| i.kind == kind && i.column == column)
    }
}

fn put_region(out: &mut Vec<u8>, r: &Region) {
    b::put_varint_u64(out, r.offset);
    b::put_varint_u64(out, r.len);
    b::put_varint_u64(out, r.raw_len);
    b::put_u8(out, r.compression);
    b::put_u32_le(out, r.crc);
}

fn get_region(r: &mut ByteReader<'_>) -> Result<Region, DecodeError> {
    let region = Region {
        offset: r.read_varint_u64()?,
        len: r.read_varint_u64()?,
        raw_len: r.read_varint_u64()?,
        compression: r.read_u8()?,
        crc: r.read_u32_le()?,
    };
    BlockCompression::try_from(region.compression).map_err(|id| DecodeError::UnknownCodec {
        offset: r.pos() - 5,
        kind: "compression",
        id,
    })?;
    Ok(region)
}

fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(x) => {
            b::put_u8(out, 1);
            b::put_i64_le(out, x);
        }
        None => b::put_u8(out, 0),
    }
}

fn get_opt_i64(r: &mut ByteReader<'_>) -> Result<Option<i64>, DecodeError> {
    match r.read_u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.read_i64_le()?)),
        _ => Err(DecodeError::Invalid {
            offset: r.pos() - 1,
            what: "bad option tag",
        }),
    }
}

/// Encode the metadata section.
pub fn encode_meta(m: &SegmentMeta, out: &mut Vec<u8>) {
    b::put_varint_u64(out, m.rows);
    put_opt_i64(out, m.min_time);
    put_opt_i64(out, m.max_time);
    b::put_varint_u64(out, m.null_time);
    b::put_varint_u64(out, m.columns.len() as u64);
    for c in &m.columns {
        b::put_len_prefixed(out, c.name.as_bytes());
        b::put_u8(out, c.ty as u8);
        b::put_u8(out, c.flags);
        b::put_varint_u64(out, c.null_count);
        b::put_varint_u64(out, c.cardinality);
        match &c.dict {
            Some(d) => {
                b::put_u8(out, 1);
                put_region(out, d);
            }
            None => b::put_u8(out, 0),
        }
        b::put_varint_u64(out, c.blocks.len() as u64);
        for blk in &c.blocks {
            put_region(out, &blk.region);
            b::put_varint_u64(out, blk.rows as u64);
            b::put_varint_u64(out, blk.null_count as u64);
            b::put_i64_le(out, blk.min);
            b::put_i64_le(out, blk.max);
        }
    }
    b::put_varint_u64(out, m.indexes.len() as u64);
    for i in &m.indexes {
        b::put_len_prefixed(out, i.column.as_bytes());
        b::put_u8(out, i.kind as u8);
        put_region(out, &i.region);
        b::put_varint_u64(out, i.chunks.len() as u64);
        for c in &i.chunks {
            b::put_varint_u64(out, c.first);
            put_region(out, &c.region);
        }
    }
}

fn bounded_count(r: &ByteReader<'_>, n: u64, min_bytes_each: usize) -> Result<usize, DecodeError> {
    if n > (r.remaining() / min_bytes_each.max(1)) as u64 {
        return Err(DecodeError::Invalid {
            offset: r.pos(),
            what: "count larger than the section",
        });
    }
    Ok(n as usize)
}

fn get_string(r: &mut ByteReader<'_>) -> Result<String, DecodeError> {
    let at = r.pos();
    let bytes = r.read_len_prefixed()?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid {
        offset: at,
        what: "name is not UTF-8",
    })
}

/// Decode the metadata section of a segment of format `version` (1 to 4: v2 adds the chunk
/// list after each index's region; v3's and v4's sections are v2's).
pub fn decode_meta(data: &[u8], version: u32) -> Result<SegmentMeta, DecodeError> {
    let mut r = ByteReader::new(data);
    let rows = r.read_varint_u64()?;
    let min_time = get_opt_i64(&mut r)?;
    let max_time = get_opt_i64(&mut r)?;
    let null_time = r.read_varint_u64()?;
    let ncols = r.read_varint_u64()?;
    let ncols = bounded_count(&r, ncols, 4)?;
    let mut columns = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        columns.push(get_column(&mut r)?);
    }
    let nidx = r.read_varint_u64()?;
    let nidx = bounded_count(&r, nidx, 4)?;
    let mut indexes = Vec::with_capacity(nidx);
    for _ in 0..nidx {
        let column = get_string(&mut r)?;
        let at = r.pos();
        let kind = IndexKind::try_from(r.read_u8()?).map_err(|id| DecodeError::UnknownCodec {
            offset: at,
            kind: "index kind",
            id,
        })?;
        let region = get_region(&mut r)?;
        let chunked = version >= 2;
        let mut chunks = Vec::new();
        if chunked {
            let nchunks = r.read_varint_u64()?;
            let nchunks = bounded_count(&r, nchunks, 9)?;
            chunks.reserve(nchunks);
            for _ in 0..nchunks {
                let first = r.read_varint_u64()?;
                chunks.push(IndexChunk {
                    first,
                    region: get_region(&mut r)?,
                });
            }
        }
        indexes.push(IndexMeta {
            column,
            kind,
            region,
            chunks,
            chunked,
        });
    }
    if r.remaining() != 0 {
        return Err(DecodeError::Invalid {
            offset: r.pos(),
            what: "trailing bytes after the metadata",
        });
    }
    Ok(SegmentMeta {
        rows,
        min_time,
        max_time,
        null_time,
        columns,
        indexes,
    })
}

fn get_column(r: &mut ByteReader<'_>) -> Result<ColumnMeta, DecodeError> {
    let name = get_string(r)?;
    let at = r.pos();
    let ty = ColumnType::try_from(r.read_u8()?).map_err(|id| DecodeError::UnknownCodec {
        offset: at,
        kind: "column type",
        id,
    })?;
    let flags = r.read_u8()?;
    let null_count = r.read_varint_u64()?;
    let cardinality = r.read_varint_u64()?;
    let dict = match r.read_u8()? {
        0 => None,
        1 => Some(get_region(r)?),
        _ => {
            return Err(DecodeError::Invalid {
                offset: r.pos() - 1,
                what: "bad dictionary tag",
            })
        }
    };
    let nblocks = r.read_varint_u64()?;
    let nblocks = bounded_count(r, nblocks, 24)?;
    let mut blocks = Vec::with_capacity(nblocks);
    for _ in 0..nblocks {
        let region = get_region(r)?;
        let rows = r.read_varint_u64()?;
        let nulls = r.read_varint_u64()?;
        if rows > u32::MAX as u64 || nulls > rows {
            return Err(DecodeError::Invalid {
                offset: r.pos(),
                what: "block row counts out of range",
            });
        }
        blocks.push(BlockMeta {
            region,
            rows: rows as u32,
            null_count: nulls as u32,
            min: r.read_i64_le()?,
            max: r.read_i64_le()?,
        });
    }
    Ok(ColumnMeta {
        name,
        ty,
        flags,
        null_count,
        cardinality,
        dict,
        blocks,
    })
}

/// Encode the trailer for a metadata section.
pub fn encode_trailer(meta: &[u8], version: u32, magic: &[u8; 8], out: &mut Vec<u8>) {
    b::put_u64_le(out, meta.len() as u64);
    b::put_u32_le(out, meta_crc(meta, version));
    b::put_u32_le(out, version);
    out.extend_from_slice(magic);
}

/// The trailer's checksum: crc32 of the metadata, and from format v3 on of the metadata
/// followed by the version (`u32` LE), so that a flipped version is detected too (v2 and v3
/// segments without a plain column differ only in that number).
pub fn meta_crc(meta: &[u8], version: u32) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(meta);
    if version >= 3 {
        h.update(&version.to_le_bytes());
    }
    h.finalize()
}

/// The decoded trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub meta_len: u64,
    pub meta_crc: u32,
    pub version: u32,
}

/// Decode the last [`TRAILER_LEN`] bytes. The caller checks the magic.
pub fn decode_trailer(t: &[u8]) -> Result<Trailer, DecodeError> {
    let mut r = ByteReader::new(t);
    Ok(Trailer {
        meta_len: r.read_u64_le()?,
        meta_crc: r.read_u32_le()?,
        version: r.read_u32_le()?,
    })
}
