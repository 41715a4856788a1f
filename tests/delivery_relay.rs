#![cfg(all(feature = "mx", feature = "tls"))]
//! Relaying through a smarthost against a scripted TLS server: submission with STARTTLS
//! and AUTH PLAIN, implicit TLS on "465", `verify` deferring on a bad certificate, MX
//! delivery to the same kind of server never sending AUTH; through the pool, AUTH on
//! every new relay connection and never on reuse, and REQUIRETLS messages on MX
//! connections of their own.

#[path = "delivery_support/mod.rs"]
mod support;

use std::time::Duration;

use smtp_courier::auth::{AuthOptions, Credentials, Mechanism};
use smtp_courier::delivery::{
    DeliveryError, DeliveryPolicy, MockResolver, MxDelivery, Relay, Router, SecurityLevel,
};
use smtp_courier::tls::{Level, TlsConfig};
use smtp_courier::{Envelope, Error, RecipientStatus, TlsError};
use support::{MSG, PKI, Script, Server, TlsSetup, config, plain};

const EHLO: &str = "EHLO client.test";
/// `\0alice\0hunter2` in base64 (RFC 4616).
const AUTH_PLAIN: &str = "AUTH PLAIN AGFsaWNlAGh1bnRlcjI=";
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

/// `secure` against the test CA, the certificate's name as the relay's.
fn policy() -> DeliveryPolicy {
    let tls = TlsConfig::from_level(Level::Secure)
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        .server_name(support::MX);
    DeliveryPolicy::new(tls)
}

fn alice() -> Credentials {
    Credentials::new("alice", "hunter2")
}

fn env() -> Envelope {
    Envelope::new("a@example.org", ["b@example.net"]).unwrap()
}

/// A submission server: STARTTLS, then AUTH PLAIN over TLS, one message.
fn submission(cert: TlsSetup) -> Script {
    Script::greeting()
        .ehlo(&["STARTTLS"])
        .starttls(cert)
        .ehlo(&["AUTH PLAIN LOGIN"])
        .reply("235 2.7.0 authenticated")
        .transaction()
        .quit()
}

#[tokio::test]
async fn submission_with_starttls_and_auth_plain() {
    let server = Server::start(vec![submission(TlsSetup::good())]).await;
    let port = server.port();
    let relay = Relay::submission("127.0.0.1", config(Duration::from_secs(5)))
        .unwrap()
        .port(port)
        .policy(policy())
        .credentials(alice(), AuthOptions::new().mechanisms([Mechanism::Plain]));
    let report = relay.send(&env(), MSG).await.unwrap();
    relay.close().await;
    let logs = server.finish().await;

    assert!(report.transaction().all_delivered());
    assert_eq!(report.mechanism(), Some(Mechanism::Plain));
    let conn = report.connection();
    assert_eq!(conn.security(), SecurityLevel::TlsVerified);
    assert_eq!(conn.address(), Some(([127, 0, 0, 1], port).into()));
    assert_eq!(plain(&logs[0]), [EHLO, "STARTTLS"]);
    let mut want = vec![EHLO, AUTH_PLAIN];
    want.extend(TX);
    assert_eq!(logs[0].tls, want);
    assert_eq!(logs[0].sni.as_deref(), Some(support::MX));
}

#[tokio::test]
async fn implicit_tls_then_auth() {
    let script = Script::new()
        .tls(TlsSetup::good())
        .send("220 mx.test.example ESMTP")
        .ehlo(&["AUTH PLAIN"])
        .reply("235 2.7.0 authenticated")
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let relay = Relay::implicit_tls("127.0.0.1", config(Duration::from_secs(5)))
        .unwrap()
        .port(server.port())
        .policy(policy())
        .credentials(alice(), AuthOptions::new().mechanisms([Mechanism::Plain]));
    let report = relay.send(&env(), MSG).await.unwrap();
    relay.close().await;
    let logs = server.finish().await;

    assert!(report.transaction().all_delivered());
    let tls = report.connection().tls().unwrap();
    assert!(tls.implicit && tls.verified);
    assert!(logs[0].plain.is_empty(), "nothing before the handshake");
    let mut want = vec![EHLO, AUTH_PLAIN];
    want.extend(TX);
    assert_eq!(logs[0].tls, want);
}

#[tokio::test]
async fn verify_defers_on_a_bad_certificate_and_sends_no_credentials() {
    // The twin of `submission_with_starttls_and_auth_plain`: the same script, a
    // self-signed certificate.
    let server = Server::start(vec![submission(TlsSetup::with(|p| &p.self_signed))]).await;
    let relay = Relay::submission("127.0.0.1", config(Duration::from_secs(5)))
        .unwrap()
        .port(server.port())
        .policy(policy())
        .credentials(alice(), AuthOptions::new().mechanisms([Mechanism::Plain]));
    let err = relay.send(&env(), MSG).await.unwrap_err();
    relay.close().await;
    let logs = server.finish().await;

    assert!(
        matches!(
            err,
            DeliveryError::Smtp(Error::Tls(TlsError::Verification(_)))
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(logs.len(), 1, "no plaintext reconnection");
    assert_eq!(plain(&logs[0]), [EHLO, "STARTTLS"]);
    assert!(logs[0].tls.is_empty());
}

#[tokio::test]
async fn mx_delivery_never_sends_auth_to_a_host_that_dns_chose() {
    // The same server that takes AUTH above, reached as an MX: no AUTH, ever (there is
    // no credentials field on MxDelivery); the message goes through unauthenticated.
    let script = Script::greeting()
        .ehlo(&["STARTTLS", "AUTH PLAIN LOGIN"])
        .starttls(TlsSetup::good())
        .ehlo(&["AUTH PLAIN LOGIN"])
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let dns = MockResolver::new()
        .mx("example.net", &[(10, support::MX)])
        .a(support::MX, &["127.0.0.1"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(server.port())
        .policy(policy());
    let report = mx.deliver(&env(), MSG).await.unwrap();
    mx.close().await;
    let logs = server.finish().await;

    let d = &report.domains()[0];
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Delivered);
    assert_eq!(
        d.connection().unwrap().security(),
        SecurityLevel::TlsVerified
    );
    let mut want = vec![EHLO];
    want.extend(TX);
    assert_eq!(logs[0].tls, want);
    assert!(
        !logs[0]
            .plain
            .iter()
            .chain(&logs[0].tls)
            .any(|l| l.starts_with("AUTH"))
    );
}

/// A submission server for `n` messages on one connection, QUIT after.
fn submission_for(n: usize) -> Script {
    let mut script = Script::greeting()
        .ehlo(&["STARTTLS"])
        .starttls(TlsSetup::good())
        .ehlo(&["AUTH PLAIN LOGIN"])
        .reply("235 2.7.0 authenticated");
    for _ in 0..n {
        script = script.transaction();
    }
    script.quit()
}

// Mailman's sessions per connection = 2 through the relay's pool: three messages on two
// connections, AUTH once on each new connection and never on reuse, no NOOP before a
// reuse, and every report with the connection's TLS and the AUTH mechanism.
#[tokio::test]
async fn the_relay_reuses_connections_and_authenticates_each_new_one() {
    let server = Server::start(vec![submission_for(2), submission_for(1)]).await;
    let relay = Relay::submission("127.0.0.1", config(Duration::from_secs(5)))
        .unwrap()
        .port(server.port())
        .policy(policy())
        .credentials(alice(), AuthOptions::new().mechanisms([Mechanism::Plain]))
        .pool(smtp_courier::delivery::pool::PoolConfig::default().transactions_per_connection(2));
    for _ in 0..3 {
        let report = relay.send(&env(), MSG).await.unwrap();
        assert!(report.transaction().all_delivered());
        assert_eq!(report.mechanism(), Some(Mechanism::Plain));
        assert_eq!(report.connection().security(), SecurityLevel::TlsVerified);
    }
    relay.close().await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2);
    let tx = &TX[..TX.len() - 1];
    let mut first = vec![EHLO, AUTH_PLAIN];
    first.extend(tx);
    first.extend(tx);
    first.push("QUIT");
    assert_eq!(logs[0].tls, first);
    let mut second = vec![EHLO, AUTH_PLAIN];
    second.extend(TX);
    assert_eq!(logs[1].tls, second);
    assert_eq!(relay.pool_stats().connections_opened, 2);
}

// A REQUIRETLS message (RFC 8689) never rides a connection opened for messages that may
// fall back to plaintext: in one batch to one MX, the two kinds get a connection each,
// under the same verified TLS.
#[tokio::test]
async fn requiretls_messages_get_their_own_mx_connection() {
    let script = || {
        Script::greeting()
            .ehlo(&["STARTTLS", "REQUIRETLS"])
            .starttls(TlsSetup::good())
            .ehlo(&["REQUIRETLS"])
            .transaction()
            .quit()
    };
    let server = Server::start(vec![script(), script()]).await;
    let dns = MockResolver::new()
        .mx("example.net", &[(10, support::MX)])
        .a(support::MX, &["127.0.0.1"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(server.port())
        .policy(policy());
    let (plain_env, strict_env) = (env(), env().with_requiretls());
    let reports = mx
        .deliver_batch([(&plain_env, MSG), (&strict_env, MSG)])
        .await
        .unwrap();
    mx.close().await;
    let logs = server.finish().await;
    assert!(reports.iter().all(|r| r.all_delivered()), "{reports:?}");
    assert_eq!(logs.len(), 2);
    let mut want = vec![EHLO];
    want.extend(TX);
    assert_eq!(logs[0].tls, want);
    want[1] = "MAIL FROM:<a@example.org> REQUIRETLS";
    assert_eq!(logs[1].tls, want);
    assert_eq!(mx.pool_stats().connections_opened, 2);
}
