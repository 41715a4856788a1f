//! Connectors: how a byte stream to an SMTP server is opened.
//!
//! [`Client`](crate::Client) runs over any `AsyncRead + AsyncWrite` stream; a
//! [`Connector`] is what opens one for a [`Target`] (a host and port, with a connect
//! deadline). Everything that must dial, or dial again, goes through this seam:
//!
//! ```text
//!   Target { host, port, connect timeout }
//!       │
//!       ▼
//!   Connector::connect ──▶ Stream ──▶ Client::open / Client::establish
//!       ├─ TcpConnector     resolve, try each address in order, TCP_NODELAY
//!       └─ Socks5Connector  TCP to the proxy, RFC 1928 (+ RFC 1929) handshake,
//!                           CONNECT with the name resolved by the proxy
//! ```
//!
//! # The contract
//!
//! A connector must:
//! - finish, successfully or not, within the target's connect timeout
//!   ([`Target::get_connect_timeout`]), measured from the call, name resolution and any
//!   proxy handshake included; past it, return [`Error::Timeout`] with
//!   [`Phase::Connect`]. A timeout too large to represent as an instant means no deadline,
//!   never a panic;
//! - hand back a stream on which nothing has been read that belongs to the server: the
//!   first byte read must be the first byte of the SMTP greeting (or of the TLS handshake,
//!   for implicit TLS);
//! - turn Nagle's algorithm off (TCP_NODELAY) on any TCP socket it opens, so a pipelined
//!   group and the end of the data do not wait for the server's delayed ACK;
//! - report failures as [`Error::Io`] (refused, unreachable, resolution failed, a proxy
//!   that said no) or [`Error::Timeout`], never as an SMTP reply.
//!
//! # Which phase a proxy's timeout belongs to
//!
//! A proxy that accepts the TCP connection and then stalls times out as
//! [`Phase::Connect`], like a server that never answers the SYN: from the caller's side
//! both are "could not get a connection", and both are transient. The difference is in
//! what to fix (the proxy, not the MX), so a later `Phase::ProxyHandshake` may be worth
//! having once reports need to tell them apart; errors the proxy *said* are already apart
//! ([`Socks5Error`]).
//!
//! # Why a boxed future
//!
//! [`Connector::connect`] returns a [`ConnectFuture`], a boxed `Send` future, rather than
//! `impl Future`. A method returning `impl Future` cannot be called through `dyn`, and the
//! seam exists so that a pool, the delivery code and the plaintext fallback can hold "some
//! connector" chosen at run time (`Arc<dyn Connector<Stream = TcpStream>>`, or a generic
//! parameter where the type is known). The price is one allocation per connection, which
//! is nothing beside a TCP handshake.
//!
//! ```
//! use std::sync::Arc;
//! use smtp_courier::connect::{Connector, Socks5Connector, TcpConnector};
//! use tokio::net::TcpStream;
//!
//! fn choose(proxy: Option<(&str, u16)>) -> Result<Arc<dyn Connector<Stream = TcpStream>>, smtp_courier::Error> {
//!     Ok(match proxy {
//!         Some((host, port)) => Arc::new(Socks5Connector::new(host, port)?),
//!         None => Arc::new(TcpConnector::new()),
//!     })
//! }
//! assert!(choose(None).is_ok());
//! assert!(choose(Some(("proxy.example", 1080))).is_ok());
//! ```
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use smtp_courier::connect::{Connector, Socks5Connector, Target};
//! use smtp_courier::{Client, ClientConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smtp_courier::Error> {
//! let proxy = Socks5Connector::new("127.0.0.1", 1080)?.credentials("me", "secret")?;
//! // The proxy resolves the name (RFC 1928 §5, ATYP 3): no local DNS query.
//! let target = Target::new("mx.example.org", 25)?.connect_timeout(Duration::from_secs(30));
//! let stream = proxy.connect(&target).await?;
//! let client = Client::open(stream, ClientConfig::new("client.example.org")?).await?;
//! # drop(client);
//! # Ok(())
//! # }
//! ```

mod socks5;
mod target;
mod tcp;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

pub use socks5::{DEFAULT_HANDSHAKE_TIMEOUT, Socks5Connector, Socks5Error};
pub use target::IntoTarget;
pub use tcp::TcpConnector;

use crate::proto::address::AddressError;
use crate::proto::error::Error;
use crate::proto::{Phase, Timeouts};

/// What [`Connector::connect`] returns: a boxed `Send` future, so that the trait can be
/// used as `dyn Connector` (see the [module docs](self#why-a-boxed-future)).
pub type ConnectFuture<'a, S> = Pin<Box<dyn Future<Output = Result<S, Error>> + Send + 'a>>;

/// Opens a byte stream to a [`Target`].
///
/// Implementations must keep the [contract](self#the-contract): the target's deadline,
/// TCP_NODELAY, no byte of the server's read ahead, and failures as [`Error::Io`] or
/// [`Error::Timeout`] with [`Phase::Connect`].
pub trait Connector: Send + Sync {
    /// The stream handed back.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;

    /// Opens a stream to `target` within its connect timeout.
    ///
    /// # Errors
    /// [`Error::Timeout`] with [`Phase::Connect`] past the deadline; [`Error::Io`] for
    /// every other failure (each implementation documents which).
    ///
    /// # Cancel safety
    /// Dropping the future abandons the attempt and closes whatever was opened; nothing
    /// leaks.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, Self::Stream>;
}

impl<C: Connector + ?Sized> Connector for &C {
    type Stream = C::Stream;
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, Self::Stream> {
        (**self).connect(target)
    }
}

impl<C: Connector + ?Sized> Connector for Box<C> {
    type Stream = C::Stream;
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, Self::Stream> {
        (**self).connect(target)
    }
}

impl<C: Connector + ?Sized> Connector for Arc<C> {
    type Stream = C::Stream;
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, Self::Stream> {
        (**self).connect(target)
    }
}

/// A host: a name to resolve, or an IP address.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A name: resolved locally by [`TcpConnector`], by the proxy with
    /// [`Socks5Connector`].
    Name(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

/// The longest host name: RFC 1928 §5 gives a name one length octet, and a DNS name fits
/// in 255 octets (RFC 1035 §2.3.4).
pub const MAX_HOST_NAME: usize = 255;

impl Host {
    /// Parses a host name or an IP literal. IPv6 is accepted bare (`::1`) or in brackets
    /// (`[::1]`, and the SMTP address-literal form `[IPv6:::1]`, RFC 5321 §4.1.3); IPv4 bare
    /// or in brackets (`[192.0.2.1]`).
    ///
    /// # Errors
    /// [`AddressError`] for an empty host, a name over [`MAX_HOST_NAME`] octets, a control
    /// character or space, or a bracketed literal that is no IP address.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        const WHAT: &str = "host";
        if s.is_empty() {
            return Err(AddressError::Empty(WHAT));
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(AddressError::Malformed(WHAT))?;
            let inner = match inner.get(..5) {
                Some(p) if p.eq_ignore_ascii_case("IPv6:") => inner.get(5..).unwrap_or(""),
                _ => inner,
            };
            return inner
                .parse::<IpAddr>()
                .map(Self::Ip)
                .map_err(|_| AddressError::Malformed(WHAT));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if s.len() > MAX_HOST_NAME {
            return Err(AddressError::TooLong(WHAT));
        }
        if s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(AddressError::ForbiddenCharacter(WHAT));
        }
        // A colon or bracket in a name is an IP literal gone wrong (`[::1`, `1::2::3`).
        if s.contains([':', '[', ']']) {
            return Err(AddressError::Malformed(WHAT));
        }
        Ok(Self::Name(s.to_owned()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

/// Where to connect: a host and port, and how long connecting may take.
///
/// ```
/// use std::time::Duration;
/// use smtp_courier::connect::{Host, Target};
/// let t = Target::new("[::1]", 25).unwrap().connect_timeout(Duration::from_secs(5));
/// assert_eq!(t.host(), &Host::Ip("::1".parse().unwrap()));
/// assert_eq!(t.to_string(), "[::1]:25");
/// assert!(Target::new("mx.example.org\r\n", 25).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    host: Host,
    port: u16,
    timeout: Duration,
}

impl Target {
    /// A target with the default connect timeout ([`Timeouts::connect`], 60 s).
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn new(host: &str, port: u16) -> Result<Self, AddressError> {
        Ok(Self::from_host(Host::parse(host)?, port))
    }

    /// A target for an already parsed host, with the default connect timeout.
    pub fn from_host(host: Host, port: u16) -> Self {
        Self {
            host,
            port,
            timeout: Timeouts::default().connect,
        }
    }

    /// Sets the connect timeout: the deadline for the whole of [`Connector::connect`],
    /// resolution and any proxy handshake included. Any value is accepted; one too large
    /// to represent means no deadline.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connect timeout.
    pub fn get_connect_timeout(&self) -> Duration {
        self.timeout
    }
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Self {
        Self::from_host(Host::Ip(addr.ip()), addr.port())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// An instant to finish by, or none when the timeout is too large to represent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `timeout` from now; saturates to "no deadline" instead of overflowing.
    pub(crate) fn after(timeout: Duration) -> Self {
        Self(Instant::now().checked_add(timeout))
    }

    /// The earlier of two deadlines.
    pub(crate) fn min(self, other: Self) -> Self {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (a, b) => Self(a.or(b)),
        }
    }

    /// Runs `f` to completion or until the deadline.
    pub(crate) async fn run<F: Future>(self, f: F) -> Result<F::Output, Error> {
        match self.0 {
            Some(at) => tokio::time::timeout_at(at, f)
                .await
                .map_err(|_| connect_timeout()),
            None => Ok(f.await),
        }
    }
}

/// The error for a connect past its deadline.
pub(crate) fn connect_timeout() -> Error {
    Error::Timeout {
        phase: Phase::Connect,
        command: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        let v6: IpAddr = "::1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        for (s, want) in [
            ("::1", Host::Ip(v6)),
            ("[::1]", Host::Ip(v6)),
            ("[IPv6:::1]", Host::Ip(v6)),
            ("[ipv6:::1]", Host::Ip(v6)),
            ("192.0.2.1", Host::Ip(v4)),
            ("[192.0.2.1]", Host::Ip(v4)),
            ("mx.example.org", Host::Name("mx.example.org".into())),
            ("mx.example.org.", Host::Name("mx.example.org.".into())),
            ("localhost", Host::Name("localhost".into())),
        ] {
            assert_eq!(Host::parse(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn host_refusals() {
        let long = "a".repeat(MAX_HOST_NAME + 1);
        for (s, want) in [
            ("", AddressError::Empty("host")),
            ("[::1", AddressError::Malformed("host")),
            ("[mx.example.org]", AddressError::Malformed("host")),
            ("[]", AddressError::Malformed("host")),
            ("[IPv6:]", AddressError::Malformed("host")),
            ("1::2::3", AddressError::Malformed("host")),
            ("mx.example.org:25", AddressError::Malformed("host")),
            ("mx\r\n.example", AddressError::ForbiddenCharacter("host")),
            ("mx example", AddressError::ForbiddenCharacter("host")),
            ("mx\0", AddressError::ForbiddenCharacter("host")),
            (long.as_str(), AddressError::TooLong("host")),
        ] {
            assert_eq!(Host::parse(s), Err(want), "{s:?}");
        }
        // The positive twin of the length limit.
        assert!(Host::parse(&"a".repeat(MAX_HOST_NAME)).is_ok());
    }

    #[test]
    fn target_display_and_timeout() {
        let t = Target::new("192.0.2.1", 587).unwrap();
        assert_eq!(t.to_string(), "192.0.2.1:587");
        assert_eq!(t.get_connect_timeout(), Timeouts::default().connect);
        let addr: SocketAddr = "[2001:db8::1]:25".parse().unwrap();
        let t = Target::from(addr).connect_timeout(Duration::MAX);
        assert_eq!(t.to_string(), "[2001:db8::1]:25");
        assert_eq!(t.get_connect_timeout(), Duration::MAX);
    }

    #[tokio::test]
    async fn deadlines_saturate() {
        // A huge timeout is no deadline, not a panic.
        assert!(Deadline::after(Duration::MAX).0.is_none());
        let near = Deadline::after(Duration::from_millis(10));
        assert!(near.0.is_some());
        assert!(Deadline::after(Duration::MAX).min(near).0.is_some());
        assert!(near.min(Deadline::after(Duration::MAX)).0.is_some());
        assert!(matches!(
            near.run(std::future::pending::<()>()).await,
            Err(Error::Timeout {
                phase: Phase::Connect,
                command: None
            })
        ));
        assert!(
            Deadline::after(Duration::MAX)
                .run(async { 7 })
                .await
                .is_ok()
        );
    }
}
