//! Direct delivery to the mail exchangers (RFC 5321 §5.1): the walk over a route's hosts
//! and addresses until one host decides. The rules are in the [module docs](super).

use std::net::SocketAddr;

use super::domain::{RouteDomain, group_by_domain};
use super::mx::{DnsError, Route, Router};
use super::policy::{DeliveryPolicy, SecurityLevel};
use super::report::{
    Attempt, Connection, DeliveryError, DeliveryReport, DomainReport, PolicyRefusal,
};
use super::resolver::Resolver;
use crate::client::{Client, ClientConfig};
use crate::connect::{Connector, Target, TcpConnector};
use crate::error::Error;
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
/// See the [module docs](super#direct-mx-delivery) for the walk and an example.
pub struct MxDelivery<R, C = TcpConnector> {
    router: Router<R>,
    connector: C,
    config: ClientConfig,
    policy: DeliveryPolicy,
    port: u16,
}

impl<R, C> std::fmt::Debug for MxDelivery<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxDelivery")
            .field("router", &self.router)
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl<R: Resolver> MxDelivery<R> {
    /// Delivery over `router` with the client settings `config` (EHLO name, timeouts,
    /// transcript), over TCP to port 25, under [`DeliveryPolicy::default`] (`may`).
    pub fn new(router: Router<R>, config: ClientConfig) -> Self {
        Self {
            router,
            connector: TcpConnector::new(),
            config,
            policy: DeliveryPolicy::default(),
            port: SMTP_PORT,
        }
    }
}

impl<R, C> MxDelivery<R, C> {
    /// Opens every connection, the plaintext reconnection after a failed handshake
    /// included, through `connector` (a [`Socks5Connector`](crate::connect::Socks5Connector),
    /// an `Arc<dyn Connector<Stream = …>>`, a test's).
    pub fn connector<D: Connector>(self, connector: D) -> MxDelivery<R, D> {
        MxDelivery {
            router: self.router,
            connector,
            config: self.config,
            policy: self.policy,
            port: self.port,
        }
    }

    /// The TLS policy of every connection.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The port of every connection to an MX host (default [`SMTP_PORT`]); for tests.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
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
}

/// How one connection ended.
enum Tried<S> {
    /// Before MAIL: the next address or host gets the recipients.
    Failed(DeliveryError),
    /// A transaction ran on this connection.
    Ran(Box<Client<MaybeTls<S>>>, TransactionReport),
}

/// A recipient as `group_by_domain` wants it.
struct Rcpt<'a>(&'a Mailbox);

impl AsRef<str> for Rcpt<'_> {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl<R: Resolver, C: Connector> MxDelivery<R, C> {
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
    /// Deadlines are per lookup (the resolver's) and per connection (the [`ClientConfig`]'s
    /// timeouts, `connect` included), not for the whole walk.
    ///
    /// # Errors
    /// [`DomainError`] before anything is looked up or sent, when a recipient's domain has
    /// no A-label form. Everything else is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the connection in progress; what the servers got is
    /// unknown.
    pub async fn deliver(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<DeliveryReport, DomainError> {
        let groups = group_by_domain(envelope.recipients().iter().map(Rcpt))?;
        let mut domains = Vec::with_capacity(groups.len());
        for group in groups {
            let to: Vec<Mailbox> = group.recipients.iter().map(|r| r.0.clone()).collect();
            domains.push(
                self.deliver_domain(group.domain, envelope, to, message)
                    .await,
            );
        }
        Ok(DeliveryReport::new(domains))
    }

    async fn deliver_domain(
        &self,
        domain: RouteDomain,
        envelope: &Envelope,
        to: Vec<Mailbox>,
        message: &[u8],
    ) -> DomainReport {
        match self.router.route(&domain).await {
            Err(e) => DomainReport::dns_failed(domain, &to, e),
            Ok(route) => {
                let envelope = envelope.with_recipients(to);
                self.walk(route, &envelope, message).await
            }
        }
    }

    async fn walk(&self, route: Route, envelope: &Envelope, message: &[u8]) -> DomainReport {
        let domain_name = route.domain.to_string();
        // RFC 8689 §4.1: a REQUIRETLS message never falls back to plaintext.
        let mut tls = self.policy.tls().clone().without_server_name();
        if envelope.requires_tls() {
            tls = tls.confidential(true);
        }
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_run: Option<TransactionReport> = None;
        for host in &route.hosts {
            let addresses = match &host.addresses {
                Ok(a) => a,
                Err(e) => {
                    attempts.push(Attempt::new(&host.name, None, e.clone().into()));
                    last_run = None;
                    continue;
                }
            };
            for ip in addresses {
                let addr = SocketAddr::new(*ip, self.port);
                match self
                    .try_address(&host.name, addr, &domain_name, &tls, envelope, message)
                    .await
                {
                    Tried::Failed(error) => {
                        attempts.push(Attempt::new(&host.name, Some(addr), error));
                        last_run = None;
                    }
                    Tried::Ran(client, report) => {
                        let connection = Connection::of(&client, &host.name, Some(addr));
                        // Every outcome is decided: a failed QUIT changes none of them.
                        let _ = client.quit().await;
                        let all_transient = report
                            .recipients
                            .iter()
                            .all(|r| r.status() == RecipientStatus::Transient);
                        if !all_transient {
                            return DomainReport::decided(
                                route.domain,
                                connection,
                                attempts,
                                &report,
                            );
                        }
                        // Every recipient transient: the next host gets all of them.
                        attempts.push(Attempt::new(
                            &host.name,
                            Some(addr),
                            transaction_error(&report),
                        ));
                        last_run = Some(report);
                        break;
                    }
                }
            }
        }
        undecided(route.domain, envelope.recipients(), attempts, last_run)
    }

    /// One connection: connect, set up TLS, check the policy, run the transaction.
    async fn try_address(
        &self,
        host: &str,
        addr: SocketAddr,
        domain: &str,
        tls: &TlsConfig,
        envelope: &Envelope,
        message: &[u8],
    ) -> Tried<C::Stream> {
        let target = Target::from(addr).connect_timeout(self.config.get_timeouts().connect);
        let mut client = match open(&self.connector, &target, &self.config, tls, host).await {
            Ok(c) => c,
            Err(e) => return Tried::Failed(e.into()),
        };
        let level = SecurityLevel::of(client.tls_report());
        if !self.policy.accepts(domain, level) {
            let _ = client.quit().await;
            return Tried::Failed(DeliveryError::Policy(PolicyRefusal::new(domain, level)));
        }
        let report = match client.send_bytes(envelope, message).await {
            Ok(r) => r,
            Err(e) => return Tried::Failed(e.into()),
        };
        match &report.error {
            // Checked before MAIL was sent: the host's, like its capabilities.
            Some(e @ (Error::TooLarge { .. } | Error::Extension(_) | Error::Body(_))) => {
                let e = e.clone();
                let _ = client.quit().await;
                Tried::Failed(e.into())
            }
            _ => Tried::Ran(Box::new(client), report),
        }
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
