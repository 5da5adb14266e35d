//! [`Workers`]: the tasks that take events from the inbox and process
//! them with the receiver's pipeline.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::cause::{CutShort, Failed};
use super::{Failure, Inbox, InboxItem, RetryPolicy};
use crate::error::{Error, ErrorKind};
use crate::receiver::{DeliveryReport, Either, Outcome, Receiver, first};
use crate::store::ClaimToken;

/// What a worker did with an event after processing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Done (processed, already processed, or failed permanently): removed
    /// from the inbox.
    Acknowledged,
    /// Put back, to be taken again after `delay`, with `attempts` failed
    /// attempts counted (an event another delivery held is not counted as
    /// failed).
    Retry {
        /// When it is taken again.
        delay: Duration,
        /// The failed attempts counted so far.
        attempts: u32,
    },
    /// Set aside in the dead-letter list after `attempts` failed attempts
    /// (or its maximum age); an event taken over as often as the policy
    /// allows attempts is set aside without being run again.
    DeadLettered {
        /// The failed attempts.
        attempts: u32,
    },
    /// Left in the inbox as it is: its processing was interrupted (the
    /// runtime is shutting down); another worker takes it once its lease
    /// lapses.
    Left,
}

/// One worker's processing of one event, for a [`WorkerObserver`].
#[derive(Debug)]
#[non_exhaustive]
pub struct InboxRun {
    /// The event as taken from the inbox.
    pub item: InboxItem,
    /// The report of its processing ([`Receiver::process`]).
    pub report: DeliveryReport,
    /// What was done with it.
    pub decision: Decision,
    /// Whether the inbox still had the event in this worker's hands when
    /// the decision was applied (`false`: its lease lapsed and another
    /// worker took it over, which decides instead).
    pub held: bool,
    /// Why the decision could not be applied (the inbox failed): the
    /// event stays taken until its lease lapses, then is taken again.
    pub inbox_error: Option<Error>,
}

/// Receives every processing of the [`Workers`] and every failure of the
/// inbox: for logs, metrics and alerts (dead letters). A closure taking
/// `&InboxRun` works.
pub trait WorkerObserver: Send + Sync + 'static {
    /// Called after each event a worker processed, once the decision is
    /// applied.
    fn on_run(&self, run: &InboxRun);

    /// Called when the inbox could not be read (workers wait, then try
    /// again). Does nothing by default.
    fn on_inbox_error(&self, error: &Error) {
        let _ = error;
    }
}

impl<F: Fn(&InboxRun) + Send + Sync + 'static> WorkerObserver for F {
    fn on_run(&self, run: &InboxRun) {
        self(run)
    }
}

/// Configures [`Workers`]; made by [`Workers::builder`].
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct WorkersBuilder {
    receiver: Receiver,
    count: usize,
    poll_interval: Duration,
    retry: RetryPolicy,
    observer: Option<Arc<dyn WorkerObserver>>,
    name: String,
}

impl std::fmt::Debug for WorkersBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkersBuilder")
            .field("count", &self.count)
            .field("poll_interval", &self.poll_interval)
            .field("retry", &self.retry)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl WorkersBuilder {
    /// How many events are processed at once by this process (default 4).
    pub fn count(mut self, workers: usize) -> Self {
        self.count = workers;
        self
    }

    /// How long an idle worker waits before it looks at the inbox again
    /// (default 100 ms): the most an event waits in an idle inbox.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// When failed events are tried again, and given up (default
    /// [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sends every processing and inbox failure to `observer`.
    pub fn observer(mut self, observer: impl WorkerObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The start of the workers' names in the inbox (default `worker`);
    /// each worker's name adds a token unique to this process.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Starts the workers on the tokio runtime the call is made from.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the receiver has no inbox, the
    /// count or the poll interval is zero, or no tokio runtime is running.
    pub fn spawn(self) -> Result<Workers, Error> {
        let config = |message: &'static str| Error::new(ErrorKind::InvalidConfig, message);
        let inbox = self
            .receiver
            .inbox()
            .cloned()
            .ok_or_else(|| config("the receiver has no inbox: build it with .inbox(…)"))?;
        if self.count == 0 || self.poll_interval.is_zero() {
            return Err(config("the worker count or poll interval is zero"));
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| config("workers need a tokio runtime").with_source(e))?;
        let (stop, stopping) = watch::channel(false);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            receiver: self.receiver,
            inbox,
            poll_interval: self.poll_interval,
            retry: self.retry,
            observer: self.observer,
            in_flight: in_flight.clone(),
        });
        let token = ClaimToken::unique();
        let mut tasks = JoinSet::new();
        for i in 0..self.count {
            let consumer = format!("{}-{}-{i}", self.name, token.as_str());
            tasks.spawn_on(work(shared.clone(), consumer, stopping.clone()), &runtime);
        }
        Ok(Workers {
            stop,
            tasks,
            in_flight,
            inbox: shared.inbox.clone(),
        })
    }
}

/// Workers processing the inbox of a receiver in inbox mode, on tokio.
///
/// Each of `count` workers takes one event at a time and hands it to
/// [`Receiver::process`]: the same claim, fetch, tracker, handlers, owed
/// handlers, supervision and lease renewal as a synchronous delivery, so
/// a handler that succeeded is never run again for the event, whichever
/// worker or instance takes it next. While it processes, the worker
/// renews its lease on the item every third of the inbox's
/// [lease](Inbox::lease); if it dies (its task aborted, its process
/// killed), another worker takes the event over once the lease lapsed.
///
/// Then: a 2xx report (processed, already processed, failed
/// permanently) is acknowledged; an event another delivery holds right
/// now is retried after the receiver's `Retry-After`; any other failure
/// (API, store, a handler asking for a retry) is retried on the
/// [`RetryPolicy`], then dead-lettered with the report's error.
///
/// [`shutdown`](Self::shutdown) stops taking, lets the events in hand
/// finish within a deadline, and leaves the rest to other workers.
/// Dropping `Workers` stops them at once, as a deadline of zero would.
///
/// ```no_run
/// use std::time::Duration;
/// use smart_router_webhooks::Receiver;
/// use smart_router_webhooks::inbox::{MemoryInbox, Workers};
///
/// # async fn run(builder: smart_router_webhooks::ReceiverBuilder) -> Result<(), smart_router_webhooks::Error> {
/// let receiver = builder.inbox(MemoryInbox::default()).build()?;
/// let workers = Workers::builder(receiver.clone()).count(8).spawn()?;
/// // … serve the receiver …
/// workers.shutdown(Duration::from_secs(30)).await;
/// # Ok(()) }
/// ```
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    in_flight: Arc<AtomicUsize>,
    inbox: Arc<dyn Inbox>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("workers", &self.tasks.len())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// How [`Workers::shutdown`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkersStopped {
    /// Whether every event in hand finished within the deadline.
    pub finished: bool,
    /// The events still in hand at the deadline: their processing goes on
    /// while the process lives (it is never cut short), and their items
    /// are left for another worker to take once their lease lapses.
    pub abandoned: usize,
}

impl Workers {
    /// A builder for workers processing `receiver`'s inbox.
    pub fn builder(receiver: Receiver) -> WorkersBuilder {
        WorkersBuilder {
            receiver,
            count: 4,
            poll_interval: Duration::from_millis(100),
            retry: RetryPolicy::default(),
            observer: None,
            name: "worker".to_owned(),
        }
    }

    /// The events being processed right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The inbox the workers take from.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        &self.inbox
    }

    /// Stops taking events, waits at most `deadline` for those in hand,
    /// then stops the workers; what was not finished is left in the inbox
    /// for other workers.
    pub async fn shutdown(mut self, deadline: Duration) -> WorkersStopped {
        let _ = self.stop.send(true);
        let tasks = &mut self.tasks;
        let all = async { while tasks.join_next().await.is_some() {} };
        let finished = tokio::time::timeout(deadline, all).await.is_ok();
        let abandoned = self.in_flight();
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        WorkersStopped {
            finished,
            abandoned,
        }
    }
}

/// What every worker of one [`Workers`] shares.
struct Shared {
    receiver: Receiver,
    inbox: Arc<dyn Inbox>,
    poll_interval: Duration,
    retry: RetryPolicy,
    observer: Option<Arc<dyn WorkerObserver>>,
    in_flight: Arc<AtomicUsize>,
}

/// Counts an event in hand until dropped (an aborted worker included).
struct InHand(Arc<AtomicUsize>);

impl InHand {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InHand(count.clone())
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits `duration`, or less if the workers are told to stop; answers
/// whether they are.
async fn pause(stopping: &mut watch::Receiver<bool>, duration: Duration) -> bool {
    // Told to stop, or every sender gone (the workers are dropped).
    let stopped = async {
        let _ = stopping.wait_for(|stop| *stop).await;
        true
    };
    match first(stopped, tokio::time::sleep(duration)).await {
        Either::Left(stopped) => stopped,
        Either::Right(()) => false,
    }
}

/// One worker: takes an event, processes it, settles it, until stopped.
async fn work(shared: Arc<Shared>, consumer: String, mut stopping: watch::Receiver<bool>) {
    let mut failures = 0u32;
    while !*stopping.borrow() {
        let item = match shared.inbox.take(&consumer, 1).await {
            Ok(mut items) if !items.is_empty() => items.swap_remove(0),
            Ok(_) => {
                failures = 0;
                if pause(&mut stopping, shared.poll_interval).await {
                    break;
                }
                continue;
            }
            Err(error) => {
                shared.inbox_failed(&error);
                failures = failures.saturating_add(1);
                let wait = shared
                    .poll_interval
                    .saturating_mul(1 << failures.min(6))
                    .min(Duration::from_secs(5));
                if pause(&mut stopping, wait).await {
                    break;
                }
                continue;
            }
        };
        failures = 0;
        let _in_hand = InHand::new(&shared.in_flight);
        shared.run(item).await;
    }
    if let Err(error) = shared.inbox.retire(&consumer).await {
        shared.inbox_failed(&error);
    }
}

impl Shared {
    fn inbox_failed(&self, error: &Error) {
        #[cfg(feature = "tracing")]
        tracing::warn!(error = %error, "the inbox could not be read");
        if let Some(observer) = &self.observer {
            observer.on_inbox_error(error);
        }
    }

    /// Processes `item`, renewing its lease meanwhile, and settles it.
    ///
    /// An event handed out with as many failed attempts as the policy
    /// allows (only takeovers bring it there: each retry that would reach
    /// it dead-letters the event instead) is dead-lettered without being
    /// run: its processing was cut short each time, as by a handler that
    /// takes its process down.
    async fn run(&self, item: InboxItem) {
        let cut_short = item.attempts > 0 && self.retry.gives_up(item.attempts, Duration::ZERO);
        let (report, decision) = if cut_short {
            let mut report = DeliveryReport::new(Outcome::Interrupted);
            report.event_id = Some(item.event_id.clone());
            let attempts = item.attempts;
            (report, Decision::DeadLettered { attempts })
        } else {
            let report = self
                .renewing(&item, self.receiver.process(&item.event_id))
                .await;
            let decision = self.decide(&item, &report);
            (report, decision)
        };
        let (failed, cut) = (Failed(&report), CutShort(item.attempts));
        let why: &(dyn std::error::Error + Send + Sync) = if cut_short { &cut } else { &failed };
        let inbox = &self.inbox;
        let settled = match decision {
            Decision::Acknowledged => inbox.ack(&item).await,
            Decision::Retry { delay, attempts } => inbox.retry(&item, delay, attempts).await,
            Decision::DeadLettered { attempts } => {
                inbox.dead_letter(&item, Failure::new(attempts, why)).await
            }
            Decision::Left => Ok(true),
        };
        let (held, inbox_error) = match settled {
            Ok(held) => (held, None),
            Err(error) => (true, Some(error)),
        };
        #[cfg(feature = "metrics")]
        match decision {
            Decision::Retry { .. } if held && inbox_error.is_none() => {
                crate::metrics::inbox_retried();
            }
            Decision::DeadLettered { .. } if held && inbox_error.is_none() => {
                crate::metrics::inbox_dead_lettered();
            }
            _ => {}
        }
        #[cfg(feature = "tracing")]
        trace_run(&item, &report, decision, why, inbox_error.as_ref());
        if let Some(observer) = &self.observer {
            observer.on_run(&InboxRun {
                item,
                report,
                decision,
                held,
                inbox_error,
            });
        }
    }

    /// Runs `work`, renewing `item`'s lease every third of it.
    async fn renewing<F: Future>(&self, item: &InboxItem, work: F) -> F::Output {
        let interval = (self.inbox.lease() / 3).max(Duration::from_millis(1));
        let mut work = std::pin::pin!(work);
        loop {
            match first(work.as_mut(), tokio::time::sleep(interval)).await {
                Either::Left(out) => return out,
                Either::Right(()) => {
                    // A failed renewal is tried again at the next tick; a
                    // lost item is settled by whoever holds it now.
                    if let Err(error) = self.inbox.renew(item).await {
                        self.inbox_failed(&error);
                    }
                }
            }
        }
    }

    fn decide(&self, item: &InboxItem, report: &DeliveryReport) -> Decision {
        if report.status.is_success() {
            return Decision::Acknowledged;
        }
        let age = item.age();
        match report.outcome {
            Outcome::Interrupted => Decision::Left,
            // Another delivery holds the event: not a failure of it.
            Outcome::InProgress | Outcome::StillProcessing
                if !self.retry.gives_up(item.attempts, age) =>
            {
                Decision::Retry {
                    delay: report.retry_after.unwrap_or(self.poll_interval),
                    attempts: item.attempts,
                }
            }
            Outcome::InProgress | Outcome::StillProcessing => Decision::DeadLettered {
                attempts: item.attempts,
            },
            _ => {
                let attempts = item.attempts.saturating_add(1);
                if self.retry.gives_up(attempts, age) {
                    return Decision::DeadLettered { attempts };
                }
                let seed = jitter_seed(item, attempts);
                let mut delay = self.retry.delay(attempts, seed);
                if let Some(asked) = report.fetch_error.as_ref().and_then(|e| e.retry_after()) {
                    delay = delay.max(asked);
                }
                Decision::Retry { delay, attempts }
            }
        }
    }
}

/// A seed for a retry's jitter: the event, the attempt and the clock.
fn jitter_seed(item: &InboxItem, attempts: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    item.event_id
        .as_str()
        .bytes()
        .fold(u64::from(nanos) ^ u64::from(attempts) << 32, |h, b| {
            h.rotate_left(5) ^ u64::from(b)
        })
}

#[cfg(feature = "tracing")]
fn trace_run(
    item: &InboxItem,
    report: &DeliveryReport,
    decision: Decision,
    why: &(dyn std::error::Error + Send + Sync),
    inbox_error: Option<&Error>,
) {
    let event_id = item.event_id.as_str();
    let outcome = report.outcome.as_str();
    match decision {
        Decision::DeadLettered { attempts } => {
            let error = super::RecordedError::new(why);
            tracing::error!(event_id, outcome, attempts, error = %format_args!("{error:#}"), "inbox event dead-lettered");
        }
        Decision::Retry { delay, attempts } => {
            tracing::warn!(
                event_id,
                outcome,
                attempts,
                delay_ms = delay.as_millis() as u64,
                "inbox event to be retried"
            );
        }
        _ => tracing::info!(event_id, outcome, "inbox event processed"),
    }
    if let Some(error) = inbox_error {
        tracing::warn!(event_id, error = %error, "the inbox could not settle an event");
    }
}
