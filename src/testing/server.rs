//! Delivering to a receiver from a test: in process ([`deliver`]), or over
//! real HTTP on a free loopback port ([`TestServer`]).

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::sender::Sender;
use crate::adapters::tower::WebhookService;
use crate::receiver::{DeliveryReport, Receiver};

/// The path [`TestServer`] gives in its webhook URL.
pub const WEBHOOK_PATH: &str = "/webhooks";

/// Delivers `event_id` to `receiver` in process, as Smart Router would
/// (`POST` with `{"event_id":…}` and the receiver's credentials), and
/// returns the delivery's report: everything the observer would get, the
/// handlers' errors with their chains included.
///
/// The whole pipeline runs (credentials, payload, claim, fetch, tracking,
/// handlers, records); only the network is left out. An `event_id` that
/// is no valid ID is delivered as is, and refused (400).
///
/// ```
/// use smart_router_webhooks::testing::{MockApi, TransactionBuilder, deliver};
/// use smart_router_webhooks::{Credentials, EventContext, EventType, HandlerError, Outcome, Receiver};
/// use smart_router_webhooks::TransactionStatus::Completed;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = MockApi::start().await;
/// api.add_event(TransactionBuilder::new("tr_1").status(Completed).event("ev_1"));
/// let receiver = Receiver::builder()
///     .credentials(Credentials::new("hooks", "s3cret")?)
///     .fetcher(api.client_builder().build()?)
///     .on(EventType::TransactionCaptured, "ship", |_: EventContext| async {
///         Err::<(), _>(HandlerError::permanent("no such order"))
///     })
///     .build()?;
/// let report = deliver(&receiver, "ev_1").await;
/// assert_eq!(report.outcome, Outcome::Processed);
/// assert_eq!(report.failures().count(), 1);
/// # Ok(()) }
/// ```
pub async fn deliver(receiver: &Receiver, event_id: impl AsRef<str>) -> DeliveryReport {
    let body = serde_json::json!({ "event_id": event_id.as_ref() }).to_string();
    let mut request = Request::post(WEBHOOK_PATH);
    if let Some(credentials) = receiver.accepted_credentials() {
        request = request.header(AUTHORIZATION, credentials.authorization_header());
    }
    let request = request
        .header(CONTENT_TYPE, "application/json")
        .body(Bytes::from(body));
    match request {
        Ok(request) => receiver.receive(request).await,
        // The method, path and headers above are always valid.
        Err(e) => panic!("the test delivery could not be built: {e}"),
    }
}

/// A receiver served over HTTP/1.1 on `127.0.0.1`, on a free port, for
/// tests that go through the network (a [`Sender`], `curl`, another
/// process). It answers on every path; it stops when dropped.
///
/// ```
/// use smart_router_webhooks::testing::{MockApi, TestServer};
/// use smart_router_webhooks::{Credentials, EventId, Receiver};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let api = MockApi::start().await;
/// let receiver = Receiver::builder()
///     .credentials(Credentials::new("hooks", "s3cret")?)
///     .fetcher(api.client_builder().build()?)
///     .build()?;
/// let server = TestServer::start(receiver).await?;
/// assert!(server.webhook_url().starts_with("http://hooks:s3cret@127.0.0.1:"));
/// let delivery = server.sender().deliver(&EventId::parse("ev_1")?, None).await;
/// assert_eq!(delivery.last_status(), Some(http::StatusCode::NOT_FOUND));
/// # Ok(()) }
/// ```
pub struct TestServer {
    addr: SocketAddr,
    webhook_url: String,
    server: JoinHandle<()>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The webhook URL holds the password.
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestServer {
    /// Serves `receiver` on a free loopback port (through the tower
    /// adapter, as an application would).
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error when no loopback port can be bound.
    pub async fn start(receiver: Receiver) -> io::Result<TestServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let mut url =
            url::Url::parse(&format!("http://{addr}{WEBHOOK_PATH}")).map_err(io::Error::other)?;
        if let Some(credentials) = receiver.accepted_credentials() {
            // Percent-encoded as the Dashboard expects.
            let _ = url.set_username(credentials.username());
            let _ = url.set_password(Some(credentials.password()));
        }
        let service = WebhookService::new(receiver);
        let server = tokio::spawn(serve(listener, service));
        Ok(TestServer {
            addr,
            webhook_url: url.into(),
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The webhook URL to deliver to, credentials included, as it would be
    /// pasted into the Dashboard:
    /// `http://hooks:s3cret@127.0.0.1:<port>/webhooks`.
    pub fn webhook_url(&self) -> &str {
        &self.webhook_url
    }

    /// A [`Sender`] to the webhook URL, with its defaults.
    ///
    /// # Panics
    ///
    /// Never: the webhook URL is always one a sender accepts.
    pub fn sender(&self) -> Sender {
        match Sender::new(&self.webhook_url) {
            Ok(sender) => sender,
            Err(e) => panic!("the test server's webhook URL: {e}"),
        }
    }
}

async fn serve(listener: TcpListener, service: WebhookService) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: wait and go on.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = service.clone();
        connections.spawn(async move {
            let answer = service_fn(move |request| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(service.answer(request).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), answer)
                .await;
        });
    }
}
