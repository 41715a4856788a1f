#![cfg(all(feature = "mx", feature = "tls"))]
//! Direct MX delivery against scripted servers on several loopback addresses sharing one
//! port (as MX hosts share port 25), routed by a `MockResolver`: the walk over hosts and
//! addresses, what moves on and what decides, null MX, several domains, the address
//! filter. TLS and the policy hook are in tests/delivery_mx_tls.rs.
//!
//! Each test uses its own 127.0.N.0/24, so tests running at once never share an address.

#[path = "delivery_support/mod.rs"]
mod support;

use std::time::Duration;

use smtp_courier::delivery::{
    DeliveryError, DnsErrorKind, MockResolver, MxDelivery, Router, SecurityLevel, is_public_unicast,
};
use smtp_courier::proto::{CommandKind, Notify, Phase};
use smtp_courier::{Envelope, Error, RecipientStatus};
use support::{Counting, MSG, Script, at, config, finish, plain, servers};

const EHLO: &str = "EHLO client.test";

/// A plaintext server that takes one message for `rcpts` recipients and QUITs.
fn accepting(rcpts: usize) -> Script {
    let mut s = Script::greeting().ehlo(&["8BITMIME"]).reply("250 2.1.0 ok");
    for _ in 0..rcpts {
        s = s.reply("250 2.1.5 ok");
    }
    s.reply("354 go ahead")
        .data("250 2.0.0 queued as 4F2")
        .quit()
}

/// What an accepting server received for `rcpts`.
fn delivered_lines(rcpts: &[&str]) -> Vec<String> {
    let mut v = vec![EHLO.to_owned(), "MAIL FROM:<a@example.org>".to_owned()];
    v.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>")));
    v.extend(
        ["DATA", "Subject: t", "", "hi", ".", "QUIT"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    v
}

#[tokio::test]
async fn refused_silent_and_421_move_on_until_a_host_delivers() {
    // mx1: nothing listens (connection refused); mx2 accepts and never greets (a tarpit);
    // mx3 greets with 421 (a busy Postfix, "too many connections"); mx4 on ::1 delivers.
    let (port, srv) = servers(vec![
        ("127.0.1.2", None),
        ("127.0.1.3", Some(vec![Script::new().stall()])),
        (
            "127.0.1.4",
            Some(vec![Script::new().send("421 4.7.0 busy").reply("221 bye")]),
        ),
        ("::1", Some(vec![accepting(1)])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx(
            "walk.test",
            &[
                (10, "mx1.walk.test"),
                (20, "mx2.walk.test"),
                (30, "mx3.walk.test"),
                (40, "mx4.walk.test"),
            ],
        )
        .a("mx1.walk.test", &["127.0.1.2"])
        .a("mx2.walk.test", &["127.0.1.3"])
        .a("mx3.walk.test", &["127.0.1.4"])
        .aaaa("mx4.walk.test", &["::1"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_millis(1500))).port(port);
    let env = Envelope::new("a@example.org", ["b@walk.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let d = &report.domains()[0];
    assert_eq!(d.host(), Some("mx4.walk.test"));
    assert_eq!(d.address(), Some(at("::1", port)));
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Delivered);
    assert_eq!(d.recipients()[0].reply().unwrap().code().as_u16(), 250);
    assert_eq!(d.connection().unwrap().security(), SecurityLevel::Plain);
    let tried: Vec<_> = d
        .attempts()
        .iter()
        .map(|a| (a.host(), a.address()))
        .collect();
    assert_eq!(
        tried,
        [
            ("mx1.walk.test", Some(at("127.0.1.2", port))),
            ("mx2.walk.test", Some(at("127.0.1.3", port))),
            ("mx3.walk.test", Some(at("127.0.1.4", port))),
        ]
    );
    let errs: Vec<_> = d
        .attempts()
        .iter()
        .map(|a| a.error().smtp().unwrap())
        .collect();
    assert!(
        matches!(errs[0], Error::Io { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{:?}",
        errs[0]
    );
    assert!(
        matches!(
            errs[1],
            Error::Timeout {
                phase: Phase::Greeting,
                ..
            }
        ),
        "{:?}",
        errs[1]
    );
    assert!(
        matches!(errs[2], Error::Greeting { reply } if reply.code().as_u16() == 421),
        "{:?}",
        errs[2]
    );
    // The 421 greeting was answered with QUIT and nothing else; mx4 got the message.
    assert_eq!(plain(&logs[2][0]), ["QUIT"]);
    assert_eq!(logs[3][0].plain, delivered_lines(&["b@walk.test"]));
}

#[tokio::test]
async fn a_5yz_greeting_is_quit_and_the_next_host_tried_and_mixed_failures_stay_transient() {
    // Postfix's smtp_skip_5xx_greeting: a 554 greeting (a host refusing this client) is
    // not final for the domain.
    let refuse = || Script::new().send("554 5.7.1 no thanks").reply("221 bye");
    let (port, srv) = servers(vec![
        ("127.0.2.2", Some(vec![refuse()])),
        ("127.0.2.3", Some(vec![accepting(1)])),
        ("127.0.2.4", Some(vec![refuse()])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("skip.test", &[(10, "mx1.skip.test"), (20, "mx2.skip.test")])
        .a("mx1.skip.test", &["127.0.2.2"])
        .a("mx2.skip.test", &["127.0.2.3"])
        // mixed.test: a refused connection (transient), then a 554 greeting (permanent).
        .mx(
            "mixed.test",
            &[(10, "mx1.mixed.test"), (20, "mx2.mixed.test")],
        )
        .a("mx1.mixed.test", &["127.0.2.9"])
        .a("mx2.mixed.test", &["127.0.2.4"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5))).port(port);
    let env = Envelope::new("a@example.org", ["b@skip.test", "c@mixed.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let [skip, mixed] = report.domains() else {
        panic!("{report:?}")
    };
    assert_eq!(skip.host(), Some("mx2.skip.test"));
    assert_eq!(skip.recipients()[0].status(), RecipientStatus::Delivered);
    let e = skip.attempts()[0].error();
    assert!(
        e.is_permanent() && e.code().map(|c| c.as_u16()) == Some(554),
        "{e:?}"
    );
    assert_eq!(plain(&logs[0][0]), ["QUIT"]);
    assert_eq!(logs[1][0].plain, delivered_lines(&["b@skip.test"]));

    // No host decided: the last attempt's 554 is carried, but as transient, because the
    // first attempt failed transiently.
    assert_eq!(mixed.host(), None);
    assert_eq!(mixed.attempts().len(), 2);
    assert_eq!(
        mixed
            .error()
            .and_then(DeliveryError::code)
            .map(|c| c.as_u16()),
        Some(554)
    );
    assert!(!mixed.is_permanent());
    assert_eq!(mixed.recipients()[0].status(), RecipientStatus::Transient);
    assert_eq!(plain(&logs[2][0]), ["QUIT"]);
}

#[tokio::test]
async fn every_recipient_transient_moves_all_of_them_to_the_next_host() {
    // A greylisting host: 451 to every RCPT. The next host gets both recipients.
    let greylist = Script::greeting()
        .ehlo(&["8BITMIME"])
        .reply("250 2.1.0 ok")
        .reply("451 4.7.1 greylisted")
        .reply("450 4.2.0 try later")
        .quit();
    let (port, srv) = servers(vec![
        ("127.0.3.2", Some(vec![greylist])),
        ("127.0.3.3", Some(vec![accepting(2)])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("grey.test", &[(10, "mx1.grey.test"), (20, "mx2.grey.test")])
        .a("mx1.grey.test", &["127.0.3.2"])
        .a("mx2.grey.test", &["127.0.3.3"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5))).port(port);
    let env = Envelope::new("a@example.org", ["b@grey.test", "c@grey.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let d = &report.domains()[0];
    assert_eq!(d.host(), Some("mx2.grey.test"));
    assert!(d.all_delivered());
    assert_eq!(d.attempts().len(), 1);
    assert_eq!(d.attempts()[0].address(), Some(at("127.0.3.2", port)));
    assert!(d.attempts()[0].error().is_transient());
    assert_eq!(
        plain(&logs[0][0]),
        [
            EHLO,
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@grey.test>",
            "RCPT TO:<c@grey.test>",
            "QUIT"
        ]
    );
    assert_eq!(
        logs[1][0].plain,
        delivered_lines(&["b@grey.test", "c@grey.test"])
    );
}

#[tokio::test]
async fn a_permanent_rcpt_or_mail_refusal_decides_and_stops_the_walk() {
    // 550 to one RCPT, 451 to the other: the host decided; the 451 stands with it.
    let rcpt550 = Script::greeting()
        .ehlo(&["8BITMIME"])
        .reply("250 2.1.0 ok")
        .reply("550 5.1.1 no such user")
        .reply("451 4.3.0 later")
        .quit();
    let mail550 = Script::greeting()
        .ehlo(&["8BITMIME"])
        .reply("550 5.7.1 sender refused")
        .quit();
    let (port, srv) = servers(vec![
        ("127.0.4.2", Some(vec![rcpt550])),
        ("127.0.4.3", Some(vec![])),
        ("127.0.4.4", Some(vec![mail550])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("rcpt.test", &[(10, "mx1.rcpt.test"), (20, "mx2.rcpt.test")])
        .a("mx1.rcpt.test", &["127.0.4.2"])
        .a("mx2.rcpt.test", &["127.0.4.3"])
        .mx("mail.test", &[(10, "mx1.mail.test"), (20, "mx2.mail.test")])
        .a("mx1.mail.test", &["127.0.4.4"])
        .a("mx2.mail.test", &["127.0.4.3"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5))).port(port);
    let env = Envelope::new(
        "a@example.org",
        ["b@rcpt.test", "c@rcpt.test", "d@mail.test"],
    )
    .unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let [rcpt, mail] = report.domains() else {
        panic!("{report:?}")
    };
    assert_eq!(rcpt.host(), Some("mx1.rcpt.test"));
    let st: Vec<_> = rcpt.recipients().iter().map(|r| r.status()).collect();
    assert_eq!(st, [RecipientStatus::Permanent, RecipientStatus::Transient]);
    assert_eq!(rcpt.recipients()[0].command(), Some(CommandKind::Rcpt));
    assert_eq!(mail.host(), Some("mx1.mail.test"));
    assert_eq!(mail.recipients()[0].status(), RecipientStatus::Permanent);
    assert_eq!(mail.recipients()[0].command(), Some(CommandKind::Mail));
    assert!(mail.is_permanent() && mail.attempts().is_empty());
    // mx2 of either domain was never contacted.
    assert!(logs[1].is_empty(), "{:?}", logs[1]);
    assert_eq!(plain(&logs[2][0]).last(), Some(&"QUIT"));
}

#[tokio::test]
async fn null_mx_contacts_nothing_and_domains_keep_the_caller_order() {
    let (port, srv) = servers(vec![
        ("127.0.5.2", Some(vec![accepting(1)])),
        ("127.0.5.3", Some(vec![accepting(2)])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("one.test", &[(10, "mx.one.test")])
        .a("mx.one.test", &["127.0.5.2"])
        .mx("two.test", &[(10, "mx.two.test")])
        .a("mx.two.test", &["127.0.5.3"])
        .mx("null.test", &[(0, ".")]);
    let counting = Counting::default();
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_secs(5)))
        .port(port)
        .connector(counting.clone());
    let env = Envelope::new(
        "a@example.org",
        ["b@two.test", "n@null.test", "c@one.test", "d@TWO.test"],
    )
    .unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;

    let order: Vec<String> = report
        .domains()
        .iter()
        .map(|d| d.domain().to_string())
        .collect();
    assert_eq!(order, ["two.test", "null.test", "one.test"]);
    let two: Vec<&str> = report.domains()[0]
        .recipients()
        .iter()
        .map(|r| r.address().as_str())
        .collect();
    assert_eq!(two, ["b@two.test", "d@TWO.test"]);
    let null = &report.domains()[1];
    assert_eq!((null.host(), null.address()), (None, None));
    assert!(null.attempts().is_empty() && null.is_permanent());
    let dns_err = null.error().and_then(DeliveryError::dns).unwrap();
    assert_eq!(dns_err.kind, DnsErrorKind::NullMx);
    assert_eq!(dns_err.to_string(), "null.test: null MX (RFC 7505)");
    assert_eq!(null.recipients()[0].status(), RecipientStatus::Permanent);
    // One connection per deliverable domain, none for the null MX.
    assert_eq!(
        counting.calls(),
        [format!("127.0.5.3:{port}"), format!("127.0.5.2:{port}")]
    );
    assert_eq!(
        logs[1][0].plain,
        delivered_lines(&["b@two.test", "d@TWO.test"])
    );
    assert_eq!(logs[0][0].plain, delivered_lines(&["c@one.test"]));
}

#[tokio::test]
async fn the_address_filter_refuses_loopback_before_anything_is_contacted() {
    let (port, srv) = servers(vec![("127.0.6.2", Some(vec![accepting(1)]))]).await;
    let dns = || {
        MockResolver::new()
            .mx("filter.test", &[(10, "mx.filter.test")])
            .a("mx.filter.test", &["127.0.6.2"])
    };
    let env = Envelope::new("a@example.org", ["b@filter.test"]).unwrap();
    let counting = Counting::default();
    let filtered = MxDelivery::new(
        Router::new(dns()).address_filter(is_public_unicast),
        config(Duration::from_secs(5)),
    )
    .port(port)
    .connector(counting.clone());
    let report = filtered.deliver(&env, MSG).await.unwrap();
    let d = &report.domains()[0];
    assert!(counting.calls().is_empty());
    assert_eq!(d.host(), None);
    assert_eq!(d.attempts().len(), 1);
    assert_eq!(d.attempts()[0].address(), None);
    let e = d.attempts()[0].error().dns().unwrap();
    assert_eq!(e.kind, DnsErrorKind::AddressesRefused);
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Permanent);

    // The twin: no filter, the same route delivers.
    let open = MxDelivery::new(Router::new(dns()), config(Duration::from_secs(5)))
        .port(port)
        .connector(counting.clone());
    let report = open.deliver(&env, MSG).await.unwrap();
    assert!(report.all_delivered());
    assert_eq!(counting.calls(), [format!("127.0.6.2:{port}")]);
    open.close().await;
    let logs = finish(srv).await;
    assert_eq!(logs[0].len(), 1);
}

#[tokio::test]
async fn a_recipient_delivered_by_bdat_reports_bdat_and_by_data_data() {
    // RFC 3030 §2: with CHUNKING the reply to `BDAT n LAST` decides the recipient, and its
    // command is Bdat, as the transaction report says; the twin without CHUNKING is DATA.
    let bdat = Script::greeting()
        .ehlo(&["CHUNKING"])
        .reply("250 2.1.0 ok")
        .reply("250 2.1.5 ok")
        // BDAT 18 LAST, then the chunk's three lines.
        .reply_raw(b"")
        .reply_raw(b"")
        .reply_raw(b"")
        .reply("250 2.0.0 queued as B1")
        .quit();
    let (port, srv) = servers(vec![
        ("127.0.10.2", Some(vec![bdat])),
        ("127.0.10.3", Some(vec![accepting(1)])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("bdat.test", &[(10, "mx.bdat.test")])
        .a("mx.bdat.test", &["127.0.10.2"])
        .mx("data.test", &[(10, "mx.data.test")])
        .a("mx.data.test", &["127.0.10.3"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_millis(1500))).port(port);
    let env = Envelope::new("a@example.org", ["b@bdat.test", "c@data.test"]).unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;
    let by_bdat = &report.domains()[0].recipients()[0];
    assert_eq!(by_bdat.status(), RecipientStatus::Delivered);
    assert_eq!(by_bdat.command(), Some(CommandKind::Bdat));
    let by_data = &report.domains()[1].recipients()[0];
    assert_eq!(by_data.status(), RecipientStatus::Delivered);
    assert_eq!(by_data.command(), Some(CommandKind::DataEnd));
    let sent: Vec<&str> = logs.iter().flatten().flat_map(plain).collect();
    assert!(sent.contains(&"BDAT 18 LAST"), "{sent:?}");
}

#[tokio::test]
async fn each_domains_share_keeps_its_recipients_own_dsn_parameters() {
    // RFC 3461 §4: NOTIFY and ORCPT belong to one recipient. The second domain's share of
    // the envelope must carry its recipient's parameters, not those of the first
    // recipient of the whole envelope.
    let dsn_server = |rcpt: &str| {
        Script::greeting()
            .ehlo(&["DSN"])
            .reply("250 2.1.0 ok")
            .reply(&format!("250 2.1.5 {rcpt} ok"))
            .reply("354 go ahead")
            .data("250 2.0.0 queued")
            .quit()
    };
    let (port, srv) = servers(vec![
        ("127.0.11.2", Some(vec![dsn_server("x")])),
        ("127.0.11.3", Some(vec![dsn_server("y")])),
    ])
    .await;
    let dns = MockResolver::new()
        .mx("one.test", &[(10, "mx.one.test")])
        .a("mx.one.test", &["127.0.11.2"])
        .mx("two.test", &[(10, "mx.two.test")])
        .a("mx.two.test", &["127.0.11.3"]);
    let mx = MxDelivery::new(Router::new(dns), config(Duration::from_millis(1500))).port(port);
    let env = Envelope::new("a@example.org", ["x@one.test", "y@two.test"])
        .unwrap()
        .with_orcpt()
        .unwrap()
        .with_recipient_notify(1, Notify::Never)
        .unwrap();
    let report = mx.deliver(&env, MSG).await.unwrap();
    mx.close().await;
    let logs = finish(srv).await;
    for domain in report.domains() {
        assert_eq!(domain.recipients()[0].status(), RecipientStatus::Delivered);
    }
    let rcpt_lines = |server: usize| -> Vec<String> {
        logs[server]
            .iter()
            .flat_map(plain)
            .filter(|l| l.starts_with("RCPT"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        rcpt_lines(0),
        ["RCPT TO:<x@one.test> ORCPT=rfc822;x@one.test"]
    );
    assert_eq!(
        rcpt_lines(1),
        ["RCPT TO:<y@two.test> NOTIFY=NEVER ORCPT=rfc822;y@two.test"]
    );
}
