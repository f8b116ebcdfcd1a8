//! The choice log of a path: replaying it from the initial world, and writing and reading its
//! choices as people and counterexample files do.
//!
//! A choice is written as what the event does in the state it is taken from: `src[0] emits
//! record (a, 1, ts 0)`, `deliver barrier 1 on src[0]->out[0]`, `ack of checkpoint 1 from
//! out[0] reaches jm`, `timer: restart`, `crash node-0` (the grammar is in
//! docs/model-checking.md). A name is therefore a function of the world before the choice and
//! the event, and it is read back against the same world: the event whose name it is among
//! those that can happen there. Within one state no two events share a name: a step or a
//! delivery names its task or channel, and should two messages, timers or uploads read the
//! same (or two channels have the same ends), the second and later get ` #2`, ` #3`, … in the
//! order of the world's events.

use super::{initial_world, step, Config, ExploreEnv};
use crate::graph::Job;
use crate::ids::{ChannelId, CheckpointId, SimTime, TaskId};
use crate::protocol::coordinator::{CoordTimer, DeclineReason};
use crate::record::Record;
use crate::scenario::model::{Endpoint, FaultAction, OpKind};
use crate::trace::TraceHasher;
use crate::world::channel::Item;
use crate::world::{Control, Event, TaskKind, TaskStatus, TimerKind, World};
use std::sync::Arc;

/// Replays a choice log from the initial world; returns the final world and the trace hash,
/// or the index of the first choice that was not enabled.
pub fn replay(job: &Arc<Job>, config: &Config, choices: &[Event]) -> Result<(World, u64), usize> {
    replay_traced(job, config, choices, false).map(|r| (r.world, r.hash))
}

/// A path replayed from the initial world.
pub struct Replayed {
    pub world: World,
    /// The explorer's clock after the last choice: the simulated time of the path.
    pub now: SimTime,
    /// The trace hash of the path.
    pub hash: u64,
    /// The trace as JSON lines, when asked for.
    pub trace: Vec<String>,
    /// The events taken, one per choice.
    pub events: Vec<Event>,
    /// The name of each choice in the state it was taken from.
    pub names: Vec<String>,
}

/// A path from the initial world, followed choice by choice.
struct Walk {
    world: World,
    now: SimTime,
    env: ExploreEnv,
    events: Vec<Event>,
    names: Vec<String>,
}

impl Walk {
    fn new(job: &Arc<Job>, config: &Config, trace: bool) -> Walk {
        Walk {
            world: initial_world(job, config),
            now: SimTime::ZERO,
            env: ExploreEnv {
                hasher: Some(TraceHasher::default()),
                lines: trace.then(|| (job.clone(), Vec::new())),
            },
            events: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Takes `e`, named `name`; false if it cannot happen.
    fn take(&mut self, e: Event, name: String) -> bool {
        if !step(&mut self.world, &mut self.now, e, &mut self.env) {
            return false;
        }
        self.events.push(e);
        self.names.push(name);
        true
    }

    fn finish(self) -> Replayed {
        Replayed {
            world: self.world,
            now: self.now,
            hash: self.env.hasher.map_or(0, |h| h.finish()),
            trace: self.env.lines.map(|(_, l)| l).unwrap_or_default(),
            events: self.events,
            names: self.names,
        }
    }
}

/// [`replay`], also naming every choice and returning the clock and, when `trace` is set,
/// the trace as JSON lines.
pub fn replay_traced(
    job: &Arc<Job>,
    config: &Config,
    choices: &[Event],
    trace: bool,
) -> Result<Replayed, usize> {
    let mut walk = Walk::new(job, config, trace);
    for (i, &e) in choices.iter().enumerate() {
        let name = event_name(job, &walk.world, e);
        if !walk.take(e, name) {
            return Err(i);
        }
    }
    Ok(walk.finish())
}

/// A choice that names no event that can happen where the replay has got to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diverged {
    /// Its index in the choice list.
    pub index: usize,
    pub choice: String,
    /// The names of the events that could happen instead.
    pub enabled: Vec<String>,
}

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "explore.choices[{}] `{}` names no event that can happen at that point of the path",
            self.index, self.choice
        )?;
        if self.enabled.is_empty() {
            write!(f, " (none can)")
        } else {
            write!(f, "; these can:")?;
            for n in &self.enabled {
                write!(f, "\n  {n}")?;
            }
            Ok(())
        }
    }
}

/// Replays choices written as names (by [`event_name`], or in the id forms of older files),
/// each resolved against the world it is taken from.
pub fn replay_names(
    job: &Arc<Job>,
    config: &Config,
    choices: &[String],
    trace: bool,
) -> Result<Replayed, Diverged> {
    let mut walk = Walk::new(job, config, trace);
    for (i, c) in choices.iter().enumerate() {
        let taken = match parse_event(job, &walk.world, c) {
            Some(e) => {
                let name = event_name(job, &walk.world, e);
                walk.take(e, name)
            }
            None => false,
        };
        if !taken {
            let enabled = names(job, &walk.world).into_iter().map(|(_, n)| n).collect();
            return Err(Diverged { index: i, choice: c.clone(), enabled });
        }
    }
    Ok(walk.finish())
}

/// Every event that can happen in `w` (the world's own, then the faults of its menu that can
/// be injected), with its name: the candidates a name is resolved against.
pub fn names(job: &Job, w: &World) -> Vec<(Event, String)> {
    let mut events = w.enabled();
    events.extend(
        (0..w.injectable.0.len() as u16).map(Event::Inject).filter(|e| w.due(*e).is_some()),
    );
    let bases: Vec<String> = events.iter().map(|&e| base_name(job, w, e)).collect();
    events
        .iter()
        .enumerate()
        .map(|(i, &e)| {
            let twins = bases[..i].iter().filter(|b| **b == bases[i]).count();
            let name =
                if twins == 0 { bases[i].clone() } else { format!("{} #{}", bases[i], twins + 1) };
            (e, name)
        })
        .collect()
}

/// The name of choice `e` in world `w` (the state it is taken from), as people read it and
/// counterexample files hold it: what the event does there. Within one state, different
/// events have different names, and [`parse_event`] reads a name back to its event.
pub fn event_name(job: &Job, w: &World, e: Event) -> String {
    names(job, w)
        .into_iter()
        .find(|(x, _)| *x == e)
        .map_or_else(|| base_name(job, w, e), |(_, n)| n)
}

/// The event that `name` names in world `w`: among the events that can happen there, the one
/// [`event_name`] calls so. The id forms of older files (`step TASK`, `deliver CHANNEL`,
/// `control ID`, `timer ID`, `upload ID`, `inject I`) are read too; an event they name may
/// still be one that cannot happen.
pub fn parse_event(job: &Job, w: &World, name: &str) -> Option<Event> {
    names(job, w)
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(e, _)| e)
        .or_else(|| id_form(job, name))
}

/// The id forms of choices that files written before choices had names hold.
fn id_form(job: &Job, s: &str) -> Option<Event> {
    let (verb, arg) = s.split_once(' ')?;
    match verb {
        "step" => (0..job.tasks.len())
            .map(|t| TaskId(t as u32))
            .find(|t| job.task_name(*t) == arg)
            .map(Event::Step),
        "deliver" => (0..job.channels.len())
            .map(|c| ChannelId(c as u32))
            .find(|c| job.channel_name(*c) == arg)
            .map(Event::Deliver),
        "control" => arg.parse().ok().map(Event::Control),
        "timer" => arg.parse().ok().map(Event::Timer),
        "upload" => arg.parse().ok().map(Event::Upload),
        "inject" => arg.parse().ok().map(Event::Inject),
        _ => None,
    }
}

/// What `e` does in `w`, without the ` #k` of twins.
fn base_name(job: &Job, w: &World, e: Event) -> String {
    match e {
        Event::Step(t) => step_name(job, w, t),
        Event::Deliver(c) => match w.channels[c.index()].wire.front() {
            Some((_, item)) => {
                format!("deliver {} on {}", item_name(job, item), job.channel_name(c))
            }
            None => format!("deliver on {}", job.channel_name(c)),
        },
        Event::Control(id) => match w.control.iter().find(|m| m.id == id) {
            Some(m) => control_name(job, &m.body),
            None => format!("control {id}"),
        },
        Event::Timer(id) => match w.timers.iter().find(|t| t.id == id) {
            Some(t) => format!("timer: {}", timer_name(job, w, t.kind)),
            None => format!("timer {id}"),
        },
        Event::Upload(id) => match w.uploads.iter().find(|u| u.id == id) {
            Some(u) => format!(
                "upload of {}{} for {} finishes",
                job.task_name(u.task),
                attempt(u.attempt),
                checkpoint(u.checkpoint)
            ),
            None => format!("upload {id}"),
        },
        Event::Inject(i) => match w.injectable.0.get(usize::from(i)) {
            Some(action) => fault_name(job, action),
            None => format!("inject {i}"),
        },
    }
}

/// A task's step: what a source emits, or which input an operator or sink takes next.
fn step_name(job: &Job, w: &World, t: TaskId) -> String {
    let task = job.task_name(t);
    let state = &w.tasks[t.index()];
    let info = &job.tasks[t.index()];
    match &state.kind {
        TaskKind::Source(s) => {
            let OpKind::Source(def) = &job.operator_of(t).kind else {
                unreachable!("a source task belongs to a source operator")
            };
            match def.partitions[usize::from(info.subtask)].get(s.offset as usize) {
                Some(r) => format!("{task} emits record {}", record_name(job, &r)),
                None => format!("{task} reaches the end of its data"),
            }
        }
        _ if state.status == TaskStatus::Failed || state.status == TaskStatus::Finished => {
            format!("{task} steps")
        }
        _ => match state.gate.ready.front() {
            Some(&input) => {
                let c = info.inputs[usize::from(input)];
                match w.channels[c.index()].input.front() {
                    Some(item) => {
                        format!(
                            "{task} takes {} from {}",
                            item_name(job, item),
                            job.channel_name(c)
                        )
                    }
                    None => format!("{task} takes from {}", job.channel_name(c)),
                }
            }
            None => format!("{task} steps"),
        },
    }
}

fn record_name(job: &Job, r: &Record) -> String {
    format!("({}, {}, ts {})", job.scenario.keys.key(r.key), r.value, r.ts)
}

fn item_name(job: &Job, item: &Item) -> String {
    match item {
        Item::Record(r) => format!("record {}", record_name(job, r)),
        Item::Watermark(ts) => format!("watermark {ts}"),
        Item::End => "end of partition".into(),
        Item::Barrier(cp) => format!("barrier {}", cp.0),
        Item::Cancel(cp) => format!("cancel marker of {}", checkpoint(*cp)),
        Item::EndOfData => "end of data".into(),
    }
}

fn checkpoint(cp: CheckpointId) -> String {
    format!("checkpoint {}", cp.0)
}

/// ` (attempt k)` for a task's k-th restart; nothing for its first attempt.
fn attempt(a: u32) -> String {
    if a == 0 {
        String::new()
    } else {
        format!(" (attempt {a})")
    }
}

fn control_name(job: &Job, body: &Control) -> String {
    match *body {
        Control::Trigger { task, attempt: a, checkpoint: cp } => {
            format!("trigger of {} reaches {}{}", checkpoint(cp), job.task_name(task), attempt(a))
        }
        Control::Ack { task, attempt: a, checkpoint: cp } => {
            format!(
                "ack of {} from {}{} reaches jm",
                checkpoint(cp),
                job.task_name(task),
                attempt(a)
            )
        }
        Control::Decline { task, attempt: a, checkpoint: cp, reason } => format!(
            "decline of {} from {}{} reaches jm ({})",
            checkpoint(cp),
            job.task_name(task),
            attempt(a),
            match reason {
                DeclineReason::Subsumed => "subsumed",
                DeclineReason::CancellationBarrier => "cancel marker",
                DeclineReason::AsyncFailure => "upload failed",
                DeclineReason::TaskNotReady => "task not ready",
            }
        ),
        Control::NotifyComplete { task, attempt: a, checkpoint: cp } => format!(
            "completion notice of {} reaches {}{}",
            checkpoint(cp),
            job.task_name(task),
            attempt(a)
        ),
        Control::NotifyAborted { task, attempt: a, checkpoint: cp, latest } => format!(
            "abort notice of {} reaches {}{}{}",
            checkpoint(cp),
            job.task_name(task),
            attempt(a),
            latest.map_or(String::new(), |l| format!(" (latest completed: {})", checkpoint(l)))
        ),
    }
}

fn timer_name(job: &Job, w: &World, kind: TimerKind) -> String {
    match kind {
        TimerKind::Coord(CoordTimer::Trigger) => "periodic trigger".into(),
        TimerKind::Coord(CoordTimer::Timeout(cp)) => format!("timeout of {}", checkpoint(cp)),
        TimerKind::Fault(i) => match w.faults.0.get(usize::from(i)) {
            Some(f) => format!("planned fault {i} ({})", fault_name(job, &f.action)),
            None => format!("planned fault {i}"),
        },
        TimerKind::Restart => "restart".into(),
        TimerKind::NodeUp(n) => format!("{n} comes back"),
        TimerKind::Heal(a, b) => format!("partition {} heals", endpoints(a, b)),
        TimerKind::StorageUp => "storage recovers".into(),
        TimerKind::CoordinatorUp => "coordinator comes back".into(),
    }
}

fn endpoints(a: Endpoint, b: Endpoint) -> String {
    format!("{a}|{b}")
}

/// A fault as the explorer injects it: `crash out[0]`, `crash node-0`, `partition
/// jm|node-0`, `storage outage`, `crash coordinator`.
fn fault_name(job: &Job, action: &FaultAction) -> String {
    match action {
        FaultAction::CrashTask { operator, subtask } => {
            format!("crash {}", job.task_name(job.task(*operator, *subtask)))
        }
        FaultAction::CrashNode { node, .. } => format!("crash {node}"),
        FaultAction::Partition { a, b, .. } => format!("partition {}", endpoints(*a, *b)),
        FaultAction::StorageFail { .. } => "storage outage".into(),
        FaultAction::CrashCoordinator { .. } => "crash coordinator".into(),
    }
}

/// The choice log of every node, compactly.
pub(super) struct Parents {
    pub(super) parent: Vec<u32>,
    /// Index into the parent's enabled events (`choices`).
    pub(super) choice: Vec<u16>,
}

impl Parents {
    pub(super) fn bytes(&self) -> usize {
        self.parent.capacity() * 4 + self.choice.capacity() * 2
    }

    /// The events from the initial world to node `id`, found again by replaying the indices.
    pub(super) fn path(&self, job: &Arc<Job>, config: &Config, mut id: u32) -> Vec<Event> {
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
            let e = super::choices(&w, config).0[usize::from(i)];
            step(&mut w, &mut now, e, &mut env);
            path.push(e);
        }
        path
    }
}
