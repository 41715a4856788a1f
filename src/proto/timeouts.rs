//! Timeouts as data: which phase a reply belongs to and how long it may take
//! (RFC 5321 §4.5.3.2). The core has no clock; the driver enforces these.

use std::fmt;
use std::time::Duration;

/// A phase of the session with its own deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection.
    Connect,
    /// Waiting for the 220 greeting (RFC 5321 §4.5.3.2.1).
    Greeting,
    /// EHLO, HELO, STARTTLS, AUTH, RSET, NOOP, QUIT replies.
    Command,
    /// The TLS handshake.
    TlsHandshake,
    /// The reply to MAIL (RFC 5321 §4.5.3.2.2).
    Mail,
    /// The reply to RCPT (RFC 5321 §4.5.3.2.3).
    Rcpt,
    /// The 354 reply to DATA (RFC 5321 §4.5.3.2.4).
    DataInit,
    /// Each write of message data (RFC 5321 §4.5.3.2.5).
    DataBlock,
    /// The whole message data, when [`Timeouts::data_transfer`] is set.
    DataTransfer,
    /// The reply after the final `.` (RFC 5321 §4.5.3.2.6).
    DataTermination,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Greeting => "greeting",
            Self::Command => "command reply",
            Self::TlsHandshake => "TLS handshake",
            Self::Mail => "MAIL reply",
            Self::Rcpt => "RCPT reply",
            Self::DataInit => "DATA reply",
            Self::DataBlock => "data block",
            Self::DataTransfer => "data transfer",
            Self::DataTermination => "final reply to data",
        })
    }
}

/// How long each phase may take. Each is a deadline for the whole reply (or write), not an
/// idle timer: a server dripping one byte a second still times out.
///
/// A limit too long for the clock, such as `Duration::MAX`, means "no timeout": the
/// driver's deadline saturates far in the future.
///
/// The fields are public to read and set; the type is `#[non_exhaustive]` so that phases
/// can be added: start from [`Timeouts::default`] or [`Timeouts::all`] and set fields.
///
/// ```
/// use std::time::Duration;
/// use smtp_courier::proto::{Phase, Timeouts};
/// let t = Timeouts::default();
/// assert_eq!(t.get(Phase::DataTermination), Duration::from_secs(600));
/// let all = Timeouts::all(Duration::from_secs(30));
/// assert_eq!(all.get(Phase::Greeting), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Opening the TCP connection. RFC 5321 is silent; default 60 s.
    pub connect: Duration,
    /// Greeting: 5 min.
    pub greeting: Duration,
    /// EHLO/HELO/STARTTLS/AUTH/RSET/NOOP/QUIT replies: 5 min, as for MAIL.
    pub command: Duration,
    /// TLS handshake: 60 s (RFC 5321 is silent; this bounds a stalled handshake).
    pub tls_handshake: Duration,
    /// MAIL: 5 min.
    pub mail: Duration,
    /// RCPT: 5 min.
    pub rcpt: Duration,
    /// DATA initiation: 2 min.
    pub data_init: Duration,
    /// Each data block: 3 min.
    pub data_block: Duration,
    /// DATA termination: 10 min.
    pub data_termination: Duration,
    /// The whole message data, from the 354 to the last block: a deadline for the
    /// transfer, however fast each block goes. RFC 5321 sets only the per-block limit, so
    /// the default is `None`; [`Timeouts::all`] sets it.
    pub data_transfer: Option<Duration>,
}

impl Default for Timeouts {
    /// The RFC 5321 §4.5.3.2 values.
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            connect: Duration::from_secs(MIN),
            greeting: Duration::from_secs(5 * MIN),
            command: Duration::from_secs(5 * MIN),
            tls_handshake: Duration::from_secs(MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_init: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_termination: Duration::from_secs(10 * MIN),
            data_transfer: None,
        }
    }
}

impl Timeouts {
    /// The same limit for every phase.
    pub fn all(limit: Duration) -> Self {
        Self {
            connect: limit,
            greeting: limit,
            command: limit,
            tls_handshake: limit,
            mail: limit,
            rcpt: limit,
            data_init: limit,
            data_block: limit,
            data_termination: limit,
            data_transfer: Some(limit),
        }
    }

    /// The limit for `phase` ([`Phase::DataTransfer`] without a limit: `Duration::MAX`).
    pub fn get(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Connect => self.connect,
            Phase::Greeting => self.greeting,
            Phase::Command => self.command,
            Phase::TlsHandshake => self.tls_handshake,
            Phase::Mail => self.mail,
            Phase::Rcpt => self.rcpt,
            Phase::DataInit => self.data_init,
            Phase::DataBlock => self.data_block,
            Phase::DataTermination => self.data_termination,
            Phase::DataTransfer => self.data_transfer.unwrap_or(Duration::MAX),
        }
    }
}
