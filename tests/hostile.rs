//! The hostile-input catalogue: requests an attacker or a broken client
//! may send, each run through every adapter served on loopback, with the
//! status it must get and the guarantee that it caused no call to the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/http_target.rs"]
mod http_target;

use std::time::Duration;

use answers::{PASSWORD, Req, Setup, USER, World};
use base64::Engine as _;
use http_target::{ADAPTERS, read_answer, request_bytes, serve};
use tokio::io::AsyncWriteExt;

/// How a hostile request is put on the wire.
enum Wire {
    /// The request as `Req` builds it, with a true `Content-Length`.
    Plain(Req),
    /// Exact bytes, sent at once.
    Raw(Vec<u8>),
    /// Exact bytes, then the connection stays open without more.
    RawThenWait(Vec<u8>),
    /// The head, then the body one byte every 50 ms.
    Trickle(Req),
}

struct Hostile {
    name: String,
    wire: Wire,
    /// The statuses it may get (servers differ on protocol errors).
    statuses: &'static [u16],
    setup: Setup,
}

fn basic(raw: &[u8]) -> Vec<u8> {
    let mut value = b"Basic ".to_vec();
    value.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(raw)
            .as_bytes(),
    );
    value
}

fn body_case(name: &str, body: impl Into<Vec<u8>>, statuses: &'static [u16]) -> Hostile {
    Hostile {
        name: name.into(),
        wire: Wire::Plain(Req::post(body)),
        statuses,
        setup: Setup::DefaultBodyLimit,
    }
}

fn auth_case(name: &str, value: Option<Vec<u8>>, statuses: &'static [u16]) -> Hostile {
    let req = Req::delivery("ev_ok").without("authorization");
    let req = match value {
        Some(value) => req.header("authorization", value),
        None => req,
    };
    Hostile {
        name: name.into(),
        wire: Wire::Plain(req),
        statuses,
        setup: Setup::Default,
    }
}

/// The head of a valid delivery of `ev_ok` with extra raw header lines.
fn raw_head(extra: &str) -> Vec<u8> {
    let auth = String::from_utf8(basic(format!("{USER}:{PASSWORD}").as_bytes())).unwrap();
    format!(
        "POST {} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: {auth}\r\n{extra}\r\n",
        answers::PATH
    )
    .into_bytes()
}

const BAD_REQUEST: &[u16] = &[400];
const UNAUTHORIZED: &[u16] = &[401];
const TOO_LARGE: &[u16] = &[413];
const NOT_ALLOWED: &[u16] = &[405];

fn catalogue() -> Vec<Hostile> {
    let valid = format!("{USER}:{PASSWORD}");
    let deep = format!(
        r#"{{"event_id":{}"ev_ok"{}}}"#,
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let mut cases = vec![
        // Bodies.
        body_case(
            "body over the limit, with Content-Length",
            vec![b' '; 70 * 1024],
            TOO_LARGE,
        ),
        Hostile {
            name: "body over the limit, chunked without Content-Length".into(),
            wire: Wire::Raw({
                let mut bytes = raw_head("transfer-encoding: chunked\r\n");
                for _ in 0..80 {
                    bytes.extend_from_slice(format!("400\r\n{}\r\n", " ".repeat(1024)).as_bytes());
                }
                bytes.extend_from_slice(b"0\r\n\r\n");
                bytes
            }),
            statuses: TOO_LARGE,
            setup: Setup::DefaultBodyLimit,
        },
        Hostile {
            name: "Content-Length shorter than the body (the rest is another request)".into(),
            wire: Wire::Raw({
                let mut bytes = raw_head("content-length: 12\r\n");
                bytes.extend_from_slice(br#"{"event_id":"ev_ok"}"#);
                bytes
            }),
            statuses: BAD_REQUEST,
            setup: Setup::Default,
        },
        Hostile {
            name: "Content-Length longer than the body (the client stops sending)".into(),
            wire: Wire::RawThenWait({
                let mut bytes = raw_head("content-length: 400\r\n");
                bytes.extend_from_slice(br#"{"event_id":"ev_ok"}"#);
                bytes
            }),
            statuses: &[408],
            setup: Setup::Default,
        },
        Hostile {
            name: "Content-Length and chunked together".into(),
            wire: Wire::Raw({
                let mut bytes = raw_head("content-length: 5\r\ntransfer-encoding: chunked\r\n");
                bytes.extend_from_slice(b"14\r\n{\"event_id\":\"ev_ok\"}\r\n0\r\n\r\n");
                bytes
            }),
            // Refused as ambiguous, or read as chunked (then the body is a
            // valid payload): either way no fetch of a smuggled request.
            statuses: &[400, 200],
            setup: Setup::Default,
        },
        Hostile {
            name: "invalid chunk size".into(),
            wire: Wire::Raw({
                let mut bytes = raw_head("transfer-encoding: chunked\r\n");
                bytes.extend_from_slice(b"zz\r\nhello\r\n0\r\n\r\n");
                bytes
            }),
            statuses: BAD_REQUEST,
            setup: Setup::Default,
        },
        Hostile {
            name: "body sent byte by byte".into(),
            wire: Wire::Trickle(Req::delivery("ev_ok")),
            statuses: &[408],
            setup: Setup::Default,
        },
        body_case("empty body", "", BAD_REQUEST),
        body_case("deeply nested JSON", deep, BAD_REQUEST),
        body_case(
            "duplicate event_id keys",
            r#"{"event_id":"ev_ok","event_id":"ev_other"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with ../",
            r#"{"event_id":"../transactions/tr_1"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with a slash",
            r#"{"event_id":"ev_ok/webhooks"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with a query",
            r#"{"event_id":"ev_ok?expand=all"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id percent-encoded",
            r#"{"event_id":"ev_%2e%2e"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with NUL",
            r#"{"event_id":"ev_ok\u0000"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with a Cyrillic look-alike",
            "{\"event_id\":\"\u{0435}v_ok\"}",
            BAD_REQUEST,
        ),
        body_case(
            "event_id with a full-width letter",
            "{\"event_id\":\"ev_\u{ff4f}k\"}",
            BAD_REQUEST,
        ),
        body_case(
            "event_id of 10 KB",
            format!(r#"{{"event_id":"ev_{}"}}"#, "a".repeat(10 * 1024)),
            BAD_REQUEST,
        ),
        body_case("event_id empty", r#"{"event_id":""}"#, BAD_REQUEST),
        body_case(
            "event_id with spaces",
            r#"{"event_id":"ev ok"}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_id with a newline",
            r#"{"event_id":"ev_ok\n"}"#,
            BAD_REQUEST,
        ),
        body_case("event_id a number", r#"{"event_id":12345}"#, BAD_REQUEST),
        body_case(
            "event_id an array",
            r#"{"event_id":["ev_ok"]}"#,
            BAD_REQUEST,
        ),
        body_case("event_id null", r#"{"event_id":null}"#, BAD_REQUEST),
        body_case(
            "event_id an object",
            r#"{"event_id":{"id":"ev_ok"}}"#,
            BAD_REQUEST,
        ),
        body_case(
            "event_type a number",
            r#"{"event_id":"ev_ok","event_type":7}"#,
            BAD_REQUEST,
        ),
        body_case("no event_id", r#"{"id":"ev_ok"}"#, BAD_REQUEST),
        body_case(
            "non-UTF-8 body",
            b"{\"event_id\":\"ev_\xff\xfe\"}".to_vec(),
            BAD_REQUEST,
        ),
        body_case("a JSON string", r#""ev_ok""#, BAD_REQUEST),
        body_case("a JSON array", r#"["ev_ok"]"#, BAD_REQUEST),
        body_case("JSON null", "null", BAD_REQUEST),
        body_case(
            "a byte-order mark first",
            "\u{feff}{\"event_id\":\"ev_ok\"}",
            BAD_REQUEST,
        ),
        body_case(
            "trailing garbage",
            r#"{"event_id":"ev_ok"}{"event_id":"ev_ok"}"#,
            BAD_REQUEST,
        ),
        body_case("form-encoded body", "event_id=ev_ok", BAD_REQUEST),
        // Credentials.
        auth_case("Authorization missing", None, UNAUTHORIZED),
        auth_case("Authorization empty", Some(Vec::new()), UNAUTHORIZED),
        auth_case(
            "Bearer token",
            Some(b"Bearer aG9va3M6cEBzczp3MHJk".to_vec()),
            UNAUTHORIZED,
        ),
        auth_case(
            "Basic with bad base64",
            Some(b"Basic !!!not-base64!!!".to_vec()),
            UNAUTHORIZED,
        ),
        auth_case(
            "Basic without a colon",
            Some(basic(USER.as_bytes())),
            UNAUTHORIZED,
        ),
        auth_case(
            "Basic with an empty password",
            Some(basic(format!("{USER}:").as_bytes())),
            UNAUTHORIZED,
        ),
        auth_case(
            "Basic with non-UTF-8 bytes",
            Some(basic(b"hooks:p@ss:w0rd\xff")),
            UNAUTHORIZED,
        ),
        auth_case(
            "right password, wrong username",
            Some(basic(format!("admin:{PASSWORD}").as_bytes())),
            UNAUTHORIZED,
        ),
        auth_case(
            "password in another case",
            Some(basic(
                format!("{USER}:{}", PASSWORD.to_uppercase()).as_bytes(),
            )),
            UNAUTHORIZED,
        ),
        auth_case(
            "password with a prefix of the right one",
            Some(basic(format!("{USER}:{}", &PASSWORD[..4]).as_bytes())),
            UNAUTHORIZED,
        ),
        auth_case(
            "credentials swapped",
            Some(basic(format!("{PASSWORD}:{USER}").as_bytes())),
            UNAUTHORIZED,
        ),
        auth_case(
            "valid token with trailing garbage",
            Some([basic(valid.as_bytes()), b"xyz".to_vec()].concat()),
            UNAUTHORIZED,
        ),
        auth_case(
            "64 KB Authorization header",
            Some(basic(&vec![b'a'; 48 * 1024])),
            // Refused by our check, or earlier by the server's header limit.
            &[401, 431, 400],
        ),
        Hostile {
            name: "Authorization repeated".into(),
            wire: Wire::Plain(
                Req::delivery("ev_ok").also_header("authorization", basic(valid.as_bytes())),
            ),
            statuses: UNAUTHORIZED,
            setup: Setup::Default,
        },
        Hostile {
            name: "non-ASCII bytes in the Authorization header".into(),
            wire: Wire::Plain(
                Req::delivery("ev_ok").header("authorization", b"Basic \xe9\xe9\xe9".to_vec()),
            ),
            statuses: &[401, 400],
            setup: Setup::Default,
        },
    ];
    // Methods other than POST, with valid credentials and body.
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        cases.push(Hostile {
            name: format!("{method} with a valid delivery"),
            wire: Wire::Plain(Req::delivery("ev_ok").method(method)),
            statuses: NOT_ALLOWED,
            setup: Setup::Default,
        });
    }
    cases
}

async fn send(addr: std::net::SocketAddr, wire: &Wire) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (bytes, trickle) = match wire {
        Wire::Plain(req) => (request_bytes(req), None),
        Wire::Raw(bytes) | Wire::RawThenWait(bytes) => (bytes.clone(), None),
        Wire::Trickle(req) => {
            let bytes = request_bytes(req);
            let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            (bytes[..head_end].to_vec(), Some(bytes[head_end..].to_vec()))
        }
    };
    // A server may close the connection before reading all we send.
    let _ = stream.write_all(&bytes).await;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for byte in trickle.unwrap_or_default() {
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        write // keep the connection open until the answer is read
    });
    let answer = tokio::time::timeout(Duration::from_secs(20), read_answer(&mut read, false))
        .await
        .expect("an answer within 20 s");
    writer.abort();
    answer.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_is_refused_by_every_adapter_without_a_fetch() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for adapter in ADAPTERS {
        for case in &cases {
            let world = World::new(case.setup).await;
            let served = serve(adapter, world.receiver.clone());
            let status = send(served.addr, &case.wire).await;
            assert!(
                case.statuses.contains(&status),
                "{adapter}: {}: got {status}, expected one of {:?}",
                case.name,
                case.statuses
            );
            let fetches_allowed = status == 200;
            if !fetches_allowed {
                assert_eq!(
                    world.api.total_requests(),
                    0,
                    "{adapter}: {}: the API was called",
                    case.name
                );
                assert!(
                    world.runs().is_empty(),
                    "{adapter}: {}: a handler ran",
                    case.name
                );
            }
        }
    }
}
