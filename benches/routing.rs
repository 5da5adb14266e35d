//! Processing an event (claim, track, find and run its handlers, record)
//! with 1, 10, 100 and 1000 registered handlers, of which one matches.
//! Target: the 1000-handler cost <= 1.2 x the 1-handler cost.
//!
//! cargo bench --bench routing
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use criterion::Criterion;
use smart_router_webhooks::{
    ApiClient, Event, EventContext, EventId, EventType, HandlerError, Receiver, Transaction,
    TransactionId, TransactionStatus, TransitionFilter,
};

#[path = "support/ratio.rs"]
mod ratio;

async fn noop(_: EventContext) -> Result<(), HandlerError> {
    Ok(())
}

/// A receiver with `n` handlers, one of which takes `transaction.captured`;
/// the others are spread over exact types, prefixes and transitions that
/// do not match it. It processes in the caller's future and never fetches
/// (events are given whole).
fn receiver(n: usize) -> Receiver {
    let client = ApiClient::builder("test-proj_bench", "key_sandbox_bench")
        .build()
        .expect("client");
    let mut builder = Receiver::builder()
        .allow_unauthenticated()
        .no_runtime()
        .fetcher(client)
        .on(EventType::TransactionCaptured, "match", noop);
    for i in 1..n {
        builder = match i % 3 {
            0 => builder.on(
                EventType::from(format!("custom.kind{i}.done")),
                format!("h{i}"),
                noop,
            ),
            1 => builder.on_prefix(format!("custom{i}."), format!("h{i}"), noop),
            _ => builder.on_transition(
                TransitionFilter::Between(
                    TransactionStatus::from(format!("s{i}")),
                    TransactionStatus::Refunded,
                ),
                format!("h{i}"),
                noop,
            ),
        };
    }
    builder.build().expect("unique names")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut template = Event::new(
        EventId::parse("ev_0").expect("id"),
        EventType::TransactionCaptured,
    );
    template.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_1").expect("id"),
        TransactionStatus::Completed,
    ));
    let mut group = c.benchmark_group("routing");
    let mut sequence = 0_u64;
    for n in [1, 10, 100, 1000] {
        let receiver = receiver(n);
        ratio::measure(&mut group, &format!("{n}"), || {
            // A new event each time: a processed one is a duplicate.
            sequence += 1;
            let mut event = template.clone();
            event.id = EventId::parse(&format!("ev_{sequence}")).expect("id");
            let report = runtime.block_on(receiver.process_event(event));
            assert_eq!(report.handlers.len(), 1);
        });
    }
    group.finish();
    c.final_summary();
    ratio::ratio("routing 1000/1", "1000", "1", 1.2);
    ratio::ratio("routing 100/1", "100", "1", 1.2);
}
