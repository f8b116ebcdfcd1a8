//! Restart strategies (docs/protocol.md, rule P8).
//!
//! Sans-io models of Flink's restart back-off strategies
//! (`FixedDelayRestartBackoffTimeStrategy`, `FailureRateRestartBackoffTimeStrategy`,
//! `ExponentialDelayRestartBackoffTimeStrategy`, `NoRestartBackoffTimeStrategy`). The world
//! calls [`RestartPolicy::on_failure`] once per job (or region) failure with the current
//! virtual time, and restarts the failed tasks after the returned delay or fails the job for
//! good.

use crate::ids::SimTime;
use crate::scenario::model::RestartStrategy;

/// The exponential-delay strategy resets its attempt count when a failure comes at least
/// this long after the last scheduled restart (Flink's default
/// `restart-strategy.exponential-delay.reset-backoff-threshold`: 1 hour).
pub const EXPONENTIAL_RESET_THRESHOLD_MS: u64 = 60 * 60 * 1000;

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
///
/// Semantics per strategy (failure times in µs of virtual time):
///
/// * `FixedDelay{attempts, delay_ms}`: failure *k* (1-based) restarts after `delay_ms` iff
///   *k* ≤ `attempts`; failure `attempts + 1` gives up.
/// * `FailureRate{max_failures, interval_ms, delay_ms}`: the times of the last
///   `max_failures + 1` failures are kept; once there are that many, the job gives up when
///   the oldest of them is at most `interval_ms` before now (more than `max_failures`
///   failures within one interval), else restarts after `delay_ms`.
/// * `ExponentialDelay{initial_ms, max_ms, multiplier}`: a failure at or before the restart
///   already scheduled is merged into it (`Restart` with the remaining delay, rounded up to
///   whole ms; the attempt does not advance and it is not counted by
///   [`restarts`](RestartPolicy::restarts)). Otherwise, if it comes at least
///   [`EXPONENTIAL_RESET_THRESHOLD_MS`] after the last scheduled restart, the attempt count
///   resets to 0; the back-off is `max(initial, min(initial × multiplier^attempt, max))`
///   (no jitter), the restart is scheduled at now + back-off and the attempt advances. It
///   never gives up.
/// * `None`: always gives up.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct RestartPolicy {
    /// Granted restarts (new attempts; merged failures are not counted).
    restarts: u32,
    /// Failures seen (fixed delay: `currentRestartAttempt`).
    failures: u32,
    /// Failure rate: the times of the most recent failures, oldest first (at most
    /// `max_failures + 1`).
    failure_times: Vec<SimTime>,
    /// Exponential delay: the attempt whose back-off the next new failure gets.
    attempt: u32,
    /// Exponential delay: when the last scheduled restart happens.
    next_restart: Option<SimTime>,
}

clone_fields!(RestartPolicy { restarts, failures, failure_times, attempt, next_restart });

impl RestartPolicy {
    /// The job (or a region of it) failed at `now`: restart after a delay, or give up.
    pub fn on_failure(&mut self, strategy: &RestartStrategy, now: SimTime) -> RestartDecision {
        self.failures = self.failures.saturating_add(1);
        let decision = match *strategy {
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                if self.failures <= attempts {
                    RestartDecision::Restart { delay_ms }
                } else {
                    RestartDecision::GiveUp
                }
            }
            RestartStrategy::FailureRate { max_failures, interval_ms, delay_ms } => {
                let window = (max_failures as usize).saturating_add(1);
                if self.failure_times.len() >= window {
                    self.failure_times.remove(0);
                }
                self.failure_times.push(now);
                let too_many = self.failure_times.len() >= window
                    && now.as_us().saturating_sub(self.failure_times[0].as_us())
                        <= interval_ms.saturating_mul(1000);
                if too_many {
                    RestartDecision::GiveUp
                } else {
                    RestartDecision::Restart { delay_ms }
                }
            }
            RestartStrategy::ExponentialDelay { initial_ms, max_ms, multiplier } => {
                if let Some(next) = self.next_restart.filter(|&next| now <= next) {
                    // Merged into the restart already scheduled: not a new attempt.
                    let remaining_us = next.as_us() - now.as_us();
                    return RestartDecision::Restart { delay_ms: remaining_us.div_ceil(1000) };
                }
                let reset = self.next_restart.is_none_or(|next| {
                    now.as_us() - next.as_us() >= EXPONENTIAL_RESET_THRESHOLD_MS * 1000
                });
                if reset {
                    self.attempt = 0;
                }
                let delay_ms = exponential_backoff_ms(initial_ms, max_ms, multiplier, self.attempt);
                self.next_restart = Some(now.plus_us(delay_ms.saturating_mul(1000)));
                self.attempt = self.attempt.saturating_add(1);
                RestartDecision::Restart { delay_ms }
            }
            RestartStrategy::None => RestartDecision::GiveUp,
        };
        if decision != RestartDecision::GiveUp {
            self.restarts = self.restarts.saturating_add(1);
        }
        decision
    }

    /// Restarts granted so far (merged exponential-delay failures are not new restarts).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Failures reported so far (including merged ones and the one that gave up).
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// `max(initial, min(initial × multiplier^attempt, max))` in whole ms, without jitter.
///
/// `multiplier^attempt` is computed by repeated IEEE-754 multiplication (each step correctly
/// rounded, so the result is the same on every platform; `powi` has unspecified precision),
/// stopping as soon as the product reaches `max`. The float-to-integer conversion truncates
/// like Flink's `(long)` cast and saturates.
fn exponential_backoff_ms(initial_ms: u64, max_ms: u64, multiplier: f64, attempt: u32) -> u64 {
    let initial = initial_ms as f64;
    let mut factor = 1.0_f64;
    if multiplier > 1.0 {
        for _ in 0..attempt {
            factor *= multiplier;
            if initial * factor >= max_ms as f64 {
                break;
            }
        }
    }
    let backoff = (initial * factor) as u64;
    backoff.min(max_ms).max(initial_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SimTime {
        SimTime::from_ms(ms)
    }

    fn restart(delay_ms: u64) -> RestartDecision {
        RestartDecision::Restart { delay_ms }
    }

    /// Feed failures at the given times (ms) and collect the decisions.
    fn decisions(strategy: &RestartStrategy, times_ms: &[u64]) -> Vec<RestartDecision> {
        let mut policy = RestartPolicy::default();
        times_ms.iter().map(|&t| policy.on_failure(strategy, at(t))).collect()
    }

    fn exponential(initial_ms: u64, max_ms: u64, multiplier: f64) -> RestartStrategy {
        RestartStrategy::ExponentialDelay { initial_ms, max_ms, multiplier }
    }

    #[test]
    fn fixed_delay_restarts_up_to_its_attempts_and_gives_up_on_the_next_failure() {
        let strategy = RestartStrategy::FixedDelay { attempts: 3, delay_ms: 250 };
        let mut policy = RestartPolicy::default();
        let got: Vec<_> =
            [10, 20, 30, 40].iter().map(|&t| policy.on_failure(&strategy, at(t))).collect();
        assert_eq!(got, vec![restart(250), restart(250), restart(250), RestartDecision::GiveUp]);
        assert_eq!(policy.restarts(), 3);
        assert_eq!(policy.failures(), 4);
    }

    #[test]
    fn fixed_delay_with_zero_attempts_gives_up_on_the_first_failure() {
        let strategy = RestartStrategy::FixedDelay { attempts: 0, delay_ms: 250 };
        assert_eq!(decisions(&strategy, &[5]), vec![RestartDecision::GiveUp]);
    }

    #[test]
    fn fixed_delay_counts_failures_no_matter_how_far_apart() {
        let strategy = RestartStrategy::FixedDelay { attempts: 1, delay_ms: 0 };
        assert_eq!(
            decisions(&strategy, &[0, 100_000_000]),
            vec![restart(0), RestartDecision::GiveUp]
        );
    }

    #[test]
    fn failure_rate_tolerates_max_failures_within_the_interval() {
        let strategy =
            RestartStrategy::FailureRate { max_failures: 2, interval_ms: 1000, delay_ms: 50 };
        assert_eq!(decisions(&strategy, &[0, 100]), vec![restart(50), restart(50)]);
    }

    #[test]
    fn failure_rate_gives_up_on_one_failure_more_within_the_interval() {
        let strategy =
            RestartStrategy::FailureRate { max_failures: 2, interval_ms: 1000, delay_ms: 50 };
        assert_eq!(
            decisions(&strategy, &[0, 100, 1000]),
            vec![restart(50), restart(50), RestartDecision::GiveUp],
            "exactly one interval after the oldest failure is still within it"
        );
    }

    #[test]
    fn failure_rate_restarts_when_the_failures_spread_over_more_than_the_interval() {
        let strategy =
            RestartStrategy::FailureRate { max_failures: 2, interval_ms: 1000, delay_ms: 50 };
        let mut policy = RestartPolicy::default();
        assert_eq!(policy.on_failure(&strategy, at(0)), restart(50));
        assert_eq!(policy.on_failure(&strategy, at(100)), restart(50));
        assert_eq!(policy.on_failure(&strategy, SimTime::from_us(1_000_001)), restart(50));
        // The window slides: 100, 1000.001 and 1050 are within 1000 ms of each other.
        assert_eq!(policy.on_failure(&strategy, at(1050)), RestartDecision::GiveUp);
        assert_eq!(policy.restarts(), 3);
    }

    #[test]
    fn exponential_delay_grows_by_the_multiplier() {
        let strategy = exponential(100, 10_000, 2.0);
        let mut policy = RestartPolicy::default();
        let mut now = 0;
        let mut got = Vec::new();
        for _ in 0..4 {
            let decision = policy.on_failure(&strategy, at(now));
            let RestartDecision::Restart { delay_ms } = decision else { panic!("never gives up") };
            got.push(delay_ms);
            now += delay_ms + 1; // fail again just after each restart
        }
        assert_eq!(got, vec![100, 200, 400, 800]);
        assert_eq!(policy.restarts(), 4);
    }

    #[test]
    fn exponential_delay_truncates_fractional_backoffs_like_flink() {
        let strategy = exponential(1000, 60_000, 1.5);
        assert_eq!(
            decisions(&strategy, &[0, 2000, 5000, 9000]),
            vec![restart(1000), restart(1500), restart(2250), restart(3375)]
        );
        assert_eq!(exponential_backoff_ms(1000, 60_000, 1.5, 4), 5062);
    }

    #[test]
    fn exponential_delay_is_capped_at_the_maximum() {
        let strategy = exponential(100, 300, 2.0);
        assert_eq!(
            decisions(&strategy, &[0, 1000, 2000, 3000]),
            vec![restart(100), restart(200), restart(300), restart(300)]
        );
        assert_eq!(exponential_backoff_ms(100, 300, 100.0, u32::MAX), 300);
    }

    #[test]
    fn exponential_delay_with_multiplier_one_stays_at_the_initial_backoff() {
        let strategy = exponential(100, 300, 1.0);
        assert_eq!(decisions(&strategy, &[0, 1000, 2000]), vec![restart(100); 3]);
    }

    #[test]
    fn exponential_delay_merges_failures_before_the_scheduled_restart() {
        let strategy = exponential(100, 10_000, 2.0);
        let mut policy = RestartPolicy::default();
        assert_eq!(policy.on_failure(&strategy, at(0)), restart(100));
        assert_eq!(policy.on_failure(&strategy, at(40)), restart(60));
        assert_eq!(policy.on_failure(&strategy, at(100)), restart(0), "at the restart time");
        assert_eq!(
            policy.on_failure(&strategy, SimTime::from_us(99_500)),
            restart(1),
            "rounded up"
        );
        assert_eq!(policy.restarts(), 1, "merged failures are not new restarts");
        assert_eq!(
            policy.on_failure(&strategy, at(101)),
            restart(200),
            "the attempt did not advance"
        );
        assert_eq!(policy.restarts(), 2);
    }

    #[test]
    fn exponential_delay_resets_an_hour_after_the_last_restart() {
        let strategy = exponential(100, 10_000, 2.0);
        let hour = EXPONENTIAL_RESET_THRESHOLD_MS;
        // Restarts at 100, 301 and 702; then failures just under and at one hour later.
        assert_eq!(
            decisions(&strategy, &[0, 101, 302, 702 + hour - 1]),
            vec![restart(100), restart(200), restart(400), restart(800)]
        );
        assert_eq!(
            decisions(&strategy, &[0, 101, 302, 702 + hour]),
            vec![restart(100), restart(200), restart(400), restart(100)]
        );
    }

    #[test]
    fn exponential_delay_never_gives_up() {
        let strategy = exponential(1, 5, 3.0);
        let times: Vec<u64> = (0..100).map(|i| i * 10).collect();
        assert!(decisions(&strategy, &times).iter().all(|d| *d != RestartDecision::GiveUp));
    }

    #[test]
    fn no_restart_strategy_always_gives_up() {
        let mut policy = RestartPolicy::default();
        assert_eq!(policy.on_failure(&RestartStrategy::None, at(0)), RestartDecision::GiveUp);
        assert_eq!(policy.on_failure(&RestartStrategy::None, at(9)), RestartDecision::GiveUp);
        assert_eq!(policy.restarts(), 0);
    }
}
