//! Test fixtures for `tests/tls.rs`: certificates made with rcgen under a test CA, and a
//! scripted SMTP server on real TCP (127.0.0.1:0) that really speaks TLS through
//! tokio-rustls. Each accepted connection runs its own script, so a reconnection (the
//! plaintext fallback after a failed handshake) can be scripted differently from the first
//! connection. Everything the server receives is recorded for the test to assert on.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The name every good certificate is issued for (and the `server_name` the tests verify).
pub const MX: &str = "mx.test.example";

/// How long the server waits for anything before giving up (a test failure, never a pass).
const SERVER_WAIT: Duration = Duration::from_secs(10);

/// A certificate chain (end entity first) and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivatePkcs8KeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// Every certificate the tests use.
pub struct Pki {
    /// The test CA, the only root the client trusts.
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    /// Issued by the CA for [`MX`], valid now.
    pub good: Leaf,
    /// Issued by the CA for [`MX`], expired in 2001.
    pub expired: Leaf,
    /// Issued by the CA for another name.
    pub wrong_name: Leaf,
    /// Self-signed for [`MX`]: not under any trusted root.
    pub self_signed: Leaf,
    /// A client certificate issued by the CA.
    pub client: Leaf,
    /// A key that matches none of the certificates.
    pub stray_key: PrivatePkcs8KeyDer<'static>,
}

pub static PKI: LazyLock<Pki> = LazyLock::new(|| Pki::generate().expect("test certificates"));

fn leaf_params(
    name: &str,
    eku: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(vec![name.to_owned()])?;
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![eku];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2999, 1, 1);
    Ok(p)
}

fn leaf(cert: rcgen::Certificate, key: &KeyPair) -> Leaf {
    Leaf {
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

impl Pki {
    fn generate() -> Result<Self, rcgen::Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "smtp-courier test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let issue = |params: CertificateParams| -> Result<Leaf, rcgen::Error> {
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &ca)?;
            Ok(leaf(cert, &key))
        };
        let good = issue(leaf_params(MX, ExtendedKeyUsagePurpose::ServerAuth)?)?;
        let mut old = leaf_params(MX, ExtendedKeyUsagePurpose::ServerAuth)?;
        old.not_before = date_time_ymd(2000, 1, 1);
        old.not_after = date_time_ymd(2001, 1, 1);
        let expired = issue(old)?;
        let wrong_name = issue(leaf_params(
            "other.test.example",
            ExtendedKeyUsagePurpose::ServerAuth,
        )?)?;
        let client = issue(leaf_params(
            "client.test",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?)?;
        let self_key = KeyPair::generate()?;
        let self_signed = leaf(
            leaf_params(MX, ExtendedKeyUsagePurpose::ServerAuth)?.self_signed(&self_key)?,
            &self_key,
        );
        let stray_key = PrivatePkcs8KeyDer::from(KeyPair::generate()?.serialize_der());
        Ok(Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            good,
            expired,
            wrong_name,
            self_signed,
            client,
            stray_key,
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Picks one of the certificates of [`PKI`].
pub type CertOf = fn(&Pki) -> &Leaf;

/// How the server sets TLS up.
#[derive(Clone, Copy)]
pub struct TlsSetup {
    /// The certificate it presents.
    pub cert: CertOf,
    /// TLS 1.2 only (the default offers 1.3 and 1.2).
    pub tls12_only: bool,
    /// Ask for a client certificate (optional) and record it.
    pub client_auth: bool,
    /// Sign the handshake with a key that does not match the certificate.
    pub wrong_key: bool,
}

impl TlsSetup {
    pub fn with(cert: CertOf) -> Self {
        Self {
            cert,
            tls12_only: false,
            client_auth: false,
            wrong_key: false,
        }
    }

    pub fn good() -> Self {
        Self::with(|p| &p.good)
    }

    fn server_config(self, log: Arc<Mutex<ConnLog>>) -> Arc<rustls::ServerConfig> {
        let pki = &*PKI;
        let leaf = (self.cert)(pki);
        let key_der = if self.wrong_key {
            &pki.stray_key
        } else {
            &leaf.key
        };
        let signer = provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(key_der.clone_key()))
            .expect("test key");
        let resolver = RecordingResolver {
            key: Arc::new(CertifiedKey::new(leaf.chain.clone(), signer)),
            log,
        };
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("protocol versions");
        let builder = if self.client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca_der.clone()).expect("CA root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(builder.with_cert_resolver(Arc::new(resolver)))
    }
}

/// Presents one certificate and records the SNI the client sent.
#[derive(Debug)]
struct RecordingResolver {
    key: Arc<CertifiedKey>,
    log: Arc<Mutex<ConnLog>>,
}

impl ResolvesServerCert for RecordingResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.log.lock().unwrap().sni = hello.server_name().map(str::to_owned);
        Some(self.key.clone())
    }
}

/// What the server saw of TLS on one connection.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub version: String,
    pub cipher: String,
    /// RFC 9266 `tls-exporter` computed on the server side, TLS 1.3 only.
    pub exporter: Option<Vec<u8>>,
    /// The client's certificate chain, if it sent one.
    pub client_certs: Vec<CertificateDer<'static>>,
}

/// Everything the server received on one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnLog {
    /// False for a connection beyond the scripts (closed at once).
    pub scripted: bool,
    /// Lines received in plaintext, without CRLF.
    pub plain: Vec<String>,
    /// Lines received over TLS, without CRLF.
    pub tls: Vec<String>,
    /// The SNI of the ClientHello, when the server got that far.
    pub sni: Option<String>,
    /// The outcome of the server's TLS accept, when the script had one.
    pub handshake: Option<Result<ServerTls, String>>,
    /// Bytes of a handshake the server never answered.
    pub stalled_bytes: usize,
    /// Bytes received after the script ended, before the client closed.
    pub trailing: Vec<u8>,
}

impl ConnLog {
    /// The server-side TLS outcome, which must have succeeded.
    pub fn server_tls(&self) -> &ServerTls {
        match &self.handshake {
            Some(Ok(t)) => t,
            other => panic!("server handshake did not succeed: {other:?}"),
        }
    }
}

enum Step {
    /// Write these bytes as they are.
    Send(Vec<u8>),
    /// Read one line, then write these bytes.
    Reply(Vec<u8>),
    /// Read message data up to the lone ".", then write these bytes.
    Data(Vec<u8>),
    /// Accept TLS on the connection.
    Tls(TlsSetup),
    /// Read the ClientHello and answer it with plaintext garbage, then close.
    Garbage,
    /// Read whatever comes and never answer, until the client gives up.
    Stall,
}

/// What the server does on one connection, step by step. Replies are given without the
/// final CRLF; a multiline reply separates its lines with "\r\n".
#[derive(Default)]
pub struct Script(Vec<Step>);

fn line(s: &str) -> Vec<u8> {
    format!("{s}\r\n").into_bytes()
}

impl Script {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The usual greeting.
    pub fn greeting() -> Self {
        Self::new().send("220 mx.test.example ESMTP")
    }

    pub fn send(mut self, reply: &str) -> Self {
        self.0.push(Step::Send(line(reply)));
        self
    }

    pub fn reply(mut self, reply: &str) -> Self {
        self.0.push(Step::Reply(line(reply)));
        self
    }

    /// Reads a command and sends exactly `bytes`.
    pub fn reply_raw(mut self, bytes: &[u8]) -> Self {
        self.0.push(Step::Reply(bytes.to_vec()));
        self
    }

    /// Answers EHLO with `250-mx.test.example` and one line per keyword.
    pub fn ehlo(self, keywords: &[&str]) -> Self {
        let mut lines = vec![MX.to_owned()];
        lines.extend(keywords.iter().map(|k| (*k).to_owned()));
        let last = lines.len() - 1;
        let text: Vec<String> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
            .collect();
        self.reply(&text.join("\r\n"))
    }

    pub fn tls(mut self, setup: TlsSetup) -> Self {
        self.0.push(Step::Tls(setup));
        self
    }

    /// STARTTLS accepted and TLS with `setup`.
    pub fn starttls(self, setup: TlsSetup) -> Self {
        self.reply("220 2.0.0 ready to start TLS").tls(setup)
    }

    pub fn garbage(mut self) -> Self {
        self.0.push(Step::Garbage);
        self
    }

    pub fn stall(mut self) -> Self {
        self.0.push(Step::Stall);
        self
    }

    /// One accepted message: MAIL, RCPT, DATA, the data.
    pub fn transaction(mut self) -> Self {
        self = self
            .reply("250 2.1.0 ok")
            .reply("250 2.1.5 ok")
            .reply("354 go ahead");
        self.0.push(Step::Data(line("250 2.0.0 queued")));
        self
    }

    /// Reads message data up to the lone ".", then sends `reply`.
    #[allow(dead_code)] // used by the delivery tests, not by tests/tls.rs
    pub fn data(mut self, reply: &str) -> Self {
        self.0.push(Step::Data(line(reply)));
        self
    }

    pub fn quit(self) -> Self {
        self.reply("221 2.0.0 bye")
    }
}

/// The scripted server.
pub struct Server {
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Server {
    /// Listens on 127.0.0.1:0; the n-th connection runs the n-th script.
    pub async fn start(scripts: Vec<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener, scripts)
    }

    /// As [`Server::start`], on a listener already bound (another address or port).
    pub fn start_on(listener: TcpListener, scripts: Vec<Script>) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let logs: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>> = Arc::default();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (logs2, tasks2) = (logs.clone(), tasks.clone());
        let acceptor = tokio::spawn(async move {
            let mut scripts = scripts.into_iter();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::new(Mutex::new(ConnLog::default()));
                logs2.lock().unwrap().push(log.clone());
                let task = match scripts.next() {
                    Some(script) => {
                        log.lock().unwrap().scripted = true;
                        tokio::spawn(run_script(stream, script, log))
                    }
                    None => tokio::spawn(async move { drop(stream) }),
                };
                tasks2.lock().unwrap().push(task);
            }
        });
        Self {
            addr,
            logs,
            tasks,
            acceptor,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits for every connection to end (the client must have closed or dropped its
    /// side) and returns what each received, in connection order.
    pub async fn finish(self) -> Vec<ConnLog> {
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap());
        for t in tasks {
            tokio::time::timeout(SERVER_WAIT, t)
                .await
                .expect("a server connection did not end: is the client still holding it?")
                .expect("server task panicked");
        }
        self.acceptor.abort();
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| l.lock().unwrap().clone())
            .collect()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    plain: Option<TcpStream>,
    tls: Option<Box<tokio_rustls::server::TlsStream<TcpStream>>>,
    buf: Vec<u8>,
    log: Arc<Mutex<ConnLog>>,
}

impl Conn {
    fn io(&mut self) -> &mut dyn Io {
        match (&mut self.tls, &mut self.plain) {
            (Some(t), _) => t.as_mut(),
            (None, Some(p)) => p,
            (None, None) => unreachable!("the stream is gone"),
        }
    }

    /// Reads one CRLF-terminated line; `None` at EOF, on an error, or after SERVER_WAIT.
    async fn read_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let rest = self.buf.split_off(i + 2);
                let mut l = std::mem::replace(&mut self.buf, rest);
                l.truncate(i);
                let l = String::from_utf8_lossy(&l).into_owned();
                let mut log = self.log.lock().unwrap();
                if self.tls.is_some() {
                    &mut log.tls
                } else {
                    &mut log.plain
                }
                .push(l.clone());
                return Some(l);
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(SERVER_WAIT, self.io().read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> bool {
        let io = self.io();
        io.write_all(bytes).await.is_ok() && io.flush().await.is_ok()
    }

    /// Reads until EOF (or SERVER_WAIT) and returns everything read.
    async fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout(SERVER_WAIT, self.io().read(&mut chunk)).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
        }
        all
    }

    async fn accept_tls(&mut self, setup: TlsSetup) -> bool {
        assert!(
            self.buf.is_empty(),
            "client sent bytes after STARTTLS before the handshake"
        );
        let config = setup.server_config(self.log.clone());
        let Some(tcp) = self.plain.take() else {
            return false;
        };
        let accept = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
        let result = match tokio::time::timeout(SERVER_WAIT, accept).await {
            Ok(Ok(stream)) => {
                let conn = stream.get_ref().1;
                let tls13 = conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
                let info = ServerTls {
                    version: format!("{:?}", conn.protocol_version().expect("version")),
                    cipher: format!(
                        "{:?}",
                        conn.negotiated_cipher_suite().expect("suite").suite()
                    ),
                    exporter: tls13.then(|| {
                        conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                            .expect("exporter")
                            .to_vec()
                    }),
                    client_certs: conn
                        .peer_certificates()
                        .map(<[_]>::to_vec)
                        .unwrap_or_default(),
                };
                self.tls = Some(Box::new(stream));
                Ok(info)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("server handshake timed out".to_owned()),
        };
        let ok = result.is_ok();
        self.log.lock().unwrap().handshake = Some(result);
        ok
    }
}

async fn run_script(stream: TcpStream, script: Script, log: Arc<Mutex<ConnLog>>) {
    stream.set_nodelay(true).expect("nodelay");
    let mut conn = Conn {
        plain: Some(stream),
        tls: None,
        buf: Vec::new(),
        log: log.clone(),
    };
    for step in script.0 {
        match step {
            Step::Send(bytes) => {
                if !conn.write(&bytes).await {
                    return;
                }
            }
            Step::Reply(bytes) => {
                if conn.read_line().await.is_none() || !conn.write(&bytes).await {
                    return;
                }
            }
            Step::Data(bytes) => {
                loop {
                    match conn.read_line().await {
                        Some(l) if l == "." => break,
                        Some(_) => {}
                        None => return,
                    }
                }
                if !conn.write(&bytes).await {
                    return;
                }
            }
            Step::Tls(setup) => {
                if !conn.accept_tls(setup).await {
                    return;
                }
            }
            Step::Garbage => {
                let mut chunk = [0u8; 4096];
                let _ = tokio::time::timeout(SERVER_WAIT, conn.io().read(&mut chunk)).await;
                let _ = conn.write(b"this is not TLS\r\n").await;
                return;
            }
            Step::Stall => {
                let n = conn.read_to_end().await.len();
                log.lock().unwrap().stalled_bytes = n;
                return;
            }
        }
    }
    let rest = conn.read_to_end().await;
    log.lock().unwrap().trailing = rest;
}
