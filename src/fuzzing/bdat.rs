//! The BDAT property check and a receiver-side chunk decoder for it (test and fuzz code,
//! not API).

use std::num::NonZeroUsize;

use bytes::BytesMut;

use crate::proto::body::{BdatChunker, BodyError, LineEndings};

use super::{chunks, first_bare, normalize};

/// A malformed BDAT stream, as [`BdatDecoder`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BdatFrameError {
    /// A command line that is not `BDAT <digits>` or `BDAT <digits> LAST`.
    BadHeader(Vec<u8>),
    /// Bytes after the `LAST` chunk were fed to the decoder.
    AfterLast,
}

/// The receiving side of BDAT (RFC 3030 §2): reads `BDAT <n> [LAST]\r\n` and `n` octets
/// at a time, whatever the read boundaries, and records each chunk's size.
#[derive(Debug, Default)]
pub struct BdatDecoder {
    /// Octets of the current chunk still to read.
    remaining: u64,
    /// The current chunk is the last.
    in_last: bool,
    done: bool,
    sizes: Vec<(u64, bool)>,
}

impl BdatDecoder {
    /// A decoder before the first chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes what it can from `buf`, appending chunk octets to `out`; `Ok(true)` once
    /// the `LAST` chunk is complete. Bytes it cannot use yet stay in `buf`.
    ///
    /// # Errors
    /// A malformed header, or input after the last chunk.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<u8>,
    ) -> Result<bool, BdatFrameError> {
        loop {
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
                out.extend_from_slice(&buf.split_to(take));
                self.remaining -= take as u64;
                if self.remaining > 0 {
                    return Ok(false);
                }
                self.done = self.in_last;
            }
            if self.done {
                return if buf.is_empty() {
                    Ok(true)
                } else {
                    Err(BdatFrameError::AfterLast)
                };
            }
            let Some(end) = memchr::memmem::find(buf, b"\r\n") else {
                return Ok(false);
            };
            let line = buf.split_to(end + 2);
            let (size, last) = parse_header(&line[..end])
                .ok_or_else(|| BdatFrameError::BadHeader(line.to_vec()))?;
            self.sizes.push((size, last));
            self.remaining = size;
            self.in_last = last;
            self.done = last && size == 0;
        }
    }

    /// Each chunk's declared size and whether it was the `LAST` one, in order.
    pub fn chunks(&self) -> &[(u64, bool)] {
        &self.sizes
    }

    /// True once the `LAST` chunk is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// `BDAT <digits>` or `BDAT <digits> LAST`, exactly as our encoder writes it.
fn parse_header(line: &[u8]) -> Option<(u64, bool)> {
    let rest = line.strip_prefix(b"BDAT ")?;
    let (digits, last) = match rest.strip_suffix(b" LAST") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((size, last))
}

/// What one encoding gave: the wire, or the error that stopped it.
fn chunk_parts(parts: &[&[u8]], enc: &mut BdatChunker) -> Result<Vec<u8>, BodyError> {
    let mut wire = BytesMut::new();
    for part in parts {
        enc.encode(part, &mut wire)?;
        // Only whole chunks are ever appended.
        decode_all(&wire, false);
    }
    enc.finish(&mut wire)?;
    Ok(wire.to_vec())
}

/// Decodes `wire` fed in pieces; when `complete`, it must end with the `LAST` chunk.
fn decode_all(wire: &[u8], complete: bool) -> (Vec<u8>, Vec<(u64, bool)>) {
    let mut dec = BdatDecoder::new();
    let mut buf = BytesMut::new();
    let mut content = Vec::new();
    for piece in chunks(wire, wire.len() as u8) {
        buf.extend_from_slice(piece);
        dec.decode(&mut buf, &mut content)
            .expect("well-formed BDAT stream");
    }
    assert_eq!(dec.is_done(), complete, "LAST chunk");
    if !complete {
        assert!(
            buf.is_empty() && dec.remaining == 0,
            "a partial chunk was appended"
        );
    }
    (content, dec.sizes)
}

/// Checks one complete encoding: it decodes to `expected`, every chunk but the last is
/// exactly `max` octets, the last is shorter, and the counters agree.
fn check_chunks(wire: &[u8], expected: &[u8], enc: &BdatChunker) {
    let max = enc.max_chunk().get() as u64;
    let (content, sizes) = decode_all(wire, true);
    assert!(content == expected, "decoded content differs");
    let Some((&(last_size, true), full)) = sizes.split_last() else {
        panic!("no LAST chunk at the end: {sizes:?}");
    };
    assert!(full.iter().all(|&(n, l)| n == max && !l), "{sizes:?}");
    assert!(last_size < max, "the last chunk could have been a full one");
    assert_eq!(enc.chunks(), sizes.len() as u64);
    assert_eq!(enc.octets(), expected.len() as u64);
    assert_eq!(enc.commands_for(expected.len() as u64), sizes.len() as u64);
    assert!(enc.is_last_sent());
}

/// BDAT-chunks `data` (the first byte picks the input cuts, the second the chunk size,
/// 1 to 128) in text, strict and binary modes. Text decodes back to the normalised input
/// whose length `message_len` predicts, binary to the input itself; every chunk but the
/// last is full; the wire does not depend on the cuts; strict mode refuses exactly the
/// first bare CR or LF; nothing is accepted after `LAST`.
pub fn bdat_roundtrip(data: &[u8]) {
    let seed = data.first().copied().unwrap_or(0);
    let size = data.get(1).map_or(1, |b| usize::from(b & 0x7f) + 1);
    let max = NonZeroUsize::new(size).expect("non-zero");
    let parts = chunks(data, seed);

    let mut enc = BdatChunker::new(LineEndings::Normalize).with_max_chunk(max);
    let wire = chunk_parts(&parts, &mut enc).expect("normalising never fails");
    let expected = normalize(data);
    assert_eq!(enc.message_len(data), expected.len() as u64, "message_len");
    check_chunks(&wire, &expected, &enc);
    let mut after = BytesMut::new();
    assert_eq!(enc.encode(b"x", &mut after), Err(BodyError::AfterLast));
    assert_eq!(enc.finish(&mut after), Err(BodyError::AfterLast));
    assert!(after.is_empty());
    // However the input is cut, and for a reset chunker, the wire is the same.
    enc.reset();
    assert_eq!(chunk_parts(&[data], &mut enc), Ok(wire.clone()));

    let mut strict = BdatChunker::new(LineEndings::Strict).with_max_chunk(max);
    match first_bare(data) {
        None => assert_eq!(chunk_parts(&parts, &mut strict), Ok(wire)),
        Some(e) => assert_eq!(chunk_parts(&parts, &mut strict), Err(e)),
    }

    let mut binary = BdatChunker::binary().with_max_chunk(max);
    let wire = chunk_parts(&parts, &mut binary).expect("binary never fails");
    assert_eq!(binary.message_len(data), data.len() as u64);
    assert_eq!(binary.consumed(), data.len() as u64);
    check_chunks(&wire, data, &binary);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_reads_chunks_across_reads() {
        let wire = b"BDAT 3\r\nab\rBDAT 2 LAST\r\n\nc";
        let (content, sizes) = decode_all(wire, true);
        assert_eq!(content, b"ab\r\nc");
        assert_eq!(sizes, [(3, false), (2, true)]);
        let mut dec = BdatDecoder::new();
        let mut out = Vec::new();
        let mut bad = BytesMut::from(&b"BDAT x\r\n"[..]);
        assert!(matches!(
            dec.decode(&mut bad, &mut out),
            Err(BdatFrameError::BadHeader(_))
        ));
        let mut extra = BytesMut::from(&b"BDAT 0 LAST\r\nQUIT\r\n"[..]);
        assert_eq!(
            BdatDecoder::new().decode(&mut extra, &mut out),
            Err(BdatFrameError::AfterLast)
        );
    }

    #[test]
    fn bdat_roundtrip_baselines() {
        bdat_roundtrip(b"");
        bdat_roundtrip(b"\x05\x02a\n.\nb\r.\r\n");
        bdat_roundtrip(b"\x81\x00\r\r\n\n\r");
        bdat_roundtrip(b"\x00\x7fSubject: x\r\n\r\nbody\r\n");
    }
}
