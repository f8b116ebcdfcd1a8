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
#[serde(deny_unknown_fields)]
pub struct Seeds {
    pub from: u64,
    pub to: u64,
    /// (index, count): this sweep runs the seeds whose position is `index` mod `count`.
    pub shard: (u64, u64),
}

impl Seeds {
    /// How many seeds this sweep (this shard) runs. Any range works, `0..18446744073709551615`
    /// included: the seeds are counted and drawn, never listed.
    pub fn count(&self) -> u64 {
        let total = u128::from(self.to - self.from) + 1;
        let (i, n) = (u128::from(self.shard.0), u128::from(self.shard.1));
        if i >= total {
            return 0;
        }
        // At most 2^64 positions, so at most 2^64 seeds in shard 0/1: saturate that one case.
        u64::try_from((total - i).div_ceil(n)).unwrap_or(u64::MAX)
    }

    /// The `k`-th seed of this shard (`k < count()`).
    pub fn nth(&self, k: u64) -> u64 {
        self.from + self.shard.0 + k * self.shard.1
    }

    /// The seeds in order, lazily.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.count()).map(|k| self.nth(k))
    }

    /// The seeds in a vector (for small sweeps and tests; a sweep itself uses [`Seeds::iter`]).
    pub fn list(&self) -> Vec<u64> {
        self.iter().collect()
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
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub invariant: String,
    /// "holds" (for every seed) or "violated" (by at least one seed).
    pub expected: String,
    /// Seeds that violated the invariant.
    pub violated_by: u64,
    pub first_seed: Option<u64>,
    pub met: bool,
}

/// An invariant the scenario expects nothing of, violated by some seeds: not a failure, but
/// shown, since a user may want to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unchecked {
    pub invariant: String,
    pub violated_by: u64,
    pub first_seed: Option<u64>,
}

/// The summary of one scenario's sweep (part of `check --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSummary {
    pub file: String,
    pub scenario: String,
    /// [`scenario_hash`]: what was checked, so that only shards of one sweep merge.
    pub scenario_hash: String,
    pub mutations: Vec<String>,
    pub verdict: String,
    pub runs: u64,
    /// Seeds where an invariant expected to hold was violated.
    pub failed_seeds: Vec<u64>,
    /// Violations per invariant, over all seeds.
    pub per_invariant: BTreeMap<String, u64>,
    pub expectations: Vec<Expectation>,
    /// Invariants the scenario does not check that some seeds violated.
    pub not_checked: Vec<Unchecked>,
    /// Counterexample files written, in seed order.
    pub counterexamples: Vec<String>,
}

/// Summarises the reports of a sweep against the scenario's expectations.
pub fn summarize(job: &Job, reports: &[Report], counterexamples: Vec<String>) -> ScenarioSummary {
    let mut s = Summarizer::default();
    for r in reports {
        s.add(r);
    }
    s.finish(job, counterexamples)
}

/// A sweep's summary built one report at a time, in seed order, so that a sweep keeps only
/// counts in memory, whatever its length.
#[derive(Default)]
pub struct Summarizer {
    runs: u64,
    per_invariant: BTreeMap<String, u64>,
    violated_by: BTreeMap<&'static str, (u64, Option<u64>)>,
    expected: BTreeMap<&'static str, &'static str>,
    failed_seeds: Vec<u64>,
}

impl Summarizer {
    pub fn add(&mut self, r: &Report) {
        self.runs += 1;
        for inv in &r.invariants {
            let e = self.per_invariant.entry(inv.name.to_string()).or_insert(0);
            let v = self.violated_by.entry(inv.name).or_insert((0, None));
            if !inv.holds {
                *e += 1;
                v.0 += 1;
                v.1.get_or_insert(r.seed);
            }
            if inv.expected != "none" {
                self.expected.insert(inv.name, inv.expected);
            }
        }
        if !r.failures.is_empty() {
            self.failed_seeds.push(r.seed);
        }
    }

    pub fn finish(self, job: &Job, counterexamples: Vec<String>) -> ScenarioSummary {
        let count = |i: &Invariant| self.violated_by.get(i.name()).copied().unwrap_or((0, None));
        let expectations: Vec<Expectation> = Invariant::ALL
            .iter()
            .filter_map(|i| {
                let exp = self.expected.get(i.name())?;
                let (n, first) = count(i);
                Some(Expectation {
                    invariant: i.name().to_string(),
                    expected: exp.to_string(),
                    violated_by: n,
                    first_seed: first,
                    met: if *exp == "holds" { n == 0 } else { n > 0 },
                })
            })
            .collect();
        let not_checked: Vec<Unchecked> = Invariant::ALL
            .iter()
            .filter(|i| !self.expected.contains_key(i.name()))
            .filter_map(|i| {
                let (n, first) = count(i);
                (n > 0).then(|| Unchecked {
                    invariant: i.name().to_string(),
                    violated_by: n,
                    first_seed: first,
                })
            })
            .collect();
        let verdict = if expectations.iter().all(|e| e.met) && self.failed_seeds.is_empty() {
            "pass"
        } else {
            "fail"
        };
        ScenarioSummary {
            file: job.scenario.origin.clone(),
            scenario: job.scenario.name.clone(),
            scenario_hash: scenario_hash(job),
            mutations: job.scenario.mutations.iter().map(|m| m.name().to_string()).collect(),
            verdict: verdict.to_string(),
            runs: self.runs,
            failed_seeds: self.failed_seeds,
            per_invariant: self.per_invariant,
            expectations,
            not_checked,
            counterexamples,
        }
    }
}

/// A fingerprint of what a sweep of `job` checks: the scenario as written, its mutations, its
/// expectations and how `recoverable_checkpoints` is checked. Summaries merge only when their
/// scenarios have equal fingerprints.
pub fn scenario_hash(job: &Job) -> String {
    let s = &job.scenario;
    let text = format!(
        "{}|{:?}|{:?}|{:?}|{:?}",
        s.json, s.mutations, s.expect.holds, s.expect.violated, s.recovery_check
    );
    let mut h = crate::trace::TraceHasher::default();
    for b in text.bytes() {
        h.byte(b);
    }
    format!("{:016x}", h.finish())
}

/// The summary of a whole `check` (SPEC §3: runs, failed_seeds, per_invariant,
/// counterexamples, seeds_per_sec), with one entry per scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// Combines the summaries of the shards of one sweep: counts add up, lists concatenate in seed
/// order, and each scenario's expectations are judged again on the combined counts (an
/// expected violation found by any shard is found). `parts` are (name, summary), the name for
/// messages.
///
/// Refused, with a message that says why: shards of different seed ranges or shard counts,
/// the same shard twice, a missing shard, shards whose scenarios differ (files, contents,
/// mutations, expectations), and counts that would overflow.
pub fn merge(parts: &[(String, CheckSummary)]) -> Result<CheckSummary, String> {
    let (first_name, first) = parts.first().ok_or("nothing to merge")?;
    let n = first.seeds.shard.1;
    let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
    for (name, p) in parts {
        if (p.seeds.from, p.seeds.to, p.seeds.shard.1) != (first.seeds.from, first.seeds.to, n) {
            return Err(format!(
                "{name} is a sweep of seeds {}..{} in {} shard(s), {first_name} of seeds {}..{} in {n}: they are not shards of one sweep",
                p.seeds.from, p.seeds.to, p.seeds.shard.1, first.seeds.from, first.seeds.to
            ));
        }
        if let Some(other) = seen.insert(p.seeds.shard.0, name) {
            return Err(format!("{other} and {name} are both shard {}/{n}", p.seeds.shard.0));
        }
        let same = p.scenarios.len() == first.scenarios.len()
            && p.scenarios.iter().zip(&first.scenarios).all(|(a, b)| {
                (&a.file, &a.scenario, &a.scenario_hash, &a.mutations)
                    == (&b.file, &b.scenario, &b.scenario_hash, &b.mutations)
            });
        if !same {
            let list = |c: &CheckSummary| {
                c.scenarios
                    .iter()
                    .map(|s| format!("{} [{}]", s.file, s.scenario_hash))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(format!(
                "{name} and {first_name} checked different scenarios, contents or mutations: {} against {}",
                list(p),
                list(first)
            ));
        }
    }
    let missing: Vec<String> =
        (0..n).filter(|i| !seen.contains_key(i)).take(10).map(|i| format!("{i}/{n}")).collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard(s) {} missing: a merge needs every shard of the sweep",
            missing.join(", ")
        ));
    }
    let overflow =
        || "the counts overflow when added: these are not shards of one sweep".to_string();
    let add = |a: &mut u64, b: u64| -> Result<(), String> {
        *a = a.checked_add(b).ok_or_else(overflow)?;
        Ok(())
    };
    let mut scenarios = first.scenarios.clone();
    for (_, p) in &parts[1..] {
        for (m, s) in scenarios.iter_mut().zip(&p.scenarios) {
            add(&mut m.runs, s.runs)?;
            m.failed_seeds.extend(&s.failed_seeds);
            for (k, v) in &s.per_invariant {
                add(m.per_invariant.entry(k.clone()).or_insert(0), *v)?;
            }
            for e in &mut m.expectations {
                let o = s.expectations.iter().find(|o| o.invariant == e.invariant);
                let Some(o) = o else { return Err(overflow()) };
                add(&mut e.violated_by, o.violated_by)?;
                e.first_seed = min_seed(e.first_seed, o.first_seed);
            }
            for u in &s.not_checked {
                match m.not_checked.iter_mut().find(|x| x.invariant == u.invariant) {
                    Some(x) => {
                        add(&mut x.violated_by, u.violated_by)?;
                        x.first_seed = min_seed(x.first_seed, u.first_seed);
                    }
                    None => m.not_checked.push(u.clone()),
                }
            }
            m.counterexamples.extend(s.counterexamples.iter().cloned());
        }
    }
    let order = |name: &str| Invariant::from_name(name).map(|i| i as usize);
    for s in &mut scenarios {
        s.failed_seeds.sort_unstable();
        s.not_checked.sort_by_key(|u| order(&u.invariant));
        s.counterexamples.sort_by_key(|c| crate::check::counterexample::seed_of_file_name(c));
        for e in &mut s.expectations {
            e.met = if e.expected == "holds" { e.violated_by == 0 } else { e.violated_by > 0 };
        }
        let ok = s.expectations.iter().all(|e| e.met) && s.failed_seeds.is_empty();
        s.verdict = if ok { "pass" } else { "fail" }.into();
    }
    // Shards run side by side, so their rates add up.
    let rate: f64 = parts.iter().map(|(_, p)| p.seeds_per_sec).sum();
    Ok(CheckSummary::new(Seeds { shard: (0, 1), ..first.seeds }, scenarios, rate))
}

fn min_seed(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_counted_and_drawn_at_the_ends_of_the_u64_range() {
        let max = u64::MAX;
        let all = Seeds { from: 0, to: max, shard: (0, 1) };
        assert_eq!(all.count(), max, "2^64 seeds, saturated to 2^64 - 1");
        assert_eq!(all.nth(max - 1), max - 1);
        let two = Seeds { shard: (0, max), ..all };
        assert_eq!(two.list(), vec![0, max]);
        let last = Seeds { shard: (max - 1, max), ..all };
        assert_eq!(last.list(), vec![max - 1]);
        let one = Seeds { from: max, to: max, shard: (0, 1) };
        assert_eq!(one.list(), vec![max]);
        let past = Seeds { from: 5, to: 6, shard: (3, 4) };
        assert_eq!(past.count(), 0, "a shard past the end of a short range is empty");
    }

    #[test]
    fn a_shard_holds_the_seeds_whose_position_is_its_index_modulo_the_count() {
        for n in 1..6u64 {
            let mut all: Vec<u64> =
                (0..n).flat_map(|i| Seeds { from: 10, to: 30, shard: (i, n) }.list()).collect();
            all.sort_unstable();
            assert_eq!(all, (10..=30).collect::<Vec<_>>());
            let s = Seeds { from: 10, to: 30, shard: (1, n.max(2)) };
            assert!(s.iter().all(|x| (x - 10) % n.max(2) == 1));
        }
    }
}
