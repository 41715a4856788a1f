//! CRAM-MD5 (RFC 2195): the server sends a challenge, the client answers with its user
//! name and the hex HMAC-MD5 of the challenge keyed with the password.

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{AuthError, Credentials, Mechanism, SaslClient, Step};

/// The CRAM-MD5 mechanism (RFC 2195). The password never crosses the wire, but a
/// recorded exchange allows an offline guess, and the server must store the password.
///
/// ```
/// use smtp_courier::auth::{Credentials, CramMd5, SaslClient, Step};
/// // RFC 2195 §2.
/// let mut c = CramMd5::new(&Credentials::new("tim", "tanstaaftanstaaf")).unwrap();
/// assert_eq!(c.step(None), Ok(Step::Wait));
/// let Ok(Step::Respond(r)) = c.step(Some(b"<1896.697170952@postoffice.reston.mci.net>")) else { panic!() };
/// assert_eq!(&r[..], b"tim b913a602c7eda7a495b4e6e7334d3890");
/// ```
pub struct CramMd5 {
    credentials: Credentials,
    answered: bool,
}

impl CramMd5 {
    /// CRAM-MD5 for a user name and password.
    ///
    /// # Errors
    /// [`AuthError::WrongCredentials`] for a bearer token.
    pub fn new(credentials: &Credentials) -> Result<Self, AuthError> {
        credentials.require_password(Mechanism::CramMd5)?;
        Ok(Self {
            credentials: credentials.clone(),
            answered: false,
        })
    }
}

impl SaslClient for CramMd5 {
    fn mechanism(&self) -> Mechanism {
        Mechanism::CramMd5
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        let Some(challenge) = challenge else {
            return Ok(Step::Wait);
        };
        if self.answered {
            return Err(AuthError::UnexpectedChallenge {
                mechanism: Mechanism::CramMd5,
            });
        }
        if challenge.is_empty() {
            return Err(AuthError::MalformedChallenge {
                mechanism: Mechanism::CramMd5,
                reason: "empty challenge",
            });
        }
        let password = self.credentials.require_password(Mechanism::CramMd5)?;
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(password.as_bytes()).map_err(|_| {
            AuthError::InvalidCredentials {
                mechanism: Mechanism::CramMd5,
            }
        })?;
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();
        let user = self.credentials.username().as_bytes();
        let mut out = Vec::with_capacity(user.len().saturating_add(33));
        out.extend_from_slice(user);
        out.push(b' ');
        // RFC 2195 §2: the digest in lowercase hex.
        for b in digest {
            out.extend_from_slice(&hex_byte(b));
        }
        self.answered = true;
        Ok(Step::respond(out))
    }
}

fn hex_byte(b: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digit = |n: u8| HEX.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0');
    [digit(b >> 4), digit(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2195_vector() {
        // RFC 2195 §2: user "tim", password "tanstaaftanstaaf".
        let mut c = CramMd5::new(&Credentials::new("tim", "tanstaaftanstaaf")).unwrap();
        assert_eq!(c.step(None), Ok(Step::Wait));
        let r = c
            .step(Some(b"<1896.697170952@postoffice.reston.mci.net>"))
            .unwrap();
        assert_eq!(
            r,
            Step::respond(b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec())
        );
        // On the wire, base64 as in the RFC.
        let Step::Respond(bytes) = r else { panic!() };
        assert_eq!(
            super::super::encode_base64(&bytes).as_str(),
            "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
        );
        assert!(c.step(Some(b"<again>")).is_err());
    }

    #[test]
    fn wrong_password_differs() {
        let mut c = CramMd5::new(&Credentials::new("tim", "wrong")).unwrap();
        let r = c
            .step(Some(b"<1896.697170952@postoffice.reston.mci.net>"))
            .unwrap();
        assert_ne!(
            r,
            Step::respond(b"tim b913a602c7eda7a495b4e6e7334d3890".to_vec())
        );
        let mut c = CramMd5::new(&Credentials::new("tim", "x")).unwrap();
        assert!(matches!(
            c.step(Some(b"")),
            Err(AuthError::MalformedChallenge { .. })
        ));
    }
}
