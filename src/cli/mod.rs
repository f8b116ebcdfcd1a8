//! The command line (SPEC §3): `run`, `validate`, `check`, `replay`, `merge`, `explore`,
//! `shrink`, `render`, `mutations`.
//!
//! Exit codes: 0 every expectation met; 1 an expectation failed; 2 bad input or usage.

mod explore_cmd;
mod shrink_cmd;
mod sweep_cmd;

use crate::check::sweep::{self, Seeds};
use crate::check::{self, Verdict};
use crate::explore;
use crate::graph::Job;
use crate::scenario::model::{FaultKindName, Invariant, RecoveryCheck};
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
        /// How to check `recoverable_checkpoints`: `cut` judges every completed checkpoint as a
        /// consistent cut and restores the latest ones into failure-free runs (time linear in the
        /// run); `full` restores every one into its own failure-free run (docs/invariants.md).
        #[arg(long, value_name = "cut|full", default_value = "cut", value_parser = parse_recovery_check)]
        recovery_check: RecoveryCheck,
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
        /// Worker threads, at least 1 (results do not depend on it).
        #[arg(long, default_value_t = 1, value_parser = parse_jobs)]
        jobs: usize,
        /// Run only slice I of N (0-based): the seeds whose position in the range is I mod N.
        /// `auto` takes I and N from the batch system: a Kubernetes Indexed Job
        /// (JOB_COMPLETION_INDEX, with --shard-count N) or a Slurm job array
        /// (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT).
        #[arg(long, value_parser = parse_shard, value_name = "I/N|auto")]
        shard: Option<sweep_cmd::ShardArg>,
        /// The number of shards, for `--shard auto` where the batch system does not say it
        /// (Kubernetes: the Job's `completions`).
        #[arg(long, value_name = "N", requires = "shard")]
        shard_count: Option<u64>,
        /// Which runs to save as counterexample files: those that fail an expectation
        /// (`failed`), every run that violates an invariant (`violations`), or `none`.
        #[arg(long, value_enum, default_value = "failed")]
        save: sweep_cmd::Save,
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
        /// How to check `recoverable_checkpoints`: `cut` judges every completed checkpoint as a
        /// consistent cut and restores the latest ones into failure-free runs (time linear in the
        /// run); `full` restores every one into its own failure-free run (docs/invariants.md).
        #[arg(long, value_name = "cut|full", default_value = "cut", value_parser = parse_recovery_check)]
        recovery_check: RecoveryCheck,
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
    /// Explore every interleaving of a small scenario's events within bounds (model checking).
    Explore {
        scenario: PathBuf,
        /// States deeper than this are not expanded.
        #[arg(long, default_value_t = 10_000)]
        max_depth: u32,
        /// Faults the explorer may inject on one path (default: as many as the scenario plans).
        #[arg(long)]
        max_faults: Option<u32>,
        /// Kinds of faults to inject, comma-separated (default: the kinds the scenario uses).
        #[arg(long, value_delimiter = ',')]
        fault_kinds: Option<Vec<String>>,
        /// Checkpoints that may be triggered on one path while a source reads; once none reads,
        /// one more and one per fault injected, at most twice as many in all.
        #[arg(long, default_value_t = 2)]
        max_checkpoints: u64,
        /// Keep only the first N records of every source partition (the reference and the
        /// counterexample use the shortened scenario too).
        #[arg(long, value_name = "N")]
        max_records: Option<u64>,
        /// Stop, incomplete, after this many distinct states (at least 1).
        #[arg(long, default_value_t = 5_000_000, value_parser = parse_positive)]
        max_states: u64,
        /// Stop, incomplete, after this many seconds of wall time.
        #[arg(long)]
        max_seconds: Option<u64>,
        /// Depth first (less memory) instead of breadth first (shortest counterexample).
        #[arg(long)]
        dfs: bool,
        /// Explore every interleaving, without partial-order reduction.
        #[arg(long)]
        no_reduction: bool,
        /// Also run this mutation (repeatable; see `ftsim mutations`).
        #[arg(long = "mutation", value_name = "NAME")]
        mutations: Vec<String>,
        /// Check, and stop on, this invariant only (repeatable; default: every invariant).
        #[arg(long = "invariant", value_name = "NAME")]
        invariants: Vec<String>,
        /// Threads for a breadth-first search (depth first runs on one), at least 1; the
        /// verdict, the counts and the counterexample do not depend on it.
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_jobs)]
        jobs: usize,
        /// Where the counterexample file goes.
        #[arg(long, default_value = "ftsim-counterexamples", value_name = "DIR")]
        out: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shrink a failing seed (remove faults and records, lower parallelism, move faults
    /// earlier) or a counterexample of `explore` (drop faults from its path, cut records,
    /// shorten the path) while the same invariant still fails; save the result as a
    /// replayable counterexample.
    Shrink {
        /// A scenario file (with --seed), or a counterexample file written by `explore`;
        /// without it, the built-in word count.
        scenario: Option<PathBuf>,
        /// The failing seed (for a scenario).
        #[arg(long)]
        seed: Option<u64>,
        /// The invariant to keep violated (default: the first one that fails).
        #[arg(long)]
        invariant: Option<String>,
        /// Also run this mutation (for a scenario).
        #[arg(long = "mutation", value_name = "NAME")]
        mutations: Vec<String>,
        /// For an explorer counterexample: stop each search that cuts records after this many
        /// states [default: 200000].
        #[arg(long, value_name = "S")]
        max_states: Option<u64>,
        /// Where the counterexample file goes.
        #[arg(long, default_value = "ftsim-counterexamples", value_name = "DIR")]
        out: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Combine the JSON summaries of the shards of one `check --shard I/N` sweep.
    Merge {
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
    },
    /// Draw a trace written by `--trace`: a timeline in words, a space-time diagram (SVG, or
    /// an HTML page), or a Mermaid sequence diagram.
    Render {
        /// The trace file (one JSON event per line).
        trace: PathBuf,
        /// What to draw.
        #[arg(long, value_enum, default_value = "text")]
        format: crate::render::Format,
        /// Write to FILE (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also show every record and watermark (text and mermaid list them; svg ticks them).
        #[arg(long)]
        all: bool,
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

fn parse_shard(s: &str) -> Result<sweep_cmd::ShardArg, String> {
    if s == "auto" {
        return Ok(sweep_cmd::ShardArg::Auto);
    }
    let bad =
        || format!("`{s}` is not a shard like 0/4 (index / count, index below count) or `auto`");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok(sweep_cmd::ShardArg::Fixed(i, n))
}

fn parse_positive(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    let n = parse_positive(s)?;
    usize::try_from(n).map_err(|_| format!("`{s}` threads is too many"))
}

/// Bad input or usage: the message and exit code 2.
pub(crate) struct Usage(String);

/// Writes to standard output. A closed pipe (`ftsim run --json | head`) is not an error of
/// ours: the output is simply no longer wanted, so it is dropped rather than a panic.
pub(crate) fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Parses `std::env::args` and runs; returns the exit code.
pub fn main() -> i32 {
    crate::files::clean_up_on_interrupt();
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

pub(crate) fn load(path: Option<&Path>) -> Result<Scenario, Usage> {
    match path {
        Some(p) => scenario::load_file(p).map_err(|e| Usage(e.to_string())),
        None => Ok(scenario::builtin()),
    }
}

fn execute(cmd: Command) -> Result<i32, Usage> {
    match cmd {
        Command::Run { scenario, seed, mutations, recovery_check, trace, json } => {
            let mut s = load(scenario.as_deref())?;
            add_mutations(&mut s, &mutations)?;
            s.recovery_check = recovery_check;
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
            shard_count,
            save,
            mutations,
            no_mutations,
            out,
            max_counterexamples,
            recovery_check,
            json,
        } => {
            let env = |k: &str| std::env::var(k).ok();
            let shard = match shard {
                None if shard_count.is_some() => {
                    return Err(Usage("--shard-count goes with --shard auto".into()))
                }
                None => (0, 1),
                Some(arg) => {
                    let (shard, how) = sweep_cmd::resolve_shard(arg, shard_count, &env)?;
                    if let Some(how) = how {
                        eprintln!("shard {}/{} {how}", shard.0, shard.1);
                    }
                    shard
                }
            };
            let seeds = Seeds { from: seeds.0, to: seeds.1, shard };
            let opts = sweep_cmd::CheckOptions {
                seeds,
                jobs,
                mutations,
                no_mutations,
                out,
                max_counterexamples,
                save,
                recovery_check,
                json,
            };
            sweep_cmd::check_command(&paths, &opts)
        }
        Command::Replay { counterexample, trace, json } => {
            sweep_cmd::replay_command(&counterexample, trace.as_deref(), json)
        }
        Command::Explore {
            scenario,
            max_depth,
            max_faults,
            fault_kinds,
            max_checkpoints,
            max_records,
            max_states,
            max_seconds,
            dfs,
            no_reduction,
            mutations,
            invariants,
            jobs,
            out,
            json,
        } => {
            let invariants = parse_invariants(&invariants)?;
            let mut s = load(Some(&scenario))?;
            if let Some(n) = max_records {
                let shorter = explore::limit_records(&s.json, n);
                s = scenario::load_value(&shorter, &s.origin).map_err(|e| Usage(e.to_string()))?;
            }
            add_mutations(&mut s, &mutations)?;
            let job = Arc::new(Job::new(s));
            let (default_kinds, default_count) = explore::scenario_faults(&job);
            let fault_kinds = match fault_kinds {
                None => default_kinds,
                Some(names) => names
                    .iter()
                    .map(|n| {
                        FaultKindName::ALL.into_iter().find(|k| k.name() == n.as_str()).ok_or_else(
                            || {
                                Usage(format!(
                                    "unknown fault kind `{n}`: one of {}",
                                    FaultKindName::ALL.map(|k| k.name()).join(", ")
                                ))
                            },
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let config = explore::Config {
                bfs: !dfs,
                max_depth,
                max_faults: max_faults.unwrap_or(default_count),
                fault_kinds,
                max_checkpoints,
                max_states,
                reduce: !no_reduction,
                stop_at_first: true,
                check_recovery: true,
                invariants,
                jobs,
                collect_terminals: false,
            };
            explore_cmd::explore_command(&job, &config, max_seconds, &out, json)
        }
        Command::Shrink { scenario, seed, invariant, mutations, max_states, out, json } => {
            let opts =
                shrink_cmd::ShrinkOptions { seed, invariant, mutations, max_states, out, json };
            shrink_cmd::shrink_command(scenario.as_deref(), &opts)
        }
        Command::Merge { summaries } => {
            let parts = summaries
                .iter()
                .map(|p| sweep_cmd::load_summary(p).map(|s| (p.display().to_string(), s)))
                .collect::<Result<Vec<_>, _>>()?;
            let merged = sweep::merge(&parts).map_err(Usage)?;
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&merged).expect("summaries serialize")
            ));
            Ok(if merged.verdict == "pass" { 0 } else { 1 })
        }
        Command::Render { trace, format, out, all } => {
            let parsed = crate::render::Trace::load(&trace).map_err(Usage)?;
            let picture = crate::render::render(&parsed, format, all);
            match out {
                Some(path) => check::counterexample::write_atomically(&path, picture.as_bytes())
                    .map_err(Usage)?,
                None => emit(&picture),
            }
            Ok(0)
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

/// The invariants named by `--invariant` options, in the order given, without repeats.
pub(crate) fn parse_invariants(names: &[String]) -> Result<Vec<Invariant>, Usage> {
    let mut out = Vec::new();
    for n in names {
        let inv = Invariant::from_name(n).ok_or_else(|| {
            Usage(format!(
                "unknown invariant `{n}`: one of {}",
                Invariant::ALL.map(|i| i.name()).join(", ")
            ))
        })?;
        if !out.contains(&inv) {
            out.push(inv);
        }
    }
    Ok(out)
}

fn parse_recovery_check(s: &str) -> Result<RecoveryCheck, String> {
    match s {
        "cut" => Ok(RecoveryCheck::Cut),
        "full" => Ok(RecoveryCheck::Full),
        _ => Err(format!("`{s}` is not `cut` or `full`")),
    }
}

/// Adds `--mutation` names to a scenario's own list.
pub(crate) fn add_mutations(s: &mut Scenario, names: &[String]) -> Result<(), Usage> {
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
                Some(d.partitions.iter().map(|p| p.len()).sum::<usize>())
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

/// [`crate::files::write_atomically_with`], its error as a usage error.
pub(crate) fn write_atomically<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<T, String>,
) -> Result<T, Usage> {
    crate::files::write_atomically_with(path, body).map_err(Usage)
}
