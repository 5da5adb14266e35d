//! `RedisStore` on a real Redis Cluster of three masters: the store
//! contract, keys spread over the nodes, and concurrent deliveries of one
//! event through receivers that share the cluster.
//!
//! The cluster's node URLs come from `REDIS_CLUSTER_URLS`
//! (comma-separated); `.ci/run` starts such a cluster on loopback. Without
//! the variable the tests fail, saying how to start one.
#![cfg(all(feature = "redis", feature = "testing", feature = "reqwest"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/deliveries.rs"]
mod deliveries;
#[path = "support/store_contract.rs"]
mod store_contract;

use std::sync::Arc;
use std::time::Duration;

use deliveries::{Outcomes, Runs, credentials, delivery};
use http::StatusCode;
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Event, EventId, EventType, Outcome, Receiver, RedisStore, RedisStoreBuilder, Transaction,
    TransactionId, TransactionStatus,
};
use store_contract::unique;

/// How to get a cluster when `REDIS_CLUSTER_URLS` is not set.
const CLUSTER_HINT: &str = "set REDIS_CLUSTER_URLS to the comma-separated URLs of a Redis \
     Cluster's nodes (`.ci/run` starts three masters on loopback and sets it; by hand: three \
     `redis-server --port P --cluster-enabled yes --cluster-config-file nodes-P.conf`, then \
     `redis-cli --cluster create 127.0.0.1:P1 127.0.0.1:P2 127.0.0.1:P3 --cluster-replicas 0 \
     --cluster-yes`)";

/// The time to live of every key these tests write, so that none lingers.
const KEY_TTL: Duration = Duration::from_secs(600);

fn cluster_urls() -> Vec<String> {
    let urls = std::env::var("REDIS_CLUSTER_URLS")
        .unwrap_or_else(|_| panic!("REDIS_CLUSTER_URLS is not set: {CLUSTER_HINT}"));
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        !urls.is_empty(),
        "REDIS_CLUSTER_URLS is empty: {CLUSTER_HINT}"
    );
    urls
}

/// A store on the cluster under `prefix`, with a connection of its own.
async fn cluster_store(prefix: &str) -> RedisStore {
    let urls = cluster_urls();
    RedisStoreBuilder::cluster(urls.clone())
        .key_prefix(prefix)
        .done_ttl(KEY_TTL)
        .handlers_ttl(KEY_TTL)
        .transaction_ttl(KEY_TTL)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis Cluster answers at {urls:?} ({e:?}); {CLUSTER_HINT}"))
}

#[tokio::test]
async fn the_redis_store_on_a_cluster_keeps_the_store_contract() {
    let store = cluster_store("srw-cluster-test:").await;
    store_contract::run_all(|| Arc::new(store.clone()), || Arc::new(store.clone())).await;
}

/// A plain connection to one node, to see what it holds.
async fn node(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn keys_spread_over_the_masters_and_every_operation_reaches_its_node() {
    use smart_router_webhooks::{Applied, Claim, ClaimStore, ClaimUpdate, TransactionStore};
    let prefix = format!("{}:", unique("srw-cluster-keys"));
    let store = cluster_store(&prefix).await;
    let (claims, transactions) = (store.clone(), store.clone());
    let lease = Duration::from_secs(30);
    for n in 0..30 {
        let id = EventId::parse(&format!("ev_{n}_{}", unique("spread"))).unwrap();
        let Claim::Acquired { token, .. } = claims.claim(&id, lease).await.unwrap() else {
            panic!("event {n} is new");
        };
        let ledger = smart_router_webhooks::DeliveryProgress::new(&["ledger"], Some("plan"));
        claims
            .release(ClaimUpdate::new(&id, &token, ledger))
            .await
            .unwrap();
        let Claim::Acquired {
            token, completed, ..
        } = claims.claim(&id, lease).await.unwrap()
        else {
            panic!("event {n} was released");
        };
        assert!(completed.contains("ledger"), "{completed:?}");
        claims.complete(&id, &token).await.unwrap();
        assert_eq!(claims.claim(&id, lease).await.unwrap(), Claim::AlreadyDone);

        let tx = TransactionId::parse(&format!("tr_{n}_{}", unique("spread"))).unwrap();
        let snapshot = smart_router_webhooks::TransactionSnapshot::new(
            tx.clone(),
            TransactionStatus::Completed,
            None,
            id,
        );
        assert_eq!(
            transactions.apply(&snapshot).await.unwrap(),
            Applied::Newer { previous: None }
        );
        assert_eq!(transactions.latest(&tx).await.unwrap(), Some(snapshot));
    }
    // Each master holds some of the keys: the operations were routed to
    // the node of each key's slot, not all to the first node.
    let mut per_node = Vec::new();
    for url in cluster_urls() {
        let mut conn = node(&url).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        per_node.push(keys.len());
    }
    assert_eq!(per_node.iter().sum::<usize>(), 60, "{per_node:?}");
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "keys on one node only: {per_node:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_over_a_cluster_fetch_and_run_the_event_once() {
    let api = MockApi::builder()
        .delay(Duration::from_millis(100))
        .start()
        .await;
    let id = EventId::parse(&unique("ev")).unwrap();
    let mut event = Event::new(id.clone(), EventType::TransactionCaptured);
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse(&unique("tr")).unwrap(),
        TransactionStatus::Completed,
    ));
    api.add_event(event);
    let prefix = format!("{}:", unique("srw-cluster-receivers"));
    let (runs, outcomes) = (Runs::default(), Outcomes::default());
    // Two instances, each with its own connection to the cluster.
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let store = cluster_store(&prefix).await;
        receivers.push(
            Receiver::builder()
                .credentials(credentials())
                .fetcher(api.client_builder().build().unwrap())
                .claim_store(store.clone())
                .transaction_store(store.clone())
                .observer(outcomes.clone())
                .on(EventType::TransactionCaptured, "ledger", runs.clone())
                .build()
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (receiver, request) = (receivers[n % 2].clone(), delivery(&id));
        tasks.push(tokio::spawn(async move {
            receiver.handle(request).await.status()
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(
            matches!(status, StatusCode::OK | StatusCode::CONFLICT),
            "{status}"
        );
    }
    assert_eq!(outcomes.total(), 20);
    assert_eq!(outcomes.count(Outcome::Processed), 1);
    assert_eq!(api.requests(&format!("/events/{id}")), 1);
    assert_eq!(runs.of(&id), 1);

    // A later delivery is a duplicate: 200, no fetch, no run.
    let status = receivers[1].handle(delivery(&id)).await.status();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.requests(&format!("/events/{id}")), 1);
    assert_eq!(runs.of(&id), 1);
}
