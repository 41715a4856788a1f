//! The clients measured, each behind the same three calls: connect (greeting, EHLO and, with
//! TLS, STARTTLS and EHLO again), send n messages, quit.
//!
//! | kind | API |
//! |---|---|
//! | smtp-courier | `Client::connect` (TCP_NODELAY; `TlsMode::Skip` or `RequiredStartTls`), `Client::send_bytes` |
//! | smtp-courier DATA | the same with `ClientConfig::chunking(false)`: pipelined MAIL/RCPT/DATA, the content after the 354 |
//! | smtp-courier batch | [`courier_batch`]: `Client::send_batch`, window 8 (`ClientConfig::window`) |
//! | lettre | `AsyncSmtpConnection::connect_with_transport` on a TCP_NODELAY stream, `starttls`, `send` |
//! | mail-send | `SmtpClientBuilder::new_with_tls_connector(..).connect_plain()` / `.connect()` (STARTTLS), TCP_NODELAY set after, `SmtpClient::send` |
//! | floor, floor w8 | [`crate::floor`] |

use std::time::Instant;

use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use smtp_courier::tls::{MaybeTls, TlsConfig, TlsMode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::floor::{self, Floor};
use crate::msg;

/// The longest connect or single message may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The window of the batch and windowed floor rows.
pub(crate) const WINDOW: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Courier,
    CourierData,
    CourierBatch,
    Lettre,
    MailSend,
    Floor,
    FloorWindow,
}

impl Kind {
    pub(crate) const ALL: [Self; 7] = [
        Self::Courier,
        Self::CourierData,
        Self::CourierBatch,
        Self::Lettre,
        Self::MailSend,
        Self::Floor,
        Self::FloorWindow,
    ];

    /// The name used on the command line, in filters and in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Courier => "courier",
            Self::CourierData => "courier-data",
            Self::CourierBatch => "courier-batch-w8",
            Self::Lettre => "lettre",
            Self::MailSend => "mail-send",
            Self::Floor => "floor",
            Self::FloorWindow => "floor-w8",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// False for a row that cannot be measured yet (printed as "n/a (not yet)").
    pub(crate) fn available(self) -> bool {
        self != Self::CourierBatch || COURIER_BATCH
    }

    /// Whether the kind can hold idle connections for the memory test (the DATA and
    /// batch rows use the same `Client` as the single-message one).
    pub(crate) fn idles(self) -> bool {
        !matches!(
            self,
            Self::CourierData | Self::CourierBatch | Self::FloorWindow
        )
    }
}

/// True: [`courier_batch`] calls the crate's batch path.
pub(crate) const COURIER_BATCH: bool = true;

/// smtp-courier's batch/window path: send `n` copies of `body` to `envelope` with up to
/// `window` transactions in flight, starting none after `deadline`, and return how many
/// were accepted for every recipient.
///
/// `Client::send_batch` takes the window from the client's configuration
/// ([`WINDOW`] at connect) and a list of messages; the messages go in batches of
/// `16 * window`, so the deadline is checked between batches while the window stays full
/// within each.
async fn courier_batch(
    client: &mut smtp_courier::Client<MaybeTls<TcpStream>>,
    envelope: &smtp_courier::Envelope,
    body: &[u8],
    n: usize,
    window: usize,
    deadline: Instant,
) -> Result<usize, String> {
    let per_batch = window.max(1) * 16;
    let mut sent = 0;
    while sent < n && Instant::now() < deadline {
        let k = per_batch.min(n - sent);
        let reports = client
            .send_batch(std::iter::repeat_n((envelope, body), k))
            .await;
        for report in &reports {
            if !report.all_delivered() {
                return Err(format!("not delivered: {report:?}"));
            }
        }
        sent += reports.len();
    }
    Ok(sent)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What the TLS rows need: each client's TLS settings, trusting the sink's certificate
/// and nothing else, built once per process and shared by its connections, as an
/// application would.
pub(crate) struct Trust {
    courier: TlsConfig,
    lettre: TlsParameters,
    /// mail-send's and the floor's.
    rustls: tokio_rustls::TlsConnector,
}

impl Trust {
    pub(crate) fn new(pem: &[u8]) -> Result<Self, String> {
        let courier = TlsConfig::new(TlsMode::RequiredStartTls)
            .platform_roots(false)
            .add_roots_pem(pem)
            .map_err(err)?;
        let lettre = TlsParameters::builder(msg::HOST.to_owned())
            .certificate_store(CertificateStore::None)
            .add_root_certificate(Certificate::from_pem(pem).map_err(err)?)
            .build_rustls()
            .map_err(err)?;
        let rustls = floor::tls_connector(pem)?;
        Ok(Self {
            courier,
            lettre,
            rustls,
        })
    }
}

// One value per connection; the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Session {
    Courier {
        client: smtp_courier::Client<MaybeTls<TcpStream>>,
        envelope: smtp_courier::Envelope,
        batch: bool,
    },
    Lettre {
        conn: AsyncSmtpConnection,
        envelope: lettre::address::Envelope,
    },
    MailSend(mail_send::SmtpClient<TcpStream>),
    MailSendTls(mail_send::SmtpClient<tokio_rustls::client::TlsStream<TcpStream>>),
    Floor(Floor),
}

impl Session {
    pub(crate) async fn connect(
        kind: Kind,
        port: u16,
        tls: Option<&Trust>,
        rcpts: &[String],
        body: &[u8],
    ) -> Result<Self, String> {
        let connect = async {
            Ok(match kind {
                Kind::Courier | Kind::CourierData | Kind::CourierBatch => {
                    let tls_config = tls.map_or(TlsConfig::new(TlsMode::Skip), |t| t.courier.clone());
                    let config = smtp_courier::ClientConfig::new(msg::HELO)
                        .map_err(err)?
                        .window(WINDOW)
                        // `courier-data`: DATA although the sink offers CHUNKING.
                        .chunking(kind != Kind::CourierData)
                        .tls(tls_config);
                    let client = smtp_courier::Client::connect((msg::HOST, port), config)
                        .await
                        .map_err(err)?;
                    let envelope = smtp_courier::Envelope::new(msg::FROM, rcpts).map_err(err)?;
                    Self::Courier {
                        client,
                        envelope,
                        batch: kind == Kind::CourierBatch,
                    }
                }
                Kind::Lettre => {
                    let hello = ClientId::Domain(msg::HELO.to_owned());
                    // lettre leaves Nagle's algorithm on, which costs ~40 ms per message
                    // on loopback (see README.md): connect the stream ourselves.
                    let tcp = TcpStream::connect((msg::HOST, port)).await.map_err(err)?;
                    tcp.set_nodelay(true).map_err(err)?;
                    let mut conn =
                        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
                            .await
                            .map_err(err)?;
                    if let Some(t) = tls {
                        conn.starttls(t.lettre.clone(), &hello).await.map_err(err)?;
                    }
                    let from = msg::FROM.parse().map_err(err)?;
                    let to = rcpts
                        .iter()
                        .map(|r| r.parse().map_err(err))
                        .collect::<Result<Vec<_>, _>>()?;
                    let envelope = lettre::address::Envelope::new(Some(from), to).map_err(err)?;
                    Self::Lettre { conn, envelope }
                }
                Kind::MailSend => {
                    // Built from our own connector: `new` would build one with the
                    // platform verifier, which cannot trust the sink's certificate.
                    let connector = match tls {
                        Some(t) => t.rustls.clone(),
                        None => floor::tls_connector(&[])?,
                    };
                    let builder = mail_send::SmtpClientBuilder::new_with_tls_connector(
                        msg::HOST,
                        port,
                        connector,
                    )
                    .implicit_tls(false)
                    .helo_host(msg::HELO)
                    .timeout(TIMEOUT);
                    // mail-send leaves Nagle's algorithm on too; set NODELAY once connected.
                    if tls.is_some() {
                        let client = builder.connect().await.map_err(err)?;
                        client.stream.get_ref().0.set_nodelay(true).map_err(err)?;
                        Self::MailSendTls(client)
                    } else {
                        let client = builder.connect_plain().await.map_err(err)?;
                        client.stream.set_nodelay(true).map_err(err)?;
                        Self::MailSend(client)
                    }
                }
                Kind::Floor | Kind::FloorWindow => {
                    let window = if kind == Kind::FloorWindow { WINDOW } else { 1 };
                    Self::Floor(
                        Floor::connect(port, tls.map(|t| &t.rustls), rcpts, body, window).await?,
                    )
                }
            })
        };
        tokio::time::timeout(TIMEOUT, connect)
            .await
            .map_err(|_| "connect timed out".to_owned())?
    }

    /// Sends up to `n` messages, starting none after `deadline`, and returns how many
    /// were accepted for every recipient. Any refusal is an error.
    pub(crate) async fn send(
        &mut self,
        rcpts: &[String],
        body: &[u8],
        n: usize,
        deadline: Instant,
    ) -> Result<usize, String> {
        let mut sent = 0;
        match self {
            Self::Courier {
                client,
                envelope,
                batch: true,
            } => return courier_batch(client, envelope, body, n, WINDOW, deadline).await,
            Self::Floor(f) => return f.send(n, deadline).await,
            Self::Courier {
                client, envelope, ..
            } => {
                while sent < n && Instant::now() < deadline {
                    let report = client.send_bytes(envelope, body).await.map_err(err)?;
                    if !report.all_delivered() {
                        return Err(format!("not delivered: {report:?}"));
                    }
                    sent += 1;
                }
            }
            Self::Lettre { conn, envelope } => {
                while sent < n && Instant::now() < deadline {
                    let reply = conn.send(envelope, body).await.map_err(err)?;
                    if !reply.is_positive() {
                        return Err(format!("refused: {reply:?}"));
                    }
                    sent += 1;
                }
            }
            Self::MailSend(c) => sent = mail_send_loop(c, rcpts, body, n, deadline).await?,
            Self::MailSendTls(c) => sent = mail_send_loop(c, rcpts, body, n, deadline).await?,
        }
        Ok(sent)
    }

    pub(crate) async fn quit(self) -> Result<(), String> {
        match self {
            Self::Courier { client, .. } => client.quit().await.map_err(err),
            Self::Lettre { mut conn, .. } => conn.quit().await.map(drop).map_err(err),
            Self::MailSend(c) => c.quit().await.map_err(err),
            Self::MailSendTls(c) => c.quit().await.map_err(err),
            Self::Floor(f) => f.quit().await,
        }
    }
}

async fn mail_send_loop<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut mail_send::SmtpClient<S>,
    rcpts: &[String],
    body: &[u8],
    n: usize,
    deadline: Instant,
) -> Result<usize, String> {
    let mut sent = 0;
    while sent < n && Instant::now() < deadline {
        // `send` turns anything but a 2yz into an error.
        let message = mail_send::smtp::message::Message::new(
            msg::FROM,
            rcpts.iter().map(String::as_str),
            body,
        );
        client.send(message).await.map_err(err)?;
        sent += 1;
    }
    Ok(sent)
}
