use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

#[tokio::test]
async fn any_event_is_served_from_the_template_under_the_asked_id() {
    let mut template = Event::new(
        EventId::parse("ev_template").unwrap(),
        crate::EventType::TransactionCaptured,
    );
    template.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_1").unwrap(),
        crate::TransactionStatus::Completed,
    ));
    let api = MockApi::builder().serve_any_event(template).start().await;
    let client = api.client_builder().build().unwrap();
    for n in 0..3 {
        let id = EventId::parse(&format!("ev_{n}")).unwrap();
        let event = client.fetch_event(&id).await.unwrap();
        assert_eq!(event.id, id);
        assert_eq!(event.transaction().unwrap().id.as_str(), "tr_1");
    }
    assert_eq!(api.total_requests(), 3);
    assert_eq!(
        api.requests("/events/ev_0"),
        0,
        "template events are not counted by path"
    );
}

/// One raw HTTP/1.1 exchange: the status and the body, or `None` when
/// the connection closed without an answer.
async fn get(api: &MockApi, target: &str, authorization: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(api.addr()).await.unwrap();
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nAPI-Version: 1.4.0.0\r\nConnection: close\r\n"
    );
    if let Some(authorization) = authorization {
        request.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn auth() -> String {
    let token = BASE64.encode(format!("{}:{}", MockApi::PROJECT_ID, MockApi::PRIVATE_KEY));
    format!("Basic {token}")
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn serves_events_and_transactions_with_the_vendors_envelopes() {
    let api = MockApi::start().await;
    let event_id = api
        .add_event_json(include_str!(
            "../../../tests/fixtures/event-transaction-failed.json"
        ))
        .unwrap();
    let transaction_id = api
        .add_transaction_json(include_str!(
            "../../../tests/fixtures/transaction-authorized.json"
        ))
        .unwrap();

    let (status, body) = get(&api, &format!("/events/{event_id}"), Some(&auth()))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let body = json_of(&body);
    assert_eq!(body["success"], true);
    assert_eq!(body["event"]["id"], event_id.as_str());
    assert_eq!(body["event"]["data"]["transaction"]["status"], "failed");

    let path = format!("/transactions/{transaction_id}");
    let (status, body) = get(&api, &path, Some(&auth())).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(json_of(&body)["transaction"]["status"], "authorized");

    assert_eq!(api.requests(&format!("/events/{event_id}")), 1);
    assert_eq!(api.requests(&path), 1);
    assert_eq!(api.total_requests(), 2);
    let last = api.last_request().unwrap();
    assert_eq!(last.method, Method::GET);
    assert_eq!(last.path, path);
    assert_eq!(last.header("api-version"), Some("1.4.0.0"));
    assert!(!format!("{last:?}").contains(&auth()));
}

#[tokio::test]
async fn refuses_wrong_credentials_and_unknown_ids_with_the_vendors_bodies() {
    let api = MockApi::start().await;
    let (status, body) = get(&api, "/events/ev_1", None).await.unwrap();
    assert_eq!(
        (status, json_of(&body)),
        (401, json_of(AUTHENTICATION_INVALID))
    );
    let (status, _) = get(&api, "/events/ev_1", Some("Basic d3Jvbmc6d3Jvbmc="))
        .await
        .unwrap();
    assert_eq!(status, 401);
    let (status, body) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
    assert_eq!((status, json_of(&body)), (404, json_of(EVENT_NOT_FOUND)));
    let (status, body) = get(&api, "/transactions/tr_1", Some(&auth()))
        .await
        .unwrap();
    assert_eq!(
        (status, json_of(&body)),
        (404, json_of(TRANSACTION_NOT_FOUND))
    );
    assert_eq!(api.requests("/events/ev_1"), 3);
}

#[tokio::test]
async fn checks_the_api_version() {
    let api = MockApi::builder().api_version("9.9.9.9").start().await;
    let (status, body) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json_of(&body)["error_type"], "mock.api-version.invalid");
    let api = MockApi::builder().any_api_version().start().await;
    let (status, _) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fails_the_next_requests_then_recovers() {
    let api = MockApi::start().await;
    api.add_event(Event::new(
        EventId::parse("ev_1").unwrap(),
        crate::model::EventType::TransactionCaptured,
    ));
    api.fail_next(1, Failure::InternalError);
    api.fail_next(1, Failure::Close);
    assert_eq!(
        get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
        500
    );
    assert_eq!(get(&api, "/events/ev_1", Some(&auth())).await, None);
    assert_eq!(
        get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
        200
    );
    assert_eq!(api.requests("/events/ev_1"), 3);
}

#[tokio::test]
async fn fails_by_id_until_cleared() {
    let api = MockApi::start().await;
    api.fail_id(
        "ev_2",
        Failure::RateLimited {
            retry_after: Some(3),
            reset: None,
        },
    );
    assert_eq!(
        get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
        404
    );
    assert_eq!(
        get(&api, "/events/ev_2", Some(&auth())).await.unwrap().0,
        429
    );
    assert_eq!(
        get(&api, "/events/ev_2/webhooks", Some(&auth()))
            .await
            .unwrap()
            .0,
        429
    );
    api.clear_failures();
    assert_eq!(
        get(&api, "/events/ev_2", Some(&auth())).await.unwrap().0,
        404
    );
}

#[test]
fn random_failures_follow_the_rate_and_weights_reproducibly() {
    let chaos = RandomFailures::new(0.3, 42)
        .with(Failure::InternalError, 3)
        .with(Failure::Close, 1)
        .with(Failure::Hang, 0);
    let draws: Vec<Option<Failure>> = (0..20_000)
        .map(|i| chaos.draw(&format!("/events/ev_{}", i % 1000), i / 1000 + 1))
        .collect();
    let count = |f: &Failure| draws.iter().filter(|d| d.as_ref() == Some(f)).count();
    let (internal, close) = (count(&Failure::InternalError), count(&Failure::Close));
    assert_eq!(count(&Failure::Hang), 0);
    assert_eq!(internal + close, draws.iter().flatten().count());
    // 6,000 expected: within 5 standard deviations (about 65 each).
    assert!(
        (5_675..=6_325).contains(&(internal + close)),
        "{internal} + {close}"
    );
    assert!((4_175..=4_825).contains(&internal), "{internal}");
    // The same seed draws the same; another seed draws otherwise.
    let again = RandomFailures::new(0.3, 42)
        .with(Failure::InternalError, 3)
        .with(Failure::Close, 1);
    assert!((0..1000).all(|n| again.draw("/events/ev_1", n) == chaos.draw("/events/ev_1", n)));
    let other = RandomFailures::new(0.3, 43);
    assert!((0..1000).any(
        |n| other.draw("/events/ev_1", n).is_some() != chaos.draw("/events/ev_1", n).is_some()
    ));
    // Rates out of range are brought into it.
    assert!(
        (0..100).all(|n| RandomFailures::new(1.5, 1).draw("/x", n) == Some(Failure::InternalError))
    );
    assert!((0..100).all(|n| RandomFailures::new(f64::NAN, 1).draw("/x", n).is_none()));
    assert!((0..100).all(|n| RandomFailures::new(-1.0, 1).draw("/x", n).is_none()));
}

#[tokio::test]
async fn fails_a_share_of_requests_counts_them_and_clears() {
    let api = MockApi::start().await;
    api.fail_randomly(RandomFailures::new(1.0, 1).with(Failure::InternalError, 1));
    api.fail_next(1, Failure::Close);
    assert_eq!(get(&api, "/events/ev_1", Some(&auth())).await, None);
    assert_eq!(
        get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
        500
    );
    assert_eq!(api.failed_requests(), 2);
    api.clear_failures();
    assert_eq!(
        get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
        404
    );
    assert_eq!(api.failed_requests(), 2);
    // The draws depend on each path's own count, not on the order
    // the paths are asked in.
    let chaos = RandomFailures::new(0.5, 9);
    let (a, b) = (MockApi::start().await, MockApi::start().await);
    a.fail_randomly(chaos.clone());
    b.fail_randomly(chaos);
    let mut seen_a = Vec::new();
    for path in ["/events/ev_x", "/events/ev_y"] {
        for _ in 0..8 {
            seen_a.push((path, get(&a, path, Some(&auth())).await.unwrap().0));
        }
    }
    let mut seen_b = Vec::new();
    for _ in 0..8 {
        for path in ["/events/ev_y", "/events/ev_x"] {
            seen_b.push((path, get(&b, path, Some(&auth())).await.unwrap().0));
        }
    }
    seen_b.sort_by_key(|(path, _)| *path);
    assert_eq!(seen_a, seen_b);
    assert!(seen_a.iter().any(|(_, status)| *status == 500));
    assert!(seen_a.iter().any(|(_, status)| *status == 404));
}

#[tokio::test]
async fn lists_events_by_cursor_in_both_orders() {
    let api = MockApi::start().await;
    for n in 1..=5 {
        api.add_event(Event::new(
            EventId::parse(&format!("ev_{n}")).unwrap(),
            crate::model::EventType::TransactionCaptured,
        ));
    }
    let ids = |body: &str| -> (Vec<String>, bool) {
        let body = json_of(body);
        let ids = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, body["has_more"].as_bool().unwrap())
    };
    let page = |target: &'static str| {
        let api = &api;
        async move { ids(&get(api, target, Some(&auth())).await.unwrap().1) }
    };
    assert_eq!(
        page("/events?limit=2").await,
        (vec!["ev_5".into(), "ev_4".into()], true)
    );
    assert_eq!(
        page("/events?limit=2&start_after=ev_4").await,
        (vec!["ev_3".into(), "ev_2".into()], true)
    );
    assert_eq!(
        page("/events?limit=2&order=asc&start_after=ev_3").await,
        (vec!["ev_4".into(), "ev_5".into()], false)
    );
    assert_eq!(
        page("/events?limit=2&order=asc&end_before=ev_4").await,
        (vec!["ev_2".into(), "ev_3".into()], true)
    );
    assert_eq!(
        get(&api, "/events?limit=101", Some(&auth()))
            .await
            .unwrap()
            .0,
        400
    );
    assert_eq!(
        get(&api, "/events?start_after=ev_9", Some(&auth()))
            .await
            .unwrap()
            .0,
        404
    );
    assert_eq!(api.requests("/events"), 6);
    assert_eq!(
        api.last_request()
            .unwrap()
            .query_param("start_after")
            .as_deref(),
        Some("ev_9")
    );
}

#[tokio::test]
async fn streams_a_huge_body_without_holding_it() {
    let api = MockApi::start().await;
    api.fail_next(
        1,
        Failure::HugeBody {
            bytes: 1 << 30,
            content_length: true,
        },
    );
    let mut stream = TcpStream::connect(api.addr()).await.unwrap();
    stream
        .write_all(b"GET /events/ev_1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0; 4096];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-length: 1073741824"), "{head}");
}

#[tokio::test]
async fn stops_when_dropped() {
    let api = MockApi::start().await;
    let addr = api.addr();
    drop(api);
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the mock API still accepts connections after being dropped");
}
