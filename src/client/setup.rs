//! Connection setup: dialling through a [`Connector`], the greeting and EHLO, STARTTLS
//! (RFC 3207) or implicit TLS (RFC 8314), and the policy that chooses between TLS, failure
//! and plaintext fallback. The handshake itself is `tls`'s; what it means for the session
//! is decided here.

use std::future::Future;
use std::ops::ControlFlow::{Break, Continue};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Client, ClientConfig};
use crate::connect::{Connector, IntoTarget, Target, TcpConnector};
use crate::proto::error::{Error, TlsError, UsageError};
use crate::proto::{Event, Phase};
use crate::tls::handshake::Handshake;
use crate::tls::{MaybeTls, TlsConfig, TlsMode, TlsReport};

impl Client<MaybeTls<TcpStream>> {
    /// Connects over TCP and sets the session up as the configuration's
    /// [`TlsConfig`](ClientConfig::tls) says: by default, greeting, EHLO, STARTTLS with the
    /// certificate verified against the platform's roots, and EHLO again over TLS; nothing
    /// is sent in the clear if that fails. `target` is `"host:port"`, `(host, port)`, a
    /// socket address or a [`Target`] ([`IntoTarget`]); its host is the name verified and
    /// sent as SNI unless [`TlsConfig::server_name`] overrides it.
    ///
    /// [`Client::connect_with`] with a [`TcpConnector`]: every address of the name is tried
    /// in turn within [`Timeouts::connect`](crate::proto::Timeouts::connect) (unless the
    /// [`Target`] has its own timeout), with TCP_NODELAY.
    ///
    /// ```no_run
    /// use smtp_courier::{Client, ClientConfig};
    /// use smtp_courier::tls::{TlsConfig, TlsMode};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), smtp_courier::Error> {
    /// // Port 587: STARTTLS required and verified, the default.
    /// let config = ClientConfig::new("laptop.example.org")?;
    /// let client = Client::connect("smtp.example.org:587", config).await?;
    /// assert!(client.get_ref().is_tls());
    /// // Port 465: TLS from the first byte (RFC 8314).
    /// let config = ClientConfig::new("laptop.example.org")?.tls(TlsConfig::new(TlsMode::Implicit));
    /// let client = Client::connect(("smtp.example.org", 465), config).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// On failure the client is gone, and with it the greeting, capabilities and TLS
    /// report. To report those too, take the steps: a connector, [`Client::new`],
    /// [`Client::establish`], then read [`Client::greeting`] and [`Client::tls_report`]
    /// whatever the result.
    ///
    /// # Errors
    /// A usage error for a malformed target; as [`TcpConnector`] and [`Client::establish`].
    ///
    /// # Cancel safety
    /// Dropping the future drops the connection; nothing leaks.
    pub async fn connect(target: impl IntoTarget, config: ClientConfig) -> Result<Self, Error> {
        Self::connect_with(&TcpConnector::new(), target, config).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<MaybeTls<S>> {
    /// Sends STARTTLS, checks that nothing followed the 220 in plaintext, performs the
    /// handshake within the TLS-handshake deadline, forgets every capability and sends
    /// EHLO again (RFC 3207 §4.2).
    ///
    /// `host` is the name to verify unless [`TlsConfig::server_name`] overrides it.
    ///
    /// # Errors
    /// - [`TlsError::Refused`] for any reply but 220; the connection is still usable in
    ///   plaintext;
    /// - [`Error::Protocol`] when bytes followed the 220 (response injection); the
    ///   connection is dropped;
    /// - [`TlsError::Verification`] when verification is enforced and fails,
    ///   [`TlsError::Handshake`] for other handshake failures,
    ///   [`TlsError::HandshakeTimeout`] past [`Phase::TlsHandshake`]'s limit; the
    ///   connection is unusable;
    /// - [`Error::Reply`] with [`CommandKind::Ehlo`](crate::proto::CommandKind::Ehlo) when
    ///   the server refuses EHLO after the handshake, as before it: a 5yz permanent, a 4yz
    ///   transient; the session is unusable.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future leaves the client unusable; every later call
    /// returns [`Error::Cancelled`].
    pub async fn starttls(&mut self, tls: &TlsConfig, host: &str) -> Result<TlsReport, Error> {
        self.operation(async |c| c.starttls_op(tls, host).await)
            .await
    }

    async fn starttls_op(&mut self, tls: &TlsConfig, host: &str) -> Result<TlsReport, Error> {
        let prepared = Handshake::prepare(tls, host)?;
        if self.conn.io.is_tls() {
            return Err(UsageError::InvalidState("TLS is already active").into());
        }
        self.conn
            .check_idle(&mut self.session, &self.timeouts)
            .await;
        self.session.starttls()?;
        let answer = self
            .wait_for(|e| match e {
                Event::StartTls(r) => Break(r),
                e => Continue(e),
            })
            .await
            .and_then(|r| r);
        match answer {
            Ok(()) => {}
            Err(Error::Reply { reply, .. }) => return Err(TlsError::Refused(reply).into()),
            Err(e) => {
                if self.session.error().is_some() {
                    // Unusable (bytes injected after the 220, a lost connection): drop
                    // the connection now rather than when the caller drops the client.
                    self.conn.io = MaybeTls::Upgrading;
                }
                return Err(e);
            }
        }
        let report = self.handshake_tls(tls, prepared, false).await?;
        self.session.tls_established();
        self.wait_for(|e| match e {
            Event::Ready(r) => Break(r),
            e => Continue(e),
        })
        .await
        // A refused EHLO is classified as any refused EHLO (RFC 5321 §4.2.1: 5yz
        // permanent, 4yz transient): a server that refuses it over TLS will
        // refuse it again, and retrying it forever helps nobody.
        .and_then(|r| r)?;
        Ok(report)
    }

    /// The TLS handshake on the plaintext stream, within the TLS-handshake deadline. On
    /// failure the session is poisoned and the stream dropped.
    async fn handshake_tls(
        &mut self,
        tls: &TlsConfig,
        prepared: Handshake,
        implicit: bool,
    ) -> Result<TlsReport, Error> {
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.conn.io, MaybeTls::Upgrading)
        else {
            return Err(UsageError::InvalidState("TLS is already active").into());
        };
        let limit = self.timeouts.get(Phase::TlsHandshake);
        match prepared.run(tls, plain, limit, implicit).await {
            Ok((stream, report)) => {
                self.conn.io = MaybeTls::Tls(Box::new(stream));
                self.after_handshake(&report);
                Ok(report)
            }
            Err(err) => {
                self.session.abort(err.clone());
                Err(err)
            }
        }
    }

    fn after_handshake(&mut self, report: &TlsReport) {
        self.session.set_tls_active();
        self.session.set_tls_verified(report.verified);
        // RFC 9266: the tls-exporter binding for SCRAM-*-PLUS (TLS 1.3 only).
        self.set_channel_binding(report.tls_exporter.clone());
        self.tls = Some(report.clone());
    }

    /// Implicit TLS (RFC 8314): the handshake before the greeting. Call on a fresh client,
    /// before [`Client::handshake`].
    ///
    /// # Errors
    /// As the handshake part of [`Client::starttls`].
    ///
    /// # Cancel safety
    /// As [`Client::starttls`].
    pub async fn start_implicit_tls(
        &mut self,
        tls: &TlsConfig,
        host: &str,
    ) -> Result<TlsReport, Error> {
        self.operation(async |c| c.start_implicit_tls_op(tls, host).await)
            .await
    }

    async fn start_implicit_tls_op(
        &mut self,
        tls: &TlsConfig,
        host: &str,
    ) -> Result<TlsReport, Error> {
        let prepared = Handshake::prepare(tls, host)?;
        self.handshake_tls(tls, prepared, true).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<MaybeTls<S>> {
    /// Connects to `target` through `connector` (TCP, a SOCKS5 proxy, anything that
    /// implements [`Connector`]) and sets the session up as the configuration's
    /// [`TlsConfig`](ClientConfig::tls) says, as [`Client::connect`] does. A plaintext
    /// fallback after a failed handshake (only with [`TlsConfig::fallback`]) dials the same
    /// target through the same connector again: through a proxy, the proxy is asked for
    /// the server again.
    ///
    /// ```no_run
    /// use smtp_courier::connect::Socks5Connector;
    /// use smtp_courier::{Client, ClientConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), smtp_courier::Error> {
    /// let proxy = Socks5Connector::new("127.0.0.1", 1080)?;
    /// let config = ClientConfig::new("laptop.example.org")?;
    /// // The proxy resolves the name; the certificate is verified against it.
    /// let client = Client::connect_with(&proxy, "smtp.example.org:587", config).await?;
    /// # drop(client);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// A usage error for a malformed target; as the connector and [`Client::establish`].
    ///
    /// # Cancel safety
    /// Dropping the future drops the connection; nothing leaks.
    pub async fn connect_with<C>(
        connector: &C,
        target: impl IntoTarget,
        config: ClientConfig,
    ) -> Result<Self, Error>
    where
        C: Connector<Stream = S> + ?Sized,
    {
        let target = target.into_target(config.timeouts.connect)?;
        let stream = connector.connect(&target).await?;
        let tls = config.tls.clone();
        let mut client = Self::new(MaybeTls::Plain(stream), config);
        client.establish(connector, &target, &tls).await?;
        Ok(client)
    }

    /// Sets the session up as `tls` says: greeting, EHLO, and STARTTLS or implicit TLS.
    /// Call it on a fresh client whose stream `connector` opened to `target`: the target's
    /// host is the name verified and sent as SNI (unless [`TlsConfig::server_name`]
    /// overrides it), and a plaintext fallback after a failed handshake dials `target`
    /// through `connector` again. On failure the client keeps what it learned (greeting,
    /// capabilities, TLS report) for reporting, but the session is unusable: nothing more
    /// is sent on it.
    ///
    /// - [`TlsMode::Skip`]: greeting and EHLO.
    /// - [`TlsMode::Implicit`]: handshake, then greeting and EHLO over TLS.
    /// - [`TlsMode::Opportunistic`]: STARTTLS when offered. Not offered: plaintext, and
    ///   [`Client::tls_report`] stays `None`; but with [`TlsConfig::confidential`] a
    ///   transient [`TlsError::NotOffered`], as in required mode. Refused, or a failed
    ///   handshake: a [`TlsError`], unless fallback is allowed ([`TlsConfig::fallback`]):
    ///   then a refused STARTTLS continues in plaintext on the same connection and a failed
    ///   handshake dials `target` again through `connector` and skips STARTTLS; the report
    ///   says `fallback`.
    /// - [`TlsMode::RequiredStartTls`]: STARTTLS not offered, refused, a failed handshake
    ///   or (when enforced) a failed verification is a transient [`TlsError`], and nothing
    ///   else is sent in the clear.
    ///
    /// [`Client::establish_with`] does the same with a name to verify other than the
    /// target's (an MX host dialled by address) and any way of dialling again.
    ///
    /// # Errors
    /// See above, plus everything [`Client::handshake`] returns, and the connector's errors
    /// when a fallback dials again.
    ///
    /// # Cancel safety
    /// As [`Client::starttls`].
    pub async fn establish<C>(
        &mut self,
        connector: &C,
        target: &Target,
        tls: &TlsConfig,
    ) -> Result<(), Error>
    where
        C: Connector<Stream = S> + ?Sized,
    {
        let host = target.host().to_string();
        self.establish_with(tls, &host, || connector.connect(target))
            .await
    }

    /// [`Client::establish`] with the name to verify (and send as SNI) given apart from
    /// the connection, `host` (unless [`TlsConfig::server_name`] overrides it), and the
    /// plaintext fallback's new connection coming from `redial` (called at most once),
    /// for instance `|| connector.connect(&target)`, so that it goes the way the first one
    /// went (through the same proxy) and to the same address.
    ///
    /// # Errors
    /// As [`Client::establish`], plus what `redial` returns.
    ///
    /// # Cancel safety
    /// As [`Client::starttls`].
    pub async fn establish_with<R, F>(
        &mut self,
        tls: &TlsConfig,
        host: &str,
        redial: R,
    ) -> Result<(), Error>
    where
        R: FnOnce() -> F,
        F: Future<Output = Result<S, Error>>,
    {
        self.operation(async |c| c.establish_op(tls, host, redial).await)
            .await
    }

    async fn establish_op<R, F>(
        &mut self,
        tls: &TlsConfig,
        host: &str,
        redial: R,
    ) -> Result<(), Error>
    where
        R: FnOnce() -> F,
        F: Future<Output = Result<S, Error>>,
    {
        match tls.mode() {
            TlsMode::Skip => self.handshake_op().await,
            TlsMode::Implicit => {
                self.start_implicit_tls_op(tls, host).await?;
                self.handshake_op().await
            }
            TlsMode::Opportunistic | TlsMode::RequiredStartTls => {
                self.handshake_op().await?;
                let offered = self.capabilities().is_some_and(|c| c.starttls());
                if !offered {
                    // A confidential session (credentials, a REQUIRETLS message) never goes
                    // on in plaintext, whatever the mode: a man in the middle may have
                    // stripped STARTTLS from the EHLO reply.
                    return if tls.mode() == TlsMode::RequiredStartTls || tls.is_confidential() {
                        Err(self.refuse_plaintext(TlsError::NotOffered.into()))
                    } else {
                        Ok(())
                    };
                }
                match self.starttls_op(tls, host).await {
                    Ok(_) => Ok(()),
                    Err(e) if tls.fallback_allowed() => self.fall_back(e, redial).await,
                    Err(e) => Err(self.refuse_plaintext(e)),
                }
            }
        }
    }

    /// The policy forbids going on without TLS: poison the session, so that no MAIL, RCPT,
    /// DATA or AUTH can follow in the clear even if the caller ignores the error.
    fn refuse_plaintext(&mut self, e: Error) -> Error {
        self.session.abort(e.clone());
        e
    }

    async fn fall_back<R, F>(&mut self, e: Error, redial: R) -> Result<(), Error>
    where
        R: FnOnce() -> F,
        F: Future<Output = Result<S, Error>>,
    {
        let why = e.to_string();
        if self.session.is_ready() {
            // STARTTLS refused with a reply: go on in plaintext on this connection, as
            // Postfix's "may" does.
            self.tls = Some(TlsReport::fallback(why));
            return Ok(());
        }
        let handshake_failed = matches!(
            e,
            Error::Tls(
                TlsError::Handshake(_) | TlsError::Verification(_) | TlsError::HandshakeTimeout
            )
        );
        if !handshake_failed {
            return Err(e);
        }
        // The handshake failed: the connection is unusable, so dial again the way the
        // first connection went (the same target through the same connector, not the
        // peer's address, which through a proxy is the proxy's) and skip STARTTLS.
        let config =
            ClientConfig::from_parts(self.session.config().clone(), self.timeouts, self.window);
        let stream = redial().await?;
        self.replace_within_operation(Self::new(MaybeTls::Plain(stream), config));
        self.tls = Some(TlsReport::fallback(why));
        self.handshake_op().await
    }
}
