//! The checkout guard.

use std::ops::Deref;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Inner, Pooled};
use crate::client::Client;
use crate::error::Error;
use crate::proto::{Envelope, TransactionReport};

/// A connection checked out of a [`Pool`](super::Pool) with
/// [`Pool::get`](super::Pool::get).
///
/// It dereferences to the [`Client`] for inspection (capabilities, TLS report). Send
/// through the guard's own [`PooledClient::send`], [`PooledClient::send_bytes`] and
/// [`PooledClient::send_batch`]: they count transactions towards the per-connection
/// limits.
///
/// Dropped, the guard hands the connection back: to the idle list when it is usable and
/// under its limits, otherwise (it failed, reached its limit, the pool is closed, or
/// [`PooledClient::discard`] was called) it is QUIT in a background task. Either way its
/// place under the caps is freed only once the connection is closed or idle again.
pub struct PooledClient<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    pub(super) conn: Option<Pooled<S>>,
    pub(super) pool: Arc<Inner<S>>,
    pub(super) fresh: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> PooledClient<S> {
    /// [`Client::send`], counted towards the connection's limits when the transaction
    /// started (`Ok`).
    ///
    /// # Errors
    /// As [`Client::send`]. An `Err` for which [`closed_while_idle`](super::closed_while_idle)
    /// is true means the server closed this connection while it sat idle and nothing of
    /// the message was sent: send it again on another connection.
    ///
    /// # Cancel safety
    /// As [`Client::send`]: dropping the future leaves the connection unusable, and the
    /// guard then closes it instead of returning it.
    pub async fn send<R: AsyncRead + Unpin>(
        &mut self,
        envelope: &Envelope,
        body: R,
    ) -> Result<TransactionReport, Error> {
        let conn = self.conn_mut()?;
        let report = conn.client.send(envelope, body).await?;
        self.count(std::slice::from_ref(&report));
        Ok(report)
    }

    /// [`Client::send_bytes`], counted like [`PooledClient::send`].
    ///
    /// # Errors
    /// As [`PooledClient::send`].
    ///
    /// # Cancel safety
    /// As [`PooledClient::send`].
    pub async fn send_bytes(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionReport, Error> {
        let conn = self.conn_mut()?;
        let report = conn.client.send_bytes(envelope, message).await?;
        self.count(std::slice::from_ref(&report));
        Ok(report)
    }

    /// [`Client::send_batch`] on this connection: one report per message, in order, with
    /// up to the client's window of transactions in flight. Each message that started
    /// (its MAIL was queued, [`TransactionReport::id`] is `Some`) counts towards the
    /// connection's limits; one refused before anything was sent (a size or extension
    /// check, [`TransactionReport::not_sent`] at MAILMAX, the connection already lost)
    /// does not.
    ///
    /// Give it at most [`PooledClient::remaining_transactions`] messages: the client
    /// itself stops at the server's MAILMAX, but not at the pool's own limit.
    /// [`Pool::send_batch`](super::Pool::send_batch) does this, and moves what was not
    /// sent to another connection.
    ///
    /// # Cancel safety
    /// As [`Client::send_batch`]: dropping the future leaves the connection unusable, and
    /// the guard then closes it instead of returning it.
    pub async fn send_batch<'a, I>(&mut self, messages: I) -> Vec<TransactionReport>
    where
        I: IntoIterator<Item = (&'a Envelope, &'a [u8])>,
    {
        let messages: Vec<(&Envelope, &[u8])> = messages.into_iter().collect();
        let Ok(conn) = self.conn_mut() else {
            let gone = || crate::error::UsageError::InvalidState("the pooled connection is gone");
            return messages
                .iter()
                .map(|(e, _)| TransactionReport::failed(e, gone().into()))
                .collect();
        };
        let reports = conn.client.send_batch(messages).await;
        self.count(&reports);
        reports
    }

    /// Counts the messages of `reports` that started towards the connection's limit.
    fn count(&mut self, reports: &[TransactionReport]) {
        let started = reports.iter().filter(|r| r.id().is_some()).count();
        let started = u32::try_from(started).unwrap_or(u32::MAX);
        if let Some(conn) = self.conn.as_mut() {
            conn.transactions = conn.transactions.saturating_add(started);
        }
        self.pool
            .counters
            .transactions
            .fetch_add(u64::from(started), std::sync::atomic::Ordering::Relaxed);
    }

    /// How many more transactions this connection may carry before it is QUIT: the
    /// smaller of what is left under the pool's per-connection limit (which counts
    /// messages, as Mailman's sessions per connection do) and under the server's LIMITS
    /// MAILMAX (RFC 9422 §4.1, which counts transactions, each part of a message split by
    /// RCPTMAX included: [`Client::transactions_left`]); `None` when neither limits it.
    ///
    /// [`Pool::send_batch`](super::Pool::send_batch) gives a connection this many
    /// messages (all of them when `None`), then checks out another for the rest.
    pub fn remaining_transactions(&self) -> Option<u32> {
        let conn = self.conn.as_ref()?;
        conn.remaining(self.pool.config.transactions_per_connection)
    }

    /// How many messages this connection has carried (started transactions).
    pub fn transactions(&self) -> u32 {
        self.conn.as_ref().map_or(0, |c| c.transactions)
    }

    /// True when this connection was dialed for this checkout, false when it was reused.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// QUITs the connection now, waiting for the reply (within the client's command
    /// timeout), instead of returning it; its places under the caps are then free.
    pub async fn quit(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.quit_now(conn).await;
        }
    }

    /// True when the connection may carry no more transactions under the pool's or the
    /// server's limits: returned, it would be QUIT.
    pub fn is_exhausted(&self) -> bool {
        self.remaining_transactions() == Some(0)
    }

    /// Closes the connection (QUIT, in the background) instead of returning it.
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.retire(conn);
        }
    }

    fn conn_mut(&mut self) -> Result<&mut Pooled<S>, Error> {
        self.conn.as_mut().ok_or_else(|| {
            crate::error::UsageError::InvalidState("the pooled connection is gone").into()
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Deref for PooledClient<S> {
    type Target = Client<S>;

    fn deref(&self) -> &Client<S> {
        // `conn` is only taken by `discard` (which consumes the guard) and by `drop`.
        match &self.conn {
            Some(c) => &c.client,
            None => unreachable!("a PooledClient always holds its connection until dropped"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for PooledClient<S> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.check_in(conn);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> std::fmt::Debug for PooledClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("client", &self.conn.as_ref().map(|c| &c.client))
            .field("transactions", &self.transactions())
            .field("fresh", &self.fresh)
            .finish()
    }
}
