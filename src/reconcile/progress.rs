//! What a reconciler reports as it walks: [`Progress`], the
//! [`ReconcileObserver`] that receives it, and the [`RunSummary`] of a run.

use std::time::Duration;

use crate::model::{Event, EventId, ModelWarning};
use crate::receiver::DeliveryReport;
use crate::store::Cursor;

/// One step of a reconciler's walk.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A page of the event list was read.
    Page {
        /// How many events it held.
        events: usize,
        /// Whether newer events follow.
        has_more: bool,
        /// The requests the API allows in its current window, as it
        /// reported with the page (`x-ratelimit`), if it did.
        rate_limit: Option<u64>,
        /// The requests left in that window (`x-ratelimit-remaining`), if
        /// reported: the walk slows down when less than a tenth is left.
        rate_limit_remaining: Option<u64>,
        /// The items of the page that are no events (no readable `id` or
        /// `name`), each with its place in the page (`events[2]`) and its
        /// raw JSON: the walk passes them, since no handler could take
        /// them (an error in tracing); those with a readable ID join the
        /// stuck set, which later runs fetch by ID again.
        skipped: &'a [ModelWarning],
    },
    /// An event went through the receiver's pipeline and is done:
    /// processed now (`report.outcome` is `Processed`) or already
    /// (`Duplicate`).
    Done {
        /// The event.
        event: &'a Event,
        /// The pipeline's report of the last attempt.
        report: &'a DeliveryReport,
        /// How many attempts it took.
        attempts: u32,
    },
    /// An attempt did not finish the event (a handler failed retryably,
    /// a store failed, or a delivery is processing it right now): the
    /// reconciler tries again after `delay`.
    Retrying {
        /// The event.
        event: &'a Event,
        /// The attempt's report.
        report: &'a DeliveryReport,
        /// The attempts so far.
        attempts: u32,
        /// The wait before the next one.
        delay: Duration,
    },
    /// The event is still not done after the configured attempts: it is
    /// reported, kept in the cursor store's stuck set
    /// ([`CursorStore::stuck`](crate::store::CursorStore::stuck)), and the
    /// walk goes on past it. Every later run tries it once more first,
    /// until it is done; reported again (with `attempts` 1) each time it
    /// is not.
    Stuck {
        /// The event.
        event: &'a Event,
        /// The last attempt's report.
        report: &'a DeliveryReport,
        /// The attempts made.
        attempts: u32,
    },
    /// The cursor moved.
    Cursor {
        /// The new cursor.
        cursor: &'a Cursor,
        /// How long ago the cursor's event was fired, when known: the lag
        /// behind the newest event while a walk catches up.
        lag: Option<Duration>,
    },
    /// The run ended.
    Finished(&'a RunSummary),
}

/// Receives the [`Progress`] of a reconciler: for logs, metrics and alerts
/// (stuck events). A closure taking `&Progress` works.
///
/// Called on the reconciler's task: keep it quick.
pub trait ReconcileObserver: Send + Sync + 'static {
    /// Called at each step.
    fn on_progress(&self, progress: &Progress<'_>);
}

impl<F: Fn(&Progress<'_>) + Send + Sync + 'static> ReconcileObserver for F {
    fn on_progress(&self, progress: &Progress<'_>) {
        self(progress)
    }
}

/// What one run of a reconciler did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunSummary {
    /// Whether this instance walked: `false` when another instance held
    /// the walk's lease (nothing else was done).
    pub walked: bool,
    /// Pages of the event list read.
    pub pages: u64,
    /// Events seen in the list.
    pub events_seen: u64,
    /// Events whose handlers ran now (the webhook had not done it).
    pub processed: u64,
    /// Events already processed from a webhook delivery (no handler ran).
    pub already_done: u64,
    /// Events processed with a handler failing permanently (counted in
    /// `processed` too).
    pub permanent_failures: u64,
    /// Events stuck at the end of the run: reported stuck and passed by
    /// this run (items of the list with a readable ID that were no events
    /// included), or stuck since an earlier one and still not done.
    pub stuck: Vec<EventId>,
    /// Events stuck on earlier runs that this run tried again (those now
    /// done are counted in `processed` or `already_done`).
    pub stuck_retried: u64,
    /// API requests made, retries included.
    pub requests: u64,
    /// The cursor at the end of the run.
    pub cursor: Option<Cursor>,
    /// Whether the run stopped before the newest event (shutdown).
    pub interrupted: bool,
}

/// Records a step of a walk in the crate's metrics.
#[cfg(feature = "metrics")]
pub(crate) fn measure(progress: &Progress<'_>) {
    use crate::metrics;
    use crate::receiver::Outcome;
    match progress {
        Progress::Page { .. } => metrics::reconcile_page(),
        Progress::Done { report, .. } if report.outcome == Outcome::Duplicate => {
            metrics::reconcile_event("already_done");
        }
        Progress::Done { .. } => metrics::reconcile_event("processed"),
        Progress::Retrying { .. } => metrics::reconcile_event("retrying"),
        Progress::Stuck { .. } => metrics::reconcile_event("stuck"),
        Progress::Cursor { lag, .. } => {
            if let Some(lag) = lag {
                metrics::reconcile_lag(*lag);
            }
        }
        Progress::Finished(summary) => {
            metrics::reconcile_run(summary.walked, summary.stuck.len());
        }
    }
}

/// Emits `progress` as a tracing event.
#[cfg(feature = "tracing")]
pub(crate) fn trace(progress: &Progress<'_>) {
    match progress {
        Progress::Page {
            events,
            has_more,
            skipped,
            ..
        } => {
            tracing::debug!(events, has_more, "reconciler: page read");
            for warning in *skipped {
                tracing::error!(%warning, "reconciler: an item of the event list is no event, passed");
            }
        }
        Progress::Done {
            event,
            report,
            attempts,
        } => {
            tracing::debug!(event_id = %event.id, outcome = report.outcome.as_str(), attempts, "reconciler: event done")
        }
        Progress::Retrying {
            event,
            report,
            attempts,
            delay,
        } => {
            tracing::info!(event_id = %event.id, outcome = report.outcome.as_str(), attempts, delay_ms = delay.as_millis() as u64, "reconciler: event not done, retrying")
        }
        Progress::Stuck {
            event,
            report,
            attempts,
        } => {
            tracing::error!(event_id = %event.id, outcome = report.outcome.as_str(), attempts, "reconciler: event stuck, passed")
        }
        Progress::Cursor { cursor, lag } => {
            tracing::trace!(cursor = %cursor, lag_ms = lag.map(|l| l.as_millis() as u64), "reconciler: cursor moved")
        }
        Progress::Finished(summary) => tracing::info!(
            walked = summary.walked,
            pages = summary.pages,
            events_seen = summary.events_seen,
            processed = summary.processed,
            already_done = summary.already_done,
            stuck = summary.stuck.len(),
            requests = summary.requests,
            "reconciler: run finished"
        ),
    }
}
