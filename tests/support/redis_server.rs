//! A `redis-server` child process on a free loopback port, for tests that
//! need a server of their own: to stop it, restart it, pause it, or start
//! it with a password.
//!
//! Persistence is off (`--save '' --appendonly no`), so a restarted server
//! starts empty, unless started with [`RedisServer::start_persistent`]
//! (`appendonly yes`, every write synced, in a data directory of its
//! own). The process is killed when the value is dropped.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to get a `redis-server` when there is none.
pub const INSTALL_HINT: &str = "install and start one with \
     `apt-get install -y redis-server && redis-server --daemonize yes`";

/// A `redis-server` this test started, on 127.0.0.1.
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
    data_dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server on a free port with extra arguments (for example
    /// `["--requirepass", "secret"]`).
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_in(args, None)
    }

    /// Starts a server that keeps its data across restarts: an
    /// append-only file synced on every write (`appendfsync always`), so a
    /// SIGKILL loses nothing it acknowledged.
    pub fn start_persistent() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "srw-redis-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("a data directory");
        let dir_arg = dir.to_str().expect("a UTF-8 path").to_owned();
        Self::start_in(
            &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                &dir_arg,
            ],
            Some(dir),
        )
    }

    fn start_in(args: &[&str], data_dir: Option<PathBuf>) -> Self {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = RedisServer {
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            data_dir,
        };
        server.restart();
        server
    }

    /// The port the server listens on, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process ID of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it to
    /// exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if it
    /// runs), and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `redis-server` ({e}): {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("`kill` runs");
        assert!(status.success(), "kill -{signal} failed");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
