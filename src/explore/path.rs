//! The choice log of a path: replaying it from the initial world, and writing and reading its
//! choices as people and counterexample files do.

use super::{initial_world, step, Config, ExploreEnv};
use crate::graph::Job;
use crate::ids::SimTime;
use crate::trace::TraceHasher;
use crate::world::{Event, World};
use std::sync::Arc;

/// Replays a choice log from the initial world; returns the final world and the trace hash,
/// or the index of the first choice that was not enabled.
pub fn replay(job: &Arc<Job>, config: &Config, choices: &[Event]) -> Result<(World, u64), usize> {
    replay_traced(job, config, choices, false).map(|(w, h, _)| (w, h))
}

/// [`replay`], also returning the trace as JSON lines when `trace` is set.
pub fn replay_traced(
    job: &Arc<Job>,
    config: &Config,
    choices: &[Event],
    trace: bool,
) -> Result<(World, u64, Vec<String>), usize> {
    let mut w = initial_world(job, config);
    let lines = trace.then(|| (job.clone(), Vec::new()));
    let mut env = ExploreEnv { hasher: Some(TraceHasher::default()), lines };
    let mut now = SimTime::ZERO;
    for (i, &e) in choices.iter().enumerate() {
        if !step(&mut w, &mut now, e, &mut env) {
            return Err(i);
        }
    }
    let hash = env.hasher.map_or(0, |h| h.finish());
    Ok((w, hash, env.lines.map(|(_, l)| l).unwrap_or_default()))
}

/// A choice as people (and counterexample files) write it: `step count[0]`,
/// `deliver words[0]->count[0]`, `control 7`, `timer 3`, `upload 5`, `inject 2`.
pub fn event_name(job: &Job, e: Event) -> String {
    match e {
        Event::Step(t) => format!("step {}", job.task_name(t)),
        Event::Deliver(c) => format!("deliver {}", job.channel_name(c)),
        Event::Control(id) => format!("control {id}"),
        Event::Timer(id) => format!("timer {id}"),
        Event::Upload(id) => format!("upload {id}"),
        Event::Inject(i) => format!("inject {i}"),
    }
}

/// Parses what [`event_name`] wrote.
pub fn parse_event(job: &Job, s: &str) -> Option<Event> {
    let (verb, arg) = s.split_once(' ')?;
    match verb {
        "step" => (0..job.tasks.len())
            .map(|t| crate::ids::TaskId(t as u32))
            .find(|t| job.task_name(*t) == arg)
            .map(Event::Step),
        "deliver" => (0..job.channels.len())
            .map(|c| crate::ids::ChannelId(c as u32))
            .find(|c| job.channel_name(*c) == arg)
            .map(Event::Deliver),
        "control" => arg.parse().ok().map(Event::Control),
        "timer" => arg.parse().ok().map(Event::Timer),
        "upload" => arg.parse().ok().map(Event::Upload),
        "inject" => arg.parse().ok().map(Event::Inject),
        _ => None,
    }
}
