//! The external system behind one sink: what is visible (the observable output the
//! invariants check) and which transactions are durable but not yet visible.

use crate::protocol::sink::TxnId;
use crate::record::Record;
use crate::scenario::model::Delivery;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SinkOutput {
    pub delivery: Option<Delivery>,
    /// Visible appended records, in the order they became visible.
    pub log: Vec<Record>,
    /// Upsert sinks: the current value of each key (indexed by key id).
    pub table: Vec<Option<i64>>,
    /// Upsert sinks: how many writes happened.
    pub upserts: u64,
    /// Pre-committed transactions, not yet visible.
    pub prepared: BTreeMap<TxnId, Vec<Record>>,
    /// Committed transactions with their record counts, in commit order.
    pub committed: Vec<(TxnId, u64)>,
}

impl SinkOutput {
    pub fn new(delivery: Delivery, keys: usize) -> SinkOutput {
        SinkOutput {
            delivery: Some(delivery),
            table: if delivery == Delivery::Upsert { vec![None; keys] } else { Vec::new() },
            ..SinkOutput::default()
        }
    }

    pub fn append(&mut self, r: Record) {
        self.log.push(r);
    }

    pub fn upsert(&mut self, r: Record) {
        self.table[r.key.index()] = Some(r.value);
        self.upserts += 1;
    }

    /// Makes a transaction durable. Pre-committing the same transaction twice keeps the
    /// first contents (a retried pre-commit carries the same records).
    pub fn precommit(&mut self, txn: TxnId, records: Vec<Record>) {
        self.prepared.entry(txn).or_insert(records);
    }

    /// Makes a prepared transaction visible. Returns the number of records it made visible,
    /// or `None` if the transaction was not prepared (unknown, or already committed).
    pub fn commit(&mut self, txn: TxnId) -> Option<u64> {
        let records = self.prepared.remove(&txn)?;
        let n = records.len() as u64;
        self.log.extend(records);
        self.committed.push((txn, n));
        Some(n)
    }

    /// Aborts every prepared transaction of sink subtask `subtask` opened by an attempt
    /// before `attempt`; returns their ids.
    pub fn abort_earlier(&mut self, subtask: u16, attempt: u32) -> Vec<TxnId> {
        let doomed: Vec<TxnId> = self
            .prepared
            .keys()
            .filter(|t| t.subtask == subtask && t.attempt < attempt)
            .copied()
            .collect();
        for t in &doomed {
            self.prepared.remove(t);
        }
        doomed
    }

    /// Whether `txn` was committed.
    pub fn is_committed(&self, txn: TxnId) -> bool {
        self.committed.iter().any(|(t, _)| *t == txn)
    }
}
