//! The task runtime inside the world: one step of a task, routing of what it emits, and the
//! movement of items from output queues onto the wire.

use super::channel::{Fifo, Item};
use super::{Draw, Env, Event, World};
use crate::graph::Job;
use crate::ids::{ChannelId, CheckpointId, SimTime, TaskId};
use crate::protocol::barrier::{BarrierHandler, BarrierInput};
use crate::protocol::checkpointer::Checkpointer;
use crate::protocol::operator::{self, Ctx, OpState};
use crate::protocol::sink::{SinkCmd, SinkMachine, Visible};
use crate::record::{subtask_of_key_group, Record};
use crate::scenario::model::{CheckpointMode, Mutation, OpKind, Partition};
use crate::trace::TraceEvent;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Running,
    /// End of input reached; with checkpointing, the task waits for its final checkpoint to
    /// complete before it finishes (it still handles barriers and markers).
    Finishing,
    Finished,
    /// Failed or canceled; waiting to be redeployed (or for good, if the job failed).
    Failed,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Source(SourceTask),
    Operator(OpState),
    Sink(SinkMachine),
}

impl Clone for TaskKind {
    fn clone(&self) -> Self {
        match self {
            TaskKind::Source(s) => TaskKind::Source(s.clone()),
            TaskKind::Operator(o) => TaskKind::Operator(o.clone()),
            TaskKind::Sink(m) => TaskKind::Sink(m.clone()),
        }
    }

    /// In place when both are of the same kind (always, in the explorer: a task keeps its
    /// kind), keeping allocations.
    fn clone_from(&mut self, src: &Self) {
        match (self, src) {
            (TaskKind::Source(a), TaskKind::Source(b)) => a.clone_from(b),
            (TaskKind::Operator(a), TaskKind::Operator(b)) => a.clone_from(b),
            (TaskKind::Sink(a), TaskKind::Sink(b)) => a.clone_from(b),
            (a, b) => *a = b.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceTask {
    /// The next record to read from the partition.
    pub offset: u64,
    /// When the source started reading (its rate counts from here).
    pub start: SimTime,
    /// The offset at `start`: records before it were read by an earlier attempt.
    pub start_offset: u64,
    /// The last watermark emitted.
    pub watermark: i64,
}

/// The input side of a task: which inputs have data, which ended, and their watermarks.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Gate {
    /// Inputs with data in their input queue and not blocked, in the order they became
    /// available. A task takes from the front and puts the input back at the end if it has
    /// more: round robin over inputs with data, as Flink's input gate does.
    pub ready: Fifo<u16>,
    /// Per input, in one flat list (copied in one piece).
    pub inputs: Vec<Input>,
    /// Inputs not yet ended.
    pub open: u16,
    pub watermark: i64,
}

clone_fields!(Gate { ready, inputs, open, watermark });

/// The state of one input of a task's gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Input {
    /// Listed in `Gate::ready`.
    pub in_ready: bool,
    /// Delivered its last record (end of data).
    pub ended: bool,
    /// Blocked by barrier alignment.
    pub blocked: bool,
    pub watermark: i64,
}

impl Gate {
    fn new(inputs: usize) -> Gate {
        Gate {
            ready: Fifo::default(),
            inputs: vec![
                Input {
                    in_ready: false,
                    ended: false,
                    blocked: false,
                    watermark: i64::MIN
                };
                inputs
            ],
            open: inputs as u16,
            watermark: i64::MIN,
        }
    }

    pub fn mark_ready(&mut self, input: u16) {
        let x = &mut self.inputs[usize::from(input)];
        if !x.in_ready && !x.blocked {
            x.in_ready = true;
            self.ready.push_back(input);
        }
    }

    /// Stops taking from `input` until it is resumed.
    pub fn block(&mut self, input: u16) {
        let x = &mut self.inputs[usize::from(input)];
        x.blocked = true;
        if x.in_ready {
            x.in_ready = false;
            self.ready.retain(|&x| x != input);
        }
    }

    /// Takes from `input` again; `has_data` says whether its input queue holds anything.
    pub fn resume(&mut self, input: u16, has_data: bool) {
        self.inputs[usize::from(input)].blocked = false;
        if has_data {
            self.mark_ready(input);
        }
    }

    /// Marks `input` as having delivered its last record.
    pub fn end(&mut self, input: u16) {
        let x = &mut self.inputs[usize::from(input)];
        if !x.ended {
            x.ended = true;
            self.open -= 1;
        }
    }

    /// The minimum watermark over inputs that have not ended (`None` when all have).
    fn combined(&self) -> Option<i64> {
        self.inputs.iter().filter(|x| !x.ended).map(|x| x.watermark).min()
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TaskState {
    pub status: TaskStatus,
    /// Which execution attempt of the task this is (0 for the first).
    pub attempt: u32,
    pub busy_until: SimTime,
    pub gate: Gate,
    /// Round-robin position per output edge (rebalance).
    pub rr: Vec<u16>,
    pub kind: TaskKind,
    /// Barrier handling on the input side (`None` without checkpointing, or without inputs).
    pub handler: Option<BarrierHandler>,
    /// Task-side checkpoint bookkeeping.
    pub checkpointer: Checkpointer,
    /// The first checkpoint this task took while finishing: its completion lets it finish.
    pub final_checkpoint: Option<CheckpointId>,
}

clone_fields!(TaskState {
    status,
    attempt,
    busy_until,
    gate,
    rr,
    kind,
    handler,
    final_checkpoint;
    if_changed: checkpointer
});

impl TaskState {
    /// The initial state of task `t` in execution attempt `attempt`.
    pub fn initial(job: &Job, t: TaskId, attempt: u32) -> TaskState {
        let info = &job.tasks[t.index()];
        let op = &job.scenario.operators[info.op.index()];
        let kind = match &op.kind {
            OpKind::Source(_) => TaskKind::Source(SourceTask {
                offset: 0,
                start: SimTime::ZERO,
                start_offset: 0,
                watermark: i64::MIN,
            }),
            OpKind::Sink { delivery } => TaskKind::Sink(
                SinkMachine::new(*delivery, info.subtask, attempt).committing_on_snapshot(
                    job.scenario.mutations.contains(&Mutation::CommitOnSnapshot),
                ),
            ),
            k => TaskKind::Operator(OpState::initial(
                k,
                job.key_slots[info.op.index()].as_deref(),
                info.subtask,
            )),
        };
        // Rebalance starts at the sender's own subtask index, so senders spread out.
        let rr = info.outputs.iter().map(|o| info.subtask % o.receivers.max(1)).collect();
        let inputs = info.inputs.len() as u16;
        let mutated = |m| job.scenario.mutations.contains(&m);
        let handler = match job.scenario.checkpointing.mode {
            _ if inputs == 0 => None,
            CheckpointMode::Disabled => None,
            CheckpointMode::AtLeastOnce => Some(BarrierHandler::tracker(inputs)),
            _ if mutated(Mutation::SkipAlignment) => Some(BarrierHandler::tracker(inputs)),
            CheckpointMode::Aligned | CheckpointMode::Unaligned => {
                Some(BarrierHandler::aligned(inputs))
            }
        };
        TaskState {
            status: TaskStatus::Running,
            attempt,
            busy_until: SimTime::ZERO,
            gate: Gate::new(info.inputs.len()),
            rr,
            kind,
            handler,
            checkpointer: Checkpointer::draining_before_snapshot(mutated(
                Mutation::SnapshotAfterBarrierRecords,
            )),
            final_checkpoint: None,
        }
    }
}

impl World {
    /// Whether one of `t`'s output queues is full (backpressure): the task does not step until
    /// the receiver takes from it. Derived from the channels, so only the channel changes when
    /// a receiver frees a place (a receiver's step and its sender's step then touch disjoint
    /// parts of the world).
    pub fn backpressured(&self, t: TaskId) -> bool {
        let cap = self.job.scenario.network.output_capacity as usize;
        self.job.tasks[t.index()].outputs.iter().any(|o| {
            (0..u32::from(o.receivers))
                .any(|j| self.channels[(o.first.0 + j) as usize].out.len() >= cap)
        })
    }

    pub(super) fn step_due(&self, t: TaskId) -> Option<SimTime> {
        let task = &self.tasks[t.index()];
        if self.backpressured(t) {
            return None;
        }
        match (&task.kind, task.status) {
            (TaskKind::Source(s), TaskStatus::Running) => {
                let op = self.job.operator_of(t);
                let OpKind::Source(def) = &op.kind else { unreachable!("source task of a source") };
                let len =
                    def.partitions[usize::from(self.job.tasks[t.index()].subtask)].len() as u64;
                if s.offset > len {
                    return None;
                }
                let paced = match def.rate_per_s {
                    Some(rate) if s.offset < len => {
                        let n = s.offset - s.start_offset;
                        s.start.plus_us(n.saturating_mul(1_000_000) / rate)
                    }
                    _ => SimTime::ZERO,
                };
                Some(task.busy_until.max(paced))
            }
            (TaskKind::Source(_), _) => None,
            (_, TaskStatus::Running | TaskStatus::Finishing) if !task.gate.ready.is_empty() => {
                Some(task.busy_until)
            }
            _ => None,
        }
    }

    pub(super) fn step(&mut self, t: TaskId, now: SimTime, env: &mut impl Env) {
        // One clone of the shared job per event, so helpers can borrow it while they mutate
        // the world.
        let job = self.job.0.clone();
        let job = &*job;
        let info = &job.tasks[t.index()];
        let op = &job.scenario.operators[info.op.index()];
        if let OpKind::Source(def) = &op.kind {
            self.step_source(job, t, def, now, env);
            env.wake(Event::Step(t));
            return;
        }
        // Take the next input, round robin over inputs with data.
        let task = &mut self.tasks[t.index()];
        let input = task.gate.ready.pop_front().expect("step_due() saw a ready input");
        let c = info.inputs[usize::from(input)];
        let ch = &mut self.channels[c.index()];
        let item = ch.input.pop_front().expect("a ready input has data");
        if ch.input.is_empty() {
            task.gate.inputs[usize::from(input)].in_ready = false;
        } else {
            task.gate.ready.push_back(input);
        }
        self.record(now, TraceEvent::Process { task: t, channel: c, item }, env);
        // A place in the input queue is free again: the sender may send.
        self.pump(job, c, now, env);
        let checkpointing = job.scenario.checkpointing.mode != CheckpointMode::Disabled;
        match item {
            Item::Record(r) => {
                self.counters.records_processed += 1;
                self.process_record(job, t, c, r, now, env);
                self.tasks[t.index()].busy_until = now.plus_us(u64::from(op.cost_us));
            }
            Item::Watermark(w) => {
                let gate = &mut self.tasks[t.index()].gate;
                let i = usize::from(input);
                gate.inputs[i].watermark = gate.inputs[i].watermark.max(w);
                self.advance_watermark(job, t, now, env);
            }
            Item::EndOfData => {
                self.flow.on_end(c, false);
                self.input_ended(job, t, input, now, env)
            }
            Item::End if !checkpointing => {
                self.input_ended(job, t, input, now, env);
            }
            Item::End => self.barrier_input(t, input, BarrierInput::EndOfPartition, now, env),
            Item::Barrier(id) => self.barrier_input(t, input, BarrierInput::Barrier(id), now, env),
            Item::Cancel(id) => self.barrier_input(t, input, BarrierInput::Cancel(id), now, env),
        }
        env.wake(Event::Step(t));
    }

    /// An input delivered its last record.
    fn input_ended(&mut self, job: &Job, t: TaskId, input: u16, now: SimTime, env: &mut impl Env) {
        let gate = &mut self.tasks[t.index()].gate;
        if gate.inputs[usize::from(input)].ended {
            // Only a broken protocol delivers end of data twice (an inconsistent restore);
            // the final results were emitted already.
            return;
        }
        gate.end(input);
        if gate.open == 0 {
            self.end_of_input(job, t, now, env);
        } else {
            self.advance_watermark(job, t, now, env);
        }
    }

    fn step_source(
        &mut self,
        job: &Job,
        t: TaskId,
        def: &crate::scenario::model::SourceDef,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let info = &job.tasks[t.index()];
        let part = &def.partitions[usize::from(info.subtask)];
        let TaskKind::Source(s) = &mut self.tasks[t.index()].kind else { unreachable!() };
        if s.offset >= part.len() as u64 {
            s.offset += 1;
            if job.scenario.checkpointing.mode == CheckpointMode::Disabled {
                self.finish(job, t, now, env);
            } else {
                self.broadcast(job, t, Item::EndOfData, now, env);
                self.start_finishing(t, now, env);
            }
            return;
        }
        let record = part.get(s.offset as usize).expect("the offset is below the length");
        let offset = s.offset;
        s.offset += 1;
        let watermark = job.emits_watermarks[info.op.index()] && record.ts > s.watermark;
        if watermark {
            s.watermark = record.ts;
        }
        self.counters.records_emitted += 1;
        self.flow.on_read(t);
        let high = &mut self.source_high[t.index()];
        if offset < *high {
            self.counters.records_replayed += 1;
        } else {
            *high = offset + 1;
        }
        self.record(now, TraceEvent::SourceEmit { task: t, offset, record }, env);
        self.route_record(job, t, record, now, env);
        if watermark {
            self.broadcast(job, t, Item::Watermark(record.ts), now, env);
        }
        let cost = job.scenario.operators[info.op.index()].cost_us;
        self.tasks[t.index()].busy_until = now.plus_us(u64::from(cost));
    }

    fn ctx(job: &Job, t: TaskId) -> Ctx<'_> {
        let info = &job.tasks[t.index()];
        Ctx {
            kind: &job.scenario.operators[info.op.index()].kind,
            slots: job.key_slots[info.op.index()].as_deref(),
            subtask: info.subtask,
            keys: &job.scenario.keys,
        }
    }

    pub(super) fn process_record(
        &mut self,
        job: &Job,
        t: TaskId,
        c: ChannelId,
        r: Record,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let sink_op = job.tasks[t.index()].op.index();
        self.flow.on_consume(c);
        match &mut self.tasks[t.index()].kind {
            TaskKind::Sink(sink) => {
                self.flow.on_sink(t, &r);
                match sink.on_record(r) {
                    Some(Visible::Append(r)) => {
                        self.outputs[sink_op].append(r);
                        self.record(now, TraceEvent::SinkWrite { task: t, record: r }, env);
                    }
                    Some(Visible::Upsert(r)) => {
                        self.outputs[sink_op].upsert(r);
                        self.record(now, TraceEvent::SinkWrite { task: t, record: r }, env);
                    }
                    None => {}
                }
            }
            TaskKind::Operator(state) => {
                let side = job.channels[c.index()].side;
                let mut out = std::mem::take(&mut self.scratch.0);
                operator::on_record(state, &Self::ctx(job, t), side, r, &mut out);
                self.emit_all(job, t, &mut out, now, env);
            }
            TaskKind::Source(_) => unreachable!("sources have no inputs"),
        }
    }

    /// Routes every record in `out`, then gives the (empty) buffer back for reuse.
    fn emit_all(
        &mut self,
        job: &Job,
        t: TaskId,
        out: &mut Vec<Record>,
        now: SimTime,
        env: &mut impl Env,
    ) {
        for r in out.drain(..) {
            self.route_record(job, t, r, now, env);
        }
        self.scratch.0 = std::mem::take(out);
    }

    fn advance_watermark(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        let task = &mut self.tasks[t.index()];
        let Some(combined) = task.gate.combined().filter(|&c| c > task.gate.watermark) else {
            return;
        };
        task.gate.watermark = combined;
        if let TaskKind::Operator(state) = &mut task.kind {
            let cx = Self::ctx(job, t);
            let mut out = std::mem::take(&mut self.scratch.0);
            operator::on_watermark(state, &cx, combined, &mut out);
            self.emit_all(job, t, &mut out, now, env);
            let op = job.tasks[t.index()].op.index();
            if job.emits_watermarks[op] && operator::forwards_watermarks(cx.kind) {
                self.broadcast(job, t, Item::Watermark(combined), now, env);
            }
        }
    }

    /// Every input delivered its last record: emit final results, then finish (without
    /// checkpointing) or wait for the final checkpoint (with it).
    fn end_of_input(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        let checkpointing = job.scenario.checkpointing.mode != CheckpointMode::Disabled;
        match &mut self.tasks[t.index()].kind {
            TaskKind::Operator(state) => {
                let mut out = std::mem::take(&mut self.scratch.0);
                operator::on_end(state, &Self::ctx(job, t), &mut out);
                self.emit_all(job, t, &mut out, now, env);
            }
            TaskKind::Sink(sink) if checkpointing => sink.set_finishing(),
            TaskKind::Sink(sink) => {
                let cmds = sink.on_end_of_input_without_checkpoints();
                self.run_sink_cmds(job, t, cmds, now, env);
            }
            TaskKind::Source(_) => unreachable!("sources have no inputs"),
        }
        if checkpointing {
            self.broadcast(job, t, Item::EndOfData, now, env);
            self.start_finishing(t, now, env);
        } else {
            self.finish(job, t, now, env);
        }
    }

    pub(super) fn start_finishing(&mut self, t: TaskId, now: SimTime, env: &mut impl Env) {
        self.tasks[t.index()].status = TaskStatus::Finishing;
        self.record(now, TraceEvent::TaskFinishing { task: t }, env);
    }

    pub(super) fn run_sink_cmds(
        &mut self,
        job: &Job,
        t: TaskId,
        cmds: Vec<SinkCmd>,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let sink_op = job.tasks[t.index()].op.index();
        for cmd in cmds {
            match cmd {
                SinkCmd::PreCommit { txn, records } => {
                    let n = records.len() as u64;
                    self.outputs[sink_op].precommit(txn, records);
                    self.record(now, TraceEvent::TxnPrecommitted { task: t, txn, records: n }, env);
                }
                SinkCmd::Commit { txn, checkpoint } => {
                    if let Some(cp) = checkpoint {
                        self.check_commit_after_complete(t, txn, cp, now);
                    }
                    if let Some(n) = self.outputs[sink_op].commit(txn, now) {
                        self.record(
                            now,
                            TraceEvent::TxnCommitted { task: t, txn, records: n },
                            env,
                        );
                    }
                }
                SinkCmd::AbortEarlierAttempts { subtask, attempt } => {
                    let aborted = self.outputs[sink_op].abort_earlier(subtask, attempt, now);
                    for txn in aborted {
                        self.record(now, TraceEvent::TxnAborted { task: t, txn }, env);
                    }
                }
            }
        }
    }

    /// The task is done: tell downstream, the coordinator, and the job if it was the last.
    pub(super) fn finish(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        self.broadcast(job, t, Item::End, now, env);
        self.tasks[t.index()].status = TaskStatus::Finished;
        self.finished_tasks += 1;
        self.record(now, TraceEvent::TaskFinished { task: t }, env);
        self.coordinator_task_finished(t, now, env);
        if self.is_finished() {
            self.record(now, TraceEvent::JobFinished, env);
            // Nothing happens after the job finished (every driver stops here): what is
            // still in flight can do nothing, and is dropped, so that the finished job is the
            // same world whatever was left on the way.
            self.control.clear();
            self.timers.clear();
            self.uploads.clear();
            for c in self.channels.iter_mut() {
                if !c.is_empty() {
                    c.clear();
                }
            }
            if !self.store.uploaded.is_empty() {
                self.store.uploaded.clear();
            }
        }
    }

    /// Sends a record on each output edge, to the channel its partitioning picks.
    fn route_record(&mut self, job: &Job, t: TaskId, r: Record, now: SimTime, env: &mut impl Env) {
        for (e, out) in job.tasks[t.index()].outputs.iter().enumerate() {
            match out.partition {
                Partition::Forward => self.send(job, out.first, Item::Record(r), now, env),
                Partition::Hash => {
                    let kg = job.scenario.keys.group(r.key);
                    let j = subtask_of_key_group(kg, u32::from(out.receivers));
                    self.send(job, ChannelId(out.first.0 + j), Item::Record(r), now, env);
                }
                Partition::Rebalance => {
                    let rr = &mut self.tasks[t.index()].rr[e];
                    let j = *rr;
                    *rr = (j + 1) % out.receivers;
                    self.send(
                        job,
                        ChannelId(out.first.0 + u32::from(j)),
                        Item::Record(r),
                        now,
                        env,
                    );
                }
                Partition::Broadcast => {
                    for j in 0..u32::from(out.receivers) {
                        self.send(job, ChannelId(out.first.0 + j), Item::Record(r), now, env);
                    }
                }
            }
        }
    }

    /// Sends an item on every output channel (watermarks, end of data or partition,
    /// barriers, cancel markers).
    pub(super) fn broadcast(
        &mut self,
        job: &Job,
        t: TaskId,
        item: Item,
        now: SimTime,
        env: &mut impl Env,
    ) {
        for out in &job.tasks[t.index()].outputs {
            for j in 0..u32::from(out.receivers) {
                self.send(job, ChannelId(out.first.0 + j), item, now, env);
            }
        }
    }

    fn send(&mut self, job: &Job, c: ChannelId, item: Item, now: SimTime, env: &mut impl Env) {
        match item {
            Item::Record(_) => self.flow.on_send(c),
            Item::EndOfData => self.flow.on_end(c, true),
            _ => {}
        }
        self.channels[c.index()].out.push_back(item);
        self.pump(job, c, now, env);
    }

    /// Moves items from the output queue onto the wire while the receiver grants credit and
    /// no partition cuts the channel.
    pub(super) fn pump(&mut self, job: &Job, c: ChannelId, now: SimTime, env: &mut impl Env) {
        if self.channel_cut(c) {
            return;
        }
        let net = job.scenario.network;
        let ch = &mut self.channels[c.index()];
        let before = ch.out.len();
        let mut credit = ch.credit(net.channel_capacity);
        while credit > 0 {
            let Some(item) = ch.out.pop_front() else { break };
            let latency = env.draw(Draw::DataLatency, net.latency.min_us, net.latency.max_us);
            let arrival = now.plus_us(latency).max(ch.last_arrival);
            ch.last_arrival = arrival;
            if ch.wire.is_empty() {
                env.wake(Event::Deliver(c));
            }
            ch.wire.push_back((arrival, item));
            credit -= 1;
        }
        let cap = net.output_capacity as usize;
        if before >= cap && ch.out.len() < cap {
            env.wake(Event::Step(job.channels[c.index()].from));
        }
    }
}
