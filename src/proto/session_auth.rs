//! AUTH in the session (RFC 4954): the command, its `334` continuations and the verdict.
//!
//! A child module of `session` so that it reaches the session's state; the mechanisms and
//! the policy that picks one live in [`crate::auth`]. Nothing secret reaches the
//! transcript: the AUTH line shows `<redacted>` in place of the initial response, and
//! every continuation line is `<redacted>` (or `*` for a cancel).

use std::fmt;

use zeroize::Zeroizing;

use crate::auth::{
    self, AuthError, AuthOptions, ChannelBinding, Credentials, MAX_ROUND_TRIPS, Mechanism,
    SaslClient, Security, Step,
};
use crate::proto::error::{Error, ProtocolError, UsageError};
use crate::proto::{CommandKind, Reply, ReplyCode};

use super::{Direction, Event, Expect, Session};

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included. An AUTH line
/// with its initial response must fit too (RFC 4954 §4).
const MAX_COMMAND_LINE: usize = 512;

/// RFC 4954 §4: a client response line may be up to 12288 octets, CRLF included.
const MAX_RESPONSE_LINE: usize = 12288;

/// An AUTH exchange in progress.
pub(super) struct AuthExchange {
    client: Box<dyn SaslClient>,
    /// An initial response too long for the AUTH line, sent after the first (empty) `334`.
    deferred: Option<Zeroizing<Vec<u8>>>,
    round_trips: u8,
    /// Set once `*` was sent: the error to report when the server answers it.
    cancelled: Option<AuthError>,
}

impl fmt::Debug for AuthExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthExchange")
            .field("mechanism", &self.client.mechanism())
            .field("round_trips", &self.round_trips)
            .field("cancelled", &self.cancelled)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Authenticates (RFC 4954): picks the mechanism with [`auth::select`] from the
    /// capabilities of the last EHLO (so after STARTTLS, the list offered over TLS) and
    /// sends `AUTH MECH [initial-response]`, the initial response base64-encoded (`=` when
    /// empty) unless it would make the line longer than 512 octets. Each `334` challenge
    /// is decoded and answered; a challenge the mechanism rejects is answered with `*`
    /// (cancel), which the server answers with 501. Answered by [`Event::Auth`]:
    /// - `Ok(())` for 235 (after SCRAM verified the server's signature);
    /// - [`Error::Auth`] with [`AuthError::Refused`] for a refusal: 535, 534, 538 and 530
    ///   are permanent, 454 transient (a 421 stays [`Error::Reply`]: the server is
    ///   closing);
    /// - [`Error::Auth`] for a failure the client detected (transient), after `*`; if the
    ///   server answers `*` with another challenge, [`AuthError::CancelIgnored`] and the
    ///   session is poisoned.
    ///
    /// `channel_binding` is the RFC 9266 `tls-exporter` value of a TLS 1.3 connection, for
    /// the -PLUS mechanisms.
    ///
    /// After a failed AUTH the session stays usable (another AUTH, RSET, QUIT), but
    /// [`Session::mail`] refuses to start a transaction with the AUTH error until an AUTH
    /// succeeds: no mail goes out unauthenticated after a failed AUTH.
    ///
    /// Returns the mechanism chosen.
    ///
    /// # Errors
    /// Before anything is sent: the sticky error, a usage error (not ready, replies still
    /// due, already authenticated: RFC 4954 §4 forbids a second AUTH), or [`Error::Auth`]
    /// when no mechanism can be used (permanent; see [`auth::select`]: every mechanism
    /// needs verified TLS unless the options allow otherwise).
    pub fn auth(
        &mut self,
        credentials: &Credentials,
        options: &AuthOptions,
        channel_binding: Option<&[u8]>,
    ) -> Result<Mechanism, Error> {
        self.check_auth_allowed()?;
        let offered: &[String] = self
            .caps
            .as_ref()
            .map(|c| c.auth_mechanisms())
            .unwrap_or_default();
        let cb = channel_binding.filter(|d| !d.is_empty());
        let security = Security {
            tls: self.tls,
            tls_verified: self.is_tls_verified(),
            channel_binding: cb.is_some(),
        };
        let is_offered = |m: Mechanism| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name()));
        let chosen = auth::select(offered, credentials, options, security).and_then(|m| {
            let binding = match cb {
                Some(data) if m.is_plus() => ChannelBinding::TlsExporter(data.to_vec()),
                // RFC 5802 §6: "y" when the client could bind but the server offers no
                // -PLUS form, so that a stripped -PLUS in the EHLO list is detected.
                Some(_) if m.plus().is_some_and(|p| !is_offered(p)) => ChannelBinding::NotOffered,
                _ => ChannelBinding::None,
            };
            auth::client(m, credentials, binding).map(|c| (m, c))
        });
        match chosen {
            Ok((mechanism, client)) => {
                self.start_auth(client)?;
                Ok(mechanism)
            }
            Err(e) => Err(self.auth_failed(e)),
        }
    }

    /// True after a successful AUTH (until STARTTLS resets the session's knowledge).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    fn check_auth_allowed(&self) -> Result<(), Error> {
        self.check_ready()?;
        if !self.expect.is_empty() {
            // RFC 4954 §4: AUTH is not pipelined.
            return Err(UsageError::InvalidState("replies are still due").into());
        }
        if self.authenticated {
            // RFC 4954 §4: after a successful AUTH, the server refuses another with 503.
            return Err(UsageError::InvalidState("already authenticated").into());
        }
        Ok(())
    }

    fn auth_failed(&mut self, e: AuthError) -> Error {
        let err = Error::Auth(e);
        self.auth_failure = Some(err.clone());
        err
    }

    /// Sends AUTH for a mechanism already built (by [`Session::auth`], or by a test with
    /// an injected nonce). No policy check is made here.
    pub(crate) fn start_auth(&mut self, mut client: Box<dyn SaslClient>) -> Result<(), Error> {
        self.check_auth_allowed()?;
        let name = client.mechanism().name();
        let first = match client.step(None) {
            Ok(step) => step,
            Err(e) => return Err(self.auth_failed(e)),
        };
        let bare = format!("AUTH {name}");
        let mut deferred = None;
        match first {
            Step::Wait => self.send_auth_line(bare.as_bytes(), &bare),
            Step::Respond(initial) => {
                // RFC 4954 §4: an empty initial response is sent as "=".
                let encoded = if initial.is_empty() {
                    Zeroizing::new(String::from("="))
                } else {
                    auth::encode_base64(&initial)
                };
                let len = bare.len().saturating_add(encoded.len()).saturating_add(3);
                if len <= MAX_COMMAND_LINE {
                    let line = Zeroizing::new(format!("{bare} {}", encoded.as_str()));
                    self.send_auth_line(line.as_bytes(), &format!("{bare} <redacted>"));
                } else {
                    // RFC 4954 §4: too long for the command line (an OAuth token, say):
                    // AUTH alone, and the response after the server's empty challenge.
                    deferred = Some(initial);
                    self.send_auth_line(bare.as_bytes(), &bare);
                }
            }
        }
        self.auth = Some(AuthExchange {
            client,
            deferred,
            round_trips: 0,
            cancelled: None,
        });
        Ok(())
    }

    /// Queues one AUTH line (the command, a response or `*`); `shown` is what the
    /// transcript gets. Like every line, refused once the server is closing.
    fn send_auth_line(&mut self, wire: &[u8], shown: &str) {
        if !self.may_send(Expect::Auth) {
            return;
        }
        if let Some(t) = &self.config.transcript {
            t(Direction::Client, shown);
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "smtp_courier::transcript", "C: {shown}");
        self.out.extend_from_slice(wire);
        self.out.extend_from_slice(b"\r\n");
        // Wiped once handed out: the line may carry an initial response.
        self.out_secret = true;
        self.expect_reply(Expect::Auth);
    }

    /// Handles the reply to AUTH or to a continuation line.
    pub(super) fn handle_auth_reply(&mut self, reply: Reply) {
        let Some(mut ex) = self.auth.take() else {
            self.fail_auth_protocol(ProtocolError::Unsolicited);
            return;
        };
        let code = reply.code();
        if code.as_u16() == 334 {
            if let Some(reason) = ex.cancelled.take() {
                // RFC 4954 §4: "*" must be answered with 501, not another challenge. A
                // server that goes on challenging would keep the exchange open forever:
                // an authentication failure, and the connection is given up.
                let err = Error::Auth(AuthError::CancelIgnored {
                    reason: Box::new(reason),
                });
                self.auth_failure = Some(err.clone());
                self.events.push_back(Event::Auth(Err(err.clone())));
                self.abort(err);
                return;
            }
            ex.round_trips = ex.round_trips.saturating_add(1);
            let answered = if ex.round_trips > MAX_ROUND_TRIPS {
                Err(AuthError::TooManyRoundTrips)
            } else {
                self.answer_challenge(&mut ex, &reply)
            };
            if let Err(e) = answered {
                // RFC 4954 §4: the client cancels with "*"; the server answers 501.
                self.send_auth_line(b"*", "*");
                ex.cancelled = Some(e);
            }
            self.auth = Some(ex);
            return;
        }
        let result = if let Some(e) = ex.cancelled.take() {
            // The answer to "*" (501): the exchange failed for the client's reason.
            Err(Error::Auth(e))
        } else if code.as_u16() == 235 {
            let data = success_data(ex.client.mechanism(), &reply);
            ex.client
                .finish(data.as_deref().map(|d| &d[..]))
                .map_err(Error::Auth)
        } else if code.is_positive_completion() || code.first_digit() == 3 {
            self.fail_auth_protocol(ProtocolError::UnexpectedCode(code.as_u16()));
            return;
        } else if code == ReplyCode::SERVICE_NOT_AVAILABLE {
            // RFC 5321 §3.8: a 421 is the server closing, not a verdict on the credentials.
            Err(Error::Reply {
                command: CommandKind::Auth,
                reply,
            })
        } else {
            // RFC 4954 §6: 535 (credentials), 534 (mechanism too weak), 538 (encryption
            // required) are permanent; 454 transient; the server keeps the connection.
            Err(Error::Auth(AuthError::Refused(reply)))
        };
        match &result {
            Ok(()) => {
                self.authenticated = true;
                self.auth_failure = None;
            }
            Err(e) => self.auth_failure = Some(e.clone()),
        }
        self.events.push_back(Event::Auth(result));
    }

    fn answer_challenge(&mut self, ex: &mut AuthExchange, reply: &Reply) -> Result<(), AuthError> {
        let mechanism = ex.client.mechanism();
        let mut lines = reply.lines().iter();
        let text: &[u8] = match (lines.next(), lines.next()) {
            (Some(line), None) => line.trim_ascii(),
            (None, _) => b"",
            (Some(_), Some(_)) => {
                return Err(AuthError::MalformedChallenge {
                    mechanism,
                    reason: "multi-line challenge",
                });
            }
        };
        let challenge = Zeroizing::new(auth::decode_base64(mechanism, text)?);
        let response = match ex.deferred.take() {
            Some(initial) if challenge.is_empty() => initial,
            Some(_) => return Err(AuthError::UnexpectedChallenge { mechanism }),
            None => match ex.client.step(Some(&challenge))? {
                Step::Respond(r) => r,
                Step::Wait => Zeroizing::new(Vec::new()),
            },
        };
        let encoded = auth::encode_base64(&response);
        if encoded.len().saturating_add(2) > MAX_RESPONSE_LINE {
            return Err(AuthError::ResponseTooLong { mechanism });
        }
        self.send_auth_line(encoded.as_bytes(), "<redacted>");
        Ok(())
    }

    /// A reply that makes no sense in an AUTH exchange: the session is poisoned and the
    /// AUTH answered with the error.
    fn fail_auth_protocol(&mut self, error: ProtocolError) {
        let err = Error::Protocol {
            command: Some(CommandKind::Auth),
            error,
        };
        self.events.push_back(Event::Auth(Err(err.clone())));
        self.abort(err);
    }
}

/// The "additional data with success" of RFC 4422 §5 in a 235 reply: its text, after any
/// enhanced status code, when that is one base64 word. Dovecot behind Postfix sends the
/// SCRAM server-final message as a 334 challenge instead; both are handled.
fn success_data(mechanism: Mechanism, reply: &Reply) -> Option<Zeroizing<Vec<u8>>> {
    let line = reply.text_lines().next()?.trim_ascii();
    // Without ENHANCEDSTATUSCODES the code is still in the text: skip a leading "2.x.y".
    let word = match split_at_space(line) {
        Some((first, rest)) if first.iter().all(|b| b.is_ascii_digit() || *b == b'.') => {
            rest.trim_ascii()
        }
        _ => line,
    };
    if word.is_empty() || word.contains(&b' ') {
        return None;
    }
    auth::decode_base64(mechanism, word)
        .ok()
        .map(Zeroizing::new)
}

fn split_at_space(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = line.iter().position(|b| *b == b' ')?;
    let (first, rest) = line.split_at_checked(i)?;
    Some((first, rest.get(1..).unwrap_or_default()))
}
