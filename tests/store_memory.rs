//! The store contract, and the bounds, of `MemoryStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/store_contract.rs"]
mod store_contract;

use std::sync::Arc;
use std::time::Duration;

use smart_router_webhooks::{
    Claim, ClaimStore, ClaimUpdate, DeliveryProgress, EventId, MemoryStore,
};

/// What a store sized for events alone is given for transactions, and the
/// reverse: any number, the tests below never reach it.
const UNUSED: usize = 100;

#[tokio::test]
async fn the_memory_store_keeps_the_claim_and_transaction_store_contract() {
    store_contract::run_all(
        || Arc::new(MemoryStore::default()),
        || Arc::new(MemoryStore::default()),
    )
    .await;
}

/// A receiver is given `store.clone()` as its claim store and the store
/// as its transaction store (and a reconciler a clone as its cursor
/// store): every clone sees what the others did.
#[tokio::test]
async fn clones_of_a_store_share_what_it_remembers() {
    use smart_router_webhooks::{
        Timestamp, TransactionId, TransactionSnapshot, TransactionStatus, TransactionStore,
    };
    let store = MemoryStore::default();
    let clone = store.clone();
    let lease = Duration::from_secs(60);
    let id = EventId::parse("ev_shared").unwrap();
    let Claim::Acquired { token, .. } = store.claim(&id, lease).await.unwrap() else {
        panic!("a new event is acquired")
    };
    assert_eq!(clone.claim(&id, lease).await.unwrap(), Claim::InProgress);
    assert!(clone.complete(&id, &token).await.unwrap());
    assert_eq!(store.claim(&id, lease).await.unwrap(), Claim::AlreadyDone);

    let tx = TransactionId::parse("tr_shared").unwrap();
    let snapshot = TransactionSnapshot::new(
        tx.clone(),
        TransactionStatus::Authorized,
        Some(Timestamp::from_unix_nanos(1)),
        id.clone(),
    );
    clone.apply(&snapshot).await.unwrap();
    assert_eq!(store.latest(&tx), Some(snapshot));
    assert_eq!(
        (store.remembered_events(), store.remembered_transactions()),
        (1, 1)
    );
}

#[tokio::test]
async fn the_events_stay_within_capacity_under_a_million() {
    let store = MemoryStore::new(10_000, Duration::from_secs(3600), UNUSED);
    let lease = Duration::from_secs(60);
    for n in 0..1_000_000u32 {
        let id = EventId::parse(&format!("ev_{n}")).unwrap();
        let Claim::Acquired { token, .. } = store.claim(&id, lease).await.unwrap() else {
            panic!("event {n} is new");
        };
        store.complete(&id, &token).await.unwrap();
        assert!(store.remembered_events() <= 10_000);
    }
    assert_eq!(store.remembered_events(), 10_000);
    assert_eq!(store.remembered_transactions(), 0);
    // The newest are remembered, the oldest forgotten.
    let newest = EventId::parse("ev_999999").unwrap();
    assert_eq!(
        store.claim(&newest, lease).await.unwrap(),
        Claim::AlreadyDone
    );
    let oldest = EventId::parse("ev_0").unwrap();
    assert!(matches!(
        store.claim(&oldest, lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
}

#[tokio::test]
async fn live_claims_are_never_evicted_and_a_full_store_says_so() {
    let store = MemoryStore::new(2, Duration::from_secs(3600), UNUSED);
    let lease = Duration::from_secs(60);
    let ids: Vec<_> = (0..3)
        .map(|n| EventId::parse(&format!("ev_{n}")).unwrap())
        .collect();
    store.claim(&ids[0], lease).await.unwrap();
    store.claim(&ids[1], lease).await.unwrap();
    let err = store.claim(&ids[2], lease).await.unwrap_err();
    assert_eq!(err.kind(), smart_router_webhooks::ErrorKind::Store);
    assert_eq!(
        store.claim(&ids[0], lease).await.unwrap(),
        Claim::InProgress
    );
}

#[tokio::test]
async fn a_full_store_forgets_processed_events_before_unfinished_ones() {
    use std::collections::BTreeSet;
    let store = MemoryStore::new(2, Duration::from_secs(3600), UNUSED);
    let lease = Duration::from_secs(60);
    let ids: Vec<_> = (0..3)
        .map(|n| EventId::parse(&format!("ev_{n}")).unwrap())
        .collect();
    // ev_0: a handler completed, another failed: released for a retry.
    let Claim::Acquired { token, .. } = store.claim(&ids[0], lease).await.unwrap() else {
        panic!()
    };
    let ledger = DeliveryProgress::new(&["ledger"], None);
    store
        .release(ClaimUpdate::new(&ids[0], &token, ledger))
        .await
        .unwrap();
    // ev_1: processed.
    let Claim::Acquired { token, .. } = store.claim(&ids[1], lease).await.unwrap() else {
        panic!()
    };
    store.complete(&ids[1], &token).await.unwrap();
    // ev_2 needs room: the processed ev_1 goes, though ev_0 is older.
    assert!(matches!(
        store.claim(&ids[2], lease).await.unwrap(),
        Claim::Acquired { .. }
    ));
    match store.claim(&ids[0], lease).await.unwrap() {
        Claim::Acquired { completed, .. } => {
            assert_eq!(completed, BTreeSet::from(["ledger".to_owned()]))
        }
        other => panic!("ev_0 was forgotten: {other:?}"),
    }
}

#[tokio::test]
async fn the_store_forgets_the_transaction_updated_longest_ago() {
    use smart_router_webhooks::{
        Applied, Timestamp, TransactionId, TransactionSnapshot, TransactionStatus, TransactionStore,
    };
    let store = MemoryStore::new(UNUSED, Duration::from_secs(3600), 2);
    let mut n = 0;
    let mut apply = async |tx: &str, status: TransactionStatus| {
        n += 1;
        let snapshot = TransactionSnapshot::new(
            TransactionId::parse(tx).unwrap(),
            status,
            Some(Timestamp::from_unix_nanos(n)),
            EventId::parse(&format!("ev_{n}")).unwrap(),
        );
        store.apply(&snapshot).await.unwrap()
    };
    apply("tr_old", TransactionStatus::Authorized).await;
    apply("tr_quiet", TransactionStatus::Authorized).await;
    // Seen first, but updated last: tr_quiet is the one to forget.
    apply("tr_old", TransactionStatus::Completed).await;
    apply("tr_new", TransactionStatus::Authorized).await;
    let latest = |tx: &str| {
        let tx = TransactionId::parse(tx).unwrap();
        store.latest(&tx).map(|s| s.status)
    };
    assert_eq!(latest("tr_old"), Some(TransactionStatus::Completed));
    assert_eq!(latest("tr_quiet"), None);
    assert!(latest("tr_new").is_some());
    assert_eq!(store.remembered_transactions(), 2);
    assert_eq!(store.remembered_events(), 0);
    assert_eq!(
        apply("tr_old", TransactionStatus::Refunded).await,
        Applied::Newer {
            previous: Some(TransactionStatus::Completed)
        }
    );
}
