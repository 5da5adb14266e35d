//! One conformance suite for every adapter: each is started as a real
//! server on loopback and driven over TCP, through every row of the answer
//! table (SPEC §5) and the HTTP-level cases (methods, chunked bodies,
//! content types, keep-alive).
#![cfg(all(
    feature = "testing",
    feature = "reqwest",
    feature = "axum",
    feature = "actix",
    feature = "tower"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;

use std::time::Duration;

use answers::{BODY_LIMIT, PATH, Req, Setup, World, in_progress, run_case, spec_cases};
use http_target::{ADAPTERS, read_answer, request_bytes, send_raw, serve};
use smart_router_webhooks::adapters::DEFAULT_READ_TIMEOUT;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_every_row_of_the_answer_table() {
    for adapter in ADAPTERS {
        for case in spec_cases() {
            let name = format!("{adapter}: {}", case.name);
            let case = answers::Case {
                name: Box::leak(name.into_boxed_str()),
                ..case
            };
            run_case(&case, |receiver| {
                serve(adapter, receiver, DEFAULT_READ_TIMEOUT)
            })
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_409_for_an_event_in_progress() {
    for adapter in ADAPTERS {
        in_progress(|receiver| serve(adapter, receiver, DEFAULT_READ_TIMEOUT)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_refuses_head_with_405() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
        let answer = send_raw(
            served.addr,
            &request_bytes(&Req::delivery("ev_ok").method("HEAD")),
        )
        .await;
        assert_eq!(answer.status, 405, "{adapter}");
        assert_eq!(answer.headers["allow"], "POST", "{adapter}");
        assert_eq!(world.fetches("ev_ok"), 0, "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_accepts_any_content_type() {
    for adapter in ADAPTERS {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/json; charset=utf-8"),
        ] {
            let world = World::new(Setup::Default).await;
            let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
            let mut req = Req::delivery("ev_ok").without("content-type");
            if let Some(content_type) = content_type {
                req = req.header("content-type", content_type);
            }
            let answer = send_raw(served.addr, &request_bytes(&req)).await;
            assert_eq!(answer.status, 200, "{adapter} {content_type:?}");
            assert_eq!(world.fetches("ev_ok"), 1, "{adapter} {content_type:?}");
        }
    }
}

/// The head of a request with a chunked body (no `Content-Length`).
fn chunked_head(req: &Req) -> Vec<u8> {
    let mut out =
        format!("POST {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n")
            .into_bytes();
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_refuses_a_chunked_body_over_the_limit_without_reading_it_all() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
        let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        stream
            .write_all(&chunked_head(&Req::delivery("ev_ok")))
            .await
            .unwrap();
        // Chunks of 256 bytes, far past the limit; the answer must come
        // before the sender is done (it never is: no last chunk is sent).
        let chunk = format!("100\r\n{}\r\n", "x".repeat(256));
        for _ in 0..(BODY_LIMIT / 256 + 4) {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server closed the connection: it stopped reading
            }
        }
        let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut stream, false))
            .await
            .expect("answered without the end of the body");
        assert_eq!(answer.status, 413, "{adapter}");
        assert_eq!(world.fetches("ev_ok"), 0, "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_accepts_a_chunked_body_within_the_limit() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
        let req = Req::delivery("ev_ok");
        let mut bytes = chunked_head(&req);
        for part in req.body.chunks(7) {
            bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            bytes.extend_from_slice(part);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        let answer = send_raw(served.addr, &bytes).await;
        assert_eq!(answer.status, 200, "{adapter}");
        assert_eq!(world.runs()["captured"], ["ev_ok"], "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_refuses_a_declared_length_over_the_limit_before_the_body() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
        let mut req = Req::delivery("ev_ok");
        req.body = vec![b' '; BODY_LIMIT * 100];
        let bytes = request_bytes(&req);
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        stream.write_all(&bytes[..head_end]).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut stream, false))
            .await
            .expect("answered on the head alone");
        assert_eq!(answer.status, 413, "{adapter}");
        assert_eq!(world.fetches("ev_ok"), 0, "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_two_deliveries_on_one_keep_alive_connection() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), DEFAULT_READ_TIMEOUT);
        let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        stream
            .write_all(&request_bytes(&Req::delivery("ev_ok")))
            .await
            .unwrap();
        let first = read_answer(&mut stream, false).await;
        stream
            .write_all(&request_bytes(&Req::delivery("ev_dup")))
            .await
            .unwrap();
        let second = read_answer(&mut stream, false).await;
        assert_eq!(
            (first.status.as_u16(), second.status.as_u16()),
            (200, 200),
            "{adapter}"
        );
        assert_eq!(world.runs()["captured"], ["ev_ok", "ev_dup"], "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_408_to_a_body_sent_too_slowly_and_stays_responsive() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone(), Duration::from_millis(300));
        let bytes = request_bytes(&Req::delivery("ev_slowloris"));
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut slow = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        slow.write_all(&bytes[..head_end]).await.unwrap();
        let trickle = tokio::spawn(async move {
            for byte in &bytes[head_end..] {
                if slow.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            slow
        });
        // Meanwhile another client is answered at once.
        let other = send_raw(served.addr, &request_bytes(&Req::delivery("ev_ok"))).await;
        assert_eq!(other.status, 200, "{adapter}");
        let mut slow = trickle.await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut slow, false))
            .await
            .expect("the slow client is answered");
        assert_eq!(answer.status, 408, "{adapter}");
        assert_eq!(world.fetches("ev_slowloris"), 0, "{adapter}");
    }
}
