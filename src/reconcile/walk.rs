//! [`EventWalk`]: the API's event list, walked forward in time from a
//! cursor, in the budget of a [`Pace`]: how the reconciler and the audit
//! read the list.

use std::time::SystemTime;

use super::pace::{Pace, Pacer};
use crate::api::{ApiClient, FetchError, ListEvents, RateLimit};
use crate::model::{Event, EventId, ModelWarning};
use crate::store::Cursor;

/// Where a walk starts when no cursor was saved yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartFrom {
    /// After the newest event at the first run: only events fired from then
    /// on are walked.
    #[default]
    Now,
    /// This event, then every later one.
    Event(EventId),
    /// Every event fired at or after this time (found by walking back
    /// through the list); an event whose time cannot be read counts as
    /// fired after it.
    Time(SystemTime),
}

/// Where [`EventWalk::start`] found the walk begins.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Start {
    /// The first event to give out, when the walk starts with an event
    /// rather than after one.
    pub(crate) first: Option<Event>,
    /// The cursor to save now (`None` when `first` must be done first).
    pub(crate) cursor: Option<Cursor>,
}

/// One page of a forward walk.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WalkPage {
    /// The events after the cursor, oldest first.
    pub(crate) events: Vec<Event>,
    /// Whether newer events follow.
    pub(crate) has_more: bool,
    /// The rate limit the API reported, if any.
    pub(crate) rate_limit: Option<RateLimit>,
    /// The items of the page that are no events, left out of `events`.
    pub(crate) skipped: Vec<ModelWarning>,
    /// The readable IDs of those items.
    pub(crate) skipped_ids: Vec<EventId>,
    /// The ID of the newest item of the page with a readable one, an
    /// event or not: where the next page starts once the events are done.
    pub(crate) newest: Option<EventId>,
}

/// Walks `GET /events` forward in time, with one cursor per request, in the
/// budget of a [`Pace`], retrying 429, 5xx and network failures with
/// `Retry-After` or exponential backoff with jitter.
///
/// The API lists the newest first, and the SDKs page toward newer events
/// with `end_before`: a page after cursor `C` is `end_before=C`, the
/// events nearest `C` on its newer side, given out oldest first.
#[derive(Debug)]
pub(crate) struct EventWalk {
    client: ApiClient,
    pacer: Pacer,
}

impl EventWalk {
    /// A walk over `client`'s event list at `pace`.
    pub(crate) fn new(client: ApiClient, pace: Pace) -> Self {
        EventWalk {
            client,
            pacer: Pacer::new(pace),
        }
    }

    /// How many requests the walk made, retries included.
    pub(crate) fn requests(&self) -> u64 {
        self.pacer.requests
    }

    async fn list(&mut self, query: ListEvents) -> Result<crate::api::EventPage, FetchError> {
        let client = &self.client;
        let page = self.pacer.run(|| client.list_events(&query)).await?;
        self.pacer.heed(page.rate_limit);
        Ok(page)
    }

    fn query(&self) -> ListEvents {
        ListEvents::new().limit(self.pacer.pace().page_size)
    }

    /// Fetches one event (`GET /events/{id}`), in the budget.
    ///
    /// # Errors
    ///
    /// The last [`FetchError`] once the pace's attempts are spent, or at
    /// once when it is not transient.
    pub(crate) async fn fetch_event(&mut self, id: &EventId) -> Result<Event, FetchError> {
        let client = &self.client;
        self.pacer.run(|| client.fetch_event(id)).await
    }

    /// Every delivery record of one event (`GET /events/{id}/webhooks`),
    /// in the budget.
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](EventWalk::fetch_event).
    pub(crate) async fn event_webhooks(
        &mut self,
        id: &EventId,
    ) -> Result<Vec<crate::api::WebhookDelivery>, FetchError> {
        let client = &self.client;
        self.pacer.run(|| client.event_webhooks(id)).await
    }

    /// Finds where a walk with no saved cursor begins.
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](EventWalk::fetch_event).
    pub(crate) async fn start(&mut self, from: &StartFrom) -> Result<Start, FetchError> {
        match from {
            StartFrom::Now => {
                let page = self.list(ListEvents::new().limit(1)).await?;
                let cursor = page
                    .first_id()
                    .cloned()
                    .map_or(Cursor::Beginning, Cursor::After);
                Ok(Start {
                    first: None,
                    cursor: Some(cursor),
                })
            }
            StartFrom::Event(id) => Ok(Start {
                first: Some(self.fetch_event(id).await?),
                cursor: None,
            }),
            StartFrom::Time(at) => self.back_to(Some(*at)).await,
        }
    }

    /// Walks back from the newest event to the last one fired before `at`
    /// (the cursor), or to the oldest (the first event) when none is.
    async fn back_to(&mut self, at: Option<SystemTime>) -> Result<Start, FetchError> {
        let mut query = self.query();
        let mut oldest = None;
        loop {
            let page = self.list(query.clone()).await?;
            let before = |event: &Event| {
                let fired = event.fired_at.as_ref().and_then(|t| t.to_system_time());
                matches!((fired, at), (Some(fired), Some(at)) if fired < at)
            };
            if let Some(event) = page.events.iter().find(|e| before(e)) {
                return Ok(Start {
                    first: None,
                    cursor: Some(Cursor::After(event.id.clone())),
                });
            }
            // Paging from the last item with a readable ID, an event or
            // not: a page of items that are no events is not the end.
            let Some(last) = page.last_id().cloned() else {
                break;
            };
            query = query.start_after(last);
            if let Some(event) = page.events.into_iter().last() {
                oldest = Some(event);
            }
            if !page.has_more {
                break;
            }
        }
        Ok(match oldest {
            Some(event) => Start {
                first: Some(event),
                cursor: None,
            },
            None => Start {
                first: None,
                cursor: Some(Cursor::Beginning),
            },
        })
    }

    /// The events after `cursor`, oldest first, at most a page of them.
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](EventWalk::fetch_event); a cursor event the
    /// API no longer knows is a [`NotFound`](crate::FetchErrorKind::NotFound).
    pub(crate) async fn page_after(&mut self, cursor: &Cursor) -> Result<WalkPage, FetchError> {
        match cursor {
            Cursor::After(id) => {
                let query = self.query().end_before(id.clone());
                let page = self.list(query).await?;
                // Newest first: the first item is the newest.
                let newest = page.first_id().cloned();
                let mut events = page.events;
                events.reverse();
                Ok(WalkPage {
                    events,
                    has_more: page.has_more,
                    rate_limit: page.rate_limit,
                    skipped: page.warnings,
                    skipped_ids: page.skipped_ids,
                    newest,
                })
            }
            // Nothing was done yet: the oldest event comes first.
            _ => {
                let start = self.back_to(None).await?;
                Ok(WalkPage {
                    has_more: start.first.is_some(),
                    events: start.first.into_iter().collect(),
                    rate_limit: None,
                    skipped: Vec::new(),
                    skipped_ids: Vec::new(),
                    newest: None,
                })
            }
        }
    }
}
