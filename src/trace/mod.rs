//! Trace events: what happened in a run, for people (`--trace FILE`, one JSON object per
//! line), for fault triggers (`on`), and for the trace hash.
//!
//! The trace hash is FNV-1a 64 over a canonical binary encoding of every event in order:
//! the time in µs (8 bytes little-endian), a one-byte tag per kind, then the kind's fields
//! (ids as 4 bytes, numbers as 8 bytes, little-endian). It never uses `DefaultHasher`, so the
//! same run gives the same hash on every machine (docs/determinism.md).

use crate::graph::Job;
use crate::ids::{ChannelId, SimTime, TaskId};
use crate::protocol::sink::TxnId;
use crate::record::Record;
use crate::world::channel::Item;
use std::fmt::Write as _;

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
    /// A transaction became durable but not visible.
    TxnPrecommitted {
        task: TaskId,
        txn: TxnId,
        records: u64,
    },
    /// A transaction became visible.
    TxnCommitted {
        task: TaskId,
        txn: TxnId,
        records: u64,
    },
    TaskFinished {
        task: TaskId,
    },
    JobFinished,
}

/// Every event kind with its filterable fields (besides `event` and `t_us`).
const CATALOG: &[(&str, &[&str])] = &[
    ("source_emit", &["task", "offset", "key", "value", "ts"]),
    ("deliver", &["channel", "from", "to", "item", "key", "value", "ts"]),
    ("process", &["task", "channel", "item", "key", "value", "ts"]),
    ("sink_write", &["task", "key", "value", "ts"]),
    ("txn_precommitted", &["task", "txn", "records"]),
    ("txn_committed", &["task", "txn", "records"]),
    ("task_finished", &["task"]),
    ("job_finished", &[]),
];

/// The filterable fields of an event kind, or `None` if there is no such kind.
pub fn event_fields(kind: &str) -> Option<&'static [&'static str]> {
    CATALOG.iter().find(|(k, _)| *k == kind).map(|(_, f)| *f)
}

pub fn event_kind_names() -> Vec<&'static str> {
    CATALOG.iter().map(|(k, _)| *k).collect()
}

impl TraceEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            TraceEvent::SourceEmit { .. } => "source_emit",
            TraceEvent::Deliver { .. } => "deliver",
            TraceEvent::Process { .. } => "process",
            TraceEvent::SinkWrite { .. } => "sink_write",
            TraceEvent::TxnPrecommitted { .. } => "txn_precommitted",
            TraceEvent::TxnCommitted { .. } => "txn_committed",
            TraceEvent::TaskFinished { .. } => "task_finished",
            TraceEvent::JobFinished => "job_finished",
        }
    }

    /// Feeds the canonical encoding of `(now, self)` into `h`.
    pub fn hash_into(&self, now: SimTime, h: &mut TraceHasher) {
        h.u64(now.as_us());
        match *self {
            TraceEvent::SourceEmit { task, offset, record } => {
                h.byte(1);
                h.u32(task.0);
                h.u64(offset);
                h.record(record);
            }
            TraceEvent::Deliver { channel, item } => {
                h.byte(2);
                h.u32(channel.0);
                h.item(item);
            }
            TraceEvent::Process { task, channel, item } => {
                h.byte(3);
                h.u32(task.0);
                h.u32(channel.0);
                h.item(item);
            }
            TraceEvent::SinkWrite { task, record } => {
                h.byte(4);
                h.u32(task.0);
                h.record(record);
            }
            TraceEvent::TxnPrecommitted { task, txn, records } => {
                h.byte(5);
                h.u32(task.0);
                h.txn(txn);
                h.u64(records);
            }
            TraceEvent::TxnCommitted { task, txn, records } => {
                h.byte(6);
                h.u32(task.0);
                h.txn(txn);
                h.u64(records);
            }
            TraceEvent::TaskFinished { task } => {
                h.byte(7);
                h.u32(task.0);
            }
            TraceEvent::JobFinished => h.byte(8),
        }
    }

    /// The event's fields as (name, value) pairs, rendered for people and filters.
    pub fn fields(&self, job: &Job) -> Vec<(&'static str, FieldValue)> {
        use FieldValue::{Int, Str};
        let key = |r: &Record| Str(job.scenario.keys.key(r.key).to_string());
        let mut f = Vec::new();
        let item_fields = |f: &mut Vec<(&'static str, FieldValue)>, item: &Item| {
            f.push(("item", Str(item.kind_name().into())));
            match item {
                Item::Record(r) => {
                    f.push(("key", key(r)));
                    f.push(("value", Int(r.value)));
                    f.push(("ts", Int(r.ts)));
                }
                Item::Watermark(w) => f.push(("ts", Int(*w))),
                Item::Barrier(cp) => f.push(("checkpoint", Int(cp.0 as i64))),
                Item::End => {}
            }
        };
        match self {
            TraceEvent::SourceEmit { task, offset, record } => {
                f.push(("task", Str(job.task_name(*task))));
                f.push(("offset", Int(*offset as i64)));
                f.push(("key", key(record)));
                f.push(("value", Int(record.value)));
                f.push(("ts", Int(record.ts)));
            }
            TraceEvent::Deliver { channel, item } => {
                let ch = &job.channels[channel.index()];
                f.push(("channel", Str(job.channel_name(*channel))));
                f.push(("from", Str(job.task_name(ch.from))));
                f.push(("to", Str(job.task_name(ch.to))));
                item_fields(&mut f, item);
            }
            TraceEvent::Process { task, channel, item } => {
                f.push(("task", Str(job.task_name(*task))));
                f.push(("channel", Str(job.channel_name(*channel))));
                item_fields(&mut f, item);
            }
            TraceEvent::SinkWrite { task, record } => {
                f.push(("task", Str(job.task_name(*task))));
                f.push(("key", key(record)));
                f.push(("value", Int(record.value)));
                f.push(("ts", Int(record.ts)));
            }
            TraceEvent::TxnPrecommitted { task, txn, records }
            | TraceEvent::TxnCommitted { task, txn, records } => {
                f.push(("task", Str(job.task_name(*task))));
                f.push(("txn", Str(txn.to_string())));
                f.push(("records", Int(*records as i64)));
            }
            TraceEvent::TaskFinished { task } => f.push(("task", Str(job.task_name(*task)))),
            TraceEvent::JobFinished => {}
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    Int(i64),
    Str(String),
}

/// FNV-1a 64 with the trace's canonical encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHasher(u64);

impl Default for TraceHasher {
    fn default() -> Self {
        TraceHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHasher {
    #[inline]
    pub fn byte(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    #[inline]
    pub fn u32(&mut self, x: u32) {
        for b in x.to_le_bytes() {
            self.byte(b);
        }
    }

    #[inline]
    pub fn u64(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.byte(b);
        }
    }

    fn record(&mut self, r: Record) {
        self.u32(r.key.0);
        self.u64(r.value as u64);
        self.u64(r.ts as u64);
    }

    fn txn(&mut self, t: TxnId) {
        self.u32(u32::from(t.subtask));
        self.u32(t.attempt);
        self.u32(t.seq);
    }

    fn item(&mut self, item: Item) {
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
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    /// A hash as 16 lowercase hex digits, as reports print it.
    pub fn hex_of(hash: u64) -> String {
        format!("{hash:016x}")
    }
}
