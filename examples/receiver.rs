//! SMART_ROUTER_WEBHOOK_URL='http://hooks:s3cret@127.0.0.1:8080/webhooks/smart-router' SMART_ROUTER_PROJECT_ID=proj_… SMART_ROUTER_PRIVATE_KEY=key_… cargo run --example receiver
//!
//! A ready receiver (axum + reqwest), configured by environment, to run
//! and adapt. Add `--features redis` and set `REDIS_URL` to share claims
//! and transaction statuses between several copies of it.
//!
//! | variable | |
//! |---|---|
//! | `SMART_ROUTER_WEBHOOK_URL` | required: the URL configured in the Dashboard; the receiver serves `POST` on its path and accepts the credentials in its userinfo |
//! | `SMART_ROUTER_WEBHOOK_URL_PREVIOUS` | optional: a second URL whose credentials are accepted too, while rotating |
//! | `SMART_ROUTER_PROJECT_ID`, `SMART_ROUTER_PRIVATE_KEY` | required: the API credentials |
//! | `SMART_ROUTER_API_URL` | optional: the API's base URL (default the real API) |
//! | `LISTEN_ADDR` | optional: default `127.0.0.1:8080`; port 0 picks a free port |
//! | `REDIS_URL` | optional (feature `redis`): keep claims and statuses in Redis (and the reconciler's cursor) |
//! | `RECONCILE_EVERY` | optional: run the reconciler beside the receiver, every `60s`, `5m`, `1h`… (default off) |
//! | `INBOX` | optional: `memory`, or `redis` (feature `redis`, with `REDIS_URL`): inbox mode, answering 202 once a delivery is queued and processing it with workers (default off: answer once processed) |
//! | `WORKERS` | optional: the workers of inbox mode in this process (default 4; `0` to only queue, for instances that serve and leave processing to others) |
//!
//! With `INBOX`, deliveries are acknowledged as soon as they are queued;
//! workers report each event they processed, retried or dead-lettered on
//! stderr, and on shutdown finish the events in hand (30 s at most),
//! leaving the rest queued. With `INBOX=memory`, what is queued when the
//! process stops is lost: set `RECONCILE_EVERY` too.
//!
//! With `RECONCILE_EVERY`, a reconciler walks the API's event list from
//! the moment the receiver starts and gives every event the webhooks
//! missed to the same handlers (an event already delivered is not handled
//! again). Its runs and any stuck event are reported on stderr. On Ctrl-C
//! or SIGTERM the server stops taking connections, finishes the requests
//! in hand, then the reconciler finishes the event in hand and stops.
//!
//! Beside the webhook, `GET /health` answers 200 when the stores (and the
//! inbox, in inbox mode) answer, 503 when one does not, with a JSON object
//! saying which; and, built with `--features metrics`, `GET /metrics`
//! serves the crate's metrics in Prometheus text (names in the crate's
//! `metrics` module).
//!
//! stdout is JSON lines: `{"listening":"<addr>"}` once connections are
//! accepted, then one line per event given to the handlers. Diagnostics go
//! to stderr. A missing or invalid variable: a one-line error naming it,
//! exit code 2.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::inbox::{Decision, InboxRun, MemoryInbox, Workers};
use smart_router_webhooks::reconcile::CursorStore;
use smart_router_webhooks::reconcile::{Progress, Reconciler};
use smart_router_webhooks::{
    ApiClient, BasicAuth, Credentials, DeliveryReport, EventContext, HandlerError, MemoryStore,
    Receiver, TransactionId, WebhookUrl,
};

/// A configuration error: the variable and what is wrong with it.
struct ConfigError(&'static str, String);

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError(name, "is not set".into()))
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Prints what the handlers were given: one JSON line per event.
async fn print_event(ctx: EventContext) -> Result<(), HandlerError> {
    let transaction = ctx.transaction();
    let line = json!({
        "event_id": ctx.event().id,
        "event_type": ctx.event().name,
        "transaction_id": transaction.map(|t| &t.id),
        "status": transaction.map(|t| &t.status),
        "transition": ctx.transition().map(|t| json!({"from": t.from, "to": t.to, "expected": t.expected})),
        "stale": ctx.is_stale(),
    });
    println!("{line}");
    Ok(())
}

/// An error with every cause after it: `the API is unavailable: connection
/// refused`.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(&format!(": {error}"));
        cause = error.source();
    }
    text
}

/// Reports each delivery on stderr, never with a credential.
fn log_delivery(report: &DeliveryReport) {
    let event = report.event_id.as_ref().map_or("-", |id| id.as_str());
    let mut line = format!("{} {} {event}", report.status.as_u16(), report.outcome);
    if let Some(error) = &report.fetch_error {
        line.push_str(&format!(" fetch: {}", chain(error)));
    }
    if let Some(error) = &report.store_error {
        line.push_str(&format!(" store: {}", chain(error)));
    }
    for (handler, error) in report.failures() {
        line.push_str(&format!(" handler {handler}: {}", chain(error)));
    }
    eprintln!("{line}");
}

/// Reads a duration such as `500ms`, `60s`, `5m` or `1h` (not zero).
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
}

/// Reports the reconciler's runs and stuck events on stderr.
fn log_reconcile(progress: &Progress<'_>) {
    match progress {
        Progress::Finished(run) if run.walked => {
            let cursor = run.cursor.as_ref().map_or("none".into(), |c| c.to_text());
            eprintln!(
                "reconciler: run finished: {} events seen, {} processed, {} already done, {} stuck, {} API requests, cursor {cursor}",
                run.events_seen,
                run.processed,
                run.already_done,
                run.stuck.len(),
                run.requests,
            );
        }
        Progress::Stuck {
            event,
            report,
            attempts,
        } => eprintln!(
            "reconciler: {} stuck after {attempts} attempts ({}): process it again once the cause is fixed",
            event.id, report.outcome
        ),
        _ => {}
    }
}

/// What the environment configures.
struct Configured {
    /// What `/health` probes.
    health: Health,
    receiver: Receiver,
    path: String,
    listen: SocketAddr,
    /// The reconciler and its interval, when `RECONCILE_EVERY` is set.
    reconcile: Option<(Reconciler, Duration)>,
    /// The workers to run, when `INBOX` is set.
    workers: Option<usize>,
}

async fn build(webhook_url: &str) -> Result<Configured, ConfigError> {
    let url_error =
        |name, e: smart_router_webhooks::Error| ConfigError(name, e.message().to_owned());
    let webhook_url =
        WebhookUrl::parse(webhook_url).map_err(|e| url_error("SMART_ROUTER_WEBHOOK_URL", e))?;
    let path = webhook_url.path().to_owned();
    let mut auth = BasicAuth::from(webhook_url);
    if let Some(previous) = optional("SMART_ROUTER_WEBHOOK_URL_PREVIOUS") {
        auth = auth.with(
            Credentials::from_webhook_url(&previous)
                .map_err(|e| url_error("SMART_ROUTER_WEBHOOK_URL_PREVIOUS", e))?,
        );
    }

    let mut api = ApiClient::builder(
        var("SMART_ROUTER_PROJECT_ID")?,
        var("SMART_ROUTER_PRIVATE_KEY")?,
    );
    if let Some(api_url) = optional("SMART_ROUTER_API_URL") {
        api = api.base_url(api_url);
    }
    let api = api
        .build()
        .map_err(|e| ConfigError("SMART_ROUTER_API_URL", e.message().to_owned()))?;

    let listen = optional("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        ConfigError(
            "LISTEN_ADDR",
            format!("{listen:?} is not an address such as 127.0.0.1:8080"),
        )
    })?;

    let every = optional("RECONCILE_EVERY")
        .map(|text| {
            parse_duration(&text).ok_or_else(|| {
                ConfigError(
                    "RECONCILE_EVERY",
                    format!("{text:?} is not a duration such as 60s, 5m or 1h"),
                )
            })
        })
        .transpose()?;

    let builder = Receiver::builder()
        .credentials(auth)
        .fetcher(api.clone())
        .on_every_event("print-event", print_event)
        .observer(log_delivery);
    let (builder, cursors, transactions) = with_stores(builder).await?;
    let (builder, workers) = with_inbox(builder).await?;
    let receiver = builder
        .build()
        .map_err(|e| ConfigError("SMART_ROUTER_WEBHOOK_URL", e.message().to_owned()))?;
    let reconcile = match every {
        Some(every) => {
            let reconciler = Reconciler::builder(receiver.clone(), api)
                .cursor_store(cursors)
                .observer(log_reconcile)
                .build()
                .map_err(|e| ConfigError("RECONCILE_EVERY", e.message().to_owned()))?;
            Some((reconciler, every))
        }
        None => None,
    };
    let health = Health {
        transactions,
        inbox: receiver.inbox().cloned(),
    };
    Ok(Configured {
        health,
        receiver,
        path,
        listen,
        reconcile,
        workers,
    })
}

/// Inbox mode, when `INBOX` is set: the receiver's builder with the
/// inbox, and how many workers to run (`WORKERS`).
async fn with_inbox(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<(smart_router_webhooks::ReceiverBuilder, Option<usize>), ConfigError> {
    let Some(kind) = optional("INBOX") else {
        return Ok((builder, None));
    };
    let workers = match optional("WORKERS") {
        Some(n) => n
            .parse()
            .map_err(|_| ConfigError("WORKERS", format!("{n:?} is not a number of workers")))?,
        None => 4,
    };
    let builder = match kind.as_str() {
        "memory" => builder.inbox(MemoryInbox::default()),
        "redis" => redis_inbox(builder).await?,
        other => {
            return Err(ConfigError(
                "INBOX",
                format!("{other:?} is neither memory nor redis"),
            ));
        }
    };
    eprintln!("inbox mode ({kind}): {workers} workers");
    Ok((builder, Some(workers)))
}

#[cfg(feature = "redis")]
async fn redis_inbox(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<smart_router_webhooks::ReceiverBuilder, ConfigError> {
    let url = var("REDIS_URL").map_err(|_| ConfigError("INBOX", "redis needs REDIS_URL".into()))?;
    let store = smart_router_webhooks::RedisStore::connect(url)
        .await
        .map_err(|e| ConfigError("REDIS_URL", e.to_string()))?;
    let inbox = smart_router_webhooks::inbox::RedisInbox::new(&store, "receiver")
        .map_err(|e| ConfigError("INBOX", e.to_string()))?;
    Ok(builder.inbox(inbox))
}

#[cfg(not(feature = "redis"))]
async fn redis_inbox(
    _: smart_router_webhooks::ReceiverBuilder,
) -> Result<smart_router_webhooks::ReceiverBuilder, ConfigError> {
    Err(ConfigError(
        "INBOX",
        "redis needs the example built with --features redis".into(),
    ))
}

/// Reports each event a worker processed on stderr.
fn log_run(run: &InboxRun) {
    let event = run.item.event_id.as_str();
    let outcome = run.report.outcome;
    match run.decision {
        Decision::Acknowledged => eprintln!("worker: {event} {outcome}"),
        Decision::Retry { delay, attempts } => {
            eprintln!("worker: {event} {outcome}: retry in {delay:?} (attempt {attempts})");
        }
        Decision::DeadLettered { attempts } => {
            eprintln!("worker: {event} {outcome}: dead-lettered after {attempts} attempts");
        }
        _ => eprintln!("worker: {event} {outcome}: left for another worker"),
    }
}

/// The receiver's builder with the stores of `REDIS_URL`, the reconciler's
/// cursor store, and a read of the transaction store (for `/health`).
type WithStores = (
    smart_router_webhooks::ReceiverBuilder,
    Arc<dyn CursorStore>,
    StoreProbe,
);

/// Reads a transaction from the transaction store, for `/health`.
type StoreProbe = Arc<
    dyn Fn(
            TransactionId,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<(), smart_router_webhooks::Error>> + Send>,
        > + Send
        + Sync,
>;

/// The memory store: the receiver's default, kept here for `/health`.
fn memory_stores(builder: smart_router_webhooks::ReceiverBuilder) -> WithStores {
    let store = MemoryStore::default();
    let builder = builder
        .claim_store(store.clone())
        .transaction_store(store.clone());
    let cursors = Arc::new(store.clone());
    let probe: StoreProbe = Arc::new(move |id| {
        let _ = store.latest(&id);
        Box::pin(async { Ok(()) })
    });
    (builder, cursors, probe)
}

#[cfg(feature = "redis")]
async fn with_stores(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<WithStores, ConfigError> {
    let Some(url) = optional("REDIS_URL") else {
        return Ok(memory_stores(builder));
    };
    let store = smart_router_webhooks::RedisStore::connect(url)
        .await
        .map_err(|e| ConfigError("REDIS_URL", e.to_string()))?;
    eprintln!("claims, transaction statuses and the reconciler's cursor are kept in Redis");
    let builder = builder
        .claim_store(store.clone())
        .transaction_store(store.clone());
    let cursors = Arc::new(store.clone());
    let probe: StoreProbe = Arc::new(move |id| {
        let store = store.clone();
        Box::pin(async move { store.latest(&id).await.map(|_| ()) })
    });
    Ok((builder, cursors, probe))
}

#[cfg(not(feature = "redis"))]
async fn with_stores(
    builder: smart_router_webhooks::ReceiverBuilder,
) -> Result<WithStores, ConfigError> {
    match optional("REDIS_URL") {
        Some(_) => Err(ConfigError(
            "REDIS_URL",
            "needs the example built with --features redis".into(),
        )),
        None => Ok(memory_stores(builder)),
    }
}

/// What `/health` probes: the stores, with a read of the transaction
/// store, and the inbox in inbox mode.
#[derive(Clone)]
struct Health {
    transactions: StoreProbe,
    inbox: Option<Arc<dyn smart_router_webhooks::inbox::Inbox>>,
}

/// How long a probe of `/health` may take before it counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `"ok"` when `probe` succeeds within [`PROBE_TIMEOUT`], else why not
/// (never a credential: the stores' errors carry none).
async fn probe<T, E: std::fmt::Display>(
    probe: impl std::future::Future<Output = Result<T, E>>,
) -> String {
    match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {PROBE_TIMEOUT:?}"),
    }
}

/// `GET /health`: 200 when the stores and the inbox answer, 503 when one
/// does not; `{"status": …, "stores": …, "inbox": …}` says which.
async fn health(
    axum::extract::State(health): axum::extract::State<Health>,
) -> (
    http::StatusCode,
    [(http::HeaderName, &'static str); 1],
    String,
) {
    // A read of a transaction no one has: it answers `None` when the store
    // is reachable.
    let nobody = TransactionId::parse("tr_health_probe").map_err(|e| e.to_string());
    let stores = match nobody {
        Ok(id) => probe((health.transactions)(id)).await,
        Err(e) => e,
    };
    let inbox = match &health.inbox {
        Some(inbox) => Some(probe(inbox.depth()).await),
        None => None,
    };
    let healthy = stores == "ok" && inbox.as_deref().is_none_or(|i| i == "ok");
    let status = if healthy {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "stores": stores,
        "inbox": inbox,
    });
    let json = (http::header::CONTENT_TYPE, "application/json");
    (status, [json], body.to_string())
}

/// The routes beside the webhook: `/health`, and `/metrics` with the
/// `metrics` feature (installing the Prometheus recorder).
fn operations_routes(health_state: Health) -> Result<axum::Router, String> {
    let routes = axum::Router::new()
        .route("/health", axum::routing::get(health))
        .with_state(health_state.clone());
    #[cfg(feature = "metrics")]
    let routes = routes.merge(metrics_routes(health_state.inbox)?);
    #[cfg(not(feature = "metrics"))]
    let _ = health_state;
    Ok(routes)
}

/// `GET /metrics`: the crate's metrics in Prometheus text, the inbox's
/// depth read at each scrape.
#[cfg(feature = "metrics")]
fn metrics_routes(
    inbox: Option<Arc<dyn smart_router_webhooks::inbox::Inbox>>,
) -> Result<axum::Router, String> {
    use metrics_exporter_prometheus::PrometheusBuilder;
    // Seconds, from a fast acknowledgement to a slow handler.
    let buckets = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets(&buckets)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|e| e.to_string())?;
    smart_router_webhooks::metrics::describe();
    // Histograms are summed up between scrapes: keep their memory flat.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let render = move || {
        let (handle, inbox) = (handle.clone(), inbox.clone());
        async move {
            if let Some(inbox) = &inbox {
                // An unreachable inbox keeps its last figures; /health says so.
                let _ = smart_router_webhooks::metrics::record_inbox(inbox.as_ref()).await;
            }
            let text = (http::header::CONTENT_TYPE, "text/plain; version=0.0.4");
            ([text], handle.render())
        }
    };
    Ok(axum::Router::new().route("/metrics", axum::routing::get(render)))
}

/// Resolves on Ctrl-C or SIGTERM (never, if neither can be listened to).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let configured = match var("SMART_ROUTER_WEBHOOK_URL") {
        Ok(url) => build(&url).await,
        Err(e) => Err(e),
    };
    let Configured {
        health,
        receiver,
        path,
        listen,
        reconcile,
        workers,
    } = match configured {
        Ok(configured) => configured,
        Err(ConfigError(name, problem)) => {
            eprintln!("configuration error: {name} {problem}");
            return ExitCode::from(2);
        }
    };
    // Before anything records: /metrics installs the recorder.
    let routes = match operations_routes(health) {
        Ok(routes) => routes,
        Err(e) => {
            eprintln!("metrics recorder: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A backlog of 1,024: a burst of new connections is queued, not stalled.
    let listener = match smart_router_webhooks::adapters::bind(listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("configuration error: LISTEN_ADDR cannot be bound: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    println!("{}", json!({ "listening": addr }));
    eprintln!("serving POST {path} on {addr}");
    let reconciler = reconcile.map(|(reconciler, every)| {
        eprintln!("reconciler: walking the event list every {every:?}");
        reconciler.spawn(every)
    });
    let workers = match workers.filter(|n| *n > 0) {
        Some(n) => match Workers::builder(receiver.clone())
            .count(n)
            .observer(log_run)
            .spawn()
        {
            Ok(workers) => Some(workers),
            Err(e) => {
                eprintln!("configuration error: WORKERS {}", e.message());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let app = webhook_router::<()>(&path, receiver).merge(routes);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    if let Some(workers) = workers {
        let stopped = workers.shutdown(Duration::from_secs(30)).await;
        eprintln!(
            "workers: stopped ({} events left in the inbox's hands)",
            stopped.abandoned
        );
    }
    if let Some(reconciler) = reconciler {
        reconciler.shutdown().await;
        eprintln!("reconciler: stopped");
    }
    match served {
        Ok(()) => {
            eprintln!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}
