//! The demo's story, also run by `tests/demo.rs`, which checks its summary.
//!
//! Everything runs on loopback: a mock Smart Router API, a receiver served
//! by axum, and a sender that delivers like Smart Router does.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::testing::{Failure, MockApi, Sender};
use smart_router_webhooks::{
    Credentials, DeliveryReport, Event, EventContext, EventId, EventType, HandlerError, Outcome,
    Receiver, ReceiverBuilder, Timestamp, Transaction, TransactionId, TransactionStatus,
    Transition, TransitionFilter,
};

/// What the demo keeps of each delivery's report.
struct Seen {
    outcome: Outcome,
    fetch_error: Option<String>,
    handlers: Vec<String>,
    transaction_id: Option<TransactionId>,
    transition: Option<Transition>,
    stale: bool,
    fell_back: bool,
}

impl Seen {
    fn of(report: &DeliveryReport) -> Seen {
        Seen {
            outcome: report.outcome,
            fetch_error: report.fetch_error.as_ref().map(ToString::to_string),
            handlers: report.handlers.iter().map(|h| h.name.clone()).collect(),
            transaction_id: report.transaction_id.clone(),
            transition: report.tracking.transition.clone(),
            stale: report.tracking.stale,
            fell_back: report.fell_back,
        }
    }
}

/// What the story did, in figures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Deliveries the sender made (each with its retries).
    pub deliveries: usize,
    /// HTTP requests the sender made, retries included.
    pub attempts: usize,
    /// Deliveries acknowledged with a 2xx.
    pub acknowledged: usize,
    /// Events handed to handlers.
    pub processed: usize,
    /// Duplicate deliveries answered without a fetch.
    pub duplicates: usize,
    /// Deliveries refused before any fetch (credentials…).
    pub refused: usize,
    /// Fetches the receiver made from the API.
    pub fetches: usize,
    /// Transaction status changes seen.
    pub transitions: usize,
    /// Events older than what was already known for their transaction.
    pub stale: usize,
    /// Events no handler took (the fallback ran).
    pub unhandled: usize,
    /// Runs of each handler.
    pub handler_runs: BTreeMap<String, usize>,
}

/// Where the receiver listens.
pub(crate) const PATH: &str = "/webhooks/smart-router";
const HOUR: i128 = 3_600_000_000_000;
pub(crate) const MINUTE: i128 = 60_000_000_000;
const DAY: i128 = 24 * HOUR;
/// 2 November 2026, 10:00 UTC.
const START: i128 = 1_793_613_600_000_000_000;

#[allow(clippy::expect_used)] // the story's IDs and amounts are fixed, valid literals
pub(crate) fn event(
    id: &str,
    name: EventType,
    transaction: &str,
    status: TransactionStatus,
    at: i128,
) -> Event {
    let mut event = Event::new(EventId::parse(id).expect("a valid ID"), name);
    event.fired_at = Some(Timestamp::from_unix_nanos(START + at));
    let mut tx = Transaction::new(
        TransactionId::parse(transaction).expect("a valid ID"),
        status,
    );
    tx.amount = Some("49.90".parse().expect("an amount"));
    tx.currency = Some("EUR".into());
    event.data.transaction = Some(tx);
    event
}

pub(crate) fn count(
    runs: &Arc<Mutex<BTreeMap<String, usize>>>,
    name: &'static str,
) -> impl smart_router_webhooks::Handler {
    let runs = runs.clone();
    move |_: EventContext| {
        *runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default() += 1;
        async { Ok::<_, HandlerError>(()) }
    }
}

/// The shop's side of a chapter: a mock API, the address its receiver
/// listens on, and the runs of its handlers.
pub(crate) struct Shop {
    pub(crate) api: MockApi,
    pub(crate) listener: tokio::net::TcpListener,
    pub(crate) webhook_url: String,
    pub(crate) runs: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Shop {
    pub(crate) async fn open() -> Result<Shop, Box<dyn Error + Send + Sync>> {
        let api = MockApi::start().await;
        let listener = smart_router_webhooks::adapters::bind(([127, 0, 0, 1], 0).into())?;
        let webhook_url = format!(
            "http://shop:s3cret@{}/webhooks/smart-router",
            listener.local_addr()?
        );
        Ok(Shop {
            api,
            listener,
            webhook_url,
            runs: Arc::default(),
        })
    }

    /// A receiver of the shop's deliveries with its two main handlers:
    /// `fulfil-order` for captures, `ledger` for every transaction event.
    pub(crate) fn receiver(&self) -> Result<ReceiverBuilder, Box<dyn Error + Send + Sync>> {
        Ok(Receiver::builder()
            .credentials(Credentials::from_webhook_url(&self.webhook_url)?)
            .fetcher(self.api.client_builder().build()?)
            .on(
                EventType::TransactionCaptured,
                "fulfil-order",
                count(&self.runs, "fulfil-order"),
            )
            .on_prefix("transaction.", "ledger", count(&self.runs, "ledger")))
    }
}

/// Plays the story, writing the timeline to `out`.
pub async fn run(out: &mut (dyn Write + Send)) -> Result<Summary, Box<dyn Error + Send + Sync>> {
    use EventType as T;
    use TransactionStatus as S;

    let shop = Shop::open().await?;
    let reports: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let receiver = shop
        .receiver()?
        .on_transition(
            TransitionFilter::Between(S::Pending, S::Completed),
            "apm-settled",
            count(&shop.runs, "apm-settled"),
        )
        .on_transition(
            TransitionFilter::To(S::ChargebackInitiated),
            "dispute-desk",
            count(&shop.runs, "dispute-desk"),
        )
        .fallback("unhandled-log", count(&shop.runs, "unhandled-log"))
        .observer({
            let reports = reports.clone();
            move |report: &DeliveryReport| {
                reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Seen::of(report));
            }
        })
        .build()?;
    let Shop {
        api,
        listener,
        webhook_url,
        runs,
    } = shop;
    let server =
        tokio::spawn(
            async move { axum::serve(listener, webhook_router::<()>(PATH, receiver)).await },
        );

    let sender = Sender::new(&webhook_url)?.backoff(Duration::from_millis(50), 5);
    let impostor = Sender::new(&webhook_url.replace("s3cret", "guess"))?.backoff(Duration::ZERO, 1);
    let mut summary = Summary::default();

    let story: Vec<(&str, Event, Option<&Sender>)> = vec![
        (
            "A card payment is authorized",
            event(
                "ev_card_auth",
                T::TransactionAuthorized,
                "tr_card",
                S::Authorized,
                0,
            ),
            None,
        ),
        (
            "…and captured two minutes later",
            event(
                "ev_card_capture",
                T::TransactionCaptured,
                "tr_card",
                S::Completed,
                2 * MINUTE,
            ),
            None,
        ),
        (
            "A PayPal payment waits for PayPal",
            event(
                "ev_paypal_pending",
                T::TransactionRequested,
                "tr_paypal",
                S::Pending,
                5 * MINUTE,
            ),
            None,
        ),
        (
            "…and settles minutes later",
            event(
                "ev_paypal_settled",
                T::TransactionCaptured,
                "tr_paypal",
                S::Completed,
                12 * MINUTE,
            ),
            None,
        ),
        (
            "The card capture is delivered again",
            event(
                "ev_card_capture",
                T::TransactionCaptured,
                "tr_card",
                S::Completed,
                2 * MINUTE,
            ),
            None,
        ),
        (
            "A refund arrives before its capture",
            event(
                "ev_shoes_refund",
                T::TransactionRefunded,
                "tr_shoes",
                S::Refunded,
                HOUR,
            ),
            None,
        ),
        (
            "…and then the capture, late",
            event(
                "ev_shoes_capture",
                T::TransactionCaptured,
                "tr_shoes",
                S::Completed,
                30 * MINUTE,
            ),
            None,
        ),
        (
            "Someone posts with a guessed password",
            event(
                "ev_forged",
                T::TransactionCaptured,
                "tr_card",
                S::Completed,
                HOUR,
            ),
            Some(&impostor),
        ),
        (
            "An event type this crate does not know",
            Event::new(EventId::parse("ev_payout")?, T::from("payout.created")),
            None,
        ),
        (
            "The API fails once, the sender retries",
            event(
                "ev_gift_capture",
                T::TransactionCaptured,
                "tr_gift",
                S::Completed,
                3 * HOUR,
            ),
            None,
        ),
        (
            "Three weeks later: a chargeback",
            event(
                "ev_card_dispute",
                T::TransactionChargebackCreated,
                "tr_card",
                S::ChargebackInitiated,
                21 * DAY,
            ),
            None,
        ),
        (
            "…which the merchant wins",
            event(
                "ev_card_won",
                T::TransactionChargebackWon,
                "tr_card",
                S::Solved,
                35 * DAY,
            ),
            None,
        ),
    ];

    writeln!(
        out,
        "Smart Router webhooks: a payment story, delivered to {PATH}\n"
    )?;
    for (title, ev, who) in story {
        let forged = who.is_some();
        if !forged {
            api.add_event(ev.clone());
        }
        if ev.id.as_str() == "ev_gift_capture" {
            api.fail_next(
                1,
                Failure::Unavailable {
                    retry_after: Some(1),
                },
            );
        }
        let seen = reports.lock().unwrap_or_else(|e| e.into_inner()).len();
        let delivery = who.unwrap_or(&sender).deliver(&ev.id, Some(&ev.name)).await;
        summary.deliveries += 1;
        summary.attempts += delivery.attempts.len();
        summary.acknowledged += usize::from(delivery.delivered());

        writeln!(out, "{title}")?;
        writeln!(
            out,
            "  POST {{\"event_id\":\"{}\",\"event_type\":\"{}\"}}",
            ev.id, ev.name
        )?;
        let new_reports: Vec<Seen> = reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(seen..)
            .collect();
        for (attempt, report) in delivery.attempts.iter().zip(&new_reports) {
            let status = attempt
                .status
                .map_or("no answer".to_owned(), |s| s.as_u16().to_string());
            let mut line = format!("  attempt {}: {status} {}", attempt.number, report.outcome);
            if let Some(error) = &report.fetch_error {
                line.push_str(&format!(" ({error})"));
            }
            writeln!(out, "{line}")?;
            match report.outcome {
                Outcome::Processed => summary.processed += 1,
                Outcome::Duplicate => summary.duplicates += 1,
                o if o.is_rejection() => summary.refused += 1,
                _ => {}
            }
            if report.outcome != Outcome::Processed {
                continue;
            }
            let ran: Vec<&str> = report.handlers.iter().map(String::as_str).collect();
            writeln!(
                out,
                "    handlers: {}",
                if ran.is_empty() {
                    "none".to_owned()
                } else {
                    ran.join(", ")
                }
            )?;
            if let (Some(tx), Some(t)) = (&report.transaction_id, &report.transition) {
                let from = t.from.as_ref().map_or("(first seen)", |f| f.as_str());
                let flag = if t.expected { "" } else { "  [unexpected]" };
                writeln!(out, "    {tx}: {from} → {}{flag}", t.to)?;
                summary.transitions += 1;
            }
            if report.stale {
                writeln!(
                    out,
                    "    stale: a newer event of this transaction was already applied; nothing moves back"
                )?;
                summary.stale += 1;
            }
            if report.fell_back {
                summary.unhandled += 1;
            }
        }
        writeln!(out)?;
    }
    summary.fetches = api.total_requests();
    summary.handler_runs = runs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    server.abort();

    writeln!(out, "Summary")?;
    writeln!(
        out,
        "  deliveries {}, HTTP attempts {}, acknowledged {}",
        summary.deliveries, summary.attempts, summary.acknowledged
    )?;
    writeln!(
        out,
        "  processed {}, duplicates {}, refused {}, fetches from the API {}",
        summary.processed, summary.duplicates, summary.refused, summary.fetches
    )?;
    writeln!(
        out,
        "  status changes {}, stale events {}, events no handler took {}",
        summary.transitions, summary.stale, summary.unhandled
    )?;
    writeln!(out, "  handler runs: {}", runs_line(&summary.handler_runs))?;
    Ok(summary)
}

/// `name count, …` for each handler.
pub(crate) fn runs_line(runs: &BTreeMap<String, usize>) -> String {
    let runs: Vec<String> = runs.iter().map(|(h, n)| format!("{h} {n}")).collect();
    runs.join(", ")
}
