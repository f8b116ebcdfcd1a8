//! What the explorer checks in a state: the invariants, the recovery check (once per distinct
//! completed checkpoint), and what a terminal state shows (for the tests that compare searches).

use super::{choices, Config, FpHasher, VisitedSet};
use crate::check::invariants::output_invariants;
use crate::check::reference::{self, Reference};
use crate::graph::Job;
use crate::scenario::model::Invariant;
use crate::world::{Event, World};
use std::sync::Arc;

/// A terminal state: nothing can happen in it (the job finished, is stuck, or a bound held
/// something back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    pub fingerprint: u64,
    /// A hash of what the sinks show (committed output, visible writes) and the violations.
    pub outputs: u64,
    /// A path to it.
    pub choices: Vec<Event>,
}

/// A hash of what a terminal state shows: every sink's visible output and the violations
/// found on the way.
pub fn outputs_hash(w: &World) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = FpHasher::default();
    for o in &w.outputs {
        o.hash_log(o.log.len(), &mut h);
        o.table.hash(&mut h);
        crate::world::output::hash_prepared(&o.prepared, &mut h);
    }
    w.violations.iter().map(|v| v.invariant).collect::<Vec<_>>().hash(&mut h);
    w.is_finished().hash(&mut h);
    h.finish()
}

/// A violation and the choices that lead to it from the initial world.
/// The verdict of the explorer on a single state, as (invariant, detail) for each violated
/// invariant: `commit_after_complete` always, the output invariants if the job finished,
/// `progress` if nothing can happen and the job has not finished.
pub fn judge(
    job: &Arc<Job>,
    config: &Config,
    w: &World,
) -> Result<Vec<(Invariant, String)>, String> {
    let reference = reference::evaluate(&job.scenario)?;
    let mut out: Vec<(Invariant, String)> = w
        .violations
        .iter()
        .filter(|v| config.checks(v.invariant))
        .map(|v| (v.invariant, v.detail.clone()))
        .collect();
    if w.is_finished() {
        for o in output_invariants(job, &reference, w) {
            if !o.holds && expected_to_hold(job, o.invariant) && config.checks(o.invariant) {
                out.push((o.invariant, o.detail));
            }
        }
    } else {
        let (events, suppressed) = choices(w, config);
        if events.is_empty() && !suppressed && config.checks(Invariant::Progress) {
            out.push((
                Invariant::Progress,
                "stuck: nothing can happen, and the job has not finished".into(),
            ));
        }
    }
    if config.check_recovery && config.checks(Invariant::RecoverableCheckpoints) {
        // As along the explored path: every completed checkpoint, from the external state at
        // its completion.
        let exactly_once = crate::check::applicable(job, Invariant::ExactlyOnce);
        let whole = reference::Whole::Ready(&reference);
        let r = crate::check::recovery::recoverable(job, &whole, w, 0, exactly_once)?;
        if !r.holds {
            out.push((Invariant::RecoverableCheckpoints, r.detail));
        }
    }
    Ok(out)
}

pub(super) fn check_state(
    w: &World,
    reference: &Reference,
    job: &Job,
    config: &Config,
) -> Option<(Invariant, String)> {
    let during = w.violations.iter().find(|v| config.checks(v.invariant));
    during.map(|v| (v.invariant, v.detail.clone())).or_else(|| {
        if !w.is_finished() {
            return None;
        }
        output_invariants(job, reference, w)
            .into_iter()
            .find(|o| !o.holds && expected_to_hold(job, o.invariant) && config.checks(o.invariant))
            .map(|o| (o.invariant, o.detail))
    })
}

fn expected_to_hold(job: &Job, inv: Invariant) -> bool {
    crate::check::applicable(job, inv)
        || job.scenario.expect.holds.contains(&inv)
        || job.scenario.expect.violated.contains(&inv)
}

/// Results of `recoverable_checkpoints` per distinct completed checkpoint (by fingerprint of
/// its snapshots and the external state it starts from).
#[derive(Default)]
pub(super) struct RecoveryCache {
    seen: VisitedSet,
}

impl RecoveryCache {
    /// The cache key of the latest completed checkpoint of `w` (with the external state a
    /// restore from it starts from), if there is one.
    pub(super) fn key(w: &World) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let i = w.store.completed.len().checked_sub(1)?;
        let mut h = FpHasher::default();
        w.store.completed.hash(&mut h);
        for (k, o) in w.outputs.iter().enumerate() {
            // The restore starts from the log as it was at the checkpoint's completion.
            let mark = &w.store.completed[i].external[k];
            o.hash_log(mark.log_len, &mut h);
            mark.hash(&mut h);
        }
        // A restore reads the live source positions under `no_source_rewind`.
        if w.mutated(crate::scenario::model::Mutation::NoSourceRewind) {
            w.source_high.hash(&mut h);
        }
        Some(h.finish().max(1))
    }

    /// Whether the checkpoint with this key was checked.
    pub(super) fn knows(&self, key: u64) -> bool {
        self.seen.depth(key).is_some()
    }

    /// Records the key as checked; returns whether it is new.
    pub(super) fn learn(&mut self, key: u64) -> bool {
        self.seen.insert(key)
    }

    /// Restores the latest completed checkpoint of `w` into a failure-free run and judges it.
    pub(super) fn verdict(
        job: &Arc<Job>,
        reference: &Reference,
        w: &World,
        exactly_once: bool,
    ) -> Option<(Invariant, String)> {
        let i = w.store.completed.len().checked_sub(1)?;
        crate::check::recovery::check_one(job, reference, w, i, 0, exactly_once)
            .map(|d| (Invariant::RecoverableCheckpoints, d))
    }
}
