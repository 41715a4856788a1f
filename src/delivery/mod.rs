//! Delivering mail: directly to each recipient domain's mail exchangers, or through a
//! relay (smarthost), under one TLS policy, over pooled connections, through a proxy if
//! need be (feature `mx`, which implies `tls`).
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
//! - Both keep their connections in a [`pool`]: a connection stays open after its
//!   transaction and carries the next message to the same host, AUTH happens once per
//!   new connection, and `close()` QUITs them ([Connection reuse](#connection-reuse)).
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
//! delivery.close().await; // QUIT the pooled connection
//! # Ok(())
//! # }
//! ```
//!
//! # Relay
//!
//! [`Relay::submission`] (587, STARTTLS) and [`Relay::implicit_tls`] (465, RFC 8314)
//! default to [`Level::Secure`](crate::tls::Level::Secure): TLS required, certificate
//! verified against the relay's name. Credentials go only to the relay, only over TLS (the
//! session is confidential: no fallback, whatever the level), after the policy hook
//! accepted the connection, once on every new connection. [`Relay::send_batch`] gives
//! several messages to the relay's connections, each carrying as many as its limits
//! allow in one window.
//!
//! Here the relay is an in-process submission server on loopback with STARTTLS under a
//! certificate made for the example (rcgen), trusted as the only root:
//!
//! ```
//! use smtp_courier::auth::{AuthOptions, Credentials, Mechanism};
//! use smtp_courier::delivery::{DeliveryPolicy, Relay, SecurityLevel};
//! use smtp_courier::tls::{Level, TlsConfig};
//! use smtp_courier::{ClientConfig, Envelope};
//! # use std::sync::Arc;
//! # use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
//! #
//! # /// Answers commands until STARTTLS (then hands the stream back) or QUIT.
//! # async fn smtp<S: AsyncRead + AsyncWrite + Unpin>(io: S, ehlo: &str) -> std::io::Result<Option<S>> {
//! #     let mut io = BufReader::new(io);
//! #     let mut line = String::new();
//! #     loop {
//! #         line.clear();
//! #         if io.read_line(&mut line).await? == 0 { return Ok(None); }
//! #         let reply = match line.trim_end() {
//! #             "STARTTLS" => { io.write_all(b"220 2.0.0 go ahead\r\n").await?; return Ok(Some(io.into_inner())); }
//! #             "QUIT" => { io.write_all(b"221 2.0.0 bye\r\n").await?; return Ok(None); }
//! #             l if l.starts_with("EHLO") => ehlo,
//! #             l if l.starts_with("AUTH") => "235 2.7.0 authenticated\r\n",
//! #             "DATA" => "354 go ahead\r\n",
//! #             "." => "250 2.0.0 queued\r\n",
//! #             l if l.starts_with("MAIL") || l.starts_with("RCPT") => "250 ok\r\n",
//! #             _ => continue, // message content
//! #         };
//! #         io.write_all(reply.as_bytes()).await?;
//! #     }
//! # }
//! #
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cert = rcgen::generate_simple_self_signed(vec!["relay.example.test".to_owned()])?;
//! # let ca_pem = cert.cert.pem();
//! # let provider = Arc::new(rustls::crypto::ring::default_provider());
//! # let tls = rustls::ServerConfig::builder_with_provider(provider)
//! #     .with_safe_default_protocol_versions()?
//! #     .with_no_client_auth()
//! #     .with_single_cert(
//! #         vec![cert.cert.der().clone()],
//! #         rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
//! #     )?;
//! # let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let port = listener.local_addr()?.port();
//! # tokio::spawn(async move {
//! #     let (mut tcp, _) = listener.accept().await?;
//! #     tcp.write_all(b"220 relay.example.test ESMTP\r\n").await?;
//! #     let ehlo = "250-relay.example.test\r\n250 STARTTLS\r\n";
//! #     if let Some(tcp) = smtp(tcp, ehlo).await? {
//! #         let tls = acceptor.accept(tcp).await?;
//! #         smtp(tls, "250-relay.example.test\r\n250 AUTH PLAIN\r\n").await?;
//! #     }
//! #     Ok::<_, std::io::Error>(())
//! # });
//! // `secure`: STARTTLS with the certificate verified, here against the example's root
//! // and under the relay's name.
//! let tls = TlsConfig::from_level(Level::Secure)
//!     .platform_roots(false)
//!     .add_roots_pem(ca_pem.as_bytes())?
//!     .server_name("relay.example.test");
//! let relay = Relay::submission("127.0.0.1", ClientConfig::new("client.example.org")?)?
//!     .port(port)
//!     .policy(DeliveryPolicy::new(tls))
//!     .credentials(Credentials::new("me", "secret"), AuthOptions::new());
//! let envelope = Envelope::new("me@example.org", ["you@example.net"])?;
//! for _ in 0..2 {
//!     let report = relay.send(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//!     assert!(report.transaction().all_delivered());
//!     assert_eq!(report.mechanism(), Some(Mechanism::Plain));
//!     assert_eq!(report.connection().security(), SecurityLevel::TlsVerified);
//! }
//! // Both messages on one connection, authenticated once.
//! assert_eq!(relay.pool_stats().connections_opened, 1);
//! relay.close().await; // QUIT
//! # Ok(())
//! # }
//! ```
//!
//! # Connection reuse
//!
//! [`MxDelivery`] and [`Relay`] each hold a [`pool::Pool`] of connections, made at their
//! first message from their settings (give [`MxDelivery::pool`] / [`Relay::pool`] a
//! [`pool::PoolConfig`] for the limits: transactions per connection, as Mailman's
//! sessions per connection, and the server's LIMITS MAILMAX; the idle timeout;
//! connections per destination and in total, which truly bound concurrency).
//!
//! - **What may share a connection.** A relay connection carries messages to that relay
//!   only. An MX connection is kept per MX name, address, port and TLS settings: a
//!   connection is never reused for another MX name (its certificate was verified under
//!   that name), and a REQUIRETLS message never rides a connection that may have fallen
//!   back to plaintext.
//! - **No probe before reuse.** No NOOP: the pool reads, without waiting, what the server
//!   sent while the connection was idle. A connection the server closed meanwhile (a
//!   `421`, an EOF) is dropped and the message goes on a fresh one; that is not an
//!   [`Attempt`], and the walk's rules above are unchanged.
//! - **Batches.** [`MxDelivery::deliver_batch`], [`Relay::send_batch`] and
//!   [`pool::Pool::send_batch`] hand each connection as many messages as its limits
//!   allow in one [`Client::send_batch`](crate::Client::send_batch), so that they ride
//!   its window of transactions in flight. A message goes on another connection only when
//!   nothing of it was written: one stopped at MAILMAX, or one whose connection was lost
//!   before its MAIL. One in flight when its connection was lost keeps its transient,
//!   unknown outcome and is never sent again.
//! - **Shutdown.** `close()` QUITs the idle connections and waits for those being QUIT;
//!   a connection also goes after the pool's idle timeout, or when its limits are
//!   reached.
//!
//! Two deliveries to one domain, one connection:
//!
//! ```
//! use smtp_courier::delivery::pool::PoolConfig;
//! use smtp_courier::delivery::{MockResolver, MxDelivery, Router};
//! use smtp_courier::{ClientConfig, Envelope};
//! use std::time::Duration;
//! # use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let port = listener.local_addr()?.port();
//! # let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
//! # let counted = connections.clone();
//! # tokio::spawn(async move {
//! #     loop {
//! #         let (stream, _) = listener.accept().await?;
//! #         counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//! #         tokio::spawn(async move {
//! #             let (read, mut write) = stream.into_split();
//! #             let mut lines = BufReader::new(read).lines();
//! #             write.write_all(b"220 mx.example.test ESMTP\r\n").await?;
//! #             while let Some(line) = lines.next_line().await? {
//! #                 let reply: &[u8] = match line.as_str() {
//! #                     l if l.starts_with("EHLO") => b"250 mx.example.test\r\n",
//! #                     "DATA" => b"354 go ahead\r\n",
//! #                     "." => b"250 2.0.0 queued\r\n",
//! #                     "QUIT" => b"221 bye\r\n",
//! #                     l if l.starts_with("MAIL") || l.starts_with("RCPT") => b"250 ok\r\n",
//! #                     _ => continue,
//! #                 };
//! #                 write.write_all(reply).await?;
//! #             }
//! #             Ok::<_, std::io::Error>(())
//! #         });
//! #     }
//! #     #[allow(unreachable_code)]
//! #     Ok::<_, std::io::Error>(())
//! # });
//! let dns = MockResolver::new()
//!     .mx("example.test", &[(10, "mx.example.test")])
//!     .a("mx.example.test", &["127.0.0.1"]);
//! let pool = PoolConfig::default()
//!     .transactions_per_connection(100)
//!     .idle_timeout(Duration::from_secs(10));
//! let delivery = MxDelivery::new(Router::new(dns), ClientConfig::new("client.example.org")?)
//!     .port(port)
//!     .pool(pool);
//! let envelope = Envelope::new("me@example.org", ["you@example.test"])?;
//! for _ in 0..2 {
//!     let report = delivery.deliver(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//!     assert!(report.all_delivered());
//! }
//! // Three more in one batch, on the same connection.
//! let batch = delivery
//!     .deliver_batch((0..3).map(|_| (&envelope, &b"Subject: hi\r\n\r\nHello\r\n"[..])))
//!     .await?;
//! assert!(batch.iter().all(|r| r.all_delivered()));
//! assert_eq!(delivery.pool_stats().connections_opened, 1);
//! # assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
//! delivery.close().await; // QUIT
//! # Ok(())
//! # }
//! ```
//!
//! # Proxies and custom connectors
//!
//! Every connection, and the plaintext reconnection after a failed handshake, goes
//! through the [`Connector`](crate::connect::Connector) given to [`MxDelivery::connector`]
//! or [`Relay::connector`]; one `Arc<dyn Connector<Stream = TcpStream>>` can serve both.
//! The MX lookups do not go through it: they are the resolver's. Here a SOCKS5 proxy
//! (RFC 1928) on loopback, in-process like the MX behind it, carries the delivery:
//!
//! ```
//! use smtp_courier::connect::Socks5Connector;
//! use smtp_courier::delivery::{MockResolver, MxDelivery, Router};
//! use smtp_courier::{ClientConfig, Envelope};
//! # use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mx = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let port = mx.local_addr()?.port();
//! # tokio::spawn(async move {
//! #     let (stream, _) = mx.accept().await?;
//! #     let (read, mut write) = stream.into_split();
//! #     let mut lines = BufReader::new(read).lines();
//! #     write.write_all(b"220 mx.example.test ESMTP\r\n").await?;
//! #     while let Some(line) = lines.next_line().await? {
//! #         let reply: &[u8] = match line.as_str() {
//! #             l if l.starts_with("EHLO") => b"250 mx.example.test\r\n",
//! #             "DATA" => b"354 go ahead\r\n",
//! #             "." => b"250 2.0.0 queued\r\n",
//! #             "QUIT" => b"221 bye\r\n",
//! #             l if l.starts_with("MAIL") || l.starts_with("RCPT") => b"250 ok\r\n",
//! #             _ => continue,
//! #         };
//! #         write.write_all(reply).await?;
//! #     }
//! #     Ok::<_, std::io::Error>(())
//! # });
//! # // The proxy: no authentication, CONNECT to an IPv4 address (RFC 1928 §3, §4, §6).
//! # let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let proxy_port = proxy.local_addr()?.port();
//! # tokio::spawn(async move {
//! #     let (mut client, _) = proxy.accept().await?;
//! #     let mut hello = [0u8; 3];
//! #     client.read_exact(&mut hello).await?;
//! #     client.write_all(&[5, 0]).await?;
//! #     let mut request = [0u8; 10];
//! #     client.read_exact(&mut request).await?;
//! #     let [_, _, _, _, a, b, c, d, p1, p2] = request;
//! #     let target = std::net::SocketAddr::from(([a, b, c, d], u16::from_be_bytes([p1, p2])));
//! #     let mut upstream = tokio::net::TcpStream::connect(target).await?;
//! #     client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
//! #     tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
//! #     Ok::<_, std::io::Error>(())
//! # });
//! let dns = MockResolver::new()
//!     .mx("example.test", &[(10, "mx.example.test")])
//!     .a("mx.example.test", &["127.0.0.1"]);
//! let delivery = MxDelivery::new(Router::new(dns), ClientConfig::new("client.example.org")?)
//!     .port(port)
//!     .connector(Socks5Connector::new("127.0.0.1", proxy_port)?);
//! let envelope = Envelope::new("me@example.org", ["you@example.test"])?;
//! let report = delivery.deliver(&envelope, b"Subject: hi\r\n\r\nHello\r\n").await?;
//! // The report names the MX address the library chose; the proxy connected to it.
//! assert_eq!(report.domains()[0].address(), Some(([127, 0, 0, 1], port).into()));
//! assert!(report.all_delivered());
//! delivery.close().await;
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
