//! Greetings and replies a server can get wrong: malformed, mismatched, endless, missing or
//! dripping, each bounded by its limit or its deadline.

use super::*;

#[tokio::test]
async fn malformed_greeting() {
    // Something other than SMTP on the port: an SSH banner.
    let (io, server) =
        ScriptedServer::start(script![send("SSH-2.0-OpenSSH_9.6\r\n"), silence(100)]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert_protocol(&err, None, ProtocolError::Reply(ReplyError::BadCode));
    server.finish().await;

    // Twin: a real greeting opens the session.
    let (io, server) = ScriptedServer::start(script![open(EHLO_PIPELINING)]);
    let client = Client::open(io, config()).await.unwrap();
    assert_eq!(client.greeting().unwrap().code().as_u16(), 220);
    assert!(client.capabilities().unwrap().pipelining());
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn no_greeting_and_close() {
    // A server at its connection limit that accepts and drops the connection at once.
    let (io, server) = ScriptedServer::start(script![close()]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert!(matches!(err, Error::Closed { command: None }), "{err:?}");
    assert!(err.is_transient());
    server.finish().await;

    // Twin: the same server with a greeting.
    let (io, server) = ScriptedServer::start(script![open(EHLO_PLAIN), close()]);
    Client::open(io, config()).await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn greeting_that_never_comes_times_out() {
    // A tarpit that accepts the connection and says nothing.
    let config = config().timeouts(Timeouts::all(Duration::from_millis(250)));
    let (io, server) = ScriptedServer::start(script![silence(600)]);
    let err = Client::open(io, config.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::Greeting,
                command: None
            }
        ),
        "{err:?}"
    );
    assert!(err.is_timeout() && err.is_transient());
    server.finish().await;

    // Twin: a greeting within the limit.
    let (io, server) = ScriptedServer::start(script![sleep(20), open(EHLO_PLAIN)]);
    Client::open(io, config).await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn greeting_521_554_421() {
    for (greeting, permanent) in [
        // RFC 7504: a host that never accepts mail says 521 instead of 220.
        ("521 5.3.2 mx.example does not accept mail\r\n", true),
        // RFC 5321 §3.1: 554 instead of 220, "no SMTP service here" (blocklisted client).
        ("554 5.7.1 mx.example client host blocked\r\n", true),
        // Overloaded server: 421 and close.
        ("421 4.3.2 mx.example too busy, try later\r\n", false),
    ] {
        // RFC 5321 §3.1: the client answers with QUIT and waits for the server.
        let (io, server) = ScriptedServer::start(script![
            send(greeting),
            expect("QUIT\r\n"),
            send("221 2.0.0 bye\r\n"),
            close(),
        ]);
        let err = Client::open(io, config()).await.unwrap_err();
        match &err {
            Error::Greeting { reply } => {
                assert_eq!(reply.code().as_u16().to_string(), greeting[..3])
            }
            other => panic!("expected Error::Greeting, got {other:?}"),
        }
        assert_eq!(err.is_permanent(), permanent, "{greeting}");
        assert!(!err.connection_usable());
        let t = server.finish().await;
        assert_eq!(t.received, b"QUIT\r\n", "exactly one QUIT");
    }
}

// --- malformed replies -----------------------------------------------------------------

#[tokio::test]
async fn malformed_reply_code() {
    // A "fixup" firewall (Cisco PIX mailguard style) that overwrites reply bytes with X.
    let (io, server) = ScriptedServer::start(script![open("2X0 mx.example\r\n"), silence(50)]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert_protocol(
        &err,
        Some(CommandKind::Ehlo),
        ProtocolError::Reply(ReplyError::BadCode),
    );
    server.finish().await;

    // Twin: the same reply unmangled.
    let (io, server) = ScriptedServer::start(script![open("250 mx.example\r\n")]);
    Client::open(io, config()).await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn mismatched_multiline_codes() {
    // A proxy that splices two replies into one multiline reply.
    let (io, server) = ScriptedServer::start(script![
        open("250-mx.example\r\n550 5.7.1 relay denied\r\n"),
        silence(50)
    ]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert_protocol(
        &err,
        Some(CommandKind::Ehlo),
        ProtocolError::Reply(ReplyError::MixedCodes {
            first: 250,
            line: 550,
        }),
    );
    server.finish().await;

    // Twin: consistent codes.
    let (io, server) = ScriptedServer::start(script![open("250-mx.example\r\n250 PIPELINING\r\n")]);
    let client = Client::open(io, config()).await.unwrap();
    assert!(client.capabilities().unwrap().pipelining());
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn endless_reply_line() {
    // A tarpit that streams one reply line forever and never sends a newline.
    let (io, server) = ScriptedServer::start(script![send("220 "), forever("x".repeat(64))]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert_protocol(&err, None, ProtocolError::Reply(ReplyError::LineTooLong));
    server.finish().await;

    // Twin: a long (1000 octets) but finite line is fine.
    let long = format!("220 {}\r\n", "x".repeat(994));
    let (io, server) = ScriptedServer::start(script![
        send(long),
        expect("EHLO localhost\r\n"),
        send("250 mx.example\r\n"),
    ]);
    Client::open(io, config()).await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn endless_multiline_reply() {
    // A broken or hostile server that answers EHLO with "250-" lines forever.
    let (io, server) = ScriptedServer::start(script![
        send("220 mx.example ESMTP\r\n"),
        expect("EHLO localhost\r\n"),
        forever("250-X-FILLER\r\n"),
    ]);
    let err = Client::open(io, config()).await.unwrap_err();
    assert_protocol(
        &err,
        Some(CommandKind::Ehlo),
        ProtocolError::Reply(ReplyError::TooManyLines),
    );
    server.finish().await;

    // Twin: a long but finite EHLO reply.
    let mut ehlo = "250-mx.example\r\n".to_string();
    ehlo.push_str(&"250-X-FILLER\r\n".repeat(100));
    ehlo.push_str("250 PIPELINING\r\n");
    let (io, server) = ScriptedServer::start(script![open(&ehlo)]);
    let client = Client::open(io, config()).await.unwrap();
    assert!(client.capabilities().unwrap().pipelining());
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn dripping_reply_times_out_as_a_whole() {
    // A tarpit that sends its greeting one byte at a time: every byte comes well within
    // the limit, the reply as a whole does not.
    let greeting = "220 mx.example ESMTP\r\n"; // 22 bytes
    let config = config().timeouts(Timeouts::all(Duration::from_millis(500)));
    let (io, server) = ScriptedServer::start(script![drip(greeting, 100)]);
    let err = Client::open(io, config.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::Greeting,
                command: None
            }
        ),
        "{err:?}"
    );
    server.finish().await;

    // Twin: the same drip, fast enough to finish within the limit.
    let (io, server) = ScriptedServer::start(script![
        drip(greeting, 2),
        expect("EHLO localhost\r\n"),
        send(EHLO_PLAIN),
    ]);
    Client::open(io, config).await.unwrap();
    server.finish().await;
}

#[tokio::test]
async fn dripping_final_reply_times_out_and_is_never_success() {
    // A slow server that trickles the reply to the end of data.
    let config = config().timeouts(Timeouts::all(Duration::from_millis(400)));
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        drip("250 2.0.0 queued\r\n", 60),
    ]);
    let mut client = Client::open(io, config.clone()).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    let r = &report.recipients[0];
    assert!(
        matches!(
            r.result,
            Err(Error::Timeout {
                phase: Phase::DataTermination,
                command: Some(CommandKind::DataEnd)
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.status(), RecipientStatus::Transient);
    assert!(!client.is_usable());
    drop(client);
    server.finish().await;

    // Twin: the same reply dripped fast enough is a delivery.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        drip("250 2.0.0 queued\r\n", 2),
    ]);
    let mut client = Client::open(io, config).await.unwrap();
    let report = client
        .send_bytes(&env(&["b@example.net"]), b"hi\r\n")
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    server.finish().await;
}

// --- EHLO, RSET, QUIT, several transactions ------------------------------------------------
