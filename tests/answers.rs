//! Every row of the answer table (SPEC §5) through `Receiver::handle`,
//! against the mock Smart Router API on loopback.
#![cfg(all(feature = "testing", feature = "reqwest"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/answers.rs"]
mod answers;

use answers::{Direct, in_progress, run_case, spec_cases};

#[tokio::test]
async fn every_row_of_the_answer_table() {
    for case in spec_cases() {
        run_case(&case, Direct).await;
    }
}

#[tokio::test]
async fn a_delivery_of_an_event_in_progress_gets_409_and_no_fetch() {
    in_progress(Direct).await;
}
