//! What the session refuses: unsolicited and out-of-order replies, unexpected codes,
//! bytes after STARTTLS's 220, connection loss and timeouts mid-transaction, and the
//! checks made before MAIL (SIZE, SMTPUTF8, 8BITMIME, REQUIRETLS). Byte-exact. A child of
//! `session_tests`, whose helpers it uses.

use super::*;
#[test]
fn unsolicited_reply_while_idle_poisons() {
    let mut s = open_with(true, EHLO_PIPELINING);
    feed(&mut s, b"250 surprise\r\n");
    let err = Error::Protocol {
        command: None,
        error: ProtocolError::Unsolicited,
    };
    assert!(
        matches!(
            s.error(),
            Some(Error::Protocol {
                command: None,
                error: ProtocolError::Unsolicited
            })
        ),
        "{:?}",
        s.error()
    );
    match s.mail(envelope(&["b@example.net"])) {
        Err(e) => assert_eq!(e.to_string(), err.to_string()),
        Ok(_) => panic!("must fail"),
    }
    assert_tx(&mut s, b"");
    // Twin: the same bytes as the answer to NOOP are fine.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.noop().unwrap();
    assert_tx(&mut s, b"NOOP\r\n");
    feed(&mut s, b"250 surprise\r\n");
    assert!(s.error().is_none());
    assert!(matches!(events(&mut s).as_slice(), [Event::Noop(Ok(_))]));
}

#[test]
fn reply_before_its_command_was_sent_is_unsolicited() {
    // Lock-step: a second reply in the same read as the MAIL reply cannot be the answer to
    // RCPT, which had not been sent yet.
    let mut s = open_with(false, EHLO_PLAIN);
    s.mail(envelope(&["b@example.net"])).unwrap();
    assert_tx(&mut s, b"MAIL FROM:<a@example.org>\r\n");
    feed(&mut s, b"250 ok\r\n250 early\r\n");
    assert!(
        matches!(
            s.error(),
            Some(Error::Protocol {
                error: ProtocolError::Unsolicited,
                ..
            })
        ),
        "{:?}",
        s.error()
    );
    let r = report(&mut s);
    assert!(
        r.recipients
            .iter()
            .all(|x| x.status() == RecipientStatus::Transient)
    );
    // The greeting: a second reply with it cannot answer EHLO.
    let mut s = Session::new(config(true));
    feed(&mut s, b"220 mx.example\r\n250 mx.example\r\n");
    match events(&mut s).as_slice() {
        [
            Event::Ready(Err(Error::Protocol {
                error: ProtocolError::Unsolicited,
                ..
            })),
        ] => {}
        other => panic!("{other:?}"),
    }
    // Twin: pipelined replies in one read are fine.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
    assert!(matches!(events(&mut s).as_slice(), [Event::SendBody(_)]));
    // And a 354 followed at once by a "250" that should come after the data.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(
        &mut s,
        b"250 ok\r\n250 ok\r\n354 go\r\n250 fake delivery\r\n",
    );
    assert!(s.error().is_some());
    let ev = events(&mut s);
    let r = ev
        .iter()
        .find_map(|e| match e {
            Event::Transaction(_, r) => Some(r),
            _ => None,
        })
        .expect("transaction ended");
    assert!(r.delivered().next().is_none(), "never success");
}

#[test]
fn unexpected_code_for_command_is_a_protocol_error() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n354 what\r\n");
    assert!(matches!(
        s.error(),
        Some(Error::Protocol {
            command: Some(CommandKind::Rcpt),
            error: ProtocolError::UnexpectedCode(354)
        })
    ));
    let r = report(&mut s);
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
    // 250 to DATA is wrong too.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n250 ok\r\n");
    assert!(matches!(
        s.error(),
        Some(Error::Protocol {
            command: Some(CommandKind::Data),
            error: ProtocolError::UnexpectedCode(250)
        })
    ));
    assert!(report(&mut s).delivered().next().is_none());
}

#[test]
fn bytes_after_starttls_220_are_refused() {
    let ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
    for extra in [&b"250 injected\r\n"[..], b"2"] {
        let mut s = open_with(true, ehlo);
        s.starttls().unwrap();
        assert_tx(&mut s, b"STARTTLS\r\n");
        let mut input = b"220 2.0.0 ready\r\n".to_vec();
        input.extend_from_slice(extra);
        feed(&mut s, &input);
        assert!(
            matches!(
                s.error(),
                Some(Error::Protocol {
                    command: Some(CommandKind::StartTls),
                    error: ProtocolError::DataAfterStartTls
                })
            ),
            "{:?}",
            s.error()
        );
        match events(&mut s).as_slice() {
            [
                Event::StartTls(Err(Error::Protocol {
                    error: ProtocolError::DataAfterStartTls,
                    ..
                })),
            ] => {}
            other => panic!("{other:?}"),
        }
    }
    // Twin: the 220 alone starts TLS; then capabilities are forgotten and EHLO goes again.
    let mut s = open_with(true, ehlo);
    s.starttls().unwrap();
    transmit(&mut s);
    feed(&mut s, b"220 2.0.0 ready\r\n");
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::StartTls(Ok(()))]
    ));
    s.tls_established();
    assert!(s.capabilities().is_none());
    assert_tx(&mut s, b"EHLO client.example\r\n");
    feed(&mut s, EHLO_PIPELINING);
    assert!(matches!(events(&mut s).as_slice(), [Event::Ready(Ok(()))]));
    assert!(s.is_tls());
}

#[test]
fn eof_after_pipelined_mail_550_stays_permanent() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    transmit(&mut s);
    feed(&mut s, b"550 5.7.1 sender blocked\r\n");
    assert_no_events(&mut s);
    s.handle_eof();
    let r = report(&mut s);
    for x in &r.recipients {
        assert_reply_err(&x.result, CommandKind::Mail, 550, Severity::Permanent);
    }
    assert!(r.error.as_ref().unwrap().is_permanent());
    // An RCPT 550 read before the hang-up stays permanent; the unanswered one is transient.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n550 no\r\n");
    s.handle_eof();
    let r = report(&mut s);
    assert_reply_err(
        &r.recipients[0].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert!(matches!(
        r.recipients[1].result,
        Err(Error::Closed {
            command: Some(CommandKind::Rcpt)
        })
    ));
    // Twin: EOF before any reply is transient for everyone.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    s.handle_eof();
    let r = report(&mut s);
    assert!(matches!(
        r.recipients[0].result,
        Err(Error::Closed {
            command: Some(CommandKind::Mail)
        })
    ));
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
}

#[test]
fn eof_after_final_dot_is_unknown_outcome_never_delivered() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net", "c@example.net"]))
        .unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n");
    events(&mut s);
    send_body(&mut s, b"hello\r\n");
    s.handle_eof();
    let r = report(&mut s);
    assert!(matches!(
        r.recipients[0].result,
        Err(Error::Closed {
            command: Some(CommandKind::DataEnd)
        })
    ));
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
    assert_reply_err(
        &r.recipients[1].result,
        CommandKind::Rcpt,
        550,
        Severity::Permanent,
    );
    assert!(r.data.is_none());
    assert!(r.error.as_ref().unwrap().is_transient());
    assert!(s.error().is_some());
    // Twin: the same with the final reply delivers.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n250 ok\r\n354 go\r\n");
    events(&mut s);
    send_body(&mut s, b"hello\r\n");
    feed(&mut s, b"250 ok\r\n");
    s.handle_eof();
    let ev = events(&mut s);
    assert!(
        matches!(ev.as_slice(), [Event::Transaction(_, r)] if r.all_delivered()),
        "{ev:?}"
    );
}

#[test]
fn timeout_mid_transaction_is_transient() {
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"])).unwrap();
    transmit(&mut s);
    feed(&mut s, b"250 ok\r\n");
    assert_eq!(s.phase(), Some(Phase::Rcpt));
    s.handle_timeout();
    let r = report(&mut s);
    assert!(matches!(
        r.recipients[0].result,
        Err(Error::Timeout {
            phase: Phase::Rcpt,
            command: Some(CommandKind::Rcpt)
        })
    ));
    assert_eq!(r.recipients[0].status(), RecipientStatus::Transient);
}

// --- checks before anything is sent -------------------------------------------------------

#[test]
fn size_limit_exceeded_before_any_byte() {
    let ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";
    let mut s = open_with(true, ehlo);
    match s.mail(envelope(&["b@example.net"]).with_size(1001)) {
        Err(Error::TooLarge {
            size: 1001,
            limit: 1000,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_tx(&mut s, b"");
    assert!(!s.in_transaction());
    assert!(!s.awaiting_reply());
    // Twin: at the limit it is declared.
    s.mail(envelope(&["b@example.net"]).with_size(1000))
        .unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SIZE=1000\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
    // Without SIZE offered, nothing is declared.
    let mut s = open_with(true, EHLO_PIPELINING);
    s.mail(envelope(&["b@example.net"]).with_size(1001))
        .unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn non_ascii_envelope_needs_smtputf8() {
    let env = Envelope::new("a@example.org", ["usér@example.net"]).unwrap();
    let mut s = open_with(true, EHLO_PIPELINING);
    assert!(matches!(
        s.mail(env.clone()),
        Err(Error::Extension("SMTPUTF8"))
    ));
    assert_tx(&mut s, b"");
    assert!(!s.in_transaction());
    let mut s = open_with(
        true,
        b"250-mx.example\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n",
    );
    s.mail(env).unwrap();
    assert_tx(
        &mut s,
        "MAIL FROM:<a@example.org> SMTPUTF8\r\nRCPT TO:<usér@example.net>\r\nDATA\r\n".as_bytes(),
    );
}

#[test]
fn eight_bit_mime_and_forced_smtputf8_need_the_extensions() {
    // RFC 6152 §3 / RFC 6531 §3.4: a server without the extension gets nothing.
    let env = Envelope::new("a@example.org", ["b@example.net"])
        .unwrap()
        .with_param(EsmtpParam::body_8bitmime())
        .unwrap();
    let mut s = open_with(true, b"250-mx.example\r\n250 PIPELINING\r\n");
    assert!(matches!(
        s.mail(env.clone()),
        Err(Error::Extension("8BITMIME"))
    ));
    assert_tx(&mut s, b"");
    let utf8 = Envelope::new("a@example.org", ["b@example.net"])
        .unwrap()
        .with_smtputf8();
    assert!(matches!(
        s.mail(utf8.clone()),
        Err(Error::Extension("SMTPUTF8"))
    ));
    assert_tx(&mut s, b"");
    // Twins: offered, declared on MAIL.
    let mut s = open_with(
        true,
        b"250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    );
    s.mail(env).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
    let mut s = open_with(
        true,
        b"250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    );
    s.mail(utf8).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> SMTPUTF8\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn requiretls_needs_verified_tls_and_the_extension() {
    // RFC 8689 §4.1: never without verified TLS, never to a server lacking REQUIRETLS.
    let env = Envelope::new("a@example.org", ["b@example.net"])
        .unwrap()
        .with_requiretls();
    const EHLO_RT: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 REQUIRETLS\r\n";
    let mut s = open_with(true, EHLO_RT);
    assert!(
        matches!(s.mail(env.clone()), Err(Error::Extension(_))),
        "plaintext"
    );
    s.set_tls_active();
    assert!(
        matches!(s.mail(env.clone()), Err(Error::Extension(_))),
        "unverified"
    );
    assert_tx(&mut s, b"");
    let mut s = open_with(true, EHLO_PIPELINING);
    s.set_tls_active();
    s.set_tls_verified(true);
    assert!(matches!(
        s.mail(env.clone()),
        Err(Error::Extension("REQUIRETLS"))
    ));
    // Twin: verified TLS and the extension offered.
    let mut s = open_with(true, EHLO_RT);
    s.set_tls_active();
    s.set_tls_verified(true);
    s.mail(env).unwrap();
    assert_tx(
        &mut s,
        b"MAIL FROM:<a@example.org> REQUIRETLS\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn idle_421_split_across_reads_is_the_server_closing() {
    // Postfix's idle timeout: "421 4.4.2 ... timeout exceeded", arriving in two reads.
    // The start of a 421 is held (no command may be sent meanwhile), then the whole
    // reply ends the session as ServerClosing, not as a protocol error.
    let mut s = open_with(true, EHLO_PIPELINING);
    let mut buf = BytesMut::from(&b"421 4.4.2 mx"[..]);
    s.handle_input(&mut buf);
    assert!(s.error().is_none());
    assert!(s.awaiting_reply(), "the rest of the 421 is awaited");
    assert!(matches!(
        s.mail(envelope(&["b@example.net"])),
        Err(Error::Protocol {
            error: ProtocolError::Unsolicited,
            ..
        })
    ));
    assert_tx(&mut s, b"");
    buf.extend_from_slice(b".example Error: timeout exceeded\r\n");
    s.handle_input(&mut buf);
    assert!(buf.is_empty());
    match s.error() {
        Some(e @ Error::ServerClosing { reply }) => {
            assert_eq!(reply.code(), ReplyCode::SERVICE_NOT_AVAILABLE);
            assert!(e.is_transient() && !e.connection_usable());
        }
        other => panic!("expected ServerClosing, got {other:?}"),
    }
    // Twin: the start of any other reply while idle is refused at once.
    let mut s = open_with(true, EHLO_PIPELINING);
    feed(&mut s, b"250 o");
    assert!(matches!(
        s.error(),
        Some(Error::Protocol {
            error: ProtocolError::Unsolicited,
            ..
        })
    ));
    assert!(!s.awaiting_reply());
}
