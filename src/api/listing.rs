//! Listing events (`GET /events`) for reconciliation, and the delivery
//! records of an event (`GET /events/{id}/webhooks`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::client::ApiClient;
use super::error::FetchError;
use crate::model::{Event, EventId, Timestamp};

/// The largest page `GET /events` serves.
pub const MAX_PAGE_SIZE: usize = 100;

/// The order of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// The oldest first.
    Asc,
    /// The newest first: the API's default.
    #[default]
    Desc,
}

impl Order {
    /// The value of the `order` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// The parameters of `GET /events`; unset ones are left to the API's
/// defaults.
///
/// A request carries at most one cursor, as the vendor's pagination docs
/// require: setting [`start_after`](ListEvents::start_after) drops an
/// [`end_before`](ListEvents::end_before) set before, and the other way
/// round.
///
/// ```
/// use smart_router_webhooks::EventId;
/// use smart_router_webhooks::api::{ListEvents, Order};
///
/// let query = ListEvents::new()
///     .limit(50)
///     .order(Order::Asc)
///     .expand("project")
///     .start_after(EventId::parse("ev_1")?);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListEvents {
    limit: Option<usize>,
    cursor: Option<PageCursor>,
    order: Option<Order>,
    filter: Option<String>,
    expand: Vec<String>,
}

/// The one cursor of a listing request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PageCursor {
    StartAfter(EventId),
    EndBefore(EventId),
}

impl ListEvents {
    /// No parameters: the API's first page, in its default order.
    pub fn new() -> Self {
        ListEvents::default()
    }

    /// How many events per page, at most [`MAX_PAGE_SIZE`]: a larger value
    /// is lowered to it, and 0 is raised to 1.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.clamp(1, MAX_PAGE_SIZE));
        self
    }

    /// Lists the events that come after `id` in the listing's order (the
    /// next page); replaces any cursor set before.
    pub fn start_after(mut self, id: EventId) -> Self {
        self.cursor = Some(PageCursor::StartAfter(id));
        self
    }

    /// Lists the events that come before `id` in the listing's order (the
    /// previous page: the events nearest `id`); replaces any cursor set
    /// before.
    pub fn end_before(mut self, id: EventId) -> Self {
        self.cursor = Some(PageCursor::EndBefore(id));
        self
    }

    /// The order of the listing (the API's default is [`Order::Desc`]).
    pub fn order(mut self, order: Order) -> Self {
        self.order = Some(order);
        self
    }

    /// The `filter` parameter the vendor's SDKs send (an expression the
    /// API interprets; the crate passes it on as given).
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Asks the API to expand a sub-resource of each event, sent as
    /// `expand[]` as the vendor's Go SDK does; the API reference documents
    /// `project` for events. Call once per sub-resource.
    pub fn expand(mut self, sub_resource: impl Into<String>) -> Self {
        self.expand.push(sub_resource.into());
        self
    }

    /// The `start_after` cursor, if that is the one set.
    pub fn start_after_id(&self) -> Option<&EventId> {
        match &self.cursor {
            Some(PageCursor::StartAfter(id)) => Some(id),
            _ => None,
        }
    }

    /// The `end_before` cursor, if that is the one set.
    pub fn end_before_id(&self) -> Option<&EventId> {
        match &self.cursor {
            Some(PageCursor::EndBefore(id)) => Some(id),
            _ => None,
        }
    }

    /// The query parameters, in a stable order.
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(4 + self.expand.len());
        if let Some(filter) = &self.filter {
            pairs.push(("filter", filter.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        match &self.cursor {
            Some(PageCursor::StartAfter(id)) => pairs.push(("start_after", id.as_str().to_owned())),
            Some(PageCursor::EndBefore(id)) => pairs.push(("end_before", id.as_str().to_owned())),
            None => {}
        }
        if let Some(order) = self.order {
            pairs.push(("order", order.as_str().to_owned()));
        }
        for sub_resource in &self.expand {
            pairs.push(("expand[]", sub_resource.clone()));
        }
        pairs
    }
}

/// The rate limit the API reported with an answer (`x-ratelimit`,
/// `x-ratelimit-remaining`): event listings and fetches share the
/// "secondary" limit with the receiver's fetches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RateLimit {
    /// The requests allowed in the current window (`x-ratelimit`).
    pub limit: Option<u64>,
    /// The requests left in the current window (`x-ratelimit-remaining`).
    pub remaining: Option<u64>,
}

impl RateLimit {
    /// The rate limit read from `headers`; `None` when neither header is
    /// there (or readable as a number).
    pub fn from_headers(headers: &http::HeaderMap) -> Option<RateLimit> {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let limit = RateLimit {
            limit: number("x-ratelimit"),
            remaining: number("x-ratelimit-remaining"),
        };
        (limit.limit.is_some() || limit.remaining.is_some()).then_some(limit)
    }

    /// Whether less than a tenth of the window's requests are left: a
    /// polite client slows down so webhook deliveries keep their share.
    pub fn is_low(&self) -> bool {
        match (self.limit, self.remaining) {
            (Some(limit), Some(remaining)) => remaining.saturating_mul(10) < limit,
            (None, Some(remaining)) => remaining == 0,
            _ => false,
        }
    }
}

/// One page of `GET /events`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EventPage {
    /// The events, in the listing's order.
    pub events: Vec<Event>,
    /// Whether more events follow this page in the direction it was asked
    /// (after it for `start_after` or no cursor, before it for
    /// `end_before`).
    pub has_more: bool,
    /// The rate limit the API reported with the page, if it did.
    pub rate_limit: Option<RateLimit>,
}

impl EventPage {
    /// The ID of the last event of the page: the `start_after` of the
    /// next page.
    pub fn last_id(&self) -> Option<&EventId> {
        self.events.last().map(|event| &event.id)
    }

    /// The ID of the first event of the page: the `end_before` of the
    /// previous page.
    pub fn first_id(&self) -> Option<&EventId> {
        self.events.first().map(|event| &event.id)
    }
}

/// Walks the pages of `GET /events` one request at a time, forward
/// ([`next_page`](EventPager::next_page), with `start_after`) or backward
/// ([`previous_page`](EventPager::previous_page), with `end_before`), so a
/// program can go through every event since a saved cursor without writing
/// the paging loop. Each request carries one cursor only.
///
/// Made by [`ApiClient::events_since`] or [`ApiClient::event_pager`].
/// After each page, [`cursor`](EventPager::cursor) is the ID of the last
/// event returned: save it once the page is processed, and start from it
/// next time. A failed request changes nothing, so calling
/// [`next_page`](EventPager::next_page) again retries the same page.
///
/// ```no_run
/// use smart_router_webhooks::{ApiClient, EventId};
///
/// # async fn run(client: ApiClient, saved: Option<EventId>) -> Result<(), smart_router_webhooks::FetchError> {
/// let mut pager = client.events_since(saved);
/// while let Some(events) = pager.next_page().await? {
///     for event in &events {
///         // … reconcile `event` …
///     }
///     let cursor = pager.cursor(); // persist it
/// #   let _ = cursor;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct EventPager {
    client: ApiClient,
    query: ListEvents,
    /// The first and last events of the last page returned.
    first: Option<EventId>,
    last: Option<EventId>,
    /// Whether a page was returned yet.
    fetched: bool,
    done_forward: bool,
    done_backward: bool,
    rate_limit: Option<RateLimit>,
}

impl EventPager {
    pub(crate) fn new(client: ApiClient, query: ListEvents) -> Self {
        let last = query.start_after_id().cloned();
        let first = query.end_before_id().or(query.start_after_id()).cloned();
        EventPager {
            client,
            query,
            first,
            last,
            fetched: false,
            done_forward: false,
            done_backward: false,
            rate_limit: None,
        }
    }

    /// Fetches the next page (the events after the last page returned, or
    /// the first page of the query); `None` once the listing is exhausted
    /// in that direction.
    ///
    /// # Errors
    ///
    /// The [`FetchError`] of the request; the pager stays where it was.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Event>>, FetchError> {
        if self.done_forward {
            return Ok(None);
        }
        let query = match (&self.last, self.fetched) {
            (Some(last), true) => self.query.clone().start_after(last.clone()),
            _ => self.query.clone(),
        };
        let page = self.fetch(&query).await?;
        // An empty page ends the walk even if the API says there is more,
        // so a confused answer cannot make the loop spin forever.
        self.done_forward = !page.has_more || page.events.is_empty();
        Ok(self.keep(page))
    }

    /// Fetches the previous page (the events before the first of the last
    /// page returned, nearest it; before any page, the events before the
    /// query's cursor); `None` once the listing is exhausted in that
    /// direction.
    ///
    /// # Errors
    ///
    /// The [`FetchError`] of the request; the pager stays where it was.
    pub async fn previous_page(&mut self) -> Result<Option<Vec<Event>>, FetchError> {
        if self.done_backward {
            return Ok(None);
        }
        let query = match &self.first {
            Some(first) => self.query.clone().end_before(first.clone()),
            None => self.query.clone(),
        };
        let page = self.fetch(&query).await?;
        self.done_backward = !page.has_more || page.events.is_empty();
        Ok(self.keep(page))
    }

    async fn fetch(&mut self, query: &ListEvents) -> Result<EventPage, FetchError> {
        let page = self.client.list_events(query).await?;
        self.rate_limit = page.rate_limit.or(self.rate_limit);
        Ok(page)
    }

    /// Remembers the bounds of `page` and returns its events.
    fn keep(&mut self, page: EventPage) -> Option<Vec<Event>> {
        self.fetched = true;
        if let (Some(first), Some(last)) = (page.first_id(), page.last_id()) {
            self.first = Some(first.clone());
            self.last = Some(last.clone());
        }
        Some(page.events).filter(|events| !events.is_empty())
    }

    /// The ID of the last event returned so far (or the starting cursor):
    /// where to start next time.
    pub fn cursor(&self) -> Option<&EventId> {
        self.last.as_ref()
    }

    /// Whether the listing is exhausted forward.
    pub fn is_done(&self) -> bool {
        self.done_forward
    }

    /// The rate limit the API reported with the latest page, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }
}

/// The answer of `GET /events/{id}/webhooks`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WebhookPage {
    /// The delivery attempts.
    pub webhooks: Vec<WebhookDelivery>,
    /// Whether more records follow.
    pub has_more: bool,
}

/// One delivery attempt of an event to a webhook URL, as the API records
/// it.
///
/// The fields this crate models are lenient: `response_code` is read from
/// a number or a numeric string; a value of an unexpected type stays in
/// [`extra`](WebhookDelivery::extra), with every field not modelled.
///
/// `Debug` hides the password of `request_url` (a webhook URL may carry
/// basic-auth credentials) and shows only the names of the extra fields.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct WebhookDelivery {
    /// The record's ID.
    pub id: Option<String>,
    /// The event delivered.
    pub event_id: Option<String>,
    /// The URL the event was sent to.
    pub request_url: Option<String>,
    /// The method used (`POST`).
    pub request_method: Option<String>,
    /// The status code the endpoint answered with, if it answered.
    pub response_code: Option<u16>,
    /// How long the endpoint took to answer, in milliseconds.
    pub response_time_ms: Option<u64>,
    /// When the attempt was made.
    pub created_at: Option<Timestamp>,
    /// Every other field, as the server sent it.
    pub extra: Map<String, Value>,
}

impl WebhookDelivery {
    /// Whether the endpoint answered with a 2xx status.
    pub fn is_delivered(&self) -> bool {
        self.response_code
            .is_some_and(|code| (200..300).contains(&code))
    }
}

/// A non-negative integer from a JSON number or a numeric string.
fn lenient_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Takes `key` out of `extra` when `read` accepts its value; leaves it
/// there otherwise (a `null` is dropped).
fn take<T>(
    extra: &mut Map<String, Value>,
    key: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    let value = extra.get(key)?;
    let read = read(value);
    if read.is_some() || value.is_null() {
        extra.remove(key);
    }
    read
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

impl<'de> Deserialize<'de> for WebhookDelivery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut extra = Map::deserialize(deserializer)
            .map_err(|e| de::Error::custom(format!("a webhook record must be an object: {e}")))?;
        Ok(WebhookDelivery {
            id: take(&mut extra, "id", string),
            event_id: take(&mut extra, "event_id", string),
            request_url: take(&mut extra, "request_url", string),
            request_method: take(&mut extra, "request_method", string),
            response_code: take(&mut extra, "response_code", |v| {
                lenient_u64(v).and_then(|n| u16::try_from(n).ok())
            }),
            response_time_ms: take(&mut extra, "response_time_ms", lenient_u64),
            created_at: take(&mut extra, "created_at", |v| {
                v.as_str().map(Timestamp::parse)
            }),
            extra,
        })
    }
}

impl Serialize for WebhookDelivery {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let fields: [(&str, Option<Value>); 7] = [
            ("id", self.id.clone().map(Value::from)),
            ("event_id", self.event_id.clone().map(Value::from)),
            ("request_url", self.request_url.clone().map(Value::from)),
            (
                "request_method",
                self.request_method.clone().map(Value::from),
            ),
            ("response_code", self.response_code.map(Value::from)),
            ("response_time_ms", self.response_time_ms.map(Value::from)),
            (
                "created_at",
                self.created_at.as_ref().map(|t| Value::from(t.as_str())),
            ),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                map.serialize_entry(key, &value)?;
            }
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// `url` with its password, if any, replaced.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Cannot fail: a URL with a password has a host.
                let _ = parsed.set_password(Some("redacted"));
            }
            parsed.into()
        }
        Err(_) => "[unparsable URL, hidden]".to_owned(),
    }
}

impl fmt::Debug for WebhookDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookDelivery")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("request_url", &self.request_url.as_deref().map(redact_url))
            .field("request_method", &self.request_method)
            .field("response_code", &self.response_code)
            .field("response_time_ms", &self.response_time_ms)
            .field("created_at", &self.created_at)
            .field("extra_fields", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped_and_pairs_come_in_order() {
        // One cursor per request: the last one set wins (the vendor's
        // pagination docs allow only one of `start_after`/`end_before`).
        let query = ListEvents::new()
            .limit(1000)
            .order(Order::Asc)
            .end_before(EventId::parse("ev_9").unwrap())
            .start_after(EventId::parse("ev_1").unwrap())
            .filter("sandbox:true")
            .expand("project");
        assert_eq!(
            query.query_pairs(),
            [
                ("filter", "sandbox:true".to_owned()),
                ("limit", "100".to_owned()),
                ("start_after", "ev_1".to_owned()),
                ("order", "asc".to_owned()),
                ("expand[]", "project".to_owned()),
            ]
        );
        let query = query.end_before(EventId::parse("ev_9").unwrap());
        assert_eq!(query.start_after_id(), None);
        assert_eq!(query.end_before_id().map(EventId::as_str), Some("ev_9"));
        assert_eq!(
            ListEvents::new().limit(0).query_pairs(),
            [("limit", "1".to_owned())]
        );
        assert!(ListEvents::new().query_pairs().is_empty());
    }

    #[test]
    fn webhook_response_code_is_a_number_from_a_string_or_a_number() {
        let records: Vec<WebhookDelivery> = serde_json::from_str(
            r#"[
                {"id":"wh_1","event_id":"ev_1","response_code":"200","response_time_ms":35,
                 "created_at":"2023-04-22T15:48:58Z","status":1,"response_body":"ok"},
                {"id":"wh_2","response_code":503,"response_time_ms":"1200"},
                {"id":"wh_3","response_code":"timeout"},
                {"id":"wh_4","response_code":null,"request_url":null}
            ]"#,
        )
        .unwrap();
        assert_eq!(records[0].response_code, Some(200));
        assert!(records[0].is_delivered());
        assert_eq!(records[0].response_time_ms, Some(35));
        assert_eq!(
            records[0].created_at.as_ref().map(Timestamp::as_str),
            Some("2023-04-22T15:48:58Z")
        );
        assert_eq!(records[0].extra["status"], 1);
        assert_eq!(records[0].extra["response_body"], "ok");
        assert_eq!(records[1].response_code, Some(503));
        assert!(!records[1].is_delivered());
        assert_eq!(records[1].response_time_ms, Some(1200));
        assert_eq!(records[2].response_code, None);
        assert_eq!(records[2].extra["response_code"], "timeout");
        assert!(records[3].extra.is_empty());

        let written = serde_json::to_value(&records[0]).unwrap();
        assert_eq!(written["response_code"], 200);
        assert_eq!(written["status"], 1);
        let again: WebhookDelivery = serde_json::from_value(written).unwrap();
        assert_eq!(again, records[0]);
    }

    #[test]
    fn webhook_debug_hides_url_credentials_and_extra_values() {
        let record: WebhookDelivery = serde_json::from_str(
            r#"{"request_url":"https://hooks:s3cr3t@shop.example/webhooks","response_body":"s3cr3t"}"#,
        )
        .unwrap();
        let debug = format!("{record:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(
            debug.contains("https://hooks:redacted@shop.example/webhooks"),
            "{debug}"
        );
        assert!(debug.contains("response_body"), "{debug}");
    }
}
