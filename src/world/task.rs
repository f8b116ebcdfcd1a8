//! The task runtime inside the world: one step of a task, routing of what it emits, and the
//! movement of items from output queues onto the wire.

use super::channel::Item;
use super::{Env, Event, World};
use crate::graph::Job;
use crate::ids::{ChannelId, SimTime, TaskId};
use crate::protocol::operator::{self, Ctx, OpState};
use crate::protocol::sink::{SinkCmd, SinkMachine, Visible};
use crate::record::{subtask_of_key_group, Record};
use crate::scenario::model::{CheckpointMode, OpKind, Partition};
use crate::trace::TraceEvent;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Running,
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Source(SourceTask),
    Operator(OpState),
    Sink(SinkMachine),
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gate {
    /// Inputs with data in their input queue, in the order they became available. A task
    /// takes from the front and puts the input back at the end if it has more: round robin
    /// over inputs with data, as Flink's input gate does.
    pub ready: VecDeque<u16>,
    pub in_ready: Vec<bool>,
    pub ended: Vec<bool>,
    pub open: u16,
    pub watermarks: Vec<i64>,
    pub watermark: i64,
}

impl Gate {
    fn new(inputs: usize) -> Gate {
        Gate {
            ready: VecDeque::new(),
            in_ready: vec![false; inputs],
            ended: vec![false; inputs],
            open: inputs as u16,
            watermarks: vec![i64::MIN; inputs],
            watermark: i64::MIN,
        }
    }

    pub fn mark_ready(&mut self, input: u16) {
        let i = usize::from(input);
        if !self.in_ready[i] {
            self.in_ready[i] = true;
            self.ready.push_back(input);
        }
    }

    /// The minimum watermark over inputs that have not ended.
    fn combined(&self) -> i64 {
        self.watermarks
            .iter()
            .zip(&self.ended)
            .filter(|(_, e)| !**e)
            .map(|(w, _)| *w)
            .min()
            .unwrap_or(i64::MAX)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskState {
    pub status: TaskStatus,
    pub busy_until: SimTime,
    /// How many output channels have a full output queue; the task steps only at zero.
    pub full_outputs: u32,
    pub gate: Gate,
    /// Round-robin position per output edge (rebalance).
    pub rr: Vec<u16>,
    pub kind: TaskKind,
}

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
            OpKind::Sink { delivery } => {
                TaskKind::Sink(SinkMachine::new(*delivery, info.subtask, attempt))
            }
            k => TaskKind::Operator(OpState::initial(
                k,
                job.key_slots[info.op.index()].as_deref(),
                info.subtask,
            )),
        };
        // Rebalance starts at the sender's own subtask index, so senders spread out.
        let rr = info.outputs.iter().map(|o| info.subtask % o.receivers.max(1)).collect();
        TaskState {
            status: TaskStatus::Running,
            busy_until: SimTime::ZERO,
            full_outputs: 0,
            gate: Gate::new(info.inputs.len()),
            rr,
            kind,
        }
    }
}

impl World {
    pub(super) fn step_due(&self, t: TaskId) -> Option<SimTime> {
        let task = &self.tasks[t.index()];
        if task.status != TaskStatus::Running || task.full_outputs > 0 {
            return None;
        }
        match &task.kind {
            TaskKind::Source(s) => {
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
            _ if task.gate.ready.is_empty() => None,
            _ => Some(task.busy_until),
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
            task.gate.in_ready[usize::from(input)] = false;
        } else {
            task.gate.ready.push_back(input);
        }
        env.trace(now, TraceEvent::Process { task: t, channel: c, item });
        // A place in the input queue is free again: the sender may send.
        self.pump(job, c, now, env);
        match item {
            Item::Record(r) => {
                self.counters.records_processed += 1;
                self.process_record(job, t, c, r, now, env);
                self.tasks[t.index()].busy_until = now.plus_us(u64::from(op.cost_us));
            }
            Item::Watermark(w) => {
                let gate = &mut self.tasks[t.index()].gate;
                let i = usize::from(input);
                gate.watermarks[i] = gate.watermarks[i].max(w);
                self.advance_watermark(job, t, now, env);
            }
            Item::End => {
                let gate = &mut self.tasks[t.index()].gate;
                gate.ended[usize::from(input)] = true;
                gate.open -= 1;
                if gate.open == 0 {
                    self.end_of_input(job, t, now, env);
                } else {
                    self.advance_watermark(job, t, now, env);
                }
            }
            Item::Barrier(_) => {}
        }
        env.wake(Event::Step(t));
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
            self.finish(job, t, now, env);
            return;
        }
        let record = part[s.offset as usize];
        let offset = s.offset;
        s.offset += 1;
        let watermark = job.emits_watermarks[info.op.index()] && record.ts > s.watermark;
        if watermark {
            s.watermark = record.ts;
        }
        self.counters.records_emitted += 1;
        env.trace(now, TraceEvent::SourceEmit { task: t, offset, record });
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

    fn process_record(
        &mut self,
        job: &Job,
        t: TaskId,
        c: ChannelId,
        r: Record,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let sink_op = job.tasks[t.index()].op.index();
        match &mut self.tasks[t.index()].kind {
            TaskKind::Sink(sink) => match sink.on_record(r) {
                Some(Visible::Append(r)) => {
                    self.outputs[sink_op].append(r);
                    env.trace(now, TraceEvent::SinkWrite { task: t, record: r });
                }
                Some(Visible::Upsert(r)) => {
                    self.outputs[sink_op].upsert(r);
                    env.trace(now, TraceEvent::SinkWrite { task: t, record: r });
                }
                None => {}
            },
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
        let combined = task.gate.combined();
        if combined <= task.gate.watermark || combined == i64::MAX {
            return;
        }
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

    fn end_of_input(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        match &mut self.tasks[t.index()].kind {
            TaskKind::Operator(state) => {
                let mut out = std::mem::take(&mut self.scratch.0);
                operator::on_end(state, &Self::ctx(job, t), &mut out);
                self.emit_all(job, t, &mut out, now, env);
            }
            TaskKind::Sink(sink) => {
                debug_assert!(
                    job.scenario.checkpointing.mode == CheckpointMode::Disabled,
                    "checkpointed sinks finish through the protocol"
                );
                let cmds = sink.on_end_of_input_without_checkpoints();
                self.run_sink_cmds(job, t, cmds, now, env);
            }
            TaskKind::Source(_) => unreachable!("sources have no inputs"),
        }
        self.finish(job, t, now, env);
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
                    env.trace(now, TraceEvent::TxnPrecommitted { task: t, txn, records: n });
                }
                SinkCmd::Commit { txn } => {
                    if let Some(n) = self.outputs[sink_op].commit(txn) {
                        env.trace(now, TraceEvent::TxnCommitted { task: t, txn, records: n });
                    }
                }
            }
        }
    }

    /// The task is done: tell downstream, and the job if it was the last.
    fn finish(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        self.broadcast(job, t, Item::End, now, env);
        self.tasks[t.index()].status = TaskStatus::Finished;
        self.finished_tasks += 1;
        env.trace(now, TraceEvent::TaskFinished { task: t });
        if self.is_finished() {
            env.trace(now, TraceEvent::JobFinished);
        }
    }

    /// Sends a record on each output edge, to the channel its partitioning picks.
    fn route_record(&mut self, job: &Job, t: TaskId, r: Record, now: SimTime, env: &mut impl Env) {
        for (e, out) in job.tasks[t.index()].outputs.iter().enumerate() {
            match out.partition {
                Partition::Forward => self.send(job, t, out.first, Item::Record(r), now, env),
                Partition::Hash => {
                    let kg = job.scenario.keys.group(r.key);
                    let j = subtask_of_key_group(kg, u32::from(out.receivers));
                    self.send(job, t, ChannelId(out.first.0 + j), Item::Record(r), now, env);
                }
                Partition::Rebalance => {
                    let rr = &mut self.tasks[t.index()].rr[e];
                    let j = *rr;
                    *rr = (j + 1) % out.receivers;
                    self.send(
                        job,
                        t,
                        ChannelId(out.first.0 + u32::from(j)),
                        Item::Record(r),
                        now,
                        env,
                    );
                }
                Partition::Broadcast => {
                    for j in 0..u32::from(out.receivers) {
                        self.send(job, t, ChannelId(out.first.0 + j), Item::Record(r), now, env);
                    }
                }
            }
        }
    }

    /// Sends an item on every output channel (watermarks, end of partition, barriers).
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
                self.send(job, t, ChannelId(out.first.0 + j), item, now, env);
            }
        }
    }

    fn send(
        &mut self,
        job: &Job,
        t: TaskId,
        c: ChannelId,
        item: Item,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let cap = job.scenario.network.output_capacity as usize;
        let ch = &mut self.channels[c.index()];
        ch.out.push_back(item);
        if ch.out.len() == cap {
            self.tasks[t.index()].full_outputs += 1;
        }
        self.pump(job, c, now, env);
    }

    /// Moves items from the output queue onto the wire while the receiver grants credit.
    pub(super) fn pump(&mut self, job: &Job, c: ChannelId, now: SimTime, env: &mut impl Env) {
        let net = job.scenario.network;
        let ch = &mut self.channels[c.index()];
        let before = ch.out.len();
        let mut credit = ch.credit(net.channel_capacity);
        while credit > 0 {
            let Some(item) = ch.out.pop_front() else { break };
            let arrival = now.plus_us(env.data_latency(c)).max(ch.last_arrival);
            ch.last_arrival = arrival;
            if ch.wire.is_empty() {
                env.wake(Event::Deliver(c));
            }
            ch.wire.push_back((arrival, item));
            credit -= 1;
        }
        let cap = net.output_capacity as usize;
        if before >= cap && ch.out.len() < cap {
            let sender = job.channels[c.index()].from;
            self.tasks[sender.index()].full_outputs -= 1;
            env.wake(Event::Step(sender));
        }
    }
}
