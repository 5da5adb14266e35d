//! [`Owed`]: what the first attempt at an event owed, kept by the claim
//! store so that a retry runs it even when the tracker's view changed or
//! was lost; and [`Tally`], what a delivery has to record of its work.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use crate::model::TransactionStatus;
use crate::model::{Tracking, Transition};

/// The status change an attempt saw and the handlers it planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Owed {
    pub(super) tracking: Tracking,
    pub(super) handlers: BTreeSet<String>,
}

impl Owed {
    pub(super) fn new<'a>(tracking: Tracking, handlers: impl Iterator<Item = &'a str>) -> Self {
        Owed {
            tracking,
            handlers: handlers.map(str::to_owned).collect(),
        }
    }

    /// The text the claim store keeps: a small JSON object, versioned.
    pub(super) fn to_text(&self) -> String {
        let transition = self.tracking.transition.as_ref().map(|t| {
            json!({"from": t.from.as_ref().map(TransactionStatus::as_str), "to": t.to.as_str()})
        });
        json!({
            "v": 1,
            "transition": transition,
            "stale": self.tracking.stale,
            "time_unreadable": self.tracking.time_unreadable,
            "handlers": self.handlers,
        })
        .to_string()
    }

    /// Reads [`to_text`](Self::to_text)'s text back; `None` for text it
    /// does not know (written by another version: the retry plans anew).
    pub(super) fn parse(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        if value.get("v")?.as_u64()? != 1 {
            return None;
        }
        let status = |v: &Value| v.as_str().map(|s| TransactionStatus::from(s.to_owned()));
        let transition = match value.get("transition")? {
            Value::Null => None,
            t => Some(Transition::new(
                t.get("from").and_then(status),
                status(t.get("to")?)?,
            )),
        };
        let handlers = value
            .get("handlers")?
            .as_array()?
            .iter()
            .map(|h| h.as_str().map(str::to_owned))
            .collect::<Option<_>>()?;
        Some(Owed {
            tracking: Tracking {
                transition,
                stale: value.get("stale")?.as_bool()?,
                time_unreadable: value
                    .get("time_unreadable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                no_status: false,
            },
            handlers,
        })
    }
}

/// What a delivery has to record of the event it holds: the handlers
/// that completed in it and what it owes. The claim store gets all of it
/// with each renewal and with the release (see [`DeliveryProgress`]).
///
/// [`DeliveryProgress`]: crate::store::DeliveryProgress
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    completed: Vec<Arc<str>>,
    owed: Option<String>,
}

impl Tally {
    /// Notes that `handler` completed.
    pub(super) fn completed(shared: &Mutex<Tally>, handler: Arc<str>) {
        lock(shared).completed.push(handler);
    }

    /// Notes what the delivery owes.
    pub(super) fn owes(shared: &Mutex<Tally>, owed: &Owed) {
        lock(shared).owed = Some(owed.to_text());
    }

    /// A copy of what is noted so far (taken out when `take`).
    pub(super) fn read(shared: &Mutex<Tally>, take: bool) -> Tally {
        let mut tally = lock(shared);
        if take {
            std::mem::take(&mut *tally)
        } else {
            tally.clone()
        }
    }

    /// The handlers' names, for [`DeliveryProgress::new`](crate::store::DeliveryProgress::new).
    pub(super) fn names(&self) -> Vec<&str> {
        self.completed.iter().map(|name| &**name).collect()
    }

    /// What the delivery owes, if it recorded it.
    pub(super) fn owed(&self) -> Option<&str> {
        self.owed.as_deref()
    }
}

fn lock(shared: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owed_work_reads_back_as_written() {
        use TransactionStatus::*;
        for transition in [
            None,
            Some(Transition::new(None, Authorized)),
            Some(Transition::new(Some(Completed), Refunded)),
            Some(Transition::new(Some(Completed), Authorized)),
        ] {
            let owed = Owed::new(
                Tracking {
                    transition,
                    stale: false,
                    time_unreadable: true,
                    no_status: false,
                },
                ["ledger", "email"].into_iter(),
            );
            assert_eq!(Owed::parse(&owed.to_text()), Some(owed));
        }
        assert_eq!(Owed::parse("{\"v\":2}"), None);
        assert_eq!(Owed::parse("not json"), None);
    }
}
