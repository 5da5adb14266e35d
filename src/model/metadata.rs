//! [`Metadata`]: the key-value pairs a merchant or gateway attaches.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::extra::Extra;
use super::tolerant::{Json, Parsed, Scalar, tolerant_scalar};

/// The `metadata` of a transaction or an operation.
///
/// The API documents metadata as strings; the values that are strings are
/// typed (and the map reads as a `BTreeMap<String, String>`), any other
/// value (a number, a boolean, `null`, a nested object) is kept raw in
/// [`other`](Metadata::other).
///
/// ```
/// use smart_router_webhooks::Transaction;
///
/// let t: Transaction = serde_json::from_str(
///     r#"{"id":"tr_1","status":"completed","metadata":{"fruit":"banana","count":3,"tags":{"a":1}}}"#,
/// )?;
/// assert_eq!(t.metadata["fruit"], "banana");
/// assert_eq!(t.metadata.len(), 1);
/// assert_eq!(t.metadata.other()["count"], 3);
/// assert_eq!(t.metadata.other()["tags"]["a"], 1);
/// assert!(t.warnings.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Metadata {
    strings: BTreeMap<String, String>,
    other: Extra,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Sets `key` to the string `value`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.strings.insert(key.into(), value.into());
    }

    /// The values that are not strings, as sent.
    pub fn other(&self) -> &Extra {
        &self.other
    }

    /// The string values.
    pub fn strings(&self) -> &BTreeMap<String, String> {
        &self.strings
    }
}

/// Reads as the map of string values.
impl Deref for Metadata {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.strings
    }
}

/// Shows the keys only: metadata may hold customer data.
impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("strings", &self.strings.keys().collect::<Vec<_>>())
            .field("other", &self.other)
            .finish()
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in &self.strings {
            map.serialize_entry(key, value)?;
        }
        super::extra::serialize_fields(&self.other, &mut map)?;
        map.end()
    }
}

impl Scalar for Metadata {
    const EXPECTED: &'static str = "an object of metadata";
    fn parse(json: Json<'_>, raw: &RawValue) -> Parsed<Self> {
        match json {
            Json::Null => Parsed::Absent,
            Json::Other if raw.get().trim_start().starts_with('{') => {
                let Ok(fields) = entries(raw.get()) else {
                    return Parsed::Mismatch;
                };
                let mut metadata = Metadata::default();
                for (key, value) in fields {
                    match Json::of(&value) {
                        Json::Str(s) => {
                            metadata.strings.insert(key, s.into_owned());
                        }
                        _ => metadata.other.push_raw(key, value),
                    }
                }
                Parsed::Value(metadata)
            }
            _ => Parsed::Mismatch,
        }
    }
    fn absent() -> Option<Self> {
        Some(Metadata::default())
    }
}

/// The entries of a JSON object, values raw, in order.
fn entries(object: &str) -> serde_json::Result<Vec<(String, Box<RawValue>)>> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<(String, Box<RawValue>)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_str(object), Entries)
}

tolerant_scalar!(Metadata);

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match <Metadata as Scalar>::parse(Json::of(&raw), &raw) {
            Parsed::Value(metadata) => Ok(metadata),
            Parsed::Absent => Ok(Metadata::default()),
            Parsed::Mismatch => Err(serde::de::Error::custom("metadata must be an object")),
        }
    }
}
