//! Delivering mail: directly to each recipient domain's mail exchangers, or through a
//! relay (smarthost), under one TLS policy (feature `mx`, which implies `tls`).
//!
//! - [`MxDelivery`] routes each recipient domain (the DNS half, below) and walks its hosts
//!   until one decides ([Direct MX delivery](#direct-mx-delivery)).
//! - [`Relay`] hands everything to one submission server, on 587 with STARTTLS or 465
//!   with implicit TLS, with AUTH ([Relay](#relay)).
//! - Both read one [`DeliveryPolicy`] on every connection: a [`TlsConfig`](crate::tls::TlsConfig)
//!   (a Postfix [`Level`](crate::tls::Level) or full settings) and an optional hook that
//!   refuses a connection below the [`SecurityLevel`] a domain needs.
//! - Both open connections through a [`Connector`](crate::connect::Connector):
//!   [`TcpConnector`](crate::connect::TcpConnector) by default, a
//!   [`Socks5Connector`](crate::connect::Socks5Connector) or your own
//!   ([Proxies](#proxies-and-custom-connectors)).
//! - Reusing connections across messages is the connection pool's business, another
//!   module's; [`MxDelivery`] and [`Relay`] open a connection per transaction and QUIT it.
//!
//! # Direct MX delivery
//!
//! [`MxDelivery::deliver`] groups the recipients by domain ([`group_by_domain`]), routes
//! each domain ([`Router::route`]: MX records, implicit MX, null MX; see
//! [Routing rules](#routing-rules)) and walks the hosts, every address of each host in
//! the router's order:
//!
//! - **Before MAIL, the host's.** A failed connect, a greeting that refuses the session
//!   (4yz, and 5yz too, after QUIT, as Postfix's `smtp_skip_5xx_greeting`), EHLO,
//!   STARTTLS or TLS failing under the policy, the policy hook refusing the connection's
//!   level, and the size and extension checks made before MAIL are each an [`Attempt`]:
//!   the next address, then the next host, gets every recipient of the domain.
//! - **From MAIL on, the host decides**, unless every recipient came out transient (MAIL
//!   4yz, every RCPT 4yz, a 4yz to the data, the connection lost): then the next host gets
//!   all of them. A 5yz to MAIL, RCPT or the data is final, and the host's other answers
//!   stand with it.
//! - **When no host decided**, the recipients carry the last attempt's error, permanent
//!   only if every attempt failed permanently ([`RecipientDelivery::status`]).
//! - **Deadlines** are per DNS lookup (the resolver's) and per connection (the
//!   [`ClientConfig`](crate::ClientConfig)'s [`Timeouts`](crate::proto::Timeouts)), never
//!   one for the whole walk.
//! - **TLS**: [`DeliveryPolicy::default`] is `may`: opportunistic STARTTLS, the certificate
//!   verified for the report only, a plaintext fallback after a failed handshake by
//!   reconnecting to the same address through the same connector. Each host is verified
//!   under its own MX name. [`MxDelivery`] has no credentials at all.
//! - **Results**: a [`DeliveryReport`] with one [`DomainReport`] per domain in the
//!   caller's order: the deciding host and address, the attempts before it, the
//!   [`Connection`] (greeting, capabilities, TLS report, [`SecurityLevel`]), and one
//!   [`RecipientDelivery`] per recipient.
//!
//! An in-process server on a loopback address stands in for the MX here:
//!
//! ```
//! use smtp_courier::delivery::{MockResolver, MxDelivery, Router, SecurityLevel};
//! use smtp_courier::{ClientConfig, Envelope, RecipientStatus};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let (read, mut write) = stream.into_split();
//!     let mut lines = BufReader::new(read).lines();
//!     write.write_all(b"220 mx.example.test ESMTP\r\n").await?;
//!     while let Some(line) = lines.next_line().await? {
//!         let reply: &[u8] = match line.as_str() {
//!             l if l.starts_with("EHLO") => b"250 mx.example.test\r\n",
//!             "DATA" => b"354 go ahead\r\n",
//!             "." => b"250 2.0.0 queued\r\n",
//!             "QUIT" => b"221 bye\r\n",
//!             l if l.starts_with("MAIL") || l.starts_with("RCPT") => b"250 ok\r\n",
//!             _ => continue, // message content
//!         };
//!         write.write_all(reply).await?;
//!     }
//!     Ok::<_, std::io::Error>(())
//! });
//!
//! let dns = MockResolver::new()
//!     .mx("example.test", &[(10, "mx.example.test")])
//!     .a("mx.example.test", &["127.0.0.1"])
//!     .mx("nullmx.test", &[(0, ".")]);
//! let delivery = MxDelivery::new(Router::new(dns), ClientConfig::new("client.example.org")?)
//!     .port(port);
//! let envelope = Envelope::new("me@example.org", ["you@example.test", "them@nullmx.test"])?;
//! let report = delivery.deliver(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//!
//! let [ok, null] = report.domains() else { unreachable!() };
//! assert_eq!(ok.host(), Some("mx.example.test"));
//! assert_eq!(ok.address(), Some(([127, 0, 0, 1], port).into()));
//! assert_eq!(ok.connection().unwrap().security(), SecurityLevel::Plain); // no STARTTLS
//! assert_eq!(ok.recipients()[0].status(), RecipientStatus::Delivered);
//! // RFC 7505: nothing was contacted for the null MX, and the recipient bounces.
//! assert_eq!(null.host(), None);
//! assert_eq!(null.recipients()[0].status(), RecipientStatus::Permanent);
//! # Ok(())
//! # }
//! ```
//!
//! # Relay
//!
//! [`Relay::submission`] (587, STARTTLS) and [`Relay::implicit_tls`] (465, RFC 8314)
//! default to [`Level::Secure`](crate::tls::Level::Secure): TLS required, certificate
//! verified against the relay's name. Credentials go only to the relay, only over TLS (the
//! session is confidential: no fallback, whatever the level). See [`Relay`] for an
//! example.
//!
//! # Proxies and custom connectors
//!
//! ```no_run
//! use std::sync::Arc;
//! use smtp_courier::connect::{Connector, Socks5Connector};
//! use smtp_courier::delivery::{HickoryResolver, MxDelivery, Relay, Router, DEFAULT_LOOKUP_DEADLINE};
//! use smtp_courier::ClientConfig;
//! use tokio::net::TcpStream;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy: Arc<dyn Connector<Stream = TcpStream>> =
//!     Arc::new(Socks5Connector::new("127.0.0.1", 1080)?);
//! let config = ClientConfig::new("client.example.org")?;
//! // Every connection, and the plaintext reconnection after a failed handshake, goes
//! // through the proxy. (The MX lookups themselves do not: they are the resolver's.)
//! let router = Router::new(HickoryResolver::system(DEFAULT_LOOKUP_DEADLINE)?);
//! let mx = MxDelivery::new(router, config.clone()).connector(proxy.clone());
//! let relay = Relay::submission("smtp.example.org", config)?.connector(proxy);
//! # drop((mx, relay));
//! # Ok(())
//! # }
//! ```
//!
//! # The DNS half
//!
//! The pieces of routing:
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

mod direct;
mod domain;
mod join;
mod mock;
mod mx;
mod policy;
pub mod pool;
mod relay;
mod report;
mod resolver;

pub use direct::{MxDelivery, SMTP_PORT};
pub use policy::{DeliveryPolicy, SecurityHook, SecurityLevel};
pub use relay::{Relay, RelayReport, SUBMISSION_PORT, SUBMISSIONS_PORT};
pub use report::{
    Attempt, Connection, DeliveryError, DeliveryReport, DomainReport, PolicyRefusal,
    RecipientDelivery,
};

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
