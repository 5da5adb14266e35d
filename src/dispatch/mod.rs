//! Handing events to the user's handlers: the [`Handler`] trait, the
//! [`Router`] that says which handlers take which events.

mod handler;
mod router;
mod supervise;

pub use handler::{EventContext, Handler, HandlerError};
pub use router::{Plan, Route, Router, RouterBuilder, TransitionFilter};
