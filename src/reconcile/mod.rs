//! Catching up on what the webhooks missed: the [`Reconciler`] walks the
//! API's event list and gives each event to the receiver's pipeline.
//!
//! Requires the `reconciler` feature.
//!
//! Smart Router retries a failed delivery for about three days, then gives
//! up. The reconciler walks `GET /events` forward from a saved
//! [`Cursor`] and hands each event to
//! [`Receiver::process_event`]: the same claims, tracker and handlers, so an
//! event a webhook already processed is a duplicate (no handler runs
//! again), and one being processed right now is left to its delivery and
//! looked at again later.

mod audit;
mod builder;
mod pace;
mod progress;
mod walk;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use audit::{MissedEvent, audit_deliveries};
pub use builder::ReconcilerBuilder;
pub use progress::{Progress, ReconcileObserver, RunSummary};
pub use walk::StartFrom;
// The reconciler's cursor and where it is kept: here only (the stores are
// the crate root's `MemoryStore` and `RedisStore`).
pub use crate::store::{Cursor, CursorStore, WalkLease};

use crate::api::{ApiClient, FetchError};
use crate::error::Error;
use crate::model::{Event, EventId};
use crate::receiver::{DeliveryReport, Outcome, Receiver};
use crate::store::ClaimToken;
use walk::EventWalk;

/// Why a reconciler's run stopped before the newest event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// The API could not list or fetch events after the attempts of
    /// [`ReconcilerBuilder::request_attempts`], or refused the request
    /// (credentials, an unknown cursor event).
    #[error("the reconciler could not read the event list")]
    Api(#[source] FetchError),
    /// The cursor store failed.
    #[error("the reconciler's cursor store failed")]
    Store(#[source] Error),
    /// Another instance took the walk's lease: this one stopped.
    #[error("another instance took the reconciler's lease")]
    LeaseLost,
}

/// Walks the API's event list and gives each event to a [`Receiver`], so
/// every event is processed once even when its deliveries were missed for
/// good.
///
/// The cursor moves past an event only once it is done (processed,
/// already processed, or processed with a permanent handler failure), or
/// reported stuck after the configured attempts and kept in the cursor
/// store's stuck set, which every later run tries again first; a crash
/// mid-walk never skips one. Each event's processing runs on its own task,
/// so stopping the reconciler never cuts a handler short (a stop during
/// the wait before a retry ends the wait, leaving the cursor before that
/// event).
///
/// ```no_run
/// use std::time::Duration;
/// use smart_router_webhooks::{ApiClient, Receiver};
/// use smart_router_webhooks::reconcile::{Reconciler, StartFrom};
///
/// # async fn run(receiver: Receiver, client: ApiClient) -> Result<(), smart_router_webhooks::Error> {
/// let reconciler = Reconciler::builder(receiver, client)
///     .start_from(StartFrom::Now)
///     .requests_per_second(2.0)
///     .build()?;
/// let task = reconciler.spawn(Duration::from_secs(60));
/// // … serve webhooks …
/// task.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Reconciler {
    inner: Arc<ReconcilerBuilder>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("name", &self.inner.name)
            .field("start", &self.inner.start)
            .field("until", &self.inner.until)
            .field("pace", &self.inner.pace)
            .field("attempts", &self.inner.attempts)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A builder for a reconciler giving the events `client` lists to
    /// `receiver`.
    pub fn builder(receiver: Receiver, client: ApiClient) -> ReconcilerBuilder {
        ReconcilerBuilder::new(receiver, client)
    }

    /// Walks once, up to the newest event (a backfill, or one tick of
    /// [`spawn`](Reconciler::spawn)). When another instance holds the
    /// walk's lease, returns at once with `walked: false`.
    ///
    /// # Errors
    ///
    /// A [`ReconcileError`] when the API or the cursor store fails past
    /// the retries, or the lease was lost; the cursor stays on the last
    /// event done.
    pub async fn run_once(&self) -> Result<RunSummary, ReconcileError> {
        let (_keep, mut stop) = watch::channel(false);
        self.run(&mut stop).await
    }

    /// Runs [`run_once`](Reconciler::run_once) now and then every `every`
    /// on a tokio task, until [`ReconcilerTask::shutdown`]. A failed run is
    /// reported (tracing) and the next tick tries again.
    pub fn spawn(self, every: Duration) -> ReconcilerTask {
        let (stop_tx, mut stop) = watch::channel(false);
        let handle = tokio::spawn(async move {
            loop {
                let result = self.run(&mut stop).await;
                #[cfg(feature = "tracing")]
                if let Err(error) = &result {
                    tracing::warn!(error = %error, "reconciler: run failed; next tick tries again");
                }
                drop(result);
                if *stop.borrow() {
                    return;
                }
                if let Ok(Err(_) | Ok(())) = tokio::time::timeout(every, stop.changed()).await {
                    return;
                }
            }
        });
        ReconcilerTask {
            stop: stop_tx,
            handle,
        }
    }

    async fn run(&self, stop: &mut watch::Receiver<bool>) -> Result<RunSummary, ReconcileError> {
        let inner = &*self.inner;
        let holder = ClaimToken::unique();
        let mut run = Run {
            reconciler: inner,
            holder: &holder,
            walk: EventWalk::new(inner.client.clone(), inner.pace),
            summary: RunSummary::default(),
        };
        if !run.renew().await? {
            run.finish();
            return Ok(run.summary);
        }
        run.summary.walked = true;
        let result = match run.retry_stuck(stop).await {
            Ok(()) => run.walk(stop).await,
            Err(error) => Err(error),
        };
        let released = inner
            .cursors
            .release(WalkLease::new(&inner.name, &holder))
            .await;
        run.summary.requests = run.walk.requests();
        result?;
        released.map_err(ReconcileError::Store)?;
        run.finish();
        Ok(run.summary)
    }
}

/// A reconciler running on its own task; made by [`Reconciler::spawn`].
#[derive(Debug)]
pub struct ReconcilerTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl ReconcilerTask {
    /// Stops the reconciler gracefully: the attempt in hand is finished
    /// (and the cursor saved when the event is done), then the task ends;
    /// a wait before a retry is cut short.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }

    /// Stops the reconciler at once, as a crash would (the event in hand
    /// still finishes on its own task; its cursor may not be saved, and
    /// the next run looks at it again and finds it done).
    pub fn abort(&self) {
        self.handle.abort();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// The state of one run.
struct Run<'a> {
    reconciler: &'a ReconcilerBuilder,
    holder: &'a ClaimToken,
    walk: EventWalk,
    summary: RunSummary,
}

impl Run<'_> {
    fn report(&self, progress: &Progress<'_>) {
        #[cfg(feature = "tracing")]
        progress::trace(progress);
        #[cfg(feature = "metrics")]
        progress::measure(progress);
        if let Some(observer) = &self.reconciler.observer {
            observer.on_progress(progress);
        }
    }

    fn finish(&self) {
        self.report(&Progress::Finished(&self.summary));
    }

    /// This run's lease on its walk.
    fn lease(&self) -> WalkLease<'_> {
        WalkLease::new(&self.reconciler.name, self.holder)
    }

    async fn renew(&self) -> Result<bool, ReconcileError> {
        let r = self.reconciler;
        r.cursors
            .lease(self.lease(), r.lease)
            .await
            .map_err(ReconcileError::Store)
    }

    async fn save(
        &mut self,
        cursor: Cursor,
        fired: Option<SystemTime>,
    ) -> Result<(), ReconcileError> {
        let r = self.reconciler;
        let saved = r
            .cursors
            .save(self.lease(), &cursor)
            .await
            .map_err(ReconcileError::Store)?;
        if !saved {
            return Err(ReconcileError::LeaseLost);
        }
        let lag = fired.and_then(|at| SystemTime::now().duration_since(at).ok());
        self.report(&Progress::Cursor {
            cursor: &cursor,
            lag,
        });
        self.summary.cursor = Some(cursor);
        Ok(())
    }

    async fn walk(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), ReconcileError> {
        let r = self.reconciler;
        let saved = r
            .cursors
            .load(&r.name)
            .await
            .map_err(ReconcileError::Store)?;
        let mut cursor = match saved {
            Some(cursor) => cursor,
            None => {
                let start = self
                    .walk
                    .start(&r.start)
                    .await
                    .map_err(ReconcileError::Api)?;
                if let Some(cursor) = start.cursor {
                    self.save(cursor, None).await?;
                }
                match start.first {
                    Some(event) => match self.event(event, stop).await? {
                        Some(cursor) => cursor,
                        None => return Ok(()),
                    },
                    None => self.summary.cursor.clone().unwrap_or(Cursor::Beginning),
                }
            }
        };
        self.summary.cursor = Some(cursor.clone());
        loop {
            if self.is_last(&cursor) {
                return Ok(());
            }
            if *stop.borrow() {
                self.summary.interrupted = true;
                return Ok(());
            }
            if !self.renew().await? {
                return Err(ReconcileError::LeaseLost);
            }
            let page = self
                .walk
                .page_after(&cursor)
                .await
                .map_err(ReconcileError::Api)?;
            self.summary.pages += 1;
            self.report(&Progress::Page {
                events: page.events.len(),
                has_more: page.has_more,
                rate_limit: page.rate_limit.and_then(|limit| limit.limit),
                rate_limit_remaining: page.rate_limit.and_then(|limit| limit.remaining),
                skipped: &page.skipped,
            });
            // An item with a readable ID that is no event joins the stuck
            // set before the cursor passes it: every later run fetches it
            // by its ID again, so none is passed for good.
            for id in &page.skipped_ids {
                self.mark_stuck(id, true).await?;
                self.summary.stuck.push(id.clone());
            }
            let empty = page.events.is_empty() && page.newest.is_none();
            for event in page.events {
                if *stop.borrow() {
                    self.summary.interrupted = true;
                    return Ok(());
                }
                if !self.renew().await? {
                    return Err(ReconcileError::LeaseLost);
                }
                match self.event(event, stop).await? {
                    Some(next) => cursor = next,
                    None => return Ok(()),
                }
                if self.is_last(&cursor) {
                    return Ok(());
                }
            }
            // The newest items of the page are no events (`skipped`, and
            // reported): the cursor moves past them, so that a page of
            // nothing else does not stop every later run there.
            if let Some(newest) = page.newest {
                if cursor.event_id() != Some(&newest) {
                    cursor = Cursor::After(newest);
                    self.save(cursor.clone(), None).await?;
                }
            }
            if !page.has_more || empty {
                return Ok(());
            }
        }
    }

    /// Whether `cursor` is past the last event to walk
    /// ([`ReconcilerBuilder::until`]).
    fn is_last(&self, cursor: &Cursor) -> bool {
        let last = self.reconciler.until.as_ref();
        last.is_some_and(|last| cursor.event_id() == Some(last))
    }

    /// Counts and reports an event done.
    fn done(&mut self, event: &Event, report: &DeliveryReport, attempts: u32) {
        match report.outcome {
            Outcome::Duplicate => self.summary.already_done += 1,
            _ => self.summary.processed += 1,
        }
        if report.failures().next().is_some() {
            self.summary.permanent_failures += 1;
        }
        self.report(&Progress::Done {
            event,
            report,
            attempts,
        });
    }

    /// Counts and reports an event stuck.
    fn stuck(&mut self, event: &Event, report: &DeliveryReport, attempts: u32) {
        self.summary.stuck.push(event.id.clone());
        self.report(&Progress::Stuck {
            event,
            report,
            attempts,
        });
    }

    /// Changes the stuck set: `Err(LeaseLost)` when the lease ended.
    async fn mark_stuck(&self, id: &EventId, stuck: bool) -> Result<(), ReconcileError> {
        let r = self.reconciler;
        let changed = if stuck {
            r.cursors.add_stuck(self.lease(), id).await
        } else {
            r.cursors.remove_stuck(self.lease(), id).await
        };
        match changed.map_err(ReconcileError::Store)? {
            true => Ok(()),
            false => Err(ReconcileError::LeaseLost),
        }
    }

    /// Tries once more each event reported stuck on an earlier run: those
    /// now done leave the stuck set, the others stay for the next run.
    async fn retry_stuck(&mut self, stop: &watch::Receiver<bool>) -> Result<(), ReconcileError> {
        let r = self.reconciler;
        let stuck = r
            .cursors
            .stuck(&r.name)
            .await
            .map_err(ReconcileError::Store)?;
        for id in stuck {
            if *stop.borrow() {
                self.summary.interrupted = true;
                return Ok(());
            }
            if !self.renew().await? {
                return Err(ReconcileError::LeaseLost);
            }
            self.summary.stuck_retried += 1;
            let event = match self.walk.fetch_event(&id).await {
                Ok(event) => event,
                // Still stuck: the next run tries again.
                Err(_error) => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(event_id = %id, error = %_error, "reconciler: a stuck event could not be fetched; next run tries again");
                    self.summary.stuck.push(id);
                    continue;
                }
            };
            let report = process(&r.receiver, &event).await;
            if is_done(&report) {
                self.done(&event, &report, 1);
                self.mark_stuck(&id, false).await?;
            } else {
                self.stuck(&event, &report, 1);
            }
        }
        Ok(())
    }

    /// Gives `event` to the receiver until it is done or stuck (then kept
    /// in the stuck set), and moves the cursor past it; `None` when a
    /// stop came while waiting to retry it (the cursor stays before it).
    async fn event(
        &mut self,
        event: Event,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<Cursor>, ReconcileError> {
        let r = self.reconciler;
        self.summary.events_seen += 1;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let report = process(&r.receiver, &event).await;
            if is_done(&report) {
                self.done(&event, &report, attempts);
                break;
            }
            if attempts >= r.attempts {
                // In the set before the cursor passes it: never lost.
                self.mark_stuck(&event.id, true).await?;
                self.stuck(&event, &report, attempts);
                break;
            }
            let delay = pace::exponential(r.retry_delay, r.max_retry_delay, attempts);
            self.report(&Progress::Retrying {
                event: &event,
                report: &report,
                attempts,
                delay,
            });
            // A stop (or the task's handle dropped) ends the wait.
            if tokio::time::timeout(delay, stop.changed()).await.is_ok() {
                self.summary.interrupted = true;
                return Ok(None);
            }
            if !self.renew().await? {
                return Err(ReconcileError::LeaseLost);
            }
        }
        let cursor = Cursor::After(event.id.clone());
        let fired = event.fired_at.as_ref().and_then(|t| t.to_system_time());
        self.save(cursor.clone(), fired).await?;
        Ok(Some(cursor))
    }
}

/// Runs the pipeline for `event` on its own task, so that dropping the
/// reconciler never cuts a handler short.
async fn process(receiver: &Receiver, event: &Event) -> DeliveryReport {
    let receiver = receiver.clone();
    let owned = event.clone();
    match tokio::spawn(async move { receiver.process_event(owned).await }).await {
        Ok(report) => report,
        // The task panicked (a handler did): not done.
        Err(_) => {
            let mut report = DeliveryReport::new(Outcome::HandlerFailed);
            report.event_id = Some(event.id.clone());
            report
        }
    }
}

/// Whether the event needs nothing more: processed (handlers that failed
/// did so permanently), or done before.
fn is_done(report: &DeliveryReport) -> bool {
    matches!(report.outcome, Outcome::Processed | Outcome::Duplicate) && report.status.is_success()
}
