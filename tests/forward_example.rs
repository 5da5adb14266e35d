//! `examples/forward.rs`, run as a developer runs it, against the mock API
//! and a receiver on loopback: every new event delivered once, in order,
//! with the webhook URL's credentials; `--replay` delivers one again.
#![cfg(all(
    feature = "testing",
    feature = "reqwest",
    feature = "axum",
    feature = "actix",
    feature = "tower",
    feature = "reconciler"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventId, EventType, HandlerError, Receiver,
};

fn binary() -> std::path::PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "forward", "--all-features"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success());
    let deps = std::env::current_exe().unwrap();
    deps.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("forward{}", std::env::consts::EXE_SUFFIX))
}

fn ev(n: usize) -> EventId {
    EventId::parse(&format!("ev_{n}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_new_events_once_in_order_and_replays_one() {
    let api = MockApi::start().await;
    for n in 1..=3 {
        api.add_event(Event::new(ev(n), EventType::TransactionCaptured));
    }
    let handled: Arc<Mutex<Vec<EventId>>> = Arc::default();
    let log = Arc::clone(&handled);
    let receiver = Receiver::builder()
        .credentials(Credentials::new("hooks", "s3cret").unwrap())
        .fetcher(api.client_builder().build().unwrap())
        .on_every_event("log", move |ctx: EventContext| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(ctx.event().id.clone());
                Ok::<_, HandlerError>(())
            }
        })
        .build()
        .unwrap();
    let served = http_target::serve("hyper", receiver, Duration::from_secs(5));
    let url = format!("http://hooks:s3cret@{}/webhooks", served.addr);
    let command = |args: &[&str]| {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_clear()
            .env("SMART_ROUTER_PROJECT_ID", api.project_id())
            .env("SMART_ROUTER_PRIVATE_KEY", api.private_key())
            .env("SMART_ROUTER_API_URL", api.url())
            .env("FORWARD_TO", &url)
            .env("FORWARD_EVERY_MS", "50")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command
    };
    let mut child = command(&[]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = lines_tx.send(line.unwrap());
        }
    });
    let next = || {
        let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    assert_eq!(next()["forwarding_after"], "after:ev_3");
    for n in 4..=6 {
        api.add_event(Event::new(ev(n), EventType::TransactionCaptured));
    }
    let mut delivered = Vec::new();
    for _ in 4..=6 {
        let line = next();
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["delivered"], true);
        delivered.push(line["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(delivered, ["ev_4", "ev_5", "ev_6"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(*handled.lock().unwrap(), [ev(4), ev(5), ev(6)]);

    let output = command(&["--replay", "ev_2"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(
        (line["event_id"].as_str(), line["status"].as_u64()),
        (Some("ev_2"), Some(200))
    );
    assert_eq!(handled.lock().unwrap().last(), Some(&ev(2)));
}
