//! The world: the whole simulated system as one value.
//!
//! It holds every task (operator state, input gate, progress), every channel (output queue,
//! wire, input queue), and the external systems the sinks write to. It is `Clone` and `Eq`,
//! holds no pointers into itself and no hash maps: two worlds that compare equal behave the
//! same.
//!
//! The world does not choose. [`World::due`] says whether an [`Event`] can happen and from
//! when; [`World::apply`] performs it. Whatever is random (a latency) is asked of the
//! [`Env`], which also hears about events that may have become possible (`wake`) and
//! receives trace events. The timed driver ([`crate::sim`]) and, later, the explorer are
//! two `Env`s over the same world.

pub mod channel;
pub mod output;
mod task;

use crate::graph::Job;
use crate::ids::{ChannelId, SimTime, TaskId};
use crate::trace::TraceEvent;
use channel::Channel;
use output::SinkOutput;
use std::sync::Arc;
pub use task::{TaskKind, TaskState, TaskStatus};

/// Something that can happen in the world. A closed set: drivers enumerate these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// A task takes its next step: a source emits, an operator processes its next input.
    Step(TaskId),
    /// The head of a channel's wire arrives in the receiver's input queue.
    Deliver(ChannelId),
}

impl Event {
    /// A dense index, unique per event, for drivers that track what they scheduled.
    pub fn slot(&self, job: &Job) -> usize {
        match *self {
            Event::Step(t) => t.index(),
            Event::Deliver(c) => job.tasks.len() + c.index(),
        }
    }

    pub fn slots(job: &Job) -> usize {
        job.tasks.len() + job.channels.len()
    }
}

/// What the world needs from whoever drives it.
pub trait Env {
    /// The latency of one item put on a data channel, in µs.
    fn data_latency(&mut self, channel: ChannelId) -> u64;
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
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    pub job: JobRef,
    pub tasks: Vec<TaskState>,
    pub channels: Vec<Channel>,
    /// One per operator; only sinks' are ever written.
    pub outputs: Vec<SinkOutput>,
    pub finished_tasks: u32,
    pub counters: Counters,
    /// A reusable output buffer, empty between events.
    pub(crate) scratch: Scratch,
}

/// A buffer that is always empty between events, so it takes no part in equality, hashing
/// or cloning.
#[derive(Debug, Default)]
pub(crate) struct Scratch(pub Vec<crate::record::Record>);

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
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

impl World {
    /// The world at time zero: every task running from its initial state, channels empty.
    pub fn new(job: Arc<Job>) -> World {
        let tasks =
            (0..job.tasks.len()).map(|t| TaskState::initial(&job, TaskId(t as u32), 0)).collect();
        let channels = vec![Channel::default(); job.channels.len()];
        let outputs = job
            .scenario
            .operators
            .iter()
            .map(|op| match op.kind {
                crate::scenario::model::OpKind::Sink { delivery } => {
                    SinkOutput::new(delivery, job.scenario.keys.len())
                }
                _ => SinkOutput::default(),
            })
            .collect();
        World {
            job: JobRef(job),
            tasks,
            channels,
            outputs,
            finished_tasks: 0,
            counters: Counters::default(),
            scratch: Scratch::default(),
        }
    }

    /// Every task has finished.
    pub fn is_finished(&self) -> bool {
        self.finished_tasks as usize == self.tasks.len()
    }

    /// The events a driver should look at first: every task's step.
    pub fn initial_events(&self) -> impl Iterator<Item = Event> + '_ {
        (0..self.tasks.len()).map(|t| Event::Step(TaskId(t as u32)))
    }

    /// Whether `event` can happen, and the earliest time at which it can.
    pub fn due(&self, event: Event) -> Option<SimTime> {
        match event {
            Event::Deliver(c) => self.channels[c.index()].head_arrival(),
            Event::Step(t) => self.step_due(t),
        }
    }

    /// Every event that can happen now or later, in a fixed order (sorted).
    pub fn enabled(&self) -> Vec<Event> {
        let steps = (0..self.tasks.len()).map(|t| Event::Step(TaskId(t as u32)));
        let delivers = (0..self.channels.len()).map(|c| Event::Deliver(ChannelId(c as u32)));
        steps.chain(delivers).filter(|e| self.due(*e).is_some()).collect()
    }

    /// Performs `event` at `now`. Returns false (and changes nothing) if it cannot happen.
    pub fn apply(&mut self, event: Event, now: SimTime, env: &mut impl Env) -> bool {
        match self.due(event) {
            Some(due) if due <= now => {}
            _ => return false,
        }
        match event {
            Event::Deliver(c) => self.deliver(c, now, env),
            Event::Step(t) => self.step(t, now, env),
        }
        true
    }

    fn deliver(&mut self, c: ChannelId, now: SimTime, env: &mut impl Env) {
        let ch = &mut self.channels[c.index()];
        let (_, item) = ch.wire.pop_front().expect("due() saw an item on the wire");
        ch.input.push_back(item);
        let more = !ch.wire.is_empty();
        let info = self.job.channels[c.index()];
        env.trace(now, TraceEvent::Deliver { channel: c, item });
        self.tasks[info.to.index()].gate.mark_ready(info.input_index);
        env.wake(Event::Step(info.to));
        if more {
            env.wake(Event::Deliver(c));
        }
    }
}
