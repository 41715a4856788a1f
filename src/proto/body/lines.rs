//! Line-ending normalisation shared by the DATA and BDAT encoders.
//!
//! RFC 5321 §2.3.8: lines end in CRLF, and a bare CR or LF must not be sent. The
//! normaliser turns a stream of input chunks into text runs (no CR or LF in them) and line
//! ends, so each framer only decides what to do with those: dot-stuffing for DATA
//! (RFC 5321 §4.5.2), chunk headers for BDAT (RFC 3030 §2).

use super::dot::{BodyError, LineEndings};

/// One piece of normalised output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    /// Input octets that go out as they are: every CR and LF in them is part of a CRLF
    /// pair (CRLF-clean text is one piece per input chunk, however many lines it holds).
    /// Never empty.
    Text(&'a [u8]),
    /// One bare line end of the input (or a CR and LF split across chunks), written as
    /// CRLF.
    Crlf,
}

/// Message content in which every CR and LF is part of a CRLF pair, checked once when it
/// is made ([`CrlfText::new`]), so that the encoders can take its parts
/// ([`CrlfText::split_at`]) without searching them for bare line endings again.
///
/// A part is a piece of such text: inside it every CR and LF is paired, and only a LF
/// first or a CR last can pair with the part beside it. The encoders hand those two
/// octets to the normaliser ([`LineNormalizer::feed_clean`]), so parts fed in any order
/// still never put a bare CR or LF on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CrlfText<'a>(&'a [u8]);

// Made by the tokio driver (`send_bytes`); the core alone only frames it.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
impl<'a> CrlfText<'a> {
    /// `data`, when every CR and LF in it is part of a CRLF pair (a final line without
    /// CRLF is fine: the encoders add one).
    pub(crate) fn new(data: &'a [u8]) -> Option<Self> {
        (super::scan::clean_prefix(data) == data.len()).then_some(Self(data))
    }

    pub(crate) fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The octets the encoders frame: [`normalized_len`](super::normalized_len) without
    /// searching again (only a missing final CRLF can be added).
    pub(crate) fn normalized_len(self) -> u64 {
        let extra = match self.0.last() {
            None | Some(b'\n') => 0,
            Some(_) => 2,
        };
        (self.0.len() as u64).saturating_add(extra)
    }

    /// The first `n` octets (all of them when there are fewer) and the rest.
    pub(crate) fn split_at(self, n: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        (Self(a), Self(b))
    }
}

/// Streams input through CRLF normalisation (or strict checking), holding back at most one
/// CR whose LF may come in the next chunk.
#[derive(Clone, Debug)]
pub(super) struct LineNormalizer {
    mode: LineEndings,
    /// A CR ended the last chunk: it is a CRLF if the next octet is LF, else a bare CR.
    pending_cr: bool,
    /// Text has been produced since the last line end (a final CRLF is then missing).
    mid_line: bool,
    /// Input octets consumed since the start of the message.
    offset: u64,
}

impl LineNormalizer {
    pub(super) fn new(mode: LineEndings) -> Self {
        Self {
            mode,
            pending_cr: false,
            mid_line: false,
            offset: 0,
        }
    }

    /// Feeds `input`, handing each piece to `out` in order.
    ///
    /// # Errors
    /// In strict mode, the first bare CR or LF (pieces before it have been handed out).
    pub(super) fn feed<'a>(
        &mut self,
        input: &'a [u8],
        mut out: impl FnMut(Piece<'a>),
    ) -> Result<(), BodyError> {
        let mut rest = input;
        if self.pending_cr
            && let Some((&first, tail)) = rest.split_first()
        {
            self.pending_cr = false;
            if first == b'\n' {
                rest = tail;
                self.advance(1);
            } else {
                self.bare_cr()?;
            }
            self.mid_line = false;
            out(Piece::Crlf);
        }
        // `rest[..at]` is CRLF-clean text not handed out yet, and the search goes on from
        // `at`: a CRLF pair only extends it, so a whole clean chunk is one piece.
        let mut at = 0;
        loop {
            // The next CR or LF that is not inside a CRLF pair (or a CR ending the input).
            let tail = rest.get(at..).unwrap_or_default();
            let clean = super::scan::clean_prefix(tail);
            if clean == tail.len() {
                self.text(rest, &mut out);
                return Ok(());
            }
            let pos = at.saturating_add(clean);
            let after = pos.saturating_add(1);
            let eol = rest.get(pos).copied();
            if eol == Some(b'\r') {
                match rest.get(after) {
                    Some(b'\n') => {
                        // CRLF: part of the text.
                        at = after.saturating_add(1);
                        continue;
                    }
                    None => {
                        // The LF may start the next chunk.
                        let (text, _) = rest.split_at(pos);
                        self.text(text, &mut out);
                        self.advance(1);
                        self.pending_cr = true;
                        self.mid_line = false;
                        return Ok(());
                    }
                    Some(_) => {}
                }
            }
            // A bare CR or LF at `pos`: the clean text before it goes first.
            let (text, from_eol) = rest.split_at(pos);
            self.text(text, &mut out);
            self.advance(1);
            if eol == Some(b'\n') {
                if self.mode == LineEndings::Strict {
                    return Err(BodyError::BareLf(self.last_offset()));
                }
            } else {
                self.bare_cr()?;
            }
            self.mid_line = false;
            out(Piece::Crlf);
            rest = from_eol.get(1..).unwrap_or_default();
            at = 0;
        }
    }

    /// [`LineNormalizer::feed`] for a part of text already checked ([`CrlfText`]): its
    /// inside goes out as it is, unsearched; a LF first and a CR last go through `feed`,
    /// since they pair with what comes before or after.
    ///
    /// # Errors
    /// As for `feed`, for those two octets (in strict mode, after a bare CR given to
    /// `feed` before).
    pub(super) fn feed_clean<'a>(
        &mut self,
        part: CrlfText<'a>,
        mut out: impl FnMut(Piece<'a>),
    ) -> Result<(), BodyError> {
        let mut input = part.as_bytes();
        if self.pending_cr || input.first() == Some(&b'\n') {
            // The first octet may end a pair begun before.
            let (head, rest) = input.split_at_checked(1).unwrap_or((input, &[]));
            self.feed(head, &mut out)?;
            input = rest;
        }
        let (inside, cr_last) = match input.split_last() {
            Some((b'\r', inside)) => (inside, true),
            _ => (input, false),
        };
        // Every CR and LF inside is paired: `CrlfText` was checked whole, and its parts
        // are pieces of it whose ends were just set aside.
        self.text(inside, &mut out);
        if cr_last {
            // Its LF starts the next part.
            self.feed(b"\r", &mut out)?;
        }
        Ok(())
    }

    /// Ends the message: a pending CR becomes CRLF and a missing final CRLF is added. The
    /// normaliser is then ready for another message.
    ///
    /// # Errors
    /// In strict mode, a message that ends in a bare CR.
    pub(super) fn finish(&mut self, mut out: impl FnMut(Piece<'static>)) -> Result<(), BodyError> {
        if self.pending_cr {
            if self.mode == LineEndings::Strict {
                return Err(BodyError::BareCr(self.last_offset()));
            }
            out(Piece::Crlf);
        } else if self.mid_line {
            out(Piece::Crlf);
        }
        *self = Self::new(self.mode);
        Ok(())
    }

    /// Normalising or strict.
    pub(super) fn mode(&self) -> LineEndings {
        self.mode
    }

    /// Input octets consumed since the start of the message.
    pub(super) fn consumed(&self) -> u64 {
        self.offset
    }

    fn text<'a>(&mut self, text: &'a [u8], out: &mut impl FnMut(Piece<'a>)) {
        if let Some(&last) = text.last() {
            self.advance(text.len());
            // Clean text ends mid-line unless its last octets are a CRLF.
            self.mid_line = last != b'\n';
            out(Piece::Text(text));
        }
    }

    /// A CR (the octet just consumed) not followed by LF.
    fn bare_cr(&self) -> Result<(), BodyError> {
        if self.mode == LineEndings::Strict {
            Err(BodyError::BareCr(self.last_offset()))
        } else {
            Ok(())
        }
    }

    fn last_offset(&self) -> u64 {
        self.offset.saturating_sub(1)
    }

    fn advance(&mut self, n: usize) {
        self.offset = self.offset.saturating_add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts` and renders the pieces (`|` between pieces) to compare shapes.
    fn pieces(mode: LineEndings, parts: &[&[u8]]) -> Result<String, BodyError> {
        let mut n = LineNormalizer::new(mode);
        let mut shown = Vec::new();
        let mut show = |p: Piece<'_>| match p {
            Piece::Text(t) => shown.push(String::from_utf8_lossy(t).into_owned()),
            Piece::Crlf => shown.push("CRLF".to_owned()),
        };
        for part in parts {
            n.feed(part, &mut show)?;
        }
        n.finish(&mut show)?;
        Ok(shown.join("|"))
    }

    #[test]
    fn pieces_and_split_cr_lf() {
        let norm = LineEndings::Normalize;
        // CRLF-clean text is one piece, its CRLFs inside.
        assert_eq!(pieces(norm, &[b"ab\r\ncd"]).unwrap(), "ab\r\ncd|CRLF");
        assert_eq!(pieces(norm, &[b"ab\r\ncd\r\n"]).unwrap(), "ab\r\ncd\r\n");
        // A CR ending one chunk and a LF starting the next are one line end.
        assert_eq!(
            pieces(norm, &[b"ab\r", b"\ncd"]).unwrap(),
            "ab|CRLF|cd|CRLF"
        );
        assert_eq!(pieces(norm, &[b"ab\r", b"", b"\n"]).unwrap(), "ab|CRLF");
        assert_eq!(pieces(norm, &[b"a\rb\nc"]).unwrap(), "a|CRLF|b|CRLF|c|CRLF");
        assert_eq!(pieces(norm, &[b"\r", b"\r"]).unwrap(), "CRLF|CRLF");
        assert_eq!(pieces(norm, &[b""]).unwrap(), "");
        let strict = LineEndings::Strict;
        assert_eq!(pieces(strict, &[b"ab\r", b"\n"]).unwrap(), "ab|CRLF");
        assert_eq!(pieces(strict, &[b"a\r\nb\nc"]), Err(BodyError::BareLf(4)));
        assert_eq!(pieces(strict, &[b"a\r\nb\rc"]), Err(BodyError::BareCr(4)));
        assert_eq!(pieces(strict, &[b"ab\r", b"x"]), Err(BodyError::BareCr(2)));
        assert_eq!(pieces(strict, &[b"ab", b"\n"]), Err(BodyError::BareLf(2)));
        assert_eq!(pieces(strict, &[b"ab\r"]), Err(BodyError::BareCr(2)));
    }
}
