//! Stable fingerprints of worlds, and the explorer's visited set.
//!
//! The fingerprint is the world's derived `Hash` fed into a fixed 64-bit hasher (a word-wise
//! multiply-xor in the style of FNV, finished with MurmurHash3's fmix64). It does not use
//! `DefaultHasher`, so it is the same in every process and on every machine for the same
//! binary. Timestamps and message ids take no part (their `Hash` writes nothing).

use super::por::{SleepId, Sleeps};
use crate::record::fmix64;
use crate::world::World;
use std::hash::{Hash, Hasher};

/// A fixed, fast 64-bit hasher: two independent multiply-rotate lanes that take the words in
/// turn (the two chains of multiplications overlap in the processor), joined and finished with
/// MurmurHash3's fmix64.
pub struct FpHasher {
    a: u64,
    b: u64,
}

impl Default for FpHasher {
    fn default() -> Self {
        FpHasher { a: 0xcbf2_9ce4_8422_2325, b: 0x9e37_79b9_7f4a_7c15 }
    }
}

impl Hasher for FpHasher {
    fn finish(&self) -> u64 {
        fmix64(self.a ^ fmix64(self.b))
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, x: u8) {
        self.write_u64(u64::from(x));
    }

    fn write_u16(&mut self, x: u16) {
        self.write_u64(u64::from(x));
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        // Lane `a` takes this word; the lanes swap, so `b` takes the next.
        let a = (self.a ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
        self.a = self.b;
        self.b = a;
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }

    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
}

/// The fingerprint of a world (never 0, so that 0 can mark empty slots).
pub fn fingerprint(w: &World) -> u64 {
    let mut h = FpHasher::default();
    w.hash(&mut h);
    h.finish().max(1)
}

/// Fingerprints seen, each with the sleep set it was explored with and the least depth it was
/// reached at. An open-addressing table kept as three parallel arrays (fingerprints, sleep sets,
/// depths: 14 bytes a slot), between half and three quarters full (it grows by half), so a
/// state costs between 19 and 28 bytes; a lookup reads the fingerprint array, which is where it
/// misses the cache. Only looked up, never iterated, so its layout cannot reach behaviour.
#[derive(Default)]
pub struct VisitedSet {
    /// 0 marks an empty slot.
    keys: Vec<u64>,
    sleep: Vec<SleepId>,
    /// Depths above `u16::MAX` are stored as `u16::MAX` (the depth bound is at most 10,000).
    depth: Vec<u16>,
    len: usize,
}

fn depth16(d: u32) -> u16 {
    u16::try_from(d).unwrap_or(u16::MAX)
}

impl VisitedSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.sleep.capacity() * 4 + self.depth.capacity() * 2
    }

    fn slot(&self, fp: u64) -> usize {
        let n = self.keys.len();
        // The fingerprint scaled to the table (Lemire's multiply-shift: no power of two needed).
        let mut i = ((u128::from(fp) * n as u128) >> 64) as usize;
        while self.keys[i] != 0 && self.keys[i] != fp {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        i
    }

    fn full(&self) -> bool {
        (self.len + 1) * 4 > self.keys.len() * 3
    }

    fn grow(&mut self) {
        let keys = std::mem::take(&mut self.keys);
        let sleep = std::mem::take(&mut self.sleep);
        let depth = std::mem::take(&mut self.depth);
        let n = (keys.len() + keys.len() / 2).max(1024);
        self.keys = vec![0; n];
        self.sleep = vec![SleepId::EMPTY; n];
        self.depth = vec![0; n];
        for k in 0..keys.len() {
            if keys[k] != 0 {
                let i = self.slot(keys[k]);
                self.keys[i] = keys[k];
                self.sleep[i] = sleep[k];
                self.depth[i] = depth[k];
            }
        }
    }

    /// The least depth at which a seen state was reached (0 for a settled one).
    pub fn depth(&self, fp: u64) -> Option<u32> {
        if self.keys.is_empty() {
            return None;
        }
        let i = self.slot(fp);
        (self.keys[i] == fp).then_some(u32::from(self.depth[i]))
    }

    /// Records a state as seen with an empty sleep set (the initial state; a cache key).
    /// Returns whether it is new.
    pub fn insert(&mut self, fp: u64) -> bool {
        if self.full() {
            self.grow();
        }
        let i = self.slot(fp);
        if self.keys[i] != 0 {
            return false;
        }
        self.keys[i] = fp;
        self.len += 1;
        true
    }

    /// Marks a seen state as never to be explored again (it violates an invariant and was not
    /// expanded): it now counts as explored with nothing asleep, which covers every arrival.
    pub fn settle(&mut self, fp: u64) {
        if self.keys.is_empty() {
            return;
        }
        let i = self.slot(fp);
        if self.keys[i] == fp {
            self.sleep[i] = SleepId::EMPTY;
            self.depth[i] = 0;
        }
    }

    /// Whether a state reached with sleep set `sleep` must be explored, and how. A new state
    /// is explored with `sleep`. A seen state was explored before with the stored sleep set
    /// T: if T is part of `sleep`, nothing new can come of it; otherwise the events that slept
    /// then and are awake now (T minus `sleep`) must be explored from it, and the stored set
    /// becomes T ∩ `sleep` (Godefroid's stateful sleep-set search). With `reexpand`, a seen
    /// state reached at a smaller depth than before is explored again in full, so that a
    /// depth bound cannot hide what lies below it (depth-first search may reach a state by a
    /// long path first).
    /// Whether [`VisitedSet::admit`] would drop a state reached with sleep set `sleep` (sorted
    /// keys) at `depth`, now and after any later admissions (which only narrow the stored
    /// sleep sets and, re-expanding, lower the stored depths).
    pub fn covers(
        &self,
        fp: u64,
        sleep: &[u64],
        depth: u32,
        reexpand: bool,
        sleeps: &Sleeps,
    ) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let i = self.slot(fp);
        if self.keys[i] != fp || (reexpand && depth16(depth) < self.depth[i]) {
            return false;
        }
        sleeps.is_subset_of(self.sleep[i], sleep)
    }

    pub fn admit(
        &mut self,
        fp: u64,
        sleep: SleepId,
        depth: u32,
        reexpand: bool,
        sleeps: &mut Sleeps,
    ) -> Option<Admit> {
        if self.full() {
            self.grow();
        }
        let i = self.slot(fp);
        if self.keys[i] == 0 {
            self.keys[i] = fp;
            self.sleep[i] = sleep;
            self.depth[i] = depth16(depth);
            self.len += 1;
            return Some(Admit { sleep, only: None, shallower: false });
        }
        if reexpand && depth16(depth) < self.depth[i] {
            self.depth[i] = depth16(depth);
            let narrowed = sleeps.intersect(self.sleep[i], sleep);
            self.sleep[i] = narrowed;
            return Some(Admit { sleep: narrowed, only: Some(Vec::new()), shallower: true });
        }
        let stored = self.sleep[i];
        if sleeps.is_subset(stored, sleep) {
            return None;
        }
        let awake = sleeps.minus(stored, sleep);
        let narrowed = sleeps.intersect(stored, sleep);
        self.sleep[i] = narrowed;
        Some(Admit { sleep: narrowed, only: Some(awake), shallower: false })
    }
}

/// How to explore an admitted state: with this sleep set, and (on a revisit) only these
/// events.
pub struct Admit {
    pub sleep: SleepId,
    /// Event keys (see `por::key`).
    pub only: Option<Vec<u64>>,
    /// Reached by a shorter path than before: explore all of it again (within the bounds).
    pub shallower: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_new_once_then_revisited_only_for_events_that_slept() {
        let mut sleeps = Sleeps::default();
        let mut v = VisitedSet::default();
        let ab = sleeps.intern(&[1, 2]);
        let b = sleeps.intern(&[2]);
        let first = v.admit(7, ab, 3, false, &mut sleeps).expect("new");
        assert_eq!((first.sleep, first.only), (ab, None));
        // Reached again with more asleep: nothing new.
        assert!(v.admit(7, ab, 3, false, &mut sleeps).is_none());
        // Reached with 1 awake: explore 1 only, and remember {2}.
        let again = v.admit(7, b, 3, false, &mut sleeps).expect("a revisit");
        assert_eq!((again.sleep, again.only), (b, Some(vec![1])));
        assert!(v.admit(7, b, 3, false, &mut sleeps).is_none());
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn the_visited_set_keeps_every_state_as_it_grows_by_half() {
        let mut sleeps = Sleeps::default();
        let mut v = VisitedSet::default();
        let fps: Vec<u64> = (1..20_000u64).map(crate::record::fmix64).map(|x| x.max(1)).collect();
        for (d, &fp) in fps.iter().enumerate() {
            assert!(v.admit(fp, SleepId::EMPTY, d as u32, false, &mut sleeps).is_some());
        }
        assert_eq!(v.len(), fps.len());
        for (d, &fp) in fps.iter().enumerate() {
            assert_eq!(v.depth(fp), Some(d as u32));
            assert!(v.admit(fp, SleepId::EMPTY, 0, false, &mut sleeps).is_none());
        }
        // Between half and three quarters full: at most 28 bytes a state.
        assert!(v.bytes() <= 28 * fps.len() + 14 * 1024, "{} bytes", v.bytes());
    }

    #[test]
    fn a_settled_state_is_never_explored_again() {
        let mut sleeps = Sleeps::default();
        let mut v = VisitedSet::default();
        let ab = sleeps.intern(&[1, 2]);
        assert!(v.admit(9, ab, 5, true, &mut sleeps).is_some());
        v.settle(9);
        assert!(v.admit(9, SleepId::EMPTY, 5, true, &mut sleeps).is_none());
        // Not even from a shallower path under a depth bound.
        assert!(v.admit(9, SleepId::EMPTY, 1, true, &mut sleeps).is_none());
    }

    #[test]
    fn under_a_depth_bound_a_shallower_arrival_is_explored_in_full_again() {
        let mut sleeps = Sleeps::default();
        let mut v = VisitedSet::default();
        let a = sleeps.intern(&[1]);
        assert!(v.admit(4, a, 8, true, &mut sleeps).is_some());
        let again = v.admit(4, a, 2, true, &mut sleeps).expect("shallower");
        assert!(again.shallower);
        // Without re-expansion (no depth bound), it is not.
        let mut w = VisitedSet::default();
        assert!(w.admit(4, a, 8, false, &mut sleeps).is_some());
        assert!(w.admit(4, a, 2, false, &mut sleeps).is_none());
    }
}
