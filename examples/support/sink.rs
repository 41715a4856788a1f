//! An in-process SMTP sink: a small, fast server on 127.0.0.1 that accepts mail and keeps
//! it, for the quickstart, the integration tests and the loopback benchmark.
//!
//! It advertises PIPELINING, SIZE, 8BITMIME and ENHANCEDSTATUSCODES (the EHLO keyword list
//! is configurable), reads commands from a buffer and answers them in order, so pipelined
//! groups (RFC 2920) work, and writes the replies to every command already received in one
//! write. Recipients are refused by rule: a local part starting with `reject` gets
//! `550 5.1.1`, one starting with `defer` gets `450 4.2.0`. Message data is un-dot-stuffed
//! by [`undot`] (the crate is a client: it has no server-side decoder) and every message is recorded
//! (envelope and content) before its `250` is sent, so a client that has its reply can
//! look at [`Sink::messages`] at once. The server stops when its [`Sink`] is dropped or
//! [`Sink::shutdown`] is called. Odd client input gets an SMTP error reply or a closed
//! connection, never a panic.
//!
//! Include it with `#[path = "support/sink.rs"] mod sink;` from `examples/`, or
//! `#[path = "../examples/support/sink.rs"] mod sink;` from `tests/` and `benches/`.

// Each including crate (an example, a test, a benchmark) uses a different part of this
// module; what one leaves unused is not dead in the others.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The longest command line accepted, CRLF included. RFC 5321 §4.5.3.1.4 allows 512
/// octets; we take more, as real servers do, but a longer line closes the connection.
const MAX_COMMAND_LINE: usize = 4096;

/// The longest line of message data waited for. RFC 5321 §4.5.3.1.6 allows 1000 octets;
/// a client that sends more than this without a CRLF is cut off rather than buffered.
const MAX_DATA_LINE: usize = 1024 * 1024;

/// How much is asked for per read.
const READ_CHUNK: usize = 16 * 1024;

/// One message as the sink received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Received {
    /// The EHLO or HELO argument of the session.
    pub(crate) helo: String,
    /// The reverse-path without angle brackets (empty for `<>`).
    pub(crate) mail_from: String,
    /// The MAIL parameters as sent (`SIZE=123 BODY=8BITMIME`), empty when none.
    pub(crate) mail_params: String,
    /// The accepted recipients, in RCPT order.
    pub(crate) rcpt_to: Vec<String>,
    /// The message content: dot-stuffing removed, CRLF line endings, no terminator.
    pub(crate) data: Vec<u8>,
}

/// Counters, shared by every connection.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    messages: AtomicU64,
    recipients_accepted: AtomicU64,
    recipients_refused: AtomicU64,
}

/// A snapshot of the sink's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Connections accepted.
    pub(crate) connections: u64,
    /// Messages received (answered with `250` after the data).
    pub(crate) messages: u64,
    /// RCPT commands answered with `250`.
    pub(crate) recipients_accepted: u64,
    /// RCPT commands refused.
    pub(crate) recipients_refused: u64,
}

/// How the sink behaves.
#[derive(Clone, Debug)]
pub(crate) struct SinkConfig {
    /// The name in the greeting and the first EHLO line.
    pub(crate) hostname: String,
    /// The EHLO keywords, in order, with their parameters (`"SIZE 10240000"`). A
    /// `SIZE n` keyword with n > 0 also makes the sink refuse larger messages (RFC 1870).
    /// Without `ENHANCEDSTATUSCODES` replies carry no enhanced codes.
    pub(crate) ehlo_keywords: Vec<String>,
    /// Keep every message for [`Sink::messages`] (turn off for long benchmarks).
    pub(crate) keep_messages: bool,
    /// Also send every message here.
    pub(crate) channel: Option<mpsc::UnboundedSender<Received>>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            hostname: "sink.test".to_owned(),
            ehlo_keywords: vec![
                "PIPELINING".to_owned(),
                "SIZE 10240000".to_owned(),
                "8BITMIME".to_owned(),
                "ENHANCEDSTATUSCODES".to_owned(),
            ],
            keep_messages: true,
            channel: None,
        }
    }
}

impl SinkConfig {
    /// Replaces the EHLO keywords.
    pub(crate) fn ehlo_keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ehlo_keywords = keywords.into_iter().map(Into::into).collect();
        self
    }

    /// Sends every received message to `tx` as well.
    pub(crate) fn channel(mut self, tx: mpsc::UnboundedSender<Received>) -> Self {
        self.channel = Some(tx);
        self
    }

    /// Whether to keep messages for [`Sink::messages`].
    pub(crate) fn keep_messages(mut self, keep: bool) -> Self {
        self.keep_messages = keep;
        self
    }

    /// The SIZE limit advertised, if any.
    fn size_limit(&self) -> Option<usize> {
        self.ehlo_keywords.iter().find_map(|k| {
            let mut words = k.split_ascii_whitespace();
            let kw = words.next()?;
            if !kw.eq_ignore_ascii_case("SIZE") {
                return None;
            }
            words.next()?.parse().ok().filter(|n| *n > 0)
        })
    }

    fn enhanced(&self) -> bool {
        self.ehlo_keywords
            .iter()
            .any(|k| k.eq_ignore_ascii_case("ENHANCEDSTATUSCODES"))
    }
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    config: SinkConfig,
    size_limit: Option<usize>,
    enhanced: bool,
    /// The EHLO reply after its first line, built once.
    ehlo_tail: Vec<u8>,
    store: Mutex<Vec<Received>>,
    counters: Counters,
}

/// A running sink. Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub(crate) struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<watch::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sink {
    /// Starts a sink with the default settings on the current tokio runtime.
    pub(crate) async fn start() -> io::Result<Self> {
        Self::start_with(SinkConfig::default()).await
    }

    /// Starts a sink on 127.0.0.1 with an ephemeral port, on the current tokio runtime.
    pub(crate) async fn start_with(config: SinkConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut ehlo_tail = Vec::new();
        for (i, kw) in config.ehlo_keywords.iter().enumerate() {
            let sep = if i + 1 == config.ehlo_keywords.len() {
                ' '
            } else {
                '-'
            };
            ehlo_tail.extend_from_slice(format!("250{sep}{kw}\r\n").as_bytes());
        }
        let shared = Arc::new(Shared {
            size_limit: config.size_limit(),
            enhanced: config.enhanced(),
            config,
            ehlo_tail,
            store: Mutex::new(Vec::new()),
            counters: Counters::default(),
        });
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address to connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The messages received so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<Received> {
        self.shared
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the messages received so far, leaving the store empty.
    pub(crate) fn take_messages(&self) -> Vec<Received> {
        std::mem::take(
            &mut *self
                .shared
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The counters.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            connections: c.connections.load(Ordering::Relaxed),
            messages: c.messages.load(Ordering::Relaxed),
            recipients_accepted: c.recipients_accepted.load(Ordering::Relaxed),
            recipients_refused: c.recipients_refused.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every connection and waits for the server task to end.
    pub(crate) async fn shutdown(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Dropping the sender wakes the accept loop, which ends and drops its JoinSet,
        // aborting every connection task.
        self.stop.take();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                conns.spawn(async move {
                    // A connection's I/O error ends that connection only.
                    let _ = serve(stream, shared).await;
                });
            }
        }
        while conns.try_join_next().is_some() {}
    }
}

/// The receiving side of DATA (RFC 5321 §4.5.2): moves complete lines from `buf` to
/// `out`, dropping one leading dot, until the `.CRLF` line, which it consumes. True once
/// that line is read; bytes after it stay in `buf`. Only CRLF ends a line.
fn undot(buf: &mut BytesMut, out: &mut Vec<u8>) -> bool {
    while let Some(end) = memchr::memmem::find(buf, b"\r\n") {
        let line = buf.split_to(end + 2);
        if &line[..] == b".\r\n" {
            return true;
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
    }
    false
}

/// Where a connection is.
enum Phase {
    Command,
    Data,
}

/// One connection's state.
struct Conn {
    shared: Arc<Shared>,
    /// The EHLO/HELO argument; `None` before either.
    helo: Option<String>,
    /// The reverse-path and MAIL parameters of the open transaction.
    mail: Option<(String, String)>,
    rcpt: Vec<String>,
    /// The size declared with MAIL (RFC 1870), to size the message buffer.
    declared: usize,
    data: Vec<u8>,
    too_big: bool,
    phase: Phase,
    quit: bool,
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = Vec::with_capacity(1024);
    wbuf.extend_from_slice(
        format!("220 {} ESMTP courier sink\r\n", shared.config.hostname).as_bytes(),
    );
    let mut conn = Conn {
        shared,
        helo: None,
        mail: None,
        rcpt: Vec::new(),
        declared: 0,
        data: Vec::new(),
        too_big: false,
        phase: Phase::Command,
        quit: false,
    };
    loop {
        // Answer everything already buffered, then write all the answers at once.
        conn.process(&mut rbuf, &mut wbuf);
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if conn.quit {
            return stream.shutdown().await;
        }
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
            rbuf.reserve(READ_CHUNK);
        }
        if stream.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
    }
}

impl Conn {
    /// Handles every complete command line and data line in `rbuf`, appending replies to
    /// `out`.
    fn process(&mut self, rbuf: &mut BytesMut, out: &mut Vec<u8>) {
        while !self.quit {
            match &mut self.phase {
                Phase::Command => {
                    let Some(end) = memchr_lf(rbuf) else {
                        if rbuf.len() > MAX_COMMAND_LINE {
                            self.close(out, "500 5.5.2 line too long");
                        }
                        return;
                    };
                    let line = rbuf.split_to(end + 1);
                    if line.len() > MAX_COMMAND_LINE {
                        self.close(out, "500 5.5.2 line too long");
                        return;
                    }
                    let text = line.strip_suffix(b"\n").unwrap_or(&line);
                    let text = text.strip_suffix(b"\r").unwrap_or(text);
                    self.command(text, out);
                }
                Phase::Data => {
                    let done = undot(rbuf, &mut self.data);
                    if !done {
                        if rbuf.len() > MAX_DATA_LINE {
                            self.close(out, "500 5.5.2 data line too long");
                        } else if self.shared.size_limit.is_some_and(|l| self.data.len() > l) {
                            // Over the limit: keep reading to the end, keep nothing.
                            self.too_big = true;
                            self.data.clear();
                        }
                        return;
                    }
                    self.phase = Phase::Command;
                    self.end_of_data(out);
                }
            }
        }
    }

    fn close(&mut self, out: &mut Vec<u8>, reply: &str) {
        self.reply(out, reply);
        self.quit = true;
    }

    fn reply(&self, out: &mut Vec<u8>, reply: &str) {
        // Without ENHANCEDSTATUSCODES the "x.y.z " after the code is left out.
        match (self.shared.enhanced, reply.split_once(' ')) {
            (false, Some((code, rest))) if starts_with_enhanced(rest) => {
                out.extend_from_slice(code.as_bytes());
                out.push(b' ');
                out.extend_from_slice(rest.split_once(' ').map_or("", |(_, r)| r).as_bytes());
            }
            _ => out.extend_from_slice(reply.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }

    fn reset(&mut self) {
        self.mail = None;
        self.rcpt.clear();
        self.declared = 0;
        self.too_big = false;
    }

    fn command(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(sp) => {
                let (verb, rest) = line.split_at(sp);
                (verb, trim(rest))
            }
            None => (line, &b""[..]),
        };
        let Ok(arg) = std::str::from_utf8(arg) else {
            self.reply(out, "501 5.5.4 invalid UTF-8 in arguments");
            return;
        };
        let verb = verb.to_ascii_uppercase();
        match &verb[..] {
            b"EHLO" | b"HELO" if arg.is_empty() => {
                self.reply(out, "501 5.5.4 a domain is required")
            }
            b"EHLO" => {
                self.reset();
                self.helo = Some(arg.to_owned());
                // The client's name is not echoed: it is peer input and may hold a bare CR.
                let host = &self.shared.config.hostname;
                if self.shared.ehlo_tail.is_empty() {
                    out.extend_from_slice(format!("250 {host} hello\r\n").as_bytes());
                } else {
                    out.extend_from_slice(format!("250-{host} hello\r\n").as_bytes());
                    out.extend_from_slice(&self.shared.ehlo_tail);
                }
            }
            b"HELO" => {
                self.reset();
                self.helo = Some(arg.to_owned());
                let host = &self.shared.config.hostname;
                out.extend_from_slice(format!("250 {host}\r\n").as_bytes());
            }
            b"MAIL" => self.mail_from(arg, out),
            b"RCPT" => self.rcpt_to(arg, out),
            b"DATA" => {
                if self.mail.is_none() {
                    self.reply(out, "503 5.5.1 MAIL first");
                } else if self.rcpt.is_empty() {
                    // RFC 2920 §3.1: with every RCPT refused, DATA is refused too.
                    self.reply(out, "554 5.5.1 no valid recipients");
                } else {
                    self.data = Vec::with_capacity(
                        self.declared.min(self.shared.size_limit.unwrap_or(1 << 20)),
                    );
                    self.phase = Phase::Data;
                    self.reply(out, "354 end data with <CR><LF>.<CR><LF>");
                }
            }
            b"RSET" => {
                self.reset();
                self.reply(out, "250 2.0.0 Ok");
            }
            b"NOOP" => self.reply(out, "250 2.0.0 Ok"),
            b"QUIT" => self.close(out, "221 2.0.0 Bye"),
            b"VRFY" => self.reply(out, "252 2.5.2 cannot verify, but will accept"),
            _ => self.reply(out, "502 5.5.2 command not recognized"),
        }
    }

    fn mail_from(&mut self, arg: &str, out: &mut Vec<u8>) {
        if self.helo.is_none() {
            return self.reply(out, "503 5.5.1 EHLO or HELO first");
        }
        if self.mail.is_some() {
            return self.reply(out, "503 5.5.1 nested MAIL command");
        }
        let Some((path, params)) = strip_keyword(arg, "FROM:").and_then(split_path) else {
            return self.reply(out, "501 5.5.4 syntax: MAIL FROM:<address>");
        };
        let mut declared = 0usize;
        for p in params.split_ascii_whitespace() {
            if let Some(v) = p
                .get(..5)
                .filter(|k| k.eq_ignore_ascii_case("SIZE="))
                .and(p.get(5..))
            {
                let Ok(n) = v.parse::<usize>() else {
                    return self.reply(out, "501 5.5.4 bad SIZE parameter");
                };
                if self.shared.size_limit.is_some_and(|l| n > l) {
                    // RFC 1870 §6.1: a declared size over the limit is refused at MAIL.
                    return self.reply(out, "552 5.3.4 message size exceeds fixed limit");
                }
                declared = n;
            }
        }
        self.declared = declared;
        self.mail = Some((path.to_owned(), params.to_owned()));
        self.reply(out, "250 2.1.0 Ok");
    }

    fn rcpt_to(&mut self, arg: &str, out: &mut Vec<u8>) {
        if self.mail.is_none() {
            return self.reply(out, "503 5.5.1 MAIL first");
        }
        let Some((path, _params)) = strip_keyword(arg, "TO:").and_then(split_path) else {
            return self.reply(out, "501 5.5.4 syntax: RCPT TO:<address>");
        };
        if path.is_empty() {
            return self.reply(out, "501 5.1.3 empty forward-path");
        }
        if path.chars().any(char::is_control) {
            // Never echo a control character back in a reply.
            return self.reply(out, "501 5.1.3 bad address syntax");
        }
        let local = path.rsplit_once('@').map_or(path, |(l, _)| l);
        let counters = &self.shared.counters;
        if starts_with_ignore_case(local, "reject") {
            counters.recipients_refused.fetch_add(1, Ordering::Relaxed);
            self.reply(out, &format!("550 5.1.1 <{path}>: no such user"));
        } else if starts_with_ignore_case(local, "defer") {
            counters.recipients_refused.fetch_add(1, Ordering::Relaxed);
            self.reply(out, &format!("450 4.2.0 <{path}>: mailbox busy, try later"));
        } else {
            counters.recipients_accepted.fetch_add(1, Ordering::Relaxed);
            self.rcpt.push(path.to_owned());
            self.reply(out, "250 2.1.5 Ok");
        }
    }

    fn end_of_data(&mut self, out: &mut Vec<u8>) {
        if self.too_big {
            self.reset();
            return self.reply(out, "552 5.3.4 message size exceeds fixed limit");
        }
        let (mail_from, mail_params) = self.mail.take().unwrap_or_default();
        let received = Received {
            helo: self.helo.clone().unwrap_or_default(),
            mail_from,
            mail_params,
            rcpt_to: std::mem::take(&mut self.rcpt),
            data: std::mem::take(&mut self.data),
        };
        self.reset();
        let shared = &self.shared;
        let n = shared.counters.messages.fetch_add(1, Ordering::Relaxed) + 1;
        // Recorded before the reply goes out: a client holding its 250 finds the message.
        match (&shared.config.channel, shared.config.keep_messages) {
            (Some(tx), true) => {
                let _ = tx.send(received.clone());
                shared
                    .store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(received);
            }
            (Some(tx), false) => {
                let _ = tx.send(received);
            }
            (None, true) => shared
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(received),
            (None, false) => {}
        }
        self.reply(out, &format!("250 2.0.0 Ok: queued as S{n}"));
    }
}

fn memchr_lf(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn starts_with_enhanced(text: &str) -> bool {
    let word = text.split(' ').next().unwrap_or_default();
    let mut parts = word.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// `FROM:<a@b> SIZE=1` minus the keyword, which may be followed by spaces.
fn strip_keyword<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    starts_with_ignore_case(arg, keyword)
        .then(|| arg.get(keyword.len()..).unwrap_or_default().trim_start())
}

/// `<a@b> SIZE=1` into the path without brackets and the parameters.
fn split_path(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((rest.get(..end)?, rest.get(end + 1..)?.trim()))
}
