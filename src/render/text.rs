//! `--format text`: the protocol as a timeline in words, one line per event, then a summary
//! per checkpoint and a tally of the records.
//!
//! Per-record events (`source_emit`, `sink_write`, and `deliver`/`process` of records and
//! watermarks) are left out unless `--all`; a line starting with `…` counts them per task
//! between two protocol lines.

use super::model::{Model, Outcome, Place};
use super::{at, duration, message_from_jm, message_words, plural, Ev, Item, Trace};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Per-record counts of one task.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    emitted: u64,
    replayed: u64,
    records: u64,
    watermarks: u64,
    written: u64,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.emitted + self.records + self.watermarks + self.written == 0
    }

    fn words(&self) -> String {
        let mut parts = Vec::new();
        if self.emitted > 0 {
            let again = if self.replayed > 0 {
                format!(" ({} again, after a restore)", self.replayed)
            } else {
                String::new()
            };
            parts.push(format!("emitted {}{again}", plural(self.emitted, "record")));
        }
        if self.records + self.watermarks > 0 {
            let mut p = format!("processed {}", plural(self.records, "record"));
            if self.watermarks > 0 {
                let _ = write!(p, ", {}", plural(self.watermarks, "watermark"));
            }
            parts.push(p);
        }
        if self.written > 0 {
            parts.push(format!("wrote {}", plural(self.written, "record")));
        }
        parts.join(", ")
    }
}

/// Counts of per-record events per task, since the last protocol line and in total.
#[derive(Default)]
struct Tally {
    since: BTreeMap<String, Counts>,
    total: BTreeMap<String, Counts>,
    /// The highest offset each source emitted, to count records read again after a restore.
    high: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, ev: &Ev) {
        let Some(task) = ev.task() else { return };
        let mut c = Counts::default();
        match ev {
            Ev::SourceEmit { offset, .. } => {
                c.emitted = 1;
                match self.high.get(task) {
                    Some(h) if offset <= h => c.replayed = 1,
                    _ => {
                        self.high.insert(task.to_string(), *offset);
                    }
                }
            }
            Ev::Process { item: Item::Record { .. }, .. } => c.records = 1,
            Ev::Process { item: Item::Watermark { .. }, .. } => c.watermarks = 1,
            Ev::SinkWrite { .. } => c.written = 1,
            _ => return,
        }
        for map in [&mut self.since, &mut self.total] {
            let e = map.entry(task.to_string()).or_default();
            e.emitted += c.emitted;
            e.replayed += c.replayed;
            e.records += c.records;
            e.watermarks += c.watermarks;
            e.written += c.written;
        }
    }

    /// The counts in lane order, joined: `a[0] emitted 3 records · b[0] processed 3 records`.
    /// Only the tasks in `map` are looked at (not every lane), so a line costs what it shows.
    fn line(map: &BTreeMap<String, Counts>, model: &Model) -> String {
        let mut shown: Vec<(usize, &str, &Counts)> = map
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(t, c)| (model.lane(t), t.as_str(), c))
            .collect();
        shown.sort_by_key(|&(lane, t, _)| (lane, t));
        shown.iter().map(|(_, t, c)| format!("{t} {}", c.words())).collect::<Vec<_>>().join(" · ")
    }
}

/// The widest the `who` column gets, in characters. A longer name is written whole and pushes
/// its own line's text to the right; the other lines keep their column.
pub const WHO_MAX: usize = 32;

/// Appends `s`, then spaces until it is `width` characters wide (nothing if it is wider).
/// Done by hand: `format!`'s `{:width$}` panics on a width above 65,535, and a task name
/// read from a trace may be longer than that.
fn pad_right(out: &mut String, s: &str, width: usize) {
    out.push_str(s);
    let n = s.chars().count();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
}

/// Spaces until `s` would be `width` characters wide, then `s`.
fn pad_left(out: &mut String, s: &str, width: usize) {
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(s.chars().count())));
    out.push_str(s);
}

/// One line of the timeline: the time, right-aligned; who, in its column; what happened.
fn timeline_line(
    out: &mut String,
    (time, time_w): (&str, usize),
    (who, who_w): (&str, usize),
    what: &str,
) {
    pad_left(out, time, time_w);
    out.push_str("  ");
    pad_right(out, who, who_w);
    out.push_str("  ");
    out.push_str(what);
    out.push('\n');
}

/// The timeline's state: when blocked channels and control items started.
#[derive(Default)]
struct State {
    blocked: BTreeMap<(String, String), u64>,
    delivered: BTreeMap<String, Vec<(Item, u64)>>,
    acks: BTreeMap<u64, usize>,
    outage: BTreeMap<String, u64>,
}

/// The text timeline of a trace.
pub fn render(trace: &Trace, model: &Model, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ftsim trace {}: {} from {} to {}",
        trace.origin,
        plural(trace.events.len() as u64, "trace line"),
        at(trace.events.first().map_or(0, |e| e.t_us)),
        at(trace.end_us())
    );
    let _ = writeln!(out, "  lanes: jm, {}", model.tasks.join(", "));
    if !all {
        let _ = writeln!(
            out,
            "  records and watermarks are counted on the lines starting with …; --all lists them"
        );
    }
    out.push('\n');
    let who_w = model
        .tasks
        .iter()
        .map(|t| t.chars().count())
        .chain(trace.events.iter().filter_map(|e| match e.ev.place() {
            Place::Env(s) => Some(s.chars().count()),
            _ => None,
        }))
        .max()
        .unwrap_or(2)
        .clamp(2, WHO_MAX);
    let time_w = at(trace.end_us()).len();
    let mut tally = Tally::default();
    let mut state = State::default();
    for (i, e) in trace.events.iter().enumerate() {
        if e.ev.is_data() {
            tally.add(&e.ev);
            if !all {
                continue;
            }
        }
        let Some(what) = describe(i, e.t_us, &e.ev, model, &mut state) else { continue };
        if !all && !tally.since.is_empty() {
            let line = Tally::line(&tally.since, model);
            if !line.is_empty() {
                timeline_line(&mut out, ("", time_w), ("…", who_w), &line);
            }
            tally.since.clear();
        }
        let who = match e.ev.place() {
            Place::Jm => "jm".to_string(),
            Place::Task(t) => t.to_string(),
            Place::Env(s) => s,
        };
        timeline_line(&mut out, (&at(e.t_us), time_w), (&who, who_w), &what);
    }
    if !all {
        let line = Tally::line(&tally.since, model);
        if !line.is_empty() {
            timeline_line(&mut out, ("", time_w), ("…", who_w), &line);
        }
    }
    out.push_str(&summary(model));
    let totals = Tally::line(&tally.total, model);
    if !totals.is_empty() {
        let _ = writeln!(out, "\nRecords\n  {}", totals.replace(" · ", "\n  "));
    }
    out
}

fn record(key: &str, value: i64, ts: i64) -> String {
    format!("({key}, {value}, ts {ts})")
}

fn item_words(item: &Item) -> String {
    match item {
        Item::Record { key, value, ts } => format!("record {}", record(key, *value, *ts)),
        Item::Watermark { ts } => format!("watermark {ts}"),
        Item::Barrier(cp) => format!("barrier of checkpoint {cp}"),
        Item::Cancel(cp) => format!("cancellation barrier of checkpoint {cp}"),
        Item::EndOfData => "end of data".into(),
        Item::End => "end of partition".into(),
    }
}

/// Why a checkpoint was aborted or a trigger skipped, in words.
pub fn reason_words(reason: &str) -> String {
    match reason {
        "expired" => "expired (not complete within its timeout)".into(),
        "finalize_failed" => "writing its metadata failed".into(),
        "subsumed" => "a newer checkpoint completed first".into(),
        "job_failover" => "the job is failing over".into(),
        "not_all_tasks_running" => "not all tasks are running".into(),
        "min_pause" => "the minimum pause since the last checkpoint has not passed".into(),
        "task_failure" => "a task failed before acknowledging".into(),
        other => match other.strip_prefix("declined:") {
            Some(d) => format!("a task declined it ({})", d.replace('_', " ")),
            None => other.replace('_', " "),
        },
    }
}

/// One event in words, or `None` for a line the timeline leaves out (a control item taken at
/// the instant it arrived, already told by its `deliver`).
fn describe(i: usize, t: u64, ev: &Ev, model: &Model, st: &mut State) -> Option<String> {
    use Ev::*;
    Some(match ev {
        SourceEmit { offset, key, value, ts, .. } => {
            format!("emits record {} at offset {offset}", record(key, *value, *ts))
        }
        Deliver { channel, item } => {
            if !item.is_data() {
                st.delivered.entry(channel.clone()).or_default().push((item.clone(), t));
            }
            format!("{} arrives on {channel}", item_words(item))
        }
        Process { channel, item, .. } => {
            let queue = st.delivered.entry(channel.clone()).or_default();
            let arrived = queue.iter().position(|(it, _)| it == item).map(|k| queue.remove(k).1);
            match arrived {
                Some(a) if a == t => return None,
                Some(a) => format!("takes {} from {channel} (arrived {})", item_words(item), at(a)),
                None if item.is_data() => format!("processes {} from {channel}", item_words(item)),
                None => format!("takes {} from {channel}", item_words(item)),
            }
        }
        SinkWrite { key, value, ts, .. } => format!("writes {}", record(key, *value, *ts)),
        TxnPrecommitted { txn, records, .. } => {
            format!("pre-commits {txn} ({}): durable, not yet visible", plural(*records, "record"))
        }
        TxnCommitted { txn, records, .. } => {
            let n = plural(*records, "record");
            let c = model.commit_events.get(&i);
            let pre = c.and_then(|c| c.precommitted_for);
            match (c.is_some_and(|c| c.on_restore), pre) {
                (true, Some(cp)) => format!(
                    "recommits {txn} ({n}) on restore: pre-committed for checkpoint {cp}, committed from the restored state"
                ),
                (true, None) => format!("recommits {txn} ({n}) on restore, from the restored state"),
                (false, Some(cp)) if c.and_then(|c| c.cause) != Some(cp) => {
                    format!("commits {txn} ({n}, pre-committed for checkpoint {cp}): now visible")
                }
                (false, _) => format!("commits {txn} ({n}): now visible"),
            }
        }
        TxnAborted { txn, .. } => format!("aborts {txn}, pre-committed by an earlier attempt"),
        TaskFinishing { .. } => "reached the end of its input; waits for a final checkpoint".into(),
        TaskFinished { .. } => "finished".into(),
        JobFinished => "job finished: every task has finished".into(),
        CheckpointTriggered { checkpoint } => format!("checkpoint {checkpoint} triggered"),
        CheckpointSkipped { reason } => {
            format!("periodic trigger skipped: {}", reason_words(reason))
        }
        ChannelBlocked { task, channel } => {
            st.blocked.insert((task.clone(), channel.clone()), t);
            match model.inputs.get(task).map_or(0, |i| i.len()) {
                0 | 1 => format!("blocks input {channel} (alignment)"),
                2 => format!("blocks input {channel} (alignment: waits for the barrier on the other input)"),
                k => format!(
                    "blocks input {channel} (alignment: waits for the barrier on the other {} inputs)",
                    k - 1
                ),
            }
        }
        ChannelResumed { task, channel } => {
            match st.blocked.remove(&(task.clone(), channel.clone())) {
                Some(from) if from == t => format!("resumes input {channel} at once"),
                Some(from) => format!("resumes input {channel} (blocked {})", duration(t - from)),
                None => format!("resumes input {channel}"),
            }
        }
        SnapshotTaken { task, checkpoint } => {
            let how = if model.is_source(task) { " on the trigger" } else { "" };
            let barrier = if model.is_sink(task) { "" } else { "; barrier sent downstream" };
            format!("snapshot for checkpoint {checkpoint} taken{how}{barrier}")
        }
        SnapshotStored { checkpoint, .. } => {
            format!("snapshot for checkpoint {checkpoint} stored; acknowledgement sent")
        }
        UploadFailed { checkpoint, .. } => {
            format!(
                "snapshot upload for checkpoint {checkpoint} failed (storage down); decline sent"
            )
        }
        CheckpointAcknowledged { task, checkpoint } => {
            let n = st.acks.entry(*checkpoint).or_default();
            *n += 1;
            format!("acknowledgement of checkpoint {checkpoint} from {task} ({n} so far)")
        }
        CheckpointDeclined { task, checkpoint, reason } => {
            format!("decline of checkpoint {checkpoint} from {task}: {}", reason.replace('_', " "))
        }
        CheckpointCompleted { checkpoint } => {
            let cp = model.checkpoints.get(checkpoint);
            let acks = cp.map_or(0, |c| c.acks.len() as u64);
            let took = cp
                .and_then(|c| c.triggered)
                .map(|tr| format!(", {} after its trigger", duration(t.saturating_sub(tr))))
                .unwrap_or_default();
            format!("checkpoint {checkpoint} completed ({}{took})", plural(acks, "acknowledgement"))
        }
        CheckpointAborted { checkpoint, reason } => {
            format!("checkpoint {checkpoint} aborted: {}", reason_words(reason))
        }
        NotifyComplete { checkpoint, .. } => format!("notice: checkpoint {checkpoint} completed"),
        NotifyAborted { checkpoint, .. } => format!("notice: checkpoint {checkpoint} aborted"),
        ControlLost { message, checkpoint, .. } => {
            let dir = if message_from_jm(message) { "from" } else { "to" };
            format!(
                "{} of checkpoint {checkpoint} lost on its way {dir} jm",
                message_words(message)
            )
        }
        NodeCrashed { node } => {
            st.outage.insert(node.clone(), t);
            "node crashed".into()
        }
        NodeRestarted { node } => match st.outage.remove(node) {
            Some(from) => format!("node back up (down {})", duration(t - from)),
            None => "node back up".into(),
        },
        TaskFailed { .. } => "failed".into(),
        TaskCanceled { .. } => "cancelled by the failover".into(),
        PartitionStarted { a, b } => format!("partition between {a} and {b} begins"),
        PartitionHealed { a, b } => format!("partition between {a} and {b} heals"),
        StorageFailed => "checkpoint storage outage begins".into(),
        StorageRecovered => "checkpoint storage outage ends".into(),
        CoordinatorCrashed => "coordinator crashed".into(),
        CoordinatorRestarted => "coordinator back up".into(),
        JobRestarting { tasks, delay_ms } => {
            format!("failover: {} restart in {delay_ms} ms", plural(*tasks, "task"))
        }
        TaskRestored { checkpoint: Some(cp), .. } => format!("restored from checkpoint {cp}"),
        TaskRestored { checkpoint: None, .. } => {
            "restarted from scratch (no completed checkpoint)".into()
        }
        JobFailed => "job failed: the restart strategy gave up".into(),
    })
}

/// `a[0] @1.000ms, b[0] @2.000ms`
fn at_list(items: &[(String, u64)]) -> String {
    items.iter().map(|(t, at_us)| format!("{t} {}", at(*at_us))).collect::<Vec<_>>().join(", ")
}

/// The summary per checkpoint, and the commits not tied to one.
pub fn summary(model: &Model) -> String {
    let mut out = String::from("\nCheckpoints\n");
    if model.checkpoints.is_empty() {
        out.push_str("  none triggered\n");
    }
    for cp in model.checkpoints.values() {
        let trig = cp.triggered.map(|t| format!("triggered {}", at(t)));
        let end = match cp.outcome() {
            Outcome::Completed(t) => {
                let took = cp
                    .triggered
                    .map(|tr| format!(" ({})", duration(t.saturating_sub(tr))))
                    .unwrap_or_default();
                format!("completed {}{took}", at(t))
            }
            Outcome::Aborted(t, r) => format!("aborted {}: {}", at(t), reason_words(&r)),
            Outcome::LostWithCoordinator(t) => {
                format!("never completed: lost when the coordinator crashed {}", at(t))
            }
            Outcome::Pending => "never completed: still pending when the trace ends".into(),
        };
        let head: Vec<String> = trig.into_iter().chain([end]).collect();
        let _ = writeln!(out, "  checkpoint {}: {}", cp.id, head.join(", "));
        let mut row = |label: &str, text: String| {
            if !text.is_empty() {
                let _ = writeln!(out, "    {label:<10} {text}");
            }
        };
        row("snapshots:", at_list(&cp.snapshots));
        row("failed:", at_list(&cp.upload_failures));
        row(
            "declines:",
            cp.declines
                .iter()
                .map(|(t, a, r)| format!("{t} {} ({})", at(*a), r.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", "),
        );
        row(
            "lost:",
            cp.lost
                .iter()
                .map(|(m, t, a)| {
                    let dir = if message_from_jm(m) { "to" } else { "from" };
                    format!("{} {dir} {t} {}", message_words(m), at(*a))
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
        row("restored:", at_list(&cp.restored));
        row("commits:", commits(&cp.commits));
        row(
            "aborted:",
            cp.txn_aborts
                .iter()
                .map(|(task, txn, a)| format!("{task} {txn} {}", at(*a)))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if !model.other_commits.is_empty() {
        let _ = writeln!(out, "  commits without a checkpoint (at end of input):");
        let _ = writeln!(out, "    {}", commits(&model.other_commits));
    }
    out
}

fn commits(list: &[super::model::Commit]) -> String {
    list.iter()
        .map(|c| {
            let how = if c.on_restore { ", recommitted on restore" } else { "" };
            let pre = match c.precommitted_for {
                Some(p) if Some(p) != c.cause => format!(", pre-committed for checkpoint {p}"),
                _ => String::new(),
            };
            format!(
                "{} {} ({}{pre}) {}{how}",
                c.task,
                c.txn,
                plural(c.records, "record"),
                at(c.t_us)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::TINY;

    fn text(trace: &str, all: bool) -> String {
        let t = Trace::parse(trace, "tiny.jsonl").expect("a valid trace");
        render(&t, &Model::of(&t), all)
    }

    #[test]
    fn a_tiny_trace_reads_as_a_story() {
        let want = "\
ftsim trace tiny.jsonl: 29 trace lines from @0.000ms to @6.500ms
  lanes: jm, src[0], out[0]
  records and watermarks are counted on the lines starting with …; --all lists them

          …       src[0] emitted 1 record
@1.000ms  jm      checkpoint 1 triggered
@1.500ms  src[0]  snapshot for checkpoint 1 taken on the trigger; barrier sent downstream
          …       out[0] processed 1 record
@2.500ms  out[0]  barrier of checkpoint 1 arrives on src[0]->out[0]
@2.500ms  out[0]  blocks input src[0]->out[0] (alignment)
@2.500ms  out[0]  pre-commits txn0.0.0 (1 record): durable, not yet visible
@2.500ms  out[0]  snapshot for checkpoint 1 taken
@2.500ms  out[0]  resumes input src[0]->out[0] at once
@3.000ms  src[0]  snapshot for checkpoint 1 stored; acknowledgement sent
@3.200ms  out[0]  snapshot for checkpoint 1 stored; acknowledgement sent
@4.000ms  jm      acknowledgement of checkpoint 1 from src[0] (1 so far)
@4.100ms  jm      acknowledgement of checkpoint 1 from out[0] (2 so far)
@4.100ms  jm      checkpoint 1 completed (2 acknowledgements, 3.100 ms after its trigger)
@4.100ms  node-1  node crashed
@4.100ms  out[0]  failed
@4.100ms  src[0]  cancelled by the failover
@4.100ms  jm      failover: 2 tasks restart in 1 ms
@5.000ms  out[0]  completion notice of checkpoint 1 lost on its way from jm
@5.100ms  src[0]  restored from checkpoint 1
@5.100ms  out[0]  recommits txn0.0.0 (1 record) on restore: pre-committed for checkpoint 1, committed from the restored state
@5.100ms  out[0]  restored from checkpoint 1
@6.000ms  src[0]  finished
@6.500ms  out[0]  end of partition arrives on src[0]->out[0]
@6.500ms  out[0]  finished
@6.500ms  jm      job finished: every task has finished

Checkpoints
  checkpoint 1: triggered @1.000ms, completed @4.100ms (3.100 ms)
    snapshots: src[0] @1.500ms, out[0] @2.500ms
    lost:      completion notice to out[0] @5.000ms
    restored:  src[0] @5.100ms, out[0] @5.100ms
    commits:   out[0] txn0.0.0 (1 record) @5.100ms, recommitted on restore

Records
  src[0] emitted 1 record
  out[0] processed 1 record
";
        assert_eq!(text(TINY, false), want);
    }

    #[test]
    fn all_lists_every_record_and_drops_the_tallies() {
        let all = text(TINY, true);
        assert!(
            all.contains("@0.000ms  src[0]  emits record (k0, 1, ts 0) at offset 0\n"),
            "{all}"
        );
        assert!(
            all.contains("@2.000ms  out[0]  processes record (k0, 1, ts 0) from src[0]->out[0]\n")
        );
        assert!(!all.contains(" … "));
    }

    #[test]
    fn a_task_name_of_65536_characters_renders_without_a_panic() {
        let name = format!("{}[0]", "x".repeat(65_533));
        assert_eq!(name.chars().count(), 65_536);
        let trace = format!(
            "{{\"t_us\":0,\"event\":\"task_failed\",\"task\":\"{name}\"}}\n\
             {{\"t_us\":7,\"event\":\"task_finished\",\"task\":\"a[0]\"}}"
        );
        let out = text(&trace, false);
        assert!(out.contains(&format!("@0.000ms  {name}  failed\n")), "the name is written whole");
        // The short name is padded to a capped column, not to the long name's width.
        let short = out.lines().find(|l| l.contains("a[0]  ")).expect("a line for a[0]");
        assert_eq!(short, format!("@0.007ms  a[0]{}  finished", " ".repeat(WHO_MAX - 4)));
    }

    #[test]
    fn replayed_records_and_later_barriers_are_told() {
        let trace = r#"{"t_us":0,"event":"source_emit","task":"s[0]","offset":0,"key":"k","value":1,"ts":0}
{"t_us":1,"event":"source_emit","task":"s[0]","offset":0,"key":"k","value":1,"ts":0}
{"t_us":2,"event":"deliver","channel":"s[0]->t[0]","item":"barrier","checkpoint":3}
{"t_us":9,"event":"process","task":"t[0]","channel":"s[0]->t[0]","item":"barrier","checkpoint":3}
{"t_us":9,"event":"checkpoint_aborted","checkpoint":3,"reason":"declined:async_failure"}"#;
        let out = text(trace, false);
        assert!(out.contains("s[0] emitted 2 records (1 again, after a restore)"), "{out}");
        assert!(
            out.contains("t[0]  takes barrier of checkpoint 3 from s[0]->t[0] (arrived @0.002ms)")
        );
        assert!(out.contains("aborted @0.009ms: a task declined it (async failure)"));
    }
}
