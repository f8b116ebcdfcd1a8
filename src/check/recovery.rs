//! `recoverable_checkpoints`: every completed checkpoint must be a valid recovery point.
//!
//! For each completed checkpoint, the checker takes the external systems as they were when
//! it completed, restores every task from it, and runs the job from there to its end with
//! no faults. Sinks for which exactly-once output is expected must then show exactly the
//! reference output; the others must lose nothing. A snapshot that is not a consistent cut
//! (state and source positions that disagree) fails here even when no failure happened in
//! the run itself.

use super::cut;
use super::invariants::{output_invariants, Outcome};
use super::reference::{Reference, Whole};
use crate::graph::Job;
use crate::scenario::model::{Invariant, RecoveryCheck};
use crate::sim::{self, Ending};
use crate::world::World;
use std::sync::Arc;

/// Checks every completed checkpoint of `world` (the end of a run with `seed`): as consistent
/// cuts plus one real restore, or each by a restore (`RecoveryCheck::Full`). A restored run
/// that finishes is compared with the reference of the whole input, evaluated then if it was
/// not before; an error is that evaluation's (a reference too large).
pub fn recoverable(
    job: &Arc<Job>,
    reference: &Whole<'_>,
    world: &World,
    seed: u64,
    exactly_once: bool,
) -> Result<Outcome, String> {
    let fail =
        |detail| Outcome { invariant: Invariant::RecoverableCheckpoints, holds: false, detail };
    let n = world.store.completed.len();
    let full = job.scenario.recovery_check == RecoveryCheck::Full || !world.flow.on;
    if full {
        for i in 0..n {
            if let Some(detail) = restore(job, reference, world, i, seed, exactly_once)? {
                return Ok(fail(detail));
            }
        }
    } else {
        let mut logs = cut::LogBags::new(job.scenario.operators.len());
        for i in 0..n {
            // A checkpoint the run recorded no cut for is restored instead.
            let found = if cut::has_cut(world, i) {
                cut::violation(job, world, i, exactly_once, &mut logs)
            } else {
                restore(job, reference, world, i, seed, exactly_once)?
            };
            if let Some(detail) = found {
                return Ok(fail(detail));
            }
        }
        // A run in which every task was restored from a checkpoint ran a restore for real.
        let restores = if world.flow.every_task_restored() {
            Vec::new()
        } else {
            cut::real_restores(job, world)
        };
        for i in restores {
            if let Some(detail) = restore(job, reference, world, i, seed, exactly_once)? {
                return Ok(fail(detail));
            }
        }
    }
    Ok(Outcome { invariant: Invariant::RecoverableCheckpoints, holds: true, detail: String::new() })
}

/// Checks the `i`-th completed checkpoint of `world`; returns what went wrong, if anything.
pub fn check_one(
    job: &Arc<Job>,
    reference: &Reference,
    world: &World,
    i: usize,
    seed: u64,
    exactly_once: bool,
) -> Option<String> {
    restore(job, &Whole::Ready(reference), world, i, seed, exactly_once)
        .expect("an evaluated reference is at hand")
}

/// [`check_one`] with a reference that may still have to be evaluated.
fn restore(
    job: &Arc<Job>,
    reference: &Whole<'_>,
    world: &World,
    i: usize,
    seed: u64,
    exactly_once: bool,
) -> Result<Option<String>, String> {
    let cp = &world.store.completed[i];
    let restored = World::restored(job.clone(), cp, world);
    let label = format!("/recover/{}", cp.id.0);
    let r = sim::run_restored(restored, seed, &label);
    let fail = |detail: String| {
        format!(
            "restoring {} (completed {}) into a failure-free run: {detail}",
            cp.id, cp.completed_at
        )
    };
    if r.ending != Ending::Finished {
        return Ok(Some(fail(format!("{} (at {})", r.ending.describe(), r.now))));
    }
    let outcomes = output_invariants(job, reference.get()?, &r.world);
    let wanted = if exactly_once { Invariant::ExactlyOnce } else { Invariant::NoLoss };
    Ok(outcomes.iter().find(|o| o.invariant == wanted && !o.holds).map(|o| fail(o.detail.clone())))
}
