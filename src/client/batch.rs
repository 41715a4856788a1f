//! Many messages over one connection, with a window of transactions in flight.

use std::collections::{HashSet, VecDeque};
use std::ops::ControlFlow::{Break, Continue};

use tokio::io::{AsyncRead, AsyncWrite};

use super::Client;
use crate::proto::body::{CrlfText, LineEndings, check_line_endings, normalized_len};
use crate::proto::error::Error;
use crate::proto::{Envelope, Event, TransactionReport, TxId};

/// One transaction of a batch: a message, or one part of a message whose recipients the
/// server's LIMITS split over several transactions (RFC 9422).
struct Part<'a> {
    /// The message it belongs to, as an index into the batch.
    message: usize,
    /// The message's envelope with this part's recipients.
    envelope: Envelope,
    content: &'a [u8],
    /// This part's recipients, as indices into the message's envelope.
    recipients: Vec<usize>,
    /// The first part of its message.
    first: bool,
    /// How many parts its message has.
    of: usize,
}

/// A transaction of the batch in flight.
struct InFlight {
    id: TxId,
    index: usize,
    retried: bool,
    /// The transaction queued just before it, when that one was still in flight.
    behind: Option<TxId>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Sends several messages over this connection, each with its own envelope, and
    /// returns one report per message, in order: exactly the results each would get sent
    /// alone.
    ///
    /// When the server offers PIPELINING and CHUNKING (and both are on), up to
    /// [`ClientConfig::window`](super::ClientConfig::window) transactions are in flight:
    /// the next MAIL leaves right after the previous message's last BDAT chunk, in the
    /// same write (RFC 2920 §3.1), before its reply. Otherwise the messages go one at a
    /// time as [`Client::send_bytes`] sends them (with DATA, nothing is pipelined past a
    /// DATA before its `354`).
    ///
    /// In a window, a failure of one message never changes another's result. A message
    /// the server turned away only because of an earlier failure in the window (a `503`
    /// to its MAIL, with nothing of it accepted) is sent again, once, after RSET; a
    /// message with anything accepted is never sent again, so none reaches the server
    /// twice. When the connection fails, the messages not yet sent carry that error
    /// (transient), and a message whose data was sent but not answered is an unknown
    /// outcome (transient), as with [`Client::send`].
    ///
    /// LIMITS (RFC 9422), when the server advertises them: a message with more recipients
    /// than `RCPTMAX`, or more domains than `RCPTDOMAINMAX`, goes in several transactions
    /// (which ride the window like any other) and still gets one report, as
    /// [`Client::send`] says. Once the connection has carried `MAILMAX` transactions, or
    /// the next message needs more transactions than are left, the batch stops: that
    /// message and every later one get a report with nothing sent
    /// ([`TransactionReport::not_sent`]), in order, to be sent on a new connection
    /// ([`Client::is_exhausted`]). A message that needs more transactions than `MAILMAX`
    /// itself still goes, as far as it fits, when it is the first on the connection.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn send_batch<'a, I>(&mut self, messages: I) -> Vec<TransactionReport>
    where
        I: IntoIterator<Item = (&'a Envelope, &'a [u8])>,
    {
        let messages: Vec<(&Envelope, &[u8])> = messages.into_iter().collect();
        let list = &messages;
        match self
            .operation(async move |c| Ok(c.send_batch_op(list).await))
            .await
        {
            Ok(reports) => reports,
            Err(e) => messages
                .iter()
                .map(|(envelope, _)| TransactionReport::failed(envelope, e.clone()))
                .collect(),
        }
    }

    pub(super) async fn send_batch_op(
        &mut self,
        messages: &[(&Envelope, &[u8])],
    ) -> Vec<TransactionReport> {
        let mut refused: Vec<Option<TransactionReport>> = vec![None; messages.len()];
        let mut parts = Vec::with_capacity(messages.len());
        for (message, &(envelope, content)) in messages.iter().enumerate() {
            if !envelope.is_binarymime()
                && self.session.line_endings() == LineEndings::Strict
                && let Err(e) = check_line_endings(content)
            {
                if let Some(slot) = refused.get_mut(message) {
                    *slot = Some(TransactionReport::failed(envelope, Error::Body(e)));
                }
                continue;
            }
            let plan = self.plan(envelope);
            let of = plan.len();
            for (k, recipients) in plan.into_iter().enumerate() {
                if let Some(envelope) = envelope.with_recipients_at(&recipients) {
                    parts.push(Part {
                        message,
                        envelope,
                        content,
                        recipients,
                        first: k == 0,
                        of,
                    });
                }
            }
        }
        let reports = self.send_parts(&parts).await;
        let mut merged: Vec<Vec<(Vec<usize>, TransactionReport)>> =
            messages.iter().map(|_| Vec::new()).collect();
        for (part, report) in parts.into_iter().zip(reports) {
            if let Some(m) = merged.get_mut(part.message) {
                m.push((part.recipients, report));
            }
        }
        messages
            .iter()
            .zip(refused)
            .zip(merged)
            .map(|((&(envelope, _), refused), mut parts)| {
                if let Some(report) = refused {
                    return report;
                }
                if parts.len() == 1
                    && let Some((_, report)) = parts.pop()
                {
                    return report;
                }
                TransactionReport::merge(envelope, parts)
            })
            .collect()
    }

    /// True when `part` may not start on this connection: `MAILMAX` is reached, or `part`
    /// begins a message that needs more transactions than are left, on a connection that
    /// already carried some (RFC 9422 §4.1).
    fn exhausted_for(&self, part: &Part<'_>, retried: bool) -> bool {
        let Some(left) = self.transactions_left() else {
            return false;
        };
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        left == 0 || (part.first && !retried && part.of > left && self.mails > 0)
    }

    /// The report of a part not sent because of `MAILMAX`.
    fn not_sent(&self, part: &Part<'_>) -> TransactionReport {
        let mail_max = self.mail_max().unwrap_or(0);
        TransactionReport::failed(&part.envelope, Error::ConnectionExhausted { mail_max })
    }

    /// Sends every part and returns one report per part, in order.
    async fn send_parts(&mut self, parts: &[Part<'_>]) -> Vec<TransactionReport> {
        // Once a part may not start (MAILMAX), no later one does: the order is kept.
        let mut stopped = false;
        let windowed = self.window > 1 && self.session.can_queue_transactions();
        if !windowed {
            let mut reports = Vec::with_capacity(parts.len());
            for part in parts {
                stopped = stopped || self.exhausted_for(part, false);
                if stopped {
                    reports.push(self.not_sent(part));
                    continue;
                }
                let report = self.send_one_bytes_op(&part.envelope, part.content).await;
                reports
                    .push(report.unwrap_or_else(|e| TransactionReport::failed(&part.envelope, e)));
            }
            return reports;
        }
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        let mut results: Vec<Option<TransactionReport>> = vec![None; parts.len()];
        let mut queue: VecDeque<(usize, bool)> = (0..parts.len()).map(|i| (i, false)).collect();
        let mut retries: Vec<usize> = Vec::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut failed: HashSet<TxId> = HashSet::new();
        loop {
            // Fill the window, unless retries wait for it to drain.
            while retries.is_empty() && in_flight.len() < self.window {
                let Some((index, retried)) = queue.pop_front() else {
                    break;
                };
                let Some(part) = parts.get(index) else {
                    continue;
                };
                stopped = stopped || self.exhausted_for(part, retried);
                if stopped {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Some(self.not_sent(part));
                    }
                    continue;
                }
                match self.queue_message(&part.envelope, part.content).await {
                    Ok(id) => in_flight.push_back(InFlight {
                        id,
                        index,
                        retried,
                        behind: in_flight.back().map(|t| t.id),
                    }),
                    Err(report) => {
                        if let Some(slot) = results.get_mut(index) {
                            *slot = Some(report);
                        }
                    }
                }
            }
            let Some(oldest) = in_flight.pop_front() else {
                if retries.is_empty() {
                    break;
                }
                // Every transaction before the retries has ended: reset what the failure
                // left, then send them again, in order.
                self.session.reset_before_next_mail();
                for index in retries.drain(..).rev() {
                    queue.push_front((index, true));
                }
                continue;
            };
            let id = oldest.id;
            let report = self
                .wait_for(|e| match e {
                    Event::Transaction(i, r) if i == id => Break(r),
                    e => Continue(e),
                })
                .await;
            let envelope = parts.get(oldest.index).map(|p| &p.envelope);
            let report = match (report, envelope) {
                (Ok(r), _) => r,
                // It was queued, so its MAIL may have been written: the report says so
                // with its id (a pool sends again only what was never queued).
                (Err(e), Some(env)) => TransactionReport {
                    id: Some(id),
                    ..TransactionReport::failed(env, e)
                },
                (Err(_), None) => continue,
            };
            if report.error.is_some() {
                failed.insert(id);
            }
            let after_failure = oldest.behind.is_some_and(|b| failed.contains(&b));
            if report.turned_away && after_failure && !oldest.retried && self.session.is_ready() {
                retries.push(oldest.index);
            } else if let Some(slot) = results.get_mut(oldest.index) {
                *slot = Some(report);
            }
        }
        results
            .into_iter()
            .zip(parts)
            .map(|(r, Part { envelope, .. })| {
                r.unwrap_or_else(|| {
                    let err = self
                        .session
                        .error()
                        .cloned()
                        .unwrap_or(Error::Closed { command: None });
                    TransactionReport::failed(envelope, err)
                })
            })
            .collect()
    }

    /// Queues one message (or part) of a batch and hands over its whole content; `Err` is
    /// the report of a message refused before anything of it was sent. Line endings are
    /// checked before.
    async fn queue_message(
        &mut self,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<TxId, TransactionReport> {
        let (sized, mut body) = sized(envelope, content);
        let id = self
            .start_mail(sized)
            .map_err(|e| TransactionReport::failed(envelope, e))?;
        match self.wait_for_transaction(id).await {
            Ok(None) => self.stream_body(id, &mut body).await,
            // Ended already (or the session failed): its report is kept for the window.
            Ok(Some(report)) => self.parked.push_back(Event::Transaction(id, report)),
            Err(_) => {}
        }
        Ok(id)
    }
}

/// The envelope with its size declared, when it has none: the octets after line-ending
/// normalisation (RFC 1870), or exactly the content for BINARYMIME. With it, the content
/// to send: checked for bare line endings once here, when it has none (the size then
/// needs no other pass over it, nor does the encoder).
pub(super) fn sized<'a>(envelope: &Envelope, content: &'a [u8]) -> (Envelope, super::InMemory<'a>) {
    let clean = if envelope.is_binarymime() {
        None
    } else {
        CrlfText::new(content)
    };
    let body = super::InMemory::new(content, clean);
    if envelope.size().is_some() {
        return (envelope.clone(), body);
    }
    let size = match clean {
        _ if envelope.is_binarymime() => content.len() as u64,
        Some(text) => text.normalized_len(),
        None => normalized_len(content),
    };
    (envelope.clone().with_counted_size(size), body)
}
