//! The processing of one claimed event, apart from the request: claim →
//! fetch → track → dispatch (supervised) → settle, with the claim's lease
//! renewed meanwhile and a guard that gives the claim up if the
//! processing is dropped halfway.
//!
//! With the Redis stores a delivery costs three round trips whatever its
//! number of handlers: the claim, the tracker's apply, and the settlement
//! (complete, or release carrying the handlers that completed and what
//! the delivery owes). Handlers that complete while a sibling still runs
//! are recorded by the next renewal of the lease, every third of it.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use super::owed::{Owed, Tally};
use super::runtime::{Either, Runtime, Task, first, run_apart};
use super::{DeliveryReport, HandlerRun, Outcome, Receiver};
use crate::api::{FetchError, FetchErrorKind};
use crate::dispatch::{EventContext, HandlerError, Route};
use crate::error::Error;
use crate::model::{Event, EventId};
use crate::store::{Claim, ClaimStore, ClaimToken, ClaimUpdate, DeliveryProgress};

/// What a delivery holding a claim works with: what earlier deliveries
/// completed and owed, whether the claim is lost, and the tally of what
/// this one completes.
#[derive(Clone, Copy)]
struct Claimed<'a> {
    completed: &'a BTreeSet<String>,
    owed: Option<&'a str>,
    lost: &'a AtomicBool,
    tally: &'a Mutex<Tally>,
}

/// A renewal of a claim under way.
type Renewal = Pin<Box<dyn Future<Output = Result<bool, Error>> + Send>>;

/// Gives a claim up, with what the delivery completed, if dropped before
/// [`disarm`](Self::disarm): the processing was cut short (a dropped
/// future, an aborted task).
struct ClaimGuard {
    armed: Option<(Arc<dyn ClaimStore>, EventId, ClaimToken)>,
    runtime: Option<Arc<dyn Runtime>>,
    tally: Mutex<Tally>,
}

impl ClaimGuard {
    fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some((claims, event, token)) = self.armed.take() {
            let tally = Tally::read(&self.tally, true);
            let release: Task = Box::pin(async move {
                let names = tally.names();
                let progress = DeliveryProgress::new(&names, tally.owed());
                let _ = claims
                    .release(ClaimUpdate::new(&event, &token, progress))
                    .await;
            });
            run_apart(self.runtime.as_ref(), release);
        }
    }
}

impl Receiver {
    /// Claims the event, processes it and settles the claim.
    pub(super) async fn claim_then(
        &self,
        event_id: &EventId,
        fetched: Option<Event>,
    ) -> DeliveryReport {
        let inner = &*self.inner;
        let claimed_at = Instant::now();
        let claim = inner.claims.claim(event_id, inner.lease).await;
        let mut report = match claim {
            Ok(Claim::Acquired {
                token,
                completed,
                owed,
            }) => {
                let guard = ClaimGuard {
                    armed: Some((inner.claims.clone(), event_id.clone(), token.clone())),
                    runtime: inner.runtime.clone(),
                    tally: Mutex::default(),
                };
                let lost = AtomicBool::new(false);
                let claimed = Claimed {
                    completed: &completed,
                    owed: owed.as_deref(),
                    lost: &lost,
                    tally: &guard.tally,
                };
                let run = self.run(event_id, fetched, &claimed);
                let mut report = self
                    .renewing(event_id, &token, claimed_at, &claimed, run)
                    .await;
                report.claim_lost = lost.load(Ordering::SeqCst);
                self.settle(event_id, &token, &guard.tally, &mut report)
                    .await;
                guard.disarm();
                report
            }
            Ok(Claim::AlreadyDone) => DeliveryReport::new(Outcome::Duplicate),
            Ok(Claim::InProgress) => {
                let mut report = DeliveryReport::new(Outcome::InProgress);
                report.retry_after = Some(inner.retry_after);
                report
            }
            Err(error) => {
                let mut report = DeliveryReport::new(Outcome::Processed);
                self.store_failed(&mut report, error);
                report
            }
        };
        report.event_id = Some(event_id.clone());
        report
    }

    /// Runs `work`, renewing the claim every third of the lease meanwhile
    /// (with a runtime to wait on), each renewal carrying what the tally
    /// holds then. `lost` is set when a renewal finds the
    /// claim taken, and also when no renewal has been confirmed for two
    /// thirds of the lease (the store is slow or unreachable, or the
    /// process was starved): the claim may lapse soon, so the handler
    /// running is stopped (see [`supervised`](Self::supervised)) before
    /// another delivery can take the event over, and two runs of one
    /// handler never overlap in time.
    async fn renewing<F: Future>(
        &self,
        event_id: &EventId,
        token: &ClaimToken,
        claimed_at: Instant,
        claimed: &Claimed<'_>,
        work: F,
    ) -> F::Output {
        let lost = claimed.lost;
        let inner = &*self.inner;
        let Some(runtime) = &inner.runtime else {
            return work.await;
        };
        let interval = inner.lease / 3;
        // The claim is ours until at least `confirmed_at + lease` (the
        // store starts the lease no earlier than the call that asked for
        // it); past `confirmed_at + safe`, handlers are stopped.
        let safe = inner.lease.saturating_sub(interval);
        let mut confirmed_at = claimed_at;
        let mut watchdog = runtime.sleep(safe.saturating_sub(claimed_at.elapsed()));
        let mut work = std::pin::pin!(work);
        let mut timer = runtime.sleep(interval);
        let mut renewal: Option<(Instant, Renewal)> = None;
        std::future::poll_fn(|cx| {
            while !lost.load(Ordering::SeqCst) {
                if let Some((asked_at, pending)) = renewal.as_mut() {
                    if let Poll::Ready(result) = pending.as_mut().poll(cx) {
                        match result {
                            Ok(true) => {
                                confirmed_at = *asked_at;
                                watchdog =
                                    runtime.sleep(safe.saturating_sub(confirmed_at.elapsed()));
                            }
                            Ok(false) => lost.store(true, Ordering::SeqCst),
                            // A store error is retried at the next tick:
                            // the watchdog stops the handlers if none
                            // succeeds in time.
                            Err(_) => {}
                        }
                        renewal = None;
                        timer = runtime.sleep(interval);
                        continue;
                    }
                }
                if confirmed_at.elapsed() >= safe || watchdog.as_mut().poll(cx).is_ready() {
                    lost.store(true, Ordering::SeqCst);
                    break;
                }
                if renewal.is_none() && timer.as_mut().poll(cx).is_ready() {
                    let (claims, event, token, lease) = (
                        inner.claims.clone(),
                        event_id.clone(),
                        token.clone(),
                        inner.lease,
                    );
                    let tally = Tally::read(claimed.tally, false);
                    let renew: Renewal = Box::pin(async move {
                        let names = tally.names();
                        let progress = DeliveryProgress::new(&names, tally.owed());
                        claims
                            .renew(ClaimUpdate::new(&event, &token, progress), lease)
                            .await
                    });
                    renewal = Some((Instant::now(), renew));
                    continue;
                }
                break;
            }
            // The lease is checked before the work is polled, so a handler
            // is never polled once the claim may have lapsed.
            work.as_mut().poll(cx)
        })
        .await
    }

    /// Completes the claim when the event needs no retry, releases it
    /// otherwise, recording the tally: one round trip. A claim found taken
    /// over is answered 409: the event is another delivery's now, and not
    /// known to be done.
    async fn settle(
        &self,
        event_id: &EventId,
        token: &ClaimToken,
        tally: &Mutex<Tally>,
        report: &mut DeliveryReport,
    ) {
        let claims = &self.inner.claims;
        let tally = Tally::read(tally, true);
        let release = async || {
            let names = tally.names();
            let progress = DeliveryProgress::new(&names, tally.owed());
            claims
                .release(ClaimUpdate::new(event_id, token, progress))
                .await
        };
        let held = if report.will_be_retried() {
            match release().await {
                Ok(held) => held,
                Err(error) => {
                    // The lease expires anyway: keep the first failure's answer.
                    report.store_error.get_or_insert(error);
                    true
                }
            }
        } else {
            match claims.complete(event_id, token).await {
                Ok(held) => held,
                Err(error) => {
                    // The retry must know what completed: try to record it
                    // (the completion may also have been made, its answer
                    // lost: the release then changes nothing).
                    self.store_failed(report, error);
                    let _ = release().await;
                    true
                }
            }
        };
        if !held {
            report.claim_lost = true;
            if !report.will_be_retried() {
                report.outcome = Outcome::InProgress;
                report.status = Outcome::InProgress.status();
                report.retry_after = Some(self.inner.retry_after);
            }
        }
    }

    /// Fetch (unless given), track, dispatch, and note in the tally what
    /// completed and what the delivery owes.
    async fn run(
        &self,
        event_id: &EventId,
        fetched: Option<Event>,
        claimed: &Claimed<'_>,
    ) -> DeliveryReport {
        let inner = &*self.inner;
        let Claimed {
            completed,
            owed,
            lost,
            tally,
        } = *claimed;
        let mut fetch_duration = None;
        let event = match fetched {
            Some(event) => event,
            None => {
                let started = Instant::now();
                let result = inner.fetcher.fetch_event(event_id).await;
                fetch_duration = Some(started.elapsed());
                #[cfg(feature = "metrics")]
                crate::metrics::fetched(&result, started.elapsed());
                match result {
                    Ok(event) if event.id == *event_id => event,
                    Ok(_) => {
                        let error = FetchError::new(FetchErrorKind::InvalidResponse)
                            .with_source("the API answered with another event than the one asked");
                        return self.fetch_failure(error, fetch_duration);
                    }
                    Err(error) => return self.fetch_failure(error, fetch_duration),
                }
            }
        };
        let mut report = DeliveryReport::new(Outcome::Processed);
        report.fetch_duration = fetch_duration;
        report.event_type = Some(event.name.clone());
        report.transaction_id = event.transaction().map(|t| t.id.clone());
        report.warnings = event.warnings.clone();

        let tracking = match inner.tracker.track(&event).await {
            Ok(tracking) => tracking,
            Err(error) => {
                self.store_failed(&mut report, error);
                return report;
            }
        };
        // What an earlier attempt owed wins over the tracker's view now,
        // which may have moved on or been forgotten.
        let owed = owed.and_then(Owed::parse);
        let tracking = owed.as_ref().map_or(tracking, |o| o.tracking.clone());
        let has_transaction = event.transaction().is_some();
        report.tracking = tracking.clone();
        let ctx = inner.router.context(Arc::new(event), tracking);
        let plan = inner.router.plan(&ctx);
        report.fell_back = plan.fell_back;
        let mut routes: Vec<&Route> = plan.routes;
        if let Some(owed) = &owed {
            for name in &owed.handlers {
                if !routes.iter().any(|r| r.name() == name) {
                    routes.extend(inner.router.route(name));
                }
            }
        } else if has_transaction {
            let owed = Owed::new(ctx.tracking().clone(), routes.iter().map(|r| r.name()));
            Tally::owes(tally, &owed);
        }

        let started = Instant::now();
        let mut retry = false;
        for route in routes {
            if completed.contains(route.name()) {
                #[cfg(feature = "metrics")]
                crate::metrics::handler_skipped(route.name());
                report.skipped.push(route.name().to_owned());
                continue;
            }
            if lost.load(Ordering::SeqCst) {
                // Another delivery holds the event now and runs the rest.
                retry = true;
                break;
            }
            let handler_started = Instant::now();
            let result = self.supervised(route, &ctx, lost).await;
            let duration = handler_started.elapsed();
            // A handler that succeeded, or failed for good, is not run again.
            let done = match &result {
                Ok(()) => true,
                Err(error) => !error.is_retryable(),
            };
            retry |= !done;
            #[cfg(feature = "metrics")]
            crate::metrics::handler_ran(route.name(), duration, result.is_err().then_some(!done));
            report.handlers.push(HandlerRun {
                name: route.name().to_owned(),
                error: result.err(),
                duration,
            });
            if done {
                Tally::completed(tally, route.shared_name());
            }
        }
        report.handlers_duration = Some(started.elapsed());
        if retry {
            report.outcome = Outcome::HandlerFailed;
            report.status = Outcome::HandlerFailed.status();
        }
        report
    }

    /// Runs one handler: its panic caught (by [`Route::run`]), stopped at
    /// its timeout when a runtime can wait, and stopped (a retryable
    /// failure) as soon as the claim is lost or may lapse, so that no
    /// other delivery runs it at the same time.
    async fn supervised(
        &self,
        route: &Route,
        ctx: &EventContext,
        lost: &AtomicBool,
    ) -> Result<(), HandlerError> {
        let inner = &*self.inner;
        let Some(runtime) = &inner.runtime else {
            return route.run(ctx).await;
        };
        let timeout = inner
            .handler_timeouts
            .get(route.name())
            .copied()
            .unwrap_or(inner.handler_timeout);
        let mut timed = std::pin::pin!(first(route.run(ctx), runtime.sleep(timeout)));
        std::future::poll_fn(|cx| {
            if lost.load(Ordering::SeqCst) {
                return Poll::Ready(Err(HandlerError::retry(
                    "stopped: the event's claim was lost or about to lapse",
                )));
            }
            timed.as_mut().poll(cx).map(|done| match done {
                Either::Left(result) => result,
                Either::Right(()) => Err(HandlerError::timed_out(timeout)),
            })
        })
        .await
    }
}
