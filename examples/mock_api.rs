//! MOCK_API_ADDR=127.0.0.1:9090 cargo run --example mock_api -- [event.json …]
//!
//! The mock Smart Router API (`testing::MockApi`) on its own, to point a
//! receiver at while developing: `SMART_ROUTER_API_URL` of
//! `examples/receiver.rs` or `examples/shop`. It serves a card payment's
//! life (`tr_demo`: captured, partly refunded, then charged back, one event
//! each) and every event given as a JSON file (the event object, or the
//! API's answer `{"success":true,"event":{…}}` as the vendor publishes it).
//!
//! | variable | |
//! |---|---|
//! | `MOCK_API_ADDR` | optional: the address to listen on (default `127.0.0.1:0`, a free port) |
//!
//! stdout is one JSON line once it listens: `{"url":…,"project_id":…,
//! "private_key":…,"events":[…]}`; a `curl` line per event to deliver it
//! to a receiver goes to stderr. It runs until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;

use serde_json::json;
use smart_router_webhooks::TransactionStatus::{ChargebackInitiated, Completed, Refunded};
use smart_router_webhooks::testing::{MockApi, TransactionBuilder};

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::var("MOCK_API_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!(
            "configuration error: MOCK_API_ADDR {addr:?} is not an address such as 127.0.0.1:9090"
        );
        return ExitCode::from(2);
    };
    let api = match MockApi::builder().bind(addr).try_start().await {
        Ok(api) => api,
        Err(e) => {
            eprintln!("configuration error: MOCK_API_ADDR cannot be bound: {e}");
            return ExitCode::from(2);
        }
    };

    // A card payment's life, one event per step, a minute apart.
    let payment = TransactionBuilder::new("tr_demo")
        .amount("25.00")
        .invoice("iv_demo");
    let mut events = vec![
        payment
            .clone()
            .status(Completed)
            .at("2024-05-01T12:00:00Z")
            .event("ev_demo_captured"),
        payment
            .clone()
            .status(Refunded)
            .refunded("5.00")
            .at("2024-05-01T12:01:00Z")
            .event("ev_demo_refunded"),
        payment
            .status(ChargebackInitiated)
            .refunded("5.00")
            .at("2024-05-01T12:02:00Z")
            .event("ev_demo_chargeback"),
    ]
    .into_iter()
    .map(|event| {
        let id = event.id.clone();
        api.add_event(event);
        id
    })
    .collect::<Vec<_>>();
    for path in std::env::args().skip(1) {
        let added = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|json| api.add_event_json(&json).map_err(|e| e.to_string()));
        match added {
            Ok(id) => events.push(id),
            Err(e) => {
                eprintln!("configuration error: {path} is not an event: {e}");
                return ExitCode::from(2);
            }
        }
    }

    println!(
        "{}",
        json!({
            "url": api.url(),
            "project_id": api.project_id(),
            "private_key": api.private_key(),
            "events": events,
        })
    );
    eprintln!("the mock API listens on {}; give a receiver:", api.url());
    eprintln!(
        "  SMART_ROUTER_API_URL={} SMART_ROUTER_PROJECT_ID={} SMART_ROUTER_PRIVATE_KEY={}",
        api.url(),
        api.project_id(),
        api.private_key()
    );
    eprintln!("then deliver an event to it as Smart Router would:");
    for id in &events {
        eprintln!(
            "  curl -u hooks:s3cret -H 'Content-Type: application/json' -d '{{\"event_id\":\"{id}\"}}' http://127.0.0.1:8080/webhooks/smart-router"
        );
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    eprintln!("stopped after {} requests", api.total_requests());
    ExitCode::SUCCESS
}
