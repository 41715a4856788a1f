//! Mail transactions in the session: the queue of transactions in flight, what each
//! MAIL, RCPT, DATA, end-of-data and BDAT reply means for the recipients, what to send
//! next without PIPELINING, and the report.
//!
//! A child module of `session`, so that it reaches the session's state.

use std::collections::VecDeque;

use crate::proto::body::DotStuffer;
use crate::proto::capability::Capabilities;
use crate::proto::command::Command;
use crate::proto::error::{Error, ProtocolError, UsageError};
use crate::proto::reply::Reply;
use crate::proto::transaction::{Envelope, RecipientResult, TransactionReport, TxId};
use crate::proto::{CommandKind, EsmtpParam, ReplyCode};

use super::body_flow::{Chunker, Framing};
use super::{Event, Expect, Session, State};

/// A transaction in flight.
#[derive(Debug)]
pub(super) struct Tx {
    pub(super) id: TxId,
    pub(super) envelope: Envelope,
    pub(super) mail_params: Vec<EsmtpParam>,
    /// False while MAIL waits for the reply to a lock-step RSET.
    pub(super) mail_sent: bool,
    /// `None` until MAIL is answered; `Some(Err)` when it was refused.
    pub(super) mail: Option<Result<(), Error>>,
    /// Per recipient: `None` until answered, `Some(Ok)` accepted, `Some(Err)` refused.
    pub(super) rcpt: Vec<Option<Result<(), Error>>>,
    /// The refusal of DATA or of the data, for the accepted recipients.
    pub(super) data_error: Option<Error>,
    pub(super) data_reply: Option<Reply>,
    /// The content goes by BDAT (RFC 3030) rather than DATA.
    pub(super) bdat: bool,
    /// LMTP (RFC 2033 §4.2): each accepted recipient's own reply after the message.
    pub(super) lmtp: Option<Vec<Option<Result<Reply, Error>>>>,
    pub(super) framing: Framing,
}
impl Tx {
    /// True while the driver is to stream content (after [`Event::SendBody`]).
    pub(super) fn body_open(&self) -> bool {
        matches!(self.framing, Framing::Data(_) | Framing::Bdat(_))
    }

    /// True when the content is counted: MAIL accepted and a recipient too.
    fn content_counts(&self) -> bool {
        self.mail_ok() && self.accepted() > 0
    }

    pub(super) fn accepted(&self) -> usize {
        self.rcpt
            .iter()
            .filter(|r| matches!(r, Some(Ok(()))))
            .count()
    }

    /// RCPT for recipient `i`, with its own parameters (RFC 3461 NOTIFY and ORCPT).
    fn rcpt_command(&self, i: usize) -> Option<Command> {
        let rcpt = self.envelope.recipients().get(i)?;
        Some(Command::Rcpt(
            rcpt.clone(),
            self.envelope.recipient_params(i),
        ))
    }

    pub(super) fn mail_ok(&self) -> bool {
        matches!(self.mail, Some(Ok(())))
    }

    /// Builds the report; `lost` is the error for every recipient still undecided.
    pub(super) fn into_report(self, lost: Option<Error>) -> TransactionReport {
        let mail_err = match &self.mail {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        };
        let undecided = || -> Error {
            lost.clone()
                .or_else(|| self.data_error.clone())
                .unwrap_or(Error::Closed { command: None })
        };
        let recipients: Vec<RecipientResult> = self
            .envelope
            .recipients()
            .iter()
            .zip(&self.rcpt)
            .enumerate()
            .map(|(i, (address, rcpt))| {
                let own = self
                    .lmtp
                    .as_ref()
                    .map(|l| l.get(i).and_then(Option::as_ref));
                let result = match (&mail_err, rcpt) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Some(Err(e))) => Err(e.clone()),
                    (None, Some(Ok(()))) => match (&self.data_error, own, &self.data_reply) {
                        (Some(e), _, _) => Err(e.clone()),
                        // LMTP: the recipient's own reply decided it.
                        (None, Some(Some(r)), _) => r.clone(),
                        (None, None, Some(r)) if lost.is_none() => Ok(r.clone()),
                        _ => Err(undecided()),
                    },
                    (None, None) => Err(undecided()),
                };
                RecipientResult {
                    address: address.clone(),
                    result,
                    content_command: if self.bdat {
                        CommandKind::Bdat
                    } else {
                        CommandKind::DataEnd
                    },
                }
            })
            .collect();
        let all_answered = self.rcpt.iter().all(Option::is_some);
        let error = if recipients.iter().any(|r| r.result.is_ok()) {
            None
        } else if let Some(e) = mail_err {
            Some(e)
        } else if self.accepted() == 0 && all_answered {
            // Every recipient refused: the transaction error is the first transient
            // refusal (someone may still get the message later), else the first one.
            let errs = || recipients.iter().filter_map(|r| r.result.as_ref().err());
            errs()
                .find(|e| e.is_transient())
                .or_else(|| errs().next())
                .cloned()
        } else if let Some(e) = self.data_error.clone() {
            Some(e)
        } else if lost.is_none() && self.lmtp.is_some() {
            // LMTP: every accepted recipient refused after the message; as for RCPT, the
            // first transient refusal, else the first one.
            let errs = || recipients.iter().filter_map(|r| r.result.as_ref().err());
            errs()
                .find(|e| e.is_transient())
                .or_else(|| errs().next())
                .cloned()
        } else {
            Some(undecided())
        };
        // MAIL got 503 (bad sequence) and nothing else was accepted: the server was still
        // in the state an earlier transaction left (RFC 5321 §4.1.4).
        let turned_away = matches!(&self.mail, Some(Err(e)) if e.code() == Some(ReplyCode::BAD_SEQUENCE))
            && !self.rcpt.iter().any(|r| matches!(r, Some(Ok(()))))
            && self.data_reply.is_none();
        TransactionReport {
            recipients,
            data: self.data_reply,
            error,
            id: Some(self.id),
            turned_away,
        }
    }
}

impl Session {
    /// Queues a transaction and returns its id: RSET first when the transaction before
    /// it failed, MAIL, and with PIPELINING every RCPT in the same group, then DATA
    /// (RFC 2920 §3.1: DATA ends a group) or, with CHUNKING, the content as BDAT chunks
    /// as soon as the driver hands it over. Without PIPELINING each command waits for the
    /// previous reply, and each BDAT chunk for the reply to the one before (RFC 3030 §4).
    /// Ends with [`Event::Transaction`].
    ///
    /// With PIPELINING and CHUNKING, when [`Event::SendBody`] comes depends on the
    /// connection: no message content goes out by BDAT before the server has accepted a
    /// MAIL since the last EHLO and the last AUTH. For the first transaction (and the
    /// first after STARTTLS or AUTH) MAIL and every RCPT go in one group, and
    /// [`Event::SendBody`] comes once MAIL's `250` and every RCPT's reply were read, with
    /// at least one recipient accepted; when MAIL or every RCPT is refused no chunk is
    /// sent at all. Once a MAIL was accepted, [`Event::SendBody`] comes at once and the
    /// first chunk leaves with MAIL and the RCPTs: one round trip per message. The reason:
    /// a server refusing a command for a state it wants changed first may not read the
    /// chunk of a refused BDAT, though RFC 3030 §2 says it must: Postfix 3.7 before
    /// STARTTLS on a submission port answers MAIL, RCPT and BDAT with `530 5.7.0 Must
    /// issue a STARTTLS command first` and then reads the message text as SMTP commands
    /// (command injection, and replies out of step with the client's commands). A `250`
    /// to MAIL shows the server takes transactions in its current state; a `530` comes
    /// from missing TLS or AUTH, so STARTTLS and AUTH (and the EHLO after them) start
    /// over.
    ///
    /// With PIPELINING and CHUNKING, the next transaction may be queued as soon as the
    /// content of every transaction before it is complete ([`Session::finish_body`]):
    /// RFC 2920 §3.1 lets MAIL follow BDAT in the same group. Whether RSET goes before
    /// MAIL is decided now, from what is known now: a failure still in flight is left to
    /// the caller (its report, and a `503` to this MAIL, say so).
    ///
    /// With BDAT, content is never dot-stuffed; line endings still become CRLF unless the
    /// envelope declares BINARYMIME ([`Envelope::with_binarymime`]).
    ///
    /// # Errors
    /// Nothing is sent and the error applies to every recipient: the sticky error, a usage
    /// error (a transaction in flight that this one may not follow), [`Error::TooLarge`]
    /// when the declared size exceeds the server's SIZE limit (RFC 1870),
    /// [`Error::Extension`] when the envelope needs SMTPUTF8 (RFC 6531 §3.4), 8BITMIME,
    /// REQUIRETLS, BINARYMIME (RFC 3030 §3: CHUNKING and BINARYMIME both offered, and
    /// chunking not switched off) or DSN (RFC 3461 §4: any of RET, ENVID, NOTIFY and
    /// ORCPT) and the server lacks it, or the error of the last AUTH
    /// when it failed (and none succeeded since).
    pub fn mail(&mut self, envelope: Envelope) -> Result<TxId, Error> {
        self.check_mail_ready()?;
        if let Some(e) = &self.auth_failure {
            // No mail after a failed AUTH: it would go out unauthenticated.
            return Err(e.clone());
        }
        let params = self.mail_params(&envelope)?;
        let id = TxId(self.next_tx);
        self.next_tx = self.next_tx.wrapping_add(1);
        let pipelining = self.pipelining();
        let bdat = self.chunking();
        let lines = (!envelope.is_binarymime()).then_some(self.config.line_endings);
        // The first chunk rides with MAIL only once this server state accepted a MAIL.
        let body_now = bdat && pipelining && self.mail_accepted;
        let framing = if body_now {
            Framing::Bdat(Chunker::new(
                self.config.chunk_size,
                lines,
                false,
                envelope.size(),
                envelope.size_is_exact(),
            ))
        } else {
            Framing::NotYet
        };
        let n = envelope.recipients().len();
        self.txs.push_back(Tx {
            id,
            envelope,
            mail_params: params,
            mail_sent: false,
            mail: None,
            rcpt: (0..n).map(|_| None).collect(),
            data_error: None,
            data_reply: None,
            bdat,
            lmtp: self.config.lmtp.then(|| (0..n).map(|_| None).collect()),
            framing,
        });
        if std::mem::take(&mut self.need_rset) {
            // RFC 5321 §4.1.1.5: reset the failed transaction before the next MAIL.
            self.send(&Command::Rset, Expect::Rset { user: false });
            if !pipelining {
                // RFC 2920 §3: no grouping without PIPELINING; MAIL follows the RSET reply.
                return Ok(id);
            }
        }
        self.send_mail(id);
        if pipelining {
            let rcpts: Vec<_> = self
                .txs
                .back()
                .map(|t| (0..n).filter_map(|i| t.rcpt_command(i)).collect())
                .unwrap_or_default();
            for (i, rcpt) in rcpts.into_iter().enumerate() {
                self.send(&rcpt, Expect::Rcpt(id, i));
            }
            if body_now {
                // RFC 3030 §4 / RFC 2920 §3.1: the first chunk may follow the RCPTs in
                // the same group.
                self.events.push_back(Event::SendBody(id));
            } else if bdat {
                // No MAIL accepted yet in this server state: the content waits for the
                // replies to MAIL and RCPT (see above).
            } else {
                self.send(&Command::Data, Expect::Data(id));
            }
        }
        Ok(id)
    }

    /// The MAIL parameters for `envelope`, after checking it against the server.
    fn mail_params(&self, envelope: &Envelope) -> Result<Vec<EsmtpParam>, Error> {
        let no_caps = Capabilities::default();
        let caps = self.caps.as_ref().unwrap_or(&no_caps);
        let mut params = Vec::new();
        if let (Some(size), Some(limit)) = (envelope.size(), caps.size()) {
            if let Some(limit) = limit.filter(|l| size > *l) {
                return Err(Error::TooLarge { size, limit });
            }
            // RFC 3030 §3 keeps SIZE with BDAT: the octets of the message as sent.
            params.push(EsmtpParam::size(size));
        }
        if envelope.needs_smtputf8() {
            // RFC 6531 §3.4: a non-ASCII envelope needs a server that offers SMTPUTF8.
            if !caps.smtputf8() {
                return Err(Error::Extension("SMTPUTF8"));
            }
            params.push(EsmtpParam::smtputf8());
        }
        let eight_bit = envelope
            .params()
            .iter()
            .any(|p| p.keyword() == "BODY" && p.value() == Some("8BITMIME"));
        if eight_bit && !caps.eight_bit_mime() {
            // RFC 6152 §3: BODY=8BITMIME only to a server that offers 8BITMIME.
            return Err(Error::Extension("8BITMIME"));
        }
        if envelope.is_binarymime() {
            // RFC 3030 §3: BINARYMIME data can only go by BDAT, to a server offering both.
            if !self.chunking() {
                return Err(Error::Extension("CHUNKING"));
            }
            if !caps.binarymime() {
                return Err(Error::Extension("BINARYMIME"));
            }
        }
        if envelope.requires_tls() {
            // RFC 8689 §4.1: only over TLS with a verified certificate, to a server that
            // offers REQUIRETLS.
            if !self.is_tls_verified() {
                return Err(Error::Extension("REQUIRETLS (needs verified TLS)"));
            }
            if !caps.requiretls() {
                return Err(Error::Extension("REQUIRETLS"));
            }
        }
        if envelope.has_dsn() && !caps.dsn() {
            // RFC 3461 §4: RET, ENVID, NOTIFY and ORCPT only to a server that offers DSN.
            return Err(Error::Extension("DSN"));
        }
        params.extend(envelope.params().iter().cloned());
        if envelope.is_binarymime() {
            params.push(EsmtpParam::new("BODY", Some("BINARYMIME")).map_err(Error::from)?);
        }
        if envelope.requires_tls() {
            params.push(EsmtpParam::new("REQUIRETLS", None).map_err(Error::from)?);
        }
        params.extend(envelope.dsn_ret().map(EsmtpParam::from));
        params.extend(envelope.dsn_envid().map(EsmtpParam::from));
        Ok(params)
    }

    /// Like `check_ready`, but a MAIL may follow transactions in flight when they use
    /// BDAT over PIPELINING and their content is complete (RFC 2920 §3.1).
    fn check_mail_ready(&self) -> Result<(), Error> {
        if self.txs.is_empty() {
            return self.check_ready();
        }
        let may_follow = self.pipelining()
            && self.chunking()
            && self
                .txs
                .iter()
                .all(|t| t.bdat && t.mail_sent && matches!(t.framing, Framing::Closed));
        if self.unsolicited_421 || !may_follow || !matches!(self.state, State::Ready) {
            // The same answer as for any other command.
            return match &self.state {
                State::Poisoned(e) => Err(e.clone()),
                State::Closing => Err(Error::Closed { command: None }),
                _ if self.unsolicited_421 => self.check_ready(),
                _ => Err(UsageError::InvalidState("a transaction is in progress").into()),
            };
        }
        Ok(())
    }

    /// True when a transaction may be queued while others are in flight: the server
    /// offers PIPELINING and CHUNKING and both are on (RFC 2920 §3.1 lets MAIL follow
    /// BDAT in one group; never past a DATA before its `354`).
    pub fn can_queue_transactions(&self) -> bool {
        self.pipelining() && self.chunking()
    }

    /// RSET goes before the next MAIL whatever the last transaction's outcome: for a
    /// driver that sends a transaction again after the server turned it away.
    pub fn reset_before_next_mail(&mut self) {
        self.need_rset = true;
    }

    pub(super) fn pipelining(&self) -> bool {
        self.config.pipelining && self.caps.as_ref().is_some_and(Capabilities::pipelining)
    }

    /// True when message content goes by BDAT: CHUNKING offered and not switched off.
    pub(super) fn chunking(&self) -> bool {
        self.config.chunking && self.caps.as_ref().is_some_and(Capabilities::chunking)
    }

    fn send_mail(&mut self, id: TxId) {
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return;
        };
        tx.mail_sent = true;
        // The parameters go into the command and come back after it is encoded: lent,
        // not copied.
        let params = std::mem::take(&mut tx.mail_params);
        let mail = Command::Mail(tx.envelope.from().clone(), params);
        self.send(&mail, Expect::Mail(id));
        if let (Command::Mail(_, params), Some(tx)) =
            (mail, self.txs.iter_mut().find(|t| t.id == id))
        {
            tx.mail_params = params;
        }
    }

    /// The reply to the RSET the session sent before a transaction. Lock-step: MAIL was
    /// held back for it, and goes now; its own reply decides the transaction, whatever
    /// RSET got. With PIPELINING, MAIL already left and nothing changes.
    pub(super) fn handle_lock_step_rset(&mut self, reply: &Reply) {
        let Some(id) = self.txs.iter().find(|t| !t.mail_sent).map(|t| t.id) else {
            return;
        };
        if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
            // RFC 5321 §3.8: 421, the server is closing; MAIL would be wasted. The
            // transaction ends with this reply for every recipient (transient).
            if let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) {
                tx.mail_sent = true;
                tx.mail = Some(Err(Error::Reply {
                    command: CommandKind::Rset,
                    reply: reply.clone(),
                }));
                tx.framing = Framing::Closed;
            }
            self.maybe_finish(id);
        } else {
            self.send_mail(id);
        }
    }

    pub(super) fn handle_tx_reply(&mut self, expect: Expect, reply: Reply) {
        let code = reply.code();
        let (Some(command), Some(id)) = (expect.command(), expect.tx()) else {
            return;
        };
        let wants_354 = matches!(expect, Expect::Data(_));
        let unexpected = if wants_354 {
            code.is_positive_completion()
        } else {
            code.first_digit() == 3
        };
        if unexpected {
            self.fail_protocol(Some(command), ProtocolError::UnexpectedCode(code.as_u16()));
            return;
        }
        let pipelining = self.pipelining();
        let chunk_size = self.config.chunk_size;
        let line_endings = self.config.line_endings;
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            self.fail_protocol(Some(command), ProtocolError::Unsolicited);
            return;
        };
        let reply_for_lmtp = tx.lmtp.is_some().then(|| reply.clone());
        let ok = code.is_positive_completion() || (wants_354 && code == ReplyCode::START_DATA);
        let outcome = if ok {
            Ok(())
        } else {
            Err(Error::Reply {
                command,
                reply: reply.clone(),
            })
        };
        let mut next: Option<(Command, Expect)> = None;
        let mut chunk_ok = false;
        // LMTP: this reply after the message is for the `nth` accepted recipient.
        let mut lmtp: Option<(usize, bool)> = None;
        match expect {
            Expect::Mail(_) => {
                let failed = outcome.is_err();
                tx.mail = Some(outcome);
                if !failed {
                    // This server state takes transactions: later chunks may ride.
                    self.mail_accepted = true;
                }
                if failed && tx.bdat {
                    // No transaction on the server: no more chunks of it.
                    tx.framing = Framing::Closed;
                }
                if !pipelining
                    && !failed
                    && let Some(first) = tx.rcpt_command(0)
                {
                    next = Some((first, Expect::Rcpt(id, 0)));
                }
            }
            Expect::Rcpt(_, i) => {
                if let Some(slot) = tx.rcpt.get_mut(i) {
                    *slot = Some(outcome);
                }
                let all_answered = tx.rcpt.iter().all(Option::is_some);
                if pipelining {
                    if tx.bdat && all_answered && tx.accepted() == 0 {
                        // Every recipient refused: the chunks already sent are answered
                        // and discarded, and no more go.
                        tx.framing = Framing::Closed;
                    } else if tx.bdat
                        && all_answered
                        && tx.mail_ok()
                        && matches!(tx.framing, Framing::NotYet)
                    {
                        // The first transaction in this server state: MAIL and a
                        // recipient were accepted, so the content may go now.
                        let lines = (!tx.envelope.is_binarymime()).then_some(line_endings);
                        let size = tx.envelope.size();
                        let exact = tx.envelope.size_is_exact();
                        tx.framing =
                            Framing::Bdat(Chunker::new(chunk_size, lines, false, size, exact));
                        self.events.push_back(Event::SendBody(id));
                    }
                } else {
                    let following = i.saturating_add(1);
                    if let Some(rcpt) = tx.rcpt_command(following) {
                        next = Some((rcpt, Expect::Rcpt(id, following)));
                    } else if tx.accepted() > 0 && tx.bdat {
                        // RFC 3030 §4: without PIPELINING, chunks follow the RCPT replies.
                        let lines = (!tx.envelope.is_binarymime()).then_some(line_endings);
                        let size = tx.envelope.size();
                        tx.framing =
                            Framing::Bdat(Chunker::new(chunk_size, lines, true, size, false));
                        self.events.push_back(Event::SendBody(id));
                    } else if tx.accepted() > 0 {
                        next = Some((Command::Data, Expect::Data(id)));
                    }
                    // No recipient accepted: no DATA, no message data.
                }
            }
            Expect::Data(_) => match outcome {
                Ok(()) if tx.content_counts() => {
                    tx.framing = Framing::Data(DotStuffer::new(line_endings));
                    self.events.push_back(Event::SendBody(id));
                }
                Ok(()) => {
                    // RFC 2920 §3.1: the server should have refused DATA with no valid
                    // recipient; it sent 354, so end the (empty) data at once.
                    let end = Expect::DataEnd { id, discard: true };
                    if self.may_send(end) {
                        self.out.extend_from_slice(b".\r\n");
                        self.expect_reply(end);
                    }
                }
                Err(e) => tx.data_error = Some(e),
            },
            Expect::DataEnd { discard: false, .. } if tx.lmtp.is_some() => {
                lmtp = Some((0, false));
            }
            Expect::DataEnd { discard: false, .. } => {
                if let Err(e) = outcome {
                    tx.data_error = Some(e);
                }
                tx.data_reply = Some(reply);
            }
            Expect::LmtpData { nth, bdat, .. } => lmtp = Some((nth, bdat)),
            Expect::Bdat { last, .. } => {
                // RFC 3030 §2: the reply to a chunk other than the last decides nothing
                // by itself; the reply to LAST is the message's final reply. A chunk sent
                // when MAIL or every RCPT had failed is answered but counts for nothing.
                let counts = tx.content_counts() && tx.data_error.is_none();
                match outcome {
                    // LMTP: the first of one reply per accepted recipient (RFC 2033 §4.2).
                    _ if last && counts && tx.lmtp.is_some() => lmtp = Some((0, true)),
                    Ok(()) if last && counts => tx.data_reply = Some(reply),
                    Ok(()) => chunk_ok = !last,
                    Err(e) => {
                        if counts {
                            tx.data_reply = Some(reply);
                            tx.data_error = Some(e);
                        }
                        // RFC 3030 §2: after a 4yz/5yz to a chunk, no further chunk.
                        tx.framing = Framing::Closed;
                    }
                }
            }
            _ => {}
        }
        if let Some((cmd, exp)) = next {
            self.send(&cmd, exp);
        }
        if let (Some((nth, bdat)), Some(reply)) = (lmtp, reply_for_lmtp) {
            self.handle_lmtp_reply(id, nth, bdat, reply);
        }
        if chunk_ok {
            self.chunk_answered(id);
        }
        self.maybe_finish(id);
    }

    /// LMTP (RFC 2033 §4.2): after the message, one reply per accepted recipient, in RCPT
    /// order. The first one's arrival says how many follow; they answer a command already
    /// sent (its bytes are written: its reply came), so they are awaited next, before
    /// anything queued since.
    fn handle_lmtp_reply(&mut self, id: TxId, nth: usize, bdat: bool, reply: Reply) {
        let command = if bdat {
            CommandKind::Bdat
        } else {
            CommandKind::DataEnd
        };
        let Some(tx) = self.txs.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let accepted: Vec<usize> = tx
            .rcpt
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Some(Ok(()))))
            .map(|(i, _)| i)
            .collect();
        let result = if reply.code().is_positive_completion() {
            Ok(reply.clone())
        } else {
            Err(Error::Reply {
                command,
                reply: reply.clone(),
            })
        };
        if let (Some(slots), Some(&i)) = (tx.lmtp.as_mut(), accepted.get(nth))
            && let Some(slot) = slots.get_mut(i)
        {
            *slot = Some(result);
        }
        // The report's `data` is the last of these replies.
        tx.data_reply = Some(reply);
        if nth == 0 {
            let more = accepted.len().saturating_sub(1);
            for k in (1..=more).rev() {
                self.expect
                    .push_front(Expect::LmtpData { id, nth: k, bdat });
            }
        }
    }

    /// Ends transaction `id` when nothing more of it is due: every reply read, and no
    /// content still to come.
    pub(super) fn maybe_finish(&mut self, id: TxId) {
        if self.quit_only {
            // RFC 5321 §3.8: the server is closing; `closed_by_server` ends every
            // transaction with its 421, the undecided recipients included.
            return;
        }
        let Some(pos) = self.txs.iter().position(|t| t.id == id) else {
            return;
        };
        let waiting = self
            .txs
            .get(pos)
            .is_none_or(|t| !t.mail_sent || t.body_open());
        if waiting || self.expect.iter().any(|e| e.tx() == Some(id)) {
            return;
        }
        let Some(tx) = self.txs.remove(pos) else {
            return;
        };
        let report = tx.into_report(None);
        if report.error.is_some() && self.txs.is_empty() {
            // RFC 5321 §4.1.1.5: reset the failed transaction before the next MAIL. A
            // transaction queued after it decides instead: the server's state is what the
            // last transaction left.
            self.need_rset = true;
        }
        self.events.push_back(Event::Transaction(id, report));
    }

    /// Drains every transaction, oldest first (for `abort`).
    pub(super) fn take_transactions(&mut self) -> VecDeque<Tx> {
        std::mem::take(&mut self.txs)
    }
}
