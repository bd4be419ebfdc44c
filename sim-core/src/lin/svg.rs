//! A timeline of a sub-history: a row per client, a bar per operation from its invocation to its
//! completion (to the right edge, dashed, when its outcome is unknown), the marked ones in red.

use crate::time::Time;
use std::collections::BTreeMap;

/// One operation on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub op: u64,
    pub client: u32,
    pub invoke: Time,
    /// `None`: unknown outcome.
    pub complete: Option<Time>,
    /// What it did, e.g. `write 17` or `read -> 12`.
    pub label: String,
    /// Drawn as a conflicting operation.
    pub marked: bool,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The SVG text of the timeline. Every bar is a `<g class="op" data-op=...>` (with `conflict` in
/// its class when marked), so a test or a reader can find an operation by its id.
pub fn timeline(title: &str, bars: &[Bar]) -> String {
    let rows: BTreeMap<u32, usize> = {
        let mut clients: Vec<u32> = bars.iter().map(|b| b.client).collect();
        clients.sort_unstable();
        clients.dedup();
        clients.into_iter().enumerate().map(|(i, c)| (c, i)).collect()
    };
    let t0 = bars.iter().map(|b| b.invoke.0).min().unwrap_or(0);
    let t1 = bars.iter().map(|b| b.complete.unwrap_or(b.invoke).0).max().unwrap_or(0).max(t0 + 1);
    // A bar of unknown outcome runs a tenth past the last completion.
    let end = t1 + (t1 - t0) / 10 + 1;
    let (left, width, row_h, top) = (110.0, 760.0, 34.0, 40.0);
    let x = |t: u64| left + (t - t0) as f64 / (end - t0) as f64 * width;
    let height = top + row_h * rows.len() as f64 + 40.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"10\" y=\"20\" font-size=\"13\">{}</text>\n",
        escape(title),
        w = left + width + 30.0,
    );
    for (client, row) in &rows {
        let y = top + row_h * *row as f64;
        s.push_str(&format!("<text x=\"10\" y=\"{:.1}\">client {client}</text>\n", y + row_h / 2.0 + 4.0));
    }
    for b in bars {
        let y = top + row_h * rows[&b.client] as f64 + 6.0;
        let (x0, x1) = (x(b.invoke.0), x(b.complete.map_or(end, |c| c.0)));
        let colour = if b.marked { "#d62728" } else { "#7f7f7f" };
        let (dash, opacity) = if b.complete.is_none() { (" stroke-dasharray=\"4 3\"", "0.25") } else { ("", "0.6") };
        s.push_str(&format!(
            "<g class=\"op{}\" data-op=\"{}\"><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{colour}\" fill-opacity=\"{opacity}\" stroke=\"{colour}\"{dash}/><text x=\"{x0:.1}\" y=\"{:.1}\">op {}: {}</text></g>\n",
            if b.marked { " conflict" } else { "" },
            b.op,
            (x1 - x0).max(2.0),
            row_h - 18.0,
            y + row_h - 8.0,
            b.op,
            escape(&b.label),
        ));
    }
    let axis_y = top + row_h * rows.len() as f64 + 10.0;
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"black\"/>\n\
         <text x=\"{left}\" y=\"{:.1}\">{:.3} ms</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.3} ms</text>\n</svg>\n",
        left + width,
        axis_y + 15.0,
        t0 as f64 / 1e6,
        x(t1),
        axis_y + 15.0,
        t1 as f64 / 1e6,
    ));
    s
}

/// The bars of a violation's sub-history: every operation marked, the blocked one's label
/// saying so.
pub fn violation_bars<I: std::fmt::Debug, O: std::fmt::Debug>(v: &super::Violation<I, O>) -> Vec<Bar> {
    v.ops
        .iter()
        .map(|op| Bar {
            op: op.id,
            client: op.client,
            invoke: op.invoke,
            complete: op.complete(),
            label: format!(
                "{:?} -> {}{}",
                op.input,
                op.output().map_or("?".to_string(), |o| format!("{o:?}")),
                if op.id == v.blocked.id { " (cannot be placed)" } else { "" }
            ),
            marked: true,
        })
        .collect()
}
