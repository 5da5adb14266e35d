//! The store contract, and the bounds, of the in-memory stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/store_contract.rs"]
mod store_contract;

use std::sync::Arc;
use std::time::Duration;

use smart_router_webhooks::{
    Claim, ClaimStore, ClaimUpdate, DeliveryProgress, EventId, MemoryClaimStore,
    MemoryTransactionStore,
};

#[tokio::test]
async fn memory_stores_keep_the_store_contract() {
    store_contract::run_all(
        || Arc::new(MemoryClaimStore::default()),
        || Arc::new(MemoryTransactionStore::default()),
    )
    .await;
}

#[tokio::test]
async fn the_claim_store_stays_within_capacity_under_a_million_events() {
    let store = MemoryClaimStore::new(10_000, Duration::from_secs(3600));
    let lease = Duration::from_secs(60);
    for n in 0..1_000_000u32 {
        let id = EventId::parse(&format!("ev_{n}")).unwrap();
        let Claim::Acquired { token, .. } = store.claim(&id, lease).await.unwrap() else {
            panic!("event {n} is new");
        };
        store.complete(&id, &token).await.unwrap();
        assert!(store.len() <= 10_000);
    }
    assert_eq!(store.len(), 10_000);
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
    let store = MemoryClaimStore::new(2, Duration::from_secs(3600));
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
    let store = MemoryClaimStore::new(2, Duration::from_secs(3600));
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
async fn the_transaction_store_forgets_the_transaction_updated_longest_ago() {
    use smart_router_webhooks::{
        Applied, Timestamp, TransactionId, TransactionSnapshot, TransactionStatus, TransactionStore,
    };
    let store = MemoryTransactionStore::new(2);
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
    assert_eq!(store.len(), 2);
    assert_eq!(
        apply("tr_old", TransactionStatus::Refunded).await,
        Applied::Newer {
            previous: Some(TransactionStatus::Completed)
        }
    );
}
