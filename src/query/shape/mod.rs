//! The shaping and output room: from merged groups to what the user reads.
//!
//! - [`value`]: group-key values and aggregate states, their order and their byte encoding
//!   (the vocabulary the execution room's tables and spill runs are written in);
//! - [`pivot`]: groups into a pivot table: rows x column values, `--cols-top` and `OTHER`,
//!   totals, sorting, an exact `--top N`;
//! - [`output`]: a pivot table as an aligned terminal table, CSV, JSON lines or Arrow IPC;
//! - [`frame`]: a small typed table with the same four writers (contrast, score, inspect).
//!
//! Contract: no segment is read and no file is written here (writers take any `Write`);
//! `pivot` sees the plan only for key labels and formats.

pub mod frame;
pub mod output;
pub mod pivot;
pub mod value;
