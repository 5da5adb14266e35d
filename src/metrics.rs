//! Metrics through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): install any recorder (Prometheus, StatsD,
//! OpenTelemetry…) and the receiver, its workers and the reconciler report
//! to it. Without a recorder, recording costs next to nothing.
//!
//! Every name starts with `smart_router_webhooks_`. Labels take a small,
//! fixed set of values (the handler names are the ones you registered):
//! never an event or transaction ID, never a credential.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | `smart_router_webhooks_deliveries_total` | counter | `outcome`, `status` | deliveries answered, by [`Outcome::as_str`](crate::Outcome::as_str) and HTTP status code |
//! | `smart_router_webhooks_ack_seconds` | histogram | | time from a delivery's request to its answer (the acknowledgement latency) |
//! | `smart_router_webhooks_detached_total` | counter | `outcome` | processings that outlived their delivery's answer (answer deadline, or the sender hung up), by how they ended |
//! | `smart_router_webhooks_fetch_seconds` | histogram | `result` | event fetches from the API: `ok`, or the failure (`not_found`, `api_credentials_refused`, `bad_request`, `rate_limited`, `unavailable`, `invalid_response`) |
//! | `smart_router_webhooks_handler_seconds` | histogram | `handler` | each handler run, successful or not |
//! | `smart_router_webhooks_handler_failures_total` | counter | `handler`, `retry` | handler failures; `retry` is `true` when the failure asks for the event to be processed again |
//! | `smart_router_webhooks_handlers_skipped_total` | counter | `handler` | handlers not run again because they completed on an earlier attempt (a retried event) |
//! | `smart_router_webhooks_reconcile_events_total` | counter | `result` | events the reconciler walked: `processed`, `already_done`, `retrying`, `stuck` |
//! | `smart_router_webhooks_reconcile_pages_total` | counter | | pages of the API's event list read by the reconciler |
//! | `smart_router_webhooks_reconcile_runs_total` | counter | `walked` | reconciler runs; `walked` is `false` when another instance held the walk |
//! | `smart_router_webhooks_reconcile_lag_seconds` | gauge | | how long ago the event at the reconciler's cursor was fired: its lag while it catches up |
//! | `smart_router_webhooks_reconcile_stuck` | gauge | | events stuck at the end of the last run |
//! | `smart_router_webhooks_inbox_enqueued_total` | counter | `result` | deliveries offered to the inbox: `queued`, `duplicate` (in the inbox already), `failed` (answered 503: full or unreachable) |
//! | `smart_router_webhooks_inbox_retries_total` | counter | | inbox events a worker put back for a later attempt |
//! | `smart_router_webhooks_inbox_dead_letters_total` | counter | | inbox events a worker moved to the dead-letter list |
//! | `smart_router_webhooks_inbox_depth` | gauge | | events in the inbox: waiting, in a worker's hands, or waiting for a retry |
//! | `smart_router_webhooks_inbox_oldest_age_seconds` | gauge | | how long ago the oldest of them was queued (0 when empty) |
//! | `smart_router_webhooks_inbox_dead_letters` | gauge | | events in the dead-letter list |
//!
//! Histograms are in seconds. [`describe`] gives each metric its
//! description and unit, for exporters that show them (the Prometheus
//! exporter's `# HELP`). The inbox's gauges are set by [`record_inbox`]
//! (or [`record_inbox_depth`]) with what
//! [`Inbox::depth`] answers: call it when your
//! exporter is scraped, or on a timer.
//!
//! ```
//! // After installing a recorder, e.g. with metrics-exporter-prometheus:
//! smart_router_webhooks::metrics::describe();
//! ```

use std::time::Duration;

use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::api::{FetchError, FetchErrorKind};
use crate::error::Error;
use crate::queue::{Enqueued, Inbox, InboxDepth};

/// Deliveries answered, by outcome and status.
pub const DELIVERIES: &str = "smart_router_webhooks_deliveries_total";
/// The acknowledgement latency: from a delivery's request to its answer.
pub const ACK_SECONDS: &str = "smart_router_webhooks_ack_seconds";
/// Processings that outlived their delivery's answer, by outcome.
pub const DETACHED: &str = "smart_router_webhooks_detached_total";
/// Event fetches from the API, by result.
pub const FETCH_SECONDS: &str = "smart_router_webhooks_fetch_seconds";
/// Handler runs, by handler.
pub const HANDLER_SECONDS: &str = "smart_router_webhooks_handler_seconds";
/// Handler failures, by handler and whether a retry is asked.
pub const HANDLER_FAILURES: &str = "smart_router_webhooks_handler_failures_total";
/// Handlers skipped on a retried event because they completed before.
pub const HANDLERS_SKIPPED: &str = "smart_router_webhooks_handlers_skipped_total";
/// Events the reconciler walked, by result.
pub const RECONCILE_EVENTS: &str = "smart_router_webhooks_reconcile_events_total";
/// Pages of the event list the reconciler read.
pub const RECONCILE_PAGES: &str = "smart_router_webhooks_reconcile_pages_total";
/// Reconciler runs, by whether this instance walked.
pub const RECONCILE_RUNS: &str = "smart_router_webhooks_reconcile_runs_total";
/// The reconciler's lag behind the newest event.
pub const RECONCILE_LAG_SECONDS: &str = "smart_router_webhooks_reconcile_lag_seconds";
/// Events stuck at the end of the reconciler's last run.
pub const RECONCILE_STUCK: &str = "smart_router_webhooks_reconcile_stuck";
/// Deliveries offered to the inbox, by result.
pub const INBOX_ENQUEUED: &str = "smart_router_webhooks_inbox_enqueued_total";
/// Inbox events put back for a later attempt.
pub const INBOX_RETRIES: &str = "smart_router_webhooks_inbox_retries_total";
/// Inbox events dead-lettered.
pub const INBOX_DEAD_LETTERS: &str = "smart_router_webhooks_inbox_dead_letters_total";
/// Events in the inbox.
pub const INBOX_DEPTH: &str = "smart_router_webhooks_inbox_depth";
/// Age of the oldest event in the inbox.
pub const INBOX_OLDEST_AGE_SECONDS: &str = "smart_router_webhooks_inbox_oldest_age_seconds";
/// Events in the dead-letter list.
pub const INBOX_DEAD_LETTER_DEPTH: &str = "smart_router_webhooks_inbox_dead_letters";

/// Every metric's name, kind, unit and description, as in the table above.
#[rustfmt::skip]
const DESCRIPTIONS: &[(&str, Kind, Unit, &str)] = &[
    (DELIVERIES, Kind::Counter, Unit::Count, "Webhook deliveries answered, by outcome and HTTP status."),
    (ACK_SECONDS, Kind::Histogram, Unit::Seconds, "Time from a delivery's request to its answer."),
    (DETACHED, Kind::Counter, Unit::Count, "Processings that outlived their delivery's answer, by how they ended."),
    (FETCH_SECONDS, Kind::Histogram, Unit::Seconds, "Event fetches from the Smart Router API, by result."),
    (HANDLER_SECONDS, Kind::Histogram, Unit::Seconds, "Handler runs, by handler."),
    (HANDLER_FAILURES, Kind::Counter, Unit::Count, "Handler failures, by handler and whether a retry is asked."),
    (HANDLERS_SKIPPED, Kind::Counter, Unit::Count, "Handlers not run again on a retried event: they completed before."),
    (RECONCILE_EVENTS, Kind::Counter, Unit::Count, "Events the reconciler walked, by result."),
    (RECONCILE_PAGES, Kind::Counter, Unit::Count, "Pages of the API's event list the reconciler read."),
    (RECONCILE_RUNS, Kind::Counter, Unit::Count, "Reconciler runs, by whether this instance walked."),
    (RECONCILE_LAG_SECONDS, Kind::Gauge, Unit::Seconds, "How long ago the event at the reconciler's cursor was fired."),
    (RECONCILE_STUCK, Kind::Gauge, Unit::Count, "Events stuck at the end of the reconciler's last run."),
    (INBOX_ENQUEUED, Kind::Counter, Unit::Count, "Deliveries offered to the inbox, by result."),
    (INBOX_RETRIES, Kind::Counter, Unit::Count, "Inbox events a worker put back for a later attempt."),
    (INBOX_DEAD_LETTERS, Kind::Counter, Unit::Count, "Inbox events a worker moved to the dead-letter list."),
    (INBOX_DEPTH, Kind::Gauge, Unit::Count, "Events in the inbox: waiting, in a worker's hands, or waiting for a retry."),
    (INBOX_OLDEST_AGE_SECONDS, Kind::Gauge, Unit::Seconds, "How long ago the oldest event in the inbox was queued."),
    (INBOX_DEAD_LETTER_DEPTH, Kind::Gauge, Unit::Count, "Events in the inbox's dead-letter list."),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Gives every metric of the table its description and unit, with the
/// recorder installed now: call it once after installing yours.
///
/// ```
/// // Once your recorder (a Prometheus exporter, say) is installed:
/// smart_router_webhooks::metrics::describe();
/// ```
pub fn describe() {
    for &(name, kind, unit, text) in DESCRIPTIONS {
        match kind {
            Kind::Counter => describe_counter!(name, unit, text),
            Kind::Gauge => describe_gauge!(name, unit, text),
            Kind::Histogram => describe_histogram!(name, unit, text),
        }
    }
}

/// A delivery answered `status` with `outcome` (its name), `elapsed`
/// after its request came.
pub(crate) fn delivery_answered(outcome: &'static str, status: u16, elapsed: Duration) {
    counter!(
        DELIVERIES,
        "outcome" => outcome,
        "status" => status_label(status),
    )
    .increment(1);
    histogram!(ACK_SECONDS).record(elapsed.as_secs_f64());
}

/// A processing that outlived its delivery's answer ended with `outcome`
/// (its name).
pub(crate) fn detached_ended(outcome: &'static str) {
    counter!(DETACHED, "outcome" => outcome).increment(1);
}

/// An event fetch took `elapsed` and ended with `result`.
pub(crate) fn fetched<T>(result: &Result<T, FetchError>, elapsed: Duration) {
    let label = match result {
        Ok(_) => "ok",
        Err(error) => match error.kind() {
            FetchErrorKind::NotFound => "not_found",
            FetchErrorKind::ApiCredentialsRefused => "api_credentials_refused",
            FetchErrorKind::BadRequest => "bad_request",
            FetchErrorKind::RateLimited => "rate_limited",
            FetchErrorKind::Unavailable => "unavailable",
            FetchErrorKind::InvalidResponse => "invalid_response",
        },
    };
    histogram!(FETCH_SECONDS, "result" => label).record(elapsed.as_secs_f64());
}

/// Handler `name` ran for `elapsed`; `failed` says whether it failed and,
/// if so, whether the failure asks for a retry.
pub(crate) fn handler_ran(name: &str, elapsed: Duration, failed: Option<bool>) {
    let name = name.to_owned();
    histogram!(HANDLER_SECONDS, "handler" => name.clone()).record(elapsed.as_secs_f64());
    if let Some(retry) = failed {
        let retry = if retry { "true" } else { "false" };
        counter!(HANDLER_FAILURES, "handler" => name, "retry" => retry).increment(1);
    }
}

/// Handler `name` was not run again: it completed on an earlier attempt.
pub(crate) fn handler_skipped(name: &str) {
    counter!(HANDLERS_SKIPPED, "handler" => name.to_owned()).increment(1);
}

/// A reconciler fetched a page of the event list.
#[cfg(feature = "reconciler")]
pub(crate) fn reconcile_page() {
    counter!(RECONCILE_PAGES).increment(1);
}

/// A reconciler is done with an event, or not yet: `result` is
/// `already_done`, `processed`, `retrying` or `stuck`.
#[cfg(feature = "reconciler")]
pub(crate) fn reconcile_event(result: &'static str) {
    counter!(RECONCILE_EVENTS, "result" => result).increment(1);
}

/// A reconciler saved its cursor, `lag` behind the event's firing.
#[cfg(feature = "reconciler")]
pub(crate) fn reconcile_lag(lag: Duration) {
    gauge!(RECONCILE_LAG_SECONDS).set(lag.as_secs_f64());
}

/// A reconciler's run ended, having walked the list or not (another
/// instance had the lease), with `stuck` events left when it walked.
#[cfg(feature = "reconciler")]
pub(crate) fn reconcile_run(walked: bool, stuck: usize) {
    let label = if walked { "true" } else { "false" };
    counter!(RECONCILE_RUNS, "walked" => label).increment(1);
    if walked {
        gauge!(RECONCILE_STUCK).set(stuck as f64);
    }
}

/// A delivery offered to the inbox.
pub(crate) fn inbox_enqueued(result: &Result<Enqueued, Error>) {
    let label = match result {
        Ok(Enqueued::Queued) => "queued",
        Ok(Enqueued::AlreadyQueued) => "duplicate",
        Err(_) => "failed",
    };
    counter!(INBOX_ENQUEUED, "result" => label).increment(1);
}

/// A worker put an inbox event back for a later attempt.
#[cfg(feature = "tokio")]
pub(crate) fn inbox_retried() {
    counter!(INBOX_RETRIES).increment(1);
}

/// A worker moved an inbox event to the dead-letter list.
#[cfg(feature = "tokio")]
pub(crate) fn inbox_dead_lettered() {
    counter!(INBOX_DEAD_LETTERS).increment(1);
}

/// Sets the inbox's gauges to `depth`, what
/// [`Inbox::depth`] answered.
pub fn record_inbox_depth(depth: &InboxDepth) {
    gauge!(INBOX_DEPTH).set(depth.items as f64);
    let age = depth.oldest_age.map_or(0.0, |age| age.as_secs_f64());
    gauge!(INBOX_OLDEST_AGE_SECONDS).set(age);
    gauge!(INBOX_DEAD_LETTER_DEPTH).set(depth.dead_letters as f64);
}

/// Reads `inbox`'s depth and sets the inbox's gauges to it.
///
/// # Errors
///
/// The inbox's, when it cannot answer (the gauges are left as they were).
///
/// ```no_run
/// # async fn scrape(inbox: &dyn smart_router_webhooks::inbox::Inbox) -> Result<(), smart_router_webhooks::Error> {
/// // At each scrape, or on a timer:
/// let depth = smart_router_webhooks::metrics::record_inbox(inbox).await?;
/// println!("{} queued", depth.items);
/// # Ok(()) }
/// ```
pub async fn record_inbox(inbox: &dyn Inbox) -> Result<InboxDepth, Error> {
    let depth = inbox.depth().await?;
    record_inbox_depth(&depth);
    Ok(depth)
}

/// The status code as a label, without allocating for the usual ones.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        202 => "202",
        400 => "400",
        401 => "401",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::MetricKind;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn the_table_of_the_docs_lists_every_metric_once() {
        let docs = include_str!("metrics.rs");
        let rows: Vec<&str> = docs
            .lines()
            .filter_map(|l| l.strip_prefix("//! | `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let names: Vec<&str> = DESCRIPTIONS.iter().map(|d| d.0).collect();
        assert_eq!(rows, names);
        for (name, kind, _, _) in DESCRIPTIONS {
            let row = docs.lines().find(|l| l.contains(&format!("| `{name}` |")));
            let kind = match kind {
                Kind::Counter => "| counter |",
                Kind::Gauge => "| gauge |",
                Kind::Histogram => "| histogram |",
            };
            assert!(row.is_some_and(|r| r.contains(kind)), "{name}");
            assert!(name.starts_with("smart_router_webhooks_"));
        }
    }

    #[test]
    fn the_inbox_hooks_record_their_metrics_with_descriptions() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        ::metrics::with_local_recorder(&recorder, || {
            describe();
            inbox_enqueued(&Ok(Enqueued::Queued));
            inbox_enqueued(&Ok(Enqueued::Queued));
            inbox_enqueued(&Ok(Enqueued::AlreadyQueued));
            inbox_enqueued(&Err(Error::new(crate::ErrorKind::Store, "full")));
            record_inbox_depth(&InboxDepth::new(3, Some(Duration::from_millis(1500)), 2));
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let value = |kind: MetricKind, name: &str, label: Option<&str>| {
            snapshot
                .iter()
                .find(|(key, ..)| {
                    key.kind() == kind
                        && key.key().name() == name
                        && key.key().labels().next().map(|l| l.value()) == label
                })
                .map(|(_, unit, description, value)| (*unit, description.is_some(), value))
        };
        let enqueued = |result| value(MetricKind::Counter, INBOX_ENQUEUED, Some(result));
        assert_eq!(
            enqueued("queued"),
            Some((Some(Unit::Count), true, &DebugValue::Counter(2)))
        );
        for result in ["duplicate", "failed"] {
            assert!(matches!(
                enqueued(result),
                Some((_, _, DebugValue::Counter(1)))
            ));
        }
        let gauge = |name| match value(MetricKind::Gauge, name, None) {
            Some((_, true, DebugValue::Gauge(v))) => v.into_inner(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(gauge(INBOX_DEPTH), 3.0);
        assert_eq!(gauge(INBOX_OLDEST_AGE_SECONDS), 1.5);
        assert_eq!(gauge(INBOX_DEAD_LETTER_DEPTH), 2.0);
        assert_eq!(
            value(MetricKind::Gauge, INBOX_OLDEST_AGE_SECONDS, None).map(|v| v.0),
            Some(Some(Unit::Seconds))
        );
    }
}
