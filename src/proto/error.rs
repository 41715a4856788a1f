//! The one error type, and how each error is classified.
//!
//! Every error answers two questions a mailer must act on: is it permanent (bounce) or
//! transient (retry later), and can the connection still be used.

use std::io;
use std::sync::Arc;

use super::address::AddressError;
use super::body::BodyError;
use super::reply::ReplyError;
use super::{CommandKind, EnhancedCode, Phase, Reply, ReplyCode};
use crate::auth::AuthError;

/// Everything that can go wrong.
///
/// The variants say who is to blame: the server said no ([`Error::Reply`],
/// [`Error::Greeting`], and for AUTH [`Error::Auth`] with [`AuthError::Refused`]), the peer broke the protocol ([`Error::Protocol`]), the network
/// ([`Error::Timeout`], [`Error::Closed`], [`Error::Io`]), or the caller
/// ([`Error::Usage`], and the message checks [`Error::Body`], [`Error::TooLarge`],
/// [`Error::Extension`]).
///
/// ```
/// use smtp_courier::{Error, proto::{CommandKind, Reply, ReplyCode}};
/// let reply = Reply::new(ReplyCode::new(552).unwrap(), vec!["too many recipients".into()]);
/// let err = Error::Reply { command: CommandKind::Rcpt, reply };
/// // RFC 5321 §4.5.3.1.10: a 552 to RCPT is treated as 452, so it is transient.
/// assert!(err.is_transient());
/// assert!(err.connection_usable());
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused a command with a 4yz or 5yz reply.
    #[error("{command} refused: {reply}")]
    Reply {
        /// The command refused.
        command: CommandKind,
        /// The server's reply.
        reply: Reply,
    },
    /// The server's greeting was not 220 (a 554 or 521 means "no SMTP service here").
    #[error("connection refused by greeting: {reply}")]
    Greeting {
        /// The greeting.
        reply: Reply,
    },
    /// The server announced, unasked, that it is closing the connection (a 421 while idle,
    /// RFC 5321 §3.8: Postfix's idle timeout, for one). Transient: reconnect and retry.
    #[error("server closing the connection: {reply}")]
    ServerClosing {
        /// The 421.
        reply: Reply,
    },
    /// The server broke the protocol; the connection has been abandoned.
    #[error("protocol error{}: {error}", fmt_cmd(*.command))]
    Protocol {
        /// The command whose reply was being read, if any.
        command: Option<CommandKind>,
        /// What was wrong.
        error: ProtocolError,
    },
    /// A phase did not finish within its limit.
    #[error("timed out: {phase}")]
    Timeout {
        /// The phase.
        phase: Phase,
        /// The command whose reply was awaited, if any.
        command: Option<CommandKind>,
    },
    /// The server closed the connection when a reply was due.
    #[error("connection closed by the server{}", fmt_cmd(*.command))]
    Closed {
        /// The command whose reply was awaited, if any.
        command: Option<CommandKind>,
    },
    /// Reading or writing failed (connect failures included).
    #[error("i/o error{}: {source}", fmt_cmd(*.command))]
    Io {
        /// The command in progress, if any.
        command: Option<CommandKind>,
        /// The underlying error.
        source: Arc<io::Error>,
    },
    /// The message has a bare CR or LF and strict line endings were asked for.
    #[error("{0}")]
    Body(#[from] BodyError),
    /// The message is larger than the server's SIZE limit (RFC 1870); nothing was sent.
    #[error("message of {size} octets exceeds the server's limit of {limit}")]
    TooLarge {
        /// The message size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message needs an extension the server does not offer; nothing was sent.
    #[error("server does not offer {0}")]
    Extension(&'static str),
    /// TLS could not be set up as the policy requires (STARTTLS not offered or refused, a
    /// failed handshake or verification). Transient: a policy deferral, as Postfix's
    /// 4.7.4/4.7.5, except for a bad local configuration.
    #[error("tls: {0}")]
    Tls(TlsError),
    /// Authentication failed ([`Error::is_auth`]): the server refused it
    /// ([`AuthError::Refused`]: 535, 534, 538, 530 permanent, 454 transient; the reply is
    /// [`Error::reply`]); or the client decided so, before any AUTH command (AUTH not
    /// offered, no common mechanism, no verified TLS, channel binding missing; permanent),
    /// or on a failure detected in the server's SASL messages (a bad SCRAM signature or
    /// nonce, a malformed challenge, an endless exchange; transient), after which the
    /// exchange was cancelled with `*`.
    ///
    /// ```
    /// use smtp_courier::{Error, auth::AuthError, proto::{Reply, ReplyCode}};
    /// let reply = Reply::new(ReplyCode::new(535).unwrap(), vec!["bad credentials".into()]);
    /// let err = Error::Auth(AuthError::Refused(reply));
    /// assert!(err.is_auth() && err.is_permanent() && err.connection_usable());
    /// assert_eq!(err.code().map(|c| c.as_u16()), Some(535));
    /// ```
    #[error("auth: {0}")]
    Auth(AuthError),
    /// The caller misused the API. Never caused by anything the peer sent.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// The connection has carried as many transactions as the server's LIMITS `MAILMAX`
    /// allows (RFC 9422 §4.1), so this message was not sent: nothing of it reached the
    /// server. Transient: send it on a new connection (see
    /// [`Client::is_exhausted`](crate::Client::is_exhausted)).
    #[error("the connection carried the {mail_max} transactions the server's MAILMAX allows")]
    ConnectionExhausted {
        /// The server's MAILMAX.
        mail_max: u32,
    },
    /// An earlier operation on this client was cancelled (its future dropped before it
    /// finished), so what the server has seen is unknown: the connection is unusable and
    /// every later call returns this error. Transient: retry on a new connection.
    #[error("a previous operation was cancelled; the connection is unusable")]
    Cancelled,
}

/// Why TLS failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// TLS is required (or the session is confidential: `TlsConfig::confidential`) and the
    /// server does not offer STARTTLS.
    #[error("STARTTLS not offered")]
    NotOffered,
    /// The server answered STARTTLS with something other than 220.
    #[error("STARTTLS refused: {0}")]
    Refused(Reply),
    /// The TLS handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The TLS handshake did not finish within [`Phase::TlsHandshake`]'s limit.
    /// [`Error::is_timeout`] is true for it.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The certificate failed PKIX verification and verification is enforced.
    #[error("certificate verification failed: {0}")]
    Verification(String),
    /// The local TLS settings are unusable (bad PEM, bad server name).
    #[error("configuration: {0}")]
    Config(String),
}

impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Self::Tls(e)
    }
}

fn fmt_cmd(c: Option<CommandKind>) -> String {
    c.map(|c| format!(" after {c}")).unwrap_or_default()
}

/// A broken protocol rule, detected by the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The reply bytes were malformed or over a limit.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// The server sent bytes while no command was outstanding.
    #[error("unsolicited data from the server")]
    Unsolicited,
    /// A reply code that makes no sense for the command (a 354 to RCPT, a 250 to DATA).
    #[error("unexpected reply code {0}")]
    UnexpectedCode(u16),
    /// Bytes followed the 220 reply to STARTTLS before the TLS handshake (response
    /// injection; RFC 3207 §4.2).
    #[error("data after the STARTTLS reply (possible injection)")]
    DataAfterStartTls,
}

/// A mistake by the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// An address, domain or parameter was refused.
    #[error("invalid {0}")]
    Address(#[from] AddressError),
    /// A transaction needs at least one recipient.
    #[error("no recipients")]
    NoRecipients,
    /// The call does not fit the session's state (a transaction while one is running,
    /// message data before 354, a command before the greeting).
    #[error("invalid state for this call: {0}")]
    InvalidState(&'static str),
    /// A MAIL parameter the session manages itself was given as a raw parameter to
    /// [`Envelope::with_param`](super::Envelope::with_param); `method` is the one to use.
    #[error("the {keyword} parameter is set with Envelope::{method}, not with_param")]
    ManagedParam {
        /// The parameter's keyword (`SIZE`, `SMTPUTF8`, `REQUIRETLS`).
        keyword: &'static str,
        /// The [`Envelope`](super::Envelope) method that sets it.
        method: &'static str,
    },
    /// A per-recipient setting named a recipient the envelope does not have
    /// ([`Envelope::with_recipient_notify`](crate::Envelope::with_recipient_notify), say).
    #[error("no recipient {index}: the envelope has {count}")]
    NoSuchRecipient {
        /// The index given, counting from 0.
        index: usize,
        /// How many recipients the envelope has.
        count: usize,
    },
}

/// Whether a failure is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Retrying the same thing will fail again (5yz, usage errors).
    Permanent,
    /// It may work later (4yz, timeouts, dropped connections, protocol errors).
    Transient,
}

impl Error {
    /// Wraps an I/O error.
    pub fn io(command: Option<CommandKind>, e: io::Error) -> Self {
        Self::Io {
            command,
            source: Arc::new(e),
        }
    }

    /// Permanent or transient.
    ///
    /// 5yz is permanent, except a 552 to RCPT (RFC 5321 §4.5.3.1.10: "too many recipients",
    /// treated as 452). Caller mistakes and message checks are permanent; timeouts, dropped
    /// connections, I/O and protocol errors are transient.
    pub fn severity(&self) -> Severity {
        match self {
            Self::Reply { command, reply } => {
                let code = reply.code();
                if code.is_permanent()
                    && !(*command == CommandKind::Rcpt && code == ReplyCode::EXCEEDED_STORAGE)
                {
                    Severity::Permanent
                } else {
                    Severity::Transient
                }
            }
            Self::Greeting { reply } if reply.code().is_permanent() => Severity::Permanent,
            Self::Greeting { .. }
            | Self::ServerClosing { .. }
            | Self::Protocol { .. }
            | Self::Timeout { .. }
            | Self::Closed { .. }
            | Self::Io { .. }
            | Self::ConnectionExhausted { .. }
            | Self::Cancelled => Severity::Transient,
            Self::Tls(TlsError::Config(_)) => Severity::Permanent,
            Self::Tls(_) => Severity::Transient,
            Self::Auth(e) if e.is_permanent() => Severity::Permanent,
            Self::Auth(_) => Severity::Transient,
            Self::Body(_) | Self::TooLarge { .. } | Self::Extension(_) | Self::Usage(_) => {
                Severity::Permanent
            }
        }
    }

    /// See [`Error::severity`].
    pub fn is_permanent(&self) -> bool {
        self.severity() == Severity::Permanent
    }

    /// See [`Error::severity`].
    pub fn is_transient(&self) -> bool {
        self.severity() == Severity::Transient
    }

    /// True when authentication failed: the server refused AUTH, or the client refused to
    /// authenticate or detected a failure in the exchange (all [`Error::Auth`]).
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth(_))
    }

    /// True for a timeout, the TLS handshake's included.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Tls(TlsError::HandshakeTimeout)
        )
    }

    /// The server's reply, when the server said no.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Reply { reply, .. }
            | Self::Greeting { reply }
            | Self::ServerClosing { reply }
            | Self::Tls(TlsError::Refused(reply))
            | Self::Auth(AuthError::Refused(reply)) => Some(reply),
            _ => None,
        }
    }

    /// The reply code, when the server said no.
    pub fn code(&self) -> Option<ReplyCode> {
        self.reply().map(Reply::code)
    }

    /// The enhanced status code of the reply, when there is one.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.reply().and_then(Reply::enhanced_code)
    }

    /// The command that failed, when one did.
    pub fn command(&self) -> Option<CommandKind> {
        match self {
            Self::Reply { command, .. } => Some(*command),
            Self::Tls(TlsError::Config(_)) => None,
            Self::Tls(_) => Some(CommandKind::StartTls),
            Self::Auth(_) => Some(CommandKind::Auth),
            Self::Protocol { command, .. }
            | Self::Timeout { command, .. }
            | Self::Closed { command }
            | Self::Io { command, .. } => *command,
            _ => None,
        }
    }

    /// True when the session can go on after this error: a refused command (but not a
    /// 421, after which the server closes), a caller mistake, or a message check.
    pub fn connection_usable(&self) -> bool {
        match self {
            Self::Reply { reply, .. } => reply.code() != ReplyCode::SERVICE_NOT_AVAILABLE,
            Self::TooLarge { .. } | Self::Extension(_) | Self::Usage(_) => true,
            // The server answered `*` with another challenge: the exchange never ended.
            Self::Auth(AuthError::CancelIgnored { .. }) => false,
            Self::Auth(AuthError::Refused(reply)) => {
                reply.code() != ReplyCode::SERVICE_NOT_AVAILABLE
            }
            // Refused before AUTH, refused by the server (RFC 4954 §6), or cancelled with
            // `*` (RFC 4954 §4): the server keeps the connection open.
            Self::Auth(_) => true,
            _ => false,
        }
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<AddressError> for Error {
    fn from(e: AddressError) -> Self {
        Self::Usage(UsageError::Address(e))
    }
}
