//! The verification mode of the reduction: the dependency relation and the stubborn sets are
//! checked against what the world actually does, state by state (issue: "verified, not
//! trusted"). Tests run it over every state of the tiny fixtures and along random walks of
//! the shipped scenarios; a new event kind or protocol rule that breaks the relation fails
//! there instead of silently losing states.
//!
//! In each state it checks:
//!
//! 1. **Independence.** For every pair of enabled events whose footprints do not conflict:
//!    either order reaches the same fingerprint, neither disables the other, and neither
//!    changes the other's footprint.
//! 2. **Footprints hold what the event does.** Every part of the world an event changes is a
//!    resource its footprint writes or appends to (or the footprint is global).
//! 3. **Stubborn sets** (bounded). Along every path of up to `depth` events outside the
//!    chosen set: each chosen event stays enabled and commutes with the whole path (taking it
//!    first, then the path, reaches the same fingerprint), and no new event of a template of
//!    the set becomes enabled.

use super::footprint::{Footprint, Fp, Res, Single};
use super::{choices, fingerprint, initial_world, por, step, stubborn, Config, ExploreEnv};
use crate::graph::Job;
use crate::ids::{ChannelId, SimTime, TaskId};
use crate::world::{Event, TaskKind, TaskState, TaskStatus, World};
use std::sync::Arc;

/// What a verification run saw and found.
#[derive(Debug, Default)]
pub struct Report {
    pub states: u64,
    /// Pairs of enabled events checked for independence.
    pub pairs: u64,
    /// Events whose footprint was checked against their effect.
    pub effects: u64,
    /// Reduced states whose stubborn set was checked, and the outside paths tried.
    pub reduced: u64,
    pub outside_paths: u64,
    /// What is wrong (empty: nothing found).
    pub problems: Vec<String>,
}

impl Report {
    fn problem(&mut self, job: &Job, w: &World, what: String) {
        if self.problems.len() < 200 {
            let _ = (job, w);
            self.problems.push(what);
        }
    }
}

/// A world with the explorer's clock.
#[derive(Clone)]
struct At {
    w: World,
    now: SimTime,
}

fn apply(job: &Job, at: &At, e: Event) -> Option<At> {
    let _ = job;
    let mut next = at.clone();
    let mut env = ExploreEnv { hasher: None, lines: None };
    step(&mut next.w, &mut next.now, e, &mut env).then_some(next)
}

/// What the explorer may take in `at`: nothing once the job has finished.
fn enabled(at: &At, config: &Config) -> Vec<Event> {
    if at.w.is_finished() {
        return Vec::new();
    }
    choices(&at.w, config).0
}

/// The enabled event of `at` with key `k`, if any.
fn by_key(at: &At, config: &Config, k: u64) -> Option<Event> {
    enabled(at, config).into_iter().find(|&e| por::key(&at.w, e) == k)
}

/// Checks every state reachable from the initial world (depth first, no reduction) up to
/// `max_states` states.
pub fn verify_all(job: &Arc<Job>, config: &Config, max_states: u64, depth: usize) -> Report {
    verify_all_with(job, config, max_states, depth, Fp::new(job, false))
}

fn verify_all_with(
    job: &Arc<Job>,
    config: &Config,
    max_states: u64,
    depth: usize,
    fp: Fp<'_>,
) -> Report {
    let mut report = Report::default();
    let mut seen = super::VisitedSet::default();
    let root = At { w: initial_world(job, config), now: SimTime::ZERO };
    seen.insert(fingerprint(&root.w));
    let mut stack = vec![root];
    while let Some(at) = stack.pop() {
        if report.states >= max_states {
            break;
        }
        check_state(job, config, &at, depth, fp, &mut report);
        if at.w.is_finished() {
            continue; // the explorer does not expand finished states either
        }
        for e in choices(&at.w, config).0 {
            if let Some(next) = apply(job, &at, e) {
                if seen.insert(fingerprint(&next.w)) {
                    stack.push(next);
                }
            }
        }
    }
    report
}

/// Checks the states of `walks` random walks of up to `length` events each (seeded: the same
/// walks every time).
pub fn verify_walks(
    job: &Arc<Job>,
    config: &Config,
    walks: u64,
    length: usize,
    depth: usize,
) -> Report {
    let mut report = Report::default();
    for walk in 0..walks {
        let mut at = At { w: initial_world(job, config), now: SimTime::ZERO };
        let mut x = crate::record::fmix64(walk.wrapping_add(0x5eed));
        for _ in 0..length {
            check_state(job, config, &at, depth, Fp::new(job, false), &mut report);
            let events = choices(&at.w, config).0;
            if events.is_empty() {
                break;
            }
            x = crate::record::fmix64(x.wrapping_add(1));
            let e = events[(x % events.len() as u64) as usize];
            at = apply(job, &at, e).expect("an enabled event applies");
        }
    }
    report
}

fn check_state(job: &Job, config: &Config, at: &At, depth: usize, fp: Fp<'_>, report: &mut Report) {
    report.states += 1;
    let events = enabled(at, config);
    let prints: Vec<Footprint> = events.iter().map(|&e| fp.of(&at.w, e)).collect();
    let after: Vec<Option<At>> = events.iter().map(|&e| apply(job, at, e)).collect();
    // 2. Footprints hold what the event does.
    for (i, &e) in events.iter().enumerate() {
        let Some(next) = &after[i] else {
            report.problem(job, &at.w, format!("{e:?} is enabled but does not apply"));
            continue;
        };
        report.effects += 1;
        if let Some(part) = undeclared(job, &at.w, &next.w, e, &prints[i]) {
            report.problem(
                job,
                &at.w,
                format!(
                    "{} changes {part}, outside its footprint",
                    super::event_name(job, &at.w, e)
                ),
            );
        }
    }
    // 1. Independence.
    for i in 0..events.len() {
        for j in i + 1..events.len() {
            if prints[i].conflicts(&prints[j]) {
                continue;
            }
            report.pairs += 1;
            let (a, b) = (events[i], events[j]);
            let (ka, kb) = (por::key(&at.w, a), por::key(&at.w, b));
            let (Some(wa), Some(wb)) = (&after[i], &after[j]) else { continue };
            let name = |e| super::event_name(job, &at.w, e);
            // An event that finishes the job absorbs the other: nothing happens after it, and
            // what the other did is dropped with everything in flight (`World::finish`).
            if wa.w.is_finished() || wb.w.is_finished() {
                let (done, other, k) = if wa.w.is_finished() { (wa, wb, ka) } else { (wb, wa, kb) };
                let same = by_key(other, config, k)
                    .and_then(|e| apply(job, other, e))
                    .is_some_and(|x| fingerprint(&x.w) == fingerprint(&done.w));
                if !same {
                    report.problem(
                        job,
                        &at.w,
                        format!(
                            "{} and {} finish the job differently in either order",
                            name(a),
                            name(b)
                        ),
                    );
                }
                continue;
            }
            let (Some(b2), Some(a2)) = (by_key(wa, config, kb), by_key(wb, config, ka)) else {
                report.problem(
                    job,
                    &at.w,
                    format!("independent {} and {} disable each other", name(a), name(b)),
                );
                continue;
            };
            // (Ignoring that one may have made the other the job's last finish: a job's finish
            // absorbs every other event, which the check above covers.)
            let mut stable = fp;
            stable.finish_drops = false;
            let (pa, pb) = (stable.of(&at.w, a), stable.of(&at.w, b));
            if stable.of(&wa.w, b2) != pb || stable.of(&wb.w, a2) != pa {
                report.problem(
                    job,
                    &at.w,
                    format!(
                        "independent {} and {} change each other's footprint",
                        name(a),
                        name(b)
                    ),
                );
            }
            let (Some(ab), Some(ba)) = (apply(job, wa, b2), apply(job, wb, a2)) else { continue };
            if fingerprint(&ab.w) != fingerprint(&ba.w) {
                report.problem(
                    job,
                    &at.w,
                    format!("independent {} and {} do not commute", name(a), name(b)),
                );
            }
        }
    }
    // 3. Stubborn sets.
    if config.reduce && depth > 0 {
        let Some(set) = stubborn::chosen(job, &at.w, &events, config.max_checkpoints) else {
            return;
        };
        report.reduced += 1;
        let inside: Vec<(u64, At)> = events
            .iter()
            .zip(&after)
            .filter(|(e, _)| set.contains(&at.w, **e) == Some(true))
            .filter_map(|(e, n)| Some((por::key(&at.w, *e), n.clone()?)))
            .collect();
        let mut path = Vec::new();
        outside(job, config, &set, at, &inside, &mut path, depth, report);
    }
}

/// Walks every path of events outside `set` from `at` (up to `depth` more), checking the
/// chosen events `inside` (by key, with their successors from the state the set was chosen
/// in) at every state on the way.
#[allow(clippy::too_many_arguments)]
fn outside(
    job: &Job,
    config: &Config,
    set: &stubborn::Chosen,
    at: &At,
    inside: &[(u64, At)],
    path: &mut Vec<u64>,
    depth: usize,
    report: &mut Report,
) {
    let events = enabled(at, config);
    if !path.is_empty() {
        report.outside_paths += 1;
        for (k, first) in inside {
            if at.w.is_finished() {
                // The path finished the job: the chosen event, taken first, must have been
                // absorbed by it (the same finished world).
                let mut early = first.clone();
                let mut ok = !early.w.is_finished();
                for pk in path.iter() {
                    match by_key(&early, config, *pk).and_then(|pe| apply(job, &early, pe)) {
                        Some(n) if ok => early = n,
                        _ => ok = false,
                    }
                }
                if !ok || fingerprint(&early.w) != fingerprint(&at.w) {
                    report.problem(job, &at.w, "a path outside the stubborn set finishes the job without the chosen event's effect being dropped".into());
                }
                continue;
            }
            if first.w.is_finished() {
                // The chosen event finishes the job: the path before it changes nothing that
                // outlives the finish.
                let late = by_key(at, config, *k).and_then(|e| apply(job, at, e));
                if late.is_none_or(|l| fingerprint(&l.w) != fingerprint(&first.w)) {
                    report.problem(job, &at.w, "a path outside the stubborn set changes what the chosen event's finish of the job keeps".into());
                }
                continue;
            }
            let Some(e) = by_key(at, config, *k) else {
                report.problem(
                    job,
                    &at.w,
                    "an event of the stubborn set was disabled by events outside it".into(),
                );
                continue;
            };
            let Some(late) = apply(job, at, e) else { continue };
            // The same path after the chosen event.
            let mut early = first.clone();
            let mut ok = true;
            for pk in path.iter() {
                if early.w.is_finished() {
                    // The job finished on the way: the rest of the path is absorbed by it.
                    break;
                }
                match by_key(&early, config, *pk).and_then(|pe| apply(job, &early, pe)) {
                    Some(n) => early = n,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                report.problem(
                    job,
                    &at.w,
                    format!(
                        "after {} the path outside the stubborn set ({} events) is not possible",
                        super::event_name(job, &at.w, e),
                        path.len()
                    ),
                );
            } else if fingerprint(&early.w) != fingerprint(&late.w) {
                report.problem(
                    job,
                    &at.w,
                    format!(
                        "{} does not commute with a path outside the stubborn set",
                        super::event_name(job, &at.w, e)
                    ),
                );
            }
        }
        for &e in &events {
            if set.contains(&at.w, e) == Some(true)
                && !inside.iter().any(|(k, _)| *k == por::key(&at.w, e))
            {
                report.problem(
                    job,
                    &at.w,
                    format!(
                        "a path outside the stubborn set enabled {}, of a template in the set",
                        super::event_name(job, &at.w, e)
                    ),
                );
            }
        }
    }
    if depth == 0 {
        return;
    }
    for e in events {
        if matches!(e, Event::Inject(_)) || set.contains(&at.w, e) == Some(true) {
            continue;
        }
        let Some(next) = apply(job, at, e) else { continue };
        path.push(por::key(&at.w, e));
        outside(job, config, set, &next, inside, path, depth - 1, report);
        path.pop();
    }
}

/// The first part of the world that `e` changed (from `w` to `next`) outside the writes and
/// appends of `f`, if any.
fn undeclared(job: &Job, w: &World, next: &World, e: Event, f: &Footprint) -> Option<String> {
    if f.global {
        return None;
    }
    // Finishing the job drops everything in flight (`World::finish`): only what survives it
    // is checked then.
    let finishes = !w.is_finished() && next.is_finished();
    let res = Res(job);
    let may = |r: u32| f.w.has(r) || f.a.has(r);
    for (i, (a, b)) in w.tasks.iter().zip(&next.tasks).enumerate() {
        let t = TaskId(i as u32);
        let name = job.task_name(t);
        if a.status != b.status && !may(res.status(t)) {
            return Some(format!("the status of {name}"));
        }
        let finished =
            |s: &TaskState| matches!(s.status, TaskStatus::Finished | TaskStatus::Failed);
        if finished(a) != finished(b) && !may(res.plan(t)) {
            return Some(format!("whether {name} is finished (the plan)"));
        }
        if a.gate != b.gate && !may(res.gate(t)) {
            return Some(format!("the input gate of {name}"));
        }
        let pending = |s: &TaskState| match &s.kind {
            TaskKind::Sink(m) => m.pending().to_vec(),
            _ => Vec::new(),
        };
        let ckpt = a.checkpointer != b.checkpointer
            || a.final_checkpoint != b.final_checkpoint
            || pending(a) != pending(b);
        if ckpt && !may(res.ckpt(t)) {
            return Some(format!("the checkpoint bookkeeping of {name}"));
        }
        let kind_same = match (&a.kind, &b.kind) {
            (TaskKind::Sink(x), TaskKind::Sink(y)) => x.eq_except_pending(y),
            (x, y) => x == y,
        };
        let own = !kind_same || a.attempt != b.attempt || a.rr != b.rr || a.handler != b.handler;
        if own && !may(res.task(t)) {
            return Some(format!("the state of {name}"));
        }
    }
    for (i, (a, b)) in w.channels.iter().zip(&next.channels).enumerate() {
        if finishes {
            break;
        }
        let c = ChannelId(i as u32);
        if (a.out != b.out || a.wire.len() != b.wire.len()) && !may(res.chan_tail(c)) {
            return Some(format!("the sender's side of {}", job.channel_name(c)));
        }
        if a.input != b.input && !may(res.chan_in(c)) {
            return Some(format!("the input queue of {}", job.channel_name(c)));
        }
    }
    for (op, (a, b)) in w.outputs.iter().zip(&next.outputs).enumerate() {
        if **a != **b && !may(res.output(op)) {
            return Some(format!("the output of {}", job.scenario.operators[op].name));
        }
    }
    if w.coordinator != next.coordinator && !may(res.single(Single::Coordinator)) {
        return Some("the coordinator".into());
    }
    if w.store.completed != next.store.completed && !may(res.single(Single::StoreCompleted)) {
        return Some("the completed checkpoints".into());
    }
    let next_id = w.store.next_id != next.store.next_id
        || w.counters.checkpoints_triggered != next.counters.checkpoints_triggered;
    if next_id && !may(res.single(Single::StoreNext)) {
        return Some("the checkpoint id counter".into());
    }
    if finishes {
        return None;
    }
    if w.store.uploaded != next.store.uploaded && !may(res.single(Single::Uploaded)) {
        return Some("the uploaded snapshots".into());
    }
    // Uploads in flight: an event may remove its own; removing another's is a cancellation.
    for u in w.uploads.iter() {
        let own = matches!(e, Event::Upload(id) if id == u.id);
        if !own && !next.uploads.iter().any(|x| x.id == u.id) && !may(res.upload_of(u.task)) {
            return Some(format!("the upload of {}", job.task_name(u.task)));
        }
    }
    // Messages and timers: only an event's own may go (others only under a global footprint).
    for m in w.control.iter() {
        let own = matches!(e, Event::Control(id) if id == m.id);
        if !own && !next.control.iter().any(|x| x.id == m.id) {
            return Some("another control message".into());
        }
    }
    for t in w.timers.iter() {
        let own = matches!(e, Event::Timer(id) if id == t.id);
        let coord = matches!(t.kind, crate::world::TimerKind::Coord(_));
        let kept = next.timers.iter().any(|x| x.id == t.id);
        if !(own || kept || coord && may(res.single(Single::Coordinator))) {
            return Some("another timer".into());
        }
    }
    if w.violations != next.violations
        && !(0..job.scenario.operators.len()).any(|op| may(res.output(op)))
    {
        return Some("the violations".into());
    }
    if w.job_failed != next.job_failed
        || w.attempts != next.attempts
        || w.restarting != next.restarting
        || w.nodes_up != next.nodes_up
        || w.links_down != next.links_down
        || w.counters.faults != next.counters.faults
        || w.store.failing != next.store.failing
    {
        return Some("the cluster (attempts, nodes, links, failures)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deliberately_wrong_footprint_is_caught_by_the_verification_mode() {
        let s = crate::scenario::load_file(std::path::Path::new(
            "scenarios/explore/tiny-wordcount.json",
        ))
        .expect("loads");
        let job = Arc::new(Job::new(s));
        let config = Config { max_checkpoints: 0, ..Config::default() };
        let right = verify_all(&job, &config, 2_000, 0);
        assert!(right.problems.is_empty(), "{:?}", right.problems);
        let mut fp = Fp::new(&job, false);
        fp.broken = true;
        let wrong = verify_all_with(&job, &config, 2_000, 0, fp);
        assert!(
            wrong.problems.iter().any(|p| p.contains("outside its footprint")),
            "{:?}",
            wrong.problems
        );
        assert!(
            wrong.problems.iter().any(|p| p.contains("do not commute")),
            "{:?}",
            wrong.problems
        );
    }
}
