//! The language room: what a user writes after `--where`, `--suspect` and `--baseline`.
//!
//! - [`expr`]: the grammar, its parser with byte-position errors, the AST and the canonical
//!   rendering `--explain` prints. Pure: no segment, no schema.
//! - [`filter`]: an expression (and a `--from`/`--to` range) evaluated over one segment into
//!   a bit set of selected rows, from the bitmap and time indexes where they answer and from
//!   column scans where they do not.
//!
//! Contract: depends on `plan` only for the schema (field names to columns); knows nothing of
//! grouping, aggregation, spill or output.

pub mod expr;
pub mod filter;
