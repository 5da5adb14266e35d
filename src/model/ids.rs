//! Identifiers of Smart Router objects.
//!
//! An identifier ends up in the path of an API request
//! (`GET /events/{id}`), so it is validated when it is made: 1 to
//! 128 bytes, each one of `[A-Za-z0-9_-]`. Nothing else, no
//! `.`, `/`, `%`, `?`, NUL or non-ASCII letter, can ever reach a URL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind};

/// The longest identifier accepted, in bytes.
const MAX_ID_LEN: usize = 128;

/// Checks `s` against the identifier rules; `what` names the ID in errors.
fn validate(what: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::new(ErrorKind::InvalidId, format!("{what} is empty")));
    }
    if s.len() > MAX_ID_LEN {
        return Err(Error::new(
            ErrorKind::InvalidId,
            format!(
                "{what} is {} bytes long, over the {MAX_ID_LEN} allowed",
                s.len()
            ),
        ));
    }
    if let Some(pos) = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(Error::new(
            ErrorKind::InvalidId,
            format!("{what} has a character outside [A-Za-z0-9_-] at byte {pos}"),
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal, $example:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Box<str>);

        impl $name {
            #[doc = concat!("Validates `s` as ", $what, ".")]
            ///
            /// # Errors
            ///
            /// [`ErrorKind::InvalidId`] when `s` is empty, longer than
            /// 128 bytes, or has a character outside
            /// `[A-Za-z0-9_-]`.
            ///
            /// ```
            #[doc = concat!("use smart_router_webhooks::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::parse(\"", $example, "\")?;")]
            #[doc = concat!("assert_eq!(id.as_str(), \"", $example, "\");")]
            #[doc = concat!("assert!(", stringify!($name), "::parse(\"../x\").is_err());")]
            /// # Ok::<(), smart_router_webhooks::Error>(())
            /// ```
            pub fn parse(s: &str) -> Result<Self, Error> {
                validate($what, s)?;
                Ok($name(s.into()))
            }

            /// The identifier as text, safe to put in a URL path segment.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&&*self.0).finish()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                validate($what, &s)?;
                Ok($name(s.into_boxed_str()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = crate::model::object::Text::deserialize(deserializer)?.0;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        /// `""` is no ID (the API sends it for empty ID fields).
        impl $crate::model::tolerant::Scalar for $name {
            const EXPECTED: &'static str = concat!("a valid ", $what);
            fn parse(
                json: $crate::model::tolerant::Json<'_>,
                _: &serde_json::value::RawValue,
            ) -> $crate::model::tolerant::Parsed<Self> {
                $crate::model::tolerant::from_text(json, true, |s| Self::parse(s).ok())
            }
        }

        $crate::model::tolerant::tolerant_scalar!($name);
    };
}

id_type!(
    /// The ID of an event (`ev_…`), as sent in a webhook delivery.
    EventId,
    "event ID",
    "ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C"
);

id_type!(
    /// The ID of a transaction (`tr_…`).
    TransactionId,
    "transaction ID",
    "tr_NcIZWFdUQhfOQdfefQov14vN77tRa2Yn"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_ids() {
        for s in ["ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C", "ev-1", "A_b-9"] {
            assert_eq!(EventId::parse(s).unwrap().as_str(), s);
        }
        let longest = "a".repeat(MAX_ID_LEN);
        assert_eq!(EventId::parse(&longest).unwrap().as_str(), longest);
    }

    #[test]
    fn refuses_anything_that_could_escape_a_path_segment() {
        let too_long = "a".repeat(MAX_ID_LEN + 1);
        let refused = [
            "",
            "../transactions/tr_1",
            "ev_%2e%2e",
            "ev_1/x",
            "ev_1?x=1",
            "ev_1#frag",
            "ev_\0",
            "ev_é",
            "ev_１", // full-width digit
            "ev 1",
            "ev.1",
            "ev_1\n",
            too_long.as_str(),
        ];
        for s in refused {
            let err = EventId::parse(s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidId, "{s:?}");
            let err = TransactionId::parse(s).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidId, "{s:?}");
        }
    }

    #[test]
    fn errors_do_not_echo_the_input() {
        let err = EventId::parse("ev_<script>").unwrap_err();
        assert!(!err.to_string().contains("<script>"), "{err}");
    }

    #[test]
    fn serde_validates() {
        let id: EventId = serde_json::from_str("\"ev_1\"").unwrap();
        assert_eq!(id.as_str(), "ev_1");
        assert!(serde_json::from_str::<EventId>("\"ev/1\"").is_err());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"ev_1\"");
    }
}
