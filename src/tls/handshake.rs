//! The TLS handshake itself, for the client's connection setup (`client/setup.rs`) to call:
//! STARTTLS after its `220` (RFC 3207) or implicit TLS before the greeting (RFC 8314).
//! Which of them, and what a failure means for the session, is the client's policy.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TlsConfig, TlsReport, new_outcome, verify};
use crate::proto::error::{Error, TlsError};

/// What a handshake needs, checked before anything is sent: the name to verify (and send
/// as SNI), a rustls configuration, and where its verifier records the verdict.
pub(crate) struct Handshake {
    name: ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
    outcome: verify::Outcome,
}

impl Handshake {
    /// Checks the settings for a handshake with `host` (unless [`TlsConfig::server_name`]
    /// overrides it), before any byte is sent.
    ///
    /// # Errors
    /// [`TlsError::Config`] for a bad server name or unusable settings.
    pub(crate) fn prepare(tls: &TlsConfig, host: &str) -> Result<Self, Error> {
        let outcome = new_outcome();
        Ok(Self {
            name: tls.name_for(host)?,
            config: tls.rustls_config(outcome.clone())?,
            outcome,
        })
    }

    /// Runs the handshake on `stream` within `limit`.
    ///
    /// # Errors
    /// [`TlsError::Verification`] when verification is enforced and fails,
    /// [`TlsError::Handshake`] for other failures, [`TlsError::HandshakeTimeout`] past
    /// `limit`. The stream is gone in every case.
    pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        tls: &TlsConfig,
        stream: S,
        limit: Duration,
        implicit: bool,
    ) -> Result<(TlsStream<S>, TlsReport), Error> {
        let handshake = TlsConnector::from(self.config).connect(self.name, stream);
        match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(stream)) => {
                let report =
                    TlsReport::from_connection(stream.get_ref().1, &self.outcome, implicit);
                Ok((stream, report))
            }
            Ok(Err(e)) => Err(handshake_error(&e, &self.outcome, tls)),
            Err(_) => Err(Error::Tls(TlsError::HandshakeTimeout)),
        }
    }
}

/// Turns the error of a failed handshake into the error to report.
fn handshake_error(e: &std::io::Error, outcome: &verify::Outcome, tls: &TlsConfig) -> Error {
    let verdict = outcome.lock().ok().and_then(|g| g.clone());
    match verdict {
        Some(Err(why)) if tls.enforces_verification() => TlsError::Verification(why).into(),
        _ => TlsError::Handshake(e.to_string()).into(),
    }
}
