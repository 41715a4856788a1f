//! A plaintext SMTP server on loopback for the pooled delivery tests: it logs every
//! connection's command lines (message content excluded) and the final replies it held
//! back, counts connections open at once, and answers by recipient:
//! `perm@…` 550, `grey@…` 451, anyone else 250.
//!
//! With BDAT it holds the reply to `BDAT n LAST` until the next line comes (or 200 ms
//! pass), and logs that reply as `S: …` where it was sent: a MAIL logged before the
//! previous message's `S:` line left the client before that reply (a window).

#![allow(dead_code)] // each test file uses a part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the server behaves.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// EHLO keywords after the name (`PIPELINING`, `CHUNKING`, `LIMITS MAILMAX=2`).
    pub ehlo: &'static [&'static str],
    /// After this long without a command: `421` and hang up (or just hang up, with
    /// `idle_eof`), as Postfix does after its idle timeout.
    pub idle_close: Option<Duration>,
    pub idle_eof: bool,
    /// How long accepting the end of data takes.
    pub data_delay: Duration,
    /// Hang up, without a reply, on this MAIL (1-based) of the first connection.
    pub hang_up_on_mail: Option<usize>,
    /// 250 to every RCPT, `perm@` and `grey@` too.
    pub lenient: bool,
    /// The greeting of each connection, in order (`220 mx.pool.test ESMTP` for those
    /// beyond); a 4yz or 5yz one is followed only by QUIT.
    pub greetings: &'static [&'static str],
}

#[derive(Default)]
struct Shared {
    logs: Vec<Vec<String>>,
    live: usize,
    max_live: usize,
}

/// A running server; it stops accepting when dropped.
pub struct PlainServer {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl Drop for PlainServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Listeners on each of `ips`, all on one port (MX hosts all listen on "port 25").
pub async fn same_port(ips: &[&str]) -> (u16, Vec<TcpListener>) {
    'again: for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).await.expect("bind");
        let port = first.local_addr().expect("local addr").port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind((*ip, port)).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'again,
            }
        }
        return (port, all);
    }
    panic!("no port free on every one of {ips:?}");
}

impl PlainServer {
    /// On 127.0.0.1.
    pub async fn start(b: Behaviour) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.expect("bind"), b)
    }

    pub fn serve(listener: TcpListener, b: Behaviour) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let shared: Arc<Mutex<Shared>> = Arc::default();
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let index = {
                    let mut l = lock(&s);
                    l.logs.push(Vec::new());
                    l.live += 1;
                    l.max_live = l.max_live.max(l.live);
                    l.logs.len() - 1
                };
                let (s, b) = (Arc::clone(&s), b.clone());
                tokio::spawn(async move {
                    let _ = converse(stream, &b, &s, index).await;
                    lock(&s).live -= 1;
                });
            }
        });
        Self { addr, shared, task }
    }

    /// Every connection's log, in connection order.
    pub fn logs(&self) -> Vec<Vec<String>> {
        lock(&self.shared).logs.clone()
    }

    /// How many MAILs each connection carried.
    pub fn mails(&self) -> Vec<usize> {
        self.logs()
            .iter()
            .map(|c| c.iter().filter(|l| l.starts_with("MAIL ")).count())
            .collect()
    }

    /// The most connections open at once.
    pub fn max_live(&self) -> usize {
        lock(&self.shared).max_live
    }

    /// Connections open now.
    pub fn live(&self) -> usize {
        lock(&self.shared).live
    }

    /// Waits (up to 2 s) until no connection is open: the client QUIT or dropped them.
    pub async fn wait_closed(&self) {
        for _ in 0..200 {
            if self.live() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("connections still open: {:?}", self.logs());
    }
}

async fn converse(
    stream: TcpStream,
    b: &Behaviour,
    shared: &Mutex<Shared>,
    index: usize,
) -> std::io::Result<()> {
    let (read, mut w) = stream.into_split();
    let mut r = BufReader::new(read);
    let log = |line: &str| lock(shared).logs[index].push(line.to_owned());
    let greeting = b
        .greetings
        .get(index)
        .copied()
        .unwrap_or("220 mx.pool.test ESMTP");
    w.write_all(format!("{greeting}\r\n").as_bytes()).await?;
    let (mut mails, mut queued) = (0, 0);
    // A line read (and logged) while a reply was held.
    let mut next: Option<String> = None;
    loop {
        let held = next.is_some();
        let line = match next.take() {
            Some(l) => l,
            None => {
                let mut line = String::new();
                let read = r.read_line(&mut line);
                let n = match b.idle_close {
                    Some(after) => match tokio::time::timeout(after, read).await {
                        Ok(n) => n?,
                        Err(_) => {
                            if !b.idle_eof {
                                w.write_all(b"421 4.4.2 mx.pool.test timeout exceeded\r\n")
                                    .await?;
                            }
                            return w.shutdown().await;
                        }
                    },
                    None => read.await?,
                };
                if n == 0 {
                    return Ok(());
                }
                line.trim_end_matches(['\r', '\n']).to_owned()
            }
        };
        if !held {
            log(&line);
        }
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => ehlo_reply(b.ehlo),
            "MAIL" => {
                mails += 1;
                if index == 0 && b.hang_up_on_mail == Some(mails) {
                    return w.shutdown().await;
                }
                "250 2.1.0 ok\r\n".into()
            }
            "RCPT" if b.lenient => "250 ok\r\n".into(),
            "RCPT" if line.contains("<perm@") => "550 5.1.1 no such user\r\n".into(),
            "RCPT" if line.contains("<grey@") => "451 4.7.1 greylisted\r\n".into(),
            "RCPT" | "RSET" | "NOOP" => "250 ok\r\n".into(),
            "DATA" => {
                w.write_all(b"354 go ahead\r\n").await?;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await? == 0 || l == ".\r\n" {
                        break;
                    }
                }
                tokio::time::sleep(b.data_delay).await;
                queued += 1;
                format!("250 2.0.0 queued {queued}\r\n")
            }
            "BDAT" => {
                let mut words = line.split(' ').skip(1);
                let n: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                let mut chunk = vec![0; n];
                r.read_exact(&mut chunk).await?;
                if !last {
                    w.write_all(b"250 2.0.0 chunk ok\r\n").await?;
                    continue;
                }
                tokio::time::sleep(b.data_delay).await;
                // Hold the final reply until the next line (or 200 ms): it shows whether
                // the client waited for it.
                let mut l = String::new();
                if let Ok(n) =
                    tokio::time::timeout(Duration::from_millis(200), r.read_line(&mut l)).await
                    && n? > 0
                {
                    let l = l.trim_end_matches(['\r', '\n']).to_owned();
                    log(&l);
                    next = Some(l);
                }
                queued += 1;
                let reply = format!("250 2.0.0 queued {queued}");
                log(&format!("S: {reply}"));
                reply + "\r\n"
            }
            "QUIT" => {
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return w.shutdown().await;
            }
            _ => "502 5.5.2 unknown\r\n".into(),
        };
        w.write_all(reply.as_bytes()).await?;
    }
}

/// `250-mx.pool.test`, then each keyword, the last with `250 `.
fn ehlo_reply(keywords: &[&str]) -> String {
    let mut lines = vec!["mx.pool.test"];
    lines.extend_from_slice(keywords);
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
        .collect()
}
