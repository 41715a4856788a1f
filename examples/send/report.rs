//! The result of a run: what the contract's `--json` prints, the short summary printed
//! without it, and the exit status.
//!
//! Server text reaches a person or a script only through [`shown`]: in the JSON and in
//! the summary alike, no control character or bidirectional override the server sent
//! comes out as it is.

use smtp_courier::delivery::{DeliveryError, DomainReport, RecipientDelivery};
use smtp_courier::proto::{Mailbox, Reply, escape_text};
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

    /// A delivery error (DNS, or what the SMTP client reported), `permanent` as the
    /// domain's recipients see it.
    fn from_delivery(e: &DeliveryError, permanent: bool) -> Self {
        let mut info = match e {
            DeliveryError::Smtp(e) => Self::from_error(e),
            DeliveryError::Dns(e) => Self {
                kind: "dns",
                permanent: e.is_permanent(),
                command: None,
                code: None,
                enhanced_code: None,
                message: e.to_string(),
            },
            // The policy hook (not used by `send`), and what the library may add.
            other => Self {
                kind: "tls",
                permanent: false,
                command: None,
                code: None,
                enhanced_code: None,
                message: other.to_string(),
            },
        };
        info.permanent = permanent;
        info
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
    /// In MX mode: the domain, host, address, attempts and connection.
    mx: Option<MxFields>,
    recipients: Vec<RecipientOutcome>,
    data: Option<Reply>,
    error: Option<ErrorInfo>,
}

/// What an MX-mode transaction says besides the recipients (SEND-CONTRACT-MX.md).
struct MxFields {
    domain: String,
    host: Option<String>,
    address: Option<String>,
    /// Each attempt's host, address and error.
    attempts: Vec<(String, Option<String>, ErrorInfo)>,
    greeting: Option<Reply>,
    capabilities: Vec<String>,
    tls: Option<Json>,
}

impl MxFields {
    fn to_json(&self) -> Vec<(&'static str, Json)> {
        let attempts = self
            .attempts
            .iter()
            .map(|(host, address, error)| {
                Json::obj([
                    ("host", shown(host).into()),
                    ("address", address.clone().into()),
                    ("error", error.to_json()),
                ])
            })
            .collect();
        vec![
            ("domain", self.domain.clone().into()),
            ("host", self.host.as_deref().map(shown).into()),
            ("address", self.address.clone().into()),
            ("attempts", Json::Arr(attempts)),
            ("greeting", greeting_json(self.greeting.as_ref())),
            (
                "capabilities",
                Json::Arr(self.capabilities.iter().map(|c| shown(c).into()).collect()),
            ),
            ("tls", self.tls.clone().into()),
        ]
    }
}

fn greeting_json(greeting: Option<&Reply>) -> Json {
    greeting
        .map(|g| {
            Json::obj([
                ("code", g.code().as_u16().into()),
                ("message", shown(&g.message()).into()),
            ])
        })
        .into()
}

/// One recipient of an MX-mode domain, as the contract reports it.
fn mx_recipient(r: &RecipientDelivery) -> RecipientOutcome {
    let (code, enhanced_code, message) = match (r.reply(), r.error()) {
        (Some(reply), _) => (
            Some(reply.code().as_u16()),
            reply.enhanced_code().map(|c| c.to_string()),
            reply.message(),
        ),
        (None, Some(e)) => (None, None, e.to_string()),
        (None, None) => (None, None, String::new()),
    };
    RecipientOutcome {
        address: r.address().to_string(),
        status: status_name(r.status()),
        command: r.command().map(|c| c.as_str()),
        code,
        enhanced_code,
        message,
    }
}

fn status_name(status: RecipientStatus) -> &'static str {
    match status {
        RecipientStatus::Delivered => "delivered",
        RecipientStatus::Permanent => "permanent",
        RecipientStatus::Transient => "transient",
    }
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
                    status: status_name(r.status()),
                    command: r.command().map(|c| c.as_str()),
                    code,
                    enhanced_code,
                    message,
                }
            })
            .collect();
        Self {
            mx: None,
            recipients,
            data: report.data.clone(),
            error: report.error.as_ref().map(ErrorInfo::from_error),
        }
    }

    /// One domain of MX delivery: the host that decided (or none), the attempts before
    /// it, its connection, and every recipient.
    pub(crate) fn from_domain(d: &DomainReport) -> Self {
        let address = |a: std::net::SocketAddr| a.to_string();
        let attempts = d
            .attempts()
            .iter()
            .map(|a| {
                let error = ErrorInfo::from_delivery(a.error(), a.error().is_permanent());
                (a.host().to_owned(), a.address().map(address), error)
            })
            .collect();
        let connection = d.connection();
        let mx = MxFields {
            domain: d.domain().to_string(),
            host: d.host().map(str::to_owned),
            address: d.address().map(address),
            attempts,
            greeting: connection.and_then(|c| c.greeting()).cloned(),
            capabilities: connection
                .and_then(|c| c.capabilities())
                .map(|c| c.keywords_escaped().collect())
                .unwrap_or_default(),
            tls: connection
                .and_then(|c| c.tls())
                .map(super::session::tls_json),
        };
        Self {
            mx: Some(mx),
            recipients: d.recipients().iter().map(mx_recipient).collect(),
            data: d.data().cloned(),
            error: d
                .error()
                .map(|e| ErrorInfo::from_delivery(e, d.is_permanent())),
        }
    }

    /// An MX-mode domain that nothing was tried for: every recipient carries `err`.
    pub(crate) fn mx_not_sent(domain: &str, to: &[Mailbox], err: &ErrorInfo) -> Self {
        let recipients = to
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
            mx: Some(MxFields {
                domain: domain.to_owned(),
                host: None,
                address: None,
                attempts: Vec::new(),
                greeting: None,
                capabilities: Vec::new(),
                tls: None,
            }),
            recipients,
            data: None,
            error: Some(err.clone()),
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
            mx: None,
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
        let mut fields = self.mx.as_ref().map(MxFields::to_json).unwrap_or_default();
        fields.extend([
            ("recipients", Json::Arr(recipients)),
            ("data", data.into()),
            ("error", self.error.as_ref().map(ErrorInfo::to_json).into()),
        ]);
        Json::Obj(fields)
    }
}

impl Outcome {
    /// The result; `target` is `None` in MX mode (`server` null).
    pub(crate) fn to_json(&self, target: Option<&Target>) -> Json {
        let greeting = greeting_json(self.greeting.as_ref());
        // Keywords are checked by the library, but their parameters are the server's text.
        let capabilities = self.capabilities.iter().map(|c| shown(c).into()).collect();
        Json::obj([
            ("server", target.map(Target::display).into()),
            ("greeting", greeting),
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

/// The summary; `target` is `None` in MX mode, where each domain says where it went.
pub(crate) fn print_summary(target: Option<&Target>, outcome: &Outcome) {
    // One line per item: the lines of a reply joined with " / ", escaped.
    let one_line = |text: &str| shown(text).replace('\n', " / ");
    match (target, &outcome.greeting) {
        (None, _) => {}
        (Some(t), Some(g)) => println!("{}: {} {}", t.display(), g.code(), one_line(&g.message())),
        (Some(t), None) => println!("{}: no greeting", t.display()),
    }
    for (i, tx) in outcome.transactions.iter().enumerate() {
        let n = i + 1;
        if let Some(mx) = &tx.mx {
            for (host, address, e) in &mx.attempts {
                let at = address.as_deref().unwrap_or("no address");
                println!(
                    "{}: {} ({at}): {}",
                    mx.domain,
                    shown(host),
                    one_line(&e.message)
                );
            }
            match (&mx.host, &mx.address) {
                (Some(h), Some(a)) => println!("{}: via {} ({a})", mx.domain, shown(h)),
                _ => println!("{}: no host decided", mx.domain),
            }
        }
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
