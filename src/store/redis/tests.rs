use super::*;

#[test]
fn the_builder_never_prints_the_password() {
    let single = RedisStoreBuilder::new("redis://:s3cret@127.0.0.1:6379");
    let cluster = RedisStoreBuilder::cluster([
        "redis://:s3cret@127.0.0.1:6379",
        "redis://:s3cret@127.0.0.1:6380",
    ]);
    for printed in [format!("{single:?}"), format!("{cluster:?}")] {
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("127.0.0.1:6379"), "{printed}");
    }
}

#[test]
fn durations_become_whole_milliseconds_of_at_least_one() {
    assert_eq!(millis(Duration::ZERO), 1);
    assert_eq!(millis(Duration::from_micros(1500)), 2);
    assert_eq!(millis(Duration::from_secs(2)), 2000);
    assert_eq!(millis(Duration::MAX), MAX_DURATION.as_millis());
}

#[tokio::test]
async fn a_configuration_that_cannot_work_is_refused_at_build() {
    let cases = [
        RedisStoreBuilder::new("http://127.0.0.1"),
        RedisStoreBuilder::new("redis://127.0.0.1").key_prefix("a{b}:"),
        RedisStoreBuilder::new("redis://127.0.0.1").timeout(Duration::ZERO),
        RedisStoreBuilder::new("redis://127.0.0.1").done_ttl(Duration::from_micros(10)),
        RedisStoreBuilder::cluster(Vec::<String>::new()),
        RedisStoreBuilder::cluster(["redis://127.0.0.1:7000", "http://127.0.0.1:7001"]),
    ];
    for builder in cases {
        let err = builder.build().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    }
}
