//! The default connector: plain TCP.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::{ConnectFuture, Connector, Deadline, Host, Target};
use crate::proto::error::Error;

/// Plain TCP: resolves the name, tries every address in the order the resolver gave until
/// one connects, all within the target's connect timeout, and sets TCP_NODELAY.
///
/// ```no_run
/// use smtp_courier::connect::{Connector, Target, TcpConnector};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), smtp_courier::Error> {
/// let stream = TcpConnector::new().connect(&Target::new("mx.example.org", 25)?).await?;
/// # drop(stream);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct TcpConnector {}

impl TcpConnector {
    /// The connector.
    pub fn new() -> Self {
        Self {}
    }
}

impl Connector for TcpConnector {
    type Stream = TcpStream;

    /// Resolves the host (an IP address is used as it is), then connects to each address
    /// in turn, each attempt within what is left of the deadline.
    ///
    /// # Errors
    /// - [`Error::Timeout`] with [`Phase::Connect`](crate::proto::Phase::Connect) when the
    ///   deadline passes, during resolution or any attempt;
    /// - [`Error::Io`] when resolution fails or finds no address, or when every address
    ///   refused: the last address's error, its kind kept, saying how many were tried.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a, TcpStream> {
        Box::pin(async move {
            let deadline = Deadline::after(target.get_connect_timeout());
            dial(target.host(), target.port(), deadline)
                .await
                .map_err(DialError::into_error)
        })
    }
}

/// Why [`dial`] failed, before it becomes an [`Error`] (the SOCKS5 connector reports a
/// failure to reach the proxy differently).
#[derive(Debug)]
pub(crate) enum DialError {
    Timeout,
    Io(io::Error),
}

impl DialError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Self::Timeout => super::connect_timeout(),
            Self::Io(e) => Error::io(None, e),
        }
    }
}

/// Every address refused; the last one's error is the source.
#[derive(Debug, thiserror::Error)]
#[error("connect to {last_addr} failed ({tried} {} tried)", if *.tried == 1 { "address" } else { "addresses" })]
struct ConnectFailed {
    last_addr: SocketAddr,
    tried: usize,
    #[source]
    last: io::Error,
}

/// Resolves `host` and connects to the first address that accepts, TCP_NODELAY on.
pub(crate) async fn dial(
    host: &Host,
    port: u16,
    deadline: Deadline,
) -> Result<TcpStream, DialError> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => {
            let found = deadline
                .run(tokio::net::lookup_host((name.as_str(), port)))
                .await
                .map_err(|_| DialError::Timeout)?
                .map_err(|e| {
                    DialError::Io(io::Error::new(e.kind(), format!("resolve {name}: {e}")))
                })?;
            found.collect()
        }
    };
    connect_any(&addrs, deadline).await
}

/// Tries `addrs` in order, each within what is left of `deadline`.
// TODO(RFC 8305): Happy Eyeballs would race IPv6 and IPv4 instead of waiting for each.
pub(crate) async fn connect_any(
    addrs: &[SocketAddr],
    deadline: Deadline,
) -> Result<TcpStream, DialError> {
    let mut last = None;
    for addr in addrs {
        match deadline.run(TcpStream::connect(addr)).await {
            Err(_) => return Err(DialError::Timeout),
            Ok(Ok(stream)) => {
                // Nagle off: a pipelined group and the end of the data must not wait for
                // the server's delayed ACK.
                stream.set_nodelay(true).map_err(DialError::Io)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some((*addr, e)),
        }
    }
    Err(DialError::Io(match last {
        Some((last_addr, last)) => io::Error::new(
            last.kind(),
            ConnectFailed {
                last_addr,
                tried: addrs.len(),
                last,
            },
        ),
        None => io::Error::new(io::ErrorKind::NotFound, "the name has no address"),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A loopback port with nothing listening (bound, then released).
    fn closed_port(ip: &str) -> SocketAddr {
        let l = std::net::TcpListener::bind((ip, 0)).unwrap();
        l.local_addr().unwrap()
    }

    #[tokio::test]
    async fn tries_each_address_in_order() {
        // As "localhost" resolving to ::1 then 127.0.0.1 with the server on IPv4 only.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let bad = SocketAddr::new("::1".parse().unwrap(), closed_port("::1").port());
        let deadline = Deadline::after(Duration::from_secs(5));

        let stream = connect_any(&[bad, good], deadline).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good);
        assert!(stream.nodelay().unwrap());

        // The negative twin: only the closed address.
        let Err(DialError::Io(e)) = connect_any(&[bad], deadline).await else {
            panic!("expected an i/o error");
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("(1 address tried)"), "{e}");
    }

    #[tokio::test]
    async fn every_address_refused_reports_the_last_and_the_count() {
        let a = closed_port("::1");
        let b = closed_port("127.0.0.1");
        let Err(DialError::Io(e)) = connect_any(&[a, b], Deadline::after(Duration::MAX)).await
        else {
            panic!("expected an i/o error");
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(
            e.to_string(),
            format!("connect to {b} failed (2 addresses tried)")
        );
    }

    #[tokio::test]
    async fn no_address_is_not_found() {
        let Err(DialError::Io(e)) = connect_any(&[], Deadline::after(Duration::MAX)).await else {
            panic!("expected an i/o error");
        };
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
