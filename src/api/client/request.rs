//! One exchange with the API: the request with its headers, then the
//! answer read into an object or a [`FetchError`].

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::api::envelope::Envelope;
use crate::api::error::{FetchError, FetchErrorKind};
use crate::api::transport::{Transport, TransportError, TransportErrorKind};

use super::rate_limit::retry_after;
use super::{ApiClient, ECHOED_CREDENTIALS, MAX_API_MESSAGE, USER_AGENT_VALUE};

impl ApiClient {
    /// `GET` the path made of `segments` (each one a validated ID or a
    /// literal) and read the object under `key`, with `has_more`.
    pub(in crate::api) async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        key: &'static str,
    ) -> Result<(T, Option<bool>), FetchError> {
        let response = self.send(segments, query).await?;
        self.read(response, key)
    }

    /// `GET` the path made of `segments` with `query`: the raw answer.
    pub(in crate::api) async fn send(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Response<Bytes>, FetchError> {
        let request = self.request(segments, query)?;
        self.inner
            .transport
            .send(request, self.inner.limits)
            .await
            .map_err(from_transport)
    }

    fn request(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Request<Bytes>, FetchError> {
        let inner = &self.inner;
        let mut url = inner.base_url.clone();
        // Cannot fail: the base URL was checked to be a base at build.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header("API-Version", inner.api_version.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .body(Bytes::new())
            // Unreachable after the checks of `build`; were it reached,
            // the API was not reached either.
            .map_err(FetchError::unavailable)
    }

    pub(in crate::api) fn read<T: DeserializeOwned>(
        &self,
        response: Response<Bytes>,
        key: &'static str,
    ) -> Result<(T, Option<bool>), FetchError> {
        let status = response.status();
        let invalid = || FetchError::new(FetchErrorKind::InvalidResponse).with_status(status);
        let body = response.body();
        if body.len() > self.inner.limits.max_body_bytes {
            // A transport that ignored the limit.
            return Err(invalid().with_source(TransportError::body_too_large()));
        }
        if status.is_success() {
            let envelope = Envelope::<T>::parse(body, key).map_err(|e| invalid().with_source(e))?;
            if envelope.success == Some(false) {
                return Err(self.with_api_error(invalid(), envelope));
            }
            return match envelope.data {
                Some(data) => Ok((data, envelope.has_more)),
                None => Err(invalid().with_source(format!("the answer has no `{key}`"))),
            };
        }
        let envelope = Envelope::parse_error(body).ok();
        let from_api = envelope.as_ref().is_some_and(|e| e.error_type.is_some());
        let kind = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                FetchErrorKind::ApiCredentialsRefused
            }
            // A 404 without the API's error body comes from something else
            // (a wrong base URL path): not a missing object.
            StatusCode::NOT_FOUND if from_api => FetchErrorKind::NotFound,
            StatusCode::TOO_MANY_REQUESTS => FetchErrorKind::RateLimited,
            // The API gave up waiting for our request: worth asking again.
            StatusCode::REQUEST_TIMEOUT => FetchErrorKind::Unavailable,
            s if s.is_server_error() => FetchErrorKind::Unavailable,
            // Any other 4xx refuses the request itself, as the vendor's
            // SDKs read it (processout-go, errors/errors.go: every 4xx but
            // 401 and 404 is a `ValidationError`): asking again changes
            // nothing until the configuration does.
            s if s.is_client_error() && s != StatusCode::NOT_FOUND => FetchErrorKind::BadRequest,
            _ => FetchErrorKind::InvalidResponse,
        };
        let mut err = FetchError::new(kind).with_status(status);
        if let Some(envelope) = envelope {
            err = self.with_api_error(err, envelope);
        }
        if kind.is_transient() {
            if let Some(wait) = retry_after(response.headers(), SystemTime::now()) {
                err = err.with_retry_after(wait);
            }
        }
        Err(err)
    }

    /// Adds what the API said, unless it echoes our credentials.
    pub(super) fn with_api_error<T>(&self, err: FetchError, envelope: Envelope<T>) -> FetchError {
        let clean = |text: Option<String>| {
            text.map(|text| {
                if text.contains(&self.inner.private_key) || text.contains(&self.inner.token) {
                    ECHOED_CREDENTIALS.to_owned()
                } else {
                    truncate(text, MAX_API_MESSAGE)
                }
            })
        };
        err.with_api_error(clean(envelope.error_type), clean(envelope.message))
    }
}

fn from_transport(err: TransportError) -> FetchError {
    let kind = match err.kind() {
        TransportErrorKind::BodyTooLarge => FetchErrorKind::InvalidResponse,
        _ => FetchErrorKind::Unavailable,
    };
    FetchError::new(kind).with_source(err)
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(super) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
