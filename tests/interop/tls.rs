//! TLS against the real servers: STARTTLS on Postfix 2525 (MX style, offered), Postfix 2587
//! (submission, required) and aiosmtpd 2526; implicit TLS on Postfix 2465 (RFC 8314);
//! the Postfix-style levels; smtp-sink 2527 as the server that offers no STARTTLS.
//!
//! The server certificate is issued by a fresh test CA (`SMTP_REAL_CA_FILE`) for
//! `mx.test.example`, `localhost`, 127.0.0.1 and ::1, so the platform roots never trust it
//! and `wrong.test.example` never matches it. Each refusal here has a positive twin that
//! differs in the one setting under test.
//!
//! Helpers shared with `auth.rs` and `send_tls.rs` are at the top.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use smtp_courier::connect::{Target, TcpConnector};
use smtp_courier::proto::{CommandKind, Direction};
use smtp_courier::tls::{CertVerification, Level, MaybeTls, TlsConfig, TlsMode, TlsReport};
use smtp_courier::{Client, Envelope, Error, RecipientStatus, TlsError, connect_tcp};
use tokio::net::TcpStream;

use crate::support::*;

// ---- Helpers (also used by auth.rs)

pub type TlsClient = Client<MaybeTls<TcpStream>>;

/// Both sides of the SMTP transcript, as the library reports it (credentials redacted).
pub type Lines = Arc<Mutex<Vec<(Direction, String)>>>;

/// The test CA, PEM.
pub fn ca_pem(env: &Env) -> Vec<u8> {
    std::fs::read(&env.ca_file).unwrap_or_else(|e| panic!("reading {}: {e}", env.ca_file.display()))
}

/// `mode`, PKIX enforced, trusting only the test CA, certificate name `mx.test.example`.
pub fn verified(env: &Env, mode: TlsMode) -> TlsConfig {
    TlsConfig::new(mode)
        .platform_roots(false)
        .add_roots_pem(&ca_pem(env))
        .expect("the test CA is valid PEM")
        .server_name(env.tls_server_name.clone())
}

/// `mode`, PKIX enforced, the platform's roots only: the test CA is not among them.
pub fn platform_only(env: &Env, mode: TlsMode) -> TlsConfig {
    TlsConfig::new(mode).server_name(env.tls_server_name.clone())
}

/// A session being set up, kept even when the set-up failed: the client (with what it
/// learned), its local port (to find it in the Postfix log) and its transcript.
pub struct Dialled {
    pub client: TlsClient,
    pub port: u16,
    pub lines: Lines,
    pub result: Result<(), Error>,
}

impl Dialled {
    /// The client, or a panic naming the error and the transcript.
    #[track_caller]
    pub fn ok(self) -> (TlsClient, u16, Lines) {
        if let Err(e) = &self.result {
            panic!(
                "TLS set-up failed: {e} ({e:?})\ntranscript: {:#?}",
                self.lines.lock().unwrap()
            );
        }
        (self.client, self.port, self.lines)
    }

    /// The error, or a panic if the set-up succeeded.
    #[track_caller]
    pub fn err(self) -> (Error, TlsClient, u16, Lines) {
        match self.result {
            Ok(()) => panic!(
                "TLS set-up succeeded but should have failed; report {:?}\ntranscript: {:#?}",
                self.client.tls_report(),
                self.lines.lock().unwrap()
            ),
            Err(e) => (e, self.client, self.port, self.lines),
        }
    }
}

/// Connects to `env.host:port` and runs [`Client::establish`] with `tls`, recording the
/// transcript. Never panics on a TLS or SMTP failure: see [`Dialled::result`].
pub async fn dial(env: &Env, port: u16, tls: &TlsConfig) -> Dialled {
    let lines = Lines::default();
    let l = lines.clone();
    let cfg = config().transcript(move |dir, line| l.lock().unwrap().push((dir, line.to_owned())));
    let tcp = connect_tcp((env.host.as_str(), port), Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("TCP connect to {}:{port}: {e}", env.host));
    let local = tcp.local_addr().expect("local address").port();
    let mut client = Client::new(MaybeTls::Plain(tcp), cfg);
    let target = Target::new(&env.host, port)
        .expect("a valid host")
        .connect_timeout(Duration::from_secs(10));
    let result = client.establish(&TcpConnector::new(), &target, tls).await;
    Dialled {
        client,
        port: local,
        lines,
        result,
    }
}

/// The lines the client sent (commands; AUTH payloads are `<redacted>`).
pub fn client_lines(lines: &Lines) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| *d == Direction::Client)
        .map(|(_, l)| l.clone())
        .collect()
}

/// The lines the server sent.
pub fn server_lines_of(lines: &Lines) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(d, _)| *d == Direction::Server)
        .map(|(_, l)| l.clone())
        .collect()
}

/// The client's local port (to find its session in the Postfix log).
pub fn local_port(client: &TlsClient) -> u16 {
    let addr = match client.get_ref() {
        MaybeTls::Plain(s) => s.local_addr(),
        MaybeTls::Tls(t) => t.get_ref().0.local_addr(),
        _ => panic!("the client's stream is gone"),
    };
    addr.expect("local address").port()
}

/// Sends one message to `rcpt` carrying `token` and asserts it was delivered.
pub async fn deliver(client: &mut TlsClient, token: &str, rcpt: &str) {
    let msg = message(token, rcpt, b"over TLS\r\n");
    let envelope = Envelope::new("sender@test.example", [rcpt]).unwrap();
    let report = client
        .send_bytes(&envelope, &msg)
        .await
        .unwrap_or_else(|e| panic!("send refused before the transaction: {e}"));
    assert_delivered(&report);
}

/// Asserts what a successful, PKIX-verified TLS 1.3 session reports.
#[track_caller]
pub fn assert_verified_tls13(report: &TlsReport, implicit: bool) {
    assert_eq!(report.version.as_deref(), Some("TLSv1.3"), "{report:?}");
    let cipher = report.cipher.as_deref().unwrap_or("");
    assert!(
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]
        .contains(&cipher),
        "cipher {cipher:?}"
    );
    assert!(report.verified, "{report:?}");
    assert_eq!(report.verify_error, None);
    assert!(!report.fallback);
    assert_eq!(report.implicit, implicit);
    assert_eq!(
        report.tls_exporter.as_ref().map(Vec::len),
        Some(32),
        "RFC 9266 exporter"
    );
}

/// The server's end-entity certificate, DER, from start.sh's `tls/server.crt`.
fn server_cert(env: &Env) -> CertificateDer<'static> {
    let path = env.state_dir.join("tls/server.crt");
    CertificateDer::from_pem_file(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e:?}", path.display()))
}

/// Postfix's `TLS connection established from unknown[HOST]:PORT: ...` line for the
/// session from client port `port` (call after its disconnect was logged).
fn postfix_tls_line(env: &Env, port: u16) -> String {
    postfix_session_log(env, &env.host, port)
        .into_iter()
        .find(|l| l.contains("TLS connection established from"))
        .unwrap_or_else(|| {
            panic!(
                "no TLS line for port {port} in {}",
                env.postfix_log.display()
            )
        })
}

#[track_caller]
fn assert_verification_refused(e: &Error, why: &str) {
    match e {
        Error::Tls(TlsError::Verification(w)) => assert!(w.contains(why), "{w:?}"),
        other => panic!("expected TlsError::Verification({why:?}), got {other:?}"),
    }
    assert!(e.is_transient(), "{e:?}");
    assert!(!e.connection_usable(), "{e:?}");
}

// ---- Postfix 2525: STARTTLS offered

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn postfix_starttls_verified() {
    let env = Env::get();
    let t = token("tls-pf-verified");
    let rcpt = env.ok_rcpt("tls-verified");
    let tls = verified(&env, TlsMode::RequiredStartTls);
    let mut client = Client::connect((env.host.as_str(), env.postfix_port), config().tls(tls))
        .await
        .unwrap_or_else(|e| panic!("STARTTLS to 2525 failed: {e:?}"));
    assert!(client.get_ref().is_tls());
    let report = client.tls_report().expect("a TLS report").clone();
    assert_verified_tls13(&report, false);
    assert_eq!(
        report.peer_certificates.first(),
        Some(&server_cert(&env)),
        "the end-entity certificate is start.sh's server.crt"
    );
    // RFC 3207 §4.2: the capabilities are those of the EHLO sent over TLS.
    let caps = client.capabilities().expect("EHLO after TLS");
    assert!(!caps.starttls(), "STARTTLS offered again over TLS");
    assert!(caps.pipelining() && caps.smtputf8());
    let port = local_port(&client);
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();

    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(
        stats,
        "ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
    );
    // Postfix saw the same protocol and cipher.
    let cipher = report.cipher.clone().unwrap();
    let line = postfix_tls_line(&env, port);
    assert!(
        line.contains(&format!(": TLSv1.3 with cipher {cipher} ")),
        "{line}"
    );
    let (added, _) = postfix_stored(&env, &t).await;
    assert!(added.contains("with ESMTPS id "), "{added}");
    assert!(
        added.contains(&format!("(using TLSv1.3 with cipher {cipher} ")),
        "{added}"
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn postfix_starttls_platform_roots_refused() {
    let env = Env::get();
    let t = token("tls-pf-untrusted");
    let rcpt = env.ok_rcpt("tls-untrusted");
    let d = dial(
        &env,
        env.postfix_port,
        &platform_only(&env, TlsMode::RequiredStartTls),
    )
    .await;
    let (e, mut client, port, lines) = d.err();
    assert_verification_refused(&e, "not issued by a trusted authority");
    assert_eq!(e.command(), Some(CommandKind::StartTls));
    assert!(!client.is_usable());
    // The session is poisoned: even a caller ignoring the error sends nothing more.
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    assert!(
        client
            .send_bytes(&envelope, &message(&t, &rcpt, b"x\r\n"))
            .await
            .is_err()
    );
    assert_eq!(
        client_lines(&lines),
        ["EHLO client.test.example", "STARTTLS"],
        "nothing may follow STARTTLS"
    );
    drop(client);
    // Postfix's view: the handshake failed and no command followed STARTTLS.
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 starttls=0/1 commands=1/2");
    assert_eq!(postfix_count_now(&env, &t), 0);

    // Positive twin: the same, trusting the test CA.
    let (mut client, _, _) = dial(
        &env,
        env.postfix_port,
        &verified(&env, TlsMode::RequiredStartTls),
    )
    .await
    .ok();
    assert!(client.tls_report().unwrap().verified);
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();
    postfix_one(&env, &t).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn postfix_starttls_wrong_name_refused() {
    let env = Env::get();
    let wrong = verified(&env, TlsMode::RequiredStartTls).server_name("wrong.test.example");
    let (e, client, _, lines) = dial(&env, env.postfix_port, &wrong).await.err();
    assert_verification_refused(&e, "not valid for the server name");
    assert!(!client.is_usable());
    assert_eq!(client_lines(&lines).last().unwrap(), "STARTTLS");

    // Positive twins: the other names in the certificate, and the IP address dialled.
    for name in ["localhost", "127.0.0.1"] {
        let tls = verified(&env, TlsMode::RequiredStartTls).server_name(name);
        let (client, _, _) = dial(&env, env.postfix_port, &tls).await.ok();
        assert!(client.tls_report().unwrap().verified, "{name}");
        client.quit().await.unwrap();
    }
    // Without server_name the host dialled (127.0.0.1, an IP SAN) is verified.
    let tls = TlsConfig::new(TlsMode::RequiredStartTls)
        .platform_roots(false)
        .add_roots_pem(&ca_pem(&env))
        .unwrap();
    let (client, _, _) = dial(&env, env.postfix_port, &tls).await.ok();
    assert!(client.tls_report().unwrap().verified);
    client.quit().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn postfix_starttls_unverified_allowed() {
    let env = Env::get();
    // The refused configuration (platform roots only), made to go on in two ways.
    for (label, tls) in [
        (
            "verification-none",
            platform_only(&env, TlsMode::RequiredStartTls)
                .with_verification(CertVerification::None),
        ),
        (
            "ignore-errors",
            platform_only(&env, TlsMode::RequiredStartTls).ignore_verification_errors(true),
        ),
    ] {
        let t = token(&format!("tls-pf-{label}"));
        let rcpt = env.ok_rcpt("tls-unverified");
        assert!(!tls.enforces_verification(), "{label}");
        let (mut client, port, _) = dial(&env, env.postfix_port, &tls).await.ok();
        let report = client.tls_report().unwrap().clone();
        assert_eq!(report.version.as_deref(), Some("TLSv1.3"), "{label}");
        assert!(report.cipher.is_some(), "{label}");
        assert!(!report.verified, "{label}: {report:?}");
        // The phrase, then who issued the certificate to whom.
        let why = report.verify_error.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("certificate not issued by a trusted authority: issuer \""),
            "{label}: {why}"
        );
        assert!(!report.fallback, "{label}");
        assert!(!client.session().is_tls_verified(), "{label}");
        deliver(&mut client, &t, &rcpt).await;
        client.quit().await.unwrap();
        let stats = postfix_disconnect_stats(&env, &env.host, port).await;
        assert!(stats.starts_with("ehlo=2 starttls=1 mail=1"), "{stats}");
        let (added, _) = postfix_stored(&env, &t).await;
        assert!(added.contains("with ESMTPS id "), "{label}: {added}");
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn postfix_levels() {
    let env = Env::get();
    let name = env.tls_server_name.clone();
    let with_ca = |level| {
        TlsConfig::from_level(level)
            .platform_roots(false)
            .add_roots_pem(&ca_pem(&env))
            .unwrap()
            .server_name(name.clone())
    };
    let platform = |level| TlsConfig::from_level(level).server_name(name.clone());

    // (label, settings, Some(verified) for TLS, None for plaintext)
    let cases = [
        ("none", platform(Level::None), None),
        ("may", platform(Level::May), Some(false)),
        ("may-ca", with_ca(Level::May), Some(true)),
        ("encrypt", platform(Level::Encrypt), Some(false)),
        ("verify-ca", with_ca(Level::Verify), Some(true)),
        ("secure-ca", with_ca(Level::Secure), Some(true)),
    ];
    for (label, tls, want) in cases {
        let t = token(&format!("tls-level-{label}"));
        let rcpt = env.ok_rcpt("tls-level");
        let (mut client, _, lines) = dial(&env, env.postfix_port, &tls).await.ok();
        match want {
            None => {
                assert!(client.tls_report().is_none(), "{label}");
                assert!(!client.get_ref().is_tls(), "{label}");
                assert!(
                    !client_lines(&lines).iter().any(|l| l == "STARTTLS"),
                    "{label}"
                );
            }
            Some(v) => {
                let report = client.tls_report().expect(label);
                assert_eq!(report.version.as_deref(), Some("TLSv1.3"), "{label}");
                assert_eq!(report.verified, v, "{label}: {report:?}");
                assert_eq!(report.verify_error.is_some(), !v, "{label}: {report:?}");
                assert!(!report.fallback, "{label}");
            }
        }
        deliver(&mut client, &t, &rcpt).await;
        client.quit().await.unwrap();
        let (added, _) = postfix_stored(&env, &t).await;
        let proto = if want.is_some() {
            "with ESMTPS id "
        } else {
            "with ESMTP id "
        };
        assert!(added.contains(proto), "{label}: {added}");
    }

    // verify and secure without the CA: refused, nothing after STARTTLS.
    for (label, level) in [("verify", Level::Verify), ("secure", Level::Secure)] {
        let (e, _, _, lines) = dial(&env, env.postfix_port, &platform(level)).await.err();
        assert_verification_refused(&e, "not issued by a trusted authority");
        assert_eq!(
            client_lines(&lines),
            ["EHLO client.test.example", "STARTTLS"],
            "{label}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn sink_without_starttls_levels() {
    // smtp-sink offers no STARTTLS: `may` goes on in plaintext, `encrypt` refuses to.
    let env = Env::get();
    let name = env.tls_server_name.clone();
    let may = TlsConfig::from_level(Level::May).server_name(name.clone());
    let (mut client, _, lines) = dial(&env, env.sink_port, &may).await.ok();
    assert!(!client.capabilities().unwrap().starttls());
    assert!(client.tls_report().is_none(), "no STARTTLS was attempted");
    deliver(&mut client, &token("tls-sink-may"), "sink@test.example").await;
    client.quit().await.unwrap();
    assert!(!client_lines(&lines).iter().any(|l| l == "STARTTLS"));

    for level in [Level::Encrypt, Level::Verify] {
        let tls = TlsConfig::from_level(level).server_name(name.clone());
        let (e, mut client, _, lines) = dial(&env, env.sink_port, &tls).await.err();
        assert!(
            matches!(e, Error::Tls(TlsError::NotOffered)),
            "{level:?}: {e:?}"
        );
        assert!(e.is_transient());
        let envelope = Envelope::new("sender@test.example", ["sink@test.example"]).unwrap();
        assert!(client.send_bytes(&envelope, b"x\r\n").await.is_err());
        assert_eq!(
            client_lines(&lines),
            ["EHLO client.test.example"],
            "{level:?}: nothing in the clear"
        );
    }
}

// ---- Postfix 2465: implicit TLS (RFC 8314)

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_implicit_tls_verified() {
    let env = Env::get();
    let t = token("tls-465");
    let rcpt = env.ok_rcpt("tls-465");
    let tls = verified(&env, TlsMode::Implicit);
    let (mut client, port, lines) = dial(&env, env.submissions_port, &tls).await.ok();
    assert_verified_tls13(client.tls_report().unwrap(), true);
    assert_eq!(
        client.greeting().map(|g| g.code().as_u16()),
        Some(220),
        "greeting read over TLS"
    );
    let caps = client.capabilities().unwrap();
    assert!(!caps.starttls());
    assert!(!caps.auth_mechanisms().is_empty(), "{caps:?}");
    // Unauthenticated MAIL: 530 from the submission policy, permanent, usable.
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &rcpt, b"x\r\n"))
        .await
        .unwrap();
    let err = report.error.as_ref().expect("MAIL refused");
    assert_eq!(err.command(), Some(CommandKind::Mail), "{err:?}");
    assert_eq!(err.code().map(|c| c.as_u16()), Some(530), "{err:?}");
    assert!(err.is_permanent() && err.connection_usable(), "{err:?}");
    assert_eq!(rcpt_status(&report), [RecipientStatus::Permanent]);
    // Twin on the same connection: authenticated, delivered.
    let creds = smtp_courier::auth::Credentials::new(env.user.clone(), env.password.clone());
    client
        .authenticate(&creds, &smtp_courier::auth::AuthOptions::new())
        .await
        .unwrap();
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();
    assert_eq!(client_lines(&lines)[0], "EHLO client.test.example");
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    // Postfix counts in a fixed order: the refused first MAIL (with the RCPT and DATA
    // pipelined behind it), the RSET before the second transaction, one AUTH.
    assert_eq!(
        stats,
        "ehlo=1 auth=1 mail=1/2 rcpt=1/2 data=1/2 rset=1 quit=1 commands=7/10"
    );
    let (added, _) = postfix_stored(&env, &t).await;
    assert!(added.contains("with ESMTPSA id "), "{added}");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_implicit_tls_refused() {
    let env = Env::get();
    let cases = [
        (
            "wrong name",
            verified(&env, TlsMode::Implicit).server_name("wrong.test.example"),
            "not valid for the server name",
        ),
        (
            "platform roots",
            platform_only(&env, TlsMode::Implicit),
            "not issued by a trusted authority",
        ),
    ];
    for (label, tls, why) in cases {
        let (e, client, port, lines) = dial(&env, env.submissions_port, &tls).await.err();
        assert_verification_refused(&e, why);
        assert!(client.greeting().is_none(), "{label}");
        assert!(
            lines.lock().unwrap().is_empty(),
            "{label}: nothing before the handshake"
        );
        drop(client);
        let stats = postfix_disconnect_stats(&env, &env.host, port).await;
        assert_eq!(stats, "commands=0/0", "{label}");
    }
    // Positive twins: the right name, another name of the certificate, the IP dialled.
    for name in ["mx.test.example", "localhost", "127.0.0.1"] {
        let tls = verified(&env, TlsMode::Implicit).server_name(name);
        let (client, _, _) = dial(&env, env.submissions_port, &tls).await.ok();
        assert!(client.tls_report().unwrap().verified, "{name}");
        client.quit().await.unwrap();
    }
}

// ---- Postfix 2587: STARTTLS required by the server

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_530_before_starttls() {
    let env = Env::get();
    let t = token("tls-587-plain");
    let rcpt = env.ok_rcpt("tls-587");
    let (mut client, _, lines) = dial(&env, env.submission_port, &TlsConfig::new(TlsMode::Skip))
        .await
        .ok();
    let caps = client.capabilities().unwrap();
    assert!(caps.starttls());
    // smtpd_tls_auth_only: no AUTH in the clear.
    assert!(caps.auth_mechanisms().is_empty(), "{caps:?}");
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &rcpt, b"x\r\n"))
        .await
        .unwrap();
    let err = report.error.as_ref().expect("MAIL refused");
    assert_eq!(err.command(), Some(CommandKind::Mail), "{err:?}");
    let reply = err.reply().expect("a reply");
    assert_eq!(reply.code().as_u16(), 530, "{err:?}");
    assert_eq!(
        reply.enhanced_code().map(|c| c.to_string()).as_deref(),
        Some("5.7.0")
    );
    assert!(reply.message().contains("STARTTLS"), "{}", reply.message());
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(rcpt_status(&report), [RecipientStatus::Permanent]);
    client.quit().await.unwrap();
    // With PIPELINING, RCPT and DATA went out with MAIL; no message content did.
    let sent = client_lines(&lines);
    assert!(sent.iter().any(|l| l.starts_with("MAIL FROM:")), "{sent:?}");
    assert!(!sent.iter().any(|l| l == "<message data>"), "{sent:?}");
    assert_eq!(postfix_count_now(&env, &t), 0);

    // Twin: STARTTLS (verified), AUTH, delivered.
    let (mut client, _, _) = dial(
        &env,
        env.submission_port,
        &verified(&env, TlsMode::RequiredStartTls),
    )
    .await
    .ok();
    assert!(!client.capabilities().unwrap().auth_mechanisms().is_empty());
    let creds = smtp_courier::auth::Credentials::new(env.user.clone(), env.password.clone());
    client
        .authenticate(&creds, &smtp_courier::auth::AuthOptions::new())
        .await
        .unwrap();
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();
    postfix_one(&env, &t).await;
}

// ---- aiosmtpd 2526

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_starttls() {
    let env = Env::get();
    let t = token("tls-aio");
    let t_refused = token("tls-aio-refused");
    let rcpt = "tls@test.example";

    let d = dial(
        &env,
        env.aiosmtpd_port,
        &platform_only(&env, TlsMode::RequiredStartTls),
    )
    .await;
    let (e, mut client, _, lines) = d.err();
    assert_verification_refused(&e, "not issued by a trusted authority");
    let envelope = Envelope::new("sender@test.example", [rcpt]).unwrap();
    let refused = message(&t_refused, rcpt, b"x\r\n");
    assert!(client.send_bytes(&envelope, &refused).await.is_err());
    assert_eq!(
        client_lines(&lines),
        ["EHLO client.test.example", "STARTTLS"]
    );
    drop(client);

    let (mut client, _, lines) = dial(
        &env,
        env.aiosmtpd_port,
        &verified(&env, TlsMode::RequiredStartTls),
    )
    .await
    .ok();
    let report = client.tls_report().unwrap().clone();
    assert_verified_tls13(&report, false);
    assert!(!client.capabilities().unwrap().starttls());
    deliver(&mut client, &t, rcpt).await;
    client.quit().await.unwrap();
    let ehlos = client_lines(&lines)
        .iter()
        .filter(|l| l.starts_with("EHLO "))
        .count();
    assert_eq!(ehlos, 2, "EHLO again after STARTTLS (RFC 3207 §4.2)");
    let (_, meta) = aiosmtpd_one(&env, &t).await;
    assert_eq!(meta["tls"], true, "{meta}");
    assert_eq!(aiosmtpd_count_now(&env, &t_refused), 0);
}
