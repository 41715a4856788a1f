//! Relaying through a smarthost: submission on port 587 with STARTTLS, or 465 with
//! implicit TLS (RFC 8314), with AUTH (RFC 4954), under the same [`DeliveryPolicy`] as MX
//! delivery.

use std::net::SocketAddr;

use super::direct::open;
use super::policy::{DeliveryPolicy, SecurityLevel};
use super::report::{Connection, DeliveryError, PolicyRefusal};
use crate::auth::{AuthOptions, Credentials, Mechanism};
use crate::client::ClientConfig;
use crate::connect::{Connector, Host, Target, TcpConnector};
use crate::proto::address::AddressError;
use crate::tls::{Level, TlsMode};
use crate::{Envelope, TransactionReport};

/// The submission port, STARTTLS (RFC 6409 §3.1).
pub const SUBMISSION_PORT: u16 = 587;
/// The submission port with implicit TLS (RFC 8314 §3.3).
pub const SUBMISSIONS_PORT: u16 = 465;

/// A smarthost: every message goes to this one server, which relays it.
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
/// # Ok(())
/// # }
/// ```
pub struct Relay<C = TcpConnector> {
    host: Host,
    port: u16,
    implicit: bool,
    credentials: Option<(Credentials, AuthOptions)>,
    policy: DeliveryPolicy,
    connector: C,
    config: ClientConfig,
}

impl<C> std::fmt::Debug for Relay<C> {
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
            connector: TcpConnector::new(),
            config,
        })
    }
}

impl<C> Relay<C> {
    /// Another port (a submission server on 2525, a test's), same kind of TLS.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Authenticates with `credentials` as `options` allow, after TLS and before MAIL.
    pub fn credentials(mut self, credentials: Credentials, options: AuthOptions) -> Self {
        self.credentials = Some((credentials, options));
        self
    }

    /// The TLS policy. With implicit TLS the mode is always [`TlsMode::Implicit`]; the
    /// policy's verification, roots and hook apply.
    pub fn policy(mut self, policy: DeliveryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Opens the connection (and any reconnection) through `connector`.
    pub fn connector<D: Connector>(self, connector: D) -> Relay<D> {
        Relay {
            host: self.host,
            port: self.port,
            implicit: self.implicit,
            credentials: self.credentials,
            policy: self.policy,
            connector,
            config: self.config,
        }
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
}

impl<C: Connector> Relay<C> {
    /// Connects, sets TLS up, checks the policy hook, authenticates when credentials were
    /// given, sends the message, and QUITs.
    ///
    /// # Errors
    /// Anything before MAIL: [`DeliveryError::Smtp`] for a failed connection, a refused
    /// greeting, TLS as the policy requires it (transient), or AUTH
    /// ([`Error::Auth`](crate::Error::Auth)); [`DeliveryError::Policy`] when the hook
    /// refused. From MAIL on, every recipient's result is in the report.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the connection; what the relay got is unknown.
    pub async fn send(
        &self,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<RelayReport, DeliveryError> {
        let mut tls = self.policy.tls().clone();
        if self.implicit {
            tls = tls.with_mode(TlsMode::Implicit);
        }
        if self.credentials.is_some() || envelope.requires_tls() {
            tls = tls.confidential(true);
        }
        let target = Target::from_host(self.host.clone(), self.port)
            .connect_timeout(self.config.get_timeouts().connect);
        let name = self.host.to_string();
        let mut client = open(&self.connector, &target, &self.config, &tls, &name).await?;
        let address = match &self.host {
            Host::Ip(ip) => Some(SocketAddr::new(*ip, self.port)),
            Host::Name(_) => None,
        };
        let level = SecurityLevel::of(client.tls_report());
        if !self.policy.accepts(&name, level) {
            let _ = client.quit().await;
            return Err(DeliveryError::Policy(PolicyRefusal::new(&name, level)));
        }
        let mechanism = match &self.credentials {
            Some((credentials, options)) => match client.authenticate(credentials, options).await {
                Ok(m) => Some(m),
                Err(e) => {
                    let _ = client.quit().await;
                    return Err(e.into());
                }
            },
            None => None,
        };
        let transaction = client.send_bytes(envelope, message).await?;
        let connection = Connection::of(&client, &name, address);
        // Every outcome is decided: a failed QUIT changes none of them.
        let _ = client.quit().await;
        Ok(RelayReport {
            connection,
            mechanism,
            transaction,
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
