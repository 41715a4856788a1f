//! The DNS seam: the [`Resolver`] trait, its typed answers, and [`HickoryResolver`].
//!
//! Routing ([`super::mx`]) never sees a DNS library: it sees [`Answer`]s and
//! [`LookupError`]s, so every rule of RFC 5321 §5.1 can be tested with the in-memory
//! [`MockResolver`](super::MockResolver) and, end to end, against a loopback DNS server.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::join::join2;

/// The default deadline for one lookup (one name and one type, retries and the TCP retry
/// of a truncated answer included).
pub const DEFAULT_LOOKUP_DEADLINE: Duration = Duration::from_secs(10);

/// What a name server said about one name and one record type, when it said something
/// definite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    /// Records of the type asked for (after CNAMEs were followed). Never empty.
    Records(Vec<T>),
    /// NODATA: the name exists but has no record of this type (NOERROR, empty answer).
    NoData,
    /// NXDOMAIN: the name does not exist (RCODE 3, RFC 1035 §4.1.1).
    NxDomain,
}

/// Why a lookup got no definite answer. Every one of these is transient for routing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// SERVFAIL (RCODE 2): the server could not answer, often a broken upstream or DNSSEC.
    #[error("server failure (SERVFAIL)")]
    ServFail,
    /// REFUSED (RCODE 5): the server will not answer this client.
    #[error("query refused (REFUSED)")]
    Refused,
    /// No answer came within the lookup's deadline.
    #[error("no answer within the deadline")]
    Timeout,
    /// Another error RCODE (FORMERR, NOTIMP, ...), by number.
    #[error("error response (RCODE {0})")]
    Rcode(u16),
    /// Anything else: no reachable server, an unreadable answer, a truncated answer that TCP
    /// could not complete. The text is the resolver's, for the log.
    #[error("lookup failed: {0}")]
    Other(String),
}

/// The result of one lookup.
pub type Lookup<T> = Result<Answer<T>, LookupError>;

/// One MX record (RFC 1035 §3.3.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxRecord {
    /// Lower is preferred (RFC 5321 §5.1).
    pub preference: u16,
    /// The exchange in A-labels, lower case, without the final dot; `"."` is the root, the
    /// null MX's exchange (RFC 7505 §3).
    pub exchange: String,
}

impl MxRecord {
    /// An MX record; `exchange` is normalised (lower case, final dot removed, `""` → `"."`).
    pub fn new(preference: u16, exchange: &str) -> Self {
        let trimmed = exchange.strip_suffix('.').unwrap_or(exchange);
        let exchange = if trimmed.is_empty() {
            ".".to_owned()
        } else {
            trimmed.to_ascii_lowercase()
        };
        Self {
            preference,
            exchange,
        }
    }

    /// True when the exchange is the root `"."`: this record names no host (RFC 7505 §3).
    pub fn is_root_exchange(&self) -> bool {
        self.exchange == "."
    }
}

/// The two address lookups of one host: A and AAAA, each with its own outcome, so that a
/// family that failed is told apart from one that has no records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpLookup {
    /// The A lookup.
    pub a: Lookup<Ipv4Addr>,
    /// The AAAA lookup.
    pub aaaa: Lookup<Ipv6Addr>,
}

/// A DNS resolver as routing needs it.
///
/// Names are passed in A-labels, lower case, without a final dot, and are absolute: an
/// implementation must not apply a search list. CNAMEs are followed by the implementation
/// (RFC 5321 §5.1: the answer is for the canonical name).
///
/// The trait is generic, not object-safe: its methods return `impl Future + Send`, so an
/// implementation writes plain `async fn`s, and [`Router`](super::Router) is generic over
/// it. Wrap a resolver in [`std::sync::Arc`] to share it; `Arc<R>` is a `Resolver` too.
pub trait Resolver: Send + Sync {
    /// The MX records of `domain`.
    fn lookup_mx(&self, domain: &str) -> impl Future<Output = Lookup<MxRecord>> + Send;

    /// The A and AAAA records of `host`.
    fn lookup_ip(&self, host: &str) -> impl Future<Output = IpLookup> + Send;
}

impl<R: Resolver> Resolver for std::sync::Arc<R> {
    fn lookup_mx(&self, domain: &str) -> impl Future<Output = Lookup<MxRecord>> + Send {
        (**self).lookup_mx(domain)
    }

    fn lookup_ip(&self, host: &str) -> impl Future<Output = IpLookup> + Send {
        (**self).lookup_ip(host)
    }
}

/// A [`Resolver`] over hickory-resolver with the tokio runtime.
///
/// Queries go over UDP; an answer with the TC bit set is asked again over TCP (RFC 1035
/// §4.2.1, RFC 7766 §5). Each lookup (one name and one type, retries and TCP included) is
/// bounded by a deadline, [`DEFAULT_LOOKUP_DEADLINE`] unless another is given; A and AAAA
/// are asked at the same time.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
    deadline: Duration,
}

impl std::fmt::Debug for HickoryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HickoryResolver")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl HickoryResolver {
    /// A resolver with the system's configuration (`/etc/resolv.conf` on Unix), the hosts
    /// file included as the system configures it.
    ///
    /// # Errors
    ///
    /// The system configuration cannot be read.
    pub fn system(deadline: Duration) -> io::Result<Self> {
        let mut builder = TokioResolver::builder_tokio().map_err(io::Error::other)?;
        let opts = builder.options_mut();
        opts.timeout = deadline;
        let inner = builder.build().map_err(io::Error::other)?;
        Ok(Self { inner, deadline })
    }

    /// A resolver that asks only the name server at `server`, over UDP and, for truncated
    /// answers, TCP. The hosts file is not consulted, so answers come from `server` alone.
    ///
    /// # Errors
    ///
    /// The resolver cannot be built.
    pub fn with_nameserver(server: SocketAddr, deadline: Duration) -> io::Result<Self> {
        let connection = |protocol| {
            let mut c = ConnectionConfig::new(protocol);
            c.port = server.port();
            c
        };
        let ns = NameServerConfig::new(
            server.ip(),
            true,
            vec![
                connection(ProtocolConfig::Udp),
                connection(ProtocolConfig::Tcp),
            ],
        );
        let config = ResolverConfig::from_name_servers(vec![ns]);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        let opts = builder.options_mut();
        opts.timeout = deadline;
        opts.use_hosts_file = ResolveHosts::Never;
        let inner = builder.build().map_err(io::Error::other)?;
        Ok(Self { inner, deadline })
    }

    /// The deadline of one lookup.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    async fn lookup<T>(
        &self,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Lookup<T> {
        // Absolute name: no search list, no ndots games.
        let fqdn = match Name::from_ascii(format!("{name}.")) {
            Ok(n) => n,
            Err(e) => return Err(LookupError::Other(e.to_string())),
        };
        let result = tokio::time::timeout(self.deadline, self.inner.lookup(fqdn, rtype)).await;
        match result {
            Err(_elapsed) => Err(LookupError::Timeout),
            Ok(Ok(lookup)) => {
                // The answer section also holds the CNAMEs that led to the records.
                let records: Vec<T> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| pick(&r.data))
                    .collect();
                if records.is_empty() {
                    Ok(Answer::NoData)
                } else {
                    Ok(Answer::Records(records))
                }
            }
            Ok(Err(e)) => map_error(&e),
        }
    }
}

fn map_rcode<T>(code: ResponseCode) -> Lookup<T> {
    match code {
        ResponseCode::NXDomain => Ok(Answer::NxDomain),
        ResponseCode::NoError => Ok(Answer::NoData),
        ResponseCode::ServFail => Err(LookupError::ServFail),
        ResponseCode::Refused => Err(LookupError::Refused),
        other => Err(LookupError::Rcode(u16::from(other))),
    }
}

fn map_error<T>(e: &NetError) -> Lookup<T> {
    match e {
        NetError::Dns(HickoryDnsError::NoRecordsFound(NoRecords { response_code, .. })) => {
            map_rcode(*response_code)
        }
        NetError::Dns(HickoryDnsError::ResponseCode(code)) => map_rcode(*code),
        NetError::Timeout => Err(LookupError::Timeout),
        other => Err(LookupError::Other(other.to_string())),
    }
}

impl Resolver for HickoryResolver {
    async fn lookup_mx(&self, domain: &str) -> Lookup<MxRecord> {
        self.lookup(domain, RecordType::MX, |d| match d {
            RData::MX(mx) => Some(MxRecord::new(mx.preference, &mx.exchange.to_ascii())),
            _ => None,
        })
        .await
    }

    async fn lookup_ip(&self, host: &str) -> IpLookup {
        let a = self.lookup(host, RecordType::A, |d| match d {
            RData::A(a) => Some(a.0),
            _ => None,
        });
        let aaaa = self.lookup(host, RecordType::AAAA, |d| match d {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        });
        let (a, aaaa) = join2(a, aaaa).await;
        IpLookup { a, aaaa }
    }
}

/// Both families of an [`IpLookup`] as one list, in the order routing tries them:
/// interleaved, IPv6 first (RFC 8305 §4), each family in the order the server gave, with
/// duplicates removed.
pub(crate) fn interleave(v6: &[Ipv6Addr], v4: &[Ipv4Addr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::with_capacity(v6.len() + v4.len());
    let mut six = v6.iter().map(|a| IpAddr::V6(*a));
    let mut four = v4.iter().map(|a| IpAddr::V4(*a));
    loop {
        let (x, y) = (six.next(), four.next());
        if x.is_none() && y.is_none() {
            break;
        }
        for ip in [x, y].into_iter().flatten() {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}
