//! The receiver's CPU time per delivery with the Redis stores against the
//! in-memory stores, in the same run (target: ratio <= 1.15), and the
//! round trips to Redis per delivery with 1 and with 10 handlers.
//!
//! What is measured: the CPU time of the one thread that runs the
//! receiver, as in production, for each delivery: `Receiver::handle` on a
//! request built beforehand (the `Authorization` check, the body, the
//! claim, the fetch of the event from the mock API over HTTP on loopback
//! through `ApiClient` and its parse, the tracker, one handler, the
//! settlement), with every task it spawns (the processing apart from the
//! request, the Redis connection's driver, the HTTP client's connection).
//! The receiver runs on a current-thread tokio runtime on the bench's
//! main thread, whose CPU time is read from `/proc/thread-self/schedstat`
//! (Linux) around each batch of deliveries, each read just after a sleep
//! of a nanosecond (the kernel brings the figure of a running thread up
//! to date only at its scheduler tick, or when it stops running). Not
//! measured: building the requests (the sender's work, before each batch
//! and outside its measure), the mock API and the counting proxy
//! (each on a runtime of their own, on other threads), and Redis itself
//! (another process). The event is the vendor's 16 KB
//! `transaction.failed` (`tests/fixtures/event-transaction-failed.json`),
//! served under each new ID asked.
//!
//! Three cases run the receiver, each warmed by 20 deliveries before it is
//! measured (connections open, scripts loaded): on the memory stores, on
//! the Redis stores, and on the memory stores with three bare `PING`
//! round trips to Redis made within each delivery (in its fetch), which
//! tells what three round trips cost in the receiver's flow rather than in
//! a tight loop. Two more run in tight loops, the receiver aside:
//! `three-pings`, three bare `PING`s, and `stores-alone`, a delivery's
//! three store operations (claim, apply, complete) on the Redis stores.
//!
//! Each of the three receiver cases runs twice more under load
//! (`…-8-in-flight`, `…-32-in-flight`): the same receiver on the same
//! thread kept busy by 8 and by 32 connections, each answering deliveries
//! one after the other from a queue of requests built beforehand (see
//! `support/in_flight.rs`), so that a wait on Redis or on the API is a
//! switch to another delivery rather than the thread's sleep, as in a
//! receiver serving many senders. A batch's CPU time is divided by the
//! deliveries answered in it.
//!
//! The round trips are counted from outside, by a TCP proxy between the
//! receiver and Redis: a round trip starts each time the receiver sends
//! after Redis answered it, so a pipeline would count once. Deliveries
//! are made one at a time, after one that loads the scripts.
//!
//! Needs the features `redis`, `testing` and `reqwest`, and a Redis at
//! `REDIS_URL` (keys under a prefix of their own, expiring after 10
//! minutes); without them it prints why and measures nothing.
//!
//! REDIS_URL=redis://127.0.0.1:6379 cargo bench --all-features --bench redis_roundtrips
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

#[cfg(all(feature = "redis", feature = "testing", feature = "reqwest"))]
#[path = "support/redis_roundtrips.rs"]
mod measured;

fn main() {
    #[cfg(all(feature = "redis", feature = "testing", feature = "reqwest"))]
    measured::main();
    #[cfg(not(all(feature = "redis", feature = "testing", feature = "reqwest")))]
    println!(
        "redis_roundtrips: skipped, it needs the features redis, testing and reqwest \
         (cargo bench --all-features --bench redis_roundtrips)"
    );
}
