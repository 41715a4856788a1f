//! A mail transaction's envelope and its outcome, one result per recipient
//! (RFC 5321 §3.3).

use crate::proto::error::{Error, Severity, UsageError};

use super::address::{EsmtpParam, Mailbox, ReversePath};
use super::command::CommandKind;
use super::dsn::{DsnError, EnvId, Notify, Orcpt, Ret};
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
#[derive(Clone, Debug, Eq)]
pub struct Envelope {
    from: ReversePath,
    to: Vec<Mailbox>,
    params: Vec<EsmtpParam>,
    size: Option<u64>,
    /// `size` was counted by the crate from the content it sends
    /// ([`Envelope::with_counted_size`]), not declared by the caller.
    size_counted: bool,
    smtputf8: bool,
    requiretls: bool,
    binarymime: bool,
    /// RFC 3461 `RET=` and `ENVID=` on MAIL.
    ret: Option<Ret>,
    envid: Option<EnvId>,
    /// RFC 3461 `NOTIFY=` and `ORCPT=` per recipient: as many as `to`, in its order.
    rcpt_dsn: Vec<RecipientDsn>,
}

/// Equal when everything sent for them is: whether the size was counted by the crate or
/// declared by the caller does not matter.
impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.from == other.from
            && self.to == other.to
            && self.params == other.params
            && self.size == other.size
            && self.smtputf8 == other.smtputf8
            && self.requiretls == other.requiretls
            && self.binarymime == other.binarymime
            && self.ret == other.ret
            && self.envid == other.envid
            && self.rcpt_dsn == other.rcpt_dsn
    }
}

/// The DSN parameters of one recipient's RCPT (RFC 3461 §4.1, §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RecipientDsn {
    notify: Option<Notify>,
    orcpt: Option<Orcpt>,
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
            rcpt_dsn: vec![RecipientDsn::default(); to.len()],
            to,
            ret: None,
            envid: None,
            params: Vec::new(),
            size: None,
            size_counted: false,
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
        self.size_counted = false;
        self
    }

    /// [`Envelope::with_size`] for a size the crate counted itself from the exact content
    /// it is about to send (a message in memory): BDAT may then frame the chunks ahead of
    /// their octets.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn with_counted_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self.size_counted = true;
        self
    }

    /// True when the size was counted by the crate ([`Envelope::with_counted_size`]).
    pub(crate) fn size_is_exact(&self) -> bool {
        self.size.is_some() && self.size_counted
    }

    /// Adds a MAIL parameter (`BODY=8BITMIME`, ...). `BODY=8BITMIME` is checked against
    /// the server's 8BITMIME (RFC 6152) before anything is sent.
    ///
    /// ```
    /// use smtp_courier::{Envelope, Error, UsageError, proto::EsmtpParam};
    /// let env = Envelope::new("a@example.org", ["b@example.net"])?;
    /// let env = env.with_param(EsmtpParam::body_8bitmime())?;
    /// assert_eq!(env.params(), [EsmtpParam::body_8bitmime()]);
    /// // SIZE has its own method, which also checks the server's limit.
    /// let err = env.with_param(EsmtpParam::size(1000)).unwrap_err();
    /// assert!(matches!(err, Error::Usage(UsageError::ManagedParam { method: "with_size", .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// [`UsageError::ManagedParam`] for `SIZE`, `SMTPUTF8`, `REQUIRETLS`, `RET` and
    /// `ENVID` (any case): the session sends them, after checking the server offers them,
    /// when the envelope asks with [`Envelope::with_size`], [`Envelope::with_smtputf8`],
    /// [`Envelope::with_requiretls`], [`Envelope::with_dsn_ret`] or
    /// [`Envelope::with_dsn_envid`]. Nothing is dropped silently.
    pub fn with_param(mut self, param: EsmtpParam) -> Result<Self, Error> {
        let managed = |keyword, method| UsageError::ManagedParam { keyword, method };
        // `EsmtpParam` keeps keywords upper-cased.
        match param.keyword() {
            "SIZE" => return Err(managed("SIZE", "with_size").into()),
            "SMTPUTF8" => return Err(managed("SMTPUTF8", "with_smtputf8").into()),
            "REQUIRETLS" => return Err(managed("REQUIRETLS", "with_requiretls").into()),
            // RFC 3461 §4: DSN parameters need the server's DSN, which the session checks.
            "RET" => return Err(managed("RET", "with_dsn_ret").into()),
            "ENVID" => return Err(managed("ENVID", "with_dsn_envid").into()),
            // The session must know: BINARYMIME changes the framing (BDAT only, RFC
            // 3030 §3), so it is kept as the envelope's flag and sent by the session.
            "BODY"
                if param
                    .value()
                    .is_some_and(|v| v.eq_ignore_ascii_case("BINARYMIME")) =>
            {
                self.binarymime = true;
                return Ok(self);
            }
            _ => {}
        }
        self.params.push(param);
        Ok(self)
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

    /// Asks for `RET=` on MAIL (RFC 3461 §4.3): a failure DSN returns the whole message
    /// (`FULL`) or only its headers (`HDRS`).
    ///
    /// Like every DSN parameter, it makes the transaction fail with
    /// [`Error::Extension`]`("DSN")` before anything is sent when the server does not
    /// offer DSN (RFC 3461 §4).
    pub fn with_dsn_ret(mut self, ret: Ret) -> Self {
        self.ret = Some(ret);
        self
    }

    /// Sets `ENVID=` on MAIL (RFC 3461 §4.4), sent xtext-encoded ([`EnvId::xtext`]): the
    /// identifier every DSN for this message reports back. Needs the server's DSN, as
    /// [`Envelope::with_dsn_ret`] says.
    pub fn with_dsn_envid(mut self, envid: EnvId) -> Self {
        self.envid = Some(envid);
        self
    }

    /// Sets `NOTIFY=` on the RCPT of every recipient (RFC 3461 §4.1), replacing any set
    /// before; [`Envelope::with_recipient_notify`] sets one recipient's. Needs the server's
    /// DSN, as [`Envelope::with_dsn_ret`] says.
    ///
    /// ```
    /// use smtp_courier::Envelope;
    /// use smtp_courier::proto::{EnvId, Notify, NotifyOn, Ret};
    /// let env = Envelope::new("a@example.org", ["b+x@example.net", "c@example.net"])?
    ///     .with_notify(Notify::On(NotifyOn::SUCCESS | NotifyOn::FAILURE))
    ///     .with_orcpt()?
    ///     .with_dsn_ret(Ret::Hdrs)
    ///     .with_dsn_envid(EnvId::new("batch=7").unwrap());
    /// let rcpt: Vec<String> = env.recipient_params(0).iter().map(|p| p.to_string()).collect();
    /// // ORCPT is xtext: "+" is "+2B".
    /// assert_eq!(rcpt, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b+2Bx@example.net"]);
    /// assert!(env.has_dsn());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_notify(mut self, notify: Notify) -> Self {
        for r in &mut self.rcpt_dsn {
            r.notify = Some(notify);
        }
        self
    }

    /// Sets `ORCPT=rfc822;ADDR` on the RCPT of every recipient, ADDR being that
    /// recipient's address, xtext-encoded (RFC 3461 §4.2, [`Orcpt::rfc822`]); replaces any
    /// set before. Needs the server's DSN, as [`Envelope::with_dsn_ret`] says.
    ///
    /// # Errors
    /// [`DsnError::TooLong`] for an address whose encoding exceeds RFC 3461's 500
    /// characters (only a long non-ASCII one can).
    pub fn with_orcpt(mut self) -> Result<Self, DsnError> {
        for (r, address) in self.rcpt_dsn.iter_mut().zip(&self.to) {
            r.orcpt = Some(Orcpt::rfc822(address)?);
        }
        Ok(self)
    }

    /// Sets `NOTIFY=` on the RCPT of recipient `index` (counting from 0, in the order
    /// given), replacing what [`Envelope::with_notify`] set for it.
    ///
    /// # Errors
    /// [`UsageError::NoSuchRecipient`] when there is no recipient `index`.
    pub fn with_recipient_notify(mut self, index: usize, notify: Notify) -> Result<Self, Error> {
        self.recipient_dsn_mut(index)?.notify = Some(notify);
        Ok(self)
    }

    /// Sets `ORCPT=` on the RCPT of recipient `index` (counting from 0): the original
    /// recipient, when the message is forwarded on behalf of another address.
    ///
    /// ```
    /// use smtp_courier::Envelope;
    /// use smtp_courier::proto::{Mailbox, Orcpt};
    /// let original: Mailbox = "old=name@example.org".parse()?;
    /// let env = Envelope::new("a@example.org", ["new@example.net"])?
    ///     .with_recipient_orcpt(0, Orcpt::rfc822(&original)?)?;
    /// assert_eq!(env.recipient_params(0)[0].to_string(), "ORCPT=rfc822;old+3Dname@example.org");
    /// assert!(env.with_recipient_orcpt(1, Orcpt::rfc822(&original)?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`UsageError::NoSuchRecipient`] when there is no recipient `index`.
    pub fn with_recipient_orcpt(mut self, index: usize, orcpt: Orcpt) -> Result<Self, Error> {
        self.recipient_dsn_mut(index)?.orcpt = Some(orcpt);
        Ok(self)
    }

    fn recipient_dsn_mut(&mut self, index: usize) -> Result<&mut RecipientDsn, Error> {
        let count = self.to.len();
        self.rcpt_dsn
            .get_mut(index)
            .ok_or(Error::Usage(UsageError::NoSuchRecipient { index, count }))
    }

    /// `RET=`, when asked for.
    pub fn dsn_ret(&self) -> Option<Ret> {
        self.ret
    }

    /// `ENVID=`, when set.
    pub fn dsn_envid(&self) -> Option<&EnvId> {
        self.envid.as_ref()
    }

    /// `NOTIFY=` of recipient `index`, when set.
    pub fn recipient_notify(&self, index: usize) -> Option<Notify> {
        self.rcpt_dsn.get(index).and_then(|r| r.notify)
    }

    /// `ORCPT=` of recipient `index`, when set.
    pub fn recipient_orcpt(&self, index: usize) -> Option<&Orcpt> {
        self.rcpt_dsn.get(index).and_then(|r| r.orcpt.as_ref())
    }

    /// The parameters of recipient `index`'s RCPT, as sent: `NOTIFY=`, then `ORCPT=`.
    pub fn recipient_params(&self, index: usize) -> Vec<EsmtpParam> {
        let Some(r) = self.rcpt_dsn.get(index) else {
            return Vec::new();
        };
        let notify = r.notify.map(EsmtpParam::from);
        let orcpt = r.orcpt.as_ref().map(EsmtpParam::from);
        notify.into_iter().chain(orcpt).collect()
    }

    /// True when any DSN parameter (RFC 3461) is set: `RET`, `ENVID`, or a recipient's
    /// `NOTIFY` or `ORCPT`. The server must then offer DSN.
    pub fn has_dsn(&self) -> bool {
        self.ret.is_some()
            || self.envid.is_some()
            || self
                .rcpt_dsn
                .iter()
                .any(|r| r.notify.is_some() || r.orcpt.is_some())
    }

    /// The same envelope with only the recipients at `indices` (ascending, each in
    /// range), each with its own parameters: one part of a message whose recipients are
    /// split over several transactions, or one domain's share of it for MX delivery.
    /// `None` when no index is in range.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn with_recipients_at(&self, indices: &[usize]) -> Option<Self> {
        let (to, rcpt_dsn): (Vec<Mailbox>, Vec<RecipientDsn>) = indices
            .iter()
            .filter_map(|&i| Some((self.to.get(i)?.clone(), self.rcpt_dsn.get(i)?.clone())))
            .unzip();
        if to.is_empty() {
            return None;
        }
        Some(Self {
            from: self.from.clone(),
            to,
            params: self.params.clone(),
            size: self.size,
            size_counted: self.size_counted,
            smtputf8: self.smtputf8,
            requiretls: self.requiretls,
            binarymime: self.binarymime,
            ret: self.ret,
            envid: self.envid.clone(),
            rcpt_dsn,
        })
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
#[must_use = "a recipient's result says whether the message reached it"]
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
///
/// Getting a report, even `Ok(report)` from [`Client::send`](crate::Client::send), does
/// **not** mean the message was delivered: a transaction that started always ends in a
/// report, and every recipient may have been refused in it (MAIL refused, the data
/// refused, the connection lost, a 421). Check it: [`TransactionReport::all_delivered`],
/// [`TransactionReport::is_failed`] (nothing delivered), or each recipient's
/// [`RecipientResult::status`].
///
/// ```
/// use smtp_courier::proto::{Reply, ReplyCode};
/// use smtp_courier::{Envelope, Error, RecipientStatus, TransactionReport};
///
/// let envelope = Envelope::new("a@example.org", ["b@example.net", "c@example.net"])?;
/// let refused = Error::Reply {
///     command: smtp_courier::proto::CommandKind::Mail,
///     reply: Reply::new(ReplyCode::new(451).unwrap(), vec!["4.3.0 try later".into()]),
/// };
/// let report = TransactionReport::failed(&envelope, refused);
/// // A report, yet nobody got the message:
/// assert!(report.is_failed());
/// assert!(!report.all_delivered());
/// assert_eq!(report.delivered_count(), 0);
/// for r in report.undelivered() {
///     // Transient: queue for a retry; Permanent: bounce.
///     assert_eq!(r.status(), RecipientStatus::Transient);
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use = "a report may say that nothing was delivered: check it"]
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

    /// True when the message was not sent because the connection could carry no more
    /// transactions (the server's LIMITS `MAILMAX`, RFC 9422 §4.1): nothing of it reached
    /// the server, and every recipient carries [`Error::ConnectionExhausted`]. Send it, as
    /// it is, on a new connection to the same server. For a message split over several
    /// transactions of which only some went, this is false and the recipients of the
    /// parts not sent carry that error.
    pub fn not_sent(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| matches!(r.result, Err(Error::ConnectionExhausted { .. })))
    }

    /// One report for a message whose recipients went in several transactions (the
    /// server's LIMITS, RFC 9422): `parts` are each transaction's recipient indices into
    /// `envelope` and its report, in the order sent.
    ///
    /// Every recipient's result is its part's, in the envelope's order; `data` is the
    /// final reply of the last part that got one; `error` is `None` when anyone was
    /// delivered, else the first transient error of the parts, else the first one; `id`
    /// is the first part's.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn merge(envelope: &Envelope, parts: Vec<(Vec<usize>, Self)>) -> Self {
        let mut slots: Vec<Option<RecipientResult>> = vec![None; envelope.recipients().len()];
        let (mut data, mut id, mut errors) = (None, None, Vec::new());
        let mut turned_away = !parts.is_empty();
        for (indices, report) in parts {
            id = id.or(report.id);
            data = report.data.or(data);
            errors.extend(report.error);
            turned_away &= report.turned_away;
            for (i, r) in indices.into_iter().zip(report.recipients) {
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        let recipients: Vec<RecipientResult> = slots
            .into_iter()
            .zip(envelope.recipients())
            .map(|(slot, address)| {
                slot.unwrap_or_else(|| RecipientResult {
                    address: address.clone(),
                    result: Err(Error::Closed { command: None }),
                    content_command: CommandKind::DataEnd,
                })
            })
            .collect();
        let error = if recipients.iter().any(|r| r.result.is_ok()) {
            None
        } else {
            errors
                .iter()
                .find(|e| e.is_transient())
                .or_else(|| errors.first())
                .cloned()
                .or(Some(Error::Closed { command: None }))
        };
        Self {
            recipients,
            data,
            error,
            id,
            turned_away,
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

    /// True when every recipient was delivered (the server took responsibility for the
    /// message for each of them).
    pub fn all_delivered(&self) -> bool {
        self.recipients.iter().all(|r| r.result.is_ok())
    }

    /// True when the message was delivered to nobody: the transaction failed as a whole
    /// ([`TransactionReport::error`] says why) and every recipient carries an error.
    pub fn is_failed(&self) -> bool {
        self.delivered_count() == 0
    }

    /// How many recipients were delivered.
    pub fn delivered_count(&self) -> usize {
        self.recipients.iter().filter(|r| r.result.is_ok()).count()
    }

    /// The recipients that were delivered.
    pub fn delivered(&self) -> impl Iterator<Item = &Mailbox> {
        self.recipients
            .iter()
            .filter(|r| r.result.is_ok())
            .map(|r| &r.address)
    }

    /// The recipients that were not delivered, each with its error (see
    /// [`RecipientResult::status`]: retry or bounce).
    pub fn undelivered(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| r.result.is_err())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn with_param_refuses_managed_parameters_and_names_the_method() {
        let env = Envelope::new("a@example.org", ["b@example.net"]).unwrap();
        for (keyword, value, method) in [
            ("SIZE", Some("1000"), "with_size"),
            ("size", Some("1"), "with_size"),
            ("SMTPUTF8", None, "with_smtputf8"),
            ("RequireTLS", None, "with_requiretls"),
        ] {
            let param = EsmtpParam::new(keyword, value).unwrap();
            let err = env.clone().with_param(param).unwrap_err();
            assert!(err.to_string().contains(method), "{err}");
            assert!(err.is_permanent() && err.connection_usable());
            assert!(
                matches!(err, Error::Usage(UsageError::ManagedParam { method: m, .. }) if m == method),
                "{err:?}"
            );
        }
        // Twins: BODY=8BITMIME and an unknown parameter are kept, in order.
        let env = env
            .with_param(EsmtpParam::body_8bitmime())
            .and_then(|e| e.with_param(EsmtpParam::new("X-TRACE", Some("7")).unwrap()))
            .unwrap();
        let shown: Vec<String> = env.params().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["BODY=8BITMIME", "X-TRACE=7"]);
    }

    #[test]
    fn report_says_plainly_whether_anything_was_delivered() {
        use crate::proto::ReplyCode;
        let reply =
            |code, text: &'static str| Reply::new(ReplyCode::new(code).unwrap(), vec![text.into()]);
        let env = Envelope::new("a@example.org", ["b@example.net", "c@example.net"]).unwrap();
        let refused = Error::Reply {
            command: CommandKind::Rcpt,
            reply: reply(550, "no such user"),
        };
        // Nothing delivered: a report all the same, but a failed one.
        let none = TransactionReport::failed(&env, refused.clone());
        assert!(none.is_failed() && !none.all_delivered());
        assert_eq!(none.delivered_count(), 0);
        assert_eq!(none.undelivered().count(), 2);
        // One of two delivered: neither failed nor delivered to all.
        let mut some = none.clone();
        some.recipients[0].result = Ok(reply(250, "queued"));
        some.error = None;
        assert!(!some.is_failed() && !some.all_delivered());
        assert_eq!(some.delivered_count(), 1);
        assert_eq!(
            some.delivered().map(Mailbox::as_str).collect::<Vec<_>>(),
            ["b@example.net"]
        );
        let left: Vec<&str> = some.undelivered().map(|r| r.address.as_str()).collect();
        assert_eq!(left, ["c@example.net"]);
        // Both delivered.
        let mut all = some;
        all.recipients[1].result = Ok(reply(250, "queued"));
        assert!(!all.is_failed() && all.all_delivered());
        assert_eq!(all.undelivered().count(), 0);
    }
}
