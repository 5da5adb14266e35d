//! The behaviour every `ClaimStore` and `TransactionStore` must have,
//! written once and run against each implementation.
//!
//! Each function takes a fresh, empty store (IDs are made unique per call,
//! so a shared backend such as Redis may be reused between cases).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use smart_router_webhooks::{
    Applied, Claim, ClaimStore, ClaimToken, ClaimUpdate, DeliveryProgress, EventId, MemoryStore,
    Timestamp, TransactionId, TransactionSnapshot, TransactionStatus, TransactionStore,
};

/// A transaction store the contract can read back, with the store's own
/// `latest` (the pipeline never reads one back, so the trait has none).
#[async_trait::async_trait]
pub trait ReadBack: TransactionStore {
    async fn latest(&self, transaction: &TransactionId) -> Option<TransactionSnapshot>;
}

#[async_trait::async_trait]
impl ReadBack for MemoryStore {
    async fn latest(&self, transaction: &TransactionId) -> Option<TransactionSnapshot> {
        MemoryStore::latest(self, transaction)
    }
}

#[cfg(feature = "redis")]
#[async_trait::async_trait]
impl ReadBack for smart_router_webhooks::RedisStore {
    async fn latest(&self, transaction: &TransactionId) -> Option<TransactionSnapshot> {
        smart_router_webhooks::RedisStore::latest(self, transaction)
            .await
            .unwrap()
    }
}

/// A progress of completed handlers and nothing owed.
fn handlers<'a>(names: &'a [&'a str]) -> DeliveryProgress<'a> {
    DeliveryProgress::new(names, None)
}

/// A prefix unique to this run, so cases sharing a backend never collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn event_id() -> EventId {
    EventId::parse(&unique("ev")).unwrap()
}

const LEASE: Duration = Duration::from_secs(30);

fn acquired(claim: Claim) -> (ClaimToken, BTreeSet<String>) {
    match claim {
        Claim::Acquired {
            token, completed, ..
        } => (token, completed),
        other => panic!("expected Acquired, got {other:?}"),
    }
}

pub async fn a_new_event_is_acquired_then_in_progress_then_done(store: &dyn ClaimStore) {
    let id = event_id();
    let (token, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert!(completed.is_empty());
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::InProgress);
    store.complete(&id, &token).await.unwrap();
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn a_released_claim_can_be_taken_again_with_its_completed_handlers(
    store: &dyn ClaimStore,
) {
    let id = event_id();
    let (token, _) = acquired(store.claim(&id, LEASE).await.unwrap());
    store
        .release(ClaimUpdate::new(
            &id,
            &token,
            handlers(&["ledger", "email"]),
        ))
        .await
        .unwrap();
    let (second, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert_ne!(second, token);
    assert_eq!(
        completed,
        BTreeSet::from(["email".to_owned(), "ledger".to_owned()])
    );
    store.complete(&id, &second).await.unwrap();
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn an_expired_lease_lets_another_delivery_take_over(store: &dyn ClaimStore) {
    let id = event_id();
    let short = Duration::from_millis(100);
    let (first, _) = acquired(store.claim(&id, short).await.unwrap());
    // A renewal records what completed.
    let ledger = handlers(&["ledger"]);
    assert!(
        store
            .renew(ClaimUpdate::new(&id, &first, ledger), short)
            .await
            .unwrap()
    );
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::InProgress);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (second, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert_eq!(completed, BTreeSet::from(["ledger".to_owned()]));
    // The first holder comes back late: it can neither release, renew
    // nor complete the claim it lost, but what it completed is recorded.
    let email = handlers(&["email"]);
    assert!(
        !store
            .release(ClaimUpdate::new(&id, &first, email))
            .await
            .unwrap()
    );
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::InProgress);
    assert!(!store.complete(&id, &first).await.unwrap());
    let audit = handlers(&["audit"]);
    assert!(
        !store
            .renew(ClaimUpdate::new(&id, &first, audit), LEASE)
            .await
            .unwrap()
    );
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::InProgress);
    assert!(
        store
            .release(ClaimUpdate::new(&id, &second, DeliveryProgress::NONE))
            .await
            .unwrap()
    );
    let (third, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert_eq!(
        completed,
        BTreeSet::from(["audit".to_owned(), "email".to_owned(), "ledger".to_owned()])
    );
    assert!(!store.complete(&id, &second).await.unwrap());
    assert!(store.complete(&id, &third).await.unwrap());
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn a_lapsed_lease_not_taken_over_still_records_and_completes(store: &dyn ClaimStore) {
    let id = event_id();
    let (token, _) = acquired(store.claim(&id, Duration::from_millis(100)).await.unwrap());
    // Something recorded: the event is remembered past its lease (a claim
    // that recorded nothing may be forgotten with its lease).
    let ledger = handlers(&["ledger"]);
    let short = Duration::from_millis(100);
    assert!(
        store
            .renew(ClaimUpdate::new(&id, &token, ledger), short)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Nobody took the event over: what the late holder did still counts.
    let both = handlers(&["ledger", "email"]);
    assert!(
        store
            .release(ClaimUpdate::new(&id, &token, both))
            .await
            .unwrap()
    );
    let (second, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert_eq!(
        completed,
        BTreeSet::from(["email".to_owned(), "ledger".to_owned()])
    );
    assert!(
        store
            .release(ClaimUpdate::new(&id, &second, DeliveryProgress::NONE))
            .await
            .unwrap()
    );
    // A released claim's holder may still complete it, until it is taken.
    assert!(store.complete(&id, &second).await.unwrap());
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn a_renewed_claim_outlives_its_first_lease(store: &dyn ClaimStore) {
    let id = event_id();
    let short = Duration::from_millis(200);
    let (token, _) = acquired(store.claim(&id, short).await.unwrap());
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            store
                .renew(ClaimUpdate::new(&id, &token, DeliveryProgress::NONE), short)
                .await
                .unwrap()
        );
    }
    // 400 ms after the claim, twice its first lease: still held.
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::InProgress);
    assert!(store.complete(&id, &token).await.unwrap());
    let late = handlers(&["late"]);
    assert!(
        !store
            .renew(ClaimUpdate::new(&id, &token, late), short)
            .await
            .unwrap(),
        "done"
    );
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn the_first_attempts_owed_work_is_kept_until_the_event_is_done(store: &dyn ClaimStore) {
    let id = event_id();
    // Nothing is recorded for an event that is not claimed.
    let stray = ClaimToken::new("stray");
    let progress = DeliveryProgress::new(&[], Some("stray"));
    assert!(
        !store
            .release(ClaimUpdate::new(&id, &stray, progress))
            .await
            .unwrap()
    );
    let (first, _) = acquired_owing(store.claim(&id, LEASE).await.unwrap(), None);
    let progress = DeliveryProgress::new(&[], Some("first plan"));
    assert!(
        store
            .renew(ClaimUpdate::new(&id, &first, progress), LEASE)
            .await
            .unwrap()
    );
    let progress = DeliveryProgress::new(&["ledger"], Some("second plan"));
    assert!(
        store
            .release(ClaimUpdate::new(&id, &first, progress))
            .await
            .unwrap()
    );
    // A retry, and a takeover after a lapsed lease, both get the first plan.
    let (second, _) = acquired_owing(
        store.claim(&id, Duration::from_millis(100)).await.unwrap(),
        Some("first plan"),
    );
    let _ = second;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (third, completed) =
        acquired_owing(store.claim(&id, LEASE).await.unwrap(), Some("first plan"));
    assert_eq!(completed, BTreeSet::from(["ledger".to_owned()]));
    assert!(store.complete(&id, &third).await.unwrap());
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

/// The token and completed handlers of an acquired claim, checking what it
/// says is owed.
fn acquired_owing(
    claim: Claim,
    expected: Option<&str>,
) -> (smart_router_webhooks::ClaimToken, BTreeSet<String>) {
    match claim {
        Claim::Acquired {
            token,
            completed,
            owed,
        } => {
            assert_eq!(owed.as_deref(), expected);
            (token, completed)
        }
        other => panic!("expected Acquired, got {other:?}"),
    }
}

pub async fn handlers_are_recorded_only_for_a_claimed_event(store: &dyn ClaimStore) {
    let id = event_id();
    let stray = ClaimToken::new("stray");
    let ledger = handlers(&["ledger"]);
    assert!(
        !store
            .release(ClaimUpdate::new(&id, &stray, ledger))
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew(ClaimUpdate::new(&id, &stray, ledger), LEASE)
            .await
            .unwrap()
    );
    let (token, completed) = acquired(store.claim(&id, LEASE).await.unwrap());
    assert!(completed.is_empty(), "{completed:?}");
    store.complete(&id, &token).await.unwrap();
    let email = handlers(&["email"]);
    assert!(
        !store
            .release(ClaimUpdate::new(&id, &token, email))
            .await
            .unwrap()
    );
    assert_eq!(store.claim(&id, LEASE).await.unwrap(), Claim::AlreadyDone);
}

pub async fn concurrent_claims_have_exactly_one_winner(store: Arc<dyn ClaimStore>) {
    let id = event_id();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store.claim(&id, LEASE).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Claim::Acquired { .. } => winners += 1,
            Claim::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

pub async fn events_are_independent(store: &dyn ClaimStore) {
    let (a, b) = (event_id(), event_id());
    let (token_a, _) = acquired(store.claim(&a, LEASE).await.unwrap());
    let ledger = handlers(&["ledger"]);
    assert!(
        store
            .renew(ClaimUpdate::new(&a, &token_a, ledger), LEASE)
            .await
            .unwrap()
    );
    let (_, completed_b) = acquired(store.claim(&b, LEASE).await.unwrap());
    assert!(completed_b.is_empty());
    store.complete(&a, &token_a).await.unwrap();
    assert_eq!(store.claim(&b, LEASE).await.unwrap(), Claim::InProgress);
}

fn snapshot(tx: &TransactionId, status: TransactionStatus, fired_at: &str) -> TransactionSnapshot {
    TransactionSnapshot::new(
        tx.clone(),
        status,
        Some(Timestamp::lenient(fired_at)),
        event_id(),
    )
}

pub async fn snapshots_apply_in_order_and_stale_ones_change_nothing(store: &dyn ReadBack) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    assert_eq!(store.latest(&tx).await, None);

    let authorized = snapshot(&tx, Authorized, "2024-01-01T10:00:00Z");
    assert_eq!(
        store.apply(&authorized).await.unwrap(),
        Applied::Newer { previous: None }
    );

    let refunded = snapshot(&tx, Refunded, "2024-01-03T10:00:00.000000002Z");
    let completed = snapshot(&tx, Completed, "2024-01-03T10:00:00.000000001Z");
    assert_eq!(
        store.apply(&refunded).await.unwrap(),
        Applied::Newer {
            previous: Some(Authorized)
        }
    );
    // Completed was fired a nanosecond before refunded: stale.
    assert_eq!(
        store.apply(&completed).await.unwrap(),
        Applied::Stale {
            latest: refunded.clone()
        }
    );
    assert_eq!(store.latest(&tx).await, Some(refunded.clone()));
    // The same event applied again answers as the first time.
    assert_eq!(
        store.apply(&refunded).await.unwrap(),
        Applied::Newer {
            previous: Some(Authorized)
        }
    );
}

pub async fn a_superseded_event_applied_again_answers_as_the_first_time(store: &dyn ReadBack) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    let authorized = snapshot(&tx, Authorized, "2024-01-01T10:00:00Z");
    let captured = snapshot(&tx, Completed, "2024-01-01T10:05:00Z");
    let refunded = snapshot(&tx, Refunded, "2024-01-02T10:00:00Z");
    store.apply(&authorized).await.unwrap();
    store.apply(&captured).await.unwrap();
    store.apply(&refunded).await.unwrap();
    // A retry of each event sees the change it brought the first time,
    // though newer events superseded it: a handler that failed on that
    // change runs again.
    assert_eq!(
        store.apply(&authorized).await.unwrap(),
        Applied::Newer { previous: None }
    );
    assert_eq!(
        store.apply(&captured).await.unwrap(),
        Applied::Newer {
            previous: Some(Authorized)
        }
    );
    // Without moving the transaction back.
    assert_eq!(store.latest(&tx).await, Some(refunded.clone()));
    assert_eq!(
        store.apply(&refunded).await.unwrap(),
        Applied::Newer {
            previous: Some(Completed)
        }
    );
    // An event first found stale stays stale.
    let late = snapshot(&tx, Completed, "2024-01-01T11:00:00Z");
    for _ in 0..2 {
        assert_eq!(
            store.apply(&late).await.unwrap(),
            Applied::Stale {
                latest: refunded.clone()
            }
        );
    }
    // The next snapshot still compares with the latest.
    let chargeback = snapshot(&tx, ChargebackInitiated, "2024-01-03T10:00:00Z");
    assert_eq!(
        store.apply(&chargeback).await.unwrap(),
        Applied::Newer {
            previous: Some(Refunded)
        }
    );
    assert_eq!(
        store.apply(&refunded).await.unwrap(),
        Applied::Newer {
            previous: Some(Completed)
        }
    );
}

/// The crate's stores keep the answers of the last 16 superseded events
/// of a transaction; returns the transaction, to inspect the store.
pub async fn the_answers_of_the_last_sixteen_superseded_events_are_kept(
    store: &dyn ReadBack,
) -> TransactionId {
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    let snapshots: Vec<TransactionSnapshot> = (0..20)
        .map(|n| {
            TransactionSnapshot::new(
                tx.clone(),
                TransactionStatus::Refunded,
                Some(Timestamp::from_unix_nanos(n)),
                event_id(),
            )
        })
        .collect();
    for snapshot in &snapshots {
        store.apply(snapshot).await.unwrap();
    }
    // 19 superseded: the answers of the oldest 3 are forgotten.
    for (n, snapshot) in snapshots.iter().enumerate() {
        let applied = store.apply(snapshot).await.unwrap();
        assert_eq!(matches!(applied, Applied::Newer { .. }), n >= 3, "{n}");
    }
    tx
}

pub async fn equal_times_are_ordered_by_lifecycle(store: &dyn ReadBack) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    let at = "2024-01-01T10:00:00Z";
    store.apply(&snapshot(&tx, Completed, at)).await.unwrap();
    let pending = snapshot(&tx, Pending, at);
    assert!(matches!(
        store.apply(&pending).await.unwrap(),
        Applied::Stale { .. }
    ));
    let chargeback = snapshot(&tx, ChargebackInitiated, at);
    assert_eq!(
        store.apply(&chargeback).await.unwrap(),
        Applied::Newer {
            previous: Some(Completed)
        }
    );
}

/// A snapshot whose time cannot be read (absent, or in no form the crate
/// reads) is ordered by lifecycle alone: never assumed older than the
/// latest, never assumed newer either.
pub async fn a_snapshot_without_a_readable_time_is_ordered_by_lifecycle_alone(
    store: &dyn ReadBack,
) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    store
        .apply(&snapshot(&tx, Completed, "2024-01-01T10:00:00Z"))
        .await
        .unwrap();
    // A refund whose time cannot be read comes after a capture.
    let refund = TransactionSnapshot::new(
        tx.clone(),
        Refunded,
        Some(Timestamp::lenient("yesterday")),
        event_id(),
    );
    assert_eq!(
        store.apply(&refund).await.unwrap(),
        Applied::Newer {
            previous: Some(Completed)
        }
    );
    // An authorization without a time comes before it.
    let untimed = TransactionSnapshot::new(tx.clone(), Authorized, None, event_id());
    assert_eq!(
        store.apply(&untimed).await.unwrap(),
        Applied::Stale {
            latest: refund.clone()
        }
    );
    // A timed capture, however late, does not undo the refund.
    let late = snapshot(&tx, Completed, "2024-01-09T10:00:00Z");
    assert_eq!(
        store.apply(&late).await.unwrap(),
        Applied::Stale {
            latest: refund.clone()
        }
    );
    // At the same lifecycle rank, the snapshot without a time is the newer
    // (a further partial refund), whichever arrives first.
    let timed_refund = snapshot(&tx, Refunded, "2024-01-09T11:00:00Z");
    assert_eq!(
        store.apply(&timed_refund).await.unwrap(),
        Applied::Stale {
            latest: refund.clone()
        }
    );
    // A dispute, timed, moves on from the untimed refund.
    let dispute = snapshot(&tx, ChargebackInitiated, "2024-01-10T10:00:00Z");
    assert_eq!(
        store.apply(&dispute).await.unwrap(),
        Applied::Newer {
            previous: Some(Refunded)
        }
    );
    assert_eq!(store.latest(&tx).await, Some(dispute));
}

/// Two events of one transaction: their snapshots, from events with IDs
/// `<unique>_a` < `<unique>_b`.
fn twins(
    tx: &TransactionId,
    first: (TransactionStatus, Option<&str>),
    second: (TransactionStatus, Option<&str>),
) -> [TransactionSnapshot; 2] {
    let base = unique("ev");
    let make = |(status, at): (TransactionStatus, Option<&str>), suffix: &str| {
        TransactionSnapshot::new(
            tx.clone(),
            status,
            at.map(Timestamp::lenient),
            EventId::parse(&format!("{base}_{suffix}")).unwrap(),
        )
    };
    [make(first, "a"), make(second, "b")]
}

/// Snapshots with the same time and lifecycle rank end in the same status
/// whatever their arrival order: the greater event ID (by bytes) is the
/// newer. The same status that may follow itself (a further partial
/// refund) is a change in either order.
pub async fn equal_times_give_one_final_status_whatever_the_arrival_order(store: &dyn ReadBack) {
    use TransactionStatus::*;
    let at = Some("2024-01-01T10:00:00.5Z");
    let pairs = [
        ((Completed, at), (Voided, at)),
        ((Voided, at), (Completed, at)),
        ((Failed, at), (Blocked, at)),
        ((Pending, at), (InReview, at)),
        ((Solved, at), (Reversed, at)),
        ((Completed, None), (Voided, None)),
        ((Voided, None), (Failed, Some("not a time"))),
    ];
    for (a, b) in pairs {
        let mut finals = Vec::new();
        for reversed in [false, true] {
            let tx = TransactionId::parse(&unique("tr")).unwrap();
            let [first, second] = twins(&tx, a.clone(), b.clone());
            let order = if reversed {
                [&second, &first]
            } else {
                [&first, &second]
            };
            for snapshot in order {
                store.apply(snapshot).await.unwrap();
            }
            let latest = store.latest(&tx).await.unwrap();
            assert_eq!(latest, second, "{a:?} {b:?}, reversed: {reversed}");
            finals.push(latest.status);
        }
        assert_eq!(finals[0], finals[1]);
    }

    // Two partial refunds at the same instant: each is a change, in both
    // orders.
    for reversed in [false, true] {
        let tx = TransactionId::parse(&unique("tr")).unwrap();
        store
            .apply(&snapshot(&tx, Completed, "2024-01-01T09:00:00Z"))
            .await
            .unwrap();
        let [first, second] = twins(&tx, (Refunded, at), (Refunded, at));
        let order = if reversed {
            [&second, &first]
        } else {
            [&first, &second]
        };
        assert_eq!(
            store.apply(order[0]).await.unwrap(),
            Applied::Newer {
                previous: Some(Completed)
            }
        );
        assert_eq!(
            store.apply(order[1]).await.unwrap(),
            Applied::Newer {
                previous: Some(Refunded)
            },
            "reversed: {reversed}"
        );
        // Retried, each answers as it did.
        assert_eq!(
            store.apply(order[0]).await.unwrap(),
            Applied::Newer {
                previous: Some(Completed)
            }
        );
        assert_eq!(store.latest(&tx).await.unwrap().status, Refunded);
    }
}

pub async fn snapshots_read_back_exactly(store: &dyn ReadBack) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    let odd = TransactionSnapshot::new(
        tx.clone(),
        TransactionStatus::from("on-hold-by-a-new-rule"),
        Some(Timestamp::lenient("last tuesday")),
        event_id(),
    );
    assert_eq!(
        store.apply(&odd).await.unwrap(),
        Applied::Newer { previous: None }
    );
    assert_eq!(store.latest(&tx).await, Some(odd.clone()));
    // Both without a readable time: the lifecycle decides.
    let untimed = TransactionSnapshot::new(tx.clone(), Waiting, None, event_id());
    assert_eq!(
        store.apply(&untimed).await.unwrap(),
        Applied::Newer {
            previous: Some(odd.status.clone())
        }
    );
    let [twin, precise] = twins(
        &tx,
        (Pending, Some("2024-01-01T10:00:00.000000001+02:00")),
        (Pending, Some("2024-01-01T10:00:00.000000001+02:00")),
    );
    store.apply(&precise).await.unwrap();
    // Another event with the same time and status, and a smaller ID,
    // changes nothing.
    assert_eq!(
        store.apply(&twin).await.unwrap(),
        Applied::Stale {
            latest: precise.clone()
        }
    );
    let earlier = snapshot(&tx, Completed, "2024-01-01T08:00:00Z");
    assert_eq!(
        store.apply(&earlier).await.unwrap(),
        Applied::Stale {
            latest: precise.clone()
        }
    );
    let latest = store.latest(&tx).await.unwrap();
    assert_eq!(latest, precise);
    assert_eq!(
        latest.fired_at.unwrap().as_str(),
        "2024-01-01T10:00:00.000000001+02:00"
    );
}

pub async fn concurrent_applies_keep_the_newest(store: Arc<dyn ReadBack>) {
    use TransactionStatus::*;
    let tx = TransactionId::parse(&unique("tr")).unwrap();
    let statuses = [
        Pending,
        Authorized,
        Completed,
        Refunded,
        ChargebackInitiated,
        Solved,
    ];
    let mut tasks = Vec::new();
    for (i, status) in statuses.iter().cycle().take(60).enumerate() {
        let store = store.clone();
        let s = snapshot(
            &tx,
            status.clone(),
            &format!("2024-01-01T10:00:{:02}Z", i % 6),
        );
        tasks.push(tokio::spawn(async move { store.apply(&s).await.unwrap() }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let latest = store.latest(&tx).await.unwrap();
    assert_eq!(latest.status, Solved);
    assert_eq!(latest.fired_at.unwrap().as_str(), "2024-01-01T10:00:05Z");
}

/// Runs every case of the contract against stores made by the two
/// factories.
pub async fn run_all(
    claims: impl Fn() -> Arc<dyn ClaimStore>,
    transactions: impl Fn() -> Arc<dyn ReadBack>,
) {
    a_new_event_is_acquired_then_in_progress_then_done(&*claims()).await;
    a_released_claim_can_be_taken_again_with_its_completed_handlers(&*claims()).await;
    an_expired_lease_lets_another_delivery_take_over(&*claims()).await;
    a_lapsed_lease_not_taken_over_still_records_and_completes(&*claims()).await;
    handlers_are_recorded_only_for_a_claimed_event(&*claims()).await;
    a_renewed_claim_outlives_its_first_lease(&*claims()).await;
    the_first_attempts_owed_work_is_kept_until_the_event_is_done(&*claims()).await;
    concurrent_claims_have_exactly_one_winner(claims()).await;
    events_are_independent(&*claims()).await;
    snapshots_apply_in_order_and_stale_ones_change_nothing(&*transactions()).await;
    a_superseded_event_applied_again_answers_as_the_first_time(&*transactions()).await;
    the_answers_of_the_last_sixteen_superseded_events_are_kept(&*transactions()).await;
    equal_times_are_ordered_by_lifecycle(&*transactions()).await;
    a_snapshot_without_a_readable_time_is_ordered_by_lifecycle_alone(&*transactions()).await;
    equal_times_give_one_final_status_whatever_the_arrival_order(&*transactions()).await;
    snapshots_read_back_exactly(&*transactions()).await;
    concurrent_applies_keep_the_newest(transactions()).await;
}
