//! Comparing a suspect set of events with known-good traffic, as a spam filter compares spam
//! with ham: per-value contrast statistics ([`contrast`]) and per-event scores ([`score`]).
//! The statistics themselves are pure functions over counts ([`math`]); docs/STATISTICS.md
//! gives the formulas, their references and a worked example.
//!
//! Sits above `query`: counts come from pivots (indexes, memory budget and spill included)
//! and the event scan from the query engine's row access.

pub mod contrast;
pub mod math;
pub mod score;
pub mod values;

pub use contrast::{contrast, Contrast, ContrastRequest, Rank, Smoothing, Token};
pub use score::{score, ScoreRequest, ScoreResult, ScoredEvent, Scorer};
