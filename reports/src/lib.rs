//! # reports
//!
//! Renders a RunRecord (placeholder until the reports work lands).

pub mod trace;
