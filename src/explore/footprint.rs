//! What an event reads and writes: the dependency relation of partial-order reduction.
//!
//! The world is split into **resources**: each task's own state, whether a task counts as
//! finished or failed for the coordinator's plan, each task's upload in flight, the two ends of
//! each channel (the sender's side: output queue and wire; the receiver's side: the input
//! queue), each sink's external system, the coordinator, the checkpoint store (completed
//! checkpoints, the id counter, the uploaded snapshots) and one virtual resource, `durable`,
//! for everything a crash leaves behind (see [`Res::Durable`]).
//!
//! An event's [`Footprint`] names the resources it reads (`r`), writes (`w`), or changes in a
//! way that commutes with every other change of that kind (`a`, for "append"): a sender
//! pushing onto a channel and the receiver taking from the other end and pumping, or two
//! snapshots of different tasks landing in the store. Two footprints **conflict** when one
//! writes what the other touches, or one reads what the other appends to. Events whose
//! footprints do not conflict are **independent**: in every state where both can happen,
//! either order gives the same world and neither disables the other. That claim is checked,
//! not trusted: `explore::check` applies both orders on every state of the test fixtures.
//!
//! A footprint also covers what decides *how* the event acts (a delivery reads the
//! receiver's input gate, an acknowledgement reads the coordinator's pending checkpoint), so
//! that an independent event can never change another event's footprint: the reduction
//! relies on that when it reasons about events that happen later.
//!
//! Events whose effects reach far (a fault, a restart, a timeout, a decline) are `global`:
//! they conflict with everything.

use crate::graph::Job;
use crate::ids::{ChannelId, TaskId};
use crate::protocol::coordinator::CoordTimer;
use crate::scenario::model::{CheckpointMode, Delivery, Mutation, OpKind};
use crate::world::channel::Item;
use crate::world::{Control, Event, TaskKind, TaskStatus, TimerKind, World};

/// A set of resources: a fixed 256-bit set. A job with more resources than that folds them
/// onto the same bits, which can only make independent events look dependent (less
/// reduction, never unsound).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits([u64; 4]);

impl Bits {
    fn add(&mut self, r: u32) {
        let r = r % 256;
        self.0[(r / 64) as usize] |= 1 << (r % 64);
    }

    fn meets(&self, o: &Bits) -> bool {
        self.0.iter().zip(&o.0).any(|(a, b)| a & b != 0)
    }

    fn union(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }

    /// Whether resource `r` is in the set.
    pub fn has(&self, r: u32) -> bool {
        let r = r % 256;
        self.0[(r / 64) as usize] & (1 << (r % 64)) != 0
    }
}

/// What an event touches (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Conflicts with everything.
    pub global: bool,
    /// Written.
    pub w: Bits,
    /// Read.
    pub r: Bits,
    /// Changed in a way that commutes with every other `a` change of the same resource.
    pub a: Bits,
}

impl Footprint {
    pub const GLOBAL: Footprint =
        Footprint { global: true, w: Bits([0; 4]), r: Bits([0; 4]), a: Bits([0; 4]) };
    pub const NONE: Footprint =
        Footprint { global: false, w: Bits([0; 4]), r: Bits([0; 4]), a: Bits([0; 4]) };

    pub fn is_global(&self) -> bool {
        self.global
    }

    pub fn is_empty(&self) -> bool {
        !self.global && *self == Footprint::NONE
    }

    pub(crate) fn write(&mut self, r: u32) {
        self.w.add(r);
    }

    pub(crate) fn read(&mut self, r: u32) {
        self.r.add(r);
    }

    pub(crate) fn append(&mut self, r: u32) {
        self.a.add(r);
    }

    /// Everything either touches (the union).
    pub fn join(&mut self, o: &Footprint) {
        self.global |= o.global;
        self.w.union(&o.w);
        self.r.union(&o.r);
        self.a.union(&o.a);
    }

    /// Whether the two may not commute: one writes what the other touches, or one reads
    /// what the other appends to.
    pub fn conflicts(&self, o: &Footprint) -> bool {
        if self.global || o.global {
            return true;
        }
        let touched = |f: &Footprint| {
            let mut b = f.w;
            b.union(&f.r);
            b.union(&f.a);
            b
        };
        self.w.meets(&touched(o))
            || o.w.meets(&touched(self))
            || self.r.meets(&o.a)
            || self.a.meets(&o.r)
    }

    pub fn independent(&self, o: &Footprint) -> bool {
        !self.conflicts(o)
    }
}

/// Resource numbering for one job.
#[derive(Clone, Copy)]
pub struct Res<'a>(pub &'a Job);

/// The singleton resources, after the per-task, per-channel and per-operator ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Single {
    Coordinator,
    /// The completed checkpoints (and the metadata a completion writes).
    StoreCompleted,
    /// The checkpoint id counter and the number of checkpoints triggered (the budget).
    StoreNext,
    /// Snapshots uploaded for pending checkpoints.
    Uploaded,
    /// Everything a crash with a full failover leaves behind (completed checkpoints, sink
    /// outputs, the id counter, whether the job finished): written by every event that
    /// changes it, so that those events are ordered among themselves. Only used while the
    /// explorer may still inject such a crash (see `stubborn`).
    Durable,
}

impl Res<'_> {
    fn t(&self) -> u32 {
        self.0.tasks.len() as u32
    }

    fn c(&self) -> u32 {
        self.0.channels.len() as u32
    }

    /// A task's own state: operator state, source position, the sink's open transaction,
    /// barrier handler, round-robin positions.
    pub fn task(&self, t: TaskId) -> u32 {
        t.0
    }

    /// A task's input gate: which inputs are ready, blocked, ended.
    pub fn gate(&self, t: TaskId) -> u32 {
        self.t() + t.0
    }

    /// A task's checkpoint bookkeeping: its checkpointer, its final checkpoint, a sink's
    /// pre-committed transactions awaiting their completion notice.
    pub fn ckpt(&self, t: TaskId) -> u32 {
        2 * self.t() + t.0
    }

    /// A task's status (running, finishing, finished).
    pub fn status(&self, t: TaskId) -> u32 {
        3 * self.t() + t.0
    }

    /// Whether a task is finished or failed: what the coordinator's checkpoint plan reads.
    pub fn plan(&self, t: TaskId) -> u32 {
        4 * self.t() + t.0
    }

    /// The task's upload in flight (an abort notice cancels it).
    pub fn upload_of(&self, t: TaskId) -> u32 {
        5 * self.t() + t.0
    }

    /// The sender's side of a channel: its output queue and the wire.
    pub fn chan_tail(&self, c: ChannelId) -> u32 {
        6 * self.t() + c.0
    }

    /// The receiver's side of a channel: its input queue.
    pub fn chan_in(&self, c: ChannelId) -> u32 {
        6 * self.t() + self.c() + c.0
    }

    /// A sink operator's external system.
    pub fn output(&self, op: usize) -> u32 {
        6 * self.t() + 2 * self.c() + op as u32
    }

    pub fn single(&self, s: Single) -> u32 {
        6 * self.t() + 2 * self.c() + self.0.scenario.operators.len() as u32 + s as u32
    }
}

/// How the footprint of an event is computed: whether the durable part is tracked.
#[derive(Clone, Copy)]
pub struct Fp<'a> {
    pub job: &'a Job,
    pub res: Res<'a>,
    /// Events that change what a crash leaves behind write [`Single::Durable`].
    pub durable: bool,
    /// The last task's finish drops what is in flight (always, but for the verification
    /// mode's check that independent events leave each other's footprint alone: finishing
    /// the job absorbs every other event, see `explore::check`).
    pub finish_drops: bool,
    /// A deliberately wrong relation for the verification mode's own test: a delivery that
    /// claims not to touch the receiver's input gate.
    #[cfg(test)]
    pub(crate) broken: bool,
}

impl<'a> Fp<'a> {
    pub fn new(job: &'a Job, durable: bool) -> Fp<'a> {
        Fp {
            job,
            res: Res(job),
            durable,
            finish_drops: true,
            #[cfg(test)]
            broken: false,
        }
    }

    fn checkpointing(&self) -> bool {
        self.job.scenario.checkpointing.mode != CheckpointMode::Disabled
    }

    fn mutated(&self, m: Mutation) -> bool {
        self.job.scenario.mutations.contains(&m)
    }

    pub(crate) fn durable(&self, f: &mut Footprint) {
        if self.durable {
            f.write(self.res.single(Single::Durable));
        }
    }

    /// The channels a task sends on, appended to.
    pub fn outputs(&self, t: TaskId, f: &mut Footprint) {
        for o in &self.job.tasks[t.index()].outputs {
            for j in 0..u32::from(o.receivers) {
                f.append(self.res.chan_tail(ChannelId(o.first.0 + j)));
            }
        }
    }

    fn sink_op(&self, t: TaskId) -> Option<(usize, Delivery)> {
        match self.job.operator_of(t).kind {
            OpKind::Sink { delivery } => Some((self.job.tasks[t.index()].op.index(), delivery)),
            _ => None,
        }
    }

    /// A sink writes its external system (a pre-commit, a commit, a visible write).
    pub fn sink_write(&self, t: TaskId, f: &mut Footprint) {
        if let Some((op, _)) = self.sink_op(t) {
            f.write(self.res.output(op));
            self.durable(f);
        }
    }

    /// A task takes a snapshot (reading its status: a finishing task records its final
    /// checkpoint): a sink pre-commits (and, under `commit_on_snapshot`, commits, reading the
    /// store to check `commit_after_complete`).
    pub fn snapshot(&self, t: TaskId, f: &mut Footprint) {
        f.write(self.res.task(t));
        f.write(self.res.ckpt(t));
        f.read(self.res.status(t));
        if self.sink_op(t).is_some() {
            self.sink_write(t, f);
            if self.mutated(Mutation::CommitOnSnapshot) {
                f.read(self.res.single(Single::StoreCompleted));
            }
        }
    }

    /// A task finishes: the plan changes, it sends end of partition, and the coordinator
    /// counts it as acknowledged (`completes`: which completes a checkpoint). If it is the last
    /// task to finish (`last`), the job finishes and what is still in flight is dropped (see
    /// `World::finish`): every channel's two sides.
    pub fn finish(&self, t: TaskId, last: bool, coord: bool, completes: bool, f: &mut Footprint) {
        if last && self.finish_drops {
            // Dropping what is in flight absorbs every event that only moves it along (a
            // delivery, an upload, a message to a finished task): appends. What would outlive
            // the finish (the coordinator's state, the store) must not be reordered with it.
            for c in 0..self.job.channels.len() {
                let c = ChannelId(c as u32);
                f.append(self.res.chan_tail(c));
                f.append(self.res.chan_in(c));
            }
            f.append(self.res.single(Single::Uploaded));
            f.write(self.res.single(Single::Coordinator));
            f.write(self.res.single(Single::StoreNext));
            f.write(self.res.single(Single::StoreCompleted));
        }
        f.write(self.res.plan(t));
        f.write(self.res.status(t));
        self.outputs(t, f);
        self.durable(f);
        if coord {
            // The coordinator counts it as acknowledged (only with a checkpoint pending or a
            // request queued does that change anything).
            self.coordinator(true, f);
            if completes {
                self.completion(f);
            }
        }
    }

    /// The coordinator completes a checkpoint: it writes the store, reads every sink's
    /// external system and every task's status, and may trigger a queued checkpoint.
    pub fn completion(&self, f: &mut Footprint) {
        let res = self.res;
        f.write(res.single(Single::Coordinator));
        f.write(res.single(Single::StoreCompleted));
        f.write(res.single(Single::StoreNext));
        f.write(res.single(Single::Uploaded));
        for op in self.job.sinks() {
            f.read(res.output(op.index()));
        }
        for t in 0..self.job.tasks.len() {
            f.read(res.plan(TaskId(t as u32)));
        }
        self.durable(f);
    }

    /// The coordinator receives an acknowledgement or a trigger timer fires, without
    /// completing or triggering: it updates its own state (and, if a request is queued, its
    /// plan, reading every task's status).
    pub fn coordinator(&self, plan: bool, f: &mut Footprint) {
        f.write(self.res.single(Single::Coordinator));
        if plan {
            for t in 0..self.job.tasks.len() {
                f.read(self.res.plan(TaskId(t as u32)));
            }
        }
    }

    /// A checkpoint is triggered: the id counter and the budget.
    pub fn trigger(&self, f: &mut Footprint) {
        self.coordinator(true, f);
        f.write(self.res.single(Single::StoreNext));
        self.durable(f);
    }

    /// The footprint of `e` in `w`.
    pub fn of(&self, w: &World, e: Event) -> Footprint {
        let res = self.res;
        let job = self.job;
        let mut f = Footprint::NONE;
        match e {
            Event::Deliver(c) => {
                let to = job.channels[c.index()].to;
                f.append(res.chan_tail(c));
                f.read(res.status(to));
                if w.tasks[to.index()].status != TaskStatus::Finished {
                    // Into the input queue; the input gate may list the input as ready.
                    // (A finished receiver drops it; the credit returns at once.)
                    f.append(res.chan_in(c));
                    f.write(res.gate(to));
                    #[cfg(test)]
                    if self.broken {
                        f.w = Bits::default();
                    }
                }
            }
            Event::Step(t) => return self.step(w, t),
            Event::Upload(id) => {
                let Some(u) = w.uploads.iter().find(|u| u.id == id) else {
                    return Footprint::GLOBAL;
                };
                // Stores the snapshot (keyed by checkpoint and task) and acknowledges.
                f.append(res.single(Single::Uploaded));
                f.read(res.upload_of(u.task));
                if self.mutated(Mutation::AckBeforeUpload) {
                    // The write may land in a checkpoint that completed already.
                    f.write(res.single(Single::StoreCompleted));
                    self.durable(&mut f);
                }
            }
            Event::Control(id) => {
                let Some(m) = w.control.iter().find(|m| m.id == id) else {
                    return Footprint::GLOBAL;
                };
                return self.control(w, m.body);
            }
            Event::Timer(id) => {
                let Some(t) = w.timers.iter().find(|t| t.id == id) else {
                    return Footprint::GLOBAL;
                };
                match t.kind {
                    TimerKind::Coord(CoordTimer::Trigger) => {
                        let Some(coord) = w.coordinator.as_ref() else {
                            return Footprint::NONE;
                        };
                        let slots = coord.config().max_concurrent.max(1) as usize;
                        if coord.is_scheduling() && coord.pending().len() < slots {
                            self.trigger(&mut f);
                            if w.tasks.iter().all(|t| t.status == TaskStatus::Finished) {
                                // With nothing to wait for it would complete at once.
                                self.completion(&mut f);
                            }
                        } else {
                            // Queued (or stale): the coordinator's own state and plan.
                            self.coordinator(true, &mut f);
                        }
                    }
                    _ => return Footprint::GLOBAL,
                }
            }
            Event::Inject(_) => return Footprint::GLOBAL,
        }
        f
    }

    fn control(&self, w: &World, body: Control) -> Footprint {
        let res = self.res;
        let mut f = Footprint::NONE;
        match body {
            Control::Trigger { task, attempt, .. } => {
                let s = &w.tasks[task.index()];
                // Whether the message is dropped reads the task's status.
                f.read(res.status(task));
                if s.attempt != attempt
                    || matches!(s.status, TaskStatus::Failed | TaskStatus::Finished)
                {
                    return f;
                }
                self.snapshot(task, &mut f);
                self.outputs(task, &mut f);
                if !matches!(s.kind, TaskKind::Source(_)) {
                    // A barrier handler triggered by the coordinator may block inputs.
                    f.write(res.gate(task));
                }
            }
            Control::Ack { task, attempt, checkpoint } => {
                let Some(coord) = w.coordinator.as_ref() else { return Footprint::GLOBAL };
                if w.tasks[task.index()].attempt != attempt {
                    return f;
                }
                // Its plan is updated only while a request is queued.
                self.coordinator(coord.has_queued_request(), &mut f);
                let completes = coord.waiting_for(checkpoint).is_some_and(|waiting| {
                    waiting.contains(&task)
                        && (waiting.len() == 1 || coord.config().complete_on_first_ack)
                }) && !coord.is_finalizing(checkpoint);
                if completes {
                    self.completion(&mut f);
                }
            }
            Control::NotifyComplete { task, attempt, checkpoint } => {
                let s = &w.tasks[task.index()];
                f.read(res.status(task));
                if s.attempt != attempt
                    || !matches!(s.status, TaskStatus::Running | TaskStatus::Finishing)
                {
                    return f;
                }
                // The checkpointer, a sink's pending transactions, the final checkpoint.
                f.write(res.ckpt(task));
                if let TaskKind::Sink(sink) = &s.kind {
                    if sink.pending().iter().any(|(cp, _)| *cp <= checkpoint) {
                        // Commits: checked against the store (`commit_after_complete`).
                        self.sink_write(task, &mut f);
                        f.read(res.single(Single::StoreCompleted));
                    }
                }
                if s.status == TaskStatus::Finishing
                    && s.final_checkpoint.is_some_and(|c| c <= checkpoint)
                {
                    // Finishing counts as acknowledging every pending checkpoint.
                    let completes = w.coordinator.as_ref().is_some_and(|c| {
                        c.pending().iter().any(|&id| {
                            c.waiting_for(id).is_some_and(|ws| ws == [task]) && !c.is_finalizing(id)
                        })
                    });
                    let coord = w
                        .coordinator
                        .as_ref()
                        .is_some_and(|c| !c.pending().is_empty() || c.has_queued_request());
                    self.finish(task, last_task(w, task), coord, completes, &mut f);
                }
            }
            Control::NotifyAborted { .. } | Control::Decline { .. } => return Footprint::GLOBAL,
        }
        f
    }

    fn step(&self, w: &World, t: TaskId) -> Footprint {
        let res = self.res;
        let job = self.job;
        let state = &w.tasks[t.index()];
        let info = &job.tasks[t.index()];
        let mut f = Footprint::NONE;
        f.write(res.task(t));
        match &state.kind {
            TaskKind::Source(s) => {
                let OpKind::Source(def) = &job.operator_of(t).kind else {
                    return Footprint::GLOBAL;
                };
                self.outputs(t, &mut f);
                if self.mutated(Mutation::NoSourceRewind) {
                    self.durable(&mut f); // the highest offset read survives a crash
                }
                let end = s.offset >= def.partitions[usize::from(info.subtask)].len() as u64;
                if end {
                    f.write(res.status(t)); // finishing
                    if !self.checkpointing() {
                        self.finish(t, last_task(w, t), false, false, &mut f);
                    }
                }
            }
            _ => {
                let Some(&input) = state.gate.ready.front() else { return Footprint::GLOBAL };
                let c = info.inputs[usize::from(input)];
                // Takes from the input queue; the freed place lets the sender's side move. A
                // finished task does not step: its status is read.
                f.write(res.gate(t));
                f.read(res.status(t));
                f.append(res.chan_in(c));
                f.append(res.chan_tail(c));
                let item = w.channels[c.index()].input.front().copied();
                match item {
                    Some(Item::Record(_)) => {
                        self.outputs(t, &mut f);
                        if let Some((_, delivery)) = self.sink_op(t) {
                            if delivery != Delivery::ExactlyOnce || !self.checkpointing() {
                                self.sink_write(t, &mut f); // visible at once
                            }
                        }
                    }
                    Some(Item::Watermark(_)) => self.outputs(t, &mut f),
                    Some(Item::EndOfData) | Some(Item::End) if !self.checkpointing() => {
                        // May end the input: final results, then the task finishes.
                        self.outputs(t, &mut f);
                        self.sink_write(t, &mut f);
                        self.finish(t, last_task(w, t), false, false, &mut f);
                    }
                    Some(Item::EndOfData) => {
                        // May end the input: final results, then the task is finishing.
                        self.outputs(t, &mut f);
                        f.write(res.status(t));
                    }
                    Some(Item::Barrier(_) | Item::Cancel(_) | Item::End) => {
                        // Alignment blocks and resumes inputs (reading whether each has
                        // data), a snapshot, barriers or cancel markers downstream, an
                        // aborted upload.
                        for &i in &info.inputs {
                            f.read(res.chan_in(i));
                        }
                        f.write(res.upload_of(t));
                        self.snapshot(t, &mut f);
                        self.outputs(t, &mut f);
                        if self.mutated(Mutation::SnapshotAfterBarrierRecords) {
                            for &i in &info.inputs {
                                f.write(res.chan_in(i));
                                f.append(res.chan_tail(i));
                            }
                            self.sink_write(t, &mut f);
                        }
                    }
                    None => return Footprint::GLOBAL,
                }
            }
        }
        f
    }
}

/// Whether every task but `t` has finished: `t` finishing finishes the job.
fn last_task(w: &World, t: TaskId) -> bool {
    w.tasks.iter().enumerate().all(|(i, s)| i == t.index() || s.status == TaskStatus::Finished)
}
