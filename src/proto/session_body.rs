//! Message content in the session: the one door through which it leaves.
//!
//! The driver hands content to [`Session::send_body`] and ends it with
//! [`Session::finish_body`]; the session frames it (dot-stuffing after DATA's `354`, or
//! BDAT chunks, RFC 3030) into the same transmit queue as the commands, so the bytes of a
//! transaction leave in order and can be checked byte for byte without a socket.
//!
//! A child module of `session`, so that it reaches the session's state.

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use bytes::BytesMut;

use crate::proto::body::{BdatChunker, BodyError, CrlfText, DotStuffer, LineEndings};
use crate::proto::error::{Error, UsageError};

use super::{Direction, Expect, Session, TxId};

/// How a transaction's content is framed, and how far it got.
#[derive(Debug)]
pub(super) enum Framing {
    /// Not wanted yet: DATA not answered, or (lock-step BDAT) recipients not answered.
    NotYet,
    /// After `354`: dot-stuffed content (RFC 5321 §4.5.2).
    Data(DotStuffer),
    /// BDAT chunks (RFC 3030 §2).
    Bdat(Chunker),
    /// The end is queued, or no more content will be sent (the transaction failed).
    Closed,
}

/// The BDAT side of a transaction: [`BdatChunker`] frames the content, and the framed
/// chunks are released into the transmit queue at once with PIPELINING, or one at a time,
/// each after the reply to the one before, without it (RFC 3030 §4).
#[derive(Debug)]
pub(super) struct Chunker {
    enc: BdatChunker,
    /// Framed chunks not yet released: each `BDAT n[ LAST]` line with its octets.
    held: VecDeque<(BytesMut, bool)>,
    /// [`Session::finish_body`] was called.
    finishing: bool,
    lock_step: bool,
    /// A lock-step chunk's reply is awaited.
    awaiting: bool,
    /// Chunks [`Chunker::push_into`] just framed into the transmit queue: the end of
    /// each (an offset from where that call started) and whether it is the `LAST` one.
    framed: Vec<(usize, bool)>,
}

impl Chunker {
    /// `binary` for BINARYMIME (RFC 3030 §3): bytes exactly as given.
    /// `size`: the message's declared size, if any, to set the chunk buffer aside at once.
    /// `exact`: `size` is the content's length as framed, counted by the crate itself
    /// (a message in memory): the chunks are framed ahead ([`BdatChunker::frame_ahead`]),
    /// their octets straight into the transmit queue, when they may leave at once.
    pub(super) fn new(
        max: usize,
        lines: Option<LineEndings>,
        lock_step: bool,
        size: Option<u64>,
        exact: bool,
    ) -> Self {
        let enc = match lines {
            Some(mode) => BdatChunker::new(mode),
            None => BdatChunker::binary(),
        };
        let max = NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN);
        let mut enc = enc.with_max_chunk(max);
        enc.track_completed();
        match size {
            Some(size) if exact && !lock_step => enc.frame_ahead(size),
            Some(size) => enc.reserve_for(size),
            None => {}
        }
        Self {
            enc,
            held: VecDeque::new(),
            finishing: false,
            lock_step,
            awaiting: false,
            framed: Vec::new(),
        }
    }

    /// The framed length of a full (not last) chunk: `BDAT n\r\n` and `n` octets.
    fn full_len(&self) -> usize {
        let max = self.enc.max_chunk().get();
        let digits = max
            .checked_ilog10()
            .map_or(1, |d| (d as usize).saturating_add(1));
        "BDAT \r\n".len().saturating_add(digits).saturating_add(max)
    }

    /// Frames `input` (and with `last`, the end) straight into `out`, where every chunk may
    /// leave at once (PIPELINING, RFC 3030 §4), noting where each chunk ends.
    fn push_into(
        &mut self,
        input: Content<'_>,
        out: &mut BytesMut,
        last: bool,
    ) -> Result<(), BodyError> {
        let start = out.len();
        let res = if last {
            self.enc.finish(out).map(|()| self.finishing = true)
        } else {
            match input {
                Content::Raw(input) => self.enc.encode(input, out),
                Content::Clean(part) => self.enc.encode_clean(part, out),
            }
        };
        let first = self.framed.len();
        self.enc.drain_completed(&mut self.framed);
        if res.is_err() {
            // This call's chunks never leave (see `Session::send_body`).
            self.framed.truncate(first);
            return res;
        }
        for (end, _) in self.framed.iter_mut().skip(first) {
            *end = end.saturating_sub(start);
        }
        Ok(())
    }

    /// True while a chunk framed ahead is only partly in the transmit queue.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn chunk_open(&self) -> bool {
        self.enc.chunk_open()
    }

    /// Splits what the chunker appended to `framed` into its chunks.
    fn hold(&mut self, mut framed: BytesMut, before: u64, last: bool) {
        let new = self.enc.chunks().saturating_sub(before);
        let full = self.full_len();
        for i in 0..new {
            let is_last = last && i.saturating_add(1) == new;
            let piece = if is_last {
                framed.split()
            } else {
                framed.split_to(full.min(framed.len()))
            };
            self.held.push_back((piece, is_last));
        }
    }

    fn push(&mut self, input: &[u8]) -> Result<(), BodyError> {
        let before = self.enc.chunks();
        let mut framed = BytesMut::new();
        let res = self.enc.encode(input, &mut framed);
        self.forget_completed();
        self.hold(framed, before, false);
        res
    }

    fn finish(&mut self) -> Result<(), BodyError> {
        let before = self.enc.chunks();
        let mut framed = BytesMut::new();
        let res = self.enc.finish(&mut framed);
        self.forget_completed();
        res?;
        self.hold(framed, before, true);
        self.finishing = true;
        Ok(())
    }

    /// The held path splits chunks by count (it never frames ahead): the notes of where
    /// chunks end are not needed.
    fn forget_completed(&mut self) {
        let mut notes = std::mem::take(&mut self.framed);
        self.enc.drain_completed(&mut notes);
        notes.clear();
        self.framed = notes;
    }

    /// The next chunk to send, if one may go now: `(framed chunk, last)`.
    fn next_chunk(&mut self) -> Option<(BytesMut, bool)> {
        if self.awaiting {
            return None;
        }
        let chunk = self.held.pop_front()?;
        self.awaiting = self.lock_step;
        Some(chunk)
    }
}

/// Content handed to [`Session::send_body`]: octets as given, or a part of a message the
/// crate already checked for bare line endings.
#[derive(Clone, Copy)]
enum Content<'a> {
    Raw(&'a [u8]),
    Clean(CrlfText<'a>),
}

impl<'a> Content<'a> {
    fn as_bytes(self) -> &'a [u8] {
        match self {
            Self::Raw(b) => b,
            Self::Clean(part) => part.as_bytes(),
        }
    }
}

impl Session {
    /// Hands message content to the transaction `id`, after [`super::Event::SendBody`]. It
    /// is framed into the transmit queue: dot-stuffed with CRLF line endings after DATA,
    /// or as `BDAT n` chunks of at most [`super::SessionConfig::chunk_size`] octets
    /// (CRLF line endings, no dot-stuffing; BINARYMIME content byte for byte). Content
    /// for a transaction that already failed (a refused chunk, MAIL or every recipient
    /// refused) is discarded: RFC 3030 §2 forbids further chunks.
    ///
    /// # Errors
    /// A usage error when `id` is not waiting for content (content for a transaction that
    /// already ended is discarded without error). With strict line endings, a
    /// bare CR or LF: the transaction then ends with [`Error::Body`] for every recipient
    /// and the session is poisoned, since the data cannot be ended cleanly (the driver
    /// drops the connection without the terminator, so the server discards the partial
    /// message).
    pub fn send_body(&mut self, id: TxId, content: &[u8]) -> Result<(), Error> {
        self.send_content(id, Content::Raw(content))
    }

    /// [`Session::send_body`] for a part of a message the crate checked for bare line
    /// endings when it counted its size: framed without searching for them again.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn send_clean_body(&mut self, id: TxId, part: CrlfText<'_>) -> Result<(), Error> {
        self.send_content(id, Content::Clean(part))
    }

    fn send_content(&mut self, id: TxId, content: Content<'_>) -> Result<(), Error> {
        self.check_body(id)?;
        let direct = self.may_send(Expect::Bdat { id, last: false });
        let start = self.out.len();
        // Framed straight into the transmit queue: no copy on the way.
        let res = match self
            .txs
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.framing)
        {
            Some(Framing::Data(stuffer)) => match content {
                Content::Raw(input) => stuffer.encode(input, &mut self.out),
                Content::Clean(part) => stuffer.encode_clean(part, &mut self.out),
            },
            Some(Framing::Bdat(chunker)) if chunker.lock_step || !direct => {
                chunker.push(content.as_bytes())
            }
            Some(Framing::Bdat(chunker)) => chunker.push_into(content, &mut self.out, false),
            None | Some(Framing::Closed) => return Ok(()),
            Some(Framing::NotYet) => return Err(not_in_data_phase()),
        };
        if let Err(e) = res {
            if self
                .txs
                .iter()
                .any(|t| t.id == id && matches!(t.framing, Framing::Bdat(_)))
            {
                // RFC 3030 §2: the chunks of this call never leave (the data is abandoned).
                self.out.truncate(start);
            }
            let err = Error::Body(e);
            self.abort(err.clone());
            return Err(err);
        }
        self.release_framed(id, start);
        self.pump_chunks(id);
        Ok(())
    }

    /// Ends the content of transaction `id`: after DATA a missing final CRLF and `.CRLF`;
    /// with BDAT the rest as `BDAT n LAST` (`BDAT 0 LAST` when nothing remains). The reply
    /// to it is the message's final reply.
    ///
    /// # Errors
    /// As for [`Session::send_body`].
    pub fn finish_body(&mut self, id: TxId) -> Result<(), Error> {
        self.check_body(id)?;
        let direct = self.may_send(Expect::Bdat { id, last: true });
        let start = self.out.len();
        let framing = self
            .txs
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.framing);
        let data = matches!(framing, Some(Framing::Data(_)));
        let res = match framing {
            Some(Framing::Data(stuffer)) => stuffer.finish(&mut self.out),
            Some(Framing::Bdat(chunker)) if chunker.lock_step || !direct => chunker.finish(),
            Some(Framing::Bdat(chunker)) => {
                chunker.push_into(Content::Raw(&[]), &mut self.out, true)
            }
            None | Some(Framing::Closed) => return Ok(()),
            Some(Framing::NotYet) => return Err(not_in_data_phase()),
        };
        if let Err(e) = res {
            if !data {
                self.out.truncate(start);
            }
            let err = Error::Body(e);
            self.abort(err.clone());
            return Err(err);
        }
        if data {
            if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                tx.framing = Framing::Closed;
            }
            if let Some(t) = &self.config.transcript {
                t(Direction::Client, "<message data>");
                t(Direction::Client, ".");
            }
            self.expect_reply(Expect::DataEnd { id, discard: false });
        } else {
            self.release_framed(id, start);
            self.pump_chunks(id);
            // Framed ahead, the reply to the LAST chunk may have come already.
            self.maybe_finish(id);
        }
        Ok(())
    }

    /// True while transaction `id`'s transmit queue ends in a BDAT chunk framed ahead and
    /// not yet complete: the driver should not write a block out then (its writes stay
    /// the same as when whole chunks are framed at once).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn chunk_open(&self, id: TxId) -> bool {
        self.txs
            .iter()
            .find(|t| t.id == id)
            .is_some_and(|t| matches!(&t.framing, Framing::Bdat(c) if c.chunk_open()))
    }

    /// Octets queued for the driver and not handed out yet.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn transmit_len(&self) -> usize {
        self.out.len()
    }

    /// The chunks [`Chunker::push_into`] framed into `out` from offset `start` on: each
    /// awaits its reply once its last octet is written, and the `LAST` one closes the
    /// content.
    fn release_framed(&mut self, id: TxId, start: usize) {
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let Framing::Bdat(chunker) = &mut tx.framing else {
            return;
        };
        let framed = std::mem::take(&mut chunker.framed);
        // The LAST chunk may have been completed already, before the end was asked for,
        // when framed ahead. (Held chunks close the content once the last one leaves.)
        let closed = chunker.finishing && chunker.enc.is_last_sent() && chunker.held.is_empty();
        if framed.is_empty() {
            chunker.framed = framed;
            if closed {
                tx.framing = Framing::Closed;
            }
            return;
        }
        if closed {
            tx.framing = Framing::Closed;
        }
        let mut from = start;
        for &(end, last) in &framed {
            let end = start.saturating_add(end);
            if let Some(t) = &self.config.transcript {
                // The command line is the chunk up to its first CRLF (`BDAT n [LAST]`).
                let chunk = self.out.get(from..end).unwrap_or_default();
                let line_len = chunk.iter().position(|&b| b == b'\r').unwrap_or(0);
                let line = chunk.get(..line_len).unwrap_or_default();
                t(Direction::Client, &String::from_utf8_lossy(line));
            }
            #[cfg(feature = "tracing")]
            {
                let chunk = self.out.get(from..end).unwrap_or_default();
                let line_len = chunk.iter().position(|&b| b == b'\r').unwrap_or(0);
                let line = chunk.get(..line_len).unwrap_or_default();
                tracing::debug!(target: "smtp_courier::transcript", "C: {}", String::from_utf8_lossy(line));
            }
            self.expect_reply_at(Expect::Bdat { id, last }, end);
            from = end;
        }
        if let Some(Framing::Bdat(chunker)) = self
            .txs
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.framing)
        {
            // Keep the list's allocation for the next call.
            let mut framed = framed;
            framed.clear();
            chunker.framed = framed;
        }
    }

    /// How much more content transaction `id` takes before the driver must let replies
    /// in: `None` when it wants no more (finished, failed, unknown), `Some(0)` when a
    /// lock-step chunk's reply must be read first.
    pub fn body_capacity(&self, id: TxId) -> Option<usize> {
        let tx = self.txs.iter().find(|t| t.id == id)?;
        match &tx.framing {
            Framing::Data(_) => Some(usize::MAX),
            Framing::Bdat(c) if c.finishing => None,
            Framing::Bdat(c) if c.awaiting && !c.held.is_empty() => Some(0),
            Framing::Bdat(c) => Some(c.enc.max_chunk().get()),
            Framing::NotYet | Framing::Closed => None,
        }
    }

    /// Content for `id` can be taken (or discarded, for an ended transaction).
    fn check_body(&self, id: TxId) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        if id.0 >= self.next_tx {
            return Err(not_in_data_phase());
        }
        // A transaction that already ended (it failed while its content was streamed)
        // takes no more content: it is discarded.
        Ok(())
    }

    /// Moves every chunk of `id` that may leave now into the transmit queue.
    pub(super) fn pump_chunks(&mut self, id: TxId) {
        // RFC 5321 §3.8: after a 421 nothing but QUIT is sent, no chunk either.
        if !self.may_send(Expect::Bdat { id, last: false }) {
            return;
        }
        loop {
            let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
                return;
            };
            let Framing::Bdat(chunker) = &mut tx.framing else {
                return;
            };
            let Some((chunk, last)) = chunker.next_chunk() else {
                return;
            };
            if last {
                tx.framing = Framing::Closed;
            }
            // The command line is the chunk up to its first CRLF (`BDAT n [LAST]`).
            let line_len = chunk.iter().position(|&b| b == b'\r').unwrap_or(0);
            let line = chunk.get(..line_len).unwrap_or_default();
            if let Some(t) = &self.config.transcript {
                t(Direction::Client, &String::from_utf8_lossy(line));
            }
            #[cfg(feature = "tracing")]
            tracing::debug!(target: "smtp_courier::transcript", "C: {}", String::from_utf8_lossy(line));
            self.out.extend_from_slice(&chunk);
            self.expect_reply(Expect::Bdat { id, last });
        }
    }

    /// The reply to a lock-step chunk arrived and was positive: the next may go.
    pub(super) fn chunk_answered(&mut self, id: TxId) {
        if let Some(Framing::Bdat(c)) = self
            .txs
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.framing)
        {
            c.awaiting = false;
        }
        self.pump_chunks(id);
    }
}

fn not_in_data_phase() -> Error {
    UsageError::InvalidState("not in the data phase").into()
}
