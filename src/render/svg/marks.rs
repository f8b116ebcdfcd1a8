//! The marks of the space-time diagram: snapshots, checkpoint outcomes on the `jm` lane,
//! transactions, failures, restores and finishes.

use super::{colour, n, Layout, RED};
use crate::render::model::Model;
use crate::render::{at, plural, xml_escape, Ev, Trace};
use std::fmt::Write as _;

pub(super) fn cross(x: f64, y: f64, r: f64, class: &str) -> String {
    format!(
        "<path class=\"{class}\" d=\"M{},{} L{},{} M{},{} L{},{}\"/>",
        n(x - r),
        n(y - r),
        n(x + r),
        n(y + r),
        n(x - r),
        n(y + r),
        n(x + r),
        n(y - r)
    )
}

fn diamond(x: f64, y: f64, class: &str) -> String {
    format!(
        "<path class=\"{class}\" d=\"M{},{} L{},{} L{},{} L{},{} z\"/>",
        n(x),
        n(y - 6.0),
        n(x + 5.0),
        n(y),
        n(x),
        n(y + 6.0),
        n(x - 5.0),
        n(y)
    )
}

fn triangle(x: f64, y: f64) -> String {
    format!(
        "<path class=\"restore\" d=\"M{},{} L{},{} L{},{} z\"/>",
        n(x - 7.0),
        n(y + 6.0),
        n(x + 7.0),
        n(y + 6.0),
        n(x),
        n(y - 8.0)
    )
}

/// Snapshots, checkpoint outcomes, transactions, failures, restores and finishes.
pub(super) fn markers(s: &mut String, lay: &Layout, trace: &Trace, model: &Model) {
    let bottom = lay.y(lay.lanes - 1);
    // Failures and restores first, so that a commit at the same instant is drawn over them.
    let behind = |ev: &Ev| {
        matches!(
            ev,
            Ev::TaskRestored { .. }
                | Ev::TaskFailed { .. }
                | Ev::TaskCanceled { .. }
                | Ev::NodeCrashed { .. }
        )
    };
    let order = trace.events.iter().enumerate().filter(|(_, e)| behind(&e.ev));
    let order = order.chain(trace.events.iter().enumerate().filter(|(_, e)| !behind(&e.ev)));
    for (i, e) in order {
        let t = e.t_us;
        let x = lay.x(t);
        let lane_y = |task: &str| lay.y(model.lane(task));
        let (title, body) = match &e.ev {
            Ev::SnapshotTaken { task, checkpoint } => (
                format!("{task}: snapshot for checkpoint {checkpoint} {}", at(t)),
                format!(
                    "<circle cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{}\" stroke=\"#fff\"/>",
                    n(x),
                    n(lane_y(task)),
                    colour(*checkpoint)
                ),
            ),
            Ev::UploadFailed { task, checkpoint } => (
                format!("{task}: upload of checkpoint {checkpoint} failed {}", at(t)),
                format!("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#fff\" stroke=\"{RED}\"/>", n(x), n(lane_y(task))),
            ),
            Ev::CheckpointTriggered { checkpoint } => (
                format!("checkpoint {checkpoint} triggered {}", at(t)),
                format!(
                    "<path d=\"M{},{} L{},{} L{},{} z\" fill=\"{c}\"/><text class=\"small\" x=\"{}\" y=\"{}\" fill=\"{c}\">cp{checkpoint}</text>",
                    n(x - 4.0),
                    n(lay.jm_y - 9.0),
                    n(x + 4.0),
                    n(lay.jm_y - 9.0),
                    n(x),
                    n(lay.jm_y - 1.0),
                    n(x - 4.0),
                    n(lay.jm_y - 12.0),
                    c = colour(*checkpoint)
                ),
            ),
            Ev::CheckpointCompleted { checkpoint } => (
                format!("checkpoint {checkpoint} completed {}", at(t)),
                format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"8\" fill=\"{c}\"/><text class=\"small\" x=\"{}\" y=\"{}\" fill=\"{c}\">cp{checkpoint} ✓</text>",
                    n(x - 4.0),
                    n(lay.jm_y - 4.0),
                    n(x - 4.0),
                    n(lay.jm_y + 15.0),
                    c = colour(*checkpoint)
                ),
            ),
            Ev::CheckpointAborted { checkpoint, reason } => (
                format!("checkpoint {checkpoint} aborted {}: {reason}", at(t)),
                format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"8\" height=\"8\" fill=\"#fff\" stroke=\"{RED}\"/><text class=\"small\" x=\"{}\" y=\"{}\" fill=\"{RED}\">cp{checkpoint} ✗</text>",
                    n(x - 4.0),
                    n(lay.jm_y - 4.0),
                    n(x - 4.0),
                    n(lay.jm_y + 15.0)
                ),
            ),
            Ev::TxnCommitted { task, txn, records } => {
                let again = model.commit_events.get(&i).is_some_and(|c| c.on_restore);
                let label = if again {
                    format!("<text class=\"small\" x=\"{}\" y=\"{}\">recommit</text>", n(x + 6.0), n(lane_y(task) - 8.0))
                } else {
                    String::new()
                };
                let how = if again { " on restore (recommit)" } else { "" };
                (
                    format!("{task}: commit of {txn} ({}){how} {}", plural(*records, "record"), at(t)),
                    format!("{}{label}", diamond(x, lane_y(task), "commit")),
                )
            }
            Ev::TxnPrecommitted { task, txn, records } => (
                format!("{task}: pre-commit of {txn} ({}) {}", plural(*records, "record"), at(t)),
                diamond(x, lane_y(task), "precommit"),
            ),
            Ev::TxnAborted { task, txn } => (
                format!("{task}: abort of {txn} {}", at(t)),
                diamond(x, lane_y(task), "txn-abort"),
            ),
            Ev::TaskFailed { task } => {
                (format!("{task} failed {}", at(t)), cross(x, lane_y(task), 6.0, "cross"))
            }
            Ev::TaskCanceled { task } => {
                (format!("{task} cancelled {}", at(t)), cross(x, lane_y(task), 4.0, "cancelled"))
            }
            Ev::TaskRestored { task, checkpoint } => {
                let from = checkpoint.map_or("from scratch".to_string(), |c| format!("cp{c}"));
                (
                    format!("{task} restored ({from}) {}", at(t)),
                    format!(
                        "{}<text class=\"small\" x=\"{}\" y=\"{}\" fill=\"#2ca02c\">{from}</text>",
                        triangle(x, lane_y(task)),
                        n(x + 6.0),
                        n(lane_y(task) + 14.0)
                    ),
                )
            }
            Ev::TaskFinished { task } => (
                format!("{task} finished {}", at(t)),
                format!(
                    "<line class=\"finish\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
                    n(lane_y(task) - 6.0),
                    n(lane_y(task) + 6.0),
                    x = n(x)
                ),
            ),
            Ev::CoordinatorCrashed | Ev::JobFailed => {
                let what = if matches!(e.ev, Ev::JobFailed) { "job failed" } else { "coordinator crashed" };
                (format!("{what} {}", at(t)), cross(x, lay.jm_y, 6.0, "cross"))
            }
            Ev::NodeCrashed { node } => (
                format!("{node} crashed {}", at(t)),
                format!(
                    "<line class=\"crash-line\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
                    n(lay.env_top),
                    n(bottom + 8.0),
                    x = n(x)
                ),
            ),
            _ => continue,
        };
        let _ = writeln!(s, "<g><title>{}</title>{body}</g>", xml_escape(&title));
    }
}
