#![cfg(feature = "tls")]
//! TLS against a scripted server that really speaks TLS: every [`TlsMode`] against the
//! server behaviours of the TLS issue (STARTTLS not offered, refused with 454, 3yz or 250,
//! 220 followed by injected bytes, a failed handshake, a handshake that never completes,
//! each bad certificate, capabilities that change after TLS, implicit TLS), the fallback
//! policy, the Postfix levels, TLS versions, SNI and client certificates.
//!
//! Each case asserts what the server received, line by line, the error variant and its
//! severity, and the [`TlsReport`]; each negative case has a positive twin against the same
//! fixture, so a broken fixture cannot make a negative case pass.

#[path = "tls_support/mod.rs"]
mod support;

use std::time::Duration;

use smtp_courier::connect::{Target, TcpConnector};
use smtp_courier::proto::{CommandKind, Timeouts};
use smtp_courier::tls::{
    CertVerification, Level, MaybeTls, TlsConfig, TlsMode, TlsReport, TlsVersion,
};
use smtp_courier::{Client, ClientConfig, Envelope, Error, ProtocolError, TlsError, connect_tcp};
use support::{CertOf, ConnLog, MX, PKI, Script, Server, TlsSetup};
use tokio::net::TcpStream;

type TlsClient = Client<MaybeTls<TcpStream>>;

const MSG: &[u8] = b"Subject: t\r\n\r\nhi\r\n";
const EHLO: &str = "EHLO client.test";
/// What the server receives for [`MSG`] and QUIT (no SIZE offered).
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
const WITH_STARTTLS: &[&str] = &["PIPELINING", "STARTTLS"];
const AFTER_TLS: &[&str] = &["PIPELINING"];

/// The verification errors, with the detail that tells the bad certificate apart (when
/// it expired, the name asked for and the names held, who signed it).
const EXPIRED: &str =
    "certificate expired: not valid after 2001-01-01T00:00:00Z (subject \"CN=mx.test.example\")";
const WRONG_NAME: &str = "certificate not valid for the server name: asked for mx.test.example, \
    the certificate is valid for other.test.example";
const UNTRUSTED: &str =
    "certificate not issued by a trusted authority: self-signed by \"CN=mx.test.example\"";

/// The three bad certificates and the reason each must fail with.
const BAD_CERTS: [(CertOf, &str); 3] = [
    (|p| &p.expired, EXPIRED),
    (|p| &p.wrong_name, WRONG_NAME),
    (|p| &p.self_signed, UNTRUSTED),
];

fn timeouts(handshake: Duration) -> Timeouts {
    let mut t = Timeouts::all(Duration::from_secs(10));
    t.tls_handshake = handshake;
    t
}

fn config() -> ClientConfig {
    ClientConfig::new("client.test")
        .unwrap()
        .timeouts(timeouts(Duration::from_secs(10)))
}

/// For the handshakes that never complete.
fn impatient_config() -> ClientConfig {
    ClientConfig::new("client.test")
        .unwrap()
        .timeouts(timeouts(Duration::from_secs(1)))
}

/// `mode`, trusting only the test CA, verifying against [`MX`].
fn tls_config(mode: TlsMode) -> TlsConfig {
    trust_test_ca(TlsConfig::new(mode))
}

fn trust_test_ca(tls: TlsConfig) -> TlsConfig {
    tls.platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        .server_name(MX)
}

fn envelope() -> Envelope {
    Envelope::new("a@example.org", ["b@example.net"]).unwrap()
}

async fn connect(server: &Server, tls: &TlsConfig) -> Result<TlsClient, Error> {
    connect_with(server, tls, config()).await
}

async fn connect_with(
    server: &Server,
    tls: &TlsConfig,
    config: ClientConfig,
) -> Result<TlsClient, Error> {
    Client::connect(("127.0.0.1", server.port()), config.tls(tls.clone())).await
}

fn expect_err(r: Result<TlsClient, Error>) -> Error {
    match r {
        Ok(c) => panic!("connected, TLS report {:?}", c.tls_report()),
        Err(e) => e,
    }
}

fn expect_ok(r: Result<TlsClient, Error>) -> TlsClient {
    r.unwrap_or_else(|e| panic!("failed: {e} ({e:?})"))
}

/// Sends [`MSG`], which must be delivered, then QUIT.
async fn deliver_and_quit(mut client: TlsClient) {
    let report = client.send_bytes(&envelope(), MSG).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    client.quit().await.unwrap();
}

fn lines(prefix: &[&str], rest: &[&str]) -> Vec<String> {
    prefix.iter().chain(rest).map(|s| (*s).to_owned()).collect()
}

/// One connection, and the server received exactly `plain` in plaintext, `tls` over TLS,
/// and nothing after its script ended.
fn assert_one_conn(logs: &[ConnLog], plain: &[String], tls: &[String]) {
    assert_eq!(logs.len(), 1, "connections: {logs:#?}");
    assert_conn(&logs[0], plain, tls);
}

fn assert_conn(log: &ConnLog, plain: &[String], tls: &[String]) {
    assert!(log.scripted, "unscripted connection");
    assert_eq!(log.plain, plain, "plaintext lines");
    assert_eq!(log.tls, tls, "TLS lines");
    assert!(
        log.trailing.is_empty(),
        "sent after the script: {:?}",
        String::from_utf8_lossy(&log.trailing)
    );
}

/// A TLS 1.3 session with a certificate that passed verification.
fn assert_verified_tls13(report: &TlsReport, log: &ConnLog) {
    let server = log.server_tls();
    assert_eq!(server.version, "TLSv1_3");
    assert_eq!(report.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(report.cipher.as_deref(), Some("TLS_AES_256_GCM_SHA384"));
    assert_eq!(server.cipher, "TLS13_AES_256_GCM_SHA384");
    assert!(report.verified);
    assert_eq!(report.verify_error, None);
    assert_eq!(report.peer_certificates, PKI.good.chain);
    assert!(!report.fallback);
    let exporter = report
        .tls_exporter
        .as_ref()
        .expect("TLS 1.3 has an exporter");
    assert_eq!(exporter.len(), 32);
    assert_eq!(
        Some(exporter),
        server.exporter.as_ref(),
        "both ends derive the same channel binding"
    );
}

/// A server that offers STARTTLS, completes TLS with `setup`, offers [`AFTER_TLS`] and
/// accepts one message.
fn starttls_server(setup: TlsSetup) -> Script {
    Script::greeting()
        .ehlo(WITH_STARTTLS)
        .starttls(setup)
        .ehlo(AFTER_TLS)
        .transaction()
        .quit()
}

/// What that server receives from a client that delivers [`MSG`].
fn starttls_lines() -> (Vec<String>, Vec<String>) {
    (lines(&[EHLO, "STARTTLS"], &[]), lines(&[EHLO], &TX))
}

#[path = "tls_cases/implicit.rs"]
mod implicit;
#[path = "tls_cases/levels.rs"]
mod levels;
#[path = "tls_cases/opportunistic.rs"]
mod opportunistic;
#[path = "tls_cases/parameters.rs"]
mod parameters;
#[path = "tls_cases/required.rs"]
mod required;
