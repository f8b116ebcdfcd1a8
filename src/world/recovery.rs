//! Faults and recovery inside the world (docs/protocol.md, rule P8): crashes, partitions,
//! storage outages and coordinator failover; failing tasks over (full or by pipelined
//! region), the restart strategy's decision, and restoring tasks from the latest completed
//! checkpoint with sources rewound.

use super::store::{CompletedCheckpoint, TaskSnapshot};
use super::{Env, Event, TaskKind, TaskState, TaskStatus, TimerKind, Tracked, World};
use crate::ids::{CheckpointId, NodeId, SimTime, TaskId};
use crate::protocol::coordinator::{Coordinator, FailureReason};
use crate::protocol::restart::RestartDecision;
use crate::protocol::sink::SinkMachine;
use crate::scenario::model::{Endpoint, Failover, FaultAction, Mutation, OpKind};
use crate::trace::TraceEvent;

impl World {
    /// A world in which every task is about to be restored from `cp`, with the external
    /// systems as they were when `cp` completed (`from` is the end of the run that completed
    /// it), and no faults: the start of the failure-free run that `recoverable_checkpoints`
    /// checks.
    pub fn restored(
        job: std::sync::Arc<crate::graph::Job>,
        cp: &CompletedCheckpoint,
        from: &World,
    ) -> World {
        let mut w = World::new(job, Vec::new());
        // The checker judges only the run it was given by its cuts.
        w.flow = super::flow::Flow::default();
        for (i, mark) in cp.external.iter().enumerate() {
            if w.outputs[i].delivery.is_some() {
                *w.outputs[i] = mark.rewind(&from.outputs[i]);
            }
        }
        // The store as it was: every checkpoint completed up to this one.
        w.store.completed = std::sync::Arc::new(
            from.store.completed.iter().filter(|c| c.id <= cp.id).cloned().collect(),
        );
        w.awaiting_restore(cp, from);
        w
    }

    /// As [`World::restored`] from the `i`-th completed checkpoint of `from`, for a restore
    /// that is not run further, in time independent of the run's length: sink logs start
    /// empty (they show only what the restore commits; the caller knows the log up to the
    /// checkpoint's mark), the store keeps only this checkpoint and the one before (all a
    /// restore reads), and the flow is on, so that the restore sets each task's stream
    /// positions from the checkpoint it actually uses.
    pub fn restored_logless(
        job: std::sync::Arc<crate::graph::Job>,
        i: usize,
        from: &World,
    ) -> World {
        let cp = &from.store.completed[i];
        let mut w = World::new(job, Vec::new());
        for (k, mark) in cp.external.iter().enumerate() {
            if w.outputs[k].delivery.is_some() {
                let out = &mut *w.outputs[k];
                out.table.clone_from(&mark.table);
                out.upserts = mark.upserts;
                out.prepared.clone_from(&mark.prepared);
            }
        }
        let kept = i.saturating_sub(1)..=i;
        w.store.completed = std::sync::Arc::new(from.store.completed[kept.clone()].to_vec());
        if let Some(cuts) = from.flow.completed.get(kept) {
            w.flow.completed = cuts.to_vec();
        }
        w.awaiting_restore(cp, from);
        w
    }

    /// Every task failed and about to be restored from `cp`, which completed in `from`.
    fn awaiting_restore(&mut self, cp: &CompletedCheckpoint, from: &World) {
        self.store.next_id = CheckpointId(cp.id.0 + 1);
        let config = super::coordinator_config(&self.job);
        let coordinator = Coordinator::new(config, self.store.next_id, Some(cp.id));
        self.coordinator = Some(Tracked::new(coordinator));
        self.attempts = cp.attempts.clone();
        // "Live" source positions, for the `no_source_rewind` mutation: where they ended.
        self.source_high = from.source_high.clone();
        for t in 0..self.tasks.len() {
            self.tasks[t].status = TaskStatus::Failed;
            self.restarting[t] = true;
        }
    }

    /// A planned fault happens.
    pub(super) fn inject(&mut self, i: usize, now: SimTime, env: &mut impl Env) {
        let action = self.faults.0[i].action.clone();
        self.inject_action(action, now, env);
    }

    /// A fault happens (planned, or chosen by the explorer).
    pub(super) fn inject_action(&mut self, action: FaultAction, now: SimTime, env: &mut impl Env) {
        if self.job_failed || self.is_finished() {
            return;
        }
        self.counters.faults += 1;
        match action {
            FaultAction::CrashNode { node, restart_after_ms } => {
                if !self.nodes_up[node.index()] {
                    return;
                }
                self.nodes_up[node.index()] = false;
                self.record(now, TraceEvent::NodeCrashed { node }, env);
                self.set_timer(now.plus_us(restart_after_ms * 1000), TimerKind::NodeUp(node), env);
                let failed: Vec<TaskId> = (0..self.tasks.len())
                    .map(|t| TaskId(t as u32))
                    .filter(|t| self.job.tasks[t.index()].node == node)
                    .collect();
                self.fail_tasks(&failed, now, env);
            }
            FaultAction::CrashTask { operator, subtask } => {
                let t = self.job.task(operator, subtask);
                self.fail_tasks(&[t], now, env);
            }
            FaultAction::Partition { a, b, duration_ms } => {
                let (i, j) = (self.link(a, b), self.link(b, a));
                self.links_down[i] += 1;
                self.links_down[j] += 1;
                self.record(now, TraceEvent::PartitionStarted { a, b }, env);
                self.set_timer(now.plus_us(duration_ms * 1000), TimerKind::Heal(a, b), env);
            }
            FaultAction::StorageFail { duration_ms } => {
                self.store.failing = true;
                self.record(now, TraceEvent::StorageFailed, env);
                self.cancel_timer(TimerKind::StorageUp);
                self.set_timer(now.plus_us(duration_ms * 1000), TimerKind::StorageUp, env);
            }
            FaultAction::CrashCoordinator { restart_after_ms } => {
                if self.coordinator.is_none() {
                    return;
                }
                // Pending checkpoints and the coordinator's timers are lost; the id counter
                // and the completed checkpoints are in the durable store.
                self.coordinator = None;
                self.timers.retain(|t| !matches!(t.kind, TimerKind::Coord(_)));
                self.record(now, TraceEvent::CoordinatorCrashed, env);
                self.set_timer(now.plus_us(restart_after_ms * 1000), TimerKind::CoordinatorUp, env);
            }
        }
    }

    pub(super) fn heal(&mut self, a: Endpoint, b: Endpoint, now: SimTime, env: &mut impl Env) {
        let (i, j) = (self.link(a, b), self.link(b, a));
        self.links_down[i] -= 1;
        self.links_down[j] -= 1;
        self.record(now, TraceEvent::PartitionHealed { a, b }, env);
        // Stalled channels move again.
        let job = self.job.0.clone();
        for c in 0..self.channels.len() {
            let c = crate::ids::ChannelId(c as u32);
            self.pump(&job, c, now, env);
            env.wake(Event::Deliver(c));
        }
    }

    pub(super) fn node_up(&mut self, n: NodeId, now: SimTime, env: &mut impl Env) {
        self.nodes_up[n.index()] = true;
        self.record(now, TraceEvent::NodeRestarted { node: n }, env);
        self.try_deploy(now, env);
    }

    /// The coordinator restarts from the store; as in a JobManager failover, every task is
    /// restarted from the latest completed checkpoint.
    pub(super) fn coordinator_up(&mut self, now: SimTime, env: &mut impl Env) {
        let config = super::coordinator_config(&self.job);
        self.coordinator = Some(Tracked::new(Coordinator::new(
            config,
            self.store.next_id,
            self.store.latest_id(),
        )));
        self.record(now, TraceEvent::CoordinatorRestarted, env);
        if self.is_finished() || self.job_failed {
            return;
        }
        let all: Vec<TaskId> = (0..self.tasks.len()).map(|t| TaskId(t as u32)).collect();
        self.cancel_tasks(&all, &[], now, env);
        self.counters.restarts += 1;
        self.record(now, TraceEvent::JobRestarting { tasks: all.len() as u32, delay_ms: 0 }, env);
        self.cancel_timer(TimerKind::Restart);
        self.set_timer(now, TimerKind::Restart, env);
    }

    /// Tolerable checkpoint failures exceeded: a global failover, through the restart
    /// strategy.
    pub(super) fn fail_job(&mut self, now: SimTime, env: &mut impl Env) {
        let all: Vec<TaskId> = (0..self.tasks.len()).map(|t| TaskId(t as u32)).collect();
        self.failover(&all, &[], now, env);
    }

    /// Tasks failed (a crash): fail over their region, or everything.
    fn fail_tasks(&mut self, failed: &[TaskId], now: SimTime, env: &mut impl Env) {
        let failed: Vec<TaskId> = failed
            .iter()
            .copied()
            .filter(|t| {
                matches!(self.tasks[t.index()].status, TaskStatus::Running | TaskStatus::Finishing)
            })
            .collect();
        if failed.is_empty() {
            return;
        }
        let restart: Vec<TaskId> = match self.job.scenario.recovery.failover {
            Failover::Full => (0..self.tasks.len()).map(|t| TaskId(t as u32)).collect(),
            Failover::Region => {
                let regions: Vec<u32> = failed.iter().map(|t| self.job.region[t.index()]).collect();
                (0..self.tasks.len())
                    .map(|t| TaskId(t as u32))
                    .filter(|t| regions.contains(&self.job.region[t.index()]))
                    .collect()
            }
        };
        self.failover(&restart, &failed, now, env);
    }

    /// Cancels `restart` (of which `failed` failed), aborts pending checkpoints, and asks the
    /// restart strategy when to redeploy.
    fn failover(
        &mut self,
        restart: &[TaskId],
        failed: &[TaskId],
        now: SimTime,
        env: &mut impl Env,
    ) {
        if self.job_failed {
            return;
        }
        self.cancel_tasks(restart, failed, now, env);
        let strategy = self.job.scenario.recovery.restart;
        match self.restart.on_failure(&strategy, now) {
            RestartDecision::Restart { delay_ms } => {
                self.counters.restarts += 1;
                self.record(
                    now,
                    TraceEvent::JobRestarting { tasks: restart.len() as u32, delay_ms },
                    env,
                );
                let at = now.plus_us(delay_ms * 1000);
                let later = self.timers.iter().any(|t| t.kind == TimerKind::Restart && t.at >= at);
                if !later {
                    self.cancel_timer(TimerKind::Restart);
                    self.set_timer(at, TimerKind::Restart, env);
                }
            }
            RestartDecision::GiveUp => {
                self.job_failed = true;
                self.cancel_timer(TimerKind::Restart);
                let all: Vec<TaskId> = (0..self.tasks.len()).map(|t| TaskId(t as u32)).collect();
                self.cancel_tasks(&all, &[], now, env);
                self.restarting.iter_mut().for_each(|r| *r = false);
                self.timers.retain(|t| !matches!(t.kind, TimerKind::Coord(_)));
                self.record(now, TraceEvent::JobFailed, env);
            }
        }
    }

    /// Stops tasks: their state and in-flight data are gone; pending checkpoints are
    /// aborted and periodic checkpointing stops until the job runs again.
    fn cancel_tasks(
        &mut self,
        tasks: &[TaskId],
        failed: &[TaskId],
        now: SimTime,
        env: &mut impl Env,
    ) {
        for &t in tasks {
            let status = self.tasks[t.index()].status;
            if status == TaskStatus::Finished {
                self.finished_tasks -= 1;
            }
            if status != TaskStatus::Failed {
                let event = if failed.contains(&t) {
                    TraceEvent::TaskFailed { task: t }
                } else {
                    TraceEvent::TaskCanceled { task: t }
                };
                self.record(now, event, env);
            }
            // What the stopped attempt held is gone: the task keeps only its attempt number
            // until it is redeployed from a checkpoint. Resetting it (rather than leaving the
            // dead attempt's state in place, unread) makes two failovers that differ only in
            // what the dead attempts had done the same world.
            let job = self.job.0.clone();
            let attempt = self.tasks[t.index()].attempt;
            let mut dead = TaskState::initial(&job, t, attempt);
            dead.status = TaskStatus::Failed;
            *self.tasks[t.index()] = dead;
            self.restarting[t.index()] = true;
        }
        // The coordinator stops after the tasks, so its abort notices go only to the tasks
        // that keep running.
        let mut cmds = Vec::new();
        if let Some(coord) = self.coordinator.as_mut() {
            coord.stop(now, FailureReason::JobFailover, &mut cmds);
        }
        self.coordinator_cmds(cmds, now, env);
        // In-flight data to and from the stopped tasks is dropped.
        let job = self.job.0.clone();
        for (c, info) in job.channels.iter().enumerate() {
            if self.restarting[info.from.index()] || self.restarting[info.to.index()] {
                self.channels[c].clear();
            }
        }
        self.uploads.retain(|u| !tasks.contains(&u.task));
        // Control messages to or from the stopped attempts can no longer do anything: a
        // message to a stopped attempt is dropped on arrival (the attempt is failed, then
        // replaced), and every acknowledgement or decline from one is for a checkpoint that
        // the coordinator's `stop` above just aborted (ids only grow). They are dropped now,
        // as is every snapshot uploaded for a checkpoint that is no longer pending (none is).
        // The trace tells each of them as lost, now.
        let stopped = |t: TaskId| tasks.contains(&t);
        if self.control.iter().any(|m| stopped(super::checkpoint::control_task(&m.body).0)) {
            let mut dropped = Vec::new();
            self.control.retain(|m| {
                let gone = stopped(super::checkpoint::control_task(&m.body).0);
                if gone {
                    dropped.push(m.body);
                }
                !gone
            });
            for body in dropped {
                self.lose(body, now, env);
            }
        }
        if !self.store.uploaded.is_empty() {
            self.store.uploaded.clear();
        }
    }

    /// Redeploys the tasks waiting for it, once their nodes are up and the coordinator (the
    /// scheduler) is there to restore them.
    pub(super) fn try_deploy(&mut self, now: SimTime, env: &mut impl Env) {
        if self.job_failed || self.timers.iter().any(|t| t.kind == TimerKind::Restart) {
            return;
        }
        let waiting: Vec<TaskId> = (0..self.tasks.len())
            .map(|t| TaskId(t as u32))
            .filter(|t| self.restarting[t.index()])
            .collect();
        if waiting.is_empty() {
            return;
        }
        let checkpointing = self.checkpointing();
        if checkpointing && self.coordinator.is_none() {
            return;
        }
        if waiting.iter().any(|t| !self.nodes_up[self.job.tasks[t.index()].node.index()]) {
            return;
        }
        // Mutation `restore_older_checkpoint`: the one before the latest, if there is one.
        // The list of completed checkpoints is shared: holding it costs no copy.
        let completed = self.store.completed.clone();
        let n = completed.len();
        let latest = if self.mutated(Mutation::RestoreOlderCheckpoint) && n >= 2 {
            completed.get(n - 2)
        } else {
            completed.last()
        };
        for &t in &waiting {
            self.restore_task(t, latest, now, env);
        }
        let job = self.job.0.clone();
        self.flow.drained(&job, &waiting);
        // Restored finished tasks finish again at once (they re-send end of partition).
        for &t in &waiting {
            if self.tasks[t.index()].status == TaskStatus::Finished {
                self.tasks[t.index()].status = TaskStatus::Running;
                self.finish(&job, t, now, env);
            }
        }
        if self.tasks.iter().all(|t| t.status != TaskStatus::Failed) {
            self.start_coordinator(now, env);
        }
    }

    /// A new attempt of task `t`, from its snapshot in `cp` (or from scratch).
    fn restore_task(
        &mut self,
        t: TaskId,
        cp: Option<&CompletedCheckpoint>,
        now: SimTime,
        env: &mut impl Env,
    ) {
        let job = self.job.0.clone();
        self.attempts[t.index()] += 1;
        let attempt = self.attempts[t.index()];
        let mut state = TaskState::initial(&job, t, attempt);
        let snapshot = cp.map(|c| &c.tasks[t.index()]);
        let mut sink_cmds = Vec::new();
        let delivery = match job.operator_of(t).kind {
            OpKind::Sink { delivery } => Some(delivery),
            _ => None,
        };
        let subtask = job.tasks[t.index()].subtask;
        let cut = cp.and_then(|c| self.flow.recorded(c.id, t).cloned());
        self.flow.restore(&job, t, cut);
        let recommit = !self.mutated(Mutation::NoRecommitOnRestore);
        match (snapshot, &mut state.kind) {
            (Some(TaskSnapshot::Lost), TaskKind::Sink(sink)) | (None, TaskKind::Sink(sink)) => {
                let (m, cmds) = SinkMachine::fresh(delivery.expect("a sink"), subtask, attempt);
                *sink = m.committing_on_snapshot(self.mutated(Mutation::CommitOnSnapshot));
                sink_cmds = cmds;
            }
            (None, _) | (Some(TaskSnapshot::Lost), _) => {}
            (Some(TaskSnapshot::Finished), _) => state.status = TaskStatus::Finished,
            (Some(TaskSnapshot::Source { offset, watermark, finishing }), TaskKind::Source(s)) => {
                // Mutation `no_source_rewind`: keep reading from the live position.
                let offset = if self.mutated(Mutation::NoSourceRewind) {
                    (*offset).max(self.source_high[t.index()])
                } else {
                    *offset
                };
                s.offset = offset;
                s.start_offset = offset;
                s.watermark = *watermark;
                if *finishing {
                    state.status = TaskStatus::Finishing;
                }
            }
            (
                Some(TaskSnapshot::Operator { state: op, end_of_data, finishing }),
                TaskKind::Operator(o),
            ) => {
                *o = op.clone();
                restore_gate(&mut state.gate, end_of_data);
                if *finishing {
                    state.status = TaskStatus::Finishing;
                }
            }
            (
                Some(TaskSnapshot::Sink { sink: snap, end_of_data, finishing }),
                TaskKind::Sink(sink),
            ) => {
                let (mut m, cmds) = SinkMachine::restore(
                    delivery.expect("a sink"),
                    subtask,
                    attempt,
                    snap,
                    recommit,
                );
                if *finishing {
                    m.set_finishing();
                }
                *sink = m.committing_on_snapshot(self.mutated(Mutation::CommitOnSnapshot));
                sink_cmds = cmds;
                restore_gate(&mut state.gate, end_of_data);
                if *finishing {
                    state.status = TaskStatus::Finishing;
                }
            }
            (Some(s), k) => unreachable!("snapshot {s:?} does not fit task kind {k:?}"),
        }
        if let TaskKind::Source(s) = &mut state.kind {
            s.start = now;
        }
        state.busy_until = now;
        *self.tasks[t.index()] = state;
        self.restarting[t.index()] = false;
        self.run_sink_cmds(&job, t, sink_cmds, now, env);
        let checkpoint: Option<CheckpointId> = cp.map(|c| c.id);
        self.record(now, TraceEvent::TaskRestored { task: t, checkpoint }, env);
        env.wake(Event::Step(t));
    }
}

fn restore_gate(gate: &mut super::Gate, end_of_data: &[bool]) {
    for (i, &ended) in end_of_data.iter().enumerate() {
        if ended {
            gate.end(i as u16);
        }
    }
}
