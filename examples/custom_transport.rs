//! cargo run --example custom_transport
//!
//! `ApiClient` over another HTTP client: hyper-util's legacy client
//! instead of reqwest. The transport honours the client's limits: a
//! timeout around the whole exchange, and a body read no further than the
//! size limit.
//!
//! It needs no network: it starts the mock Smart Router API on loopback
//! and fetches an event through the custom transport. Against the real API,
//! give the client an HTTPS connector (for example `hyper-rustls`) and drop
//! `base_url`.

use std::error::Error;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use smart_router_webhooks::api::{RequestLimits, Transport, TransportError};
use smart_router_webhooks::testing::{Failure, MockApi};

/// A transport over one hyper-util client (one connection pool).
struct HyperTransport {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HyperTransport {
    fn new() -> Self {
        HyperTransport {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

#[async_trait]
impl Transport for HyperTransport {
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError> {
        let exchange = async {
            let response = self
                .client
                .request(request.map(Full::new))
                .await
                .map_err(|e| {
                    if e.is_connect() {
                        TransportError::connect(e)
                    } else {
                        TransportError::connection(e)
                    }
                })?;
            let (parts, body) = response.into_parts();
            // `Limited` stops reading as soon as the limit is passed.
            let body = Limited::new(body, limits.max_body_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<LengthLimitError>() {
                        TransportError::body_too_large()
                    } else {
                        TransportError::connection(e)
                    }
                })?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(limits.timeout, exchange)
            .await
            .map_err(|_| TransportError::timeout())?
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let api = MockApi::start().await;
    let id = api.add_event_json(include_str!(
        "../tests/fixtures/event-transaction-failed.json"
    ))?;

    let client = api
        .client_builder()
        .transport(HyperTransport::new())
        .build()?;

    let event = client.fetch_event(&id).await?;
    println!("fetched {} ({}) through hyper-util", event.id, event.name);
    if let Some(transaction) = event.transaction() {
        let status = transaction
            .status
            .as_ref()
            .map_or("unknown", |s| s.as_str());
        println!("  transaction {} is {status}", transaction.id);
    }

    api.fail_next(
        1,
        Failure::Unavailable {
            retry_after: Some(5),
        },
    );
    match client.fetch_event(&id).await {
        Ok(_) => return Err("the mock was told to fail".into()),
        Err(err) => println!("then: {err}, retry after {:?}", err.retry_after()),
    }
    println!("requests to the mock: {}", api.total_requests());
    Ok(())
}
