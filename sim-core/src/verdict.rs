//! SLAs, estimates and expectations as data (the scenario's `slas`, `estimates`, `expect`), and
//! their evaluation against a `RunRecord`.
//!
//! Names in a verdict (and in `expect: Fail([...])`) follow one convention:
//! - an invariant: the model check's own name, e.g. `durability`, `convergence`;
//! - `latency.<op>.p<percentile>`: `latency.get.p99`, `latency.put.p99.9`, `latency.get.p50`;
//! - `availability`, `availability.<op>`, with `.in_faults` / `.outside_faults` for a window:
//!   `availability.put.in_faults`;
//! - `throughput`, `throughput.<op>`; `error_rate`, `error_rate.<op>`;
//! - `measure.<name>` for a bound on a model measurement;
//! - `estimate.<name>` for an estimate (a wrong one fails the run only with `strict_estimates`).

use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// Which operations an availability SLA counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    #[default]
    All,
    /// Operations invoked while some fault was active.
    InFaults,
    OutsideFaults,
}

/// A service-level objective.
///
/// ```ron
/// slas: [
///     Latency(op: "get", percentile: 99.0, max: "50ms"),
///     Availability(op: Some("put"), min: 0.99, window: InFaults),
///     Throughput(op: None, min_per_s: 900.0),
///     ErrorRate(op: None, max: 0.01),
///     Measure(name: "load_max_over_mean", max: Some(1.3)),
/// ],
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sla {
    Latency {
        op: String,
        percentile: f64,
        max: Duration,
    },
    Availability {
        #[serde(default)]
        op: Option<String>,
        min: f64,
        #[serde(default)]
        window: Window,
    },
    Throughput {
        #[serde(default)]
        op: Option<String>,
        min_per_s: f64,
    },
    ErrorRate {
        #[serde(default)]
        op: Option<String>,
        max: f64,
    },
    /// A bound on one of the model's named measurements.
    Measure {
        name: String,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
}

/// A back-of-envelope estimate as a design note states it: an arithmetic expression over named
/// inputs, the result the note claims, and (optionally) what in the simulation it predicts.
///
/// ```ron
/// estimates: [(
///     name: "write rate",
///     expr: "writes_per_day / seconds_per_day",
///     inputs: {"writes_per_day": 100e6, "seconds_per_day": 86400.0},
///     claimed: 1160.0,
///     measured: Some("throughput.put"),
/// )],
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub name: String,
    pub expr: String,
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, f64>,
    pub claimed: f64,
    /// Relative tolerance of the arithmetic check (default 5%).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// A measurement to put beside it: a model measure name, or `throughput.<op>`.
    #[serde(default)]
    pub measured: Option<String>,
    /// Scale from the measured value to the estimate's units (a scaled-down run).
    #[serde(default)]
    pub measured_scale: Option<f64>,
}

/// What the scenario expects of its verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Expect {
    #[default]
    Pass,
    /// A known-bad design: exactly these checks (invariant names, SLA names) must fail.
    Fail(Vec<String>),
}
