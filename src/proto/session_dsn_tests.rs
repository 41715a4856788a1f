//! Byte-exact tests of the DSN parameters (RFC 3461) in the session: the exact MAIL and
//! RCPT lines, pipelined and in lock step, and the refusal before anything is sent when
//! the server does not offer DSN.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::BytesMut;

use super::*;
use crate::proto::{Domain, EnvId, Envelope, Mailbox, Notify, NotifyOn, Orcpt, Ret};

const EHLO_DSN: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 DSN\r\n";
const EHLO_DSN_LOCK_STEP: &[u8] = b"250-mx.example\r\n250 DSN\r\n";
const EHLO_NO_DSN: &[u8] = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";

fn open(ehlo: &[u8]) -> Session {
    let mut s = Session::new(SessionConfig::new(Domain::new("client.example").unwrap()));
    feed(&mut s, b"220 mx.example ESMTP\r\n");
    assert_eq!(transmit(&mut s), b"EHLO client.example\r\n");
    feed(&mut s, ehlo);
    assert!(matches!(
        std::iter::from_fn(|| s.poll_event())
            .collect::<Vec<_>>()
            .as_slice(),
        [Event::Ready(Ok(()))]
    ));
    s
}

fn feed(s: &mut Session, bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    s.handle_input(&mut buf);
    assert!(buf.is_empty() || s.error().is_some(), "left: {buf:?}");
}

fn transmit(s: &mut Session) -> Vec<u8> {
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    s.handle_written(out.len());
    out.to_vec()
}

#[track_caller]
fn assert_tx(s: &mut Session, expected: &str) {
    assert_eq!(String::from_utf8_lossy(&transmit(s)), expected);
}

/// Two recipients: NOTIFY and ORCPT on both, the second with its own ORCPT (an address
/// other than its own), RET and ENVID with characters xtext must encode.
fn dsn_envelope() -> Envelope {
    let original: Mailbox = "orig+c=1@example.org".parse().unwrap();
    Envelope::new("a@example.org", ["b+x@example.net", "c@example.net"])
        .unwrap()
        .with_notify(Notify::On(NotifyOn::SUCCESS | NotifyOn::FAILURE))
        .with_orcpt()
        .unwrap()
        .with_recipient_orcpt(1, Orcpt::rfc822(&original).unwrap())
        .unwrap()
        .with_recipient_notify(1, Notify::Never)
        .unwrap()
        .with_dsn_ret(Ret::Hdrs)
        .with_dsn_envid(EnvId::new("id+1=2").unwrap())
}

const MAIL_LINE: &str = "MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+3D2\r\n";
const RCPT_B: &str =
    "RCPT TO:<b+x@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.net\r\n";
const RCPT_C: &str =
    "RCPT TO:<c@example.net> NOTIFY=NEVER ORCPT=rfc822;orig+2Bc+3D1@example.org\r\n";

#[test]
fn dsn_parameters_on_mail_and_each_rcpt_pipelined() {
    let mut s = open(EHLO_DSN);
    s.mail(dsn_envelope()).unwrap();
    assert_tx(&mut s, &format!("{MAIL_LINE}{RCPT_B}{RCPT_C}DATA\r\n"));
    // Twin: no DSN parameters, no DSN words (the server's DSN alone adds nothing).
    let mut s = open(EHLO_DSN);
    s.mail(Envelope::new("a@example.org", ["b+x@example.net"]).unwrap())
        .unwrap();
    assert_tx(
        &mut s,
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b+x@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn dsn_parameters_in_lock_step() {
    let mut s = open(EHLO_DSN_LOCK_STEP);
    s.mail(dsn_envelope()).unwrap();
    assert_tx(&mut s, MAIL_LINE);
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, RCPT_B);
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, RCPT_C);
    feed(&mut s, b"250 ok\r\n");
    assert_tx(&mut s, "DATA\r\n");
}

#[test]
fn dsn_parameters_without_the_extension_send_nothing() {
    // RFC 3461 §4: each DSN parameter alone is refused before anything is sent.
    let base = || Envelope::new("a@example.org", ["b@example.net"]).unwrap();
    let cases = [
        base().with_dsn_ret(Ret::Full),
        base().with_dsn_envid(EnvId::new("x").unwrap()),
        base().with_notify(Notify::Never),
        base().with_orcpt().unwrap(),
        base()
            .with_recipient_notify(0, Notify::On(NotifyOn::DELAY))
            .unwrap(),
    ];
    for env in cases {
        let mut s = open(EHLO_NO_DSN);
        assert!(
            matches!(s.mail(env.clone()), Err(Error::Extension("DSN"))),
            "{env:?}"
        );
        assert_tx(&mut s, "");
        assert!(s.is_ready() && !s.in_transaction());
        // Twin: the same envelope to a server offering DSN goes out.
        let mut s = open(EHLO_DSN);
        s.mail(env).unwrap();
        assert!(transmit(&mut s).starts_with(b"MAIL FROM:<a@example.org>"));
    }
    // And without DSN parameters, a server without DSN is fine.
    let mut s = open(EHLO_NO_DSN);
    s.mail(base()).unwrap();
    assert_tx(
        &mut s,
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
    );
}

#[test]
fn dsn_through_with_param_is_refused_and_indices_are_checked() {
    use crate::error::UsageError;
    use crate::proto::EsmtpParam;
    let base = Envelope::new("a@example.org", ["b@example.net"]).unwrap();
    for (keyword, method) in [("RET", "with_dsn_ret"), ("envid", "with_dsn_envid")] {
        let e = base
            .clone()
            .with_param(EsmtpParam::new(keyword, Some("HDRS")).unwrap())
            .unwrap_err();
        assert!(
            matches!(e, Error::Usage(UsageError::ManagedParam { method: m, .. }) if m == method),
            "{e:?}"
        );
    }
    let e = base
        .clone()
        .with_recipient_notify(1, Notify::Never)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Usage(UsageError::NoSuchRecipient { index: 1, count: 1 })
        ),
        "{e:?}"
    );
    // Twin: index 0 exists.
    let env = base.with_recipient_notify(0, Notify::Never).unwrap();
    assert_eq!(env.recipient_notify(0), Some(Notify::Never));
    assert_eq!(env.recipient_params(0).len(), 1);
}
