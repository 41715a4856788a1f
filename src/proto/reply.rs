//! Replies and the incremental reply parser (RFC 5321 §4.2).

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use super::code::{EnhancedCode, ReplyCode};

/// The longest reply line accepted, CRLF included.
///
/// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets. Real servers exceed it (long
/// `AUTH` lists, wrapped diagnostics), so we accept four times that and no more: a longer
/// line is a protocol error, never a larger buffer.
pub const MAX_REPLY_LINE: usize = 2048;

/// The most lines one reply may have. An EHLO reply from a real server has about 10 to 20;
/// a server that keeps sending `250-` lines is cut off here.
pub const MAX_REPLY_LINES: usize = 128;

/// The most octets one reply may have, all lines together.
pub const MAX_REPLY_SIZE: usize = 32 * 1024;

/// A complete reply: a code, the text of each line (byte-exact), and the enhanced status
/// code when the session has RFC 2034 codes in effect.
///
/// ```
/// use bytes::BytesMut;
/// use smtp_courier::proto::ReplyParser;
/// let mut buf = BytesMut::from(&b"250-mx.example\r\n250 PIPELINING\r\n"[..]);
/// let reply = ReplyParser::new().parse(&mut buf).unwrap().unwrap();
/// assert_eq!(reply.code().as_u16(), 250);
/// assert_eq!(reply.lines().len(), 2);
/// assert!(buf.is_empty());
/// ```
#[derive(Clone)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    lines: Lines,
}

/// The text of a reply's lines. Most replies have one line: it is kept without a list, so
/// that parsing and copying such a reply allocates nothing (the line shares the read
/// buffer's memory).
#[derive(Clone)]
enum Lines {
    One(Bytes),
    Many(Vec<Bytes>),
}

impl Lines {
    fn as_slice(&self) -> &[Bytes] {
        match self {
            Self::One(line) => std::slice::from_ref(line),
            Self::Many(lines) => lines,
        }
    }
}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.enhanced == other.enhanced && self.lines() == other.lines()
    }
}

impl Eq for Reply {}

impl Reply {
    /// A reply built from parts; the text of each line must not contain CR or LF.
    /// Mostly useful in tests and servers. The enhanced code is not derived from the text:
    /// call [`Reply::with_enhanced_code_from_text`] for that.
    pub fn new(code: ReplyCode, mut lines: Vec<Bytes>) -> Self {
        let lines = match lines.pop() {
            Some(line) if lines.is_empty() => Lines::One(line),
            Some(line) => {
                lines.push(line);
                Lines::Many(lines)
            }
            None => Lines::Many(lines),
        };
        Self {
            code,
            enhanced: None,
            lines,
        }
    }

    /// A reply of one line.
    fn one(code: ReplyCode, line: Bytes) -> Self {
        Self {
            code,
            enhanced: None,
            lines: Lines::One(line),
        }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, when the server advertised ENHANCEDSTATUSCODES and the
    /// first line starts with one whose class matches the reply code (RFC 2034 §4).
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line as received: after the code and separator, before CRLF.
    pub fn lines(&self) -> &[Bytes] {
        self.lines.as_slice()
    }

    /// Each line's text without the enhanced code, when one is in effect.
    pub fn text_lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines().iter().map(move |line| match self.enhanced {
            Some(code) => match EnhancedCode::parse_prefix(line) {
                Some((c, rest)) if c == code => rest,
                _ => line,
            },
            None => line,
        })
    }

    /// The text of the reply as a string: lines joined with `\n`, without the code, the
    /// separator or the enhanced code; bytes that are not printable UTF-8 are escaped.
    pub fn message(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.text_lines().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            push_escaped(&mut out, line);
        }
        out
    }

    /// Parses the enhanced code at the start of the first line (RFC 2034 §4), keeping it if
    /// its class is the reply code's first digit. The session calls this only when the
    /// server advertised ENHANCEDSTATUSCODES.
    pub fn with_enhanced_code_from_text(mut self) -> Self {
        self.enhanced = self
            .lines()
            .first()
            .and_then(|l| EnhancedCode::parse_prefix(l))
            .map(|(c, _)| c)
            .filter(|c| c.class() == self.code.first_digit());
        self
    }

    /// Encodes the reply as it goes on the wire: a server's job, so only for the unit
    /// tests and the fuzz targets.
    #[cfg(any(fuzzing, test, feature = "__fuzzing"))]
    pub(crate) fn encode(&self, dst: &mut BytesMut) {
        let lines = self.lines();
        let last = lines.len().saturating_sub(1);
        if lines.is_empty() {
            dst.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            dst.extend_from_slice(format!("{}{}", self.code, sep).as_bytes());
            dst.extend_from_slice(line);
            dst.extend_from_slice(b"\r\n");
        }
    }
}

/// Server text made safe to show a person: C0 and C1 controls, DEL, the Unicode
/// bidirectional controls (U+202A–U+202E, U+2066–U+2069) and zero-width characters
/// (U+200B–U+200F) are written as `\u{..}` escapes (tab, CR and LF as `\t`, `\r`, `\n`),
/// invalid UTF-8 as `\xNN`. Nothing the server sends can then move the cursor, clear a
/// terminal, recolour it or reorder what a reader sees.
///
/// ```
/// use smtp_courier::proto::escape_text;
/// assert_eq!(escape_text(b"ok\x1b[2J \xe2\x80\xae!"), "ok\\u{1b}[2J \\u{202e}!");
/// assert_eq!(escape_text(b"mx.example ESMTP"), "mx.example ESMTP");
/// ```
pub fn escape_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_escaped(&mut out, bytes);
    out
}

/// True for a character that must not reach a terminal or a log as it is (see
/// [`escape_text`]).
pub(crate) fn is_unsafe_char(ch: char) -> bool {
    ch.is_control()
        || matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Appends `bytes` to `out`, escaped as [`escape_text`] says.
pub(crate) fn push_escaped(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if is_unsafe_char(ch) {
                out.extend(ch.escape_default());
            } else {
                out.push(ch);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        let msg = self.message();
        if !msg.is_empty() {
            write!(f, " {}", msg.replace('\n', " / "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code)
            .field("enhanced", &self.enhanced)
            .field("message", &self.message())
            .finish()
    }
}

/// What is wrong with a reply the server sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line longer than [`MAX_REPLY_LINE`].
    #[error("reply line longer than {MAX_REPLY_LINE} octets")]
    LineTooLong,
    /// More than [`MAX_REPLY_LINES`] lines.
    #[error("reply has more than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    /// More than [`MAX_REPLY_SIZE`] octets.
    #[error("reply larger than {MAX_REPLY_SIZE} octets")]
    TooLarge,
    /// The line does not start with three digits forming a code in 200..=599.
    #[error("malformed reply code")]
    BadCode,
    /// The code is followed by something other than a space, a hyphen or the line end.
    #[error("malformed reply line separator")]
    BadSeparator,
    /// A NUL octet in a reply line. RFC 5321 §4.2 allows only printable US-ASCII, SP and
    /// HT in reply text; a NUL truncates the line for C-based tools, so what one log shows
    /// and what the client acted on would differ.
    #[error("NUL octet in a reply line")]
    Nul,
    /// A line of a multiline reply has a different code than the first (RFC 5321 §4.2.1).
    #[error("multiline reply mixes codes {first} and {line}")]
    MixedCodes {
        /// The code of the first line.
        first: u16,
        /// The code of the offending line.
        line: u16,
    },
}

/// An incremental reply parser.
///
/// [`ReplyParser::parse`] consumes complete lines from the front of a buffer and returns
/// `Ok(None)` until a whole reply has arrived, so it gives the same result however the
/// bytes are split across reads. Lines end with CRLF; a bare LF is tolerated as a line end
/// (some servers send it), a bare CR stays in the text.
#[derive(Debug, Default)]
pub struct ReplyParser {
    code: Option<ReplyCode>,
    lines: Vec<Bytes>,
    size: usize,
}

impl ReplyParser {
    /// A parser with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when a reply has started but not finished.
    pub fn is_partial(&self) -> bool {
        self.code.is_some()
    }

    /// Parses the next reply from the front of `buf`.
    ///
    /// # Errors
    /// A [`ReplyError`] when the bytes break RFC 5321 §4.2 or a limit. After an error the
    /// stream cannot be resynchronised: the caller drops the connection.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(nl) = memchr::memchr(b'\n', buf) else {
                if buf.len() >= MAX_REPLY_LINE {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            let line_len = nl.saturating_add(1);
            if line_len > MAX_REPLY_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let mut line = buf.split_to(line_len).freeze();
            line.truncate(nl);
            if line.last() == Some(&b'\r') {
                line.truncate(nl.saturating_sub(1));
            }
            if let Some(reply) = self.handle_line(line)? {
                return Ok(Some(reply));
            }
        }
    }

    fn handle_line(&mut self, mut line: Bytes) -> Result<Option<Reply>, ReplyError> {
        if memchr::memchr(0, &line).is_some() {
            // RFC 5321 §4.2: reply text is printable ASCII, SP and HT; never NUL.
            return Err(ReplyError::Nul);
        }
        let code = parse_code(&line)?;
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ReplyError::BadSeparator),
        };
        match self.code {
            Some(first) if first != code => {
                return Err(ReplyError::MixedCodes {
                    first: first.as_u16(),
                    line: code.as_u16(),
                });
            }
            _ => self.code = Some(code),
        }
        line.advance(line.len().min(4));
        self.size = self.size.saturating_add(line.len());
        if self.size > MAX_REPLY_SIZE {
            return Err(ReplyError::TooLarge);
        }
        if self.lines.len() >= MAX_REPLY_LINES {
            return Err(ReplyError::TooManyLines);
        }
        self.size = if last { 0 } else { self.size };
        if last && self.lines.is_empty() {
            // One line: no list to allocate.
            self.code = None;
            return Ok(Some(Reply::one(code, line)));
        }
        self.lines.push(line);
        if !last {
            return Ok(None);
        }
        self.code = None;
        Ok(Some(Reply::new(code, std::mem::take(&mut self.lines))))
    }
}

fn parse_code(line: &[u8]) -> Result<ReplyCode, ReplyError> {
    let digits = line.get(..3).ok_or(ReplyError::BadCode)?;
    let mut value: u16 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return Err(ReplyError::BadCode);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u16::from(d.wrapping_sub(b'0'))))
            .ok_or(ReplyError::BadCode)?;
    }
    ReplyCode::new(value).ok_or(ReplyError::BadCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = p.parse(&mut buf)? {
            out.push(r);
        }
        Ok(out)
    }

    /// Feeds `input` split at every point (and byte by byte) and checks the result is the
    /// same as parsing it whole.
    fn split_everywhere(input: &[u8]) -> Vec<Reply> {
        let whole = parse_all(input).expect("whole input parses");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            let mut p = ReplyParser::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [a, b] {
                buf.extend_from_slice(part);
                while let Some(r) = p.parse(&mut buf).unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, whole, "split at {cut}");
        }
        let mut p = ReplyParser::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in input {
            buf.extend_from_slice(&[*byte]);
            while let Some(r) = p.parse(&mut buf).unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got, whole, "byte by byte");
        whole
    }

    #[test]
    fn single_line() {
        let r = split_everywhere(b"220 mx.test.example ESMTP Postfix\r\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code(), ReplyCode::SERVICE_READY);
        assert_eq!(
            r[0].lines(),
            &[Bytes::from_static(b"mx.test.example ESMTP Postfix")]
        );
    }

    #[test]
    fn multiline_and_following_reply() {
        let r = split_everywhere(
            b"250-mx.test.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n354 go\r\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].lines().len(), 3);
        assert_eq!(&r[0].lines()[2][..], b"SIZE 10240000");
        assert_eq!(r[1].code().as_u16(), 354);
    }

    #[test]
    fn bare_code_and_bare_lf() {
        let r = split_everywhere(b"250\r\n250 ok\n");
        assert_eq!(r.len(), 2);
        assert!(r[0].lines()[0].is_empty());
        assert_eq!(&r[1].lines()[0][..], b"ok");
    }

    #[test]
    fn enhanced_code_and_message() {
        let r = parse_all(b"550-5.1.1 no such\r\n550 5.1.1 user\r\n").unwrap();
        let plain = r[0].clone();
        assert_eq!(plain.enhanced_code(), None);
        assert_eq!(plain.message(), "5.1.1 no such\n5.1.1 user");
        let enh = plain.with_enhanced_code_from_text();
        assert_eq!(
            enh.enhanced_code().map(|c| c.to_string()).as_deref(),
            Some("5.1.1")
        );
        assert_eq!(enh.message(), "no such\nuser");
        // class must match the reply code
        let r = parse_all(b"250 5.1.1 odd\r\n").unwrap();
        assert_eq!(
            r[0].clone().with_enhanced_code_from_text().enhanced_code(),
            None
        );
    }

    #[test]
    fn message_escapes_controls() {
        let r = parse_all(b"250 a\x1b[31mb\rc\xff\r\n").unwrap();
        assert_eq!(r[0].message(), "a\\u{1b}[31mb\\rc\\xff");
    }

    #[test]
    fn escapes_c1_del_bidi_and_zero_width() {
        // C1 CSI (U+009B), DEL, RLO (U+202E), ZWSP (U+200B), LRI (U+2066), PDI (U+2069).
        let text = "a\u{9b}b\u{7f}c\u{202e}d\u{200b}e\u{2066}f\u{2069}g\u{e9}";
        assert_eq!(
            escape_text(text.as_bytes()),
            "a\\u{9b}b\\u{7f}c\\u{202e}d\\u{200b}e\\u{2066}f\\u{2069}g\u{e9}"
        );
        // Letters outside those ranges pass as they are.
        assert_eq!(
            escape_text("r\u{e9}sum\u{e9} \u{4e2d}".as_bytes()),
            "r\u{e9}sum\u{e9} \u{4e2d}"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_all(b"25\r\n"), Err(ReplyError::BadCode));
        assert_eq!(parse_all(b"abc ok\r\n"), Err(ReplyError::BadCode));
        assert_eq!(parse_all(b"199 ok\r\n"), Err(ReplyError::BadCode));
        assert_eq!(parse_all(b"600 ok\r\n"), Err(ReplyError::BadCode));
        assert_eq!(parse_all(b"250_ok\r\n"), Err(ReplyError::BadSeparator));
        assert_eq!(
            parse_all(b"250-a\r\n550 b\r\n"),
            Err(ReplyError::MixedCodes {
                first: 250,
                line: 550
            })
        );
        // positive twins
        assert!(parse_all(b"250 ok\r\n").is_ok());
        assert!(parse_all(b"220 host ESMTP\r\n").is_ok());
        assert!(parse_all(b"250-a\r\n250 b\r\n").is_ok());
    }

    #[test]
    fn nul_in_a_line_is_an_error() {
        assert_eq!(parse_all(b"220 host\0ESMTP\r\n"), Err(ReplyError::Nul));
        assert_eq!(parse_all(b"250-a\r\n250 b\0\r\n"), Err(ReplyError::Nul));
        assert_eq!(parse_all(b"2\x0050 ok\r\n"), Err(ReplyError::Nul));
        // However the bytes are split, and in a line not yet complete once it ends.
        let mut p = ReplyParser::new();
        let mut buf = BytesMut::from(&b"220 host\0"[..]);
        assert_eq!(p.parse(&mut buf), Ok(None));
        buf.extend_from_slice(b"ESMTP\r\n");
        assert_eq!(p.parse(&mut buf), Err(ReplyError::Nul));
        // Twin: other controls are kept (and escaped for display).
        let r = parse_all(b"220 host\x01ESMTP\r\n").unwrap();
        assert_eq!(r[0].message(), "host\\u{1}ESMTP");
    }

    #[test]
    fn line_too_long_without_newline_is_detected_early() {
        let mut p = ReplyParser::new();
        let mut buf = BytesMut::from(&vec![b'2'; MAX_REPLY_LINE - 1][..]);
        assert_eq!(p.parse(&mut buf), Ok(None));
        buf.extend_from_slice(b"5");
        assert_eq!(p.parse(&mut buf), Err(ReplyError::LineTooLong));
        // a line of exactly MAX_REPLY_LINE octets, CRLF included, is fine
        let mut line = b"250 ".to_vec();
        line.resize(MAX_REPLY_LINE - 2, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&line).unwrap().len(), 1);
        line.insert(5, b'x');
        assert_eq!(parse_all(&line), Err(ReplyError::LineTooLong));
    }

    #[test]
    fn too_many_lines_and_too_large() {
        let mut input = b"250-x\r\n".repeat(MAX_REPLY_LINES - 1);
        input.extend_from_slice(b"250 x\r\n");
        assert_eq!(parse_all(&input).unwrap()[0].lines().len(), MAX_REPLY_LINES);
        let input = b"250-x\r\n".repeat(MAX_REPLY_LINES + 1);
        assert_eq!(parse_all(&input), Err(ReplyError::TooManyLines));
        let mut line = b"250-".to_vec();
        line.resize(1000, b'y');
        line.extend_from_slice(b"\r\n");
        let input = line.repeat(MAX_REPLY_SIZE / 990 + 1);
        assert_eq!(parse_all(&input), Err(ReplyError::TooLarge));
    }

    #[test]
    fn built_and_parsed_replies_are_equal() {
        let one = parse_all(b"250 ok\r\n").unwrap().remove(0);
        let built = Reply::new(ReplyCode::OK, vec![Bytes::from_static(b"ok")]);
        assert_eq!(one, built);
        assert_eq!(one.lines(), [Bytes::from_static(b"ok")]);
        let two = parse_all(b"250-a\r\n250 b\r\n").unwrap().remove(0);
        let built = Reply::new(ReplyCode::OK, vec![Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(two, built);
        assert_eq!(two.clone(), two);
        // Twins: another line, another code, no line.
        assert_ne!(one, Reply::new(ReplyCode::OK, vec![Bytes::from("no")]));
        assert_ne!(one, two);
        assert_ne!(
            one,
            Reply::new(ReplyCode::new(251).unwrap(), vec![Bytes::from("ok")])
        );
        let empty = Reply::new(ReplyCode::OK, Vec::new());
        assert!(empty.lines().is_empty());
        let mut out = BytesMut::new();
        empty.encode(&mut out);
        assert_eq!(&out[..], b"250\r\n");
    }

    #[test]
    fn encode_round_trip() {
        let input = b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
        let r = parse_all(input).unwrap();
        let mut out = BytesMut::new();
        r[0].encode(&mut out);
        assert_eq!(&out[..], input);
    }
}
