//! The pool's key: where a connection goes and on what terms.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use sasl::common::scram::{ScramProvider, Sha256};
use zeroize::Zeroizing;

use crate::auth::Credentials;
use crate::connect::{Host, Target};
use crate::proto::address::AddressError;

/// The TLS requirement of a [`Destination`]: connections made under one policy are never
/// handed out for another (an opportunistic, possibly plaintext, connection must not carry
/// mail that requires verified TLS).
///
/// The pool does not set up TLS itself; the [`Dial`](super::Dial) implementation reads the
/// policy from the destination and does. With the `tls` feature,
/// `TlsPolicy::from(&TlsConfig)` derives it from the settings the dialer will use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// No TLS.
    #[default]
    Plain,
    /// STARTTLS when offered, else plaintext.
    Opportunistic {
        /// The certificate must pass PKIX verification when TLS is used.
        verify: bool,
    },
    /// STARTTLS or no delivery.
    RequiredStartTls {
        /// The certificate must pass PKIX verification.
        verify: bool,
    },
    /// TLS from the first byte (RFC 8314 §3, port 465).
    Implicit {
        /// The certificate must pass PKIX verification.
        verify: bool,
    },
}

#[cfg(feature = "tls")]
impl From<&crate::tls::TlsConfig> for TlsPolicy {
    fn from(config: &crate::tls::TlsConfig) -> Self {
        use crate::tls::TlsMode;
        let verify = config.enforces_verification();
        match config.mode() {
            TlsMode::Skip => Self::Plain,
            TlsMode::Opportunistic => Self::Opportunistic { verify },
            TlsMode::RequiredStartTls => Self::RequiredStartTls { verify },
            TlsMode::Implicit => Self::Implicit { verify },
        }
    }
}

/// Where pooled connections go, and on what terms: host, port, [`TlsPolicy`], the
/// credentials the dialer authenticates with, and an optional free-form tag. Two
/// destinations that are equal share connections; any difference means separate
/// connections, separately capped.
///
/// **Host names** are compared ignoring ASCII case (RFC 5321 §2.4); give A-labels for
/// internationalised names (the MX router does), as `Bücher.test` and `xn--bcher-kva.test`
/// are not recognised as one.
///
/// **Credentials** are compared by an HMAC-SHA-256 digest of the user name, the kind of
/// secret and the secret, keyed with a random key drawn once per process: equal
/// credentials in two separate [`Credentials`] values share connections, and the digest is
/// worthless outside the process. (Two different secrets would share connections only on
/// an HMAC-SHA-256 collision.) The destination keeps the credentials themselves for the
/// dialer ([`Destination::credentials`]); they are zeroized on drop and never printed:
/// `Debug` shows the user name only.
///
/// **The tag** tells apart connections that differ in something else the dialer does: a
/// proxy, a client certificate, an EHLO name (`"relay"`, `"mx via proxy-2"`). It is
/// printed by `Debug`, so keep secrets out of it.
///
/// ```
/// use smtp_courier::auth::Credentials;
/// use smtp_courier::delivery::pool::{Destination, TlsPolicy};
/// let a = Destination::new("Relay.Example.org", 587)?
///     .tls(TlsPolicy::RequiredStartTls { verify: true })
///     .credentials(Credentials::new("alice", "hunter2"));
/// let b = Destination::new("relay.example.org", 587)?
///     .tls(TlsPolicy::RequiredStartTls { verify: true })
///     .credentials(Credentials::new("alice", "hunter2"));
/// assert_eq!(a, b);
/// assert_ne!(a, b.clone().credentials(Credentials::new("alice", "other")));
/// assert!(!format!("{a:?}").contains("hunter2"));
/// # Ok::<(), smtp_courier::Error>(())
/// ```
#[derive(Clone)]
pub struct Destination {
    host: Host,
    port: u16,
    tls: TlsPolicy,
    credentials: Option<Keyed>,
    tag: Option<Arc<str>>,
}

/// Credentials with their digest.
#[derive(Clone)]
struct Keyed {
    credentials: Arc<Credentials>,
    digest: [u8; 32],
}

impl Destination {
    /// A destination with no TLS, no credentials and no tag.
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn new(host: &str, port: u16) -> Result<Self, AddressError> {
        Ok(Self::from_host(Host::parse(host)?, port))
    }

    /// A destination for an already parsed host.
    pub fn from_host(host: Host, port: u16) -> Self {
        let host = match host {
            Host::Name(n) => Host::Name(n.to_ascii_lowercase()),
            ip @ Host::Ip(_) => ip,
        };
        Self {
            host,
            port,
            tls: TlsPolicy::Plain,
            credentials: None,
            tag: None,
        }
    }

    /// Sets the TLS policy.
    #[must_use]
    pub fn tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = policy;
        self
    }

    /// Sets the credentials the dialer authenticates with.
    #[must_use]
    pub fn credentials(mut self, credentials: impl Into<Arc<Credentials>>) -> Self {
        let credentials = credentials.into();
        let digest = digest(&credentials);
        self.credentials = Some(Keyed {
            credentials,
            digest,
        });
        self
    }

    /// Sets the tag (see the type's docs).
    #[must_use]
    pub fn tag(mut self, tag: impl Into<Arc<str>>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// The host (names lower-cased).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS policy.
    pub fn tls_policy(&self) -> TlsPolicy {
        self.tls
    }

    /// The credentials, for the dialer to authenticate with.
    pub fn get_credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref().map(|k| &*k.credentials)
    }

    /// The tag.
    pub fn get_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// A [`Target`] for a [`Connector`](crate::connect::Connector), with the default
    /// connect timeout.
    pub fn target(&self) -> Target {
        Target::from_host(self.host.clone(), self.port)
    }

    fn digest(&self) -> Option<&[u8; 32]> {
        self.credentials.as_ref().map(|k| &k.digest)
    }
}

impl PartialEq for Destination {
    fn eq(&self, other: &Self) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.tls == other.tls
            && self.digest() == other.digest()
            && self.tag == other.tag
    }
}

impl Eq for Destination {}

impl Hash for Destination {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.host.hash(state);
        self.port.hash(state);
        self.tls.hash(state);
        self.digest().hash(state);
        self.tag.hash(state);
    }
}

impl fmt::Debug for Destination {
    /// The user name is shown, never the secret nor its digest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "username",
                &self.credentials.as_ref().map(|k| k.credentials.username()),
            )
            .field("tag", &self.tag)
            .finish()
    }
}

impl fmt::Display for Destination {
    /// `host:port`, then the tag in parentheses when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)?;
        if let Some(tag) = &self.tag {
            write!(f, " ({tag})")?;
        }
        Ok(())
    }
}

/// The per-process HMAC key: 32 bytes drawn from the standard library's randomly seeded
/// hasher (which takes its seed from the operating system), so no RNG dependency is
/// needed. The key only has to be unknown outside the process.
fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        use std::hash::BuildHasher;
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            // A fresh RandomState per chunk: each draws new SipHash keys.
            let word = std::collections::hash_map::RandomState::new().hash_one(i);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        key
    })
}

/// HMAC-SHA-256 over the user name, the kind of secret and the secret, each
/// length-prefixed so that no two different triples give the same input.
fn digest(credentials: &Credentials) -> [u8; 32] {
    let (kind, secret) = match (credentials.password(), credentials.token()) {
        (Some(p), _) => (b'p', p),
        (None, Some(t)) => (b't', t),
        (None, None) => (b'-', ""),
    };
    let mut input = Zeroizing::new(Vec::new());
    for field in [
        credentials.username().as_bytes(),
        &[kind],
        secret.as_bytes(),
    ] {
        input.extend_from_slice(&(field.len() as u64).to_be_bytes());
        input.extend_from_slice(field);
    }
    let mut out = [0u8; 32];
    // HMAC takes keys of any length: this cannot fail. Were it to, every credential
    // would get the all-zero digest and share connections, so fall back to an unkeyed
    // hash of the same input instead.
    let mac = Sha256::hmac(&input, process_key()).unwrap_or_else(|_| Sha256::hash(&input));
    let mac = Zeroizing::new(mac);
    for (o, m) in out.iter_mut().zip(mac.iter()) {
        *o = *m;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_credentials_share_a_key_different_ones_do_not() {
        let d = Destination::new("mx.example", 25).unwrap();
        let a = d.clone().credentials(Credentials::new("u", "p"));
        let b = d.clone().credentials(Credentials::new("u", "p"));
        assert_eq!(a, b);
        assert_ne!(a, d.clone().credentials(Credentials::new("u", "q")));
        assert_ne!(a, d.clone().credentials(Credentials::new("v", "p")));
        assert_ne!(
            a,
            d.clone().credentials(Credentials::bearer_token("u", "p"))
        );
        assert_ne!(a, d);
        // Length prefixes: moving a byte between fields changes the digest.
        let x = Destination::new("mx.example", 25)
            .unwrap()
            .credentials(Credentials::new("ab", "c"));
        let y = Destination::new("mx.example", 25)
            .unwrap()
            .credentials(Credentials::new("a", "bc"));
        assert_ne!(x, y);
    }

    #[test]
    fn host_case_tls_and_tag_are_part_of_the_key() {
        let a = Destination::new("MX.Example", 25).unwrap();
        assert_eq!(a, Destination::new("mx.example", 25).unwrap());
        assert_ne!(a, Destination::new("mx.example", 26).unwrap());
        assert_ne!(a, a.clone().tls(TlsPolicy::Opportunistic { verify: false }));
        assert_ne!(a, a.clone().tag("relay"));
        assert_eq!(a.to_string(), "mx.example:25");
        assert_eq!(a.clone().tag("relay").to_string(), "mx.example:25 (relay)");
    }

    #[test]
    fn debug_shows_the_user_not_the_secret() {
        let d = Destination::new("mx.example", 25)
            .unwrap()
            .credentials(Credentials::new("alice", "s3cret-pw"));
        let shown = format!("{d:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(!shown.contains("digest"), "{shown}");
    }
}
