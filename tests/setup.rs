#![cfg(feature = "tls")]
//! Connection setup owned by the client: `Client::connect` is secure by default (STARTTLS
//! required, PKIX enforced), `Client::connect_with` dials through any `Connector`, and a
//! plaintext fallback after a failed handshake dials the same `Target` through the same
//! connector again, never the peer's address (through a proxy, the proxy's).
//!
//! The server is the TLS test server of `tests/tls.rs`; each case asserts what it received
//! per connection, and each negative case has a positive twin on the same fixture.

#[path = "socks5_proxy/mod.rs"]
mod socks5_proxy;
#[path = "tls_support/mod.rs"]
#[allow(dead_code, unreachable_pub)]
mod support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use smtp_courier::connect::{ConnectFuture, Connector, Socks5Connector, Target, TcpConnector};
use smtp_courier::proto::Timeouts;
use smtp_courier::tls::{MaybeTls, TlsConfig, TlsMode};
use smtp_courier::{Client, ClientConfig, Envelope, Error, TlsError, UsageError};
use socks5_proxy::{Behaviour, Proxy};
use support::{ConnLog, MX, PKI, Script, Server, TlsSetup};
use tokio::net::{TcpListener, TcpStream};

type TlsClient = Client<MaybeTls<TcpStream>>;

const EHLO: &str = "EHLO client.test";
const WITH_STARTTLS: &[&str] = &["PIPELINING", "STARTTLS"];
const AFTER_TLS: &[&str] = &["PIPELINING"];
const MSG: &[u8] = b"Subject: t\r\n\r\nhi\r\n";
/// What the server receives for [`MSG`] and QUIT.
const TX: [&str; 8] = [
    "MAIL FROM:<a@example.org>",
    "RCPT TO:<b@example.net>",
    "DATA",
    "Subject: t",
    "",
    "hi",
    ".",
    "QUIT",
];

fn config() -> ClientConfig {
    ClientConfig::new("client.test")
        .unwrap()
        .timeouts(Timeouts::all(Duration::from_secs(10)))
}

/// The default TLS settings of [`config`], trusting only the test CA and verifying [`MX`].
fn default_tls_trusting_test_ca() -> TlsConfig {
    config()
        .get_tls()
        .clone()
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        .server_name(MX)
}

fn lines(prefix: &[&str], rest: &[&str]) -> Vec<String> {
    prefix.iter().chain(rest).map(|s| (*s).to_owned()).collect()
}

async fn deliver_and_quit(mut client: TlsClient) {
    let envelope = Envelope::new("a@example.org", ["b@example.net"]).unwrap();
    let report = client.send_bytes(&envelope, MSG).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    client.quit().await.unwrap();
}

fn assert_conn(log: &ConnLog, plain: &[String], tls: &[String]) {
    assert!(log.scripted, "unscripted connection");
    assert_eq!(log.plain, plain, "plaintext lines");
    assert_eq!(log.tls, tls, "TLS lines");
    assert!(log.trailing.is_empty(), "sent after the script");
}

/// A forwarding "proxy" for one hop, as a connector: for each connection, a fresh
/// listener on 127.0.0.1:0 that accepts one client and relays it to the target (dialled
/// with [`TcpConnector`]). The stream's peer is the relay, never the server, as through a
/// SOCKS5 proxy; and once its one client came, the relay's port listens no more, so a
/// redial of the peer's address (instead of the target) fails.
#[derive(Default)]
struct Relay {
    dialled: Mutex<Vec<Target>>,
    relays: Mutex<Vec<SocketAddr>>,
}

impl Connector for Relay {
    type Stream = TcpStream;

    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, TcpStream> {
        Box::pin(async move {
            self.dialled.lock().unwrap().push(target.clone());
            let mut upstream = TcpConnector::new().connect(target).await?;
            let io = |e| Error::io(None, e);
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
            let addr = listener.local_addr().map_err(io)?;
            self.relays.lock().unwrap().push(addr);
            let accept = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
            let client = TcpStream::connect(addr).await.map_err(io)?;
            client.set_nodelay(true).map_err(io)?;
            let mut relayed = accept.await.unwrap().map_err(io)?;
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut relayed, &mut upstream).await;
            });
            Ok(client)
        })
    }
}

/// The first handshake fails (the server answers the ClientHello with garbage), the
/// second connection goes on in plaintext.
fn failing_then_plain() -> Vec<Script> {
    vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ]
}

fn opportunistic_with_fallback() -> TlsConfig {
    default_tls_trusting_test_ca()
        .with_mode(TlsMode::Opportunistic)
        .fallback(true)
}

/// Opportunistic with fallback, through a proxy-like connector, and a handshake that
/// fails: the fallback dials the target through the connector again, and the session
/// goes on in plaintext on the new connection. Dialling the first stream's peer address
/// instead (what the fallback did before it had a connector) reaches nobody: checked
/// below, so this case fails on the old behaviour.
#[tokio::test]
async fn fallback_redials_the_target_through_the_connector() {
    let server = Server::start(failing_then_plain()).await;
    let relay = Relay::default();
    let target = Target::new("127.0.0.1", server.port())
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    let config = config().tls(opportunistic_with_fallback());
    let client = Client::connect_with(&relay, &target, config)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let report = client.tls_report().cloned().unwrap();
    assert!(report.fallback, "{report:?}");
    assert!(report.verify_error.unwrap().contains("handshake failed"));
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;

    assert_eq!(*relay.dialled.lock().unwrap(), [target.clone(), target]);
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert_conn(&logs[0], &lines(&[EHLO, "STARTTLS"], &[]), &[]);
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    // The first stream's peer was the relay, which is gone: a peer-address redial fails.
    let first_peer = relay.relays.lock().unwrap()[0];
    assert!(TcpStream::connect(first_peer).await.is_err());
}

/// The twin: the same fixture without fallback is a transient TLS error, and the
/// connector is asked once.
#[tokio::test]
async fn without_fallback_the_connector_is_asked_once() {
    let server = Server::start(failing_then_plain()).await;
    let relay = Relay::default();
    let target = Target::new("127.0.0.1", server.port()).unwrap();
    let tls = opportunistic_with_fallback().fallback(false);
    let err = Client::connect_with(&relay, &target, config().tls(tls))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(relay.dialled.lock().unwrap().len(), 1);
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_conn(&logs[0], &lines(&[EHLO, "STARTTLS"], &[]), &[]);
}

/// A server that offers no STARTTLS (or had it stripped) gets nothing but EHLO from a
/// client with the default settings: STARTTLS is required.
#[tokio::test]
async fn connect_requires_starttls_by_default() {
    assert_eq!(config().get_tls().mode(), TlsMode::RequiredStartTls);
    assert!(config().get_tls().enforces_verification());
    let server = Server::start(vec![Script::greeting().ehlo(AFTER_TLS)]).await;
    let err = Client::connect(("127.0.0.1", server.port()), config())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1);
    assert_conn(&logs[0], &lines(&[EHLO], &[]), &[]);
}

/// The twin: the default settings, given the test CA, do STARTTLS and verify, from a
/// `"host:port"` string.
#[tokio::test]
async fn connect_does_starttls_with_the_default_mode() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .starttls(TlsSetup::good())
            .ehlo(AFTER_TLS)
            .transaction()
            .quit(),
    ])
    .await;
    let target = format!("127.0.0.1:{}", server.port());
    let config = config().tls(default_tls_trusting_test_ca());
    let client = Client::connect(target.as_str(), config).await.unwrap();
    assert!(client.get_ref().is_tls());
    assert!(client.tls_report().unwrap().verified);
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_conn(
        &logs[0],
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO], &TX),
    );
}

/// PKIX is enforced by default: an untrusted certificate ends the session before any
/// MAIL, with the verification error.
#[tokio::test]
async fn connect_enforces_verification_by_default() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .starttls(TlsSetup::with(|p| &p.self_signed)),
    ])
    .await;
    let config = config().tls(default_tls_trusting_test_ca());
    let err = Client::connect(("127.0.0.1", server.port()), config)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::Verification(_))),
        "{err:?}"
    );
    let logs = server.finish().await;
    assert_conn(&logs[0], &lines(&[EHLO, "STARTTLS"], &[]), &[]);
}

/// `TlsMode::Skip`, as the quickstart sets it for its local sink: no STARTTLS even when
/// offered, and no TLS report.
#[tokio::test]
async fn skip_is_plaintext_even_when_starttls_is_offered() {
    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let config = config().tls(TlsConfig::new(TlsMode::Skip));
    let client = Client::connect(server.addr, config).await.unwrap();
    assert!(client.tls_report().is_none());
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_conn(&logs[0], &lines(&[EHLO], &TX), &[]);
}

/// A target without a port is a usage error before anything is dialled.
#[tokio::test]
async fn a_malformed_target_dials_nothing() {
    let relay = Relay::default();
    for bad in ["127.0.0.1", "::1:25", "mx.example.org:port"] {
        let err = Client::connect_with(&relay, bad, config())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Usage(UsageError::Address(_))),
            "{bad}: {err:?}"
        );
        assert!(err.is_permanent());
    }
    assert!(relay.dialled.lock().unwrap().is_empty());
}

/// Through a real SOCKS5 proxy: the proxy is asked for the target by name (RFC 1928 §5,
/// ATYP 3), and that name, not the proxy's address, is what TLS verifies and sends as SNI.
#[tokio::test]
async fn through_socks5_the_target_name_is_verified() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .starttls(TlsSetup::good())
            .ehlo(AFTER_TLS)
            .transaction()
            .quit(),
    ])
    .await;
    let upstream = TcpStream::connect(server.addr).await.unwrap();
    let proxy = Proxy::start(Behaviour::open(upstream)).await;
    let connector = Socks5Connector::from(proxy.addr);
    // No server_name: the name verified is the target's.
    let tls = TlsConfig::new(TlsMode::RequiredStartTls)
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap();
    let client = Client::connect_with(&connector, (MX, 25), config().tls(tls))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(client.tls_report().unwrap().verified);
    deliver_and_quit(client).await;
    let seen = proxy.finish().await;
    let mut request = b"\x05\x01\x00\x03".to_vec();
    request.push(u8::try_from(MX.len()).unwrap());
    request.extend_from_slice(MX.as_bytes());
    request.extend_from_slice(&25u16.to_be_bytes());
    assert_eq!(seen.request.as_deref(), Some(&request[..]));
    let logs = server.finish().await;
    assert_eq!(logs[0].sni.as_deref(), Some(MX));
    assert_conn(
        &logs[0],
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO], &TX),
    );
}
