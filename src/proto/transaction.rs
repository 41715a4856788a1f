//! A mail transaction's envelope and its outcome, one result per recipient
//! (RFC 5321 §3.3).

use crate::error::{Error, Severity, UsageError};

use super::address::{EsmtpParam, Mailbox, ReversePath};
use super::command::CommandKind;
use super::reply::Reply;

/// Names one transaction queued by [`Session::mail`](super::Session::mail): the
/// transaction's events ([`Event::SendBody`](super::Event::SendBody),
/// [`Event::Transaction`](super::Event::Transaction)) and the body calls carry it, so that
/// several transactions can be in flight on one connection. Opaque; unique within a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub(crate) u64);

/// The envelope: reverse-path, recipients, MAIL parameters and the message size when known.
///
/// ```
/// use smtp_courier::Envelope;
/// let env = Envelope::new("from@example.org", ["a@example.net", "b@example.net"]).unwrap();
/// assert_eq!(env.recipients().len(), 2);
/// assert!(Envelope::new("from@example.org", Vec::<&str>::new()).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    from: ReversePath,
    to: Vec<Mailbox>,
    params: Vec<EsmtpParam>,
    size: Option<u64>,
    smtputf8: bool,
    requiretls: bool,
    binarymime: bool,
}

impl Envelope {
    /// Parses and checks the addresses (`""` is the null reverse-path `<>`).
    ///
    /// # Errors
    /// [`UsageError::Address`] for a malformed address, [`UsageError::NoRecipients`].
    pub fn new<I, S>(from: &str, to: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let from = ReversePath::new(from)?;
        let to = to
            .into_iter()
            .map(|s| Mailbox::new(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts(from, to)
    }

    /// An envelope from validated parts.
    ///
    /// # Errors
    /// [`UsageError::NoRecipients`].
    pub fn from_parts(from: ReversePath, to: Vec<Mailbox>) -> Result<Self, Error> {
        if to.is_empty() {
            return Err(UsageError::NoRecipients.into());
        }
        Ok(Self {
            from,
            to,
            params: Vec::new(),
            size: None,
            smtputf8: false,
            requiretls: false,
            binarymime: false,
        })
    }

    /// Declares the message size, sent as `SIZE=` when the server offers SIZE and checked
    /// against its limit before anything is sent. Count the octets with CRLF line endings,
    /// before dot-stuffing ([`crate::proto::body::normalized_len`]).
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Adds a MAIL parameter (`BODY=8BITMIME`, ...). `SIZE`, `SMTPUTF8` and `REQUIRETLS`
    /// are managed by the session (see [`Envelope::with_size`],
    /// [`Envelope::with_smtputf8`], [`Envelope::with_requiretls`]); adding them here is
    /// ignored. `BODY=8BITMIME` is checked against the server's 8BITMIME (RFC 6152).
    pub fn with_param(mut self, param: EsmtpParam) -> Self {
        let binary = param.keyword() == "BODY" && param.value() == Some("BINARYMIME");
        if binary {
            // The session must know: BINARYMIME changes the framing (BDAT only).
            self.binarymime = true;
        } else if !matches!(param.keyword(), "SIZE" | "SMTPUTF8" | "REQUIRETLS") {
            self.params.push(param);
        }
        self
    }

    /// Declares SMTPUTF8 even for an ASCII envelope (a message with UTF-8 headers,
    /// RFC 6531 §3.4); it is declared anyway when an address is not ASCII.
    pub fn with_smtputf8(mut self) -> Self {
        self.smtputf8 = true;
        self
    }

    /// Requires TLS for the whole path of the message (REQUIRETLS, RFC 8689): the
    /// transaction is refused before anything is sent unless the session runs over
    /// verified TLS and the server offers REQUIRETLS.
    pub fn with_requiretls(mut self) -> Self {
        self.requiretls = true;
        self
    }

    /// Declares `BODY=BINARYMIME` (RFC 3030 §3): the message goes by BDAT exactly as
    /// given, with no line-ending normalisation and no dot-stuffing. The transaction is
    /// refused with [`Error::Extension`] before anything is sent unless the server offers
    /// both CHUNKING and BINARYMIME (and chunking is not switched off).
    pub fn with_binarymime(mut self) -> Self {
        self.binarymime = true;
        self
    }

    /// True when `BODY=BINARYMIME` was asked for.
    pub fn is_binarymime(&self) -> bool {
        self.binarymime
    }

    /// True when SMTPUTF8 must be declared: asked for, or an address is not ASCII.
    pub fn needs_smtputf8(&self) -> bool {
        self.smtputf8 || !self.is_ascii()
    }

    /// True when REQUIRETLS was asked for.
    pub fn requires_tls(&self) -> bool {
        self.requiretls
    }

    /// The reverse-path.
    pub fn from(&self) -> &ReversePath {
        &self.from
    }

    /// The recipients, in RCPT order.
    pub fn recipients(&self) -> &[Mailbox] {
        &self.to
    }

    /// The extra MAIL parameters.
    pub fn params(&self) -> &[EsmtpParam] {
        &self.params
    }

    /// The declared size.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// True when every address is ASCII (otherwise SMTPUTF8 is needed, RFC 6531).
    pub fn is_ascii(&self) -> bool {
        self.from.is_ascii() && self.to.iter().all(Mailbox::is_ascii)
    }
}

/// What happened to one recipient.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecipientResult {
    /// The recipient.
    pub address: Mailbox,
    /// `Ok` with the reply to the message data when the server took responsibility for
    /// it; `Err` with the reason it was not delivered.
    pub result: Result<Reply, Error>,
    /// How the content went: [`CommandKind::DataEnd`] or [`CommandKind::Bdat`].
    pub(crate) content_command: CommandKind,
}

/// A recipient's fate in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    /// The server accepted the message for this recipient.
    Delivered,
    /// Refused for good: bounce.
    Permanent,
    /// Refused for now, or the outcome is unknown: retry later.
    Transient,
}

impl RecipientResult {
    /// Delivered, permanent or transient.
    pub fn status(&self) -> RecipientStatus {
        match &self.result {
            Ok(_) => RecipientStatus::Delivered,
            Err(e) if e.severity() == Severity::Permanent => RecipientStatus::Permanent,
            Err(_) => RecipientStatus::Transient,
        }
    }

    /// The reply that decided this recipient, if a reply did.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.result {
            Ok(r) => Some(r),
            Err(e) => e.reply(),
        }
    }

    /// The command whose reply decided this recipient (for a delivered one, `DataEnd` or
    /// `Bdat`: the reply to the message content).
    pub fn command(&self) -> Option<CommandKind> {
        match &self.result {
            Ok(_) => Some(self.content_command),
            Err(e) => e.command(),
        }
    }
}

/// The outcome of one transaction: every recipient's result, the final reply to the
/// message data, and the transaction's own error when it failed as a whole.
#[derive(Clone, Debug)]
pub struct TransactionReport {
    /// One result per recipient, in envelope order.
    pub recipients: Vec<RecipientResult>,
    /// The reply after the message data, when it was sent and answered.
    pub data: Option<Reply>,
    /// Why the transaction failed as a whole: MAIL refused, no recipient accepted, the
    /// data refused, a message check, or the connection lost. `None` when at least one
    /// recipient was delivered.
    pub error: Option<Error>,
    /// The transaction, when it was queued.
    pub(crate) id: Option<TxId>,
    /// MAIL got `503` (bad sequence) and nothing of the transaction was accepted: the
    /// server turned it away because of the state an earlier transaction left.
    pub(crate) turned_away: bool,
}

impl TransactionReport {
    /// A report for a transaction that failed before anything was sent: every recipient
    /// carries `error`.
    pub fn failed(envelope: &Envelope, error: Error) -> Self {
        Self {
            recipients: envelope
                .recipients()
                .iter()
                .map(|a| RecipientResult {
                    content_command: CommandKind::DataEnd,
                    address: a.clone(),
                    result: Err(error.clone()),
                })
                .collect(),
            data: None,
            error: Some(error),
            id: None,
            turned_away: false,
        }
    }

    /// True when MAIL got `503` (bad sequence) and nothing of the transaction was
    /// accepted: the server turned it away, likely because of the state an earlier
    /// transaction in flight left. Nothing of it reached the server, so a driver may send
    /// it again after RSET.
    pub fn turned_away(&self) -> bool {
        self.turned_away
    }

    /// The transaction this reports on; `None` for a transaction refused before it was
    /// queued ([`TransactionReport::failed`]).
    pub fn id(&self) -> Option<TxId> {
        self.id
    }

    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients.iter().all(|r| r.result.is_ok())
    }

    /// The recipients that were delivered.
    pub fn delivered(&self) -> impl Iterator<Item = &Mailbox> {
        self.recipients
            .iter()
            .filter(|r| r.result.is_ok())
            .map(|r| &r.address)
    }
}
