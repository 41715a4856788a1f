//! An in-process SOCKS5 proxy (RFC 1928, RFC 1929) on loopback for connector tests.
//!
//! It accepts one connection, reads the client's greeting, authentication and request
//! exactly as the RFCs frame them, records the raw bytes of each, answers as its
//! [`Behaviour`] says and, on success, relays to an upstream stream (an SMTP-ish greeting
//! server, or a scripted server's pipe) whatever the requested destination was. On
//! success the reply and the upstream's first bytes leave in one write, so a client that
//! reads past the reply would swallow the greeting and fail.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long the proxy waits for anything before it gives up on a stuck test.
const GUARD: Duration = Duration::from_secs(5);

/// A stream the proxy relays to.
pub trait Upstream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Upstream for T {}

/// How the proxy answers.
pub enum Behaviour {
    /// A working proxy: chooses no authentication, or username/password when it has
    /// `credentials` (and then refuses clients that do not offer it, or send other ones),
    /// replies `reply` with the bound address `bound` (ATYP, address, port), and relays.
    Serve {
        credentials: Option<(&'static str, &'static str)>,
        reply: u8,
        bound: Vec<u8>,
        upstream: Option<Box<dyn Upstream>>,
    },
    /// Answers the greeting with this method whatever was offered, then waits for the
    /// client to leave.
    Method(u8),
    /// Chooses no authentication, reads the request, sends these bytes as the reply and
    /// closes.
    RawReply(Vec<u8>),
    /// Reads the greeting and never answers.
    Silent,
}

impl Behaviour {
    /// A working proxy without authentication relaying to `upstream`.
    pub fn open(upstream: impl Upstream) -> Self {
        Self::Serve {
            credentials: None,
            reply: 0,
            bound: BOUND_V4.to_vec(),
            upstream: Some(Box::new(upstream)),
        }
    }

    /// A working proxy requiring `user`/`pass`, relaying to `upstream`.
    pub fn with_auth(user: &'static str, pass: &'static str, upstream: impl Upstream) -> Self {
        Self::Serve {
            credentials: Some((user, pass)),
            reply: 0,
            bound: BOUND_V4.to_vec(),
            upstream: Some(Box::new(upstream)),
        }
    }

    /// A proxy that answers CONNECT with failure `code`.
    pub fn refusing(code: u8) -> Self {
        Self::Serve {
            credentials: None,
            reply: code,
            bound: BOUND_V4.to_vec(),
            upstream: None,
        }
    }
}

/// ATYP 1, 127.0.0.1, port 1025.
pub const BOUND_V4: &[u8] = b"\x01\x7f\x00\x00\x01\x04\x01";

/// The client's messages, byte for byte.
#[derive(Debug, Default)]
pub struct Seen {
    pub greeting: Vec<u8>,
    pub auth: Option<Vec<u8>>,
    pub request: Option<Vec<u8>>,
    /// What the proxy sent before relaying (or instead of it).
    pub sent: Vec<u8>,
}

/// The running proxy.
pub struct Proxy {
    pub addr: SocketAddr,
    handle: JoinHandle<Result<Seen, String>>,
}

impl Proxy {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            let (stream, _) = timeout(GUARD, listener.accept())
                .await
                .map_err(|_| "no client came".to_string())?
                .map_err(|e| e.to_string())?;
            serve(stream, behaviour).await
        });
        Self { addr, handle }
    }

    /// Waits for the proxy to finish and returns what it saw.
    pub async fn finish(self) -> Seen {
        match timeout(GUARD + Duration::from_secs(1), self.handle).await {
            Ok(Ok(Ok(seen))) => seen,
            Ok(Ok(Err(e))) => panic!("test proxy: {e}"),
            Ok(Err(e)) => panic!("test proxy panicked: {e}"),
            Err(_) => panic!("test proxy did not finish"),
        }
    }
}

async fn read_n(s: &mut TcpStream, n: usize, into: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    timeout(GUARD, s.read_exact(&mut buf))
        .await
        .map_err(|_| "timed out reading from the client".to_string())?
        .map_err(|e| format!("reading from the client: {e}"))?;
    into.extend_from_slice(&buf);
    Ok(buf)
}

/// Reads until the client goes away.
async fn drain(s: &mut TcpStream) -> Result<(), String> {
    let mut buf = [0u8; 64];
    loop {
        match timeout(GUARD, s.read(&mut buf)).await {
            Err(_) => return Err("client never left".into()),
            Ok(Ok(0) | Err(_)) => return Ok(()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn read_greeting(s: &mut TcpStream, seen: &mut Seen) -> Result<Vec<u8>, String> {
    let head = read_n(s, 2, &mut seen.greeting).await?;
    read_n(s, usize::from(head[1]), &mut seen.greeting).await
}

async fn read_request(s: &mut TcpStream, seen: &mut Seen) -> Result<(), String> {
    let mut request = Vec::new();
    let head = read_n(s, 4, &mut request).await?;
    let len = match head[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(read_n(s, 1, &mut request).await?[0]),
        other => return Err(format!("bad ATYP {other}")),
    };
    read_n(s, len + 2, &mut request).await?;
    seen.request = Some(request);
    Ok(())
}

async fn send(s: &mut TcpStream, bytes: &[u8], seen: &mut Seen) -> Result<(), String> {
    seen.sent.extend_from_slice(bytes);
    s.write_all(bytes).await.map_err(|e| e.to_string())
}

async fn serve(mut s: TcpStream, behaviour: Behaviour) -> Result<Seen, String> {
    let mut seen = Seen::default();
    let methods = read_greeting(&mut s, &mut seen).await?;
    match behaviour {
        Behaviour::Silent => {
            drain(&mut s).await?;
        }
        Behaviour::Method(m) => {
            send(&mut s, &[5, m], &mut seen).await?;
            drain(&mut s).await?;
        }
        Behaviour::RawReply(bytes) => {
            send(&mut s, &[5, 0], &mut seen).await?;
            read_request(&mut s, &mut seen).await?;
            send(&mut s, &bytes, &mut seen).await?;
        }
        Behaviour::Serve {
            credentials,
            reply,
            bound,
            upstream,
        } => {
            if let Some((user, pass)) = credentials {
                if !methods.contains(&2) {
                    send(&mut s, &[5, 0xFF], &mut seen).await?;
                    drain(&mut s).await?;
                    return Ok(seen);
                }
                send(&mut s, &[5, 2], &mut seen).await?;
                let mut auth = Vec::new();
                let head = read_n(&mut s, 2, &mut auth).await?;
                let got_user = read_n(&mut s, usize::from(head[1]), &mut auth).await?;
                let plen = read_n(&mut s, 1, &mut auth).await?[0];
                let got_pass = read_n(&mut s, usize::from(plen), &mut auth).await?;
                seen.auth = Some(auth);
                let ok = got_user == user.as_bytes() && got_pass == pass.as_bytes();
                send(&mut s, &[1, if ok { 0 } else { 1 }], &mut seen).await?;
                if !ok {
                    return Ok(seen); // RFC 1929 §2: the server closes
                }
            } else {
                send(&mut s, &[5, 0], &mut seen).await?;
            }
            read_request(&mut s, &mut seen).await?;
            let mut answer = vec![5, reply, 0];
            answer.extend_from_slice(&bound);
            let Some(mut up) = upstream.filter(|_| reply == 0) else {
                send(&mut s, &answer, &mut seen).await?;
                return Ok(seen);
            };
            // The reply and the server's first bytes in one write.
            let mut first = [0u8; 512];
            let n = timeout(GUARD, up.read(&mut first))
                .await
                .map_err(|_| "upstream sent nothing".to_string())?
                .map_err(|e| e.to_string())?;
            seen.sent.extend_from_slice(&answer);
            answer.extend_from_slice(&first[..n]);
            s.write_all(&answer).await.map_err(|e| e.to_string())?;
            let _ = timeout(GUARD, tokio::io::copy_bidirectional(&mut s, &mut up)).await;
        }
    }
    Ok(seen)
}

/// An SMTP-ish server on loopback: sends a greeting, then echoes every byte until the
/// client leaves.
pub async fn greeting_server(greeting: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        s.write_all(greeting).await?;
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await?;
        Ok::<_, std::io::Error>(())
    });
    addr
}

/// A TCP connection to a [`greeting_server`], to hand to the proxy as its upstream.
pub async fn greeting_upstream(greeting: &'static [u8]) -> TcpStream {
    TcpStream::connect(greeting_server(greeting).await)
        .await
        .unwrap()
}
