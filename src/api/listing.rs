//! Listing events (`GET /events`) for reconciliation, and the delivery
//! records of an event (`GET /events/{id}/webhooks`).

use serde_json::value::RawValue;

use crate::model::{Event, EventId, ModelWarning};

/// The largest page `GET /events` serves.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

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

    /// How many events per page, at most 100: a larger value
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
    pub(crate) fn start_after_id(&self) -> Option<&EventId> {
        match &self.cursor {
            Some(PageCursor::StartAfter(id)) => Some(id),
            _ => None,
        }
    }

    /// The `end_before` cursor, if that is the one set.
    pub(crate) fn end_before_id(&self) -> Option<&EventId> {
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
    /// The items of the page that are not events (no readable `id` or
    /// `name`): left out of [`events`](EventPage::events), each kept raw
    /// here at its place in the page (`events[2]`), so one odd item never
    /// fails the page.
    pub warnings: Vec<ModelWarning>,
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
        let mut bounds: Option<(EventId, EventId)> = None;
        for (i, item) in items.into_iter().enumerate() {
            let id = match serde_json::from_str::<Event>(item.get()) {
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
                    id.map(|item| item.id)
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
            bounds,
        }
    }

    /// The ID of the last item of the page (an event, or a skipped item
    /// with a readable ID): the `start_after` of the next page.
    pub fn last_id(&self) -> Option<&EventId> {
        self.bounds.as_ref().map(|(_, last)| last)
    }

    /// The ID of the first item of the page (an event, or a skipped item
    /// with a readable ID): the `end_before` of the previous page.
    pub(crate) fn first_id(&self) -> Option<&EventId> {
        self.bounds.as_ref().map(|(first, _)| first)
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

pub use crate::model::WebhookDelivery;

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
}
