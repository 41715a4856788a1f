//! A scripted SMTP server for driver tests.
//!
//! The server runs a transcript over `tokio::io::duplex` with a 64-byte buffer, so a
//! client that wrote a pipelined group without reading the replies as they come would
//! deadlock and fail here. Every byte the client sends is checked against the script as it
//! arrives; the first mismatch ends the server (the client sees the connection drop) and is
//! reported by [`ScriptedServer::finish`], which every test must call.
//!
//! ```ignore
//! let (io, server) = ScriptedServer::start(script![
//!     send("220 mx.example ESMTP\r\n"),
//!     expect("EHLO localhost\r\n"),
//!     send("250 mx.example\r\n"),
//! ]);
//! ```

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use smtp_courier::ClientConfig;
use smtp_courier::proto::Timeouts;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// The duplex buffer: smaller than any pipelined group in the tests.
pub const PIPE: usize = 64;

/// How long the server waits for bytes it expects before it gives up. Client timeouts in
/// the tests are shorter, so this only ends a test whose client is stuck.
const GUARD: Duration = Duration::from_secs(3);

/// Client settings for tests: EHLO name `localhost`, every timeout 2 s.
pub fn config() -> ClientConfig {
    ClientConfig::default().timeouts(Timeouts::all(Duration::from_secs(2)))
}

/// The usual greeting and EHLO exchange, with the EHLO reply given.
pub fn open(ehlo_reply: &str) -> Vec<Step> {
    vec![
        send("220 mx.example ESMTP\r\n"),
        expect("EHLO localhost\r\n"),
        send(ehlo_reply),
    ]
}

/// EHLO reply offering PIPELINING.
pub const EHLO_PIPELINING: &str = "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
/// EHLO reply without PIPELINING.
pub const EHLO_PLAIN: &str = "250-mx.example\r\n250 8BITMIME\r\n";

/// One step of a transcript.
#[derive(Clone, Debug)]
pub enum Step {
    /// The client must send exactly these bytes next.
    Expect(Vec<u8>),
    /// Send these bytes.
    Send(Vec<u8>),
    /// Message data up to and including the terminator `CRLF.CRLF` (or `.CRLF` at the
    /// very start) must be exactly these bytes, dot-stuffing included.
    ExpectData(Vec<u8>),
    /// Nothing may arrive for this long.
    Silence(Duration),
    /// Wait.
    Sleep(Duration),
    /// Send these bytes one at a time, waiting before each.
    Drip(Vec<u8>, Duration),
    /// Send these bytes again and again until the client goes away (at most 1 MiB).
    Forever(Vec<u8>),
    /// Hang up, ignoring anything received but not yet expected.
    Close,
}

pub fn expect(b: impl AsRef<[u8]>) -> Step {
    Step::Expect(b.as_ref().to_vec())
}
pub fn send(b: impl AsRef<[u8]>) -> Step {
    Step::Send(b.as_ref().to_vec())
}
pub fn data(b: impl AsRef<[u8]>) -> Step {
    Step::ExpectData(b.as_ref().to_vec())
}
pub fn silence(ms: u64) -> Step {
    Step::Silence(Duration::from_millis(ms))
}
pub fn sleep(ms: u64) -> Step {
    Step::Sleep(Duration::from_millis(ms))
}
pub fn drip(b: impl AsRef<[u8]>, every_ms: u64) -> Step {
    Step::Drip(b.as_ref().to_vec(), Duration::from_millis(every_ms))
}
pub fn forever(b: impl AsRef<[u8]>) -> Step {
    Step::Forever(b.as_ref().to_vec())
}
pub fn close() -> Step {
    Step::Close
}

/// A transcript as a table: each entry is a [`Step`] or a `Vec<Step>` (such as
/// [`open`]), flattened in order. (Test files declare `#[macro_use] mod support;`.)
macro_rules! script {
    ($($step:expr),* $(,)?) => {{
        let mut steps: Vec<$crate::support::Step> = Vec::new();
        $( $crate::support::IntoSteps::push_into($step, &mut steps); )*
        steps
    }};
}

/// What [`script!`] accepts.
pub trait IntoSteps {
    fn push_into(self, steps: &mut Vec<Step>);
}
impl IntoSteps for Step {
    fn push_into(self, steps: &mut Vec<Step>) {
        steps.push(self);
    }
}
impl IntoSteps for Vec<Step> {
    fn push_into(self, steps: &mut Vec<Step>) {
        steps.extend(self);
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Every byte received from the client.
    pub received: Vec<u8>,
    /// The raw (dot-stuffed) bytes of each `ExpectData`, terminator included.
    pub data: Vec<Vec<u8>>,
}

/// The running server; [`ScriptedServer::finish`] collects its verdict.
pub struct ScriptedServer {
    handle: Option<JoinHandle<(Transcript, Result<(), String>)>>,
}

impl ScriptedServer {
    /// Spawns the server; returns the client's end of the pipe.
    pub fn start(steps: Vec<Step>) -> (ClientIo, Self) {
        let (client, server) = tokio::io::duplex(PIPE);
        let handle = tokio::spawn(run(server, steps));
        let log = WriteLog::default();
        (
            ClientIo {
                inner: client,
                log: log.clone(),
            },
            Self {
                handle: Some(handle),
            },
        )
    }

    /// Waits for the script to end and panics on any mismatch. The server ends when the
    /// script is done and the client has closed its end (drop the client first, or let
    /// `quit` close it); bytes the client sent beyond the script are a mismatch.
    pub async fn finish(mut self) -> Transcript {
        let handle = self.handle.take().expect("finish once");
        let (transcript, verdict) = match timeout(GUARD + Duration::from_secs(1), handle).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("scripted server panicked: {e}"),
            Err(_) => panic!("scripted server did not finish: is the client still open?"),
        };
        if let Err(msg) = verdict {
            panic!(
                "scripted server: {msg}\nreceived so far:\n{}",
                show(&transcript.received)
            );
        }
        transcript
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if self.handle.is_some() && !std::thread::panicking() {
            panic!("ScriptedServer::finish was not called: the script was never checked");
        }
    }
}

/// Bytes as readable text, one line per CRLF.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "\\r\\n\n")
}

struct Server {
    io: Option<DuplexStream>,
    /// Received but not yet matched by a step.
    inbox: Vec<u8>,
    out: Transcript,
}

async fn run(io: DuplexStream, steps: Vec<Step>) -> (Transcript, Result<(), String>) {
    let mut s = Server {
        io: Some(io),
        inbox: Vec::new(),
        out: Transcript::default(),
    };
    let verdict = s.run(steps).await;
    if let Err(msg) = &verdict {
        // Also shown when the test fails before it calls `finish`.
        eprintln!("scripted server: {msg}");
    }
    (s.out, verdict)
}

impl Server {
    async fn run(&mut self, steps: Vec<Step>) -> Result<(), String> {
        for (i, step) in steps.into_iter().enumerate() {
            self.step(&step)
                .await
                .map_err(|e| format!("step {i} {}: {e}", brief(&step)))?;
        }
        // The script is over: the client may only close now.
        if let Some(mut io) = self.io.take() {
            let deadline = Instant::now() + GUARD;
            let mut buf = [0u8; 256];
            loop {
                match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => {
                        self.out.received.extend_from_slice(&buf[..n]);
                        self.inbox.extend_from_slice(&buf[..n]);
                    }
                    Err(_) => {
                        return Err("client never closed the connection after the script".into());
                    }
                }
            }
        }
        if !self.inbox.is_empty() {
            return Err(format!(
                "bytes after the end of the script:\n{}",
                show(&self.inbox)
            ));
        }
        Ok(())
    }

    fn io(&mut self) -> Result<&mut DuplexStream, String> {
        self.io
            .as_mut()
            .ok_or_else(|| "connection already closed".to_string())
    }

    /// Reads more bytes into the inbox; `Ok(false)` at EOF.
    async fn fill(&mut self, until: Instant) -> Result<bool, String> {
        let mut buf = [0u8; 256];
        let io = self.io()?;
        match tokio::time::timeout_at(until, io.read(&mut buf)).await {
            Err(_) => Err("timed out waiting for the client".into()),
            Ok(Err(e)) => Err(format!("read error: {e}")),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.out.received.extend_from_slice(&buf[..n]);
                self.inbox.extend_from_slice(&buf[..n]);
                Ok(true)
            }
        }
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Expect(want) => {
                let until = Instant::now() + GUARD;
                loop {
                    let n = self.inbox.len().min(want.len());
                    if self.inbox[..n] != want[..n] {
                        return Err(format!(
                            "mismatch\nexpected:\n{}\ngot:\n{}",
                            show(want),
                            show(&self.inbox)
                        ));
                    }
                    if n == want.len() {
                        self.inbox.drain(..n);
                        return Ok(());
                    }
                    if !self.fill(until).await? {
                        return Err(format!(
                            "client closed\nexpected:\n{}\ngot:\n{}",
                            show(want),
                            show(&self.inbox)
                        ));
                    }
                }
            }
            Step::ExpectData(want) => {
                let until = Instant::now() + GUARD;
                let mut scanned = 0;
                loop {
                    if let Some(end) = data_end(&self.inbox, scanned) {
                        let got: Vec<u8> = self.inbox.drain(..end).collect();
                        self.out.data.push(got.clone());
                        if got != *want {
                            return Err(format!(
                                "data mismatch\nexpected:\n{}\ngot:\n{}",
                                show(want),
                                show(&got)
                            ));
                        }
                        return Ok(());
                    }
                    scanned = self.inbox.len();
                    if !self.fill(until).await? {
                        return Err("client closed during the data".into());
                    }
                }
            }
            Step::Send(bytes) => self
                .io()?
                .write_all(bytes)
                .await
                .map_err(|e| format!("client gone before the reply: {e}")),
            Step::Silence(d) => {
                let until = Instant::now() + *d;
                if !self.inbox.is_empty() {
                    return Err(format!("client sent early:\n{}", show(&self.inbox)));
                }
                match self.fill(until).await {
                    Err(_) => Ok(()), // nothing arrived: good
                    Ok(true) => Err(format!("client sent early:\n{}", show(&self.inbox))),
                    Ok(false) => Ok(()), // closing is not sending
                }
            }
            Step::Sleep(d) => {
                tokio::time::sleep(*d).await;
                Ok(())
            }
            Step::Drip(bytes, every) => {
                for b in bytes {
                    tokio::time::sleep(*every).await;
                    if self.io()?.write_all(&[*b]).await.is_err() {
                        break; // the client gave up
                    }
                }
                Ok(())
            }
            Step::Forever(bytes) => {
                let mut sent = 0usize;
                while sent < 1 << 20 {
                    if self.io()?.write_all(bytes).await.is_err() {
                        return Ok(()); // the client gave up, as it should
                    }
                    sent += bytes.len();
                }
                Err("the client read 1 MiB of an endless reply without giving up".into())
            }
            Step::Close => {
                // A server hanging up ignores what it has not read yet.
                self.inbox.clear();
                self.io = None;
                Ok(())
            }
        }
    }
}

/// The length of the message data up to and including its terminator, if complete;
/// `scanned` bytes were already searched.
fn data_end(b: &[u8], scanned: usize) -> Option<usize> {
    if b.starts_with(b".\r\n") {
        return Some(3);
    }
    let from = scanned.saturating_sub(4);
    b[from..]
        .windows(5)
        .position(|w| w == b"\r\n.\r\n")
        .map(|p| from + p + 5)
}

fn brief(step: &Step) -> String {
    let s = format!("{step:?}");
    if s.len() > 60 {
        format!("{}…", &s[..60])
    } else {
        s
    }
}

/// One `poll_write` that made progress: where in the stream it started, how many bytes the
/// client offered, how many went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    pub offset: usize,
    pub offered: usize,
    pub accepted: usize,
}

/// The writes of a [`ClientIo`], shared with the test.
#[derive(Clone, Debug, Default)]
pub struct WriteLog(Arc<Mutex<Vec<Write>>>);

impl WriteLog {
    pub fn writes(&self) -> Vec<Write> {
        self.0.lock().unwrap().clone()
    }

    /// The first write whose offered bytes cover stream offset `at`.
    pub fn write_covering(&self, at: usize) -> Option<Write> {
        self.writes()
            .into_iter()
            .find(|w| w.offset <= at && at < w.offset + w.offered)
    }
}

/// The client's end of the pipe, recording write boundaries.
#[derive(Debug)]
pub struct ClientIo {
    inner: DuplexStream,
    log: WriteLog,
}

impl ClientIo {
    pub fn log(&self) -> WriteLog {
        self.log.clone()
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            let mut log = self.log.0.lock().unwrap();
            let offset = log.last().map_or(0, |w| w.offset + w.accepted);
            log.push(Write {
                offset,
                offered: buf.len(),
                accepted: n,
            });
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
