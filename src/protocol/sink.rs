//! Sink subtasks: how records become visible output (docs/protocol.md, rule P7).
//!
//! * `at_least_once` writes each record to the external system at once;
//! * `upsert` writes each record as the new value of its key at once;
//! * `exactly_once` is a two-phase-commit sink (Flink's `TwoPhaseCommitSinkFunction`):
//!   records go into the open transaction; at the snapshot of checkpoint n the transaction is
//!   pre-committed and recorded in the sink's state as pending for n, and a new one opens; on
//!   `NotifyCheckpointComplete(n)` every pending transaction with a checkpoint id ≤ n commits,
//!   in id order; on restore, the pending transactions of the restored state are committed
//!   again (commits are idempotent) and every other transaction of earlier attempts is
//!   aborted. With checkpointing disabled the open transaction is committed once, at end of
//!   input.
//!
//! The machine never touches the external system itself: it returns [`SinkCmd`]s that the
//! world carries out.

use crate::ids::CheckpointId;
use crate::record::Record;
use crate::scenario::model::Delivery;
use std::fmt;

/// A transaction of the external system: which sink subtask opened it, in which attempt
/// (execution) of that subtask, and its sequence number within the attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId {
    pub subtask: u16,
    pub attempt: u32,
    pub seq: u32,
}

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn{}.{}.{}", self.subtask, self.attempt, self.seq)
    }
}

/// What a record does to the external system right away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visible {
    /// Append to the sink's output (at_least_once).
    Append(Record),
    /// Set the key's value (upsert).
    Upsert(Record),
}

/// Commands to the external system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkCmd {
    /// Make a transaction durable but not yet visible; it carries the records written to it.
    PreCommit { txn: TxnId, records: Vec<Record> },
    /// Make a pre-committed transaction visible. Idempotent. `checkpoint` is the checkpoint
    /// whose snapshot pre-committed it (`None` without checkpointing).
    Commit { txn: TxnId, checkpoint: Option<CheckpointId> },
    /// Abort every prepared transaction of this sink subtask opened by an attempt before
    /// `attempt` (after the restored ones were committed).
    AbortEarlierAttempts { subtask: u16, attempt: u32 },
}

/// What a sink subtask keeps in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SinkSnapshot {
    /// Pre-committed transactions not yet known to be committed, with their checkpoint.
    pub pending: Vec<(CheckpointId, TxnId)>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct SinkMachine {
    pub delivery: Delivery,
    pub subtask: u16,
    pub attempt: u32,
    next_seq: u32,
    /// The open transaction (exactly_once only) and the records written to it.
    open: TxnId,
    buffer: Vec<Record>,
    /// Pre-committed transactions awaiting a completion notice, in checkpoint order.
    pending: Vec<(CheckpointId, TxnId)>,
    /// End of input was reached: the next snapshot opens no new transaction.
    finishing: bool,
    finished: bool,
    /// Mutation `commit_on_snapshot`: commit at pre-commit time.
    commit_on_snapshot: bool,
}

clone_fields!(SinkMachine {
    delivery,
    subtask,
    attempt,
    next_seq,
    open,
    buffer,
    pending,
    finishing,
    finished,
    commit_on_snapshot
});

/// Hashed field by field, with the open transaction's records as a multiset: the sink only
/// ever hands them on as a whole (see `record::hash_txn_records`).
impl std::hash::Hash for SinkMachine {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.delivery.hash(h);
        self.subtask.hash(h);
        self.attempt.hash(h);
        self.next_seq.hash(h);
        self.open.hash(h);
        crate::record::hash_txn_records(&self.buffer, h);
        self.pending.hash(h);
        self.finishing.hash(h);
        self.finished.hash(h);
        self.commit_on_snapshot.hash(h);
    }
}

impl SinkMachine {
    pub fn new(delivery: Delivery, subtask: u16, attempt: u32) -> SinkMachine {
        SinkMachine {
            delivery,
            subtask,
            attempt,
            next_seq: 1,
            open: TxnId { subtask, attempt, seq: 0 },
            buffer: Vec::new(),
            pending: Vec::new(),
            finishing: false,
            finished: false,
            commit_on_snapshot: false,
        }
    }

    /// The broken variant that commits each transaction as soon as it is pre-committed
    /// (mutation `commit_on_snapshot`).
    pub fn committing_on_snapshot(mut self, on: bool) -> SinkMachine {
        self.commit_on_snapshot = on;
        self
    }

    /// A new attempt of a sink subtask restored from a checkpoint. Returns the machine and
    /// the commands of recovery: commit every restored pending transaction (unless
    /// `recommit` is false: the mutation `no_recommit_on_restore`), then abort the other
    /// transactions of earlier attempts.
    pub fn restore(
        delivery: Delivery,
        subtask: u16,
        attempt: u32,
        snap: &SinkSnapshot,
        recommit: bool,
    ) -> (SinkMachine, Vec<SinkCmd>) {
        let m = SinkMachine::new(delivery, subtask, attempt);
        let mut cmds: Vec<SinkCmd> = snap
            .pending
            .iter()
            .filter(|_| recommit)
            .map(|&(cp, txn)| SinkCmd::Commit { txn, checkpoint: Some(cp) })
            .collect();
        if delivery == Delivery::ExactlyOnce {
            cmds.push(SinkCmd::AbortEarlierAttempts { subtask, attempt });
        }
        (m, cmds)
    }

    /// A new attempt that starts with no checkpoint: abort what earlier attempts left open.
    pub fn fresh(delivery: Delivery, subtask: u16, attempt: u32) -> (SinkMachine, Vec<SinkCmd>) {
        SinkMachine::restore(
            delivery,
            subtask,
            attempt,
            &SinkSnapshot { pending: Vec::new() },
            true,
        )
    }

    /// The synchronous snapshot of checkpoint `id` (P7): pre-commit the open transaction,
    /// remember it as pending for `id`, open the next one (unless finishing).
    pub fn on_snapshot(&mut self, id: CheckpointId) -> (SinkSnapshot, Vec<SinkCmd>) {
        let mut cmds = Vec::new();
        if self.delivery == Delivery::ExactlyOnce && !self.finished {
            let txn = self.rotate();
            cmds.push(SinkCmd::PreCommit { txn, records: std::mem::take(&mut self.buffer) });
            if self.commit_on_snapshot {
                cmds.push(SinkCmd::Commit { txn, checkpoint: Some(id) });
            } else {
                self.pending.push((id, txn));
            }
        }
        (SinkSnapshot { pending: self.pending.clone() }, cmds)
    }

    /// `NotifyCheckpointComplete(id)`: commit every pending transaction with checkpoint ≤ id.
    pub fn on_checkpoint_complete(&mut self, id: CheckpointId) -> Vec<SinkCmd> {
        let split = self.pending.partition_point(|(cp, _)| *cp <= id);
        self.pending
            .drain(..split)
            .map(|(cp, txn)| SinkCmd::Commit { txn, checkpoint: Some(cp) })
            .collect()
    }

    /// End of input with checkpointing: the next snapshot pre-commits the last transaction.
    pub fn set_finishing(&mut self) {
        self.finishing = true;
    }

    /// Whether two machines agree on everything but their pending transactions (the
    /// explorer's dependency check treats those apart: a completion notice changes only them).
    pub fn eq_except_pending(&self, o: &SinkMachine) -> bool {
        let SinkMachine {
            delivery,
            subtask,
            attempt,
            next_seq,
            open,
            buffer,
            pending: _,
            finishing,
            finished,
            commit_on_snapshot,
        } = self;
        *delivery == o.delivery
            && *subtask == o.subtask
            && *attempt == o.attempt
            && *next_seq == o.next_seq
            && *open == o.open
            && *buffer == o.buffer
            && *finishing == o.finishing
            && *finished == o.finished
            && *commit_on_snapshot == o.commit_on_snapshot
    }

    pub fn pending(&self) -> &[(CheckpointId, TxnId)] {
        &self.pending
    }

    /// The transaction records are currently written to.
    pub fn open_txn(&self) -> TxnId {
        self.open
    }

    /// Records written to the open transaction and not yet pre-committed.
    pub fn buffered(&self) -> &[Record] {
        &self.buffer
    }

    /// One input record. Returns what becomes visible now (nothing for exactly_once).
    pub fn on_record(&mut self, r: Record) -> Option<Visible> {
        debug_assert!(!self.finished, "a finished sink receives no records");
        match self.delivery {
            Delivery::AtLeastOnce => Some(Visible::Append(r)),
            Delivery::Upsert => Some(Visible::Upsert(r)),
            Delivery::ExactlyOnce => {
                self.buffer.push(r);
                None
            }
        }
    }

    /// All inputs ended and checkpointing is disabled: commit what is open, then finish.
    pub fn on_end_of_input_without_checkpoints(&mut self) -> Vec<SinkCmd> {
        self.finished = true;
        if self.delivery != Delivery::ExactlyOnce {
            return Vec::new();
        }
        let txn = self.rotate();
        vec![
            SinkCmd::PreCommit { txn, records: std::mem::take(&mut self.buffer) },
            SinkCmd::Commit { txn, checkpoint: None },
        ]
    }

    /// Closes the open transaction and opens the next one (none once finishing); returns the
    /// closed one's id.
    fn rotate(&mut self) -> TxnId {
        let closed = self.open;
        if self.finishing {
            self.finished = true;
        }
        self.open = TxnId { subtask: self.subtask, attempt: self.attempt, seq: self.next_seq };
        self.next_seq += 1;
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::KeyId;

    fn rec(v: i64) -> Record {
        Record { key: KeyId(0), value: v, ts: 0 }
    }

    #[test]
    fn an_exactly_once_sink_shows_nothing_until_it_commits_at_end_of_input() {
        let mut s = SinkMachine::new(Delivery::ExactlyOnce, 2, 1);
        assert_eq!(s.on_record(rec(1)), None);
        assert_eq!(s.on_record(rec(2)), None);
        let txn = TxnId { subtask: 2, attempt: 1, seq: 0 };
        assert_eq!(
            s.on_end_of_input_without_checkpoints(),
            vec![
                SinkCmd::PreCommit { txn, records: vec![rec(1), rec(2)] },
                SinkCmd::Commit { txn, checkpoint: None }
            ]
        );
        assert_eq!(s.open_txn(), TxnId { subtask: 2, attempt: 1, seq: 1 });
    }

    fn txn(seq: u32) -> TxnId {
        TxnId { subtask: 0, attempt: 0, seq }
    }

    #[test]
    fn a_snapshot_precommits_the_open_transaction_and_opens_the_next() {
        let mut s = SinkMachine::new(Delivery::ExactlyOnce, 0, 0);
        s.on_record(rec(1));
        let (snap, cmds) = s.on_snapshot(CheckpointId(1));
        assert_eq!(cmds, vec![SinkCmd::PreCommit { txn: txn(0), records: vec![rec(1)] }]);
        assert_eq!(snap.pending, vec![(CheckpointId(1), txn(0))]);
        assert_eq!(s.open_txn(), txn(1));
    }

    #[test]
    fn a_completion_commits_every_pending_transaction_up_to_its_id_in_order() {
        let mut s = SinkMachine::new(Delivery::ExactlyOnce, 0, 0);
        s.on_snapshot(CheckpointId(1));
        s.on_snapshot(CheckpointId(2));
        s.on_snapshot(CheckpointId(3));
        assert_eq!(
            s.on_checkpoint_complete(CheckpointId(2)),
            vec![
                SinkCmd::Commit { txn: txn(0), checkpoint: Some(CheckpointId(1)) },
                SinkCmd::Commit { txn: txn(1), checkpoint: Some(CheckpointId(2)) }
            ]
        );
        assert_eq!(s.on_checkpoint_complete(CheckpointId(2)), vec![]);
        assert_eq!(s.pending(), &[(CheckpointId(3), txn(2))]);
    }

    #[test]
    fn restoring_recommits_pending_transactions_then_aborts_earlier_attempts() {
        let snap = SinkSnapshot { pending: vec![(CheckpointId(4), txn(3))] };
        let (m, cmds) = SinkMachine::restore(Delivery::ExactlyOnce, 0, 2, &snap, true);
        assert_eq!(
            cmds,
            vec![
                SinkCmd::Commit { txn: txn(3), checkpoint: Some(CheckpointId(4)) },
                SinkCmd::AbortEarlierAttempts { subtask: 0, attempt: 2 }
            ]
        );
        assert_eq!(m.open_txn(), TxnId { subtask: 0, attempt: 2, seq: 0 });
        assert!(m.pending().is_empty());
    }

    #[test]
    fn the_commit_on_snapshot_mutation_commits_at_precommit() {
        let mut s = SinkMachine::new(Delivery::ExactlyOnce, 0, 0).committing_on_snapshot(true);
        s.on_record(rec(1));
        let (snap, cmds) = s.on_snapshot(CheckpointId(1));
        assert_eq!(
            cmds,
            vec![
                SinkCmd::PreCommit { txn: txn(0), records: vec![rec(1)] },
                SinkCmd::Commit { txn: txn(0), checkpoint: Some(CheckpointId(1)) }
            ]
        );
        assert!(snap.pending.is_empty());
    }

    #[test]
    fn the_no_recommit_mutation_only_aborts_on_restore() {
        let snap = SinkSnapshot { pending: vec![(CheckpointId(4), txn(3))] };
        let (_, cmds) = SinkMachine::restore(Delivery::ExactlyOnce, 0, 2, &snap, false);
        assert_eq!(cmds, vec![SinkCmd::AbortEarlierAttempts { subtask: 0, attempt: 2 }]);
    }

    #[test]
    fn a_finishing_sink_precommits_its_last_transaction_and_opens_none() {
        let mut s = SinkMachine::new(Delivery::ExactlyOnce, 0, 0);
        s.on_record(rec(7));
        s.set_finishing();
        let (_, cmds) = s.on_snapshot(CheckpointId(5));
        assert_eq!(cmds, vec![SinkCmd::PreCommit { txn: txn(0), records: vec![rec(7)] }]);
        let (snap, cmds) = s.on_snapshot(CheckpointId(6));
        assert!(cmds.is_empty(), "nothing is open after the final pre-commit");
        assert_eq!(snap.pending, vec![(CheckpointId(5), txn(0))]);
    }

    #[test]
    fn at_least_once_and_upsert_sinks_write_through() {
        let mut a = SinkMachine::new(Delivery::AtLeastOnce, 0, 0);
        assert_eq!(a.on_record(rec(5)), Some(Visible::Append(rec(5))));
        assert!(a.on_end_of_input_without_checkpoints().is_empty());
        let mut u = SinkMachine::new(Delivery::Upsert, 0, 0);
        assert_eq!(u.on_record(rec(6)), Some(Visible::Upsert(rec(6))));
    }
}
