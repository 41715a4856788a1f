//! Connections that fail before any transaction: refused, a refusing greeting, an EHLO
//! refusal, an IPv6 literal server, a message over the SIZE limit. Each recipient carries
//! the error, with the exit status the contract gives.

use super::*;

#[tokio::test]
async fn connection_refused_exits_75_and_every_recipient_carries_it() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = closed.to_string();
    let args = [
        "--server",
        &server,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
        "--to",
        "b@example.net",
        "--repeat",
        "2",
    ];
    let run = send(&args).await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    assert!(v["greeting"].is_null());
    assert_eq!(v["capabilities"], serde_json::json!([]));
    let err = &v["error"];
    assert_eq!(err["kind"], "io");
    assert_eq!(err["permanent"], false);
    assert!(err["command"].is_null() && err["code"].is_null() && err["enhanced_code"].is_null());
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "one entry per message, sent or not");
    for tx in txs {
        assert!(tx["data"].is_null());
        for r in recipients(tx) {
            assert_eq!(r["status"], "transient");
            assert!(r["command"].is_null());
            assert!(r["code"].is_null());
            assert_eq!(r["message"], err["message"]);
        }
    }
}

/// A one-connection server that sends `greeting`, then answers the first command with
/// `ehlo_reply` (unless it is empty), then waits for the client to hang up.
async fn scripted(greeting: &'static str, ehlo_reply: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(greeting.as_bytes()).await?;
        if !ehlo_reply.is_empty() {
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            stream.get_mut().write_all(ehlo_reply.as_bytes()).await?;
        }
        // The client QUITs after a refusal (RFC 5321 §3.1): answer and close, as a real
        // server does, rather than keep it waiting for the command deadline.
        let mut line = String::new();
        while stream.read_line(&mut line).await? > 0 {
            if line.eq_ignore_ascii_case("QUIT\r\n") {
                stream.get_mut().write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            line.clear();
        }
        Ok::<_, std::io::Error>(())
    });
    addr
}

#[tokio::test]
async fn refusing_greeting_is_a_permanent_connection_error() {
    let addr = scripted("554 5.3.2 no service here\r\n", "").await;
    let server = addr.to_string();
    let args = [
        "--server",
        &server,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
    ];
    let run = send(
        &[
            &args[..],
            &["--to", "a@example.net", "--to", "b@example.net"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["greeting"]["code"], 554);
    assert_eq!(v["greeting"]["message"], "5.3.2 no service here");
    let err = &v["error"];
    assert_eq!(err["kind"], "reply");
    assert_eq!(err["permanent"], true);
    assert!(err["command"].is_null(), "null for connect and greeting");
    assert_eq!(err["code"], 554);
    for r in recipients(&v["transactions"][0]) {
        assert_eq!(r["status"], "permanent");
        assert!(r["command"].is_null());
        assert_eq!(r["code"], 554);
    }
}

#[tokio::test]
async fn ehlo_refusal_is_carried_by_every_recipient() {
    let addr = scripted("220 mx.test ESMTP\r\n", "421 4.3.2 shutting down\r\n").await;
    let server = addr.to_string();
    let args = [
        "--server",
        &server,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
    ];
    let run = send(&[&args[..], &["--to", "a@example.net", "--repeat", "2"]].concat()).await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["greeting"]["code"], 220);
    assert_eq!(v["capabilities"], serde_json::json!([]));
    let err = &v["error"];
    assert_eq!(err["kind"], "reply");
    assert_eq!(err["permanent"], false);
    assert_eq!(err["command"], "EHLO");
    assert_eq!(err["code"], 421);
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 2);
    for tx in txs {
        let r = &recipients(tx)[0];
        assert_eq!(r["status"], "transient");
        assert_eq!(r["command"], "EHLO");
        assert_eq!(r["code"], 421);
        assert_eq!(r["message"], "4.3.2 shutting down");
    }
}

#[tokio::test]
async fn ipv6_literal_server_is_parsed() {
    // Whether ::1 exists here or not, the address parses and a connection is attempted.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = format!("[::1]:{}", closed.port());
    let run = send(&[
        "--server",
        &server,
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ])
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    let v = run.json();
    assert_eq!(v["server"], server);
    assert_eq!(v["error"]["kind"], "io");
    // A malformed literal is a usage error.
    let run = send(&[
        "--server",
        "[::1:25",
        "--tls",
        "skip",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ])
    .await;
    assert_eq!(run.status, 64, "stderr: {}", run.stderr);
}

#[tokio::test]
async fn message_over_the_size_limit_is_a_size_error() {
    let config =
        SinkConfig::default().ehlo_keywords(["PIPELINING", "SIZE 100", "ENHANCEDSTATUSCODES"]);
    let sink = Sink::start_with(config).await.unwrap();
    let big = "x".repeat(200);
    let dir = std::env::temp_dir().join(format!("send-example-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.eml");
    std::fs::write(&file, format!("Subject: big\r\n\r\n{big}\r\n")).unwrap();
    let small = dir.join("small.eml");
    std::fs::write(&small, "Subject: small\r\n\r\nok\r\n").unwrap();
    let run = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "a@example.net",
            "--data",
            file.to_str().unwrap(),
        ],
    )
    .await;
    let twin = send_to(
        &sink,
        &[
            "--from",
            "me@example.org",
            "--to",
            "a@example.net",
            "--data",
            small.to_str().unwrap(),
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    assert_eq!(tx["error"]["kind"], "size");
    assert_eq!(tx["error"]["permanent"], true);
    assert_eq!(recipients(tx)[0]["status"], "permanent");
    assert_eq!(twin.status, 0, "stderr: {}", twin.stderr);
    assert_eq!(sink.messages().len(), 1, "only the small message arrives");
}
