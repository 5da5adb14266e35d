//! axum 0.8: a router to merge into yours, or a handler to route with
//! `State`.
//!
//! Requires the `axum` feature.
//!
//! ```no_run
//! # async fn run(receiver: smart_router_webhooks::Receiver) {
//! use axum::{Router, routing::get};
//! use smart_router_webhooks::adapters::axum::webhook_router;
//!
//! let app: Router = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .merge(webhook_router("/webhooks/smart-router", receiver));
//! # let _ = app;
//! # }
//! ```

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use super::tower::WebhookService;
use crate::Receiver;

/// A router answering deliveries on `path` (every method: 405 for all but
/// `POST`), to [`merge`](axum::Router::merge) into your app.
pub fn webhook_router<S>(path: &str, receiver: Receiver) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    axum::Router::new().route_service(path, WebhookService::new(receiver))
}

/// A handler answering deliveries, for apps that keep the [`Receiver`] in
/// their state (`Receiver: FromRef<YourState>`):
/// `.route("/webhooks", any(webhook)).with_state(receiver)`.
pub async fn webhook(State(receiver): State<Receiver>, request: Request) -> Response {
    WebhookService::new(receiver)
        .answer(request)
        .await
        .into_response()
}
