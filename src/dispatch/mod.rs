//! Handing events to the user's handlers: the [`Handler`] trait, the
//! [`Router`] that says which handlers take which events.

mod error;
mod handler;
mod router;
mod supervise;

pub use error::{HandlerError, HandlerResultExt};
pub use handler::{EventContext, Handler};
pub use router::TransitionFilter;
pub(crate) use router::{At, Route, Router, RouterBuilder};
