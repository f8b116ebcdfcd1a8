//! Resolving a scenario's faults into a concrete schedule for one seed.
//!
//! Explicit faults (`at_ms`) and triggered faults (`on`) pass through unchanged. Each random
//! fault entry draws from the run's stream ("faults", entry index): inter-arrival times are
//! exponential with the given mean (the first fault after one draw from 0 ms), up to
//! `max_faults` faults before `until_ms`; each fault's kind is uniform over `kinds`, its
//! target uniform over the nodes (crash_node), the tasks (crash_task) or the pairs of
//! distinct endpoints `jm`, `node-0`, … (partition); its duration or restart delay is
//! uniform in [10 ms, mean_interval_ms]. The resolved schedule is what a counterexample
//! records, so a replay needs no random draws for faults.

use crate::ids::{NodeId, OperatorId};
use crate::rng;
use crate::scenario::model::{Endpoint, Fault, FaultAction, FaultKindName, FaultTrigger, Scenario};
use crate::world::PlannedFault;

pub fn resolve(s: &Scenario, seed: u64) -> Vec<PlannedFault> {
    let mut out = Vec::new();
    for (i, f) in s.faults.iter().enumerate() {
        match f {
            Fault::Planned { trigger, action } => {
                out.push(PlannedFault { trigger: trigger.clone(), action: action.clone() })
            }
            Fault::Random(r) => {
                let mut st = rng::stream(seed, "faults", i as u64);
                let mut at = 0u64;
                for _ in 0..r.max_faults {
                    at += rng::exponential(&mut st, r.mean_interval_ms);
                    if at > r.until_ms {
                        break;
                    }
                    let kind = r.kinds[rng::below(&mut st, r.kinds.len() as u64) as usize];
                    let span = rng::between(&mut st, 10, r.mean_interval_ms.max(10));
                    let action = match kind {
                        FaultKindName::CrashNode => FaultAction::CrashNode {
                            node: NodeId(rng::below(&mut st, u64::from(s.nodes)) as u16),
                            restart_after_ms: span,
                        },
                        FaultKindName::CrashTask => {
                            let total: u64 =
                                s.operators.iter().map(|o| u64::from(o.parallelism)).sum();
                            let mut k = rng::below(&mut st, total);
                            let mut pick = (OperatorId(0), 0);
                            for (o, op) in s.operators.iter().enumerate() {
                                if k < u64::from(op.parallelism) {
                                    pick = (OperatorId(o as u16), k as u16);
                                    break;
                                }
                                k -= u64::from(op.parallelism);
                            }
                            FaultAction::CrashTask { operator: pick.0, subtask: pick.1 }
                        }
                        FaultKindName::Partition => {
                            let n = u64::from(s.nodes) + 1;
                            let a = rng::below(&mut st, n);
                            let b = (a + 1 + rng::below(&mut st, n - 1)) % n;
                            let ep = |x: u64| {
                                if x == 0 {
                                    Endpoint::Coordinator
                                } else {
                                    Endpoint::Node(NodeId(x as u16 - 1))
                                }
                            };
                            if n < 2 {
                                FaultAction::StorageFail { duration_ms: span }
                            } else {
                                FaultAction::Partition { a: ep(a), b: ep(b), duration_ms: span }
                            }
                        }
                        FaultKindName::StorageFail => {
                            FaultAction::StorageFail { duration_ms: span }
                        }
                        FaultKindName::CrashCoordinator => {
                            FaultAction::CrashCoordinator { restart_after_ms: span }
                        }
                    };
                    out.push(PlannedFault { trigger: FaultTrigger::At { at_ms: at }, action });
                }
            }
        }
    }
    out
}
