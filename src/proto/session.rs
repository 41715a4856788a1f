//! The client session state machine: which replies are expected, what each one means, and
//! what to send next. No I/O: bytes in through [`Session::handle_input`], bytes out through
//! [`Session::poll_transmit`], results through [`Session::poll_event`].

use std::collections::VecDeque;
use std::fmt;

use bytes::BytesMut;

use crate::proto::error::{Error, ProtocolError, UsageError};

use super::body::LineEndings;
use super::capability::Capabilities;
use super::command::{Command, CommandKind};
use super::reply::{Reply, ReplyParser, push_escaped};
use super::timeouts::Phase;
use super::transaction::{TransactionReport, TxId};

/// The largest output buffer the session keeps once its bytes are handed out: enough for
/// a pipelined group of commands with a small message; a larger one (a message block) is
/// let go, so an idle session holds no message data's worth of memory.
pub const OUT_IDLE_CAPACITY: usize = 2 * 1024;

/// What the session reports to its driver.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Greeting and EHLO (or HELO) are done; capabilities are known. After STARTTLS this
    /// comes again for the new EHLO.
    Ready(Result<(), Error>),
    /// The answer to STARTTLS. `Ok`: start the TLS handshake now, then call
    /// [`Session::tls_established`].
    StartTls(Result<(), Error>),
    /// The transaction wants its message content: stream it through
    /// [`Session::send_body`] and [`Session::finish_body`]. With DATA this comes after
    /// the `354`. With BDAT it comes once MAIL and a recipient were accepted, except with
    /// PIPELINING on a connection where a MAIL was already accepted since the last
    /// EHLO and AUTH: then at once, so that the first chunk rides with MAIL and RCPT
    /// (see [`Session::mail`]).
    SendBody(TxId),
    /// A transaction ended, successfully or not.
    Transaction(TxId, TransactionReport),
    /// The answer to an explicit RSET.
    Reset(Result<(), Error>),
    /// The answer to NOOP.
    Noop(Result<Reply, Error>),
    /// The answer to QUIT (a connection closed instead of answering counts as success).
    Quit(Result<(), Error>),
    /// The end of an AUTH exchange started by [`Session::auth`].
    Auth(Result<(), Error>),
}

/// Where the session is in its life.
#[derive(Debug)]
enum State {
    /// Waiting for greeting and EHLO/HELO.
    Opening,
    /// Commands and transactions may be issued.
    Ready,
    /// QUIT sent by the caller.
    Closing,
    /// The server refused the session (a 4yz or 5yz greeting) or announced that it is
    /// closing the connection (a 421 to any command, or unsolicited): nothing but QUIT is
    /// sent from now on, and every other call returns this error.
    ServerClosing(Error),
    /// Desynchronised or closed: every later call returns this error (rustls-style
    /// sticky failure).
    Poisoned(Error),
}

/// The sans-IO SMTP client session.
///
/// The driver feeds it bytes and carries out its output; it never blocks, reads a clock or
/// touches a socket. Expected replies form a FIFO, so several commands (and later several
/// transactions) can be in flight at once and every reply is paired with its command.
///
/// ```
/// use bytes::BytesMut;
/// use smtp_courier::proto::{Domain, Event, Session, SessionConfig};
///
/// let mut s = Session::new(SessionConfig::new(Domain::new("client.example").unwrap()));
/// let mut input = BytesMut::from(&b"220 mx.example ESMTP\r\n"[..]);
/// s.handle_input(&mut input);
/// let mut out = BytesMut::new();
/// s.poll_transmit(&mut out);
/// assert_eq!(&out[..], b"EHLO client.example\r\n");
/// s.handle_written(out.len()); // the driver wrote it: its reply may come now
/// input.extend_from_slice(b"250-mx.example\r\n250 PIPELINING\r\n");
/// s.handle_input(&mut input);
/// assert!(matches!(s.poll_event(), Some(Event::Ready(Ok(())))));
/// assert!(s.capabilities().unwrap().pipelining());
/// ```
pub struct Session {
    config: SessionConfig,
    state: State,
    parser: ReplyParser,
    expect: Awaited,
    out: BytesMut,
    /// `out` holds an AUTH line or a SASL response: wipe it once handed out.
    out_secret: bool,
    /// Bytes handed to the driver so far (commands and message data), an offset into the
    /// output stream.
    emitted: u64,
    /// Bytes the driver reported written ([`Session::handle_written`]); at most `emitted`.
    written: u64,
    events: VecDeque<Event>,
    greeting: Option<Reply>,
    caps: Option<Capabilities>,
    need_rset: bool,
    /// The transactions in flight, oldest first: their replies come back in this order.
    txs: VecDeque<Tx>,
    next_tx: u64,
    tls: bool,
    tls_verified: bool,
    replies: u64,
    /// The start of an unsolicited 421 line is buffered; the rest is awaited.
    unsolicited_421: bool,
    auth: Option<auth_exchange::AuthExchange>,
    authenticated: bool,
    /// The server accepted a MAIL since the last EHLO (LHLO, HELO) and the last AUTH:
    /// BDAT content may be pipelined with MAIL and RCPT. Before that a refusal of MAIL
    /// may come from a state the server wants changed first (Postfix 3.7's `530 5.7.0
    /// Must issue a STARTTLS command first`), and such a server may not read a refused
    /// chunk (RFC 3030 §2 says it must), taking the content for commands.
    mail_accepted: bool,
    /// The failure of the last AUTH: no transaction starts until an AUTH succeeds.
    auth_failure: Option<Error>,
    /// Set by a 421 or a refused greeting: [`Session::send`] queues nothing but QUIT.
    quit_only: bool,
    /// QUIT has been queued: never a second one.
    quit_sent: bool,
}

impl Session {
    /// A session waiting for the server's greeting.
    pub fn new(config: SessionConfig) -> Self {
        let mut session = Self {
            config,
            state: State::Opening,
            parser: ReplyParser::new(),
            expect: Awaited::default(),
            out: BytesMut::new(),
            out_secret: false,
            emitted: 0,
            written: 0,
            events: VecDeque::new(),
            greeting: None,
            caps: None,
            need_rset: false,
            txs: VecDeque::new(),
            next_tx: 0,
            tls: false,
            tls_verified: false,
            replies: 0,
            unsolicited_421: false,
            auth: None,
            authenticated: false,
            mail_accepted: false,
            auth_failure: None,
            quit_only: false,
            quit_sent: false,
        };
        // The greeting answers no command: it is due at once.
        session.expect.push(Expect::Greeting, 0);
        session
    }

    /// The settings this session was created with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The greeting, once received.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// The capabilities of the last EHLO; `None` before it, or after HELO.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// The sticky error, once the session is unusable: after a 421 it is
    /// [`Error::ServerClosing`], after a refused greeting [`Error::Greeting`].
    pub fn error(&self) -> Option<&Error> {
        match &self.state {
            State::Poisoned(e) | State::ServerClosing(e) => Some(e),
            _ => None,
        }
    }

    /// True when commands can be issued.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    /// True when a transaction is in flight.
    pub fn in_transaction(&self) -> bool {
        !self.txs.is_empty()
    }

    /// How many transactions are in flight.
    pub fn transactions_in_flight(&self) -> usize {
        self.txs.len()
    }

    /// True while message data is being sent (after [`Event::SendBody`], before
    /// [`Session::finish_body`]).
    pub fn sending_body(&self) -> bool {
        self.txs.iter().any(Tx::body_open)
    }

    /// The phase of the oldest reply awaited, whose deadline the driver enforces; `None`
    /// when no reply is due.
    pub fn phase(&self) -> Option<Phase> {
        if self.sending_data() {
            return Some(Phase::DataBlock);
        }
        self.expect
            .front()
            .map(|e| e.phase())
            .or_else(|| self.sending_body().then_some(Phase::DataBlock))
    }

    /// The command of the oldest reply awaited (while content is streamed and no reply is
    /// due, the data's).
    pub fn pending_command(&self) -> Option<CommandKind> {
        if self.sending_data() {
            return Some(CommandKind::DataEnd);
        }
        self.expect
            .front()
            .and_then(|e| e.command())
            .or_else(|| self.sending_body().then_some(CommandKind::Bdat))
    }

    /// True while content after a `354` is being sent.
    fn sending_data(&self) -> bool {
        self.txs
            .iter()
            .any(|t| matches!(t.framing, body_flow::Framing::Data(_)))
    }

    /// How many replies have been handled so far: the driver restarts its deadline when
    /// this changes.
    pub fn replies_handled(&self) -> u64 {
        self.replies
    }

    /// True when a reply is due, or when the start of an unsolicited `421` arrived and
    /// the rest of it must be read before any command is sent.
    pub fn awaiting_reply(&self) -> bool {
        !self.expect.is_empty() || self.unsolicited_421
    }

    /// True when nothing the driver still holds may go out: the session is poisoned, or
    /// the server said it is closing (a 421, a refused greeting) and no QUIT was queued
    /// since (the rest of a pipelined group not yet all written is dropped; a QUIT asked
    /// for afterwards is not).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn discards_output(&self) -> bool {
        match self.state {
            State::Poisoned(_) => true,
            State::ServerClosing(_) => !self.quit_sent,
            _ => false,
        }
    }

    /// Moves the bytes to send into `dst`. Call [`Session::handle_written`] as they are
    /// written: a reply is paired with a command only once the command was written.
    ///
    /// When `dst` is empty the session's buffer is handed over whole (no copy) and `dst`'s
    /// allocation is kept in exchange, unless it is larger than an idle session keeps
    /// ([`OUT_IDLE_CAPACITY`]).
    pub fn poll_transmit(&mut self, dst: &mut BytesMut) {
        self.emitted = self.emitted.saturating_add(len_u64(self.out.len()));
        if dst.is_empty() {
            dst.clear();
            std::mem::swap(dst, &mut self.out);
            // What came back held bytes already written (wiped by the driver when they
            // were a credential): nothing to send.
            self.out.clear();
            self.out_secret = false;
        } else {
            dst.extend_from_slice(&self.out);
            if std::mem::take(&mut self.out_secret) {
                // An AUTH line or SASL response: do not leave it in our buffer's memory.
                zeroize::Zeroize::zeroize(&mut self.out[..]);
            }
            self.out.clear();
        }
        if self.out.capacity() > OUT_IDLE_CAPACITY {
            // A message block's worth: let it go rather than keep it between messages.
            self.out = BytesMut::new();
        }
    }

    /// The capacity of the output buffer, for tests of the idle bound.
    #[cfg(test)]
    pub(crate) fn out_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// True while the bytes [`Session::poll_transmit`] would hand out hold a credential
    /// (an AUTH line or a SASL response): the driver should wipe them from its own buffer
    /// once written.
    pub fn transmit_holds_secret(&self) -> bool {
        self.out_secret && !self.out.is_empty()
    }

    /// The driver wrote `n` more bytes of what the session handed out
    /// ([`Session::poll_transmit`], message content included),
    /// in order; `n` is capped at what was handed out, so `usize::MAX` means "all of it".
    ///
    /// A reply can only answer a command whose bytes have been completely written: one
    /// that arrives earlier was sent before the server could have read the command (a
    /// `250` to the end of data while the data is still being written, say) and is a
    /// protocol error, never paired with the command. A driver whose stream buffers
    /// (TLS) should count the last bytes of a write only once they are flushed.
    pub fn handle_written(&mut self, n: usize) {
        self.written = self.written.saturating_add(len_u64(n)).min(self.emitted);
    }

    /// True when there are bytes to send.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn check_ready(&self) -> Result<(), Error> {
        if self.unsolicited_421 {
            // The rest of a 421 must be read first: it must never answer this command.
            return Err(Error::Protocol {
                command: None,
                error: ProtocolError::Unsolicited,
            });
        }
        match &self.state {
            State::Ready if self.txs.is_empty() => Ok(()),
            State::Ready => Err(UsageError::InvalidState("a transaction is in progress").into()),
            State::Poisoned(e) | State::ServerClosing(e) => Err(e.clone()),
            State::Opening => Err(UsageError::InvalidState("the session is not open yet").into()),
            State::Closing => Err(Error::Closed { command: None }),
        }
    }

    /// Queues `cmd`, whose reply is `expect`. Once the server said it is closing (a 421
    /// anywhere, or a refused greeting), nothing but QUIT is queued: RFC 5321 §3.8, the
    /// server closes the channel after a 421, so a command handler that would go on (the
    /// next RCPT in lock-step, MAIL after RSET, EHLO) queues nothing, and whatever it left
    /// undecided is ended by [`Session::closed_by_server`].
    fn send(&mut self, cmd: &Command, expect: Expect) {
        if !self.may_send(expect) {
            return;
        }
        if expect == Expect::Quit {
            self.quit_sent = true;
        }
        if let Some(t) = &self.config.transcript {
            t(Direction::Client, &cmd.to_string());
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "smtp_courier::transcript", "C: {cmd}");
        cmd.encode(&mut self.out);
        self.expect_reply(expect);
    }

    /// Awaits a reply to the command just queued in `out` (or, for the end of data, just
    /// handed out): it can be answered once everything up to here is written.
    fn expect_reply(&mut self, expect: Expect) {
        let end = self.emitted.saturating_add(len_u64(self.out.len()));
        self.expect.push(expect, end);
    }

    /// Awaits a reply to a command that ends at offset `end` of `out`.
    fn expect_reply_at(&mut self, expect: Expect, end: usize) {
        let end = self.emitted.saturating_add(len_u64(end));
        self.expect.push(expect, end);
    }

    /// False when a line awaiting `expect` must not be sent: after a 421 or a refused
    /// greeting, only QUIT. Every queued line (commands, AUTH continuations, a lone `.`)
    /// passes here.
    fn may_send(&self, expect: Expect) -> bool {
        !self.quit_only || expect == Expect::Quit
    }

    /// Sends STARTTLS (RFC 3207). Answered by [`Event::StartTls`].
    ///
    /// # Errors
    /// The sticky error, or a usage error when the session is not ready.
    pub fn starttls(&mut self) -> Result<(), Error> {
        self.check_ready()?;
        if self.tls {
            return Err(UsageError::InvalidState("TLS is already active").into());
        }
        self.send(&Command::StartTls, Expect::StartTls);
        Ok(())
    }

    /// Call once the TLS handshake after STARTTLS succeeded: every capability learned
    /// before is forgotten and EHLO is sent again (RFC 3207 §4.2). Answered by
    /// [`Event::Ready`].
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.caps = None;
        self.authenticated = false;
        self.mail_accepted = false;
        self.state = State::Opening;
        self.send_hello();
    }

    /// EHLO, or LHLO for LMTP (RFC 2033 §4.1).
    fn send_hello(&mut self) {
        let name = self.config.ehlo_name.clone();
        if self.config.lmtp {
            self.send(&Command::Lhlo(name), Expect::Lhlo);
        } else {
            self.send(&Command::Ehlo(name), Expect::Ehlo);
        }
    }

    /// Call for implicit TLS (RFC 8314): TLS was set up before the greeting.
    pub fn set_tls_active(&mut self) {
        self.tls = true;
    }

    /// The line-ending policy for message data.
    pub fn line_endings(&self) -> LineEndings {
        self.config.line_endings
    }

    /// True after STARTTLS or with implicit TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The driver records whether the TLS peer's certificate passed PKIX verification;
    /// AUTH policy depends on it (password-revealing mechanisms need verified TLS).
    pub fn set_tls_verified(&mut self, verified: bool) {
        self.tls_verified = verified;
    }

    /// True when TLS is active and the certificate was verified.
    pub fn is_tls_verified(&self) -> bool {
        self.tls && self.tls_verified
    }

    /// Sends RSET. Answered by [`Event::Reset`].
    ///
    /// # Errors
    /// The sticky error, or a usage error when the session is not ready.
    pub fn rset(&mut self) -> Result<(), Error> {
        self.check_ready()?;
        self.send(&Command::Rset, Expect::Rset { user: true });
        Ok(())
    }

    /// Sends NOOP. Answered by [`Event::Noop`].
    ///
    /// # Errors
    /// The sticky error, or a usage error when the session is not ready.
    pub fn noop(&mut self) -> Result<(), Error> {
        self.check_ready()?;
        self.send(&Command::Noop, Expect::Noop);
        Ok(())
    }

    /// Sends QUIT. Answered by [`Event::Quit`].
    ///
    /// After the server said it is closing (a 421) this is the one command still
    /// accepted, once: the server may answer it or just close, and both end the session
    /// (EOF counts as success).
    ///
    /// # Errors
    /// The sticky error, or a usage error during a transaction.
    pub fn quit(&mut self) -> Result<(), Error> {
        if let State::ServerClosing(e) = &self.state {
            if self.quit_sent {
                return Err(e.clone());
            }
            self.send(&Command::Quit, Expect::Quit);
            return Ok(());
        }
        self.check_ready()?;
        self.send(&Command::Quit, Expect::Quit);
        self.state = State::Closing;
        Ok(())
    }

    /// Parses and handles every complete reply in `buf`.
    ///
    /// Bytes when no reply is due are a protocol error (unsolicited data), and so is a reply
    /// to a command not yet completely written ([`Session::handle_written`]): it was sent
    /// before the server could have read the command, so it is never paired with it. Bytes
    /// after the 220 reply to STARTTLS are refused too. Protocol errors poison the session
    /// and end any running transaction; the events say so.
    pub fn handle_input(&mut self, buf: &mut BytesMut) {
        while !buf.is_empty() && !matches!(self.state, State::Poisoned(_)) {
            if matches!(self.state, State::ServerClosing(_)) {
                self.handle_input_after_close(buf);
                return;
            }
            // A command queued while these bytes are handled is not written yet, so they
            // can never answer it.
            let Some(front) = self.expect.front_written(self.written) else {
                // RFC 5321 §3.8: a server may announce 421 at any time and close, as
                // Postfix does on an idle timeout. Any other unsolicited byte is a
                // protocol error; a reply is never paired with a later command.
                self.unsolicited_421 = false;
                match self.parser.parse(buf) {
                    Ok(None) if is_421_prefix(buf) && !self.parser.is_partial() => {
                        // The start of a 421 line: wait for the rest (the driver reads
                        // on, within the command deadline) before deciding.
                        self.unsolicited_421 = true;
                    }
                    Ok(Some(reply)) if reply.code() == super::ReplyCode::SERVICE_NOT_AVAILABLE => {
                        let reply = if self
                            .caps
                            .as_ref()
                            .is_some_and(Capabilities::enhanced_status_codes)
                        {
                            reply.with_enhanced_code_from_text()
                        } else {
                            reply
                        };
                        self.closed_by_server(None, reply);
                    }
                    _ => self.fail_protocol(None, ProtocolError::Unsolicited),
                }
                return;
            };
            let reply = match self.parser.parse(buf) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    self.fail_protocol(front.command(), e.into());
                    return;
                }
            };
            self.expect.pop_front();
            self.replies = self.replies.wrapping_add(1);
            let reply = if self
                .caps
                .as_ref()
                .is_some_and(Capabilities::enhanced_status_codes)
            {
                reply.with_enhanced_code_from_text()
            } else {
                reply
            };
            self.log_reply(&reply);
            let closing = reply.code() == super::ReplyCode::SERVICE_NOT_AVAILABLE;
            if closing {
                // RFC 5321 §3.8: 421 means the server is closing the channel. The reply is
                // handled as any refusal, but nothing it would trigger is sent.
                self.quit_only = true;
            }
            let for_close = closing.then(|| reply.clone());
            self.handle_reply(front, reply);
            if let Some(reply) = for_close {
                self.closed_by_server(front.command(), reply);
            }
            if matches!(
                front,
                Expect::Greeting | Expect::Ehlo | Expect::Helo | Expect::Lhlo
            ) {
                // The opening failed on this reply (a 554 greeting, EHLO and HELO refused):
                // the driver waits for one Ready, and `abort` only answered what was
                // still pending.
                if let State::Poisoned(e) = &self.state
                    && !self.events.iter().any(|e| matches!(e, Event::Ready(_)))
                {
                    self.events.push_back(Event::Ready(Err(e.clone())));
                }
            }
            if front == Expect::StartTls
                && matches!(self.events.back(), Some(Event::StartTls(Ok(()))))
            {
                // RFC 3207 §4.2 / CVE-2021-38371: nothing may follow the 220 in plaintext.
                if !buf.is_empty() || self.parser.is_partial() {
                    self.events.pop_back();
                    let err = Error::Protocol {
                        command: Some(CommandKind::StartTls),
                        error: ProtocolError::DataAfterStartTls,
                    };
                    // The driver waits for the answer to STARTTLS: it is this error.
                    self.events.push_back(Event::StartTls(Err(err.clone())));
                    self.abort(err);
                }
                return;
            }
        }
    }

    /// Hands a reply to the transcript, one line at a time, server text escaped.
    fn log_reply(&self, reply: &Reply) {
        if let Some(t) = &self.config.transcript {
            for (i, line) in reply.lines().iter().enumerate() {
                let sep = if i.saturating_add(1) == reply.lines().len() {
                    ' '
                } else {
                    '-'
                };
                let mut s = format!("{}{sep}", reply.code());
                push_escaped(&mut s, line);
                t(Direction::Server, &s);
            }
        }
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "smtp_courier::transcript", "S: {reply}");
    }

    /// EHLO or HELO succeeded: the session is open with `caps`.
    fn opened(&mut self, caps: Option<Capabilities>) {
        self.caps = caps;
        // A new EHLO: whatever the server accepted before may no longer hold.
        self.mail_accepted = false;
        self.state = State::Ready;
        self.events.push_back(Event::Ready(Ok(())));
    }

    /// EHLO or HELO failed: a 3yz breaks the protocol, anything else is a refusal.
    fn hello_failed(&mut self, command: CommandKind, reply: Reply) {
        let code = reply.code();
        if code.first_digit() == 3 {
            self.fail_protocol(Some(command), ProtocolError::UnexpectedCode(code.as_u16()));
        } else {
            self.abort(Error::Reply { command, reply });
        }
    }

    fn handle_reply(&mut self, expect: Expect, reply: Reply) {
        let code = reply.code();
        let refused = |command| Error::Reply {
            command,
            reply: reply.clone(),
        };
        match expect {
            Expect::Greeting => {
                if code == super::ReplyCode::SERVICE_READY {
                    self.greeting = Some(reply);
                    self.send_hello();
                } else if code.is_positive_completion() || code.first_digit() == 3 {
                    self.fail_protocol(None, ProtocolError::UnexpectedCode(code.as_u16()));
                } else {
                    self.greeting_refused(reply);
                }
            }
            Expect::Ehlo => {
                if code.is_positive_completion() {
                    self.opened(Some(Capabilities::from_ehlo(&reply)));
                } else if (500..=504).contains(&code.as_u16()) && !self.tls {
                    // RFC 5321 §4.1.1.1 / §3.2: an old server that does not know EHLO.
                    let helo = Command::Helo(self.config.ehlo_name.clone());
                    self.send(&helo, Expect::Helo);
                } else {
                    self.hello_failed(CommandKind::Ehlo, reply);
                }
            }
            Expect::Lhlo => {
                // RFC 2033 §4.1: no HELO fallback in LMTP.
                if code.is_positive_completion() {
                    self.opened(Some(Capabilities::from_ehlo(&reply)));
                } else {
                    self.hello_failed(CommandKind::Lhlo, reply);
                }
            }
            Expect::Helo => {
                if code.is_positive_completion() {
                    // No extensions after HELO.
                    self.opened(None);
                } else {
                    self.hello_failed(CommandKind::Helo, reply);
                }
            }
            Expect::StartTls => {
                if code == super::ReplyCode::SERVICE_READY {
                    self.events.push_back(Event::StartTls(Ok(())));
                } else {
                    // Any other reply, 250 and 3yz included, is a refusal (RFC 3207 §4).
                    self.events
                        .push_back(Event::StartTls(Err(refused(CommandKind::StartTls))));
                }
            }
            Expect::Rset { user } => {
                let result = if code.is_positive_completion() {
                    Ok(())
                } else {
                    Err(refused(CommandKind::Rset))
                };
                if user {
                    self.events.push_back(Event::Reset(result));
                } else {
                    self.handle_lock_step_rset(&reply);
                }
            }
            Expect::Noop => {
                let result = if code.is_positive_completion() {
                    Ok(reply)
                } else {
                    Err(refused(CommandKind::Noop))
                };
                self.events.push_back(Event::Noop(result));
            }
            Expect::Quit => {
                let result = if code.is_positive_completion() {
                    Ok(())
                } else {
                    Err(refused(CommandKind::Quit))
                };
                self.events.push_back(Event::Quit(result));
            }
            Expect::Auth => self.handle_auth_reply(reply),
            Expect::Mail(_)
            | Expect::Rcpt(..)
            | Expect::Data(_)
            | Expect::DataEnd { .. }
            | Expect::Bdat { .. }
            | Expect::LmtpData { .. } => {
                self.handle_tx_reply(expect, reply);
            }
        }
    }
}

/// A buffer length as a stream offset.
fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl fmt::Debug for Session {
    /// Buffers are shown by length only: the output may hold an AUTH line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("parser", &self.parser)
            .field("expect", &self.expect)
            .field("out_len", &self.out.len())
            .field("emitted", &self.emitted)
            .field("written", &self.written)
            .field("events", &self.events)
            .field("greeting", &self.greeting)
            .field("caps", &self.caps)
            .field("need_rset", &self.need_rset)
            .field("txs", &self.txs)
            .field("tls", &self.tls)
            .field("tls_verified", &self.tls_verified)
            .field("replies", &self.replies)
            .field("unsolicited_421", &self.unsolicited_421)
            .field("auth", &self.auth)
            .field("authenticated", &self.authenticated)
            .field("mail_accepted", &self.mail_accepted)
            .field("auth_failure", &self.auth_failure)
            .finish()
    }
}

/// True when `buf` is the start of a `421` reply line (or too short to tell).
fn is_421_prefix(buf: &[u8]) -> bool {
    let n = buf.len().min(3);
    buf.get(..n) == b"421".get(..n) && !buf.contains(&b'\n')
}

#[path = "session_tx.rs"]
mod transaction_flow;
use transaction_flow::Tx;

#[path = "session_body.rs"]
mod body_flow;

#[path = "session_auth.rs"]
mod auth_exchange;

#[path = "session_fail.rs"]
mod failure;

#[path = "session_config.rs"]
mod settings;
pub use settings::{Direction, SessionConfig, Transcript};

#[path = "session_awaited.rs"]
mod awaited;
use awaited::{Awaited, Expect};

#[path = "session_close.rs"]
mod closing;

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_bdat_tests.rs"]
mod bdat_tests;

#[cfg(test)]
#[path = "session_written_tests.rs"]
mod written_tests;

#[cfg(test)]
#[path = "session_bdat_first_tests.rs"]
mod bdat_first_tests;

#[cfg(test)]
#[path = "session_dsn_tests.rs"]
mod dsn_tests;

#[cfg(test)]
#[path = "session_ahead_tests.rs"]
mod ahead_tests;
