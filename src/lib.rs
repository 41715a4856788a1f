//! smtp-courier: an async SMTP client, correct to the RFCs, secure by default, and honest
//! about every recipient's fate.
//!
//! # Design
//!
//! A sans-IO protocol core under a thin tokio driver, as in rustls and quinn:
//!
//! ```text
//!   your code ──▶ Client<S> (client/, tls/)          thin tokio driver: moves bytes,
//!                   │  ▲                             enforces deadlines, TLS upgrade
//!        commands   │  │ events (Ready, SendBody,
//!                   ▼  │  Transaction(report), …)
//!                 Session (proto/)                   sans-IO core: no sockets, no clock
//!                   ├─ ReplyParser   bytes ─▶ Reply  (RFC 5321 §4.2, bounded, incremental)
//!                   ├─ Command       Command ─▶ bytes (validated, no CR/LF/NUL possible)
//!                   ├─ Capabilities  EHLO ─▶ typed extensions
//!                   ├─ DotStuffer    content ─▶ DATA framing (no bare CR/LF, ever)
//!                   └─ FIFO of expected replies (PIPELINING, several in flight)
//! ```
//!
//! [`proto`] builds without tokio (`--no-default-features`) and is what the fuzzers drive.
//! [`Client`] works over any `AsyncRead + AsyncWrite` stream: TCP, TLS, a proxy, a test
//! pipe.
//!
//! # Quickstart
//!
//! ```no_run
//! use smtp_courier::{Client, ClientConfig, Envelope, RecipientStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smtp_courier::Error> {
//! let config = ClientConfig::new("client.example.org")?;
//! let mut client = Client::connect("127.0.0.1:2525", config).await?;
//! let envelope = Envelope::new("me@example.org", ["you@example.net", "them@example.net"])?;
//! let report = client.send_bytes(&envelope, b"Subject: hello\r\n\r\nHi!\r\n").await?;
//! for r in &report.recipients {
//!     match r.status() {
//!         RecipientStatus::Delivered => println!("{}: delivered", r.address),
//!         RecipientStatus::Permanent => println!("{}: bounce ({:?})", r.address, r.reply()),
//!         RecipientStatus::Transient => println!("{}: retry later", r.address),
//!     }
//! }
//! client.quit().await?;
//! # Ok(())
//! # }
//! ```
//!
//! `cargo run --example quickstart` runs the same against an in-process test server.
//!
//! # Pipelining
//!
//! When the server offers PIPELINING (RFC 2920), MAIL, every RCPT and DATA leave in one
//! write, and the end of the data leaves with the last block of content, so a message costs
//! two round trips however many recipients it has:
//!
//! ```text
//!  client                                   server
//!    │── MAIL FROM / RCPT TO ×n / DATA ───────▶│
//!    │◀──────────── 250 / 250 ×n / 354 ────────│   replies matched in order (FIFO)
//!    │── content … CRLF.CRLF (one write) ─────▶│
//!    │◀──────────────────────────── 250 ───────│
//! ```
//!
//! The client reads while it writes, so a server that answers as it reads can never
//! deadlock it, and TCP_NODELAY is set so the last small write does not wait for a delayed
//! ACK.
//!
//! # TLS
//!
//! With the `tls` feature (default), [`tls::TlsConfig`] chooses a [`tls::TlsMode`], and
//! separately whether PKIX verification is enforced and whether verification errors are
//! ignored; verification always runs and is reported in [`tls::TlsReport`].
//!
//! | Postfix level | `TlsMode` | verification | plaintext fallback |
//! |---|---|---|---|
//! | `none` | `Skip` | - | - |
//! | `may` | `Opportunistic` | not enforced (reported) | yes, unless credentials or REQUIRETLS |
//! | `encrypt` | `RequiredStartTls` | not enforced (reported) | never |
//! | `verify`, `secure` | `RequiredStartTls` | PKIX enforced | never |
//! | (RFC 8314) | `Implicit` | as configured | never |
//!
//! STARTTLS is done safely: bytes after the `220` are a protocol error (response
//! injection), every capability is forgotten and EHLO is sent again (RFC 3207 §4.2).
//!
//! # Errors and recipient outcomes
//!
//! [`Client::send`] returns a [`TransactionReport`] with one [`RecipientResult`] per
//! recipient: delivered (with the server's reply), or refused with an [`Error`] that says
//! whether it is permanent (bounce) or transient (retry). One refused recipient never sinks
//! the others; when all are refused no data is sent. `Ok(report)` does not mean delivered:
//! check [`TransactionReport::all_delivered`] or [`TransactionReport::is_failed`].
//!
//! - 5yz is permanent, 4yz transient; a 552 to RCPT is transient (RFC 5321 §4.5.3.1.10).
//! - Timeouts, dropped connections and protocol errors are transient, except that a 5yz
//!   already read stays permanent when the server then hangs up (the pipelined "550 to
//!   MAIL, then close").
//! - A connection lost after the final `.` but before the reply is an unknown outcome:
//!   transient, never success.
//! - A 421 to any command, or unsolicited, ends the session (RFC 5321 §3.8): every
//!   recipient not yet decided is transient with the 421, nothing but an optional QUIT
//!   is sent afterwards, and every later call fails with [`Error::ServerClosing`].
//! - A greeting that refuses the session (4yz or 5yz) is answered with QUIT (RFC 5321
//!   §3.1) before [`Error::Greeting`] is returned.
//! - [`Error`] separates the server saying no ([`Error::Reply`]), the peer breaking the
//!   protocol ([`Error::Protocol`]), TLS, timeouts, I/O and caller mistakes
//!   ([`Error::Usage`]), and answers [`Error::is_permanent`], [`Error::reply`],
//!   [`Error::enhanced_code`], [`Error::command`] and [`Error::connection_usable`].
//!
//! # Limits and timeouts
//!
//! Every read is bounded ([`proto::reply::MAX_REPLY_LINE`],
//! [`proto::reply::MAX_REPLY_LINES`], [`proto::reply::MAX_REPLY_SIZE`]) and every wait has
//! a deadline for the whole reply ([`proto::Timeouts`], RFC 5321 §4.5.3.2 defaults), so a
//! server dripping one byte a second still times out.
//!
//! # Cancel safety
//!
//! No [`Client`] method is cancel safe: dropping a future mid-command (mid-DATA above all)
//! leaves the session unusable, and every later call returns the same error. Wrap whole
//! operations in your own timeout only if you will discard the client afterwards.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | yes | [`Client`], the async driver |
//! | `tls` | yes | STARTTLS and implicit TLS with rustls (ring provider) |
//! | `aws-lc-rs` | no | rustls with aws-lc-rs instead of ring |
//! | `tracing` | no | the transcript at debug level, credentials redacted |
//!
//! Without default features only the sans-IO core ([`proto`]) builds.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod error;
pub mod manual;
pub mod proto;

// Property checks for the fuzz targets in fuzz/ and tests/fuzz_corpus.rs; not API.
#[doc(hidden)]
pub mod fuzzing;

pub use error::{Error, ProtocolError, Severity, TlsError, UsageError};
pub use proto::{Envelope, RecipientResult, RecipientStatus, TransactionReport};

#[cfg(feature = "tokio")]
pub mod client;
#[cfg(feature = "tokio")]
pub use client::{Client, ClientConfig, connect_tcp};
#[cfg(feature = "tls")]
pub mod tls;
