//! Message content in the session: the one door through which it leaves.
//!
//! The driver hands content to [`Session::send_body`] and ends it with
//! [`Session::finish_body`]; the session frames it (dot-stuffing after DATA's `354`, or
//! BDAT chunks, RFC 3030) into the same transmit queue as the commands, so the bytes of a
//! transaction leave in order and can be checked byte for byte without a socket.
//!
//! A child module of `session`, so that it reaches the session's state.

use bytes::BytesMut;

use crate::error::{Error, UsageError};
use crate::proto::body::{BodyError, DotStuffer, LineEndings};

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

/// Cuts content into BDAT chunks of at most `max` octets. Line endings become CRLF (and a
/// missing final CRLF is added) unless the message is BINARYMIME, which goes byte for
/// byte. No dot-stuffing: BDAT counts octets (RFC 3030 §2).
///
/// Content is held until more than `max` octets are waiting or the end is known, so a
/// message of exactly `max` octets is one `BDAT max LAST`; at most `max` plus one block of
/// input is ever held.
// TODO: replace with `proto::body`'s BDAT encoder once it lands (one framer only).
#[derive(Debug)]
pub(super) struct Chunker {
    pending: BytesMut,
    max: usize,
    /// `None` for BINARYMIME: bytes exactly as given.
    lines: Option<LineEndings>,
    /// The last input octet was a CR whose LF has not been seen.
    cr: bool,
    /// At the start of a line (or of the message).
    line_start: bool,
    empty: bool,
    offset: u64,
    /// [`Session::finish_body`] was called: the rest goes as the LAST chunk.
    finishing: bool,
    /// Without PIPELINING, a chunk's reply is awaited before the next chunk is sent.
    lock_step: bool,
    awaiting: bool,
}

impl Chunker {
    pub(super) fn new(max: usize, lines: Option<LineEndings>, lock_step: bool) -> Self {
        Self {
            pending: BytesMut::new(),
            max: max.max(1),
            lines,
            cr: false,
            line_start: true,
            empty: true,
            offset: 0,
            finishing: false,
            lock_step,
            awaiting: false,
        }
    }

    fn push(&mut self, input: &[u8]) -> Result<(), BodyError> {
        let Some(mode) = self.lines else {
            self.pending.extend_from_slice(input);
            return Ok(());
        };
        for &b in input {
            self.empty = false;
            if std::mem::take(&mut self.cr) {
                if b == b'\n' {
                    self.pending.extend_from_slice(b"\r\n");
                    self.line_start = true;
                    self.offset = self.offset.saturating_add(1);
                    continue;
                }
                if mode == LineEndings::Strict {
                    return Err(BodyError::BareCr(self.offset.saturating_sub(1)));
                }
                self.pending.extend_from_slice(b"\r\n");
                self.line_start = true;
            }
            match b {
                b'\r' => self.cr = true,
                b'\n' if mode == LineEndings::Strict => {
                    return Err(BodyError::BareLf(self.offset));
                }
                b'\n' => {
                    self.pending.extend_from_slice(b"\r\n");
                    self.line_start = true;
                }
                _ => {
                    self.pending.extend_from_slice(&[b]);
                    self.line_start = false;
                }
            }
            self.offset = self.offset.saturating_add(1);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), BodyError> {
        if let Some(mode) = self.lines {
            if self.cr {
                if mode == LineEndings::Strict {
                    return Err(BodyError::BareCr(self.offset.saturating_sub(1)));
                }
                self.pending.extend_from_slice(b"\r\n");
                self.cr = false;
            } else if !self.line_start && !self.empty {
                // The contract: a missing final CRLF is added, as after DATA.
                self.pending.extend_from_slice(b"\r\n");
            }
        }
        self.finishing = true;
        Ok(())
    }

    /// The next chunk to send, if one may go now: `(content, last)`.
    fn next_chunk(&mut self) -> Option<(BytesMut, bool)> {
        if self.awaiting {
            return None;
        }
        let chunk = if self.finishing && self.pending.len() <= self.max {
            (self.pending.split(), true)
        } else if self.pending.len() > self.max {
            (self.pending.split_to(self.max), false)
        } else {
            return None;
        };
        self.awaiting = self.lock_step;
        Some(chunk)
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
    /// A usage error when `id` is not waiting for content. With strict line endings, a
    /// bare CR or LF: the transaction then ends with [`Error::Body`] for every recipient
    /// and the session is poisoned, since the data cannot be ended cleanly (the driver
    /// drops the connection without the terminator, so the server discards the partial
    /// message).
    pub fn send_body(&mut self, id: TxId, content: &[u8]) -> Result<(), Error> {
        let framing = self.framing_mut(id)?;
        let mut out = BytesMut::new();
        let res = match framing {
            Framing::Data(stuffer) => stuffer.encode(content, &mut out),
            Framing::Bdat(chunker) => chunker.push(content),
            Framing::Closed => return Ok(()),
            Framing::NotYet => return Err(not_in_data_phase()),
        };
        self.out.extend_from_slice(&out);
        if let Err(e) = res {
            let err = Error::Body(e);
            self.abort(err.clone());
            return Err(err);
        }
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
        let framing = self.framing_mut(id)?;
        let mut out = BytesMut::new();
        let res = match framing {
            Framing::Data(stuffer) => stuffer.finish(&mut out),
            Framing::Bdat(chunker) => chunker.finish(),
            Framing::Closed => return Ok(()),
            Framing::NotYet => return Err(not_in_data_phase()),
        };
        if let Err(e) = res {
            let err = Error::Body(e);
            self.abort(err.clone());
            return Err(err);
        }
        if matches!(framing, Framing::Data(_)) {
            *framing = Framing::Closed;
            self.out.extend_from_slice(&out);
            if let Some(t) = &self.config.transcript {
                t(Direction::Client, "<message data>");
                t(Direction::Client, ".");
            }
            self.expect
                .push_back(Expect::DataEnd { id, discard: false });
        } else {
            self.pump_chunks(id);
        }
        Ok(())
    }

    /// How much more content transaction `id` takes before the driver must let replies
    /// in: `None` when it wants no more (finished, failed, unknown), `Some(0)` when a
    /// lock-step chunk's reply must be read first.
    pub fn body_capacity(&self, id: TxId) -> Option<usize> {
        let tx = self.txs.iter().find(|t| t.id == id)?;
        match &tx.framing {
            Framing::Data(_) => Some(usize::MAX),
            Framing::Bdat(c) if c.finishing => None,
            Framing::Bdat(c) => Some(c.max.saturating_add(1).saturating_sub(c.pending.len())),
            Framing::NotYet | Framing::Closed => None,
        }
    }

    fn framing_mut(&mut self, id: TxId) -> Result<&mut Framing, Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.txs
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.framing)
            .ok_or_else(not_in_data_phase)
    }

    /// Moves every chunk of `id` that may leave now into the transmit queue.
    pub(super) fn pump_chunks(&mut self, id: TxId) {
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
            let line = if last {
                format!("BDAT {} LAST", chunk.len())
            } else {
                format!("BDAT {}", chunk.len())
            };
            if let Some(t) = &self.config.transcript {
                t(Direction::Client, &line);
            }
            #[cfg(feature = "tracing")]
            tracing::debug!(target: "smtp_courier::transcript", "C: {line}");
            self.out.extend_from_slice(line.as_bytes());
            self.out.extend_from_slice(b"\r\n");
            self.out.extend_from_slice(&chunk);
            self.expect.push_back(Expect::Bdat { id, last });
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
