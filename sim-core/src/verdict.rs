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
//! - `estimate.<name>` for an estimate (a wrong one fails the run only when the estimate says
//!   `strict: true`, or the scenario sets `strict_estimates: true`, which the caller applies);
//! - `faults.effective` when the scenario sets `require_fault_effect: true`: fails if a fault did
//!   nothing (dropped, delayed or lost nothing and hit no operation); clock faults are not counted,
//!   since the kernel's accounting cannot see a clock change's effect ([`evaluate_with`]);
//! - `run.event_limit` when the run hit its event limit (a truncated run cannot pass).
//!
//! [`evaluate`] turns a [`RunRecord`] and these specs into a [`Verdict`]: one [`VerdictItem`] per
//! invariant, SLA and estimate with the measured value, the bound and pass/fail, and whether the
//! run met its expectation (`Pass`, or a known-bad design failing for exactly the named reasons).
//! [`validate_spec`] checks the specs before a run (op names, bounds, expressions, expectations).
//! [`eval_expr`] is the estimate checker's arithmetic: `+ - * / ^`, parentheses, numbers like
//! `1e6` or `1_000`, named inputs and a few functions (`ceil floor round min max sqrt ln log2 log10`, and from queueing
//! theory `erlang_c(c, a)` and `mmc_wait(c, lambda, mu)`).

use crate::math;
use crate::record::RunRecord;
use crate::time::Duration;
use crate::world::StopReason;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which operations an availability SLA counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    #[default]
    All,
    /// Operations live while some fault was active (invoked before its end, not completed before
    /// its start).
    InFaults,
    /// Operations whose lifetime overlaps no fault window.
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
#[serde(deny_unknown_fields)]
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
/// estimates: [
///     (
///         name: "write rate",
///         expr: "writes_per_day / seconds_per_day",
///         inputs: {"writes_per_day": 100e6, "seconds_per_day": 86400.0},
///         claimed: 1160.0,
///         measured: Some("throughput.put"),
///     ),
///     (
///         name: "servers",
///         expr: "ceil(rate / per_server)",
///         // Another estimate's recomputed value (not its claim), by name.
///         inputs: {"rate": "estimate.write rate", "per_server": 500.0},
///         claimed: 3.0,
///     ),
/// ],
/// ```
///
/// Findings (printed prominently; they fail the run only when the estimate is `strict`): the
/// arithmetic does not give the claim within `tolerance` (WRONG ARITHMETIC), or the simulation
/// measured a value off from the claim by more than `measured_tolerance` (MEASURED OFF). An
/// estimate whose input is another estimate uses that estimate's recomputed value, and says when
/// that estimate is itself a finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub name: String,
    pub expr: String,
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, Input>,
    pub claimed: f64,
    /// Relative tolerance of the arithmetic check (default 5%).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// A measurement to put beside it: a model measure name, or `throughput.<op>`. It must come
    /// from the run (operations counted, bytes of the model's state, rates achieved), never from
    /// the configuration or from the estimate's own constants.
    #[serde(default)]
    pub measured: Option<String>,
    /// Scale from the measured value to the estimate's units (a scaled-down run).
    #[serde(default)]
    pub measured_scale: Option<f64>,
    /// Relative tolerance between the measured value and the claim (default: `tolerance`).
    #[serde(default)]
    pub measured_tolerance: Option<f64>,
    /// A wrong estimate fails the run (for teams that gate on their estimates); by default it is
    /// a finding in the verdict only.
    #[serde(default)]
    pub strict: bool,
}

/// One input of an estimate: a number, or `"estimate.<name>"`, the recomputed value of another
/// estimate of the scenario (so a chain of estimates carries a corrected value, not a wrong claim).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Value(f64),
    /// The name of another estimate (without the `estimate.` prefix).
    Estimate(String),
}

impl Input {
    /// The number, for a plain input.
    pub fn value(&self) -> Option<f64> {
        match self {
            Input::Value(v) => Some(*v),
            Input::Estimate(_) => None,
        }
    }
}

impl From<f64> for Input {
    fn from(v: f64) -> Input {
        Input::Value(v)
    }
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Value(v) => write!(f, "{v}"),
            Input::Estimate(n) => write!(f, "estimate.{n}"),
        }
    }
}

impl Serialize for Input {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Input::Value(v) => s.serialize_f64(*v),
            Input::Estimate(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Input;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or \"estimate.<name>\" for another estimate's recomputed value")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Input, E> {
                Ok(Input::Value(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Input, E> {
                Ok(Input::Value(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Input, E> {
                Ok(Input::Value(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Input, E> {
                match v.strip_prefix("estimate.") {
                    Some(name) if !name.is_empty() => Ok(Input::Estimate(name.to_string())),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// What the scenario expects of its verdict.
///
/// ```ron
/// expect: Pass,
/// expect: Fail(["durability"]),                               // on every seed
/// expect: Fail(["no_duplicate_fetches", "coverage"], AtLeast(0.8)),  // on at least 80% of seeds
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Expect {
    #[default]
    Pass,
    /// A known-bad design: exactly these checks (invariant names, SLA names) must fail, on every
    /// seed. RON: `Fail([...])`.
    Fail(Vec<String>),
    /// A known-bad design that fails exactly these checks on at least this share of seeds (in
    /// (0, 1)). RON: `Fail([...], AtLeast(0.8))`. One run that fails only some of the names, or
    /// none, is within the promised rate; a run that fails anything else is not. `simctl sweep`
    /// checks the rate against the Wilson interval of its seeds ([`crate::sweep::PromisedRate`]).
    FailAtLeast(Vec<String>, f64),
}

/// The share of seeds a known-bad scenario promises to fail on: `Fail([...], AtLeast(0.8))`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Rate {
    AtLeast(f64),
}

impl Expect {
    /// For a known-bad scenario: the names that must fail, and the share of seeds on which they
    /// must (1.0 for plain `Fail([...])`).
    pub fn failing(&self) -> Option<(&[String], f64)> {
        match self {
            Expect::Pass => None,
            Expect::Fail(names) => Some((names, 1.0)),
            Expect::FailAtLeast(names, rate) => Some((names, *rate)),
        }
    }

    /// The promised share of seeds of `Fail([...], AtLeast(r))`; `None` otherwise.
    pub fn promised_rate(&self) -> Option<f64> {
        match self {
            Expect::FailAtLeast(_, rate) => Some(*rate),
            _ => None,
        }
    }

    /// Whether a run with these failed items failed as a known-bad scenario declares: every
    /// name its `expect` lists, and nothing else but what its `may_also_fail` allows.
    pub fn failed_as_declared(&self, failed: &[String], may_also_fail: &[String]) -> bool {
        self.failing().is_some_and(|(names, _)| {
            names.iter().all(|n| failed.contains(n))
                && failed.iter().all(|f| names.contains(f) || may_also_fail.contains(f))
        })
    }
}

impl Serialize for Expect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTupleVariant;
        match self {
            Expect::Pass => s.serialize_unit_variant("Expect", 0, "Pass"),
            Expect::Fail(names) => s.serialize_newtype_variant("Expect", 1, "Fail", names),
            Expect::FailAtLeast(names, rate) => {
                let mut t = s.serialize_tuple_variant("Expect", 1, "Fail", 2)?;
                t.serialize_field(names)?;
                t.serialize_field(&Rate::AtLeast(*rate))?;
                t.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, EnumAccess, SeqAccess, VariantAccess, Visitor};
        #[derive(Deserialize)]
        enum Tag {
            Pass,
            Fail,
        }
        const WHAT: &str = "`Pass`, `Fail([names])` or `Fail([names], AtLeast(share))`";
        struct FailArgs;
        impl<'de> Visitor<'de> for FailArgs {
            type Value = Expect;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(WHAT)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Expect, A::Error> {
                let names: Vec<String> = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let rate: Option<Rate> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(match rate {
                    None => Expect::Fail(names),
                    Some(Rate::AtLeast(r)) => Expect::FailAtLeast(names, r),
                })
            }
        }
        struct ExpectVisitor;
        impl<'de> Visitor<'de> for ExpectVisitor {
            type Value = Expect;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(WHAT)
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Expect, A::Error> {
                let (tag, variant) = data.variant::<Tag>()?;
                match tag {
                    Tag::Pass => variant.unit_variant().map(|_| Expect::Pass),
                    Tag::Fail => variant.tuple_variant(2, FailArgs),
                }
            }
        }
        d.deserialize_enum("Expect", &["Pass", "Fail"], ExpectVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// A percentile as it appears in a name: `99.0` -> `99`, `99.9` -> `99.9`.
pub fn percentile_label(p: f64) -> String {
    let s = format!("{p}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn window_suffix(w: Window) -> &'static str {
    match w {
        Window::All => "",
        Window::InFaults => ".in_faults",
        Window::OutsideFaults => ".outside_faults",
    }
}

fn dotted(base: &str, op: &Option<String>) -> String {
    match op {
        Some(op) => format!("{base}.{op}"),
        None => base.to_string(),
    }
}

impl Sla {
    /// The SLA's name in a verdict and in `expect: Fail([...])`.
    pub fn name(&self) -> String {
        match self {
            Sla::Latency { op, percentile, .. } => format!("latency.{op}.p{}", percentile_label(*percentile)),
            Sla::Availability { op, window, .. } => format!("{}{}", dotted("availability", op), window_suffix(*window)),
            Sla::Throughput { op, .. } => dotted("throughput", op),
            Sla::ErrorRate { op, .. } => dotted("error_rate", op),
            Sla::Measure { name, .. } => format!("measure.{name}"),
        }
    }
}

impl Estimate {
    pub fn verdict_name(&self) -> String {
        format!("estimate.{}", self.name)
    }
    pub fn tolerance_or_default(&self) -> f64 {
        self.tolerance.unwrap_or(0.05)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation before a run

/// What [`validate_spec`] checks names against: the model's operations and checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct ModelNames<'a> {
    pub op_kinds: &'a [&'a str],
    /// The model's check names (`Model::CHECKS`); empty: not known, names are not checked.
    pub checks: &'a [&'a str],
}

/// Checks the verdict-related parts of a scenario: op names against the model's `op_kinds`,
/// check names in `invariants` and `may_be_empty` against the model's checks, bounds, estimate
/// expressions and inputs, duplicate names, and the names in `expect`.
/// `(path, message)` per problem, like `Scenario::validate`.
pub fn validate_spec(
    invariants: &[String],
    may_be_empty: &[String],
    may_also_fail: &[String],
    slas: &[Sla],
    estimates: &[Estimate],
    expect: &Expect,
    model: ModelNames<'_>,
) -> Vec<(String, String)> {
    let op_kinds = model.op_kinds;
    let mut e: Vec<(String, String)> = Vec::new();
    let check_list = || model.checks.join(", ");
    let known_check = |n: &str| model.checks.is_empty() || model.checks.contains(&n);
    for (field, list) in [("invariants", invariants), ("may_be_empty", may_be_empty)] {
        for (i, name) in list.iter().enumerate() {
            if !known_check(name) {
                e.push((
                    format!("{field}[{i}]"),
                    format!("unknown check `{name}` (the model checks: {})", check_list()),
                ));
            } else if list[..i].contains(name) {
                e.push((format!("{field}[{i}]"), format!("`{name}` is listed twice")));
            }
        }
    }
    let ops_list = || if op_kinds.is_empty() { "none".to_string() } else { op_kinds.join(", ") };
    let check_op = |e: &mut Vec<(String, String)>, path: String, op: &str| {
        if !op_kinds.contains(&op) {
            e.push((path, format!("unknown operation `{op}` (this model has: {})", ops_list())));
        }
    };
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, sla) in slas.iter().enumerate() {
        let path = format!("slas[{i}]");
        match sla {
            Sla::Latency { op, percentile, max } => {
                check_op(&mut e, format!("{path}.op"), op);
                if !(percentile.is_finite() && *percentile > 0.0 && *percentile <= 100.0) {
                    e.push((format!("{path}.percentile"), format!("must be within (0, 100], got {percentile}")));
                }
                if max.0 == 0 {
                    e.push((format!("{path}.max"), "must be positive".into()));
                }
            }
            Sla::Availability { op, min, .. } => {
                if let Some(op) = op {
                    check_op(&mut e, format!("{path}.op"), op);
                }
                if !(0.0..=1.0).contains(min) {
                    e.push((format!("{path}.min"), format!("a share must be within [0, 1], got {min}")));
                }
            }
            Sla::Throughput { op, min_per_s } => {
                if let Some(op) = op {
                    check_op(&mut e, format!("{path}.op"), op);
                }
                if !(min_per_s.is_finite() && *min_per_s >= 0.0) {
                    e.push((format!("{path}.min_per_s"), format!("must be finite and >= 0, got {min_per_s}")));
                }
            }
            Sla::ErrorRate { op, max } => {
                if let Some(op) = op {
                    check_op(&mut e, format!("{path}.op"), op);
                }
                if !(0.0..=1.0).contains(max) {
                    e.push((format!("{path}.max"), format!("a share must be within [0, 1], got {max}")));
                }
            }
            Sla::Measure { name, min, max } => {
                if name.is_empty() {
                    e.push((format!("{path}.name"), "must not be empty".into()));
                }
                if min.is_none() && max.is_none() {
                    e.push((path.clone(), "a Measure SLA needs `min`, `max` or both".into()));
                }
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    e.push((format!("{path}.min"), format!("min ({a}) is greater than max ({b})")));
                }
            }
        }
        let name = sla.name();
        if let Some(j) = names.insert(name.clone(), i) {
            e.push((path, format!("`{name}` is also slas[{j}]: one bound per name")));
        }
    }
    let mut strict_estimates = BTreeSet::new();
    let mut all_estimates = BTreeSet::new();
    for (i, est) in estimates.iter().enumerate() {
        let path = format!("estimates[{i}]");
        if est.name.is_empty() {
            e.push((format!("{path}.name"), "must not be empty".into()));
        }
        if !all_estimates.insert(est.verdict_name()) {
            e.push((format!("{path}.name"), format!("estimate `{}` is listed twice", est.name)));
        }
        if est.strict {
            strict_estimates.insert(est.verdict_name());
        }
        match parse_expr(&est.expr) {
            Err(m) => e.push((format!("{path}.expr"), m)),
            Ok(ast) => {
                let mut used = BTreeSet::new();
                ast.names(&mut used);
                for n in &used {
                    if !est.inputs.contains_key(n) {
                        e.push((
                            format!("{path}.expr"),
                            format!(
                                "`{n}` is not among the inputs ({})",
                                est.inputs.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
                for k in est.inputs.keys() {
                    if !used.contains(k) {
                        e.push((
                            format!("{path}.inputs[\"{k}\"]"),
                            format!("input `{k}` is not used by the expression"),
                        ));
                    }
                }
            }
        }
        for (k, v) in &est.inputs {
            let input_path = format!("{path}.inputs[\"{k}\"]");
            match v {
                Input::Value(v) if !v.is_finite() => e.push((input_path, format!("must be a finite number, got {v}"))),
                Input::Value(_) => {}
                Input::Estimate(n) if *n == est.name => {
                    e.push((input_path, format!("`estimate.{n}` is this estimate itself")))
                }
                Input::Estimate(n) if !estimates.iter().any(|o| o.name == *n) => e.push((
                    input_path,
                    format!(
                        "no estimate is named `{n}` (estimates: {})",
                        estimates.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )),
                Input::Estimate(_) => {}
            }
        }
        if !est.claimed.is_finite() {
            e.push((format!("{path}.claimed"), format!("must be a finite number, got {}", est.claimed)));
        }
        if let Some(t) = est.tolerance
            && !(t.is_finite() && t >= 0.0)
        {
            e.push((format!("{path}.tolerance"), format!("must be finite and >= 0, got {t}")));
        }
        if let Some(s) = est.measured_scale
            && !(s.is_finite() && s > 0.0)
        {
            e.push((format!("{path}.measured_scale"), format!("must be a positive number, got {s}")));
        }
        if let Some(t) = est.measured_tolerance
            && !(t.is_finite() && t >= 0.0)
        {
            e.push((format!("{path}.measured_tolerance"), format!("must be finite and >= 0, got {t}")));
        }
        if est.measured_tolerance.is_some() && est.measured.is_none() {
            e.push((format!("{path}.measured_tolerance"), "there is no `measured` value to compare".into()));
        }
        if let Some(m) = &est.measured
            && let Some(op) = metric_op(m)
        {
            check_op(&mut e, format!("{path}.measured"), op);
        }
    }
    if let Err(cycle) = estimate_order(estimates) {
        e.push((
            format!("estimates[{}].inputs", cycle[0]),
            format!(
                "estimates refer to each other in a circle: {}",
                cycle.iter().chain(&cycle[..1]).map(|&i| estimates[i].name.as_str()).collect::<Vec<_>>().join(" -> ")
            ),
        ));
    }
    let failable = Failable {
        estimates: &all_estimates,
        strict_estimates: &strict_estimates,
        slas: &names,
        invariants,
        checks: model.checks,
    };
    if let Some((list, rate)) = expect.failing() {
        if list.is_empty() {
            e.push(("expect".into(), "Fail([]) names nothing: list what must fail, or write Pass".into()));
        }
        let rated = expect.promised_rate().is_some();
        if rated && !(rate.is_finite() && rate > 0.0 && rate < 1.0) {
            e.push((
                "expect.Fail[1]".into(),
                format!(
                    "AtLeast takes a share of seeds within (0, 1), got {rate} (a design that fails on every seed is \
                     written `Fail([...])` alone)"
                ),
            ));
        }
        for (i, n) in list.iter().enumerate() {
            let path = if rated { format!("expect.Fail[0][{i}]") } else { format!("expect.Fail[{i}]") };
            if list[..i].contains(n) {
                e.push((path, format!("`{n}` is listed twice")));
                continue;
            }
            failable.check(&mut e, path, n);
        }
        for (i, n) in may_also_fail.iter().enumerate() {
            let path = format!("may_also_fail[{i}]");
            if may_also_fail[..i].contains(n) {
                e.push((path, format!("`{n}` is listed twice")));
            } else if list.contains(n) {
                e.push((path, format!("`{n}` is in `expect` already: it must fail, not may")));
            } else {
                failable.check(&mut e, path, n);
            }
        }
    } else if !may_also_fail.is_empty() {
        e.push((
            "may_also_fail".into(),
            "only a known-bad scenario (`expect: Fail([...])`) may fail more than it declares".into(),
        ));
    }
    e
}

/// What a name a known-bad scenario may fail (in `expect` or `may_also_fail`) is checked
/// against: a strict estimate, an SLA, or a check of the model (among the scenario's
/// `invariants`, if it lists them).
struct Failable<'a> {
    estimates: &'a BTreeSet<String>,
    strict_estimates: &'a BTreeSet<String>,
    slas: &'a BTreeMap<String, usize>,
    invariants: &'a [String],
    checks: &'a [&'a str],
}

impl Failable<'_> {
    fn check(&self, e: &mut Vec<(String, String)>, path: String, n: &str) {
        if let Some(est_name) = n.strip_prefix("estimate.") {
            if !self.estimates.contains(n) {
                e.push((path, format!("no estimate is named `{est_name}`")));
            } else if !self.strict_estimates.contains(n) {
                e.push((path, format!("`{n}` can only fail the run with `strict: true` on that estimate")));
            }
        } else if is_sla_name(n) {
            if !self.slas.contains_key(n) {
                let slas = if self.slas.is_empty() {
                    "none".into()
                } else {
                    self.slas.keys().cloned().collect::<Vec<_>>().join(", ")
                };
                e.push((path, format!("no SLA is named `{n}` (this scenario's SLAs: {slas})")));
            }
        } else if n != "run.event_limit" && n != FAULTS_EFFECTIVE {
            if !self.invariants.is_empty() && !self.invariants.iter().any(|i| i == n) {
                e.push((
                    path,
                    format!("`{n}` is not among the scenario's `invariants` ({})", self.invariants.join(", ")),
                ));
            } else if !self.checks.is_empty() && !self.checks.contains(&n) {
                e.push((path, format!("unknown check `{n}` (the model checks: {})", self.checks.join(", "))));
            }
        }
    }
}

fn is_sla_name(n: &str) -> bool {
    ["latency.", "availability", "throughput", "error_rate", "measure."].iter().any(|p| n.starts_with(p))
}

/// The operation a metric name refers to (`throughput.put` -> `put`), if any.
fn metric_op(name: &str) -> Option<&str> {
    let rest = ["throughput.", "availability.", "error_rate.", "latency."].iter().find_map(|p| name.strip_prefix(p))?;
    let op = rest.split('.').next()?;
    (!op.is_empty() && op != "in_faults" && op != "outside_faults").then_some(op)
}

// ---------------------------------------------------------------------------------------------
// Evaluation after a run

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Invariant,
    Sla,
    Estimate,
    Run,
}

/// One line of a verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerdictItem {
    pub kind: ItemKind,
    pub name: String,
    /// The measured value (for an estimate: the recomputed arithmetic); `None` when nothing was
    /// measured (no operations of that kind, say).
    pub measured: Option<f64>,
    /// The measured value as a reader sees it, with its unit, in the one format of its quantity
    /// (a share as a percent with two decimals, more where two would hide a difference from the
    /// bound or from 100%: [`percent_beside`]); empty when nothing was measured.
    #[serde(skip)]
    pub measured_text: String,
    /// The bound in words, in the same format as `measured_text`: `<= 50ms`, `>= 99.00%`,
    /// `= 1160 +/- 5%`.
    pub bound: String,
    pub passed: bool,
    /// Whether this item can fail the run (estimates count only when strict).
    pub counts: bool,
    /// What was measured, in words (the model check's detail, the unit, why it failed).
    pub detail: String,
    /// For an invariant: how many items the model check judged, of what kind, how many broke it,
    /// and what it skipped and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<crate::model::Count>,
}

/// An estimate beside what the simulation measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EstimateCheck {
    pub name: String,
    pub expr: String,
    pub claimed: f64,
    /// The expression recomputed from the inputs.
    pub computed: f64,
    /// `|claimed - computed| / |computed|`.
    pub relative_error: f64,
    pub tolerance: f64,
    pub arithmetic_ok: bool,
    pub strict: bool,
    /// What it is compared with in the simulation (`throughput.put`, a model measure).
    pub measured_name: Option<String>,
    /// The measured value times `measured_scale`.
    pub measured: Option<f64>,
    /// `measured / claimed`: 1.0 means the design note predicted the simulation exactly.
    pub ratio: Option<f64>,
    /// Relative tolerance between the measured value and the claim.
    pub measured_tolerance: f64,
    /// The measured value is within `measured_tolerance` of the claim (`None`: nothing measured).
    pub measured_ok: Option<bool>,
    /// Estimates this one takes a value from that are themselves findings.
    pub depends_on_flagged: Vec<String>,
}

impl EstimateCheck {
    /// What is wrong with the estimate, if anything: `WRONG ARITHMETIC`, `MEASURED OFF` or both.
    pub fn finding(&self) -> Option<&'static str> {
        match (self.arithmetic_ok, self.measured_ok == Some(false)) {
            (true, false) => None,
            (false, false) => Some("WRONG ARITHMETIC"),
            (true, true) => Some("MEASURED OFF"),
            (false, true) => Some("WRONG ARITHMETIC, MEASURED OFF"),
        }
    }
}

/// The outcome of a run: every item, and whether the run met its expectation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub items: Vec<VerdictItem>,
    pub estimates: Vec<EstimateCheck>,
    /// Names of the counting items that failed.
    pub failed: Vec<String>,
    /// Every counting item passed.
    pub passed: bool,
    pub expect: Expect,
    /// What a known-bad run may fail beside `expect`'s names (the scenario's `may_also_fail`;
    /// not serialised when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub may_also_fail: Vec<String>,
    /// `Pass` and everything passed, or `Fail(names)` and exactly those names failed (and any
    /// of `may_also_fail`).
    pub meets_expectation: bool,
    /// In words: why the expectation was or was not met.
    pub expectation: String,
}

impl Verdict {
    /// Estimates whose arithmetic is wrong (findings, whether or not they count).
    pub fn wrong_estimates(&self) -> impl Iterator<Item = &EstimateCheck> {
        self.estimates.iter().filter(|e| !e.arithmetic_ok)
    }

    /// Estimates whose measured value is off from the claim by more than their tolerance
    /// (findings, whether or not they count).
    pub fn measured_off_estimates(&self) -> impl Iterator<Item = &EstimateCheck> {
        self.estimates.iter().filter(|e| e.measured_ok == Some(false))
    }
}

/// A metric of a run by name: `throughput[.op]`, `availability[.op][.in_faults|.outside_faults]`,
/// `error_rate[.op]`, `latency.<op>.p<N>` (ms), `measure.<name>` or a bare model measure name.
pub fn lookup_metric(record: &RunRecord, name: &str) -> Option<f64> {
    if let Some(rest) = name.strip_prefix("latency.") {
        let (op, p) = rest.split_once(".p")?;
        return latency_ms(record, op, p.parse().ok()?);
    }
    for base in ["throughput", "availability", "error_rate"] {
        if let Some(rest) = name.strip_prefix(base) {
            if !(rest.is_empty() || rest.starts_with('.')) {
                continue; // another name (a measure called `throughput_total`, say)
            }
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            let (window, op_part) = if let Some(o) = rest.strip_suffix("in_faults") {
                (Window::InFaults, o)
            } else if let Some(o) = rest.strip_suffix("outside_faults") {
                (Window::OutsideFaults, o)
            } else {
                (Window::All, rest)
            };
            let op_part = op_part.strip_suffix('.').unwrap_or(op_part);
            let op = (!op_part.is_empty()).then(|| op_part.to_string());
            if let Some(o) = &op
                && record.op(o).is_none()
            {
                return None;
            }
            return match base {
                "throughput" => Some(throughput(record, &op)),
                "availability" => availability(record, &op, window, 1.0).map(|a| a.0),
                _ => error_rate(record, &op),
            };
        }
    }
    let m = name.strip_prefix("measure.").unwrap_or(name);
    record.model_report.measures.get(m).copied().or_else(|| record.queueing.value(m))
}

fn selected<'r>(record: &'r RunRecord, op: &Option<String>) -> Vec<&'r crate::record::OpSummary> {
    record.ops.iter().filter(|o| op.as_ref().is_none_or(|k| &o.kind == k)).collect()
}

fn throughput(record: &RunRecord, op: &Option<String>) -> f64 {
    selected(record, op).iter().map(|o| o.throughput_ok_per_s).sum()
}

/// (availability, detail) or `None` when no operation was counted.
fn availability(record: &RunRecord, op: &Option<String>, window: Window, min: f64) -> Option<(f64, String)> {
    let ops = selected(record, op);
    match window {
        Window::All => {
            let completed: u64 = ops.iter().map(|o| o.ok + o.fail + o.timeout + o.rejected).sum();
            let ok: u64 = ops.iter().map(|o| o.ok).sum();
            (completed > 0).then(|| (ok as f64 / completed as f64, format!("{ok} of {completed} completed ops ok")))
        }
        Window::InFaults | Window::OutsideFaults => {
            let vals: Vec<(&str, f64)> = ops
                .iter()
                .filter_map(|o| {
                    let v = if window == Window::InFaults {
                        o.availability_in_faults
                    } else {
                        o.availability_outside_faults
                    };
                    v.map(|v| (o.kind.as_str(), v))
                })
                .collect();
            let worst = vals.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
            let detail = if vals.len() > 1 {
                format!(
                    "worst operation kind: {} (per kind: {})",
                    worst.0,
                    vals.iter()
                        .map(|(k, v)| format!("{k} {}", percent_beside(*v, &[min])))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!(
                    "{} ops {} a fault window",
                    worst.0,
                    if window == Window::InFaults { "live during" } else { "clear of every" }
                )
            };
            Some((worst.1, detail))
        }
    }
}

fn error_rate(record: &RunRecord, op: &Option<String>) -> Option<f64> {
    let ops = selected(record, op);
    let completed: u64 = ops.iter().map(|o| o.ok + o.fail + o.timeout + o.rejected).sum();
    let bad: u64 = ops.iter().map(|o| o.fail + o.timeout + o.rejected).sum();
    (completed > 0).then(|| bad as f64 / completed as f64)
}

/// Latency at `percentile` (0..=100) of `op`, ms, interpolated in the record's latency curve.
pub fn latency_ms(record: &RunRecord, op: &str, percentile: f64) -> Option<f64> {
    let o = record.op(op)?;
    let curve = &o.latency_curve;
    if curve.is_empty() || o.ok == 0 {
        return None;
    }
    // Exact values the record keeps.
    let exact = [
        (50.0, o.latency_ms.p50),
        (90.0, o.latency_ms.p90),
        (99.0, o.latency_ms.p99),
        (99.9, o.latency_ms.p999),
        (100.0, o.latency_ms.max),
    ];
    if let Some((_, v)) = exact.iter().find(|(p, _)| (*p - percentile).abs() < 1e-9) {
        return Some(*v);
    }
    for w in curve.windows(2) {
        let ((p0, v0), (p1, v1)) = (w[0], w[1]);
        if percentile >= p0 && percentile <= p1 {
            if p1 == p0 {
                return Some(v1);
            }
            return Some(v0 + (v1 - v0) * (percentile - p0) / (p1 - p0));
        }
    }
    curve.last().map(|c| c.1)
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e6 || v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Verdict items beyond the scenario's lists, and how the invariants are judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvalOptions<'a> {
    /// Add [`FAULTS_EFFECTIVE`]: every fault must have had an effect (`require_fault_effect`).
    pub require_fault_effect: bool,
    /// Model checks that may judge nothing (the scenario's `may_be_empty`); any other check that
    /// judged no item fails as `VACUOUS`.
    pub may_be_empty: &'a [String],
    /// Names a known-bad scenario may fail besides those its `expect` lists (the scenario's
    /// `may_also_fail`).
    pub may_also_fail: &'a [String],
}

/// The word a verdict shows for a check that judged nothing.
pub const VACUOUS: &str = "VACUOUS";

/// The verdict item of one model check: its own verdict, its count, and vacuity (a check that
/// judged no item fails unless `may_be_empty`: "0 of 0 reads stale" is not a pass).
pub fn invariant_item(c: &crate::model::Check, may_be_empty: bool) -> VerdictItem {
    let summary = c.count.summary();
    let mut detail =
        if c.detail.is_empty() || c.detail == summary { summary } else { format!("{summary}: {}", c.detail) };
    let vacuous = c.is_vacuous();
    let passed = c.passed && (!vacuous || may_be_empty);
    if vacuous {
        detail = if may_be_empty {
            format!("judged nothing, allowed by `may_be_empty`: {detail}")
        } else {
            format!(
                "{VACUOUS}: judged no {}, so it shows nothing (list it in the scenario's `may_be_empty` if it may be \
                 empty): {detail}",
                c.count.unit
            )
        };
    }
    VerdictItem {
        kind: ItemKind::Invariant,
        name: c.name.clone(),
        measured: c.count.violations.map(|v| v as f64),
        measured_text: c.count.violations.map(crate::model::thousands).unwrap_or_default(),
        bound: match (&c.count.violations, may_be_empty) {
            (Some(_), false) => format!("0 {}, of at least 1 judged", c.count.violation),
            (Some(_), true) => format!("0 {}", c.count.violation),
            (None, false) => "holds, on at least 1 judged".into(),
            (None, true) => "holds".into(),
        },
        passed,
        counts: true,
        detail,
        count: Some(c.count.clone()),
    }
}

/// Whether a verdict item is a model check that judged nothing.
pub fn is_vacuous(item: &VerdictItem) -> bool {
    item.count.as_ref().is_some_and(|c| c.judged == 0)
}

/// The verdict item of `require_fault_effect: true`.
pub const FAULTS_EFFECTIVE: &str = "faults.effective";

/// Whether a fault can show an effect in the kernel's accounting. Clock steps and drift change
/// what nodes read from their clocks, which the kernel does not count as dropping, delaying or
/// losing anything, so they never show an effect and are left out of [`FAULTS_EFFECTIVE`].
pub fn fault_effect_counted(label: &str) -> bool {
    !label.starts_with("clock")
}

/// The [`FAULTS_EFFECTIVE`] item: fails when a fault (clock faults excepted) had no effect.
pub fn fault_effect_item(record: &RunRecord) -> VerdictItem {
    let counted: Vec<_> = record.faults.iter().filter(|f| fault_effect_counted(&f.label)).collect();
    let idle: Vec<String> =
        counted.iter().filter(|f| !f.had_effect).map(|f| format!("{} at {}s", f.label, fmt_num(f.start_s))).collect();
    let clock = record.faults.len() - counted.len();
    let mut detail = if idle.is_empty() {
        format!("all {} faults had an effect", counted.len())
    } else {
        format!("{} of {} faults did nothing: {}", idle.len(), counted.len(), idle.join(", "))
    };
    if clock > 0 {
        detail.push_str(&format!(
            " ({clock} clock faults not counted: the kernel cannot see whether a clock change had an effect)"
        ));
    }
    VerdictItem {
        kind: ItemKind::Run,
        name: FAULTS_EFFECTIVE.into(),
        measured: Some(idle.len() as f64),
        measured_text: idle.len().to_string(),
        bound: "every fault had an effect".into(),
        passed: idle.is_empty(),
        counts: true,
        detail,
        count: None,
    }
}

/// Evaluates a run against its scenario's invariants, SLAs, estimates and expectation.
pub fn evaluate(
    record: &RunRecord,
    invariants: &[String],
    slas: &[Sla],
    estimates: &[Estimate],
    expect: &Expect,
) -> Verdict {
    evaluate_with(record, invariants, slas, estimates, expect, EvalOptions::default())
}

/// [`evaluate`] with the extra items of `opts`.
pub fn evaluate_with(
    record: &RunRecord,
    invariants: &[String],
    slas: &[Sla],
    estimates: &[Estimate],
    expect: &Expect,
    opts: EvalOptions,
) -> Verdict {
    let mut items = Vec::new();
    // Invariants: the model's checks, filtered by the scenario's list (empty: all).
    let checks = &record.model_report.checks;
    for c in checks {
        if invariants.is_empty() || invariants.contains(&c.name) {
            items.push(invariant_item(c, opts.may_be_empty.contains(&c.name)));
        }
    }
    for name in invariants {
        if !checks.iter().any(|c| &c.name == name) {
            let known: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
            items.push(VerdictItem {
                kind: ItemKind::Invariant,
                name: name.clone(),
                measured: None,
                measured_text: String::new(),
                bound: "holds".into(),
                passed: false,
                counts: true,
                detail: format!("unknown invariant: model `{}` checks {}", record.model, known.join(", ")),
                count: None,
            });
        }
    }
    for sla in slas {
        items.push(evaluate_sla(record, sla));
    }
    let mut checks_out = Vec::new();
    for (check, item) in evaluate_estimates(record, estimates) {
        items.push(item);
        if let Some(c) = check {
            checks_out.push(c);
        }
    }
    if opts.require_fault_effect {
        items.push(fault_effect_item(record));
    }
    if record.stop == StopReason::EventLimit {
        items.push(VerdictItem {
            kind: ItemKind::Run,
            name: "run.event_limit".into(),
            measured: Some(record.events as f64),
            measured_text: format!("{} events", crate::model::thousands(record.events)),
            bound: "run completes".into(),
            passed: false,
            counts: true,
            detail: format!("the run stopped at its event limit after {} events: results are truncated", record.events),
            count: None,
        });
    }
    let failed: Vec<String> = items.iter().filter(|i| i.counts && !i.passed).map(|i| i.name.clone()).collect();
    let passed = failed.is_empty();
    let (meets_expectation, expectation) = match expect {
        Expect::Pass => {
            if passed {
                (true, "expected to pass, and every check passed".to_string())
            } else {
                (false, format!("expected to pass, but failed: {}", failed.join(", ")))
            }
        }
        Expect::Fail(want) | Expect::FailAtLeast(want, _) => {
            let rate = expect.promised_rate();
            let want: BTreeSet<&String> = want.iter().collect();
            let got: BTreeSet<&String> = failed.iter().collect();
            let also: BTreeSet<&String> = opts.may_also_fail.iter().collect();
            let allowed: BTreeSet<&String> = want.union(&also).copied().collect();
            let promise = |r: f64| format!("at least {} of seeds", percent(r));
            let rated = rate.map(|r| format!(" (it promises this on {})", promise(r))).unwrap_or_default();
            if want == got {
                (true, format!("known-bad design failed for exactly the expected reason: {}{rated}", failed.join(", ")))
            } else if want.is_subset(&got) && got.is_subset(&allowed) {
                let more: Vec<&str> = got.difference(&want).map(|s| s.as_str()).collect();
                (
                    true,
                    format!(
                        "known-bad design failed for the expected reason: {}, and as `may_also_fail` allows: {}{rated}",
                        want.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                        more.join(", ")
                    ),
                )
            } else if let Some(r) = rate
                && got.is_subset(&allowed)
            {
                let held: Vec<&str> = want.difference(&got).map(|s| s.as_str()).collect();
                (
                    true,
                    format!(
                        "known-bad design did not fail as declared on this seed ({} held), within its promised rate: \
                         it promises to fail on {}, which `simctl sweep` checks across seeds",
                        held.join(", "),
                        promise(r)
                    ),
                )
            } else {
                let checked: BTreeSet<&String> = items.iter().map(|i| &i.name).collect();
                let missing: Vec<String> = want
                    .difference(&got)
                    .map(|s| if checked.contains(s) { s.to_string() } else { format!("{s} (not checked at all)") })
                    .collect();
                let extra: Vec<&str> = got.difference(&allowed).map(|s| s.as_str()).collect();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("expected to fail but passed: {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    parts.push(format!("failed unexpectedly: {}", extra.join(", ")));
                }
                (false, format!("known-bad design did NOT fail as expected ({})", parts.join("; ")))
            }
        }
    };
    Verdict {
        items,
        estimates: checks_out,
        failed,
        passed,
        expect: expect.clone(),
        may_also_fail: opts.may_also_fail.to_vec(),
        meets_expectation,
        expectation,
    }
}

/// Judges a run of `sc` as `simctl run` does: the scenario's invariants (with its
/// `may_be_empty`), SLAs and estimates (every estimate strict when `strict_estimates` is set), the
/// fault-effect item when `require_fault_effect` is set, and its expectation.
pub fn judge<C>(sc: &crate::scenario::Scenario<C>, record: &RunRecord) -> Verdict {
    let estimates: Vec<Estimate> = sc
        .estimates
        .iter()
        .cloned()
        .map(|mut e| {
            e.strict |= sc.strict_estimates;
            e
        })
        .collect();
    let opts = EvalOptions {
        require_fault_effect: sc.require_fault_effect,
        may_be_empty: &sc.may_be_empty,
        may_also_fail: &sc.may_also_fail,
    };
    evaluate_with(record, &sc.invariants, &sc.slas, &estimates, &sc.expect, opts)
}

/// Whether an SLA fails when nothing makes progress: an availability or error-rate bound fails
/// when no operation succeeds (or none completes), a throughput bound above zero when none
/// succeeds. Latency bounds judge only what succeeded, and measure bounds are model-specific.
pub fn sla_requires_progress(sla: &Sla) -> bool {
    match sla {
        Sla::Availability { min, .. } => *min > 0.0,
        Sla::Throughput { min_per_s, .. } => *min_per_s > 0.0,
        Sla::ErrorRate { max, .. } => *max < 1.0,
        Sla::Latency { .. } | Sla::Measure { .. } => false,
    }
}

/// The scenario's progress conditions, by verdict name: SLAs that fail when nothing succeeds
/// ([`sla_requires_progress`]) and the model's progress checks (`progress_checks`, from
/// `Model::PROGRESS_CHECKS`) among the invariants it counts, unless allowed to be empty.
pub fn progress_conditions(
    invariants: &[String],
    may_be_empty: &[String],
    slas: &[Sla],
    progress_checks: &[&str],
) -> Vec<String> {
    let counted = |c: &str| invariants.is_empty() || invariants.iter().any(|i| i == c);
    let mut out: Vec<String> = slas.iter().filter(|s| sla_requires_progress(s)).map(Sla::name).collect();
    for &c in progress_checks {
        if counted(c) && !may_be_empty.iter().any(|m| m == c) {
            out.push(c.to_string());
        }
    }
    out
}

/// A warning for a good scenario (`expect: Pass`) with no progress condition: it would pass if no
/// operation ever succeeded, since safety checks hold vacuously on a system that does nothing.
pub fn progress_warning<C>(sc: &crate::scenario::Scenario<C>, progress_checks: &[&str]) -> Option<String> {
    if sc.expect != Expect::Pass
        || !progress_conditions(&sc.invariants, &sc.may_be_empty, &sc.slas, progress_checks).is_empty()
    {
        return None;
    }
    let model_part = if progress_checks.is_empty() {
        String::new()
    } else {
        format!(", or count one of the model's progress checks ({})", progress_checks.join(", "))
    };
    Some(format!(
        "a good scenario (expect: Pass) with no progress condition passes even if nothing succeeds: add an \
         Availability or Throughput SLA{model_part}"
    ))
}

fn evaluate_sla(record: &RunRecord, sla: &Sla) -> VerdictItem {
    let name = sla.name();
    let item = |measured: Option<(f64, String)>, bound: String, passed: bool, detail: String| {
        let (measured, measured_text) = measured.map_or((None, String::new()), |(v, t)| (Some(v), t));
        VerdictItem {
            kind: ItemKind::Sla,
            name: name.clone(),
            measured,
            measured_text,
            bound,
            passed,
            counts: true,
            detail,
            count: None,
        }
    };
    match sla {
        Sla::Latency { op, percentile, max } => {
            let bound = format!("<= {}", ms_beside(max.as_millis_f64(), &[]));
            match latency_ms(record, op, *percentile) {
                None => item(None, bound, false, format!("no successful `{op}` operations to measure")),
                Some(v) => {
                    let ok = v <= max.as_millis_f64();
                    item(
                        Some((v, ms_beside(v, &[max.as_millis_f64()]))),
                        bound,
                        ok,
                        format!("p{} of ok `{op}` ops", percentile_label(*percentile)),
                    )
                }
            }
        }
        Sla::Availability { op, min, window } => {
            let bound = format!(">= {}", percent_beside(*min, &[]));
            match availability(record, op, *window, *min) {
                None => item(None, bound, false, "no operations in this window to measure".into()),
                Some((v, detail)) => item(Some((v, percent_beside(v, &[*min]))), bound, v >= *min, detail),
            }
        }
        Sla::Throughput { op, min_per_s } => {
            let v = throughput(record, op);
            item(
                Some((v, format!("{}/s", fmt_num(v)))),
                format!(">= {}/s", fmt_num(*min_per_s)),
                v >= *min_per_s,
                "ok operations per second of the main phase".into(),
            )
        }
        Sla::ErrorRate { op, max } => {
            let bound = format!("<= {}", percent_beside(*max, &[]));
            match error_rate(record, op) {
                None => item(None, bound, false, "no completed operations to measure".into()),
                Some(v) => item(
                    Some((v, percent_beside(v, &[*max]))),
                    bound,
                    v <= *max,
                    "share of completed ops that failed, timed out or were rejected".into(),
                ),
            }
        }
        Sla::Measure { name: m, min, max } => {
            let bound = match (min, max) {
                (Some(a), Some(b)) => format!("in [{}, {}]", fmt_num(*a), fmt_num(*b)),
                (Some(a), None) => format!(">= {}", fmt_num(*a)),
                (None, Some(b)) => format!("<= {}", fmt_num(*b)),
                (None, None) => "any".into(),
            };
            let value = match record.model_report.measures.get(m) {
                Some(&v) => Some((v, format!("model measure `{m}`"))),
                None => record.queueing.value(m).map(|v| (v, format!("queueing cross-check `{m}`"))),
            };
            match value {
                None if m.starts_with("queueing.") => {
                    let known = record.queueing.value_names();
                    item(
                        None,
                        bound,
                        false,
                        format!("this run's queueing cross-check has no `{m}` (it has: {})", known.join(", ")),
                    )
                }
                None => {
                    let known: Vec<&str> = record.model_report.measures.keys().map(|s| s.as_str()).collect();
                    item(
                        None,
                        bound,
                        false,
                        format!("model `{}` reports no measure `{m}` (it reports: {})", record.model, known.join(", ")),
                    )
                }
                Some((v, what)) => {
                    let ok = min.is_none_or(|a| v >= a) && max.is_none_or(|b| v <= b);
                    // Enough digits to tell the value from a bound it is close to.
                    let beside: Vec<f64> = min.iter().chain(max.iter()).copied().collect();
                    item(Some((v, num_beside(v, &beside))), bound, ok, what)
                }
            }
        }
    }
}

/// Milliseconds with their unit, as the operations table writes them (`5.39 ms`), with more
/// digits where that would show them equal to one of `beside` (a bound) while they are not.
pub fn ms_beside(v: f64, beside: &[f64]) -> String {
    let short = people_num(v);
    let read = |t: &str| t.parse::<f64>().ok();
    if beside.iter().any(|&b| b != v && read(&people_num(b)) == read(&short)) {
        format!("{} ms", num_beside(v, beside))
    } else {
        format!("{short} ms")
    }
}

/// A number for people: few digits, no float noise (`5.39`, `12.5`, `230`, `1.235e7`).
pub fn people_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e7).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A share (0..=1) as a percent with two decimals (`99.41%`), or more decimals where two would
/// show it equal to one of `beside` (a bound), to 100% or to 0% while it is not: 0.99995 is
/// `99.995%`, never `100.00%`. The one format of availabilities and error rates everywhere.
pub fn percent_beside(share: f64, beside: &[f64]) -> String {
    if !share.is_finite() {
        return format!("{share}");
    }
    let shown = |v: f64, d: usize| format!("{:.d$}", v * 100.0);
    let mut decimals = 2;
    while decimals < 8 {
        let s = shown(share, decimals);
        let hides = beside.iter().chain(&[0.0, 1.0]).any(|&b| b != share && shown(b, decimals) == s);
        if !hides {
            break;
        }
        decimals += 1;
    }
    format!("{}%", shown(share, decimals))
}

/// A number as [`fmt_num`] writes it, with more significant digits where that would show it
/// equal to one of `beside` while it is not.
fn num_beside(v: f64, beside: &[f64]) -> String {
    let s = fmt_num(v);
    let read = |t: &str| t.parse::<f64>().ok();
    let hides =
        |text: &str, shown: &dyn Fn(f64) -> String| beside.iter().any(|&b| b != v && read(&shown(b)) == read(text));
    if !hides(&s, &fmt_num) || !v.is_finite() {
        return s;
    }
    (5..=12)
        .map(|d| (d, format!("{v:.d$}")))
        .find(|(d, t)| !hides(t, &|b: f64| format!("{b:.d$}", d = *d)))
        .map_or(s, |(_, t)| t)
}

/// The order in which estimates can be evaluated, each after the estimates it takes inputs from
/// (references to unknown names are ignored here: validation reports them). `Err` with the
/// indices of a circle of estimates that refer to each other.
pub fn estimate_order(estimates: &[Estimate]) -> Result<Vec<usize>, Vec<usize>> {
    let index = |n: &str| estimates.iter().position(|e| e.name == n);
    let deps: Vec<Vec<usize>> = estimates
        .iter()
        .map(|e| {
            e.inputs
                .values()
                .filter_map(|i| match i {
                    Input::Estimate(n) => index(n),
                    Input::Value(_) => None,
                })
                .collect()
        })
        .collect();
    // Depth-first, with the path kept to name a circle: 0 unvisited, 1 on the path, 2 done.
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let from = path.iter().position(|&p| p == i).expect("on the path");
                return Err(path[from..].to_vec());
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for &d in &deps[i] {
            visit(d, deps, state, path, order)?;
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    let mut state = vec![0u8; estimates.len()];
    let mut order = Vec::with_capacity(estimates.len());
    for i in 0..estimates.len() {
        visit(i, &deps, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Every estimate's check and verdict item, in the scenario's order; an estimate whose input is
/// another estimate is evaluated after it, with its recomputed value.
fn evaluate_estimates(record: &RunRecord, estimates: &[Estimate]) -> Vec<(Option<EstimateCheck>, VerdictItem)> {
    let Ok(order) = estimate_order(estimates) else {
        return estimates
            .iter()
            .map(|e| (None, unevaluated_estimate(e, "estimates refer to each other in a circle".into())))
            .collect();
    };
    let mut out: Vec<Option<(Option<EstimateCheck>, VerdictItem)>> = vec![None; estimates.len()];
    for i in order {
        let est = &estimates[i];
        let mut values = BTreeMap::new();
        let mut upstream = Vec::new();
        let mut missing = Vec::new();
        for (k, input) in &est.inputs {
            match input {
                Input::Value(v) => {
                    values.insert(k.clone(), *v);
                }
                Input::Estimate(n) => {
                    let done = estimates.iter().position(|e| e.name == *n).and_then(|j| out[j].as_ref());
                    match done.and_then(|(c, _)| c.as_ref()) {
                        Some(c) => {
                            values.insert(k.clone(), c.computed);
                            upstream.push((n.clone(), c.finding()));
                        }
                        None => missing.push(format!("input `{k}` refers to estimate.{n}, which has no value")),
                    }
                }
            }
        }
        out[i] = Some(if missing.is_empty() {
            evaluate_estimate(record, est, &values, &upstream)
        } else {
            (None, unevaluated_estimate(est, missing.join("; ")))
        });
    }
    out.into_iter().map(|x| x.expect("every estimate evaluated")).collect()
}

/// The failed verdict item of an estimate that could not be evaluated, and why.
fn unevaluated_estimate(est: &Estimate, detail: String) -> VerdictItem {
    VerdictItem {
        kind: ItemKind::Estimate,
        name: est.verdict_name(),
        measured: None,
        measured_text: String::new(),
        bound: format!("= {}", fmt_num(est.claimed)),
        passed: false,
        counts: est.strict,
        detail,
        count: None,
    }
}

/// One estimate with its inputs resolved to numbers; `upstream` names the estimates it takes
/// values from, with their finding if any.
fn evaluate_estimate(
    record: &RunRecord,
    est: &Estimate,
    inputs: &BTreeMap<String, f64>,
    upstream: &[(String, Option<&'static str>)],
) -> (Option<EstimateCheck>, VerdictItem) {
    let tol = est.tolerance_or_default();
    let name = est.verdict_name();
    let failed_item = |detail: String| unevaluated_estimate(est, detail);
    let computed = match parse_expr(&est.expr).and_then(|ast| ast.eval(inputs)) {
        Ok(v) if v.is_finite() => v,
        Ok(v) => return (None, failed_item(format!("`{}` evaluates to {v}", est.expr))),
        Err(m) => return (None, failed_item(m)),
    };
    let measured =
        est.measured.as_ref().and_then(|m| lookup_metric(record, m)).map(|v| v * est.measured_scale.unwrap_or(1.0));
    // `|measured - claimed| / |claimed|`.
    let measured_error = measured.map(|m| relative_error(m, est.claimed));
    let relative_error = relative_error(est.claimed, computed);
    let arithmetic_ok = relative_error <= tol;
    let ratio = measured.filter(|_| est.claimed != 0.0).map(|m| m / est.claimed);
    let measured_tolerance = est.measured_tolerance.unwrap_or(tol);
    let measured_ok = measured_error.map(|e| e <= measured_tolerance);
    let chained: Vec<String> = est
        .inputs
        .iter()
        .filter_map(|(k, i)| match i {
            Input::Estimate(n) => Some(format!("{k} = estimate.{n} = {}", fmt_num(inputs[k]))),
            Input::Value(_) => None,
        })
        .collect();
    let mut detail = if arithmetic_ok {
        format!(
            "`{}` = {}; claimed {} (off by {:.2}%)",
            est.expr,
            fmt_num(computed),
            fmt_num(est.claimed),
            relative_error * 100.0
        )
    } else {
        format!(
            "WRONG ARITHMETIC: `{}` = {}, but the estimate claims {} (off by {:.1}%, tolerance {:.1}%)",
            est.expr,
            fmt_num(computed),
            fmt_num(est.claimed),
            relative_error * 100.0,
            tol * 100.0
        )
    };
    if !chained.is_empty() {
        detail.push_str(&format!(" (recomputed inputs: {})", chained.join(", ")));
    }
    for (n, finding) in upstream {
        if let Some(f) = finding {
            detail
                .push_str(&format!("; depends on estimate.{n}, which is flagged ({f}): its recomputed value is used"));
        }
    }
    if let Some(m) = &est.measured {
        let scale = est.measured_scale.map(|s| format!(" (scaled x{})", fmt_num(s))).unwrap_or_default();
        let ratio_text = ratio.map(|r| format!("{r:.3}")).unwrap_or_else(|| "n/a".into());
        match (measured, measured_error) {
            (Some(v), Some(err)) if err > measured_tolerance => detail.push_str(&format!(
                "; MEASURED OFF: the simulation measured {m} = {}{scale}, off from the claim by {:.1}% (tolerance \
                 {:.1}%; measured/claimed = {ratio_text})",
                fmt_num(v),
                err * 100.0,
                measured_tolerance * 100.0
            )),
            (Some(v), _) => detail.push_str(&format!(
                "; simulation measured {m} = {}{scale} (measured/claimed = {ratio_text})",
                fmt_num(v)
            )),
            (None, _) => detail.push_str(&format!("; the simulation has no metric `{m}`")),
        }
    }
    let passed = arithmetic_ok && measured_ok != Some(false);
    let mut bound = format!("= {} +/- {}%", fmt_num(est.claimed), fmt_num(tol * 100.0));
    if measured.is_some() {
        bound.push_str(&format!(", measured within {}%", fmt_num(measured_tolerance * 100.0)));
    }
    let item = VerdictItem {
        kind: ItemKind::Estimate,
        name: name.clone(),
        measured: Some(computed),
        measured_text: fmt_num(computed),
        bound,
        passed,
        counts: est.strict,
        detail,
        count: None,
    };
    let check = EstimateCheck {
        name: est.name.clone(),
        expr: est.expr.clone(),
        claimed: est.claimed,
        computed,
        relative_error,
        tolerance: tol,
        arithmetic_ok,
        strict: est.strict,
        measured_name: est.measured.clone(),
        measured,
        ratio,
        measured_tolerance,
        measured_ok,
        depends_on_flagged: upstream.iter().filter(|(_, f)| f.is_some()).map(|(n, _)| n.clone()).collect(),
    };
    (Some(check), item)
}

/// `0.8` -> `80%`, `0.875` -> `87.5%`.
fn percent(share: f64) -> String {
    format!("{}%", fmt_num(share * 100.0))
}

/// `|claimed - computed| / |computed|` (absolute difference when computed is 0).
pub fn relative_error(claimed: f64, computed: f64) -> f64 {
    let d = (claimed - computed).abs();
    if computed == 0.0 { d } else { d / computed.abs() }
}

// ---------------------------------------------------------------------------------------------
// The estimate checker's arithmetic

/// A parsed arithmetic expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Name(String),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

const FUNCTIONS: &[(&str, usize)] = &[
    ("ceil", 1),
    ("floor", 1),
    ("round", 1),
    ("sqrt", 1),
    ("ln", 1),
    ("log2", 1),
    ("log10", 1),
    ("min", 2),
    ("max", 2),
    // Queueing theory (crate::queueing): P(wait) of M/M/c with c servers and a Erlangs, and the
    // mean wait in queue of M/M/c (c, lambda, mu).
    ("erlang_c", 2),
    ("mmc_wait", 3),
];

impl Expr {
    /// Every input name it uses.
    pub fn names(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Num(_) => {}
            Expr::Name(n) => {
                out.insert(n.clone());
            }
            Expr::Neg(a) => a.names(out),
            Expr::Bin(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.names(out)),
        }
    }

    pub fn eval(&self, inputs: &BTreeMap<String, f64>) -> Result<f64, String> {
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Name(n) => *inputs.get(n).ok_or_else(|| format!("`{n}` is not among the inputs"))?,
            Expr::Neg(a) => -a.eval(inputs)?,
            Expr::Bin(op, a, b) => {
                let (x, y) = (a.eval(inputs)?, b.eval(inputs)?);
                match op {
                    '+' => x + y,
                    '-' => x - y,
                    '*' => x * y,
                    '/' => {
                        if y == 0.0 {
                            return Err(format!("division by zero in `{}`", self));
                        }
                        x / y
                    }
                    _ => math::powf(x, y),
                }
            }
            Expr::Call(f, args) => {
                let v: Vec<f64> = args.iter().map(|a| a.eval(inputs)).collect::<Result<_, _>>()?;
                match f.as_str() {
                    "ceil" => v[0].ceil(),
                    "floor" => v[0].floor(),
                    "round" => v[0].round(),
                    "sqrt" => v[0].sqrt(),
                    "ln" => math::ln(v[0]),
                    "log2" => math::log2(v[0]),
                    "log10" => math::log10(v[0]),
                    "min" => v[0].min(v[1]),
                    "erlang_c" => crate::queueing::erlang_c(whole(v[0])?, v[1])
                        .ok_or_else(|| format!("erlang_c({}, {}): needs a < c", v[0], v[1]))?,
                    "mmc_wait" => crate::queueing::mmc_mean_wait(whole(v[0])?, v[1], v[2])
                        .ok_or_else(|| format!("mmc_wait({}, {}, {}): needs lambda < c * mu", v[0], v[1], v[2]))?,
                    _ => v[0].max(v[1]),
                }
            }
        })
    }
}

/// A count of servers given as a number in an expression.
fn whole(v: f64) -> Result<u32, String> {
    if v.fract() == 0.0 && (1.0..=1e6).contains(&v) {
        Ok(v as u32)
    } else {
        Err(format!("a number of servers must be a whole number in [1, 1e6], got {v}"))
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Num(v) => write!(f, "{v}"),
            Expr::Name(n) => f.write_str(n),
            Expr::Neg(a) => write!(f, "-({a})"),
            Expr::Bin(op, a, b) => write!(f, "({a} {op} {b})"),
            Expr::Call(n, args) => {
                write!(f, "{n}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Parses `expr`: `+ - * / ^` (`^` binds tightest and to the right, `-2^2 = -4`), parentheses,
/// numbers (`1e6`, `1_000`, `.5`), names (`writes_per_day`), and `ceil floor round sqrt ln log2
/// log10 min max`. Errors name the column.
pub fn parse_expr(expr: &str) -> Result<Expr, String> {
    let mut p = ExprParser { s: expr.as_bytes(), i: 0, text: expr };
    let e = p.sum()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("unexpected text"));
    }
    Ok(e)
}

struct ExprParser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl ExprParser<'_> {
    fn err(&self, what: &str) -> String {
        let rest: String = self.text[self.i.min(self.text.len())..].chars().take(12).collect();
        if rest.is_empty() {
            format!("expression `{}`: {what} at the end", self.text)
        } else {
            format!("expression `{}`: {what} at column {} (`{rest}`)", self.text, self.i + 1)
        }
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn sum(&mut self) -> Result<Expr, String> {
        let mut a = self.product()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let b = self.product()?;
            a = Expr::Bin(c as char, Box::new(a), Box::new(b));
        }
        Ok(a)
    }
    fn product(&mut self) -> Result<Expr, String> {
        let mut a = self.unary()?;
        while let Some(c @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            let b = self.unary()?;
            a = Expr::Bin(c as char, Box::new(a), Box::new(b));
        }
        Ok(a)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(b'+') => {
                self.i += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }
    fn power(&mut self) -> Result<Expr, String> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.i += 1;
            let exp = self.unary()?; // right-associative; allows 2^-1
            return Ok(Expr::Bin('^', Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }
    fn atom(&mut self) -> Result<Expr, String> {
        match self.peek() {
            None => Err(self.err("expected a number, a name or `(`")),
            Some(b'(') => {
                self.i += 1;
                let e = self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(self.err("expected `)`"));
                }
                self.i += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.i;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || b"._".contains(&self.s[self.i])) {
                    self.i += 1;
                }
                if self.i < self.s.len() && (self.s[self.i] == b'e' || self.s[self.i] == b'E') {
                    let save = self.i;
                    self.i += 1;
                    if self.i < self.s.len() && (self.s[self.i] == b'+' || self.s[self.i] == b'-') {
                        self.i += 1;
                    }
                    let digits = self.i;
                    while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                        self.i += 1;
                    }
                    if self.i == digits {
                        self.i = save;
                    }
                }
                let text: String = self.text[start..self.i].chars().filter(|&c| c != '_').collect();
                text.parse::<f64>().map(Expr::Num).map_err(|_| {
                    self.i = start;
                    self.err("bad number")
                })
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
                    self.i += 1;
                }
                let name = self.text[start..self.i].to_string();
                if self.peek() == Some(b'(') {
                    let Some(&(_, arity)) = FUNCTIONS.iter().find(|f| f.0 == name) else {
                        self.i = start;
                        return Err(self.err(&format!(
                            "unknown function `{name}` (functions: {})",
                            FUNCTIONS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                        )));
                    };
                    self.i += 1;
                    let mut args = vec![self.sum()?];
                    while self.peek() == Some(b',') {
                        self.i += 1;
                        args.push(self.sum()?);
                    }
                    if self.peek() != Some(b')') {
                        return Err(self.err("expected `)`"));
                    }
                    self.i += 1;
                    if args.len() != arity {
                        return Err(format!(
                            "expression `{}`: `{name}` takes {arity} argument(s), got {}",
                            self.text,
                            args.len()
                        ));
                    }
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Name(name))
            }
            Some(_) => Err(self.err("expected a number, a name or `(`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Check;

    fn eval(expr: &str, inputs: &[(&str, f64)]) -> Result<f64, String> {
        let inputs = inputs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        parse_expr(expr)?.eval(&inputs)
    }

    /// One format per share: a percent with two decimals, more only where two would hide a
    /// difference (from 100%, 0% or the bound beside it).
    #[test]
    fn shares_are_percents_with_two_decimals_and_never_round_onto_a_bound() {
        for (share, beside, shown) in [
            (0.9941, &[][..], "99.41%"),
            (1.0, &[][..], "100.00%"),
            (0.0, &[][..], "0.00%"),
            (0.99995, &[][..], "99.995%"),
            (0.999_999_4, &[][..], "99.9999%"),
            (0.00004, &[][..], "0.004%"),
            (0.98999, &[0.99][..], "98.999%"),
            (0.99, &[0.99][..], "99.00%"),
            (0.5, &[0.99][..], "50.00%"),
        ] {
            assert_eq!(percent_beside(share, beside), shown, "{share} beside {beside:?}");
        }
        assert_eq!(num_beside(0.99995, &[1.0]), "0.99995");
        assert_eq!(num_beside(12.5, &[10.0]), "12.5");
        assert_eq!(ms_beside(5.390_3, &[20.0]), "5.39 ms");
        assert_eq!(ms_beside(20.004, &[20.0]), "20.004 ms");
        assert_eq!(ms_beside(0.1, &[]), "0.1 ms");
    }

    fn check(expr: &str, expected: f64) {
        let v = eval(expr, &[("a", 2.0), ("b", 3.0)]).unwrap();
        assert!((v - expected).abs() < 1e-9 * expected.abs().max(1.0), "{expr} = {v}, expected {expected}");
    }

    #[test]
    fn arithmetic() {
        check("1 + 2 * 3", 7.0);
        check("(1 + 2) * 3", 9.0);
        check("2 ^ 3 ^ 2", 512.0);
        check("-2 ^ 2", -4.0);
        check("2 ^ -1", 0.5);
        check("10 - 4 - 3", 3.0);
        check("100 / 10 / 5", 2.0);
        check("1e6 / 1_000", 1000.0);
        check("1.5e-3 * 2E3", 3.0);
        check(".5 + a * b", 6.5);
        check("ceil(7 / 2) + floor(2.9) + max(a, b) - min(a, b)", 7.0);
        check("sqrt(16) + log2(8) + log10(1000) + round(2.5)", 13.0);
    }

    #[test]
    fn errors_say_where() {
        assert!(parse_expr("1 + ").unwrap_err().contains("at the end"));
        assert!(parse_expr("(1 + 2").unwrap_err().contains("expected `)`"));
        assert!(parse_expr("2 $ 3").unwrap_err().contains("column 3"));
        assert!(parse_expr("foo(1)").unwrap_err().contains("unknown function"));
        assert!(parse_expr("max(1)").unwrap_err().contains("takes 2"));
        assert!(eval("a / 0", &[("a", 1.0)]).unwrap_err().contains("division by zero"));
        assert!(eval("zz + 1", &[]).unwrap_err().contains("`zz`"));
    }

    fn estimate(expr: &str, inputs: &[(&str, f64)], claimed: f64) -> Estimate {
        Estimate {
            name: "e".into(),
            expr: expr.into(),
            inputs: inputs.iter().map(|(k, v)| (k.to_string(), Input::Value(*v))).collect(),
            claimed,
            tolerance: None,
            measured: None,
            measured_scale: None,
            measured_tolerance: None,
            strict: false,
        }
    }

    fn fault(label: &str, dropped: u64) -> crate::record::FaultRecord {
        crate::record::FaultRecord {
            label: label.into(),
            start_s: 1.0,
            end_s: Some(2.0),
            messages_dropped: dropped,
            events_delayed: 0,
            timers_lost: 0,
            writes_lost: 0,
            ops_hit: 0,
            messages_in_outage: 0,
            had_effect: dropped > 0,
        }
    }

    #[test]
    fn faults_effective_fails_on_an_idle_fault_and_ignores_clock_faults() {
        let mut rec = empty_record();
        rec.faults = vec![fault("isolate n1", 12), fault("clock step n2 -2s", 0)];
        let on = EvalOptions { require_fault_effect: true, ..EvalOptions::default() };
        let v = evaluate_with(&rec, &[], &[], &[], &Expect::Pass, on);
        assert!(v.passed, "{:?}", v.items);
        let item = v.items.iter().find(|i| i.name == FAULTS_EFFECTIVE).unwrap();
        assert!(item.detail.contains("1 clock faults not counted"), "{}", item.detail);
        // Without the option there is no such item.
        assert!(evaluate(&rec, &[], &[], &[], &Expect::Pass).items.is_empty());
        rec.faults.push(fault("pause n0", 0));
        let v = evaluate_with(&rec, &[], &[], &[], &Expect::Pass, on);
        assert_eq!(v.failed, [FAULTS_EFFECTIVE]);
        assert!(v.items[0].detail.contains("1 of 2 faults did nothing: pause n0 at 1s"), "{}", v.items[0].detail);
        // A known-bad scenario may expect it, even with a list of invariants.
        let expect = Expect::Fail(vec![FAULTS_EFFECTIVE.into()]);
        assert!(validate_spec(&["x".into()], &[], &[], &[], &[], &expect, ModelNames::default()).is_empty());
        assert!(evaluate_with(&rec, &[], &[], &[], &expect, on).meets_expectation);
    }

    fn empty_record() -> RunRecord {
        RunRecord {
            scenario: "s".into(),
            model: "m".into(),
            seed: 1,
            trace_hash: "0".into(),
            events: 0,
            stop: StopReason::Quiescent,
            main_phase_s: 1.0,
            end_s: 1.0,
            interval_s: 0.1,
            ops: vec![],
            series: vec![],
            faults: vec![],
            messages: vec![],
            counters: BTreeMap::new(),
            gauges: vec![],
            model_report: Default::default(),
            queueing: Default::default(),
            op_points: Default::default(),
            events_skipped: 0,
        }
    }

    /// A Measure SLA on the queueing cross-check passes inside its bound, fails outside it, and
    /// fails (naming what the run has) when the station or field does not exist.
    #[test]
    fn measure_slas_read_the_queueing_cross_check() {
        use crate::crosscheck::{Queueing, StationRow};
        let mut rec = empty_record();
        let row = |scope: &str, ratio: f64| StationRow {
            scope: scope.into(),
            nodes: 1,
            servers: 4,
            servers_varied: false,
            arrivals: 10_000,
            served: 10_000,
            arrival_rate_per_s: 320.0,
            mean_service_ms: 10.0,
            arrival_cv2: 1.0,
            service_cv2: 1.0,
            utilisation: 0.8,
            wait_measured_ms: 7.46 * ratio,
            queue_mean: None,
            queue_lambda_w: 0.0,
            wait_predicted_ms: Some(7.46),
            ratio: Some(ratio),
            formula: "M/M/c (Erlang C)".into(),
            approximate: false,
            note: String::new(),
        };
        rec.queueing = Queueing { little: vec![], stations: vec![row("good", 1.01), row("bad", 1.3)] };
        let gate = |name: &str| Sla::Measure { name: name.into(), min: Some(0.95), max: Some(1.05) };
        let v = evaluate(
            &rec,
            &[],
            &[gate("queueing.good.wait_ratio"), gate("queueing.bad.wait_ratio"), gate("queueing.none.wait_ratio")],
            &[],
            &Expect::Pass,
        );
        assert_eq!(v.failed, ["measure.queueing.bad.wait_ratio", "measure.queueing.none.wait_ratio"]);
        let missing = v.items.iter().find(|i| i.name == "measure.queueing.none.wait_ratio").expect("item");
        assert!(missing.detail.contains("queueing.good.wait_ratio"), "{}", missing.detail);
    }

    #[test]
    fn estimate_checker_accepts_right_and_flags_wrong_products() {
        let rec = empty_record();
        // "20 crawlers at 100 pages/s crawl 10B pages in 5 days": 20*100*86400*5 = 864M, not 10B.
        let wrong = estimate(
            "crawlers * pages_per_s * 86400 * days",
            &[("crawlers", 20.0), ("pages_per_s", 100.0), ("days", 5.0)],
            10e9,
        );
        let right = estimate(
            "crawlers * pages_per_s * 86400 * days",
            &[("crawlers", 20.0), ("pages_per_s", 100.0), ("days", 5.0)],
            864e6,
        );
        // "100M writes/day = 1,160 writes/s" is within 5% (1157.4).
        let rate = estimate("writes_per_day / 86400", &[("writes_per_day", 100e6)], 1160.0);
        let v = evaluate(&rec, &[], &[], &[wrong.clone(), right, rate], &Expect::Pass);
        assert!(!v.estimates[0].arithmetic_ok);
        assert!((v.estimates[0].computed - 864e6).abs() < 1.0);
        assert!(v.items[0].detail.contains("WRONG ARITHMETIC"), "{}", v.items[0].detail);
        assert!(v.estimates[1].arithmetic_ok);
        assert!(v.estimates[2].arithmetic_ok, "{:?}", v.estimates[2]);
        // Not strict: a finding, but the run still passes.
        assert!(v.passed && v.meets_expectation);
        // Strict: the run fails, and a known-bad expectation can name it.
        let strict = Estimate { strict: true, ..wrong };
        let v = evaluate(&rec, &[], &[], std::slice::from_ref(&strict), &Expect::Pass);
        assert!(!v.passed);
        assert_eq!(v.failed, ["estimate.e"]);
        let v = evaluate(&rec, &[], &[], &[strict], &Expect::Fail(vec!["estimate.e".into()]));
        assert!(v.meets_expectation, "{}", v.expectation);
    }

    #[test]
    fn measured_values_and_ratio() {
        let mut rec = empty_record();
        rec.model_report.measures.insert("state_bytes".into(), 1000.0);
        let mut e = estimate("users * bytes", &[("users", 1e6), ("bytes", 36.0)], 36e6);
        e.measured = Some("state_bytes".into());
        e.measured_scale = Some(1e4);
        let v = evaluate(&rec, &[], &[], &[e], &Expect::Pass);
        assert_eq!(v.estimates[0].measured, Some(1e7));
        assert!((v.estimates[0].ratio.unwrap() - 1e7 / 36e6).abs() < 1e-12);
    }

    #[test]
    fn a_measured_value_off_from_the_claim_is_a_finding() {
        // The shortener's "7 base62 symbols" beside the 10 symbols the run's IDs really took.
        let mut rec = empty_record();
        rec.model_report.measures.insert("short_url_len_max".into(), 10.0);
        let mut e = estimate("chars", &[("chars", 7.0)], 7.0);
        e.measured = Some("short_url_len_max".into());
        let v = evaluate(&rec, &[], &[], std::slice::from_ref(&e), &Expect::Pass);
        let c = &v.estimates[0];
        assert!(c.arithmetic_ok);
        assert_eq!((c.measured, c.measured_ok, c.finding()), (Some(10.0), Some(false), Some("MEASURED OFF")));
        assert!(!v.items[0].passed, "a finding is not `ok`");
        assert!(v.items[0].detail.contains("MEASURED OFF: the simulation measured short_url_len_max = 10"));
        assert!(v.items[0].detail.contains("off from the claim by 42.9% (tolerance 5.0%"), "{}", v.items[0].detail);
        assert_eq!(v.measured_off_estimates().count(), 1);
        assert_eq!(v.wrong_estimates().count(), 0);
        assert!(v.passed, "not strict: a finding, not a failure");
        // Strict, it fails the run; with a stated tolerance of 50% it is within.
        let strict = Estimate { strict: true, ..e.clone() };
        assert_eq!(evaluate(&rec, &[], &[], &[strict], &Expect::Pass).failed, ["estimate.e"]);
        let loose = Estimate { measured_tolerance: Some(0.5), ..e };
        let v = evaluate(&rec, &[], &[], &[loose], &Expect::Pass);
        assert!(v.items[0].passed && v.estimates[0].finding().is_none(), "{}", v.items[0].detail);
    }

    #[test]
    fn a_chained_estimate_uses_the_recomputed_value_and_names_a_flagged_source() {
        let rec = empty_record();
        // The crawler notes: "10B pages in 5 days = 2,000 pages/s" (it is 23,148), then "2,000 /
        // 100 per crawler = 20 crawlers". The second is listed first: order does not matter.
        let mut crawlers = estimate("rate / per_crawler", &[("per_crawler", 100.0)], 20.0);
        crawlers.name = "crawlers".into();
        crawlers.inputs.insert("rate".into(), Input::Estimate("rate".into()));
        let mut rate = estimate("pages / (days * 86400)", &[("pages", 10e9), ("days", 5.0)], 2000.0);
        rate.name = "rate".into();
        let v = evaluate(&rec, &[], &[], &[crawlers.clone(), rate.clone()], &Expect::Pass);
        let c = &v.estimates[0];
        assert_eq!(c.name, "crawlers");
        assert!((c.computed - 231.48).abs() < 0.01, "{}", c.computed);
        assert!(!c.arithmetic_ok, "20 crawlers came from the wrong rate");
        assert_eq!(c.depends_on_flagged, ["rate"]);
        let d = &v.items[0].detail;
        assert!(d.contains("recomputed inputs: rate = estimate.rate = 23148.1481"), "{d}");
        assert!(d.contains("depends on estimate.rate, which is flagged (WRONG ARITHMETIC)"), "{d}");
        // The right claim for the chain passes, and still says where its input came from.
        let right = Estimate { claimed: 231.5, ..crawlers };
        let v = evaluate(&rec, &[], &[], &[rate.clone(), right.clone()], &Expect::Pass);
        assert!(v.estimates[1].arithmetic_ok && v.items[1].passed, "{}", v.items[1].detail);
        // A right source: nothing to say about it.
        let fixed = Estimate { claimed: 23148.0, ..rate };
        let v = evaluate(&rec, &[], &[], &[fixed, right], &Expect::Pass);
        assert!(v.estimates[1].depends_on_flagged.is_empty());
        assert!(!v.items[1].detail.contains("flagged"), "{}", v.items[1].detail);
    }

    #[test]
    fn estimate_references_parse_and_are_validated() {
        let e: Estimate =
            ron::from_str(r#"(name: "b", expr: "a * 2 + n", inputs: {"a": "estimate.a", "n": 3}, claimed: 7.0)"#)
                .unwrap();
        assert_eq!(e.inputs["a"], Input::Estimate("a".into()));
        assert_eq!(e.inputs["n"], Input::Value(3.0));
        assert_eq!(ron::to_string(&e.inputs).unwrap(), r#"{"a":"estimate.a","n":3.0}"#);
        let err = ron::from_str::<Estimate>(r#"(name: "b", expr: "a", inputs: {"a": "a"}, claimed: 1.0)"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("estimate.<name>"), "{err}");
        let with = |name: &str, input: &str| {
            let mut e = estimate("x", &[], 1.0);
            e.name = name.into();
            e.inputs.insert("x".into(), Input::Estimate(input.into()));
            e
        };
        let paths = |ests: &[Estimate]| -> Vec<(String, String)> {
            validate_spec(&[], &[], &[], &[], ests, &Expect::Pass, ModelNames::default())
        };
        let p = paths(&[with("a", "nope")]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "estimates[0].inputs[\"x\"]");
        assert!(p[0].1.contains("no estimate is named `nope`"), "{p:?}");
        assert!(paths(&[with("a", "a")])[0].1.contains("is this estimate itself"));
        let p = paths(&[with("a", "b"), with("b", "c"), with("c", "a")]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].1, "estimates refer to each other in a circle: a -> b -> c -> a");
        assert!(paths(&[with("a", "b"), estimate("1", &[], 1.0)]).len() == 1);
        let mut b = estimate("1", &[], 1.0);
        b.name = "b".into();
        assert!(paths(&[with("a", "b"), b]).is_empty());
    }

    fn op(kind: &str, ok: u64, fail: u64, in_faults: Option<f64>) -> crate::record::OpSummary {
        crate::record::OpSummary {
            kind: kind.into(),
            total: ok + fail,
            ok,
            fail,
            timeout: 0,
            rejected: 0,
            pending: 0,
            throughput_ok_per_s: ok as f64 / 10.0,
            availability: ok as f64 / (ok + fail) as f64,
            availability_in_faults: in_faults,
            availability_outside_faults: Some(1.0),
            latency_ms: crate::record::Percentiles { mean: 2.0, p50: 2.0, p90: 4.0, p99: 9.0, p999: 20.0, max: 30.0 },
            latency_curve: vec![
                (0.0, 1.0),
                (50.0, 2.0),
                (90.0, 4.0),
                (95.0, 6.0),
                (99.0, 9.0),
                (99.9, 20.0),
                (100.0, 30.0),
            ],
        }
    }

    #[test]
    fn metrics_by_name() {
        let mut rec = empty_record();
        rec.ops = vec![op("get", 90, 10, Some(0.5)), op("put", 100, 0, Some(0.8))];
        rec.model_report.measures.insert("throughput_total".into(), 7.0);
        let m = |n: &str| lookup_metric(&rec, n);
        assert_eq!(m("throughput"), Some(19.0));
        assert_eq!(m("throughput.put"), Some(10.0));
        assert_eq!(m("throughput_total"), Some(7.0));
        assert_eq!(m("measure.throughput_total"), Some(7.0));
        assert_eq!(m("availability"), Some(190.0 / 200.0));
        assert_eq!(m("availability.get"), Some(0.9));
        assert_eq!(m("availability.in_faults"), Some(0.5));
        assert_eq!(m("availability.put.in_faults"), Some(0.8));
        assert_eq!(m("error_rate.get"), Some(0.1));
        assert_eq!(m("latency.get.p99"), Some(9.0));
        assert_eq!(m("latency.get.p97"), Some(7.5));
        assert_eq!(m("throughput.nope"), None);
        assert_eq!(m("nope"), None);
    }

    #[test]
    fn slas_pass_and_fail_on_their_bounds() {
        let mut rec = empty_record();
        rec.ops = vec![op("get", 90, 10, None)];
        let slas = vec![
            Sla::Latency { op: "get".into(), percentile: 99.0, max: Duration::from_millis(10) },
            Sla::Latency { op: "get".into(), percentile: 99.9, max: Duration::from_millis(10) },
            Sla::Availability { op: None, min: 0.95, window: Window::All },
            Sla::Availability { op: None, min: 0.5, window: Window::InFaults },
            Sla::ErrorRate { op: None, max: 0.1 },
            Sla::Throughput { op: Some("get".into()), min_per_s: 9.0 },
        ];
        let v = evaluate(&rec, &[], &slas, &[], &Expect::Pass);
        let passed: Vec<(&str, bool)> = v.items.iter().map(|i| (i.name.as_str(), i.passed)).collect();
        assert_eq!(
            passed,
            [
                ("latency.get.p99", true),
                ("latency.get.p99.9", false),
                ("availability", false),
                // No operation overlaps a fault window: a bound on nothing fails.
                ("availability.in_faults", false),
                ("error_rate", true),
                ("throughput.get", true)
            ]
        );
        assert!(v.items[3].detail.contains("no operations"), "{}", v.items[3].detail);
    }

    #[test]
    fn expectation_is_exact() {
        let mut rec = empty_record();
        rec.model_report.checks.push(Check::judged("durability", 10u64, "writes").violations(3u64, "lost"));
        rec.model_report.checks.push(Check::judged("convergence", 5u64, "keys").violations(0u64, "diverged"));
        let v = evaluate(&rec, &[], &[], &[], &Expect::Fail(vec!["durability".into()]));
        assert!(!v.passed && v.meets_expectation);
        let v = evaluate(&rec, &[], &[], &[], &Expect::Fail(vec!["convergence".into(), "typo".into()]));
        assert!(!v.meets_expectation);
        assert!(v.expectation.contains("typo (not checked at all)"), "{}", v.expectation);
        assert!(v.expectation.contains("failed unexpectedly: durability"), "{}", v.expectation);
        assert!(v.expectation.contains("expected to fail but passed: convergence, typo"), "{}", v.expectation);
        // The invariants list filters what counts; an unknown name fails.
        let v = evaluate(&rec, &["convergence".into()], &[], &[], &Expect::Pass);
        assert!(v.passed);
        let v = evaluate(&rec, &["nonsense".into()], &[], &[], &Expect::Pass);
        assert_eq!(v.failed, ["nonsense"]);
    }

    #[test]
    fn expect_spellings_parse_and_round_trip() {
        let parse = |s: &str| ron::from_str::<Expect>(s);
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse("Pass").unwrap(), Expect::Pass);
        assert_eq!(parse(r#"Fail(["a", "b"])"#).unwrap(), Expect::Fail(names(&["a", "b"])));
        assert_eq!(parse(r#"Fail(["a"], AtLeast(0.9))"#).unwrap(), Expect::FailAtLeast(names(&["a"]), 0.9));
        assert!(parse(r#"Fail(["a"], AtLeast(0.9), 1)"#).is_err());
        assert!(parse(r#"Fail(["a"], 0.9)"#).is_err(), "a bare share is refused: write AtLeast(0.9)");
        assert!(parse("Fail()").is_err());
        for e in [Expect::Pass, Expect::Fail(names(&["x"])), Expect::FailAtLeast(names(&["x", "y"]), 0.75)] {
            let text = ron::to_string(&e).unwrap();
            assert_eq!(parse(&text).unwrap(), e, "{text}");
        }
        assert_eq!(ron::to_string(&Expect::FailAtLeast(names(&["x"]), 0.75)).unwrap(), r#"Fail(["x"],AtLeast(0.75))"#);
    }

    #[test]
    fn a_known_bad_run_may_also_fail_what_may_also_fail_allows_and_nothing_else() {
        let mut rec = empty_record();
        rec.model_report.checks.push(Check::judged("lost", 1u64, "items").passed_if(false));
        rec.model_report.checks.push(Check::judged("false_alerts", 1u64, "items").passed_if(false));
        rec.model_report.checks.push(Check::judged("order", 1u64, "items").passed_if(true));
        let expect = Expect::Fail(vec!["lost".into()]);
        let also = ["false_alerts".to_string()];
        let opts = EvalOptions { may_also_fail: &also, ..EvalOptions::default() };
        // `false_alerts` failed beside `lost`: not as declared without the allowance, as declared with it.
        let v = evaluate(&rec, &[], &[], &[], &expect);
        assert!(
            !v.meets_expectation && v.expectation.contains("failed unexpectedly: false_alerts"),
            "{}",
            v.expectation
        );
        assert!(!expect.failed_as_declared(&v.failed, &[]));
        let v = evaluate_with(&rec, &[], &[], &[], &expect, opts);
        assert!(v.meets_expectation && !v.passed, "{}", v.expectation);
        assert!(v.expectation.contains("as `may_also_fail` allows: false_alerts"), "{}", v.expectation);
        assert!(expect.failed_as_declared(&v.failed, &also));
        // The allowance is no substitute for the declared failure ...
        rec.model_report.checks[0].passed = true;
        let v = evaluate_with(&rec, &[], &[], &[], &expect, opts);
        assert!(
            !v.meets_expectation && v.expectation.contains("expected to fail but passed: lost"),
            "{}",
            v.expectation
        );
        assert!(!expect.failed_as_declared(&v.failed, &also));
        // ... and allows nothing else.
        rec.model_report.checks[0].passed = false;
        rec.model_report.checks[2].passed = false;
        let v = evaluate_with(&rec, &[], &[], &[], &expect, opts);
        assert!(!v.meets_expectation && v.expectation.contains("failed unexpectedly: order"), "{}", v.expectation);
        assert!(!v.expectation.contains("false_alerts"), "{}", v.expectation);
        // Validation: known names, not in `expect`, not twice, and only for a known-bad scenario.
        let names = ModelNames { op_kinds: &[], checks: &["lost", "false_alerts", "order"] };
        let also = ["false_alert".to_string(), "lost".to_string(), "order".to_string(), "order".to_string()];
        let e = validate_spec(&[], &[], &also, &[], &[], &expect, names);
        let paths: Vec<&str> = e.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, ["may_also_fail[0]", "may_also_fail[1]", "may_also_fail[3]"], "{e:?}");
        assert!(e[0].1.contains("unknown check `false_alert`") && e[1].1.contains("in `expect` already"), "{e:?}");
        let e = validate_spec(&[], &[], &["order".into()], &[], &[], &Expect::Pass, names);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].0 == "may_also_fail" && e[0].1.contains("only a known-bad scenario"), "{e:?}");
    }

    #[test]
    fn a_rated_known_bad_run_that_does_not_fail_is_within_its_promise() {
        let mut rec = empty_record();
        rec.model_report.checks.push(Check::judged("dupes", 1u64, "items").passed_if(false));
        rec.model_report.checks.push(Check::judged("coverage", 1u64, "items").passed_if(true));
        rec.model_report.checks.push(Check::judged("politeness", 1u64, "items").passed_if(true));
        let both = vec!["dupes".to_string(), "coverage".to_string()];
        let rated = Expect::FailAtLeast(both.clone(), 0.8);
        // Only `dupes` failed: a miss, which the promised rate allows.
        let v = evaluate(&rec, &[], &[], &[], &rated);
        assert!(v.meets_expectation && !v.passed, "{}", v.expectation);
        assert!(!rated.failed_as_declared(&v.failed, &[]));
        assert!(v.expectation.contains("within its promised rate"), "{}", v.expectation);
        assert!(v.expectation.contains("coverage held"), "{}", v.expectation);
        assert!(v.expectation.contains("at least 80% of seeds"), "{}", v.expectation);
        // The same run against the every-seed spelling does not meet it.
        assert!(!evaluate(&rec, &[], &[], &[], &Expect::Fail(both.clone())).meets_expectation);
        // Both failed: a hit.
        rec.model_report.checks[1].passed = false;
        let v = evaluate(&rec, &[], &[], &[], &rated);
        assert!(v.meets_expectation && rated.failed_as_declared(&v.failed, &[]), "{}", v.expectation);
        assert!(v.expectation.contains("failed for exactly the expected reason"), "{}", v.expectation);
        // Something the scenario does not name failed: never within the promise.
        rec.model_report.checks[2].passed = false;
        let v = evaluate(&rec, &[], &[], &[], &rated);
        assert!(!v.meets_expectation, "{}", v.expectation);
        assert!(v.expectation.contains("failed unexpectedly: politeness"), "{}", v.expectation);
        // Nothing failed at all: within the promise too (and the run passed).
        for c in &mut rec.model_report.checks {
            c.passed = true;
        }
        let v = evaluate(&rec, &[], &[], &[], &rated);
        assert!(v.meets_expectation && v.passed, "{}", v.expectation);
    }

    #[test]
    fn a_promised_rate_must_be_a_share_strictly_between_0_and_1() {
        let problems = |rate: f64| {
            validate_spec(&[], &[], &[], &[], &[], &Expect::FailAtLeast(vec!["x".into()], rate), ModelNames::default())
        };
        assert!(problems(0.9).is_empty());
        for bad in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
            let p = problems(bad);
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert_eq!(p[0].0, "expect.Fail[1]");
        }
        assert!(problems(1.0)[0].1.contains("written `Fail([...])` alone"));
        // Names are located inside the list, which is the first element now.
        let p = validate_spec(
            &["x".into()],
            &[],
            &[],
            &[],
            &[],
            &Expect::FailAtLeast(vec!["x".into(), "y".into()], 0.5),
            ModelNames::default(),
        );
        assert_eq!(p.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["expect.Fail[0][1]"]);
    }

    #[test]
    fn a_check_that_judged_nothing_is_vacuous_and_fails_unless_allowed() {
        let mut rec = empty_record();
        rec.model_report.checks.push(Check::judged("stale_reads", 0u64, "reads").violations(0u64, "stale"));
        rec.model_report
            .checks
            .push(Check::judged("durability", 41_200u64, "acknowledged writes").violations(0u64, "lost"));
        let v = evaluate(&rec, &[], &[], &[], &Expect::Pass);
        assert_eq!(v.failed, ["stale_reads"]);
        let item = &v.items[0];
        assert!(is_vacuous(item) && item.detail.starts_with("VACUOUS: judged no reads"), "{}", item.detail);
        assert_eq!(item.count.as_ref().map(|c| c.judged), Some(0));
        assert!(v.items[1].passed && v.items[1].detail.starts_with("0 of 41,200 acknowledged writes lost"));
        // The scenario may say the check can be empty.
        let allowed = ["stale_reads".to_string()];
        let opts = EvalOptions { may_be_empty: &allowed, ..EvalOptions::default() };
        let v = evaluate_with(&rec, &[], &[], &[], &Expect::Pass, opts);
        assert!(v.passed, "{:?}", v.items);
        assert!(v.items[0].detail.contains("allowed by `may_be_empty`"), "{}", v.items[0].detail);
        // A vacuous check that also failed on its own stays failed.
        rec.model_report.checks[0] = Check::judged("stale_reads", 0u64, "reads").passed_if(false);
        assert!(!evaluate_with(&rec, &[], &[], &[], &Expect::Pass, opts).passed);
    }

    #[test]
    fn check_names_are_validated_against_the_model() {
        let names = ModelNames { op_kinds: &["get"], checks: &["durability", "stale_reads"] };
        let e = validate_spec(
            &["durability".into(), "linearizable".into()],
            &["stale_read".into(), "stale_reads".into(), "stale_reads".into()],
            &[],
            &[],
            &[],
            &Expect::Pass,
            names,
        );
        let paths: Vec<&str> = e.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(paths, ["invariants[1]", "may_be_empty[0]", "may_be_empty[2]"], "{e:?}");
        assert!(e[0].1.contains("unknown check `linearizable` (the model checks: durability, stale_reads)"), "{e:?}");
        // With every check counted, `expect` names must be checks too.
        let e = validate_spec(&[], &[], &[], &[], &[], &Expect::Fail(vec!["durabilty".into()]), names);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].1.contains("unknown check `durabilty`"), "{e:?}");
    }

    #[test]
    fn progress_conditions_are_slas_that_fail_on_no_progress_or_counted_progress_checks() {
        let safety_only = vec![
            Sla::Latency { op: "get".into(), percentile: 99.0, max: Duration::from_millis(5) },
            Sla::Measure { name: "x".into(), min: Some(1.0), max: None },
            Sla::Throughput { op: None, min_per_s: 0.0 },
            Sla::Availability { op: None, min: 0.0, window: Window::All },
        ];
        assert!(progress_conditions(&[], &[], &safety_only, &[]).is_empty());
        let mut slas = safety_only.clone();
        slas.push(Sla::Throughput { op: Some("get".into()), min_per_s: 10.0 });
        slas.push(Sla::Availability { op: None, min: 0.9, window: Window::InFaults });
        assert_eq!(progress_conditions(&[], &[], &slas, &[]), ["throughput.get", "availability.in_faults"]);
        // A model's progress check counts when the scenario counts it, and is not allowed empty.
        assert_eq!(progress_conditions(&[], &[], &safety_only, &["all_consumed"]), ["all_consumed"]);
        assert!(progress_conditions(&["order".into()], &[], &safety_only, &["all_consumed"]).is_empty());
        assert!(progress_conditions(&[], &["all_consumed".into()], &safety_only, &["all_consumed"]).is_empty());
    }

    #[test]
    fn sla_typos_are_refused() {
        let e =
            ron::from_str::<Sla>("Latency(op: \"get\", percentile: 99.0, max: \"5ms\", maxx: \"1ms\")").unwrap_err();
        assert!(e.to_string().contains("maxx"), "{e}");
        let e = ron::from_str::<Estimate>("(name: \"a\", expr: \"1\", claimed: 1.0, strickt: true)").unwrap_err();
        assert!(e.to_string().contains("strickt"), "{e}");
    }

    #[test]
    fn names_follow_the_convention() {
        let l = Sla::Latency { op: "get".into(), percentile: 99.9, max: Duration::from_millis(5) };
        assert_eq!(l.name(), "latency.get.p99.9");
        let l = Sla::Latency { op: "get".into(), percentile: 99.0, max: Duration::from_millis(5) };
        assert_eq!(l.name(), "latency.get.p99");
        let a = Sla::Availability { op: Some("put".into()), min: 0.9, window: Window::InFaults };
        assert_eq!(a.name(), "availability.put.in_faults");
        assert_eq!(Sla::ErrorRate { op: None, max: 0.1 }.name(), "error_rate");
    }

    #[test]
    fn spec_validation_finds_every_problem() {
        let slas = vec![
            Sla::Latency { op: "gett".into(), percentile: 120.0, max: Duration::from_millis(5) },
            Sla::Availability { op: None, min: 1.5, window: Window::All },
            Sla::Measure { name: "x".into(), min: None, max: None },
        ];
        let ests = vec![estimate("a * c", &[("a", 1.0), ("b", 2.0)], 2.0)];
        let expect = Expect::Fail(vec!["latency.put.p99".into(), "estimate.e".into()]);
        let names = ModelNames { op_kinds: &["get", "put"], checks: &[] };
        let e = validate_spec(&[], &[], &[], &slas, &ests, &expect, names);
        let paths: Vec<&str> = e.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "slas[0].op",
                "slas[0].percentile",
                "slas[1].min",
                "slas[2]",
                "estimates[0].expr",
                "estimates[0].inputs[\"b\"]",
                "expect.Fail[0]",
                "expect.Fail[1]"
            ],
            "{e:?}"
        );
    }
}
