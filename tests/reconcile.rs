//! The `Reconciler` against the mock API on loopback: where it starts (now,
//! an event, a time), a stuck event reported and passed then retried by
//! later runs (in memory and on Redis), the budget and
//! `Retry-After` honoured, two instances sharing Redis walking once, and
//! the delivery audit.
#![cfg(all(feature = "testing", feature = "reqwest", feature = "reconciler"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use smart_router_webhooks::MemoryStore;
use smart_router_webhooks::reconcile::{Cursor, CursorStore};
use smart_router_webhooks::reconcile::{
    Progress, Reconciler, ReconcilerBuilder, RunSummary, StartFrom, audit_deliveries,
};
use smart_router_webhooks::testing::{Failure, MockApi};
use smart_router_webhooks::{
    ApiClient, Event, EventContext, EventId, EventType, HandlerError, Receiver, Timestamp,
};

fn ev(n: usize) -> EventId {
    EventId::parse(&format!("ev_{n:03}")).unwrap()
}

/// Event `n` fired `n` minutes after 2024-01-01T00:00Z.
fn event(n: usize) -> Event {
    let mut event = Event::new(ev(n), EventType::TransactionCaptured);
    event.fired_at = Some(Timestamp::lenient(&format!(
        "2024-01-01T{:02}:{:02}:00Z",
        n / 60,
        n % 60
    )));
    event
}

fn add(api: &MockApi, range: std::ops::RangeInclusive<usize>) {
    for n in range {
        api.add_event(event(n));
    }
}

/// Counts the runs of its one handler per event; fails retryably for the
/// events in `failing`.
#[derive(Clone, Default)]
struct Handled {
    runs: Arc<Mutex<Vec<EventId>>>,
    failing: Arc<Mutex<Vec<EventId>>>,
}

impl Handled {
    fn ids(&self) -> Vec<EventId> {
        self.runs.lock().unwrap().clone()
    }

    fn receiver(&self, client: ApiClient) -> Receiver {
        let this = self.clone();
        Receiver::builder()
            .allow_unauthenticated()
            .fetcher(client)
            .on_every_event("count", move |ctx: EventContext| {
                let this = this.clone();
                async move {
                    let id = ctx.event().id.clone();
                    if this.failing.lock().unwrap().contains(&id) {
                        return Err(HandlerError::retry("down"));
                    }
                    this.runs.lock().unwrap().push(id);
                    Ok::<_, HandlerError>(())
                }
            })
            .build()
            .unwrap()
    }
}

/// A pace for tests: no budget to speak of, pages of 4, short backoff.
trait Quick {
    fn quick(self) -> Self;
}

impl Quick for ReconcilerBuilder {
    fn quick(self) -> Self {
        self.requests_per_second(1000.0)
            .page_size(4)
            .request_backoff(Duration::from_millis(5), Duration::from_millis(20))
    }
}

fn ids(range: std::ops::RangeInclusive<usize>) -> Vec<EventId> {
    range.map(ev).collect()
}

#[tokio::test]
async fn from_now_records_the_newest_then_walks_what_follows_in_order() {
    let api = MockApi::start().await;
    add(&api, 1..=5);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .build()
        .unwrap();
    let first = reconciler.run_once().await.unwrap();
    assert!(first.walked);
    assert_eq!(first.cursor, Some(Cursor::After(ev(5))));
    assert!(handled.ids().is_empty(), "nothing before now");

    add(&api, 6..=15);
    let second = reconciler.run_once().await.unwrap();
    assert_eq!(handled.ids(), ids(6..=15), "oldest first, each once");
    assert_eq!(second.processed, 10);
    assert_eq!(second.cursor, Some(Cursor::After(ev(15))));
    // Pages of 4 toward newer events: end_before only, never both cursors.
    let queries: Vec<String> = api
        .recorded_requests()
        .iter()
        .filter(|r| r.path == "/events")
        .filter_map(|r| r.query.clone())
        .collect();
    assert!(
        queries.contains(&"limit=4&end_before=ev_005".to_owned()),
        "{queries:?}"
    );
    assert!(
        queries.iter().all(|q| !q.contains("start_after")),
        "{queries:?}"
    );

    let third = reconciler.run_once().await.unwrap();
    assert_eq!(third.events_seen, 0);
    assert_eq!(handled.ids().len(), 10);
}

#[tokio::test]
async fn from_an_empty_list_now_still_walks_the_first_events() {
    let api = MockApi::start().await;
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .build()
        .unwrap();
    assert_eq!(
        reconciler.run_once().await.unwrap().cursor,
        Some(Cursor::Beginning)
    );
    add(&api, 1..=6);
    reconciler.run_once().await.unwrap();
    assert_eq!(handled.ids(), ids(1..=6));
}

#[tokio::test]
async fn from_an_event_starts_with_that_event() {
    let api = MockApi::start().await;
    add(&api, 1..=9);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let summary = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .start_from(StartFrom::Event(ev(4)))
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(handled.ids(), ids(4..=9));
    assert_eq!(summary.cursor, Some(Cursor::After(ev(9))));
}

#[tokio::test]
async fn until_ends_the_walk_with_that_event() {
    let api = MockApi::start().await;
    add(&api, 1..=12);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client.clone())
        .quick()
        .start_from(StartFrom::Event(ev(3)))
        .until(ev(6))
        .build()
        .unwrap();
    let summary = reconciler.run_once().await.unwrap();
    // ev_006 is in the middle of a page of 4: the walk stops there.
    assert_eq!(handled.ids(), ids(3..=6));
    assert_eq!(summary.cursor, Some(Cursor::After(ev(6))));
    // Done: a later run walks nothing and lists nothing.
    api.reset_requests();
    let later = reconciler.run_once().await.unwrap();
    assert_eq!((later.events_seen, later.pages), (0, 0));
    assert_eq!(api.requests("/events"), 0);
    assert_eq!(handled.ids(), ids(3..=6));

    // The first event and the last one the same: that event alone, with
    // no listing at all.
    let handled = Handled::default();
    api.reset_requests();
    let summary = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .start_from(StartFrom::Event(ev(2)))
        .until(ev(2))
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(handled.ids(), [ev(2)]);
    assert_eq!(summary.cursor, Some(Cursor::After(ev(2))));
    assert_eq!(api.requests("/events"), 0);
}

#[tokio::test]
async fn from_a_time_walks_back_to_it_then_forward() {
    let api = MockApi::start().await;
    add(&api, 1..=30);
    let client = api.client_builder().build().unwrap();
    let at = Timestamp::lenient("2024-01-01T00:12:00Z")
        .to_system_time()
        .unwrap();
    let handled = Handled::default();
    Reconciler::builder(handled.receiver(client.clone()), client.clone())
        .quick()
        .start_from(StartFrom::Time(at))
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(handled.ids(), ids(12..=30));

    // Before every event: from the oldest.
    let handled = Handled::default();
    Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .start_from(StartFrom::Time(SystemTime::UNIX_EPOCH))
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(handled.ids(), ids(1..=30));
}

#[tokio::test]
async fn a_stuck_event_is_reported_and_the_walk_goes_on() {
    let api = MockApi::start().await;
    add(&api, 1..=6);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    handled.failing.lock().unwrap().push(ev(3));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let summary = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .start_from(StartFrom::Event(ev(1)))
        .retries(3, Duration::from_millis(5))
        .observer(move |progress: &Progress<'_>| {
            let line = match progress {
                Progress::Retrying {
                    event, attempts, ..
                } => format!("retry {} {attempts}", event.id),
                Progress::Stuck {
                    event, attempts, ..
                } => format!("stuck {} {attempts}", event.id),
                _ => return,
            };
            log.lock().unwrap().push(line);
        })
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(summary.stuck, [ev(3)]);
    assert_eq!(
        *seen.lock().unwrap(),
        ["retry ev_003 1", "retry ev_003 2", "stuck ev_003 3"]
    );
    let mut expected = ids(1..=6);
    expected.retain(|id| *id != ev(3));
    assert_eq!(handled.ids(), expected);
    assert_eq!(summary.cursor, Some(Cursor::After(ev(6))));
}

/// An event reported stuck stays in the cursor store, and each later run
/// (here by another instance on `later`) tries it again first, until it is
/// done, once.
async fn stuck_events_are_retried_by_later_runs(
    first: Arc<dyn CursorStore>,
    later: Arc<dyn CursorStore>,
) {
    let api = MockApi::start().await;
    add(&api, 1..=4);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    handled.failing.lock().unwrap().push(ev(2));
    let build = |cursors: &Arc<dyn CursorStore>| {
        Reconciler::builder(handled.receiver(client.clone()), client.clone())
            .quick()
            .start_from(StartFrom::Event(ev(1)))
            .retries(2, Duration::from_millis(5))
            .cursor_store(Arc::clone(cursors))
            .build()
            .unwrap()
    };
    let (a, b) = (build(&first), build(&later));
    let run = a.run_once().await.unwrap();
    assert_eq!(run.stuck, [ev(2)]);
    assert_eq!(run.cursor, Some(Cursor::After(ev(4))));
    assert_eq!(later.stuck("events").await.unwrap(), [ev(2)]);

    // Still failing: tried once more and still stuck; nothing new walked.
    let run = a.run_once().await.unwrap();
    assert_eq!((run.stuck_retried, run.events_seen), (1, 0));
    assert_eq!(run.stuck, [ev(2)]);

    // Mended: the next run, by the other instance, processes it first.
    handled.failing.lock().unwrap().clear();
    add(&api, 5..=5);
    let run = b.run_once().await.unwrap();
    assert_eq!((run.stuck_retried, run.processed), (1, 2));
    assert!(run.stuck.is_empty(), "{:?}", run.stuck);
    assert!(first.stuck("events").await.unwrap().is_empty());
    let run = b.run_once().await.unwrap();
    assert_eq!((run.stuck_retried, run.processed), (0, 0));
    assert_eq!(handled.ids(), [ev(1), ev(3), ev(4), ev(2), ev(5)]);
}

#[tokio::test]
async fn shutdown_does_not_wait_out_a_retry_and_keeps_the_event() {
    let api = MockApi::start().await;
    add(&api, 1..=2);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    handled.failing.lock().unwrap().push(ev(1));
    let store = Arc::new(MemoryStore::default());
    let (tx, retrying) = tokio::sync::oneshot::channel();
    let tx = Mutex::new(Some(tx));
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .start_from(StartFrom::Event(ev(1)))
        .retries(5, Duration::from_secs(20))
        .cursor_store(Arc::clone(&store))
        .observer(move |progress: &Progress<'_>| {
            if let Progress::Retrying { .. } = progress {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
        })
        .build()
        .unwrap();
    let task = reconciler.clone().spawn(Duration::from_secs(3600));
    retrying.await.unwrap();
    let asked = Instant::now();
    task.shutdown().await;
    // The first retry waits 10 to 20 s: the stop cuts it short.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(store.load("events").await.unwrap(), None, "not passed");

    handled.failing.lock().unwrap().clear();
    reconciler.run_once().await.unwrap();
    assert_eq!(handled.ids(), ids(1..=2));
}

#[tokio::test]
async fn stuck_events_are_retried_by_later_runs_in_memory() {
    let store: Arc<dyn CursorStore> = Arc::new(MemoryStore::default());
    stuck_events_are_retried_by_later_runs(Arc::clone(&store), store).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn stuck_events_are_retried_by_later_runs_on_redis() {
    let prefix = unique_prefix();
    let first = redis_store(&prefix).await;
    let later = redis_store(&prefix).await;
    stuck_events_are_retried_by_later_runs(Arc::new(first), Arc::new(later)).await;
}

#[cfg(feature = "redis")]
fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test:reconcile:{nanos}:")
}

/// A store on a connection of its own, as another process would have.
#[cfg(feature = "redis")]
async fn redis_store(prefix: &str) -> smart_router_webhooks::RedisStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    smart_router_webhooks::RedisStoreBuilder::new(url)
        .key_prefix(prefix)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn keeps_the_budget_and_honours_retry_after() {
    let api = MockApi::builder().rate_limit(5).start().await;
    add(&api, 1..=40);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client)
        .requests_per_second(4.0)
        .page_size(4)
        .start_from(StartFrom::Event(ev(21)))
        .build()
        .unwrap();
    let summary = reconciler.run_once().await.unwrap();
    assert_eq!(handled.ids(), ids(21..=40));
    // A budget of 4 per second, evenly spaced: at most 5 in any second of
    // the mock's clock, which its limit of 5 lets through.
    let per_second = api.requests_per_second();
    assert!(per_second.iter().all(|n| *n <= 5), "{per_second:?}");
    assert_eq!(api.rate_limited_requests(), 0);
    assert_eq!(summary.requests, 6, "one fetch, five pages: {summary:?}");

    // A 429 with Retry-After: 1 holds the next request back a second.
    add(&api, 41..=44);
    api.reset_requests();
    api.fail_next(
        1,
        Failure::RateLimited {
            retry_after: Some(1),
            reset: None,
        },
    );
    let started = Instant::now();
    reconciler.run_once().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(handled.ids().len(), 24);
    let requests = api.recorded_requests();
    assert_eq!(requests.len(), 2, "the refused page, then the same page");
    assert_eq!(requests[0].query, requests[1].query);
}

#[tokio::test]
async fn each_page_reports_the_rate_limit_the_api_gave() {
    for limit in [Some(50), None] {
        let api = match limit {
            Some(limit) => MockApi::builder().rate_limit(limit).start().await,
            None => MockApi::start().await,
        };
        add(&api, 1..=6);
        let client = api.client_builder().build().unwrap();
        // (rate_limit, rate_limit_remaining) of each page.
        type Reported = Vec<(Option<u64>, Option<u64>)>;
        let pages: Arc<Mutex<Reported>> = Arc::default();
        let log = Arc::clone(&pages);
        Reconciler::builder(Handled::default().receiver(client.clone()), client)
            .quick()
            .start_from(StartFrom::Event(ev(1)))
            .observer(move |progress: &Progress<'_>| {
                if let Progress::Page {
                    rate_limit,
                    rate_limit_remaining,
                    ..
                } = progress
                {
                    log.lock()
                        .unwrap()
                        .push((*rate_limit, *rate_limit_remaining));
                }
            })
            .build()
            .unwrap()
            .run_once()
            .await
            .unwrap();
        let pages = pages.lock().unwrap();
        assert_eq!(pages.len(), 2, "{pages:?}");
        for (reported, remaining) in pages.iter() {
            assert_eq!(*reported, limit.map(u64::from), "{pages:?}");
            match limit {
                // The mock counts the requests of the current second.
                Some(limit) => assert!(remaining.unwrap() < u64::from(limit), "{pages:?}"),
                // Without the headers, nothing is made up.
                None => assert_eq!(*remaining, None),
            }
        }
    }
}

#[tokio::test]
async fn a_failing_api_ends_the_run_and_the_next_resumes_from_the_cursor() {
    let api = Arc::new(MockApi::start().await);
    add(&api, 1..=8);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let outage = Arc::clone(&api);
    let reconciler = Reconciler::builder(handled.receiver(client.clone()), client)
        .quick()
        .request_attempts(2)
        .start_from(StartFrom::Event(ev(1)))
        .observer(move |progress: &Progress<'_>| {
            // The API goes down once the first page is done.
            if let Progress::Done { event, .. } = progress {
                if event.id == ev(5) {
                    outage.fail_next(2, Failure::InternalError);
                }
            }
        })
        .build()
        .unwrap();
    let error = reconciler.run_once().await.unwrap_err();
    assert!(error.to_string().contains("event list"), "{error}");
    assert_eq!(handled.ids(), ids(1..=5));
    let summary: RunSummary = reconciler.run_once().await.unwrap();
    assert_eq!(handled.ids(), ids(1..=8), "nothing skipped, nothing twice");
    assert_eq!(summary.cursor, Some(Cursor::After(ev(8))));
}

#[tokio::test]
async fn an_event_a_delivery_processed_is_a_duplicate() {
    let api = MockApi::start().await;
    add(&api, 1..=3);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let receiver = handled.receiver(client.clone());
    receiver.process(&ev(2)).await;
    let summary = Reconciler::builder(receiver, client)
        .quick()
        .start_from(StartFrom::Event(ev(1)))
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(handled.ids(), [ev(2), ev(1), ev(3)]);
    assert_eq!((summary.processed, summary.already_done), (2, 1));
}

#[tokio::test]
async fn one_walk_at_a_time_on_a_shared_store() {
    let api = MockApi::start().await;
    add(&api, 1..=12);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let store = Arc::new(MemoryStore::default());
    let build = || {
        Reconciler::builder(handled.receiver(client.clone()), client.clone())
            .requests_per_second(20.0)
            .page_size(4)
            .start_from(StartFrom::Event(ev(1)))
            .cursor_store(Arc::clone(&store))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.walked != rb.walked, "{ra:?} {rb:?}");
    assert_eq!(handled.ids(), ids(1..=12));
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_instances_sharing_redis_walk_once() {
    let prefix = unique_prefix();
    let api = MockApi::start().await;
    add(&api, 1..=20);
    let client = api.client_builder().build().unwrap();
    let handled = Handled::default();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = redis_store(&prefix).await;
        let receiver = Receiver::builder()
            .allow_unauthenticated()
            .fetcher(client.clone())
            .claim_store(store.clone())
            .on_every_event("count", {
                let runs = Arc::clone(&handled.runs);
                move |ctx: EventContext| {
                    let runs = Arc::clone(&runs);
                    async move {
                        runs.lock().unwrap().push(ctx.event().id.clone());
                        Ok::<_, HandlerError>(())
                    }
                }
            })
            .build()
            .unwrap();
        instances.push(
            Reconciler::builder(receiver, client.clone())
                .requests_per_second(50.0)
                .page_size(5)
                .start_from(StartFrom::Event(ev(1)))
                .cursor_store(store)
                .build()
                .unwrap(),
        );
    }
    let (ra, rb) = tokio::join!(instances[0].run_once(), instances[1].run_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.walked != rb.walked, "one walks, the other stands aside");
    let mut counts: std::collections::HashMap<EventId, usize> = std::collections::HashMap::new();
    for id in handled.ids() {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // The cursor is shared: the other instance resumes after ev_020.
    add(&api, 21..=22);
    let summary = instances[1].run_once().await.unwrap();
    assert_eq!(summary.events_seen, 2);
    assert_eq!(summary.cursor, Some(Cursor::After(ev(22))));
}

#[tokio::test]
async fn the_audit_reports_events_whose_deliveries_all_failed() {
    let api = MockApi::start().await;
    add(&api, 1..=6);
    let url = "https://shop.example/webhooks";
    api.withhold_deliveries(&ev(2), url, &[Some(503), None, Some(502)]);
    api.withhold_deliveries(&ev(5), url, &[Some(404)]);
    api.add_webhook(
        &ev(4),
        serde_json::json!({"id": "wh_ok", "response_code": 500}),
    );
    api.add_webhook(
        &ev(4),
        serde_json::json!({"id": "wh_ok2", "response_code": 200}),
    );
    let client = api.client_builder().build().unwrap();
    let missed = audit_deliveries(&client, &Cursor::After(ev(1)), Some(&ev(5)))
        .await
        .unwrap();
    let found: Vec<_> = missed
        .iter()
        .map(|m| (m.event.id.clone(), m.status_codes()))
        .collect();
    assert_eq!(
        found,
        [
            (ev(2), vec![Some(503), None, Some(502)]),
            (ev(5), vec![Some(404)]),
        ]
    );
    assert_eq!(
        api.requests("/events/ev_006/webhooks"),
        0,
        "stops at `until`"
    );
}

#[tokio::test]
async fn the_audit_reads_each_delivery_record_as_the_api_writes_it() {
    let api = MockApi::start().await;
    add(&api, 1..=1);
    let vendor = api
        .add_event_json(include_str!("fixtures/event-transaction-failed.json"))
        .unwrap();
    add(&api, 3..=3);
    // The vendor's event: a code written as text, a URL with credentials,
    // a field the crate does not model, and a response time.
    api.add_webhook(
        &vendor,
        serde_json::json!({"id": "wh_1", "event_id": vendor.as_str(), "response_code": "500",
               "request_url": "https://hooks:s3cr3t@shop.example/webhooks", "status": 2}),
    );
    api.add_webhook(
        &vendor,
        serde_json::json!({"id": "wh_2", "event_id": vendor.as_str(), "response_code": 404,
               "response_time_ms": 42}),
    );
    // Delivered at the second attempt: not missed.
    api.add_webhook(
        &ev(3),
        serde_json::json!({"id": "wh_3", "response_code": 500}),
    );
    api.add_webhook(
        &ev(3),
        serde_json::json!({"id": "wh_4", "response_code": 200}),
    );
    let client = api.client_builder().build().unwrap();
    let missed = audit_deliveries(&client, &Cursor::After(ev(1)), None)
        .await
        .unwrap();
    assert_eq!(missed.len(), 1, "{missed:?}");
    let missed = &missed[0];
    assert_eq!(missed.event.id, vendor);
    assert_eq!(missed.status_codes(), [Some(500), Some(404)]);
    assert!(missed.deliveries.iter().all(|d| !d.is_delivered()));
    assert_eq!(missed.deliveries[0].extra["status"], 2);
    assert_eq!(missed.deliveries[1].response_time_ms, Some(42));
    assert!(!format!("{missed:?}").contains("s3cr3t"));
    assert_eq!(api.requests(&format!("/events/{vendor}/webhooks")), 1);
    assert_eq!(api.requests("/events/ev_003/webhooks"), 1);
}
