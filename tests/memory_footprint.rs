//! What the in-memory claim store costs per remembered event, measured
//! with a counting allocator (the figure the store's docs give).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

#[test]
fn a_remembered_event_costs_under_250_bytes() {
    let per_event = counting_allocator::claim_store_bytes_per_event(100_000);
    println!("bytes per remembered event: {per_event:.0}");
    assert!(per_event < 250.0, "{per_event:.0} bytes per event");
}
