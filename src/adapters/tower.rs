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

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;

use crate::Receiver;
use crate::receiver::adapter_kit::collect_body;

/// A tower service answering Smart Router deliveries with a [`Receiver`].
///
/// It answers every method (405 for all but `POST`): mount it on the
/// webhook's path. Its limits (body size, read timeout) are the
/// receiver's.
#[derive(Clone, Debug)]
pub struct WebhookService {
    receiver: Receiver,
}

impl WebhookService {
    /// A service answering with `receiver`.
    pub fn new(receiver: Receiver) -> Self {
        WebhookService { receiver }
    }

    /// Answers one request.
    pub async fn answer<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
    {
        let (parts, body) = request.into_parts();
        self.receiver
            .handle_streaming(parts, |limit| collect_body(body, limit))
            .await
            .map(Full::new)
    }
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
