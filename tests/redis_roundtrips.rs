//! With the Redis stores, a delivery costs at most three round trips to
//! Redis whatever its number of handlers: the claim, the tracker's apply,
//! and the settlement (complete, or release with what completed). Counted
//! from outside, on a server of the test's own: by a proxy counting the
//! round trips the receiver makes, and by the server's `INFO
//! commandstats` (scripts run: `EVALSHA`, and `EVAL` or `SCRIPT` when a
//! script is not loaded yet).
#![cfg(all(feature = "redis", feature = "testing", feature = "reqwest"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/counting_proxy.rs"]
mod counting_proxy;
#[path = "support/deliveries.rs"]
mod deliveries;
#[path = "support/redis_server.rs"]
mod redis_server;
#[allow(dead_code)] // only `unique` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::net::SocketAddr;

use async_trait::async_trait;
use counting_proxy::CountingProxy;
use deliveries::{Runs, credentials, delivery};
use redis_server::RedisServer;
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Event, EventContext, Handler, HandlerError, Outcome, Receiver, RedisStoreBuilder,
};
use store_contract::unique;

/// Deliveries measured per case.
const DELIVERIES: u64 = 20;

/// A `transaction.captured` event of a transaction of its own.
fn captured_event() -> Event {
    deliveries::captured_event(&unique("ev"))
}

/// A handler that always fails, retryably.
struct Fails;

#[async_trait]
impl Handler for Fails {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        Err(HandlerError::retry("fails on purpose"))
    }
}

/// The scripts the server ran so far (`EVALSHA` and `EVAL` calls) and
/// the `SCRIPT` commands (loads), from `INFO commandstats`.
async fn scripts_run(server: &RedisServer) -> u64 {
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter(|line| {
            ["cmdstat_evalsha:", "cmdstat_eval:", "cmdstat_script|"]
                .iter()
                .any(|name| line.starts_with(name))
        })
        .filter_map(|line| {
            let calls = line.split("calls=").nth(1)?;
            calls.split(',').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// What `DELIVERIES` deliveries cost: round trips and scripts per
/// delivery.
#[derive(Debug)]
struct Cost {
    round_trips: f64,
    scripts: f64,
}

/// Delivers `DELIVERIES` new events (after one to load the scripts) to a
/// receiver with `handlers` handlers on stores reached through `proxy`,
/// `failing` of them failing; checks each delivery's outcome.
async fn cost(
    server: &RedisServer,
    proxy: &CountingProxy,
    api: &MockApi,
    handlers: usize,
    failing: bool,
) -> Cost {
    let store = RedisStoreBuilder::new(proxy.redis_url())
        .key_prefix(format!("{}:", unique("srw-roundtrips")))
        .build()
        .await
        .unwrap();
    let runs = Runs::default();
    let mut builder = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.client_builder().build().unwrap())
        .claim_store(store.clone())
        .transaction_store(store.clone());
    for n in 0..handlers {
        builder = builder.on_every_event(format!("handler-{n}"), runs.clone());
    }
    if failing {
        builder = builder.on_every_event("fails", Fails);
    }
    let receiver = builder.build().unwrap();
    let expected = if failing {
        Outcome::HandlerFailed
    } else {
        Outcome::Processed
    };
    let deliver = async || {
        let event = captured_event();
        let id = event.id.clone();
        api.add_event(event);
        let report = receiver.receive(delivery(&id)).await;
        assert_eq!(report.outcome, expected, "{report:?}");
        assert_eq!(runs.of(&id), handlers);
    };
    deliver().await;
    let (round_trips, scripts) = (proxy.round_trips(), scripts_run(server).await);
    for _ in 0..DELIVERIES {
        deliver().await;
    }
    let per_delivery = |n: u64| n as f64 / DELIVERIES as f64;
    Cost {
        round_trips: per_delivery(proxy.round_trips() - round_trips),
        scripts: per_delivery(scripts_run(server).await - scripts),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_costs_at_most_three_round_trips_whatever_its_handlers() {
    let server = RedisServer::start();
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = CountingProxy::start(upstream).await;
    let api = MockApi::start().await;
    for (handlers, failing) in [(1, false), (10, false), (10, true)] {
        let cost = cost(&server, &proxy, &api, handlers, failing).await;
        println!("{handlers} handlers (one more failing: {failing}): {cost:?} per delivery");
        // Claim, apply, complete (or release, with the successes).
        assert_eq!(cost.round_trips, 3.0, "{handlers} handlers: {cost:?}");
        assert_eq!(cost.scripts, 3.0, "{handlers} handlers: {cost:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_costs_one_round_trip() {
    let server = RedisServer::start();
    let upstream: SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
    let proxy = CountingProxy::start(upstream).await;
    let api = MockApi::start().await;
    let store = RedisStoreBuilder::new(proxy.redis_url())
        .key_prefix(format!("{}:", unique("srw-roundtrips")))
        .build()
        .await
        .unwrap();
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.client_builder().build().unwrap())
        .claim_store(store.clone())
        .transaction_store(store.clone())
        .on_every_event("ledger", Runs::default())
        .build()
        .unwrap();
    let event = captured_event();
    let id = event.id.clone();
    api.add_event(event);
    assert_eq!(
        receiver.receive(delivery(&id)).await.outcome,
        Outcome::Processed
    );
    let before = proxy.round_trips();
    assert_eq!(
        receiver.receive(delivery(&id)).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(proxy.round_trips() - before, 1);
}
