//! What inbox mode must do end to end, written once and run on each
//! backend: a receiver that queues, workers that process with the
//! receiver's pipeline, against the mock API on loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use smart_router_webhooks::inbox::{Decision, Enqueued, Inbox, RetryPolicy, Workers};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    ClaimStore, Event, EventContext, EventId, EventType, HandlerError, Outcome, Receiver,
    Transaction, TransactionId, TransactionStatus, TransactionStore,
};
use tokio::sync::Notify;

use super::deliveries::{credentials, delivery};
use super::inbox_contract::{LEASE, unique};
use super::instance::{Instance, OnHandle};

/// The claims' lease: a worker that died frees its event this long after
/// its last renewal.
pub const CLAIM_LEASE: Duration = Duration::from_millis(600);

/// What a backend gives a scenario: its stores and a fresh inbox whose
/// lease is [`LEASE`] (several calls may share one inbox by name).
pub struct Backend {
    pub claims: Arc<dyn ClaimStore>,
    pub transactions: Arc<dyn TransactionStore>,
    pub inbox: Arc<dyn Inbox>,
}

/// How each handler behaves, switchable during a test.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// How long a run takes.
    pub delay: Arc<Mutex<Duration>>,
    /// Whether a run fails (retryably).
    pub failing: Arc<AtomicBool>,
    /// Told when a run starts.
    pub started: Arc<Notify>,
}

/// (handler, event) → (runs, successes).
type Counts = HashMap<(&'static str, EventId), (usize, usize)>;

/// Runs and successes per (handler, event).
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<Counts>>);

impl Tally {
    pub fn runs(&self, name: &'static str, id: &EventId) -> usize {
        self.0
            .lock()
            .unwrap()
            .get(&(name, id.clone()))
            .map_or(0, |r| r.0)
    }

    pub fn successes(&self, name: &'static str, id: &EventId) -> usize {
        self.0
            .lock()
            .unwrap()
            .get(&(name, id.clone()))
            .map_or(0, |r| r.1)
    }

    /// A handler counting its runs, behaving as `behaviour` says.
    pub fn handler(
        &self,
        name: &'static str,
        behaviour: &Behaviour,
    ) -> impl smart_router_webhooks::Handler {
        let (tally, behaviour) = (self.clone(), behaviour.clone());
        move |ctx: EventContext| {
            let (tally, behaviour) = (tally.clone(), behaviour.clone());
            async move {
                let id = ctx.event().id.clone();
                tally
                    .0
                    .lock()
                    .unwrap()
                    .entry((name, id.clone()))
                    .or_default()
                    .0 += 1;
                behaviour.started.notify_one();
                let delay = *behaviour.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                if behaviour.failing.load(Ordering::SeqCst) {
                    return Err(HandlerError::retry(format!("{name} is failing")));
                }
                tally.0.lock().unwrap().entry((name, id)).or_default().1 += 1;
                Ok(())
            }
        }
    }
}

/// A captured-payment event of its own transaction, served by `api`.
pub fn captured(api: &MockApi) -> EventId {
    let id = EventId::parse(&unique("ev_inbox")).unwrap();
    let mut event = Event::new(id.clone(), EventType::TransactionCaptured);
    let transaction = TransactionId::parse(&unique("tr_inbox")).unwrap();
    event.data.transaction = Some(Transaction::new(transaction, TransactionStatus::Completed));
    api.add_event(event);
    id
}

/// A receiver in inbox mode on `backend`, with a slow-able `ledger`
/// handler and a quick `audit` one, on `runtime` if given.
pub fn receiver(
    api: &MockApi,
    backend: &Backend,
    tally: &Tally,
    ledger: &Behaviour,
    runtime: Option<OnHandle>,
) -> Receiver {
    let mut builder = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.client_builder().build().unwrap())
        .claim_store(backend.claims.clone())
        .transaction_store(backend.transactions.clone())
        .inbox(backend.inbox.clone())
        .lease(CLAIM_LEASE)
        .retry_after(Duration::from_millis(200))
        .on(
            EventType::TransactionCaptured,
            "ledger",
            tally.handler("ledger", ledger),
        )
        .on_every_event("audit", tally.handler("audit", &Behaviour::default()));
    if let Some(runtime) = runtime {
        builder = builder.runtime(runtime);
    }
    builder.build().unwrap()
}

/// Workers with quick retries.
pub fn workers(receiver: &Receiver, count: usize) -> Workers {
    Workers::builder(receiver.clone())
        .count(count)
        .poll_interval(Duration::from_millis(20))
        .retry(
            RetryPolicy::new()
                .first_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(100))
                .max_attempts(3),
        )
        .spawn()
        .unwrap()
}

/// Waits until `done` holds, failing after `limit` with `what`.
pub async fn eventually(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `id` ran to success with both handlers and the inbox is
/// empty.
pub async fn handled(tally: &Tally, inbox: &Arc<dyn Inbox>, id: &EventId) {
    eventually(
        Duration::from_secs(20),
        "the event is handled",
        async || {
            tally.successes("ledger", id) >= 1
                && tally.successes("audit", id) >= 1
                && inbox.depth().await.unwrap().items == 0
        },
    )
    .await;
}

/// A slow handler's delivery is acknowledged (202) long before the
/// handler ends, without a fetch; a duplicate is queued once; the worker
/// then runs each handler once, and a later duplicate changes nothing.
pub async fn a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_secs(2);
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let id = captured(&api);

    let started = Instant::now();
    let first = receiver.receive(delivery(&id)).await;
    let second = receiver.receive(delivery(&id)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered at once"
    );
    for report in [&first, &second] {
        assert_eq!(report.outcome, Outcome::Queued);
        assert_eq!(report.status, StatusCode::ACCEPTED);
        assert_eq!(report.event_id.as_ref(), Some(&id));
    }
    assert_eq!(first.enqueued, Some(Enqueued::Queued));
    assert_eq!(second.enqueued, Some(Enqueued::AlreadyQueued));
    assert_eq!(backend.inbox.depth().await.unwrap().items, 1);
    assert_eq!(api.total_requests(), 0, "no fetch during the request");

    let workers = workers(&receiver, 2);
    handled(&tally, &backend.inbox, &id).await;
    let again = receiver.receive(delivery(&id)).await;
    assert_eq!(again.outcome, Outcome::Queued);
    eventually(Duration::from_secs(5), "the late duplicate", async || {
        backend.inbox.depth().await.unwrap().items == 0
    })
    .await;
    workers.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (tally.runs("ledger", &id), tally.runs("audit", &id)),
        (1, 1)
    );
    assert_eq!(api.requests(&format!("/events/{id}")), 1, "one fetch");
}

/// An event whose handler fails every attempt is dead-lettered with its
/// last error after the policy's attempts; replayed once the handler is
/// mended, it is processed, and the handler that succeeded is not run
/// again.
pub async fn an_event_failing_every_attempt_is_dead_lettered_then_replayed(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    ledger.failing.store(true, Ordering::SeqCst);
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let dead = Arc::new(Mutex::new(Vec::new()));
    let workers = {
        let dead = dead.clone();
        Workers::builder(receiver.clone())
            .count(2)
            .poll_interval(Duration::from_millis(20))
            .retry(
                RetryPolicy::new()
                    .first_delay(Duration::from_millis(20))
                    .max_attempts(3),
            )
            .observer(move |run: &smart_router_webhooks::inbox::InboxRun| {
                if let Decision::DeadLettered { attempts } = run.decision {
                    dead.lock()
                        .unwrap()
                        .push((run.item.event_id.clone(), attempts));
                }
            })
            .spawn()
            .unwrap()
    };
    let id = captured(&api);
    assert_eq!(
        receiver.receive(delivery(&id)).await.outcome,
        Outcome::Queued
    );
    eventually(Duration::from_secs(10), "a dead letter", async || {
        backend.inbox.depth().await.unwrap().dead_letters == 1
    })
    .await;
    let letters = backend.inbox.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!((&letters[0].event_id, letters[0].attempts), (&id, 3));
    // The outcome and the handler, then the handler's error with its own
    // chain, each a `source`.
    let messages: Vec<&str> = letters[0].error.messages().collect();
    assert!(
        messages[0] == "handler_failed in handler ledger"
            && messages[1..]
                .iter()
                .any(|m| m.contains("ledger is failing")),
        "{messages:?}"
    );
    assert_eq!(*dead.lock().unwrap(), vec![(id.clone(), 3)]);
    assert_eq!(backend.inbox.depth().await.unwrap().items, 0);
    assert_eq!(tally.runs("ledger", &id), 3);
    assert_eq!(
        (tally.runs("audit", &id), tally.successes("audit", &id)),
        (1, 1)
    );

    ledger.failing.store(false, Ordering::SeqCst);
    assert!(backend.inbox.replay(&id).await.unwrap());
    handled(&tally, &backend.inbox, &id).await;
    workers.shutdown(Duration::from_secs(5)).await;
    assert_eq!(backend.inbox.depth().await.unwrap().dead_letters, 0);
    assert_eq!(
        (tally.runs("ledger", &id), tally.successes("ledger", &id)),
        (4, 1)
    );
    assert_eq!(
        tally.runs("audit", &id),
        1,
        "a handler that succeeded is not run again"
    );
}

/// Workers whose tasks are aborted mid-handler (dropped without a
/// shutdown): the processing they started is never cut short, and the
/// event, never acknowledged, is taken over by other workers once its
/// lease lapsed; every handler ran to success once.
pub async fn workers_aborted_mid_handler_leave_the_event_to_others(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_millis(500);
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let id = captured(&api);
    receiver.receive(delivery(&id)).await;
    let first = workers(&receiver, 1);
    ledger.started.notified().await;
    drop(first); // every worker task aborted
    assert_eq!(tally.successes("ledger", &id), 0, "mid-handler");
    let second = workers(&receiver, 1);
    handled(&tally, &backend.inbox, &id).await;
    second.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (tally.runs("ledger", &id), tally.successes("ledger", &id)),
        (1, 1)
    );
    assert_eq!(tally.runs("audit", &id), 1);
}

/// A worker instance killed mid-handler (its runtime dropped: the worker
/// and the processing stop where they are): the event is taken over by
/// another instance's worker once the inbox lease and the claim lapsed,
/// and every handler runs to success once.
pub async fn a_worker_killed_mid_handler_is_taken_over(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_secs(3600);
    let doomed = Instance::new();
    let receiver_a = receiver(&api, &backend, &tally, &ledger, Some(doomed.runtime()));
    let id = captured(&api);
    assert_eq!(
        receiver_a.receive(delivery(&id)).await.outcome,
        Outcome::Queued
    );
    let workers_a = {
        let _on = doomed.handle().enter();
        workers(&receiver_a, 1)
    };
    ledger.started.notified().await;
    doomed.kill();
    drop(workers_a);
    let killed_at = Instant::now();
    *ledger.delay.lock().unwrap() = Duration::ZERO;

    let receiver_b = receiver(&api, &backend, &tally, &ledger, None);
    let workers_b = workers(&receiver_b, 1);
    handled(&tally, &backend.inbox, &id).await;
    assert!(
        killed_at.elapsed() >= LEASE.min(CLAIM_LEASE),
        "taken over only once the lease lapsed"
    );
    workers_b.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (tally.runs("ledger", &id), tally.successes("ledger", &id)),
        (2, 1)
    );
    assert_eq!(
        (tally.runs("audit", &id), tally.successes("audit", &id)),
        (1, 1)
    );
}

/// An event whose processing dies with its worker every time (a handler
/// that takes the process down: a poison message) is not taken over
/// forever: each takeover of a lapsed lease counts as a failed attempt,
/// and at the policy's maximum (3 here) the event is dead-lettered
/// without being run again, with an error that says why. Replayed, it
/// runs again.
pub async fn an_event_whose_worker_dies_every_time_is_dead_lettered(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_secs(3600);
    let id = captured(&api);
    let enqueuer = receiver(&api, &backend, &tally, &ledger, None);
    assert_eq!(
        enqueuer.receive(delivery(&id)).await.outcome,
        Outcome::Queued
    );
    for run in 1..=3 {
        let doomed = Instance::new();
        let receiver = receiver(&api, &backend, &tally, &ledger, Some(doomed.runtime()));
        let workers = {
            let _on = doomed.handle().enter();
            workers(&receiver, 1)
        };
        ledger.started.notified().await;
        assert_eq!(tally.runs("ledger", &id), run);
        doomed.kill();
        drop(workers);
    }
    let dead = Arc::new(Mutex::new(Vec::new()));
    let survivor = {
        let dead = dead.clone();
        Workers::builder(enqueuer.clone())
            .poll_interval(Duration::from_millis(20))
            .retry(RetryPolicy::new().max_attempts(3))
            .observer(move |run: &smart_router_webhooks::inbox::InboxRun| {
                dead.lock()
                    .unwrap()
                    .push((run.decision, run.report.outcome));
            })
            .spawn()
            .unwrap()
    };
    eventually(Duration::from_secs(10), "a dead letter", async || {
        backend.inbox.depth().await.unwrap().dead_letters == 1
    })
    .await;
    assert_eq!(tally.runs("ledger", &id), 3, "not run a fourth time");
    let letters = backend.inbox.dead_letters(10).await.unwrap();
    assert_eq!((&letters[0].event_id, letters[0].attempts), (&id, 3));
    let messages: Vec<&str> = letters[0].error.messages().collect();
    assert!(messages[0].contains("cut short 3 times"), "{messages:?}");
    assert_eq!(
        *dead.lock().unwrap(),
        vec![(Decision::DeadLettered { attempts: 3 }, Outcome::Interrupted)]
    );
    assert_eq!(backend.inbox.depth().await.unwrap().items, 0);

    *ledger.delay.lock().unwrap() = Duration::ZERO;
    assert!(backend.inbox.replay(&id).await.unwrap());
    handled(&tally, &backend.inbox, &id).await;
    survivor.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (tally.runs("ledger", &id), tally.successes("ledger", &id)),
        (4, 1)
    );
}

/// A graceful shutdown stops taking, lets the events in hand finish, and
/// leaves the rest queued: none half-done. With a deadline too short,
/// what was in hand is left to others, which finish it once.
pub async fn shutdown_leaves_no_event_half_done(backend: Backend) {
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_millis(300);
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let ids: Vec<EventId> = (0..6).map(|_| captured(&api)).collect();
    for id in &ids {
        receiver.receive(delivery(id)).await;
    }
    let pool = workers(&receiver, 2);
    ledger.started.notified().await;
    let stopped = pool.shutdown(Duration::from_secs(10)).await;
    assert!(stopped.finished && stopped.abandoned == 0, "{stopped:?}");
    let done: Vec<&EventId> = ids
        .iter()
        .filter(|id| tally.successes("ledger", id) == 1)
        .collect();
    assert!(!done.is_empty() && done.len() < ids.len(), "{done:?}");
    for id in &ids {
        let (runs, successes) = (tally.runs("ledger", id), tally.successes("ledger", id));
        assert_eq!(runs, successes, "{id}: started, so finished");
    }
    assert_eq!(
        backend.inbox.depth().await.unwrap().items,
        ids.len() - done.len(),
        "the rest is queued"
    );

    // A deadline too short: what is in hand is left, then finished once.
    let pool = workers(&receiver, 2);
    eventually(Duration::from_secs(5), "an event in hand", async || {
        pool.in_flight() > 0
    })
    .await;
    let stopped = pool.shutdown(Duration::from_millis(10)).await;
    assert!(!stopped.finished && stopped.abandoned > 0, "{stopped:?}");
    let pool = workers(&receiver, 3);
    for id in &ids {
        handled(&tally, &backend.inbox, id).await;
    }
    pool.shutdown(Duration::from_secs(5)).await;
    for id in &ids {
        assert_eq!(tally.successes("ledger", id), 1, "{id}");
        assert_eq!(tally.runs("ledger", id), 1, "{id}: never cut short");
        assert_eq!(tally.successes("audit", id), 1, "{id}");
    }
}
