//! A global allocator that counts the bytes live, and what the in-memory
//! stores cost per remembered event measured with it. Shared by
//! `tests/memory_footprint.rs` (which asserts the figures) and
//! `benches/claims.rs` (which prints them).
// A global allocator must be `unsafe impl`: this one only forwards to the
// system allocator and counts.
#![allow(unsafe_code)]
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use smart_router_webhooks::{
    Claim, ClaimStore, EventId, MemoryStore, Timestamp, TransactionId, TransactionSnapshot,
    TransactionStatus, TransactionStore,
};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The bytes allocated and not yet freed.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// The allocations made and not yet freed (each costs the system
/// allocator a few bytes more than its size).
pub fn live_allocations() -> isize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// What one remembered event costs the in-memory stores, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct PerEvent {
    /// The `MemoryStore`'s events: the event processed.
    pub claims: f64,
    /// The `MemoryStore`'s transactions: the snapshot of the event's own
    /// transaction.
    pub transactions: f64,
    /// The live allocations of both stores.
    pub allocations: f64,
}

impl PerEvent {
    /// Both stores together.
    pub fn total(&self) -> f64 {
        self.claims + self.transactions
    }
}

/// An ID as Smart Router makes them: a prefix and 32 characters.
fn vendor_id(prefix: &str, n: usize) -> String {
    format!("{prefix}_{n:0>32}")
}

/// What one processed event costs the in-memory stores holding `events` of
/// them, each on its own transaction (IDs and times as Smart Router writes
/// them): claimed and completed in a `MemoryStore`, and its snapshot
/// applied to it, the store sized for `events` events and transactions.
pub fn stores_bytes_per_event(events: usize) -> PerEvent {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let snapshots: Vec<TransactionSnapshot> = (0..events)
        .map(|n| {
            TransactionSnapshot::new(
                TransactionId::parse(&vendor_id("tr", n)).expect("a valid ID"),
                TransactionStatus::Authorized,
                Some(Timestamp::lenient("2023-04-22T15:48:57.55294073Z")),
                EventId::parse(&vendor_id("ev", n)).expect("a valid ID"),
            )
        })
        .collect();
    let store = MemoryStore::new(events, Duration::from_secs(3600), events);
    let (claims, transactions) = (&store, &store);
    let (before, allocations) = (live_bytes(), live_allocations());
    runtime.block_on(async {
        for snapshot in &snapshots {
            let id = &snapshot.event_id;
            match claims.claim(id, Duration::from_secs(60)).await {
                Ok(Claim::Acquired { token, .. }) => {
                    assert!(claims.complete(id, &token).await.expect("complete"));
                }
                other => panic!("a new event is acquired: {other:?}"),
            }
        }
    });
    let after_claims = live_bytes();
    runtime.block_on(async {
        for snapshot in &snapshots {
            transactions.apply(snapshot).await.expect("applied");
        }
    });
    let after = live_bytes();
    assert_eq!(store.remembered_events(), events);
    assert_eq!(store.remembered_transactions(), events);
    PerEvent {
        claims: (after_claims - before) as f64 / events as f64,
        transactions: (after - after_claims) as f64 / events as f64,
        allocations: (live_allocations() - allocations) as f64 / events as f64,
    }
}
