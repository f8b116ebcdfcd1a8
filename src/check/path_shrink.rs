//! Shrinking an explorer counterexample (`ftsim shrink FILE`, FILE written by `explore`).
//!
//! An explorer counterexample is a scenario and a path of named choices from its initial
//! world. Its size is (faults injected on the path, source records, choices), and a step is
//! kept only if it makes none of the three larger and at least one smaller, while the final
//! state still violates the same invariant as a replay judges it. The steps, tried in this
//! order until a whole pass keeps nothing:
//!
//! 1. **Cut the path** at the first state where the target invariant is violated.
//! 2. **Drop a fault**: remove one injected fault from the path and follow the other choices
//!    by name, skipping those that name nothing where the path has got to (what only the fault
//!    caused: its restart, the messages of the restarted attempts); then, if the target is not
//!    violated yet, complete the path greedily, taking the first event the explorer would
//!    take (no fault) until it is, nothing can happen, or [`MAX_COMPLETION`] events.
//! 3. **Cut records**: explore the scenario again with at most n records per source partition
//!    (`explore::limit_records`), for n from 0 up to the current count, breadth first, with
//!    the same checkpoint budget and fault kinds, at most as many faults as the path injects,
//!    checking the target only, within a state budget; the first search that finds the target
//!    with a path that is no larger gives the new scenario and path. At the current count this
//!    finds a shortest path.
//!
//! Every candidate is judged by replaying it as `ftsim replay` does, so the result replays.
//! The result is a local minimum of these steps, not a global one, and never larger than the
//! input in any of the three measures.

use super::counterexample::{self, Counterexample};
use crate::explore::{self, Config, FpHasher};
use crate::graph::Job;
use crate::ids::SimTime;
use crate::scenario::model::{Invariant, OpKind};
use crate::world::{Event, World};
use serde::Serialize;
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A greedy completion takes at most this many events.
pub const MAX_COMPLETION: usize = 10_000;

/// How big an explorer counterexample is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PathSize {
    /// Faults injected on the path.
    pub faults: usize,
    /// Source records, all partitions together.
    pub records: u64,
    pub choices: usize,
}

impl PathSize {
    fn of(job: &Job, path: &[Event]) -> PathSize {
        PathSize {
            faults: path.iter().filter(|e| matches!(e, Event::Inject(_))).count(),
            records: source_records(job),
            choices: path.len(),
        }
    }

    /// What changed from `self` to `after`: `faults 1 → 0, choices 26 → 11`.
    fn change(&self, after: &PathSize) -> String {
        let parts: Vec<String> = [
            ("faults", self.faults as u64, after.faults as u64),
            ("source records", self.records, after.records),
            ("choices", self.choices as u64, after.choices as u64),
        ]
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(what, a, b)| format!("{what} {a} → {b}"))
        .collect();
        parts.join(", ")
    }

    /// No measure larger, one smaller.
    fn smaller_than(&self, other: &PathSize) -> bool {
        let le = self.faults <= other.faults
            && self.records <= other.records
            && self.choices <= other.choices;
        le && self != other
    }
}

fn source_records(job: &Job) -> u64 {
    job.scenario
        .operators
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Source(d) => Some(d.partitions.iter().map(|p| p.len() as u64).sum::<u64>()),
            _ => None,
        })
        .sum()
}

/// The most records any source partition of `job` holds.
fn records_per_partition(job: &Job) -> u64 {
    job.scenario
        .operators
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Source(d) => d.partitions.iter().map(|p| p.len() as u64).max(),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The result of shrinking an explorer counterexample.
#[derive(Clone, Debug, Serialize)]
pub struct PathShrunk {
    pub invariant: &'static str,
    pub before: PathSize,
    pub after: PathSize,
    /// The steps kept, in order.
    pub steps: Vec<String>,
    /// Paths replayed to judge a candidate.
    pub replays: u64,
    /// Explorations run to cut records, and the states they visited together.
    pub searches: u64,
    pub states: u64,
    /// The shrunk counterexample (its `reproduce` line names the file it is written to).
    #[serde(skip)]
    pub counterexample: Counterexample,
    /// The target's detail at the end of the shrunk path.
    #[serde(skip)]
    pub detail: String,
}

/// One candidate's world: the scenario as loaded, and the configuration of its replay.
struct Subject {
    json: Value,
    job: Arc<Job>,
    config: Config,
}

struct Shrinker {
    target: Invariant,
    origin: String,
    max_states: u64,
    replays: u64,
    searches: u64,
    states: u64,
    /// Searches already run, by (records per partition, faults): what each found.
    searched: std::collections::BTreeMap<(u64, usize), Option<Vec<Event>>>,
}

/// Shrinks the explorer counterexample `cx` (read from `origin`) while `target` (default:
/// the invariant the explorer would have stopped on) stays violated; `max_states` bounds each
/// search that cuts records. `file` gives the path the result is to be written to, for the
/// target kept.
pub fn shrink_path(
    cx: &Counterexample,
    origin: &str,
    target: Option<Invariant>,
    max_states: u64,
    file: &dyn Fn(Invariant) -> std::path::PathBuf,
) -> Result<PathShrunk, String> {
    let ex = cx.explore.as_ref().ok_or_else(|| {
        format!("{origin}: not an explorer counterexample (it has no `explore` section)")
    })?;
    let config = ex.config().map_err(|e| format!("{origin}: {e}"))?;
    let subject = load(&cx.scenario, &cx.scenario_file, config)?;
    let replayed = explore::replay_names(&subject.job, &subject.config, &ex.choices, false)
        .map_err(|d| format!("{origin}: the replay diverged: {d}"))?;
    let verdicts = explore::judge(&subject.job, &subject.config, &replayed.world)?;
    let violated: Vec<Invariant> = verdicts.iter().map(|(i, _)| *i).collect();
    let target = match target {
        Some(t) if violated.contains(&t) => t,
        Some(t) => {
            return Err(format!("{origin}: the path does not violate {}", t.name()));
        }
        // The order in which the explorer looks at a state.
        None => [
            Invariant::CommitAfterComplete,
            Invariant::ExactlyOnce,
            Invariant::NoLoss,
            Invariant::NoDuplicates,
            Invariant::RecoverableCheckpoints,
            Invariant::Progress,
        ]
        .into_iter()
        .find(|i| violated.contains(i))
        .ok_or_else(|| {
            format!("{origin}: the path violates no invariant when replayed: nothing to shrink")
        })?,
    };
    let mut s = Shrinker {
        target,
        origin: cx.scenario_file.clone(),
        max_states,
        replays: 1,
        searches: 0,
        states: 0,
        searched: Default::default(),
    };
    let mut current = subject;
    let mut path = replayed.events;
    let before = PathSize::of(&current.job, &path);
    let mut steps = Vec::new();
    'pass: loop {
        let size = PathSize::of(&current.job, &path);
        // 1. The path ends at the first violation.
        let names = names_of(&current, &path)?;
        if let Some(p) = s.attempt(&current, &names) {
            let smaller = PathSize::of(&current.job, &p);
            if smaller.smaller_than(&size) {
                steps.push(format!(
                    "cut the path at the first state that violates {}: {}",
                    target.name(),
                    size.change(&smaller)
                ));
                path = p;
                continue 'pass;
            }
        }
        // 2. One fault fewer.
        for (k, e) in path.iter().enumerate() {
            if !matches!(e, Event::Inject(_)) {
                continue;
            }
            let mut fewer = names.clone();
            let dropped = fewer.remove(k);
            if let Some(p) = s.attempt(&current, &fewer) {
                let smaller = PathSize::of(&current.job, &p);
                if smaller.smaller_than(&size) {
                    steps
                        .push(format!("dropped choice {k} `{dropped}`: {}", size.change(&smaller)));
                    path = p;
                    continue 'pass;
                }
            }
        }
        // 3. Fewer records, or the same with a shortest path.
        let per_partition = records_per_partition(&current.job);
        for n in 0..=per_partition {
            let Some((candidate, p)) = s.search(&current, n, size.faults)? else { continue };
            let smaller = PathSize::of(&candidate.job, &p);
            if smaller.smaller_than(&size) {
                let what = if n < per_partition {
                    let plural = if n == 1 { "" } else { "s" };
                    format!("at most {n} record{plural} per source partition")
                } else {
                    "the same records".to_string()
                };
                steps.push(format!(
                    "explored again breadth first with {what}: {}",
                    size.change(&smaller)
                ));
                current = candidate;
                path = p;
                continue 'pass;
            }
        }
        break;
    }
    let after = PathSize::of(&current.job, &path);
    let shrunk =
        counterexample::build_explore(&current.job, &current.config, &path, &file(target))?;
    let replayed = explore::replay(&current.job, &current.config, &path)
        .map_err(|i| format!("internal error: the shrunk path cannot be replayed at choice {i}"))?;
    let detail = explore::judge(&current.job, &current.config, &replayed.0)?
        .into_iter()
        .find(|(i, _)| *i == target)
        .map(|(_, d)| d)
        .ok_or_else(|| {
            format!("internal error: the shrunk path no longer violates {}", target.name())
        })?;
    Ok(PathShrunk {
        invariant: target.name(),
        before,
        after,
        steps,
        replays: s.replays,
        searches: s.searches,
        states: s.states,
        counterexample: shrunk,
        detail,
    })
}

fn load(json: &Value, origin: &str, config: Config) -> Result<Subject, String> {
    let scenario = crate::scenario::load_value(json, origin).map_err(|e| e.to_string())?;
    Ok(Subject { json: json.clone(), job: Arc::new(Job::new(scenario)), config })
}

/// The names of a path's choices, each in the state it is taken from.
fn names_of(subject: &Subject, path: &[Event]) -> Result<Vec<String>, String> {
    explore::replay_traced(&subject.job, &subject.config, path, false)
        .map(|r| r.names)
        .map_err(|i| format!("internal error: a kept path cannot be replayed at choice {i}"))
}

impl Shrinker {
    /// Follows `names` from the initial world, skipping those that name nothing where the path
    /// has got to, and completes the path greedily; returns the path up to the first state
    /// that violates the target, if one does.
    fn attempt(&mut self, subject: &Subject, names: &[String]) -> Option<Vec<Event>> {
        self.replays += 1;
        let job = &subject.job;
        let mut walk = Judged::new(self.target, subject);
        if walk.violated() {
            return Some(Vec::new());
        }
        for name in names {
            let Some(e) = resolve(job, &walk.world, name) else { continue };
            if walk.take(e) && walk.violated() {
                return Some(walk.path);
            }
        }
        // Completion: no faults, the first event the explorer would take.
        let greedy = Config { max_faults: 0, ..subject.config.clone() };
        for _ in 0..MAX_COMPLETION {
            let (events, _) = explore::choices(&walk.world, &greedy);
            let Some(&e) = events.first() else { break };
            if walk.take(e) && walk.violated() {
                return Some(walk.path);
            }
        }
        None
    }

    /// Explores the scenario with at most `n` records per source partition and at most
    /// `faults` faults, breadth first, for the target only; returns the scenario and the path
    /// to the target, cut at its first violation as a replay judges it.
    fn search(
        &mut self,
        current: &Subject,
        n: u64,
        faults: usize,
    ) -> Result<Option<(Subject, Vec<Event>)>, String> {
        let json = explore::limit_records(&current.json, n);
        let subject = load(&json, &self.origin, current.config.clone())?;
        let key = (n, faults);
        let found = match self.searched.get(&key) {
            Some(found) => found.clone(),
            None => {
                let config = Config {
                    bfs: true,
                    max_faults: u32::try_from(faults).unwrap_or(u32::MAX),
                    max_states: self.max_states,
                    stop_at_first: true,
                    invariants: vec![self.target],
                    ..subject.config.clone()
                };
                self.searches += 1;
                let outcome = explore::explore(&subject.job, &config, &mut |_| true)?;
                self.states += outcome.states;
                let found = outcome
                    .violations
                    .into_iter()
                    .find(|v| v.invariant == self.target)
                    .map(|v| v.choices);
                self.searched.insert(key, found.clone());
                found
            }
        };
        let Some(path) = found else { return Ok(None) };
        let names = names_of(&subject, &path)?;
        Ok(self.attempt(&subject, &names).map(|p| (subject, p)))
    }
}

/// The event `name` names in `w`; failing that, the event whose name is the same but for
/// attempt numbers (a path without one of its crashes restarts its tasks fewer times, so what
/// was `ack of checkpoint 2 from out[0] (attempt 1) reaches jm` is now that of attempt 0).
fn resolve(job: &Job, w: &World, name: &str) -> Option<Event> {
    explore::parse_event(job, w, name).or_else(|| {
        let want = without_attempts(name);
        explore::names(job, w)
            .into_iter()
            .find(|(_, n)| without_attempts(n) == want)
            .map(|(e, _)| e)
    })
}

/// `name` without its ` (attempt k)` parts.
fn without_attempts(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find(" (attempt ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " (attempt ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            rest = &after[digits + 1..];
        } else {
            out.push_str(" (attempt ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A path being followed, judged for one invariant as a replay would judge its end: only in
/// states where that invariant can have changed.
struct Judged<'a> {
    target: Invariant,
    subject: &'a Subject,
    world: World,
    now: SimTime,
    env: explore::ExploreEnv,
    path: Vec<Event>,
    /// The fingerprint of the completed checkpoints last judged.
    completed: Option<u64>,
}

impl<'a> Judged<'a> {
    fn new(target: Invariant, subject: &'a Subject) -> Judged<'a> {
        Judged {
            target,
            subject,
            world: explore::initial_world(&subject.job, &subject.config),
            now: SimTime::ZERO,
            env: explore::ExploreEnv { hasher: None, lines: None },
            path: Vec::new(),
            completed: None,
        }
    }

    fn take(&mut self, e: Event) -> bool {
        let taken = explore::step(&mut self.world, &mut self.now, e, &mut self.env);
        if taken {
            self.path.push(e);
        }
        taken
    }

    /// Whether the state now violates the target.
    fn violated(&mut self) -> bool {
        let w = &self.world;
        let worth_judging = match self.target {
            Invariant::CommitAfterComplete => {
                w.violations.iter().any(|v| v.invariant == self.target)
            }
            Invariant::ExactlyOnce | Invariant::NoLoss | Invariant::NoDuplicates => w.is_finished(),
            Invariant::Progress => explore::choices(w, &self.subject.config).0.is_empty(),
            Invariant::RecoverableCheckpoints => {
                let mut h = FpHasher::default();
                w.store.completed.hash(&mut h);
                let fp = h.finish();
                let changed = self.completed != Some(fp);
                self.completed = Some(fp);
                changed && !w.store.completed.is_empty()
            }
        };
        worth_judging
            && explore::judge(&self.subject.job, &self.subject.config, w)
                .is_ok_and(|v| v.iter().any(|(i, _)| *i == self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::without_attempts;

    #[test]
    fn attempt_numbers_are_taken_out_of_a_name_and_nothing_else_is() {
        assert_eq!(
            without_attempts("ack of checkpoint 2 from out[0] (attempt 1) reaches jm"),
            "ack of checkpoint 2 from out[0] reaches jm"
        );
        assert_eq!(
            without_attempts("upload of a[0] (attempt 12) for checkpoint 3 finishes"),
            "upload of a[0] for checkpoint 3 finishes"
        );
        assert_eq!(without_attempts("x (attempt y) (attempt 2)"), "x (attempt y)");
    }
}
