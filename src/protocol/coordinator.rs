//! The checkpoint coordinator (docs/protocol.md, rule P1).
//!
//! A sans-io model of Flink's `CheckpointCoordinator` together with the parts of
//! `CheckpointRequestDecider` (admission of trigger requests) and `CheckpointFailureManager`
//! (tolerable failures) that a periodic, non-savepoint checkpoint goes through. The world
//! calls one method per event, with the current virtual time, and carries out the returned
//! [`CoordCmd`]s in order. See [`Coordinator`] for the semantics and for where the model
//! differs from Flink.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{CheckpointId, SimTime, TaskId};

/// The checkpointing settings of a job (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoordinatorConfig {
    /// The periodic trigger interval. Like Flink, the coordinator uses
    /// `max(interval_ms, min_pause_ms)` as its base interval.
    pub interval_ms: u64,
    /// A pending checkpoint that has not completed this long after its trigger expires.
    pub timeout_ms: u64,
    /// The least time from the completion of a checkpoint to the next periodic trigger.
    pub min_pause_ms: u64,
    /// The most checkpoints pending at once (at least 1).
    pub max_concurrent: u32,
    /// How many consecutive counted checkpoint failures the job tolerates; the next one
    /// fails the job.
    pub tolerable_failures: u32,
    /// Mutation `complete_on_first_ack`: complete a checkpoint on its first acknowledgement.
    pub complete_on_first_ack: bool,
}

impl CoordinatorConfig {
    /// The base interval of the periodic trigger: `max(interval_ms, min_pause_ms)`, as Flink's
    /// coordinator normalises it.
    pub fn base_interval_ms(&self) -> u64 {
        self.interval_ms.max(self.min_pause_ms)
    }
}

/// The coordinator's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CoordTimer {
    /// The periodic trigger.
    Trigger,
    /// The expiry of a pending checkpoint.
    Timeout(CheckpointId),
}

pub use super::reasons::{DeclineReason, FailureReason};

/// Which tasks a new checkpoint involves, computed by the world at trigger time.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct Plan {
    /// Tasks that get `TriggerCheckpoint` (sources, and running tasks whose inputs all ended).
    pub to_trigger: Vec<TaskId>,
    /// Tasks whose acknowledgement completes the checkpoint (every task not finished).
    pub to_wait: Vec<TaskId>,
    /// False when some task is not running (failed, restarting): no checkpoint can start.
    pub all_running: bool,
}

clone_fields!(Plan { to_trigger, to_wait, all_running });

/// Commands for the world, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordCmd {
    SetTimer {
        timer: CoordTimer,
        at: SimTime,
    },
    CancelTimer(CoordTimer),
    /// Send `TriggerCheckpoint(id)` to these tasks; the checkpoint is now pending.
    Trigger {
        id: CheckpointId,
        tasks: Vec<TaskId>,
    },
    /// Write the metadata of `id` to the checkpoint store, then call `on_finalized`.
    Finalize {
        id: CheckpointId,
    },
    /// The checkpoint is complete: send `NotifyCheckpointComplete(id)` to every task.
    NotifyComplete {
        id: CheckpointId,
    },
    /// The checkpoint was aborted: send `NotifyCheckpointAborted(id, latest_completed)` to
    /// every task.
    NotifyAborted {
        id: CheckpointId,
        latest_completed: Option<CheckpointId>,
        reason: FailureReason,
    },
    /// A trigger did not happen (for the trace).
    Skipped {
        reason: FailureReason,
    },
    /// Tolerable checkpoint failures exceeded: fail the job (global failover).
    FailJob {
        failures: u32,
    },
}

/// A checkpoint that was triggered and has neither completed nor been aborted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingCheckpoint {
    /// Trigger time.
    triggered_at: SimTime,
    /// Tasks to wait for that have neither acknowledged nor finished.
    not_yet_acked: BTreeSet<TaskId>,
    /// Tasks to wait for that acknowledged, or finished (which counts as acknowledged).
    acked: BTreeSet<TaskId>,
    /// Fully acknowledged: `Finalize` was issued and the world's `on_finalized` is awaited.
    /// From here on only `on_finalized` decides its fate (Flink finalizes under the
    /// coordinator lock, so nothing can interleave there).
    finalizing: bool,
}

/// Flink's `CheckpointFailureManager` for checkpoints (savepoints are not modelled).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct FailureCounter {
    /// Counted failures since the last success (`continuousFailureCounter`).
    continuous: u32,
    /// Ids already counted since the last reset (`countedCheckpointIds`).
    counted: BTreeSet<CheckpointId>,
    /// The highest id that completed (`lastSucceededCheckpointId`; none = Long.MIN_VALUE).
    last_succeeded: Option<CheckpointId>,
}

impl FailureCounter {
    fn is_after_last_success(&self, id: CheckpointId) -> bool {
        self.last_succeeded.is_none_or(|s| id > s)
    }

    fn on_success(&mut self, id: CheckpointId) {
        if self.is_after_last_success(id) {
            self.last_succeeded = Some(id);
            self.clear();
        }
    }

    /// Records a failure of checkpoint `id`; returns the failure count when the job must fail.
    fn on_failure(
        &mut self,
        id: CheckpointId,
        reason: FailureReason,
        tolerable: u32,
    ) -> Option<u32> {
        if !self.is_after_last_success(id) {
            return None;
        }
        if reason.is_counted() && self.counted.insert(id) {
            self.continuous = self.continuous.saturating_add(1);
        }
        if self.continuous > tolerable {
            let failures = self.continuous;
            self.clear();
            return Some(failures);
        }
        None
    }

    fn clear(&mut self) {
        self.continuous = 0;
        self.counted.clear();
    }
}

/// The checkpoint coordinator of one job (Flink's `CheckpointCoordinator`, periodic
/// checkpoints only).
///
/// # Lifecycle
///
/// * [`start`](Self::start) turns periodic scheduling on and arms the [`CoordTimer::Trigger`]
///   timer after the initial delay (the world draws it from `[min_pause, interval]`).
///   [`stop`](Self::stop) turns it off, cancels the timer, aborts every pending checkpoint
///   and drops a queued request.
/// * When the trigger timer fires ([`on_timer`](Self::on_timer)) the timer is re-armed at
///   *the previous scheduled time + interval* (fixed rate, no drift; if the timer fired late,
///   at `now`), then one periodic trigger request is admitted:
///   1. at most `max_concurrent` checkpoints are pending: otherwise the request is
///      **queued** (one at most) and runs when a pending checkpoint completes or aborts;
///   2. a request less than `min_pause` after the last completion is skipped
///      (`Skipped{MinPause}`) and the trigger is **rescheduled** to
///      `last completion + min_pause` (the cadence continues from there);
///   3. if the plan says not every task is running, the request is skipped
///      (`Skipped{NotAllTasksRunning}`, no id used);
///   4. otherwise checkpoint `next_id` is triggered: `SetTimer{Timeout(id)}`, then
///      `Trigger{id, plan.to_trigger}`; with nothing to wait for it is complete at once
///      (`Finalize`).
///
///   This is the order of Flink's `CheckpointRequestDecider` (max concurrent, min pause)
///   followed by the checkpoint plan (all tasks running).
/// * An acknowledgement from the last task to wait for (a finished task counts as
///   acknowledged, see [`on_task_finished`](Self::on_task_finished)) yields `Finalize{id}`:
///   the world writes the metadata and reports with [`on_finalized`](Self::on_finalized).
///   Success: the checkpoint becomes the latest completed one, the failure counter resets,
///   older pending checkpoints are aborted as `Subsumed`, then `NotifyComplete{id}`.
/// * A decline, the timeout, a failed finalization, a task failure or `stop` abort a pending
///   checkpoint: `CancelTimer(Timeout(id))`, `NotifyAborted{..}`, then the failure manager
///   (a counted failure of an id above the last success; the
///   `(tolerable_failures + 1)`-th one yields `FailJob`), then a queued request may run
///   (not after `FailJob`: it stays queued, and the failover's `stop` drops it).
///
/// # The plan of a queued request
///
/// The coordinator keeps the [`Plan`] it was last given: every [`on_timer`](Self::on_timer)
/// call (for either timer) and [`set_plan`](Self::set_plan) replace it, and
/// [`on_task_failed`](Self::on_task_failed) marks it "not all running". A queued request that
/// runs later (after a completion or an abort) uses that plan. The world should therefore pass
/// the current plan to every `on_timer` call, and call `set_plan` when tasks finish or restart.
///
/// # Example
///
/// ```
/// use ftsim::ids::{CheckpointId, SimTime, TaskId};
/// use ftsim::protocol::coordinator::{
///     CoordCmd, CoordTimer, Coordinator, CoordinatorConfig, Plan,
/// };
///
/// let config = CoordinatorConfig {
///     interval_ms: 100,
///     timeout_ms: 1_000,
///     min_pause_ms: 0,
///     max_concurrent: 1,
///     tolerable_failures: 0,
///     complete_on_first_ack: false,
/// };
/// let mut coord = Coordinator::new(config, CheckpointId(1), None);
/// let mut out = Vec::new();
///
/// coord.start(SimTime::ZERO, 50, &mut out);
/// assert_eq!(out, vec![CoordCmd::SetTimer { timer: CoordTimer::Trigger, at: SimTime::from_ms(50) }]);
///
/// // The trigger timer fires: one source and one sink, both waited for.
/// let (source, sink) = (TaskId(0), TaskId(1));
/// let plan = Plan { to_trigger: vec![source], to_wait: vec![source, sink], all_running: true };
/// out.clear();
/// coord.on_timer(SimTime::from_ms(50), CoordTimer::Trigger, &plan, &mut out);
/// let cp = CheckpointId(1);
/// assert_eq!(
///     out,
///     vec![
///         CoordCmd::SetTimer { timer: CoordTimer::Trigger, at: SimTime::from_ms(150) },
///         CoordCmd::SetTimer { timer: CoordTimer::Timeout(cp), at: SimTime::from_ms(1_050) },
///         CoordCmd::Trigger { id: cp, tasks: vec![source] },
///     ]
/// );
///
/// // Both tasks acknowledge; the last acknowledgement asks the world to finalize.
/// out.clear();
/// coord.on_ack(SimTime::from_ms(60), source, cp, &mut out);
/// coord.on_ack(SimTime::from_ms(70), sink, cp, &mut out);
/// assert_eq!(out, vec![CoordCmd::Finalize { id: cp }]);
///
/// // The metadata is written: the checkpoint is complete.
/// out.clear();
/// coord.on_finalized(SimTime::from_ms(71), cp, true, &mut out);
/// assert_eq!(
///     out,
///     vec![
///         CoordCmd::CancelTimer(CoordTimer::Timeout(cp)),
///         CoordCmd::NotifyComplete { id: cp },
///     ]
/// );
/// assert_eq!(coord.latest_completed(), Some(cp));
/// assert!(coord.pending().is_empty());
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Coordinator {
    config: CoordinatorConfig,
    next_id: CheckpointId,
    latest_completed: Option<CheckpointId>,
    /// Periodic scheduling is on (`periodicScheduling`).
    periodic: bool,
    /// When the periodic trigger is scheduled (`nextCheckpointTriggeringRelativeTime`).
    next_trigger: SimTime,
    /// Pending checkpoints by id (Flink keeps them in id order too).
    pending: BTreeMap<CheckpointId, PendingCheckpoint>,
    /// A periodic request waits for a free slot (at most one is remembered).
    queued: bool,
    /// The plan last given by the world (see "The plan of a queued request").
    plan: Plan,
    /// When the last checkpoint completed (`lastCheckpointCompletionRelativeTime`).
    last_completion: Option<SimTime>,
    failures: FailureCounter,
}

clone_fields!(Coordinator {
    config,
    next_id,
    latest_completed,
    periodic,
    next_trigger,
    queued,
    plan,
    last_completion;
    if_changed: pending,
    failures
});

impl Coordinator {
    /// A stopped coordinator. `next_id` comes from the world's durable id counter (ids keep
    /// increasing across restarts and coordinator failover); `latest_completed` from the
    /// checkpoint store.
    pub fn new(
        config: CoordinatorConfig,
        next_id: CheckpointId,
        latest_completed: Option<CheckpointId>,
    ) -> Coordinator {
        Coordinator {
            config,
            next_id,
            latest_completed,
            periodic: false,
            next_trigger: SimTime::ZERO,
            pending: BTreeMap::new(),
            queued: false,
            plan: Plan::default(),
            last_completion: None,
            failures: FailureCounter::default(),
        }
    }

    /// The job is running: turn periodic scheduling on and arm the trigger timer at
    /// `now + initial_delay_ms`. Calling it while already on re-arms the timer (the old one
    /// is cancelled); pending checkpoints are kept.
    pub fn start(&mut self, now: SimTime, initial_delay_ms: u64, out: &mut Vec<CoordCmd>) {
        if self.periodic {
            out.push(CoordCmd::CancelTimer(CoordTimer::Trigger));
        }
        self.periodic = true;
        self.schedule_trigger(now.plus_us(ms_to_us(initial_delay_ms)), out);
    }

    /// Job failover or shutdown: turn periodic scheduling off (cancelling the trigger timer
    /// if it was on), drop a queued request, and abort every pending checkpoint with
    /// `reason`, in id order. A checkpoint whose finalization is under way is left to
    /// [`on_finalized`](Self::on_finalized).
    pub fn stop(&mut self, now: SimTime, reason: FailureReason, out: &mut Vec<CoordCmd>) {
        if self.periodic {
            out.push(CoordCmd::CancelTimer(CoordTimer::Trigger));
        }
        self.periodic = false;
        self.queued = false;
        for id in self.abortable_ids(|_| true) {
            self.abort(now, id, reason, false, out);
        }
        // Only a queued request reads the plan, and none is left: forget it, so that a
        // stopped coordinator does not remember what the job looked like before.
        self.plan = Plan::default();
    }

    /// A timer fired. `plan` is the job's current plan; it becomes the coordinator's plan
    /// (see "The plan of a queued request"). A trigger timer while periodic scheduling is off
    /// is stale and ignored; so is the timeout of a checkpoint that is no longer pending or is
    /// being finalized.
    pub fn on_timer(
        &mut self,
        now: SimTime,
        timer: CoordTimer,
        plan: &Plan,
        out: &mut Vec<CoordCmd>,
    ) {
        self.plan = plan.clone();
        match timer {
            CoordTimer::Trigger => {
                if !self.periodic {
                    self.settle_plan();
                    return;
                }
                let next = self.next_trigger.plus_us(ms_to_us(self.config.base_interval_ms()));
                self.next_trigger = next;
                out.push(CoordCmd::SetTimer { timer: CoordTimer::Trigger, at: next.max(now) });
                if self.slots_full() {
                    self.queued = true;
                } else {
                    self.execute_request(now, out);
                }
            }
            CoordTimer::Timeout(id) => {
                if self.pending.get(&id).is_some_and(|p| !p.finalizing) {
                    self.abort(now, id, FailureReason::Expired, true, out);
                }
            }
        }
        self.settle_plan();
    }

    /// `task` acknowledged checkpoint `id`. Acknowledgements for unknown, aborted or
    /// completed checkpoints, duplicates and those from tasks not waited for are ignored.
    pub fn on_ack(
        &mut self,
        _now: SimTime,
        task: TaskId,
        id: CheckpointId,
        out: &mut Vec<CoordCmd>,
    ) {
        if let Some(p) = self.pending.get_mut(&id) {
            if !p.finalizing && p.not_yet_acked.remove(&task) {
                p.acked.insert(task);
                if self.config.complete_on_first_ack {
                    p.not_yet_acked.clear();
                }
                maybe_finalize(id, p, out);
            }
        }
        self.settle_plan();
    }

    /// `task` declined checkpoint `id`: a pending checkpoint is aborted with
    /// `Declined(reason)` (counted only for `AsyncFailure`). Unknown ids are ignored.
    pub fn on_decline(
        &mut self,
        now: SimTime,
        _task: TaskId,
        id: CheckpointId,
        reason: DeclineReason,
        out: &mut Vec<CoordCmd>,
    ) {
        if self.pending.get(&id).is_some_and(|p| !p.finalizing) {
            self.abort(now, id, FailureReason::Declined(reason), true, out);
        }
        self.settle_plan();
    }

    /// `task` finished: it counts as acknowledged for every pending checkpoint that waits
    /// for it, which may complete them (`Finalize`, in id order).
    pub fn on_task_finished(&mut self, _now: SimTime, task: TaskId, out: &mut Vec<CoordCmd>) {
        for (&id, p) in self.pending.iter_mut() {
            if !p.finalizing && p.not_yet_acked.remove(&task) {
                p.acked.insert(task);
                maybe_finalize(id, p, out);
            }
        }
        self.settle_plan();
    }

    /// `task` failed (Flink's `failUnacknowledgedPendingCheckpointsFor`): every pending
    /// checkpoint that `task` has not acknowledged is aborted with `TaskFailure` (not
    /// counted), and the coordinator's plan is marked "not all running" until the world
    /// passes a new one.
    pub fn on_task_failed(&mut self, now: SimTime, task: TaskId, out: &mut Vec<CoordCmd>) {
        self.plan.all_running = false;
        for id in self.abortable_ids(|p| !p.acked.contains(&task)) {
            self.abort(now, id, FailureReason::TaskFailure, true, out);
        }
        self.settle_plan();
    }

    /// Abort every pending checkpoint with `reason` without stopping periodic scheduling
    /// (Flink's `abortPendingCheckpoints`, used on a region failover).
    pub fn abort_pending(&mut self, now: SimTime, reason: FailureReason, out: &mut Vec<CoordCmd>) {
        for id in self.abortable_ids(|_| true) {
            self.abort(now, id, reason, true, out);
        }
        self.settle_plan();
    }

    /// The world wrote (`ok`) or failed to write the metadata of checkpoint `id` after a
    /// `Finalize`. Ignored unless `id` is being finalized.
    pub fn on_finalized(
        &mut self,
        now: SimTime,
        id: CheckpointId,
        ok: bool,
        out: &mut Vec<CoordCmd>,
    ) {
        if !self.pending.get(&id).is_some_and(|p| p.finalizing) {
            return;
        }
        if !ok {
            self.abort(now, id, FailureReason::FinalizeFailed, true, out);
            self.settle_plan();
            return;
        }
        self.pending.remove(&id);
        if self.latest_completed.is_none_or(|l| id > l) {
            self.latest_completed = Some(id);
        }
        self.last_completion = Some(now);
        self.failures.on_success(id);
        out.push(CoordCmd::CancelTimer(CoordTimer::Timeout(id)));
        for old in self.abortable_ids(|_| true) {
            if old < id {
                self.abort(now, old, FailureReason::Subsumed, false, out);
            }
        }
        out.push(CoordCmd::NotifyComplete { id });
        self.run_queued(now, out);
        self.settle_plan();
    }

    /// Replace the coordinator's plan (used by a queued request that runs later; without
    /// one, nothing reads it and it is not kept).
    pub fn set_plan(&mut self, plan: Plan) {
        if self.queued {
            self.plan = plan;
        }
    }

    /// Only a queued request reads the plan: without one, forget it, so that two coordinators
    /// that differ only in a plan nobody will read are the same state (the explorer merges
    /// them).
    fn settle_plan(&mut self) {
        if !self.queued && self.plan != Plan::default() {
            self.plan = Plan::default();
        }
    }

    /// The id the next checkpoint will get.
    pub fn next_id(&self) -> CheckpointId {
        self.next_id
    }

    /// The highest id that completed (from the store at construction, then by completion).
    pub fn latest_completed(&self) -> Option<CheckpointId> {
        self.latest_completed
    }

    /// Pending checkpoints (including one being finalized), in id order.
    pub fn pending(&self) -> Vec<CheckpointId> {
        self.pending.keys().copied().collect()
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// Whether periodic scheduling is on.
    pub fn is_scheduling(&self) -> bool {
        self.periodic
    }

    /// When the periodic trigger is due, if scheduling is on.
    pub fn next_trigger_at(&self) -> Option<SimTime> {
        self.periodic.then_some(self.next_trigger)
    }

    /// Whether a periodic request waits for a free slot.
    pub fn has_queued_request(&self) -> bool {
        self.queued
    }

    /// The plan a queued request would use.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// When the last checkpoint completed (none since this coordinator was created).
    pub fn last_completion(&self) -> Option<SimTime> {
        self.last_completion
    }

    /// Counted checkpoint failures since the last success (or the last `FailJob`).
    pub fn consecutive_failures(&self) -> u32 {
        self.failures.continuous
    }

    /// The tasks pending checkpoint `id` still waits for, in id order (none if not pending).
    pub fn waiting_for(&self, id: CheckpointId) -> Option<Vec<TaskId>> {
        self.pending.get(&id).map(|p| p.not_yet_acked.iter().copied().collect())
    }

    /// When pending checkpoint `id` was triggered.
    pub fn triggered_at(&self, id: CheckpointId) -> Option<SimTime> {
        self.pending.get(&id).map(|p| p.triggered_at)
    }

    /// Whether checkpoint `id` is fully acknowledged and waits for `on_finalized`.
    pub fn is_finalizing(&self, id: CheckpointId) -> bool {
        self.pending.get(&id).is_some_and(|p| p.finalizing)
    }

    fn slots_full(&self) -> bool {
        self.pending.len() >= self.config.max_concurrent.max(1) as usize
    }

    fn schedule_trigger(&mut self, at: SimTime, out: &mut Vec<CoordCmd>) {
        self.next_trigger = at;
        out.push(CoordCmd::SetTimer { timer: CoordTimer::Trigger, at });
    }

    /// Ids of pending checkpoints (not being finalized) that satisfy `pred`, in id order.
    fn abortable_ids(&self, pred: impl Fn(&PendingCheckpoint) -> bool) -> Vec<CheckpointId> {
        self.pending.iter().filter(|(_, p)| !p.finalizing && pred(p)).map(|(&id, _)| id).collect()
    }

    /// Run an admitted periodic request (a slot is free): the min pause, then the plan.
    fn execute_request(&mut self, now: SimTime, out: &mut Vec<CoordCmd>) {
        if let Some(last) = self.last_completion {
            let earliest = last.plus_us(ms_to_us(self.config.min_pause_ms));
            if now < earliest {
                out.push(CoordCmd::Skipped { reason: FailureReason::MinPause });
                out.push(CoordCmd::CancelTimer(CoordTimer::Trigger));
                self.schedule_trigger(earliest, out);
                return;
            }
        }
        if !self.plan.all_running {
            out.push(CoordCmd::Skipped { reason: FailureReason::NotAllTasksRunning });
            return;
        }
        let id = self.next_id;
        self.next_id = CheckpointId(id.0 + 1);
        let not_yet_acked: BTreeSet<TaskId> = self.plan.to_wait.iter().copied().collect();
        let mut p = PendingCheckpoint {
            triggered_at: now,
            not_yet_acked,
            acked: BTreeSet::new(),
            finalizing: false,
        };
        out.push(CoordCmd::SetTimer {
            timer: CoordTimer::Timeout(id),
            at: now.plus_us(ms_to_us(self.config.timeout_ms)),
        });
        out.push(CoordCmd::Trigger { id, tasks: self.plan.to_trigger.clone() });
        maybe_finalize(id, &mut p, out);
        self.pending.insert(id, p);
    }

    /// Run the queued request if there is one and a slot is free.
    fn run_queued(&mut self, now: SimTime, out: &mut Vec<CoordCmd>) {
        if self.queued && self.periodic && !self.slots_full() {
            self.queued = false;
            self.execute_request(now, out);
        }
    }

    /// Abort pending checkpoint `id`: cancel its timeout, notify the tasks, count the
    /// failure, and (if `then_run_queued` and the job does not fail) run a queued request.
    fn abort(
        &mut self,
        now: SimTime,
        id: CheckpointId,
        reason: FailureReason,
        then_run_queued: bool,
        out: &mut Vec<CoordCmd>,
    ) {
        if self.pending.remove(&id).is_none() {
            return;
        }
        out.push(CoordCmd::CancelTimer(CoordTimer::Timeout(id)));
        out.push(CoordCmd::NotifyAborted { id, latest_completed: self.latest_completed, reason });
        let fail = self.failures.on_failure(id, reason, self.config.tolerable_failures);
        if let Some(failures) = fail {
            // The failover stops the coordinator, which drops the queued request.
            out.push(CoordCmd::FailJob { failures });
        }
        if then_run_queued && fail.is_none() {
            self.run_queued(now, out);
        }
    }
}

/// Finalize `p` if nothing is left to wait for.
fn maybe_finalize(id: CheckpointId, p: &mut PendingCheckpoint, out: &mut Vec<CoordCmd>) {
    if !p.finalizing && p.not_yet_acked.is_empty() {
        p.finalizing = true;
        out.push(CoordCmd::Finalize { id });
    }
}

fn ms_to_us(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CoordCmd::*;

    // ---- inputs -------------------------------------------------------------------------

    fn config() -> CoordinatorConfig {
        CoordinatorConfig {
            interval_ms: 100,
            timeout_ms: 1000,
            min_pause_ms: 0,
            max_concurrent: 1,
            tolerable_failures: 0,
            complete_on_first_ack: false,
        }
    }

    fn ms(t: u64) -> SimTime {
        SimTime::from_ms(t)
    }

    fn cp(id: u64) -> CheckpointId {
        CheckpointId(id)
    }

    fn task(i: u32) -> TaskId {
        TaskId(i)
    }

    /// Task 0 is the source (triggered); tasks 0 and 1 are waited for.
    fn two_tasks() -> Plan {
        Plan { to_trigger: vec![task(0)], to_wait: vec![task(0), task(1)], all_running: true }
    }

    fn not_all_running() -> Plan {
        Plan { all_running: false, ..two_tasks() }
    }

    /// A coordinator plus one method per input, each returning the commands it produced.
    struct Harness {
        coord: Coordinator,
    }

    impl Harness {
        fn new(config: CoordinatorConfig) -> Harness {
            Harness::from(config, 1)
        }

        fn from(config: CoordinatorConfig, next_id: u64) -> Harness {
            Harness { coord: Coordinator::new(config, cp(next_id), None) }
        }

        /// Started at 0 with the first trigger due at 100 ms.
        fn started(config: CoordinatorConfig) -> Harness {
            let mut h = Harness::new(config);
            h.start(0, 100);
            h
        }

        fn start(&mut self, now: u64, delay: u64) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.start(ms(now), delay, &mut out);
            out
        }

        fn stop(&mut self, now: u64, reason: FailureReason) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.stop(ms(now), reason, &mut out);
            out
        }

        fn tick_with(&mut self, now: u64, plan: &Plan) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_timer(ms(now), CoordTimer::Trigger, plan, &mut out);
            out
        }

        fn tick(&mut self, now: u64) -> Vec<CoordCmd> {
            self.tick_with(now, &two_tasks())
        }

        fn expire(&mut self, now: u64, id: u64) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_timer(ms(now), CoordTimer::Timeout(cp(id)), &two_tasks(), &mut out);
            out
        }

        fn ack(&mut self, now: u64, t: u32, id: u64) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_ack(ms(now), task(t), cp(id), &mut out);
            out
        }

        fn decline(&mut self, now: u64, t: u32, id: u64, reason: DeclineReason) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_decline(ms(now), task(t), cp(id), reason, &mut out);
            out
        }

        fn finished(&mut self, now: u64, t: u32) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_task_finished(ms(now), task(t), &mut out);
            out
        }

        fn failed(&mut self, now: u64, t: u32) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_task_failed(ms(now), task(t), &mut out);
            out
        }

        fn finalized(&mut self, now: u64, id: u64, ok: bool) -> Vec<CoordCmd> {
            let mut out = Vec::new();
            self.coord.on_finalized(ms(now), cp(id), ok, &mut out);
            out
        }

        /// Both tasks acknowledge `id` at `now`; returns the commands of the last ack.
        fn ack_all(&mut self, now: u64, id: u64) -> Vec<CoordCmd> {
            assert_eq!(self.ack(now, 0, id), vec![]);
            self.ack(now, 1, id)
        }

        /// Both tasks acknowledge `id` and the metadata is written at `now`.
        fn complete(&mut self, now: u64, id: u64) -> Vec<CoordCmd> {
            assert_eq!(self.ack_all(now, id), vec![Finalize { id: cp(id) }]);
            self.finalized(now, id, true)
        }
    }

    // ---- expected commands ----------------------------------------------------------------

    fn set_trigger(at: u64) -> CoordCmd {
        SetTimer { timer: CoordTimer::Trigger, at: ms(at) }
    }

    fn cancel_trigger() -> CoordCmd {
        CancelTimer(CoordTimer::Trigger)
    }

    fn set_timeout(id: u64, at: u64) -> CoordCmd {
        SetTimer { timer: CoordTimer::Timeout(cp(id)), at: ms(at) }
    }

    fn cancel_timeout(id: u64) -> CoordCmd {
        CancelTimer(CoordTimer::Timeout(cp(id)))
    }

    fn trigger(id: u64) -> CoordCmd {
        Trigger { id: cp(id), tasks: vec![task(0)] }
    }

    fn aborted(id: u64, latest: Option<u64>, reason: FailureReason) -> CoordCmd {
        NotifyAborted { id: cp(id), latest_completed: latest.map(cp), reason }
    }

    fn complete(id: u64) -> CoordCmd {
        NotifyComplete { id: cp(id) }
    }

    /// The commands of a periodic tick at `now` that triggers checkpoint `id`.
    fn tick_triggers(now: u64, next_tick: u64, id: u64) -> Vec<CoordCmd> {
        vec![set_trigger(next_tick), set_timeout(id, now + 1000), trigger(id)]
    }

    // ---- periodic triggering --------------------------------------------------------------

    #[test]
    fn start_arms_the_trigger_timer_after_the_initial_delay() {
        let mut h = Harness::new(config());
        assert_eq!(h.start(7, 60), vec![set_trigger(67)]);
        assert!(h.coord.is_scheduling());
        assert_eq!(h.coord.next_trigger_at(), Some(ms(67)));
    }

    #[test]
    fn the_first_trigger_fires_after_the_initial_delay_and_triggers_the_sources() {
        let mut h = Harness::new(config());
        h.start(0, 60);
        assert_eq!(h.tick(60), tick_triggers(60, 160, 1));
        assert_eq!(h.coord.pending(), vec![cp(1)]);
        assert_eq!(h.coord.waiting_for(cp(1)), Some(vec![task(0), task(1)]));
        assert_eq!(h.coord.triggered_at(cp(1)), Some(ms(60)));
    }

    #[test]
    fn the_trigger_is_rearmed_at_a_fixed_rate_from_its_scheduled_time_not_from_now() {
        let mut h = Harness::started(config());
        assert_eq!(h.tick(107), tick_triggers(107, 200, 1), "fired 7 ms late");
        h.complete(110, 1);
        assert_eq!(h.tick(203), tick_triggers(203, 300, 2));
    }

    #[test]
    fn a_trigger_that_fired_more_than_an_interval_late_is_rearmed_at_once() {
        let mut h = Harness::started(config());
        assert_eq!(h.tick(250), tick_triggers(250, 250, 1));
        assert_eq!(h.coord.next_trigger_at(), Some(ms(200)), "the cadence keeps its phase");
    }

    #[test]
    fn the_base_interval_is_at_least_the_min_pause() {
        let mut h = Harness::started(CoordinatorConfig { min_pause_ms: 150, ..config() });
        assert_eq!(h.tick(100), tick_triggers(100, 250, 1));
    }

    #[test]
    fn ids_start_from_the_given_next_id_and_increase() {
        let mut h = Harness::from(config(), 41);
        h.start(0, 100);
        assert_eq!(h.tick(100), tick_triggers(100, 200, 41));
        h.complete(150, 41);
        assert_eq!(h.tick(200), tick_triggers(200, 300, 42));
        assert_eq!(h.coord.next_id(), cp(43));
    }

    #[test]
    fn not_all_tasks_running_skips_the_trigger_without_using_an_id() {
        let mut h = Harness::started(config());
        assert_eq!(
            h.tick_with(100, &not_all_running()),
            vec![set_trigger(200), Skipped { reason: FailureReason::NotAllTasksRunning }]
        );
        assert_eq!(h.coord.next_id(), cp(1));
        assert_eq!(h.tick(200), tick_triggers(200, 300, 1));
    }

    // ---- max concurrent and the queued request --------------------------------------------

    #[test]
    fn max_concurrent_blocks_a_trigger_and_the_queued_request_runs_on_completion() {
        let mut h = Harness::started(config());
        h.tick(100);
        assert_eq!(h.tick(200), vec![set_trigger(300)], "queued, not triggered");
        assert!(h.coord.has_queued_request());
        assert_eq!(
            h.complete(250, 1),
            vec![cancel_timeout(1), complete(1), set_timeout(2, 1250), trigger(2)]
        );
        assert!(!h.coord.has_queued_request());
    }

    #[test]
    fn at_most_one_request_is_queued() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.tick(200);
        h.tick(300);
        assert_eq!(
            h.complete(350, 1),
            vec![cancel_timeout(1), complete(1), set_timeout(2, 1350), trigger(2)]
        );
        assert_eq!(h.coord.pending(), vec![cp(2)]);
        assert!(!h.coord.has_queued_request());
    }

    #[test]
    fn the_queued_request_runs_when_the_pending_checkpoint_aborts() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.tick(200);
        assert_eq!(
            h.decline(250, 1, 1, DeclineReason::TaskNotReady),
            vec![
                cancel_timeout(1),
                aborted(1, None, FailureReason::Declined(DeclineReason::TaskNotReady)),
                set_timeout(2, 1250),
                trigger(2),
            ]
        );
    }

    #[test]
    fn the_queued_request_uses_the_latest_plan_it_was_given() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.tick(200);
        h.coord.set_plan(not_all_running());
        assert_eq!(
            h.complete(250, 1),
            vec![
                cancel_timeout(1),
                complete(1),
                Skipped { reason: FailureReason::NotAllTasksRunning },
            ]
        );
        assert_eq!(h.coord.next_id(), cp(2));
    }

    #[test]
    fn two_concurrent_checkpoints_are_allowed_with_max_concurrent_two() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        assert_eq!(h.tick(100), tick_triggers(100, 200, 1));
        assert_eq!(h.tick(200), tick_triggers(200, 300, 2));
        assert_eq!(h.tick(300), vec![set_trigger(400)]);
        assert_eq!(h.coord.pending(), vec![cp(1), cp(2)]);
    }

    // ---- min pause ------------------------------------------------------------------------

    #[test]
    fn min_pause_skips_a_trigger_and_reschedules_it() {
        let mut h = Harness::started(CoordinatorConfig { min_pause_ms: 80, ..config() });
        h.tick(100);
        h.complete(180, 1);
        assert_eq!(
            h.tick(200),
            vec![
                set_trigger(300),
                Skipped { reason: FailureReason::MinPause },
                cancel_trigger(),
                set_trigger(260),
            ]
        );
        assert_eq!(h.coord.next_id(), cp(2), "no id used");
        // The cadence continues from the rescheduled trigger.
        assert_eq!(h.tick(260), tick_triggers(260, 360, 2));
    }

    #[test]
    fn a_trigger_exactly_min_pause_after_the_completion_goes_ahead() {
        let mut h = Harness::started(CoordinatorConfig { min_pause_ms: 80, ..config() });
        h.tick(100);
        h.complete(120, 1);
        assert_eq!(h.tick(200), tick_triggers(200, 300, 2));
    }

    #[test]
    fn a_queued_request_within_the_min_pause_is_dropped_and_the_trigger_rescheduled() {
        let mut h = Harness::started(CoordinatorConfig { min_pause_ms: 50, ..config() });
        h.tick(100);
        h.tick(200);
        assert_eq!(
            h.complete(250, 1),
            vec![
                cancel_timeout(1),
                complete(1),
                Skipped { reason: FailureReason::MinPause },
                cancel_trigger(),
                set_trigger(300),
            ]
        );
        assert!(!h.coord.has_queued_request());
    }

    // ---- acknowledgements and completion --------------------------------------------------

    #[test]
    fn completion_needs_every_ack() {
        let mut h = Harness::started(config());
        h.tick(100);
        assert_eq!(h.ack(110, 1, 1), vec![]);
        assert_eq!(h.coord.waiting_for(cp(1)), Some(vec![task(0)]));
        assert_eq!(h.ack(120, 0, 1), vec![Finalize { id: cp(1) }]);
        assert!(h.coord.is_finalizing(cp(1)));
        assert_eq!(h.finalized(130, 1, true), vec![cancel_timeout(1), complete(1)]);
        assert_eq!(h.coord.latest_completed(), Some(cp(1)));
        assert_eq!(h.coord.last_completion(), Some(ms(130)));
        assert!(h.coord.pending().is_empty());
    }

    #[test]
    fn duplicate_unknown_and_late_acks_are_ignored() {
        let mut h = Harness::started(config());
        h.tick(100);
        assert_eq!(h.ack(110, 0, 1), vec![]);
        assert_eq!(h.ack(111, 0, 1), vec![], "duplicate");
        assert_eq!(h.ack(112, 7, 1), vec![], "a task not waited for");
        assert_eq!(h.ack(113, 1, 9), vec![], "an unknown checkpoint");
        assert_eq!(h.coord.waiting_for(cp(1)), Some(vec![task(1)]));
        assert_eq!(h.ack(114, 1, 1), vec![Finalize { id: cp(1) }]);
        assert_eq!(h.ack(115, 1, 1), vec![], "after finalize");
        h.finalized(116, 1, true);
        assert_eq!(h.ack(117, 1, 1), vec![], "after completion");
        assert_eq!(h.finalized(118, 1, true), vec![], "a second finalization report");
    }

    #[test]
    fn finished_tasks_count_as_acknowledged_for_every_pending_checkpoint() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        assert_eq!(h.ack(210, 0, 1), vec![]);
        assert_eq!(h.ack(210, 0, 2), vec![]);
        assert_eq!(h.finished(220, 1), vec![Finalize { id: cp(1) }, Finalize { id: cp(2) }]);
        assert_eq!(h.finished(221, 1), vec![]);
    }

    #[test]
    fn a_checkpoint_with_nothing_to_wait_for_is_complete_at_once() {
        let mut h = Harness::started(config());
        let plan = Plan { to_trigger: vec![], to_wait: vec![], all_running: true };
        assert_eq!(
            h.tick_with(100, &plan),
            vec![
                set_trigger(200),
                set_timeout(1, 1100),
                Trigger { id: cp(1), tasks: vec![] },
                Finalize { id: cp(1) },
            ]
        );
    }

    #[test]
    fn completion_subsumes_older_pending_checkpoints_before_notify_complete() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 3, ..config() });
        h.tick(100);
        h.tick(200);
        h.tick(300);
        assert_eq!(
            h.complete(310, 3),
            vec![
                cancel_timeout(3),
                cancel_timeout(1),
                aborted(1, Some(3), FailureReason::Subsumed),
                cancel_timeout(2),
                aborted(2, Some(3), FailureReason::Subsumed),
                complete(3),
            ]
        );
        assert!(h.coord.pending().is_empty());
    }

    #[test]
    fn completion_runs_the_queued_request_after_notify_complete_and_subsumption() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        h.tick(300);
        assert_eq!(
            h.complete(310, 2),
            vec![
                cancel_timeout(2),
                cancel_timeout(1),
                aborted(1, Some(2), FailureReason::Subsumed),
                complete(2),
                set_timeout(3, 1310),
                trigger(3),
            ]
        );
    }

    #[test]
    fn a_checkpoint_being_finalized_is_neither_subsumed_nor_expired_nor_stopped() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        h.ack_all(210, 1);
        assert_eq!(h.complete(220, 2), vec![cancel_timeout(2), complete(2)]);
        assert_eq!(h.expire(1100, 1), vec![]);
        assert_eq!(h.stop(1200, FailureReason::JobFailover), vec![cancel_trigger()]);
        assert_eq!(h.finalized(1300, 1, true), vec![cancel_timeout(1), complete(1)]);
        assert_eq!(h.coord.latest_completed(), Some(cp(2)), "never goes back");
    }

    // ---- decline, timeout, task failure ----------------------------------------------------

    #[test]
    fn a_decline_aborts_the_checkpoint() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.ack(105, 0, 1);
        assert_eq!(
            h.decline(110, 1, 1, DeclineReason::CancellationBarrier),
            vec![
                cancel_timeout(1),
                aborted(1, None, FailureReason::Declined(DeclineReason::CancellationBarrier)),
            ]
        );
        assert!(h.coord.pending().is_empty());
        assert_eq!(h.ack(120, 1, 1), vec![], "a late ack for the aborted checkpoint");
    }

    #[test]
    fn a_decline_for_an_unknown_checkpoint_is_ignored() {
        let mut h = Harness::started(config());
        h.tick(100);
        assert_eq!(h.decline(110, 1, 5, DeclineReason::AsyncFailure), vec![]);
        assert_eq!(h.coord.pending(), vec![cp(1)]);
    }

    #[test]
    fn a_timeout_expires_the_pending_checkpoint() {
        let mut h = Harness::started(CoordinatorConfig { tolerable_failures: 1, ..config() });
        h.tick(100);
        assert_eq!(
            h.expire(1100, 1),
            vec![cancel_timeout(1), aborted(1, None, FailureReason::Expired)]
        );
        assert_eq!(h.coord.consecutive_failures(), 1);
        assert_eq!(h.expire(1100, 1), vec![], "a second firing");
    }

    #[test]
    fn a_timeout_after_completion_is_ignored() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.complete(150, 1);
        assert_eq!(h.expire(1100, 1), vec![]);
    }

    #[test]
    fn a_task_failure_aborts_the_checkpoints_it_has_not_acknowledged() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        h.ack(210, 1, 1);
        assert_eq!(
            h.failed(220, 1),
            vec![cancel_timeout(2), aborted(2, None, FailureReason::TaskFailure)]
        );
        assert_eq!(h.coord.pending(), vec![cp(1)]);
        assert!(!h.coord.plan().all_running);
    }

    // ---- tolerable failures ---------------------------------------------------------------

    #[test]
    fn zero_tolerable_failures_fail_the_job_on_the_first_counted_failure() {
        let mut h = Harness::started(config());
        h.tick(100);
        assert_eq!(
            h.decline(110, 1, 1, DeclineReason::AsyncFailure),
            vec![
                cancel_timeout(1),
                aborted(1, None, FailureReason::Declined(DeclineReason::AsyncFailure)),
                FailJob { failures: 1 },
            ]
        );
        assert_eq!(h.coord.consecutive_failures(), 0, "reset after failing the job");
    }

    #[test]
    fn failing_the_job_does_not_run_the_queued_request() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.tick(200);
        assert_eq!(
            h.expire(1100, 1),
            vec![
                cancel_timeout(1),
                aborted(1, None, FailureReason::Expired),
                FailJob { failures: 1 }
            ]
        );
        assert!(h.coord.has_queued_request());
        assert_eq!(h.stop(1100, FailureReason::JobFailover), vec![cancel_trigger()]);
        assert!(!h.coord.has_queued_request());
    }

    #[test]
    fn n_tolerable_failures_fail_the_job_on_the_n_plus_first() {
        let mut h = Harness::started(CoordinatorConfig { tolerable_failures: 2, ..config() });
        h.tick(100);
        assert_eq!(h.expire(1100, 1).last(), Some(&aborted(1, None, FailureReason::Expired)));
        h.tick(1100);
        assert_eq!(
            h.decline(1110, 0, 2, DeclineReason::AsyncFailure).last(),
            Some(&aborted(2, None, FailureReason::Declined(DeclineReason::AsyncFailure)))
        );
        h.tick(1200);
        h.ack_all(1210, 3);
        assert_eq!(
            h.finalized(1220, 3, false),
            vec![
                cancel_timeout(3),
                aborted(3, None, FailureReason::FinalizeFailed),
                FailJob { failures: 3 },
            ]
        );
    }

    #[test]
    fn a_success_resets_the_failure_counter() {
        let mut h = Harness::started(CoordinatorConfig { tolerable_failures: 1, ..config() });
        h.tick(100);
        h.expire(1100, 1);
        assert_eq!(h.coord.consecutive_failures(), 1);
        h.tick(1100);
        h.complete(1150, 2);
        assert_eq!(h.coord.consecutive_failures(), 0);
        h.tick(1200);
        assert_eq!(
            h.expire(2200, 3),
            vec![cancel_timeout(3), aborted(3, Some(2), FailureReason::Expired)]
        );
        assert_eq!(h.coord.consecutive_failures(), 1);
    }

    #[test]
    fn failures_of_ids_at_or_below_the_last_success_are_ignored() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        h.ack_all(210, 1);
        h.complete(220, 2);
        assert_eq!(
            h.finalized(230, 1, false),
            vec![cancel_timeout(1), aborted(1, Some(2), FailureReason::FinalizeFailed)],
            "counted reason, zero tolerable, but older than the last success: no FailJob"
        );
        assert_eq!(h.coord.consecutive_failures(), 0);
    }

    #[test]
    fn not_counted_reasons_never_fail_the_job() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        let mut all = Vec::new();
        for (i, reason) in [
            DeclineReason::Subsumed,
            DeclineReason::CancellationBarrier,
            DeclineReason::TaskNotReady,
        ]
        .into_iter()
        .enumerate()
        {
            let id = i as u64 + 1;
            h.tick(100 * id);
            all.extend(h.decline(100 * id + 10, 1, id, reason));
        }
        h.tick(400);
        all.extend(h.failed(410, 1));
        h.tick(500);
        h.tick(600);
        all.extend(h.complete(610, 6)); // subsumes 5
        h.tick(700);
        all.extend(h.stop(710, FailureReason::JobFailover));
        assert!(all.iter().all(|c| !matches!(c, FailJob { .. })), "{all:?}");
        assert_eq!(h.coord.consecutive_failures(), 0);
    }

    #[test]
    fn a_finalize_failure_is_counted() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.ack_all(110, 1);
        assert_eq!(
            h.finalized(120, 1, false),
            vec![
                cancel_timeout(1),
                aborted(1, None, FailureReason::FinalizeFailed),
                FailJob { failures: 1 },
            ]
        );
        assert_eq!(h.coord.latest_completed(), None);
        assert_eq!(h.coord.last_completion(), None);
    }

    #[test]
    fn an_unlimited_failure_budget_never_fails_the_job() {
        let mut h =
            Harness::started(CoordinatorConfig { tolerable_failures: u32::MAX, ..config() });
        for id in 1..=5 {
            h.tick(100 * id);
            let out = h.decline(100 * id + 1, 0, id, DeclineReason::AsyncFailure);
            assert!(!out.iter().any(|c| matches!(c, FailJob { .. })));
        }
    }

    // ---- stop and start -------------------------------------------------------------------

    #[test]
    fn stop_aborts_every_pending_checkpoint_and_stops_the_timer() {
        let mut h = Harness::started(CoordinatorConfig { max_concurrent: 2, ..config() });
        h.tick(100);
        h.tick(200);
        h.tick(300);
        assert!(h.coord.has_queued_request());
        assert_eq!(
            h.stop(310, FailureReason::JobFailover),
            vec![
                cancel_trigger(),
                cancel_timeout(1),
                aborted(1, None, FailureReason::JobFailover),
                cancel_timeout(2),
                aborted(2, None, FailureReason::JobFailover),
            ]
        );
        assert!(h.coord.pending().is_empty());
        assert!(!h.coord.has_queued_request(), "the queued request is dropped");
        assert!(!h.coord.is_scheduling());
        assert_eq!(h.tick(400), vec![], "a stale trigger timer is ignored");
        assert_eq!(h.stop(410, FailureReason::JobFailover), vec![], "stopping twice");
    }

    #[test]
    fn start_after_stop_resumes_with_increasing_ids() {
        let mut h = Harness::started(config());
        h.tick(100);
        h.stop(150, FailureReason::JobFailover);
        assert_eq!(h.start(500, 30), vec![set_trigger(530)]);
        assert_eq!(h.tick(530), tick_triggers(530, 630, 2));
    }

    #[test]
    fn start_while_running_rearms_the_trigger_timer() {
        let mut h = Harness::started(config());
        assert_eq!(h.start(10, 50), vec![cancel_trigger(), set_trigger(60)]);
    }

    #[test]
    fn a_restarted_coordinator_continues_from_the_stored_latest_completed() {
        let mut coord = Coordinator::new(config(), cp(8), Some(cp(7)));
        let mut out = Vec::new();
        coord.start(ms(0), 100, &mut out);
        coord.on_timer(ms(100), CoordTimer::Trigger, &two_tasks(), &mut out);
        out.clear();
        coord.on_decline(ms(110), task(1), cp(8), DeclineReason::TaskNotReady, &mut out);
        assert_eq!(
            out,
            vec![
                cancel_timeout(8),
                aborted(8, Some(7), FailureReason::Declined(DeclineReason::TaskNotReady))
            ]
        );
    }
}
