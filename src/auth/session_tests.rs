//! AUTH through the sans-IO session, byte for byte: exact reply bytes in, exact command
//! bytes and events out.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::BytesMut;

use super::*;
use crate::proto::error::{Error, UsageError};
use crate::proto::{
    CommandKind, Direction, Domain, Envelope, Event, Reply, Session, SessionConfig,
};

type Lines = Arc<Mutex<Vec<String>>>;

/// A session after greeting and EHLO; `tls`: None for plaintext, Some(verified).
pub(super) fn ready(ehlo: &str, tls: Option<bool>) -> (Session, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let mut config = SessionConfig::new(Domain::new("client.example").unwrap());
    config.transcript = Some(Arc::new(move |d: Direction, l: &str| {
        let who = if d == Direction::Client { "C" } else { "S" };
        sink.lock().unwrap().push(format!("{who}: {l}"));
    }));
    let mut s = Session::new(config);
    if let Some(verified) = tls {
        s.set_tls_active();
        s.set_tls_verified(verified);
    }
    feed(&mut s, "220 mx.example ESMTP\r\n");
    assert_eq!(out(&mut s), "EHLO client.example\r\n");
    feed(&mut s, ehlo);
    assert!(matches!(s.poll_event(), Some(Event::Ready(Ok(())))));
    (s, lines)
}

pub(super) fn feed(s: &mut Session, bytes: &str) {
    let mut buf = BytesMut::from(bytes.as_bytes());
    s.handle_input(&mut buf);
    assert!(buf.is_empty(), "unconsumed input");
}

pub(super) fn out(s: &mut Session) -> String {
    let mut b = BytesMut::new();
    s.poll_transmit(&mut b);
    s.handle_written(b.len());
    String::from_utf8(b.to_vec()).unwrap()
}

pub(super) fn auth_event(s: &mut Session) -> Result<(), Error> {
    match s.poll_event() {
        Some(Event::Auth(r)) => r,
        other => panic!("expected Event::Auth, got {other:?}"),
    }
}

fn b64(s: &[u8]) -> String {
    B64.encode(s)
}

pub(super) fn envelope() -> Envelope {
    Envelope::new("a@example.org", ["b@example.net"]).unwrap()
}

pub(super) const EHLO_ALL: &str =
    "250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER\r\n";

#[test]
fn plain_over_verified_tls_byte_exact() {
    let (mut s, lines) = ready(EHLO_ALL, Some(true));
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    let m = s.auth(
        &creds,
        &AuthOptions::new().mechanisms([Mechanism::Plain]),
        None,
    );
    assert_eq!(m.unwrap(), Mechanism::Plain);
    // RFC 4616 §4 message, base64 on the AUTH line (RFC 4954 §4).
    assert_eq!(out(&mut s), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    feed(&mut s, "235 2.7.0 Authentication successful\r\n");
    assert!(auth_event(&mut s).is_ok());
    assert!(s.is_authenticated());
    // The transcript never carries the payload.
    let lines = lines.lock().unwrap();
    assert!(
        lines.contains(&"C: AUTH PLAIN <redacted>".to_string()),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("AHRpbQB0") || l.contains("tanstaaf"))
    );
    drop(lines);
    // A transaction may start now, and a second AUTH is refused before sending.
    assert!(matches!(
        s.auth(&creds, &AuthOptions::new(), None),
        Err(Error::Usage(UsageError::InvalidState(_)))
    ));
    assert_eq!(out(&mut s), "");
    s.mail(envelope()).unwrap();
    assert!(out(&mut s).starts_with("MAIL FROM:<a@example.org>"));
}

#[test]
fn cleartext_refused_without_tls_then_allowed() {
    let (mut s, _) = ready("250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n", None);
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    let err = s.auth(&creds, &AuthOptions::new(), None).unwrap_err();
    assert!(matches!(
        err,
        Error::Auth(AuthError::CleartextRefused {
            mechanism: Mechanism::Plain,
            tls: false
        })
    ));
    assert!(err.is_permanent());
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert!(err.to_string().contains("allow_cleartext"), "{err}");
    assert!(err.connection_usable());
    // Not a byte was sent, and no MAIL goes out after the refusal.
    assert_eq!(out(&mut s), "");
    assert!(matches!(
        s.mail(envelope()),
        Err(Error::Auth(AuthError::CleartextRefused { .. }))
    ));
    assert_eq!(out(&mut s), "");
    // Positive twin: the caller allows cleartext.
    let allow = AuthOptions::new().allow_cleartext(true);
    assert_eq!(s.auth(&creds, &allow, None).unwrap(), Mechanism::Plain);
    assert_eq!(out(&mut s), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    feed(&mut s, "235 ok\r\n");
    assert!(auth_event(&mut s).is_ok());
    s.mail(envelope()).unwrap();
}

#[test]
fn cleartext_refused_over_unverified_tls() {
    let (mut s, _) = ready("250-mx.example\r\n250 AUTH LOGIN\r\n", Some(false));
    let creds = Credentials::new("tim", "x");
    let err = s.auth(&creds, &AuthOptions::new(), None).unwrap_err();
    assert!(matches!(
        err,
        Error::Auth(AuthError::CleartextRefused { tls: true, .. })
    ));
    assert_eq!(out(&mut s), "");
    // Positive twin: verified TLS.
    let (mut s, _) = ready("250-mx.example\r\n250 AUTH LOGIN\r\n", Some(true));
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), None).unwrap(),
        Mechanism::Login
    );
    assert_eq!(out(&mut s), "AUTH LOGIN\r\n");
}

#[test]
fn login_byte_exact() {
    let (mut s, lines) = ready(EHLO_ALL, Some(true));
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    let opts = AuthOptions::new().mechanisms([Mechanism::Login]);
    s.auth(&creds, &opts, None).unwrap();
    assert_eq!(out(&mut s), "AUTH LOGIN\r\n");
    feed(&mut s, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(out(&mut s), "dGlt\r\n");
    feed(&mut s, "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(out(&mut s), "dGFuc3RhYWZ0YW5zdGFhZg==\r\n");
    feed(&mut s, "235 2.7.0 ok\r\n");
    assert!(auth_event(&mut s).is_ok());
    let lines = lines.lock().unwrap();
    let client: Vec<&String> = lines.iter().filter(|l| l.starts_with("C: ")).collect();
    assert_eq!(
        client[1..],
        ["C: AUTH LOGIN", "C: <redacted>", "C: <redacted>"]
    );
}

#[test]
fn cram_md5_rfc2195_byte_exact() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), None).unwrap(),
        Mechanism::CramMd5
    );
    assert_eq!(out(&mut s), "AUTH CRAM-MD5\r\n");
    // RFC 2195 §2.
    feed(
        &mut s,
        "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
    );
    assert_eq!(
        out(&mut s),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    );
    feed(&mut s, "235 ok\r\n");
    assert!(auth_event(&mut s).is_ok());
}

/// CRAM-MD5 and SCRAM never send the password, but a man in the middle (STARTTLS
/// stripped, or its own certificate) picks the challenge and can crack the response
/// offline: without verified TLS nothing is sent unless the caller allows it.
/// Twin: `cram_md5_rfc2195_byte_exact` (verified TLS).
#[test]
fn challenge_response_needs_verified_tls() {
    let creds = Credentials::new("tim", "tanstaaftanstaaf");
    let ehlo = "250-mx.example\r\n250 AUTH CRAM-MD5 SCRAM-SHA-256\r\n";
    for (tls, unverified_tls) in [(None, false), (Some(false), true)] {
        let (mut s, _) = ready(ehlo, tls);
        let err = s.auth(&creds, &AuthOptions::new(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "auth: refusing SCRAM-SHA-256: the connection {}, so a man in the middle could \
                 attack its response offline; set \
                 AuthOptions::allow_unverified_challenge_response to allow it",
                if unverified_tls {
                    "has unverified TLS"
                } else {
                    "has no TLS"
                }
            )
        );
        assert!(err.is_auth() && err.is_permanent());
        assert_eq!(out(&mut s), "");
        // No MAIL after the refusal either.
        assert!(s.mail(envelope()).is_err());
        let only_cram = AuthOptions::new().mechanisms([Mechanism::CramMd5]);
        assert!(matches!(
            s.auth(&creds, &only_cram, None),
            Err(Error::Auth(AuthError::UnverifiedTlsRefused {
                mechanism: Mechanism::CramMd5,
                tls: _
            }))
        ));
        assert_eq!(out(&mut s), "");
        // Allowed explicitly: the exchange runs.
        let allow = only_cram.allow_unverified_challenge_response(true);
        assert_eq!(s.auth(&creds, &allow, None).unwrap(), Mechanism::CramMd5);
        assert_eq!(out(&mut s), "AUTH CRAM-MD5\r\n");
    }
}

fn scram(mechanism: Mechanism, nonce: &str, binding: ChannelBinding) -> Box<dyn SaslClient> {
    Box::new(
        Scram::with_nonce(
            mechanism,
            &Credentials::new("user", "pencil"),
            binding,
            nonce,
        )
        .unwrap(),
    )
}

const EHLO_SCRAM: &str = "250-mx.example\r\n250 AUTH SCRAM-SHA-1 SCRAM-SHA-256 PLAIN\r\n";
const SHA256_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SHA256_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
const SHA1_FIRST: &[u8] = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const SHA1_FINAL: &[u8] = b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

#[test]
fn scram_sha256_rfc7677_server_final_in_334() {
    // Dovecot behind Postfix: the server-final message comes as a 334 challenge.
    let (mut s, lines) = ready(EHLO_SCRAM, None);
    s.start_auth(scram(
        Mechanism::ScramSha256,
        "rOprNGfwEbeRWgbNEkqO",
        ChannelBinding::None,
    ))
    .unwrap();
    assert_eq!(
        out(&mut s),
        format!(
            "AUTH SCRAM-SHA-256 {}\r\n",
            b64(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        )
    );
    feed(&mut s, &format!("334 {}\r\n", b64(SHA256_FIRST)));
    let client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    assert_eq!(out(&mut s), format!("{}\r\n", b64(client_final)));
    feed(&mut s, &format!("334 {}\r\n", b64(SHA256_FINAL)));
    assert_eq!(out(&mut s), "\r\n");
    assert!(s.poll_event().is_none());
    feed(&mut s, "235 2.7.0 Authentication successful\r\n");
    assert!(auth_event(&mut s).is_ok());
    let lines = lines.lock().unwrap();
    assert!(
        lines.contains(&"C: AUTH SCRAM-SHA-256 <redacted>".to_string()),
        "{lines:?}"
    );
}

#[test]
fn scram_sha1_rfc5802_server_final_in_235() {
    let (mut s, _) = ready(EHLO_SCRAM, None);
    s.start_auth(scram(
        Mechanism::ScramSha1,
        "fyko+d2lbbFgONRv9qkxdawL",
        ChannelBinding::None,
    ))
    .unwrap();
    assert_eq!(
        out(&mut s),
        format!(
            "AUTH SCRAM-SHA-1 {}\r\n",
            b64(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
        )
    );
    feed(&mut s, &format!("334 {}\r\n", b64(SHA1_FIRST)));
    let client_final =
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    assert_eq!(out(&mut s), format!("{}\r\n", b64(client_final)));
    // RFC 4422 §5 additional data with success, in the 235 itself.
    feed(&mut s, &format!("235 {}\r\n", b64(SHA1_FINAL)));
    assert!(auth_event(&mut s).is_ok());
    assert!(s.is_authenticated());
}

#[test]
fn scram_235_without_signature_fails() {
    let (mut s, _) = ready(EHLO_SCRAM, None);
    s.start_auth(scram(
        Mechanism::ScramSha1,
        "fyko+d2lbbFgONRv9qkxdawL",
        ChannelBinding::None,
    ))
    .unwrap();
    out(&mut s);
    feed(&mut s, &format!("334 {}\r\n", b64(SHA1_FIRST)));
    out(&mut s);
    feed(&mut s, "235 2.7.0 Authentication successful\r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(matches!(
        err,
        Error::Auth(AuthError::MissingServerSignature)
    ));
    assert!(err.is_transient());
    assert!(!s.is_authenticated());
    // A server that cannot prove it knows the password gets no mail.
    assert!(s.mail(envelope()).is_err());
}

fn cancelled_after_server_first(server_first: &[u8]) -> Error {
    let (mut s, lines) = ready(EHLO_SCRAM, None);
    s.start_auth(scram(
        Mechanism::ScramSha1,
        "fyko+d2lbbFgONRv9qkxdawL",
        ChannelBinding::None,
    ))
    .unwrap();
    out(&mut s);
    feed(&mut s, &format!("334 {}\r\n", b64(server_first)));
    // RFC 4954 §4: the client cancels with "*" and waits for the 501.
    assert_eq!(out(&mut s), "*\r\n");
    assert!(s.poll_event().is_none());
    feed(&mut s, "501 5.7.0 Authentication cancelled\r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(err.connection_usable());
    assert!(s.is_ready());
    assert!(lines.lock().unwrap().contains(&"C: *".to_string()));
    err
}

#[test]
fn scram_nonce_not_extending_ours_is_cancelled() {
    let err = cancelled_after_server_first(
        b"r=0000+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    );
    assert!(matches!(err, Error::Auth(AuthError::NonceMismatch)));
    assert!(err.is_transient());
}

#[test]
fn scram_absurd_iteration_counts_are_cancelled() {
    for i in ["1", "1000000000"] {
        let msg = format!("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i={i}");
        let err = cancelled_after_server_first(msg.as_bytes());
        assert!(
            matches!(err, Error::Auth(AuthError::IterationCount { .. })),
            "{err}"
        );
    }
}

#[test]
fn scram_bad_signature_is_cancelled() {
    let (mut s, _) = ready(EHLO_SCRAM, None);
    s.start_auth(scram(
        Mechanism::ScramSha256,
        "rOprNGfwEbeRWgbNEkqO",
        ChannelBinding::None,
    ))
    .unwrap();
    out(&mut s);
    feed(&mut s, &format!("334 {}\r\n", b64(SHA256_FIRST)));
    out(&mut s);
    feed(
        &mut s,
        &format!(
            "334 {}\r\n",
            b64(b"v=AAAAqV8S7suAoZWja4dJRkFsKQ+S7suAoZWja4dJRkE=")
        ),
    );
    assert_eq!(out(&mut s), "*\r\n");
    feed(&mut s, "501 5.7.0 cancelled\r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(matches!(err, Error::Auth(AuthError::ServerSignature)));
    assert!(err.is_transient());
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert!(matches!(
        s.mail(envelope()),
        Err(Error::Auth(AuthError::ServerSignature))
    ));
}

#[test]
fn malformed_challenge_is_cancelled() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
        .unwrap();
    assert_eq!(out(&mut s), "AUTH CRAM-MD5\r\n");
    feed(&mut s, "334 not*base64\r\n");
    assert_eq!(out(&mut s), "*\r\n");
    feed(&mut s, "501 cancelled\r\n");
    assert!(matches!(
        auth_event(&mut s),
        Err(Error::Auth(AuthError::MalformedChallenge { .. }))
    ));
}

#[test]
fn refusal_535_keeps_connection_then_retry_succeeds() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    let opts = AuthOptions::new().mechanisms([Mechanism::Plain]);
    s.auth(&Credentials::new("tim", "wrong"), &opts, None)
        .unwrap();
    out(&mut s);
    feed(&mut s, "535 5.7.8 Authentication credentials invalid\r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::Refused(reply)) if reply.code().as_u16() == 535),
        "{err:?}"
    );
    assert!(err.is_auth());
    assert!(err.is_permanent());
    assert!(err.connection_usable());
    assert_eq!(err.code().map(|c| c.as_u16()), Some(535));
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert_eq!(
        err.to_string(),
        "auth: refused by the server: 535 5.7.8 Authentication credentials invalid"
    );
    assert!(s.is_ready());
    // No MAIL after the failure...
    assert!(matches!(
        s.mail(envelope()),
        Err(Error::Auth(AuthError::Refused(_)))
    ));
    assert_eq!(out(&mut s), "");
    // ...but other credentials may be tried on the same connection.
    s.auth(&Credentials::new("tim", "tanstaaftanstaaf"), &opts, None)
        .unwrap();
    assert_eq!(out(&mut s), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    feed(&mut s, "235 ok\r\n");
    assert!(auth_event(&mut s).is_ok());
    s.mail(envelope()).unwrap();
}

#[test]
fn reply_codes_classified() {
    let ehlo = "250-mx.example\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN CRAM-MD5\r\n";
    for (code, permanent) in [
        (454, false),
        (534, true),
        (538, true),
        (530, true),
        (535, true),
        (504, true),
    ] {
        let (mut s, _) = ready(ehlo, Some(true));
        s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
            .unwrap();
        out(&mut s);
        let class = code / 100;
        feed(&mut s, &format!("{code} {class}.7.8 nope\r\n"));
        let err = auth_event(&mut s).unwrap_err();
        // An authentication failure, with the server's reply and its enhanced code.
        assert!(err.is_auth(), "{code}: {err:?}");
        assert!(
            matches!(&err, Error::Auth(AuthError::Refused(r)) if r.code().as_u16() == code),
            "{code}: {err:?}"
        );
        assert_eq!(err.is_permanent(), permanent, "{code}");
        assert_eq!(err.code().map(|c| c.as_u16()), Some(code));
        assert_eq!(
            err.enhanced_code().map(|c| c.to_string()),
            Some(format!("{class}.7.8"))
        );
        assert_eq!(err.reply().map(Reply::message).as_deref(), Some("nope"));
        assert_eq!(err.command(), Some(CommandKind::Auth));
        assert!(err.connection_usable());
        assert!(s.is_ready() && s.error().is_none());
    }
    // Twin: a 421 is the server closing, not a verdict on the credentials.
    let (mut s, _) = ready(ehlo, Some(true));
    s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
        .unwrap();
    out(&mut s);
    feed(&mut s, "421 4.3.2 shutting down\r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(!err.is_auth(), "{err:?}");
    assert!(!err.connection_usable());
}

#[test]
fn mechanism_list_after_tls_is_used() {
    // Before TLS the server offers only CRAM-MD5; after TLS, SCRAM-SHA-1 and PLAIN.
    let (mut s, _) = ready(
        "250-mx.example\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5\r\n",
        None,
    );
    s.starttls().unwrap();
    assert_eq!(out(&mut s), "STARTTLS\r\n");
    feed(&mut s, "220 2.0.0 go ahead\r\n");
    assert!(matches!(s.poll_event(), Some(Event::StartTls(Ok(())))));
    s.tls_established();
    s.set_tls_verified(true);
    assert_eq!(out(&mut s), "EHLO client.example\r\n");
    feed(&mut s, "250-mx.example\r\n250 AUTH PLAIN SCRAM-SHA-1\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Ready(Ok(())))));
    let creds = Credentials::new("user", "pencil");
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), None).unwrap(),
        Mechanism::ScramSha1
    );
    assert!(out(&mut s).starts_with("AUTH SCRAM-SHA-1 "));
    // Twin: the pre-TLS list alone would have picked CRAM-MD5.
    let (mut s, _) = ready(
        "250-mx.example\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5\r\n",
        None,
    );
    let allow = AuthOptions::new().allow_unverified_challenge_response(true);
    assert_eq!(s.auth(&creds, &allow, None).unwrap(), Mechanism::CramMd5);
}

#[test]
fn plus_uses_tls_exporter_binding() {
    let ehlo = "250-mx.example\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n";
    let (mut s, _) = ready(ehlo, Some(true));
    let creds = Credentials::new("user", "pencil");
    let cb = [0x5a; 32];
    let m = s.auth(&creds, &AuthOptions::new(), Some(&cb)).unwrap();
    assert_eq!(m, Mechanism::ScramSha256Plus);
    let line = out(&mut s);
    let ir = line
        .strip_prefix("AUTH SCRAM-SHA-256-PLUS ")
        .unwrap()
        .trim_end();
    let ir = B64.decode(ir).unwrap();
    assert!(
        ir.starts_with(b"p=tls-exporter,,n=user,r="),
        "{}",
        String::from_utf8_lossy(&ir)
    );
    // Without exporter data the non-PLUS form is used, with the "n" flag.
    let (mut s, _) = ready(ehlo, Some(true));
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), None).unwrap(),
        Mechanism::ScramSha256
    );
    let ir = B64
        .decode(
            out(&mut s)
                .strip_prefix("AUTH SCRAM-SHA-256 ")
                .unwrap()
                .trim_end(),
        )
        .unwrap();
    assert!(ir.starts_with(b"n,,n=user,r="));
}

#[test]
fn binding_capable_client_sends_y_when_plus_not_offered() {
    // RFC 5802 §6: "y" lets a server that does support channel binding detect that -PLUS
    // was stripped from its EHLO reply.
    let (mut s, _) = ready(EHLO_SCRAM, Some(true));
    let creds = Credentials::new("user", "pencil");
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), Some(&[1; 32])).unwrap(),
        Mechanism::ScramSha256
    );
    let ir = B64
        .decode(
            out(&mut s)
                .strip_prefix("AUTH SCRAM-SHA-256 ")
                .unwrap()
                .trim_end(),
        )
        .unwrap();
    assert!(
        ir.starts_with(b"y,,n=user,r="),
        "{}",
        String::from_utf8_lossy(&ir)
    );
}

#[test]
fn required_binding_never_downgrades() {
    let ehlo = "250-mx.example\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS PLAIN\r\n";
    let (mut s, _) = ready(ehlo, Some(true));
    let creds = Credentials::new("user", "pencil");
    let opts = AuthOptions::new().require_channel_binding(true);
    let err = s.auth(&creds, &opts, None).unwrap_err();
    assert!(matches!(
        err,
        Error::Auth(AuthError::ChannelBindingUnavailable)
    ));
    assert!(err.is_permanent());
    assert_eq!(out(&mut s), "");
    // Twin: with exporter data the -PLUS form goes out.
    assert_eq!(
        s.auth(&creds, &opts, Some(&[2; 32])).unwrap(),
        Mechanism::ScramSha256Plus
    );
    assert!(out(&mut s).starts_with("AUTH SCRAM-SHA-256-PLUS "));
}

#[test]
fn long_initial_response_waits_for_empty_challenge() {
    let (mut s, lines) = ready(EHLO_ALL, Some(true));
    let token = "t".repeat(600);
    let creds = Credentials::bearer_token("u@example.com", token.clone());
    assert_eq!(
        s.auth(
            &creds,
            &AuthOptions::new().mechanisms([Mechanism::XOAuth2]),
            None
        )
        .unwrap(),
        Mechanism::XOAuth2
    );
    // RFC 4954 §4: the AUTH line would exceed 512 octets, so no initial response on it.
    assert_eq!(out(&mut s), "AUTH XOAUTH2\r\n");
    feed(&mut s, "334 \r\n");
    let ir = format!("user=u@example.com\x01auth=Bearer {token}\x01\x01");
    assert_eq!(out(&mut s), format!("{}\r\n", b64(ir.as_bytes())));
    feed(&mut s, "235 2.7.0 Accepted\r\n");
    assert!(auth_event(&mut s).is_ok());
    assert!(!lines.lock().unwrap().iter().any(|l| l.contains("ttttt")));
}

#[test]
fn xoauth2_error_challenge_then_535() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    let creds = Credentials::bearer_token("u@example.com", "ya29.x");
    assert_eq!(
        s.auth(
            &creds,
            &AuthOptions::new().mechanisms([Mechanism::XOAuth2]),
            None
        )
        .unwrap(),
        Mechanism::XOAuth2
    );
    assert_eq!(
        out(&mut s),
        format!(
            "AUTH XOAUTH2 {}\r\n",
            b64(b"user=u@example.com\x01auth=Bearer ya29.x\x01\x01")
        )
    );
    feed(
        &mut s,
        &format!(
            "334 {}\r\n",
            b64(br#"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#)
        ),
    );
    assert_eq!(out(&mut s), "\r\n");
    feed(
        &mut s,
        "535-5.7.8 Username and Password not accepted.\r\n535 5.7.8 Learn more\r\n",
    );
    let err = auth_event(&mut s).unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::Refused(_))),
        "{err:?}"
    );
    assert_eq!(
        err.reply().map(Reply::message).as_deref(),
        Some("5.7.8 Username and Password not accepted.\n5.7.8 Learn more")
    );
}

#[test]
fn oauthbearer_default_for_tokens() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    let creds = Credentials::bearer_token("u@example.com", "tok");
    assert_eq!(
        s.auth(&creds, &AuthOptions::new(), None).unwrap(),
        Mechanism::OAuthBearer
    );
    assert_eq!(
        out(&mut s),
        format!(
            "AUTH OAUTHBEARER {}\r\n",
            b64(b"n,a=u@example.com,\x01auth=Bearer tok\x01\x01")
        )
    );
    feed(
        &mut s,
        &format!("334 {}\r\n", b64(br#"{"status":"invalid_token"}"#)),
    );
    // RFC 7628 §3.2.3: a single %x01.
    assert_eq!(out(&mut s), "AQ==\r\n");
    feed(&mut s, "535 5.7.8 nope\r\n");
    assert!(auth_event(&mut s).unwrap_err().is_permanent());
}

#[test]
fn auth_not_offered_or_after_helo() {
    let (mut s, _) = ready("250-mx.example\r\n250 PIPELINING\r\n", Some(true));
    let err = s
        .auth(&Credentials::new("u", "p"), &AuthOptions::new(), None)
        .unwrap_err();
    assert!(matches!(err, Error::Auth(AuthError::NotOffered)));
    assert!(err.is_permanent());
    assert_eq!(out(&mut s), "");
    assert!(s.mail(envelope()).is_err());
}
