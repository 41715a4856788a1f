//! TLS: the modes (skip, opportunistic STARTTLS, required STARTTLS, implicit TLS), PKIX
//! verification and "ignore verification errors" as separate settings, Postfix-style
//! levels on top, and a report of what was achieved.
//!
//! | [`Level`] | [`TlsMode`] | [`CertVerification`] | plaintext fallback | Postfix |
//! |---|---|---|---|---|
//! | `None` | `Skip` | - | - | `none` |
//! | `May` | `Opportunistic` | `None` (still run, reported) | yes | `may` |
//! | `Encrypt` | `RequiredStartTls` | `None` (still run, reported) | no | `encrypt` |
//! | `Verify` | `RequiredStartTls` | `Pkix` | no | `verify` |
//! | `Secure` | `RequiredStartTls` | `Pkix` | no | `secure` |
//!
//! With a relay both `Verify` and `Secure` match the certificate against the relay's name
//! (or [`TlsConfig::server_name`]). DANE and MTA-STS will add policies of their own beside
//! these; [`TlsMode`] and [`Level`] are `#[non_exhaustive]` for them.
//!
//! Downgrade rules (see [`TlsConfig::fallback`]): a refused STARTTLS or a failed handshake
//! is a transient [`TlsError`], unless fallback was enabled and the session carries no
//! credentials and no REQUIRETLS message ([`TlsConfig::confidential`]). A confidential
//! session is never plaintext: in opportunistic mode too, STARTTLS not offered is a
//! transient [`TlsError::NotOffered`].
//!
//! This module holds the settings, the verifier, the handshake and the report; the
//! client applies them while it sets the connection up ([`Client::connect`](crate::Client::connect),
//! [`Client::establish`](crate::Client::establish)). It depends on the protocol core only.

pub(crate) mod handshake;
mod stream;
mod verify;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use stream::MaybeTls;

use crate::proto::error::{Error, TlsError};

/// When and how TLS is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsMode {
    /// Never STARTTLS.
    Skip,
    /// STARTTLS when the server offers it; plaintext when it does not (unless
    /// [`TlsConfig::confidential`]).
    Opportunistic,
    /// STARTTLS or nothing: no AUTH, MAIL, RCPT or DATA is ever sent in the clear.
    RequiredStartTls,
    /// TLS from the first byte (RFC 8314, port 465).
    Implicit,
}

/// Whether the server's certificate must pass PKIX verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertVerification {
    /// Chain to a trusted root, name matches, not expired.
    Pkix,
    /// Not required. Verification still runs and its outcome is reported.
    None,
}

/// Postfix-style security levels (`smtp_tls_security_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Level {
    /// No TLS.
    None,
    /// Opportunistic, unverified, with plaintext fallback.
    May,
    /// Mandatory TLS, unverified.
    Encrypt,
    /// Mandatory TLS, verified.
    Verify,
    /// Mandatory TLS, verified (with a relay, the same as `Verify`).
    Secure,
}

/// The minimum TLS version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// TLS settings.
///
/// ```
/// use smtp_courier::tls::{CertVerification, Level, TlsConfig, TlsMode};
/// let may = TlsConfig::from_level(Level::May);
/// assert_eq!(may.mode(), TlsMode::Opportunistic);
/// assert_eq!(may.verification(), CertVerification::None);
/// let strict = TlsConfig::new(TlsMode::RequiredStartTls).server_name("mx.example.org");
/// assert!(strict.enforces_verification());
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    mode: TlsMode,
    verification: CertVerification,
    ignore_errors: bool,
    fallback: bool,
    confidential: bool,
    server_name: Option<String>,
    platform_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    client_auth: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    min_version: TlsVersion,
    provider: Arc<CryptoProvider>,
    roots: Arc<OnceLock<Arc<RootCertStore>>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("mode", &self.mode)
            .field("verification", &self.verification)
            .field("ignore_errors", &self.ignore_errors)
            .field("fallback", &self.fallback)
            .field("confidential", &self.confidential)
            .field("server_name", &self.server_name)
            .field("platform_roots", &self.platform_roots)
            .field("extra_roots", &self.extra_roots.len())
            .field("client_auth", &self.client_auth.is_some())
            .field("min_version", &self.min_version)
            .finish()
    }
}

/// The crypto provider chosen at build time: ring by default, aws-lc-rs with the
/// `aws-lc-rs` feature. Chosen explicitly, so no process-wide default is needed.
fn default_provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    #[cfg(not(feature = "aws-lc-rs"))]
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// `mode` with PKIX verification enforced, platform roots, TLS 1.2 minimum, no
    /// fallback.
    pub fn new(mode: TlsMode) -> Self {
        Self {
            mode,
            verification: CertVerification::Pkix,
            ignore_errors: false,
            fallback: false,
            confidential: false,
            server_name: None,
            platform_roots: true,
            extra_roots: Vec::new(),
            client_auth: None,
            min_version: TlsVersion::default(),
            provider: default_provider(),
            roots: Arc::new(OnceLock::new()),
        }
    }

    /// The settings of a Postfix security level (see the module table).
    pub fn from_level(level: Level) -> Self {
        match level {
            Level::None => Self::new(TlsMode::Skip),
            Level::May => Self::new(TlsMode::Opportunistic)
                .with_verification(CertVerification::None)
                .fallback(true),
            Level::Encrypt => {
                Self::new(TlsMode::RequiredStartTls).with_verification(CertVerification::None)
            }
            Level::Verify | Level::Secure => Self::new(TlsMode::RequiredStartTls),
        }
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: TlsMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether PKIX verification is required.
    pub fn with_verification(mut self, v: CertVerification) -> Self {
        self.verification = v;
        self
    }

    /// Finish the session even when verification fails; the failure is reported.
    pub fn ignore_verification_errors(mut self, on: bool) -> Self {
        self.ignore_errors = on;
        self
    }

    /// With [`TlsMode::Opportunistic`]: after a refused STARTTLS, continue in plaintext on
    /// the same connection; after a failed handshake, reconnect (the same target through
    /// the same connector: [`Client::establish`](crate::Client::establish)) and continue
    /// without TLS.
    /// Both are reported as a fallback. Ignored in the other modes, and when
    /// [`TlsConfig::confidential`] is set.
    pub fn fallback(mut self, on: bool) -> Self {
        self.fallback = on;
        self
    }

    /// The session will carry credentials or a message that requires TLS (REQUIRETLS):
    /// never go on in plaintext. No fallback ([`TlsConfig::fallback`] is ignored), and in
    /// [`TlsMode::Opportunistic`] a server that does not offer STARTTLS is a transient
    /// [`TlsError::NotOffered`], as in [`TlsMode::RequiredStartTls`], rather than a
    /// plaintext session (a man in the middle can strip STARTTLS from the EHLO reply).
    pub fn confidential(mut self, on: bool) -> Self {
        self.confidential = on;
        self
    }

    /// See [`TlsConfig::confidential`].
    pub fn is_confidential(&self) -> bool {
        self.confidential
    }

    /// The name to verify the certificate against and send as SNI (default: the host
    /// dialled).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The same settings without a [`TlsConfig::server_name`] override: MX delivery
    /// verifies each host under its own name.
    #[cfg(feature = "mx")]
    pub(crate) fn without_server_name(mut self) -> Self {
        self.server_name = None;
        self
    }

    /// Whether to trust the platform's roots (default true).
    pub fn platform_roots(mut self, on: bool) -> Self {
        self.platform_roots = on;
        self.roots = Arc::new(OnceLock::new());
        self
    }

    /// Adds trusted roots from PEM text.
    ///
    /// # Errors
    /// [`TlsError::Config`] when the PEM holds no certificate or is malformed.
    pub fn add_roots_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Config(format!("bad PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::Config("no certificate in PEM".into()).into());
        }
        self.extra_roots.extend(certs);
        self.roots = Arc::new(OnceLock::new());
        Ok(self)
    }

    /// A client certificate chain and its key, in PEM.
    ///
    /// # Errors
    /// [`TlsError::Config`] for malformed PEM.
    pub fn client_auth_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Config(format!("bad client certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| TlsError::Config(format!("bad client key: {e}")))?;
        self.client_auth = Some((chain, Arc::new(key)));
        Ok(self)
    }

    /// The minimum TLS version (default 1.2).
    pub fn min_version(mut self, v: TlsVersion) -> Self {
        self.min_version = v;
        self
    }

    /// The mode.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// The verification setting.
    pub fn verification(&self) -> CertVerification {
        self.verification
    }

    /// True when a failed verification aborts the handshake.
    pub fn enforces_verification(&self) -> bool {
        self.verification == CertVerification::Pkix && !self.ignore_errors
    }

    /// True when a plaintext fallback is allowed.
    pub fn fallback_allowed(&self) -> bool {
        self.fallback && !self.confidential && self.mode == TlsMode::Opportunistic
    }

    fn root_store(&self) -> Arc<RootCertStore> {
        self.roots
            .get_or_init(|| {
                let mut store = RootCertStore::empty();
                if self.platform_roots {
                    let found = rustls_native_certs::load_native_certs();
                    store.add_parsable_certificates(found.certs);
                }
                store.add_parsable_certificates(self.extra_roots.iter().cloned());
                Arc::new(store)
            })
            .clone()
    }

    /// A rustls configuration for one connection, with a verifier that records its
    /// outcome in `outcome`.
    fn rustls_config(&self, outcome: verify::Outcome) -> Result<Arc<rustls::ClientConfig>, Error> {
        let versions: &[&rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let verifier = verify::RecordingVerifier::new(
            &self.root_store(),
            self.provider.clone(),
            self.enforces_verification(),
            outcome,
        );
        let builder = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| TlsError::Config(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        // This configuration serves one connection (its verifier records that
        // connection's outcome), so its session cache could never resume another one: it
        // would only hold memory per connection (a 256-entry map, and the tickets the
        // server sends after the handshake).
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(config))
    }

    fn name_for(&self, host: &str) -> Result<ServerName<'static>, Error> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_owned())
            .map_err(|_| TlsError::Config(format!("invalid TLS server name {name:?}")).into())
    }
}

/// What TLS achieved on a connection.
///
/// After a plaintext fallback, `version` and `cipher` are `None`, `fallback` is true and
/// `verify_error` says why TLS was abandoned.
///
/// Made by the client, read by you: `#[non_exhaustive]`, so that what is reported can
/// grow (DANE, MTA-STS) without breaking a match or a struct literal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsReport {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: Option<String>,
    /// The IANA name of the cipher suite, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher: Option<String>,
    /// True only when PKIX verification ran and succeeded.
    pub verified: bool,
    /// Why verification failed (or, after a fallback, why TLS was abandoned).
    pub verify_error: Option<String>,
    /// The peer's certificate chain, end entity first (DER).
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// True when the session went on in plaintext after a refused STARTTLS or a failed
    /// handshake.
    pub fallback: bool,
    /// True for implicit TLS (RFC 8314).
    pub implicit: bool,
    /// The RFC 9266 `tls-exporter` channel binding (TLS 1.3 only).
    pub tls_exporter: Option<Vec<u8>>,
}

impl TlsReport {
    pub(crate) fn fallback(why: String) -> Self {
        Self {
            verify_error: Some(why),
            fallback: true,
            ..Self::default()
        }
    }

    fn from_connection(
        conn: &rustls::ClientConnection,
        outcome: &verify::Outcome,
        implicit: bool,
    ) -> Self {
        let verdict = outcome.lock().ok().and_then(|g| g.clone());
        let version = conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        });
        let cipher = conn.negotiated_cipher_suite().map(|s| {
            let name = s
                .suite()
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{:?}", s.suite()));
            // rustls names TLS 1.3 suites "TLS13_*"; IANA names them "TLS_*".
            name.strip_prefix("TLS13_")
                .map(|n| format!("TLS_{n}"))
                .unwrap_or(name)
        });
        let tls_exporter = if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            // RFC 9266 §2: label "EXPORTER-Channel-Binding", no context, 32 octets.
            conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
                .map(|k| k.to_vec())
        } else {
            None
        };
        Self {
            version,
            cipher,
            verified: matches!(verdict, Some(Ok(()))),
            verify_error: match verdict {
                Some(Err(e)) => Some(e),
                Some(Ok(())) => None,
                None => Some("verification did not run".into()),
            },
            peer_certificates: conn
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            fallback: false,
            implicit,
            tls_exporter,
        }
    }
}

fn new_outcome() -> verify::Outcome {
    Arc::new(Mutex::new(None))
}
