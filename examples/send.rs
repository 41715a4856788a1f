//! smtp-courier's swaks: sends test mail to a server and reports what happened to every
//! recipient, as a short summary or (with `--json`) as the machine-readable result that
//! its contract, `examples/SEND.md`, fixes, with the exit statuses 0 (all delivered),
//! 75 (only transient failures), 69 (a permanent failure) and 64 (usage error).
//!
//! It shows the library from the outside: validating addresses before connecting, reading
//! the greeting and capabilities, per-recipient outcomes from a
//! [`TransactionReport`](smtp_courier::TransactionReport),
//! several transactions over pooled connections (`--repeat`, through
//! [`Client::send_batch`](smtp_courier::Client::send_batch) on each: up to `--window` of
//! them in flight, RSET after a failed one), lock-step commands (`--no-pipelining`) and the
//! transcript hook (`-v`).
//!
//! ```text
//! cargo run --example send -- --server 127.0.0.1:2525 --tls skip \
//!     --from me@example.org --to you@example.net --json
//! ```
//!
//! TLS follows the library's [`TlsConfig`](smtp_courier::tls::TlsConfig): `--tls` picks
//! the mode (default `starttls`), `--tls-verify`/`--tls-ignore-errors` the verification,
//! `--level` a Postfix-style preset, and the `tls` object of the JSON result is the
//! library's [`TlsReport`](smtp_courier::tls::TlsReport).
//!
//! `--auth-user`/`--auth-pass` (or `SMTP_PASSWORD`) authenticate after TLS with the
//! strongest mechanism offered, or the `--auth-mech` list; password-revealing mechanisms
//! need verified TLS unless `--allow-cleartext-auth`.
//!
//! `--8bitmime`, `--smtputf8` and `--requiretls` declare the extensions on MAIL; the
//! library refuses the message before sending (kind `extension`) when the server lacks
//! the extension, or, for REQUIRETLS, without verified TLS. A server offering CHUNKING
//! gets the message by BDAT (RFC 3030) in chunks of at most `--chunk-size` octets unless
//! `--no-chunking`; `--binarymime` sends it by BDAT byte for byte. `--lmtp` speaks LMTP
//! (RFC 2033, port 24 by default). `--dsn-notify`, `--dsn-ret`, `--dsn-envid` and
//! `--dsn-orcpt` set the DSN parameters (RFC 3461) through
//! [`Envelope::with_notify`](smtp_courier::Envelope::with_notify) and its siblings; their
//! values are checked before connecting, and the library refuses the message (kind
//! `extension`) when the server lacks DSN.
//!
//! Connections: `--socks5` goes through a
//! [`Socks5Connector`](smtp_courier::connect::Socks5Connector) (RFC 1928, RFC 1929 with
//! `--socks5-user`/`--socks5-pass`), the plaintext fallback's redial too.
//! `--repeat` goes through the library's connection pool,
//! [`Pool::send_batch`](smtp_courier::delivery::pool::Pool::send_batch): each connection
//! carries as many messages as `--max-per-connection` (the pool's transactions per
//! connection) and the server's LIMITS MAILMAX allow, in one
//! [`Client::send_batch`](smtp_courier::Client::send_batch) with up to `--window` in
//! flight, then QUIT and a new connection for the rest. The pool's dialer is `send`'s
//! own (`send/session.rs`): it records the greeting, capabilities, TLS and AUTH of the
//! first connection for the report, and how a dial failed (a DNS failure too), so that
//! the messages it could not carry report the failure as the contract says. A
//! connection lost part-way sends nothing twice: the message in flight keeps its
//! transient outcome, the ones never written go on a new connection.
//!
//! Without `--server` (MX mode, `send/mx.rs`) the message goes to each recipient
//! domain's MX hosts through [`MxDelivery`](smtp_courier::delivery::MxDelivery), one
//! transaction per domain with the host, address and attempts.
//!
//! Server text (replies, capabilities, TLS verification errors) is shown only escaped
//! ([`escape_text`](smtp_courier::proto::escape_text)), in `-v`, the summary and the JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::error::ErrorKind;
use clap::{Parser, ValueEnum};
use mail_builder::headers::date::Date;
use smtp_courier::auth::{AuthOptions, Credentials, Mechanism};
use smtp_courier::connect::Socks5Connector;
use smtp_courier::proto::{Domain, EnvId, EsmtpParam, Mailbox, Notify, Ret, ReversePath, Timeouts};
use smtp_courier::tls::{CertVerification, TlsConfig};
use smtp_courier::{ClientConfig, Envelope};

#[path = "support/json.rs"]
mod json;
#[path = "send/mx.rs"]
mod mx;
#[path = "send/report.rs"]
mod report;
#[path = "send/session.rs"]
mod session;

use json::Json;
use report::{ErrorInfo, print_summary};

/// Exit status when every recipient of every transaction was delivered.
const EXIT_DELIVERED: u8 = 0;
/// sysexits.h EX_USAGE: the command line was wrong; nothing was sent.
const EXIT_USAGE: u8 = 64;
/// sysexits.h EX_UNAVAILABLE: at least one failure was permanent.
const EXIT_PERMANENT: u8 = 69;
/// sysexits.h EX_TEMPFAIL: something failed, and every failure was transient.
const EXIT_TRANSIENT: u8 = 75;

#[derive(Debug, Parser)]
#[command(
    name = "send",
    about = "Send test mail through an SMTP server and report every recipient's outcome",
    after_help = "Exit status: 0 all delivered, 75 only transient failures, 69 a permanent failure, 64 usage error."
)]
struct Args {
    /// Server to connect to: HOST[:PORT], IPv6 as [::1]:2525; default port 25 (465 with
    /// --tls implicit, 24 with --lmtp). Without it: direct delivery to each recipient
    /// domain's MX hosts.
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "Connection")]
    server: Option<String>,
    /// Envelope sender; "" for the null reverse-path <>.
    #[arg(long, value_name = "ADDR", help_heading = "Connection")]
    from: String,
    /// Recipient; repeatable, at least one.
    #[arg(
        long,
        value_name = "ADDR",
        required = true,
        help_heading = "Connection"
    )]
    to: Vec<String>,
    /// Name sent in EHLO/HELO.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "localhost",
        help_heading = "Connection"
    )]
    helo: String,
    /// Deadline for every phase (connect, greeting, each reply, TLS handshake, data transfer).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, help_heading = "Connection")]
    timeout: Option<Duration>,
    /// Connect through a SOCKS5 proxy (RFC 1928), also in MX mode.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Connection")]
    socks5: Option<String>,
    /// User name for the SOCKS5 proxy (RFC 1929); needs --socks5-pass.
    #[arg(long, value_name = "USER", help_heading = "Connection")]
    socks5_user: Option<String>,
    /// Password for the SOCKS5 proxy (RFC 1929); needs --socks5-user.
    #[arg(long, value_name = "PASS", help_heading = "Connection")]
    socks5_pass: Option<String>,
    /// With --repeat: at most N transactions on one connection, then QUIT and a new
    /// connection for the rest (0 = unlimited).
    #[arg(long, value_name = "N", help_heading = "Connection")]
    max_per_connection: Option<u32>,

    /// MX mode: the DNS server to ask instead of the system's, IP[:PORT] (default port 53,
    /// IPv6 as [::1]:5353).
    #[arg(
        long,
        value_name = "IP[:PORT]",
        help_heading = "MX delivery (no --server)"
    )]
    resolver: Option<String>,
    /// MX mode: the port of every connection to an MX host (default 25); for tests.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..), help_heading = "MX delivery (no --server)")]
    mx_port: Option<u16>,

    /// TLS mode [default: starttls].
    #[arg(long, value_enum, value_name = "MODE", help_heading = "TLS")]
    tls: Option<TlsMode>,
    /// Certificate verification [default: pkix].
    #[arg(long, value_enum, value_name = "V", help_heading = "TLS")]
    tls_verify: Option<TlsVerify>,
    /// Finish the session despite a failed verification, and report it.
    #[arg(long, help_heading = "TLS")]
    tls_ignore_errors: bool,
    /// PEM file of extra trusted roots.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    tls_ca: Option<PathBuf>,
    /// Name to verify the certificate against and send as SNI [default: the --server host].
    #[arg(long, value_name = "NAME", help_heading = "TLS")]
    tls_name: Option<String>,
    /// Only with --tls opportunistic: continue without TLS after a refused STARTTLS or a
    /// failed handshake.
    #[arg(long, help_heading = "TLS")]
    tls_fallback: bool,
    /// Postfix-style preset: none, may, encrypt, verify, secure.
    #[arg(
        long,
        value_enum,
        value_name = "L",
        conflicts_with_all = ["tls", "tls_verify", "tls_fallback"],
        help_heading = "TLS"
    )]
    level: Option<Level>,

    /// User name for AUTH.
    #[arg(long, value_name = "USER", help_heading = "AUTH")]
    auth_user: Option<String>,
    /// Password for AUTH (or the SMTP_PASSWORD environment variable).
    #[arg(long, value_name = "PASS", help_heading = "AUTH")]
    auth_pass: Option<String>,
    /// Comma-separated mechanisms, in order of preference.
    #[arg(long, value_name = "LIST", help_heading = "AUTH")]
    auth_mech: Option<String>,
    /// Allow password-revealing mechanisms without verified TLS.
    #[arg(long, help_heading = "AUTH")]
    allow_cleartext_auth: bool,

    /// Raw RFC 5322 message, "-" for stdin [default: a generated test message].
    #[arg(long, value_name = "FILE", help_heading = "Message")]
    data: Option<String>,
    /// Declare BODY=8BITMIME.
    #[arg(long = "8bitmime", help_heading = "Message")]
    eight_bit_mime: bool,
    /// Declare SMTPUTF8 (automatic for a non-ASCII envelope).
    #[arg(long, help_heading = "Message")]
    smtputf8: bool,
    /// Declare REQUIRETLS.
    #[arg(long, help_heading = "Message")]
    requiretls: bool,
    /// Declare BODY=BINARYMIME and send the message by BDAT byte for byte, line endings
    /// untouched. Not with --8bitmime: both are BODY=.
    #[arg(long, conflicts_with = "eight_bit_mime", help_heading = "Message")]
    binarymime: bool,
    /// Send the message N times over the same connection.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Message")]
    repeat: u32,
    /// With --repeat: at most N transactions in flight at once, when the server offers
    /// PIPELINING and CHUNKING (1 = one after another).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Message")]
    window: u32,
    /// The largest BDAT chunk, in octets.
    #[arg(long, value_name = "BYTES", default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Message")]
    chunk_size: u64,
    /// Lock-step commands even where PIPELINING is offered.
    #[arg(long, help_heading = "Message")]
    no_pipelining: bool,
    /// DATA even where CHUNKING is offered.
    #[arg(long, help_heading = "Message")]
    no_chunking: bool,

    /// NOTIFY= on every RCPT: NEVER, or a comma list of SUCCESS, FAILURE, DELAY.
    #[arg(long, value_name = "LIST", help_heading = "DSN")]
    dsn_notify: Option<String>,
    /// RET= on MAIL: the whole message or only its headers in a failure DSN.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_name = "FULL|HDRS",
        help_heading = "DSN"
    )]
    dsn_ret: Option<DsnRet>,
    /// ENVID= on MAIL, xtext-encoded: printable ASCII, at most 100 characters encoded.
    #[arg(long, value_name = "ID", help_heading = "DSN")]
    dsn_envid: Option<String>,
    /// ORCPT=rfc822;ADDR on every RCPT, ADDR (the recipient) xtext-encoded.
    #[arg(long, help_heading = "DSN")]
    dsn_orcpt: bool,

    /// Speak LMTP (RFC 2033) instead of SMTP: LHLO (no HELO fallback), one reply per
    /// accepted recipient after the message; default port 24.
    #[arg(long, help_heading = "LMTP")]
    lmtp: bool,

    /// Print the result as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    json: bool,
    /// Print the SMTP transcript on stderr.
    #[arg(short = 'v', help_heading = "Output")]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TlsMode {
    /// No TLS.
    Skip,
    /// STARTTLS when offered, else plaintext.
    Opportunistic,
    /// STARTTLS required.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TlsVerify {
    /// Verify the certificate chain and name.
    Pkix,
    /// Verify for the report only.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Level {
    /// --tls skip.
    None,
    /// --tls opportunistic --tls-verify none --tls-fallback.
    May,
    /// --tls starttls --tls-verify none.
    Encrypt,
    /// --tls starttls --tls-verify pkix.
    Verify,
    /// The same as verify.
    Secure,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s:?}"))?;
    // Also refuses NaN.
    if secs.is_nan() || secs <= 0.0 {
        return Err("must be more than 0".to_owned());
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// `--dsn-ret`: what a DSN returns of the message (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DsnRet {
    /// The whole message.
    Full,
    /// The headers only.
    Hdrs,
}

/// A command-line mistake: exit 64, nothing sent.
#[derive(Debug)]
struct UsageError(String);

/// Everything checked and read before connecting.
struct Plan {
    /// `--server`; `None` in MX mode.
    target: Option<Target>,
    /// MX mode's settings, without `--server`.
    mx: Option<mx::MxPlan>,
    /// `--socks5`, with its credentials.
    socks5: Option<Socks5Connector>,
    /// `--max-per-connection`; 0 is no limit.
    max_per_connection: u32,
    envelope: Envelope,
    config: ClientConfig,
    tls: TlsConfig,
    timeouts: Timeouts,
    message: Vec<u8>,
    auth: Option<(Credentials, AuthOptions)>,
    repeat: u32,
    verbose: bool,
}

/// Where `--server` points.
#[derive(Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
}

impl Target {
    /// `host:port`, with brackets around an IPv6 address.
    fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn main() -> ExitCode {
    // Known before parsing, so that a parse error can still be reported as JSON.
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return usage_exit(json, None, &clap_message(&e), false);
        }
    };
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(UsageError(msg)) => return usage_exit(args.json, args.server.as_deref(), &msg, true),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("send: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_TRANSIENT);
        }
    };
    let outcome = runtime.block_on(async {
        match &plan.target {
            Some(target) => session::run(&plan, target).await,
            None => mx::run(&plan).await,
        }
    });
    if args.json {
        println!("{}", outcome.to_json(plan.target.as_ref()).pretty());
    } else {
        print_summary(plan.target.as_ref(), &outcome);
    }
    ExitCode::from(outcome.exit_status())
}

/// The first paragraph of clap's message, on one line, without the `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.split("\n\n").next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn usage_exit(json: bool, server: Option<&str>, msg: &str, print: bool) -> ExitCode {
    if print {
        eprintln!("send: {msg}");
    }
    if json {
        let result = Json::obj([
            ("server", server.into()),
            ("greeting", Json::Null),
            ("capabilities", Json::Arr(Vec::new())),
            ("tls", Json::Null),
            ("auth", Json::Null),
            ("transactions", Json::Arr(Vec::new())),
            ("error", ErrorInfo::usage(msg.to_owned()).to_json()),
        ]);
        println!("{}", result.pretty());
    }
    ExitCode::from(EXIT_USAGE)
}

// ---------------------------------------------------------------------------------------
// Checking the command line
// ---------------------------------------------------------------------------------------

/// Checks every flag and reads the message; nothing touches the network.
fn plan(args: &Args) -> Result<Plan, UsageError> {
    // MX mode's own usage errors (SEND-CONTRACT-MX.md): nothing is sent.
    mx::check_flags(args)?;
    // The TLS settings first: a contradiction is a mistake whatever else is given.
    let level = mx::default_level(args);
    let tls = tls_mode(args.tls, level);
    if args.tls_fallback && args.tls != Some(TlsMode::Opportunistic) {
        return Err(UsageError(
            "--tls-fallback needs --tls opportunistic".to_owned(),
        ));
    }
    // RFC 8689: --tls-fallback (and --level may's fallback) never apply under
    // --requiretls: `tls_config` marks the session confidential.

    let helo = Domain::new(args.helo.as_str())
        .map_err(|e| UsageError(format!("--helo {:?}: invalid {e}", args.helo)))?;
    let from = ReversePath::new(&args.from)
        .map_err(|e| UsageError(format!("--from {:?}: invalid {e}", args.from)))?;
    let to = args
        .to
        .iter()
        .map(|t| {
            Mailbox::new(t.as_str()).map_err(|e| UsageError(format!("--to {t:?}: invalid {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut envelope =
        Envelope::from_parts(from, to).map_err(|e| UsageError(format!("--to: {e}")))?;
    if args.eight_bit_mime {
        envelope = envelope
            .with_param(EsmtpParam::body_8bitmime())
            .map_err(|e| UsageError(format!("--8bitmime: {e}")))?;
    }
    if args.smtputf8 {
        envelope = envelope.with_smtputf8();
    }
    if args.requiretls {
        envelope = envelope.with_requiretls();
    }
    if args.binarymime {
        // RFC 3030 §3: BDAT only, the bytes as given; the library refuses the message
        // (kind `extension`) before sending when CHUNKING or BINARYMIME is missing.
        envelope = envelope.with_binarymime();
    }
    let envelope = dsn_settings(args, envelope)?;

    let (target, mx) = match &args.server {
        Some(server) => {
            // LMTP must not run on port 25 (RFC 2033); the contract's default is 24.
            let default_port = match (args.lmtp, tls) {
                (true, _) => 24,
                (false, TlsMode::Implicit) => 465,
                (false, _) => 25,
            };
            let target = parse_server(server, default_port)
                .map_err(|e| UsageError(format!("--server {server:?}: {e}")))?;
            (Some(target), None)
        }
        None => (None, Some(mx::plan(args, &envelope)?)),
    };

    let tls_config = tls_config(args, level, tls)?;
    let auth = auth_settings(args)?;
    let socks5 = socks5_settings(args)?;

    let message = match &args.data {
        Some(path) => read_message(path)?,
        None => generated_message(&envelope, &helo),
    };
    let timeouts = args.timeout.map(Timeouts::all).unwrap_or_default();
    let config = ClientConfig::new(helo.as_str())
        .map_err(|e| UsageError(format!("--helo {:?}: {e}", args.helo)))?
        .timeouts(timeouts)
        .pipelining(!args.no_pipelining)
        .chunking(!args.no_chunking)
        // Both are at least 1 (clap checks); a size beyond the address space is no limit.
        .chunk_size(usize::try_from(args.chunk_size).unwrap_or(usize::MAX))
        .window(usize::try_from(args.window).unwrap_or(usize::MAX))
        .lmtp(args.lmtp);
    Ok(Plan {
        target,
        mx,
        socks5,
        max_per_connection: args.max_per_connection.unwrap_or(0),
        envelope,
        config,
        tls: tls_config,
        timeouts,
        message,
        auth,
        repeat: args.repeat,
        verbose: args.verbose,
    })
}

/// The DSN flags (RFC 3461) on `envelope`, each value checked here so that a bad one is a
/// usage error before connecting. Whether the server offers DSN is the library's check:
/// without it the message fails with kind `extension` before anything is sent (§4).
fn dsn_settings(args: &Args, mut envelope: Envelope) -> Result<Envelope, UsageError> {
    if let Some(list) = &args.dsn_notify {
        // RFC 3461 §4.1: NEVER alone, or any of SUCCESS, FAILURE and DELAY; no empty
        // element, no other word.
        let notify = Notify::parse(list).map_err(|_| {
            UsageError(format!(
                "--dsn-notify {list:?}: not NEVER or a comma list of SUCCESS, FAILURE, DELAY"
            ))
        })?;
        envelope = envelope.with_notify(notify);
    }
    if let Some(ret) = args.dsn_ret {
        envelope = envelope.with_dsn_ret(match ret {
            DsnRet::Full => Ret::Full,
            DsnRet::Hdrs => Ret::Hdrs,
        });
    }
    if let Some(id) = &args.dsn_envid {
        // RFC 3461 §4.4: printable US-ASCII, at most 100 characters as xtext.
        let envid =
            EnvId::new(id.as_str()).map_err(|e| UsageError(format!("--dsn-envid {id:?}: {e}")))?;
        envelope = envelope.with_dsn_envid(envid);
    }
    if args.dsn_orcpt {
        envelope = envelope
            .with_orcpt()
            .map_err(|e| UsageError(format!("--dsn-orcpt: {e}")))?;
    }
    Ok(envelope)
}

/// The TLS mode after `--level` (MX mode's default level included) and the default.
fn tls_mode(mode: Option<TlsMode>, level: Option<Level>) -> TlsMode {
    match (mode, level) {
        (Some(mode), _) => mode,
        (None, Some(Level::None)) => TlsMode::Skip,
        (None, Some(Level::May)) => TlsMode::Opportunistic,
        (None, Some(Level::Encrypt | Level::Verify | Level::Secure)) => TlsMode::Starttls,
        (None, None) => TlsMode::Starttls,
    }
}

/// The library's TLS settings for the flags: `--level` (or MX mode's default level) is a
/// preset, the other flags refine `--tls`.
fn tls_config(args: &Args, level: Option<Level>, mode: TlsMode) -> Result<TlsConfig, UsageError> {
    use smtp_courier::tls::{Level as L, TlsMode as M};
    let mut config = match level {
        Some(Level::None) => TlsConfig::from_level(L::None),
        Some(Level::May) => TlsConfig::from_level(L::May),
        Some(Level::Encrypt) => TlsConfig::from_level(L::Encrypt),
        Some(Level::Verify) => TlsConfig::from_level(L::Verify),
        Some(Level::Secure) => TlsConfig::from_level(L::Secure),
        None => TlsConfig::new(match mode {
            TlsMode::Skip => M::Skip,
            TlsMode::Opportunistic => M::Opportunistic,
            TlsMode::Starttls => M::RequiredStartTls,
            TlsMode::Implicit => M::Implicit,
        })
        .fallback(args.tls_fallback),
    };
    if let Some(v) = args.tls_verify {
        config = config.with_verification(match v {
            TlsVerify::Pkix => CertVerification::Pkix,
            TlsVerify::None => CertVerification::None,
        });
    }
    config = config.ignore_verification_errors(args.tls_ignore_errors);
    if let Some(path) = &args.tls_ca {
        let pem = std::fs::read(path)
            .map_err(|e| UsageError(format!("--tls-ca {}: {e}", path.display())))?;
        config = config
            .add_roots_pem(&pem)
            .map_err(|e| UsageError(format!("--tls-ca {}: {e}", path.display())))?;
    }
    if let Some(name) = &args.tls_name {
        if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UsageError(format!("--tls-name {name:?}: invalid name")));
        }
        config = config.server_name(name.as_str());
    }
    // Never go on in plaintext with a REQUIRETLS message. Credentials need no such rule:
    // the library sends no AUTH at all without verified TLS unless --allow-cleartext-auth,
    // which fails the run with kind `auth` as the contract says (not `tls`).
    Ok(config.confidential(args.requiretls))
}

/// The credentials and mechanism choice, when `--auth-user` is given. The password comes
/// from `--auth-pass` or `SMTP_PASSWORD`.
fn auth_settings(args: &Args) -> Result<Option<(Credentials, AuthOptions)>, UsageError> {
    let Some(user) = &args.auth_user else {
        for (given, flag) in [
            (args.auth_pass.is_some(), "--auth-pass"),
            (args.auth_mech.is_some(), "--auth-mech"),
        ] {
            if given {
                return Err(UsageError(format!("{flag} needs --auth-user")));
            }
        }
        return Ok(None);
    };
    let password = match &args.auth_pass {
        Some(p) => p.clone(),
        None => std::env::var("SMTP_PASSWORD")
            .map_err(|_| UsageError("--auth-user needs --auth-pass or SMTP_PASSWORD".to_owned()))?,
    };
    let mut options = AuthOptions::new().allow_cleartext(args.allow_cleartext_auth);
    if let Some(list) = &args.auth_mech {
        let mechanisms = list
            .split(',')
            .map(|name| {
                Mechanism::from_name(name.trim())
                    .ok_or_else(|| UsageError(format!("--auth-mech: unknown mechanism {name:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        options = options.mechanisms(mechanisms);
    }
    Ok(Some((Credentials::new(user.as_str(), password), options)))
}

/// The proxy of `--socks5`, with `--socks5-user`/`--socks5-pass` (both or neither).
fn socks5_settings(args: &Args) -> Result<Option<Socks5Connector>, UsageError> {
    let Some(proxy) = &args.socks5 else {
        for (given, flag) in [
            (args.socks5_user.is_some(), "--socks5-user"),
            (args.socks5_pass.is_some(), "--socks5-pass"),
        ] {
            if given {
                return Err(UsageError(format!("{flag} needs --socks5")));
            }
        }
        return Ok(None);
    };
    // RFC 1928 §3: the proxy's conventional port is 1080.
    let bad = |e: String| UsageError(format!("--socks5 {proxy:?}: {e}"));
    let at = parse_server(proxy, 1080).map_err(bad)?;
    let connector = Socks5Connector::new(&at.host, at.port).map_err(|e| bad(e.to_string()))?;
    match (&args.socks5_user, &args.socks5_pass) {
        (None, None) => Ok(Some(connector)),
        (Some(user), Some(pass)) => connector
            .credentials(user.as_str(), pass.as_str())
            .map(Some)
            .map_err(|e| UsageError(format!("--socks5-user/--socks5-pass: {e}"))),
        (Some(_), None) => Err(UsageError("--socks5-user needs --socks5-pass".to_owned())),
        (None, Some(_)) => Err(UsageError("--socks5-pass needs --socks5-user".to_owned())),
    }
}

/// `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT`, or a bare IPv6 address.
fn parse_server(s: &str, default_port: u16) -> Result<Target, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("missing ']' after the IPv6 address")?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{host:?} is not an IPv6 address"))?;
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
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (s, None)
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    if host
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        return Err("control character or space in the host".to_owned());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok(Target {
        host: host.to_owned(),
        port,
    })
}

fn read_message(path: &str) -> Result<Vec<u8>, UsageError> {
    let mut message = Vec::new();
    let res = if path == "-" {
        std::io::stdin().lock().read_to_end(&mut message).map(drop)
    } else {
        std::fs::read(path).map(|m| message = m)
    };
    res.map_err(|e| UsageError(format!("--data {path:?}: {e}")))?;
    Ok(message)
}

/// A small RFC 5322 message with Date, Message-ID, From, To and Subject. Line endings are
/// CRLF already; the library would normalise them anyway.
fn generated_message(envelope: &Envelope, helo: &Domain) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let from = match envelope.from() {
        ReversePath::Null => format!("<MAILER-DAEMON@{}>", helo.as_str()),
        ReversePath::Mailbox(m) => format!("<{m}>"),
    };
    let to: Vec<String> = envelope
        .recipients()
        .iter()
        .map(|m| format!("<{m}>"))
        .collect();
    let id = format!(
        "{}.{:09}.{}@{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        helo.as_str()
    );
    format!(
        "Date: {}\r\nMessage-ID: <{id}>\r\nFrom: {from}\r\nTo: {}\r\nSubject: test message from smtp-courier\r\n\
         \r\nThis is a test message sent by the smtp-courier send example.\r\n",
        // RFC 5322 §3.3, in UTC.
        Date::new(i64::try_from(now.as_secs()).unwrap_or(i64::MAX)).to_rfc822(),
        to.join(",\r\n "),
    )
    .into_bytes()
}
