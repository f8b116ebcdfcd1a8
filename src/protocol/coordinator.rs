//! The checkpoint coordinator (docs/protocol.md, rule P1).
//!
//! INTERFACE SKELETON — implementation in progress.

use crate::ids::{CheckpointId, SimTime, TaskId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CoordinatorConfig {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub min_pause_ms: u64,
    pub max_concurrent: u32,
    pub tolerable_failures: u32,
}

/// The coordinator's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CoordTimer {
    /// The periodic trigger.
    Trigger,
    /// The expiry of a pending checkpoint.
    Timeout(CheckpointId),
}

/// Why a task declined a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeclineReason {
    /// A newer barrier subsumed it during alignment (not counted as a failure).
    Subsumed,
    /// A cancel marker aborted it (not counted).
    CancellationBarrier,
    /// The asynchronous upload of the snapshot failed (counted).
    AsyncFailure,
    /// The task could not take part (not running, or restored after the trigger; not counted).
    TaskNotReady,
}

/// Why a pending checkpoint was aborted, or a trigger did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureReason {
    /// It did not complete within `timeout_ms` (counted).
    Expired,
    /// A task declined it (counted only for `AsyncFailure`).
    Declined(DeclineReason),
    /// Writing its metadata to the checkpoint store failed (counted).
    FinalizeFailed,
    /// A newer checkpoint completed first (not counted).
    Subsumed,
    /// The job is failing over (not counted).
    JobFailover,
    /// Not every task to wait for was running at trigger time (pre-flight, not counted).
    NotAllTasksRunning,
}

/// Which tasks a new checkpoint involves, computed by the world at trigger time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Tasks that get `TriggerCheckpoint` (sources, and running tasks whose inputs all ended).
    pub to_trigger: Vec<TaskId>,
    /// Tasks whose acknowledgement completes the checkpoint (every task not finished).
    pub to_wait: Vec<TaskId>,
    /// False when some task is not running (failed, restarting): no checkpoint can start.
    pub all_running: bool,
}

/// Commands for the world, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordCmd {
    SetTimer { timer: CoordTimer, at: SimTime },
    CancelTimer(CoordTimer),
    /// Send `TriggerCheckpoint(id)` to these tasks; the checkpoint is now pending.
    Trigger { id: CheckpointId, tasks: Vec<TaskId> },
    /// Write the metadata of `id` to the checkpoint store, then call `on_finalized`.
    Finalize { id: CheckpointId },
    /// The checkpoint is complete: send `NotifyCheckpointComplete(id)` to every task.
    NotifyComplete { id: CheckpointId },
    /// The checkpoint was aborted: send `NotifyCheckpointAborted(id, latest_completed)` to
    /// every task.
    NotifyAborted { id: CheckpointId, latest_completed: Option<CheckpointId>, reason: FailureReason },
    /// A trigger did not happen (for the trace).
    Skipped { reason: FailureReason },
    /// Tolerable checkpoint failures exceeded: fail the job (global failover).
    FailJob { failures: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Coordinator {
    config: CoordinatorConfig,
    next_id: CheckpointId,
    latest_completed: Option<CheckpointId>,
}

impl Coordinator {
    pub fn new(config: CoordinatorConfig, next_id: CheckpointId, latest_completed: Option<CheckpointId>) -> Coordinator {
        Coordinator { config, next_id, latest_completed }
    }

    pub fn start(&mut self, _now: SimTime, _initial_delay_ms: u64, _out: &mut Vec<CoordCmd>) {}

    pub fn stop(&mut self, _now: SimTime, _reason: FailureReason, _out: &mut Vec<CoordCmd>) {}

    pub fn on_timer(&mut self, _now: SimTime, _timer: CoordTimer, _plan: &Plan, _out: &mut Vec<CoordCmd>) {}

    pub fn on_ack(&mut self, _now: SimTime, _task: TaskId, _id: CheckpointId, _out: &mut Vec<CoordCmd>) {}

    pub fn on_decline(
        &mut self,
        _now: SimTime,
        _task: TaskId,
        _id: CheckpointId,
        _reason: DeclineReason,
        _out: &mut Vec<CoordCmd>,
    ) {
    }

    pub fn on_task_finished(&mut self, _now: SimTime, _task: TaskId, _out: &mut Vec<CoordCmd>) {}

    pub fn on_finalized(&mut self, _now: SimTime, _id: CheckpointId, _ok: bool, _out: &mut Vec<CoordCmd>) {}

    pub fn next_id(&self) -> CheckpointId {
        self.next_id
    }

    pub fn latest_completed(&self) -> Option<CheckpointId> {
        self.latest_completed
    }

    pub fn pending(&self) -> Vec<CheckpointId> {
        Vec::new()
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }
}
