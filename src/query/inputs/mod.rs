//! The inputs room: what a query reads besides the segments.
//!
//! - [`csvmap`]: CSV enrichment maps for `--join FILE:FIELD=COLUMN` (RFC 4180, gzip read
//!   through `io`; duplicate keys are errors naming both lines).
//!
//! Contract: depends on nothing else in `query`; a map is parsed once per query and shared.

pub mod csvmap;
