//! The output invariants (SPEC §2): what each sink shows, compared with the reference.
//!
//! Append sinks are compared as multisets, of (key, value, ts) records or, where ts depends
//! on the interleaving (see [`crate::graph::determinism`]), of (key, value) pairs. Upsert
//! sinks are compared by their final value per key.

use super::reference::{Expected, Reference};
use crate::graph::determinism::Comparison;
use crate::graph::Job;
use crate::record::Record;
use crate::scenario::model::Invariant;
use crate::world::flow::Bag;
use crate::world::World;
use std::cmp::Ordering;

/// The verdict on one invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub invariant: Invariant,
    pub holds: bool,
    /// What differs, for people; empty when it holds.
    pub detail: String,
}

/// How one sink's output differs from the reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkDiff {
    /// Records the reference has more often than the sink shows: (record, expected, shown).
    pub missing: Vec<(Record, u64, u64)>,
    /// Records the sink shows more often than the reference has.
    pub extra: Vec<(Record, u64, u64)>,
    /// Upsert sinks: keys whose final value differs: (key, expected, shown).
    pub wrong_values: Vec<(Record, Option<i64>, Option<i64>)>,
}

impl SinkDiff {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.wrong_values.is_empty()
    }
}

fn project(r: &Record, c: Comparison) -> Record {
    match c {
        Comparison::KeyValue => Record { ts: 0, ..*r },
        _ => *r,
    }
}

thread_local! {
    static EXACT_DIFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn exact_diff() -> bool {
    EXACT_DIFF.with(|c| c.get())
}

/// Makes [`diff`] on this thread always sort and compare both sides record by record
/// (`true`), instead of first comparing their order-free hashes and stopping there when they
/// agree (`false`, the default). Tests compare the two on every fixture.
pub fn set_exact_diff(on: bool) {
    EXACT_DIFF.with(|c| c.set(on));
}

/// Compares what a sink shows with what the reference expects.
pub fn diff(expected: &Expected, world: &World, sink: usize, c: Comparison) -> SinkDiff {
    let out = &world.outputs[sink];
    let mut d = SinkDiff::default();
    match expected {
        Expected::Append(exp) => {
            // Equal multisets have equal order-free hashes: the common case (nothing differs)
            // costs one pass over each side. Only a difference is worth sorting to explain.
            let bag = |v: &[Record]| {
                let mut b = Bag::default();
                v.iter().for_each(|r| b.add(&project(r, c)));
                b
            };
            if !exact_diff() && bag(exp) == bag(&out.log) {
                return d;
            }
            let mut e: Vec<Record> = exp.iter().map(|r| project(r, c)).collect();
            e.sort_unstable();
            let e = &e[..];
            let mut s: Vec<Record> = out.log.iter().map(|r| project(r, c)).collect();
            s.sort_unstable();
            // Walk both sorted lists run by run: (record, count) at `i` and at `j`.
            let run = |v: &[Record], i: usize| {
                let n = v[i..].iter().take_while(|r| **r == v[i]).count();
                (v[i], n as u64)
            };
            let (mut i, mut j) = (0, 0);
            while i < e.len() || j < s.len() {
                let ord = match (e.get(i), s.get(j)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                match ord {
                    Ordering::Less => {
                        let (r, n) = run(e, i);
                        d.missing.push((r, n, 0));
                        i += n as usize;
                    }
                    Ordering::Greater => {
                        let (r, n) = run(&s, j);
                        d.extra.push((r, 0, n));
                        j += n as usize;
                    }
                    Ordering::Equal => {
                        let ((r, ne), (_, ns)) = (run(e, i), run(&s, j));
                        match ne.cmp(&ns) {
                            Ordering::Greater => d.missing.push((r, ne, ns)),
                            Ordering::Less => d.extra.push((r, ne, ns)),
                            Ordering::Equal => {}
                        }
                        i += ne as usize;
                        j += ns as usize;
                    }
                }
            }
        }
        Expected::Upsert(exp) => {
            for (k, shown) in out.table.iter().enumerate() {
                let key = crate::ids::KeyId(k as u32);
                let want = exp.get(&key).copied();
                if want != *shown {
                    let r = Record { key, value: shown.or(want).unwrap_or(0), ts: 0 };
                    d.wrong_values.push((r, want, *shown));
                }
            }
        }
    }
    d
}

/// Where a record stands in a sink's external system: the committed transactions that made
/// it visible (for a duplicate), or the prepared ones that hold it unseen (for a loss).
fn locate(world: &World, sink: usize, r: &Record, c: Comparison) -> String {
    let out = &world.outputs[sink];
    let mut seen = Vec::new();
    for (i, rec) in out.log.iter().enumerate() {
        if project(rec, c) == *r {
            match out.commit_of(i) {
                Some(cm) => seen.push(format!("{} (committed {})", cm.txn, cm.at)),
                None => seen.push(format!("log entry {i} (written outside any transaction)")),
            }
        }
    }
    for (txn, records) in &out.prepared {
        if records.iter().any(|x| project(x, c) == *r) {
            seen.push(format!("{txn} (pre-committed, never committed)"));
        }
    }
    for (txn, (at, records)) in &out.aborted {
        if records.iter().any(|x| project(x, c) == *r) {
            seen.push(format!("{txn} (pre-committed, then aborted {at})"));
        }
    }
    seen.truncate(4);
    if seen.is_empty() {
        String::new()
    } else {
        format!(" [in {}]", seen.join(", "))
    }
}

fn show(job: &Job, r: &Record, c: Comparison) -> String {
    let key = job.scenario.keys.key(r.key);
    match c {
        Comparison::Records => format!("({key}, {}, ts {})", r.value, r.ts),
        _ => format!("({key}, {})", r.value),
    }
}

/// Evaluates exactly_once, no_loss and no_duplicates over every sink.
pub fn output_invariants(job: &Job, reference: &Reference, world: &World) -> Vec<Outcome> {
    let mut exactly = Vec::new();
    let mut loss = Vec::new();
    let mut dups = Vec::new();
    for sink in job.sinks() {
        let i = sink.index();
        let name = &job.scenario.operators[i].name;
        let (Some(expected), Some(c)) = (&reference.sinks[i], job.comparison[i]) else { continue };
        let d = diff(expected, world, i, c);
        if d.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        if let Some((r, want, got)) = d.missing.first() {
            let line = format!(
                "{} record(s) missing; first {} expected {want}× shown {got}×{}",
                d.missing.iter().map(|m| m.1 - m.2).sum::<u64>(),
                show(job, r, c),
                locate(world, i, r, c)
            );
            loss.push(format!("sink `{name}`: {line}"));
            parts.push(line);
        }
        if let Some((r, want, got)) = d.extra.first() {
            let line = format!(
                "{} record(s) too many; first {} expected {want}× shown {got}×{}",
                d.extra.iter().map(|m| m.2 - m.1).sum::<u64>(),
                show(job, r, c),
                locate(world, i, r, c)
            );
            dups.push(format!("sink `{name}`: {line}"));
            parts.push(line);
        }
        if let Some((r, want, got)) = d.wrong_values.first() {
            let key = job.scenario.keys.key(r.key);
            let fmt = |v: &Option<i64>| v.map_or("absent".to_string(), |v| v.to_string());
            let line = format!(
                "{} key(s) with a wrong final value; first {key}: expected {} shown {}",
                d.wrong_values.len(),
                fmt(want),
                fmt(got)
            );
            if want.is_some() && got.is_none() {
                loss.push(format!("sink `{name}`: key {key} missing"));
            }
            if want.is_none() && got.is_some() {
                dups.push(format!("sink `{name}`: key {key} present but not in the reference"));
            }
            parts.push(line);
        }
        exactly.push(format!("sink `{name}`: {}", parts.join("; ")));
    }
    let outcome = |invariant, v: Vec<String>| Outcome {
        invariant,
        holds: v.is_empty(),
        detail: v.join("; "),
    };
    vec![
        outcome(Invariant::ExactlyOnce, exactly),
        outcome(Invariant::NoLoss, loss),
        outcome(Invariant::NoDuplicates, dups),
    ]
}
