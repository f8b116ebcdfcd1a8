//! The external system behind one sink: what is visible (the observable output the
//! invariants check) and which transactions are durable but not yet visible.

use crate::ids::SimTime;
use crate::protocol::sink::TxnId;
use crate::record::Record;
use crate::scenario::model::Delivery;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Commit {
    pub txn: TxnId,
    pub records: u64,
    pub at: SimTime,
}

#[derive(Debug, Default, PartialEq, Eq, Hash)]
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
    /// Committed transactions with their record counts and commit times, in commit order;
    /// their records are consecutive in `log`, interleaved with writes that bypass
    /// transactions (at_least_once), which are not listed here.
    pub committed: Vec<Commit>,
    /// For each entry of `committed`, where its records start in `log`.
    pub commit_starts: Vec<usize>,
    /// Pre-committed transactions that were aborted, with when, kept to explain losses.
    pub aborted: BTreeMap<TxnId, (SimTime, Vec<Record>)>,
}

clone_fields!(SinkOutput {
    delivery,
    log,
    table,
    upserts,
    committed,
    commit_starts;
    if_changed: prepared,
    aborted
});

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
    pub fn commit(&mut self, txn: TxnId, at: SimTime) -> Option<u64> {
        let records = self.prepared.remove(&txn)?;
        let n = records.len() as u64;
        self.commit_starts.push(self.log.len());
        self.log.extend(records);
        self.committed.push(Commit { txn, records: n, at });
        Some(n)
    }

    /// The committed transaction that made log entry `i` visible, if any.
    pub fn commit_of(&self, i: usize) -> Option<&Commit> {
        let k = self.commit_starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let c = &self.committed[k];
        (i < self.commit_starts[k] + c.records as usize).then_some(c)
    }

    /// Aborts every prepared transaction of sink subtask `subtask` opened by an attempt
    /// before `attempt`; returns their ids.
    pub fn abort_earlier(&mut self, subtask: u16, attempt: u32, at: SimTime) -> Vec<TxnId> {
        let doomed: Vec<TxnId> = self
            .prepared
            .keys()
            .filter(|t| t.subtask == subtask && t.attempt < attempt)
            .copied()
            .collect();
        for t in &doomed {
            if let Some(records) = self.prepared.remove(t) {
                self.aborted.insert(*t, (at, records));
            }
        }
        doomed
    }

    /// Whether `txn` was committed.
    pub fn is_committed(&self, txn: TxnId) -> bool {
        self.committed.iter().any(|c| c.txn == txn)
    }
}
