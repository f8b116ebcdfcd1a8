//! The world: the whole simulated system as one value.
//!
//! It holds every task (operator state, input gate, barrier handler, checkpoint state),
//! every channel (output queue, wire, input queue), the coordinator, control messages in
//! flight, uploads in flight, timers, node and network health, the durable checkpoint store,
//! and the external systems the sinks write to. It is `Clone` and `Eq`, holds no pointers
//! into itself and no hash maps: two worlds that compare equal behave the same.
//!
//! The world does not choose. [`World::due`] says whether an [`Event`] can happen and from
//! when; [`World::apply`] performs it. Whatever is random (a latency, a delay) is asked of
//! the [`Env`], which also hears about events that may have become possible (`wake`) and
//! receives trace events. The timed driver ([`crate::sim`]) and the explorer are two `Env`s
//! over the same world.

pub mod channel;
mod checkpoint;
pub mod flow;
pub mod output;
mod recovery;
pub mod store;
mod task;
pub mod tracked;

use crate::graph::Job;
use crate::ids::{ChannelId, CheckpointId, NodeId, SimTime, TaskId};
use crate::protocol::coordinator::{CoordTimer, Coordinator, CoordinatorConfig, DeclineReason};
use crate::protocol::restart::RestartPolicy;
use crate::scenario::model::{
    CheckpointMode, Endpoint, FaultAction, FaultTrigger, Invariant, Mutation, OpKind,
};
use crate::trace::TraceEvent;
use channel::Channel;
use output::SinkOutput;
use std::sync::Arc;
use store::{Store, TaskSnapshot};
pub use task::{Gate, SourceTask, TaskKind, TaskState, TaskStatus};
pub use tracked::{Multiset, Tracked};

/// Something that can happen in the world. A closed set: drivers enumerate these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// A task takes its next step: a source emits, an operator processes its next input.
    Step(TaskId),
    /// The head of a channel's wire arrives in the receiver's input queue.
    Deliver(ChannelId),
    /// A control message (by id) reaches its destination.
    Control(u32),
    /// A timer (by id) fires.
    Timer(u32),
    /// A snapshot upload (by id) finishes.
    Upload(u32),
    /// The explorer injects fault `i` of the world's fault menu.
    Inject(u16),
}

impl Event {
    /// A dense index for events that can be woken many times (steps and deliveries), so that
    /// drivers keep one queue entry per event. One-shot events (messages, timers, uploads)
    /// have none.
    pub fn slot(&self, job: &Job) -> Option<usize> {
        match *self {
            Event::Step(t) => Some(t.index()),
            Event::Deliver(c) => Some(job.tasks.len() + c.index()),
            _ => None,
        }
    }

    pub fn slots(job: &Job) -> usize {
        job.tasks.len() + job.channels.len()
    }
}

/// The random quantities the world asks its driver for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// Latency of one item on a data channel.
    DataLatency,
    /// Latency of one control message.
    ControlLatency,
    /// Duration of one snapshot upload.
    StorageLatency,
    /// The coordinator's first trigger delay, in [min_pause, interval].
    TriggerDelay,
}

/// What the world needs from whoever drives it.
pub trait Env {
    /// A value in `lo..=hi` (µs) for `what`.
    fn draw(&mut self, what: Draw, lo: u64, hi: u64) -> u64;
    /// `event` may have become possible (or possible earlier): re-check it.
    fn wake(&mut self, event: Event);
    /// Something happened at `now`.
    fn trace(&mut self, now: SimTime, event: TraceEvent);
}

/// Counters a report shows. Part of the world so that a cloned world carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    pub records_emitted: u64,
    pub records_processed: u64,
    pub records_replayed: u64,
    pub checkpoints_triggered: u64,
    pub checkpoints_completed: u64,
    pub checkpoints_aborted: u64,
    pub faults: u64,
    pub restarts: u64,
}

/// A control message between the coordinator (`jm`) and a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    Trigger {
        task: TaskId,
        attempt: u32,
        checkpoint: CheckpointId,
    },
    Ack {
        task: TaskId,
        attempt: u32,
        checkpoint: CheckpointId,
    },
    Decline {
        task: TaskId,
        attempt: u32,
        checkpoint: CheckpointId,
        reason: DeclineReason,
    },
    NotifyComplete {
        task: TaskId,
        attempt: u32,
        checkpoint: CheckpointId,
    },
    NotifyAborted {
        task: TaskId,
        attempt: u32,
        checkpoint: CheckpointId,
        latest: Option<CheckpointId>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlMsg {
    pub id: u32,
    pub at: SimTime,
    pub body: Control,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    Coord(CoordTimer),
    /// A planned fault (index into the world's fault list) happens.
    Fault(u16),
    /// The restart delay of failed tasks is over.
    Restart,
    NodeUp(NodeId),
    Heal(Endpoint, Endpoint),
    StorageUp,
    CoordinatorUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub id: u32,
    pub at: SimTime,
    pub kind: TimerKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: u32,
    pub at: SimTime,
    pub task: TaskId,
    pub attempt: u32,
    pub checkpoint: CheckpointId,
    pub snapshot: TaskSnapshot,
}

// Fingerprints leave out message, timer and upload ids: they only name things, in the order
// they were created, and two worlds that differ only in names behave alike.
impl std::hash::Hash for ControlMsg {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.body.hash(h);
    }
}

impl std::hash::Hash for Timer {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.kind.hash(h);
    }
}

impl std::hash::Hash for Upload {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.task, self.attempt, self.checkpoint, &self.snapshot).hash(h);
    }
}

/// The world's counter of message, timer and upload ids; not part of fingerprints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seq(pub u32);

impl std::hash::Hash for Seq {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// A fault with its trigger resolved: at a time, or on a trace event.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedFault {
    pub trigger: FaultTrigger,
    pub action: FaultAction,
}

/// Faults an explorer may inject, shared.
#[derive(Clone, Debug, Default)]
pub struct FaultMenu(pub Arc<Vec<FaultAction>>);

impl PartialEq for FaultMenu {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for FaultMenu {}

impl std::hash::Hash for FaultMenu {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// The faults of one run, shared (they never change during a run).
#[derive(Clone, Debug)]
pub struct FaultPlan(pub Arc<Vec<PlannedFault>>);

impl PartialEq for FaultPlan {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for FaultPlan {}

impl std::hash::Hash for FaultPlan {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// An invariant broken while the run went on (checked as it happens).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    pub invariant: Invariant,
    pub at: SimTime,
    pub detail: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct World {
    pub job: JobRef,
    pub tasks: Vec<Tracked<TaskState>>,
    pub channels: Vec<Tracked<Channel>>,
    /// One per operator; only sinks' are ever written.
    pub outputs: Vec<Tracked<SinkOutput>>,
    pub finished_tasks: u32,
    pub counters: Counters,
    /// The coordinator; `None` while it is crashed.
    pub coordinator: Option<Tracked<Coordinator>>,
    pub store: Tracked<Store>,
    pub control: Tracked<Multiset<ControlMsg>>,
    pub timers: Tracked<Multiset<Timer>>,
    pub uploads: Tracked<Multiset<Upload>>,
    pub nodes_up: Vec<bool>,
    /// How many partitions separate each pair of endpoints (index: see `link`).
    pub links_down: Vec<u16>,
    pub faults: FaultPlan,
    /// Triggered faults that have not fired yet (indices into `faults`; a `u16` holds every
    /// index, since validation caps a scenario at `fault_check::MAX_FAULTS` faults).
    pub armed: Vec<u16>,
    pub restart: RestartPolicy,
    /// Tasks waiting to be redeployed after a failure.
    pub restarting: Vec<bool>,
    /// The attempt number of each task (survives its failures).
    pub attempts: Vec<u32>,
    /// The highest offset each source task ever emitted (replays are counted against it).
    pub source_high: Vec<u64>,
    /// Set when the restart strategy gave up.
    pub job_failed: bool,
    pub violations: Vec<Violation>,
    next_id: Seq,
    /// Faults the explorer may inject (`Event::Inject(i)` injects entry i); empty for the
    /// timed driver, whose faults come from the scenario.
    pub injectable: FaultMenu,
    /// A reusable output buffer, empty between events.
    pub(crate) scratch: Scratch,
    /// Positions in the streams and the cut of every snapshot, for the checker; not part of
    /// fingerprints.
    pub flow: flow::Flow,
}

clone_fields!(World {
    job,
    tasks,
    channels,
    outputs,
    finished_tasks,
    counters,
    coordinator,
    store,
    control,
    timers,
    uploads,
    nodes_up,
    links_down,
    faults,
    armed,
    restart,
    restarting,
    attempts,
    source_high,
    job_failed,
    violations,
    next_id,
    injectable,
    scratch,
    flow
});

/// The hash of a world is its fingerprint (see `explore::fingerprint`): every field that can
/// influence what happens next, with control messages, timers and uploads taken as multisets
/// (their order in the lists is only their creation order), and without timestamps, ids,
/// statistics or the shared job.
impl std::hash::Hash for World {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.tasks.hash(h);
        self.channels.hash(h);
        self.outputs.hash(h);
        self.finished_tasks.hash(h);
        self.counters.checkpoints_triggered.hash(h);
        self.counters.faults.hash(h);
        self.coordinator.hash(h);
        self.store.hash(h);
        self.control.hash(h);
        self.timers.hash(h);
        self.uploads.hash(h);
        self.nodes_up.hash(h);
        self.links_down.hash(h);
        self.armed.hash(h);
        self.restart.hash(h);
        self.restarting.hash(h);
        self.attempts.hash(h);
        self.job_failed.hash(h);
        self.violations.hash(h);
        // `source_high` only matters to the `no_source_rewind` mutation.
        if self.mutated(Mutation::NoSourceRewind) {
            self.source_high.hash(h);
        }
    }
}

/// A buffer that is always empty between events, so it takes no part in equality, hashing
/// or cloning.
#[derive(Debug, Default)]
pub(crate) struct Scratch(pub Vec<crate::record::Record>);

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }

    fn clone_from(&mut self, _: &Self) {
        // Both are empty; keep this one's allocation.
        self.0.clear();
    }
}

impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Scratch {}

impl std::hash::Hash for Scratch {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// The shared job, compared by identity: two worlds of the same run share it.
#[derive(Clone, Debug)]
pub struct JobRef(pub Arc<Job>);

impl PartialEq for JobRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for JobRef {}

impl std::hash::Hash for JobRef {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl std::ops::Deref for JobRef {
    type Target = Job;
    fn deref(&self) -> &Job {
        &self.0
    }
}

pub fn coordinator_config(job: &Job) -> CoordinatorConfig {
    let c = job.scenario.checkpointing;
    CoordinatorConfig {
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
        min_pause_ms: c.min_pause_ms,
        max_concurrent: c.max_concurrent,
        tolerable_failures: c.tolerable_failures,
        complete_on_first_ack: job.scenario.mutations.contains(&Mutation::CompleteOnFirstAck),
    }
}

impl World {
    /// The world at time zero: every task running from its initial state, channels empty.
    /// Call [`World::start`] before the first event.
    pub fn new(job: Arc<Job>, faults: Vec<PlannedFault>) -> World {
        let tasks = (0..job.tasks.len())
            .map(|t| Tracked::new(TaskState::initial(&job, TaskId(t as u32), 0)))
            .collect();
        let channels = vec![Tracked::default(); job.channels.len()];
        let outputs = job
            .scenario
            .operators
            .iter()
            .map(|op| match op.kind {
                OpKind::Sink { delivery } => {
                    Tracked::new(SinkOutput::new(delivery, job.scenario.keys.len()))
                }
                _ => Tracked::default(),
            })
            .collect();
        let checkpointing = job.scenario.checkpointing.mode != CheckpointMode::Disabled;
        let endpoints = usize::from(job.scenario.nodes) + 1;
        let coordinator = checkpointing.then(|| {
            Tracked::new(Coordinator::new(coordinator_config(&job), CheckpointId(1), None))
        });
        let n = job.tasks.len();
        World {
            tasks,
            channels,
            outputs,
            finished_tasks: 0,
            counters: Counters::default(),
            coordinator,
            store: Tracked::default(),
            control: Tracked::default(),
            timers: Tracked::default(),
            uploads: Tracked::default(),
            nodes_up: vec![true; usize::from(job.scenario.nodes)],
            links_down: vec![0; endpoints * endpoints],
            armed: (0..faults.len() as u16)
                .filter(|&i| matches!(faults[usize::from(i)].trigger, FaultTrigger::On { .. }))
                .collect(),
            faults: FaultPlan(Arc::new(faults)),
            restart: RestartPolicy::default(),
            restarting: vec![false; n],
            attempts: vec![0; n],
            source_high: vec![0; n],
            job_failed: false,
            violations: Vec::new(),
            next_id: Seq(0),
            injectable: FaultMenu::default(),
            scratch: Scratch::default(),
            flow: flow::Flow::new(&job),
            job: JobRef(job),
        }
    }

    /// Starts the run at `now`: schedules timed faults and starts the coordinator.
    pub fn start(&mut self, now: SimTime, env: &mut impl Env) {
        for i in 0..self.faults.0.len() {
            if let FaultTrigger::At { at_ms } = self.faults.0[i].trigger {
                self.set_timer(SimTime::from_ms(at_ms), TimerKind::Fault(i as u16), env);
            }
        }
        for t in 0..self.tasks.len() {
            env.wake(Event::Step(TaskId(t as u32)));
        }
        if self.restarting.iter().any(|r| *r) {
            // A restored world: deploying the tasks starts the coordinator.
            self.try_deploy(now, env);
        } else {
            self.start_coordinator(now, env);
        }
    }

    pub fn mutated(&self, m: Mutation) -> bool {
        self.job.scenario.mutations.contains(&m)
    }

    pub fn checkpointing(&self) -> bool {
        self.job.scenario.checkpointing.mode != CheckpointMode::Disabled
    }

    /// Every task has finished.
    pub fn is_finished(&self) -> bool {
        self.finished_tasks as usize == self.tasks.len()
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id.0 += 1;
        self.next_id.0
    }

    /// Whether `event` can happen, and the earliest time at which it can.
    pub fn due(&self, event: Event) -> Option<SimTime> {
        match event {
            Event::Deliver(c) => {
                let at = self.channels[c.index()].head_arrival()?;
                (!self.channel_cut(c)).then_some(at)
            }
            Event::Step(t) => self.step_due(t),
            Event::Control(id) => find(&self.control, id, |m| m.id).map(|m| m.at),
            Event::Timer(id) => find(&self.timers, id, |t| t.id).map(|t| t.at),
            Event::Upload(id) => find(&self.uploads, id, |u| u.id).map(|u| u.at),
            Event::Inject(i) => {
                let live = !self.job_failed && !self.is_finished();
                (live && usize::from(i) < self.injectable.0.len()).then_some(SimTime::ZERO)
            }
        }
    }

    /// Every event that can happen now or later, in a fixed order (sorted).
    pub fn enabled(&self) -> Vec<Event> {
        let mut out = Vec::new();
        self.enabled_into(&mut out);
        out
    }

    /// `enabled`, into a buffer (cleared first).
    pub fn enabled_into(&self, out: &mut Vec<Event>) {
        out.clear();
        let all = (0..self.tasks.len()).map(|t| Event::Step(TaskId(t as u32)));
        let delivers = (0..self.channels.len()).map(|c| Event::Deliver(ChannelId(c as u32)));
        let control = self.control.iter().map(|m| Event::Control(m.id));
        let timers = self.timers.iter().map(|t| Event::Timer(t.id));
        let uploads = self.uploads.iter().map(|u| Event::Upload(u.id));
        let steps = all
            .chain(delivers)
            .chain(control)
            .chain(timers)
            .chain(uploads)
            .filter(|e| self.due(*e).is_some());
        out.extend(steps);
    }

    /// Performs `event` at `now`. Returns false (and changes nothing) if it cannot happen.
    pub fn apply(&mut self, event: Event, now: SimTime, env: &mut impl Env) -> bool {
        match self.due(event) {
            Some(due) if due <= now => {}
            _ => return false,
        }
        self.apply_due(event, now, env);
        true
    }

    /// [`World::apply`] for a caller that has just seen `due(event)` at or before `now`.
    pub fn apply_due(&mut self, event: Event, now: SimTime, env: &mut impl Env) {
        match event {
            Event::Deliver(c) => self.deliver(c, now, env),
            Event::Step(t) => self.step(t, now, env),
            Event::Control(id) => {
                let i = position(&self.control, id, |m| m.id).expect("due() found it");
                let msg = self.control.remove(i);
                self.receive_control(msg, now, env);
            }
            Event::Timer(id) => {
                let i = position(&self.timers, id, |t| t.id).expect("due() found it");
                let timer = self.timers.remove(i);
                self.fire_timer(timer, now, env);
            }
            Event::Upload(id) => {
                let i = position(&self.uploads, id, |u| u.id).expect("due() found it");
                let upload = self.uploads.remove(i);
                self.finish_upload(upload, now, env);
            }
            Event::Inject(i) => {
                let action = self.injectable.0[usize::from(i)].clone();
                self.inject_action(action, now, env);
            }
        }
    }

    fn deliver(&mut self, c: ChannelId, now: SimTime, env: &mut impl Env) {
        let ch = &mut self.channels[c.index()];
        let (_, item) = ch.wire.pop_front().expect("due() saw an item on the wire");
        let more = !ch.wire.is_empty();
        let info = self.job.channels[c.index()];
        self.record(now, TraceEvent::Deliver { channel: c, item }, env);
        if self.tasks[info.to.index()].status == TaskStatus::Finished {
            // A finished task drops what still arrives (late barriers, end of partition).
            let job = self.job.0.clone();
            self.pump(&job, c, now, env);
        } else {
            self.channels[c.index()].input.push_back(item);
            self.tasks[info.to.index()].gate.mark_ready(info.input_index);
            env.wake(Event::Step(info.to));
        }
        if more {
            env.wake(Event::Deliver(c));
        }
    }

    /// Records a trace event, and arms faults triggered by it.
    pub(crate) fn record(&mut self, now: SimTime, event: TraceEvent, env: &mut impl Env) {
        if !self.armed.is_empty() {
            self.check_triggers(now, &event, env);
        }
        env.trace(now, event);
    }

    fn check_triggers(&mut self, now: SimTime, event: &TraceEvent, env: &mut impl Env) {
        let kind = event.kind();
        let mut fired = Vec::new();
        for &i in &self.armed {
            if let FaultTrigger::On { event: want, filter, delay_ms } =
                &self.faults.0[usize::from(i)].trigger
            {
                // The kind first: it is a cheap comparison, and rarely equal.
                if want == kind && event.matches(&self.job, want, filter) {
                    fired.push((i, *delay_ms));
                }
            }
        }
        for (i, delay_ms) in fired {
            self.armed.retain(|&a| a != i);
            self.set_timer(now.plus_us(delay_ms * 1000), TimerKind::Fault(i), env);
        }
    }

    pub(crate) fn set_timer(&mut self, at: SimTime, kind: TimerKind, env: &mut impl Env) {
        let id = self.fresh_id();
        self.timers.push(Timer { id, at, kind });
        env.wake(Event::Timer(id));
    }

    pub(crate) fn cancel_timer(&mut self, kind: TimerKind) {
        self.timers.retain(|t| t.kind != kind);
    }

    fn fire_timer(&mut self, timer: Timer, now: SimTime, env: &mut impl Env) {
        match timer.kind {
            TimerKind::Coord(t) => self.coordinator_timer(t, now, env),
            TimerKind::Fault(i) => self.inject(usize::from(i), now, env),
            TimerKind::Restart => self.try_deploy(now, env),
            TimerKind::NodeUp(n) => self.node_up(n, now, env),
            TimerKind::Heal(a, b) => self.heal(a, b, now, env),
            TimerKind::StorageUp => {
                self.store.failing = false;
                self.record(now, TraceEvent::StorageRecovered, env);
            }
            TimerKind::CoordinatorUp => self.coordinator_up(now, env),
        }
    }

    /// Index of the link between two endpoints in `links_down`.
    fn link(&self, a: Endpoint, b: Endpoint) -> usize {
        let e = usize::from(self.job.scenario.nodes) + 1;
        let idx = |x: Endpoint| match x {
            Endpoint::Coordinator => 0,
            Endpoint::Node(n) => n.index() + 1,
        };
        idx(a) * e + idx(b)
    }

    pub(crate) fn link_is_down(&self, a: Endpoint, b: Endpoint) -> bool {
        a != b && self.links_down[self.link(a, b)] > 0
    }

    /// Whether a partition separates the two ends of a data channel.
    pub(crate) fn channel_cut(&self, c: ChannelId) -> bool {
        let info = &self.job.channels[c.index()];
        let (a, b) = (self.job.tasks[info.from.index()].node, self.job.tasks[info.to.index()].node);
        a != b && self.links_down[self.link(Endpoint::Node(a), Endpoint::Node(b))] > 0
    }
}

/// Finds an element by id in a list sorted by id.
fn find<T>(v: &[T], id: u32, key: impl Fn(&T) -> u32) -> Option<&T> {
    position(v, id, key).map(|i| &v[i])
}

fn position<T>(v: &[T], id: u32, key: impl Fn(&T) -> u32) -> Option<usize> {
    v.binary_search_by_key(&id, key).ok()
}
