//! cargo run --example demo
//!
//! The whole flow in one command, with no setup and no network: a mock
//! Smart Router API, a receiver served by axum on loopback, and a sender
//! that delivers like Smart Router does (credentials from the webhook URL,
//! retries with backoff). It plays a payment story (captures, a PayPal
//! payment settling minutes later, a chargeback weeks later, a duplicate,
//! events out of order, a forged delivery, an unknown event type, an API
//! failure mended by a retry) and prints what each delivery was answered,
//! which handlers ran and which status changes were seen. A last chapter
//! takes the endpoint down past the sender's retries, then lets the
//! reconciler catch up on what was missed; and the inbox chapter shows a
//! slow handler acknowledged at once and processed by a worker, and a
//! dead letter replayed.

mod catch_up;
mod inbox;
mod scenario;

use std::io::Write as _;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut stdout = std::io::stdout();
    scenario::run(&mut stdout).await?;
    writeln!(stdout)?;
    catch_up::run(&mut stdout).await?;
    writeln!(stdout)?;
    inbox::run(&mut stdout).await?;
    Ok(())
}
