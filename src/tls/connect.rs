//! STARTTLS (RFC 3207), implicit TLS (RFC 8314), and the connection policy that chooses
//! between TLS, failure and plaintext fallback.

use std::future::Future;
use std::ops::ControlFlow::{Break, Continue};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{MaybeTls, TlsConfig, TlsMode, TlsReport, new_outcome, verify};
use crate::client::{Client, ClientConfig, connect_tcp};
use crate::error::{Error, TlsError, UsageError};
use crate::proto::{Event, Phase};

/// Connects to `host:port` and sets the session up as `tls` says, including any plaintext
/// fallback; `host` is also the name verified and sent as SNI unless
/// [`TlsConfig::server_name`] overrides it.
///
/// # Errors
/// As [`Client::establish`].
pub async fn connect(
    host: &str,
    port: u16,
    config: ClientConfig,
    tls: &TlsConfig,
) -> Result<Client<MaybeTls<TcpStream>>, Error> {
    let dial = host.trim_start_matches('[').trim_end_matches(']');
    let stream = connect_tcp((dial, port), config.get_timeouts().connect).await?;
    let mut client = Client::new(MaybeTls::Plain(stream), config);
    client.establish(tls, host).await?;
    Ok(client)
}

/// What a handshake needs, checked before anything is sent: the name to verify (and send
/// as SNI), a rustls configuration, and where its verifier records the verdict.
type Prepared = (
    rustls::pki_types::ServerName<'static>,
    std::sync::Arc<rustls::ClientConfig>,
    verify::Outcome,
);

fn prepare(tls: &TlsConfig, host: &str) -> Result<Prepared, Error> {
    let outcome = new_outcome();
    Ok((
        tls.name_for(host)?,
        tls.rustls_config(outcome.clone())?,
        outcome,
    ))
}

/// Turns the error of a failed handshake into the error to report.
fn handshake_error(e: &std::io::Error, outcome: &verify::Outcome, tls: &TlsConfig) -> Error {
    let verdict = outcome.lock().ok().and_then(|g| g.clone());
    match verdict {
        Some(Err(why)) if tls.enforces_verification() => TlsError::Verification(why).into(),
        _ => TlsError::Handshake(e.to_string()).into(),
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
        let prepared = prepare(tls, host)?;
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
        (name, rustls_config, outcome): Prepared,
        implicit: bool,
    ) -> Result<TlsReport, Error> {
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.conn.io, MaybeTls::Upgrading)
        else {
            return Err(UsageError::InvalidState("TLS is already active").into());
        };
        let limit = self.timeouts.get(Phase::TlsHandshake);
        let handshake = TlsConnector::from(rustls_config).connect(name, plain);
        let stream = match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let err = handshake_error(&e, &outcome, tls);
                self.session.abort(err.clone());
                return Err(err);
            }
            Err(_) => {
                let err = Error::Tls(TlsError::HandshakeTimeout);
                self.session.abort(err.clone());
                return Err(err);
            }
        };
        let report = TlsReport::from_connection(stream.get_ref().1, &outcome, implicit);
        self.conn.io = MaybeTls::Tls(Box::new(stream));
        self.after_handshake(&report);
        Ok(report)
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
        let prepared = prepare(tls, host)?;
        self.handshake_tls(tls, prepared, true).await
    }
}

impl Client<MaybeTls<TcpStream>> {
    /// Sets the session up as `tls` says: greeting, EHLO, and STARTTLS or implicit TLS.
    /// On failure the client keeps what it learned (greeting, capabilities, TLS report)
    /// for reporting, but the session is unusable: nothing more is sent on it.
    ///
    /// - [`TlsMode::Skip`]: greeting and EHLO.
    /// - [`TlsMode::Implicit`]: handshake, then greeting and EHLO over TLS.
    /// - [`TlsMode::Opportunistic`]: STARTTLS when offered. Not offered: plaintext, and
    ///   [`Client::tls_report`] stays `None`; but with [`TlsConfig::confidential`] a
    ///   transient [`TlsError::NotOffered`], as in required mode. Refused, or a failed handshake: a
    ///   [`TlsError`], unless fallback is allowed ([`TlsConfig::fallback`]): then a
    ///   refused STARTTLS continues in plaintext on the same connection and a failed
    ///   handshake reconnects to the same address and skips STARTTLS; the report says
    ///   `fallback`.
    /// - [`TlsMode::RequiredStartTls`]: STARTTLS not offered, refused, a failed handshake
    ///   or (when enforced) a failed verification is a transient [`TlsError`], and nothing
    ///   else is sent in the clear.
    ///
    /// The reconnection dials the peer's address over TCP; for a stream that came from a
    /// [`Connector`](crate::connect::Connector) (a SOCKS5 proxy, say) use
    /// [`Client::establish_with`], which redials through it.
    ///
    /// # Errors
    /// See above, plus everything [`Client::handshake`] returns.
    ///
    /// # Cancel safety
    /// As [`Client::starttls`].
    pub async fn establish(&mut self, tls: &TlsConfig, host: &str) -> Result<(), Error> {
        let peer = match &self.conn.io {
            MaybeTls::Plain(s) => s.peer_addr().ok(),
            _ => None,
        };
        let limit = self.timeouts.connect;
        let redial = peer.map(|addr| move || connect_tcp(addr, limit));
        self.operation(async |c| c.establish_op(tls, host, redial).await)
            .await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<MaybeTls<S>> {
    /// [`Client::establish`] over any stream: when a failed handshake is followed by a
    /// plaintext fallback, the new connection comes from `redial` (called at most once),
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
        self.operation(async |c| c.establish_op(tls, host, Some(redial)).await)
            .await
    }

    async fn establish_op<R, F>(
        &mut self,
        tls: &TlsConfig,
        host: &str,
        redial: Option<R>,
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

    async fn fall_back<R, F>(&mut self, e: Error, redial: Option<R>) -> Result<(), Error>
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
        // The handshake failed: the connection is unusable, so reconnect to the same
        // address and skip STARTTLS this time.
        let Some(redial) = redial else { return Err(e) };
        let config =
            ClientConfig::from_parts(self.session.config().clone(), self.timeouts, self.window);
        let stream = redial().await?;
        self.replace_within_operation(Self::new(MaybeTls::Plain(stream), config));
        self.tls = Some(TlsReport::fallback(why));
        self.handshake_op().await
    }
}
