//! Validation of `faults`: explicit, triggered and random faults, and their targets.

use super::model::*;
use super::schema::FaultSpec;
use super::validate::{find_task, parse_node, range_check, Problems, MAX_DURATION_MS};
use std::collections::BTreeMap;

fn fault_kind(name: &str) -> Option<FaultKindName> {
    FaultKindName::ALL.into_iter().find(|k| k.name() == name)
}

fn parse_endpoint(s: &str, nodes: u16) -> Result<Endpoint, String> {
    if s == "jm" {
        Ok(Endpoint::Coordinator)
    } else {
        parse_node(s, nodes).map(Endpoint::Node).map_err(|e| format!("{e}, or `jm`"))
    }
}

/// The most faults a scenario can plan, planned and random together: each is an entry of the
/// run's fault plan, indexed by a `u16` in the world, and a timer.
pub const MAX_FAULTS: u64 = 10_000;

pub(super) fn check_faults(
    faults: &[FaultSpec],
    operators: &[Operator],
    nodes: u16,
    v: &mut Problems,
) -> Vec<Fault> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let p = format!("faults[{i}]");
        let before = v.len();
        let present = [
            ("at_ms", f.at_ms.is_some()),
            ("on", f.on.is_some()),
            ("delay_ms", f.delay_ms.is_some()),
            ("node", f.node.is_some()),
            ("restart_after_ms", f.restart_after_ms.is_some()),
            ("task", f.task.is_some()),
            ("between", f.between.is_some()),
            ("duration_ms", f.duration_ms.is_some()),
            ("mean_interval_ms", f.mean_interval_ms.is_some()),
            ("kinds", f.kinds.is_some()),
            ("max_faults", f.max_faults.is_some()),
            ("until_ms", f.until_ms.is_some()),
        ];
        let (allowed, required): (&[&str], &[&str]) = match f.kind.as_str() {
            "crash_node" => (&["node", "restart_after_ms"], &["node"]),
            "crash_task" => (&["task"], &["task"]),
            "partition" => (&["between", "duration_ms"], &["between", "duration_ms"]),
            "storage_fail" => (&["duration_ms"], &["duration_ms"]),
            "crash_coordinator" => (&["restart_after_ms"], &[]),
            "random" => {
                (&["mean_interval_ms", "kinds", "max_faults", "until_ms"], &["mean_interval_ms"])
            }
            other => {
                v.push((
                    format!("{p}.kind"),
                    format!(
                        "unknown fault kind `{other}`: use crash_node, crash_task, partition, \
                         storage_fail, crash_coordinator or random"
                    ),
                ));
                continue;
            }
        };
        let trigger_fields = ["at_ms", "on", "delay_ms"];
        for (field, is) in present {
            if is
                && !allowed.contains(&field)
                && !(f.kind != "random" && trigger_fields.contains(&field))
            {
                v.push((
                    format!("{p}.{field}"),
                    format!("`{field}` is not a parameter of a `{}` fault", f.kind),
                ));
            }
        }
        for field in required {
            if !present.iter().any(|(n, is)| n == field && *is) {
                v.push((p.to_string(), format!("a `{}` fault needs `{field}`", f.kind)));
            }
        }
        if f.kind == "random" {
            let mean = f.mean_interval_ms.unwrap_or(1);
            range_check(
                v,
                &format!("{p}.mean_interval_ms"),
                "the mean interval",
                mean,
                1,
                MAX_DURATION_MS,
            );
            let mut kinds = Vec::new();
            for (j, k) in f
                .kinds
                .clone()
                .unwrap_or_else(|| {
                    vec!["crash_node".into(), "crash_task".into(), "partition".into()]
                })
                .iter()
                .enumerate()
            {
                match fault_kind(k) {
                    Some(k) => kinds.push(k),
                    None => {
                        v.push((format!("{p}.kinds[{j}]"), format!("unknown fault kind `{k}`")))
                    }
                }
            }
            if kinds.is_empty() && v.len() == before {
                v.push((format!("{p}.kinds"), "a random fault needs at least one kind".into()));
            }
            let max_faults = f.max_faults.unwrap_or(5);
            range_check(v, &format!("{p}.max_faults"), "max_faults", max_faults, 0, MAX_FAULTS);
            let until_ms = f.until_ms.unwrap_or(10_000);
            range_check(v, &format!("{p}.until_ms"), "until_ms", until_ms, 0, MAX_DURATION_MS);
            if v.len() == before {
                out.push(Fault::Random(RandomFaults {
                    mean_interval_ms: mean,
                    kinds,
                    max_faults: max_faults as u32,
                    until_ms,
                }));
            }
            continue;
        }
        let trigger = match (f.at_ms, &f.on) {
            (Some(_), Some(_)) => {
                v.push((p.clone(), "a fault has either `at_ms` or `on`, not both".into()));
                None
            }
            (None, None) => {
                v.push((
                    p.clone(),
                    "a fault needs `at_ms` (a time) or `on` (a trace event)".into(),
                ));
                None
            }
            (Some(at_ms), None) => {
                if f.delay_ms.is_some() {
                    v.push((
                        format!("{p}.delay_ms"),
                        "`delay_ms` goes with `on`; with `at_ms` write the time itself".into(),
                    ));
                }
                range_check(v, &format!("{p}.at_ms"), "at_ms", at_ms, 0, MAX_DURATION_MS);
                Some(FaultTrigger::At { at_ms })
            }
            (None, Some(on)) => check_on(on, f.delay_ms.unwrap_or(0), &format!("{p}.on"), v),
        };
        let action = match f.kind.as_str() {
            "crash_node" => {
                let node = f.node.as_deref().map(|n| parse_node(n, nodes));
                let restart = f.restart_after_ms.unwrap_or(100);
                range_check(
                    v,
                    &format!("{p}.restart_after_ms"),
                    "restart_after_ms",
                    restart,
                    0,
                    MAX_DURATION_MS,
                );
                match node {
                    Some(Ok(node)) => {
                        Some(FaultAction::CrashNode { node, restart_after_ms: restart })
                    }
                    Some(Err(e)) => {
                        v.push((format!("{p}.node"), e));
                        None
                    }
                    None => None,
                }
            }
            "crash_task" => match f.task.as_deref().map(|t| find_task(operators, t)) {
                Some(Ok((operator, subtask))) => Some(FaultAction::CrashTask { operator, subtask }),
                Some(Err(e)) => {
                    v.push((format!("{p}.task"), e));
                    None
                }
                None => None,
            },
            "partition" => {
                let duration_ms = f.duration_ms.unwrap_or(1);
                range_check(
                    v,
                    &format!("{p}.duration_ms"),
                    "the duration",
                    duration_ms,
                    1,
                    MAX_DURATION_MS,
                );
                match f.between.as_deref() {
                    Some([a, b]) => match (parse_endpoint(a, nodes), parse_endpoint(b, nodes)) {
                        (Ok(a), Ok(b)) if a != b => {
                            Some(FaultAction::Partition { a, b, duration_ms })
                        }
                        (Ok(_), Ok(_)) => {
                            v.push((
                                format!("{p}.between"),
                                "a partition separates two different endpoints".into(),
                            ));
                            None
                        }
                        (Err(e), _) => {
                            v.push((format!("{p}.between[0]"), e));
                            None
                        }
                        (_, Err(e)) => {
                            v.push((format!("{p}.between[1]"), e));
                            None
                        }
                    },
                    Some(_) => {
                        v.push((
                            format!("{p}.between"),
                            "`between` names exactly two endpoints, as in [\"jm\", \"node-1\"]"
                                .into(),
                        ));
                        None
                    }
                    None => None,
                }
            }
            "storage_fail" => {
                let duration_ms = f.duration_ms.unwrap_or(1);
                range_check(
                    v,
                    &format!("{p}.duration_ms"),
                    "the duration",
                    duration_ms,
                    1,
                    MAX_DURATION_MS,
                );
                Some(FaultAction::StorageFail { duration_ms })
            }
            _ => {
                let restart = f.restart_after_ms.unwrap_or(100);
                range_check(
                    v,
                    &format!("{p}.restart_after_ms"),
                    "restart_after_ms",
                    restart,
                    0,
                    MAX_DURATION_MS,
                );
                Some(FaultAction::CrashCoordinator { restart_after_ms: restart })
            }
        };
        if let (Some(trigger), Some(action), true) = (trigger, action, v.len() == before) {
            out.push(Fault::Planned { trigger, action });
        }
    }
    // A random entry plans up to its max_faults (one out of range was reported above).
    let total = faults
        .iter()
        .map(|f| match f.kind.as_str() {
            "random" => Some(f.max_faults.unwrap_or(5)).filter(|&n| n <= MAX_FAULTS).unwrap_or(0),
            _ => 1,
        })
        .sum::<u64>();
    if total > MAX_FAULTS {
        v.push((
            "faults".into(),
            format!(
                "the faults add up to {total}, above the limit of {MAX_FAULTS} in all: each \
                 planned fault counts one and each random entry its `max_faults`"
            ),
        ));
    }
    out
}

fn check_on(
    on: &BTreeMap<String, serde_json::Value>,
    delay_ms: u64,
    p: &str,
    v: &mut Problems,
) -> Option<FaultTrigger> {
    range_check(v, &p.replace(".on", ".delay_ms"), "delay_ms", delay_ms, 0, MAX_DURATION_MS);
    let Some(event) = on.get("event") else {
        v.push((
            p.into(),
            "`on` needs an `event` (a trace event kind, as in \"checkpoint_completed\")".into(),
        ));
        return None;
    };
    let Some(event) = event.as_str() else {
        v.push((format!("{p}.event"), "the event kind is a string".into()));
        return None;
    };
    let Some(fields) = crate::trace::event_fields(event) else {
        v.push((
            format!("{p}.event"),
            format!(
                "unknown trace event `{event}`: one of {}",
                crate::trace::event_kind_names().join(", ")
            ),
        ));
        return None;
    };
    let mut filter = BTreeMap::new();
    for (k, val) in on {
        if k == "event" {
            continue;
        }
        if !fields.contains(&k.as_str()) {
            v.push((
                super::error::key_step(p, k),
                format!(
                    "a `{event}` event has no field `{k}`; its fields are: {}",
                    fields.join(", ")
                ),
            ));
            continue;
        }
        if !(val.is_string() || val.is_u64() || val.is_i64()) {
            v.push((
                super::error::key_step(p, k),
                "a filter value is a string or an integer".into(),
            ));
            continue;
        }
        filter.insert(k.clone(), val.clone());
    }
    Some(FaultTrigger::On { event: event.to_string(), filter, delay_ms })
}
