//! Byte-exact tests of when BDAT content may first leave on a connection: never before
//! the server accepted a MAIL since the last EHLO and AUTH (a server that refuses MAIL
//! for a state it wants changed, as Postfix 3.7's `530 5.7.0` before STARTTLS, may not
//! read a refused chunk and take the content for commands).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::bdat_tests::{assert_tx, envelope, events, feed, mail, open, report, transmit, warm};
use super::*;
use crate::auth::{AuthOptions, Credentials};
use crate::proto::ReplyCode;

const EHLO_CHUNKING: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const EHLO_SUBMISSION: &[u8] =
    b"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n";
const EHLO_AFTER_TLS: &[u8] =
    b"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n";
const MUST_STARTTLS: &[u8] = b"530 5.7.0 Must issue a STARTTLS command first\r\n";

#[test]
fn first_transaction_mail_and_rcpt_in_one_write_chunk_after_the_replies() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let id = s
        .mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    assert!(events(&mut s).is_empty(), "no content before MAIL's 250");
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n",
    );
    assert!(!s.sending_body());
    assert_eq!(s.body_capacity(id), None);
    // Nothing may be queued behind it while its content has not gone.
    assert!(matches!(
        s.mail(envelope(&["d@example.net"])),
        Err(Error::Usage(_))
    ));
    assert_tx(&mut s, b"");
    feed(&mut s, b"250 2.1.0 ok\r\n550 5.1.1 no\r\n");
    assert!(events(&mut s).is_empty(), "a recipient is still undecided");
    assert_tx(&mut s, b"");
    feed(&mut s, b"250 2.1.5 ok\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(i)] if *i == id));
    s.send_body(id, b"one\n").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"BDAT 5 LAST\r\none\r\n");
    feed(&mut s, b"250 2.0.0 queued as F1\r\n");
    let r = report(&mut s, id);
    assert_eq!(r.recipients[0].command(), Some(CommandKind::Rcpt));
    assert_eq!(r.recipients[1].command(), Some(CommandKind::Bdat));
    assert!(r.error.is_none());
    // The second transaction rides: MAIL, RCPT and its chunk in one write.
    let id2 = mail(&mut s, envelope(&["d@example.net"]));
    s.send_body(id2, b"two\r\n").unwrap();
    s.finish_body(id2).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.net>\r\nBDAT 5 LAST\r\ntwo\r\n",
    );
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 queued as F2\r\n");
    assert!(report(&mut s, id2).all_delivered());
}

#[test]
fn mail_530_no_bdat_no_content_ever_written() {
    let mut s = open(EHLO_SUBMISSION, |_| {});
    let id = s.mail(envelope(&["b@example.net"])).unwrap();
    assert!(events(&mut s).is_empty());
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n",
    );
    feed(&mut s, MUST_STARTTLS);
    feed(&mut s, MUST_STARTTLS);
    // No SendBody: the transaction ends with its refusals.
    let r = report(&mut s, id);
    let e = r.recipients[0].result.as_ref().unwrap_err();
    assert_eq!(e.command(), Some(CommandKind::Mail));
    assert_eq!(e.code().map(ReplyCode::as_u16), Some(530));
    assert!(r.data.is_none());
    // Content handed over anyway is dropped, never written.
    s.send_body(id, b"Message-ID: <x@example.org>\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(&mut s, b"");
    assert!(!s.awaiting_reply());
    // Still no MAIL accepted: the next transaction waits too, after RSET as always.
    let id2 = s.mail(envelope(&["c@example.net"])).unwrap();
    assert!(events(&mut s).is_empty());
    assert_tx(
        &mut s,
        b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\n",
    );
    feed(&mut s, b"250 2.0.0 Ok\r\n");
    feed(&mut s, MUST_STARTTLS);
    feed(&mut s, MUST_STARTTLS);
    assert!(report(&mut s, id2).error.is_some());
    s.quit().unwrap();
    assert_tx(&mut s, b"QUIT\r\n");
    feed(&mut s, b"221 2.0.0 Bye\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
}

#[test]
fn positive_twin_after_starttls_the_first_mail_accepted_lets_content_ride() {
    let mut s = open(EHLO_SUBMISSION, |_| {});
    s.starttls().unwrap();
    assert_tx(&mut s, b"STARTTLS\r\n");
    feed(&mut s, b"220 2.0.0 Ready to start TLS\r\n");
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::StartTls(Ok(()))]
    ));
    s.tls_established();
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, EHLO_AFTER_TLS);
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    warm(&mut s);
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.send_body(id, b"x\r\n").unwrap();
    s.finish_body(id).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nBDAT 3 LAST\r\nx\r\n",
    );
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 queued\r\n");
    assert!(report(&mut s, id).all_delivered());
}

#[test]
fn starttls_and_auth_each_start_the_rule_over() {
    let mut s = open(EHLO_SUBMISSION, |_| {});
    // A MAIL accepted in plaintext says nothing about the state after STARTTLS.
    warm(&mut s);
    s.starttls().unwrap();
    assert_tx(&mut s, b"STARTTLS\r\n");
    feed(&mut s, b"220 2.0.0 Ready\r\n");
    events(&mut s);
    s.tls_established();
    s.set_tls_verified(true);
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, EHLO_AFTER_TLS);
    events(&mut s);
    warm(&mut s);
    // Nor one accepted before AUTH about the state after it.
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    s.auth(&creds, &AuthOptions::new(), None).unwrap();
    assert_tx(&mut s, b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    feed(&mut s, b"235 2.7.0 Authentication successful\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Auth(Ok(()))]));
    warm(&mut s);
    // Positive twin: after that MAIL was accepted, the next chunk rides again.
    let id = mail(&mut s, envelope(&["b@example.net"]));
    s.finish_body(id).unwrap();
    let sent = transmit(&mut s);
    assert!(
        sent.starts_with(b"MAIL FROM:<a@example.org>\r\n"),
        "{sent:?}"
    );
    assert!(sent.ends_with(b"BDAT 0 LAST\r\n"), "{sent:?}");
}

#[test]
fn every_rcpt_refused_on_the_first_transaction_sends_no_chunk() {
    let mut s = open(EHLO_CHUNKING, |_| {});
    let id = s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n",
    );
    feed(&mut s, b"250 ok\r\n550 5.1.1 no such user\r\n");
    let r = report(&mut s, id);
    assert_eq!(r.error.as_ref().unwrap().command(), Some(CommandKind::Rcpt));
    assert_tx(&mut s, b"");
    // MAIL was accepted: the next transaction rides, after RSET for the failed one.
    let id2 = mail(&mut s, envelope(&["c@example.net"]));
    s.send_body(id2, b"x\r\n").unwrap();
    s.finish_body(id2).unwrap();
    assert_tx(
        &mut s,
        b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.net>\r\nBDAT 3 LAST\r\nx\r\n",
    );
    feed(&mut s, b"250 reset\r\n250 ok\r\n250 ok\r\n250 queued\r\n");
    assert!(report(&mut s, id2).all_delivered());
}
