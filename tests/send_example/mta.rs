//! A scripted SMTP server for the MX, proxy and per-connection tests: it can listen on any
//! loopback address (MX hosts on 127.0.0.2 and 127.0.0.3 sharing one port, as on port 25),
//! greets as told, answers everything else with a fixed script, and logs each
//! connection's command lines (the message content excluded), so a test can count
//! connections and the MAILs on each.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One connection's command lines, in order.
pub type Log = Vec<String>;

/// A running server; it stops when dropped.
pub struct Mta {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Log>>>,
    task: JoinHandle<()>,
}

impl Drop for Mta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listeners on each of `ips`, all on one port: the pool tests' helper.
pub use super::pool_support::same_port;

impl Mta {
    /// On 127.0.0.1, with a 220 greeting and `ehlo` as the EHLO reply.
    pub async fn start(ehlo: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, "220 mta.test ESMTP\r\n", ehlo)
    }

    /// Serves on `listener`: `greeting` first (a 5yz greeting then waits for QUIT), then
    /// `ehlo` to EHLO, 250 to MAIL, RCPT and RSET, 354 to DATA and `250 queued` after
    /// the content, 221 to QUIT.
    pub fn serve(listener: TcpListener, greeting: &'static str, ehlo: &'static str) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let index = {
                    let mut log = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    log.push(Vec::new());
                    log.len() - 1
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = converse(stream, greeting, ehlo, &shared, index).await;
                });
            }
        });
        Self { addr, log, task }
    }

    /// Every connection's command lines.
    pub fn connections(&self) -> Vec<Log> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many MAIL commands each connection carried.
    pub fn mails_per_connection(&self) -> Vec<usize> {
        self.connections()
            .iter()
            .map(|c| c.iter().filter(|l| l.starts_with("MAIL ")).count())
            .collect()
    }
}

async fn converse(
    stream: TcpStream,
    greeting: &str,
    ehlo: &str,
    log: &Mutex<Vec<Log>>,
    index: usize,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(greeting.as_bytes()).await?;
    let refusing = greeting.starts_with('5');
    let mut queued = 0;
    while let Some(line) = lines.next_line().await? {
        log.lock().unwrap_or_else(PoisonError::into_inner)[index].push(line.clone());
        let verb = line
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ if refusing => "503 no service\r\n".into(),
            "EHLO" => ehlo.into(),
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => "250 ok\r\n".into(),
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                while lines.next_line().await?.is_some_and(|l| l != ".") {}
                queued += 1;
                format!("250 queued as Q{queued}\r\n")
            }
            _ => "500 unknown command\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}
