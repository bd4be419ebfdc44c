//! A timeline of a sub-history: a row per client, a bar per operation from its invocation to its
//! completion (to the right edge, dashed, when its outcome is unknown), the marked ones in red.

use crate::time::Time;

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

/// Width of a label in pixels at the timeline's font size (11 px sans-serif: at most ~6.2 px a
/// character), so that labels can be kept apart.
fn label_px(label: &str) -> f64 {
    label.chars().count() as f64 * 6.2
}

/// The SVG text of the timeline. Every bar is a `<g class="op" data-op=...>` (with `conflict` in
/// its class when marked, and `blocked` for the operation that cannot be placed), so a test or a
/// reader can find an operation by its id. A client whose operations overlap (a client node with
/// many calls in flight), or whose labels would run into each other, gets more than one lane: no
/// two bars or labels of the figure overlap.
pub fn timeline(title: &str, bars: &[Bar]) -> String {
    let t0 = bars.iter().map(|b| b.invoke.0).min().unwrap_or(0);
    let t1 = bars.iter().map(|b| b.complete.unwrap_or(b.invoke).0).max().unwrap_or(0).max(t0 + 1);
    // A bar of unknown outcome runs a tenth past the last completion.
    let end = t1 + (t1 - t0) / 10 + 1;
    let (left, width, lane_h, top, gap) = (110.0, 760.0, 34.0, 40.0, 8.0);
    let x = |t: u64| left + (t - t0) as f64 / (end - t0) as f64 * width;
    // Lanes: per client (in order), each bar to the first lane whose last bar and label end
    // before it starts.
    let mut order: Vec<usize> = (0..bars.len()).collect();
    order.sort_by_key(|&i| (bars[i].client, bars[i].invoke, bars[i].op));
    let mut lane_of = vec![0usize; bars.len()];
    let mut clients: Vec<(u32, usize, usize)> = Vec::new(); // (client, first lane, lanes)
    let mut lanes_end: Vec<f64> = Vec::new();
    for &i in &order {
        let b = &bars[i];
        if clients.last().is_none_or(|c| c.0 != b.client) {
            clients.push((b.client, lanes_end.len(), 0));
        }
        let c = clients.last_mut().expect("pushed");
        let x0 = x(b.invoke.0);
        let right = x(b.complete.map_or(end, |t| t.0)).max(x0 + label_px(&format!("op {}: {}", b.op, b.label)));
        let lane = (c.1..c.1 + c.2).find(|&l| lanes_end[l] + gap <= x0).unwrap_or_else(|| {
            lanes_end.push(f64::NEG_INFINITY);
            c.2 += 1;
            c.1 + c.2 - 1
        });
        lanes_end[lane] = right;
        lane_of[i] = lane;
    }
    let lanes = lanes_end.len();
    let right_edge = lanes_end.iter().copied().fold(left + width, f64::max);
    let height = top + lane_h * lanes as f64 + 40.0;
    let w = right_edge + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{height}\" viewBox=\"0 0 {w:.0} {height}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"13\">{}</text>\n",
        escape(title),
    );
    for (i, &(client, first, n)) in clients.iter().enumerate() {
        let y = top + lane_h * first as f64;
        if i % 2 == 1 {
            s.push_str(&format!(
                "<rect x=\"0\" y=\"{y:.1}\" width=\"{w:.0}\" height=\"{:.1}\" fill=\"#f3f3f3\"/>\n",
                lane_h * n as f64
            ));
        }
        s.push_str(&format!("<text x=\"10\" y=\"{:.1}\">client {client}</text>\n", y + lane_h / 2.0 + 4.0));
    }
    for (b, &lane) in bars.iter().zip(&lane_of) {
        let y = top + lane_h * lane as f64 + 4.0;
        let (x0, x1) = (x(b.invoke.0), x(b.complete.map_or(end, |c| c.0)));
        let colour = if b.marked { "#d62728" } else { "#7f7f7f" };
        let (dash, opacity) = if b.complete.is_none() { (" stroke-dasharray=\"4 3\"", "0.25") } else { ("", "0.6") };
        let blocked = b.label.ends_with(BLOCKED);
        s.push_str(&format!(
            "<g class=\"op{}{}\" data-op=\"{}\"><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{colour}\" fill-opacity=\"{opacity}\" stroke=\"{colour}\" stroke-width=\"{}\"{dash}/><text x=\"{x0:.1}\" \
             y=\"{:.1}\"{}>op {}: {}</text></g>\n",
            if b.marked { " conflict" } else { "" },
            if blocked { " blocked" } else { "" },
            b.op,
            (x1 - x0).max(2.0),
            12.0,
            if blocked { 2.5 } else { 1.0 },
            y + 12.0 + 12.0,
            if blocked { " font-weight=\"bold\"" } else { "" },
            b.op,
            escape(&b.label),
        ));
    }
    let axis_y = top + lane_h * lanes as f64 + 10.0;
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

/// What the label of the operation no linearization could place ends with.
const BLOCKED: &str = " (cannot be placed)";

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
                if op.id == v.blocked.id { BLOCKED } else { "" }
            ),
            marked: true,
        })
        .collect()
}
