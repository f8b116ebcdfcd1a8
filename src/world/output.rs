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

#[derive(Debug, Default, PartialEq, Eq)]
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

/// Hashed with the records of each transaction as a multiset (prepared, aborted, and each
/// committed transaction's stretch of the log), and everything else in order: nothing reads
/// the order of records inside a transaction, while writes outside transactions
/// (`at_least_once`) keep theirs, since a checkpoint's external mark cuts the log between them.
impl std::hash::Hash for SinkOutput {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.delivery.hash(h);
        self.hash_log(self.log.len(), h);
        self.table.hash(h);
        self.upserts.hash(h);
        hash_prepared(&self.prepared, h);
        self.committed.hash(h);
        self.commit_starts.hash(h);
        self.aborted.len().hash(h);
        for (t, (at, r)) in &self.aborted {
            t.hash(h);
            at.hash(h);
            crate::record::hash_txn_records(r, h);
        }
    }
}

/// Hashes prepared transactions: their ids in order, each one's records as a multiset.
pub fn hash_prepared<H: std::hash::Hasher>(prepared: &BTreeMap<TxnId, Vec<Record>>, h: &mut H) {
    use std::hash::Hash;
    prepared.len().hash(h);
    for (t, r) in prepared {
        t.hash(h);
        crate::record::hash_txn_records(r, h);
    }
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

    /// Hashes the first `upto` entries of the log: each committed transaction's records as one
    /// multiset (`record::hash_txn_records`), the writes between them one by one.
    pub fn hash_log<H: std::hash::Hasher>(&self, upto: usize, h: &mut H) {
        use std::hash::Hash;
        upto.hash(h);
        let mut i = 0;
        for (k, &start) in self.commit_starts.iter().enumerate() {
            if start >= upto {
                break;
            }
            self.log[i..start].hash(h);
            let end = (start + self.committed[k].records as usize).min(upto);
            crate::record::hash_txn_records(&self.log[start..end], h);
            i = end;
        }
        self.log[i..upto].hash(h);
    }

    /// Whether `txn` was committed.
    pub fn is_committed(&self, txn: TxnId) -> bool {
        self.committed.iter().any(|c| c.txn == txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::KeyId;
    use std::hash::{Hash, Hasher};

    fn rec(v: i64) -> Record {
        Record { key: KeyId(0), value: v, ts: 0 }
    }

    fn hash(o: &SinkOutput) -> u64 {
        let mut h = crate::explore::FpHasher::default();
        o.hash(&mut h);
        h.finish()
    }

    fn txn(seq: u32) -> TxnId {
        TxnId { subtask: 0, attempt: 0, seq }
    }

    #[test]
    fn the_order_of_records_inside_one_transaction_does_not_change_the_hash() {
        let (mut a, mut b) = (SinkOutput::default(), SinkOutput::default());
        a.precommit(txn(0), vec![rec(1), rec(2)]);
        b.precommit(txn(0), vec![rec(2), rec(1)]);
        assert_eq!(hash(&a), hash(&b), "prepared");
        a.commit(txn(0), SimTime::ZERO);
        b.commit(txn(0), SimTime::ZERO);
        assert_eq!(hash(&a), hash(&b), "committed");
    }

    #[test]
    fn which_transaction_holds_a_record_still_changes_the_hash() {
        let (mut a, mut b) = (SinkOutput::default(), SinkOutput::default());
        for (o, first, second) in [(&mut a, 1, 2), (&mut b, 2, 1)] {
            o.precommit(txn(0), vec![rec(first)]);
            o.precommit(txn(1), vec![rec(second)]);
            o.commit(txn(0), SimTime::ZERO);
        }
        assert_ne!(hash(&a), hash(&b), "prepared");
        a.commit(txn(1), SimTime::ZERO);
        b.commit(txn(1), SimTime::ZERO);
        assert_ne!(hash(&a), hash(&b), "committed: a checkpoint's mark may cut between them");
    }

    #[test]
    fn writes_outside_transactions_keep_their_order_in_the_hash() {
        let (mut a, mut b) = (SinkOutput::default(), SinkOutput::default());
        a.append(rec(1));
        a.append(rec(2));
        b.append(rec(2));
        b.append(rec(1));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn the_exact_order_mode_keeps_the_order_inside_transactions() {
        let (mut a, mut b) = (SinkOutput::default(), SinkOutput::default());
        a.precommit(txn(0), vec![rec(1), rec(2)]);
        b.precommit(txn(0), vec![rec(2), rec(1)]);
        crate::record::set_exact_order(true);
        let differ = hash(&a) != hash(&b);
        crate::record::set_exact_order(false);
        assert!(differ);
    }
}
