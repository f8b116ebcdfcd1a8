//! The records of one source partition: written out in the scenario (`data`), or generated
//! from a `generate` object on demand.
//!
//! A generated partition is a pure function of its generator, its source's id and its index
//! (docs/scenario-format.md, "generate"). Every record takes the same number of 64-bit draws
//! from the partition's stream (none, one or two), so the draws of record *i* start at a known
//! word of the stream, and any stretch of the partition can be generated on its own, equal to
//! the same stretch generated from the start. Nothing is generated at load:
//!
//! * the simulator reads records one at a time through [`SourcePartition::get`], which generates
//!   fixed-size chunks on first use and keeps them (a run that stops after a thousand records of
//!   a ten-million-record partition generates about a thousand);
//! * the reference and the validator stream through a prefix with [`SourcePartition::records`],
//!   keeping nothing.
//!
//! The kept chunks are a cache of a pure function, so they never change what anyone reads.

use crate::ids::KeyId;
use crate::record::{Key, Record};
use crate::rng;
use rand::RngCore;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Records per chunk of a generated partition.
const CHUNK: usize = 1024;

#[derive(Clone, Copy, Debug)]
pub(super) enum Distribution {
    Uniform,
    Zipf,
    RoundRobin,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Values {
    One,
    Sequence,
    Random(i64, i64),
}

/// A validated `generate` object.
#[derive(Clone, Copy, Debug)]
pub(super) struct Generator {
    pub records: u64,
    pub keys: u64,
    pub distribution: Distribution,
    pub values: Values,
    pub ts_step_ms: u64,
    pub seed: u64,
}

/// The `i`-th key of a generator: the string `k<i>`.
pub(super) fn generated_key(i: u64) -> Key {
    Key::Str(format!("k{i}"))
}

/// What one generated partition needs besides its chunks.
pub struct Recipe {
    g: Generator,
    /// The stream's name, `generate/<source id>`, and index, the partition.
    stream: String,
    partition: u64,
    /// The id of key `k<i>` at index i.
    keys: Arc<[KeyId]>,
    /// Zipf: the cumulative integer weights of the keys (shared by the source's partitions).
    zipf: Arc<[u64]>,
}

impl Recipe {
    /// 64-bit draws per record: the key (unless round robin), then the value (if random).
    fn draws(&self) -> u64 {
        let key = !matches!(self.g.distribution, Distribution::RoundRobin);
        let value = matches!(self.g.values, Values::Random(..));
        u64::from(key) + u64::from(value)
    }

    /// The stream positioned at the first draw of record `from`.
    fn stream_at(&self, from: u64) -> rng::Stream {
        let mut s = rng::stream(self.g.seed, &self.stream, self.partition);
        // A draw is two 32-bit words of the stream.
        s.set_word_pos(u128::from(from) * u128::from(self.draws()) * 2);
        s
    }

    /// Record `i`, taking its draws from `s` (positioned at them).
    fn record(&self, i: u64, s: &mut rng::Stream) -> Record {
        let g = &self.g;
        let k = match g.distribution {
            Distribution::Uniform => rng::below(s, g.keys),
            Distribution::RoundRobin => i % g.keys,
            Distribution::Zipf => {
                let total = *self.zipf.last().expect("keys >= 1");
                let u = rng::below(s, total);
                self.zipf.partition_point(|&c| c <= u) as u64
            }
        };
        let value = match g.values {
            Values::One => 1,
            Values::Sequence => i as i64 + 1,
            Values::Random(lo, hi) => {
                let span = hi.wrapping_sub(lo) as u64;
                let draw = match span.checked_add(1) {
                    Some(n) => rng::below(s, n),
                    None => s.next_u64(),
                };
                lo.wrapping_add(draw as i64)
            }
        };
        Record { key: self.keys[k as usize], value, ts: (i * g.ts_step_ms) as i64 }
    }
}

enum Body {
    Literal(Vec<Record>),
    Generated { recipe: Recipe, chunks: Box<[OnceLock<Box<[Record]>>]> },
}

/// The records of one partition of a source, in order.
pub struct SourcePartition {
    len: usize,
    body: Body,
}

impl fmt::Debug for SourcePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.body {
            Body::Literal(v) => f.debug_tuple("Literal").field(v).finish(),
            Body::Generated { recipe, .. } => f
                .debug_struct("Generated")
                .field("generator", &recipe.g)
                .field("stream", &recipe.stream)
                .field("partition", &recipe.partition)
                .finish(),
        }
    }
}

impl SourcePartition {
    /// Records written out in the scenario.
    pub fn literal(records: Vec<Record>) -> SourcePartition {
        SourcePartition { len: records.len(), body: Body::Literal(records) }
    }

    /// The cumulative Zipf weights of a generator's keys (empty unless it draws Zipf): key j
    /// weighs ⌊2³²/(j+1)⌋.
    pub(super) fn zipf_weights(g: &Generator) -> Arc<[u64]> {
        if !matches!(g.distribution, Distribution::Zipf) {
            return Arc::from(Vec::new());
        }
        let mut acc = 0u64;
        (0..g.keys)
            .map(|j| {
                acc += (1u64 << 32) / (j + 1);
                acc
            })
            .collect()
    }

    /// SourcePartition `partition` of the source `source` with generator `g`; `keys[i]` is the id
    /// of the key `k<i>`, `zipf` the generator's [`zipf_weights`](Self::zipf_weights).
    pub(super) fn generated(
        g: Generator,
        source: &str,
        partition: u64,
        keys: Arc<[KeyId]>,
        zipf: Arc<[u64]>,
    ) -> SourcePartition {
        let len = g.records as usize;
        let chunks = (0..len.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect();
        let recipe = Recipe { g, stream: format!("generate/{source}"), partition, keys, zipf };
        SourcePartition { len, body: Body::Generated { recipe, chunks } }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Record `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Record> {
        if i >= self.len {
            return None;
        }
        match &self.body {
            Body::Literal(v) => Some(v[i]),
            Body::Generated { recipe, chunks } => {
                let chunk = chunks[i / CHUNK].get_or_init(|| {
                    let from = i / CHUNK * CHUNK;
                    let to = (from + CHUNK).min(self.len);
                    let mut s = recipe.stream_at(from as u64);
                    (from..to).map(|j| recipe.record(j as u64, &mut s)).collect()
                });
                Some(chunk[i % CHUNK])
            }
        }
    }

    /// The first `n` records (all of them if there are fewer), generated as they are read and
    /// not kept.
    pub fn records(&self, n: usize) -> Records<'_> {
        let end = n.min(self.len);
        match &self.body {
            Body::Literal(v) => Records::Literal(v[..end].iter()),
            Body::Generated { recipe, .. } => {
                Records::Generated { recipe, stream: Box::new(recipe.stream_at(0)), next: 0, end }
            }
        }
    }

    /// Every record, in order.
    pub fn iter(&self) -> Records<'_> {
        self.records(self.len)
    }

    /// How many records this partition holds in memory: all of a literal one, the chunks read
    /// so far of a generated one.
    pub fn resident(&self) -> usize {
        match &self.body {
            Body::Literal(v) => v.len(),
            Body::Generated { chunks, .. } => {
                chunks.iter().filter_map(OnceLock::get).map(|c| c.len()).sum()
            }
        }
    }
}

/// An iterator over a prefix of a partition (see [`SourcePartition::records`]).
pub enum Records<'a> {
    Literal(std::slice::Iter<'a, Record>),
    Generated { recipe: &'a Recipe, stream: Box<rng::Stream>, next: usize, end: usize },
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        match self {
            Records::Literal(it) => it.next().copied(),
            Records::Generated { recipe, stream, next, end } => {
                if *next >= *end {
                    return None;
                }
                let r = recipe.record(*next as u64, stream);
                *next += 1;
                Some(r)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            Records::Literal(it) => it.len(),
            Records::Generated { next, end, .. } => end - next,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Records<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(distribution: Distribution, values: Values, records: u64) -> SourcePartition {
        let g = Generator { records, keys: 7, distribution, values, ts_step_ms: 3, seed: 11 };
        let keys: Arc<[KeyId]> = (0..7).map(KeyId).collect();
        SourcePartition::generated(g, "src", 1, keys, SourcePartition::zipf_weights(&g))
    }

    #[test]
    fn any_stretch_of_a_generated_partition_equals_the_same_stretch_generated_from_the_start() {
        let kinds = [
            (Distribution::Uniform, Values::One),
            (Distribution::Zipf, Values::Sequence),
            (Distribution::RoundRobin, Values::Random(-5, 5)),
            (Distribution::Uniform, Values::Random(i64::MIN, i64::MAX)),
            (Distribution::RoundRobin, Values::One),
        ];
        for (d, v) in kinds {
            let p = partition(d, v, 3 * CHUNK as u64 + 17);
            let all: Vec<Record> = p.iter().collect();
            assert_eq!(all.len(), p.len());
            assert_eq!(p.resident(), 0, "streaming keeps nothing");
            // Read backwards, so that every chunk is generated from its own position.
            for i in (0..p.len()).rev() {
                assert_eq!(p.get(i), Some(all[i]), "{d:?} {v:?} record {i}");
            }
            assert_eq!(p.get(p.len()), None);
            assert_eq!(p.resident(), p.len());
            assert_eq!(p.records(5).collect::<Vec<_>>(), all[..5]);
        }
    }

    #[test]
    fn reading_one_record_generates_one_chunk() {
        let p = partition(Distribution::Zipf, Values::Random(0, 9), 10_000_000);
        assert!(p.get(9_999_999).is_some());
        assert_eq!(p.resident(), 10_000_000 % CHUNK);
        assert!(p.get(5).is_some());
        assert_eq!(p.resident(), 10_000_000 % CHUNK + CHUNK);
    }
}
