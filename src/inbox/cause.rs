//! Why [`Workers`](super::Workers) dead-letter an event, as the error its
//! dead letter keeps: a failed processing ([`Failed`]), or an event whose
//! processing was cut short as often as the retry policy allows
//! ([`CutShort`]).

use crate::receiver::DeliveryReport;

/// A failed processing as an error, for its dead letter: the outcome and
/// the step that failed, whose error (with its whole chain) is the
/// source: the fetch, else the store, else the first handler that failed
/// (the others are named).
#[derive(Debug)]
pub(super) struct Failed<'a>(pub(super) &'a DeliveryReport);

impl Failed<'_> {
    fn cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let report = self.0;
        if let Some(error) = &report.fetch_error {
            return Some(error);
        }
        if let Some(error) = &report.store_error {
            return Some(error);
        }
        let (_, error) = report.failures().next()?;
        Some(error)
    }
}

impl std::fmt::Display for Failed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let report = self.0;
        f.write_str(report.outcome.as_str())?;
        if report.fetch_error.is_some() {
            f.write_str(" in the fetch")
        } else if report.store_error.is_some() {
            f.write_str(" in the store")
        } else {
            let mut failed = report.failures().map(|(name, _)| name);
            if let Some(first) = failed.next() {
                write!(f, " in handler {first}")?;
            }
            let others: Vec<&str> = failed.collect();
            if !others.is_empty() {
                write!(f, " (also failed: {})", others.join(", "))?;
            }
            Ok(())
        }
    }
}

/// Why an event taken over as often as the policy allows is
/// dead-lettered unrun: the number of attempts cut short.
#[derive(Debug)]
pub(super) struct CutShort(pub(super) u32);

impl std::fmt::Display for CutShort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "its processing was cut short {} times (the worker holding it stopped \
             or died mid-processing, and its lease lapsed)",
            self.0
        )
    }
}

impl std::error::Error for CutShort {}

impl std::error::Error for Failed<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FetchError, TransportError};
    use crate::inbox::RecordedError;
    use crate::receiver::Outcome;

    #[test]
    fn a_dead_letter_keeps_every_cause_of_a_fetch_failure() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let mut report = DeliveryReport::new(Outcome::ApiUnavailable);
        report.fetch_error = Some(FetchError::unavailable(TransportError::connect(refused)));
        let error = RecordedError::new(&Failed(&report));
        assert_eq!(
            error.messages().collect::<Vec<_>>(),
            [
                "api_unavailable in the fetch",
                "the API is unavailable",
                "could not connect",
                "refused"
            ]
        );
    }
}
