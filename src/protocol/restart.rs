//! Restart strategies (docs/protocol.md, rule P8).
//!
//! INTERFACE SKELETON — implementation in progress.

use crate::ids::SimTime;
use crate::scenario::model::RestartStrategy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart the failed tasks after this delay.
    Restart { delay_ms: u64 },
    /// The strategy gives up: the job fails for good.
    GiveUp,
}

/// The state of a restart strategy. The strategy's settings are passed to each call (they
/// hold an `f64` and live in the job), so that this state is `Eq` and `Hash` like the rest
/// of the world.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RestartPolicy {
    restarts: u32,
}

impl RestartPolicy {
    pub fn on_failure(&mut self, _strategy: &RestartStrategy, _now: SimTime) -> RestartDecision {
        RestartDecision::GiveUp
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}
