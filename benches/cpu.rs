//! Client CPU per message, for an instruction counter (callgrind), not a clock.
//!
//! The client sends `n` identical messages over an in-memory stream whose other end is a
//! minimal SMTP server answering in the same process, with no socket and no timer, so the
//! count of instructions is the same on every run however loaded the machine is. Run it
//! twice with different `n` and divide the difference by the difference in messages: the
//! setup (runtime, greeting, EHLO) cancels out.
//!
//! ```sh
//! cargo bench --bench cpu --no-run   # prints the executable
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p target/release/deps/cpu-… bdat 1024 1 1000
//! ```
//!
//! Arguments: `data|bdat SIZE RCPTS N`. The fake server's own share can be read off the
//! profile (`callgrind_annotate --inclusive=yes`, the `FakeServer` functions).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use smtp_courier::{Client, ClientConfig, Envelope};

/// The server end: takes every byte written at once, answers from a queue.
struct FakeServer {
    replies: Vec<u8>,
    read_pos: usize,
    waker: Option<Waker>,
    chunking: bool,
    /// Octets of BDAT content still to skip, and whether that chunk is the last one.
    skip: Option<(usize, bool)>,
    in_data: bool,
    /// A command line split across writes.
    line: Vec<u8>,
    /// The last four octets of DATA content seen, for a terminator split across writes.
    tail: [u8; 4],
}

impl FakeServer {
    fn new(chunking: bool) -> Self {
        Self {
            replies: b"220 fake ESMTP\r\n".to_vec(),
            read_pos: 0,
            waker: None,
            chunking,
            skip: None,
            in_data: false,
            line: Vec::new(),
            tail: [0; 4],
        }
    }

    fn reply(&mut self, r: &[u8]) {
        self.replies.extend_from_slice(r);
    }

    fn command(&mut self, line: &[u8]) {
        let verb = line.get(..4).unwrap_or_default();
        match verb {
            b"EHLO" => {
                self.reply(b"250-fake\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SIZE 0\r\n");
                if self.chunking {
                    self.reply(b"250-CHUNKING\r\n");
                }
                self.reply(b"250 SMTPUTF8\r\n");
            }
            b"DATA" => {
                self.in_data = true;
                self.tail = [0; 4];
                self.reply(b"354 go ahead\r\n");
            }
            b"BDAT" => {
                let text = std::str::from_utf8(line).unwrap_or_default();
                let mut words = text.split_ascii_whitespace().skip(1);
                let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let last = words.next() == Some("LAST");
                self.skip = Some((n, last));
                self.end_chunk();
            }
            b"QUIT" => self.reply(b"221 2.0.0 bye\r\n"),
            _ => self.reply(b"250 2.0.0 ok\r\n"),
        }
    }

    fn end_chunk(&mut self) {
        if let Some((0, last)) = self.skip {
            self.skip = None;
            self.reply(if last {
                b"250 2.0.0 queued\r\n"
            } else {
                b"250 2.0.0 chunk\r\n"
            });
        }
    }

    fn input(&mut self, mut buf: &[u8]) {
        while !buf.is_empty() {
            if let Some((n, last)) = self.skip {
                let take = n.min(buf.len());
                buf = &buf[take..];
                self.skip = Some((n - take, last));
                self.end_chunk();
            } else if self.in_data {
                // The terminator, possibly split across writes.
                let mut window = self.tail.to_vec();
                window.extend_from_slice(&buf[..buf.len().min(4)]);
                let end = memchr::memmem::find(&window, b"\r\n.\r\n")
                    .map(|p| p + 5 - 4)
                    .or_else(|| memchr::memmem::find(buf, b"\r\n.\r\n").map(|p| p + 5));
                match end {
                    Some(e) => {
                        buf = &buf[e.min(buf.len())..];
                        self.in_data = false;
                        self.reply(b"250 2.0.0 queued\r\n");
                    }
                    None => {
                        let k = buf.len();
                        let mut t = self.tail.to_vec();
                        t.extend_from_slice(&buf[k.saturating_sub(4)..]);
                        let s = t.len() - 4;
                        self.tail.copy_from_slice(&t[s..]);
                        buf = &[];
                    }
                }
            } else {
                match memchr::memchr(b'\n', buf) {
                    Some(p) => {
                        let mut line = std::mem::take(&mut self.line);
                        line.extend_from_slice(&buf[..p + 1]);
                        buf = &buf[p + 1..];
                        self.command(&line);
                        line.clear();
                        self.line = line;
                    }
                    None => {
                        self.line.extend_from_slice(buf);
                        buf = &[];
                    }
                }
            }
        }
        if self.read_pos < self.replies.len()
            && let Some(w) = self.waker.take()
        {
            w.wake();
        }
    }
}

impl AsyncRead for FakeServer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let avail = &this.replies[this.read_pos..];
        if avail.is_empty() {
            this.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = avail.len().min(buf.remaining());
        buf.put_slice(&avail[..n]);
        this.read_pos += n;
        if this.read_pos == this.replies.len() {
            this.replies.clear();
            this.read_pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for FakeServer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.input(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The peers benchmark's message: exactly `size` octets, CRLF lines, every 16th line
/// starting with a dot.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: Sender <sender@example.org>\r\nTo: <r1@example.net>\r\n\
        Subject: peer benchmark\r\nMessage-ID: <peers@example.org>\r\n\r\n"
        .to_vec();
    const LINE: &[u8] = b"The quick brown fox jumps over the lazy dog, again and again.\r\n";
    let mut i = 0;
    while m.len() + LINE.len() + 1 + 4 < size {
        if i % 16 == 6 {
            m.push(b'.');
        }
        m.extend_from_slice(LINE);
        i += 1;
    }
    if m.len() + 2 < size {
        m.resize(size - 2, b'x');
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() != 4 {
        eprintln!("usage: cpu data|bdat SIZE RCPTS N");
        return;
    }
    let chunking = args[0] == "bdat";
    let size: usize = args[1].parse().expect("SIZE");
    let rcpts: usize = args[2].parse().expect("RCPTS");
    let n: usize = args[3].parse().expect("N");
    let body = message(size);
    let to: Vec<String> = (1..=rcpts).map(|i| format!("r{i}@example.net")).collect();
    let envelope = Envelope::new("sender@example.org", &to).expect("envelope");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = ClientConfig::new("client.example.org")
            .expect("config")
            .chunking(chunking);
        let mut client = Client::open(FakeServer::new(chunking), config)
            .await
            .expect("open");
        for _ in 0..n {
            let report = client.send_bytes(&envelope, &body).await.expect("send");
            assert!(report.all_delivered(), "{report:?}");
        }
        client.quit().await.expect("quit");
    });
}
