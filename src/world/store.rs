//! The durable side of checkpointing: the checkpoint id counter, the task snapshots that
//! uploads wrote, and the completed checkpoints (metadata). It survives task failures,
//! node crashes and coordinator crashes; a storage outage makes writes to it fail.

use super::output::SinkOutput;
use crate::ids::{CheckpointId, SimTime, TaskId};
use crate::protocol::operator::OpState;
use crate::protocol::sink::{SinkSnapshot, TxnId};
use crate::record::Record;
use std::collections::BTreeMap;

/// What one task contributes to a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskSnapshot {
    /// The task had finished: on restore it finishes again at once.
    Finished,
    /// The checkpoint's metadata names no durable state for the task (only broken protocol
    /// variants get here): on restore it starts from its initial state.
    Lost,
    Source {
        offset: u64,
        watermark: i64,
        finishing: bool,
    },
    Operator {
        state: OpState,
        end_of_data: Vec<bool>,
        finishing: bool,
    },
    Sink {
        sink: SinkSnapshot,
        end_of_data: Vec<bool>,
        finishing: bool,
    },
}

/// The external system behind one sink at the moment a checkpoint completed: what a
/// recovery from that checkpoint starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalMark {
    pub log_len: usize,
    pub committed_len: usize,
    pub prepared: BTreeMap<TxnId, Vec<Record>>,
    pub table: Vec<Option<i64>>,
    pub upserts: u64,
}

/// Hashed with the prepared transactions' records as multisets, as `SinkOutput` is.
impl std::hash::Hash for ExternalMark {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.log_len.hash(h);
        self.committed_len.hash(h);
        super::output::hash_prepared(&self.prepared, h);
        self.table.hash(h);
        self.upserts.hash(h);
    }
}

impl ExternalMark {
    pub fn of(out: &SinkOutput) -> ExternalMark {
        ExternalMark {
            log_len: out.log.len(),
            committed_len: out.committed.len(),
            prepared: out.prepared.clone(),
            table: out.table.clone(),
            upserts: out.upserts,
        }
    }

    /// The sink output as it was when the mark was taken, given the output now (the log and
    /// the list of commits only grow).
    pub fn rewind(&self, now: &SinkOutput) -> SinkOutput {
        SinkOutput {
            delivery: now.delivery,
            log: now.log[..self.log_len].to_vec(),
            table: self.table.clone(),
            upserts: self.upserts,
            prepared: self.prepared.clone(),
            committed: now.committed[..self.committed_len].to_vec(),
            commit_starts: now.commit_starts[..self.committed_len].to_vec(),
            aborted: Default::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CompletedCheckpoint {
    pub id: CheckpointId,
    pub completed_at: SimTime,
    /// One snapshot per task.
    pub tasks: Vec<TaskSnapshot>,
    /// The attempt number of every task when the checkpoint completed.
    pub attempts: Vec<u32>,
    /// The external systems (by operator) when it completed.
    pub external: Vec<ExternalMark>,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Store {
    /// The next checkpoint id: durable, so ids keep increasing across every kind of restart.
    pub next_id: CheckpointId,
    /// Snapshots uploaded for checkpoints that are still pending.
    pub uploaded: BTreeMap<(CheckpointId, TaskId), TaskSnapshot>,
    /// Every completed checkpoint, oldest first. Recovery uses the last one; the checker
    /// uses all of them (`recoverable_checkpoints`). Shared copy-on-write: it changes rarely,
    /// and worlds are cloned often (the explorer clones one per transition).
    pub completed: std::sync::Arc<Vec<CompletedCheckpoint>>,
    /// A storage outage is under way: writes fail.
    pub failing: bool,
}

clone_fields!(Store { next_id, completed, failing; if_changed: uploaded });

impl Default for Store {
    fn default() -> Self {
        Store {
            next_id: CheckpointId(1),
            uploaded: BTreeMap::new(),
            completed: Default::default(),
            failing: false,
        }
    }
}

impl Store {
    pub fn latest(&self) -> Option<&CompletedCheckpoint> {
        self.completed.last()
    }

    pub fn latest_id(&self) -> Option<CheckpointId> {
        self.latest().map(|c| c.id)
    }
}
