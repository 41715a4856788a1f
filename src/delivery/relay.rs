//! Relaying through a smarthost: submission on port 587 with STARTTLS, or 465 with
//! implicit TLS (RFC 8314), with AUTH (RFC 4954), under the same [`DeliveryPolicy`] as MX
//! delivery.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use super::direct::open;
use super::policy::{DeliveryPolicy, SecurityLevel, requiretls_groups};
use super::pool::{Destination, Dial, DialFuture, Pool, PoolConfig, PoolStats, TlsPolicy, Unsent};
use super::report::{Connection, DeliveryError, PolicyRefusal};
use crate::auth::{AuthOptions, Credentials, Mechanism};
use crate::client::ClientConfig;
use crate::connect::{Connector, Host, Target, TcpConnector};
use crate::error::{Error, UsageError};
use crate::proto::address::AddressError;
use crate::tls::{Level, MaybeTls, TlsConfig, TlsMode};
use crate::{Envelope, TransactionReport};

/// The submission port, STARTTLS (RFC 6409 §3.1).
pub const SUBMISSION_PORT: u16 = 587;
/// The submission port with implicit TLS (RFC 8314 §3.3).
pub const SUBMISSIONS_PORT: u16 = 465;

/// A smarthost: every message goes to this one server, which relays it, over pooled
/// connections: one stays open after its message for the next (AUTH once per new
/// connection), until the pool's limits or idle timeout end it, or [`Relay::close`].
/// The delivery module has a [runnable example](super#relay).
///
/// The credentials, if any, only ever go to this host, and only over TLS: the session is
/// [`confidential`](crate::tls::TlsConfig::confidential), so no plaintext fallback happens
/// whatever the policy's level, and a server that does not offer STARTTLS is a transient
/// [`TlsError::NotOffered`](crate::TlsError::NotOffered). The default policy is
/// [`Level::Secure`]: STARTTLS (or implicit TLS) with the certificate verified against the
/// relay's name (or the policy's [`TlsConfig::server_name`](crate::tls::TlsConfig::server_name)).
///
/// ```no_run
/// use smtp_courier::auth::{AuthOptions, Credentials};
/// use smtp_courier::delivery::Relay;
/// use smtp_courier::{ClientConfig, Envelope};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let relay = Relay::submission("smtp.example.org", ClientConfig::new("laptop.example.org")?)?
///     .credentials(Credentials::new("me@example.org", "secret"), AuthOptions::new());
/// let envelope = Envelope::new("me@example.org", ["you@example.net"])?;
/// let report = relay.send(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
/// println!("via {} ({}), AUTH {:?}", report.connection().host(),
///          report.connection().security(), report.mechanism().map(|m| m.name()));
/// assert!(report.transaction().all_delivered());
/// relay.close().await; // QUIT the pooled connection
/// # Ok(())
/// # }
/// ```
pub struct Relay<C: Connector = TcpConnector>
where
    C::Stream: 'static,
{
    host: Host,
    port: u16,
    implicit: bool,
    credentials: Option<(Credentials, AuthOptions)>,
    policy: DeliveryPolicy,
    connector: Arc<C>,
    config: ClientConfig,
    pool_config: PoolConfig,
    /// Made at the first send, from the settings then.
    pool: OnceLock<Pool<MaybeTls<C::Stream>>>,
    /// The refusal of the policy hook on the last dial it refused (see [`RelayDialer`]).
    refusal: Arc<Mutex<Option<PolicyRefusal>>>,
}

impl<C: Connector> std::fmt::Debug for Relay<C>
where
    C::Stream: 'static,
{
    /// Credentials by user name only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("implicit", &self.implicit)
            .field(
                "user",
                &self.credentials.as_ref().map(|(c, _)| c.username()),
            )
            .field("policy", &self.policy)
            .field("pool", &self.pool_config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Port 587 with STARTTLS (RFC 6409), [`Level::Secure`], over TCP.
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn submission(host: &str, config: ClientConfig) -> Result<Self, AddressError> {
        Self::new(host, SUBMISSION_PORT, false, config)
    }

    /// Port 465 with implicit TLS (RFC 8314 §3.3), [`Level::Secure`]'s verification,
    /// over TCP.
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn implicit_tls(host: &str, config: ClientConfig) -> Result<Self, AddressError> {
        Self::new(host, SUBMISSIONS_PORT, true, config)
    }

    fn new(
        host: &str,
        port: u16,
        implicit: bool,
        config: ClientConfig,
    ) -> Result<Self, AddressError> {
        Ok(Self {
            host: Host::parse(host)?,
            port,
            implicit,
            credentials: None,
            policy: DeliveryPolicy::from_level(Level::Secure),
            connector: Arc::new(TcpConnector::new()),
            config,
            pool_config: PoolConfig::default(),
            pool: OnceLock::new(),
            refusal: Arc::default(),
        })
    }
}

impl<C: Connector> Relay<C>
where
    C::Stream: 'static,
{
    /// Another port (a submission server on 2525, a test's), same kind of TLS.
    ///
    /// Like every setting, give it before the first message: a setting changed later
    /// starts a new pool (the old one's connections are dropped without QUIT).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self.fresh_pool()
    }

    /// Authenticates with `credentials` as `options` allow, after TLS and before MAIL,
    /// on every new connection.
    pub fn credentials(mut self, credentials: Credentials, options: AuthOptions) -> Self {
        self.credentials = Some((credentials, options));
        self.fresh_pool()
    }

    /// The TLS policy. With implicit TLS the mode is always [`TlsMode::Implicit`]; the
    /// policy's verification, roots and hook apply.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self.fresh_pool()
    }

    /// The connection pool's settings: transactions per connection (Mailman's sessions
    /// per connection; the server's MAILMAX applies too), idle timeout, how many
    /// connections at once. Default: [`PoolConfig::default`].
    pub fn pool(mut self, config: PoolConfig) -> Self {
        self.pool_config = config;
        self.fresh_pool()
    }

    /// Opens the connection (and any reconnection) through `connector`.
    pub fn connector<D: Connector>(self, connector: D) -> Relay<D>
    where
        D::Stream: 'static,
    {
        Relay {
            host: self.host,
            port: self.port,
            implicit: self.implicit,
            credentials: self.credentials,
            policy: self.policy,
            connector: Arc::new(connector),
            config: self.config,
            pool_config: self.pool_config,
            pool: OnceLock::new(),
            refusal: Arc::default(),
        }
    }

    fn fresh_pool(mut self) -> Self {
        self.pool = OnceLock::new();
        self
    }

    /// The relay's host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// The policy.
    pub fn get_policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    /// The pool's counters: connections opened, dials failed, connections found closed
    /// while idle, transactions.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.get().map(Pool::stats).unwrap_or_default()
    }
}

/// The tag of the destination whose connections may carry a REQUIRETLS message (RFC 8689
/// §4.1: never in plaintext); without credentials, the relay's other connections may
/// have fallen back to plaintext.
const REQUIRETLS_TAG: &str = "relay (REQUIRETLS)";

/// The dialer's marker for a connection the policy hook refused; the refusal itself is in
/// [`Relay::refusal`].
const REFUSED_BY_POLICY: &str = "the delivery policy refused the relay's security level";

impl<C: Connector + 'static> Relay<C>
where
    C::Stream: 'static,
{
    /// Sends the message on a pooled connection to the relay: an idle one when there is
    /// one, else a new one (connect, TLS, the policy hook, AUTH when credentials were
    /// given). The connection stays open for the next message, until the pool's limits
    /// or idle timeout QUIT it, or [`Relay::close`].
    ///
    /// A connection the relay closed while idle (its 421 or EOF) is replaced without it
    /// counting for anything (see [`pool`](super::pool#a-connection-the-server-closed-while-idle)).
    ///
    /// # Errors
    /// Anything before MAIL: [`DeliveryError::Smtp`] for a failed connection, a refused
    /// greeting, TLS as the policy requires it (transient), or AUTH
    /// ([`Error::Auth`](crate::Error::Auth)); [`DeliveryError::Policy`] when the hook
    /// refused; a usage error after [`Relay::close`]. From MAIL on, every recipient's
    /// result is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future closes the connection in use; what the relay got is unknown.
    pub async fn send(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<RelayReport, DeliveryError> {
        let mut reports = self.send_batch([(envelope, message)]).await;
        reports.pop().unwrap_or_else(|| {
            Err(Error::Usage(UsageError::InvalidState("the message was lost")).into())
        })
    }

    /// Sends several messages to the relay, each with its own envelope, and returns one
    /// result per message, in order, each what [`Relay::send`] would return for it.
    ///
    /// They go as [`Pool::send_batch`] sends them: each connection carries as many as its
    /// limits allow in one [`Client::send_batch`](crate::Client::send_batch), with up to
    /// the [`ClientConfig::window`] of transactions in flight; a message goes on another
    /// connection only when nothing of it was written, so none reaches the relay twice.
    /// Each report names the connection that carried its message.
    ///
    /// # Cancel safety
    /// As [`Relay::send`].
    pub async fn send_batch<'a, I>(&self, messages: I) -> Vec<Result<RelayReport, DeliveryError>>
    where
        I: IntoIterator<Item = (&'a Envelope, &'a [u8])>,
    {
        let messages: Vec<(&Envelope, &[u8])> = messages.into_iter().collect();
        let mut results: Vec<Option<Result<RelayReport, DeliveryError>>> =
            messages.iter().map(|_| None).collect();
        // RFC 8689 §4.1: REQUIRETLS messages only on connections that cannot fall back.
        for (requiretls, indices, group) in requiretls_groups(&messages) {
            let reports = self.send_group(requiretls, &group).await;
            for (i, r) in indices.into_iter().zip(reports) {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Usage(UsageError::InvalidState("the message was lost")).into())
                })
            })
            .collect()
    }

    async fn send_group(
        &self,
        requiretls: bool,
        messages: &[(&Envelope, &[u8])],
    ) -> Vec<Result<RelayReport, DeliveryError>> {
        let mut destination = Destination::from_host(self.host.clone(), self.port)
            .tls(TlsPolicy::from(&self.tls(false)))
            .tag("relay");
        if requiretls {
            destination = destination
                .tls(TlsPolicy::from(&self.tls(true)))
                .tag(REQUIRETLS_TAG);
        }
        if let Some((credentials, _)) = &self.credentials {
            destination = destination.credentials(credentials.clone());
        }
        let name = self.host.to_string();
        let address = match &self.host {
            Host::Ip(ip) => Some(SocketAddr::new(*ip, self.port)),
            Host::Name(_) => None,
        };
        let results = self
            .connections()
            .batch_with(&destination, messages, |c| {
                Ok::<_, std::convert::Infallible>((
                    Connection::of(c, &name, address),
                    c.authenticated_mechanism(),
                ))
            })
            .await;
        results
            .into_iter()
            .map(|r| match r {
                Ok(((connection, mechanism), transaction)) => Ok(RelayReport {
                    connection,
                    mechanism,
                    transaction,
                }),
                Err(Unsent::Error(e)) => Err(self.dial_error(e)),
                Err(Unsent::Refused(never)) => match never {},
            })
            .collect()
    }

    /// QUITs every idle connection to the relay and waits for the replies; later sends
    /// fail with a usage error.
    pub async fn close(&self) {
        if let Some(pool) = self.pool.get() {
            pool.close().await;
        } else {
            // Nothing was ever sent: a closed pool, so that later sends fail as documented.
            self.connections().close().await;
        }
    }

    /// The TLS settings of every connection, for REQUIRETLS messages or not.
    fn tls(&self, requiretls: bool) -> TlsConfig {
        let mut tls = self.policy.tls().clone();
        if self.implicit {
            tls = tls.with_mode(TlsMode::Implicit);
        }
        if self.credentials.is_some() || requiretls {
            tls = tls.confidential(true);
        }
        tls
    }

    fn connections(&self) -> &Pool<MaybeTls<C::Stream>> {
        self.pool.get_or_init(|| {
            let dialer = RelayDialer {
                connector: Arc::clone(&self.connector),
                target: Target::from_host(self.host.clone(), self.port)
                    .connect_timeout(self.config.get_timeouts().connect),
                config: self.config.clone(),
                tls: self.tls(false),
                tls_requiretls: self.tls(true),
                name: self.host.to_string(),
                policy: self.policy.clone(),
                credentials: self.credentials.clone(),
                refusal: Arc::clone(&self.refusal),
            };
            Pool::new(self.pool_config.clone(), dialer)
        })
    }

    /// The dialer's error as [`Relay::send`] reports it: the hook's refusal as such.
    fn dial_error(&self, e: Error) -> DeliveryError {
        if matches!(&e, Error::Usage(UsageError::InvalidState(m)) if *m == REFUSED_BY_POLICY) {
            let refusal = self
                .refusal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(refusal) = refusal {
                return DeliveryError::Policy(refusal);
            }
        }
        e.into()
    }
}

/// Makes each connection to the relay: connect through the connector, TLS under the
/// policy, the policy hook (before any credential goes out), AUTH.
///
/// A refusal by the hook cannot travel as an [`Error`] (it is not the client's): the
/// dialer records it in `refusal` and returns the [`REFUSED_BY_POLICY`] marker, which
/// [`Relay::dial_error`] turns back into it. Two dials refused at once record the same
/// relay name; the level shown is the later one's.
struct RelayDialer<C> {
    connector: Arc<C>,
    target: Target,
    config: ClientConfig,
    tls: TlsConfig,
    tls_requiretls: TlsConfig,
    name: String,
    policy: DeliveryPolicy,
    credentials: Option<(Credentials, AuthOptions)>,
    refusal: Arc<Mutex<Option<PolicyRefusal>>>,
}

impl<C: Connector + 'static> Dial<MaybeTls<C::Stream>> for RelayDialer<C>
where
    C::Stream: 'static,
{
    fn dial<'a>(&'a self, destination: &'a Destination) -> DialFuture<'a, MaybeTls<C::Stream>> {
        Box::pin(async move {
            let tls = match destination.get_tag() {
                Some(REQUIRETLS_TAG) => &self.tls_requiretls,
                _ => &self.tls,
            };
            let mut client = open(
                &*self.connector,
                &self.target,
                &self.config,
                tls,
                &self.name,
            )
            .await?;
            let level = SecurityLevel::of(client.tls_report());
            if !self.policy.accepts(&self.name, level) {
                let _ = client.quit().await;
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(PolicyRefusal::new(&self.name, level));
                return Err(Error::Usage(UsageError::InvalidState(REFUSED_BY_POLICY)));
            }
            if let Some((credentials, options)) = &self.credentials
                && let Err(e) = client.authenticate(credentials, options).await
            {
                let _ = client.quit().await;
                return Err(e);
            }
            Ok(client)
        })
    }
}

/// What [`Relay::send`] did: the connection, the AUTH mechanism used, and the
/// transaction's per-recipient results.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[must_use = "a report may say that nothing was delivered: check it"]
pub struct RelayReport {
    connection: Connection,
    mechanism: Option<Mechanism>,
    transaction: TransactionReport,
}

impl RelayReport {
    /// The connection: host, greeting, capabilities, TLS report and security level.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The mechanism AUTH succeeded with; `None` without credentials.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// One result per recipient, the reply to the data, the transaction's error.
    pub fn transaction(&self) -> &TransactionReport {
        &self.transaction
    }
}
