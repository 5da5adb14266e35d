//! The event listing (`GET /events`) against the mock API on loopback: the
//! exact query string of each page in both directions, one cursor per
//! request, the SDKs' `filter` and `expand`, and the rate-limit headers.
//!
//! The parameters follow the vendor's SDKs: processout-go `processout.go`
//! (`setupRequest` sends `filter`, `limit`, `end_before`, `start_after` and
//! one `expand[]` per sub-resource) and `list.go` (`NextPage` pages with
//! `start_after` = the last ID of the page, `PrevPage` with `end_before` =
//! its first ID); processout-python `processout/networking/request.py`
//! (`_get_data`: the same parameter names). The vendor's pagination docs
//! allow only one of `start_after` / `end_before` per request.
#![cfg(all(feature = "reqwest", feature = "testing", feature = "reconciler"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use smart_router_webhooks::api::{ListEvents, RateLimit};
use smart_router_webhooks::reconcile::{Progress, Reconciler, StartFrom};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    ApiClient, Event, EventContext, EventId, EventType, FetchErrorKind, HandlerError, Receiver,
};

fn ev(id: &str) -> EventId {
    EventId::parse(id).unwrap()
}

fn client(api: &MockApi) -> ApiClient {
    api.client_builder().build().unwrap()
}

/// `ev_01` … `ev_{n}`, oldest first.
fn add_events(api: &MockApi, n: usize) {
    for i in 1..=n {
        api.add_event(Event::new(
            ev(&format!("ev_{i:02}")),
            EventType::TransactionCaptured,
        ));
    }
}

fn ids(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| e.id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn queries(api: &MockApi) -> Vec<String> {
    api.recorded_requests()
        .into_iter()
        .map(|r| r.query.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_pager_walks_three_pages_forward_then_back_with_one_cursor_each() {
    let api = MockApi::start().await;
    add_events(&api, 10);
    let client = client(&api);
    // Newest first, the API's default order.
    let mut pager = client.event_pager(ListEvents::new().limit(3));
    let mut forward = Vec::new();
    for _ in 0..3 {
        forward.push(ids(&pager.next_page().await.unwrap().unwrap()));
    }
    assert_eq!(
        forward,
        [
            "ev_10,ev_09,ev_08",
            "ev_07,ev_06,ev_05",
            "ev_04,ev_03,ev_02"
        ]
    );
    assert_eq!(
        queries(&api),
        [
            "limit=3",
            "limit=3&start_after=ev_08",
            "limit=3&start_after=ev_05",
        ]
    );

    api.reset_requests();
    let mut backward = Vec::new();
    for _ in 0..3 {
        backward.push(pager.previous_page().await.unwrap().map(|e| ids(&e)));
    }
    assert_eq!(
        backward,
        [
            Some("ev_07,ev_06,ev_05".to_owned()),
            Some("ev_10,ev_09,ev_08".to_owned()),
            None,
        ]
    );
    assert_eq!(
        queries(&api),
        ["limit=3&end_before=ev_04", "limit=3&end_before=ev_07"],
        "each page carries only the cursor of its direction; none after has_more: false"
    );
}

#[tokio::test]
async fn a_pager_started_from_end_before_pages_with_start_after_next() {
    let api = MockApi::start().await;
    add_events(&api, 6);
    let client = client(&api);
    let mut pager = client.event_pager(ListEvents::new().limit(2).end_before(ev("ev_03")));
    let pages = [
        ids(&pager.next_page().await.unwrap().unwrap()),
        ids(&pager.next_page().await.unwrap().unwrap()),
        ids(&pager.next_page().await.unwrap().unwrap()),
    ];
    // The events nearest ev_03 on its newer side, then older ones.
    assert_eq!(pages, ["ev_05,ev_04", "ev_03,ev_02", "ev_01"]);
    assert_eq!(
        queries(&api),
        [
            "limit=2&end_before=ev_03",
            "limit=2&start_after=ev_04",
            "limit=2&start_after=ev_02",
        ]
    );
    assert!(pager.is_done());
}

#[tokio::test]
async fn the_mock_refuses_both_cursors_as_the_api_does() {
    let api = MockApi::start().await;
    add_events(&api, 3);
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        api.project_id(),
        api.private_key()
    ));
    let mut stream = tokio::net::TcpStream::connect(api.addr()).await.unwrap();
    let request = format!(
        "GET /events?start_after=ev_02&end_before=ev_01 HTTP/1.1\r\nHost: localhost\r\n\
         API-Version: {}\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n",
        MockApi::API_VERSION
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""success":false"#), "{answer}");
}

#[tokio::test]
async fn sends_filter_and_expand_as_the_sdks_do() {
    let api = MockApi::start().await;
    add_events(&api, 2);
    let page = client(&api)
        .list_events(
            &ListEvents::new()
                .filter("name:transaction.captured")
                .limit(5)
                .expand("project")
                .expand("webhooks"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&page.events), "ev_02,ev_01");
    assert_eq!(
        queries(&api),
        ["filter=name%3Atransaction.captured&limit=5&expand%5B%5D=project&expand%5B%5D=webhooks"]
    );
}

#[tokio::test]
async fn surfaces_the_rate_limit_headers() {
    let api = MockApi::builder().rate_limit(50).start().await;
    add_events(&api, 1);
    let client = client(&api);
    let page = client.list_events(&ListEvents::new()).await.unwrap();
    let limit = page.rate_limit.unwrap();
    assert_eq!(limit.limit, Some(50));
    assert!(limit.remaining.unwrap() < 50);
    assert!(!limit.is_low());

    let mut pager = client.event_pager(ListEvents::new());
    pager.next_page().await.unwrap();
    assert_eq!(pager.rate_limit().unwrap().limit, Some(50));

    // Without the headers, nothing is made up.
    let plain = MockApi::start().await;
    add_events(&plain, 1);
    let page = self::client(&plain)
        .list_events(&ListEvents::new())
        .await
        .unwrap();
    assert_eq!(page.rate_limit, None::<RateLimit>);
}

#[tokio::test]
async fn the_mock_rate_limit_answers_429_with_retry_after() {
    let api = MockApi::builder().rate_limit(3).start().await;
    add_events(&api, 1);
    let client = client(&api);
    let mut kinds = Vec::new();
    for _ in 0..5 {
        kinds.push(client.list_events(&ListEvents::new()).await.map(|_| ()));
    }
    let refused: Vec<_> = kinds.iter().filter_map(|r| r.as_ref().err()).collect();
    // Five requests within one second (or two, at a boundary): at least
    // one over the limit of 3 per second unless a second boundary split
    // them evenly.
    let per_second = api.requests_per_second();
    let over: usize = per_second.iter().map(|n| n.saturating_sub(3)).sum();
    assert_eq!(refused.len(), over, "{per_second:?}");
    assert_eq!(api.rate_limited_requests(), over);
    for err in refused {
        assert_eq!(err.kind(), FetchErrorKind::RateLimited);
        let wait = err.retry_after().unwrap();
        assert!(wait.as_secs() <= 1, "{wait:?}");
    }
    assert_eq!(per_second.iter().sum::<usize>(), 5);
}

/// A server on loopback answering each request with the body `answers`
/// gives for its target (path and query; one connection per request).
async fn canned(answers: fn(&str) -> &'static str) -> ApiClient {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let body = answers(head.split(' ').nth(1).unwrap_or_default());
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    ApiClient::builder("proj_1", "key_1")
        .base_url(format!("http://{addr}"))
        .build()
        .unwrap()
}

const UNEXPECTED: &str = r#"{"success":false,"error_type":"unexpected.query","message":"?"}"#;

/// Walks `client`'s list from `start` in pages of 2, and returns the
/// events handled, then the warnings of the skipped items of each page.
async fn walk(client: ApiClient, start: StartFrom) -> (String, Vec<Vec<String>>) {
    let handled: Arc<Mutex<Vec<Event>>> = Arc::default();
    let skipped: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(client.clone())
        .on_every_event("record", {
            let handled = Arc::clone(&handled);
            move |ctx: EventContext| {
                handled.lock().unwrap().push(ctx.event().clone());
                async { Ok::<_, HandlerError>(()) }
            }
        })
        .build()
        .unwrap();
    let log = Arc::clone(&skipped);
    Reconciler::builder(receiver, client)
        .requests_per_second(1000.0)
        .page_size(2)
        // An unexpected request fails the test at once.
        .request_attempts(1)
        .start_from(start)
        .observer(move |progress: &Progress<'_>| {
            if let Progress::Page { skipped, .. } = progress {
                let warnings = skipped.iter().map(ToString::to_string).collect();
                log.lock().unwrap().push(warnings);
            }
        })
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    let handled = ids(&handled.lock().unwrap());
    (handled, skipped.lock().unwrap().clone())
}

fn not_an_event(i: usize) -> String {
    format!("`events[{i}]`: expected an event with an `id` and a `name`, found an object")
}

#[tokio::test]
async fn items_that_are_no_events_are_reported_and_the_walk_moves_past_them() {
    // Newest first, as the API lists: after ev_01, a page of two items
    // that are no events, then ev_05 and an item whose ID is not one.
    let client = canned(|target| match target {
        "/events/ev_01" => {
            r#"{"success":true,"event":{"id":"ev_01","name":"transaction.captured"}}"#
        }
        "/events?limit=2&end_before=ev_01" => {
            r#"{"success":true,"has_more":true,"events":[
                {"id":"ev_03","name":null,"data":{}},
                {"id":"ev_02"}]}"#
        }
        "/events?limit=2&end_before=ev_03" => {
            r#"{"success":true,"has_more":false,"events":[
                {"id":"ev_05","name":"transaction.refunded"},
                {"id":"not an id!","name":"transaction.captured"}]}"#
        }
        _ => UNEXPECTED,
    })
    .await;
    let (handled, skipped) = walk(client, StartFrom::Event(ev("ev_01"))).await;
    // A page whose every item was skipped is not the end of the list.
    assert_eq!(handled, "ev_01,ev_05");
    assert_eq!(
        skipped,
        [
            vec![not_an_event(0), not_an_event(1)],
            vec![not_an_event(1)]
        ]
    );
}

#[tokio::test]
async fn walking_back_to_a_time_moves_past_items_that_are_no_events() {
    let client = canned(|target| match target {
        "/events?limit=2" => {
            r#"{"success":true,"has_more":true,"events":[
                {"id":"ev_05","name":"transaction.captured"},
                {"id":"ev_04","name":null}]}"#
        }
        "/events?limit=2&start_after=ev_04" | "/events?limit=2&end_before=ev_01" => {
            r#"{"success":true,"has_more":true,"events":[
                {"id":"ev_03"},
                {"id":"ev_02","name":null}]}"#
        }
        "/events?limit=2&start_after=ev_02" => {
            r#"{"success":true,"has_more":false,"events":[
                {"id":"ev_01","name":"transaction.refunded"}]}"#
        }
        "/events?limit=2&end_before=ev_03" => {
            r#"{"success":true,"has_more":false,"events":[
                {"id":"ev_05","name":"transaction.captured"},
                {"id":"ev_04","name":null}]}"#
        }
        _ => UNEXPECTED,
    })
    .await;
    let (handled, skipped) = walk(client, StartFrom::Time(SystemTime::UNIX_EPOCH)).await;
    // From the oldest event, behind a page of items that are no events.
    assert_eq!(handled, "ev_01,ev_05");
    assert_eq!(
        skipped,
        [
            vec![not_an_event(0), not_an_event(1)],
            vec![not_an_event(1)]
        ]
    );
}
