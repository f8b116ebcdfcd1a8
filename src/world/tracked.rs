//! A part of the world that remembers its own fingerprint until it is changed.
//!
//! The explorer fingerprints every successor it computes, and one event changes only one or
//! two tasks and channels. `Tracked<T>` caches the hash of its value; any mutable access
//! (`DerefMut`) forgets it and marks the part touched. A part can also change by being replaced
//! whole: a new `Tracked` is therefore born touched. (Swapping two parts with
//! `std::mem::swap` would change a world unseen; nothing does.) A world's fingerprint then
//! re-hashes only what changed. The same mark tells the explorer which parts an event
//! touched, so it can put a successor back to its parent's state by copying those parts only
//! (`World::reset_to`).
//!
//! The cache is a `Cell`: a world is never shared between threads while it runs (it is
//! `Send`, not `Sync`).

use super::World;
use crate::explore::FpHasher;
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub struct Tracked<T> {
    value: T,
    /// The fingerprint of `value`; 0 when unknown (changed since it was last hashed).
    hash: Cell<u64>,
    /// Changed since this copy was made.
    touched: bool,
}

impl<T> Tracked<T> {
    /// A new part, marked touched: assigning it over a part of a world (`w.tasks[i] =
    /// Tracked::new(..)`) is then a change that `World::reset_to` sees. (Swapping two parts
    /// with `std::mem::swap` would not be seen; the world never does.)
    pub fn new(value: T) -> Tracked<T> {
        Tracked { value, hash: Cell::new(0), touched: true }
    }

    /// Whether the value may have changed since this copy was made (by `clone` or
    /// `clone_from`).
    pub fn touched(&self) -> bool {
        self.touched
    }

    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Tracked<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.hash.set(0);
        self.touched = true;
        &mut self.value
    }
}

/// `clone` makes a fresh copy that hashes its value anew when asked; `clone_from` (what the
/// explorer uses on its hot path) carries the cached hash over.
impl<T: Clone> Clone for Tracked<T> {
    fn clone(&self) -> Self {
        Tracked { value: self.value.clone(), hash: Cell::new(0), touched: false }
    }

    fn clone_from(&mut self, src: &Self) {
        self.value.clone_from(&src.value);
        self.hash.set(src.hash.get());
        self.touched = false;
    }
}

impl<T: Hash> Hash for Tracked<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut h = self.hash.get();
        if h == 0 {
            let mut one = FpHasher::default();
            self.value.hash(&mut one);
            h = one.finish().max(1);
            self.hash.set(h);
        }
        state.write_u64(h);
    }
}

impl<T: PartialEq> PartialEq for Tracked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Tracked<T> {}

impl<T: std::fmt::Debug> std::fmt::Debug for Tracked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Default> Default for Tracked<T> {
    fn default() -> Self {
        Tracked::new(T::default())
    }
}

/// A list whose order means nothing (control messages, timers and uploads in flight: their
/// order is only their creation order, and any of them may happen next). It hashes as a
/// multiset — its size and the sum of its members' own, well-mixed hashes — the same in every
/// order, without sorting or allocating. Everything else is the `Vec`'s, through `Deref`.
#[derive(Debug, PartialEq, Eq)]
pub struct Multiset<T>(pub Vec<T>);

impl<T> Default for Multiset<T> {
    fn default() -> Self {
        Multiset(Vec::new())
    }
}

impl<T: Clone> Clone for Multiset<T> {
    fn clone(&self) -> Self {
        Multiset(self.0.clone())
    }

    fn clone_from(&mut self, src: &Self) {
        self.0.clone_from(&src.0);
    }
}

impl<T> Deref for Multiset<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> DerefMut for Multiset<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Hash> Hash for Multiset<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let sum = self.0.iter().fold(0u64, |sum, x| {
            let mut one = FpHasher::default();
            x.hash(&mut one);
            sum.wrapping_add(one.finish())
        });
        h.write_usize(self.0.len());
        h.write_u64(sum);
    }
}

impl World {
    /// About how many bytes this world holds (itself and what it owns), for the explorer's
    /// memory figure. Not exact: it counts the lists that grow with the run.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let tasks = self.tasks.len() * (size_of::<Tracked<super::TaskState>>() + 256);
        let channels: usize = self
            .channels
            .iter()
            .map(|c| {
                size_of::<Tracked<super::channel::Channel>>()
                    + c.len() * size_of::<(crate::ids::SimTime, super::channel::Item)>()
            })
            .sum();
        let outputs: usize = self
            .outputs
            .iter()
            .map(|o| {
                size_of::<Tracked<super::output::SinkOutput>>()
                    + o.log.len() * 24
                    + o.prepared.len() * 64
            })
            .sum();
        size_of::<World>()
            + tasks
            + channels
            + outputs
            + self.control.len() * size_of::<super::ControlMsg>()
            + self.timers.len() * size_of::<super::Timer>()
            + self.uploads.len() * (size_of::<super::Upload>() + 64)
            + 512
    }

    /// Makes this world equal to `src` again, given that it was a copy of `src` (by `clone`,
    /// `clone_from` or `reset_to`) and has changed since only by events: copies back the
    /// tracked parts that were touched (see [`Tracked`]) and every other field. What the
    /// explorer does between two successors of one state.
    pub fn reset_to(&mut self, src: &World) {
        fn part<T: Clone>(dst: &mut Tracked<T>, src: &Tracked<T>) {
            if dst.touched() {
                dst.clone_from(src);
            }
        }
        fn parts<T: Clone>(dst: &mut Vec<Tracked<T>>, src: &[Tracked<T>]) {
            if dst.len() != src.len() {
                *dst = src.to_vec();
                return;
            }
            for (d, s) in dst.iter_mut().zip(src) {
                part(d, s);
            }
        }
        let World {
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
            flow,
        } = self;
        // Shared and fixed for a run.
        debug_assert!(Arc::ptr_eq(&job.0, &src.job.0));
        debug_assert!(Arc::ptr_eq(&faults.0, &src.faults.0));
        debug_assert!(Arc::ptr_eq(&injectable.0, &src.injectable.0));
        parts(tasks, &src.tasks);
        parts(channels, &src.channels);
        parts(outputs, &src.outputs);
        finished_tasks.clone_from(&src.finished_tasks);
        counters.clone_from(&src.counters);
        match (coordinator.as_mut(), src.coordinator.as_ref()) {
            (Some(d), Some(s)) => part(d, s),
            _ => coordinator.clone_from(&src.coordinator),
        }
        part(store, &src.store);
        part(control, &src.control);
        part(timers, &src.timers);
        part(uploads, &src.uploads);
        nodes_up.clone_from(&src.nodes_up);
        links_down.clone_from(&src.links_down);
        armed.clone_from(&src.armed);
        restart.clone_from(&src.restart);
        restarting.clone_from(&src.restarting);
        attempts.clone_from(&src.attempts);
        source_high.clone_from(&src.source_high);
        job_failed.clone_from(&src.job_failed);
        violations.clone_from(&src.violations);
        next_id.clone_from(&src.next_id);
        scratch.clone_from(&src.scratch);
        flow.clone_from(&src.flow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp<T: Hash>(x: &T) -> u64 {
        let mut h = FpHasher::default();
        x.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_tracked_value_hashes_as_its_value_does_whether_cached_or_not() {
        let mut t = Tracked::new(vec![1u32, 2, 3]);
        let first = fp(&t);
        assert_eq!(fp(&t), first);
        t.push(4);
        let changed = fp(&t);
        assert_ne!(changed, first);
        assert_eq!(changed, fp(&Tracked::new(vec![1u32, 2, 3, 4])));
    }

    #[test]
    fn a_copy_carries_the_cached_hash_and_is_untouched_until_changed() {
        let mut a = Tracked::new(vec![7u8]);
        let _ = fp(&a);
        let mut b = Tracked::new(Vec::new());
        b.clone_from(&a);
        assert!(!b.touched());
        assert_eq!(fp(&a), fp(&b));
        a.clear();
        assert!(a.touched() && !b.touched());
        // Hashing a changed value does not make it untouched.
        let _ = fp(&a);
        assert!(a.touched());
    }

    #[test]
    fn a_part_replaced_whole_counts_as_touched_and_a_copy_does_not() {
        let mut parts = vec![Tracked::new(1u32), Tracked::new(2)];
        let copy = parts.clone();
        assert!(copy.iter().all(|p| !p.touched()));
        parts.clone_from(&copy);
        assert!(parts.iter().all(|p| !p.touched()));
        parts[0] = Tracked::new(5);
        assert!(parts[0].touched() && !parts[1].touched());
    }
}
