//! `recoverable_checkpoints` in time linear in the run: each completed checkpoint judged as a
//! consistent cut, from the positions the world recorded when each task took its snapshot
//! (`world::flow`), instead of a failure-free run restored from it.
//!
//! A restore from checkpoint *n* puts every task back where its snapshot cut its streams, with
//! its channels empty, every source rewound to its recorded offset and every sink's
//! pre-committed transactions committed again. That is a state a failure-free run passes
//! through exactly when, with exactly-once expected:
//! * on every channel, the receiver's snapshot took exactly the records the sender's snapshot
//!   had sent (no record counted on both sides of the cut, none on neither);
//! * every source's recorded offset is the number of records it had read;
//! * after the restore's commits, the external system behind every transactional sink holds
//!   exactly the records its subtasks had taken before their snapshots (as multisets).
//!
//! With at-least-once expected, records may be taken twice but not lost: a receiver may have
//! taken more than its sender sent, a source may rewind further back, and the external system
//! may hold more. A task the checkpoint names no state for restarts from scratch (position
//! zero), and is judged so. docs/invariants.md gives the reasoning and what this check does
//! not see (the contents of a snapshot, and the restore code itself: the caller restores one
//! checkpoint for real).

use crate::explore::ExploreEnv;
use crate::graph::Job;
use crate::ids::{ChannelId, TaskId};
use crate::ids::{OperatorId, SimTime};
use crate::scenario::model::{Delivery, OpKind};
use crate::world::flow::{keeps_state, Bag, TaskCut};
use crate::world::output::SinkOutput;
use crate::world::store::TaskSnapshot;
use crate::world::{TaskKind, TaskStatus, World};

/// Running multiset hashes of each sink's log, advanced from one checkpoint's mark to the
/// next (marks only grow within a run), so that all checkpoints together read each log once.
pub struct LogBags {
    pos: Vec<usize>,
    bag: Vec<Bag>,
}

impl LogBags {
    pub fn new(operators: usize) -> LogBags {
        LogBags { pos: vec![0; operators], bag: vec![Bag::default(); operators] }
    }

    fn upto(&mut self, out: &SinkOutput, op: usize, len: usize) -> Bag {
        let len = len.min(out.log.len());
        if len < self.pos[op] {
            self.pos[op] = 0;
            self.bag[op] = Bag::default();
        }
        for r in &out.log[self.pos[op]..len] {
            self.bag[op].add(r);
        }
        self.pos[op] = len;
        self.bag[op]
    }
}

/// Equal positions, a missing one counting as zero (a task restored from scratch).
fn same(a: &[u64], b: &[u64]) -> bool {
    (0..a.len().max(b.len())).all(|k| a.get(k).unwrap_or(&0) == b.get(k).unwrap_or(&0))
}

/// The position of channel `c` among task `t`'s outputs, in the order `TaskCut::sent` uses.
fn output_index(job: &Job, t: TaskId, c: ChannelId) -> Option<usize> {
    let mut k = 0;
    for o in &job.tasks[t.index()].outputs {
        let r = u32::from(o.receivers);
        if (o.first.0..o.first.0 + r).contains(&c.0) {
            return Some(k + (c.0 - o.first.0) as usize);
        }
        k += r as usize;
    }
    None
}

/// Whether the run recorded the cut of its `i`-th completed checkpoint (not when its flow was
/// off).
pub fn has_cut(world: &World, i: usize) -> bool {
    world.flow.on && world.flow.completed.get(i).map(|c| c.0) == Some(world.store.completed[i].id)
}

/// What is wrong with the `i`-th completed checkpoint of `world` as a recovery point, if
/// anything; `None` also when the run recorded no cut for it (see [`has_cut`]).
pub fn violation(
    job: &Job,
    world: &World,
    i: usize,
    exactly_once: bool,
    logs: &mut LogBags,
) -> Option<String> {
    let cp = &world.store.completed[i];
    if !has_cut(world, i) {
        return None;
    }
    let cuts = &world.flow.completed[i].1;
    let zero = TaskCut::default();
    let cut = |t: TaskId| cuts[t.index()].as_ref().unwrap_or(&zero);
    let scratch = |t: TaskId| {
        if cuts[t.index()].is_none() {
            format!(
                " (the checkpoint names no state for `{}`: it restarts from scratch)",
                job.task_name(t)
            )
        } else {
            String::new()
        }
    };
    let fail = |what: String| {
        format!("{} (completed {}) is not a consistent cut: {what}", cp.id, cp.completed_at)
    };
    for t in 0..job.tasks.len() {
        let t = TaskId(t as u32);
        let between: u64 = cut(t)
            .sent_at_snapshot
            .iter()
            .zip(&cut(t).sent)
            .map(|(a, b)| a.saturating_sub(*b))
            .sum();
        if between > 0 && keeps_state(&job.operator_of(t).kind) {
            return Some(fail(format!(
                "`{}` sent {between} record(s) between its barrier and its snapshot: its state \
                 reflects output that a restore drops downstream",
                job.task_name(t)
            )));
        }
    }
    for (c, info) in job.channels.iter().enumerate() {
        let c = ChannelId(c as u32);
        let sent = output_index(job, info.from, c)
            .and_then(|k| cut(info.from).sent.get(k))
            .copied()
            .unwrap_or(0);
        let receiver = &job.tasks[info.to.index()];
        let input = receiver.inputs.iter().position(|&x| x == c);
        let at = |v: &Vec<u64>| input.and_then(|k| v.get(k)).copied().unwrap_or(0);
        // What must match the sender's cut: the receiver's output before its barrier (if it
        // has outputs), and its state (unless it keeps none).
        let mut sides = Vec::new();
        if keeps_state(&job.operator_of(info.to).kind) {
            sides.push(("snapshot took", at(&cut(info.to).consumed)));
        }
        if !receiver.outputs.is_empty() {
            sides.push((
                "output before its barrier reflected",
                at(&cut(info.to).consumed_at_barrier),
            ));
        }
        let end_sent = output_index(job, info.from, c)
            .and_then(|k| cut(info.from).end_sent.get(k))
            .copied()
            .unwrap_or(false);
        let end_taken = input.and_then(|k| cut(info.to).end_taken.get(k)).copied().unwrap_or(false);
        // A task the checkpoint records as finished sent no barrier: its cut is where it ended.
        let point = if cp.tasks[info.from.index()] == TaskSnapshot::Finished {
            "before it finished"
        } else {
            "before its barrier"
        };
        if end_sent != end_taken && (exactly_once || end_sent) {
            let (from, to) = (job.task_name(info.from), job.task_name(info.to));
            let (a, b) = if end_taken { ("had", "had not") } else { ("had not", "had") };
            return Some(fail(format!(
                "`{to}`'s snapshot {a} taken the end of data of `{}`, but `{from}` {b} sent it \
                 {point}{}{}",
                job.channel_name(c),
                scratch(info.from),
                scratch(info.to)
            )));
        }
        for (what, taken) in sides {
            let bad = if exactly_once { taken != sent } else { taken < sent };
            if !bad {
                continue;
            }
            let (from, to) = (job.task_name(info.from), job.task_name(info.to));
            let how = if taken > sent {
                format!("{} record(s) would be counted twice", taken - sent)
            } else {
                format!("{} record(s) would be lost", sent - taken)
            };
            return Some(fail(format!(
                "`{to}`'s {what} {taken} record(s) from `{}`, but `{from}` had sent {sent} \
                 {point}: {how}{}{}",
                job.channel_name(c),
                scratch(info.from),
                scratch(info.to)
            )));
        }
    }
    // The restore itself, not run further: which checkpoint it uses, where it rewinds the
    // sources to, and what it commits again.
    let mut r = World::restored_logless(world.job.0.clone(), i, world);
    r.start(SimTime::ZERO, &mut ExploreEnv { hasher: None, lines: None });
    for t in 0..job.tasks.len() {
        let t = TaskId(t as u32);
        let (back, cut) = (r.flow.cut_of(job, t), cut(t));
        if !same(&back.sent, &cut.sent) || back.read != cut.read || back.sink_in != cut.sink_in {
            return Some(fail(format!(
                "a restore puts `{}` back elsewhere than where its snapshot of {} took it \
                 (the restore used another checkpoint?)",
                job.task_name(t),
                cp.id
            )));
        }
        let OpKind::Source(def) = &job.operator_of(t).kind else { continue };
        let TaskKind::Source(src) = &r.tasks[t.index()].kind else { continue };
        if r.tasks[t.index()].status == TaskStatus::Finished {
            continue;
        }
        let len = def.partitions[usize::from(job.tasks[t.index()].subtask)].len() as u64;
        let offset = src.offset.min(len);
        let bad = if exactly_once { offset != cut.read } else { offset > cut.read };
        if bad {
            return Some(fail(format!(
                "a restore rewinds `{}` to offset {offset}, but its snapshot came after it had \
                 read {} record(s){}",
                job.task_name(t),
                cut.read,
                scratch(t)
            )));
        }
    }
    for (op, o) in job.scenario.operators.iter().enumerate() {
        let OpKind::Sink { delivery: Delivery::ExactlyOnce } = o.kind else { continue };
        let mut external = logs.upto(&world.outputs[op], op, cp.external[op].log_len);
        external.merge(Bag::of(&r.outputs[op].log));
        let mut taken = Bag::default();
        for s in 0..o.parallelism {
            taken.merge(cut(job.task(OperatorId(op as u16), s)).sink_in);
        }
        // A transactional sink commits exactly what it took before its snapshot, duplicates
        // included, whatever the checkpointing mode.
        if external != taken {
            let how = match external.count.cmp(&taken.count) {
                std::cmp::Ordering::Greater => {
                    format!("{} more than they took", external.count - taken.count)
                }
                std::cmp::Ordering::Less => {
                    format!("{} fewer than they took", taken.count - external.count)
                }
                std::cmp::Ordering::Equal => "as many, but not the same records".to_string(),
            };
            return Some(fail(format!(
                "after a restore's commits, the external system behind `{}` would hold {} \
                 record(s), where its subtasks' snapshots had taken {}: {how}",
                o.name, external.count, taken.count
            )));
        }
    }
    None
}

/// Which completed checkpoints to restore for real beside the cut check: the latest one that
/// still has input to replay (a source short of the end of its partition), and the latest one
/// if it is another (a restore at the end of the job: finishing tasks, final checkpoints).
/// Restoring them runs the restore code and the snapshot contents through failure-free runs
/// to the end, at the cost of the run's tail only.
pub fn real_restores(job: &Job, world: &World) -> Vec<usize> {
    let completed = &world.store.completed;
    let replays = |c: &crate::world::store::CompletedCheckpoint| {
        c.tasks.iter().enumerate().any(|(t, s)| {
            let TaskSnapshot::Source { offset, .. } = s else { return false };
            let OpKind::Source(def) = &job.operator_of(TaskId(t as u32)).kind else {
                return false;
            };
            (*offset as usize) < def.partitions[usize::from(job.tasks[t].subtask)].len()
        })
    };
    let mut v: Vec<usize> = completed.iter().rposition(replays).into_iter().collect();
    if let Some(last) = completed.len().checked_sub(1) {
        if v.first() != Some(&last) {
            v.push(last);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A finished run of a keyed count with checkpoints every 5 ms and no fault.
    fn run() -> (Arc<Job>, World) {
        let text = r#"{"name": "cut", "graph": {"operators": [
            {"id": "src", "op": "source", "parallelism": 2, "generate": {"records": 40, "keys": 4}, "rate_per_ms": 2},
            {"id": "count", "op": "reduce", "agg": "count", "parallelism": 2},
            {"id": "out", "op": "sink", "delivery": "exactly_once", "parallelism": 2}],
          "edges": [{"from": "src", "to": "count", "partition": "hash"}, {"from": "count", "to": "out"}]},
          "checkpointing": {"interval_ms": 5}}"#;
        let s = crate::scenario::load_bytes(text.as_bytes(), "cut.json").expect("valid");
        let job = Arc::new(Job::new(s));
        let r = crate::sim::run(job.clone(), 1, None);
        assert!(r.world.store.completed.len() >= 3, "checkpoints completed");
        (job, r.world)
    }

    fn first_violation(job: &Job, w: &World) -> Option<String> {
        let mut logs = LogBags::new(job.scenario.operators.len());
        (0..w.store.completed.len()).find_map(|i| violation(job, w, i, true, &mut logs))
    }

    /// The cut recorded for the named task in the second completed checkpoint.
    fn cut_of<'a>(job: &Job, w: &'a mut World, task: &str) -> &'a mut TaskCut {
        let t = (0..job.tasks.len() as u32).map(TaskId).find(|&t| job.task_name(t) == task);
        let t = t.expect("a task of that name");
        w.flow.completed[1].1[t.index()].as_mut().expect("a cut")
    }

    #[test]
    fn every_checkpoint_of_a_correct_run_is_a_consistent_cut() {
        let (job, w) = run();
        assert_eq!(first_violation(&job, &w), None);
        assert_eq!(w.flow.completed.len(), w.store.completed.len());
    }

    #[test]
    fn a_receiver_that_took_a_record_sent_after_the_barrier_counts_it_twice() {
        let (job, mut w) = run();
        cut_of(&job, &mut w, "count[0]").consumed[0] += 1;
        let v = first_violation(&job, &w).expect("a violation");
        assert!(
            v.contains("`count[0]`'s snapshot took")
                && v.contains("1 record(s) would be counted twice"),
            "{v}"
        );
    }

    #[test]
    fn a_receiver_that_missed_a_record_sent_before_the_barrier_loses_it() {
        let (job, mut w) = run();
        let cut = cut_of(&job, &mut w, "count[1]");
        cut.consumed_at_barrier[1] -= 1;
        let v = first_violation(&job, &w).expect("a violation");
        assert!(
            v.contains("output before its barrier reflected") && v.contains("would be lost"),
            "{v}"
        );
    }

    #[test]
    fn a_source_whose_offset_disagrees_with_what_it_read_is_caught_at_the_restore() {
        let (job, mut w) = run();
        // Positions restored from the cut no longer match where the snapshot put the task.
        cut_of(&job, &mut w, "src[0]").read += 1;
        let v = first_violation(&job, &w).expect("a violation");
        assert!(v.contains("rewinds `src[0]` to offset"), "{v}");
    }

    #[test]
    fn a_sink_whose_external_system_disagrees_with_what_it_took_is_caught() {
        let (job, mut w) = run();
        cut_of(&job, &mut w, "out[1]").sink_in.count += 1;
        let v = first_violation(&job, &w).expect("a violation");
        assert!(
            v.contains("external system behind `out`") && v.contains("fewer than they took"),
            "{v}"
        );
    }
}
