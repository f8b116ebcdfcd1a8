//! The job: the validated scenario expanded into tasks, channels and placement.
//!
//! Built once per scenario and shared (`Arc<Job>`) by the world, the reference evaluator,
//! the checker and the drivers. Nothing in it changes during a run.
//!
//! Expansion rules (docs/scenario-format.md):
//! * operator `o` with parallelism `p` becomes tasks `o[0] … o[p-1]`, numbered operator by
//!   operator in scenario order;
//! * an edge becomes channels: `forward` connects subtask i to subtask i; `hash`, `rebalance`
//!   and `broadcast` connect every sender subtask to every receiver subtask. Channels are
//!   numbered edge by edge, then sender subtask, then receiver subtask; a task's inputs are
//!   ordered by channel id;
//! * tasks are placed round robin over the nodes in task order, unless `cluster.placement`
//!   names a node;
//! * pipelined regions: every streaming edge is pipelined, so a region is a connected
//!   component of the task graph.

pub mod determinism;

use crate::ids::{ChannelId, NodeId, OperatorId, TaskId};
use crate::record::{subtask_of_key_group, KEY_GROUPS};
use crate::scenario::model::{OpKind, Partition, Scenario, Side};
use determinism::Comparison;
use std::sync::Arc;

#[derive(Debug)]
pub struct Job {
    pub scenario: Scenario,
    pub tasks: Vec<TaskInfo>,
    pub channels: Vec<ChannelInfo>,
    /// The first task of each operator; its subtask `i` is `first_task[op] + i`.
    pub first_task: Vec<TaskId>,
    /// Whether an operator's output must carry watermarks (an event-time operator is
    /// downstream of it).
    pub emits_watermarks: Vec<bool>,
    /// For each sink operator, how its output is compared with the reference.
    pub comparison: Vec<Option<Comparison>>,
    /// For keyed operators: the slot of each key in its owner subtask's dense state.
    pub key_slots: Vec<Option<Arc<KeySlots>>>,
    /// Pipelined region of each task.
    pub region: Vec<u32>,
    pub regions: u32,
}

#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub op: OperatorId,
    pub subtask: u16,
    pub node: NodeId,
    /// Input channels, in channel-id order; the index into this list is the input index.
    pub inputs: Vec<ChannelId>,
    pub outputs: Vec<OutputEdge>,
}

/// One output edge of a task: the channels it may write to.
#[derive(Debug, Clone, Copy)]
pub struct OutputEdge {
    pub partition: Partition,
    /// Channel to receiver subtask `j` is `first + j` (for `forward`, the only channel).
    pub first: ChannelId,
    pub receivers: u16,
}

#[derive(Debug, Clone, Copy)]
pub struct ChannelInfo {
    pub from: TaskId,
    pub to: TaskId,
    /// Position of this channel among the receiver's inputs.
    pub input_index: u16,
    pub side: Option<Side>,
}

/// Dense per-subtask slots for the keys of a keyed operator with a given parallelism.
#[derive(Debug)]
pub struct KeySlots {
    /// Slot of each key (by key id) within the subtask that owns it.
    pub slot: Vec<u32>,
    /// The subtask that owns each key.
    pub owner: Vec<u16>,
    /// How many keys each subtask owns.
    pub per_subtask: Vec<u32>,
}

impl Job {
    pub fn new(scenario: Scenario) -> Job {
        let ops = &scenario.operators;
        let mut first_task = Vec::with_capacity(ops.len());
        let mut tasks = Vec::new();
        for (o, op) in ops.iter().enumerate() {
            first_task.push(TaskId(tasks.len() as u32));
            for s in 0..op.parallelism {
                let global = tasks.len() as u64;
                let node = scenario
                    .placement
                    .get(&(OperatorId(o as u16), s))
                    .copied()
                    .unwrap_or(NodeId((global % u64::from(scenario.nodes)) as u16));
                tasks.push(TaskInfo {
                    op: OperatorId(o as u16),
                    subtask: s,
                    node,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                });
            }
        }
        let mut channels = Vec::new();
        for e in &scenario.edges {
            let (pf, pt) = (ops[e.from.index()].parallelism, ops[e.to.index()].parallelism);
            for s in 0..pf {
                let from = TaskId(first_task[e.from.index()].0 + u32::from(s));
                let first = ChannelId(channels.len() as u32);
                let receivers: Vec<u16> =
                    if e.partition == Partition::Forward { vec![s] } else { (0..pt).collect() };
                for &r in &receivers {
                    let to = TaskId(first_task[e.to.index()].0 + u32::from(r));
                    channels.push(ChannelInfo { from, to, input_index: 0, side: e.side });
                }
                tasks[from.index()].outputs.push(OutputEdge {
                    partition: e.partition,
                    first,
                    receivers: receivers.len() as u16,
                });
            }
        }
        for (c, ch) in channels.iter_mut().enumerate() {
            let inputs = &mut tasks[ch.to.index()].inputs;
            ch.input_index = inputs.len() as u16;
            inputs.push(ChannelId(c as u32));
        }
        let emits_watermarks = watermark_needs(&scenario);
        let props = determinism::analyze(ops, &scenario.edges);
        let comparison = (0..ops.len())
            .map(|i| match ops[i].kind {
                OpKind::Sink { .. } => {
                    determinism::comparison(ops, &scenario.edges, &props, i).ok()
                }
                _ => None,
            })
            .collect();
        let mut slot_cache: Vec<(u16, Arc<KeySlots>)> = Vec::new();
        let key_slots = ops
            .iter()
            .map(|op| {
                if !op.kind.is_keyed() {
                    return None;
                }
                if let Some((_, s)) = slot_cache.iter().find(|(p, _)| *p == op.parallelism) {
                    return Some(s.clone());
                }
                let s = Arc::new(key_slots(&scenario, op.parallelism));
                slot_cache.push((op.parallelism, s.clone()));
                Some(s)
            })
            .collect();
        let (region, regions) = regions(tasks.len(), &channels);
        Job {
            scenario,
            tasks,
            channels,
            first_task,
            emits_watermarks,
            comparison,
            key_slots,
            region,
            regions,
        }
    }

    pub fn task(&self, op: OperatorId, subtask: u16) -> TaskId {
        TaskId(self.first_task[op.index()].0 + u32::from(subtask))
    }

    /// `count[1]`.
    pub fn task_name(&self, t: TaskId) -> String {
        let info = &self.tasks[t.index()];
        format!("{}[{}]", self.scenario.operators[info.op.index()].name, info.subtask)
    }

    /// `words[0]->count[1]`.
    pub fn channel_name(&self, c: ChannelId) -> String {
        let ch = &self.channels[c.index()];
        format!("{}->{}", self.task_name(ch.from), self.task_name(ch.to))
    }

    pub fn operator_of(&self, t: TaskId) -> &crate::scenario::model::Operator {
        &self.scenario.operators[self.tasks[t.index()].op.index()]
    }

    /// Sink operators, in scenario order.
    pub fn sinks(&self) -> impl Iterator<Item = OperatorId> + '_ {
        self.scenario
            .operators
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o.kind, OpKind::Sink { .. }))
            .map(|(i, _)| OperatorId(i as u16))
    }
}

/// An operator emits watermarks iff an event-time operator is reachable downstream.
fn watermark_needs(s: &Scenario) -> Vec<bool> {
    let n = s.operators.len();
    let mut needs = vec![false; n];
    // Repeat until stable: the graph is small and acyclic.
    loop {
        let mut changed = false;
        for e in &s.edges {
            let to = &s.operators[e.to.index()];
            let want = to.kind.uses_event_time() || needs[e.to.index()];
            if want && !needs[e.from.index()] {
                needs[e.from.index()] = true;
                changed = true;
            }
        }
        if !changed {
            return needs;
        }
    }
}

fn key_slots(s: &Scenario, parallelism: u16) -> KeySlots {
    let mut per_subtask = vec![0u32; usize::from(parallelism)];
    let mut slot = Vec::with_capacity(s.keys.len());
    let mut owner = Vec::with_capacity(s.keys.len());
    for k in s.keys.ids() {
        let sub = subtask_of_key_group(s.keys.group(k), u32::from(parallelism)) as u16;
        debug_assert!(s.keys.group(k) < KEY_GROUPS);
        slot.push(per_subtask[usize::from(sub)]);
        owner.push(sub);
        per_subtask[usize::from(sub)] += 1;
    }
    KeySlots { slot, owner, per_subtask }
}

/// Connected components of the task graph (union-find), numbered by their smallest task.
fn regions(tasks: usize, channels: &[ChannelInfo]) -> (Vec<u32>, u32) {
    let mut parent: Vec<usize> = (0..tasks).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for c in channels {
        let (a, b) = (root(&mut parent, c.from.index()), root(&mut parent, c.to.index()));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut id = vec![u32::MAX; tasks];
    let mut next = 0;
    let mut out = vec![0; tasks];
    for (t, region) in out.iter_mut().enumerate() {
        let r = root(&mut parent, t);
        if id[r] == u32::MAX {
            id[r] = next;
            next += 1;
        }
        *region = id[r];
    }
    (out, next)
}
