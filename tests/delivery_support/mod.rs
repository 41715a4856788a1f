//! Fixtures for the delivery tests: TLS-capable scripted servers (tests/tls_support) bound
//! on several loopback addresses that share one port, as MX hosts do on port 25, and a
//! connector that records every connection it opens.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_courier::ClientConfig;
use smtp_courier::connect::{ConnectFuture, Connector, Target, TcpConnector};
use smtp_courier::proto::Timeouts;
use tokio::net::{TcpListener, TcpStream};

#[path = "../tls_support/mod.rs"]
pub mod tls;

#[allow(unused_imports)]
pub use tls::{ConnLog, MX, PKI, Script, Server, TlsSetup};

/// Client settings: EHLO `client.test`, every timeout `secs`.
pub fn config(limit: Duration) -> ClientConfig {
    ClientConfig::new("client.test")
        .expect("EHLO name")
        .timeouts(Timeouts::all(limit))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Binds a listener on each address, all on the same port (retrying with another port
/// when one of them is taken there). Linux routes all of 127/8 to `lo`.
pub async fn bind_same_port(addrs: &[&str]) -> (u16, Vec<TcpListener>) {
    'retry: for _ in 0..50 {
        let first = TcpListener::bind((ip(addrs[0]), 0)).await.expect("bind");
        let port = first.local_addr().expect("local addr").port();
        let mut all = vec![first];
        for a in &addrs[1..] {
            match TcpListener::bind((ip(a), port)).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'retry,
            }
        }
        return (port, all);
    }
    panic!("no port free on every address of {addrs:?}");
}

/// One scripted server per address (same port); `None` leaves the address unbound, so
/// connecting there is refused. The port is free on those addresses when bound.
pub async fn servers(plan: Vec<(&str, Option<Vec<Script>>)>) -> (u16, Vec<Option<Server>>) {
    let bound: Vec<&str> = plan
        .iter()
        .filter(|(_, s)| s.is_some())
        .map(|(a, _)| *a)
        .collect();
    let (port, listeners) = bind_same_port(&bound).await;
    let mut listeners = listeners.into_iter();
    let servers = plan
        .into_iter()
        .map(|(_, scripts)| scripts.map(|s| Server::start_on(listeners.next().unwrap(), s)))
        .collect();
    (port, servers)
}

/// Waits for each server and returns its connection logs (empty for an unbound address).
pub async fn finish(servers: Vec<Option<Server>>) -> Vec<Vec<ConnLog>> {
    let mut out = Vec::new();
    for s in servers {
        out.push(match s {
            Some(s) => s.finish().await,
            None => Vec::new(),
        });
    }
    out
}

/// A TCP connector that records the target of every connection.
#[derive(Clone, Default)]
pub struct Counting {
    pub calls: Arc<Mutex<Vec<String>>>,
    tcp: TcpConnector,
}

impl Counting {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Connector for Counting {
    type Stream = TcpStream;
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, TcpStream> {
        self.calls.lock().unwrap().push(target.to_string());
        self.tcp.connect(target)
    }
}

/// "ip:port" as the report shows it.
pub fn at(addr: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(addr), port)
}

pub const MSG: &[u8] = b"Subject: t\r\n\r\nhi\r\n";

/// The plaintext lines a connection received.
pub fn plain(log: &ConnLog) -> Vec<&str> {
    log.plain.iter().map(String::as_str).collect()
}
