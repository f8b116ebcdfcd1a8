//! Stable fingerprints of worlds, and the explorer's visited set.
//!
//! The fingerprint is the world's derived `Hash` fed into a fixed 64-bit hasher (a word-wise
//! multiply-xor in the style of FNV, finished with MurmurHash3's fmix64). It does not use
//! `DefaultHasher`, so it is the same in every process and on every machine for the same
//! binary. Timestamps and message ids take no part (their `Hash` writes nothing).

use super::por::Sleep;
use crate::record::fmix64;
use crate::world::{Event, World};
use std::hash::{Hash, Hasher};

/// A fixed, fast 64-bit hasher.
pub struct FpHasher(u64);

impl Default for FpHasher {
    fn default() -> Self {
        FpHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FpHasher {
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w) ^ ((chunk.len() as u64) << 59));
        }
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

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
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

/// Fingerprints seen, each with the sleep set it was explored with. An open-addressing table:
/// only looked up, never iterated, so its layout cannot reach behaviour.
#[derive(Default)]
pub struct VisitedSet {
    keys: Vec<u64>,
    sleeps: Vec<Sleep>,
    /// The least depth at which each state was reached.
    depths: Vec<u32>,
    len: usize,
}

impl VisitedSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, fp: u64) -> usize {
        let mask = self.keys.len() - 1;
        let mut i = (fp as usize) & mask;
        while self.keys[i] != 0 && self.keys[i] != fp {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_sleeps = std::mem::take(&mut self.sleeps);
        let old_depths = std::mem::take(&mut self.depths);
        let cap = (old_keys.len() * 2).max(1024);
        self.keys = vec![0; cap];
        self.sleeps = vec![Sleep::default(); cap];
        self.depths = vec![0; cap];
        for ((k, s), d) in old_keys.into_iter().zip(old_sleeps).zip(old_depths) {
            if k != 0 {
                let i = self.slot(k);
                self.keys[i] = k;
                self.sleeps[i] = s;
                self.depths[i] = d;
            }
        }
    }

    pub fn insert(&mut self, fp: u64, sleep: Sleep) {
        let _ = self.admit(fp, &sleep, 0, false);
    }

    /// Whether a state reached with sleep set `sleep` must be explored, and how. A new state
    /// is explored with `sleep`. A seen state was explored before with the stored sleep set
    /// T: if T is part of `sleep`, nothing new can come of it; otherwise the events that slept
    /// then and are awake now (T minus `sleep`) must be explored from it, and the stored set
    /// becomes T ∩ `sleep` (Godefroid's stateful sleep-set search). A seen state reached at a
    /// smaller depth than before is explored again in full, so that a depth bound cannot hide
    /// what lies below it (depth-first search may reach a state by a long path first).
    pub fn admit(&mut self, fp: u64, sleep: &Sleep, depth: u32, reexpand: bool) -> Option<Admit> {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let i = self.slot(fp);
        if self.keys[i] == 0 {
            self.keys[i] = fp;
            self.sleeps[i] = sleep.clone();
            self.depths[i] = depth;
            self.len += 1;
            return Some(Admit { sleep: sleep.clone(), only: None, shallower: false });
        }
        if reexpand && depth < self.depths[i] {
            self.depths[i] = depth;
            let narrowed = self.sleeps[i].intersect(sleep);
            self.sleeps[i] = narrowed.clone();
            return Some(Admit { sleep: narrowed, only: Some(Vec::new()), shallower: true });
        }
        let stored = &self.sleeps[i];
        if stored.is_subset(sleep) {
            return None;
        }
        let awake: Vec<Event> =
            stored.events().iter().copied().filter(|e| !sleep.contains(e)).collect();
        let narrowed = stored.intersect(sleep);
        self.sleeps[i] = narrowed.clone();
        Some(Admit { sleep: narrowed, only: Some(awake), shallower: false })
    }
}

/// How to explore an admitted state: with this sleep set, and (on a revisit) only these
/// events.
pub struct Admit {
    pub sleep: Sleep,
    pub only: Option<Vec<Event>>,
    /// Reached by a shorter path than before: explore all of it again (within the bounds).
    pub shallower: bool,
}
