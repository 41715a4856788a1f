//! A server closing the session through the async `Client`: a 421 anywhere (RFC 5321
//! §3.8) leaves nothing but an optional QUIT to send, and a refused greeting gets a QUIT
//! (§3.1) bounded by the command deadline.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use smtp_courier::proto::{CommandKind, Timeouts};
use smtp_courier::{Client, Envelope, Error, RecipientStatus};
use support::*;

fn env(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// Every later call fails with the server's 421 and sends nothing.
async fn assert_later_calls_fail<S>(client: &mut Client<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assert!(!client.is_usable());
    let closing = |e: &Error| {
        matches!(e, Error::ServerClosing { .. }) && e.code().is_some_and(|c| c.as_u16() == 421)
    };
    let err = client
        .send_bytes(&env(&["x@example.net"]), b"hi\r\n")
        .await
        .unwrap_err();
    assert!(
        closing(&err) && err.is_transient() && !err.connection_usable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("closing"), "{err}");
    assert!(client.noop().await.is_err_and(|e| closing(&e)));
    assert!(client.rset().await.is_err_and(|e| closing(&e)));
}

#[tokio::test]
async fn lock_step_421_to_second_rcpt_sends_nothing_more() {
    // Regression: the third RCPT used to follow the 421 to the second.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        send("250 2.1.5 ok\r\n"),
        expect("RCPT TO:<c@example.net>\r\n"),
        send("421 4.7.0 mx.example Error: too many errors\r\n"),
        silence(100),
        // The optional QUIT, and nothing else.
        expect("QUIT\r\n"),
        close(),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let to = ["b@example.net", "c@example.net", "d@example.net"];
    let report = client.send_bytes(&env(&to), b"hi\r\n").await.unwrap();
    assert!(report.is_failed() && report.data.is_none(), "{report:?}");
    for r in &report.recipients {
        let e = r.result.as_ref().unwrap_err();
        assert_eq!(r.status(), RecipientStatus::Transient, "{e}");
        assert_eq!(e.command(), Some(CommandKind::Rcpt), "{e}");
        assert_eq!(e.code().map(|c| c.as_u16()), Some(421), "{e}");
        assert!(!e.connection_usable());
    }
    assert_later_calls_fail(&mut client).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.quit().await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn lock_step_421_to_mail_and_pipelined_421_to_data() {
    // Twins of each other's position: MAIL without PIPELINING, DATA with it; after either
    // nothing goes out (the scripts end; extra bytes would be a mismatch).
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PLAIN),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("421 4.3.2 shutting down\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    let e = report.recipients[0].result.as_ref().unwrap_err();
    assert_eq!(e.command(), Some(CommandKind::Mail));
    assert_later_calls_fail(&mut client).await;
    drop(client);
    server.finish().await;

    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n421 4.3.2 shutting down\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    let e = report.recipients[0].result.as_ref().unwrap_err();
    assert_eq!(e.command(), Some(CommandKind::Data));
    assert_eq!(report.recipients[0].status(), RecipientStatus::Transient);
    assert_later_calls_fail(&mut client).await;
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn greeting_554_quit_answered_by_close() {
    // A server that closes on the QUIT without answering it: the greeting error at once.
    let (io, server) = ScriptedServer::start(script![
        send("554 5.7.1 client host blocked\r\n"),
        expect("QUIT\r\n"),
        close(),
    ]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert!(
        matches!(err, Error::Greeting { .. }) && err.is_permanent(),
        "{err:?}"
    );
    let t = server.finish().await;
    assert_eq!(t.received, b"QUIT\r\n");

    // A 421 greeting and a server already gone: the QUIT goes nowhere, no error from it.
    let (io, server) = ScriptedServer::start(script![send("421 4.3.2 too busy\r\n"), close(),]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert!(
        matches!(err, Error::Greeting { .. }) && err.is_transient(),
        "{err:?}"
    );
    server.finish().await;
}

#[tokio::test]
async fn greeting_554_quit_never_answered_is_bounded_by_the_command_deadline() {
    let limit = Duration::from_millis(300);
    let config = support::config().timeouts(Timeouts::all(limit));
    let (io, server) = ScriptedServer::start(script![
        send("554 5.3.2 no SMTP service here\r\n"),
        expect("QUIT\r\n"),
        // Neither a reply nor a close, for longer than the client waits.
        sleep(1500),
    ]);
    let mut client = Client::new(io, config);
    let start = Instant::now();
    let err = client.handshake().await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::Greeting { .. }), "{err:?}");
    assert!(took >= limit, "returned before the QUIT deadline: {took:?}");
    assert!(took < limit * 3, "waited {took:?} for the QUIT reply");
    assert!(!client.is_usable());
    assert_eq!(client.greeting().map(|g| g.code().as_u16()), Some(554));
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn rest_of_a_group_not_yet_written_never_follows_a_421() {
    // A group far larger than the 64-byte pipe: the server answers MAIL with 421 while
    // the client is still writing the RCPTs. After reading the 421 the client writes
    // nothing of the group; the QUIT asked for afterwards is all that follows.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let to: Vec<String> = (0..40).map(|i| format!("r{i}@example.net")).collect();
    let mut group = b"MAIL FROM:<a@example.org>\r\n".to_vec();
    for r in &to {
        group.extend_from_slice(format!("RCPT TO:<{r}>\r\n").as_bytes());
    }
    group.extend_from_slice(b"DATA\r\n");
    let (client_io, mut server) = tokio::io::duplex(PIPE);
    let server = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        server.write_all(b"220 mx.example\r\n").await?;
        while !got.ends_with(b"\r\n") {
            let n = server.read(&mut buf).await?;
            got.extend_from_slice(&buf[..n]);
        }
        server
            .write_all(b"250-mx.example\r\n250 PIPELINING\r\n")
            .await?;
        got.clear();
        while !got.starts_with(b"MAIL FROM:<a@example.org>\r\n") {
            let n = server.read(&mut buf).await?;
            got.extend_from_slice(&buf[..n]);
        }
        server.write_all(b"421 4.3.2 closing\r\n").await?;
        // Everything else the client sends, until it closes; a QUIT gets its 221.
        loop {
            match server.read(&mut buf).await? {
                0 => return Ok::<_, std::io::Error>(got),
                n => got.extend_from_slice(&buf[..n]),
            }
            if got.ends_with(b"QUIT\r\n") {
                server.write_all(b"221 bye\r\n").await?;
            }
        }
    });
    let mut client = Client::open(client_io, config()).await.unwrap();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    let report = client.send_bytes(&env(&to), b"hi\r\n").await.unwrap();
    assert!(report.is_failed());
    assert_eq!(
        report.recipients[39].result.as_ref().unwrap_err().command(),
        Some(CommandKind::Mail)
    );
    client.quit().await.unwrap();
    let got = server.await.unwrap().unwrap();
    let sent = got.strip_suffix(b"QUIT\r\n").expect("the QUIT comes last");
    assert!(group.starts_with(sent), "{}", show(&got));
    assert!(
        sent.len() < group.len(),
        "the whole group went out after the 421:\n{}",
        show(&got)
    );
}
