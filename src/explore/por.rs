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
//!
//! Sleep sets hold [event keys](key), not events: a message event is named by what the message
//! says, not by its id. Fingerprints leave ids out, so one state can be reached by two paths
//! that gave the same message different ids; a sleep set stored with the state must mean the
//! same event on both.

use super::footprint::Footprint;
use crate::explore::FpHasher;
use crate::world::{Event, World};
use std::hash::{Hash, Hasher};

/// An event named independently of message ids: steps, deliveries and injections by what they
/// act on, control messages, timers and uploads by a 56-bit hash of their content (two
/// messages with the same content are interchangeable: fingerprints take messages as a
/// multiset). The top byte says which kind of event it is.
pub fn key(w: &World, e: Event) -> u64 {
    fn content(tag: u64, x: impl Hash) -> u64 {
        let mut h = FpHasher::default();
        x.hash(&mut h);
        (tag << 56) | (h.finish() & ((1 << 56) - 1))
    }
    match e {
        Event::Step(t) => (1 << 56) | u64::from(t.0),
        Event::Deliver(c) => (2 << 56) | u64::from(c.0),
        Event::Control(id) => match w.control.iter().find(|m| m.id == id) {
            Some(m) => content(3, m),
            None => (3 << 56) | u64::from(id),
        },
        Event::Timer(id) => match w.timers.iter().find(|t| t.id == id) {
            Some(t) => content(4, t),
            None => (4 << 56) | u64::from(id),
        },
        Event::Upload(id) => match w.uploads.iter().find(|u| u.id == id) {
            Some(u) => content(5, u),
            None => (5 << 56) | u64::from(id),
        },
        Event::Inject(i) => (6 << 56) | u64::from(i),
    }
}

/// A sleep set, interned: a copyable name for a sorted set of event keys. `SleepId::EMPTY`
/// is the empty set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SleepId(u32);

impl SleepId {
    pub const EMPTY: SleepId = SleepId(0);
}

/// The interner of sleep sets. Sleep sets repeat a great deal (most are empty or hold a few
/// events), so states and the visited set keep a 4-byte name instead of a list. The index is
/// an open-addressing table on a fixed hash of the keys: looked up, never iterated.
pub struct Sleeps {
    sets: Vec<Box<[u64]>>,
    /// Index into `sets` plus one; 0 marks an empty slot. Never more than half full.
    slots: Vec<u32>,
    scratch: Vec<u64>,
}

impl Default for Sleeps {
    fn default() -> Self {
        Sleeps { sets: vec![Box::new([])], slots: vec![0; 64], scratch: Vec::new() }
    }
}

fn hash_keys(keys: &[u64]) -> usize {
    let mut h = FpHasher::default();
    for k in keys {
        h.write_u64(*k);
    }
    h.finish() as usize
}

impl Sleeps {
    pub fn get(&self, id: SleepId) -> &[u64] {
        &self.sets[id.0 as usize]
    }

    pub fn contains(&self, id: SleepId, key: u64) -> bool {
        id != SleepId::EMPTY && self.get(id).binary_search(&key).is_ok()
    }

    pub fn is_subset(&self, a: SleepId, b: SleepId) -> bool {
        a == b || self.get(a).iter().all(|k| self.contains(b, *k))
    }

    /// The keys of `a` that are not in `b`.
    pub fn minus(&self, a: SleepId, b: SleepId) -> Vec<u64> {
        self.get(a).iter().copied().filter(|k| !self.contains(b, *k)).collect()
    }

    pub fn intersect(&mut self, a: SleepId, b: SleepId) -> SleepId {
        if a == b {
            return a;
        }
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.extend(self.get(a).iter().copied().filter(|k| self.contains(b, *k)));
        let id = self.intern(&s);
        self.scratch = s;
        id
    }

    /// Where `keys` is, or would go, in `slots`.
    fn slot(&self, keys: &[u64]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash_keys(keys) & mask;
        while self.slots[i] != 0 && &*self.sets[self.slots[i] as usize - 1] != keys {
            i = (i + 1) & mask;
        }
        i
    }

    /// The name of the sorted, duplicate-free set `keys`.
    pub(crate) fn intern(&mut self, keys: &[u64]) -> SleepId {
        if keys.is_empty() {
            return SleepId::EMPTY;
        }
        let i = self.slot(keys);
        if self.slots[i] != 0 {
            return SleepId(self.slots[i] - 1);
        }
        let id = self.sets.len() as u32;
        self.sets.push(keys.into());
        self.slots[i] = id + 1;
        if self.sets.len() * 2 > self.slots.len() {
            self.slots = vec![0; self.slots.len() * 2];
            for id in 1..self.sets.len() {
                let i = self.slot(&self.sets[id]);
                self.slots[i] = id as u32 + 1;
            }
        }
        SleepId(id)
    }

    /// [`Sleeps::after_keys`], named (what the unit tests compare).
    #[cfg(test)]
    pub fn after(&mut self, sleep: SleepId, done: &[u64], e: u64, table: &Footprints) -> SleepId {
        let mut s = std::mem::take(&mut self.scratch);
        self.after_keys(sleep, done, e, table, &mut s);
        let id = self.intern(&s);
        self.scratch = s;
        id
    }

    /// The sleep set of the successor reached by `e` from a node with sleep set `sleep`, in
    /// which `done` were explored before `e`: those of them, and of `sleep`, that commute
    /// with `e`, as sorted keys into `out`. `table` holds the footprints of the node's events
    /// and sleeping events.
    pub fn after_keys(
        &self,
        sleep: SleepId,
        done: &[u64],
        e: u64,
        table: &Footprints,
        out: &mut Vec<u64>,
    ) {
        out.clear();
        if sleep == SleepId::EMPTY && done.is_empty() {
            return;
        }
        let fp_e = table.of(e);
        if fp_e.global {
            return;
        }
        out.extend(
            self.get(sleep)
                .iter()
                .chain(done)
                .copied()
                .filter(|&x| x != e && table.of(x).independent(&fp_e)),
        );
        out.sort_unstable();
        out.dedup();
    }

    /// Whether every key of set `a` is in the sorted list `keys`.
    pub fn is_subset_of(&self, a: SleepId, keys: &[u64]) -> bool {
        self.get(a).iter().all(|k| keys.binary_search(k).is_ok())
    }

    /// Bytes held (approximately: the sets and the index).
    pub fn bytes(&self) -> usize {
        self.sets.iter().map(|s| 16 + 8 * s.len()).sum::<usize>() + self.slots.capacity() * 4
    }

    /// How many distinct sleep sets there are.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether no set but the empty one was ever made.
    pub fn is_empty(&self) -> bool {
        self.sets.len() == 1
    }
}

/// The footprints of one node's events, by event key.
#[derive(Default)]
pub struct Footprints(Vec<(u64, Footprint)>);

impl Footprints {
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn insert(&mut self, key: u64, fp: Footprint) {
        if !self.0.iter().any(|(k, _)| *k == key) {
            self.0.push((key, fp));
        }
    }

    /// An event not in the table (a sleeping event that is not enabled here) touches
    /// everything: it commutes with nothing, so it leaves the sleep set.
    pub fn of(&self, key: u64) -> Footprint {
        self.0.iter().find(|(k, _)| *k == key).map_or(Footprint::GLOBAL, |(_, f)| *f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(resources: &[u32]) -> Footprint {
        let mut f = Footprint::NONE;
        for r in resources {
            f.write(*r);
        }
        f
    }

    #[test]
    fn sleep_sets_are_interned_and_the_empty_set_is_named_empty() {
        let mut s = Sleeps::default();
        let mut t = Footprints::default();
        for k in [10, 20, 30] {
            t.insert(k, fp(&[k as u32]));
        }
        let a = s.after(SleepId::EMPTY, &[10, 20], 30, &t);
        let b = s.after(SleepId::EMPTY, &[20, 10], 30, &t);
        assert_eq!(a, b);
        assert_eq!(s.get(a), &[10, 20]);
        assert_eq!(s.after(SleepId::EMPTY, &[], 30, &t), SleepId::EMPTY);
        let only_20 = s.after(SleepId::EMPTY, &[20], 30, &t);
        assert!(s.is_subset(only_20, a));
        assert!(!s.is_subset(a, only_20));
        assert_eq!(s.minus(a, only_20), vec![10]);
        assert_eq!(s.intersect(a, only_20), only_20);
    }

    #[test]
    fn interned_sleep_sets_keep_their_names_as_the_index_grows() {
        let mut s = Sleeps::default();
        let ids: Vec<SleepId> = (1..500u64).map(|k| s.intern(&[k, k + 1000])).collect();
        for (k, id) in (1..500u64).zip(&ids) {
            assert_eq!(s.get(*id), &[k, k + 1000]);
            assert_eq!(s.intern(&[k, k + 1000]), *id);
        }
        assert_eq!(s.len(), 500);
    }

    #[test]
    fn an_event_dependent_on_the_explored_one_does_not_sleep() {
        let mut s = Sleeps::default();
        let mut t = Footprints::default();
        t.insert(1, fp(&[1, 5]));
        t.insert(2, fp(&[2, 5]));
        t.insert(3, fp(&[3]));
        let after = s.after(SleepId::EMPTY, &[1, 3], 2, &t);
        assert_eq!(s.get(after), &[3]);
        // A key missing from the table touches everything.
        let after = s.after(SleepId::EMPTY, &[99], 2, &t);
        assert_eq!(after, SleepId::EMPTY);
    }
}
