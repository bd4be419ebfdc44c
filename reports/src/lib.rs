//! # reports: a run's record and verdict, rendered
//!
//! Input: a [`RunRecord`] (what the simulation measured), a [`Verdict`] (what it means against the
//! scenario's invariants, SLAs and estimates) and a little [`Meta`] (the scenario file, its hash,
//! the simctl version, the reproduce command). Output: named text files, no IO. The CLI writes them.
//!
//! | file | what |
//! | --- | --- |
//! | `summary.json` | machine-readable; field names are stable (see [`json`]) |
//! | `summary.md` | the same for people: tables of ops, verdict items, estimates, faults |
//! | `latency.svg` | p50 / p99 / p99.9 per op over time, log axis: a colour per op, a dash per percentile |
//! | `throughput.svg` | completions per second per interval, by outcome |
//! | `latency_cdf.svg` | latency by percentile per op: steps through the measured percentiles, on a "nines" axis labelled p50, p90, p99, p99.9 ... |
//! | `scatter.svg` | one dot per operation (invocation time, latency on a log axis), coloured by outcome; only for runs of up to [`sim_core::record::OP_POINTS_MAX`] operations (the page says when it was skipped) |
//! | `table_<name>.svg` | each model table the model declared a curve or bars for ([`sim_core::model::Shape`]); a grid table is an HTML table only |
//! | `gauge_<name>.svg` | each gauge the model sampled, over time |
//! | `index.html` | all of it on one page, SVG inline, opens from disk |
//!
//! A load curve (`simctl curve`, [`curve`]) has its own files: `curve.json`, `curve.svg` (latency
//! percentiles and throughput against the varied value, seed spread as bands, SLA bounds, the
//! knee) and its `index.html`.
//!
//! Every time axis shades the fault windows and labels them, so an effect can be read against
//! its cause. The SVG is written by [`svg`] (no fonts, no bitmaps needed); every series is a
//! `<g class="series" data-series="...">` element.
//!
//! Architecture invariant: no IO here, and nothing about a particular model.

pub mod curve;
pub mod json;
mod plot;
mod svg;
mod text;
pub mod trace;

use sim_core::record::RunRecord;
use sim_core::verdict::Verdict;

pub use json::summary_json;
pub use plot::{latency_cdf_svg, latency_svg, scatter_svg, table_svg, throughput_svg};
pub use text::{index_html, summary_md, text_summary};

/// What the report says about where a run came from.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// A hash of the scenario file's text (FNV-1a, hex).
    pub scenario_hash: String,
    pub description: String,
    pub simctl_version: String,
    /// The command that reproduces this run exactly.
    pub reproduce: String,
}

/// Every report file: `(file name, contents)`.
pub fn render(record: &RunRecord, verdict: &Verdict, meta: &Meta) -> Vec<(String, String)> {
    let latency = latency_svg(record);
    let throughput = throughput_svg(record);
    let cdf = latency_cdf_svg(record);
    let tables: Vec<(String, String)> = record
        .model_report
        .tables
        .iter()
        .filter_map(|t| table_svg(t, record).map(|svg| (format!("table_{}.svg", file_safe(&t.name)), svg)))
        .collect();
    // Gauges (sampled model state over time) plot like a time table.
    let gauges: Vec<(String, String)> = record
        .gauges
        .iter()
        .filter_map(|g| {
            let rows = g.series.iter().map(|&(t, v)| vec![t, v]).collect();
            let t = sim_core::model::Table::new(&format!("gauge {}", g.name), ["t_s", g.name.as_str()], rows)
                .over_time(&[g.name.as_str()], sim_core::Axis::new(&g.name, ""));
            table_svg(&t, record).map(|svg| (format!("gauge_{}.svg", file_safe(&g.name)), svg))
        })
        .collect();
    let scatter = scatter_svg(record);
    let plots = Plots {
        latency: &latency,
        throughput: &throughput,
        cdf: &cdf,
        scatter: &scatter,
        tables: &tables,
        gauges: &gauges,
    };
    let mut files = vec![
        ("summary.json".to_string(), summary_json(record, verdict, meta)),
        ("summary.md".to_string(), summary_md(record, verdict, meta)),
        ("index.html".to_string(), index_html(record, verdict, meta, &plots)),
        ("latency.svg".to_string(), latency.clone()),
        ("throughput.svg".to_string(), throughput.clone()),
        ("latency_cdf.svg".to_string(), cdf.clone()),
    ];
    if let Ok(svg) = scatter {
        files.push(("scatter.svg".to_string(), svg));
    }
    files.extend(tables);
    files.extend(gauges);
    files.extend(figure_files(record));
    files
}

/// The model's figures as files: `(figure_<name>.svg, svg)`, in the report's order.
pub fn figure_files(record: &RunRecord) -> Vec<(String, String)> {
    record.model_report.figures.iter().map(|(n, svg)| (figure_file(n), svg.clone())).collect()
}

fn figure_file(name: &str) -> String {
    format!("figure_{}.svg", file_safe(name))
}

/// The figures that illustrate a failed check, as `(check, file name)`: a figure belongs to the
/// check its name opens with (`linearizable_key_3` to `linearizable`, a violation's timeline).
pub fn failed_check_figures(record: &RunRecord, verdict: &Verdict) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in verdict.items.iter().filter(|i| !i.passed && i.count.is_some()) {
        for (n, _) in &record.model_report.figures {
            if n == &i.name || n.strip_prefix(i.name.as_str()).is_some_and(|rest| rest.starts_with('_')) {
                out.push((i.name.clone(), figure_file(n)));
            }
        }
    }
    out
}

/// The plots `index.html` shows inline.
#[derive(Clone, Copy)]
pub struct Plots<'a> {
    pub latency: &'a str,
    pub throughput: &'a str,
    pub cdf: &'a str,
    /// `Err(why it was skipped)`.
    pub scatter: &'a Result<String, String>,
    /// `(file name, svg)` of the model tables with a plot.
    pub tables: &'a [(String, String)],
    pub gauges: &'a [(String, String)],
}

fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// A number for people: few digits, no float noise (the verdict's format, so a value reads the
/// same in every table).
pub(crate) fn num(v: f64) -> String {
    sim_core::verdict::people_num(v)
}

#[cfg(test)]
mod tests;
