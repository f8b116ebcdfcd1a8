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

pub mod check;
mod fingerprint;
pub mod footprint;
mod menu;
mod path;
mod por;
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
use por::{Footprints, SleepId, Sleeps};
use std::collections::VecDeque;
use std::sync::Arc;
use verdict::{check_state, RecoveryCache};
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
    // The path to every node: its parent's node id and the index of the event it took among
    // the parent's enabled events (6 bytes a node; the path is replayed when it is needed).
    let mut parents = Parents { parent: vec![u32::MAX], choice: vec![0] };
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
    let choices_of = |parents: &Parents, id: u32| parents.path(job, config, id);

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
    let mut choice: Vec<usize> = Vec::new();
    let mut pool = Pool(Vec::new());
    // Stubborn sets need no depth bound: under one they could hide a state behind a path the
    // bound cuts (sleep sets alone are still used then).
    let stubborn_on = config.reduce && config.max_depth >= UNBOUNDED_DEPTH;
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
            if config.collect_terminals && !revisit {
                out.terminals.push(Terminal {
                    fingerprint: node.fp,
                    outputs: outputs_hash(&node.world),
                    choices: choices_of(&parents, node.id),
                });
            }
            pool.recycle(node.world);
            continue;
        }
        let suppressed = choices_into(&node.world, config, &mut events);
        if events.is_empty() && !revisit && config.collect_terminals {
            out.terminals.push(Terminal {
                fingerprint: node.fp,
                outputs: outputs_hash(&node.world),
                choices: choices_of(&parents, node.id),
            });
        }
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
        // Which of the events to take: a stubborn subset in calm states (with every crash of
        // the whole job), all of them otherwise (see `stubborn`).
        choice.clear();
        let full = if stubborn_on {
            stubborn::choose_into(job, &node.world, &events, config.max_checkpoints, &mut choice)
        } else {
            choice.extend(0..events.len());
            true
        };
        // Event keys, and the footprints of this node's events and sleeping events, computed
        // once (sleep sets compare them pairwise).
        keys.clear();
        table.clear();
        if config.reduce || node.only.is_some() {
            keys.extend(events.iter().map(|&e| por::key(&node.world, e)));
        }
        if config.reduce {
            let fp = footprint::Fp::new(job, false);
            for (&e, &k) in events.iter().zip(&keys) {
                table.insert(k, fp.of(&node.world, e));
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
        // The cycle proviso: a reduced state one of whose successors was reached before at a
        // depth not greater than its own may close a cycle of reduced states, along which an
        // event could be put off forever; such a state takes all its events.
        let mut all_taken = full;
        let mut cycle = false;
        let mut parent = Some(node.world);
        let mut spare: Option<Box<World>> = None;
        let mut pos = 0;
        loop {
            if pos == choice.len() {
                if all_taken || !cycle {
                    break;
                }
                all_taken = true;
                out.proviso_states += 1;
                let mut taken = vec![false; events.len()];
                for &i in choice.iter() {
                    taken[i] = true;
                }
                choice.extend((0..events.len()).filter(|&i| !taken[i]));
                continue;
            }
            let i = choice[pos];
            pos += 1;
            let e = events[i];
            let k = key_of(i);
            if passed(&sleeps, k) {
                continue;
            }
            let last = all_taken && choice[pos..].iter().all(|&j| passed(&sleeps, key_of(j)));
            let (mut next, own) = match spare.take() {
                Some(w) => (w, false),
                None if last => (parent.take().expect("kept until the last event"), true),
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
            let admitted = visited.admit(fp, sleep, depth0 + 1, reexpand, &mut sleeps);
            let seen = admitted.as_ref().is_none_or(|a| a.shallower || a.only.is_some());
            if seen && !all_taken && visited.depth(fp).is_some_and(|d| d <= depth0) {
                cycle = true;
            }
            let Some(admit) = admitted else {
                give_back(next, &mut spare);
                continue;
            };
            let id = parents.parent.len() as u32;
            parents.parent.push(id0);
            parents.choice.push(u16::try_from(i).map_err(|_| {
                "a state has more than 65,535 enabled events: too large to explore".to_string()
            })?);
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
                    let memory = memory_of(&visited, &parents, &sleeps, &frontier);
                    out.memory_bytes = out.memory_bytes.max(memory);
                    let p = Progress {
                        states: out.states,
                        transitions: out.transitions,
                        depth: out.max_depth,
                        memory_bytes: memory,
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
    out.memory_bytes = out.memory_bytes.max(memory_of(&visited, &parents, &sleeps, &frontier));
    Ok(out)
}

/// What the search holds: the visited set, the choice log, the sleep sets, and the worlds
/// waiting in the frontier.
fn memory_of(
    visited: &VisitedSet,
    parents: &Parents,
    sleeps: &Sleeps,
    frontier: &VecDeque<Node>,
) -> u64 {
    let worlds: usize = frontier.iter().map(|n| n.world.approx_bytes()).sum();
    (visited.bytes() + parents.bytes() + sleeps.bytes() + worlds) as u64
}

/// The choice log of every node, compactly.
struct Parents {
    parent: Vec<u32>,
    /// Index into the parent's enabled events (`choices`).
    choice: Vec<u16>,
}

impl Parents {
    fn bytes(&self) -> usize {
        self.parent.capacity() * 4 + self.choice.capacity() * 2
    }

    /// The events from the initial world to node `id`, found again by replaying the indices.
    fn path(&self, job: &Arc<Job>, config: &Config, mut id: u32) -> Vec<Event> {
        let mut indices = Vec::new();
        while id != 0 {
            indices.push(self.choice[id as usize]);
            id = self.parent[id as usize];
        }
        indices.reverse();
        let mut w = initial_world(job, config);
        let mut now = SimTime::ZERO;
        let mut env = ExploreEnv { hasher: None, lines: None };
        let mut path = Vec::with_capacity(indices.len());
        for i in indices {
            let e = choices(&w, config).0[usize::from(i)];
            step(&mut w, &mut now, e, &mut env);
            path.push(e);
        }
        path
    }
}

/// A depth bound this large is taken as no bound: depth-first search does not re-expand
/// states for it (see `explore`).
pub const UNBOUNDED_DEPTH: u32 = 10_000;
