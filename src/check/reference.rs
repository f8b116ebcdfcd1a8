//! The reference evaluator: the job's meaning, computed as a plain batch program.
//!
//! It reads the scenario's operators, edges and input data, and nothing else of the crate:
//! no tasks, channels, time, watermarks, checkpoints or faults, and none of the simulator's
//! operator code. Each operator consumes the whole of its input as one list and produces its
//! whole output. So a bug in the simulator cannot hide by appearing in both runs, and the
//! failure-free simulation matching this evaluator is itself a test of the simulator.
//!
//! Batch semantics per operator:
//! * the input of an operator is the concatenation of its input edges' streams; a broadcast
//!   edge delivers its stream once per receiving subtask;
//! * map, filter and flat_map transform record by record;
//! * reduce keeps a running aggregate per key (over the whole input: hash partitioning puts
//!   each key in one subtask); `every` emits each update stamped with the ts of the record
//!   that caused it, `on_end` emits each key's final value once, stamped with its largest ts;
//! * window groups by (window start, key) and emits one result per group, stamped with the
//!   window's last millisecond; join pairs, per (window start, key), every left value with
//!   every right value, in order of (left value, right value);
//! * an append sink keeps its input as a multiset; an upsert sink keeps the last value of
//!   each key in input order.
//!
//! [`evaluate_prefix`] evaluates the same program over the first records of each source
//! partition only, as if the input ended there: what a run stopped by a limit is compared with
//! (see `check::run_once`).

use crate::ids::KeyId;
use crate::record::{Key, Record};
use crate::scenario::model::{
    Agg, Delivery, Emit, FilterFn, MapFn, OpKind, Partition, Scenario, Side, WindowAgg,
};
use std::collections::BTreeMap;

/// The most records the evaluator materialises in one stream before giving up.
pub const MAX_REFERENCE_RECORDS: usize = 50_000_000;

/// The expected output of one sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Every record the sink must show, in no particular order.
    Append(Vec<Record>),
    /// The final value of every key.
    Upsert(BTreeMap<KeyId, i64>),
}

/// Expected outputs, indexed by operator (`None` for operators that are not sinks).
#[derive(Clone, Debug)]
pub struct Reference {
    pub sinks: Vec<Option<Expected>>,
}

fn too_big(name: &str) -> String {
    format!(
        "the reference output of `{name}` exceeds {MAX_REFERENCE_RECORDS} records; shrink the input \
         (records, repeat or broadcast fan-out)"
    )
}

/// Evaluates the job. Fails only when a stream grows beyond [`MAX_REFERENCE_RECORDS`].
pub fn evaluate(s: &Scenario) -> Result<Reference, String> {
    evaluate_prefix(s, &[])
}

/// The reference of the whole input, evaluated on first use (or given).
pub enum Whole<'a> {
    Ready(&'a Reference),
    Lazy(&'a Scenario, std::cell::OnceCell<Result<Reference, String>>),
}

impl<'a> Whole<'a> {
    /// The reference of `s`, not evaluated yet.
    pub fn of(s: &'a Scenario) -> Whole<'a> {
        Whole::Lazy(s, std::cell::OnceCell::new())
    }

    /// The reference, evaluating it if nobody has.
    pub fn get(&self) -> Result<&Reference, String> {
        match self {
            Whole::Ready(r) => Ok(r),
            Whole::Lazy(s, cell) => cell.get_or_init(|| evaluate(s)).as_ref().map_err(Clone::clone),
        }
    }
}

/// Evaluates the job over the first `reach[op][p]` records of partition `p` of the source at
/// operator index `op`, as if the input ended there (a partition `reach` does not cover is read
/// to its end). Fails like [`evaluate`].
pub fn evaluate_prefix(s: &Scenario, reach: &[Vec<usize>]) -> Result<Reference, String> {
    let n = s.operators.len();
    let mut streams: Vec<Option<Vec<Record>>> = vec![None; n];
    let mut sinks = vec![None; n];
    let mut done = vec![false; n];
    // Edges still to read each operator's stream: a stream is dropped once all have.
    let mut readers: Vec<usize> =
        (0..n).map(|i| s.edges.iter().filter(|e| e.from.index() == i).count()).collect();
    // Visit operators once all their inputs are computed (the graph is acyclic).
    while done.iter().any(|d| !d) {
        let next = (0..n)
            .find(|&i| {
                !done[i]
                    && s.edges.iter().filter(|e| e.to.index() == i).all(|e| done[e.from.index()])
            })
            .expect("a validated graph is acyclic");
        let op = &s.operators[next];
        let input = |side: Option<Side>| -> Result<Vec<Record>, String> {
            let mut v = Vec::new();
            for e in s
                .edges
                .iter()
                .filter(|e| e.to.index() == next && (side.is_none() || e.side == side))
            {
                let up = streams[e.from.index()].as_ref().expect("inputs are computed first");
                let copies = if e.partition == Partition::Broadcast {
                    usize::from(op.parallelism)
                } else {
                    1
                };
                if v.len() + up.len() * copies > MAX_REFERENCE_RECORDS {
                    return Err(too_big(&op.name));
                }
                for _ in 0..copies {
                    v.extend_from_slice(up);
                }
            }
            Ok(v)
        };
        let out: Vec<Record> = match &op.kind {
            OpKind::Source(def) => {
                let upto = |p: usize| reach.get(next).and_then(|r| r.get(p)).copied();
                def.partitions
                    .iter()
                    .enumerate()
                    .flat_map(|(p, part)| part.records(upto(p).unwrap_or(usize::MAX)))
                    .collect()
            }
            OpKind::Map(f) => {
                let rekey = |k: KeyId, m: u32| -> KeyId {
                    let new = Key::Int((s.keys.hash(k) % u64::from(m)) as i64);
                    s.keys.id(&new).expect("validation interns every rekey_mod result")
                };
                input(None)?
                    .into_iter()
                    .map(|r| match f {
                        MapFn::Identity => r,
                        MapFn::Add(a) => Record { value: r.value.wrapping_add(*a), ..r },
                        MapFn::Mul(m) => Record { value: r.value.wrapping_mul(*m), ..r },
                        MapFn::RekeyMod { n, .. } => Record { key: rekey(r.key, *n), ..r },
                    })
                    .collect()
            }
            OpKind::Filter(f) => input(None)?
                .into_iter()
                .filter(|r| match *f {
                    FilterFn::ValueMod { m, r: rem } => r.value.rem_euclid(m) == rem,
                    FilterFn::KeyMod { m, r: rem } => s.keys.hash(r.key) % m == rem,
                })
                .collect(),
            OpKind::FlatMap { repeat } => {
                let inp = input(None)?;
                if inp.len().saturating_mul(*repeat as usize) > MAX_REFERENCE_RECORDS {
                    return Err(too_big(&op.name));
                }
                inp.iter().flat_map(|r| std::iter::repeat_n(*r, *repeat as usize)).collect()
            }
            OpKind::Reduce { agg, emit } => reduce(input(None)?, *agg, *emit, s.keys.len()),
            OpKind::Window { size_ms, agg } => {
                let mut groups: BTreeMap<(i64, KeyId), i64> = BTreeMap::new();
                for r in input(None)? {
                    let start = r.ts.div_euclid(*size_ms) * size_ms;
                    let g = groups.entry((start, r.key)).or_insert(0);
                    *g = match agg {
                        WindowAgg::Count => g.wrapping_add(1),
                        WindowAgg::Sum => g.wrapping_add(r.value),
                    };
                }
                groups
                    .into_iter()
                    .map(|((start, key), value)| Record {
                        key,
                        value,
                        ts: last_ms(start, *size_ms),
                    })
                    .collect()
            }
            OpKind::Join { size_ms } => {
                type Sides = (Vec<i64>, Vec<i64>);
                let mut groups: BTreeMap<(i64, KeyId), Sides> = BTreeMap::new();
                for r in input(Some(Side::Left))? {
                    groups
                        .entry((r.ts.div_euclid(*size_ms) * size_ms, r.key))
                        .or_default()
                        .0
                        .push(r.value);
                }
                for r in input(Some(Side::Right))? {
                    groups
                        .entry((r.ts.div_euclid(*size_ms) * size_ms, r.key))
                        .or_default()
                        .1
                        .push(r.value);
                }
                let mut out = Vec::new();
                // Within a window, pairs come in order of (left value, right value).
                for ((start, key), (mut left, mut right)) in groups {
                    left.sort_unstable();
                    right.sort_unstable();
                    if out.len() + left.len() * right.len() > MAX_REFERENCE_RECORDS {
                        return Err(too_big(&op.name));
                    }
                    for l in &left {
                        for r in &right {
                            out.push(Record {
                                key,
                                value: l.wrapping_add(*r),
                                ts: last_ms(start, *size_ms),
                            });
                        }
                    }
                }
                out
            }
            OpKind::Sink { delivery } => {
                let inp = input(None)?;
                sinks[next] = Some(match delivery {
                    Delivery::Upsert => {
                        Expected::Upsert(inp.iter().map(|r| (r.key, r.value)).collect())
                    }
                    _ => Expected::Append(inp),
                });
                Vec::new()
            }
        };
        if out.len() > MAX_REFERENCE_RECORDS {
            return Err(too_big(&op.name));
        }
        for e in s.edges.iter().filter(|e| e.to.index() == next) {
            readers[e.from.index()] -= 1;
            if readers[e.from.index()] == 0 {
                streams[e.from.index()] = None;
            }
        }
        streams[next] = Some(out);
        done[next] = true;
    }
    Ok(Reference { sinks })
}

/// The ts of a window's results: its last millisecond, start + size − 1, which for the window
/// that holds `i64::MAX` is `i64::MAX` itself (event time ends there).
fn last_ms(start: i64, size: i64) -> i64 {
    i64::try_from(i128::from(start) + i128::from(size) - 1).unwrap_or(i64::MAX)
}

fn reduce(input: Vec<Record>, agg: Agg, emit: Emit, keys: usize) -> Vec<Record> {
    // (value, largest ts) per key, indexed by key id (ids are dense and in key order).
    let mut acc: Vec<Option<(i64, i64)>> = vec![None; keys];
    let mut out = Vec::with_capacity(if emit == Emit::Every { input.len() } else { 0 });
    for r in input {
        let slot = &mut acc[r.key.index()];
        let next = match *slot {
            None => (if agg == Agg::Count { 1 } else { r.value }, r.ts),
            Some((v, ts)) => {
                let v = match agg {
                    Agg::Count => v.wrapping_add(1),
                    Agg::Sum => v.wrapping_add(r.value),
                    Agg::Min => v.min(r.value),
                    Agg::Max => v.max(r.value),
                };
                (v, ts.max(r.ts))
            }
        };
        *slot = Some(next);
        if emit == Emit::Every {
            out.push(Record { key: r.key, value: next.0, ts: r.ts });
        }
    }
    if emit == Emit::OnEnd {
        out.extend(
            acc.into_iter().enumerate().filter_map(|(k, a)| {
                a.map(|(value, ts)| Record { key: KeyId(k as u32), value, ts })
            }),
        );
    }
    out
}
