//! Partial-order reduction with sleep sets (Godefroid).
//!
//! Two events are independent when their footprints — the resources they read or write — are
//! disjoint: applying them in either order then gives the same world (up to the names of
//! messages they create, which fingerprints ignore), and neither enables or disables the
//! other. Resources are tasks, channels, sink outputs (by operator), the coordinator and the
//! checkpoint store. An event that can change a task's status (its end of input, its finish, a
//! failure, a fault) is dependent on everything: task statuses are read by the coordinator's
//! checkpoint plan, so a status change does not commute with anything.
//!
//! After a node explores event `a` and then `b`, the successor reached by `b` "sleeps" on `a`
//! if `a` and `b` are independent: the interleavings that start `b; a` are covered by those
//! that start `a; b`. Sleep sets only prune transitions; with the visited set's re-exploration
//! rule (`VisitedSet::admit`) every reachable state is still reached and checked.

use crate::graph::Job;
use crate::ids::{ChannelId, TaskId};
use crate::protocol::coordinator::CoordTimer;
use crate::scenario::model::OpKind;
use crate::world::channel::Item;
use crate::world::{Control, Event, TaskKind, TaskStatus, TimerKind, World};

/// A set of sleeping events, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sleep(Vec<Event>);

impl Sleep {
    pub fn contains(&self, e: &Event) -> bool {
        self.0.binary_search(e).is_ok()
    }

    pub fn is_subset(&self, other: &Sleep) -> bool {
        self.0.iter().all(|e| other.contains(e))
    }

    pub fn intersect(&self, other: &Sleep) -> Sleep {
        Sleep(self.0.iter().copied().filter(|e| other.contains(e)).collect())
    }

    pub fn events(&self) -> &[Event] {
        &self.0
    }

    /// The sleep set of the successor reached by `e` from a node with this sleep set, in
    /// which `done` were explored before `e`. `fp` gives the footprints of the node's events
    /// (its enabled events and its sleeping ones), computed once per node.
    pub fn after(&self, done: &[Event], e: Event, fp: &dyn Fn(Event) -> Footprint) -> Sleep {
        let fp_e = fp(e);
        if matches!(fp_e, Footprint::Global) {
            return Sleep::default();
        }
        let mut next: Vec<Event> = self
            .0
            .iter()
            .chain(done)
            .copied()
            .filter(|&x| x != e && independent(&fp(x), &fp_e))
            .collect();
        next.sort_unstable();
        next.dedup();
        Sleep(next)
    }
}

/// What an event touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Footprint {
    Global,
    Local(Vec<u32>),
}

fn independent(a: &Footprint, b: &Footprint) -> bool {
    match (a, b) {
        (Footprint::Local(x), Footprint::Local(y)) => x.iter().all(|r| !y.contains(r)),
        _ => false,
    }
}

/// Resource numbering: tasks, then channels, then sink outputs (by operator), then the
/// coordinator and the store.
struct Res<'a>(&'a Job);

impl Res<'_> {
    fn task(&self, t: TaskId) -> u32 {
        t.0
    }
    fn channel(&self, c: ChannelId) -> u32 {
        self.0.tasks.len() as u32 + c.0
    }
    fn sink_out(&self, t: TaskId) -> u32 {
        (self.0.tasks.len() + self.0.channels.len()) as u32
            + u32::from(self.0.tasks[t.index()].op.0)
    }
    fn coordinator(&self) -> u32 {
        (self.0.tasks.len() + self.0.channels.len() + self.0.scenario.operators.len()) as u32
    }
    fn store(&self) -> u32 {
        self.coordinator() + 1
    }
    /// A task with everything its own processing may touch: its output channels (it sends)
    /// and its sink output.
    fn task_with_outputs(&self, t: TaskId) -> Vec<u32> {
        let mut r = vec![self.task(t)];
        if matches!(self.0.operator_of(t).kind, OpKind::Sink { .. }) {
            r.push(self.sink_out(t));
        }
        for o in &self.0.tasks[t.index()].outputs {
            r.extend((0..u32::from(o.receivers)).map(|j| self.channel(ChannelId(o.first.0 + j))));
        }
        r
    }
}

/// The footprint of `e` in world `w`.
pub fn footprint(job: &Job, w: &World, e: Event) -> Footprint {
    let res = Res(job);
    match e {
        Event::Deliver(c) => {
            let info = &job.channels[c.index()];
            let mut r = vec![res.channel(c), res.task(info.to)];
            if w.tasks[info.to.index()].status == TaskStatus::Finished {
                r.push(res.task(info.from)); // the item is dropped and credit returns at once
            }
            Footprint::Local(r)
        }
        Event::Step(t) => step_footprint(job, &res, w, t),
        Event::Upload(id) => match w.uploads.iter().find(|u| u.id == id) {
            // Stores the snapshot and sends the acknowledgement.
            Some(u) => Footprint::Local(vec![res.task(u.task), res.store()]),
            None => Footprint::Global,
        },
        Event::Control(id) => match w.control.iter().find(|m| m.id == id).map(|m| m.body) {
            Some(Control::Ack { .. } | Control::Decline { .. }) => {
                // The coordinator may complete the checkpoint: store, then notices out.
                Footprint::Local(vec![res.coordinator(), res.store()])
            }
            Some(Control::Trigger { task, .. } | Control::NotifyAborted { task, .. }) => {
                // A snapshot (or a cancelled upload) of that task; a notice of abort may carry
                // a completion, which commits.
                let mut r = res.task_with_outputs(task);
                r.push(res.store());
                for c in &job.tasks[task.index()].inputs {
                    r.push(res.channel(*c));
                }
                if matches!(
                    w.control.iter().find(|m| m.id == id).map(|m| m.body),
                    Some(Control::NotifyAborted { .. })
                ) && w.tasks[task.index()].status == TaskStatus::Finishing
                {
                    return Footprint::Global;
                }
                Footprint::Local(r)
            }
            Some(Control::NotifyComplete { task, .. }) => {
                // Commits (reading the store); a finishing task finishes: a status change.
                if w.tasks[task.index()].status == TaskStatus::Finishing {
                    return Footprint::Global;
                }
                let mut r = res.task_with_outputs(task);
                r.push(res.store());
                Footprint::Local(r)
            }
            None => Footprint::Global,
        },
        Event::Timer(id) => match w.timers.iter().find(|t| t.id == id).map(|t| t.kind) {
            // The coordinator's own timers: triggers (reading task statuses, which only
            // global events change) and timeouts.
            Some(TimerKind::Coord(CoordTimer::Trigger | CoordTimer::Timeout(_))) => {
                Footprint::Local(vec![res.coordinator(), res.store()])
            }
            _ => Footprint::Global,
        },
        Event::Inject(_) => Footprint::Global,
    }
}

fn step_footprint(job: &Job, res: &Res<'_>, w: &World, t: TaskId) -> Footprint {
    let state = &w.tasks[t.index()];
    let info = &job.tasks[t.index()];
    let mut r = res.task_with_outputs(t);
    match &state.kind {
        TaskKind::Source(s) => {
            let OpKind::Source(def) = &job.operator_of(t).kind else { return Footprint::Global };
            if s.offset >= def.partitions[usize::from(info.subtask)].len() as u64 {
                return Footprint::Global; // end of data: the task starts finishing
            }
        }
        _ => {
            let Some(&input) = state.gate.ready.front() else { return Footprint::Global };
            let c = info.inputs[usize::from(input)];
            match w.channels[c.index()].input.front() {
                Some(Item::Record(_) | Item::Watermark(_)) => {}
                // Barrier handling: blocks and resumes this task's inputs, snapshots, sends.
                Some(Item::Barrier(_) | Item::Cancel(_)) => {
                    r.extend(info.inputs.iter().map(|c| res.channel(*c)));
                    r.push(res.store());
                }
                // End of data or of partition may end the task's input: a status change.
                _ => return Footprint::Global,
            }
            r.push(res.channel(c));
            r.push(res.task(job.channels[c.index()].from));
        }
    }
    Footprint::Local(r)
}
