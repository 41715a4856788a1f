//! Validated envelope addresses and the EHLO name (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1).
//!
//! Every type here is checked once, when it is built: after that it can be written into a
//! command as it is, and no CR, LF, NUL or other control character can reach the wire.

use std::fmt;
use std::sync::Arc;

/// The longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// The longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// The longest path, angle brackets included (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why an address, domain or parameter was refused. Always the caller's data, never the
/// peer's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Empty where something is required.
    #[error("empty {0}")]
    Empty(&'static str),
    /// A control character (CR, LF, NUL, DEL, ...) or a space outside quotes.
    #[error("control character or space in {0}")]
    ForbiddenCharacter(&'static str),
    /// Longer than the RFC 5321 §4.5.3.1 limit.
    #[error("{0} too long")]
    TooLong(&'static str),
    /// Not `local-part@domain`.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

fn is_forbidden(c: char) -> bool {
    c.is_control() || c == '\u{7f}'
}

/// A domain name or an address literal such as `[192.0.2.1]` or `[IPv6:::1]`
/// (RFC 5321 §4.1.3). UTF-8 labels are accepted (RFC 6531); they need SMTPUTF8.
///
/// ```
/// use smtp_courier::proto::Domain;
/// assert!(Domain::new("mx.example.org").is_ok());
/// assert!(Domain::new("[192.0.2.1]").is_ok());
/// assert!(Domain::new("bad\r\nRSET").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Domain(Arc<str>);

impl Domain {
    /// Checks and wraps a domain or address literal.
    ///
    /// # Errors
    /// Empty, too long, a control character or space, or a malformed label or literal.
    pub fn new(s: impl Into<String>) -> Result<Self, AddressError> {
        let s = s.into();
        check_domain(&s)?;
        Ok(Self(s.into()))
    }

    /// `localhost`, the default EHLO name.
    pub fn localhost() -> Self {
        Self(Arc::from("localhost"))
    }

    /// The domain as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when every character is ASCII.
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }
}

fn check_domain(s: &str) -> Result<(), AddressError> {
    const WHAT: &str = "domain";
    if s.is_empty() {
        return Err(AddressError::Empty(WHAT));
    }
    if s.len() > MAX_DOMAIN {
        return Err(AddressError::TooLong(WHAT));
    }
    if s.chars().any(|c| is_forbidden(c) || c == ' ') {
        return Err(AddressError::ForbiddenCharacter(WHAT));
    }
    if let Some(inner) = s.strip_prefix('[') {
        // RFC 5321 §4.1.3 address literal.
        let inner = inner
            .strip_suffix(']')
            .ok_or(AddressError::Malformed(WHAT))?;
        let ok = if let Some(v6) = inner.strip_prefix("IPv6:") {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            inner.parse::<std::net::Ipv4Addr>().is_ok()
        };
        return if ok {
            Ok(())
        } else {
            Err(AddressError::Malformed(WHAT))
        };
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(AddressError::Malformed(WHAT));
        }
    }
    Ok(())
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({:?})", self.0)
    }
}

impl std::str::FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A mailbox, `local-part@domain` (RFC 5321 §4.1.2), as used in MAIL and RCPT.
///
/// The local part is a dot-string or a quoted string; UTF-8 is accepted (RFC 6531) and
/// makes the address need SMTPUTF8.
///
/// ```
/// use smtp_courier::proto::Mailbox;
/// let m: Mailbox = "user@example.org".parse().unwrap();
/// assert_eq!(m.domain().as_str(), "example.org");
/// assert!("\"john doe\"@example.org".parse::<Mailbox>().is_ok());
/// assert!("user@example.org>\r\nRCPT TO:<x@y".parse::<Mailbox>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// Shared: an envelope, its commands and its report hold the same address, so a
    /// copy is a reference count, not an allocation.
    addr: Arc<str>,
    at: usize,
    domain: Domain,
}

impl Mailbox {
    /// Checks and wraps an address.
    ///
    /// # Errors
    /// See [`AddressError`].
    pub fn new(s: impl Into<String>) -> Result<Self, AddressError> {
        const WHAT: &str = "address";
        let addr = s.into();
        if addr.is_empty() {
            return Err(AddressError::Empty(WHAT));
        }
        if addr.chars().any(is_forbidden) {
            return Err(AddressError::ForbiddenCharacter(WHAT));
        }
        if addr.len().saturating_add(2) > MAX_PATH {
            return Err(AddressError::TooLong(WHAT));
        }
        let at = addr.rfind('@').ok_or(AddressError::Malformed(WHAT))?;
        let (local, domain) = addr
            .split_at_checked(at)
            .ok_or(AddressError::Malformed(WHAT))?;
        let domain = domain.get(1..).ok_or(AddressError::Malformed(WHAT))?;
        check_local_part(local)?;
        let domain = Domain::new(domain)?;
        Ok(Self {
            addr: addr.into(),
            at,
            domain,
        })
    }

    /// The whole address, without angle brackets.
    pub fn as_str(&self) -> &str {
        &self.addr
    }

    /// The local part, as given (quotes kept).
    pub fn local_part(&self) -> &str {
        self.addr.get(..self.at).unwrap_or_default()
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// True when every character is ASCII; otherwise the address needs SMTPUTF8.
    pub fn is_ascii(&self) -> bool {
        self.addr.is_ascii()
    }
}

fn check_local_part(local: &str) -> Result<(), AddressError> {
    const WHAT: &str = "local part";
    if local.is_empty() {
        return Err(AddressError::Empty(WHAT));
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(AddressError::TooLong(WHAT));
    }
    if let Some(inner) = local.strip_prefix('"') {
        // RFC 5321 §4.1.2 Quoted-string: qtextSMTP or a backslash pair, printable only.
        let inner = inner
            .strip_suffix('"')
            .ok_or(AddressError::Malformed(WHAT))?;
        let mut escaped = false;
        for c in inner.chars() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Err(AddressError::Malformed(WHAT));
            }
        }
        return if escaped {
            Err(AddressError::Malformed(WHAT))
        } else {
            Ok(())
        };
    }
    // RFC 5321 §4.1.2 Dot-string: atoms separated by single dots.
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    for atom in local.split('.') {
        let ok = !atom.is_empty()
            && atom
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c) || !c.is_ascii());
        if !ok {
            return Err(if local.contains(' ') {
                AddressError::ForbiddenCharacter(WHAT)
            } else {
                AddressError::Malformed(WHAT)
            });
        }
    }
    Ok(())
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({:?})", self.addr)
    }
}

impl std::str::FromStr for Mailbox {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The MAIL FROM path: a mailbox, or the null reverse-path `<>` used for bounces
/// (RFC 5321 §4.5.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`.
    Null,
    /// `<mailbox>`.
    Mailbox(Mailbox),
}

impl ReversePath {
    /// `""` or `"<>"` gives [`ReversePath::Null`]; anything else must be a mailbox.
    ///
    /// # Errors
    /// See [`AddressError`].
    pub fn new(s: &str) -> Result<Self, AddressError> {
        if s.is_empty() || s == "<>" {
            Ok(Self::Null)
        } else {
            Mailbox::new(s).map(Self::Mailbox)
        }
    }

    /// The address inside the brackets, empty for `<>`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Null => "",
            Self::Mailbox(m) => m.as_str(),
        }
    }

    /// True for `<>` and for an ASCII mailbox.
    pub fn is_ascii(&self) -> bool {
        match self {
            Self::Null => true,
            Self::Mailbox(m) => m.is_ascii(),
        }
    }
}

impl From<Mailbox> for ReversePath {
    fn from(m: Mailbox) -> Self {
        Self::Mailbox(m)
    }
}

impl std::str::FromStr for ReversePath {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// An ESMTP parameter on MAIL or RCPT: `KEYWORD` or `KEYWORD=value` (RFC 5321 §4.1.2
/// `esmtp-param`). The keyword is letters, digits and `-`; the value is printable ASCII
/// without `=` or space (UTF-8 allowed for SMTPUTF8, RFC 6531 §3.3).
///
/// ```
/// use smtp_courier::proto::EsmtpParam;
/// assert_eq!(EsmtpParam::new("SIZE", Some("1000")).unwrap().to_string(), "SIZE=1000");
/// assert!(EsmtpParam::new("SIZE", Some("1 RCPT")).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EsmtpParam {
    keyword: String,
    value: Option<String>,
}

impl EsmtpParam {
    /// Checks and builds a parameter.
    ///
    /// # Errors
    /// A malformed keyword or a value with a space, `=` or control character.
    pub fn new(keyword: &str, value: Option<&str>) -> Result<Self, AddressError> {
        const WHAT: &str = "ESMTP parameter";
        let kw_ok = keyword
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && keyword
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !kw_ok {
            return Err(AddressError::Malformed(WHAT));
        }
        if let Some(v) = value {
            if v.is_empty() {
                return Err(AddressError::Empty(WHAT));
            }
            if v.chars().any(|c| is_forbidden(c) || c == ' ' || c == '=') {
                return Err(AddressError::ForbiddenCharacter(WHAT));
            }
        }
        Ok(Self {
            keyword: keyword.to_ascii_uppercase(),
            value: value.map(str::to_owned),
        })
    }

    /// A parameter whose value this crate built from a checked alphabet (the DSN
    /// parameters' xtext, RFC 3461 §4): the check runs in debug builds only.
    pub(crate) fn from_checked(keyword: &'static str, value: String) -> Self {
        debug_assert!(
            Self::new(keyword, Some(&value)).is_ok(),
            "{keyword}={value:?}"
        );
        Self {
            keyword: keyword.into(),
            value: Some(value),
        }
    }

    /// `SIZE=n` (RFC 1870).
    pub fn size(n: u64) -> Self {
        Self {
            keyword: "SIZE".into(),
            value: Some(n.to_string()),
        }
    }

    /// `SMTPUTF8` (RFC 6531).
    pub fn smtputf8() -> Self {
        Self {
            keyword: "SMTPUTF8".into(),
            value: None,
        }
    }

    /// `BODY=8BITMIME` (RFC 6152).
    pub fn body_8bitmime() -> Self {
        Self {
            keyword: "BODY".into(),
            value: Some("8BITMIME".into()),
        }
    }

    /// The keyword, upper-cased.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The value, if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for EsmtpParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyword)?;
        if let Some(v) = &self.value {
            write!(f, "={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        for ok in [
            "a@b.c",
            "first.last@example.org",
            "x+tag@sub.example.org",
            "\"quoted local\"@example.org",
            "\"a\\\"b\"@example.org",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "Pelé@exemple.fr",
            "用户@例子.广告",
        ] {
            assert!(Mailbox::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "nobody",
            "@example.org",
            "a@",
            "a..b@example.org",
            ".a@example.org",
            "a b@example.org",
            "a@exa mple.org",
            "a@example.org\r\nRSET",
            "a\0@example.org",
            "a\x7f@example.org",
            "a@-bad.org",
            "a@[300.1.1.1]",
            "a@[IPv6:zz]",
            "\"unterminated@example.org",
            "<a@example.org>",
        ] {
            assert!(Mailbox::new(bad).is_err(), "{bad:?}");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(
            Mailbox::new(long_local),
            Err(AddressError::TooLong("local part"))
        );
        let ok_local = format!("{}@example.org", "a".repeat(64));
        assert!(Mailbox::new(ok_local).is_ok());
    }

    #[test]
    fn reverse_path() {
        assert_eq!(ReversePath::new(""), Ok(ReversePath::Null));
        assert_eq!(ReversePath::new("<>"), Ok(ReversePath::Null));
        assert!(matches!(
            ReversePath::new("a@b.c"),
            Ok(ReversePath::Mailbox(_))
        ));
        assert!(ReversePath::new("a@b.c\n").is_err());
    }

    #[test]
    fn domains() {
        assert!(Domain::new("localhost").is_ok());
        assert!(Domain::new("example.org.").is_ok());
        assert!(Domain::new("[IPv6:::1]").is_ok());
        assert!(Domain::new("a".repeat(64)).is_err());
        assert!(Domain::new("ex\tample").is_err());
        assert!(Domain::new("a.b\r\nMAIL FROM:<>").is_err());
        assert!(Domain::new("").is_err());
    }

    #[test]
    fn params() {
        assert_eq!(
            EsmtpParam::new("body", Some("8BITMIME"))
                .unwrap()
                .to_string(),
            "BODY=8BITMIME"
        );
        assert_eq!(
            EsmtpParam::new("SMTPUTF8", None).unwrap().to_string(),
            "SMTPUTF8"
        );
        assert!(EsmtpParam::new("", None).is_err());
        assert!(EsmtpParam::new("-X", None).is_err());
        assert!(EsmtpParam::new("X", Some("a=b")).is_err());
        assert!(EsmtpParam::new("X", Some("a\r\n")).is_err());
        assert!(EsmtpParam::new("X", Some("")).is_err());
    }
}
