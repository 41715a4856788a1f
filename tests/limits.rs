//! LIMITS (RFC 9422) and DSN (RFC 3461) through the async `Client`: recipients split over
//! transactions by RCPTMAX and RCPTDOMAINMAX with one report per message, MAILMAX ending
//! what a connection carries, and the DSN parameters on the wire.

#[macro_use]
mod support;

use smtp_courier::proto::{CommandKind, EnvId, Mailbox, Notify, NotifyOn, Orcpt, Ret};
use smtp_courier::{Client, Envelope, Error, RecipientStatus, TransactionReport};
use support::*;

fn ehlo(extra: &str) -> String {
    format!("250-mx.example\r\n250-PIPELINING\r\n250 {extra}\r\n")
}

fn env(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// MAIL, the RCPTs and DATA of one pipelined transaction, as the server receives them.
fn group(to: &[&str]) -> String {
    let mut g = "MAIL FROM:<a@example.org>\r\n".to_string();
    for r in to {
        g.push_str(&format!("RCPT TO:<{r}>\r\n"));
    }
    g + "DATA\r\n"
}

/// The replies to `group`: 250 to MAIL, one per RCPT as given, 354.
fn replies(rcpt: &[&str]) -> String {
    let mut r = "250 ok\r\n".to_string();
    for x in rcpt {
        r.push_str(x);
        r.push_str("\r\n");
    }
    r + "354 go\r\n"
}

fn addresses(report: &TransactionReport) -> Vec<String> {
    report
        .recipients
        .iter()
        .map(|r| r.address.as_str().to_owned())
        .collect()
}

fn statuses(report: &TransactionReport) -> Vec<RecipientStatus> {
    report.recipients.iter().map(|r| r.status()).collect()
}

const FIVE: [&str; 5] = [
    "r1@example.net",
    "r2@example.net",
    "r3@example.net",
    "r4@example.net",
    "r5@example.net",
];

#[tokio::test]
async fn rcptmax_2_splits_five_recipients_into_three_transactions_one_report() {
    // A server advertising LIMITS RCPTMAX=2 (RFC 9422 §4.2), as Exim 4.97+ can.
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS RCPTMAX=2")),
        expect(group(&FIVE[0..2])),
        send(replies(&["250 ok", "250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 first\r\n"),
        expect(group(&FIVE[2..4])),
        send(replies(&["550 5.1.1 no such user", "250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 second\r\n"),
        expect(group(&FIVE[4..5])),
        send(replies(&["250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 third\r\n"),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&FIVE), b"hi").await.unwrap();
    assert_eq!(addresses(&report), FIVE, "the envelope's order");
    use RecipientStatus::*;
    assert_eq!(
        statuses(&report),
        [Delivered, Delivered, Permanent, Delivered, Delivered]
    );
    let r3 = &report.recipients[2];
    assert_eq!(r3.command(), Some(CommandKind::Rcpt));
    assert_eq!(r3.reply().unwrap().code().as_u16(), 550);
    // Each delivered recipient keeps its own transaction's reply; `data` is the last one.
    let replies: Vec<String> = report
        .recipients
        .iter()
        .filter_map(|r| r.result.as_ref().ok().map(|x| x.message()))
        .collect();
    assert_eq!(replies, ["first", "first", "second", "third"]);
    assert_eq!(report.data.as_ref().unwrap().message(), "third");
    assert!(report.error.is_none() && !report.not_sent());
    // Three MAIL commands: the LIMITS have no MAILMAX, so the connection goes on.
    assert_eq!(client.transactions_left(), None);
    assert!(!client.is_exhausted() && client.is_usable());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn without_limits_five_recipients_go_in_one_transaction() {
    // Twin of the above: the same envelope without LIMITS.
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("8BITMIME")),
        expect(group(&FIVE)),
        send(replies(&["250 ok"; 5])),
        data("hi\r\n.\r\n"),
        send("250 all\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&FIVE), b"hi").await.unwrap();
    assert!(report.all_delivered() && report.id().is_some());
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn rcptdomainmax_1_groups_interleaved_domains() {
    // RFC 9422 §4.3: at most one recipient domain per transaction; first fit keeps it to
    // two transactions for two domains. Streamed through `send`: the body is read once
    // and sent in each.
    let to = ["a@x.example", "b@y.example", "c@X.example", "d@y.example"];
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS RCPTDOMAINMAX=1")),
        expect(group(&[to[0], to[2]])),
        send(replies(&["250 ok", "250 ok"])),
        data("line\r\n.\r\n"),
        send("250 x\r\n"),
        expect(group(&[to[1], to[3]])),
        send(replies(&["250 ok", "450 4.2.0 try later"])),
        data("line\r\n.\r\n"),
        send("250 y\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send(&env(&to), &b"line\n"[..]).await.unwrap();
    assert_eq!(addresses(&report), to);
    use RecipientStatus::*;
    assert_eq!(
        statuses(&report),
        [Delivered, Delivered, Delivered, Transient]
    );
    let by: Vec<String> = report
        .recipients
        .iter()
        .map(|r| r.reply().unwrap().message())
        .collect();
    assert_eq!(by, ["x", "y", "x", "4.2.0 try later"]);
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn split_parts_ride_the_window_with_chunking() {
    // With PIPELINING and CHUNKING, the second part's MAIL follows the first part's
    // BDAT LAST in the same write (RFC 2920 §3.1), like any message of a batch.
    let bdat = |to: &[&str]| {
        let mut g = "MAIL FROM:<a@example.org>\r\n".to_string();
        for r in to {
            g.push_str(&format!("RCPT TO:<{r}>\r\n"));
        }
        g + "BDAT 4 LAST\r\nhi\r\n"
    };
    let all = [bdat(&FIVE[0..3]), bdat(&FIVE[3..5])].concat();
    let (io, server) = ScriptedServer::start(script![
        open("250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 LIMITS RCPTMAX=3\r\n"),
        expect(&all),
        send("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 one\r\n"),
        send("250 ok\r\n250 ok\r\n250 ok\r\n250 two\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&FIVE), b"hi").await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    let cmds: Vec<_> = report.recipients.iter().map(|r| r.command()).collect();
    assert_eq!(cmds, [Some(CommandKind::Bdat); 5]);
    assert_eq!(report.data.as_ref().unwrap().message(), "two");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn mailmax_2_sends_two_of_five_and_returns_three_not_sent() {
    // RFC 9422 §4.1: MAILMAX=2, so the third MAIL is never sent; QUIT follows at once.
    let to = |i: usize| format!("m{i}@example.net");
    let messages: Vec<(Envelope, Vec<u8>)> = (0..5)
        .map(|i| (env(&[to(i).as_str()]), b"hi".to_vec()))
        .collect();
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS MAILMAX=2")),
        expect(group(&[to(0).as_str()])),
        send(replies(&["250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 one\r\n"),
        expect(group(&[to(1).as_str()])),
        send(replies(&["250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 two\r\n"),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    assert_eq!(client.transactions_left(), Some(2));
    let reports = client
        .send_batch(messages.iter().map(|(e, b)| (e, &b[..])))
        .await;
    assert_eq!(reports.len(), 5);
    let sent: Vec<bool> = reports.iter().map(|r| !r.not_sent()).collect();
    assert_eq!(sent, [true, true, false, false, false]);
    assert!(reports[0].all_delivered() && reports[1].all_delivered());
    for r in &reports[2..] {
        assert!(r.id().is_none());
        let e = r.error.as_ref().unwrap();
        assert!(
            matches!(e, Error::ConnectionExhausted { mail_max: 2 }),
            "{e:?}"
        );
        assert!(e.is_transient() && !e.connection_usable());
        assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
    }
    assert_eq!(client.transactions_left(), Some(0));
    assert!(client.is_exhausted() && client.is_usable());
    // `send_bytes` on the exhausted connection: a not-sent report, nothing on the wire.
    let report = client.send_bytes(&messages[2].0, b"hi").await.unwrap();
    assert!(report.not_sent());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mailmax_counts_the_parts_of_split_messages() {
    // MAILMAX=3, RCPTMAX=2: the first message takes two transactions; the second, with
    // three recipients, needs two more but one is left, so it is not started.
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS MAILMAX=3 RCPTMAX=2")),
        expect(group(&FIVE[0..2])),
        send(replies(&["250 ok", "250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 one\r\n"),
        expect(group(&FIVE[2..3])),
        send(replies(&["250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 two\r\n"),
    ]);
    let first = env(&FIVE[0..3]);
    let second = env(&["s1@example.net", "s2@example.net", "s3@example.net"]);
    let third = env(&["z@example.net"]);
    let mut client = Client::open(io, config()).await.unwrap();
    let reports = client
        .send_batch([
            (&first, &b"hi"[..]),
            (&second, &b"hi"[..]),
            (&third, &b"hi"[..]),
        ])
        .await;
    assert!(reports[0].all_delivered(), "{:?}", reports[0]);
    // The third would fit in the one transaction left, but the order is kept: once one
    // message is not started, no later one is.
    assert!(reports[1].not_sent() && reports[2].not_sent());
    assert_eq!(client.transactions_left(), Some(1));
    drop(client);
    server.finish().await;

    // A message that can never fit (more parts than MAILMAX) still goes as far as it
    // fits on a fresh connection; the rest carry ConnectionExhausted.
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS MAILMAX=1 RCPTMAX=2")),
        expect(group(&FIVE[0..2])),
        send(replies(&["250 ok", "250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 one\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&FIVE), b"hi").await.unwrap();
    assert_eq!(report.delivered_count(), 2);
    assert!(!report.not_sent());
    for r in &report.recipients[2..] {
        let e = r.result.as_ref().unwrap_err();
        assert!(
            matches!(e, Error::ConnectionExhausted { mail_max: 1 }),
            "{e:?}"
        );
    }
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn dsn_parameters_go_on_mail_and_rcpt() {
    // A DSN server (Postfix, Exim): RET and ENVID on MAIL, NOTIFY and ORCPT on each RCPT,
    // xtext-encoded.
    let original: Mailbox = "first+1@example.org".parse().unwrap();
    let envelope = env(&["b@example.net", "c=2@example.net"])
        .with_notify(Notify::On(NotifyOn::SUCCESS | NotifyOn::FAILURE))
        .with_orcpt()
        .unwrap()
        .with_recipient_orcpt(0, Orcpt::rfc822(&original).unwrap())
        .unwrap()
        .with_dsn_ret(Ret::Full)
        .with_dsn_envid(EnvId::new("q+1").unwrap());
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("DSN")),
        expect(concat!(
            "MAIL FROM:<a@example.org> RET=FULL ENVID=q+2B1\r\n",
            "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;first+2B1@example.org\r\n",
            "RCPT TO:<c=2@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+3D2@example.net\r\n",
            "DATA\r\n",
        )),
        send(replies(&["250 ok", "250 ok"])),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&envelope, b"hi").await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    client.quit().await.unwrap();
    server.finish().await;

    // Twin: a server without DSN gets nothing of the message, and the report says why.
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("8BITMIME")),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&envelope, b"hi").await.unwrap();
    let e = report.error.as_ref().unwrap();
    assert!(matches!(e, Error::Extension("DSN")), "{e:?}");
    assert!(e.is_permanent() && report.is_failed() && !report.not_sent());
    assert!(client.is_usable());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mailmax_in_a_window_sends_nothing_after_the_last_allowed() {
    // With PIPELINING and CHUNKING the two allowed transactions go in one write; the
    // third MAIL never follows them.
    let bdat =
        |to: &str| format!("MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\nBDAT 4 LAST\r\nhi\r\n");
    let to: Vec<String> = (0..5).map(|i| format!("w{i}@example.net")).collect();
    let messages: Vec<(Envelope, Vec<u8>)> = to
        .iter()
        .map(|t| (env(&[t.as_str()]), b"hi".to_vec()))
        .collect();
    let (io, server) = ScriptedServer::start(script![
        open("250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 LIMITS MAILMAX=2\r\n"),
        expect(bdat(&to[0]) + &bdat(&to[1])),
        send("250 ok\r\n250 ok\r\n250 one\r\n250 ok\r\n250 ok\r\n250 two\r\n"),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let reports = client
        .send_batch(messages.iter().map(|(e, b)| (e, &b[..])))
        .await;
    let sent: Vec<bool> = reports.iter().map(|r| r.all_delivered()).collect();
    assert_eq!(sent, [true, true, false, false, false]);
    assert!(reports[2..].iter().all(TransactionReport::not_sent));
    assert!(!reports[0].not_sent());
    assert!(client.is_exhausted());
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn split_message_delivered_to_nobody_has_the_first_transient_error() {
    // RCPTMAX=1: each recipient in its own transaction, both refused. As for one
    // transaction, the message's error is the first transient refusal.
    let to = ["p@example.net", "t@example.net"];
    let (io, server) = ScriptedServer::start(script![
        open(&ehlo("LIMITS RCPTMAX=1")),
        expect(group(&to[0..1])),
        send("250 ok\r\n550 no\r\n554 no valid recipients\r\n"),
        expect("RSET\r\n".to_string() + &group(&to[1..2])),
        send("250 reset\r\n250 ok\r\n451 later\r\n554 no valid recipients\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&to), b"hi").await.unwrap();
    assert!(report.is_failed());
    let e = report.error.as_ref().unwrap();
    assert_eq!(e.code().map(|c| c.as_u16()), Some(451), "{e:?}");
    use RecipientStatus::*;
    assert_eq!(statuses(&report), [Permanent, Transient]);
    assert!(report.data.is_none());
    drop(client);
    server.finish().await;
}
