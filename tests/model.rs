//! The vendor's published API responses, and events shaped like them, parse
//! into the crate's types with every value in place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde::Deserialize;
use smart_router_webhooks::{
    Amount, Event, EventType, OperationType, Transaction, TransactionStatus,
};

#[derive(Deserialize)]
struct EventEnvelope {
    success: bool,
    event: Event,
}

#[derive(Deserialize)]
struct TransactionEnvelope {
    success: bool,
    transaction: Transaction,
}

fn amount(s: &str) -> Option<Amount> {
    Some(s.parse().unwrap())
}

#[test]
fn the_vendors_failed_transaction_event_parses() {
    let envelope: EventEnvelope =
        serde_json::from_str(include_str!("fixtures/event-transaction-failed.json")).unwrap();
    assert!(envelope.success);
    let event = envelope.event;
    assert_eq!(event.id.as_str(), "ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C");
    assert_eq!(event.name, EventType::TransactionFailed);
    assert_eq!(
        event.project_id.as_deref(),
        Some("proj_jhgTvqTxNmyJVwAaKHDk3C4wqFFPah8r")
    );
    assert!(event.sandbox);
    assert!(event.webhooks.is_empty());
    let fired_at = event.fired_at.as_ref().unwrap();
    assert_eq!(fired_at.as_str(), "2023-04-22T15:48:57.55294073Z");
    assert_eq!(fired_at.unix_nanos(), Some(1_682_178_537_552_940_730));
    assert_eq!(event.data.name, Some(EventType::TransactionFailed));
    assert_eq!(event.data.sandbox, Some(true));

    let t = event.transaction().unwrap();
    assert_eq!(t.id.as_str(), "tr_NcIZWFdUQhfOQdfefQov14vN77tRa2Yn");
    assert_eq!(t.status, Some(TransactionStatus::Failed));
    assert_eq!(t.amount, amount("10"));
    assert_eq!(t.currency.as_deref(), Some("EUR"));
    assert_eq!(t.error_code.as_deref(), Some("card.failed-cvc"));
    assert_eq!(t.error_message.as_deref(), Some("Bad Track Data"));
    assert_eq!(
        t.card_id.as_deref(),
        Some("card_2qT1ms6dp7lgkaxa4gu6u6kRWL1cEO2L")
    );
    assert_eq!(
        t.invoice_id.as_deref(),
        Some("iv_gDvoOlsMlUSlGbBf7XEaZtNhMu3qcxRB")
    );
    assert_eq!(t.gateway_name.as_deref(), Some("checkoutcom"));
    assert_eq!(t.payment_type.as_deref(), Some("card"));
    assert_eq!(t.customer_id, None);
    assert!(!t.authorized && !t.captured && !t.refunded && !t.chargedback);
    assert_eq!(t.authorized_at, None);
    assert_eq!(
        t.created_at.as_ref().unwrap().as_str(),
        "2023-04-22T15:48:40.90936Z"
    );
    assert!(t.metadata.is_empty());
    assert!(t.refunds.is_empty());
    // Expanded relations and unmodelled fields are kept as sent.
    assert_eq!(t.extra["amount_local"], "11.1");
    assert_eq!(t.extra["invoice"]["amount"], "10");
    assert_eq!(t.extra["routing_tags"][0], "rule-2-route");
    assert_eq!(
        t.extra["gateway_configuration_id"],
        "gway_conf_ndv31saui5hu84u3iwantt2oc8w79x2n"
    );

    let kinds: Vec<_> = t
        .operations
        .iter()
        .map(|op| op.kind.clone().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            OperationType::Request,
            OperationType::Authorization,
            OperationType::Authorization
        ]
    );
    let failed = &t.operations[2];
    assert!(failed.has_failed);
    assert_eq!(
        failed.id.as_deref(),
        Some("tr_op_B8xDqGpxiY85spnNo4e1z2ehgyiIbiLY")
    );
    assert_eq!(failed.metadata["gateway_error_code"], "20087");
    assert_eq!(failed.extra["arn"], "471171956026");
    assert!(t.operations[1].is_attempt);

    // The resource comes back as JSON with its unknown fields.
    let resource = event.resource_json().unwrap();
    assert_eq!(resource["id"], "tr_NcIZWFdUQhfOQdfefQov14vN77tRa2Yn");
    assert_eq!(resource["card"]["bank_name"], "STRIPE PAYMENTS UK LIMITED");
}

#[test]
fn the_vendors_authorized_transaction_parses() {
    let envelope: TransactionEnvelope =
        serde_json::from_str(include_str!("fixtures/transaction-authorized.json")).unwrap();
    assert!(envelope.success);
    let t = envelope.transaction;
    assert_eq!(t.id.as_str(), "tr_msUOyQgmJp8UduKANzblNwa5hrjQGag5");
    assert_eq!(t.status, Some(TransactionStatus::Authorized));
    assert_eq!(t.amount, amount("29"));
    assert_eq!(t.authorized_amount, amount("29"));
    assert_eq!(t.captured_amount, amount("0"));
    assert_eq!(
        t.customer_id.as_deref(),
        Some("cust_D5BDaQQ8XL4xoUfKRjpBQjoEIwMA6asA")
    );
    assert_eq!(t.metadata["fruit"], "banana");
    assert!(t.authorized && !t.captured);
    assert_eq!(
        t.authorized_at.as_ref().unwrap().as_str(),
        "2023-04-22T15:19:13.048765Z"
    );
    assert!(t.operations.is_empty(), "operations: null");
    assert_eq!(t.voided_amount, None, "absent from this response");
    assert_eq!(t.extra["amount_local"], "32.18");
    assert!(!t.is_partially_refunded());
    assert!(!t.is_disputed());
}

#[test]
fn the_vendors_transaction_with_expanded_operations_parses() {
    let envelope: TransactionEnvelope = serde_json::from_str(include_str!(
        "fixtures/transaction-operations-expanded.json"
    ))
    .unwrap();
    let t = envelope.transaction;
    assert_eq!(t.operations.len(), 3);
    let op = &t.operations[0];
    assert_eq!(
        op.id.as_deref(),
        Some("tr_op_EVh8Ss7qmnWTVqna1CaU7HHbVopVdx1k")
    );
    assert_eq!(
        op.transaction_id.as_ref().unwrap().as_str(),
        "tr_msUOyQgmJp8UduKANzblNwa5hrjQGag5"
    );
    assert_eq!(op.kind, Some(OperationType::Request));
    assert_eq!(op.amount, amount("29"));
    assert_eq!(op.metadata["is_sale"], "false");
    assert_eq!(
        op.created_at.as_ref().unwrap().as_str(),
        "2023-04-22T15:19:13.048677Z"
    );
    assert_eq!(t.operations[1].kind, Some(OperationType::Authorization));
    assert!(t.operations[1].is_attempt);
    assert_eq!(op.extra["gateway_data"]["token"], "test-valid");
}

#[test]
fn the_vendors_transaction_with_payout_items_parses() {
    let envelope: TransactionEnvelope = serde_json::from_str(include_str!(
        "fixtures/transaction-payout-items-expanded.json"
    ))
    .unwrap();
    let t = envelope.transaction;
    assert_eq!(t.id.as_str(), "tr_RbYZcNz86hRLVNOGKOGmIyyibguwFds5");
    assert_eq!(t.status, Some(TransactionStatus::Completed));
    assert_eq!(t.captured_amount, amount("40"));
    assert_eq!(t.voided_amount, amount("0"));
    assert_eq!(
        t.captured_at.as_ref().unwrap().as_str(),
        "2024-02-26T08:20:50Z"
    );
    assert_eq!(t.extra["payout_summary"]["total_amount"], "40");
    assert_eq!(t.extra["payout_items"].as_array().map(Vec::len), Some(1));
}

#[test]
fn unknown_event_fields_are_kept_and_webhooks_may_be_a_list() {
    let event = Event::from_slice(
        br#"{"id":"ev_1","name":"transaction.captured","brand_new":{"x":[1,2]},
            "webhooks":[{"id":"wh_1","response_code":"200"}],
            "data":{"transaction":{"id":"tr_1","status":"completed"}}}"#,
    )
    .unwrap();
    assert_eq!(event.extra["brand_new"]["x"][1], 2);
    assert_eq!(event.webhooks[0].response_code, Some(200));
    // Written back, nothing is lost.
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(back["brand_new"]["x"][0], 1);
    assert_eq!(
        Event::from_slice(&serde_json::to_vec(&back).unwrap()).unwrap(),
        event
    );
}

#[test]
fn a_transaction_event_without_its_transaction_still_parses() {
    let event =
        Event::from_slice(br#"{"id":"ev_1","name":"transaction.captured","data":{}}"#).unwrap();
    assert!(event.transaction().is_none());
    assert!(event.resource_json().is_none());
    let event = Event::from_slice(br#"{"id":"ev_1","name":"transaction.captured"}"#).unwrap();
    assert!(event.transaction().is_none());
    let event =
        Event::from_slice(br#"{"id":"ev_1","name":"transaction.captured","data":null}"#).unwrap();
    assert!(event.transaction().is_none());
}

#[test]
fn other_resources_are_reachable_as_json() {
    let event = Event::from_slice(
        br#"{"id":"ev_1","name":"invoice.completed","data":{"invoice":{"id":"iv_1","amount":"5"}}}"#,
    )
    .unwrap();
    assert_eq!(event.resource_json().unwrap()["amount"], "5");
    let event = Event::from_slice(
        br#"{"id":"ev_2","name":"customer.token.created","data":{"token":{"id":"tok_1"}}}"#,
    )
    .unwrap();
    assert_eq!(event.resource_json().unwrap()["id"], "tok_1");
}

#[test]
fn fired_at_keeps_every_precision_and_a_bad_date_does_not_fail_the_event() {
    for digits in 0..=9 {
        let fraction = if digits == 0 {
            String::new()
        } else {
            format!(".{}", &"123456789"[..digits])
        };
        let text = format!("2023-04-22T15:48:57{fraction}Z");
        let json = format!(r#"{{"id":"ev_1","name":"x.y","fired_at":"{text}"}}"#);
        let event = Event::from_slice(json.as_bytes()).unwrap();
        let fired_at = event.fired_at.unwrap();
        assert_eq!(fired_at.as_str(), text);
        let expected_sub: i128 = if digits == 0 {
            0
        } else {
            "123456789"[..digits].parse::<i128>().unwrap() * 10_i128.pow(9 - digits as u32)
        };
        assert_eq!(
            fired_at.unix_nanos(),
            Some(1_682_178_537_000_000_000 + expected_sub)
        );
    }
    let event =
        Event::from_slice(br#"{"id":"ev_1","name":"x","fired_at":"last tuesday"}"#).unwrap();
    let fired_at = event.fired_at.unwrap();
    assert_eq!(fired_at.as_str(), "last tuesday");
    assert_eq!(fired_at.unix_nanos(), None);
}

#[test]
fn unknown_event_types_and_statuses_round_trip_their_text() {
    let json = br#"{"id":"ev_1","name":"transaction.teleported","data":{"transaction":{"id":"tr_1","status":"beamed-up"}}}"#;
    let event = Event::from_slice(json).unwrap();
    assert!(event.name.is_unknown());
    let status = event.transaction().unwrap().status.as_ref().unwrap();
    assert!(status.is_unknown());
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(back["name"], "transaction.teleported");
    assert_eq!(back["data"]["transaction"]["status"], "beamed-up");
}

#[test]
fn an_event_that_is_not_one_is_refused() {
    use smart_router_webhooks::ErrorKind;
    for json in [
        &b"[]"[..],
        b"{}",
        br#"{"id":"ev_1"}"#,
        br#"{"id":"ev/1","name":"x"}"#,
        b"nope",
    ] {
        assert_eq!(
            Event::from_slice(json).unwrap_err().kind(),
            ErrorKind::InvalidPayload
        );
    }
}

#[test]
fn debug_output_never_shows_what_unmodelled_fields_hold() {
    let event = Event::from_slice(
        br#"{"id":"ev_1","name":"transaction.captured",
            "webhooks":[{"request_url":"https://hooks:hunter2@shop.example/wh"}],
            "data":{"transaction":{"id":"tr_1","status":"completed",
              "invoice":{"webhook_url":"https://hooks:hunter2@shop.example/wh"}}}}"#,
    )
    .unwrap();
    let shown = format!("{event:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("invoice"), "field names are shown: {shown}");
    // The values are all there for code that asks.
    assert_eq!(
        event.webhooks[0].request_url.as_deref(),
        Some("https://hooks:hunter2@shop.example/wh")
    );
}
