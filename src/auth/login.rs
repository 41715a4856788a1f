//! LOGIN (draft-murchison-sasl-login-00): the server prompts for the user name, then the
//! password, and the client answers each prompt in turn.

use super::{AuthError, Credentials, Mechanism, SaslClient, Step};

/// The LOGIN mechanism. Reveals the password: see [`Mechanism::sends_cleartext`].
///
/// No initial response is sent: the draft allows one, but not every server accepts it.
/// The prompts are answered by position, not by their text (servers word them
/// differently: `Username:`, `User Name`, ...).
pub struct Login {
    credentials: Credentials,
    answered: u8,
}

impl Login {
    /// LOGIN for a user name and password.
    ///
    /// # Errors
    /// [`AuthError::WrongCredentials`] for a bearer token.
    pub fn new(credentials: &Credentials) -> Result<Self, AuthError> {
        credentials.require_password(Mechanism::Login)?;
        Ok(Self {
            credentials: credentials.clone(),
            answered: 0,
        })
    }
}

impl SaslClient for Login {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Login
    }

    fn step(&mut self, challenge: Option<&[u8]>) -> Result<Step, AuthError> {
        if challenge.is_none() {
            return Ok(Step::Wait);
        }
        let answer = match self.answered {
            0 => self.credentials.username(),
            1 => self.credentials.require_password(Mechanism::Login)?,
            _ => {
                return Err(AuthError::UnexpectedChallenge {
                    mechanism: Mechanism::Login,
                });
            }
        };
        self.answered = self.answered.saturating_add(1);
        Ok(Step::respond(answer.as_bytes().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_prompts_in_order() {
        let mut l = Login::new(&Credentials::new("tim", "tanstaaftanstaaf")).unwrap();
        assert_eq!(l.step(None), Ok(Step::Wait));
        assert_eq!(
            l.step(Some(b"Username:")),
            Ok(Step::respond(b"tim".to_vec()))
        );
        assert_eq!(
            l.step(Some(b"Password:")),
            Ok(Step::respond(b"tanstaaftanstaaf".to_vec()))
        );
        assert_eq!(
            l.step(Some(b"Again:")),
            Err(AuthError::UnexpectedChallenge {
                mechanism: Mechanism::Login
            })
        );
        assert!(Login::new(&Credentials::bearer_token("u", "t")).is_err());
    }
}
