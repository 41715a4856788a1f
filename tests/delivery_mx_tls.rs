#![cfg(all(feature = "mx", feature = "tls"))]
//! Direct MX delivery and the TLS policy: the plaintext redial under `may` goes through the
//! connector to the same address; under `verify` a bad certificate moves on to the next
//! host and nothing is sent in the clear; each host is verified under its own MX name; the
//! policy hook refuses a level for one domain and not for another.

#[path = "delivery_support/mod.rs"]
mod support;

use std::time::Duration;

use smtp_courier::delivery::{
    DeliveryError, DeliveryPolicy, MockResolver, MxDelivery, Router, SecurityLevel,
};
use smtp_courier::tls::{Level, TlsConfig};
use smtp_courier::{Envelope, Error, RecipientStatus, TlsError};
use support::{Counting, MSG, PKI, Script, TlsSetup, at, config, finish, plain, servers};

const EHLO: &str = "EHLO client.test";

/// After the greeting and first EHLO: one message for one recipient, then QUIT.
fn transaction(s: Script) -> Script {
    s.ehlo(&["8BITMIME"]).transaction().quit()
}

const TX: [&str; 8] = [
    "MAIL FROM:<a@example.org>",
    "RCPT TO:<b@tls.test>",
    "DATA",
    "Subject: t",
    "",
    "hi",
    ".",
    "QUIT",
];

#[tokio::test]
async fn may_redials_the_same_address_through_the_connector_after_a_failed_handshake() {
    // A server whose TLS is broken (answers the ClientHello with plaintext garbage), as
    // some middleboxes do; under `may` the client reconnects once without STARTTLS.
    let broken = Script::greeting()
        .ehlo(&["STARTTLS"])
        .reply("220 2.0.0 go ahead")
        .garbage();
    let second = transaction(Script::greeting());
    let (port, srv) = servers(vec![("127.0.7.2", Some(vec![broken, second]))]).await;
    let dns = MockResolver::new()
        .mx("tls.test", &[(10, "mx.tls.test")])
        .a("mx.tls.test", &["127.0.7.2"]);
    let counting = Counting::default();
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(port)
        .connector(counting.clone());
    let env = Envelope::new("a@example.org", ["b@tls.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let d = &report.domains()[0];
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Delivered);
    assert!(d.attempts().is_empty(), "a fallback is not an attempt");
    let conn = d.connection().unwrap();
    assert_eq!(conn.security(), SecurityLevel::Plain);
    assert!(conn.tls().unwrap().fallback);
    assert!(
        conn.verify_error().unwrap().contains("handshake"),
        "{conn:?}"
    );
    // Both connections through the connector, to the same address.
    let addr = at("127.0.7.2", port).to_string();
    assert_eq!(counting.calls(), [addr.clone(), addr]);
    assert_eq!(plain(&logs[0][0]), [EHLO, "STARTTLS"]);
    let mut want = vec![EHLO];
    want.extend(TX);
    assert_eq!(plain(&logs[0][1]), want, "no STARTTLS on the redial");
}

#[tokio::test]
async fn verify_moves_on_to_the_next_host_each_verified_under_its_own_name() {
    // mx1 presents a certificate for mx.test.example, not for its own name; under
    // `verify` that is a transient TLS failure: no plaintext, the next host is tried.
    let mx1 = Script::greeting()
        .ehlo(&["STARTTLS"])
        .starttls(TlsSetup::good());
    let mx2 = transaction(
        Script::greeting()
            .ehlo(&["STARTTLS"])
            .starttls(TlsSetup::good()),
    );
    let (port, srv) = servers(vec![
        ("127.0.8.2", Some(vec![mx1])),
        ("127.0.8.3", Some(vec![mx2])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("tls.test", &[(10, "other.test.example"), (20, support::MX)])
        .a("other.test.example", &["127.0.8.2"])
        .a(support::MX, &["127.0.8.3"]);
    let tls = TlsConfig::from_level(Level::Verify)
        .platform_roots(false)
        .add_roots_pem(PKI.ca_pem.as_bytes())
        .unwrap()
        // A relay's override; MX delivery must ignore it.
        .server_name("ignored.example");
    let counting = Counting::default();
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(port)
        .policy(DeliveryPolicy::new(tls))
        .connector(counting.clone());
    let env = Envelope::new("a@example.org", ["b@tls.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let d = &report.domains()[0];
    assert_eq!(d.host(), Some(support::MX));
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Delivered);
    assert_eq!(
        d.connection().unwrap().security(),
        SecurityLevel::TlsVerified
    );
    let e = d.attempts()[0].error();
    assert!(
        matches!(
            e,
            DeliveryError::Smtp(Error::Tls(TlsError::Verification(_)))
        ),
        "{e:?}"
    );
    assert!(e.is_transient());
    // One connection each: no plaintext redial under `verify`, nothing after STARTTLS.
    assert_eq!(counting.calls().len(), 2);
    assert_eq!(logs[0].len(), 1);
    assert_eq!(plain(&logs[0][0]), [EHLO, "STARTTLS"]);
    assert!(logs[0][0].tls.is_empty());
    // SNI: each host's own name.
    assert_eq!(logs[0][0].sni.as_deref(), Some("other.test.example"));
    assert_eq!(logs[1][0].sni.as_deref(), Some(support::MX));
    let mut want = vec![EHLO];
    want.extend(TX);
    assert_eq!(logs[1][0].tls, want);
}

#[tokio::test]
async fn the_policy_hook_refuses_plaintext_for_one_domain_only() {
    // secure.test wants TLS (chasquid's learned level): its first host offers no STARTTLS,
    // so the connection is refused before MAIL and the next host, which has TLS (an
    // unverified certificate is enough here), delivers. open.test takes plaintext.
    let no_tls = Script::greeting().ehlo(&["8BITMIME"]).quit();
    let with_tls = Script::greeting()
        .ehlo(&["STARTTLS"])
        .starttls(TlsSetup::with(|p| &p.self_signed))
        .ehlo(&["8BITMIME"])
        .transaction()
        .quit();
    let open = transaction(Script::greeting());
    let (port, srv) = servers(vec![
        ("127.0.9.2", Some(vec![no_tls])),
        ("127.0.9.3", Some(vec![with_tls])),
        ("127.0.9.4", Some(vec![open])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx(
            "secure.test",
            &[(10, "mx1.secure.test"), (20, "mx2.secure.test")],
        )
        .a("mx1.secure.test", &["127.0.9.2"])
        .a("mx2.secure.test", &["127.0.9.3"])
        .mx("open.test", &[(10, "mx.open.test")])
        .a("mx.open.test", &["127.0.9.4"]);
    let policy = DeliveryPolicy::default()
        .min_security(|domain, level| domain != "secure.test" || level > SecurityLevel::Plain);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(port)
        .policy(policy);
    let env = Envelope::new("a@example.org", ["b@secure.test", "b@open.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let [secure, open] = report.domains() else {
        panic!("{report:?}")
    };
    assert_eq!(secure.host(), Some("mx2.secure.test"));
    assert_eq!(secure.recipients()[0].status(), RecipientStatus::Delivered);
    let conn = secure.connection().unwrap();
    assert_eq!(conn.security(), SecurityLevel::TlsUnverified);
    assert!(conn.verify_error().is_some());
    let DeliveryError::Policy(refusal) = secure.attempts()[0].error() else {
        panic!("{:?}", secure.attempts())
    };
    assert_eq!(
        (refusal.domain(), refusal.level()),
        ("secure.test", SecurityLevel::Plain)
    );
    assert!(secure.attempts()[0].error().is_transient());
    assert_eq!(plain(&logs[0][0]), [EHLO, "QUIT"], "refused before MAIL");
    // The twin: the same plaintext for open.test is fine.
    assert_eq!(open.recipients()[0].status(), RecipientStatus::Delivered);
    assert_eq!(open.connection().unwrap().security(), SecurityLevel::Plain);
    assert!(open.attempts().is_empty());
    assert!(plain(&logs[2][0]).contains(&"RCPT TO:<b@open.test>"));
}
