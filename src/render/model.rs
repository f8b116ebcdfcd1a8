//! What every picture of a trace shares: the lanes (tasks in dataflow order), the story of each
//! checkpoint, blocked channels, outages, and which commit happened at a restore.

use super::{receiver, sender, Ev, Item, Trace};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// Where an event happens: at the coordinator, at a task, or in the environment (a node, the
/// network, the checkpoint storage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place<'a> {
    Jm,
    Task(&'a str),
    Env(String),
}

impl Ev {
    /// The task an event names in its `task` field.
    pub fn task(&self) -> Option<&str> {
        use Ev::*;
        match self {
            SourceEmit { task, .. }
            | Process { task, .. }
            | SinkWrite { task, .. }
            | TxnPrecommitted { task, .. }
            | TxnCommitted { task, .. }
            | TxnAborted { task, .. }
            | TaskFinishing { task }
            | TaskFinished { task }
            | ChannelBlocked { task, .. }
            | ChannelResumed { task, .. }
            | SnapshotTaken { task, .. }
            | SnapshotStored { task, .. }
            | UploadFailed { task, .. }
            | CheckpointAcknowledged { task, .. }
            | CheckpointDeclined { task, .. }
            | NotifyComplete { task, .. }
            | NotifyAborted { task, .. }
            | ControlLost { task, .. }
            | TaskFailed { task }
            | TaskCanceled { task }
            | TaskRestored { task, .. } => Some(task),
            Deliver { channel, .. } => Some(receiver(channel)),
            _ => None,
        }
    }

    /// The channel an event names, if any.
    pub fn channel(&self) -> Option<&str> {
        match self {
            Ev::Deliver { channel, .. }
            | Ev::Process { channel, .. }
            | Ev::ChannelBlocked { channel, .. }
            | Ev::ChannelResumed { channel, .. } => Some(channel),
            _ => None,
        }
    }

    /// Where the event happens (acknowledgements and declines happen where they arrive: at
    /// the coordinator).
    pub fn place(&self) -> Place<'_> {
        use Ev::*;
        match self {
            CheckpointAcknowledged { .. }
            | CheckpointDeclined { .. }
            | JobFinished
            | CheckpointTriggered { .. }
            | CheckpointSkipped { .. }
            | CheckpointCompleted { .. }
            | CheckpointAborted { .. }
            | CoordinatorCrashed
            | CoordinatorRestarted
            | JobRestarting { .. }
            | JobFailed => Place::Jm,
            NodeCrashed { node } | NodeRestarted { node } => Place::Env(node.clone()),
            PartitionStarted { .. } | PartitionHealed { .. } => Place::Env("network".into()),
            StorageFailed | StorageRecovered => Place::Env("storage".into()),
            other => Place::Task(other.task().unwrap_or("?")),
        }
    }
}

/// How a checkpoint ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Neither completed nor aborted when the trace ends.
    Pending,
    /// Pending when the coordinator crashed (at this time), and never heard of again.
    LostWithCoordinator(u64),
    Completed(u64),
    Aborted(u64, String),
}

/// A transaction commit at a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub task: String,
    pub txn: String,
    pub records: u64,
    pub t_us: u64,
    /// Committed by a restored sink from its state (recover-and-commit), not on a notice.
    pub on_restore: bool,
    /// The checkpoint whose snapshot pre-committed the transaction, if known.
    pub precommitted_for: Option<u64>,
    /// The checkpoint that caused the commit: the one whose completion notice the sink had
    /// just received, or for a recommit the one the transaction was pre-committed for.
    pub cause: Option<u64>,
}

/// The story of one checkpoint.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    pub id: u64,
    pub triggered: Option<u64>,
    /// The first snapshot of each task, in the order taken.
    pub snapshots: Vec<(String, u64)>,
    pub stored: Vec<(String, u64)>,
    pub upload_failures: Vec<(String, u64)>,
    pub acks: Vec<(String, u64)>,
    pub declines: Vec<(String, u64, String)>,
    pub notified: Vec<(String, u64)>,
    /// Lost control messages about it: (message, task, time).
    pub lost: Vec<(String, String, u64)>,
    /// Tasks restored from it.
    pub restored: Vec<(String, u64)>,
    /// The commits it caused (see [`Commit::cause`]).
    pub commits: Vec<Commit>,
    /// Transactions pre-committed with its snapshots that a restored sink aborted:
    /// (task, txn, time).
    pub txn_aborts: Vec<(String, String, u64)>,
    pub outcome: Option<Outcome>,
}

impl Checkpoint {
    pub fn outcome(&self) -> Outcome {
        self.outcome.clone().unwrap_or(Outcome::Pending)
    }

    pub fn completed(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Completed(_)))
    }
}

/// An interval on a lane: a blocked channel, an outage, a task that is down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The task (for blocked channels and down tasks) or the outage's label.
    pub who: String,
    /// The blocked channel; empty otherwise.
    pub channel: String,
    pub from: u64,
    pub to: u64,
    /// Still open when the trace ends (or, for a blocked channel, when the task went down).
    pub open: bool,
}

/// A control item on a channel (a barrier, a cancellation barrier, end of data, end of
/// partition): when it left the sender, when it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Barrier {
    pub channel: String,
    pub item: Item,
    pub sent: u64,
    pub arrived: u64,
}

/// Everything the pictures share.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Tasks in dataflow order: operators topologically (first seen first among equals), then
    /// by subtask.
    pub tasks: Vec<String>,
    /// The input channels of each task that receives any.
    pub inputs: BTreeMap<String, BTreeSet<String>>,
    pub has_outputs: BTreeSet<String>,
    pub checkpoints: BTreeMap<u64, Checkpoint>,
    /// Commits not tied to a checkpoint (end of input without checkpointing).
    pub other_commits: Vec<Commit>,
    pub blocked: Vec<Span>,
    pub outages: Vec<Span>,
    pub down: Vec<Span>,
    pub barriers: Vec<Barrier>,
    /// Every `txn_committed` event, by its index in the trace.
    pub commit_events: BTreeMap<usize, Commit>,
    /// The checkpoint each pre-committed transaction belongs to, by (task, txn).
    pub txn_checkpoint: BTreeMap<(String, String), u64>,
    pub end_us: u64,
    /// The lane of each task (see [`Model::lane`]), so that a lookup does not scan the lanes.
    lane_index: BTreeMap<String, usize>,
}

impl Model {
    pub fn of(trace: &Trace) -> Model {
        let mut m = Model { end_us: trace.end_us(), ..Model::default() };
        m.tasks = lanes(trace);
        m.lane_index = m.tasks.iter().enumerate().map(|(i, t)| (t.clone(), i + 1)).collect();
        let mut b = Builder::default();
        for (i, e) in trace.events.iter().enumerate() {
            b.event(&mut m, i, e.t_us, &e.ev);
        }
        b.finish(&mut m);
        m
    }

    pub fn is_source(&self, task: &str) -> bool {
        !self.inputs.contains_key(task)
    }

    pub fn is_sink(&self, task: &str) -> bool {
        !self.has_outputs.contains(task)
    }

    /// The lane index of a task (after `jm`, which is lane 0; an unknown task is drawn there).
    pub fn lane(&self, task: &str) -> usize {
        self.lane_index.get(task).copied().unwrap_or(0)
    }

    fn cp(&mut self, id: u64) -> &mut Checkpoint {
        self.checkpoints.entry(id).or_insert_with(|| Checkpoint { id, ..Checkpoint::default() })
    }
}

#[derive(Default)]
struct Builder {
    blocked: BTreeMap<(String, String), u64>,
    outages: BTreeMap<String, u64>,
    down: BTreeMap<String, u64>,
    /// Pre-commits of each task not yet tied to a snapshot: (txn, time).
    precommits: BTreeMap<String, Vec<(String, u64)>>,
    /// Each task's latest protocol event, to date a cancellation barrier's departure.
    last_seen: BTreeMap<String, u64>,
    /// Each task's latest completion notice: (checkpoint, time).
    last_notice: BTreeMap<String, (u64, u64)>,
    /// First snapshot time by (task, checkpoint).
    snapshot_at: BTreeMap<(String, u64), u64>,
}

impl Builder {
    fn open(&mut self, label: String, t: u64) {
        self.outages.entry(label).or_insert(t);
    }

    fn close(&mut self, m: &mut Model, label: &str, t: u64) {
        if let Some(from) = self.outages.remove(label) {
            m.outages.push(span(label, "", from, t, false));
        }
    }

    fn close_blocked(&mut self, m: &mut Model, task: &str, t: u64) {
        // The keys are (task, channel): this task's channels are one run of the map.
        let keys: Vec<_> = self
            .blocked
            .range((task.to_string(), String::new())..)
            .take_while(|((tk, _), _)| tk == task)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(from) = self.blocked.remove(&k) {
                m.blocked.push(span(&k.0, &k.1, from, t, true));
            }
        }
    }

    fn event(&mut self, m: &mut Model, i: usize, t: u64, ev: &Ev) {
        use Ev::*;
        if let Some(c) = ev.channel() {
            m.has_outputs.insert(sender(c).to_string());
            m.inputs.entry(receiver(c).to_string()).or_default().insert(c.to_string());
        }
        match ev {
            CheckpointTriggered { checkpoint } => m.cp(*checkpoint).triggered = Some(t),
            SnapshotTaken { task, checkpoint } => {
                // The first snapshot of a task for a checkpoint is both remembered and listed.
                if let Entry::Vacant(first) = self.snapshot_at.entry((task.clone(), *checkpoint)) {
                    first.insert(t);
                    m.cp(*checkpoint).snapshots.push((task.clone(), t));
                }
                for (txn, at) in self.precommits.remove(task).unwrap_or_default() {
                    if at == t {
                        m.txn_checkpoint.insert((task.clone(), txn), *checkpoint);
                    }
                }
            }
            SnapshotStored { task, checkpoint } => m.cp(*checkpoint).stored.push((task.clone(), t)),
            UploadFailed { task, checkpoint } => {
                m.cp(*checkpoint).upload_failures.push((task.clone(), t))
            }
            CheckpointAcknowledged { task, checkpoint } => {
                m.cp(*checkpoint).acks.push((task.clone(), t))
            }
            CheckpointDeclined { task, checkpoint, reason } => {
                m.cp(*checkpoint).declines.push((task.clone(), t, reason.clone()))
            }
            CheckpointCompleted { checkpoint } => {
                m.cp(*checkpoint).outcome = Some(Outcome::Completed(t))
            }
            CheckpointAborted { checkpoint, reason } => {
                m.cp(*checkpoint).outcome = Some(Outcome::Aborted(t, reason.clone()))
            }
            NotifyComplete { task, checkpoint } => {
                self.last_notice.insert(task.clone(), (*checkpoint, t));
                m.cp(*checkpoint).notified.push((task.clone(), t))
            }
            ControlLost { message, task, checkpoint } => {
                m.cp(*checkpoint).lost.push((message.clone(), task.clone(), t))
            }
            TaskRestored { task, checkpoint } => {
                if let Some(c) = checkpoint {
                    m.cp(*c).restored.push((task.clone(), t));
                }
                if let Some(from) = self.down.remove(task) {
                    m.down.push(span(task, "", from, t, false));
                }
            }
            TaskFailed { task } | TaskCanceled { task } => {
                self.down.entry(task.clone()).or_insert(t);
                self.close_blocked(m, task, t);
                self.precommits.remove(task);
            }
            TxnAborted { task, txn } => {
                if let Some(cp) = m.txn_checkpoint.get(&(task.clone(), txn.clone())).copied() {
                    m.cp(cp).txn_aborts.push((task.clone(), txn.clone(), t));
                }
            }
            TxnPrecommitted { task, txn, .. } => {
                self.precommits.entry(task.clone()).or_default().push((txn.clone(), t))
            }
            TxnCommitted { task, txn, records } => {
                let on_restore = self.down.contains_key(task);
                let precommitted_for = m.txn_checkpoint.get(&(task.clone(), txn.clone())).copied();
                let cause = match self.last_notice.get(task) {
                    Some(&(cp, at)) if at == t && !on_restore => Some(cp),
                    _ => precommitted_for,
                };
                let commit = Commit {
                    task: task.clone(),
                    txn: txn.clone(),
                    records: *records,
                    t_us: t,
                    on_restore,
                    precommitted_for,
                    cause,
                };
                m.commit_events.insert(i, commit.clone());
                match cause {
                    Some(cp) => m.cp(cp).commits.push(commit),
                    None => m.other_commits.push(commit),
                }
            }
            ChannelBlocked { task, channel } => {
                self.blocked.entry((task.clone(), channel.clone())).or_insert(t);
            }
            ChannelResumed { task, channel } => {
                if let Some(from) = self.blocked.remove(&(task.clone(), channel.clone())) {
                    m.blocked.push(span(task, channel, from, t, false));
                }
            }
            Deliver { channel, item } if !item.is_data() => {
                // A barrier leaves with the sender's snapshot; anything else is dated by the
                // sender's latest protocol event (its decline, its end of input).
                let from = sender(channel);
                let snap = match item {
                    Item::Barrier(cp) => self.snapshot_at.get(&(from.to_string(), *cp)).copied(),
                    _ => None,
                };
                let sent = snap.or_else(|| self.last_seen.get(from).copied()).unwrap_or(t);
                m.barriers.push(Barrier {
                    channel: channel.clone(),
                    item: item.clone(),
                    sent: sent.min(t),
                    arrived: t,
                });
            }
            NodeCrashed { node } => self.open(format!("{node} down"), t),
            NodeRestarted { node } => self.close(m, &format!("{node} down"), t),
            PartitionStarted { a, b } => self.open(format!("partition {a} | {b}"), t),
            PartitionHealed { a, b } => self.close(m, &format!("partition {a} | {b}"), t),
            StorageFailed => self.open("storage outage".into(), t),
            StorageRecovered => self.close(m, "storage outage", t),
            CoordinatorCrashed => {
                self.open("coordinator down".into(), t);
                for cp in m.checkpoints.values_mut() {
                    if cp.outcome.is_none() {
                        cp.outcome = Some(Outcome::LostWithCoordinator(t));
                    }
                }
            }
            CoordinatorRestarted => self.close(m, "coordinator down", t),
            _ => {}
        }
        if !ev.is_data() {
            if let Some(task) = ev.task() {
                self.last_seen.insert(task.to_string(), t);
            }
        }
    }

    fn finish(self, m: &mut Model) {
        let end = m.end_us;
        for ((task, channel), from) in self.blocked {
            m.blocked.push(span(&task, &channel, from, end, true));
        }
        for (label, from) in self.outages {
            m.outages.push(span(&label, "", from, end, true));
        }
        for (task, from) in self.down {
            m.down.push(span(&task, "", from, end, true));
        }
        let key = |s: &Span| (s.from, s.who.clone(), s.channel.clone());
        m.blocked.sort_by_key(key);
        m.outages.sort_by_key(key);
        m.down.sort_by_key(key);
    }
}

fn span(who: &str, channel: &str, from: u64, to: u64, open: bool) -> Span {
    Span { who: who.to_string(), channel: channel.to_string(), from, to, open }
}

/// A task name's operator and subtask: `count[1]` is (`count`, 1); a name without a subtask
/// is its own operator, subtask 0.
pub fn operator_of(task: &str) -> (&str, u64) {
    if let Some(inner) = task.strip_suffix(']') {
        if let Some((op, sub)) = inner.rsplit_once('[') {
            if let Ok(n) = sub.parse() {
                return (op, n);
            }
        }
    }
    (task, 0)
}

/// The tasks of a trace in dataflow order: operators sorted topologically along the channels
/// (among operators that are ready together, the first seen in the trace first), then tasks by
/// subtask.
fn lanes(trace: &Trace) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut known = BTreeSet::new();
    // Operators by their index in the order first seen.
    let mut op_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut edges = BTreeSet::new();
    for e in &trace.events {
        let channel = e.ev.channel().map(|c| (sender(c), receiver(c)));
        let names = e.ev.task().into_iter().chain(channel.into_iter().flat_map(|(s, r)| [s, r]));
        for n in names {
            if known.insert(n) {
                seen.push(n);
                let next = op_index.len();
                op_index.entry(operator_of(n).0).or_insert(next);
            }
        }
        if let Some((s, r)) = channel {
            let (a, b) = (op_index[operator_of(s).0], op_index[operator_of(r).0]);
            if a != b {
                edges.insert((a, b));
            }
        }
    }
    // Kahn's algorithm, taking the ready operator seen first; on a cycle (not a real job), the
    // first one left.
    let ops = op_index.len();
    let mut indegree = vec![0usize; ops];
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); ops];
    for &(a, b) in &edges {
        indegree[b] += 1;
        next[a].push(b);
    }
    let mut ready: BTreeSet<usize> = (0..ops).filter(|&o| indegree[o] == 0).collect();
    let mut left: BTreeSet<usize> = (0..ops).collect();
    let mut rank = vec![0usize; ops];
    for r in 0..ops {
        let Some(op) = ready.pop_first().or_else(|| left.first().copied()) else { break };
        left.remove(&op);
        rank[op] = r;
        for &b in &next[op] {
            indegree[b] = indegree[b].saturating_sub(1);
            if indegree[b] == 0 && left.contains(&b) {
                ready.insert(b);
            }
        }
    }
    let mut tasks: Vec<(usize, u64, usize, &str)> = seen
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (op, sub) = operator_of(t);
            (rank[op_index[op]], sub, i, *t)
        })
        .collect();
    tasks.sort();
    tasks.into_iter().map(|(_, _, _, t)| t.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(lines: &[&str]) -> Trace {
        Trace::parse(&lines.join("\n"), "t.jsonl").expect("a valid trace")
    }

    #[test]
    fn lanes_follow_the_dataflow_then_the_subtask() {
        let t = trace(&[
            r#"{"t_us":0,"event":"task_finished","task":"out[0]"}"#,
            r#"{"t_us":1,"event":"deliver","channel":"count[1]->out[0]","item":"end"}"#,
            r#"{"t_us":2,"event":"deliver","channel":"words[0]->count[10]","item":"end"}"#,
            r#"{"t_us":3,"event":"deliver","channel":"words[0]->count[2]","item":"end"}"#,
        ]);
        let m = Model::of(&t);
        assert_eq!(m.tasks, ["words[0]", "count[1]", "count[2]", "count[10]", "out[0]"]);
        assert!(m.is_source("words[0]") && m.is_sink("out[0]") && !m.is_sink("count[1]"));
        assert_eq!(operator_of("a-b.c[3]"), ("a-b.c", 3));
        assert_eq!(operator_of("plain"), ("plain", 0));
    }

    #[test]
    fn a_commit_while_the_sink_is_down_is_a_recommit_of_its_checkpoint() {
        let t = trace(&[
            r#"{"t_us":1,"event":"checkpoint_triggered","checkpoint":2}"#,
            r#"{"t_us":2,"event":"txn_precommitted","task":"out[0]","txn":"txn0.0.1","records":3}"#,
            r#"{"t_us":2,"event":"snapshot_taken","task":"out[0]","checkpoint":2}"#,
            r#"{"t_us":4,"event":"checkpoint_completed","checkpoint":2}"#,
            r#"{"t_us":4,"event":"task_failed","task":"out[0]"}"#,
            r#"{"t_us":5,"event":"control_lost","message":"notify_complete","task":"out[0]","checkpoint":2}"#,
            r#"{"t_us":9,"event":"txn_committed","task":"out[0]","txn":"txn0.0.1","records":3}"#,
            r#"{"t_us":9,"event":"task_restored","task":"out[0]","checkpoint":2}"#,
        ]);
        let m = Model::of(&t);
        let cp = &m.checkpoints[&2];
        assert_eq!(cp.outcome(), Outcome::Completed(4));
        assert_eq!(cp.commits.len(), 1);
        assert!(cp.commits[0].on_restore);
        assert_eq!(cp.lost, [("notify_complete".to_string(), "out[0]".to_string(), 5)]);
        assert_eq!(m.commit_events.keys().copied().collect::<Vec<_>>(), [6]);
        assert_eq!(cp.commits[0].precommitted_for, Some(2));
        assert_eq!(m.down, [span("out[0]", "", 4, 9, false)]);
    }
}
