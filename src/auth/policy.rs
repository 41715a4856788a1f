//! The selection policy: which mechanism to try, given what the server offers, the
//! caller's settings and the connection's security. Pure functions, no I/O.

use super::{AuthError, Credentials, Mechanism, printable};

/// The caller's AUTH settings.
///
/// ```
/// use smtp_courier::auth::{AuthOptions, Mechanism};
/// let opts = AuthOptions::new()
///     .mechanisms([Mechanism::ScramSha256Plus])
///     .require_channel_binding(true);
/// assert!(opts.requires_channel_binding());
/// assert!(!opts.allows_cleartext());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthOptions {
    mechanisms: Vec<Mechanism>,
    allow_cleartext: bool,
    allow_unverified_challenge_response: bool,
    require_channel_binding: bool,
}

impl AuthOptions {
    /// The default: the strongest mechanism offered, every mechanism only over verified
    /// TLS, channel binding used when available but not required.
    pub fn new() -> Self {
        Self::default()
    }

    /// The mechanisms to consider, in order of preference; empty means the default order
    /// ([`Mechanism::DEFAULT_ORDER`], or [`Mechanism::DEFAULT_TOKEN_ORDER`] for a token).
    pub fn mechanisms(mut self, list: impl IntoIterator<Item = Mechanism>) -> Self {
        self.mechanisms = list.into_iter().collect();
        self
    }

    /// Allows every mechanism without TLS, or over TLS whose certificate failed
    /// verification: those that reveal the password or token (PLAIN, LOGIN, XOAUTH2,
    /// OAUTHBEARER) included, and so the challenge-response ones too (see
    /// [`AuthOptions::allow_unverified_challenge_response`]). Off by default: anyone on
    /// the path could read the secret.
    pub fn allow_cleartext(mut self, allow: bool) -> Self {
        self.allow_cleartext = allow;
        self
    }

    /// Allows the challenge-response mechanisms (CRAM-MD5 and SCRAM, -PLUS included),
    /// which never send the password itself, without TLS or over TLS whose certificate
    /// failed verification, while PLAIN, LOGIN and the OAuth mechanisms stay refused there.
    /// Off by default: a man in the middle (one that strips STARTTLS, or presents a
    /// certificate of its own) chooses the challenge or salt and receives the response or
    /// proof computed from the password, which it can attack offline with a dictionary.
    pub fn allow_unverified_challenge_response(mut self, allow: bool) -> Self {
        self.allow_unverified_challenge_response = allow;
        self
    }

    /// Only -PLUS mechanisms with `tls-exporter` channel binding (RFC 9266, TLS 1.3) may be
    /// used; without them authentication fails rather than falling back.
    pub fn require_channel_binding(mut self, require: bool) -> Self {
        self.require_channel_binding = require;
        self
    }

    /// The caller's preference list (empty: the default order).
    pub fn preference(&self) -> &[Mechanism] {
        &self.mechanisms
    }

    /// See [`AuthOptions::allow_cleartext`].
    pub fn allows_cleartext(&self) -> bool {
        self.allow_cleartext
    }

    /// See [`AuthOptions::allow_unverified_challenge_response`] (also true with
    /// [`AuthOptions::allow_cleartext`]).
    pub fn allows_unverified_challenge_response(&self) -> bool {
        self.allow_unverified_challenge_response || self.allow_cleartext
    }

    /// See [`AuthOptions::require_channel_binding`].
    pub fn requires_channel_binding(&self) -> bool {
        self.require_channel_binding
    }
}

/// What the connection offers for the choice of a mechanism.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// TLS is active (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The server's certificate passed verification.
    pub tls_verified: bool,
    /// `tls-exporter` channel binding data is available (TLS 1.3, RFC 9266).
    pub channel_binding: bool,
}

/// Picks the mechanism to try: the first of the caller's list (or of the default order)
/// that the server `offered` (the AUTH keyword's parameters of the current EHLO, so after
/// STARTTLS the list learned over TLS) and that can be used here.
///
/// A mechanism cannot be used when it needs the other kind of secret, when it is -PLUS and
/// there is no channel binding data, or when TLS is missing or unverified: a mechanism
/// that reveals the secret ([`Mechanism::sends_cleartext`]) then needs
/// [`AuthOptions::allow_cleartext`], and a challenge-response one (CRAM-MD5, SCRAM)
/// [`AuthOptions::allow_unverified_challenge_response`] (or `allow_cleartext`), since a
/// man in the middle could attack its response offline. Nothing is sent to find out.
///
/// # Errors
/// All permanent, all before any AUTH command:
/// - [`AuthError::NotOffered`] when the server offers no mechanism at all;
/// - [`AuthError::ChannelBindingUnavailable`] / [`AuthError::ChannelBindingNotOffered`]
///   when channel binding is required but the connection has none or the server offers no
///   -PLUS mechanism;
/// - [`AuthError::CleartextRefused`] or [`AuthError::UnverifiedTlsRefused`] when the
///   usable candidates all need verified TLS and it is missing (the first refused
///   candidate names the error: `CleartextRefused` when it reveals the secret);
/// - [`AuthError::NoCommonMechanism`] otherwise.
pub fn select(
    offered: &[String],
    credentials: &Credentials,
    options: &AuthOptions,
    security: Security,
) -> Result<Mechanism, AuthError> {
    if offered.is_empty() {
        return Err(AuthError::NotOffered);
    }
    let is_offered = |m: Mechanism| offered.iter().any(|o| o.eq_ignore_ascii_case(m.name()));
    let defaults: &[Mechanism] = if credentials.is_bearer_token() {
        &Mechanism::DEFAULT_TOKEN_ORDER
    } else {
        &Mechanism::DEFAULT_ORDER
    };
    let candidates = if options.mechanisms.is_empty() {
        defaults
    } else {
        options.mechanisms.as_slice()
    };
    if options.require_channel_binding {
        // RFC 5802 §6 / rule 8: a caller who asked for channel binding never gets a
        // non-PLUS mechanism instead.
        if !security.channel_binding {
            return Err(AuthError::ChannelBindingUnavailable);
        }
        if !candidates.iter().any(|m| m.is_plus() && is_offered(*m)) {
            return Err(AuthError::ChannelBindingNotOffered);
        }
    }
    let verified_tls = security.tls && security.tls_verified;
    let mut refused = None;
    for &m in candidates {
        if !is_offered(m)
            || m.uses_bearer_token() != credentials.is_bearer_token()
            || (m.is_plus() && !security.channel_binding)
            || (options.require_channel_binding && !m.is_plus())
        {
            continue;
        }
        let allowed = verified_tls
            || if m.sends_cleartext() {
                options.allows_cleartext()
            } else {
                options.allows_unverified_challenge_response()
            };
        if !allowed {
            refused.get_or_insert(m);
            continue;
        }
        return Ok(m);
    }
    if let Some(mechanism) = refused {
        let tls = security.tls;
        return Err(if mechanism.sends_cleartext() {
            AuthError::CleartextRefused { mechanism, tls }
        } else {
            AuthError::UnverifiedTlsRefused { mechanism, tls }
        });
    }
    let names: Vec<String> = offered.iter().map(|o| printable(o)).collect();
    Err(AuthError::NoCommonMechanism {
        offered: names.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const NO_TLS: Security = Security {
        tls: false,
        tls_verified: false,
        channel_binding: false,
    };
    const VERIFIED: Security = Security {
        tls: true,
        tls_verified: true,
        channel_binding: false,
    };
    const TLS13: Security = Security {
        tls: true,
        tls_verified: true,
        channel_binding: true,
    };

    #[test]
    fn default_order_picks_strongest() {
        let creds = Credentials::new("u", "p");
        let all = offered(&[
            "LOGIN",
            "PLAIN",
            "CRAM-MD5",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-256-PLUS",
        ]);
        let o = AuthOptions::new();
        assert_eq!(
            select(&all, &creds, &o, TLS13),
            Ok(Mechanism::ScramSha256Plus)
        );
        // Without exporter data the -PLUS form is skipped, not an error.
        assert_eq!(
            select(&all, &creds, &o, VERIFIED),
            Ok(Mechanism::ScramSha256)
        );
        let weak = offered(&["LOGIN", "PLAIN", "CRAM-MD5"]);
        assert_eq!(select(&weak, &creds, &o, VERIFIED), Ok(Mechanism::CramMd5));
        let cr = o.clone().allow_unverified_challenge_response(true);
        assert_eq!(select(&weak, &creds, &cr, NO_TLS), Ok(Mechanism::CramMd5));
        let clear = offered(&["LOGIN", "PLAIN"]);
        assert_eq!(select(&clear, &creds, &o, VERIFIED), Ok(Mechanism::Plain));
        let clear = offered(&["login"]);
        assert_eq!(select(&clear, &creds, &o, VERIFIED), Ok(Mechanism::Login));
    }

    #[test]
    fn caller_order_wins_and_only_first_usable() {
        let creds = Credentials::new("u", "p");
        let all = offered(&["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"]);
        let o = AuthOptions::new().mechanisms([Mechanism::Plain, Mechanism::ScramSha256]);
        assert_eq!(select(&all, &creds, &o, VERIFIED), Ok(Mechanism::Plain));
        // PLAIN unusable without TLS: the next candidate is taken, when allowed there.
        let cr = o.clone().allow_unverified_challenge_response(true);
        assert_eq!(
            select(&all, &creds, &cr, NO_TLS),
            Ok(Mechanism::ScramSha256)
        );
        let o = AuthOptions::new().mechanisms([Mechanism::ScramSha1]);
        assert!(matches!(
            select(&all, &creds, &o, VERIFIED),
            Err(AuthError::NoCommonMechanism { offered }) if offered == "PLAIN CRAM-MD5 SCRAM-SHA-256"
        ));
    }

    #[test]
    fn cleartext_refused_without_verified_tls() {
        let creds = Credentials::new("u", "p");
        let plain = offered(&["PLAIN", "LOGIN"]);
        let o = AuthOptions::new();
        let err = select(&plain, &creds, &o, NO_TLS).unwrap_err();
        assert_eq!(
            err,
            AuthError::CleartextRefused {
                mechanism: Mechanism::Plain,
                tls: false
            }
        );
        assert!(err.is_permanent());
        assert!(err.to_string().contains("AuthOptions::allow_cleartext"));
        let unverified = Security {
            tls: true,
            tls_verified: false,
            channel_binding: true,
        };
        let err = select(&plain, &creds, &o, unverified).unwrap_err();
        assert!(err.to_string().contains("unverified TLS"), "{err}");
        // Positive twins.
        assert_eq!(select(&plain, &creds, &o, VERIFIED), Ok(Mechanism::Plain));
        let allow = o.allow_cleartext(true);
        assert_eq!(select(&plain, &creds, &allow, NO_TLS), Ok(Mechanism::Plain));
        assert_eq!(
            select(&plain, &creds, &allow, unverified),
            Ok(Mechanism::Plain)
        );
    }

    /// A man in the middle that strips STARTTLS or shows its own certificate chooses the
    /// challenge (CRAM-MD5) or the salt and nonce (SCRAM) and could crack the response
    /// offline: every mechanism needs verified TLS unless the caller allows otherwise.
    #[test]
    fn challenge_response_refused_without_verified_tls() {
        let creds = Credentials::new("u", "p");
        let unverified = Security {
            tls: true,
            tls_verified: false,
            channel_binding: true,
        };
        let o = AuthOptions::new();
        for (list, first) in [
            (&["CRAM-MD5"][..], Mechanism::CramMd5),
            (&["SCRAM-SHA-1"][..], Mechanism::ScramSha1),
            (&["SCRAM-SHA-256", "CRAM-MD5"][..], Mechanism::ScramSha256),
            (
                &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"][..],
                Mechanism::ScramSha256Plus,
            ),
        ] {
            let list = offered(list);
            for (security, tls) in [(NO_TLS, false), (unverified, true)] {
                let err = select(&list, &creds, &o, security).unwrap_err();
                if first.is_plus() && !security.channel_binding {
                    assert_eq!(
                        err,
                        AuthError::UnverifiedTlsRefused {
                            mechanism: Mechanism::ScramSha256,
                            tls
                        }
                    );
                } else {
                    assert_eq!(
                        err,
                        AuthError::UnverifiedTlsRefused {
                            mechanism: first,
                            tls
                        }
                    );
                }
                assert!(err.is_permanent());
                assert!(
                    err.to_string()
                        .contains("AuthOptions::allow_unverified_challenge_response"),
                    "{err}"
                );
            }
            // Positive twins: verified TLS, or either permission.
            assert_eq!(select(&list, &creds, &o, TLS13), Ok(first));
            for allow in [
                o.clone().allow_unverified_challenge_response(true),
                o.clone().allow_cleartext(true),
            ] {
                assert!(allow.allows_unverified_challenge_response());
                assert_eq!(select(&list, &creds, &allow, unverified), Ok(first));
            }
        }
        // The weaker permission never lets PLAIN through.
        let cr = o.allow_unverified_challenge_response(true);
        assert!(!cr.allows_cleartext());
        let plain = offered(&["PLAIN", "CRAM-MD5"]);
        let only_plain = cr.clone().mechanisms([Mechanism::Plain]);
        assert_eq!(
            select(&plain, &creds, &only_plain, NO_TLS),
            Err(AuthError::CleartextRefused {
                mechanism: Mechanism::Plain,
                tls: false
            })
        );
        assert_eq!(select(&plain, &creds, &cr, NO_TLS), Ok(Mechanism::CramMd5));
    }

    #[test]
    fn tokens_use_oauth_mechanisms() {
        let tok = Credentials::bearer_token("u@example.com", "t");
        let both = offered(&["PLAIN", "XOAUTH2", "OAUTHBEARER"]);
        let o = AuthOptions::new();
        assert_eq!(
            select(&both, &tok, &o, VERIFIED),
            Ok(Mechanism::OAuthBearer)
        );
        let x = offered(&["PLAIN", "XOAUTH2"]);
        assert_eq!(select(&x, &tok, &o, VERIFIED), Ok(Mechanism::XOAuth2));
        assert!(matches!(
            select(&x, &tok, &o, NO_TLS),
            Err(AuthError::CleartextRefused {
                mechanism: Mechanism::XOAuth2,
                ..
            })
        ));
        // A password never picks an OAuth mechanism, a token never PLAIN.
        let pw = Credentials::new("u", "p");
        let only_oauth = offered(&["XOAUTH2"]);
        assert!(matches!(
            select(&only_oauth, &pw, &o, VERIFIED),
            Err(AuthError::NoCommonMechanism { .. })
        ));
        let o = AuthOptions::new().mechanisms([Mechanism::Plain]);
        assert!(select(&x, &tok, &o, VERIFIED).is_err());
    }

    #[test]
    fn channel_binding_never_downgrades() {
        let creds = Credentials::new("u", "p");
        let o = AuthOptions::new().require_channel_binding(true);
        let both = offered(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
        assert_eq!(
            select(&both, &creds, &o, VERIFIED),
            Err(AuthError::ChannelBindingUnavailable)
        );
        let non_plus = offered(&["SCRAM-SHA-256", "PLAIN"]);
        assert_eq!(
            select(&non_plus, &creds, &o, TLS13),
            Err(AuthError::ChannelBindingNotOffered)
        );
        assert_eq!(
            select(&both, &creds, &o, TLS13),
            Ok(Mechanism::ScramSha256Plus)
        );
        // Explicit list naming only non-PLUS mechanisms with binding required: refused.
        let o = o.mechanisms([Mechanism::ScramSha256]);
        assert_eq!(
            select(&both, &creds, &o, TLS13),
            Err(AuthError::ChannelBindingNotOffered)
        );
    }

    #[test]
    fn nothing_offered() {
        let creds = Credentials::new("u", "p");
        let err = select(&[], &creds, &AuthOptions::new(), VERIFIED).unwrap_err();
        assert_eq!(err, AuthError::NotOffered);
        assert!(err.is_permanent());
        assert!(!AuthError::ServerSignature.is_permanent());
        assert!(!AuthError::NonceMismatch.is_permanent());
    }
}
