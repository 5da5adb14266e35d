//! [`RetryPolicy`]: when the workers try a failed event again, and when
//! they give up on it.

use std::time::Duration;

/// When a failed event is tried again, and when it is set aside in the
/// dead-letter list: exponential backoff with jitter, up to a number of
/// attempts or an age.
///
/// The `n`th retry waits a random time between half and all of
/// `first_delay × 2ⁿ⁻¹` (at most `max_delay`), so that events failing
/// together (an API outage) do not come back together. An event is
/// dead-lettered when its failed attempts reach `max_attempts`, or when
/// it fails after `max_age` in the inbox, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    first_delay: Duration,
    max_delay: Duration,
    max_attempts: u32,
    max_age: Duration,
}

impl Default for RetryPolicy {
    /// 5 s, doubling up to 15 min, 12 attempts or 3 days: about five
    /// hours of retries, within the sender's own three days.
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(15 * 60),
            max_attempts: 12,
            max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay before the first retry (at most, with jitter), doubling
    /// for each later one.
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self.max_delay = self.max_delay.max(delay);
        self
    }

    /// The longest delay between two attempts.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay.max(self.first_delay);
        self
    }

    /// The failed attempts after which an event is dead-lettered (at
    /// least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The time in the inbox after which an event that fails is
    /// dead-lettered.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Whether an event that failed `attempts` times, queued `age` ago,
    /// is given up.
    pub(crate) fn gives_up(&self, attempts: u32, age: Duration) -> bool {
        attempts >= self.max_attempts || age >= self.max_age
    }

    /// The delay after the `attempts`th failure (from 1), with jitter
    /// drawn from `seed`.
    pub(crate) fn delay(&self, attempts: u32, seed: u64) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        let full = self
            .first_delay
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_delay);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            mix(seed) % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// The SplitMix64 finalizer: spreads a seed's bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_up_to_the_cap() {
        let policy = RetryPolicy::new()
            .first_delay(Duration::from_secs(1))
            .max_delay(Duration::from_secs(10));
        for seed in 0..200 {
            for (attempts, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (40, 10)] {
                let delay = policy.delay(attempts, seed);
                let full = Duration::from_secs(full);
                assert!(delay >= full / 2 && delay <= full, "{attempts}: {delay:?}");
            }
        }
        let spread: std::collections::HashSet<Duration> =
            (0..50).map(|seed| policy.delay(3, seed)).collect();
        assert!(spread.len() > 40, "the jitter spreads retries");
    }

    #[test]
    fn an_event_is_given_up_after_its_attempts_or_its_age() {
        let policy = RetryPolicy::new()
            .max_attempts(3)
            .max_age(Duration::from_secs(60));
        assert!(!policy.gives_up(2, Duration::from_secs(59)));
        assert!(policy.gives_up(3, Duration::ZERO));
        assert!(policy.gives_up(1, Duration::from_secs(60)));
        assert_eq!(RetryPolicy::new().max_attempts(0).max_attempts, 1);
    }
}
