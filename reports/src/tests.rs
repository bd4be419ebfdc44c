//! Renders a small hand-made record (the CLI's tests render real runs).

use super::*;
use sim_core::model::{Check, ModelReport, Table};
use sim_core::record::{FaultRecord, OpSummary, Percentiles, SeriesPoint};
use sim_core::verdict::{Estimate, Expect, Sla, Window, evaluate};
use sim_core::world::StopReason;
use std::collections::BTreeMap;

fn record() -> RunRecord {
    let op = |kind: &str, ok: u64, p99: f64| OpSummary {
        kind: kind.into(),
        total: ok + 10,
        ok,
        fail: 2,
        timeout: 8,
        rejected: 0,
        pending: 0,
        throughput_ok_per_s: ok as f64 / 10.0,
        availability: ok as f64 / (ok + 10) as f64,
        availability_in_faults: Some(0.5),
        availability_outside_faults: Some(1.0),
        latency_ms: Percentiles { mean: 2.0, p50: 1.5, p90: 3.0, p99, p999: p99 * 2.0, max: p99 * 3.0 },
        latency_curve: vec![(0.0, 0.2), (50.0, 1.5), (90.0, 3.0), (99.0, p99), (99.9, p99 * 2.0), (100.0, p99 * 3.0)],
    };
    let mut series = Vec::new();
    for i in 0..10 {
        for kind in ["read", "write"] {
            series.push(SeriesPoint {
                t_s: i as f64,
                kind: kind.into(),
                ok: 90 + i,
                fail: (i == 4) as u64 * 5,
                timeout: (i == 5) as u64 * 3,
                rejected: 0,
                p50_ms: Some(1.0 + i as f64 * 0.1),
                p99_ms: Some(5.0),
                p999_ms: if i == 3 { None } else { Some(9.0) },
            });
        }
    }
    let mut measures = BTreeMap::new();
    measures.insert("state_bytes".to_string(), 3200.0);
    RunRecord {
        scenario: "demo <&>".into(),
        model: "m".into(),
        seed: 42,
        trace_hash: "00ff".into(),
        events: 12345,
        stop: StopReason::Quiescent,
        main_phase_s: 10.0,
        end_s: 11.0,
        interval_s: 1.0,
        ops: vec![op("read", 900, 8.0), op("write", 300, 12.0)],
        series,
        faults: vec![FaultRecord {
            label: "crash n2".into(),
            start_s: 4.0,
            end_s: Some(5.5),
            messages_dropped: 12,
            events_delayed: 0,
            timers_lost: 1,
            writes_lost: 0,
            ops_hit: 8,
            messages_in_outage: 0,
            had_effect: true,
        }],
        messages: vec![],
        counters: BTreeMap::new(),
        gauges: vec![sim_core::record::GaugeRecord {
            name: "queue depth".into(),
            max: 9.0,
            series: vec![(0.0, 1.0), (1.0, 9.0), (2.0, 3.0)],
        }],
        model_report: ModelReport {
            checks: vec![Check::judged("fresh_reads", 900u64, "reads").violations(0u64, "stale")],
            measures,
            tables: vec![Table {
                name: "lag over time".into(),
                columns: vec!["t_s".into(), "lag_ms".into()],
                rows: (0..10).map(|i| vec![i as f64, (i * i) as f64]).collect(),
            }],
        },
    }
}

fn verdict(rec: &RunRecord) -> Verdict {
    let slas = vec![
        Sla::Latency { op: "read".into(), percentile: 99.0, max: sim_core::Duration::from_millis(5) },
        Sla::Availability { op: None, min: 0.9, window: Window::All },
    ];
    let est = Estimate {
        name: "ops per day".into(),
        expr: "rate * 86400".into(),
        inputs: [("rate".to_string(), 500.0.into())].into_iter().collect(),
        claimed: 4.32e6,
        tolerance: None,
        measured: Some("throughput".into()),
        measured_scale: Some(86400.0),
        measured_tolerance: None,
        strict: false,
    };
    evaluate(rec, &[], &slas, &[est], &Expect::Fail(vec!["latency.read.p99".into()]))
}

fn assert_xml(svg: &str) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
}

#[test]
fn renders_every_file_as_well_formed_documents() {
    let rec = record();
    let v = verdict(&rec);
    let meta = Meta {
        scenario_file: "x.ron".into(),
        scenario_hash: "abcd".into(),
        simctl_version: "0.1.0".into(),
        reproduce: "simctl run x.ron --seed 42".into(),
        description: "d".into(),
    };
    let files = render(&rec, &v, &meta);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "summary.json",
            "summary.md",
            "index.html",
            "latency.svg",
            "throughput.svg",
            "latency_cdf.svg",
            "table_lag_over_time.svg",
            "gauge_queue_depth.svg"
        ]
    );
    for (name, body) in &files {
        if name.ends_with(".svg") {
            assert_xml(body);
            // Fault windows are labelled on the time axes.
            if name != "latency_cdf.svg" {
                assert!(body.contains("crash n2"), "{name} lacks the fault label");
            }
        }
    }
    let html = &files[2].1;
    assert!(html.contains("<svg") && !html.contains("<?xml"), "inline SVG");
    assert!(html.contains("demo &lt;&amp;&gt;"), "escaped title");
    assert!(html.contains("Wrong estimates"));
    // 120 ops/s x 86400 = 10.4M measured beside the claimed 4.32M.
    assert!(html.contains("Estimates measured off:</b> `ops per day` claims 4320000"), "{html}");
    assert_eq!(html.matches("<svg").count(), 5, "every plot inline");
    let md = &files[1].1;
    assert!(md.contains("| fresh_reads |") || md.contains("fresh_reads"));
    assert!(md.contains("simctl run x.ron --seed 42"));
    assert!(md.contains("> **Estimates measured off:**"), "{md}");
    assert!(md.contains("| WRONG ARITHMETIC, MEASURED OFF | ops per day |"), "{md}");
}

#[test]
fn summary_json_has_the_documented_fields() {
    let rec = record();
    let v = verdict(&rec);
    let meta = Meta { scenario_hash: "abcd".into(), ..Meta::default() };
    let json: serde_json::Value = serde_json::from_str(&summary_json(&rec, &v, &meta)).expect("valid JSON");
    for f in json::FIELDS {
        assert!(json.get(f).is_some(), "summary.json lacks `{f}`");
    }
    assert_eq!(json["seed"], 42);
    assert_eq!(json["verdict"]["failed"][0], "latency.read.p99");
    assert_eq!(json["verdict"]["meets_expectation"], true);
    assert_eq!(json["estimates"][0]["arithmetic_ok"], false);
    assert_eq!(json["estimates"][0]["measured_ok"], false);
}

#[test]
fn terminal_summary_makes_wrong_estimates_and_failures_prominent() {
    let rec = record();
    let v = verdict(&rec);
    let t = text_summary(&rec, &v, &Meta::default());
    assert!(t.contains("VERDICT: FAIL (latency.read.p99)"), "{t}");
    assert!(t.contains("WRONG ARITHMETIC"), "{t}");
    assert!(t.contains("MEASURED OFF: the simulation measured throughput = 1.0368e7"), "{t}");
    assert!(t.contains("1 estimate(s) MEASURED OFF from their claim"), "{t}");
    assert!(t.contains("failed for exactly the expected reason"), "{t}");
    assert!(t.contains("crash n2"), "{t}");
    assert!(t.contains("p99.9 ms"), "{t}");
}

#[test]
fn every_rendering_shows_what_each_check_judged() {
    let rec = record();
    let v = verdict(&rec);
    let t = text_summary(&rec, &v, &Meta::default());
    assert!(t.contains("PASS fresh_reads: 0 of 900 reads stale"), "{t}");
    let md = summary_md(&rec, &v, &Meta::default());
    assert!(md.contains("0 of 900 reads stale"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&summary_json(&rec, &v, &Meta::default())).expect("JSON");
    let item = json["verdict"]["items"].as_array().unwrap().iter().find(|i| i["name"] == "fresh_reads").unwrap();
    assert_eq!(item["count"]["judged"], 900);
    assert_eq!(item["count"]["unit"], "reads");
    assert_eq!(item["count"]["violations"], 0);
    assert_eq!(json["checks"][0]["judged"], 900);
    // A check that judged nothing says so, and fails the run.
    let mut empty = record();
    empty.model_report.checks = vec![Check::judged("fresh_reads", 0u64, "reads").violations(0u64, "stale")];
    let v = evaluate(&empty, &[], &[], &[], &Expect::Pass);
    let t = text_summary(&empty, &v, &Meta::default());
    assert!(t.contains("VACUOUS fresh_reads: VACUOUS: judged no reads"), "{t}");
    assert!(t.contains("VERDICT: FAIL (fresh_reads)"), "{t}");
}

/// The operations a check blames are in summary.json, under `checks`, in the op id space of the
/// history and the trace.
#[test]
fn summary_json_lists_the_blamed_operations() {
    let mut rec = record();
    let json = |rec: &RunRecord| -> serde_json::Value {
        serde_json::from_str(&summary_json(rec, &verdict(rec), &Meta::default())).expect("JSON")
    };
    assert_eq!(json(&rec)["checks"][0]["blamed"], serde_json::json!([]), "a passing check blames nothing");
    rec.model_report.checks = vec![
        Check::judged("fresh_reads", 900u64, "reads")
            .violations(2u64, "stale")
            .blame(sim_core::OpId(31), sim_core::Time(45_081_000))
            .blame(sim_core::OpId(12), sim_core::Time(9_000)),
    ];
    assert_eq!(
        json(&rec)["checks"][0]["blamed"],
        serde_json::json!([
            {"op": 12, "invoke_ns": 9000, "complete_ns": null},
            {"op": 31, "invoke_ns": 45_081_000, "complete_ns": null}
        ])
    );
}

#[test]
fn empty_runs_still_render() {
    let mut rec = record();
    rec.ops.clear();
    rec.series.clear();
    rec.model_report.tables.clear();
    let v = evaluate(&rec, &[], &[], &[], &Expect::Pass);
    for (name, body) in render(&rec, &v, &Meta::default()) {
        if name.ends_with(".svg") {
            assert_xml(&body);
        }
    }
}
