//! SMART_ROUTER_PROJECT_ID=test-proj_… SMART_ROUTER_PRIVATE_KEY=key_sandbox_… FORWARD_TO='http://hooks:s3cret@127.0.0.1:8080/webhooks/smart-router' cargo run --example forward
//!
//! Forwards the sandbox's new events to a local receiver, since Smart
//! Router cannot reach a laptop: walks the API's event list from now on
//! and delivers each new event to `FORWARD_TO` exactly as Smart Router
//! would (a `POST` of `{"event_id","event_type"}` with the basic-auth
//! credentials of the URL, retried with backoff), printing the answer.
//!
//! `--replay ev_…` delivers one event again; `--replay ev_A..ev_B` every
//! event from A to B (both included); then the program ends.
//!
//! | variable | |
//! |---|---|
//! | `SMART_ROUTER_PROJECT_ID`, `SMART_ROUTER_PRIVATE_KEY` | required: sandbox API credentials |
//! | `FORWARD_TO` | required: the local webhook URL, credentials in its userinfo (plain `http`) |
//! | `SMART_ROUTER_API_URL` | optional: the API's base URL (default the real API) |
//! | `FORWARD_EVERY_MS` | optional: how often to look for new events (default 2000) |
//!
//! stdout is JSON lines: `{"forwarding_after":…}` once the walk has its
//! starting point, then one line per event delivered.
//!
//! The walk is the crate's `Reconciler`: it lists the events and gives
//! each to a receiver of this program's own, whose one handler forwards
//! it.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use smart_router_webhooks::reconcile::{Cursor, Progress, ReconcileError, Reconciler, StartFrom};
use smart_router_webhooks::testing::Sender;
use smart_router_webhooks::{ApiClient, EventContext, EventId, HandlerError, Receiver};

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// A receiver that takes no delivery itself (so it needs no credentials):
/// the reconciler gives it each event, and its handler delivers it to
/// `FORWARD_TO` and prints the answer.
fn forwarder(client: &ApiClient, sender: Sender) -> Result<Receiver, String> {
    Receiver::builder()
        .allow_unauthenticated()
        .fetcher(client.clone())
        .on_every_event("forward", move |ctx: EventContext| {
            let sender = sender.clone();
            async move {
                let event = ctx.event();
                let delivery = sender.deliver(&event.id, Some(&event.name)).await;
                println!(
                    "{}",
                    json!({
                        "event_id": event.id.as_str(),
                        "event_type": event.name.as_str(),
                        "status": delivery.last_status().map(|s| s.as_u16()),
                        "attempts": delivery.attempts.len(),
                        "delivered": delivery.delivered(),
                    })
                );
                Ok::<_, HandlerError>(())
            }
        })
        // Six attempts of up to 5 s each, with the waits between them.
        .handler_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("receiver: {e}"))
}

fn failed(error: ReconcileError) -> String {
    match error {
        ReconcileError::Api(error) => format!("the API: {error}"),
        error => error.to_string(),
    }
}

async fn run() -> Result<(), String> {
    let mut client = ApiClient::builder(
        var("SMART_ROUTER_PROJECT_ID")?,
        var("SMART_ROUTER_PRIVATE_KEY")?,
    );
    if let Ok(url) = std::env::var("SMART_ROUTER_API_URL") {
        client = client.base_url(url);
    }
    let client = client.build().map_err(|e| format!("API client: {e}"))?;
    let sender = Sender::new(&var("FORWARD_TO")?)
        .map_err(|e| format!("FORWARD_TO: {e}"))?
        .backoff(Duration::from_millis(500), 6);
    let every = std::env::var("FORWARD_EVERY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis);
    // Two requests a second at most, the reconciler's default.
    let walk = Reconciler::builder(forwarder(&client, sender)?, client).name("forward");

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, range] = args.as_slice() {
        if flag != "--replay" {
            return Err(format!("unknown argument {flag}"));
        }
        let (from, to) = range.split_once("..").unwrap_or((range, range));
        let id = |text: &str| EventId::parse(text).map_err(|e| format!("--replay: {e}"));
        let (from, to) = (id(from)?, id(to)?);
        let replay = walk
            .start_from(StartFrom::Event(from.clone()))
            .until(to.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let summary = replay.run_once().await.map_err(failed)?;
        if summary.cursor != Some(Cursor::After(to.clone())) {
            return Err(format!("{to} does not come after {from}"));
        }
        return Ok(());
    }

    // The first cursor the walk saves is its starting point: the newest
    // event now.
    let announced = AtomicBool::new(false);
    let follow = walk
        .start_from(StartFrom::Now)
        .observer(move |progress: &Progress<'_>| {
            if let Progress::Cursor { cursor, .. } = progress {
                if !announced.swap(true, Ordering::SeqCst) {
                    println!("{}", json!({"forwarding_after": cursor.to_text()}));
                }
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    loop {
        follow.run_once().await.map_err(failed)?;
        tokio::time::sleep(every).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("forward: {error}");
            ExitCode::from(2)
        }
    }
}
