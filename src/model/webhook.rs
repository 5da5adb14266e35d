//! [`WebhookDelivery`]: one delivery attempt of an event, as the API
//! records it.

use std::fmt;

use serde_json::value::RawValue;

use super::object::api_object;
use super::open_enum::open_enum;
use super::timestamp::Timestamp;
use super::tolerant::{Json, Parsed, Scalar, tolerant_object, tolerant_scalar};
use crate::error::redact_url;

open_enum! {
    /// Whether a delivery attempt reached the webhook URL, as the API
    /// records it ("Either delivered or failed", the SDKs' field doc).
    pub enum WebhookStatus {
        /// The endpoint answered with a success.
        Delivered => "delivered",
        /// The attempt failed; the API delivers again later
        /// ([`release_at`](WebhookDelivery::release_at)).
        Failed => "failed",
    }
}

api_object! {
    /// One delivery attempt of an event to a webhook URL, as the API
    /// records it (`GET /events/{id}/webhooks`, or an event's `webhooks`).
    ///
    /// The fields are those the vendor's SDKs give the `Webhook` object
    /// (Go, Python, Node, PHP, Ruby); the SDKs type `response_code` as a
    /// string, so it is read from a number or a numeric string, and `""` is
    /// none. As everywhere, a value of another type is kept in
    /// [`extra`](WebhookDelivery::extra) and listed in
    /// [`warnings`](WebhookDelivery::warnings).
    ///
    /// `Debug` hides the password and the query of `request_url` (a webhook
    /// URL may carry credentials in either), the response's body and headers, and the
    /// values of the extra fields.
    #[derive(Default)]
    pub struct WebhookDelivery ("a webhook delivery object") {
        required {}
        optional {
            /// The record's ID.
            id: Option<String>,
            /// The project.
            project_id: Option<String>,
            /// The event delivered.
            event_id: Option<String>,
            /// The URL the event was sent to.
            request_url: Option<String>,
            /// The method used (`POST`).
            request_method: Option<String>,
            /// The body the endpoint answered with.
            response_body: Option<String>,
            /// The status code the endpoint answered with, if it answered.
            response_code: Option<u16>,
            /// The headers the endpoint answered with, as one text.
            response_headers: Option<String>,
            /// How long the endpoint took to answer, in milliseconds.
            response_time_ms: Option<u64>,
            /// Whether the attempt was delivered or failed.
            status: Option<WebhookStatus>,
            /// When the attempt was made.
            created_at: Option<Timestamp>,
            /// When the delivery is (or was) released for its next attempt.
            release_at: Option<Timestamp>,
        }
    }
}

tolerant_object!(default WebhookDelivery);

/// An HTTP status code, from a number or a numeric string; `""` is none.
impl Scalar for u16 {
    const EXPECTED: &'static str = "an HTTP status code";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        let text = match &json {
            Json::Number(n) => *n,
            Json::Str(s) if s.trim().is_empty() => return Parsed::Absent,
            Json::Str(s) => s.trim(),
            Json::Null => return Parsed::Absent,
            _ => return Parsed::Mismatch,
        };
        text.parse::<u16>()
            .ok()
            .filter(|code| (100..=999).contains(code))
            .map_or(Parsed::Mismatch, Parsed::Value)
    }
}

tolerant_scalar!(u16);

impl WebhookDelivery {
    /// A record with every field empty: for tests.
    pub fn new() -> Self {
        WebhookDelivery::with_required()
    }

    /// Whether the attempt reached the endpoint: its `status` says
    /// `delivered`, or, without a status, the endpoint answered 2xx.
    pub fn is_delivered(&self) -> bool {
        match &self.status {
            Some(status) if !status.is_unknown() => *status == WebhookStatus::Delivered,
            _ => self
                .response_code
                .is_some_and(|code| (200..300).contains(&code)),
        }
    }
}

impl fmt::Debug for WebhookDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let length = |text: &Option<String>| text.as_ref().map(|t| format!("[{} bytes]", t.len()));
        f.debug_struct("WebhookDelivery")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("request_url", &self.request_url.as_deref().map(redact_url))
            .field("request_method", &self.request_method)
            .field("response_code", &self.response_code)
            .field("response_body", &length(&self.response_body))
            .field("response_headers", &length(&self.response_headers))
            .field("response_time_ms", &self.response_time_ms)
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("release_at", &self.release_at)
            .field("extra", &self.extra)
            .field("warnings", &self.warnings)
            .finish()
    }
}
