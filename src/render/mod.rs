//! `ftsim render`: pictures of a run for people, drawn from a trace file alone.
//!
//! A trace written by `--trace` (one JSON object per line, [`crate::trace`]) is read back into a
//! typed list of [`Event`]s by [`Trace::parse`]; names such as `count[1]` and
//! `words[0]->count[1]` are in the trace, so no scenario is needed. [`model`] derives what the
//! pictures share: the lanes (tasks in dataflow order), each checkpoint's story, the blocked
//! intervals. Then one module per format: [`text`] (a timeline in words), [`mermaid`] (a
//! sequence diagram), [`svg`] (a space-time diagram with the cuts) and [`html`] (the diagram
//! and the timeline on one page).
//!
//! Rendering is a pure function of the trace: the same trace gives the same bytes.

pub mod html;
pub mod mermaid;
pub mod model;
pub mod svg;
pub mod text;

use serde_json::{Map, Value};
use std::path::Path;

/// The output formats of `ftsim render`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A timeline of the protocol in words, with a summary per checkpoint.
    Text,
    /// A space-time diagram: one lane per task, barriers, cuts, blocked channels, faults.
    Svg,
    /// The diagram and the timeline in one self-contained HTML page.
    Html,
    /// A Mermaid `sequenceDiagram`.
    Mermaid,
}

/// What travels on a channel (the `item` of `deliver` and `process`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Record { key: String, value: i64, ts: i64 },
    Watermark { ts: i64 },
    Barrier(u64),
    Cancel(u64),
    EndOfData,
    End,
}

impl Item {
    /// Records and watermarks: the per-record traffic that the pictures summarise.
    pub fn is_data(&self) -> bool {
        matches!(self, Item::Record { .. } | Item::Watermark { .. })
    }
}

/// One trace event with its fields, as written by `TraceEvent::to_json_line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    SourceEmit {
        task: String,
        offset: u64,
        key: String,
        value: i64,
        ts: i64,
    },
    Deliver {
        channel: String,
        item: Item,
    },
    Process {
        task: String,
        channel: String,
        item: Item,
    },
    SinkWrite {
        task: String,
        key: String,
        value: i64,
        ts: i64,
    },
    TxnPrecommitted {
        task: String,
        txn: String,
        records: u64,
    },
    TxnCommitted {
        task: String,
        txn: String,
        records: u64,
    },
    TxnAborted {
        task: String,
        txn: String,
    },
    TaskFinishing {
        task: String,
    },
    TaskFinished {
        task: String,
    },
    JobFinished,
    CheckpointTriggered {
        checkpoint: u64,
    },
    CheckpointSkipped {
        reason: String,
    },
    ChannelBlocked {
        task: String,
        channel: String,
    },
    ChannelResumed {
        task: String,
        channel: String,
    },
    SnapshotTaken {
        task: String,
        checkpoint: u64,
    },
    SnapshotStored {
        task: String,
        checkpoint: u64,
    },
    UploadFailed {
        task: String,
        checkpoint: u64,
    },
    CheckpointAcknowledged {
        task: String,
        checkpoint: u64,
    },
    CheckpointDeclined {
        task: String,
        checkpoint: u64,
        reason: String,
    },
    CheckpointCompleted {
        checkpoint: u64,
    },
    CheckpointAborted {
        checkpoint: u64,
        reason: String,
    },
    NotifyComplete {
        task: String,
        checkpoint: u64,
    },
    NotifyAborted {
        task: String,
        checkpoint: u64,
    },
    ControlLost {
        message: String,
        task: String,
        checkpoint: u64,
    },
    NodeCrashed {
        node: String,
    },
    NodeRestarted {
        node: String,
    },
    TaskFailed {
        task: String,
    },
    TaskCanceled {
        task: String,
    },
    PartitionStarted {
        a: String,
        b: String,
    },
    PartitionHealed {
        a: String,
        b: String,
    },
    StorageFailed,
    StorageRecovered,
    CoordinatorCrashed,
    CoordinatorRestarted,
    JobRestarting {
        tasks: u64,
        delay_ms: u64,
    },
    /// `checkpoint` is `None` for a restart from scratch (`0` in the trace).
    TaskRestored {
        task: String,
        checkpoint: Option<u64>,
    },
    JobFailed,
}

impl Ev {
    /// Per-record traffic: emitted, delivered, processed or written records and watermarks.
    /// Left out of the pictures (summarised instead) unless `--all`.
    pub fn is_data(&self) -> bool {
        match self {
            Ev::SourceEmit { .. } | Ev::SinkWrite { .. } => true,
            Ev::Deliver { item, .. } | Ev::Process { item, .. } => item.is_data(),
            _ => false,
        }
    }
}

/// An event, its time and the line of the trace file it came from (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub line: usize,
    pub t_us: u64,
    pub ev: Ev,
}

/// A whole trace file.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The file name, as given (used in titles).
    pub origin: String,
    pub events: Vec<Event>,
}

/// Renders `trace` in `format`; `all` also shows the per-record events.
pub fn render(trace: &Trace, format: Format, all: bool) -> String {
    let model = model::Model::of(trace);
    match format {
        Format::Text => text::render(trace, &model, all),
        Format::Mermaid => mermaid::render(trace, &model, all),
        Format::Svg => svg::render(trace, &model, all),
        Format::Html => html::render(trace, &model, all),
    }
}

impl Trace {
    /// Reads and parses a trace file. Errors name the file and, for a bad line, its line and
    /// column; a scenario or a counterexample given instead of a trace is named as such.
    pub fn load(path: &Path) -> Result<Trace, String> {
        let origin = path.display().to_string();
        let bytes = crate::files::read_capped(path, "trace", crate::files::MAX_TRACE_BYTES)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            // The valid bytes are UTF-8, so the column counts characters.
            let column = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
            format!("{origin}:{line}:{column}: {NOT_A_TRACE}: not UTF-8 text")
        })?;
        Trace::parse(text, &origin)
    }

    /// Parses the text of a trace file; `origin` names it in errors
    /// (`origin:line:column: not a trace written by --trace: …`). Blank lines are skipped;
    /// times must not go backwards.
    pub fn parse(text: &str, origin: &str) -> Result<Trace, String> {
        let mut events = Vec::new();
        let mut last_t = 0;
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let line = i + 1;
            let (t_us, ev) = parse_line(raw, &mut last_t).map_err(|(column, msg)| {
                not_a_trace(text, origin).unwrap_or_else(|| {
                    let column = column.unwrap_or_else(|| first_column(raw));
                    format!("{origin}:{line}:{column}: {NOT_A_TRACE}: {msg}")
                })
            })?;
            events.push(Event { line, t_us, ev });
        }
        if events.is_empty() {
            return Err(format!("{origin}: {NOT_A_TRACE}: the file has no events"));
        }
        Ok(Trace { origin: origin.to_string(), events })
    }

    /// The time of the last event.
    pub fn end_us(&self) -> u64 {
        self.events.last().map_or(0, |e| e.t_us)
    }
}

/// How every error about the content of a trace file begins (after its position).
const NOT_A_TRACE: &str = "not a trace written by --trace";

/// One line of a trace: its time and event, or where it goes wrong (a column, when the JSON
/// parser knows one) and how. `last_t` is the time of the line before, updated.
fn parse_line(raw: &str, last_t: &mut u64) -> Result<(u64, Ev), (Option<usize>, String)> {
    let value: Value = serde_json::from_str(raw).map_err(|e| {
        let msg = if e.is_eof() {
            "not JSON: the line ends inside a JSON value; a trace has one whole JSON object per \
             line"
                .to_string()
        } else {
            // serde_json ends its message with the position, which the prefix gives.
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line ").map_or(msg.clone(), |(m, _)| m.to_string());
            format!("not JSON: {msg}")
        };
        (Some(e.column().max(1)), msg)
    })?;
    let at = |msg: &str| (None, msg.to_string());
    let obj = value
        .as_object()
        .ok_or_else(|| at("not a JSON object: a trace line is {\"t_us\":…,\"event\":…}"))?;
    let t_us = obj
        .get("t_us")
        .and_then(Value::as_u64)
        .ok_or_else(|| at("`t_us` is missing or not a whole number of µs"))?;
    let kind = obj
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| at("`event` is missing or not a string"))?;
    if t_us < *last_t {
        return Err(at(&format!(
            "time goes backwards: t_us {t_us} after {last_t}; a trace is in time order"
        )));
    }
    *last_t = t_us;
    let ev = parse_event(kind, &Fields { obj, kind }).map_err(|m| (None, m))?;
    Ok((t_us, ev))
}

/// The column (1-based, in characters) where a line's text starts: the position given for a
/// line whose JSON is well formed but not a trace event.
fn first_column(raw: &str) -> usize {
    raw.chars().take_while(|c| c.is_whitespace()).count() + 1
}

/// The message for a whole file that is another of ftsim's files: a scenario (it has a
/// `graph`) or a counterexample (`ftsim_counterexample`); `None` for anything else.
fn not_a_trace(text: &str, origin: &str) -> Option<String> {
    let doc: Value = serde_json::from_str(text).ok()?;
    let obj = doc.as_object()?;
    if obj.contains_key("ftsim_counterexample") {
        Some(format!(
            "{origin} is a counterexample, not a trace: write its trace with \
             `ftsim replay {origin} --trace trace.jsonl` and render that"
        ))
    } else if obj.contains_key("graph") && !obj.contains_key("event") {
        Some(format!(
            "{origin} is a scenario, not a trace: write a trace with \
             `ftsim run {origin} --trace trace.jsonl` and render that"
        ))
    } else {
        None
    }
}

/// The fields of one trace line, with typed accessors whose errors name the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    kind: &'a str,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Result<&Value, String> {
        self.obj.get(name).ok_or_else(|| format!("event `{}` lacks the field `{name}`", self.kind))
    }

    fn str(&self, name: &str) -> Result<String, String> {
        self.get(name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("field `{name}` of event `{}` is not a string", self.kind))
    }

    fn u64(&self, name: &str) -> Result<u64, String> {
        self.get(name)?.as_u64().ok_or_else(|| {
            format!("field `{name}` of event `{}` is not an unsigned integer", self.kind)
        })
    }

    fn i64(&self, name: &str) -> Result<i64, String> {
        self.get(name)?
            .as_i64()
            .ok_or_else(|| format!("field `{name}` of event `{}` is not an integer", self.kind))
    }

    fn task(&self) -> Result<String, String> {
        self.str("task")
    }

    fn cp(&self) -> Result<u64, String> {
        self.u64("checkpoint")
    }

    /// A channel, which must read `sender->receiver`.
    fn channel(&self) -> Result<String, String> {
        let c = self.str("channel")?;
        match split_channel(&c) {
            Some(_) => Ok(c),
            None => Err(format!("channel `{c}` is not of the form `sender->receiver`")),
        }
    }

    fn item(&self) -> Result<Item, String> {
        Ok(match self.str("item")?.as_str() {
            "record" => Item::Record {
                key: self.str("key")?,
                value: self.i64("value")?,
                ts: self.i64("ts")?,
            },
            "watermark" => Item::Watermark { ts: self.i64("ts")? },
            "barrier" => Item::Barrier(self.cp()?),
            "cancel" => Item::Cancel(self.cp()?),
            "end_of_data" => Item::EndOfData,
            "end" => Item::End,
            other => {
                return Err(format!(
                    "unknown item `{other}`: one of record, watermark, barrier, cancel, end_of_data, end"
                ))
            }
        })
    }
}

fn parse_event(kind: &str, f: &Fields) -> Result<Ev, String> {
    Ok(match kind {
        "source_emit" => Ev::SourceEmit {
            task: f.task()?,
            offset: f.u64("offset")?,
            key: f.str("key")?,
            value: f.i64("value")?,
            ts: f.i64("ts")?,
        },
        "deliver" => Ev::Deliver { channel: f.channel()?, item: f.item()? },
        "process" => Ev::Process { task: f.task()?, channel: f.channel()?, item: f.item()? },
        "sink_write" => Ev::SinkWrite {
            task: f.task()?,
            key: f.str("key")?,
            value: f.i64("value")?,
            ts: f.i64("ts")?,
        },
        "txn_precommitted" => Ev::TxnPrecommitted {
            task: f.task()?,
            txn: f.str("txn")?,
            records: f.u64("records")?,
        },
        "txn_committed" => {
            Ev::TxnCommitted { task: f.task()?, txn: f.str("txn")?, records: f.u64("records")? }
        }
        "txn_aborted" => Ev::TxnAborted { task: f.task()?, txn: f.str("txn")? },
        "task_finishing" => Ev::TaskFinishing { task: f.task()? },
        "task_finished" => Ev::TaskFinished { task: f.task()? },
        "job_finished" => Ev::JobFinished,
        "checkpoint_triggered" => Ev::CheckpointTriggered { checkpoint: f.cp()? },
        "checkpoint_skipped" => Ev::CheckpointSkipped { reason: f.str("reason")? },
        "channel_blocked" => Ev::ChannelBlocked { task: f.task()?, channel: f.channel()? },
        "channel_resumed" => Ev::ChannelResumed { task: f.task()?, channel: f.channel()? },
        "snapshot_taken" => Ev::SnapshotTaken { task: f.task()?, checkpoint: f.cp()? },
        "snapshot_stored" => Ev::SnapshotStored { task: f.task()?, checkpoint: f.cp()? },
        "upload_failed" => Ev::UploadFailed { task: f.task()?, checkpoint: f.cp()? },
        "checkpoint_acknowledged" => {
            Ev::CheckpointAcknowledged { task: f.task()?, checkpoint: f.cp()? }
        }
        "checkpoint_declined" => Ev::CheckpointDeclined {
            task: f.task()?,
            checkpoint: f.cp()?,
            reason: f.str("reason")?,
        },
        "checkpoint_completed" => Ev::CheckpointCompleted { checkpoint: f.cp()? },
        "checkpoint_aborted" => {
            Ev::CheckpointAborted { checkpoint: f.cp()?, reason: f.str("reason")? }
        }
        "notify_complete" => Ev::NotifyComplete { task: f.task()?, checkpoint: f.cp()? },
        "notify_aborted" => Ev::NotifyAborted { task: f.task()?, checkpoint: f.cp()? },
        "control_lost" => Ev::ControlLost {
            message: f.str("message")?,
            task: f.task()?,
            checkpoint: f.cp()?,
        },
        "node_crashed" => Ev::NodeCrashed { node: f.str("node")? },
        "node_restarted" => Ev::NodeRestarted { node: f.str("node")? },
        "task_failed" => Ev::TaskFailed { task: f.task()? },
        "task_canceled" => Ev::TaskCanceled { task: f.task()? },
        "partition_started" => Ev::PartitionStarted { a: f.str("a")?, b: f.str("b")? },
        "partition_healed" => Ev::PartitionHealed { a: f.str("a")?, b: f.str("b")? },
        "storage_failed" => Ev::StorageFailed,
        "storage_recovered" => Ev::StorageRecovered,
        "coordinator_crashed" => Ev::CoordinatorCrashed,
        "coordinator_restarted" => Ev::CoordinatorRestarted,
        "job_restarting" => {
            Ev::JobRestarting { tasks: f.u64("tasks")?, delay_ms: f.u64("delay_ms")? }
        }
        "task_restored" => {
            let cp = f.cp()?;
            Ev::TaskRestored { task: f.task()?, checkpoint: (cp > 0).then_some(cp) }
        }
        "job_failed" => Ev::JobFailed,
        other => {
            return Err(format!(
                "unknown event kind `{other}`: the kinds are listed under \"Trace files\" in docs/cli.md"
            ))
        }
    })
}

/// `sender->receiver` split in two, or `None` if the channel is not of that form.
pub fn split_channel(channel: &str) -> Option<(&str, &str)> {
    channel.split_once("->").filter(|(s, r)| !s.is_empty() && !r.is_empty())
}

/// The sender of a channel (the whole name if it has no `->`; parsing checked it has).
pub fn sender(channel: &str) -> &str {
    split_channel(channel).map_or(channel, |(s, _)| s)
}

/// The receiver of a channel.
pub fn receiver(channel: &str) -> &str {
    split_channel(channel).map_or(channel, |(_, r)| r)
}

/// A point in virtual time as reports print it: `@12.345ms`.
pub fn at(t_us: u64) -> String {
    crate::ids::SimTime(t_us).to_string()
}

/// A duration: `12.345 ms`.
pub fn duration(us: u64) -> String {
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

/// `1 record`, `2 records`.
pub fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Escapes text for XML and HTML (element content and attribute values).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A control message named as in `control_lost`, in words.
pub fn message_words(message: &str) -> String {
    match message {
        "trigger" => "trigger".into(),
        "ack" => "acknowledgement".into(),
        "decline" => "decline".into(),
        "notify_complete" => "completion notice".into(),
        "notify_aborted" => "abort notice".into(),
        other => other.replace('_', " "),
    }
}

/// Whether a control message goes from the coordinator to a task (else task to coordinator).
pub fn message_from_jm(message: &str) -> bool {
    !matches!(message, "ack" | "decline")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny hand-written trace: one checkpoint, a crash, a lost notice and a recommit.
    pub(super) const TINY: &str = r#"
{"t_us":0,"event":"source_emit","task":"src[0]","offset":0,"key":"k0","value":1,"ts":0}
{"t_us":1000,"event":"checkpoint_triggered","checkpoint":1}
{"t_us":1500,"event":"snapshot_taken","task":"src[0]","checkpoint":1}
{"t_us":2000,"event":"deliver","channel":"src[0]->out[0]","item":"record","key":"k0","value":1,"ts":0}
{"t_us":2000,"event":"process","task":"out[0]","channel":"src[0]->out[0]","item":"record","key":"k0","value":1,"ts":0}
{"t_us":2500,"event":"deliver","channel":"src[0]->out[0]","item":"barrier","checkpoint":1}
{"t_us":2500,"event":"process","task":"out[0]","channel":"src[0]->out[0]","item":"barrier","checkpoint":1}
{"t_us":2500,"event":"channel_blocked","task":"out[0]","channel":"src[0]->out[0]"}
{"t_us":2500,"event":"txn_precommitted","task":"out[0]","txn":"txn0.0.0","records":1}
{"t_us":2500,"event":"snapshot_taken","task":"out[0]","checkpoint":1}
{"t_us":2500,"event":"channel_resumed","task":"out[0]","channel":"src[0]->out[0]"}
{"t_us":3000,"event":"snapshot_stored","task":"src[0]","checkpoint":1}
{"t_us":3200,"event":"snapshot_stored","task":"out[0]","checkpoint":1}
{"t_us":4000,"event":"checkpoint_acknowledged","task":"src[0]","checkpoint":1}
{"t_us":4100,"event":"checkpoint_acknowledged","task":"out[0]","checkpoint":1}
{"t_us":4100,"event":"checkpoint_completed","checkpoint":1}
{"t_us":4100,"event":"node_crashed","node":"node-1"}
{"t_us":4100,"event":"task_failed","task":"out[0]"}
{"t_us":4100,"event":"task_canceled","task":"src[0]"}
{"t_us":4100,"event":"job_restarting","tasks":2,"delay_ms":1}
{"t_us":5000,"event":"control_lost","message":"notify_complete","task":"out[0]","checkpoint":1}
{"t_us":5100,"event":"task_restored","task":"src[0]","checkpoint":1}
{"t_us":5100,"event":"txn_committed","task":"out[0]","txn":"txn0.0.0","records":1}
{"t_us":5100,"event":"task_restored","task":"out[0]","checkpoint":1}
{"t_us":6000,"event":"task_finished","task":"src[0]"}
{"t_us":6500,"event":"deliver","channel":"src[0]->out[0]","item":"end"}
{"t_us":6500,"event":"process","task":"out[0]","channel":"src[0]->out[0]","item":"end"}
{"t_us":6500,"event":"task_finished","task":"out[0]"}
{"t_us":6500,"event":"job_finished"}
"#;

    fn parse(text: &str) -> Result<Trace, String> {
        Trace::parse(text, "t.jsonl")
    }

    #[test]
    fn a_trace_line_parses_into_its_typed_event() {
        let t = parse(
            "{\"t_us\":39106,\"event\":\"process\",\"task\":\"out[0]\",\"channel\":\"shift[0]->out[0]\",\"item\":\"barrier\",\"checkpoint\":2}\n\n\
             {\"t_us\":46074,\"event\":\"task_restored\",\"task\":\"out[0]\",\"checkpoint\":0}\n",
        )
        .expect("parses");
        assert_eq!(t.events.len(), 2);
        assert_eq!(
            t.events[0].ev,
            Ev::Process {
                task: "out[0]".into(),
                channel: "shift[0]->out[0]".into(),
                item: Item::Barrier(2)
            }
        );
        assert_eq!(t.events[1].line, 3, "blank lines count for line numbers");
        assert_eq!(t.events[1].ev, Ev::TaskRestored { task: "out[0]".into(), checkpoint: None });
        assert_eq!(t.end_us(), 46074);
    }

    #[test]
    fn every_kind_of_the_catalog_parses() {
        for kind in crate::trace::event_kind_names() {
            let mut obj = serde_json::json!({"t_us": 1, "event": kind});
            let fields = crate::trace::event_fields(kind).expect("a known kind");
            for &name in fields {
                obj[name] = match name {
                    "task" => "a[0]".into(),
                    "channel" => "a[0]->b[0]".into(),
                    "item" => "barrier".into(),
                    "key" | "txn" | "reason" | "message" | "node" | "a" | "b" => "x".into(),
                    _ => 1.into(),
                };
            }
            let line = obj.to_string();
            let t = parse(&line).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(t.events.len(), 1);
        }
    }

    #[test]
    fn bad_lines_are_reported_with_file_line_and_column() {
        let ok = "{\"t_us\":5,\"event\":\"job_finished\"}\n";
        let cases = [
            ("nope\n", 2, "not JSON: expected ident"),
            ("{\"t_us\":\n", 8, "not JSON: the line ends inside a JSON value"),
            ("[1]\n", 1, "not a JSON object"),
            ("  {\"t_us\":9,\"event\":\"teleported\"}\n", 3, "unknown event kind `teleported`"),
            (
                "{\"t_us\":9,\"event\":\"task_failed\"}\n",
                1,
                "event `task_failed` lacks the field `task`",
            ),
            ("{\"t_us\":1,\"event\":\"job_finished\"}\n", 1, "time goes backwards"),
            ("{\"event\":\"job_finished\"}\n", 1, "`t_us` is missing"),
            (
                "{\"t_us\":9,\"event\":\"deliver\",\"channel\":\"ab\",\"item\":\"end\"}\n",
                1,
                "channel `ab` is not of the form",
            ),
            (
                "{\"t_us\":9,\"event\":\"deliver\",\"channel\":\"a->b\",\"item\":\"fish\"}\n",
                1,
                "unknown item `fish`",
            ),
            (
                "{\"t_us\":9,\"event\":\"snapshot_taken\",\"task\":\"a\",\"checkpoint\":\"1\"}\n",
                1,
                "field `checkpoint` of event `snapshot_taken` is not an unsigned",
            ),
        ];
        for (line, column, msg) in cases {
            let err = parse(&format!("{ok}{line}")).expect_err(line);
            let want = format!("t.jsonl:2:{column}: {NOT_A_TRACE}: {msg}");
            assert!(err.starts_with(&want), "{line}: got {err}");
        }
        assert_eq!(
            parse("\n").expect_err("empty"),
            "t.jsonl: not a trace written by --trace: the file has no events"
        );
    }

    #[test]
    fn a_scenario_or_a_counterexample_is_named_as_such() {
        let scenario = "{\n  \"name\": \"w\",\n  \"graph\": {}\n}\n";
        let err = parse(scenario).expect_err("a scenario");
        assert!(err.starts_with("t.jsonl is a scenario, not a trace: write a trace with"), "{err}");
        assert!(err.contains("`ftsim run t.jsonl --trace trace.jsonl`"), "{err}");
        let err = parse("{\"ftsim_counterexample\": 1, \"scenario\": {\"graph\": {}}}")
            .expect_err("a counterexample");
        assert!(err.contains("`ftsim replay t.jsonl --trace trace.jsonl`"), "{err}");
        let err = parse("{\"name\": \"w\"}").expect_err("other JSON");
        assert!(err.starts_with("t.jsonl:1:1: not a trace written by --trace: "), "{err}");
    }

    #[test]
    fn names_are_escaped_for_xml() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(at(46074), "@46.074ms");
        assert_eq!(duration(1500), "1.500 ms");
        assert_eq!(split_channel("a-[0]->b[1]"), Some(("a-[0]", "b[1]")));
        assert_eq!(split_channel("->b"), None);
    }
}
