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
use std::collections::BTreeMap;

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
    /// Records handed to the task from each input channel (its inputs in order) before it
    /// sent the barrier: what its output before the barrier reflects.
    pub consumed_at_barrier: Vec<u64>,
    /// Records handed to the task from each input channel before its snapshot: what its
    /// state reflects.
    pub consumed: Vec<u64>,
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
    /// Whether some task was restored from a completed checkpoint during the run.
    pub restored: bool,
}

impl Flow {
    pub fn new(job: &Job) -> Flow {
        let (c, t) = (job.channels.len(), job.tasks.len());
        Flow {
            on: true,
            sent: vec![0; c],
            consumed: vec![0; c],
            read: vec![0; t],
            sink_in: vec![Bag::default(); t],
            pending: BTreeMap::new(),
            late: BTreeMap::new(),
            completed: Vec::new(),
            restored: false,
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
        TaskCut {
            sent: outputs.map(|c| self.sent[c as usize]).collect(),
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
        self.restored |= cut.is_some();
        let cut = cut.unwrap_or_default();
        let info = &job.tasks[t.index()];
        let mut k = 0;
        for o in &info.outputs {
            for j in 0..o.receivers {
                self.sent[(o.first.0 + u32::from(j)) as usize] =
                    cut.sent.get(k).copied().unwrap_or(0);
                k += 1;
            }
        }
        // The restored state is the snapshot's, so the task resumes where the snapshot took it.
        for (i, c) in info.inputs.iter().enumerate() {
            self.consumed[c.index()] = cut.consumed.get(i).copied().unwrap_or(0);
        }
        self.read[t.index()] = cut.read;
        self.sink_in[t.index()] = cut.sink_in;
    }

    #[inline]
    pub fn on_send(&mut self, c: ChannelId) {
        if self.on {
            self.sent[c.index()] += 1;
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
