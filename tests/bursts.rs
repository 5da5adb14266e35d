//! A burst of new connections at once (a sender's retries after an
//! outage): every connection is queued by the kernel until the server
//! accepts it, none waits for a handshake retransmission. The listen
//! backlog of `std` and tokio (128) dropped the surplus handshakes, and
//! those connections stalled 1 s or more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/example_process.rs"]
mod example_process;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use smart_router_webhooks::adapters::{LISTEN_BACKLOG, bind};
use smart_router_webhooks::testing::MockApi;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Far above a loopback handshake (microseconds), far below what a
/// dropped handshake waits for (the client's retransmissions at 1 s,
/// 3 s, 7 s…, none of which is answered while nothing is accepted).
const CONNECT_BOUND: Duration = Duration::from_secs(5);

/// Opens `n` connections to `addr` at once; each within `CONNECT_BOUND`.
async fn connect_burst(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        set.spawn(tokio::time::timeout(
            CONNECT_BOUND,
            TcpStream::connect(addr),
        ));
    }
    let mut streams = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        let connected = joined.unwrap().expect("the kernel completes the handshake");
        streams.push(connected.unwrap());
    }
    streams
}

#[tokio::test]
async fn a_listener_from_bind_queues_a_burst_before_accepting_any() {
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    // Nothing is accepted while the burst connects: the backlog holds it.
    let burst = LISTEN_BACKLOG as usize - 24;
    let streams = connect_burst(addr, burst).await;
    assert_eq!(streams.len(), burst);
    for _ in 0..burst {
        tokio::time::timeout(CONNECT_BOUND, listener.accept())
            .await
            .expect("every queued connection is accepted")
            .unwrap();
    }
}

/// `kill -<signal> <pid>`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Sends a delivery with wrong credentials on `stream` and reads the whole
/// answer (the request asks to close the connection after it).
async fn refused_delivery(mut stream: TcpStream) -> String {
    stream
        .write_all(
            b"POST /webhooks/smart-router HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Authorization: Basic d3Jvbmc6d3Jvbmc=\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

// Two workers: the example's output is read on threads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ready_receiver_answers_a_burst_of_500_connections_made_while_it_is_paused() {
    let api = MockApi::start().await;
    let mut child =
        example_process::Running(example_process::receiver_command(&api).spawn().unwrap());
    let stdout = example_process::lines(child.0.stdout.take().unwrap());
    let first: serde_json::Value =
        serde_json::from_str(&stdout.recv_timeout(Duration::from_secs(60)).unwrap()).unwrap();
    let addr: SocketAddr = first["listening"].as_str().unwrap().parse().unwrap();

    // Paused (SIGSTOP), the receiver accepts nothing: only the kernel's
    // backlog takes the burst.
    let pid = child.0.id();
    signal(pid, "-STOP");
    let connected = tokio::time::timeout(CONNECT_BOUND * 2, connect_burst(addr, 500)).await;
    signal(pid, "-CONT");
    let streams = connected.expect("the burst connects while the receiver is paused");

    let mut answers = JoinSet::new();
    for stream in streams {
        answers.spawn(refused_delivery(stream));
    }
    let mut answered = 0;
    while let Some(answer) = answers.join_next().await {
        let answer = answer.unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        answered += 1;
    }
    assert_eq!(answered, 500);
}
