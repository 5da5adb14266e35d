//! The measurements of `benches/redis_roundtrips.rs` (see there), built
//! only with the features they need.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::Criterion;
use http::{Request, StatusCode, header::AUTHORIZATION};
use redis::aio::ConnectionManager;
use serde::Deserialize;
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Claim, ClaimStore, Credentials, Event, EventContext, EventFetcher, EventId, HandlerError,
    Receiver, RedisStore, RedisStoreBuilder, Timestamp, TransactionId, TransactionSnapshot,
    TransactionStatus, TransactionStore,
};
use tokio::runtime::Runtime;

#[path = "../../tests/support/counting_proxy.rs"]
mod counting_proxy;
#[path = "in_flight.rs"]
mod in_flight;
#[path = "ratio.rs"]
mod ratio;

use counting_proxy::CountingProxy;
use in_flight::InFlight;

const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/event-transaction-failed.json");

/// How long the bench's keys live in the shared Redis.
const KEY_TTL: Duration = Duration::from_secs(600);

/// Deliveries each receiver makes before it is measured.
const WARM: usize = 20;

/// Deliveries in flight at once in the cases under load.
const IN_FLIGHT: [usize; 2] = [8, 32];

/// Deliveries counted per case of the round-trip count.
const COUNTED: u64 = 50;

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

async fn succeed(_: EventContext) -> Result<(), HandlerError> {
    Ok(())
}

/// The CPU time this thread has used (Linux), to the nanosecond.
///
/// The kernel brings a running thread's figure up to date only at its
/// scheduler tick (every 4 ms here) or when the thread stops running: a
/// thread kept busy (deliveries in flight) would read a figure up to a
/// tick old, which made some batches cost nothing and others a whole
/// tick. So the thread first sleeps a nanosecond: the switch out brings
/// the figure up to date, and the sleep itself is not CPU time.
fn thread_cpu() -> Option<Duration> {
    std::thread::sleep(Duration::from_nanos(1));
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Everything a receiver needs from outside: the mock API and, for the
/// round-trip count, the proxy, on a runtime of their own.
struct Services {
    runtime: Runtime,
    api: MockApi,
    credentials: Credentials,
    run: String,
    next: AtomicU64,
}

impl Services {
    /// A delivery of a new event, as the sender makes it.
    fn delivery(&self) -> Request<Vec<u8>> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            r#"{{"event_id":"ev_{}_{n}","event_type":"transaction.failed"}}"#,
            self.run
        );
        Request::post("/webhooks")
            .header(AUTHORIZATION, self.credentials.authorization_header())
            .body(body.into_bytes())
            .expect("request")
    }

    /// The snapshot a delivery of a new event applies, on a transaction
    /// of its own.
    fn snapshot(&self) -> TransactionSnapshot {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        TransactionSnapshot::new(
            TransactionId::parse(&format!("tr_{}_{n}", self.run)).expect("transaction ID"),
            TransactionStatus::from("failed"),
            Some(Timestamp::lenient("2026-11-28T10:00:00.123456789Z")),
            EventId::parse(&format!("ev_{}_{n}", self.run)).expect("event ID"),
        )
    }

    /// A receiver with `handlers` handlers on `stores` (the memory
    /// stores when `None`), fetching from the mock API.
    fn receiver(&self, handlers: usize, stores: Option<&RedisStore>) -> Receiver {
        self.receiver_with(
            handlers,
            stores,
            self.api.client_builder().build().expect("client"),
        )
    }

    /// A receiver on the memory stores whose fetch first makes three bare
    /// `PING` round trips on `ping`: the memory stores' work plus what three
    /// round trips cost where the Redis stores make theirs, in the
    /// receiver's own flow.
    fn receiver_pinging(&self, ping: &ConnectionManager) -> Receiver {
        let client = Arc::new(self.api.client_builder().build().expect("client"));
        let ping = ping.clone();
        let fetcher = move |id: &EventId| {
            let (client, mut ping, id) = (client.clone(), ping.clone(), id.clone());
            async move {
                for _ in 0..3 {
                    let pong: String = redis::cmd("PING")
                        .query_async(&mut ping)
                        .await
                        .expect("PING");
                    assert_eq!(pong, "PONG");
                }
                client.fetch_event(&id).await
            }
        };
        self.receiver_with(1, None, fetcher)
    }

    fn receiver_with(
        &self,
        handlers: usize,
        stores: Option<&RedisStore>,
        fetcher: impl EventFetcher,
    ) -> Receiver {
        let mut builder = Receiver::builder()
            .credentials(self.credentials.clone())
            .fetcher(fetcher);
        if let Some(stores) = stores {
            builder = builder
                .claim_store(stores.clone())
                .transaction_store(stores.clone());
        }
        for n in 0..handlers {
            builder = builder.on_every_event(format!("handler-{n}"), succeed);
        }
        builder.build().expect("receiver")
    }
}

/// Redis stores on `url` under a prefix of this run.
async fn stores(url: &str, run: &str) -> RedisStore {
    RedisStoreBuilder::new(url)
        .key_prefix(format!("srw-bench:{run}:"))
        .done_ttl(KEY_TTL)
        .handlers_ttl(KEY_TTL)
        .transaction_ttl(KEY_TTL)
        .build()
        .await
        .unwrap_or_else(|e| panic!("no Redis answers at REDIS_URL ({e})"))
}

pub fn main() {
    let Ok(redis_url) = std::env::var("REDIS_URL") else {
        println!("redis_roundtrips: skipped, REDIS_URL is not set");
        return;
    };
    if thread_cpu().is_none() {
        println!("redis_roundtrips: skipped, no /proc/thread-self/schedstat to read CPU time");
        return;
    }
    let template: Envelope = serde_json::from_slice(FIXTURE).expect("fixture");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("services runtime");
    let api = runtime.block_on(MockApi::builder().serve_any_event(template.event).start());
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let services = Services {
        runtime,
        api,
        credentials: Credentials::new("smart-router", "4f3c9b1e8d7a6c5b4a39281706f5e4d3")
            .expect("credentials"),
        run,
        next: AtomicU64::new(0),
    };
    // The receiver's runtime: this thread only.
    let receiver_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("receiver runtime");

    cpu_per_delivery(&services, &receiver_runtime, &redis_url);
    for handlers in [1, 10] {
        let per_delivery = round_trips(&services, &receiver_runtime, &redis_url, handlers);
        println!(
            "ROUNDTRIPS redis per delivery, {handlers} handler(s): {per_delivery:.2} \
             ({COUNTED} deliveries counted by a proxy)"
        );
    }
}

/// Criterion measures the receiver's CPU time per delivery with one
/// handler: on the memory stores, on the Redis stores, and on the memory
/// stores with three bare `PING` round trips per delivery; then three
/// bare `PING`s alone. Prints the ratios.
fn cpu_per_delivery(services: &Services, runtime: &Runtime, redis_url: &str) {
    let mut c = Criterion::default().configure_from_args();
    let redis = runtime.block_on(stores(redis_url, &services.run));
    // A connection like the stores' own, for the bare round trips.
    let mut ping = runtime.block_on(async {
        redis::Client::open(redis_url)
            .expect("REDIS_URL")
            .get_connection_manager()
            .await
            .expect("a connection")
    });
    let receivers = runtime.block_on(async {
        [
            ("memory", services.receiver(1, None)),
            ("redis", services.receiver(1, Some(&redis))),
            ("memory-and-three-pings", services.receiver_pinging(&ping)),
        ]
    });
    // Every case starts warm: its HTTP connection to the API open, the
    // scripts loaded in Redis, the stores' and the pings' connections
    // used, so that no case pays a first time the others do not.
    runtime.block_on(async {
        for (_, receiver) in &receivers {
            for _ in 0..WARM {
                let response = receiver.handle(services.delivery()).await;
                assert_eq!(response.status(), StatusCode::OK);
            }
        }
    });
    let mut group = c.benchmark_group("redis_roundtrips_cpu");
    for (id, receiver) in &receivers {
        group.bench_function(*id, |b| {
            b.iter_custom(|iters| {
                let requests: Vec<_> = (0..iters).map(|_| services.delivery()).collect();
                let before = thread_cpu().expect("cpu time");
                runtime.block_on(async {
                    for request in requests {
                        let response = receiver.handle(request).await;
                        assert_eq!(response.status(), StatusCode::OK);
                    }
                });
                let cpu = thread_cpu().expect("cpu time") - before;
                ratio::record(id, cpu, iters);
                cpu
            })
        });
    }
    // The floor: three bare round trips (`PING`) on a connection like the
    // stores' own, what any client pays the kernel for three round trips.
    group.bench_function("three-pings", |b| {
        b.iter_custom(|iters| {
            let before = thread_cpu().expect("cpu time");
            runtime.block_on(async {
                for _ in 0..iters * 3 {
                    let pong: String = redis::cmd("PING")
                        .query_async(&mut ping)
                        .await
                        .expect("PING");
                    assert_eq!(pong, "PONG");
                }
            });
            let cpu = thread_cpu().expect("cpu time") - before;
            ratio::record("three-pings", cpu, iters);
            cpu
        })
    });
    // The Redis stores alone, in a tight loop like the pings: what a
    // delivery's three operations cost the client, the receiver aside.
    let (claims, transactions) = (redis.clone(), redis.clone());
    group.bench_function("stores-alone", |b| {
        b.iter_custom(|iters| {
            let snapshots: Vec<_> = (0..iters).map(|_| services.snapshot()).collect();
            let before = thread_cpu().expect("cpu time");
            runtime.block_on(async {
                for snapshot in snapshots {
                    let event = &snapshot.event_id;
                    let claim = claims.claim(event, Duration::from_secs(30)).await;
                    let Ok(Claim::Acquired { token, .. }) = claim else {
                        panic!("not claimed: {claim:?}")
                    };
                    transactions.apply(&snapshot).await.expect("apply");
                    assert!(claims.complete(event, &token).await.expect("complete"));
                }
            });
            let cpu = thread_cpu().expect("cpu time") - before;
            ratio::record("stores-alone", cpu, iters);
            cpu
        })
    });
    // The same receivers under load: deliveries in flight at once, so
    // that a wait on Redis or the API is a switch to another delivery
    // rather than the thread's sleep. The one making three PINGs tells
    // again what three round trips cost in the flow, under load.
    for connections in IN_FLIGHT {
        for (id, receiver) in &receivers {
            under_load(&mut group, services, runtime, id, receiver, connections);
        }
    }
    group.finish();
    c.final_summary();
    ratio::ratio(
        "receiver CPU per delivery, Redis stores / memory stores, 1 handler (every iteration, warm-up included)",
        "redis",
        "memory",
        1.15,
    );
    // Not a target: how much of the difference three round trips explain.
    let (redis, pinging) = (
        ratio::mean_ns("redis"),
        ratio::mean_ns("memory-and-three-pings"),
    );
    println!(
        "RATIO receiver CPU per delivery, Redis stores / memory stores with three bare PINGs \
         (every iteration, warm-up included): {redis:.0} ns / {pinging:.0} ns = {:.3}",
        redis / pinging
    );
    let (alone, pings) = (
        ratio::mean_ns("stores-alone"),
        ratio::mean_ns("three-pings"),
    );
    println!(
        "RATIO Redis stores' three operations alone / three bare PINGs, tight loops \
         (every iteration, warm-up included): {alone:.0} ns / {pings:.0} ns = {:.3}",
        alone / pings
    );
    let estimate = |id: &str| criterion_estimate("redis_roundtrips_cpu", id);
    if let (Some(redis), Some(memory), Some(pinging), Some(pings)) = (
        estimate("redis"),
        estimate("memory"),
        estimate("memory-and-three-pings"),
        estimate("three-pings"),
    ) {
        let ratio = redis / memory;
        let verdict = if ratio <= 1.15 { "meets" } else { "MISSES" };
        println!(
            "RATIO receiver CPU per delivery, Redis stores / memory stores, 1 handler \
             (criterion's estimates): {redis:.0} ns / {memory:.0} ns = {ratio:.3} \
             ({verdict} target <= 1.15); the difference, {:.0} ns, against three bare \
             PING round trips: {pings:.0} ns alone, {:.0} ns in the receiver's flow \
             (memory stores and three PINGs: {pinging:.0} ns, Redis stores / that = {:.3})",
            redis - memory,
            pinging - memory,
            redis / pinging,
        );
    }
    under_load_ratios(estimate);
}

/// Criterion measures, as `{id}-{connections}-in-flight`, the CPU time
/// per delivery of `receiver` kept busy by `connections` connections (see
/// [`InFlight`]): the CPU of a batch over the deliveries answered in it
/// (the batch waits for as many as criterion's iterations; a few more may
/// be answered before it sees the last).
fn under_load(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    services: &Services,
    runtime: &Runtime,
    id: &str,
    receiver: &Receiver,
    connections: usize,
) {
    let case = in_flight_case(id, connections);
    let mut load = InFlight::start(runtime, receiver, connections);
    // Warm: a connection to the API per delivery in flight, opened before
    // anything is measured.
    let warm = (WARM * connections) as u64;
    load.queue(
        (0..load.shortfall(warm))
            .map(|_| services.delivery())
            .collect(),
    );
    load.answered(runtime, warm);
    group.bench_function(&case, |b| {
        b.iter_custom(|iters| {
            load.queue(
                (0..load.shortfall(iters))
                    .map(|_| services.delivery())
                    .collect(),
            );
            let before = thread_cpu().expect("cpu time");
            let answered = load.answered(runtime, iters);
            let cpu = thread_cpu().expect("cpu time") - before;
            ratio::record(&case, cpu, answered);
            // Criterion's iterations are deliveries: the CPU of the batch
            // per delivery answered in it, times the iterations asked.
            cpu.mul_f64(iters as f64 / answered as f64)
        })
    });
    load.stop(runtime);
}

fn in_flight_case(id: &str, connections: usize) -> String {
    format!("{id}-{connections}-in-flight")
}

/// Prints, for each number of deliveries in flight, the Redis/memory
/// ratio of the CPU per delivery under load, and how much of the
/// difference three bare round trips explain.
fn under_load_ratios(estimate: impl Fn(&str) -> Option<f64>) {
    for connections in IN_FLIGHT {
        let case = |id| in_flight_case(id, connections);
        let (redis, memory, pinging) = (
            case("redis"),
            case("memory"),
            case("memory-and-three-pings"),
        );
        ratio::ratio(
            &format!(
                "receiver CPU per delivery, Redis stores / memory stores, 1 handler, \
                 {connections} deliveries in flight (every iteration, warm-up included)"
            ),
            &redis,
            &memory,
            1.15,
        );
        if let (Some(r), Some(m), Some(p)) =
            (estimate(&redis), estimate(&memory), estimate(&pinging))
        {
            let ratio = r / m;
            let verdict = if ratio <= 1.15 { "meets" } else { "MISSES" };
            println!(
                "RATIO receiver CPU per delivery, Redis stores / memory stores, 1 handler, \
                 {connections} deliveries in flight (criterion's estimates): \
                 {r:.0} ns / {m:.0} ns = {ratio:.3} ({verdict} target <= 1.15); the \
                 difference, {:.0} ns, against three bare PING round trips in the flow: \
                 {:.0} ns (memory stores and three PINGs: {p:.0} ns, Redis stores / that = {:.3})",
                r - m,
                p - m,
                r / p,
            );
        }
    }
}

/// Criterion's estimate of the time per iteration of `group/id` in this
/// run (the slope of its regression, or its mean), in nanoseconds.
fn criterion_estimate(group: &str, id: &str) -> Option<f64> {
    let path = format!("target/criterion/{group}/{id}/new/estimates.json");
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    ["slope", "mean"]
        .iter()
        .find_map(|kind| estimates[kind]["point_estimate"].as_f64())
}

/// The round trips to Redis per delivery with `handlers` handlers,
/// counted by a proxy between the receiver and Redis.
fn round_trips(services: &Services, runtime: &Runtime, redis_url: &str, handlers: usize) -> f64 {
    let mut url = url::Url::parse(redis_url).expect("REDIS_URL");
    let upstream: SocketAddr = (
        url.host_str().expect("REDIS_URL's host"),
        url.port().unwrap_or(6379),
    )
        .to_socket_addrs()
        .expect("REDIS_URL's address")
        .next()
        .expect("REDIS_URL's address");
    let proxy = services.runtime.block_on(CountingProxy::start(upstream));
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.addr().port())).expect("port");
    runtime.block_on(async {
        let stores = stores(url.as_str(), &services.run).await;
        let receiver = services.receiver(handlers, Some(&stores));
        let deliver = async || {
            let response = receiver.handle(services.delivery()).await;
            assert_eq!(response.status(), StatusCode::OK);
        };
        // The first delivery loads the scripts.
        deliver().await;
        let before = proxy.round_trips();
        for _ in 0..COUNTED {
            deliver().await;
        }
        (proxy.round_trips() - before) as f64 / COUNTED as f64
    })
}
