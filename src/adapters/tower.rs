//! A [`tower_service::Service`] answering deliveries: serves hyper 1 through
//! hyper-util, and any tower stack.
//!
//! Requires the `tower` feature.
//!
//! ```no_run
//! # async fn run(receiver: smart_router_webhooks::Receiver) {
//! use smart_router_webhooks::adapters::tower::WebhookService;
//!
//! let service = WebhookService::new(receiver);
//! // e.g. hyper_util::service::TowerToHyperService::new(service) per connection.
//! # let _ = service;
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};

use super::{DEFAULT_READ_TIMEOUT, with_read_timeout};
use crate::{BodyCollector, BodyError, Receiver};

/// A tower service answering Smart Router deliveries with a [`Receiver`].
///
/// It answers every method (405 for all but `POST`): mount it on the
/// webhook's path.
#[derive(Clone, Debug)]
pub struct WebhookService {
    receiver: Receiver,
    read_timeout: Duration,
}

impl WebhookService {
    /// A service answering with `receiver`.
    pub fn new(receiver: Receiver) -> Self {
        WebhookService {
            receiver,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }

    /// How long to wait for the whole body (default
    /// [`DEFAULT_READ_TIMEOUT`]).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Answers one request.
    pub async fn answer<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
    {
        let (parts, body) = request.into_parts();
        let timeout = self.read_timeout;
        self.receiver
            .handle_streaming(parts, |limit| {
                with_read_timeout(timeout, read_body(body, limit))
            })
            .await
            .map(Full::new)
    }
}

/// Reads a body's data frames, stopping past `limit`.
async fn read_body<B: Body>(body: B, limit: usize) -> Result<Bytes, BodyError> {
    let mut body = std::pin::pin!(body);
    let mut collector = BodyCollector::new(limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Failed)?;
        if let Ok(mut data) = frame.into_data() {
            let len = data.remaining();
            collector.push(data.copy_to_bytes(len))?;
        }
    }
    Ok(collector.finish())
}

impl<B> tower_service::Service<Request<B>> for WebhookService
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.answer(request).await) })
    }
}
