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

#[derive(Clone, Debug, PartialEq)]
pub struct RestartPolicy {
    strategy: RestartStrategy,
    restarts: u32,
}

impl RestartPolicy {
    pub fn new(strategy: RestartStrategy) -> RestartPolicy {
        RestartPolicy { strategy, restarts: 0 }
    }

    pub fn on_failure(&mut self, _now: SimTime) -> RestartDecision {
        RestartDecision::GiveUp
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}
