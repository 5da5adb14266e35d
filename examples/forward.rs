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

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use smart_router_webhooks::reconcile::Cursor;
use smart_router_webhooks::reconcile::{EventWalk, Pace, StartFrom};
use smart_router_webhooks::testing::Sender;
use smart_router_webhooks::{ApiClient, Event, EventId};

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

async fn deliver(sender: &Sender, event: &Event) {
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
    let mut walk = EventWalk::new(client, Pace::new().requests_per_second(2.0));
    let api = |e: smart_router_webhooks::FetchError| format!("the API: {e}");

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, range] = args.as_slice() {
        if flag != "--replay" {
            return Err(format!("unknown argument {flag}"));
        }
        let (from, to) = range.split_once("..").unwrap_or((range, range));
        let id = |text: &str| EventId::parse(text).map_err(|e| format!("--replay: {e}"));
        let (from, to) = (id(from)?, id(to)?);
        let first = walk.fetch_event(&from).await.map_err(api)?;
        deliver(&sender, &first).await;
        let mut cursor = Cursor::After(from.clone());
        if from == to {
            return Ok(());
        }
        loop {
            let page = walk.page_after(&cursor).await.map_err(api)?;
            for event in &page.events {
                deliver(&sender, event).await;
                if event.id == to {
                    return Ok(());
                }
                cursor = Cursor::After(event.id.clone());
            }
            if !page.has_more {
                return Err(format!("{to} does not come after {from}"));
            }
        }
    }

    let start = walk.start(&StartFrom::Now).await.map_err(api)?;
    let mut cursor = start.cursor.unwrap_or(Cursor::Beginning);
    println!("{}", json!({"forwarding_after": cursor.to_text()}));
    loop {
        let page = walk.page_after(&cursor).await.map_err(api)?;
        for event in &page.events {
            deliver(&sender, event).await;
            cursor = Cursor::After(event.id.clone());
        }
        if !page.has_more {
            tokio::time::sleep(every).await;
        }
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
