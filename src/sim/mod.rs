//! The timed, seeded driver: virtual time, an event queue ordered by (time, sequence), and
//! ChaCha streams for every random draw. It owns no protocol logic; it asks the world when
//! each event is due and applies the earliest.
//!
//! Scheduling: after every event the world names the events it may have enabled (`wake`).
//! The driver asks the world when each is due and queues it, keeping at most one queue entry
//! per event (the earliest); an entry whose event is no longer due at its time is dropped or
//! re-queued. Ties in time break by insertion order. Nothing here depends on anything but
//! the job, the seed and the order of calls, so a run is a pure function of (scenario, seed).

pub mod faults;

use crate::graph::Job;
use crate::ids::SimTime;
use crate::rng::{self, Stream};
use crate::trace::{TraceEvent, TraceHasher};
use crate::world::{Draw, Env, Event, World};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::sync::Arc;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every task finished.
    Finished,
    /// Nothing can happen any more, but the job has not finished.
    Stuck,
    /// `limits.max_sim_ms` was reached.
    TimeLimit,
    /// `limits.max_events` was reached.
    EventLimit,
    /// The restart strategy gave up: the job failed.
    JobFailed,
}

impl Ending {
    pub fn describe(self) -> &'static str {
        match self {
            Ending::Finished => "the job finished",
            Ending::Stuck => "the world is stuck: nothing can happen, and the job has not finished",
            Ending::TimeLimit => "the run reached limits.max_sim_ms before the job finished",
            Ending::EventLimit => "the run reached limits.max_events before the job finished",
            Ending::JobFailed => "the job failed: its restart strategy gave up",
        }
    }
}

pub struct RunResult {
    pub world: World,
    pub ending: Ending,
    pub events: u64,
    pub now: SimTime,
    pub trace_hash: u64,
    /// An error writing the trace file, if any.
    pub trace_error: Option<String>,
}

/// The driver's side of the world's [`Env`]: random draws, wake-ups and the trace.
struct TimedEnv<'w> {
    job: Arc<Job>,
    latency: Stream,
    control: Stream,
    storage: Stream,
    coordinator: Stream,
    woken: Vec<Event>,
    /// Off for the checker's restored runs ([`run_restored`]).
    hashing: bool,
    hasher: TraceHasher,
    out: Option<&'w mut dyn Write>,
    trace_error: Option<String>,
}

impl Env for TimedEnv<'_> {
    #[inline]
    fn draw(&mut self, what: Draw, lo: u64, hi: u64) -> u64 {
        let stream = match what {
            Draw::DataLatency => &mut self.latency,
            Draw::ControlLatency => &mut self.control,
            Draw::StorageLatency => &mut self.storage,
            Draw::TriggerDelay => &mut self.coordinator,
        };
        rng::between(stream, lo, hi)
    }

    #[inline]
    fn wake(&mut self, event: Event) {
        self.woken.push(event);
    }

    fn trace(&mut self, now: SimTime, event: TraceEvent) {
        if self.hashing {
            event.hash_into(now, &mut self.hasher);
        }
        if let Some(out) = self.out.as_deref_mut() {
            if self.trace_error.is_none() {
                let line = event.to_json_line(now, &self.job);
                if let Err(e) = writeln!(out, "{line}") {
                    self.trace_error = Some(e.to_string());
                }
            }
        }
    }
}

struct Queue {
    heap: BinaryHeap<Reverse<(SimTime, u64, Event)>>,
    /// The time each event is queued for (`NEVER`: not queued).
    queued: Vec<SimTime>,
    seq: u64,
}

impl Queue {
    fn schedule(&mut self, job: &Job, world: &World, event: Event, now: SimTime) {
        let Some(due) = world.due(event) else { return };
        let at = due.max(now);
        match event.slot(job) {
            Some(slot) if at >= self.queued[slot] => return,
            Some(slot) => self.queued[slot] = at,
            None => {}
        }
        self.heap.push(Reverse((at, self.seq, event)));
        self.seq += 1;
    }
}

/// Runs the job from its initial world with `seed` until it finishes, gets stuck, fails or
/// reaches a limit. Trace lines go to `trace` when given.
pub fn run(job: Arc<Job>, seed: u64, trace: Option<&mut dyn Write>) -> RunResult {
    let faults = faults::resolve(&job.scenario, seed);
    let world = World::new(job, faults);
    run_world(world, seed, "", trace)
}

/// Runs `world` (fresh, or restored by the checker) to its end. `label` separates the random
/// streams of runs that share a seed.
pub fn run_world(world: World, seed: u64, label: &str, trace: Option<&mut dyn Write>) -> RunResult {
    run_world_with(world, seed, label, trace, true)
}

/// [`run_world`] without the trace hash, for the checker's restored runs, whose trace nobody
/// reads: their `trace_hash` is that of an empty trace.
pub fn run_restored(world: World, seed: u64, label: &str) -> RunResult {
    run_world_with(world, seed, label, None, false)
}

fn run_world_with(
    mut world: World,
    seed: u64,
    label: &str,
    trace: Option<&mut dyn Write>,
    hashing: bool,
) -> RunResult {
    let job = world.job.0.clone();
    let limits = job.scenario.limits;
    let max_time = SimTime::from_ms(limits.max_sim_ms);
    let mut env = TimedEnv {
        job: job.clone(),
        latency: rng::stream(seed, &format!("network/latency{label}"), 0),
        control: rng::stream(seed, &format!("network/control{label}"), 0),
        storage: rng::stream(seed, &format!("storage{label}"), 0),
        coordinator: rng::stream(seed, &format!("coordinator{label}"), 0),
        woken: Vec::with_capacity(64),
        hashing,
        hasher: TraceHasher::default(),
        out: trace,
        trace_error: None,
    };
    let mut q = Queue {
        heap: BinaryHeap::with_capacity(Event::slots(&job)),
        queued: vec![SimTime::NEVER; Event::slots(&job)],
        seq: 0,
    };
    world.start(SimTime::ZERO, &mut env);
    let woken = std::mem::take(&mut env.woken);
    for e in woken {
        q.schedule(&job, &world, e, SimTime::ZERO);
    }
    let mut now = SimTime::ZERO;
    let mut events = 0u64;
    let ending = loop {
        if world.is_finished() {
            break Ending::Finished;
        }
        if world.job_failed {
            break Ending::JobFailed;
        }
        let Some(Reverse((at, _, event))) = q.heap.pop() else { break Ending::Stuck };
        if let Some(slot) = event.slot(&job) {
            if q.queued[slot] != at {
                continue; // superseded by an earlier entry for the same event
            }
            q.queued[slot] = SimTime::NEVER;
        }
        match world.due(event) {
            None => continue,
            Some(due) if due > at => {
                q.schedule(&job, &world, event, now);
                continue;
            }
            Some(_) => {}
        }
        if at > max_time {
            now = max_time;
            break Ending::TimeLimit;
        }
        if events >= limits.max_events {
            break Ending::EventLimit;
        }
        now = at;
        // `due(event)` was seen at or before `at` just above.
        world.apply_due(event, now, &mut env);
        events += 1;
        for i in 0..env.woken.len() {
            let e = env.woken[i];
            q.schedule(&job, &world, e, now);
        }
        env.woken.clear();
    };
    if ending == Ending::Stuck {
        debug_assert!(
            world.enabled().is_empty(),
            "the queue is empty, so no event may be enabled: {:?}",
            world.enabled()
        );
    }
    if let Some(out) = env.out.as_deref_mut() {
        if let Err(e) = out.flush() {
            env.trace_error.get_or_insert(e.to_string());
        }
    }
    RunResult {
        world,
        ending,
        events,
        now,
        trace_hash: env.hasher.finish(),
        trace_error: env.trace_error,
    }
}
