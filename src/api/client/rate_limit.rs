//! How long the API asked us to wait, read from its answer's headers.

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, RETRY_AFTER};

/// The longest wait read from the API's headers: a larger value (any
/// proxy can send one) is lowered to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the API asked us to wait: `Retry-After` in seconds or as an
/// HTTP date, else `x-ratelimit-reset` (seconds to wait or, when it is
/// large enough to be one, a Unix time). At most [`MAX_RETRY_AFTER`]; no
/// value, however large, makes this panic.
pub(super) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // A time past what `SystemTime` holds is as good as never: the longest
    // wait.
    let until = |at: Option<SystemTime>| {
        at.map_or(MAX_RETRY_AFTER, |at| {
            at.duration_since(now).unwrap_or(Duration::ZERO)
        })
    };
    let asked = text(RETRY_AFTER.as_str()).and_then(|value| match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| until(Some(at))),
    });
    let wait = match asked {
        Some(wait) => wait,
        None => {
            let reset = text("x-ratelimit-reset")?.parse::<u64>().ok()?;
            // Nobody asks to wait 30 years: a value this large is a Unix time.
            const UNIX_TIME_FROM: u64 = 1_000_000_000;
            if reset >= UNIX_TIME_FROM {
                until(SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset)))
            } else {
                Duration::from_secs(reset)
            }
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}
