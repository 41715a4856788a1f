//! Many messages to one destination over pooled connections, each carrying as many as
//! its limits allow through [`Client::send_batch`](crate::Client::send_batch).

use std::collections::VecDeque;
use std::convert::Infallible;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Destination, Pool, PooledClient, bump};
use crate::error::Error;
use crate::proto::{Envelope, TransactionReport};

/// Why a message of a batch never started.
#[derive(Debug)]
pub(crate) enum Unsent<E> {
    /// No connection could be had: the dialer's error, or the pool is closed.
    Error(Error),
    /// The caller's check refused the connection it was given.
    Refused(E),
}

/// What [`Pool::batch_with`] gives a message that rode a connection: what the caller's
/// check said of that connection, and the report.
pub(crate) type Carried<T> = (T, TransactionReport);

/// True when nothing of the message reached the connection, so that it can go on another
/// with no risk of a duplicate: it stopped at MAILMAX ([`TransactionReport::not_sent`]),
/// or it was never queued (no [`TransactionReport::id`]) because the connection was lost
/// before its turn. A message refused by a check before sending (size, extension, line
/// endings, a usage error) is decided: it would be refused again.
pub(crate) fn nothing_written(report: &TransactionReport, connection_usable: bool) -> bool {
    if report.not_sent() {
        return true;
    }
    report.id().is_none()
        && !connection_usable
        && !matches!(
            report.error,
            Some(Error::TooLarge { .. } | Error::Extension(_) | Error::Body(_) | Error::Usage(_))
        )
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Pool<S> {
    /// Sends several messages to `destination`, each with its own envelope, and returns
    /// one result per message, in order.
    ///
    /// A connection is checked out ([`Pool::get`]) and given as many messages as
    /// [`PooledClient::remaining_transactions`] allows (all of them when unlimited), in
    /// one [`Client::send_batch`](crate::Client::send_batch), so that they ride its
    /// window of transactions in flight; then another is checked out for the rest, and
    /// so on. Each message's report is the one it would get sent alone.
    ///
    /// **Nothing is ever sent twice.** A message goes on the next connection only when
    /// nothing of it was written on this one:
    ///
    /// - it stopped at the server's MAILMAX ([`TransactionReport::not_sent`]);
    /// - the connection was lost before its MAIL was queued: a reused connection the
    ///   server closed while idle (its 421 or EOF; not an attempt, as for
    ///   [`Pool::send`]), or one lost part-way through the batch. The messages in flight
    ///   when it was lost keep their transient report (the server may have them), and
    ///   the ones after them go on a fresh connection.
    ///
    /// A fresh connection that carried none of its messages (lost before the first MAIL)
    /// ends the batch there: its messages keep that connection's error, so a server that
    /// fails every connection cannot make the batch loop.
    ///
    /// # Results
    /// `Ok(report)` for a message that was given to a connection (which may still say
    /// nothing was delivered: check it); `Err` when no connection could be had for it:
    /// the dialer's error, which every message still waiting then gets, or a usage error
    /// after [`Pool::close`].
    ///
    /// # Cancel safety
    /// Dropping the future closes the connection in use (the server may have some of
    /// the messages); the others are back in the pool.
    pub async fn send_batch<'a, I>(
        &self,
        destination: &Destination,
        messages: I,
    ) -> Vec<Result<TransactionReport, Error>>
    where
        I: IntoIterator<Item = (&'a Envelope, &'a [u8])>,
    {
        let messages: Vec<(&Envelope, &[u8])> = messages.into_iter().collect();
        self.batch_with(destination, &messages, |_| Ok::<(), Infallible>(()))
            .await
            .into_iter()
            .map(|r| match r {
                Ok(((), report)) => Ok(report),
                Err(Unsent::Error(e)) => Err(e),
                Err(Unsent::Refused(never)) => match never {},
            })
            .collect()
    }

    /// [`Pool::send_batch`] with a check of each connection before it carries anything:
    /// `check` returns what to keep of the connection with each message it carries (its
    /// greeting and TLS report, say), or refuses it, and then every message still waiting
    /// gets the refusal (the connection goes back to the pool, for others).
    pub(crate) async fn batch_with<T: Clone, E: Clone>(
        &self,
        destination: &Destination,
        messages: &[(&Envelope, &[u8])],
        mut check: impl FnMut(&PooledClient<S>) -> Result<T, E>,
    ) -> Vec<Result<Carried<T>, Unsent<E>>> {
        let mut results: Vec<Option<Result<Carried<T>, Unsent<E>>>> =
            messages.iter().map(|_| None).collect();
        let mut pending: VecDeque<usize> = (0..messages.len()).collect();
        fn set<R>(results: &mut [Option<R>], i: usize, r: R) {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(r);
            }
        }
        while !pending.is_empty() {
            let mut conn = match self.get(destination).await {
                Ok(c) => c,
                Err(e) => {
                    for i in pending.drain(..) {
                        set(&mut results, i, Err(Unsent::Error(e.clone())));
                    }
                    break;
                }
            };
            let kept = match check(&conn) {
                Ok(kept) => kept,
                Err(refusal) => {
                    for i in pending.drain(..) {
                        set(&mut results, i, Err(Unsent::Refused(refusal.clone())));
                    }
                    break;
                }
            };
            // At least one: a fresh connection always carries its first message as far
            // as it fits (and a MAILMAX of 0 reports it not sent, ending the batch).
            let room = conn
                .remaining_transactions()
                .map_or(usize::MAX, |r| usize::try_from(r).unwrap_or(usize::MAX))
                .max(1);
            let take = room.min(pending.len());
            let batch: Vec<usize> = pending.drain(..take).collect();
            let reports = conn
                .send_batch(batch.iter().filter_map(|&i| messages.get(i).copied()))
                .await;
            let usable = conn.is_usable();
            let started = reports.iter().filter(|r| r.id().is_some()).count();
            // Progress: a reused connection may hand everything back (closed while idle),
            // a fresh one only once it carried something.
            let may_move = !conn.is_fresh() || started > 0;
            let mut moved = Vec::new();
            for (i, report) in batch.into_iter().zip(reports) {
                if may_move && nothing_written(&report, usable) {
                    moved.push(i);
                } else {
                    set(&mut results, i, Ok((kept.clone(), report)));
                }
            }
            if started == 0 && !moved.is_empty() {
                if !usable {
                    bump(&self.inner.counters.closed_while_idle);
                }
                // Usable but carried nothing (MAILMAX left is below the next message's
                // parts): not to be handed out again.
                conn.discard();
            } else if conn.is_exhausted() || !usable || !moved.is_empty() {
                // Done with (spent, lost, or MAILMAX leaves too little for the next
                // message): QUIT it before the next connection, so that the server sees
                // one end before the next begins.
                conn.quit().await;
            } else {
                drop(conn);
            }
            for i in moved.into_iter().rev() {
                pending.push_front(i);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Unsent::Error(
                        crate::error::UsageError::InvalidState("a message of the batch was lost")
                            .into(),
                    ))
                })
            })
            .collect()
    }
}
