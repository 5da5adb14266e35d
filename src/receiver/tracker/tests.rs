//! The transaction tracker follows real lifecycles, in order and shuffled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use super::TransactionTracker;
use crate::model::{
    Event, EventId, EventType, Timestamp, Transaction, TransactionId, TransactionStatus, Transition,
};
use crate::store::MemoryStore;
use TransactionStatus::*;

fn event(n: usize, tx: &str, status: TransactionStatus, minute: i128) -> Event {
    let name = match status {
        Completed => EventType::TransactionCaptured,
        Refunded => EventType::TransactionRefunded,
        ChargebackInitiated => EventType::TransactionChargebackCreated,
        Solved => EventType::TransactionChargebackWon,
        _ => EventType::TransactionAuthorized,
    };
    let mut event = Event::new(EventId::parse(&format!("ev_{tx}_{n}")).unwrap(), name);
    event.fired_at = Some(Timestamp::from_unix_nanos(
        1_700_000_000_000_000_000 + minute * 60_000_000_000,
    ));
    event.data.transaction = Some(Transaction::new(TransactionId::parse(tx).unwrap(), status));
    event
}

fn story(tx: &str, statuses: &[TransactionStatus]) -> Vec<Event> {
    statuses
        .iter()
        .enumerate()
        .map(|(i, s)| event(i, tx, s.clone(), i as i128 * 7))
        .collect()
}

async fn feed(tracker: &TransactionTracker, events: &[Event]) -> Vec<Transition> {
    let mut transitions = Vec::new();
    for event in events {
        let tracking = tracker.track(event).await.unwrap();
        assert!(
            !(tracking.stale && tracking.transition.is_some()),
            "{tracking:?}"
        );
        transitions.extend(tracking.transition);
    }
    transitions
}

/// A tracker and its store, to read the latest snapshots back.
struct Tracked {
    tracker: TransactionTracker,
    store: Arc<MemoryStore>,
}

impl std::ops::Deref for Tracked {
    type Target = TransactionTracker;

    fn deref(&self) -> &TransactionTracker {
        &self.tracker
    }
}

fn tracker() -> Tracked {
    let store = Arc::new(MemoryStore::default());
    Tracked {
        tracker: TransactionTracker::new(store.clone()),
        store,
    }
}

#[tokio::test]
async fn in_order_lifecycles_report_each_transition_once() {
    let stories: [(&str, &[TransactionStatus]); 3] = [
        ("tr_card", &[Authorized, Completed, Refunded]),
        ("tr_paypal", &[Pending, Completed]),
        ("tr_dispute", &[Completed, ChargebackInitiated, Solved]),
    ];
    for (tx, statuses) in stories {
        let tracker = tracker();
        let events = story(tx, statuses);
        let transitions = feed(&tracker, &events).await;
        let mut expected = vec![Transition::new(None, statuses[0].clone())];
        for pair in statuses.windows(2) {
            expected.push(Transition::new(Some(pair[0].clone()), pair[1].clone()));
        }
        assert_eq!(transitions, expected, "{tx}");
        assert!(
            transitions.iter().all(|t| t.expected),
            "{tx}: {transitions:?}"
        );
        // Delivered again, the same events report the same transitions
        // (a retried delivery sees the change it failed to handle).
        let again = feed(&tracker, &events[events.len() - 1..]).await;
        assert_eq!(again, expected[expected.len() - 1..]);
    }
}

fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            all.push(tail);
        }
    }
    all
}

#[tokio::test]
async fn shuffled_lifecycles_never_go_backwards_and_end_in_the_same_state() {
    let stories: [(&str, &[TransactionStatus]); 4] = [
        ("tr_card", &[Authorized, Completed, Refunded]),
        ("tr_paypal", &[Waiting, Pending, Completed]),
        ("tr_dispute", &[Completed, ChargebackInitiated, Solved]),
        (
            "tr_long",
            &[
                Pending,
                Authorized,
                Completed,
                Refunded,
                ChargebackInitiated,
            ],
        ),
    ];
    for (tx, statuses) in stories {
        let events = story(tx, statuses);
        for order in permutations(&events) {
            let tracker = tracker();
            let transitions = feed(&tracker, &order).await;
            let position = |s: &TransactionStatus| statuses.iter().position(|x| x == s).unwrap();
            for t in &transitions {
                if let Some(from) = &t.from {
                    assert!(
                        position(from) < position(&t.to),
                        "{tx}: backwards {t:?} in {order:?}"
                    );
                }
            }
            let latest = tracker
                .store
                .latest(&TransactionId::parse(tx).unwrap())
                .unwrap();
            assert_eq!(&latest.status, statuses.last().unwrap(), "{tx}");
        }
    }
}

#[tokio::test]
async fn an_unexpected_transition_is_reported_with_its_flag() {
    let tracker = tracker();
    let events = story("tr_odd", &[Completed, Pending]);
    let transitions = feed(&tracker, &events).await;
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].from, Some(Completed));
    assert_eq!(transitions[1].to, Pending);
    assert!(!transitions[1].expected);
}

#[tokio::test]
async fn a_further_partial_refund_is_a_transition_and_a_repeat_status_is_not() {
    let tracker = tracker();
    let refunds = story("tr_refunds", &[Completed, Refunded, Refunded]);
    let transitions = feed(&tracker, &refunds).await;
    assert_eq!(
        transitions.last().unwrap(),
        &Transition::new(Some(Refunded), Refunded)
    );
    assert_eq!(transitions.len(), 3);

    let tracker = self::tracker();
    let repeat = story("tr_repeat", &[Authorized, Authorized]);
    assert_eq!(feed(&tracker, &repeat).await.len(), 1);
}

#[tokio::test]
async fn events_without_a_transaction_change_nothing() {
    let tracker = tracker();
    let event = Event::new(EventId::parse("ev_c").unwrap(), EventType::CustomerCreated);
    let tracking = tracker.track(&event).await.unwrap();
    assert_eq!(tracking.transition, None);
    assert!(!tracking.stale);
}

/// An event of `tx` in `status` fired at `fired_at` (taken as it is: it
/// may be unreadable), under the event ID given.
fn event_at(id: &str, tx: &str, status: TransactionStatus, fired_at: Option<&str>) -> Event {
    let mut event = event(0, tx, status, 0);
    event.id = EventId::parse(id).unwrap();
    event.fired_at = fired_at.map(Timestamp::lenient);
    event
}

/// The status the tracker holds for `tx` now.
async fn final_status(tracker: &Tracked, tx: &str) -> TransactionStatus {
    let tx = TransactionId::parse(tx).unwrap();
    tracker.store.latest(&tx).unwrap().status
}

#[tokio::test]
async fn equal_timestamps_give_one_final_status_in_either_arrival_order() {
    let at = Some("2024-03-01T12:00:00Z");
    for (a, b) in [(Completed, Voided), (Voided, Completed), (Failed, Blocked)] {
        let mut finals = Vec::new();
        for reversed in [false, true] {
            let tracker = tracker();
            let first = event_at("ev_same_1", "tr_same", a.clone(), at);
            let second = event_at("ev_same_2", "tr_same", b.clone(), at);
            let order = if reversed {
                [second, first]
            } else {
                [first, second]
            };
            feed(&tracker, &order).await;
            finals.push(final_status(&tracker, "tr_same").await);
        }
        // The greater event ID decides, whichever arrives first.
        assert_eq!(finals, [b.clone(), b], "{a:?}");
    }
}

#[tokio::test]
async fn two_partial_refunds_at_the_same_instant_are_two_transitions_in_either_order() {
    for reversed in [false, true] {
        let tracker = tracker();
        let captured = event_at(
            "ev_cap",
            "tr_refunds",
            Completed,
            Some("2024-03-01T11:00:00Z"),
        );
        let at = Some("2024-03-01T12:00:00Z");
        let mut refunds = [
            event_at("ev_refund_1", "tr_refunds", Refunded, at),
            event_at("ev_refund_2", "tr_refunds", Refunded, at),
        ];
        if reversed {
            refunds.reverse();
        }
        let transitions = feed(
            &tracker,
            &[captured, refunds[0].clone(), refunds[1].clone()],
        )
        .await;
        assert_eq!(
            transitions,
            [
                Transition::new(None, Completed),
                Transition::new(Some(Completed), Refunded),
                Transition::new(Some(Refunded), Refunded),
            ],
            "reversed: {reversed}"
        );
    }
}

#[tokio::test]
async fn an_event_whose_time_cannot_be_read_is_ordered_by_lifecycle_and_flagged() {
    let tracker = tracker();
    let captured = event_at(
        "ev_cap",
        "tr_untimed",
        Completed,
        Some("2024-03-01T11:00:00Z"),
    );
    let tracking = tracker.track(&captured).await.unwrap();
    assert!(!tracking.time_unreadable);

    // A refund whose time the crate cannot read: a transition, not stale.
    let refund = event_at("ev_refund", "tr_untimed", Refunded, Some("sometime"));
    let tracking = tracker.track(&refund).await.unwrap();
    assert_eq!(
        tracking.transition,
        Some(Transition::new(Some(Completed), Refunded))
    );
    assert!(!tracking.stale);
    assert!(tracking.time_unreadable);

    // An authorization without any time: behind the refund, stale.
    let authorized = event_at("ev_auth", "tr_untimed", Authorized, None);
    let tracking = tracker.track(&authorized).await.unwrap();
    assert_eq!(tracking.transition, None);
    assert!(tracking.stale);
    assert!(tracking.time_unreadable);

    // In the other order the final status is the same.
    let tracker = self::tracker();
    feed(&tracker, &[authorized, refund, captured]).await;
    assert_eq!(final_status(&tracker, "tr_untimed").await, Refunded);
}

#[tokio::test]
async fn a_lifecycle_with_shared_and_unreadable_times_ends_the_same_in_every_order() {
    let statuses = [
        Authorized,
        Completed,
        Refunded,
        Refunded,
        ChargebackInitiated,
    ];
    // Each event fired at one of two instants (never earlier than the
    // event before it) or at a time that cannot be read.
    let mut assignments: Vec<Vec<Option<&str>>> = vec![Vec::new()];
    for _ in &statuses {
        let mut next = Vec::new();
        for assignment in &assignments {
            let last = assignment.iter().flatten().last().copied();
            for time in [
                None,
                Some("2024-03-01T12:00:00Z"),
                Some("2024-03-01T12:00:01Z"),
            ] {
                if time.is_some() && time < last {
                    continue;
                }
                let mut longer = assignment.clone();
                longer.push(time);
                next.push(longer);
            }
        }
        assignments = next;
    }
    for assignment in assignments {
        let events: Vec<Event> = statuses
            .iter()
            .zip(&assignment)
            .enumerate()
            .map(|(n, (status, time))| {
                let fired_at = Some(time.unwrap_or("unreadable"));
                event_at(&format!("ev_mix_{n}"), "tr_mix", status.clone(), fired_at)
            })
            .collect();
        for order in permutations(&events) {
            let tracker = tracker();
            let transitions = feed(&tracker, &order).await;
            assert_eq!(
                final_status(&tracker, "tr_mix").await,
                ChargebackInitiated,
                "{assignment:?} {order:?}"
            );
            // Never backwards: each change goes up the lifecycle, or is a
            // further refund.
            let rank = |s: &TransactionStatus| s.lifecycle_rank().unwrap();
            assert!(
                transitions
                    .iter()
                    .all(|t| t
                        .from
                        .as_ref()
                        .is_none_or(|from| rank(from) < rank(&t.to)
                            || (*from == Refunded && t.to == Refunded))),
                "{assignment:?}: {transitions:?}"
            );
        }
    }
}
