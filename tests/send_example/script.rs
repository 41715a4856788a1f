//! A scripted one-connection TCP server for the `send` tests whose bytes matter (BDAT,
//! windows of transactions, LMTP): it checks every byte `send` writes against the script
//! as it arrives, answers only when the script says so, and records where each read
//! began, so a test can tell what left in one write.
//!
//! A command group that the client should pipeline is one [`expect`]: the server answers
//! nothing before all of it has arrived, so a client that waited for a reply in the middle
//! would stall (and fail on its `--timeout`).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long the server waits for bytes it expects; longer than the `--timeout` the tests
/// give `send`, so it only ends a test whose client is stuck.
const GUARD: Duration = Duration::from_secs(8);

/// One step of the script.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// `send` must write exactly these bytes next.
    Expect(Vec<u8>),
    /// Write these bytes to `send`.
    Send(Vec<u8>),
    /// Nothing may arrive for this long (nor be waiting unread).
    Quiet(Duration),
}

pub(crate) fn expect(b: impl AsRef<[u8]>) -> Step {
    Step::Expect(b.as_ref().to_vec())
}

pub(crate) fn reply(b: impl AsRef<[u8]>) -> Step {
    Step::Send(b.as_ref().to_vec())
}

pub(crate) fn quiet(ms: u64) -> Step {
    Step::Quiet(Duration::from_millis(ms))
}

/// The greeting, `hello` (`EHLO localhost` or `LHLO localhost`) and its reply `caps`.
pub(crate) fn opening(hello: &str, caps: &str) -> Vec<Step> {
    vec![
        reply("220 mx.test ESMTP\r\n"),
        expect(format!("{hello} localhost\r\n")),
        reply(caps),
    ]
}

/// QUIT and its reply: the end of every script.
pub(crate) fn closing() -> Vec<Step> {
    vec![expect("QUIT\r\n"), reply("221 2.0.0 bye\r\n")]
}

/// What the server received.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Every byte, in order.
    pub(crate) bytes: Vec<u8>,
    /// The offset in `bytes` at which each read began.
    pub(crate) reads: Vec<usize>,
}

impl Received {
    /// The bytes after the first `\r\n` that follows `EHLO`/`LHLO`: what came after the
    /// opening.
    pub(crate) fn after_hello(&self) -> &[u8] {
        let at = self
            .bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(0, |p| p + 2);
        &self.bytes[at..]
    }

    /// True when the read that began at `offset` brought at least `len` bytes: one read,
    /// so one write (on loopback a single small write arrives whole).
    pub(crate) fn one_read(&self, offset: usize, len: usize) -> bool {
        let Some(i) = self.reads.iter().position(|&r| r == offset) else {
            return false;
        };
        let end = self.reads.get(i + 1).copied().unwrap_or(self.bytes.len());
        end - offset >= len
    }
}

/// The running server; [`Scripted::finish`] gives its verdict.
pub(crate) struct Scripted {
    pub(crate) addr: String,
    handle: JoinHandle<(Received, Result<(), String>)>,
}

impl Scripted {
    pub(crate) async fn start(steps: Vec<Step>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = tokio::spawn(async move {
            let mut got = Received::default();
            let verdict = match timeout(GUARD, listener.accept()).await {
                Ok(Ok((stream, _))) => run(stream, steps, &mut got).await,
                Ok(Err(e)) => Err(format!("accept: {e}")),
                Err(_) => Err("no connection came".to_owned()),
            };
            (got, verdict)
        });
        Self { addr, handle }
    }

    /// Waits for the script to end (and the client to hang up); panics on a mismatch.
    pub(crate) async fn finish(self) -> Received {
        let (got, verdict) = self.handle.await.expect("scripted server task");
        if let Err(msg) = verdict {
            panic!("scripted server: {msg}\nreceived:\n{}", show(&got.bytes));
        }
        got
    }
}

/// Bytes as readable text, a line per CRLF.
pub(crate) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace("\r\n", "\\r\\n\n")
}

/// Reads once into `got` and `inbox`; `Ok(0)` at EOF.
async fn read_some(
    stream: &mut TcpStream,
    got: &mut Received,
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> Result<usize, String> {
    let mut buf = [0u8; 65536];
    match timeout(wait, stream.read(&mut buf)).await {
        Err(_) => Err("timed out".to_owned()),
        Ok(Err(e)) => Err(format!("read: {e}")),
        Ok(Ok(n)) => {
            if n > 0 {
                got.reads.push(got.bytes.len());
                got.bytes.extend_from_slice(&buf[..n]);
                inbox.extend_from_slice(&buf[..n]);
            }
            Ok(n)
        }
    }
}

async fn run(mut stream: TcpStream, steps: Vec<Step>, got: &mut Received) -> Result<(), String> {
    // Received, not yet matched by a step.
    let mut inbox: Vec<u8> = Vec::new();
    for step in steps {
        match step {
            Step::Send(b) => stream
                .write_all(&b)
                .await
                .map_err(|e| format!("write: {e}"))?,
            Step::Expect(want) => loop {
                let n = inbox.len().min(want.len());
                if inbox[..n] != want[..n] {
                    return Err(format!(
                        "expected:\n{}\nbut got:\n{}",
                        show(&want),
                        show(&inbox)
                    ));
                }
                if n == want.len() {
                    inbox.drain(..n);
                    break;
                }
                let read = read_some(&mut stream, got, &mut inbox, GUARD).await;
                match read {
                    Ok(0) => return Err(format!("EOF while expecting:\n{}", show(&want))),
                    Ok(_) => {}
                    Err(e) => return Err(format!("{e} while expecting:\n{}", show(&want))),
                }
            },
            Step::Quiet(d) => {
                if inbox.is_empty() {
                    match read_some(&mut stream, got, &mut inbox, d).await {
                        Err(_) => {}
                        Ok(0) => return Err("EOF during a quiet step".to_owned()),
                        Ok(_) => {}
                    }
                }
                if !inbox.is_empty() {
                    return Err(format!("expected nothing yet, got:\n{}", show(&inbox)));
                }
            }
        }
    }
    // The script is done: the client hangs up, and sends nothing more.
    loop {
        if !inbox.is_empty() {
            return Err(format!("unexpected after the script:\n{}", show(&inbox)));
        }
        match read_some(&mut stream, got, &mut inbox, GUARD).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("{e} waiting for the client to hang up")),
        }
    }
}
