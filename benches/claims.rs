//! In-memory claim store: throughput of claim + complete with 1 and 8
//! tasks contending on a multi-threaded runtime, and the bytes each
//! remembered event costs the claim and transaction stores together
//! (measured with a counting allocator).
//!
//! cargo bench --bench claims
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use smart_router_webhooks::{Claim, ClaimStore, EventId, MemoryStore};

#[path = "../tests/support/counting_allocator.rs"]
mod counting_allocator;
#[path = "support/ratio.rs"]
mod ratio;

const LEASE: Duration = Duration::from_secs(60);

async fn claim_and_complete(store: &MemoryStore, id: &EventId) {
    match store.claim(id, LEASE).await {
        Ok(Claim::Acquired { token, .. }) => {
            assert!(store.complete(id, &token).await.expect("complete"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let store = Arc::new(MemoryStore::default());
    let next = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("claims");
    for tasks in [1u64, 8] {
        let id = format!("{tasks}-tasks");
        group.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                runtime.block_on(async {
                    let mut handles = Vec::new();
                    for t in 0..tasks {
                        let (store, next) = (store.clone(), next.clone());
                        let share = iters / tasks + u64::from(t < iters % tasks);
                        handles.push(tokio::spawn(async move {
                            for _ in 0..share {
                                let n = next.fetch_add(1, Ordering::Relaxed);
                                let id = EventId::parse(&format!("ev_{n}")).expect("id");
                                claim_and_complete(&store, &id).await;
                            }
                        }));
                    }
                    for handle in handles {
                        handle.await.expect("task");
                    }
                });
                let elapsed = start.elapsed();
                ratio::record(&id, elapsed, iters);
                elapsed
            })
        });
    }
    group.finish();
    c.final_summary();
    for tasks in ["1-tasks", "8-tasks"] {
        let ns = ratio::mean_ns(tasks);
        println!(
            "THROUGHPUT claims {tasks}: {:.0} claim+complete per second",
            1e9 / ns
        );
    }
    ratio::ratio(
        "claims 8 tasks/1 task (time per operation)",
        "8-tasks",
        "1-tasks",
        2.0,
    );
    let per_event = counting_allocator::stores_bytes_per_event(100_000);
    println!(
        "MEMORY stores: {:.0} bytes per remembered event (claims {:.0}, transaction snapshot {:.0}), in {:.1} allocations",
        per_event.total(),
        per_event.claims,
        per_event.transactions,
        per_event.allocations,
    );
}
