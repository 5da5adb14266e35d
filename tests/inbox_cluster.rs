//! The Redis inbox on a real Redis Cluster of three masters: the inbox
//! contract, and a delivery queued, duplicated and processed by workers,
//! with every key of the inbox in one slot.
//!
//! The cluster's node URLs come from `REDIS_CLUSTER_URLS`
//! (comma-separated); `.ci/run` starts such a cluster on loopback. Without
//! the variable the tests fail, saying how to start one.
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
#[allow(dead_code)] // only `unique` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::sync::Arc;
use std::time::Duration;

use inbox_contract::{LEASE, unique};
use inbox_scenarios::Backend;
use smart_router_webhooks::inbox::{Inbox, RedisInbox};
use smart_router_webhooks::{RedisStore, RedisStoreBuilder};

const CLUSTER_HINT: &str = "set REDIS_CLUSTER_URLS to the comma-separated URLs of a Redis \
     Cluster's nodes (`.ci/run` starts three masters on loopback and sets it)";

fn cluster_urls() -> Vec<String> {
    std::env::var("REDIS_CLUSTER_URLS")
        .unwrap_or_else(|_| panic!("REDIS_CLUSTER_URLS is not set: {CLUSTER_HINT}"))
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Deletes every key under `prefix` (the inbox's keys never expire), node
/// by node.
async fn clean(prefix: &str) {
    for url in cluster_urls() {
        let mut node = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut node)
            .await
            .unwrap();
        for key in keys {
            let _: usize = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut node)
                .await
                .unwrap();
        }
    }
}

async fn cluster_store(prefix: &str) -> RedisStore {
    let urls = cluster_urls();
    let ttl = Duration::from_secs(600);
    RedisStoreBuilder::cluster(urls.clone())
        .key_prefix(prefix)
        .timeout(Duration::from_secs(2))
        .done_ttl(ttl)
        .handlers_ttl(ttl)
        .transaction_ttl(ttl)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis Cluster answers at {urls:?} ({e:?}); {CLUSTER_HINT}"))
}

#[tokio::test]
async fn the_redis_inbox_on_a_cluster_keeps_the_inbox_contract() {
    let prefix = format!("{}:", unique("srw-inbox-cluster"));
    let store = cluster_store(&prefix).await;
    inbox_contract::run_all(|| async {
        Arc::new(
            RedisInbox::new(&store, unique("app"))
                .unwrap()
                .with_lease(LEASE),
        ) as Arc<dyn Inbox>
    })
    .await;
    clean(&prefix).await;
}

/// Runs `scenario` on stores and an inbox on the cluster, under a prefix
/// of its own, then deletes its keys.
async fn on_the_cluster<F: std::future::Future<Output = ()>>(scenario: impl FnOnce(Backend) -> F) {
    let prefix = format!("{}:", unique("srw-inbox-cluster"));
    let store = cluster_store(&prefix).await;
    let backend = Backend {
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store.clone()),
        inbox: Arc::new(RedisInbox::new(&store, "shop").unwrap().with_lease(LEASE)),
    };
    scenario(backend).await;
    clean(&prefix).await;
}

#[tokio::test]
async fn on_a_cluster_a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once() {
    on_the_cluster(
        inbox_scenarios::a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once,
    )
    .await;
}

#[tokio::test]
async fn on_a_cluster_a_dead_letter_is_replayed() {
    on_the_cluster(inbox_scenarios::an_event_failing_every_attempt_is_dead_lettered_then_replayed)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_an_event_whose_worker_dies_every_time_is_dead_lettered() {
    on_the_cluster(inbox_scenarios::an_event_whose_worker_dies_every_time_is_dead_lettered).await;
}
