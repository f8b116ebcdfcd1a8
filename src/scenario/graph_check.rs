//! Validation of `graph`: operators, their parameters and data, edges, the shape of the
//! graph, and whether the job has a single well-defined output (SPEC §2).

use super::model::*;
use super::schema::{GraphSpec, OperatorSpec};
use super::source_partition::{generated_key, SourcePartition};
use super::sources::{check_source, SourceData, MAX_KEYS};
use super::validate::{range_check, Problems, MAX_PARALLELISM};
use crate::graph::determinism;
use crate::ids::{KeyId, OperatorId};
use crate::record::{Key, KeyTable, Record};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub const MAX_COST_US: u64 = 1_000_000;

pub(super) struct CheckedGraph {
    pub operators: Vec<Operator>,
    pub edges: Vec<Edge>,
    pub keys: KeyTable,
}

/// An operator after its own checks, before keys are interned.
struct Draft {
    name: String,
    parallelism: u16,
    cost_us: u32,
    kind: DraftKind,
}

enum DraftKind {
    Source { data: SourceData, rate_per_s: Option<u64> },
    Map(DraftMap),
    Filter(FilterFn),
    FlatMap(u32),
    Reduce(Agg, Emit),
    Window(i64, WindowAgg),
    Join(i64),
    Sink(Delivery),
}

#[derive(Clone, Copy)]
enum DraftMap {
    Identity,
    Add(i64),
    Mul(i64),
    RekeyMod(u32),
}

const OPS: [&str; 8] = ["source", "map", "filter", "flat_map", "reduce", "window", "join", "sink"];

fn params_of(op: &str) -> &'static [&'static str] {
    match op {
        "source" => &["generate", "data", "rate_per_ms"],
        "map" | "filter" | "flat_map" => &["fn"],
        "reduce" => &["agg", "emit"],
        "window" => &["size_ms", "agg"],
        "join" => &["size_ms"],
        _ => &["delivery"],
    }
}

pub(super) fn check_graph(g: &GraphSpec, v: &mut Problems) -> Option<CheckedGraph> {
    let before = v.len();
    if g.operators.is_empty() {
        v.push(("graph.operators".into(), "the graph has no operators".into()));
        return None;
    }
    let mut drafts = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, spec) in g.operators.iter().enumerate() {
        let p = format!("graph.operators[{i}]");
        if let Some(first) = seen.insert(spec.id.clone(), i) {
            v.push((
                format!("{p}.id"),
                format!("duplicate operator id `{}` (also graph.operators[{first}])", spec.id),
            ));
        }
        if let Some(d) = check_operator(spec, &p, v) {
            drafts.push(d);
        }
    }
    if v.len() > before {
        return None;
    }
    if drafts.len() > usize::from(u16::MAX) {
        v.push(("graph.operators".into(), "too many operators".into()));
        return None;
    }
    let edges = check_edges(g, &drafts, v)?;
    check_shape(&drafts, &edges, v)?;
    let keys = intern_keys(&drafts, v)?;
    let operators: Vec<Operator> = drafts.into_iter().map(|d| finish(d, &keys)).collect();
    if let Err((op, msg)) = determinism::check(&operators, &edges) {
        v.push((format!("graph.operators[{}]", op.index()), msg));
        return None;
    }
    Some(CheckedGraph { operators, edges, keys })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_operator(s: &OperatorSpec, p: &str, v: &mut Problems) -> Option<Draft> {
    let before = v.len();
    if !valid_id(&s.id) {
        v.push((
            format!("{p}.id"),
            format!(
                "`{}` is not a usable operator id: use 1 to 64 letters, digits, `_`, `-` or `.`",
                s.id
            ),
        ));
    }
    if !OPS.contains(&s.op.as_str()) {
        v.push((
            format!("{p}.op"),
            format!("unknown operator `{}`: one of {}", s.op, OPS.join(", ")),
        ));
        return None;
    }
    let present = [
        ("generate", s.generate.is_some()),
        ("data", s.data.is_some()),
        ("rate_per_ms", s.rate_per_ms.is_some()),
        ("fn", s.func.is_some()),
        ("agg", s.agg.is_some()),
        ("emit", s.emit.is_some()),
        ("size_ms", s.size_ms.is_some()),
        ("delivery", s.delivery.is_some()),
    ];
    let allowed = params_of(&s.op);
    for (field, is) in present {
        if is && !allowed.contains(&field) {
            v.push((
                format!("{p}.{field}"),
                format!(
                    "`{field}` is not a parameter of a `{}` operator (it takes: {}parallelism, cost_us)",
                    s.op,
                    allowed.iter().map(|a| format!("{a}, ")).collect::<String>()
                ),
            ));
        }
    }
    let parallelism = s.parallelism.unwrap_or(1);
    range_check(v, &format!("{p}.parallelism"), "parallelism", parallelism, 1, MAX_PARALLELISM);
    let cost_us = s.cost_us.unwrap_or(0);
    range_check(v, &format!("{p}.cost_us"), "cost_us", cost_us, 0, MAX_COST_US);
    let kind = match s.op.as_str() {
        "source" => check_source(s, parallelism, p, v)
            .map(|(data, rate_per_s)| DraftKind::Source { data, rate_per_s }),
        "map" => check_map(s.func.as_ref(), p, v).map(DraftKind::Map),
        "filter" => check_filter(s.func.as_ref(), p, v).map(DraftKind::Filter),
        "flat_map" => check_flat_map(s.func.as_ref(), p, v).map(DraftKind::FlatMap),
        "reduce" => {
            let agg = match s.agg.as_deref().unwrap_or("count") {
                "count" => Some(Agg::Count),
                "sum" => Some(Agg::Sum),
                "min" => Some(Agg::Min),
                "max" => Some(Agg::Max),
                other => {
                    v.push((
                        format!("{p}.agg"),
                        format!("unknown aggregate `{other}`: use count, sum, min or max"),
                    ));
                    None
                }
            };
            let emit = match s.emit.as_deref().unwrap_or("every") {
                "every" => Some(Emit::Every),
                "on_end" => Some(Emit::OnEnd),
                other => {
                    v.push((
                        format!("{p}.emit"),
                        format!("unknown emit `{other}`: use every or on_end"),
                    ));
                    None
                }
            };
            agg.zip(emit).map(|(a, e)| DraftKind::Reduce(a, e))
        }
        "window" | "join" => {
            let size = match s.size_ms {
                Some(size) => {
                    range_check(
                        v,
                        &format!("{p}.size_ms"),
                        "the window size",
                        size,
                        1,
                        1_000_000_000,
                    );
                    size as i64
                }
                None => {
                    v.push((
                        p.to_string(),
                        format!("a `{}` needs `size_ms`, the length of its tumbling windows", s.op),
                    ));
                    1
                }
            };
            if s.op == "join" {
                Some(DraftKind::Join(size))
            } else {
                match s.agg.as_deref().unwrap_or("count") {
                    "count" => Some(DraftKind::Window(size, WindowAgg::Count)),
                    "sum" => Some(DraftKind::Window(size, WindowAgg::Sum)),
                    other => {
                        v.push((
                            format!("{p}.agg"),
                            format!("unknown window aggregate `{other}`: use count or sum"),
                        ));
                        None
                    }
                }
            }
        }
        _ => match s.delivery.as_deref().unwrap_or("exactly_once") {
            "exactly_once" => Some(DraftKind::Sink(Delivery::ExactlyOnce)),
            "at_least_once" => Some(DraftKind::Sink(Delivery::AtLeastOnce)),
            "upsert" => Some(DraftKind::Sink(Delivery::Upsert)),
            other => {
                v.push((
                    format!("{p}.delivery"),
                    format!(
                        "unknown delivery `{other}`: use exactly_once, at_least_once or upsert"
                    ),
                ));
                None
            }
        },
    };
    if v.len() > before {
        return None;
    }
    Some(Draft {
        name: s.id.clone(),
        parallelism: parallelism as u16,
        cost_us: cost_us as u32,
        kind: kind?,
    })
}

fn int_arg(obj: &serde_json::Map<String, Value>, name: &str) -> Option<i64> {
    obj.get(name).and_then(Value::as_i64)
}

fn single_key(func: &Value) -> Option<(&str, &Value)> {
    let obj = func.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn check_map(func: Option<&Value>, p: &str, v: &mut Problems) -> Option<DraftMap> {
    let path = format!("{p}.fn");
    let hint = "a map's `fn` is \"identity\", {\"add\": n}, {\"mul\": n} or {\"rekey_mod\": n}";
    match func {
        None => Some(DraftMap::Identity),
        Some(Value::String(s)) if s == "identity" => Some(DraftMap::Identity),
        Some(f) => match single_key(f) {
            Some(("add", _)) if int_arg(f.as_object()?, "add").is_some() => {
                Some(DraftMap::Add(int_arg(f.as_object()?, "add")?))
            }
            Some(("mul", _)) if int_arg(f.as_object()?, "mul").is_some() => {
                Some(DraftMap::Mul(int_arg(f.as_object()?, "mul")?))
            }
            Some(("rekey_mod", n)) => match n.as_u64() {
                Some(n) if (1..=MAX_KEYS).contains(&n) => Some(DraftMap::RekeyMod(n as u32)),
                _ => {
                    v.push((
                        format!("{path}.rekey_mod"),
                        format!("rekey_mod takes an integer from 1 to {MAX_KEYS}"),
                    ));
                    None
                }
            },
            _ => {
                v.push((path, hint.into()));
                None
            }
        },
    }
}

fn check_filter(func: Option<&Value>, p: &str, v: &mut Problems) -> Option<FilterFn> {
    let path = format!("{p}.fn");
    let hint = "a filter's `fn` is {\"value_mod\": [m, r]} or {\"key_mod\": [m, r]}, with m ≥ 1 and 0 ≤ r < m";
    let Some(func) = func else {
        v.push((p.to_string(), format!("a filter needs `fn`: {hint}")));
        return None;
    };
    let parsed = single_key(func).and_then(|(name, args)| {
        let a = args.as_array()?;
        if a.len() != 2 {
            return None;
        }
        let (m, r) = (a[0].as_i64()?, a[1].as_i64()?);
        if m < 1 || r < 0 || r >= m {
            return None;
        }
        match name {
            "value_mod" => Some(FilterFn::ValueMod { m, r }),
            "key_mod" => Some(FilterFn::KeyMod { m: m as u64, r: r as u64 }),
            _ => None,
        }
    });
    if parsed.is_none() {
        v.push((path, hint.into()));
    }
    parsed
}

fn check_flat_map(func: Option<&Value>, p: &str, v: &mut Problems) -> Option<u32> {
    let path = format!("{p}.fn");
    let parsed = func.and_then(single_key).and_then(|(name, n)| match (name, n.as_u64()) {
        ("repeat", Some(n)) if n <= 1000 => Some(n as u32),
        _ => None,
    });
    if parsed.is_none() {
        v.push((path, "a flat_map's `fn` is {\"repeat\": n}, with 0 ≤ n ≤ 1000".into()));
    }
    parsed
}

fn default_partition(from: &Draft, to: &Draft) -> Partition {
    if matches!(to.kind, DraftKind::Reduce(..) | DraftKind::Window(..) | DraftKind::Join(_)) {
        Partition::Hash
    } else if from.parallelism == to.parallelism {
        Partition::Forward
    } else {
        Partition::Rebalance
    }
}

fn check_edges(g: &GraphSpec, drafts: &[Draft], v: &mut Problems) -> Option<Vec<Edge>> {
    let before = v.len();
    let index: BTreeMap<&str, usize> =
        drafts.iter().enumerate().map(|(i, d)| (d.name.as_str(), i)).collect();
    let known = || drafts.iter().map(|d| format!("`{}`", d.name)).collect::<Vec<_>>().join(", ");
    let mut edges = Vec::new();
    for (i, e) in g.edges.iter().enumerate() {
        let p = format!("graph.edges[{i}]");
        let from = index.get(e.from.as_str()).copied();
        let to = index.get(e.to.as_str()).copied();
        if from.is_none() {
            v.push((
                format!("{p}.from"),
                format!("unknown operator `{}`: the operators are {}", e.from, known()),
            ));
        }
        if to.is_none() {
            v.push((
                format!("{p}.to"),
                format!("unknown operator `{}`: the operators are {}", e.to, known()),
            ));
        }
        let (Some(from), Some(to)) = (from, to) else { continue };
        let (fd, td) = (&drafts[from], &drafts[to]);
        let partition = match e.partition.as_deref() {
            None => default_partition(fd, td),
            Some("forward") => Partition::Forward,
            Some("hash") => Partition::Hash,
            Some("rebalance") => Partition::Rebalance,
            Some("broadcast") => Partition::Broadcast,
            Some(other) => {
                v.push((
                    format!("{p}.partition"),
                    format!(
                        "unknown partitioning `{other}`: use forward, hash, rebalance or broadcast"
                    ),
                ));
                continue;
            }
        };
        if partition == Partition::Forward && fd.parallelism != td.parallelism {
            v.push((
                format!("{p}.partition"),
                format!(
                    "a forward edge connects subtask i to subtask i, but `{}` has parallelism {} and \
                     `{}` has {}: make them equal, or use rebalance or hash",
                    fd.name, fd.parallelism, td.name, td.parallelism
                ),
            ));
        }
        let keyed =
            matches!(td.kind, DraftKind::Reduce(..) | DraftKind::Window(..) | DraftKind::Join(_));
        if keyed && partition != Partition::Hash {
            v.push((
                format!("{p}.partition"),
                format!(
                    "`{}` is keyed: its state is split by key, so every input must be a `hash` edge, \
                     not `{}`",
                    td.name,
                    partition.name()
                ),
            ));
        }
        let side = match (e.side.as_deref(), &td.kind) {
            (None, DraftKind::Join(_)) => {
                v.push((
                    p.to_string(),
                    format!(
                        "an edge into the join `{}` needs \"side\": \"left\" or \"right\"",
                        td.name
                    ),
                ));
                None
            }
            (None, _) => None,
            (Some(s), DraftKind::Join(_)) => match s {
                "left" => Some(Side::Left),
                "right" => Some(Side::Right),
                other => {
                    v.push((
                        format!("{p}.side"),
                        format!("unknown side `{other}`: use left or right"),
                    ));
                    None
                }
            },
            (Some(_), _) => {
                v.push((
                    format!("{p}.side"),
                    format!(
                        "`side` is only for edges into a join; `{}` is a {}",
                        td.name,
                        kind_name(&td.kind)
                    ),
                ));
                None
            }
        };
        edges.push(Edge {
            from: OperatorId(from as u16),
            to: OperatorId(to as u16),
            partition,
            side,
        });
    }
    (v.len() == before).then_some(edges)
}

fn kind_name(k: &DraftKind) -> &'static str {
    match k {
        DraftKind::Source { .. } => "source",
        DraftKind::Map(_) => "map",
        DraftKind::Filter(_) => "filter",
        DraftKind::FlatMap(_) => "flat_map",
        DraftKind::Reduce(..) => "reduce",
        DraftKind::Window(..) => "window",
        DraftKind::Join(_) => "join",
        DraftKind::Sink(_) => "sink",
    }
}

fn check_shape(drafts: &[Draft], edges: &[Edge], v: &mut Problems) -> Option<()> {
    let before = v.len();
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..drafts.len()).map(|i| g.add_node(i)).collect();
    for e in edges {
        g.add_edge(nodes[e.from.index()], nodes[e.to.index()], ());
    }
    for (i, d) in drafts.iter().enumerate() {
        let p = format!("graph.operators[{i}]");
        let ins = g.neighbors_directed(nodes[i], Direction::Incoming).count();
        let outs = g.neighbors_directed(nodes[i], Direction::Outgoing).count();
        match d.kind {
            DraftKind::Source { .. } if ins > 0 => v.push((
                p,
                format!("the source `{}` has inputs; sources only read their own data", d.name),
            )),
            DraftKind::Sink(_) if outs > 0 => v.push((
                p,
                format!("the sink `{}` has outputs; a sink is where the job's output ends", d.name),
            )),
            DraftKind::Source { .. } => {}
            _ if ins == 0 => v.push((p, format!("`{}` has no input edge", d.name))),
            DraftKind::Join(_) => {
                let sides: Vec<Side> =
                    edges.iter().filter(|e| e.to.index() == i).filter_map(|e| e.side).collect();
                let left = sides.iter().filter(|s| **s == Side::Left).count();
                let right = sides.len() - left;
                if left != 1 || right != 1 {
                    v.push((
                        p,
                        format!(
                            "the join `{}` needs exactly one left and one right input, it has {left} left and {right} right",
                            d.name
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    if !drafts.iter().any(|d| matches!(d.kind, DraftKind::Source { .. })) {
        v.push(("graph.operators".into(), "the graph has no source".into()));
    }
    if !drafts.iter().any(|d| matches!(d.kind, DraftKind::Sink(_))) {
        v.push((
            "graph.operators".into(),
            "the graph has no sink, so it has no output to check".into(),
        ));
    }
    if let Err(cycle) = toposort(&g, None) {
        let i = g[cycle.node_id()];
        v.push((
            format!("graph.operators[{i}]"),
            format!("the graph has a cycle through `{}`; jobs are acyclic", drafts[i].name),
        ));
        return None;
    }
    // Every operator must reach a sink, or its output is silently lost.
    let mut reaches = vec![false; drafts.len()];
    let mut stack: Vec<usize> =
        (0..drafts.len()).filter(|&i| matches!(drafts[i].kind, DraftKind::Sink(_))).collect();
    while let Some(i) = stack.pop() {
        if reaches[i] {
            continue;
        }
        reaches[i] = true;
        stack.extend(g.neighbors_directed(nodes[i], Direction::Incoming).map(|n| g[n]));
    }
    for (i, d) in drafts.iter().enumerate() {
        if !reaches[i] {
            v.push((format!("graph.operators[{i}]"), format!("no sink is reachable from `{}`: its output would be lost; connect it to a sink", d.name)));
        }
    }
    (v.len() == before).then_some(())
}

fn intern_keys(drafts: &[Draft], v: &mut Problems) -> Option<KeyTable> {
    let mut keys = BTreeSet::new();
    for d in drafts {
        match &d.kind {
            DraftKind::Source { data: SourceData::Generate(g), .. } => {
                keys.extend((0..g.keys).map(generated_key));
            }
            DraftKind::Source { data: SourceData::Literal(parts), .. } => {
                keys.extend(parts.iter().flatten().map(|(k, _, _)| k.clone()));
            }
            DraftKind::Map(DraftMap::RekeyMod(n)) => keys.extend((0..i64::from(*n)).map(Key::Int)),
            _ => {}
        }
    }
    if keys.len() as u64 > 2 * MAX_KEYS {
        v.push((
            "graph".into(),
            format!("the job has {} distinct keys; the limit is {}", keys.len(), 2 * MAX_KEYS),
        ));
        return None;
    }
    Some(KeyTable::from_sorted(keys.into_iter().collect()))
}

fn finish(d: Draft, keys: &KeyTable) -> Operator {
    let id = |k: &Key| keys.id(k).expect("every key was interned from the same drafts");
    let kind = match d.kind {
        DraftKind::Source { data, rate_per_s } => {
            let partitions = match data {
                SourceData::Literal(parts) => parts
                    .iter()
                    .map(|part| {
                        SourcePartition::literal(
                            part.iter()
                                .map(|(k, value, ts)| Record { key: id(k), value: *value, ts: *ts })
                                .collect(),
                        )
                    })
                    .collect(),
                SourceData::Generate(g) => {
                    let ids: Arc<[KeyId]> = (0..g.keys).map(|i| id(&generated_key(i))).collect();
                    let zipf = SourcePartition::zipf_weights(&g);
                    (0..d.parallelism)
                        .map(|p| {
                            SourcePartition::generated(
                                g,
                                &d.name,
                                u64::from(p),
                                ids.clone(),
                                zipf.clone(),
                            )
                        })
                        .collect()
                }
            };
            OpKind::Source(SourceDef { partitions: Arc::new(partitions), rate_per_s })
        }
        DraftKind::Map(m) => OpKind::Map(match m {
            DraftMap::Identity => MapFn::Identity,
            DraftMap::Add(n) => MapFn::Add(n),
            DraftMap::Mul(n) => MapFn::Mul(n),
            DraftMap::RekeyMod(n) => {
                let table = keys
                    .ids()
                    .map(|k| id(&Key::Int((keys.hash(k) % u64::from(n)) as i64)))
                    .collect();
                MapFn::RekeyMod { n, table: Arc::new(table) }
            }
        }),
        DraftKind::Filter(f) => OpKind::Filter(f),
        DraftKind::FlatMap(n) => OpKind::FlatMap { repeat: n },
        DraftKind::Reduce(agg, emit) => OpKind::Reduce { agg, emit },
        DraftKind::Window(size_ms, agg) => OpKind::Window { size_ms, agg },
        DraftKind::Join(size_ms) => OpKind::Join { size_ms },
        DraftKind::Sink(delivery) => OpKind::Sink { delivery },
    };
    Operator { name: d.name, kind, parallelism: d.parallelism, cost_us: d.cost_us }
}
