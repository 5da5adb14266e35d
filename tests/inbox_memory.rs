//! Inbox mode on the in-memory inbox: the inbox contract, the answers of
//! the receiver (202 once queued, 503 when full, every other answer
//! unchanged), and the workers' guarantees (a duplicate queued once, a
//! dead letter replayed, workers aborted or killed mid-handler taken
//! over, a graceful shutdown).
#![cfg(all(feature = "testing", feature = "reqwest", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;
#[path = "support/deliveries.rs"]
mod deliveries;
#[path = "support/http_target.rs"]
mod http_target;
#[path = "support/inbox_contract.rs"]
mod inbox_contract;
#[path = "support/inbox_scenarios.rs"]
mod inbox_scenarios;
#[path = "support/instance.rs"]
mod instance;
#[allow(dead_code)] // only `unique` is used here
#[path = "support/store_contract.rs"]
mod store_contract;

use std::sync::Arc;
use std::time::Duration;

use deliveries::{credentials, delivery};
use http::{Request, StatusCode};
use inbox_contract::LEASE;
use inbox_scenarios::{Backend, Behaviour, Tally, captured, handled, receiver, workers};
use smart_router_webhooks::inbox::{Inbox, MemoryInbox};
use smart_router_webhooks::testing::{MockApi, Sender};
use smart_router_webhooks::{MemoryStore, Outcome};

fn backend(capacity: usize) -> Backend {
    let store = MemoryStore::default();
    Backend {
        claims: Arc::new(store.clone()),
        transactions: Arc::new(store),
        inbox: Arc::new(MemoryInbox::new(capacity).with_lease(LEASE)),
    }
}

#[tokio::test]
async fn the_memory_inbox_keeps_the_inbox_contract() {
    inbox_contract::run_all(|| async {
        Arc::new(MemoryInbox::new(1000).with_lease(LEASE)) as Arc<dyn Inbox>
    })
    .await;
}

#[tokio::test]
async fn a_full_memory_inbox_answers_503_and_drops_nothing() {
    let api = MockApi::start().await;
    let backend = backend(2);
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let ids: Vec<_> = (0..3).map(|_| captured(&api)).collect();
    for id in &ids[..2] {
        assert_eq!(
            receiver.receive(delivery(id)).await.status,
            StatusCode::ACCEPTED
        );
    }
    let refused = receiver.receive(delivery(&ids[2])).await;
    assert_eq!(refused.outcome, Outcome::QueueUnavailable);
    assert!(refused.store_error.unwrap().message().contains("full"));
    let answer = receiver.handle(delivery(&ids[2])).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers()["retry-after"], "1");
    assert_eq!(
        backend.inbox.depth().await.unwrap().items,
        2,
        "nothing dropped"
    );

    // Once the workers made room, the sender's retry is queued.
    let pool = workers(&receiver, 2);
    for id in &ids[..2] {
        handled(&tally, &backend.inbox, id).await;
    }
    assert_eq!(
        receiver.receive(delivery(&ids[2])).await.status,
        StatusCode::ACCEPTED
    );
    handled(&tally, &backend.inbox, &ids[2]).await;
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn in_inbox_mode_every_other_answer_is_unchanged_and_queues_nothing() {
    let api = MockApi::start().await;
    let backend = backend(100);
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let id = captured(&api);
    let auth = credentials().authorization_header();
    let body = format!(r#"{{"event_id":"{id}"}}"#);
    let cases = [
        (
            Request::get("/")
                .header("authorization", &auth)
                .body(body.clone()),
            405,
        ),
        (Request::post("/").body(body.clone()), 401),
        (
            Request::post("/")
                .header("authorization", "Basic aG9va3M6d3Jvbmc=")
                .body(body.clone()),
            401,
        ),
        (
            Request::post("/")
                .header("authorization", &auth)
                .body("{}".to_owned()),
            400,
        ),
        (
            Request::post("/")
                .header("authorization", &auth)
                .body(r#"{"event_id":"not an id"}"#.to_owned()),
            400,
        ),
        (
            Request::post("/")
                .header("authorization", &auth)
                .body("x".repeat(70_000)),
            413,
        ),
    ];
    for (request, status) in cases {
        let answer = receiver.handle(request.unwrap()).await;
        assert_eq!(answer.status().as_u16(), status);
    }
    assert_eq!(backend.inbox.depth().await.unwrap().items, 0);
    assert_eq!(api.total_requests(), 0);
}

#[tokio::test]
async fn an_adapter_answers_202_over_http_and_the_worker_processes_it() {
    let api = MockApi::start().await;
    let backend = backend(100);
    let (tally, ledger) = (Tally::default(), Behaviour::default());
    *ledger.delay.lock().unwrap() = Duration::from_secs(2);
    let receiver = receiver(&api, &backend, &tally, &ledger, None);
    let served = http_target::serve("axum", receiver.clone());
    let id = captured(&api);
    // The sender gives up after 1 s: the slow handler is not waited for.
    let sender = Sender::new(&format!(
        "http://hooks:s3cret@{}{}",
        served.addr,
        answers::PATH
    ))
    .unwrap()
    .backoff(Duration::from_millis(10), 1)
    .timeout(Duration::from_secs(1));
    let delivered = sender.deliver(&id, None).await;
    assert_eq!(delivered.last_status(), Some(StatusCode::ACCEPTED));
    assert!(delivered.delivered());
    let pool = workers(&receiver, 1);
    handled(&tally, &backend.inbox, &id).await;
    pool.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once() {
    inbox_scenarios::a_slow_handler_is_acknowledged_at_once_and_a_duplicate_queued_once(backend(
        100,
    ))
    .await;
}

#[tokio::test]
async fn an_event_failing_every_attempt_is_dead_lettered_then_replayed() {
    inbox_scenarios::an_event_failing_every_attempt_is_dead_lettered_then_replayed(backend(100))
        .await;
}

#[tokio::test]
async fn workers_aborted_mid_handler_leave_the_event_to_others() {
    inbox_scenarios::workers_aborted_mid_handler_leave_the_event_to_others(backend(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_handler_is_taken_over() {
    inbox_scenarios::a_worker_killed_mid_handler_is_taken_over(backend(100)).await;
}

#[tokio::test]
async fn shutdown_leaves_no_event_half_done() {
    inbox_scenarios::shutdown_leaves_no_event_half_done(backend(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_worker_dies_every_time_is_dead_lettered() {
    inbox_scenarios::an_event_whose_worker_dies_every_time_is_dead_lettered(backend(100)).await;
}
