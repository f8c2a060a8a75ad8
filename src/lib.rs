//! logpivot: an out-of-core columnar storage and indexing engine for JSON security logs, with
//! enrichment joins and pivot tables on top.
//!
//! Layers, from the ground up (each imports only the ones below it; docs/ARCHITECTURE.md):
//!
//! - [`io`]: the one place that opens, maps, syncs, renames and locks files;
//! - [`codec`]: pure encode/decode over bytes (bit packing, integers, dictionaries);
//! - [`json`]: record splitting, simd-json parsing, flattening, time parsing;
//! - [`index`]: roaring bitmap indexes (rule values, time minutes), pure over bytes;
//! - [`segment`]: column builders, the segment writer and the validating reader;
//! - [`store`]: the data directory, manifest, writer lock and commit protocol, compaction,
//!   retention and reader leases;
//! - [`ingest`]: the parallel pipeline from JSON inputs to committed segments;
//! - [`query`]: filters, enrichment joins and pivot tables within a memory budget (spill);
//! - [`stats`]: contrast of a suspect set with a baseline, and per-event scoring;
//! - [`plot`]: charts of pivot tables and contrasts (SVG, PNG);

pub mod codec;
pub mod error;
pub mod index;
pub mod ingest;
pub mod io;
pub mod json;
pub mod plot;
pub mod pool;
pub mod query;
pub mod segment;
pub mod stats;
pub mod store;

pub use error::{Error, Result};

/// Set by a Ctrl-C handler (the CLI installs one): long operations stop at the next check,
/// return [`Error::Interrupted`], and clean up (spill files are removed as their owner drops).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Has Ctrl-C been pressed?
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A per-call cancellation token, carried by a request (`PivotRequest::cancel`,
/// `IngestOptions::cancel`): cancelling it stops the call that holds it, and only that call, at
/// its next check (about every segment, chunk or spill partition), which then cleans up and
/// returns [`Error::Interrupted`]. Clones share the flag. The process-wide [`INTERRUPTED`]
/// flag (the CLI's Ctrl-C handler) cancels every token.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancel the calls holding this token (or a clone of it).
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Was this token cancelled, or the whole process interrupted?
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) || interrupted()
    }

    /// `Err(Error::Interrupted)` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}
