//! actix-web 4: a handler and a service configuration to mount on an `App`.
//!
//! Requires the `actix` feature.
//!
//! ```no_run
//! # async fn run(receiver: smart_router_webhooks::Receiver) -> std::io::Result<()> {
//! use actix_web::{App, HttpServer};
//! use smart_router_webhooks::adapters::actix::configure;
//!
//! HttpServer::new(move || App::new().configure(configure("/webhooks", receiver.clone())))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! # }
//! ```

use std::pin::Pin;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_core::Stream;

use super::{DEFAULT_READ_TIMEOUT, with_read_timeout};
use crate::{BodyCollector, BodyError, Receiver};

/// Registers the webhook on `path` (every method: 405 for all but `POST`),
/// with the receiver as the resource's data.
pub fn configure(path: &str, receiver: Receiver) -> impl FnOnce(&mut web::ServiceConfig) {
    let path = path.to_owned();
    move |config| {
        config.service(
            web::resource(path)
                .app_data(web::Data::new(receiver))
                .default_service(web::to(webhook)),
        );
    }
}

/// The handler: reads the [`Receiver`] from the app's data
/// (`web::Data<Receiver>`).
pub async fn webhook(
    receiver: web::Data<Receiver>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    answer(&receiver, &request, payload, DEFAULT_READ_TIMEOUT).await
}

/// Answers one request, waiting at most `read_timeout` for its body.
pub async fn answer(
    receiver: &Receiver,
    request: &HttpRequest,
    payload: web::Payload,
    read_timeout: Duration,
) -> HttpResponse {
    let Some(parts) = request_head(request) else {
        return HttpResponse::BadRequest().body("invalid_request");
    };
    let response = receiver
        .handle_streaming(parts, |limit| {
            with_read_timeout(read_timeout, read_payload(payload, limit))
        })
        .await;
    let status = StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        builder.insert_header((name.as_str(), value.as_bytes()));
    }
    builder.body(response.into_body())
}

/// The request's method, URI and headers as `http` types.
fn request_head(request: &HttpRequest) -> Option<http::request::Parts> {
    let mut builder = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.uri().to_string());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder.body(()).ok().map(|r| r.into_parts().0)
}

async fn read_payload(mut payload: web::Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut collector = BodyCollector::new(limit);
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        collector.push(chunk.map_err(|_| BodyError::Failed)?)?;
    }
    Ok(collector.finish())
}
