//! cargo run --release --example loadtest
//!
//! The receiver under load, on loopback: axum serving the receiver, the
//! mock Smart Router API answering each fetch after a delay (default 50 ms,
//! like a real API round trip) with the vendor's 16 KB event, and a load
//! generator keeping N deliveries in flight on keep-alive connections.
//!
//! With every delivery waiting `delay` on its fetch, no receiver can do
//! better than N / delay deliveries per second (Little's law): the figure
//! printed is the rate achieved as a ratio of that ceiling, with the p50
//! and p99 latency, and the process's resident memory sampled each second
//! (peak, and how much it grew over the second half of the run).
//!
//! The N connections are opened in one burst, as a sender's retries after
//! an outage would; the time the slowest took is printed (the receiver
//! listens with a backlog of 1,024, so none waits for a handshake
//! retransmission, which takes 1 s or more).
//!
//! Options: `--inflight N` (default: 100 then 1000), `--seconds S` (default
//! 20 at N = 100, 60 at N = 1000), `--delay-ms D` (default 50). Everything
//! (load generator, receiver, mock API) shares one process and its 2
//! worker threads, as on a 2-core machine.
//!
//! `--rate R` paces the connections to R deliveries per second together
//! (each sends its next one on schedule, or at once when behind), instead
//! of each sending its next delivery as soon as the last is answered.
//!
//! `--mode sync|inbox|compare` (default `sync`, the runs above): `inbox`
//! serves the receiver in inbox mode (a memory inbox of `--inbox-capacity`
//! events, default 100,000, and `--workers W` workers, default 1,000), so
//! a delivery is answered 202 once queued and the workers fetch and run
//! the handlers; `compare` runs the synchronous receiver, then inbox mode,
//! with the same N (default 1,000), seconds and a handler taking
//! `--handler-ms H` (default 200; 0 in the plain `sync` runs), and prints
//! the acknowledgement latency of both and their ratio, and the workers'
//! throughput.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use smart_router_webhooks::adapters::axum::webhook_router;
use smart_router_webhooks::inbox::{Decision, Inbox, InboxRun, MemoryInbox, Workers};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{Credentials, Event, EventContext, EventType, HandlerError, Receiver};

const FIXTURE: &[u8] = include_bytes!("../tests/fixtures/event-transaction-failed.json");
const PATH: &str = "/webhooks/smart-router";

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

/// The process's resident memory now and at its peak, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Run {
    inflight: usize,
    seconds: u64,
    delay: Duration,
    /// How long the slow handler takes (zero: every handler returns at once).
    handler: Duration,
    mode: Mode,
    /// Deliveries per second offered by all connections together; `None`:
    /// each connection sends its next delivery once answered.
    rate: Option<u64>,
}

/// How the receiver answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Once processed (200).
    Sync,
    /// Once queued (202), processed by `workers` workers.
    Inbox { workers: usize, capacity: usize },
}

impl Mode {
    fn expected(self) -> StatusCode {
        match self {
            Mode::Sync => StatusCode::OK,
            Mode::Inbox { .. } => StatusCode::ACCEPTED,
        }
    }
}

struct Figures {
    deliveries: u64,
    rate: f64,
    /// Synchronous: the most any receiver could answer, N / (fetch delay
    /// + handler).
    ceiling: Option<f64>,
    p50: Duration,
    p99: Duration,
    mean: Duration,
    peak_kib: u64,
    growth_kib: i64,
    /// Over the last quarter: the stores are full by then at high rates.
    last_quarter_kib: i64,
    errors: u64,
    slowest_connect: Duration,
    /// Inbox mode: events the workers processed per second, and the
    /// events left in the inbox at the end.
    workers: Option<(f64, usize)>,
}

async fn noop(_: EventContext) -> Result<(), HandlerError> {
    Ok(())
}

/// Opens `n` connections to `addr` all at once, as a sender's burst of
/// retries would; answers them with the time the slowest took to connect.
async fn connect_burst(
    addr: std::net::SocketAddr,
    n: usize,
) -> Result<(Vec<tokio::net::TcpStream>, Duration), Box<dyn Error + Send + Sync>> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        set.spawn(async move {
            let started = Instant::now();
            let stream = tokio::net::TcpStream::connect(addr).await?;
            Ok::<_, std::io::Error>((stream, started.elapsed()))
        });
    }
    let (mut streams, mut slowest) = (Vec::with_capacity(n), Duration::ZERO);
    while let Some(joined) = set.join_next().await {
        let (stream, took) = joined??;
        slowest = slowest.max(took);
        streams.push(stream);
    }
    Ok((streams, slowest))
}

/// One connection's loop: deliver new events until `stop`, recording each
/// answer's latency in microseconds.
async fn load(
    stream: tokio::net::TcpStream,
    authorization: http::HeaderValue,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    errors: Arc<AtomicU64>,
    expected: StatusCode,
    pace: Option<(Duration, Duration)>,
) -> Result<Vec<u32>, Box<dyn Error + Send + Sync>> {
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut latencies = Vec::new();
    // Paced: one delivery every `interval`, from `offset` on (no wait when
    // behind).
    let mut due = pace.map(|(_, offset)| tokio::time::Instant::now() + offset);
    while !stop.load(Ordering::Relaxed) {
        if let (Some(at), Some((interval, _))) = (due.as_mut(), pace) {
            tokio::time::sleep_until(*at).await;
            *at += interval;
        }
        let n = next.fetch_add(1, Ordering::Relaxed);
        let body = format!(r#"{{"event_id":"ev_load_{n}","event_type":"transaction.failed"}}"#);
        let request = Request::post(PATH)
            .header(http::header::HOST, "127.0.0.1")
            .header(http::header::AUTHORIZATION, authorization.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if status != expected {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(latencies)
}

async fn run(run: &Run) -> Result<Figures, Box<dyn Error + Send + Sync>> {
    let template = serde_json::from_slice::<Envelope>(FIXTURE)?.event;
    let api = MockApi::builder()
        .delay(run.delay)
        .serve_any_event(template)
        .start()
        .await;
    let credentials = Credentials::new("smart-router", "4f3c9b1e8d7a6c5b4a39281706f5e4d3")?;
    let handler = run.handler;
    let builder = Receiver::builder()
        .credentials(credentials.clone())
        .fetcher(api.client_builder().build()?)
        .on(EventType::TransactionFailed, "a", noop)
        .on_prefix("transaction.", "b", noop)
        .on_every_event("slow", move |_: EventContext| async move {
            if !handler.is_zero() {
                tokio::time::sleep(handler).await;
            }
            Ok::<_, HandlerError>(())
        });
    let (receiver, inbox) = match run.mode {
        Mode::Sync => (builder.build()?, None),
        Mode::Inbox { capacity, .. } => {
            let inbox = Arc::new(MemoryInbox::new(capacity));
            (builder.inbox(inbox.clone()).build()?, Some(inbox))
        }
    };
    let processed = Arc::new(AtomicU64::new(0));
    let workers = match run.mode {
        Mode::Sync => None,
        Mode::Inbox { workers, .. } => {
            let processed = processed.clone();
            Some(
                Workers::builder(receiver.clone())
                    .count(workers)
                    .poll_interval(Duration::from_millis(20))
                    .observer(move |run: &InboxRun| {
                        if run.decision == Decision::Acknowledged {
                            processed.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .spawn()?,
            )
        }
    };
    let listener = smart_router_webhooks::adapters::bind(([127, 0, 0, 1], 0).into())?;
    let addr = listener.local_addr()?;
    let server =
        tokio::spawn(
            async move { axum::serve(listener, webhook_router::<()>(PATH, receiver)).await },
        );

    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let (streams, slowest_connect) = connect_burst(addr, run.inflight).await?;
    let mut tasks = Vec::new();
    // Paced: the rate shared by the connections, their starts spread.
    let interval = run
        .rate
        .map(|rate| Duration::from_secs_f64(run.inflight as f64 / rate as f64));
    for (k, stream) in streams.into_iter().enumerate() {
        let pace = interval.map(|i| (i, i.mul_f64(k as f64 / run.inflight as f64)));
        tasks.push(tokio::spawn(load(
            stream,
            credentials.authorization_header(),
            next.clone(),
            stop.clone(),
            errors.clone(),
            run.mode.expected(),
            pace,
        )));
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start_count = next.load(Ordering::Relaxed);
    let start_processed = processed.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut samples = Vec::new();
    for _ in 0..run.seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(memory_kib().0);
    }
    let elapsed = started.elapsed();
    let delivered = next.load(Ordering::Relaxed) - start_count;
    let worked = processed.load(Ordering::Relaxed) - start_processed;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    server.abort();
    let workers = match (workers, inbox) {
        (Some(workers), Some(inbox)) => {
            let left = inbox.depth().await?.items;
            workers.shutdown(Duration::from_secs(5)).await;
            Some((worked as f64 / elapsed.as_secs_f64(), left))
        }
        _ => None,
    };
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        Duration::from_micros(u64::from(latencies.get(index).copied().unwrap_or(0)))
    };
    let half = samples.len() / 2;
    let growth_since = |i: usize| {
        samples.last().copied().unwrap_or(0) as i64 - samples.get(i).copied().unwrap_or(0) as i64
    };
    let growth_kib = growth_since(half);
    let last_quarter_kib = growth_since(samples.len() * 3 / 4);
    Ok(Figures {
        deliveries: delivered,
        rate: delivered as f64 / elapsed.as_secs_f64(),
        ceiling: (run.mode == Mode::Sync).then(|| {
            let ceiling = run.inflight as f64 / (run.delay + run.handler).as_secs_f64();
            run.rate.map_or(ceiling, |rate| ceiling.min(rate as f64))
        }),
        p50: percentile(0.50),
        mean: Duration::from_micros(
            latencies.iter().map(|&l| u64::from(l)).sum::<u64>() / latencies.len().max(1) as u64,
        ),
        p99: percentile(0.99),
        peak_kib: memory_kib().1,
        growth_kib,
        last_quarter_kib,
        errors: errors.load(Ordering::Relaxed),
        slowest_connect,
        workers,
    })
}

fn option(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// The runs the options ask for.
fn runs(args: &[String]) -> Result<Vec<Run>, String> {
    let delay = Duration::from_millis(option(args, "--delay-ms").unwrap_or(50));
    let inbox = Mode::Inbox {
        workers: option(args, "--workers").unwrap_or(1000) as usize,
        capacity: option(args, "--inbox-capacity").unwrap_or(100_000) as usize,
    };
    let mode = args
        .iter()
        .position(|a| a == "--mode")
        .and_then(|i| args.get(i + 1))
        .map_or("sync", String::as_str);
    let run = |inflight: u64, seconds: u64, handler_ms: u64, mode: Mode| Run {
        inflight: option(args, "--inflight").unwrap_or(inflight) as usize,
        seconds: option(args, "--seconds").unwrap_or(seconds),
        delay,
        handler: Duration::from_millis(option(args, "--handler-ms").unwrap_or(handler_ms)),
        mode,
        rate: option(args, "--rate"),
    };
    Ok(match mode {
        "sync" if option(args, "--inflight").is_some() => vec![run(0, 60, 0, Mode::Sync)],
        "sync" => vec![run(100, 20, 0, Mode::Sync), run(1000, 60, 0, Mode::Sync)],
        "inbox" => vec![run(1000, 60, 200, inbox)],
        "compare" => vec![run(1000, 60, 200, Mode::Sync), run(1000, 60, 200, inbox)],
        other => return Err(format!("--mode {other}: sync, inbox or compare")),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let runs = runs(&args)?;
    let mut acknowledged = Vec::new();
    for run_config in &runs {
        let mode = match run_config.mode {
            Mode::Sync => "synchronous".to_owned(),
            Mode::Inbox { workers, .. } => format!("inbox mode, {workers} workers"),
        };
        let paced = run_config.rate.map_or_else(
            || " in flight".to_owned(),
            |r| format!(" connections paced to {r}/s"),
        );
        println!(
            "load ({mode}): {}{paced} for {} s, each fetch delayed {} ms, a handler taking {} ms",
            run_config.inflight,
            run_config.seconds,
            run_config.delay.as_millis(),
            run_config.handler.as_millis()
        );
        let f = run(run_config).await?;
        println!(
            "  connections     {} opened in one burst, the slowest in {:.1} ms (a stalled one takes 1,000 ms or more)",
            run_config.inflight,
            f.slowest_connect.as_secs_f64() * 1e3
        );
        println!(
            "  deliveries      {} ({} not answered {})",
            f.deliveries,
            f.errors,
            run_config.mode.expected().as_u16()
        );
        match f.ceiling {
            Some(ceiling) => println!(
                "  rate            {:.0}/s of a ceiling of {ceiling:.0}/s: ratio {:.3} (target >= 0.8)",
                f.rate,
                f.rate / ceiling
            ),
            None => println!("  rate            {:.0}/s acknowledged", f.rate),
        }
        println!(
            "  latency         p50 {:.1} ms, p99 {:.1} ms; {:.0} deliveries in flight on average",
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.rate * f.mean.as_secs_f64()
        );
        if let Some((throughput, left)) = f.workers {
            println!(
                "  workers         {throughput:.0} events processed/s; {left} left in the inbox at the end"
            );
        }
        println!(
            "  memory          peak RSS {:.1} MiB, growth over the second half {:+.1} MiB, over the last quarter {:+.1} MiB",
            f.peak_kib as f64 / 1024.0,
            f.growth_kib as f64 / 1024.0,
            f.last_quarter_kib as f64 / 1024.0
        );
        acknowledged.push((f.p50, f.p99));
    }
    if let [(sync50, sync99), (inbox50, inbox99)] = acknowledged[..] {
        if runs.len() == 2 && runs[0].mode == Mode::Sync && runs[1].mode != Mode::Sync {
            println!(
                "RATIO acknowledgement latency, inbox mode / synchronous: p50 {:.4}, p99 {:.4}",
                inbox50.as_secs_f64() / sync50.as_secs_f64(),
                inbox99.as_secs_f64() / sync99.as_secs_f64()
            );
        }
    }
    Ok(())
}
