//! What the explorer may inject and how much data it explores: the fault menu, the defaults
//! a scenario's faults give, and the records budget.

use crate::graph::Job;
use crate::ids::NodeId;
use crate::scenario::model::{Endpoint, FaultAction, FaultKindName};

/// The faults the explorer may inject into `job`, for the given kinds.
pub fn fault_menu(job: &Job, kinds: &[FaultKindName]) -> Vec<FaultAction> {
    let mut menu = Vec::new();
    for kind in kinds {
        match kind {
            FaultKindName::CrashTask => {
                for t in 0..job.tasks.len() {
                    let info = &job.tasks[t];
                    menu.push(FaultAction::CrashTask { operator: info.op, subtask: info.subtask });
                }
            }
            FaultKindName::CrashNode => {
                for n in 0..job.scenario.nodes {
                    menu.push(FaultAction::CrashNode { node: NodeId(n), restart_after_ms: 1 });
                }
            }
            FaultKindName::Partition => {
                let eps: Vec<Endpoint> = std::iter::once(Endpoint::Coordinator)
                    .chain((0..job.scenario.nodes).map(|n| Endpoint::Node(NodeId(n))))
                    .collect();
                for (i, a) in eps.iter().enumerate() {
                    for b in &eps[i + 1..] {
                        menu.push(FaultAction::Partition { a: *a, b: *b, duration_ms: 1 });
                    }
                }
            }
            FaultKindName::StorageFail => menu.push(FaultAction::StorageFail { duration_ms: 1 }),
            FaultKindName::CrashCoordinator => {
                menu.push(FaultAction::CrashCoordinator { restart_after_ms: 1 })
            }
        }
    }
    menu
}

/// The explorer's defaults for a scenario: the fault kinds its `faults` use, and as many
/// faults as it plans (random entries count with their `max_faults`).
pub fn scenario_faults(job: &Job) -> (Vec<FaultKindName>, u32) {
    use crate::scenario::model::Fault;
    let mut kinds = Vec::new();
    let mut count = 0u32;
    for f in &job.scenario.faults {
        match f {
            Fault::Planned { action, .. } => {
                count += 1;
                kinds.push(match action {
                    FaultAction::CrashNode { .. } => FaultKindName::CrashNode,
                    FaultAction::CrashTask { .. } => FaultKindName::CrashTask,
                    FaultAction::Partition { .. } => FaultKindName::Partition,
                    FaultAction::StorageFail { .. } => FaultKindName::StorageFail,
                    FaultAction::CrashCoordinator { .. } => FaultKindName::CrashCoordinator,
                });
            }
            Fault::Random(r) => {
                count += r.max_faults;
                kinds.extend(r.kinds.iter().copied());
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    (kinds, count)
}

/// The scenario `v` with at most `n` records in every source partition: generated sources
/// generate fewer, and `data` partitions keep their first `n`. The records budget of an
/// exploration (`ftsim explore --max-records`): it makes a scenario written for simulation
/// small enough to explore, and the result is an ordinary scenario, so the reference and any
/// counterexample file use it as it is.
pub fn limit_records(v: &serde_json::Value, n: u64) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(ops) = v["graph"]["operators"].as_array_mut() {
        for op in ops.iter_mut().filter(|op| op["op"] == "source") {
            if let Some(r) = op["generate"]["records"].as_u64() {
                op["generate"]["records"] = r.min(n).into();
            }
            if let Some(parts) = op["data"].as_array_mut() {
                for p in parts.iter_mut().filter_map(|p| p.as_array_mut()) {
                    p.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                }
            }
        }
    }
    v
}
