//! `shrink`: a failing seed of a scenario, or a counterexample of `explore`, made smaller.

use super::{add_mutations, emit, explore_cmd, load, Usage};
use crate::check::{self, counterexample, path_shrink};
use crate::graph::Job;
use crate::scenario::model::Invariant;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A search that cuts the records of an explorer counterexample stops after this many states,
/// unless `--max-states` says otherwise.
pub(super) const DEFAULT_MAX_STATES: u64 = 200_000;

pub(super) struct ShrinkOptions {
    pub seed: Option<u64>,
    pub invariant: Option<String>,
    pub mutations: Vec<String>,
    pub max_states: Option<u64>,
    pub out: PathBuf,
    pub json: bool,
}

pub(super) fn shrink_command(file: Option<&Path>, opts: &ShrinkOptions) -> Result<i32, Usage> {
    let target = match &opts.invariant {
        None => None,
        Some(n) => super::parse_invariants(std::slice::from_ref(n))?.first().copied(),
    };
    match file.filter(|f| is_counterexample(f)) {
        Some(f) => shrink_counterexample(f, target, opts),
        None => shrink_seed(file, target, opts),
    }
}

/// Whether `path` holds a counterexample file rather than a scenario (anything unreadable is
/// left to the scenario loader, whose errors name the problem).
fn is_counterexample(path: &Path) -> bool {
    crate::files::read_capped(path, "scenario", crate::files::MAX_INPUT_BYTES)
        .is_ok_and(|b| crate::scenario::load::is_counterexample(&b))
}

fn shrink_seed(
    file: Option<&Path>,
    target: Option<Invariant>,
    opts: &ShrinkOptions,
) -> Result<i32, Usage> {
    let mut s = load(file)?;
    let seed = opts.seed.ok_or_else(|| {
        Usage("--seed N is required to shrink a scenario (a counterexample file needs none)".into())
    })?;
    add_mutations(&mut s, &opts.mutations)?;
    shrink_scenario(s, seed, target, opts)
}

/// Shrinks `s` at `seed` and writes the counterexample.
fn shrink_scenario(
    s: crate::scenario::Scenario,
    seed: u64,
    target: Option<Invariant>,
    opts: &ShrinkOptions,
) -> Result<i32, Usage> {
    if opts.max_states.is_some() {
        return Err(Usage(
            "--max-states is for counterexamples of `explore`; a seed is shrunk by runs".into(),
        ));
    }
    let job = Arc::new(Job::new(s));
    let shrunk = check::shrink::shrink(&job, seed, target).map_err(Usage)?;
    let path =
        opts.out.join(counterexample::file_name(&format!("{}-shrunk", job.scenario.name), seed));
    let mut cx = counterexample::build(&job, &shrunk.report, &path);
    cx.scenario = shrunk.scenario.clone();
    counterexample::write(&path, &cx).map_err(Usage)?;
    if opts.json {
        let mut v = serde_json::to_value(&shrunk).expect("serializes");
        v["counterexample"] = serde_json::json!(path.display().to_string());
        emit(&format!("{}\n", serde_json::to_string_pretty(&v).expect("serializes")));
    } else {
        let mut t = format!(
            "shrunk {} from seed {seed} to seed {} keeping {} violated, in {} runs:\n  faults {} → {}, source records {} → {}, tasks {} → {}\n",
            job.scenario.name,
            shrunk.seed,
            shrunk.invariant,
            shrunk.runs,
            shrunk.before.faults,
            shrunk.after.faults,
            shrunk.before.records,
            shrunk.after.records,
            shrunk.before.tasks,
            shrunk.after.tasks
        );
        for step in shrunk.summary() {
            t.push_str(&format!("  - {step}\n"));
        }
        if let Some(i) = shrunk.report.invariants.iter().find(|i| i.name == shrunk.invariant) {
            t.push_str(&format!("  {}: {}\n", i.name, i.detail));
        }
        t.push_str(&format!("reproduce: ftsim replay {}\n", path.display()));
        emit(&t);
    }
    Ok(0)
}

fn shrink_counterexample(
    file: &Path,
    target: Option<Invariant>,
    opts: &ShrinkOptions,
) -> Result<i32, Usage> {
    let cx = counterexample::load(file).map_err(Usage)?;
    let shown = file.display();
    if opts.seed.is_some() {
        return Err(Usage(format!(
            "{shown}: a counterexample brings its own seed (none, for one of `explore`); drop --seed"
        )));
    }
    if !opts.mutations.is_empty() {
        return Err(Usage(format!(
            "{shown}: the mutations of a counterexample are in its scenario; drop --mutation"
        )));
    }
    if cx.explore.is_none() {
        // A seeded run: its scenario (faults resolved, mutations set) at its seed.
        let s = crate::scenario::load_value(&cx.scenario, &cx.scenario_file)
            .map_err(|e| Usage(format!("{shown}: {e}")))?;
        return shrink_scenario(s, cx.seed, target, opts);
    }
    let origin = format!("{shown} (counterexample)");
    let name = cx.scenario["name"].as_str().unwrap_or("scenario").to_string();
    let out = |inv: Invariant| opts.out.join(explore_cmd::file_name(&name, inv.name(), "-shrunk"));
    let max_states = opts.max_states.unwrap_or(DEFAULT_MAX_STATES);
    let shrunk = path_shrink::shrink_path(&cx, &origin, target, max_states, &out).map_err(Usage)?;
    let path = out(Invariant::from_name(shrunk.invariant).expect("a known invariant"));
    counterexample::write(&path, &shrunk.counterexample).map_err(Usage)?;
    if opts.json {
        let mut v = serde_json::to_value(&shrunk).expect("serializes");
        v["counterexample"] = serde_json::json!(path.display().to_string());
        emit(&format!("{}\n", serde_json::to_string_pretty(&v).expect("serializes")));
    } else {
        let (b, a) = (shrunk.before, shrunk.after);
        let count =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut t = format!(
            "shrunk the path of {name} keeping {} violated, in {} and {} ({}):\n  faults {} → {}, source records {} → {}, choices {} → {}\n",
            shrunk.invariant,
            count(shrunk.replays, "replay", "replays"),
            count(shrunk.searches, "search", "searches"),
            count(shrunk.states, "state", "states"),
            b.faults,
            a.faults,
            b.records,
            a.records,
            b.choices,
            a.choices
        );
        for step in &shrunk.steps {
            t.push_str(&format!("  - {step}\n"));
        }
        t.push_str(&format!("  {}: {}\n", shrunk.invariant, shrunk.detail));
        t.push_str(&format!("reproduce: ftsim replay {}\n", path.display()));
        emit(&t);
    }
    Ok(0)
}
