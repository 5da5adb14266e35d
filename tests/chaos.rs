//! The chaos soak: thousands of deliveries of realistic transaction
//! lifecycles, shuffled and partly duplicated, sent with retries by
//! `testing::Sender` to four receivers served over HTTP on loopback and
//! sharing one claim store and one transaction store, while the mock API
//! fails 30% of the fetches and handlers fail 10% of their runs.
//!
//! At the end: every delivery was acknowledged; every (handler, event)
//! pair that matches ran to success exactly once; every transaction ends
//! in the last status of its lifecycle; no status change went backwards;
//! the stores stayed within their bounds.
//!
//! Plain `cargo test` runs a reduced soak (about 1,000 deliveries over 100
//! transactions); `CHAOS_FULL=1` runs the full one (10,000 deliveries over
//! 1,000 transactions). Both run with the in-memory stores, and with the
//! Redis stores (feature `redis`, Redis at `REDIS_URL`). Every run is
//! drawn from a fixed seed; `--nocapture` shows a summary of each.
#![cfg(all(
    feature = "testing",
    feature = "reqwest",
    feature = "axum",
    feature = "actix",
    feature = "tower"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;
#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
#[cfg(feature = "redis")]
#[allow(dead_code)] // only `unique` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smart_router_webhooks::adapters::DEFAULT_READ_TIMEOUT;
use smart_router_webhooks::testing::{self, Failure, MockApi, RandomFailures, Sender};
use smart_router_webhooks::{
    ClaimStore, Credentials, DeliveryReport, Event, EventContext, EventId, EventType, HandlerError,
    MemoryClaimStore, MemoryTransactionStore, Receiver, Timestamp, Transaction, TransactionId,
    TransactionStatus, TransactionStore, TransitionFilter,
};
use tokio::sync::{Notify, Semaphore};

use TransactionStatus as S;
use answers::{PASSWORD, PATH, USER};
use http_target::{ADAPTERS, Served, serve};

/// The seed every run is drawn from.
const SEED: u64 = 0x5eed_c4a0_5000_0008;

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 64;

/// The share of event fetches the mock API fails.
const API_FAILURE_RATE: f64 = 0.3;

/// The share of handler runs that fail with a retryable error.
const HANDLER_FAILURE_RATE: f64 = 0.1;

/// The sender's first retry delay (doubling after each attempt) and its
/// attempts per delivery.
///
/// A first attempt fails when the fetch fails (30%) or one of its (up to
/// five) handlers does (1 - 0.9^5 of the other 70%): at most 59% of the
/// time. A retry runs only the handlers that failed, usually one, so it
/// fails about 0.3 + 0.7 × 0.1 = 37% of the time; a duplicate may also
/// get a few 409s while the other delivery holds the event (at most as
/// many as fit in one hung fetch, 250 ms: 8 with this backoff). A
/// delivery is lost after 20 failed attempts: about 0.59 × 0.37^11 ≈ 1e-5
/// even for a duplicate that spent 8 of them on 409s, and 0.59 × 0.37^19
/// ≈ 4e-9 for the others. The schedule is drawn from a fixed seed, so a
/// run that passes passes again.
const FIRST_DELAY: Duration = Duration::from_millis(2);
const ATTEMPTS: u32 = 20;

/// How long the receivers' API client waits for the mock (a hung fetch
/// costs this much).
const API_TIMEOUT: Duration = Duration::from_millis(250);

/// How long the sender waits for an answer: far more than any attempt
/// takes (the API client gives up after [`API_TIMEOUT`]), so that no
/// answer is abandoned while the receiver still works on it.
const SENDER_TIMEOUT: Duration = Duration::from_secs(30);

/// The size of one soak.
#[derive(Clone, Copy, Debug)]
struct Size {
    transactions: usize,
    deliveries: usize,
    /// The capacity of the in-memory claim store: below the number of
    /// events, so that processed events are evicted during the run.
    claim_capacity: usize,
    /// The two deliveries of a duplicated event are at most this far
    /// apart in the schedule.
    spread: usize,
    /// Delivery `j` starts only once every delivery before `j - window`
    /// has ended.
    window: usize,
}

impl Size {
    const REDUCED: Size = Size {
        transactions: 100,
        deliveries: 1_000,
        claim_capacity: 500,
        spread: 128,
        window: 128,
    };

    const FULL: Size = Size {
        transactions: 1_000,
        deliveries: 10_000,
        claim_capacity: 4_000,
        spread: 1_024,
        window: 1_024,
    };

    /// The full size when `CHAOS_FULL` is set (to anything but `0`), the
    /// reduced one otherwise.
    fn from_env() -> Size {
        match std::env::var("CHAOS_FULL") {
            Ok(v) if !v.is_empty() && v != "0" => Size::FULL,
            _ => Size::REDUCED,
        }
    }

    /// Distinct events: the deliveries are those plus 20% duplicates.
    fn events(self) -> usize {
        (self.deliveries * 5).div_ceil(6)
    }

    /// Why a duplicate never finds its event evicted from the in-memory
    /// claim store.
    ///
    /// An event, processed or released for a retry (with the handlers
    /// that completed for it), is evicted only after as many new events
    /// were claimed as there were evictable events ahead of it in the store:
    /// at least `capacity - 1 - IN_FLIGHT` (at most `IN_FLIGHT` claims are
    /// live at once, and live claims are never evicted). While any
    /// delivery of an event is running, only deliveries up to
    /// `window` past its last one can start, and every delivery more than
    /// `window` before its first one has ended: the events claimed in
    /// between come from at most `2 × window + spread + 1` deliveries.
    fn assert_no_duplicate_outlives_its_claim(self) {
        let claimed_meanwhile = 2 * self.window + self.spread + 1;
        assert!(
            claimed_meanwhile < self.claim_capacity - 1 - IN_FLIGHT,
            "{self:?}: a duplicate could arrive after its event was evicted"
        );
        assert!(
            self.claim_capacity < self.events(),
            "{self:?}: the claim store must be too small to hold every event"
        );
    }
}

/// SplitMix64: a small, seeded, well-mixed generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `choices`, in proportion to its weight.
    fn pick<T: Clone>(&mut self, choices: &[(u32, T)]) -> T {
        let total: u32 = choices.iter().map(|(w, _)| w).sum();
        let mut n = self.below(total as usize) as u32;
        for (weight, choice) in choices {
            if n < *weight {
                return choice.clone();
            }
            n -= weight;
        }
        unreachable!("the weights sum to the total")
    }
}

/// The SplitMix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of `parts` under the seed, as a fraction of 1.
fn draw(parts: &[&[u8]]) -> f64 {
    let mut hash = mix(SEED);
    for part in parts {
        for byte in *part {
            hash = mix(hash ^ u64::from(*byte));
        }
        hash = mix(hash ^ 0xff);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// One event of a lifecycle: its type and the transaction's status in it.
type Step = (EventType, TransactionStatus);

/// How a lifecycle starts: a card payment, an APM, a declined card.
fn start(rng: &mut Rng) -> Vec<Step> {
    use EventType as T;
    rng.pick(&[
        (
            55,
            vec![
                (T::TransactionRequested, S::Waiting),
                (T::TransactionAuthorized, S::Authorized),
            ],
        ),
        (30, vec![(T::TransactionRequested, S::Pending)]),
        (
            5,
            vec![
                (T::TransactionRequested, S::Waiting),
                (T::TransactionFailed, S::Failed),
            ],
        ),
        (10, vec![(T::TransactionRequested, S::Waiting)]),
    ])
}

/// What may follow `status`, and how often: captures, voids, partial
/// refunds (announced by a pending refund operation that leaves the status
/// as it is), retrieval requests, fraud notifications, disputes won, lost
/// or opened again.
fn next(status: &TransactionStatus, rng: &mut Rng) -> Option<Step> {
    use EventType as T;
    let authorized = (T::TransactionAuthorized, S::Authorized);
    let captured = (T::TransactionCaptured, S::Completed);
    let failed = (T::TransactionFailed, S::Failed);
    let voided = (T::TransactionVoided, S::Voided);
    let refund_pending = (T::TransactionOperationRefundPending, status.clone());
    let refunded = (T::TransactionRefunded, S::Refunded);
    let retrieval = (
        T::TransactionChargebackRetrievalRequest,
        S::RetrievalRequest,
    );
    let fraud = (
        T::TransactionChargebackFraudNotification,
        S::FraudNotification,
    );
    let dispute = (T::TransactionChargebackCreated, S::ChargebackInitiated);
    let won = (T::TransactionChargebackWon, S::Solved);
    let lost = (T::TransactionChargebackLost, S::Reversed);
    let choices = match status {
        S::Waiting => vec![(80, authorized), (20, failed)],
        S::Pending => vec![(85, captured), (10, failed), (5, voided)],
        S::Authorized => vec![(90, captured), (10, voided)],
        S::Completed => vec![
            (30, refund_pending),
            (35, refunded),
            (10, retrieval),
            (5, fraud),
            (20, dispute),
        ],
        S::Refunded => vec![
            (30, refund_pending),
            (45, refunded),
            (5, retrieval),
            (20, dispute),
        ],
        S::RetrievalRequest => vec![(30, fraud), (70, dispute)],
        S::FraudNotification => vec![(60, dispute), (40, refunded)],
        S::ChargebackInitiated => vec![(70, won), (30, lost)],
        S::Solved => vec![(100, dispute)],
        _ => return None, // final
    };
    Some(rng.pick(&choices))
}

/// The transactions' lifecycles and the delivery schedule.
struct World {
    /// Each transaction's events, oldest first.
    lifecycles: Vec<(TransactionId, Vec<Event>)>,
    /// Event → (transaction index, position in its lifecycle).
    place: HashMap<EventId, (usize, usize)>,
    /// The deliveries, in the order they start.
    schedule: Vec<(EventId, EventType)>,
}

impl World {
    /// Starts every transaction, then extends random unfinished ones one
    /// event at a time until there are `size.events()` events; duplicates
    /// 20% of them and shuffles, keeping each duplicate within
    /// `size.spread` of its twin.
    fn generate(size: Size) -> World {
        let mut rng = Rng(SEED);
        let mut steps: Vec<Vec<Step>> = (0..size.transactions).map(|_| start(&mut rng)).collect();
        let mut total: usize = steps.iter().map(Vec::len).sum();
        let mut open: Vec<usize> = (0..steps.len())
            .filter(|&t| !steps[t].last().unwrap().1.is_final())
            .collect();
        while total < size.events() && !open.is_empty() {
            let i = rng.below(open.len());
            let t = open[i];
            let status = steps[t].last().unwrap().1.clone();
            let step = next(&status, &mut rng).expect("open lifecycles go on");
            if step.1.is_final() {
                open.swap_remove(i);
            }
            steps[t].push(step);
            total += 1;
        }
        assert_eq!(total, size.events(), "too few lifecycles stayed open");

        // From 2 November 2026, 10:00 UTC; nanoseconds to 3 days between
        // the events of a transaction.
        let epoch: i128 = 1_793_613_600_000_000_000;
        let mut place = HashMap::new();
        let mut lifecycles = Vec::new();
        for (t, steps) in steps.into_iter().enumerate() {
            let transaction = TransactionId::parse(&format!("tr_chaos{t:04}")).unwrap();
            let mut at = epoch + rng.below(86_400) as i128 * 1_000_000_000;
            let mut events = Vec::new();
            for (k, (name, status)) in steps.into_iter().enumerate() {
                let id = EventId::parse(&format!("ev_chaos{t:04}x{k:02}")).unwrap();
                // Strictly increasing, to the nanosecond.
                at +=
                    1 + rng.below(3 * 86_400) as i128 * 1_000_000_000 + rng.below(1 << 20) as i128;
                let mut event = Event::new(id.clone(), name);
                event.fired_at = Some(Timestamp::from_unix_nanos(at));
                let mut tx = Transaction::new(transaction.clone(), status);
                tx.amount = Some("49.90".parse().unwrap());
                tx.currency = Some("EUR".into());
                event.data.transaction = Some(tx);
                place.insert(id, (t, k));
                events.push(event);
            }
            lifecycles.push((transaction, events));
        }

        // Each event gets a key at its place in a shuffled order; a
        // duplicate gets a key at most `spread / 3` away from its twin's.
        let mut all: Vec<&Event> = lifecycles.iter().flat_map(|(_, e)| e).collect();
        for i in (1..all.len()).rev() {
            all.swap(i, rng.below(i + 1));
        }
        let shift = size.spread / 3;
        let mut keyed: Vec<(usize, u64, &Event)> = Vec::new();
        for (position, event) in all.iter().enumerate() {
            keyed.push((position * 3 + 1, rng.next(), event));
        }
        let duplicates = size.deliveries - all.len();
        for (position, event) in all.iter().enumerate().take(duplicates) {
            // `all` is shuffled: its first events are a random 20%.
            let key = (position * 3 + 1 + rng.below(2 * shift + 1)).saturating_sub(shift);
            keyed.push((key, rng.next(), event));
        }
        keyed.sort_by_key(|(key, tie, _)| (*key, *tie));
        let schedule: Vec<(EventId, EventType)> = keyed
            .iter()
            .map(|(_, _, e)| (e.id.clone(), e.name.clone()))
            .collect();
        assert_eq!(schedule.len(), size.deliveries);
        let mut first_seen = HashMap::new();
        for (j, (id, _)) in schedule.iter().enumerate() {
            if let Some(i) = first_seen.insert(id.clone(), j) {
                assert!(j - i <= size.spread, "{id} delivered {i} then {j}");
            }
        }
        World {
            lifecycles,
            place,
            schedule,
        }
    }

    fn events(&self) -> impl Iterator<Item = &Event> {
        self.lifecycles.iter().flat_map(|(_, events)| events)
    }
}

/// The handlers each receiver registers (see [`receiver`]).
const HANDLERS: [&str; 5] = ["ledger", "fulfil", "disputes", "audit", "status-changes"];

/// Whether `handler` takes `event`, as [`receiver`] registers it. The
/// transition handler takes the events whose delivery reported a status
/// change.
fn takes(handler: &str, event: &Event, record: &Record) -> bool {
    match handler {
        "ledger" => event.name.has_prefix("transaction."),
        "fulfil" => event.name == EventType::TransactionCaptured,
        "disputes" => event.name.has_prefix("transaction.chargeback."),
        "audit" => true,
        "status-changes" => record.reported.contains_key(&event.id),
        other => unreachable!("no handler {other}"),
    }
}

/// What one handler did for one event.
#[derive(Clone, Copy, Debug, Default)]
struct Runs {
    runs: usize,
    successes: usize,
}

/// What the receivers did, seen from the handlers and the observer.
#[derive(Default)]
struct Record {
    /// (handler, event) → runs.
    runs: HashMap<(&'static str, EventId), Runs>,
    /// Event → the status changes its deliveries' reports gave (one per
    /// processing).
    reported: HashMap<EventId, Vec<Change>>,
    /// Event → the status changes the transition handler was given (one
    /// per run).
    handled: HashMap<EventId, Vec<Change>>,
    /// Outcome → deliveries answered so.
    outcomes: BTreeMap<&'static str, usize>,
    /// Fetch error kind → fetches that failed so.
    fetch_errors: BTreeMap<String, usize>,
}

type Shared = Arc<Mutex<Record>>;

/// A status change: from, to.
type Change = (Option<TransactionStatus>, TransactionStatus);

/// A handler that fails, retryably, 10% of its runs: which ones is drawn
/// from the event ID, the handler's name and the run's number.
fn handler(record: &Shared, name: &'static str) -> impl smart_router_webhooks::Handler {
    let record = record.clone();
    move |ctx: EventContext| {
        let id = ctx.event().id.clone();
        let mut record = record.lock().unwrap();
        if let Some(t) = ctx.transition() {
            let change = (t.from.clone(), t.to.clone());
            record.handled.entry(id.clone()).or_default().push(change);
        }
        let runs = record.runs.entry((name, id.clone())).or_default();
        runs.runs += 1;
        let n = runs.runs.to_le_bytes();
        let fails = draw(&[id.as_str().as_bytes(), name.as_bytes(), &n]) < HANDLER_FAILURE_RATE;
        if !fails {
            runs.successes += 1;
        }
        async move {
            if fails {
                Err(HandlerError::retry("injected handler failure"))
            } else {
                Ok(())
            }
        }
    }
}

fn observe(record: &Shared, report: &DeliveryReport) {
    let mut record = record.lock().unwrap();
    *record.outcomes.entry(report.outcome.as_str()).or_default() += 1;
    if let Some(error) = &report.fetch_error {
        *record
            .fetch_errors
            .entry(format!("{:?}", error.kind()))
            .or_default() += 1;
    }
    if let (Some(id), Some(t)) = (&report.event_id, &report.tracking.transition) {
        record
            .reported
            .entry(id.clone())
            .or_default()
            .push((t.from.clone(), t.to.clone()));
    }
}

/// A mock API serving every event, failing 30% of requests: 500, 503, 429
/// with `Retry-After`, hung requests and closed connections.
async fn chaotic_api(world: &World) -> MockApi {
    let api = MockApi::start().await;
    for event in world.events() {
        api.add_event(event.clone());
    }
    api.fail_randomly(
        RandomFailures::new(API_FAILURE_RATE, SEED)
            .with(Failure::InternalError, 25)
            .with(
                Failure::Unavailable {
                    retry_after: Some(1),
                },
                20,
            )
            .with(
                Failure::RateLimited {
                    retry_after: Some(1),
                    reset: Some(1),
                },
                25,
            )
            .with(Failure::Hang, 10)
            .with(Failure::Close, 20),
    );
    api
}

/// A receiver on the shared stores, with its own API client, every
/// handler and an observer, served by one of the adapters.
fn receiver(
    api: &MockApi,
    claims: Arc<dyn ClaimStore>,
    transactions: Arc<dyn TransactionStore>,
    record: &Shared,
    adapter: &str,
) -> Served {
    let client = api.client_builder().timeout(API_TIMEOUT).build().unwrap();
    let h = |name| handler(record, name);
    let receiver = Receiver::builder()
        .credentials(Credentials::new(USER, PASSWORD).unwrap())
        .fetcher(client)
        .claim_store(claims)
        .transaction_store(transactions)
        .observer({
            let record = record.clone();
            move |report: &DeliveryReport| observe(&record, report)
        })
        .on_prefix("transaction.", "ledger", h("ledger"))
        .on(EventType::TransactionCaptured, "fulfil", h("fulfil"))
        .on_prefix("transaction.chargeback.", "disputes", h("disputes"))
        .on_every_event("audit", h("audit"))
        .on_transition(TransitionFilter::Any, "status-changes", h("status-changes"))
        .build()
        .unwrap();
    serve(adapter, receiver, DEFAULT_READ_TIMEOUT)
}

/// Delivers the schedule, `IN_FLIGHT` at a time, delivery `j` to receiver
/// `j % 4`, and delivery `j` only once every delivery before
/// `j - size.window` has ended.
async fn deliver_all(world: &World, size: Size, senders: &[Sender]) -> Vec<testing::Delivery> {
    struct Progress {
        ended: Vec<bool>,
        /// Every delivery before it has ended.
        watermark: usize,
    }
    let n = world.schedule.len();
    let progress = Arc::new(Mutex::new(Progress {
        ended: vec![false; n],
        watermark: 0,
    }));
    let moved = Arc::new(Notify::new());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for (j, (id, name)) in world.schedule.iter().enumerate() {
        while progress.lock().unwrap().watermark + size.window < j {
            moved.notified().await;
        }
        let slot = slots.clone().acquire_owned().await.unwrap();
        let sender = senders[j % senders.len()].clone();
        let (id, name) = (id.clone(), name.clone());
        let (progress, moved) = (progress.clone(), moved.clone());
        tasks.spawn(async move {
            let delivery = sender.deliver(&id, Some(&name)).await;
            drop(slot);
            let mut p = progress.lock().unwrap();
            p.ended[j] = true;
            while p.watermark < p.ended.len() && p.ended[p.watermark] {
                p.watermark += 1;
            }
            drop(p);
            moved.notify_one();
            (j, delivery)
        });
    }
    let mut deliveries: Vec<Option<testing::Delivery>> = vec![None; n];
    while let Some(done) = tasks.join_next().await {
        let (j, delivery) = done.unwrap();
        deliveries[j] = Some(delivery);
    }
    deliveries.into_iter().map(Option::unwrap).collect()
}

/// The shared stores of one soak, and how to check their bounds.
struct Stores {
    claims: Vec<Arc<dyn ClaimStore>>,
    transactions: Vec<Arc<dyn TransactionStore>>,
    kind: &'static str,
}

/// Runs one soak and checks every guarantee; returns the world, for
/// checks of the stores by the caller.
async fn soak(size: Size, stores: &Stores) -> World {
    let started = Instant::now();
    let world = World::generate(size);
    let api = chaotic_api(&world).await;
    let record: Shared = Shared::default();
    let served: Vec<Served> = (0..4)
        .map(|i| {
            receiver(
                &api,
                stores.claims[i % stores.claims.len()].clone(),
                stores.transactions[i % stores.transactions.len()].clone(),
                &record,
                ADAPTERS[i % ADAPTERS.len()],
            )
        })
        .collect();
    let password = PASSWORD.replace('@', "%40").replace(':', "%3A");
    let senders: Vec<Sender> = served
        .iter()
        .map(|s| {
            Sender::new(&format!("http://{USER}:{password}@{}{PATH}", s.addr))
                .unwrap()
                .backoff(FIRST_DELAY, ATTEMPTS)
                .timeout(SENDER_TIMEOUT)
        })
        .collect();

    let deliveries = deliver_all(&world, size, &senders).await;
    let elapsed = started.elapsed();
    let record = std::mem::take(&mut *record.lock().unwrap());

    // The summary, before any assertion, so that a failure shows it too.
    let attempts: usize = deliveries.iter().map(|d| d.attempts.len()).sum();
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in deliveries.iter().flat_map(|d| &d.attempts) {
        let answer = attempt
            .status
            .map_or("no answer".to_owned(), |s| s.as_u16().to_string());
        *answers.entry(answer).or_default() += 1;
    }
    let handler_failures: usize = record.runs.values().map(|r| r.runs - r.successes).sum();
    println!(
        "chaos soak ({} stores): {} deliveries of {} events over {} transactions; \
         {attempts} attempts ({answers:?}); {} API failures injected ({:?}); \
         {handler_failures} handler failures injected; outcomes {:?}; {:.1} s",
        stores.kind,
        deliveries.len(),
        world.place.len(),
        world.lifecycles.len(),
        api.failed_requests(),
        record.fetch_errors,
        record.outcomes,
        elapsed.as_secs_f64(),
    );

    // No delivery lost: the sender got a 2xx for every one.
    let lost: Vec<_> = deliveries
        .iter()
        .zip(&world.schedule)
        .filter(|(d, _)| !d.delivered())
        .map(|(d, (id, _))| (id, d.attempts.iter().map(|a| a.status).collect::<Vec<_>>()))
        .collect();
    assert!(lost.is_empty(), "deliveries not acknowledged: {lost:?}");
    assert!(api.failed_requests() > 0 && handler_failures > 0);

    // Every matching (handler, event) ran to success exactly once; no
    // other pair ever ran.
    let mut wrong = Vec::new();
    for event in world.events() {
        for name in HANDLERS {
            let runs = record
                .runs
                .get(&(name, event.id.clone()))
                .copied()
                .unwrap_or_default();
            let matches = takes(name, event, &record);
            if runs.successes != usize::from(matches) || (!matches && runs.runs > 0) {
                wrong.push((name, event.id.as_str(), matches, runs));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} (handler, event) pairs not run to success exactly once \
         ((handler, event, matches, runs), first 20): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );

    // Status changes never go backwards: each change the transition
    // handler was given comes from a status its transaction's lifecycle
    // went through before the event, into the event's status. Every run
    // for an event was given the change every processing of it reported
    // (a retry sees the change of the first). Each transaction was first
    // seen once.
    let mut first_sightings: HashMap<usize, HashSet<&EventId>> = HashMap::new();
    for (id, reported) in &record.reported {
        let handled = record.handled.get(id).map_or(&[][..], Vec::as_slice);
        let change = &reported[0];
        assert!(
            reported.iter().chain(handled).all(|c| c == change),
            "{id}: changes reported {reported:?}, given to the handler {handled:?}"
        );
        let (t, k) = world.place[id];
        let statuses: Vec<&TransactionStatus> = world.lifecycles[t]
            .1
            .iter()
            .map(|e| e.transaction().unwrap().status.as_ref().unwrap())
            .collect();
        let (from, to) = change;
        assert_eq!(to, statuses[k], "{id}");
        match from {
            None => {
                first_sightings.entry(t).or_default().insert(id);
            }
            Some(from) => assert!(
                statuses[..k].contains(&from),
                "{id}: {from} → {to} goes backwards in {statuses:?}"
            ),
        }
    }
    assert!(
        record
            .handled
            .keys()
            .all(|id| record.reported.contains_key(id)),
        "the transition handler ran for an event that brought no change"
    );
    for (t, (transaction, _)) in world.lifecycles.iter().enumerate() {
        let firsts = first_sightings.get(&t).map_or(0, HashSet::len);
        assert_eq!(firsts, 1, "{transaction} first seen {firsts} times");
    }

    // Every transaction ends in the last status of its lifecycle.
    for (transaction, events) in &world.lifecycles {
        let last = events.last().unwrap();
        let latest = stores.transactions[0]
            .latest(transaction)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{transaction} unknown to the store"));
        assert_eq!(
            (&latest.status, &latest.event_id),
            (
                last.transaction().unwrap().status.as_ref().unwrap(),
                &last.id
            ),
            "{transaction}"
        );
    }
    assert_eq!(
        answers.keys().filter(|s| s.starts_with('2')).count(),
        1,
        "only 200s acknowledge: {answers:?}"
    );
    assert!(record.outcomes.get("duplicate").copied().unwrap_or(0) > 0);
    drop(served);
    world
}

/// The soaks of this file run one at a time: each loads the machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_with_memory_stores() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let size = Size::from_env();
    size.assert_no_duplicate_outlives_its_claim();
    // Processed events are remembered far longer than the soak lasts:
    // only the capacity makes the store forget them.
    let claims = Arc::new(MemoryClaimStore::new(
        size.claim_capacity,
        Duration::from_secs(24 * 3600),
    ));
    let transactions = Arc::new(MemoryTransactionStore::new(size.transactions));
    let stores = Stores {
        claims: vec![claims.clone()],
        transactions: vec![transactions.clone()],
        kind: "memory",
    };
    let world = soak(size, &stores).await;

    // Within bounds: the claim store is full (processed events were
    // evicted to make room) and no fuller; every transaction is
    // remembered, in a store exactly that large.
    assert_eq!(claims.len(), claims.capacity());
    assert!(world.place.len() > claims.capacity());
    assert_eq!(transactions.len(), size.transactions);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_with_redis_stores() {
    use smart_router_webhooks::RedisStoreBuilder;

    let _turn = ONE_AT_A_TIME.lock().await;
    let size = Size::from_env();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("{}:", store_contract::unique("srw-chaos"));
    let ttl = Duration::from_secs(600);
    // One connection per receiver, as separate instances would have.
    let mut claims: Vec<Arc<dyn ClaimStore>> = Vec::new();
    let mut transactions: Vec<Arc<dyn TransactionStore>> = Vec::new();
    for _ in 0..4 {
        let stores = RedisStoreBuilder::new(url.as_str())
            .key_prefix(prefix.as_str())
            .timeout(Duration::from_secs(10))
            .done_ttl(ttl)
            .handlers_ttl(ttl)
            .transaction_ttl(ttl)
            .build()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no Redis answers at REDIS_URL={url} ({e:?}); {}",
                    redis_server::INSTALL_HINT
                )
            });
        claims.push(Arc::new(stores.claim_store()));
        transactions.push(Arc::new(stores.transaction_store()));
    }
    let stores = Stores {
        claims,
        transactions,
        kind: "redis",
    };
    let world = soak(size, &stores).await;

    // Within bounds: one claim key per event, done; no per-handler record
    // left; one key per transaction; every key expires.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // SCAN may return a key twice.
    let mut keys: HashSet<String> = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let count = |suffix: &str| keys.iter().filter(|k| k.ends_with(suffix)).count();
    assert_eq!(count(":claim"), world.place.len());
    assert_eq!(count(":handlers"), 0);
    let tx_keys = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{prefix}tx:")))
        .count();
    assert_eq!(tx_keys, size.transactions);
    assert_eq!(keys.len(), world.place.len() + size.transactions);
    for chunk in keys.chunks(500) {
        let mut ttls = redis::pipe();
        for key in chunk {
            ttls.cmd("PTTL").arg(key);
        }
        let ttls: Vec<i64> = ttls.query_async(&mut conn).await.unwrap();
        for (key, ttl_ms) in chunk.iter().zip(ttls) {
            assert!(
                ttl_ms > 0 && ttl_ms <= ttl.as_millis() as i64,
                "{key} expires in {ttl_ms} ms"
            );
        }
        let done: Vec<Option<String>> = {
            let mut get = redis::pipe();
            for key in chunk.iter().filter(|k| k.ends_with(":claim")) {
                get.cmd("GET").arg(key);
            }
            get.query_async(&mut conn).await.unwrap()
        };
        assert!(
            done.iter().all(|v| v.as_deref() == Some("done")),
            "{done:?}"
        );
    }
    // Clean up after a run that passed (a failed one expires in 10 min).
    for chunk in keys.chunks(500) {
        let _: usize = redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[test]
fn the_schedule_is_realistic_and_reproducible() {
    let size = Size::REDUCED;
    let world = World::generate(size);
    assert_eq!(world.schedule.len(), size.deliveries);
    assert_eq!(world.place.len(), size.events());
    let again = World::generate(size);
    assert_eq!(world.schedule, again.schedule);
    let mut finals: BTreeMap<String, usize> = BTreeMap::new();
    for (transaction, events) in &world.lifecycles {
        let statuses: Vec<_> = events
            .iter()
            .map(|e| e.transaction().unwrap().status.clone().unwrap())
            .collect();
        for pair in statuses.windows(2) {
            assert!(
                pair[0] == pair[1] || pair[0].can_transition_to(&pair[1]),
                "{transaction}: {} → {} is not in the lifecycle table",
                pair[0],
                pair[1]
            );
        }
        let times: Vec<i128> = events
            .iter()
            .map(|e| e.fired_at.as_ref().unwrap().unix_nanos().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{transaction}");
        *finals
            .entry(statuses.last().unwrap().to_string())
            .or_default() += 1;
    }
    // Card, APM and dispute stories all end somewhere.
    for status in ["refunded", "solved", "reversed", "failed", "voided"] {
        assert!(finals.contains_key(status), "{finals:?}");
    }
}
