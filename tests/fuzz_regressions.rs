//! Inputs found by the fuzz targets in `fuzz/` (see `RELIABILITY.md`),
//! kept as tests so that what they broke stays fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use smart_router_webhooks::{Event, Transaction};

/// Found by the `event` target: an unmodelled field sent twice made an
/// event unequal to itself (`Extra`'s equality compared every copy of a
/// repeated key with its last value), so an event written back to JSON and
/// read again was not equal to the original.
#[test]
fn a_repeated_unknown_field_keeps_an_event_equal_to_itself() {
    let json = br#"{"id": "bH7S","name": "Ama", "captured": {"f": "ba"},"captured":  null}"#;
    let event = Event::from_slice(json).unwrap();
    assert_eq!(event, event.clone());
    assert_eq!(
        event.extra["captured"],
        serde_json::Value::Null,
        "the last one counts"
    );

    let written = serde_json::to_vec(&event).unwrap();
    assert_eq!(Event::from_slice(&written).unwrap(), event);

    // The same holds for a transaction, and for the value the fields read
    // as: a repeated key equals its last value alone.
    let repeated: Transaction =
        serde_json::from_str(r#"{"id":"tr_1","status":"completed","x":1,"x":2}"#).unwrap();
    let last: Transaction =
        serde_json::from_str(r#"{"id":"tr_1","status":"completed","x":2}"#).unwrap();
    let first: Transaction =
        serde_json::from_str(r#"{"id":"tr_1","status":"completed","x":1}"#).unwrap();
    assert_eq!(repeated, repeated.clone());
    assert_eq!(repeated, last);
    assert_eq!(last, repeated);
    assert_ne!(repeated, first);
    assert_ne!(first, repeated);
}
