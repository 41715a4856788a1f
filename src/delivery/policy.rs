//! The one TLS policy of both delivery paths, and the security level a connection reached.

use std::fmt;
use std::sync::Arc;

use crate::Envelope;
use crate::tls::{Level, TlsConfig, TlsReport};

/// How secure a connection that carried (or was about to carry) a transaction was.
///
/// Ordered: `Plain < TlsUnverified < TlsVerified`, so a policy hook can say
/// `level >= SecurityLevel::TlsVerified`. Why an unverified connection failed verification
/// is in its [`TlsReport::verify_error`] ([`Connection::tls`](super::Connection::tls)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityLevel {
    /// No TLS: never attempted, not offered, or abandoned (a plaintext fallback).
    Plain,
    /// TLS, but the certificate did not pass PKIX verification for the host's name (or
    /// verification was not asked for and failed).
    TlsUnverified,
    /// TLS, and the certificate verified for the host's name.
    TlsVerified,
}

impl SecurityLevel {
    /// The level a connection reached, from its TLS report (`None`: TLS never attempted).
    pub fn of(report: Option<&TlsReport>) -> Self {
        match report {
            None => Self::Plain,
            Some(r) if r.fallback || r.version.is_none() => Self::Plain,
            Some(r) if r.verified => Self::TlsVerified,
            Some(_) => Self::TlsUnverified,
        }
    }

    /// `plain`, `tls-unverified`, `tls-verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::TlsUnverified => "tls-unverified",
            Self::TlsVerified => "tls-verified",
        }
    }
}

impl fmt::Display for SecurityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A caller's minimum: given the recipient domain (or, for a relay, the relay's host) and
/// the level a connection reached, `true` lets the transaction go on.
pub type SecurityHook = Arc<dyn Fn(&str, SecurityLevel) -> bool + Send + Sync>;

/// The TLS policy of a delivery path: one [`TlsConfig`] that both
/// [`MxDelivery`](super::MxDelivery) and [`Relay`](super::Relay) read on every connection,
/// and an optional hook that refuses connections below the level a domain expects
/// (chasquid's per-domain security level, learned or configured by the caller).
///
/// - [`DeliveryPolicy::default`] is Postfix's `may` ([`Level::May`]): opportunistic
///   STARTTLS, the certificate verified for the report only, and a plaintext fallback
///   after a refused STARTTLS or a failed handshake (by reconnecting to the same address
///   through the same connector). Never with a REQUIRETLS message: the fallback is off
///   for it.
/// - [`Level::Encrypt`], [`Level::Verify`] and [`Level::Secure`] never send in the
///   clear: a host without STARTTLS, a failed handshake or (with `Verify`/`Secure`) a
///   certificate that does not verify is a transient attempt, and MX delivery goes on to
///   the next host.
/// - With MX delivery each host is verified, and named in the SNI, under its own MX name:
///   a [`TlsConfig::server_name`] in the policy is ignored there (it applies to a relay).
/// - A hook refusing a connection is a transient [`DeliveryError::Policy`](super::DeliveryError::Policy),
///   after which the connection is closed with QUIT before MAIL; MX delivery goes on to
///   the next host.
///
/// ```
/// use smtp_courier::delivery::{DeliveryPolicy, SecurityLevel};
/// use smtp_courier::tls::{Level, TlsMode};
///
/// // `may` everywhere, but never plaintext to bank.example.
/// let policy = DeliveryPolicy::default()
///     .min_security(|domain, level| domain != "bank.example" || level > SecurityLevel::Plain);
/// assert_eq!(policy.tls().mode(), TlsMode::Opportunistic);
/// assert!(policy.accepts("example.org", SecurityLevel::Plain));
/// assert!(!policy.accepts("bank.example", SecurityLevel::Plain));
/// assert!(policy.accepts("bank.example", SecurityLevel::TlsUnverified));
///
/// let strict = DeliveryPolicy::from_level(Level::Verify);
/// assert!(strict.tls().enforces_verification());
/// ```
#[derive(Clone)]
pub struct DeliveryPolicy {
    tls: TlsConfig,
    hook: Option<SecurityHook>,
}

impl Default for DeliveryPolicy {
    /// [`Level::May`], no hook.
    fn default() -> Self {
        Self::from_level(Level::May)
    }
}

impl fmt::Debug for DeliveryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryPolicy")
            .field("tls", &self.tls)
            .field("min_security", &self.hook.is_some())
            .finish()
    }
}

impl DeliveryPolicy {
    /// The policy of a Postfix level ([`TlsConfig::from_level`]), no hook.
    pub fn from_level(level: Level) -> Self {
        Self::new(TlsConfig::from_level(level))
    }

    /// A policy from full TLS settings (roots, versions, a client certificate, ...), no
    /// hook. For a relay on port 465 the mode is made [`TlsMode::Implicit`](crate::tls::TlsMode::Implicit)
    /// whatever it says here; the verification setting stays.
    pub fn new(tls: TlsConfig) -> Self {
        Self { tls, hook: None }
    }

    /// Refuses a connection when `hook(domain, level)` is false: checked after TLS is set
    /// up (or abandoned) and before MAIL. For a relay, `domain` is the relay's host.
    pub fn min_security(
        mut self,
        hook: impl Fn(&str, SecurityLevel) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The TLS settings.
    pub fn tls(&self) -> &TlsConfig {
        &self.tls
    }

    /// True when the hook (if any) accepts `level` for `domain`.
    pub fn accepts(&self, domain: &str, level: SecurityLevel) -> bool {
        self.hook.as_ref().is_none_or(|h| h(domain, level))
    }
}

/// A message of a batch: its envelope and content.
type Message<'a> = (&'a Envelope, &'a [u8]);

/// The messages of a batch split by REQUIRETLS (RFC 8689 §4.1: those go only on
/// connections that cannot fall back to plaintext), each group with the messages'
/// positions in `messages`: first the others, then the REQUIRETLS ones; an empty group is
/// left out.
pub(super) fn requiretls_groups<'a>(
    messages: &[Message<'a>],
) -> Vec<(bool, Vec<usize>, Vec<Message<'a>>)> {
    [false, true]
        .into_iter()
        .filter_map(|requiretls| {
            let (indices, group): (Vec<usize>, Vec<Message<'a>>) = messages
                .iter()
                .enumerate()
                .filter(|(_, (e, _))| e.requires_tls() == requiretls)
                .map(|(i, m)| (i, *m))
                .unzip();
            (!group.is_empty()).then_some((requiretls, indices, group))
        })
        .collect()
}
