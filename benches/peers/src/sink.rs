//! The benchmark's own sink: a child process (`peers sink ...`) that accepts connections
//! on 127.0.0.1, advertises PIPELINING, CHUNKING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES and
//! (with `--tls`) STARTTLS, and checks every message byte for byte against the one
//! message the run sends: the envelope (`FROM`, `r1..rN` in order) and the content, after
//! its own un-dot-stuffing (not the crate's decoder, so that an encoder bug and a decoder
//! bug cannot cancel out). A wrong message is answered `554` and counted as bad.
//!
//! Round-trip emulation (`--delay-us D`): the sink answers everything it has read at once,
//! as a pipelining server does, but holds each batch of replies for D before writing it,
//! like a delay line on the reply path. A client that waits for a reply before it sends
//! more therefore pays D per wait: one round trip. Commands the client pipelines arrive
//! in one read and are answered in one batch, so they cost one D together; replies to
//! reads made while earlier batches are still held overlap with them, so a client that
//! keeps several transactions in flight pays D once per window, not once per message.
//!
//! It prints `PORT n` once listening and, when its standard input closes, one `STATS`
//! line with the counters, then exits.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::msg;

/// The SIZE limit advertised and enforced at MAIL (RFC 1870).
const SIZE_LIMIT: usize = 50 * 1024 * 1024;
/// The longest command line or data line waited for.
const MAX_LINE: usize = 1024 * 1024;

/// Counters shared by every connection.
#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    /// Messages that arrived whole and right.
    ok: AtomicU64,
    /// Of those, the ones with one extra CRLF at the end (see README.md).
    extra_crlf: AtomicU64,
    /// Messages with a wrong envelope or content.
    bad: AtomicU64,
    /// RCPT commands accepted.
    recipients: AtomicU64,
}

struct Shared {
    body: Vec<u8>,
    rcpts: Vec<String>,
    delay: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
    counters: Counters,
}

/// Runs the sink child until its standard input closes.
pub(crate) fn main(args: &std::collections::HashMap<String, String>) -> Result<(), String> {
    let size: usize = msg::get(args, "size", 1024)?;
    let rcpts: usize = msg::get(args, "rcpts", 1)?;
    let delay = Duration::from_micros(msg::get(args, "delay-us", 0)?);
    let tls = match args.get("cert") {
        Some(dir) => Some(acceptor(dir)?),
        None => None,
    };
    let shared = Arc::new(Shared {
        body: msg::message(size),
        rcpts: msg::recipients(rcpts),
        delay,
        tls,
        counters: Counters::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let listener = TcpListener::bind((msg::HOST, 0))
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        println!("PORT {port}");
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        // The orchestrator closes our stdin when the client process has finished.
        let _ = tokio::task::spawn_blocking(|| io::stdin().read_to_end(&mut Vec::new())).await;
        accept.abort();
        let c = &shared.counters;
        println!(
            "STATS connections={} ok={} extra_crlf={} bad={} recipients={}",
            c.connections.load(Ordering::Relaxed),
            c.ok.load(Ordering::Relaxed),
            c.extra_crlf.load(Ordering::Relaxed),
            c.bad.load(Ordering::Relaxed),
            c.recipients.load(Ordering::Relaxed),
        );
        Ok(())
    })
}

fn acceptor(dir: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(dir);
    let cert = CertificateDer::from_pem_file(dir.join("cert.pem")).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).map_err(|e| e.to_string())?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(stream, Arc::clone(&shared)));
    }
}

async fn connection(mut tcp: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut conn = Conn::new(Arc::clone(&shared));
    conn.out
        .extend_from_slice(b"220 sink.test ESMTP benchmark sink\r\n");
    if serve(&mut tcp, &mut conn).await? == End::StartTls {
        let Some(acceptor) = &shared.tls else {
            return Ok(());
        };
        let mut tls = acceptor.accept(tcp).await?;
        // RFC 3207 §4.2: the session starts over; the client says EHLO again.
        conn.in_tls = true;
        conn.reset();
        serve(&mut tls, &mut conn).await?;
    }
    Ok(())
}

#[derive(PartialEq, Eq)]
enum End {
    Closed,
    StartTls,
}

/// Reads, answers and writes until QUIT, EOF or STARTTLS, holding each batch of replies
/// for the configured delay.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, conn: &mut Conn) -> io::Result<End> {
    let delay = conn.shared.delay;
    let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        if !conn.out.is_empty() {
            let batch = std::mem::take(&mut conn.out);
            if delay.is_zero() && held.is_empty() {
                s.write_all(&batch).await?;
            } else {
                held.push_back((Instant::now() + delay, batch));
            }
        }
        if conn.quit || conn.starttls {
            for (due, batch) in held.drain(..) {
                tokio::time::sleep_until(due).await;
                s.write_all(&batch).await?;
            }
            s.flush().await?;
            return Ok(if conn.quit {
                End::Closed
            } else {
                End::StartTls
            });
        }
        let due = held.front().map(|(due, _)| *due);
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            // `read_buf` is cancel safe: when the timer wins, nothing was read.
            n = s.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(End::Closed);
                }
                let used = conn.process(&buf);
                buf.drain(..used);
                if buf.len() > MAX_LINE {
                    return Ok(End::Closed);
                }
            }
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Some((_, batch)) = held.pop_front() {
                    s.write_all(&batch).await?;
                }
            }
        }
    }
}

enum Mode {
    Command,
    /// After DATA's 354: dot-stuffed lines up to `.`.
    Data,
    /// Inside a BDAT chunk: this many octets still to come; `last` if BDAT ... LAST;
    /// `refused` when there is no transaction to add it to (read, then dropped).
    Bdat {
        left: usize,
        last: bool,
        refused: bool,
    },
}

struct Conn {
    shared: Arc<Shared>,
    in_tls: bool,
    mode: Mode,
    mail: Option<String>,
    rcpts: Vec<String>,
    content: Vec<u8>,
    /// Replies not yet handed to the writer.
    out: Vec<u8>,
    quit: bool,
    starttls: bool,
}

impl Conn {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            in_tls: false,
            mode: Mode::Command,
            mail: None,
            rcpts: Vec::new(),
            content: Vec::new(),
            out: Vec::new(),
            quit: false,
            starttls: false,
        }
    }

    fn reset(&mut self) {
        self.mail = None;
        self.rcpts.clear();
        self.content.clear();
        self.starttls = false;
    }

    fn reply(&mut self, r: &str) {
        self.out.extend_from_slice(r.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Handles what `buf` holds; returns how many bytes were used up.
    fn process(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        while !self.quit && !self.starttls {
            let rest = &buf[pos..];
            match self.mode {
                Mode::Bdat {
                    left,
                    last,
                    refused,
                } => {
                    let take = left.min(rest.len());
                    if !refused {
                        self.content.extend_from_slice(&rest[..take]);
                    }
                    pos += take;
                    if take < left {
                        self.mode = Mode::Bdat {
                            left: left - take,
                            last,
                            refused,
                        };
                        return pos;
                    }
                    self.mode = Mode::Command;
                    if refused {
                        self.reset();
                        self.reply("503 5.5.1 no valid transaction");
                    } else if last {
                        self.end_of_message();
                    } else {
                        self.reply("250 2.0.0 chunk received");
                    }
                }
                Mode::Command | Mode::Data => {
                    let Some(lf) = memchr::memchr(b'\n', rest) else {
                        return pos;
                    };
                    let line = &rest[..=lf];
                    pos += lf + 1;
                    if matches!(self.mode, Mode::Data) {
                        self.data_line(line);
                    } else {
                        let line = line.strip_suffix(b"\r\n").unwrap_or(line);
                        self.command(line);
                    }
                }
            }
        }
        // After QUIT or STARTTLS nothing more is read on this stream (RFC 3207 §4.2:
        // anything pipelined after STARTTLS is discarded).
        buf.len()
    }

    fn data_line(&mut self, line: &[u8]) {
        // RFC 5321 §4.5.2: a line of one dot ends the data; a leading dot is removed.
        if line == b".\r\n" {
            self.mode = Mode::Command;
            self.end_of_message();
        } else if let Some(unstuffed) = line.strip_prefix(b".") {
            self.content.extend_from_slice(unstuffed);
        } else {
            self.content.extend_from_slice(line);
        }
    }

    fn command(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let (verb, arg) = text.split_once(' ').unwrap_or((&text, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                let mut r = String::from(
                    "250-sink.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n\
                     250-ENHANCEDSTATUSCODES\r\n",
                );
                if self.shared.tls.is_some() && !self.in_tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str(&format!("250 SIZE {SIZE_LIMIT}"));
                self.reply(&r);
            }
            "HELO" => self.reply("250 sink.test"),
            "STARTTLS" if self.shared.tls.is_some() && !self.in_tls => {
                self.reply("220 2.0.0 ready to start TLS");
                self.starttls = true;
            }
            "MAIL" => self.mail_from(arg),
            "RCPT" => {
                let path = path_of(arg, "TO:");
                match (&self.mail, path) {
                    (None, _) => self.reply("503 5.5.1 MAIL first"),
                    (_, None) => self.reply("501 5.5.4 syntax: RCPT TO:<address>"),
                    (Some(_), Some(p)) => {
                        self.rcpts.push(p.to_owned());
                        let c = &self.shared.counters;
                        c.recipients.fetch_add(1, Ordering::Relaxed);
                        self.reply("250 2.1.5 Ok");
                    }
                }
            }
            "DATA" if self.mail.is_none() || self.rcpts.is_empty() => {
                self.reply("554 5.5.1 no valid transaction");
            }
            "DATA" => {
                self.mode = Mode::Data;
                self.reply("354 end data with <CR><LF>.<CR><LF>");
            }
            "BDAT" => self.bdat(arg),
            "RSET" => {
                self.reset();
                self.reply("250 2.0.0 Ok");
            }
            "NOOP" => self.reply("250 2.0.0 Ok"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye");
                self.quit = true;
            }
            _ => self.reply("502 5.5.2 command not recognized"),
        }
    }

    fn mail_from(&mut self, arg: &str) {
        if self.mail.is_some() {
            return self.reply("503 5.5.1 nested MAIL command");
        }
        let Some(path) = path_of(arg, "FROM:") else {
            return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        let size = arg
            .split_ascii_whitespace()
            .find_map(|p| p.strip_prefix("SIZE=").or_else(|| p.strip_prefix("size=")));
        if size.and_then(|s| s.parse::<usize>().ok()).unwrap_or(0) > SIZE_LIMIT {
            return self.reply("552 5.3.4 message size exceeds fixed limit");
        }
        self.mail = Some(path.to_owned());
        self.content.clear();
        self.reply("250 2.1.0 Ok");
    }

    fn bdat(&mut self, arg: &str) {
        // RFC 3030 §2: BDAT <size> [LAST]; the chunk follows at once and is read even
        // when the command is refused.
        let mut words = arg.split_ascii_whitespace();
        let size = words.next().and_then(|n| n.parse::<usize>().ok());
        let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
        let Some(size) = size else {
            // Without a size the chunk cannot be skipped: the stream is lost.
            self.reply("501 5.5.4 syntax: BDAT <size> [LAST]");
            self.quit = true;
            return;
        };
        let refused = self.mail.is_none() || self.rcpts.is_empty();
        self.mode = Mode::Bdat {
            left: size,
            last,
            refused,
        };
    }

    fn end_of_message(&mut self) {
        let shared = Arc::clone(&self.shared);
        let body = &shared.body;
        let c = &shared.counters;
        let envelope_ok = self.mail.as_deref() == Some(msg::FROM) && self.rcpts == shared.rcpts;
        let exact = self.content == *body;
        let extra = !exact
            && self.content.len() == body.len() + 2
            && self.content.starts_with(body)
            && self.content.ends_with(b"\r\n");
        self.reset();
        if envelope_ok && (exact || extra) {
            let n = c.ok.fetch_add(1, Ordering::Relaxed) + 1;
            if extra {
                c.extra_crlf.fetch_add(1, Ordering::Relaxed);
            }
            self.reply(&format!("250 2.0.0 Ok: queued as S{n}"));
        } else {
            c.bad.fetch_add(1, Ordering::Relaxed);
            self.reply("554 5.6.0 message differs from the one expected");
        }
    }
}

/// `FROM:<a@b> SIZE=1` (keyword given) into `a@b`.
fn path_of<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg.get(keyword.len()..)?.trim_start().strip_prefix('<')?;
    rest.get(..rest.find('>')?)
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
