//! Text renderings: the terminal summary, `summary.md` and `index.html`.

use crate::{Meta, num};
use sim_core::model::{Shape, Table};
use sim_core::record::RunRecord;
use sim_core::verdict::{self, ItemKind, Verdict, VerdictItem};
use std::fmt::Write;

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "-".into())
}

/// A share as a percent, in the one format of shares everywhere (`99.41%`, `99.995%`).
fn pct(v: Option<f64>) -> String {
    v.map(|v| verdict::percent_beside(v, &[])).unwrap_or_else(|| "-".into())
}

/// The measured value of a verdict item with its unit, or `-`.
fn measured(i: &VerdictItem) -> String {
    if i.measured_text.is_empty() { opt(i.measured) } else { i.measured_text.clone() }
}

/// Little's law per op kind (shared by the terminal, Markdown and HTML).
fn little_rows(record: &RunRecord) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec!["op", "L (kernel)", "arrivals/s", "W ms", "lambda W", "gap", "in flight at end", "identity"];
    let rows = record
        .queueing
        .little
        .iter()
        .filter(|r| r.issued > 0)
        .map(|r| {
            vec![
                r.kind.clone(),
                num(r.l_measured),
                num(r.arrival_rate_per_s),
                num(r.mean_latency_ms),
                num(r.lambda_w),
                pct(Some(r.relative_gap)),
                format!("{} (L {})", r.in_flight_at_end, num(r.end_effect)),
                if r.identity_holds { "holds".into() } else { "BROKEN: kernel bookkeeping bug".into() },
            ]
        })
        .collect();
    (head, rows)
}

/// Queueing stations: utilisation and measured against predicted wait (shared by the terminal,
/// Markdown and HTML).
fn station_rows(record: &RunRecord) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec![
        "station",
        "nodes x servers",
        "arrivals/s/node",
        "service ms",
        "Ca2",
        "Cs2",
        "utilisation",
        "wait ms",
        "predicted ms",
        "ratio",
        "Lq / lambda Wq",
        "formula",
    ];
    let rows = record
        .queueing
        .stations
        .iter()
        .map(|r| {
            let formula = match (r.approximate, r.note.is_empty()) {
                (false, _) => r.formula.clone(),
                (true, true) => format!("{} (approximate)", r.formula),
                (true, false) => format!("{} (approximate: {})", r.formula, r.note),
            };
            let formula = if !r.approximate && !r.note.is_empty() { format!("{formula}: {}", r.note) } else { formula };
            vec![
                r.scope.clone(),
                format!("{} x {}{}", r.nodes, r.servers, if r.servers_varied { " (varied)" } else { "" }),
                num(r.arrival_rate_per_s),
                num(r.mean_service_ms),
                num(r.arrival_cv2),
                num(r.service_cv2),
                pct(Some(r.utilisation)),
                num(r.wait_measured_ms),
                match r.wait_predicted_ms {
                    Some(p) if p < 1e-3 => "~0".into(),
                    p => opt(p),
                },
                opt(r.ratio),
                match r.queue_mean {
                    Some(l) => format!("{} / {}", num(l), num(r.queue_lambda_w)),
                    None => "-".into(),
                },
                formula,
            ]
        })
        .collect();
    (head, rows)
}

/// Rows of the operations table (shared by the terminal, Markdown and HTML).
fn op_rows(record: &RunRecord) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec![
        "op",
        "total",
        "ok",
        "fail",
        "timeout",
        "rejected",
        "avail",
        "in faults",
        "outside",
        "ok/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
    ];
    let rows = record
        .ops
        .iter()
        .map(|o| {
            vec![
                o.kind.clone(),
                o.total.to_string(),
                o.ok.to_string(),
                o.fail.to_string(),
                o.timeout.to_string(),
                o.rejected.to_string(),
                pct(Some(o.availability)),
                pct(o.availability_in_faults),
                pct(o.availability_outside_faults),
                num(o.throughput_ok_per_s),
                num(o.latency_ms.p50),
                num(o.latency_ms.p99),
                num(o.latency_ms.p999),
                num(o.latency_ms.max),
            ]
        })
        .collect();
    (head, rows)
}

/// A model table's cells for people: a value the model named shows its name, and an open bin's
/// upper edge (not finite, or below the bin's start) shows as `∞`, not as the number marking it.
fn table_cells(t: &Table) -> Vec<Vec<String>> {
    let to = match &t.shape {
        Shape::Curve(c) => c.x_to.as_deref().and_then(|n| t.column(n)),
        _ => None,
    };
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .enumerate()
                .map(|(j, v)| match t.name_of(j, i) {
                    Some(name) => name.to_string(),
                    None if to == Some(j) && t.open_bin(r) => "∞".to_string(),
                    None => num(*v),
                })
                .collect()
        })
        .collect()
}

fn fault_rows(record: &RunRecord) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec![
        "fault",
        "from s",
        "to s",
        "msgs dropped",
        "events delayed",
        "timers lost",
        "writes lost",
        "ops hit",
        "in outage",
        "effect",
    ];
    let rows = record
        .faults
        .iter()
        .map(|f| {
            vec![
                f.label.clone(),
                num(f.start_s),
                f.end_s.map(num).unwrap_or_else(|| "healed at end".into()),
                f.messages_dropped.to_string(),
                f.events_delayed.to_string(),
                f.timers_lost.to_string(),
                f.writes_lost.to_string(),
                f.ops_hit.to_string(),
                f.messages_in_outage.to_string(),
                // A clock fault changes what nodes read, which none of these columns counts.
                if !verdict::fault_effect_counted(&f.label) {
                    "not seen (clock)".into()
                } else if f.had_effect {
                    "yes".into()
                } else {
                    "NONE".into()
                },
            ]
        })
        .collect();
    (head, rows)
}

fn status(i: &VerdictItem) -> &'static str {
    match (i.passed, i.counts, i.kind) {
        (true, _, _) => "PASS",
        (false, _, ItemKind::Invariant) if verdict::is_vacuous(i) => verdict::VACUOUS,
        (false, _, ItemKind::Estimate) => "WRONG",
        (false, true, _) => "FAIL",
        (false, false, _) => "NOTE",
    }
}

fn item_rows(verdict: &Verdict) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec!["", "kind", "name", "measured", "bound", "detail"];
    let kind = |k: ItemKind| match k {
        ItemKind::Invariant => "invariant",
        ItemKind::Sla => "sla",
        ItemKind::Estimate => "estimate",
        ItemKind::Run => "run",
    };
    let rows = verdict
        .items
        .iter()
        .map(|i| {
            vec![
                status(i).to_string(),
                kind(i.kind).to_string(),
                i.name.clone(),
                measured(i),
                i.bound.clone(),
                i.detail.clone(),
            ]
        })
        .collect();
    (head, rows)
}

fn estimate_rows(verdict: &Verdict) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let head = vec!["", "estimate", "expr", "claimed", "computed", "off by", "measured", "measured/claimed"];
    let rows = verdict
        .estimates
        .iter()
        .map(|e| {
            vec![
                e.finding().unwrap_or("ok").to_string(),
                e.name.clone(),
                e.expr.clone(),
                num(e.claimed),
                num(e.computed),
                format!("{:.1}%", e.relative_error * 100.0),
                match (&e.measured_name, e.measured) {
                    (Some(n), Some(v)) => format!("{} ({n})", num(v)),
                    (Some(n), None) => format!("- ({n} not measured)"),
                    _ => "-".into(),
                },
                e.ratio.map(|r| format!("{r:.3}")).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    (head, rows)
}

/// A plain aligned table for the terminal.
pub(crate) fn aligned(head: &[&str], rows: &[Vec<String>], max_last: usize) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count().min(if i + 1 == head.len() { max_last } else { 60 }));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let c: String = if i + 1 == cells.len() { c.clone() } else { c.chars().take(60).collect() };
            let _ = write!(s, " {:w$}", c, w = widths[i]);
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(head.iter().map(|s| s.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// The summary `simctl run` prints.
pub fn text_summary(record: &RunRecord, verdict: &Verdict, meta: &Meta) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "simctl {} | scenario `{}` ({}) | model `{}` | seed {}",
        meta.simctl_version, record.scenario, meta.scenario_file, record.model, record.seed
    );
    if !meta.description.is_empty() {
        let _ = writeln!(s, "{}", meta.description);
    }
    let _ = writeln!(
        s,
        "simulated {}s (main phase {}s, then settling), {} events, trace hash {}, stop: {:?}",
        num(record.end_s),
        num(record.main_phase_s),
        record.events,
        record.trace_hash,
        record.stop
    );
    if !record.ops.is_empty() {
        let (h, r) = op_rows(record);
        let _ = write!(s, "\nOperations\n{}", aligned(&h, &r, 20));
    }
    if !record.faults.is_empty() {
        let (h, r) = fault_rows(record);
        let _ = write!(s, "\nFaults and their effects\n{}", aligned(&h, &r, 20));
    }
    let little: Vec<String> = record
        .queueing
        .little
        .iter()
        .filter(|r| r.issued > 0)
        .map(|r| format!("{} {} vs {}", r.kind, num(r.l_measured), num(r.lambda_w)))
        .collect();
    let broken = record.queueing.little_violations().count();
    if !little.is_empty() && broken == 0 {
        let _ = writeln!(
            s,
            "\nLittle's law, L (kernel) vs lambda W: {} (identity holds; the gap is the ops in flight at the end)",
            little.join(", ")
        );
    }
    if broken > 0 {
        let _ = writeln!(
            s,
            "\n!!! Little's law identity BROKEN for {broken} op kind(s): the kernel's in-flight count disagrees with the history (a simulator bug) !!!"
        );
    }
    if !record.queueing.stations.is_empty() {
        let (h, r) = station_rows(record);
        let _ = write!(s, "\nQueueing stations (measured wait against queueing theory)\n{}", aligned(&h, &r, 60));
    }
    let checks: Vec<&VerdictItem> = verdict.items.iter().filter(|i| i.kind != ItemKind::Estimate).collect();
    if !checks.is_empty() {
        let _ = writeln!(s, "\nInvariants and SLAs");
        for i in checks {
            if i.count.is_some() {
                // A model check: its detail opens with its count ("0 of 41,200 reads stale").
                let _ = writeln!(s, "  {:4} {}: {}", status(i), i.name, i.detail);
            } else {
                let value = if i.measured.is_some() { format!(" measured {}", measured(i)) } else { String::new() };
                let held = if i.passed { "holds" } else { "violated" };
                let _ = writeln!(s, "  {:4} {}{value} (bound {}: {held}): {}", status(i), i.name, i.bound, i.detail);
            }
        }
    }
    if !verdict.estimates.is_empty() || verdict.items.iter().any(|i| i.kind == ItemKind::Estimate) {
        let _ = writeln!(s, "\nEstimates");
        for i in verdict.items.iter().filter(|i| i.kind == ItemKind::Estimate) {
            if i.passed {
                let _ = writeln!(s, "  ok    {}: {}", i.name, i.detail);
            } else {
                let _ = writeln!(
                    s,
                    "  !!!!! {}{}: {}",
                    i.name,
                    if i.counts { " (strict: fails the run)" } else { "" },
                    i.detail
                );
            }
        }
    }
    let wrong = verdict.wrong_estimates().count();
    if wrong > 0 {
        let _ = writeln!(s, "\n!!! {wrong} estimate(s) with WRONG ARITHMETIC: see above !!!");
    }
    let off = verdict.measured_off_estimates().count();
    if off > 0 {
        let _ = writeln!(
            s,
            "!!! {off} estimate(s) MEASURED OFF from their claim by more than their tolerance: see above !!!"
        );
    }
    let _ = writeln!(s);
    if verdict.passed {
        let _ = writeln!(s, "VERDICT: PASS");
    } else {
        let _ = writeln!(s, "VERDICT: FAIL ({})", verdict.failed.join(", "));
    }
    let _ = writeln!(s, "{}", verdict.expectation);
    s
}

/// `` `name` claims 7 but the simulation measured 10 (short_url_len_max) ``, for each estimate.
fn measured_off_text(off: &[&sim_core::verdict::EstimateCheck]) -> String {
    off.iter()
        .map(|e| {
            format!(
                "`{}` claims {} but the simulation measured {} ({})",
                e.name,
                num(e.claimed),
                e.measured.map(num).unwrap_or_default(),
                e.measured_name.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn md_table(head: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |c: &str| c.replace('|', "\\|").replace('\n', " ");
    let mut s = format!("| {} |\n|{}\n", head.join(" | "), " --- |".repeat(head.len()));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "));
    }
    s
}

/// `summary.md`.
pub fn summary_md(record: &RunRecord, verdict: &Verdict, meta: &Meta) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# simctl run: {}\n", record.scenario);
    if !meta.description.is_empty() {
        let _ = writeln!(s, "{}\n", meta.description);
    }
    let _ = writeln!(s, "**Verdict: {}** — {}\n", if verdict.passed { "PASS" } else { "FAIL" }, verdict.expectation);
    let _ = writeln!(s, "| | |\n| --- | --- |");
    for (k, v) in [
        ("model", record.model.clone()),
        ("seed", record.seed.to_string()),
        ("scenario file", meta.scenario_file.clone()),
        ("scenario hash", meta.scenario_hash.clone()),
        ("trace hash", record.trace_hash.clone()),
        ("simctl", meta.simctl_version.clone()),
        ("events", record.events.to_string()),
        ("simulated", format!("{} s (main phase {} s)", num(record.end_s), num(record.main_phase_s))),
        ("reproduce", format!("`{}`", meta.reproduce)),
    ] {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let wrong: Vec<_> = verdict.wrong_estimates().collect();
    if !wrong.is_empty() {
        let _ = writeln!(
            s,
            "\n> **Wrong estimates:** {}",
            wrong
                .iter()
                .map(|e| format!("`{}` claims {} but `{}` = {}", e.name, num(e.claimed), e.expr, num(e.computed)))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let off: Vec<_> = verdict.measured_off_estimates().collect();
    if !off.is_empty() {
        let _ = writeln!(s, "\n> **Estimates measured off:** {}", measured_off_text(&off));
    }
    let (h, r) = item_rows(verdict);
    let _ = write!(s, "\n## Verdict items\n\n{}", md_table(&h, &r));
    for (check, file) in crate::failed_check_figures(record, verdict) {
        let _ = writeln!(s, "\nThe failure of `{check}`, drawn: [{file}]({file})");
    }
    if !record.ops.is_empty() {
        let (h, r) = op_rows(record);
        let _ = write!(s, "\n## Operations\n\n{}", md_table(&h, &r));
    }
    if !verdict.estimates.is_empty() {
        let (h, r) = estimate_rows(verdict);
        let _ = write!(s, "\n## Estimates\n\n{}", md_table(&h, &r));
    }
    if !record.faults.is_empty() {
        let (h, r) = fault_rows(record);
        let _ = write!(s, "\n## Faults\n\n{}", md_table(&h, &r));
    }
    if !record.model_report.measures.is_empty() {
        let rows: Vec<Vec<String>> =
            record.model_report.measures.iter().map(|(k, v)| vec![k.clone(), num(*v)]).collect();
        let _ = write!(s, "\n## Model measures\n\n{}", md_table(&["measure", "value"], &rows));
    }
    let (h, r) = little_rows(record);
    if !r.is_empty() {
        let _ = write!(s, "\n## Little's law\n\n{}", md_table(&h, &r));
    }
    if !record.queueing.stations.is_empty() {
        let (h, r) = station_rows(record);
        let _ = write!(s, "\n## Queueing stations\n\n{}", md_table(&h, &r));
    }
    let _ = writeln!(
        s,
        "\n## Plots\n\n![latency](latency.svg)\n![throughput](throughput.svg)\n![latency by percentile](latency_cdf.svg){}",
        if record.op_points.points.is_some() { "\n![every operation](scatter.svg)" } else { "" }
    );
    s
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(crate) fn html_table(head: &[&str], rows: &[Vec<String>], status_col: bool) -> String {
    // A table of name/value pairs has no header row (an empty one drew a blank strip).
    let mut s = String::from("<table>");
    if head.iter().any(|h| !h.is_empty()) {
        s.push_str("<thead><tr>");
        for h in head {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        s.push_str("</tr></thead>");
    }
    s.push_str("<tbody>\n");
    for r in rows {
        let class = if status_col {
            match r[0].as_str() {
                "FAIL" => " class=\"fail\"",
                "WRONG" => " class=\"wrong\"",
                "PASS" | "ok" => " class=\"pass\"",
                _ => "",
            }
        } else {
            ""
        };
        let _ = write!(s, "<tr{class}>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

/// Strips the XML declaration so an SVG can be inlined in HTML.
pub(crate) fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The start of a report page (doctype, title, the shared style) up to the open `<body>`.
pub(crate) fn page_head(title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>simctl: {}</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}\n\
table{{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}}\n\
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}\n\
th{{background:#f3f3f3}} tr.fail td{{background:#fde2e2}} tr.wrong td{{background:#fff3cd}} tr.pass td:first-child{{color:#176117}}\n\
.verdict{{font-size:1.4em;padding:.5em 1em;border-radius:6px;display:inline-block}}\n\
.pass{{background:#dff5df}} .fail{{background:#fde2e2}} .warn{{background:#fff3cd;padding:.6em;border:2px solid #d39e00}}\n\
code{{background:#f3f3f3;padding:1px 4px}} svg{{max-width:100%;height:auto}}\n</style></head><body>\n",
        esc(title)
    );
    s
}

/// `index.html`: one self-contained page (inline SVG and CSS, no scripts, no network).
pub fn index_html(record: &RunRecord, verdict: &Verdict, meta: &Meta, plots: &crate::Plots<'_>) -> String {
    let crate::Plots { latency, throughput, cdf, scatter, tables, gauges } = *plots;
    let mut s = page_head(&record.scenario);
    let _ = writeln!(s, "<h1>{}</h1>", esc(&record.scenario));
    if !meta.description.is_empty() {
        let _ = writeln!(s, "<p>{}</p>", esc(&meta.description));
    }
    let _ = writeln!(
        s,
        "<p class=\"verdict {}\">Verdict: <b>{}</b> &mdash; {}</p>",
        if verdict.passed { "pass" } else { "fail" },
        if verdict.passed { "PASS" } else { "FAIL" },
        esc(&verdict.expectation)
    );
    let wrong: Vec<_> = verdict.wrong_estimates().collect();
    if !wrong.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"warn\"><b>Wrong estimates:</b> {}</p>",
            wrong
                .iter()
                .map(|e| esc(&format!("`{}` claims {} but {} = {}", e.name, num(e.claimed), e.expr, num(e.computed))))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let off: Vec<_> = verdict.measured_off_estimates().collect();
    if !off.is_empty() {
        let _ = writeln!(s, "<p class=\"warn\"><b>Estimates measured off:</b> {}</p>", esc(&measured_off_text(&off)));
    }
    let meta_rows = vec![
        vec!["model".into(), record.model.clone()],
        vec!["seed".into(), record.seed.to_string()],
        vec!["scenario file".into(), meta.scenario_file.clone()],
        vec!["scenario hash".into(), meta.scenario_hash.clone()],
        vec!["trace hash".into(), record.trace_hash.clone()],
        vec!["simctl".into(), meta.simctl_version.clone()],
        vec!["events".into(), record.events.to_string()],
        vec!["simulated".into(), format!("{} s (main phase {} s)", num(record.end_s), num(record.main_phase_s))],
        vec!["reproduce".into(), meta.reproduce.clone()],
    ];
    s.push_str(&html_table(&["", ""], &meta_rows, false));
    let (h, r) = item_rows(verdict);
    let _ = write!(s, "<h2>Verdict items</h2>\n{}", html_table(&h, &r, true));
    for (check, file) in crate::failed_check_figures(record, verdict) {
        let _ = writeln!(
            s,
            "<p>The failure of <code>{}</code>, drawn: <a href=\"{}\">{}</a> (and below)</p>",
            esc(&check),
            esc(&file),
            esc(&file)
        );
    }
    if !record.ops.is_empty() {
        let (h, r) = op_rows(record);
        let _ = write!(s, "<h2>Operations</h2>\n{}", html_table(&h, &r, false));
    }
    if !verdict.estimates.is_empty() {
        let (h, r) = estimate_rows(verdict);
        let _ = write!(s, "<h2>Estimates</h2>\n{}", html_table(&h, &r, true));
    }
    let _ = write!(s, "<h2>Latency over time</h2>\n{}\n", inline_svg(latency));
    let _ = write!(s, "<h2>Throughput</h2>\n{}\n", inline_svg(throughput));
    let _ = write!(s, "<h2>Latency by percentile</h2>\n{}\n", inline_svg(cdf));
    match scatter {
        Ok(svg) => {
            let _ = write!(s, "<h2>Every operation</h2>\n{}\n", inline_svg(svg));
        }
        Err(why) => {
            let _ = write!(
                s,
                "<h2>Every operation</h2>\n<p class=\"skipped\">The per-operation scatter was {}</p>\n",
                esc(why)
            );
        }
    }
    if !record.faults.is_empty() {
        let (h, r) = fault_rows(record);
        let _ = write!(s, "<h2>Faults and their effects</h2>\n{}", html_table(&h, &r, false));
    }
    if !record.model_report.measures.is_empty() {
        let rows: Vec<Vec<String>> =
            record.model_report.measures.iter().map(|(k, v)| vec![k.clone(), num(*v)]).collect();
        let _ = write!(s, "<h2>Model measures</h2>\n{}", html_table(&["measure", "value"], &rows, false));
    }
    let (h, r) = little_rows(record);
    if !r.is_empty() {
        let _ = write!(
            s,
            "<h2>Little's law</h2>\n<p>L: operations in flight, time-averaged by the kernel; lambda W: arrival rate times \
             mean latency from the history. They differ by the operations still in flight at the end; the identity \
             (L T = completed latencies + ages of the pending, to the nanosecond) must hold.</p>\n{}",
            html_table(&h, &r, false)
        );
    }
    if !record.queueing.stations.is_empty() {
        let (h, r) = station_rows(record);
        let _ = write!(
            s,
            "<h2>Queueing stations</h2>\n<p>Per part that queues jobs for servers: the mean wait in its queue as measured, \
             and as queueing theory predicts from the measured arrival rate and service times (Erlang C when Ca2 and \
             Cs2 are near 1; otherwise an approximation, marked). Lq / lambda Wq: Little's law on the queue.</p>\n{}",
            html_table(&h, &r, false)
        );
    }
    for t in &record.model_report.tables {
        let _ = writeln!(s, "<h2>Model table: {}</h2>", esc(&t.name));
        let fname = format!("table_{}.svg", crate::file_safe(&t.name));
        if let Some((_, svg)) = tables.iter().find(|(n, _)| *n == fname) {
            let _ = writeln!(s, "{}", inline_svg(svg));
        }
        if t.rows.len() <= 60 {
            let head: Vec<&str> = t.columns.iter().map(|c| c.as_str()).collect();
            s.push_str(&html_table(&head, &table_cells(t), false));
        } else {
            let _ = writeln!(s, "<p>{} rows (too many to list here).</p>", t.rows.len());
        }
    }
    for (name, svg) in &record.model_report.figures {
        let _ = writeln!(s, "<h2>Model figure: {}</h2>\n{}", esc(name), inline_svg(svg));
    }
    for (name, svg) in gauges {
        let _ = writeln!(
            s,
            "<h2>Gauge: {}</h2>\n{}",
            esc(name.trim_start_matches("gauge_").trim_end_matches(".svg")),
            inline_svg(svg)
        );
    }
    if !record.counters.is_empty() {
        let rows: Vec<Vec<String>> = record.counters.iter().map(|(k, v)| vec![k.clone(), v.to_string()]).collect();
        let _ = write!(s, "<h2>Counters</h2>\n{}", html_table(&["counter", "value"], &rows, false));
    }
    if !record.messages.is_empty() {
        let rows: Vec<Vec<String>> = record
            .messages
            .iter()
            .map(|m| {
                vec![
                    m.kind.clone(),
                    m.sent.to_string(),
                    m.delivered.to_string(),
                    m.dropped_partition.to_string(),
                    m.dropped_loss.to_string(),
                    m.dropped_down.to_string(),
                    m.dropped_overflow.to_string(),
                    m.duplicated.to_string(),
                ]
            })
            .collect();
        let head = [
            "message",
            "sent",
            "delivered",
            "dropped (partition)",
            "dropped (loss)",
            "dropped (down)",
            "dropped (overflow)",
            "duplicated",
        ];
        let _ = write!(s, "<h2>Messages</h2>\n{}", html_table(&head, &rows, false));
    }
    s.push_str("</body></html>\n");
    s
}
