//! SMART_ROUTER_PROJECT_ID=proj_… SMART_ROUTER_PRIVATE_KEY=key_… cargo run --example axum
//!
//! The smallest axum integration: merge the webhook's router into your app.

use std::error::Error;

use smart_router_webhooks::adapters::axum::webhook_router;
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

    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(webhook_router("/webhooks", receiver));
    // A listen backlog of 1,024, for bursts of new connections.
    let listener = smart_router_webhooks::adapters::bind(([127, 0, 0, 1], 3000).into())?;
    axum::serve(listener, app).await?;
    Ok(())
}
