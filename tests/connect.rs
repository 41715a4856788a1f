//! `TcpConnector`: a closed port, a name with several addresses of which one listens, huge
//! timeouts, and use through `dyn Connector`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_courier::Error;
use smtp_courier::connect::{Connector, Host, Target, TcpConnector};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A loopback port with nothing listening (bound, then released).
fn closed(ip: &str) -> SocketAddr {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Accepts one connection and sends a greeting.
async fn greeter(addr: &str) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        tokio::io::AsyncWriteExt::write_all(&mut s, b"220 hi\r\n").await
    });
    addr
}

async fn read_greeting(s: &mut TcpStream) {
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"220 hi\r\n");
}

#[tokio::test]
async fn closed_port_is_an_io_error_naming_the_address() {
    let addr = closed("127.0.0.1");
    let err = TcpConnector::new()
        .connect(&Target::from(addr))
        .await
        .unwrap_err();
    let Error::Io { source, command } = &err else {
        panic!("expected Error::Io, got {err:?}");
    };
    assert_eq!(*command, None);
    assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        source.to_string(),
        format!("connect to {addr} failed (1 address tried)")
    );
    assert!(err.is_transient() && !err.is_timeout());

    // The positive twin: a listening port, TCP_NODELAY on.
    let addr = greeter("127.0.0.1:0").await;
    let mut s = TcpConnector::new()
        .connect(&Target::from(addr))
        .await
        .unwrap();
    assert!(s.nodelay().unwrap());
    read_greeting(&mut s).await;
}

#[tokio::test]
async fn a_name_is_tried_address_by_address() {
    // "localhost" may resolve to ::1 and 127.0.0.1 (or only one, depending on
    // /etc/hosts); only the last address listens, so every earlier one must be tried and
    // skipped. The unit test connect::tcp::tests::tries_each_address_in_order covers the
    // two-address case on every host.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host("localhost:0")
        .await
        .unwrap()
        .collect();
    let last = *addrs.last().expect("localhost resolves");
    let listener = TcpListener::bind(SocketAddr::new(last.ip(), 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    if addrs.len() < 2 {
        eprintln!("localhost has one address here ({last}); the fallback is unit-tested");
    }
    let target = Target::new("localhost", port).unwrap();
    assert_eq!(target.host(), &Host::Name("localhost".into()));
    let s = TcpConnector::new().connect(&target).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::new(last.ip(), port));
    assert!(s.nodelay().unwrap());

    // With nothing listening, the error counts every address tried.
    drop((s, listener));
    let err = TcpConnector::new().connect(&target).await.unwrap_err();
    let Error::Io { source, .. } = &err else {
        panic!("expected Error::Io, got {err:?}");
    };
    let n = addrs.len();
    let noun = if n == 1 { "address" } else { "addresses" };
    assert!(
        source.to_string().ends_with(&format!("({n} {noun} tried)")),
        "{source}"
    );
}

#[tokio::test]
async fn huge_timeout_never_panics() {
    let addr = greeter("127.0.0.1:0").await;
    let target = Target::from(addr).connect_timeout(Duration::MAX);
    let mut s = TcpConnector::new().connect(&target).await.unwrap();
    read_greeting(&mut s).await;
    // By name too (resolution runs under the same deadline).
    let addr = greeter("127.0.0.1:0").await;
    let target = Target::new("localhost", addr.port())
        .unwrap()
        .connect_timeout(Duration::MAX);
    let mut s = TcpConnector::new().connect(&target).await.unwrap();
    read_greeting(&mut s).await;
}

#[tokio::test]
async fn ipv6_literal_in_brackets() {
    let addr = greeter("[::1]:0").await;
    let target = Target::new("[::1]", addr.port()).unwrap();
    let mut s = TcpConnector::new().connect(&target).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), addr);
    read_greeting(&mut s).await;
}

#[tokio::test]
async fn usable_as_dyn_connector() {
    let addr = greeter("127.0.0.1:0").await;
    let connector: Arc<dyn Connector<Stream = TcpStream>> = Arc::new(TcpConnector::new());
    let target = Target::from(addr);
    // Through a generic function taking a reference to the Arc.
    async fn via<C: Connector>(c: C, t: &Target) -> Result<C::Stream, Error> {
        c.connect(t).await
    }
    let mut s = via(&connector, &target).await.unwrap();
    read_greeting(&mut s).await;
}
