//! `Event` and `Transaction` parsing on arbitrary bytes: never panics, and
//! whatever parses writes back to JSON that parses to an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smart_router_webhooks::{Amount, Event, Transaction};

fn exercise(transaction: &Transaction) {
    for amount in [
        &transaction.amount,
        &transaction.captured_amount,
        &transaction.refunded_amount,
    ]
    .into_iter()
    .flatten()
    {
        let _ = (amount.is_zero(), amount.is_negative());
        assert_eq!(Amount::parse(amount.as_str()).ok().as_ref(), Some(amount));
    }
    if let Some(at) = &transaction.created_at {
        let _ = at.to_system_time();
    }
    if let Some(status) = &transaction.status {
        let _ = status.expected_next();
    }
    for warning in &transaction.warnings {
        let _ = (warning.to_string(), warning.raw().get().len());
    }
    let _ = transaction.extra.to_map();
}

fuzz_target!(|json: &[u8]| {
    if let Ok(event) = Event::from_slice(json) {
        if let Some(transaction) = event.transaction() {
            exercise(transaction);
        }
        let _ = event.resource_json();
        let _ = event.fired_at.as_ref().map(|t| t.to_system_time());
        let written = serde_json::to_vec(&event).expect("an event writes to JSON");
        let again = Event::from_slice(&written).expect("a written event parses");
        assert_eq!(again, event, "{}", String::from_utf8_lossy(&written));
    }
    if let Ok(transaction) = serde_json::from_slice::<Transaction>(json) {
        exercise(&transaction);
        let written = serde_json::to_vec(&transaction).expect("a transaction writes to JSON");
        let again: Transaction =
            serde_json::from_slice(&written).expect("a written transaction parses");
        assert_eq!(again, transaction, "{}", String::from_utf8_lossy(&written));
    }
});
