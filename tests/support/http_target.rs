//! Sending requests over a real TCP connection, byte for byte, to a
//! receiver served by an adapter, and the servers for each adapter.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use smart_router_webhooks::Receiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::answers::{Answer, PATH, Req, Target};

/// The bytes of `req` on the wire, with a `Content-Length`.
pub fn request_bytes(req: &Req) -> Vec<u8> {
    let mut out = format!("{} {PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\n", req.method).into_bytes();
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", req.body.len()).as_bytes());
    out.extend_from_slice(&req.body);
    out
}

/// Reads one HTTP/1.1 response from `stream`.
pub async fn read_answer<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    head_request: bool,
) -> Answer {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed before the answer's head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let mut rest = buf[head_end..].to_vec();
    let body = if head_request {
        Vec::new()
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len.to_str().unwrap().parse().unwrap();
        while rest.len() < len {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed in the body");
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        read_chunked(stream, rest).await
    } else {
        rest
    };
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: Bytes::from(body),
    }
}

async fn read_chunked<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    mut buf: Vec<u8>,
) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let line_end = buf.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).trim(), 16).unwrap();
        while buf.len() < line_end + 2 + size + 2 {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return body;
        }
    }
}

/// Sends raw bytes on a new connection and reads the answer.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    read_answer(&mut stream, bytes.starts_with(b"HEAD ")).await
}

/// A receiver served over HTTP by an adapter, on loopback.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

impl Target for Served {
    fn send<'a>(&'a self, req: &'a Req) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::timeout(
                Duration::from_secs(20),
                send_raw(self.addr, &request_bytes(req)),
            )
            .await
            .expect("an answer within 20 s")
        })
    }
}

/// The adapters, by name.
pub const ADAPTERS: [&str; 3] = ["axum", "actix", "hyper"];

/// The adapters and every entry point of each: axum's handler to route
/// with `State` besides its router.
pub const ENTRY_POINTS: [&str; 4] = ["axum", "axum-handler", "actix", "hyper"];

fn bound() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    listener
}

/// Serves `receiver` with `adapter` (one of [`ENTRY_POINTS`]), through
/// the adapter's own entry point: every setting is the receiver's.
pub fn serve(adapter: &str, receiver: Receiver) -> Served {
    match adapter {
        "axum" => serve_axum(smart_router_webhooks::adapters::axum::webhook_router(
            PATH, receiver,
        )),
        "axum-handler" => serve_axum(
            axum::Router::new()
                .route(
                    PATH,
                    axum::routing::any(smart_router_webhooks::adapters::axum::webhook),
                )
                .with_state(receiver),
        ),
        "actix" => serve_actix(receiver),
        "hyper" => serve_hyper(receiver),
        other => panic!("no adapter {other}"),
    }
}

fn serve_axum(app: axum::Router) -> Served {
    let listener = bound();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    Served {
        addr,
        stop: Some(Box::new(move || task.abort())),
    }
}

fn serve_hyper(receiver: Receiver) -> Served {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use smart_router_webhooks::adapters::tower::WebhookService;
    let listener = bound();
    let addr = listener.local_addr().unwrap();
    let service = WebhookService::new(receiver);
    let task = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Served {
        addr,
        stop: Some(Box::new(move || task.abort())),
    }
}

fn serve_actix(receiver: Receiver) -> Served {
    use actix_web::{App, HttpServer};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().configure(smart_router_webhooks::adapters::actix::configure(
                    PATH,
                    receiver.clone(),
                ))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
            handle_tx.send(server.handle()).unwrap();
            let _ = server.await;
        });
    });
    let handle = handle_rx.recv().unwrap();
    Served {
        addr,
        stop: Some(Box::new(move || {
            // The stop command is sent at once; nothing waits for the shutdown.
            drop(handle.stop(false));
        })),
    }
}
