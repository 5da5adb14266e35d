//! Listing events (`GET /events`) for reconciliation, and the delivery
//! records of an event (`GET /events/{id}/webhooks`).

use super::client::ApiClient;
use super::error::FetchError;
use crate::model::{Event, EventId};

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
/// ```
/// use smart_router_webhooks::EventId;
/// use smart_router_webhooks::api::{ListEvents, Order};
///
/// let query = ListEvents::new()
///     .limit(50)
///     .order(Order::Asc)
///     .start_after(EventId::parse("ev_1")?);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListEvents {
    limit: Option<usize>,
    start_after: Option<EventId>,
    end_before: Option<EventId>,
    order: Option<Order>,
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

    /// Lists the events that come after `id` in the listing's order.
    pub fn start_after(mut self, id: EventId) -> Self {
        self.start_after = Some(id);
        self
    }

    /// Lists the events that come before `id` in the listing's order.
    pub fn end_before(mut self, id: EventId) -> Self {
        self.end_before = Some(id);
        self
    }

    /// The order of the listing (the API's default is [`Order::Desc`]).
    pub fn order(mut self, order: Order) -> Self {
        self.order = Some(order);
        self
    }

    /// The query parameters, in a stable order.
    pub(crate) fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(4);
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(id) = &self.start_after {
            pairs.push(("start_after", id.as_str().to_owned()));
        }
        if let Some(id) = &self.end_before {
            pairs.push(("end_before", id.as_str().to_owned()));
        }
        if let Some(order) = self.order {
            pairs.push(("order", order.as_str().to_owned()));
        }
        pairs
    }
}

/// One page of `GET /events`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EventPage {
    /// The events, in the listing's order.
    pub events: Vec<Event>,
    /// Whether more events follow this page.
    pub has_more: bool,
}

impl EventPage {
    /// The ID of the last event of the page: the `start_after` of the
    /// next page.
    pub fn last_id(&self) -> Option<&EventId> {
        self.events.last().map(|event| &event.id)
    }
}

/// Walks the pages of `GET /events` one request at a time, so a program
/// can go through every event since a saved cursor without writing the
/// paging loop.
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
    done: bool,
}

impl EventPager {
    pub(crate) fn new(client: ApiClient, query: ListEvents) -> Self {
        EventPager {
            client,
            query,
            done: false,
        }
    }

    /// Fetches the next page; `None` once the listing is exhausted.
    ///
    /// # Errors
    ///
    /// The [`FetchError`] of the request; the pager stays where it was.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Event>>, FetchError> {
        if self.done {
            return Ok(None);
        }
        let page = self.client.list_events(&self.query).await?;
        if let Some(last) = page.last_id() {
            self.query.start_after = Some(last.clone());
        }
        // An empty page ends the walk even if the API says there is more,
        // so a confused answer cannot make the loop spin forever.
        self.done = !page.has_more || page.events.is_empty();
        Ok(Some(page.events).filter(|events| !events.is_empty()))
    }

    /// The ID of the last event returned so far (or the starting cursor):
    /// where to start next time.
    pub fn cursor(&self) -> Option<&EventId> {
        self.query.start_after.as_ref()
    }

    /// Whether the listing is exhausted.
    pub fn is_done(&self) -> bool {
        self.done
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
        let query = ListEvents::new()
            .limit(1000)
            .order(Order::Asc)
            .end_before(EventId::parse("ev_9").unwrap())
            .start_after(EventId::parse("ev_1").unwrap());
        assert_eq!(
            query.query_pairs(),
            [
                ("limit", "100".to_owned()),
                ("start_after", "ev_1".to_owned()),
                ("end_before", "ev_9".to_owned()),
                ("order", "asc".to_owned()),
            ]
        );
        assert_eq!(
            ListEvents::new().limit(0).query_pairs(),
            [("limit", "1".to_owned())]
        );
        assert!(ListEvents::new().query_pairs().is_empty());
    }
}
