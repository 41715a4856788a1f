//! Direct delivery to the mail exchangers (RFC 5321 §5.1): the walk over a route's hosts
//! and addresses until one host decides. The rules are in the [module docs](super).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use super::domain::{RouteDomain, group_by_domain};
use super::mx::{DnsError, Route, Router};
use super::policy::{DeliveryPolicy, SecurityLevel, requiretls_groups};
use super::pool::{Destination, Dial, DialFuture, Pool, PoolConfig, PoolStats, TlsPolicy, Unsent};
use super::report::{
    Attempt, Connection, DeliveryError, DeliveryReport, DomainReport, PolicyRefusal,
};
use super::resolver::Resolver;
use crate::client::{Client, ClientConfig};
use crate::connect::{Connector, Host, Target, TcpConnector};
use crate::error::{Error, UsageError};
use crate::proto::address::Mailbox;
use crate::tls::{MaybeTls, TlsConfig};
use crate::{Envelope, RecipientStatus, TransactionReport};

use super::domain::DomainError;

/// The SMTP port of mail exchangers (RFC 5321 §4.5.4.2 calls it "port 25").
pub const SMTP_PORT: u16 = 25;

/// Direct-to-MX delivery: groups an envelope's recipients by domain, routes each domain
/// with a [`Router`], and walks its hosts over a [`Connector`] under one
/// [`DeliveryPolicy`]. It holds no credentials: hosts that DNS chose never see any.
///
/// Connections are pooled: one to an MX host stays open after its transaction and
/// carries the next message for that host (a later [`MxDelivery::deliver`], or the
/// other messages of a [`MxDelivery::deliver_batch`]), until the pool's limits or idle
/// timeout QUIT it, or [`MxDelivery::close`]. A connection is only reused for the same
/// host name, address, port and TLS settings.
///
/// See the [module docs](super#direct-mx-delivery) for the walk and an example.
pub struct MxDelivery<R, C: Connector = TcpConnector>
where
    C::Stream: 'static,
{
    router: Router<R>,
    connector: Arc<C>,
    config: ClientConfig,
    policy: DeliveryPolicy,
    port: u16,
    pool_config: PoolConfig,
    /// Made at the first delivery, from the settings then.
    pool: OnceLock<Pool<MaybeTls<C::Stream>>>,
}

impl<R, C: Connector> std::fmt::Debug for MxDelivery<R, C>
where
    C::Stream: 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxDelivery")
            .field("router", &self.router)
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field("port", &self.port)
            .field("pool", &self.pool_config)
            .finish_non_exhaustive()
    }
}

impl<R: Resolver> MxDelivery<R> {
    /// Delivery over `router` with the client settings `config` (EHLO name, timeouts,
    /// transcript, window), over TCP to port 25, under [`DeliveryPolicy::default`]
    /// (`may`), with [`PoolConfig::default`].
    pub fn new(router: Router<R>, config: ClientConfig) -> Self {
        Self {
            router,
            connector: Arc::new(TcpConnector::new()),
            config,
            policy: DeliveryPolicy::default(),
            port: SMTP_PORT,
            pool_config: PoolConfig::default(),
            pool: OnceLock::new(),
        }
    }
}

impl<R, C: Connector> MxDelivery<R, C>
where
    C::Stream: 'static,
{
    /// Opens every connection, the plaintext reconnection after a failed handshake
    /// included, through `connector` (a [`Socks5Connector`](crate::connect::Socks5Connector),
    /// an `Arc<dyn Connector<Stream = …>>`, a test's).
    pub fn connector<D: Connector>(self, connector: D) -> MxDelivery<R, D>
    where
        D::Stream: 'static,
    {
        MxDelivery {
            router: self.router,
            connector: Arc::new(connector),
            config: self.config,
            policy: self.policy,
            port: self.port,
            pool_config: self.pool_config,
            pool: OnceLock::new(),
        }
    }

    /// The TLS policy of every connection.
    ///
    /// Like every setting, give it before the first delivery: a setting changed later
    /// starts a new pool (the old one's connections are dropped without QUIT).
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self.pool = OnceLock::new();
        self
    }

    /// The port of every connection to an MX host (default [`SMTP_PORT`]); for tests.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self.pool = OnceLock::new();
        self
    }

    /// The connection pool's settings: transactions per connection (the server's
    /// MAILMAX applies too), idle timeout, how many connections at once per MX address
    /// and in all. Default: [`PoolConfig::default`].
    pub fn pool(mut self, config: PoolConfig) -> Self {
        self.pool_config = config;
        self.pool = OnceLock::new();
        self
    }

    /// The router.
    pub fn router(&self) -> &Router<R> {
        &self.router
    }

    /// The policy.
    pub fn get_policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    /// The port.
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// The pool's counters: connections opened, dials failed, connections found closed
    /// while idle, transactions.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.get().map(Pool::stats).unwrap_or_default()
    }
}

/// How one message fared at one address.
enum Tried {
    /// Before MAIL: the next address or host gets the recipients.
    Failed(DeliveryError),
    /// A transaction ran on this connection.
    Ran(Box<(Connection, TransactionReport)>),
}

/// A recipient as `group_by_domain` wants it, with its position in the envelope (so that
/// a domain's share keeps each recipient's own DSN parameters).
struct Rcpt<'a>(usize, &'a Mailbox);

impl AsRef<str> for Rcpt<'_> {
    fn as_ref(&self) -> &str {
        self.1.as_str()
    }
}

/// One message's walk over a domain's hosts.
struct Walk<'a> {
    /// The message's envelope with this domain's recipients.
    envelope: Envelope,
    message: &'a [u8],
    attempts: Vec<Attempt>,
    last_run: Option<TransactionReport>,
    done: Option<DomainReport>,
}

/// The tag suffix of a destination for REQUIRETLS messages (RFC 8689 §4.1: never in
/// plaintext, so never on a connection that may have fallen back).
const REQUIRETLS_SUFFIX: &str = " (REQUIRETLS)";

impl<R: Resolver, C: Connector + 'static> MxDelivery<R, C>
where
    C::Stream: 'static,
{
    /// Delivers `message` to every recipient of `envelope`, domain by domain in the order
    /// the domains first appear.
    ///
    /// For each domain: route it ([`Router::route`]), then try the addresses of each host
    /// in order until one host decides. Everything before MAIL (connect, greeting, EHLO,
    /// STARTTLS and TLS under the policy, the policy hook, the size and extension checks)
    /// is the host's: a failure there is an [`Attempt`] and the next address is tried.
    /// Once MAIL is sent the host decides, unless every recipient came out transient:
    /// then that is an attempt too and the next host gets all of them. A 5yz to MAIL, RCPT
    /// or the data is final. The message may so reach two hosts, as with any MTA.
    ///
    /// An idle pooled connection to the address is used when there is one; one the
    /// server closed while idle (its 421 or EOF) is replaced by a fresh one, and that is
    /// not an attempt.
    ///
    /// Deadlines are per lookup (the resolver's) and per connection (the [`ClientConfig`]'s
    /// timeouts, `connect` included), not for the whole walk.
    ///
    /// # Errors
    /// [`DomainError`] before anything is looked up or sent, when a recipient's domain has
    /// no A-label form. Everything else is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future closes the connection in use; what the servers got is
    /// unknown.
    pub async fn deliver(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<DeliveryReport, DomainError> {
        let mut reports = self.deliver_batch([(envelope, message)]).await?;
        Ok(reports
            .pop()
            .unwrap_or_else(|| DeliveryReport::new(Vec::new())))
    }

    /// Delivers several messages, each with its own envelope, and returns one
    /// [`DeliveryReport`] per message, in order, each exactly what
    /// [`MxDelivery::deliver`] would give that message alone.
    ///
    /// Each domain is routed once for the batch. At each address, the messages still
    /// walking go on one pooled connection together, through
    /// [`Client::send_batch`](crate::Client::send_batch) (with up to the
    /// [`ClientConfig::window`] of transactions in flight); each then follows the walk
    /// on its own: one the host decided is done, one that failed before MAIL goes on to
    /// the next address, one whose recipients all came out transient to the next host.
    /// Domains are delivered one after another, in the order they first appear.
    ///
    /// # Errors
    /// [`DomainError`] before anything is looked up or sent, when a recipient's domain of
    /// any message has no A-label form.
    ///
    /// # Cancel safety
    /// As [`MxDelivery::deliver`].
    pub async fn deliver_batch<'a, I>(
        &self,
        messages: I,
    ) -> Result<Vec<DeliveryReport>, DomainError>
    where
        I: IntoIterator<Item = (&'a Envelope, &'a [u8])>,
    {
        let messages: Vec<(&Envelope, &[u8])> = messages.into_iter().collect();
        // Every message's groups first: a bad domain anywhere sends nothing.
        let mut groups = Vec::with_capacity(messages.len());
        for (envelope, _) in &messages {
            groups.push(group_by_domain(
                envelope
                    .recipients()
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Rcpt(i, r)),
            )?);
        }
        // The domains in the order they first appear, each with (message, position).
        let mut domains: Vec<(RouteDomain, Vec<(usize, usize)>)> = Vec::new();
        for (m, message_groups) in groups.iter().enumerate() {
            for (k, group) in message_groups.iter().enumerate() {
                match domains.iter_mut().find(|(d, _)| *d == group.domain) {
                    Some((_, at)) => at.push((m, k)),
                    None => domains.push((group.domain.clone(), vec![(m, k)])),
                }
            }
        }
        let mut slots: Vec<Vec<Option<DomainReport>>> = groups
            .iter()
            .map(|g| g.iter().map(|_| None).collect())
            .collect();
        for (domain, at) in domains {
            let jobs: Vec<(Envelope, &[u8])> = at
                .iter()
                .filter_map(|&(m, k)| {
                    let (envelope, message) = messages.get(m)?;
                    let at: Vec<usize> = groups
                        .get(m)?
                        .get(k)?
                        .recipients
                        .iter()
                        .map(|r| r.0)
                        .collect();
                    Some((envelope.with_recipients_at(&at)?, *message))
                })
                .collect();
            let reports = match self.router.route(&domain).await {
                Err(e) => jobs
                    .iter()
                    .map(|(envelope, _)| {
                        DomainReport::dns_failed(domain.clone(), envelope.recipients(), e.clone())
                    })
                    .collect(),
                Ok(route) => self.walk(route, jobs).await,
            };
            for ((m, k), report) in at.into_iter().zip(reports) {
                if let Some(slot) = slots.get_mut(m).and_then(|s| s.get_mut(k)) {
                    *slot = Some(report);
                }
            }
        }
        Ok(slots
            .into_iter()
            .map(|s| DeliveryReport::new(s.into_iter().flatten().collect()))
            .collect())
    }

    /// QUITs every idle connection and waits for the replies; later deliveries fail
    /// (every recipient transient, with a usage error).
    pub async fn close(&self) {
        self.connections().close().await;
    }

    /// Every message's walk over `route`'s hosts, side by side; one report per job.
    async fn walk(&self, route: Route, jobs: Vec<(Envelope, &[u8])>) -> Vec<DomainReport> {
        let domain_name = route.domain.to_string();
        let mut walks: Vec<Walk<'_>> = jobs
            .into_iter()
            .map(|(envelope, message)| Walk {
                envelope,
                message,
                attempts: Vec::new(),
                last_run: None,
                done: None,
            })
            .collect();
        for host in &route.hosts {
            let addresses = match &host.addresses {
                Ok(a) => a,
                Err(e) => {
                    for w in walks.iter_mut().filter(|w| w.done.is_none()) {
                        w.attempts
                            .push(Attempt::new(&host.name, None, e.clone().into()));
                        w.last_run = None;
                    }
                    continue;
                }
            };
            // The walks still at this host: not decided, and not moved on to the next
            // host by an all-transient transaction here.
            let mut here: Vec<usize> = (0..walks.len())
                .filter(|&i| walks.get(i).is_some_and(|w| w.done.is_none()))
                .collect();
            for ip in addresses {
                if here.is_empty() {
                    break;
                }
                let addr = SocketAddr::new(*ip, self.port);
                let batch: Vec<(&Envelope, &[u8])> = here
                    .iter()
                    .filter_map(|&i| walks.get(i).map(|w| (&w.envelope, w.message)))
                    .collect();
                let outcomes = self
                    .try_address(&host.name, addr, &domain_name, &batch)
                    .await;
                let mut still = Vec::new();
                for (i, outcome) in here.into_iter().zip(outcomes) {
                    let Some(w) = walks.get_mut(i) else { continue };
                    match outcome {
                        Tried::Failed(error) => {
                            w.attempts.push(Attempt::new(&host.name, Some(addr), error));
                            w.last_run = None;
                            still.push(i);
                        }
                        Tried::Ran(carried) => {
                            let (connection, report) = *carried;
                            let all_transient = report
                                .recipients
                                .iter()
                                .all(|r| r.status() == RecipientStatus::Transient);
                            if all_transient {
                                // Every recipient transient: the next host gets all of them.
                                w.attempts.push(Attempt::new(
                                    &host.name,
                                    Some(addr),
                                    transaction_error(&report),
                                ));
                                w.last_run = Some(report);
                            } else {
                                w.done = Some(DomainReport::decided(
                                    route.domain.clone(),
                                    connection,
                                    std::mem::take(&mut w.attempts),
                                    &report,
                                ));
                            }
                        }
                    }
                }
                here = still;
            }
        }
        walks
            .into_iter()
            .map(|w| match w.done {
                Some(report) => report,
                None => undecided(
                    route.domain.clone(),
                    w.envelope.recipients(),
                    w.attempts,
                    w.last_run,
                ),
            })
            .collect()
    }

    /// The messages of `batch` at one address, on a pooled connection (REQUIRETLS ones on
    /// their own): one outcome per message.
    async fn try_address(
        &self,
        host: &str,
        addr: SocketAddr,
        domain: &str,
        batch: &[(&Envelope, &[u8])],
    ) -> Vec<Tried> {
        let mut outcomes: Vec<Option<Tried>> = batch.iter().map(|_| None).collect();
        for (requiretls, indices, group) in requiretls_groups(batch) {
            let tls = self.tls(requiretls);
            let tag = match requiretls {
                true => format!("{host}{REQUIRETLS_SUFFIX}"),
                false => host.to_owned(),
            };
            let destination = Destination::from_host(Host::Ip(addr.ip()), addr.port())
                .tls(TlsPolicy::from(&tls))
                .tag(tag);
            let results = self
                .connections()
                .batch_with(&destination, &group, |c| {
                    let level = SecurityLevel::of(c.tls_report());
                    if !self.policy.accepts(domain, level) {
                        return Err(PolicyRefusal::new(domain, level));
                    }
                    Ok(Connection::of(c, host, Some(addr)))
                })
                .await;
            for (i, result) in indices.into_iter().zip(results) {
                let tried = match result {
                    // Never queued: nothing was sent (a check before MAIL, the connection
                    // lost before it): the host's, like its capabilities.
                    Ok((_, report)) if report.id().is_none() => Tried::Failed(
                        report
                            .error
                            .unwrap_or(Error::Closed { command: None })
                            .into(),
                    ),
                    Ok(carried) => Tried::Ran(Box::new(carried)),
                    Err(Unsent::Error(e)) => Tried::Failed(e.into()),
                    Err(Unsent::Refused(refusal)) => Tried::Failed(DeliveryError::Policy(refusal)),
                };
                if let Some(slot) = outcomes.get_mut(i) {
                    *slot = Some(tried);
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Tried::Failed(Error::Closed { command: None }.into())))
            .collect()
    }

    /// The TLS settings of a connection: the policy's, verified under each host's own
    /// name; RFC 8689 §4.1: a REQUIRETLS message never falls back to plaintext.
    fn tls(&self, requiretls: bool) -> TlsConfig {
        let tls = self.policy.tls().clone().without_server_name();
        if requiretls {
            tls.confidential(true)
        } else {
            tls
        }
    }

    fn connections(&self) -> &Pool<MaybeTls<C::Stream>> {
        self.pool.get_or_init(|| {
            let dialer = MxDialer {
                connector: Arc::clone(&self.connector),
                config: self.config.clone(),
                tls: self.tls(false),
                tls_requiretls: self.tls(true),
            };
            Pool::new(self.pool_config.clone(), dialer)
        })
    }
}

/// Makes each connection to an MX address: the destination's host is the address, its
/// tag the MX name to verify the certificate under (with [`REQUIRETLS_SUFFIX`] for
/// REQUIRETLS messages).
struct MxDialer<C> {
    connector: Arc<C>,
    config: ClientConfig,
    tls: TlsConfig,
    tls_requiretls: TlsConfig,
}

impl<C: Connector + 'static> Dial<MaybeTls<C::Stream>> for MxDialer<C>
where
    C::Stream: 'static,
{
    fn dial<'a>(&'a self, destination: &'a Destination) -> DialFuture<'a, MaybeTls<C::Stream>> {
        Box::pin(async move {
            let tag = destination.get_tag().unwrap_or_default();
            let (name, tls) = match tag.strip_suffix(REQUIRETLS_SUFFIX) {
                Some(name) => (name, &self.tls_requiretls),
                None => (tag, &self.tls),
            };
            let Host::Ip(ip) = destination.host() else {
                return Err(Error::Usage(UsageError::InvalidState(
                    "an MX destination is an address",
                )));
            };
            let target = Target::from(SocketAddr::new(*ip, destination.port()))
                .connect_timeout(self.config.get_timeouts().connect);
            open(&*self.connector, &target, &self.config, tls, name).await
        })
    }
}

/// Connects through `connector` and sets the session up under `tls`, verifying `name`; a
/// plaintext reconnection after a failed handshake goes through `connector` too.
pub(crate) async fn open<C: Connector>(
    connector: &C,
    target: &Target,
    config: &ClientConfig,
    tls: &TlsConfig,
    name: &str,
) -> Result<Client<MaybeTls<C::Stream>>, Error> {
    let stream = connector.connect(target).await?;
    let mut client = Client::new(MaybeTls::Plain(stream), config.clone());
    client
        .establish_with(tls, name, || connector.connect(target))
        .await?;
    Ok(client)
}

/// The error of a transaction in which every recipient came out transient.
fn transaction_error(report: &TransactionReport) -> DeliveryError {
    report
        .error
        .clone()
        .or_else(|| {
            report
                .recipients
                .iter()
                .find_map(|r| r.result.clone().err())
        })
        .unwrap_or(Error::Closed { command: None })
        .into()
}

/// No host decided: the recipients carry the last attempt's result, permanent only if
/// every attempt failed permanently.
fn undecided(
    domain: RouteDomain,
    to: &[Mailbox],
    attempts: Vec<Attempt>,
    last_run: Option<TransactionReport>,
) -> DomainReport {
    let permanent = attempts.iter().all(|a| a.error().is_permanent());
    let Some(last) = attempts.last().map(|a| a.error().clone()) else {
        // A route always has a host; without one there is nothing to say but that.
        let name = domain.to_string();
        return DomainReport::dns_failed(
            domain,
            to,
            DnsError {
                name,
                kind: super::mx::DnsErrorKind::NoMailHost,
            },
        );
    };
    match last_run {
        Some(report) => DomainReport::transient_at_last(domain, attempts, &report, last),
        None => DomainReport::undecided(domain, to, attempts, last, permanent),
    }
}
