//! Semantic validation: from the schema types to a [`Scenario`] that the rest of the crate
//! can trust. Collects every problem it finds (path, message) rather than stopping at the
//! first, but skips checks that would only repeat an earlier problem.

use super::graph_check::check_graph;
use super::model::*;
use super::schema::*;
use crate::ids::{NodeId, OperatorId};
use std::collections::BTreeMap;

/// Largest values that are still meaningful; above them a number is a typo.
pub const MAX_PARALLELISM: u64 = 128;
pub const MAX_NODES: u64 = 64;
pub const MAX_LATENCY_MS: u64 = 60_000;
pub const MAX_CAPACITY: u64 = 100_000;
pub const MAX_DURATION_MS: u64 = 1_000_000_000;
pub const MAX_EVENTS: u64 = 10_000_000_000;

pub(super) type Problems = Vec<(String, String)>;

pub fn validate(file: &ScenarioFile, origin: &str) -> Result<Scenario, Problems> {
    let mut v = Problems::new();
    if file.name.trim().is_empty() {
        v.push(("name".into(), "the scenario needs a non-empty name".into()));
    }
    let graph = check_graph(&file.graph, &mut v);
    let nodes = check_nodes(file, &mut v);
    let placement = match &graph {
        Some(g) => check_placement(file, &g.operators, nodes, &mut v),
        None => BTreeMap::new(),
    };
    let network = check_network(&file.network, &mut v);
    let checkpointing = check_checkpointing(file.checkpointing.as_ref(), &mut v);
    let storage =
        Storage { latency: check_latency(&file.storage.latency_ms, "storage.latency_ms", &mut v) };
    let recovery = check_recovery(&file.recovery, &mut v);
    let faults = match &graph {
        Some(g) => check_faults(&file.faults, &g.operators, nodes, &mut v),
        None => Vec::new(),
    };
    let mutations = check_mutations(&file.mutations, &mut v);
    let limits = check_limits(&file.limits, &mut v);
    let expect = check_expect(file.expect.as_ref(), &mut v);
    match graph {
        Some(g) if v.is_empty() => Ok(Scenario {
            name: file.name.clone(),
            description: file.description.clone(),
            seed: file.seed,
            origin: origin.to_string(),
            operators: g.operators,
            edges: g.edges,
            keys: g.keys,
            nodes,
            placement,
            network,
            checkpointing,
            storage,
            recovery,
            faults,
            mutations,
            limits,
            expect,
        }),
        _ => Err(v),
    }
}

pub(super) fn range_check(
    v: &mut Problems,
    path: &str,
    what: &str,
    value: u64,
    lo: u64,
    hi: u64,
) -> bool {
    if value < lo || value > hi {
        v.push((path.to_string(), format!("{what} must be between {lo} and {hi}, got {value}")));
        false
    } else {
        true
    }
}

/// Parses `name[i]` into its parts.
pub fn parse_task_name(s: &str) -> Option<(&str, u16)> {
    let open = s.find('[')?;
    let inner = s.strip_suffix(']')?.get(open + 1..)?;
    let idx: u16 = inner.parse().ok()?;
    Some((&s[..open], idx))
}

fn parse_node(s: &str, nodes: u16) -> Result<NodeId, String> {
    // Only the canonical spelling: `node-01` and `node-+1` are typos, not node-1.
    let n = s.strip_prefix("node-").and_then(|x| x.parse::<u16>().ok()).filter(|n| s == format!("node-{n}"));
    match n {
        Some(n) if n < nodes => Ok(NodeId(n)),
        _ => Err(format!(
            "unknown node `{s}`: this cluster has node-0 … node-{} (set cluster.nodes for more)",
            nodes - 1
        )),
    }
}

fn check_nodes(file: &ScenarioFile, v: &mut Problems) -> u16 {
    if range_check(v, "cluster.nodes", "the number of nodes", file.cluster.nodes, 1, MAX_NODES) {
        file.cluster.nodes as u16
    } else {
        1
    }
}

fn find_task(operators: &[Operator], name: &str) -> Result<(OperatorId, u16), String> {
    let Some((op, idx)) = parse_task_name(name) else {
        return Err(format!(
            "`{name}` is not a task name: write `operator[subtask]`, as in `count[1]`"
        ));
    };
    let Some(i) = operators.iter().position(|o| o.name == op) else {
        return Err(format!("unknown operator `{op}` in task `{name}`"));
    };
    let p = operators[i].parallelism;
    if idx >= p {
        return Err(format!("`{op}` has parallelism {p}, so its subtasks are 0 … {}", p - 1));
    }
    Ok((OperatorId(i as u16), idx))
}

fn check_placement(
    file: &ScenarioFile,
    operators: &[Operator],
    nodes: u16,
    v: &mut Problems,
) -> BTreeMap<(OperatorId, u16), NodeId> {
    let mut out = BTreeMap::new();
    for (task, node) in &file.cluster.placement {
        let path = format!("cluster.placement.{task}");
        match (find_task(operators, task), parse_node(node, nodes)) {
            (Ok(t), Ok(n)) => {
                out.insert(t, n);
            }
            (Err(e), _) | (_, Err(e)) => v.push((path, e)),
        }
    }
    out
}

pub(super) fn check_latency(r: &RangeSpec, path: &str, v: &mut Problems) -> Latency {
    if r.min > r.max {
        v.push((path.into(), format!("min ({}) is above max ({})", r.min, r.max)));
    }
    range_check(v, &format!("{path}.max"), "a latency", r.max, 0, MAX_LATENCY_MS);
    // Clamped before scaling: an absurd value is reported above, and must not overflow here.
    let max = r.max.min(MAX_LATENCY_MS);
    Latency { min_us: r.min.min(max) * 1000, max_us: max * 1000 }
}

fn check_network(n: &NetworkSpec, v: &mut Problems) -> Network {
    let latency = check_latency(&n.latency_ms, "network.latency_ms", v);
    let control_latency = match &n.control_latency_ms {
        Some(r) => check_latency(r, "network.control_latency_ms", v),
        None => latency,
    };
    let cap = n.channel_capacity;
    range_check(v, "network.channel_capacity", "the channel capacity", cap, 1, MAX_CAPACITY);
    let out = n.output_capacity.unwrap_or(cap);
    range_check(v, "network.output_capacity", "the output capacity", out, 1, MAX_CAPACITY);
    Network {
        latency,
        control_latency,
        channel_capacity: cap.clamp(1, MAX_CAPACITY) as u32,
        output_capacity: out.clamp(1, MAX_CAPACITY) as u32,
    }
}

fn check_checkpointing(c: Option<&CheckpointingSpec>, v: &mut Problems) -> Checkpointing {
    let Some(c) = c else {
        return Checkpointing {
            mode: CheckpointMode::Disabled,
            interval_ms: default_interval(),
            timeout_ms: default_timeout(),
            min_pause_ms: 0,
            max_concurrent: 1,
            tolerable_failures: 0,
            alignment_timeout_ms: None,
        };
    };
    let p = "checkpointing";
    let mode = match c.mode.as_str() {
        "aligned" => CheckpointMode::Aligned,
        "unaligned" => CheckpointMode::Unaligned,
        "at_least_once" => CheckpointMode::AtLeastOnce,
        "disabled" => CheckpointMode::Disabled,
        other => {
            v.push((
                format!("{p}.mode"),
                format!(
                    "unknown mode `{other}`: use aligned, unaligned, at_least_once or disabled"
                ),
            ));
            CheckpointMode::Disabled
        }
    };
    range_check(v, &format!("{p}.interval_ms"), "the interval", c.interval_ms, 1, MAX_DURATION_MS);
    range_check(v, &format!("{p}.timeout_ms"), "the timeout", c.timeout_ms, 1, MAX_DURATION_MS);
    range_check(
        v,
        &format!("{p}.min_pause_ms"),
        "the min pause",
        c.min_pause_ms,
        0,
        MAX_DURATION_MS,
    );
    range_check(v, &format!("{p}.max_concurrent"), "max_concurrent", c.max_concurrent, 1, 64);
    range_check(
        v,
        &format!("{p}.tolerable_failures"),
        "tolerable_failures",
        c.tolerable_failures,
        0,
        1_000_000,
    );
    if let Some(t) = c.alignment_timeout_ms {
        if mode != CheckpointMode::Aligned {
            v.push((
                format!("{p}.alignment_timeout_ms"),
                format!(
                    "alignment_timeout_ms switches aligned checkpoints to unaligned; it has no \
                     meaning in mode `{}`",
                    mode.name()
                ),
            ));
        }
        range_check(
            v,
            &format!("{p}.alignment_timeout_ms"),
            "the alignment timeout",
            t,
            0,
            MAX_DURATION_MS,
        );
    }
    Checkpointing {
        mode,
        interval_ms: c.interval_ms.max(1),
        timeout_ms: c.timeout_ms.max(1),
        min_pause_ms: c.min_pause_ms,
        max_concurrent: c.max_concurrent.clamp(1, 64) as u32,
        tolerable_failures: c.tolerable_failures.min(1_000_000) as u32,
        alignment_timeout_ms: c.alignment_timeout_ms,
    }
}

fn check_recovery(r: &RecoverySpec, v: &mut Problems) -> Recovery {
    let p = "recovery.restart";
    let s = &r.restart;
    let allowed: &[&str] = match s.strategy.as_str() {
        "fixed_delay" => &["attempts", "delay_ms"],
        "exponential_delay" => &["initial_ms", "max_ms", "multiplier"],
        "failure_rate" => &["max_failures", "interval_ms", "delay_ms"],
        "none" => &[],
        other => {
            v.push((
                format!("{p}.strategy"),
                format!(
                    "unknown restart strategy `{other}`: use fixed_delay, exponential_delay, \
                     failure_rate or none"
                ),
            ));
            &[
                "attempts",
                "delay_ms",
                "initial_ms",
                "max_ms",
                "multiplier",
                "max_failures",
                "interval_ms",
            ]
        }
    };
    let present = [
        ("attempts", s.attempts.is_some()),
        ("delay_ms", s.delay_ms.is_some()),
        ("initial_ms", s.initial_ms.is_some()),
        ("max_ms", s.max_ms.is_some()),
        ("multiplier", s.multiplier.is_some()),
        ("max_failures", s.max_failures.is_some()),
        ("interval_ms", s.interval_ms.is_some()),
    ];
    for (field, is) in present {
        if is && !allowed.contains(&field) {
            v.push((
                format!("{p}.{field}"),
                format!("`{field}` is not a setting of the `{}` strategy", s.strategy),
            ));
        }
    }
    let delay = s.delay_ms.unwrap_or(100);
    range_check(v, &format!("{p}.delay_ms"), "the delay", delay, 0, MAX_DURATION_MS);
    let restart = match s.strategy.as_str() {
        "exponential_delay" => {
            let initial_ms = s.initial_ms.unwrap_or(100);
            let max_ms = s.max_ms.unwrap_or(10_000);
            let multiplier = s.multiplier.unwrap_or(2.0);
            range_check(
                v,
                &format!("{p}.initial_ms"),
                "initial_ms",
                initial_ms,
                1,
                MAX_DURATION_MS,
            );
            range_check(v, &format!("{p}.max_ms"), "max_ms", max_ms, 1, MAX_DURATION_MS);
            if initial_ms > max_ms {
                v.push((
                    format!("{p}.initial_ms"),
                    format!("initial_ms ({initial_ms}) is above max_ms ({max_ms})"),
                ));
            }
            if !(1.0..=100.0).contains(&multiplier) {
                v.push((
                    format!("{p}.multiplier"),
                    format!("the multiplier must be between 1 and 100, got {multiplier}"),
                ));
            }
            RestartStrategy::ExponentialDelay { initial_ms, max_ms, multiplier }
        }
        "failure_rate" => {
            let max_failures = s.max_failures.unwrap_or(3);
            let interval_ms = s.interval_ms.unwrap_or(60_000);
            range_check(
                v,
                &format!("{p}.max_failures"),
                "max_failures",
                max_failures,
                1,
                1_000_000,
            );
            range_check(
                v,
                &format!("{p}.interval_ms"),
                "interval_ms",
                interval_ms,
                1,
                MAX_DURATION_MS,
            );
            RestartStrategy::FailureRate {
                max_failures: max_failures.min(1_000_000) as u32,
                interval_ms,
                delay_ms: delay,
            }
        }
        "none" => RestartStrategy::None,
        _ => {
            let attempts = s.attempts.unwrap_or(10);
            range_check(v, &format!("{p}.attempts"), "attempts", attempts, 0, 1_000_000);
            RestartStrategy::FixedDelay {
                attempts: attempts.min(1_000_000) as u32,
                delay_ms: delay,
            }
        }
    };
    let failover = match r.failover.as_str() {
        "full" => Failover::Full,
        "region" => Failover::Region,
        other => {
            v.push((
                "recovery.failover".into(),
                format!("unknown failover `{other}`: use full or region"),
            ));
            Failover::Full
        }
    };
    Recovery { restart, failover }
}

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

fn check_faults(
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
            range_check(v, &format!("{p}.max_faults"), "max_faults", max_faults, 0, 10_000);
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
                format!("{p}.{k}"),
                format!(
                    "a `{event}` event has no field `{k}`; its fields are: {}",
                    fields.join(", ")
                ),
            ));
            continue;
        }
        if !(val.is_string() || val.is_u64() || val.is_i64()) {
            v.push((format!("{p}.{k}"), "a filter value is a string or an integer".into()));
            continue;
        }
        filter.insert(k.clone(), val.clone());
    }
    Some(FaultTrigger::On { event: event.to_string(), filter, delay_ms })
}

fn check_mutations(names: &[String], v: &mut Problems) -> Vec<Mutation> {
    for (i, n) in names.iter().enumerate() {
        v.push((
            format!("mutations[{i}]"),
            format!(
                "unknown mutation `{n}`: this build implements no protocol mutations yet \
                 (`ftsim mutations` lists them)"
            ),
        ));
    }
    Vec::new()
}

fn check_limits(l: &LimitsSpec, v: &mut Problems) -> Limits {
    range_check(v, "limits.max_sim_ms", "max_sim_ms", l.max_sim_ms, 1, MAX_DURATION_MS);
    range_check(v, "limits.max_events", "max_events", l.max_events, 1, MAX_EVENTS);
    Limits { max_sim_ms: l.max_sim_ms, max_events: l.max_events }
}

fn check_expect(e: Option<&ExpectSpec>, v: &mut Problems) -> Expect {
    let Some(e) = e else { return Expect::default() };
    let mut parse = |list: &[String], field: &str| -> Vec<Invariant> {
        let mut out = Vec::new();
        for (i, n) in list.iter().enumerate() {
            match Invariant::from_name(n) {
                Some(inv) if !out.contains(&inv) => out.push(inv),
                Some(_) => {
                    v.push((format!("expect.{field}[{i}]"), format!("`{n}` is listed twice")))
                }
                None => v.push((
                    format!("expect.{field}[{i}]"),
                    format!(
                        "unknown invariant `{n}`: one of {}",
                        Invariant::ALL.map(|i| i.name()).join(", ")
                    ),
                )),
            }
        }
        out
    };
    let holds = parse(&e.holds, "holds");
    let violated = parse(&e.violated, "violated");
    for inv in &holds {
        if violated.contains(inv) {
            v.push((
                "expect".into(),
                format!("`{}` cannot be expected both to hold and to be violated", inv.name()),
            ));
        }
    }
    Expect { holds, violated, explicit: true }
}
