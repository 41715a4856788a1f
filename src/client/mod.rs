//! The async client: a thin tokio driver around the sans-IO [`Session`].
//!
//! It moves bytes and enforces deadlines; every protocol decision is the session's.

mod batch;
#[cfg(test)]
mod buffer_tests;
mod config;
mod io;
#[cfg(feature = "tls")]
pub(crate) mod setup;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::ControlFlow::{self, Break, Continue};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

pub use config::{ClientConfig, DEFAULT_WINDOW};
use io::Conn;

use crate::proto::body::{CrlfText, LineEndings, check_line_endings};
use crate::proto::error::{Error, UsageError};
use crate::proto::{
    Capabilities, Envelope, Event, Phase, Reply, Session, Timeouts, TransactionReport, TxId,
};

/// How long closing the stream may take when message data is abandoned.
const ABANDON_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How much message content is encoded before it is written out.
const BODY_BLOCK: usize = 64 * 1024;

/// An SMTP client connection over any byte stream.
///
/// `S` is plain TCP, a TLS stream, a proxy's stream or an in-memory pipe: anything
/// `AsyncRead + AsyncWrite + Unpin`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), smtp_courier::Error> {
/// use smtp_courier::{Client, ClientConfig, Envelope};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// // A tiny scripted server on the other end of an in-memory pipe.
/// let (client_io, mut server) = tokio::io::duplex(4096);
/// tokio::spawn(async move {
///     let mut buf = vec![0u8; 4096];
///     server.write_all(b"220 mx.example ESMTP\r\n").await?;
///     server.read(&mut buf).await?; // EHLO
///     server.write_all(b"250-mx.example\r\n250 PIPELINING\r\n").await?;
///     let mut got = Vec::new();
///     while !got.ends_with(b"DATA\r\n") {
///         let n = server.read(&mut buf).await?;
///         got.extend_from_slice(&buf[..n]);
///     }
///     // MAIL, RCPT you@, RCPT nobody@, DATA: replies in command order.
///     server.write_all(b"250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n").await?;
///     got.clear();
///     while !got.ends_with(b"\r\n.\r\n") {
///         let n = server.read(&mut buf).await?;
///         got.extend_from_slice(&buf[..n]);
///     }
///     server.write_all(b"250 queued\r\n").await?;
///     server.read(&mut buf).await?; // QUIT
///     server.write_all(b"221 bye\r\n").await?;
///     Ok::<_, std::io::Error>(())
/// });
///
/// let mut client = Client::open(client_io, ClientConfig::default()).await?;
/// let envelope = Envelope::new("me@example.org", ["you@example.net", "nobody@example.net"])?;
/// let report = client.send_bytes(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
/// assert!(report.recipients[0].result.is_ok());
/// assert!(report.recipients[1].result.as_ref().unwrap_err().is_permanent());
/// client.quit().await?;
/// # Ok(())
/// # }
/// ```
pub struct Client<S> {
    pub(crate) conn: Conn<S>,
    pub(crate) session: Session,
    pub(crate) timeouts: Timeouts,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::TlsReport>,
    /// The RFC 9266 `tls-exporter` value of a TLS 1.3 connection, for SCRAM -PLUS.
    pub(crate) channel_binding: Option<Vec<u8>>,
    /// Whether an operation is running, or was cancelled: see [`Client::operation`].
    op: OpState,
    /// At most this many transactions in flight in [`Client::send_batch`].
    pub(crate) window: usize,
    /// Events that arrived while another was awaited (a later transaction's report while
    /// an earlier one's was awaited, say): kept for whoever waits for them.
    parked: VecDeque<Event>,
    /// Transactions started on this connection (MAIL commands queued), for the server's
    /// LIMITS `MAILMAX` (RFC 9422 §4.1).
    mails: u32,
    /// The mechanism of the AUTH that succeeded on this connection.
    mechanism: Option<crate::auth::Mechanism>,
}

/// Where the client is between public operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpState {
    /// No operation is running.
    Idle,
    /// An operation started and has not finished: when another one starts, it was
    /// cancelled.
    Running,
    /// An operation was cancelled: the client is unusable for good.
    Cancelled,
}

impl<S> std::fmt::Debug for Client<S> {
    /// Buffers are shown by length only (they may hold an AUTH line), the stream by its
    /// type, the channel binding not at all.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("conn", &self.conn)
            .field("session", &self.session)
            .field("timeouts", &self.timeouts);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.field("channel_binding", &self.channel_binding.is_some())
            .field("op", &self.op)
            .field("window", &self.window)
            .field("parked", &self.parked.len())
            .field("mails", &self.mails)
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// Opens a TCP connection within `timeout` and turns Nagle's algorithm off: a pipelined
/// group and the end of the data must not wait for the server's delayed ACK.
///
/// # Errors
/// [`Error::Timeout`] with [`Phase::Connect`], or [`Error::Io`].
pub async fn connect_tcp(
    addr: impl ToSocketAddrs,
    timeout: std::time::Duration,
) -> Result<TcpStream, Error> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Timeout {
            phase: Phase::Connect,
            command: None,
        })?
        .map_err(|e| Error::io(None, e))?;
    stream.set_nodelay(true).map_err(|e| Error::io(None, e))?;
    Ok(stream)
}

impl Client<TcpStream> {
    /// The server's address.
    pub fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.conn.io.peer_addr()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Wraps a connected stream without any I/O; call [`Client::handshake`] next.
    pub fn new(stream: S, config: ClientConfig) -> Self {
        Self {
            conn: Conn::new(stream),
            session: Session::new(config.session),
            timeouts: config.timeouts,
            #[cfg(feature = "tls")]
            tls: None,
            channel_binding: None,
            op: OpState::Idle,
            window: config.window,
            parked: VecDeque::new(),
            mails: 0,
            mechanism: None,
        }
    }

    /// [`Client::new`] then [`Client::handshake`].
    ///
    /// # Errors
    /// As [`Client::handshake`].
    pub async fn open(stream: S, config: ClientConfig) -> Result<Self, Error> {
        let mut client = Self::new(stream, config);
        client.handshake().await?;
        Ok(client)
    }

    /// Reads the greeting and sends EHLO; on 500-504 to EHLO, sends HELO (and then no
    /// extension is used).
    ///
    /// A greeting that refuses the session (4yz or 5yz) is answered with QUIT, as RFC 5321
    /// §3.1 asks; the reply to it, or the server closing, is awaited within the
    /// [`Phase::Command`] deadline before the error is returned.
    ///
    /// # Errors
    /// - [`Error::Greeting`] for a greeting other than 220 (554 and 521 are permanent);
    /// - [`Error::Protocol`] for a malformed greeting or reply;
    /// - [`Error::Reply`] when EHLO (and HELO) are refused, 421 included;
    /// - [`Error::Timeout`], [`Error::Closed`], [`Error::Io`].
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn handshake(&mut self) -> Result<(), Error> {
        self.operation(async |c| c.handshake_op().await).await
    }

    /// [`Client::handshake`] within an operation already running.
    pub(crate) async fn handshake_op(&mut self) -> Result<(), Error> {
        let ready = self
            .wait_for(|e| match e {
                Event::Ready(r) => Break(r),
                e => Continue(e),
            })
            .await
            .and_then(|r| r);
        if ready.is_err() {
            self.finish_quit().await;
        }
        ready
    }

    /// Waits for the answer to a QUIT the session sent on its own (after a refused
    /// greeting), within the command deadline; whatever it is (221, EOF, a timeout) changes
    /// nothing for the caller.
    async fn finish_quit(&mut self) {
        if self.session.awaiting_reply() || self.session.wants_write() {
            let _ = self
                .wait_for(|e| match e {
                    Event::Quit(r) => Break(r),
                    e => Continue(e),
                })
                .await;
        }
    }

    /// The greeting, once read.
    pub fn greeting(&self) -> Option<&Reply> {
        self.session.greeting()
    }

    /// The extensions of the last EHLO; `None` after HELO.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.session.capabilities()
    }

    /// What TLS achieved: `None` when TLS was never attempted (skipped, or not offered
    /// in opportunistic mode); after a plaintext fallback, a report with `fallback` set.
    #[cfg(feature = "tls")]
    pub fn tls_report(&self) -> Option<&crate::tls::TlsReport> {
        self.tls.as_ref()
    }

    /// The protocol session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// True while the connection can carry another transaction: false once it failed for
    /// good, and once an operation was cancelled (see "Cancel safety" in the crate docs).
    /// False for good once the server answered anything with 421 (RFC 5321 §3.8, it is
    /// closing the connection): then every call but [`Client::quit`] fails with
    /// [`Error::ServerClosing`] and sends nothing.
    pub fn is_usable(&self) -> bool {
        self.op == OpState::Idle && self.session.is_ready()
    }

    /// How many more transactions this connection may carry under the server's LIMITS
    /// `MAILMAX` (RFC 9422 §4.1): `None` when the server set no such limit, `Some(0)` once
    /// it is reached ([`Client::is_exhausted`]). Every transaction started counts, also a
    /// failed one, one sent again after a `503`, and each part of a message split over
    /// several transactions.
    pub fn transactions_left(&self) -> Option<u32> {
        self.mail_max().map(|max| max.saturating_sub(self.mails))
    }

    /// True once the connection carried as many transactions as the server's `MAILMAX`
    /// allows (RFC 9422 §4.1). It stays open ([`Client::is_usable`] is unaffected, and
    /// RSET, NOOP and QUIT still work), but every further message gets a report with
    /// [`Error::ConnectionExhausted`] and nothing sent
    /// ([`TransactionReport::not_sent`]): QUIT, and send the rest on a new connection to
    /// the same server.
    ///
    /// ```ignore
    /// let mut pending: Vec<_> = messages;
    /// while !pending.is_empty() {
    ///     let mut client = connect().await?;
    ///     let reports = client.send_batch(pending.iter().map(|(e, b)| (e, &b[..]))).await;
    ///     client.quit().await.ok();
    ///     pending = pending.into_iter().zip(&reports).filter(|(_, r)| r.not_sent()).map(|(m, _)| m).collect();
    /// }
    /// ```
    pub fn is_exhausted(&self) -> bool {
        self.transactions_left() == Some(0)
    }

    fn mail_max(&self) -> Option<u32> {
        self.session
            .capabilities()
            .and_then(Capabilities::limits)
            .and_then(|l| l.mail_max)
    }

    /// How the recipients of `envelope` go over transactions, as indices into its
    /// recipients: one transaction unless the server's LIMITS `RCPTMAX` or
    /// `RCPTDOMAINMAX` ask for more (RFC 9422 §4.2, §4.3).
    fn plan(&self, envelope: &Envelope) -> Vec<Vec<usize>> {
        match self.session.capabilities().and_then(Capabilities::limits) {
            Some(limits) => limits.split_recipients(envelope.recipients()),
            None => vec![(0..envelope.recipients().len()).collect()],
        }
    }

    /// Queues a transaction ([`Session::mail`]) and counts it against `MAILMAX`.
    ///
    /// # Errors
    /// [`Error::ConnectionExhausted`] once `MAILMAX` is reached (nothing is queued), else
    /// as [`Session::mail`].
    fn start_mail(&mut self, envelope: Envelope) -> Result<TxId, Error> {
        if let Some(mail_max) = self.mail_max().filter(|_| self.is_exhausted()) {
            // RFC 9422 §4.1: the server would refuse more transactions on this connection.
            return Err(Error::ConnectionExhausted { mail_max });
        }
        let id = self.session.mail(envelope)?;
        self.mails = self.mails.saturating_add(1);
        Ok(id)
    }

    /// Replaces this client by `fresh` (a new connection) in the middle of an operation,
    /// which goes on: its cancellation is still detected.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn replace_within_operation(&mut self, fresh: Self) {
        let op = self.op;
        *self = fresh;
        self.op = op;
    }

    /// Runs one public operation; every async method of the client goes through here.
    ///
    /// The client is marked busy until `op` finishes. Dropping the future of an operation
    /// (say, under `tokio::time::timeout`) leaves the mark set: the stream may hold half a
    /// command or half a message, and replies may be on their way. The next operation
    /// finds the mark and, rather than send anything after those bytes or take those
    /// replies for its own, poisons the session with [`Error::Cancelled`], drops what was
    /// buffered for writing and shuts the stream down (so a server in the middle of the
    /// message data discards it). From then on every call returns [`Error::Cancelled`]
    /// and [`Client::is_usable`] is false; it is false already once the future was
    /// dropped.
    pub(crate) async fn operation<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match self.op {
            OpState::Idle => {}
            OpState::Running => {
                self.op = OpState::Cancelled;
                self.session.abort(Error::Cancelled);
                // The events of the cancelled operation (its report, say) are nobody's.
                while self.session.poll_event().is_some() {}
                self.parked.clear();
                self.conn.discard_output();
                let limit = self.timeouts.get(Phase::Command).min(ABANDON_LIMIT);
                let _ = tokio::time::timeout(limit, self.conn.io.shutdown()).await;
                return Err(Error::Cancelled);
            }
            OpState::Cancelled => return Err(Error::Cancelled),
        }
        self.op = OpState::Running;
        let result = op(self).await;
        self.op = OpState::Idle;
        // Between operations the connection is idle: no message block or large reply is
        // kept (see `io::IDLE_BUFFER`).
        self.conn.release_idle();
        result
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.conn.io
    }

    /// Sends one message: MAIL, every RCPT, then the content read from `body`, streamed
    /// (never the whole message in memory) with CRLF line endings: after DATA with
    /// dot-stuffing, or, when the server offers CHUNKING (and
    /// [`ClientConfig::chunking`] is on), as BDAT chunks of at most
    /// [`ClientConfig::chunk_size`] octets (RFC 3030). With PIPELINING, MAIL, RCPTs and
    /// DATA go out in one write, and the end of the data goes out with the last block of
    /// content; with BDAT, MAIL, the RCPTs and the first chunk go in one write once the
    /// server accepted a MAIL on this connection (since the last EHLO and AUTH; before
    /// that the content waits for the MAIL and RCPT replies, see [`crate::manual`]).
    /// Without PIPELINING each command, and each chunk, waits for the reply to the one
    /// before.
    ///
    /// Each recipient gets its own result in the report; one refused recipient never sinks
    /// the others, and when every recipient is refused no data is sent.
    ///
    /// When the server advertises LIMITS (RFC 9422) and its `RCPTMAX` or `RCPTDOMAINMAX`
    /// do not let every recipient go in one transaction, the message goes in several
    /// ([`Limits::split_recipients`](crate::proto::Limits::split_recipients)), each with
    /// the same content, and still gives one report, every recipient in the envelope's
    /// order. The content must then be sent once per transaction, so `body` is read into
    /// memory first (within the data transfer deadline) and the parts go as
    /// [`Client::send_bytes`] sends them; otherwise it is streamed. A message that needs
    /// more transactions than the server's `MAILMAX` leaves on this connection is not
    /// started ([`TransactionReport::not_sent`]), unless it could never fit in one
    /// connection: then as many parts as fit go, and the other recipients carry
    /// [`Error::ConnectionExhausted`].
    ///
    /// A recipient refused with `452` (too many recipients, by a server that does not
    /// advertise LIMITS) is transient in the report and is not sent again by the client:
    /// send the undelivered recipients again in a new transaction. A failed
    /// transaction is followed by RSET before the next one. A 421 at any step ends the
    /// transaction at once (undecided recipients transient, with the 421) and the
    /// connection: nothing more is sent on it.
    ///
    /// **`Ok(report)` does not mean the message was delivered**: `send(..).await?` only
    /// says the transaction ran. Check [`TransactionReport::all_delivered`],
    /// [`TransactionReport::is_failed`] (delivered to nobody) or each recipient's status.
    ///
    /// # Errors
    /// `Err` only when the transaction could not start: the connection is already unusable
    /// (the sticky error), or a transaction is running. Everything that happens once it has
    /// started, a lost connection included, is in the report; a size or extension check
    /// that fails before anything is sent is there too.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable (the server may
    /// have part of the message, or all of it); every later call returns
    /// [`Error::Cancelled`], and no report is ever paired with the wrong message.
    pub async fn send<R: AsyncRead + Unpin>(
        &mut self,
        envelope: &Envelope,
        body: R,
    ) -> Result<TransactionReport, Error> {
        self.operation(async move |c| c.send_op(envelope, body).await)
            .await
    }

    async fn send_op<R: AsyncRead + Unpin>(
        &mut self,
        envelope: &Envelope,
        mut body: R,
    ) -> Result<TransactionReport, Error> {
        if self.plan(envelope).len() > 1 {
            // The content goes once per transaction: read it all first.
            let mut message = Vec::new();
            let read = body.read_to_end(&mut message);
            let read = match self.timeouts.data_transfer {
                Some(limit) => tokio::time::timeout(limit, read).await,
                None => Ok(read.await),
            };
            return match read {
                Ok(Ok(_)) => self.send_bytes_op(envelope, &message).await,
                Ok(Err(e)) => Ok(TransactionReport::failed(envelope, Error::io(None, e))),
                Err(_) => Ok(TransactionReport::failed(
                    envelope,
                    Error::Timeout {
                        phase: Phase::DataTransfer,
                        command: None,
                    },
                )),
            };
        }
        self.send_one_op(envelope, None, &mut Reader::new(body))
            .await
    }

    /// One transaction for `envelope`, its content streamed from `body`. `owned`, when
    /// given, is the envelope to queue (`envelope` with its size declared, say), taken
    /// rather than copied; `envelope` names the recipients of a report when nothing
    /// could be sent.
    async fn send_one_op(
        &mut self,
        envelope: &Envelope,
        owned: Option<Envelope>,
        body: &mut impl BodySource,
    ) -> Result<TransactionReport, Error> {
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        let id = match self.start_mail(owned.unwrap_or_else(|| envelope.clone())) {
            Ok(id) => id,
            Err(
                e @ (Error::TooLarge { .. }
                | Error::Extension(_)
                | Error::ConnectionExhausted { .. }),
            ) => {
                return Ok(TransactionReport::failed(envelope, e));
            }
            Err(e) => return Err(e),
        };
        loop {
            match self.wait_for_transaction(id).await? {
                None => self.stream_body(id, body).await,
                Some(report) => return Ok(report),
            }
        }
    }

    /// Waits until transaction `id` wants its content (`None`) or has ended.
    async fn wait_for_transaction(&mut self, id: TxId) -> Result<Option<TransactionReport>, Error> {
        self.wait_for(|e| match e {
            Event::SendBody(i) if i == id => Break(None),
            Event::Transaction(i, report) if i == id => Break(Some(report)),
            e => Continue(e),
        })
        .await
    }

    /// [`Client::send`] for a message in memory. The envelope's size defaults to the
    /// message's size after line-ending normalisation (for BINARYMIME, its exact length),
    /// so `SIZE=` is declared (RFC 1870, with BDAT too).
    /// With strict line endings a bare CR or LF is found before anything is sent.
    ///
    /// A message split over several transactions by the server's LIMITS (see
    /// [`Client::send`]) goes as [`Client::send_batch`] sends its parts: with
    /// transactions in flight when the server allows them.
    ///
    /// # Errors
    /// As [`Client::send`].
    ///
    /// # Cancel safety
    /// As [`Client::send`].
    pub async fn send_bytes(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionReport, Error> {
        self.operation(async move |c| c.send_bytes_op(envelope, message).await)
            .await
    }

    async fn send_bytes_op(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionReport, Error> {
        if self.plan(envelope).len() > 1 {
            self.conn
                .check_idle(&mut self.session, &self.timeouts)
                .await;
            if let Some(e) = self.session.error() {
                // As for one transaction: the sticky error, before anything starts.
                return Err(e.clone());
            }
            let mut reports = self.send_batch_op(&[(envelope, message)]).await;
            let lost = || TransactionReport::failed(envelope, Error::Closed { command: None });
            return Ok(reports.pop().unwrap_or_else(lost));
        }
        self.send_one_bytes_op(envelope, message).await
    }

    /// One transaction for a message in memory.
    async fn send_one_bytes_op(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionReport, Error> {
        if !envelope.is_binarymime()
            && self.session_line_endings() == LineEndings::Strict
            && let Err(e) = check_line_endings(message)
        {
            return Ok(TransactionReport::failed(envelope, Error::Body(e)));
        }
        let (sized, mut body) = batch::sized(envelope, message);
        self.send_one_op(envelope, Some(sized), &mut body).await
    }

    fn session_line_endings(&self) -> LineEndings {
        self.session.line_endings()
    }

    /// Sends RSET and waits for its reply.
    ///
    /// # Errors
    /// The reply when it is not 2yz, or a connection error.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn rset(&mut self) -> Result<(), Error> {
        self.operation(async |c| c.rset_op().await).await
    }

    async fn rset_op(&mut self) -> Result<(), Error> {
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        self.session.rset()?;
        self.wait_for(|e| match e {
            Event::Reset(r) => Break(r),
            e => Continue(e),
        })
        .await?
    }

    /// Sends NOOP and returns its reply.
    ///
    /// # Errors
    /// The reply when it is not 2yz, or a connection error.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn noop(&mut self) -> Result<Reply, Error> {
        self.operation(async |c| c.noop_op().await).await
    }

    async fn noop_op(&mut self) -> Result<Reply, Error> {
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        self.session.noop()?;
        self.wait_for(|e| match e {
            Event::Noop(r) => Break(r),
            e => Continue(e),
        })
        .await?
    }

    /// Sends QUIT, waits for 221 (a connection closed instead is fine too) and shuts the
    /// stream down.
    ///
    /// # Errors
    /// A reply other than 2yz, or a connection error; [`Error::Cancelled`] after a
    /// cancelled operation (nothing is sent then).
    ///
    /// # Cancel safety
    /// Dropping the future drops the client, and with it the connection.
    pub async fn quit(mut self) -> Result<(), Error> {
        self.operation(async |c| c.quit_op().await).await
    }

    async fn quit_op(&mut self) -> Result<(), Error> {
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        self.session.quit()?;
        let result = self
            .wait_for(|e| match e {
                Event::Quit(r) => Break(r),
                e => Continue(e),
            })
            .await?;
        let limit = self.timeouts.get(Phase::Command);
        let _ = tokio::time::timeout(limit, self.conn.io.shutdown()).await;
        result
    }

    /// Takes the stream back, for instance to hand it to a TLS handshake.
    pub fn into_inner(self) -> S {
        self.conn.io
    }

    /// The driver loop, the only one: moves bytes between the stream and the session
    /// until `pick` accepts an event (`Break`; it hands back the ones it does not want as
    /// `Continue`). Events for other operations are kept, in order, for a later wait:
    /// with transactions in flight, the report of a later one may arrive while an earlier
    /// one is awaited.
    ///
    /// # Errors
    /// The sticky error when the session became unusable before the event came, or a
    /// usage error when nothing could produce it.
    pub(crate) async fn wait_for<T>(
        &mut self,
        mut pick: impl FnMut(Event) -> ControlFlow<T, Event>,
    ) -> Result<T, Error> {
        let mut kept = VecDeque::with_capacity(self.parked.len());
        let mut found = None;
        while let Some(ev) = self.parked.pop_front() {
            if found.is_some() {
                kept.push_back(ev);
                continue;
            }
            match pick(ev) {
                Break(t) => found = Some(t),
                Continue(ev) => kept.push_back(ev),
            }
        }
        self.parked = kept;
        if let Some(t) = found {
            return Ok(t);
        }
        loop {
            while let Some(ev) = self.session.poll_event() {
                match pick(ev) {
                    Break(t) => return Ok(t),
                    Continue(ev) => self.parked.push_back(ev),
                }
            }
            if !self.session.wants_write()
                && !self.session.awaiting_reply()
                && self.conn.wbuf.is_empty()
            {
                // Nothing can produce the event: the session failed, or misuse.
                return Err(self
                    .session
                    .error()
                    .cloned()
                    .unwrap_or(Error::Usage(UsageError::InvalidState("no reply is due"))));
            }
            self.conn.step(&mut self.session, &self.timeouts).await;
        }
    }

    /// Streams the content of transaction `id` after [`Event::SendBody`]: the session frames
    /// it (dot-stuffing or BDAT chunks) into its transmit queue, and a block is written
    /// each time one fills; the last block and the end of the data are left for one final
    /// write (with BDAT and PIPELINING, together with MAIL and the RCPTs when the message
    /// is small). Without PIPELINING, each BDAT chunk waits for the reply to the one before.
    ///
    /// With [`Timeouts::data_transfer`](crate::proto::Timeouts::data_transfer) set, reading
    /// the body and writing every block must end before that deadline.
    async fn stream_body(&mut self, id: TxId, body: &mut impl BodySource) {
        let transfer = self
            .timeouts
            .data_transfer
            .and_then(|d| tokio::time::Instant::now().checked_add(d));
        loop {
            match self.session.body_capacity(id) {
                // Complete, or the transaction failed (RFC 3030 §2: no further chunk).
                None => return,
                Some(0) => {
                    // A lock-step chunk's reply first (RFC 3030 §4).
                    if self.session.error().is_some() {
                        return;
                    }
                    self.conn.step(&mut self.session, &self.timeouts).await;
                    continue;
                }
                Some(_) => {}
            }
            let read = body.next_block();
            let read = match transfer {
                Some(at) => tokio::time::timeout_at(at, read).await,
                None => Ok(read.await),
            };
            let data = match read {
                Ok(Ok(data)) => data,
                Ok(Err(e)) => {
                    self.session.handle_io_error(e);
                    return self.abandon_data().await;
                }
                Err(_) => {
                    self.session.handle_timeout_in(Phase::DataTransfer);
                    return self.abandon_data().await;
                }
            };
            if data.is_empty() {
                let _ = self.session.finish_body(id);
                return;
            }

            let sent = match data {
                Block::Raw(data) => self.session.send_body(id, data),
                Block::Clean(part) => self.session.send_clean_body(id, part),
            };
            if sent.is_err() {
                // Strict line endings refused the content.
                return self.abandon_data().await;
            }
            // The content stays in the session's queue until a block is due (moved out
            // whole then, not copied piece by piece); a BDAT chunk framed ahead goes
            // once complete, as a chunk framed at once would.
            let queued = self
                .conn
                .wbuf
                .len()
                .saturating_add(self.session.transmit_len());
            if queued >= BODY_BLOCK
                && !self.session.chunk_open(id)
                && !self
                    .conn
                    .write_block(&mut self.session, &self.timeouts, transfer)
                    .await
            {
                return self.abandon_data().await;
            }
        }
    }

    /// The message data cannot be completed: close the stream without a terminator, so
    /// the server discards the partial message.
    async fn abandon_data(&mut self) {
        self.conn.discard_output();
        // A TLS close_notify may not get through to a server that stopped reading: wait
        // a little, not a whole command timeout.
        let limit = self.timeouts.get(Phase::Command).min(ABANDON_LIMIT);
        let _ = tokio::time::timeout(limit, self.conn.io.shutdown()).await;
    }
}

/// Where the content of a message comes from: blocks of at most [`BODY_BLOCK`] octets.
pub(crate) trait BodySource {
    /// The next block; empty at the end of the content.
    async fn next_block(&mut self) -> std::io::Result<Block<'_>>;
}

/// A block of content for the session: octets as read, or a part of text already checked
/// for bare line endings.
pub(crate) enum Block<'a> {
    Raw(&'a [u8]),
    Clean(CrlfText<'a>),
}

impl Block<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Self::Raw(b) => b.is_empty(),
            Self::Clean(part) => part.as_bytes().is_empty(),
        }
    }
}

/// Content read from a stream, a block at a time, into a buffer allocated for this
/// message only (and never zeroed: the reader fills it).
struct Reader<R> {
    io: R,
    buf: bytes::BytesMut,
}

impl<R> Reader<R> {
    fn new(io: R) -> Self {
        Self {
            io,
            buf: bytes::BytesMut::new(),
        }
    }
}

impl<R: AsyncRead + Unpin> BodySource for Reader<R> {
    async fn next_block(&mut self) -> std::io::Result<Block<'_>> {
        self.buf.clear();
        self.buf.reserve(BODY_BLOCK);
        self.io.read_buf(&mut self.buf).await?;
        Ok(Block::Raw(&self.buf))
    }
}

/// Content already in memory: handed to the session in place, never copied first; when
/// it was checked for bare line endings ([`CrlfText`]), its blocks are handed as parts
/// of that text, which the encoders need not search again.
pub(crate) enum InMemory<'a> {
    Raw(&'a [u8]),
    Clean(CrlfText<'a>),
}

impl<'a> InMemory<'a> {
    /// `clean`, when given, is `content` checked.
    pub(crate) fn new(content: &'a [u8], clean: Option<CrlfText<'a>>) -> Self {
        match clean {
            Some(text) if text.as_bytes().len() == content.len() => Self::Clean(text),
            _ => Self::Raw(content),
        }
    }
}

impl BodySource for InMemory<'_> {
    async fn next_block(&mut self) -> std::io::Result<Block<'_>> {
        Ok(match self {
            Self::Raw(rest) => {
                let (block, tail) = rest.split_at(rest.len().min(BODY_BLOCK));
                *rest = tail;
                Block::Raw(block)
            }
            Self::Clean(rest) => {
                let (part, tail) = rest.split_at(BODY_BLOCK);
                *rest = tail;
                Block::Clean(part)
            }
        })
    }
}

/// AUTH (RFC 4954).
impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Authenticates with the first usable mechanism: the caller's list in
    /// `options`, or the strongest the server offers (SCRAM-SHA-256-PLUS, SCRAM-SHA-256,
    /// SCRAM-SHA-1-PLUS, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN; OAUTHBEARER, XOAUTH2 for a
    /// token), from the capabilities of the last EHLO, so after STARTTLS the list offered
    /// over TLS. Every mechanism needs verified TLS, unless
    /// [`AuthOptions::allow_cleartext`](crate::auth::AuthOptions::allow_cleartext) (any
    /// mechanism) or
    /// [`AuthOptions::allow_unverified_challenge_response`](crate::auth::AuthOptions::allow_unverified_challenge_response)
    /// (CRAM-MD5 and SCRAM) allows otherwise. On the
    /// wire: `AUTH MECH [initial-response]`, then one base64 line per `334` challenge;
    /// see [`Session::auth`].
    ///
    /// After a failure the connection stays open: try other credentials, or QUIT.
    /// [`Client::send`] refuses to start a transaction (with this error) until an AUTH
    /// succeeds.
    ///
    /// # Errors
    /// - [`Error::Auth`], before anything is sent and permanent, when no mechanism can be
    ///   used (AUTH not offered, none in common, no verified TLS, channel binding
    ///   required but unavailable);
    /// - [`Error::Auth`], transient, when the server's SASL messages fail the client's
    ///   checks (a bad SCRAM signature or nonce, an absurd iteration count, a malformed
    ///   challenge, an endless exchange): the exchange was cancelled with `*`;
    /// - [`Error::Auth`] with [`AuthError::Refused`](crate::auth::AuthError::Refused) and
    ///   the server's reply ([`Error::reply`]): 535, 534, 538 and 530 permanent, 454
    ///   transient;
    /// - a usage error (already authenticated, a transaction running), or a connection
    ///   error.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn authenticate(
        &mut self,
        credentials: &crate::auth::Credentials,
        options: &crate::auth::AuthOptions,
    ) -> Result<crate::auth::Mechanism, Error> {
        self.operation(async move |c| c.authenticate_op(credentials, options).await)
            .await
    }

    async fn authenticate_op(
        &mut self,
        credentials: &crate::auth::Credentials,
        options: &crate::auth::AuthOptions,
    ) -> Result<crate::auth::Mechanism, Error> {
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        let mechanism = self
            .session
            .auth(credentials, options, self.channel_binding.as_deref())?;
        self.wait_for(|e| match e {
            Event::Auth(r) => Break(r),
            e => Continue(e),
        })
        .await?
        .map(|()| {
            self.mechanism = Some(mechanism);
            mechanism
        })
    }

    /// The mechanism [`Client::authenticate`] succeeded with on this connection; `None`
    /// before (or without) a successful AUTH.
    pub fn authenticated_mechanism(&self) -> Option<crate::auth::Mechanism> {
        self.mechanism
    }

    /// Records the RFC 9266 `tls-exporter` channel binding value (label
    /// `EXPORTER-Channel-Binding`, no context, 32 bytes) after a TLS 1.3 handshake, or
    /// `None` (TLS 1.2 has no usable binding here: rustls offers no `tls-unique`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn set_channel_binding(&mut self, data: Option<Vec<u8>>) {
        self.channel_binding = data;
    }
}
