//! Checking the `Authorization` header against 1 and 4 accepted
//! credentials, valid and invalid. An invalid header must not be measurably
//! faster than a valid one (that would tell an attacker which part was
//! wrong): the ratios should sit at 1.0 within noise.
//!
//! cargo bench --bench credentials
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench panics on a broken fixture

use std::time::{Duration, Instant};

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

    // Each invalid case is measured interleaved with the valid one, batch
    // by batch, so both see the same machine load and the ratio compares
    // like with like.
    const BATCH: u64 = 64;
    let mut group = c.benchmark_group("credentials");
    for (set_name, auth) in [("1", &one), ("4", &four)] {
        let cases = [
            ("wrong-first-byte", &wrong_first_byte),
            ("wrong-last-byte", &wrong_last_byte),
            ("wrong-user", &wrong_user),
        ];
        for (case, invalid) in cases {
            let id = format!("{set_name}/{case}");
            let paired = format!("{set_name}/{case}/valid");
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| {
                    let (mut invalid_time, mut valid_time) = (Duration::ZERO, Duration::ZERO);
                    let mut done = 0;
                    while done < iters {
                        let n = BATCH.min(iters - done);
                        let start = Instant::now();
                        for _ in 0..n {
                            assert!(auth.verify(std::hint::black_box(invalid)).is_err());
                        }
                        invalid_time += start.elapsed();
                        let start = Instant::now();
                        for _ in 0..n {
                            assert!(auth.verify(std::hint::black_box(&valid)).is_ok());
                        }
                        valid_time += start.elapsed();
                        done += n;
                    }
                    ratio::record(&id, invalid_time, iters);
                    ratio::record(&paired, valid_time, iters);
                    invalid_time
                })
            });
        }
    }
    group.finish();
    c.final_summary();
    for set in ["1", "4"] {
        for case in ["wrong-first-byte", "wrong-last-byte", "wrong-user"] {
            // "Measurably faster" would be below 0.9 of the valid check.
            let r = ratio::ratio(
                &format!("credentials {set} credential(s): {case}/valid"),
                &format!("{set}/{case}"),
                &format!("{set}/{case}/valid"),
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
    let per_credential =
        ratio::mean_ns("4/wrong-user/valid") / ratio::mean_ns("1/wrong-user/valid");
    println!(
        "RATIO credentials 4/1 valid: {per_credential:.3} (the check grows with the accepted set, by design)"
    );
}
