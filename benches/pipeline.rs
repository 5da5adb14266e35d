//! `Receiver::handle` end to end (credentials, payload, claim, fetch with
//! the typed parse of the vendor's 16 KB event, tracking, three handlers,
//! record) against a hand-written minimal receiver doing the unavoidable
//! work (decode and compare the `Authorization` header, parse the body,
//! parse the event to a `Value`, match on its name). Target: ratio <= 1.25.
//!
//! cargo bench --bench pipeline
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use base64::Engine as _;
use criterion::Criterion;
use http::{Request, StatusCode, header::AUTHORIZATION};
use serde::Deserialize;
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventFetcher, EventId, EventType, FetchError, HandlerError,
    Receiver,
};

#[path = "support/ratio.rs"]
mod ratio;

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/event-transaction-failed.json");

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

/// Answers every fetch with the fixture's bytes, parsed, under the asked ID.
struct FixtureApi;

#[async_trait]
impl EventFetcher for FixtureApi {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        let mut envelope: Envelope = serde_json::from_slice(FIXTURE).map_err(|e| {
            FetchError::new(smart_router_webhooks::FetchErrorKind::InvalidResponse).with_source(e)
        })?;
        envelope.event.id = id.clone();
        Ok(envelope.event)
    }
}

async fn count(_: EventContext) -> Result<(), HandlerError> {
    Ok(())
}

/// The least a receiver must do, written by hand.
async fn minimal(request: Request<Vec<u8>>, expected: &[u8]) -> StatusCode {
    let Some(value) = request.headers().get(AUTHORIZATION) else {
        return StatusCode::UNAUTHORIZED;
    };
    let Some(token) = value.as_bytes().strip_prefix(b"Basic ") else {
        return StatusCode::UNAUTHORIZED;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return StatusCode::UNAUTHORIZED;
    };
    if decoded != expected {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(request.body()) else {
        return StatusCode::BAD_REQUEST;
    };
    if body["event_id"].as_str().is_none() {
        return StatusCode::BAD_REQUEST;
    }
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(FIXTURE) else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    match event["event"]["name"].as_str() {
        Some(_) => StatusCode::OK,
        None => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn delivery(n: u64, credentials: &Credentials) -> Request<Vec<u8>> {
    Request::post("/webhooks")
        .header(AUTHORIZATION, credentials.authorization_header())
        .body(format!(r#"{{"event_id":"ev_{n}","event_type":"transaction.failed"}}"#).into_bytes())
        .expect("request")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let credentials =
        Credentials::new("smart-router", "4f3c9b1e8d7a6c5b4a39281706f5e4d3").expect("credentials");
    let receiver = Receiver::builder()
        .credentials(credentials.clone())
        .fetcher(FixtureApi)
        .on(EventType::TransactionFailed, "a", count)
        .on_prefix("transaction.", "b", count)
        .on_every_event("c", count)
        .build()
        .expect("receiver");
    let expected = b"smart-router:4f3c9b1e8d7a6c5b4a39281706f5e4d3".to_vec();
    let next = AtomicU64::new(0);

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("minimal", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            runtime.block_on(async {
                for _ in 0..iters {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let status = minimal(delivery(n, &credentials), &expected).await;
                    assert_eq!(status, StatusCode::OK);
                }
            });
            let elapsed = start.elapsed();
            ratio::record("minimal", elapsed, iters);
            elapsed
        })
    });
    group.bench_function("receiver", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            runtime.block_on(async {
                for _ in 0..iters {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let response = receiver.handle(delivery(n, &credentials)).await;
                    assert_eq!(response.status(), StatusCode::OK);
                }
            });
            let elapsed = start.elapsed();
            ratio::record("receiver", elapsed, iters);
            elapsed
        })
    });
    group.finish();
    c.final_summary();
    ratio::ratio("pipeline receiver/minimal", "receiver", "minimal", 1.25);
}
