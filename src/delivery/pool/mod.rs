//! A connection pool: SMTP connections kept open and reused, per [`Destination`], under
//! caps on concurrency and on transactions per connection.
//!
//! ```text
//!   Pool::send(dest, envelope, message)        Pool::get(dest) ─▶ PooledClient
//!   Pool::send_batch(dest, messages)
//!        │                                            │ (Deref to Client; back on drop)
//!        ▼                                            ▼
//!   idle connection for dest? ── yes ─▶ probe it (a read that does not wait) ─▶ use it
//!        │ no                                   └─ closed while idle ─▶ drop, look again
//!        ▼
//!   a place under the caps (per destination, then in total; idle connections of other
//!   destinations are QUIT to make room) ─▶ Dial::dial(dest): connect, TLS, AUTH ─▶ use it
//! ```
//!
//! # Connections
//!
//! The pool never makes a connection itself: a [`Dial`] does, for a [`Destination`]
//! (connect, greeting, EHLO, STARTTLS, AUTH, whatever the destination asks), and returns a
//! ready [`Client`]. The pool calls it for every new connection, so authentication
//! happens on every connection, and a dial that fails leaves nothing behind: its error is
//! returned and nothing is reused. A dialer is a type implementing [`Dial`], or a closure
//! `Fn(&Destination) -> impl Future<Output = Result<Client<S>, Error>>` (the future must
//! own what it needs: clone from the destination).
//!
//! # Limits
//!
//! - **Connections per destination and in total** ([`PoolConfig::max_per_destination`],
//!   [`PoolConfig::max_total`]) are tokio semaphores. A connection holds one place of each
//!   from its dial until it is closed, idle or in use: the caps bound the connections open
//!   at once, so any number of tasks sending at once never exceed them. A task that finds
//!   the total cap taken by idle connections of other destinations QUITs the oldest of
//!   them to make room.
//! - **Transactions per connection**: the smaller of
//!   [`PoolConfig::transactions_per_connection`] (0 is unlimited, as in Mailman's
//!   `SMTP_MAX_SESSIONS_PER_CONNECTION`, counted in messages) and the server's LIMITS
//!   MAILMAX (RFC 9422 §4.1, from the EHLO reply, counted in transactions by the client).
//!   Once a connection has carried that many it is QUIT, and the next message goes on a
//!   new one.
//! - **Idle timeout** ([`PoolConfig::idle_timeout`]): a connection idle longer is QUIT and
//!   dropped, by a timer, whether or not the pool is used meanwhile.
//!
//! # A connection the server closed while idle
//!
//! Servers close idle connections: Postfix sends `421 4.4.2 Error: timeout exceeded`
//! after its idle timeout (RFC 5321 §3.8 allows a 421 at any time), others just close.
//! The pool sends no NOOP before reusing a connection (a round trip per message);
//! instead, before reuse, it reads without waiting whatever the server sent, which finds
//! a 421 or EOF that already arrived, and drops such a connection. One that the server
//! closes in the instant before MAIL is found the same way by [`Client::send`], which then
//! returns `Err` before anything of the transaction is written ([`closed_while_idle`]).
//! Either way the connection is dropped and the message goes on another one (a fresh one
//! if no idle connection is left): that is not a delivery attempt, and the caller sees
//! only the report from the connection that carried the message. Anything that happens
//! once MAIL may have been written (a dropped connection, a timeout) is in the report and
//! never retried by the pool: the server may have accepted the message.
//!
//! # Shutdown
//!
//! [`Pool::close`] QUITs every idle connection and waits for the replies, and for the
//! connections being QUIT in the background; connections in use are QUIT when their
//! guard is dropped. After `close`, [`Pool::get`], [`Pool::send`] and
//! [`Pool::send_batch`] fail. A pool dropped without `close` (its last clone and every
//! guard gone) QUITs its idle connections in background tasks, if a tokio runtime is at
//! hand; nothing waits for them.
//!
//! [`MxDelivery`](super::MxDelivery) and [`Relay`](super::Relay) each keep a pool, with
//! their own dialers (connect, TLS under the policy, the policy hook, AUTH for the relay).
//!
//! # Batches
//!
//! [`Pool::send_batch`] sends several messages to one destination: it checks out a
//! connection, gives it as many as [`PooledClient::remaining_transactions`] allows (all
//! of them when unlimited) in one [`Client::send_batch`], so that they ride the client's
//! window of transactions in flight, and checks out again for the rest. Each message
//! that started counts towards its connection's limits ([`PooledClient::send_batch`]).
//!
//! A message goes on the next connection only when nothing of it was written, so none
//! reaches a server twice:
//!
//! - it stopped at the server's MAILMAX ([`TransactionReport::not_sent`]);
//! - its connection was lost before its MAIL was queued: an idle connection the server
//!   had closed (as above, not an attempt), or one lost part-way through the batch. The
//!   messages in flight when that happened keep their transient, unknown outcome (the
//!   server may have them); the ones after them go on a fresh connection.
//!
//! A fresh connection that carried none of its messages ends the batch with its error,
//! so a server failing every connection cannot make a batch loop; a dial that fails
//! gives its error to every message still waiting.
//!
//! # Example
//!
//! ```
//! use smtp_courier::delivery::pool::{Destination, Pool, PoolConfig};
//! use smtp_courier::{Client, ClientConfig, Envelope};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
//!
//! /// A tiny SMTP server on the far end of an in-memory pipe: 250 to everything, 354 to
//! /// DATA, 221 to QUIT.
//! async fn serve(io: DuplexStream) -> std::io::Result<()> {
//!     let (r, mut w) = tokio::io::split(io);
//!     let mut lines = BufReader::new(r).lines();
//!     w.write_all(b"220 mx.example ESMTP\r\n").await?;
//!     while let Some(line) = lines.next_line().await? {
//!         let reply: &[u8] = match line.as_str() {
//!             l if l.starts_with("EHLO") => b"250-mx.example\r\n250 PIPELINING\r\n",
//!             "DATA" => {
//!                 w.write_all(b"354 go\r\n").await?;
//!                 while lines.next_line().await?.is_some_and(|l| l != ".") {}
//!                 b"250 queued\r\n"
//!             }
//!             "QUIT" => {
//!                 w.write_all(b"221 bye\r\n").await?;
//!                 return Ok(());
//!             }
//!             _ => b"250 ok\r\n",
//!         };
//!         w.write_all(reply).await?;
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smtp_courier::Error> {
//! // The dialer: here a pipe to the scripted server; in production a Connector, TLS
//! // and AUTH for `dest`.
//! let pool = Pool::new(PoolConfig::default(), |_dest: &Destination| async {
//!     let (client_io, server_io) = tokio::io::duplex(4096);
//!     tokio::spawn(serve(server_io));
//!     Client::open(client_io, ClientConfig::default()).await
//! });
//!
//! let dest = Destination::new("mx.example", 25)?;
//! let envelope = Envelope::new("me@example.org", ["you@example.net"])?;
//! for _ in 0..3 {
//!     let report = pool.send(&dest, &envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//!     assert!(report.all_delivered());
//! }
//! assert_eq!(pool.stats().connections_opened, 1); // one connection, reused
//! pool.close().await; // QUIT
//! # Ok(())
//! # }
//! ```

mod batch;
mod guard;
mod key;

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub(crate) use batch::Unsent;
pub use guard::PooledClient;
pub use key::{Destination, TlsPolicy};

use crate::client::Client;
use crate::error::{Error, UsageError};
use crate::proto::{Envelope, TransactionReport};

/// What [`Dial::dial`] returns: a boxed `Send` future, so that the pool can hold any
/// dialer as `dyn Dial`.
pub type DialFuture<'a, S> = Pin<Box<dyn Future<Output = Result<Client<S>, Error>> + Send + 'a>>;

/// Makes a new connection for a [`Destination`]: connect, read the greeting, EHLO, TLS
/// as the destination's [`TlsPolicy`] asks, AUTH with its credentials. It returns a
/// client ready for a transaction.
///
/// Closures `Fn(&Destination) -> impl Future<Output = Result<Client<S>, Error>> + Send +
/// 'static` implement it.
pub trait Dial<S>: Send + Sync {
    /// Opens and sets up one connection.
    ///
    /// # Errors
    /// Whatever failed; the pool returns it to the caller that needed the connection.
    fn dial<'a>(&'a self, destination: &'a Destination) -> DialFuture<'a, S>;
}

impl<S, F, Fut> Dial<S> for F
where
    F: Fn(&Destination) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Client<S>, Error>> + Send + 'static,
{
    fn dial<'a>(&'a self, destination: &'a Destination) -> DialFuture<'a, S> {
        Box::pin(self(destination))
    }
}

/// True for an `Err` returned by [`Client::send`] (or [`PooledClient::send`]) on a
/// connection that was idle and usable, meaning the server closed the connection while
/// it sat idle and **nothing of the transaction was written**: a 421
/// ([`Error::ServerClosing`]), an end of stream or a reset with no command outstanding
/// ([`Error::Closed`] or [`Error::Io`] without a command). The message can go on another
/// connection with no risk of a duplicate.
///
/// It rests on two facts. `Client::send` returns `Err` only when the transaction could
/// not start (no MAIL was queued); everything after is in the `Ok` report. And an error
/// with no command is one found while no reply was due: had MAIL been written, the error
/// would name it.
pub fn closed_while_idle(error: &Error) -> bool {
    matches!(
        error,
        Error::ServerClosing { .. }
            | Error::Closed { command: None }
            | Error::Io { command: None, .. }
    )
}

/// The pool's settings.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    max_per_destination: usize,
    max_total: usize,
    transactions_per_connection: u32,
    idle_timeout: Duration,
}

impl Default for PoolConfig {
    /// 4 connections per destination, 64 in all, unlimited transactions per connection,
    /// 30 s idle timeout (well under RFC 5321 §4.5.3.2.7's 5 minutes, after which a
    /// server may close an idle connection).
    fn default() -> Self {
        Self {
            max_per_destination: 4,
            max_total: 64,
            transactions_per_connection: 0,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

impl PoolConfig {
    /// The most connections open at once to one destination; at least 1.
    #[must_use]
    pub fn max_per_destination(mut self, n: usize) -> Self {
        self.max_per_destination = n.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The most connections open at once in all; at least 1.
    #[must_use]
    pub fn max_total(mut self, n: usize) -> Self {
        self.max_total = n.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The most messages per connection (Mailman's sessions per connection); 0 is
    /// unlimited. The server's MAILMAX applies as well, counted as the server counts it
    /// (each transaction of a message split by RCPTMAX), whichever leaves less.
    #[must_use]
    pub fn transactions_per_connection(mut self, n: u32) -> Self {
        self.transactions_per_connection = n;
        self
    }

    /// How long a connection may stay idle before it is QUIT.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

/// Counters since the pool was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections the dialer made successfully.
    pub connections_opened: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Idle connections found closed by the server (421, EOF) and dropped, the message
    /// going on another connection.
    pub closed_while_idle: u64,
    /// Idle connections QUIT by the idle timeout.
    pub idle_expired: u64,
    /// Messages that started on a pooled connection (their MAIL was queued), by
    /// [`Pool::send`], [`Pool::send_batch`] or a [`PooledClient`].
    pub transactions: u64,
}

#[derive(Default)]
struct Counters {
    opened: AtomicU64,
    dial_failures: AtomicU64,
    closed_while_idle: AtomicU64,
    idle_expired: AtomicU64,
    transactions: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A pool of SMTP connections; cheap to clone (clones share the connections). See the
/// [module docs](self).
pub struct Pool<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    inner: Arc<Inner<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Clone for Pool<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> std::fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    dialer: Box<dyn Dial<S>>,
    pub(super) config: PoolConfig,
    total: Arc<Semaphore>,
    state: Mutex<State<S>>,
    /// Signalled whenever a connection goes idle: a waiter may take it, or QUIT it to
    /// make room.
    idle_added: Notify,
    counters: Counters,
    /// Connections being QUIT in the background, and the signal that one finished:
    /// [`Pool::close`] waits for them.
    retiring: AtomicU64,
    retired: Notify,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Inner<S> {
    /// The pool is gone (the last clone, and every guard, dropped) without
    /// [`Pool::close`]: its idle connections are QUIT in the background when a runtime is
    /// at hand, so that a server sees a clean end; `close` is the way to wait for that.
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for dest in state.dests.values_mut() {
            for idle in dest.idle.drain(..) {
                rt.spawn(Self::quit(idle.conn));
            }
        }
    }
}

struct State<S> {
    dests: HashMap<Destination, DestState<S>>,
    closed: bool,
    next_id: u64,
}

struct DestState<S> {
    places: Arc<Semaphore>,
    /// Most recently returned last: reuse takes from the end, so the least used
    /// connections are the ones left to time out.
    idle: Vec<Idle<S>>,
}

struct Idle<S> {
    conn: Pooled<S>,
    since: Instant,
    id: u64,
}

/// A live connection and its places under the caps.
pub(super) struct Pooled<S> {
    pub(super) client: Client<S>,
    pub(super) transactions: u32,
    destination: Destination,
    _places: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

impl<S: AsyncRead + AsyncWrite + Unpin> Pooled<S> {
    /// What is left of the connection's limits: the pool's (0 = none, counted in
    /// messages) and the server's MAILMAX (counted by the client in transactions).
    pub(super) fn remaining(&self, pool_limit: u32) -> Option<u32> {
        let pool = (pool_limit > 0).then(|| pool_limit.saturating_sub(self.transactions));
        // RFC 9422 §4.1: MAILMAX is the most transactions the server accepts on one
        // connection.
        let server = self.client.transactions_left();
        match (pool, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn exhausted(&self, pool_limit: u32) -> bool {
        self.remaining(pool_limit) == Some(0)
    }
}

fn closed_error() -> Error {
    UsageError::InvalidState("the pool is closed").into()
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Pool<S> {
    /// A pool that makes its connections with `dialer`.
    pub fn new(config: PoolConfig, dialer: impl Dial<S> + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                dialer: Box::new(dialer),
                total: Arc::new(Semaphore::new(config.max_total)),
                config,
                state: Mutex::new(State {
                    dests: HashMap::new(),
                    closed: false,
                    next_id: 0,
                }),
                idle_added: Notify::new(),
                counters: Counters::default(),
                retiring: AtomicU64::new(0),
                retired: Notify::new(),
            }),
        }
    }

    /// Sends one message to `destination` on a pooled connection: an idle one if there is
    /// one, else a new one when the caps allow, else the first to come free. See
    /// [`Client::send_bytes`] for what goes on the wire.
    ///
    /// A connection the server closed while idle is dropped and the message goes on
    /// another connection (see the [module docs](self#a-connection-the-server-closed-while-idle)).
    ///
    /// # Errors
    /// The dialer's error when a new connection could not be made; an error of
    /// [`Client::send_bytes`] on a new connection; a usage error after [`Pool::close`].
    /// What happens once the transaction started is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future before the transaction starts loses nothing; during it, the
    /// connection is closed (the server may have the message or part of it).
    pub async fn send(
        &self,
        destination: &Destination,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionReport, Error> {
        loop {
            let mut conn = self.get(destination).await?;
            match conn.send_bytes(envelope, message).await {
                Ok(report) => return Ok(report),
                Err(e) if !conn.is_fresh() && closed_while_idle(&e) => {
                    // Nothing of this message was written: not an attempt.
                    bump(&self.inner.counters.closed_while_idle);
                    conn.discard();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Checks out a connection to `destination`, waiting for one while the caps are
    /// reached. A reused connection was probed (without a round trip) and found open.
    ///
    /// # Errors
    /// The dialer's error; a usage error after [`Pool::close`].
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future while it waits loses nothing; during a dial, the
    /// half-made connection is dropped.
    pub async fn get(&self, destination: &Destination) -> Result<PooledClient<S>, Error> {
        let inner = &self.inner;
        let places = loop {
            let mut notified = pin!(inner.idle_added.notified());
            notified.as_mut().enable();
            let (idle, places) = inner.take_idle_or_places(destination)?;
            if let Some(conn) = idle {
                if let Some(conn) = inner.probe(conn).await {
                    return Ok(self.guard(conn, false));
                }
                continue;
            }
            // Wait for a place for this destination, or for a connection to come back.
            if let Some(p) = first(places.acquire_owned(), notified).await {
                break p.map_err(|_| closed_error())?;
            }
        };
        let total = loop {
            let mut notified = pin!(inner.idle_added.notified());
            notified.as_mut().enable();
            let (idle, _) = inner.take_idle_or_places(destination)?;
            if let Some(conn) = idle {
                if let Some(conn) = inner.probe(conn).await {
                    return Ok(self.guard(conn, false));
                }
                continue;
            }
            if let Ok(p) = Arc::clone(&inner.total).try_acquire_owned() {
                break p;
            }
            if inner.evict_oldest_idle() {
                continue;
            }
            if let Some(p) = first(Arc::clone(&inner.total).acquire_owned(), notified).await {
                break p.map_err(|_| closed_error())?;
            }
        };
        let client = match inner.dialer.dial(destination).await {
            Ok(c) if c.is_usable() => c,
            Ok(c) => {
                bump(&inner.counters.dial_failures);
                let e = c.session().error().cloned().unwrap_or_else(|| {
                    UsageError::InvalidState("the dialer returned an unusable client").into()
                });
                return Err(e);
            }
            Err(e) => {
                bump(&inner.counters.dial_failures);
                return Err(e);
            }
        };
        bump(&inner.counters.opened);
        let conn = Pooled {
            client,
            transactions: 0,
            destination: destination.clone(),
            _places: (places, total),
        };
        Ok(self.guard(conn, true))
    }

    fn guard(&self, conn: Pooled<S>, fresh: bool) -> PooledClient<S> {
        PooledClient {
            conn: Some(conn),
            pool: Arc::clone(&self.inner),
            fresh,
        }
    }

    /// QUITs every idle connection and waits for each to finish (within the clients'
    /// command timeout), and for those being QUIT in the background (over their limits,
    /// failed); connections in use are QUIT when returned. Later
    /// [`Pool::get`] and [`Pool::send`] calls fail.
    pub async fn close(&self) {
        let idle: Vec<Pooled<S>> = {
            let mut state = self.inner.lock();
            state.closed = true;
            state
                .dests
                .values_mut()
                .flat_map(|d| d.idle.drain(..).map(|i| i.conn))
                .collect()
        };
        // Waiters wake up, find the pool closed and give up.
        self.inner.idle_added.notify_waiters();
        for conn in idle {
            let _ = conn.client.quit().await;
        }
        // And those already on their way out (over their limits, failed, discarded).
        self.inner.wait_retired().await;
    }

    /// The counters so far.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let transactions = get(&c.transactions);
        PoolStats {
            connections_opened: get(&c.opened),
            dial_failures: get(&c.dial_failures),
            closed_while_idle: get(&c.closed_while_idle),
            idle_expired: get(&c.idle_expired),
            transactions,
        }
    }

    /// How many connections are idle, in all.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock().dests.values().map(|d| d.idle.len()).sum()
    }
}

/// Waits for `a`, or for `b`; `None` when `b` came first.
async fn first<A: Future, B: Future>(a: A, b: Pin<&mut B>) -> Option<A::Output> {
    let mut a = pin!(a);
    let mut b = b;
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Inner<S> {
    fn lock(&self) -> MutexGuard<'_, State<S>> {
        // A panic while the lock was held cannot leave the map inconsistent (every
        // update is a single insert or remove), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection for `destination`, or else its semaphore to wait on.
    fn take_idle_or_places(
        &self,
        destination: &Destination,
    ) -> Result<(Option<Pooled<S>>, Arc<Semaphore>), Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(closed_error());
        }
        let cap = self.config.max_per_destination;
        let dest = state
            .dests
            .entry(destination.clone())
            .or_insert_with(|| DestState {
                places: Arc::new(Semaphore::new(cap)),
                idle: Vec::new(),
            });
        let places = Arc::clone(&dest.places);
        Ok((dest.idle.pop().map(|i| i.conn), places))
    }

    /// Finds whether the server closed `conn` while it was idle, without waiting and
    /// without writing: what already arrived (a 421, EOF) is read. `None` when it did;
    /// the connection is then closed.
    async fn probe(self: &Arc<Self>, mut conn: Pooled<S>) -> Option<Pooled<S>> {
        let client = &mut conn.client;
        client
            .conn
            .check_idle(&mut client.session, &client.timeouts)
            .await;
        if client.is_usable() {
            return Some(conn);
        }
        bump(&self.counters.closed_while_idle);
        self.retire(conn);
        None
    }

    /// QUITs the oldest idle connection of any destination, freeing its places; false
    /// when none is idle.
    fn evict_oldest_idle(self: &Arc<Self>) -> bool {
        let conn = {
            let mut state = self.lock();
            let oldest = state
                .dests
                .iter()
                .filter_map(|(k, d)| d.idle.first().map(|i| (i.since, k.clone())))
                .min_by_key(|(since, _)| *since);
            let Some((_, key)) = oldest else {
                return false;
            };
            match state.dests.get_mut(&key) {
                Some(d) if !d.idle.is_empty() => d.idle.remove(0).conn,
                _ => return false,
            }
        };
        self.retire(conn);
        true
    }

    /// Returns a connection after use: to the idle list, or closed.
    pub(super) fn check_in(self: &Arc<Self>, conn: Pooled<S>) {
        if !conn.client.is_usable() || conn.exhausted(self.config.transactions_per_connection) {
            self.retire(conn);
            return;
        }
        let key = conn.destination.clone();
        let id = {
            let mut state = self.lock();
            if state.closed {
                drop(state);
                self.retire(conn);
                return;
            }
            let id = state.next_id;
            state.next_id = id.wrapping_add(1);
            let cap = self.config.max_per_destination;
            let dest = state
                .dests
                .entry(conn.destination.clone())
                .or_insert_with(|| DestState {
                    places: Arc::new(Semaphore::new(cap)),
                    idle: Vec::new(),
                });
            dest.idle.push(Idle {
                conn,
                since: Instant::now(),
                id,
            });
            id
        };
        self.spawn_idle_timer(key, id);
        self.idle_added.notify_waiters();
    }

    /// After the idle timeout, QUITs connection `id` if it is still idle.
    fn spawn_idle_timer(self: &Arc<Self>, key: Destination, id: u64) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        let timeout = self.config.idle_timeout;
        rt.spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(inner) = weak.upgrade() else { return };
            let conn = {
                let mut state = inner.lock();
                let Some(dest) = state.dests.get_mut(&key) else {
                    return;
                };
                let Some(pos) = dest.idle.iter().position(|i| i.id == id) else {
                    return;
                };
                dest.idle.remove(pos).conn
            };
            bump(&inner.counters.idle_expired);
            inner.retire(conn);
        });
    }

    /// QUITs a connection in the background; its places are freed once that is done.
    pub(super) fn retire(self: &Arc<Self>, conn: Pooled<S>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime to QUIT on: just close.
            let key = conn.destination.clone();
            drop(conn);
            self.forget_unused(&key);
            return;
        };
        let weak = Arc::downgrade(self);
        self.retiring.fetch_add(1, Ordering::SeqCst);
        rt.spawn(async move {
            let destination = conn.destination.clone();
            Self::quit(conn).await;
            if let Some(inner) = weak.upgrade() {
                inner.forget_unused(&destination);
                inner.retiring.fetch_sub(1, Ordering::SeqCst);
                inner.retired.notify_waiters();
            }
        });
    }

    /// QUITs a connection now (within the client's command timeout), then frees its
    /// places.
    pub(super) async fn quit_now(self: &Arc<Self>, conn: Pooled<S>) {
        let destination = conn.destination.clone();
        Self::quit(conn).await;
        self.forget_unused(&destination);
    }

    async fn quit(conn: Pooled<S>) {
        let Pooled {
            client, _places, ..
        } = conn;
        // Refused, or already closed: either way the connection is gone.
        let _ = client.quit().await;
        drop(_places);
    }

    /// Waits until every connection QUIT in the background is closed.
    async fn wait_retired(&self) {
        loop {
            let mut notified = pin!(self.retired.notified());
            notified.as_mut().enable();
            if self.retiring.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Drops the bookkeeping of a destination that has no idle connection and no
    /// connection or waiter holding its semaphore (so no cap can be bypassed by
    /// making a new one).
    fn forget_unused(&self, destination: &Destination) {
        let mut state = self.lock();
        let unused = state
            .dests
            .get(destination)
            .is_some_and(|d| d.idle.is_empty() && Arc::strong_count(&d.places) == 1);
        if unused {
            state.dests.remove(destination);
        }
    }
}
