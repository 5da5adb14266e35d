//! A TCP proxy on loopback that counts the round trips its clients make
//! to the server behind it: a round trip starts each time a client sends
//! after the server answered it (or for the first time), so commands sent
//! together (a pipeline) count once, and a command sent while another
//! waits for its answer rides on that round trip. With one client making
//! one request at a time, this is exactly the number of requests it waited
//! on.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The proxy: it runs until the runtime it was started on stops.
pub struct CountingProxy {
    addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
}

impl CountingProxy {
    /// Starts a proxy to `upstream` on a free loopback port, on the
    /// current tokio runtime.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let round_trips = Arc::new(AtomicU64::new(0));
        let count = round_trips.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, count).await;
                    }
                });
            }
        });
        CountingProxy { addr, round_trips }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `redis://` URL to the proxy.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// The round trips counted so far, over every connection.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }
}

/// Copies both ways between `client` and `server`, counting the client's
/// round trips.
async fn relay(client: TcpStream, server: TcpStream, count: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the client sent something the server has not answered yet.
    let waiting = Arc::new(AtomicBool::new(false));
    let asking = {
        let waiting = waiting.clone();
        async move {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !waiting.swap(true, Ordering::SeqCst) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                if server_write.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let answering = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Before the client can see the answer, so that what it sends
            // next starts a new round trip.
            waiting.store(false, Ordering::SeqCst);
            if client_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(asking, answering);
}
