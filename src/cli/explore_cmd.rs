//! `explore`: exhaustive exploration and its counterexample file.

use super::{emit, Usage};
use crate::check::{self, counterexample};
use crate::explore;
use crate::graph::Job;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[allow(clippy::disallowed_methods)] // wall-clock budget and states/s, outside the simulation
pub(super) fn explore_command(
    job: &Arc<Job>,
    config: &explore::Config,
    max_seconds: Option<u64>,
    out: &Path,
    json: bool,
) -> Result<i32, Usage> {
    use std::io::IsTerminal;
    let start = std::time::Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let deadline = max_seconds.map(std::time::Duration::from_secs);
    let mut progress = |p: &explore::Progress| -> bool {
        if terminal {
            eprint!(
                "\r{} states, {:.0} states/s   ",
                p.states,
                p.states as f64 / start.elapsed().as_secs_f64().max(1e-9)
            );
        }
        deadline.is_none_or(|d| start.elapsed() < d)
    };
    let result = explore::explore(job, config, &mut progress).map_err(Usage)?;
    if terminal {
        eprint!("\r{:60}\r", "");
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let expect = &job.scenario.expect;
    let mut counterexample = None;
    if let Some(found) = result.violations.first() {
        let path = explore_counterexample(job, config, found, out).map_err(Usage)?;
        counterexample = Some(path.display().to_string());
    }
    let found: Vec<&str> = result.violations.iter().map(|v| v.invariant.name()).collect();
    let mut failures = Vec::new();
    for v in &result.violations {
        let expected_violation = expect.violated.contains(&v.invariant);
        let expected_hold = expect.holds.contains(&v.invariant)
            || (!expect.explicit && check::applicable(job, v.invariant));
        if expected_hold && !expected_violation {
            failures.push(format!("{} is violated: {}", v.invariant.name(), v.detail));
        }
    }
    for inv in &expect.violated {
        if !found.contains(&inv.name()) && result.complete {
            failures.push(format!(
                "{} is never violated within the bounds (expected to be)",
                inv.name()
            ));
        }
    }
    let verdict = if failures.is_empty() { "pass" } else { "fail" };
    let report = serde_json::json!({
        "scenario": job.scenario.name,
        "verdict": verdict,
        "states": result.states,
        "transitions": result.transitions,
        "max_depth": result.max_depth,
        "complete": result.complete,
        "finished_states": result.finished_states,
        "bounded_states": result.bounded_states,
        "violations": result.violations.iter().map(|v| serde_json::json!({
            "invariant": v.invariant.name(),
            "detail": v.detail,
            "depth": v.choices.len(),
        })).collect::<Vec<_>>(),
        "states_per_sec": result.states as f64 / secs,
        // Successors computed, new or seen before: TLC's "states generated", stateright's
        // `state_count`.
        "transitions_per_sec": result.transitions as f64 / secs,
        "counterexample": counterexample,
        "reduction": config.reduce,
        "search": if config.bfs { "bfs" } else { "dfs" },
        "failures": failures,
    });
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report).expect("reports serialize")));
    } else {
        let mut t = format!(
            "{}  {}  {} states, {} transitions, depth {}, {}{} ({:.0} states/s, {:.0} transitions/s)\n",
            verdict.to_uppercase(),
            job.scenario.name,
            result.states,
            result.transitions,
            result.max_depth,
            if result.complete {
                "complete"
            } else if !result.violations.is_empty() {
                "stopped at the first violation"
            } else {
                "INCOMPLETE (a budget ran out)"
            },
            if config.reduce { ", with partial-order reduction" } else { "" },
            result.states as f64 / secs,
            result.transitions as f64 / secs
        );
        for v in &result.violations {
            t.push_str(&format!(
                "  VIOL {} after {} steps: {}\n",
                v.invariant.name(),
                v.choices.len(),
                v.detail
            ));
        }
        if let Some(c) = &counterexample {
            t.push_str(&format!("reproduce: ftsim replay {c}\n"));
        }
        emit(&t);
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn explore_counterexample(
    job: &Arc<Job>,
    config: &explore::Config,
    found: &explore::Found,
    dir: &Path,
) -> Result<PathBuf, String> {
    debug_assert!(
        !found.choices.is_empty() || found.invariant == crate::scenario::model::Invariant::Progress
    );
    let (world, hash) = explore::replay(job, config, &found.choices)
        .map_err(|i| format!("internal error: the explorer's own path diverged at choice {i}"))?;
    // One file per scenario and invariant: a rerun that finds the same replaces it.
    let name = format!("{}-explore-{}", job.scenario.name, found.invariant.name());
    let path = dir.join(format!(
        "{}.json",
        name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    ));
    let verdicts = explore::judge(job, config, &world)?;
    let cx = counterexample::Counterexample {
        ftsim_counterexample: counterexample::FORMAT,
        scenario_file: job.scenario.origin.clone(),
        seed: 0,
        mutations: job.scenario.mutations.iter().map(|m| m.name().to_string()).collect(),
        violated: check::report_of_world(job, &world, 0, hash, 0, &verdicts)
            .invariants
            .iter()
            .filter(|i| !i.holds)
            .map(|i| counterexample::Violated {
                invariant: i.name.to_string(),
                detail: i.detail.clone(),
            })
            .collect(),
        trace_hash: check::trace_hex(hash),
        reproduce: format!("ftsim replay {}", path.display()),
        scenario: (*job.scenario.json).clone(),
        explore: Some(counterexample::ExploreChoices {
            max_checkpoints: config.max_checkpoints,
            fault_kinds: config.fault_kinds.iter().map(|k| k.name().to_string()).collect(),
            choices: found.choices.iter().map(|e| explore::event_name(job, *e)).collect(),
        }),
    };
    let text = serde_json::to_string_pretty(&cx).expect("counterexamples serialize");
    counterexample::write_atomically(&path, format!("{text}\n").as_bytes())?;
    Ok(path)
}
