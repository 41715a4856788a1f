//! Client settings.

use std::fmt;
use std::sync::Arc;

use crate::proto::body::LineEndings;
use crate::proto::error::Error;
use crate::proto::{Direction, Domain, SessionConfig, Timeouts, Transcript};
#[cfg(feature = "tls")]
use crate::tls::{TlsConfig, TlsMode};

/// How the [`Client`](super::Client) behaves.
///
/// With the `tls` feature it also holds the [`TlsConfig`](crate::tls::TlsConfig) that
/// [`Client::connect`](super::Client::connect) and
/// [`Client::connect_with`](super::Client::connect_with) set the session up with. **The
/// default is secure**: [`TlsMode::RequiredStartTls`](crate::tls::TlsMode::RequiredStartTls)
/// with PKIX verification against the platform's roots, the setting for a submission
/// server or a relay (RFC 8314 wants submission encrypted): a server that does not offer STARTTLS, or
/// whose certificate fails, gets nothing in the clear. Say
/// [`TlsMode::Implicit`](crate::tls::TlsMode::Implicit) for port 465, and
/// [`TlsMode::Skip`](crate::tls::TlsMode::Skip) only for a server you know to be local
/// (a test sink, a socket on the same host). [`Client::open`](super::Client::open) does
/// no TLS whatever this says.
///
/// ```
/// use std::time::Duration;
/// use smtp_courier::{ClientConfig, proto::Timeouts};
/// let config = ClientConfig::new("client.example.org")
///     .unwrap()
///     .timeouts(Timeouts::all(Duration::from_secs(30)))
///     .pipelining(false);
/// assert_eq!(config.ehlo_name().as_str(), "client.example.org");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    pub(crate) session: SessionConfig,
    pub(crate) timeouts: Timeouts,
    pub(crate) window: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: TlsConfig,
}

/// The TLS settings of a new [`ClientConfig`]: STARTTLS required, PKIX enforced.
#[cfg(feature = "tls")]
fn default_tls() -> TlsConfig {
    TlsConfig::new(TlsMode::RequiredStartTls)
}

/// The default number of transactions in flight in
/// [`Client::send_batch`](super::Client::send_batch).
pub const DEFAULT_WINDOW: usize = 8;

impl ClientConfig {
    /// Settings with `ehlo_name` as the EHLO/HELO name (a domain or an address literal such
    /// as `[192.0.2.1]`), the RFC 5321 timeouts, PIPELINING when offered, bare line
    /// endings normalised to CRLF and, with the `tls` feature, STARTTLS required with PKIX
    /// verification.
    ///
    /// # Errors
    /// A usage error when `ehlo_name` is not a domain or address literal.
    pub fn new(ehlo_name: &str) -> Result<Self, Error> {
        Ok(Self {
            session: SessionConfig::new(Domain::new(ehlo_name)?),
            timeouts: Timeouts::default(),
            window: DEFAULT_WINDOW,
            #[cfg(feature = "tls")]
            tls: default_tls(),
        })
    }

    /// The per-phase timeouts (RFC 5321 §4.5.3.2 by default).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Whether to use PIPELINING when the server offers it (default true).
    pub fn pipelining(mut self, on: bool) -> Self {
        self.session.pipelining = on;
        self
    }

    /// Whether to send message content by BDAT (CHUNKING, RFC 3030) when the server
    /// offers it (default true); off, DATA is used.
    pub fn chunking(mut self, on: bool) -> Self {
        self.session.chunking = on;
        self
    }

    /// The largest BDAT chunk, in octets (default 1048576; at least 1). The message is
    /// streamed: no more than about one chunk is held in memory.
    pub fn chunk_size(mut self, octets: usize) -> Self {
        self.session.chunk_size = octets.max(1);
        self
    }

    /// At most `n` transactions in flight in [`Client::send_batch`](super::Client::send_batch)
    /// when the server offers PIPELINING and CHUNKING (default 8; 1 sends one after
    /// another).
    pub fn window(mut self, n: usize) -> Self {
        self.window = n.max(1);
        self
    }

    /// Speak LMTP (RFC 2033) instead of SMTP (default false): LHLO instead of EHLO (no
    /// HELO fallback), and after the message one reply per accepted recipient, each
    /// deciding its own recipient.
    pub fn lmtp(mut self, on: bool) -> Self {
        self.session.lmtp = on;
        self
    }

    /// What to do with a bare CR or LF in message data (default: normalise to CRLF).
    pub fn line_endings(mut self, mode: LineEndings) -> Self {
        self.session.line_endings = mode;
        self
    }

    /// Receives the SMTP transcript, a line at a time, credentials redacted.
    pub fn transcript(mut self, f: impl Fn(Direction, &str) + Send + Sync + 'static) -> Self {
        let f: Transcript = Arc::new(f);
        self.session.transcript = Some(f);
        self
    }

    /// The EHLO name.
    pub fn ehlo_name(&self) -> &Domain {
        &self.session.ehlo_name
    }

    /// The timeouts.
    pub fn get_timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// How [`Client::connect`](super::Client::connect) and
    /// [`Client::connect_with`](super::Client::connect_with) set TLS up (default:
    /// [`TlsMode::RequiredStartTls`] with PKIX verification; see the type's docs).
    ///
    /// ```
    /// use smtp_courier::ClientConfig;
    /// use smtp_courier::tls::{CertVerification, TlsConfig, TlsMode};
    /// let config = ClientConfig::new("client.example.org").unwrap();
    /// assert_eq!(config.get_tls().mode(), TlsMode::RequiredStartTls);
    /// assert_eq!(config.get_tls().verification(), CertVerification::Pkix);
    /// let config = config.tls(TlsConfig::new(TlsMode::Implicit));
    /// assert_eq!(config.get_tls().mode(), TlsMode::Implicit);
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }

    /// The TLS settings; see [`ClientConfig::tls`].
    #[cfg(feature = "tls")]
    pub fn get_tls(&self) -> &TlsConfig {
        &self.tls
    }
}

impl ClientConfig {
    /// The settings of an existing session, to open another connection like it (the
    /// plaintext fallback's).
    #[cfg(feature = "tls")]
    pub(crate) fn from_parts(session: SessionConfig, timeouts: Timeouts, window: usize) -> Self {
        Self {
            session,
            timeouts,
            window,
            #[cfg(feature = "tls")]
            tls: default_tls(),
        }
    }
}

impl Default for ClientConfig {
    /// EHLO name `localhost`, which is always valid.
    fn default() -> Self {
        Self {
            session: SessionConfig::new(Domain::localhost()),
            timeouts: Timeouts::default(),
            window: DEFAULT_WINDOW,
            #[cfg(feature = "tls")]
            tls: default_tls(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientConfig");
        d.field("session", &self.session)
            .field("timeouts", &self.timeouts)
            .field("window", &self.window);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}
