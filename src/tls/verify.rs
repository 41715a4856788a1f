//! A certificate verifier that always runs PKIX verification, records the outcome, and
//! enforces it only when asked to. Handshake signatures are always checked, so even with
//! verification not enforced the peer must prove it holds the key of the certificate it
//! shows (an "accept anything" verifier that skips signatures is a known mistake).

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What verification concluded, shared between the verifier and the connection code.
pub(crate) type Outcome = Arc<Mutex<Option<Result<(), String>>>>;

pub(crate) struct RecordingVerifier {
    /// `None` when there are no trust anchors at all: verification then fails.
    pkix: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    enforce: bool,
    outcome: Outcome,
}

impl RecordingVerifier {
    pub(crate) fn new(
        roots: &Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
        enforce: bool,
        outcome: Outcome,
    ) -> Self {
        let pkix = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .ok();
        Self {
            pkix,
            provider,
            enforce,
            outcome,
        }
    }

    fn record(&self, result: Result<(), String>) {
        if let Ok(mut slot) = self.outcome.lock() {
            *slot = Some(result);
        }
    }
}

impl fmt::Debug for RecordingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingVerifier")
            .field("enforce", &self.enforce)
            .finish()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.pkix {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        };
        self.record(result.clone().map_err(|e| describe(&e)));
        match result {
            Err(e) if self.enforce => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A short, stable description of a verification failure.
pub(crate) fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "certificate not issued by a trusted authority".into(),
            C::Expired | C::ExpiredContext { .. } => "certificate expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate not valid for the server name".into()
            }
            C::BadSignature => "bad certificate signature".into(),
            C::Revoked => "certificate revoked".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        other => other.to_string(),
    }
}
