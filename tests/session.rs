//! The async `Client` against scripted servers: opening, fallbacks, RSET, QUIT, several
//! transactions, malformed and hostile replies, timeouts, and the message data on the wire.

#[macro_use]
mod support;
#[path = "session_cases/replies.rs"]
mod replies;

use std::time::Duration;

use smtp_courier::proto::body::{BodyError, LineEndings};
use smtp_courier::proto::reply::ReplyError;
use smtp_courier::proto::{CommandKind, Phase, Timeouts};
use smtp_courier::{Client, Envelope, Error, ProtocolError, RecipientStatus};
use support::*;

fn env(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// A complete pipelined transaction for one recipient with `body_wire` as the data.
fn pipelined_tx(to: &str, body_wire: &str) -> Vec<Step> {
    vec![
        expect(format!(
            "MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\nDATA\r\n"
        )),
        send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        data(body_wire),
        send("250 2.0.0 queued\r\n"),
    ]
}

#[track_caller]
fn assert_protocol(err: &Error, command: Option<CommandKind>, error: ProtocolError) {
    match err {
        Error::Protocol {
            command: c,
            error: e,
        } => {
            assert_eq!((*c, e), (command, &error), "{err}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(err.is_transient());
}

// --- greeting ----------------------------------------------------------------------------

#[tokio::test]
async fn ehlo_refused_falls_back_to_helo() {
    // An RFC 821-only server (old appliances) that does not know EHLO.
    let (io, server) = ScriptedServer::start(script![
        send("220 old.example SMTP\r\n"),
        expect("EHLO localhost\r\n"),
        send("502 5.5.2 Error: command not recognized\r\n"),
        expect("HELO localhost\r\n"),
        send("250 old.example\r\n"),
        // No extensions after HELO: lock-step, no SIZE.
        expect("MAIL FROM:<a@example.org>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 ok\r\n"),
        expect("QUIT\r\n"),
        send("221 bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    assert!(client.capabilities().is_none());
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn ehlo_and_helo_refused() {
    // A server that refuses both greetings' commands (a 550 policy block on the name).
    let (io, server) = ScriptedServer::start(script![
        send("220 mx.example\r\n"),
        expect("EHLO localhost\r\n"),
        send("500 5.5.1 unknown\r\n"),
        expect("HELO localhost\r\n"),
        send("550 5.7.1 bad HELO name\r\n"),
        silence(50),
    ]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Reply {
                command: CommandKind::Helo,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_permanent());
    server.finish().await;
}

#[tokio::test]
async fn rset_before_second_transaction_in_lock_step() {
    // Postfix answers "503 5.5.1 Error: nested MAIL command" to a MAIL sent while a
    // transaction is still open: after the refused one, the client resets first, and
    // without PIPELINING it waits for the RSET reply before MAIL.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT TO:<gone@example.net>\r\n"),
        send("550 5.1.1 no such user\r\n"),
        // No DATA (every recipient was refused): RSET is the next thing on the wire.
        expect("RSET\r\n"),
        silence(50),
        send("250 2.0.0 ok\r\n"),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        send("250 2.1.5 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("second\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
        // Success: no RSET before the third.
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        send("250 2.1.5 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("third\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let first = client
        .send_bytes(&env(&["gone@example.net"]), b"first\r\n")
        .await
        .unwrap();
    assert_eq!(first.recipients[0].status(), RecipientStatus::Permanent);
    assert!(first.data.is_none());
    let second = client
        .send_bytes(&env(&["b@example.net"]), b"second\r\n")
        .await
        .unwrap();
    assert!(second.all_delivered(), "{second:?}");
    let third = client
        .send_bytes(&env(&["b@example.net"]), b"third\r\n")
        .await
        .unwrap();
    assert!(third.all_delivered(), "{third:?}");
    drop(client);
    let t = server.finish().await;
    assert_eq!(
        t.data,
        [b"second\r\n.\r\n".to_vec(), b"third\r\n.\r\n".to_vec()]
    );
}

#[tokio::test]
async fn many_transactions_on_one_connection() {
    // A relay taking a queue run of many messages over one connection, some refused.
    let mut steps = open(EHLO_PIPELINING);
    let mut need_rset = false;
    for i in 0..8 {
        let rset = if need_rset { "RSET\r\n" } else { "" };
        let rset_reply = if need_rset { "250 ok\r\n" } else { "" };
        steps.push(expect(format!(
            "{rset}MAIL FROM:<a@example.org>\r\nRCPT TO:<u{i}@example.net>\r\nDATA\r\n"
        )));
        if i % 3 == 2 {
            steps.push(send(format!(
                "{rset_reply}250 ok\r\n550 5.1.1 no u{i}\r\n554 5.5.1 no valid recipients\r\n"
            )));
            need_rset = true;
        } else {
            steps.push(send(format!("{rset_reply}250 ok\r\n250 ok\r\n354 go\r\n")));
            steps.push(data(format!("message {i}\r\n.\r\n")));
            steps.push(send(format!("250 2.0.0 queued as {i}\r\n")));
            need_rset = false;
        }
    }
    steps.push(expect("QUIT\r\n"));
    steps.push(send("221 2.0.0 bye\r\n"));
    let (io, server) = ScriptedServer::start(steps);
    let mut client = Client::open(io, config()).await.unwrap();
    for i in 0..8 {
        let to = format!("u{i}@example.net");
        let report = client
            .send_bytes(&env(&[to.as_str()]), format!("message {i}\r\n").as_bytes())
            .await
            .unwrap();
        let status = report.recipients[0].status();
        if i % 3 == 2 {
            assert_eq!(status, RecipientStatus::Permanent, "{i}");
            assert_eq!(report.recipients[0].command(), Some(CommandKind::Rcpt));
        } else {
            assert_eq!(status, RecipientStatus::Delivered, "{i}");
            assert_eq!(
                report.data.unwrap().message(),
                format!("2.0.0 queued as {i}")
            );
        }
        assert!(client.is_usable());
    }
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert_eq!(t.data.len(), 6);
}

#[tokio::test]
async fn quit_221_and_close_after_quit() {
    // A polite server: 221, then it closes.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("QUIT\r\n"),
        send("221 2.0.0 bye\r\n"),
        close(),
    ]);
    let client = Client::open(io, config()).await.unwrap();
    client.quit().await.unwrap();
    server.finish().await;

    // A server (Exim under load) that closes on QUIT without answering: still fine.
    let (io, server) =
        ScriptedServer::start(script![open(EHLO_PLAIN), expect("QUIT\r\n"), close()]);
    let client = Client::open(io, config()).await.unwrap();
    client.quit().await.unwrap();
    server.finish().await;

    // Negative: a refusal of QUIT is reported.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("QUIT\r\n"),
        send("500 5.5.1 what?\r\n"),
    ]);
    let client = Client::open(io, config()).await.unwrap();
    let err = client.quit().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Reply {
                command: CommandKind::Quit,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn rset_and_noop_on_request() {
    // The replies a Postfix server gives to RSET and NOOP.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("RSET\r\n"),
        send("250 2.0.0 Ok\r\n"),
        expect("NOOP\r\n"),
        send("250 2.0.0 Ok\r\n"),
        expect("RSET\r\n"),
        send("421 4.4.2 shutting down\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    client.rset().await.unwrap();
    assert_eq!(client.noop().await.unwrap().message(), "2.0.0 Ok");
    let err = client.rset().await.unwrap_err();
    assert!(err.is_transient() && !err.connection_usable(), "{err:?}");
    assert!(!client.is_usable());
    drop(client);
    server.finish().await;
}

// --- unsolicited replies ------------------------------------------------------------------

#[tokio::test]
async fn stray_reply_after_transaction_is_never_paired() {
    // A buggy proxy that repeats the final reply of a transaction.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued\r\n250 2.0.0 queued\r\n"),
        // The client must not send anything more: not NOOP, not MAIL.
        silence(100),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(
        report.all_delivered(),
        "the transaction itself was answered: {report:?}"
    );
    let err = client.noop().await.unwrap_err();
    assert_protocol(&err, None, ProtocolError::Unsolicited);
    assert!(
        client
            .send_bytes(&env(&["c@example.net"]), b"x")
            .await
            .is_err()
    );
    drop(client);
    server.finish().await;

    // Twin: one final reply, and the NOOP after it gets its own answer.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
        expect("NOOP\r\n"),
        send("250 2.0.0 noop\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    assert!(
        client
            .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(client.noop().await.unwrap().message(), "2.0.0 noop");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn unsolicited_reply_while_idle() {
    // A server that speaks while no command is outstanding (a reply meant for someone
    // else, or a misconfigured load balancer health check). It arrives while the client is
    // idle; the next operation must not take it as its answer.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        sleep(20),
        send("250 2.0.0 Ok\r\n"),
        silence(150),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let err = client.noop().await.unwrap_err();
    assert_protocol(&err, None, ProtocolError::Unsolicited);
    drop(client);
    server.finish().await;

    // Twin: the same reply to an actual NOOP.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("NOOP\r\n"),
        send("250 2.0.0 Ok\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(client.noop().await.unwrap().code().as_u16(), 250);
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn idle_timeout_421_then_close() {
    // Postfix after smtpd_timeout on an idle connection: "421 4.4.2 … Error: timeout
    // exceeded", then it closes. The next transaction fails before sending anything.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        send("421 4.4.2 mx.example Error: timeout exceeded\r\n"),
        close(),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let err = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, Error::ServerClosing { .. }), "{err:?}");
    assert_eq!(err.code().map(|c| c.as_u16()), Some(421));
    assert!(
        err.reply().unwrap().message().contains("timeout exceeded"),
        "{err}"
    );
    assert!(!err.connection_usable());
    assert!(!client.is_usable());
    drop(client);
    server.finish().await;

    // Twin: the same pause without the server timing out.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        client
            .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
            .await
            .unwrap()
            .all_delivered()
    );
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn second_reply_in_lock_step_is_not_taken_for_the_next_command() {
    // A server that answers MAIL twice. Without PIPELINING the RCPT is sent only after
    // the MAIL reply, so the second reply, which came with the first, cannot be its answer.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n"),
        silence(100),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    let r = &report.recipients[0];
    assert!(
        matches!(
            &r.result,
            Err(Error::Protocol {
                error: ProtocolError::Unsolicited,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.status(), RecipientStatus::Transient);
    drop(client);
    server.finish().await;

    // Twin: one reply per command, each after its command.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        send("250 2.1.5 ok\r\n"),
        expect("DATA\r\n"),
        send("354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 2.0.0 queued\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    assert!(
        client
            .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
            .await
            .unwrap()
            .all_delivered()
    );
    drop(client);
    server.finish().await;
}

#[tokio::test]
#[should_panic(expected = "mismatch")]
async fn harness_fails_on_wrong_bytes() {
    // The fixture itself: a script expecting HELO fails when the client sends EHLO.
    let (io, server) = ScriptedServer::start(script![
        send("220 mx.example\r\n"),
        expect("HELO localhost\r\n")
    ]);
    let _ = Client::open(io, config()).await;
    server.finish().await;
}

#[tokio::test]
#[should_panic(expected = "bytes after the end of the script")]
async fn harness_fails_on_extra_bytes() {
    // The fixture itself: bytes the script did not expect fail the test.
    let (io, server) = ScriptedServer::start(script![send("220 mx.example\r\n")]);
    let _ = Client::open(
        io,
        config().timeouts(Timeouts::all(Duration::from_millis(100))),
    )
    .await;
    server.finish().await;
}

// --- the message data on the wire ---------------------------------------------------------

#[tokio::test]
async fn dot_stuffing_and_bare_lf_on_the_wire() {
    // What a server receives: leading dots doubled (RFC 5321 §4.5.2), every bare LF and
    // bare CR turned into CRLF, and no early end of data for "\n.\n" (SMTP smuggling).
    let message =
        b"Subject: dots\n\n.leading dot\n..two\nsmuggle\n.\nMAIL FROM:<x@y>\r\nlast\rline";
    let wire = "Subject: dots\r\n\r\n..leading dot\r\n...two\r\nsmuggle\r\n..\r\nMAIL FROM:<x@y>\r\nlast\r\nline\r\n.\r\n";
    let size = 79; // the message with CRLF line endings and a final CRLF, before stuffing
    let (io, server) = ScriptedServer::start(script![
        open("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100000\r\n"),
        expect(format!(
            "MAIL FROM:<a@example.org> SIZE={size}\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
        )),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data(wire),
        send("250 ok\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), message)
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn strict_line_endings_refuse_bare_lf_before_sending() {
    // A submission client configured like mox: bare LF is refused, not repaired.
    let strict = config().line_endings(LineEndings::Strict);
    let (io, server) = ScriptedServer::start(script![open(EHLO_PIPELINING), silence(100)]);
    let mut client = Client::open(io, strict.clone()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"a\r\nb\nc\r\n")
        .await
        .unwrap();
    assert!(
        matches!(report.error, Some(Error::Body(BodyError::BareLf(4)))),
        "{report:?}"
    );
    assert_eq!(report.recipients[0].status(), RecipientStatus::Permanent);
    assert!(client.is_usable(), "nothing was sent, the session goes on");
    drop(client);
    let t = server.finish().await;
    assert_eq!(t.received, b"EHLO localhost\r\n");

    // Twin: CRLF-only content goes through in strict mode.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        pipelined_tx("b@example.net", "a\r\nb\r\nc\r\n.\r\n")
    ]);
    let mut client = Client::open(io, strict).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"a\r\nb\r\nc\r\n")
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn body_is_streamed_and_terminator_goes_with_last_block() {
    // A large message from a reader: streamed in blocks, the end of data written together
    // with the last block (so a server with delayed ACKs does not wait for a lone ".").
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrst\r\n"; // 68
    let body = line.repeat(1500); // 102000 bytes: more than one 64 KiB block
    let mut wire = body.clone();
    wire.push_str(".\r\n");
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        pipelined_tx("b@example.net", &wire)
    ]);
    let log = io.log();
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send(&env(&["b@example.net"]), body.as_bytes())
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    let t = server.finish().await;

    // Where the data and its terminator sit in the client's byte stream.
    let data_start = t.received.len() - wire.len();
    let term = t.received.len() - 3;
    let last_line = term - line.len();
    let w = log.write_covering(term).expect("terminator written");
    assert!(
        w.offset <= last_line,
        "the terminator went out without the last block of content: {w:?}"
    );
    // And the content was not all buffered into one write: the first block went earlier.
    let first = log.write_covering(data_start).unwrap();
    assert!(
        first.offered < wire.len(),
        "whole message in one write: {first:?}"
    );
}

/// A server that reads the message data slowly (a tarpit, or a congested link): each
/// block goes through well within the per-block limit, but with a whole-transfer deadline
/// set the transfer times out as `Phase::DataTransfer`, and no terminator is sent. Twin:
/// the same slow server without that deadline gets the whole message.
#[tokio::test]
async fn data_transfer_deadline_bounds_a_slow_reader() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn slow_server(mut io: tokio::io::DuplexStream) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        io.write_all(b"220 slow ESMTP\r\n").await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"EHLO localhost\r\n") {
            let n = io.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        io.write_all(b"250-slow\r\n250 PIPELINING\r\n")
            .await
            .unwrap();
        got.clear();
        while !got.ends_with(b"DATA\r\n") {
            let n = io.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        io.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
            .await
            .unwrap();
        got.clear();
        // About 400 KB/s: 4 KiB every 10 ms.
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.ends_with(b"\r\n.\r\n") {
                let _ = io.write_all(b"250 queued\r\n").await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        got
    }

    // 312 KB of 78-octet lines: about 0.8 s at the server's pace.
    let body = format!("{}\r\n", "x".repeat(76)).repeat(4_000);
    for deadline in [Some(Duration::from_millis(150)), None] {
        let (client_io, server_io) = tokio::io::duplex(4096);
        let server = tokio::spawn(slow_server(server_io));
        let mut timeouts = Timeouts::all(Duration::from_secs(10));
        timeouts.data_transfer = deadline;
        let config = smtp_courier::ClientConfig::default().timeouts(timeouts);
        let mut client = Client::open(client_io, config).await.unwrap();
        let report = client
            .send_bytes(&env(&["b@example.net"]), body.as_bytes())
            .await
            .unwrap();
        drop(client);
        let received = server.await.unwrap();
        match deadline {
            Some(_) => {
                let err = report.recipients[0].result.as_ref().unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Timeout {
                            phase: Phase::DataTransfer,
                            ..
                        }
                    ),
                    "{err:?}"
                );
                assert!(err.is_transient());
                assert!(
                    !received.ends_with(b"\r\n.\r\n"),
                    "no terminator after a timeout"
                );
            }
            None => {
                assert!(report.all_delivered(), "{report:?}");
                assert_eq!(received.len(), body.len() + 3);
            }
        }
    }
}
