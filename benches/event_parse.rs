//! Typed parse of the vendor's 16 KB event against a `serde_json::Value`
//! parse of the same bytes. Target: ratio <= 0.8, every field read
//! tolerantly (a value of the wrong type kept raw with a warning).
//!
//! cargo bench --bench event_parse
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use criterion::Criterion;
use serde::Deserialize;
use smart_router_webhooks::Event;

#[path = "support/ratio.rs"]
mod ratio;

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/event-transaction-failed.json");

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("event_parse");
    ratio::measure(&mut group, "value", || {
        serde_json::from_slice::<serde_json::Value>(FIXTURE).expect("fixture is JSON")
    });
    ratio::measure(&mut group, "typed", || {
        let envelope: Envelope = serde_json::from_slice(FIXTURE).expect("fixture is an event");
        assert!(envelope.event.transaction().is_some());
        assert!(envelope.event.warnings().is_empty());
        envelope
    });
    group.finish();
    c.final_summary();
    ratio::ratio("event_parse typed/value", "typed", "value", 0.8);
}
