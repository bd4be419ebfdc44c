//! `summary.json`: the machine-readable summary. Field names are stable; new fields may be added,
//! existing ones are not renamed or removed without bumping `schema_version`.
//!
//! | field | meaning |
//! | --- | --- |
//! | `schema_version` | 1 |
//! | `simctl_version` | the simctl version that ran it |
//! | `scenario` | the scenario's `name` |
//! | `scenario_file` | the file as given on the command line |
//! | `scenario_hash` | FNV-1a (64-bit, hex) of the file's text |
//! | `model` | the model's name |
//! | `seed` | the seed that ran (after `--seed`) |
//! | `trace_hash` | hash of every processed event: equal hashes, equal runs |
//! | `events` | events processed |
//! | `stop` | `Quiescent`, `TimeLimit` or `EventLimit` |
//! | `main_phase_s`, `end_s` | end of the fault+load phase, end of the run (after settling) |
//! | `reproduce` | the exact command that reproduces the run |
//! | `verdict` | `passed`, `meets_expectation`, `expectation` (words), `expect` (`"Pass"`, `{"Fail": [names]}` or `{"Fail": [[names], {"AtLeast": r}]}`), `may_also_fail` (names a known-bad run may fail beside `expect`'s; only when the scenario has some), `failed` (names), `items` (kind, name, measured, bound, passed, counts, detail; for an invariant also `count`: judged, unit, violations, violation, skipped [{count, reason}]) |
//! | `estimates` | per estimate: name, expr, claimed, computed, relative_error, tolerance, arithmetic_ok, strict, measured_name, measured, ratio, measured_tolerance, measured_ok, depends_on_flagged |
//! | `ops` | per op kind: total, ok, fail, timeout, rejected, pending, throughput_ok_per_s, availability, availability_in_faults, availability_outside_faults, latency_ms {mean, p50, p90, p99, p999, max}, latency_curve |
//! | `faults` | per fault: label, start_s, end_s, messages_dropped, events_delayed, timers_lost, writes_lost, ops_hit, messages_in_outage, had_effect |
//! | `checks`, `measures` | the model's invariant checks (name, passed, detail, judged, unit, violations, violation, skipped, blamed [{op, invoke_ns, complete_ns}]: the first operations it blames, earliest first, at most 10) and named measurements |
//! | `tables` | the model's tables: name, columns, rows (numbers at full precision; a non-finite value is `null`, e.g. an open last bin), shape (`"grid"`, or `{"curve": {x, x_axis, ys, y_axis, time, x_to, note}}` / `{"bars": ...}`: how the report plots it, axes with label and unit), and `names` when the model named a column's values (`{column, names}`, row by row: a category stored as a number) |
//! | `queueing` | the analytic cross-check every run gets (`sim_core::crosscheck`): `little` per op kind (issued, completed, in_flight_at_end, l_measured, arrival_rate_per_s, mean_latency_ms, lambda_w, end_effect, relative_gap, identity_holds) and `stations` per queueing part scope (nodes, servers, servers_varied, arrivals, served, arrival_rate_per_s, mean_service_ms, arrival_cv2, service_cv2, utilisation, wait_measured_ms, queue_mean, queue_lambda_w, wait_predicted_ms, ratio, formula, approximate, note) |
//! | `messages`, `counters` | per message kind counts; the model's counters |

use crate::Meta;
use serde::Serialize;
use sim_core::model::Check;
use sim_core::record::{FaultRecord, MessageRecord, OpSummary, RunRecord};
use sim_core::verdict::{EstimateCheck, Verdict};
use sim_core::world::StopReason;
use std::collections::BTreeMap;

/// The fields every `summary.json` has (tests check these).
pub const FIELDS: &[&str] = &[
    "schema_version",
    "simctl_version",
    "scenario",
    "scenario_file",
    "scenario_hash",
    "model",
    "seed",
    "trace_hash",
    "events",
    "stop",
    "main_phase_s",
    "end_s",
    "reproduce",
    "verdict",
    "estimates",
    "ops",
    "faults",
    "checks",
    "measures",
    "tables",
    "queueing",
    "messages",
    "counters",
];

#[derive(Serialize)]
struct Summary<'a> {
    schema_version: u32,
    simctl_version: &'a str,
    scenario: &'a str,
    scenario_file: &'a str,
    scenario_hash: &'a str,
    description: &'a str,
    model: &'a str,
    seed: u64,
    trace_hash: &'a str,
    events: u64,
    stop: StopReason,
    main_phase_s: f64,
    end_s: f64,
    reproduce: &'a str,
    verdict: VerdictOut<'a>,
    estimates: &'a [EstimateCheck],
    ops: &'a [OpSummary],
    faults: &'a [FaultRecord],
    checks: &'a [Check],
    measures: &'a BTreeMap<String, f64>,
    tables: &'a [sim_core::model::Table],
    queueing: &'a sim_core::crosscheck::Queueing,
    messages: &'a [MessageRecord],
    counters: &'a BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct VerdictOut<'a> {
    passed: bool,
    meets_expectation: bool,
    expectation: &'a str,
    expect: &'a sim_core::verdict::Expect,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    may_also_fail: &'a [String],
    failed: &'a [String],
    items: &'a [sim_core::verdict::VerdictItem],
}

/// Renders `summary.json` (pretty-printed; non-finite numbers become `null`).
pub fn summary_json(record: &RunRecord, verdict: &Verdict, meta: &Meta) -> String {
    let s = Summary {
        schema_version: 1,
        simctl_version: &meta.simctl_version,
        scenario: &record.scenario,
        scenario_file: &meta.scenario_file,
        scenario_hash: &meta.scenario_hash,
        description: &meta.description,
        model: &record.model,
        seed: record.seed,
        trace_hash: &record.trace_hash,
        events: record.events,
        stop: record.stop,
        main_phase_s: record.main_phase_s,
        end_s: record.end_s,
        reproduce: &meta.reproduce,
        verdict: VerdictOut {
            passed: verdict.passed,
            meets_expectation: verdict.meets_expectation,
            expectation: &verdict.expectation,
            expect: &verdict.expect,
            may_also_fail: &verdict.may_also_fail,
            failed: &verdict.failed,
            items: &verdict.items,
        },
        estimates: &verdict.estimates,
        ops: &record.ops,
        faults: &record.faults,
        checks: &record.model_report.checks,
        measures: &record.model_report.measures,
        tables: &record.model_report.tables,
        queueing: &record.queueing,
        messages: &record.messages,
        counters: &record.counters,
    };
    let mut out = serde_json::to_string_pretty(&s).expect("plain data serializes");
    out.push('\n');
    out
}
