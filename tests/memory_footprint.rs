//! What the in-memory stores cost per remembered event, measured with a
//! counting allocator (the figures the stores' docs give).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

#[test]
fn a_remembered_event_costs_under_600_bytes_across_both_stores() {
    let per_event = counting_allocator::stores_bytes_per_event(100_000);
    println!(
        "bytes per remembered event: {:.0} (claims {:.0}, transaction snapshot {:.0}), in {:.1} allocations",
        per_event.total(),
        per_event.claims,
        per_event.transactions,
        per_event.allocations,
    );
    assert!(per_event.total() < 600.0, "{per_event:?}");
}
