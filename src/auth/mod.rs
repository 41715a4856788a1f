//! SASL client mechanisms for SMTP AUTH, and the policy that picks one.
//!
//! Nothing in this module does I/O or reads a clock: each mechanism is a step function from
//! a decoded server challenge to a decoded client response, and the session does the
//! base64 and the SMTP framing. The only outside input is SCRAM's nonce, drawn from the
//! operating system unless the caller injects one ([`Scram::with_nonce`]). It builds
//! without tokio (`cargo check --no-default-features`).
//!
//! RFCs and specifications implemented here:
//! - [RFC 4954](https://www.rfc-editor.org/rfc/rfc4954) SMTP AUTH, with
//!   [RFC 4422](https://www.rfc-editor.org/rfc/rfc4422) SASL (the framing lives in
//!   [`Session::auth`](crate::proto::Session::auth));
//! - [RFC 4616](https://www.rfc-editor.org/rfc/rfc4616) PLAIN ([`Plain`]);
//! - LOGIN, draft-murchison-sasl-login ([`Login`]);
//! - [RFC 2195](https://www.rfc-editor.org/rfc/rfc2195) CRAM-MD5 ([`CramMd5`]);
//! - [RFC 5802](https://www.rfc-editor.org/rfc/rfc5802) and
//!   [RFC 7677](https://www.rfc-editor.org/rfc/rfc7677) SCRAM-SHA-1 and SCRAM-SHA-256, and
//!   their -PLUS forms with [RFC 9266](https://www.rfc-editor.org/rfc/rfc9266)
//!   `tls-exporter` channel binding ([`Scram`]);
//! - [RFC 7628](https://www.rfc-editor.org/rfc/rfc7628) OAUTHBEARER ([`OAuthBearer`]) and
//!   Google's XOAUTH2 ([`XOAuth2`]).
//!
//! # Policy
//!
//! [`select`] picks the mechanism: the caller's ordered list, or by default the strongest
//! one the server offers ([`Mechanism::DEFAULT_ORDER`]). Only the first usable one is
//! tried. Every mechanism needs verified TLS by default: those that reveal the password
//! or token ([`Mechanism::sends_cleartext`]) unless [`AuthOptions::allow_cleartext`] says
//! otherwise, and the challenge-response ones (CRAM-MD5, SCRAM) unless
//! [`AuthOptions::allow_unverified_challenge_response`] (or `allow_cleartext`) does, since
//! a man in the middle choosing the challenge could crack their response offline. A -PLUS
//! mechanism never silently becomes its non-PLUS form when the caller asked for channel
//! binding.
//!
//! ```
//! use smtp_courier::auth::{AuthError, AuthOptions, Credentials, Mechanism, Security, select};
//! let offered = ["PLAIN".to_string(), "SCRAM-SHA-256".to_string()];
//! let creds = Credentials::new("alice", "secret");
//! let no_tls = Security { tls: false, tls_verified: false, channel_binding: false };
//! let verified = Security { tls: true, tls_verified: true, channel_binding: false };
//! assert_eq!(select(&offered, &creds, &AuthOptions::new(), verified), Ok(Mechanism::ScramSha256));
//! // Without verified TLS nothing is tried by default, not even SCRAM...
//! let err = select(&offered, &creds, &AuthOptions::new(), no_tls).unwrap_err();
//! assert!(matches!(err, AuthError::UnverifiedTlsRefused { mechanism: Mechanism::ScramSha256, .. }));
//! assert!(err.is_permanent());
//! // ...unless the caller accepts that a man in the middle could attack SCRAM offline,
//! let scram_ok = AuthOptions::new().allow_unverified_challenge_response(true);
//! assert_eq!(select(&offered, &creds, &scram_ok, no_tls), Ok(Mechanism::ScramSha256));
//! // which still refuses PLAIN, that reveals the password itself,
//! let plain_only = scram_ok.mechanisms([Mechanism::Plain]);
//! let err = select(&offered, &creds, &plain_only, no_tls).unwrap_err();
//! assert!(err.to_string().contains("allow_cleartext"));
//! // unless the caller allows that explicitly too.
//! let allowed = plain_only.allow_cleartext(true);
//! assert_eq!(select(&offered, &creds, &allowed, no_tls), Ok(Mechanism::Plain));
//! ```

// Peer input must never panic a mechanism: these hold for all non-test code here, as in
// `proto`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod cram_md5;
mod login;
mod oauthbearer;
mod plain;
mod policy;
mod scram;
mod xoauth2;

#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod session_tests_exchange;

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::proto::Reply;

pub use cram_md5::CramMd5;
pub use login::Login;
pub use oauthbearer::OAuthBearer;
pub use plain::Plain;
pub use policy::{AuthOptions, Security, select};
pub use scram::{MAX_ITERATIONS, MIN_ITERATIONS, Scram, ScramHash};
pub use xoauth2::XOAuth2;

/// The most challenge/response round trips one AUTH exchange may take before the client
/// cancels it. The longest mechanism here (SCRAM, with the server-final message sent as a
/// challenge) needs three; the bound keeps a misbehaving server from looping forever.
pub const MAX_ROUND_TRIPS: u8 = 8;

/// Base64 as used on the SMTP AUTH wire (RFC 4954 §4): the standard alphabet. Padding is
/// written; on input it is accepted whether present or not, since some servers drop it.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64-encodes `data` into a buffer that is wiped on drop (responses carry secrets).
pub(crate) fn encode_base64(data: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(BASE64.encode(data))
}

/// Decodes a base64 challenge or success message.
///
/// # Errors
/// [`AuthError::MalformedChallenge`] when `data` is not base64.
pub fn decode_base64(mechanism: Mechanism, data: &[u8]) -> Result<Vec<u8>, AuthError> {
    BASE64
        .decode(data)
        .map_err(|_| AuthError::MalformedChallenge {
            mechanism,
            reason: "not base64",
        })
}

/// A user name with a password or a bearer token.
///
/// The secret is wiped from memory when the value is dropped, and `Debug` never shows it
/// (the user name is shown). Neither ever appears in an error, a `Display` output or the
/// transcript.
///
/// ```
/// use smtp_courier::auth::Credentials;
/// let c = Credentials::new("alice", "hunter2");
/// assert!(!format!("{c:?}").contains("hunter2"));
/// assert_eq!(c.username(), "alice");
/// ```
#[derive(Clone)]
pub struct Credentials {
    username: Zeroizing<String>,
    secret: Secret,
}

#[derive(Clone)]
enum Secret {
    Password(Zeroizing<String>),
    BearerToken(Zeroizing<String>),
}

impl Credentials {
    /// A user name and password, for PLAIN, LOGIN, CRAM-MD5 and SCRAM.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: Zeroizing::new(username.into()),
            secret: Secret::Password(Zeroizing::new(password.into())),
        }
    }

    /// A user name and an OAuth 2.0 bearer token, for OAUTHBEARER and XOAUTH2.
    pub fn bearer_token(username: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            username: Zeroizing::new(username.into()),
            secret: Secret::BearerToken(Zeroizing::new(token.into())),
        }
    }

    /// The user name (the authentication identity).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// True for a bearer token, false for a password.
    pub fn is_bearer_token(&self) -> bool {
        matches!(self.secret, Secret::BearerToken(_))
    }

    pub(crate) fn password(&self) -> Option<&str> {
        match &self.secret {
            Secret::Password(p) => Some(p),
            Secret::BearerToken(_) => None,
        }
    }

    pub(crate) fn token(&self) -> Option<&str> {
        match &self.secret {
            Secret::BearerToken(t) => Some(t),
            Secret::Password(_) => None,
        }
    }

    /// The password for a password mechanism, or the error naming what it needs.
    pub(crate) fn require_password(&self, mechanism: Mechanism) -> Result<&str, AuthError> {
        self.password()
            .ok_or(AuthError::WrongCredentials { mechanism })
    }

    /// The token for a token mechanism, or the error naming what it needs.
    pub(crate) fn require_token(&self, mechanism: Mechanism) -> Result<&str, AuthError> {
        self.token()
            .ok_or(AuthError::WrongCredentials { mechanism })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = match self.secret {
            Secret::Password(_) => "password",
            Secret::BearerToken(_) => "bearer_token",
        };
        f.debug_struct("Credentials")
            .field("username", &self.username.as_str())
            .field(secret, &format_args!("<redacted>"))
            .finish()
    }
}

/// A SASL mechanism this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// SCRAM-SHA-256-PLUS (RFC 7677, RFC 9266 `tls-exporter` binding).
    ScramSha256Plus,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-1-PLUS (RFC 5802, RFC 9266 `tls-exporter` binding).
    ScramSha1Plus,
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// CRAM-MD5 (RFC 2195).
    CramMd5,
    /// PLAIN (RFC 4616): reveals the password to the server and the wire.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): reveals the password.
    Login,
    /// XOAUTH2 (Google, Microsoft 365): reveals the bearer token.
    XOAuth2,
    /// OAUTHBEARER (RFC 7628): reveals the bearer token.
    OAuthBearer,
}

impl Mechanism {
    /// The default preference for a password, strongest first: SCRAM-SHA-256-PLUS,
    /// SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.
    pub const DEFAULT_ORDER: [Self; 7] = [
        Self::ScramSha256Plus,
        Self::ScramSha256,
        Self::ScramSha1Plus,
        Self::ScramSha1,
        Self::CramMd5,
        Self::Plain,
        Self::Login,
    ];

    /// The default preference for a bearer token: the standard OAUTHBEARER first, then
    /// XOAUTH2.
    pub const DEFAULT_TOKEN_ORDER: [Self; 2] = [Self::OAuthBearer, Self::XOAuth2];

    /// Every mechanism.
    pub const ALL: [Self; 9] = [
        Self::ScramSha256Plus,
        Self::ScramSha256,
        Self::ScramSha1Plus,
        Self::ScramSha1,
        Self::CramMd5,
        Self::Plain,
        Self::Login,
        Self::XOAuth2,
        Self::OAuthBearer,
    ];

    /// The registered name, as in the EHLO `AUTH` line and the AUTH command.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::CramMd5 => "CRAM-MD5",
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::XOAuth2 => "XOAUTH2",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism with this name, in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// True when the mechanism reveals the password or token to anyone who can read the
    /// connection: PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER. These need verified TLS, or
    /// [`AuthOptions::allow_cleartext`]. The others need verified TLS too, or
    /// [`AuthOptions::allow_unverified_challenge_response`].
    pub const fn sends_cleartext(self) -> bool {
        matches!(
            self,
            Self::Plain | Self::Login | Self::XOAuth2 | Self::OAuthBearer
        )
    }

    /// True for the -PLUS (channel binding) forms of SCRAM.
    pub const fn is_plus(self) -> bool {
        matches!(self, Self::ScramSha256Plus | Self::ScramSha1Plus)
    }

    /// The -PLUS form of a SCRAM mechanism.
    pub const fn plus(self) -> Option<Self> {
        match self {
            Self::ScramSha256 => Some(Self::ScramSha256Plus),
            Self::ScramSha1 => Some(Self::ScramSha1Plus),
            _ => None,
        }
    }

    /// True when the mechanism authenticates with a bearer token rather than a password.
    pub const fn uses_bearer_token(self) -> bool {
        matches!(self, Self::XOAuth2 | Self::OAuthBearer)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| AuthError::UnknownMechanism { name: printable(s) })
    }
}

/// Channel binding for SCRAM (RFC 5802 §6, the GS2 header's first field).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelBinding {
    /// `n`: the client does not support channel binding (or has no data for it).
    #[default]
    None,
    /// `y`: the client supports channel binding but the server did not offer a -PLUS
    /// mechanism. A server that does support it then fails the exchange, which detects a
    /// downgrade of the mechanism list. Only correct when the -PLUS form was not offered.
    NotOffered,
    /// `p=tls-exporter`: the RFC 9266 exporter value of the TLS 1.3 connection
    /// (label `EXPORTER-Channel-Binding`, no context, 32 bytes). Required by -PLUS.
    TlsExporter(Vec<u8>),
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::NotOffered => f.write_str("NotOffered"),
            Self::TlsExporter(d) => write!(f, "TlsExporter({} bytes)", d.len()),
        }
    }
}

/// What a mechanism wants sent next.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes (base64-encoded by the session; empty is allowed). To
    /// `step(None)` this is the initial response, sent on the AUTH line (RFC 4954 §4).
    Respond(Zeroizing<Vec<u8>>),
    /// Only to `step(None)`: the mechanism has no initial response; send `AUTH NAME` and
    /// wait for the server's first challenge.
    Wait,
}

impl Step {
    pub(crate) fn respond(bytes: Vec<u8>) -> Self {
        Self::Respond(Zeroizing::new(bytes))
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Respond(r) => write!(f, "Respond(<redacted, {} bytes>)", r.len()),
            Self::Wait => f.write_str("Wait"),
        }
    }
}

/// One side of a SASL exchange: a sans-IO step function on decoded bytes.
///
/// The session calls `step(None)` once for the initial response, `step(Some(challenge))`
/// for each `334` challenge, and `finish` when the server says `235`.
pub trait SaslClient: Send + Sync {
    /// Which mechanism this is.
    fn mechanism(&self) -> Mechanism;

    /// The next response: to `None`, the initial response (or [`Step::Wait`]); to
    /// `Some(challenge)`, the answer to a decoded server challenge.
    ///
    /// # Errors
    /// A client-detected failure (malformed or unexpected challenge, a SCRAM check that
    /// failed); the session then cancels the exchange with `*`.
    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError>;

    /// The server accepted (`235`), with the decoded "additional data with success" of
    /// RFC 4422 §5 when the reply carried some. SCRAM verifies the server's signature here
    /// unless a `334` challenge already carried it.
    ///
    /// # Errors
    /// The server did not prove what the mechanism requires of it.
    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), AuthError> {
        let _ = success_data;
        Ok(())
    }
}

/// The step function for `mechanism`, with a fresh random nonce for SCRAM.
///
/// `binding` matters only for SCRAM: -PLUS needs [`ChannelBinding::TlsExporter`].
///
/// # Errors
/// - [`AuthError::WrongCredentials`] when the mechanism needs the other kind of secret;
/// - [`AuthError::ChannelBindingUnavailable`] for -PLUS without exporter data;
/// - [`AuthError::Nonce`] when the operating system cannot supply randomness.
pub fn client(
    mechanism: Mechanism,
    credentials: &Credentials,
    binding: ChannelBinding,
) -> Result<Box<dyn SaslClient>, AuthError> {
    Ok(match mechanism {
        Mechanism::Plain => Box::new(Plain::new(credentials)?),
        Mechanism::Login => Box::new(Login::new(credentials)?),
        Mechanism::CramMd5 => Box::new(CramMd5::new(credentials)?),
        Mechanism::XOAuth2 => Box::new(XOAuth2::new(credentials)?),
        Mechanism::OAuthBearer => Box::new(OAuthBearer::new(credentials)?),
        Mechanism::ScramSha256Plus
        | Mechanism::ScramSha256
        | Mechanism::ScramSha1Plus
        | Mechanism::ScramSha1 => Box::new(Scram::new(mechanism, credentials, binding)?),
    })
}

/// Why authentication failed: refused by the server ([`AuthError::Refused`]), or decided
/// by the client (every other variant).
///
/// No variant carries a password, token or AUTH payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server's EHLO offered no AUTH mechanism (or the session used HELO).
    #[error("the server does not offer AUTH")]
    NotOffered,
    /// None of the candidate mechanisms is offered and usable.
    #[error("no usable authentication mechanism in common with the server (it offers: {offered})")]
    NoCommonMechanism {
        /// The server's mechanisms, space-separated.
        offered: String,
    },
    /// The mechanism would reveal the password or token without verified TLS.
    #[error(
        "refusing {mechanism}: it reveals the secret and the connection {}; set AuthOptions::allow_cleartext to allow it",
        if *tls { "has unverified TLS" } else { "has no TLS" }
    )]
    CleartextRefused {
        /// The first mechanism refused.
        mechanism: Mechanism,
        /// Whether TLS was active (but unverified).
        tls: bool,
    },
    /// The mechanism (CRAM-MD5 or SCRAM) would answer a challenge without verified TLS: a
    /// man in the middle could choose the challenge or salt and crack the response offline.
    #[error(
        "refusing {mechanism}: the connection {}, so a man in the middle could attack its response offline; set AuthOptions::allow_unverified_challenge_response to allow it",
        if *tls { "has unverified TLS" } else { "has no TLS" }
    )]
    UnverifiedTlsRefused {
        /// The first mechanism refused.
        mechanism: Mechanism,
        /// Whether TLS was active (but unverified).
        tls: bool,
    },
    /// The server refused the AUTH exchange with a 4yz or 5yz reply (RFC 4954 §6): 535
    /// (bad credentials), 534 (mechanism too weak), 538 (encryption required), 530, 454
    /// (temporary failure), or a 5yz to the command itself (504 for an unknown mechanism).
    /// Permanent for 5yz, transient for 4yz. The connection stays usable.
    #[error("refused by the server: {0}")]
    Refused(Reply),
    /// The server answered the client's cancel (`*`, RFC 4954 §4) with yet another
    /// challenge instead of 501: the exchange cannot be ended, so the connection is given
    /// up. `reason` is why the client cancelled.
    #[error("the server answered the cancel with another challenge (cancelled because: {reason})")]
    CancelIgnored {
        /// Why the client cancelled.
        reason: Box<Self>,
    },
    /// Channel binding is required (or a -PLUS mechanism chosen) but the connection has no
    /// `tls-exporter` data (RFC 9266 needs TLS 1.3).
    #[error("channel binding is required but the connection has no tls-exporter data (TLS 1.3)")]
    ChannelBindingUnavailable,
    /// Channel binding is required but the server offers no -PLUS mechanism from the list.
    #[error("channel binding is required but the server offers no -PLUS mechanism")]
    ChannelBindingNotOffered,
    /// The mechanism needs a password and got a token, or the reverse.
    #[error("{mechanism} needs {}", if mechanism.uses_bearer_token() { "a bearer token" } else { "a password" })]
    WrongCredentials {
        /// The mechanism.
        mechanism: Mechanism,
    },
    /// The credentials contain a byte the mechanism cannot carry (NUL for PLAIN, `\x01` for
    /// the OAuth mechanisms).
    #[error("the credentials contain a character {mechanism} cannot carry")]
    InvalidCredentials {
        /// The mechanism.
        mechanism: Mechanism,
    },
    /// An unknown mechanism name.
    #[error("unknown authentication mechanism {name:?}")]
    UnknownMechanism {
        /// The name, with anything unprintable replaced.
        name: String,
    },
    /// A client response would exceed the 12288-octet line limit (RFC 4954 §4).
    #[error("{mechanism} response too long for an SMTP line")]
    ResponseTooLong {
        /// The mechanism.
        mechanism: Mechanism,
    },
    /// The operating system could not supply randomness for the SCRAM nonce.
    #[error("cannot generate a nonce")]
    Nonce,
    /// A challenge that cannot be decoded or parsed.
    #[error("malformed {mechanism} challenge: {reason}")]
    MalformedChallenge {
        /// The mechanism.
        mechanism: Mechanism,
        /// What was wrong.
        reason: &'static str,
    },
    /// A challenge when the mechanism expected none, or one too many.
    #[error("unexpected {mechanism} challenge")]
    UnexpectedChallenge {
        /// The mechanism.
        mechanism: Mechanism,
    },
    /// SCRAM: the server nonce does not extend the client nonce (RFC 5802 §5.1).
    #[error("SCRAM server nonce does not extend the client nonce")]
    NonceMismatch,
    /// SCRAM: the iteration count is outside [`MIN_ITERATIONS`]`..=`[`MAX_ITERATIONS`].
    #[error("SCRAM iteration count {count} outside {MIN_ITERATIONS}..={MAX_ITERATIONS}")]
    IterationCount {
        /// The count the server asked for.
        count: u64,
    },
    /// SCRAM: the server signature is wrong: the server does not know the password.
    #[error("SCRAM server signature does not verify")]
    ServerSignature,
    /// SCRAM: the server reported success without proving that it knows the password.
    #[error("SCRAM server did not send its signature")]
    MissingServerSignature,
    /// SCRAM: the server-final message was an error (`e=`, RFC 5802 §7).
    #[error("SCRAM server error: {0}")]
    ServerError(String),
    /// More than [`MAX_ROUND_TRIPS`] challenges.
    #[error("too many authentication round trips")]
    TooManyRoundTrips,
}

impl AuthError {
    /// True when trying again with the same settings and credentials cannot help: the
    /// refusals decided before anything was sent (no AUTH, no common mechanism, no
    /// verified TLS, channel binding missing, unusable credentials), a SCRAM `e=` error,
    /// and a 5yz refusal by the server. Failures the client detects in the server's SASL
    /// messages (a bad signature or nonce, a malformed challenge, an endless exchange) and
    /// a 4yz refusal are transient: another server or attempt may behave.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused(reply) => reply.code().is_permanent(),
            Self::NotOffered
            | Self::NoCommonMechanism { .. }
            | Self::CleartextRefused { .. }
            | Self::UnverifiedTlsRefused { .. }
            | Self::ChannelBindingUnavailable
            | Self::ChannelBindingNotOffered
            | Self::WrongCredentials { .. }
            | Self::InvalidCredentials { .. }
            | Self::UnknownMechanism { .. }
            | Self::ResponseTooLong { .. }
            | Self::ServerError(_) => true,
            Self::Nonce
            | Self::MalformedChallenge { .. }
            | Self::UnexpectedChallenge { .. }
            | Self::NonceMismatch
            | Self::IterationCount { .. }
            | Self::ServerSignature
            | Self::MissingServerSignature
            | Self::TooManyRoundTrips
            | Self::CancelIgnored { .. } => false,
        }
    }

    /// The server's reply, for [`AuthError::Refused`].
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Refused(reply) => Some(reply),
            _ => None,
        }
    }
}

/// `s` with everything but printable ASCII replaced, at most 64 characters: peer and
/// caller text that ends up in an error message.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
            assert_eq!(m.name().to_ascii_lowercase().parse::<Mechanism>(), Ok(m));
        }
        assert!(matches!(
            "GSSAPI\n".parse::<Mechanism>(),
            Err(AuthError::UnknownMechanism { name }) if name == "GSSAPI?"
        ));
        assert_eq!(Mechanism::ScramSha1.plus(), Some(Mechanism::ScramSha1Plus));
        assert_eq!(Mechanism::Plain.plus(), None);
    }

    #[test]
    fn cleartext_mechanisms() {
        let clear: Vec<_> = Mechanism::ALL
            .into_iter()
            .filter(|m| m.sends_cleartext())
            .collect();
        assert_eq!(
            clear,
            [
                Mechanism::Plain,
                Mechanism::Login,
                Mechanism::XOAuth2,
                Mechanism::OAuthBearer
            ]
        );
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = Credentials::new("alice", "hunter2");
        let d = format!("{c:?}");
        assert!(d.contains("alice") && d.contains("<redacted>"), "{d}");
        assert!(!d.contains("hunter2"));
        let t = Credentials::bearer_token("bob", "ya29.tok");
        let d = format!("{t:?}");
        assert!(d.contains("bearer_token") && !d.contains("ya29"), "{d}");
        assert_eq!(t.password(), None);
        assert_eq!(c.token(), None);
        assert_eq!(c.password(), Some("hunter2"));
    }

    #[test]
    fn client_factory_checks_credentials() {
        let tok = Credentials::bearer_token("u", "t");
        assert_eq!(
            client(Mechanism::Plain, &tok, ChannelBinding::None).err(),
            Some(AuthError::WrongCredentials {
                mechanism: Mechanism::Plain
            })
        );
        let pw = Credentials::new("u", "p");
        assert!(client(Mechanism::XOAuth2, &pw, ChannelBinding::None).is_err());
        assert_eq!(
            client(Mechanism::ScramSha256Plus, &pw, ChannelBinding::None).err(),
            Some(AuthError::ChannelBindingUnavailable)
        );
        for m in Mechanism::DEFAULT_ORDER {
            let c = client(m, &pw, ChannelBinding::TlsExporter(vec![7; 32])).unwrap();
            assert_eq!(c.mechanism(), m);
        }
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64(Mechanism::Plain, b"YQ==").unwrap(), b"a");
        assert_eq!(decode_base64(Mechanism::Plain, b"YQ").unwrap(), b"a");
        assert!(decode_base64(Mechanism::Plain, b"Y Q").is_err());
        assert_eq!(decode_base64(Mechanism::Plain, b"").unwrap(), b"");
    }
}
