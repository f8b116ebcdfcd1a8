//! `--format mermaid`: a Mermaid `sequenceDiagram` of the protocol.
//!
//! Participants are `jm` and every task (as `t1`, `t2`, … with the task's name as alias).
//! Barriers, cancellation barriers and end-of-input markers are arrows between tasks, the
//! trigger an arrow from `jm` to each source when it takes its snapshot, acknowledgements and
//! declines arrows to `jm`, notices arrows from `jm`; a lost control message is an arrow that
//! ends in a cross (`-x`). Snapshots, alignment, transactions, faults and restores are notes;
//! notes on one participant at one instant are merged. A long trace is cut after
//! [`MAX_STATEMENTS`] messages and notes, and a last note says so.

use super::model::Model;
use super::text::reason_words;
use super::{at, message_from_jm, message_words, plural, receiver, sender, Ev, Item, Trace};
use std::fmt::Write as _;

/// Messages and notes drawn before a long trace is cut.
pub const MAX_STATEMENTS: usize = 400;

/// Escapes text for a Mermaid label: `#` and `;` end a label, `<` would start HTML, `&` an
/// entity; they become Mermaid's `#code;` entities. Line breaks become spaces.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '&' => out.push_str("#38;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A diagram statement: a message, or a note over one participant (or over all).
enum Stmt {
    Msg { from: String, to: String, arrow: &'static str, text: String },
    Note { over: String, text: String },
}

struct Diagram<'a> {
    model: &'a Model,
    out: String,
    /// A note being collected: (participant, time, lines).
    note: Option<(String, u64, Vec<String>)>,
    count: usize,
}

impl Diagram<'_> {
    fn id(&self, task: &str) -> String {
        format!("t{}", self.model.lane(task))
    }

    fn all(&self) -> String {
        match self.model.tasks.len() {
            0 => "jm".into(),
            n => format!("jm,t{n}"),
        }
    }

    fn flush(&mut self) {
        if let Some((over, t, lines)) = self.note.take() {
            let _ = writeln!(self.out, "    Note over {over}: {} {}", at(t), lines.join("<br/>"));
        }
    }

    fn push(&mut self, t: u64, stmt: Stmt) {
        match stmt {
            Stmt::Note { over, text } => {
                if let Some((o, nt, lines)) = &mut self.note {
                    if *o == over && *nt == t {
                        lines.push(escape(&text));
                        return;
                    }
                }
                self.flush();
                self.count += 1;
                self.note = Some((over, t, vec![escape(&text)]));
            }
            Stmt::Msg { from, to, arrow, text } => {
                self.flush();
                self.count += 1;
                let _ = writeln!(self.out, "    {from}{arrow}{to}: {}", escape(&text));
            }
        }
    }
}

/// The sequence diagram of a trace.
pub fn render(trace: &Trace, model: &Model, all: bool) -> String {
    let mut d = Diagram { model, out: String::new(), note: None, count: 0 };
    let _ = writeln!(d.out, "sequenceDiagram");
    let _ = writeln!(
        d.out,
        "    %% ftsim render {}: {} from {} to {}",
        escape(&trace.origin),
        plural(trace.events.len() as u64, "trace line"),
        at(trace.events.first().map_or(0, |e| e.t_us)),
        at(trace.end_us())
    );
    let _ = writeln!(d.out, "    participant jm");
    for (i, t) in model.tasks.iter().enumerate() {
        let _ = writeln!(d.out, "    participant t{} as {}", i + 1, escape(t));
    }
    let shown: Vec<_> =
        trace.events.iter().enumerate().filter(|(_, e)| all || !e.ev.is_data()).collect();
    for (k, &(i, e)) in shown.iter().enumerate() {
        if d.count >= MAX_STATEMENTS {
            d.flush();
            let left = shown.len() - k;
            let _ = writeln!(
                d.out,
                "    Note over {}: trace cut here, at {}, after {MAX_STATEMENTS} messages and notes: {left} more events are left out (the text and svg formats show them all)",
                d.all(),
                at(e.t_us)
            );
            return d.out;
        }
        for stmt in statements(&d, i, &e.ev, model) {
            d.push(e.t_us, stmt);
        }
    }
    d.flush();
    d.out
}

fn statements(d: &Diagram, i: usize, ev: &Ev, model: &Model) -> Vec<Stmt> {
    use Ev::*;
    let note = |task: &str, text: String| Stmt::Note { over: d.id(task), text };
    let jm = |text: String| Stmt::Note { over: "jm".into(), text };
    let wide = |text: String| Stmt::Note { over: d.all(), text };
    let msg = |from: String, to: String, arrow: &'static str, text: String| Stmt::Msg {
        from,
        to,
        arrow,
        text,
    };
    match ev {
        Deliver { channel, item } => {
            let (from, to) = (d.id(sender(channel)), d.id(receiver(channel)));
            match item {
                Item::Barrier(cp) => vec![msg(from, to, "->>", format!("barrier cp{cp}"))],
                Item::Cancel(cp) => vec![msg(from, to, "--)", format!("cancel cp{cp}"))],
                Item::EndOfData => vec![msg(from, to, "-->>", "end of data".into())],
                Item::End => vec![msg(from, to, "-->>", "end of partition".into())],
                Item::Record { key, value, ts } => {
                    vec![msg(from, to, "-->>", format!("({key}, {value}, ts {ts})"))]
                }
                Item::Watermark { ts } => vec![msg(from, to, "-->>", format!("watermark {ts}"))],
            }
        }
        SinkWrite { task, key, value, ts } => {
            vec![note(task, format!("writes ({key}, {value}, ts {ts})"))]
        }
        SourceEmit { .. } | Process { .. } => vec![],
        TxnPrecommitted { task, txn, records } => {
            vec![note(task, format!("pre-commit {txn} ({})", plural(*records, "record")))]
        }
        TxnCommitted { task, txn, records } => {
            let on_restore = model.commit_events.get(&i).is_some_and(|c| c.on_restore);
            let what = if on_restore { "recommit on restore" } else { "commit" };
            vec![note(task, format!("{what} {txn} ({})", plural(*records, "record")))]
        }
        TxnAborted { task, txn } => vec![note(task, format!("abort {txn}"))],
        TaskFinishing { task } => {
            vec![note(task, "end of input: waits for a final checkpoint".into())]
        }
        TaskFinished { task } => vec![note(task, "finished".into())],
        JobFinished => vec![jm("job finished".into())],
        CheckpointTriggered { checkpoint } => {
            vec![jm(format!("checkpoint {checkpoint} triggered"))]
        }
        CheckpointSkipped { reason } => {
            vec![jm(format!("trigger skipped: {}", reason_words(reason)))]
        }
        ChannelBlocked { task, channel } => vec![note(task, format!("blocks {channel}"))],
        ChannelResumed { task, channel } => vec![note(task, format!("resumes {channel}"))],
        SnapshotTaken { task, checkpoint } => {
            let snap = note(task, format!("snapshot cp{checkpoint}"));
            if model.is_source(task) {
                vec![msg("jm".into(), d.id(task), "->>", format!("trigger cp{checkpoint}")), snap]
            } else {
                vec![snap]
            }
        }
        SnapshotStored { .. } => vec![],
        UploadFailed { task, checkpoint } => {
            vec![note(task, format!("upload of cp{checkpoint} failed"))]
        }
        CheckpointAcknowledged { task, checkpoint } => {
            vec![msg(d.id(task), "jm".into(), "->>", format!("ack cp{checkpoint}"))]
        }
        CheckpointDeclined { task, checkpoint, reason } => vec![msg(
            d.id(task),
            "jm".into(),
            "-)",
            format!("decline cp{checkpoint} ({})", reason.replace('_', " ")),
        )],
        CheckpointCompleted { checkpoint } => {
            vec![jm(format!("checkpoint {checkpoint} completed"))]
        }
        CheckpointAborted { checkpoint, reason } => {
            vec![jm(format!("checkpoint {checkpoint} aborted: {}", reason_words(reason)))]
        }
        NotifyComplete { task, checkpoint } => {
            vec![msg("jm".into(), d.id(task), "->>", format!("cp{checkpoint} complete"))]
        }
        NotifyAborted { task, checkpoint } => {
            vec![msg("jm".into(), d.id(task), "->>", format!("cp{checkpoint} aborted"))]
        }
        ControlLost { message, task, checkpoint } => {
            let text = format!("{} cp{checkpoint} LOST", message_words(message));
            if message_from_jm(message) {
                vec![msg("jm".into(), d.id(task), "-x", text)]
            } else {
                vec![msg(d.id(task), "jm".into(), "-x", text)]
            }
        }
        NodeCrashed { node } => vec![wide(format!("{node} crashed"))],
        NodeRestarted { node } => vec![wide(format!("{node} back up"))],
        TaskFailed { task } => vec![note(task, "FAILED".into())],
        TaskCanceled { task } => vec![note(task, "cancelled".into())],
        PartitionStarted { a, b } => vec![wide(format!("partition {a} | {b} begins"))],
        PartitionHealed { a, b } => vec![wide(format!("partition {a} | {b} heals"))],
        StorageFailed => vec![wide("checkpoint storage outage begins".into())],
        StorageRecovered => vec![wide("checkpoint storage outage ends".into())],
        CoordinatorCrashed => vec![jm("coordinator CRASHED".into())],
        CoordinatorRestarted => vec![jm("coordinator back up".into())],
        JobRestarting { tasks, delay_ms } => {
            vec![jm(format!("failover: {tasks} tasks restart in {delay_ms} ms"))]
        }
        TaskRestored { task, checkpoint: Some(cp) } => {
            vec![note(task, format!("restored from cp{cp}"))]
        }
        TaskRestored { task, checkpoint: None } => {
            vec![note(task, "restarted from scratch".into())]
        }
        JobFailed => vec![jm("job FAILED: the restart strategy gave up".into())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_trace_is_a_sequence_diagram() {
        let t = Trace::parse(crate::render::tests::TINY, "tiny.jsonl").expect("a valid trace");
        let want = "\
sequenceDiagram
    %% ftsim render tiny.jsonl: 29 trace lines from @0.000ms to @6.500ms
    participant jm
    participant t1 as src[0]
    participant t2 as out[0]
    Note over jm: @1.000ms checkpoint 1 triggered
    jm->>t1: trigger cp1
    Note over t1: @1.500ms snapshot cp1
    t1->>t2: barrier cp1
    Note over t2: @2.500ms blocks src[0]->out[0]<br/>pre-commit txn0.0.0 (1 record)<br/>snapshot cp1<br/>resumes src[0]->out[0]
    t1->>jm: ack cp1
    t2->>jm: ack cp1
    Note over jm: @4.100ms checkpoint 1 completed
    Note over jm,t2: @4.100ms node-1 crashed
    Note over t2: @4.100ms FAILED
    Note over t1: @4.100ms cancelled
    Note over jm: @4.100ms failover: 2 tasks restart in 1 ms
    jm-xt2: completion notice cp1 LOST
    Note over t1: @5.100ms restored from cp1
    Note over t2: @5.100ms recommit on restore txn0.0.0 (1 record)<br/>restored from cp1
    Note over t1: @6.000ms finished
    t1-->>t2: end of partition
    Note over t2: @6.500ms finished
    Note over jm: @6.500ms job finished
";
        assert_eq!(render(&t, &Model::of(&t), false), want);
    }

    #[test]
    fn a_long_trace_is_cut_with_a_note() {
        let mut lines = Vec::new();
        for i in 0..=MAX_STATEMENTS as u64 {
            lines
                .push(format!(r#"{{"t_us":{i},"event":"checkpoint_triggered","checkpoint":{i}}}"#));
        }
        let t = Trace::parse(&lines.join("\n"), "long.jsonl").expect("a valid trace");
        let out = render(&t, &Model::of(&t), false);
        assert_eq!(out.matches("triggered").count(), MAX_STATEMENTS);
        assert!(out.ends_with("after 400 messages and notes: 1 more events are left out (the text and svg formats show them all)\n"), "{out}");
    }

    #[test]
    fn names_are_escaped_in_participants_and_notes() {
        let t = Trace::parse(r#"{"t_us":0,"event":"task_failed","task":"a;b#c<d>[0]"}"#, "x")
            .expect("a valid trace");
        let out = render(&t, &Model::of(&t), false);
        assert!(out.contains("participant t1 as a#59;b#35;c#60;d>[0]\n"), "{out}");
    }

    #[test]
    fn labels_are_escaped_for_mermaid() {
        assert_eq!(escape("a#b;c<d>&e"), "a#35;b#59;c#60;d>#38;e");
        assert_eq!(escape("x\ny"), "x y");
    }
}
