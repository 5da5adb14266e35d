//! [`WebhookUrl`]: the webhook URL configured in the Dashboard, read once
//! for both what a receiver needs from it: the credentials deliveries
//! carry, and the path they arrive on.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::{Host, Url};

use super::credentials::{Credentials, invalid_credentials};
use crate::error::Error;

/// The webhook URL exactly as pasted into the Dashboard
/// (`https://hooks:s3cret@shop.example/webhooks/smart-router`): the
/// [`Credentials`] written in it and the path to serve.
///
/// `Debug` shows the path and the username, never the password.
///
/// ```
/// use smart_router_webhooks::{Credentials, WebhookUrl};
///
/// let url = WebhookUrl::parse("https://hooks:p%40ss@shop.example/webhooks/smart-router?x=1")?;
/// assert_eq!(url.path(), "/webhooks/smart-router");
/// assert_eq!(url.credentials(), &Credentials::new("hooks", "p@ss")?);
///
/// let err = WebhookUrl::parse("hooks:s3cret@shop.example/webhooks").unwrap_err();
/// assert!(err.message().contains("https://"), "{err}");
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    credentials: Credentials,
    path: String,
}

impl WebhookUrl {
    /// Reads a webhook URL.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnusableCredentials`](crate::ErrorKind::UnusableCredentials)
    /// when the text has no scheme (`https://` is missing), is not a URL,
    /// is not `https` (plain `http` is accepted only for a loopback host,
    /// for local testing), carries no username or no password, a decoded
    /// part is not UTF-8, or the username contains `:`. The message says
    /// which, and never contains the URL.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let url = url.trim();
        // Without `://`, `hooks:s3cret@host/path` would read as a URL of
        // scheme `hooks`: say what is missing instead.
        if !url.contains("://") {
            return Err(invalid_credentials(
                "the webhook URL has no scheme: write it whole, starting with https:// (https://user:password@host/path)",
            ));
        }
        let parsed = Url::parse(url).map_err(|e| {
            invalid_credentials("the webhook URL is not a valid URL").with_source(e)
        })?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                return Err(invalid_credentials(
                    "the webhook URL must use https (plain http is only accepted for a loopback host)",
                ));
            }
            _ => return Err(invalid_credentials("the webhook URL must use https")),
        }
        if parsed.username().is_empty() {
            return Err(invalid_credentials(
                "the webhook URL has no credentials (expected https://user:password@host/path)",
            ));
        }
        let password = parsed
            .password()
            .ok_or_else(|| invalid_credentials("the webhook URL has a username but no password"))?;
        let decode = |part: &str, what: &'static str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| invalid_credentials(what))
        };
        let username = decode(
            parsed.username(),
            "the webhook URL's username is not UTF-8 once decoded",
        )?;
        let password = decode(
            password,
            "the webhook URL's password is not UTF-8 once decoded",
        )?;
        Ok(WebhookUrl {
            credentials: Credentials::new(username, password)?,
            path: parsed.path().to_owned(),
        })
    }

    /// The credentials deliveries carry.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The path deliveries are `POST`ed to (`/webhooks/smart-router`;
    /// `/` when the URL has none), without the query: what to route in
    /// your framework.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The credentials, for [`ReceiverBuilder::credentials`](crate::ReceiverBuilder::credentials).
    pub fn into_credentials(self) -> Credentials {
        self.credentials
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookUrl")
            .field("credentials", &self.credentials)
            .field("path", &self.path)
            .finish()
    }
}

/// Whether `url`'s host is a loopback address or `localhost`, the only
/// hosts plain `http` is accepted for.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn gives_the_path_to_serve() {
        for (url, path) in [
            (
                "https://u:p@shop.example/webhooks/smart-router",
                "/webhooks/smart-router",
            ),
            ("https://u:p@shop.example/wh?token=1#x", "/wh"),
            ("https://u:p@shop.example", "/"),
            ("http://u:p@127.0.0.1:8080/a%20b", "/a%20b"),
        ] {
            assert_eq!(WebhookUrl::parse(url).unwrap().path(), path, "{url}");
        }
    }

    #[test]
    fn a_url_without_scheme_is_told_what_is_missing() {
        for url in [
            "hooks:topsecret@shop.example/webhooks",
            "shop.example/webhooks",
            "//hooks:topsecret@shop.example/webhooks",
        ] {
            let err = WebhookUrl::parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnusableCredentials);
            assert!(err.message().contains("no scheme"), "{url}: {err}");
            assert!(!format!("{err:?}").contains("topsecret"));
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let url = WebhookUrl::parse("https://hooks:topsecret@shop.example/wh").unwrap();
        let shown = format!("{url:?}");
        assert!(
            shown.contains("/wh") && !shown.contains("topsecret"),
            "{shown}"
        );
    }
}
