//! Trace events: what happened in a run, for people (`--trace FILE`, one JSON object per
//! line), for fault triggers (`on`), and for the trace hash.
//!
//! Every event is described once, by [`TraceEvent::parts`]: its kind, a tag byte and up to
//! three named values. The JSON line, the trigger filter and the hash all derive from that.
//!
//! The trace hash runs over a canonical encoding of every event in order: the time in µs,
//! the event's tag, then each value as a tag and its fields (task, channel and node ids,
//! checkpoint ids, numbers, one byte per character of a name). Each of these is fed to the
//! hash as one 64-bit word: h ← rotl27((h xor w) × 0x9e3779b97f4a7c15), from the FNV-1a
//! offset basis, finished with MurmurHash3's fmix64. It never uses `DefaultHasher`, so the
//! same run gives the same hash on every machine (docs/determinism.md).

use crate::graph::Job;
use crate::ids::{ChannelId, CheckpointId, NodeId, SimTime, TaskId};
use crate::protocol::coordinator::{DeclineReason, FailureReason};
use crate::protocol::sink::TxnId;
use crate::record::Record;
use crate::scenario::model::Endpoint;
use crate::world::channel::Item;
use std::fmt::Write as _;

/// Which control message was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlKind {
    Trigger,
    Ack,
    Decline,
    NotifyComplete,
    NotifyAborted,
}

impl ControlKind {
    pub fn name(self) -> &'static str {
        match self {
            ControlKind::Trigger => "trigger",
            ControlKind::Ack => "ack",
            ControlKind::Decline => "decline",
            ControlKind::NotifyComplete => "notify_complete",
            ControlKind::NotifyAborted => "notify_aborted",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A source read the record at `offset` of its partition and emitted it.
    SourceEmit {
        task: TaskId,
        offset: u64,
        record: Record,
    },
    /// An item arrived at the receiver's input queue.
    Deliver {
        channel: ChannelId,
        item: Item,
    },
    /// A task took an item from its input and processed it.
    Process {
        task: TaskId,
        channel: ChannelId,
        item: Item,
    },
    /// A sink made a record visible at once (at_least_once, upsert).
    SinkWrite {
        task: TaskId,
        record: Record,
    },
    TxnPrecommitted {
        task: TaskId,
        txn: TxnId,
        records: u64,
    },
    TxnCommitted {
        task: TaskId,
        txn: TxnId,
        records: u64,
    },
    TxnAborted {
        task: TaskId,
        txn: TxnId,
    },
    /// End of input: the task waits for a final checkpoint before it finishes.
    TaskFinishing {
        task: TaskId,
    },
    TaskFinished {
        task: TaskId,
    },
    JobFinished,
    CheckpointTriggered {
        checkpoint: CheckpointId,
    },
    CheckpointSkipped {
        reason: FailureReason,
    },
    ChannelBlocked {
        task: TaskId,
        channel: ChannelId,
    },
    ChannelResumed {
        task: TaskId,
        channel: ChannelId,
    },
    SnapshotTaken {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    SnapshotStored {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    UploadFailed {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    /// An acknowledgement reached the coordinator.
    CheckpointAcknowledged {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    /// A decline reached the coordinator.
    CheckpointDeclined {
        task: TaskId,
        checkpoint: CheckpointId,
        reason: DeclineReason,
    },
    CheckpointCompleted {
        checkpoint: CheckpointId,
    },
    CheckpointAborted {
        checkpoint: CheckpointId,
        reason: FailureReason,
    },
    /// A completion notice reached a task.
    NotifyComplete {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    /// An abort notice reached a task.
    NotifyAborted {
        task: TaskId,
        checkpoint: CheckpointId,
    },
    ControlLost {
        message: ControlKind,
        task: TaskId,
        checkpoint: CheckpointId,
    },
    NodeCrashed {
        node: NodeId,
    },
    NodeRestarted {
        node: NodeId,
    },
    TaskFailed {
        task: TaskId,
    },
    TaskCanceled {
        task: TaskId,
    },
    PartitionStarted {
        a: Endpoint,
        b: Endpoint,
    },
    PartitionHealed {
        a: Endpoint,
        b: Endpoint,
    },
    StorageFailed,
    StorageRecovered,
    CoordinatorCrashed,
    CoordinatorRestarted,
    JobRestarting {
        tasks: u32,
        delay_ms: u64,
    },
    TaskRestored {
        task: TaskId,
        checkpoint: Option<CheckpointId>,
    },
    JobFailed,
}

/// One named value of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    Task(TaskId),
    Channel(ChannelId),
    Checkpoint(CheckpointId),
    Int(i64),
    Name(&'static str),
    Node(NodeId),
    Endpoint(Endpoint),
    Txn(TxnId),
    Item(Item),
    Record(Record),
}

type Parts = (&'static str, u8, [Option<(&'static str, Val)>; 3]);

/// Every event kind with its filterable fields (besides `event` and `t_us`), as rendered.
const CATALOG: &[(&str, &[&str])] = &[
    ("source_emit", &["task", "offset", "key", "value", "ts"]),
    ("deliver", &["channel", "item", "key", "value", "ts", "checkpoint"]),
    ("process", &["task", "channel", "item", "key", "value", "ts", "checkpoint"]),
    ("sink_write", &["task", "key", "value", "ts"]),
    ("txn_precommitted", &["task", "txn", "records"]),
    ("txn_committed", &["task", "txn", "records"]),
    ("txn_aborted", &["task", "txn"]),
    ("task_finishing", &["task"]),
    ("task_finished", &["task"]),
    ("job_finished", &[]),
    ("checkpoint_triggered", &["checkpoint"]),
    ("checkpoint_skipped", &["reason"]),
    ("channel_blocked", &["task", "channel"]),
    ("channel_resumed", &["task", "channel"]),
    ("snapshot_taken", &["task", "checkpoint"]),
    ("snapshot_stored", &["task", "checkpoint"]),
    ("upload_failed", &["task", "checkpoint"]),
    ("checkpoint_acknowledged", &["task", "checkpoint"]),
    ("checkpoint_declined", &["task", "checkpoint", "reason"]),
    ("checkpoint_completed", &["checkpoint"]),
    ("checkpoint_aborted", &["checkpoint", "reason"]),
    ("notify_complete", &["task", "checkpoint"]),
    ("notify_aborted", &["task", "checkpoint"]),
    ("control_lost", &["message", "task", "checkpoint"]),
    ("node_crashed", &["node"]),
    ("node_restarted", &["node"]),
    ("task_failed", &["task"]),
    ("task_canceled", &["task"]),
    ("partition_started", &["a", "b"]),
    ("partition_healed", &["a", "b"]),
    ("storage_failed", &[]),
    ("storage_recovered", &[]),
    ("coordinator_crashed", &[]),
    ("coordinator_restarted", &[]),
    ("job_restarting", &["tasks", "delay_ms"]),
    ("task_restored", &["task", "checkpoint"]),
    ("job_failed", &[]),
];

/// The filterable fields of an event kind, or `None` if there is no such kind.
pub fn event_fields(kind: &str) -> Option<&'static [&'static str]> {
    CATALOG.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

pub fn event_kind_names() -> Vec<&'static str> {
    CATALOG.iter().map(|(k, _)| *k).collect()
}

pub fn failure_name(r: FailureReason) -> &'static str {
    r.name()
}

pub fn decline_name(r: DeclineReason) -> &'static str {
    match r {
        DeclineReason::Subsumed => "subsumed",
        DeclineReason::CancellationBarrier => "cancellation_barrier",
        DeclineReason::AsyncFailure => "async_failure",
        DeclineReason::TaskNotReady => "task_not_ready",
    }
}

impl TraceEvent {
    /// The kind, the tag byte of the hash encoding, and the named values.
    pub fn parts(&self) -> Parts {
        use TraceEvent as E;
        use Val::*;
        let none = None;
        match *self {
            E::SourceEmit { task, offset, record } => (
                "source_emit",
                1,
                [
                    Some(("task", Task(task))),
                    Some(("offset", Int(offset as i64))),
                    Some(("", Record(record))),
                ],
            ),
            E::Deliver { channel, item } => {
                ("deliver", 2, [Some(("channel", Channel(channel))), Some(("", Item(item))), none])
            }
            E::Process { task, channel, item } => (
                "process",
                3,
                [
                    Some(("task", Task(task))),
                    Some(("channel", Channel(channel))),
                    Some(("", Item(item))),
                ],
            ),
            E::SinkWrite { task, record } => {
                ("sink_write", 4, [Some(("task", Task(task))), Some(("", Record(record))), none])
            }
            E::TxnPrecommitted { task, txn, records } => (
                "txn_precommitted",
                5,
                [
                    Some(("task", Task(task))),
                    Some(("txn", Txn(txn))),
                    Some(("records", Int(records as i64))),
                ],
            ),
            E::TxnCommitted { task, txn, records } => (
                "txn_committed",
                6,
                [
                    Some(("task", Task(task))),
                    Some(("txn", Txn(txn))),
                    Some(("records", Int(records as i64))),
                ],
            ),
            E::TxnAborted { task, txn } => {
                ("txn_aborted", 7, [Some(("task", Task(task))), Some(("txn", Txn(txn))), none])
            }
            E::TaskFinishing { task } => {
                ("task_finishing", 8, [Some(("task", Task(task))), none, none])
            }
            E::TaskFinished { task } => {
                ("task_finished", 9, [Some(("task", Task(task))), none, none])
            }
            E::JobFinished => ("job_finished", 10, [none, none, none]),
            E::CheckpointTriggered { checkpoint } => (
                "checkpoint_triggered",
                11,
                [Some(("checkpoint", Checkpoint(checkpoint))), none, none],
            ),
            E::CheckpointSkipped { reason } => (
                "checkpoint_skipped",
                12,
                [Some(("reason", Name(failure_name(reason)))), none, none],
            ),
            E::ChannelBlocked { task, channel } => (
                "channel_blocked",
                13,
                [Some(("task", Task(task))), Some(("channel", Channel(channel))), none],
            ),
            E::ChannelResumed { task, channel } => (
                "channel_resumed",
                14,
                [Some(("task", Task(task))), Some(("channel", Channel(channel))), none],
            ),
            E::SnapshotTaken { task, checkpoint } => {
                task_cp("snapshot_taken", 15, task, checkpoint)
            }
            E::SnapshotStored { task, checkpoint } => {
                task_cp("snapshot_stored", 16, task, checkpoint)
            }
            E::UploadFailed { task, checkpoint } => task_cp("upload_failed", 17, task, checkpoint),
            E::CheckpointAcknowledged { task, checkpoint } => {
                task_cp("checkpoint_acknowledged", 18, task, checkpoint)
            }
            E::CheckpointDeclined { task, checkpoint, reason } => (
                "checkpoint_declined",
                19,
                [
                    Some(("task", Task(task))),
                    Some(("checkpoint", Checkpoint(checkpoint))),
                    Some(("reason", Name(decline_name(reason)))),
                ],
            ),
            E::CheckpointCompleted { checkpoint } => (
                "checkpoint_completed",
                20,
                [Some(("checkpoint", Checkpoint(checkpoint))), none, none],
            ),
            E::CheckpointAborted { checkpoint, reason } => (
                "checkpoint_aborted",
                21,
                [
                    Some(("checkpoint", Checkpoint(checkpoint))),
                    Some(("reason", Name(failure_name(reason)))),
                    none,
                ],
            ),
            E::NotifyComplete { task, checkpoint } => {
                task_cp("notify_complete", 22, task, checkpoint)
            }
            E::NotifyAborted { task, checkpoint } => {
                task_cp("notify_aborted", 23, task, checkpoint)
            }
            E::ControlLost { message, task, checkpoint } => (
                "control_lost",
                24,
                [
                    Some(("message", Name(message.name()))),
                    Some(("task", Task(task))),
                    Some(("checkpoint", Checkpoint(checkpoint))),
                ],
            ),
            E::NodeCrashed { node } => {
                ("node_crashed", 25, [Some(("node", Node(node))), none, none])
            }
            E::NodeRestarted { node } => {
                ("node_restarted", 26, [Some(("node", Node(node))), none, none])
            }
            E::TaskFailed { task } => ("task_failed", 27, [Some(("task", Task(task))), none, none]),
            E::TaskCanceled { task } => {
                ("task_canceled", 28, [Some(("task", Task(task))), none, none])
            }
            E::PartitionStarted { a, b } => (
                "partition_started",
                29,
                [Some(("a", Endpoint(a))), Some(("b", Endpoint(b))), none],
            ),
            E::PartitionHealed { a, b } => {
                ("partition_healed", 30, [Some(("a", Endpoint(a))), Some(("b", Endpoint(b))), none])
            }
            E::StorageFailed => ("storage_failed", 31, [none, none, none]),
            E::StorageRecovered => ("storage_recovered", 32, [none, none, none]),
            E::CoordinatorCrashed => ("coordinator_crashed", 33, [none, none, none]),
            E::CoordinatorRestarted => ("coordinator_restarted", 34, [none, none, none]),
            E::JobRestarting { tasks, delay_ms } => (
                "job_restarting",
                35,
                [
                    Some(("tasks", Int(i64::from(tasks)))),
                    Some(("delay_ms", Int(delay_ms as i64))),
                    none,
                ],
            ),
            E::TaskRestored { task, checkpoint } => (
                "task_restored",
                36,
                [
                    Some(("task", Task(task))),
                    Some(("checkpoint", Int(checkpoint.map_or(0, |c| c.0 as i64)))),
                    none,
                ],
            ),
            E::JobFailed => ("job_failed", 37, [none, none, none]),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.parts().0
    }

    /// Feeds the canonical encoding of `(now, self)` into `h`.
    pub fn hash_into(&self, now: SimTime, h: &mut TraceHasher) {
        let (_, tag, vals) = self.parts();
        h.u64(now.as_us());
        h.byte(tag);
        for (_, v) in vals.iter().flatten() {
            h.val(v);
        }
    }

    /// The event's fields as (name, value) pairs, rendered for people and filters.
    pub fn fields(&self, job: &Job) -> Vec<(&'static str, FieldValue)> {
        use FieldValue::{Int, Str};
        let mut f = Vec::new();
        let record = |f: &mut Vec<(&'static str, FieldValue)>, r: &Record| {
            f.push(("key", Str(job.scenario.keys.key(r.key).to_string())));
            f.push(("value", Int(r.value)));
            f.push(("ts", Int(r.ts)));
        };
        for (name, v) in self.parts().2.into_iter().flatten() {
            match &v {
                Val::Task(t) => f.push((name, Str(job.task_name(*t)))),
                Val::Channel(c) => f.push((name, Str(job.channel_name(*c)))),
                Val::Checkpoint(c) => f.push((name, Int(c.0 as i64))),
                Val::Int(i) => f.push((name, Int(*i))),
                Val::Name(s) => f.push((name, Str((*s).to_string()))),
                Val::Node(n) => f.push((name, Str(n.to_string()))),
                Val::Endpoint(e) => f.push((name, Str(e.to_string()))),
                Val::Txn(t) => f.push((name, Str(t.to_string()))),
                Val::Record(r) => record(&mut f, r),
                Val::Item(item) => {
                    f.push(("item", Str(item.kind_name().into())));
                    match item {
                        Item::Record(r) => record(&mut f, r),
                        Item::Watermark(w) => f.push(("ts", Int(*w))),
                        Item::Barrier(cp) | Item::Cancel(cp) => {
                            f.push(("checkpoint", Int(cp.0 as i64)))
                        }
                        Item::End | Item::EndOfData => {}
                    }
                }
            }
        }
        f
    }

    /// One line of the JSON trace (no trailing newline).
    pub fn to_json_line(&self, now: SimTime, job: &Job) -> String {
        let mut s = String::with_capacity(96);
        let _ = write!(s, "{{\"t_us\":{},\"event\":\"{}\"", now.as_us(), self.kind());
        for (name, value) in self.fields(job) {
            match value {
                FieldValue::Int(i) => {
                    let _ = write!(s, ",\"{name}\":{i}");
                }
                FieldValue::Str(v) => {
                    let _ = write!(s, ",\"{name}\":{}", serde_json::Value::String(v));
                }
            }
        }
        s.push('}');
        s
    }

    /// Whether this event matches a trigger filter: its kind, and each filter field equal
    /// (strings compare with the rendered field, integers with integer fields).
    pub fn matches(
        &self,
        job: &Job,
        kind: &str,
        filter: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> bool {
        if self.kind() != kind {
            return false;
        }
        if filter.is_empty() {
            return true;
        }
        let fields = self.fields(job);
        filter.iter().all(|(name, want)| {
            fields.iter().any(|(n, v)| {
                *n == name
                    && match (v, want) {
                        (FieldValue::Int(i), w) => w.as_i64() == Some(*i),
                        (FieldValue::Str(s), w) => w.as_str() == Some(s.as_str()),
                    }
            })
        })
    }
}

fn task_cp(kind: &'static str, tag: u8, task: TaskId, cp: CheckpointId) -> Parts {
    (kind, tag, [Some(("task", Val::Task(task))), Some(("checkpoint", Val::Checkpoint(cp))), None])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    Int(i64),
    Str(String),
}

/// The trace hash: each field of the canonical encoding fed as one 64-bit word (see
/// `word`), starting from the FNV offset basis, finished with fmix64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHasher(u64);

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    /// Feeds one 64-bit word: xor, multiply by the golden-ratio constant, rotate. One step
    /// per field rather than per byte keeps hashing cheap on the hot path.
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(27);
    }

    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.word(u64::from(b));
    }

    #[inline]
    pub fn u32(&mut self, x: u32) {
        self.word(u64::from(x));
    }

    #[inline]
    pub fn u64(&mut self, x: u64) {
        self.word(x);
    }

    fn record(&mut self, r: Record) {
        self.u32(r.key.0);
        self.u64(r.value as u64);
        self.u64(r.ts as u64);
    }

    fn endpoint(&mut self, e: Endpoint) {
        match e {
            Endpoint::Coordinator => self.u32(u32::MAX),
            Endpoint::Node(n) => self.u32(u32::from(n.0)),
        }
    }

    fn val(&mut self, v: &Val) {
        match *v {
            Val::Task(t) => {
                self.byte(1);
                self.u32(t.0);
            }
            Val::Channel(c) => {
                self.byte(2);
                self.u32(c.0);
            }
            Val::Checkpoint(c) => {
                self.byte(3);
                self.u64(c.0);
            }
            Val::Int(i) => {
                self.byte(4);
                self.u64(i as u64);
            }
            Val::Name(s) => {
                self.byte(5);
                for b in s.bytes() {
                    self.byte(b);
                }
                self.byte(0);
            }
            Val::Node(n) => {
                self.byte(6);
                self.u32(u32::from(n.0));
            }
            Val::Endpoint(e) => {
                self.byte(7);
                self.endpoint(e);
            }
            Val::Txn(t) => {
                self.byte(8);
                self.u32(u32::from(t.subtask));
                self.u32(t.attempt);
                self.u32(t.seq);
            }
            Val::Record(r) => {
                self.byte(9);
                self.record(r);
            }
            Val::Item(item) => {
                self.byte(10);
                match item {
                    Item::Record(r) => {
                        self.byte(1);
                        self.record(r);
                    }
                    Item::Watermark(w) => {
                        self.byte(2);
                        self.u64(w as u64);
                    }
                    Item::End => self.byte(3),
                    Item::Barrier(cp) => {
                        self.byte(4);
                        self.u64(cp.0);
                    }
                    Item::Cancel(cp) => {
                        self.byte(5);
                        self.u64(cp.0);
                    }
                    Item::EndOfData => self.byte(6),
                }
            }
        }
    }

    /// The hash: the state after the last word, finished with MurmurHash3's fmix64.
    pub fn finish(&self) -> u64 {
        crate::record::fmix64(self.0)
    }

    /// A hash as 16 lowercase hex digits, as reports print it.
    pub fn hex_of(hash: u64) -> String {
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_names_every_kind_once() {
        let names = event_kind_names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(event_fields("checkpoint_completed"), Some(&["checkpoint"][..]));
        assert_eq!(event_fields("nope"), None);
    }
}
