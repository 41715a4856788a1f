//! Moving bytes between the stream and the session: one buffered write per pipelined
//! group, reading while writing (so a server that answers as it reads can never deadlock
//! us, and a reply sent before its command was written is caught), a bounded read buffer,
//! and a deadline around every wait.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::proto::{Phase, Session, Timeouts};

/// Bytes asked for per read.
const READ_CHUNK: usize = 8 * 1024;

/// Stands for "no deadline" when a timeout is too long to add to the clock (say
/// `Duration::MAX`): about 30 years.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// The instant `limit` from now, saturating: a limit too long for the clock is a
/// far-future deadline, never an overflow panic.
pub(crate) fn deadline_after(limit: Duration) -> Instant {
    let now = Instant::now();
    // `now + 30 years` cannot overflow a monotonic clock; `now` is only a formal fallback.
    now.checked_add(limit.min(FAR_FUTURE)).unwrap_or(now)
}

/// What one round of I/O achieved.
enum Progress {
    Read,
    Written,
    Eof,
}

/// The write buffer. It may hold an AUTH line, so what is left in it is wiped when it is
/// dropped (with the client); what leaves it is wiped as it goes when it held one.
///
/// Written bytes are not cut off the front of the `BytesMut` (which would hide its
/// allocation behind a shrinking `capacity()`): a read position moves instead, and the
/// buffer is cleared once all of it is written, so its capacity is its allocation.
#[derive(Default)]
pub(crate) struct WriteBuf {
    buf: BytesMut,
    /// Bytes of `buf` already written.
    pos: usize,
}

impl WriteBuf {
    /// The bytes still to write.
    pub(crate) fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The allocation held.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf[..]);
    }
}

impl Drop for WriteBuf {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// What an idle connection keeps of each buffer: a larger allocation (left by a big
/// reply, a message block or an EHLO response) is let go once the buffer is empty, so an
/// idle connection costs little; one at most this large is kept, so small messages
/// allocate nothing.
pub(crate) const IDLE_BUFFER: usize = 2 * 1024;

/// The stream, its buffers and the deadline bookkeeping.
pub(crate) struct Conn<S> {
    pub(crate) io: S,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: WriteBuf,
    need_flush: bool,
    write_failed: Option<io::Error>,
    deadline: Option<(Phase, u64, Instant)>,
    /// Bytes the stream accepted, not yet reported to the session.
    unreported: usize,
    /// `wbuf` holds (or held, since it was last empty) a credential: wipe what leaves it.
    secret: bool,
    /// The largest write buffer so far, for tests of the idle bound.
    #[cfg(test)]
    peak_write: usize,
}

impl<S> fmt::Debug for Conn<S> {
    /// Buffers are shown by length only: the write buffer may hold an AUTH line. The
    /// stream is shown by its type only, since a stream's own `Debug` may show what it
    /// buffers (an in-memory pipe does).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("io", &std::any::type_name::<S>())
            .field("rbuf_len", &self.rbuf.len())
            .field("wbuf_len", &self.wbuf.len())
            .field("need_flush", &self.need_flush)
            .field("write_failed", &self.write_failed)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(io: S) -> Self {
        Self {
            io,
            rbuf: BytesMut::new(),
            wbuf: WriteBuf::default(),
            need_flush: false,
            write_failed: None,
            deadline: None,
            unreported: 0,
            secret: false,
            #[cfg(test)]
            peak_write: 0,
        }
    }

    /// Moves what the session queued into the write buffer.
    pub(crate) fn take_output(&mut self, session: &mut Session) {
        if session.transmit_holds_secret() {
            self.secret = true;
        }
        if self.wbuf.is_empty() {
            // Never appended behind written bytes: the session may hand over its
            // buffer whole.
            self.wbuf.buf.clear();
            self.wbuf.pos = 0;
        }
        session.poll_transmit(&mut self.wbuf.buf);
        #[cfg(test)]
        {
            self.peak_write = self.peak_write.max(self.wbuf.capacity());
        }
        if !self.wbuf.is_empty() {
            self.need_flush = true;
        }
    }

    /// Tells the session how much of its output was written: before it sees what was
    /// read after those writes, so that replies pair only with commands already written.
    ///
    /// The last byte of the buffer counts only once the stream is flushed: a buffering
    /// stream (TLS) may still hold it, and then the server cannot have seen the end of
    /// the last command (the end of data above all).
    fn report_written(&mut self, session: &mut Session) {
        let mut n = std::mem::take(&mut self.unreported);
        if n > 0 && self.wbuf.is_empty() && self.need_flush {
            n -= 1;
            self.unreported = 1;
        }
        session.handle_written(n);
    }

    /// One step: writes what the session queued and reads what the server sent, until
    /// something happens or the current phase's deadline passes, then tells the session.
    pub(crate) async fn step(&mut self, session: &mut Session, timeouts: &Timeouts) {
        self.take_output(session);
        let phase = session.phase().unwrap_or(Phase::Command);
        let key = (phase, session.replies_handled());
        let deadline = match self.deadline {
            Some((p, n, at)) if (p, n) == key => at,
            _ => {
                let at = deadline_after(timeouts.get(phase));
                self.deadline = Some((key.0, key.1, at));
                at
            }
        };
        let awaiting = session.awaiting_reply();
        let res =
            tokio::time::timeout_at(deadline, poll_fn(|cx| self.poll_io(cx, awaiting, awaiting)))
                .await;
        self.report_written(session);
        self.handle_progress(session, res.ok());
        if session.discards_output() {
            // Desynchronised or closed: nothing more goes to this peer. After a 421 that
            // holds until a QUIT is queued, which must not be dropped half-written.
            self.discard_output();
        }
    }

    /// Tells the session what one round of I/O brought; `None` when the deadline passed.
    fn handle_progress(&mut self, session: &mut Session, res: Option<io::Result<Progress>>) {
        match res {
            None => session.handle_timeout(),
            Some(Ok(Progress::Written)) => {}
            Some(Ok(Progress::Read)) => session.handle_input(&mut self.rbuf),
            Some(Ok(Progress::Eof)) => {
                session.handle_input(&mut self.rbuf);
                session.handle_eof();
            }
            Some(Err(e)) => session.handle_io_error(e),
        }
    }

    /// One round: reads first when `read` (what arrived before this round's writes cannot
    /// answer them), then writes and flushes. With `hold_write_errors`, a failed write is
    /// reported only once the server's replies (say, a 550 before it hung up) have been
    /// read: they decide the outcome.
    fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        read: bool,
        hold_write_errors: bool,
    ) -> Poll<io::Result<Progress>> {
        if read {
            match self.poll_read(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Progress::Eof)),
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(Progress::Read)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }
        let mut wrote = false;
        while !self.wbuf.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, self.wbuf.pending()) {
                Poll::Ready(Ok(0)) => {
                    self.fail_write(io::ErrorKind::WriteZero.into());
                }
                Poll::Ready(Ok(n)) => {
                    self.consume(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) => self.fail_write(e),
                Poll::Pending => break,
            }
        }
        if self.wbuf.is_empty() && self.need_flush {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.need_flush = false;
                    wrote = true;
                }
                Poll::Ready(Err(e)) => self.fail_write(e),
                Poll::Pending => {}
            }
        }
        if !hold_write_errors && let Some(e) = self.write_failed.take() {
            return Poll::Ready(Err(e));
        }
        if wrote && self.wbuf.is_empty() && !self.need_flush {
            return Poll::Ready(Ok(Progress::Written));
        }
        Poll::Pending
    }

    /// `n` bytes at the front of the write buffer were written.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.wbuf.len());
        let end = self.wbuf.pos.saturating_add(n);
        if self.secret
            && let Some(done) = self.wbuf.buf.get_mut(self.wbuf.pos..end)
        {
            // They may hold a credential: wipe them before letting go.
            zeroize::Zeroize::zeroize(done);
        }
        self.wbuf.pos = end;
        self.unreported = self.unreported.saturating_add(n);
        if self.wbuf.is_empty() {
            self.secret = false;
            self.wbuf.buf.clear();
            self.wbuf.pos = 0;
        }
    }

    /// Drops what is buffered for writing (wiped when it may hold a credential).
    pub(crate) fn discard_output(&mut self) {
        if self.secret {
            self.wbuf.wipe();
            self.secret = false;
        }
        self.wbuf.buf.clear();
        self.wbuf.pos = 0;
        self.need_flush = false;
    }

    /// Lets go of buffer memory beyond [`IDLE_BUFFER`] while the buffers are empty: at
    /// the end of every operation, so a connection between messages holds no message
    /// block and no large reply.
    pub(crate) fn release_idle(&mut self) {
        if self.rbuf.is_empty() {
            // Replies are split off its front, which hides the allocation from
            // `capacity()`: an empty read buffer is let go whatever it reports.
            self.rbuf = BytesMut::new();
        }
        if self.wbuf.is_empty() && self.wbuf.capacity() > IDLE_BUFFER {
            // Empty, and wiped as it was written when it held a credential.
            self.wbuf.buf = BytesMut::new();
            self.wbuf.pos = 0;
        }
    }

    /// The capacities of the read and write buffers, for tests of the idle bound.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize) {
        (self.rbuf.capacity(), self.wbuf.capacity())
    }

    /// The largest write buffer so far.
    #[cfg(test)]
    pub(crate) fn peak_write_capacity(&self) -> usize {
        self.peak_write
    }

    fn fail_write(&mut self, e: io::Error) {
        if self.write_failed.is_none() {
            self.write_failed = Some(e);
        }
        self.discard_output();
    }

    /// Reads at most [`READ_CHUNK`] bytes onto the end of the read buffer. The buffer
    /// cannot grow without bound: the session consumes every complete line, and the reply
    /// parser refuses a line longer than its cap.
    ///
    /// The read lands in an uninitialised buffer on the stack and only what arrived is
    /// copied into the read buffer: replies are short, so the read buffer stays as small
    /// as the longest reply (nothing is zeroed or reserved for a read that brings a few
    /// bytes, or none).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut space = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut rb = ReadBuf::uninit(&mut space);
        let res = Pin::new(&mut self.io).poll_read(cx, &mut rb);
        let got = rb.filled();
        self.rbuf.extend_from_slice(got);
        match res {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(got.len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Before a new command when nothing is outstanding: anything the server sent since
    /// (an unsolicited reply, a 421 on idle timeout, EOF) is found now, so that it is
    /// never taken for the reply to the next command.
    ///
    /// When what arrived is the start of a `421` line, the rest is read (within the
    /// command deadline) so the session can report the server closing rather than a
    /// protocol error.
    pub(crate) async fn check_idle(&mut self, session: &mut Session, timeouts: &Timeouts) {
        if session.error().is_some() {
            return;
        }
        if !session.awaiting_reply() {
            let mut cx = Context::from_waker(Waker::noop());
            match self.poll_read(&mut cx) {
                Poll::Ready(Ok(0)) => session.handle_eof(),
                Poll::Ready(Ok(_)) => session.handle_input(&mut self.rbuf),
                Poll::Ready(Err(e)) => session.handle_io_error(e),
                Poll::Pending => {}
            }
        }
        // Only the rest of an unsolicited 421 can be awaited here; each step reads or
        // ends the session, within the deadline.
        while session.awaiting_reply() && session.error().is_none() {
            self.step(session, timeouts).await;
        }
    }

    /// Writes the buffered bytes out within the data-block deadline (RFC 5321
    /// §4.5.3.2.5), while the message data is being streamed, reading all the while: the
    /// replies due (to MAIL, RCPT or earlier BDAT chunks, with PIPELINING) are handled as
    /// they come; anything else (a `250` before the end of data, say) is a protocol error
    /// that ends the transaction, never a reply to pair with the end of data later.
    /// `transfer` is the deadline of the whole data transfer, if any: the write must also
    /// finish before it. False when the data cannot go on (the session says why).
    pub(crate) async fn write_block(
        &mut self,
        session: &mut Session,
        timeouts: &Timeouts,
        transfer: Option<Instant>,
    ) -> bool {
        self.take_output(session);
        let block = deadline_after(timeouts.get(Phase::DataBlock));
        let (at, phase) = match transfer {
            Some(t) if t < block => (t, Phase::DataTransfer),
            _ => (block, Phase::DataBlock),
        };
        if !self.wbuf.is_empty() {
            self.need_flush = true;
        }
        while !self.wbuf.is_empty() || self.need_flush {
            let res =
                tokio::time::timeout_at(at, poll_fn(|cx| self.poll_io(cx, true, false))).await;
            self.report_written(session);
            match res {
                Err(_) => {
                    session.handle_timeout_in(phase);
                    break;
                }
                Ok(res) => self.handle_progress(session, Some(res)),
            }
            if session.error().is_some() {
                break;
            }
        }
        if session.error().is_some() {
            self.discard_output();
            return false;
        }
        true
    }
}
