//! The scenario file format as serde types: the JSON boundary and nothing more.
//!
//! Every struct denies unknown fields, so a typo is an error with its JSON path instead of a
//! silently ignored setting. Fields whose shape depends on another field (an operator's `fn`,
//! a generator's `values`) are kept as raw JSON here and checked by `validate`, which knows
//! the context and can say what was expected. Defaults live in one place: the `Default`
//! impls and `default_*` functions of this file, mirrored in docs/scenario-format.md.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub graph: GraphSpec,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub checkpointing: Option<CheckpointingSpec>,
    #[serde(default)]
    pub storage: StorageSpec,
    #[serde(default)]
    pub recovery: RecoverySpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub mutations: Vec<String>,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub expect: Option<ExpectSpec>,
}

pub fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub operators: Vec<OperatorSpec>,
    #[serde(default)]
    pub edges: Vec<EdgeSpec>,
}

/// One operator. All parameters of every kind are optional here; `validate` checks that an
/// operator has exactly the parameters its `op` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    pub id: String,
    pub op: String,
    #[serde(default)]
    pub parallelism: Option<u64>,
    #[serde(default)]
    pub cost_us: Option<u64>,
    #[serde(default)]
    pub generate: Option<GenerateSpec>,
    #[serde(default)]
    pub data: Option<Vec<Vec<RecordSpec>>>,
    #[serde(default)]
    pub rate_per_ms: Option<f64>,
    #[serde(default, rename = "fn")]
    pub func: Option<Value>,
    #[serde(default)]
    pub agg: Option<String>,
    #[serde(default)]
    pub emit: Option<String>,
    #[serde(default)]
    pub size_ms: Option<u64>,
    #[serde(default)]
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    pub records: u64,
    #[serde(default = "default_keys")]
    pub keys: u64,
    #[serde(default = "default_distribution")]
    pub distribution: String,
    #[serde(default)]
    pub values: Option<Value>,
    #[serde(default = "default_ts_step")]
    pub ts_step_ms: u64,
    #[serde(default)]
    pub seed: u64,
}

pub fn default_keys() -> u64 {
    8
}

pub fn default_distribution() -> String {
    "uniform".to_string()
}

pub fn default_ts_step() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    pub key: KeySpec,
    pub value: i64,
    pub ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    Int(i64),
    Str(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub side: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default = "default_nodes")]
    pub nodes: u64,
    #[serde(default)]
    pub placement: BTreeMap<String, String>,
}

pub fn default_nodes() -> u64 {
    1
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec { nodes: default_nodes(), placement: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    pub min: u64,
    pub max: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    #[serde(default = "default_latency")]
    pub latency_ms: RangeSpec,
    #[serde(default)]
    pub control_latency_ms: Option<RangeSpec>,
    #[serde(default = "default_capacity")]
    pub channel_capacity: u64,
    #[serde(default)]
    pub output_capacity: Option<u64>,
}

pub fn default_latency() -> RangeSpec {
    RangeSpec { min: 1, max: 1 }
}

pub fn default_capacity() -> u64 {
    32
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency_ms: default_latency(),
            control_latency_ms: None,
            channel_capacity: default_capacity(),
            output_capacity: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointingSpec {
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub min_pause_ms: u64,
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: u64,
    #[serde(default)]
    pub tolerable_failures: u64,
    #[serde(default)]
    pub alignment_timeout_ms: Option<u64>,
}

pub fn default_mode() -> String {
    "aligned".to_string()
}

pub fn default_interval() -> u64 {
    100
}

pub fn default_timeout() -> u64 {
    10_000
}

pub fn default_max_concurrent() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    #[serde(default = "default_storage_latency")]
    pub latency_ms: RangeSpec,
}

pub fn default_storage_latency() -> RangeSpec {
    RangeSpec { min: 1, max: 5 }
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec { latency_ms: default_storage_latency() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySpec {
    #[serde(default)]
    pub restart: RestartSpec,
    #[serde(default = "default_failover")]
    pub failover: String,
}

pub fn default_failover() -> String {
    "full".to_string()
}

impl Default for RecoverySpec {
    fn default() -> Self {
        RecoverySpec { restart: RestartSpec::default(), failover: default_failover() }
    }
}

/// A restart strategy; which of the numeric fields are allowed depends on `strategy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartSpec {
    #[serde(default = "default_strategy")]
    pub strategy: String,
    #[serde(default)]
    pub attempts: Option<u64>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub initial_ms: Option<u64>,
    #[serde(default)]
    pub max_ms: Option<u64>,
    #[serde(default)]
    pub multiplier: Option<f64>,
    #[serde(default)]
    pub max_failures: Option<u64>,
    #[serde(default)]
    pub interval_ms: Option<u64>,
}

pub fn default_strategy() -> String {
    "fixed_delay".to_string()
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            strategy: default_strategy(),
            attempts: None,
            delay_ms: None,
            initial_ms: None,
            max_ms: None,
            multiplier: None,
            max_failures: None,
            interval_ms: None,
        }
    }
}

/// A fault: explicit (`at_ms`), triggered (`on`) or random (`kind: "random"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: String,
    #[serde(default)]
    pub at_ms: Option<u64>,
    #[serde(default)]
    pub on: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub restart_after_ms: Option<u64>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub between: Option<Vec<String>>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub mean_interval_ms: Option<u64>,
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    #[serde(default)]
    pub max_faults: Option<u64>,
    #[serde(default)]
    pub until_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    #[serde(default = "default_max_sim_ms")]
    pub max_sim_ms: u64,
    #[serde(default = "default_max_events")]
    pub max_events: u64,
}

pub fn default_max_sim_ms() -> u64 {
    600_000
}

pub fn default_max_events() -> u64 {
    50_000_000
}

impl Default for LimitsSpec {
    fn default() -> Self {
        LimitsSpec { max_sim_ms: default_max_sim_ms(), max_events: default_max_events() }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    #[serde(default)]
    pub holds: Vec<String>,
    #[serde(default)]
    pub violated: Vec<String>,
}
