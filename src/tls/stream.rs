//! A stream that starts in plaintext and may be upgraded to TLS in place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;

/// Plaintext or TLS: the stream type of a [`Client`](crate::Client) that may use STARTTLS.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTls<S> {
    /// Not encrypted.
    Plain(S),
    /// Encrypted with rustls.
    Tls(Box<TlsStream<S>>),
    /// Between the two, during a handshake, or dropped after a failed upgrade; any I/O
    /// fails.
    Upgrading,
}

impl<S> MaybeTls<S> {
    /// True once TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// The rustls connection, when TLS is active.
    pub fn tls_connection(&self) -> Option<&rustls::ClientConnection> {
        match self {
            Self::Tls(t) => Some(t.get_ref().1),
            _ => None,
        }
    }
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream lost during a TLS upgrade",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut *self {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut *self {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut *self {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut *self {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Upgrading => Poll::Ready(Ok(())),
        }
    }
}
