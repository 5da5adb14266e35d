//! What the mock holds and records: the objects it serves, the failures it
//! was told to play, the requests it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http::header::HeaderMap;
use serde_json::Value;

use super::RECORDED;
use super::failures::{Failure, RandomFailures};

/// A request the mock received, as it arrived.
///
/// The `Authorization` header is marked sensitive, so `Debug` does not
/// print it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query (`/events/ev_1`).
    pub path: String,
    /// The query string, without the `?`, if there was one.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of query parameter `name`, decoded, if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// What the connections share with the [`MockApi`](super::MockApi) handle.
pub(super) struct Shared {
    pub(super) expected_authorization: String,
    pub(super) api_version: Option<String>,
    /// The body of any event (see `serve_any_event`), split around its ID.
    pub(super) any_event: Option<(Bytes, Bytes)>,
    /// When the mock started: seconds of the rate limit count from it.
    pub(super) started: Instant,
    pub(super) state: Mutex<State>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide its own
        // failure behind a poisoned mutex in the next request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
pub(super) struct State {
    /// Events in the order they were added: the oldest first.
    pub(super) events: Vec<(String, Value)>,
    pub(super) transactions: HashMap<String, Value>,
    pub(super) webhooks: HashMap<String, Vec<Value>>,
    pub(super) fail_next: VecDeque<(Failure, usize)>,
    pub(super) fail_id: HashMap<String, Failure>,
    pub(super) random: Option<RandomFailures>,
    pub(super) failed: usize,
    pub(super) delay: Duration,
    pub(super) counts: HashMap<String, usize>,
    pub(super) total: usize,
    pub(super) recorded: VecDeque<RecordedRequest>,
    pub(super) rate_limit: Option<u32>,
    /// Requests received in each second since the start.
    pub(super) per_second: Vec<usize>,
    pub(super) rate_limited: usize,
}

impl State {
    pub(super) fn put_event(&mut self, id: &str, value: Value) {
        match self.events.iter_mut().find(|(known, _)| known == id) {
            Some(slot) => slot.1 = value,
            None => self.events.push((id.to_owned(), value)),
        }
    }

    pub(super) fn event(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, value)| value)
    }

    /// Counts a request in `second` (since the start); with a rate limit,
    /// the remaining requests of that second, or `Err` with the time to
    /// wait when the request is over the limit.
    pub(super) fn count_second(
        &mut self,
        second: usize,
        into: Duration,
    ) -> Result<Option<(u32, u64)>, Duration> {
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
        let Some(limit) = self.rate_limit else {
            return Ok(None);
        };
        let used = self.per_second[second] as u64;
        if used > u64::from(limit) {
            self.rate_limited += 1;
            return Err(Duration::from_secs(1).saturating_sub(into));
        }
        Ok(Some((limit, u64::from(limit) - used)))
    }

    pub(super) fn record(&mut self, request: RecordedRequest, count_path: bool) {
        if count_path {
            *self.counts.entry(request.path.clone()).or_default() += 1;
        }
        self.total += 1;
        if self.recorded.len() == RECORDED {
            self.recorded.pop_front();
        }
        self.recorded.push_back(request);
    }

    /// The failure that applies to a request for `path` (recorded
    /// already), consuming one from the next-N queue, and counting it.
    pub(super) fn take_failure(&mut self, path: &str) -> Option<Failure> {
        let failure = self.choose_failure(path);
        self.failed += usize::from(failure.is_some());
        failure
    }

    pub(super) fn choose_failure(&mut self, path: &str) -> Option<Failure> {
        if let Some((failure, left)) = self.fail_next.front_mut() {
            let failure = failure.clone();
            *left -= 1;
            if *left == 0 {
                self.fail_next.pop_front();
            }
            return Some(failure);
        }
        if let Some(failure) = path
            .split('/')
            .find_map(|segment| self.fail_id.get(segment))
        {
            return Some(failure.clone());
        }
        let n = self.counts.get(path).copied().unwrap_or(0);
        self.random.as_ref()?.draw(path, n)
    }
}
