//! Byte-exact tests of the written mark: a reply pairs only with a command whose bytes the
//! driver reported written ([`Session::handle_written`]); and of what the session's
//! `Debug` and output buffer let a credential leave behind.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::BytesMut;

use super::*;
use crate::auth::{AuthOptions, Credentials};
use crate::proto::{Domain, Envelope, RecipientStatus};

fn session() -> Session {
    Session::new(SessionConfig::new(Domain::new("client.example").unwrap()))
}

fn feed(s: &mut Session, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    s.handle_input(&mut buf);
}

/// Takes the queued bytes without writing any of them.
fn take(s: &mut Session) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    out.to_vec()
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Greeting and EHLO with PIPELINING (and AUTH PLAIN), everything written at once.
fn open() -> Session {
    let mut s = session();
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_eq!(take(&mut s), b"EHLO client.example\r\n");
    s.handle_written(usize::MAX);
    feed(
        &mut s,
        b"250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n",
    );
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    s
}

fn is_unsolicited(e: Option<&Error>) -> bool {
    matches!(
        e,
        Some(Error::Protocol {
            error: ProtocolError::Unsolicited,
            ..
        })
    )
}

#[test]
fn reply_to_a_command_not_completely_written_is_unsolicited() {
    // A pipelined group written in parts: the 250 to MAIL may come as soon as MAIL is
    // out, but a reply for RCPT, whose line is only half written, was sent before the
    // server could have read it.
    let mut s = open();
    let env = Envelope::new("a@example.org", ["b@example.net"]).unwrap();
    s.mail(env.clone()).unwrap();
    let group = take(&mut s);
    let mail = b"MAIL FROM:<a@example.org>\r\n".len();
    assert!(group.starts_with(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"));
    s.handle_written(mail + 5);
    feed(&mut s, b"250 ok\r\n");
    assert!(s.error().is_none(), "{:?}", s.error());
    assert!(events(&mut s).is_empty());
    feed(&mut s, b"250 ok\r\n");
    assert!(is_unsolicited(s.error()), "{:?}", s.error());
    let ev = events(&mut s);
    let [Event::Transaction(_, r)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);

    // Twin: once the rest is written, the same replies pair in order.
    let mut s = open();
    s.mail(env).unwrap();
    let group = take(&mut s);
    s.handle_written(mail + 5);
    feed(&mut s, b"250 ok\r\n");
    s.handle_written(group.len() - mail - 5);
    feed(&mut s, b"250 ok\r\n354 go\r\n");
    assert!(s.error().is_none(), "{:?}", s.error());
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
}

#[test]
fn end_of_data_reply_before_the_data_is_written_is_never_delivery() {
    // A server that sends "250 queued" after 354 but before the data (or the final dot)
    // reached it: nothing may be reported delivered.
    for written_before in [0usize, 10, 20] {
        let mut s = open();
        s.mail(Envelope::new("a@example.org", ["b@example.net"]).unwrap())
            .unwrap();
        take(&mut s);
        s.handle_written(usize::MAX);
        feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
        let ev = events(&mut s);
        let [Event::SendBody(id)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        s.send_body(*id, b"Subject: x\r\n\r\nhello\r\n").unwrap();
        s.finish_body(*id).unwrap();
        let mut data = BytesMut::new();
        s.poll_transmit(&mut data);
        assert_eq!(&data[..], b"Subject: x\r\n\r\nhello\r\n.\r\n");
        s.handle_written(written_before);
        feed(&mut s, b"250 queued\r\n");
        assert!(is_unsolicited(s.error()), "{:?}", s.error());
        let ev = events(&mut s);
        let [Event::Transaction(_, r)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert!(r.delivered().next().is_none(), "never success: {r:?}");
        assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
        assert!(r.data.is_none());
    }

    // Twin: written up to the dot (the count is capped at what was handed out), the same
    // reply is the delivery.
    let mut s = open();
    s.mail(Envelope::new("a@example.org", ["b@example.net"]).unwrap())
        .unwrap();
    take(&mut s);
    s.handle_written(usize::MAX);
    feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
    let ev = events(&mut s);
    let [Event::SendBody(id)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    s.send_body(*id, b"hello\r\n").unwrap();
    s.finish_body(*id).unwrap();
    let mut data = BytesMut::new();
    s.poll_transmit(&mut data);
    s.handle_written(data.len() - 1);
    assert!(s.error().is_none());
    s.handle_written(1);
    feed(&mut s, b"250 queued\r\n");
    assert!(s.error().is_none(), "{:?}", s.error());
    let ev = events(&mut s);
    let [Event::Transaction(_, r)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert!(r.all_delivered(), "{r:?}");
}

#[test]
fn queued_commands_keep_their_place_before_message_data() {
    // Whatever is queued when data is encoded leaves first, and the offsets follow: the
    // lone dot after a 354 with no recipient accepted pairs only once written.
    let mut s = open();
    s.mail(Envelope::new("a@example.org", ["b@example.net"]).unwrap())
        .unwrap();
    take(&mut s);
    s.handle_written(usize::MAX);
    feed(&mut s, b"250 ok\r\n550 no\r\n354 go\r\n");
    assert!(s.error().is_none(), "{:?}", s.error());
    assert_eq!(take(&mut s), b".\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert!(
        is_unsolicited(s.error()),
        "reply before the dot was written"
    );
    // Twin: written, the 250 to the lone dot ends the transaction.
    let mut s = open();
    s.mail(Envelope::new("a@example.org", ["b@example.net"]).unwrap())
        .unwrap();
    take(&mut s);
    s.handle_written(usize::MAX);
    feed(&mut s, b"250 ok\r\n550 no\r\n354 go\r\n");
    assert_eq!(take(&mut s), b".\r\n");
    s.handle_written(3);
    feed(&mut s, b"250 ok\r\n");
    assert!(s.error().is_none(), "{:?}", s.error());
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Transaction(_, _)]
    ));
}

#[test]
fn debug_never_shows_a_queued_auth_line() {
    // AUTH PLAIN with its initial response waits in the output buffer: Debug shows its
    // length, not the base64 of user and password.
    let mut s = open();
    let creds = Credentials::new("alice", "correct horse battery staple");
    let options = AuthOptions::new().allow_cleartext(true);
    s.auth(&creds, &options, None).unwrap();
    let secret = crate::auth::encode_base64(b"\0alice\0correct horse battery staple");
    assert!(s.transmit_holds_secret());
    let shown = format!("{s:?}");
    assert!(!shown.contains(secret.as_str()), "{shown}");
    assert!(shown.contains("out_len"), "{shown}");
    // Twin: the bytes are there to send, and once handed out no longer marked secret.
    let sent = take(&mut s);
    let line = format!("AUTH PLAIN {}\r\n", secret.as_str());
    assert_eq!(String::from_utf8_lossy(&sent), line);
    assert!(!s.transmit_holds_secret());
    assert!(!s.wants_write());
}
