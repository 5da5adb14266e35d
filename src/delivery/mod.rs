//! What arrives at the endpoint: the delivery's body and its credentials.

mod credentials;
mod payload;
mod webhook_url;

pub use credentials::{BasicAuth, Credentials};
pub(crate) use credentials::{basic_authorization, basic_token};
pub use payload::WebhookPayload;
pub use webhook_url::WebhookUrl;
pub(crate) use webhook_url::is_loopback;
