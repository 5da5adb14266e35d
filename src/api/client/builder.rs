//! [`ApiClientBuilder`]: the settings of an [`ApiClient`] and their checks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use url::Url;

use crate::api::transport::{RequestLimits, Transport};
use crate::error::{Error, ErrorKind};

use super::{ApiClient, Inner};
use crate::delivery::{basic_authorization, basic_token, is_loopback};

/// Configures an [`ApiClient`]; made by [`ApiClient::builder`].
///
/// Setters never fail; [`build`](ApiClientBuilder::build) checks
/// everything at once.
///
/// ```no_run
/// # #[cfg(feature = "reqwest")]
/// # fn main() -> Result<(), smart_router_webhooks::Error> {
/// use std::time::Duration;
/// use smart_router_webhooks::ApiClient;
///
/// let client = ApiClient::builder("proj_…", "key_…")
///     .base_url("https://proxy.example/processout/")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// # let _ = client; Ok(()) }
/// # #[cfg(not(feature = "reqwest"))] fn main() {}
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ApiClientBuilder {
    pub(super) project_id: String,
    pub(super) private_key: String,
    pub(super) base_url: String,
    pub(super) api_version: String,
    pub(super) timeout: Duration,
    pub(super) max_response_bytes: usize,
    pub(super) transport: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for ApiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClientBuilder")
            .field("project_id", &self.project_id)
            .field("private_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field(
                "transport",
                &self.transport.as_ref().map(|_| "dyn Transport"),
            )
            .finish()
    }
}

impl ApiClientBuilder {
    /// The API's base URL (default `https://api.processout.com`): for a
    /// proxy in front of the API, or a mock in tests. A path prefix
    /// (`https://proxy.example/processout/`) is kept, with or without a
    /// trailing slash.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The `API-Version` header (default `1.4.0.0`).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The longest a request may take, from connecting to the end of the
    /// body (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default
    /// 4 MiB). A larger body is refused
    /// while it is read, never held whole in memory.
    pub fn max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Sends requests through `transport` instead of the default one
    /// (`ReqwestTransport`, feature `reqwest`).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Checks the configuration and makes the client.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::UnusableCredentials`] when the project ID or the
    ///   private key is empty, has a control character or surrounding
    ///   whitespace, or the project ID has a `:`.
    /// - [`ErrorKind::InvalidConfig`] when the base URL is not an absolute
    ///   `https` URL (plain `http` is accepted for a loopback host only),
    ///   has a query, a fragment or credentials; when the API version is
    ///   empty, has surrounding whitespace or is not a valid header value; when the timeout or the size
    ///   limit is zero; when no transport was given and the `reqwest`
    ///   feature is off, or the default transport cannot be made.
    pub fn build(self) -> Result<ApiClient, Error> {
        check_credential("project ID", &self.project_id)?;
        if self.project_id.contains(':') {
            return Err(Error::new(
                ErrorKind::UnusableCredentials,
                "the project ID contains ':', which basic auth cannot carry",
            ));
        }
        check_credential("private key", &self.private_key)?;
        let base_url = parse_base_url(&self.base_url)?;
        let api_version = HeaderValue::from_str(&self.api_version)
            .ok()
            .filter(|_| !self.api_version.is_empty() && self.api_version.trim() == self.api_version)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    "the API version is empty, has surrounding whitespace or is not a valid header value",
                )
            })?;
        if self.timeout.is_zero() {
            return Err(Error::new(ErrorKind::InvalidConfig, "the timeout is zero"));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the response size limit is zero",
            ));
        }
        let token = basic_token(&self.project_id, &self.private_key);
        let authorization = basic_authorization(&self.project_id, &self.private_key);
        let mut authorization = HeaderValue::try_from(authorization).map_err(|e| {
            Error::new(
                ErrorKind::UnusableCredentials,
                "the credentials cannot be sent",
            )
            .with_source(e)
        })?;
        authorization.set_sensitive(true);
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        Ok(ApiClient {
            inner: Arc::new(Inner {
                base_url,
                project_id: self.project_id,
                private_key: self.private_key,
                token,
                authorization,
                api_version,
                limits: RequestLimits::new(self.timeout, self.max_response_bytes),
                transport,
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    Ok(Arc::new(crate::api::ReqwestTransport::new()?))
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    Err(Error::new(
        ErrorKind::InvalidConfig,
        "no transport: enable the `reqwest` feature (a default feature), or give one with `ApiClientBuilder::transport`",
    ))
}

/// Refuses a credential basic auth cannot carry faithfully. The error
/// never contains the credential.
fn check_credential(what: &'static str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "is empty"
    } else if value.chars().any(char::is_control) {
        "contains a control character"
    } else if value.trim() != value {
        "starts or ends with whitespace"
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::UnusableCredentials,
        format!("the {what} {problem}"),
    ))
}

/// Checks the base URL. Errors never contain it: it could carry
/// credentials.
fn parse_base_url(text: &str) -> Result<Url, Error> {
    let invalid = |message: &'static str| Error::new(ErrorKind::InvalidConfig, message);
    let url = Url::parse(text.trim())
        .map_err(|e| invalid("the base URL is not a valid absolute URL").with_source(e))?;
    if url.host().is_none() {
        return Err(invalid("the base URL has no host"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(invalid(
                "the base URL must use https (plain http is only accepted for a loopback host)",
            ));
        }
        _ => return Err(invalid("the base URL must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the base URL must not carry credentials: give them to ApiClient::builder",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the base URL must not have a query or a fragment"));
    }
    http::Uri::try_from(url.as_str())
        .map_err(|e| invalid("the base URL is not a valid request URI").with_source(e))?;
    Ok(url)
}
