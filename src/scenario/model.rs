//! The validated scenario: typed, with names resolved to ids and times in microseconds.
//!
//! Nothing here can be wrong any more: every value was checked by `validate`, so the rest of
//! the crate trusts it without re-checking.

pub use super::source_partition::SourcePartition;
use crate::ids::{KeyId, NodeId, OperatorId};
use crate::record::KeyTable;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    /// Where the scenario came from (a path, or `<built-in>`), for messages.
    pub origin: String,
    /// The scenario as written: counterexamples embed it, the shrinker edits it.
    pub json: Arc<serde_json::Value>,
    pub operators: Vec<Operator>,
    pub edges: Vec<Edge>,
    pub keys: KeyTable,
    pub nodes: u16,
    /// Explicit placements: (operator, subtask) → node.
    pub placement: BTreeMap<(OperatorId, u16), NodeId>,
    pub network: Network,
    pub checkpointing: Checkpointing,
    pub storage: Storage,
    pub recovery: Recovery,
    pub faults: Vec<Fault>,
    pub mutations: Vec<Mutation>,
    pub limits: Limits,
    pub expect: Expect,
    /// How `recoverable_checkpoints` is checked (`--recovery-check`; not part of the file).
    pub recovery_check: RecoveryCheck,
}

/// How `recoverable_checkpoints` is checked (docs/invariants.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryCheck {
    /// Every completed checkpoint judged as a consistent cut from what the run recorded, and
    /// the latest ones (with input left to replay, and the last) restored into failure-free
    /// runs unless the run restored every task itself: time linear in the run.
    #[default]
    Cut,
    /// Every completed checkpoint restored into its own failure-free run to the end of the job.
    Full,
}

#[derive(Clone, Debug)]
pub struct Operator {
    pub name: String,
    pub kind: OpKind,
    pub parallelism: u16,
    pub cost_us: u32,
}

#[derive(Clone, Debug)]
pub enum OpKind {
    Source(SourceDef),
    Map(MapFn),
    Filter(FilterFn),
    FlatMap { repeat: u32 },
    Reduce { agg: Agg, emit: Emit },
    Window { size_ms: i64, agg: WindowAgg },
    Join { size_ms: i64 },
    Sink { delivery: Delivery },
}

impl OpKind {
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Source(_) => "source",
            OpKind::Map(_) => "map",
            OpKind::Filter(_) => "filter",
            OpKind::FlatMap { .. } => "flat_map",
            OpKind::Reduce { .. } => "reduce",
            OpKind::Window { .. } => "window",
            OpKind::Join { .. } => "join",
            OpKind::Sink { .. } => "sink",
        }
    }

    /// Keyed operators partition their state by key and must be fed by `hash` edges.
    pub fn is_keyed(&self) -> bool {
        matches!(self, OpKind::Reduce { .. } | OpKind::Window { .. } | OpKind::Join { .. })
    }

    /// Event-time operators need watermarks.
    pub fn uses_event_time(&self) -> bool {
        matches!(self, OpKind::Window { .. } | OpKind::Join { .. })
    }
}

#[derive(Clone, Debug)]
pub struct SourceDef {
    /// One record list per partition (= per subtask), shared; generated ones are made on
    /// demand ([`SourcePartition`]).
    pub partitions: Arc<Vec<SourcePartition>>,
    /// Emission rate in records per second per subtask; `None`: as fast as credit allows.
    pub rate_per_s: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapFn {
    Identity,
    Add(i64),
    Mul(i64),
    /// key := hash(key) mod n. The table maps every key id to its new key id.
    RekeyMod {
        n: u32,
        table: Arc<Vec<KeyId>>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterFn {
    ValueMod { m: i64, r: i64 },
    KeyMod { m: u64, r: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Agg {
    Count,
    Sum,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    Every,
    OnEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowAgg {
    Count,
    Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Delivery {
    ExactlyOnce,
    AtLeastOnce,
    Upsert,
}

impl Delivery {
    pub fn name(self) -> &'static str {
        match self {
            Delivery::ExactlyOnce => "exactly_once",
            Delivery::AtLeastOnce => "at_least_once",
            Delivery::Upsert => "upsert",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: OperatorId,
    pub to: OperatorId,
    pub partition: Partition,
    pub side: Option<Side>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Partition {
    Forward,
    Hash,
    Rebalance,
    Broadcast,
}

impl Partition {
    pub fn name(self) -> &'static str {
        match self {
            Partition::Forward => "forward",
            Partition::Hash => "hash",
            Partition::Rebalance => "rebalance",
            Partition::Broadcast => "broadcast",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Left,
    Right,
}

/// A latency range in microseconds, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub min_us: u64,
    pub max_us: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Network {
    pub latency: Latency,
    pub control_latency: Latency,
    pub channel_capacity: u32,
    pub output_capacity: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointMode {
    Aligned,
    Unaligned,
    AtLeastOnce,
    Disabled,
}

impl CheckpointMode {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointMode::Aligned => "aligned",
            CheckpointMode::Unaligned => "unaligned",
            CheckpointMode::AtLeastOnce => "at_least_once",
            CheckpointMode::Disabled => "disabled",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Checkpointing {
    pub mode: CheckpointMode,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub min_pause_ms: u64,
    pub max_concurrent: u32,
    pub tolerable_failures: u32,
    pub alignment_timeout_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
pub struct Storage {
    pub latency: Latency,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RestartStrategy {
    FixedDelay { attempts: u32, delay_ms: u64 },
    ExponentialDelay { initial_ms: u64, max_ms: u64, multiplier: f64 },
    FailureRate { max_failures: u32, interval_ms: u64, delay_ms: u64 },
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failover {
    Full,
    Region,
}

#[derive(Clone, Copy, Debug)]
pub struct Recovery {
    pub restart: RestartStrategy,
    pub failover: Failover,
}

/// When a fault happens.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultTrigger {
    At {
        at_ms: u64,
    },
    /// After the first trace event of kind `event` whose fields match `filter`.
    On {
        event: String,
        filter: BTreeMap<String, serde_json::Value>,
        delay_ms: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Coordinator,
    Node(NodeId),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Coordinator => write!(f, "jm"),
            Endpoint::Node(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKindName {
    CrashNode,
    CrashTask,
    Partition,
    StorageFail,
    CrashCoordinator,
}

impl FaultKindName {
    pub const ALL: [FaultKindName; 5] = [
        FaultKindName::CrashNode,
        FaultKindName::CrashTask,
        FaultKindName::Partition,
        FaultKindName::StorageFail,
        FaultKindName::CrashCoordinator,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKindName::CrashNode => "crash_node",
            FaultKindName::CrashTask => "crash_task",
            FaultKindName::Partition => "partition",
            FaultKindName::StorageFail => "storage_fail",
            FaultKindName::CrashCoordinator => "crash_coordinator",
        }
    }
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    CrashNode { node: NodeId, restart_after_ms: u64 },
    CrashTask { operator: OperatorId, subtask: u16 },
    Partition { a: Endpoint, b: Endpoint, duration_ms: u64 },
    StorageFail { duration_ms: u64 },
    CrashCoordinator { restart_after_ms: u64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Planned { trigger: FaultTrigger, action: FaultAction },
    Random(RandomFaults),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    pub mean_interval_ms: u64,
    pub kinds: Vec<FaultKindName>,
    pub max_faults: u32,
    pub until_ms: u64,
}

/// A deliberately broken variant of the protocol (`mutations` in a scenario, `--mutation` on
/// the command line). Each stands for a class of real exactly-once bugs
/// (research/bug-corpus.md, §C); the checker must catch every one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mutation {
    /// The sink commits its transaction when it pre-commits it at the snapshot, before the
    /// checkpoint completes (M1, early commit).
    CommitOnSnapshot,
    /// On restore the sink does not commit the pending transactions of the restored state
    /// (M2, lost commit: a lost notification loses data).
    NoRecommitOnRestore,
    /// Tasks use the at-least-once barrier tracker while exactly-once is claimed: records
    /// after a barrier are processed before the snapshot (M5a).
    SkipAlignment,
    /// A task processes the records already queued behind its barriers before it takes the
    /// snapshot, so the state includes records that come after the cut (M4d).
    SnapshotAfterBarrierRecords,
    /// Sources keep their live position on restore instead of seeking back (M7a).
    NoSourceRewind,
    /// Tasks acknowledge as soon as they snapshot, before the upload is durable (M3).
    AckBeforeUpload,
    /// The coordinator completes a checkpoint on its first acknowledgement (M9b).
    CompleteOnFirstAck,
    /// Recovery restores the checkpoint before the latest completed one (M9a).
    RestoreOlderCheckpoint,
}

impl Mutation {
    pub const ALL: [Mutation; 8] = [
        Mutation::CommitOnSnapshot,
        Mutation::NoRecommitOnRestore,
        Mutation::SkipAlignment,
        Mutation::SnapshotAfterBarrierRecords,
        Mutation::NoSourceRewind,
        Mutation::AckBeforeUpload,
        Mutation::CompleteOnFirstAck,
        Mutation::RestoreOlderCheckpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::CommitOnSnapshot => "commit_on_snapshot",
            Mutation::NoRecommitOnRestore => "no_recommit_on_restore",
            Mutation::SkipAlignment => "skip_alignment",
            Mutation::SnapshotAfterBarrierRecords => "snapshot_after_barrier_records",
            Mutation::NoSourceRewind => "no_source_rewind",
            Mutation::AckBeforeUpload => "ack_before_upload",
            Mutation::CompleteOnFirstAck => "complete_on_first_ack",
            Mutation::RestoreOlderCheckpoint => "restore_older_checkpoint",
        }
    }

    /// One line for `ftsim mutations`.
    pub fn summary(self) -> &'static str {
        match self {
            Mutation::CommitOnSnapshot => {
                "the 2PC sink commits at pre-commit, before its checkpoint completes (early commit)"
            }
            Mutation::NoRecommitOnRestore => {
                "a restored sink does not commit the pending transactions of its state (lost commit)"
            }
            Mutation::SkipAlignment => {
                "the at-least-once barrier tracker is used while exactly-once is claimed"
            }
            Mutation::SnapshotAfterBarrierRecords => {
                "the snapshot includes records that arrived after the barrier"
            }
            Mutation::NoSourceRewind => "sources keep their live position on restore",
            Mutation::AckBeforeUpload => "tasks acknowledge before their snapshot upload is durable",
            Mutation::CompleteOnFirstAck => "the coordinator completes a checkpoint on its first ack",
            Mutation::RestoreOlderCheckpoint => {
                "recovery restores the second-latest completed checkpoint"
            }
        }
    }

    pub fn from_name(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sim_ms: u64,
    pub max_events: u64,
}

/// The invariants of SPEC §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    ExactlyOnce,
    NoLoss,
    NoDuplicates,
    CommitAfterComplete,
    RecoverableCheckpoints,
    Progress,
}

impl Invariant {
    pub const ALL: [Invariant; 6] = [
        Invariant::ExactlyOnce,
        Invariant::NoLoss,
        Invariant::NoDuplicates,
        Invariant::CommitAfterComplete,
        Invariant::RecoverableCheckpoints,
        Invariant::Progress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Invariant::ExactlyOnce => "exactly_once",
            Invariant::NoLoss => "no_loss",
            Invariant::NoDuplicates => "no_duplicates",
            Invariant::CommitAfterComplete => "commit_after_complete",
            Invariant::RecoverableCheckpoints => "recoverable_checkpoints",
            Invariant::Progress => "progress",
        }
    }

    pub fn from_name(s: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.name() == s)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub holds: Vec<Invariant>,
    pub violated: Vec<Invariant>,
    /// False when the scenario has no `expect`: then every applicable invariant must hold.
    pub explicit: bool,
}
