//! [`EventPager`]: the client's walk through the pages of `GET /events`.

use super::ApiClient;
use crate::api::error::FetchError;
use crate::api::listing::{EventPage, ListEvents, RateLimit};
use crate::model::{Event, EventId};

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
        // A page with no item to page from ends the walk even if the API
        // says there is more, so a confused answer cannot make the loop
        // spin forever.
        self.done_forward = !page.has_more || page.last_id().is_none();
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
        self.done_backward = !page.has_more || page.first_id().is_none();
        Ok(self.keep(page))
    }

    async fn fetch(&mut self, query: &ListEvents) -> Result<EventPage, FetchError> {
        let page = self.client.list_events(query).await?;
        self.rate_limit = page.rate_limit.or(self.rate_limit);
        Ok(page)
    }

    /// Remembers the bounds of `page` and returns its events: `None` for
    /// a page with no item, an empty list for one whose every item was
    /// skipped (see [`EventPage::warnings`]).
    fn keep(&mut self, page: EventPage) -> Option<Vec<Event>> {
        self.fetched = true;
        let (first, last) = (page.first_id()?.clone(), page.last_id()?.clone());
        (self.first, self.last) = (Some(first), Some(last));
        Some(page.events)
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
