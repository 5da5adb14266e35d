//! The crate's error type.
//!
//! Every fallible function of this crate returns [`Error`]. Match on
//! [`Error::kind`] to decide what to do; walk [`std::error::Error::source`]
//! for the cause. No error ever carries a secret: credentials, keys and
//! request bodies are never copied into a message.

use std::borrow::Cow;
use std::fmt;

/// What went wrong, in a form a program can match on.
///
/// New kinds may be added in minor releases, so a `match` needs a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An identifier is empty, too long, or has a character outside
    /// `[A-Za-z0-9_-]`.
    InvalidId,
    /// A decimal amount is not a decimal number.
    InvalidAmount,
    /// A date is none of the forms the API writes (RFC 3339, RFC 2822,
    /// Unix seconds).
    InvalidTimestamp,
    /// The body of a delivery is not a valid webhook payload.
    InvalidPayload,
    /// The receiver refused a delivery's credentials: it carries none,
    /// malformed ones, or wrong ones (answered 401). Not to be confused
    /// with [`FetchErrorKind::ApiCredentialsRefused`](crate::FetchErrorKind::ApiCredentialsRefused),
    /// the API refusing *our* key.
    DeliveryCredentialsRefused,
    /// Credentials given to this crate (a webhook URL, a username with a
    /// colon, an empty password, an API key with a line break…) cannot be
    /// used: a configuration error found before anyone was asked.
    UnusableCredentials,
    /// A builder was given a configuration that cannot work.
    InvalidConfig,
    /// A claim or transaction store could not answer (unreachable, full).
    Store,
}

impl ErrorKind {
    /// A short, stable description of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidId => "invalid identifier",
            ErrorKind::InvalidAmount => "invalid amount",
            ErrorKind::InvalidTimestamp => "invalid timestamp",
            ErrorKind::InvalidPayload => "invalid webhook payload",
            ErrorKind::DeliveryCredentialsRefused => "delivery credentials refused",
            ErrorKind::UnusableCredentials => "unusable credentials",
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::Store => "store unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boxed error that crosses threads: the source of the crate's errors.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every fallible operation of this crate.
///
/// It has a [`kind`](Error::kind), a message meant for logs (never a secret,
/// never the raw input that caused it) and, where there is one, the
/// underlying cause as its [`source`](std::error::Error::source).
#[derive(thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    #[source]
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message for logs.
    ///
    /// The message must never contain a secret or untrusted input verbatim.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An error followed by each of its causes, joined by `": "`: how the
/// crate writes a failure whole (in `HandlerError`'s `{:#}` and the
/// tracing line). Only as safe as the errors' own `Display`; the crate's
/// never hold a secret.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// `url` with its password and query (which may carry `pass=`) hidden,
/// for `Debug` output and errors.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<unreadable URL>".to_owned();
    };
    if parsed.password().is_some() {
        // Cannot fail: a URL with a password has a host.
        let _ = parsed.set_password(Some("redacted"));
    }
    if parsed.query().is_some() {
        parsed.set_query(Some("redacted"));
    }
    parsed.set_fragment(None);
    parsed.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn display_has_kind_and_message_and_source_is_kept() {
        let cause = std::io::Error::other("disk on fire");
        let err = Error::new(ErrorKind::InvalidConfig, "bad base URL").with_source(cause);
        assert_eq!(err.to_string(), "invalid configuration: bad base URL");
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("disk on fire")
        );
    }
}
