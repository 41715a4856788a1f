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

use crate::proto::escape_text;

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
        self.record(
            result
                .clone()
                .map_err(|e| describe(&e, end_entity, server_name)),
        );
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

/// A description of a verification failure: a stable phrase first (tests and scripts
/// match it), then what rustls and the certificate say: the name asked for and the names
/// the certificate holds, the issuer and subject of an untrusted certificate, the dates
/// of one out of its validity period. Certificate text is peer input: it is escaped.
pub(crate) fn describe(
    e: &rustls::Error,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> String {
    use rustls::CertificateError as C;
    let names = CertNames::of(end_entity);
    let subject = names.as_ref().map(|n| n.subject.as_str());
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => match &names {
                Some(n) if n.issuer == n.subject => format!(
                    "certificate not issued by a trusted authority: self-signed by {:?}",
                    n.subject
                ),
                Some(n) => format!(
                    "certificate not issued by a trusted authority: issuer {:?}, subject {:?}",
                    n.issuer, n.subject
                ),
                None => "certificate not issued by a trusted authority".into(),
            },
            C::ExpiredContext { not_after, .. } => format!(
                "certificate expired: not valid after {}{}",
                utc(not_after.as_secs()),
                for_subject(subject)
            ),
            C::Expired => format!("certificate expired{}", for_subject(subject)),
            C::NotValidYetContext { not_before, .. } => format!(
                "certificate not valid yet: not valid before {}{}",
                utc(not_before.as_secs()),
                for_subject(subject)
            ),
            C::NotValidYet => format!("certificate not valid yet{}", for_subject(subject)),
            C::NotValidForNameContext {
                expected,
                presented,
            } => not_valid_for_name(&expected.to_str(), presented),
            C::NotValidForName => not_valid_for_name(&server_name.to_str(), &[]),
            C::BadSignature => format!("bad certificate signature{}", for_subject(subject)),
            C::Revoked => format!("certificate revoked{}", for_subject(subject)),
            other => format!("invalid certificate: {other}{}", for_subject(subject)),
        },
        other => other.to_string(),
    }
}

fn for_subject(subject: Option<&str>) -> String {
    subject
        .map(|s| format!(" (subject {s:?})"))
        .unwrap_or_default()
}

fn not_valid_for_name(expected: &str, presented: &[String]) -> String {
    let expected = escape_text(expected.as_bytes());
    let holds = if presented.is_empty() {
        "the certificate holds no DNS name or IP address for it".to_owned()
    } else {
        let names: Vec<String> = presented
            .iter()
            .map(|n| escape_text(unwrap_kind(n).as_bytes()))
            .collect();
        format!("the certificate is valid for {}", names.join(", "))
    };
    format!("certificate not valid for the server name: asked for {expected}, {holds}")
}

/// rustls-webpki presents a DNS name as `DnsName("mx.example")`: the name alone.
fn unwrap_kind(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .unwrap_or(presented)
}

/// `secs` since the epoch as an RFC 3339 UTC time, e.g. `2001-01-01T00:00:00Z`.
fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to a proleptic Gregorian date, after Howard Hinnant's `civil_from_days`, for
    // days >= 0 (the epoch and after).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The issuer and subject of a certificate, as `C=.., O=.., CN=..` (the attributes people
/// recognise, in the certificate's order), read from rustls-webpki's parse of it.
struct CertNames {
    issuer: String,
    subject: String,
}

impl CertNames {
    fn of(der: &CertificateDer<'_>) -> Option<Self> {
        let cert = webpki::EndEntityCert::try_from(der).ok()?;
        Some(Self {
            issuer: format_name(cert.issuer()),
            subject: format_name(cert.subject()),
        })
    }
}

/// One DER TLV at the start of `input`: its tag, contents and the rest. Definite lengths
/// of up to four octets only (DER); `None` for anything malformed.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes.iter().try_fold(0usize, |acc, b| {
            acc.checked_mul(256)?.checked_add(usize::from(*b))
        })?;
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// An X.501 Name's contents (RFC 5280 §4.1.2.4: a SEQUENCE OF SET OF
/// AttributeTypeAndValue) as `C=.., O=.., CN=..`; `?` when it cannot be read.
fn format_name(mut name: &[u8]) -> String {
    const SET: u8 = 0x31;
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let mut parts = Vec::new();
    while !name.is_empty() {
        let Some((SET, mut rdn, rest)) = tlv(name) else {
            return "?".into();
        };
        name = rest;
        while !rdn.is_empty() {
            let Some((SEQUENCE, atv, rest)) = tlv(rdn) else {
                return "?".into();
            };
            rdn = rest;
            let Some((OID, oid, value)) = tlv(atv) else {
                return "?".into();
            };
            // id-at (2.5.4): the attribute types RFC 5280 §4.1.2.4 says to expect.
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                _ => continue,
            };
            // UTF8String, PrintableString, TeletexString (read as Latin-1 in practice,
            // shown escaped where not ASCII), IA5String; BMPString and the rest skipped.
            let Some((0x0c | 0x13 | 0x14 | 0x16, text, _)) = tlv(value) else {
                continue;
            };
            parts.push(format!("{label}={}", escape_text(text)));
        }
    }
    if parts.is_empty() {
        "?".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(978_307_200), "2001-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(utc(32_503_680_000 - 1), "2999-12-31T23:59:59Z");
    }

    #[test]
    fn names_from_der() {
        // SET { SEQUENCE { OID 2.5.4.6, PrintableString "DE" } },
        // SET { SEQUENCE { OID 2.5.4.3, UTF8String "mx\n" } }
        let name = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'D', b'E', 0x31,
            0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'm', b'x', b'\n',
        ];
        assert_eq!(format_name(&name), "C=DE, CN=mx\\n");
        // Truncated anywhere: "?", never a panic.
        for n in 0..name.len() {
            let s = format_name(name.get(..n).unwrap_or_default());
            assert!(s == "?" || s == "C=DE", "{n}: {s}");
        }
        assert_eq!(format_name(&[0x31, 0x84, 0xff, 0xff, 0xff, 0xff]), "?");
        assert_eq!(format_name(&[0x31, 0x85, 0, 0, 0, 0, 1]), "?");
    }
}
