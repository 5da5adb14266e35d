//! The receiver's guarantees that do not depend on the HTTP API: exactly
//! one fetch and one run per handler under concurrent deliveries, retries
//! that run only what failed, leases that expire.
//!
//! The fetcher here is an in-process `EventFetcher` (the trait users
//! implement for caches and queues); `tests/receiver_answers.rs` runs the
//! receiver against the mock HTTP API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "support/instance.rs"]
mod instance;

use async_trait::async_trait;
use http::{Request, StatusCode};
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventFetcher, EventId, EventType, FetchError, HandlerError,
    MemoryStore, Outcome, Receiver, Transaction, TransactionId, TransactionStatus,
};

/// Serves events from memory, counting fetches, after an optional delay.
#[derive(Default)]
struct InProcessApi {
    events: Mutex<HashMap<EventId, Event>>,
    fetches: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl EventFetcher for InProcessApi {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.events
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(FetchError::not_found)
    }
}

fn captured_event(id: &str) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), EventType::TransactionCaptured);
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_1").unwrap(),
        TransactionStatus::Completed,
    ));
    event
}

fn api_with(events: &[Event], delay: Duration) -> Arc<InProcessApi> {
    let api = InProcessApi {
        delay,
        ..Default::default()
    };
    for e in events {
        api.events.lock().unwrap().insert(e.id.clone(), e.clone());
    }
    Arc::new(api)
}

fn credentials() -> Credentials {
    Credentials::new("hooks", "s3cret").unwrap()
}

fn delivery(event_id: &str) -> Request<Vec<u8>> {
    Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials().authorization_header(),
        )
        .body(
            format!(r#"{{"event_id":"{event_id}","event_type":"transaction.captured"}}"#)
                .into_bytes(),
        )
        .unwrap()
}

/// A handler counting its runs, failing (retryably) its first `fail` runs.
#[derive(Clone, Default)]
struct Counter {
    runs: Arc<AtomicUsize>,
    fail: usize,
}

impl Counter {
    fn failing(fail: usize) -> Self {
        Counter {
            fail,
            ..Default::default()
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl smart_router_webhooks::Handler for Counter {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        if run < self.fail {
            Err(HandlerError::retry("the ledger is down"))
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_make_one_fetch_and_one_run_per_handler() {
    let api = api_with(&[captured_event("ev_1")], Duration::from_millis(100));
    let (a, b) = (Counter::default(), Counter::default());
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .on_prefix("transaction.", "b", b.clone())
        .build()
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let receiver = receiver.clone();
        tasks.push(tokio::spawn(async move {
            receiver.receive(delivery("ev_1")).await
        }));
    }
    let mut outcomes = HashMap::new();
    for task in tasks {
        let report = task.await.unwrap();
        assert!(
            matches!(report.status, StatusCode::OK | StatusCode::CONFLICT),
            "{report:?}"
        );
        *outcomes.entry(report.outcome).or_insert(0) += 1;
    }
    assert_eq!(outcomes[&Outcome::Processed], 1, "{outcomes:?}");
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!((a.runs(), b.runs()), (1, 1));

    // Later deliveries are duplicates: 200, no fetch, no run.
    let report = receiver.receive(delivery("ev_1")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Duplicate, StatusCode::OK)
    );
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!((a.runs(), b.runs()), (1, 1));
}

#[tokio::test]
async fn a_retry_runs_only_the_handlers_that_failed() {
    let api = api_with(&[captured_event("ev_2")], Duration::ZERO);
    let (a, b) = (Counter::default(), Counter::failing(1));
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .on(EventType::TransactionCaptured, "b", b.clone())
        .build()
        .unwrap();

    let response = receiver.handle(delivery("ev_2")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!((a.runs(), b.runs()), (1, 1));

    let report = receiver.receive(delivery("ev_2")).await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(report.skipped, ["a"]);
    assert_eq!(report.handlers.len(), 1);
    assert_eq!(report.handlers[0].name, "b");
    assert_eq!((a.runs(), b.runs()), (1, 2));
    assert_eq!(
        api.fetches.load(Ordering::SeqCst),
        2,
        "the retry fetches the event again"
    );

    assert_eq!(
        receiver.receive(delivery("ev_2")).await.outcome,
        Outcome::Duplicate
    );
}

#[tokio::test]
async fn all_matching_handlers_run_when_one_fails_and_permanent_failures_are_acknowledged() {
    let api = api_with(&[captured_event("ev_3")], Duration::ZERO);
    let after = Counter::default();
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .on(
            EventType::TransactionCaptured,
            "gives-up",
            |_: EventContext| async { Err(HandlerError::permanent("this order was deleted")) },
        )
        .on(EventType::TransactionCaptured, "after", after.clone())
        .build()
        .unwrap();
    let report = receiver.receive(delivery("ev_3")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Processed, StatusCode::OK)
    );
    assert_eq!(after.runs(), 1);
    let failures: Vec<_> = report
        .failures()
        .map(|(name, e)| (name, e.is_retryable()))
        .collect();
    assert_eq!(failures, [("gives-up", false)]);
}

#[tokio::test]
async fn an_expired_lease_lets_a_later_delivery_process_the_event() {
    let api = api_with(&[captured_event("ev_4")], Duration::ZERO);
    let first = Counter::default();
    let stuck_runs = Arc::new(AtomicUsize::new(0));
    let stuck = {
        let runs = stuck_runs.clone();
        move |_: EventContext| {
            let runs = runs.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    // The instance dies here: this processing never ends.
                    std::future::pending::<()>().await;
                }
                Ok::<_, HandlerError>(())
            }
        }
    };
    let claims = Arc::new(MemoryStore::default());
    let build = |runtime: instance::OnHandle| {
        Receiver::builder()
            .credentials(credentials())
            .fetcher(api.clone())
            .claim_store(claims.clone())
            .lease(Duration::from_millis(200))
            .answer_deadline(Duration::from_millis(50))
            .runtime(runtime)
            .on(EventType::TransactionCaptured, "first", first.clone())
            .on(EventType::TransactionCaptured, "stuck", stuck.clone())
            .build()
            .unwrap()
    };
    let dying = instance::Instance::new();
    let survivor = instance::Instance::new();
    let (doomed, receiver) = (build(dying.runtime()), build(survivor.runtime()));

    let answer = doomed.receive(delivery("ev_4")).await;
    assert_eq!(answer.outcome, Outcome::StillProcessing);
    // Its lease is renewed while the instance lives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.receive(delivery("ev_4")).await.outcome,
        Outcome::InProgress
    );
    dying.kill();

    tokio::time::sleep(Duration::from_millis(250)).await;
    let report = receiver.receive(delivery("ev_4")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Processed, StatusCode::OK)
    );
    assert_eq!(report.skipped, ["first"]);
    assert_eq!(
        first.runs(),
        1,
        "the handler that completed is not run again"
    );
    assert_eq!(stuck_runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn process_event_skips_the_fetch_and_shares_the_claims() {
    let api = api_with(&[], Duration::ZERO);
    let a = Counter::default();
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api.clone())
        .claim_store(MemoryStore::default())
        .transaction_store(MemoryStore::default())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .build()
        .unwrap();
    let report = receiver.process_event(captured_event("ev_5")).await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(
        report.tracking.transition.as_ref().map(|t| t.to.clone()),
        Some(TransactionStatus::Completed)
    );
    assert_eq!(
        receiver.process_event(captured_event("ev_5")).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(api.fetches.load(Ordering::SeqCst), 0);
    assert_eq!(a.runs(), 1);
}

#[test]
fn a_receiver_needs_a_fetcher_and_a_decision_on_credentials() {
    use smart_router_webhooks::ErrorKind;
    let err = Receiver::builder()
        .fetcher(api_with(&[], Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let err = Receiver::builder()
        .allow_unauthenticated()
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let err = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api_with(&[], Duration::ZERO))
        .body_limit(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let err = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api_with(&[], Duration::ZERO))
        .read_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

/// The read timeout is the receiver's: a body that never ends is answered
/// 408 once it passes, with the default runtime and without one (tokio's
/// timer then), and the observer sees the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_receivers_read_timeout_is_answered_408() {
    for no_runtime in [false, true] {
        let seen: Arc<Mutex<Vec<Outcome>>> = Arc::default();
        let observed = seen.clone();
        let mut builder = Receiver::builder()
            .credentials(credentials())
            .fetcher(api_with(&[], Duration::ZERO))
            .read_timeout(Duration::from_millis(100))
            .observer(move |report: &smart_router_webhooks::DeliveryReport| {
                observed.lock().unwrap().push(report.outcome);
            });
        if no_runtime {
            builder = builder.no_runtime();
        }
        let receiver = builder.build().unwrap();
        let (parts, _) = delivery("ev_1").into_parts();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            receiver.handle_streaming(parts, |_| std::future::pending()),
        )
        .await
        .expect("answered before the body ends");
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT, "{no_runtime}");
        assert_eq!(
            *seen.lock().unwrap(),
            [Outcome::BodyTimeout],
            "{no_runtime}"
        );
    }
}

#[test]
fn the_receiver_is_send_sync_and_cheap_to_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Receiver>();
    // Frameworks spawn the answer's future on other threads.
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api_with(&[], Duration::ZERO))
        .build()
        .unwrap();
    assert_send(receiver.handle(delivery("ev_1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_sharing_one_in_memory_store_fetch_once() {
    let api = api_with(&[captured_event("ev_6")], Duration::from_millis(50));
    let store = Arc::new(MemoryStore::default());
    let (claims, transactions) = (Arc::clone(&store), store);
    let a = Counter::default();
    let receivers: Vec<Receiver> = (0..2)
        .map(|_| {
            Receiver::builder()
                .credentials(credentials())
                .fetcher(api.clone())
                .claim_store(claims.clone())
                .transaction_store(transactions.clone())
                .on(EventType::TransactionCaptured, "a", a.clone())
                .build()
                .unwrap()
        })
        .collect();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let receiver = receivers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            receiver.receive(delivery("ev_6")).await.status
        }));
    }
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            StatusCode::OK | StatusCode::CONFLICT
        ));
    }
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(a.runs(), 1);
}

#[tokio::test]
async fn a_failed_transition_handler_runs_again_after_a_newer_event_of_its_transaction() {
    let event = |id: &str, name, status, second| {
        let mut event = Event::new(EventId::parse(id).unwrap(), name);
        event.fired_at = Some(smart_router_webhooks::Timestamp::lenient(&format!(
            "2024-05-01T10:00:{second:02}Z"
        )));
        event.data.transaction = Some(Transaction::new(
            TransactionId::parse("tr_7").unwrap(),
            status,
        ));
        event
    };
    let authorized = event(
        "ev_7a",
        EventType::TransactionAuthorized,
        TransactionStatus::Authorized,
        1,
    );
    let captured = event(
        "ev_7b",
        EventType::TransactionCaptured,
        TransactionStatus::Completed,
        2,
    );
    let api = api_with(&[authorized, captured], Duration::ZERO);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let changes = {
        let seen = seen.clone();
        move |ctx: EventContext| {
            let mut seen = seen.lock().unwrap();
            let t = ctx.transition().unwrap();
            seen.push((ctx.event().id.to_string(), t.from.clone(), t.to.clone()));
            // The first run fails: the ledger is down.
            let result = if seen.len() == 1 {
                Err(HandlerError::retry("the ledger is down"))
            } else {
                Ok(())
            };
            async move { result }
        }
    };
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .on_transition(
            smart_router_webhooks::TransitionFilter::Any,
            "changes",
            changes,
        )
        .build()
        .unwrap();

    let report = receiver.receive(delivery("ev_7a")).await;
    assert_eq!(report.outcome, Outcome::HandlerFailed);
    // The capture arrives before the retry of the authorization.
    assert_eq!(
        receiver.receive(delivery("ev_7b")).await.outcome,
        Outcome::Processed
    );
    let report = receiver.receive(delivery("ev_7a")).await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(
        report.handlers.iter().map(|h| &h.name).collect::<Vec<_>>(),
        ["changes"],
        "the retry runs the handler that failed"
    );
    use TransactionStatus::*;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("ev_7a".to_owned(), None, Authorized),
            ("ev_7b".to_owned(), Some(Authorized), Completed),
            ("ev_7a".to_owned(), None, Authorized),
        ]
    );
}

/// A handler that takes `duration`, counting its runs and the most that
/// ever overlapped.
#[derive(Clone, Default)]
struct Overlap {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    runs: Arc<AtomicUsize>,
    duration: Duration,
}

#[async_trait]
impl smart_router_webhooks::Handler for Overlap {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.duration).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_three_times_as_long_as_the_lease_runs_once_under_redeliveries() {
    let api = api_with(&[captured_event("ev_long")], Duration::ZERO);
    let long = Overlap {
        duration: Duration::from_millis(900),
        ..Default::default()
    };
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .lease(Duration::from_millis(300))
        .answer_deadline(Duration::from_millis(50))
        .on(EventType::TransactionCaptured, "long", long.clone())
        .build()
        .unwrap();
    let mut statuses = Vec::new();
    // A redelivery every 100 ms, for twice the handler's time.
    for _ in 0..18 {
        let report = receiver.receive(delivery("ev_long")).await;
        statuses.push(report.status.as_u16());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(long.runs.load(Ordering::SeqCst), 1, "{statuses:?}");
    assert_eq!(long.most.load(Ordering::SeqCst), 1);
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
}

#[tokio::test]
async fn a_delivery_is_answered_at_the_deadline_while_its_processing_goes_on() {
    let api = api_with(&[captured_event("ev_slow")], Duration::ZERO);
    let slow = Overlap {
        duration: Duration::from_millis(500),
        ..Default::default()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observed = seen.clone();
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .answer_deadline(Duration::from_millis(100))
        .retry_after(Duration::from_secs(2))
        .observer(move |r: &smart_router_webhooks::DeliveryReport| {
            observed.lock().unwrap().push((r.outcome, r.detached));
        })
        .on(EventType::TransactionCaptured, "slow", slow.clone())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let answer = receiver.handle(delivery("ev_slow")).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    assert_eq!(answer.headers()[http::header::RETRY_AFTER], "2");
    assert_eq!(
        receiver.receive(delivery("ev_slow")).await.outcome,
        Outcome::InProgress
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.receive(delivery("ev_slow")).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(slow.runs.load(Ordering::SeqCst), 1);
    // The observer saw the refused redelivery, the processing's own report
    // when it ended, and the duplicate.
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Outcome::InProgress, false),
            (Outcome::Processed, true),
            (Outcome::Duplicate, false)
        ]
    );
}

#[tokio::test]
async fn a_handler_past_its_timeout_is_a_retryable_failure() {
    let api = api_with(&[captured_event("ev_stall")], Duration::ZERO);
    let (stalls, quick) = (
        Overlap {
            duration: Duration::from_secs(30),
            ..Default::default()
        },
        Overlap {
            duration: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .handler_timeout(Duration::from_millis(300))
        .handler_timeout_for("stalls", Duration::from_millis(100))
        .on(EventType::TransactionCaptured, "stalls", stalls.clone())
        .on(EventType::TransactionCaptured, "quick", quick.clone())
        .build()
        .unwrap();
    let report = receiver.receive(delivery("ev_stall")).await;
    assert_eq!(report.outcome, Outcome::HandlerFailed);
    let failures: Vec<_> = report
        .failures()
        .map(|(name, e)| (name, e.is_timeout(), e.is_retryable()))
        .collect();
    assert_eq!(failures, [("stalls", true, true)]);
    assert_eq!(
        quick.runs.load(Ordering::SeqCst),
        1,
        "within its own timeout"
    );

    let unknown = Receiver::builder()
        .credentials(credentials())
        .fetcher(api_with(&[], Duration::ZERO))
        .handler_timeout_for("nobody", Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(
        unknown.kind(),
        smart_router_webhooks::ErrorKind::InvalidConfig
    );
}

#[tokio::test]
async fn a_retry_runs_the_transition_handler_owed_even_when_the_tracker_forgot() {
    use TransactionStatus::{Authorized, Completed};
    use smart_router_webhooks::TransitionFilter;
    let event = |id: &str, tx: &str, name: EventType, status: TransactionStatus, at: &str| {
        let mut event = Event::new(EventId::parse(id).unwrap(), name);
        event.fired_at = Some(smart_router_webhooks::Timestamp::lenient(at));
        event.data.transaction = Some(Transaction::new(TransactionId::parse(tx).unwrap(), status));
        event
    };
    let api = api_with(
        &[
            event(
                "ev_auth",
                "tr_a",
                EventType::TransactionAuthorized,
                Authorized,
                "2024-05-01T10:00:00Z",
            ),
            event(
                "ev_capt",
                "tr_a",
                EventType::TransactionCaptured,
                Completed,
                "2024-05-01T10:01:00Z",
            ),
            event(
                "ev_other",
                "tr_b",
                EventType::TransactionAuthorized,
                Authorized,
                "2024-05-01T10:02:00Z",
            ),
        ],
        Duration::ZERO,
    );
    let settle = Counter::failing(1);
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        // Remembers one transaction: the next one makes it forget tr_a.
        .transaction_store(MemoryStore::new(
            100_000,
            Duration::from_secs(4 * 24 * 3600),
            1,
        ))
        .on_transition(
            TransitionFilter::Between(Authorized, Completed),
            "settle",
            settle.clone(),
        )
        .build()
        .unwrap();
    receiver.receive(delivery("ev_auth")).await;
    let first = receiver.receive(delivery("ev_capt")).await;
    assert_eq!(first.outcome, Outcome::HandlerFailed);
    assert_eq!(settle.runs(), 1);
    receiver.receive(delivery("ev_other")).await;

    // The tracker now sees ev_capt as a first sighting (None → completed),
    // which the handler's filter does not take; the retry runs it anyway.
    let retry = receiver.receive(delivery("ev_capt")).await;
    assert_eq!(
        (retry.outcome, retry.status),
        (Outcome::Processed, StatusCode::OK)
    );
    assert_eq!(settle.runs(), 2);
    let transition = retry.tracking.transition.unwrap();
    assert_eq!(transition.from, Some(Authorized));
}

#[tokio::test]
async fn without_a_runtime_a_dropped_delivery_gives_its_claim_up() {
    let api = api_with(&[captured_event("ev_drop")], Duration::ZERO);
    let slow = Overlap {
        duration: Duration::from_secs(30),
        ..Default::default()
    };
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .no_runtime()
        .on(EventType::TransactionCaptured, "slow", slow.clone())
        .build()
        .unwrap();
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        receiver.receive(delivery("ev_drop")),
    )
    .await;
    assert!(cut.is_err(), "processing runs in the caller's future");
    // Not 409 for a whole lease: the claim was given up when dropped.
    let retry = tokio::time::timeout(
        Duration::from_millis(100),
        receiver.receive(delivery("ev_drop")),
    )
    .await;
    assert!(retry.is_err());
    assert_eq!(slow.runs.load(Ordering::SeqCst), 2);
}

/// A fetcher that passes on the API's `Retry-After` as sent, however
/// large, as a hand-written client might.
struct AsksToWaitForever;

#[async_trait]
impl EventFetcher for AsksToWaitForever {
    async fn fetch_event(&self, _: &EventId) -> Result<Event, FetchError> {
        Err(
            FetchError::new(smart_router_webhooks::FetchErrorKind::RateLimited)
                .with_retry_after(Duration::from_secs(u64::MAX) + Duration::from_nanos(1)),
        )
    }
}

#[tokio::test]
async fn the_longest_retry_after_is_answered_without_overflow() {
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(AsksToWaitForever)
        .build()
        .unwrap();
    let answer = receiver.handle(delivery("ev_1")).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.headers()[http::header::RETRY_AFTER],
        u64::MAX.to_string().as_str()
    );
}

/// A memory claim store whose renewals never answer: a store that went
/// silent, or a process too starved to renew in time.
struct SilentRenewals(MemoryStore);

#[async_trait]
impl smart_router_webhooks::ClaimStore for SilentRenewals {
    async fn claim(
        &self,
        event: &EventId,
        lease: Duration,
    ) -> Result<smart_router_webhooks::Claim, smart_router_webhooks::Error> {
        self.0.claim(event, lease).await
    }
    async fn complete(
        &self,
        event: &EventId,
        token: &smart_router_webhooks::ClaimToken,
    ) -> Result<bool, smart_router_webhooks::Error> {
        self.0.complete(event, token).await
    }
    async fn release(
        &self,
        update: smart_router_webhooks::ClaimUpdate<'_>,
    ) -> Result<bool, smart_router_webhooks::Error> {
        self.0.release(update).await
    }
    async fn renew(
        &self,
        _: smart_router_webhooks::ClaimUpdate<'_>,
        _: Duration,
    ) -> Result<bool, smart_router_webhooks::Error> {
        std::future::pending().await
    }
}

/// Like [`Overlap`], but a run stopped where it was (its future dropped)
/// counts as ended.
#[derive(Clone, Default)]
struct Stoppable(Overlap);

struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl smart_router_webhooks::Handler for Stoppable {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        let o = &self.0;
        o.runs.fetch_add(1, Ordering::SeqCst);
        let now = o.running.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(o.running.clone());
        o.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(o.duration).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handler_is_stopped_before_an_unrenewed_claim_lapses_so_runs_never_overlap() {
    let api = api_with(&[captured_event("ev_silent")], Duration::ZERO);
    let long = Stoppable(Overlap {
        duration: Duration::from_millis(900),
        ..Default::default()
    });
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .claim_store(SilentRenewals(MemoryStore::default()))
        .lease(Duration::from_millis(300))
        .answer_deadline(Duration::from_millis(50))
        .on(EventType::TransactionCaptured, "long", long.clone())
        .build()
        .unwrap();
    // Redeliveries every 100 ms, past the point where the lease lapsed.
    for _ in 0..12 {
        let _ = receiver.receive(delivery("ev_silent")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            long.0.most.load(Ordering::SeqCst) <= 1,
            "two runs overlapped"
        );
    }
    assert!(
        long.0.runs.load(Ordering::SeqCst) >= 2,
        "the stopped run was retried"
    );
    assert_eq!(long.0.most.load(Ordering::SeqCst), 1);
}
