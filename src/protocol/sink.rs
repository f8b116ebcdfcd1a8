//! Sink subtasks: how records become visible output (docs/protocol.md, rule P7).
//!
//! * `at_least_once` writes each record to the external system at once;
//! * `upsert` writes each record as the new value of its key at once;
//! * `exactly_once` is a two-phase-commit sink: records go into the open transaction, which
//!   only becomes visible when it is committed. With checkpointing disabled it is committed
//!   once, at end of input.
//!
//! The machine never touches the external system itself: it returns [`SinkCmd`]s that the
//! world carries out.

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
    /// Make a pre-committed transaction visible. Idempotent.
    Commit { txn: TxnId },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SinkMachine {
    pub delivery: Delivery,
    pub subtask: u16,
    pub attempt: u32,
    next_seq: u32,
    /// The open transaction (exactly_once only) and the records written to it.
    open: TxnId,
    buffer: Vec<Record>,
    finished: bool,
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
            finished: false,
        }
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
            SinkCmd::Commit { txn },
        ]
    }

    /// Closes the open transaction and opens the next one; returns the closed one's id.
    fn rotate(&mut self) -> TxnId {
        let closed = self.open;
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
                SinkCmd::Commit { txn }
            ]
        );
        assert_eq!(s.open_txn(), TxnId { subtask: 2, attempt: 1, seq: 1 });
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
