//! Renders a small hand-made record (the CLI's tests render real runs).

use super::*;
use sim_core::Outcome;
use sim_core::crosscheck::{LittleRow, Queueing, StationRow};
use sim_core::model::{Axis, Check, ModelReport, Table};
use sim_core::record::{FaultRecord, OpPoint, OpPoints, OpSummary, Percentiles, SeriesPoint};
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
        events_skipped: 0,
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
            tables: vec![
                Table::new(
                    "lag over time",
                    ["t_s", "lag_ms"],
                    (0..10).map(|i| vec![i as f64, (i * i) as f64]).collect(),
                )
                .over_time(&["lag_ms"], Axis::new("replication lag", "ms")),
            ],
            figures: Vec::new(),
        },
        queueing: queueing(),
        op_points: OpPoints {
            total: 3,
            points: Some(vec![
                OpPoint { kind: 0, invoke_s: 1.0, latency_ms: 2.0, outcome: Some(Outcome::Ok) },
                OpPoint { kind: 1, invoke_s: 4.5, latency_ms: 300.0, outcome: Some(Outcome::Timeout) },
                OpPoint { kind: 0, invoke_s: 9.0, latency_ms: 2000.0, outcome: None },
            ]),
        },
    }
}

fn queueing() -> Queueing {
    Queueing {
        little: vec![LittleRow {
            kind: "read".into(),
            issued: 902,
            completed: 900,
            in_flight_at_end: 2,
            l_measured: 0.75,
            arrival_rate_per_s: 82.0,
            mean_latency_ms: 9.0,
            lambda_w: 0.738,
            end_effect: 0.012,
            relative_gap: 0.016,
            identity_holds: true,
        }],
        stations: vec![StationRow {
            scope: "api".into(),
            nodes: 4,
            servers: 4,
            servers_varied: false,
            arrivals: 12000,
            served: 11990,
            arrival_rate_per_s: 300.0,
            mean_service_ms: 10.0,
            arrival_cv2: 1.01,
            service_cv2: 0.99,
            utilisation: 0.75,
            wait_measured_ms: 5.0,
            queue_mean: Some(1.5),
            queue_lambda_w: 1.49,
            wait_predicted_ms: Some(5.1),
            ratio: Some(0.98),
            formula: "M/M/c (Erlang C)".into(),
            approximate: false,
            note: String::new(),
        }],
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
            "scatter.svg",
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
    assert_eq!(html.matches("<svg").count(), 6, "every plot inline");
    // The queueing cross-check: Little's law and the station, in the page, the Markdown, the
    // terminal and summary.json.
    assert!(html.contains("<h2>Little's law</h2>") && html.contains("<h2>Queueing stations</h2>"), "{html}");
    assert!(html.contains("M/M/c (Erlang C)") && html.contains("1.5 / 1.49"), "{html}");
    assert!(files[1].1.contains("## Queueing stations"));
    let text = text_summary(&rec, &v, &meta);
    assert!(text.contains("Little's law, L (kernel) vs lambda W: read 0.75 vs 0.738"), "{text}");
    assert!(text.contains("Queueing stations") && text.contains("api"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&files[0].1).expect("json");
    assert_eq!(json["queueing"]["stations"][0]["ratio"], 0.98);
    assert_eq!(json["queueing"]["little"][0]["identity_holds"], true);
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

/// The fault table's last column: an effect the kernel counted, none (an idle fault: worth a
/// look), or a clock fault's, which no column can count (not an idle fault).
#[test]
fn the_fault_table_tells_an_idle_fault_from_a_clock_fault() {
    let mut rec = record();
    let idle = FaultRecord {
        label: "isolate n1".into(),
        messages_dropped: 0,
        timers_lost: 0,
        ops_hit: 0,
        had_effect: false,
        ..rec.faults[0].clone()
    };
    let drift = FaultRecord { label: "clock drift n3 200ppm".into(), ops_hit: 40, had_effect: true, ..idle.clone() };
    rec.faults.extend([idle, drift]);
    let v = verdict(&rec);
    let t = text_summary(&rec, &v, &Meta::default());
    let effect = |label: &str| t.lines().find(|l| l.contains(label)).map(|l| l.trim_end().to_string());
    assert!(effect("crash n2").is_some_and(|l| l.ends_with("yes")), "{t}");
    assert!(effect("isolate n1").is_some_and(|l| l.ends_with("NONE")), "{t}");
    assert!(effect("clock drift n3").is_some_and(|l| l.ends_with("not seen (clock)")), "{t}");
    let md = summary_md(&rec, &v, &Meta::default());
    assert!(md.contains("not seen (clock)") && md.contains("NONE"), "{md}");
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

/// Every model table is in summary.json, rows at full precision (a script reads them, not the
/// HTML), a non-finite value (an open last bin) as `null`, with the shape the report plots.
#[test]
fn summary_json_holds_every_model_table_at_full_precision() {
    let mut rec = record();
    let mut t = staleness();
    t.rows[0][3] = 0.123_456_789_012_345_6;
    t.rows[5][1] = f64::INFINITY; // an open last bin, as dynamo writes it
    rec.model_report.tables = vec![Table::new("plain", ["a", "b"], vec![vec![1.0, 2.5]]), t];
    let json: serde_json::Value =
        serde_json::from_str(&summary_json(&rec, &verdict(&rec), &Meta::default())).expect("JSON");
    let tables = json["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 2);
    assert_eq!(
        tables[0],
        serde_json::json!({"name": "plain", "columns": ["a", "b"], "rows": [[1.0, 2.5]], "shape": "grid"})
    );
    let lag = &tables[1];
    assert_eq!(lag["name"], "consistency_vs_lag");
    assert_eq!(lag["columns"][3], "p_consistent");
    assert_eq!(lag["rows"][0][3].as_f64(), Some(0.123_456_789_012_345_6), "not rounded");
    assert_eq!(lag["rows"][5][1], serde_json::Value::Null, "the open last bin (infinite) is null");
    assert_eq!(lag["shape"]["curve"]["x"], "lag_ms_from");
    assert_eq!(lag["shape"]["curve"]["y_axis"]["unit"], "share of reads");
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

// ---- plots: what each one draws

/// The parsed SVG, with the helpers the plot tests use.
struct Svg(String);

impl Svg {
    fn of(svg: &str) -> Svg {
        assert_xml(svg);
        Svg(svg.to_string())
    }
    fn doc(&self) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(&self.0).expect("parsed before")
    }
    /// Names of the series drawn, in order.
    fn series(&self) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .filter_map(|n| n.attribute("data-series").map(String::from))
            .collect()
    }
    /// The texts of elements of a class (tick labels: `xtick`, `ytick`; `note`; `title`).
    fn texts(&self, class: &str) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .filter_map(|n| n.text().map(String::from))
            .collect()
    }
    /// Attribute `attr` of every element of class `class` inside series `name`.
    fn in_series(&self, name: &str, class: &str, attr: &str) -> Vec<String> {
        let doc = self.doc();
        let g = doc
            .descendants()
            .find(|n| n.attribute("data-series") == Some(name))
            .unwrap_or_else(|| panic!("no series `{name}` in {:?}", self.series()));
        g.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .filter_map(|n| n.attribute(attr).map(String::from))
            .collect()
    }
    /// The points of the polylines of series `name`.
    fn polyline(&self, name: &str) -> Vec<(f64, f64)> {
        let doc = self.doc();
        let g = doc.descendants().find(|n| n.attribute("data-series") == Some(name)).expect("series");
        g.descendants()
            .filter(|n| n.tag_name().name() == "polyline")
            .flat_map(|n| {
                n.attribute("points")
                    .unwrap_or("")
                    .split(' ')
                    .map(|p| {
                        let (x, y) = p.split_once(',').expect("x,y");
                        (x.parse().expect("x"), y.parse().expect("y"))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
    /// Attribute `attr` of every element whose tag is `tag`.
    fn attrs(&self, tag: &str, attr: &str) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.tag_name().name() == tag)
            .filter_map(|n| n.attribute(attr).map(String::from))
            .collect()
    }
}

/// Dynamo's staleness table as the model declares it: bins of lag, the open last bin stored as -1.
fn staleness() -> Table {
    let edges = [0.0, 1.0, 10.0, 100.0, 1000.0, 5000.0, -1.0];
    let p = [0.6, 0.8, 0.95, 0.99, 1.0, 1.0];
    let rows = (0..6).map(|i| vec![edges[i], edges[i + 1], 100.0 + i as f64, p[i]]).collect();
    Table::new("consistency_vs_lag", ["lag_ms_from", "lag_ms_to", "reads", "p_consistent"], rows)
        .curve(
            "lag_ms_from",
            Axis::new("time since the write", "ms").log10(),
            &["p_consistent"],
            Axis::new("consistent reads", "share of reads").range(0.0, 1.0),
        )
        .binned("lag_ms_to")
        .note("reads")
}

#[test]
fn the_declared_shape_picks_the_plot() {
    let rec = record();
    let rows = vec![vec![0.0, 5.0, 1.0], vec![1.0, 7.0, 2.0], vec![2.0, 3.0, 0.5]];
    let grid = Table::new("g", ["k", "a", "b"], rows.clone());
    assert_eq!(table_svg(&grid, &rec), None, "a grid is an HTML table only: no plot is guessed");
    let curve = grid.clone().curve("k", Axis::new("k", ""), &["a"], Axis::new("a", "ms"));
    let svg = Svg::of(&table_svg(&curve, &rec).expect("a curve"));
    assert_eq!(svg.series(), ["a"], "only the declared column is drawn: not `b`, not `k`");
    assert_eq!(svg.polyline("a").len(), 3);
    assert_eq!(svg.texts("ytitle"), ["a (ms)"], "the y label with its unit");
    assert!(svg.attrs("rect", "class").iter().all(|c| c != "bar"));
    let bars = grid.bars("k", &["a", "b"], Axis::new("things", "items")).labels(&["x", "y", "z"]);
    let svg = Svg::of(&table_svg(&bars, &rec).expect("bars"));
    assert_eq!(svg.series(), ["a", "b"]);
    assert_eq!(svg.in_series("b", "bar", "data-y"), ["1", "2", "0.5"]);
    assert_eq!(svg.in_series("a", "bar", "data-category"), ["x", "y", "z"]);
    assert_eq!(svg.texts("xtick"), ["x", "y", "z"], "categories name the bars, not numbers");
    assert!(svg.polyline_free(), "bars draw no line");
    // Over time, in buckets wider than the report's intervals (1 s): one line, not dots.
    let rows = (0..5).map(|i| vec![i as f64 * 2.0, i as f64]).collect();
    let wide = Table::new("stale", ["t_s", "n"], rows).over_time(&["n"], Axis::new("stale reads", "reads"));
    let svg = Svg::of(&table_svg(&wide, &rec).expect("a curve"));
    assert_eq!(svg.polyline("n").len(), 5);
    assert!(svg.0.contains("data-label=\"crash n2\""), "fault windows shaded over time");
    // In the page: a plot for the declared table, a table for the grid.
    let mut rec = record();
    rec.model_report.tables = vec![Table::new("plain", ["a", "b"], vec![vec![1.0, 2.0]]), staleness()];
    let files = render(&rec, &evaluate(&rec, &[], &[], &[], &Expect::Pass), &Meta::default());
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(names.contains(&"table_consistency_vs_lag.svg") && !names.contains(&"table_plain.svg"), "{names:?}");
}

/// The page's tables read as people read them: a category the model named shows its name, not
/// its number, and an open last bin shows `∞`, not the -1 that marks it.
#[test]
fn page_tables_show_named_values_and_open_bins() {
    let mut rec = record();
    let named = Table::new("strategies", ["strategy", "efficiency"], vec![vec![1.0, 0.86], vec![2.0, 0.95]])
        .names("strategy", &["RandomTokens", "EqualPartitions"]);
    rec.model_report.tables = vec![named, staleness()];
    let files = render(&rec, &evaluate(&rec, &[], &[], &[], &Expect::Pass), &Meta::default());
    let page = &files.iter().find(|f| f.0 == "index.html").expect("index.html").1;
    let row = |cells: &[&str]| cells.iter().map(|c| format!("<td>{c}</td>")).collect::<String>();
    assert!(page.contains(&row(&["RandomTokens", "0.86"])) && page.contains(&row(&["EqualPartitions", "0.95"])));
    assert!(page.contains(&row(&["1000", "5000", "104", "1"])), "a closed bin keeps its edges");
    assert!(page.contains(&row(&["5000", "∞", "105", "1"])), "the open bin: {page}");
    assert!(!page.contains("<td>-1</td>"));
    assert!(!page.contains("<tr><th></th><th></th></tr>"), "the run's name/value table draws no blank header row");
    assert!(page.contains("<table><tbody>\n<tr><td>model</td>"), "it starts with its rows");
    // The same table without the names shows the numbers (what the names replace).
    let plain = Table::new("strategies", ["strategy", "efficiency"], vec![vec![1.0, 0.86]]);
    rec.model_report.tables = vec![plain];
    let files = render(&rec, &evaluate(&rec, &[], &[], &[], &Expect::Pass), &Meta::default());
    assert!(files.iter().any(|f| f.0 == "index.html" && f.1.contains(&row(&["1", "0.86"]))));
}

impl Svg {
    fn polyline_free(&self) -> bool {
        self.attrs("polyline", "points").is_empty()
    }
}

#[test]
fn log_axes_are_used_where_declared() {
    let rec = record();
    let rows: Vec<Vec<f64>> =
        [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0].iter().map(|&v| vec![v, 10.0 / v]).collect();
    let t = Table::new("balance", ["vnodes", "ratio"], rows);
    let log2 = t.clone().curve("vnodes", Axis::new("vnodes", "").log2(), &["ratio"], Axis::new("ratio", ""));
    let svg = Svg::of(&table_svg(&log2, &rec).expect("curve"));
    assert_eq!(svg.texts("xtick"), ["1", "2", "4", "8", "16", "32", "64", "128", "256"], "powers of two");
    // Equal ratios, equal distances: the points are evenly spaced across the plot.
    let xs: Vec<f64> = svg.polyline("ratio").iter().map(|p| p.0).collect();
    let gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| (g - gaps[0]).abs() < 0.2), "{gaps:?}");
    let linear = t.curve("vnodes", Axis::new("vnodes", ""), &["ratio"], Axis::new("ratio", ""));
    let svg = Svg::of(&table_svg(&linear, &rec).expect("curve"));
    assert!(!svg.texts("xtick").contains(&"128".to_string()), "a linear axis has even ticks: {:?}", svg.texts("xtick"));
    // Latency over time and by percentile: log y, decades on the axis.
    for svg in [latency_svg(&rec), latency_cdf_svg(&rec), scatter_svg(&rec).expect("small run")] {
        let ticks = Svg::of(&svg).texts("ytick");
        assert!(ticks.contains(&"1".to_string()) && ticks.contains(&"10".to_string()), "{ticks:?}");
        assert!(!ticks.contains(&"5".to_string()) || ticks.contains(&"2".to_string()), "decades: {ticks:?}");
    }
}

#[test]
fn the_open_last_bin_is_not_drawn_at_its_edge() {
    let rec = record();
    let svg = Svg::of(&table_svg(&staleness(), &rec).expect("a curve"));
    // One curve, the probability: not the bin edges, not the read counts.
    assert_eq!(svg.series(), ["p_consistent"]);
    let ys: Vec<f64> = svg.in_series("p_consistent", "point", "data-y").iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(ys, [0.6, 0.8, 0.95, 0.99, 1.0, 1.0], "a point per bin, each a probability");
    assert_eq!(svg.texts("ytick").last().map(String::as_str), Some("1"), "a 0..1 axis, not 0..5000");
    assert_eq!(svg.texts("xtick"), ["0.1", "1", "10", "100", "1000", "10k"], "lag on decades");
    // The open bin starts at 5000 and runs to the end of the axis, labelled as open.
    let cx: Vec<f64> = svg.in_series("p_consistent", "point", "cx").iter().map(|v| v.parse().unwrap()).collect();
    let xs: Vec<f64> = svg.polyline("p_consistent").iter().map(|p| p.0).collect();
    let axis_end = xs.iter().copied().fold(0.0, f64::max);
    assert!(cx[5] > cx[4] && axis_end > cx[5], "{cx:?} {axis_end}");
    let notes = svg.texts("note");
    assert_eq!(notes[0], "n=100");
    assert_eq!(notes[5..], ["n=105", "≥ 5000 ms"], "the open bin's count, and that it is open");
    assert!(svg.texts("subtitle").iter().any(|s| s.contains("the last bin is open: 5000 ms and more")));
    // A bin from 0 is drawn from the start of the log axis, not dropped.
    assert_eq!(xs[0], 78.0);
}

#[test]
fn latency_over_time_has_a_colour_per_op_and_a_dash_per_percentile() {
    let svg = Svg::of(&latency_svg(&record()));
    assert_eq!(svg.series(), ["read p50", "read p99", "read p99.9", "write p50", "write p99", "write p99.9"]);
    let doc = svg.doc();
    let style = |name: &str| {
        let g = doc.descendants().find(|n| n.attribute("data-series") == Some(name)).expect("series");
        let l = g.descendants().find(|n| n.tag_name().name() == "polyline").expect("a line");
        (l.attribute("stroke").unwrap().to_string(), l.attribute("stroke-dasharray").unwrap_or("").to_string())
    };
    assert_eq!(style("read p50").0, style("read p99").0, "one colour per op kind");
    assert_ne!(style("read p50").0, style("write p50").0);
    let dashes: Vec<String> = ["read p50", "read p99", "read p99.9"].iter().map(|n| style(n).1).collect();
    assert!(dashes[0].is_empty() && !dashes[1].is_empty() && !dashes[2].is_empty() && dashes[1] != dashes[2]);
    assert_eq!(style("write p99").1, dashes[1], "the same dash for the same percentile");
    // The legend names every series.
    let legend: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("legend-item"))
        .filter_map(|n| {
            n.descendants().find(|t| t.tag_name().name() == "text").and_then(|t| t.text()).map(String::from)
        })
        .collect();
    assert_eq!(legend, svg.series());
    // A gap in the data (read p99.9 has none at t=3) is not bridged: two lines.
    assert_eq!(
        doc.descendants()
            .filter(|n| n.attribute("data-series") == Some("read p99.9"))
            .flat_map(|g| g.children())
            .filter(|n| n.tag_name().name() == "polyline")
            .count(),
        2
    );
}

#[test]
fn the_cdf_labels_percentiles_on_the_axis_and_steps_between_measured_ones() {
    let svg = Svg::of(&latency_cdf_svg(&record()));
    assert_eq!(svg.series(), ["read", "write"]);
    assert_eq!(svg.texts("xtick"), ["p0", "p50", "p90", "p99", "p99.9"], "labels are the axis's ticks");
    // Ticks sit under the plot, not over the curves.
    let doc = svg.doc();
    let frame_bottom = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect" && n.attribute("stroke") == Some("#000"))
        .map(|n| {
            n.attribute("y").unwrap().parse::<f64>().unwrap() + n.attribute("height").unwrap().parse::<f64>().unwrap()
        })
        .next()
        .expect("the frame");
    for t in doc.descendants().filter(|n| n.attribute("class") == Some("xtick")) {
        assert!(t.attribute("y").unwrap().parse::<f64>().unwrap() > frame_bottom);
    }
    // Steps: every measured percentile (p0 ... p99.9, not p100) is a dot, and the line between
    // two of them is flat then vertical, never a slope.
    assert_eq!(svg.in_series("read", "point", "data-y"), ["0.2", "1.5", "3", "8", "16"]);
    let pts = svg.polyline("read");
    for w in pts.windows(2) {
        assert!(w[0].0 == w[1].0 || w[0].1 == w[1].1, "a slope from {:?} to {:?}", w[0], w[1]);
    }
    // A dot sits where its percentile was measured: at the start of its flat step, not mid-way.
    let xs = svg.in_series("read", "point", "cx");
    let ys = svg.in_series("read", "point", "cy");
    assert_eq!(xs.len(), 5);
    for (cx, cy) in xs.iter().zip(&ys) {
        let (cx, cy): (f64, f64) = (cx.parse().unwrap(), cy.parse().unwrap());
        let close = |p: &(f64, f64)| (p.0 - cx).abs() < 0.01 && (p.1 - cy).abs() < 0.01;
        let at = pts.iter().position(close).unwrap_or_else(|| panic!("no step at the dot ({cx}, {cy})"));
        // The step runs right from the dot (or the dot is the last, zero-width step).
        assert!(pts.get(at + 1).is_none_or(|n| n.0 >= cx && (n.1 - cy).abs() < 0.01), "dot ({cx}, {cy}) ends a step");
    }
}

#[test]
fn the_scatter_has_a_dot_per_operation_by_outcome_and_is_skipped_above_the_limit() {
    let rec = record();
    let svg = Svg::of(&scatter_svg(&rec).expect("3 operations"));
    assert_eq!(svg.series(), ["ok (1)", "timed out (unknown) (1)", "pending at the end (unknown) (1)"]);
    assert_eq!(svg.attrs("circle", "r").len(), 3 + 3, "three dots and three legend dots");
    assert!(svg.0.contains("data-label=\"crash n2\""), "the fault window shaded");
    // Too many operations: no points kept, no scatter, and the page says why.
    let history: Vec<sim_core::metrics::HistoryEntry> = (0..5)
        .map(|i| sim_core::metrics::HistoryEntry {
            op: sim_core::OpId::new(i),
            client: sim_core::NodeId(0),
            kind: 0,
            key: 0,
            value: 0,
            attempt: 0,
            invoke: sim_core::Time(i * 1_000_000),
            complete: (i < 4).then_some(sim_core::Time(i * 1_000_000 + 500_000)).into(),
            outcome: (i < 4).then_some(Outcome::Ok),
            reply: sim_core::Reply::None,
        })
        .collect();
    let kept = OpPoints::of(&history, sim_core::Time(10_000_000), 5);
    let points = kept.points.expect("at the limit: kept");
    assert_eq!(points[1].latency_ms, 0.5);
    assert_eq!((points[4].latency_ms, points[4].outcome), (6.0, None), "pending: until the end");
    let mut big = record();
    big.op_points = OpPoints::of(&history, sim_core::Time(10_000_000), 4);
    assert_eq!(big.op_points, OpPoints { total: 5, points: None });
    big.op_points.total = 25_000;
    let why = scatter_svg(&big).expect_err("skipped");
    assert!(why.contains("25,000 operations, more than the 20,000"), "{why}");
    let files = render(&big, &evaluate(&big, &[], &[], &[], &Expect::Pass), &Meta::default());
    assert!(files.iter().all(|f| f.0 != "scatter.svg"));
    let html = &files.iter().find(|f| f.0 == "index.html").unwrap().1;
    assert!(html.contains("The per-operation scatter was skipped: the run has 25,000 operations"), "{html}");
}

#[test]
fn a_models_figures_are_written_and_shown() {
    let mut rec = record();
    let svg = sim_core::lin::svg::timeline(
        "key 3",
        &[sim_core::lin::svg::Bar {
            op: 7,
            client: 1,
            invoke: sim_core::Time(0),
            complete: None,
            label: "w".into(),
            marked: true,
        }],
    );
    rec.model_report.figures.push(("linearizable key 3".into(), svg.clone()));
    let files = render(&rec, &verdict(&rec), &Meta::default());
    let fig = files.iter().find(|f| f.0 == "figure_linearizable_key_3.svg").expect("written");
    assert_eq!(fig.1, svg);
    assert_xml(&fig.1);
    assert!(files[2].1.contains("Model figure: linearizable key 3") && files[2].1.contains("data-op=\"7\""));
    assert!(!files[0].1.contains("data-op"), "not in summary.json");
}
