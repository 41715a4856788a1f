//! Service extensions learned from the EHLO reply (RFC 5321 §4.1.1.1, §2.2.2).

use bytes::Bytes;

use super::reply::{Reply, escape_text, push_escaped};

/// What the server offered in its EHLO reply: the known keywords typed, every keyword kept
/// in order (upper-cased, with its parameters) for reports.
///
/// ```
/// use bytes::BytesMut;
/// use smtp_courier::proto::{Capabilities, ReplyParser};
/// let mut buf = BytesMut::from(&b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 AUTH PLAIN LOGIN\r\n"[..]);
/// let reply = ReplyParser::new().parse(&mut buf).unwrap().unwrap();
/// let caps = Capabilities::from_ehlo(&reply);
/// assert!(caps.pipelining());
/// assert_eq!(caps.size(), Some(Some(1000)));
/// assert_eq!(caps.auth_mechanisms(), ["PLAIN", "LOGIN"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    domain: Bytes,
    keywords: Vec<(String, String)>,
    pipelining: bool,
    size: Option<Option<u64>>,
    eight_bit_mime: bool,
    smtputf8: bool,
    enhanced_status_codes: bool,
    starttls: bool,
    auth: Vec<String>,
    chunking: bool,
    binarymime: bool,
    dsn: bool,
    requiretls: bool,
    limits: Option<Limits>,
}

/// The LIMITS extension's values (RFC 9422); each is `None` when not given.
///
/// As parsed from EHLO a value is always 1 to 999999: a limit whose value is not 1 to 6
/// digits, or is zero, is ignored as if not given, and so is an unknown limit name. A
/// limit given twice keeps its smaller value, so honouring it never exceeds either.
/// [`Limits::split_recipients`] plans transactions that honour RCPTMAX and RCPTDOMAINMAX.
///
/// More limits may be registered (RFC 9422 §6), so the struct is `#[non_exhaustive]`:
/// build one with [`Limits::new`] and the `with_*` setters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// RCPTMAX: recipients per transaction.
    pub rcpt_max: Option<u32>,
    /// MAILMAX: transactions per connection.
    pub mail_max: Option<u32>,
    /// RCPTDOMAINMAX: distinct recipient domains per transaction.
    pub rcpt_domain_max: Option<u32>,
}

/// The most digits a registered limit's value has (RFC 9422 §4: `1*6DIGIT`).
const MAX_LIMIT_DIGITS: usize = 6;

impl Limits {
    /// No limits: every value `None`, as [`Limits::default`].
    pub const fn new() -> Self {
        Self {
            rcpt_max: None,
            mail_max: None,
            rcpt_domain_max: None,
        }
    }

    /// The same limits with RCPTMAX `n`.
    pub const fn with_rcpt_max(mut self, n: u32) -> Self {
        self.rcpt_max = Some(n);
        self
    }

    /// The same limits with MAILMAX `n`.
    pub const fn with_mail_max(mut self, n: u32) -> Self {
        self.mail_max = Some(n);
        self
    }

    /// The same limits with RCPTDOMAINMAX `n`.
    pub const fn with_rcpt_domain_max(mut self, n: u32) -> Self {
        self.rcpt_domain_max = Some(n);
        self
    }

    /// Takes one `limit-name ["=" limit-value]` (RFC 9422 §3). Unknown names are ignored
    /// (RFC 9422 §3: a client ignores limits it does not know), and so is a known limit
    /// whose value is not valid, rather than the whole keyword: honouring the limits the
    /// server did state well can only help.
    fn apply(&mut self, token: &str) {
        let Some((name, value)) = token.split_once('=') else {
            return;
        };
        let slot = match name.to_ascii_uppercase().as_str() {
            "RCPTMAX" => &mut self.rcpt_max,
            "MAILMAX" => &mut self.mail_max,
            "RCPTDOMAINMAX" => &mut self.rcpt_domain_max,
            _ => return,
        };
        // RFC 9422 §4: the value is 1*6DIGIT and a limit of zero makes no sense, so
        // "0", "+5", "-1", "5x", "" and 7 or more digits are all ignored.
        let valid = (1..=MAX_LIMIT_DIGITS).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_digit());
        let Some(n) = value.parse::<u32>().ok().filter(|n| valid && *n > 0) else {
            return;
        };
        // Given twice: the smaller value satisfies both.
        *slot = Some(slot.map_or(n, |old| old.min(n)));
    }
}

impl Capabilities {
    /// Reads the EHLO reply: the first line is the server's domain and greeting, each
    /// further line one keyword and its parameters (RFC 5321 §4.1.1.1).
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Self::default();
        let mut lines = reply.lines().iter();
        if let Some(first) = lines.next() {
            caps.domain = first.clone();
        }
        for line in lines {
            let text = String::from_utf8_lossy(line);
            let mut words = text.split_ascii_whitespace();
            let Some(word) = words.next() else { continue };
            // Old servers write "AUTH=PLAIN LOGIN" (pre-RFC 4954 syntax).
            let (keyword, first_param) = match word.split_once('=') {
                Some((k, p)) => (k.to_ascii_uppercase(), Some(p)),
                None => (word.to_ascii_uppercase(), None),
            };
            // RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), so
            // "=PLAIN" (an empty keyword) and "-X" are not keywords.
            let starts_ok = keyword.starts_with(|c: char| c.is_ascii_alphanumeric());
            if !starts_ok
                || !keyword
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                continue;
            }
            let params: Vec<&str> = first_param
                .into_iter()
                .filter(|p| !p.is_empty())
                .chain(words)
                .collect();
            caps.apply(&keyword, &params);
            let joined = params.join(" ");
            if !caps
                .keywords
                .iter()
                .any(|(k, p)| *k == keyword && *p == joined)
            {
                caps.keywords.push((keyword, joined));
            }
        }
        caps
    }

    fn apply(&mut self, keyword: &str, params: &[&str]) {
        match keyword {
            "PIPELINING" => self.pipelining = true,
            // RFC 1870 §4: "SIZE" alone or "SIZE 0" means no fixed limit.
            "SIZE" => {
                let limit = params
                    .first()
                    .and_then(|p| p.parse::<u64>().ok())
                    .filter(|n| *n > 0);
                self.size = Some(limit);
            }
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "STARTTLS" => self.starttls = true,
            "AUTH" => {
                for m in params {
                    let m = m.to_ascii_uppercase();
                    if !self.auth.contains(&m) {
                        self.auth.push(m);
                    }
                }
            }
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binarymime = true,
            "DSN" => self.dsn = true,
            "REQUIRETLS" => self.requiretls = true,
            "LIMITS" => {
                // A second LIMITS line adds to the first rather than replacing it.
                let limits = self.limits.get_or_insert_with(Limits::default);
                for p in params {
                    limits.apply(p);
                }
            }
            _ => {}
        }
    }

    /// The first line of the EHLO reply: the server's domain and free text.
    ///
    /// Raw server bytes, exactly as received: they may hold control characters (an ESC
    /// sequence that recolours or clears a terminal), bidirectional controls or invalid
    /// UTF-8. Never print or log them as they are: use
    /// [`Capabilities::domain_line_escaped`].
    pub fn domain_line(&self) -> &[u8] {
        &self.domain
    }

    /// [`Capabilities::domain_line`] made safe to show, as [`escape_text`] does.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use smtp_courier::proto::{Capabilities, ReplyParser};
    /// let mut buf = BytesMut::from(&b"250-mx.example \x1b[2J hi\r\n250 X-ODD \x1b]0;pwned\x07\r\n"[..]);
    /// let caps = Capabilities::from_ehlo(&ReplyParser::new().parse(&mut buf).unwrap().unwrap());
    /// assert_eq!(caps.domain_line(), b"mx.example \x1b[2J hi");
    /// assert_eq!(caps.domain_line_escaped(), "mx.example \\u{1b}[2J hi");
    /// assert_eq!(caps.keywords().next().unwrap(), "X-ODD \x1b]0;pwned\x07");
    /// assert_eq!(caps.keywords_escaped().next().unwrap(), "X-ODD \\u{1b}]0;pwned\\u{7}");
    /// ```
    pub fn domain_line_escaped(&self) -> String {
        escape_text(&self.domain)
    }

    /// Every keyword in the order offered, upper-cased, with its parameters joined by one
    /// space (`"SIZE 10240000"`).
    ///
    /// The keyword is checked (letters, digits, hyphens), but the parameters are the
    /// server's text (invalid UTF-8 replaced with U+FFFD), which may hold control
    /// characters such as ESC sequences. To print or log them use
    /// [`Capabilities::keywords_escaped`].
    pub fn keywords(&self) -> impl Iterator<Item = String> + '_ {
        self.keywords.iter().map(|(k, p)| {
            if p.is_empty() {
                k.clone()
            } else {
                format!("{k} {p}")
            }
        })
    }

    /// [`Capabilities::keywords`] made safe to show, as [`escape_text`] does.
    pub fn keywords_escaped(&self) -> impl Iterator<Item = String> + '_ {
        self.keywords().map(|k| {
            let mut out = String::with_capacity(k.len());
            push_escaped(&mut out, k.as_bytes());
            out
        })
    }

    /// True if `keyword` (any case) was offered.
    pub fn has(&self, keyword: &str) -> bool {
        self.keywords
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }

    /// PIPELINING (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    /// SIZE (RFC 1870): `None` if not offered, `Some(None)` if offered without a limit.
    pub fn size(&self) -> Option<Option<u64>> {
        self.size
    }

    /// 8BITMIME (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.eight_bit_mime
    }

    /// SMTPUTF8 (RFC 6531).
    pub fn smtputf8(&self) -> bool {
        self.smtputf8
    }

    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.enhanced_status_codes
    }

    /// STARTTLS (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.starttls
    }

    /// The AUTH mechanisms offered (RFC 4954), upper-cased, in the server's order.
    pub fn auth_mechanisms(&self) -> &[String] {
        &self.auth
    }

    /// CHUNKING (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.chunking
    }

    /// BINARYMIME (RFC 3030).
    pub fn binarymime(&self) -> bool {
        self.binarymime
    }

    /// DSN (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.dsn
    }

    /// REQUIRETLS (RFC 8689).
    pub fn requiretls(&self) -> bool {
        self.requiretls
    }

    /// LIMITS (RFC 9422).
    pub fn limits(&self) -> Option<Limits> {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ReplyParser;
    use bytes::BytesMut;

    fn caps(input: &[u8]) -> Capabilities {
        let mut buf = BytesMut::from(input);
        Capabilities::from_ehlo(&ReplyParser::new().parse(&mut buf).unwrap().unwrap())
    }

    #[test]
    fn postfix_submission() {
        let c = caps(
            b"250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
              250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n250-ENHANCEDSTATUSCODES\r\n\
              250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        );
        assert_eq!(c.domain_line(), b"mx.test.example");
        assert!(c.pipelining() && c.eight_bit_mime() && c.smtputf8() && c.dsn() && c.chunking());
        assert!(c.enhanced_status_codes());
        assert!(!c.starttls() && !c.requiretls() && !c.binarymime());
        assert_eq!(c.size(), Some(Some(10_240_000)));
        assert_eq!(
            c.auth_mechanisms(),
            ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
        );
        let kw: Vec<String> = c.keywords().collect();
        assert_eq!(kw[0], "PIPELINING");
        assert_eq!(kw[1], "SIZE 10240000");
        assert_eq!(kw[2], "VRFY");
        assert!(c.has("etrn"));
    }

    #[test]
    fn odd_forms() {
        let c = caps(b"250-x\r\n250-auth=login plain\r\n250-size\r\n250-starttls\r\n250-LIMITS RCPTMAX=50 MAILMAX=10\r\n250-X-ODD  a   b\r\n250-bad!kw\r\n250 \r\n");
        assert_eq!(c.auth_mechanisms(), ["LOGIN", "PLAIN"]);
        assert_eq!(c.size(), Some(None));
        assert!(c.starttls());
        assert_eq!(
            c.limits(),
            Some(Limits {
                rcpt_max: Some(50),
                mail_max: Some(10),
                rcpt_domain_max: None
            })
        );
        let kw: Vec<String> = c.keywords().collect();
        assert_eq!(
            kw,
            [
                "AUTH login plain",
                "SIZE",
                "STARTTLS",
                "LIMITS RCPTMAX=50 MAILMAX=10",
                "X-ODD a b"
            ]
        );
        assert_eq!(caps(b"250 only.domain\r\n").keywords().count(), 0);
    }

    fn limits(line: &str) -> Option<Limits> {
        caps(format!("250-x\r\n250 {line}\r\n").as_bytes()).limits()
    }

    fn rcpt_max(n: Option<u32>) -> Option<Limits> {
        Some(Limits {
            rcpt_max: n,
            ..Limits::default()
        })
    }

    #[test]
    fn limits_all_three_any_case() {
        assert_eq!(
            limits("LIMITS rcptmax=100 MailMax=5 RCPTDOMAINMAX=999999"),
            Some(Limits {
                rcpt_max: Some(100),
                mail_max: Some(5),
                rcpt_domain_max: Some(999_999),
            })
        );
        assert_eq!(limits("LIMITS"), Some(Limits::default()));
        assert_eq!(limits("PIPELINING"), None);
        // Leading zeros are still 1*6DIGIT.
        assert_eq!(limits("LIMITS RCPTMAX=000050"), rcpt_max(Some(50)));
    }

    /// RFC 9422 §4: a value that is not 1*6DIGIT, or is zero, is ignored, not read as
    /// "no limit" over a good value and not as a huge or zero limit.
    #[test]
    fn limits_junk_values_are_ignored() {
        for junk in [
            "0",
            "00",
            "-1",
            "+5",
            "5x",
            "x5",
            "",
            "1000000",
            "4294967296",
            "99999999999999999999",
            "1.5",
            "1e3",
            "٣",
        ] {
            assert_eq!(
                limits(&format!("LIMITS RCPTMAX={junk}")),
                rcpt_max(None),
                "{junk:?}"
            );
            // A junk duplicate does not undo a good value, before or after it.
            assert_eq!(
                limits(&format!("LIMITS RCPTMAX=20 RCPTMAX={junk}")),
                rcpt_max(Some(20)),
                "{junk:?}"
            );
            assert_eq!(
                limits(&format!("LIMITS RCPTMAX={junk} RCPTMAX=20")),
                rcpt_max(Some(20)),
                "{junk:?}"
            );
        }
        // No value, a bare "=", unknown names: ignored; the good limit next to them stays.
        assert_eq!(
            limits("LIMITS RCPTMAX RCPTMAX= =7 FUTUREMAX=3 X_Y=z=w RCPTMAX=9"),
            rcpt_max(Some(9))
        );
    }

    #[test]
    fn limits_duplicates_keep_the_smaller() {
        assert_eq!(limits("LIMITS RCPTMAX=50 RCPTMAX=10"), rcpt_max(Some(10)));
        assert_eq!(limits("LIMITS RCPTMAX=10 RCPTMAX=50"), rcpt_max(Some(10)));
        // Two LIMITS lines are merged the same way.
        let c = caps(b"250-x\r\n250-LIMITS RCPTMAX=10\r\n250 LIMITS MAILMAX=3 RCPTMAX=40\r\n");
        assert_eq!(
            c.limits(),
            Some(Limits {
                rcpt_max: Some(10),
                mail_max: Some(3),
                rcpt_domain_max: None,
            })
        );
    }

    #[test]
    fn escaped_forms_neutralise_terminal_controls() {
        let c = caps(
            b"250-mx.example\x1b[2J\xe2\x80\xae\r\n250-X-EVIL a\x1b[31mred\x9b\r\n250 SIZE 100\r\n",
        );
        // The raw forms keep the server's bytes.
        assert_eq!(c.domain_line(), b"mx.example\x1b[2J\xe2\x80\xae");
        let raw: Vec<String> = c.keywords().collect();
        assert_eq!(raw, ["X-EVIL a\u{1b}[31mred\u{fffd}", "SIZE 100"]);
        // The escaped ones: no ESC, no bidi override left.
        assert_eq!(c.domain_line_escaped(), "mx.example\\u{1b}[2J\\u{202e}");
        let shown: Vec<String> = c.keywords_escaped().collect();
        assert_eq!(shown, ["X-EVIL a\\u{1b}[31mred\u{fffd}", "SIZE 100"]);
        // Twin: plain text is the same either way.
        let c = caps(b"250-mx.example ESMTP\r\n250 PIPELINING\r\n");
        assert_eq!(c.domain_line_escaped().as_bytes(), c.domain_line());
        assert!(c.keywords().eq(c.keywords_escaped()));
    }

    /// Regression (fuzz corpus `ehlo_capabilities/empty_keyword`): "=PLAIN" used to be kept
    /// as an empty keyword, and "-X" as a keyword starting with a hyphen.
    #[test]
    fn keyword_must_start_with_letter_or_digit() {
        let c = caps(b"250-x\r\n250-=PLAIN\r\n250--X\r\n250 8BITMIME\r\n");
        assert_eq!(c.keywords().collect::<Vec<_>>(), ["8BITMIME"]);
        assert!(c.auth_mechanisms().is_empty() && !c.has(""));
    }
}
