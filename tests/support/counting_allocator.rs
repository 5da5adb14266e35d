//! A global allocator that counts the bytes live, and what the in-memory
//! claim store costs per remembered event measured with it. Shared by
//! `tests/memory_footprint.rs` (which asserts the figure) and
//! `benches/claims.rs` (which prints it).
// A global allocator must be `unsafe impl`: this one only forwards to the
// system allocator and counts.
#![allow(unsafe_code)]
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use smart_router_webhooks::{Claim, ClaimStore, EventId, MemoryClaimStore};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
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

/// The bytes one processed event costs a `MemoryClaimStore` holding
/// `events` of them, IDs as Smart Router makes them (`ev_` and 32
/// characters).
pub fn claim_store_bytes_per_event(events: usize) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let ids: Vec<EventId> = (0..events)
        .map(|n| EventId::parse(&format!("ev_{n:0>32}")).expect("a valid ID"))
        .collect();
    let store = MemoryClaimStore::new(events, Duration::from_secs(3600));
    let before = live_bytes();
    runtime.block_on(async {
        for id in &ids {
            match store.claim(id, Duration::from_secs(60)).await {
                Ok(Claim::Acquired { token, .. }) => {
                    assert!(store.complete(id, &token).await.expect("complete"));
                }
                other => panic!("a new event is acquired: {other:?}"),
            }
        }
    });
    assert_eq!(store.len(), events);
    (live_bytes() - before) as f64 / events as f64
}
