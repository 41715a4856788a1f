//! Talking to the server of `--server`: one connection after another for `--repeat`
//! (a new one after `--max-per-connection` transactions or the server's MAILMAX), each
//! set up directly or through `--socks5`, with TLS and AUTH as the flags say.

use std::net::{IpAddr, SocketAddr};

use smtp_courier::connect::Connector;
use smtp_courier::proto::Direction;
use smtp_courier::tls::MaybeTls;
use smtp_courier::{Client, ClientConfig, Error, connect_tcp};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::json::Json;
use super::report::{ErrorInfo, Outcome, TransactionOutcome, shown};
use super::{Plan, Target};

pub(crate) async fn run(plan: &Plan, target: &Target) -> Outcome {
    let mut outcome = Outcome::default();
    // `--max-per-connection` and LIMITS MAILMAX (RFC 9422 §4.1): after that many
    // transactions, QUIT and go on over a new connection to the same server. The
    // greeting, capabilities, TLS and AUTH of the report are the first connection's.
    while outcome.transactions.len() < plan.repeat as usize {
        let mut info = Outcome::default();
        let opened = open_session(plan, target, &mut info).await;
        if outcome.transactions.is_empty() {
            outcome.greeting = info.greeting;
            outcome.capabilities = info.capabilities;
            outcome.tls = info.tls;
            outcome.auth = info.auth;
        }
        let left = plan.repeat as usize - outcome.transactions.len();
        let mut client = match opened {
            Ok(client) => client,
            Err(err) => {
                // Contract: every recipient of a message not sent carries the connection's
                // error.
                outcome
                    .transactions
                    .extend((0..left).map(|_| TransactionOutcome::not_sent(&plan.envelope, &err)));
                outcome.error.get_or_insert(err);
                return outcome;
            }
        };
        // `--max-per-connection` bounds the batch; the library stops at MAILMAX by itself
        // (a message split by RCPTMAX counts once per part) and reports the messages it
        // did not send as `not_sent`: those go over the next connection.
        let batch = per_connection_limit(plan.max_per_connection).map_or(left, |l| left.min(l));
        let messages = (0..batch).map(|_| (&plan.envelope, &plan.message[..]));
        // One report per message, in order. The library keeps up to `--window`
        // transactions in flight when the server offers PIPELINING and CHUNKING (else one
        // after another), follows a failed transaction with RSET before the next MAIL, and
        // gives the messages not sent after a lost connection its error.
        let reports = client.send_batch(messages).await;
        let carried = reports.iter().take_while(|r| !r.not_sent()).count();
        // A connection that could carry none (MAILMAX below one message's parts) would
        // loop for ever: its reports stand.
        let keep = if carried == 0 { reports.len() } else { carried };
        outcome
            .transactions
            .extend(reports[..keep].iter().map(TransactionOutcome::from_report));
        if client.is_usable() {
            // Every outcome is already decided; a failed QUIT changes none of them.
            let _ = client.quit().await;
        } else if outcome.transactions.len() < plan.repeat as usize {
            // A lost connection is not redialled: the rest carry its error, as they would
            // on one connection.
            let err = client
                .session()
                .error()
                .cloned()
                .unwrap_or(Error::Closed { command: None });
            let err = ErrorInfo::from_error(&err);
            let left = plan.repeat as usize - outcome.transactions.len();
            outcome
                .transactions
                .extend((0..left).map(|_| TransactionOutcome::not_sent(&plan.envelope, &err)));
        }
    }
    outcome
}

/// `--max-per-connection` as a batch size: 0 is no limit.
fn per_connection_limit(max: u32) -> Option<usize> {
    (max > 0).then(|| usize::try_from(max).unwrap_or(usize::MAX))
}

/// Connects (directly, or through `--socks5`), reads the greeting, says EHLO (or HELO),
/// sets TLS up as the flags say (implicit TLS before the greeting, or STARTTLS after EHLO,
/// with the library's fallback rules), authenticates when credentials are given, and
/// records what it learns in `outcome` as it goes, so a failure still reports the
/// greeting, capabilities and TLS.
async fn open_session(
    plan: &Plan,
    target: &Target,
    outcome: &mut Outcome,
) -> Result<Client<MaybeTls<TcpStream>>, ErrorInfo> {
    let mut client = match &plan.socks5 {
        None => {
            // One deadline for the name lookup and the TCP connection together.
            let deadline = Instant::now() + plan.timeouts.connect;
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
            let redial_limit = plan.timeouts.connect;
            let mut client = Client::new(MaybeTls::Plain(stream), client_config(plan));
            // Greeting, EHLO, and STARTTLS or implicit TLS as the TLS settings say (with
            // the library's fallback rules).
            let res = client
                .establish_with(&plan.tls, &target.host, || connect_tcp(peer, redial_limit))
                .await;
            record(&client, outcome);
            res.map_err(|e| ErrorInfo::from_error(&e))?;
            client
        }
        Some(proxy) => {
            // The proxy resolves a name itself (RFC 1928 §5, ATYP 3); its failures are
            // `Error::Io` with the SOCKS reply in the text. A plaintext reconnection after
            // a failed handshake goes through the proxy too.
            let via = smtp_courier::connect::Target::new(&target.host, target.port)
                .map_err(|e| ErrorInfo::usage(format!("--server: {e}")))?
                .connect_timeout(plan.timeouts.connect);
            let stream = proxy
                .connect(&via)
                .await
                .map_err(|e| ErrorInfo::from_error(&e))?;
            let mut client = Client::new(MaybeTls::Plain(stream), client_config(plan));
            let res = client
                .establish_with(&plan.tls, &target.host, || proxy.connect(&via))
                .await;
            record(&client, outcome);
            res.map_err(|e| ErrorInfo::from_error(&e))?;
            client
        }
    };
    if let Some((credentials, options)) = &plan.auth {
        let mechanism = client
            .authenticate(credentials, options)
            .await
            .map_err(|e| ErrorInfo::from_error(&e))?;
        outcome.auth = Some(mechanism.name().to_owned());
    }
    Ok(client)
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
