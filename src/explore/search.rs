//! The search loop, in two halves: **expanding** a node (checking its invariants, choosing its
//! events, computing its successors) reads the search's tables and writes nothing shared, so
//! any number of nodes can be expanded at once on worker threads (`explore --jobs`);
//! **merging** the results (recording violations, admitting successors to the visited set,
//! the frontier and the choice log) is done on one thread, node by node in the order a
//! single-threaded search takes them. The result is the same for every number of threads.
//!
//! Why that holds: a node's expansion reads the visited set only for facts that nodes merged
//! earlier in its batch cannot change. A batch never mixes depths (breadth first: one level;
//! depth first: one node), so the cycle proviso's question "was this successor reached before
//! at a depth not above mine?" has the same answer before and after the batch's merges (they
//! add states one level deeper, and change no depth: re-expansion, which lowers depths, runs
//! depth first, one node a batch); and a successor is dropped early only when the visited set
//! already holds it with no more asleep (the stored sleep set only ever shrinks, so the merge
//! would drop it too). The recovery check's cache is read the same way: a node whose
//! checkpoint an earlier node of its batch turns out to have checked is expanded again at the
//! merge, as the single-threaded search would have.

use super::arrivals::Arrivals;
use super::path::Parents;
use super::por::{Footprints, SleepId, Sleeps};
use super::verdict::{check_state, RecoveryCache};
use super::{
    choices_into, fingerprint, footprint, initial_world, outputs_hash, por, step, stubborn, Config,
    ExploreEnv, Found, Outcome, Progress, Terminal, VisitedSet, UNBOUNDED_DEPTH,
};
use crate::check::reference::Reference;
use crate::graph::Job;
use crate::ids::SimTime;
use crate::scenario::model::Invariant;
use crate::world::{Event, World};
use std::collections::VecDeque;
use std::sync::Arc;

pub(super) struct Node {
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
#[derive(Default)]
struct Pool(Vec<Box<World>>);

impl Pool {
    const MAX: usize = 256;

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

/// What one thread keeps from node to node: recycled worlds and buffers.
struct Worker {
    pool: Pool,
    env: ExploreEnv,
    events: Vec<Event>,
    keys: Vec<u64>,
    done: Vec<u64>,
    table: Footprints,
    choice: Vec<usize>,
    /// Buffers of `Expanded`, handed back after the merge.
    succs: Vec<Succ>,
    sleeps: Vec<u64>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            pool: Pool::default(),
            env: ExploreEnv { hasher: None, lines: None },
            events: Vec::new(),
            keys: Vec::new(),
            done: Vec::new(),
            table: Footprints::default(),
            choice: Vec::new(),
            succs: Vec::new(),
            sleeps: Vec::new(),
        }
    }
}

/// What expansions read: the search's fixed inputs and its tables as they were when the batch
/// began.
struct Ctx<'a> {
    fixed: &'a Fixed<'a>,
    visited: &'a VisitedSet,
    sleeps: &'a Sleeps,
    recovery: &'a RecoveryCache,
    /// Successors reached in this batch (parallel batches only).
    arrivals: Option<&'a Arrivals>,
}

/// The search's fixed inputs, from which each batch's [`Ctx`] is made.
struct Fixed<'a> {
    job: &'a Arc<Job>,
    config: &'a Config,
    reference: &'a Reference,
    exactly_once: bool,
    stubborn_on: bool,
    reexpand: bool,
}

impl Fixed<'_> {
    /// What expansions read: the fixed inputs, and the tables as they are now.
    fn ctx<'b>(
        &'b self,
        visited: &'b VisitedSet,
        sleeps: &'b Sleeps,
        recovery: &'b RecoveryCache,
        arrivals: Option<&'b Arrivals>,
    ) -> Ctx<'b> {
        Ctx { fixed: self, visited, sleeps, recovery, arrivals }
    }
}

/// A successor computed by an expansion.
struct Succ {
    /// Index of the event among the node's enabled events.
    index: u16,
    /// Its sleep set (sorted keys): `Expanded::sleeps[sleep.0..sleep.1]`.
    sleep: (u32, u32),
    /// `None`: the visited set holds it with no more asleep (the merge would drop it).
    world: Option<Box<World>>,
    now: SimTime,
    fp: u64,
    /// Transitions of the node up to and including this one.
    transitions: u64,
}

/// The result of expanding a node.
struct Expanded {
    depth: u32,
    id: u32,
    fp: u64,
    revisit: bool,
    /// A violated invariant (`check_state`).
    found: Option<(Invariant, String)>,
    /// The recovery check: the checkpoint's cache key, and its verdict if the cache did not
    /// know the key when the batch began.
    recovery: Option<(u64, Option<(Invariant, String)>)>,
    /// The node, kept when the recovery verdict stopped its expansion (see the module
    /// documentation).
    held: Option<Node>,
    finished: bool,
    /// No event can happen: `Some(whether a bound held one back)`.
    no_events: Option<bool>,
    /// What a terminal state shows (when terminals are collected).
    outputs: Option<u64>,
    depth_cut: bool,
    proviso: bool,
    /// More enabled events than a choice index holds.
    too_many: bool,
    transitions: u64,
    succs: Vec<Succ>,
    /// The successors' sleep sets, one after the other.
    sleeps: Vec<u64>,
}

/// Expands `node`, the node at position `at` of its batch.
fn expand(ctx: &Ctx<'_>, wk: &mut Worker, node: Node, at: u64, skip_recovery: bool) -> Expanded {
    let (job, config) = (ctx.fixed.job, ctx.fixed.config);
    let mut ex = Expanded {
        depth: node.depth,
        id: node.id,
        fp: node.fp,
        revisit: node.revisit,
        found: None,
        recovery: None,
        held: None,
        finished: false,
        no_events: None,
        outputs: None,
        depth_cut: false,
        proviso: false,
        too_many: false,
        transitions: 0,
        succs: std::mem::take(&mut wk.succs),
        sleeps: std::mem::take(&mut wk.sleeps),
    };
    ex.succs.clear();
    ex.sleeps.clear();
    let revisit = node.revisit;
    if !revisit {
        ex.found = check_state(&node.world, ctx.fixed.reference, job, config);
    }
    if ex.found.is_none()
        && config.check_recovery
        && config.checks(Invariant::RecoverableCheckpoints)
        && !revisit
        && !skip_recovery
    {
        if let Some(key) = RecoveryCache::key(&node.world) {
            let verdict = if ctx.recovery.knows(key) {
                None
            } else {
                RecoveryCache::verdict(
                    job,
                    ctx.fixed.reference,
                    &node.world,
                    ctx.fixed.exactly_once,
                )
            };
            let stop = verdict.is_some();
            ex.recovery = Some((key, verdict));
            if stop {
                ex.held = Some(node);
                return ex;
            }
        }
    }
    if ex.found.is_some() {
        wk.pool.recycle(node.world);
        return ex;
    }
    if node.world.is_finished() {
        ex.finished = true;
        if config.collect_terminals && !revisit {
            ex.outputs = Some(outputs_hash(&node.world));
        }
        wk.pool.recycle(node.world);
        return ex;
    }
    let suppressed = choices_into(&node.world, config, &mut wk.events);
    if wk.events.is_empty() {
        ex.no_events = Some(suppressed);
        if config.collect_terminals && !revisit {
            ex.outputs = Some(outputs_hash(&node.world));
        }
        wk.pool.recycle(node.world);
        return ex;
    }
    if node.depth >= config.max_depth {
        ex.depth_cut = true;
        wk.pool.recycle(node.world);
        return ex;
    }
    if wk.events.len() > usize::from(u16::MAX) + 1 {
        ex.too_many = true;
        wk.pool.recycle(node.world);
        return ex;
    }
    successors(ctx, wk, node, at, &mut ex);
    ex
}

/// The successors of a node with enabled events `wk.events`, into `ex`.
fn successors(ctx: &Ctx<'_>, wk: &mut Worker, node: Node, at: u64, ex: &mut Expanded) {
    let (job, config) = (ctx.fixed.job, ctx.fixed.config);
    let Worker { pool, env, events, keys, done, table, choice, .. } = wk;
    // Which of the events to take: a stubborn subset in calm states (with every crash of the
    // whole job), all of them otherwise (see `stubborn`).
    choice.clear();
    let full = if ctx.fixed.stubborn_on {
        stubborn::choose_into(job, &node.world, events, config.max_checkpoints, choice)
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
        for (&e, &k) in events.iter().zip(keys.iter()) {
            table.insert(k, fp.of(&node.world, e));
        }
    }
    done.clear();
    // The successor is computed in `next`, a copy of this node's world. A successor that is
    // dropped is put back to this node's world cheaply (`reset_to` copies what the event
    // touched) and serves for the next event. The last event, if no such copy is at hand, is
    // applied to the node's own world: it is not needed after that.
    let (sleep0, depth0, now0) = (node.sleep, node.depth, node.now);
    let only0 = node.only;
    let sleeps = ctx.sleeps;
    // Whether the event with key `k` is not taken from this node: it sleeps, or this is a
    // revisit and it is not one of the events to explore again.
    let passed = |k: u64| {
        (config.reduce && sleeps.contains(sleep0, k))
            || only0.as_ref().is_some_and(|only| !only.contains(&k))
    };
    let key_of = |i: usize| keys.get(i).copied().unwrap_or(0);
    // The cycle proviso: a reduced state one of whose successors was reached before at a
    // depth not greater than its own may close a cycle of reduced states, along which an
    // event could be put off forever; such a state takes all its events.
    let mut all_taken = full;
    let mut parent = Some(node.world);
    let mut spare: Option<Box<World>> = None;
    let mut pos = 0;
    let mut cycle = false;
    let mut sleep = Vec::new();
    loop {
        if pos == choice.len() {
            if all_taken || !cycle {
                break;
            }
            all_taken = true;
            ex.proviso = true;
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
        if passed(k) {
            continue;
        }
        let last = all_taken && choice[pos..].iter().all(|&j| passed(key_of(j)));
        let (mut next, own) = match spare.take() {
            Some(w) => (w, false),
            None if last => (parent.take().expect("kept until the last event"), true),
            None => (pool.copy_of(parent.as_ref().expect("kept until the last event")), false),
        };
        // Puts a successor that is not kept back to the parent's state, for the next event.
        let give_back = |pool: &mut Pool, mut next: Box<World>, spare: &mut Option<Box<World>>| {
            if own {
                pool.recycle(next);
            } else {
                next.reset_to(parent.as_ref().expect("kept while copies are made of it"));
                *spare = Some(next);
            }
        };
        let mut now = now0;
        if !step(&mut next, &mut now, e, env) {
            give_back(pool, next, &mut spare);
            continue;
        }
        ex.transitions += 1;
        // The successor sleeps on what this node explored before e, and on what it already
        // slept on, when those commute with e.
        sleep.clear();
        if config.reduce {
            sleeps.after_keys(sleep0, done, k, table, &mut sleep);
        }
        done.push(k);
        let fp = fingerprint(&next);
        let depth = ctx.visited.depth(fp);
        if !all_taken && depth.is_some_and(|d| d <= depth0) {
            cycle = true;
        }
        let index = u16::try_from(i).expect("at most 65,536 enabled events (checked above)");
        let dropped = ctx.visited.covers(fp, &sleep, depth0 + 1, ctx.fixed.reexpand, sleeps)
            || ctx
                .arrivals
                .is_some_and(|a| a.arrive(fp, (at << 16) | u64::from(index), sleep.is_empty()));
        let world = if dropped {
            give_back(pool, next, &mut spare);
            None
        } else {
            Some(next)
        };
        let start = ex.sleeps.len() as u32;
        ex.sleeps.extend_from_slice(&sleep);
        ex.succs.push(Succ {
            index,
            sleep: (start, ex.sleeps.len() as u32),
            world,
            now,
            fp,
            transitions: ex.transitions,
        });
    }
    for w in spare.into_iter().chain(parent) {
        pool.recycle(w);
    }
}

/// Explores `job` within `config`'s bounds (see [`super::explore`]).
pub(super) fn run(
    job: &Arc<Job>,
    config: &Config,
    reference: &Reference,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let mut visited = VisitedSet::default();
    let mut sleeps = Sleeps::default();
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
    let choices_of = |parents: &Parents, id: u32| parents.path(job, config, id);
    let mut recovery = RecoveryCache::default();
    // Breadth first reaches every state at its least depth first. Depth first may reach a
    // state by a long path first: under a real depth bound it re-expands a state reached again
    // by a shorter path; otherwise, if the bound ever cuts, the search is not complete.
    let reexpand = !config.bfs && config.max_depth < UNBOUNDED_DEPTH;
    let mut depth_cut = false;
    let exactly_once = crate::check::applicable(job, Invariant::ExactlyOnce);
    // Stubborn sets need no depth bound: under one they could hide a state behind a path the
    // bound cuts (sleep sets alone are still used then).
    let stubborn_on = config.reduce && config.max_depth >= UNBOUNDED_DEPTH;
    // Breadth first with several threads expands up to `BATCH` nodes of one level a thread at
    // once; otherwise one node at a time.
    const BATCH: usize = 512;
    let threads = if config.bfs { config.jobs.max(1) } else { 1 };
    let batch_size = if threads == 1 { 1 } else { BATCH * threads };
    let fixed = Fixed { job, config, reference, exactly_once, stubborn_on, reexpand };
    let mut workers: Vec<Worker> = (0..threads).map(|_| Worker::default()).collect();
    let mut batch: Vec<Node> = Vec::new();
    let mut results: Vec<Expanded> = Vec::new();
    let mut giveaway = 0;
    loop {
        batch.clear();
        if config.bfs {
            let level = frontier.front().map(|n| n.depth);
            while batch.len() < batch_size {
                match frontier.pop_front() {
                    Some(n) if Some(n.depth) == level => batch.push(n),
                    Some(n) => {
                        frontier.push_front(n);
                        break;
                    }
                    None => break,
                }
            }
        } else {
            batch.extend(frontier.pop_back());
        }
        if batch.is_empty() {
            break;
        }
        let arrivals = (threads > 1 && batch.len() > 1).then(|| Arrivals::new(batch.len() * 32));
        let ctx = fixed.ctx(&visited, &sleeps, &recovery, arrivals.as_ref());
        results.clear();
        if threads == 1 || batch.len() == 1 {
            let wk = &mut workers[0];
            results.extend(batch.drain(..).map(|n| expand(&ctx, wk, n, 0, false)));
        } else {
            // Small chunks handed out on demand: expansions differ a great deal in cost (a
            // recovery check runs a whole restored job).
            const CHUNK: usize = 16;
            let mut chunks: Vec<std::sync::Mutex<Vec<Node>>> = Vec::new();
            while !batch.is_empty() {
                let rest = batch.split_off(CHUNK.min(batch.len()));
                chunks.push(std::sync::Mutex::new(std::mem::replace(&mut batch, rest)));
            }
            let next = std::sync::atomic::AtomicUsize::new(0);
            let (ctx, chunks, next) = (&ctx, &chunks, &next);
            let mut done: Vec<(usize, Vec<Expanded>)> = std::thread::scope(|s| {
                let handles: Vec<_> = workers
                    .iter_mut()
                    .map(|wk| {
                        s.spawn(move || {
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(chunk) = chunks.get(i) else { break };
                                let nodes = std::mem::take(
                                    &mut *chunk.lock().expect("a chunk is taken once"),
                                );
                                let ex = nodes.into_iter().enumerate().map(|(k, n)| {
                                    expand(ctx, wk, n, (i * CHUNK + k) as u64, false)
                                });
                                mine.push((i, ex.collect::<Vec<_>>()));
                            }
                            mine
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("an explorer thread panicked"))
                    .collect()
            });
            // Back in the order of the batch.
            done.sort_unstable_by_key(|(i, _)| *i);
            results.extend(done.into_iter().flat_map(|(_, ex)| ex));
        }
        // The merge, in the order a single-threaded search takes the nodes.
        for mut ex in results.drain(..) {
            out.max_depth = out.max_depth.max(ex.depth);
            let mut found = ex.found.take();
            if found.is_none() {
                if let Some((key, verdict)) = ex.recovery.take() {
                    if recovery.learn(key) {
                        found = verdict;
                    } else if verdict.is_some() {
                        // An earlier node of this batch checked the same checkpoint first:
                        // this one is expanded as any other.
                        let node = ex.held.take().expect("held with its verdict");
                        let ctx = fixed.ctx(&visited, &sleeps, &recovery, None);
                        ex = expand(&ctx, &mut workers[0], node, 0, true);
                    }
                }
            }
            if let Some(node) = ex.held.take() {
                workers[0].pool.recycle(node.world);
            }
            if let Some((invariant, detail)) = found {
                if !out.violations.iter().any(|v| v.invariant == invariant) {
                    out.violations.push(Found {
                        invariant,
                        detail,
                        choices: choices_of(&parents, ex.id),
                    });
                }
                if config.stop_at_first {
                    return Ok(out);
                }
                // A violating state is not expanded: nor may a later arrival at it be.
                visited.settle(ex.fp);
                continue;
            }
            if ex.finished {
                out.finished_states += u64::from(!ex.revisit);
            }
            if let Some(outputs) = ex.outputs {
                out.terminals.push(Terminal {
                    fingerprint: ex.fp,
                    outputs,
                    choices: choices_of(&parents, ex.id),
                });
            }
            if let Some(suppressed) = ex.no_events.filter(|_| !ex.revisit) {
                if suppressed {
                    out.bounded_states += 1;
                } else if config.checks(Invariant::Progress)
                    && !out.violations.iter().any(|v| v.invariant == Invariant::Progress)
                {
                    let detail =
                        "stuck: nothing can happen, and the job has not finished".to_string();
                    out.violations.push(Found {
                        invariant: Invariant::Progress,
                        detail,
                        choices: choices_of(&parents, ex.id),
                    });
                    if config.stop_at_first {
                        return Ok(out);
                    }
                }
            }
            if ex.depth_cut {
                out.bounded_states += u64::from(!ex.revisit);
                depth_cut = true;
            }
            if ex.too_many {
                return Err(
                    "a state has more than 65,536 enabled events: too large to explore".to_string()
                );
            }
            out.proviso_states += u64::from(ex.proviso);
            let base = out.transitions;
            let mut succs = std::mem::take(&mut ex.succs);
            for s in succs.drain(..) {
                out.transitions = base + s.transitions;
                let Some(world) = s.world else { continue };
                let keys = &ex.sleeps[s.sleep.0 as usize..s.sleep.1 as usize];
                let sleep = if config.reduce { sleeps.intern(keys) } else { SleepId::EMPTY };
                let depth = ex.depth + 1;
                if out.states >= config.max_states {
                    // The budget holds the root alone (`--max-states 1`); a larger one stops
                    // below, once its last state is admitted.
                    return Ok(out);
                }
                let Some(admit) = visited.admit(s.fp, sleep, depth, reexpand, &mut sleeps) else {
                    // Reached twice in one batch: the world goes to a worker for reuse.
                    giveaway = (giveaway + 1) % threads;
                    workers[giveaway].pool.recycle(world);
                    continue;
                };
                let id = parents.parent.len() as u32;
                parents.parent.push(ex.id);
                parents.choice.push(s.index);
                if admit.shallower || admit.only.is_some() {
                    // A state seen before: at a smaller depth (explore all of it again), or
                    // with events that slept then and are awake now. Its invariants were
                    // checked the first time.
                    let only = if admit.shallower { None } else { admit.only };
                    frontier.push_back(Node {
                        world,
                        now: s.now,
                        depth,
                        sleep: admit.sleep,
                        only,
                        revisit: true,
                        id,
                        fp: s.fp,
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
                    world,
                    now: s.now,
                    depth,
                    sleep: admit.sleep,
                    only: None,
                    revisit: false,
                    id,
                    fp: s.fp,
                });
            }
            out.transitions = base + ex.transitions;
            // The buffers go back for the next expansion.
            workers[0].succs = succs;
            workers[0].sleeps = std::mem::take(&mut ex.sleeps);
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
