//! The reconciliation soak: events of many transactions on the mock API;
//! `testing::Sender` delivers only part of them over HTTP (shuffled, some
//! twice), the endpoint being down for the rest past the sender's retries;
//! then the API fails 30% of the requests while the reconciler walks, and
//! the reconciler is killed mid-walk and restarted. At the end every event
//! was handled exactly once, and every transaction ends in the status of
//! its last event.
//!
//! Plain `cargo test` runs 200 events with the in-memory stores;
//! `CHAOS_FULL=1` runs 1,000. With the `redis` feature, the same soak runs
//! on the Redis stores (Redis at `REDIS_URL`).
#![cfg(all(
    feature = "testing",
    feature = "reqwest",
    feature = "axum",
    feature = "actix",
    feature = "tower",
    feature = "reconciler"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;
#[allow(dead_code)] // only `ReadBack` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use smart_router_webhooks::reconcile::{Cursor, CursorStore};
use smart_router_webhooks::reconcile::{Progress, Reconciler, StartFrom};
use smart_router_webhooks::testing::{Failure, MockApi, RandomFailures, Sender};
use smart_router_webhooks::{
    ClaimStore, Event, EventContext, EventId, EventType, HandlerError, MemoryStore, Receiver,
    Timestamp, Transaction, TransactionId, TransactionStatus,
};
use store_contract::ReadBack;

const SEED: u64 = 0x5eed_0013;

fn size() -> usize {
    match std::env::var("CHAOS_FULL") {
        Ok(v) if v != "0" => 1_000,
        _ => 200,
    }
}

struct Stores {
    claims: Arc<dyn ClaimStore>,
    transactions: Arc<dyn ReadBack>,
    cursors: Arc<dyn CursorStore>,
}

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` events over `n / 4` transactions: each authorized, captured,
/// refunded, refunded again; interleaved, fired a second apart.
fn events(n: usize) -> Vec<Event> {
    let steps = [
        (
            EventType::TransactionAuthorized,
            TransactionStatus::Authorized,
        ),
        (EventType::TransactionCaptured, TransactionStatus::Completed),
        (EventType::TransactionRefunded, TransactionStatus::Refunded),
        (EventType::TransactionRefunded, TransactionStatus::Refunded),
    ];
    let transactions = n / 4;
    (0..n)
        .map(|i| {
            let (step, tx) = (i / transactions, i % transactions);
            let (name, status) = steps[step].clone();
            let mut event = Event::new(EventId::parse(&format!("ev_{i:05}")).unwrap(), name);
            event.fired_at = Some(Timestamp::lenient(&format!(
                "2024-01-01T{:02}:{:02}:{:02}Z",
                i / 3600,
                (i / 60) % 60,
                i % 60
            )));
            let id = TransactionId::parse(&format!("tr_{tx:04}")).unwrap();
            event.data.transaction = Some(Transaction::new(id, status));
            event
        })
        .collect()
}

type Runs = Arc<Mutex<HashMap<EventId, usize>>>;

fn receiver(api: &MockApi, stores: &Stores, runs: &Runs) -> Receiver {
    let runs = Arc::clone(runs);
    Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api.client_builder().build().unwrap())
        .claim_store(Arc::clone(&stores.claims))
        .transaction_store(Arc::clone(&stores.transactions))
        .on_every_event("ledger", move |ctx: EventContext| {
            let runs = Arc::clone(&runs);
            async move {
                *runs
                    .lock()
                    .unwrap()
                    .entry(ctx.event().id.clone())
                    .or_default() += 1;
                Ok::<_, HandlerError>(())
            }
        })
        .build()
        .unwrap()
}

fn reconciler(api: &MockApi, stores: &Stores, runs: &Runs, done: &Arc<AtomicUsize>) -> Reconciler {
    let done = Arc::clone(done);
    Reconciler::builder(
        receiver(api, stores, runs),
        api.client_builder().build().unwrap(),
    )
    .cursor_store(Arc::clone(&stores.cursors))
    .start_from(StartFrom::Time(SystemTime::UNIX_EPOCH))
    .requests_per_second(500.0)
    .page_size(25)
    .request_backoff(Duration::from_millis(1), Duration::from_millis(20))
    .request_attempts(30)
    .retries(50, Duration::from_millis(20))
    .lease(Duration::from_millis(500))
    .observer(move |progress: &Progress<'_>| {
        if let Progress::Done { .. } = progress {
            done.fetch_add(1, Ordering::SeqCst);
        }
    })
    .build()
    .unwrap()
}

async fn soak(stores: Stores) {
    let n = size();
    let api = MockApi::start().await;
    let all = events(n);
    for event in &all {
        api.add_event(event.clone());
    }
    let runs: Runs = Arc::default();

    // Deliveries: 60% of the events reach the endpoint, shuffled, a fifth
    // of them twice; the others meet an endpoint that is down.
    let served = http_target::serve("hyper", receiver(&api, &stores, &runs));
    let up = Sender::new(&format!("http://u:p@{}/webhooks", served.addr))
        .unwrap()
        .backoff(Duration::from_millis(2), 5);
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = Sender::new(&format!("http://u:p@{down_port}/webhooks"))
        .unwrap()
        .backoff(Duration::from_millis(1), 3);
    let mut rng = Rng(SEED);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut missed = 0;
    for &i in &order {
        let event = &all[i];
        if rng.below(10) < 6 {
            let times = if rng.below(5) == 0 { 2 } else { 1 };
            for _ in 0..times {
                assert!(up.deliver(&event.id, Some(&event.name)).await.delivered());
            }
        } else {
            assert!(!down.deliver(&event.id, Some(&event.name)).await.delivered());
            missed += 1;
        }
    }
    assert!(missed > n / 4, "{missed}");
    let before = runs.lock().unwrap().len();
    assert_eq!(before, n - missed);

    // The walk, under 30% API faults, killed once mid-walk.
    api.fail_randomly(
        RandomFailures::new(0.3, SEED)
            .with(Failure::InternalError, 2)
            .with(Failure::Unavailable { retry_after: None }, 1)
            .with(Failure::Close, 1),
    );
    let done = Arc::new(AtomicUsize::new(0));
    let first = reconciler(&api, &stores, &runs, &done).spawn(Duration::from_secs(3600));
    while done.load(Ordering::SeqCst) < n / 3 {
        assert!(!first.is_finished(), "the first reconciler stopped early");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.abort();
    let killed_at = done.load(Ordering::SeqCst);
    assert!(killed_at < n, "killed mid-walk");

    let second = reconciler(&api, &stores, &runs, &done);
    let summary = loop {
        match second.run_once().await {
            // The dead instance's lease has not ended yet.
            Ok(summary) if !summary.walked => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(summary) => break summary,
            // Faults past the attempts end a run; the next resumes.
            Err(_) => {}
        }
    };
    let last = all.iter().map(|e| e.id.clone()).max().unwrap();
    assert_eq!(summary.cursor, Some(Cursor::After(last)));
    assert!(summary.stuck.is_empty(), "{:?}", summary.stuck);
    assert!(api.failed_requests() > 0, "the API did fail");

    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), n, "every event processed");
    let twice: Vec<_> = runs.iter().filter(|(_, count)| **count != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    for tx in 0..n / 4 {
        let id = TransactionId::parse(&format!("tr_{tx:04}")).unwrap();
        let latest = stores.transactions.latest(&id).await.unwrap();
        assert_eq!(latest.status, TransactionStatus::Refunded, "{id}");
        assert_eq!(
            latest.event_id,
            all[3 * (n / 4) + tx].id,
            "{id} ends on its last event"
        );
    }
    println!(
        "reconcile soak: {n} events, {missed} missed by the sender, killed after {killed_at} done, {} API failures",
        api.failed_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_soak_with_memory_stores() {
    let store = MemoryStore::default();
    soak(Stores {
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store.clone()),
        cursors: Arc::new(store),
    })
    .await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_soak_with_redis_stores() {
    use smart_router_webhooks::RedisStoreBuilder;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let store = RedisStoreBuilder::new(url)
        .key_prefix(format!("test:reconcile-soak:{nanos}:"))
        .build()
        .await
        .unwrap();
    soak(Stores {
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store.clone()),
        cursors: Arc::new(store),
    })
    .await;
}
