//! Seed sweeps: one scenario over many seeds, on several threads, summarised against the
//! scenario's expectations.
//!
//! Each seed is an independent run; worker threads take seeds from a shared counter and the
//! results are sorted by seed before anything is summarised or written, so `--jobs` changes
//! nothing but speed. `--shard I/N` keeps the seeds whose position in the range is I modulo N,
//! so N machines together run every seed once and their JSON summaries merge by addition
//! (see [`merge`]).

use super::{run_once, Report};
use crate::graph::Job;
use crate::scenario::model::Invariant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The seeds of a sweep: an inclusive range, optionally one shard of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    pub from: u64,
    pub to: u64,
    /// (index, count): this sweep runs the seeds whose position is `index` mod `count`.
    pub shard: (u64, u64),
}

impl Seeds {
    pub fn list(&self) -> Vec<u64> {
        (self.from..=self.to).filter(|s| (s - self.from) % self.shard.1 == self.shard.0).collect()
    }
}

/// The scenario run by the correct protocol (`check --no-mutations`): its mutations are
/// dropped, and every invariant it expects to hold or to be violated must then hold.
pub fn without_mutations(s: &mut crate::scenario::Scenario) {
    s.mutations.clear();
    let violated = std::mem::take(&mut s.expect.violated);
    s.expect.holds.extend(violated);
    s.expect.holds.sort();
    s.expect.holds.dedup();
}

/// Runs `seeds` of `job` on `jobs` threads; results come back sorted by seed. `done` is called
/// after each run (for a progress bar).
pub fn run_seeds(
    job: &Arc<Job>,
    seeds: &[u64],
    jobs: usize,
    done: &(dyn Fn() + Sync),
) -> Result<Vec<Report>, String> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<Report, String>>> = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, seeds.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let r = run_once(job.clone(), seed, None);
                results.lock().expect("no worker panics while holding the lock").push(r);
                done();
            });
        }
    });
    let mut reports = results
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    reports.sort_by_key(|r| r.seed);
    Ok(reports)
}

/// What a sweep says about one expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation {
    pub invariant: String,
    /// "holds" (for every seed) or "violated" (by at least one seed).
    pub expected: String,
    /// Seeds that violated the invariant.
    pub violated_by: u64,
    pub first_seed: Option<u64>,
    pub met: bool,
}

/// The summary of one scenario's sweep (part of `check --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub file: String,
    pub scenario: String,
    pub mutations: Vec<String>,
    pub verdict: String,
    pub runs: u64,
    /// Seeds where an invariant expected to hold was violated.
    pub failed_seeds: Vec<u64>,
    /// Violations per invariant, over all seeds.
    pub per_invariant: BTreeMap<String, u64>,
    pub expectations: Vec<Expectation>,
    pub counterexamples: Vec<String>,
}

/// Summarises the reports of a sweep against the scenario's expectations.
pub fn summarize(job: &Job, reports: &[Report], counterexamples: Vec<String>) -> ScenarioSummary {
    let mut per_invariant = BTreeMap::new();
    let mut violated_by: BTreeMap<&str, (u64, Option<u64>)> = BTreeMap::new();
    let mut expected: BTreeMap<&str, &str> = BTreeMap::new();
    for r in reports {
        for inv in &r.invariants {
            let e = per_invariant.entry(inv.name.to_string()).or_insert(0);
            let v = violated_by.entry(inv.name).or_insert((0, None));
            if !inv.holds {
                *e += 1;
                v.0 += 1;
                v.1.get_or_insert(r.seed);
            }
            if inv.expected != "none" {
                expected.insert(inv.name, inv.expected);
            }
        }
    }
    let expectations: Vec<Expectation> = Invariant::ALL
        .iter()
        .filter_map(|i| {
            let exp = expected.get(i.name())?;
            let (n, first) = violated_by.get(i.name()).copied().unwrap_or((0, None));
            let met = if *exp == "holds" { n == 0 } else { n > 0 };
            Some(Expectation {
                invariant: i.name().to_string(),
                expected: exp.to_string(),
                violated_by: n,
                first_seed: first,
                met,
            })
        })
        .collect();
    let failed_seeds: Vec<u64> =
        reports.iter().filter(|r| !r.failures.is_empty()).map(|r| r.seed).collect();
    let verdict =
        if expectations.iter().all(|e| e.met) && failed_seeds.is_empty() { "pass" } else { "fail" };
    ScenarioSummary {
        file: job.scenario.origin.clone(),
        scenario: job.scenario.name.clone(),
        mutations: job.scenario.mutations.iter().map(|m| m.name().to_string()).collect(),
        verdict: verdict.to_string(),
        runs: reports.len() as u64,
        failed_seeds,
        per_invariant,
        expectations,
        counterexamples,
    }
}

/// The summary of a whole `check` (SPEC §3: runs, failed_seeds, per_invariant,
/// counterexamples, seeds_per_sec), with one entry per scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    pub verdict: String,
    pub seeds: Seeds,
    pub runs: u64,
    /// Seeds that failed in at least one scenario (see `scenarios` for which).
    pub failed_seeds: Vec<u64>,
    pub per_invariant: BTreeMap<String, u64>,
    pub counterexamples: Vec<String>,
    pub seeds_per_sec: f64,
    pub scenarios: Vec<ScenarioSummary>,
}

impl CheckSummary {
    pub fn new(seeds: Seeds, scenarios: Vec<ScenarioSummary>, seeds_per_sec: f64) -> CheckSummary {
        let mut failed: Vec<u64> =
            scenarios.iter().flat_map(|s| s.failed_seeds.iter().copied()).collect();
        failed.sort_unstable();
        failed.dedup();
        let mut per_invariant = BTreeMap::new();
        for s in &scenarios {
            for (k, v) in &s.per_invariant {
                *per_invariant.entry(k.clone()).or_insert(0) += v;
            }
        }
        CheckSummary {
            verdict: if scenarios.iter().all(|s| s.verdict == "pass") { "pass" } else { "fail" }
                .into(),
            seeds,
            runs: scenarios.iter().map(|s| s.runs).sum(),
            failed_seeds: failed,
            per_invariant,
            counterexamples: scenarios
                .iter()
                .flat_map(|s| s.counterexamples.iter().cloned())
                .collect(),
            seeds_per_sec,
            scenarios,
        }
    }
}

/// Combines the summaries of the shards of one sweep: counts add up, lists concatenate, and
/// each scenario's expectations are judged again on the combined counts (an expected
/// violation found by any shard is found).
pub fn merge(parts: &[CheckSummary]) -> Result<CheckSummary, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let mut by_file: BTreeMap<String, ScenarioSummary> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // Shards run side by side, so their rates add up.
    let rate: f64 = parts.iter().map(|p| p.seeds_per_sec).sum();
    for p in parts {
        if (p.seeds.from, p.seeds.to, p.seeds.shard.1)
            != (first.seeds.from, first.seeds.to, first.seeds.shard.1)
        {
            return Err("the summaries are not shards of the same seed range".into());
        }
        for s in &p.scenarios {
            match by_file.get_mut(&s.file) {
                None => {
                    order.push(s.file.clone());
                    by_file.insert(s.file.clone(), s.clone());
                }
                Some(m) => {
                    m.runs += s.runs;
                    m.failed_seeds.extend(&s.failed_seeds);
                    m.failed_seeds.sort_unstable();
                    for (k, v) in &s.per_invariant {
                        *m.per_invariant.entry(k.clone()).or_insert(0) += v;
                    }
                    for e in &mut m.expectations {
                        if let Some(o) = s.expectations.iter().find(|o| o.invariant == e.invariant)
                        {
                            e.violated_by += o.violated_by;
                            e.first_seed = match (e.first_seed, o.first_seed) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                        }
                    }
                    m.counterexamples.extend(s.counterexamples.iter().cloned());
                }
            }
        }
    }
    let scenarios: Vec<ScenarioSummary> = order
        .into_iter()
        .map(|f| {
            let mut s = by_file.remove(&f).expect("inserted above");
            for e in &mut s.expectations {
                e.met = if e.expected == "holds" { e.violated_by == 0 } else { e.violated_by > 0 };
            }
            let ok = s.expectations.iter().all(|e| e.met) && s.failed_seeds.is_empty();
            s.verdict = if ok { "pass" } else { "fail" }.into();
            s
        })
        .collect();
    let shards = parts.len() as u64;
    let seeds = Seeds {
        shard: (0, if shards == first.seeds.shard.1 { 1 } else { first.seeds.shard.1 }),
        ..first.seeds
    };
    Ok(CheckSummary::new(seeds, scenarios, rate))
}
