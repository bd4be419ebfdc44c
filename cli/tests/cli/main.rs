//! simctl's integration tests: one binary, run against the built `simctl` executable.

mod bad_inputs;
mod docs;
mod estimates;
mod report_files;
mod scenarios;
mod support;
mod verdicts;
