//! Checkpointing inside the world: the world carries out what the sans-io machines ask
//! (barrier handler outputs, task checkpoint commands, coordinator commands), moves control
//! messages across the simulated network, and runs snapshot uploads against storage.
//! docs/protocol.md explains the rules; this file only wires them.

use super::channel::Item;
use super::store::{CompletedCheckpoint, ExternalMark, TaskSnapshot};
use super::{
    Control, ControlMsg, Draw, Env, Event, TaskKind, TaskStatus, TimerKind, Upload, World,
};
use crate::graph::Job;
use crate::ids::{CheckpointId, SimTime, TaskId};
use crate::protocol::barrier::{AbortReason, BarrierInput, BarrierOutput};
use crate::protocol::checkpointer::TaskCmd;
use crate::protocol::coordinator::{CoordCmd, CoordTimer, DeclineReason, Plan};
use crate::protocol::sink::TxnId;
use crate::scenario::model::{Endpoint, Invariant, Mutation, OpKind};
use crate::trace::{ControlKind, TraceEvent};

impl World {
    /// Feeds a barrier-related input to the task's barrier handler and carries out its outputs.
    pub(super) fn barrier_input(
        &mut self,
        t: TaskId,
        input: u16,
        what: BarrierInput,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let mut outs = Vec::new();
        match self.tasks[t.index()].handler.as_mut() {
            Some(h) => h.on_input(now, input, what, &mut outs),
            None => return,
        }
        self.barrier_outputs(t, outs, now, env);
    }

    fn barrier_outputs(
        &mut self,
        t: TaskId,
        outs: Vec<BarrierOutput>,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let job = self.job.0.clone();
        for o in outs {
            match o {
                BarrierOutput::Block(input) => {
                    self.tasks[t.index()].gate.block(input);
                    let channel = job.tasks[t.index()].inputs[usize::from(input)];
                    self.record(now, TraceEvent::ChannelBlocked { task: t, channel }, env);
                }
                BarrierOutput::Resume(input) => {
                    let channel = job.tasks[t.index()].inputs[usize::from(input)];
                    let was_blocked = self.tasks[t.index()].gate.inputs[usize::from(input)].blocked;
                    let has_data = !self.channels[channel.index()].input.is_empty();
                    self.tasks[t.index()].gate.resume(input, has_data);
                    if was_blocked {
                        self.record(now, TraceEvent::ChannelResumed { task: t, channel }, env);
                    }
                    env.wake(Event::Step(t));
                }
                BarrierOutput::Trigger(id) => self.trigger_task(&job, t, id, now, env),
                BarrierOutput::Abort(id, reason) => {
                    let cmds = self.tasks[t.index()].checkpointer.on_barrier_abort(id);
                    let reason = match reason {
                        AbortReason::Subsumed => DeclineReason::Subsumed,
                        AbortReason::CancellationBarrier => DeclineReason::CancellationBarrier,
                    };
                    self.task_cmds(&job, t, cmds, reason, now, env);
                }
                // Unaligned checkpoints (P6) are not simulated yet; `check::simulated` refuses them.
                BarrierOutput::Persist { .. } => {}
            }
        }
    }

    /// The task takes checkpoint `id` (from its barrier handler, or by RPC for a source).
    fn trigger_task(
        &mut self,
        job: &Job,
        t: TaskId,
        id: CheckpointId,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let cmds = self.tasks[t.index()].checkpointer.on_trigger(id);
        self.task_cmds(job, t, cmds, DeclineReason::TaskNotReady, now, env);
    }

    fn task_cmds(
        &mut self,
        job: &Job,
        t: TaskId,
        cmds: Vec<TaskCmd>,
        decline: DeclineReason,
        now: SimTime,
        env: &mut impl Env,
    ) {
        for cmd in cmds {
            match cmd {
                TaskCmd::BroadcastBarrier(id) => {
                    self.flow.barrier(job, t, id);
                    self.broadcast(job, t, Item::Barrier(id), now, env)
                }
                TaskCmd::BroadcastCancel(id) => self.broadcast(job, t, Item::Cancel(id), now, env),
                TaskCmd::DrainInputs => self.drain_inputs(job, t, now, env),
                TaskCmd::Snapshot(id) => self.snapshot(job, t, id, now, env),
                TaskCmd::Decline(id) => {
                    let attempt = self.tasks[t.index()].attempt;
                    self.send_control(
                        Control::Decline { task: t, attempt, checkpoint: id, reason: decline },
                        now,
                        env,
                    );
                }
                TaskCmd::CancelUpload(id) => {
                    self.uploads.retain(|u| !(u.task == t && u.checkpoint == id))
                }
                TaskCmd::CheckpointComplete(id) => {
                    self.checkpoint_complete_at(job, t, id, now, env)
                }
            }
        }
    }

    /// P3 steps 3–4: the synchronous snapshot, then the asynchronous upload.
    fn snapshot(
        &mut self,
        job: &Job,
        t: TaskId,
        id: CheckpointId,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let task = &mut self.tasks[t.index()];
        let finishing = task.status == TaskStatus::Finishing;
        if finishing && task.final_checkpoint.is_none() {
            task.final_checkpoint = Some(id);
        }
        let end_of_data: Vec<bool> = task.gate.inputs.iter().map(|x| x.ended).collect();
        let mut sink_cmds = Vec::new();
        let snapshot = match &mut task.kind {
            TaskKind::Source(s) => {
                TaskSnapshot::Source { offset: s.offset, watermark: s.watermark, finishing }
            }
            TaskKind::Operator(state) => {
                TaskSnapshot::Operator { state: state.clone(), end_of_data, finishing }
            }
            TaskKind::Sink(sink) => {
                let (snap, cmds) = sink.on_snapshot(id);
                sink_cmds = cmds;
                TaskSnapshot::Sink { sink: snap, end_of_data, finishing }
            }
        };
        let attempt = task.attempt;
        self.flow.snapshot(job, t, id);
        self.run_sink_cmds(job, t, sink_cmds, now, env);
        self.record(now, TraceEvent::SnapshotTaken { task: t, checkpoint: id }, env);
        let l = job.scenario.storage.latency;
        let at = now.plus_us(env.draw(Draw::StorageLatency, l.min_us, l.max_us));
        let uid = self.fresh_id();
        self.uploads.push(Upload { id: uid, at, task: t, attempt, checkpoint: id, snapshot });
        env.wake(Event::Upload(uid));
        if self.mutated(Mutation::AckBeforeUpload) {
            // The broken variant: acknowledge before the state is durable.
            self.send_control(Control::Ack { task: t, attempt, checkpoint: id }, now, env);
        }
    }

    /// Only for the mutation `snapshot_after_barrier_records`: process the records queued on
    /// every input (they came after the barrier) before the snapshot.
    fn drain_inputs(&mut self, job: &Job, t: TaskId, now: SimTime, env: &mut impl Env) {
        for (i, &c) in job.tasks[t.index()].inputs.iter().enumerate() {
            while let Some(&Item::Record(r)) = self.channels[c.index()].input.front() {
                self.channels[c.index()].input.pop_front();
                self.record(
                    now,
                    TraceEvent::Process { task: t, channel: c, item: Item::Record(r) },
                    env,
                );
                self.pump(job, c, now, env);
                self.counters.records_processed += 1;
                self.process_record(job, t, c, r, now, env);
            }
            if self.channels[c.index()].input.is_empty() {
                let gate = &mut self.tasks[t.index()].gate;
                if gate.inputs[i].in_ready {
                    gate.inputs[i].in_ready = false;
                    gate.ready.retain(|&x| usize::from(x) != i);
                }
            }
        }
    }

    /// P3 step 5: acknowledge after the upload, or decline if storage failed it.
    pub(super) fn finish_upload(&mut self, u: Upload, now: SimTime, env: &mut impl Env) {
        let task = &self.tasks[u.task.index()];
        if task.attempt != u.attempt || task.status == TaskStatus::Failed {
            return; // the attempt that started it is gone
        }
        let (task, attempt, checkpoint) = (u.task, u.attempt, u.checkpoint);
        let acked_early = self.mutated(Mutation::AckBeforeUpload);
        if self.store.failing {
            self.record(now, TraceEvent::UploadFailed { task, checkpoint }, env);
            if !acked_early {
                let reason = DeclineReason::AsyncFailure;
                self.send_control(Control::Decline { task, attempt, checkpoint, reason }, now, env);
            }
            return;
        }
        self.record(now, TraceEvent::SnapshotStored { task, checkpoint }, env);
        if acked_early {
            // The metadata may already name this state: the write lands late.
            if let Some(cp) = std::sync::Arc::make_mut(&mut self.store.completed)
                .iter_mut()
                .find(|c| c.id == checkpoint)
            {
                cp.tasks[task.index()] = u.snapshot;
                self.flow.landed_late(task, checkpoint);
                return;
            }
        }
        self.store.uploaded.insert((checkpoint, task), u.snapshot);
        if !acked_early {
            self.send_control(Control::Ack { task, attempt, checkpoint }, now, env);
        }
    }

    /// Completion of `id` reached task `t`: sinks commit; a finishing task whose final
    /// checkpoint is covered finishes.
    fn checkpoint_complete_at(
        &mut self,
        job: &Job,
        t: TaskId,
        id: CheckpointId,
        now: SimTime,
        env: &mut impl Env,
    ) {
        if let TaskKind::Sink(sink) = &mut self.tasks[t.index()].kind {
            let cmds = sink.on_checkpoint_complete(id);
            self.run_sink_cmds(job, t, cmds, now, env);
        }
        let task = &self.tasks[t.index()];
        if task.status == TaskStatus::Finishing && task.final_checkpoint.is_some_and(|f| f <= id) {
            self.finish(job, t, now, env);
        }
    }

    /// `commit_after_complete`: a transaction pre-committed for checkpoint `cp` may only be
    /// committed once a checkpoint ≥ `cp` (whose state holds it as pending) has completed.
    pub(super) fn check_commit_after_complete(
        &mut self,
        t: TaskId,
        txn: TxnId,
        cp: CheckpointId,
        now: SimTime,
    ) {
        if self.store.latest_id().is_some_and(|l| l >= cp) {
            return;
        }
        if self.violations.iter().any(|v| v.invariant == Invariant::CommitAfterComplete) {
            return; // the first one is the one to report
        }
        let detail = format!(
            "{} committed {txn} (pre-committed for {cp}) at {now}, but {cp} had not completed (latest completed: {})",
            self.job.task_name(t),
            self.store.latest_id().map_or("none".to_string(), |l| l.to_string())
        );
        self.violations.push(super::Violation {
            invariant: Invariant::CommitAfterComplete,
            at: now,
            detail,
        });
    }

    fn endpoint_of(&self, t: TaskId) -> Endpoint {
        Endpoint::Node(self.job.tasks[t.index()].node)
    }

    /// Sends a control message over the simulated network; it is lost if a partition separates
    /// its ends now or when it arrives.
    pub(super) fn send_control(&mut self, body: Control, now: SimTime, env: &mut impl Env) {
        let (task, _) = control_task(&body);
        let node = self.endpoint_of(task);
        if self.link_is_down(Endpoint::Coordinator, node) || !self.nodes_up[node_index(node)] {
            self.lose(body, now, env);
            return;
        }
        let l = self.job.scenario.network.control_latency;
        let at = now.plus_us(env.draw(Draw::ControlLatency, l.min_us, l.max_us));
        let id = self.fresh_id();
        self.control.push(ControlMsg { id, at, body });
        env.wake(Event::Control(id));
    }

    pub(super) fn lose(&mut self, body: Control, now: SimTime, env: &mut impl Env) {
        let (task, checkpoint) = control_task(&body);
        let message = match body {
            Control::Trigger { .. } => ControlKind::Trigger,
            Control::Ack { .. } => ControlKind::Ack,
            Control::Decline { .. } => ControlKind::Decline,
            Control::NotifyComplete { .. } => ControlKind::NotifyComplete,
            Control::NotifyAborted { .. } => ControlKind::NotifyAborted,
        };
        self.record(now, TraceEvent::ControlLost { message, task, checkpoint }, env);
    }

    pub(super) fn receive_control(&mut self, msg: ControlMsg, now: SimTime, env: &mut impl Env) {
        let (task, _) = control_task(&msg.body);
        let node = self.endpoint_of(task);
        if self.link_is_down(Endpoint::Coordinator, node) || !self.nodes_up[node_index(node)] {
            self.lose(msg.body, now, env);
            return;
        }
        let job = self.job.0.clone();
        let job = &*job;
        match msg.body {
            Control::Ack { task, attempt, checkpoint }
            | Control::Decline { task, attempt, checkpoint, .. } => {
                if self.coordinator.is_none() {
                    self.lose(msg.body, now, env);
                    return;
                }
                if self.tasks[task.index()].attempt != attempt {
                    return; // from an attempt that no longer exists
                }
                let mut cmds = Vec::new();
                let plan = self.plan();
                let coord = self.coordinator.as_mut().expect("checked above");
                // A queued trigger may run now; it must see the tasks as they are now.
                coord.set_plan(plan);
                if let Control::Decline { reason, .. } = msg.body {
                    coord.on_decline(now, task, checkpoint, reason, &mut cmds);
                    self.record(
                        now,
                        TraceEvent::CheckpointDeclined { task, checkpoint, reason },
                        env,
                    );
                } else {
                    coord.on_ack(now, task, checkpoint, &mut cmds);
                    self.record(now, TraceEvent::CheckpointAcknowledged { task, checkpoint }, env);
                }
                self.coordinator_cmds(cmds, now, env);
            }
            Control::Trigger { task, attempt, checkpoint } => {
                let state = &self.tasks[task.index()];
                if state.attempt != attempt
                    || matches!(state.status, TaskStatus::Failed | TaskStatus::Finished)
                {
                    return;
                }
                if matches!(state.kind, TaskKind::Source(_)) {
                    self.trigger_task(job, task, checkpoint, now, env);
                } else {
                    let mut outs = Vec::new();
                    if let Some(h) = self.tasks[task.index()].handler.as_mut() {
                        h.on_rpc_trigger(now, checkpoint, &mut outs);
                    }
                    self.barrier_outputs(task, outs, now, env);
                }
            }
            Control::NotifyComplete { task, attempt, checkpoint } => {
                if !self.reachable_attempt(task, attempt) {
                    return;
                }
                self.record(now, TraceEvent::NotifyComplete { task, checkpoint }, env);
                let cmds = self.tasks[task.index()].checkpointer.on_notify_complete(checkpoint);
                self.task_cmds(job, task, cmds, DeclineReason::TaskNotReady, now, env);
            }
            Control::NotifyAborted { task, attempt, checkpoint, latest } => {
                if !self.reachable_attempt(task, attempt) {
                    return;
                }
                self.record(now, TraceEvent::NotifyAborted { task, checkpoint }, env);
                let cmds =
                    self.tasks[task.index()].checkpointer.on_notify_aborted(checkpoint, latest);
                self.task_cmds(job, task, cmds, DeclineReason::TaskNotReady, now, env);
            }
        }
    }

    fn reachable_attempt(&self, t: TaskId, attempt: u32) -> bool {
        let s = &self.tasks[t.index()];
        s.attempt == attempt && matches!(s.status, TaskStatus::Running | TaskStatus::Finishing)
    }

    /// The checkpoint plan at this moment (flink-protocol.md §2.4 step 2).
    fn plan(&self) -> Plan {
        let job = &self.job;
        let mut plan = Plan { to_trigger: Vec::new(), to_wait: Vec::new(), all_running: true };
        for (i, task) in self.tasks.iter().enumerate() {
            let t = TaskId(i as u32);
            match task.status {
                TaskStatus::Finished => continue,
                TaskStatus::Failed => plan.all_running = false,
                TaskStatus::Running | TaskStatus::Finishing => {}
            }
            plan.to_wait.push(t);
            // Trigger sources, and tasks all of whose upstream tasks finished.
            let upstream_done = job.tasks[i].inputs.iter().all(|c| {
                self.tasks[job.channels[c.index()].from.index()].status == TaskStatus::Finished
            });
            if upstream_done {
                plan.to_trigger.push(t);
            }
        }
        plan
    }

    pub(super) fn start_coordinator(&mut self, now: SimTime, env: &mut impl Env) {
        if self.coordinator.is_none() {
            return;
        }
        let c = self.job.scenario.checkpointing;
        // Flink: uniform in [min pause, base interval], the base interval being
        // max(interval, min pause).
        let base = c.interval_ms.max(c.min_pause_ms);
        let delay = env.draw(Draw::TriggerDelay, c.min_pause_ms * 1000, base * 1000);
        let mut cmds = Vec::new();
        if let Some(coord) = self.coordinator.as_mut() {
            coord.start(now, delay / 1000, &mut cmds);
        }
        self.coordinator_cmds(cmds, now, env);
    }

    pub(super) fn coordinator_timer(
        &mut self,
        timer: CoordTimer,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let plan = self.plan();
        let mut cmds = Vec::new();
        let Some(coord) = self.coordinator.as_mut() else { return };
        coord.on_timer(now, timer, &plan, &mut cmds);
        self.coordinator_cmds(cmds, now, env);
    }

    pub(super) fn coordinator_task_finished(
        &mut self,
        t: TaskId,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let mut cmds = Vec::new();
        let plan = self.plan();
        let Some(coord) = self.coordinator.as_mut() else { return };
        coord.set_plan(plan);
        coord.on_task_finished(now, t, &mut cmds);
        self.coordinator_cmds(cmds, now, env);
    }

    /// Carries out the coordinator's commands, including those that follow from them
    /// (finalizing a checkpoint answers with `on_finalized`).
    pub(super) fn coordinator_cmds(
        &mut self,
        cmds: Vec<CoordCmd>,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let mut queue = std::collections::VecDeque::from(cmds);
        while let Some(cmd) = queue.pop_front() {
            match cmd {
                CoordCmd::SetTimer { timer, at } => {
                    self.cancel_timer(TimerKind::Coord(timer));
                    self.set_timer(at, TimerKind::Coord(timer), env);
                }
                CoordCmd::CancelTimer(timer) => self.cancel_timer(TimerKind::Coord(timer)),
                CoordCmd::Trigger { id, tasks } => {
                    self.store.next_id = CheckpointId(id.0 + 1);
                    self.counters.checkpoints_triggered += 1;
                    self.record(now, TraceEvent::CheckpointTriggered { checkpoint: id }, env);
                    for task in tasks {
                        let attempt = self.tasks[task.index()].attempt;
                        self.send_control(
                            Control::Trigger { task, attempt, checkpoint: id },
                            now,
                            env,
                        );
                    }
                }
                CoordCmd::Finalize { id } => {
                    let ok = !self.store.failing;
                    if ok {
                        self.complete_checkpoint(id, now, env);
                    }
                    let mut more = Vec::new();
                    if let Some(coord) = self.coordinator.as_mut() {
                        coord.on_finalized(now, id, ok, &mut more);
                    }
                    queue.extend(more);
                }
                CoordCmd::NotifyComplete { id } => {
                    for i in 0..self.tasks.len() {
                        let task = TaskId(i as u32);
                        if self.reachable_attempt(task, self.tasks[i].attempt) {
                            let attempt = self.tasks[i].attempt;
                            self.send_control(
                                Control::NotifyComplete { task, attempt, checkpoint: id },
                                now,
                                env,
                            );
                        }
                    }
                }
                CoordCmd::NotifyAborted { id, latest_completed, reason } => {
                    self.counters.checkpoints_aborted += 1;
                    self.store.uploaded.retain(|(cp, _), _| *cp != id);
                    self.record(now, TraceEvent::CheckpointAborted { checkpoint: id, reason }, env);
                    for i in 0..self.tasks.len() {
                        let task = TaskId(i as u32);
                        if self.reachable_attempt(task, self.tasks[i].attempt) {
                            let attempt = self.tasks[i].attempt;
                            let body = Control::NotifyAborted {
                                task,
                                attempt,
                                checkpoint: id,
                                latest: latest_completed,
                            };
                            self.send_control(body, now, env);
                        }
                    }
                }
                CoordCmd::Skipped { reason } => {
                    self.record(now, TraceEvent::CheckpointSkipped { reason }, env)
                }
                CoordCmd::FailJob { .. } => self.fail_job(now, env),
            }
        }
    }

    /// Writes the metadata of a fully acknowledged checkpoint to the store.
    fn complete_checkpoint(&mut self, id: CheckpointId, now: SimTime, env: &mut impl Env) {
        let tasks: Vec<TaskSnapshot> = (0..self.tasks.len())
            .map(|i| {
                let t = TaskId(i as u32);
                match self.store.uploaded.remove(&(id, t)) {
                    Some(s) => s,
                    None if self.tasks[i].status == TaskStatus::Finished => TaskSnapshot::Finished,
                    None => {
                        assert!(
                            !self.job.scenario.mutations.is_empty(),
                            "{id} completed without a snapshot of running task {}",
                            self.job.task_name(t)
                        );
                        TaskSnapshot::Lost
                    }
                }
            })
            .collect();
        self.store.uploaded.retain(|(cp, _), _| *cp > id);
        let finished: Vec<bool> = tasks.iter().map(|s| *s == TaskSnapshot::Finished).collect();
        let named: Vec<bool> = tasks.iter().map(|s| *s != TaskSnapshot::Lost).collect();
        let job = self.job.0.clone();
        self.flow.complete(&job, id, &finished, &named);
        let external = self
            .job
            .scenario
            .operators
            .iter()
            .enumerate()
            .map(|(i, op)| match op.kind {
                OpKind::Sink { .. } => ExternalMark::of(&self.outputs[i]),
                _ => ExternalMark::default(),
            })
            .collect();
        let attempts = self.tasks.iter().map(|t| t.attempt).collect();
        std::sync::Arc::make_mut(&mut self.store.completed).push(CompletedCheckpoint {
            id,
            completed_at: now,
            tasks,
            attempts,
            external,
        });
        self.counters.checkpoints_completed += 1;
        self.record(now, TraceEvent::CheckpointCompleted { checkpoint: id }, env);
    }
}

pub(super) fn control_task(c: &Control) -> (TaskId, CheckpointId) {
    match *c {
        Control::Trigger { task, checkpoint, .. }
        | Control::Ack { task, checkpoint, .. }
        | Control::Decline { task, checkpoint, .. }
        | Control::NotifyComplete { task, checkpoint, .. }
        | Control::NotifyAborted { task, checkpoint, .. } => (task, checkpoint),
    }
}

fn node_index(e: Endpoint) -> usize {
    match e {
        Endpoint::Node(n) => n.index(),
        Endpoint::Coordinator => unreachable!("tasks run on nodes"),
    }
}
