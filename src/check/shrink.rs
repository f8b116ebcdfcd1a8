//! Shrinking a failing seed to its essence (`ftsim shrink SCENARIO --seed N`).
//!
//! The shrinker works on the scenario as JSON, starting from the seed's resolved fault
//! schedule (random faults become explicit ones, so they can be removed one by one). It
//! tries reductions in a fixed order — remove a fault; halve, then decrement, a source's
//! records (generated count, or the records of a `data` array); lower parallelism (an
//! operator and every operator tied to it by forward edges); move a checkpoint-triggered
//! fault to an earlier checkpoint — and keeps each candidate
//! that still validates and still violates the same invariant with the same seed. It repeats
//! until no reduction is kept, so the result is a local minimum: no single step makes it
//! smaller and still failing. A candidate is tried with the current seed first, then with
//! seeds 1 to 8 (a smaller scenario often needs another interleaving to fail); the result
//! records the seed that fails. Everything the steps do not name stays as it was.

use super::{counterexample, run_once, Report};
use crate::graph::Job;
use crate::scenario::{self, model::Invariant};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// How big a scenario is, for people and for the "never larger" guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Size {
    pub faults: usize,
    pub records: u64,
    pub tasks: u64,
    /// The faults' times: `at_ms`, or `delay_ms` after their trigger (the last to shrink).
    pub fault_ms: u64,
}

impl Size {
    /// The size of `job` when run with `seed` (random faults count as the seed resolves them).
    pub fn of(job: &Job, seed: u64) -> Size {
        let records = job
            .scenario
            .operators
            .iter()
            .filter_map(|o| match &o.kind {
                crate::scenario::model::OpKind::Source(d) => {
                    Some(d.partitions.iter().map(|p| p.len() as u64).sum::<u64>())
                }
                _ => None,
            })
            .sum();
        Size {
            faults: crate::sim::faults::resolve(&job.scenario, seed).len(),
            records,
            tasks: job.tasks.len() as u64,
            fault_ms: crate::sim::faults::resolve(&job.scenario, seed)
                .iter()
                .map(|f| match &f.trigger {
                    crate::scenario::model::FaultTrigger::At { at_ms } => *at_ms,
                    crate::scenario::model::FaultTrigger::On { delay_ms, .. } => *delay_ms,
                })
                .sum(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Shrunk {
    pub invariant: &'static str,
    pub seed: u64,
    pub before: Size,
    pub after: Size,
    /// The reductions kept, in order.
    pub steps: Vec<String>,
    /// For each step kept: the record count it cut, if that is what it did.
    #[serde(skip)]
    pub cuts: Vec<Option<Cut>>,
    /// For each step kept: the seed it moved to, if it needed another one.
    #[serde(skip)]
    pub seeds: Vec<Option<u64>>,
    /// Runs tried.
    pub runs: u64,
    /// The final scenario (faults explicit).
    #[serde(skip)]
    pub scenario: Value,
    #[serde(skip)]
    pub report: Report,
}

/// At most this many candidate runs.
pub const MAX_RUNS: u64 = 4000;

/// Besides the current seed, a candidate may fail with one of seeds 1..=SEARCH_SEEDS: a smaller
/// scenario often needs a different interleaving, and the counterexample keeps the seed that
/// shows it.
pub const SEARCH_SEEDS: u64 = 8;

/// Shrinks `job` at `seed` while `target` (default: the first invariant expected to hold
/// that fails, else the first that fails) stays violated.
pub fn shrink(job: &Arc<Job>, seed: u64, target: Option<Invariant>) -> Result<Shrunk, String> {
    let first = run_once(job.clone(), seed, None)?;
    let violated: Vec<&super::InvariantReport> =
        first.invariants.iter().filter(|i| !i.holds).collect();
    let target = match target {
        Some(t) => {
            if !violated.iter().any(|i| i.name == t.name()) {
                return Err(format!(
                    "seed {seed} does not violate {} in {}",
                    t.name(),
                    job.scenario.origin
                ));
            }
            t
        }
        None => {
            let pick =
                violated.iter().find(|i| i.expected == "holds").or(violated.first()).ok_or_else(
                    || {
                        format!(
                            "seed {seed} violates no invariant in {}: nothing to shrink",
                            job.scenario.origin
                        )
                    },
                )?;
            Invariant::from_name(pick.name).expect("reports name known invariants")
        }
    };
    let mut current = counterexample::resolved_scenario(job, seed);
    let mut current_job = load(&current, &job.scenario.origin)?;
    let mut report = run_once(current_job.clone(), seed, None)?;
    if !fails(&report, target) {
        return Err(format!(
            "internal error: the resolved scenario of seed {seed} no longer violates {}",
            target.name()
        ));
    }
    let before = Size::of(job, seed);
    let mut steps = Vec::new();
    let mut cuts = Vec::new();
    let mut seeds = Vec::new();
    let mut runs = 2;
    let mut seed = seed;
    'outer: loop {
        for (what, candidate, cut) in candidates(&current, &current_job) {
            if runs >= MAX_RUNS {
                break 'outer;
            }
            let Ok(cj) = load(&candidate, &job.scenario.origin) else { continue };
            // Every step makes something smaller; none may make anything larger. (Faults are
            // explicit by now, so the seed does not change their number.)
            if Size::of(&cj, seed) > Size::of(&current_job, seed) {
                continue;
            }
            let tries = std::iter::once(seed).chain((1..=SEARCH_SEEDS).filter(|s| *s != seed));
            for s in tries {
                runs += 1;
                let Ok(r) = run_once(cj.clone(), s, None) else { break };
                if fails(&r, target) {
                    steps.push(if s == seed { what } else { format!("{what} (seed {s})") });
                    cuts.push(cut);
                    seeds.push((s != seed).then_some(s));
                    seed = s;
                    current = candidate;
                    current_job = cj;
                    report = r;
                    continue 'outer;
                }
            }
        }
        break;
    }
    Ok(Shrunk {
        invariant: target.name(),
        seed,
        before,
        after: Size::of(&current_job, seed),
        steps,
        cuts,
        seeds,
        runs,
        scenario: current,
        report,
    })
}

fn fails(r: &Report, target: Invariant) -> bool {
    r.invariants.iter().any(|i| i.name == target.name() && !i.holds)
}

fn load(v: &Value, origin: &str) -> Result<Arc<Job>, String> {
    scenario::load_value(v, &format!("{origin} (shrinking)"))
        .map(|s| Arc::new(Job::new(s)))
        .map_err(|e| e.to_string())
}

/// A shrink's summary longer than this groups its cuts by what they cut ([`Shrunk::summary`]).
const SUMMARY_LINES: usize = 10;

/// A step that cut a count: the records of a source (`words`, per partition) or of one data
/// partition (`words[1]`), or a fault's time (`fault 0 delay_ms`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    pub subject: String,
    pub from: u64,
    pub to: u64,
    /// What was counted: `records per partition`, `records`, …
    pub unit: &'static str,
}

impl Shrunk {
    /// The steps kept, for people: a run of steps that cut the same record count one after
    /// the other (`120 → 60`, `60 → 30`, …) is one line, `words: 120 → 12 records per
    /// partition, in 4 steps`, with the last seed the run moved to.
    pub fn summary(&self) -> Vec<String> {
        summarize_steps(&self.steps, &self.cuts, &self.seeds)
    }
}

/// [`Shrunk::summary`] of the steps kept, their cuts and their seeds.
fn summarize_steps(steps: &[String], cuts: &[Option<Cut>], seeds: &[Option<u64>]) -> Vec<String> {
    let s = Steps { steps, cuts, seeds };
    s.summary()
}

struct Steps<'a> {
    steps: &'a [String],
    cuts: &'a [Option<Cut>],
    seeds: &'a [Option<u64>],
}

impl Steps<'_> {
    fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.steps.len() {
            let mut j = i + 1;
            if let Some(first) = &self.cuts[i] {
                while let Some(Some(next)) = self.cuts.get(j) {
                    let prev = self.cuts[j - 1].as_ref().expect("in the run");
                    if next.subject != first.subject
                        || next.unit != first.unit
                        || next.from != prev.to
                    {
                        break;
                    }
                    j += 1;
                }
                if j - i > 1 {
                    let last = self.cuts[j - 1].as_ref().expect("in the run");
                    let seed = self.seeds[i..j].iter().rev().find_map(|s| *s);
                    out.push(format!(
                        "{}: {} → {} {}, in {} steps{}",
                        first.subject,
                        first.from,
                        last.to,
                        first.unit,
                        j - i,
                        seed.map_or(String::new(), |s| format!(" (seed {s})"))
                    ));
                    i = j;
                    continue;
                }
            }
            out.push(self.steps[i].clone());
            i = j;
        }
        if out.len() > SUMMARY_LINES {
            return self.grouped();
        }
        out
    }

    /// The steps kept, with every cut of one count made one line however the cuts of other
    /// counts fell between them (`words[0]: 40 → 2 records, in 23 steps`): the summary of a
    /// long shrink, where cuts of several sources alternate.
    fn grouped(&self) -> Vec<String> {
        // (line, for a cut: its subject and unit, first count, last count, steps)
        let mut lines: Vec<(String, Option<(Cut, u64)>)> = Vec::new();
        for (step, cut) in self.steps.iter().zip(self.cuts) {
            let Some(cut) = cut else {
                lines.push((step.clone(), None));
                continue;
            };
            let same = |l: &&mut (String, Option<(Cut, u64)>)| {
                l.1.as_ref().is_some_and(|(c, _)| c.subject == cut.subject && c.unit == cut.unit)
            };
            match lines.iter_mut().find(same) {
                Some((_, Some((c, n)))) => {
                    c.to = cut.to;
                    *n += 1;
                }
                _ => lines.push((step.clone(), Some((cut.clone(), 1)))),
            }
        }
        lines
            .into_iter()
            .map(|(line, cut)| match cut {
                Some((c, n)) if n > 1 => {
                    format!("{}: {} → {} {}, in {n} steps", c.subject, c.from, c.to, c.unit)
                }
                _ => line,
            })
            .collect()
    }
}

/// Every single-step reduction of `s` (loaded as `job`), in the order they are tried, with
/// the record count it cuts, if it cuts one.
fn candidates(s: &Value, job: &Job) -> Vec<(String, Value, Option<Cut>)> {
    let mut out = Vec::new();
    let faults = s["faults"].as_array().cloned().unwrap_or_default();
    for (i, f) in faults.iter().enumerate() {
        let mut c = s.clone();
        c["faults"].as_array_mut().expect("faults").remove(i);
        out.push((format!("removed fault {i} ({})", f["kind"].as_str().unwrap_or("?")), c, None));
    }
    let ops = s["graph"]["operators"].as_array().cloned().unwrap_or_default();
    for (i, op) in ops.iter().enumerate() {
        let id = op["id"].as_str().unwrap_or("?");
        if let Some(n) = op["generate"]["records"].as_u64() {
            for smaller in [n / 2, n.saturating_sub(1)] {
                if smaller >= 1 && smaller < n {
                    let mut c = s.clone();
                    c["graph"]["operators"][i]["generate"]["records"] = json!(smaller);
                    let unit = "records per partition";
                    let cut = Cut { subject: id.to_string(), from: n, to: smaller, unit };
                    out.push((format!("{id}: {n} → {smaller} {unit}"), c, Some(cut)));
                }
            }
            // Half the records at half the rate: the data keeps its span in time, so faults
            // and checkpoints still fall in the middle of it.
            if let Some(rate) = op["rate_per_ms"].as_f64().filter(|_| n >= 2) {
                let mut c = s.clone();
                c["graph"]["operators"][i]["generate"]["records"] = json!(n / 2);
                c["graph"]["operators"][i]["rate_per_ms"] = json!(rate / 2.0);
                let unit = "records per partition, at half the rate";
                let cut = Cut { subject: id.to_string(), from: n, to: n / 2, unit };
                out.push((format!("{id}: {n} → {} {unit}", n / 2), c, Some(cut)));
            }
        }
        if let Some(parts) = op["data"].as_array() {
            for (p, part) in parts.iter().enumerate() {
                let records = part.as_array().cloned().unwrap_or_default();
                let n = records.len();
                let keeps: [(&str, usize, usize); 2] =
                    [("first half", 0, n / 2), ("second half", n / 2, n)];
                for (what, a, b) in keeps {
                    if b - a < n && n > 1 {
                        let mut c = s.clone();
                        c["graph"]["operators"][i]["data"][p] = json!(records[a..b].to_vec());
                        let subject = format!("{id}[{p}]");
                        let cut = Cut {
                            subject: subject.clone(),
                            from: n as u64,
                            to: (b - a) as u64,
                            unit: "records",
                        };
                        out.push((
                            format!("{subject}: kept the {what} of {n} records"),
                            c,
                            Some(cut),
                        ));
                    }
                }
                for k in (0..n).rev() {
                    let mut c = s.clone();
                    let mut kept = records.clone();
                    kept.remove(k);
                    c["graph"]["operators"][i]["data"][p] = json!(kept);
                    let subject = format!("{id}[{p}]");
                    let cut = Cut {
                        subject: subject.clone(),
                        from: n as u64,
                        to: n as u64 - 1,
                        unit: "records",
                    };
                    out.push((format!("{subject}: removed record {k} of {n}"), c, Some(cut)));
                }
            }
        }
    }
    // Once the generated sources are small, write their records out, so that single records
    // can go (the record count stays the same: this step is taken once per source).
    for (i, op) in ops.iter().enumerate() {
        let small = op["generate"]["records"].as_u64().is_some_and(|n| n <= 16);
        if !small {
            continue;
        }
        let crate::scenario::model::OpKind::Source(def) = &job.scenario.operators[i].kind else {
            continue;
        };
        let data: Vec<Vec<Value>> = def
            .partitions
            .iter()
            .map(|part| {
                part.iter()
                    .map(|r| {
                        let key = match job.scenario.keys.key(r.key) {
                            crate::record::Key::Int(k) => json!(k),
                            crate::record::Key::Str(k) => json!(k),
                        };
                        json!({"key": key, "value": r.value, "ts": r.ts})
                    })
                    .collect()
            })
            .collect();
        let mut c = s.clone();
        let o = c["graph"]["operators"][i].as_object_mut().expect("an operator");
        o.remove("generate");
        o.insert("data".into(), json!(data));
        out.push((
            format!("{}: generated records written out as data", op["id"].as_str().unwrap_or("?")),
            c,
            None,
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        let p = op["parallelism"].as_u64().unwrap_or(1);
        if p > 1 {
            for target in [1, p - 1] {
                let mut c = s.clone();
                for j in forward_component(s, i) {
                    c["graph"]["operators"][j]["parallelism"] = json!(target);
                    if let Some(parts) = c["graph"]["operators"][j]["data"].as_array_mut() {
                        parts.truncate(target as usize);
                    }
                    // Placements of subtasks that no longer exist go too.
                    let id = c["graph"]["operators"][j]["id"].as_str().unwrap_or("").to_string();
                    if let Some(placement) = c["cluster"]["placement"].as_object_mut() {
                        placement.retain(|task, _| {
                            crate::scenario::validate::parse_task_name(task)
                                .is_none_or(|(op, sub)| op != id || u64::from(sub) < target)
                        });
                    }
                }
                out.push((
                    format!("{}: parallelism {p} → {target}", op["id"].as_str().unwrap_or("?")),
                    c,
                    None,
                ));
            }
        }
    }
    for (i, f) in faults.iter().enumerate() {
        for field in ["at_ms", "delay_ms"] {
            if let Some(t) = f[field].as_u64().filter(|t| *t > 0) {
                let mut c = s.clone();
                c["faults"][i][field] = json!(t / 2);
                let subject = format!("fault {i} {field}");
                let cut = Cut { subject, from: t, to: t / 2, unit: "ms" };
                out.push((format!("fault {i}: {field} {t} → {}", t / 2), c, Some(cut)));
            }
        }
        if let Some(k) = f["on"]["checkpoint"].as_u64().filter(|k| *k > 1) {
            let mut c = s.clone();
            c["faults"][i]["on"]["checkpoint"] = json!(k - 1);
            out.push((format!("fault {i} triggered on checkpoint {k} → {}", k - 1), c, None));
        }
    }
    out
}

/// The operators tied to operator `i` by forward edges (their parallelism must be equal).
fn forward_component(s: &Value, i: usize) -> Vec<usize> {
    let ops = s["graph"]["operators"].as_array().cloned().unwrap_or_default();
    let index = |id: &Value| ops.iter().position(|o| &o["id"] == id);
    let edges = s["graph"]["edges"].as_array().cloned().unwrap_or_default();
    let mut comp = vec![i];
    let mut k = 0;
    while k < comp.len() {
        let cur = comp[k];
        for e in &edges {
            if e["partition"].as_str() != Some("forward") {
                continue;
            }
            let (Some(a), Some(b)) = (index(&e["from"]), index(&e["to"])) else { continue };
            for (x, y) in [(a, b), (b, a)] {
                if x == cur && !comp.contains(&y) {
                    comp.push(y);
                }
            }
        }
        k += 1;
    }
    comp.sort_unstable();
    comp
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    fn cut(subject: &str, from: u64, to: u64) -> Option<Cut> {
        Some(Cut { subject: subject.into(), from, to, unit: "records" })
    }

    #[test]
    fn a_long_shrink_is_summarised_one_line_per_count_it_cut() {
        // Two partitions cut one record at a time, alternately, with a fault step between.
        let mut steps = Vec::new();
        let mut cuts = Vec::new();
        for n in (1..=20u64).rev() {
            for p in ["w[0]", "w[1]"] {
                steps.push(format!("{p}: removed record 0 of {n}"));
                cuts.push(cut(p, n, n - 1));
            }
            if n == 10 {
                steps.push("fault 0 triggered on checkpoint 2 → 1".into());
                cuts.push(None);
            }
        }
        let seeds = vec![None; steps.len()];
        assert_eq!(
            summarize_steps(&steps, &cuts, &seeds),
            vec![
                "w[0]: 20 → 0 records, in 20 steps".to_string(),
                "w[1]: 20 → 0 records, in 20 steps".to_string(),
                "fault 0 triggered on checkpoint 2 → 1".to_string(),
            ]
        );
    }

    #[test]
    fn a_short_shrink_keeps_its_steps_in_order_merging_only_runs_of_one_count() {
        let steps: Vec<String> =
            ["w: 8 → 4", "w: 4 → 2", "removed fault 0"].map(String::from).to_vec();
        let cuts = vec![cut("w", 8, 4), cut("w", 4, 2), None];
        let seeds = vec![None, Some(3), None];
        assert_eq!(
            summarize_steps(&steps, &cuts, &seeds),
            vec![
                "w: 8 → 2 records, in 2 steps (seed 3)".to_string(),
                "removed fault 0".to_string()
            ]
        );
    }
}
