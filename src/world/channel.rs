//! A channel in three parts, as in Flink's network stack: the sender's output queue, the
//! wire (FIFO, each item with its arrival time), and the receiver's input queue.
//!
//! Credit: the receiver grants `channel_capacity` places per channel, counting what is on the
//! wire and in its input queue. An item leaves the output queue only when a place is free, so
//! a slow receiver fills the output queue and, once that reaches `output_capacity`, blocks
//! the sending task (backpressure).

use crate::ids::{CheckpointId, SimTime};
use crate::record::Record;

/// What travels on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Record(Record),
    /// No further record on this channel has a ts below this.
    Watermark(i64),
    /// End of partition: the sender finished, nothing follows.
    End,
    /// Checkpoint barrier `id`.
    Barrier(CheckpointId),
    /// `CancelCheckpointMarker(id)`: the sender aborted checkpoint `id`.
    Cancel(CheckpointId),
    /// The sender has no more records (with checkpointing: it now waits for its final
    /// checkpoint; `End` follows when it finishes).
    EndOfData,
}

impl Item {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Item::Record(_) => "record",
            Item::Watermark(_) => "watermark",
            Item::End => "end",
            Item::Barrier(_) => "barrier",
            Item::Cancel(_) => "cancel",
            Item::EndOfData => "end_of_data",
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct Channel {
    pub out: Fifo<Item>,
    pub wire: Fifo<(SimTime, Item)>,
    pub input: Fifo<Item>,
    /// Arrival time of the last item put on the wire: later items never arrive earlier.
    pub last_arrival: SimTime,
}

clone_fields!(Channel { out, wire, input, last_arrival });

impl Channel {
    /// Free credit: places the receiver still grants.
    pub fn credit(&self, capacity: u32) -> usize {
        (capacity as usize).saturating_sub(self.wire.len() + self.input.len())
    }

    /// When the head of the wire arrives, if anything is on the wire.
    pub fn head_arrival(&self) -> Option<SimTime> {
        self.wire.front().map(|(t, _)| *t)
    }

    /// Everything the channel holds, in FIFO order from receiver to sender side.
    pub fn len(&self) -> usize {
        self.out.len() + self.wire.len() + self.input.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything (the sender or the receiver failed).
    pub fn clear(&mut self) {
        self.out.clear();
        self.wire.clear();
        self.input.clear();
    }
}

/// A first-in first-out queue of plain values, kept contiguous: a `Vec` and the index of its
/// first live element. Unlike a ring buffer, its live part is one slice, so copying a queue
/// into another (`clone_from`, which the explorer does for every touched channel) is one
/// `memcpy` into the existing allocation. Taken elements are reclaimed when the queue
/// empties, or by moving the live part down once more than half the buffer is dead.
pub struct Fifo<T> {
    buf: Vec<T>,
    head: usize,
}

/// Shows the live items only, as a list.
impl<T: Copy + std::fmt::Debug> std::fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo { buf: Vec::new(), head: 0 }
    }
}

impl<T: Copy> Fifo<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.head..]
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn front(&self) -> Option<&T> {
        self.as_slice().first()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn push_back(&mut self, x: T) {
        if self.head > 32 && self.head * 2 > self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.push(x);
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let x = *self.buf.get(self.head)?;
        self.head += 1;
        if self.head == self.buf.len() {
            self.clear();
        }
        Some(x)
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.buf.drain(..self.head);
        self.head = 0;
        self.buf.retain(|x| keep(x));
    }
}

impl<T: Copy> Clone for Fifo<T> {
    fn clone(&self) -> Self {
        Fifo { buf: self.as_slice().to_vec(), head: 0 }
    }

    fn clone_from(&mut self, src: &Self) {
        self.buf.clear();
        self.buf.extend_from_slice(src.as_slice());
        self.head = 0;
    }
}

impl<T: Copy + PartialEq> PartialEq for Fifo<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Copy + Eq> Eq for Fifo<T> {}

impl<T: Copy + std::hash::Hash> std::hash::Hash for Fifo<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h);
    }
}

impl<T: Copy> FromIterator<T> for Fifo<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Fifo { buf: iter.into_iter().collect(), head: 0 }
    }
}

impl<'a, T: Copy> IntoIterator for &'a Fifo<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_gives_back_what_it_was_given_in_order_and_compares_by_its_live_part() {
        let mut q: Fifo<u32> = Fifo::default();
        let mut model = std::collections::VecDeque::new();
        // A scripted mix of pushes and pops long enough to reclaim space several times.
        for i in 0..500u32 {
            q.push_back(i);
            model.push_back(i);
            if i % 3 != 0 {
                assert_eq!(q.pop_front(), model.pop_front());
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.front(), model.front());
        }
        assert!(q.iter().eq(model.iter()));
        let mut copy: Fifo<u32> = (0..7).collect();
        copy.clone_from(&q);
        assert_eq!(copy, q);
        assert_eq!(copy.as_slice(), q.as_slice());
        q.retain(|x| x % 2 == 0);
        model.retain(|x| x % 2 == 0);
        assert!(q.iter().eq(model.iter()));
        while let Some(x) = q.pop_front() {
            assert_eq!(Some(x), model.pop_front());
        }
        assert!(q.is_empty() && model.is_empty());
    }
}
