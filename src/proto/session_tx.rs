//! Mail transactions in the session: what each MAIL, RCPT, DATA and end-of-data reply
//! means for the recipients, what to send next without PIPELINING, and the report.
//!
//! A child module of `session`, so that it reaches the session's state.

use crate::error::Error;
use crate::error::ProtocolError;
use crate::proto::body::DotStuffer;
use crate::proto::command::Command;
use crate::proto::reply::Reply;
use crate::proto::transaction::{Envelope, RecipientResult, TransactionReport};
use crate::proto::{EsmtpParam, ReplyCode};

use super::{Event, Expect, Session};

/// A transaction in progress.
#[derive(Debug)]
pub(super) struct Tx {
    pub(super) envelope: Envelope,
    pub(super) mail_params: Vec<EsmtpParam>,
    /// `None` until MAIL is answered; `Some(Err)` when it was refused.
    pub(super) mail: Option<Result<(), Error>>,
    /// Per recipient: `None` until answered, `Some(Ok)` accepted, `Some(Err)` refused.
    pub(super) rcpt: Vec<Option<Result<(), Error>>>,
    /// The refusal of DATA or of the data, for the accepted recipients.
    pub(super) data_error: Option<Error>,
    pub(super) data_reply: Option<Reply>,
    pub(super) body: Option<DotStuffer>,
}

impl Tx {
    pub(super) fn accepted(&self) -> usize {
        self.rcpt
            .iter()
            .filter(|r| matches!(r, Some(Ok(()))))
            .count()
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
            .map(|(address, rcpt)| {
                let result = match (&mail_err, rcpt) {
                    (Some(e), _) => Err(e.clone()),
                    (None, Some(Err(e))) => Err(e.clone()),
                    (None, Some(Ok(()))) => match (&self.data_error, &self.data_reply) {
                        (Some(e), _) => Err(e.clone()),
                        (None, Some(r)) if lost.is_none() => Ok(r.clone()),
                        _ => Err(undecided()),
                    },
                    (None, None) => Err(undecided()),
                };
                RecipientResult {
                    address: address.clone(),
                    result,
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
        } else {
            Some(undecided())
        };
        TransactionReport {
            recipients,
            data: self.data_reply,
            error,
        }
    }
}

impl Session {
    pub(super) fn handle_tx_reply(&mut self, expect: Expect, reply: Reply) {
        let code = reply.code();
        let Some(command) = expect.command() else {
            return;
        };
        let wants_354 = expect == Expect::Data;
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
        let Some(tx) = self.tx.as_mut() else {
            self.fail_protocol(Some(command), ProtocolError::Unsolicited);
            return;
        };
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
        let mut finished = false;
        match expect {
            Expect::Mail => {
                let failed = outcome.is_err();
                tx.mail = Some(outcome);
                if !pipelining {
                    match tx.envelope.recipients().first() {
                        Some(first) if !failed => {
                            next =
                                Some((Command::Rcpt(first.clone(), Vec::new()), Expect::Rcpt(0)));
                        }
                        _ => finished = true,
                    }
                }
            }
            Expect::Rcpt(i) => {
                if let Some(slot) = tx.rcpt.get_mut(i) {
                    *slot = Some(outcome);
                }
                if !pipelining {
                    let following = i.saturating_add(1);
                    if let Some(rcpt) = tx.envelope.recipients().get(following) {
                        next = Some((
                            Command::Rcpt(rcpt.clone(), Vec::new()),
                            Expect::Rcpt(following),
                        ));
                    } else if tx.accepted() > 0 {
                        next = Some((Command::Data, Expect::Data));
                    } else {
                        // No recipient accepted: no DATA, no message data.
                        finished = true;
                    }
                }
            }
            Expect::Data => match outcome {
                Ok(()) if tx.mail_ok() && tx.accepted() > 0 => {
                    tx.body = Some(DotStuffer::new(self.config.line_endings));
                    self.events.push_back(Event::SendBody);
                }
                Ok(()) => {
                    // RFC 2920 §3.1: the server should have refused DATA with no valid
                    // recipient; it sent 354, so end the (empty) data at once.
                    let end = Expect::DataEnd { discard: true };
                    if self.may_send(end) {
                        self.out.extend_from_slice(b".\r\n");
                        self.expect_reply(end);
                    }
                }
                Err(e) => {
                    tx.data_error = Some(e);
                    finished = true;
                }
            },
            Expect::DataEnd { discard } => {
                if !discard {
                    match outcome {
                        Ok(()) => tx.data_reply = Some(reply),
                        Err(e) => {
                            tx.data_reply = Some(reply);
                            tx.data_error = Some(e);
                        }
                    }
                }
                finished = true;
            }
            _ => {}
        }
        if let Some((cmd, exp)) = next {
            self.send(&cmd, exp);
        }
        if finished {
            self.finish_tx();
        }
    }

    pub(super) fn finish_tx(&mut self) {
        if let Some(tx) = self.tx.take() {
            let report = tx.into_report(None);
            if report.error.is_some() {
                // RFC 5321 §4.1.1.5: reset the failed transaction before the next MAIL.
                self.need_rset = true;
            }
            self.events.push_back(Event::Transaction(report));
        }
    }
}
