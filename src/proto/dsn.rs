//! Delivery status notification parameters (RFC 3461): `RET` and `ENVID` on MAIL,
//! `NOTIFY` and `ORCPT` on RCPT, and the xtext encoding two of them use.
//!
//! Each type is validated when it is built and turns into an [`EsmtpParam`], so no CR, LF,
//! NUL, space or `=` can reach the wire through it. Send them only to a server that offers
//! DSN ([`Capabilities::dsn`](super::Capabilities::dsn)), RFC 3461 §4.
//!
//! ```
//! use smtp_courier::proto::{EnvId, Mailbox, Notify, NotifyOn, Orcpt, Ret};
//! let on = Notify::On(NotifyOn::FAILURE | NotifyOn::DELAY);
//! assert_eq!(on.to_param().to_string(), "NOTIFY=FAILURE,DELAY");
//! assert_eq!(Ret::Hdrs.to_param().to_string(), "RET=HDRS");
//! assert_eq!(EnvId::new("QQ314159").unwrap().to_param().to_string(), "ENVID=QQ314159");
//! let rcpt: Mailbox = "a+b@example.org".parse().unwrap();
//! assert_eq!(
//!     Orcpt::rfc822(&rcpt).unwrap().to_param().to_string(),
//!     "ORCPT=rfc822;a+2Bb@example.org"
//! );
//! ```

use std::fmt;
use std::ops::BitOr;

use super::address::{EsmtpParam, Mailbox};

/// The longest `ENVID` value, as sent (RFC 3461 §4.4: 100 characters).
pub const MAX_ENVID: usize = 100;
/// The longest `ORCPT` value, `rfc822;` and the encoded address together, as sent
/// (RFC 3461 §4.2: 500 characters).
pub const MAX_ORCPT: usize = 500;

/// Why a DSN parameter or an xtext string was refused. Always the caller's data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsnError {
    /// Not xtext (RFC 3461 §4): a character outside `!`..=`~`, a raw `=`, or a `+` not
    /// followed by two upper-case hex digits; the octet offset of the first fault.
    #[error("malformed xtext at octet {0}")]
    Xtext(usize),
    /// A character that is not printable US-ASCII (RFC 3461 §4.4).
    #[error("{0} is not printable ASCII")]
    NotPrintable(&'static str),
    /// Empty where a value is required.
    #[error("empty {0}")]
    Empty(&'static str),
    /// Longer than RFC 3461 allows once encoded.
    #[error("{what} longer than {max} characters")]
    TooLong {
        /// Which parameter.
        what: &'static str,
        /// Its limit.
        max: usize,
    },
    /// A `NOTIFY` value that is neither `NEVER` nor a list of `SUCCESS`, `FAILURE` and
    /// `DELAY` (RFC 3461 §4.1).
    #[error("malformed NOTIFY value")]
    Notify,
}

/// Encodes octets as xtext (RFC 3461 §4): `!` to `~` stay as they are, except `+` and
/// `=`; every other octet becomes `+XX`, upper-case hex.
///
/// ```
/// use smtp_courier::proto::dsn::xtext_encode;
/// assert_eq!(xtext_encode(b"a+b=c d"), "a+2Bb+3Dc+20d");
/// ```
pub fn xtext_encode(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(data.len());
    for &b in data {
        if is_xchar(b) {
            out.push(char::from(b));
        } else {
            out.push('+');
            for nibble in [b >> 4, b & 0x0f] {
                out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
            }
        }
    }
    out
}

/// Decodes xtext (RFC 3461 §4) back to octets.
///
/// # Errors
/// [`DsnError::Xtext`] with the offset of a character that is not `xchar`, or of a `+`
/// not followed by two upper-case hex digits (the grammar's `hexchar`).
pub fn xtext_decode(s: &str) -> Result<Vec<u8>, DsnError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while let Some(&b) = bytes.get(pos) {
        if b == b'+' {
            let hi = bytes.get(pos.saturating_add(1)).and_then(|&h| hex_value(h));
            let lo = bytes.get(pos.saturating_add(2)).and_then(|&h| hex_value(h));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(DsnError::Xtext(pos));
            };
            out.push(hi << 4 | lo);
            pos = pos.saturating_add(3);
        } else if is_xchar(b) {
            out.push(b);
            pos = pos.saturating_add(1);
        } else {
            return Err(DsnError::Xtext(pos));
        }
    }
    Ok(out)
}

/// RFC 3461 §4: `xchar` is `!` (33) to `~` (126) but `+` and `=`.
fn is_xchar(b: u8) -> bool {
    (b'!'..=b'~').contains(&b) && b != b'+' && b != b'='
}

/// An upper-case hex digit's value (`hexchar` allows no lower case).
fn hex_value(h: u8) -> Option<u8> {
    match h {
        b'0'..=b'9' => Some(h.wrapping_sub(b'0')),
        b'A'..=b'F' => Some(h.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// The conditions for a DSN on one recipient: a non-empty set of SUCCESS, FAILURE and
/// DELAY, built from the constants with `|`.
///
/// ```
/// use smtp_courier::proto::NotifyOn;
/// let on = NotifyOn::FAILURE | NotifyOn::DELAY;
/// assert!(on.failure() && on.delay() && !on.success());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotifyOn {
    success: bool,
    failure: bool,
    delay: bool,
}

impl NotifyOn {
    /// Notify on successful delivery.
    pub const SUCCESS: Self = Self {
        success: true,
        failure: false,
        delay: false,
    };
    /// Notify on failure.
    pub const FAILURE: Self = Self {
        success: false,
        failure: true,
        delay: false,
    };
    /// Notify on delay.
    pub const DELAY: Self = Self {
        success: false,
        failure: false,
        delay: true,
    };

    /// SUCCESS is in the set.
    pub fn success(self) -> bool {
        self.success
    }

    /// FAILURE is in the set.
    pub fn failure(self) -> bool {
        self.failure
    }

    /// DELAY is in the set.
    pub fn delay(self) -> bool {
        self.delay
    }
}

impl BitOr for NotifyOn {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self {
            success: self.success || other.success,
            failure: self.failure || other.failure,
            delay: self.delay || other.delay,
        }
    }
}

/// `NOTIFY=` on RCPT (RFC 3461 §4.1): never send a DSN, or send one on the conditions
/// given. Without it the server decides (usually FAILURE and DELAY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`; it cannot be combined with the others.
    Never,
    /// `NOTIFY=SUCCESS,FAILURE,DELAY` or a subset, always written in that order.
    On(NotifyOn),
}

impl Notify {
    /// The RCPT parameter.
    pub fn to_param(&self) -> EsmtpParam {
        EsmtpParam::from_checked("NOTIFY", self.to_string())
    }

    /// Parses a `NOTIFY` value, any case: `NEVER`, or a comma-separated list of
    /// `SUCCESS`, `FAILURE` and `DELAY` (repeats allowed).
    ///
    /// # Errors
    /// [`DsnError::Notify`] for an empty list or element, an unknown condition, or
    /// `NEVER` together with another.
    pub fn parse(value: &str) -> Result<Self, DsnError> {
        if value.eq_ignore_ascii_case("NEVER") {
            return Ok(Self::Never);
        }
        let mut on: Option<NotifyOn> = None;
        for element in value.split(',') {
            let one = match element.to_ascii_uppercase().as_str() {
                "SUCCESS" => NotifyOn::SUCCESS,
                "FAILURE" => NotifyOn::FAILURE,
                "DELAY" => NotifyOn::DELAY,
                _ => return Err(DsnError::Notify),
            };
            on = Some(on.map_or(one, |set| set | one));
        }
        on.map(Self::On).ok_or(DsnError::Notify)
    }
}

impl fmt::Display for Notify {
    /// The value as sent: `NEVER` or `SUCCESS,FAILURE,DELAY` (or a subset).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = match self {
            Self::Never => return f.write_str("NEVER"),
            Self::On(on) => on,
        };
        let names = [
            (on.success, "SUCCESS"),
            (on.failure, "FAILURE"),
            (on.delay, "DELAY"),
        ];
        let mut first = true;
        for (_, name) in names.iter().filter(|(set, _)| *set) {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
        Ok(())
    }
}

impl From<Notify> for EsmtpParam {
    fn from(n: Notify) -> Self {
        n.to_param()
    }
}

/// `RET=` on MAIL (RFC 3461 §4.3): whether a failure DSN returns the whole message or
/// only its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`.
    Full,
    /// `RET=HDRS`.
    Hdrs,
}

impl Ret {
    /// The MAIL parameter.
    pub fn to_param(self) -> EsmtpParam {
        let value = match self {
            Self::Full => "FULL",
            Self::Hdrs => "HDRS",
        };
        EsmtpParam::from_checked("RET", value.to_owned())
    }
}

impl From<Ret> for EsmtpParam {
    fn from(r: Ret) -> Self {
        r.to_param()
    }
}

/// `ENVID=` on MAIL (RFC 3461 §4.4): an envelope identifier the DSN reports back, so the
/// sender can match it to the message. Printable US-ASCII, sent as xtext, at most
/// [`MAX_ENVID`] characters once encoded.
///
/// ```
/// use smtp_courier::proto::EnvId;
/// let id = EnvId::new("batch 7+1").unwrap();
/// assert_eq!(id.as_str(), "batch 7+1");
/// assert_eq!(id.to_param().to_string(), "ENVID=batch+207+2B1");
/// assert!(EnvId::new("bad\r\nRSET").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvId {
    id: String,
    xtext: String,
}

impl EnvId {
    /// Checks and encodes an identifier.
    ///
    /// # Errors
    /// Empty, a character outside printable US-ASCII (space to `~`), or longer than
    /// [`MAX_ENVID`] once encoded.
    pub fn new(id: impl Into<String>) -> Result<Self, DsnError> {
        const WHAT: &str = "ENVID";
        let id = id.into();
        if id.is_empty() {
            return Err(DsnError::Empty(WHAT));
        }
        // RFC 3461 §4.4: "printable (graphic and white space) characters from the US-ASCII
        // repertoire"; white space is taken as the space alone (a tab is a control).
        if !id.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(DsnError::NotPrintable(WHAT));
        }
        let xtext = xtext_encode(id.as_bytes());
        // The limit is applied to the value as sent, which is never shorter than the id.
        if xtext.len() > MAX_ENVID {
            return Err(DsnError::TooLong {
                what: WHAT,
                max: MAX_ENVID,
            });
        }
        Ok(Self { id, xtext })
    }

    /// The identifier as given.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The identifier as sent, xtext-encoded.
    pub fn xtext(&self) -> &str {
        &self.xtext
    }

    /// The MAIL parameter.
    pub fn to_param(&self) -> EsmtpParam {
        EsmtpParam::from_checked("ENVID", self.xtext.clone())
    }
}

impl From<&EnvId> for EsmtpParam {
    fn from(id: &EnvId) -> Self {
        id.to_param()
    }
}

/// `ORCPT=` on RCPT (RFC 3461 §4.2): the original recipient, as `rfc822;` and the
/// xtext-encoded address, at most [`MAX_ORCPT`] characters.
///
/// A non-ASCII (SMTPUTF8) address has its UTF-8 octets xtext-encoded (`é` is `+C3+A9`):
/// 7-bit and safe on the wire, and decoded back to the same octets. RFC 3461 itself asks
/// for an ASCII address; the `utf-8` address type of RFC 6533 is not implemented.
///
/// ```
/// use smtp_courier::proto::{Mailbox, Orcpt};
/// let to: Mailbox = "Pelé@exemple.fr".parse().unwrap();
/// assert_eq!(Orcpt::rfc822(&to).unwrap().value(), "rfc822;Pel+C3+A9@exemple.fr");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orcpt {
    value: String,
}

impl Orcpt {
    /// The ORCPT for `address`, address type `rfc822`.
    ///
    /// # Errors
    /// [`DsnError::TooLong`] when the encoded value exceeds [`MAX_ORCPT`] (possible only for
    /// long non-ASCII addresses: an ASCII [`Mailbox`] always fits).
    pub fn rfc822(address: &Mailbox) -> Result<Self, DsnError> {
        let mut value = String::from("rfc822;");
        value.push_str(&xtext_encode(address.as_str().as_bytes()));
        if value.len() > MAX_ORCPT {
            return Err(DsnError::TooLong {
                what: "ORCPT",
                max: MAX_ORCPT,
            });
        }
        Ok(Self { value })
    }

    /// The value as sent, `rfc822;` included.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The RCPT parameter.
    pub fn to_param(&self) -> EsmtpParam {
        EsmtpParam::from_checked("ORCPT", self.value.clone())
    }
}

impl From<&Orcpt> for EsmtpParam {
    fn from(o: &Orcpt) -> Self {
        o.to_param()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(p: EsmtpParam) -> String {
        p.to_string()
    }

    #[test]
    fn xtext_round_trips_byte_exact() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"plain!~", "plain!~"),
            (b"a+b=c d", "a+2Bb+3Dc+20d"),
            (b"\r\n\0\x7f\xff", "+0D+0A+00+7F+FF"),
            ("é".as_bytes(), "+C3+A9"),
        ];
        for (raw, encoded) in cases {
            assert_eq!(xtext_encode(raw), *encoded);
            assert_eq!(xtext_decode(encoded).as_deref(), Ok(*raw));
        }
        // Every octet survives the round trip.
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(xtext_decode(&xtext_encode(&all)), Ok(all));
    }

    #[test]
    fn xtext_decode_refuses_what_the_grammar_does() {
        assert_eq!(xtext_decode("ab+2B"), Ok(b"ab+".to_vec()));
        for (bad, at) in [
            ("ab+2b", 2),
            ("+2", 0),
            ("x+", 1),
            ("+G0", 0),
            ("a=b", 1),
            ("a b", 1),
            ("a\r\n", 1),
            ("é", 0),
        ] {
            assert_eq!(xtext_decode(bad), Err(DsnError::Xtext(at)), "{bad:?}");
        }
    }

    #[test]
    fn notify_byte_exact() {
        assert_eq!(param(Notify::Never.to_param()), "NOTIFY=NEVER");
        let all = NotifyOn::DELAY | NotifyOn::SUCCESS | NotifyOn::FAILURE;
        assert_eq!(
            param(Notify::On(all).into()),
            "NOTIFY=SUCCESS,FAILURE,DELAY"
        );
        let some = NotifyOn::DELAY | NotifyOn::SUCCESS;
        assert_eq!(param(Notify::On(some).into()), "NOTIFY=SUCCESS,DELAY");
        assert_eq!(
            param(Notify::On(NotifyOn::FAILURE).into()),
            "NOTIFY=FAILURE"
        );
        assert_eq!(Notify::parse("never"), Ok(Notify::Never));
        assert_eq!(Notify::parse("delay,Success,DELAY"), Ok(Notify::On(some)));
        for bad in [
            "",
            ",",
            "SUCCESS,",
            "NEVER,SUCCESS",
            "SUCCESS,NEVER",
            "BOGUS",
            "SUCCESS FAILURE",
        ] {
            assert_eq!(Notify::parse(bad), Err(DsnError::Notify), "{bad:?}");
        }
    }

    #[test]
    fn ret_byte_exact() {
        assert_eq!(param(Ret::Full.into()), "RET=FULL");
        assert_eq!(param(Ret::Hdrs.to_param()), "RET=HDRS");
    }

    #[test]
    fn envid() {
        let id = EnvId::new("QQ314159").unwrap();
        assert_eq!(param(id.to_param()), "ENVID=QQ314159");
        let id = EnvId::new("a+b=c d").unwrap();
        assert_eq!(id.xtext(), "a+2Bb+3Dc+20d");
        assert_eq!(param((&id).into()), "ENVID=a+2Bb+3Dc+20d");
        assert!(EnvId::new("x".repeat(MAX_ENVID)).is_ok());
        let too_long = DsnError::TooLong {
            what: "ENVID",
            max: MAX_ENVID,
        };
        assert_eq!(EnvId::new("x".repeat(MAX_ENVID + 1)), Err(too_long.clone()));
        // 34 spaces are 102 characters once encoded; 33 are 99.
        assert!(EnvId::new(" ".repeat(33)).is_ok());
        assert_eq!(EnvId::new(" ".repeat(34)), Err(too_long));
        assert_eq!(EnvId::new(""), Err(DsnError::Empty("ENVID")));
        for bad in ["id\r\nRSET", "id\0", "tab\there", "é"] {
            assert_eq!(
                EnvId::new(bad),
                Err(DsnError::NotPrintable("ENVID")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn orcpt() {
        let orcpt = |a: &str| Orcpt::rfc822(&Mailbox::new(a).unwrap()).map(|o| param(o.to_param()));
        assert_eq!(
            orcpt("user@example.org").unwrap(),
            "ORCPT=rfc822;user@example.org"
        );
        assert_eq!(
            orcpt("user+tag=x@example.org").unwrap(),
            "ORCPT=rfc822;user+2Btag+3Dx@example.org"
        );
        assert_eq!(
            orcpt("\"john doe\"@example.org").unwrap(),
            "ORCPT=rfc822;\"john+20doe\"@example.org"
        );
        // UTF-8 octets are xtext-encoded one by one.
        assert_eq!(
            orcpt("Pelé@exemple.fr").unwrap(),
            "ORCPT=rfc822;Pel+C3+A9@exemple.fr"
        );
        assert_eq!(
            xtext_decode("Pel+C3+A9@exemple.fr").unwrap(),
            "Pelé@exemple.fr".as_bytes()
        );
        // The longest ASCII mailbox fits; a long non-ASCII one does not.
        let label = "a".repeat(62);
        let ascii = format!("{}@{label}.{label}.{label}.fr", "b".repeat(60));
        assert!(orcpt(&ascii).unwrap().len() < MAX_ORCPT);
        let label = "é".repeat(31);
        let utf8 = format!("{}@{label}.{label}.{label}.fr", "é".repeat(30));
        assert_eq!(
            orcpt(&utf8),
            Err(DsnError::TooLong {
                what: "ORCPT",
                max: MAX_ORCPT
            })
        );
    }
}
