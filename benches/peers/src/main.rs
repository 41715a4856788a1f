//! Loopback throughput of smtp-courier against its peer crates, lettre and mail-send, all
//! talking to the same in-process sink (`examples/support/sink.rs`).
//!
//! For each client and each recipient count (1 and 5), one connection is opened, one
//! warm-up message is sent, and then up to `--messages` messages of about 1 KB are sent one
//! after another on that connection until they are all sent or `--seconds` have passed.
//! Each configuration runs `--runs` times on a fresh sink; the table shows the run with the
//! median rate. After every run the sink's counters and stored messages are checked (one
//! connection, every message and every recipient arrived, the envelope and content are
//! right), so a client that fails silently cannot look fast.
//!
//! Rows marked "diagnostic" change one thing, TCP_NODELAY, to show where the time goes;
//! see README.md beside this file.
//!
//! ```sh
//! cargo run --release -- [--messages 2000] [--seconds 10] [--runs 3] [--only NAME]
//! ```

#[path = "../../../examples/support/sink.rs"]
mod sink;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lettre::AsyncTransport;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;

const FROM: &str = "sender@example.org";
const HELO: &str = "client.example.org";
/// The longest a single message may take before the run is declared failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A small realistic message (about 1 KB), CRLF line endings, one line that needs
/// dot-stuffing: the same shape as `benches/loopback.rs` in the main crate.
fn message() -> Vec<u8> {
    let mut m = b"From: Sender <sender@example.org>\r\nTo: <r1@example.net>\r\n\
        Subject: peer benchmark\r\nMessage-ID: <peers@example.org>\r\n\r\n"
        .to_vec();
    for i in 0..13 {
        if i == 6 {
            m.extend_from_slice(b".this line starts with a dot\r\n");
        }
        m.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    m
}

/// The clients measured, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// `smtp_courier::Client::connect` (TCP_NODELAY on) and `send_bytes`.
    Courier,
    /// The same client on a stream left with Nagle's algorithm on.
    CourierNagle,
    /// `lettre::AsyncSmtpTransport` with a pool of one connection and `send_raw`.
    LettrePool,
    /// `lettre::transport::smtp::client::AsyncSmtpConnection::connect_tokio1` and `send`.
    LettreConnection,
    /// The same on a stream with TCP_NODELAY set (`connect_with_transport`).
    LettreConnectionNodelay,
    /// `mail_send::SmtpClientBuilder::connect_plain` and `SmtpClient::send`.
    MailSend,
    /// The same with TCP_NODELAY set on the connected stream.
    MailSendNodelay,
}

impl Peer {
    const ALL: [Self; 7] = [
        Self::Courier,
        Self::CourierNagle,
        Self::LettrePool,
        Self::LettreConnection,
        Self::LettreConnectionNodelay,
        Self::MailSend,
        Self::MailSendNodelay,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Courier => "smtp-courier",
            Self::CourierNagle => "smtp-courier, Nagle on (diagnostic)",
            Self::LettrePool => "lettre AsyncSmtpTransport, pool 1",
            Self::LettreConnection => "lettre AsyncSmtpConnection",
            Self::LettreConnectionNodelay => "lettre AsyncSmtpConnection, NODELAY (diagnostic)",
            Self::MailSend => "mail-send SmtpClient",
            Self::MailSendNodelay => "mail-send SmtpClient, NODELAY (diagnostic)",
        }
    }
}

/// One connected client, ready to send the same message again and again.
// One value exists per run, so the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum Driver {
    Courier {
        client: smtp_courier::Client<TcpStream>,
        envelope: smtp_courier::Envelope,
    },
    LettrePool {
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        envelope: lettre::address::Envelope,
    },
    LettreConnection {
        conn: AsyncSmtpConnection,
        envelope: lettre::address::Envelope,
    },
    MailSend {
        client: mail_send::SmtpClient<TcpStream>,
        rcpts: Vec<String>,
    },
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn lettre_envelope(rcpts: &[String]) -> Result<lettre::address::Envelope, String> {
    let from = FROM.parse().map_err(err)?;
    let to = rcpts
        .iter()
        .map(|r| r.parse().map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    lettre::address::Envelope::new(Some(from), to).map_err(err)
}

async fn tcp(addr: SocketAddr, nodelay: bool) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).await.map_err(err)?;
    stream.set_nodelay(nodelay).map_err(err)?;
    Ok(stream)
}

impl Driver {
    /// Connects, reads the greeting and says EHLO. lettre's pool connects on first use, so
    /// the warm-up message does that.
    async fn connect(peer: Peer, addr: SocketAddr, rcpts: &[String]) -> Result<Self, String> {
        let hello = || ClientId::Domain(HELO.to_owned());
        Ok(match peer {
            Peer::Courier | Peer::CourierNagle => {
                let config = smtp_courier::ClientConfig::new(HELO).map_err(err)?;
                let client = if peer == Peer::Courier {
                    smtp_courier::Client::connect(addr, config).await
                } else {
                    smtp_courier::Client::open(tcp(addr, false).await?, config).await
                }
                .map_err(err)?;
                let envelope = smtp_courier::Envelope::new(FROM, rcpts).map_err(err)?;
                Self::Courier { client, envelope }
            }
            Peer::LettrePool => {
                let transport =
                    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
                        addr.ip().to_string(),
                    )
                    .port(addr.port())
                    .hello_name(hello())
                    .pool_config(PoolConfig::new().max_size(1))
                    .build();
                Self::LettrePool {
                    transport,
                    envelope: lettre_envelope(rcpts)?,
                }
            }
            Peer::LettreConnection => {
                let conn = AsyncSmtpConnection::connect_tokio1(
                    addr,
                    Some(SEND_TIMEOUT),
                    &hello(),
                    None,
                    None,
                )
                .await
                .map_err(err)?;
                Self::LettreConnection {
                    conn,
                    envelope: lettre_envelope(rcpts)?,
                }
            }
            Peer::LettreConnectionNodelay => {
                let stream = tcp(addr, true).await?;
                let conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello())
                    .await
                    .map_err(err)?;
                Self::LettreConnection {
                    conn,
                    envelope: lettre_envelope(rcpts)?,
                }
            }
            Peer::MailSend | Peer::MailSendNodelay => {
                let client = mail_send::SmtpClientBuilder::new(addr.ip().to_string(), addr.port())
                    .map_err(err)?
                    .implicit_tls(false)
                    .helo_host(HELO)
                    .timeout(SEND_TIMEOUT)
                    .connect_plain()
                    .await
                    .map_err(err)?;
                if peer == Peer::MailSendNodelay {
                    client.stream.set_nodelay(true).map_err(err)?;
                }
                Self::MailSend {
                    client,
                    rcpts: rcpts.to_vec(),
                }
            }
        })
    }

    /// Sends one message and fails unless the server accepted it for every recipient.
    async fn send(&mut self, body: &[u8]) -> Result<(), String> {
        let sent = async {
            match self {
                Self::Courier { client, envelope } => {
                    let report = client.send_bytes(envelope, body).await.map_err(err)?;
                    if !report.all_delivered() {
                        return Err(format!("not delivered: {report:?}"));
                    }
                }
                Self::LettrePool {
                    transport,
                    envelope,
                } => {
                    let reply = transport.send_raw(envelope, body).await.map_err(err)?;
                    if !reply.is_positive() {
                        return Err(format!("refused: {reply:?}"));
                    }
                    // lettre hands a used connection back to its pool from a spawned task.
                    // Let that task run first: otherwise the next send finds the pool empty
                    // and opens a second connection (see README.md), and the run is refused
                    // for using more than one.
                    tokio::task::yield_now().await;
                }
                Self::LettreConnection { conn, envelope } => {
                    let reply = conn.send(envelope, body).await.map_err(err)?;
                    if !reply.is_positive() {
                        return Err(format!("refused: {reply:?}"));
                    }
                }
                Self::MailSend { client, rcpts } => {
                    // `data` already turns anything but a 2yz into an error.
                    let message = mail_send::smtp::message::Message::new(
                        FROM,
                        rcpts.iter().map(String::as_str),
                        body,
                    );
                    client.send(message).await.map_err(err)?;
                }
            }
            Ok(())
        };
        tokio::time::timeout(SEND_TIMEOUT, sent)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    /// QUIT, so that the sink has seen the end of everything before it is checked.
    async fn quit(self) -> Result<(), String> {
        match self {
            Self::Courier { client, .. } => client.quit().await.map_err(err),
            Self::LettrePool { transport, .. } => {
                transport.shutdown().await;
                Ok(())
            }
            Self::LettreConnection { mut conn, .. } => conn.quit().await.map(drop).map_err(err),
            Self::MailSend { client, .. } => client.quit().await.map_err(err),
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Messages sent in the timed part (the warm-up message not included).
    sent: usize,
    elapsed: Duration,
    /// Whether the sink received the content with one extra CRLF at the end (the client
    /// wrote "\r\n.\r\n" after a message that already ends in CRLF).
    extra_crlf: bool,
}

impl Run {
    fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64()
    }
}

struct Settings {
    messages: usize,
    cap: Duration,
    runs: usize,
    only: Option<String>,
}

async fn run_once(
    peer: Peer,
    rcpts: &[String],
    body: &[u8],
    settings: &Settings,
) -> Result<Run, String> {
    let sink = sink::Sink::start().await.map_err(err)?;
    let mut driver = Driver::connect(peer, sink.addr(), rcpts).await?;
    driver
        .send(body)
        .await
        .map_err(|e| format!("warm-up: {e}"))?;
    let start = Instant::now();
    let mut sent = 0;
    while sent < settings.messages && start.elapsed() < settings.cap {
        driver
            .send(body)
            .await
            .map_err(|e| format!("message {}: {e}", sent + 1))?;
        sent += 1;
    }
    let elapsed = start.elapsed();
    driver.quit().await.map_err(|e| format!("quit: {e}"))?;

    // Every message, warm-up included, must have arrived whole on the one connection.
    let expected = sent as u64 + 1;
    let stats = sink.stats();
    let messages = sink.take_messages();
    sink.shutdown().await;
    if stats.connections != 1 {
        return Err(format!("{} connections, expected 1", stats.connections));
    }
    if stats.messages != expected || messages.len() as u64 != expected {
        return Err(format!(
            "sink received {} messages ({} stored), client reported {expected}",
            stats.messages,
            messages.len()
        ));
    }
    if stats.recipients_accepted != expected * rcpts.len() as u64 || stats.recipients_refused != 0 {
        return Err(format!("recipients: {stats:?}"));
    }
    let with_crlf = [body, b"\r\n"].concat();
    let mut extra = 0;
    for (i, m) in messages.iter().enumerate() {
        if m.mail_from != FROM || m.rcpt_to != rcpts || m.helo != HELO {
            return Err(format!("message {i}: wrong envelope: {m:?}"));
        }
        if m.data == with_crlf {
            extra += 1;
        } else if m.data != body {
            return Err(format!(
                "message {i}: content differs ({} bytes)",
                m.data.len()
            ));
        }
    }
    if extra != 0 && extra != messages.len() {
        return Err(format!(
            "{extra} of {} messages have an extra CRLF",
            messages.len()
        ));
    }
    Ok(Run {
        sent,
        elapsed,
        extra_crlf: extra != 0,
    })
}

fn parse_args() -> Result<Settings, String> {
    let mut settings = Settings {
        messages: 2000,
        cap: Duration::from_secs(10),
        runs: 3,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => settings.messages = value()?.parse().map_err(err)?,
            "--seconds" => settings.cap = Duration::from_secs_f64(value()?.parse().map_err(err)?),
            "--runs" => settings.runs = value()?.parse().map_err(err)?,
            "--only" => settings.only = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {flag}; see the comment at the top of src/main.rs"
                ));
            }
        }
    }
    if settings.runs == 0 || settings.messages == 0 {
        return Err("--runs and --messages must be at least 1".to_owned());
    }
    Ok(settings)
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(64);
        }
    };
    // One thread for the sink and the client alike, as in benches/loopback.rs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let body = message();
    eprintln!(
        "message: {} bytes; up to {} messages or {:?} per run; median of {} runs",
        body.len(),
        settings.messages,
        settings.cap,
        settings.runs
    );

    let mut rows = Vec::new();
    let mut failed = false;
    for peer in Peer::ALL {
        if settings
            .only
            .as_deref()
            .is_some_and(|o| !peer.name().contains(o))
        {
            continue;
        }
        for n in [1, 5] {
            let rcpts: Vec<String> = (1..=n).map(|i| format!("r{i}@example.net")).collect();
            let mut runs = Vec::new();
            for i in 0..settings.runs {
                match rt.block_on(run_once(peer, &rcpts, &body, &settings)) {
                    Ok(run) => {
                        eprintln!(
                            "  {} / {n} rcpt / run {}: {} messages in {:.3} s = {:.0}/s",
                            peer.name(),
                            i + 1,
                            run.sent,
                            run.elapsed.as_secs_f64(),
                            run.rate()
                        );
                        runs.push(run);
                    }
                    Err(e) => {
                        eprintln!("  {} / {n} rcpt / run {}: FAILED: {e}", peer.name(), i + 1);
                        failed = true;
                    }
                }
            }
            runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            if let Some(median) = runs.get(runs.len() / 2) {
                rows.push((peer, n, *median));
            }
        }
    }

    println!();
    println!(
        "| {:<50} | {:>10} | {:>8} | {:>7} | {:>10} |",
        "client", "recipients", "messages", "seconds", "messages/s"
    );
    println!(
        "|{:-<52}|{:->12}|{:->10}|{:->9}|{:->12}|",
        ":", ":", ":", ":", ":"
    );
    for (peer, n, run) in &rows {
        println!(
            "| {:<50} | {:>10} | {:>8} | {:>7.3} | {:>10.0} |",
            peer.name(),
            n,
            run.sent,
            run.elapsed.as_secs_f64(),
            run.rate()
        );
    }
    println!();
    for peer in Peer::ALL {
        if rows.iter().any(|(p, _, r)| *p == peer && r.extra_crlf) {
            println!(
                "note: {} adds an empty line at the end of a message that ends in CRLF",
                peer.name()
            );
        }
    }
    if failed {
        eprintln!("some runs failed; see above");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
