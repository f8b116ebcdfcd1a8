//! The command line (SPEC §3): `run`, `validate`, `mutations`.
//!
//! Exit codes: 0 every expectation met; 1 an expectation failed; 2 bad input or usage.

use crate::check::counterexample;
use crate::check::sweep::{self, CheckSummary, ScenarioSummary, Seeds};
use crate::check::{self, Verdict};
use crate::graph::Job;
use crate::scenario::{self, model::Mutation, Scenario};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "ftsim",
    version,
    about = "A deterministic fault-tolerance simulator for Flink-style checkpointing"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario once, with its reference run and checks, and print a report.
    Run {
        /// The scenario file; without it, the built-in word count.
        scenario: Option<PathBuf>,
        /// The run's seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Run a deliberately broken protocol variant (see `ftsim mutations`).
        #[arg(long = "mutation", value_name = "NAME")]
        mutations: Vec<String>,
        /// Write the trace, one JSON event per line, to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a scenario file and print a summary of the job it describes.
    Validate {
        scenario: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a seed sweep over one or more scenarios (files or directories) and check each
    /// scenario's expectations; every violating seed is saved as a counterexample file.
    Check {
        /// Scenario files or directories (searched recursively for *.json).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The seeds, an inclusive range `A..B` (or a single seed).
        #[arg(long, default_value = "1..100", value_parser = parse_range)]
        seeds: (u64, u64),
        /// Worker threads (results do not depend on it).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Run only slice I of N (0-based): the seeds whose position in the range is I mod N.
        #[arg(long, value_parser = parse_shard, value_name = "I/N")]
        shard: Option<(u64, u64)>,
        /// Also run this mutation in every scenario.
        #[arg(long = "mutation", value_name = "NAME")]
        mutations: Vec<String>,
        /// Drop every mutation: the correct protocol must then meet every expectation of the
        /// scenario (invariants expected to be violated must hold).
        #[arg(long, conflicts_with = "mutations")]
        no_mutations: bool,
        /// Where counterexample files go.
        #[arg(long, default_value = "ftsim-counterexamples", value_name = "DIR")]
        out: PathBuf,
        /// Save at most this many counterexamples per scenario (all, by default).
        #[arg(long, value_name = "N")]
        max_counterexamples: Option<usize>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a saved counterexample; exits 0 if it reproduces the same trace hash and the
    /// same violated invariants, 1 if it does not.
    Replay {
        counterexample: PathBuf,
        /// Write the trace, one JSON event per line, to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Print the replay's report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Combine the JSON summaries of the shards of one `check --shard I/N` sweep.
    Merge {
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
    },
    /// List the protocol mutations, one line each.
    Mutations,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
        None => (s, s),
    };
    let a: u64 = a.trim().parse().map_err(|_| format!("`{s}` is not a seed range like 1..100"))?;
    let b: u64 = b.trim().parse().map_err(|_| format!("`{s}` is not a seed range like 1..100"))?;
    if a > b {
        return Err(format!("the range {s} is empty"));
    }
    Ok((a, b))
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("`{s}` is not a shard like 0/4 (index / count, index below count)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Bad input or usage: the message and exit code 2.
struct Usage(String);

/// Writes to standard output. A closed pipe (`ftsim run --json | head`) is not an error of
/// ours: the output is simply no longer wanted, so it is dropped rather than a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Parses `std::env::args` and runs; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match execute(cli.command) {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            2
        }
    }
}

fn load(path: Option<&Path>) -> Result<Scenario, Usage> {
    match path {
        Some(p) => scenario::load_file(p).map_err(|e| Usage(e.to_string())),
        None => Ok(scenario::builtin()),
    }
}

fn execute(cmd: Command) -> Result<i32, Usage> {
    match cmd {
        Command::Run { scenario, seed, mutations, trace, json } => {
            let mut s = load(scenario.as_deref())?;
            add_mutations(&mut s, &mutations)?;
            let origin = s.origin.clone();
            let seed = seed.unwrap_or(s.seed);
            let job = Arc::new(Job::new(s));
            let report = match &trace {
                Some(path) => {
                    write_atomically(path, |w| check::run_once(job.clone(), seed, Some(w)))?
                }
                None => check::run_once(job, seed, None).map_err(Usage)?,
            };
            if json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report).expect("reports serialize")
                ));
            } else {
                emit(&report.render(&origin));
            }
            Ok(if report.verdict == Verdict::Pass { 0 } else { 1 })
        }
        Command::Validate { scenario, json } => {
            let s = load(Some(&scenario))?;
            let job = Job::new(s);
            let summary = summary(&job);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("summaries serialize")
                );
            } else {
                let plural = |n: &serde_json::Value, one: &str, many: &str| {
                    format!("{n} {}", if n.as_u64() == Some(1) { one } else { many })
                };
                emit(&format!(
                    "ok: {} ({}): {}, {} on {}, {}, {}\n",
                    job.scenario.name,
                    scenario.display(),
                    plural(&summary["operators"], "operator", "operators"),
                    plural(&summary["tasks"], "task", "tasks"),
                    plural(&summary["nodes"], "node", "nodes"),
                    plural(&summary["channels"], "channel", "channels"),
                    plural(&summary["source_records"], "source record", "source records")
                ));
            }
            Ok(0)
        }
        Command::Check {
            paths,
            seeds,
            jobs,
            shard,
            mutations,
            no_mutations,
            out,
            max_counterexamples,
            json,
        } => {
            let seeds = Seeds { from: seeds.0, to: seeds.1, shard: shard.unwrap_or((0, 1)) };
            let opts = CheckOptions {
                seeds,
                jobs,
                mutations,
                no_mutations,
                out,
                max_counterexamples,
                json,
            };
            check_command(&paths, &opts)
        }
        Command::Replay { counterexample, trace, json } => {
            replay_command(&counterexample, trace.as_deref(), json)
        }
        Command::Merge { summaries } => {
            let mut parts = Vec::new();
            for p in &summaries {
                let bytes = std::fs::read(p).map_err(|e| Usage(format!("{}: {e}", p.display())))?;
                let s: CheckSummary = serde_json::from_slice(&bytes).map_err(|e| {
                    Usage(format!(
                        "{}:{}:{}: not a `check --json` summary: {e}",
                        p.display(),
                        e.line(),
                        e.column()
                    ))
                })?;
                parts.push(s);
            }
            let merged = sweep::merge(&parts).map_err(Usage)?;
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&merged).expect("summaries serialize")
            ));
            Ok(if merged.verdict == "pass" { 0 } else { 1 })
        }
        Command::Mutations => {
            let width = Mutation::ALL.iter().map(|m| m.name().len()).max().unwrap_or(0);
            let mut text = String::new();
            for m in Mutation::ALL {
                text.push_str(&format!("{:width$}  {}\n", m.name(), m.summary()));
            }
            emit(&text);
            Ok(0)
        }
    }
}

struct CheckOptions {
    seeds: Seeds,
    jobs: usize,
    mutations: Vec<String>,
    no_mutations: bool,
    out: PathBuf,
    max_counterexamples: Option<usize>,
    json: bool,
}

/// Every scenario file under `paths`, in sorted order.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Usage> {
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
fn check_command(paths: &[PathBuf], o: &CheckOptions) -> Result<i32, Usage> {
    use std::io::IsTerminal;
    let files = scenario_files(paths)?;
    let mut jobs = Vec::new();
    for f in &files {
        let mut s = scenario::load_file(f).map_err(|e| Usage(e.to_string()))?;
        if o.no_mutations {
            sweep::without_mutations(&mut s);
        }
        add_mutations(&mut s, &o.mutations)?;
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
        s.push_str(&format!("  rerun: ftsim run {} --seed {first}\n", sc.file));
    }
    s
}

fn replay_command(path: &Path, trace: Option<&Path>, json: bool) -> Result<i32, Usage> {
    let cx = counterexample::load(path).map_err(Usage)?;
    let origin = format!("{} (counterexample)", path.display());
    let replay = match trace {
        None => counterexample::replay(&cx, &origin).map_err(Usage)?,
        Some(t) => {
            // Replaying with a trace writes it through the normal run path.
            let scenario =
                scenario::load_value(&cx.scenario, &origin).map_err(|e| Usage(e.to_string()))?;
            let job = Arc::new(Job::new(scenario));
            let report = write_atomically(t, |w| check::run_once(job.clone(), cx.seed, Some(w)))?;
            let violated: Vec<&str> =
                report.invariants.iter().filter(|i| !i.holds).map(|i| i.name).collect();
            let recorded: Vec<&str> = cx.violated.iter().map(|v| v.invariant.as_str()).collect();
            counterexample::Replay {
                same_hash: report.trace_hash == cx.trace_hash,
                same_violations: violated == recorded,
                report,
            }
        }
    };
    if json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&replay.report).expect("reports serialize")
        ));
    } else {
        emit(&replay.report.render(&cx.scenario_file));
        if replay.reproduced() {
            emit(&format!("reproduced: trace {} and the same violations\n", cx.trace_hash));
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

/// Adds `--mutation` names to a scenario's own list.
fn add_mutations(s: &mut Scenario, names: &[String]) -> Result<(), Usage> {
    for n in names {
        let m = Mutation::from_name(n).ok_or_else(|| {
            Usage(format!(
                "unknown mutation `{n}`: one of {} (`ftsim mutations` describes them)",
                Mutation::ALL.map(|m| m.name()).join(", ")
            ))
        })?;
        if !s.mutations.contains(&m) {
            s.mutations.push(m);
        }
    }
    s.mutations.sort();
    Ok(())
}

fn summary(job: &Job) -> serde_json::Value {
    let records: usize = job
        .scenario
        .operators
        .iter()
        .filter_map(|o| match &o.kind {
            crate::scenario::model::OpKind::Source(d) => {
                Some(d.partitions.iter().map(Vec::len).sum::<usize>())
            }
            _ => None,
        })
        .sum();
    serde_json::json!({
        "name": job.scenario.name,
        "operators": job.scenario.operators.len(),
        "tasks": job.tasks.len(),
        "channels": job.channels.len(),
        "nodes": job.scenario.nodes,
        "keys": job.scenario.keys.len(),
        "source_records": records,
        "checkpointing": job.scenario.checkpointing.mode.name(),
        "faults": job.scenario.faults.len(),
    })
}

/// Writes a file through a temporary file in the same directory and a rename, so that a
/// reader never sees half a file.
fn write_atomically<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<T, String>,
) -> Result<T, Usage> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        path.file_name().ok_or_else(|| Usage(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(|e| Usage(format!("{}: {e}", tmp.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let result = body(&mut w);
    let flushed = w.flush();
    drop(w);
    match (result, flushed) {
        (Ok(v), Ok(())) => {
            std::fs::rename(&tmp, path).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
            Ok(v)
        }
        (Err(e), _) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Usage(e))
        }
        (_, Err(e)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Usage(format!("{}: {e}", path.display())))
        }
    }
}
