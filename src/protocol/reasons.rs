//! Why checkpoints fail: the task-side decline reasons and the coordinator-side failure
//! reasons, with which of them count against `tolerable_failures` (Flink's
//! `CheckpointFailureReason`, flink-protocol.md §2.8).

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

impl DeclineReason {
    /// Whether a decline for this reason counts against the tolerable failures (Flink:
    /// `CHECKPOINT_ASYNC_EXCEPTION` is counted, the `CHECKPOINT_DECLINED_*` reasons are not).
    pub fn is_counted(self) -> bool {
        matches!(self, DeclineReason::AsyncFailure)
    }
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
    /// A periodic trigger came less than `min_pause_ms` after the last completion
    /// (Flink's `MINIMUM_TIME_BETWEEN_CHECKPOINTS`; pre-flight, not counted).
    MinPause,
    /// A task that had not acknowledged the checkpoint failed (Flink's `TASK_FAILURE`; not
    /// counted).
    TaskFailure,
}

impl FailureReason {
    /// Whether this failure counts against `tolerable_failures` (Flink's
    /// `isCountedAgainstFailureThreshold`).
    pub fn is_counted(self) -> bool {
        match self {
            FailureReason::Expired | FailureReason::FinalizeFailed => true,
            FailureReason::Declined(d) => d.is_counted(),
            FailureReason::Subsumed
            | FailureReason::JobFailover
            | FailureReason::NotAllTasksRunning
            | FailureReason::MinPause
            | FailureReason::TaskFailure => false,
        }
    }

    /// A short stable name for traces and reports (`expired`, `declined:async_failure`, …).
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::Expired => "expired",
            FailureReason::Declined(DeclineReason::Subsumed) => "declined:subsumed",
            FailureReason::Declined(DeclineReason::CancellationBarrier) => {
                "declined:cancellation_barrier"
            }
            FailureReason::Declined(DeclineReason::AsyncFailure) => "declined:async_failure",
            FailureReason::Declined(DeclineReason::TaskNotReady) => "declined:task_not_ready",
            FailureReason::FinalizeFailed => "finalize_failed",
            FailureReason::Subsumed => "subsumed",
            FailureReason::JobFailover => "job_failover",
            FailureReason::NotAllTasksRunning => "not_all_tasks_running",
            FailureReason::MinPause => "min_pause",
            FailureReason::TaskFailure => "task_failure",
        }
    }
}
