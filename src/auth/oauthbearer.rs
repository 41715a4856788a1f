//! OAUTHBEARER (RFC 7628): a GS2 header naming the user, then `auth=Bearer TOKEN` as a
//! key/value pair, as the initial response. On failure the server sends a base64 JSON
//! error as a challenge; the client answers with a single `\x01` (RFC 7628 §3.2.3) and
//! the server then fails the exchange.

use super::scram::push_saslname;
use super::{AuthError, Credentials, Mechanism, SaslClient, Step};

/// The OAUTHBEARER mechanism (RFC 7628). Reveals the token: see
/// [`Mechanism::sends_cleartext`].
///
/// The optional `host` and `port` keys (RFC 7628 §3.1) are not sent: the session does not
/// know which name the driver connected to.
///
/// ```
/// use smtp_courier::auth::{Credentials, OAuthBearer, SaslClient, Step};
/// let mut o = OAuthBearer::new(&Credentials::bearer_token("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")).unwrap();
/// let Ok(Step::Respond(ir)) = o.step(None) else { panic!() };
/// assert_eq!(&ir[..], &b"n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"[..]);
/// ```
pub struct OAuthBearer {
    credentials: Credentials,
    sent: u8,
}

impl OAuthBearer {
    /// OAUTHBEARER for a user name and bearer token.
    ///
    /// # Errors
    /// [`AuthError::WrongCredentials`] for a password;
    /// [`AuthError::InvalidCredentials`] when the token is not the `b64token` of RFC 6750
    /// §2.1 or the user name contains a control character.
    pub fn new(credentials: &Credentials) -> Result<Self, AuthError> {
        let token = credentials.require_token(Mechanism::OAuthBearer)?;
        // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
        let body = token.trim_end_matches('=');
        let token_ok = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if !token_ok || credentials.username().chars().any(char::is_control) {
            return Err(AuthError::InvalidCredentials {
                mechanism: Mechanism::OAuthBearer,
            });
        }
        Ok(Self {
            credentials: credentials.clone(),
            sent: 0,
        })
    }
}

impl SaslClient for OAuthBearer {
    fn mechanism(&self) -> Mechanism {
        Mechanism::OAuthBearer
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        let step = match (challenge, self.sent) {
            (None, 0) => {
                let token = self.credentials.require_token(Mechanism::OAuthBearer)?;
                // RFC 7628 §3.1: gs2-header "n,a=" saslname "," then kvsep-separated pairs.
                let mut msg = String::from("n,a=");
                push_saslname(&mut msg, self.credentials.username());
                msg.push_str(",\x01auth=Bearer ");
                msg.push_str(token);
                msg.push_str("\x01\x01");
                Step::respond(msg.into_bytes())
            }
            // RFC 7628 §3.2.3: answer the error challenge with a single kvsep.
            (Some(_), 1) => Step::respond(vec![0x01]),
            _ => {
                return Err(AuthError::UnexpectedChallenge {
                    mechanism: Mechanism::OAuthBearer,
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
    fn rfc7628_shape_and_error_ack() {
        // RFC 7628 §4.1 without host and port.
        let creds = Credentials::bearer_token(
            "user@example.com",
            "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        );
        let mut o = OAuthBearer::new(&creds).unwrap();
        assert_eq!(
            o.step(None),
            Ok(Step::respond(
                b"n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01".to_vec()
            ))
        );
        assert_eq!(
            o.step(Some(br#"{"status":"invalid_token"}"#)),
            Ok(Step::respond(vec![1]))
        );
        assert!(o.step(Some(b"")).is_err());
    }

    #[test]
    fn escapes_user_and_checks_token() {
        let creds = Credentials::bearer_token("a,b=c", "tok");
        let Ok(Step::Respond(ir)) = OAuthBearer::new(&creds).unwrap().step(None) else {
            panic!()
        };
        assert!(ir.starts_with(b"n,a=a=2Cb=3Dc,\x01"));
        assert!(OAuthBearer::new(&Credentials::bearer_token("u", "bad token")).is_err());
        assert!(OAuthBearer::new(&Credentials::bearer_token("u", "a\x01")).is_err());
        assert!(OAuthBearer::new(&Credentials::bearer_token("u", "===")).is_err());
    }
}
