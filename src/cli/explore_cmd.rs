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
            eprint!("\r{}\x1b[K", progress_line(p, start.elapsed().as_secs_f64()));
        }
        deadline.is_none_or(|d| start.elapsed() < d)
    };
    let result = explore::explore(job, config, &mut progress).map_err(Usage)?;
    if terminal {
        eprint!("\r\x1b[K");
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
    // An invariant the search did not check (`--invariant`) can be neither found nor missed.
    for inv in expect.violated.iter().filter(|i| config.checks(**i)) {
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
        "memory_bytes": result.memory_bytes,
        "reduction": reduction(config),
        "search": if config.bfs { "bfs" } else { "dfs" },
        "jobs": config.jobs,
        "invariants": checked(config),
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
            match (config.reduce, config.jobs) {
                (true, 1) => ", with partial-order reduction".to_string(),
                (false, 1) => String::new(),
                (true, n) => format!(", with partial-order reduction, {n} jobs"),
                (false, n) => format!(", {n} jobs"),
            },
            result.states as f64 / secs,
            result.transitions as f64 / secs
        );
        for v in &result.violations {
            t.push_str(&format!(
                "  VIOLATED {} after {} steps: {}\n",
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

/// The progress line on a terminal: what the search has done, how fast, and what it holds.
fn progress_line(p: &explore::Progress, secs: f64) -> String {
    format!(
        "{} states, {} transitions, depth {}, {:.0} states/s, {:.0} MB",
        p.states,
        p.transitions,
        p.depth,
        p.states as f64 / secs.max(1e-9),
        p.memory_bytes as f64 / 1e6
    )
}

/// The partial-order reduction a search uses, by name: sleep sets, or none.
fn reduction(config: &explore::Config) -> &'static str {
    if !config.reduce {
        "none"
    } else if config.max_depth < explore::UNBOUNDED_DEPTH {
        // Stubborn sets are off under a real depth bound (docs/model-checking.md).
        "sleep"
    } else {
        "stubborn+sleep"
    }
}

/// The invariants a search checks, by name.
fn checked(config: &explore::Config) -> Vec<&'static str> {
    crate::scenario::model::Invariant::ALL
        .into_iter()
        .filter(|i| config.checks(*i))
        .map(|i| i.name())
        .collect()
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
