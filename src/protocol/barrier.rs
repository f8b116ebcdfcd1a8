//! Barrier handling on a task's input side (docs/protocol.md, rules P4 and P5).
//!
//! INTERFACE SKELETON — implementation in progress.

use crate::ids::{CheckpointId, SimTime};

/// What a task's input gate hands to the barrier handler, per input channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarrierInput {
    /// A data buffer (record or watermark) was taken from the channel.
    Buffer,
    /// Checkpoint barrier `id` arrived on the channel.
    Barrier(CheckpointId),
    /// `CancelCheckpointMarker(id)` arrived on the channel.
    Cancel(CheckpointId),
    /// The channel ended (its sender finished): counts as that channel's barrier.
    EndOfPartition,
}

/// Why the handler aborted a checkpoint (Flink's task-side decline reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AbortReason {
    /// A barrier of a newer checkpoint arrived during alignment (CHECKPOINT_DECLINED_SUBSUMED).
    Subsumed,
    /// A cancel marker arrived (CHECKPOINT_DECLINED_ON_CANCELLATION_BARRIER).
    CancellationBarrier,
}

/// What the handler asks the task to do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarrierOutput {
    /// Take the snapshot for checkpoint `id` now (P3).
    Trigger(CheckpointId),
    /// Abort checkpoint `id`: decline it and send a cancel marker downstream.
    Abort(CheckpointId, AbortReason),
    /// Deliver nothing more from this channel until it is resumed.
    Block(u16),
    /// Deliver from this channel again.
    Resume(u16),
    /// Persist this buffer of channel `channel` as in-flight state of checkpoint `id`
    /// (unaligned checkpoints, P6; never produced by the aligned handler or the tracker).
    Persist { id: CheckpointId, channel: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BarrierHandler {
    Aligned(AlignedHandler),
    Tracker(BarrierTracker),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AlignedHandler {}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BarrierTracker {}

impl BarrierHandler {
    pub fn aligned(_channels: u16) -> BarrierHandler {
        BarrierHandler::Aligned(AlignedHandler {})
    }

    pub fn tracker(_channels: u16) -> BarrierHandler {
        BarrierHandler::Tracker(BarrierTracker {})
    }

    pub fn on_input(&mut self, _now: SimTime, _channel: u16, _input: BarrierInput, _out: &mut Vec<BarrierOutput>) {}

    pub fn on_rpc_trigger(&mut self, _now: SimTime, _id: CheckpointId, _out: &mut Vec<BarrierOutput>) {}

    pub fn pending(&self) -> Option<CheckpointId> {
        None
    }
}
