//! SMART_ROUTER_PROJECT_ID=proj_… SMART_ROUTER_PRIVATE_KEY=key_… cargo run --example actix
//!
//! The smallest actix-web integration: configure the webhook on your `App`.

use std::error::Error;

use actix_web::{App, HttpServer};
use smart_router_webhooks::adapters::actix::configure;
use smart_router_webhooks::{
    ApiClient, Credentials, EventContext, EventType, HandlerError, Receiver,
};

fn main() -> Result<(), Box<dyn Error>> {
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> Result<(), Box<dyn Error>> {
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

    HttpServer::new(move || App::new().configure(configure("/webhooks", receiver.clone())))
        // actix listens with a backlog of 2,048 by default; keep it at
        // 1,024 or more, for bursts of new connections.
        .backlog(2048)
        .bind(("127.0.0.1", 3000))?
        .run()
        .await?;
    Ok(())
}
