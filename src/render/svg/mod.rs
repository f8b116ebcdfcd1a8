//! `--format svg`: a space-time diagram of a trace, plain SVG text.
//!
//! One horizontal lane per task (and `jm` on top), time from left to right. Barriers are
//! arrows from the sender's lane (where it took its snapshot) to the receiver's (where the
//! barrier arrived), in one colour per checkpoint; the snapshot points of one checkpoint are
//! joined by a line, the cut (solid once the checkpoint completed, dashed otherwise). A blocked
//! input channel is a thick amber bar on the receiver's lane; failures are red crosses, restores
//! green triangles, commits gold diamonds; lost control messages end in a red cross; outages
//! (nodes, network partitions, storage, the coordinator) are bands above the lanes.

use crate::render::model::{Model, Outcome, Span};
use crate::render::{
    at, duration, message_from_jm, message_words, plural, receiver, sender, xml_escape, Ev, Item,
    Trace,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod marks;
use marks::cross;

/// One colour per checkpoint, in turn (red is kept for failures, amber for blocked channels).
pub const PALETTE: [&str; 8] =
    ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"];
const RED: &str = "#d62728";
const PLOT_W: f64 = 1000.0;
const LANE_H: f64 = 44.0;
const ENV_ROW: f64 = 16.0;

pub fn colour(cp: u64) -> &'static str {
    PALETTE[(cp.saturating_sub(1) % PALETTE.len() as u64) as usize]
}

fn palette_index(cp: u64) -> u64 {
    cp.saturating_sub(1) % PALETTE.len() as u64
}

const STYLE: &str = "text{font-family:sans-serif;font-size:11px}\
.title{font-size:13px;font-weight:bold}\
.lane-label{font-family:monospace;font-size:12px;text-anchor:end}\
.lane{stroke:#888;stroke-width:1}\
.down{stroke:#aaa;stroke-width:1;stroke-dasharray:2 3}\
.gap{stroke:#fff;stroke-width:3}\
.blocked{fill:#f5a623;fill-opacity:.85}\
.cut{fill:none;stroke-width:7;stroke-opacity:.25;stroke-linejoin:round;stroke-linecap:round}\
.cut-open{fill:none;stroke-width:2;stroke-dasharray:5 4;stroke-opacity:.7}\
.barrier{stroke-width:1.3}\
.cancel{stroke:#888;stroke-width:1.2;stroke-dasharray:4 2}\
.end{stroke:#888;stroke-width:.8;stroke-dasharray:1 3}\
.ctl{stroke-width:.9;stroke-dasharray:1 2.5;stroke-opacity:.8}\
.lost{stroke:#d62728;stroke-width:1.2;stroke-dasharray:3 2}\
.cross{stroke:#d62728;stroke-width:2.5}\
.cancelled{stroke:#777;stroke-width:1.5}\
.restore{fill:#2ca02c}\
.commit{fill:#e6b800;stroke:#806600}\
.precommit{fill:#fff;stroke:#b38f00;stroke-width:1.2}\
.txn-abort{fill:#fff;stroke:#d62728;stroke-width:1.2}\
.outage{fill:#fde0e0;stroke:#d62728;stroke-width:.8}\
.crash-line{stroke:#d62728;stroke-width:.8;stroke-dasharray:2 4;stroke-opacity:.6}\
.finish{stroke:#333;stroke-width:2}\
.small{font-size:9px}\
.axis{stroke:#333}\
.tick{font-size:10px;text-anchor:middle}\
.data{stroke:#999;stroke-width:1;stroke-opacity:.4}";

/// Where things go.
struct Layout {
    left: f64,
    end: u64,
    env_top: f64,
    jm_y: f64,
    lanes: usize,
    width: f64,
}

impl Layout {
    fn x(&self, t: u64) -> f64 {
        self.left + t as f64 * PLOT_W / self.end.max(1) as f64
    }

    fn y(&self, lane: usize) -> f64 {
        self.jm_y + lane as f64 * LANE_H
    }

    fn axis_y(&self) -> f64 {
        self.y(self.lanes) - LANE_H + 30.0
    }
}

/// The longest lane label, in characters: a longer task name is cut short with `…` (the whole
/// name is its tooltip), so that one long name does not widen the label column without bound.
const LABEL_MAX: usize = 32;

/// A lane's label, escaped: the name, or its start and `…` with the whole name as a tooltip.
fn lane_label(name: &str) -> String {
    if name.chars().count() <= LABEL_MAX {
        return xml_escape(name);
    }
    let start: String = name.chars().take(LABEL_MAX - 1).collect();
    format!("<title>{}</title>{}…", xml_escape(name), xml_escape(&start))
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// Assigns each span a row so that spans in one row do not overlap; returns rows and count.
fn pack(spans: &[Span]) -> (Vec<usize>, usize) {
    let mut row_end: Vec<u64> = Vec::new();
    let mut rows = Vec::new();
    for s in spans {
        match row_end.iter().position(|&e| e <= s.from) {
            Some(r) => {
                row_end[r] = s.to.max(s.from + 1);
                rows.push(r);
            }
            None => {
                row_end.push(s.to.max(s.from + 1));
                rows.push(row_end.len() - 1);
            }
        }
    }
    (rows, row_end.len())
}

/// The space-time diagram of a trace.
pub fn render(trace: &Trace, model: &Model, all: bool) -> String {
    let label_w =
        model.tasks.iter().map(|t| t.chars().count()).max().unwrap_or(2).clamp(4, LABEL_MAX);
    let left = (label_w as f64 * 7.5 + 24.0).max(70.0);
    let (env_rows, env_n) = pack(&model.outages);
    let env_top = 32.0;
    let jm_y = env_top + env_n as f64 * ENV_ROW + 30.0;
    let lay = Layout {
        left,
        end: trace.end_us(),
        env_top,
        jm_y,
        lanes: model.tasks.len() + 1,
        width: left + PLOT_W + 40.0,
    };
    let legend_y = lay.axis_y() + 40.0;
    let legend_rows = LEGEND.len().div_ceil(4);
    let height = legend_y + legend_rows as f64 * 20.0 + 8.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        w = n(lay.width),
        h = n(height)
    );
    let _ = writeln!(s, "<style>{STYLE}</style>");
    let _ = writeln!(s, "<defs>");
    for (i, c) in PALETTE.iter().enumerate() {
        let _ = writeln!(s, "{}", arrow_marker(&format!("arrow{i}"), c));
    }
    let _ = writeln!(s, "{}", arrow_marker("arrow-grey", "#888"));
    let _ = writeln!(s, "</defs>");
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#fff\"/>",
        n(lay.width),
        n(height)
    );
    let _ = writeln!(
        s,
        "<text class=\"title\" x=\"10\" y=\"20\">ftsim trace {}: {}, {} to {}</text>",
        xml_escape(&trace.origin),
        plural(trace.events.len() as u64, "trace line"),
        at(trace.events.first().map_or(0, |e| e.t_us)),
        at(trace.end_us())
    );
    outages(&mut s, &lay, model, &env_rows);
    lanes(&mut s, &lay, trace, model);
    blocked(&mut s, &lay, model);
    cuts(&mut s, &lay, model);
    if all {
        data_ticks(&mut s, &lay, trace, model);
    }
    messages(&mut s, &lay, trace, model);
    marks::markers(&mut s, &lay, trace, model);
    axis(&mut s, &lay);
    legend(&mut s, &lay, legend_y);
    s.push_str("</svg>\n");
    s
}

fn arrow_marker(id: &str, colour: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
    )
}

fn outages(s: &mut String, lay: &Layout, model: &Model, rows: &[usize]) {
    for (span, row) in model.outages.iter().zip(rows) {
        let (x1, x2) = (lay.x(span.from), lay.x(span.to).max(lay.x(span.from) + 2.0));
        let y = lay.env_top + *row as f64 * ENV_ROW;
        let still = if span.open { ", until the end of the trace" } else { "" };
        let _ = writeln!(
            s,
            "<g><title>{} from {} to {} ({}){still}</title><rect class=\"outage\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\"/><text class=\"small\" x=\"{}\" y=\"{}\">{}</text></g>",
            xml_escape(&span.who),
            at(span.from),
            at(span.to),
            duration(span.to - span.from),
            n(x1),
            n(y),
            n(x2 - x1),
            n(x1 + 3.0),
            n(y + 9.0),
            xml_escape(&span.who)
        );
    }
}

fn lanes(s: &mut String, lay: &Layout, trace: &Trace, model: &Model) {
    let end_x = lay.x(trace.end_us());
    // Where each lane ends: its task's last `task_finished` (for `jm`, the last
    // `job_finished`), found in one pass over the trace rather than one pass per lane.
    let mut task_end: BTreeMap<&str, u64> = BTreeMap::new();
    let mut jm_end = None;
    for e in &trace.events {
        match &e.ev {
            Ev::TaskFinished { task } => {
                task_end.insert(task, e.t_us);
                if task == "jm" {
                    jm_end = Some(e.t_us);
                }
            }
            Ev::JobFinished => jm_end = Some(e.t_us),
            _ => {}
        }
    }
    let names = std::iter::once("jm").chain(model.tasks.iter().map(String::as_str));
    for (i, name) in names.enumerate() {
        let y = lay.y(i);
        let finished = if i == 0 { jm_end } else { task_end.get(name).copied() };
        let x2 = finished.map_or(end_x, |t| lay.x(t));
        let _ = writeln!(
            s,
            "<text class=\"lane-label\" x=\"{}\" y=\"{}\">{}</text>",
            n(lay.left - 10.0),
            n(y + 4.0),
            lane_label(name)
        );
        let _ = writeln!(
            s,
            "<line class=\"lane\" x1=\"{}\" y1=\"{y1}\" x2=\"{}\" y2=\"{y1}\"/>",
            n(lay.left),
            n(x2),
            y1 = n(y)
        );
    }
    for d in &model.down {
        let y = n(lay.y(model.lane(&d.who)));
        let (x1, x2) = (n(lay.x(d.from)), n(lay.x(d.to)));
        let _ = writeln!(
            s,
            "<g><title>{} down from {} to {}</title><line class=\"gap\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\"/><line class=\"down\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\"/></g>",
            xml_escape(&d.who),
            at(d.from),
            at(d.to)
        );
    }
}

fn blocked(s: &mut String, lay: &Layout, model: &Model) {
    // The spans of each task, and each task's blocked channels numbered in the order first
    // blocked (their bars are stacked in that order): one pass over the spans.
    let mut by_task: BTreeMap<&str, (Vec<&Span>, BTreeMap<&str, usize>)> = BTreeMap::new();
    for b in &model.blocked {
        let (spans, channels) = by_task.entry(&b.who).or_default();
        spans.push(b);
        let next = channels.len();
        channels.entry(&b.channel).or_insert(next);
    }
    for task in &model.tasks {
        let Some((spans, channels)) = by_task.get(task.as_str()) else { continue };
        let k = channels.len() as f64;
        for b in spans {
            let i = channels.get(b.channel.as_str()).copied().unwrap_or(0) as f64;
            let y = lay.y(model.lane(task)) + (i - (k - 1.0) / 2.0) * 5.0 - 2.5;
            let x1 = lay.x(b.from);
            let w = (lay.x(b.to) - x1).max(2.0);
            let open = if b.open { " (never resumed)" } else { "" };
            let _ = writeln!(
                s,
                "<rect class=\"blocked\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"5\"><title>{} blocked input {} from {} to {} ({}){open}</title></rect>",
                n(x1),
                n(y),
                n(w),
                xml_escape(task),
                xml_escape(&b.channel),
                at(b.from),
                at(b.to),
                duration(b.to - b.from)
            );
        }
    }
}

fn cuts(s: &mut String, lay: &Layout, model: &Model) {
    for cp in model.checkpoints.values() {
        if cp.snapshots.is_empty() {
            continue;
        }
        let mut points: Vec<(usize, u64)> =
            cp.snapshots.iter().map(|(t, at_us)| (model.lane(t), *at_us)).collect();
        points.sort();
        let path: Vec<String> =
            points.iter().map(|(l, t)| format!("{},{}", n(lay.x(*t)), n(lay.y(*l)))).collect();
        let (class, state) = match cp.outcome() {
            Outcome::Completed(t) => ("cut", format!("completed {}", at(t))),
            Outcome::Aborted(t, r) => ("cut-open", format!("aborted {}: {r}", at(t))),
            Outcome::LostWithCoordinator(t) => {
                ("cut-open", format!("lost with the coordinator {}", at(t)))
            }
            Outcome::Pending => ("cut-open", "never completed".to_string()),
        };
        let _ = writeln!(
            s,
            "<polyline class=\"{class}\" data-checkpoint=\"{}\" stroke=\"{}\" points=\"{}\"><title>cut of checkpoint {}: {} snapshots; {state}</title></polyline>",
            cp.id,
            colour(cp.id),
            path.join(" "),
            cp.id,
            cp.snapshots.len()
        );
        let (l, t) = points[0];
        let _ = writeln!(
            s,
            "<text class=\"small\" x=\"{}\" y=\"{}\" fill=\"{}\">cp{}</text>",
            n(lay.x(t) + 5.0),
            n(lay.y(l) - 7.0),
            colour(cp.id),
            cp.id
        );
    }
}

fn data_ticks(s: &mut String, lay: &Layout, trace: &Trace, model: &Model) {
    for e in trace.events.iter().filter(|e| e.ev.is_data()) {
        if matches!(e.ev, Ev::Deliver { .. }) {
            continue;
        }
        let Some(task) = e.ev.task() else { continue };
        let (x, y) = (n(lay.x(e.t_us)), lay.y(model.lane(task)));
        let _ = writeln!(
            s,
            "<line class=\"data\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
            n(y - 3.0),
            n(y + 3.0)
        );
    }
}

/// Barriers, triggers, acknowledgements, notices and lost messages.
fn messages(s: &mut String, lay: &Layout, trace: &Trace, model: &Model) {
    for b in &model.barriers {
        let (from, to) = (model.lane(sender(&b.channel)), model.lane(receiver(&b.channel)));
        let (class, stroke, marker, what) = match b.item {
            Item::Barrier(cp) => (
                "barrier",
                colour(cp),
                format!("arrow{}", palette_index(cp)),
                format!("barrier of checkpoint {cp}"),
            ),
            Item::Cancel(cp) => (
                "cancel",
                "#888",
                "arrow-grey".to_string(),
                format!("cancellation barrier of checkpoint {cp}"),
            ),
            Item::EndOfData => ("end", "#888", "arrow-grey".into(), "end of data".into()),
            _ => ("end", "#888", "arrow-grey".into(), "end of partition".into()),
        };
        let _ = writeln!(
            s,
            "<line class=\"{class}\" stroke=\"{stroke}\" marker-end=\"url(#{marker})\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"><title>{what} on {}: sent {}, arrived {}</title></line>",
            n(lay.x(b.sent)),
            n(lay.y(from)),
            n(lay.x(b.arrived)),
            n(lay.y(to)),
            xml_escape(&b.channel),
            at(b.sent),
            at(b.arrived)
        );
    }
    let ctl = |s: &mut String,
               cp: u64,
               (l1, t1): (usize, u64),
               (l2, t2): (usize, u64),
               title: String| {
        let _ = writeln!(
            s,
            "<line class=\"ctl\" stroke=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"><title>{}</title></line>",
            colour(cp),
            n(lay.x(t1)),
            n(lay.y(l1)),
            n(lay.x(t2)),
            n(lay.y(l2)),
            xml_escape(&title)
        );
    };
    // When each task's snapshot for each checkpoint was stored, in time order.
    let mut stored_at: BTreeMap<(&str, u64), Vec<u64>> = BTreeMap::new();
    for cp in model.checkpoints.values() {
        for (task, at_us) in &cp.stored {
            stored_at.entry((task.as_str(), cp.id)).or_default().push(*at_us);
        }
    }
    for e in &trace.events {
        let t = e.t_us;
        match &e.ev {
            Ev::SnapshotTaken { task, checkpoint } if model.is_source(task) => {
                let from = model.checkpoints.get(checkpoint).and_then(|c| c.triggered).unwrap_or(t);
                let title = format!("trigger of checkpoint {checkpoint} reaches {task} {}", at(t));
                ctl(s, *checkpoint, (0, from.min(t)), (model.lane(task), t), title);
            }
            Ev::CheckpointAcknowledged { task, checkpoint } => {
                // The task's last store for this checkpoint at or before the acknowledgement.
                let stored = stored_at.get(&(task.as_str(), *checkpoint)).and_then(|times| {
                    times[..times.partition_point(|&at_us| at_us <= t)].last().copied()
                });
                let title =
                    format!("acknowledgement of checkpoint {checkpoint} from {task} {}", at(t));
                ctl(s, *checkpoint, (model.lane(task), stored.unwrap_or(t)), (0, t), title);
            }
            Ev::NotifyComplete { task, checkpoint } | Ev::NotifyAborted { task, checkpoint } => {
                let sent = match model.checkpoints.get(checkpoint).map(|c| c.outcome()) {
                    Some(Outcome::Completed(c) | Outcome::Aborted(c, _)) if c <= t => c,
                    _ => t,
                };
                let what =
                    if matches!(e.ev, Ev::NotifyComplete { .. }) { "completion" } else { "abort" };
                let title =
                    format!("{what} notice of checkpoint {checkpoint} reaches {task} {}", at(t));
                ctl(s, *checkpoint, (0, sent), (model.lane(task), t), title);
            }
            Ev::ControlLost { message, task, checkpoint } => {
                let lane = model.lane(task);
                let (y_from, y_to) = if message_from_jm(message) {
                    (lay.y(0), lay.y(lane))
                } else {
                    (lay.y(lane), lay.y(0))
                };
                let dir = if y_to > y_from { 1.0 } else { -1.0 };
                let (x, y_end) = (lay.x(t), y_to - dir * 10.0);
                let _ = writeln!(
                    s,
                    "<g class=\"lost-message\"><title>{} of checkpoint {checkpoint} {} {} lost {}</title><line class=\"lost\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>{}</g>",
                    message_words(message),
                    if message_from_jm(message) { "to" } else { "from" },
                    xml_escape(task),
                    at(t),
                    n(y_from),
                    n(y_end),
                    cross(lay.x(t), y_end, 4.0, "cross"),
                    x = n(x)
                );
            }
            _ => {}
        }
    }
}

fn axis(s: &mut String, lay: &Layout) {
    let y = lay.axis_y();
    let _ = writeln!(
        s,
        "<line class=\"axis\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
        n(lay.left),
        n(lay.left + PLOT_W),
        y = n(y)
    );
    let end = lay.end.max(1);
    let step = tick_step(end);
    let mut t = 0;
    while t <= end {
        let x = n(lay.x(t));
        let label = if t % 1000 == 0 {
            format!("{}", t / 1000)
        } else {
            format!("{}.{:03}", t / 1000, t % 1000).trim_end_matches('0').to_string()
        };
        let _ = writeln!(
            s,
            "<line class=\"axis\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/><text class=\"tick\" x=\"{x}\" y=\"{}\">{label}</text>",
            n(y),
            n(y + 5.0),
            n(y + 17.0)
        );
        match t.checked_add(step) {
            Some(next) => t = next,
            None => break,
        }
    }
    let _ = writeln!(
        s,
        "<text class=\"tick\" x=\"{}\" y=\"{}\">ms (virtual time)</text>",
        n(lay.left + PLOT_W),
        n(y + 31.0)
    );
}

/// The distance between ticks: 1, 2 or 5 times a power of ten µs, at most ten ticks.
fn tick_step(end: u64) -> u64 {
    let mut decade = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = decade.saturating_mul(m);
            if end / step <= 10 {
                return step;
            }
        }
        decade = decade.saturating_mul(10);
    }
}

/// The legend's entries: a glyph (drawn at 0,0, about 24 px wide) and what it means.
const LEGEND: [(&str, &str); 12] = [
    ("<line class=\"barrier\" stroke=\"#1f77b4\" marker-end=\"url(#arrow0)\" x1=\"0\" y1=\"4\" x2=\"24\" y2=\"-4\"/>", "barrier (colour: checkpoint)"),
    ("<line class=\"cut key\" stroke=\"#1f77b4\" x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\"/>", "cut of a completed checkpoint"),
    ("<line class=\"cut-open key\" stroke=\"#1f77b4\" x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\"/>", "cut that never completed"),
    ("<circle cx=\"12\" cy=\"0\" r=\"4.5\" fill=\"#1f77b4\"/>", "snapshot taken"),
    ("<rect class=\"blocked\" x=\"0\" y=\"-2.5\" width=\"24\" height=\"5\"/>", "input blocked (alignment)"),
    ("<line class=\"ctl\" stroke=\"#1f77b4\" x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\"/>", "trigger, acknowledgement, notice"),
    ("<line class=\"lost\" x1=\"0\" y1=\"0\" x2=\"18\" y2=\"0\"/><path class=\"cross\" d=\"M15,-3 L21,3 M15,3 L21,-3\"/>", "control message lost"),
    ("<path class=\"cross\" d=\"M6,-6 L18,6 M6,6 L18,-6\"/>", "task failed, crash"),
    ("<path class=\"cancelled\" d=\"M8,-4 L16,4 M8,4 L16,-4\"/>", "task cancelled by failover"),
    ("<path class=\"restore\" d=\"M7,5 L17,5 L12,-6 z\"/>", "task restored (from cpN)"),
    ("<path class=\"commit\" d=\"M12,-6 L17,0 L12,6 L7,0 z\"/><path class=\"precommit\" d=\"M24,-6 L29,0 L24,6 L19,0 z\"/>", "commit, pre-commit"),
    ("<rect class=\"outage\" x=\"0\" y=\"-6\" width=\"24\" height=\"12\"/>", "outage: node, network, storage"),
];

fn legend(s: &mut String, lay: &Layout, y0: f64) {
    let _ = writeln!(s, "<g class=\"legend\">");
    for (i, (glyph, text)) in LEGEND.iter().enumerate() {
        let x = 10.0 + (i % 4) as f64 * ((lay.width - 20.0) / 4.0);
        let y = y0 + (i / 4) as f64 * 20.0;
        let _ = writeln!(
            s,
            "<g transform=\"translate({},{})\">{glyph}<text x=\"34\" y=\"4\">{text}</text></g>",
            n(x),
            n(y)
        );
    }
    let _ = writeln!(s, "</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_svg_are_escaped() {
        let t = Trace::parse(
            r#"{"t_us":0,"event":"deliver","channel":"a<b>[0]->c&d[0]","item":"end"}
{"t_us":1000,"event":"task_finished","task":"c&d[0]"}"#,
            "x\"y.jsonl",
        )
        .expect("parses");
        let svg = render(&t, &Model::of(&t), false);
        assert!(svg.contains(">a&lt;b&gt;[0]</text>"), "{svg}");
        assert!(svg.contains(">c&amp;d[0]</text>"));
        assert!(svg.contains("ftsim trace x&quot;y.jsonl"));
        assert!(!svg.contains("c&d"));
    }

    #[test]
    fn the_tiny_trace_has_its_lanes_cut_loss_crash_and_restores() {
        let t = Trace::parse(crate::render::tests::TINY, "tiny.jsonl").expect("a valid trace");
        let svg = render(&t, &Model::of(&t), false);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        for lane in ["jm", "src[0]", "out[0]"] {
            assert_eq!(svg.matches(&format!(">{lane}</text>")).count(), 1, "{lane}");
        }
        let body = &svg[..svg.find("<g class=\"legend\">").expect("a legend")];
        assert_eq!(body.matches("<polyline class=\"cut\" data-checkpoint=\"1\"").count(), 1);
        assert_eq!(body.matches("class=\"lost-message\"").count(), 1);
        assert_eq!(body.matches("<path class=\"restore\"").count(), 2);
        assert_eq!(body.matches("<path class=\"cross\"").count(), 2, "a failure and a loss");
        assert!(body.contains("<title>out[0]: commit of txn0.0.0 (1 record) on restore (recommit)"));
        assert!(svg.contains("<rect class=\"outage\""));
        assert_eq!(svg, render(&t, &Model::of(&t), false), "the same bytes every time");
    }

    #[test]
    fn a_long_lane_label_is_cut_short_with_the_whole_name_as_its_tooltip() {
        assert_eq!(lane_label("a&b[0]"), "a&amp;b[0]");
        let long = format!("{}<[0]", "x".repeat(40));
        let want = format!("<title>{}&lt;[0]</title>{}…", "x".repeat(40), "x".repeat(31));
        assert_eq!(lane_label(&long), want);
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(103_702), 10_000);
        assert_eq!(tick_step(1), 1);
        assert_eq!(tick_step(0), 1);
        assert_eq!(tick_step(u64::MAX), 2_000_000_000_000_000_000);
    }

    #[test]
    fn spans_are_packed_into_rows() {
        let sp =
            |from, to| Span { who: String::new(), channel: String::new(), from, to, open: false };
        assert_eq!(pack(&[sp(0, 10), sp(5, 8), sp(10, 12), sp(9, 20)]), (vec![0, 1, 0, 1], 2));
    }
}
