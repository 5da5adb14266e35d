//! HTTP basic-auth credentials of webhook deliveries, and their check.
//!
//! Smart Router sends no signature. A user who wants deliveries
//! authenticated writes credentials into the webhook URL configured in the
//! Dashboard (`https://user:pass@example.com/webhooks`); every delivery then
//! carries `Authorization: Basic base64(user:pass)`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use subtle::{Choice, ConstantTimeEq};

use super::WebhookUrl;
use crate::error::{Error, ErrorKind};

/// The longest `Authorization` header value read, in bytes. A longer one is
/// refused before it is decoded.
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Standard base64, with or without padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A username and password accepted on deliveries.
///
/// `Debug` shows the username and hides the password.
///
/// ```
/// use smart_router_webhooks::Credentials;
///
/// let from_url = Credentials::from_webhook_url("https://hooks:p%40ss@shop.example/webhooks")?;
/// assert_eq!(from_url.username(), "hooks");
/// assert_eq!(from_url, Credentials::new("hooks", "p@ss")?);
/// assert!(!format!("{from_url:?}").contains("p@ss"));
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

pub(super) fn invalid_credentials(message: &'static str) -> Error {
    Error::new(ErrorKind::UnusableCredentials, message)
}

impl Credentials {
    /// Credentials from a username and a password, as written in the
    /// webhook URL after percent-decoding.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnusableCredentials`] when the username is empty or
    /// contains `:` (basic auth could not tell where it ends), or the
    /// password is empty.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Result<Self, Error> {
        let username = username.into();
        let password = password.into();
        if username.is_empty() {
            return Err(invalid_credentials("the username is empty"));
        }
        if username.contains(':') {
            return Err(invalid_credentials(
                "the username contains ':', which basic auth cannot carry",
            ));
        }
        if password.is_empty() {
            return Err(invalid_credentials("the password is empty"));
        }
        Ok(Credentials { username, password })
    }

    /// The credentials written in a webhook URL, exactly as pasted into the
    /// Dashboard (`https://user:p%40ss@host/path` gives `user` and `p@ss`).
    /// [`WebhookUrl::parse`] gives the path to serve as well.
    ///
    /// # Errors
    ///
    /// As [`WebhookUrl::parse`].
    pub fn from_webhook_url(url: &str) -> Result<Self, Error> {
        WebhookUrl::parse(url).map(WebhookUrl::into_credentials)
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, for the test kit's webhook URLs.
    #[cfg(feature = "testing")]
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// The `Authorization` header a sender puts on deliveries with these
    /// credentials (`Basic base64(user:password)`), marked sensitive so that
    /// HTTP libraries keep it out of their logs.
    pub fn authorization_header(&self) -> HeaderValue {
        let mut value = HeaderValue::try_from(basic_authorization(&self.username, &self.password))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// The set of credentials accepted on deliveries, and the check of a
/// delivery's `Authorization` header against them.
///
/// Several credentials may be accepted at once, so they can be rotated
/// without downtime: add the new URL's credentials, change the URL in the
/// Dashboard, then remove the old ones.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
/// use smart_router_webhooks::{BasicAuth, Credentials, ErrorKind};
///
/// let auth = BasicAuth::new(Credentials::new("hooks", "old-secret")?)
///     .with(Credentials::new("hooks", "new-secret")?);
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, Credentials::new("hooks", "new-secret")?.authorization_header());
/// auth.verify(&headers)?;
///
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic aG9va3M6d3Jvbmc="));
/// assert_eq!(auth.verify(&headers).unwrap_err().kind(), ErrorKind::DeliveryCredentialsRefused);
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct BasicAuth {
    accepted: Vec<Credentials>,
}

/// The value of an `Authorization` header of the Basic scheme:
/// `Basic base64(user:password)`. The text holds the password: never log it.
pub(crate) fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", basic_token(user, password))
}

/// The token of the Basic scheme: `base64(user:password)`. It holds the
/// password: never log it.
pub(crate) fn basic_token(user: &str, password: &str) -> String {
    general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn unauthorized(message: &'static str) -> Error {
    Error::new(ErrorKind::DeliveryCredentialsRefused, message)
}

impl BasicAuth {
    /// A check that accepts `credentials`.
    pub fn new(credentials: Credentials) -> Self {
        BasicAuth {
            accepted: vec![credentials],
        }
    }

    /// Accepts `credentials` too.
    pub fn with(mut self, credentials: Credentials) -> Self {
        self.accepted.push(credentials);
        self
    }

    /// A check that accepts every one of `credentials`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnusableCredentials`] when `credentials` is empty.
    pub fn from_credentials(
        credentials: impl IntoIterator<Item = Credentials>,
    ) -> Result<Self, Error> {
        let accepted: Vec<_> = credentials.into_iter().collect();
        if accepted.is_empty() {
            return Err(invalid_credentials("no credentials to accept"));
        }
        Ok(BasicAuth { accepted })
    }

    /// The credentials accepted first, for the test kit's deliveries.
    #[cfg(feature = "testing")]
    pub(crate) fn first(&self) -> Option<&Credentials> {
        self.accepted.first()
    }

    /// How many credentials are accepted.
    pub fn len(&self) -> usize {
        self.accepted.len()
    }

    /// Always false: a `BasicAuth` accepts at least one credential.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Checks a delivery's headers.
    ///
    /// Exactly one `Authorization` header, of scheme `Basic` (any case,
    /// spaces around tolerated), whose base64 decodes to UTF-8
    /// `username:password` matching one accepted credential. Usernames and
    /// passwords are compared in constant time against every accepted
    /// credential, with no early exit: the time taken does not tell which
    /// part or which credential matched.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DeliveryCredentialsRefused`] for a missing, repeated, over-long or
    /// malformed header, another scheme, bad base64, no colon, non-UTF-8
    /// bytes, or credentials that match none accepted. The message says
    /// which, never what was sent.
    pub fn verify(&self, headers: &HeaderMap) -> Result<(), Error> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let value = values
            .next()
            .ok_or_else(|| unauthorized("the delivery has no Authorization header"))?;
        if values.next().is_some() {
            return Err(unauthorized(
                "the delivery has several Authorization headers",
            ));
        }
        let decoded = decode_basic(value.as_bytes())?;
        let text = std::str::from_utf8(&decoded)
            .map_err(|_| unauthorized("the decoded credentials are not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| unauthorized("the decoded credentials have no colon"))?;
        let mut matched = Choice::from(0);
        for accepted in &self.accepted {
            let user_ok = ct_eq(username.as_bytes(), accepted.username.as_bytes());
            let pass_ok = ct_eq(password.as_bytes(), accepted.password.as_bytes());
            matched |= user_ok & pass_ok;
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(unauthorized("the credentials match none accepted"))
        }
    }
}

/// The decoded token of a `Basic` authorization value.
fn decode_basic(value: &[u8]) -> Result<Vec<u8>, Error> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(unauthorized("the Authorization header is too long"));
    }
    let value = value.trim_ascii();
    let split = value
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .ok_or_else(|| unauthorized("the Authorization header is not of the Basic scheme"))?;
    let (scheme, token) = value.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(unauthorized(
            "the Authorization header is not of the Basic scheme",
        ));
    }
    LENIENT_BASE64
        .decode(token.trim_ascii())
        .map_err(|_| unauthorized("the Basic credentials are not valid base64"))
}

/// Compares `given` to `expected` in time that depends only on
/// `expected.len()`.
fn ct_eq(given: &[u8], expected: &[u8]) -> Choice {
    let mut equal = (given.len() as u64).ct_eq(&(expected.len() as u64));
    for (i, e) in expected.iter().enumerate() {
        let g = if given.is_empty() {
            0
        } else {
            given[i % given.len()]
        };
        equal &= g.ct_eq(e);
    }
    equal
}

impl From<Credentials> for BasicAuth {
    fn from(credentials: Credentials) -> Self {
        BasicAuth::new(credentials)
    }
}

impl From<WebhookUrl> for BasicAuth {
    fn from(url: WebhookUrl) -> Self {
        BasicAuth::new(url.into_credentials())
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("accepted", &self.accepted)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        headers
    }

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", general_purpose::STANDARD.encode(raw)).into_bytes()
    }

    fn auth() -> BasicAuth {
        BasicAuth::new(Credentials::new("hooks", "s3cret").unwrap())
    }

    #[test]
    fn accepts_the_right_credentials_in_every_tolerated_form() {
        let token = general_purpose::STANDARD.encode("hooks:s3cret");
        let unpadded = general_purpose::STANDARD_NO_PAD.encode("hooks:s3cret");
        for v in [
            format!("Basic {token}"),
            format!("basic {token}"),
            format!("BASIC {token}"),
            format!("  Basic   {token}  "),
            format!("Basic\t{token}"),
            format!("Basic {unpadded}"),
        ] {
            auth().verify(&headers_with(&[v.as_bytes()])).unwrap();
        }
    }

    #[test]
    fn passwords_may_contain_colons() {
        let auth = BasicAuth::new(Credentials::new("u", "a:b:c").unwrap());
        auth.verify(&headers_with(&[&basic("u:a:b:c")])).unwrap();
    }

    #[test]
    fn refuses_every_bad_header() {
        let long = format!("Basic {}", "A".repeat(64 * 1024));
        let cases: Vec<(&str, HeaderMap)> = vec![
            ("missing", HeaderMap::new()),
            ("empty", headers_with(&[b""])),
            ("scheme only", headers_with(&[b"Basic"])),
            ("bearer", headers_with(&[b"Bearer aG9va3M6czNjcmV0"])),
            ("digest", headers_with(&[b"Digest aG9va3M6czNjcmV0"])),
            ("bad base64", headers_with(&[b"Basic !!!notbase64"])),
            ("no colon", headers_with(&[&basic("hooks")])),
            ("empty password", headers_with(&[&basic("hooks:")])),
            ("wrong password", headers_with(&[&basic("hooks:s3cre")])),
            ("longer password", headers_with(&[&basic("hooks:s3cret!")])),
            ("wrong username", headers_with(&[&basic("admin:s3cret")])),
            ("swapped", headers_with(&[&basic("s3cret:hooks")])),
            ("case of password", headers_with(&[&basic("hooks:S3CRET")])),
            (
                "non-utf8",
                headers_with(&[&[
                    b"Basic ".as_slice(),
                    general_purpose::STANDARD
                        .encode(b"hooks:\xff\xfe")
                        .as_bytes(),
                ]
                .concat()]),
            ),
            ("non-ascii header bytes", headers_with(&[b"Basic \xe9\xe9"])),
            (
                "repeated",
                headers_with(&[&basic("hooks:s3cret"), &basic("hooks:s3cret")]),
            ),
            ("64 KiB", headers_with(&[long.as_bytes()])),
        ];
        for (name, headers) in cases {
            let err = auth().verify(&headers).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DeliveryCredentialsRefused, "{name}");
        }
    }

    #[test]
    fn the_second_of_several_credentials_matches() {
        let auth = BasicAuth::from_credentials([
            Credentials::new("old", "first").unwrap(),
            Credentials::new("new", "second").unwrap(),
        ])
        .unwrap();
        auth.verify(&headers_with(&[&basic("new:second")])).unwrap();
        auth.verify(&headers_with(&[&basic("old:first")])).unwrap();
        assert!(auth.verify(&headers_with(&[&basic("old:second")])).is_err());
        assert!(auth.verify(&headers_with(&[&basic("new:first")])).is_err());
        assert_eq!(auth.len(), 2);
    }

    #[test]
    fn an_empty_set_is_refused() {
        let err = BasicAuth::from_credentials(Vec::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnusableCredentials);
    }

    #[test]
    fn credentials_from_webhook_urls() {
        let c = Credentials::from_webhook_url("https://hooks:p%40ss%3Aw0rd@shop.example/wh?x=1")
            .unwrap();
        assert_eq!(c, Credentials::new("hooks", "p@ss:w0rd").unwrap());
        let c = Credentials::from_webhook_url("https://us%20er:caf%C3%A9@shop.example").unwrap();
        assert_eq!(c, Credentials::new("us er", "café").unwrap());
        for loopback in [
            "http://u:p@127.0.0.1:8080/wh",
            "http://u:p@localhost/wh",
            "http://u:p@[::1]:9000/wh",
            "http://u:p@127.8.9.10/wh",
        ] {
            assert!(
                Credentials::from_webhook_url(loopback).is_ok(),
                "{loopback}"
            );
        }
    }

    #[test]
    fn bad_webhook_urls_are_refused_without_echoing_them() {
        for url in [
            "not a url",
            "https://shop.example/wh",
            "https://hooks@shop.example/wh",
            "https://hooks:@shop.example/wh",
            "https://:pass@shop.example/wh",
            "https://a%3Ab:pass@shop.example/wh",
            "https://u:%FF@shop.example/wh",
            "http://u:topsecret@shop.example/wh",
            "http://u:topsecret@10.0.0.1/wh",
            "ftp://u:topsecret@shop.example/wh",
        ] {
            let err = Credentials::from_webhook_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnusableCredentials, "{url}");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("topsecret"), "{shown}");
            assert!(!shown.contains("shop.example"), "{shown}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let auth = BasicAuth::new(Credentials::new("hooks", "hunter2-very-secret").unwrap());
        let shown = format!(
            "{auth:?} {:?}",
            Credentials::new("x", "hunter2-very-secret").unwrap()
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
        let header = Credentials::new("x", "y").unwrap().authorization_header();
        assert!(header.is_sensitive());
        assert_eq!(header, "Basic eDp5");
    }

    #[test]
    fn constant_time_compare_is_exact() {
        assert!(bool::from(ct_eq(b"abc", b"abc")));
        assert!(!bool::from(ct_eq(b"ab", b"abc")));
        assert!(!bool::from(ct_eq(b"abcd", b"abc")));
        assert!(!bool::from(ct_eq(b"", b"abc")));
        assert!(!bool::from(ct_eq(b"abcabc", b"abc")));
        assert!(bool::from(ct_eq(b"", b"")));
    }
}
