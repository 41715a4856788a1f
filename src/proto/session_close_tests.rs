//! A 421 ends the session wherever it comes (RFC 5321 §3.8), and a refused greeting gets a
//! QUIT (§3.1): byte-exact, every position, lock-step and pipelined. A child of
//! `session_tests`, whose helpers it uses.

use super::*;
use crate::auth::{AuthOptions, Credentials, Mechanism};

const BYE: &[u8] = b"421 4.3.2 mx.example closing\r\n";
const THREE: [&str; 3] = ["b@example.net", "c@example.net", "d@example.net"];

/// Checks that the session is closed by the server: every call but QUIT fails with
/// `ServerClosing` and sends nothing, replies still arriving are dropped, and one QUIT
/// (answered or not) is still allowed.
#[track_caller]
fn assert_closed_by_server(s: &mut Session) {
    assert_tx(s, b"");
    assert!(!s.is_ready() && !s.in_transaction() && !s.awaiting_reply());
    let closing = |e: &Error| {
        matches!(e, Error::ServerClosing { reply } if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE)
            && e.is_transient()
            && !e.connection_usable()
    };
    assert!(s.error().is_some_and(closing), "{:?}", s.error());
    for (what, r) in [
        ("MAIL", s.mail(envelope(&["x@example.net"])).map(|_| ())),
        ("RSET", s.rset()),
        ("NOOP", s.noop()),
        ("STARTTLS", s.starttls()),
    ] {
        assert!(r.as_ref().is_err_and(closing), "{what}: {r:?}");
    }
    let auth = s.auth(
        &Credentials::new("u", "p"),
        &AuthOptions::new().allow_cleartext(true),
        None,
    );
    assert!(auth.as_ref().is_err_and(closing), "AUTH: {auth:?}");
    // The rest of a pipelined group may still come before the server closes.
    feed(s, b"250 2.1.5 ok\r\n354 go ahead\r\n");
    assert_tx(s, b"");
    assert_no_events(s);
    s.quit().unwrap();
    assert_tx(s, b"QUIT\r\n");
    assert!(s.quit().is_err(), "one QUIT only");
    assert_tx(s, b"");
    s.handle_eof();
    assert!(matches!(events(s).as_slice(), [Event::Quit(Ok(()))]));
    assert!(s.error().is_some_and(closing), "{:?}", s.error());
}

/// The error every undecided recipient carries: the 421 to `command`, transient.
#[track_caller]
fn assert_421(r: &RecipientResult, command: CommandKind) {
    assert_reply_err(&r.result, command, 421, Severity::Transient);
    assert!(!r.result.as_ref().unwrap_err().connection_usable());
}

// --- opening ---------------------------------------------------------------------------------

#[test]
fn refused_greeting_gets_quit_and_nothing_else() {
    for greeting in [
        &b"554 5.3.2 no SMTP service here\r\n"[..],
        b"521 5.3.2 does not accept mail\r\n",
        b"421 4.3.2 busy, try later\r\n",
        b"450 4.7.1 come back later\r\n",
    ] {
        let mut s = Session::new(config(true));
        feed(&mut s, greeting);
        // RFC 5321 §3.1: QUIT, then wait for the server to close.
        assert_tx(&mut s, b"QUIT\r\n");
        assert!(matches!(
            events(&mut s).as_slice(),
            [Event::Ready(Err(Error::Greeting { .. }))]
        ));
        assert!(s.awaiting_reply());
        assert_eq!(s.phase(), Some(Phase::Command));
        assert!(s.mail(envelope(&["b@example.net"])).is_err());
        assert!(s.quit().is_err(), "QUIT was sent already");
        assert_tx(&mut s, b"");
        feed(&mut s, b"221 2.0.0 bye\r\n");
        assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
        assert!(!s.awaiting_reply());
        s.handle_eof();
        assert_no_events(&mut s);
        assert_tx(&mut s, b"");
        assert!(matches!(s.error(), Some(Error::Greeting { .. })));
    }
    // A server that closes instead of answering the QUIT; and one that never answers.
    let mut s = Session::new(config(true));
    feed(&mut s, b"554 no\r\n");
    assert_tx(&mut s, b"QUIT\r\n");
    let _ = events(&mut s);
    s.handle_eof();
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
    assert!(matches!(s.error(), Some(Error::Greeting { .. })));
    let mut s = Session::new(config(true));
    feed(&mut s, b"554 no\r\n");
    transmit(&mut s);
    let _ = events(&mut s);
    s.handle_timeout();
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Quit(Err(Error::Timeout { .. }))]
    ));
    assert!(matches!(s.error(), Some(Error::Greeting { .. })));
    // Twin: a 220 gets EHLO, not QUIT.
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
}

#[test]
fn ehlo_or_helo_421_sends_nothing_more() {
    // EHLO 421: no HELO fallback (twin: ehlo_500_falls_back_to_helo_without_capabilities).
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, BYE);
    assert_tx(&mut s, b"");
    match events(&mut s).as_slice() {
        [Event::Ready(Err(e))] => {
            assert_eq!(e.command(), Some(CommandKind::Ehlo));
            assert_eq!(e.code(), Some(ReplyCode::SERVICE_NOT_AVAILABLE));
            assert!(e.is_transient() && !e.connection_usable());
        }
        other => panic!("{other:?}"),
    }
    assert!(s.mail(envelope(&["b@example.net"])).is_err());
    assert_tx(&mut s, b"");
    // HELO 421 after EHLO 500.
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example\r\n");
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, b"500 what?\r\n");
    assert_tx(&mut s, b"HELO client.example\r\n");
    feed(&mut s, BYE);
    assert_tx(&mut s, b"");
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Ready(Err(Error::Reply {
            command: CommandKind::Helo,
            ..
        }))]
    ));
}

// --- transactions, lock-step ----------------------------------------------------------------

/// Lock-step with three recipients: `replies` are fed one at a time, each answered by the
/// next command; the last is the 421, after which nothing goes out.
fn lock_step_until_421(replies: &[&[u8]]) -> (Session, TransactionReport) {
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&THREE)).unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    let mut next = THREE.iter().map(|r| format!("RCPT TO:<{r}>\r\n"));
    for reply in replies {
        feed(&mut s, reply);
        let sent = transmit(&mut s);
        if sent.is_empty() {
            break;
        }
        let want = next.next().unwrap_or_else(|| "DATA\r\n".into());
        assert_eq!(String::from_utf8_lossy(&sent), want);
    }
    feed(&mut s, BYE);
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert_closed_by_server(&mut s);
    (s, r)
}

#[test]
fn lock_step_421_to_mail() {
    let (_, r) = lock_step_until_421(&[]);
    for rcpt in &r.recipients {
        assert_421(rcpt, CommandKind::Mail);
    }
    assert!(r.is_failed() && r.error.as_ref().is_some_and(Error::is_transient));
}

#[test]
fn lock_step_421_to_first_rcpt() {
    let (_, r) = lock_step_until_421(&[b"250 ok\r\n"]);
    // The first got the 421; the two never sent carry it too, as it is the reason.
    for rcpt in &r.recipients {
        assert_421(rcpt, CommandKind::Rcpt);
    }
}

#[test]
fn lock_step_421_to_middle_rcpt_sends_no_third_rcpt() {
    // Regression: the third RCPT used to follow the 421 to the second.
    let (_, r) = lock_step_until_421(&[b"250 ok\r\n", b"550 5.1.1 no such user\r\n"]);
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert_421(&r.recipients[1], CommandKind::Rcpt);
    assert_421(&r.recipients[2], CommandKind::Rcpt);
    // Twin: a 451 to the second RCPT is followed by the third.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&THREE)).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n");
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, b"RCPT TO:<c@example.net>\r\n");
    feed(&mut s, b"451 4.3.0 try later\r\n");
    assert_tx(&mut s, b"RCPT TO:<d@example.net>\r\n");
}

#[test]
fn lock_step_421_to_last_rcpt_sends_no_data() {
    let (_, r) = lock_step_until_421(&[b"250 ok\r\n", b"250 ok\r\n", b"250 ok\r\n"]);
    // Accepted without a final reply to the data: transient, with the 421.
    for rcpt in &r.recipients {
        assert_421(rcpt, CommandKind::Rcpt);
    }
    assert_eq!(r.delivered_count(), 0);
}

#[test]
fn lock_step_421_to_data() {
    let (_, r) = lock_step_until_421(&[b"250 ok\r\n", b"250 ok\r\n", b"550 no\r\n", b"250 ok\r\n"]);
    assert_421(&r.recipients[0], CommandKind::Data);
    assert_reply_err(
        &r.recipients[1].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert_421(&r.recipients[2], CommandKind::Data);
}

#[test]
fn lock_step_and_pipelined_421_to_end_of_data() {
    for pipelining in [false, true] {
        let mut s = open_with(pipelining, EHLO_PIPELINING);
        s.mail(envelope(&["b@example.net"])).unwrap();
        if pipelining {
            transmit(&mut s);
            feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
        } else {
            for reply in [&b"250 ok\r\n"[..], b"250 ok\r\n", b"354 go\r\n"] {
                transmit(&mut s);
                feed(&mut s, reply);
            }
        }
        assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
        send_body(&mut s, b"hi\r\n");
        feed(&mut s, BYE);
        let r = report(&mut s);
        assert_421(&r.recipients[0], CommandKind::DataEnd);
        assert!(r.is_failed());
        assert_closed_by_server(&mut s);
    }
}

#[test]
fn lock_step_rset_421_sends_no_mail() {
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"451 try later\r\n");
    let _ = report(&mut s);
    s.mail(envelope(&THREE)).unwrap();
    assert_tx(&mut s, b"RSET\r\n");
    feed(&mut s, BYE);
    assert_tx(&mut s, b"");
    for rcpt in &report(&mut s).recipients {
        assert_421(rcpt, CommandKind::Rset);
    }
    assert_closed_by_server(&mut s);
}

#[test]
fn lock_step_421_right_after_a_reply_in_the_same_read() {
    // "250 ok" to MAIL queues the first RCPT; the 421 read with it (unsolicited: the RCPT
    // was not sent yet) means that RCPT never goes out.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&THREE)).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n421 4.3.2 closing\r\n");
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert!(r.is_failed());
    for rcpt in &r.recipients {
        assert_eq!(rcpt.status(), RecipientStatus::Transient);
        assert_eq!(
            rcpt.reply().map(Reply::code),
            Some(ReplyCode::SERVICE_NOT_AVAILABLE)
        );
    }
    assert_closed_by_server(&mut s);
}

// --- transactions, pipelined ----------------------------------------------------------------

/// A pipelined group for three recipients (after an RSET when `rset`), answered by
/// `replies`, which end with the 421.
fn pipelined_until_421(rset: bool, replies: &[u8]) -> TransactionReport {
    let mut s = open_with(true, EHLO_PIPELINING);
    let mut group = String::new();
    if rset {
        s.mail(envelope(&["x@example.net"])).unwrap();
        transmit(&mut s);
        feed(
            &mut s,
            b"451 4.3.0 later\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no valid recipients\r\n",
        );
        let _ = report(&mut s);
        group.push_str("RSET\r\n");
    }
    s.mail(envelope(&THREE)).unwrap();
    group.push_str("MAIL FROM:<a@example.org>\r\n");
    for r in THREE {
        group.push_str(&format!("RCPT TO:<{r}>\r\n"));
    }
    group.push_str("DATA\r\n");
    assert_tx(&mut s, group.as_bytes());
    feed(&mut s, replies);
    assert_tx(&mut s, b"");
    let r = report(&mut s);
    assert_closed_by_server(&mut s);
    r
}

#[test]
fn pipelined_421_to_rset_or_mail() {
    for rcpt in &pipelined_until_421(true, BYE).recipients {
        assert_421(rcpt, CommandKind::Rset);
    }
    for rcpt in &pipelined_until_421(false, BYE).recipients {
        assert_421(rcpt, CommandKind::Mail);
    }
}

#[test]
fn pipelined_421_to_each_rcpt() {
    let r = pipelined_until_421(false, b"250 ok\r\n421 4.3.2 closing\r\n");
    for rcpt in &r.recipients {
        assert_421(rcpt, CommandKind::Rcpt);
    }
    // Before the 421: the first accepted (transient now: no reply to the data), the
    // second refused for good (stays permanent).
    let r = pipelined_until_421(
        false,
        b"250 ok\r\n250 ok\r\n550 no\r\n421 4.3.2 closing\r\n",
    );
    assert_421(&r.recipients[0], CommandKind::Rcpt);
    assert_reply_err(
        &r.recipients[1].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert_421(&r.recipients[2], CommandKind::Rcpt);
    assert_eq!(
        r.error
            .as_ref()
            .and_then(Error::code)
            .map(ReplyCode::as_u16),
        Some(421)
    );
}

#[test]
fn pipelined_421_to_data_sends_no_body() {
    let r = pipelined_until_421(
        false,
        b"250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n421 4.3.2 closing\r\n",
    );
    assert_421(&r.recipients[0], CommandKind::Data);
    assert_eq!(r.recipients[1].status(), RecipientStatus::Permanent);
    assert_421(&r.recipients[2], CommandKind::Data);
}

// --- other commands -------------------------------------------------------------------------

#[test]
fn user_rset_noop_starttls_421() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.rset().unwrap();
    assert_tx(&mut s, b"RSET\r\n");
    feed(&mut s, BYE);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Reset(Err(Error::Reply { command: CommandKind::Rset, reply }))] if reply.code().as_u16() == 421
    ));
    assert_closed_by_server(&mut s);

    let mut s = open_with(true, EHLO_PIPELINING);
    s.noop().unwrap();
    assert_tx(&mut s, b"NOOP\r\n");
    feed(&mut s, BYE);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Noop(Err(Error::Reply {
            command: CommandKind::Noop,
            ..
        }))]
    ));
    assert_closed_by_server(&mut s);

    let mut s = open_with(true, b"250-mx.example\r\n250 STARTTLS\r\n");
    s.starttls().unwrap();
    assert_tx(&mut s, b"STARTTLS\r\n");
    feed(&mut s, BYE);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::StartTls(Err(Error::Reply {
            command: CommandKind::StartTls,
            ..
        }))]
    ));
    assert_closed_by_server(&mut s);

    // Twin: a 250 to NOOP leaves the session usable.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.noop().unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n");
    let _ = events(&mut s);
    assert!(s.is_ready() && s.error().is_none());
    s.rset().unwrap();
    assert_tx(&mut s, b"RSET\r\n");
}

#[test]
fn auth_421_at_the_command_and_mid_exchange() {
    let ehlo = b"250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n";
    let creds = Credentials::new("tim", "pw");
    let plain = AuthOptions::new()
        .mechanisms([Mechanism::Plain])
        .allow_cleartext(true);
    let mut s = open_with(true, ehlo);
    s.auth(&creds, &plain, None).unwrap();
    assert_tx(&mut s, b"AUTH PLAIN AHRpbQBwdw==\r\n");
    feed(&mut s, BYE);
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Auth(Err(Error::Reply {
            command: CommandKind::Auth,
            ..
        }))]
    ));
    assert_closed_by_server(&mut s);

    // LOGIN: the username went out after the first 334; the 421 comes instead of the
    // second challenge, so the password never goes out.
    let login = AuthOptions::new()
        .mechanisms([Mechanism::Login])
        .allow_cleartext(true);
    let mut s = open_with(true, ehlo);
    s.auth(&creds, &login, None).unwrap();
    assert_tx(&mut s, b"AUTH LOGIN\r\n");
    feed(&mut s, b"334 VXNlcm5hbWU6\r\n");
    assert_tx(&mut s, b"dGlt\r\n");
    feed(&mut s, BYE);
    assert!(matches!(events(&mut s).as_slice(), [Event::Auth(Err(_))]));
    assert_closed_by_server(&mut s);
}

#[test]
fn unsolicited_421_while_idle_allows_only_quit() {
    let mut s = open_with(true, EHLO_PIPELINING);
    feed(&mut s, BYE);
    assert_no_events(&mut s);
    assert_closed_by_server(&mut s);
    // Twin: a 221 answering that QUIT ends it as well as EOF does.
    let mut s = open_with(true, EHLO_PIPELINING);
    feed(&mut s, BYE);
    s.quit().unwrap();
    assert_tx(&mut s, b"QUIT\r\n");
    feed(&mut s, b"221 bye\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
    assert!(matches!(s.error(), Some(Error::ServerClosing { .. })));
}

#[test]
fn stale_replies_after_a_421_never_answer_the_quit() {
    // The rest of a pipelined group, split anywhere, arrives after QUIT was sent: only a
    // 2yz answers the QUIT.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    transmit(&mut s);
    let mut buf = BytesMut::from(&b"250 ok\r\n421 4.3.2 closing\r\n250 o"[..]);
    s.handle_input(&mut buf);
    assert!(report(&mut s).is_failed());
    s.quit().unwrap();
    assert_tx(&mut s, b"QUIT\r\n");
    let replies_before = s.replies_handled();
    buf.extend_from_slice(b"k\r\n354 go ahead\r\n");
    s.handle_input(&mut buf);
    assert_no_events(&mut s);
    assert!(s.awaiting_reply());
    assert_eq!(s.replies_handled(), replies_before, "no deadline restart");
    buf.extend_from_slice(b"221 2.0.0 bye\r\n");
    s.handle_input(&mut buf);
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
    assert!(!s.awaiting_reply());
    assert_tx(&mut s, b"");
    // Garbage is dropped as well.
    let mut s = open_with(true, EHLO_PIPELINING);
    feed(&mut s, BYE);
    s.quit().unwrap();
    transmit(&mut s);
    feed(&mut s, b"\x00\x01garbage\r\n");
    assert_no_events(&mut s);
    feed(&mut s, b"221 bye\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::Quit(Ok(()))]));
}
