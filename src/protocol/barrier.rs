//! Barrier handling on a task's input side (docs/protocol.md, rules P4 and P5).
//!
//! A task with inputs owns one [`BarrierHandler`] for all its input channels (numbered
//! `0..channels` across all its gates). The task feeds it what it takes from each channel — a
//! data [`Buffer`](BarrierInput::Buffer), a [`Barrier`](BarrierInput::Barrier), a
//! [`Cancel`](BarrierInput::Cancel) marker or the channel's
//! [`EndOfPartition`](BarrierInput::EndOfPartition) — and, for a task whose upstream tasks have
//! all finished, the coordinator's trigger RPC ([`BarrierHandler::on_rpc_trigger`]). The handler
//! answers with [`BarrierOutput`]s, in the order the task must act on them: take the snapshot
//! (`Trigger`), decline and cancel downstream (`Abort`), stop or restart delivery from a channel
//! (`Block` / `Resume`). The handler owns only its bookkeeping: which checkpoint is being
//! aligned, which channels delivered its barrier, which are blocked and which have ended. It is
//! sans-io: no clock, no world, no allocation on the buffer path.
//!
//! Two handlers mirror Flink's (research/flink-protocol.md §3.4–§3.11):
//!
//! * [`AlignedHandler`] — rule **P4**, Flink's `SingleCheckpointBarrierHandler` in purely aligned
//!   mode with checkpoints after finished tasks enabled. One checkpoint aligns at a time. A
//!   channel that delivered barrier n is blocked until n triggers (on its last barrier) or
//!   aborts. A newer barrier during alignment aborts the older checkpoint (`Subsumed`); a cancel
//!   marker for a new id, or for the current id once alignment started, aborts it
//!   (`CancellationBarrier`). Barriers of an older, completed or aborted id are obsolete: their
//!   channel is resumed, nothing else. End of partition counts as the channel's barrier and
//!   lowers the count of later checkpoints.
//! * [`BarrierTracker`] — rule **P5**, Flink's `CheckpointBarrierTracker` (at-least-once). It never
//!   blocks. It tracks up to [`MAX_TRACKED`] partial checkpoints; one triggers when its barriers
//!   came from all channels open at its start, and that drops it and every older entry silently.
//!
//! Unaligned checkpoints (rule P6, [`BarrierOutput::Persist`]) are not handled yet: neither
//! handler ever produces `Persist`.

use std::collections::VecDeque;

use crate::ids::{CheckpointId, SimTime};

/// The most partial checkpoints a [`BarrierTracker`] remembers (Flink's
/// `MAX_CHECKPOINTS_TO_TRACK`); a newer one beyond that drops the oldest without notice.
pub const MAX_TRACKED: usize = 50;

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

/// The barrier handler of one task: exactly-once ([`AlignedHandler`], P4) or at-least-once
/// ([`BarrierTracker`], P5).
///
/// Feed it inputs one at a time and act on the outputs in order. Replaying a sequence, here two
/// channels where channel 0 delivers barrier 1 (and is blocked), channel 1 a buffer and then
/// barrier 1 (the checkpoint triggers and both channels resume):
///
/// ```
/// use ftsim::ids::{CheckpointId, SimTime};
/// use ftsim::protocol::barrier::{BarrierHandler, BarrierInput, BarrierOutput};
/// use BarrierInput::{Barrier, Buffer};
/// use BarrierOutput::{Block, Resume, Trigger};
///
/// let cp1 = CheckpointId(1);
/// let mut handler = BarrierHandler::aligned(2);
/// let script = [
///     (0, Barrier(cp1), vec![Block(0)]),
///     (1, Buffer, vec![]),
///     (1, Barrier(cp1), vec![Block(1), Trigger(cp1), Resume(0), Resume(1)]),
/// ];
/// let mut out = Vec::new();
/// for (channel, input, expected) in script {
///     out.clear();
///     handler.on_input(SimTime::ZERO, channel, input, &mut out);
///     assert_eq!(out, expected, "after {input:?} on channel {channel}");
/// }
/// assert_eq!(handler.pending(), None);
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub enum BarrierHandler {
    Aligned(AlignedHandler),
    Tracker(BarrierTracker),
}

impl Clone for BarrierHandler {
    fn clone(&self) -> Self {
        match self {
            BarrierHandler::Aligned(h) => BarrierHandler::Aligned(h.clone()),
            BarrierHandler::Tracker(t) => BarrierHandler::Tracker(t.clone()),
        }
    }

    /// In place when both are of the same kind, keeping allocations.
    fn clone_from(&mut self, src: &Self) {
        match (self, src) {
            (BarrierHandler::Aligned(a), BarrierHandler::Aligned(b)) => a.clone_from(b),
            (BarrierHandler::Tracker(a), BarrierHandler::Tracker(b)) => a.clone_from(b),
            (a, b) => *a = b.clone(),
        }
    }
}

impl BarrierHandler {
    /// An exactly-once handler for a task with `channels` input channels (P4).
    pub fn aligned(channels: u16) -> BarrierHandler {
        BarrierHandler::Aligned(AlignedHandler::new(channels))
    }

    /// An at-least-once handler for a task with `channels` input channels (P5).
    pub fn tracker(channels: u16) -> BarrierHandler {
        BarrierHandler::Tracker(BarrierTracker::new(channels))
    }

    /// Handles what the task took from `channel`; appends the resulting outputs to `out`.
    /// `now` is unused until alignment timeouts (P6) arrive.
    pub fn on_input(
        &mut self,
        _now: SimTime,
        channel: u16,
        input: BarrierInput,
        out: &mut Vec<BarrierOutput>,
    ) {
        match self {
            BarrierHandler::Aligned(h) => h.on_input(channel, input, out),
            BarrierHandler::Tracker(t) => t.on_input(channel, input, out),
        }
    }

    /// The coordinator's trigger RPC for checkpoint `id`, sent to a task whose upstream tasks
    /// have all finished: triggers at once if every channel has ended, otherwise counts as
    /// barrier `id` on every open channel (never blocking). An id not newer than the latest one
    /// the handler saw is ignored.
    pub fn on_rpc_trigger(
        &mut self,
        _now: SimTime,
        id: CheckpointId,
        out: &mut Vec<BarrierOutput>,
    ) {
        match self {
            BarrierHandler::Aligned(h) => h.on_rpc_trigger(id, out),
            BarrierHandler::Tracker(t) => t.on_rpc_trigger(id, out),
        }
    }

    /// The checkpoint this task is collecting barriers for (the newest live one for the
    /// tracker), if any.
    pub fn pending(&self) -> Option<CheckpointId> {
        match self {
            BarrierHandler::Aligned(h) => h.pending(),
            BarrierHandler::Tracker(t) => t.pending(),
        }
    }

    /// How many input channels have not ended yet.
    pub fn open_channels(&self) -> u16 {
        match self {
            BarrierHandler::Aligned(h) => h.open,
            BarrierHandler::Tracker(t) => t.open,
        }
    }

    /// Whether the handler holds `channel` blocked (only the aligned handler blocks).
    pub fn is_blocked(&self, channel: u16) -> bool {
        match self {
            BarrierHandler::Aligned(h) => h.blocked[usize::from(channel)],
            BarrierHandler::Tracker(_) => false,
        }
    }
}

/// Exactly-once barrier alignment: Flink's `SingleCheckpointBarrierHandler`, purely aligned,
/// checkpoints after finished tasks enabled (P4).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AlignedHandler {
    /// The newest checkpoint id seen (`None` = Flink's -1).
    current: Option<CheckpointId>,
    /// The newest id that completed or was aborted; `current` is pending while they differ.
    last_done: Option<CheckpointId>,
    /// Channels that delivered the pending checkpoint's barrier (or ended during it).
    aligned: ChannelSet,
    /// How many aligned channels trigger the pending checkpoint (open channels at its start).
    target: u16,
    open: u16,
    /// Channels held back until the pending checkpoint triggers or aborts.
    blocked: Vec<bool>,
    ended: Vec<bool>,
}

clone_fields!(AlignedHandler { current, last_done, aligned, target, open, blocked, ended });

impl AlignedHandler {
    /// A handler for `channels` input channels, all open, no checkpoint seen yet.
    pub fn new(channels: u16) -> AlignedHandler {
        let n = usize::from(channels);
        AlignedHandler {
            current: None,
            last_done: None,
            aligned: ChannelSet::new(n),
            target: 0,
            open: channels,
            blocked: vec![false; n],
            ended: vec![false; n],
        }
    }

    /// The newest checkpoint id this handler has seen (started, completed or aborted).
    pub fn current(&self) -> Option<CheckpointId> {
        self.current
    }

    /// The checkpoint being aligned, if any.
    pub fn pending(&self) -> Option<CheckpointId> {
        self.current.filter(|_| self.current != self.last_done)
    }

    /// Whether at least one channel delivered the pending checkpoint's barrier (or ended).
    pub fn is_aligning(&self) -> bool {
        self.aligned.count > 0
    }

    /// See [`BarrierHandler::on_input`].
    pub fn on_input(&mut self, channel: u16, input: BarrierInput, out: &mut Vec<BarrierOutput>) {
        match input {
            BarrierInput::Buffer => {}
            BarrierInput::Barrier(id) => self.on_barrier(channel, id, false, out),
            BarrierInput::Cancel(id) => self.on_cancel(id, out),
            BarrierInput::EndOfPartition => self.on_end_of_partition(channel, out),
        }
    }

    /// See [`BarrierHandler::on_rpc_trigger`]; an id not above [`Self::current`] is ignored.
    pub fn on_rpc_trigger(&mut self, id: CheckpointId, out: &mut Vec<BarrierOutput>) {
        if Some(id) <= self.current {
            return;
        }
        if self.open == 0 {
            self.current = Some(id);
            self.last_done = Some(id);
            out.push(BarrierOutput::Trigger(id));
            return;
        }
        for channel in 0..self.ended.len() as u16 {
            if !self.ended[usize::from(channel)] {
                self.on_barrier(channel, id, true, out);
            }
        }
    }

    /// Flink's `processBarrier`; an RPC-triggered barrier does not block its channel.
    fn on_barrier(&mut self, c: u16, id: CheckpointId, rpc: bool, out: &mut Vec<BarrierOutput>) {
        if Some(id) < self.current || (Some(id) == self.current && self.pending().is_none()) {
            // Obsolete: the network blocked the channel when it delivered the barrier.
            out.push(BarrierOutput::Resume(c));
            return;
        }
        if Some(id) > self.current {
            // Flink's `checkNewCheckpoint`: the first barrier of a newer checkpoint.
            if let Some(old) = self.pending() {
                self.abort(old, AbortReason::Subsumed, out);
            }
            self.current = Some(id);
            self.aligned.clear();
            self.target = self.open;
        }
        if !rpc {
            self.blocked[usize::from(c)] = true;
            out.push(BarrierOutput::Block(c));
        }
        self.mark_aligned(c, out);
    }

    /// Counts `c` for the pending checkpoint; on the last channel, triggers and resumes all.
    fn mark_aligned(&mut self, c: u16, out: &mut Vec<BarrierOutput>) {
        if self.aligned.insert(c) == self.target {
            if let Some(id) = self.current {
                out.push(BarrierOutput::Trigger(id));
            }
            self.resume_all(out);
            self.aligned.clear();
            self.last_done = self.current;
        }
    }

    /// Flink's `processCancellationBarrier`: acts on a newer id, or on the current one once
    /// alignment started; anything else is a trailing marker.
    fn on_cancel(&mut self, id: CheckpointId, out: &mut Vec<BarrierOutput>) {
        if Some(id) > self.current || (Some(id) == self.current && self.aligned.count > 0) {
            self.abort(id, AbortReason::CancellationBarrier, out);
        }
    }

    /// Flink's `abortInternal`: resumes every blocked channel, then reports the abort of `id`.
    fn abort(&mut self, id: CheckpointId, reason: AbortReason, out: &mut Vec<BarrierOutput>) {
        self.current = self.current.max(Some(id));
        self.last_done = self.last_done.max(Some(id));
        self.aligned.clear();
        self.target = 0;
        self.resume_all(out);
        out.push(BarrierOutput::Abort(id, reason));
    }

    fn on_end_of_partition(&mut self, c: u16, out: &mut Vec<BarrierOutput>) {
        let i = usize::from(c);
        if self.ended[i] {
            return;
        }
        self.ended[i] = true;
        self.blocked[i] = false;
        self.open -= 1;
        if self.pending().is_some() {
            self.mark_aligned(c, out);
        }
    }

    fn resume_all(&mut self, out: &mut Vec<BarrierOutput>) {
        for (c, blocked) in self.blocked.iter_mut().enumerate() {
            if *blocked {
                *blocked = false;
                out.push(BarrierOutput::Resume(c as u16));
            }
        }
    }
}

/// A set of channels with its size: a channel inserted twice counts once.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ChannelSet {
    member: Vec<bool>,
    count: u16,
}

clone_fields!(ChannelSet { member, count });

impl ChannelSet {
    fn new(channels: usize) -> ChannelSet {
        ChannelSet { member: vec![false; channels], count: 0 }
    }

    /// Adds `c`; returns the size of the set.
    fn insert(&mut self, c: u16) -> u16 {
        let seen = &mut self.member[usize::from(c)];
        if !*seen {
            *seen = true;
            self.count += 1;
        }
        self.count
    }

    fn clear(&mut self) {
        self.member.fill(false);
        self.count = 0;
    }
}

/// One partially aligned checkpoint of a [`BarrierTracker`] (Flink's `CheckpointBarrierCount`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Tracked {
    id: CheckpointId,
    /// Open channels when the entry was created.
    target: u16,
    aligned: ChannelSet,
    /// Cancelled: counted to the end, but never triggered.
    aborted: bool,
}

impl Tracked {
    fn new(id: CheckpointId, channels: usize, first: u16, target: u16) -> Tracked {
        let mut aligned = ChannelSet::new(channels);
        aligned.insert(first);
        Tracked { id, target, aligned, aborted: false }
    }

    /// Marks the entry aborted; true if it was not aborted before.
    fn mark_aborted(&mut self) -> bool {
        !std::mem::replace(&mut self.aborted, true)
    }
}

/// At-least-once barrier tracking: Flink's `CheckpointBarrierTracker` (P5). Never blocks.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BarrierTracker {
    open: u16,
    ended: Vec<bool>,
    /// The newest id tracked so far (`None` = Flink's -1); the single-channel fast path does
    /// not move it.
    latest: Option<CheckpointId>,
    /// Partial checkpoints, oldest first, at most [`MAX_TRACKED`].
    entries: VecDeque<Tracked>,
}

clone_fields!(BarrierTracker { open, ended, latest, entries });

impl BarrierTracker {
    /// A tracker for `channels` input channels, all open, nothing tracked.
    pub fn new(channels: u16) -> BarrierTracker {
        BarrierTracker {
            open: channels,
            ended: vec![false; usize::from(channels)],
            latest: None,
            entries: VecDeque::new(),
        }
    }

    /// The newest checkpoint that may still trigger: the newest tracked entry not aborted.
    pub fn pending(&self) -> Option<CheckpointId> {
        self.entries.iter().rev().find(|e| !e.aborted).map(|e| e.id)
    }

    /// See [`BarrierHandler::on_input`].
    pub fn on_input(&mut self, channel: u16, input: BarrierInput, out: &mut Vec<BarrierOutput>) {
        match input {
            BarrierInput::Buffer => {}
            BarrierInput::Barrier(id) => self.on_barrier(channel, id, out),
            BarrierInput::Cancel(id) => self.on_cancel(channel, id, out),
            BarrierInput::EndOfPartition => self.on_end_of_partition(channel, out),
        }
    }

    /// See [`BarrierHandler::on_rpc_trigger`]; an id not above the newest tracked id is
    /// ignored, and a direct trigger (no open channel) becomes the newest id.
    pub fn on_rpc_trigger(&mut self, id: CheckpointId, out: &mut Vec<BarrierOutput>) {
        if Some(id) <= self.latest {
            return;
        }
        if self.open == 0 {
            self.latest = Some(id);
            out.push(BarrierOutput::Trigger(id));
            return;
        }
        for channel in 0..self.ended.len() as u16 {
            if !self.ended[usize::from(channel)] {
                self.on_barrier(channel, id, out);
            }
        }
    }

    fn on_barrier(&mut self, c: u16, id: CheckpointId, out: &mut Vec<BarrierOutput>) {
        if Some(id) > self.latest && self.open == 1 {
            out.push(BarrierOutput::Trigger(id));
            return;
        }
        if let Some(pos) = self.entries.iter().position(|e| e.id == id) {
            let entry = &mut self.entries[pos];
            if entry.aligned.insert(c) == entry.target {
                self.complete(pos, out);
            }
        } else if Some(id) > self.latest {
            self.latest = Some(id);
            self.entries.push_back(Tracked::new(id, self.ended.len(), c, self.open));
            if self.entries.len() > MAX_TRACKED {
                self.entries.pop_front();
            }
        }
    }

    /// Drops entry `pos` and every older one; triggers it unless it was aborted.
    fn complete(&mut self, pos: usize, out: &mut Vec<BarrierOutput>) {
        let (id, aborted) = (self.entries[pos].id, self.entries[pos].aborted);
        self.entries.drain(..=pos);
        if !aborted {
            out.push(BarrierOutput::Trigger(id));
        }
    }

    fn on_cancel(&mut self, c: u16, id: CheckpointId, out: &mut Vec<BarrierOutput>) {
        let cancelled = |id| BarrierOutput::Abort(id, AbortReason::CancellationBarrier);
        if Some(id) > self.latest && self.open == 1 {
            out.push(cancelled(id));
            return;
        }
        while let Some(front) = self.entries.front_mut().filter(|e| e.id < id) {
            if front.mark_aborted() {
                out.push(cancelled(front.id));
            }
            self.entries.pop_front();
        }
        if let Some(front) = self.entries.front_mut().filter(|e| e.id == id) {
            if front.mark_aborted() {
                out.push(cancelled(id));
            }
            if front.aligned.insert(c) == front.target {
                self.entries.pop_front();
            }
        } else if Some(id) > self.latest {
            out.push(cancelled(id));
            self.latest = Some(id);
            let mut entry = Tracked::new(id, self.ended.len(), c, self.open);
            entry.aborted = true;
            self.entries.push_front(entry);
        }
    }

    /// Counts the ended channel for entries newest → oldest until one has all its channels,
    /// which triggers (unless aborted) and drops with all older ones.
    fn on_end_of_partition(&mut self, c: u16, out: &mut Vec<BarrierOutput>) {
        let i = usize::from(c);
        if self.ended[i] {
            return;
        }
        self.ended[i] = true;
        self.open -= 1;
        let found = (0..self.entries.len()).rev().find(|&pos| {
            let entry = &mut self.entries[pos];
            entry.aligned.insert(c) == entry.target
        });
        if let Some(pos) = found {
            self.complete(pos, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AbortReason::{CancellationBarrier, Subsumed};
    use super::BarrierOutput::{Abort, Block, Resume, Trigger};
    use super::*;

    /// One scripted step: an input on a channel, or the trigger RPC.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        In(u16, BarrierInput),
        Rpc(u64),
    }

    fn bar(c: u16, id: u64) -> Step {
        Step::In(c, BarrierInput::Barrier(CheckpointId(id)))
    }
    fn cancel(c: u16, id: u64) -> Step {
        Step::In(c, BarrierInput::Cancel(CheckpointId(id)))
    }
    fn buf(c: u16) -> Step {
        Step::In(c, BarrierInput::Buffer)
    }
    fn eop(c: u16) -> Step {
        Step::In(c, BarrierInput::EndOfPartition)
    }
    fn rpc(id: u64) -> Step {
        Step::Rpc(id)
    }
    fn trig(id: u64) -> BarrierOutput {
        Trigger(CheckpointId(id))
    }
    fn subsumed(id: u64) -> BarrierOutput {
        Abort(CheckpointId(id), Subsumed)
    }
    fn cancelled(id: u64) -> BarrierOutput {
        Abort(CheckpointId(id), CancellationBarrier)
    }
    fn aligned(n: u16) -> BarrierHandler {
        BarrierHandler::aligned(n)
    }
    fn tracker(n: u16) -> BarrierHandler {
        BarrierHandler::tracker(n)
    }
    fn cp(id: u64) -> Option<CheckpointId> {
        Some(CheckpointId(id))
    }

    /// Replays `script` step by step, asserting each step's exact outputs; returns the handler.
    fn check(mut h: BarrierHandler, script: &[(Step, &[BarrierOutput])]) -> BarrierHandler {
        let mut out = Vec::new();
        for (i, (step, expected)) in script.iter().enumerate() {
            out.clear();
            match *step {
                Step::In(c, input) => h.on_input(SimTime::ZERO, c, input, &mut out),
                Step::Rpc(id) => h.on_rpc_trigger(SimTime::ZERO, CheckpointId(id), &mut out),
            }
            assert_eq!(&out[..], *expected, "step {i}: {step:?}");
        }
        h
    }

    /// `script! { handler; step => [outputs]; ... }`: the table form of [`check`], one step
    /// (or a few short ones) per line.
    macro_rules! script {
        ($h:expr; $($step:expr => [$($o:expr),*]);* $(;)?) => {
            check($h, &[$(($step, &[$($o),*][..])),*])
        };
    }

    // ----- aligned handler (P4) -----

    #[test]
    fn a_single_channel_triggers_on_each_barrier() {
        script! { aligned(1);
            buf(0) => [];
            bar(0, 1) => [Block(0), trig(1), Resume(0)];
            buf(0) => [];
            bar(0, 2) => [Block(0), trig(2), Resume(0)];
        };
    }

    #[test]
    fn alignment_blocks_each_channel_until_the_last_barrier_triggers() {
        let h = script! { aligned(3);
            bar(1, 1) => [Block(1)];
            buf(0) => [];
            bar(0, 1) => [Block(0)];
            buf(2) => [];
            bar(2, 1) => [Block(2), trig(1), Resume(0), Resume(1), Resume(2)];
        };
        assert!((0..3).all(|c| !h.is_blocked(c)));
    }

    #[test]
    fn buffers_change_nothing() {
        let before = script! { aligned(2); bar(0, 1) => [Block(0)] };
        assert!(before.is_blocked(0));
        let after = script! { before.clone(); buf(1) => []; buf(1) => [] };
        assert_eq!(before, after);
    }

    #[test]
    fn obsolete_barriers_resume_their_channel_and_never_trigger() {
        script! { aligned(2);
            bar(0, 2) => [Block(0)];
            bar(1, 2) => [Block(1), trig(2), Resume(0), Resume(1)];
            bar(0, 1) => [Resume(0)];
            bar(1, 2) => [Resume(1)];
            bar(0, 2) => [Resume(0)];
        };
    }

    #[test]
    fn a_newer_barrier_during_alignment_subsumes_the_older_checkpoint() {
        let h = script! { aligned(3);
            bar(0, 1) => [Block(0)];
            bar(1, 1) => [Block(1)];
            bar(2, 2) => [Resume(0), Resume(1), subsumed(1), Block(2)];
        };
        assert_eq!(h.pending(), cp(2));
    }

    #[test]
    fn barriers_of_a_subsumed_checkpoint_arriving_later_are_obsolete() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            bar(1, 2) => [Resume(0), subsumed(1), Block(1)];
            bar(0, 1) => [Resume(0)];
            bar(0, 2) => [Block(0), trig(2), Resume(0), Resume(1)];
        };
    }

    #[test]
    fn a_cancel_marker_for_the_current_checkpoint_aborts_it_and_unblocks() {
        let h = script! { aligned(3);
            bar(0, 1) => [Block(0)];
            bar(2, 1) => [Block(2)];
            cancel(1, 1) => [Resume(0), Resume(2), cancelled(1)];
            bar(1, 1) => [Resume(1)];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn a_cancel_for_a_newer_checkpoint_aborts_it_and_makes_its_barriers_obsolete() {
        script! { aligned(2);
            cancel(0, 3) => [cancelled(3)];
            bar(1, 3) => [Resume(1)];
            bar(0, 3) => [Resume(0)];
            bar(0, 4) => [Block(0)];
        };
    }

    #[test]
    fn a_cancel_for_a_newer_id_during_alignment_reports_only_the_newer_id() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            cancel(1, 2) => [Resume(0), cancelled(2)];
            bar(1, 1) => [Resume(1)];
        };
    }

    #[test]
    fn a_trailing_cancel_for_a_completed_checkpoint_is_ignored() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            bar(1, 1) => [Block(1), trig(1), Resume(0), Resume(1)];
            cancel(0, 1) => [];
            cancel(1, 0) => [];
        };
    }

    #[test]
    fn a_cancel_for_the_current_id_before_any_alignment_is_ignored() {
        script! { aligned(3);
            cancel(0, 5) => [cancelled(5)];
            cancel(1, 5) => [];
            cancel(2, 5) => [];
            cancel(2, 4) => [];
        };
    }

    #[test]
    fn end_of_partition_counts_as_the_channels_barrier_and_can_trigger() {
        let h = script! { aligned(3);
            bar(0, 1) => [Block(0)];
            bar(1, 1) => [Block(1)];
            eop(2) => [trig(1), Resume(0), Resume(1)];
        };
        assert_eq!(h.open_channels(), 2);
    }

    #[test]
    fn end_of_partition_before_any_barrier_lowers_the_target_of_the_next_checkpoint() {
        script! { aligned(3);
            eop(1) => [];
            bar(0, 1) => [Block(0)];
            bar(2, 1) => [Block(2), trig(1), Resume(0), Resume(2)];
            eop(0) => [];
            bar(2, 2) => [Block(2), trig(2), Resume(2)];
        };
    }

    #[test]
    fn end_of_partition_on_an_aligned_channel_is_not_counted_twice() {
        script! { aligned(3);
            bar(0, 1) => [Block(0)];
            eop(0) => [];
            bar(1, 1) => [Block(1)];
            bar(2, 1) => [Block(2), trig(1), Resume(1), Resume(2)];
        };
    }

    #[test]
    fn a_second_barrier_on_the_same_channel_is_not_counted_twice() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            bar(0, 1) => [Block(0)];
            bar(1, 1) => [Block(1), trig(1), Resume(0), Resume(1)];
        };
    }

    #[test]
    fn end_of_partition_without_a_pending_checkpoint_outputs_nothing() {
        let h = script! { aligned(2); eop(0) => []; eop(0) => []; eop(1) => [] };
        assert_eq!(h.open_channels(), 0);
    }

    #[test]
    fn rpc_trigger_with_no_open_channels_triggers_at_once() {
        let h = script! { aligned(2); eop(0) => []; eop(1) => []; rpc(4) => [trig(4)] };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn rpc_trigger_with_open_channels_aligns_them_without_blocking() {
        let h = script! { aligned(3);
            eop(1) => [];
            rpc(2) => [trig(2)];
            bar(0, 2) => [Resume(0)];
            eop(2) => [];
        };
        assert!(!h.is_blocked(0));
    }

    #[test]
    fn rpc_trigger_subsumes_a_pending_alignment() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            rpc(2) => [Resume(0), subsumed(1), trig(2)];
        };
    }

    #[test]
    fn rpc_trigger_for_an_old_id_is_ignored() {
        script! { aligned(2);
            bar(0, 3) => [Block(0)];
            rpc(3) => [];
            rpc(2) => [];
            bar(1, 3) => [Block(1), trig(3), Resume(0), Resume(1)];
            eop(0) => [];
            eop(1) => [];
            rpc(3) => [];
            rpc(4) => [trig(4)];
        };
    }

    #[test]
    fn pending_reflects_the_alignment_state() {
        let h = aligned(2);
        assert_eq!(h.pending(), None);
        let h = script! { h; bar(0, 1) => [Block(0)] };
        assert_eq!(h.pending(), cp(1));
        let BarrierHandler::Aligned(a) = &h else { panic!("not aligned") };
        assert!(a.is_aligning() && a.current() == cp(1));
        let h = script! { h; bar(1, 1) => [Block(1), trig(1), Resume(0), Resume(1)] };
        assert_eq!(h.pending(), None);
        let h = script! { h; bar(1, 2) => [Block(1)] };
        assert_eq!(h.pending(), cp(2));
        let h = script! { h; cancel(0, 2) => [Resume(1), cancelled(2)] };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn interleaved_checkpoints_one_two_three_complete_or_subsume_in_turn() {
        script! { aligned(2);
            bar(0, 1) => [Block(0)];
            bar(1, 1) => [Block(1), trig(1), Resume(0), Resume(1)];
            bar(0, 2) => [Block(0)];
            buf(1) => [];
            bar(1, 3) => [Resume(0), subsumed(2), Block(1)];
            bar(0, 2) => [Resume(0)];
            bar(0, 3) => [Block(0), trig(3), Resume(0), Resume(1)];
        };
    }

    // ----- barrier tracker (P5) -----

    #[test]
    fn tracker_on_a_single_channel_triggers_every_new_barrier_at_once() {
        let h = script! { tracker(1);
            bar(0, 1) => [trig(1)];
            buf(0) => [];
            bar(0, 2) => [trig(2)];
            bar(0, 4) => [trig(4)];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_triggers_on_the_last_barrier_without_blocking() {
        let h = script! { tracker(3);
            bar(0, 1) => [];
            buf(0) => [];
            bar(2, 1) => [];
            bar(1, 1) => [trig(1)];
        };
        assert!((0..3).all(|c| !h.is_blocked(c)));
    }

    #[test]
    fn tracker_completing_a_newer_checkpoint_drops_older_partial_ones_silently() {
        let h = script! { tracker(2);
            bar(0, 1) => [];
            bar(0, 2) => [];
            bar(0, 3) => [];
            bar(1, 2) => [trig(2)];
            bar(1, 1) => [];
            bar(1, 3) => [trig(3)];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_ignores_late_barriers_of_a_dropped_checkpoint() {
        script! { tracker(2);
            bar(0, 1) => [];
            bar(0, 2) => [];
            bar(1, 2) => [trig(2)];
            bar(1, 1) => [];
            bar(1, 2) => [];
            bar(1, 3) => [];
            bar(0, 3) => [trig(3)];
        };
    }

    #[test]
    fn tracker_counts_a_second_barrier_on_one_channel_once() {
        script! { tracker(2); bar(0, 1) => []; bar(0, 1) => []; bar(1, 1) => [trig(1)] };
    }

    #[test]
    fn tracker_cancel_on_a_single_channel_aborts_at_once() {
        script! { tracker(1); cancel(0, 1) => [cancelled(1)]; bar(0, 2) => [trig(2)] };
    }

    #[test]
    fn tracker_cancel_aborts_and_removes_older_entries() {
        let h = script! { tracker(2);
            bar(0, 1) => [];
            bar(0, 2) => [];
            bar(0, 3) => [];
            cancel(1, 3) => [cancelled(1), cancelled(2), cancelled(3)];
            bar(1, 1) => [];
            bar(1, 2) => [];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_cancel_for_a_new_id_tracks_it_aborted_so_its_barriers_never_trigger() {
        let h = script! { tracker(3);
            bar(0, 1) => [];
            cancel(1, 2) => [cancelled(1), cancelled(2)];
            bar(0, 2) => [];
            bar(2, 2) => [];
            bar(2, 3) => [];
        };
        assert_eq!(h.pending(), cp(3));
    }

    #[test]
    fn tracker_repeated_cancels_abort_once_and_trailing_ones_are_ignored() {
        let h = script! { tracker(3);
            bar(0, 2) => [];
            cancel(1, 2) => [cancelled(2)];
            cancel(2, 2) => [];
            cancel(2, 1) => [];
            bar(0, 2) => [];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_end_of_partition_completes_the_newest_entry_it_fills() {
        let h = script! { tracker(3);
            bar(0, 1) => [];
            bar(0, 2) => [];
            bar(1, 2) => [];
            bar(0, 3) => [];
            bar(0, 4) => [];
            bar(1, 4) => [];
            bar(1, 5) => [];
            eop(2) => [trig(4)];
            bar(0, 5) => [trig(5)];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_end_of_partition_lowers_the_count_for_later_checkpoints() {
        script! { tracker(3);
            eop(1) => [];
            bar(0, 1) => [];
            bar(2, 1) => [trig(1)];
            eop(2) => [];
            bar(0, 2) => [trig(2)];
        };
    }

    #[test]
    fn tracker_end_of_partition_finishes_an_aborted_entry_without_trigger() {
        let h = script! { tracker(2);
            cancel(0, 1) => [cancelled(1)];
            eop(1) => [];
            bar(0, 1) => [];
            bar(0, 2) => [trig(2)];
        };
        assert_eq!(h.pending(), None);
    }

    #[test]
    fn tracker_tracks_at_most_fifty_pending_checkpoints() {
        let mut h = tracker(2);
        for id in 1..=(MAX_TRACKED as u64 + 1) {
            h = script! { h; bar(0, id) => [] };
        }
        script! { h; bar(1, 1) => []; bar(1, 2) => [trig(2)] };
    }

    #[test]
    fn tracker_rpc_trigger_triggers_at_once_or_counts_every_open_channel() {
        script! { tracker(2); eop(0) => []; eop(1) => []; rpc(3) => [trig(3)]; rpc(3) => [] };
        script! { tracker(3);
            eop(1) => [];
            bar(0, 1) => [];
            rpc(2) => [trig(2)];
            rpc(1) => [];
        };
    }
}
