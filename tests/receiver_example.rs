//! `examples/receiver.rs`, run as a user runs it: configured by
//! environment against the mock API, answering a delivery sent with
//! `curl -u user:pass`, printing its JSON line; with `RECONCILE_EVERY`,
//! handling an event that was never delivered and stopping gracefully on
//! SIGTERM; and refusing a bad configuration with exit code 2 and the
//! variable's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/example_process.rs"]
mod example_process;

use std::process::Command;
use std::time::Duration;

use example_process::{Running, curl, lines, next_json, next_line, receiver_command, rest};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Event, EventId, EventType, Timestamp, Transaction, TransactionId, TransactionStatus,
};

/// A capture event `ev_<name>` of transaction `tr_<name>`, fired at `fired`.
fn captured(id: &str, fired: &str) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), EventType::TransactionCaptured);
    event.fired_at = Some(Timestamp::lenient(fired));
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse(&id.replacen("ev_", "tr_", 1)).unwrap(),
        TransactionStatus::Completed,
    ));
    event
}

#[tokio::test]
async fn the_receiver_example_answers_curl_and_prints_the_event() {
    let api = MockApi::start().await;
    api.add_event(captured("ev_curl", "2026-11-02T10:00:00Z"));

    let mut child = Running(receiver_command(&api).spawn().unwrap());
    let rx = lines(child.0.stdout.take().unwrap());
    let first = next_json(&rx, Duration::from_secs(60));
    let addr = first["listening"].as_str().unwrap().to_owned();

    let url = format!("http://{addr}/webhooks/smart-router");
    let body = r#"{"event_id":"ev_curl","event_type":"transaction.captured"}"#;
    assert_eq!(curl(&url, "hooks:p@ss", body).await, "200");

    let line = next_json(&rx, Duration::from_secs(30));
    assert_eq!(
        line,
        serde_json::json!({
            "event_id": "ev_curl",
            "event_type": "transaction.captured",
            "transaction_id": "tr_curl",
            "status": "completed",
            "transition": {"from": null, "to": "completed", "expected": true},
            "stale": false,
        })
    );
    assert_eq!(api.requests("/events/ev_curl"), 1);

    // Wrong credentials: 401, and no line.
    assert_eq!(curl(&url, "hooks:wrong", body).await, "401");
}

// Two workers: the mock API keeps answering the example while this test
// blocks on the example's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reconcile_every_an_event_never_delivered_is_handled_once() {
    let api = MockApi::start().await;
    api.add_event(captured("ev_before", "2026-11-02T09:00:00Z"));

    let mut child = Running(
        receiver_command(&api)
            .env("RECONCILE_EVERY", "1s")
            .spawn()
            .unwrap(),
    );
    let stdout = lines(child.0.stdout.take().unwrap());
    let stderr = lines(child.0.stderr.take().unwrap());
    let first = next_json(&stdout, Duration::from_secs(60));
    let addr = first["listening"].as_str().unwrap().to_owned();
    // The first run records where "now" is: after the event already there.
    let run = next_line(&stderr, Duration::from_secs(30), |l| {
        l.starts_with("reconciler: run finished")
    });
    assert!(run.contains("cursor after:ev_before"), "{run}");

    // One event is delivered by curl, the next one never is.
    api.add_event(captured("ev_delivered", "2026-11-02T10:00:00Z"));
    let url = format!("http://{addr}/webhooks/smart-router");
    let body = r#"{"event_id":"ev_delivered","event_type":"transaction.captured"}"#;
    assert_eq!(curl(&url, "hooks:p@ss", body).await, "200");
    api.add_event(captured("ev_missed", "2026-11-02T10:05:00Z"));

    // A run that reaches the missed event handles it; the delivered one
    // is not handled again.
    // (The handler's line on stdout and the run's line on stderr come
    // through two pipes: each is awaited, neither assumed already read.)
    next_line(&stderr, Duration::from_secs(30), |l| {
        l.starts_with("reconciler: run finished") && l.contains("cursor after:ev_missed")
    });
    let handled_id = |line: serde_json::Value| line["event_id"].as_str().unwrap().to_owned();
    let mut handled: Vec<String> = (0..2)
        .map(|_| handled_id(next_json(&stdout, Duration::from_secs(30))))
        .collect();
    handled.sort();
    assert_eq!(handled, ["ev_delivered", "ev_missed"], "never ev_before");

    // SIGTERM: the server and the reconciler stop, exit code 0.
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    next_line(&stderr, Duration::from_secs(30), |l| {
        l.starts_with("reconciler: stopped")
    });
    let status = child.exit_within(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "the example stops after SIGTERM");
    // The whole output is in: no event was handled twice.
    let again = rest(&stdout, Duration::from_secs(30));
    assert!(again.is_empty(), "each event handled once: {again:?}");
}

#[tokio::test]
async fn a_bad_configuration_exits_2_naming_the_variable() {
    let api = MockApi::start().await;
    let cases: [(&str, Option<&str>); 8] = [
        ("SMART_ROUTER_WEBHOOK_URL", None),
        (
            "SMART_ROUTER_WEBHOOK_URL",
            Some("https://shop.example/no-credentials"),
        ),
        ("SMART_ROUTER_PROJECT_ID", None),
        ("LISTEN_ADDR", Some("not-an-address")),
        ("SMART_ROUTER_API_URL", Some("ftp://api.example")),
        ("RECONCILE_EVERY", Some("60")),
        ("RECONCILE_EVERY", Some("0s")),
        ("RECONCILE_EVERY", Some("soon")),
    ];
    for (variable, value) in cases {
        let mut command = receiver_command(&api);
        match value {
            Some(value) => command.env(variable, value),
            None => command.env_remove(variable),
        };
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_inbox_memory_a_delivery_is_answered_202_and_processed_by_a_worker() {
    let api = MockApi::start().await;
    api.add_event(captured("ev_queued", "2026-11-02T10:00:00Z"));

    let mut child = Running(
        receiver_command(&api)
            .env("INBOX", "memory")
            .env("WORKERS", "2")
            .spawn()
            .unwrap(),
    );
    let stdout = lines(child.0.stdout.take().unwrap());
    let stderr = lines(child.0.stderr.take().unwrap());
    let first = next_json(&stdout, Duration::from_secs(60));
    let addr = first["listening"].as_str().unwrap().to_owned();
    let url = format!("http://{addr}/webhooks/smart-router");
    let body = r#"{"event_id":"ev_queued","event_type":"transaction.captured"}"#;
    assert_eq!(curl(&url, "hooks:p@ss", body).await, "202");
    let line = next_json(&stdout, Duration::from_secs(30));
    assert_eq!(line["event_id"], "ev_queued");
    next_line(&stderr, Duration::from_secs(30), |l| {
        l.starts_with("worker: ev_queued processed")
    });
    assert_eq!(curl(&url, "hooks:wrong", body).await, "401");

    // A bad count is a configuration error naming the variable.
    let output = receiver_command(&api)
        .env("INBOX", "memory")
        .env("WORKERS", "many")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("WORKERS"));
}
