//! AUTH (RFC 4954) against the real servers: Postfix 2587 (STARTTLS) and 2465 (implicit
//! TLS) with Dovecot SASL (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256), and
//! aiosmtpd 2526 (PLAIN, LOGIN; AUTH also allowed before STARTTLS in this harness).
//!
//! Which mechanism the server accepted is read from the server's own record: Postfix logs
//! `sasl_method=NAME, sasl_username=USER` for the session's queued message; aiosmtpd
//! stores the authenticated login with the message. Every password-revealing refusal has a
//! twin where the same exchange succeeds.

use smtp_courier::Error;
use smtp_courier::auth::{AuthError, AuthOptions, Credentials, Mechanism};
use smtp_courier::proto::CommandKind;
use smtp_courier::tls::{Level, TlsConfig, TlsMode};

use crate::support::*;
use crate::tls::{Lines, TlsClient, client_lines, deliver, dial, server_lines_of, verified};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    /// Postfix 2587: STARTTLS, then AUTH.
    Submission,
    /// Postfix 2465: implicit TLS, then AUTH.
    Submissions,
    /// aiosmtpd 2526: STARTTLS, then AUTH PLAIN/LOGIN.
    Aiosmtpd,
}

impl Server {
    fn port(self, env: &Env) -> u16 {
        match self {
            Self::Submission => env.submission_port,
            Self::Submissions => env.submissions_port,
            Self::Aiosmtpd => env.aiosmtpd_port,
        }
    }

    fn mode(self) -> TlsMode {
        match self {
            Self::Submissions => TlsMode::Implicit,
            Self::Submission | Self::Aiosmtpd => TlsMode::RequiredStartTls,
        }
    }

    fn offered(self) -> &'static [&'static str] {
        match self {
            Self::Submission | Self::Submissions => {
                &["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
            }
            Self::Aiosmtpd => &["PLAIN", "LOGIN"],
        }
    }

    fn is_postfix(self) -> bool {
        self != Self::Aiosmtpd
    }
}

fn creds(env: &Env) -> Credentials {
    Credentials::new(env.user.clone(), env.password.clone())
}

fn only(m: Mechanism) -> AuthOptions {
    AuthOptions::new().mechanisms([m])
}

/// Verified TLS to `server`, with the offered mechanisms checked.
async fn tls_session(env: &Env, server: Server) -> (TlsClient, u16, Lines) {
    let (client, port, lines) = dial(env, server.port(env), &verified(env, server.mode()))
        .await
        .ok();
    assert!(client.tls_report().unwrap().verified);
    let mut offered: Vec<String> = client
        .capabilities()
        .unwrap()
        .auth_mechanisms()
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    offered.sort();
    let mut want: Vec<String> = server.offered().iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(offered, want, "{server:?} offers over TLS");
    (client, port, lines)
}

/// No transcript line carries the password, in clear or in the base64 of PLAIN/LOGIN.
#[track_caller]
fn assert_no_secret(env: &Env, lines: &Lines) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = b64.encode(format!("\0{}\0{}", env.user, env.password));
    let login = b64.encode(&env.password);
    for (_, l) in lines.lock().unwrap().iter() {
        assert!(
            !l.contains(&env.password) && !l.contains(&plain) && !l.contains(&login),
            "secret in transcript line {l:?}"
        );
    }
}

/// The `sasl_method=` Postfix logged for the session from client port `port`.
async fn postfix_sasl_method(env: &Env, port: u16) -> String {
    postfix_disconnect_stats(env, &env.host, port).await;
    let log = postfix_session_log(env, &env.host, port);
    let line = log
        .iter()
        .find(|l| l.contains("sasl_method="))
        .unwrap_or_else(|| panic!("no sasl_method for port {port}: {log:#?}"));
    assert!(
        line.contains(&format!("sasl_username={}", env.user)),
        "{line}"
    );
    let rest = &line[line.find("sasl_method=").unwrap() + "sasl_method=".len()..];
    rest.split(',').next().unwrap().trim().to_owned()
}

/// Authenticates to `server` over verified TLS with `options` (expecting `expected`),
/// delivers a message, and checks with the server that it was authenticated that way.
/// Returns the mechanism the server recorded.
async fn auth_and_deliver(server: Server, options: AuthOptions, expected: Mechanism) -> String {
    let env = Env::get();
    let label = format!("auth-{server:?}-{}", expected.name()).to_ascii_lowercase();
    let t = token(&label);
    let rcpt = env.ok_rcpt("auth");
    let (mut client, port, lines) = tls_session(&env, server).await;
    let used = client
        .authenticate(&creds(&env), &options)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:?}\ntranscript: {:#?}", lines.lock().unwrap()));
    assert_eq!(used, expected, "{label}");
    assert!(client.session().is_authenticated());
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();

    let sent = client_lines(&lines);
    let auths: Vec<&String> = sent.iter().filter(|l| l.starts_with("AUTH ")).collect();
    assert_eq!(auths.len(), 1, "{sent:?}");
    assert!(
        auths[0].starts_with(&format!("AUTH {}", expected.name())),
        "{sent:?}"
    );
    assert_no_secret(&env, &lines);
    // The server's side of the exchange: from the AUTH line to its verdict.
    let heard = server_lines_of(&lines);
    let i = heard
        .iter()
        .position(|l| l.starts_with("235"))
        .unwrap_or_else(|| panic!("no 235: {heard:?}"));
    let challenges = heard[..i]
        .iter()
        .rev()
        .take_while(|l| l.starts_with("334"))
        .count();
    let want_challenges = match (expected, server.is_postfix()) {
        // Dovecot sends the SCRAM server-final message as a 334, then 235.
        (Mechanism::ScramSha1 | Mechanism::ScramSha256, true) => 2,
        (Mechanism::ScramSha1 | Mechanism::ScramSha256, false) => unreachable!(),
        (Mechanism::CramMd5, _) => 1,
        // LOGIN: "Username:" and "Password:".
        (Mechanism::Login, _) => 2,
        // PLAIN with an initial response: no challenge.
        (Mechanism::Plain, _) => 0,
        (other, _) => panic!("not tested here: {other:?}"),
    };
    assert_eq!(challenges, want_challenges, "{label}: {heard:?}");

    if server.is_postfix() {
        let method = postfix_sasl_method(&env, port).await;
        assert_eq!(method, expected.name(), "{label}");
        let (added, _) = postfix_stored(&env, &t).await;
        assert!(added.contains("with ESMTPSA id "), "{label}: {added}");
        eprintln!("{label}: Postfix accepted sasl_method={method}");
        method
    } else {
        let (_, meta) = aiosmtpd_one(&env, &t).await;
        assert_eq!(meta["authenticated"], true, "{meta}");
        assert_eq!(meta["auth_login"], env.user.as_str(), "{meta}");
        assert_eq!(meta["tls"], true, "{meta}");
        let m = auths[0]
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        eprintln!("{label}: aiosmtpd accepted AUTH {m}");
        m
    }
}

// ---- Postfix 2587 (STARTTLS) + Dovecot

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_plain() {
    auth_and_deliver(Server::Submission, only(Mechanism::Plain), Mechanism::Plain).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_login() {
    auth_and_deliver(Server::Submission, only(Mechanism::Login), Mechanism::Login).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_cram_md5() {
    auth_and_deliver(
        Server::Submission,
        only(Mechanism::CramMd5),
        Mechanism::CramMd5,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_scram_sha1() {
    auth_and_deliver(
        Server::Submission,
        only(Mechanism::ScramSha1),
        Mechanism::ScramSha1,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_scram_sha256() {
    auth_and_deliver(
        Server::Submission,
        only(Mechanism::ScramSha256),
        Mechanism::ScramSha256,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_default_choice() {
    auth_and_deliver(
        Server::Submission,
        AuthOptions::new(),
        Mechanism::ScramSha256,
    )
    .await;
}

// ---- Postfix 2465 (implicit TLS) + Dovecot

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_plain() {
    auth_and_deliver(
        Server::Submissions,
        only(Mechanism::Plain),
        Mechanism::Plain,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_login() {
    auth_and_deliver(
        Server::Submissions,
        only(Mechanism::Login),
        Mechanism::Login,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_cram_md5() {
    auth_and_deliver(
        Server::Submissions,
        only(Mechanism::CramMd5),
        Mechanism::CramMd5,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_scram_sha1() {
    auth_and_deliver(
        Server::Submissions,
        only(Mechanism::ScramSha1),
        Mechanism::ScramSha1,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_scram_sha256() {
    auth_and_deliver(
        Server::Submissions,
        only(Mechanism::ScramSha256),
        Mechanism::ScramSha256,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submissions_default_choice() {
    auth_and_deliver(
        Server::Submissions,
        AuthOptions::new(),
        Mechanism::ScramSha256,
    )
    .await;
}

// ---- aiosmtpd 2526

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_plain() {
    auth_and_deliver(Server::Aiosmtpd, only(Mechanism::Plain), Mechanism::Plain).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_login() {
    auth_and_deliver(Server::Aiosmtpd, only(Mechanism::Login), Mechanism::Login).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_default_choice() {
    // Only PLAIN and LOGIN are offered; PLAIN comes first in the default order.
    auth_and_deliver(Server::Aiosmtpd, AuthOptions::new(), Mechanism::Plain).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_cleartext_refused_then_allowed() {
    let env = Env::get();
    let t = token("auth-aio-cleartext");
    let rcpt = "cleartext@test.example";
    let (mut client, _, lines) = dial(&env, env.aiosmtpd_port, &TlsConfig::new(TlsMode::Skip))
        .await
        .ok();
    assert!(client.tls_report().is_none());
    // aiosmtpd here offers AUTH before STARTTLS.
    let offered = client.capabilities().unwrap().auth_mechanisms().to_vec();
    assert!(!offered.is_empty(), "{offered:?}");

    for options in [AuthOptions::new(), only(Mechanism::Login)] {
        let e = client
            .authenticate(&creds(&env), &options)
            .await
            .expect_err("cleartext AUTH without TLS");
        assert!(
            matches!(
                e,
                Error::Auth(AuthError::CleartextRefused { tls: false, .. })
            ),
            "{e:?}"
        );
        assert!(e.is_permanent() && e.connection_usable(), "{e:?}");
    }
    assert!(
        !client_lines(&lines).iter().any(|l| l.starts_with("AUTH")),
        "no AUTH may be sent: {:?}",
        client_lines(&lines)
    );
    // No unauthenticated mail after a failed AUTH either.
    let envelope = smtp_courier::Envelope::new("sender@test.example", [rcpt]).unwrap();
    let refused = client
        .send_bytes(&envelope, &message(&t, rcpt, b"x\r\n"))
        .await;
    assert!(matches!(refused, Err(Error::Auth(_))), "{refused:?}");
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("MAIL")));

    // Twin: the same connection and credentials, cleartext explicitly allowed.
    let used = client
        .authenticate(&creds(&env), &AuthOptions::new().allow_cleartext(true))
        .await
        .unwrap();
    assert_eq!(used, Mechanism::Plain);
    deliver(&mut client, &t, rcpt).await;
    client.quit().await.unwrap();
    assert_no_secret(&env, &lines);
    let (_, meta) = aiosmtpd_one(&env, &t).await;
    assert_eq!(meta["authenticated"], true, "{meta}");
    assert_eq!(meta["auth_login"], env.user.as_str(), "{meta}");
    assert_eq!(meta["tls"], false, "{meta}");
    eprintln!("aiosmtpd accepted AUTH PLAIN without TLS (allow_cleartext)");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn unverified_tls_refuses_cleartext_mechanisms() {
    // Level encrypt: TLS without PKIX (platform roots do not know the test CA). PLAIN and
    // LOGIN are refused without allow_cleartext; SCRAM and CRAM-MD5 without
    // allow_unverified_challenge_response (a man in the middle could crack them offline).
    let env = Env::get();
    let encrypt = TlsConfig::from_level(Level::Encrypt).server_name(env.tls_server_name.clone());

    // aiosmtpd offers only PLAIN and LOGIN.
    let (mut client, _, lines) = dial(&env, env.aiosmtpd_port, &encrypt).await.ok();
    assert!(!client.tls_report().unwrap().verified);
    let e = client
        .authenticate(&creds(&env), &AuthOptions::new())
        .await
        .expect_err("PLAIN over unverified TLS");
    assert!(
        matches!(
            e,
            Error::Auth(AuthError::CleartextRefused {
                mechanism: Mechanism::Plain,
                tls: true
            })
        ),
        "{e:?}"
    );
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("AUTH")));
    let used = client
        .authenticate(&creds(&env), &AuthOptions::new().allow_cleartext(true))
        .await
        .unwrap();
    assert_eq!(used, Mechanism::Plain);
    client.quit().await.unwrap();

    // Postfix: the default (SCRAM-SHA-256) is refused over unverified TLS and nothing is
    // sent, then allowed explicitly; PLAIN alone is refused, then allowed explicitly.
    let (client, _, lines) = dial(&env, env.submission_port, &encrypt).await.ok();
    let mut client = client;
    let e = client
        .authenticate(&creds(&env), &AuthOptions::new())
        .await
        .expect_err("SCRAM over unverified TLS");
    assert!(
        matches!(
            e,
            Error::Auth(AuthError::UnverifiedTlsRefused {
                mechanism: Mechanism::ScramSha256,
                tls: true
            })
        ),
        "{e:?}"
    );
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("AUTH")));
    assert_eq!(
        client
            .authenticate(
                &creds(&env),
                &AuthOptions::new().allow_unverified_challenge_response(true)
            )
            .await
            .unwrap(),
        Mechanism::ScramSha256
    );
    client.quit().await.unwrap();
    let (mut client, port, lines) = dial(&env, env.submission_port, &encrypt).await.ok();
    let e = client
        .authenticate(&creds(&env), &only(Mechanism::Plain))
        .await
        .expect_err("PLAIN over unverified TLS");
    assert!(
        matches!(
            e,
            Error::Auth(AuthError::CleartextRefused { tls: true, .. })
        ),
        "{e:?}"
    );
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("AUTH")));
    let used = client
        .authenticate(&creds(&env), &only(Mechanism::Plain).allow_cleartext(true))
        .await
        .unwrap();
    assert_eq!(used, Mechanism::Plain);
    let t = token("auth-unverified-plain");
    deliver(&mut client, &t, &env.ok_rcpt("auth-unverified")).await;
    client.quit().await.unwrap();
    assert_eq!(postfix_sasl_method(&env, port).await, "PLAIN");
    postfix_one(&env, &t).await;
}

/// A wrong password (535), then the right one on the same connection, then a message.
async fn wrong_then_right(server: Server, mechanism: Mechanism) {
    let env = Env::get();
    let t = token(&format!("auth-535-{server:?}").to_ascii_lowercase());
    let rcpt = env.ok_rcpt("auth-535");
    let (mut client, port, lines) = tls_session(&env, server).await;
    let wrong = Credentials::new(env.user.clone(), "not-the-password");
    let e = client
        .authenticate(&wrong, &only(mechanism))
        .await
        .expect_err("wrong password");
    assert_eq!(e.command(), Some(CommandKind::Auth), "{e:?}");
    assert!(
        matches!(e, Error::Auth(AuthError::Refused(_))),
        "an authentication failure: {e:?}"
    );
    let reply = e.reply().unwrap_or_else(|| panic!("no reply: {e:?}"));
    assert_eq!(reply.code().as_u16(), 535, "{e:?}");
    if server.is_postfix() {
        assert_eq!(
            reply.enhanced_code().map(|c| c.to_string()).as_deref(),
            Some("5.7.8"),
            "{e:?}"
        );
    } else {
        // aiosmtpd sends "535 5.7.8 ..." without advertising ENHANCEDSTATUSCODES, so the
        // code stays text (RFC 2034 §3: only when the extension was offered).
        assert_eq!(reply.enhanced_code(), None, "{e:?}");
        assert!(reply.message().starts_with("5.7.8 "), "{e:?}");
    }
    assert!(e.is_permanent() && e.connection_usable(), "{e:?}");
    assert!(client.is_usable() && !client.session().is_authenticated());
    // The failed AUTH blocks mail until an AUTH succeeds.
    let envelope = smtp_courier::Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let blocked = client
        .send_bytes(&envelope, &message(&t, &rcpt, b"x\r\n"))
        .await;
    assert!(blocked.is_err(), "{blocked:?}");
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("MAIL")));

    let used = client
        .authenticate(&creds(&env), &only(mechanism))
        .await
        .unwrap();
    assert_eq!(used, mechanism);
    deliver(&mut client, &t, &rcpt).await;
    client.quit().await.unwrap();
    let auths = client_lines(&lines)
        .iter()
        .filter(|l| l.starts_with("AUTH "))
        .count();
    assert_eq!(auths, 2);
    assert_no_secret(&env, &lines);
    if server.is_postfix() {
        let stats = postfix_disconnect_stats(&env, &env.host, port).await;
        assert!(stats.contains(" auth=1/2 "), "{stats}");
        assert_eq!(postfix_sasl_method(&env, port).await, mechanism.name());
        postfix_one(&env, &t).await;
    } else {
        let (_, meta) = aiosmtpd_one(&env, &t).await;
        assert_eq!(meta["auth_login"], env.user.as_str(), "{meta}");
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_535_then_success_scram() {
    wrong_then_right(Server::Submission, Mechanism::ScramSha256).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_535_then_success_plain() {
    wrong_then_right(Server::Submission, Mechanism::Plain).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn aiosmtpd_535_then_success_plain() {
    wrong_then_right(Server::Aiosmtpd, Mechanism::Plain).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn channel_binding_over_tls13() {
    // The connection is TLS 1.3 (an RFC 9266 exporter exists) and Dovecot offers no
    // -PLUS mechanism: requiring channel binding must say the server lacks -PLUS, not that
    // the connection lacks the exporter; nothing is sent either way.
    let env = Env::get();
    let (mut client, _, lines) = tls_session(&env, Server::Submission).await;
    assert!(client.tls_report().unwrap().tls_exporter.is_some());
    let e = client
        .authenticate(
            &creds(&env),
            &AuthOptions::new().require_channel_binding(true),
        )
        .await
        .expect_err("no -PLUS offered");
    assert!(
        matches!(e, Error::Auth(AuthError::ChannelBindingNotOffered)),
        "{e:?}"
    );
    assert!(e.is_permanent());
    assert!(!client_lines(&lines).iter().any(|l| l.starts_with("AUTH")));
    // Twin: without the requirement, SCRAM-SHA-256 (GS2 header "y": the client could bind
    // but the server offered no -PLUS) is accepted.
    let used = client
        .authenticate(&creds(&env), &AuthOptions::new())
        .await
        .unwrap();
    assert_eq!(used, Mechanism::ScramSha256);
    client.quit().await.unwrap();
}
