//! Finding and running the handlers of an event with 1, 10, 100 and 1000
//! registered handlers, of which one matches. Target: the 1000-handler cost
//! <= 1.2 x the 1-handler cost.
//!
//! cargo bench --bench routing
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use std::sync::Arc;

use criterion::Criterion;
use smart_router_webhooks::{
    Event, EventContext, EventId, EventType, HandlerError, Router, Tracking, Transaction,
    TransactionId, TransactionStatus, TransitionFilter,
};

#[path = "support/ratio.rs"]
mod ratio;

async fn noop(_: EventContext) -> Result<(), HandlerError> {
    Ok(())
}

/// A router with `n` handlers, one of which takes `transaction.captured`;
/// the others are spread over exact types, prefixes and transitions that
/// do not match it.
fn router(n: usize) -> Router {
    let mut builder = Router::builder().on(EventType::TransactionCaptured, "match", noop);
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
    let mut event = Event::new(
        EventId::parse("ev_1").expect("id"),
        EventType::TransactionCaptured,
    );
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_1").expect("id"),
        TransactionStatus::Completed,
    ));
    let ctx = EventContext::new(Arc::new(event), Tracking::default());
    let mut group = c.benchmark_group("routing");
    for n in [1, 10, 100, 1000] {
        let router = router(n);
        ratio::measure(&mut group, &format!("{n}"), || {
            let plan = router.plan(&ctx);
            assert_eq!(plan.routes.len(), 1);
            for route in plan.routes {
                runtime.block_on(route.run(&ctx)).expect("noop");
            }
        });
    }
    group.finish();
    c.final_summary();
    ratio::ratio("routing 1000/1", "1000", "1", 1.2);
    ratio::ratio("routing 100/1", "100", "1", 1.2);
}
