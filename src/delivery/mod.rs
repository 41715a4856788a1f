//! Direct-to-MX routing: which hosts receive a recipient domain's mail, in which order, at
//! which addresses (feature `mx`).
//!
//! This module answers the DNS half of delivery; connecting to the hosts and walking them
//! is the delivery layer's. The pieces:
//!
//! - [`group_by_domain`] splits recipients into one [`DomainGroup`] per [`RouteDomain`].
//! - [`Resolver`] is the DNS seam, with typed [`Answer`]s and [`LookupError`]s;
//!   [`HickoryResolver`] implements it over hickory-resolver, [`MockResolver`] in memory.
//! - [`Router::route`] turns a domain into a [`Route`]: [`RouteHost`]s in the order to
//!   try, each with its addresses or a [`DnsError`].
//!
//! # Routing rules
//!
//! **Domains.** The domain is the part of the address after the last `@`. It is mapped
//! with UTS #46 (non-transitional) and converted to A-labels (IDNA 2008, RFC 5890 §2.3.2.1,
//! RFC 5891 §5), which also lower-cases it: `a@Bücher.test` and `b@xn--bcher-kva.test`
//! share a route. An address literal (RFC 5321 §4.1.3: `[192.0.2.1]`, `[IPv6:2001:db8::1]`)
//! is its own route to that one address, without DNS. Groups come in the order their
//! domains first appear, recipients in the order given.
//!
//! **MX records.** RFC 5321 §5.1: the hosts are the MX exchanges in ascending preference.
//! Hosts of equal preference are shuffled afresh on every [`Router::route`] call, to spread
//! the load as §5.1 requires. A host listed twice keeps its best preference. Only the first
//! [`DEFAULT_MAX_HOSTS`] (5, [`Router::max_hosts`]) are kept; the rest are ignored. CNAMEs
//! are followed by the resolver, for the domain and for each exchange, although RFC 2181
//! §10.3 says an exchange must not be an alias.
//!
//! **Null MX.** RFC 7505 §3: a single MX record with preference 0 and exchange `.` says the
//! domain accepts no mail: [`DnsErrorKind::NullMx`], permanent, and no host is contacted or
//! even looked up. An exchange `.` can never be a host, so the rule is applied to the
//! exchanges, not to the count: when *every* record's exchange is `.` (any preference, one
//! record or several) the domain is a null MX. When `.` is mixed with real exchanges, which
//! §3 forbids ("MUST NOT advertise any other MX RR"), the `.` records are dropped and the
//! other hosts are used: the owner did publish them, and refusing them would bounce mail a
//! working host would take.
//!
//! **No MX records (NODATA).** RFC 5321 §5.1 implicit MX: the domain itself is the only
//! host if it has an A or AAAA record ([`RouteKind::ImplicitMx`]); with neither,
//! [`DnsErrorKind::NoMailHost`], permanent.
//!
//! **Errors.** NXDOMAIN ([`DnsErrorKind::NxDomain`]) is permanent. SERVFAIL, REFUSED, any
//! other error RCODE and a lookup that misses its deadline are transient
//! ([`DnsErrorKind::Lookup`]): the answer may be different later.
//!
//! **When MX records exist, the domain's own addresses are never used**, even when no MX
//! host has an address (RFC 5321 §5.1 applies the implicit MX only when there are no MX
//! records). Such a route is not an error of [`Router::route`]: each host carries its own
//! [`DnsError`], so that each is reported as a failed attempt; the domain's outcome is
//! permanent only if every host's failure is ([`DnsError::is_permanent`]).
//!
//! **Addresses.** For each host both A and AAAA are asked, at the same time, CNAMEs
//! followed. The addresses are interleaved, IPv6 first (RFC 8305 §4), each family in the
//! server's order, duplicates removed. A host whose lookups found nothing is permanent
//! ([`DnsErrorKind::NoAddresses`], or [`DnsErrorKind::NxDomain`] when both said NXDOMAIN);
//! one whose lookup failed (and the other family found nothing) is transient. A host with
//! addresses in one family keeps them even if the other family's lookup failed.
//!
//! **Address filter.** [`Router::address_filter`] drops addresses before they are tried,
//! for example with [`is_public_unicast`] to refuse loopback and private networks
//! (server-side request forgery through DNS). It is off by default. A host whose every
//! address is refused is [`DnsErrorKind::AddressesRefused`], permanent. RFC 5321 §5.1's
//! rule of dropping MX hosts at or above the client's own preference is the caller's, who
//! alone knows its names; the filter is the place for it.
//!
//! **Deadlines.** Each lookup, one name and one type with its retries and the TCP retry of
//! a truncated answer, is bounded ([`HickoryResolver`]'s deadline). A route makes the MX
//! lookup, then all the hosts' address lookups at once: at most two deadlines.

mod domain;
mod join;
mod mock;
mod mx;
pub mod pool;
mod resolver;

pub use domain::{DomainError, DomainGroup, RouteDomain, group_by_domain};
pub use mock::{MockResolver, QueryType};
pub use mx::{
    AddressFilter, DEFAULT_MAX_HOSTS, DnsError, DnsErrorKind, Route, RouteHost, RouteKind, Router,
    ShuffleRng, XorShift64, is_public_unicast,
};
pub use resolver::{
    Answer, DEFAULT_LOOKUP_DEADLINE, HickoryResolver, IpLookup, Lookup, LookupError, MxRecord,
    Resolver,
};
