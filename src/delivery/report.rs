//! What delivery reports: one result per recipient, grouped per domain, with the host and
//! address that carried the transaction, the attempts before it, and the connection's TLS.

use std::net::SocketAddr;

use super::domain::RouteDomain;
use super::mx::DnsError;
use super::policy::SecurityLevel;
use crate::error::Error;
use crate::proto::address::Mailbox;
use crate::proto::{Capabilities, CommandKind, EnhancedCode, Reply, ReplyCode};
use crate::tls::TlsReport;
use crate::{RecipientStatus, TransactionReport};

/// Why a recipient was not delivered, or why an attempt failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// DNS had no route to the domain or no address for a host ([`DnsError::is_permanent`]).
    #[error(transparent)]
    Dns(DnsError),
    /// What the SMTP client reported: a connection that failed, a refused greeting, TLS
    /// under the policy, a refused command, a message check.
    #[error(transparent)]
    Smtp(Error),
    /// The [`DeliveryPolicy`](super::DeliveryPolicy) hook refused the connection's security
    /// level. Transient.
    #[error(transparent)]
    Policy(PolicyRefusal),
}

impl DeliveryError {
    /// True when trying again cannot help (see [`Error::is_permanent`],
    /// [`DnsError::is_permanent`]); a policy refusal is transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Dns(e) => e.is_permanent(),
            Self::Smtp(e) => e.is_permanent(),
            Self::Policy(_) => false,
        }
    }

    /// The opposite of [`DeliveryError::is_permanent`].
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }

    /// True for a timeout: a DNS lookup, a connect, a reply or the TLS handshake.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Dns(e) => e.is_timeout(),
            Self::Smtp(e) => e.is_timeout(),
            Self::Policy(_) => false,
        }
    }

    /// The server's reply, when the server said no.
    pub fn reply(&self) -> Option<&Reply> {
        self.smtp().and_then(Error::reply)
    }

    /// The reply code, when the server said no.
    pub fn code(&self) -> Option<ReplyCode> {
        self.reply().map(Reply::code)
    }

    /// The enhanced status code of the reply, when there is one.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.reply().and_then(Reply::enhanced_code)
    }

    /// The command that failed, when one did.
    pub fn command(&self) -> Option<CommandKind> {
        self.smtp().and_then(Error::command)
    }

    /// The SMTP error, unless DNS or the policy decided.
    pub fn smtp(&self) -> Option<&Error> {
        match self {
            Self::Smtp(e) => Some(e),
            _ => None,
        }
    }

    /// The DNS error, when DNS decided.
    pub fn dns(&self) -> Option<&DnsError> {
        match self {
            Self::Dns(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for DeliveryError {
    fn from(e: Error) -> Self {
        Self::Smtp(e)
    }
}

impl From<DnsError> for DeliveryError {
    fn from(e: DnsError) -> Self {
        Self::Dns(e)
    }
}

/// The policy hook refused a connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("security level {level} refused by the policy for {domain}")]
#[non_exhaustive]
pub struct PolicyRefusal {
    domain: String,
    level: SecurityLevel,
}

impl PolicyRefusal {
    pub(crate) fn new(domain: &str, level: SecurityLevel) -> Self {
        Self {
            domain: domain.to_owned(),
            level,
        }
    }

    /// The domain (or relay host) the hook was asked about.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The level the connection reached.
    pub fn level(&self) -> SecurityLevel {
        self.level
    }
}

/// A connection that failed before its host decided, or a host without an address.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Attempt {
    host: String,
    address: Option<SocketAddr>,
    error: DeliveryError,
}

impl Attempt {
    pub(crate) fn new(host: &str, address: Option<SocketAddr>, error: DeliveryError) -> Self {
        Self {
            host: host.to_owned(),
            address,
            error,
        }
    }

    /// The host, as [`RouteHost::name`](super::RouteHost::name).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address dialled; `None` when the host had no usable address.
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// What went wrong: for an attempt that reached MAIL, the transaction's error.
    pub fn error(&self) -> &DeliveryError {
        &self.error
    }
}

/// The connection that carried a transaction: where to, what the server said, and how
/// secure it was.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Connection {
    host: String,
    address: Option<SocketAddr>,
    greeting: Option<Reply>,
    capabilities: Option<Capabilities>,
    tls: Option<TlsReport>,
    security: SecurityLevel,
}

impl Connection {
    pub(crate) fn of<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        client: &crate::Client<S>,
        host: &str,
        address: Option<SocketAddr>,
    ) -> Self {
        let tls = client.tls_report().cloned();
        Self {
            host: host.to_owned(),
            address,
            greeting: client.greeting().cloned(),
            capabilities: client.capabilities().cloned(),
            security: SecurityLevel::of(tls.as_ref()),
            tls,
        }
    }

    /// The host: the MX name (or the relay's host).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The address dialled: always known with MX delivery; `None` for a relay given by
    /// name, which the connector (or the proxy) resolved.
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// The greeting.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// The extensions of the last EHLO; `None` after HELO.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// What TLS achieved; `None` when it was never attempted (see
    /// [`Client::tls_report`](crate::Client::tls_report)).
    pub fn tls(&self) -> Option<&TlsReport> {
        self.tls.as_ref()
    }

    /// The level the connection reached.
    pub fn security(&self) -> SecurityLevel {
        self.security
    }

    /// Why the certificate did not verify (or why TLS was abandoned), if it did not.
    pub fn verify_error(&self) -> Option<&str> {
        self.tls.as_ref().and_then(|t| t.verify_error.as_deref())
    }
}

/// What happened to one recipient.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecipientDelivery {
    address: Mailbox,
    result: Result<Reply, DeliveryError>,
    status: RecipientStatus,
    /// What carried the content (`DataEnd` or `Bdat`): the command of a success.
    content_command: CommandKind,
}

impl RecipientDelivery {
    pub(crate) fn new(
        address: Mailbox,
        result: Result<Reply, DeliveryError>,
        status: RecipientStatus,
    ) -> Self {
        Self {
            address,
            result,
            status,
            content_command: CommandKind::DataEnd,
        }
    }

    /// From one recipient of a transaction report, keeping whether DATA or BDAT carried
    /// the content (RFC 3030 §2: the reply to the last BDAT decides it).
    fn from_smtp(r: &crate::RecipientResult) -> Self {
        Self {
            content_command: r.content_command,
            ..Self::new(
                r.address.clone(),
                r.result.clone().map_err(DeliveryError::Smtp),
                r.status(),
            )
        }
    }

    /// The recipient.
    pub fn address(&self) -> &Mailbox {
        &self.address
    }

    /// `Ok` with the reply to the message data, or why it was not delivered.
    pub fn result(&self) -> &Result<Reply, DeliveryError> {
        &self.result
    }

    /// The error, when not delivered.
    pub fn error(&self) -> Option<&DeliveryError> {
        self.result.as_ref().err()
    }

    /// Delivered, permanent or transient. When no host decided, this is permanent only
    /// if every attempt failed permanently, so it can be transient with an error that on
    /// its own is permanent (the last host's 554 greeting after a first host timed out).
    pub fn status(&self) -> RecipientStatus {
        self.status
    }

    /// The reply that decided this recipient, if a reply did.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.result {
            Ok(r) => Some(r),
            Err(e) => e.reply(),
        }
    }

    /// The command whose reply decided this recipient, as
    /// [`RecipientResult::command`](crate::RecipientResult::command) says: for a delivered
    /// one, `DataEnd` or `Bdat`, whichever carried the content.
    pub fn command(&self) -> Option<CommandKind> {
        match &self.result {
            Ok(_) => Some(self.content_command),
            Err(e) => e.command(),
        }
    }
}

/// One domain's outcome: which host decided, at which address, the attempts before it,
/// the connection, and every recipient's result in the caller's order.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DomainReport {
    domain: RouteDomain,
    connection: Option<Connection>,
    attempts: Vec<Attempt>,
    recipients: Vec<RecipientDelivery>,
    data: Option<Reply>,
    error: Option<DeliveryError>,
    permanent: bool,
}

impl DomainReport {
    /// DNS found nowhere to deliver: every recipient carries `error`.
    pub(crate) fn dns_failed(domain: RouteDomain, to: &[Mailbox], error: DnsError) -> Self {
        let permanent = error.is_permanent();
        Self::undecided(domain, to, Vec::new(), DeliveryError::Dns(error), permanent)
    }

    /// No host decided: every recipient carries `error`, permanent only as `permanent`.
    pub(crate) fn undecided(
        domain: RouteDomain,
        to: &[Mailbox],
        attempts: Vec<Attempt>,
        error: DeliveryError,
        permanent: bool,
    ) -> Self {
        let status = if permanent {
            RecipientStatus::Permanent
        } else {
            RecipientStatus::Transient
        };
        Self {
            domain,
            connection: None,
            recipients: to
                .iter()
                .map(|a| RecipientDelivery::new(a.clone(), Err(error.clone()), status))
                .collect(),
            attempts,
            data: None,
            error: Some(error),
            permanent,
        }
    }

    /// The host's transaction decided.
    pub(crate) fn decided(
        domain: RouteDomain,
        connection: Connection,
        attempts: Vec<Attempt>,
        report: &TransactionReport,
    ) -> Self {
        let error = report.error.clone().map(DeliveryError::Smtp);
        Self {
            domain,
            connection: Some(connection),
            attempts,
            recipients: report
                .recipients
                .iter()
                .map(RecipientDelivery::from_smtp)
                .collect(),
            data: report.data.clone(),
            permanent: error.as_ref().is_some_and(DeliveryError::is_permanent),
            error,
        }
    }

    /// Every recipient came out transient on the last host tried: they keep their own
    /// results; `error` is the transaction's.
    pub(crate) fn transient_at_last(
        domain: RouteDomain,
        attempts: Vec<Attempt>,
        report: &TransactionReport,
        error: DeliveryError,
    ) -> Self {
        Self {
            domain,
            connection: None,
            attempts,
            recipients: report
                .recipients
                .iter()
                .map(RecipientDelivery::from_smtp)
                .collect(),
            data: report.data.clone(),
            error: Some(error),
            permanent: false,
        }
    }

    /// The domain (A-labels, lower case), or the address literal.
    pub fn domain(&self) -> &RouteDomain {
        &self.domain
    }

    /// The host that decided the recipients (the MX name, or the domain for an implicit
    /// MX); `None` when no host decided.
    pub fn host(&self) -> Option<&str> {
        self.connection.as_ref().map(Connection::host)
    }

    /// The address of the connection that carried the transaction.
    pub fn address(&self) -> Option<SocketAddr> {
        self.connection.as_ref().and_then(Connection::address)
    }

    /// The connection that carried the transaction.
    pub fn connection(&self) -> Option<&Connection> {
        self.connection.as_ref()
    }

    /// The connections tried before it (or, when no host decided, all of them), in order.
    /// A plaintext reconnection after a failed handshake is not an attempt: the
    /// connection's `TlsReport::fallback` says so.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Every recipient of the domain, in the caller's order.
    pub fn recipients(&self) -> &[RecipientDelivery] {
        &self.recipients
    }

    /// The reply after the message data, when it was sent and answered.
    pub fn data(&self) -> Option<&Reply> {
        self.data.as_ref()
    }

    /// Why the domain failed as a whole: DNS, the last attempt when no host decided, or
    /// the deciding transaction's error (MAIL refused, no recipient accepted, ...).
    pub fn error(&self) -> Option<&DeliveryError> {
        self.error.as_ref()
    }

    /// Whether [`DomainReport::error`] is permanent as the recipients see it: when no host
    /// decided, only if every attempt failed permanently.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients.iter().all(|r| r.result.is_ok())
    }
}

/// The outcome of [`MxDelivery::deliver`](super::MxDelivery::deliver): one
/// [`DomainReport`] per recipient domain, in the order the domains first appear in the
/// envelope.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use = "a delivery report may say that nothing was delivered: check it"]
pub struct DeliveryReport {
    domains: Vec<DomainReport>,
}

impl DeliveryReport {
    pub(crate) fn new(domains: Vec<DomainReport>) -> Self {
        Self { domains }
    }

    /// The domains, in the caller's order.
    pub fn domains(&self) -> &[DomainReport] {
        &self.domains
    }

    /// Every recipient with its domain's report, domain by domain, in the caller's order
    /// within each.
    pub fn recipients(&self) -> impl Iterator<Item = (&DomainReport, &RecipientDelivery)> {
        self.domains
            .iter()
            .flat_map(|d| d.recipients.iter().map(move |r| (d, r)))
    }

    /// True when every recipient of every domain was delivered.
    pub fn all_delivered(&self) -> bool {
        self.domains.iter().all(DomainReport::all_delivered)
    }

    /// The domain reports.
    pub fn into_domains(self) -> Vec<DomainReport> {
        self.domains
    }
}
