//! Relaying (`delivery::Relay`) through Postfix submission: 2587 (`Relay::submission`,
//! STARTTLS) and 2465 (`Relay::implicit_tls`), verified against the test CA as
//! `mx.test.example`, authenticated by Dovecot SASL with each mechanism in turn; a
//! wrong password; channel binding, which Dovecot 2.3 does not offer (no -PLUS);
//! and smtp-sink 2527, a server without STARTTLS, where credentials never go.
//!
//! The mechanism a message went with is read from Postfix's own record: the
//! `QUEUEID: client=…, sasl_method=NAME, sasl_username=USER` line of its queue id.
//!
//! Most `send`s here are on a `Relay` of their own, dropped after it: its pooled
//! connection is then QUIT in the background, so the exact session counters asserted
//! (`… quit=1 commands=8`) hold for one message per session.
//! `two_sends_share_one_session` keeps one `Relay` for two messages: one session, one
//! AUTH, two MAILs, QUIT at `Relay::close`.

use smtp_courier::auth::{AuthError, AuthOptions, Credentials, Mechanism};
use smtp_courier::delivery::{DeliveryError, DeliveryPolicy, Relay, RelayReport, SecurityLevel};
use smtp_courier::proto::{CommandKind, Direction};
use smtp_courier::tls::{Level, TlsMode};
use smtp_courier::{Envelope, Error, TlsError};

use crate::support::*;
use crate::tls::verified;

const SENDER: &str = "sender@test.example";

/// The mechanisms Dovecot offers here, each forced in turn.
const MECHANISMS: [Mechanism; 5] = [
    Mechanism::Plain,
    Mechanism::Login,
    Mechanism::CramMd5,
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    /// 2587, `Relay::submission`: STARTTLS.
    Submission,
    /// 2465, `Relay::implicit_tls`.
    Submissions,
}

fn creds(env: &Env) -> Credentials {
    Credentials::new(env.user.clone(), env.password.clone())
}

/// The relay on `port`, `secure` trusting the test CA as mx.test.example, through
/// `conns`.
fn relay(env: &Env, port: Port, conns: &Recording) -> Relay<Recording> {
    let (relay, mode) = match port {
        Port::Submission => (
            Relay::submission(&env.host, config()).unwrap(),
            TlsMode::RequiredStartTls,
        ),
        Port::Submissions => (
            Relay::implicit_tls(&env.host, config()).unwrap(),
            TlsMode::Implicit,
        ),
    };
    let number = match port {
        Port::Submission => env.submission_port,
        Port::Submissions => env.submissions_port,
    };
    relay
        .port(number)
        .policy(DeliveryPolicy::new(verified(env, mode)))
        .connector(conns.clone())
}

/// Asserts the connection a relay report describes: verified TLS 1.3 to the relay.
#[track_caller]
fn assert_verified(report: &RelayReport, port: Port, env: &Env) {
    let c = report.connection();
    assert_eq!(c.host(), env.host);
    assert_eq!(c.security(), SecurityLevel::TlsVerified, "{c:#?}");
    let tls = c.tls().expect("TLS");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(tls.verified && !tls.fallback, "{tls:?}");
    assert_eq!(tls.implicit, port == Port::Submissions, "{tls:?}");
}

/// Each mechanism forced in turn, then the default choice; each message goes through
/// the relay and lands in the maildir byte for byte, and Postfix's log names the
/// mechanism.
async fn every_mechanism(port: Port) {
    let env = Env::get();
    let conns = Recording::default();
    let rcpt = env.ok_rcpt("relay");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let cases = MECHANISMS
        .iter()
        .map(|&m| (AuthOptions::new().mechanisms([m]), m))
        // The default order: SCRAM-SHA-256 is the strongest Dovecot offers here.
        .chain([(AuthOptions::new(), Mechanism::ScramSha256)]);
    let mut sent = Vec::new();
    for (options, expected) in cases {
        let t = token(&format!("relay-{port:?}-{}", expected.name()).to_ascii_lowercase());
        let msg = message(&t, &rcpt, &dots_and_long_line(&t));
        let report = relay(&env, port, &conns)
            .credentials(creds(&env), options)
            .send(&envelope, &msg)
            .await
            .unwrap_or_else(|e| panic!("{port:?} {expected:?}: {e} ({e:?})"));
        assert_eq!(report.mechanism(), Some(expected), "{port:?}");
        assert_verified(&report, port, &env);
        assert_delivered(report.transaction());
        sent.push((
            expected,
            t,
            msg,
            queued_as(report.transaction().data.as_ref().unwrap()),
        ));
    }
    let ports: Vec<Option<u16>> = conns.opened().iter().map(|o| o.local_port).collect();
    assert_eq!(ports.len(), sent.len(), "one connection per message");
    let tokens: Vec<&str> = sent.iter().map(|(_, t, _, _)| t.as_str()).collect();
    let copies = postfix_each_once(&env, &tokens).await;
    for (((expected, _, msg, qid), local), copy) in sent.iter().zip(ports).zip(copies) {
        let (client_port, record) = postfix_queued_client(&env, qid).await;
        assert_eq!(Some(client_port), local, "{record}");
        assert!(
            record.contains(&format!(
                "sasl_method={}, sasl_username={}",
                expected.name(),
                env.user
            )),
            "{expected:?}: {record}"
        );
        let (added, stored) = split_postfix_headers(&copy);
        assert_bytes_eq(
            stored,
            &crlf_to_lf(&crlf_normalised(msg)),
            "Postfix maildir copy",
        );
        assert!(added.contains("with ESMTPSA id "), "{added}");
        // One session per message, one AUTH, one MAIL (EHLO again after STARTTLS).
        let want = match port {
            Port::Submission => "ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 bdat=1 quit=1 commands=8",
            Port::Submissions => "ehlo=1 auth=1 mail=1 rcpt=1 bdat=1 quit=1 commands=6",
        };
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, client_port).await,
            want
        );
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn submission_every_mechanism() {
    every_mechanism(Port::Submission).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn implicit_tls_every_mechanism() {
    every_mechanism(Port::Submissions).await;
}

// The relay's pool: two messages on one `Relay` share one submission session,
// authenticated once, no NOOP before the reuse; `close` QUITs it.
#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn two_sends_share_one_session() {
    let env = Env::get();
    let conns = Recording::default();
    let rcpt = env.ok_rcpt("relay-pool");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let relay = relay(&env, Port::Submission, &conns).credentials(
        creds(&env),
        AuthOptions::new().mechanisms([Mechanism::Plain]),
    );
    let mut tokens = Vec::new();
    for i in 0..2 {
        let t = token(&format!("relay-pool-{i}"));
        let report = relay
            .send(&envelope, &message(&t, &rcpt, b"pooled\r\n"))
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e} ({e:?})"));
        assert_eq!(report.mechanism(), Some(Mechanism::Plain));
        assert_verified(&report, Port::Submission, &env);
        assert_delivered(report.transaction());
        tokens.push(t);
    }
    relay.close().await;
    let opened = conns.opened();
    assert_eq!(opened.len(), 1, "one connection for both messages");
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    postfix_each_once(&env, &tokens).await;
    let port = opened[0].local_port.expect("local port");
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host, port).await,
        "ehlo=2 starttls=1 auth=1 mail=2 rcpt=2 bdat=2 quit=1 commands=11"
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn wrong_password_is_a_permanent_auth_error_and_nothing_is_sent() {
    let env = Env::get();
    let rcpt = env.ok_rcpt("relay-535");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    for port in [Port::Submission, Port::Submissions] {
        let conns = Recording::default();
        let refused = token("relay-535-refused");
        let wrong = Credentials::new(env.user.clone(), "not-the-password");
        let e = relay(&env, port, &conns)
            .credentials(
                wrong,
                AuthOptions::new().mechanisms([Mechanism::ScramSha256]),
            )
            .send(&envelope, &message(&refused, &rcpt, b"never sent\r\n"))
            .await
            .expect_err("a wrong password");
        assert!(
            matches!(e, DeliveryError::Smtp(Error::Auth(AuthError::Refused(_)))),
            "{port:?}: {e:?}"
        );
        assert_eq!(e.command(), Some(CommandKind::Auth), "{e:?}");
        assert_eq!(e.code().map(|c| c.as_u16()), Some(535), "{e:?}");
        assert_eq!(
            e.enhanced_code().map(|c| c.to_string()).as_deref(),
            Some("5.7.8")
        );
        assert!(e.is_permanent(), "{e:?}");
        let opened = conns.opened();
        let [opened] = opened.as_slice() else {
            panic!("one connection: {opened:?}")
        };
        let port_no = opened.local_port.expect("connected");
        // The refused AUTH, then QUIT: no MAIL.
        let want = match port {
            Port::Submission => "ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5",
            Port::Submissions => "ehlo=1 auth=0/1 quit=1 commands=2/3",
        };
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, port_no).await,
            want
        );

        // Twin: the same relay with the right password delivers.
        let t = token("relay-535-twin");
        let report = relay(&env, port, &conns)
            .credentials(
                creds(&env),
                AuthOptions::new().mechanisms([Mechanism::ScramSha256]),
            )
            .send(&envelope, &message(&t, &rcpt, b"right password\r\n"))
            .await
            .unwrap();
        assert_eq!(report.mechanism(), Some(Mechanism::ScramSha256));
        assert_delivered(report.transaction());
        postfix_one(&env, &t).await;
        assert_eq!(postfix_count_now(&env, &refused), 0);
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn channel_binding_required_but_no_plus_offered_sends_nothing() {
    // Over TLS 1.3 the exporter exists; Dovecot 2.3 offers no SCRAM-*-PLUS, so asking for
    // channel binding (or naming only -PLUS) fails before any AUTH or MAIL.
    let env = Env::get();
    let rcpt = env.ok_rcpt("relay-plus");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let t = token("relay-plus");
    for (options, want_not_offered) in [
        (AuthOptions::new().require_channel_binding(true), true),
        (
            AuthOptions::new().mechanisms([Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus]),
            false,
        ),
    ] {
        let conns = Recording::default();
        let e = relay(&env, Port::Submission, &conns)
            .credentials(creds(&env), options)
            .send(&envelope, &message(&t, &rcpt, b"never sent\r\n"))
            .await
            .expect_err("no -PLUS mechanism offered");
        match &e {
            DeliveryError::Smtp(Error::Auth(AuthError::ChannelBindingNotOffered)) => {
                assert!(want_not_offered, "{e:?}")
            }
            DeliveryError::Smtp(Error::Auth(AuthError::NoCommonMechanism { offered })) => {
                assert!(!want_not_offered, "{e:?}");
                assert!(!offered.contains("-PLUS"), "{offered}");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_permanent(), "{e:?}");
        let port = conns.opened()[0].local_port.expect("connected");
        // STARTTLS and the EHLO after it, then QUIT: no AUTH, no MAIL.
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, port).await,
            "ehlo=2 starttls=1 quit=1 commands=4"
        );
    }
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn credentials_never_go_in_the_clear() {
    // smtp-sink offers no STARTTLS (and accepts anything). With credentials the session
    // is confidential at every level: `secure` (the relay default), `encrypt`, and even
    // `may` defer with a transient "STARTTLS not offered" before AUTH or MAIL.
    let env = Env::get();
    let rcpt = env.ok_rcpt("relay-clear");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let msg = message(&token("relay-clear"), &rcpt, b"in the clear?\r\n");
    for policy in [None, Some(Level::Encrypt), Some(Level::May)] {
        let (cfg, lines) = transcript();
        let mut relay = Relay::submission(&env.host, cfg)
            .unwrap()
            .port(env.sink_port)
            .credentials(creds(&env), AuthOptions::new().allow_cleartext(true));
        if let Some(level) = policy {
            relay = relay.policy(DeliveryPolicy::from_level(level));
        }
        let e = relay
            .send(&envelope, &msg)
            .await
            .expect_err("no TLS, no credentials");
        assert!(
            matches!(e, DeliveryError::Smtp(Error::Tls(TlsError::NotOffered))),
            "{policy:?}: {e:?}"
        );
        assert!(e.is_transient(), "{e:?}");
        let sent = lines.lock().unwrap().clone();
        assert!(sent.iter().any(|l| l.starts_with("EHLO ")), "{sent:?}");
        for verb in ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"] {
            assert!(
                !sent.iter().any(|l| l.starts_with(verb)),
                "{policy:?}: {verb} sent in the clear: {sent:?}"
            );
        }
        assert!(!sent.iter().any(|l| l.contains(&env.password)));
    }

    // Twin: the same `may` relay without credentials sends in plaintext, as `may` does.
    let (cfg, lines) = transcript();
    let report = Relay::submission(&env.host, cfg)
        .unwrap()
        .port(env.sink_port)
        .policy(DeliveryPolicy::from_level(Level::May))
        .send(&envelope, &msg)
        .await
        .unwrap();
    assert_eq!(report.mechanism(), None);
    assert_eq!(report.connection().security(), SecurityLevel::Plain);
    assert!(report.connection().tls().is_none());
    assert_delivered(report.transaction());
    let sent = lines.lock().unwrap().clone();
    assert!(sent.iter().any(|l| l.starts_with("MAIL FROM:")), "{sent:?}");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn unverified_tls_keeps_the_password_back() {
    // `encrypt` on 2587 with the platform roots: TLS, unverified. A man in the middle
    // could be at the other end, so no mechanism goes (SCRAM's proof could be attacked
    // offline, PLAIN would hand over the password) unless the caller allows it.
    let env = Env::get();
    let rcpt = env.ok_rcpt("relay-encrypt");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let encrypt = || {
        DeliveryPolicy::new(
            smtp_courier::tls::TlsConfig::from_level(Level::Encrypt)
                .server_name(env.tls_server_name.clone()),
        )
    };
    let refused = token("relay-encrypt-refused");
    for (options, mechanism, cleartext) in [
        (AuthOptions::new(), Mechanism::ScramSha256, false),
        (
            AuthOptions::new().mechanisms([Mechanism::Plain]),
            Mechanism::Plain,
            true,
        ),
    ] {
        let conns = Recording::default();
        let e = Relay::submission(&env.host, config())
            .unwrap()
            .port(env.submission_port)
            .policy(encrypt())
            .connector(conns.clone())
            .credentials(creds(&env), options)
            .send(&envelope, &message(&refused, &rcpt, b"never sent\r\n"))
            .await
            .expect_err("no AUTH over unverified TLS");
        match e {
            DeliveryError::Smtp(Error::Auth(AuthError::CleartextRefused { mechanism: m, tls }))
                if cleartext =>
            {
                assert_eq!((m, tls), (mechanism, true))
            }
            DeliveryError::Smtp(Error::Auth(AuthError::UnverifiedTlsRefused {
                mechanism: m,
                tls,
            })) if !cleartext => assert_eq!((m, tls), (mechanism, true)),
            other => panic!("{mechanism:?}: {other:?}"),
        }
        let port = conns.opened()[0].local_port.expect("connected");
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, port).await,
            "ehlo=2 starttls=1 quit=1 commands=4"
        );
    }
    // Twin: the caller allows challenge-response over unverified TLS.
    let t = token("relay-encrypt-allowed");
    let report = Relay::submission(&env.host, config())
        .unwrap()
        .port(env.submission_port)
        .policy(encrypt())
        .credentials(
            creds(&env),
            AuthOptions::new().allow_unverified_challenge_response(true),
        )
        .send(&envelope, &message(&t, &rcpt, b"allowed\r\n"))
        .await
        .unwrap();
    assert_eq!(report.mechanism(), Some(Mechanism::ScramSha256));
    assert_eq!(report.connection().security(), SecurityLevel::TlsUnverified);
    assert_delivered(report.transaction());
    postfix_one(&env, &t).await;
    assert_eq!(postfix_count_now(&env, &refused), 0);
}

/// Client settings that record the client's side of the transcript.
fn transcript() -> (
    smtp_courier::ClientConfig,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = lines.clone();
    let cfg = config().transcript(move |dir, line| {
        if dir == Direction::Client {
            l.lock().unwrap().push(line.to_owned());
        }
    });
    (cfg, lines)
}
