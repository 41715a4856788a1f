//! Byte-exact tests of BDAT (RFC 3030), BINARYMIME and transactions in flight: exact
//! reply bytes in, exact bytes out of `poll_transmit`, exact events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::BytesMut;

use super::*;
use crate::proto::error::Severity;
use crate::proto::{Domain, Envelope, RecipientResult, RecipientStatus, ReplyCode};

const EHLO_CHUNKING: &[u8] =
    b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";
const EHLO_CHUNKING_LOCK_STEP: &[u8] = b"250-mx.example\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";
const EHLO_CHUNKING_NO_BINARY: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const EHLO_PIPELINING_ONLY: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 BINARYMIME\r\n";

fn open(ehlo: &[u8], tweak: impl FnOnce(&mut SessionConfig)) -> Session {
    let mut c = SessionConfig::new(Domain::new("client.example").unwrap());
    tweak(&mut c);
    let mut s = Session::new(c);
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_eq!(transmit(&mut s), b"EHLO client.example\r\n");
    feed(&mut s, ehlo);
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    s
}

fn feed(s: &mut Session, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    s.handle_input(&mut buf);
    assert!(buf.is_empty() || s.error().is_some(), "left: {buf:?}");
}

/// Takes what the session queued, as a driver that writes it all at once.
fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    s.handle_written(out.len());
    out.to_vec()
}

#[track_caller]
fn assert_tx(s: &mut Session, expected: &[u8]) {
    assert_eq!(
        String::from_utf8_lossy(&transmit(s)),
        String::from_utf8_lossy(expected),
        "bytes sent"
    );
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[track_caller]
fn report(s: &mut Session, id: TxId) -> TransactionReport {
    let ev = events(s);
    match ev.as_slice() {
        [Event::Transaction(i, r)] if *i == id => r.clone(),
        other => panic!("expected the report of {id:?}, got {other:?}"),
    }
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// Queues a transaction and checks that it wants its content at once (BDAT + PIPELINING).
fn mail(s: &mut Session, env: Envelope) -> TxId {
    let id = s.mail(env).unwrap();
    let ev = events(s);
    assert!(
        matches!(ev.as_slice(), [Event::SendBody(i)] if *i == id),
        "{ev:?}"
    );
    id
}

#[test]
fn mail_rcpt_and_bdat_last_leave_in_one_transmit() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let body = b"Subject: x\n\nhi\n";
    let id = mail(
        &mut s,
        envelope(&["b@example.net", "c@example.net"]).with_size(18),
    );
    s.send_body(id, body).unwrap();
    s.finish_body(id).unwrap();
    // No DATA, no dot-stuffing; CRLF line endings; SIZE declared with BDAT too.
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SIZE=18\r\nRCPT TO:<b@example.net>\r\n\
          RCPT TO:<c@example.net>\r\nBDAT 18 LAST\r\nSubject: x\r\n\r\nhi\r\n",
    );
    feed(&mut s, b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n");
    assert!(events(&mut s).is_empty(), "the chunk's reply decides");
    feed(&mut s, b"250 2.0.0 queued as BD1\r\n");
    let r = report(&mut s, id);
    assert_eq!(r.id(), Some(id));
    let ok = r.recipients[0].result.as_ref().unwrap();
    assert_eq!(ok.code(), ReplyCode::OK);
    assert_eq!(r.recipients[0].command(), Some(CommandKind::Bdat));
    let refused = r.recipients[1].result.as_ref().unwrap_err();
    assert_eq!(refused.command(), Some(CommandKind::Rcpt));
    assert!(r.error.is_none());
    assert_eq!(r.data.as_ref().map(Reply::code), Some(ReplyCode::OK));
    // A success needs no RSET before the next MAIL.
    mail(&mut s, envelope(&["d@example.net"]));
    assert!(transmit(&mut s).starts_with(b"MAIL FROM:"));
}

#[test]
fn chunks_are_at_most_chunk_size_and_add_up_exactly() {
    let mut s = open(EHLO_CHUNKING, |c| c.chunk_size = 10);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(id, b"0123456789abcdefghij").unwrap();
    s.send_body(id, b"ABCDE").unwrap();
    s.finish_body(id).unwrap();
    let sent = transmit(&mut s);
    let expected: &[u8] = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n\
        BDAT 10\r\n0123456789BDAT 10\r\nabcdefghijBDAT 7 LAST\r\nABCDE\r\n";
    assert_eq!(
        String::from_utf8_lossy(&sent),
        String::from_utf8_lossy(expected)
    );
    // 10 + 10 + 7 = the 25 octets and the CRLF added at the end.
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n");
    assert!(events(&mut s).is_empty(), "the LAST chunk is still due");
    feed(&mut s, b"250 done\r\n");
    assert!(report(&mut s, id).all_delivered());
}

#[test]
fn a_5yz_to_the_first_of_three_chunks_stops_the_message() {
    let mut s = open(EHLO_CHUNKING, |c| c.chunk_size = 4);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(id, b"abcde").unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 4\r\nabcd",
    );
    assert_eq!(s.body_capacity(id), Some(4));
    feed(&mut s, b"250 ok\r\n250 ok\r\n554 5.6.0 no thanks\r\n");
    // RFC 3030 §2: no further chunk once a 4yz/5yz to a chunk was read.
    assert_eq!(s.body_capacity(id), None);
    s.send_body(id, b"fghij").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"");
    let r = report(&mut s, id);
    let e = r.recipients[0].result.as_ref().unwrap_err();
    assert_eq!(e.command(), Some(CommandKind::Bdat));
    assert_eq!(e.code(), Some(ReplyCode::TRANSACTION_FAILED));
    assert_eq!(e.severity(), Severity::Permanent);
    assert!(r.error.is_some());
    // The server may still be inside the transaction: RSET before the next MAIL.
    let id2 = mail(&mut s, envelope(&["c@example.net"]));
    assert_ne!(id, id2);
    assert_tx(
        &mut s,
        b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\n",
    );
}

#[test]
fn positive_twin_three_chunks_all_accepted() {
    let mut s = open(EHLO_CHUNKING, |c| c.chunk_size = 4);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(id, b"abcdefghi").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n\
          BDAT 4\r\nabcdBDAT 4\r\nefghBDAT 3 LAST\r\ni\r\n",
    );
    feed(
        &mut s,
        b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n",
    );
    let r = report(&mut s, id);
    assert!(r.all_delivered());
    assert_eq!(r.data.unwrap().lines(), ["queued"]);
}

#[test]
fn chunk_after_every_rcpt_failed_is_answered_and_rcpt_refusals_stand() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let id = mail(&mut s, envelope(&["b@example.net", "c@example.net"]));
    s.send_body(id, b"hi\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert!(transmit(&mut s).ends_with(b"BDAT 4 LAST\r\nhi\r\n"));
    feed(&mut s, b"250 ok\r\n550 5.1.1 no\r\n450 4.2.0 later\r\n");
    assert!(events(&mut s).is_empty(), "the chunk's reply is still due");
    feed(&mut s, b"554 5.5.1 no valid recipients\r\n");
    let r = report(&mut s, id);
    let codes: Vec<u16> = r
        .recipients
        .iter()
        .map(|x| x.result.as_ref().unwrap_err().code().unwrap().as_u16())
        .collect();
    assert_eq!(codes, [550, 450]);
    assert!(r.data.is_none(), "the chunk's reply counts for nothing");
    // The transient refusal is the transaction's error: someone may still get it later.
    assert!(r.error.as_ref().unwrap().is_transient());
    assert!(!r.turned_away());
}

#[test]
fn mail_refused_every_recipient_carries_it_and_chunk_replies_are_consumed() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(id, b"hi\r\n").unwrap();
    s.finish_body(id).unwrap();
    transmit(&mut s);
    feed(
        &mut s,
        b"550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n",
    );
    let r = report(&mut s, id);
    let e = r.recipients[0].result.as_ref().unwrap_err();
    assert_eq!(e.command(), Some(CommandKind::Mail));
    assert_eq!(e.code().unwrap().as_u16(), 550);
    assert!(!s.awaiting_reply());
}

#[test]
fn lock_step_bdat_waits_for_each_reply() {
    let mut s = open(EHLO_CHUNKING_LOCK_STEP, |c| c.chunk_size = 4);
    let id = s.mail(envelope(&["b@example.net"])).unwrap();
    assert!(
        events(&mut s).is_empty(),
        "content waits for the RCPT replies"
    );
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(i)] if *i == id));
    s.send_body(id, b"abcdefghi").unwrap();
    assert_tx(&mut s, b"BDAT 4\r\nabcd");
    assert_eq!(s.body_capacity(id), Some(0), "a chunk's reply first");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"BDAT 4\r\nefgh");
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"BDAT 3 LAST\r\ni\r\n");
    feed(&mut s, b"250 queued\r\n");
    assert!(report(&mut s, id).all_delivered());
}

#[test]
fn lock_step_bdat_refused_chunk_sends_no_more() {
    let mut s = open(EHLO_CHUNKING_LOCK_STEP, |c| c.chunk_size = 4);
    let id = s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"250 ok\r\n");
    events(&mut s);
    s.send_body(id, b"abcdefghij").unwrap();
    assert_tx(&mut s, b"BDAT 4\r\nabcd");
    feed(&mut s, b"452 4.3.1 out of space\r\n");
    assert_tx(&mut s, b"");
    let r = report(&mut s, id);
    assert_eq!(
        r.recipients[0].result.as_ref().unwrap_err().severity(),
        Severity::Transient
    );
}

#[test]
fn binarymime_goes_byte_for_byte() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let id = mail(
        &mut s,
        envelope(&["b@example.net"]).with_binarymime().with_size(5),
    );
    s.send_body(id, b"\x00\n.\r").unwrap();
    s.send_body(id, b"x").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SIZE=5 BODY=BINARYMIME\r\nRCPT TO:<b@example.net>\r\n\
          BDAT 5 LAST\r\n\x00\n.\rx",
    );
}

#[test]
fn binarymime_needs_chunking_and_binarymime_before_anything_is_sent() {
    for (ehlo, chunking, missing) in [
        (EHLO_CHUNKING_NO_BINARY, true, "BINARYMIME"),
        (EHLO_PIPELINING_ONLY, true, "CHUNKING"),
        (EHLO_CHUNKING, false, "CHUNKING"),
    ] {
        let mut s = open(ehlo, |c| c.chunking = chunking);
        let e = s
            .mail(envelope(&["b@example.net"]).with_binarymime())
            .unwrap_err();
        assert!(matches!(e, Error::Extension(x) if x == missing), "{e:?}");
        assert_tx(&mut s, b"");
        assert!(events(&mut s).is_empty());
        // Positive twin: the same session sends an ordinary message.
        s.mail(envelope(&["b@example.net"])).unwrap();
        assert!(transmit(&mut s).starts_with(b"MAIL FROM:<a@example.org>\r\n"));
    }
}

#[test]
fn chunking_off_uses_data() {
    let mut s = open(EHLO_CHUNKING, |c| c.chunking = false);
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn two_transactions_in_flight_in_one_transmit() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let a = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(a, b"one\r\n").unwrap();
    // RFC 2920 §3.1: the next MAIL only once the content before it is complete.
    assert!(s.mail(envelope(&["c@example.net"])).is_err());
    s.finish_body(a).unwrap();
    let b = mail(&mut s, envelope(&["c@example.net"]));
    s.send_body(b, b"two\r\n").unwrap();
    s.finish_body(b).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 5 LAST\r\none\r\n\
          MAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\nBDAT 5 LAST\r\ntwo\r\n",
    );
    assert_eq!(s.transactions_in_flight(), 2);
    // The first fails on its chunk; the second is accepted: each keeps its own result.
    feed(
        &mut s,
        b"250 ok\r\n250 ok\r\n554 5.6.0 bad content\r\n250 ok\r\n",
    );
    let ra = report(&mut s, a);
    assert!(ra.error.is_some());
    feed(&mut s, b"250 ok\r\n250 queued\r\n");
    let rb = report(&mut s, b);
    assert!(rb.all_delivered());
    // The last transaction succeeded: no RSET before the next MAIL.
    mail(&mut s, envelope(&["d@example.net"]));
    assert!(transmit(&mut s).starts_with(b"MAIL FROM:"));
}

#[test]
fn mail_503_after_an_earlier_failure_is_turned_away() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let a = mail(&mut s, envelope(&["b@example.net"]));
    s.finish_body(a).unwrap();
    let b = mail(&mut s, envelope(&["c@example.net"]));
    s.finish_body(b).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n550 no\r\n554 no valid recipients\r\n");
    assert!(report(&mut s, a).error.is_some());
    feed(&mut s, b"503 5.5.1 nested MAIL\r\n503 no\r\n503 no\r\n");
    let rb = report(&mut s, b);
    assert!(rb.turned_away());
    // The last transaction failed: RSET before the next MAIL.
    mail(&mut s, envelope(&["c@example.net"]));
    assert!(transmit(&mut s).starts_with(b"RSET\r\nMAIL FROM:"));
}

#[test]
fn data_transactions_are_never_queued_behind_one_another() {
    let mut s = open(EHLO_PIPELINING_ONLY, |_| {});
    s.mail(envelope(&["b@example.net"])).unwrap();
    let e = s.mail(envelope(&["c@example.net"])).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    assert!(!s.can_queue_transactions());
}

#[test]
fn eof_with_chunks_in_flight_is_transient_for_every_transaction() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let a = mail(&mut s, envelope(&["b@example.net"]));
    s.finish_body(a).unwrap();
    let b = mail(&mut s, envelope(&["c@example.net"]));
    s.finish_body(b).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n");
    s.handle_eof();
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2, "{ev:?}");
    for e in ev {
        let Event::Transaction(_, r) = e else {
            panic!("{e:?}")
        };
        assert!(r.recipients[0].result.as_ref().unwrap_err().is_transient());
    }
}

// --- LMTP (RFC 2033) -------------------------------------------------------------------------

fn open_lmtp(ehlo: &[u8]) -> Session {
    let mut c = SessionConfig::new(Domain::new("client.example").unwrap());
    c.lmtp = true;
    let mut s = Session::new(c);
    feed(&mut s, b"220 lmtp.example LMTP\r\n");
    // RFC 2033 §4.1: LHLO, never EHLO.
    assert_eq!(transmit(&mut s), b"LHLO client.example\r\n");
    feed(&mut s, ehlo);
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    s
}

#[track_caller]
fn assert_outcome(r: &RecipientResult, command: CommandKind, code: u16, status: RecipientStatus) {
    assert_eq!(r.status(), status, "{r:?}");
    assert_eq!(r.command(), Some(command), "{r:?}");
    assert_eq!(r.reply().map(|x| x.code().as_u16()), Some(code), "{r:?}");
}

#[test]
fn lmtp_one_reply_per_accepted_recipient_after_data() {
    let mut s = open_lmtp(b"250-lmtp.example\r\n250 PIPELINING\r\n");
    let to = [
        "b@example.net",
        "c@example.net",
        "d@example.net",
        "e@example.net",
    ];
    s.mail(envelope(&to)).unwrap();
    transmit(&mut s);
    feed(
        &mut s,
        b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n250 ok\r\n354 go\r\n",
    );
    let Some(Event::SendBody(id)) = s.poll_event() else {
        panic!("no SendBody")
    };
    s.send_body(id, b"hi\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"hi\r\n.\r\n");
    // RFC 2033 §4.2: b, d and e were accepted: three replies, in RCPT order.
    feed(&mut s, b"250 2.1.5 b delivered\r\n");
    assert!(events(&mut s).is_empty(), "two more replies are due");
    feed(
        &mut s,
        b"452 4.2.2 d over quota\r\n550 5.2.1 e disabled\r\n",
    );
    let r = report(&mut s, id);
    assert_outcome(
        &r.recipients[0],
        CommandKind::DataEnd,
        250,
        RecipientStatus::Delivered,
    );
    assert_outcome(
        &r.recipients[1],
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert_outcome(
        &r.recipients[2],
        CommandKind::DataEnd,
        452,
        RecipientStatus::Transient,
    );
    assert_outcome(
        &r.recipients[3],
        CommandKind::DataEnd,
        550,
        RecipientStatus::Permanent,
    );
    assert_eq!(
        r.data.as_ref().map(|d| d.code().as_u16()),
        Some(550),
        "the last one"
    );
    assert!(r.error.is_none());
    assert!(!s.awaiting_reply());
}

#[test]
fn lmtp_with_bdat_and_every_recipient_refused_after_the_message() {
    let mut s = open_lmtp(b"250-lmtp.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    let id = mail(&mut s, envelope(&["b@example.net", "c@example.net"]));
    s.send_body(id, b"hi\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert!(transmit(&mut s).ends_with(b"BDAT 4 LAST\r\nhi\r\n"));
    feed(
        &mut s,
        b"250 ok\r\n250 ok\r\n250 ok\r\n550 5.2.1 b disabled\r\n452 4.2.2 c full\r\n",
    );
    let r = report(&mut s, id);
    assert_outcome(
        &r.recipients[0],
        CommandKind::Bdat,
        550,
        RecipientStatus::Permanent,
    );
    assert_outcome(
        &r.recipients[1],
        CommandKind::Bdat,
        452,
        RecipientStatus::Transient,
    );
    // As for RCPT: the first transient refusal is the transaction's error.
    assert!(r.error.as_ref().unwrap().is_transient());
    // Positive twin: the same replies delivered.
    let id = mail(&mut s, envelope(&["b@example.net", "c@example.net"]));
    s.finish_body(id).unwrap();
    assert!(transmit(&mut s).starts_with(b"RSET\r\n"));
    feed(
        &mut s,
        b"250 reset\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 b\r\n250 c\r\n",
    );
    assert!(report(&mut s, id).all_delivered());
}

#[test]
fn lmtp_lhlo_refused_has_no_helo_fallback() {
    let mut c = SessionConfig::new(Domain::new("client.example").unwrap());
    c.lmtp = true;
    let mut s = Session::new(c);
    feed(&mut s, b"220 lmtp.example LMTP\r\n");
    assert_eq!(transmit(&mut s), b"LHLO client.example\r\n");
    feed(&mut s, b"500 5.5.1 unknown command\r\n");
    assert_tx(&mut s, b"");
    let ev = events(&mut s);
    assert!(
        matches!(ev.as_slice(), [Event::Ready(Err(e))] if e.command() == Some(CommandKind::Lhlo)),
        "{ev:?}"
    );
}

/// Found by fuzz/fuzz_targets/session_window.rs (corpus `strict_bare_lf`): the chunks
/// framed before a bare LF in strict mode were still handed out after the bare LF
/// poisoned the session. Sticky failure: a poisoned session sends nothing more.
#[test]
fn strict_bare_lf_in_bdat_leaves_nothing_to_send() {
    let strict = |c: &mut SessionConfig| {
        c.line_endings = LineEndings::Strict;
        c.chunk_size = 4;
    };
    // Baseline: without the bare LF, the full chunk is queued and handed out.
    let mut s = open(EHLO_CHUNKING_NO_BINARY, strict);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n",
    );
    s.send_body(id, b"abcdef").unwrap();
    assert_tx(&mut s, b"BDAT 4\r\nabcd");

    let mut s = open(EHLO_CHUNKING_NO_BINARY, strict);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    transmit(&mut s);
    s.send_body(id, b"abcdef").unwrap();
    let err = s.send_body(id, b"g\nh").unwrap_err();
    assert!(
        matches!(err, Error::Body(crate::proto::body::BodyError::BareLf(_))),
        "{err:?}"
    );
    assert!(!s.wants_write());
    assert_tx(&mut s, b"");
    assert!(matches!(report(&mut s, id).error, Some(Error::Body(_))));
}
