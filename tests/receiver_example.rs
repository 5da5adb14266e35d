//! `examples/receiver.rs`, run as a user runs it: configured by
//! environment against the mock API, answering a delivery sent with
//! `curl -u user:pass`, printing its JSON line; and refusing a bad
//! configuration with exit code 2 and the variable's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Event, EventId, EventType, Timestamp, Transaction, TransactionId, TransactionStatus,
};

/// The example's binary, built if needed.
fn example_binary() -> PathBuf {
    // The same features as this test's build, so nothing is rebuilt.
    let mut args = vec!["build", "--quiet", "--example", "receiver"];
    if cfg!(all(feature = "redis", feature = "tracing")) {
        args.push("--all-features");
    }
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the receiver example builds");
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap();
    target
        .join("examples")
        .join(format!("receiver{}", std::env::consts::EXE_SUFFIX))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn base_command(api: &MockApi) -> Command {
    let mut command = Command::new(example_binary());
    command
        .env_clear()
        .env(
            "SMART_ROUTER_WEBHOOK_URL",
            "http://hooks:p%40ss@127.0.0.1/webhooks/smart-router",
        )
        .env("SMART_ROUTER_PROJECT_ID", api.project_id())
        .env("SMART_ROUTER_PRIVATE_KEY", api.private_key())
        .env("SMART_ROUTER_API_URL", api.url())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `curl -u user_password -d body url`, as a user would send a delivery;
/// the answer's status code.
async fn curl(url: &str, user_password: &str, body: &str) -> String {
    let output = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            user_password,
        ])
        .args(["-H", "Content-Type: application/json", "-d", body, url])
        .output()
        .await
        .expect("curl is installed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_receiver_example_answers_curl_and_prints_the_event() {
    let api = MockApi::start().await;
    let mut event = Event::new(
        EventId::parse("ev_curl").unwrap(),
        EventType::TransactionCaptured,
    );
    event.fired_at = Some(Timestamp::parse("2026-11-02T10:00:00Z"));
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_curl").unwrap(),
        TransactionStatus::Completed,
    ));
    api.add_event(event);

    let mut child = Running(base_command(&api).spawn().unwrap());
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
    });
    let first: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(Duration::from_secs(60)).unwrap()).unwrap();
    let addr = first["listening"].as_str().unwrap().to_owned();

    let url = format!("http://{addr}/webhooks/smart-router");
    let body = r#"{"event_id":"ev_curl","event_type":"transaction.captured"}"#;
    assert_eq!(curl(&url, "hooks:p@ss", body).await, "200");

    let line: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
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

#[tokio::test]
async fn a_bad_configuration_exits_2_naming_the_variable() {
    let api = MockApi::start().await;
    let cases: [(&str, Option<&str>); 5] = [
        ("SMART_ROUTER_WEBHOOK_URL", None),
        (
            "SMART_ROUTER_WEBHOOK_URL",
            Some("https://shop.example/no-credentials"),
        ),
        ("SMART_ROUTER_PROJECT_ID", None),
        ("LISTEN_ADDR", Some("not-an-address")),
        ("SMART_ROUTER_API_URL", Some("ftp://api.example")),
    ];
    for (variable, value) in cases {
        let mut command = base_command(&api);
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
