//! Exhaustive bounded model checking over the same world and protocol code as the simulator
//! (docs/model-checking.md).
//!
//! The explorer starts from the initial world and applies, in every reachable state, every
//! enabled event in turn: any enabled event may happen next (time is abstracted; FIFO per
//! channel still holds, because a channel only ever offers its head). Besides the world's own
//! events it injects faults from a menu (crashes, partitions, storage outages), within a
//! budget. It checks `commit_after_complete` on every state and the output invariants on every
//! terminal state, where the job has finished; a state in which nothing can happen before the
//! job finishes violates `progress`.
//!
//! States are merged on a 64-bit fingerprint of the world that leaves out timestamps and
//! message ids (see `SimTime`'s `Hash`). Partial-order reduction uses sleep sets: two events
//! that touch disjoint tasks and channels commute, so after exploring one of them first, the
//! other is not explored first again from the successor (see [`footprint`]).

mod arrivals;
pub mod check;
mod fingerprint;
pub mod footprint;
mod menu;
mod path;
mod por;
mod search;
pub mod stubborn;
mod verdict;

use crate::check::reference;
use crate::graph::Job;
use crate::ids::SimTime;
use crate::scenario::model::{FaultKindName, Invariant};
use crate::trace::{TraceEvent, TraceHasher};
use crate::world::{Draw, Env, Event, FaultMenu, World};
pub use fingerprint::{fingerprint, FpHasher, VisitedSet};
pub use menu::{fault_menu, limit_records, scenario_faults};
pub use path::{
    event_name, names, parse_event, replay, replay_names, replay_traced, Diverged, Replayed,
};
use std::sync::Arc;
pub use verdict::{judge, outputs_hash, Terminal};

/// How to explore.
#[derive(Clone, Debug)]
pub struct Config {
    /// Breadth first (shortest counterexamples) or depth first (less memory).
    pub bfs: bool,
    /// States deeper than this are not expanded.
    pub max_depth: u32,
    /// Faults the explorer may inject on one path.
    pub max_faults: u32,
    /// Which kinds of faults it may inject.
    pub fault_kinds: Vec<FaultKindName>,
    /// Checkpoints that may be triggered on one path while a source reads; once none reads,
    /// one more and one per fault injected, at most twice as many in all.
    pub max_checkpoints: u64,
    /// Stop (incomplete) after this many distinct states.
    pub max_states: u64,
    /// Partial-order reduction with sleep sets.
    pub reduce: bool,
    /// Stop at the first violation (a BFS one is a shortest counterexample).
    pub stop_at_first: bool,
    /// Check `recoverable_checkpoints` each time a checkpoint completes on a path (once per
    /// distinct checkpoint).
    pub check_recovery: bool,
    /// Check (and stop on) these invariants only; empty: every invariant. A state that
    /// violates an invariant not named here is explored like any other.
    pub invariants: Vec<Invariant>,
    /// Worker threads (`explore --jobs`); the verdict and the state count of a complete
    /// search do not depend on it.
    pub jobs: usize,
    /// Keep every terminal state (finished, stuck or bounded) in `Outcome::terminals`: what
    /// the tests compare between reduced and full searches.
    pub collect_terminals: bool,
}

impl Config {
    /// Whether the search checks `inv`.
    pub fn checks(&self, inv: Invariant) -> bool {
        self.invariants.is_empty() || self.invariants.contains(&inv)
    }
}

/// What the explorer reports now and then while it runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Distinct states so far.
    pub states: u64,
    /// Successors computed so far.
    pub transitions: u64,
    /// The greatest depth reached.
    pub depth: u32,
    /// What the search holds in memory now (visited set, frontier, worlds), in bytes.
    pub memory_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bfs: true,
            max_depth: UNBOUNDED_DEPTH,
            max_faults: 0,
            fault_kinds: vec![FaultKindName::CrashTask],
            max_checkpoints: 2,
            max_states: 5_000_000,
            reduce: true,
            stop_at_first: true,
            check_recovery: true,
            invariants: Vec::new(),
            jobs: 1,
            collect_terminals: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub invariant: Invariant,
    pub detail: String,
    pub choices: Vec<Event>,
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub states: u64,
    pub transitions: u64,
    pub max_depth: u32,
    /// Every state within the bounds was explored.
    pub complete: bool,
    /// Terminal states in which the job finished.
    pub finished_states: u64,
    /// States cut off by a bound (depth, checkpoints) while more could happen.
    pub bounded_states: u64,
    pub violations: Vec<Found>,
    /// Reduced states that the cycle proviso made take all their events.
    pub proviso_states: u64,
    /// Terminal states, when `Config::collect_terminals` asks for them.
    pub terminals: Vec<Terminal>,
    /// The most memory the search held at once (visited set, frontier, worlds), in bytes.
    pub memory_bytes: u64,
}

/// The explorer's side of the world: draws are the lower bounds, wake-ups are ignored (every
/// state is asked for all its enabled events), and trace events are hashed only when asked.
pub struct ExploreEnv {
    pub hasher: Option<TraceHasher>,
    /// Rendered trace lines, when a replay is asked to write its trace.
    pub lines: Option<(Arc<Job>, Vec<String>)>,
}

impl Env for ExploreEnv {
    fn draw(&mut self, _what: Draw, lo: u64, _hi: u64) -> u64 {
        lo
    }

    fn wake(&mut self, _event: Event) {}

    fn trace(&mut self, now: SimTime, event: TraceEvent) {
        if let Some(h) = self.hasher.as_mut() {
            event.hash_into(now, h);
        }
        if let Some((job, lines)) = self.lines.as_mut() {
            lines.push(event.to_json_line(now, job));
        }
    }
}

/// The initial world of an exploration: no scheduled faults, the fault menu, started at 0.
pub fn initial_world(job: &Arc<Job>, config: &Config) -> World {
    let mut w = World::new(job.clone(), Vec::new());
    w.flow = crate::world::flow::Flow::default();
    w.injectable = FaultMenu(Arc::new(fault_menu(job, &config.fault_kinds)));
    w.start(SimTime::ZERO, &mut ExploreEnv { hasher: None, lines: None });
    w
}

/// The events the explorer may take from `w` within the bounds, in a fixed order. Returns
/// them, and whether a bound suppressed some.
pub fn choices(w: &World, config: &Config) -> (Vec<Event>, bool) {
    let mut out = Vec::new();
    let suppressed = choices_into(w, config, &mut out);
    (out, suppressed)
}

/// `choices` into a buffer; returns whether a checkpoint trigger was held back.
fn choices_into(w: &World, config: &Config, out: &mut Vec<Event>) -> bool {
    w.enabled_into(out);
    let mut suppressed = false;
    out.retain(|e| {
        let keep = match e {
            Event::Timer(id) => !is_bounded_trigger(w, *id, config),
            _ => true,
        };
        suppressed |= !keep;
        keep
    });
    // Checkpoint timeouts are long compared with every delay of the network and storage:
    // one fires only when nothing else can happen (a checkpoint that cannot complete).
    if out.iter().any(|e| !is_timeout(w, *e)) {
        out.retain(|e| !is_timeout(w, *e));
    }
    if w.counters.faults < u64::from(config.max_faults) {
        out.extend(
            (0..w.injectable.0.len() as u16).map(Event::Inject).filter(|e| w.due(*e).is_some()),
        );
    }
    suppressed
}

fn is_timeout(w: &World, e: Event) -> bool {
    let Event::Timer(id) = e else { return false };
    w.timers.iter().any(|t| {
        t.id == id
            && matches!(
                t.kind,
                crate::world::TimerKind::Coord(crate::protocol::coordinator::CoordTimer::Timeout(
                    _
                ))
            )
    })
}

/// A periodic trigger beyond the checkpoint budget: `max_checkpoints` while any source still
/// reads, and [`final_budget`] once every source has reached its end.
fn is_bounded_trigger(w: &World, id: u32, config: &Config) -> bool {
    let trigger = w.timers.iter().any(|t| {
        t.id == id
            && matches!(
                t.kind,
                crate::world::TimerKind::Coord(crate::protocol::coordinator::CoordTimer::Trigger)
            )
    });
    if !trigger {
        return false;
    }
    let reading = w.tasks.iter().any(|t| {
        matches!(t.kind, crate::world::TaskKind::Source(_))
            && t.status == crate::world::TaskStatus::Running
    });
    let budget = if reading {
        config.max_checkpoints
    } else {
        final_budget(config.max_checkpoints, w.counters.faults)
    };
    w.counters.checkpoints_triggered >= budget
}

/// How many checkpoints may be triggered on a path in all, once no source reads any more:
/// the budget `max_checkpoints`, one more (the final checkpoint that a job needs to finish, its
/// tasks waiting for a checkpoint taken after their end of input), and one more for each fault
/// injected on the path (a failover aborts a pending final checkpoint, and a restarted job
/// needs a new one), but never more than twice the budget.
pub(crate) fn final_budget(max_checkpoints: u64, faults: u64) -> u64 {
    max_checkpoints.saturating_add(1).saturating_add(faults).min(2 * max_checkpoints)
}

/// Applies `event` to `w` at the explorer's clock: the later of now and the event's due
/// time, so time only moves forward.
pub fn step(w: &mut World, now: &mut SimTime, event: Event, env: &mut ExploreEnv) -> bool {
    let Some(due) = w.due(event) else { return false };
    *now = (*now).max(due);
    w.apply(event, *now, env)
}

/// Explores `job` within `config`'s bounds. `progress` is called now and then with what
/// the search has done so far; when it returns false the exploration stops, incomplete.
pub fn explore(
    job: &Arc<Job>,
    config: &Config,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Outcome, String> {
    crate::check::simulated(&job.scenario)?;
    let reference = reference::evaluate(&job.scenario)?;
    search::run(job, config, &reference, progress)
}

/// A depth bound this large is taken as no bound: depth-first search does not re-expand
/// states for it (see `explore`).
pub const UNBOUNDED_DEPTH: u32 = 10_000;
