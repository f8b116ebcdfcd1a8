//! The task side of a checkpoint (docs/protocol.md, rules P3 and P7; Flink's
//! `SubtaskCheckpointCoordinatorImpl` and `StreamTask` notification handling).
//!
//! It decides, for one task attempt, whether a triggered checkpoint is taken, and in which
//! order the task acts: emit the barrier downstream, take the synchronous snapshot, upload it
//! asynchronously, acknowledge only after the upload. It also filters the coordinator's
//! notifications: completion notices are monotonic, an abort notice carries the latest
//! completed id (making up for a lost completion notice), and a checkpoint aborted before its
//! barrier arrived is skipped with a cancel marker.
//!
//! ```
//! use ftsim::ids::CheckpointId as Cp;
//! use ftsim::protocol::checkpointer::{Checkpointer, TaskCmd};
//! let mut c = Checkpointer::default();
//! assert_eq!(c.on_trigger(Cp(1)), vec![TaskCmd::BroadcastBarrier(Cp(1)), TaskCmd::Snapshot(Cp(1))]);
//! assert_eq!(c.on_trigger(Cp(1)), vec![]); // a second trigger of the same id is ignored
//! assert_eq!(c.on_notify_complete(Cp(1)), vec![TaskCmd::CheckpointComplete(Cp(1))]);
//! ```

use crate::ids::CheckpointId;
use std::collections::BTreeSet;

/// How many aborted ids a task remembers (Flink keeps a bounded set too).
pub const MAX_REMEMBERED_ABORTS: usize = 128;

/// What the task must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskCmd {
    /// Send barrier `id` on every output channel.
    BroadcastBarrier(CheckpointId),
    /// Send `CancelCheckpointMarker(id)` on every output channel.
    BroadcastCancel(CheckpointId),
    /// Process the records already queued on every input before snapshotting (only the
    /// mutation `snapshot_after_barrier_records` asks for this: it breaks the cut).
    DrainInputs,
    /// Take the synchronous snapshot of `id` and start its asynchronous upload; acknowledge
    /// when the upload finishes, decline if it fails.
    Snapshot(CheckpointId),
    /// Tell the coordinator that this task declines `id` (a barrier-related abort).
    Decline(CheckpointId),
    /// Drop the upload of `id` if it is still running: no acknowledgement will follow.
    CancelUpload(CheckpointId),
    /// Checkpoint `id` completed: operators may publish (the sink commits every pending
    /// transaction with an id ≤ `id`).
    CheckpointComplete(CheckpointId),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checkpointer {
    /// The last checkpoint this task triggered or aborted.
    last_checkpoint: Option<CheckpointId>,
    /// The last completion notice acted on.
    last_notified: Option<CheckpointId>,
    /// Checkpoints the coordinator aborted before this task saw their barrier.
    aborted: BTreeSet<CheckpointId>,
    /// Mutation `snapshot_after_barrier_records`.
    drain_before_snapshot: bool,
}

impl Checkpointer {
    /// The broken variant that takes its snapshot after the records queued behind the
    /// barrier (mutation `snapshot_after_barrier_records`).
    pub fn draining_before_snapshot(on: bool) -> Checkpointer {
        Checkpointer { drain_before_snapshot: on, ..Checkpointer::default() }
    }

    pub fn last_checkpoint(&self) -> Option<CheckpointId> {
        self.last_checkpoint
    }

    pub fn last_notified(&self) -> Option<CheckpointId> {
        self.last_notified
    }

    /// The barrier handler (or, for a source, the coordinator's RPC) triggers `id`.
    pub fn on_trigger(&mut self, id: CheckpointId) -> Vec<TaskCmd> {
        if self.last_checkpoint.is_some_and(|last| last >= id) {
            // Out of order: an older barrier after a newer checkpoint. Nothing is sent.
            return Vec::new();
        }
        self.last_checkpoint = Some(id);
        if self.aborted.remove(&id) {
            // The coordinator already gave up on it: skip it, and tell downstream.
            return vec![TaskCmd::BroadcastCancel(id)];
        }
        // P3: the barrier goes out first, then the snapshot, with no record in between.
        if self.drain_before_snapshot {
            return vec![
                TaskCmd::BroadcastBarrier(id),
                TaskCmd::DrainInputs,
                TaskCmd::Snapshot(id),
            ];
        }
        vec![TaskCmd::BroadcastBarrier(id), TaskCmd::Snapshot(id)]
    }

    /// The barrier handler aborted `id` (subsumed by a newer barrier, or cancelled).
    pub fn on_barrier_abort(&mut self, id: CheckpointId) -> Vec<TaskCmd> {
        self.last_checkpoint = Some(self.last_checkpoint.map_or(id, |l| l.max(id)));
        self.aborted = self.aborted.split_off(&id);
        self.aborted.remove(&id);
        vec![TaskCmd::Decline(id), TaskCmd::BroadcastCancel(id)]
    }

    /// `NotifyCheckpointComplete(id)` arrived. Notices are monotonic: older or repeated ones
    /// are dropped.
    pub fn on_notify_complete(&mut self, id: CheckpointId) -> Vec<TaskCmd> {
        if self.last_notified.is_some_and(|l| l >= id) {
            return Vec::new();
        }
        self.last_notified = Some(id);
        vec![TaskCmd::CheckpointComplete(id)]
    }

    /// `NotifyCheckpointAborted(id, latest_completed)` arrived.
    pub fn on_notify_aborted(
        &mut self,
        id: CheckpointId,
        latest_completed: Option<CheckpointId>,
    ) -> Vec<TaskCmd> {
        let mut out = Vec::new();
        if let Some(latest) = latest_completed {
            // Makes up for a completion notice that may have been lost.
            out.extend(self.on_notify_complete(latest));
        }
        out.push(TaskCmd::CancelUpload(id));
        if self.last_checkpoint.is_none_or(|l| id > l) {
            self.aborted.insert(id);
            while self.aborted.len() > MAX_REMEMBERED_ABORTS {
                self.aborted.pop_first();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskCmd::*;

    const C1: CheckpointId = CheckpointId(1);
    const C2: CheckpointId = CheckpointId(2);
    const C3: CheckpointId = CheckpointId(3);

    #[test]
    fn a_trigger_sends_the_barrier_before_the_snapshot() {
        let mut c = Checkpointer::default();
        assert_eq!(c.on_trigger(C1), vec![BroadcastBarrier(C1), Snapshot(C1)]);
        assert_eq!(c.last_checkpoint(), Some(C1));
    }

    #[test]
    fn an_older_or_repeated_trigger_is_ignored() {
        let mut c = Checkpointer::default();
        c.on_trigger(C2);
        assert_eq!(c.on_trigger(C1), vec![]);
        assert_eq!(c.on_trigger(C2), vec![]);
    }

    #[test]
    fn a_checkpoint_aborted_before_its_barrier_is_skipped_with_a_cancel_marker() {
        let mut c = Checkpointer::default();
        assert_eq!(c.on_notify_aborted(C1, None), vec![CancelUpload(C1)]);
        assert_eq!(c.on_trigger(C1), vec![BroadcastCancel(C1)]);
        assert_eq!(c.on_trigger(C2), vec![BroadcastBarrier(C2), Snapshot(C2)]);
    }

    #[test]
    fn an_abort_notice_for_a_taken_checkpoint_only_cancels_its_upload() {
        let mut c = Checkpointer::default();
        c.on_trigger(C1);
        assert_eq!(c.on_notify_aborted(C1, None), vec![CancelUpload(C1)]);
        assert_eq!(c.on_trigger(C2), vec![BroadcastBarrier(C2), Snapshot(C2)]);
    }

    #[test]
    fn a_barrier_abort_declines_and_forwards_a_cancel_marker() {
        let mut c = Checkpointer::default();
        assert_eq!(c.on_barrier_abort(C2), vec![Decline(C2), BroadcastCancel(C2)]);
        assert_eq!(c.on_trigger(C2), vec![], "an aborted id never triggers afterwards");
        assert_eq!(c.on_trigger(C1), vec![]);
    }

    #[test]
    fn completion_notices_are_monotonic() {
        let mut c = Checkpointer::default();
        assert_eq!(c.on_notify_complete(C2), vec![CheckpointComplete(C2)]);
        assert_eq!(c.on_notify_complete(C1), vec![]);
        assert_eq!(c.on_notify_complete(C2), vec![]);
        assert_eq!(c.on_notify_complete(C3), vec![CheckpointComplete(C3)]);
    }

    #[test]
    fn an_abort_notice_carries_a_lost_completion() {
        let mut c = Checkpointer::default();
        c.on_trigger(C1);
        c.on_trigger(C2);
        assert_eq!(
            c.on_notify_aborted(C2, Some(C1)),
            vec![CheckpointComplete(C1), CancelUpload(C2)]
        );
        assert_eq!(c.on_notify_aborted(C3, Some(C1)), vec![CancelUpload(C3)]);
    }

    #[test]
    fn the_drain_mutation_processes_queued_records_between_barrier_and_snapshot() {
        let mut c = Checkpointer::draining_before_snapshot(true);
        assert_eq!(c.on_trigger(C1), vec![BroadcastBarrier(C1), DrainInputs, Snapshot(C1)]);
    }

    #[test]
    fn the_set_of_remembered_aborts_is_bounded() {
        let mut c = Checkpointer::default();
        for i in 1..=(MAX_REMEMBERED_ABORTS as u64 + 10) {
            c.on_notify_aborted(CheckpointId(i), None);
        }
        assert_eq!(c.aborted.len(), MAX_REMEMBERED_ABORTS);
        assert_eq!(c.aborted.first(), Some(&CheckpointId(11)));
    }
}
