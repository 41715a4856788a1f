//! PLAIN (RFC 4616): the authorization identity, the user name and the password in one
//! message, `[authzid] NUL authcid NUL passwd`, sent as the initial response.

use super::{AuthError, Credentials, Mechanism, SaslClient, Step};

/// The PLAIN mechanism (RFC 4616). Reveals the password: see
/// [`Mechanism::sends_cleartext`].
///
/// The message is the one the `sasl` crate's `Plain::initial` builds (a unit test checks
/// they agree byte for byte), but it is assembled here in a buffer that is wiped on drop:
/// `sasl`'s `Plain` keeps copies of the user name and password in plain `String`s that
/// are freed without being wiped, and it does not refuse a NUL inside them, which would
/// shift the fields (RFC 4616 §2).
///
/// ```
/// use smtp_courier::auth::{Credentials, Plain, SaslClient, Step};
/// let mut p = Plain::new(&Credentials::new("tim", "tanstaaftanstaaf")).unwrap();
/// let Ok(Step::Respond(ir)) = p.step(None) else { panic!() };
/// assert_eq!(&ir[..], b"\0tim\0tanstaaftanstaaf");
/// ```
pub struct Plain {
    credentials: Credentials,
    sent: bool,
}

impl Plain {
    /// PLAIN for a user name and password, with no separate authorization identity.
    ///
    /// # Errors
    /// [`AuthError::WrongCredentials`] for a bearer token;
    /// [`AuthError::InvalidCredentials`] when the user name or password contains NUL.
    pub fn new(credentials: &Credentials) -> Result<Self, AuthError> {
        let password = credentials.require_password(Mechanism::Plain)?;
        // RFC 4616 §2: authcid and passwd are UTF8SAFE, which excludes NUL.
        if credentials.username().contains('\0') || password.contains('\0') {
            return Err(AuthError::InvalidCredentials {
                mechanism: Mechanism::Plain,
            });
        }
        Ok(Self {
            credentials: credentials.clone(),
            sent: false,
        })
    }
}

impl SaslClient for Plain {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Plain
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        if challenge.is_some() || self.sent {
            return Err(AuthError::UnexpectedChallenge {
                mechanism: Mechanism::Plain,
            });
        }
        let password = self.credentials.require_password(Mechanism::Plain)?;
        let user = self.credentials.username();
        let mut msg =
            Vec::with_capacity(user.len().saturating_add(password.len()).saturating_add(2));
        msg.push(0);
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(password.as_bytes());
        self.sent = true;
        Ok(Step::respond(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sasl::client::Mechanism as _;

    #[test]
    fn matches_sasl_crate() {
        for (u, p) in [
            ("tim", "tanstaaftanstaaf"),
            ("ü@example.org", "pä ss"),
            ("", ""),
        ] {
            let mut ours = Plain::new(&Credentials::new(u, p)).unwrap();
            let Ok(Step::Respond(ir)) = ours.step(None) else {
                panic!("no initial response")
            };
            let theirs = sasl::client::mechanisms::Plain::new(u, p).initial();
            assert_eq!(&ir[..], &theirs[..]);
        }
    }

    #[test]
    fn rfc4616_example() {
        // RFC 4616 §4: "\0tim\0tanstaaftanstaaf".
        let mut p = Plain::new(&Credentials::new("tim", "tanstaaftanstaaf")).unwrap();
        assert_eq!(
            p.step(None).unwrap(),
            Step::respond(b"\0tim\0tanstaaftanstaaf".to_vec())
        );
        // Exactly one message: a challenge after it is a server error.
        assert_eq!(
            p.step(Some(b"")),
            Err(AuthError::UnexpectedChallenge {
                mechanism: Mechanism::Plain
            })
        );
    }

    #[test]
    fn refuses_nul() {
        assert!(Plain::new(&Credentials::new("a\0b", "p")).is_err());
        assert!(Plain::new(&Credentials::new("ab", "p\0")).is_err());
        assert!(Plain::new(&Credentials::new("ab", "p")).is_ok());
    }
}
