//! A channel in three parts, as in Flink's network stack: the sender's output queue, the
//! wire (FIFO, each item with its arrival time), and the receiver's input queue.
//!
//! Credit: the receiver grants `channel_capacity` places per channel, counting what is on the
//! wire and in its input queue. An item leaves the output queue only when a place is free, so
//! a slow receiver fills the output queue and, once that reaches `output_capacity`, blocks
//! the sending task (backpressure).

use crate::ids::{CheckpointId, SimTime};
use crate::record::Record;
use std::collections::VecDeque;

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
    pub out: VecDeque<Item>,
    pub wire: VecDeque<(SimTime, Item)>,
    pub input: VecDeque<Item>,
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
