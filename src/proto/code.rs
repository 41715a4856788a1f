//! Reply codes (RFC 5321 §4.2.3) and enhanced status codes (RFC 3463).
//!
//! Both are open `Copy` newtypes: every value a server can send is preserved and printed,
//! and the well-known ones have named constants.

use std::fmt;

/// A three-digit SMTP reply code, 200 to 599 (RFC 5321 §4.2).
///
/// The parser refuses anything outside `2yz`..`5yz`, so a `ReplyCode` always has a class.
///
/// ```
/// use smtp_courier::proto::{ReplyCode, ReplyClass};
/// let code = ReplyCode::new(550).unwrap();
/// assert_eq!(code.class(), ReplyClass::PermanentNegative);
/// assert!(ReplyCode::new(199).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

/// The first digit of a reply code (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// `2yz`: the command was accepted.
    PositiveCompletion,
    /// `3yz`: go on (354 after DATA, 334 during AUTH).
    PositiveIntermediate,
    /// `4yz`: refused for now; the same command may succeed later.
    TransientNegative,
    /// `5yz`: refused; repeating the command as it is will fail again.
    PermanentNegative,
}

impl ReplyCode {
    /// 220 `<domain> Service ready`.
    pub const SERVICE_READY: Self = Self(220);
    /// 221 `<domain> Service closing transmission channel`.
    pub const CLOSING: Self = Self(221);
    /// 235 authentication succeeded (RFC 4954 §6).
    pub const AUTH_SUCCESS: Self = Self(235);
    /// 250 requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// 334 AUTH continuation (RFC 4954 §4).
    pub const AUTH_CONTINUE: Self = Self(334);
    /// 354 start mail input; end with `<CRLF>.<CRLF>`.
    pub const START_DATA: Self = Self(354);
    /// 421 service not available, closing transmission channel.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// 450 mailbox unavailable (busy or temporarily blocked).
    pub const MAILBOX_BUSY: Self = Self(450);
    /// 451 local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// 452 insufficient system storage, or too many recipients.
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 454 TLS not available / temporary authentication failure.
    pub const TLS_NOT_AVAILABLE: Self = Self(454);
    /// 500 syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 501 syntax error in parameters or arguments.
    pub const PARAMETER_SYNTAX_ERROR: Self = Self(501);
    /// 502 command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 503 bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 504 command parameter not implemented.
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    /// 521 host does not accept mail (RFC 7504).
    pub const DOES_NOT_ACCEPT_MAIL: Self = Self(521);
    /// 530 authentication required (RFC 4954 §6).
    pub const AUTH_REQUIRED: Self = Self(530);
    /// 535 authentication credentials invalid (RFC 4954 §6).
    pub const AUTH_FAILED: Self = Self(535);
    /// 550 mailbox unavailable.
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// 552 exceeded storage allocation (to RCPT: too many recipients, RFC 5321 §4.5.3.1.10).
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// 554 transaction failed (or, as a greeting, no SMTP service here).
    pub const TRANSACTION_FAILED: Self = Self(554);

    /// A code in `200..=599`, or `None`.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 200 && code <= 599 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// The class given by the first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// `2yz`.
    pub const fn is_positive_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// `4yz`.
    pub const fn is_transient(self) -> bool {
        self.0 / 100 == 4
    }

    /// `5yz`.
    pub const fn is_permanent(self) -> bool {
        self.0 / 100 == 5
    }

    /// The first digit, 2 to 5.
    pub const fn first_digit(self) -> u8 {
        (self.0 / 100) as u8
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463, RFC 2034).
///
/// ```
/// use smtp_courier::proto::EnhancedCode;
/// let (code, rest) = EnhancedCode::parse_prefix(b"5.1.1 no such user").unwrap();
/// assert_eq!(code, EnhancedCode::BAD_DESTINATION_MAILBOX);
/// assert_eq!(code.to_string(), "5.1.1");
/// assert_eq!(rest, b"no such user");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// 2.0.0 other or undefined success.
    pub const OK: Self = Self::new_unchecked(2, 0, 0);
    /// 4.2.0 mailbox status, temporary.
    pub const MAILBOX_TEMPORARY: Self = Self::new_unchecked(4, 2, 0);
    /// 4.7.4 security features not supported (TLS policy deferral).
    pub const SECURITY_NOT_SUPPORTED: Self = Self::new_unchecked(4, 7, 4);
    /// 5.1.1 bad destination mailbox address.
    pub const BAD_DESTINATION_MAILBOX: Self = Self::new_unchecked(5, 1, 1);
    /// 5.3.4 message too big for system.
    pub const MESSAGE_TOO_BIG: Self = Self::new_unchecked(5, 3, 4);
    /// 5.7.1 delivery not authorized, message refused.
    pub const NOT_AUTHORIZED: Self = Self::new_unchecked(5, 7, 1);
    /// 5.7.8 authentication credentials invalid (RFC 4954).
    pub const AUTH_CREDENTIALS_INVALID: Self = Self::new_unchecked(5, 7, 8);

    const fn new_unchecked(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }

    /// A code with class 2, 4 or 5 and subject and detail of at most three digits.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if (class == 2 || class == 4 || class == 5) && subject <= 999 && detail <= 999 {
            Some(Self::new_unchecked(class, subject, detail))
        } else {
            None
        }
    }

    /// 2, 4 or 5.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject (second) number.
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail (third) number.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Parses `class "." subject "." detail` followed by a space or the end of the text,
    /// as RFC 2034 §4 puts it at the start of each reply line. Returns the code and the
    /// text after it (without the separating space).
    pub fn parse_prefix(text: &[u8]) -> Option<(Self, &[u8])> {
        let (class, rest) = take_number(text, 1)?;
        let rest = rest.strip_prefix(b".")?;
        let (subject, rest) = take_number(rest, 3)?;
        let rest = rest.strip_prefix(b".")?;
        let (detail, rest) = take_number(rest, 3)?;
        let rest = match rest.split_first() {
            None => rest,
            Some((b' ', tail)) => tail,
            Some(_) => return None,
        };
        let class = u8::try_from(class).ok()?;
        Some((Self::new(class, subject, detail)?, rest))
    }
}

/// Up to `max` ASCII digits (at least one) as a number.
fn take_number(text: &[u8], max: usize) -> Option<(u16, &[u8])> {
    let digits = text
        .iter()
        .take(max.saturating_add(1))
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > max {
        return None;
    }
    let (num, rest) = text.split_at_checked(digits)?;
    let value = num.iter().try_fold(0u16, |acc, d| {
        acc.checked_mul(10)?
            .checked_add(u16::from(d.wrapping_sub(b'0')))
    })?;
    Some((value, rest))
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_code_range() {
        assert!(ReplyCode::new(199).is_none());
        assert!(ReplyCode::new(600).is_none());
        assert_eq!(
            ReplyCode::new(200).map(ReplyCode::class),
            Some(ReplyClass::PositiveCompletion)
        );
        assert_eq!(
            ReplyCode::new(354).map(ReplyCode::class),
            Some(ReplyClass::PositiveIntermediate)
        );
        assert_eq!(
            ReplyCode::new(451).map(ReplyCode::class),
            Some(ReplyClass::TransientNegative)
        );
        assert_eq!(
            ReplyCode::new(599).map(ReplyCode::class),
            Some(ReplyClass::PermanentNegative)
        );
    }

    #[test]
    fn enhanced_prefix() {
        assert_eq!(
            EnhancedCode::parse_prefix(b"4.7.0 try later"),
            Some((EnhancedCode::new(4, 7, 0).unwrap(), &b"try later"[..]))
        );
        assert_eq!(
            EnhancedCode::parse_prefix(b"5.123.999"),
            Some((EnhancedCode::new(5, 123, 999).unwrap(), &b""[..]))
        );
        for bad in [
            &b"5.1.1x"[..],
            b"3.1.1 x",
            b"5.1234.1 x",
            b"5.1.1234 x",
            b"5..1 x",
            b"51.1.1 x",
            b"Ok",
            b"",
            b"5.1",
        ] {
            assert_eq!(EnhancedCode::parse_prefix(bad), None, "{bad:?}");
        }
    }
}
