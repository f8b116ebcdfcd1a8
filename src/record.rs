//! Records, keys and the stable key hash.
//!
//! Keys are interned once, at validation, into a [`KeyTable`]: every key that can ever appear
//! in a run (source keys, and the integer keys `rekey_mod` can produce) gets a dense [`KeyId`],
//! assigned in key order (integers before strings, each in natural order). Records therefore
//! carry a `u32` instead of a string, and per-key state is a `Vec` indexed by key id.
//!
//! The key hash is part of the product contract (it decides partitioning, `key_mod` filters
//! and `rekey_mod` maps), so it is a fixed algorithm: FNV-1a 64 over a tagged encoding of the
//! key, finished with the `fmix64` mixer of MurmurHash3. See docs/scenario-format.md.

use crate::ids::KeyId;
use std::fmt;

/// The number of key groups, Flink's default maximum parallelism.
pub const KEY_GROUPS: u32 = 128;

/// One data record. 24 bytes; `Copy`, so it moves through channels without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Record {
    pub key: KeyId,
    pub value: i64,
    /// Event time in milliseconds.
    pub ts: i64,
}

/// A key as written in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Int(i64),
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => write!(f, "{s}"),
        }
    }
}

/// FNV-1a 64 over bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The finalisation mix of MurmurHash3: spreads FNV's weak low bits over the whole word.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The stable hash of a key: `fmix64(fnv1a64(tag ++ payload))`, where an integer key is the
/// tag byte `i` followed by its 8 little-endian bytes and a string key is the tag byte `s`
/// followed by its UTF-8 bytes.
pub fn key_hash(key: &Key) -> u64 {
    let mut buf = Vec::with_capacity(16);
    match key {
        Key::Int(i) => {
            buf.push(b'i');
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Key::Str(s) => {
            buf.push(b's');
            buf.extend_from_slice(s.as_bytes());
        }
    }
    fmix64(fnv1a64(&buf))
}

/// The key group of a hash: `hash mod 128`.
pub fn key_group_of(hash: u64) -> u32 {
    (hash % u64::from(KEY_GROUPS)) as u32
}

/// The subtask that owns a key group, as Flink computes it: `kg × parallelism / 128`.
pub fn subtask_of_key_group(key_group: u32, parallelism: u32) -> u32 {
    key_group * parallelism / KEY_GROUPS
}

/// Every key of a job, interned in sorted order, with its hash and key group precomputed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyTable {
    keys: Vec<Key>,
    hashes: Vec<u64>,
    groups: Vec<u8>,
}

impl KeyTable {
    /// Interns a sorted, deduplicated list of keys.
    pub fn from_sorted(keys: Vec<Key>) -> KeyTable {
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys must be sorted and unique");
        let hashes: Vec<u64> = keys.iter().map(key_hash).collect();
        let groups = hashes.iter().map(|&h| key_group_of(h) as u8).collect();
        KeyTable { keys, hashes, groups }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id of a key, if it was interned.
    pub fn id(&self, key: &Key) -> Option<KeyId> {
        self.keys.binary_search(key).ok().map(|i| KeyId(i as u32))
    }

    pub fn key(&self, id: KeyId) -> &Key {
        &self.keys[id.index()]
    }

    pub fn hash(&self, id: KeyId) -> u64 {
        self.hashes[id.index()]
    }

    pub fn group(&self, id: KeyId) -> u32 {
        u32::from(self.groups[id.index()])
    }

    pub fn ids(&self) -> impl Iterator<Item = KeyId> {
        (0..self.keys.len() as u32).map(KeyId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_hash_is_a_fixed_function_of_the_key() {
        // Pinned values: changing them changes every partitioning in every scenario.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let h = key_hash(&Key::Str("k0".into()));
        assert_eq!(h, key_hash(&Key::Str("k0".into())));
        assert_ne!(h, key_hash(&Key::Str("k1".into())));
        assert_ne!(key_hash(&Key::Int(0)), key_hash(&Key::Str("0".into())));
    }

    #[test]
    fn key_groups_map_to_subtasks_in_contiguous_ranges() {
        assert_eq!(subtask_of_key_group(0, 3), 0);
        assert_eq!(subtask_of_key_group(127, 3), 2);
        assert_eq!(subtask_of_key_group(42, 3), 0);
        assert_eq!(subtask_of_key_group(43, 3), 1);
        let mut last = 0;
        for kg in 0..KEY_GROUPS {
            let s = subtask_of_key_group(kg, 5);
            assert!(s >= last && s < 5);
            last = s;
        }
    }

    #[test]
    fn interned_keys_are_numbered_in_key_order() {
        let t = KeyTable::from_sorted(vec![Key::Int(-1), Key::Int(3), Key::Str("a".into())]);
        assert_eq!(t.id(&Key::Int(3)), Some(KeyId(1)));
        assert_eq!(t.id(&Key::Str("b".into())), None);
        assert_eq!(t.key(KeyId(2)), &Key::Str("a".into()));
    }
}

/// An order-free hash of a list of records: the same for every permutation of the list (a
/// wrapping sum of mixed record hashes, plus the length).
pub fn multiset_hash(records: &[Record]) -> u64 {
    let mut sum = records.len() as u64;
    for r in records {
        sum = sum.wrapping_add(record_hash(r));
    }
    sum
}

/// The hash of one record that [`multiset_hash`] sums (so that sums of it over any split of a
/// list add up to the list's).
#[inline]
pub fn record_hash(r: &Record) -> u64 {
    let x = fmix64(u64::from(r.key.0) ^ 0x9e37_79b9_7f4a_7c15);
    let x = fmix64(x ^ r.value as u64);
    fmix64(x ^ (r.ts as u64).rotate_left(17))
}

thread_local! {
    static EXACT_ORDER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether hashes of records a transaction holds keep their order on this thread
/// ([`set_exact_order`]).
pub fn exact_order() -> bool {
    EXACT_ORDER.with(|c| c.get())
}

/// Makes the hashes of transaction contents on this thread keep the order of their records
/// (`true`) or not (`false`, the default). The explorer's fingerprints treat the records of
/// one transaction as a multiset (docs/model-checking.md, "Fingerprints"); tests turn the
/// exact order back on to compare the two searches.
pub fn set_exact_order(exact: bool) {
    EXACT_ORDER.with(|c| c.set(exact));
}

/// Hashes the records of one transaction: as a multiset, or in order under
/// [`set_exact_order`].
pub fn hash_txn_records<H: std::hash::Hasher>(records: &[Record], h: &mut H) {
    use std::hash::Hash;
    if exact_order() {
        records.hash(h);
    } else {
        h.write_u64(multiset_hash(records));
    }
}
