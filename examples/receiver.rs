//! SMART_ROUTER_WEBHOOK_URL='http://hooks:s3cret@127.0.0.1:8080/webhooks/smart-router' SMART_ROUTER_PROJECT_ID=proj_… SMART_ROUTER_PRIVATE_KEY=key_… cargo run --example receiver
//!
//! A ready receiver (axum + reqwest), configured by environment, to run
//! and adapt. Add `--features redis` and set `REDIS_URL` to share claims
//! and transaction statuses between several copies of it.
//!
//! | variable | |
//! |---|---|
//! | `SMART_ROUTER_WEBHOOK_URL` | required: the URL configured in the Dashboard; the receiver serves `POST` on its path and accepts the credentials in its userinfo |
//! | `SMART_ROUTER_WEBHOOK_URL_PREVIOUS` | optional: a second URL whose credentials are accepted too, while rotating |
//! | `SMART_ROUTER_PROJECT_ID`, `SMART_ROUTER_PRIVATE_KEY` | required: the API credentials |
//! | `SMART_ROUTER_API_URL` | optional: the API's base URL (default the real API) |
//! | `LISTEN_ADDR` | optional: default `127.0.0.1:8080`; port 0 picks a free port |
//! | `REDIS_URL` | optional (feature `redis`): keep claims and statuses in Redis |
//!
//! stdout is JSON lines: `{"listening":"<addr>"}` once connections are
//! accepted, then one line per event given to the handlers. Diagnostics go
//! to stderr. A missing or invalid variable: a one-line error naming it,
//! exit code 2.

use std::net::SocketAddr;
use std::process::ExitCode;

use serde_json::json;
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::{
    ApiClient, BasicAuth, Credentials, DeliveryReport, EventContext, HandlerError, Receiver,
};

/// A configuration error: the variable and what is wrong with it.
struct ConfigError(&'static str, String);

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError(name, "is not set".into()))
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Prints what the handlers were given: one JSON line per event.
async fn print_event(ctx: EventContext) -> Result<(), HandlerError> {
    let transaction = ctx.transaction();
    let line = json!({
        "event_id": ctx.event().id,
        "event_type": ctx.event().name,
        "transaction_id": transaction.map(|t| &t.id),
        "status": transaction.map(|t| &t.status),
        "transition": ctx.transition().map(|t| json!({"from": t.from, "to": t.to, "expected": t.expected})),
        "stale": ctx.is_stale(),
    });
    println!("{line}");
    Ok(())
}

/// Reports each delivery on stderr, never with a credential.
fn log_delivery(report: &DeliveryReport) {
    let event = report.event_id.as_ref().map_or("-", |id| id.as_str());
    let mut line = format!("{} {} {event}", report.status.as_u16(), report.outcome);
    if let Some(error) = &report.fetch_error {
        line.push_str(&format!(" fetch: {error}"));
    }
    if let Some(error) = &report.store_error {
        line.push_str(&format!(" store: {error}"));
    }
    for (handler, error) in report.failures() {
        line.push_str(&format!(" handler {handler}: {error}"));
    }
    eprintln!("{line}");
}

async fn build(webhook_url: &str) -> Result<(Receiver, String, SocketAddr), ConfigError> {
    let url_error =
        |name, e: smart_router_webhooks::Error| ConfigError(name, e.message().to_owned());
    let mut auth = BasicAuth::new(
        Credentials::from_webhook_url(webhook_url)
            .map_err(|e| url_error("SMART_ROUTER_WEBHOOK_URL", e))?,
    );
    if let Some(previous) = optional("SMART_ROUTER_WEBHOOK_URL_PREVIOUS") {
        auth = auth.with(
            Credentials::from_webhook_url(&previous)
                .map_err(|e| url_error("SMART_ROUTER_WEBHOOK_URL_PREVIOUS", e))?,
        );
    }
    let path = url::Url::parse(webhook_url)
        .map_err(|e| ConfigError("SMART_ROUTER_WEBHOOK_URL", e.to_string()))?
        .path()
        .to_owned();

    let mut api = ApiClient::builder(
        var("SMART_ROUTER_PROJECT_ID")?,
        var("SMART_ROUTER_PRIVATE_KEY")?,
    );
    if let Some(api_url) = optional("SMART_ROUTER_API_URL") {
        api = api.base_url(api_url);
    }
    let api = api
        .build()
        .map_err(|e| ConfigError("SMART_ROUTER_API_URL", e.message().to_owned()))?;

    let listen = optional("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        ConfigError(
            "LISTEN_ADDR",
            format!("{listen:?} is not an address such as 127.0.0.1:8080"),
        )
    })?;

    let builder = Receiver::builder()
        .credentials(auth)
        .fetcher(api)
        .on_every_event("print-event", print_event)
        .observer(log_delivery);
    let builder = with_stores(builder).await?;
    let receiver = builder
        .build()
        .map_err(|e| ConfigError("SMART_ROUTER_WEBHOOK_URL", e.message().to_owned()))?;
    Ok((receiver, path, listen))
}

#[cfg(feature = "redis")]
async fn with_stores(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<smart_router_webhooks::ReceiverBuilder, ConfigError> {
    let Some(url) = optional("REDIS_URL") else {
        return Ok(builder);
    };
    let stores = smart_router_webhooks::RedisStoreBuilder::new(url)
        .build()
        .await
        .map_err(|e| ConfigError("REDIS_URL", e.to_string()))?;
    eprintln!("claims and transaction statuses are kept in Redis");
    Ok(builder
        .claim_store(stores.claim_store())
        .transaction_store(stores.transaction_store()))
}

#[cfg(not(feature = "redis"))]
async fn with_stores(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<smart_router_webhooks::ReceiverBuilder, ConfigError> {
    match optional("REDIS_URL") {
        Some(_) => Err(ConfigError(
            "REDIS_URL",
            "needs the example built with --features redis".into(),
        )),
        None => Ok(builder),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let configured = match var("SMART_ROUTER_WEBHOOK_URL") {
        Ok(url) => build(&url).await,
        Err(e) => Err(e),
    };
    let (receiver, path, listen) = match configured {
        Ok(configured) => configured,
        Err(ConfigError(name, problem)) => {
            eprintln!("configuration error: {name} {problem}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("configuration error: LISTEN_ADDR cannot be bound: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    println!("{}", json!({ "listening": addr }));
    eprintln!("serving POST {path} on {addr}");
    match axum::serve(listener, webhook_router::<()>(&path, receiver)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
