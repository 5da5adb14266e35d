//! Inbox mode on Redis Streams, against a real `redis-server`: the inbox
//! contract and key layout, the workers' guarantees (a duplicate queued
//! once, a dead letter replayed, workers aborted or killed mid-handler
//! taken over, a worker *process* killed with SIGKILL taken over, a
//! graceful shutdown), and no acknowledged event lost across a Redis
//! restart with persistence on.
//!
//! The server at `REDIS_URL` (`redis://127.0.0.1:6379` by default) is
//! used under unique key prefixes; the restart test starts its own.
#![cfg(all(feature = "redis", feature = "testing", feature = "reqwest"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/deliveries.rs"]
mod deliveries;
#[path = "support/inbox_contract.rs"]
mod inbox_contract;
#[path = "support/inbox_scenarios.rs"]
mod inbox_scenarios;
#[path = "support/instance.rs"]
mod instance;
#[path = "support/redis_server.rs"]
mod redis_server;
#[allow(dead_code)] // only `unique` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use deliveries::delivery;
use http::StatusCode;
use inbox_contract::{LEASE, unique};
use inbox_scenarios::{
    Backend, Behaviour, CLAIM_LEASE, Tally, captured, eventually, handled, receiver, workers,
};
use redis_server::{INSTALL_HINT, RedisServer};
use smart_router_webhooks::inbox::{Inbox, RedisInbox, Workers};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    ApiClient, EventContext, EventType, HandlerError, Receiver, RedisStore, RedisStoreBuilder,
};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The time to live of the claim and transaction keys these tests write.
const KEY_TTL: Duration = Duration::from_secs(600);

async fn store_at(url: &str, prefix: &str) -> RedisStore {
    RedisStoreBuilder::new(url)
        .key_prefix(prefix)
        .timeout(Duration::from_secs(2))
        .done_ttl(KEY_TTL)
        .handlers_ttl(KEY_TTL)
        .transaction_ttl(KEY_TTL)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis answers at {url} ({e:?}); {INSTALL_HINT}"))
}

/// A backend on a fresh prefix of the server at `url`.
async fn backend_at(url: &str) -> (Backend, String) {
    let prefix = format!("{}:", unique("srw-inbox-test"));
    let store = store_at(url, &prefix).await;
    let inbox = RedisInbox::new(&store, "shop").unwrap().with_lease(LEASE);
    let backend = Backend {
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store.clone()),
        inbox: Arc::new(inbox),
    };
    (backend, prefix)
}

/// Runs `scenario` on a backend of its own, then deletes its keys (the
/// inbox's never expire).
async fn on_a_fresh_backend<F: std::future::Future<Output = ()>>(
    scenario: impl FnOnce(Backend) -> F,
) {
    let (backend, prefix) = backend_at(&redis_url()).await;
    scenario(backend).await;
    clean(&redis_url(), &prefix).await;
}

async fn inspector(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Deletes every key under `prefix`.
async fn clean(url: &str, prefix: &str) {
    let mut conn = inspector(url).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
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

#[tokio::test]
async fn the_redis_inbox_keeps_the_inbox_contract() {
    let prefix = format!("{}:", unique("srw-inbox-contract"));
    let store = store_at(&redis_url(), &prefix).await;
    inbox_contract::run_all(|| async {
        let name = unique("app");
        Arc::new(RedisInbox::new(&store, name).unwrap().with_lease(LEASE)) as Arc<dyn Inbox>
    })
    .await;
    clean(&redis_url(), &prefix).await;
}

#[tokio::test]
async fn the_stream_holds_exactly_the_unsettled_work_under_one_hash_tag() {
    let url = redis_url();
    let prefix = format!("{}:", unique("srw-inbox-keys"));
    let store = store_at(&url, &prefix).await;
    assert!(RedisInbox::new(&store, "a{b}").is_err());
    assert!(RedisInbox::new(&store, "").is_err());
    let inbox = RedisInbox::new(&store, "shop").unwrap().with_lease(LEASE);
    let mut conn = inspector(&url).await;
    let stream = format!("{prefix}inbox:{{shop}}:stream");
    let xlen = async |conn: &mut redis::aio::MultiplexedConnection| -> usize {
        redis::cmd("XLEN")
            .arg(&stream)
            .query_async(conn)
            .await
            .unwrap()
    };
    let ids: Vec<_> = (0..3).map(|_| inbox_contract::event_id()).collect();
    for id in &ids {
        inbox.enqueue(id).await.unwrap();
    }
    let taken = inbox.take("w", 2).await.unwrap();
    assert_eq!(xlen(&mut conn).await, 3, "taken but unsettled work stays");
    inbox.ack(&taken[0]).await.unwrap();
    inbox
        .retry(&taken[1], Duration::from_secs(60), 1)
        .await
        .unwrap();
    assert_eq!(xlen(&mut conn).await, 1, "settled entries are deleted");
    let left = inbox.take("w", 1).await.unwrap().remove(0);
    let boom = std::io::Error::other("boom");
    inbox
        .dead_letter(&left, smart_router_webhooks::inbox::Failure::new(1, &boom))
        .await
        .unwrap();
    assert_eq!(xlen(&mut conn).await, 0);

    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(
            key.starts_with(&format!("{prefix}inbox:{{shop}}:")),
            "{key}"
        );
    }
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "one consumer group: the application's");
    let delayed: usize = redis::cmd("ZCARD")
        .arg(format!("{prefix}inbox:{{shop}}:delayed"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(delayed, 1);
    let depth = inbox.depth().await.unwrap();
    assert_eq!((depth.items, depth.dead_letters), (1, 1));
    clean(&url, &prefix).await;
}

#[tokio::test]
async fn workers_that_stop_leave_no_consumer_behind() {
    let api = MockApi::start().await;
    let (backend, prefix) = backend_at(&redis_url()).await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let pool = workers(&receiver, 3);
    let id = captured(&api);
    receiver.receive(delivery(&id)).await;
    handled(&tally, &backend.inbox, &id).await;
    pool.shutdown(Duration::from_secs(5)).await;
    let mut conn = inspector(&redis_url()).await;
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{prefix}inbox:{{shop}}:stream"))
        .arg("shop")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(consumers.is_empty(), "{consumers:?}");
    clean(&redis_url(), &prefix).await;
}

#[tokio::test]
async fn a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once() {
    on_a_fresh_backend(
        inbox_scenarios::a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once,
    )
    .await;
}

#[tokio::test]
async fn an_event_failing_every_attempt_is_dead_lettered_then_replayed() {
    on_a_fresh_backend(
        inbox_scenarios::an_event_failing_every_attempt_is_dead_lettered_then_replayed,
    )
    .await;
}

#[tokio::test]
async fn workers_aborted_mid_handler_leave_the_event_to_others() {
    on_a_fresh_backend(inbox_scenarios::workers_aborted_mid_handler_leave_the_event_to_others)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_handler_is_taken_over() {
    on_a_fresh_backend(inbox_scenarios::a_worker_killed_mid_handler_is_taken_over).await;
}

#[tokio::test]
async fn shutdown_leaves_no_event_half_done() {
    on_a_fresh_backend(inbox_scenarios::shutdown_leaves_no_event_half_done).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_event_is_lost_across_a_redis_restart_with_persistence_on() {
    let mut server = RedisServer::start_persistent();
    let (backend, _) = backend_at(&server.url()).await;
    let api = MockApi::start().await;
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let ids: Vec<_> = (0..5).map(|_| captured(&api)).collect();
    for id in &ids {
        let report = receiver.receive(delivery(id)).await;
        assert_eq!(report.status, StatusCode::ACCEPTED, "acknowledged");
    }
    // One is in the hands of a worker that dies with the restart.
    let held = backend
        .inbox
        .take("gone-with-the-restart", 1)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);

    server.restart(); // SIGKILL, then start again on the same data
    let pool = workers(&receiver, 2);
    for id in &ids {
        handled(&tally, &backend.inbox, id).await;
    }
    pool.shutdown(Duration::from_secs(5)).await;
    for id in &ids {
        assert_eq!(tally.runs("ledger", id), 1, "{id}");
        assert_eq!(tally.successes("audit", id), 1, "{id}");
    }
}

/// Tells the test binary, run again as a child, to be the worker process.
const CHILD: &str = "SRW_INBOX_WORKER_PROCESS";

/// The child: a worker process on the inbox, whose `ledger` handler
/// prints `started` and then hangs (until the parent kills it).
async fn worker_process(config: &str) -> ! {
    let [url, prefix, api_url, project, key, id]: [&str; 6] =
        config.split(' ').collect::<Vec<_>>().try_into().unwrap();
    let store = store_at(url, prefix).await;
    let inbox = RedisInbox::new(&store, "shop").unwrap().with_lease(LEASE);
    let api = ApiClient::builder(project, key)
        .base_url(api_url)
        .build()
        .unwrap();
    let print = |name: &'static str| {
        move |ctx: EventContext| async move {
            println!("{name} started {}", ctx.event().id);
            if name == "ledger" {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            println!("{name} succeeded {}", ctx.event().id);
            Ok::<_, HandlerError>(())
        }
    };
    let receiver = Receiver::builder()
        .credentials(deliveries::credentials())
        .fetcher(api)
        .claim_store(store.clone())
        .transaction_store(store.clone())
        .inbox(inbox)
        .lease(CLAIM_LEASE)
        .on(EventType::TransactionCaptured, "ledger", print("ledger"))
        .on_every_event("audit", print("audit"))
        .build()
        .unwrap();
    let _workers = Workers::builder(receiver)
        .count(1)
        .poll_interval(Duration::from_millis(20))
        .spawn()
        .unwrap();
    println!("worker ready for {id}");
    std::future::pending().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_killed_mid_handler_is_taken_over() {
    if let Ok(config) = std::env::var(CHILD) {
        worker_process(&config).await;
    }
    let url = redis_url();
    let (backend, prefix) = backend_at(&url).await;
    let api = MockApi::start().await;
    let id = captured(&api);
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    let parent = receiver(&api, &backend, &tally, &ledger, None);
    assert_eq!(
        parent.receive(delivery(&id)).await.status,
        StatusCode::ACCEPTED
    );

    let config = [
        url.as_str(),
        &prefix,
        &api.url(),
        api.project_id(),
        api.private_key(),
        id.as_str(),
    ]
    .join(" ");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_worker_process_killed_mid_handler_is_taken_over",
            "--exact",
        ])
        .args(["--nocapture", "--test-threads", "1"])
        .env(CHILD, config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("ledger started")) {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the worker process said {seen:?}, then {e}"));
        seen.push(line);
    }
    child.kill().unwrap(); // SIGKILL, mid-handler
    child.wait().unwrap();
    seen.extend(lines.try_iter());

    let pool = workers(&parent, 1);
    eventually(
        Duration::from_secs(20),
        "the event taken over",
        async || {
            tally.successes("ledger", &id) == 1 && backend.inbox.depth().await.unwrap().items == 0
        },
    )
    .await;
    pool.shutdown(Duration::from_secs(5)).await;
    let child_said = |what: &str| seen.iter().filter(|l| l.starts_with(what)).count();
    assert_eq!(child_said("ledger succeeded"), 0, "{seen:?}");
    assert_eq!(tally.successes("ledger", &id), 1);
    assert_eq!(
        child_said("audit succeeded") + tally.successes("audit", &id),
        1,
        "audit once, in either process: {seen:?}"
    );
    clean(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_worker_dies_every_time_is_dead_lettered() {
    on_a_fresh_backend(inbox_scenarios::an_event_whose_worker_dies_every_time_is_dead_lettered)
        .await;
}
