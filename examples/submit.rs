//! Submits one message the way a mail program does (RFC 6409): to the provider's submission
//! server, over TLS, with a password. STARTTLS on port 587 by default, or TLS from the first
//! byte on port 465 with `--implicit` (RFC 8314); the certificate is verified and nothing,
//! credentials least of all, is ever sent in plaintext. Then AUTH with the strongest
//! mechanism both sides know, and a MIME message (`text/plain`, UTF-8, with `Date`,
//! `Message-ID` and an RFC 2047 subject where needed) built with the `mail-builder` crate.
//! It prints each recipient's outcome.
//!
//! ```text
//! SMTP_PASSWORD=... cargo run --example submit -- --server smtp.example.org \
//!     --user me@example.org --from me@example.org --to you@example.net \
//!     --subject "Hello" --text "Hi there!"
//! ```
//!
//! Exit status as `send`'s: 0 every recipient accepted, 75 only transient failures (try
//! again later), 69 a permanent failure, 64 a usage error.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use clap::error::ErrorKind;
use mail_builder::MessageBuilder;
use smtp_courier::auth::{AuthOptions, Credentials};
use smtp_courier::proto::escape_text;
use smtp_courier::tls::{TlsConfig, TlsMode};
use smtp_courier::{Client, ClientConfig, Envelope, Error, RecipientStatus};

/// sysexits.h EX_USAGE.
const EXIT_USAGE: u8 = 64;
/// sysexits.h EX_UNAVAILABLE: a permanent failure.
const EXIT_PERMANENT: u8 = 69;
/// sysexits.h EX_TEMPFAIL: only transient failures.
const EXIT_TRANSIENT: u8 = 75;

#[derive(Debug, Parser)]
#[command(
    name = "submit",
    about = "Submit a message over TLS with AUTH: STARTTLS on 587, or implicit TLS on 465",
    after_help = "The password comes from --password or the SMTP_PASSWORD environment variable.\n\
                  Exit status: 0 all accepted, 75 only transient failures, 69 a permanent failure, 64 usage error."
)]
struct Args {
    /// Submission server, HOST[:PORT] (IPv6 as [::1]:587); port 587, or 465 with --implicit.
    #[arg(long, value_name = "HOST[:PORT]")]
    server: String,
    /// Implicit TLS (RFC 8314, port 465) instead of STARTTLS (port 587).
    #[arg(long)]
    implicit: bool,
    /// User name for AUTH.
    #[arg(long, value_name = "USER")]
    user: String,
    /// Password for AUTH [default: the SMTP_PASSWORD environment variable].
    #[arg(long, value_name = "PASS")]
    password: Option<String>,
    /// Sender: the envelope's and the From header's address.
    #[arg(long, value_name = "ADDR")]
    from: String,
    /// Recipient, in the envelope and the To header; repeatable.
    #[arg(long, value_name = "ADDR", required = true)]
    to: Vec<String>,
    /// The Subject header.
    #[arg(long, default_value = "")]
    subject: String,
    /// The message's text (UTF-8).
    #[arg(long, default_value = "")]
    text: String,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    let plan = match Plan::new(args) {
        Ok(plan) => plan,
        Err(msg) => {
            eprintln!("submit: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("submit: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_TRANSIENT);
        }
    };
    ExitCode::from(runtime.block_on(plan.submit()))
}

/// Everything checked before connecting.
struct Plan {
    host: String,
    port: u16,
    tls: TlsConfig,
    credentials: Credentials,
    envelope: Envelope,
    message: Vec<u8>,
}

impl Plan {
    fn new(args: Args) -> Result<Self, String> {
        let mode = if args.implicit {
            TlsMode::Implicit
        } else {
            TlsMode::RequiredStartTls
        };
        let (host, port) = parse_server(&args.server, if args.implicit { 465 } else { 587 })
            .map_err(|e| format!("--server {:?}: {e}", args.server))?;
        // PKIX verification is the default; `confidential`: credentials follow, so no
        // fallback to plaintext, ever.
        let tls = TlsConfig::new(mode).confidential(true);

        let password = match args.password {
            Some(p) => p,
            None => std::env::var("SMTP_PASSWORD")
                .map_err(|_| "no password: give --password or set SMTP_PASSWORD".to_owned())?,
        };
        let credentials = Credentials::new(args.user, password);

        if args.from.is_empty() {
            return Err("--from: a submission needs a sender address".to_owned());
        }
        // The library validates the addresses (no CR/LF/NUL, RFC 5321 syntax) before they
        // go into the headers too.
        let envelope =
            Envelope::new(&args.from, &args.to).map_err(|e| format!("--from/--to: {e}"))?;
        if args.subject.chars().any(char::is_control) {
            return Err("--subject: control characters are not allowed".to_owned());
        }
        let message = MessageBuilder::new()
            .message_id(message_id(&args.from))
            .from(args.from.as_str())
            .to(args.to.iter().map(String::as_str).collect::<Vec<_>>())
            .subject(args.subject.as_str())
            .text_body(args.text.as_str())
            .write_to_vec()
            .map_err(|e| format!("cannot build the message: {e}"))?;
        Ok(Self {
            host,
            port,
            tls,
            credentials,
            envelope,
            message,
        })
    }

    /// Connects, sets TLS up, logs in, sends, QUITs; returns the exit status.
    async fn submit(&self) -> u8 {
        let config = ClientConfig::default().tls(self.tls.clone());
        // Greeting and EHLO, then STARTTLS, the handshake and EHLO again (RFC 3207 §4.2),
        // or the handshake before the greeting with --implicit.
        let target = (self.host.as_str(), self.port);
        let mut client = match Client::connect(target, config).await {
            Ok(client) => client,
            Err(e) => return failed("cannot connect or set up TLS", &e),
        };
        if let Some(r) = client.tls_report() {
            println!(
                "tls: {} {}{}",
                r.version.as_deref().unwrap_or("?"),
                r.cipher.as_deref().unwrap_or("?"),
                if r.verified { ", verified" } else { "" }
            );
        }
        // The default options: the strongest mechanism offered (SCRAM before PLAIN), and
        // a password-revealing one only because the TLS is verified.
        match client
            .authenticate(&self.credentials, &AuthOptions::new())
            .await
        {
            Ok(mechanism) => println!("auth: {}", mechanism.name()),
            Err(e) => return failed("login failed", &e),
        }
        let report = match client.send_bytes(&self.envelope, &self.message).await {
            Ok(report) => report,
            Err(e) => return failed("cannot send", &e),
        };
        let (mut permanent, mut transient) = (false, false);
        for r in &report.recipients {
            let word = match r.status() {
                RecipientStatus::Delivered => "accepted",
                RecipientStatus::Transient => {
                    transient = true;
                    "deferred, try again later"
                }
                RecipientStatus::Permanent => {
                    permanent = true;
                    "refused"
                }
            };
            match &r.result {
                Ok(reply) => println!("{}: {word}: {}", r.address, shown(reply)),
                Err(e) => println!("{}: {word}: {}", r.address, shown(e)),
            }
        }
        if let Some(e) = &report.error {
            println!("message not sent: {}", shown(e));
        }
        // Every outcome is decided: a failed QUIT changes none of them.
        let _ = client.quit().await;
        match (permanent, transient) {
            (true, _) => EXIT_PERMANENT,
            (false, true) => EXIT_TRANSIENT,
            (false, false) => 0,
        }
    }
}

/// Prints why the session failed and returns the exit status for it.
fn failed(what: &str, e: &Error) -> u8 {
    eprintln!("submit: {what}: {}", shown(e));
    if e.is_permanent() {
        EXIT_PERMANENT
    } else {
        EXIT_TRANSIENT
    }
}

/// Text that may quote the server, escaped for the terminal (no control characters or
/// bidirectional overrides from the server reach it).
fn shown(x: impl Display) -> String {
    escape_text(x.to_string().as_bytes())
}

/// `<unix seconds>.<nanoseconds>.<pid>@<the sender's domain>`: unique enough for one
/// sender, and names the sender's domain rather than this machine's.
fn message_id(from: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    format!(
        "{}.{:09}.{}@{domain}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id()
    )
}

/// `HOST`, `HOST:PORT`, `[IPv6]` or `[IPv6]:PORT`.
fn parse_server(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']').ok_or("missing ']'")?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or("expected ':PORT' after ']'")?,
                    ),
                ),
            }
        }
        None => match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        },
    };
    if host.is_empty() || host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("bad host".to_owned());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok((host.to_owned(), port))
}
