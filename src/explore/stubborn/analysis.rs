//! The analysis of one state: what may still happen on paths of events outside a set of
//! templates, necessary enabling sets, and the closure that grows a stubborn set.

use super::{template_of, tpl_index, Tpl};
use crate::explore::footprint::{Footprint, Fp};
use crate::graph::Job;
use crate::ids::{CheckpointId, TaskId};
use crate::protocol::coordinator::CoordTimer;
use crate::scenario::model::{CheckpointMode, Mutation, OpKind};
use crate::world::channel::Item;
use crate::world::{Control, Event, TaskKind, TaskStatus, TimerKind, World};

/// A state's facts that the bounds read, computed once.
pub(super) struct Analysis<'a> {
    job: &'a Job,
    w: &'a World,
    fp: Fp<'a>,
    pub(super) tasks: usize,
    pub(super) channels: usize,
    /// The pending checkpoint (at most one in a calm state) and the tasks it waits for.
    pending: Option<(CheckpointId, Vec<TaskId>)>,
    queued: bool,
    checkpointing: bool,
    first_ack: bool,
    ack_before_upload: bool,
    timer: bool,
    /// The trigger timer is held back by the checkpoint budget now; `None` if it can never
    /// fire again within the budget, `Some(false)` if it may fire now.
    held: Option<bool>,
    trigger_msg: Vec<bool>,
    /// A trigger of the pending checkpoint to the task is in flight.
    trigger_msg_cp: Vec<bool>,
    /// An acknowledgement of the pending checkpoint from the task is in flight.
    ack_msg: Vec<bool>,
    any_ack_msg: Vec<bool>,
    notify_msg: Vec<bool>,
    /// A completion notice in flight to the task would finish it.
    notify_finishes: Vec<bool>,
    /// An upload of the pending checkpoint by the task is in flight.
    upload: Vec<bool>,
    any_upload: Vec<bool>,
    /// A barrier or end of partition is somewhere on a channel.
    barrier_items: bool,
    /// For each task the pending checkpoint waits for: what must happen before it
    /// acknowledges (see [`Analysis::chain`]).
    chains: Vec<(TaskId, Vec<Tpl>)>,
    /// What the bounds computed for the current `T` (cleared whenever `T` grows): 0 unknown,
    /// 1 false, 2 true; in the order completion, trigger, new triggers, barriers.
    memo: [std::cell::Cell<u8>; 4],
    /// Enabled events by template index.
    pub(super) enabled: Vec<Vec<usize>>,
    /// The footprint of the enabled events of each template.
    cur: Vec<Footprint>,
}

impl<'a> Analysis<'a> {
    fn count(&self) -> usize {
        5 * self.tasks + self.channels + 1
    }

    fn index(&self, t: Tpl) -> usize {
        tpl_index(t, self.tasks, self.channels)
    }

    fn tpl(&self, i: usize) -> Tpl {
        let (n, c) = (self.tasks, self.channels);
        let task = |j: usize| TaskId(j as u32);
        match i {
            _ if i < n => Tpl::Step(task(i)),
            _ if i < n + c => Tpl::Deliver(crate::ids::ChannelId((i - n) as u32)),
            _ if i < 2 * n + c => Tpl::Trigger(task(i - n - c)),
            _ if i < 3 * n + c => Tpl::Ack(task(i - 2 * n - c)),
            _ if i < 4 * n + c => Tpl::Notify(task(i - 3 * n - c)),
            _ if i < 5 * n + c => Tpl::Upload(task(i - 4 * n - c)),
            _ => Tpl::TriggerTimer,
        }
    }

    fn status(&self, t: TaskId) -> TaskStatus {
        self.w.tasks[t.index()].status
    }

    fn is_source(&self, t: TaskId) -> bool {
        matches!(self.w.tasks[t.index()].kind, TaskKind::Source(_))
    }

    // ---- what may still happen on paths of events outside `T` -------------------------

    /// `f`'s answer for the current `T`, remembered in slot `i` until `T` grows.
    fn memo(&self, i: usize, f: impl FnOnce() -> bool) -> bool {
        match self.memo[i].get() {
            1 => false,
            2 => true,
            _ => {
                let v = f();
                self.memo[i].set(1 + u8::from(v));
                v
            }
        }
    }

    fn forget(&self) {
        for m in &self.memo {
            m.set(0);
        }
    }

    fn trigger_possible(&self, t: &[bool]) -> bool {
        self.memo(1, || self.trigger_possible_now(t))
    }

    fn trigger_possible_now(&self, t: &[bool]) -> bool {
        if !self.timer || t[self.index(Tpl::TriggerTimer)] {
            return false;
        }
        match self.held {
            Some(false) => true,
            // Held back while a source reads: every running source must reach its end first.
            Some(true) => (0..self.tasks).all(|i| {
                let u = TaskId(i as u32);
                !(self.is_source(u)
                    && self.status(u) == TaskStatus::Running
                    && t[self.index(Tpl::Step(u))])
            }),
            None => false,
        }
    }

    /// Templates one of which must happen before task `u` acknowledges the pending
    /// checkpoint or finishes (which counts as an acknowledgement).
    /// (Only what can still do it: the task's snapshot of the pending checkpoint comes from
    /// a barrier, or from a trigger of that checkpoint already in flight; its finish from a
    /// completion notice already in flight, since no other checkpoint can complete first.)
    fn chain(&self, u: TaskId, out: &mut Vec<Tpl>) {
        if let Some((_, c)) = self.chains.iter().find(|(x, _)| *x == u) {
            out.extend_from_slice(c);
            return;
        }
        self.chain_of(u, out);
    }

    fn chain_of(&self, u: TaskId, out: &mut Vec<Tpl>) {
        if self.ack_msg[u.index()] {
            out.push(Tpl::Ack(u));
        } else if self.upload[u.index()] {
            out.push(Tpl::Upload(u));
        } else {
            if !self.is_source(u) {
                out.push(Tpl::Step(u));
            }
            if self.trigger_msg_cp[u.index()] {
                out.push(Tpl::Trigger(u));
            }
        }
        if self.notify_finishes[u.index()] {
            out.push(Tpl::Notify(u));
        }
    }

    fn blocked(&self, u: TaskId, t: &[bool]) -> bool {
        match self.chains.iter().find(|(x, _)| *x == u) {
            Some((_, c)) => c.iter().all(|x| t[self.index(*x)]),
            None => {
                let mut c = Vec::with_capacity(3);
                self.chain_of(u, &mut c);
                c.iter().all(|x| t[self.index(*x)])
            }
        }
    }

    /// Whether a checkpoint may complete on a path outside `T`.
    fn completion_possible(&self, t: &[bool]) -> bool {
        self.memo(0, || self.completion_possible_now(t))
    }

    fn completion_possible_now(&self, t: &[bool]) -> bool {
        match &self.pending {
            Some((_, waiting)) if self.first_ack => waiting.iter().any(|u| !self.blocked(*u, t)),
            Some((_, waiting)) => waiting.iter().all(|u| !self.blocked(*u, t)),
            None => self.trigger_possible(t),
        }
    }

    /// Whether the coordinator may send new trigger messages on a path outside `T`.
    fn new_triggers_possible(&self, t: &[bool]) -> bool {
        self.memo(2, || self.new_triggers_possible_now(t))
    }

    fn new_triggers_possible_now(&self, t: &[bool]) -> bool {
        if self.pending.is_some() {
            self.completion_possible(t) && (self.queued || self.trigger_possible(t))
        } else {
            self.trigger_possible(t)
        }
    }

    /// Whether a trigger message may reach `u` on a path outside `T`: one is in flight, or
    /// the coordinator may send new ones and `u` is a source or every task upstream of it may
    /// have finished by then (the plan triggers only those).
    fn trigger_msg_possible(&self, u: TaskId, t: &[bool]) -> bool {
        if self.trigger_msg[u.index()] {
            return true;
        }
        if !self.new_triggers_possible(t) {
            return false;
        }
        if self.is_source(u) {
            return true;
        }
        let later = self.completion_possible(t) || self.trigger_possible(t);
        self.job.tasks[u.index()].inputs.iter().all(|c| {
            let v = self.job.channels[c.index()].from;
            match self.status(v) {
                TaskStatus::Finished => true,
                TaskStatus::Finishing => {
                    !t[self.index(Tpl::Notify(v))] && (self.notify_msg[v.index()] || later)
                }
                TaskStatus::Running => {
                    !t[self.index(Tpl::Step(v))] && !t[self.index(Tpl::Notify(v))] && later
                }
                TaskStatus::Failed => false,
            }
        })
    }

    /// Whether some task may still send a barrier or end of partition downstream.
    fn barriers_possible(&self, t: &[bool]) -> bool {
        self.memo(3, || self.barriers_possible_now(t))
    }

    fn barriers_possible_now(&self, t: &[bool]) -> bool {
        if self.barrier_items {
            return true;
        }
        let completion = self.completion_possible(t);
        let triggers = self.new_triggers_possible(t);
        (0..self.tasks).any(|i| {
            let u = TaskId(i as u32);
            (!t[self.index(Tpl::Trigger(u))] && (self.trigger_msg[i] || triggers))
                || (self.status(u) == TaskStatus::Finishing
                    && !t[self.index(Tpl::Notify(u))]
                    && (self.notify_msg[i] || completion))
        })
    }

    fn snapshot_possible(&self, u: TaskId, t: &[bool]) -> bool {
        (!t[self.index(Tpl::Trigger(u))] && self.trigger_msg_possible(u, t))
            || (!self.is_source(u) && !t[self.index(Tpl::Step(u))] && self.barriers_possible(t))
    }

    fn uploads_possible(&self, u: TaskId, t: &[bool]) -> bool {
        self.any_upload[u.index()] || self.snapshot_possible(u, t)
    }

    fn acks_possible(&self, u: TaskId, t: &[bool]) -> bool {
        self.any_ack_msg[u.index()]
            || (!t[self.index(Tpl::Upload(u))] && self.uploads_possible(u, t))
            || (self.ack_before_upload && self.snapshot_possible(u, t))
    }

    fn notify_possible(&self, u: TaskId, t: &[bool]) -> bool {
        self.notify_msg[u.index()] || self.completion_possible(t)
    }

    /// Whether `u` may be the last task to finish on a path outside `T` (every other task has
    /// finished, or may finish there).
    fn last_possible(&self, u: TaskId, t: &[bool]) -> bool {
        let later = self.completion_possible(t) || self.trigger_possible(t);
        (0..self.tasks).all(|i| {
            let v = TaskId(i as u32);
            v == u
                || match self.status(v) {
                    TaskStatus::Finished => true,
                    TaskStatus::Finishing => {
                        !t[self.index(Tpl::Notify(v))] && (self.notify_finishes[i] || later)
                    }
                    TaskStatus::Running if !self.checkpointing => !t[self.index(Tpl::Step(v))],
                    TaskStatus::Running => {
                        !t[self.index(Tpl::Step(v))] && !t[self.index(Tpl::Notify(v))] && later
                    }
                    TaskStatus::Failed => false,
                }
        })
    }

    fn finishing_possible(&self, u: TaskId, t: &[bool]) -> bool {
        match self.status(u) {
            TaskStatus::Finishing => true,
            TaskStatus::Running => !t[self.index(Tpl::Step(u))],
            _ => false,
        }
    }

    /// A bound on what template `h` may touch on any path of events outside `t`
    /// (`Footprint::NONE` if it cannot happen there at all).
    fn may(&self, h: Tpl, t: &[bool]) -> Footprint {
        let fp = &self.fp;
        let job = self.job;
        let mut f = Footprint::NONE;
        match h {
            Tpl::Step(u) => {
                let s = &self.w.tasks[u.index()];
                let info = &job.tasks[u.index()];
                match (&s.kind, s.status) {
                    (_, TaskStatus::Finished | TaskStatus::Failed) => return f,
                    (TaskKind::Source(src), TaskStatus::Running) => {
                        let OpKind::Source(def) = &job.operator_of(u).kind else {
                            return Footprint::GLOBAL;
                        };
                        if src.offset > def.partitions[usize::from(info.subtask)].len() as u64 {
                            return f;
                        }
                        f.join(&fp.of_step_bound(u, false, self.last_possible(u, t)));
                    }
                    (TaskKind::Source(_), _) => return f,
                    _ => {
                        let last = self.last_possible(u, t);
                        f.join(&fp.of_step_bound(u, self.barriers_possible(t), last));
                    }
                }
            }
            Tpl::Deliver(c) => {
                let to = job.channels[c.index()].to;
                f.join(&fp.of_deliver_bound(c, to));
            }
            Tpl::Trigger(u) => {
                if !self.trigger_msg_possible(u, t) {
                    return f;
                }
                f.join(&fp.of_trigger_bound(u));
            }
            Tpl::Ack(u) => {
                if !self.acks_possible(u, t) {
                    return f;
                }
                fp.coordinator(self.queued || self.trigger_possible(t), &mut f);
                if self.completion_possible(t) {
                    fp.completion(&mut f);
                }
            }
            Tpl::Notify(u) => {
                if !self.notify_possible(u, t) {
                    return f;
                }
                let last = self.last_possible(u, t);
                let completes = self.completion_possible(t);
                let coord = self.pending.is_some() || self.queued || self.trigger_possible(t);
                let finishing = self.finishing_possible(u, t);
                f.join(&fp.of_notify_bound(u, finishing, last, coord, completes));
            }
            Tpl::Upload(u) => {
                if !self.uploads_possible(u, t) {
                    return f;
                }
                f.join(&fp.of_upload_bound(u));
            }
            Tpl::TriggerTimer => {
                if !self.timer || self.held.is_none() {
                    return f;
                }
                fp.trigger(&mut f);
            }
        }
        f
    }

    /// A necessary enabling set of template `g`, which has no enabled event: templates one of
    /// which must happen before any event of `g` can.
    fn nes(&self, g: Tpl, t: &[bool], out: &mut Vec<Tpl>) {
        let job = self.job;
        match g {
            Tpl::Step(u) => {
                let s = &self.w.tasks[u.index()];
                if !matches!(s.status, TaskStatus::Running | TaskStatus::Finishing) {
                    return; // never again in a calm state
                }
                if let Some(c) = self.full_output(u) {
                    // Backpressure ends only when the receiver takes (or drops) from it.
                    out.push(Tpl::Step(job.channels[c.index()].to));
                    out.push(Tpl::Deliver(c));
                    return;
                }
                if self.is_source(u) {
                    return; // a running source that is not backpressured can step
                }
                for &c in &job.tasks[u.index()].inputs {
                    out.push(Tpl::Deliver(c));
                }
                // A trigger from the coordinator may resume a blocked input.
                out.push(Tpl::Trigger(u));
            }
            Tpl::Deliver(c) => {
                let info = &job.channels[c.index()];
                if self.w.channels[c.index()].out.is_empty() {
                    // Only the sender can put something on the wire.
                    out.push(Tpl::Step(info.from));
                    out.push(Tpl::Trigger(info.from));
                    out.push(Tpl::Notify(info.from));
                } else {
                    // Items wait for credit: only the receiver taking frees it.
                    out.push(Tpl::Step(info.to));
                }
            }
            Tpl::Trigger(_) => {
                if self.pending.is_some() && self.queued {
                    self.completion_nes(t, out);
                } else {
                    out.push(Tpl::TriggerTimer);
                }
            }
            Tpl::Ack(u) => {
                out.push(Tpl::Upload(u));
                if self.ack_before_upload {
                    out.push(Tpl::Step(u));
                    out.push(Tpl::Trigger(u));
                }
            }
            Tpl::Notify(_) => self.completion_nes(t, out),
            Tpl::Upload(u) => {
                out.push(Tpl::Step(u));
                out.push(Tpl::Trigger(u));
            }
            Tpl::TriggerTimer => {
                if self.timer {
                    // Held back by the checkpoint budget: it grows once no source reads.
                    for i in 0..self.tasks {
                        let u = TaskId(i as u32);
                        if self.is_source(u) && self.status(u) == TaskStatus::Running {
                            out.push(Tpl::Step(u));
                        }
                    }
                }
            }
        }
    }

    /// Templates one of which must happen before a checkpoint completes.
    fn completion_nes(&self, t: &[bool], out: &mut Vec<Tpl>) {
        let Some((_, waiting)) = &self.pending else {
            out.push(Tpl::TriggerTimer);
            return;
        };
        let mut chain = Vec::new();
        if self.first_ack {
            for &u in waiting {
                self.chain(u, out);
            }
            return;
        }
        let mut best: Option<(usize, Vec<Tpl>)> = None;
        for &u in waiting {
            chain.clear();
            self.chain(u, &mut chain);
            let outside = chain.iter().filter(|x| !t[self.index(**x)]).count();
            if best.as_ref().is_none_or(|(b, _)| outside < *b) {
                best = Some((outside, chain.clone()));
            }
        }
        if let Some((_, c)) = best {
            out.extend(c);
        }
    }

    /// An output channel of `u` whose queue is full, if any.
    fn full_output(&self, u: TaskId) -> Option<crate::ids::ChannelId> {
        let cap = self.job.scenario.network.output_capacity as usize;
        self.job.tasks[u.index()].outputs.iter().find_map(|o| {
            (0..u32::from(o.receivers))
                .map(|j| crate::ids::ChannelId(o.first.0 + j))
                .find(|c| self.w.channels[c.index()].out.len() >= cap)
        })
    }

    /// The smallest stubborn set (by enabled events) over every seed.
    pub(super) fn best(&self) -> Option<Vec<bool>> {
        let mut best: Option<(usize, Vec<bool>)> = None;
        let (mut t, mut work, mut nes) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..self.count() {
            if self.enabled[seed].is_empty() {
                continue;
            }
            let limit = best.as_ref().map_or(usize::MAX, |(b, _)| *b);
            if let Some(size) = self.closure(seed, limit, &mut t, &mut work, &mut nes) {
                best = Some((size, t.clone()));
                if size == 1 {
                    break;
                }
            }
        }
        best.map(|(_, t)| t)
    }

    /// The stubborn set grown from `seed`: a flag per template.
    /// Returns the number of enabled events in it, or `None` as soon as that reaches `limit`
    /// (a set that large is of no use: a smaller one is known).
    pub(super) fn closure(
        &self,
        seed: usize,
        limit: usize,
        t: &mut Vec<bool>,
        work: &mut Vec<usize>,
        nes: &mut Vec<Tpl>,
    ) -> Option<usize> {
        t.clear();
        t.resize(self.count(), false);
        work.clear();
        t[seed] = true;
        work.push(seed);
        self.forget();
        let mut size = self.enabled[seed].len();
        while let Some(g) = work.pop() {
            if size >= limit {
                return None;
            }
            let tpl = self.tpl(g);
            // Messages and uploads come and go: the templates that may create a new one
            // (outside `T` it could be taken after events outside `T`) are needed even when
            // one is enabled now.
            let creates =
                matches!(tpl, Tpl::Trigger(_) | Tpl::Ack(_) | Tpl::Notify(_) | Tpl::Upload(_));
            if self.enabled[g].is_empty() || creates {
                nes.clear();
                self.nes(tpl, t, nes);
                for x in nes.iter() {
                    let i = self.index(*x);
                    // A template that cannot happen on a path outside `T` needs no place in
                    // it: every path on which it happens has an event of `T` before it.
                    if !t[i] && (!self.enabled[i].is_empty() || !self.may(*x, t).is_empty()) {
                        t[i] = true;
                        work.push(i);
                        size += self.enabled[i].len();
                        self.forget();
                    }
                }
            }
            if !self.enabled[g].is_empty() {
                let fp = self.cur[g];
                for h in 0..self.count() {
                    if !t[h] && self.may(self.tpl(h), t).conflicts(&fp) {
                        t[h] = true;
                        work.push(h);
                        size += self.enabled[h].len();
                        self.forget();
                    }
                }
            }
        }
        (size < limit).then_some(size)
    }
}

pub(super) fn analyse<'a>(
    job: &'a Job,
    w: &'a World,
    events: &[Event],
    crashes: bool,
    budget: u64,
) -> Analysis<'a> {
    let n = job.tasks.len();
    let coord = w.coordinator.as_ref();
    let pending = coord.and_then(|c| {
        let id = *c.pending().first()?;
        Some((id, c.waiting_for(id).unwrap_or_default()))
    });
    let pending_id = pending.as_ref().map(|(id, _)| *id);
    let mut a = Analysis {
        job,
        w,
        fp: Fp::new(job, crashes),
        tasks: n,
        channels: job.channels.len(),
        queued: coord.is_some_and(|c| c.has_queued_request()),
        checkpointing: job.scenario.checkpointing.mode != CheckpointMode::Disabled,
        first_ack: job.scenario.mutations.contains(&Mutation::CompleteOnFirstAck),
        ack_before_upload: job.scenario.mutations.contains(&Mutation::AckBeforeUpload),
        timer: w.timers.iter().any(|t| matches!(t.kind, TimerKind::Coord(CoordTimer::Trigger))),
        held: {
            // As `explore::is_bounded_trigger` decides.
            let reading = w
                .tasks
                .iter()
                .any(|t| matches!(t.kind, TaskKind::Source(_)) && t.status == TaskStatus::Running);
            let triggered = w.counters.checkpoints_triggered;
            if triggered >= crate::explore::final_budget(budget, w.counters.faults) {
                None
            } else {
                Some(reading && triggered >= budget)
            }
        },
        pending,
        trigger_msg: vec![false; n],
        trigger_msg_cp: vec![false; n],
        ack_msg: vec![false; n],
        any_ack_msg: vec![false; n],
        notify_msg: vec![false; n],
        notify_finishes: vec![false; n],
        upload: vec![false; n],
        any_upload: vec![false; n],
        barrier_items: false,
        chains: Vec::new(),
        memo: Default::default(),
        enabled: Vec::new(),
        cur: Vec::new(),
    };
    for m in w.control.iter() {
        match m.body {
            Control::Trigger { task, checkpoint, .. } => {
                a.trigger_msg[task.index()] = true;
                if Some(checkpoint) == pending_id {
                    a.trigger_msg_cp[task.index()] = true;
                }
            }
            Control::Ack { task, checkpoint, .. } => {
                a.any_ack_msg[task.index()] = true;
                if Some(checkpoint) == pending_id {
                    a.ack_msg[task.index()] = true;
                }
            }
            Control::NotifyComplete { task, checkpoint, .. } => {
                a.notify_msg[task.index()] = true;
                let s = &w.tasks[task.index()];
                if s.status == TaskStatus::Finishing
                    && s.final_checkpoint.is_some_and(|f| f <= checkpoint)
                {
                    a.notify_finishes[task.index()] = true;
                }
            }
            _ => {}
        }
    }
    for u in w.uploads.iter() {
        a.any_upload[u.task.index()] = true;
        if Some(u.checkpoint) == pending_id {
            a.upload[u.task.index()] = true;
        }
    }
    let barrier = |i: &Item| matches!(i, Item::Barrier(_) | Item::End | Item::Cancel(_));
    a.barrier_items = w.channels.iter().any(|c| {
        c.out.iter().any(barrier)
            || c.wire.iter().any(|(_, i)| barrier(i))
            || c.input.iter().any(barrier)
    });
    if let Some((_, waiting)) = &a.pending {
        let mut chains = Vec::with_capacity(waiting.len());
        for &u in waiting {
            let mut c = Vec::with_capacity(3);
            a.chain_of(u, &mut c);
            chains.push((u, c));
        }
        a.chains = chains;
    }
    a.enabled = vec![Vec::new(); a.count()];
    a.cur = vec![Footprint::NONE; a.count()];
    for (k, &e) in events.iter().enumerate() {
        let Some(tpl) = template_of(w, e) else { continue };
        let i = a.index(tpl);
        a.enabled[i].push(k);
        let f = a.fp.of(w, e);
        a.cur[i].join(&f);
    }
    a
}
