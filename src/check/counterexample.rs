//! Counterexample files: everything needed to reproduce a violating run, in one JSON file.
//!
//! A counterexample embeds the scenario as written, with two changes: its `faults` are the
//! schedule resolved for the seed (random faults become explicit `at_ms` faults, triggered
//! ones stay triggered), and its `mutations` are the ones the run used (including
//! `--mutation`). With the seed, that fixes the run: `ftsim replay FILE` re-runs it and
//! checks that the trace hash and the violated invariants are the same.

use super::{run_once, Report};
use crate::explore;
use crate::graph::Job;
use crate::scenario::model::{
    Endpoint, FaultAction, FaultKindName, FaultTrigger, Invariant, RecoveryCheck,
};
use crate::world::PlannedFault;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The version of the file format.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violated {
    pub invariant: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counterexample {
    pub ftsim_counterexample: u32,
    /// The file the scenario came from (for people; replay uses `scenario`).
    pub scenario_file: String,
    pub seed: u64,
    pub mutations: Vec<String>,
    pub violated: Vec<Violated>,
    pub trace_hash: String,
    /// The command that reproduces it.
    pub reproduce: String,
    /// The scenario, with its fault schedule resolved and its mutations set.
    pub scenario: Value,
    /// For a counterexample found by `ftsim explore`: the choices that lead to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore: Option<ExploreChoices>,
    /// `"full"` when the run checked `recoverable_checkpoints` with `--recovery-check full`
    /// (absent: the default, `cut`); a replay checks it the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_check: Option<String>,
}

/// The exploration path of an explorer counterexample: replayed choice by choice from the
/// initial world, with the same fault menu and checkpoint budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExploreChoices {
    pub max_checkpoints: u64,
    pub fault_kinds: Vec<String>,
    /// The invariants the search checked (`explore --invariant`); absent or empty: all.
    /// The replay judges the final state with the same filter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invariants: Vec<String>,
    pub choices: Vec<String>,
}

impl ExploreChoices {
    /// The explorer configuration the path was found with, as far as a replay needs it:
    /// the fault menu, the checkpoint budget and the invariants checked.
    pub fn config(&self) -> Result<explore::Config, String> {
        let mut kinds = Vec::new();
        for k in &self.fault_kinds {
            let kind = FaultKindName::ALL.into_iter().find(|x| x.name() == k).ok_or_else(|| {
                format!(
                    "explore.fault_kinds: unknown fault kind `{k}`: one of {}",
                    FaultKindName::ALL.map(|k| k.name()).join(", ")
                )
            })?;
            kinds.push(kind);
        }
        let mut invariants = Vec::new();
        for n in &self.invariants {
            invariants.push(Invariant::from_name(n).ok_or_else(|| {
                format!(
                    "explore.invariants: unknown invariant `{n}`: one of {}",
                    Invariant::ALL.map(|i| i.name()).join(", ")
                )
            })?);
        }
        Ok(explore::Config {
            fault_kinds: kinds,
            max_checkpoints: self.max_checkpoints,
            invariants,
            ..explore::Config::default()
        })
    }
}

/// The scenario JSON of `job` with the faults resolved for `seed` and its mutations.
pub fn resolved_scenario(job: &Job, seed: u64) -> Value {
    let mut v = (*job.scenario.json).clone();
    let faults: Vec<Value> = crate::sim::faults::resolve(&job.scenario, seed)
        .iter()
        .map(|f| fault_json(job, f))
        .collect();
    let mutations: Vec<&str> = job.scenario.mutations.iter().map(|m| m.name()).collect();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("faults".into(), json!(faults));
        obj.insert("mutations".into(), json!(mutations));
    }
    v
}

/// A planned fault in scenario syntax.
pub fn fault_json(job: &Job, f: &PlannedFault) -> Value {
    let mut o = serde_json::Map::new();
    match &f.trigger {
        FaultTrigger::At { at_ms } => {
            o.insert("at_ms".into(), json!(at_ms));
        }
        FaultTrigger::On { event, filter, delay_ms } => {
            let mut on = serde_json::Map::new();
            on.insert("event".into(), json!(event));
            for (k, v) in filter {
                on.insert(k.clone(), v.clone());
            }
            o.insert("on".into(), Value::Object(on));
            o.insert("delay_ms".into(), json!(delay_ms));
        }
    }
    let ep = |e: &Endpoint| json!(e.to_string());
    match &f.action {
        FaultAction::CrashNode { node, restart_after_ms } => {
            o.insert("kind".into(), json!("crash_node"));
            o.insert("node".into(), json!(node.to_string()));
            o.insert("restart_after_ms".into(), json!(restart_after_ms));
        }
        FaultAction::CrashTask { operator, subtask } => {
            o.insert("kind".into(), json!("crash_task"));
            o.insert("task".into(), json!(job.task_name(job.task(*operator, *subtask))));
        }
        FaultAction::Partition { a, b, duration_ms } => {
            o.insert("kind".into(), json!("partition"));
            o.insert("between".into(), json!([ep(a), ep(b)]));
            o.insert("duration_ms".into(), json!(duration_ms));
        }
        FaultAction::StorageFail { duration_ms } => {
            o.insert("kind".into(), json!("storage_fail"));
            o.insert("duration_ms".into(), json!(duration_ms));
        }
        FaultAction::CrashCoordinator { restart_after_ms } => {
            o.insert("kind".into(), json!("crash_coordinator"));
            o.insert("restart_after_ms".into(), json!(restart_after_ms));
        }
    }
    Value::Object(o)
}

/// The counterexample of a violating run, to be written to `path`.
pub fn build(job: &Job, report: &Report, path: &Path) -> Counterexample {
    Counterexample {
        ftsim_counterexample: FORMAT,
        scenario_file: job.scenario.origin.clone(),
        seed: report.seed,
        mutations: report.mutations.clone(),
        violated: report
            .invariants
            .iter()
            .filter(|i| !i.holds)
            .map(|i| Violated { invariant: i.name.to_string(), detail: i.detail.clone() })
            .collect(),
        trace_hash: report.trace_hash.clone(),
        reproduce: format!("ftsim replay {}", path.display()),
        scenario: resolved_scenario(job, report.seed),
        explore: None,
        recovery_check: (job.scenario.recovery_check == RecoveryCheck::Full)
            .then(|| "full".to_string()),
    }
}

/// The file name of a counterexample: scenario name and seed, made safe for file systems.
pub fn file_name(scenario: &str, seed: u64) -> String {
    let safe: String = scenario
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{safe}-seed{seed}.json")
}

/// The seed in a counterexample file name written by [`file_name`] (`…-seed17.json`); a name
/// of another form sorts after every seed.
pub fn seed_of_file_name(path: &str) -> (u64, String) {
    let seed = path
        .strip_suffix(".json")
        .and_then(|p| p.rsplit_once("-seed"))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(u64::MAX);
    (seed, path.to_string())
}

pub use crate::files::write_atomically;

/// Saves the counterexample of `report` under `dir`; returns its path.
pub fn save(dir: &Path, job: &Job, report: &Report) -> Result<PathBuf, String> {
    let path = dir.join(file_name(&job.scenario.name, report.seed));
    write(&path, &build(job, report, &path))?;
    Ok(path)
}

/// Reads a counterexample file.
pub fn load(path: &Path) -> Result<Counterexample, String> {
    let bytes = crate::files::read_capped(path, "counterexample", crate::files::MAX_INPUT_BYTES)?;
    let cx: Counterexample = crate::files::parse_json(&bytes, "a counterexample file")
        .map_err(|e| format!("{}:{e}", path.display()))?;
    if cx.ftsim_counterexample != FORMAT {
        return Err(format!(
            "{}: counterexample format {} is not the format {FORMAT} this build reads",
            path.display(),
            cx.ftsim_counterexample
        ));
    }
    Ok(cx)
}

/// The result of a replay.
pub struct Replay {
    pub report: Report,
    pub same_hash: bool,
    pub same_violations: bool,
}

impl Replay {
    /// A replay's report against what the counterexample recorded.
    fn compare(report: Report, cx: &Counterexample) -> Replay {
        let violated: Vec<&str> =
            report.invariants.iter().filter(|i| !i.holds).map(|i| i.name).collect();
        let recorded: Vec<&str> = cx.violated.iter().map(|v| v.invariant.as_str()).collect();
        Replay {
            same_hash: report.trace_hash == cx.trace_hash,
            same_violations: violated == recorded,
            report,
        }
    }

    pub fn reproduced(&self) -> bool {
        self.same_hash && self.same_violations
    }
}

/// Re-runs a counterexample: a seeded run, or an explorer's path replayed choice by choice.
/// With `trace`, the trace goes there as JSON lines.
pub fn replay(
    cx: &Counterexample,
    origin: &str,
    trace: Option<&mut dyn std::io::Write>,
) -> Result<Replay, String> {
    let mut scenario =
        crate::scenario::load_value(&cx.scenario, origin).map_err(|e| e.to_string())?;
    scenario.recovery_check = match cx.recovery_check.as_deref() {
        None | Some("cut") => RecoveryCheck::Cut,
        Some("full") => RecoveryCheck::Full,
        Some(other) => {
            return Err(format!("{origin}: recovery_check: `{other}` is not `cut` or `full`"))
        }
    };
    // The top-level `mutations` are what a user reads and edits (to see whether a run passes
    // without one, say): they decide, over the copy inside `scenario`.
    let mut mutations = Vec::new();
    for (i, name) in cx.mutations.iter().enumerate() {
        let m = crate::scenario::model::Mutation::from_name(name).ok_or_else(|| {
            format!(
                "{origin}: at mutations[{i}]: unknown mutation `{}`: one of {}",
                crate::scenario::error::clip(name, 64),
                crate::scenario::model::Mutation::ALL.map(|m| m.name()).join(", ")
            )
        })?;
        if !mutations.contains(&m) {
            mutations.push(m);
        }
    }
    mutations.sort();
    scenario.mutations = mutations;
    let job = Arc::new(Job::new(scenario));
    if let Some(ex) = &cx.explore {
        return replay_explore(&job, cx, ex, origin, trace);
    }
    Ok(Replay::compare(run_once(job, cx.seed, trace)?, cx))
}

/// Replays an explorer counterexample and judges the final state as the explorer did.
fn replay_explore(
    job: &Arc<Job>,
    cx: &Counterexample,
    ex: &ExploreChoices,
    origin: &str,
    trace: Option<&mut dyn std::io::Write>,
) -> Result<Replay, String> {
    let config = ex.config().map_err(|e| format!("{origin}: {e}"))?;
    let path = explore::replay_names(job, &config, &ex.choices, trace.is_some())
        .map_err(|d| format!("{origin}: the replay diverged: {d}"))?;
    if let Some(out) = trace {
        for l in &path.trace {
            writeln!(out, "{l}").map_err(|e| format!("cannot write the trace: {e}"))?;
        }
    }
    let verdicts = explore::judge(job, &config, &path.world)?;
    let report = super::report_of_world(job, &config, &path, cx.seed, &verdicts);
    Ok(Replay::compare(report, cx))
}

/// The counterexample of an explorer path (`choices` from the initial world of `config`),
/// to be written to `path`: the scenario as the search used it (records budget applied,
/// mutations set), the choices by name, and the violations a replay judges.
pub fn build_explore(
    job: &Arc<Job>,
    config: &explore::Config,
    choices: &[crate::world::Event],
    path: &Path,
) -> Result<Counterexample, String> {
    let replayed = explore::replay_traced(job, config, choices, false).map_err(|i| {
        format!("internal error: the explorer's own path cannot be replayed at choice {i}")
    })?;
    let verdicts = explore::judge(job, config, &replayed.world)?;
    let report = super::report_of_world(job, config, &replayed, 0, &verdicts);
    let mut scenario = (*job.scenario.json).clone();
    if let Some(obj) = scenario.as_object_mut() {
        let mutations: Vec<&str> = job.scenario.mutations.iter().map(|m| m.name()).collect();
        obj.insert("mutations".into(), json!(mutations));
    }
    Ok(Counterexample {
        ftsim_counterexample: FORMAT,
        scenario_file: job.scenario.origin.clone(),
        seed: 0,
        mutations: report.mutations.clone(),
        violated: report
            .invariants
            .iter()
            .filter(|i| !i.holds)
            .map(|i| Violated { invariant: i.name.to_string(), detail: i.detail.clone() })
            .collect(),
        trace_hash: report.trace_hash.clone(),
        reproduce: format!("ftsim replay {}", path.display()),
        scenario,
        explore: Some(ExploreChoices {
            max_checkpoints: config.max_checkpoints,
            fault_kinds: config.fault_kinds.iter().map(|k| k.name().to_string()).collect(),
            invariants: config.invariants.iter().map(|i| i.name().to_string()).collect(),
            choices: replayed.names,
        }),
        // The explorer restores each completed checkpoint (the `full` way) whatever this says.
        recovery_check: None,
    })
}

/// Writes a counterexample to `path`, atomically.
/// The directory is created if missing (`--out DIR` names where counterexamples go).
pub fn write(path: &Path, cx: &Counterexample) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(cx).expect("counterexamples serialize");
    write_atomically(path, format!("{text}\n").as_bytes())
}
