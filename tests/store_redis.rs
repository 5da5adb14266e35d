//! The store contract, key layout, times to live and outage behaviour of
//! `RedisStore`, against a real `redis-server`.
//!
//! The contract and key tests use the server at `REDIS_URL`
//! (`redis://127.0.0.1:6379` by default) and fail when none answers; the
//! outage tests start servers of their own.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/store_contract.rs"]
mod store_contract;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_server::{INSTALL_HINT, RedisServer};
use smart_router_webhooks::{
    Applied, Claim, ClaimStore, ClaimToken, ClaimUpdate, DeliveryProgress, ErrorKind, EventId,
    RedisStore, RedisStoreBuilder, Timestamp, TransactionId, TransactionSnapshot,
    TransactionStatus, TransactionStore,
};
use store_contract::unique;

const LEASE: Duration = Duration::from_secs(30);

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A store on the server at `REDIS_URL`, or a failure saying how to start
/// one.
async fn shared_store(builder: impl FnOnce(RedisStoreBuilder) -> RedisStoreBuilder) -> RedisStore {
    let url = redis_url();
    builder(RedisStoreBuilder::new(url.as_str()))
        .build()
        .await
        .unwrap_or_else(|e| {
            panic!("no Redis answers at REDIS_URL={url} ({e:?}); {INSTALL_HINT}, or set REDIS_URL")
        })
}

/// A plain connection to inspect what the store wrote.
async fn inspector(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

fn event_id() -> EventId {
    EventId::parse(&unique("ev")).unwrap()
}

fn transaction_id() -> TransactionId {
    TransactionId::parse(&unique("tr")).unwrap()
}

fn acquired(claim: Claim) -> ClaimToken {
    match claim {
        Claim::Acquired { token, .. } => token,
        other => panic!("expected Acquired, got {other:?}"),
    }
}

fn snapshot(tx: &TransactionId, status: TransactionStatus) -> TransactionSnapshot {
    TransactionSnapshot::new(
        tx.clone(),
        status,
        Some(Timestamp::lenient("2024-01-01T10:00:00.123456789Z")),
        event_id(),
    )
}

/// Asserts `ttl` (milliseconds) is set and within 5 s below `expected`.
fn assert_ttl(key: &str, ttl: i64, expected: Duration) {
    let expected = i64::try_from(expected.as_millis()).unwrap();
    assert!(
        ttl <= expected && ttl > expected - 5_000,
        "PTTL {key} is {ttl} ms, expected about {expected} ms"
    );
}

#[tokio::test]
async fn the_redis_store_keeps_the_claim_and_transaction_store_contract() {
    // Short times to live, so that test keys do not linger.
    let ttl = Duration::from_secs(600);
    let store = shared_store(|b| {
        b.key_prefix("srw-test:")
            .done_ttl(ttl)
            .handlers_ttl(ttl)
            .transaction_ttl(ttl)
    })
    .await;
    store_contract::run_all(|| Arc::new(store.clone()), || Arc::new(store.clone())).await;
}

#[tokio::test]
async fn keys_carry_the_prefix_share_a_hash_tag_and_expire() {
    let prefix = format!("{}:", unique("srw-keys"));
    let (done_ttl, handlers_ttl, transaction_ttl) = (
        Duration::from_secs(900),
        Duration::from_secs(600),
        Duration::from_secs(1200),
    );
    let store = shared_store(|b| {
        b.key_prefix(prefix.as_str())
            .done_ttl(done_ttl)
            .handlers_ttl(handlers_ttl)
            .transaction_ttl(transaction_ttl)
    })
    .await;
    let (claims, transactions) = (store.clone(), store.clone());
    let mut conn = inspector(&redis_url()).await;

    let id = event_id();
    let token = acquired(claims.claim(&id, LEASE).await.unwrap());
    let progress = DeliveryProgress::new(&["ledger"], Some("the plan"));
    assert!(
        claims
            .renew(ClaimUpdate::new(&id, &token, progress), LEASE)
            .await
            .unwrap()
    );
    let tx = transaction_id();
    transactions
        .apply(&snapshot(&tx, TransactionStatus::Authorized))
        .await
        .unwrap();

    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let claim_key = format!("{prefix}ev:{{{id}}}:claim");
    let handlers_key = format!("{prefix}ev:{{{id}}}:handlers");
    let owed_key = format!("{prefix}ev:{{{id}}}:owed");
    let tx_key = format!("{prefix}tx:{{{tx}}}");
    assert_eq!(
        keys,
        [
            claim_key.clone(),
            handlers_key.clone(),
            owed_key.clone(),
            tx_key.clone()
        ]
    );
    // Redis Cluster hashes only what is between the first `{` and `}`.
    let tag = |key: &str| {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        key[open + 1..close].to_owned()
    };
    assert_eq!(tag(&claim_key), id.as_str());
    assert_eq!(tag(&handlers_key), id.as_str());
    assert_eq!(tag(&owed_key), id.as_str());
    assert_eq!(tag(&tx_key), tx.as_str());

    // An unfinished event is kept for the handlers' time to live...
    assert_ttl(&claim_key, pttl(&mut conn, &claim_key).await, handlers_ttl);
    assert_ttl(
        &handlers_key,
        pttl(&mut conn, &handlers_key).await,
        handlers_ttl,
    );
    assert_ttl(&owed_key, pttl(&mut conn, &owed_key).await, handlers_ttl);
    assert_ttl(&tx_key, pttl(&mut conn, &tx_key).await, transaction_ttl);
    // ...or its lease, when longer.
    let long = event_id();
    claims.claim(&long, handlers_ttl * 2).await.unwrap();
    let long_key = format!("{prefix}ev:{{{long}}}:claim");
    assert_ttl(
        &long_key,
        pttl(&mut conn, &long_key).await,
        handlers_ttl * 2,
    );

    // A done event keeps only its claim key, for the done time to live.
    claims.complete(&id, &token).await.unwrap();
    assert_ttl(&claim_key, pttl(&mut conn, &claim_key).await, done_ttl);
    assert_eq!(pttl(&mut conn, &handlers_key).await, -2, "handlers deleted");
    assert_eq!(pttl(&mut conn, &owed_key).await, -2, "owed work deleted");

    // Recording for an event that is not claimed writes nothing.
    let late = DeliveryProgress::new(&["late"], Some("late plan"));
    assert!(
        !claims
            .release(ClaimUpdate::new(&id, &token, late))
            .await
            .unwrap()
    );
    assert_eq!(pttl(&mut conn, &handlers_key).await, -2, "nothing recorded");
    assert_eq!(pttl(&mut conn, &owed_key).await, -2, "nothing recorded");
    let unclaimed = event_id();
    assert!(
        !claims
            .release(ClaimUpdate::new(&unclaimed, &token, late))
            .await
            .unwrap()
    );
    assert!(
        !claims
            .renew(ClaimUpdate::new(&unclaimed, &token, late), LEASE)
            .await
            .unwrap()
    );
    let stray: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}ev:{{{unclaimed}}}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(stray.is_empty(), "{stray:?}");
}

#[tokio::test]
async fn the_claim_of_an_event_never_processed_expires_with_its_lease() {
    let prefix = format!("{}:", unique("srw-unprocessed"));
    let store = shared_store(|b| b.key_prefix(prefix.as_str())).await;
    let claims = store.clone();
    let mut conn = inspector(&redis_url()).await;
    // Claimed, then given up without recording anything (its fetch
    // failed: the API did not know it).
    let id = event_id();
    let lease = Duration::from_secs(2);
    let token = acquired(claims.claim(&id, lease).await.unwrap());
    let claim_key = format!("{prefix}ev:{{{id}}}:claim");
    assert_ttl(&claim_key, pttl(&mut conn, &claim_key).await, lease);
    assert!(
        claims
            .release(ClaimUpdate::new(&id, &token, DeliveryProgress::NONE))
            .await
            .unwrap()
    );
    assert_ttl(&claim_key, pttl(&mut conn, &claim_key).await, lease);
    // A renewal extends the key with the lease.
    let renewed = event_id();
    let token = acquired(claims.claim(&renewed, lease).await.unwrap());
    assert!(
        claims
            .renew(
                ClaimUpdate::new(&renewed, &token, DeliveryProgress::NONE),
                lease * 10
            )
            .await
            .unwrap()
    );
    let renewed_key = format!("{prefix}ev:{{{renewed}}}:claim");
    assert_ttl(
        &renewed_key,
        pttl(&mut conn, &renewed_key).await,
        lease * 10,
    );
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    assert_eq!(pttl(&mut conn, &claim_key).await, -2, "forgotten");
    assert!(pttl(&mut conn, &renewed_key).await > 0, "still held");
}

#[tokio::test]
async fn superseded_answers_stay_bounded_in_the_transactions_hash() {
    let prefix = format!("{}:", unique("srw-answers"));
    let store = shared_store(|b| {
        b.key_prefix(prefix.as_str())
            .transaction_ttl(Duration::from_secs(600))
    })
    .await;
    let tx =
        store_contract::the_answers_of_the_last_sixteen_superseded_events_are_kept(&store.clone())
            .await;
    let mut conn = inspector(&redis_url()).await;
    let fields: usize = redis::cmd("HLEN")
        .arg(format!("{prefix}tx:{{{tx}}}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    // event, status, fired_at, secs, nanos, rank, previous, superseded,
    // and 16 answers.
    assert_eq!(fields, 8 + 16);
}

#[tokio::test]
async fn an_unfinished_event_and_its_handlers_are_forgotten_together() {
    let store = shared_store(|b| {
        b.key_prefix("srw-test:")
            .handlers_ttl(Duration::from_millis(300))
    })
    .await;
    let claims = store.clone();
    let id = event_id();
    let short = Duration::from_millis(100);
    let token = acquired(claims.claim(&id, short).await.unwrap());
    let ledger = DeliveryProgress::new(&["ledger"], None);
    assert!(
        claims
            .renew(ClaimUpdate::new(&id, &token, ledger), short)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The lease ended, the handlers are still remembered.
    match claims.claim(&id, Duration::from_millis(100)).await.unwrap() {
        Claim::Acquired { completed, .. } => assert!(completed.contains("ledger")),
        other => panic!("expected Acquired, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    // Past the handlers' time to live the event is new again.
    match claims.claim(&id, LEASE).await.unwrap() {
        Claim::Acquired { completed, .. } => assert!(completed.is_empty(), "{completed:?}"),
        other => panic!("expected Acquired, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_output_never_shows_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", server.port());
    let store = RedisStoreBuilder::new(url.as_str()).build().await.unwrap();
    let clone = store.clone();
    acquired(clone.claim(&event_id(), LEASE).await.unwrap());
    for printed in [
        format!("{store:?}"),
        format!("{clone:?}"),
        format!("{:?}", RedisStoreBuilder::new(url.as_str())),
    ] {
        assert!(!printed.contains("s3cret-pw"), "{printed}");
        assert!(printed.contains(&server.port().to_string()), "{printed}");
    }
    let wrong = format!("redis://:wrong-pw@127.0.0.1:{}", server.port());
    let err = RedisStoreBuilder::new(wrong).build().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    let printed = format!("{err:?} {err}");
    assert!(!printed.contains("wrong-pw"), "{printed}");
}

/// Runs `operation`, asserting it fails with [`ErrorKind::Store`] within
/// `bound`.
async fn fails_within<T: std::fmt::Debug>(
    bound: Duration,
    operation: impl Future<Output = Result<T, smart_router_webhooks::Error>>,
) {
    let start = Instant::now();
    let err = operation.await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    assert!(
        start.elapsed() <= bound,
        "failed after {:?}, over {bound:?}: {err}",
        start.elapsed()
    );
}

/// Asserts every operation of the store fails with [`ErrorKind::Store`]
/// within `bound`.
async fn every_operation_fails_within(store: &RedisStore, bound: Duration) {
    let (claims, transactions) = (store.clone(), store.clone());
    let (id, token, tx) = (event_id(), ClaimToken::unique(), transaction_id());
    for _ in 0..3 {
        fails_within(bound, claims.claim(&id, LEASE)).await;
        let ledger = DeliveryProgress::new(&["ledger"], None);
        fails_within(
            bound,
            claims.renew(ClaimUpdate::new(&id, &token, ledger), LEASE),
        )
        .await;
        fails_within(bound, claims.complete(&id, &token)).await;
        fails_within(bound, claims.release(ClaimUpdate::new(&id, &token, ledger))).await;
        fails_within(
            bound,
            transactions.apply(&snapshot(&tx, TransactionStatus::Completed)),
        )
        .await;
        fails_within(bound, transactions.latest(&tx)).await;
    }
}

/// Asserts the store works, retrying for up to 10 s while the connection
/// is re-established.
async fn store_works_again(store: &RedisStore) {
    let (claims, transactions) = (store.clone(), store.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = event_id();
    let token = loop {
        match claims.claim(&id, LEASE).await {
            Ok(claim) => break acquired(claim),
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::Store, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover within 10 s: {e}"),
        }
    };
    let ledger = DeliveryProgress::new(&["ledger"], None);
    assert!(
        claims
            .renew(ClaimUpdate::new(&id, &token, ledger), LEASE)
            .await
            .unwrap()
    );
    claims.complete(&id, &token).await.unwrap();
    assert_eq!(claims.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
    let tx = transaction_id();
    assert_eq!(
        transactions
            .apply(&snapshot(&tx, TransactionStatus::Completed))
            .await
            .unwrap(),
        Applied::Newer { previous: None }
    );
    assert!(transactions.latest(&tx).await.unwrap().is_some());
}

const TIMEOUT: Duration = Duration::from_millis(500);
/// The timeout plus room for a loaded test machine.
const BOUND: Duration = Duration::from_millis(1500);

/// A server of this test's own, and a working store on it with [`TIMEOUT`].
async fn own_server_and_store() -> (RedisServer, RedisStore) {
    let server = RedisServer::start();
    let store = RedisStoreBuilder::new(server.url())
        .timeout(TIMEOUT)
        .build()
        .await
        .unwrap();
    store_works_again(&store).await;
    (server, store)
}

#[tokio::test]
async fn a_crashed_server_fails_operations_fast_and_the_store_recovers_by_itself() {
    let (mut server, store) = own_server_and_store().await;

    server.stop();
    every_operation_fails_within(&store, BOUND).await;

    // Same port, same store, not rebuilt. Persistence is off, so the
    // restarted server is empty: what the store knew is lost.
    server.restart();
    store_works_again(&store).await;
}

#[tokio::test]
async fn a_server_that_stops_answering_fails_operations_within_the_timeout() {
    let (server, store) = own_server_and_store().await;

    server.signal("STOP");
    every_operation_fails_within(&store, BOUND).await;
    server.signal("CONT");
    store_works_again(&store).await;
}

#[tokio::test]
async fn building_against_no_server_fails_within_the_timeout() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    fails_within(BOUND, RedisStoreBuilder::new(url).timeout(TIMEOUT).build()).await;
}

/// The Lua script and `TransactionSnapshot::is_newer_than` agree on every
/// pair drawn from statuses of every rank class, times readable or not
/// (negative, a nanosecond apart, seconds past what a double holds
/// exactly), and event IDs that differ in case and length.
#[tokio::test]
async fn the_redis_order_is_the_rust_order_on_every_pair() {
    use TransactionStatus::*;
    use smart_router_webhooks::MemoryStore;
    let store = shared_store(|b| {
        b.key_prefix("srw-test:")
            .transaction_ttl(Duration::from_secs(600))
    })
    .await;
    let redis = store.clone();
    let memory = MemoryStore::default();
    let statuses = [
        Pending,
        Completed,
        Voided,
        Refunded,
        TransactionStatus::from("on-hold"),
    ];
    let times = [
        None,
        Some(Timestamp::lenient("not a time")),
        Some(Timestamp::from_unix_nanos(-1_500_000_000)),
        Some(Timestamp::from_unix_nanos(1_700_000_000_000_000_000)),
        Some(Timestamp::from_unix_nanos(1_700_000_000_000_000_001)),
        Some(Timestamp::from_unix_nanos(
            9_007_199_254_740_993 * 1_000_000_000,
        )),
        Some(Timestamp::from_unix_nanos(
            9_007_199_254_740_992 * 1_000_000_000,
        )),
    ];
    let suffixes = ["a", "B", "ab"];
    let mut snapshots = Vec::new();
    for status in &statuses {
        for time in &times {
            for suffix in suffixes {
                snapshots.push((status.clone(), time.clone(), suffix));
            }
        }
    }
    let mut compared = 0;
    for (i, first) in snapshots.iter().enumerate() {
        // Every fourth partner: all classes are met, in a bounded time.
        for second in snapshots.iter().skip(i % 4).step_by(4) {
            if first.2 == second.2 {
                continue;
            }
            let tx = transaction_id();
            let make = |(status, time, suffix): &(TransactionStatus, Option<Timestamp>, &str)| {
                TransactionSnapshot::new(
                    tx.clone(),
                    status.clone(),
                    time.clone(),
                    EventId::parse(&format!("{tx}_{suffix}").replacen("tr_", "ev_", 1)).unwrap(),
                )
            };
            let (a, b) = (make(first), make(second));
            // Compared by status and event: a time past year 9999 is
            // written in a form that does not read back as a time.
            let outcome = |applied: Applied| match applied {
                Applied::Newer { previous } => (true, previous, None),
                Applied::Stale { latest } => (false, Some(latest.status), Some(latest.event_id)),
                other => panic!("{other:?}"),
            };
            for s in [&a, &b] {
                let in_memory = outcome(memory.apply(s).await.unwrap());
                let in_redis = outcome(redis.apply(s).await.unwrap());
                assert_eq!(in_redis, in_memory, "{a:?} then {b:?}");
            }
            // Applied again, `b` answers as the first time: newer exactly
            // when it is newer than `a`.
            assert_eq!(
                matches!(redis.apply(&b).await.unwrap(), Applied::Newer { .. }),
                b.is_newer_than(&a),
                "{a:?} then {b:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 1000, "{compared}");
}
