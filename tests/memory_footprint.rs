//! What the in-memory claim store costs per remembered event, measured
//! with a counting allocator (the figure the store's docs give).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A global allocator must be `unsafe impl`: it only forwards to the
// system allocator and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use smart_router_webhooks::{Claim, ClaimStore, EventId, MemoryClaimStore};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[tokio::test(flavor = "current_thread")]
async fn a_remembered_event_costs_under_250_bytes() {
    const EVENTS: usize = 100_000;
    // IDs as Smart Router makes them: `ev_` and 32 characters.
    let ids: Vec<EventId> = (0..EVENTS)
        .map(|n| EventId::parse(&format!("ev_{n:0>32}")).unwrap())
        .collect();
    let store = MemoryClaimStore::new(EVENTS, Duration::from_secs(3600));
    let before = LIVE.load(Ordering::SeqCst);
    for id in &ids {
        let Claim::Acquired { token, .. } = store.claim(id, Duration::from_secs(60)).await.unwrap()
        else {
            panic!("new event");
        };
        store.complete(id, &token).await.unwrap();
    }
    let per_event = (LIVE.load(Ordering::SeqCst) - before) as f64 / EVENTS as f64;
    println!("bytes per remembered event: {per_event:.0}");
    assert_eq!(store.len(), EVENTS);
    assert!(per_event < 250.0, "{per_event:.0} bytes per event");
}
