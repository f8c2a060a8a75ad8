//! Segments: immutable column files, one per batch of up to about a million events.
//!
//! - [`builder`] accumulates typed column values in memory (a `SegmentBuilder`).
//! - [`writer`] serializes a finished builder into the byte layout of docs/FORMAT.md.
//! - [`reader`] validates a mapped segment and decodes blocks and dictionaries zero-copy where
//!   it can.
//! - [`footer`] is the metadata section (column directory, block directory, index directory)
//!   and the fixed trailer.
//!
//! Must not: open files (it receives bytes from `io`), parse JSON, or know about queries.

pub mod block;
pub mod builder;
pub mod footer;
pub mod merge;
pub mod reader;
pub mod writer;

pub use builder::{ColumnBuilder, SegmentBuilder};
pub use footer::{BlockMeta, ColumnMeta, IndexChunk, IndexKind, IndexMeta, Region, SegmentMeta};
pub use reader::{
    kept_bytes, set_kept_budget, Block, Cell, Dictionary, IndexReader, KeptCap, RegionBytes,
    SegmentReader, Values, KEPT_BYTES_DEFAULT, KEPT_REGION_MAX,
};
pub use writer::{encode_segment, WriteOptions};

/// Rows per column block: the unit of decoding, min/max pruning and parallelism.
pub const BLOCK_ROWS: usize = 65_536;

/// Magic at the start of every segment file.
pub const HEADER_MAGIC: &[u8; 8] = b"LPSEG\0\0\x01";
/// Magic at the very end of every segment file.
pub const TRAILER_MAGIC: &[u8; 8] = b"LPSEGEND";
/// The segment format version this build writes. Version 4 adds sparse blocks (only the rows
/// with a value, and their positions: a block at most 1/8 non-null). Version 3 adds plain string
/// columns (column flag [`flags::PLAIN`]: near-unique strings stored in their blocks, without a
/// dictionary).
/// Version 2 stores each index as a directory region and chunks of whole bitmaps; version 1
/// stored it as one region.
pub const FORMAT_VERSION: u32 = 4;
/// The oldest segment format version this build reads.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// The name of the derived event-time column (i64 nanoseconds UTC).
pub const TIME_COLUMN: &str = "_time";
/// The name of the derived column holding the input file an event came from.
pub const FILE_COLUMN: &str = "_file";
/// The name of the derived column holding the 1-based line an event started on.
pub const LINE_COLUMN: &str = "_line";

/// The physical type of a column within one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColumnType {
    Bool = 1,
    Int = 2,
    Float = 3,
    Str = 4,
    /// i64 nanoseconds since the Unix epoch, UTC.
    Time = 5,
}

impl TryFrom<u8> for ColumnType {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        Ok(match v {
            1 => ColumnType::Bool,
            2 => ColumnType::Int,
            3 => ColumnType::Float,
            4 => ColumnType::Str,
            5 => ColumnType::Time,
            other => return Err(other),
        })
    }
}

impl ColumnType {
    /// Lower-case name for display.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Bool => "bool",
            ColumnType::Int => "int64",
            ColumnType::Float => "float64",
            ColumnType::Str => "string",
            ColumnType::Time => "timestamp",
        }
    }
}

/// How a region of the file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BlockCompression {
    None = 0,
    Zstd = 1,
}

impl TryFrom<u8> for BlockCompression {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            0 => Ok(BlockCompression::None),
            1 => Ok(BlockCompression::Zstd),
            other => Err(other),
        }
    }
}

/// Column flags (a bit set stored per column).
pub mod flags {
    /// Some values are JSON text of arrays or empty objects.
    pub const JSON_TEXT: u8 = 1;
    /// Some numbers or booleans were widened to their JSON text because the column mixed types.
    pub const WIDENED: u8 = 2;
    /// A string column stored without a dictionary: each block holds its rows' strings
    /// (format v3; chosen by the builder for near-unique columns such as a request ID).
    pub const PLAIN: u8 = 4;
}
