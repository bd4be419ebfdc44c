//! Report rendering (filled in by the CLI/reports work).
pub mod trace;
