//! The delivery audit: which events the endpoint never acknowledged, and
//! what it answered.

use crate::api::{FetchError, WebhookDelivery};
use crate::model::{Event, EventId};
use crate::store::Cursor;

use super::walk::EventWalk;

/// An event every delivery of which failed, with the vendor's records of
/// the attempts (status codes, times).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MissedEvent {
    /// The event.
    pub event: Event,
    /// Its delivery attempts, as the API records them.
    pub deliveries: Vec<WebhookDelivery>,
}

impl MissedEvent {
    /// The status code of each attempt (`None`: no answer).
    pub fn status_codes(&self) -> Vec<Option<u16>> {
        self.deliveries.iter().map(|d| d.response_code).collect()
    }
}

/// Reads the delivery records (`GET /events/{id}/webhooks`) of the events
/// after `after` up to and including `until` (or the newest event), in
/// the walk's budget, and returns the events whose deliveries were all
/// failures: what the endpoint missed, and why. An event with no record
/// (no webhook URL configured then) is not reported.
///
/// # Errors
///
/// The [`FetchError`] of a listing or record request that failed past the
/// walk's retries.
///
/// ```no_run
/// # async fn run(client: smart_router_webhooks::ApiClient) -> Result<(), Box<dyn std::error::Error>> {
/// use smart_router_webhooks::EventId;
/// use smart_router_webhooks::reconcile::{Cursor, EventWalk, Pace, audit_deliveries};
///
/// let mut walk = EventWalk::new(client, Pace::new().requests_per_second(2.0));
/// let after = Cursor::After(EventId::parse("ev_A")?);
/// for missed in audit_deliveries(&mut walk, &after, None).await? {
///     println!("{} missed: {:?}", missed.event.id, missed.status_codes());
/// }
/// # Ok(()) }
/// ```
pub async fn audit_deliveries(
    walk: &mut EventWalk,
    after: &Cursor,
    until: Option<&EventId>,
) -> Result<Vec<MissedEvent>, FetchError> {
    let mut missed = Vec::new();
    let mut cursor = after.clone();
    loop {
        let page = walk.page_after(&cursor).await?;
        let has_more = page.has_more;
        let mut reached = page.events.is_empty();
        for event in page.events {
            let records = walk.event_webhooks(&event.id).await?;
            let id = event.id.clone();
            if !records.is_empty() && records.iter().all(|d| !d.is_delivered()) {
                missed.push(MissedEvent {
                    event,
                    deliveries: records,
                });
            }
            reached = until == Some(&id);
            cursor = Cursor::After(id);
            if reached {
                break;
            }
        }
        if reached || !has_more {
            return Ok(missed);
        }
    }
}
