//! MX routing (RFC 5321 §5.1, RFC 7505): from a recipient domain to the ordered list of
//! hosts, and each host's addresses, that delivery tries. The rules are in the
//! [module docs](super).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use super::domain::RouteDomain;
use super::join::join_all;
use super::resolver::{Answer, IpLookup, LookupError, MxRecord, Resolver, interleave};

/// The default number of MX hosts a route keeps ([`Router::max_hosts`]).
pub const DEFAULT_MAX_HOSTS: usize = 5;

/// Why a domain, or one host of its route, has nowhere to deliver to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {kind}")]
pub struct DnsError {
    /// The domain or host name the failure is about (A-labels, lower case), or an address
    /// literal as `[192.0.2.1]`.
    pub name: String,
    /// What happened.
    pub kind: DnsErrorKind,
}

/// What went wrong in DNS. See [`DnsError::is_permanent`] for the classification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsErrorKind {
    /// The domain publishes a null MX: it accepts no mail (RFC 7505 §3). Permanent.
    #[error("null MX (RFC 7505)")]
    NullMx,
    /// The name does not exist. Permanent.
    #[error("no such domain (NXDOMAIN)")]
    NxDomain,
    /// The domain has no MX records and no A or AAAA record for an implicit MX (RFC 5321
    /// §5.1). Permanent.
    #[error("no MX, A or AAAA records")]
    NoMailHost,
    /// The host has no A or AAAA records. Permanent.
    #[error("no A or AAAA records")]
    NoAddresses,
    /// The host has addresses, and the router's address filter refused every one.
    /// Permanent: the same answer would be refused again.
    #[error("every address refused by the address filter")]
    AddressesRefused,
    /// The lookup got no definite answer: SERVFAIL, REFUSED, a timeout or another error.
    /// Transient.
    #[error("{0}")]
    Lookup(LookupError),
}

impl DnsError {
    fn new(name: &str, kind: DnsErrorKind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
        }
    }

    /// True when asking again later cannot help: null MX, NXDOMAIN, no records, every
    /// address refused. The recipients bounce.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// True when DNS gave no definite answer (SERVFAIL, REFUSED, a timeout, another error
    /// code, no reachable server): retry later.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DnsErrorKind::Lookup(_))
    }

    /// True when the failure was a lookup that did not finish within its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, DnsErrorKind::Lookup(LookupError::Timeout))
    }
}

/// How a route's hosts were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteKind {
    /// From the domain's MX records.
    Mx,
    /// No MX records: the domain itself, which has an address (RFC 5321 §5.1).
    ImplicitMx,
    /// An address literal: the one address, no DNS.
    Literal,
}

/// One host of a route, with its addresses or why it has none.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteHost {
    /// The host: the MX exchange (A-labels, lower case, no final dot), the domain for an
    /// implicit MX, or the literal as `[192.0.2.1]`. The name to verify TLS against.
    pub name: String,
    /// The MX preference; `None` for an implicit MX or a literal.
    pub preference: Option<u16>,
    /// The addresses to try, in order (interleaved IPv6 / IPv4, IPv6 first, RFC 8305 §4),
    /// after the address filter; or why there are none: [`DnsError::is_transient`] tells
    /// a failed lookup from a host without addresses.
    pub addresses: Result<Vec<IpAddr>, DnsError>,
}

/// Where to deliver a domain's mail: hosts in the order to try them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// The domain.
    pub domain: RouteDomain,
    /// How the hosts were found.
    pub kind: RouteKind,
    /// The hosts, never empty. With MX records, some or all may have no usable address:
    /// each such host is a failed attempt, and there is no fallback to the domain's own
    /// addresses (RFC 5321 §5.1).
    pub hosts: Vec<RouteHost>,
}

/// A source of randomness for the order of equal-preference MX hosts.
///
/// Load spreading needs an even spread, not unpredictability, so [`XorShift64`] suffices;
/// tests inject a seeded one through [`Router::rng`].
pub trait ShuffleRng: Send {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;
}

/// A xorshift64 generator (Marsaglia 2003): tiny and even enough for shuffling.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A generator seeded from the process's hash keys (`std::hash::RandomState`), which
    /// differ per process and per call.
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u64(0x5EED);
        Self::new(h.finish())
    }
}

impl ShuffleRng for XorShift64 {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// A uniform index below `n` (Lemire's multiply-shift; `n` ≥ 1).
fn below(rng: &mut dyn ShuffleRng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Decides which addresses may be connected to: `true` keeps the address.
pub type AddressFilter = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// An [`AddressFilter`] that keeps only addresses that could be a public mail server:
/// it refuses loopback, unspecified, private (RFC 1918, RFC 4193), shared (RFC 6598),
/// link-local, multicast, broadcast and documentation ranges, IPv4-mapped ones included.
pub fn is_public_unicast(ip: IpAddr) -> bool {
    fn v4(a: Ipv4Addr) -> bool {
        let o = a.octets();
        let shared = o[0] == 100 && (o[1] & 0xC0) == 64;
        !(a.is_loopback()
            || a.is_unspecified()
            || a.is_private()
            || a.is_link_local()
            || a.is_multicast()
            || a.is_broadcast()
            || a.is_documentation()
            || shared
            || o[0] == 0)
    }
    fn v6(a: Ipv6Addr) -> bool {
        if let Some(m) = a.to_ipv4_mapped() {
            return v4(m);
        }
        let s = a.segments();
        let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
        !(a.is_loopback()
            || a.is_unspecified()
            || a.is_multicast()
            || a.is_unique_local()
            || a.is_unicast_link_local()
            || documentation)
    }
    match ip {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    }
}

/// Routes recipient domains over a [`Resolver`].
///
/// ```
/// use smtp_courier::delivery::{MockResolver, RouteDomain, RouteKind, Router};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dns = MockResolver::new()
///     .mx("example.test", &[(10, "mx1.example.test"), (20, "mx2.example.test")])
///     .a("mx1.example.test", &["192.0.2.1"])
///     .a("mx2.example.test", &["192.0.2.2"]);
/// let router = Router::new(dns);
/// let route = router.route(&RouteDomain::parse("Example.test").unwrap()).await.unwrap();
/// assert_eq!(route.kind, RouteKind::Mx);
/// assert_eq!(route.hosts[0].name, "mx1.example.test");
/// assert_eq!(route.hosts[1].addresses, Ok(vec!["192.0.2.2".parse().unwrap()]));
/// # }
/// ```
pub struct Router<R> {
    resolver: R,
    max_hosts: usize,
    filter: Option<AddressFilter>,
    rng: Mutex<Box<dyn ShuffleRng>>,
}

impl<R> std::fmt::Debug for Router<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("max_hosts", &self.max_hosts)
            .field("address_filter", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl<R: Resolver> Router<R> {
    /// A router with at most [`DEFAULT_MAX_HOSTS`] hosts per route, no address filter, and
    /// equal preferences shuffled by a [`XorShift64::from_entropy`].
    pub fn new(resolver: R) -> Self {
        Self {
            resolver,
            max_hosts: DEFAULT_MAX_HOSTS,
            filter: None,
            rng: Mutex::new(Box::new(XorShift64::from_entropy())),
        }
    }

    /// Keeps at most `n` MX hosts (at least 1), the most preferred.
    pub fn max_hosts(mut self, n: usize) -> Self {
        self.max_hosts = n.max(1);
        self
    }

    /// Keeps only the addresses for which `filter` returns true, for example
    /// [`is_public_unicast`] to never connect to loopback or private networks. Off by
    /// default.
    pub fn address_filter(
        mut self,
        filter: impl Fn(IpAddr) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Shuffles equal preferences with `rng` (for reproducible tests).
    pub fn rng(mut self, rng: impl ShuffleRng + 'static) -> Self {
        self.rng = Mutex::new(Box::new(rng));
        self
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// The route for `domain`: its hosts in the order to try, each with its addresses.
    ///
    /// The MX lookup is made first; the hosts' address lookups are then made at the same
    /// time, so a route takes at most two lookup deadlines.
    ///
    /// # Errors
    ///
    /// A [`DnsError`] for the domain: permanent for a null MX, NXDOMAIN, or no MX and no
    /// address; transient when the MX (or implicit MX address) lookup got no definite answer.
    pub async fn route(&self, domain: &RouteDomain) -> Result<Route, DnsError> {
        let name = match domain {
            RouteDomain::Literal(ip) => {
                let label = domain.to_string();
                let addresses = self.filtered(&label, vec![*ip]);
                return Ok(Route {
                    domain: domain.clone(),
                    kind: RouteKind::Literal,
                    hosts: vec![RouteHost {
                        name: label,
                        preference: None,
                        addresses,
                    }],
                });
            }
            RouteDomain::Name(name) => name,
        };
        let fail = |kind| Err(DnsError::new(name, kind));
        let records = match self.resolver.lookup_mx(name).await {
            Err(e) => return fail(DnsErrorKind::Lookup(e)),
            Ok(Answer::NxDomain) => return fail(DnsErrorKind::NxDomain),
            Ok(Answer::NoData) => return self.implicit_mx(domain, name).await,
            Ok(Answer::Records(records)) => records,
        };
        let hosts = self.order(records);
        if hosts.is_empty() {
            // RFC 7505 §3: only "." exchanges: the domain accepts no mail.
            return fail(DnsErrorKind::NullMx);
        }
        let lookups = hosts
            .iter()
            .map(|mx| self.resolver.lookup_ip(&mx.exchange))
            .collect();
        let answers = join_all(lookups).await;
        let hosts = hosts
            .into_iter()
            .zip(answers)
            .map(|(mx, ip)| {
                let addresses = self.addresses_of(&mx.exchange, ip);
                RouteHost {
                    name: mx.exchange,
                    preference: Some(mx.preference),
                    addresses,
                }
            })
            .collect();
        Ok(Route {
            domain: domain.clone(),
            kind: RouteKind::Mx,
            hosts,
        })
    }

    /// The addresses of one host, as a route has them: interleaved IPv6 / IPv4, filtered.
    ///
    /// # Errors
    ///
    /// Permanent when both families say NXDOMAIN or NODATA, or the filter refused every
    /// address; transient when a family's lookup failed and the other found nothing.
    pub async fn host_addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let ip = self.resolver.lookup_ip(host).await;
        self.addresses_of(host, ip)
    }

    /// RFC 5321 §5.1: no MX records, so the domain is its own mail host if it has an
    /// address.
    async fn implicit_mx(&self, domain: &RouteDomain, name: &str) -> Result<Route, DnsError> {
        let addresses = match self.host_addresses(name).await {
            Err(e) if e.kind == DnsErrorKind::NoAddresses || e.kind == DnsErrorKind::NxDomain => {
                return Err(DnsError::new(name, DnsErrorKind::NoMailHost));
            }
            Err(e) if e.is_transient() => return Err(e),
            other => other,
        };
        Ok(Route {
            domain: domain.clone(),
            kind: RouteKind::ImplicitMx,
            hosts: vec![RouteHost {
                name: name.to_owned(),
                preference: None,
                addresses,
            }],
        })
    }

    /// Ascending preference, equal preferences shuffled, "." exchanges dropped, duplicates
    /// kept at their best preference, at most `max_hosts`.
    fn order(&self, mut records: Vec<MxRecord>) -> Vec<MxRecord> {
        records.retain(|r| !r.is_root_exchange());
        records.sort_by_key(|r| r.preference);
        let mut seen: Vec<String> = Vec::with_capacity(records.len());
        records.retain(|r| {
            let new = !seen.contains(&r.exchange);
            if new {
                seen.push(r.exchange.clone());
            }
            new
        });
        // A poisoned lock only means another route panicked mid-shuffle; the generator's
        // state is still a valid state.
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for group in records.chunk_by_mut(|a, b| a.preference == b.preference) {
            // Fisher-Yates.
            for i in (1..group.len()).rev() {
                let j = below(rng.as_mut(), i + 1);
                group.swap(i, j);
            }
        }
        records.truncate(self.max_hosts);
        records
    }

    fn addresses_of(&self, host: &str, ip: IpLookup) -> Result<Vec<IpAddr>, DnsError> {
        let v4 = match &ip.a {
            Ok(Answer::Records(v)) => v.as_slice(),
            _ => &[],
        };
        let v6 = match &ip.aaaa {
            Ok(Answer::Records(v)) => v.as_slice(),
            _ => &[],
        };
        let all = interleave(v6, v4);
        if !all.is_empty() {
            return self.filtered(host, all);
        }
        let kind = match (ip.a, ip.aaaa) {
            (Err(e), _) | (_, Err(e)) => DnsErrorKind::Lookup(e),
            (Ok(Answer::NxDomain), Ok(Answer::NxDomain)) => DnsErrorKind::NxDomain,
            _ => DnsErrorKind::NoAddresses,
        };
        Err(DnsError::new(host, kind))
    }

    fn filtered(&self, host: &str, mut addresses: Vec<IpAddr>) -> Result<Vec<IpAddr>, DnsError> {
        if let Some(keep) = &self.filter {
            addresses.retain(|ip| keep(*ip));
            if addresses.is_empty() {
                return Err(DnsError::new(host, DnsErrorKind::AddressesRefused));
            }
        }
        Ok(addresses)
    }
}
