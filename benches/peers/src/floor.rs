//! The physical floor: the least a client can do to deliver a message on a server with
//! PIPELINING and CHUNKING. Per message it makes one write of a transaction built once
//! (`MAIL FROM`, every `RCPT TO`, `BDAT n LAST` and the n octets: no dot-stuffing, no
//! per-message formatting), then reads the 2 + recipients replies and checks each is
//! 2yz. With a window above 1 it keeps that many transactions written ahead of the replies
//! it has read (RFC 2920 allows this: every command group ends in BDAT LAST, and each reply
//! is matched to its command in order).

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::msg;

/// Any stream: plain TCP or TLS after STARTTLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) struct Floor {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    tx: Vec<u8>,
    replies: usize,
    window: usize,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Reads one whole reply (the line whose 4th byte is a space ends it) and returns its
/// code.
async fn reply<S: Io + ?Sized>(io: &mut S, buf: &mut Vec<u8>) -> Result<u16, String> {
    loop {
        let mut start = 0;
        while let Some(lf) = memchr::memchr(b'\n', &buf[start..]) {
            let line = &buf[start..start + lf + 1];
            start += lf + 1;
            if line.len() < 5 || line[3] == b' ' {
                let code = std::str::from_utf8(&line[..3.min(line.len())])
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| format!("bad reply {:?}", String::from_utf8_lossy(line)))?;
                buf.drain(..start);
                return Ok(code);
            }
        }
        if io.read_buf(buf).await.map_err(err)? == 0 {
            return Err("connection closed".to_owned());
        }
    }
}

async fn command<S: Io + ?Sized>(
    io: &mut S,
    buf: &mut Vec<u8>,
    cmd: &str,
    want: u16,
) -> Result<(), String> {
    io.write_all(cmd.as_bytes()).await.map_err(err)?;
    io.flush().await.map_err(err)?;
    match reply(io, buf).await? {
        code if code == want => Ok(()),
        code => Err(format!("{} answered {code}", cmd.trim_end())),
    }
}

impl Floor {
    pub(crate) async fn connect(
        port: u16,
        tls: Option<&tokio_rustls::TlsConnector>,
        rcpts: &[String],
        body: &[u8],
        window: usize,
    ) -> Result<Self, String> {
        let mut tcp = TcpStream::connect((msg::HOST, port)).await.map_err(err)?;
        tcp.set_nodelay(true).map_err(err)?;
        let mut buf = Vec::with_capacity(4096);
        if reply(&mut tcp, &mut buf).await? != 220 {
            return Err("no 220 greeting".to_owned());
        }
        let ehlo = format!("EHLO {}\r\n", msg::HELO);
        command(&mut tcp, &mut buf, &ehlo, 250).await?;
        let io: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(connector) => {
                command(&mut tcp, &mut buf, "STARTTLS\r\n", 220).await?;
                let name = rustls::pki_types::ServerName::try_from(msg::HOST).map_err(err)?;
                let mut tls = connector.connect(name, tcp).await.map_err(err)?;
                command(&mut tls, &mut buf, &ehlo, 250).await?;
                Box::new(tls)
            }
        };
        let mut tx = format!("MAIL FROM:<{}>\r\n", msg::FROM).into_bytes();
        for r in rcpts {
            tx.extend_from_slice(format!("RCPT TO:<{r}>\r\n").as_bytes());
        }
        tx.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
        tx.extend_from_slice(body);
        Ok(Self {
            io,
            buf,
            tx,
            replies: 2 + rcpts.len(),
            window: window.max(1),
        })
    }

    /// Sends up to `n` messages, starting no new one after `deadline`; returns how many
    /// were sent and accepted.
    pub(crate) async fn send(&mut self, n: usize, deadline: Instant) -> Result<usize, String> {
        let (mut written, mut done) = (0, 0);
        while done < written || (written < n && Instant::now() < deadline) {
            while written - done < self.window && written < n && Instant::now() < deadline {
                self.io.write_all(&self.tx).await.map_err(err)?;
                written += 1;
            }
            self.io.flush().await.map_err(err)?;
            for _ in 0..self.replies {
                let code = reply(&mut *self.io, &mut self.buf).await?;
                if code / 100 != 2 {
                    return Err(format!("message {}: reply {code}", done + 1));
                }
            }
            done += 1;
        }
        Ok(done)
    }

    pub(crate) async fn quit(mut self) -> Result<(), String> {
        command(&mut *self.io, &mut self.buf, "QUIT\r\n", 221).await
    }
}

/// The client side of the floor's TLS: trusts exactly the sink's certificate.
pub(crate) fn tls_connector(cert_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        roots.add(cert.map_err(err)?).map_err(err)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(err)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
