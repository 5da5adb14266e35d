//! Running an example as a developer runs it: its binary as a child
//! process, killed when dropped, and its output read line by line with a
//! deadline, so a test awaits a line instead of sleeping.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver as Lines, RecvTimeoutError};
use std::time::{Duration, Instant};

use smart_router_webhooks::testing::MockApi;

/// The binary of `examples/<name>.rs`, built if needed.
pub fn example_binary(name: &str) -> PathBuf {
    // The same features as this test's build, so nothing is rebuilt.
    let mut args = vec!["build", "--quiet", "--example", name];
    if cfg!(all(feature = "redis", feature = "tracing")) {
        args.push("--all-features");
    }
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the {name} example builds");
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap();
    target
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The webhook URL the receiver example is configured with, on `host`:
/// a user `hooks` whose password `p@ss` is percent-encoded.
pub fn webhook_url(host: &str) -> String {
    format!("http://hooks:p%40ss@{host}/webhooks/smart-router")
}

/// `examples/receiver.rs` configured by environment against `api`,
/// listening on a free loopback port, its stdout and stderr piped.
pub fn receiver_command(api: &MockApi) -> Command {
    let mut command = Command::new(example_binary("receiver"));
    command
        .env_clear()
        .env("SMART_ROUTER_WEBHOOK_URL", webhook_url("127.0.0.1"))
        .env("SMART_ROUTER_PROJECT_ID", api.project_id())
        .env("SMART_ROUTER_PRIVATE_KEY", api.private_key())
        .env("SMART_ROUTER_API_URL", api.url())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A child process, killed (and waited for) when dropped, so a failing
/// test leaves nothing running.
pub struct Running(pub Child);

impl Running {
    /// Waits for the process to end, within `within`.
    pub fn exit_within(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "the process ends in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends each line `from` reads to the returned channel, from a thread;
/// the channel disconnects at the end of `from`.
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

/// The next line of `lines` as JSON, within `within`.
pub fn next_json(lines: &Lines<String>, within: Duration) -> serde_json::Value {
    let line = next_line(lines, within, |_| true);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Every line left in `lines` up to the end of the output (the process
/// has ended), within `within`.
pub fn rest(lines: &Lines<String>, within: Duration) -> Vec<String> {
    let until = Instant::now() + within;
    let mut rest = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => rest.push(line),
            Err(RecvTimeoutError::Disconnected) => return rest,
            Err(RecvTimeoutError::Timeout) => panic!("the output ends in time: {rest:?}"),
        }
    }
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
