//! `check` and `replay`: seed sweeps with their summaries and counterexamples.

use super::{add_mutations, emit, write_atomically, Usage};
use crate::check::counterexample;
use crate::check::sweep::{self, CheckSummary, ScenarioSummary, Seeds, Summarizer};
use crate::check::Report;

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
    pub(super) save: Save,
    pub(super) json: bool,
}

/// Which runs of a sweep are saved as counterexample files (`check --save`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Save {
    /// Runs that failed an expectation: an invariant the scenario expects to hold was violated.
    Failed,
    /// Every run that violated any invariant, expected, unexpected or not checked.
    Violations,
    /// None.
    None,
}

impl Save {
    fn wants(self, r: &Report) -> bool {
        match self {
            Save::Failed => !r.failures.is_empty(),
            Save::Violations => r.invariants.iter().any(|i| !i.holds),
            Save::None => false,
        }
    }
}

/// The scenario files of a `check`, and the counterexample files its directories held, which
/// are skipped (a counterexample named on the command line is an error instead).
pub(super) struct Found {
    pub(super) files: Vec<PathBuf>,
    pub(super) skipped: Vec<PathBuf>,
}

/// Every scenario file under `paths`, in sorted order. Directories are searched recursively
/// for `*.json`, leaving out counterexample files (`check` writes them, by default, under the
/// directory it is run in).
pub(super) fn scenario_files(paths: &[PathBuf]) -> Result<Found, Usage> {
    fn walk(p: &Path, named: bool, found: &mut Found) -> Result<(), Usage> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Usage(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                    walk(&e, false, found)?;
                }
            }
        } else if p.exists() {
            let limit = crate::files::MAX_INPUT_BYTES;
            let counterexample = !named
                && crate::files::read_capped(p, "scenario", limit)
                    .is_ok_and(|b| scenario::load::is_counterexample(&b));
            if counterexample {
                found.skipped.push(p.to_path_buf());
            } else {
                found.files.push(p.to_path_buf());
            }
        } else {
            return Err(Usage(format!("{}: no such file or directory", p.display())));
        }
        Ok(())
    }
    let mut found = Found { files: Vec::new(), skipped: Vec::new() };
    for p in paths {
        walk(p, true, &mut found)?;
    }
    if found.files.is_empty() {
        let also = if found.skipped.is_empty() {
            String::new()
        } else {
            format!(" (only {} counterexample file(s))", found.skipped.len())
        };
        return Err(Usage(format!("no scenario files found{also}")));
    }
    Ok(found)
}

#[allow(clippy::disallowed_methods)] // wall-clock time for seeds_per_sec, outside the simulation
pub(super) fn check_command(paths: &[PathBuf], o: &CheckOptions) -> Result<i32, Usage> {
    use std::io::IsTerminal;
    let found = scenario_files(paths)?;
    if !found.skipped.is_empty() {
        eprintln!(
            "note: skipped {} counterexample file(s) (for `ftsim replay`), {}",
            found.skipped.len(),
            found.skipped.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let mut jobs = Vec::new();
    for f in &found.files {
        let mut s = scenario::load_file(f).map_err(|e| Usage(e.to_string()))?;
        if o.no_mutations {
            sweep::without_mutations(&mut s);
        }
        add_mutations(&mut s, &o.mutations)?;
        s.recovery_check = o.recovery_check;
        jobs.push(Arc::new(Job::new(s)));
    }
    let count = o.seeds.count();
    let bar = indicatif::ProgressBar::new(count.saturating_mul(jobs.len() as u64));
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
    let mut unsaved = Unsaved::default();
    for job in &jobs {
        bar.set_message(job.scenario.name.clone());
        let mut summary = Summarizer::default();
        let mut saved = Vec::new();
        let limit = o.max_counterexamples.unwrap_or(usize::MAX);
        // Seeds go in chunks, each run on the worker threads and then summarised in seed
        // order: memory holds one chunk of reports, however long the sweep.
        let chunk = 256 * o.jobs.max(1) as u64;
        let mut k = 0;
        while k < count {
            let end = k.saturating_add(chunk).min(count);
            let seeds: Vec<u64> = (k..end).map(|i| o.seeds.nth(i)).collect();
            let reports = sweep::run_seeds(job, &seeds, o.jobs, &|| bar.inc(1)).map_err(Usage)?;
            for r in &reports {
                summary.add(r);
                if o.save.wants(r) && saved.len() < limit {
                    let path = counterexample::save(&o.out, job, r).map_err(Usage)?;
                    saved.push(path.display().to_string());
                } else if o.save.wants(r) {
                    unsaved.over_limit += 1;
                } else if r.invariants.iter().any(|i| !i.holds) {
                    unsaved.not_wanted += 1;
                }
            }
            k = end;
        }
        summaries.push(summary.finish(job, saved));
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let total: u64 = summaries.iter().map(|s| s.runs).sum();
    let summary = CheckSummary::new(o.seeds, summaries, total as f64 / secs);
    let written = saved_note(&summary, &unsaved, o);
    if o.json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&summary).expect("summaries serialize")
        ));
        eprint!("{written}");
    } else {
        emit(&render_check(&summary));
        emit(&written);
    }
    Ok(if summary.verdict == "pass" { 0 } else { 1 })
}

/// Violating runs not saved as files: beyond `--max-counterexamples`, or not what `--save` asks.
#[derive(Default)]
struct Unsaved {
    over_limit: u64,
    not_wanted: u64,
}

/// Where the counterexample files went, and what was not saved.
fn saved_note(summary: &CheckSummary, unsaved: &Unsaved, o: &CheckOptions) -> String {
    let n = summary.counterexamples.len();
    let mut s = String::new();
    if n > 0 {
        s.push_str(&format!(
            "wrote {n} counterexample file(s) to {}/ (`ftsim replay FILE` re-runs one)\n",
            o.out.display()
        ));
    }
    if unsaved.over_limit > 0 {
        s.push_str(&format!(
            "{} more run(s) to save, beyond --max-counterexamples\n",
            unsaved.over_limit
        ));
    }
    if unsaved.not_wanted > 0 {
        let why = match o.save {
            Save::Failed => "only runs that fail an expectation are saved; `--save violations` saves every violating run",
            Save::Violations => unreachable!("every violating run is wanted"),
            Save::None => "`--save none`",
        };
        s.push_str(&format!(
            "{} violating run(s) not saved as files ({why})\n",
            unsaved.not_wanted
        ));
    }
    s
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
    for u in &sc.not_checked {
        s.push_str(&format!(
            "  note {} violated by {} seed(s), first seed {} (not checked: the scenario expects nothing of it)\n",
            u.invariant,
            u.violated_by,
            u.first_seed.unwrap_or(0)
        ));
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
        let head = if replay.reproduced() { "REPRODUCED" } else { "NOT REPRODUCED" };
        emit(&replay.report.render_headed(&cx.scenario_file, head));
        if replay.reproduced() {
            emit(&format!(
                "reproduced: trace {} and the same violations ({}); exit code 0\nreproduce: ftsim replay {}\n",
                cx.trace_hash,
                violation_list(cx.violated.iter().map(|v| v.invariant.as_str())),
                path.display()
            ));
        } else {
            emit(&format!(
                "NOT reproduced: recorded trace {} violating {}, replay trace {} violating {} (a different binary, or an edited file?); exit code 1\n",
                cx.trace_hash,
                violation_list(cx.violated.iter().map(|v| v.invariant.as_str())),
                replay.report.trace_hash,
                violation_list(replay.report.invariants.iter().filter(|i| !i.holds).map(|i| i.name)),
            ));
        }
    }
    Ok(if replay.reproduced() { 0 } else { 1 })
}

/// `a, b` or `nothing`.
fn violation_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

/// `--shard`: a fixed slice, or `auto` from the batch system's environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(u64, u64),
    Auto,
}

/// The shard to run, and for `auto` where it came from (printed, so a job's log says which
/// slice it ran and why). `env` reads an environment variable.
pub(super) fn resolve_shard(
    arg: ShardArg,
    shard_count: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<((u64, u64), Option<String>), Usage> {
    if let ShardArg::Fixed(i, n) = arg {
        if shard_count.is_some_and(|c| c != n) {
            return Err(Usage(format!("--shard {i}/{n} and --shard-count disagree")));
        }
        return Ok(((i, n), None));
    }
    let number =
        |name: &str| -> Result<Option<u64>, Usage> {
            match env(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    Usage(format!("--shard auto: {name}={v:?} is not a whole number"))
                }),
            }
        };
    let (index, count, how) = if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = shard_count.ok_or_else(|| {
            Usage(format!(
                "--shard auto: JOB_COMPLETION_INDEX={index} (a Kubernetes Indexed Job) says which shard, not how many: add --shard-count N (the Job's completions)"
            ))
        })?;
        (
            index,
            count,
            format!("from Kubernetes (JOB_COMPLETION_INDEX={index}, --shard-count {count})"),
        )
    } else if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = match (shard_count, number("SLURM_ARRAY_TASK_COUNT")?) {
            (Some(c), _) => c,
            (None, Some(c)) => c,
            (None, None) => {
                return Err(Usage(
                    "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: add --shard-count N".into(),
                ))
            }
        };
        let index = id.checked_sub(min).ok_or_else(|| {
            Usage(format!(
                "--shard auto: SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
            ))
        })?;
        (
            index,
            count,
            format!(
                "from Slurm (SLURM_ARRAY_TASK_ID={id}, SLURM_ARRAY_TASK_MIN={min}, {count} tasks)"
            ),
        )
    } else {
        return Err(Usage(
            "--shard auto: no batch system found: set JOB_COMPLETION_INDEX and --shard-count (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (a Slurm job array); see docs/scale.md".into(),
        ));
    };
    if count == 0 || index >= count {
        return Err(Usage(format!(
            "--shard auto: shard {index} of {count} does not exist ({how}); is the array contiguous and the count right?"
        )));
    }
    Ok(((index, count), Some(how)))
}

/// Reads a `check --json` summary for `merge`: capped in size, every error with the file, the
/// line and column, and the JSON path of the bad value.
pub(super) fn load_summary(path: &Path) -> Result<CheckSummary, Usage> {
    let limit = crate::files::MAX_INPUT_BYTES;
    let bytes = crate::files::read_capped(path, "summary", limit).map_err(Usage)?;
    crate::files::parse_json(&bytes, "a `check --json` summary")
        .map_err(|e| Usage(format!("{}:{e}", path.display())))
}
