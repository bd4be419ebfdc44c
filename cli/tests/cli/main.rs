//! simctl's integration tests: one binary, run against the built `simctl` executable.

mod architecture;
mod bad_inputs;
mod clock_faults;
mod curve;
mod docs;
mod estimates;
mod explore;
mod memory;
mod output;
mod report_files;
mod scenarios;
mod support;
mod traces;
mod verdicts;
mod workflow;
