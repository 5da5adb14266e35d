//! [`WebhookPayload`]: the body Smart Router POSTs to the endpoint.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};
use crate::model::tolerant::Json;
use crate::model::{EventId, EventType};

/// The body of a webhook delivery: `{"event_id":"ev_…","event_type":"…"}`.
///
/// It names an event and nothing more: the receiver fetches the event from
/// the API by its ID and never trusts the body for anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookPayload {
    /// The ID of the event to fetch.
    pub event_id: EventId,
    /// The event type, when the sender includes it (older senders do not).
    /// Only a hint: the fetched event's `name` is authoritative.
    pub event_type: Option<EventType>,
}

/// The fields of a payload before they are checked: their raw JSON,
/// borrowed from the body.
#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(default, borrow)]
    event_id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    event_type: Option<&'a RawValue>,
}

fn invalid(message: &'static str) -> Error {
    Error::new(ErrorKind::InvalidPayload, message)
}

impl WebhookPayload {
    /// Parses a delivery's body.
    ///
    /// Unknown fields are ignored and `event_type` may be missing.
    ///
    /// ```
    /// use smart_router_webhooks::{EventType, WebhookPayload};
    ///
    /// let payload = WebhookPayload::parse(br#"{"event_id":"ev_1","event_type":"transaction.failed"}"#)?;
    /// assert_eq!(payload.event_id.as_str(), "ev_1");
    /// assert_eq!(payload.event_type, Some(EventType::TransactionFailed));
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the body is empty, is not JSON, is
    /// JSON but not an object, has `event_id` twice, has no `event_id` (or a
    /// `null` one), has an `event_id` or `event_type` that is not a string,
    /// or an `event_id` that is not a valid ID (the ID's error is the
    /// source).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            None => return Err(invalid("the body is empty")),
            Some(b'{') => {}
            Some(_) => return Err(invalid("the body is not a JSON object")),
        }
        let raw: RawPayload = serde_json::from_slice(body)
            .map_err(|e| invalid("the body is not a valid JSON object").with_source(e))?;
        let event_id = match raw.event_id.map(Json::of) {
            None | Some(Json::Null) => return Err(invalid("the body has no event_id")),
            Some(Json::Str(id)) if id.is_empty() => {
                return Err(invalid("the body's event_id is empty"));
            }
            Some(Json::Str(id)) => EventId::try_from(id.into_owned()).map_err(|e| {
                invalid("the body's event_id is not a valid event ID").with_source(e)
            })?,
            Some(_) => return Err(invalid("the body's event_id is not a string")),
        };
        let event_type = match raw.event_type.map(Json::of) {
            None | Some(Json::Null) => None,
            Some(Json::Str(name)) => Some(EventType::from(name.into_owned())),
            Some(_) => return Err(invalid("the body's event_type is not a string")),
        };
        Ok(WebhookPayload {
            event_id,
            event_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_current_and_older_bodies() {
        let p = WebhookPayload::parse(br#"{"event_id":"ev_1","event_type":"transaction.failed"}"#)
            .unwrap();
        assert_eq!(p.event_id.as_str(), "ev_1");
        assert_eq!(p.event_type, Some(EventType::TransactionFailed));

        let p = WebhookPayload::parse(br#"  {"event_id":"ev_2"}  "#).unwrap();
        assert_eq!(p.event_id.as_str(), "ev_2");
        assert_eq!(p.event_type, None);

        let p =
            WebhookPayload::parse(br#"{"event_id":"ev_3","event_type":null,"extra":[1,{"a":2}]}"#)
                .unwrap();
        assert_eq!(p.event_type, None);

        let p = WebhookPayload::parse(br#"{"event_type":"brand.new","event_id":"ev_4"}"#).unwrap();
        assert_eq!(
            p.event_type.as_ref().map(EventType::as_str),
            Some("brand.new")
        );
    }

    #[test]
    fn refuses_every_malformed_body() {
        let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let long_id = format!(r#"{{"event_id":"ev_{}"}}"#, "a".repeat(10_000));
        let cases: &[&[u8]] = &[
            b"",
            b"   \n",
            b"not json",
            b"{",
            b"[\"ev_1\"]",
            b"\"ev_1\"",
            b"42",
            b"null",
            b"{}",
            br#"{"event_id":null}"#,
            br#"{"event_id":""}"#,
            br#"{"event_id":42}"#,
            br#"{"event_id":["ev_1"]}"#,
            br#"{"event_id":{"id":"ev_1"}}"#,
            br#"{"event_id":"../transactions/tr_1"}"#,
            br#"{"event_id":"ev_%2e%2e"}"#,
            br#"{"event_id":"ev_1/x"}"#,
            br#"{"event_id":"ev_1?x=1"}"#,
            br#"{"event_id":"ev_\u0000"}"#,
            "{\"event_id\":\"ev_\u{0435}\"}".as_bytes(), // Cyrillic look-alike
            br#"{"event_id":"ev_1","event_id":"ev_2"}"#,
            br#"{"event_id":"ev_1","event_type":7}"#,
            b"{\"event_id\":\"ev_\xff\"}",
            br#"{"event_id":"ev_1"} trailing"#,
            nested.as_bytes(),
            long_id.as_bytes(),
        ];
        for body in cases {
            let err = WebhookPayload::parse(body).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidPayload,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn deeply_nested_json_never_overflows_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // Nesting in an ignored field is skipped without recursion.
        let body = format!(r#"{{"event_id":"ev_1","x":{deep}}}"#);
        assert_eq!(
            WebhookPayload::parse(body.as_bytes())
                .unwrap()
                .event_id
                .as_str(),
            "ev_1"
        );
        // Nesting where a value is read hits serde_json's depth limit.
        let body = format!(r#"{{"event_id":{deep}}}"#);
        let err = WebhookPayload::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidPayload);
    }
}
