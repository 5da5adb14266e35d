//! What tests of receivers share: the credentials and a delivery of an
//! event as the sender makes it, a handler counting its runs, and an
//! observer keeping every delivery's outcome.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::Request;
use smart_router_webhooks::{
    Credentials, DeliveryReport, Event, EventContext, EventId, EventType, Handler, HandlerError,
    Observer, Outcome, Transaction, TransactionId, TransactionStatus,
};

/// The credentials of the tests' webhook URL.
pub fn credentials() -> Credentials {
    Credentials::new("hooks", "s3cret").unwrap()
}

/// A delivery of `event`, with the credentials, to give a receiver
/// directly.
pub fn delivery(event: &EventId) -> Request<Vec<u8>> {
    Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials().authorization_header(),
        )
        .body(
            format!(r#"{{"event_id":"{event}","event_type":"transaction.captured"}}"#).into_bytes(),
        )
        .unwrap()
}

/// A `transaction.captured` event `id` (`ev_…`) of a transaction of its
/// own (`tr_…`, the same suffix).
pub fn captured_event(id: &str) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), EventType::TransactionCaptured);
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse(&id.replacen("ev_", "tr_", 1)).unwrap(),
        TransactionStatus::Completed,
    ));
    event
}

/// Counts a handler's runs, per event.
#[derive(Clone, Default)]
pub struct Runs(pub Arc<Mutex<HashMap<EventId, usize>>>);

impl Runs {
    pub fn of(&self, event: &EventId) -> usize {
        self.0.lock().unwrap().get(event).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Handler for Runs {
    async fn handle(&self, ctx: &EventContext) -> Result<(), HandlerError> {
        *self
            .0
            .lock()
            .unwrap()
            .entry(ctx.event().id.clone())
            .or_default() += 1;
        Ok(())
    }
}

/// The outcome of every delivery one instance answered.
#[derive(Clone, Default)]
pub struct Outcomes(pub Arc<Mutex<Vec<Outcome>>>);

impl Outcomes {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|o| **o == outcome)
            .count()
    }

    pub fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Observer for Outcomes {
    fn on_delivery(&self, report: &DeliveryReport) {
        self.0.lock().unwrap().push(report.outcome);
    }
}
