//! `--format html`: one self-contained page: a title, the space-time diagram, how to read it,
//! and the text timeline with its summary per checkpoint. No scripts, no external files.

use super::model::Model;
use super::{at, plural, svg, text, xml_escape, Trace};
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\
.diagram{overflow-x:auto;border:1px solid #ddd}\
pre{font-size:12px;line-height:1.35;background:#fafafa;padding:.8em;overflow-x:auto}\
li{margin:.2em 0}";

/// What the diagram shows, in words, for the page under it.
const READING: [&str; 9] = [
    "Time runs from left to right (virtual time, in ms); each task has a lane, the checkpoint coordinator (<code>jm</code>) the top one.",
    "A coloured arrow is a barrier: it leaves a task when the task takes its snapshot and ends where it arrives; each checkpoint has its own colour.",
    "The dots of one colour are the snapshots of one checkpoint; the line through them is its <em>cut</em>: solid once the checkpoint completed, dashed if it never did. Everything left of a solid cut is in the checkpoint, everything right of it is replayed after a restore from it.",
    "An amber bar on a lane is an input channel blocked during alignment: the barrier came in on it, and the task waits for the barrier on its other inputs.",
    "Dotted lines are control messages: the trigger from <code>jm</code> to each source, acknowledgements to <code>jm</code>, notices from it. A red dashed line ending in a cross is a control message that was lost.",
    "Red crosses are failures (a grey cross: a task cancelled by the failover); a dashed lane is a task that is down; a green triangle is a restore, labelled with its checkpoint.",
    "A gold diamond is a committed transaction at an exactly-once sink, a hollow one a pre-commit; <q>recommit</q> marks a transaction a restored sink committed from its state.",
    "Bands above the lanes are outages: a node down, a network partition, the checkpoint storage, the coordinator.",
    "Hover over any mark for its exact time and names.",
];

/// The HTML page of a trace.
pub fn render(trace: &Trace, model: &Model, all: bool) -> String {
    let title = format!("ftsim trace {}", trace.origin);
    let completed = model.checkpoints.values().filter(|c| c.completed()).count();
    let mut s = String::new();
    let _ = writeln!(s, "<!DOCTYPE html>");
    let _ = writeln!(s, "<html lang=\"en\">");
    let _ = writeln!(
        s,
        "<head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>",
        xml_escape(&title)
    );
    let _ = writeln!(s, "<body>");
    let _ = writeln!(s, "<h1>{}</h1>", xml_escape(&title));
    let _ = writeln!(
        s,
        "<p>{} from {} to {}; {} tasks; {} checkpoints triggered, {completed} completed.</p>",
        plural(trace.events.len() as u64, "trace line"),
        at(trace.events.first().map_or(0, |e| e.t_us)),
        at(trace.end_us()),
        model.tasks.len(),
        model.checkpoints.len()
    );
    let _ = writeln!(s, "<div class=\"diagram\">");
    s.push_str(&svg::render(trace, model, all));
    let _ = writeln!(s, "</div>");
    let _ = writeln!(s, "<h2>How to read the diagram</h2>\n<ul>");
    for item in READING {
        let _ = writeln!(s, "<li>{item}</li>");
    }
    let _ = writeln!(s, "</ul>");
    let _ = writeln!(s, "<h2>Timeline</h2>");
    let _ = writeln!(s, "<pre>{}</pre>", xml_escape(&text::render(trace, model, all)));
    let _ = writeln!(s, "</body>\n</html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_names_and_embeds_the_diagram_and_the_timeline() {
        let t = Trace::parse(r#"{"t_us":0,"event":"task_finished","task":"<b>[0]"}"#, "a&b.jsonl")
            .expect("parses");
        let page = render(&t, &Model::of(&t), false);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>ftsim trace a&amp;b.jsonl</title>"));
        assert!(page.contains("<svg") && page.contains("</svg>"));
        assert!(page.contains("&lt;b&gt;[0]  finished"), "{page}");
        assert!(!page.contains("<b>"));
        assert!(page.trim_end().ends_with("</html>"));
    }
}
