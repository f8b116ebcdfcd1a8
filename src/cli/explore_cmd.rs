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
    // One file per scenario and invariant: a rerun that finds the same replaces it.
    let path = dir.join(file_name(&job.scenario.name, found.invariant.name(), ""));
    let cx = counterexample::build_explore(job, config, &found.choices, &path)?;
    counterexample::write(&path, &cx)?;
    Ok(path)
}

/// `<scenario>-explore-<invariant><suffix>.json`, made safe for file systems.
pub(super) fn file_name(scenario: &str, invariant: &str, suffix: &str) -> String {
    let name = format!("{scenario}-explore-{invariant}{suffix}");
    format!("{}.json", name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"))
}
