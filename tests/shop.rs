//! The shop of `examples/shop`, tested as its author would: with the
//! crate's public test kit only (mock API, fixture builders, in-process
//! deliveries, a test server and a sender).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/shop/shop.rs"]
#[allow(dead_code)]
mod shop;

use shop::{OrderBook, OrderStatus};
use smart_router_webhooks::TransactionStatus::{ChargebackInitiated, Completed, Refunded};
use smart_router_webhooks::testing::{MockApi, TestServer, TransactionBuilder, deliver};
use smart_router_webhooks::{Credentials, Outcome, Receiver};

/// The mock API, an order book with one order of 10.00 (invoice `iv_1`),
/// and the shop's receiver.
async fn shop() -> (MockApi, OrderBook, Receiver) {
    let api = MockApi::start().await;
    let book = OrderBook::default();
    book.open("iv_1", "10.00").unwrap();
    let credentials = Credentials::new("hooks", "s3cret").unwrap();
    let receiver = shop::receiver(&book, credentials, api.client_builder().build().unwrap());
    (api, book, receiver.unwrap())
}

/// The payment of `iv_1` at `status`, at minute `minute` of the day.
fn payment(status: smart_router_webhooks::TransactionStatus, minute: u32) -> TransactionBuilder {
    let at = format!("2024-05-01T12:{minute:02}:00Z");
    TransactionBuilder::new("tr_1")
        .invoice("iv_1")
        .amount("10.00")
        .status(status)
        .at(&at)
}

#[tokio::test]
async fn a_capture_ships_the_order() {
    let (api, book, receiver) = shop().await;
    api.add_event(payment(Completed, 0).event("ev_capture"));
    assert_eq!(
        deliver(&receiver, "ev_capture").await.outcome,
        Outcome::Processed
    );
    let order = book.order("iv_1").unwrap();
    assert_eq!((order.status, order.shipments), (OrderStatus::Paid, 1));
}

#[tokio::test]
async fn a_duplicate_delivery_ships_once() {
    let (api, book, receiver) = shop().await;
    api.add_event(payment(Completed, 0).event("ev_capture"));
    deliver(&receiver, "ev_capture").await;
    assert_eq!(
        deliver(&receiver, "ev_capture").await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(book.order("iv_1").unwrap().shipments, 1);
}

#[tokio::test]
async fn a_refund_delivered_before_its_capture_leaves_the_order_refunded_unshipped() {
    let (api, book, receiver) = shop().await;
    api.add_event(payment(Completed, 0).event("ev_capture"));
    api.add_event(payment(Refunded, 5).refunded("4.00").event("ev_refund"));
    deliver(&receiver, "ev_refund").await;
    let late = deliver(&receiver, "ev_capture").await;
    assert!(late.tracking.stale && late.handlers.is_empty());
    let order = book.order("iv_1").unwrap();
    assert_eq!((order.status, order.shipments), (OrderStatus::Refunded, 0));
    assert_eq!(order.kept().as_str(), "6.00");
}

#[tokio::test]
async fn a_chargeback_opens_a_dispute() {
    let (api, book, receiver) = shop().await;
    api.add_event(payment(Completed, 0).event("ev_capture"));
    api.add_event(payment(ChargebackInitiated, 9).event("ev_dispute"));
    deliver(&receiver, "ev_capture").await;
    deliver(&receiver, "ev_dispute").await;
    assert_eq!(book.order("iv_1").unwrap().status, OrderStatus::Disputed);
}

#[tokio::test]
async fn a_payment_for_no_order_is_acknowledged_and_reported_not_retried() {
    let (api, _, receiver) = shop().await;
    let unknown = payment(Completed, 0).invoice("iv_unknown");
    api.add_event(unknown.event("ev_capture"));
    let report = deliver(&receiver, "ev_capture").await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert!(!report.will_be_retried());
    let (handler, error) = report.failures().next().unwrap();
    assert_eq!(handler, "ship-order");
    let expected = "permanent handler failure: no order for invoice iv_unknown";
    assert_eq!(format!("{error:#}"), expected);
}

#[tokio::test]
async fn a_closed_book_is_retried_over_http_until_it_opens() {
    let (api, book, receiver) = shop().await;
    api.add_event(payment(Completed, 0).event("ev_capture"));
    let server = TestServer::start(receiver).await.unwrap();
    book.set_closed(true);
    let sender = server
        .sender()
        .backoff(std::time::Duration::from_millis(50), 1);
    let id = "ev_capture".parse().unwrap();
    assert_eq!(sender.deliver(&id, None).await.last_status().unwrap(), 500);
    book.set_closed(false);
    assert!(sender.deliver(&id, None).await.delivered());
    assert_eq!(book.order("iv_1").unwrap().shipments, 1);
}
