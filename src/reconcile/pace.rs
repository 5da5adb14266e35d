//! How politely the reconciler uses the API (a request budget, backoff on
//! 429 and 5xx), set on the `ReconcilerBuilder`, and the pacer that keeps
//! to it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::api::{FetchError, FetchErrorKind, MAX_PAGE_SIZE, RateLimit};

/// How politely to use the API: event listings and fetches share the
/// vendor's "secondary" rate limit with the receiver's fetches, so the
/// reconciler keeps a budget and backs off, leaving webhook deliveries
/// their share. Each setting is a method of `ReconcilerBuilder`, whose
/// docs state the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use]
pub(crate) struct Pace {
    pub(crate) requests_per_second: f64,
    pub(crate) page_size: usize,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_attempts: u32,
}

impl Default for Pace {
    /// 2 requests per second, 100 events a page, backoff from 1 s to 60 s,
    /// 8 attempts per request.
    fn default() -> Self {
        Pace {
            requests_per_second: 2.0,
            page_size: MAX_PAGE_SIZE,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

impl Pace {
    /// At most `rps` requests per second, at least one every 10 minutes;
    /// a value that is not a positive number changes nothing.
    pub(crate) fn requests_per_second(mut self, rps: f64) -> Self {
        if rps.is_finite() && rps > 0.0 {
            self.requests_per_second = rps.max(1.0 / 600.0);
        }
        self
    }

    /// Events per page, brought into 1 to 100 (the API's most).
    pub(crate) fn page_size(mut self, events: usize) -> Self {
        self.page_size = events.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The backoff without `Retry-After`: `first`, doubling up to `max`
    /// (at least `first`), with jitter.
    pub(crate) fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// How many times one request is tried, at least 1.
    pub(crate) fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before attempt `attempt + 1` (from 1): `first` doubled
    /// per attempt, capped, with jitter.
    pub(crate) fn backoff_delay(&self, attempt: u32) -> Duration {
        exponential(self.first_backoff, self.max_backoff, attempt)
    }
}

/// `first` doubled `attempt - 1` times, capped at `max`, then drawn
/// between half and all of it.
pub(crate) fn exponential(first: Duration, max: Duration, attempt: u32) -> Duration {
    let doubled = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    jitter(doubled.min(max))
}

/// A duration between half and all of `delay`, drawn at random.
fn jitter(delay: Duration) -> Duration {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
    delay.mul_f64(0.5 + unit / 2.0)
}

/// Keeps a [`Pace`]: spaces requests, slows down when the API says its
/// limit is nearly used, and retries transient failures with backoff.
#[derive(Debug)]
pub(crate) struct Pacer {
    pace: Pace,
    next: Option<Instant>,
    /// Requests made, retries included.
    pub(crate) requests: u64,
}

impl Pacer {
    pub(crate) fn new(pace: Pace) -> Self {
        Pacer {
            pace,
            next: None,
            requests: 0,
        }
    }

    pub(crate) fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Waits for the next request's turn in the budget.
    async fn turn(&mut self) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        let interval = Duration::from_secs_f64(1.0 / self.pace.requests_per_second);
        self.next = Some(Instant::now() + interval);
        self.requests += 1;
    }

    /// Pushes the next turn back by `wait`.
    fn hold(&mut self, wait: Duration) {
        let at = Instant::now() + wait;
        self.next = Some(self.next.map_or(at, |next| next.max(at)));
    }

    /// Slows down when the API reports its limit nearly used: the next
    /// request waits a further second.
    pub(crate) fn heed(&mut self, rate_limit: Option<RateLimit>) {
        if rate_limit.is_some_and(|limit| limit.is_low()) {
            self.hold(Duration::from_secs(1));
        }
    }

    /// Runs `request` in the budget, retrying transient failures (429,
    /// 5xx, network, an invalid answer from something in between) with
    /// `Retry-After` or backoff, up to the pace's attempts.
    pub(crate) async fn run<T, F, Fut>(&mut self, mut request: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.turn().await;
            let error = match request().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retryable =
                error.kind().is_transient() || error.kind() == FetchErrorKind::InvalidResponse;
            if !retryable || attempt >= self.pace.max_attempts {
                return Err(error);
            }
            let wait = error
                .retry_after()
                .unwrap_or_else(|| self.pace.backoff_delay(attempt));
            #[cfg(feature = "tracing")]
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "reconciler: API request failed, backing off");
            self.hold(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let first = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..100 {
            let one = exponential(first, max, 1);
            assert!(one >= first / 2 && one <= first, "{one:?}");
            let three = exponential(first, max, 3);
            assert!(three >= first * 2 && three <= first * 4, "{three:?}");
            let many = exponential(first, max, 40);
            assert!(many >= max / 2 && many <= max, "{many:?}");
        }
    }

    #[test]
    fn a_rate_limit_nearly_used_holds_the_next_request_a_second() {
        let limit = |remaining| {
            Some(RateLimit {
                limit: Some(50),
                remaining: Some(remaining),
            })
        };
        let mut pacer = Pacer::new(Pace::default());
        pacer.heed(None);
        pacer.heed(limit(5));
        assert_eq!(pacer.next, None, "a tenth left is not low");
        pacer.heed(limit(4));
        let held = pacer.next.expect("held") - Instant::now();
        assert!(held > Duration::from_millis(900), "{held:?}");
    }

    #[test]
    fn pace_keeps_its_bounds() {
        let pace = Pace::default()
            .page_size(1000)
            .requests_per_second(f64::NAN)
            .max_attempts(0);
        assert_eq!(pace.page_size, MAX_PAGE_SIZE);
        assert_eq!(pace.requests_per_second, 2.0);
        assert_eq!(pace.max_attempts, 1);
        assert_eq!(Pace::default().page_size(0).page_size, 1);
        let pace = Pace::default().backoff(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(pace.max_backoff, Duration::from_secs(5));
        let pace = Pace::default().requests_per_second(1e-9);
        assert_eq!(pace.requests_per_second, 1.0 / 600.0);
    }
}
