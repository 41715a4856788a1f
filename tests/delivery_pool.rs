#![cfg(all(feature = "mx", feature = "tls"))]
//! MX delivery and relaying through the connection pool, against plaintext servers on
//! loopback addresses: successive deliveries share a connection, a batch rides one
//! connection's window and each message still walks on its own, connections are never
//! shared across MX names, an idle-closed connection is not an attempt, and many tasks
//! relaying at once never exceed the connection cap.

#[path = "pool_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use smtp_courier::delivery::pool::PoolConfig;
use smtp_courier::delivery::{
    DeliveryPolicy, DeliveryReport, MockResolver, MxDelivery, Relay, Router,
};
use smtp_courier::proto::Timeouts;
use smtp_courier::tls::Level;
use smtp_courier::{ClientConfig, Envelope, RecipientStatus};
use support::{Behaviour, PlainServer, same_port};

const MSG: &[u8] = b"Subject: t\r\n\r\nhi\r\n";

fn config() -> ClientConfig {
    ClientConfig::new("client.test")
        .unwrap()
        .timeouts(Timeouts::all(Duration::from_secs(5)))
}

fn env(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

const TX: [&str; 3] = ["MAIL FROM:<a@example.org>", "RCPT TO:<b@one.test>", "DATA"];

// Two deliveries to one domain, one after the other: one connection, kept open between
// them (no NOOP, no second EHLO), QUIT by close().
#[tokio::test]
async fn successive_deliveries_to_a_domain_share_one_connection() {
    let (port, mut l) = same_port(&["127.0.5.2"]).await;
    let server = PlainServer::serve(l.remove(0), Behaviour::default());
    let dns = MockResolver::new()
        .mx("one.test", &[(10, "mx.one.test")])
        .a("mx.one.test", &["127.0.5.2"]);
    let mx = MxDelivery::new(Router::new(dns), config()).port(port);
    for _ in 0..2 {
        let report = mx.deliver(&env(&["b@one.test"]), MSG).await.unwrap();
        let d = &report.domains()[0];
        assert!(d.all_delivered());
        assert!(d.attempts().is_empty());
        assert_eq!(d.host(), Some("mx.one.test"));
    }
    assert_eq!(server.live(), 1, "kept open for the next message");
    mx.close().await;
    server.wait_closed().await;
    let mut want = vec!["EHLO client.test"];
    want.extend(TX);
    want.extend(TX);
    want.push("QUIT");
    assert_eq!(server.logs(), [want]);
    assert_eq!(mx.pool_stats().connections_opened, 1);
    assert_eq!(mx.pool_stats().transactions, 2);
}

// Three messages in one batch to a PIPELINING and CHUNKING host: one connection, each
// next MAIL ahead of the previous message's final reply, one report per message.
#[tokio::test]
async fn a_batch_to_one_domain_rides_one_connections_window() {
    let (port, mut l) = same_port(&["127.0.5.3"]).await;
    let server = PlainServer::serve(
        l.remove(0),
        Behaviour {
            ehlo: &["PIPELINING", "CHUNKING"],
            ..Behaviour::default()
        },
    );
    let dns = MockResolver::new()
        .mx("win.test", &[(10, "mx.win.test")])
        .a("mx.win.test", &["127.0.5.3"]);
    let mx = MxDelivery::new(Router::new(dns), config()).port(port);
    let envs: Vec<Envelope> = (1..=3).map(|i| env(&[&format!("m{i}@win.test")])).collect();
    let reports = mx
        .deliver_batch(envs.iter().map(|e| (e, MSG)))
        .await
        .unwrap();
    mx.close().await;
    assert_eq!(reports.len(), 3);
    for (i, r) in reports.iter().enumerate() {
        let d = &r.domains()[0];
        assert!(d.all_delivered(), "{d:?}");
        assert_eq!(
            d.recipients()[0].address().as_str(),
            format!("m{}@win.test", i + 1)
        );
    }
    let bdat = format!("BDAT {} LAST", MSG.len());
    let (mail, r1, r2, r3) = (
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<m1@win.test>",
        "RCPT TO:<m2@win.test>",
        "RCPT TO:<m3@win.test>",
    );
    let want = [
        "EHLO client.test",
        mail,
        r1,
        &bdat,
        mail,
        "S: 250 2.0.0 queued 1",
        r2,
        &bdat,
        mail,
        "S: 250 2.0.0 queued 2",
        r3,
        &bdat,
        "S: 250 2.0.0 queued 3",
        "QUIT",
    ];
    assert_eq!(server.logs(), [want]);
}

/// Delivers `envs` with a fresh `MxDelivery` over mx1 (127.0.5.4, strict) and mx2
/// (127.0.5.5, lenient), as one batch or one by one.
async fn walk_case(
    envs: &[Envelope],
    batch: bool,
) -> (Vec<DeliveryReport>, Vec<usize>, Vec<usize>) {
    let (port, mut l) = same_port(&["127.0.5.4", "127.0.5.5"]).await;
    let mx1 = PlainServer::serve(l.remove(0), Behaviour::default());
    let lenient = Behaviour {
        lenient: true,
        ..Behaviour::default()
    };
    let mx2 = PlainServer::serve(l.remove(0), lenient);
    let dns = MockResolver::new()
        .mx("walk.test", &[(10, "mx1.walk.test"), (20, "mx2.walk.test")])
        .a("mx1.walk.test", &["127.0.5.4"])
        .a("mx2.walk.test", &["127.0.5.5"]);
    let mx = MxDelivery::new(Router::new(dns), config()).port(port);
    let reports = if batch {
        mx.deliver_batch(envs.iter().map(|e| (e, MSG)))
            .await
            .unwrap()
    } else {
        let mut v = Vec::new();
        for e in envs {
            v.push(mx.deliver(e, MSG).await.unwrap());
        }
        v
    };
    mx.close().await;
    (reports, mx1.mails(), mx2.mails())
}

// In a batch each message walks on its own: a 550 at mx1 decides the first message
// there, a 451 moves the second (alone) on to mx2, exactly as when each is delivered
// by itself.
#[tokio::test]
async fn each_message_of_a_batch_walks_the_hosts_as_it_would_alone() {
    let envs = [env(&["perm@walk.test"]), env(&["grey@walk.test"])];
    let (batch, mx1, mx2) = walk_case(&envs, true).await;
    assert_eq!(
        (mx1, mx2),
        (vec![2], vec![1]),
        "one connection to each host"
    );
    let (alone, _, _) = walk_case(&envs, false).await;
    for reports in [&batch, &alone] {
        let perm = &reports[0].domains()[0];
        assert_eq!(perm.host(), Some("mx1.walk.test"));
        assert!(perm.attempts().is_empty());
        assert_eq!(perm.recipients()[0].status(), RecipientStatus::Permanent);
        let grey = &reports[1].domains()[0];
        assert_eq!(grey.host(), Some("mx2.walk.test"));
        assert_eq!(grey.attempts().len(), 1);
        assert_eq!(grey.attempts()[0].host(), "mx1.walk.test");
        assert!(grey.attempts()[0].error().is_transient());
        assert_eq!(grey.recipients()[0].status(), RecipientStatus::Delivered);
    }
}

// Two MX names on one address: a connection is only reused for the same name (its
// certificate is verified under that name), so each keeps its own, and each is reused.
#[tokio::test]
async fn different_mx_names_on_one_address_never_share_a_connection() {
    let (port, mut l) = same_port(&["127.0.5.6"]).await;
    let server = PlainServer::serve(l.remove(0), Behaviour::default());
    let dns = MockResolver::new()
        .mx("a.test", &[(10, "mx-a.test")])
        .mx("b.test", &[(10, "mx-b.test")])
        .a("mx-a.test", &["127.0.5.6"])
        .a("mx-b.test", &["127.0.5.6"]);
    let mx = MxDelivery::new(Router::new(dns), config()).port(port);
    for _ in 0..2 {
        let report = mx
            .deliver(&env(&["x@a.test", "y@b.test"]), MSG)
            .await
            .unwrap();
        assert!(report.domains().iter().all(|d| d.all_delivered()));
    }
    mx.close().await;
    assert_eq!(server.mails(), [2, 2]);
    assert_eq!(mx.pool_stats().connections_opened, 2);
}

// Postfix's idle timeout (421, or an EOF) between two deliveries: the second goes on a
// fresh connection and has no attempt.
#[tokio::test]
async fn a_connection_closed_while_idle_is_not_an_attempt() {
    for idle_eof in [false, true] {
        let (port, mut l) = same_port(&["127.0.5.7"]).await;
        let b = Behaviour {
            idle_close: Some(Duration::from_millis(100)),
            idle_eof,
            ..Behaviour::default()
        };
        let server = PlainServer::serve(l.remove(0), b);
        let dns = MockResolver::new()
            .mx("idle.test", &[(10, "mx.idle.test")])
            .a("mx.idle.test", &["127.0.5.7"]);
        let mx = MxDelivery::new(Router::new(dns), config()).port(port);
        assert!(
            mx.deliver(&env(&["b@idle.test"]), MSG)
                .await
                .unwrap()
                .all_delivered()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let report = mx.deliver(&env(&["b@idle.test"]), MSG).await.unwrap();
        mx.close().await;
        let d = &report.domains()[0];
        assert!(d.all_delivered(), "{d:?}");
        assert!(d.attempts().is_empty(), "{:?}", d.attempts());
        assert_eq!(server.mails(), [1, 1]);
        assert_eq!(mx.pool_stats().closed_while_idle, 1);
    }
}

fn plain_relay(port: u16, pool: PoolConfig) -> Relay {
    Relay::submission("127.0.0.1", config())
        .unwrap()
        .port(port)
        .policy(DeliveryPolicy::from_level(Level::None))
        .pool(pool)
}

// 30 tasks relaying at once, at most 3 connections: the server never sees more than 3
// open at once, and does see 3 (the cap is reached, not only respected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_relaying_at_once_never_exceed_the_cap() {
    let server = PlainServer::start(Behaviour {
        data_delay: Duration::from_millis(5),
        ..Behaviour::default()
    })
    .await;
    let relay = Arc::new(plain_relay(
        server.addr.port(),
        PoolConfig::default().max_per_destination(3),
    ));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let relay = Arc::clone(&relay);
            tokio::spawn(async move { relay.send(&env(&["b@one.test"]), MSG).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().transaction().all_delivered());
    }
    relay.close().await;
    assert_eq!(server.max_live(), 3);
    assert_eq!(server.mails().iter().sum::<usize>(), 30);
    assert!(relay.pool_stats().connections_opened <= 3);
}

// A relay batch with two transactions per connection: four messages on two connections,
// each report naming its connection.
#[tokio::test]
async fn a_relay_batch_honours_the_transactions_per_connection() {
    let server = PlainServer::start(Behaviour {
        ehlo: &["PIPELINING"],
        ..Behaviour::default()
    })
    .await;
    let relay = plain_relay(
        server.addr.port(),
        PoolConfig::default().transactions_per_connection(2),
    );
    let e = env(&["b@one.test"]);
    let reports = relay.send_batch((0..4).map(|_| (&e, MSG))).await;
    relay.close().await;
    assert_eq!(server.mails(), [2, 2]);
    for r in &reports {
        let r = r.as_ref().unwrap();
        assert!(r.transaction().all_delivered());
        assert_eq!(r.connection().host(), "127.0.0.1");
        assert_eq!(
            r.connection().greeting().unwrap().message(),
            "mx.pool.test ESMTP"
        );
        assert_eq!(r.mechanism(), None);
    }
}

// The policy hook refuses the relay's plaintext connection: the send fails with the
// refusal (transient) before MAIL, and the refused connection carried nothing.
#[tokio::test]
async fn the_relay_policy_hook_refuses_before_anything_is_sent() {
    use smtp_courier::delivery::{DeliveryError, SecurityLevel};
    let server = PlainServer::start(Behaviour::default()).await;
    let policy = DeliveryPolicy::from_level(Level::None)
        .min_security(|_, level| level >= SecurityLevel::TlsVerified);
    let relay = plain_relay(server.addr.port(), PoolConfig::default()).policy(policy);
    let err = relay.send(&env(&["b@one.test"]), MSG).await.unwrap_err();
    relay.close().await;
    let DeliveryError::Policy(refusal) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refusal.level(), SecurityLevel::Plain);
    assert_eq!(refusal.domain(), "127.0.0.1");
    assert!(err.is_transient());
    server.wait_closed().await;
    assert_eq!(server.logs(), [["EHLO client.test", "QUIT"]]);
    // The twin: without the hook the same relay delivers.
    let relay = plain_relay(server.addr.port(), PoolConfig::default());
    assert!(
        relay
            .send(&env(&["b@one.test"]), MSG)
            .await
            .unwrap()
            .transaction()
            .all_delivered()
    );
    relay.close().await;
}
