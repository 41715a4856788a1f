//! AUTH through the sans-IO session, byte for byte: exchanges that do not end as they
//! should (endless challenges, a cancel answered with a challenge, nonsense replies, EOF).

use super::session_tests::{EHLO_ALL, auth_event, envelope, feed, out, ready};
use super::*;
use crate::proto::CommandKind;
use crate::proto::error::Error;

/// A mechanism that answers every challenge: the round-trip bound must stop it.
struct Chatty;

impl SaslClient for Chatty {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Login
    }
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        Ok(match challenge {
            None => Step::Wait,
            Some(_) => Step::respond(b"again".to_vec()),
        })
    }
}

#[test]
fn round_trips_are_bounded() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.start_auth(Box::new(Chatty)).unwrap();
    assert_eq!(out(&mut s), "AUTH LOGIN\r\n");
    for _ in 0..MAX_ROUND_TRIPS {
        feed(&mut s, "334 \r\n");
        assert_eq!(out(&mut s), "YWdhaW4=\r\n");
    }
    feed(&mut s, "334 \r\n");
    assert_eq!(out(&mut s), "*\r\n");
    feed(&mut s, "501 cancelled\r\n");
    assert!(matches!(
        auth_event(&mut s),
        Err(Error::Auth(AuthError::TooManyRoundTrips))
    ));
}

/// A server that answers the cancel with another challenge would keep the exchange going
/// forever: an authentication failure the client detected (transient), and the session is
/// given up since the exchange never ended. Twin: `malformed_challenge_is_cancelled` (the
/// cancel answered with 501).
#[test]
fn challenge_after_cancel_is_an_auth_failure() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
        .unwrap();
    out(&mut s);
    feed(&mut s, "334 ????\r\n");
    assert_eq!(out(&mut s), "*\r\n");
    feed(&mut s, "334 \r\n");
    let err = auth_event(&mut s).unwrap_err();
    match &err {
        Error::Auth(AuthError::CancelIgnored { reason }) => {
            assert!(matches!(**reason, AuthError::MalformedChallenge { .. }));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_auth() && err.is_transient());
    assert!(!err.connection_usable());
    assert_eq!(err.command(), Some(CommandKind::Auth));
    assert_eq!(out(&mut s), "", "nothing more is sent");
    assert!(s.error().is_some_and(Error::is_auth));
    assert!(s.mail(envelope()).is_err());
    assert_eq!(out(&mut s), "");
}

/// An endless run of challenges to a mechanism that would answer them all: cancelled after
/// [`MAX_ROUND_TRIPS`], and a server that goes on challenging after the cancel is an
/// authentication failure, not a protocol error. Twin: `round_trips_are_bounded`.
#[test]
fn endless_challenges_are_an_auth_failure() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.start_auth(Box::new(Chatty)).unwrap();
    out(&mut s);
    for _ in 0..MAX_ROUND_TRIPS {
        feed(&mut s, "334 \r\n");
        assert_eq!(out(&mut s), "YWdhaW4=\r\n");
    }
    feed(&mut s, "334 \r\n");
    assert_eq!(out(&mut s), "*\r\n");
    feed(&mut s, "334 \r\n");
    let err = auth_event(&mut s).unwrap_err();
    assert!(
        matches!(&err, Error::Auth(AuthError::CancelIgnored { reason })
            if **reason == AuthError::TooManyRoundTrips),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(out(&mut s), "");
}

#[test]
fn nonsense_replies_are_protocol_errors() {
    // A 250 to AUTH: the session is poisoned.
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
        .unwrap();
    out(&mut s);
    feed(&mut s, "250 ok\r\n");
    assert!(matches!(auth_event(&mut s), Err(Error::Protocol { .. })));
}

#[test]
fn eof_during_auth_ends_it() {
    let (mut s, _) = ready(EHLO_ALL, Some(true));
    s.auth(&Credentials::new("tim", "x"), &AuthOptions::new(), None)
        .unwrap();
    out(&mut s);
    s.handle_eof();
    assert!(matches!(
        auth_event(&mut s),
        Err(Error::Closed {
            command: Some(CommandKind::Auth)
        })
    ));
}
