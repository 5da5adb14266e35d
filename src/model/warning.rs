//! [`ModelWarning`]: a field the API sent whose value does not fit its type.

use std::fmt;

use serde_json::value::RawValue;

/// A field whose value did not fit the type this crate gives it.
///
/// Such a field never fails the object it is in: it is absent from the
/// typed view (`None`, empty, or the object without it), its value stays
/// reachable here as raw JSON (and, for a field of an object, in that
/// object's `extra`), and the warning says where it was and what was
/// expected. An event whose body is JSON with an `id` and a `name` thus
/// always reaches the handlers, however odd its other fields.
///
/// A date that reads as text but not as an instant is kept typed (its text
/// is there, its [`unix_nanos`](crate::Timestamp::unix_nanos) is `None`)
/// and is listed here too, so that it is flagged.
///
/// `Display` and `Debug` show the path, what was expected and the kind of
/// value found, never the value itself: it may hold a secret.
///
/// ```
/// use smart_router_webhooks::Event;
///
/// let event = Event::from_slice(br#"{
///     "id": "ev_1", "name": "transaction.captured",
///     "data": {"transaction": {"id": "tr_1", "status": "completed", "amount": {"v": 1}}}
/// }"#)?;
/// let transaction = event.transaction().unwrap();
/// assert!(transaction.amount.is_none());
/// assert_eq!(transaction.extra["amount"]["v"], 1);
/// let warning = &event.warnings()[0];
/// assert_eq!(warning.path(), "data.transaction.amount");
/// assert_eq!(warning.raw().get(), r#"{"v": 1}"#);
/// assert_eq!(warning.to_string(), "`data.transaction.amount`: expected an amount, found an object");
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct ModelWarning {
    path: String,
    expected: &'static str,
    raw: Box<RawValue>,
}

impl ModelWarning {
    /// A warning for the value `raw` of the field at `path`, which should
    /// have been `expected`.
    pub(crate) fn new(path: impl Into<String>, expected: &'static str, raw: Box<RawValue>) -> Self {
        ModelWarning {
            path: path.into(),
            expected,
            raw,
        }
    }

    /// The same warning for a value found under `key` of an object
    /// (`"transaction"`) or at an index of a list (`"[2]"`).
    pub(crate) fn under(mut self, key: &str) -> Self {
        self.path = if self.path.is_empty() {
            key.to_owned()
        } else if self.path.starts_with('[') {
            format!("{key}{}", self.path)
        } else {
            format!("{key}.{}", self.path)
        };
        self
    }

    /// Where the field is, from the object the warning is listed on:
    /// `data.transaction.amount`, `data.transaction.operations[1].type`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the crate expected there (`"an amount"`, `"a date"`, …).
    pub fn expected(&self) -> &str {
        self.expected
    }

    /// The value as the API sent it.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    /// The kind of JSON value found: `"null"`, `"a boolean"`, `"a
    /// number"`, `"a string"`, `"an array"` or `"an object"`.
    pub fn found(&self) -> &'static str {
        match self.raw.get().trim_start().as_bytes().first() {
            Some(b'n') => "null",
            Some(b't' | b'f') => "a boolean",
            Some(b'"') => "a string",
            Some(b'[') => "an array",
            Some(b'{') => "an object",
            _ => "a number",
        }
    }
}

impl PartialEq for ModelWarning {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.expected == other.expected
            && self.raw.get() == other.raw.get()
    }
}

impl fmt::Display for ModelWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: expected {}, found {}",
            self.path,
            self.expected,
            self.found()
        )
    }
}

impl fmt::Debug for ModelWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelWarning")
            .field("path", &self.path)
            .field("expected", &self.expected)
            .field("found", &self.found())
            .finish()
    }
}
