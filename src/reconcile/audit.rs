//! The delivery audit: which events the endpoint never acknowledged, and
//! what it answered.

use crate::api::{ApiClient, FetchError, WebhookDelivery};
use crate::model::{Event, EventId};
use crate::store::Cursor;

use super::pace::Pace;
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
/// after `after` up to and including `until` (or the newest event), and
/// returns the events whose deliveries were all failures: what the
/// endpoint missed, and why. An event with no record (no webhook URL
/// configured then) is not reported.
///
/// The requests keep the reconciler's default pace: at most 2 a second,
/// pages of 100 events, and a 429, 5xx or network failure retried after
/// `Retry-After` or with backoff (1 s doubling up to 60 s, 8 attempts),
/// leaving webhook deliveries their share of the API's rate limit.
///
/// # Errors
///
/// The [`FetchError`] of a listing or record request that failed past
/// those retries, or at once when it is not transient.
///
/// ```no_run
/// # async fn run(client: smart_router_webhooks::ApiClient) -> Result<(), Box<dyn std::error::Error>> {
/// use smart_router_webhooks::EventId;
/// use smart_router_webhooks::reconcile::{Cursor, audit_deliveries};
///
/// let after = Cursor::After(EventId::parse("ev_A")?);
/// for missed in audit_deliveries(&client, &after, None).await? {
///     println!("{} missed: {:?}", missed.event.id, missed.status_codes());
/// }
/// # Ok(()) }
/// ```
pub async fn audit_deliveries(
    client: &ApiClient,
    after: &Cursor,
    until: Option<&EventId>,
) -> Result<Vec<MissedEvent>, FetchError> {
    let mut walk = EventWalk::new(client.clone(), Pace::default());
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
