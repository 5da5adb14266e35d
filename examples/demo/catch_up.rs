//! The demo's last chapter, also run by `tests/demo.rs`: the endpoint is
//! down past the sender's retries, then the reconciler catches up.
//!
//! A proxy in front of the receiver answers 503 for a while (the receiver
//! never sees those deliveries), the sender gives up on them as Smart
//! Router does after its retries, and a `Reconciler` then walks the API's
//! event list from before the outage: the missed events are processed,
//! those their webhook already processed are duplicates whose handlers do
//! not run again.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::reconcile::{Progress, Reconciler, StartFrom};
use smart_router_webhooks::testing::Sender;
use smart_router_webhooks::{EventType, Outcome, TransactionStatus};

use crate::scenario::{MINUTE, PATH, Shop, event, runs_line};

/// What the chapter did, in figures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Deliveries the receiver acknowledged.
    pub delivered: usize,
    /// Deliveries the sender gave up on, the endpoint being down.
    pub missed: usize,
    /// HTTP requests the sender made, retries included.
    pub attempts: usize,
    /// Events the reconciler saw in the list.
    pub seen: u64,
    /// Events whose handlers the reconciler ran (the webhook had not).
    pub caught_up: u64,
    /// Events the reconciler found already processed (no handler ran).
    pub already_done: u64,
    /// API requests of the reconciler's first run.
    pub requests: u64,
    /// API requests of a second run, with nothing new.
    pub idle_requests: u64,
    /// Runs of each handler, webhooks and reconciler together.
    pub handler_runs: BTreeMap<String, usize>,
}

/// Plays the chapter, writing its timeline to `out`.
pub async fn run(out: &mut (dyn Write + Send)) -> Result<CatchUp, Box<dyn Error + Send + Sync>> {
    use EventType as T;
    use TransactionStatus as S;

    let shop = Shop::open().await?;
    let receiver = shop.receiver()?.build()?;

    // A proxy in front of the receiver: while `down`, it answers 503 and
    // the receiver never sees the delivery.
    let down = Arc::new(AtomicBool::new(false));
    let proxy = {
        let down = down.clone();
        axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let down = down.load(Ordering::SeqCst);
                async move {
                    if down {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    next.run(request).await
                }
            },
        )
    };
    let app = webhook_router::<()>(PATH, receiver.clone()).layer(proxy);
    let server = tokio::spawn(async move { axum::serve(shop.listener, app).await });
    // Smart Router retries for about three days; this sender, three times.
    let sender = Sender::new(&shop.webhook_url)?.backoff(Duration::from_millis(20), 3);

    let story = [
        (
            false,
            event(
                "ev_mug_capture",
                T::TransactionCaptured,
                "tr_mug",
                S::Completed,
                40 * MINUTE,
            ),
        ),
        (
            true,
            event(
                "ev_lamp_capture",
                T::TransactionCaptured,
                "tr_lamp",
                S::Completed,
                41 * MINUTE,
            ),
        ),
        (
            true,
            event(
                "ev_mug_refund",
                T::TransactionRefunded,
                "tr_mug",
                S::Refunded,
                42 * MINUTE,
            ),
        ),
        (
            false,
            event(
                "ev_desk_capture",
                T::TransactionCaptured,
                "tr_desk",
                S::Completed,
                43 * MINUTE,
            ),
        ),
    ];

    let mut summary = CatchUp::default();
    writeln!(
        out,
        "Catching up: the endpoint is down past the sender's retries"
    )?;
    for (outage, ev) in &story {
        shop.api.add_event(ev.clone());
        down.store(*outage, Ordering::SeqCst);
        let delivery = sender.deliver(&ev.id, Some(&ev.name)).await;
        summary.attempts += delivery.attempts.len();
        let answers: Vec<String> = delivery
            .attempts
            .iter()
            .map(|a| {
                a.status
                    .map_or("no answer".to_owned(), |s| s.as_u16().to_string())
            })
            .collect();
        let verdict = if delivery.delivered() {
            summary.delivered += 1;
            "delivered"
        } else {
            summary.missed += 1;
            "the sender gives up: missed for good"
        };
        writeln!(
            out,
            "  {} ({}): answered {}; {verdict}",
            ev.id,
            ev.name,
            answers.join(", ")
        )?;
    }
    down.store(false, Ordering::SeqCst);

    writeln!(
        out,
        "The reconciler walks the event list from the last event before the outage"
    )?;
    let walked: Arc<Mutex<Vec<String>>> = Arc::default();
    let reconciler = Reconciler::builder(receiver, shop.api.client_builder().build()?)
        .start_from(StartFrom::Event(story[0].1.id.clone()))
        .requests_per_second(50.0)
        .observer({
            let walked = walked.clone();
            move |progress: &Progress<'_>| {
                if let Progress::Done { event, report, .. } = progress {
                    let line = match report.outcome {
                        Outcome::Duplicate => {
                            format!(
                                "  {}: already processed by its webhook; no handler runs again",
                                event.id
                            )
                        }
                        outcome => {
                            let ran: Vec<&str> =
                                report.handlers.iter().map(|h| h.name.as_str()).collect();
                            let mut line =
                                format!("  {}: {outcome}, handlers: {}", event.id, ran.join(", "));
                            if let (Some(tx), Some(t)) =
                                (&report.transaction_id, &report.tracking.transition)
                            {
                                let from = t.from.as_ref().map_or("(first seen)", |f| f.as_str());
                                line.push_str(&format!("; {tx}: {from} → {}", t.to));
                            }
                            line
                        }
                    };
                    walked.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            }
        })
        .build()?;
    let first = reconciler.run_once().await?;
    for line in walked.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        writeln!(out, "{line}")?;
    }
    let second = reconciler.run_once().await?;
    server.abort();

    summary.seen = first.events_seen;
    summary.caught_up = first.processed;
    summary.already_done = first.already_done;
    summary.requests = first.requests;
    summary.idle_requests = second.requests;
    summary.handler_runs = shop.runs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    writeln!(
        out,
        "  {} events seen, {} caught up, {} already done, {} API requests; the next run, with nothing new: {} request",
        summary.seen,
        summary.caught_up,
        summary.already_done,
        summary.requests,
        summary.idle_requests
    )?;
    writeln!(
        out,
        "  handler runs: {} (each event once)",
        runs_line(&summary.handler_runs)
    )?;
    Ok(summary)
}
