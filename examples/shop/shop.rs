//! The shop's side of Smart Router: an in-memory order book, and the
//! handlers that keep it in step with the payments.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use smart_router_webhooks::TransactionStatus::{ChargebackInitiated, Completed, Refunded};
use smart_router_webhooks::{
    Amount, Credentials, Error, EventContext, EventFetcher, HandlerError, Receiver, Transaction,
    TransitionFilter,
};

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for its payment.
    Open,
    /// Paid and shipped.
    Paid,
    /// Refunded, fully or partly.
    Refunded,
    /// The cardholder disputes the payment.
    Disputed,
}

/// One order, paid by the transactions of its invoice.
#[derive(Clone, Debug, Serialize)]
pub struct Order {
    /// Where it stands.
    pub status: OrderStatus,
    /// What the customer pays.
    pub amount: Amount,
    /// How much was refunded.
    pub refunded: Amount,
    /// How many times it was shipped: once, however often Smart Router
    /// delivers the capture.
    pub shipments: u32,
}

impl Order {
    /// What the shop keeps: captured minus refunded.
    pub fn kept(&self) -> Amount {
        &self.amount - &self.refunded
    }
}

/// The order book, by invoice ID: the state every handler shares.
#[derive(Clone, Default)]
pub struct OrderBook {
    orders: Arc<Mutex<HashMap<String, Order>>>,
    /// Whether the book can be written (false: "the database is down").
    closed: Arc<Mutex<bool>>,
}

/// Why the shop could not act on a payment event. The shop, not the
/// webhook library, decides which failures are worth a retry.
#[derive(Debug)]
pub enum ShopError {
    /// No order has this invoice: no retry will make one appear.
    UnknownOrder(String),
    /// The event carries no transaction, or one with no invoice.
    NotAnOrderPayment,
    /// The order book cannot be written right now.
    BookClosed,
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::UnknownOrder(invoice) => write!(f, "no order for invoice {invoice}"),
            ShopError::NotAnOrderPayment => f.write_str("the payment is for no invoice"),
            ShopError::BookClosed => f.write_str("the order book is closed"),
        }
    }
}

impl std::error::Error for ShopError {}

/// `?` on a `ShopError` in a handler: retry only what may mend.
impl From<ShopError> for HandlerError {
    fn from(error: ShopError) -> Self {
        match error {
            ShopError::BookClosed => HandlerError::retry(error),
            ShopError::UnknownOrder(_) | ShopError::NotAnOrderPayment => {
                HandlerError::permanent(error)
            }
        }
    }
}

impl OrderBook {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Order>> {
        self.orders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens an order of `amount` paid through invoice `invoice_id`.
    ///
    /// # Errors
    ///
    /// When `amount` is not a decimal amount.
    pub fn open(&self, invoice_id: &str, amount: &str) -> Result<(), Error> {
        let amount: Amount = amount.parse()?;
        let order = Order {
            status: OrderStatus::Open,
            refunded: Amount::zero(),
            amount,
            shipments: 0,
        };
        self.lock().insert(invoice_id.to_owned(), order);
        Ok(())
    }

    /// The order of `invoice_id`.
    pub fn order(&self, invoice_id: &str) -> Option<Order> {
        self.lock().get(invoice_id).cloned()
    }

    /// Closes (or opens again) the book to writes.
    pub fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = closed;
    }

    /// Changes the order paid by `transaction`.
    fn update(
        &self,
        transaction: Option<&Transaction>,
        change: impl FnOnce(&mut Order, &Transaction),
    ) -> Result<(), ShopError> {
        if *self.closed.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err(ShopError::BookClosed);
        }
        let transaction = transaction.ok_or(ShopError::NotAnOrderPayment)?;
        let invoice = transaction
            .invoice_id
            .as_deref()
            .ok_or(ShopError::NotAnOrderPayment)?;
        let mut orders = self.lock();
        let order = orders
            .get_mut(invoice)
            .ok_or_else(|| ShopError::UnknownOrder(invoice.to_owned()))?;
        change(order, transaction);
        Ok(())
    }
}

/// Paid: ship. A transition handler, so a stale capture (one delivered
/// after a newer refund) moves nothing and ships nothing.
async fn ship(ctx: EventContext) -> Result<(), HandlerError> {
    let book = ctx.state::<OrderBook>()?;
    book.update(ctx.transaction(), |order, _| {
        order.status = OrderStatus::Paid;
        order.shipments += 1;
    })?;
    Ok(())
}

/// Refunded: record how much, from the transaction's own total.
async fn record_refund(ctx: EventContext) -> Result<(), HandlerError> {
    let book = ctx.state::<OrderBook>()?;
    book.update(ctx.transaction(), |order, transaction| {
        order.status = OrderStatus::Refunded;
        if let Some(refunded) = &transaction.refunded_amount {
            order.refunded = refunded.clone();
        }
    })?;
    Ok(())
}

/// A dispute opened: flag the order.
async fn open_dispute(ctx: EventContext) -> Result<(), HandlerError> {
    let book = ctx.state::<OrderBook>()?;
    book.update(ctx.transaction(), |order, _| {
        order.status = OrderStatus::Disputed;
    })?;
    Ok(())
}

/// The shop's receiver: deliveries carrying `credentials`, events fetched
/// with `fetcher`, the order book shared with every handler.
///
/// # Errors
///
/// As [`ReceiverBuilder::build`](smart_router_webhooks::ReceiverBuilder::build).
pub fn receiver(
    book: &OrderBook,
    credentials: Credentials,
    fetcher: impl EventFetcher,
) -> Result<Receiver, Error> {
    Receiver::builder()
        .credentials(credentials)
        .fetcher(fetcher)
        .state(book.clone())
        .on_transition(TransitionFilter::To(Completed), "ship-order", ship)
        .on_transition(
            TransitionFilter::To(Refunded),
            "record-refund",
            record_refund,
        )
        .on_transition(
            TransitionFilter::To(ChargebackInitiated),
            "open-dispute",
            open_dispute,
        )
        .build()
}
