//! The ready receiver example (`examples/receiver.rs`) run as a user runs
//! it: built with this test's features, configured by environment against
//! the mock API, its output read line by line. Shared by the tests that
//! drive it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver as Lines;
use std::time::{Duration, Instant};

use smart_router_webhooks::testing::MockApi;

/// The example's binary, built if needed.
pub fn example_binary() -> PathBuf {
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

pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn base_command(api: &MockApi) -> Command {
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
pub async fn curl(url: &str, user_password: &str, body: &str) -> String {
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

/// Sends each line `from` reads to the returned channel, from a thread.
pub fn lines(from: impl std::io::Read + Send + 'static) -> Lines<String> {
    let mut from = BufReader::new(from);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while from.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(std::mem::take(&mut line));
        }
    });
    rx
}

/// The next line of `lines` for which `wanted` holds, within `within`.
pub fn next_line(lines: &Lines<String>, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("the line comes in time");
        if wanted(&line) {
            return line;
        }
    }
}
