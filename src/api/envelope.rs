//! The API's answer envelope: `{"success":…, "<key>":…, "has_more":…}` or
//! `{"success":false, "error_type":…, "message":…}`.
//!
//! Read in one pass: the object under the expected key straight into its
//! type, every other field skipped without being kept. The envelope's own
//! fields are read tolerantly: one of an unexpected type counts as absent,
//! so an odd `has_more` never costs the page it comes with.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::model::object::Text;
use crate::model::tolerant::{self, Read, Tolerant, read_document};

/// One answer of the API, with the object under `key` typed as `T`.
#[derive(Debug)]
pub(crate) struct Envelope<T> {
    pub(crate) success: Option<bool>,
    pub(crate) error_type: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) has_more: Option<bool>,
    pub(crate) data: Option<T>,
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Reads an answer whose object is under `key`, as [`read_document`]
    /// reads.
    pub(crate) fn parse(body: &[u8], key: &'static str) -> serde_json::Result<Self> {
        read_document(|| {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            let envelope = EnvelopeSeed {
                key,
                marker: PhantomData,
            }
            .deserialize(&mut deserializer)?;
            deserializer.end()?;
            Ok(envelope)
        })
    }
}

impl Envelope<IgnoredAny> {
    /// Reads only the error fields of an answer.
    pub(crate) fn parse_error(body: &[u8]) -> serde_json::Result<Self> {
        Envelope::parse(body, "")
    }
}

struct EnvelopeSeed<T> {
    key: &'static str,
    marker: PhantomData<fn() -> T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for EnvelopeSeed<T> {
    type Value = Envelope<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Envelope<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for EnvelopeSeed<T> {
    type Value = Envelope<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an API answer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<T>, A::Error> {
        let mut envelope = Envelope {
            success: None,
            error_type: None,
            message: None,
            has_more: None,
            data: None,
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key.0 {
                "success" => envelope.success = lenient(&mut map)?,
                "error_type" => envelope.error_type = lenient(&mut map)?,
                "message" => envelope.message = lenient(&mut map)?,
                "has_more" => envelope.has_more = lenient(&mut map)?,
                k if k == self.key => envelope.data = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// The next value of `map`, `None` when it is not of type `T`.
fn lenient<'de, T, A: MapAccess<'de>>(map: &mut A) -> Result<Option<T>, A::Error>
where
    Option<T>: Tolerant,
{
    Ok(match tolerant::next_value::<Option<T>, A>(map)? {
        Read::Typed(value, _) => value,
        Read::Mismatch(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;

    #[test]
    fn reads_the_vendors_event_answer() {
        let body = include_bytes!("../../tests/fixtures/event-transaction-failed.json");
        let envelope = Envelope::<Event>::parse(body, "event").unwrap();
        assert_eq!(envelope.success, Some(true));
        assert_eq!(
            envelope.data.unwrap().id.as_str(),
            "ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C"
        );
    }

    #[test]
    fn reads_the_vendors_error_answers() {
        let body = include_bytes!("../../tests/fixtures/authentication-invalid.json");
        let envelope = Envelope::parse_error(body).unwrap();
        assert_eq!(envelope.success, Some(false));
        assert_eq!(
            envelope.error_type.as_deref(),
            Some("request.authentication.invalid")
        );
        assert!(envelope.message.unwrap().starts_with("Could not read"));
    }

    #[test]
    fn refuses_what_is_not_one_json_object() {
        assert!(Envelope::parse_error(b"<html></html>").is_err());
        assert!(Envelope::parse_error(b"[]").is_err());
        assert!(Envelope::parse_error(br#"{"success":true} {}"#).is_err());
        let odd =
            Envelope::parse_error(br#"{"success":"yes","has_more":[1],"message":7}"#).unwrap();
        assert_eq!((odd.success, odd.has_more, odd.message), (None, None, None));
        let envelope =
            Envelope::<Event>::parse(br#"{"success":true,"event":null}"#, "event").unwrap();
        assert!(envelope.data.is_none());
    }
}
