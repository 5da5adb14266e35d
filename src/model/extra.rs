//! [`Extra`]: the fields of an API object this crate does not model.

use std::fmt;
use std::ops::Index;
use std::sync::OnceLock;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// The fields of an API object that this crate does not model, exactly as
/// the server sent them.
///
/// Each value is kept as its raw JSON text and read into a
/// [`serde_json::Value`] the first time it is asked for, so the many fields
/// nobody looks at cost no parsing. Reads like a JSON object:
///
/// ```
/// use smart_router_webhooks::Transaction;
///
/// let transaction: Transaction = serde_json::from_str(
///     r#"{"id":"tr_1","status":"completed","amount_local":"11.1","card":{"brand":"visa"}}"#,
/// )?;
/// assert_eq!(transaction.extra["amount_local"], "11.1");
/// assert_eq!(transaction.extra["card"]["brand"], "visa");
/// assert!(transaction.extra.get("nothing").is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Extra {
    fields: Vec<Field>,
}

#[derive(Clone)]
struct Field {
    key: Box<str>,
    raw: Box<RawValue>,
    value: OnceLock<Value>,
}

impl Field {
    fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_str(self.raw.get()).unwrap_or(Value::Null))
    }
}

static NULL: Value = Value::Null;

impl Extra {
    /// An empty set of fields.
    pub fn new() -> Self {
        Extra::default()
    }

    /// The value of field `key`, if the server sent it. When the server sent
    /// a key twice, the last one counts.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.field(key).map(Field::value)
    }

    /// The raw JSON text of field `key`, as sent.
    pub fn get_raw(&self, key: &str) -> Option<&RawValue> {
        self.field(key).map(|f| &*f.raw)
    }

    fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().rev().find(|f| &*f.key == key)
    }

    /// Whether the server sent field `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.field(key).is_some()
    }

    /// Sets field `key` to `value`.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key: Box<str> = key.into().into_boxed_str();
        self.fields.retain(|f| f.key != key);
        let raw =
            serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned());
        self.fields.push(Field {
            key,
            raw,
            value: OnceLock::from(value),
        });
    }

    /// Keeps a field read from the server.
    pub(crate) fn push_raw(&mut self, key: String, raw: Box<RawValue>) {
        self.fields.push(Field {
            key: key.into_boxed_str(),
            raw,
            value: OnceLock::new(),
        });
    }

    /// The fields, in the order the server sent them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|f| (&*f.key, f.value()))
    }

    /// The field names, in the order the server sent them.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| &*f.key)
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields as a JSON object.
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

/// `extra["key"]` reads like `serde_json::Value`'s index: `Null` when the
/// field is absent.
impl Index<&str> for Extra {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// Two sets of fields are equal when they read as the same JSON object: the
/// same keys, each with the same value (for a repeated key, the last one
/// sent), in any order.
impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        let within = |a: &Extra, b: &Extra| a.keys().all(|k| a.get(k) == b.get(k));
        within(self, other) && within(other, self)
    }
}

/// Shows the field names only: an unmodelled field may hold a secret (an
/// invoice's `webhook_url` with its credentials, say), and `Debug` output
/// ends up in logs.
impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Extra")
            .field(
                &self
                    .fields
                    .iter()
                    .map(|field| &*field.key)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        serialize_fields(self, &mut map)?;
        map.end()
    }
}

/// Writes each field into an open map.
pub(crate) fn serialize_fields<M: SerializeMap>(
    extra: &Extra,
    map: &mut M,
) -> Result<(), M::Error> {
    for field in &extra.fields {
        map.serialize_entry(&*field.key, &field.raw)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lazily_and_answers_like_a_json_object() {
        let mut extra = Extra::new();
        extra.push_raw(
            "a".into(),
            RawValue::from_string("{\"b\": [1, 2]}".into()).unwrap(),
        );
        extra.push_raw(
            "a".into(),
            RawValue::from_string("{\"b\": [3]}".into()).unwrap(),
        );
        assert_eq!(extra["a"]["b"][0], 3, "the last of a repeated key counts");
        assert_eq!(extra["missing"], Value::Null);
        assert_eq!(extra.get_raw("a").unwrap().get(), "{\"b\": [3]}");
        extra.insert("a", serde_json::json!(1));
        assert_eq!(extra.len(), 1);
        assert_eq!(extra["a"], 1);
        assert_eq!(serde_json::to_string(&extra).unwrap(), "{\"a\":1}");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut extra = Extra::new();
        extra.insert(
            "webhook_url",
            serde_json::json!("https://hooks:hunter2@shop.example/wh"),
        );
        let shown = format!("{extra:?}");
        assert_eq!(shown, "Extra([\"webhook_url\"])");
    }
}
