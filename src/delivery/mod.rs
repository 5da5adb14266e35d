//! What arrives at the endpoint: the delivery's body and its credentials.

mod credentials;
mod payload;

pub use credentials::{BasicAuth, Credentials, MAX_AUTHORIZATION_LEN};
pub use payload::WebhookPayload;
