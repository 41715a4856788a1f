//! smtp-courier: an async SMTP client, correct to the RFCs, secure by default, and honest
//! about every recipient's fate.
//!
//! # Design
//!
//! A sans-IO protocol core under a thin tokio driver, as in rustls and quinn:
//!
//! ```text
//!   your code ──▶ Client<S> (client/, tls/)          thin tokio driver: dials (connect/),
//!                   │  ▲                             moves bytes, deadlines, TLS setup
//!  commands, content│  │ events (Ready, SendBody(id),
//!                   ▼  │  Transaction(id, report), …)
//!                 Session (proto/)                   sans-IO core: no sockets, no clock
//!                   ├─ ReplyParser   bytes ─▶ Reply  (RFC 5321 §4.2, bounded, incremental)
//!                   ├─ Command       Command ─▶ bytes (validated, no CR/LF/NUL possible)
//!                   ├─ Capabilities  EHLO ─▶ typed extensions
//!                   ├─ DotStuffer / BdatChunker  content ─▶ DATA or BDAT framing
//!                   ├─ queue of transactions in flight (TxId, oldest first)
//!                   └─ FIFO of expected replies, each naming its transaction
//! ```
//!
//! **One door for bytes.** Commands, BDAT chunk headers and message content all leave
//! through [`proto::Session::poll_transmit`]: the driver hands content to
//! [`proto::Session::send_body`] and the session frames it (dot-stuffing after DATA's
//! `354`, or BDAT chunks) into the same queue as the commands. The bytes of a
//! transaction therefore leave in order, and the framing is tested byte for byte without a
//! socket.
//!
//! **Transactions in flight.** [`proto::Session::mail`] queues a transaction and returns
//! its [`TxId`]; every expected reply names its transaction, and events carry the id. Whether
//! RSET goes before MAIL is decided when the MAIL is queued, from what is known then. The
//! driver has one loop (`Client::wait_for`) that moves bytes until the event it waits for
//! arrives, keeping events for other operations (a later transaction's report while an
//! earlier one is awaited) instead of dropping them.
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
//! // Secure by default: STARTTLS required, the certificate verified against the
//! // platform's roots, and nothing sent in the clear otherwise.
//! let config = ClientConfig::new("client.example.org")?;
//! let mut client = Client::connect("smtp.example.org:587", config).await?;
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
//! `cargo run --example quickstart` runs the same against an in-process test server (in
//! plaintext, [`tls::TlsMode::Skip`], since that server is local and speaks no TLS).
//! [`Client::connect_with`] dials through any [`connect::Connector`] (a SOCKS5 proxy, say),
//! and [`Client::open`] runs over a stream you already have, without TLS.
//!
//! # Submission
//!
//! A mail program hands its mail to its provider's submission server (RFC 6409) over TLS,
//! with a password: port 587 with STARTTLS, or port 465 with TLS from the first byte
//! (RFC 8314, which prefers 465). [`Client::connect`] dials, reads the greeting, says EHLO
//! and sets TLS up as the [`tls::TlsConfig`] in the [`ClientConfig`] says; [`Client::authenticate`] then logs in with
//! [`auth::Credentials`] as [`auth::AuthOptions`] allow.
//!
//! Port 587, STARTTLS required and the certificate verified, then AUTH with the strongest
//! mechanism both sides know:
//!
//! ```no_run
//! use smtp_courier::auth::{AuthOptions, Credentials};
//! use smtp_courier::tls::{TlsConfig, TlsMode};
//! use smtp_courier::{Client, ClientConfig, Envelope, Error, RecipientStatus};
//!
//! async fn submit(password: String) -> Result<(), Error> {
//!     // PKIX verification against the platform's roots is the default; `confidential`
//!     // rules out any plaintext fallback, since credentials will follow.
//!     let tls = TlsConfig::new(TlsMode::RequiredStartTls).confidential(true);
//!     let config = ClientConfig::new("laptop.example.org")?.tls(tls);
//!     // Greeting, EHLO, STARTTLS, the handshake, EHLO again (RFC 3207 §4.2). A server
//!     // without STARTTLS, or a certificate that fails verification, is an `Error::Tls`
//!     // and nothing is sent in the clear.
//!     let mut client = Client::connect(("smtp.example.org", 587), config).await?;
//!
//!     let credentials = Credentials::new("me@example.org", password);
//!     match client.authenticate(&credentials, &AuthOptions::new()).await {
//!         Ok(mechanism) => println!("logged in with {}", mechanism.name()),
//!         // 535 and friends, or no mechanism in common: asking again will not help.
//!         Err(e) if e.is_permanent() => {
//!             eprintln!("login refused: {e}");
//!             return Err(e);
//!         }
//!         // 454, a lost connection, a timeout: try again later.
//!         Err(e) => {
//!             eprintln!("login failed for now: {e}");
//!             return Err(e);
//!         }
//!     }
//!
//!     let envelope = Envelope::new("me@example.org", ["you@example.net", "them@example.org"])?;
//!     let message = b"From: <me@example.org>\r\nTo: <you@example.net>, <them@example.org>\r\n\
//!                     Subject: hello\r\n\r\nHi!\r\n";
//!     // `Err` only when no transaction could start; from then on, every recipient has
//!     // its own result.
//!     let report = client.send_bytes(&envelope, message).await?;
//!     for r in &report.recipients {
//!         match &r.result {
//!             Ok(reply) => println!("{}: accepted, {reply}", r.address),
//!             Err(e) if r.status() == RecipientStatus::Permanent => {
//!                 println!("{}: refused, bounce: {e}", r.address)
//!             }
//!             Err(e) => println!("{}: not accepted yet, retry later: {e}", r.address),
//!         }
//!     }
//!     // Every outcome is decided already: a failed QUIT changes none of them.
//!     let _ = client.quit().await;
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! #     let _ = submit(std::env::var("SMTP_PASSWORD").unwrap_or_default()).await;
//! # }
//! ```
//!
//! Port 465, implicit TLS: the handshake comes before the greeting, so there is no
//! STARTTLS to refuse or strip. The rest is the same; here the mechanisms are chosen, and
//! the TLS report says what was negotiated:
//!
//! ```no_run
//! use smtp_courier::auth::{AuthOptions, Credentials, Mechanism};
//! use smtp_courier::tls::{TlsConfig, TlsMode};
//! use smtp_courier::{Client, ClientConfig, Envelope, Error};
//!
//! async fn submit_465(password: String) -> Result<(), Error> {
//!     let tls = TlsConfig::new(TlsMode::Implicit).confidential(true);
//!     let config = ClientConfig::new("laptop.example.org")?.tls(tls);
//!     let mut client = Client::connect("smtp.example.org:465", config).await?;
//!     if let Some(report) = client.tls_report() {
//!         println!("{:?} {:?}, verified: {}", report.version, report.cipher, report.verified);
//!     }
//!     // SCRAM if the server has it, else PLAIN (safe here: the TLS is verified).
//!     let options = AuthOptions::new().mechanisms([Mechanism::ScramSha256, Mechanism::Plain]);
//!     client
//!         .authenticate(&Credentials::new("me@example.org", password), &options)
//!         .await?;
//!
//!     let envelope = Envelope::new("me@example.org", ["you@example.net"])?;
//!     let report = client
//!         .send_bytes(&envelope, b"Subject: hello\r\n\r\nHi!\r\n")
//!         .await?;
//!     if let Some(e) = &report.error {
//!         // The transaction failed as a whole (MAIL refused, no recipient accepted, ...).
//!         let when = if e.is_permanent() { "for good" } else { "for now" };
//!         eprintln!("not sent ({when}): {e}");
//!     }
//!     for r in report.delivered() {
//!         println!("{r}: accepted");
//!     }
//!     let _ = client.quit().await;
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! #     let _ = submit_465(std::env::var("SMTP_PASSWORD").unwrap_or_default()).await;
//! # }
//! ```
//!
//! `examples/submit.rs` does the same from the command line, with a MIME message built by
//! the `mail-builder` crate.
//!
//! # Delivering mail
//!
//! [`delivery`] (feature `mx`) sends a message to every recipient, not to one
//! server: [`delivery::MxDelivery`] groups the recipients by domain, looks up each
//! domain's mail exchangers (RFC 5321 §5.1, null MX per RFC 7505) and walks them until
//! one host decides, with one result per recipient saying which host and address carried
//! it, the attempts before it and the TLS of that connection; [`delivery::Relay`] hands
//! everything to a smarthost on 587 (STARTTLS) or 465 (implicit TLS) with AUTH. Both read
//! one [`delivery::DeliveryPolicy`] (a Postfix level, `may` by default for MX delivery,
//! and a hook for a per-domain minimum [`delivery::SecurityLevel`]) and open their
//! connections through a [`connect::Connector`], such as a SOCKS5 proxy. Both keep their
//! connections in a [`delivery::pool`]: successive messages to one host share a
//! connection (AUTH once per new connection, no NOOP before reuse, MAILMAX and a
//! per-connection limit honoured), and batches ride one connection's window. See
//! the [`delivery`] module docs, with a runnable
//! example for each: MX, relay, connection reuse, proxy.
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
//! With CHUNKING (RFC 3030) the content goes by BDAT instead. No content goes out before
//! the server has accepted a MAIL since the last EHLO and AUTH: the first message on a
//! connection sends MAIL and every RCPT, and its chunk once MAIL's `250` and a
//! recipient's `2yz` were read (two round trips; when MAIL or every RCPT is refused, no
//! chunk at all). A server refusing MAIL for want of TLS or AUTH may not read a refused
//! chunk and take the content for commands, as Postfix 3.7 does with its `530` before
//! STARTTLS (see [`manual`]). After that MAIL, every RCPT and the first chunk leave in
//! one write, and, since RFC 2920 §3.1 lets MAIL follow BDAT in the same group,
//! [`Client::send_batch`] keeps a window of transactions in flight, one round trip per
//! message:
//!
//! ```text
//!  client                                            server
//!    │── MAIL 1 / RCPT 1 ────────────────────────────▶│   the first message waits:
//!    │◀──────────────────────────────── 250 / 250 ────│   round trip 1
//!    │── BDAT n LAST + content 1 ────────────────────▶│   one write for the
//!    │── MAIL 2 / RCPT 2 / BDAT n LAST + content 2 ──▶│   rest of the window
//!    │── MAIL 3 / RCPT 3 / BDAT n LAST + content 3 ──▶│
//!    │◀────────────────────────── 250 (message 1) ────│   replies in command order,
//!    │◀──────────── 550 / 503 / 503 (message 2) ──────│   each decides only its own
//!    │◀──────────── 250 / 250 / 250 (message 3) ──────│   transaction
//!    │── MAIL 4 … (the window refills) ──────────────▶│
//! ```
//!
//! A chunk's `4yz`/`5yz` stops that message's chunks (RFC 3030 §2); the reply to
//! `BDAT … LAST` is its final reply. A message whose MAIL got `503` only because an
//! earlier one in the window left the server mid-transaction is sent again after RSET.
//! Without PIPELINING, every command and every chunk waits for the reply before it.
//!
//! The client reads while it writes, so a server that answers as it reads can never
//! deadlock it, and TCP_NODELAY is set so the last small write does not wait for a delayed
//! ACK. A reply pairs only with a command whose bytes were completely written: one that
//! arrives earlier (a `250` to the end of data while the data is still going out) was sent
//! before the server could have read the command, and is a protocol error that ends the
//! transaction with nobody reported delivered.
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
//! A new [`ClientConfig`] says `RequiredStartTls` with PKIX enforced: the safe setting for
//! a submission server or relay, which [`Client::connect`] uses unless told otherwise
//! ([`ClientConfig::tls`]). A plaintext fallback after a failed handshake (opportunistic
//! mode with [`tls::TlsConfig::fallback`]) dials the same [`connect::Target`] through the
//! same [`connect::Connector`] again, so through a proxy it goes through the proxy.
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
//! No async [`Client`] method is cancel safe, but cancelling one is safe: dropping its
//! future (under `tokio::time::timeout` or `select!`, say) leaves the client unusable,
//! never wrong. The stream may hold half a command or half a message and replies may be
//! on their way, so nothing more is sent on it and no reply is ever taken for a later
//! command's: [`Client::is_usable`] is false from the moment the future is dropped, and
//! every later call returns [`Error::Cancelled`] (transient: retry on a new connection).
//! The first such call also drops whatever was buffered for writing and shuts the stream
//! down, so a server in the middle of the message data discards the partial message.
//! Every async method goes through one guard, so this holds for all of them alike.
//!
//! The client's own deadlines ([`proto::Timeouts`]) end an operation cleanly instead: the
//! error, or the transaction report, says what the server got. Prefer them to wrapping a
//! call in a timeout of your own.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tokio` | yes | [`Client`], the async driver; [`connect`]: TCP and SOCKS5 connectors |
//! | `tls` | yes | STARTTLS and implicit TLS with rustls (ring provider) |
//! | `mx` | yes | [`delivery`]: MX routing (RFC 5321 §5.1, RFC 7505) over hickory-resolver, MX delivery, relaying, the connection pool; implies `tls` |
//! | `aws-lc-rs` | no | rustls with aws-lc-rs instead of ring |
//! | `tracing` | no | the transcript at debug level, credentials redacted |
//!
//! Without default features only the sans-IO core ([`proto`]) builds.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod manual;
pub mod proto;

// Property checks and receiver-side decoders for the fuzz targets in fuzz/,
// tests/fuzz_corpus.rs and tests/properties.rs; not API. Compiled only under cargo-fuzz
// (`--cfg fuzzing`), in the crate's own unit tests, or with the hidden `__fuzzing` feature
// (which the crate's dev-dependency on itself turns on for `cargo test`), never in a
// normal build.
#[cfg(any(fuzzing, test, feature = "__fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

// The error type is built by the core (`proto`), so it lives there; these are its
// long-standing public paths (`smtp_courier::Error`, `smtp_courier::error::Error`).
pub use proto::error;
pub use proto::error::{Error, ProtocolError, Severity, TlsError, UsageError};
pub use proto::{Envelope, RecipientResult, RecipientStatus, TransactionReport, TxId};

#[cfg(feature = "tokio")]
pub mod client;
#[cfg(feature = "tokio")]
pub use client::{Client, ClientConfig, connect_tcp};
#[cfg(feature = "tokio")]
pub mod connect;
#[cfg(feature = "mx")]
pub mod delivery;
#[cfg(feature = "tls")]
pub mod tls;
