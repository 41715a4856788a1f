//! Byte-exact tests of the sans-IO session: exact reply bytes in through `handle_input`,
//! exact command bytes out of `poll_transmit`, exact `Event`s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::BytesMut;

use super::*;
use crate::proto::error::Severity;
use crate::proto::{Domain, Envelope, EsmtpParam};
use crate::proto::{EnhancedCode, RecipientResult, RecipientStatus, ReplyCode};

const EHLO_PIPELINING: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
const EHLO_PLAIN: &[u8] = b"250-mx.example\r\n250 8BITMIME\r\n";

fn config(pipelining: bool) -> SessionConfig {
    let mut c = SessionConfig::new(Domain::new("client.example").unwrap());
    c.pipelining = pipelining;
    c
}

/// Feeds `bytes` and checks the session consumed all of them.
fn feed(s: &mut Session, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    s.handle_input(&mut buf);
    assert!(
        buf.is_empty() || s.error().is_some(),
        "left unconsumed: {:?}",
        String::from_utf8_lossy(&buf)
    );
}

/// Takes the bytes to send; the driver writes them all at once.
fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    s.handle_written(out.len());
    out.to_vec()
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[track_caller]
fn assert_tx(s: &mut Session, expected: &[u8]) {
    let got = transmit(s);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "bytes sent"
    );
}

#[track_caller]
fn assert_no_events(s: &mut Session) {
    let ev = events(s);
    assert!(ev.is_empty(), "unexpected events: {ev:?}");
}

/// The single event, which must be a finished transaction.
#[track_caller]
fn report(s: &mut Session) -> TransactionReport {
    let mut ev = events(s);
    assert_eq!(ev.len(), 1, "events: {ev:?}");
    match ev.pop() {
        Some(Event::Transaction(_, r)) => r,
        other => panic!("expected a transaction report, got {other:?}"),
    }
}

/// Greeting and EHLO with `ehlo_reply`, checking the bytes and the Ready event.
fn open_with(pipelining: bool, ehlo_reply: &[u8]) -> Session {
    let mut s = Session::new(config(pipelining));
    assert_tx(&mut s, b"");
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    assert_no_events(&mut s);
    feed(&mut s, ehlo_reply);
    let ev = events(&mut s);
    assert!(matches!(ev.as_slice(), [Event::Ready(Ok(()))]), "{ev:?}");
    assert!(s.is_ready());
    s
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope::new("a@example.org", to.iter().copied()).unwrap()
}

/// Streams `body` after 354 and returns the wire bytes of the data (all that was queued
/// for transmission).
fn send_body(s: &mut Session, body: &[u8]) -> Vec<u8> {
    let id = s
        .txs
        .iter()
        .find(|t| t.body_open())
        .expect("a body is wanted")
        .id;
    s.send_body(id, body).unwrap();
    s.finish_body(id).unwrap();
    transmit(s)
}

#[track_caller]
fn assert_reply_err(r: &Result<Reply, Error>, command: CommandKind, code: u16, severity: Severity) {
    let e = r.as_ref().expect_err("recipient must have failed");
    assert_eq!(e.command(), Some(command), "{e}");
    assert_eq!(e.code().map(ReplyCode::as_u16), Some(code), "{e}");
    assert_eq!(e.severity(), severity, "{e}");
}

// --- opening -------------------------------------------------------------------------------

#[test]
fn greeting_then_ehlo_split_anywhere() {
    // A partial line stays in the buffer until the rest arrives.
    let mut s = Session::new(config(true));
    let mut buf = BytesMut::from(&b"220 mx.exa"[..]);
    s.handle_input(&mut buf);
    assert_eq!(&buf[..], b"220 mx.exa");
    assert_tx(&mut s, b"");
    buf.extend_from_slice(b"mple ESMTP\r\n");
    s.handle_input(&mut buf);
    assert!(buf.is_empty());
    assert_tx(&mut s, b"EHLO client.example\r\n");
    assert_eq!(
        s.greeting().map(Reply::code),
        Some(ReplyCode::SERVICE_READY)
    );
    assert!(!s.is_ready());
    buf.extend_from_slice(b"250-mx.example\r\n250-PIPE");
    s.handle_input(&mut buf);
    assert_eq!(&buf[..], b"250-PIPE");
    assert_no_events(&mut s);
    buf.extend_from_slice(b"LINING\r\n250 SIZE 1000\r\n");
    s.handle_input(&mut buf);
    assert!(buf.is_empty());
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    let caps = s.capabilities().unwrap();
    assert!(caps.pipelining());
    assert_eq!(caps.size(), Some(Some(1000)));
    assert_tx(&mut s, b"");
}

#[test]
fn ehlo_500_falls_back_to_helo_without_capabilities() {
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 old.example SMTP\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, b"500 5.5.1 command unrecognized\r\n");
    assert_no_events(&mut s);
    assert_tx(&mut s, b"HELO client.example\r\n");
    feed(&mut s, b"250 old.example\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    assert!(s.capabilities().is_none());
    // No PIPELINING after HELO: MAIL goes out alone.
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");

    // Positive twin: after EHLO the capabilities are known and the group is pipelined.
    let mut s = open_with(true, EHLO_PIPELINING);
    assert!(s.capabilities().is_some());
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn ehlo_refused_other_than_500_504_fails_open() {
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, b"554 5.7.1 go away\r\n");
    assert_tx(&mut s, b"");
    let ev = events(&mut s);
    match ev.as_slice() {
        [
            Event::Ready(Err(
                e @ Error::Reply {
                    command: CommandKind::Ehlo,
                    ..
                },
            )),
        ] => {
            assert!(e.is_permanent());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.error(),
        Some(Error::Reply {
            command: CommandKind::Ehlo,
            ..
        })
    ));
    // HELO refused after the fallback: the same.
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example\r\n502 no\r\n");
    // (the 502 arrived before EHLO was sent: unsolicited, see below)
    assert!(matches!(
        s.error(),
        Some(Error::Protocol {
            error: ProtocolError::Unsolicited,
            ..
        })
    ));
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, b"502 no\r\n");
    assert_tx(&mut s, b"HELO client.example\r\n");
    feed(&mut s, b"451 try later\r\n");
    match events(&mut s).as_slice() {
        [
            Event::Ready(Err(
                e @ Error::Reply {
                    command: CommandKind::Helo,
                    ..
                },
            )),
        ] => {
            assert!(e.is_transient());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn greeting_554_and_421_end_the_session() {
    for (greeting, severity) in [
        (
            &b"554 5.3.2 no SMTP service here\r\n"[..],
            Severity::Permanent,
        ),
        (b"521 5.3.2 does not accept mail\r\n", Severity::Permanent),
        (b"421 4.3.2 busy, try later\r\n", Severity::Transient),
    ] {
        let mut s = Session::new(config(true));
        feed(&mut s, greeting);
        // RFC 5321 §3.1: QUIT (see closing::refused_greeting_gets_quit_and_nothing_else).
        assert_tx(&mut s, b"QUIT\r\n");
        match events(&mut s).as_slice() {
            [Event::Ready(Err(e @ Error::Greeting { .. }))] => assert_eq!(e.severity(), severity),
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.error(), Some(Error::Greeting { .. })));
        assert!(s.mail(envelope(&["b@example.net"])).is_err());
    }
}

#[test]
fn greeting_with_wrong_class_or_malformed_is_a_protocol_error() {
    for (greeting, expected) in [
        (&b"250 hello\r\n"[..], ProtocolError::UnexpectedCode(250)),
        (b"354 hello\r\n", ProtocolError::UnexpectedCode(354)),
        (
            b"hello there\r\n",
            ProtocolError::Reply(crate::proto::reply::ReplyError::BadCode),
        ),
        // A NUL in the text (twin: the 220 of greeting_then_ehlo_split_anywhere).
        (
            b"220 host\0ESMTP\r\n",
            ProtocolError::Reply(crate::proto::reply::ReplyError::Nul),
        ),
    ] {
        let mut s = Session::new(config(true));
        feed(&mut s, greeting);
        assert_tx(&mut s, b"");
        match events(&mut s).as_slice() {
            [
                Event::Ready(Err(Error::Protocol {
                    command: None,
                    error,
                })),
            ] => assert_eq!(*error, expected),
            other => panic!("{greeting:?}: {other:?}"),
        }
    }
}

// --- transactions ----------------------------------------------------------------------------

#[test]
fn pipelined_group_in_one_transmit_then_body() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
    );
    assert!(s.in_transaction());
    assert!(
        s.mail(envelope(&["x@example.net"])).is_err(),
        "one transaction at a time"
    );
    feed(&mut s, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n");
    assert_no_events(&mut s);
    feed(&mut s, b"250 2.1.5 ok\r\n354 go ahead\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
    assert!(s.sending_body());
    assert_eq!(s.phase(), Some(Phase::DataBlock));
    let wire = send_body(&mut s, b"Subject: t\n\n.hidden\nend");
    assert_eq!(&wire[..], b"Subject: t\r\n\r\n..hidden\r\nend\r\n.\r\n");
    assert_eq!(s.phase(), Some(Phase::DataTermination));
    assert_no_events(&mut s);
    feed(&mut s, b"250 2.0.0 queued as 1234\r\n");
    let r = report(&mut s);
    assert!(r.all_delivered());
    assert!(r.error.is_none());
    assert_eq!(r.data.as_ref().map(|d| d.code().as_u16()), Some(250));
    assert!(
        r.recipients
            .iter()
            .all(|x| x.status() == RecipientStatus::Delivered)
    );
    assert!(!s.in_transaction());
    assert!(!s.awaiting_reply());
    // A successful transaction is not followed by RSET.
    s.mail(envelope(&["d@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn lock_step_when_pipelining_is_off_in_config() {
    let mut s = open_with(false, EHLO_PIPELINING);
    lock_step_transaction(&mut s);
}

#[test]
fn lock_step_when_server_does_not_offer_pipelining() {
    let mut s = open_with(true, EHLO_PLAIN);
    lock_step_transaction(&mut s);
}

fn lock_step_transaction(s: &mut Session) {
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(s, b"MAIL FROM:<a@example.org>\r\n");
    feed(s, b"250 ok\r\n");
    assert_tx(s, b"RCPT TO:<b@example.net>\r\n");
    feed(s, b"250 ok\r\n");
    assert_tx(s, b"RCPT TO:<c@example.net>\r\n");
    feed(s, b"250 ok\r\n");
    assert_tx(s, b"DATA\r\n");
    assert_no_events(s);
    feed(s, b"354 go\r\n");
    assert!(matches!(events(s).as_slice(), [Event::SendBody(_)]));
    assert_eq!(send_body(s, b"hi\r\n"), b"hi\r\n.\r\n");
    feed(s, b"250 queued\r\n");
    assert!(report(s).all_delivered());
}

#[test]
fn rcpt_refusals_mixed_with_accepted() {
    let mut s = open_with(
        true,
        b"250-mx.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n",
    );
    s.mail(envelope(&[
        "ok1@example.net",
        "gone@example.net",
        "busy@example.net",
        "many@example.net",
        "ok2@example.net",
    ]))
    .unwrap();
    transmit(&mut s);
    feed(
        &mut s,
        b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n451 4.2.0 greylisted\r\n\
          552 5.5.3 too many recipients\r\n250 2.1.5 ok\r\n354 go\r\n",
    );
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
    send_body(&mut s, b"x");
    feed(&mut s, b"250 2.0.0 queued\r\n");
    let r = report(&mut s);
    assert!(r.error.is_none(), "some were delivered: {:?}", r.error);
    let status: Vec<_> = r.recipients.iter().map(RecipientResult::status).collect();
    assert_eq!(
        status,
        [
            RecipientStatus::Delivered,
            RecipientStatus::Permanent,
            RecipientStatus::Transient,
            RecipientStatus::Transient,
            RecipientStatus::Delivered
        ]
    );
    assert_reply_err(
        &r.recipients[1].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert_reply_err(
        &r.recipients[2].result,
        CommandKind::Rcpt,
        451,
        Severity::Transient,
    );
    assert_reply_err(
        &r.recipients[3].result,
        CommandKind::Rcpt,
        552,
        Severity::Transient,
    );
    assert_eq!(
        r.recipients[1].result.as_ref().unwrap_err().enhanced_code(),
        EnhancedCode::new(5, 1, 1)
    );
    // Accepted recipients carry the final reply.
    assert_eq!(
        r.recipients[0].reply().map(|x| x.code().as_u16()),
        Some(250)
    );
    assert_eq!(r.recipients[4].command(), Some(CommandKind::DataEnd));
    // Some were refused, none failed as a whole: no RSET before the next MAIL.
    s.mail(envelope(&["x@example.net"])).unwrap();
    assert!(transmit(&mut s).starts_with(b"MAIL FROM:"));
}

#[test]
fn rcpt_552_is_transient_but_data_552_is_permanent() {
    // RFC 5321 §4.5.3.1.10: 552 to RCPT is "too many recipients", i.e. 452.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"552 too many recipients\r\n");
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::Rcpt,
        552,
        Severity::Transient,
    );
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
    assert!(r.error.as_ref().unwrap().is_transient());

    // Twin: 552 to the data (message too big for the mailbox) stays permanent.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
    events(&mut s);
    send_body(&mut s, b"x");
    feed(&mut s, b"552 mailbox full\r\n");
    let r = report(&mut s);
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::DataEnd,
        552,
        Severity::Permanent,
    );
    assert_eq!(r.recipients[0].status(), RecipientStatus::Permanent);
    assert_eq!(r.data.as_ref().map(|d| d.code().as_u16()), Some(552));
}

#[test]
fn all_recipients_refused_in_lock_step_sends_no_data() {
    let mut s = open_with(false, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"550 no\r\n");
    assert_tx(&mut s, b"RCPT TO:<c@example.net>\r\n");
    feed(&mut s, b"550 no either\r\n");
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert!(r.data.is_none());
    assert!(
        r.recipients
            .iter()
            .all(|x| x.status() == RecipientStatus::Permanent)
    );
    assert_eq!(
        r.error.as_ref().and_then(Error::command),
        Some(CommandKind::Rcpt)
    );
    assert!(!s.awaiting_reply());

    // Twin: one accepted, so DATA follows.
    let mut s = open_with(false, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"550 no\r\n");
    assert_tx(&mut s, b"RCPT TO:<c@example.net>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"DATA\r\n");
}

#[test]
fn pipelined_data_refused_sends_no_body() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    transmit(&mut s);
    feed(
        &mut s,
        b"250 ok\r\n550 no\r\n451 later\r\n554 no valid recipients\r\n",
    );
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    // Each recipient keeps its own RCPT refusal, not the DATA one.
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert_reply_err(
        &r.recipients[1].result,
        CommandKind::Rcpt,
        451,
        Severity::Transient,
    );
    // The transaction error is the transient one: someone may still get it later.
    assert_eq!(
        r.error
            .as_ref()
            .and_then(Error::code)
            .map(ReplyCode::as_u16),
        Some(451)
    );
    assert!(r.data.is_none());
    assert!(!s.sending_body());
}

#[test]
fn data_refused_after_accepted_recipients() {
    for (reply, severity) in [
        (&b"554 5.7.1 rejected\r\n"[..], Severity::Permanent),
        (b"451 4.3.0 later\r\n", Severity::Transient),
    ] {
        let mut s = open_with(true, EHLO_PIPELINING);
        s.mail(envelope(&["b@example.net", "c@example.net"]))
            .unwrap();
        transmit(&mut s);
        feed(&mut s, b"250 ok\r\n250 ok\r\n550 no\r\n");
        feed(&mut s, reply);
        assert_tx(&mut s, b"");
        let r = report(&mut s);
        assert_reply_err(
            &r.recipients[0].result,
            CommandKind::Data,
            reply_code(reply),
            severity,
        );
        assert_reply_err(
            &r.recipients[1].result,
            CommandKind::Rcpt,
            550,
            Severity::Permanent,
        );
        assert_eq!(r.error.as_ref().map(Error::severity), Some(severity));
    }
}

fn reply_code(reply: &[u8]) -> u16 {
    std::str::from_utf8(&reply[..3]).unwrap().parse().unwrap()
}

#[test]
fn data_354_without_accepted_recipients_sends_lone_dot() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n550 no\r\n354 go ahead anyway\r\n");
    assert_no_events(&mut s);
    assert!(!s.sending_body());
    assert_tx(&mut s, b".\r\n");
    assert_eq!(s.pending_command(), Some(CommandKind::DataEnd));
    feed(&mut s, b"554 no valid recipients\r\n");
    let r = report(&mut s);
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert!(r.data.is_none());
    // Even a 250 to the empty data delivers nothing.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n550 no\r\n354 go ahead anyway\r\n");
    assert_tx(&mut s, b".\r\n");
    feed(&mut s, b"250 ok, queued nothing\r\n");
    let r = report(&mut s);
    assert!(r.delivered().next().is_none());
    assert!(r.error.is_some());
}

#[test]
fn mail_refused_pipelined_every_recipient_carries_it() {
    for (code, severity) in [(550, Severity::Permanent), (451, Severity::Transient)] {
        let mut s = open_with(true, EHLO_PIPELINING);
        s.mail(envelope(&["b@example.net", "c@example.net"]))
            .unwrap();
        transmit(&mut s);
        feed(
            &mut s,
            format!("{code} sender refused\r\n503 need MAIL\r\n503 need MAIL\r\n503 need MAIL\r\n")
                .as_bytes(),
        );
        assert_tx(&mut s, b"");
        let r = report(&mut s);
        for x in &r.recipients {
            assert_reply_err(&x.result, CommandKind::Mail, code, severity);
        }
        assert_eq!(
            r.error.as_ref().and_then(Error::command),
            Some(CommandKind::Mail)
        );
    }
}

#[test]
fn rset_before_next_mail_only_after_failure() {
    // Pipelined: RSET goes first in the next group.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n550 no\r\n554 no recipients\r\n");
    assert!(report(&mut s).error.is_some());
    s.mail(envelope(&["c@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
    );
    feed(&mut s, b"250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    assert!(
        matches!(events(&mut s).as_slice(), [Event::SendBody(_)]),
        "the internal RSET has no event"
    );
    send_body(&mut s, b"x");
    feed(&mut s, b"250 ok\r\n");
    assert!(report(&mut s).all_delivered());
    // Success: no RSET next time.
    s.mail(envelope(&["d@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn rset_in_lock_step_waits_for_its_reply() {
    // RFC 2920 §3: without PIPELINING no command is sent before the previous reply.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"451 try later\r\n");
    assert_tx(&mut s, b"");
    assert_reply_err(
        &report(&mut s).recipients[0].result,
        CommandKind::Mail,
        451,
        Severity::Transient,
    );
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(&mut s, b"RSET\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<b@example.net>\r\n");
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"DATA\r\n");
    feed(&mut s, b"354 go\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
    send_body(&mut s, b"x");
    feed(&mut s, b"250 ok\r\n");
    assert!(report(&mut s).all_delivered());
}

#[test]
fn lock_step_rset_421_ends_the_transaction_without_mail() {
    // A server that times the client out between transactions answers the RSET with 421
    // and closes: no MAIL is sent, every recipient carries the 421 (transient).
    // Twin: rset_in_lock_step_waits_for_its_reply, where RSET gets 250 and MAIL follows.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"451 try later\r\n");
    let _ = report(&mut s);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert_tx(&mut s, b"RSET\r\n");
    feed(&mut s, b"421 4.4.2 closing\r\n");
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert_eq!(r.recipients.len(), 2);
    for rcpt in &r.recipients {
        assert_reply_err(&rcpt.result, CommandKind::Rset, 421, Severity::Transient);
    }
    assert!(!s.is_ready());
}

#[test]
fn user_rset_noop_and_quit() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.rset().unwrap();
    assert_tx(&mut s, b"RSET\r\n");
    feed(&mut s, b"250 2.0.0 ok\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Reset(Ok(()))]));
    s.noop().unwrap();
    assert_tx(&mut s, b"NOOP\r\n");
    feed(&mut s, b"250 2.0.0 fine\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Noop(Ok(r))] if r.code() == ReplyCode::OK));
    s.quit().unwrap();
    assert_tx(&mut s, b"QUIT\r\n");
    feed(&mut s, b"221 2.0.0 bye\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
    assert!(s.mail(envelope(&["b@example.net"])).is_err());
    // A server that closes instead of answering QUIT: fine too.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.quit().unwrap();
    transmit(&mut s);
    s.handle_eof();
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
}

#[test]
fn enhanced_codes_only_when_advertised() {
    for (ehlo, expected) in [
        (
            &b"250-mx.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"[..],
            EnhancedCode::new(5, 1, 1),
        ),
        (EHLO_PIPELINING, None),
    ] {
        let mut s = open_with(true, ehlo);
        s.mail(envelope(&["b@example.net"])).unwrap();
        transmit(&mut s);
        feed(
            &mut s,
            b"250 2.1.0 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no recipients\r\n",
        );
        let r = report(&mut s);
        let e = r.recipients[0].result.as_ref().unwrap_err();
        assert_eq!(e.enhanced_code(), expected);
        assert_eq!(e.code().map(ReplyCode::as_u16), Some(550));
    }
}

// --- protocol errors -------------------------------------------------------------------------

#[path = "session_close_tests.rs"]
mod closing;

#[path = "session_refusal_tests.rs"]
mod refusals;
