//! `Socks5Connector` against an in-process SOCKS5 proxy: the exact bytes of the greeting,
//! the RFC 1929 authentication and CONNECT (name, IPv4, IPv6), every failure the proxy
//! can report, malformed replies, a silent proxy, and a whole SMTP session through it.

#[macro_use]
mod support;
mod socks5_proxy;

use std::io;
use std::time::{Duration, Instant};

use smtp_courier::connect::{Connector, Socks5Connector, Socks5Error, Target};
use smtp_courier::proto::Phase;
use smtp_courier::{Client, Envelope, Error};
use socks5_proxy::{BOUND_V4, Behaviour, Proxy, greeting_upstream};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GREETING: &[u8] = b"220 relay.example ESMTP\r\n";

fn target(host: &str) -> Target {
    Target::new(host, 25)
        .unwrap()
        .connect_timeout(Duration::from_secs(3))
}

/// Reads the greeting, then checks that what is written comes back.
async fn check_relayed(stream: &mut TcpStream) {
    let mut got = vec![0u8; GREETING.len()];
    stream.read_exact(&mut got).await.unwrap();
    assert_eq!(got, GREETING, "the first bytes must be the server's");
    stream.write_all(b"EHLO localhost\r\n").await.unwrap();
    let mut echo = [0u8; 16];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"EHLO localhost\r\n");
}

/// A check on the error found.
type Is = fn(&Socks5Error) -> bool;

/// The `Socks5Error` inside a connect error, with its `io::ErrorKind`.
fn socks_error(e: &Error) -> (&Socks5Error, io::ErrorKind) {
    let Error::Io { source, .. } = e else {
        panic!("expected Error::Io, got {e:?}");
    };
    let found = Socks5Error::find(e).unwrap_or_else(|| panic!("no Socks5Error in {e:?}"));
    (found, source.kind())
}

#[tokio::test]
async fn no_auth_connect_by_name_sends_the_name_to_the_proxy() {
    let proxy = Proxy::start(Behaviour::open(greeting_upstream(GREETING).await)).await;
    let connector = Socks5Connector::from(proxy.addr);
    let mut stream = connector.connect(&target("mx.example.org")).await.unwrap();
    assert!(stream.nodelay().unwrap());
    check_relayed(&mut stream).await;
    drop(stream);
    let seen = proxy.finish().await;
    // RFC 1928 §3: version 5, one method, "no authentication".
    assert_eq!(seen.greeting, b"\x05\x01\x00");
    assert_eq!(seen.auth, None);
    // RFC 1928 §4/§5: CONNECT, ATYP 3, 14 octets of name, port 25: no local resolution.
    assert_eq!(
        seen.request.unwrap(),
        b"\x05\x01\x00\x03\x0emx.example.org\x00\x19"
    );
}

#[tokio::test]
async fn username_password_then_connect_by_ipv4() {
    let upstream = greeting_upstream(GREETING).await;
    let proxy = Proxy::start(Behaviour::with_auth("courier", "s3cret", upstream)).await;
    let connector = Socks5Connector::from(proxy.addr)
        .credentials("courier", "s3cret")
        .unwrap();
    let t = Target::new("192.0.2.25", 587).unwrap();
    let mut stream = connector.connect(&t).await.unwrap();
    check_relayed(&mut stream).await;
    drop(stream);
    let seen = proxy.finish().await;
    // Both methods offered; the proxy chose 02.
    assert_eq!(seen.greeting, b"\x05\x02\x00\x02");
    // RFC 1929 §2: VER 1, ULEN, UNAME, PLEN, PASSWD.
    assert_eq!(seen.auth.unwrap(), b"\x01\x07courier\x06s3cret");
    assert_eq!(
        seen.request.unwrap(),
        b"\x05\x01\x00\x01\xc0\x00\x02\x19\x02\x4b"
    );
}

#[tokio::test]
async fn connect_by_ipv6_and_credentials_unused_when_not_asked() {
    // Credentials set, but the proxy chooses "no authentication": none are sent.
    let proxy = Proxy::start(Behaviour::open(greeting_upstream(GREETING).await)).await;
    let connector = Socks5Connector::from(proxy.addr)
        .credentials("courier", "s3cret")
        .unwrap();
    let mut stream = connector.connect(&target("[2001:db8::25]")).await.unwrap();
    check_relayed(&mut stream).await;
    drop(stream);
    let seen = proxy.finish().await;
    assert_eq!(seen.greeting, b"\x05\x02\x00\x02");
    assert_eq!(seen.auth, None);
    let mut want = b"\x05\x01\x00\x04\x20\x01\x0d\xb8".to_vec();
    want.extend_from_slice(&[0; 11]);
    want.extend_from_slice(b"\x25\x00\x19");
    assert_eq!(seen.request.unwrap(), want);
}

#[tokio::test]
async fn every_failure_reply_is_the_proxys_error() {
    use io::ErrorKind as K;
    let cases: [(u8, Is, K); 10] = [
        (1, |e| matches!(e, Socks5Error::GeneralFailure), K::Other),
        (
            2,
            |e| matches!(e, Socks5Error::NotAllowed),
            K::PermissionDenied,
        ),
        (
            3,
            |e| matches!(e, Socks5Error::NetworkUnreachable),
            K::NetworkUnreachable,
        ),
        (
            4,
            |e| matches!(e, Socks5Error::HostUnreachable),
            K::HostUnreachable,
        ),
        (
            5,
            |e| matches!(e, Socks5Error::ConnectionRefused),
            K::ConnectionRefused,
        ),
        (6, |e| matches!(e, Socks5Error::TtlExpired), K::Other),
        (
            7,
            |e| matches!(e, Socks5Error::CommandNotSupported),
            K::Unsupported,
        ),
        (
            8,
            |e| matches!(e, Socks5Error::AddressTypeNotSupported),
            K::Unsupported,
        ),
        (9, |e| matches!(e, Socks5Error::UnknownReply(9)), K::Other),
        (
            255,
            |e| matches!(e, Socks5Error::UnknownReply(255)),
            K::Other,
        ),
    ];
    for (code, is, kind) in cases {
        let proxy = Proxy::start(Behaviour::refusing(code)).await;
        let err = Socks5Connector::from(proxy.addr)
            .connect(&target("mx.example.org"))
            .await
            .unwrap_err();
        let (found, got_kind) = socks_error(&err);
        assert!(is(found), "reply {code}: {found:?}");
        assert_eq!(found.reply_code(), Some(code));
        assert_eq!(got_kind, kind, "reply {code}");
        // Neither an SMTP reply nor a timeout; retry later.
        assert!(err.reply().is_none() && !err.is_timeout() && err.is_transient());
        proxy.finish().await;
    }
}

#[tokio::test]
async fn refused_connect_reads_as_such() {
    let proxy = Proxy::start(Behaviour::refusing(5)).await;
    let err = Socks5Connector::from(proxy.addr)
        .connect(&target("mx.example.org"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "i/o error: socks5 proxy: connection refused by destination host (reply 5)"
    );
    proxy.finish().await;
}

#[tokio::test]
async fn proxy_requiring_auth_without_credentials() {
    // Squid/Dante-style "username required": FF to a greeting offering only 00.
    let proxy = Proxy::start(Behaviour::with_auth(
        "u",
        "p",
        greeting_upstream(GREETING).await,
    ))
    .await;
    let err = Socks5Connector::from(proxy.addr)
        .connect(&target("mx.example.org"))
        .await
        .unwrap_err();
    let (found, kind) = socks_error(&err);
    assert!(
        matches!(found, Socks5Error::NoAcceptableMethod),
        "{found:?}"
    );
    assert_eq!(kind, io::ErrorKind::PermissionDenied);
    let seen = proxy.finish().await;
    assert_eq!(seen.greeting, b"\x05\x01\x00");
    assert_eq!(seen.request, None);

    // The positive twin: the same proxy with credentials.
    let proxy = Proxy::start(Behaviour::with_auth(
        "u",
        "p",
        greeting_upstream(GREETING).await,
    ))
    .await;
    let connector = Socks5Connector::from(proxy.addr)
        .credentials("u", "p")
        .unwrap();
    let mut stream = connector.connect(&target("mx.example.org")).await.unwrap();
    check_relayed(&mut stream).await;
    drop(stream);
    proxy.finish().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_by_the_proxy() {
    let proxy = Proxy::start(Behaviour::with_auth(
        "courier",
        "right",
        greeting_upstream(GREETING).await,
    ))
    .await;
    let connector = Socks5Connector::from(proxy.addr)
        .credentials("courier", "wrong")
        .unwrap();
    let err = connector
        .connect(&target("mx.example.org"))
        .await
        .unwrap_err();
    let (found, kind) = socks_error(&err);
    assert!(matches!(found, Socks5Error::AuthRefused(1)), "{found:?}");
    assert_eq!(kind, io::ErrorKind::PermissionDenied);
    // No password in the error, nor in the connector's Debug.
    assert!(!format!("{err} {err:?} {connector:?}").contains("wrong"));
    let seen = proxy.finish().await;
    assert_eq!(seen.auth.unwrap(), b"\x01\x07courier\x05wrong");
    assert_eq!(seen.request, None, "no CONNECT after a refused login");
}

#[tokio::test]
async fn proxy_choosing_a_method_not_offered() {
    // 02 chosen although only 00 was offered (no credentials configured).
    let proxy = Proxy::start(Behaviour::Method(2)).await;
    let err = Socks5Connector::from(proxy.addr)
        .connect(&target("mx.example.org"))
        .await
        .unwrap_err();
    let (found, kind) = socks_error(&err);
    assert!(
        matches!(found, Socks5Error::UnexpectedMethod(2)),
        "{found:?}"
    );
    assert_eq!(kind, io::ErrorKind::InvalidData);
    proxy.finish().await;
}

#[tokio::test]
async fn malformed_and_truncated_replies() {
    let cases: [(&[u8], Is); 4] = [
        // Cut in the middle of the bound IPv4 address, then closed.
        (b"\x05\x00\x00\x01\x7f\x00", |e| {
            matches!(e, Socks5Error::Closed)
        }),
        // An address type RFC 1928 does not define.
        (b"\x05\x00\x00\x02\x00\x00\x00\x00\x00\x00", |e| {
            matches!(e, Socks5Error::Malformed(_))
        }),
        // A SOCKS4 reply ("request granted") to a SOCKS5 request.
        (b"\x00\x5a\x00\x19\x7f\x00\x00\x01", |e| {
            matches!(
                e,
                Socks5Error::VersionMismatch {
                    expected: 5,
                    got: 0
                }
            )
        }),
        // A name length promising more than is sent.
        (b"\x05\x00\x00\x03\xffshort\x00\x19", |e| {
            matches!(e, Socks5Error::Closed)
        }),
    ];
    for (reply, is) in cases {
        let proxy = Proxy::start(Behaviour::RawReply(reply.to_vec())).await;
        let err = Socks5Connector::from(proxy.addr)
            .connect(&target("mx.example.org"))
            .await
            .unwrap_err();
        let (found, _) = socks_error(&err);
        assert!(is(found), "{reply:?}: {found:?}");
        proxy.finish().await;
    }
    // The positive twin: a well-formed success reply over the same path.
    let mut ok = b"\x05\x00\x00".to_vec();
    ok.extend_from_slice(BOUND_V4);
    let proxy = Proxy::start(Behaviour::RawReply(ok)).await;
    let stream = Socks5Connector::from(proxy.addr)
        .connect(&target("mx.example.org"))
        .await
        .unwrap();
    drop(stream);
    proxy.finish().await;
}

#[tokio::test]
async fn bound_address_as_a_name_is_consumed_exactly() {
    // Some proxies report the bound address as a name (ATYP 3).
    let Behaviour::Serve {
        credentials,
        reply,
        upstream,
        ..
    } = Behaviour::open(greeting_upstream(GREETING).await)
    else {
        unreachable!()
    };
    let proxy = Proxy::start(Behaviour::Serve {
        credentials,
        reply,
        bound: b"\x03\x0dproxy.example\x04\x38".to_vec(),
        upstream,
    })
    .await;
    let mut stream = Socks5Connector::from(proxy.addr)
        .connect(&target("mx.example.org"))
        .await
        .unwrap();
    check_relayed(&mut stream).await;
    drop(stream);
    let seen = proxy.finish().await;
    assert_eq!(
        seen.sent,
        b"\x05\x00\x05\x00\x00\x03\x0dproxy.example\x04\x38"
    );
}

#[tokio::test]
async fn silent_proxy_times_out_within_the_handshake_timeout() {
    let proxy = Proxy::start(Behaviour::Silent).await;
    let connector = Socks5Connector::from(proxy.addr).handshake_timeout(Duration::from_millis(200));
    let t = target("mx.example.org").connect_timeout(Duration::MAX);
    let started = Instant::now();
    let err = connector.connect(&t).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::Connect,
                command: None
            }
        ),
        "{err:?}"
    );
    assert!(err.is_timeout() && err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    proxy.finish().await;
}

#[tokio::test]
async fn silent_proxy_times_out_within_the_connect_timeout() {
    // The handshake timeout is long; the target's connect deadline ends it.
    let proxy = Proxy::start(Behaviour::Silent).await;
    let connector = Socks5Connector::from(proxy.addr).handshake_timeout(Duration::MAX);
    let t = target("mx.example.org").connect_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = connector.connect(&t).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    proxy.finish().await;
}

#[tokio::test]
async fn huge_timeouts_never_panic() {
    let proxy = Proxy::start(Behaviour::open(greeting_upstream(GREETING).await)).await;
    let connector = Socks5Connector::from(proxy.addr).handshake_timeout(Duration::MAX);
    let t = target("mx.example.org").connect_timeout(Duration::MAX);
    let mut stream = connector.connect(&t).await.unwrap();
    check_relayed(&mut stream).await;
    drop(stream);
    proxy.finish().await;
}

#[tokio::test]
async fn unreachable_proxy_says_so() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Socks5Connector::from(closed)
        .connect(&target("mx.example.org"))
        .await
        .unwrap_err();
    let (found, kind) = socks_error(&err);
    assert!(
        matches!(found, Socks5Error::ProxyUnreachable { proxy, .. } if *proxy == closed.to_string()),
        "{found:?}"
    );
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    assert_eq!(
        err.to_string(),
        format!("i/o error: socks5 proxy: cannot connect to the proxy at {closed}")
    );
}

#[tokio::test]
async fn smtp_session_through_the_proxy() {
    // A relay reached through an authenticating SOCKS5 proxy, one message.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_PIPELINING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        data("Subject: hi\r\n\r\nHello\r\n.\r\n"),
        send("250 2.0.0 queued as 1234\r\n"),
        expect("QUIT\r\n"),
        send("221 2.0.0 bye\r\n"),
    ]);
    let proxy = Proxy::start(Behaviour::with_auth("courier", "s3cret", io)).await;
    let connector = Socks5Connector::from(proxy.addr)
        .credentials("courier", "s3cret")
        .unwrap();
    let stream = connector.connect(&target("relay.example")).await.unwrap();
    let mut client = Client::open(stream, config()).await.unwrap();
    let envelope = Envelope::new("a@example.org", ["b@example.net"]).unwrap();
    let report = client
        .send_bytes(&envelope, b"Subject: hi\r\n\r\nHello\r\n")
        .await
        .unwrap();
    assert!(report.recipients[0].result.is_ok(), "{report:?}");
    client.quit().await.unwrap();
    server.finish().await;
    let seen = proxy.finish().await;
    assert_eq!(
        seen.request.unwrap(),
        b"\x05\x01\x00\x03\x0drelay.example\x00\x19"
    );
}
