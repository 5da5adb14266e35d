//! What the receiver and the reconciler record through the `metrics`
//! facade, read back with `metrics-util`'s debugging recorder: the names,
//! kinds and labels of the table in `smart_router_webhooks::metrics`, and
//! never an event ID or a credential in a label.
#![cfg(all(feature = "metrics", feature = "testing", feature = "reconciler"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use smart_router_webhooks::metrics as names;
use smart_router_webhooks::reconcile::{Reconciler, StartFrom};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventId, EventType, HandlerError, Receiver, Transaction,
    TransactionId, TransactionStatus,
};

const PASSWORD: &str = "s3cret-metrics";

/// Runs `test` on a runtime of this thread with a recorder of its own:
/// everything the receiver spawns runs here, and records to it.
fn recorded<F: Future<Output = ()>>(test: impl FnOnce() -> F) -> Snapshot {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(test()));
    Snapshot::of(&snapshotter)
}

/// The metrics recorded, by name and labels.
struct Snapshot(Vec<(CompositeKey, DebugValue)>);

impl Snapshot {
    fn of(snapshotter: &Snapshotter) -> Self {
        Snapshot(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (key, value))
                .collect(),
        )
    }

    fn find(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(key, _)| {
                let mut have: Vec<(&str, &str)> =
                    key.key().labels().map(|l| (l.key(), l.value())).collect();
                let mut want = labels.to_vec();
                have.sort_unstable();
                want.sort_unstable();
                key.kind() == kind && key.key().name() == name && have == want
            })
            .map(|(_, value)| value)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("no counter {name} {labels:?}: {other:?}\n{:#?}", self.0),
        }
    }

    fn gauge(&self, name: &str) -> f64 {
        match self.find(MetricKind::Gauge, name, &[]) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("no gauge {name}: {other:?}"),
        }
    }

    /// How many values the histogram recorded.
    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        match self.find(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(values)) => values.len(),
            other => panic!("no histogram {name} {labels:?}: {other:?}\n{:#?}", self.0),
        }
    }

    fn label_values(&self) -> impl Iterator<Item = String> + '_ {
        self.0
            .iter()
            .flat_map(|(key, _)| key.key().labels().map(|l| l.value().to_owned()))
    }
}

fn captured(id: &str) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), EventType::TransactionCaptured);
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse(&id.replacen("ev_", "tr_", 1)).unwrap(),
        TransactionStatus::Completed,
    ));
    event
}

fn delivery(id: &str, password: &str) -> http::Request<String> {
    let credentials = Credentials::new("hooks", password).unwrap();
    http::Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials.authorization_header(),
        )
        .body(format!(
            r#"{{"event_id":"{id}","event_type":"transaction.captured"}}"#
        ))
        .unwrap()
}

/// The mock API serving `id`, and a receiver builder fetching from it and
/// accepting the hooks' credentials.
async fn api_and_builder(id: &str) -> (MockApi, smart_router_webhooks::ReceiverBuilder) {
    let api = MockApi::start().await;
    api.add_event(captured(id));
    let builder = Receiver::builder()
        .credentials(Credentials::new("hooks", PASSWORD).unwrap())
        .fetcher(api.client_builder().build().unwrap());
    (api, builder)
}

#[test]
fn a_delivery_records_what_the_table_says() {
    let id = "ev_metrics_delivery_7f3a";
    let snapshot = recorded(|| async move {
        let (_api, builder) = api_and_builder(id).await;
        let flaky_runs = Arc::new(AtomicUsize::new(0));
        let runs = flaky_runs.clone();
        let receiver = builder
            .on(
                EventType::TransactionCaptured,
                "ledger",
                |_: EventContext| async { Ok::<_, HandlerError>(()) },
            )
            .on_prefix("transaction.", "email", move |_: EventContext| {
                let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        Err(HandlerError::retry("mail server down"))
                    } else {
                        Ok(())
                    }
                }
            })
            .build()
            .unwrap();
        // The first delivery fails in `email`, the retry runs only it.
        let first = receiver.handle(delivery(id, PASSWORD)).await;
        assert_eq!(first.status(), 500);
        let retry = receiver.handle(delivery(id, PASSWORD)).await;
        assert_eq!(retry.status(), 200);
        let duplicate = receiver.handle(delivery(id, PASSWORD)).await;
        assert_eq!(duplicate.status(), 200);
        let refused = receiver.handle(delivery(id, "guess")).await;
        assert_eq!(refused.status(), 401);
        let missing = receiver
            .handle(delivery("ev_metrics_missing", PASSWORD))
            .await;
        assert_eq!(missing.status(), 404);
    });

    let deliveries = |outcome, status| {
        snapshot.counter(
            names::DELIVERIES,
            &[("outcome", outcome), ("status", status)],
        )
    };
    assert_eq!(deliveries("handler_failed", "500"), 1);
    assert_eq!(deliveries("processed", "200"), 1);
    assert_eq!(deliveries("duplicate", "200"), 1);
    assert_eq!(deliveries("unauthorized", "401"), 1);
    assert_eq!(deliveries("event_not_found", "404"), 1);
    assert_eq!(snapshot.samples(names::ACK_SECONDS, &[]), 5);

    // Two fetches of the event, one of an unknown one; none for the
    // duplicate or the refused delivery.
    assert_eq!(
        snapshot.samples(names::FETCH_SECONDS, &[("result", "ok")]),
        2
    );
    assert_eq!(
        snapshot.samples(names::FETCH_SECONDS, &[("result", "not_found")]),
        1
    );
    assert_eq!(
        snapshot.samples(names::HANDLER_SECONDS, &[("handler", "ledger")]),
        1
    );
    assert_eq!(
        snapshot.samples(names::HANDLER_SECONDS, &[("handler", "email")]),
        2
    );
    assert_eq!(
        snapshot.counter(
            names::HANDLER_FAILURES,
            &[("handler", "email"), ("retry", "true")]
        ),
        1
    );
    assert_eq!(
        snapshot.counter(names::HANDLERS_SKIPPED, &[("handler", "ledger")]),
        1
    );
    assert!(
        snapshot
            .find(
                MetricKind::Counter,
                names::HANDLER_FAILURES,
                &[("handler", "ledger"), ("retry", "true")]
            )
            .is_none()
    );

    // Every name is the table's, and no label holds an ID or a secret.
    for (key, _) in &snapshot.0 {
        assert!(
            key.key().name().starts_with("smart_router_webhooks_"),
            "{key:?}"
        );
    }
    for value in snapshot.label_values() {
        assert!(!value.contains("ev_") && !value.contains("tr_"), "{value}");
        assert!(
            !value.contains(PASSWORD) && !value.contains("hooks"),
            "{value}"
        );
    }
}

#[test]
fn the_reconciler_records_its_progress_and_lag() {
    let pages = Arc::new(AtomicUsize::new(0));
    let walked_pages = pages.clone();
    let snapshot = recorded(|| async move {
        let api = MockApi::start().await;
        let client = api.client_builder().build().unwrap();
        for n in 0..5 {
            let mut event = captured(&format!("ev_metrics_walk_{n}"));
            event.fired_at = Some(smart_router_webhooks::Timestamp::lenient(&format!(
                "2024-01-01T00:0{n}:00Z"
            )));
            api.add_event(event);
        }
        let receiver = Receiver::builder()
            .allow_unauthenticated()
            .fetcher(client.clone())
            .on_every_event("count", |_: EventContext| async {
                Ok::<_, HandlerError>(())
            })
            .build()
            .unwrap();
        // Event 1 is processed by a delivery first: the walk finds it done.
        receiver
            .process(&EventId::parse("ev_metrics_walk_1").unwrap())
            .await;
        let reconciler = Reconciler::builder(receiver, client)
            .start_from(StartFrom::Time(std::time::SystemTime::UNIX_EPOCH))
            .requests_per_second(1000.0)
            .page_size(2)
            .build()
            .unwrap();
        let summary = reconciler.run_once().await.unwrap();
        assert_eq!((summary.processed, summary.already_done), (4, 1));
        walked_pages.store(summary.pages as usize, Ordering::SeqCst);
    });

    let events = |result| snapshot.counter(names::RECONCILE_EVENTS, &[("result", result)]);
    assert_eq!(events("processed"), 4);
    assert_eq!(events("already_done"), 1);
    let pages = pages.load(Ordering::SeqCst) as u64;
    assert!(pages > 0);
    assert_eq!(snapshot.counter(names::RECONCILE_PAGES, &[]), pages);
    assert_eq!(
        snapshot.counter(names::RECONCILE_RUNS, &[("walked", "true")]),
        1
    );
    assert_eq!(snapshot.gauge(names::RECONCILE_STUCK), 0.0);
    // The events were fired in 2024: the walk is years behind them.
    assert!(snapshot.gauge(names::RECONCILE_LAG_SECONDS) > 86_400.0 * 365.0);
}

#[test]
fn inbox_mode_records_queued_duplicates_retries_dead_letters_and_depth() {
    use smart_router_webhooks::inbox::{Inbox, MemoryInbox, RetryPolicy, Workers};
    use std::time::Duration;

    let id = "ev_metrics_inbox_1";
    let snapshot = recorded(|| async move {
        let (_api, builder) = api_and_builder(id).await;
        let inbox = Arc::new(MemoryInbox::default());
        let receiver = builder
            .on_every_event("always-down", |_: EventContext| async {
                Err::<(), _>(HandlerError::retry("down"))
            })
            .inbox(inbox.clone())
            .build()
            .unwrap();
        assert_eq!(receiver.handle(delivery(id, PASSWORD)).await.status(), 202);
        assert_eq!(receiver.handle(delivery(id, PASSWORD)).await.status(), 202);
        let depth = smart_router_webhooks::metrics::record_inbox(inbox.as_ref())
            .await
            .unwrap();
        assert_eq!(depth.items, 1);

        // Two attempts: one retry, then the dead-letter list.
        let workers = Workers::builder(receiver)
            .count(1)
            .poll_interval(Duration::from_millis(5))
            .retry(
                RetryPolicy::new()
                    .first_delay(Duration::from_millis(1))
                    .max_attempts(2),
            )
            .spawn()
            .unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while inbox.dead_letters(10).await.unwrap().is_empty() {
            assert!(std::time::Instant::now() < until, "dead-lettered in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        workers.shutdown(Duration::from_secs(5)).await;
        smart_router_webhooks::metrics::record_inbox(inbox.as_ref())
            .await
            .unwrap();
    });

    let enqueued = |result| snapshot.counter(names::INBOX_ENQUEUED, &[("result", result)]);
    assert_eq!((enqueued("queued"), enqueued("duplicate")), (1, 1));
    let accepted = &[("outcome", "queued"), ("status", "202")];
    assert_eq!(snapshot.counter(names::DELIVERIES, accepted), 2);
    assert_eq!(snapshot.counter(names::INBOX_RETRIES, &[]), 1);
    assert_eq!(snapshot.counter(names::INBOX_DEAD_LETTERS, &[]), 1);
    assert_eq!(snapshot.gauge(names::INBOX_DEPTH), 0.0);
    assert_eq!(snapshot.gauge(names::INBOX_DEAD_LETTER_DEPTH), 1.0);
    assert_eq!(
        snapshot.counter(
            names::HANDLER_FAILURES,
            &[("handler", "always-down"), ("retry", "true")]
        ),
        2
    );
}
