//! Which outputs are independent of how records interleave (SPEC §2, DESIGN §4).
//!
//! The reference run has no network and no timing, so a sink's committed output can only be
//! compared with it when that output is the same for every interleaving of the job's
//! channels. This module decides that from operator semantics, operator by operator in
//! topological order, tracking five properties of every operator's output stream:
//!
//! * `kv`: the multiset of (key, value) pairs is the same for every interleaving;
//! * `kvt`: the multiset of (key, value, ts) records is;
//! * `order_kv` / `order_kvt`: within each subtask, the sequence of records of each key is;
//! * `exclusive`: each key is emitted by at most one subtask.
//!
//! and `last`: the last record emitted for each key is fixed (what an upsert sink keeps).
//!
//! A running `count` is order-independent in its values (1, 2, …, n) but stamps each update
//! with the ts of the record that caused it, so `kv` holds and `kvt` may not; a running `sum`
//! depends on order in its values unless each key's records arrive in a fixed order; every
//! running aggregate ends on the same final value whatever the order. Append sinks need `kv`
//! (and are compared with ts where `kvt` holds); upsert sinks need `last`.

use crate::ids::OperatorId;
use crate::scenario::model::{Agg, Edge, Emit, MapFn, OpKind, Operator, Partition};
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
pub struct StreamProps {
    pub kv: bool,
    pub kvt: bool,
    pub order_kv: bool,
    pub order_kvt: bool,
    pub exclusive: bool,
    pub last: bool,
    /// Why `kv` fails: the operator and an explanation.
    pub kv_why: Option<(OperatorId, String)>,
    /// Why `last` fails.
    pub last_why: Option<(OperatorId, String)>,
}

/// How a sink's output is compared with the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Multisets of (key, value, ts).
    Records,
    /// Multisets of (key, value): ts depends on the interleaving.
    KeyValue,
    /// Final value per key (upsert sinks).
    FinalPerKey,
}

/// Properties of the input of operator `d`, merged over its input edges.
struct Input {
    kv: bool,
    kvt: bool,
    order_kv: bool,
    order_kvt: bool,
    exclusive: bool,
    kv_why: Option<(OperatorId, String)>,
}

fn topo_order(ops: &[Operator], edges: &[Edge]) -> Vec<usize> {
    let mut indeg = vec![0usize; ops.len()];
    for e in edges {
        indeg[e.to.index()] += 1;
    }
    let mut ready: BTreeSet<usize> = (0..ops.len()).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(ops.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for e in edges.iter().filter(|e| e.from.index() == i) {
            indeg[e.to.index()] -= 1;
            if indeg[e.to.index()] == 0 {
                ready.insert(e.to.index());
            }
        }
    }
    order
}

fn input_of(d: usize, ops: &[Operator], edges: &[Edge], props: &[Option<StreamProps>]) -> Input {
    let ins: Vec<&Edge> = edges.iter().filter(|e| e.to.index() == d).collect();
    let up =
        |e: &Edge| props[e.from.index()].as_ref().expect("inputs come first in topological order");
    let kv = ins.iter().all(|e| up(e).kv);
    let kvt = ins.iter().all(|e| up(e).kvt);
    let kv_why = ins.iter().find_map(|e| up(e).kv_why.clone());
    let pd = ops[d].parallelism;
    // Per subtask, per key, the arrival order is fixed when one channel carries the key.
    let order = |sel: fn(&StreamProps) -> bool| -> bool {
        if ins.len() != 1 {
            return false;
        }
        let e = ins[0];
        let u = up(e);
        let pu = ops[e.from.index()].parallelism;
        let one_sender_per_key = u.exclusive || pu == 1;
        sel(u)
            && match e.partition {
                Partition::Forward => true,
                Partition::Hash | Partition::Broadcast => one_sender_per_key,
                Partition::Rebalance => pd == 1 && one_sender_per_key,
            }
    };
    let exclusive = pd == 1
        || ins.iter().all(|e| e.partition == Partition::Hash)
        || (ins.len() == 1 && ins[0].partition == Partition::Forward && up(ins[0]).exclusive);
    Input {
        kv,
        kvt,
        order_kv: order(|u| u.order_kv),
        order_kvt: order(|u| u.order_kvt),
        exclusive,
        kv_why,
    }
}

fn source_exclusive(op: &Operator) -> bool {
    let OpKind::Source(def) = &op.kind else { return false };
    if def.partitions.len() <= 1 {
        return true;
    }
    // The partitions are read side by side, a record of each in turn, so that a key two of
    // them share is usually found after a few records (generated partitions are made as they
    // are read here, and kept by nobody).
    let mut owner = std::collections::BTreeMap::new();
    let mut parts: Vec<_> = def.partitions.iter().map(|p| p.iter()).collect();
    loop {
        let mut any = false;
        for (p, part) in parts.iter_mut().enumerate() {
            let Some(r) = part.next() else { continue };
            any = true;
            if *owner.entry(r.key).or_insert(p) != p {
                return false;
            }
        }
        if !any {
            return true;
        }
    }
}

/// The output properties of every operator.
pub fn analyze(ops: &[Operator], edges: &[Edge]) -> Vec<StreamProps> {
    let mut props: Vec<Option<StreamProps>> = vec![None; ops.len()];
    for d in topo_order(ops, edges) {
        let op = &ops[d];
        let me = OperatorId(d as u16);
        let out = if let OpKind::Source(_) = op.kind {
            let exclusive = source_exclusive(op);
            StreamProps {
                kv: true,
                kvt: true,
                order_kv: true,
                order_kvt: true,
                exclusive,
                last: exclusive,
                kv_why: None,
                last_why: (!exclusive).then(|| {
                    (
                        me,
                        format!(
                            "the source `{}` emits the same keys from several partitions",
                            op.name
                        ),
                    )
                }),
            }
        } else {
            let i = input_of(d, ops, edges, &props);
            derive(op, me, &i)
        };
        props[d] = Some(out);
    }
    props
        .into_iter()
        .map(|p| p.expect("the graph is acyclic, so every operator is visited"))
        .collect()
}

fn derive(op: &Operator, me: OperatorId, i: &Input) -> StreamProps {
    let name = &op.name;
    let generic_last = |kv: bool,
                        order_kv: bool,
                        exclusive: bool|
     -> Option<(OperatorId, String)> {
        if !exclusive {
            Some((me, format!("`{name}` emits the same key from several subtasks")))
        } else if !(kv && order_kv) {
            Some((me, format!("the order of `{name}`'s updates per key depends on the interleaving of its inputs")))
        } else {
            None
        }
    };
    let (kv, kvt, order_kv, order_kvt, exclusive, last_why, kv_why) = match &op.kind {
        OpKind::Source(_) => unreachable!("sources are handled by the caller"),
        OpKind::Map(MapFn::RekeyMod { .. }) => {
            let exclusive = op.parallelism == 1;
            let last = generic_last(i.kv, false, exclusive).or(Some((
                me,
                format!("`{name}` merges several keys into one, so their updates interleave"),
            )));
            (i.kv, i.kvt, false, false, exclusive, last, i.kv_why.clone())
        }
        OpKind::Map(_) | OpKind::Filter(_) | OpKind::FlatMap { .. } | OpKind::Sink { .. } => {
            let last = generic_last(i.kv, i.order_kv, i.exclusive);
            (i.kv, i.kvt, i.order_kv, i.order_kvt, i.exclusive, last, i.kv_why.clone())
        }
        OpKind::Reduce { agg, emit: Emit::Every } => {
            let last = if !i.kv {
                Some((me, format!("the input of `{name}` is not fixed")))
            } else if !i.exclusive {
                Some((me, format!("`{name}` emits the same key from several subtasks")))
            } else {
                None
            };
            let kvt = i.kvt && i.order_kvt;
            let order_kvt = kvt;
            if *agg == Agg::Count {
                (i.kv, kvt, i.kv, order_kvt, i.exclusive, last, i.kv_why.clone())
            } else {
                let kv = i.kv && i.order_kv;
                let why = i.kv_why.clone().or_else(|| {
                    (!kv).then(|| {
                        (
                            me,
                            format!(
                                "`{name}` is a running {} with emit: every, and records of one key reach it \
                                 from several channels, so its partial results depend on their arrival order",
                                agg_name(*agg)
                            ),
                        )
                    })
                });
                (kv, kvt, kv, order_kvt, i.exclusive, last, why)
            }
        }
        OpKind::Reduce { emit: Emit::OnEnd, .. } => {
            let last = (!i.kv).then(|| (me, format!("the input of `{name}` is not fixed")));
            (i.kv, i.kvt, i.kv, i.kvt, i.exclusive, last, i.kv_why.clone())
        }
        OpKind::Window { .. } | OpKind::Join { .. } => {
            let why = i.kv_why.clone().or_else(|| {
                (!i.kvt).then(|| {
                    (
                        me,
                        format!(
                            "`{name}` assigns records to windows by ts, and the ts of its input depends \
                             on the arrival order upstream (a running aggregate stamps each update with \
                             the ts of the record that caused it)"
                        ),
                    )
                })
            });
            let last = generic_last(i.kvt, i.kvt, i.exclusive);
            (i.kvt, i.kvt, i.kvt, i.kvt, i.exclusive, last, why)
        }
    };
    StreamProps {
        kv,
        kvt,
        order_kv,
        order_kvt,
        exclusive,
        last: last_why.is_none(),
        kv_why,
        last_why,
    }
}

fn agg_name(a: Agg) -> &'static str {
    match a {
        Agg::Count => "count",
        Agg::Sum => "sum",
        Agg::Min => "min",
        Agg::Max => "max",
    }
}

/// How the output of sink `sink` is compared with the reference, or why it cannot be.
pub fn comparison(
    ops: &[Operator],
    edges: &[Edge],
    props: &[StreamProps],
    sink: usize,
) -> Result<Comparison, String> {
    let OpKind::Sink { delivery } = ops[sink].kind else {
        return Err("not a sink".into());
    };
    let ins: Vec<&Edge> = edges.iter().filter(|e| e.to.index() == sink).collect();
    let name = &ops[sink].name;
    if delivery == crate::scenario::model::Delivery::Upsert {
        let problem = if ins.len() != 1 {
            Some(format!(
                "it has {} inputs, and the last write per key depends on how they interleave",
                ins.len()
            ))
        } else {
            let e = ins[0];
            let u = &props[e.from.index()];
            let spread = !matches!(e.partition, Partition::Hash | Partition::Forward)
                && ops[sink].parallelism > 1;
            if let Some((_, why)) = &u.last_why {
                Some(why.clone())
            } else if spread {
                Some(format!(
                    "a {} edge spreads each key over several sink subtasks",
                    e.partition.name()
                ))
            } else {
                None
            }
        };
        return match problem {
            None => Ok(Comparison::FinalPerKey),
            Some(p) => Err(format!(
                "the final value per key of the upsert sink `{name}` depends on the interleaving of \
                 records, so there is no single reference output: {p}. Fix: aggregate per key \
                 before the sink (a reduce with a hash edge into the sink), or use emit: on_end"
            )),
        };
    }
    let kv = ins.iter().all(|e| props[e.from.index()].kv);
    let kvt = ins.iter().all(|e| props[e.from.index()].kvt);
    if kv {
        return Ok(if kvt { Comparison::Records } else { Comparison::KeyValue });
    }
    let why = ins
        .iter()
        .find_map(|e| props[e.from.index()].kv_why.clone())
        .map(|(_, w)| w)
        .unwrap_or_else(|| "its input depends on the interleaving".into());
    Err(format!(
        "the output of the sink `{name}` depends on the order in which records interleave, so \
         there is no single reference output to check it against: {why}. Fix: emit the final \
         value only (emit: on_end), or make `{name}` an upsert sink (last write per key wins)"
    ))
}

/// Rejects order-sensitive jobs: the first sink without a reference, with the explanation.
pub fn check(ops: &[Operator], edges: &[Edge]) -> Result<(), (OperatorId, String)> {
    let props = analyze(ops, edges);
    for (i, op) in ops.iter().enumerate() {
        if let OpKind::Sink { .. } = op.kind {
            comparison(ops, edges, &props, i).map_err(|m| (OperatorId(i as u16), m))?;
        }
    }
    Ok(())
}
