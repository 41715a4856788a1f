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

use smtp_courier::proto::{Phase, Timeouts};
use smtp_courier::tls::{
    self, CertVerification, Level, MaybeTls, TlsConfig, TlsMode, TlsReport, TlsVersion,
};
use smtp_courier::{Client, ClientConfig, Envelope, Error, ProtocolError, TlsError, connect_tcp};
use support::{ConnLog, Leaf, MX, PKI, Pki, Script, Server, TlsSetup};
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

const EXPIRED: &str = "certificate expired";
const WRONG_NAME: &str = "certificate not valid for the server name";
const UNTRUSTED: &str = "certificate not issued by a trusted authority";

/// The three bad certificates and the reason each must fail with.
const BAD_CERTS: [(fn(&Pki) -> &Leaf, &str); 3] = [
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
    tls::connect("127.0.0.1", server.port(), config, tls).await
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

// ---------------------------------------------------------------------------------------
// Required STARTTLS
// ---------------------------------------------------------------------------------------

/// A server with a valid certificate: STARTTLS, EHLO again over TLS, the message over TLS.
#[tokio::test]
async fn required_starttls_with_valid_certificate() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.tls_report().cloned().expect("a TLS report");
    assert!(client.get_ref().is_tls());
    assert!(client.session().is_tls_verified());
    assert!(!report.implicit);
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&logs, &plain, &tls);
    assert_verified_tls13(&report, &logs[0]);
    assert_eq!(logs[0].sni.as_deref(), Some(MX));
}

/// A server that does not offer STARTTLS (a stripped EHLO, as a downgrading middlebox
/// produces): nothing but EHLO may be sent. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_not_offered() {
    let server = Server::start(vec![Script::greeting().ehlo(AFTER_TLS)]).await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
}

/// An old server that refuses EHLO and accepts HELO: no extensions, so no STARTTLS.
#[tokio::test]
async fn required_starttls_helo_only_server() {
    let server = Server::start(vec![
        Script::greeting()
            .reply("502 5.5.1 command not implemented")
            .reply("250 mx.test.example"),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "HELO client.test"], &[]),
        &[],
    );
}

/// STARTTLS refused: 454 (Postfix without keys), a 3yz and a 250 (broken servers) are all
/// refusals; nothing else is sent in the clear.
#[tokio::test]
async fn required_starttls_refused() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).reply(refusal)]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
        let code = refusal[..3].parse::<u16>().unwrap();
        match &err {
            Error::Tls(TlsError::Refused(reply)) => assert_eq!(reply.code().as_u16(), code),
            other => panic!("{refusal}: {other:?}"),
        }
        assert!(err.is_transient(), "{refusal}");
        assert_eq!(err.code().map(|c| c.as_u16()), Some(code));
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );
    }
}

/// The server refuses the EHLO sent after the handshake: a TLS error, no MAIL.
/// Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_ehlo_refused_after_tls() {
    let script = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .starttls(TlsSetup::good())
        .reply("554 5.7.0 go away");
    let server = Server::start(vec![script]).await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    match &err {
        Error::Tls(TlsError::EhloRefused(reply)) => assert_eq!(reply.code().as_u16(), 554),
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO], &[]),
    );
}

/// A server that advertises STARTTLS but answers the ClientHello with plaintext: a failed
/// handshake, and no reconnection. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_handshake_fails() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

/// A server that reads the ClientHello and never answers: the handshake deadline ends it.
/// Twin: the same short deadline with a server that answers.
#[tokio::test]
async fn required_starttls_handshake_never_completes() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .stall(),
    ])
    .await;
    let tls = tls_config(TlsMode::RequiredStartTls);
    let err = expect_err(connect_with(&server, &tls, impatient_config()).await);
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::TlsHandshake,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient() && err.is_timeout());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
    assert!(logs[0].stalled_bytes > 0, "the ClientHello was sent");

    // Twin: the same deadline is enough for a server that answers.
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect_with(&server, &tls, impatient_config()).await);
    deliver_and_quit(client).await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&server.finish().await, &plain, &tls);
}

/// PKIX enforced: each bad certificate aborts the handshake with its reason, and nothing
/// is sent. Twin: `required_starttls_with_valid_certificate`.
#[tokio::test]
async fn required_starttls_bad_certificates_rejected() {
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![
            Script::greeting()
                .ehlo(WITH_STARTTLS)
                .starttls(TlsSetup::with(cert)),
        ])
        .await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
        match &err {
            Error::Tls(TlsError::Verification(w)) => assert_eq!(w, why),
            other => panic!("{why}: {other:?}"),
        }
        assert!(err.is_transient(), "{why}");
        let logs = server.finish().await;
        assert_one_conn(&logs, &lines(&[EHLO, "STARTTLS"], &[]), &[]);
        assert!(
            matches!(logs[0].handshake, Some(Err(_))),
            "{why}: server side {:?}",
            logs[0].handshake
        );
    }
}

/// "Ignore verification errors": each bad certificate completes the session, and the
/// report says it was not verified and why.
#[tokio::test]
async fn required_starttls_bad_certificates_ignored() {
    let tls = tls_config(TlsMode::RequiredStartTls).ignore_verification_errors(true);
    assert_eq!(tls.verification(), CertVerification::Pkix);
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![starttls_server(TlsSetup::with(cert))]).await;
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        assert!(!client.session().is_tls_verified(), "{why}");
        deliver_and_quit(client).await;
        let (plain, lines_tls) = starttls_lines();
        let logs = server.finish().await;
        assert_one_conn(&logs, &plain, &lines_tls);
        assert!(!report.verified, "{why}");
        assert_eq!(report.verify_error.as_deref(), Some(why));
        assert_eq!(report.version.as_deref(), Some("TLSv1.3"));
        assert_eq!(report.peer_certificates, cert(&PKI).chain, "{why}");
        assert!(!report.fallback);
    }
}

/// Verification not required: it still runs and is reported, for bad certificates and
/// for the good one.
#[tokio::test]
async fn verification_none_still_runs_and_reports() {
    let tls = tls_config(TlsMode::RequiredStartTls).with_verification(CertVerification::None);
    assert!(!tls.enforces_verification());
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![starttls_server(TlsSetup::with(cert))]).await;
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        deliver_and_quit(client).await;
        let (plain, lines_tls) = starttls_lines();
        assert_one_conn(&server.finish().await, &plain, &lines_tls);
        assert!(!report.verified, "{why}");
        assert_eq!(report.verify_error.as_deref(), Some(why));
    }
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_verified_tls13(&report, &logs[0]);
}

/// Ignoring verification errors never skips the handshake signature: a server that shows
/// a certificate without holding its key fails, whatever the verification setting.
/// Twin: the same certificate with its own key completes.
#[tokio::test]
async fn handshake_signature_checked_even_when_ignoring_errors() {
    let settings = [
        tls_config(TlsMode::RequiredStartTls).ignore_verification_errors(true),
        tls_config(TlsMode::RequiredStartTls).with_verification(CertVerification::None),
        tls_config(TlsMode::RequiredStartTls),
    ];
    for tls in &settings {
        let setup = TlsSetup {
            wrong_key: true,
            ..TlsSetup::good()
        };
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).starttls(setup)]).await;
        let err = expect_err(connect(&server, tls).await);
        assert!(
            matches!(err, Error::Tls(TlsError::Handshake(_))),
            "{tls:?}: {err:?}"
        );
        assert!(err.is_transient());
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );

        let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
        let client = expect_ok(connect(&server, tls).await);
        assert!(client.tls_report().unwrap().verified);
        deliver_and_quit(client).await;
        server.finish().await;
    }
}

/// Response injection (CVE-2021-38371 style): the 220 to STARTTLS arrives with more bytes
/// in the same packet, a whole reply or part of one. The connection is dropped before any
/// handshake. Twin: `required_starttls_with_valid_certificate` (220 alone).
#[tokio::test]
async fn starttls_220_followed_by_injected_bytes() {
    let injections: [&[u8]; 2] = [b"220 ready\r\n250 2.1.0 injected\r\n", b"220 ready\r\n25"];
    let modes = [
        tls_config(TlsMode::RequiredStartTls),
        tls_config(TlsMode::Opportunistic).fallback(true),
    ];
    for tls in &modes {
        for bytes in injections {
            let server = Server::start(vec![
                Script::greeting().ehlo(WITH_STARTTLS).reply_raw(bytes),
            ])
            .await;
            let err = expect_err(connect(&server, tls).await);
            assert!(
                matches!(
                    err,
                    Error::Protocol {
                        error: ProtocolError::DataAfterStartTls,
                        ..
                    }
                ),
                "{tls:?}: {err:?}"
            );
            assert!(err.is_transient());
            // No ClientHello, no fallback reconnection.
            assert_one_conn(
                &server.finish().await,
                &lines(&[EHLO, "STARTTLS"], &[]),
                &[],
            );
        }
    }
}

/// The session is unusable after a failed required establish, and the injected-bytes
/// connection is closed at once, even while the caller still holds the client.
#[tokio::test]
async fn failed_establish_leaves_nothing_to_send_in_the_clear() {
    let cases = [
        Script::greeting().ehlo(AFTER_TLS),
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available"),
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply_raw(b"220 ready\r\n250 injected\r\n"),
    ];
    for script in cases {
        let server = Server::start(vec![script]).await;
        let tcp = connect_tcp(server.addr, Duration::from_secs(5))
            .await
            .unwrap();
        let quick = config().timeouts(Timeouts::all(Duration::from_secs(1)));
        let mut client = Client::new(MaybeTls::Plain(tcp), quick);
        let tls = tls_config(TlsMode::RequiredStartTls);
        let err = client.establish(&tls, "127.0.0.1").await.unwrap_err();
        assert!(
            matches!(err, Error::Tls(_) | Error::Protocol { .. }),
            "{err:?}"
        );
        assert!(!client.is_usable(), "{err:?}");
        let attempt = client.send_bytes(&envelope(), MSG).await;
        assert!(
            attempt.is_err(),
            "{err:?}: a transaction started: {attempt:?}"
        );
        let injected = matches!(err, Error::Protocol { .. });
        if injected {
            // Dropped by the client, not by our drop below.
            let logs = server.finish().await;
            assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
            assert!(logs[0].trailing.is_empty());
            drop(client);
        } else {
            drop(client);
            let logs = server.finish().await;
            assert!(
                logs[0].trailing.is_empty(),
                "sent in the clear: {:?}",
                String::from_utf8_lossy(&logs[0].trailing)
            );
            assert!(!logs[0].plain.iter().any(|l| l.starts_with("MAIL")));
        }
    }
}

/// Capabilities learned before TLS are discarded: the SIZE limit of the plaintext EHLO
/// (10) would refuse the message, the post-TLS one (100000) accepts it and is declared.
#[tokio::test]
async fn capabilities_come_from_the_post_tls_ehlo() {
    let script = Script::greeting()
        .ehlo(&["SIZE 10", "STARTTLS", "SMTPUTF8"])
        .starttls(TlsSetup::good())
        .ehlo(&["PIPELINING", "SIZE 100000"])
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let caps = client.capabilities().unwrap();
    assert_eq!(caps.size(), Some(Some(100000)));
    assert!(caps.pipelining());
    assert!(!caps.starttls(), "STARTTLS was only offered before TLS");
    assert!(!caps.smtputf8(), "SMTPUTF8 was only offered before TLS");
    deliver_and_quit(client).await;
    let mut tx = TX.to_vec();
    tx[0] = "MAIL FROM:<a@example.org> SIZE=18";
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO], &tx),
    );

    // Twin: the post-TLS limit is the one enforced, so 10 octets refuses the message and
    // nothing but EHLO and QUIT goes over TLS.
    let script = Script::greeting()
        .ehlo(&["SIZE 100000", "STARTTLS"])
        .starttls(TlsSetup::good())
        .ehlo(&["PIPELINING", "SIZE 10"])
        .quit();
    let server = Server::start(vec![script]).await;
    let mut client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.send_bytes(&envelope(), MSG).await.unwrap();
    assert!(
        matches!(
            report.error,
            Some(Error::TooLarge {
                size: 18,
                limit: 10
            })
        ),
        "{report:?}"
    );
    client.quit().await.unwrap();
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &lines(&[EHLO, "QUIT"], &[]),
    );
}

// ---------------------------------------------------------------------------------------
// Opportunistic STARTTLS and the fallback policy
// ---------------------------------------------------------------------------------------

/// Offered: used, and verified.
#[tokio::test]
async fn opportunistic_uses_starttls_when_offered() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&logs, &plain, &tls);
    assert_verified_tls13(&report, &logs[0]);
}

/// Not offered: plaintext, and the absent report says so.
/// Twin: `opportunistic_uses_starttls_when_offered`.
#[tokio::test]
async fn opportunistic_not_offered_goes_plaintext() {
    let server = Server::start(vec![
        Script::greeting().ehlo(AFTER_TLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    assert_eq!(client.tls_report(), None);
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

/// Refused (454, 3yz, 250) without fallback: a transient TLS error, nothing more sent.
#[tokio::test]
async fn opportunistic_refused_without_fallback() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).reply(refusal)]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
        assert!(
            matches!(err, Error::Tls(TlsError::Refused(_))),
            "{refusal}: {err:?}"
        );
        assert!(err.is_transient());
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );
    }
}

/// Refused with fallback: plaintext on the same connection (no handshake, no second
/// connection), reported as a fallback.
#[tokio::test]
async fn opportunistic_refused_with_fallback() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let script = Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply(refusal)
            .transaction()
            .quit();
        let server = Server::start(vec![script]).await;
        let tls = tls_config(TlsMode::Opportunistic).fallback(true);
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        assert!(!client.get_ref().is_tls());
        deliver_and_quit(client).await;
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &TX),
            &[],
        );
        assert!(report.fallback, "{refusal}");
        assert_eq!((report.version, report.cipher), (None, None));
        assert!(!report.verified);
        let why = report.verify_error.unwrap();
        assert!(
            why.contains("STARTTLS refused") && why.contains(&refusal[..3]),
            "{why}"
        );
        assert!(report.peer_certificates.is_empty() && report.tls_exporter.is_none());
    }
}

/// A failed handshake without fallback: a transient TLS error, one connection.
#[tokio::test]
async fn opportunistic_handshake_fails_without_fallback() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

/// A failed handshake with fallback: reconnect to the same server and skip STARTTLS even
/// though it is offered again.
#[tokio::test]
async fn opportunistic_handshake_fails_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .reply("220 ready")
        .garbage();
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert_eq!(report.version, None);
    assert!(report.verify_error.unwrap().contains("handshake failed"));
}

/// A handshake that never completes, with fallback: the deadline, then a reconnection.
#[tokio::test]
async fn opportunistic_handshake_timeout_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .reply("220 ready")
        .stall();
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    let client = expect_ok(connect_with(&server, &tls, impatient_config()).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert!(logs[0].stalled_bytes > 0);
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert!(report.verify_error.unwrap().contains("timed out"));

    // Twin: without fallback the timeout is the error, and there is no second connection.
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .stall(),
    ])
    .await;
    let err = expect_err(
        connect_with(
            &server,
            &tls_config(TlsMode::Opportunistic),
            impatient_config(),
        )
        .await,
    );
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::TlsHandshake,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(server.finish().await.len(), 1);
}

/// Opportunistic with PKIX enforced and fallback: a certificate for the wrong name fails
/// the handshake, and the session reconnects in plaintext, saying why.
#[tokio::test]
async fn opportunistic_pkix_failure_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .starttls(TlsSetup::with(|p| &p.wrong_name));
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    assert!(tls.enforces_verification());
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2);
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert!(report.verify_error.unwrap().contains(WRONG_NAME));
}

/// Credentials or a REQUIRETLS message (`confidential`): never a fallback, for a refusal
/// or for a failed handshake. Twin: `opportunistic_refused_with_fallback` and
/// `opportunistic_handshake_fails_with_fallback_reconnects`.
#[tokio::test]
async fn confidential_sessions_never_fall_back() {
    let tls = tls_config(TlsMode::Opportunistic)
        .fallback(true)
        .confidential(true);
    assert!(!tls.fallback_allowed());

    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available"),
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Refused(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );

    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1, "no reconnection: {logs:#?}");
}

// ---------------------------------------------------------------------------------------
// Skip and implicit TLS
// ---------------------------------------------------------------------------------------

/// Skip: no STARTTLS even when offered.
#[tokio::test]
async fn skip_never_sends_starttls() {
    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Skip)).await);
    assert_eq!(client.tls_report(), None);
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

/// Implicit TLS (RFC 8314): the handshake comes first, then the greeting and everything
/// else over TLS; no STARTTLS.
#[tokio::test]
async fn implicit_tls() {
    let script = Script::new()
        .tls(TlsSetup::good())
        .send("220 mx.test.example ESMTP")
        .ehlo(WITH_STARTTLS)
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Implicit)).await);
    let report = client.tls_report().cloned().unwrap();
    assert!(report.implicit);
    assert!(client.session().is_tls_verified());
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_one_conn(&logs, &[], &lines(&[EHLO], &TX));
    assert_verified_tls13(&report, &logs[0]);
}

/// Implicit TLS with each bad certificate (enforced): nothing is sent. Twin: `implicit_tls`.
#[tokio::test]
async fn implicit_tls_bad_certificates_rejected() {
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![Script::new().tls(TlsSetup::with(cert))]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::Implicit)).await);
        match &err {
            Error::Tls(TlsError::Verification(w)) => assert_eq!(w, why),
            other => panic!("{why}: {other:?}"),
        }
        assert!(err.is_transient());
        assert_one_conn(&server.finish().await, &[], &[]);
    }
}

/// Implicit TLS against a server that speaks plaintext (a port-25 server on 465): the
/// handshake fails; and against one that never answers, the deadline.
#[tokio::test]
async fn implicit_tls_handshake_failures() {
    let server = Server::start(vec![Script::greeting()]).await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::Implicit)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1);
    assert!(logs[0].plain.is_empty());

    let server = Server::start(vec![Script::new().stall()]).await;
    let err =
        expect_err(connect_with(&server, &tls_config(TlsMode::Implicit), impatient_config()).await);
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::TlsHandshake,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert!(logs[0].stalled_bytes > 0);
}

// ---------------------------------------------------------------------------------------
// Postfix levels
// ---------------------------------------------------------------------------------------

#[test]
fn levels_map_to_settings() {
    let table = [
        (Level::None, TlsMode::Skip, false, false),
        (Level::May, TlsMode::Opportunistic, false, true),
        (Level::Encrypt, TlsMode::RequiredStartTls, false, false),
        (Level::Verify, TlsMode::RequiredStartTls, true, false),
        (Level::Secure, TlsMode::RequiredStartTls, true, false),
    ];
    for (level, mode, enforced, fallback) in table {
        let tls = TlsConfig::from_level(level);
        assert_eq!(tls.mode(), mode, "{level:?}");
        assert_eq!(tls.fallback_allowed(), fallback, "{level:?}");
        // With no TLS at all, the verification setting means nothing ("-" in the table).
        if level != Level::None {
            let expected = if enforced {
                CertVerification::Pkix
            } else {
                CertVerification::None
            };
            assert_eq!(tls.verification(), expected, "{level:?}");
            assert_eq!(tls.enforces_verification(), enforced, "{level:?}");
        }
        // Credentials turn the fallback of "may" off.
        assert!(!tls.confidential(true).fallback_allowed(), "{level:?}");
    }
}

fn level(level: Level) -> TlsConfig {
    trust_test_ca(TlsConfig::from_level(level))
}

#[tokio::test]
async fn level_none_skips_starttls() {
    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &level(Level::None)).await);
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

#[tokio::test]
async fn level_may_falls_back_and_accepts_untrusted() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available")
            .transaction()
            .quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &level(Level::May)).await);
    assert!(client.tls_report().unwrap().fallback);
    deliver_and_quit(client).await;
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &TX),
        &[],
    );

    let server = Server::start(vec![starttls_server(TlsSetup::with(|p| &p.self_signed))]).await;
    let client = expect_ok(connect(&server, &level(Level::May)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    server.finish().await;
    assert!(!report.verified && !report.fallback);
    assert_eq!(report.verify_error.as_deref(), Some(UNTRUSTED));
}

#[tokio::test]
async fn level_encrypt_requires_tls_but_not_verification() {
    let server = Server::start(vec![starttls_server(TlsSetup::with(|p| &p.self_signed))]).await;
    let client = expect_ok(connect(&server, &level(Level::Encrypt)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    server.finish().await;
    assert!(!report.verified);
    assert_eq!(report.verify_error.as_deref(), Some(UNTRUSTED));

    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).reply("454 4.7.0 no"),
    ])
    .await;
    let err = expect_err(connect(&server, &level(Level::Encrypt)).await);
    assert!(matches!(err, Error::Tls(TlsError::Refused(_))), "{err:?}");
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

#[tokio::test]
async fn levels_verify_and_secure_require_a_valid_certificate() {
    for lvl in [Level::Verify, Level::Secure] {
        let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
        let client = expect_ok(connect(&server, &level(lvl)).await);
        let report = client.tls_report().cloned().unwrap();
        deliver_and_quit(client).await;
        let logs = server.finish().await;
        assert_verified_tls13(&report, &logs[0]);

        for (cert, why) in BAD_CERTS {
            let server = Server::start(vec![
                Script::greeting()
                    .ehlo(WITH_STARTTLS)
                    .starttls(TlsSetup::with(cert)),
            ])
            .await;
            let err = expect_err(connect(&server, &level(lvl)).await);
            assert!(
                matches!(&err, Error::Tls(TlsError::Verification(w)) if w == why),
                "{lvl:?}: {err:?}"
            );
            assert_one_conn(
                &server.finish().await,
                &lines(&[EHLO, "STARTTLS"], &[]),
                &[],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Versions, SNI, client certificates
// ---------------------------------------------------------------------------------------

/// A TLS 1.2-only server: TLS 1.2 is reported, with its cipher suite and no exporter.
#[tokio::test]
async fn tls12_server() {
    let setup = TlsSetup {
        tls12_only: true,
        ..TlsSetup::good()
    };
    let server = Server::start(vec![starttls_server(setup)]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let server_tls = logs[0].server_tls();
    assert_eq!(server_tls.version, "TLSv1_2");
    assert_eq!(report.version.as_deref(), Some("TLSv1.2"));
    assert_eq!(
        report.cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(report.cipher.as_deref(), Some(server_tls.cipher.as_str()));
    assert!(report.verified);
    assert_eq!(
        report.tls_exporter, None,
        "RFC 9266 tls-exporter is for TLS 1.3"
    );
}

/// `min_version(Tls13)` refuses a TLS 1.2-only server. Twin: the same setting against a
/// server with TLS 1.3.
#[tokio::test]
async fn min_version_tls13() {
    let tls = tls_config(TlsMode::RequiredStartTls).min_version(TlsVersion::Tls13);
    let setup = TlsSetup {
        tls12_only: true,
        ..TlsSetup::good()
    };
    let server = Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).starttls(setup)]).await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_one_conn(&logs, &lines(&[EHLO, "STARTTLS"], &[]), &[]);
    assert!(matches!(logs[0].handshake, Some(Err(_))));

    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls).await);
    assert_eq!(
        client.tls_report().unwrap().version.as_deref(),
        Some("TLSv1.3")
    );
    deliver_and_quit(client).await;
    server.finish().await;
}

/// SNI follows `server_name`, not the host dialled; without `server_name` it is the host
/// dialled, which is also the name verified.
#[tokio::test]
async fn sni_follows_the_name_to_verify() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::RequiredStartTls)).await);
    assert!(client.tls_report().unwrap().verified);
    deliver_and_quit(client).await;
    assert_eq!(server.finish().await[0].sni.as_deref(), Some(MX));

    // No server_name: dial "localhost"; the certificate (for MX) does not match it.
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let tls = TlsConfig::new(TlsMode::RequiredStartTls)
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        .with_verification(CertVerification::None);
    let client = expect_ok(tls::connect("localhost", server.port(), config(), &tls).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    assert_eq!(server.finish().await[0].sni.as_deref(), Some("localhost"));
    assert!(!report.verified);
    assert_eq!(report.verify_error.as_deref(), Some(WRONG_NAME));
}

/// A configured client certificate is presented; without one, none is.
#[tokio::test]
async fn client_certificate_presented_when_configured() {
    let setup = TlsSetup {
        client_auth: true,
        ..TlsSetup::good()
    };
    let tls = tls_config(TlsMode::RequiredStartTls)
        .client_auth_pem(
            PKI.client.cert_pem.as_bytes(),
            PKI.client.key_pem.as_bytes(),
        )
        .unwrap();
    let server = Server::start(vec![starttls_server(setup)]).await;
    deliver_and_quit(expect_ok(connect(&server, &tls).await)).await;
    let logs = server.finish().await;
    assert_eq!(logs[0].server_tls().client_certs, PKI.client.chain);

    let server = Server::start(vec![starttls_server(setup)]).await;
    deliver_and_quit(expect_ok(
        connect(&server, &tls_config(TlsMode::RequiredStartTls)).await,
    ))
    .await;
    let logs = server.finish().await;
    assert!(logs[0].server_tls().client_certs.is_empty());
}

/// Bad local settings are permanent, and found before anything is sent.
#[tokio::test]
async fn bad_configuration_is_permanent() {
    let err = TlsConfig::new(TlsMode::RequiredStartTls)
        .add_roots_pem(b"not pem")
        .unwrap_err();
    assert!(matches!(err, Error::Tls(TlsError::Config(_))), "{err:?}");
    assert!(err.is_permanent());

    let server = Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS)]).await;
    let tls = tls_config(TlsMode::RequiredStartTls).server_name("not a name!");
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Config(_))), "{err:?}");
    assert!(err.is_permanent());
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
}
