//! The connection the Redis stores share: to one Redis server, or to a
//! Redis Cluster, behind one type that runs commands and scripts alike.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::error::redact_url;
use crate::error::{Error, ErrorKind};

/// A connection to one Redis server or to a Redis Cluster. Both re-establish
/// themselves when lost; the cluster one also follows the cluster's slots
/// (`MOVED`, `ASK`, a node that fails over), routing each command or script
/// by its first key. Clones share the connection.
#[derive(Clone)]
pub(crate) enum RedisConnection {
    /// One server, through a connection manager.
    Single(ConnectionManager),
    /// A cluster, through the `redis` crate's cluster client.
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }
}

/// Where the stores connect to.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server, by URL.
    Url(String),
    /// The nodes of a cluster (some or all), by URL.
    Cluster(Vec<String>),
    /// An existing connection manager, configured by its owner.
    Manager(ConnectionManager),
}

impl Target {
    /// The target for `Debug` output, passwords and queries hidden.
    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Url(url) => redact_url(url),
            Target::Cluster(urls) => {
                let nodes: Vec<String> = urls.iter().map(|url| redact_url(url)).collect();
                format!("cluster [{}]", nodes.join(", "))
            }
            Target::Manager(_) => "<a connection manager>".to_owned(),
        }
    }

    /// Connects, each attempt and the whole bounded by `timeout`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for URLs that cannot be used (none for
    /// a cluster included), [`ErrorKind::Store`] when Redis cannot be
    /// reached or refuses the credentials in time.
    pub(crate) async fn connect(self, timeout: Duration) -> Result<RedisConnection, Error> {
        let unusable =
            |e| Error::new(ErrorKind::InvalidConfig, "the Redis URL cannot be used").with_source(e);
        match self {
            Target::Manager(manager) => Ok(RedisConnection::Single(manager)),
            Target::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(unusable)?;
                // A lost connection is re-established with a few quick
                // attempts; the operations waiting meanwhile are bounded by
                // the timeout, and the next one after a failed round starts
                // another.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(timeout);
                let manager = within(
                    timeout,
                    "connect",
                    ConnectionManager::new_with_config(client, config),
                )
                .await?;
                Ok(RedisConnection::Single(manager))
            }
            Target::Cluster(urls) => {
                if urls.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        "a Redis Cluster needs the URL of at least one node",
                    ));
                }
                // Each attempt is bounded by the timeout, and so is every
                // operation as a whole (redirections and retries included)
                // by the stores.
                let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .build()
                    .map_err(unusable)?;
                let connection = within(timeout, "connect", client.get_async_connection()).await?;
                Ok(RedisConnection::Cluster(connection))
            }
        }
    }
}

/// Runs `operation` within `timeout`, turning every failure into an
/// [`ErrorKind::Store`] error; `what` completes "Redis could not …".
pub(crate) async fn within<T>(
    timeout: Duration,
    what: &'static str,
    operation: impl Future<Output = RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            Err(Error::new(ErrorKind::Store, format!("Redis could not {what}")).with_source(e))
        }
        Err(_) => Err(Error::new(
            ErrorKind::Store,
            format!("Redis could not {what}: no answer within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_and_queries() {
        assert_eq!(
            redact_url("redis://:s3cret@cache.internal:6380/2"),
            "redis://:redacted@cache.internal:6380/2"
        );
        assert_eq!(
            redact_url("redis://app:s3cret@cache.internal"),
            "redis://app:redacted@cache.internal"
        );
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?redacted"
        );
        assert_eq!(redact_url("redis://127.0.0.1"), "redis://127.0.0.1");
        assert_eq!(redact_url("not a url s3cret"), "<unreadable URL>");
    }

    #[test]
    fn a_cluster_is_described_node_by_node_without_passwords() {
        let target = Target::Cluster(vec![
            "redis://:s3cret@10.0.0.1:7000".to_owned(),
            "redis://:s3cret@10.0.0.2:7000".to_owned(),
        ]);
        assert_eq!(
            target.describe(),
            "cluster [redis://:redacted@10.0.0.1:7000, redis://:redacted@10.0.0.2:7000]"
        );
    }
}
