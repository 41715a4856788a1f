//! The driver under hostile timing: a cancelled operation, a reply that arrives before
//! the command it would answer was written, credentials in `Debug`, and timeouts too long
//! for the clock.
//!
//! Most servers here are written by hand over a 64-byte `tokio::io::duplex`, because
//! they must stop reading at chosen moments, which the scripted server never does.

#[macro_use]
mod support;

use std::time::Duration;

use smtp_courier::auth::{AuthOptions, Credentials};
use smtp_courier::proto::Timeouts;
use smtp_courier::{Client, ClientConfig, Envelope, Error, ProtocolError, RecipientStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;
use tokio::time::timeout;

const EHLO: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";

/// How long a hand-written server waits for anything before it gives up.
const GUARD: Duration = Duration::from_secs(5);

fn env() -> Envelope {
    Envelope::new("a@example.org", ["b@example.net"]).unwrap()
}

/// A message of `len` bytes of text lines.
fn body(len: usize) -> Vec<u8> {
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop\r\n";
    line.iter().copied().cycle().take(len).collect()
}

async fn read_until(io: &mut DuplexStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(end) {
        let n = timeout(GUARD, io.read(&mut buf))
            .await
            .expect("client stuck")
            .unwrap();
        assert!(
            n > 0,
            "client closed early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Reads until the client goes away; returns everything read.
async fn drain(io: &mut DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(GUARD, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("client never closed"),
        }
    }
}

/// Greeting and EHLO.
async fn open(io: &mut DuplexStream) {
    io.write_all(b"220 mx.example ESMTP\r\n").await.unwrap();
    read_until(io, b"\r\n").await;
    io.write_all(EHLO).await.unwrap();
}

fn config() -> ClientConfig {
    ClientConfig::default().timeouts(Timeouts::all(Duration::from_secs(2)))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[track_caller]
fn assert_unsolicited(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Protocol {
                error: ProtocolError::Unsolicited,
                ..
            }
        ),
        "{e:?}"
    );
}

// --- a reply before its command was written ----------------------------------------------

/// A server that accepts the envelope, sends 354 and then, with `early`, stops reading
/// and 50 ms later sends "250 queued" before any data reached it (then reads whatever
/// comes); without `early`, it reads the data to the dot first. Returns what it read
/// after 354.
async fn data_server(mut io: DuplexStream, early: bool) -> Vec<u8> {
    open(&mut io).await;
    read_until(&mut io, b"DATA\r\n").await;
    io.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
        .await
        .unwrap();
    if early {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = io.write_all(b"250 queued\r\n").await;
        drain(&mut io).await
    } else {
        let mut data = read_until(&mut io, b"\r\n.\r\n").await;
        io.write_all(b"250 queued\r\n").await.unwrap();
        data.extend(drain(&mut io).await);
        data
    }
}

async fn send_against_data_server(len: usize, early: bool) -> Vec<u8> {
    let (client_io, server_io) = tokio::io::duplex(support::PIPE);
    let server = tokio::spawn(data_server(server_io, early));
    let mut client = Client::open(client_io, config()).await.unwrap();
    let report = client.send_bytes(&env(), &body(len)).await.unwrap();
    let r = &report.recipients[0];
    if early {
        assert!(
            report.delivered().next().is_none(),
            "never success: {report:?}"
        );
        assert_eq!(r.status(), RecipientStatus::Transient, "{report:?}");
        assert_unsolicited(r.result.as_ref().unwrap_err());
        assert!(report.data.is_none(), "{report:?}");
        assert!(!client.is_usable());
    } else {
        assert!(report.all_delivered(), "{report:?}");
        assert!(client.is_usable());
    }
    drop(client);
    server.await.unwrap()
}

#[tokio::test]
async fn early_end_of_data_reply_while_the_body_streams_is_a_protocol_error() {
    // A server (or a man in the middle) that answers the end of data before the data:
    // 256 KiB go out block by block while the 250 arrives; it must never be paired
    // with the dot written later, and the dot is never written.
    let got = send_against_data_server(256 * 1024, true).await;
    assert!(
        !contains(&got, b"\r\n.\r\n"),
        "the partial message was ended"
    );
    // Found while the first block was being written, not after the last one.
    assert!(
        got.len() < 100_000,
        "{} bytes streamed after the reply",
        got.len()
    );
    // Twin: the same message with the reply after the data is delivered.
    let got = send_against_data_server(256 * 1024, false).await;
    assert!(got.ends_with(b"\r\n.\r\n"));
}

#[tokio::test]
async fn early_end_of_data_reply_while_the_last_block_is_written_is_a_protocol_error() {
    // 4 KiB: the whole message and the dot are one final write, stuck behind a server
    // that stopped reading when the early 250 arrives.
    let got = send_against_data_server(4096, true).await;
    assert!(
        !contains(&got, b"\r\n.\r\n"),
        "the partial message was ended"
    );
    // Twin: delivered when the reply follows the data.
    let got = send_against_data_server(4096, false).await;
    assert!(got.ends_with(b"\r\n.\r\n"));
}

// --- cancellation --------------------------------------------------------------------------

/// A server that answers the group with 354 and then reads nothing until `resume`
/// fires; then reads until the client goes away. Returns everything read after EHLO.
async fn stalling_server(mut io: DuplexStream, resume: oneshot::Receiver<()>) -> Vec<u8> {
    open(&mut io).await;
    let mut got = read_until(&mut io, b"DATA\r\n").await;
    io.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n")
        .await
        .unwrap();
    let _ = timeout(GUARD, resume).await;
    got.extend(drain(&mut io).await);
    got
}

#[tokio::test]
async fn cancelled_send_leaves_the_client_unusable() {
    // The caller's timeout drops `send` after the last block and the dot were buffered:
    // the next send must not finish the old message and take its report.
    let (client_io, server_io) = tokio::io::duplex(support::PIPE);
    let (resume, resumed) = oneshot::channel();
    let server = tokio::spawn(stalling_server(server_io, resumed));
    let mut client = Client::open(client_io, config()).await.unwrap();
    assert!(client.is_usable());
    let first = timeout(
        Duration::from_millis(200),
        client.send_bytes(&env(), &body(2000)),
    )
    .await;
    assert!(first.is_err(), "the send must still be running: {first:?}");
    assert!(!client.is_usable(), "cancelled: unusable at once");
    resume.send(()).unwrap();
    let second = Envelope::new("c@example.org", ["d@example.net"]).unwrap();
    for _ in 0..2 {
        match client.send_bytes(&second, b"second\r\n").await {
            Err(e @ Error::Cancelled) => {
                assert!(e.is_transient() && !e.connection_usable());
                assert_eq!(
                    e.to_string(),
                    "a previous operation was cancelled; the connection is unusable"
                );
            }
            other => panic!("expected Error::Cancelled, got {other:?}"),
        }
    }
    assert!(matches!(client.noop().await, Err(Error::Cancelled)));
    assert!(matches!(client.session().error(), Some(Error::Cancelled)));
    assert!(!client.is_usable());
    drop(client);
    let got = server.await.unwrap();
    assert!(
        !contains(&got, b"\r\n.\r\n"),
        "the cancelled message was ended"
    );
    assert!(!contains(&got, b"c@example.org"), "a second MAIL went out");
}

/// A server that answers `answered` commands of one line each with 250, then reads the
/// next line and never answers it.
async fn silent_server(mut io: DuplexStream, answered: usize) -> Vec<u8> {
    open(&mut io).await;
    let mut got = Vec::new();
    for _ in 0..answered {
        got.extend(read_until(&mut io, b"\r\n").await);
        io.write_all(b"250 ok\r\n").await.unwrap();
    }
    got.extend(drain(&mut io).await);
    got
}

#[tokio::test]
async fn cancelled_command_poisons_every_later_call() {
    // NOOP and RSET, the same rule: a dropped future leaves the client unusable, and the
    // next call never sends a command whose reply would be the old one's.
    let (client_io, server_io) = tokio::io::duplex(support::PIPE);
    let server = tokio::spawn(silent_server(server_io, 1));
    let mut client = Client::open(client_io, config()).await.unwrap();
    // Twin first: a command that completes leaves the client usable.
    client.noop().await.unwrap();
    assert!(client.is_usable());
    let cancelled = timeout(Duration::from_millis(100), client.noop()).await;
    assert!(cancelled.is_err(), "NOOP must still be waiting");
    assert!(!client.is_usable());
    assert!(matches!(client.rset().await, Err(Error::Cancelled)));
    assert!(matches!(
        client.send_bytes(&env(), b"x").await,
        Err(Error::Cancelled)
    ));
    assert!(matches!(client.quit().await, Err(Error::Cancelled)));
    let got = server.await.unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "NOOP\r\nNOOP\r\n");
}

#[tokio::test]
async fn cancelled_authenticate_leaves_no_credential_in_debug() {
    // AUTH PLAIN with a long password, to a server that stops reading: the rest of the
    // line waits in the write buffer when the caller gives up.
    let (client_io, server_io) = tokio::io::duplex(support::PIPE);
    let (resume, resumed) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut io = server_io;
        open(&mut io).await;
        let _ = timeout(GUARD, resumed).await;
        drain(&mut io).await
    });
    let mut client = Client::open(client_io, config()).await.unwrap();
    let password = "p".repeat(150);
    let creds = Credentials::new("alice", password.as_str());
    let options = AuthOptions::new().allow_cleartext(true);
    let r = timeout(
        Duration::from_millis(100),
        client.authenticate(&creds, &options),
    )
    .await;
    assert!(r.is_err(), "AUTH must still be waiting");
    let base64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{password}"))
    };
    let no_secret = |shown: &str| {
        let b = base64.as_bytes();
        !b.windows(16)
            .any(|w| shown.contains(std::str::from_utf8(w).unwrap()))
    };
    let shown = format!("{client:?}");
    assert!(no_secret(&shown), "{shown}");
    // Twin: the secret is really buffered (the Debug says how much), so the check above
    // looked at a client that holds it.
    let buffered: usize = shown
        .split("wbuf_len: ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("wbuf_len in Debug");
    assert!(buffered > 16, "{shown}");
    // The next call finds the cancellation and drops the buffered rest.
    assert!(matches!(client.noop().await, Err(Error::Cancelled)));
    let shown = format!("{client:?}");
    assert!(shown.contains("wbuf_len: 0"), "{shown}");
    let _ = resume.send(());
    drop(client);
    let got = server.await.unwrap();
    assert!(got.starts_with(b"AUTH PLAIN "), "{got:?}");
    assert!(!got.ends_with(b"\r\n"), "the AUTH line was never completed");
}

// --- timeouts too long for the clock -------------------------------------------------------

#[tokio::test]
async fn duration_max_means_no_timeout_never_a_panic() {
    // A caller who means "no timeout" says Duration::MAX: every deadline saturates.
    let (io, server) = support::ScriptedServer::start(script![
        support::open(support::EHLO_PIPELINING),
        support::expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        support::send("250 ok\r\n250 ok\r\n354 go\r\n"),
        support::data("hi\r\n.\r\n"),
        support::send("250 queued\r\n"),
        support::expect("NOOP\r\n"),
        support::send("250 ok\r\n"),
        support::expect("QUIT\r\n"),
        support::send("221 bye\r\n"),
    ]);
    let config = ClientConfig::default().timeouts(Timeouts::all(Duration::MAX));
    let mut client = Client::open(io, config).await.unwrap();
    let report = client.send_bytes(&env(), b"hi").await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    client.noop().await.unwrap();
    client.quit().await.unwrap();
    server.finish().await;
}

// --- the futures stay Send ----------------------------------------------------------------

#[allow(dead_code)]
fn futures_are_send(client: &mut Client<tokio::net::TcpStream>, creds: &Credentials) {
    fn is_send<T: Send>(_: T) {}
    let e = env();
    is_send(client.send(&e, &b"x"[..]));
    is_send(client.send_bytes(&e, b"x"));
    is_send(client.authenticate(creds, &AuthOptions::new()));
    is_send(client.noop());
    is_send(client.rset());
    is_send(client.handshake());
}
