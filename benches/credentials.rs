//! Checking the `Authorization` header against 1 and 4 accepted
//! credentials, valid and invalid. An invalid header must not be measurably
//! faster than a valid one (that would tell an attacker which part was
//! wrong): the ratios should sit at 1.0 within noise.
//!
//! cargo bench --bench credentials
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use criterion::Criterion;
use http::{HeaderMap, header::AUTHORIZATION};
use smart_router_webhooks::{BasicAuth, Credentials};

#[path = "support/ratio.rs"]
mod ratio;

fn headers(user: &str, password: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let credentials = Credentials::new(user, password).expect("credentials");
    headers.insert(AUTHORIZATION, credentials.authorization_header());
    headers
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let user = "smart-router";
    let password = "4f3c9b1e8d7a6c5b4a39281706f5e4d3";
    let one = BasicAuth::new(Credentials::new(user, password).expect("credentials"));
    let four = BasicAuth::from_credentials((0..4).map(|i| {
        let p = if i == 3 {
            password.to_owned()
        } else {
            format!("{i}{}", &password[1..])
        };
        Credentials::new(user, p).expect("credentials")
    }))
    .expect("credentials");
    let valid = headers(user, password);
    let wrong_first_byte = headers(user, &format!("X{}", &password[1..]));
    let wrong_last_byte = headers(user, &format!("{}X", &password[..password.len() - 1]));
    let wrong_user = headers("smart-routex", password);

    let mut group = c.benchmark_group("credentials");
    for (set_name, auth) in [("1", &one), ("4", &four)] {
        let cases = [
            ("valid", &valid),
            ("wrong-first-byte", &wrong_first_byte),
            ("wrong-last-byte", &wrong_last_byte),
            ("wrong-user", &wrong_user),
        ];
        for (case, headers) in cases {
            let expect_ok = case == "valid";
            ratio::measure(&mut group, &format!("{set_name}/{case}"), || {
                assert_eq!(auth.verify(headers).is_ok(), expect_ok);
            });
        }
    }
    group.finish();
    c.final_summary();
    for set in ["1", "4"] {
        for case in ["wrong-first-byte", "wrong-last-byte", "wrong-user"] {
            // Invalid is "measurably faster" below 0.9 of valid.
            let r = ratio::ratio(
                &format!("credentials {set} {case}/valid"),
                &format!("{set}/{case}"),
                &format!("{set}/valid"),
                1.1,
            );
            if r < 0.9 {
                println!(
                    "WARNING: {set}/{case} is faster than valid by {:.0}%",
                    (1.0 - r) * 100.0
                );
            }
        }
    }
    ratio::ratio("credentials 4/1 valid", "4/valid", "1/valid", 4.5);
}
