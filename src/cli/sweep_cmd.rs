//! `check` and `replay`: seed sweeps with their summaries and counterexamples.

use super::{add_mutations, emit, write_atomically, Usage};
use crate::check::counterexample;
use crate::check::sweep::{self, CheckSummary, ScenarioSummary, Seeds};

use crate::graph::Job;
use crate::scenario;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) struct CheckOptions {
    pub(super) seeds: Seeds,
    pub(super) jobs: usize,
    pub(super) mutations: Vec<String>,
    pub(super) no_mutations: bool,
    pub(super) recovery_check: crate::scenario::model::RecoveryCheck,
    pub(super) out: PathBuf,
    pub(super) max_counterexamples: Option<usize>,
    pub(super) json: bool,
}

/// Every scenario file under `paths`, in sorted order.
pub(super) fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Usage> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Usage> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Usage(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                    walk(&e, out)?;
                }
            }
        } else if p.exists() {
            out.push(p.to_path_buf());
        } else {
            return Err(Usage(format!("{}: no such file or directory", p.display())));
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    if out.is_empty() {
        return Err(Usage("no scenario files found".into()));
    }
    Ok(out)
}

#[allow(clippy::disallowed_methods)] // wall-clock time for seeds_per_sec, outside the simulation
pub(super) fn check_command(paths: &[PathBuf], o: &CheckOptions) -> Result<i32, Usage> {
    use std::io::IsTerminal;
    let files = scenario_files(paths)?;
    let mut jobs = Vec::new();
    for f in &files {
        let mut s = scenario::load_file(f).map_err(|e| Usage(e.to_string()))?;
        if o.no_mutations {
            sweep::without_mutations(&mut s);
        }
        add_mutations(&mut s, &o.mutations)?;
        s.recovery_check = o.recovery_check;
        jobs.push(Arc::new(Job::new(s)));
    }
    let seeds = o.seeds.list();
    let bar = indicatif::ProgressBar::new((seeds.len() * jobs.len()) as u64);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs {per_sec} {msg}")
                .expect("a valid template"),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let start = std::time::Instant::now();
    let mut summaries = Vec::new();
    for job in &jobs {
        bar.set_message(job.scenario.name.clone());
        let reports = sweep::run_seeds(job, &seeds, o.jobs, &|| bar.inc(1)).map_err(Usage)?;
        let mut saved = Vec::new();
        let limit = o.max_counterexamples.unwrap_or(usize::MAX);
        for r in reports.iter().filter(|r| r.invariants.iter().any(|i| !i.holds)).take(limit) {
            let path = counterexample::save(&o.out, job, r).map_err(Usage)?;
            saved.push(path.display().to_string());
        }
        summaries.push(sweep::summarize(job, &reports, saved));
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let total: u64 = summaries.iter().map(|s| s.runs).sum();
    let summary = CheckSummary::new(o.seeds, summaries, total as f64 / secs);
    if o.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&summary).expect("summaries serialize")
        ));
    } else {
        emit(&render_check(&summary));
    }
    Ok(if summary.verdict == "pass" { 0 } else { 1 })
}

fn render_check(c: &CheckSummary) -> String {
    let mut s = String::new();
    let range = if c.seeds.shard.1 > 1 {
        format!(
            "seeds {}..{} (shard {}/{})",
            c.seeds.from, c.seeds.to, c.seeds.shard.0, c.seeds.shard.1
        )
    } else {
        format!("seeds {}..{}", c.seeds.from, c.seeds.to)
    };
    for sc in &c.scenarios {
        s.push_str(&render_scenario(sc));
    }
    let ok = c.scenarios.iter().filter(|s| s.verdict == "pass").count();
    s.push_str(&format!(
        "{} of {} scenarios met their expectations; {} runs over {range}, {:.0} seeds/s\n",
        ok,
        c.scenarios.len(),
        c.runs,
        c.seeds_per_sec
    ));
    s
}

fn render_scenario(sc: &ScenarioSummary) -> String {
    let mut s = String::new();
    let verdict = if sc.verdict == "pass" { "PASS" } else { "FAIL" };
    let muts = if sc.mutations.is_empty() {
        String::new()
    } else {
        format!("  [mutations: {}]", sc.mutations.join(", "))
    };
    s.push_str(&format!(
        "{verdict}  {}  ({}){muts}: {} runs, {} failed\n",
        sc.file,
        sc.scenario,
        sc.runs,
        sc.failed_seeds.len()
    ));
    let held: Vec<&str> = sc
        .expectations
        .iter()
        .filter(|e| e.met && e.expected == "holds")
        .map(|e| e.invariant.as_str())
        .collect();
    if !held.is_empty() {
        s.push_str(&format!("  ok   held for every seed: {}\n", held.join(", ")));
    }
    for e in sc.expectations.iter().filter(|e| !(e.met && e.expected == "holds")) {
        let mark = if e.met { "ok  " } else { "MISS" };
        let line = match (e.expected.as_str(), e.violated_by) {
            ("holds", 0) => format!("{} holds for every seed", e.invariant),
            ("holds", n) => format!(
                "{} violated by {n} seed(s), first seed {} (expected to hold)",
                e.invariant,
                e.first_seed.unwrap_or(0)
            ),
            (_, 0) => format!("{} never violated (expected to be violated)", e.invariant),
            (_, n) => format!(
                "{} violated by {n} seed(s) as expected, first seed {}",
                e.invariant,
                e.first_seed.unwrap_or(0)
            ),
        };
        s.push_str(&format!("  {mark} {line}\n"));
    }
    if let Some(first) = sc.failed_seeds.first() {
        if let Some(cx) =
            sc.counterexamples.iter().find(|c| c.ends_with(&format!("-seed{first}.json")))
        {
            s.push_str(&format!("  reproduce: ftsim replay {cx}\n"));
        }
        let mutations: String = sc.mutations.iter().map(|m| format!(" --mutation {m}")).collect();
        s.push_str(&format!("  rerun:  ftsim run {} --seed {first}{mutations}\n", sc.file));
        s.push_str(&format!("  shrink: ftsim shrink {} --seed {first}{mutations}\n", sc.file));
    }
    s
}

pub(super) fn replay_command(path: &Path, trace: Option<&Path>, json: bool) -> Result<i32, Usage> {
    let cx = counterexample::load(path).map_err(Usage)?;
    let origin = format!("{} (counterexample)", path.display());
    let replay = match trace {
        None => counterexample::replay(&cx, &origin, None).map_err(Usage)?,
        Some(t) => write_atomically(t, |w| counterexample::replay(&cx, &origin, Some(w)))?,
    };
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&replay.report).expect("reports serialize")
        ));
    } else {
        emit(&replay.report.render_body(&cx.scenario_file));
        if replay.reproduced() {
            emit(&format!(
                "reproduced: trace {} and the same violations\nreproduce: ftsim replay {}\n",
                cx.trace_hash,
                path.display()
            ));
        } else {
            emit(&format!(
                "NOT reproduced: recorded trace {} with {:?}, replay trace {} (different binary or scenario?)\n",
                cx.trace_hash,
                cx.violated.iter().map(|v| v.invariant.as_str()).collect::<Vec<_>>(),
                replay.report.trace_hash
            ));
        }
    }
    Ok(if replay.reproduced() { 0 } else { 1 })
}
