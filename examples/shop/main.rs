//! SMART_ROUTER_WEBHOOK_URL='http://hooks:s3cret@127.0.0.1:8080/webhooks/smart-router' SMART_ROUTER_PROJECT_ID=test-proj_mock SMART_ROUTER_PRIVATE_KEY=key_sandbox_mock SMART_ROUTER_API_URL=http://127.0.0.1:9090 cargo run --example shop
//!
//! A small shop: an axum app with an in-memory order book, kept in step
//! with its payments by Smart Router's webhooks (a capture ships the order
//! once, a refund records how much, a chargeback flags a dispute). Run it
//! against the mock API (`MOCK_API_ADDR=127.0.0.1:9090 cargo run --example
//! mock_api`), which serves the payment of invoice `iv_demo`:
//!
//! ```sh
//! curl -X POST -d 25.00 http://127.0.0.1:8080/orders/iv_demo    # open the order
//! curl -u hooks:s3cret -d '{"event_id":"ev_demo_captured"}' http://127.0.0.1:8080/webhooks/smart-router
//! curl http://127.0.0.1:8080/orders/iv_demo                      # paid, shipped once
//! ```
//!
//! Its tests (`tests/shop.rs`) use only the crate's public test kit.
//!
//! | variable | |
//! |---|---|
//! | `SMART_ROUTER_WEBHOOK_URL` | required: the URL configured in the Dashboard (credentials and path) |
//! | `SMART_ROUTER_PROJECT_ID`, `SMART_ROUTER_PRIVATE_KEY` | required: the API credentials |
//! | `SMART_ROUTER_API_URL` | optional: the API's base URL (default the real API) |
//! | `LISTEN_ADDR` | optional: default `127.0.0.1:8080` |

mod shop;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::{ApiClient, WebhookUrl};

use shop::OrderBook;

/// `POST /orders/{invoice_id}` with the amount as body: opens an order.
async fn open_order(
    State(book): State<OrderBook>,
    Path(invoice_id): Path<String>,
    amount: String,
) -> StatusCode {
    match book.open(&invoice_id, amount.trim()) {
        Ok(()) => StatusCode::CREATED,
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// `GET /orders/{invoice_id}`: the order as JSON.
async fn show_order(
    State(book): State<OrderBook>,
    Path(invoice_id): Path<String>,
) -> (StatusCode, String) {
    match book.order(&invoice_id) {
        Some(order) => (
            StatusCode::OK,
            serde_json::json!({"order": order, "kept": order.kept()}).to_string(),
        ),
        None => (StatusCode::NOT_FOUND, "no such order".into()),
    }
}

/// `PUT /book/closed` with `true` or `false`: closes the order book to
/// writes ("the database is down"), so that deliveries are answered 500
/// and retried, until it is opened again.
async fn close_book(State(book): State<OrderBook>, closed: String) -> StatusCode {
    match closed.trim().parse() {
        Ok(closed) => {
            book.set_closed(closed);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let webhook = WebhookUrl::parse(&var("SMART_ROUTER_WEBHOOK_URL")?)?;
    let mut api = ApiClient::builder(
        var("SMART_ROUTER_PROJECT_ID")?,
        var("SMART_ROUTER_PRIVATE_KEY")?,
    );
    if let Ok(url) = var("SMART_ROUTER_API_URL") {
        api = api.base_url(url);
    }
    let book = OrderBook::default();
    let receiver = shop::receiver(&book, webhook.credentials().clone(), api.build()?)?;
    let app = axum::Router::new()
        .route("/orders/{invoice_id}", get(show_order).post(open_order))
        .route("/book/closed", put(close_book))
        .with_state(book)
        .merge(webhook_router(webhook.path(), receiver));
    let listen = var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("the shop listens on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
