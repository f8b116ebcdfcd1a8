//! What crossed each point of the dataflow, counted by the world (not by the protocol), and
//! where each snapshot cut the flow: the witness that `recoverable_checkpoints` reads to judge
//! every completed checkpoint as a consistent cut in time linear in the run
//! (docs/invariants.md, "How recoverable_checkpoints is checked").
//!
//! The counts are positions in the streams, not tallies of work: a task restored from a
//! checkpoint takes the positions that checkpoint recorded for it (zero from scratch), so a
//! sender's count and its receiver's count on one channel mean the same record whatever
//! happened in between. Counting happens where the world moves records (a send, a record
//! handed to an operator or a sink, a record a source reads), beside the protocol code it
//! judges, never inside it.
//!
//! The flow takes no part in fingerprints or in the explorer, which turns it off: it only
//! records what happened, and nothing reads it while the run goes on.

use crate::graph::Job;
use crate::ids::{ChannelId, CheckpointId, TaskId};
use crate::record::Record;
use crate::scenario::model::OpKind;
use std::collections::BTreeMap;

/// Whether a task of this kind keeps state in its snapshot that its input changes (map,
/// filter and flat_map keep none: what they took shows only in what they sent).
pub fn keeps_state(kind: &OpKind) -> bool {
    !matches!(kind, OpKind::Map(_) | OpKind::Filter(_) | OpKind::FlatMap { .. })
}

/// A multiset of records, as an order-free hash and a count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bag {
    pub hash: u64,
    pub count: u64,
}

impl Bag {
    pub fn add(&mut self, r: &Record) {
        self.hash = self.hash.wrapping_add(crate::record::record_hash(r));
        self.count += 1;
    }

    pub fn merge(&mut self, other: Bag) {
        self.hash = self.hash.wrapping_add(other.hash);
        self.count += other.count;
    }

    pub fn of(records: &[Record]) -> Bag {
        let mut b = Bag::default();
        records.iter().for_each(|r| b.add(r));
        b
    }
}

/// Where one task cut its streams for a checkpoint: when it sent the barrier downstream, and
/// when it took its snapshot (the protocol does both at once, with nothing in between; a
/// broken variant may not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskCut {
    /// Records sent on each output channel (the task's outputs in channel-id order) before
    /// the barrier.
    pub sent: Vec<u64>,
    /// The same, when the snapshot was taken: a task that sent records between its barrier and
    /// its snapshot has state that reflects output downstream does not hold.
    pub sent_at_snapshot: Vec<u64>,
    /// Records handed to the task from each input channel (its inputs in order) before it
    /// sent the barrier: what its output before the barrier reflects.
    pub consumed_at_barrier: Vec<u64>,
    /// Records handed to the task from each input channel before its snapshot: what its
    /// state reflects.
    pub consumed: Vec<u64>,
    /// Whether the task had sent end of data on each output channel before the barrier.
    pub end_sent: Vec<bool>,
    /// Whether the task had taken end of data from each input channel before its snapshot.
    pub end_taken: Vec<bool>,
    /// Sources: records read from the partition.
    pub read: u64,
    /// Sinks: the records handed to the sink.
    pub sink_in: Bag,
}

/// The cut of a completed checkpoint: one per task; `None` where the checkpoint names no
/// state (a restore starts that task from scratch, at position zero).
pub type CheckpointCut = Vec<Option<TaskCut>>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Off (and empty) in the explorer and in restored runs of the checker.
    pub on: bool,
    /// Per channel: records its sender has sent.
    pub sent: Vec<u64>,
    /// Per channel: records its receiver has taken.
    pub consumed: Vec<u64>,
    /// Per channel: whether its sender has sent end of data, and its receiver taken it.
    pub end_sent: Vec<bool>,
    pub end_taken: Vec<bool>,
    /// Per task: records a source has read.
    pub read: Vec<u64>,
    /// Per task: records a sink has taken.
    pub sink_in: Vec<Bag>,
    /// Cuts taken by snapshots of checkpoints that have not completed (yet).
    pending: BTreeMap<(CheckpointId, TaskId), TaskCut>,
    /// Cuts of snapshots that a completed checkpoint does not name yet (`ack_before_upload`).
    late: BTreeMap<(CheckpointId, TaskId), TaskCut>,
    /// The cut of every completed checkpoint, in completion order (as `Store::completed`).
    pub completed: Vec<(CheckpointId, CheckpointCut)>,
    /// Per task: whether it was ever restored from a completed checkpoint's state.
    pub restored: Vec<bool>,
}

impl Flow {
    pub fn new(job: &Job) -> Flow {
        let (c, t) = (job.channels.len(), job.tasks.len());
        Flow {
            on: true,
            sent: vec![0; c],
            consumed: vec![0; c],
            end_sent: vec![false; c],
            end_taken: vec![false; c],
            read: vec![0; t],
            sink_in: vec![Bag::default(); t],
            pending: BTreeMap::new(),
            late: BTreeMap::new(),
            completed: Vec::new(),
            restored: vec![false; t],
        }
    }

    /// Where task `t` is now.
    pub fn cut_of(&self, job: &Job, t: TaskId) -> TaskCut {
        let info = &job.tasks[t.index()];
        let outputs = info
            .outputs
            .iter()
            .flat_map(|o| (0..o.receivers).map(move |j| o.first.0 + u32::from(j)));
        let consumed: Vec<u64> = info.inputs.iter().map(|c| self.consumed[c.index()]).collect();
        let outputs: Vec<usize> = outputs.map(|c| c as usize).collect();
        let sent: Vec<u64> = outputs.iter().map(|&c| self.sent[c]).collect();
        TaskCut {
            end_sent: outputs.iter().map(|&c| self.end_sent[c]).collect(),
            end_taken: info.inputs.iter().map(|c| self.end_taken[c.index()]).collect(),
            sent_at_snapshot: sent.clone(),
            sent,
            consumed_at_barrier: consumed.clone(),
            consumed,
            read: self.read[t.index()],
            sink_in: self.sink_in[t.index()],
        }
    }

    /// Task `t` sent the barrier of `id` downstream.
    pub fn barrier(&mut self, job: &Job, t: TaskId, id: CheckpointId) {
        if self.on {
            let cut = self.cut_of(job, t);
            self.pending.insert((id, t), cut);
        }
    }

    /// Task `t` took its snapshot of `id` (after its barrier, if it sent one).
    pub fn snapshot(&mut self, job: &Job, t: TaskId, id: CheckpointId) {
        if self.on {
            let now = self.cut_of(job, t);
            let cut = self.pending.entry((id, t)).or_insert_with(|| now.clone());
            cut.consumed = now.consumed;
            cut.end_taken = now.end_taken;
            cut.sent_at_snapshot = now.sent_at_snapshot;
            cut.read = now.read;
            cut.sink_in = now.sink_in;
        }
    }

    /// Checkpoint `id` completed; `finished[t]` says which tasks it records as finished (their
    /// cut is where they ended), `named[t]` which it names state for.
    pub fn complete(&mut self, job: &Job, id: CheckpointId, finished: &[bool], named: &[bool]) {
        if !self.on {
            return;
        }
        let cuts = (0..job.tasks.len())
            .map(|i| {
                let t = TaskId(i as u32);
                let taken = self.pending.remove(&(id, t));
                if finished[i] {
                    Some(self.cut_of(job, t))
                } else if named[i] {
                    taken
                } else {
                    if let Some(cut) = taken {
                        self.late.insert((id, t), cut);
                    }
                    None
                }
            })
            .collect();
        self.pending.retain(|(cp, _), _| *cp > id);
        self.completed.push((id, cuts));
    }

    /// A snapshot of `t` for the completed checkpoint `id` landed after the completion (only
    /// the broken variant `ack_before_upload` does this): its cut is the one it took.
    pub fn landed_late(&mut self, t: TaskId, id: CheckpointId) {
        if let Some(cut) = self.late.remove(&(id, t)) {
            if let Some((_, cuts)) = self.completed.iter_mut().find(|(c, _)| *c == id) {
                cuts[t.index()] = Some(cut);
            }
        }
    }

    /// The cut recorded for task `t` in the completed checkpoint `id`.
    pub fn recorded(&self, id: CheckpointId, t: TaskId) -> Option<&TaskCut> {
        let (_, cuts) = self.completed.iter().find(|(c, _)| *c == id)?;
        cuts[t.index()].as_ref()
    }

    /// Task `t` restarts from `cut` (from scratch when `None`): it takes the positions the
    /// checkpoint recorded.
    pub fn restore(&mut self, job: &Job, t: TaskId, cut: Option<TaskCut>) {
        if !self.on {
            return;
        }
        self.restored[t.index()] |= cut.is_some();
        let cut = cut.unwrap_or_default();
        let info = &job.tasks[t.index()];
        let mut k = 0;
        for o in &info.outputs {
            for j in 0..o.receivers {
                let c = (o.first.0 + u32::from(j)) as usize;
                self.sent[c] = cut.sent.get(k).copied().unwrap_or(0);
                self.end_sent[c] = cut.end_sent.get(k).copied().unwrap_or(false);
                k += 1;
            }
        }
        // The task resumes where what it restored took it: its state (the snapshot), or, for a
        // task that keeps none, its output (the barrier).
        let taken = if keeps_state(&job.operator_of(t).kind) {
            &cut.consumed
        } else {
            &cut.consumed_at_barrier
        };
        for (i, c) in info.inputs.iter().enumerate() {
            self.consumed[c.index()] = taken.get(i).copied().unwrap_or(0);
            self.end_taken[c.index()] = cut.end_taken.get(i).copied().unwrap_or(false);
        }
        self.read[t.index()] = cut.read;
        self.sink_in[t.index()] = cut.sink_in;
    }

    /// `tasks` were just redeployed together: every channel between two of them is empty, so
    /// its receiver is where its sender is (after an at-least-once checkpoint the receiver's
    /// snapshot may have taken more than the sender had sent; the surplus is replayed).
    pub fn drained(&mut self, job: &Job, tasks: &[TaskId]) {
        if !self.on {
            return;
        }
        for (c, info) in job.channels.iter().enumerate() {
            if tasks.contains(&info.from) && tasks.contains(&info.to) {
                self.consumed[c] = self.sent[c];
                self.end_taken[c] = self.end_sent[c];
            }
        }
    }

    /// Whether every task was restored from a completed checkpoint's state at least once.
    pub fn every_task_restored(&self) -> bool {
        self.restored.iter().all(|&r| r)
    }

    #[inline]
    pub fn on_send(&mut self, c: ChannelId) {
        if self.on {
            self.sent[c.index()] += 1;
        }
    }

    /// End of data was sent on channel `c` (`sent`) or taken from it.
    pub fn on_end(&mut self, c: ChannelId, sent: bool) {
        if self.on {
            let v = if sent { &mut self.end_sent } else { &mut self.end_taken };
            v[c.index()] = true;
        }
    }

    #[inline]
    pub fn on_consume(&mut self, c: ChannelId) {
        if self.on {
            self.consumed[c.index()] += 1;
        }
    }

    #[inline]
    pub fn on_read(&mut self, t: TaskId) {
        if self.on {
            self.read[t.index()] += 1;
        }
    }

    #[inline]
    pub fn on_sink(&mut self, t: TaskId, r: &Record) {
        if self.on {
            self.sink_in[t.index()].add(r);
        }
    }
}
