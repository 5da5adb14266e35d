//! [`Router`]: which handlers take which events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::error::HandlerError;
use super::handler::{EventContext, Handler};
use crate::error::{Error, ErrorKind};
use crate::model::{Event, EventType, TransactionStatus};
use crate::model::{Tracking, Transition};

/// Which status changes a transition handler takes.
///
/// A *stale* event (older than one already seen for its transaction: a
/// capture delivered after its refund) brings no status change, so no
/// transition handler runs for it, whatever the filter; handlers
/// registered with `on`, `on_prefix` and `on_every_event` still run, with
/// [`EventContext::is_stale`] true. React to status changes here to act
/// on the latest status only.
///
/// ```
/// use smart_router_webhooks::{
///     EventContext, HandlerError, ReceiverBuilder, TransactionStatus, TransitionFilter,
/// };
///
/// async fn notify(_ctx: EventContext) -> Result<(), HandlerError> {
///     Ok(())
/// }
///
/// fn routes(builder: ReceiverBuilder) -> ReceiverBuilder {
///     use TransactionStatus::{Authorized, Completed};
///     builder
///         .on_transition(TransitionFilter::Between(Authorized, Completed), "captured", notify)
///         .on_transition(TransitionFilter::ToFinal, "settled", notify)
///         .on_transition(TransitionFilter::Unexpected, "odd-paths", notify)
/// }
/// # let _ = routes;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransitionFilter {
    /// Every status change, the first sighting included.
    Any,
    /// Changes to this status (`To(ChargebackInitiated)`: a dispute was
    /// opened).
    To(TransactionStatus),
    /// Changes from the first status into the second.
    Between(TransactionStatus, TransactionStatus),
    /// Changes to a final status (`failed`, `blocked`, `voided`,
    /// `reversed`).
    ToFinal,
    /// Changes the lifecycle table does not expect.
    Unexpected,
}

/// A handler with its name.
#[derive(Clone)]
pub(crate) struct Route {
    name: Arc<str>,
    handler: Arc<dyn Handler>,
}

impl Route {
    /// The handler's name, unique in its router.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The handler's name, shared (no copy).
    pub(crate) fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    /// Runs the handler; a panic in it is caught and becomes a retryable
    /// [`HandlerError`] whose [`is_panic`](HandlerError::is_panic) is true.
    ///
    /// # Errors
    ///
    /// The handler's error, or its panic.
    pub(crate) async fn run(&self, ctx: &EventContext) -> Result<(), HandlerError> {
        super::supervise::catch_panic(self.handler.handle(ctx)).await
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Route").field(&self.name).finish()
    }
}

/// The routing table: built once, shared by every delivery.
///
/// Finding the handlers of an event costs one hash lookup for a known or
/// exactly registered type (its routes are computed when the router is
/// built), one per segment of its name for another type, plus one for its
/// status change: it grows with the handlers that match, not with how many
/// are registered.
#[derive(Clone, Debug, Default)]
pub(crate) struct Router {
    /// For every known event type and every type registered exactly: its
    /// exact and prefix routes, computed once at build time.
    by_name: HashMap<Box<str>, Vec<Route>>,
    exact: HashMap<EventType, Vec<Route>>,
    prefixes: HashMap<Box<str>, Vec<Route>>,
    into: HashMap<TransactionStatus, Vec<(Option<TransactionStatus>, Route)>>,
    any_transition: Vec<Route>,
    into_final: Vec<Route>,
    unexpected: Vec<Route>,
    every_event: Vec<Route>,
    fallback: Option<Route>,
    /// The application's state, given to every handler's context.
    states: Arc<http::Extensions>,
}

/// The handlers one event goes to, in the order they run.
#[derive(Debug, Default)]
pub(crate) struct Plan<'a> {
    /// The handlers, each once.
    pub(crate) routes: Vec<&'a Route>,
    /// Whether no event-type, prefix or transition handler took the event,
    /// so the fallback (if any) is among `routes`.
    pub(crate) fell_back: bool,
}

impl Router {
    /// A builder for a router.
    pub(crate) fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// The handlers `ctx` goes to: exact event-type handlers, then prefix
    /// handlers (longest prefix first), then transition handlers, then the
    /// fallback if none of those matched, then the every-event handlers;
    /// each group in registration order, each handler once.
    pub(crate) fn plan(&self, ctx: &EventContext) -> Plan<'_> {
        let name = ctx.event().name.as_str();
        let mut routes: Vec<&Route> = match self.by_name.get(name) {
            Some(found) => found.iter().collect(),
            None => self.routes_by_name(&ctx.event().name).collect(),
        };
        if let Some(transition) = ctx.transition() {
            self.transition_routes(transition, &mut routes);
        }
        let fell_back = routes.is_empty();
        if fell_back {
            routes.extend(self.fallback.as_ref());
        }
        routes.extend(&self.every_event);
        // Each route sits in one bucket and each bucket is visited once,
        // so no handler is listed twice.
        Plan { routes, fell_back }
    }

    /// The exact routes of `name`, then its prefix routes, longest prefix
    /// first ("a.b.c", "a.b", "a", "").
    fn routes_by_name<'a>(&'a self, name: &EventType) -> impl Iterator<Item = &'a Route> {
        let text = name.as_str();
        let mut end = Some(text.len());
        let prefixes = std::iter::from_fn(move || {
            let e = end?;
            let prefix = &text[..e];
            end = if e == 0 {
                None
            } else {
                Some(prefix.rfind('.').unwrap_or(0))
            };
            Some(prefix)
        });
        self.exact
            .get(name)
            .into_iter()
            .flatten()
            .chain(prefixes.filter_map(|p| self.prefixes.get(p)).flatten())
    }

    fn transition_routes<'a>(&'a self, transition: &Transition, routes: &mut Vec<&'a Route>) {
        if let Some(found) = self.into.get(&transition.to) {
            routes.extend(
                found
                    .iter()
                    .filter(|(from, _)| from.is_none() || *from == transition.from)
                    .map(|(_, route)| route),
            );
        }
        routes.extend(&self.any_transition);
        if transition.is_to_final() {
            routes.extend(&self.into_final);
        }
        if !transition.expected {
            routes.extend(&self.unexpected);
        }
    }

    /// The context handlers get for `event`: the event, what the tracker
    /// made of it, and the state given with [`RouterBuilder::state`].
    pub(crate) fn context(&self, event: Arc<Event>, tracking: Tracking) -> EventContext {
        EventContext::new(event, tracking).with_states(Arc::clone(&self.states))
    }

    /// The handler registered under `name`, if any.
    pub(crate) fn route(&self, name: &str) -> Option<&Route> {
        self.routes().find(|route| route.name() == name)
    }

    /// Every handler, in no particular order.
    fn routes(&self) -> impl Iterator<Item = &Route> {
        let grouped = self
            .exact
            .values()
            .chain(self.prefixes.values())
            .flatten()
            .chain(self.into.values().flatten().map(|(_, r)| r));
        grouped
            .chain(&self.any_transition)
            .chain(&self.into_final)
            .chain(&self.unexpected)
            .chain(&self.every_event)
            .chain(self.fallback.as_ref())
    }
}

/// Registers handlers under stable names, then builds a [`Router`].
///
/// Names identify handlers in reports and in the record of which handlers
/// completed for an event (so a retry runs only those that failed): keep
/// them stable across deployments. A name may be registered once.
/// Where a handler is registered: for an event type, a prefix of event
/// types, a transition, every event, or as the fallback.
#[derive(Debug)]
pub(crate) enum At {
    Type(EventType),
    Prefix(String),
    Transition(TransitionFilter),
    EveryEvent,
    Fallback,
}

#[derive(Default)]
pub(crate) struct RouterBuilder {
    router: Router,
    names: Vec<Arc<str>>,
}

impl RouterBuilder {
    fn route(&mut self, name: impl Into<String>, handler: impl Handler) -> Route {
        let name: Arc<str> = Arc::from(name.into());
        self.names.push(name.clone());
        Route {
            name,
            handler: Arc::new(handler),
        }
    }

    /// Registers `handler` as `name` where `at` says (what each place
    /// means is in the docs of `ReceiverBuilder::on`, `on_prefix`,
    /// `on_transition`, `on_every_event` and `fallback`, which call this).
    pub(crate) fn add(mut self, at: At, name: impl Into<String>, handler: impl Handler) -> Self {
        let route = self.route(name, handler);
        let router = &mut self.router;
        match at {
            At::Type(event_type) => router.exact.entry(event_type).or_default().push(route),
            At::Prefix(mut prefix) => {
                if prefix.ends_with('.') {
                    prefix.pop();
                }
                let prefix = prefix.into_boxed_str();
                router.prefixes.entry(prefix).or_default().push(route);
            }
            At::Transition(filter) => match filter {
                TransitionFilter::Any => router.any_transition.push(route),
                TransitionFilter::To(to) => router.into.entry(to).or_default().push((None, route)),
                TransitionFilter::Between(from, to) => {
                    router.into.entry(to).or_default().push((Some(from), route));
                }
                TransitionFilter::ToFinal => router.into_final.push(route),
                TransitionFilter::Unexpected => router.unexpected.push(route),
            },
            At::EveryEvent => router.every_event.push(route),
            At::Fallback => router.fallback = Some(route),
        }
        self
    }

    /// Gives `state` to every handler: [`EventContext::state::<T>()`]
    /// returns it. One value shared by every handler and every event,
    /// never cloned; one value per type (a later one replaces it).
    ///
    /// [`EventContext::state::<T>()`]: EventContext::state
    pub(crate) fn state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        Arc::make_mut(&mut self.router.states).insert(Arc::new(state));
        self
    }

    /// The router.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a name is empty or registered
    /// twice, or an event type given to `ReceiverBuilder::on` is no event's
    /// name.
    pub(crate) fn build(self) -> Result<Router, Error> {
        for event_type in self.router.exact.keys() {
            check_event_type(event_type.as_str())?;
        }
        let mut seen = HashSet::new();
        for name in &self.names {
            if name.trim().is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "a handler name is empty",
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("the handler name {name:?} is registered twice"),
                ));
            }
        }
        let mut router = self.router;
        let names: Vec<EventType> = EventType::KNOWN
            .iter()
            .cloned()
            .chain(router.exact.keys().cloned())
            .collect();
        router.by_name = names
            .into_iter()
            .map(|name| {
                let routes = router.routes_by_name(&name).cloned().collect();
                (Box::from(name.as_str()), routes)
            })
            .collect();
        Ok(router)
    }
}

/// Whether `name` can be an event's type as the API writes them: segments
/// of `a-z`, `0-9`, `_` and `-` joined by dots.
fn check_event_type(name: &str) -> Result<(), Error> {
    let segment_ok = |segment: &str| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if name.split('.').all(segment_ok) {
        return Ok(());
    }
    let hint = if name.ends_with('.') || name.ends_with('*') {
        ": register a prefix with `on_prefix`"
    } else {
        ""
    };
    // Configuration written by the application, not input from a
    // delivery: quoting it helps find the typo.
    Err(Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "{name:?} is no event type (segments of a-z, 0-9, `_` and `-` joined by dots){hint}"
        ),
    ))
}

impl std::fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("names", &self.names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventId, Transaction, TransactionId};

    async fn noop(_: EventContext) -> Result<(), HandlerError> {
        Ok(())
    }

    fn ctx(name: &str, transition: Option<Transition>) -> EventContext {
        let mut event = Event::new(EventId::parse("ev_1").unwrap(), EventType::from(name));
        if let Some(t) = &transition {
            event.data.transaction = Some(Transaction::new(
                TransactionId::parse("tr_1").unwrap(),
                t.to.clone(),
            ));
        }
        EventContext::new(
            Arc::new(event),
            Tracking {
                transition,
                ..Tracking::default()
            },
        )
    }

    fn names(router: &Router, ctx: &EventContext) -> (Vec<String>, bool) {
        let plan = router.plan(ctx);
        (
            plan.routes.iter().map(|r| r.name().to_owned()).collect(),
            plan.fell_back,
        )
    }

    #[test]
    fn routes_by_type_prefix_transition_and_fallback() {
        use TransactionStatus::*;
        let router = Router::builder()
            .add(At::Type(EventType::TransactionCaptured), "captured", noop)
            .add(At::Prefix("transaction.".into()), "all-transactions", noop)
            .add(
                At::Prefix("transaction.chargeback".into()),
                "disputes",
                noop,
            )
            .add(
                At::Transition(TransitionFilter::To(ChargebackInitiated)),
                "into-chargeback",
                noop,
            )
            .add(
                At::Transition(TransitionFilter::Between(Pending, Completed)),
                "apm-settled",
                noop,
            )
            .add(At::Transition(TransitionFilter::ToFinal), "final", noop)
            .add(At::Transition(TransitionFilter::Unexpected), "odd", noop)
            .add(At::EveryEvent, "audit", noop)
            .add(At::Fallback, "unhandled", noop)
            .build()
            .unwrap();

        let captured = ctx(
            "transaction.captured",
            Some(Transition::new(Some(Authorized), Completed)),
        );
        assert_eq!(
            names(&router, &captured),
            (
                vec!["captured".into(), "all-transactions".into(), "audit".into()],
                false
            )
        );

        let settled = ctx(
            "transaction.captured",
            Some(Transition::new(Some(Pending), Completed)),
        );
        assert!(
            names(&router, &settled)
                .0
                .contains(&"apm-settled".to_owned())
        );

        let dispute = ctx(
            "transaction.chargeback.created",
            Some(Transition::new(Some(Completed), ChargebackInitiated)),
        );
        assert_eq!(
            names(&router, &dispute).0,
            ["disputes", "all-transactions", "into-chargeback", "audit"]
        );

        let failed = ctx(
            "transaction.failed",
            Some(Transition::new(Some(Completed), Failed)),
        );
        assert_eq!(
            names(&router, &failed).0,
            ["all-transactions", "final", "odd", "audit"]
        );

        let unknown = ctx("brand.new.thing", None);
        assert_eq!(
            names(&router, &unknown),
            (vec!["unhandled".into(), "audit".into()], true)
        );
    }

    #[test]
    fn a_handler_matching_twice_runs_once() {
        let router = Router::builder()
            .add(At::Prefix("".into()), "everything", noop)
            .build()
            .unwrap();
        assert_eq!(names(&router, &ctx("a.b", None)).0, ["everything"]);
        assert_eq!(names(&router, &ctx("nodots", None)).0, ["everything"]);
    }

    #[test]
    fn prefixes_do_not_match_inside_a_segment() {
        let router = Router::builder()
            .add(At::Prefix("trans".into()), "t", noop)
            .build()
            .unwrap();
        assert!(
            names(&router, &ctx("transaction.captured", None))
                .0
                .is_empty()
        );
        let router = Router::builder()
            .add(At::Prefix("transaction".into()), "t", noop)
            .build()
            .unwrap();
        assert_eq!(names(&router, &ctx("transaction", None)).0, ["t"]);
    }

    #[test]
    fn names_must_be_unique_and_non_empty() {
        let err = Router::builder()
            .add(At::Prefix("a".into()), "x", noop)
            .add(At::Prefix("b".into()), "x", noop)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        let err = Router::builder()
            .add(At::Prefix("a".into()), " ", noop)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    }
}
