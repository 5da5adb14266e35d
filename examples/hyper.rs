//! SMART_ROUTER_PROJECT_ID=proj_… SMART_ROUTER_PRIVATE_KEY=key_… cargo run --example hyper
//!
//! The smallest hyper 1 integration: the tower service, served through
//! hyper-util on each accepted connection.

use std::error::Error;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use smart_router_webhooks::adapters::tower::WebhookService;
use smart_router_webhooks::{
    ApiClient, Credentials, EventContext, EventType, HandlerError, Receiver,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let api = ApiClient::builder(
        std::env::var("SMART_ROUTER_PROJECT_ID")?,
        std::env::var("SMART_ROUTER_PRIVATE_KEY")?,
    )
    .build()?;
    let receiver = Receiver::builder()
        // The URL configured in the Dashboard, credentials included.
        .credentials(Credentials::from_webhook_url(
            "http://hooks:s3cret@127.0.0.1:3000/webhooks",
        )?)
        .fetcher(api)
        .on(
            EventType::TransactionCaptured,
            "fulfil-order",
            |ctx: EventContext| async move {
                println!("captured: {:?}", ctx.transaction().map(|t| &t.id));
                Ok::<_, HandlerError>(())
            },
        )
        .build()?;
    // Answers every path: route to it from your own service for /webhooks.
    let service = WebhookService::new(receiver);

    // A listen backlog of 1,024, for bursts of new connections.
    let listener = smart_router_webhooks::adapters::bind(([127, 0, 0, 1], 3000).into())?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                eprintln!("connection error: {e}");
            }
        });
    }
}
