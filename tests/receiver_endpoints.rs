//! The ready receiver example's endpoints beside the webhook, run as a
//! user runs it: `/health` reports whether the stores and the inbox
//! answer (503 once its Redis is gone), and `/metrics` serves the crate's
//! metrics in Prometheus text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/example_process.rs"]
mod example_process;

use std::process::Command;
use std::time::Duration;

use example_process::{Running, lines, receiver_command};

/// Starts the example as `command` configures it; its address.
fn start(mut command: Command) -> (Running, String) {
    let mut child = Running(command.spawn().unwrap());
    let stdout = lines(child.0.stdout.take().unwrap());
    let first: serde_json::Value =
        serde_json::from_str(&stdout.recv_timeout(Duration::from_secs(60)).unwrap()).unwrap();
    // Keep reading stdout, so the example never blocks on it.
    std::thread::spawn(move || for _ in stdout {});
    (child, first["listening"].as_str().unwrap().to_owned())
}

/// `curl url`: the status code and the body.
async fn get(url: &str) -> (u16, String) {
    let output = tokio::process::Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .await
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_owned())
}

async fn health(addr: &str) -> (u16, serde_json::Value) {
    let (status, body) = get(&format!("http://{addr}/health")).await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn health_reports_the_stores_and_the_inbox() {
    let api = smart_router_webhooks::testing::MockApi::start().await;
    let (_child, addr) = start(receiver_command(&api));
    let (status, body) = health(&addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "stores": "ok", "inbox": null})
    );

    let mut inbox = receiver_command(&api);
    inbox.env("INBOX", "memory");
    let (_child, addr) = start(inbox);
    let (status, body) = health(&addr).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inbox"], "ok");
}

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

// Two workers: the example is probed while the test's servers run.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_once_the_stores_redis_is_gone() {
    let api = smart_router_webhooks::testing::MockApi::start().await;
    let mut redis = redis_server::RedisServer::start();
    let mut command = receiver_command(&api);
    command.env("REDIS_URL", redis.url());
    let (_child, addr) = start(command);
    assert_eq!(health(&addr).await.0, 200);

    redis.stop();
    let (status, body) = health(&addr).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_ne!(body["stores"], "ok");
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_are_served_in_prometheus_text() {
    use smart_router_webhooks::{Event, EventId, EventType};

    let api = smart_router_webhooks::testing::MockApi::start().await;
    api.add_event(Event::new(
        EventId::parse("ev_scraped").unwrap(),
        EventType::TransactionCaptured,
    ));
    let (_child, addr) = start(receiver_command(&api));
    let body = r#"{"event_id":"ev_scraped","event_type":"transaction.captured"}"#;
    let url = format!("http://{addr}/webhooks/smart-router");
    assert_eq!(example_process::curl(&url, "hooks:p@ss", body).await, "200");
    assert_eq!(
        example_process::curl(&url, "hooks:guess", body).await,
        "401"
    );

    let (status, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200);
    for line in [
        "# TYPE smart_router_webhooks_deliveries_total counter",
        r#"smart_router_webhooks_deliveries_total{outcome="processed",status="200"} 1"#,
        r#"smart_router_webhooks_deliveries_total{outcome="unauthorized",status="401"} 1"#,
        "# HELP smart_router_webhooks_ack_seconds",
        "smart_router_webhooks_ack_seconds_count 2",
        r#"smart_router_webhooks_fetch_seconds_count{result="ok"} 1"#,
        r#"smart_router_webhooks_handler_seconds_count{handler="print-event"} 1"#,
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line}\n{text}");
    }
    assert!(!text.contains("ev_scraped") && !text.contains("p@ss"));
}
