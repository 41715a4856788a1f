//! PIPELINING (RFC 2920) and per-recipient outcomes through the async `Client`: batch
//! ordering, refusals at every step, hang-ups at the worst moments, and lock-step mode.

#[macro_use]
mod support;

use smtp_courier::proto::CommandKind;
use smtp_courier::{Client, ClientConfig, Envelope, Error, RecipientStatus, TransactionReport};
use support::*;

fn env(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// The pipelined group for `to`, as the server receives it.
fn group(to: &[&str]) -> String {
    let mut g = "MAIL FROM:<a@example.org>\r\n".to_string();
    for r in to {
        g.push_str(&format!("RCPT TO:<{r}>\r\n"));
    }
    g.push_str("DATA\r\n");
    g
}

/// Runs `steps` (after the opening with `ehlo`), sends `body` to `to`, drops the client and
/// checks the script; returns the report and what the server got.
async fn transact(
    config: ClientConfig,
    ehlo: &str,
    steps: Vec<Step>,
    to: &[&str],
    body: &[u8],
) -> (TransactionReport, Transcript) {
    let (io, server) = ScriptedServer::start(script![open(ehlo), steps]);
    let mut client = Client::open(io, config).await.unwrap();
    let report = client.send_bytes(&env(to), body).await.unwrap();
    drop(client);
    (report, server.finish().await)
}

#[track_caller]
fn assert_refused(
    report: &TransactionReport,
    i: usize,
    command: CommandKind,
    code: u16,
    status: RecipientStatus,
) {
    let r = &report.recipients[i];
    let e = r.result.as_ref().expect_err("refused");
    assert_eq!(e.command(), Some(command), "recipient {i}: {e}");
    assert_eq!(
        e.code().map(|c| c.as_u16()),
        Some(code),
        "recipient {i}: {e}"
    );
    assert_eq!(r.status(), status, "recipient {i}: {e}");
}

#[tokio::test]
async fn group_goes_out_in_one_write() {
    // RFC 2920 §3.1: MAIL, every RCPT and DATA in one group; a server with delayed ACKs
    // would otherwise add a round trip per command.
    let to = ["b@example.net", "c@example.net", "d@example.net"];
    let g = group(&to);
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect(&g),
        send("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
    ]);
    let log = io.log();
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&to), b"hi").await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    let t = server.finish().await;
    let mail_at = t.received.windows(4).position(|w| w == b"MAIL").unwrap();
    let w = log.write_covering(mail_at).unwrap();
    assert!(
        w.offset == mail_at && w.offered >= g.len(),
        "group split across writes: {w:?}"
    );

    // Twin: without PIPELINING each command is its own write, after the previous reply.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
    ]);
    let log = io.log();
    let mut client = Client::open(io, config()).await.unwrap();
    assert!(
        client
            .send_bytes(&env(&["b@example.net"]), b"hi")
            .await
            .unwrap()
            .all_delivered()
    );
    drop(client);
    let t = server.finish().await;
    let mail_at = t.received.windows(4).position(|w| w == b"MAIL").unwrap();
    assert_eq!(
        log.write_covering(mail_at).unwrap().offered,
        "MAIL FROM:<a@example.org>\r\n".len()
    );
}

#[tokio::test]
async fn server_answering_as_it_reads_does_not_deadlock() {
    // Servers (Postfix, Exim) answer each pipelined command as they read it. With a pipe
    // smaller than the group, a client that wrote the whole group before reading would
    // block on its write while the server blocks on its replies.
    let to: Vec<String> = (0..60).map(|i| format!("user{i}@example.net")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let mut steps = vec![
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
    ];
    for r in &to {
        steps.push(expect(format!("RCPT TO:<{r}>\r\n")));
        steps.push(send(
            "250 2.1.5 ok, and a reply text long enough to fill the pipe\r\n",
        ));
    }
    steps.push(expect("DATA\r\n"));
    steps.push(send("354 go\r\n"));
    steps.push(data("hi\r\n.\r\n"));
    steps.push(send("250 queued\r\n"));
    let (report, t) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi").await;
    assert!(report.all_delivered());
    assert!(t.received.len() > 20 * PIPE);
}

#[tokio::test]
async fn rcpt_refusals_mixed_with_accepted() {
    // Greylisting (451), unknown user (550) and a recipient limit (552, RFC 5321
    // §4.5.3.1.10: treated as 452) in one batch, as Postfix gives them.
    let to = [
        "ok1@example.net",
        "grey@example.net",
        "gone@example.net",
        "many@example.net",
        "ok2@example.net",
    ];
    let steps = vec![
        expect(group(&to)),
        send(
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n451 4.7.1 greylisted, try again later\r\n\
             550 5.1.1 user unknown\r\n552 5.5.3 too many recipients\r\n250 2.1.5 ok\r\n354 go\r\n",
        ),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued as ABC\r\n"),
    ];
    let (report, _) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.recipients[0].status(), RecipientStatus::Delivered);
    assert_refused(
        &report,
        1,
        CommandKind::Rcpt,
        451,
        RecipientStatus::Transient,
    );
    assert_refused(
        &report,
        2,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert_refused(
        &report,
        3,
        CommandKind::Rcpt,
        552,
        RecipientStatus::Transient,
    );
    assert_eq!(report.recipients[4].status(), RecipientStatus::Delivered);
    assert_eq!(report.delivered().count(), 2);
    assert_eq!(report.data.as_ref().unwrap().code().as_u16(), 250);
}

#[tokio::test]
async fn mail_refused_550_and_451() {
    // Postfix refusing the sender (550 blocklisted / 451 temporary lookup failure), then
    // answering the rest of the group with 503 "need MAIL" / "need RCPT".
    for (code, status) in [
        (550, RecipientStatus::Permanent),
        (451, RecipientStatus::Transient),
    ] {
        let to = ["b@example.net", "c@example.net"];
        let steps = vec![
            expect(group(&to)),
            send(format!(
                "{code} sender refused\r\n503 5.5.1 Error: need MAIL command\r\n\
                 503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n"
            )),
        ];
        let (report, t) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
        for i in 0..2 {
            assert_refused(&report, i, CommandKind::Mail, code, status);
        }
        assert_eq!(
            report.error.as_ref().and_then(Error::command),
            Some(CommandKind::Mail)
        );
        assert!(t.data.is_empty());
    }
    // Twin: the same group accepted.
    let steps = vec![
        expect(group(&["b@example.net"])),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 ok\r\n"),
    ];
    let (report, _) = transact(
        config(),
        EHLO_PIPELINING,
        steps,
        &["b@example.net"],
        b"hi\r\n",
    )
    .await;
    assert!(report.all_delivered());
}

#[tokio::test]
async fn data_refused_554_and_451() {
    // DATA refused although recipients were accepted (a policy check at DATA, as Postfix
    // smtpd_data_restrictions, or a temporary queue-file error).
    for (code, status) in [
        (554, RecipientStatus::Permanent),
        (451, RecipientStatus::Transient),
    ] {
        let to = ["b@example.net", "gone@example.net"];
        let steps = vec![
            expect(group(&to)),
            send(format!(
                "250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n{code} no data for you\r\n"
            )),
            silence(50),
        ];
        let (report, t) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
        assert_refused(&report, 0, CommandKind::Data, code, status);
        assert_refused(
            &report,
            1,
            CommandKind::Rcpt,
            550,
            RecipientStatus::Permanent,
        );
        assert!(t.data.is_empty(), "no message data after a refused DATA");
    }
    // The same codes as the final reply, after the data.
    for (code, status) in [
        (554, RecipientStatus::Permanent),
        (451, RecipientStatus::Transient),
    ] {
        let steps = vec![
            expect(group(&["b@example.net"])),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            data("hi\r\n.\r\n"),
            send(format!("{code} content refused\r\n")),
        ];
        let (report, _) = transact(
            config(),
            EHLO_PIPELINING,
            steps,
            &["b@example.net"],
            b"hi\r\n",
        )
        .await;
        assert_refused(&report, 0, CommandKind::DataEnd, code, status);
    }
}

#[tokio::test]
async fn all_recipients_refused_sends_no_data() {
    // A backscatter-protected server refusing every recipient.
    let to = ["x@example.net", "y@example.net"];
    // Lock-step: no DATA at all. The transcript shows it byte for byte.
    let steps = vec![
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 ok\r\n"),
        expect("RCPT TO:<x@example.net>\r\n"),
        send("550 5.1.1 unknown\r\n"),
        expect("RCPT TO:<y@example.net>\r\n"),
        send("550 5.1.1 unknown\r\n"),
        silence(100),
    ];
    let (report, t) = transact(config(), EHLO_PLAIN, steps, &to, b"hi\r\n").await;
    assert_eq!(
        show(&t.received),
        show(b"EHLO localhost\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net>\r\n")
    );
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert_refused(
        &report,
        1,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert!(report.data.is_none() && report.error.is_some());

    // Twin: one accepted recipient, and DATA and the data follow.
    let steps = vec![
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 ok\r\n"),
        expect("RCPT TO:<x@example.net>\r\n"),
        send("550 5.1.1 unknown\r\n"),
        expect("RCPT TO:<y@example.net>\r\n"),
        send("250 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 ok\r\n"),
    ];
    let (report, _) = transact(config(), EHLO_PLAIN, steps, &to, b"hi\r\n").await;
    assert_eq!(report.delivered().count(), 1);

    // Pipelined: DATA was in the group; the server refuses it, and no data follows.
    let steps = vec![
        expect(group(&to)),
        send(
            "250 ok\r\n550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n",
        ),
        silence(100),
    ];
    let (report, t) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
    assert!(t.data.is_empty());
    assert!(t.received.ends_with(b"DATA\r\n"));
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
}

#[tokio::test]
async fn data_354_without_accepted_recipients_gets_empty_data() {
    // A server that answers 354 to a pipelined DATA although it refused every recipient
    // (RFC 2920 §3.1 says it should not): the client ends the data at once, sending no
    // message content.
    let steps = vec![
        expect(group(&["x@example.net"])),
        send("250 ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n"),
        data(".\r\n"),
        send("554 5.5.1 no valid recipients\r\n"),
    ];
    let (report, t) = transact(
        config(),
        EHLO_PIPELINING,
        steps,
        &["x@example.net"],
        b"secret\r\n",
    )
    .await;
    assert_eq!(t.data, [b".\r\n".to_vec()]);
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
}

#[tokio::test]
async fn mail_550_then_hang_up_stays_permanent() {
    // A server that refuses the sender and hangs up without answering the rest of the
    // group (mox's pipelining tests model this): the 550 already read decides.
    for (reply, code, status) in [
        (
            "550 5.7.1 sender blocked\r\n",
            550,
            RecipientStatus::Permanent,
        ),
        ("451 4.3.0 try later\r\n", 451, RecipientStatus::Transient),
    ] {
        let to = ["b@example.net", "c@example.net"];
        let steps = vec![
            expect("MAIL FROM:<a@example.org>\r\n"),
            send(reply),
            close(),
        ];
        let (report, _) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
        assert_refused(&report, 0, CommandKind::Mail, code, status);
        assert_refused(&report, 1, CommandKind::Mail, code, status);
    }
    // An RCPT refusal read before the hang-up stays too; the unanswered one is transient.
    let to = ["gone@example.net", "c@example.net"];
    let steps = vec![
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<gone@example.net>\r\n"),
        send("250 ok\r\n550 5.1.1 unknown\r\n"),
        close(),
    ];
    let (report, _) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert!(
        matches!(report.recipients[1].result, Err(Error::Closed { .. })),
        "{report:?}"
    );
    // Twin: a hang-up before any reply is transient for everyone.
    let steps = vec![expect("MAIL FROM:<a@example.org>\r\n"), close()];
    let (report, _) = transact(config(), EHLO_PIPELINING, steps, &to, b"hi\r\n").await;
    for r in &report.recipients {
        assert!(
            matches!(
                r.result,
                Err(Error::Closed {
                    command: Some(CommandKind::Mail)
                })
            ),
            "{r:?}"
        );
        assert_eq!(r.status(), RecipientStatus::Transient);
    }
}

#[tokio::test]
async fn close_after_final_dot_is_never_success() {
    // A server that crashes (or a NAT that drops the connection) after receiving the data
    // but before its reply: the message may or may not have been queued.
    let steps = vec![
        expect(group(&["b@example.net", "gone@example.net"])),
        send("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        close(),
    ];
    let (report, _) = transact(
        config(),
        EHLO_PIPELINING,
        steps,
        &["b@example.net", "gone@example.net"],
        b"hi\r\n",
    )
    .await;
    let r = &report.recipients[0];
    assert!(
        matches!(
            r.result,
            Err(Error::Closed {
                command: Some(CommandKind::DataEnd)
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.status(), RecipientStatus::Transient);
    assert_refused(
        &report,
        1,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert!(report.data.is_none());
    assert!(report.error.as_ref().unwrap().is_transient());

    // Twin: the reply arrives, then the close.
    let steps = vec![
        expect(group(&["b@example.net"])),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
        close(),
    ];
    let (report, _) = transact(
        config(),
        EHLO_PIPELINING,
        steps,
        &["b@example.net"],
        b"hi\r\n",
    )
    .await;
    assert!(report.all_delivered(), "{report:?}");
}

#[tokio::test]
async fn service_closing_421_mid_group() {
    // Postfix after smtpd_hard_error_limit: "421 4.7.0 Error: too many errors" and close.
    let to = ["b@example.net", "c@example.net"];
    let steps = vec![
        expect(group(&to)),
        send("250 ok\r\n421 4.7.0 mx.example Error: too many errors\r\n"),
        close(),
    ];
    let (io, server) = ScriptedServer::start(script![open(EHLO_PIPELINING), steps]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&to), b"hi\r\n").await.unwrap();
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        421,
        RecipientStatus::Transient,
    );
    assert_eq!(report.recipients[1].status(), RecipientStatus::Transient);
    assert!(!client.is_usable());
    assert!(client.send_bytes(&env(&to), b"hi\r\n").await.is_err());
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn rset_joins_the_next_group_after_a_failure() {
    // After a refused transaction the next group starts with RSET (RFC 2920 §3.1 allows
    // RSET inside a group); its reply is consumed and never taken for MAIL's.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect(group(&["gone@example.net"])),
        send("250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"),
        expect(format!("RSET\r\n{}", group(&["b@example.net"]))),
        send("250 2.0.0 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let first = client
        .send_bytes(&env(&["gone@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(first.error.is_some());
    let second = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(second.all_delivered(), "{second:?}");
    drop(client);
    server.finish().await;

    // Negative: an RSET refused (4yz) does not shift the replies; MAIL's own reply decides.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect(group(&["gone@example.net"])),
        send("550 5.7.1 no\r\n503 need MAIL\r\n503 need MAIL\r\n"),
        expect(format!("RSET\r\n{}", group(&["b@example.net"]))),
        send("451 4.3.0 busy\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let first = client
        .send_bytes(&env(&["gone@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(first.is_failed(), "{first:?}");
    let second = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(second.all_delivered(), "{second:?}");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn replies_after_a_421_mid_group_are_ignored_and_no_data_is_sent() {
    // The server wrote the rest of the group's replies before it decided to close: the
    // 354 after the 421 must not start the data. A 550 read before the 421 stays
    // permanent; the recipient accepted before it is transient (no reply to the data).
    let to = ["b@example.net", "gone@example.net", "c@example.net"];
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect(group(&to)),
        send("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n421 4.3.2 closing\r\n"),
        send("354 go ahead\r\n"),
        // The QUIT the caller asks for, and nothing before it (no data).
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client.send_bytes(&env(&to), b"hi\r\n").await.unwrap();
    assert!(report.is_failed() && report.data.is_none(), "{report:?}");
    assert_eq!(report.recipients[0].status(), RecipientStatus::Transient);
    assert_refused(
        &report,
        0,
        CommandKind::Rcpt,
        421,
        RecipientStatus::Transient,
    );
    assert_refused(
        &report,
        1,
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert_refused(
        &report,
        2,
        CommandKind::Rcpt,
        421,
        RecipientStatus::Transient,
    );
    assert!(!client.is_usable());
    let err = client.noop().await.unwrap_err();
    assert!(matches!(err, Error::ServerClosing { .. }), "{err:?}");
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert!(t.data.is_empty());
}
