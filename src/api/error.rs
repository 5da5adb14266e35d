//! [`FetchError`]: why an event or a transaction could not be fetched.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::error::BoxError;

/// What kind of failure a [`FetchError`] is: what the receiver needs to
/// answer the delivery correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// The API says the object does not exist (for an event, often a
    /// sandbox/live mix-up of credentials).
    NotFound,
    /// The API refused our credentials (project ID and private key: 401,
    /// 403): a configuration error. Not to be confused with
    /// [`ErrorKind::DeliveryCredentialsRefused`](crate::ErrorKind::DeliveryCredentialsRefused),
    /// the receiver refusing a delivery's.
    ApiCredentialsRefused,
    /// The API refused the request itself as invalid: a 400, or another
    /// 4xx the API uses for bad requests (405, 409, 410, 415, 422…; the
    /// vendor's SDKs read every 4xx but 401 and 404 as a validation
    /// error). A configuration error (API version, base URL, project), like
    /// refused credentials: asking again changes nothing.
    BadRequest,
    /// The API's rate limit was hit; see [`FetchError::retry_after`].
    RateLimited,
    /// The API could not be reached or answered with a server error: 5xx,
    /// timeout, connection refused or reset.
    Unavailable,
    /// The API answered something that is not a valid response: not JSON,
    /// `success: false` on a 2xx, an unexpected status, a body over the
    /// size limit.
    InvalidResponse,
}

impl FetchErrorKind {
    /// Whether asking again later may succeed without anyone changing
    /// anything (rate limit, unavailability).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FetchErrorKind::RateLimited | FetchErrorKind::Unavailable
        )
    }

    fn describe(self) -> &'static str {
        match self {
            FetchErrorKind::NotFound => "not found",
            FetchErrorKind::ApiCredentialsRefused => "the API refused the credentials",
            FetchErrorKind::BadRequest => "the API refused the request as invalid",
            FetchErrorKind::RateLimited => "rate limited by the API",
            FetchErrorKind::Unavailable => "the API is unavailable",
            FetchErrorKind::InvalidResponse => "the API sent an invalid response",
        }
    }
}

impl fmt::Display for FetchErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why an event or transaction could not be fetched.
///
/// Keeps what the API said (`error_type`, `message`) when it said
/// something, the HTTP status when there was one, and the cause. It never
/// holds our credentials or anything else secret.
pub struct FetchError {
    kind: FetchErrorKind,
    status: Option<StatusCode>,
    error_type: Option<String>,
    api_message: Option<String>,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl FetchError {
    /// A new error of `kind`.
    pub fn new(kind: FetchErrorKind) -> Self {
        FetchError {
            kind,
            status: None,
            error_type: None,
            api_message: None,
            retry_after: None,
            source: None,
        }
    }

    /// The object does not exist.
    pub fn not_found() -> Self {
        FetchError::new(FetchErrorKind::NotFound)
    }

    /// The API could not be reached or failed; `source` says how.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        FetchError::new(FetchErrorKind::Unavailable).with_source(source)
    }

    /// Records the HTTP status the API answered with.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Records the API's `error_type` and `message`.
    pub fn with_api_error(mut self, error_type: Option<String>, message: Option<String>) -> Self {
        self.error_type = error_type;
        self.api_message = message;
        self
    }

    /// Records how long the API asked us to wait.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Records the cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> FetchErrorKind {
        self.kind
    }

    /// The HTTP status the API answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The API's `error_type` (`resource.event.not-found`,
    /// `request.authentication.invalid`, …), if it sent one.
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The API's human-readable `message`, if it sent one.
    pub fn api_message(&self) -> Option<&str> {
        self.api_message.as_deref()
    }

    /// How long to wait before asking again, when the API said
    /// (`Retry-After`, or the rate limit's reset).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.describe())?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {})", status.as_u16())?;
        }
        if let Some(error_type) = &self.error_type {
            write!(f, ": {error_type}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchError")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("error_type", &self.error_type)
            .field("api_message", &self.api_message)
            .field("retry_after", &self.retry_after)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_error_is_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<FetchError>();
    }

    #[test]
    fn display_says_kind_status_and_error_type() {
        let err = FetchError::not_found()
            .with_status(StatusCode::NOT_FOUND)
            .with_api_error(
                Some("resource.event.not-found".into()),
                Some("The event could not be found.".into()),
            );
        assert_eq!(
            err.to_string(),
            "not found (HTTP 404): resource.event.not-found"
        );
        assert_eq!(err.api_message(), Some("The event could not be found."));
        assert!(!err.kind().is_transient());
        assert!(FetchErrorKind::RateLimited.is_transient());
    }
}
