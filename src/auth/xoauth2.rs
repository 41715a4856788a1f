//! XOAUTH2 (Google, Microsoft 365): `user=USER ^A auth=Bearer TOKEN ^A ^A` as the initial
//! response. On failure the server sends a base64 JSON error as a challenge, which the
//! client acknowledges with an empty response before the server's final `535`.

use super::{AuthError, Credentials, Mechanism, SaslClient, Step};

/// The XOAUTH2 mechanism. Reveals the token: see [`Mechanism::sends_cleartext`].
///
/// ```
/// use smtp_courier::auth::{Credentials, SaslClient, Step, XOAuth2};
/// let mut x = XOAuth2::new(&Credentials::bearer_token("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")).unwrap();
/// let Ok(Step::Respond(ir)) = x.step(None) else { panic!() };
/// assert_eq!(&ir[..], &b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"[..]);
/// ```
pub struct XOAuth2 {
    credentials: Credentials,
    sent: u8,
}

impl XOAuth2 {
    /// XOAUTH2 for a user name (an email address) and bearer token.
    ///
    /// # Errors
    /// [`AuthError::WrongCredentials`] for a password;
    /// [`AuthError::InvalidCredentials`] when either contains `\x01`, the field separator.
    pub fn new(credentials: &Credentials) -> Result<Self, AuthError> {
        let token = credentials.require_token(Mechanism::XOAuth2)?;
        if credentials.username().contains('\x01') || token.contains('\x01') {
            return Err(AuthError::InvalidCredentials {
                mechanism: Mechanism::XOAuth2,
            });
        }
        Ok(Self {
            credentials: credentials.clone(),
            sent: 0,
        })
    }
}

impl SaslClient for XOAuth2 {
    fn mechanism(&self) -> Mechanism {
        Mechanism::XOAuth2
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        let step = match (challenge, self.sent) {
            (None, 0) => {
                let token = self.credentials.require_token(Mechanism::XOAuth2)?;
                let mut msg = Vec::new();
                msg.extend_from_slice(b"user=");
                msg.extend_from_slice(self.credentials.username().as_bytes());
                msg.extend_from_slice(b"\x01auth=Bearer ");
                msg.extend_from_slice(token.as_bytes());
                msg.extend_from_slice(b"\x01\x01");
                Step::respond(msg)
            }
            // The JSON error challenge: acknowledged with an empty response, after which
            // the server sends its 535.
            (Some(_), 1) => Step::respond(Vec::new()),
            _ => {
                return Err(AuthError::UnexpectedChallenge {
                    mechanism: Mechanism::XOAuth2,
                });
            }
        };
        self.sent = self.sent.saturating_add(1);
        Ok(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_example_and_error_ack() {
        let creds = Credentials::bearer_token("someuser@example.com", "ya29.token");
        let mut x = XOAuth2::new(&creds).unwrap();
        assert_eq!(
            x.step(None),
            Ok(Step::respond(
                b"user=someuser@example.com\x01auth=Bearer ya29.token\x01\x01".to_vec()
            ))
        );
        let json = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(x.step(Some(json)), Ok(Step::respond(Vec::new())));
        assert!(x.step(Some(b"")).is_err());
    }

    #[test]
    fn refuses_separator_in_token() {
        assert!(XOAuth2::new(&Credentials::bearer_token("u", "a\x01b")).is_err());
        assert!(XOAuth2::new(&Credentials::new("u", "p")).is_err());
    }
}
