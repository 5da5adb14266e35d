//! Listing events (`GET /events`) and the delivery records of an event
//! (`GET /events/{id}/webhooks`): what the reconciler's walk and its audit
//! read through the [`ApiClient`].

use serde_json::value::RawValue;

use super::client::ApiClient;
use super::error::FetchError;
use crate::model::tolerant::read_document;
use crate::model::{Event, EventId, ModelWarning, WebhookDelivery};

/// The largest page `GET /events` serves.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// The parameters of `GET /events` the walk sends; unset ones are left to
/// the API's defaults (newest first).
///
/// A request carries at most one cursor, as the vendor's pagination docs
/// require: setting [`start_after`](ListEvents::start_after) drops an
/// [`end_before`](ListEvents::end_before) set before, and the other way
/// round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListEvents {
    limit: Option<usize>,
    cursor: Option<PageCursor>,
}

/// The one cursor of a listing request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PageCursor {
    StartAfter(EventId),
    EndBefore(EventId),
}

impl ListEvents {
    /// No parameters: the API's first page, newest first.
    pub(crate) fn new() -> Self {
        ListEvents::default()
    }

    /// How many events per page, at most 100: a larger value
    /// is lowered to it, and 0 is raised to 1.
    pub(crate) fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.clamp(1, MAX_PAGE_SIZE));
        self
    }

    /// Lists the events that come after `id` in the listing's order (the
    /// next page: older ones); replaces any cursor set before.
    pub(crate) fn start_after(mut self, id: EventId) -> Self {
        self.cursor = Some(PageCursor::StartAfter(id));
        self
    }

    /// Lists the events that come before `id` in the listing's order (the
    /// previous page: the newer events nearest `id`); replaces any cursor
    /// set before.
    pub(crate) fn end_before(mut self, id: EventId) -> Self {
        self.cursor = Some(PageCursor::EndBefore(id));
        self
    }

    /// The query parameters, in a stable order.
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(2);
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        match &self.cursor {
            Some(PageCursor::StartAfter(id)) => pairs.push(("start_after", id.as_str().to_owned())),
            Some(PageCursor::EndBefore(id)) => pairs.push(("end_before", id.as_str().to_owned())),
            None => {}
        }
        pairs
    }
}

/// The rate limit the API reported with an answer (`x-ratelimit`,
/// `x-ratelimit-remaining`): event listings and fetches share the
/// "secondary" limit with the receiver's fetches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct RateLimit {
    /// The requests allowed in the current window (`x-ratelimit`).
    pub(crate) limit: Option<u64>,
    /// The requests left in the current window (`x-ratelimit-remaining`).
    pub(crate) remaining: Option<u64>,
}

impl RateLimit {
    /// The rate limit read from `headers`; `None` when neither header is
    /// there (or readable as a number).
    pub(crate) fn from_headers(headers: &http::HeaderMap) -> Option<RateLimit> {
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
    pub(crate) fn is_low(&self) -> bool {
        match (self.limit, self.remaining) {
            (Some(limit), Some(remaining)) => remaining.saturating_mul(10) < limit,
            (None, Some(remaining)) => remaining == 0,
            _ => false,
        }
    }
}

/// One page of `GET /events`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EventPage {
    /// The events, in the listing's order.
    pub(crate) events: Vec<Event>,
    /// Whether more events follow this page in the direction it was asked
    /// (after it for `start_after` or no cursor, before it for
    /// `end_before`).
    pub(crate) has_more: bool,
    /// The rate limit the API reported with the page, if it did.
    pub(crate) rate_limit: Option<RateLimit>,
    /// The items of the page that are not events (no readable `id` or
    /// `name`): left out of [`events`](EventPage::events), each kept raw
    /// here at its place in the page (`events[2]`), so one odd item never
    /// fails the page.
    pub(crate) warnings: Vec<ModelWarning>,
    /// The readable IDs of the skipped items, in the page's order.
    pub(crate) skipped_ids: Vec<EventId>,
    /// The IDs of the first and last items that have a readable one,
    /// skipped items included, so paging moves past a skipped item.
    bounds: Option<(EventId, EventId)>,
}

impl EventPage {
    /// Reads the items of a page: each one an event, or a warning.
    pub(crate) fn read(
        items: Vec<Box<RawValue>>,
        has_more: bool,
        rate_limit: Option<RateLimit>,
    ) -> Self {
        /// What paging needs of an item that is not an event.
        #[derive(serde::Deserialize)]
        struct IdOnly {
            id: EventId,
        }
        let mut events = Vec::with_capacity(items.len());
        let mut warnings = Vec::new();
        let mut skipped_ids = Vec::new();
        let mut bounds: Option<(EventId, EventId)> = None;
        for (i, item) in items.into_iter().enumerate() {
            let id = match read_document(|| serde_json::from_str::<Event>(item.get())) {
                Ok(event) => {
                    let id = event.id.clone();
                    events.push(event);
                    Some(id)
                }
                Err(_) => {
                    let id = serde_json::from_str::<IdOnly>(item.get()).ok();
                    warnings.push(
                        ModelWarning::new("", "an event with an `id` and a `name`", item)
                            .under(&format!("[{i}]"))
                            .under("events"),
                    );
                    let id = id.map(|item| item.id);
                    skipped_ids.extend(id.clone());
                    id
                }
            };
            if let Some(id) = id {
                bounds = Some(match bounds {
                    Some((first, _)) => (first, id),
                    None => (id.clone(), id),
                });
            }
        }
        EventPage {
            events,
            has_more,
            rate_limit,
            warnings,
            skipped_ids,
            bounds,
        }
    }

    /// The ID of the last item of the page (an event, or a skipped item
    /// with a readable ID): the `start_after` of the next page.
    pub(crate) fn last_id(&self) -> Option<&EventId> {
        self.bounds.as_ref().map(|(_, last)| last)
    }

    /// The ID of the first item of the page (an event, or a skipped item
    /// with a readable ID): the `end_before` of the previous page.
    pub(crate) fn first_id(&self) -> Option<&EventId> {
        self.bounds.as_ref().map(|(first, _)| first)
    }
}

impl ApiClient {
    /// One page of events (`GET /events`).
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](Self::fetch_event). An item of the page that is
    /// not an event (no readable `id` or `name`) does not fail the page: it
    /// is skipped, with a warning in [`EventPage::warnings`].
    pub(crate) async fn list_events(&self, query: &ListEvents) -> Result<EventPage, FetchError> {
        let response = self.send(&["events"], &query.query_pairs()).await?;
        let rate_limit = RateLimit::from_headers(response.headers());
        let (items, has_more) = self.read::<Vec<Box<RawValue>>>(response, "events")?;
        Ok(EventPage::read(
            items,
            has_more.unwrap_or(false),
            rate_limit,
        ))
    }

    /// The delivery attempts of event `id` to its webhook URLs
    /// (`GET /events/{id}/webhooks`), as the first page of the records
    /// lists them.
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](Self::fetch_event).
    pub(crate) async fn event_webhooks(
        &self,
        id: &EventId,
    ) -> Result<Vec<WebhookDelivery>, FetchError> {
        let (webhooks, _has_more) = self
            .get(&["events", id.as_str(), "webhooks"], &[], "webhooks")
            .await?;
        Ok(webhooks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> EventId {
        EventId::parse(id).unwrap()
    }

    #[test]
    fn limit_is_clamped_and_one_cursor_is_sent() {
        // One cursor per request: the last one set wins (the vendor's
        // pagination docs allow only one of `start_after`/`end_before`).
        let query = ListEvents::new()
            .limit(1000)
            .end_before(ev("ev_9"))
            .start_after(ev("ev_1"));
        assert_eq!(
            query.query_pairs(),
            [
                ("limit", "100".to_owned()),
                ("start_after", "ev_1".to_owned()),
            ]
        );
        assert_eq!(
            query.end_before(ev("ev_9")).query_pairs(),
            [
                ("limit", "100".to_owned()),
                ("end_before", "ev_9".to_owned())
            ]
        );
        assert_eq!(
            ListEvents::new().limit(0).query_pairs(),
            [("limit", "1".to_owned())]
        );
        assert!(ListEvents::new().query_pairs().is_empty());
    }

    #[test]
    fn the_rate_limit_is_read_from_the_headers_and_low_under_a_tenth() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, http::HeaderValue::from_static(value));
            }
            RateLimit::from_headers(&map)
        };
        let read = headers(&[("x-ratelimit", "50"), ("x-ratelimit-remaining", " 7 ")]);
        assert_eq!(
            read,
            Some(RateLimit {
                limit: Some(50),
                remaining: Some(7)
            })
        );
        assert!(!read.unwrap().is_low());
        assert!(
            headers(&[("x-ratelimit", "50"), ("x-ratelimit-remaining", "4")])
                .unwrap()
                .is_low()
        );
        assert!(headers(&[("x-ratelimit-remaining", "0")]).unwrap().is_low());
        assert!(!headers(&[("x-ratelimit-remaining", "1")]).unwrap().is_low());
        // Without the headers (or with no number in them), nothing is
        // made up.
        assert_eq!(headers(&[]), None);
        assert_eq!(headers(&[("x-ratelimit", "many")]), None);
    }

    #[test]
    fn an_event_with_a_number_beyond_f64_where_an_object_belongs_is_read() {
        let items: Vec<Box<RawValue>> = serde_json::from_str(
            r#"[{"id":"ev_02","name":"transaction.captured","data":{"transaction":1e400}},
                {"id":"ev_01","name":"transaction.captured","webhooks":-1E+999}]"#,
        )
        .unwrap();
        let page = EventPage::read(items, false, None);
        let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["ev_02", "ev_01"]);
        assert!(page.warnings.is_empty());
        let paths: Vec<&str> = page
            .events
            .iter()
            .flat_map(|e| e.warnings().iter().map(|w| w.path()))
            .collect();
        assert_eq!(paths, ["data.transaction", "webhooks"]);
    }

    #[test]
    fn an_item_that_is_no_event_is_skipped_with_a_warning_and_still_bounds_the_page() {
        let items: Vec<Box<RawValue>> = serde_json::from_str(
            r#"[{"id":"ev_05","name":"transaction.captured"},
                {"id":"ev_04","name":null,"data":{}},
                {"id":"not an id!","name":"transaction.captured"},
                {"id":"ev_02"},
                {"name":"transaction.captured"}]"#,
        )
        .unwrap();
        let page = EventPage::read(items, true, None);
        let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["ev_05"]);
        let warnings: Vec<String> = page.warnings.iter().map(ToString::to_string).collect();
        let expected: Vec<String> = (1..=4)
            .map(|i| {
                format!(
                    "`events[{i}]`: expected an event with an `id` and a `name`, found an object"
                )
            })
            .collect();
        assert_eq!(warnings, expected);
        assert!(page.warnings[1].raw().get().contains("not an id!"));
        assert_eq!(page.skipped_ids, [ev("ev_04"), ev("ev_02")]);
        // The first and last items with a readable ID, events or not, are
        // where the pages before and after it start.
        assert_eq!(page.first_id(), Some(&ev("ev_05")));
        assert_eq!(page.last_id(), Some(&ev("ev_02")));
        let empty = EventPage::read(Vec::new(), false, None);
        assert_eq!((empty.first_id(), empty.last_id()), (None, None));
    }
}
