//! What a handler is written with: `?` on the errors it meets, its own
//! error type choosing retry or permanent, the application's state, a
//! struct handler; and the chain of a failure reaching the report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use smart_router_webhooks::TransactionStatus::{Completed, Refunded};
use smart_router_webhooks::testing::{MockApi, TestServer, TransactionBuilder, deliver};
use smart_router_webhooks::{
    Credentials, DeliveryReport, EventContext, EventType, Handler, HandlerError, HandlerResultExt,
    Outcome, Receiver, ReceiverBuilder, async_trait,
};

/// The user's own error: it decides retry or permanent by itself.
#[derive(Debug)]
enum ShopError {
    UnknownOrder,
    Ledger(std::io::Error),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::UnknownOrder => f.write_str("no order for this invoice"),
            ShopError::Ledger(_) => f.write_str("the ledger did not answer"),
        }
    }
}

impl StdError for ShopError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ShopError::Ledger(e) => Some(e),
            ShopError::UnknownOrder => None,
        }
    }
}

impl From<ShopError> for HandlerError {
    fn from(error: ShopError) -> Self {
        match error {
            ShopError::UnknownOrder => HandlerError::permanent(error),
            ShopError::Ledger(_) => HandlerError::retry(error),
        }
    }
}

fn io_failure() -> Result<(), std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused",
    ))
}

/// An error of another library, boxed with its cause.
#[derive(Debug)]
struct MailerDown(std::io::Error);

impl std::fmt::Display for MailerDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the mailer is down")
    }
}

impl StdError for MailerDown {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

fn boxed_failure() -> Result<(), Box<dyn StdError + Send + Sync>> {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
    Err(Box::new(MailerDown(reset)))
}

/// An `anyhow::Error` with context over its cause, as many applications
/// write them.
fn anyhow_failure() -> anyhow::Result<()> {
    use anyhow::Context as _;
    io_failure().context("the warehouse did not answer")
}

fn ledger() -> Result<(), ShopError> {
    io_failure().map_err(ShopError::Ledger)
}

/// Every cause of an error, from its source down.
fn causes(error: &dyn StdError) -> Vec<String> {
    let mut causes = Vec::new();
    let mut cause = error.source();
    while let Some(error) = cause {
        causes.push(error.to_string());
        cause = error.source();
    }
    causes
}

/// Every cause of a handler's failure, from its source down.
fn chain(report: &DeliveryReport, handler: &str) -> Vec<String> {
    let (_, error) = report
        .failures()
        .find(|(name, _)| *name == handler)
        .unwrap();
    causes(error)
}

async fn receiver(api: &MockApi, builder: ReceiverBuilder) -> Receiver {
    builder
        .credentials(Credentials::new("hooks", "s3cret").unwrap())
        .fetcher(api.client_builder().build().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn question_mark_works_on_common_and_custom_errors_and_the_chain_reaches_the_observer() {
    let api = MockApi::start().await;
    api.add_event(
        TransactionBuilder::new("tr_1")
            .status(Completed)
            .event("ev_1"),
    );
    let builder = Receiver::builder()
        .on(
            EventType::TransactionCaptured,
            "io",
            |_: EventContext| async {
                io_failure()?;
                Ok(())
            },
        )
        .on(
            EventType::TransactionCaptured,
            "boxed",
            |_: EventContext| async {
                boxed_failure()?;
                Ok(())
            },
        )
        .on(
            EventType::TransactionCaptured,
            "custom",
            |_: EventContext| async {
                ledger()?;
                Ok(())
            },
        )
        .on(
            EventType::TransactionCaptured,
            "unknown-order",
            |_: EventContext| async {
                Err::<(), _>(ShopError::UnknownOrder)?;
                Ok(())
            },
        )
        .on(
            EventType::TransactionCaptured,
            "chosen",
            |_: EventContext| async {
                "x".parse::<u32>().permanent()?;
                Ok(())
            },
        )
        .on(
            EventType::TransactionCaptured,
            "anyhow",
            |_: EventContext| async {
                anyhow_failure().retryable()?;
                Ok(())
            },
        );
    // What the observer is given: each failure's name, whether it asks
    // for a retry, and its chain of causes.
    type Seen = Vec<(String, bool, Vec<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let observed = Arc::clone(&seen);
    let builder = builder.observer(move |report: &DeliveryReport| {
        for (name, error) in report.failures() {
            let failure = (name.to_owned(), error.is_retryable(), causes(error));
            observed.lock().unwrap().push(failure);
        }
    });
    let report = deliver(&receiver(&api, builder).await, "ev_1").await;

    assert_eq!(report.outcome, Outcome::HandlerFailed);
    let expected: [(&str, bool, &[&str]); 6] = [
        ("io", true, &["connection refused"]),
        ("boxed", true, &["the mailer is down", "connection reset"]),
        (
            "custom",
            true,
            &["the ledger did not answer", "connection refused"],
        ),
        ("unknown-order", false, &["no order for this invoice"]),
        ("chosen", false, &["invalid digit found in string"]),
        (
            "anyhow",
            true,
            &["the warehouse did not answer", "connection refused"],
        ),
    ];
    let expected: Seen = expected
        .iter()
        .map(|(name, retry, causes)| {
            let causes = causes.iter().map(|c| c.to_string()).collect();
            (name.to_string(), *retry, causes)
        })
        .collect();
    assert_eq!(*seen.lock().unwrap(), expected);
    // The report the observer was given is the one returned.
    assert_eq!(chain(&report, "io"), ["connection refused"]);
    assert_eq!(
        chain(&report, "custom"),
        ["the ledger did not answer", "connection refused"]
    );
    // The bottom of each chain is the original error, not its text.
    let (_, anyhow) = report.failures().find(|(n, _)| *n == "anyhow").unwrap();
    let bottom = anyhow.source().and_then(|e| e.source()).unwrap();
    assert_eq!(
        bottom.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    let (_, boxed) = report.failures().find(|(n, _)| *n == "boxed").unwrap();
    assert!(boxed.inner().is::<MailerDown>());
    let retryable: Vec<_> = report
        .failures()
        .map(|(name, error)| (name, error.is_retryable()))
        .collect();
    assert_eq!(
        retryable,
        [
            ("io", true),
            ("boxed", true),
            ("custom", true),
            ("unknown-order", false),
            ("chosen", false),
            ("anyhow", true)
        ]
    );
    let (_, custom) = report.failures().nth(2).unwrap();
    let inner = custom.inner().downcast_ref::<ShopError>();
    assert!(matches!(inner, Some(ShopError::Ledger(_))));
    assert_eq!(
        format!("{custom:#}"),
        "retryable handler failure: the ledger did not answer: connection refused"
    );
}

#[tokio::test]
async fn a_permanent_failure_of_the_users_type_is_acknowledged() {
    let api = MockApi::start().await;
    api.add_event(TransactionBuilder::new("tr_1").event("ev_1"));
    let builder = Receiver::builder().on(
        EventType::TransactionCaptured,
        "ship",
        |_: EventContext| async { Err::<(), HandlerError>(ShopError::UnknownOrder.into()) },
    );
    let report = deliver(&receiver(&api, builder).await, "ev_1").await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(chain(&report, "ship"), ["no order for this invoice"]);
}

/// The application's state: one value, shared by every handler (cheap to
/// clone, so the test keeps a handle on it too).
#[derive(Clone, Default)]
struct Ledger {
    entries: Arc<Mutex<Vec<String>>>,
}

/// A struct handler written with the re-exported attribute.
struct Refunds {
    label: &'static str,
}

#[async_trait]
impl Handler for Refunds {
    async fn handle(&self, ctx: &EventContext) -> Result<(), HandlerError> {
        let ledger = ctx.state::<Ledger>()?;
        let transaction = ctx.transaction().ok_or("no transaction")?;
        let entry = format!("{} {}", self.label, transaction.id);
        ledger.entries.lock().unwrap().push(entry);
        Ok(())
    }
}

#[tokio::test]
async fn handlers_share_the_state_given_once_and_struct_handlers_read_it() {
    let api = MockApi::start().await;
    api.add_event(
        TransactionBuilder::new("tr_1")
            .status(Refunded)
            .event("ev_1"),
    );
    api.add_event(
        TransactionBuilder::new("tr_2")
            .status(Refunded)
            .event("ev_2"),
    );
    let ledger = Ledger::default();
    let builder = Receiver::builder()
        .state(ledger.clone())
        .state(42_u32)
        .on(
            EventType::TransactionRefunded,
            "refunds",
            Refunds { label: "refund" },
        )
        .on_every_event("count", |ctx: EventContext| async move {
            let ledger = ctx.state::<Ledger>()?;
            let answer = ctx.state::<u32>()?;
            ledger
                .entries
                .lock()
                .unwrap()
                .push(format!("seen {answer}"));
            Ok(())
        });
    let receiver = receiver(&api, builder).await;
    // Over the network too: the test server's URL carries the credentials.
    let server = TestServer::start(receiver.clone()).await.unwrap();
    let delivery = server
        .sender()
        .deliver(&"ev_1".parse().unwrap(), None)
        .await;
    assert!(delivery.delivered());
    assert_eq!(deliver(&receiver, "ev_2").await.outcome, Outcome::Processed);
    let entries = ledger.entries.lock().unwrap().clone();
    assert_eq!(
        entries,
        ["refund tr_1", "seen 42", "refund tr_2", "seen 42"]
    );
}

#[tokio::test]
async fn a_state_never_given_is_a_retryable_failure_naming_its_type() {
    let api = MockApi::start().await;
    api.add_event(TransactionBuilder::new("tr_1").event("ev_1"));
    let builder =
        Receiver::builder().on_every_event("needs-ledger", |ctx: EventContext| async move {
            ctx.state::<Ledger>()?;
            Ok(())
        });
    let report = deliver(&receiver(&api, builder).await, "ev_1").await;
    assert_eq!(report.outcome, Outcome::HandlerFailed);
    let (_, missing) = report.failures().next().unwrap();
    assert!(format!("{missing:#}").contains("Ledger"), "{missing:#}");
}

#[tokio::test]
async fn on_takes_an_event_types_name_or_the_typed_value() {
    let api = MockApi::start().await;
    api.add_event(
        TransactionBuilder::new("tr_1")
            .status(Completed)
            .event("ev_1"),
    );
    let ran = Arc::new(Mutex::new(Vec::new()));
    let record = |name: &'static str| {
        let ran = Arc::clone(&ran);
        move |_: EventContext| {
            ran.lock().unwrap().push(name);
            async { Ok::<_, HandlerError>(()) }
        }
    };
    let builder = Receiver::builder()
        .on(EventType::TransactionCaptured, "typed", record("typed"))
        .on("transaction.captured", "text", record("text"))
        .on(
            String::from("transaction.captured"),
            "owned",
            record("owned"),
        )
        .on("transaction.teleported", "unknown-type", record("unknown"));
    let report = deliver(&receiver(&api, builder).await, "ev_1").await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(*ran.lock().unwrap(), ["typed", "text", "owned"]);
}

#[test]
fn a_name_no_event_can_have_is_refused_by_build_without_a_panic() {
    for name in [
        "",
        "transaction.*",
        "transaction.",
        ".captured",
        "transaction..captured",
        "Transaction.Captured",
        "transaction captured",
        " transaction.captured",
    ] {
        let built = Receiver::builder()
            .allow_unauthenticated()
            .fetcher(
                smart_router_webhooks::ApiClient::builder("proj_1", "key_1")
                    .base_url("http://127.0.0.1:9")
                    .build()
                    .unwrap(),
            )
            .on(name, "handler", |_: EventContext| async { Ok(()) })
            .build();
        let error = built.unwrap_err();
        assert_eq!(
            error.kind(),
            smart_router_webhooks::ErrorKind::InvalidConfig,
            "{name:?}"
        );
        assert!(error.message().contains("no event type"), "{error}");
    }
}
