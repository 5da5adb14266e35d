//! A receiver kept busy with a number of deliveries in flight at once, as
//! that many senders' connections would keep it, for `redis_roundtrips`'
//! cases under load.
//!
//! Each connection is a task on the receiver's runtime that answers
//! deliveries one after the other from a shared queue of requests built
//! beforehand. The queue always holds more than a batch needs, so every
//! connection stays busy to the end of each batch, and the deliveries in
//! flight when a batch ends finish in the next one: a batch measures the
//! steady state, not a ramp up and down.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::{Request, StatusCode};
use smart_router_webhooks::Receiver;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// What the connections share with the batches.
#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Request<Vec<u8>>>>,
    /// Deliveries answered, and those answered other than 200.
    answered: AtomicU64,
    failed: AtomicU64,
    /// The count of answered deliveries a batch waits for.
    until: AtomicU64,
    reached: Notify,
}

/// `connections` tasks answering deliveries on one runtime.
pub struct InFlight {
    connections: usize,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    /// Requests queued since the start.
    queued: u64,
}

impl InFlight {
    /// Starts `connections` tasks on `runtime`, each answering deliveries
    /// with `receiver` as long as the queue has some. They run only while
    /// the runtime (current-thread) is driven by `block_on`.
    pub fn start(runtime: &Runtime, receiver: &Receiver, connections: usize) -> Self {
        let shared = Arc::new(Shared::default());
        let tasks = (0..connections)
            .map(|_| {
                let (shared, receiver) = (shared.clone(), receiver.clone());
                runtime.spawn(async move {
                    loop {
                        let next = shared.queue.lock().expect("queue").pop_front();
                        let Some(request) = next else { break };
                        let status = receiver.handle(request).await.status();
                        if status != StatusCode::OK {
                            shared.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        let answered = shared.answered.fetch_add(1, Ordering::Relaxed) + 1;
                        if answered == shared.until.load(Ordering::Relaxed) {
                            shared.reached.notify_one();
                        }
                    }
                })
            })
            .collect();
        Self {
            connections,
            shared,
            tasks,
            queued: 0,
        }
    }

    /// How many requests to [`queue`](Self::queue) before a batch of at
    /// least `deliveries`, so that the queue still holds one per
    /// connection when the batch ends: at most one per connection is in
    /// flight besides, and at most one per connection is answered after
    /// the batch's last one, before the batch sees it.
    pub fn shortfall(&self, deliveries: u64) -> u64 {
        let answered = self.shared.answered.load(Ordering::Relaxed);
        let wanted = answered + deliveries + 3 * self.connections as u64;
        wanted.saturating_sub(self.queued)
    }

    /// Adds requests to the queue, without running the runtime.
    pub fn queue(&mut self, requests: Vec<Request<Vec<u8>>>) {
        self.queued += requests.len() as u64;
        self.shared.queue.lock().expect("queue").extend(requests);
    }

    /// Runs the receiver's runtime until at least `deliveries` more
    /// deliveries are answered, and returns how many were: the batch
    /// stops when it sees the last one it waits for, and the other
    /// connections may have answered theirs meanwhile. Every answer in
    /// the batch must be 200.
    pub fn answered(&self, runtime: &Runtime, deliveries: u64) -> u64 {
        let (answered, failed) = (&self.shared.answered, &self.shared.failed);
        let (before, failed_before) = (
            answered.load(Ordering::Relaxed),
            failed.load(Ordering::Relaxed),
        );
        let until = before + deliveries;
        self.shared.until.store(until, Ordering::Relaxed);
        runtime.block_on(async {
            while answered.load(Ordering::Relaxed) < until {
                self.shared.reached.notified().await;
            }
        });
        assert_eq!(
            failed.load(Ordering::Relaxed),
            failed_before,
            "answers other than 200"
        );
        answered.load(Ordering::Relaxed) - before
    }

    /// Empties the queue and lets the deliveries in flight end, whatever
    /// they answer (they waited while the runtime was not driven, maybe
    /// past a deadline), so nothing of this load runs in what is measured
    /// next.
    pub fn stop(self, runtime: &Runtime) {
        self.shared.queue.lock().expect("queue").clear();
        runtime.block_on(async {
            for task in self.tasks {
                task.await.expect("a connection's task");
            }
        });
    }
}
