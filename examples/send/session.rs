//! Talking to the server of `--server`: `--repeat` goes through the library's connection
//! pool ([`Pool::send_batch`]), whose dialer connects directly or through `--socks5`,
//! sets TLS up and authenticates as the flags say, and records what each connection
//! showed for the report. `--max-per-connection` is the pool's transactions per
//! connection; the server's MAILMAX is honoured by the library.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use smtp_courier::auth::{AuthOptions, Credentials};
use smtp_courier::connect::{Connector, Socks5Connector};
use smtp_courier::delivery::pool::{Destination, Dial, DialFuture, Pool, PoolConfig};
use smtp_courier::proto::{Direction, Timeouts};
use smtp_courier::tls::{MaybeTls, TlsConfig};
use smtp_courier::{Client, ClientConfig, Error, connect_tcp};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::json::Json;
use super::report::{ErrorInfo, Outcome, TransactionOutcome, shown};
use super::{Plan, Target};

pub(crate) async fn run(plan: &Plan, target: &Target) -> Outcome {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let dialer = SessionDialer {
        target: target.clone(),
        socks5: plan.socks5.clone(),
        tls: plan.tls.clone(),
        timeouts: plan.timeouts,
        auth: plan.auth.clone(),
        config: client_config(plan),
        seen: Arc::clone(&seen),
    };
    // One connection at a time, as on the command line: `--max-per-connection` (0 = no
    // limit) transactions each, and LIMITS MAILMAX (RFC 9422 §4.1) when the server sets
    // one; then QUIT and a new connection for the rest.
    let config = PoolConfig::default()
        .max_per_destination(1)
        .max_total(1)
        .transactions_per_connection(plan.max_per_connection);
    let pool = Pool::new(config, dialer);
    // Only a key here: the dialer knows where to go (a host the pool's parser refuses is
    // still the dialer's to resolve, or the proxy's).
    let destination = Destination::new(&target.host, target.port)
        .or_else(|_| Destination::new("server.invalid", target.port))
        .map(|d| d.tag(target.display()));
    let messages = (0..plan.repeat).map(|_| (&plan.envelope, &plan.message[..]));
    // One result per message, in order. Each connection carries as many as its limits
    // allow in one `Client::send_batch`: up to `--window` transactions in flight when the
    // server offers PIPELINING and CHUNKING (else one after another), RSET after a failed
    // one. Messages never written (MAILMAX reached, the connection lost before their
    // turn) go on the next connection; none is sent twice.
    let results = match destination {
        Ok(destination) => pool.send_batch(&destination, messages).await,
        Err(e) => messages
            .map(|_| Err(smtp_courier::Error::Usage(e.clone().into())))
            .collect(),
    };
    // Every outcome is decided: QUIT what is left open.
    pool.close().await;
    let seen = std::mem::take(&mut *lock(&seen));
    // The greeting, capabilities, TLS and AUTH of the report are the first connection's,
    // also when its dial failed.
    let mut outcome = seen.first.unwrap_or_default();
    outcome.transactions = results
        .iter()
        .map(|r| match r {
            Ok(report) => TransactionOutcome::from_report(report),
            Err(e) => {
                // Contract: a failed connection is the top-level error, and every
                // recipient of a message not sent carries it.
                let err = seen
                    .failed
                    .clone()
                    .unwrap_or_else(|| ErrorInfo::from_error(e));
                let not_sent = TransactionOutcome::not_sent(&plan.envelope, &err);
                outcome.error.get_or_insert(err);
                not_sent
            }
        })
        .collect();
    outcome
}

/// What the dials showed: the first connection's greeting, capabilities, TLS and AUTH,
/// and how the last failed dial failed (a DNS failure is no library [`Error`]).
#[derive(Default)]
struct Seen {
    first: Option<Outcome>,
    failed: Option<ErrorInfo>,
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    // A panic elsewhere leaves usable data: it is only reported.
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pool's dialer: everything `open_session` needs, owned.
struct SessionDialer {
    target: Target,
    socks5: Option<Socks5Connector>,
    tls: TlsConfig,
    timeouts: Timeouts,
    auth: Option<(Credentials, AuthOptions)>,
    config: ClientConfig,
    seen: Arc<Mutex<Seen>>,
}

impl Dial<MaybeTls<TcpStream>> for SessionDialer {
    fn dial<'a>(&'a self, _: &'a Destination) -> DialFuture<'a, MaybeTls<TcpStream>> {
        Box::pin(async move {
            let mut info = Outcome::default();
            let opened = self.open_session(&mut info).await;
            let mut seen = lock(&self.seen);
            seen.first.get_or_insert(info);
            match opened {
                Ok(client) => Ok(client),
                Err(err) => {
                    seen.failed = Some(err);
                    // What the pool hands back; the report uses `seen.failed`.
                    Err(Error::Closed { command: None })
                }
            }
        })
    }
}

impl SessionDialer {
    /// Connects (directly, or through `--socks5`), reads the greeting, says EHLO (or
    /// HELO), sets TLS up as the flags say (implicit TLS before the greeting, or STARTTLS
    /// after EHLO, with the library's fallback rules), authenticates when credentials are
    /// given, and records what it learns in `outcome` as it goes, so a failure still
    /// reports the greeting, capabilities and TLS.
    async fn open_session(
        &self,
        outcome: &mut Outcome,
    ) -> Result<Client<MaybeTls<TcpStream>>, ErrorInfo> {
        let target = &self.target;
        let mut client = match &self.socks5 {
            None => {
                // One deadline for the name lookup and the TCP connection together.
                let deadline = Instant::now() + self.timeouts.connect;
                let addrs = resolve(target, deadline).await?;
                let left = deadline.saturating_duration_since(Instant::now());
                let stream = connect_tcp(&addrs[..], left)
                    .await
                    .map_err(|e| ErrorInfo::from_error(&e))?;
                // A plaintext fallback after a failed handshake dials the address that
                // answered again; the name verified is the host given (unless --tls-name).
                let peer = stream
                    .peer_addr()
                    .map_err(|e| ErrorInfo::from_error(&Error::io(None, e)))?;
                let redial_limit = self.timeouts.connect;
                let mut client = Client::new(MaybeTls::Plain(stream), self.config.clone());
                // Greeting, EHLO, and STARTTLS or implicit TLS as the TLS settings say
                // (with the library's fallback rules).
                let res = client
                    .establish_with(&self.tls, &target.host, || connect_tcp(peer, redial_limit))
                    .await;
                record(&client, outcome);
                res.map_err(|e| ErrorInfo::from_error(&e))?;
                client
            }
            Some(proxy) => {
                // The proxy resolves a name itself (RFC 1928 §5, ATYP 3); its failures are
                // `Error::Io` with the SOCKS reply in the text. A plaintext reconnection
                // after a failed handshake goes through the proxy too.
                let via = smtp_courier::connect::Target::new(&target.host, target.port)
                    .map_err(|e| ErrorInfo::usage(format!("--server: {e}")))?
                    .connect_timeout(self.timeouts.connect);
                let stream = proxy
                    .connect(&via)
                    .await
                    .map_err(|e| ErrorInfo::from_error(&e))?;
                let mut client = Client::new(MaybeTls::Plain(stream), self.config.clone());
                let res = client
                    .establish_with(&self.tls, &target.host, || proxy.connect(&via))
                    .await;
                record(&client, outcome);
                res.map_err(|e| ErrorInfo::from_error(&e))?;
                client
            }
        };
        if let Some((credentials, options)) = &self.auth {
            let mechanism = client
                .authenticate(credentials, options)
                .await
                .map_err(|e| ErrorInfo::from_error(&e))?;
            outcome.auth = Some(mechanism.name().to_owned());
        }
        Ok(client)
    }
}

/// The greeting, capabilities and TLS report of a session, for the report.
fn record<S>(client: &Client<MaybeTls<S>>, outcome: &mut Outcome)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    outcome.greeting = client.greeting().cloned();
    outcome.capabilities = client
        .capabilities()
        .map(|c| c.keywords_escaped().collect())
        .unwrap_or_default();
    outcome.tls = client.tls_report().map(tls_json);
}

/// The contract's `tls` object. A verification error can quote the server's certificate
/// (the names it presents) or its reply to STARTTLS: it is escaped like all server text.
pub(crate) fn tls_json(r: &smtp_courier::tls::TlsReport) -> Json {
    Json::obj([
        ("version", r.version.as_deref().into()),
        ("cipher", r.cipher.as_deref().into()),
        ("verified", r.verified.into()),
        ("verify_error", r.verify_error.as_deref().map(shown).into()),
        ("fallback", r.fallback.into()),
    ])
}

pub(crate) fn client_config(plan: &Plan) -> ClientConfig {
    let mut config = plan.config.clone();
    if plan.verbose {
        // The library redacts credentials (as `<redacted>`, which the contract writes
        // `****`) and escapes control characters in server text; escaping again changes
        // nothing in escaped text, and guarantees that no line reaches the terminal raw.
        config = config.transcript(|direction, line| {
            let prefix = match direction {
                Direction::Client => "C: ",
                Direction::Server => "S: ",
            };
            eprintln!("{prefix}{}", shown(&line.replace("<redacted>", "****")));
        });
    }
    config
}

/// The server's addresses, before `deadline`. A failed lookup is a `dns` error.
async fn resolve(target: &Target, deadline: Instant) -> Result<Vec<SocketAddr>, ErrorInfo> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    match tokio::time::timeout_at(deadline, lookup).await {
        Err(_) => Err(ErrorInfo::from_error(&Error::Timeout {
            phase: smtp_courier::proto::Phase::Connect,
            command: None,
        })),
        Ok(Err(e)) => Err(ErrorInfo::dns(format!(
            "cannot resolve {}: {e}",
            target.host
        ))),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(ErrorInfo::dns(format!("{} has no address", target.host)))
            } else {
                Ok(addrs)
            }
        }
    }
}
