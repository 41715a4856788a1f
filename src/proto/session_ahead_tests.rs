//! BDAT framed ahead in the session (a message in memory whose size the crate counted):
//! the same bytes as framing at once, the LAST chunk's reply may come before
//! `finish_body`, and content of another length abandons the data without sending it.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use super::bdat_tests::{assert_tx, envelope, events, feed, mail, open, report, warm};
use super::*;
use crate::proto::ReplyCode;
use crate::proto::body::BodyError;

const EHLO: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 CHUNKING\r\n";

fn open_warm() -> Session {
    let mut s = open(EHLO, |_| {});
    warm(&mut s);
    s
}

#[test]
fn framed_ahead_sends_the_same_bytes() {
    let mut s = open_warm();
    let id = mail(&mut s, envelope(&["b@example.net"]).with_counted_size(18));
    s.send_body(id, b"Subject: x\n").unwrap();
    // The header is queued with the first octets, the chunk still open.
    assert!(s.chunk_open(id));
    s.send_body(id, b"\nhi\n").unwrap();
    assert!(!s.chunk_open(id));
    s.finish_body(id).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SIZE=18\r\nRCPT TO:<b@example.net>\r\n\
          BDAT 18 LAST\r\nSubject: x\r\n\r\nhi\r\n",
    );
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
    assert!(report(&mut s, id).all_delivered());
}

#[test]
fn last_chunk_answered_before_finish_body() {
    let mut s = open_warm();
    let id = mail(&mut s, envelope(&["b@example.net"]).with_counted_size(4));
    s.send_body(id, b"hi\r\n").unwrap();
    // Complete already: a driver may write it before it calls finish_body.
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SIZE=4\r\nRCPT TO:<b@example.net>\r\nBDAT 4 LAST\r\nhi\r\n",
    );
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n");
    assert!(events(&mut s).is_empty(), "the content is not ended yet");
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"");
    let r = report(&mut s, id);
    assert!(r.all_delivered());
    assert_eq!(r.data.as_ref().map(Reply::code), Some(ReplyCode::OK));
    // The session takes the next transaction.
    let next = mail(&mut s, envelope(&["c@example.net"]));
    s.finish_body(next).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\nBDAT 0 LAST\r\n",
    );
}

#[test]
fn content_longer_than_counted_is_never_sent() {
    let mut s = open_warm();
    let id = mail(&mut s, envelope(&["b@example.net"]).with_counted_size(4));
    assert!(matches!(
        s.send_body(id, b"hi\r\nand more\r\n"),
        Err(Error::Body(BodyError::LengthMismatch))
    ));
    // Nothing of the chunk leaves: the session is done for (the driver closes the
    // connection without ending the data), and its queue is dropped.
    assert_tx(&mut s, b"");
    assert!(s.error().is_some());
    // Positive twin: the counted length goes.
    let mut s = open_warm();
    let id = mail(&mut s, envelope(&["b@example.net"]).with_counted_size(4));
    s.send_body(id, b"hi\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert!(s.error().is_none());
}

#[test]
fn counted_and_declared_sizes_compare_equal() {
    let e = envelope(&["b@example.net"]);
    assert_eq!(e.clone().with_counted_size(5), e.clone().with_size(5));
    assert!(e.clone().with_counted_size(5).size_is_exact());
    // A size the caller declares is never trusted to frame ahead.
    assert!(!e.clone().with_counted_size(5).with_size(5).size_is_exact());
    assert_ne!(e.clone().with_size(5), e.with_size(6));
}
