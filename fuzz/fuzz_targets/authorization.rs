//! `BasicAuth::verify` on arbitrary `Authorization` headers, one or several,
//! against one or two accepted credentials.
//!
//! Accepted ⇒ exactly one header whose decoded `user:password` is one of
//! the accepted credentials; a sender's own header is always accepted.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use smart_router_webhooks::{BasicAuth, Credentials};

#[derive(Arbitrary, Debug)]
enum Header {
    /// Any bytes.
    Raw(Vec<u8>),
    /// `<scheme> <base64 of the bytes>`.
    Encoded {
        scheme: String,
        credentials: Vec<u8>,
    },
    /// The header a sender with the first accepted credentials puts.
    Sender,
    /// The sender's header with changed case and surrounding spaces.
    Mangled { upper: bool, before: u8, after: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    username: String,
    password: String,
    second: Option<(String, String)>,
    headers: Vec<Header>,
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `user:password` a header carries, decoded independently of the
/// crate, if it is a well-formed `Basic` header.
fn decode(value: &[u8]) -> Option<(String, String)> {
    let value = value.trim_ascii();
    let split = value.iter().position(|b| b.is_ascii_whitespace())?;
    let (scheme, token) = value.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = LENIENT.decode(token.trim_ascii()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

fn value_of(header: &Header, sender: &HeaderValue) -> Option<HeaderValue> {
    match header {
        Header::Raw(bytes) => HeaderValue::from_bytes(bytes).ok(),
        Header::Encoded {
            scheme,
            credentials,
        } => {
            let token = general_purpose::STANDARD.encode(credentials);
            HeaderValue::try_from(format!("{scheme} {token}")).ok()
        }
        Header::Sender => Some(sender.clone()),
        Header::Mangled {
            upper,
            before,
            after,
        } => {
            let text = sender.to_str().ok()?;
            let (scheme, token) = text.split_once(' ')?;
            let scheme = if *upper {
                scheme.to_ascii_uppercase()
            } else {
                scheme.to_ascii_lowercase()
            };
            let pad = |n: u8| " ".repeat(usize::from(n % 4));
            let text = format!(
                "{}{scheme} {}{token}{}",
                pad(*before),
                pad(*after),
                pad(*after)
            );
            HeaderValue::try_from(text).ok()
        }
    }
}

fuzz_target!(|input: Input| {
    let Ok(first) = Credentials::new(input.username.clone(), input.password.clone()) else {
        return;
    };
    let mut accepted = vec![(input.username.clone(), input.password.clone())];
    let mut auth = BasicAuth::new(first.clone());
    if let Some((user, pass)) = &input.second
        && let Ok(second) = Credentials::new(user.clone(), pass.clone())
    {
        auth = auth.with(second);
        accepted.push((user.clone(), pass.clone()));
    }
    let sender = first.authorization_header();

    // The sender's own header, alone, is accepted.
    let mut alone = HeaderMap::new();
    alone.insert(AUTHORIZATION, sender.clone());
    if sender.len() <= 4096 {
        assert!(
            auth.verify(&alone).is_ok(),
            "the sender's header was refused"
        );
    }

    let mut headers = HeaderMap::new();
    let mut values = Vec::new();
    for header in &input.headers {
        if let Some(value) = value_of(header, &sender) {
            headers.append(AUTHORIZATION, value.clone());
            values.push(value);
        }
    }
    let verdict = auth.verify(&headers);
    if verdict.is_ok() {
        assert_eq!(values.len(), 1, "accepted several or no headers");
        assert!(values[0].len() <= 4096, "accepted an over-long header");
        let decoded = decode(values[0].as_bytes()).expect("accepted a malformed header");
        assert!(accepted.contains(&decoded), "accepted other credentials");
    } else if values.len() == 1
        && let Some(decoded) = decode(values[0].as_bytes())
    {
        assert!(
            values[0].len() > 4096 || !accepted.contains(&decoded),
            "refused accepted credentials: {:?}",
            verdict
        );
    }
});
