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
/// through the guard's own [`PooledClient::send`] and [`PooledClient::send_bytes`]: they
/// count transactions towards the per-connection limits.
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
        conn.transactions = conn.transactions.saturating_add(1);
        super::bump(&self.pool.counters.transactions);
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
        conn.transactions = conn.transactions.saturating_add(1);
        super::bump(&self.pool.counters.transactions);
        Ok(report)
    }

    /// How many more transactions this connection may carry before it is QUIT: the
    /// smaller of the pool's per-connection limit and the server's LIMITS MAILMAX
    /// (RFC 9422 §4.1), minus those already sent; `None` when neither limits it.
    ///
    /// This is the hook for a batch: a `send_many` would check out one connection, hand
    /// up to this many messages to a pipelined batch in one go, record them, and check
    /// out again for the rest (see the [module docs](super#batches)).
    pub fn remaining_transactions(&self) -> Option<u32> {
        let conn = self.conn.as_ref()?;
        conn.limit(self.pool.config.transactions_per_connection)
            .map(|limit| limit.saturating_sub(conn.transactions))
    }

    /// How many transactions this connection has carried.
    pub fn transactions(&self) -> u32 {
        self.conn.as_ref().map_or(0, |c| c.transactions)
    }

    /// True when this connection was dialed for this checkout, false when it was reused.
    pub fn is_fresh(&self) -> bool {
        self.fresh
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
