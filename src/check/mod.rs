//! Checking a run: the independent reference, the invariants, and the report of SPEC §3.

pub mod counterexample;
pub mod cut;
pub mod invariants;
pub mod path_shrink;
pub mod recovery;
pub mod reference;
pub mod shrink;
pub mod sweep;

use crate::graph::Job;
use crate::scenario::model::{CheckpointMode, Delivery, Invariant, OpKind};
use crate::sim::{self, Ending};
use crate::trace::TraceHasher;
use invariants::Outcome;
use serde::Serialize;
use std::io::Write;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointStats {
    pub triggered: u64,
    pub completed: u64,
    pub aborted: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub events: u64,
    pub sim_time_ms: u64,
    pub records_processed: u64,
    pub records_replayed: u64,
    pub checkpoints: CheckpointStats,
    pub faults: u64,
    pub restarts: u64,
}

impl Stats {
    /// The statistics of a world after `events` events and `sim_time_ms` of simulated time.
    pub fn of(w: &crate::world::World, events: u64, sim_time_ms: u64) -> Stats {
        let c = &w.counters;
        Stats {
            events,
            sim_time_ms,
            records_processed: c.records_processed,
            records_replayed: c.records_replayed,
            checkpoints: CheckpointStats {
                triggered: c.checkpoints_triggered,
                completed: c.checkpoints_completed,
                aborted: c.checkpoints_aborted,
            },
            faults: c.faults,
            restarts: c.restarts,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvariantReport {
    pub name: &'static str,
    pub holds: bool,
    pub detail: String,
    /// Whether the scenario expects it to hold (`holds`), to be violated (`violated`), or
    /// neither (`none`).
    pub expected: &'static str,
}

/// The result of `ftsim run` (SPEC §3).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub mutations: Vec<String>,
    pub verdict: Verdict,
    pub trace_hash: String,
    pub stats: Stats,
    pub invariants: Vec<InvariantReport>,
    pub counterexample: Option<String>,
    /// How the run ended, in words.
    pub ending: String,
    /// Expectations that failed, in words; empty on a pass.
    pub failures: Vec<String>,
}

/// Whether an invariant is expected to hold for this job when the scenario does not say:
/// exactly-once output needs exactly-once sinks and an exactly-once checkpoint mode.
pub fn applicable(job: &Job, inv: Invariant) -> bool {
    match inv {
        Invariant::ExactlyOnce | Invariant::NoDuplicates => {
            let at_least_once_sink = job
                .scenario
                .operators
                .iter()
                .any(|o| matches!(o.kind, OpKind::Sink { delivery: Delivery::AtLeastOnce }));
            // Without checkpoints a failure restarts the job from scratch, and what a finished
            // sink committed is committed again: exactly-once needs checkpoints once faults
            // can happen.
            let restarts_from_scratch = job.scenario.checkpointing.mode == CheckpointMode::Disabled
                && !job.scenario.faults.is_empty();
            !at_least_once_sink
                && job.scenario.checkpointing.mode != CheckpointMode::AtLeastOnce
                && !restarts_from_scratch
        }
        Invariant::NoLoss | Invariant::Progress | Invariant::CommitAfterComplete => true,
        // Checked as exactly-once where exactly-once applies, as no-loss elsewhere.
        Invariant::RecoverableCheckpoints => {
            job.scenario.checkpointing.mode != CheckpointMode::Disabled
        }
    }
}

/// A trace hash as reports print it: 16 hex digits.
pub fn trace_hex(hash: u64) -> String {
    TraceHasher::hex_of(hash)
}

/// Refuses what this build validates but does not simulate.
pub fn simulated(s: &crate::scenario::Scenario) -> Result<(), String> {
    if s.checkpointing.alignment_timeout_ms.is_some() {
        return Err(format!(
            "{}: checkpointing.alignment_timeout_ms (aligned checkpoints switching to unaligned, \
             rule P6) is validated but not simulated by this build yet; remove it",
            s.origin
        ));
    }
    if s.checkpointing.mode == CheckpointMode::Unaligned {
        return Err(format!(
            "{}: unaligned checkpoints (rule P6) are validated but not simulated by this build \
             yet; use mode `aligned` or `at_least_once`",
            s.origin
        ));
    }
    Ok(())
}

/// How far a run stopped by a limit is judged into each source partition it did not read to
/// the end: one record past the furthest it read (`reach[op][p]`, for
/// `reference::evaluate_prefix`), and how many source records that covers. `None` when the
/// run ended otherwise or read every partition to its end: then the whole input counts.
///
/// What a run never read cannot have reached its sinks, so the records past that one are
/// neither generated nor evaluated: a run that stops after a thousand records of ten million
/// costs a thousand, and so does its reference. The one unread record keeps the shortfall in
/// the comparison, as the whole unread input did: what it would make a sink show is missing.
/// Where the unread input would change what the reached input gives (an upsert sink's final
/// values), the verdicts can differ from the whole input's (docs/scenario-format.md, "Limits").
fn reached(job: &Job, result: &sim::RunResult) -> Option<(Vec<Vec<usize>>, usize)> {
    if !matches!(result.ending, Ending::TimeLimit | Ending::EventLimit) {
        return None;
    }
    let ops = &job.scenario.operators;
    let mut reach: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    let (mut cut, mut covered) = (false, 0);
    for (t, info) in job.tasks.iter().enumerate() {
        let OpKind::Source(def) = &ops[info.op.index()].kind else { continue };
        let len = def.partitions[usize::from(info.subtask)].len();
        let read = usize::try_from(result.world.source_high[t]).unwrap_or(usize::MAX);
        let upto = if read < len { read + 1 } else { len };
        cut |= upto < len;
        covered += upto;
        let r = &mut reach[info.op.index()];
        r.resize(r.len().max(usize::from(info.subtask) + 1), 0);
        r[usize::from(info.subtask)] = upto;
    }
    cut.then_some((reach, covered))
}

/// Runs the job once with `seed` (and its reference), checks it and reports.
pub fn run_once(job: Arc<Job>, seed: u64, trace: Option<&mut dyn Write>) -> Result<Report, String> {
    let s = &job.scenario;
    simulated(s)?;
    let result = sim::run(job.clone(), seed, trace);
    if let Some(e) = &result.trace_error {
        return Err(format!("cannot write the trace: {e}"));
    }
    // The whole input's reference is evaluated only if something is compared with it: the run
    // (unless a limit stopped it short of the end of its input) or a restored run that
    // finishes.
    let whole = reference::Whole::of(s);
    let reached = reached(&job, &result);
    let evaluated;
    let (prefix, reference) = match &reached {
        Some((reach, covered)) => {
            let total: usize = s
                .operators
                .iter()
                .filter_map(|o| match &o.kind {
                    OpKind::Source(d) => Some(d.partitions.iter().map(|p| p.len()).sum::<usize>()),
                    _ => None,
                })
                .sum();
            let note = format!(
                "; its sinks were compared with the reference of the input it reached: \
                 {covered} of the {total} source records (what it read, and the next record of \
                 each partition it did not read to the end)"
            );
            evaluated = reference::evaluate_prefix(s, reach)?;
            (Some(note), &evaluated)
        }
        None => (None, whole.get()?),
    };
    let mut outcomes = invariants::output_invariants(&job, reference, &result.world);
    let first =
        result.world.violations.iter().find(|v| v.invariant == Invariant::CommitAfterComplete);
    outcomes.push(Outcome {
        invariant: Invariant::CommitAfterComplete,
        holds: first.is_none(),
        detail: first.map(|v| v.detail.clone()).unwrap_or_default(),
    });
    if s.checkpointing.mode != CheckpointMode::Disabled {
        let exactly_once = applicable(&job, Invariant::ExactlyOnce);
        outcomes.push(recovery::recoverable(&job, &whole, &result.world, seed, exactly_once)?);
    } else if s.expect.holds.contains(&Invariant::RecoverableCheckpoints) {
        // Listed, so reported: it holds vacuously.
        outcomes.push(Outcome {
            invariant: Invariant::RecoverableCheckpoints,
            holds: true,
            detail: String::new(),
        });
    }
    outcomes.push(Outcome {
        invariant: Invariant::Progress,
        holds: result.ending == Ending::Finished,
        detail: if result.ending == Ending::Finished {
            String::new()
        } else {
            format!(
                "{} (at {}, after {} events){}",
                result.ending.describe(),
                result.now,
                result.events,
                prefix.as_deref().unwrap_or("")
            )
        },
    });
    let expect = &job.scenario.expect;
    let mut failures = Vec::new();
    let invariants = outcomes
        .into_iter()
        .map(|o| {
            let expected = if expect.explicit {
                if expect.holds.contains(&o.invariant) {
                    "holds"
                } else if expect.violated.contains(&o.invariant) {
                    "violated"
                } else {
                    "none"
                }
            } else if applicable(&job, o.invariant) {
                "holds"
            } else {
                "none"
            };
            if expected == "holds" && !o.holds {
                failures.push(format!("{} is violated: {}", o.invariant.name(), o.detail));
            }
            InvariantReport { name: o.invariant.name(), holds: o.holds, detail: o.detail, expected }
        })
        .collect();
    let w = &result.world;
    Ok(Report {
        scenario: job.scenario.name.clone(),
        seed,
        mutations: job.scenario.mutations.iter().map(|m| m.name().to_string()).collect(),
        verdict: if failures.is_empty() { Verdict::Pass } else { Verdict::Fail },
        trace_hash: trace_hex(result.trace_hash),
        stats: Stats::of(w, result.events, result.now.as_ms()),
        invariants,
        counterexample: None,
        ending: result.ending.describe().to_string(),
        failures,
    })
}

/// The report on an explorer path replayed from its initial world: the final world's
/// statistics, the explorer's clock as the simulated time, and the invariants the search
/// checked (`config.invariants`), with `verdicts` the violated ones and their details.
pub fn report_of_world(
    job: &Job,
    config: &crate::explore::Config,
    path: &crate::explore::Replayed,
    seed: u64,
    verdicts: &[(Invariant, String)],
) -> Report {
    let w = &path.world;
    let invariants: Vec<InvariantReport> = [
        Invariant::ExactlyOnce,
        Invariant::NoLoss,
        Invariant::NoDuplicates,
        Invariant::CommitAfterComplete,
        Invariant::RecoverableCheckpoints,
        Invariant::Progress,
    ]
    .iter()
    .filter(|inv| config.checks(**inv))
    .map(|inv| {
        let v = verdicts.iter().find(|(i, _)| i == inv);
        let expected =
            if job.scenario.expect.violated.contains(inv) { "violated" } else { "holds" };
        InvariantReport {
            name: inv.name(),
            holds: v.is_none(),
            detail: v.map(|(_, d)| d.clone()).unwrap_or_default(),
            expected,
        }
    })
    .collect();
    let failures: Vec<String> = invariants
        .iter()
        .filter(|i| !i.holds && i.expected == "holds")
        .map(|i| format!("{} is violated: {}", i.name, i.detail))
        .collect();
    Report {
        scenario: job.scenario.name.clone(),
        seed,
        mutations: job.scenario.mutations.iter().map(|m| m.name().to_string()).collect(),
        verdict: if failures.is_empty() { Verdict::Pass } else { Verdict::Fail },
        trace_hash: trace_hex(path.hash),
        stats: Stats::of(w, path.events.len() as u64, path.now.as_ms()),
        invariants,
        counterexample: None,
        ending: if w.is_finished() {
            "the job finished".into()
        } else {
            "the explored path ends here".into()
        },
        failures,
    }
}

impl Report {
    /// `ftsim <verb> FILE --seed N [--mutation M]…` for this run (the built-in scenario is
    /// what `run` runs without a file).
    pub fn command(&self, verb: &str, origin: &str) -> String {
        let file = if origin == crate::scenario::load::BUILTIN_NAME {
            if verb == "run" {
                String::new()
            } else {
                " scenarios/wordcount.json".to_string()
            }
        } else {
            format!(" {origin}")
        };
        let mutations: String = self.mutations.iter().map(|m| format!(" --mutation {m}")).collect();
        format!("ftsim {verb}{file} --seed {}{mutations}", self.seed)
    }

    /// The human summary `ftsim run` prints, ending, on a failure, with the commands that
    /// reproduce and shrink it.
    pub fn render(&self, origin: &str) -> String {
        let verdict = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        };
        self.render_with(origin, verdict, true)
    }

    /// The human summary under another first word (a replay says whether it reproduced),
    /// without the commands at the end.
    pub fn render_headed(&self, origin: &str, head: &str) -> String {
        self.render_with(origin, head, false)
    }

    fn render_with(&self, origin: &str, head: &str, with_commands: bool) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{head}  {}  seed {}  trace {}\n",
            self.scenario, self.seed, self.trace_hash
        ));
        let st = &self.stats;
        s.push_str(&format!(
            "  {} events, {} ms simulated, {} records processed; {}\n",
            st.events, st.sim_time_ms, st.records_processed, self.ending
        ));
        for inv in &self.invariants {
            let (mark, note) = invariant_words(inv.expected, inv.holds);
            s.push_str(&format!("  {mark:<8} {}{note}\n", inv.name));
            if !inv.holds {
                s.push_str(&format!("           {}\n", inv.detail));
            }
        }
        if self.verdict == Verdict::Fail && with_commands {
            s.push_str(&format!("reproduce: {}\n", self.command("run", origin)));
            s.push_str(&format!("shrink:    {}\n", self.command("shrink", origin)));
        }
        s
    }
}

/// How a report words one invariant: a mark (`ok`, `VIOLATED` when the scenario expects it to
/// hold; `violated`, `held` when it expects a violation; `ok` or `violated` with `not checked`
/// when it expects nothing of it) and a note. Only `VIOLATED` is in capitals: it is the one
/// that makes a run fail.
pub fn invariant_words(expected: &str, holds: bool) -> (&'static str, &'static str) {
    match (expected, holds) {
        ("holds", true) => ("ok", ""),
        ("holds", false) => ("VIOLATED", ""),
        ("violated", false) => ("violated", "  (as the scenario expects)"),
        ("violated", true) => ("held", "  (the scenario expects a violation, over a sweep)"),
        (_, true) => ("ok", "  (not checked: the scenario expects nothing of it)"),
        (_, false) => ("violated", "  (not checked: the scenario expects nothing of it)"),
    }
}
