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

#[test]
fn debug_output_hides_the_query_of_a_webhook_request_url() {
    // A webhook URL may carry its secret in the query (`?pass=`), not only
    // as a basic-auth password.
    let event = Event::from_slice(
        br#"{"id":"ev_1","name":"transaction.captured",
            "webhooks":[{"request_url":"https://shop.example/wh?pass=hunter2#frag"}]}"#,
    )
    .unwrap();
    let shown = format!("{event:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("frag"), "{shown}");
    assert!(
        shown.contains("https://shop.example/wh?redacted"),
        "{shown}"
    );
}

// Tolerant reading. Each case is one the vendor's sources allow and that
// failed the whole event before.

/// An event around `transaction`.
fn event_with(transaction: serde_json::Value) -> Event {
    let json = serde_json::json!({
        "id": "ev_1", "name": "transaction.captured", "fired_at": "2023-04-22T15:48:57Z",
        "data": {"transaction": transaction},
    });
    Event::from_slice(json.to_string().as_bytes()).unwrap()
}

fn paths(event: &Event) -> Vec<&str> {
    event.warnings().iter().map(|w| w.path()).collect()
}

#[test]
fn metadata_keeps_strings_typed_and_other_values_raw() {
    // The SDKs type metadata as string → string (processout-go,
    // transaction.go: `Metadata *map[string]string`); the API stores what
    // merchants send, so other values must not cost the event.
    let event = event_with(serde_json::json!({
        "id": "tr_1", "status": "completed",
        "metadata": {"order": "A-1", "count": 3, "paid": true, "none": null, "nested": {"a": [1]}},
    }));
    let t = event.transaction().unwrap();
    assert_eq!(t.metadata["order"], "A-1");
    assert_eq!(t.metadata.len(), 1);
    let other = t.metadata.other();
    assert_eq!(
        (other["count"].clone(), other["paid"].clone()),
        (3.into(), true.into())
    );
    assert!(other.contains_key("none"));
    assert_eq!(other["nested"]["a"][0], 1);
    assert!(event.warnings().is_empty(), "{:?}", event.warnings());

    // Metadata that is not an object at all is kept raw, with a warning.
    let event =
        event_with(serde_json::json!({"id": "tr_1", "status": "completed", "metadata": "x"}));
    assert!(event.transaction().unwrap().metadata.is_empty());
    assert_eq!(event.transaction().unwrap().extra["metadata"], "x");
    assert_eq!(paths(&event), ["data.transaction.metadata"]);
}

#[test]
fn dates_in_every_documented_form_are_read_and_compare() {
    // The 2021 API reference describes dates as "RFC1123 date or
    // timestamp"; the SDKs read RFC 3339 (processout-go, event.go:
    // `FiredAt *time.Time`).
    let forms = [
        serde_json::json!("2023-04-22T15:48:57Z"),
        serde_json::json!("Sat, 22 Apr 2023 15:48:57 GMT"),
        serde_json::json!("1682178537"),
        serde_json::json!(1682178537),
        serde_json::json!(1682178537.0),
    ];
    for form in forms {
        let json = serde_json::json!({"id": "ev_1", "name": "transaction.captured",
            "fired_at": form, "data": {"transaction": {"id": "tr_1", "created_at": form}}});
        let event = Event::from_slice(json.to_string().as_bytes()).unwrap();
        let fired_at = event.fired_at.as_ref().unwrap();
        assert_eq!(
            fired_at.unix_nanos(),
            Some(1_682_178_537_000_000_000),
            "{form}"
        );
        let created_at = event.transaction().unwrap().created_at.as_ref().unwrap();
        assert_eq!(created_at.unix_nanos(), fired_at.unix_nanos());
        assert!(event.warnings().is_empty(), "{form}");
    }
    // A date that reads as no instant is kept, and flagged.
    let json = br#"{"id":"ev_1","name":"transaction.captured","fired_at":"last tuesday"}"#;
    let event = Event::from_slice(json).unwrap();
    assert_eq!(event.fired_at.as_ref().unwrap().as_str(), "last tuesday");
    assert_eq!(paths(&event), ["fired_at"]);
    assert_eq!(event.warnings()[0].expected(), "a date");
}

#[test]
fn amounts_as_numbers_exponents_or_empty_strings() {
    // The SDKs type amounts as strings (processout-go, transaction.go:
    // `Amount *string`); a JSON number is read from its text.
    let event = event_with(serde_json::json!({
        "id": "tr_1", "status": "completed",
        "amount": 10.10, "captured_amount": "1.01e1", "refunded_amount": "",
        "available_amount": 12345678901234567890.123456789_f64,
    }));
    let t = event.transaction().unwrap();
    assert_eq!(t.amount, amount("10.1"));
    assert_eq!(t.captured_amount, amount("10.10"));
    assert_eq!(t.captured_amount.as_ref().unwrap().as_str(), "1.01e1");
    assert_eq!(t.refunded_amount, None);
    assert!(event.warnings().is_empty());
    // The exact text of a number is kept, never through f64.
    let json = br#"{"id":"ev_1","name":"transaction.captured","data":{"transaction":
        {"id":"tr_1","amount":0.10000000000000000001}}}"#;
    let event = Event::from_slice(json).unwrap();
    let amount = event.transaction().unwrap().amount.clone().unwrap();
    assert_eq!(amount.as_str(), "0.10000000000000000001");
}

#[test]
fn a_transaction_without_a_status_reaches_its_handlers_and_moves_nothing() {
    // processout-go, transaction.go: `Status *string` (optional).
    use smart_router_webhooks::{
        ApiClient, EventContext, EventId, HandlerError, Receiver, Tracking,
    };
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Tracking>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .no_runtime()
        .fetcher(
            ApiClient::builder("test-proj_model", "key_sandbox_model")
                .build()
                .unwrap(),
        )
        .on_every_event("every", move |ctx: EventContext| {
            sink.lock().unwrap().push(ctx.tracking().clone());
            async { Ok::<_, HandlerError>(()) }
        })
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (n, status) in [
        Some(serde_json::Value::Null),
        None,
        Some(serde_json::json!(["x"])),
    ]
    .into_iter()
    .enumerate()
    {
        let mut transaction = serde_json::json!({"id": "tr_nostatus"});
        if let Some(status) = status {
            transaction["status"] = status;
        }
        let mut event = event_with(transaction);
        event.id = EventId::parse(&format!("ev_{n}")).unwrap();
        let t = event.transaction().unwrap();
        assert_eq!((t.id.as_str(), &t.status), ("tr_nostatus", &None));
        runtime.block_on(receiver.process_event(event));
        let tracking = seen.lock().unwrap().pop().expect("the handler ran");
        assert!(tracking.no_status);
        assert_eq!(tracking.transition, None);
        assert!(!tracking.stale);
    }
    // Nothing was recorded: the first status seen is a first sighting.
    let mut event = event_with(serde_json::json!({"id": "tr_nostatus", "status": "completed"}));
    event.id = EventId::parse("ev_status").unwrap();
    runtime.block_on(receiver.process_event(event));
    let tracking = seen.lock().unwrap().pop().expect("the handler ran");
    assert_eq!(tracking.transition.map(|t| t.from), Some(None));
}

#[test]
fn an_empty_id_is_no_id() {
    // The vendor sends "" for empty ID fields (`gateway_operation_id`,
    // `initial_scheme_transaction_id` in its own examples, in
    // tests/fixtures/event-transaction-failed.json).
    let event = event_with(serde_json::json!({
        "id": "tr_1", "status": "completed",
        "operations": [{"id": "tr_op_1", "transaction_id": "", "type": "capture"}],
    }));
    let op = &event.transaction().unwrap().operations[0];
    assert_eq!(op.transaction_id, None);
    assert_eq!(op.kind, Some(OperationType::Capture));
    assert!(event.warnings().is_empty());
    // An ID that is not one is kept raw, with a warning.
    let event = event_with(serde_json::json!({"id": "tr_1",
        "operations": [{"transaction_id": "tr/../1"}, 7]}));
    let t = event.transaction().unwrap();
    assert_eq!(t.operations.len(), 1);
    assert_eq!(t.operations[0].extra["transaction_id"], "tr/../1");
    assert_eq!(
        paths(&event),
        [
            "data.transaction.operations[0].transaction_id",
            "data.transaction.operations[1]"
        ]
    );
}

#[test]
fn the_increment_operation_has_its_own_type() {
    // The vendor's incremental authorization example names the operation
    // `increment_authorization` (the SDKs call
    // `/invoices/{id}/increment_authorization`, processout-go invoice.go).
    let event = event_with(serde_json::json!({"id": "tr_1", "status": "authorized",
        "operations": [{"type": "increment_authorization", "amount": "5.00"}]}));
    let op = &event.transaction().unwrap().operations[0];
    assert_eq!(op.kind, Some(OperationType::IncrementAuthorization));
    assert_eq!(
        op.kind.as_ref().unwrap().as_str(),
        "increment_authorization"
    );
}

#[test]
fn webhook_delivery_records_are_typed_as_the_sdks_type_them() {
    // Field list of the `Webhook` object: processout-go webhook.go,
    // processout-node src/webhook.ts, processout-python
    // processout/webhook.py, processout-php src/Webhook.php,
    // processout-ruby lib/processout/webhook.rb. `response_code` is a
    // string there; `status` is "Either delivered or failed".
    use smart_router_webhooks::api::WebhookDelivery;
    let records: Vec<WebhookDelivery> = serde_json::from_str(
        r#"[
          {"id":"wh_1","project_id":"proj_1","event_id":"ev_1","request_url":"https://shop.example/wh",
           "request_method":"POST","response_body":"ok","response_code":"200",
           "response_headers":"Content-Type: text/plain","response_time_ms":35,"status":"delivered",
           "created_at":"2023-04-22T15:48:58Z","release_at":"2023-04-22T15:48:58Z"},
          {"id":"wh_2","response_code":"","status":"failed","release_at":"2023-04-22T16:48:58Z"},
          {"id":"wh_3","response_code":503,"response_time_ms":"1200"},
          {"id":"wh_4","response_code":"timeout","status":7}
        ]"#,
    )
    .unwrap();
    let r = &records[0];
    assert_eq!(r.response_code, Some(200));
    assert_eq!(r.response_body.as_deref(), Some("ok"));
    assert_eq!(
        r.response_headers.as_deref(),
        Some("Content-Type: text/plain")
    );
    assert_eq!(r.status.as_ref().map(|s| s.as_str()), Some("delivered"));
    assert!(r.is_delivered());
    assert_eq!(
        r.release_at.as_ref().unwrap().as_str(),
        "2023-04-22T15:48:58Z"
    );
    assert_eq!(
        (records[1].response_code, records[1].is_delivered()),
        (None, false)
    );
    assert!(records[1].release_at.is_some());
    assert_eq!(records[2].response_code, Some(503));
    assert_eq!(records[2].response_time_ms, Some(1200));
    assert_eq!(records[3].response_code, None);
    assert_eq!(records[3].extra["response_code"], "timeout");
    assert_eq!(records[3].warnings.len(), 2);
}

#[test]
fn events_about_other_resources_read_into_your_own_types() {
    // The SDKs type an event's `data` as any object (processout-go,
    // event.go: `Data interface{}`), keyed by its resource.
    #[derive(Deserialize, Debug, PartialEq)]
    struct Resource {
        id: String,
    }
    for (name, key, id) in [
        ("invoice.completed", "invoice", "iv_1"),
        ("customer.created", "customer", "cust_1"),
        ("customer.token.created", "token", "tok_1"),
        ("subscription.started", "subscription", "sub_1"),
        ("payout.created", "payout", "po_1"),
        ("refund.created", "refund", "re_1"),
        ("transaction.captured", "transaction", "tr_1"),
    ] {
        let json = serde_json::json!({"id": "ev_1", "name": name,
            "data": {key: {"id": id, "status": "completed", "odd": [1, {"x": null}]}}});
        let event = Event::from_slice(json.to_string().as_bytes()).unwrap();
        let resource: Resource = event.resource().unwrap();
        assert_eq!(resource.id, id, "{name}");
        let raw: serde_json::Value = event.resource().unwrap();
        assert_eq!(raw["odd"][1], serde_json::json!({"x": null}), "{name}");
    }
    let event = Event::from_slice(br#"{"id":"ev_1","name":"invoice.completed"}"#).unwrap();
    let missing = event.resource::<Resource>().unwrap_err();
    assert_eq!(
        missing.kind(),
        smart_router_webhooks::ErrorKind::InvalidPayload
    );
}

#[test]
fn a_value_of_the_wrong_type_is_kept_raw_and_warned_about_at_any_depth() {
    let json = br#"{"id":"ev_1","name":"transaction.captured","sandbox":"yes","project_id":5,
        "webhooks":{"not":"a list"},
        "data":{"transaction":{"id":"tr_1","status":"completed","captured":"true",
            "operations":[{"id":"tr_op_1","has_failed":1,"created_at":{}}]}}}"#;
    let event = Event::from_slice(json).unwrap();
    assert_eq!(
        paths(&event),
        [
            "sandbox",
            "project_id",
            "webhooks",
            "data.transaction.captured",
            "data.transaction.operations[0].has_failed",
            "data.transaction.operations[0].created_at",
        ]
    );
    assert_eq!(event.extra["sandbox"], "yes");
    assert_eq!(event.warnings()[1].raw().get(), "5");
    let t = event.transaction().unwrap();
    assert!(!t.captured);
    assert_eq!(t.extra["captured"], "true");
    assert_eq!(t.operations[0].extra["created_at"], serde_json::json!({}));
    // Written back, the odd values are there as sent.
    let back = serde_json::to_value(&event).unwrap();
    assert_eq!(back["data"]["transaction"]["captured"], "true");
    assert_eq!(back["webhooks"]["not"], "a list");
    // Warnings never show the values.
    let shown = format!("{:?} {}", event.warnings(), event.warnings()[0]);
    assert!(!shown.contains("yes"), "{shown}");
}

/// A number beyond the range of `f64` is valid JSON: where an object or a
/// list is expected, it is a value of the wrong type like any other, kept
/// exactly as sent and warned about, never a reason to fail the event.
#[test]
fn a_number_beyond_f64_where_an_object_or_a_list_is_expected_is_a_mismatch() {
    let cases: [(&str, &[&str]); 6] = [
        (r#""webhooks":1e400"#, &["webhooks"]),
        (r#""data":-1E+999"#, &["data"]),
        (r#""data":{"transaction":1e400}"#, &["data.transaction"]),
        (
            r#""data":{"transaction":{"id":"tr_1","status":"completed","operations":[1e400,{"id":"tr_op_1","amount":2e308}]}}"#,
            &[
                "data.transaction.operations[0]",
                "data.transaction.operations[1].amount",
            ],
        ),
        (
            r#""data":{"transaction":{"id":"tr_1","status":"completed","card":{"exp":1e400},"metadata":{"k":9e999}}}"#,
            // Unmodelled fields and metadata values that are not text are
            // kept as sent, without a warning.
            &[],
        ),
        (
            r#""data":{"transaction":{"id":"tr_1","status":"completed","operations":[{"id":"tr_op_1","gateway_data":1e400}]},"invoice":[1e400]}"#,
            &[],
        ),
    ];
    for (fields, expected) in cases {
        let json = format!(r#"{{"id":"ev_1","name":"transaction.captured",{fields}}}"#);
        let event =
            Event::from_slice(json.as_bytes()).unwrap_or_else(|e| panic!("{fields}: {e:?}"));
        assert_eq!(event.id.as_str(), "ev_1");
        assert_eq!(paths(&event), expected, "{fields}");
        // Kept exactly as sent: written back with the event, or (an item
        // of a list of objects, left out of it) in its warning.
        let back = serde_json::to_string(&event).unwrap();
        let warned: Vec<&str> = event.warnings().iter().map(|w| w.raw().get()).collect();
        for number in ["1e400", "-1E+999", "2e308", "9e999"] {
            let kept = back.contains(number) || warned.contains(&number);
            assert_eq!(kept, fields.contains(number), "{number}: {back} {warned:?}");
        }
    }
    // Not JSON at all still fails.
    assert!(
        Event::from_slice(br#"{"id":"ev_1","name":"transaction.captured","data":1e400"#).is_err()
    );
}
