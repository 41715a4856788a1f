//! The DATA encoder: line-ending normalisation and dot-stuffing (RFC 5321 §4.5.2).

use bytes::BytesMut;

use super::lines::{CrlfText, LineNormalizer, Piece};

/// What to do with a CR or LF that is not part of a CRLF pair.
///
/// Bare line endings on the wire are what SMTP smuggling exploits (CVE-2023-51764,
/// CVE-2023-51765, CVE-2023-51766): a server that reads `\n.\n` as the end of data ends the
/// message where the client did not. The encoder never writes a bare CR or LF either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineEndings {
    /// Turn every bare LF and bare CR into CRLF, so Unix text files send as they are.
    #[default]
    Normalize,
    /// Refuse a bare CR or LF with [`BodyError`].
    Strict,
}

/// Why message data could not be framed: a bare line ending found in strict mode, or data
/// after the message was already ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A LF not preceded by CR.
    #[error("bare LF in message data at octet {0}")]
    BareLf(u64),
    /// A CR not followed by LF.
    #[error("bare CR in message data at octet {0}")]
    BareCr(u64),
    /// Data or a second end after `BDAT ... LAST` was framed: the message is complete, and
    /// [`BdatChunker::reset`](super::BdatChunker::reset) starts the next one. Always the
    /// caller's mistake, never the peer's.
    #[error("message data after BDAT LAST")]
    AfterLast,
    /// The content did not have the length its BDAT chunks were framed for ahead of it
    /// (the crate frames ahead only a message in memory whose length it counted itself).
    /// Never the peer's doing.
    #[error("message data of another length than framed")]
    LengthMismatch,
}

/// Encodes message content for DATA: CRLF line endings, a `.` doubled at the start of each
/// line, and the `CRLF.CRLF` terminator (adding a missing final CRLF).
///
/// ```
/// use bytes::BytesMut;
/// use smtp_courier::proto::body::DotStuffer;
/// let mut enc = DotStuffer::default();
/// let mut out = BytesMut::new();
/// enc.encode(b"Subject: x\n\n.hidden\n.", &mut out).unwrap();
/// enc.finish(&mut out).unwrap();
/// assert_eq!(&out[..], b"Subject: x\r\n\r\n..hidden\r\n..\r\n.\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct DotStuffer {
    lines: LineNormalizer,
    /// At the start of a line: a `.` here must be doubled.
    line_start: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new(LineEndings::Normalize)
    }
}

impl DotStuffer {
    /// An encoder at the start of a message.
    pub fn new(mode: LineEndings) -> Self {
        Self {
            lines: LineNormalizer::new(mode),
            line_start: true,
        }
    }

    /// Appends the encoding of `input` to `dst`.
    ///
    /// # Errors
    /// In [`LineEndings::Strict`] mode, a bare CR or LF. Part of `input` may already be in
    /// `dst` then: the message cannot be completed and the caller must abandon the data
    /// (the driver drops the connection rather than send a terminator).
    pub fn encode(&mut self, input: &[u8], dst: &mut BytesMut) -> Result<(), BodyError> {
        dst.reserve(
            input
                .len()
                .saturating_add(input.len() / 32)
                .saturating_add(4),
        );
        let line_start = &mut self.line_start;
        self.lines
            .feed(input, |piece| stuff(piece, line_start, dst))
    }

    /// [`DotStuffer::encode`] for a part of text already checked: no search for bare
    /// line endings, only for lines starting with a dot.
    ///
    /// # Errors
    /// As for `encode` (only where the part meets the input before it).
    pub(crate) fn encode_clean(
        &mut self,
        part: CrlfText<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), BodyError> {
        let len = part.as_bytes().len();
        dst.reserve(len.saturating_add(len / 32).saturating_add(4));
        let line_start = &mut self.line_start;
        self.lines
            .feed_clean(part, |piece| stuff(piece, line_start, dst))
    }

    /// Ends the message: a missing final CRLF, then `.CRLF`. The encoder is then ready for
    /// another message.
    ///
    /// # Errors
    /// In strict mode, a message that ends in a bare CR.
    pub fn finish(&mut self, dst: &mut BytesMut) -> Result<(), BodyError> {
        let line_start = &mut self.line_start;
        self.lines.finish(|piece| stuff(piece, line_start, dst))?;
        dst.extend_from_slice(b".\r\n");
        self.line_start = true;
        Ok(())
    }

    /// Input octets consumed since the start of the message.
    pub fn consumed(&self) -> u64 {
        self.lines.consumed()
    }
}

/// RFC 5321 §4.5.2: a line that starts with `.` gets one more `.` in front. A text piece
/// may hold many lines (its CRLFs inside): a `.` after each of its LFs is doubled too.
fn stuff(piece: Piece<'_>, line_start: &mut bool, dst: &mut BytesMut) {
    match piece {
        Piece::Text(text) => {
            if *line_start && text.first() == Some(&b'.') {
                dst.extend_from_slice(b".");
            }
            let mut from = 0;
            while let Some(pos) = text
                .get(from..)
                .and_then(super::scan::find_lf_dot)
                .map(|p| p.saturating_add(from))
            {
                // The LF (of a CRLF) and the line's `.`, then the doubled `.`.
                let upto = pos.saturating_add(2);
                dst.extend_from_slice(text.get(from..upto).unwrap_or_default());
                dst.extend_from_slice(b".");
                from = upto;
            }
            dst.extend_from_slice(text.get(from..).unwrap_or_default());
            *line_start = text.last() == Some(&b'\n');
        }
        Piece::Crlf => {
            dst.extend_from_slice(b"\r\n");
            *line_start = true;
        }
    }
}

/// The size of `data` once every line ending is CRLF and a final CRLF is present: what
/// `SIZE=` declares (RFC 1870 §3 counts the message, not the dot-stuffing).
///
/// ```
/// assert_eq!(smtp_courier::proto::body::normalized_len(b"a\nb"), 6);
/// ```
pub fn normalized_len(data: &[u8]) -> u64 {
    let mut extra: u64 = 0;
    let mut at = 0;
    // Clean CRLF text is skipped a block at a time; the search stops at each bare CR or
    // LF (and at a CR ending the data).
    loop {
        let tail = data.get(at..).unwrap_or_default();
        let clean = super::scan::clean_prefix(tail);
        if clean == tail.len() {
            break;
        }
        let pos = at.saturating_add(clean);
        let next = pos.saturating_add(1);
        at = match (data.get(pos), data.get(next)) {
            (Some(b'\r'), Some(b'\n')) => next.saturating_add(1),
            // A bare CR or LF becomes CRLF: one octet more.
            _ => {
                extra = extra.saturating_add(1);
                next
            }
        };
    }
    let ends_with_eol = matches!(data.last(), Some(b'\n' | b'\r'));
    if !data.is_empty() && !ends_with_eol {
        extra = extra.saturating_add(2);
    }
    (data.len() as u64).saturating_add(extra)
}

/// Checks that every CR and LF in `data` is part of a CRLF pair, as
/// [`LineEndings::Strict`] requires. A final line without CRLF is fine (it is added).
///
/// # Errors
/// The first bare CR or LF.
pub fn check_line_endings(data: &[u8]) -> Result<(), BodyError> {
    let mut lines = LineNormalizer::new(LineEndings::Strict);
    lines.feed(data, |_| {})?;
    lines.finish(|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::DataDecoder;

    fn enc(mode: LineEndings, input: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut e = DotStuffer::new(mode);
        let mut out = BytesMut::new();
        e.encode(input, &mut out)?;
        e.finish(&mut out)?;
        Ok(out.to_vec())
    }

    /// Encodes `input` split at every point and checks the wire bytes are the same.
    fn enc_split(input: &[u8]) -> Vec<u8> {
        let whole = enc(LineEndings::Normalize, input).unwrap();
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            let mut e = DotStuffer::default();
            let mut out = BytesMut::new();
            e.encode(a, &mut out).unwrap();
            e.encode(b, &mut out).unwrap();
            e.finish(&mut out).unwrap();
            assert_eq!(out.to_vec(), whole, "split at {cut}");
        }
        whole
    }

    fn decode(wire: &[u8]) -> (Vec<u8>, usize) {
        let mut buf = BytesMut::from(wire);
        let mut out = Vec::new();
        let mut d = DataDecoder::new();
        assert!(d.decode(&mut buf, &mut out), "terminator found");
        (out, buf.len())
    }

    #[test]
    fn byte_exact() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"..x\r\n", b"...x\r\n.\r\n"),
            (b"a\n.b\n", b"a\r\n..b\r\n.\r\n"),
            (b"a\r.b", b"a\r\n..b\r\n.\r\n"),
            (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
            (b"\n\n", b"\r\n\r\n.\r\n"),
            (b"x.y\r\n", b"x.y\r\n.\r\n"),
        ];
        for (input, wire) in cases {
            assert_eq!(
                enc_split(input),
                *wire,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn smuggling_sequences_never_end_data_early() {
        for seq in [
            &b"\n.\n"[..],
            b"\r.\r",
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r\n.\r\n",
            b"\r\n.\r",
        ] {
            let mut input = b"Subject: smuggle\r\n\r\nbefore".to_vec();
            input.extend_from_slice(seq);
            input.extend_from_slice(b"MAIL FROM:<evil@example.org>\r\nafter\r\n");
            let wire = enc_split(&input);
            // no bare CR or LF anywhere
            for (i, b) in wire.iter().enumerate() {
                match b {
                    b'\r' => assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR in {wire:?}"),
                    b'\n' => assert_eq!(wire.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF"),
                    _ => {}
                }
            }
            // the terminator appears exactly once, at the end
            let term = memchr::memmem::find_iter(&wire, b"\r\n.\r\n").collect::<Vec<_>>();
            assert_eq!(term, vec![wire.len() - 5], "{seq:?}");
            // and the receiver gets all of it, normalised
            let (content, left) = decode(&wire);
            assert_eq!(left, 0);
            assert!(content.ends_with(b"MAIL FROM:<evil@example.org>\r\nafter\r\n"));
        }
    }

    #[test]
    fn strict_mode() {
        assert_eq!(
            enc(LineEndings::Strict, b"a\r\nb\r\n").unwrap(),
            b"a\r\nb\r\n.\r\n"
        );
        assert_eq!(enc(LineEndings::Strict, b"ab"), Ok(b"ab\r\n.\r\n".to_vec()));
        assert_eq!(
            enc(LineEndings::Strict, b"ab\ncd"),
            Err(BodyError::BareLf(2))
        );
        assert_eq!(
            enc(LineEndings::Strict, b"ab\rcd"),
            Err(BodyError::BareCr(2))
        );
        assert_eq!(enc(LineEndings::Strict, b"ab\r"), Err(BodyError::BareCr(2)));
        // the same bytes split so the CR ends one chunk
        let mut e = DotStuffer::new(LineEndings::Strict);
        let mut out = BytesMut::new();
        e.encode(b"ab\r", &mut out).unwrap();
        assert_eq!(e.encode(b"\ncd", &mut out), Ok(()));
        assert_eq!(e.encode(b"\r", &mut out), Ok(()));
        assert_eq!(e.encode(b"x", &mut out), Err(BodyError::BareCr(6)));
    }

    #[test]
    fn sizes() {
        for input in [
            &b""[..],
            b"a",
            b"a\n",
            b"a\r",
            b"a\r\n",
            b"\n\r",
            b"\r\r\n\n",
            b"x\ny\r\nz",
        ] {
            let wire = enc(LineEndings::Normalize, input).unwrap();
            let (content, _) = decode(&wire);
            assert_eq!(normalized_len(input), content.len() as u64, "{input:?}");
        }
    }

    #[test]
    fn decoder_leaves_following_bytes() {
        let mut buf = BytesMut::from(&b"a\r\n..b\r\n.\r\nQUIT\r\n"[..]);
        let mut out = Vec::new();
        let mut d = DataDecoder::new();
        assert!(d.decode(&mut buf, &mut out));
        assert_eq!(out, b"a\r\n.b\r\n");
        assert_eq!(&buf[..], b"QUIT\r\n");
    }
}
