//! Moving bytes between the stream and the session: one buffered write per pipelined
//! group, reading while writing (so a server that answers as it reads can never deadlock
//! us), a bounded read buffer, and a deadline around every wait.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::proto::{Phase, Session, Timeouts};

/// Bytes asked for per read.
const READ_CHUNK: usize = 8 * 1024;

/// What one round of I/O achieved.
enum Progress {
    Read,
    Written,
    Eof,
}

/// The stream, its buffers and the deadline bookkeeping.
#[derive(Debug)]
pub(crate) struct Conn<S> {
    pub(crate) io: S,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    need_flush: bool,
    write_failed: Option<io::Error>,
    deadline: Option<(Phase, u64, Instant)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(io: S) -> Self {
        Self {
            io,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(READ_CHUNK),
            need_flush: false,
            write_failed: None,
            deadline: None,
        }
    }

    /// One step: writes what the session queued and reads what the server sent, until
    /// something happens or the current phase's deadline passes, then tells the session.
    pub(crate) async fn step(&mut self, session: &mut Session, timeouts: &Timeouts) {
        session.poll_transmit(&mut self.wbuf);
        if !self.wbuf.is_empty() {
            self.need_flush = true;
        }
        let phase = session.phase().unwrap_or(Phase::Command);
        let key = (phase, session.replies_handled());
        let deadline = match self.deadline {
            Some((p, n, at)) if (p, n) == key => at,
            _ => {
                let at = Instant::now() + timeouts.get(phase);
                self.deadline = Some((key.0, key.1, at));
                at
            }
        };
        let awaiting = session.awaiting_reply();
        let res = tokio::time::timeout_at(deadline, poll_fn(|cx| self.poll_io(cx, awaiting))).await;
        match res {
            Err(_) => session.handle_timeout(),
            Ok(Ok(Progress::Written)) => {}
            Ok(Ok(Progress::Read)) => session.handle_input(&mut self.rbuf),
            Ok(Ok(Progress::Eof)) => {
                session.handle_input(&mut self.rbuf);
                session.handle_eof();
            }
            Ok(Err(e)) => session.handle_io_error(e),
        }
    }

    fn poll_io(&mut self, cx: &mut Context<'_>, awaiting: bool) -> Poll<io::Result<Progress>> {
        let mut wrote = false;
        while !self.wbuf.is_empty() {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => {
                    self.fail_write(io::ErrorKind::WriteZero.into());
                }
                Poll::Ready(Ok(n)) => {
                    self.wbuf.advance(n);
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
        if awaiting {
            // A failed write is reported only once the server's replies (say, a 550
            // before it hung up) have been read: they decide the outcome.
            match self.poll_read(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Progress::Eof)),
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(Progress::Read)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        } else if let Some(e) = self.write_failed.take() {
            return Poll::Ready(Err(e));
        }
        if wrote && self.wbuf.is_empty() && !self.need_flush {
            return Poll::Ready(Ok(Progress::Written));
        }
        Poll::Pending
    }

    fn fail_write(&mut self, e: io::Error) {
        if self.write_failed.is_none() {
            self.write_failed = Some(e);
        }
        self.wbuf.clear();
        self.need_flush = false;
    }

    /// Reads at most [`READ_CHUNK`] bytes onto the end of the read buffer. The buffer
    /// cannot grow without bound: the session consumes every complete line, and the reply
    /// parser refuses a line longer than its cap.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let start = self.rbuf.len();
        self.rbuf.resize(start + READ_CHUNK, 0);
        let mut rb = ReadBuf::new(&mut self.rbuf[start..]);
        let res = Pin::new(&mut self.io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        self.rbuf.truncate(start + n);
        match res {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(n)),
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
    /// §4.5.3.2.5), while the message data is being streamed; replies that are due (to
    /// MAIL, RCPT or earlier BDAT chunks) are read and handled meanwhile, so a server that
    /// answers as it reads cannot deadlock us.
    /// `transfer` is the deadline of the whole data transfer, if any: the write must also
    /// finish before it. False when the session failed.
    pub(crate) async fn write_block(
        &mut self,
        session: &mut Session,
        timeouts: &Timeouts,
        transfer: Option<Instant>,
    ) -> bool {
        session.poll_transmit(&mut self.wbuf);
        let block = Instant::now() + timeouts.get(Phase::DataBlock);
        let (at, phase) = match transfer {
            Some(t) if t < block => (t, Phase::DataTransfer),
            _ => (block, Phase::DataBlock),
        };
        self.need_flush = !self.wbuf.is_empty();
        while (!self.wbuf.is_empty() || self.need_flush) && session.error().is_none() {
            let awaiting = session.awaiting_reply();
            let res = tokio::time::timeout_at(at, poll_fn(|cx| self.poll_io(cx, awaiting))).await;
            match res {
                Err(_) => session.handle_timeout_in(phase),
                Ok(Ok(Progress::Written)) => {}
                Ok(Ok(Progress::Read)) => session.handle_input(&mut self.rbuf),
                Ok(Ok(Progress::Eof)) => {
                    session.handle_input(&mut self.rbuf);
                    session.handle_eof();
                }
                Ok(Err(e)) => session.handle_io_error(e),
            }
        }
        session.error().is_none()
    }
}
