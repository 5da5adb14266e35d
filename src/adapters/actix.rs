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

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_core::Stream;

use crate::Receiver;
use crate::receiver::adapter_kit::{BodyCollector, BodyError};

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
    answer(&receiver, &request, payload).await
}

/// Answers one request; its limits (body size, read timeout) are the
/// receiver's, and so is every answer.
pub async fn answer(
    receiver: &Receiver,
    request: &HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let response = receiver
        .handle_streaming(request_head(request), |limit| read_payload(payload, limit))
        .await;
    let status = StatusCode::from_u16(response.status().as_u16())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        builder.insert_header((name.as_str(), value.as_bytes()));
    }
    builder.body(response.into_body())
}

/// The request's method, URI and headers as `http` types, as far as they
/// translate (actix-web's types are those of `http` 0.2, which accept a
/// little more): a method that does not is not `POST`, and is answered as
/// any other (405); a URI that does not is left as `/` (the receiver does
/// not read it); a header that does not is left out, and the request is
/// answered as without it.
fn request_head(request: &HttpRequest) -> http::request::Parts {
    let (mut head, ()) = http::Request::new(()).into_parts();
    head.method =
        http::Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or(http::Method::GET);
    head.uri = request.uri().to_string().parse().unwrap_or_default();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            head.headers.append(name, value);
        }
    }
    head
}

async fn read_payload(mut payload: web::Payload, limit: usize) -> Result<Bytes, BodyError> {
    let mut collector = BodyCollector::new(limit);
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        collector.push(chunk.map_err(|_| BodyError::Failed)?)?;
    }
    Ok(collector.finish())
}
