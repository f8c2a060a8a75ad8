//! The library's one error type.
//!
//! Every variant names what a user needs to find the problem: the file, the line or the byte
//! offset. Lower layers (the pure codecs) return their own small error types without paths; the
//! layer that knows the path wraps them here. The CLI turns these into one line on stderr.

use std::path::PathBuf;

use crate::codec::DecodeError;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in logpivot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error on a named file.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A segment, index or manifest whose bytes are not what they must be.
    #[error("{path}: corrupt at byte {offset}: {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// A file written by a newer (or unknown) version of logpivot.
    #[error(
        "{path}: format version {found} is not supported (this build reads version {supported})"
    )]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Another process holds the data directory's writer lock.
    #[error("{path}: another ingest holds the writer lock (pid {holder}); wait for it to finish or run with --wait")]
    Locked { path: PathBuf, holder: String },
    /// An input line that is not acceptable, in `--strict` mode.
    #[error("{path}:{line} (byte {offset}): {reason}")]
    BadInput {
        path: String,
        line: u64,
        offset: u64,
        reason: String,
    },
    /// A data directory that does not exist or holds no manifest.
    #[error("{path}: not a logpivot data directory (no MANIFEST); run `logpivot ingest` first")]
    NoDataDir { path: PathBuf },
    /// A field a query or option names that no segment holds.
    #[error("unknown field `{name}`{hint}")]
    UnknownField { name: String, hint: String },
    /// A malformed user argument: a filter, a size, a time, a map file.
    #[error("{0}")]
    Invalid(String),
    /// The memory budget of a query was exceeded and nothing could be spilled.
    #[error("memory limit exceeded: {consumer} needs {needed} bytes more than --memory-limit {limit} allows ({hint})")]
    Memory {
        consumer: String,
        needed: u64,
        limit: u64,
        hint: String,
    },
    /// The spill directory cannot take more data.
    #[error("spill directory {path}: {what}")]
    Spill { path: PathBuf, what: String },
    /// An ingest whose inputs hold no log file at all.
    #[error("no JSON log found in {inputs}: {skipped}")]
    NoLogs { inputs: String, skipped: String },
    /// The operation was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A corruption found at `offset` of `path`.
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }

    /// Wrap a codec error found in a region that starts at `base` in `path`.
    pub fn decode(path: impl Into<PathBuf>, base: u64, err: DecodeError) -> Error {
        let rel = match &err {
            DecodeError::Truncated { offset, .. }
            | DecodeError::Invalid { offset, .. }
            | DecodeError::UnknownCodec { offset, .. } => *offset as u64,
        };
        Error::Corrupt {
            path: path.into(),
            offset: base + rel,
            what: err.to_string(),
        }
    }

    /// A malformed user argument.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
}

/// Extension to attach a path to `std::io::Result`.
pub trait IoContext<T> {
    /// Name the file an I/O error happened on.
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
