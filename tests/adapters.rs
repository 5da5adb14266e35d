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
use http_target::{ADAPTERS, ENTRY_POINTS, read_answer, request_bytes, send_raw, serve};
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
            run_case(&case, |receiver| serve(adapter, receiver)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_409_for_an_event_in_progress() {
    for adapter in ADAPTERS {
        in_progress(|receiver| serve(adapter, receiver)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_refuses_head_with_405() {
    for adapter in ADAPTERS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone());
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
            let served = serve(adapter, world.receiver.clone());
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
        let served = serve(adapter, world.receiver.clone());
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
        let served = serve(adapter, world.receiver.clone());
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
        let served = serve(adapter, world.receiver.clone());
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
        let served = serve(adapter, world.receiver.clone());
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

/// Sends the head of `req` at once, then its body a byte every 100 ms
/// until the answer comes, and reads the answer.
async fn trickle(addr: std::net::SocketAddr, req: &Req) -> answers::Answer {
    let bytes = request_bytes(req);
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (mut read, mut write) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&bytes[..head_end]).await.unwrap();
        for byte in &bytes[head_end..] {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        write
    });
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut read, false))
        .await
        .expect("the slow client is answered");
    writer.abort();
    answer
}

/// Every entry point of every adapter waits for a body as long as the
/// receiver's read timeout says, and no longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_answers_408_to_a_body_sent_too_slowly_and_stays_responsive() {
    for adapter in ENTRY_POINTS {
        let world = World::new(Setup::Default).await;
        let served = serve(adapter, world.receiver.clone());
        let addr = served.addr;
        let trickle = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let answer = trickle(addr, &Req::delivery("ev_slowloris")).await;
            (answer, started.elapsed())
        });
        // Meanwhile another client is answered at once.
        let other = send_raw(served.addr, &request_bytes(&Req::delivery("ev_ok"))).await;
        assert_eq!(other.status, 200, "{adapter}");
        let (answer, elapsed) = trickle.await.unwrap();
        assert_eq!(answer.status, 408, "{adapter}");
        // The body takes over 5 s to send; the receiver's timeout is
        // 500 ms, the adapters' default 10 s.
        assert!(elapsed >= answers::READ_TIMEOUT, "{adapter}: {elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{adapter}: {elapsed:?}");
        assert_eq!(world.fetches("ev_slowloris"), 0, "{adapter}");
    }
}

/// Every request an adapter refuses is refused by the receiver: the
/// observer (and so tracing and metrics) sees each one, with the answer
/// the client got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_reports_every_refusal_to_the_observer() {
    for adapter in ENTRY_POINTS {
        let world = world(|b| {
            b.body_limit(BODY_LIMIT)
                .read_timeout(Duration::from_millis(300))
        })
        .await;
        let served = serve(adapter, world.receiver.clone());
        let mut answered = Vec::new();
        let mut oversized = Req::delivery("ev_1");
        oversized.body = vec![b' '; BODY_LIMIT * 100];
        let bytes = request_bytes(&oversized);
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for wire in [
            request_bytes(&Req::delivery("ev_1").method("GET")),
            request_bytes(&Req::delivery("ev_1").without("authorization")),
            request_bytes(&Req::post("{not json")),
            bytes[..head_end].to_vec(),
        ] {
            let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
            stream.write_all(&wire).await.unwrap();
            let answer =
                tokio::time::timeout(Duration::from_secs(10), read_answer(&mut stream, false))
                    .await
                    .expect("an answer");
            answered.push(answer.status.as_u16());
        }
        answered.push(
            trickle(served.addr, &Req::delivery("ev_1"))
                .await
                .status
                .as_u16(),
        );
        assert_eq!(answered, [405, 401, 400, 413, 408], "{adapter}");
        let seen = world.wait_outcomes(answered.len()).await;
        assert_eq!(
            seen,
            [
                (Outcome::MethodNotAllowed, 405),
                (Outcome::Unauthorized, 401),
                (Outcome::InvalidPayload, 400),
                (Outcome::PayloadTooLarge, 413),
                (Outcome::BodyTimeout, 408),
            ],
            "{adapter}"
        );
        assert_eq!(world.api.requests("/events/ev_1"), 0, "{adapter}");
    }
}

/// Processing that survives the request: a world of one event type whose
/// handlers are given, served by an adapter, with every report observed.
mod survival {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use smart_router_webhooks::ReceiverBuilder;
    use smart_router_webhooks::testing::MockApi;
    use smart_router_webhooks::{
        Credentials, DeliveryReport, Event, EventId, EventType, Outcome, Receiver, Transaction,
        TransactionId, TransactionStatus,
    };

    use super::answers::{PASSWORD, USER};

    /// What the observer saw of one delivery.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Seen {
        pub outcome: Outcome,
        pub status: u16,
        pub detached: bool,
        pub panicked: Vec<String>,
    }

    pub struct World {
        pub api: MockApi,
        pub receiver: Receiver,
        pub seen: Arc<Mutex<Vec<Seen>>>,
    }

    /// A counter of a handler's starts and ends.
    #[derive(Clone, Default)]
    pub struct Runs {
        pub started: Arc<AtomicUsize>,
        pub finished: Arc<AtomicUsize>,
    }

    impl Runs {
        pub fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }
        pub fn finished(&self) -> usize {
            self.finished.load(Ordering::SeqCst)
        }
    }

    /// A world serving `ev_1` (captured), its receiver built by `handlers`.
    pub async fn world(handlers: impl FnOnce(ReceiverBuilder) -> ReceiverBuilder) -> World {
        let api = MockApi::start().await;
        let mut event = Event::new(
            EventId::parse("ev_1").unwrap(),
            EventType::TransactionCaptured,
        );
        event.data.transaction = Some(Transaction::new(
            TransactionId::parse("tr_1").unwrap(),
            TransactionStatus::Completed,
        ));
        api.add_event(event);
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let observed = seen.clone();
        let builder = Receiver::builder()
            .credentials(Credentials::new(USER, PASSWORD).unwrap())
            .fetcher(api.client_builder().build().unwrap())
            .observer(move |report: &DeliveryReport| {
                observed.lock().unwrap().push(Seen {
                    outcome: report.outcome,
                    status: report.status.as_u16(),
                    detached: report.detached,
                    panicked: report
                        .failures()
                        .filter(|(_, e)| e.is_panic())
                        .map(|(name, _)| name.to_owned())
                        .collect(),
                });
            });
        World {
            api,
            receiver: handlers(builder).build().unwrap(),
            seen,
        }
    }

    impl World {
        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        /// Waits (up to 10 s) until the observer saw `count` reports.
        pub async fn wait_seen(&self, count: usize) -> Vec<Seen> {
            for _ in 0..200 {
                if self.seen.lock().unwrap().len() >= count {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.seen()
        }

        /// Waits (up to 10 s) for `count` reports, and gives each one's
        /// outcome and status.
        pub async fn wait_outcomes(&self, count: usize) -> Vec<(Outcome, u16)> {
            let seen = self.wait_seen(count).await;
            seen.into_iter().map(|s| (s.outcome, s.status)).collect()
        }
    }
}

use smart_router_webhooks::{EventContext, EventId, EventType, HandlerError, Outcome};
use survival::{Runs, world};

/// A handler that counts its runs and takes `duration`; it panics on its
/// first run when `panics` says so.
fn timed(runs: &Runs, duration: Duration, panics: bool) -> impl smart_router_webhooks::Handler {
    let runs = runs.clone();
    move |_: EventContext| {
        let runs = runs.clone();
        async move {
            let run = runs
                .started
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(duration).await;
            if panics && run == 0 {
                panic!("the ledger client panicked");
            }
            runs.finished
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, HandlerError>(())
        }
    }
}

/// A world whose `ev_1` goes to `first` (named `name`), then to a quick
/// handler `after`.
async fn world_then_after(
    name: &str,
    first: impl smart_router_webhooks::Handler,
    after: &Runs,
) -> survival::World {
    let after = timed(after, Duration::ZERO, false);
    world(|b| {
        b.on(EventType::TransactionCaptured, name, first).on(
            EventType::TransactionCaptured,
            "after",
            after,
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_finishes_the_handlers_of_a_sender_that_hung_up() {
    for adapter in ADAPTERS {
        let (slow, after) = (Runs::default(), Runs::default());
        let world = world_then_after(
            "slow",
            timed(&slow, Duration::from_millis(600), false),
            &after,
        )
        .await;
        let served = serve(adapter, world.receiver.clone());
        let mut stream = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        stream
            .write_all(&request_bytes(&Req::delivery("ev_1")))
            .await
            .unwrap();
        while slow.started() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(stream); // the sender hangs up mid-handler

        // The report reaches the observer (marked detached where the
        // framework dropped the request's future; actix does not).
        let seen = world.wait_outcomes(1).await;
        assert_eq!(seen, [(Outcome::Processed, 200)], "{adapter}");
        assert_eq!((slow.finished(), after.finished()), (1, 1), "{adapter}");
        let answer = send_raw(served.addr, &request_bytes(&Req::delivery("ev_1"))).await;
        assert_eq!(answer.status, 200, "{adapter}");
        assert_eq!(answer.body, "duplicate", "{adapter}");
        assert_eq!((slow.started(), after.started()), (1, 1), "{adapter}");
        assert_eq!(world.api.requests("/events/ev_1"), 1, "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_delivers_a_slow_handler_to_an_impatient_sender_once() {
    for adapter in ADAPTERS {
        let slow = Runs::default();
        let world = world(|b| {
            b.on(
                EventType::TransactionCaptured,
                "slow",
                timed(&slow, Duration::from_secs(3), false),
            )
        })
        .await;
        let served = serve(adapter, world.receiver.clone());
        let url = format!(
            "http://{}:{}@{}{}",
            answers::USER,
            "p%40ss%3Aw0rd",
            served.addr,
            answers::PATH
        );
        let sender = smart_router_webhooks::testing::Sender::new(&url)
            .unwrap()
            .timeout(Duration::from_secs(1))
            .backoff(Duration::from_millis(200), 8);
        let delivery = sender.deliver(&EventId::parse("ev_1").unwrap(), None).await;
        assert!(delivery.delivered(), "{adapter}: {:?}", delivery.attempts);
        assert!(delivery.attempts.len() > 1, "{adapter}: retried");
        assert_eq!((slow.started(), slow.finished()), (1, 1), "{adapter}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_survives_a_panicking_handler() {
    for adapter in ADAPTERS {
        let (boom, after) = (Runs::default(), Runs::default());
        let world = world_then_after("boom", timed(&boom, Duration::ZERO, true), &after).await;
        let served = serve(adapter, world.receiver.clone());
        let first = send_raw(served.addr, &request_bytes(&Req::delivery("ev_1"))).await;
        assert_eq!(first.status, 500, "{adapter}: a retryable failure");
        assert_eq!(after.finished(), 1, "{adapter}: the others ran");
        let seen = world.wait_seen(1).await;
        assert_eq!(seen[0].panicked, ["boom"], "{adapter}");
        // The claim was settled: the retry is not refused as in progress.
        let second = send_raw(served.addr, &request_bytes(&Req::delivery("ev_1"))).await;
        assert_eq!(second.status, 200, "{adapter}");
        assert_eq!((boom.started(), boom.finished()), (2, 1), "{adapter}");
        assert_eq!(after.started(), 1, "{adapter}: not run again");
    }
}

/// A request the adapter cannot translate to `http` types byte for byte
/// (here a header name `http` refuses, which actix's own types accept, as
/// a middleware may add) is still answered by the receiver: reported to
/// the observer, never refused by the adapter on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_hands_a_request_it_cannot_translate_to_the_receiver() {
    use actix_web::{App, test};
    let world = world(|b| {
        b.on(
            EventType::TransactionCaptured,
            "captured",
            |_: EventContext| async { Ok::<_, HandlerError>(()) },
        )
    })
    .await;
    let app = test::init_service(App::new().configure(
        smart_router_webhooks::adapters::actix::configure(answers::PATH, world.receiver.clone()),
    ))
    .await;
    let delivery = Req::delivery("ev_1");
    let mut request = test::TestRequest::post().uri(answers::PATH);
    for (name, value) in &delivery.headers {
        request = request.insert_header((name.as_str(), value.as_slice()));
    }
    let request = request
        .insert_header(("x-\"odd\"", "1"))
        .set_payload(delivery.body.clone())
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 200);
    let seen = world.wait_outcomes(1).await;
    assert_eq!(seen, [(Outcome::Processed, 200)]);
}
