//! The result of a run: what the contract's `--json` prints, the short summary printed
//! without it, and the exit status.
//!
//! Server text reaches a person or a script only through [`shown`]: in the JSON and in
//! the summary alike, no control character or bidirectional override the server sent
//! comes out as it is.

use smtp_courier::proto::{Reply, escape_text};
use smtp_courier::{Envelope, Error, RecipientStatus, TransactionReport};

use super::json::Json;
use super::{EXIT_DELIVERED, EXIT_PERMANENT, EXIT_TRANSIENT, Target};

/// What the run learned, for the report.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) greeting: Option<Reply>,
    pub(crate) capabilities: Vec<String>,
    /// `None`: TLS was never attempted.
    pub(crate) tls: Option<Json>,
    /// The mechanism, once authenticated.
    pub(crate) auth: Option<String>,
    pub(crate) transactions: Vec<TransactionOutcome>,
    /// The failure of the connection (connect, greeting, EHLO/HELO, STARTTLS/TLS, AUTH).
    pub(crate) error: Option<ErrorInfo>,
}

/// An error as the contract reports it.
#[derive(Clone, Debug)]
pub(crate) struct ErrorInfo {
    kind: &'static str,
    permanent: bool,
    command: Option<&'static str>,
    code: Option<u16>,
    enhanced_code: Option<String>,
    message: String,
}

impl ErrorInfo {
    pub(crate) fn from_error(e: &Error) -> Self {
        Self {
            kind: error_kind(e),
            permanent: e.is_permanent(),
            command: e.command().map(|c| c.as_str()),
            code: e.code().map(|c| c.as_u16()),
            enhanced_code: e.enhanced_code().map(|c| c.to_string()),
            message: e.reply().map_or_else(|| e.to_string(), Reply::message),
        }
    }

    pub(crate) fn usage(message: String) -> Self {
        Self {
            kind: "usage",
            permanent: true,
            command: None,
            code: None,
            enhanced_code: None,
            message,
        }
    }

    /// A failed name lookup: transient, since resolvers fail for passing reasons too.
    pub(crate) fn dns(message: String) -> Self {
        Self {
            kind: "dns",
            permanent: false,
            command: None,
            code: None,
            enhanced_code: None,
            message,
        }
    }

    fn status(&self) -> &'static str {
        if self.permanent {
            "permanent"
        } else {
            "transient"
        }
    }

    pub(crate) fn to_json(&self) -> Json {
        Json::obj([
            ("kind", self.kind.into()),
            ("permanent", self.permanent.into()),
            ("command", self.command.into()),
            ("code", self.code.into()),
            ("enhanced_code", self.enhanced_code.clone().into()),
            ("message", shown(&self.message).into()),
        ])
    }
}

/// Text that may hold server text (a reply, an error's `Display`, a capability, a TLS
/// verification error), made safe to show: each line escaped as [`escape_text`] says, the
/// lines still joined with `\n` as the contract's `message` is. Escaping is idempotent, so
/// text the library already escaped ([`Reply::message`]) comes through unchanged.
pub(crate) fn shown(text: &str) -> String {
    text.split('\n')
        .map(|line| escape_text(line.as_bytes()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The contract's error kinds.
fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Reply { .. } | Error::Greeting { .. } | Error::ServerClosing { .. } => "reply",
        Error::Protocol { .. } => "protocol",
        Error::Timeout { .. } => "timeout",
        Error::Closed { .. } | Error::Io { .. } => "io",
        Error::TooLarge { .. } => "size",
        Error::Extension(_) => "extension",
        // A bare CR/LF under strict line endings: the caller's data (send normalises, so
        // it does not happen here).
        Error::Body(_) | Error::Usage(_) => "usage",
        Error::Tls(_) => "tls",
        // Refused by the server (535, 454, ...: `reply()` gives its code, enhanced code and
        // text), or decided by the client (no usable mechanism, a failed SASL check).
        Error::Auth(_) => "auth",
        // `Error` is non-exhaustive: a variant added later is reported as a protocol
        // error until it is mapped here.
        _ => "protocol",
    }
}

/// One recipient's line in the result.
struct RecipientOutcome {
    address: String,
    status: &'static str,
    command: Option<&'static str>,
    code: Option<u16>,
    enhanced_code: Option<String>,
    message: String,
}

/// One message's part of the result.
pub(crate) struct TransactionOutcome {
    recipients: Vec<RecipientOutcome>,
    data: Option<Reply>,
    error: Option<ErrorInfo>,
}

impl TransactionOutcome {
    pub(crate) fn from_report(report: &TransactionReport) -> Self {
        let recipients = report
            .recipients
            .iter()
            .map(|r| {
                let (code, enhanced_code, message) = match (&r.result, r.reply()) {
                    (_, Some(reply)) => (
                        Some(reply.code().as_u16()),
                        reply.enhanced_code().map(|c| c.to_string()),
                        reply.message(),
                    ),
                    (Err(e), None) => (None, None, e.to_string()),
                    (Ok(_), None) => (None, None, String::new()),
                };
                RecipientOutcome {
                    address: r.address.to_string(),
                    status: match r.status() {
                        RecipientStatus::Delivered => "delivered",
                        RecipientStatus::Permanent => "permanent",
                        RecipientStatus::Transient => "transient",
                    },
                    command: r.command().map(|c| c.as_str()),
                    code,
                    enhanced_code,
                    message,
                }
            })
            .collect();
        Self {
            recipients,
            data: report.data.clone(),
            error: report.error.as_ref().map(ErrorInfo::from_error),
        }
    }

    /// A message that was never sent: every recipient carries `err`, and so does the
    /// transaction.
    pub(crate) fn not_sent(envelope: &Envelope, err: &ErrorInfo) -> Self {
        let recipients = envelope
            .recipients()
            .iter()
            .map(|m| RecipientOutcome {
                address: m.to_string(),
                status: err.status(),
                command: err.command,
                code: err.code,
                enhanced_code: err.enhanced_code.clone(),
                message: err.message.clone(),
            })
            .collect();
        Self {
            recipients,
            data: None,
            error: Some(err.clone()),
        }
    }

    pub(crate) fn to_json(&self) -> Json {
        let recipients = self
            .recipients
            .iter()
            .map(|r| {
                Json::obj([
                    ("address", r.address.clone().into()),
                    ("status", r.status.into()),
                    ("command", r.command.into()),
                    ("code", r.code.into()),
                    ("enhanced_code", r.enhanced_code.clone().into()),
                    ("message", shown(&r.message).into()),
                ])
            })
            .collect();
        let data = self.data.as_ref().map(|d| {
            Json::obj([
                ("code", d.code().as_u16().into()),
                (
                    "enhanced_code",
                    d.enhanced_code().map(|c| c.to_string()).into(),
                ),
                ("message", shown(&d.message()).into()),
            ])
        });
        Json::obj([
            ("recipients", Json::Arr(recipients)),
            ("data", data.into()),
            ("error", self.error.as_ref().map(ErrorInfo::to_json).into()),
        ])
    }
}

impl Outcome {
    pub(crate) fn to_json(&self, target: &Target) -> Json {
        let greeting = self.greeting.as_ref().map(|g| {
            Json::obj([
                ("code", g.code().as_u16().into()),
                ("message", shown(&g.message()).into()),
            ])
        });
        // Keywords are checked by the library, but their parameters are the server's text.
        let capabilities = self.capabilities.iter().map(|c| shown(c).into()).collect();
        Json::obj([
            ("server", target.display().into()),
            ("greeting", greeting.into()),
            ("capabilities", Json::Arr(capabilities)),
            ("tls", self.tls.clone().into()),
            (
                "auth",
                self.auth
                    .as_ref()
                    .map(|m| Json::obj([("mechanism", m.clone().into())]))
                    .into(),
            ),
            (
                "transactions",
                Json::Arr(
                    self.transactions
                        .iter()
                        .map(TransactionOutcome::to_json)
                        .collect(),
                ),
            ),
            ("error", self.error.as_ref().map(ErrorInfo::to_json).into()),
        ])
    }

    /// 0 when every recipient of every transaction was delivered, 69 when any failure was
    /// permanent, 75 otherwise.
    pub(crate) fn exit_status(&self) -> u8 {
        let statuses = self
            .transactions
            .iter()
            .flat_map(|t| &t.recipients)
            .map(|r| r.status);
        let mut status = EXIT_DELIVERED;
        for s in statuses {
            match s {
                "permanent" => return EXIT_PERMANENT,
                "transient" => status = EXIT_TRANSIENT,
                _ => {}
            }
        }
        match &self.error {
            Some(e) if e.permanent => EXIT_PERMANENT,
            Some(_) => EXIT_TRANSIENT,
            None => status,
        }
    }
}

pub(crate) fn print_summary(target: &Target, outcome: &Outcome) {
    // One line per item: the lines of a reply joined with " / ", escaped.
    let one_line = |text: &str| shown(text).replace('\n', " / ");
    match &outcome.greeting {
        Some(g) => println!(
            "{}: {} {}",
            target.display(),
            g.code(),
            one_line(&g.message())
        ),
        None => println!("{}: no greeting", target.display()),
    }
    for (i, tx) in outcome.transactions.iter().enumerate() {
        let n = i + 1;
        match (&tx.data, &tx.error) {
            (Some(d), _) => println!("message {n}: {}", one_line(&d.to_string())),
            (None, Some(e)) => println!("message {n}: not sent: {}", one_line(&e.message)),
            (None, None) => println!("message {n}:"),
        }
        for r in &tx.recipients {
            let mut line = format!("  {:<9} {}", r.status, r.address);
            if let Some(c) = r.command {
                line.push_str(&format!(" {c}"));
            }
            if let Some(code) = r.code {
                line.push_str(&format!(" {code}"));
            }
            if let Some(e) = &r.enhanced_code {
                line.push_str(&format!(" {e}"));
            }
            if !r.message.is_empty() {
                line.push_str(&format!(" {}", one_line(&r.message)));
            }
            println!("{line}");
        }
    }
    if let Some(e) = &outcome.error {
        println!("error ({}): {}", e.kind, one_line(&e.message));
    }
}
