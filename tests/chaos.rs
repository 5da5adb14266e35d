//! The chaos soak: thousands of deliveries of realistic transaction
//! lifecycles, shuffled and partly duplicated, sent with retries to four
//! receivers served over HTTP on loopback (axum, actix, hyper) and sharing
//! one claim store and one transaction store, while everything that goes
//! wrong in production goes wrong at once:
//!
//! - the mock API fails 30% of the fetches (500, 503, 429, hung requests,
//!   closed connections);
//! - senders give up on 10% of their attempts 1 to 50 ms in (a timeout, a
//!   hang-up), in the middle of a fetch or of a handler;
//! - handlers fail 10% of their runs, panic in 3%, and stall past the
//!   claim's lease in 1.5% (with a lease of 600 ms, renewed every 200 ms,
//!   and an answer deadline of 300 ms, so a stalled delivery is answered
//!   409 while its processing goes on);
//! - with the Redis stores, one receiver instance is killed twice mid-run
//!   with handlers in flight (its runtime shut down: its tasks stop where
//!   they are, nothing it would do on the way out runs) and a new instance
//!   takes its place.
//!
//! At the end: no event lost (every delivery was acknowledged); no two
//! runs of one handler for one event overlapped in time (each run's start
//! and end are recorded); every (handler, event) pair that matches ran to
//! success exactly once, except where an instance died between a success
//! and its record (each such rerun is counted, printed, and must be a
//! success that ended less than a lease before its instance was killed
//! and that no report of it recorded: 0 without restarts); every transaction ends in the last status of its lifecycle;
//! no status change went backwards; the stores stayed within their bounds.
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
#[path = "support/instance.rs"]
mod instance;
#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/seeded.rs"]
mod seeded;
#[allow(dead_code)] // only `unique` and `ReadBack` are used here
#[path = "support/store_contract.rs"]
mod store_contract;

use seeded::Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use smart_router_webhooks::testing::{Attempt, Failure, MockApi, RandomFailures, Sender};
use smart_router_webhooks::{
    ClaimStore, Credentials, DeliveryReport, Event, EventContext, EventId, EventType, HandlerError,
    MemoryStore, Outcome, Receiver, Timestamp, Transaction, TransactionId, TransactionStatus,
    TransitionFilter,
};
use store_contract::ReadBack;
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

/// The shares of handler runs that fail with a retryable error, that
/// panic, and that stall for 1.5 to 2.5 leases (then succeed).
const HANDLER_FAILURE_RATE: f64 = 0.1;
const HANDLER_PANIC_RATE: f64 = 0.03;
const HANDLER_STALL_RATE: f64 = 0.015;

/// The claims' lease: short, so that a stalled handler outlasts it and
/// only its renewal (every third of it) keeps a redelivery from running
/// the handler a second time meanwhile.
const LEASE: Duration = Duration::from_millis(600);

/// The receivers' answer deadline: a stalled handler outlasts it, so its
/// delivery is answered 409 while the processing goes on.
const ANSWER_DEADLINE: Duration = Duration::from_millis(300);

/// The share of attempts whose sender gives up early, and how soon (1 ms
/// to this much after it starts): mid-fetch or mid-handler.
const HANG_UP_RATE: f64 = 0.1;
const HANG_UP_WITHIN: Duration = Duration::from_millis(50);

/// How many times the restartable instance is killed and replaced, in
/// the soaks that restart one.
const RESTARTS: usize = 2;

/// The sender's first retry delay (doubling after each attempt, up to
/// [`MAX_DELAY`]) and its attempts per delivery.
///
/// An attempt fails when its sender hangs up (10%), the fetch fails
/// (30%), or a handler it runs fails or panics (13% each, up to five on a
/// first attempt, usually one on a retry): a retry fails about 1 - 0.9 ×
/// 0.7 × 0.87 ≈ 45% of the time. It also gets 409s while its event is
/// held elsewhere: by a stalled handler (at most 2.5 leases, 1.5 s: 10
/// attempts with this backoff), by a hung fetch (250 ms: 8), or by a
/// killed instance until its lease ends (600 ms: 9). A delivery is lost
/// after 40 failed attempts: even after 10 of them on 409s, about 0.45^30
/// ≈ 4e-11. The schedule is drawn from a fixed seed; the timing of the
/// faults is not, so the counts in the summary vary a little between runs.
const FIRST_DELAY: Duration = Duration::from_millis(2);
const MAX_DELAY: Duration = Duration::from_millis(500);
const ATTEMPTS: u32 = 40;

/// How long the receivers' API client waits for the mock (a hung fetch
/// costs this much).
const API_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a patient sender waits for an answer: far more than any
/// attempt takes (the answer deadline comes first).
const SENDER_TIMEOUT: Duration = Duration::from_secs(30);

/// The message of an injected panic, which the panic hook keeps quiet.
const INJECTED_PANIC: &str = "injected handler panic";
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

/// A hash of `parts` under the soak's seed, as a fraction of 1.
fn draw(parts: &[&[u8]]) -> f64 {
    seeded::draw(SEED, parts)
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

/// One run of a handler for an event, on one receiver instance.
#[derive(Clone, Debug)]
struct Run {
    handler: &'static str,
    event: EventId,
    instance: usize,
    started: Instant,
    /// When it returned, panicked or was dropped (stopped where it was).
    ended: Option<Instant>,
    succeeded: bool,
}

/// What the receivers did, seen from the handlers and the observers.
#[derive(Default)]
struct Record {
    /// Every handler run, in the order they started.
    runs: Vec<Run>,
    /// (handler, event) → runs started: the number each run's fate is
    /// drawn with.
    numbers: HashMap<(&'static str, EventId), u32>,
    /// Instance → handler runs under way on it.
    in_flight: HashMap<usize, usize>,
    /// Fault → runs it was injected into.
    injected: BTreeMap<&'static str, usize>,
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
    /// (instance, event, handler) for each handler success a report of the
    /// instance gave: its record was made (a report whose settlement
    /// failed carries a store error, and is left out).
    recorded: HashSet<(usize, EventId, String)>,
    /// Instance → when it was killed.
    killed: HashMap<usize, Instant>,
}

type Shared = Arc<Mutex<Record>>;

fn lock(record: &Shared) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A status change: from, to.
type Change = (Option<TransactionStatus>, TransactionStatus);

/// What a handler run does: drawn from the event ID, the handler's name
/// and the run's number.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Succeed,
    Fail,
    Panic,
    Stall(Duration),
}

impl Fate {
    fn draw(event: &EventId, handler: &str, number: u32) -> Fate {
        let parts = [
            event.as_str().as_bytes(),
            handler.as_bytes(),
            &number.to_le_bytes(),
        ];
        let u = draw(&parts);
        if u < HANDLER_FAILURE_RATE {
            Fate::Fail
        } else if u < HANDLER_FAILURE_RATE + HANDLER_PANIC_RATE {
            Fate::Panic
        } else if u < HANDLER_FAILURE_RATE + HANDLER_PANIC_RATE + HANDLER_STALL_RATE {
            let more = draw(&[&parts[..], &[b"stall".as_slice()]].concat());
            Fate::Stall(LEASE.mul_f64(1.5 + more))
        } else {
            Fate::Succeed
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fate::Succeed => "none",
            Fate::Fail => "failure",
            Fate::Panic => "panic",
            Fate::Stall(_) => "stall",
        }
    }
}

/// A run under way: dropped, it records its end (a run stopped where it
/// was, by a killed instance, ends unsuccessful).
struct Running {
    record: Shared,
    index: usize,
    succeeded: bool,
}

impl Running {
    fn start(record: &Shared, handler: &'static str, event: &EventId, instance: usize) -> Self {
        let mut r = lock(record);
        r.runs.push(Run {
            handler,
            event: event.clone(),
            instance,
            started: Instant::now(),
            ended: None,
            succeeded: false,
        });
        *r.in_flight.entry(instance).or_default() += 1;
        Running {
            record: record.clone(),
            index: r.runs.len() - 1,
            succeeded: false,
        }
    }

    fn end(mut self, succeeded: bool) {
        self.succeeded = succeeded;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut r = lock(&self.record);
        let run = &mut r.runs[self.index];
        run.ended = Some(Instant::now());
        run.succeeded = self.succeeded;
        let instance = run.instance;
        *r.in_flight.entry(instance).or_default() -= 1;
    }
}

/// A handler whose runs succeed, fail retryably, panic or stall, as
/// [`Fate::draw`] says, recording each run's start and end.
fn handler(
    record: &Shared,
    name: &'static str,
    instance: usize,
) -> impl smart_router_webhooks::Handler {
    let record = record.clone();
    move |ctx: EventContext| {
        let record = record.clone();
        async move {
            let id = ctx.event().id.clone();
            let fate = {
                let mut r = lock(&record);
                if let Some(t) = ctx.transition() {
                    let change = (t.from.clone(), t.to.clone());
                    r.handled.entry(id.clone()).or_default().push(change);
                }
                let number = r.numbers.entry((name, id.clone())).or_default();
                *number += 1;
                let fate = Fate::draw(&id, name, *number);
                *r.injected.entry(fate.name()).or_default() += 1;
                fate
            };
            let run = Running::start(&record, name, &id, instance);
            match fate {
                Fate::Succeed => {
                    run.end(true);
                    Ok(())
                }
                Fate::Fail => Err(HandlerError::retry("injected handler failure")),
                Fate::Panic => {
                    drop(run);
                    std::panic::panic_any(INJECTED_PANIC)
                }
                Fate::Stall(stall) => {
                    tokio::time::sleep(stall).await;
                    run.end(true);
                    Ok(())
                }
            }
        }
    }
}

/// Keeps the injected panics off the output (the default hook prints
/// every other one).
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&INJECTED_PANIC) {
                default(info);
            }
        }));
    });
}

fn observe(record: &Shared, instance: usize, report: &DeliveryReport) {
    let mut record = lock(record);
    *record.outcomes.entry(report.outcome.as_str()).or_default() += 1;
    if let Some(error) = &report.fetch_error {
        *record
            .fetch_errors
            .entry(format!("{:?}", error.kind()))
            .or_default() += 1;
    }
    let Some(id) = &report.event_id else {
        return;
    };
    if let Some(t) = &report.tracking.transition {
        record
            .reported
            .entry(id.clone())
            .or_default()
            .push((t.from.clone(), t.to.clone()));
    }
    if report.outcome != Outcome::StoreUnavailable && report.store_error.is_none() {
        for run in report.handlers.iter().filter(|r| r.error.is_none()) {
            record
                .recorded
                .insert((instance, id.clone(), run.name.clone()));
        }
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

/// A receiver instance on the shared stores, with its own API client,
/// every handler and an observer; on `runtime` when given (tokio's current
/// one otherwise).
fn receiver(
    api: &MockApi,
    (claims, transactions): StorePair,
    record: &Shared,
    instance: usize,
    runtime: Option<instance::OnHandle>,
) -> Receiver {
    let client = api.client_builder().timeout(API_TIMEOUT).build().unwrap();
    let h = |name| handler(record, name, instance);
    let builder = Receiver::builder()
        .credentials(Credentials::new(USER, PASSWORD).unwrap())
        .fetcher(client)
        .claim_store(claims)
        .transaction_store(transactions)
        .lease(LEASE)
        .answer_deadline(ANSWER_DEADLINE)
        .observer({
            let record = record.clone();
            move |report: &DeliveryReport| observe(&record, instance, report)
        })
        .on_prefix("transaction.", "ledger", h("ledger"))
        .on(EventType::TransactionCaptured, "fulfil", h("fulfil"))
        .on_prefix("transaction.chargeback.", "disputes", h("disputes"))
        .on_every_event("audit", h("audit"))
        .on_transition(TransitionFilter::Any, "status-changes", h("status-changes"));
    match runtime {
        Some(runtime) => builder.runtime(runtime),
        None => builder,
    }
    .build()
    .unwrap()
}

/// A sender to the receiver at `addr`.
fn sender_to(addr: SocketAddr) -> Sender {
    let password = PASSWORD.replace('@', "%40").replace(':', "%3A");
    Sender::new(&format!("http://{USER}:{password}@{addr}{PATH}"))
        .unwrap()
        .timeout(SENDER_TIMEOUT)
}

/// The sender to each of the four receivers, as they are now (a
/// restarted instance answers at another address).
type Targets = Arc<Mutex<Vec<Sender>>>;

/// Delivers `id` to receiver `slot`, retrying like Smart Router until an
/// attempt is acknowledged or [`ATTEMPTS`] ran out; [`HANG_UP_RATE`] of
/// the attempts give up early.
async fn deliver(
    targets: &Targets,
    slot: usize,
    j: usize,
    id: &EventId,
    name: &EventType,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let mut delay = FIRST_DELAY;
    for number in 1..=ATTEMPTS {
        let sender = targets.lock().unwrap()[slot].clone();
        let hang_up = draw(&[
            id.as_str().as_bytes(),
            b"hang-up",
            &j.to_le_bytes(),
            &number.to_le_bytes(),
        ]);
        let sender = if hang_up < HANG_UP_RATE {
            let after = HANG_UP_WITHIN.mul_f64(hang_up / HANG_UP_RATE);
            sender.timeout(after + Duration::from_millis(1))
        } else {
            sender
        };
        let attempt = sender.attempt(id, Some(name), number).await;
        let done = attempt.is_success();
        attempts.push(attempt);
        if done {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
    attempts
}

/// Delivers the schedule, `IN_FLIGHT` at a time, delivery `j` to receiver
/// `j % 4`, and delivery `j` only once every delivery before
/// `j - size.window` has ended. `ended` counts the deliveries that ended.
async fn deliver_all(
    world: &World,
    size: Size,
    targets: &Targets,
    ended: &Arc<AtomicUsize>,
) -> Vec<Vec<Attempt>> {
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
        let (id, name, targets) = (id.clone(), name.clone(), targets.clone());
        let (progress, moved, ended) = (progress.clone(), moved.clone(), ended.clone());
        tasks.spawn(async move {
            let attempts = deliver(&targets, j % 4, j, &id, &name).await;
            drop(slot);
            let mut p = progress.lock().unwrap();
            p.ended[j] = true;
            while p.watermark < p.ended.len() && p.ended[p.watermark] {
                p.watermark += 1;
            }
            drop(p);
            ended.fetch_add(1, Ordering::SeqCst);
            moved.notify_one();
            (j, attempts)
        });
    }
    let mut deliveries: Vec<Option<Vec<Attempt>>> = vec![None; n];
    while let Some(done) = tasks.join_next().await {
        let (j, attempts) = done.unwrap();
        deliveries[j] = Some(attempts);
    }
    deliveries.into_iter().map(Option::unwrap).collect()
}

/// One instance's claim store and transaction store.
type StorePair = (Arc<dyn ClaimStore>, Arc<dyn ReadBack>);

/// Builds one instance's stores (on the runtime it is polled on: the
/// instance's own, for a restartable one).
type MakeStores = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = StorePair> + Send>> + Send + Sync>;

/// The shared stores of one soak.
struct Stores {
    make: MakeStores,
    kind: &'static str,
    /// Whether receiver 0 runs as an instance of its own that is killed
    /// and replaced [`RESTARTS`] times during the run.
    restarts: bool,
}

/// A receiver instance with its own runtime, which can be killed.
struct Killable {
    process: instance::Instance,
    served: Served,
    id: usize,
}

/// Starts instance `id` on a runtime of its own: its stores (and their
/// connections), its processing and its HTTP server all die with it.
async fn start_killable(api: &MockApi, stores: &Stores, record: &Shared, id: usize) -> Killable {
    let process = instance::Instance::new();
    let handle = process.handle();
    let pair = handle.spawn((stores.make)()).await.unwrap();
    let receiver = receiver(api, pair, record, id, Some(process.runtime()));
    let served = {
        let _inside = handle.enter();
        serve(ADAPTERS[0], receiver)
    };
    Killable {
        process,
        served,
        id,
    }
}

/// A kill: the instance, and the handler runs under way on it then
/// (printed in the summary).
#[derive(Debug)]
#[allow(dead_code)] // read by `Debug`, in the summary
struct Kill {
    instance: usize,
    runs_in_flight: usize,
}

/// Kills `current` [`RESTARTS`] times, spread over the run, each time
/// once a handler runs on it (or after 5 s), and starts a new instance in
/// its place; returns the kills and the instance running at the end.
async fn restart_mid_run(
    api: &MockApi,
    stores: &Stores,
    record: &Shared,
    targets: &Targets,
    ended: &AtomicUsize,
    deliveries: usize,
    mut current: Killable,
) -> (Vec<Kill>, Option<Killable>) {
    let mut kills = Vec::new();
    for k in 1..=RESTARTS {
        while ended.load(Ordering::SeqCst) < deliveries * k / (RESTARTS + 1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let busy = Instant::now() + Duration::from_secs(5);
        let runs_in_flight = loop {
            let runs = lock(record).in_flight.get(&current.id).copied();
            match runs {
                Some(n) if n > 0 => break n,
                _ if Instant::now() > busy => break 0,
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        };
        let Killable {
            process,
            served,
            id,
        } = current;
        process.kill();
        lock(record).killed.insert(id, Instant::now());
        drop(served);
        kills.push(Kill {
            instance: id,
            runs_in_flight,
        });
        current = start_killable(api, stores, record, id + 1).await;
        targets.lock().unwrap()[0] = sender_to(current.served.addr);
    }
    (kills, Some(current))
}

/// Runs one soak and checks every guarantee; returns the world, for
/// checks of the stores by the caller.
async fn soak(size: Size, stores: &Stores) -> World {
    quiet_injected_panics();
    let started = Instant::now();
    let world = World::generate(size);
    let api = chaotic_api(&world).await;
    let record: Shared = Shared::default();
    // Receiver `i` is instance `i`; replacements of receiver 0 are 4, 5…
    let mut restartable = None;
    let mut served: Vec<Served> = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..4 {
        if i == 0 && stores.restarts {
            let first = start_killable(&api, stores, &record, 4).await;
            addrs.push(first.served.addr);
            restartable = Some(first);
            continue;
        }
        let pair = (stores.make)().await;
        let s = serve(
            ADAPTERS[i % ADAPTERS.len()],
            receiver(&api, pair, &record, i, None),
        );
        addrs.push(s.addr);
        served.push(s);
    }
    let targets: Targets = Arc::new(Mutex::new(addrs.into_iter().map(sender_to).collect()));
    let ended = Arc::new(AtomicUsize::new(0));
    let restarts = async {
        match restartable {
            Some(first) => {
                let n = world.schedule.len();
                restart_mid_run(&api, stores, &record, &targets, &ended, n, first).await
            }
            None => (Vec::new(), None),
        }
    };
    let (deliveries, (kills, last)) =
        tokio::join!(deliver_all(&world, size, &targets, &ended), restarts);
    let elapsed = started.elapsed();
    // Let the processing that outlived its last answer end (a stalled
    // handler whose event a duplicate acknowledged meanwhile).
    let settled = Instant::now() + LEASE * 10;
    while lock(&record).in_flight.values().sum::<usize>() > 0 && Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let record = std::mem::take(&mut *lock(&record));

    // Each run's end, cut at its instance's death.
    let end_of = |run: &Run| match (run.ended, record.killed.get(&run.instance)) {
        (Some(ended), Some(&killed)) => Some(ended.min(killed)),
        (ended, killed) => ended.or(killed.copied()),
    };
    // (handler, event) → its runs, in the order they started.
    let mut runs: HashMap<(&str, &EventId), Vec<&Run>> = HashMap::new();
    for run in &record.runs {
        runs.entry((run.handler, &run.event)).or_default().push(run);
    }
    // Successes followed by another success of the same pair: each must
    // be one its instance died before recording. A success is recorded
    // with the next renewal of the lease (every third of it) or with the
    // release at the end, so such a success ended less than a lease
    // before its instance was killed (two thirds of one while renewals
    // are on time: past that, the run under way is stopped and the claim
    // released with the records), and no report of the instance gave it.
    let mut reruns = Vec::new();
    let mut unexplained = Vec::new();
    for pair_runs in runs.values() {
        let successes: Vec<&&Run> = pair_runs.iter().filter(|r| r.succeeded).collect();
        for run in successes.iter().rev().skip(1) {
            let in_window = match (record.killed.get(&run.instance), run.ended) {
                (Some(&killed), Some(ended)) => killed.saturating_duration_since(ended) <= LEASE,
                _ => false,
            };
            let recorded = record.recorded.contains(&(
                run.instance,
                run.event.clone(),
                run.handler.to_owned(),
            ));
            if in_window && !recorded {
                reruns.push((run.handler, run.event.as_str(), run.instance));
            } else {
                unexplained.push((run.handler, run.event.as_str(), run.instance));
            }
        }
    }

    // The summary, before any assertion, so that a failure shows it too.
    let attempts: usize = deliveries.iter().map(Vec::len).sum();
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in deliveries.iter().flatten() {
        let answer = match (attempt.status, &attempt.error) {
            (Some(status), _) => status.as_u16().to_string(),
            (None, Some(error)) if error.is_timeout() => "sender gave up".to_owned(),
            // "could not connect", "the request got no answer"…: where
            // the attempt failed.
            (None, error) => format!(
                "no answer ({})",
                error.as_ref().map(ToString::to_string).unwrap_or_default()
            ),
        };
        *answers.entry(answer).or_default() += 1;
    }
    println!(
        "chaos soak ({} stores): {} deliveries of {} events over {} transactions; \
         {attempts} attempts ({answers:?}); {} API failures injected ({:?}); \
         {} handler runs, faults injected {:?}; instances killed {kills:?}; \
         {} handler runs repeated after their instance died between success and record \
         {reruns:?}; outcomes {:?}; {:.1} s",
        stores.kind,
        deliveries.len(),
        world.place.len(),
        world.lifecycles.len(),
        api.failed_requests(),
        record.fetch_errors,
        record.runs.len(),
        record.injected,
        reruns.len(),
        record.outcomes,
        elapsed.as_secs_f64(),
    );

    // No event lost: the sender got a 2xx for every delivery.
    let lost: Vec<_> = deliveries
        .iter()
        .zip(&world.schedule)
        .filter(|(d, _)| !d.last().is_some_and(Attempt::is_success))
        .map(|(d, (id, _))| (id, d.iter().map(|a| a.status).collect::<Vec<_>>()))
        .collect();
    assert!(lost.is_empty(), "deliveries not acknowledged: {lost:?}");
    // Every fault was injected.
    assert!(api.failed_requests() > 0);
    for fault in ["failure", "panic", "stall"] {
        assert!(record.injected.contains_key(fault), "no {fault} injected");
    }
    assert!(answers.contains_key("sender gave up"), "{answers:?}");
    assert!(
        record.outcomes.contains_key("still_processing") || answers.contains_key("409"),
        "no delivery met the answer deadline: {answers:?}"
    );
    if stores.restarts {
        assert_eq!(kills.len(), RESTARTS);
        assert!(
            kills.iter().all(|k| k.runs_in_flight > 0),
            "an instance was killed with no handler in flight: {kills:?}"
        );
    } else {
        assert!(reruns.is_empty());
    }

    // No two runs of one handler for one event overlapped in time.
    let mut overlaps = Vec::new();
    for ((handler, event), pair_runs) in &runs {
        for pair in pair_runs.windows(2) {
            let end = end_of(pair[0]).unwrap_or_else(|| {
                panic!("a run of {handler} for {event} never ended: {:?}", pair[0])
            });
            if end > pair[1].started {
                overlaps.push((handler, event.as_str(), pair[0].instance, pair[1].instance));
            }
        }
        if let Some(last) = pair_runs.last() {
            assert!(end_of(last).is_some(), "{last:?} never ended");
        }
    }
    assert!(
        overlaps.is_empty(),
        "{} runs overlapped the run before them ((handler, event, instance, \
         instance), first 20): {:?}",
        overlaps.len(),
        &overlaps[..overlaps.len().min(20)]
    );

    // Every matching (handler, event) ran to success exactly once, but
    // for the reruns above; no other pair ever ran.
    assert!(
        unexplained.is_empty(),
        "handlers run to success again after a success that was recorded or \
         whose instance lived ((handler, event, instance), first 20): {:?}",
        &unexplained[..unexplained.len().min(20)]
    );
    let mut wrong = Vec::new();
    for event in world.events() {
        for name in HANDLERS {
            let pair_runs = runs.get(&(name, &event.id)).map_or(&[][..], Vec::as_slice);
            let successes = pair_runs.iter().filter(|r| r.succeeded).count();
            let matches = takes(name, event, &record);
            if matches != (successes > 0) || (!matches && !pair_runs.is_empty()) {
                wrong.push((name, event.id.as_str(), matches, pair_runs.len(), successes));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} (handler, event) pairs not run to success exactly once \
         ((handler, event, matches, runs, successes), first 20): {:?}",
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
    let (_, transactions) = (stores.make)().await;
    for (transaction, events) in &world.lifecycles {
        let last = events.last().unwrap();
        let latest = transactions
            .latest(transaction)
            .await
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
    drop((served, last));
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
    let store = MemoryStore::new(
        size.claim_capacity,
        Duration::from_secs(24 * 3600),
        size.transactions,
    );
    let shared = store.clone();
    let stores = Stores {
        make: Arc::new(move || {
            let pair: StorePair = (Arc::new(shared.clone()), Arc::new(shared.clone()));
            Box::pin(async move { pair })
        }),
        kind: "memory",
        restarts: false,
    };
    let world = soak(size, &stores).await;

    // Within bounds: the claim store is full (processed events were
    // evicted to make room) and no fuller; every transaction is
    // remembered, in a store exactly that large.
    assert_eq!(store.remembered_events(), size.claim_capacity);
    assert!(world.place.len() > size.claim_capacity);
    assert_eq!(store.remembered_transactions(), size.transactions);
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
    // One connection per instance, as separate processes would have.
    let make: MakeStores = {
        let (url, prefix) = (url.clone(), prefix.clone());
        Arc::new(move || {
            let (url, prefix) = (url.clone(), prefix.clone());
            Box::pin(async move {
                let store = RedisStoreBuilder::new(url.as_str())
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
                let pair: StorePair = (Arc::new(store.clone()), Arc::new(store));
                pair
            })
        })
    };
    let stores = Stores {
        make,
        kind: "redis",
        restarts: true,
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
