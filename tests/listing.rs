//! The event list (`GET /events`) as the reconciler pages through it,
//! against the mock API and canned answers on loopback: the exact query
//! string of each page in both directions, one cursor per request, no
//! request past the last page, and items that are no events reported and
//! passed. (Its rate-limit headers, budget and `Retry-After` are in
//! `tests/reconcile.rs`.)
//!
//! The parameters follow the vendor's SDKs: processout-go `processout.go`
//! (`setupRequest` sends `limit`, `end_before` and `start_after`) and
//! `list.go` (`NextPage` pages with `start_after` = the last ID of the
//! page, `PrevPage` with `end_before` = its first ID); processout-python
//! `processout/networking/request.py` (`_get_data`: the same parameter
//! names). The vendor's pagination docs allow only one of `start_after` /
//! `end_before` per request.
#![cfg(all(feature = "reqwest", feature = "testing", feature = "reconciler"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use smart_router_webhooks::reconcile::{CursorStore, Progress, Reconciler, StartFrom};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    ApiClient, Event, EventContext, EventId, EventType, FetchErrorKind, HandlerError, Receiver,
};

fn ev(id: &str) -> EventId {
    EventId::parse(id).unwrap()
}

fn ids(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| e.id.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// What a walk did: the events handled, in order, and for each page the
/// skipped items' warnings, then their raw JSON.
#[derive(Debug, Default)]
struct Walked {
    handled: String,
    skipped: Vec<Vec<String>>,
    raw: Vec<Vec<String>>,
}

/// A receiver fetching from `client` whose one handler records each
/// event, and what it recorded.
fn recording(client: &ApiClient) -> (Receiver, Arc<Mutex<Vec<Event>>>) {
    let handled: Arc<Mutex<Vec<Event>>> = Arc::default();
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
    (receiver, handled)
}

/// Walks `client`'s list once from `start` in pages of `page_size`.
async fn walk(client: ApiClient, start: StartFrom, page_size: usize) -> Walked {
    let (receiver, handled) = recording(&client);
    let walked: Arc<Mutex<Walked>> = Arc::default();
    let log = Arc::clone(&walked);
    Reconciler::builder(receiver, client)
        .requests_per_second(1000.0)
        .page_size(page_size)
        // An unexpected request fails the test at once.
        .request_attempts(1)
        .start_from(start)
        .observer(move |progress: &Progress<'_>| {
            if let Progress::Page { skipped, .. } = progress {
                let mut log = log.lock().unwrap();
                log.skipped
                    .push(skipped.iter().map(ToString::to_string).collect());
                log.raw
                    .push(skipped.iter().map(|w| w.raw().get().to_owned()).collect());
            }
        })
        .build()
        .unwrap()
        .run_once()
        .await
        .unwrap();
    let mut walked = std::mem::take(&mut *walked.lock().unwrap());
    walked.handled = ids(&handled.lock().unwrap());
    walked
}

#[tokio::test]
async fn pages_back_then_forward_with_one_cursor_each_and_none_past_the_last() {
    let api = MockApi::start().await;
    for i in 1..=10 {
        api.add_event(Event::new(
            ev(&format!("ev_{i:02}")),
            EventType::TransactionCaptured,
        ));
    }
    let client = api.client_builder().build().unwrap();
    // From before every event: back through the list to the oldest, then
    // forward to the newest.
    let walked = walk(client, StartFrom::Time(SystemTime::UNIX_EPOCH), 3).await;
    assert_eq!(
        walked.handled,
        "ev_01,ev_02,ev_03,ev_04,ev_05,ev_06,ev_07,ev_08,ev_09,ev_10"
    );
    let queries: Vec<String> = api
        .recorded_requests()
        .into_iter()
        .map(|r| format!("{} {}", r.path, r.query.unwrap_or_default()))
        .collect();
    assert_eq!(
        queries,
        [
            // Newest first, the API's default order: `start_after` the last
            // ID of each page goes back in time…
            "/events limit=3",
            "/events limit=3&start_after=ev_08",
            "/events limit=3&start_after=ev_05",
            "/events limit=3&start_after=ev_02",
            // … and `end_before` the newest event done comes forward, the
            // events nearest it first; none after `has_more: false`.
            "/events limit=3&end_before=ev_01",
            "/events limit=3&end_before=ev_04",
            "/events limit=3&end_before=ev_07",
        ]
    );
}

#[tokio::test]
async fn the_mock_refuses_both_cursors_as_the_api_does() {
    let api = MockApi::start().await;
    api.add_event(Event::new(ev("ev_01"), EventType::TransactionCaptured));
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
async fn the_mock_rate_limit_answers_429_with_retry_after() {
    let api = MockApi::builder().rate_limit(3).start().await;
    api.add_event(Event::new(ev("ev_01"), EventType::TransactionCaptured));
    let client = api.client_builder().build().unwrap();
    let mut kinds = Vec::new();
    for _ in 0..5 {
        kinds.push(client.fetch_event(&ev("ev_01")).await.map(|_| ()));
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
    let walked = walk(client, StartFrom::Event(ev("ev_01")), 2).await;
    // A page whose every item was skipped is not the end of the list.
    assert_eq!(walked.handled, "ev_01,ev_05");
    assert!(walked.raw[1][0].contains("not an id!"), "{walked:?}");
    assert_eq!(
        walked.skipped,
        [
            vec![not_an_event(0), not_an_event(1)],
            vec![not_an_event(1)]
        ]
    );
}

/// An item of the list that is no event but has a readable ID is not
/// passed for good: it joins the stuck set, and the next run fetches it by
/// its ID and processes it once the API answers it as an event.
#[tokio::test]
async fn an_item_that_is_no_event_but_has_an_id_is_kept_stuck_and_fetched_again() {
    let client = canned(|target| match target {
        "/events/ev_01" => {
            r#"{"success":true,"event":{"id":"ev_01","name":"transaction.captured"}}"#
        }
        "/events?limit=2&end_before=ev_01" => {
            r#"{"success":true,"has_more":false,"events":[
                {"id":"ev_03","name":"transaction.refunded"},
                {"id":"ev_02","name":null}]}"#
        }
        // By its ID, the API answers the item as an event.
        "/events/ev_02" => {
            r#"{"success":true,"event":{"id":"ev_02","name":"transaction.captured"}}"#
        }
        "/events?limit=2&end_before=ev_03" => r#"{"success":true,"has_more":false,"events":[]}"#,
        _ => UNEXPECTED,
    })
    .await;
    let (receiver, handled) = recording(&client);
    let cursors = smart_router_webhooks::MemoryStore::default();
    let reconciler = Reconciler::builder(receiver, client)
        .requests_per_second(1000.0)
        .page_size(2)
        .request_attempts(1)
        .start_from(StartFrom::Event(ev("ev_01")))
        .cursor_store(cursors.clone())
        .build()
        .unwrap();
    let first = reconciler.run_once().await.unwrap();
    assert_eq!(ids(&handled.lock().unwrap()), "ev_01,ev_03");
    assert_eq!(first.stuck, [ev("ev_02")]);
    assert_eq!(cursors.stuck("events").await.unwrap(), [ev("ev_02")]);

    let second = reconciler.run_once().await.unwrap();
    assert_eq!(ids(&handled.lock().unwrap()), "ev_01,ev_03,ev_02");
    assert_eq!((second.stuck_retried, second.stuck.len()), (1, 0));
    assert!(cursors.stuck("events").await.unwrap().is_empty());
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
    let walked = walk(client, StartFrom::Time(SystemTime::UNIX_EPOCH), 2).await;
    // From the oldest event, behind a page of items that are no events.
    assert_eq!(walked.handled, "ev_01,ev_05");
    assert_eq!(
        walked.skipped,
        [
            vec![not_an_event(0), not_an_event(1)],
            vec![not_an_event(1)]
        ]
    );
}
