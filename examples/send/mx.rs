//! MX mode: without `--server`, the message goes straight to each recipient domain's mail
//! exchangers (RFC 5321 §5.1) through the library's
//! [`MxDelivery`](smtp_courier::delivery::MxDelivery), and each domain is one entry of
//! `transactions`, with the host, the address and the attempts before it (SEND.md, "MX
//! delivery").
//!
//! The example adds only what a command line needs: its usage errors, the resolver the
//! flags name, the proxy, and the `-v` line before each connection naming the domain, the
//! host and the address. For that line a resolver wrapper remembers which domain is being
//! routed and which host each address belongs to, and a connector wrapper prints it: the
//! library walks one domain at a time, so "the domain last asked for its MX records" is the
//! domain of every connection until the next one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use smtp_courier::Envelope;
use smtp_courier::connect::{ConnectFuture, Connector, Host, TcpConnector};
use smtp_courier::delivery::{
    Answer, DEFAULT_LOOKUP_DEADLINE, DeliveryPolicy, HickoryResolver, IpLookup, Lookup, MxDelivery,
    MxRecord, Resolver, RouteDomain, Router, SMTP_PORT, group_by_domain,
};
use smtp_courier::proto::Mailbox;
use tokio::net::TcpStream;

use super::report::{ErrorInfo, Outcome, TransactionOutcome, shown};
use super::session::client_config;
use super::{Args, Level, Plan, TlsMode, UsageError};

/// What MX mode needs beyond the common settings.
pub(crate) struct MxPlan {
    /// `--resolver`; `None` for the system's configuration.
    resolver: Option<SocketAddr>,
    /// `--mx-port`.
    port: u16,
    /// The deadline of one DNS lookup: `--timeout`, else the library's default.
    lookup_deadline: Duration,
    /// The recipients by domain (A-labels), in the contract's order: for a report
    /// without DNS at all (the resolver could not be set up).
    groups: Vec<(String, Vec<Mailbox>)>,
}

/// The usage errors of SEND-CONTRACT-MX.md that the flags alone decide.
pub(crate) fn check_flags(args: &Args) -> Result<(), UsageError> {
    if args.server.is_some() {
        for (given, flag) in [
            (args.resolver.is_some(), "--resolver"),
            (args.mx_port.is_some(), "--mx-port"),
        ] {
            if given {
                return Err(UsageError(format!(
                    "{flag} is for MX delivery: not with --server"
                )));
            }
        }
        return Ok(());
    }
    let refused = [
        (
            args.tls == Some(TlsMode::Implicit),
            "--tls implicit",
            "MX hosts take STARTTLS",
        ),
        (
            args.tls_name.is_some(),
            "--tls-name",
            "each MX host is verified under its own name",
        ),
        (
            args.auth_user.is_some(),
            "--auth-user",
            "credentials never go to hosts that DNS chose",
        ),
        (
            args.auth_pass.is_some(),
            "--auth-pass",
            "credentials never go to hosts that DNS chose",
        ),
        (
            args.auth_mech.is_some(),
            "--auth-mech",
            "credentials never go to hosts that DNS chose",
        ),
        (
            args.allow_cleartext_auth,
            "--allow-cleartext-auth",
            "credentials never go to hosts that DNS chose",
        ),
        (
            args.repeat != 1,
            "--repeat",
            "MX delivery sends the message once",
        ),
    ];
    match refused.into_iter().find(|(given, _, _)| *given) {
        Some((_, flag, why)) => Err(UsageError(format!(
            "{flag} needs --server (MX delivery: {why})"
        ))),
        None => Ok(()),
    }
}

/// MX mode without any of `--level`, `--tls`, `--tls-verify`, `--tls-fallback` is
/// `--level may`; otherwise the flags mean what they always mean.
pub(crate) fn default_level(args: &Args) -> Option<Level> {
    let tls_flags = args.level.is_some()
        || args.tls.is_some()
        || args.tls_verify.is_some()
        || args.tls_fallback;
    match args.level {
        None if args.server.is_none() && !tls_flags => Some(Level::May),
        level => level,
    }
}

/// Checks the MX flags and every recipient's domain; nothing touches the network.
pub(crate) fn plan(args: &Args, envelope: &Envelope) -> Result<MxPlan, UsageError> {
    let resolver = args
        .resolver
        .as_deref()
        .map(|r| parse_resolver(r).map_err(|e| UsageError(format!("--resolver {r:?}: {e}"))))
        .transpose()?;
    let groups = group_by_domain(envelope.recipients().iter().map(Mailbox::as_str))
        .map_err(|e| UsageError(format!("--to: {e}")))?;
    let groups = groups
        .into_iter()
        .map(|g| match &g.domain {
            RouteDomain::Name(name) => Ok((
                name.clone(),
                g.recipients
                    .iter()
                    .filter_map(|r| envelope.recipients().iter().find(|m| m.as_str() == *r))
                    .cloned()
                    .collect(),
            )),
            RouteDomain::Literal(_) => Err(UsageError(format!(
                "--to {:?}: an address literal needs --server (MX delivery routes domains)",
                g.recipients.first().copied().unwrap_or_default()
            ))),
            // `RouteDomain` may grow: refuse what this example does not know.
            #[allow(unreachable_patterns)]
            _ => Err(UsageError(format!("--to: cannot route {}", g.domain))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MxPlan {
        resolver,
        port: args.mx_port.unwrap_or(SMTP_PORT),
        lookup_deadline: args.timeout.unwrap_or(DEFAULT_LOOKUP_DEADLINE),
        groups,
    })
}

/// `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`; the port defaults to 53.
fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    const DNS_PORT: u16 = 53;
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return match addr.port() {
            0 => Err("bad port 0".to_owned()),
            _ => Ok(addr),
        };
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| "not an IP address with an optional port".to_owned())
}

/// Delivers to every domain's MX hosts and reports one transaction per domain. The
/// top-level fields stay empty: the connection fields are per domain in MX mode.
pub(crate) async fn run(plan: &Plan) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(mx) = &plan.mx else {
        return outcome;
    };
    let resolver = match mx.resolver {
        Some(server) => HickoryResolver::with_nameserver(server, mx.lookup_deadline),
        None => HickoryResolver::system(mx.lookup_deadline),
    };
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => {
            // No lookup could be made: transient, every domain alike.
            let err = ErrorInfo::dns(format!("cannot set the resolver up: {e}"));
            outcome.transactions = mx
                .groups
                .iter()
                .map(|(domain, to)| TransactionOutcome::mx_not_sent(domain, to, &err))
                .collect();
            return outcome;
        }
    };
    let trace = plan.verbose.then(Arc::default);
    let connector: Arc<dyn Connector<Stream = TcpStream>> = match &plan.socks5 {
        Some(proxy) => Arc::new(proxy.clone()),
        None => Arc::new(TcpConnector::new()),
    };
    let router = Router::new(Watched {
        inner: resolver,
        trace: trace.clone(),
    });
    // Loopback addresses are not refused (no address filter): the tests depend on it.
    let delivery = MxDelivery::new(router, client_config(plan))
        .connector(Announcing {
            inner: connector,
            trace,
        })
        .policy(DeliveryPolicy::new(plan.tls.clone()))
        .port(mx.port);
    match delivery.deliver(&plan.envelope, &plan.message).await {
        Ok(report) => {
            outcome.transactions = report
                .domains()
                .iter()
                .map(TransactionOutcome::from_domain)
                .collect();
        }
        // Checked in `plan` already; kept as a usage error should the rules differ.
        Err(e) => outcome.error = Some(ErrorInfo::usage(format!("--to: {e}"))),
    }
    // The connections stay in the library's pool after their transaction: QUIT them.
    delivery.close().await;
    outcome
}

/// For `-v`: the domain being routed, and the host each address came from.
#[derive(Default)]
struct Trace {
    domain: String,
    hosts: HashMap<IpAddr, String>,
}

fn lock(trace: &Mutex<Trace>) -> std::sync::MutexGuard<'_, Trace> {
    // A panic elsewhere leaves a usable map: it only names hosts in a log line.
    trace.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A resolver that tells the [`Trace`] what it was asked and answered.
struct Watched<R> {
    inner: R,
    trace: Option<Arc<Mutex<Trace>>>,
}

impl<R: Resolver> Resolver for Watched<R> {
    async fn lookup_mx(&self, domain: &str) -> Lookup<MxRecord> {
        if let Some(t) = &self.trace {
            lock(t).domain = domain.to_owned();
        }
        self.inner.lookup_mx(domain).await
    }

    async fn lookup_ip(&self, host: &str) -> IpLookup {
        let answer = self.inner.lookup_ip(host).await;
        if let Some(t) = &self.trace {
            let mut t = lock(t);
            if let Ok(Answer::Records(v4)) = &answer.a {
                for ip in v4 {
                    t.hosts.insert(IpAddr::V4(*ip), host.to_owned());
                }
            }
            if let Ok(Answer::Records(v6)) = &answer.aaaa {
                for ip in v6 {
                    t.hosts.insert(IpAddr::V6(*ip), host.to_owned());
                }
            }
        }
        answer
    }
}

/// A connector that, under `-v`, names the domain, host and address on stderr before each
/// connection's transcript.
struct Announcing {
    inner: Arc<dyn Connector<Stream = TcpStream>>,
    trace: Option<Arc<Mutex<Trace>>>,
}

impl Connector for Announcing {
    type Stream = TcpStream;

    fn connect<'a>(
        &'a self,
        target: &'a smtp_courier::connect::Target,
    ) -> ConnectFuture<'a, TcpStream> {
        if let Some(t) = &self.trace {
            let t = lock(t);
            let host = match target.host() {
                Host::Ip(ip) => t.hosts.get(ip).cloned(),
                _ => None,
            }
            .unwrap_or_else(|| target.host().to_string());
            eprintln!(
                "* domain {}, host {}, address {target}",
                shown(&t.domain),
                shown(&host)
            );
        }
        self.inner.connect(target)
    }
}
