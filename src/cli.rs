//! The command line (SPEC §3): `run`, `validate`, `mutations`.
//!
//! Exit codes: 0 every expectation met; 1 an expectation failed; 2 bad input or usage.

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
    /// List the protocol mutations, one line each.
    Mutations,
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
            let s = load(scenario.as_deref())?;
            if let Some(m) = mutations.first() {
                return Err(Usage(format!(
                    "unknown mutation `{m}`: this build implements no protocol mutations yet"
                )));
            }
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
        Command::Mutations => {
            if Mutation::ALL.is_empty() {
                emit("no protocol mutations are implemented in this build yet\n");
            }
            Ok(0)
        }
    }
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
