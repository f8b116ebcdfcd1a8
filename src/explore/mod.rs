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

mod fingerprint;
mod menu;
mod path;
mod por;

use crate::check::invariants::output_invariants;
use crate::check::reference::{self, Reference};
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
use por::{Footprints, SleepId, Sleeps};
use std::collections::VecDeque;
use std::sync::Arc;

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
    /// Checkpoints that may be triggered on one path.
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
        }
    }
}

/// A violation and the choices that lead to it from the initial world.
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
/// reads, and as many again once every source has reached its end (final checkpoints, which
/// a job needs to finish).
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
    let budget = if reading { config.max_checkpoints } else { 2 * config.max_checkpoints };
    w.counters.checkpoints_triggered >= budget
}

/// Applies `event` to `w` at the explorer's clock: the later of now and the event's due
/// time, so time only moves forward.
pub fn step(w: &mut World, now: &mut SimTime, event: Event, env: &mut ExploreEnv) -> bool {
    let Some(due) = w.due(event) else { return false };
    *now = (*now).max(due);
    w.apply(event, *now, env)
}

/// The verdict of the explorer on a single state, as (invariant, detail) for each violated
/// invariant: `commit_after_complete` always, the output invariants if the job finished,
/// `progress` if nothing can happen and the job has not finished.
pub fn judge(
    job: &Arc<Job>,
    config: &Config,
    w: &World,
) -> Result<Vec<(Invariant, String)>, String> {
    let reference = reference::evaluate(&job.scenario)?;
    let mut out: Vec<(Invariant, String)> = w
        .violations
        .iter()
        .filter(|v| config.checks(v.invariant))
        .map(|v| (v.invariant, v.detail.clone()))
        .collect();
    if w.is_finished() {
        for o in output_invariants(job, &reference, w) {
            if !o.holds && expected_to_hold(job, o.invariant) && config.checks(o.invariant) {
                out.push((o.invariant, o.detail));
            }
        }
    } else {
        let (events, suppressed) = choices(w, config);
        if events.is_empty() && !suppressed && config.checks(Invariant::Progress) {
            out.push((
                Invariant::Progress,
                "stuck: nothing can happen, and the job has not finished".into(),
            ));
        }
    }
    if config.check_recovery && config.checks(Invariant::RecoverableCheckpoints) {
        // As along the explored path: every completed checkpoint, from the external state at
        // its completion.
        let exactly_once = crate::check::applicable(job, Invariant::ExactlyOnce);
        let r = crate::check::recovery::recoverable(job, &reference, w, 0, exactly_once);
        if !r.holds {
            out.push((Invariant::RecoverableCheckpoints, r.detail));
        }
    }
    Ok(out)
}

fn check_state(
    w: &World,
    reference: &Reference,
    job: &Job,
    config: &Config,
) -> Option<(Invariant, String)> {
    let during = w.violations.iter().find(|v| config.checks(v.invariant));
    during.map(|v| (v.invariant, v.detail.clone())).or_else(|| {
        if !w.is_finished() {
            return None;
        }
        output_invariants(job, reference, w)
            .into_iter()
            .find(|o| !o.holds && expected_to_hold(job, o.invariant) && config.checks(o.invariant))
            .map(|o| (o.invariant, o.detail))
    })
}

fn expected_to_hold(job: &Job, inv: Invariant) -> bool {
    crate::check::applicable(job, inv)
        || job.scenario.expect.holds.contains(&inv)
        || job.scenario.expect.violated.contains(&inv)
}

/// Results of `recoverable_checkpoints` per distinct completed checkpoint (by fingerprint of
/// its snapshots and the external state it starts from).
#[derive(Default)]
struct RecoveryCache {
    seen: VisitedSet,
}

impl RecoveryCache {
    fn check(
        &mut self,
        job: &Arc<Job>,
        reference: &Reference,
        w: &World,
        exactly_once: bool,
    ) -> Option<(Invariant, String)> {
        use std::hash::{Hash, Hasher};
        let i = w.store.completed.len().checked_sub(1)?;
        let mut h = FpHasher::default();
        w.store.completed.hash(&mut h);
        for (k, o) in w.outputs.iter().enumerate() {
            o.log.len().hash(&mut h);
            w.store.completed[i].external[k].hash(&mut h);
        }
        let key = h.finish().max(1);
        // Each distinct checkpoint (with the external state it starts from) is checked once.
        if !self.seen.insert(key) {
            return None;
        }
        crate::check::recovery::check_one(job, reference, w, i, 0, exactly_once)
            .map(|d| (Invariant::RecoverableCheckpoints, d))
    }
}

struct Node {
    /// Boxed: nodes move through the frontier and worlds through the pool, and a world is
    /// large.
    world: Box<World>,
    now: SimTime,
    depth: u32,
    sleep: SleepId,
    /// On a revisit: explore only these events (by key: the ones that slept before).
    only: Option<Vec<u64>>,
    /// A state seen before: its invariants were checked then.
    revisit: bool,
    /// Index of this node's entry in the parent table (for the choice log).
    id: u32,
    /// The world's fingerprint.
    fp: u64,
}

/// Worlds kept for reuse: a successor is computed in a recycled world (`clone_from` keeps its
/// allocations), so a transition to a state seen before allocates nothing.
// Boxed on purpose: a world moves out of the pool into a node and back, and is large.
#[allow(clippy::vec_box)]
struct Pool(Vec<Box<World>>);

impl Pool {
    const MAX: usize = 64;

    fn copy_of(&mut self, w: &World) -> Box<World> {
        match self.0.pop() {
            Some(mut x) => {
                (*x).clone_from(w);
                x
            }
            None => Box::new(w.clone()),
        }
    }

    fn recycle(&mut self, w: Box<World>) {
        if self.0.len() < Self::MAX {
            self.0.push(w);
        }
    }
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
    let mut out = Outcome::default();
    let mut visited = VisitedSet::default();
    let mut sleeps = Sleeps::default();
    // parent[i] = (parent id, event) for the choice log of node i.
    let mut parents: Vec<(u32, Event)> = vec![(u32::MAX, Event::Step(crate::ids::TaskId(0)))];
    let root = initial_world(job, config);
    let root_fp = fingerprint(&root);
    visited.insert(root_fp);
    let mut frontier: VecDeque<Node> = VecDeque::new();
    frontier.push_back(Node {
        world: Box::new(root),
        now: SimTime::ZERO,
        depth: 0,
        sleep: SleepId::EMPTY,
        only: None,
        revisit: false,
        id: 0,
        fp: root_fp,
    });
    out.states = 1;
    let mut env = ExploreEnv { hasher: None, lines: None };
    let choices_of = |parents: &[(u32, Event)], mut id: u32| {
        let mut path = Vec::new();
        while id != 0 {
            let (p, e) = parents[id as usize];
            path.push(e);
            id = p;
        }
        path.reverse();
        path
    };
    let mut recovery = RecoveryCache::default();
    // Breadth first reaches every state at its least depth first. Depth first may reach a
    // state by a long path first: under a real depth bound it re-expands a state reached again
    // by a shorter path; otherwise, if the bound ever cuts, the search is not complete.
    let reexpand = !config.bfs && config.max_depth < UNBOUNDED_DEPTH;
    let mut depth_cut = false;
    let exactly_once = crate::check::applicable(job, Invariant::ExactlyOnce);
    // Buffers reused from node to node.
    let mut events: Vec<Event> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    let mut done: Vec<u64> = Vec::new();
    let mut table = Footprints::default();
    let mut pool = Pool(Vec::new());
    while let Some(node) = if config.bfs { frontier.pop_front() } else { frontier.pop_back() } {
        out.max_depth = out.max_depth.max(node.depth);
        let revisit = node.revisit;
        let mut found =
            if revisit { None } else { check_state(&node.world, &reference, job, config) };
        if found.is_none()
            && config.check_recovery
            && config.checks(Invariant::RecoverableCheckpoints)
            && !revisit
        {
            found = recovery.check(job, &reference, &node.world, exactly_once);
        }
        if let Some((invariant, detail)) = found {
            if !out.violations.iter().any(|v| v.invariant == invariant) {
                out.violations.push(Found {
                    invariant,
                    detail,
                    choices: choices_of(&parents, node.id),
                });
            }
            if config.stop_at_first {
                return Ok(out);
            }
            // A violating state is not expanded: nor may a later arrival at it be.
            visited.settle(node.fp);
            pool.recycle(node.world);
            continue;
        }
        if node.world.is_finished() {
            out.finished_states += u64::from(!revisit);
            pool.recycle(node.world);
            continue;
        }
        let suppressed = choices_into(&node.world, config, &mut events);
        if events.is_empty() && !revisit {
            if suppressed {
                out.bounded_states += 1;
            } else if config.checks(Invariant::Progress)
                && !out.violations.iter().any(|v| v.invariant == Invariant::Progress)
            {
                let detail = "stuck: nothing can happen, and the job has not finished".to_string();
                out.violations.push(Found {
                    invariant: Invariant::Progress,
                    detail,
                    choices: choices_of(&parents, node.id),
                });
                if config.stop_at_first {
                    return Ok(out);
                }
            }
        }
        if events.is_empty() {
            pool.recycle(node.world);
            continue;
        }
        if node.depth >= config.max_depth {
            out.bounded_states += u64::from(!revisit);
            depth_cut = true;
            pool.recycle(node.world);
            continue;
        }
        // Event keys, and the footprints of this node's events and sleeping events, computed
        // once (sleep sets compare them pairwise).
        keys.clear();
        table.clear();
        if config.reduce || node.only.is_some() {
            keys.extend(events.iter().map(|&e| por::key(&node.world, e)));
        }
        if config.reduce {
            for (&e, &k) in events.iter().zip(&keys) {
                table.insert(k, por::footprint(job, &node.world, e));
            }
        }
        done.clear();
        // The successor is computed in `next`, a copy of this node's world. A successor seen
        // before is put back to this node's world cheaply (`reset_to` copies what the event
        // touched) and serves for the next event; a new one goes to the frontier. The last
        // event, if no such copy is at hand, is applied to the node's own world: it is not
        // needed after that.
        let (sleep0, only0, depth0, id0, now0) =
            (node.sleep, node.only, node.depth, node.id, node.now);
        // Whether the event with key `k` is not taken from this node: it sleeps, or this is a
        // revisit and it is not one of the events to explore again.
        let passed = |sleeps: &Sleeps, k: u64| {
            (config.reduce && sleeps.contains(sleep0, k))
                || only0.as_ref().is_some_and(|only| !only.contains(&k))
        };
        let key_of = |i: usize| keys.get(i).copied().unwrap_or(0);
        let last = (0..events.len()).rev().find(|&i| !passed(&sleeps, key_of(i)));
        let mut parent = Some(node.world);
        let mut spare: Option<Box<World>> = None;
        for (i, &e) in events.iter().enumerate() {
            let k = key_of(i);
            if passed(&sleeps, k) {
                continue;
            }
            let (mut next, own) = match spare.take() {
                Some(w) => (w, false),
                None if Some(i) == last => {
                    (parent.take().expect("kept until the last event"), true)
                }
                None => (pool.copy_of(parent.as_ref().expect("kept until the last event")), false),
            };
            // Puts a successor that is not kept back to the parent's state, for the next event.
            let mut give_back = |mut next: Box<World>, spare: &mut Option<Box<World>>| {
                if own {
                    pool.recycle(next);
                } else {
                    next.reset_to(parent.as_ref().expect("kept while copies are made of it"));
                    *spare = Some(next);
                }
            };
            let mut now = now0;
            if !step(&mut next, &mut now, e, &mut env) {
                give_back(next, &mut spare);
                continue;
            }
            out.transitions += 1;
            // The successor sleeps on what this node explored before e, and on what it
            // already slept on, when those commute with e.
            let sleep =
                if config.reduce { sleeps.after(sleep0, &done, k, &table) } else { SleepId::EMPTY };
            done.push(k);
            let fp = fingerprint(&next);
            let Some(admit) = visited.admit(fp, sleep, depth0 + 1, reexpand, &mut sleeps) else {
                give_back(next, &mut spare);
                continue;
            };
            let id = parents.len() as u32;
            parents.push((id0, e));
            if admit.shallower || admit.only.is_some() {
                // A state seen before: at a smaller depth (explore all of it again), or with
                // events that slept then and are awake now. Its invariants were checked the
                // first time.
                let only = if admit.shallower { None } else { admit.only };
                frontier.push_back(Node {
                    world: next,
                    now,
                    depth: depth0 + 1,
                    sleep: admit.sleep,
                    only,
                    revisit: true,
                    id,
                    fp,
                });
                continue;
            }
            if visited.len() as u64 > out.states {
                out.states = visited.len() as u64;
                if out.states % 4096 == 0 {
                    let p = Progress {
                        states: out.states,
                        transitions: out.transitions,
                        depth: out.max_depth,
                        memory_bytes: 0,
                    };
                    if !progress(&p) {
                        return Ok(out);
                    }
                }
            }
            if out.states >= config.max_states {
                return Ok(out);
            }
            frontier.push_back(Node {
                world: next,
                now,
                depth: depth0 + 1,
                sleep: admit.sleep,
                only: None,
                revisit: false,
                id,
                fp,
            });
        }
        for w in spare.into_iter().chain(parent) {
            pool.recycle(w);
        }
    }
    out.complete = config.bfs || reexpand || !depth_cut;
    Ok(out)
}

/// A depth bound this large is taken as no bound: depth-first search does not re-expand
/// states for it (see `explore`).
pub const UNBOUNDED_DEPTH: u32 = 10_000;
