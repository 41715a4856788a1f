//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
//!
//! ```text
//!  client                                    proxy
//!    │── 05 n methods… ─────────────────────▶│   greeting: 00 (none), 02 (user/pass)
//!    │◀──────────────────────────── 05 m ────│   the method chosen, FF: none acceptable
//!    │── 01 ulen user plen pass ────────────▶│   only if m = 02 (RFC 1929 §2)
//!    │◀──────────────────────────── 01 st ───│   00: accepted
//!    │── 05 01 00 atyp addr port ───────────▶│   CONNECT; atyp 03 = a name the proxy resolves
//!    │◀──────── 05 rep 00 atyp addr port ────│   rep 00: connected; then the server's bytes
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use super::tcp::{DialError, dial};
use super::{ConnectFuture, Connector, Deadline, Host, Target, connect_timeout};
use crate::proto::address::AddressError;
use crate::proto::error::Error;

/// RFC 1928 §3: the protocol version octet.
const VERSION: u8 = 5;
/// RFC 1928 §3: NO AUTHENTICATION REQUIRED.
const METHOD_NONE: u8 = 0x00;
/// RFC 1928 §3: USERNAME/PASSWORD (RFC 1929).
const METHOD_USER_PASS: u8 = 0x02;
/// RFC 1928 §3: NO ACCEPTABLE METHODS.
const METHOD_NO_ACCEPTABLE: u8 = 0xFF;
/// RFC 1929 §2: the version of the username/password sub-negotiation.
const AUTH_VERSION: u8 = 1;
/// RFC 1928 §4: CONNECT.
const CMD_CONNECT: u8 = 0x01;
/// RFC 1928 §5: address types.
const ATYP_IPV4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// How long the SOCKS exchange may take by default, once the proxy accepted the TCP
/// connection (always within the target's connect timeout as well).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a SOCKS5 proxy did not connect us: the proxy's answer, not an SMTP reply nor a DNS
/// answer.
///
/// It reaches the caller as [`Error::Io`], inside an [`io::Error`] whose kind fits
/// ([`io::ErrorKind::ConnectionRefused`] for reply 5, ...); [`Socks5Error::find`] gets it
/// back.
///
/// ```
/// use std::io;
/// use smtp_courier::connect::Socks5Error;
/// let e = Socks5Error::from_reply(5).unwrap();
/// assert!(matches!(e, Socks5Error::ConnectionRefused));
/// assert_eq!(e.to_string(), "socks5 proxy: connection refused by destination host (reply 5)");
/// assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
/// assert!(Socks5Error::from_reply(0).is_none()); // 0 is success
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Socks5Error {
    /// Reply 1: general SOCKS server failure.
    #[error("socks5 proxy: general server failure (reply 1)")]
    GeneralFailure,
    /// Reply 2: connection not allowed by ruleset.
    #[error("socks5 proxy: connection not allowed by ruleset (reply 2)")]
    NotAllowed,
    /// Reply 3: network unreachable.
    #[error("socks5 proxy: network unreachable (reply 3)")]
    NetworkUnreachable,
    /// Reply 4: host unreachable.
    #[error("socks5 proxy: host unreachable (reply 4)")]
    HostUnreachable,
    /// Reply 5: connection refused (by the destination).
    #[error("socks5 proxy: connection refused by destination host (reply 5)")]
    ConnectionRefused,
    /// Reply 6: TTL expired.
    #[error("socks5 proxy: TTL expired (reply 6)")]
    TtlExpired,
    /// Reply 7: command not supported.
    #[error("socks5 proxy: command not supported (reply 7)")]
    CommandNotSupported,
    /// Reply 8: address type not supported.
    #[error("socks5 proxy: address type not supported (reply 8)")]
    AddressTypeNotSupported,
    /// A failure reply RFC 1928 does not assign (9 to 255), kept as it is.
    #[error("socks5 proxy: unassigned failure (reply {0})")]
    UnknownReply(u8),
    /// The proxy accepts none of the offered methods (`FF`): it wants credentials and none
    /// are configured, or another method (such as GSSAPI).
    #[error("socks5 proxy: no acceptable authentication method")]
    NoAcceptableMethod,
    /// The proxy chose a method that was not offered.
    #[error("socks5 proxy: chose authentication method {0:#04x}, which was not offered")]
    UnexpectedMethod(u8),
    /// The proxy refused the username and password (RFC 1929 status, not 0).
    #[error("socks5 proxy: username/password refused (status {0})")]
    AuthRefused(u8),
    /// A version octet was not what the protocol requires (5; 1 in the RFC 1929
    /// sub-negotiation).
    #[error("socks5 proxy: version {got} where {expected} was expected")]
    VersionMismatch {
        /// The version required.
        expected: u8,
        /// The version received.
        got: u8,
    },
    /// The proxy's reply does not parse.
    #[error("socks5 proxy: malformed reply: {0}")]
    Malformed(&'static str),
    /// The proxy closed the connection in the middle of the handshake.
    #[error("socks5 proxy: closed the connection during the handshake")]
    Closed,
    /// Reading from or writing to the proxy failed during the handshake.
    #[error("socks5 proxy: handshake failed")]
    Io(#[source] io::Error),
    /// The proxy could not be reached.
    #[error("socks5 proxy: cannot connect to the proxy at {proxy}")]
    ProxyUnreachable {
        /// The proxy's host and port.
        proxy: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl Socks5Error {
    /// The error for a CONNECT reply code; `None` for 0 (succeeded).
    pub fn from_reply(code: u8) -> Option<Self> {
        // RFC 1928 §6: the REP field.
        Some(match code {
            0 => return None,
            1 => Self::GeneralFailure,
            2 => Self::NotAllowed,
            3 => Self::NetworkUnreachable,
            4 => Self::HostUnreachable,
            5 => Self::ConnectionRefused,
            6 => Self::TtlExpired,
            7 => Self::CommandNotSupported,
            8 => Self::AddressTypeNotSupported,
            n => Self::UnknownReply(n),
        })
    }

    /// The proxy's reply code, when it replied to CONNECT with a failure.
    pub fn reply_code(&self) -> Option<u8> {
        Some(match self {
            Self::GeneralFailure => 1,
            Self::NotAllowed => 2,
            Self::NetworkUnreachable => 3,
            Self::HostUnreachable => 4,
            Self::ConnectionRefused => 5,
            Self::TtlExpired => 6,
            Self::CommandNotSupported => 7,
            Self::AddressTypeNotSupported => 8,
            Self::UnknownReply(n) => *n,
            _ => return None,
        })
    }

    /// The [`io::ErrorKind`] this error travels with.
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Self::ConnectionRefused => K::ConnectionRefused,
            Self::NetworkUnreachable => K::NetworkUnreachable,
            Self::HostUnreachable => K::HostUnreachable,
            Self::NotAllowed | Self::NoAcceptableMethod | Self::AuthRefused(_) => {
                K::PermissionDenied
            }
            Self::CommandNotSupported | Self::AddressTypeNotSupported => K::Unsupported,
            Self::UnexpectedMethod(_) | Self::VersionMismatch { .. } | Self::Malformed(_) => {
                K::InvalidData
            }
            Self::Closed => K::UnexpectedEof,
            Self::Io(e) | Self::ProxyUnreachable { source: e, .. } => e.kind(),
            Self::GeneralFailure | Self::TtlExpired | Self::UnknownReply(_) => K::Other,
        }
    }

    /// The SOCKS5 error inside an [`Error::Io`] from [`Socks5Connector`], if that is what
    /// it is.
    pub fn find(error: &Error) -> Option<&Self> {
        match error {
            Error::Io { source, .. } => source.get_ref()?.downcast_ref(),
            _ => None,
        }
    }

    fn into_error(self) -> Error {
        Error::io(None, io::Error::new(self.kind(), self))
    }

    fn from_io(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Self::Closed
        } else {
            Self::Io(e)
        }
    }
}

/// The RFC 1929 username and password, wiped from memory on drop.
#[derive(Clone)]
struct ProxyCredentials {
    username: Zeroizing<String>,
    password: Zeroizing<String>,
}

/// Connects through a SOCKS5 proxy (RFC 1928), with username/password authentication
/// (RFC 1929) when credentials are set.
///
/// A target given by name is sent to the proxy as a name (ATYP 3), so the proxy resolves
/// it: there is no local DNS query, and the local resolver learns nothing. An IP address
/// goes as ATYP 1 or 4.
///
/// Deadlines: reaching the proxy and the whole SOCKS exchange must finish within the
/// target's connect timeout, and the exchange also within the handshake timeout
/// ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set). Either one passing is [`Error::Timeout`]
/// with [`Phase::Connect`](crate::proto::Phase::Connect): the proxy is part of connecting.
///
/// `Debug` shows the username but never the password.
///
/// ```
/// use smtp_courier::connect::Socks5Connector;
/// let proxy = Socks5Connector::new("[::1]", 1080).unwrap().credentials("me", "secret").unwrap();
/// let shown = format!("{proxy:?}");
/// assert!(shown.contains("\"me\"") && !shown.contains("secret"));
/// ```
#[derive(Clone)]
pub struct Socks5Connector {
    host: Host,
    port: u16,
    credentials: Option<ProxyCredentials>,
    handshake_timeout: Duration,
}

impl Socks5Connector {
    /// A proxy at `host:port` (a name, resolved locally, or an IP literal), without
    /// credentials.
    ///
    /// # Errors
    /// As [`Host::parse`].
    pub fn new(host: &str, port: u16) -> Result<Self, AddressError> {
        Ok(Self::from_host(Host::parse(host)?, port))
    }

    /// A proxy at an already parsed host.
    pub fn from_host(host: Host, port: u16) -> Self {
        Self {
            host,
            port,
            credentials: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Authenticates with a username and password (RFC 1929), offered beside "no
    /// authentication" so the proxy chooses.
    ///
    /// # Errors
    /// [`AddressError::Empty`] or [`AddressError::TooLong`]: RFC 1929 §2 gives each 1 to
    /// 255 octets.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, AddressError> {
        let username = Zeroizing::new(username.into());
        let password = Zeroizing::new(password.into());
        check_field(&username, "SOCKS5 username")?;
        check_field(&password, "SOCKS5 password")?;
        self.credentials = Some(ProxyCredentials { username, password });
        Ok(self)
    }

    /// Sets the handshake timeout: how long the SOCKS exchange may take once the proxy
    /// accepted the TCP connection. Any value is accepted; the target's connect timeout
    /// still applies.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout.
    pub fn get_handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The proxy's host.
    pub fn proxy_host(&self) -> &Host {
        &self.host
    }

    /// The proxy's port.
    pub fn proxy_port(&self) -> u16 {
        self.port
    }
}

impl From<SocketAddr> for Socks5Connector {
    fn from(addr: SocketAddr) -> Self {
        Self::from_host(Host::Ip(addr.ip()), addr.port())
    }
}

impl fmt::Debug for Socks5Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Socks5Connector");
        d.field("proxy", &format_args!("{}:{}", self.host, self.port));
        if let Some(c) = &self.credentials {
            d.field("username", &c.username.as_str())
                .field("password", &format_args!("<redacted>"));
        }
        d.field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

fn check_field(s: &str, what: &'static str) -> Result<(), AddressError> {
    match s.len() {
        0 => Err(AddressError::Empty(what)),
        n if n > usize::from(u8::MAX) => Err(AddressError::TooLong(what)),
        _ => Ok(()),
    }
}

impl Connector for Socks5Connector {
    type Stream = TcpStream;

    /// Connects to the proxy over TCP (TCP_NODELAY on), then greets it, authenticates when
    /// it asks and credentials are set, and asks it to CONNECT to `target`. The stream
    /// handed back starts with the server's first byte.
    ///
    /// # Errors
    /// - [`Error::Timeout`] with [`Phase::Connect`](crate::proto::Phase::Connect) past
    ///   the target's connect timeout or the handshake timeout;
    /// - [`Error::Io`] carrying a [`Socks5Error`] for everything the proxy did or said
    ///   (unreachable, no acceptable method, credentials refused, a failure reply, a
    ///   malformed reply); [`Socks5Error::find`] gets it back;
    /// - [`Error::Usage`] for a [`Host::Name`] that is empty or over 255
    ///   octets ([`MAX_HOST_NAME`](super::MAX_HOST_NAME)), before anything is sent.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, TcpStream> {
        Box::pin(async move {
            let deadline = Deadline::after(target.get_connect_timeout());
            let request = connect_request(target)?;
            let mut stream = match dial(&self.host, self.port, deadline).await {
                Ok(s) => s,
                Err(DialError::Timeout) => return Err(connect_timeout()),
                Err(DialError::Io(source)) => {
                    let proxy = format!("{}:{}", self.host, self.port);
                    return Err(Socks5Error::ProxyUnreachable { proxy, source }.into_error());
                }
            };
            let limit = deadline.min(Deadline::after(self.handshake_timeout));
            limit
                .run(handshake(&mut stream, &request, self.credentials.as_ref()))
                .await?
                .map_err(Socks5Error::into_error)?;
            Ok(stream)
        })
    }
}

/// The greeting: version and the methods offered (RFC 1928 §3).
fn greeting(with_credentials: bool) -> &'static [u8] {
    if with_credentials {
        &[VERSION, 2, METHOD_NONE, METHOD_USER_PASS]
    } else {
        &[VERSION, 1, METHOD_NONE]
    }
}

/// RFC 1929 §2: `VER ULEN UNAME PLEN PASSWD`, in memory that is wiped afterwards.
fn auth_request(c: &ProxyCredentials) -> Result<Zeroizing<Vec<u8>>, Socks5Error> {
    let (user, pass) = (c.username.as_bytes(), c.password.as_bytes());
    // Checked when the credentials were set; checked again rather than trusted.
    let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
        return Err(Socks5Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "SOCKS5 credentials over 255 octets",
        )));
    };
    let mut out = Zeroizing::new(Vec::with_capacity(3 + user.len() + pass.len()));
    out.extend_from_slice(&[AUTH_VERSION, ulen]);
    out.extend_from_slice(user);
    out.push(plen);
    out.extend_from_slice(pass);
    Ok(out)
}

/// RFC 1928 §4: `VER CMD RSV ATYP DST.ADDR DST.PORT`, the port in network order.
fn connect_request(target: &Target) -> Result<Vec<u8>, AddressError> {
    let mut out = vec![VERSION, CMD_CONNECT, 0];
    match target.host() {
        Host::Ip(IpAddr::V4(ip)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        Host::Ip(IpAddr::V6(ip)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
        // RFC 1928 §5: "the first octet of the address field contains the number of
        // octets of name that follow"; the proxy resolves it.
        Host::Name(name) => {
            if name.is_empty() {
                return Err(AddressError::Empty("host"));
            }
            // MAX_HOST_NAME is the length octet's range.
            let len = u8::try_from(name.len()).map_err(|_| AddressError::TooLong("host"))?;
            out.extend_from_slice(&[ATYP_NAME, len]);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&target.port().to_be_bytes());
    Ok(out)
}

/// The SOCKS exchange on a fresh connection to the proxy. Reads exactly the proxy's bytes
/// and not one more, so the server's first bytes stay in the stream.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    request: &[u8],
    credentials: Option<&ProxyCredentials>,
) -> Result<(), Socks5Error> {
    write(io, greeting(credentials.is_some())).await?;
    let [version, method] = read_array(io).await?;
    check_version(version, VERSION)?;
    match (method, credentials) {
        (METHOD_NONE, _) => {}
        (METHOD_USER_PASS, Some(c)) => {
            write(io, &auth_request(c)?).await?;
            let [version, status] = read_array(io).await?;
            check_version(version, AUTH_VERSION)?;
            // RFC 1929 §2: X'00' is success; on anything else the server closes.
            if status != 0 {
                return Err(Socks5Error::AuthRefused(status));
            }
        }
        // RFC 1928 §3: X'FF' means none of the offered methods; the client closes.
        (METHOD_NO_ACCEPTABLE, _) => return Err(Socks5Error::NoAcceptableMethod),
        (other, _) => return Err(Socks5Error::UnexpectedMethod(other)),
    }
    write(io, request).await?;
    read_reply(io).await
}

/// RFC 1928 §6: `VER REP RSV ATYP BND.ADDR BND.PORT`. The bound address is read (and
/// its length checked) whatever its type, then dropped: an SMTP client has no use for it.
async fn read_reply<S: AsyncRead + Unpin>(io: &mut S) -> Result<(), Socks5Error> {
    let [version, reply, _reserved, atyp] = read_array(io).await?;
    check_version(version, VERSION)?;
    // RFC 1928 §6: on failure the server closes the connection shortly after the reply,
    // so the address that follows is not waited for.
    if let Some(e) = Socks5Error::from_reply(reply) {
        return Err(e);
    }
    // The reserved octet carries nothing; it is not checked, as a sloppy proxy costs us
    // nothing there.
    let addr_len = match atyp {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_NAME => match read_array::<_, 1>(io).await? {
            [0] => return Err(Socks5Error::Malformed("empty bound name")),
            [n] => usize::from(n),
        },
        _ => return Err(Socks5Error::Malformed("unknown bound address type")),
    };
    // The address (at most 255 octets) and the two port octets.
    let mut rest = [0u8; 255 + 2];
    let rest = rest
        .get_mut(..addr_len + 2)
        .ok_or(Socks5Error::Malformed("bound address too long"))?;
    io.read_exact(rest).await.map_err(Socks5Error::from_io)?;
    Ok(())
}

fn check_version(got: u8, expected: u8) -> Result<(), Socks5Error> {
    if got == expected {
        Ok(())
    } else {
        Err(Socks5Error::VersionMismatch { expected, got })
    }
}

async fn write<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> Result<(), Socks5Error> {
    io.write_all(bytes).await.map_err(Socks5Error::from_io)?;
    io.flush().await.map_err(Socks5Error::from_io)
}

async fn read_array<S: AsyncRead + Unpin, const N: usize>(
    io: &mut S,
) -> Result<[u8; N], Socks5Error> {
    let mut buf = [0u8; N];
    io.read_exact(&mut buf)
        .await
        .map_err(Socks5Error::from_io)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str, pass: &str) -> ProxyCredentials {
        ProxyCredentials {
            username: Zeroizing::new(user.into()),
            password: Zeroizing::new(pass.into()),
        }
    }

    #[test]
    fn request_bytes() {
        assert_eq!(greeting(false), b"\x05\x01\x00");
        assert_eq!(greeting(true), b"\x05\x02\x00\x02");
        assert_eq!(
            auth_request(&creds("me", "pw!")).unwrap().as_slice(),
            b"\x01\x02me\x03pw!"
        );
        let t = Target::new("mx.example", 25).unwrap();
        assert_eq!(
            connect_request(&t).unwrap(),
            b"\x05\x01\x00\x03\x0amx.example\x00\x19"
        );
        let t = Target::new("192.0.2.1", 587).unwrap();
        assert_eq!(
            connect_request(&t).unwrap(),
            b"\x05\x01\x00\x01\xc0\x00\x02\x01\x02\x4b"
        );
        let t = Target::new("[2001:db8::1]", 465).unwrap();
        let mut want = b"\x05\x01\x00\x04".to_vec();
        want.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        want.extend_from_slice(b"\x01\xd1");
        assert_eq!(connect_request(&t).unwrap(), want);
    }

    #[test]
    fn names_the_wire_cannot_carry() {
        // `Host::Name` can be built directly, bypassing `Host::parse`.
        let ok = Target::from_host(Host::Name("a".repeat(255)), 25);
        assert_eq!(connect_request(&ok).unwrap().len(), 3 + 2 + 255 + 2);
        let long = Target::from_host(Host::Name("a".repeat(256)), 25);
        assert_eq!(connect_request(&long), Err(AddressError::TooLong("host")));
        let empty = Target::from_host(Host::Name(String::new()), 25);
        assert_eq!(connect_request(&empty), Err(AddressError::Empty("host")));
    }

    #[test]
    fn credential_limits() {
        let p = Socks5Connector::new("127.0.0.1", 1080).unwrap();
        assert!(
            p.clone()
                .credentials("u".repeat(255), "p".repeat(255))
                .is_ok()
        );
        assert_eq!(
            p.clone().credentials("u".repeat(256), "p").err(),
            Some(AddressError::TooLong("SOCKS5 username"))
        );
        assert_eq!(
            p.clone().credentials("u", "").err(),
            Some(AddressError::Empty("SOCKS5 password"))
        );
        assert_eq!(
            p.credentials("", "p").err(),
            Some(AddressError::Empty("SOCKS5 username"))
        );
    }

    #[test]
    fn reply_codes_round_trip() {
        for code in 1..=u8::MAX {
            let e = Socks5Error::from_reply(code).unwrap();
            assert_eq!(e.reply_code(), Some(code));
            assert!(e.to_string().ends_with(&format!("(reply {code})")), "{e}");
        }
        assert!(Socks5Error::NoAcceptableMethod.reply_code().is_none());
    }

    #[tokio::test]
    async fn reply_reads_exactly_the_reply() {
        // Domain-name bound address, then the server's first bytes.
        let mut input: &[u8] = b"\x05\x00\x00\x03\x04mx.e\x00\x19220 hi";
        read_reply(&mut input).await.unwrap();
        assert_eq!(input, b"220 hi");
        let mut input: &[u8] = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x19220";
        read_reply(&mut input).await.unwrap();
        assert_eq!(input, b"220");
        let mut v6 = b"\x05\x00\x00\x04".to_vec();
        v6.extend_from_slice(&[0; 18]);
        v6.extend_from_slice(b"220");
        let mut input = v6.as_slice();
        read_reply(&mut input).await.unwrap();
        assert_eq!(input, b"220");
    }

    #[tokio::test]
    async fn malformed_replies() {
        for (bytes, want) in [
            (&b"\x05\x00\x00\x05\x00"[..], "unknown bound address type"),
            (b"\x05\x00\x00\x03\x00\x00\x19", "empty bound name"),
        ] {
            let mut input = bytes;
            let e = read_reply(&mut input).await.unwrap_err();
            assert!(matches!(e, Socks5Error::Malformed(m) if m == want), "{e:?}");
        }
        for bytes in [
            &b""[..],
            b"\x05\x00",
            b"\x05\x00\x00\x01\x7f\x00",
            b"\x05\x00\x00\x03\x09short",
        ] {
            let mut input = bytes;
            let e = read_reply(&mut input).await.unwrap_err();
            assert!(matches!(e, Socks5Error::Closed), "{bytes:?}: {e:?}");
        }
        let mut input: &[u8] = b"\x04\x5a\x00\x00";
        let e = read_reply(&mut input).await.unwrap_err();
        assert!(matches!(
            e,
            Socks5Error::VersionMismatch {
                expected: 5,
                got: 4
            }
        ));
    }
}
