//! The demo's story (`cargo run --example demo`) ends with the figures it
//! should: every guarantee it shows is counted, and its last chapter
//! catches up on what an outage missed, each event handled once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/demo/catch_up.rs"]
mod catch_up;
#[path = "../examples/demo/inbox.rs"]
mod inbox;
#[path = "../examples/demo/scenario.rs"]
mod scenario;

use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_ends_with_the_expected_summary() {
    let mut timeline = Vec::new();
    let summary = scenario::run(&mut timeline).await.unwrap();
    let runs = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(h, n)| (h.to_string(), *n)).collect()
    };
    assert_eq!(
        summary,
        scenario::Summary {
            deliveries: 12,
            attempts: 13,     // the API failure costs one retry
            acknowledged: 11, // all but the forged delivery
            processed: 10,
            duplicates: 1,
            refused: 1,
            fetches: 11, // no fetch for the duplicate nor the forgery; one retried
            transitions: 8,
            stale: 1,
            unhandled: 1,
            handler_runs: runs(&[
                ("apm-settled", 1),
                ("dispute-desk", 1),
                ("fulfil-order", 4),
                ("ledger", 9),
                ("unhandled-log", 1),
            ]),
        }
    );
    let timeline = String::from_utf8(timeline).unwrap();
    assert!(
        timeline.contains("tr_card: completed → chargeback-initiated"),
        "{timeline}"
    );
    assert!(
        timeline.contains("attempt 1: 401 unauthorized"),
        "{timeline}"
    );
    assert!(
        !timeline.contains("s3cret"),
        "the timeline never shows the password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_up_chapter_handles_what_the_outage_missed_once() {
    let mut timeline = Vec::new();
    let summary = catch_up::run(&mut timeline).await.unwrap();
    assert_eq!(
        summary,
        catch_up::CatchUp {
            delivered: 2,
            missed: 2,
            attempts: 8, // 1 + 3 + 3 + 1: the sender retries, then gives up
            seen: 4,
            caught_up: 2,
            already_done: 2,
            requests: 2, // the starting event, then one page
            idle_requests: 1,
            // Each event handled once: three captures, four ledger entries.
            handler_runs: [("fulfil-order".to_owned(), 3), ("ledger".to_owned(), 4)].into(),
        }
    );
    let timeline = String::from_utf8(timeline).unwrap();
    for line in [
        "ev_lamp_capture (transaction.captured): answered 503, 503, 503; the sender gives up",
        "ev_mug_capture: already processed by its webhook; no handler runs again",
        "ev_lamp_capture: processed, handlers: fulfil-order, ledger",
        "ev_mug_refund: processed, handlers: ledger; tr_mug: completed → refunded",
    ] {
        assert!(timeline.contains(line), "{line}\n{timeline}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_chapter_acknowledges_at_once_and_replays_a_dead_letter() {
    let mut timeline = Vec::new();
    let summary = inbox::run(&mut timeline).await.unwrap();
    assert_eq!(
        summary,
        inbox::InboxChapter {
            queued: 2,
            answered_before_the_handler: true,
            dead_letter_attempts: 3,
            dead_letters_left: 0,
            // The refund's ledger entry succeeded on its first attempt and
            // is not run again; erp-sync failed 3 times, then succeeded.
            handler_runs: [
                ("erp-sync".to_owned(), 4),
                ("fulfil-order".to_owned(), 1),
                ("ledger".to_owned(), 2),
                ("ship-parcel".to_owned(), 1),
            ]
            .into(),
        }
    );
    let timeline = String::from_utf8(timeline).unwrap();
    for line in [
        "ev_parcel_capture: answered 202 at once",
        "ev_parcel_refund: attempt 3 failed, dead-lettered",
        "dead letter: ev_parcel_refund after 3 attempts: handler_failed in handler erp-sync: retryable handler failure: ",
        "the ERP is back: ev_parcel_refund replayed",
    ] {
        assert!(timeline.contains(line), "{line}\n{timeline}");
    }
}
