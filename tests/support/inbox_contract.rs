//! The behaviour every `Inbox` must have, written once and run against
//! each backend.
//!
//! Each case takes a fresh, empty inbox whose lease is [`LEASE`] (a
//! shared backend gives each case an inbox of its own name).
#![allow(dead_code)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use smart_router_webhooks::EventId;
use smart_router_webhooks::inbox::{Enqueued, Failure, Inbox};

/// The lease of the inboxes the cases are given.
pub const LEASE: Duration = Duration::from_millis(400);

pub use super::store_contract::unique;

/// A failure whose error has a chain of causes: a handler's error over
/// an I/O error, as the crate's own errors nest theirs.
fn ledger_failure() -> smart_router_webhooks::Error {
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    smart_router_webhooks::Error::new(smart_router_webhooks::ErrorKind::Store, "ledger: boom")
        .with_source(refused)
}

pub fn event_id() -> EventId {
    EventId::parse(&unique("ev")).unwrap()
}

pub async fn an_event_is_queued_once_until_acknowledged(inbox: Arc<dyn Inbox>) {
    let id = event_id();
    assert_eq!(inbox.enqueue(&id).await.unwrap(), Enqueued::Queued);
    assert_eq!(inbox.enqueue(&id).await.unwrap(), Enqueued::AlreadyQueued);
    assert_eq!(inbox.depth().await.unwrap().items, 1);
    let items = inbox.take("a", 10).await.unwrap();
    assert_eq!(items.len(), 1, "a duplicate is not queued twice");
    let item = &items[0];
    assert_eq!((&item.event_id, item.attempts), (&id, 0));
    assert!(inbox.take("b", 10).await.unwrap().is_empty());
    // Taken, it is still in the inbox: a duplicate now is not queued.
    assert_eq!(inbox.enqueue(&id).await.unwrap(), Enqueued::AlreadyQueued);
    assert!(inbox.ack(item).await.unwrap());
    assert!(!inbox.ack(item).await.unwrap(), "acknowledged once");
    let depth = inbox.depth().await.unwrap();
    assert_eq!((depth.items, depth.oldest_age), (0, None));
    assert!(inbox.take("b", 10).await.unwrap().is_empty());
    // Done and gone: a later delivery is queued again (the claim store
    // tells the worker it is a duplicate).
    assert_eq!(inbox.enqueue(&id).await.unwrap(), Enqueued::Queued);
}

pub async fn events_are_taken_oldest_first_at_most_max_at_a_time(inbox: Arc<dyn Inbox>) {
    let ids: Vec<EventId> = (0..3).map(|_| event_id()).collect();
    for id in &ids {
        inbox.enqueue(id).await.unwrap();
    }
    assert!(inbox.take("a", 0).await.unwrap().is_empty());
    let first: Vec<EventId> = inbox
        .take("a", 2)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.event_id)
        .collect();
    assert_eq!(first, ids[..2]);
    let rest = inbox.take("b", 2).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].event_id, ids[2]);
}

pub async fn a_lapsed_lease_is_taken_over_and_its_old_holder_changes_nothing(
    inbox: Arc<dyn Inbox>,
) {
    let id = event_id();
    inbox.enqueue(&id).await.unwrap();
    let first = inbox.take("dead-worker", 1).await.unwrap().remove(0);
    assert!(inbox.take("live-worker", 1).await.unwrap().is_empty());
    tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    let second = inbox.take("live-worker", 1).await.unwrap().remove(0);
    assert_eq!(second.event_id, id);
    assert_eq!(
        second.attempts, 1,
        "an attempt whose worker never settled it counts as failed"
    );
    assert_eq!(second.consumer, "live-worker");
    // The first holder comes back late: it can change nothing.
    assert!(!inbox.renew(&first).await.unwrap());
    assert!(!inbox.ack(&first).await.unwrap());
    assert!(!inbox.retry(&first, Duration::ZERO, 1).await.unwrap());
    let late = std::io::Error::other("late");
    assert!(
        !inbox
            .dead_letter(&first, Failure::new(1, &late))
            .await
            .unwrap()
    );
    assert!(inbox.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(inbox.depth().await.unwrap().items, 1);
    assert!(inbox.ack(&second).await.unwrap());
    assert_eq!(inbox.depth().await.unwrap().items, 0);
}

/// Each time an event is handed out and never settled counts as one
/// failed attempt, on top of those its retries counted.
pub async fn each_takeover_counts_one_failed_attempt(inbox: Arc<dyn Inbox>) {
    let id = event_id();
    inbox.enqueue(&id).await.unwrap();
    let first = inbox.take("w1", 1).await.unwrap().remove(0);
    assert!(inbox.retry(&first, Duration::ZERO, 2).await.unwrap());
    let mut attempts = Vec::new();
    for worker in ["w2", "w3", "w4"] {
        let item = inbox.take(worker, 1).await.unwrap().remove(0);
        attempts.push(item.attempts);
        tokio::time::sleep(LEASE + Duration::from_millis(200)).await;
    }
    assert_eq!(attempts, [2, 3, 4]);
    let last = inbox.take("w5", 1).await.unwrap().remove(0);
    assert_eq!(last.attempts, 5);
    assert!(inbox.ack(&last).await.unwrap());
}

pub async fn a_renewed_lease_is_not_taken_over(inbox: Arc<dyn Inbox>) {
    let id = event_id();
    inbox.enqueue(&id).await.unwrap();
    let item = inbox.take("a", 1).await.unwrap().remove(0);
    for _ in 0..4 {
        tokio::time::sleep(LEASE / 2).await;
        assert!(inbox.renew(&item).await.unwrap());
        assert!(inbox.take("b", 1).await.unwrap().is_empty());
    }
    assert!(inbox.ack(&item).await.unwrap());
}

pub async fn a_retry_comes_back_after_its_delay_with_its_attempts(inbox: Arc<dyn Inbox>) {
    let id = event_id();
    inbox.enqueue(&id).await.unwrap();
    let item = inbox.take("a", 1).await.unwrap().remove(0);
    assert!(
        inbox
            .retry(&item, Duration::from_millis(300), 1)
            .await
            .unwrap()
    );
    assert!(!inbox.ack(&item).await.unwrap(), "put back: no longer held");
    assert!(inbox.take("a", 1).await.unwrap().is_empty(), "not due yet");
    assert_eq!(inbox.depth().await.unwrap().items, 1, "still counted");
    assert_eq!(inbox.enqueue(&id).await.unwrap(), Enqueued::AlreadyQueued);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = inbox.take("b", 1).await.unwrap().remove(0);
    assert_eq!((&again.event_id, again.attempts), (&id, 1));
    let ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    assert_eq!(ms(again.enqueued_at), ms(item.enqueued_at), "age kept");
    // A retry without delay is taken at once.
    assert!(inbox.retry(&again, Duration::ZERO, 2).await.unwrap());
    let third = inbox.take("c", 1).await.unwrap().remove(0);
    assert_eq!(third.attempts, 2);
    assert!(inbox.ack(&third).await.unwrap());
}

pub async fn a_dead_letter_keeps_its_error_and_is_replayed(inbox: Arc<dyn Inbox>) {
    let id = event_id();
    let other = event_id();
    inbox.enqueue(&id).await.unwrap();
    inbox.enqueue(&other).await.unwrap();
    let items = inbox.take("a", 2).await.unwrap();
    let error = ledger_failure();
    assert!(
        inbox
            .dead_letter(&items[0], Failure::new(3, &error))
            .await
            .unwrap()
    );
    let depth = inbox.depth().await.unwrap();
    assert_eq!((depth.items, depth.dead_letters), (1, 1));
    let letters = inbox.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.event_id, id);
    assert_eq!(letter.attempts, 3);
    // The error keeps its chain of causes, each a `source` as it was.
    assert_eq!(letter.error.to_string(), "store unavailable: ledger: boom");
    let cause = std::error::Error::source(&letter.error).expect("the cause is kept");
    assert_eq!(cause.to_string(), "connection refused");
    assert!(cause.source().is_none());
    assert_eq!(
        format!("{:#}", letter.error),
        "store unavailable: ledger: boom: connection refused"
    );
    assert!(letter.dead_at >= letter.enqueued_at);
    assert!(inbox.dead_letters(0).await.unwrap().is_empty());

    assert!(!inbox.replay(&other).await.unwrap(), "not a dead letter");
    assert!(inbox.replay(&id).await.unwrap());
    assert!(!inbox.replay(&id).await.unwrap(), "replayed once");
    assert!(inbox.dead_letters(10).await.unwrap().is_empty());
    let replayed = inbox.take("b", 1).await.unwrap().remove(0);
    assert_eq!((&replayed.event_id, replayed.attempts), (&id, 0));
    assert!(inbox.ack(&replayed).await.unwrap());
    assert!(inbox.ack(&items[1]).await.unwrap());
    let depth = inbox.depth().await.unwrap();
    assert_eq!((depth.items, depth.dead_letters), (0, 0));
}

pub async fn the_oldest_age_is_that_of_the_first_queued(inbox: Arc<dyn Inbox>) {
    assert_eq!(inbox.depth().await.unwrap().oldest_age, None);
    let first = event_id();
    inbox.enqueue(&first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    inbox.enqueue(&event_id()).await.unwrap();
    let depth = inbox.depth().await.unwrap();
    assert_eq!(depth.items, 2);
    let age = depth.oldest_age.unwrap();
    assert!(
        age >= Duration::from_millis(140) && age < Duration::from_secs(10),
        "{age:?}"
    );
    // A retry keeps its place by first enqueue.
    let item = inbox.take("a", 1).await.unwrap().remove(0);
    assert_eq!(item.event_id, first);
    inbox
        .retry(&item, Duration::from_secs(60), 1)
        .await
        .unwrap();
    assert!(inbox.depth().await.unwrap().oldest_age.unwrap() >= age);
}

pub async fn concurrent_workers_take_each_event_once(inbox: Arc<dyn Inbox>) {
    let ids: HashSet<EventId> = (0..60).map(|_| event_id()).collect();
    for id in &ids {
        inbox.enqueue(id).await.unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..6 {
        let inbox = inbox.clone();
        tasks.spawn(async move {
            let mut taken = Vec::new();
            loop {
                let items = inbox.take(&format!("w{w}"), 3).await.unwrap();
                if items.is_empty() {
                    return taken;
                }
                for item in items {
                    assert!(inbox.ack(&item).await.unwrap());
                    taken.push(item.event_id);
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(taken) = tasks.join_next().await {
        all.extend(taken.unwrap());
    }
    assert_eq!(all.len(), ids.len(), "each event taken once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), ids);
    assert_eq!(inbox.depth().await.unwrap().items, 0);
}

/// Runs every case, each on a fresh inbox from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Inbox>>,
{
    an_event_is_queued_once_until_acknowledged(make().await).await;
    events_are_taken_oldest_first_at_most_max_at_a_time(make().await).await;
    a_lapsed_lease_is_taken_over_and_its_old_holder_changes_nothing(make().await).await;
    each_takeover_counts_one_failed_attempt(make().await).await;
    a_renewed_lease_is_not_taken_over(make().await).await;
    a_retry_comes_back_after_its_delay_with_its_attempts(make().await).await;
    a_dead_letter_keeps_its_error_and_is_replayed(make().await).await;
    the_oldest_age_is_that_of_the_first_queued(make().await).await;
    concurrent_workers_take_each_event_once(make().await).await;
}
