//! The demo's story (`cargo run --example demo`) ends with the figures it
//! should: every guarantee it shows is counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
