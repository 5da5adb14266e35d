//! Several receivers sharing one Redis, as instances behind a load
//! balancer: one fetch and one run per handler however deliveries are
//! spread, a dead instance's event taken over after its lease, and a Redis
//! outage answered 503 and recovered from by the sender's retries.
//!
//! Everything is real: the receivers fetch from the mock API over HTTP
//! with `ApiClient` (reqwest), keep their claims and transaction snapshots
//! in a real `redis-server` (the one at `REDIS_URL`, or one of the test's
//! own when it must stop it), and, where deliveries go over HTTP, are
//! served by axum and delivered to by `testing::Sender`.
#![cfg(all(
    feature = "redis",
    feature = "testing",
    feature = "reqwest",
    feature = "axum"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/deliveries.rs"]
mod deliveries;
#[path = "support/instance.rs"]
mod killable;
#[path = "support/redis_server.rs"]
mod redis_server;
// For `unique`: the contract suite itself runs in the store tests.
#[allow(dead_code)]
#[path = "support/store_contract.rs"]
mod store_contract;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use deliveries::{Outcomes, Runs, credentials, delivery};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use redis_server::{INSTALL_HINT, RedisServer};
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::testing::{MockApi, Sender};
use smart_router_webhooks::{
    Event, EventContext, EventId, EventType, Handler, HandlerError, Outcome, Receiver,
    ReceiverBuilder, RedisStoreBuilder, TransactionStatus, Transition,
};
use store_contract::unique;

/// The time to live of every key these tests write in the shared Redis,
/// so that none lingers.
const KEY_TTL: Duration = Duration::from_secs(600);

/// How long a bounded wait may last before the test fails: generous, for
/// a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A `transaction.captured` event of a transaction of its own, under an
/// ID unique to this run.
fn captured_event() -> Event {
    deliveries::captured_event(&unique("ev"))
}

/// A handler whose first run never ends (its instance dies in it); later
/// runs succeed.
#[derive(Clone, Default)]
struct HangsOnce {
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

#[async_trait]
impl Handler for HangsOnce {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        if self.started.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// One instance of the application: a receiver with a Redis connection of
/// its own.
struct Instance {
    receiver: Receiver,
    outcomes: Outcomes,
}

/// An instance on the Redis at `redis_url` under `prefix`, fetching from
/// `api` through `ApiClient`; `configure` adds the handlers and the lease.
async fn instance(
    api: &MockApi,
    redis_url: &str,
    prefix: &str,
    configure: impl FnOnce(ReceiverBuilder) -> ReceiverBuilder,
) -> Instance {
    let store = RedisStoreBuilder::new(redis_url)
        .key_prefix(prefix)
        .done_ttl(KEY_TTL)
        .handlers_ttl(KEY_TTL)
        .transaction_ttl(KEY_TTL)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis answers at {redis_url} ({e:?}); {INSTALL_HINT}"));
    let outcomes = Outcomes::default();
    let builder = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.client_builder().build().unwrap())
        .claim_store(store.clone())
        .transaction_store(store.clone())
        .observer(outcomes.clone());
    Instance {
        receiver: configure(builder).build().unwrap(),
        outcomes,
    }
}

/// Serves `receiver` with axum on a free loopback port; returns the
/// address. The server stops with the test's runtime.
async fn serve(receiver: Receiver) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app: axum::Router = webhook_router("/webhooks", receiver);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A sender to the instance served at `addr`, as Smart Router would be
/// configured: the credentials in the webhook URL.
fn sender_to(addr: SocketAddr) -> Sender {
    Sender::new(&format!("http://hooks:s3cret@{addr}/webhooks")).unwrap()
}

/// Waits until `condition` holds, checking every 10 ms, failing the test
/// after [`PATIENCE`].
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_fetch_and_run_an_event_once_however_its_deliveries_are_spread() {
    // The fetch takes a while, so that deliveries overlap the one that
    // processes the event.
    let api = MockApi::builder()
        .delay(Duration::from_millis(200))
        .start()
        .await;
    let event = captured_event();
    let id = event.id.clone();
    api.add_event(event);
    let (a, b) = (Runs::default(), Runs::default());
    let prefix = format!("{}:", unique("srw-receivers"));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let (a, b) = (a.clone(), b.clone());
        instances.push(
            instance(&api, &redis_url(), &prefix, |builder| {
                builder
                    .on(EventType::TransactionCaptured, "a", a)
                    .on_prefix("transaction.", "b", b)
            })
            .await,
        );
    }
    let mut senders = Vec::new();
    for instance in &instances {
        senders.push(sender_to(serve(instance.receiver.clone()).await));
    }

    // 50 deliveries at once, split between the two instances.
    let mut tasks = Vec::new();
    for n in 0..50 {
        let (sender, id) = (senders[n % 2].clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            sender
                .attempt(&id, Some(&EventType::TransactionCaptured), 1)
                .await
        }));
    }
    for task in tasks {
        let attempt = task.await.unwrap();
        assert!(
            matches!(attempt.status, Some(StatusCode::OK | StatusCode::CONFLICT)),
            "{attempt:?}"
        );
    }
    for instance in &instances {
        assert_eq!(instance.outcomes.total(), 25);
    }
    let processed: usize = instances
        .iter()
        .map(|i| i.outcomes.count(Outcome::Processed))
        .sum();
    assert_eq!(processed, 1);
    assert_eq!(api.requests(&format!("/events/{id}")), 1);
    assert_eq!((a.of(&id), b.of(&id)), (1, 1));

    // A later delivery to either instance is a duplicate: 200, no fetch,
    // no run.
    for (sender, instance) in senders.iter().zip(&instances) {
        let duplicates = instance.outcomes.count(Outcome::Duplicate);
        let attempt = sender
            .attempt(&id, Some(&EventType::TransactionCaptured), 1)
            .await;
        assert_eq!(attempt.status, Some(StatusCode::OK), "{attempt:?}");
        assert_eq!(instance.outcomes.count(Outcome::Duplicate), duplicates + 1);
    }
    assert_eq!(api.requests(&format!("/events/{id}")), 1);
    assert_eq!((a.of(&id), b.of(&id)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_claimed_by_an_instance_that_died_is_taken_over_after_its_lease() {
    let api = MockApi::start().await;
    let event = captured_event();
    let id = event.id.clone();
    api.add_event(event);
    let (a, b) = (Runs::default(), HangsOnce::default());
    let prefix = format!("{}:", unique("srw-receivers"));
    let lease = Duration::from_millis(300);
    let configure = |builder: ReceiverBuilder| {
        builder
            .lease(lease)
            .on(EventType::TransactionCaptured, "a", a.clone())
            .on(EventType::TransactionCaptured, "b", b.clone())
    };
    // The first instance runs its processing on a runtime of its own, to
    // kill it as a process dies.
    let process = killable::Instance::new();
    let runtime = process.runtime();
    let first = instance(&api, &redis_url(), &prefix, |b| {
        configure(b).runtime(runtime)
    })
    .await;
    let second = instance(&api, &redis_url(), &prefix, configure).await;

    // The first instance claims the event, runs `a`, then dies in `b`,
    // once the lease's renewal (every third of it) recorded `a` while `b`
    // still runs: a success is recorded with the next renewal, or with
    // the release at the end.
    let receiver = first.receiver.clone();
    let dying = tokio::spawn({
        let id = id.clone();
        async move { receiver.receive(delivery(&id)).await }
    });
    wait_until("`b` to start on the first instance", || {
        b.started.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(a.of(&id), 1);
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let handlers_key = format!("{prefix}ev:{{{id}}}:handlers");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let recorded: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&handlers_key)
            .query_async(&mut redis)
            .await
            .unwrap();
        if recorded == ["a"] {
            break;
        }
        assert!(recorded.is_empty(), "{recorded:?}");
        assert!(Instant::now() < deadline, "`a` never recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.finished.load(Ordering::SeqCst), 0, "`b` still runs");
    process.kill();
    let cut = dying.await.unwrap();
    assert_eq!(
        (cut.outcome, cut.status),
        (Outcome::Interrupted, StatusCode::SERVICE_UNAVAILABLE)
    );
    drop(first);

    // Until the lease ends, the other instance answers 409 without
    // fetching; then it takes the event over.
    let deadline = Instant::now() + PATIENCE;
    let report = loop {
        let report = second.receiver.receive(delivery(&id)).await;
        if report.outcome != Outcome::InProgress {
            break report;
        }
        assert_eq!(report.status, StatusCode::CONFLICT);
        assert!(report.retry_after.is_some());
        assert_eq!(api.requests(&format!("/events/{id}")), 1);
        assert!(Instant::now() < deadline, "the lease never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Processed, StatusCode::OK),
        "{report:?}"
    );
    assert_eq!(report.skipped, ["a"], "`a` completed on the first instance");
    let ran: Vec<&str> = report.handlers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(ran, ["b"]);
    // The transaction store already holds the event's snapshot: the
    // takeover sees the change the dead instance saw.
    assert_eq!(
        report.tracking.transition,
        Some(Transition::new(None, TransactionStatus::Completed))
    );
    assert_eq!(api.requests(&format!("/events/{id}")), 2);
    assert_eq!(a.of(&id), 1);
    assert_eq!(
        (
            b.started.load(Ordering::SeqCst),
            b.finished.load(Ordering::SeqCst)
        ),
        (2, 1)
    );

    // Done: a restarted instance sees a duplicate.
    let restarted = instance(&api, &redis_url(), &prefix, configure).await;
    let report = restarted.receiver.receive(delivery(&id)).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Duplicate, StatusCode::OK)
    );
    assert_eq!(api.requests(&format!("/events/{id}")), 2);
}

/// One delivery of `event` over HTTP to the instance at `addr`, for its
/// headers.
async fn post(addr: SocketAddr, event: &EventId) -> http::Response<hyper::body::Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let body = format!(r#"{{"event_id":"{event}"}}"#);
    let request = Request::post(format!("http://{addr}/webhooks"))
        .header(
            http::header::AUTHORIZATION,
            credentials().authorization_header(),
        )
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    client.request(request).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_during_a_redis_outage_are_answered_503_and_processed_once_after_it() {
    let mut server = RedisServer::start();
    let api = MockApi::start().await;
    let ids: Vec<EventId> = (0..20)
        .map(|_| {
            let event = captured_event();
            let id = event.id.clone();
            api.add_event(event);
            id
        })
        .collect();
    let (a, b) = (Runs::default(), Runs::default());
    let prefix = format!("{}:", unique("srw-receivers"));
    let mut instances = Vec::new();
    let mut addrs = Vec::new();
    let mut senders = Vec::new();
    for _ in 0..2 {
        let (a, b) = (a.clone(), b.clone());
        let instance = instance(&api, &server.url(), &prefix, |builder| {
            builder.on(EventType::TransactionCaptured, "a", a).on(
                EventType::TransactionCaptured,
                "b",
                b,
            )
        })
        .await;
        let addr = serve(instance.receiver.clone()).await;
        // Retries after 0.1, 0.2, 0.4 … 25.6 s: about 51 s in all.
        senders.push(sender_to(addr).backoff(Duration::from_millis(100), 10));
        addrs.push(addr);
        instances.push(instance);
    }
    let sender_of = |n: usize| senders[n % 2].clone();
    let captured = Some(EventType::TransactionCaptured);

    // The first events are delivered while Redis is up.
    let (before, during) = ids.split_at(5);
    for (n, id) in before.iter().enumerate() {
        let delivery = sender_of(n).deliver(id, captured.as_ref()).await;
        assert!(delivery.delivered(), "{delivery:?}");
    }

    // Redis goes down between two deliveries (none is being processed:
    // an event whose handler ran but whose record was lost with Redis
    // would run that handler again).
    tokio::task::block_in_place(|| server.stop());

    // Each instance answers 503 with `Retry-After`.
    for addr in &addrs {
        let response = post(*addr, &during[0]).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[http::header::RETRY_AFTER],
            "30" // the receiver's default `Retry-After`
        );
    }
    // The other events are delivered meanwhile, and retried.
    let mut deliveries = Vec::new();
    for (n, id) in during.iter().enumerate() {
        let (sender, id, captured) = (sender_of(n), id.clone(), captured.clone());
        deliveries.push(tokio::spawn(async move {
            sender.deliver(&id, captured.as_ref()).await
        }));
    }
    let attempts = || {
        let mut all = senders[0].attempts();
        all.extend(senders[1].attempts());
        all
    };
    wait_until("every event to be refused twice during the outage", || {
        let attempts = attempts();
        during
            .iter()
            .all(|id| attempts.iter().filter(|a| a.event_id == *id).count() >= 2)
    })
    .await;
    // Nothing was fetched, run or marked done: every answer was a 503.
    for attempt in attempts().iter().filter(|a| during.contains(&a.event_id)) {
        assert_eq!(
            attempt.status,
            Some(StatusCode::SERVICE_UNAVAILABLE),
            "{attempt:?}"
        );
    }
    for id in during {
        assert_eq!(api.requests(&format!("/events/{id}")), 0);
        assert_eq!((a.of(id), b.of(id)), (0, 0));
    }
    assert!(
        instances
            .iter()
            .all(|i| i.outcomes.count(Outcome::StoreUnavailable) > 0)
    );

    // Redis comes back empty (no persistence) on the same port; the
    // instances reconnect by themselves and the retries go through.
    tokio::task::block_in_place(|| server.restart());
    for delivery in deliveries {
        let delivery = delivery.await.unwrap();
        assert!(delivery.delivered(), "{delivery:?}");
    }
    for id in &ids {
        assert_eq!((a.of(id), b.of(id)), (1, 1), "{id}");
        assert_eq!(api.requests(&format!("/events/{id}")), 1, "{id}");
    }
}
