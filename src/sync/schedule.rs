//! When the sync worker runs next: the configured interval while the primary answers, and an
//! exponential backoff after failures, both with jitter so that devices that lost the primary
//! together do not all come back at the same instant.

use std::time::Duration;

/// First retry delay after a failure; doubled after each further failure.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts while the primary is unreachable.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Jitter: each delay is scaled by a factor in `[1 - JITTER, 1 + JITTER)`.
const JITTER: f64 = 0.1;

/// The timing rules of the sync worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Time between two syncs while the primary answers.
    pub interval: Duration,
}

impl Schedule {
    pub fn new(interval: Duration) -> Self {
        Schedule { interval }
    }

    /// The delay before the next attempt after `failures` consecutive failures (0: the last
    /// attempt succeeded), before jitter.
    ///
    /// After a failure the worker retries sooner than the interval when the interval is long
    /// (1 s, 2 s, 4 s … so a short outage costs seconds, not a whole interval) but never more
    /// often than the interval, and never waits longer than [`MAX_BACKOFF`] (or the interval,
    /// when that is longer).
    pub fn base_delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return self.interval;
        }
        let doubling = FIRST_RETRY.saturating_mul(1u32 << (failures - 1).min(16));
        doubling
            .max(self.interval.min(FIRST_RETRY))
            .min(MAX_BACKOFF.max(self.interval))
    }

    /// [`Schedule::base_delay`] scaled by jitter; `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        self.base_delay(failures).mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn success_waits_the_interval() {
        let s = Schedule::new(30 * SECOND);
        assert_eq!(s.base_delay(0), 30 * SECOND);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let s = Schedule::new(30 * SECOND);
        let delays: Vec<u64> = (1..=12).map(|f| s.base_delay(f).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(s.base_delay(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_long_interval_is_the_cap_when_longer_than_the_backoff_cap() {
        let s = Schedule::new(600 * SECOND);
        assert_eq!(s.base_delay(30), 600 * SECOND);
    }

    #[test]
    fn a_sub_second_interval_retries_no_faster_than_the_first_retry() {
        let s = Schedule::new(Duration::from_millis(200));
        assert_eq!(s.base_delay(1), SECOND);
        assert_eq!(s.base_delay(0), Duration::from_millis(200));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = Schedule::new(10 * SECOND);
        assert_eq!(s.delay(0, 0.0), Duration::from_secs(9));
        assert_eq!(s.delay(0, 0.5), Duration::from_secs(10));
        assert!(s.delay(0, 0.999_999) < Duration::from_secs(11));
        // Out-of-range randomness is clamped rather than trusted.
        assert_eq!(s.delay(0, 7.0), Duration::from_secs(11));
    }
}
