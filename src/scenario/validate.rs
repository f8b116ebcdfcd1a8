//! Semantic validation: from the schema types to a [`Scenario`] that the rest of the crate
//! can trust. Collects every problem it finds (path, message) rather than stopping at the
//! first, but skips checks that would only repeat an earlier problem.

use super::fault_check::check_faults;
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
            json: Default::default(),
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
            recovery_check: Default::default(),
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

pub(super) fn parse_node(s: &str, nodes: u16) -> Result<NodeId, String> {
    // Only the canonical spelling: `node-01` and `node-+1` are typos, not node-1.
    let n = s
        .strip_prefix("node-")
        .and_then(|x| x.parse::<u16>().ok())
        .filter(|n| s == format!("node-{n}"));
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

pub(super) fn find_task(operators: &[Operator], name: &str) -> Result<(OperatorId, u16), String> {
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

fn check_mutations(names: &[String], v: &mut Problems) -> Vec<Mutation> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match Mutation::from_name(n) {
            Some(m) if !out.contains(&m) => out.push(m),
            Some(_) => v.push((format!("mutations[{i}]"), format!("`{n}` is listed twice"))),
            None => v.push((
                format!("mutations[{i}]"),
                format!(
                    "unknown mutation `{n}`: one of {} (`ftsim mutations` describes them)",
                    Mutation::ALL.map(|m| m.name()).join(", ")
                ),
            )),
        }
    }
    out.sort();
    out
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
