//! [`HandlerError`]: why a handler failed and whether the sender should
//! deliver again; [`HandlerResultExt`] to choose with `?`.

use std::fmt;

use crate::error::BoxError;

/// Why a handler failed, and whether the sender should deliver again.
///
/// A `std::error::Error` whose [`source`](std::error::Error::source) is the
/// handler's own error, with its whole chain: an observer walking it sees
/// every cause. `Display` says only what kind of failure it is; `{:#}`
/// adds the chain (`retryable handler failure: the ledger is down: connection
/// refused`).
///
/// # Choosing retry or permanent
///
/// - `?` on the errors handlers meet most (`std::io::Error`,
///   `Box<dyn Error + Send + Sync>`, `serde_json::Error`, this crate's
///   [`Error`](crate::Error) and [`FetchError`](crate::FetchError)) makes a
///   *retryable* failure: nothing is lost by default.
/// - On any other error (`reqwest::Error`, `anyhow::Error`, a `sqlx`
///   error…), say which with [`HandlerResultExt`]: `.retryable()?` or
///   `.permanent()?`.
/// - Your own error type chooses by itself once it implements
///   `From<MyError> for HandlerError`; `?` then does the rest:
///
/// ```
/// use smart_router_webhooks::{EventContext, HandlerError};
///
/// #[derive(Debug)]
/// enum ShopError {
///     /// No order has this invoice: no retry will find one.
///     UnknownOrder(String),
///     /// The database is down: try again later.
///     Database(std::io::Error),
/// }
/// # impl std::fmt::Display for ShopError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
/// #         match self {
/// #             ShopError::UnknownOrder(id) => write!(f, "no order for {id}"),
/// #             ShopError::Database(_) => f.write_str("the database is down"),
/// #         }
/// #     }
/// # }
/// # impl std::error::Error for ShopError {
/// #     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
/// #         match self { ShopError::Database(e) => Some(e), _ => None }
/// #     }
/// # }
///
/// impl From<ShopError> for HandlerError {
///     fn from(error: ShopError) -> Self {
///         match error {
///             ShopError::UnknownOrder(_) => HandlerError::permanent(error),
///             ShopError::Database(_) => HandlerError::retry(error),
///         }
///     }
/// }
///
/// fn find_order(invoice: &str) -> Result<u32, ShopError> {
///     Err(ShopError::UnknownOrder(invoice.to_owned()))
/// }
///
/// async fn ship(ctx: EventContext) -> Result<(), HandlerError> {
///     let order = find_order("iv_1")?; // permanent: acknowledged and reported
///     println!("ship order {order}");
///     Ok(())
/// }
/// # let _ = ship;
/// ```
pub struct HandlerError {
    retry: bool,
    cause: Cause,
    inner: BoxError,
}

/// What made a handler fail, beyond its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Returned,
    Panicked,
    TimedOut,
}

/// The message of a failure that has no error of its own (a panic, a
/// timeout).
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl HandlerError {
    /// A failure worth retrying: the receiver answers 500 so the sender
    /// delivers again, and handlers that succeeded are not run again.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::Returned,
            inner: error.into(),
        }
    }

    /// A failure that no retry can mend: the delivery is acknowledged
    /// (200) and the failure reported to the observer.
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        HandlerError {
            retry: false,
            cause: Cause::Returned,
            inner: error.into(),
        }
    }

    /// The retryable failure of a handler that panicked, with the panic's
    /// message.
    pub(crate) fn panicked(message: String) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::Panicked,
            inner: Box::new(Message(format!("the handler panicked: {message}"))),
        }
    }

    /// The retryable failure of a handler that ran past its timeout.
    pub(crate) fn timed_out(timeout: std::time::Duration) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::TimedOut,
            inner: Box::new(Message(format!(
                "the handler did not finish within {timeout:?}"
            ))),
        }
    }

    /// Whether the sender should deliver the event again.
    pub fn is_retryable(&self) -> bool {
        self.retry
    }

    /// Whether the handler panicked (a retryable failure of that handler
    /// only: the others still run).
    pub fn is_panic(&self) -> bool {
        self.cause == Cause::Panicked
    }

    /// Whether the handler ran past its timeout and was stopped (a
    /// retryable failure).
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::TimedOut
    }

    /// The handler's own error (for a panic or a timeout, a message saying
    /// so). Also the [`source`](std::error::Error::source) of this error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }

    /// The handler's own error, to downcast or keep.
    pub fn into_inner(self) -> BoxError {
        self.inner
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("retry", &self.retry)
            .field("cause", &self.cause)
            .field("inner", &self.inner)
            .finish()
    }
}

/// `retryable handler failure`, `permanent handler failure`, `handler
/// panicked` or `handler timed out`; with `{:#}`, followed by every cause.
impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.cause, self.retry) {
            (Cause::Panicked, _) => "handler panicked",
            (Cause::TimedOut, _) => "handler timed out",
            (Cause::Returned, true) => "retryable handler failure",
            (Cause::Returned, false) => "permanent handler failure",
        })?;
        if f.alternate() {
            write!(f, ": {}", crate::error::Chain(&*self.inner))?;
        }
        Ok(())
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

/// `?` on the errors handlers meet most: each is a retryable failure.
macro_rules! retryable_from {
    ($($(#[$doc:meta])* $error:ty),* $(,)?) => {$(
        $(#[$doc])*
        impl From<$error> for HandlerError {
            fn from(error: $error) -> Self {
                HandlerError::retry(error)
            }
        }
    )*};
}

retryable_from!(
    /// A retryable failure (a file, a socket, a pipe that failed).
    std::io::Error,
    /// A retryable failure, the boxed error as its source (its own chain
    /// kept).
    BoxError,
    /// A retryable failure (JSON that did not read or write).
    serde_json::Error,
    /// A retryable failure (the event has no such resource, an ID or an
    /// amount did not parse…).
    crate::error::Error,
    /// A retryable failure (a transaction or event fetched from a handler).
    crate::api::FetchError,
    /// A retryable failure (a request sent through a transport).
    crate::api::TransportError,
);

/// A retryable failure whose message is `message`.
impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        HandlerError::retry(message)
    }
}

/// A retryable failure whose message is `message`.
impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        HandlerError::retry(message)
    }
}

/// Chooses retry or permanent for any error, with `?`: `.retryable()?` or
/// `.permanent()?` on a `Result` whose error converts into a
/// `Box<dyn Error + Send + Sync>` (any `std::error::Error + Send + Sync`,
/// `anyhow::Error`, a boxed error, a `String`). The error's chain is kept.
///
/// ```
/// use smart_router_webhooks::{EventContext, HandlerError, HandlerResultExt};
///
/// async fn record(ctx: EventContext) -> Result<(), HandlerError> {
///     // An error type with no `From` for `HandlerError`: choose here.
///     let amount: u32 = "12".parse::<u32>().permanent()?;
///     std::fs::create_dir_all(std::env::temp_dir()).retryable()?;
///     println!("{} for {}", amount, ctx.event().id);
///     Ok(())
/// }
/// # let _ = record;
/// ```
pub trait HandlerResultExt<T> {
    /// A failure worth retrying (see [`HandlerError::retry`]).
    ///
    /// # Errors
    ///
    /// The error, as a retryable [`HandlerError`].
    fn retryable(self) -> Result<T, HandlerError>;

    /// A failure no retry can mend (see [`HandlerError::permanent`]).
    ///
    /// # Errors
    ///
    /// The error, as a permanent [`HandlerError`].
    fn permanent(self) -> Result<T, HandlerError>;
}

impl<T, E: Into<BoxError>> HandlerResultExt<T> for Result<T, E> {
    fn retryable(self) -> Result<T, HandlerError> {
        self.map_err(HandlerError::retry)
    }

    fn permanent(self) -> Result<T, HandlerError> {
        self.map_err(HandlerError::permanent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the ledger is down")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn is_an_error_that_keeps_its_chain() {
        fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<HandlerError>();
        let error = HandlerError::retry(Outer(std::io::Error::other("connection refused")));
        assert_eq!(error.to_string(), "retryable handler failure");
        assert_eq!(
            format!("{error:#}"),
            "retryable handler failure: the ledger is down: connection refused"
        );
        let source = error.source().unwrap();
        assert_eq!(source.to_string(), "the ledger is down");
        assert_eq!(source.source().unwrap().to_string(), "connection refused");
        assert!(error.inner().downcast_ref::<Outer>().is_some());
    }

    #[test]
    fn the_extension_chooses_and_common_errors_retry() {
        let failed: Result<(), std::num::ParseIntError> = "x".parse::<u8>().map(|_| ());
        assert!(!failed.clone().permanent().unwrap_err().is_retryable());
        assert!(failed.retryable().unwrap_err().is_retryable());
        let io: HandlerError = std::io::Error::other("disk").into();
        let boxed: HandlerError = BoxError::from("boxed").into();
        let text: HandlerError = "no order".into();
        for error in [io, boxed, text] {
            assert!(error.is_retryable() && !error.is_panic() && !error.is_timeout());
        }
    }
}
