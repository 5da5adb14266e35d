//! The chaos soak in inbox mode: deliveries of transaction lifecycles,
//! shuffled and partly duplicated, sent with retries and a short timeout
//! by `testing::Sender` to two receivers in inbox mode (axum and hyper on
//! loopback) that share one inbox, one claim store and one transaction
//! store; two pools of workers process the inbox while the mock API fails
//! 30% of the fetches, handlers fail 10% of their runs and panic in 3%,
//! and one pool is restarted halfway with a deadline too short for what
//! it holds.
//!
//! At the end: every delivery was acknowledged (202); the inbox is empty
//! and nothing is dead-lettered (no acknowledged event lost); every
//! (handler, event) pair that matches ran to success exactly once, and no
//! other pair ran; every transaction ends in its last status.
//!
//! Plain `cargo test` runs a small soak (about 300 deliveries);
//! `CHAOS_FULL=1` runs the full one (about 3,000). Both run on the memory
//! inbox and stores, and on the Redis ones (feature `redis`, Redis at
//! `REDIS_URL`). `--nocapture` shows a summary of each.
#![cfg(all(feature = "testing", feature = "reqwest", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;
#[path = "support/seeded.rs"]
mod seeded;
#[allow(dead_code)] // only `unique` and `ReadBack` are used here
#[path = "support/store_contract.rs"]
mod store_contract;

use seeded::Rng;
use std::collections::{BTreeMap, HashMap};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store_contract::ReadBack;

use smart_router_webhooks::inbox::{Inbox, MemoryInbox, RetryPolicy, Workers};
use smart_router_webhooks::testing::{Failure, MockApi, RandomFailures, Sender};
use smart_router_webhooks::{
    ClaimStore, Credentials, Event, EventContext, EventId, EventType, HandlerError, MemoryStore,
    Receiver, Timestamp, Transaction, TransactionId, TransactionStatus,
};

use answers::{PASSWORD, PATH, USER};

const SEED: u64 = 0x1b0c_c4a0_5000_0014;

/// The handlers, and which events each takes.
const HANDLERS: [&str; 3] = ["ledger", "fulfil", "audit"];

fn takes(handler: &str, event: &EventType) -> bool {
    match handler {
        "ledger" => event.has_prefix("transaction."),
        "fulfil" => *event == EventType::TransactionCaptured,
        _ => true,
    }
}

/// A hash of `parts` under the soak's seed, as a fraction of 1.
fn draw(parts: &[&[u8]]) -> f64 {
    seeded::draw(SEED, parts)
}

/// The lifecycles, and the schedule of deliveries.
struct World {
    lifecycles: Vec<(TransactionId, Vec<Event>)>,
    schedule: Vec<(EventId, EventType)>,
}

impl World {
    /// `transactions` card payments of 2 to 4 events (requested,
    /// authorized, captured, refunded), 20% of the events delivered twice,
    /// all shuffled.
    fn generate(transactions: usize) -> World {
        use EventType as T;
        use TransactionStatus as S;
        let steps = [
            (T::TransactionRequested, S::Waiting),
            (T::TransactionAuthorized, S::Authorized),
            (T::TransactionCaptured, S::Completed),
            (T::TransactionRefunded, S::Refunded),
        ];
        let mut rng = Rng(SEED);
        let mut lifecycles = Vec::new();
        let mut all = Vec::new();
        for t in 0..transactions {
            let transaction = TransactionId::parse(&format!("tr_ichaos{t:05}")).unwrap();
            let mut at = 1_793_613_600_000_000_000i128 + rng.below(86_400) as i128 * 1_000_000_000;
            let mut events = Vec::new();
            for (k, (name, status)) in steps.iter().take(2 + rng.below(3)).enumerate() {
                at += 1 + rng.below(86_400) as i128 * 1_000_000_000;
                let id = EventId::parse(&format!("ev_ichaos{t:05}x{k}")).unwrap();
                let mut event = Event::new(id.clone(), name.clone());
                event.fired_at = Some(Timestamp::from_unix_nanos(at));
                event.data.transaction =
                    Some(Transaction::new(transaction.clone(), status.clone()));
                all.push((id, name.clone()));
                events.push(event);
            }
            lifecycles.push((transaction, events));
        }
        let duplicates: Vec<_> = all.iter().filter(|_| rng.below(5) == 0).cloned().collect();
        all.extend(duplicates);
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        World {
            lifecycles,
            schedule: all,
        }
    }

    fn events(&self) -> impl Iterator<Item = &Event> {
        self.lifecycles.iter().flat_map(|(_, events)| events)
    }
}

/// (handler, event) → (runs, successes).
type Record = Arc<Mutex<HashMap<(&'static str, EventId), (usize, usize)>>>;

/// A handler that fails retryably in 10% of its runs and panics in 3%,
/// drawn from the event, the handler and the run's number.
fn handler(record: &Record, name: &'static str) -> impl smart_router_webhooks::Handler {
    let record = record.clone();
    move |ctx: EventContext| {
        let id = ctx.event().id.clone();
        let mut record = record.lock().unwrap();
        let runs = record.entry((name, id.clone())).or_default();
        runs.0 += 1;
        let n = runs.0.to_le_bytes();
        let roll = draw(&[id.as_str().as_bytes(), name.as_bytes(), &n]);
        if roll >= 0.13 {
            runs.1 += 1;
        }
        async move {
            if roll < 0.03 {
                panic!("injected handler panic");
            }
            if roll < 0.13 {
                return Err(HandlerError::retry("injected handler failure"));
            }
            Ok(())
        }
    }
}

/// What a soak runs on.
struct Backend {
    kind: &'static str,
    inbox: Arc<dyn Inbox>,
    claims: Arc<dyn ClaimStore>,
    transactions: Arc<dyn ReadBack>,
}

fn receiver(api: &MockApi, backend: &Backend, record: &Record) -> Receiver {
    let client = api
        .client_builder()
        .timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    Receiver::builder()
        .credentials(Credentials::new(USER, PASSWORD).unwrap())
        .fetcher(client)
        .claim_store(backend.claims.clone())
        .transaction_store(backend.transactions.clone())
        .inbox(backend.inbox.clone())
        .lease(Duration::from_secs(1))
        .retry_after(Duration::from_millis(50))
        .on_prefix("transaction.", "ledger", handler(record, "ledger"))
        .on(
            EventType::TransactionCaptured,
            "fulfil",
            handler(record, "fulfil"),
        )
        .on_every_event("audit", handler(record, "audit"))
        .build()
        .unwrap()
}

fn pool(receiver: &Receiver) -> Workers {
    Workers::builder(receiver.clone())
        .count(4)
        .poll_interval(Duration::from_millis(10))
        .retry(
            RetryPolicy::new()
                .first_delay(Duration::from_millis(10))
                .max_delay(Duration::from_millis(200))
                .max_attempts(40),
        )
        .spawn()
        .unwrap()
}

fn transactions_from_env() -> usize {
    match std::env::var("CHAOS_FULL") {
        Ok(v) if !v.is_empty() && v != "0" => 800,
        _ => 80,
    }
}

/// Keeps the injected panics out of the output (the others still print).
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"injected handler panic") {
            default(info);
        }
    }));
}

async fn soak(backend: Backend) {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(quiet_injected_panics);
    let started = Instant::now();
    let world = World::generate(transactions_from_env());
    let api = MockApi::start().await;
    for event in world.events() {
        api.add_event(event.clone());
    }
    api.fail_randomly(
        RandomFailures::new(0.3, SEED)
            .with(Failure::InternalError, 30)
            .with(Failure::Unavailable { retry_after: None }, 20)
            .with(Failure::Hang, 10)
            .with(Failure::Close, 40),
    );
    let record = Record::default();
    let receivers: Vec<Receiver> = (0..2).map(|_| receiver(&api, &backend, &record)).collect();
    let served: Vec<_> = ["axum", "hyper"]
        .iter()
        .zip(&receivers)
        .map(|(adapter, r)| http_target::serve(adapter, r.clone()))
        .collect();
    let password = PASSWORD.replace('@', "%40").replace(':', "%3A");
    // A short timeout: a delivery answered late is sent again.
    let senders: Vec<Sender> = served
        .iter()
        .map(|s| {
            Sender::new(&format!("http://{USER}:{password}@{}{PATH}", s.addr))
                .unwrap()
                .backoff(Duration::from_millis(5), 30)
                .timeout(Duration::from_millis(100))
        })
        .collect();
    let mut pools = vec![pool(&receivers[0]), pool(&receivers[1])];

    let mut deliveries = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(32));
    let half = world.schedule.len() / 2;
    for (j, (id, name)) in world.schedule.iter().enumerate() {
        if j == half {
            // A worker restart: a deadline too short for what it holds.
            let stopped = pools.remove(0).shutdown(Duration::from_millis(5)).await;
            println!("restarted a pool: {stopped:?}");
            pools.push(pool(&receivers[0]));
        }
        let slot = slots.clone().acquire_owned().await.unwrap();
        let (sender, id, name) = (senders[j % 2].clone(), id.clone(), name.clone());
        deliveries.spawn(async move {
            let delivery = sender.deliver(&id, Some(&name)).await;
            drop(slot);
            (id, delivery)
        });
    }
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut lost = Vec::new();
    while let Some(done) = deliveries.join_next().await {
        let (id, delivery) = done.unwrap();
        for attempt in &delivery.attempts {
            let answer = attempt
                .status
                .map_or("no answer".to_owned(), |s| s.as_u16().to_string());
            *answers.entry(answer).or_default() += 1;
        }
        if !delivery.delivered() {
            lost.push(id);
        }
    }
    assert!(lost.is_empty(), "deliveries never acknowledged: {lost:?}");

    // Every acknowledged event is processed: the inbox empties, and
    // nothing is set aside.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let depth = backend.inbox.depth().await.unwrap();
        assert_eq!(
            depth.dead_letters,
            0,
            "{:?}",
            backend.inbox.dead_letters(5).await
        );
        if depth.items == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the inbox never emptied: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for pool in pools {
        assert!(pool.shutdown(Duration::from_secs(10)).await.finished);
    }
    let record = std::mem::take(&mut *record.lock().unwrap());
    let failures: usize = record.values().map(|(runs, ok)| runs - ok).sum();
    println!(
        "inbox chaos soak ({}): {} deliveries of {} events; answers {answers:?}; \
         {} API failures; {failures} handler failures and panics; {:.1} s",
        backend.kind,
        world.schedule.len(),
        world.events().count(),
        api.failed_requests(),
        started.elapsed().as_secs_f64()
    );
    assert!(api.failed_requests() > 0 && failures > 0);
    assert!(
        answers.keys().all(|a| a == "202" || !a.starts_with('2')),
        "only 202s acknowledge: {answers:?}"
    );

    let mut wrong = Vec::new();
    for event in world.events() {
        for name in HANDLERS {
            let (runs, successes) = record
                .get(&(name, event.id.clone()))
                .copied()
                .unwrap_or_default();
            let matches = takes(name, &event.name);
            if successes != usize::from(matches) || (!matches && runs > 0) {
                wrong.push((name, event.id.clone(), runs, successes));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not run to success exactly once: {wrong:?}"
    );

    for (transaction, events) in &world.lifecycles {
        let last = events.last().unwrap();
        let latest = backend.transactions.latest(transaction).await.unwrap();
        assert_eq!(latest.event_id, last.id, "{transaction}");
    }
}

/// The soaks of this file run one at a time: each loads the machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_chaos_soak_on_memory() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let store = MemoryStore::default();
    soak(Backend {
        kind: "memory",
        inbox: Arc::new(MemoryInbox::new(100_000).with_lease(Duration::from_millis(500))),
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store),
    })
    .await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_chaos_soak_on_redis() {
    use smart_router_webhooks::RedisStoreBuilder;
    use smart_router_webhooks::inbox::RedisInbox;

    let _turn = ONE_AT_A_TIME.lock().await;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("{}:", store_contract::unique("srw-inbox-chaos"));
    let ttl = Duration::from_secs(600);
    let store = RedisStoreBuilder::new(url.as_str())
        .key_prefix(prefix.as_str())
        .timeout(Duration::from_secs(10))
        .done_ttl(ttl)
        .handlers_ttl(ttl)
        .transaction_ttl(ttl)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis answers at REDIS_URL={url} ({e:?})"));
    let inbox = RedisInbox::new(&store, "chaos")
        .unwrap()
        .with_lease(Duration::from_millis(500));
    soak(Backend {
        kind: "redis",
        inbox: Arc::new(inbox),
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store),
    })
    .await;
    // The inbox's keys never expire: delete them after a run that passed.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}inbox:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: usize = redis::cmd("UNLINK")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
