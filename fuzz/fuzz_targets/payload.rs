//! `WebhookPayload::parse` on arbitrary bytes: never panics, and what it
//! accepts is an object whose `event_id` is a valid ID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smart_router_webhooks::{EventId, WebhookPayload};

fuzz_target!(|body: &[u8]| {
    let Ok(payload) = WebhookPayload::parse(body) else {
        return;
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    assert_eq!(first, Some(&b'{'), "accepted a body that is not an object");
    let id = payload.event_id.as_str();
    assert!(!id.is_empty() && id.len() <= 128, "{id:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "{id:?}"
    );
    // The ID goes back through the parser unchanged.
    assert_eq!(EventId::parse(id).ok().as_ref(), Some(&payload.event_id));
    let json = serde_json::json!({
        "event_id": id,
        "event_type": payload.event_type.as_ref().map(|t| t.as_str()),
    });
    let again = WebhookPayload::parse(json.to_string().as_bytes()).expect("re-parse");
    assert_eq!(again, payload);
});
