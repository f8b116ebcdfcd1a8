//! Stubborn sets: which of a state's enabled events the explorer must take, so that the states
//! it skips can only be reached again by paths it does take (Valmari's stubborn sets, the
//! "persistent sets" of Godefroid's thesis). docs/model-checking.md explains the method and
//! why it is sound; this is the code.
//!
//! Events are grouped into **templates**, one per kind of event and the task or channel it
//! acts on (a step of `out[0]`, a delivery on `src[0]->out[0]`, any trigger message to
//! `src[1]`, any acknowledgement from `out[0]`, the periodic trigger timer, …). A template
//! stands for its enabled events now *and* for the events of that kind that may exist later.
//! A set `T` of templates is stubborn in a state when
//!
//! 1. for every template of `T` with enabled events, no template outside `T` can, on any path
//!    made of events outside `T`, conflict with those events ([`Footprint`]): we compare the
//!    events' footprints now with a bound on what the outside template may ever touch
//!    ([`Analysis::may`]);
//! 2. for every template of `T` without enabled events, a *necessary enabling set* is in `T`:
//!    templates one of which must happen before any event of it can ([`Analysis::nes`]).
//!
//! Then every path from the state is matched by a path that starts with an enabled event of
//! `T`, and the explorer takes only those (and every fault it may inject, see below). Both
//! bounds in (1) and (2) read the state *and* `T` itself: once the periodic trigger timer is in
//! `T`, no path outside `T` can start a checkpoint, so no template outside `T` can ever see a
//! barrier; a bound read with a smaller `T` is only larger, so growing `T` keeps every check
//! that was made valid.
//!
//! The reduction is used in **calm** states only: no failed task, no restart, outage or
//! partition under way, no decline, abort or cancel marker in flight, at most one concurrent
//! checkpoint, and no fault on the menu other than crashes that fail the whole job over. In
//! other states every event is taken.
//!
//! **Crashes are not events of `T`.** A crash that fails the whole job over leaves only the
//! durable part of the world (completed checkpoints, sink outputs, id counters, fault
//! counters): the world after it is a function of that part (`World::cancel_tasks` resets
//! everything else). The explorer injects such a crash from every state it expands; for that
//! to cover every state a crash can hit, the reduced search must reach every value of the
//! durable part that the full search reaches. It does, because every event that changes the
//! durable part writes the virtual resource `Durable` ([`Single::Durable`]), so such events
//! are ordered among themselves on every explored path exactly as on the paths they stand
//! for, and events that do not change it do not change it in any order.

use crate::graph::Job;
use crate::ids::TaskId;
use crate::protocol::coordinator::CoordTimer;
use crate::scenario::model::{CheckpointMode, Failover, FaultAction};
use crate::world::channel::Item;
use crate::world::{Control, Event, TaskStatus, TimerKind, World};

mod analysis;
mod bounds;

use analysis::analyse;

/// A template: a kind of event and what it acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tpl {
    Step(TaskId),
    Deliver(crate::ids::ChannelId),
    /// A trigger message reaches the task.
    Trigger(TaskId),
    /// An acknowledgement from the task reaches the coordinator.
    Ack(TaskId),
    /// A completion notice reaches the task.
    Notify(TaskId),
    /// The task's snapshot upload finishes.
    Upload(TaskId),
    /// The coordinator's periodic trigger timer.
    TriggerTimer,
}

/// What the explorer takes from a state.
#[derive(Debug, Default)]
pub struct Choice {
    /// The events to explore, in the order of the state's enabled events.
    pub events: Vec<Event>,
    /// Whether these are all the enabled events (the reduction did not apply, or could not
    /// leave anything out).
    pub full: bool,
}

/// The dense index of a template in a job with `n` tasks and `c` channels.
fn tpl_index(t: Tpl, n: usize, c: usize) -> usize {
    match t {
        Tpl::Step(x) => x.index(),
        Tpl::Deliver(x) => n + x.index(),
        Tpl::Trigger(x) => n + c + x.index(),
        Tpl::Ack(x) => 2 * n + c + x.index(),
        Tpl::Notify(x) => 3 * n + c + x.index(),
        Tpl::Upload(x) => 4 * n + c + x.index(),
        Tpl::TriggerTimer => 5 * n + c,
    }
}

/// Whether fault `i` of the menu is a crash that fails the whole job over: the world after it
/// depends only on the durable part of the world before it.
pub fn is_full_crash(job: &Job, w: &World, i: u16) -> bool {
    let whole_job = job.scenario.recovery.failover == Failover::Full || job.regions <= 1;
    match w.injectable.0.get(usize::from(i)) {
        Some(FaultAction::CrashTask { .. }) => whole_job,
        Some(FaultAction::CrashNode { node, .. }) => {
            whole_job && job.tasks.iter().any(|t| t.node == *node)
        }
        _ => false,
    }
}

/// Whether a world's state lets the reduction apply (see the module documentation).
fn calm(job: &Job, w: &World) -> bool {
    if w.job_failed || w.store.failing {
        return false;
    }
    let checkpointing = job.scenario.checkpointing.mode != CheckpointMode::Disabled;
    if checkpointing && (w.coordinator.is_none() || job.scenario.checkpointing.max_concurrent > 1) {
        return false;
    }
    if w.tasks.iter().any(|t| t.status == TaskStatus::Failed) {
        return false;
    }
    if w.timers
        .iter()
        .any(|t| !matches!(t.kind, TimerKind::Coord(CoordTimer::Trigger | CoordTimer::Timeout(_))))
    {
        return false;
    }
    if w.control
        .iter()
        .any(|m| matches!(m.body, Control::Decline { .. } | Control::NotifyAborted { .. }))
    {
        return false;
    }
    let cancel = |i: &Item| matches!(i, Item::Cancel(_));
    !w.channels.iter().any(|c| {
        c.out.iter().any(cancel)
            || c.wire.iter().any(|(_, i)| cancel(i))
            || c.input.iter().any(cancel)
    })
}

/// The events to explore from `w`, given its enabled events `events` (faults included).
pub fn choose(job: &Job, w: &World, events: &[Event], budget: u64) -> Choice {
    let mut idx = Vec::new();
    let full = choose_into(job, w, events, budget, &mut idx);
    Choice { events: idx.into_iter().map(|i| events[i]).collect(), full }
}

/// [`choose`], as indices into `events` (in order), into `out`; returns whether they are all
/// of them. `budget` is the explorer's checkpoint budget (`--max-checkpoints`).
pub fn choose_into(
    job: &Job,
    w: &World,
    events: &[Event],
    budget: u64,
    out: &mut Vec<usize>,
) -> bool {
    out.clear();
    let all = |out: &mut Vec<usize>| {
        out.clear();
        out.extend(0..events.len());
        true
    };
    if !calm(job, w) {
        return all(out);
    }
    // Crashes of the whole job are taken from every state; any other event outside the
    // templates (a timeout, which fires only when nothing else can happen; another fault)
    // means no reduction.
    let mut crashes = false;
    for &e in events {
        let known = match e {
            Event::Inject(i) if is_full_crash(job, w, i) => {
                crashes = true;
                true
            }
            Event::Inject(_) => false,
            Event::Timer(_) => matches!(template_of(w, e), Some(Tpl::TriggerTimer)),
            Event::Control(_) => template_of(w, e).is_some(),
            _ => true,
        };
        if !known {
            return all(out);
        }
    }
    let a = analyse(job, w, events, crashes, budget);
    let Some(t) = a.best() else { return all(out) };
    let mut take = vec![false; events.len()];
    for (i, taken) in t.iter().enumerate() {
        if *taken {
            for &k in &a.enabled[i] {
                take[k] = true;
            }
        }
    }
    out.extend((0..events.len()).filter(|&k| take[k] || matches!(events[k], Event::Inject(_))));
    out.len() == events.len()
}

/// An event's key (for debugging tools).
pub fn key_of(w: &World, e: Event) -> u64 {
    super::por::key(w, e)
}

/// For the verification mode (`explore::check`): the stubborn set chosen in `w` as a flag per
/// template, or `None` where the reduction does not apply; and the template of any event.
pub struct Chosen {
    pub templates: Vec<bool>,
    tasks: usize,
    channels: usize,
}

impl Chosen {
    /// Whether `e`, enabled in a world `w` reached from the state the set was chosen in, is an
    /// event of one of the set's templates (`None`: an event outside every template).
    pub fn contains(&self, w: &World, e: Event) -> Option<bool> {
        Some(self.templates[tpl_index(template_of(w, e)?, self.tasks, self.channels)])
    }
}

/// The stubborn set of `w` (see [`Chosen`]).
pub fn chosen(job: &Job, w: &World, events: &[Event], budget: u64) -> Option<Chosen> {
    let mut idx = Vec::new();
    if choose_into(job, w, events, budget, &mut idx) {
        return None;
    }
    let crashes = events.iter().any(|e| matches!(e, Event::Inject(i) if is_full_crash(job, w, *i)));
    let a = analyse(job, w, events, crashes, budget);
    let templates = a.best()?;
    Some(Chosen { templates, tasks: a.tasks, channels: a.channels })
}

fn template_of(w: &World, e: Event) -> Option<Tpl> {
    Some(match e {
        Event::Step(t) => Tpl::Step(t),
        Event::Deliver(c) => Tpl::Deliver(c),
        Event::Upload(id) => Tpl::Upload(w.uploads.iter().find(|u| u.id == id)?.task),
        Event::Timer(id) => match w.timers.iter().find(|t| t.id == id)?.kind {
            TimerKind::Coord(CoordTimer::Trigger) => Tpl::TriggerTimer,
            _ => return None,
        },
        Event::Control(id) => match w.control.iter().find(|m| m.id == id)?.body {
            Control::Trigger { task, .. } => Tpl::Trigger(task),
            Control::Ack { task, .. } => Tpl::Ack(task),
            Control::NotifyComplete { task, .. } => Tpl::Notify(task),
            _ => return None,
        },
        Event::Inject(_) => return None,
    })
}
