//! `examples/forward.rs`, run as a developer runs it, against the mock API
//! and the ready receiver (`examples/receiver.rs`) on loopback, both as
//! child processes: every new event delivered once, in order, with the
//! webhook URL's credentials; `--replay` delivers one again, answered as
//! a duplicate when it was already processed, or a range of them.
#![cfg(all(
    feature = "testing",
    feature = "reqwest",
    feature = "axum",
    feature = "reconciler"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/example_process.rs"]
mod example_process;

use std::process::{Command, Stdio};
use std::time::Duration;

use example_process::{
    Running, example_binary, lines, next_json, receiver_command, rest, webhook_url,
};
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{Event, EventId, EventType};

const WITHIN: Duration = Duration::from_secs(60);

fn ev(n: usize) -> EventId {
    EventId::parse(&format!("ev_{n}")).unwrap()
}

/// A forwarder's line for one delivery: the event's id, after checking it
/// was answered 200 at the first attempt.
fn delivered_once(line: &serde_json::Value) -> String {
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["delivered"], true, "{line}");
    assert_eq!(line["attempts"], 1, "{line}");
    line["event_id"].as_str().unwrap().to_owned()
}

// Two workers: the mock API keeps answering both processes while this
// test blocks on their output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_new_events_once_in_order_to_the_receiver_and_replays_one() {
    let api = MockApi::start().await;
    for n in 1..=3 {
        api.add_event(Event::new(ev(n), EventType::TransactionCaptured));
    }
    let mut receiver = Running(receiver_command(&api).spawn().unwrap());
    let handled = lines(receiver.0.stdout.take().unwrap());
    let reported = lines(receiver.0.stderr.take().unwrap());
    let listening = next_json(&handled, WITHIN);
    let forward_to = webhook_url(listening["listening"].as_str().unwrap());

    let forwarder = example_binary("forward");
    let forward = |args: &[&str]| {
        let mut command = Command::new(&forwarder);
        command
            .args(args)
            .env_clear()
            .env("SMART_ROUTER_PROJECT_ID", api.project_id())
            .env("SMART_ROUTER_PRIVATE_KEY", api.private_key())
            .env("SMART_ROUTER_API_URL", api.url())
            .env("FORWARD_TO", &forward_to)
            .env("FORWARD_EVERY_MS", "50")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        Running(command.spawn().unwrap())
    };

    // Following the event list from now: the events already there are
    // not forwarded, the three that come after are, in order.
    let mut following = forward(&[]);
    let forwarded = lines(following.0.stdout.take().unwrap());
    assert_eq!(
        next_json(&forwarded, WITHIN)["forwarding_after"],
        "after:ev_3"
    );
    for n in 4..=6 {
        api.add_event(Event::new(ev(n), EventType::TransactionCaptured));
    }
    let delivered: Vec<String> = (4..=6)
        .map(|_| delivered_once(&next_json(&forwarded, WITHIN)))
        .collect();
    assert_eq!(delivered, ["ev_4", "ev_5", "ev_6"]);
    // The receiver's handler ran for each, in the same order.
    let handler_ran: Vec<String> = (4..=6)
        .map(|_| {
            next_json(&handled, WITHIN)["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(handler_ran, ["ev_4", "ev_5", "ev_6"]);
    drop(following);
    for n in 4..=6 {
        assert_eq!(api.requests(&format!("/events/ev_{n}")), 1, "ev_{n}");
    }

    // `--replay` delivers the given event again and ends: ev_5, already
    // processed, is answered as a duplicate; ev_2, never forwarded, is
    // processed now.
    for id in ["ev_5", "ev_2"] {
        let mut replay = forward(&["--replay", id]);
        let replayed = lines(replay.0.stdout.take().unwrap());
        assert_eq!(delivered_once(&next_json(&replayed, WITHIN)), id);
        assert_eq!(replay.exit_within(WITHIN).code(), Some(0), "{id}");
        assert_eq!(rest(&replayed, WITHIN), Vec::<String>::new(), "{id}");
    }
    let line = next_json(&handled, WITHIN);
    assert_eq!(line["event_id"], "ev_2", "{line}");

    // A range: every event from the first to the last, both included, in
    // order, then the program ends.
    let mut replay = forward(&["--replay", "ev_1..ev_3"]);
    let replayed = lines(replay.0.stdout.take().unwrap());
    let delivered: Vec<String> = (1..=3)
        .map(|_| delivered_once(&next_json(&replayed, WITHIN)))
        .collect();
    assert_eq!(delivered, ["ev_1", "ev_2", "ev_3"]);
    assert_eq!(replay.exit_within(WITHIN).code(), Some(0));
    assert_eq!(rest(&replayed, WITHIN), Vec::<String>::new());
    for id in ["ev_1", "ev_3"] {
        let line = next_json(&handled, WITHIN);
        assert_eq!(line["event_id"], id, "{line}");
    }

    // A last event that does not come after the first: what follows the
    // first is delivered (here nothing), then the program fails.
    let mut replay = forward(&["--replay", "ev_6..ev_5"]);
    let replayed = lines(replay.0.stdout.take().unwrap());
    assert_eq!(delivered_once(&next_json(&replayed, WITHIN)), "ev_6");
    assert_eq!(replay.exit_within(WITHIN).code(), Some(2));
    assert_eq!(rest(&replayed, WITHIN), Vec::<String>::new());

    // The receiver's whole output, once it has ended: its handler ran for
    // nothing else, and it reported each delivery with its outcome.
    drop(receiver);
    assert_eq!(rest(&handled, WITHIN), Vec::<String>::new());
    let deliveries: Vec<String> = rest(&reported, WITHIN)
        .into_iter()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.trim_end().to_owned())
        .collect();
    assert_eq!(
        deliveries,
        [
            "200 processed ev_4",
            "200 processed ev_5",
            "200 processed ev_6",
            "200 duplicate ev_5",
            "200 processed ev_2",
            "200 processed ev_1",
            "200 duplicate ev_2",
            "200 processed ev_3",
            "200 duplicate ev_6",
        ]
    );
}
