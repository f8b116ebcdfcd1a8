//! Compact, copyable identifiers and simulated time.
//!
//! Every id is a dense index into a `Vec` owned by the [`crate::graph::Job`] or the
//! [`crate::world::World`]; none of them is a pointer. Their `Display` forms are short and
//! greppable (`cp7`, `node-2`, `@12.500ms`); names that need the job (a task is printed as
//! `count[1]`) are rendered by the job itself.

use std::fmt;

/// A logical operator of the job graph, in the order the scenario lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OperatorId(pub u16);

/// A physical task (one subtask of one operator), numbered operator by operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TaskId(pub u32);

/// A FIFO channel from one sender task to one receiver task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ChannelId(pub u32);

/// A task node (`node-0` …) of the simulated cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u16);

/// An interned record key (see [`crate::record::KeyTable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(pub u32);

/// A checkpoint id as handed out by the coordinator's counter; ids start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CheckpointId(pub u64);

/// Virtual time in microseconds since the start of the run.
///
/// `SimTime` takes no part in hashing: its `Hash` writes nothing. World fingerprints (the
/// explorer's visited set) are therefore abstract over time, which is what the explorer's
/// time abstraction needs: two worlds that differ only in timestamps behave alike when any
/// enabled event may happen next (docs/model-checking.md). Equality still compares times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SimTime(pub u64);

impl std::hash::Hash for SimTime {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl OperatorId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl TaskId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ChannelId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl KeyId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const NEVER: SimTime = SimTime(u64::MAX);

    pub fn from_ms(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(1000))
    }

    pub fn from_us(us: u64) -> SimTime {
        SimTime(us)
    }

    pub fn as_us(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down.
    pub fn as_ms(self) -> u64 {
        self.0 / 1000
    }

    pub fn plus_us(self, us: u64) -> SimTime {
        SimTime(self.0.saturating_add(us))
    }
}

impl fmt::Display for CheckpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cp{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node-{}", self.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}.{:03}ms", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_in_their_short_greppable_form() {
        assert_eq!(CheckpointId(7).to_string(), "cp7");
        assert_eq!(NodeId(2).to_string(), "node-2");
        assert_eq!(SimTime(12_500).to_string(), "@12.500ms");
        assert_eq!(SimTime::from_ms(3).as_us(), 3000);
    }
}
