//! The BDAT encoder: message data as `BDAT <n>` chunks (RFC 3030 CHUNKING and BINARYMIME).

use std::fmt::Write as _;
use std::num::NonZeroUsize;

use bytes::BytesMut;

use super::dot::{BodyError, LineEndings, normalized_len};
use super::lines::{CrlfText, LineNormalizer, Piece};

/// The default largest chunk: 1 MiB (1048576 octets).
///
/// RFC 3030 sets no limit on a chunk; larger chunks mean fewer round trips, smaller ones
/// less data in flight when the server refuses. A megabyte is what common clients use.
pub const DEFAULT_MAX_CHUNK: NonZeroUsize = match NonZeroUsize::new(1 << 20) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// Frames message content as BDAT chunks (RFC 3030 §2): `BDAT <n>\r\n` followed by
/// exactly `n` octets, the last chunk `BDAT <n> LAST\r\n`.
///
/// - Text (the default, [`BdatChunker::new`]): line endings become CRLF and a missing
///   final CRLF is added, exactly as [`DotStuffer`](super::DotStuffer) does for DATA, so
///   the same message puts the same octets on the wire either way; [`LineEndings::Strict`]
///   refuses a bare CR or LF instead. There is no dot-stuffing: the server counts octets.
/// - Binary ([`BdatChunker::binary`], for `BODY=BINARYMIME`, RFC 3030 §3): the octets
///   exactly as given, nothing added.
///
/// Every chunk but the last holds exactly [`max_chunk`](Self::max_chunk) octets, and
/// `n` counts the octets actually sent (after normalisation). [`encode`](Self::encode)
/// appends only whole chunks, as soon as one is full; [`finish`](Self::finish) appends the
/// rest as the `LAST` chunk, `BDAT 0 LAST\r\n` when nothing remains.
///
/// ```
/// use std::num::NonZeroUsize;
/// use bytes::BytesMut;
/// use smtp_courier::proto::body::BdatChunker;
/// let mut enc = BdatChunker::default().with_max_chunk(NonZeroUsize::new(8).unwrap());
/// let mut out = BytesMut::new();
/// enc.encode(b"Subject: x\n\nhi", &mut out).unwrap();
/// // Two full chunks; the next one waits.
/// assert_eq!(&out[..], b"BDAT 8\r\nSubject:BDAT 8\r\n x\r\n\r\nhi");
/// enc.finish(&mut out).unwrap();
/// assert_eq!(&out[..], b"BDAT 8\r\nSubject:BDAT 8\r\n x\r\n\r\nhiBDAT 2 LAST\r\n\r\n");
/// assert_eq!((enc.chunks(), enc.octets(), enc.is_last_sent()), (3, 18, true));
/// ```
///
/// # Memory
/// The chunker never holds more than one chunk: octets that do not yet fill a chunk wait
/// in a buffer that never grows past `max_chunk`, and once a chunk is sure to fill, its
/// header and octets are written straight into `dst`.
#[derive(Clone, Debug)]
pub struct BdatChunker {
    /// `None` in binary mode.
    lines: Option<LineNormalizer>,
    out: Chunks,
}

/// The chunking half, apart from the normaliser so both can be borrowed at once.
#[derive(Clone, Debug)]
struct Chunks {
    max: NonZeroUsize,
    /// The start of the next chunk; always shorter than `max`.
    pending: Vec<u8>,
    chunks: u64,
    octets: u64,
    last_sent: bool,
    /// Framing ahead, when the message's length is known exactly.
    ahead: Option<Ahead>,
    /// More or fewer octets than framed ahead.
    mismatch: bool,
    /// The chunks completed since [`BdatChunker::drain_completed`]: the length of `dst`
    /// just after each one's last octet, and whether it was the `LAST` one. Kept only
    /// when `track` is set (by the session, which drains it after every call).
    done: Vec<(usize, bool)>,
    track: bool,
}

/// Framing ahead ([`BdatChunker::frame_ahead`]): each chunk's header is written before
/// its octets, which go straight to `dst`; nothing waits in `pending`.
#[derive(Clone, Copy, Debug)]
struct Ahead {
    /// Message octets not yet written, in any chunk.
    left: u64,
    /// Octets still due in the chunk whose header was written last.
    open: usize,
    /// That chunk's size, and whether it is the `LAST` one.
    size: usize,
    last: bool,
}

impl Default for BdatChunker {
    fn default() -> Self {
        Self::new(LineEndings::Normalize)
    }
}

impl BdatChunker {
    /// A text chunker at the start of a message, with chunks of at most
    /// [`DEFAULT_MAX_CHUNK`] octets.
    pub fn new(mode: LineEndings) -> Self {
        Self {
            lines: Some(LineNormalizer::new(mode)),
            out: Chunks::new(DEFAULT_MAX_CHUNK),
        }
    }

    /// A binary chunker (BINARYMIME, RFC 3030 §3): octets go out exactly as given, with no
    /// line-ending normalisation and no final CRLF added.
    pub fn binary() -> Self {
        Self {
            lines: None,
            out: Chunks::new(DEFAULT_MAX_CHUNK),
        }
    }

    /// Sets the largest chunk. This is a builder step: the chunker it returns is at the
    /// start of a message.
    pub fn with_max_chunk(mut self, max: NonZeroUsize) -> Self {
        self.out.max = max;
        self.reset();
        self
    }

    /// Sets aside room for a message of `octets` octets (its declared `SIZE`), up to one
    /// chunk, so the octets waiting for a chunk to fill are never moved as the buffer
    /// grows. A hint only: a message of another size is framed all the same.
    pub fn reserve_for(&mut self, octets: u64) {
        let want = usize::try_from(octets)
            .unwrap_or(usize::MAX)
            .min(self.out.max.get());
        let pending = &mut self.out.pending;
        pending.reserve_exact(want.saturating_sub(pending.len()));
    }

    /// The largest chunk, in octets.
    pub fn max_chunk(&self) -> NonZeroUsize {
        self.out.max
    }

    /// True for a binary chunker.
    pub fn is_binary(&self) -> bool {
        self.lines.is_none()
    }

    /// Appends every chunk that `input` completes to `dst`; the rest waits for more input
    /// or for [`finish`](Self::finish).
    ///
    /// # Errors
    /// - In [`LineEndings::Strict`] mode, a bare CR or LF. Chunks before it may already be
    ///   in `dst`; the message cannot be completed, and RFC 3030 §2 lets the client abandon
    ///   it with RSET after any chunk but the last.
    /// - [`BodyError::AfterLast`] once the last chunk was framed.
    pub fn encode(&mut self, input: &[u8], dst: &mut BytesMut) -> Result<(), BodyError> {
        if self.out.last_sent {
            return Err(BodyError::AfterLast);
        }
        let out = &mut self.out;
        match &mut self.lines {
            None => out.write(input, dst),
            Some(lines) => lines.feed(input, |piece| out.piece(piece, dst))?,
        }
        if out.mismatch {
            return Err(BodyError::LengthMismatch);
        }
        Ok(())
    }

    /// [`BdatChunker::encode`] for a part of text already checked: in text mode, no
    /// search for bare line endings.
    ///
    /// # Errors
    /// As for `encode`.
    pub(crate) fn encode_clean(
        &mut self,
        part: CrlfText<'_>,
        dst: &mut BytesMut,
    ) -> Result<(), BodyError> {
        if self.out.last_sent {
            return Err(BodyError::AfterLast);
        }
        let out = &mut self.out;
        match &mut self.lines {
            None => out.write(part.as_bytes(), dst),
            Some(lines) => lines.feed_clean(part, |piece| out.piece(piece, dst))?,
        }
        if out.mismatch {
            return Err(BodyError::LengthMismatch);
        }
        Ok(())
    }

    /// Ends the message: in text mode a missing final CRLF, then the last chunk,
    /// `BDAT <n> LAST\r\n` and its octets.
    ///
    /// # Errors
    /// In strict mode, a message that ends in a bare CR; [`BodyError::AfterLast`] if the
    /// last chunk was already framed.
    pub fn finish(&mut self, dst: &mut BytesMut) -> Result<(), BodyError> {
        if self.out.last_sent {
            return Err(BodyError::AfterLast);
        }
        let out = &mut self.out;
        if let Some(lines) = &mut self.lines {
            lines.finish(|piece| out.piece(piece, dst))?;
        }
        out.last(dst)
    }

    /// Frames the message ahead: it will be exactly `octets` octets once framed (its
    /// [`message_len`](Self::message_len)), so each chunk's header goes into `dst` before
    /// its octets, which [`encode`](Self::encode) writes straight after it rather than
    /// keeping them until the chunk fills. The wire is the same octet for octet; only
    /// when they reach `dst` changes. Call it at the start of a message (it does nothing
    /// later). Content longer or shorter than `octets` is refused with
    /// [`BodyError::LengthMismatch`]: no octet beyond a chunk's header is ever written.
    pub(crate) fn frame_ahead(&mut self, octets: u64) {
        if self.out.chunks == 0 && self.out.pending.is_empty() && !self.out.last_sent {
            self.out.ahead = Some(Ahead {
                left: octets,
                open: 0,
                size: 0,
                last: false,
            });
        }
    }

    /// True while the header of a chunk framed ahead is in `dst` but not all of its
    /// octets: what `dst` holds cannot all be sent as a whole chunk yet.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn chunk_open(&self) -> bool {
        self.out.ahead.is_some_and(|a| a.open > 0)
    }

    /// Notes, from now on, where each chunk ends, for
    /// [`drain_completed`](Self::drain_completed) (the caller drains after every
    /// `encode` and `finish`, so the list stays short).
    pub(crate) fn track_completed(&mut self) {
        self.out.track = true;
    }

    /// Moves the chunks completed since the last call into `into`: the length `dst` had
    /// just after each one's last octet, and whether it was the `LAST` one.
    pub(crate) fn drain_completed(&mut self, into: &mut Vec<(usize, bool)>) {
        into.append(&mut self.out.done);
    }

    /// Forgets the message (sent, or abandoned after an error) and starts the next one
    /// with the same mode and chunk size.
    pub fn reset(&mut self) {
        if let Some(lines) = &mut self.lines {
            *lines = LineNormalizer::new(lines.mode());
        }
        let mut pending = std::mem::take(&mut self.out.pending);
        // Keep the buffer for the next message unless it is larger than a chunk now is.
        pending.clear();
        if pending.capacity() > self.out.max.get() {
            pending = Vec::new();
        }
        self.out = Chunks::new(self.out.max);
        self.out.pending = pending;
    }

    /// BDAT commands appended for this message so far, the `LAST` one included.
    pub fn chunks(&self) -> u64 {
        self.out.chunks
    }

    /// Message octets appended so far (after normalisation, headers not counted).
    pub fn octets(&self) -> u64 {
        self.out.octets
    }

    /// True once the `LAST` chunk has been appended.
    pub fn is_last_sent(&self) -> bool {
        self.out.last_sent
    }

    /// Input octets consumed since the start of the message.
    pub fn consumed(&self) -> u64 {
        match &self.lines {
            Some(lines) => lines.consumed(),
            None => self
                .out
                .octets
                .saturating_add(self.out.pending.len() as u64),
        }
    }

    /// The octets `data` puts on the wire in this mode: [`normalized_len`] for text, its
    /// length for binary. This is what `SIZE=` declares (RFC 1870 §3).
    pub fn message_len(&self, data: &[u8]) -> u64 {
        if self.is_binary() {
            data.len() as u64
        } else {
            normalized_len(data)
        }
    }

    /// How many BDAT commands a message of `message_len` octets (see
    /// [`message_len`](Self::message_len)) takes: the full chunks, then one `LAST` chunk
    /// with the rest, which is `BDAT 0 LAST` when the length is a multiple of the chunk
    /// size. A pipelining session expects this many replies.
    pub fn commands_for(&self, message_len: u64) -> u64 {
        let max = self.out.max.get() as u64;
        message_len.checked_div(max).unwrap_or(0).saturating_add(1)
    }
}

impl Chunks {
    fn new(max: NonZeroUsize) -> Self {
        Self {
            max,
            pending: Vec::new(),
            chunks: 0,
            octets: 0,
            last_sent: false,
            ahead: None,
            mismatch: false,
            done: Vec::new(),
            track: false,
        }
    }

    fn piece(&mut self, piece: Piece<'_>, dst: &mut BytesMut) {
        match piece {
            Piece::Text(text) => self.write(text, dst),
            // A chunk may end between the CR and the LF: BDAT counts octets, not lines.
            Piece::Crlf => self.write(b"\r\n", dst),
        }
    }

    /// Adds message octets, appending each chunk they complete to `dst`.
    fn write(&mut self, mut bytes: &[u8], dst: &mut BytesMut) {
        if self.ahead.is_some() {
            return self.write_ahead(bytes, dst);
        }
        let max = self.max.get();
        while !bytes.is_empty() {
            let room = max.saturating_sub(self.pending.len());
            let Some((head, tail)) = bytes.split_at_checked(room) else {
                self.hold(bytes);
                return;
            };
            // This chunk fills now: header, what was waiting, then straight from input.
            dst.reserve(max.saturating_add(24));
            header(dst, max, false);
            dst.extend_from_slice(&self.pending);
            dst.extend_from_slice(head);
            self.pending.clear();
            self.count(max);
            self.completed((dst.len(), false));
            bytes = tail;
        }
    }

    /// [`Chunks::write`] when framing ahead: a header when a chunk starts (`LAST` once
    /// what is left is less than a full chunk), then the octets straight into `dst`.
    fn write_ahead(&mut self, mut bytes: &[u8], dst: &mut BytesMut) {
        let max = self.max.get();
        while !bytes.is_empty() {
            let Some(mut a) = self.ahead else {
                return;
            };
            if a.open == 0 {
                if a.left == 0 || a.last {
                    // More content than framed: none of it goes.
                    self.mismatch = true;
                    return;
                }
                // As `write` and `last` frame it: full chunks while a whole one is left
                // (then `BDAT 0 LAST` at the end), else the rest as the LAST chunk.
                a.last = a.left < max as u64;
                a.size = if a.last {
                    usize::try_from(a.left).unwrap_or(max)
                } else {
                    max
                };
                a.open = a.size;
                dst.reserve(a.size.saturating_add(24));
                header(dst, a.size, a.last);
            }
            let take = a.open.min(bytes.len());
            let (head, tail) = bytes.split_at_checked(take).unwrap_or((bytes, &[]));
            dst.extend_from_slice(head);
            a.open = a.open.saturating_sub(take);
            a.left = a.left.saturating_sub(take as u64);
            bytes = tail;
            self.ahead = Some(a);
            if a.open == 0 {
                self.count(a.size);
                self.completed((dst.len(), a.last));
            }
        }
    }

    /// Keeps octets that do not fill a chunk, growing the buffer at most to `max`.
    fn hold(&mut self, bytes: &[u8]) {
        let needed = self.pending.len().saturating_add(bytes.len());
        if needed > self.pending.capacity() {
            let target = needed
                .max(self.pending.capacity().saturating_mul(2))
                .max(256)
                .min(self.max.get());
            self.pending
                .reserve_exact(target.saturating_sub(self.pending.len()));
        }
        self.pending.extend_from_slice(bytes);
    }

    fn last(&mut self, dst: &mut BytesMut) -> Result<(), BodyError> {
        if let Some(a) = self.ahead {
            if self.mismatch || a.open > 0 || a.left > 0 {
                // Fewer octets than framed (or more): the data cannot be ended.
                self.mismatch = true;
                return Err(BodyError::LengthMismatch);
            }
            if !a.last {
                // Only full chunks were due: the end is an empty LAST chunk.
                header(dst, 0, true);
                self.count(0);
                self.completed((dst.len(), true));
            }
            self.last_sent = true;
            return Ok(());
        }
        let n = self.pending.len();
        dst.reserve(n.saturating_add(24));
        header(dst, n, true);
        dst.extend_from_slice(&self.pending);
        self.pending.clear();
        self.count(n);
        self.completed((dst.len(), true));
        self.last_sent = true;
        Ok(())
    }

    fn completed(&mut self, at: (usize, bool)) {
        if self.track {
            self.done.push(at);
        }
    }

    fn count(&mut self, n: usize) {
        self.chunks = self.chunks.saturating_add(1);
        self.octets = self.octets.saturating_add(n as u64);
    }
}

/// RFC 3030 §2: `bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF`, with
/// `end-marker = "LAST"`.
fn header(dst: &mut BytesMut, n: usize, last: bool) {
    // Writing into a BytesMut cannot fail.
    let _ = if last {
        write!(dst, "BDAT {n} LAST\r\n")
    } else {
        write!(dst, "BDAT {n}\r\n")
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::BdatDecoder;

    fn max(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn chunker(mode: Option<LineEndings>, n: usize) -> BdatChunker {
        mode.map_or_else(BdatChunker::binary, BdatChunker::new)
            .with_max_chunk(max(n))
    }

    fn run(enc: &mut BdatChunker, parts: &[&[u8]]) -> Result<Vec<u8>, BodyError> {
        let mut out = BytesMut::new();
        for part in parts {
            enc.encode(part, &mut out)?;
        }
        enc.finish(&mut out)?;
        Ok(out.to_vec())
    }

    /// Encodes `input` whole and split at every point; the wire must not change.
    fn wire(mode: Option<LineEndings>, n: usize, input: &[u8]) -> Vec<u8> {
        let whole = run(&mut chunker(mode, n), &[input]).unwrap();
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            let split = run(&mut chunker(mode, n), &[a, b]).unwrap();
            assert_eq!(split, whole, "split at {cut}");
        }
        whole
    }

    const TEXT: Option<LineEndings> = Some(LineEndings::Normalize);

    #[test]
    fn byte_exact() {
        let cases: &[(usize, &[u8], &[u8])] = &[
            (4, b"", b"BDAT 0 LAST\r\n"),
            (1 << 20, b"hello", b"BDAT 7 LAST\r\nhello\r\n"),
            // No dot-stuffing: a lone "." line is just three octets.
            (10, b".\r\n", b"BDAT 3 LAST\r\n.\r\n"),
            (10, b"a\n.\n", b"BDAT 6 LAST\r\na\r\n.\r\n"),
            // Exactly one full chunk: the LAST chunk is empty.
            (4, b"ab", b"BDAT 4\r\nab\r\nBDAT 0 LAST\r\n"),
            // The added final CRLF straddles the chunk boundary.
            (3, b"ab", b"BDAT 3\r\nab\rBDAT 1 LAST\r\n\n"),
            // So does a CRLF made from a bare LF, and from a bare CR.
            (3, b"ab\n", b"BDAT 3\r\nab\rBDAT 1 LAST\r\n\n"),
            (
                3,
                b"ab\rc",
                b"BDAT 3\r\nab\rBDAT 3\r\n\nc\rBDAT 1 LAST\r\n\n",
            ),
            (
                2,
                b"a\rb",
                b"BDAT 2\r\na\rBDAT 2\r\n\nbBDAT 2\r\n\r\nBDAT 0 LAST\r\n",
            ),
            (1, b"\n", b"BDAT 1\r\n\rBDAT 1\r\n\nBDAT 0 LAST\r\n"),
            (5, b"a\r\r\nb", b"BDAT 5\r\na\r\n\r\nBDAT 3 LAST\r\nb\r\n"),
        ];
        for (n, input, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&wire(TEXT, *n, input)),
                String::from_utf8_lossy(expected),
                "max {n}, input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn cr_and_lf_in_different_inputs_are_one_line_end() {
        let mut enc = chunker(TEXT, 3);
        let mut out = BytesMut::new();
        enc.encode(b"ab\r", &mut out).unwrap();
        // "ab" waits; the CR waits to see whether a LF follows.
        assert_eq!(&out[..], b"");
        assert_eq!((enc.chunks(), enc.consumed()), (0, 3));
        enc.encode(b"\ncd", &mut out).unwrap();
        assert_eq!(&out[..], b"BDAT 3\r\nab\rBDAT 3\r\n\ncd");
        enc.finish(&mut out).unwrap();
        assert_eq!(&out[..], b"BDAT 3\r\nab\rBDAT 3\r\n\ncdBDAT 2 LAST\r\n\r\n");
        assert_eq!((enc.chunks(), enc.octets()), (3, 8));
        // The same bytes with the CR followed by something else: two line ends.
        let two = run(&mut chunker(TEXT, 3), &[b"ab\r", b"\rcd"]).unwrap();
        assert_eq!(
            &two[..],
            b"BDAT 3\r\nab\rBDAT 3\r\n\n\r\nBDAT 3\r\ncd\rBDAT 1 LAST\r\n\n"
        );
    }

    #[test]
    fn chunk_sizes_add_up() {
        let mut message = Vec::new();
        for i in 0..700 {
            message.extend_from_slice(format!("line {i}\n").as_bytes());
            if i % 7 == 0 {
                message.extend_from_slice(b"bare cr\r");
            }
        }
        message.extend_from_slice(b"no final line end");
        for n in [1, 2, 3, 64, 999, 1000, 1 << 20] {
            let mut enc = chunker(TEXT, n);
            let mut out = BytesMut::new();
            for part in message.chunks(77) {
                enc.encode(part, &mut out).unwrap();
            }
            enc.finish(&mut out).unwrap();
            let mut dec = BdatDecoder::new();
            let mut content = Vec::new();
            assert_eq!(dec.decode(&mut out, &mut content), Ok(true));
            let len = normalized_len(&message);
            assert_eq!(content.len() as u64, len);
            let sizes = dec.chunks();
            let (last, full) = sizes.split_last().unwrap();
            assert!(
                full.iter().all(|&(size, l)| size == n as u64 && !l),
                "max {n}"
            );
            assert!(last.1 && last.0 < n as u64);
            assert_eq!(sizes.iter().map(|s| s.0).sum::<u64>(), len);
            assert_eq!(enc.chunks(), sizes.len() as u64);
            assert_eq!(enc.commands_for(len), sizes.len() as u64);
            assert_eq!(enc.message_len(&message), len);
        }
    }

    #[test]
    fn binary_mode_sends_octets_as_given() {
        let bin = None;
        assert_eq!(wire(bin, 4, b""), b"BDAT 0 LAST\r\n");
        assert_eq!(wire(bin, 10, b"xyz"), b"BDAT 3 LAST\r\nxyz");
        assert_eq!(
            wire(bin, 2, b"a\nb\r\0"),
            b"BDAT 2\r\na\nBDAT 2\r\nb\rBDAT 1 LAST\r\n\0"
        );
        assert_eq!(wire(bin, 2, b"\r\n"), b"BDAT 2\r\n\r\nBDAT 0 LAST\r\n");
        let enc = BdatChunker::binary();
        assert!(enc.is_binary());
        assert_eq!(enc.message_len(b"a\nb"), 3);
        // The text twin of the same input gains two octets.
        assert_eq!(BdatChunker::default().message_len(b"a\nb"), 6);
    }

    #[test]
    fn strict_mode() {
        let strict = Some(LineEndings::Strict);
        // Clean data: the same wire as normalising.
        let clean: &[u8] = b"a\r\nb\r\nc";
        assert_eq!(
            run(&mut chunker(strict, 3), &[clean]),
            Ok(wire(TEXT, 3, clean))
        );
        let mut enc = chunker(strict, 1);
        let mut out = BytesMut::new();
        assert_eq!(enc.encode(b"ab\ncd", &mut out), Err(BodyError::BareLf(2)));
        // The chunks before the error are whole ones.
        assert_eq!(&out[..], b"BDAT 1\r\naBDAT 1\r\nb");
        assert_eq!(
            run(&mut chunker(strict, 3), &[b"ab\r", b"x"]),
            Err(BodyError::BareCr(2))
        );
        assert_eq!(
            run(&mut chunker(strict, 3), &[b"ab\r"]),
            Err(BodyError::BareCr(2))
        );
        assert_eq!(
            run(&mut chunker(strict, 3), &[b"ab\r", b"\n"]),
            Ok(b"BDAT 3\r\nab\rBDAT 1 LAST\r\n\n".to_vec())
        );
    }

    #[test]
    fn nothing_after_last_until_reset() {
        let mut enc = chunker(TEXT, 4);
        let first = run(&mut enc, &[b"hi"]).unwrap();
        assert!(enc.is_last_sent());
        let mut out = BytesMut::new();
        assert_eq!(enc.encode(b"more", &mut out), Err(BodyError::AfterLast));
        assert_eq!(enc.finish(&mut out), Err(BodyError::AfterLast));
        assert!(out.is_empty());
        enc.reset();
        assert!(!enc.is_last_sent());
        assert_eq!((enc.chunks(), enc.octets(), enc.consumed()), (0, 0, 0));
        assert_eq!(run(&mut enc, &[b"hi"]).unwrap(), first);
    }

    #[test]
    fn holds_at_most_one_chunk() {
        let n = 1 << 20;
        let mut enc = BdatChunker::default();
        assert_eq!(enc.max_chunk(), DEFAULT_MAX_CHUNK);
        let mut out = BytesMut::new();
        // One large input: two whole chunks go straight out, the rest waits.
        let big = vec![b'a'; 2 * n + n / 2];
        enc.encode(&big, &mut out).unwrap();
        assert_eq!(out.len(), 2 * (n + "BDAT 1048576\r\n".len()));
        assert_eq!(enc.out.pending.len(), n / 2);
        // Many small inputs: the buffer never grows past a chunk.
        for _ in 0..(n / 1000) {
            enc.encode(&[b'b'; 1000], &mut out).unwrap();
            assert!(enc.out.pending.capacity() <= n);
        }
        enc.finish(&mut out).unwrap();
        assert_eq!(
            enc.octets(),
            big.len() as u64 + (n / 1000 * 1000) as u64 + 2
        );
    }

    #[test]
    fn commands_for_counts_the_last_chunk() {
        let enc = chunker(TEXT, 4);
        let counts: Vec<u64> = [0, 3, 4, 5, 8, 9].map(|len| enc.commands_for(len)).to_vec();
        assert_eq!(counts, [1, 1, 2, 2, 3, 3]);
    }
}

#[cfg(test)]
#[path = "bdat_ahead_tests.rs"]
mod ahead_tests;
