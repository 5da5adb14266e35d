//! The demo's inbox chapter, also run by `tests/demo.rs`: acknowledge at
//! once, process with workers, set a failing event aside and replay it.
//!
//! The receiver runs in inbox mode: a capture whose `ship-parcel` handler
//! takes a second is answered 202 before the handler even ends, and a
//! worker processes it. A refund whose ERP is down fails every attempt of
//! the retry policy and lands in the dead-letter list with its error;
//! once the ERP is back, replaying it runs what had not succeeded, and
//! nothing else again.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::inbox::{Decision, Inbox, InboxRun, MemoryInbox, RetryPolicy, Workers};
use smart_router_webhooks::testing::Sender;
use smart_router_webhooks::{EventContext, EventType, HandlerError, TransactionStatus};

use crate::scenario::{MINUTE, PATH, Shop, event, runs_line};

/// What the chapter did, in figures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InboxChapter {
    /// Deliveries answered 202 (queued).
    pub queued: usize,
    /// Whether the slow capture was answered before its handler ended.
    pub answered_before_the_handler: bool,
    /// The attempts of the refund before it was dead-lettered.
    pub dead_letter_attempts: u32,
    /// Dead letters left at the end.
    pub dead_letters_left: usize,
    /// Runs of each handler (failed ones included).
    pub handler_runs: BTreeMap<String, usize>,
}

/// Plays the chapter, writing its timeline to `out`.
pub async fn run(
    out: &mut (dyn Write + Send),
) -> Result<InboxChapter, Box<dyn Error + Send + Sync>> {
    let shop = Shop::open().await?;
    let capture = event(
        "ev_parcel_capture",
        EventType::TransactionCaptured,
        "tr_parcel",
        TransactionStatus::Completed,
        0,
    );
    let refund = event(
        "ev_parcel_refund",
        EventType::TransactionRefunded,
        "tr_parcel",
        TransactionStatus::Refunded,
        30 * MINUTE,
    );
    shop.api.add_event(capture.clone());
    shop.api.add_event(refund.clone());

    let shipped = Arc::new(AtomicBool::new(false));
    let erp_up = Arc::new(AtomicBool::new(false));
    let erp_calls = Arc::new(AtomicUsize::new(0));
    let inbox = Arc::new(MemoryInbox::default());
    let receiver = shop
        .receiver()?
        .inbox(inbox.clone())
        .on(EventType::TransactionCaptured, "ship-parcel", {
            let shipped = shipped.clone();
            move |_: EventContext| {
                let shipped = shipped.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    shipped.store(true, Ordering::SeqCst);
                    Ok::<_, HandlerError>(())
                }
            }
        })
        .on(EventType::TransactionRefunded, "erp-sync", {
            let (erp_up, erp_calls) = (erp_up.clone(), erp_calls.clone());
            move |_: EventContext| {
                erp_calls.fetch_add(1, Ordering::SeqCst);
                let up = erp_up.load(Ordering::SeqCst);
                async move {
                    match up {
                        true => Ok(()),
                        false => Err(HandlerError::retry("the ERP answered 502")),
                    }
                }
            }
        })
        .build()?;
    let app = webhook_router::<()>(PATH, receiver.clone());
    let listener = shop.listener;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let decisions: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers = Workers::builder(receiver)
        .count(2)
        .poll_interval(Duration::from_millis(20))
        .retry(
            RetryPolicy::new()
                .first_delay(Duration::from_millis(50))
                .max_attempts(3),
        )
        .observer({
            let decisions = decisions.clone();
            move |run: &InboxRun| {
                let line = match run.decision {
                    Decision::Acknowledged => format!("{}: processed", run.item.event_id),
                    Decision::Retry { attempts, .. } => {
                        format!(
                            "{}: attempt {attempts} failed, retried later",
                            run.item.event_id
                        )
                    }
                    Decision::DeadLettered { attempts } => format!(
                        "{}: attempt {attempts} failed, dead-lettered",
                        run.item.event_id
                    ),
                    _ => format!("{}: left for another worker", run.item.event_id),
                };
                decisions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
            }
        })
        .spawn()?;
    let sender = Sender::new(&shop.webhook_url)?;
    let mut summary = InboxChapter::default();

    writeln!(
        out,
        "\n== Inbox mode: acknowledge at once, process with workers"
    )?;
    let delivery = sender.deliver(&capture.id, Some(&capture.name)).await;
    summary.answered_before_the_handler = !shipped.load(Ordering::SeqCst);
    let status = delivery.last_status().map_or(0, |s| s.as_u16());
    summary.queued += usize::from(status == 202);
    writeln!(
        out,
        "{}: answered {status} at once; ship-parcel (1 s) still to run",
        capture.id
    )?;
    wait_until(async || inbox.depth().await.is_ok_and(|d| d.items == 0)).await?;
    writeln!(
        out,
        "{}: a worker ran ship-parcel, fulfil-order, ledger",
        capture.id
    )?;

    let delivery = sender.deliver(&refund.id, Some(&refund.name)).await;
    let status = delivery.last_status().map_or(0, |s| s.as_u16());
    summary.queued += usize::from(status == 202);
    writeln!(out, "{}: answered {status}; the ERP is down", refund.id)?;
    wait_until(async || inbox.depth().await.is_ok_and(|d| d.dead_letters == 1)).await?;
    for line in decisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        if line.starts_with(refund.id.as_str()) {
            writeln!(out, "  {line}")?;
        }
    }
    for letter in inbox.dead_letters(10).await? {
        summary.dead_letter_attempts = letter.attempts;
        writeln!(
            out,
            "dead letter: {} after {} attempts: {:#}",
            letter.event_id, letter.attempts, letter.error
        )?;
    }

    erp_up.store(true, Ordering::SeqCst);
    inbox.replay(&refund.id).await?;
    writeln!(out, "the ERP is back: {} replayed", refund.id)?;
    wait_until(async || {
        inbox
            .depth()
            .await
            .is_ok_and(|d| d.items == 0 && d.dead_letters == 0)
    })
    .await?;
    writeln!(
        out,
        "{}: processed, erp-sync ran; ledger not run again",
        refund.id
    )?;
    workers.shutdown(Duration::from_secs(5)).await;
    server.abort();

    summary.dead_letters_left = inbox.depth().await?.dead_letters;
    let mut runs = shop.runs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    runs.insert(
        "ship-parcel".into(),
        usize::from(shipped.load(Ordering::SeqCst)),
    );
    runs.insert("erp-sync".into(), erp_calls.load(Ordering::SeqCst));
    writeln!(out, "  handler runs: {}", runs_line(&runs))?;
    summary.handler_runs = runs;
    Ok(summary)
}

/// Waits until `done` holds, for at most 20 s.
async fn wait_until(
    mut done: impl AsyncFnMut() -> bool,
) -> Result<(), Box<dyn Error + Send + Sync>> {
    for _ in 0..1000 {
        if done().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("the workers did not finish within 20 s".into())
}
