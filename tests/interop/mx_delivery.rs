//! Direct MX delivery (`delivery::MxDelivery`) with Postfix 2525 as the MX of
//! `test.example`, the domain served by the scripted DNS server of `tests/dns_support`
//! on loopback, asked through `HickoryResolver::with_nameserver`.
//!
//! The zone: `test.example MX 10 dead.test.example` (A 127.0.0.2, where nothing
//! listens: connection refused) and `MX 20 mx.test.example` (A 127.0.0.1, Postfix);
//! `nullmx.example MX 0 .` (RFC 7505); nothing for `nxdomain.example` (NXDOMAIN). Every
//! connection goes through a recording connector, so each test sees which addresses were
//! dialled (or that none were) and finds its Postfix session by local port.
//!
//! The `send` example in MX mode (`--resolver`, `--mx-port`) runs once against the same
//! world.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use smtp_courier::delivery::{
    DeliveryError, DeliveryPolicy, DnsErrorKind, DomainReport, HickoryResolver, MxDelivery, Router,
    SecurityLevel,
};
use smtp_courier::proto::CommandKind;
use smtp_courier::tls::{Level, TlsConfig};
use smtp_courier::{Envelope, Error, RecipientStatus, TlsError};

use crate::dns_support::{DnsServer, Zone};
use crate::support::*;
use crate::tls::ca_pem;

/// The MX host Postfix stands for (the name its certificate carries).
const MX: &str = "mx.test.example";
/// The preferred MX host, whose address has no listener.
const DEAD: &str = "dead.test.example";
const DEAD_IP: &str = "127.0.0.2";
const NULL_MX: &str = "nullmx.example";
const NXDOMAIN: &str = "nxdomain.example";
const SENDER: &str = "sender@test.example";

/// The scripted DNS server and the connector every delivery goes through.
struct World {
    env: Env,
    dns: DnsServer,
    conns: Recording,
}

impl World {
    /// The zone of the module docs, with `exchange` (A: Postfix's address) as the second
    /// MX host of test.example.
    async fn start(exchange: &str) -> Self {
        Self::with_zone(|env| {
            Zone::new()
                .mx(&env.domain, &[(20, exchange), (10, DEAD)])
                .a(DEAD, &[DEAD_IP])
                .a(exchange, &[&env.host])
                .mx(NULL_MX, &[(0, ".")])
        })
        .await
    }

    /// Another zone.
    async fn with_zone(zone: impl FnOnce(&Env) -> Zone) -> Self {
        let env = Env::get();
        let dns = DnsServer::start(zone(&env)).await;
        Self {
            env,
            dns,
            conns: Recording::default(),
        }
    }

    /// MX delivery over the loopback DNS server to Postfix's MX port, under `policy`.
    fn delivery(&self, policy: DeliveryPolicy) -> MxDelivery<HickoryResolver, Recording> {
        let resolver = HickoryResolver::with_nameserver(self.dns.addr, Duration::from_secs(5))
            .expect("a resolver for the loopback DNS server");
        MxDelivery::new(Router::new(resolver), config())
            .connector(self.conns.clone())
            .port(self.env.postfix_port)
            .policy(policy)
    }

    fn postfix_addr(&self) -> SocketAddr {
        SocketAddr::new(self.env.host.parse().unwrap(), self.env.postfix_port)
    }

    fn dead_addr(&self) -> SocketAddr {
        SocketAddr::new(DEAD_IP.parse().unwrap(), self.env.postfix_port)
    }

    /// The local port of the one connection made to Postfix.
    #[track_caller]
    fn postfix_session_port(&self) -> u16 {
        let want = self.postfix_addr().to_string();
        let to_postfix: Vec<Opened> = self
            .conns
            .opened()
            .into_iter()
            .filter(|o| o.target == want)
            .collect();
        assert_eq!(to_postfix.len(), 1, "{:?}", self.conns.opened());
        to_postfix[0].local_port.expect("connected to Postfix")
    }

    /// The connections dialled: the dead host's (refused), then Postfix's.
    #[track_caller]
    fn assert_dialled_dead_then_postfix(&self) {
        let opened = self.conns.opened();
        let targets: Vec<&str> = opened.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                self.dead_addr().to_string(),
                self.postfix_addr().to_string()
            ],
            "{opened:?}"
        );
        assert_eq!(opened[0].local_port, None, "nothing listens on {DEAD_IP}");
    }
}

/// The policy of `level` with the test CA as the only root.
fn trusting_ca(env: &Env, level: Level) -> DeliveryPolicy {
    DeliveryPolicy::new(
        TlsConfig::from_level(level)
            .platform_roots(false)
            .add_roots_pem(&ca_pem(env))
            .expect("the test CA is valid PEM"),
    )
}

/// The only domain of a one-domain report.
#[track_caller]
fn only_domain(report: &smtp_courier::delivery::DeliveryReport) -> &DomainReport {
    match report.domains() {
        [d] => d,
        other => panic!("expected one domain, got {other:#?}"),
    }
}

/// The first attempt: the dead host, connection refused, transient.
#[track_caller]
fn assert_dead_attempt(w: &World, d: &DomainReport) {
    let a = &d.attempts()[0];
    assert_eq!(a.host(), DEAD, "{d:#?}");
    assert_eq!(a.address(), Some(w.dead_addr()), "{d:#?}");
    assert!(a.error().is_transient(), "{:?}", a.error());
    match a.error().smtp() {
        Some(Error::Io {
            command: None,
            source,
        }) => {
            assert_eq!(
                source.kind(),
                io::ErrorKind::ConnectionRefused,
                "{source:?}"
            )
        }
        other => panic!("expected a refused connection: {other:?}"),
    }
}

/// Asserts the recipient's status, the command and the reply that decided it.
#[track_caller]
fn assert_recipient(
    d: &DomainReport,
    i: usize,
    status: RecipientStatus,
    command: CommandKind,
    code: u16,
    enhanced: &str,
) {
    let r = &d.recipients()[i];
    assert_eq!(r.status(), status, "{r:#?}");
    assert_eq!(r.command(), Some(command), "{r:#?}");
    let reply = r.reply().unwrap_or_else(|| panic!("no reply: {r:#?}"));
    assert_eq!(reply.code().as_u16(), code, "{r:#?}");
    assert_eq!(
        reply.enhanced_code().map(|c| c.to_string()).as_deref(),
        Some(enhanced),
        "{r:#?}"
    );
}

/// The message as Postfix stores it: CRLF-normalised on the wire, LF in the maildir.
fn as_stored(msg: &[u8]) -> Vec<u8> {
    crlf_to_lf(&crlf_normalised(msg))
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn may_walks_past_a_dead_host_and_postfix_decides_each_recipient() {
    let w = World::start(MX).await;
    let env = &w.env;
    let t = token("mx-may");
    let ok = env.ok_rcpt("mx-ok");
    let msg = message(&t, &ok, &dots_and_long_line(&t));
    let envelope = Envelope::new(SENDER, [&ok, &env.reject_rcpt, &env.defer_rcpt]).unwrap();
    let report = w
        .delivery(DeliveryPolicy::default())
        .deliver(&envelope, &msg)
        .await
        .expect("valid domains");
    let d = only_domain(&report);
    assert_eq!(d.domain().to_string(), env.domain);

    // The walk: the preferred host refused the connection, Postfix decided.
    assert_eq!(d.attempts().len(), 1, "{d:#?}");
    assert_dead_attempt(&w, d);
    assert_eq!(d.host(), Some(MX), "{d:#?}");
    assert_eq!(d.address(), Some(w.postfix_addr()));
    w.assert_dialled_dead_then_postfix();

    // `may`: STARTTLS, the certificate checked for the report only (the platform roots
    // do not know the test CA).
    let c = d.connection().expect("the deciding connection");
    assert_eq!(c.security(), SecurityLevel::TlsUnverified, "{c:#?}");
    let tls = c.tls().expect("STARTTLS was offered and used");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"), "{tls:?}");
    assert!(!tls.verified && !tls.fallback && !tls.implicit, "{tls:?}");
    let why = c.verify_error().expect("a verify verdict");
    assert!(!why.is_empty());
    eprintln!("may: TLS unverified: {why}");
    assert_eq!(
        c.greeting().map(|g| g.message()).as_deref(),
        Some("mx.test.example ESMTP Postfix")
    );

    // One verdict per recipient, in the caller's order.
    assert_recipient(
        d,
        0,
        RecipientStatus::Delivered,
        CommandKind::Bdat,
        250,
        "2.0.0",
    );
    assert_recipient(
        d,
        1,
        RecipientStatus::Permanent,
        CommandKind::Rcpt,
        550,
        "5.1.1",
    );
    assert_recipient(
        d,
        2,
        RecipientStatus::Transient,
        CommandKind::Rcpt,
        450,
        "4.2.0",
    );
    let addrs: Vec<&str> = d
        .recipients()
        .iter()
        .map(|r| r.address().as_str())
        .collect();
    assert_eq!(addrs, [ok.as_str(), &env.reject_rcpt, &env.defer_rcpt]);
    assert!(d.error().is_none(), "{d:#?}");
    let data = d.data().expect("a reply to the content");
    let qid = queued_as(data);

    // Stored exactly once, byte for byte, over TLS.
    let (added, stored) = postfix_stored(env, &t).await;
    assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
    assert!(added.contains(&format!("Delivered-To: {ok}\n")), "{added}");
    assert!(added.contains("with ESMTPS id "), "{added}");
    assert!(added.contains(&qid), "{added}");

    let port = w.postfix_session_port();
    assert_eq!(postfix_queued_client(env, &qid).await.0, port);
    // One session: EHLO, STARTTLS, EHLO, MAIL, three RCPTs (two refused), one BDAT.
    assert_eq!(
        postfix_disconnect_stats(env, &env.host, port).await,
        "ehlo=2 starttls=1 mail=1 rcpt=1/3 bdat=1 quit=1 commands=7/9"
    );
    // DNS: the MX records, then both hosts' addresses.
    assert!(w.dns.asked(&env.domain, RecordType::MX));
    assert!(w.dns.asked(DEAD, RecordType::A) && w.dns.asked(MX, RecordType::A));
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn verify_and_secure_trusting_the_ca_deliver_verified() {
    let w = World::start(MX).await;
    let env = &w.env;

    // Refusal first: `verify` with the platform roots only. The walk ends with no host
    // deciding; nothing went past STARTTLS.
    let refused = token("mx-verify-refused");
    let ok = env.ok_rcpt("mx-verify");
    let envelope = Envelope::new(SENDER, [&ok]).unwrap();
    let report = w
        .delivery(DeliveryPolicy::from_level(Level::Verify))
        .deliver(&envelope, &message(&refused, &ok, b"never sent\r\n"))
        .await
        .unwrap();
    let d = only_domain(&report);
    assert_eq!(d.host(), None, "{d:#?}");
    assert_eq!(d.attempts().len(), 2, "{d:#?}");
    assert_dead_attempt(&w, d);
    let at_mx = &d.attempts()[1];
    assert_eq!(
        (at_mx.host(), at_mx.address()),
        (MX, Some(w.postfix_addr()))
    );
    assert!(
        matches!(
            at_mx.error().smtp(),
            Some(Error::Tls(TlsError::Verification(_)))
        ),
        "{:?}",
        at_mx.error()
    );
    assert!(!d.is_permanent());
    assert_eq!(d.recipients()[0].status(), RecipientStatus::Transient);
    // The handshake failed on the client's side: nothing after STARTTLS, not even QUIT.
    assert_eq!(
        postfix_disconnect_stats(env, &env.host, w.postfix_session_port()).await,
        "ehlo=1 starttls=0/1 commands=1/2"
    );

    // Twins: the same, trusting the test CA; `secure` is `verify` for MX delivery.
    for level in [Level::Verify, Level::Secure] {
        let t = token(&format!("mx-{level:?}").to_ascii_lowercase());
        let msg = message(&t, &ok, &eight_bit(&t));
        let report = w
            .delivery(trusting_ca(env, level))
            .deliver(&envelope, &msg)
            .await
            .unwrap();
        let d = only_domain(&report);
        assert!(d.all_delivered(), "{level:?}: {d:#?}");
        assert_eq!(d.host(), Some(MX));
        assert_eq!(d.attempts().len(), 1, "{d:#?}");
        let c = d.connection().unwrap();
        assert_eq!(
            c.security(),
            SecurityLevel::TlsVerified,
            "{level:?}: {c:#?}"
        );
        assert!(c.tls().unwrap().verified);
        assert_eq!(c.verify_error(), None);
        let (added, stored) = postfix_stored(env, &t).await;
        assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
        assert!(added.contains("with ESMTPS id "), "{added}");
    }
    assert_eq!(postfix_count_now(env, &refused), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn each_host_is_verified_under_its_own_mx_name() {
    // The same Postfix named `wrong.test.example` in DNS: its certificate (for
    // mx.test.example) does not match the MX name, trusted CA or not.
    const WRONG: &str = "wrong.test.example";
    let w = World::start(WRONG).await;
    let env = &w.env;
    let ok = env.ok_rcpt("mx-wrong-name");
    let envelope = Envelope::new(SENDER, [&ok]).unwrap();

    let refused = token("mx-wrong-name-refused");
    let report = w
        .delivery(trusting_ca(env, Level::Verify))
        .deliver(&envelope, &message(&refused, &ok, b"never sent\r\n"))
        .await
        .unwrap();
    let d = only_domain(&report);
    assert_eq!(d.host(), None, "{d:#?}");
    let at = &d.attempts()[1];
    assert_eq!(at.host(), WRONG);
    let e = at.error();
    assert!(
        matches!(e.smtp(), Some(Error::Tls(TlsError::Verification(_)))),
        "{e:?}"
    );
    assert!(e.is_transient());

    // Twin: `may` with the same roots delivers, and reports why it is unverified.
    let t = token("mx-wrong-name-may");
    let msg = message(&t, &ok, b"unverified but encrypted\r\n");
    let report = w
        .delivery(trusting_ca(env, Level::May))
        .deliver(&envelope, &msg)
        .await
        .unwrap();
    let d = only_domain(&report);
    assert!(d.all_delivered(), "{d:#?}");
    assert_eq!(d.host(), Some(WRONG));
    let c = d.connection().unwrap();
    assert_eq!(c.security(), SecurityLevel::TlsUnverified);
    let why = c.verify_error().expect("why it did not verify");
    eprintln!("may under the name {WRONG}: {why}");
    let (_, stored) = postfix_stored(env, &t).await;
    assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
    assert_eq!(postfix_count_now(env, &refused), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn every_recipient_transient_moves_on_and_no_host_decides() {
    // defer@ alone: Postfix's 450 leaves every recipient transient, so Postfix is an
    // attempt too and no host decided.
    let w = World::start(MX).await;
    let env = &w.env;
    let t = token("mx-all-transient");
    let envelope = Envelope::new(SENDER, [&env.defer_rcpt]).unwrap();
    let report = w
        .delivery(DeliveryPolicy::default())
        .deliver(&envelope, &message(&t, &env.defer_rcpt, b"deferred\r\n"))
        .await
        .unwrap();
    let d = only_domain(&report);
    assert_eq!(d.host(), None, "{d:#?}");
    assert_eq!(d.attempts().len(), 2, "{d:#?}");
    assert_dead_attempt(&w, d);
    let at_mx = &d.attempts()[1];
    assert_eq!(
        (at_mx.host(), at_mx.address()),
        (MX, Some(w.postfix_addr()))
    );
    assert_eq!(at_mx.error().code().map(|c| c.as_u16()), Some(450));
    assert!(at_mx.error().is_transient());
    assert!(!d.is_permanent());
    assert_recipient(
        d,
        0,
        RecipientStatus::Transient,
        CommandKind::Rcpt,
        450,
        "4.2.0",
    );
    w.assert_dialled_dead_then_postfix();
    // MAIL, the 450 to RCPT, and no content: QUIT.
    assert_eq!(
        postfix_disconnect_stats(env, &env.host, w.postfix_session_port()).await,
        "ehlo=2 starttls=1 mail=1 rcpt=0/1 quit=1 commands=5/6"
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn null_mx_and_nxdomain_contact_nothing() {
    // Three domains in one envelope: the two that DNS rules out are permanent without a
    // connection or an address lookup; test.example is delivered as usual.
    let w = World::start(MX).await;
    let env = &w.env;
    let t = token("mx-null");
    let ok = env.ok_rcpt("mx-null-ok");
    let null = format!("someone@{NULL_MX}");
    let nx = format!("someone@{NXDOMAIN}");
    let msg = message(&t, &ok, b"three domains\r\n");
    let envelope = Envelope::new(SENDER, [&null, &ok, &nx]).unwrap();
    let report = w
        .delivery(DeliveryPolicy::default())
        .deliver(&envelope, &msg)
        .await
        .unwrap();
    let domains: Vec<String> = report
        .domains()
        .iter()
        .map(|d| d.domain().to_string())
        .collect();
    assert_eq!(domains, [NULL_MX, env.domain.as_str(), NXDOMAIN]);
    let [null_d, ok_d, nx_d] = report.domains() else {
        unreachable!()
    };
    for (d, kind) in [
        (null_d, DnsErrorKind::NullMx),
        (nx_d, DnsErrorKind::NxDomain),
    ] {
        assert_eq!(d.host(), None, "{d:#?}");
        assert!(d.attempts().is_empty(), "{d:#?}");
        assert!(d.is_permanent());
        match d.error() {
            Some(DeliveryError::Dns(e)) => assert_eq!(e.kind, kind, "{e:?}"),
            other => panic!("expected {kind:?}: {other:?}"),
        }
        let r = &d.recipients()[0];
        assert_eq!(r.status(), RecipientStatus::Permanent, "{r:#?}");
        assert!(r.reply().is_none() && r.command().is_none(), "{r:#?}");
        let name = d.domain().to_string();
        assert!(w.dns.asked(&name, RecordType::MX));
        assert!(!w.dns.asked(&name, RecordType::A) && !w.dns.asked(&name, RecordType::AAAA));
    }
    assert!(ok_d.all_delivered(), "{ok_d:#?}");
    // The only connections were test.example's.
    w.assert_dialled_dead_then_postfix();
    let (_, stored) = postfix_stored(env, &t).await;
    assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn every_address_of_a_host_before_the_next_and_ipv6_first() {
    // One MX host with two A records, the dead one first: the host's next address
    // carries the message (the attempt names the same host). With an AAAA as well,
    // IPv6 is tried first (RFC 8305 §4) and Postfix on ::1 takes the message.
    let w = World::with_zone(|env| {
        let z = Zone::new()
            .mx(&env.domain, &[(10, MX)])
            .a(MX, &[DEAD_IP, &env.host]);
        if env.host6.is_empty() {
            z
        } else {
            z.aaaa(MX, &[&env.host6])
        }
    })
    .await;
    let env = &w.env;
    let t = token("mx-addresses");
    let ok = env.ok_rcpt("mx-addresses");
    let msg = message(&t, &ok, b"addresses in order\r\n");
    let report = w
        .delivery(DeliveryPolicy::default())
        .deliver(&Envelope::new(SENDER, [&ok]).unwrap(), &msg)
        .await
        .unwrap();
    let d = only_domain(&report);
    assert!(d.all_delivered(), "{d:#?}");
    assert_eq!(d.host(), Some(MX));
    let (_, stored) = postfix_stored(env, &t).await;
    assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
    let targets: Vec<String> = w.conns.opened().into_iter().map(|o| o.target).collect();
    if env.host6.is_empty() {
        eprintln!("no IPv6 loopback: the AAAA half is not checked");
        assert_eq!(d.attempts().len(), 1, "{d:#?}");
        assert_eq!(d.attempts()[0].host(), MX);
        assert_eq!(d.attempts()[0].address(), Some(w.dead_addr()));
        assert_eq!(d.address(), Some(w.postfix_addr()));
        assert_eq!(
            targets,
            [w.dead_addr().to_string(), w.postfix_addr().to_string()]
        );
    } else {
        let v6 = SocketAddr::new(env.host6.parse().unwrap(), env.postfix_port);
        assert!(d.attempts().is_empty(), "{d:#?}");
        assert_eq!(d.address(), Some(v6));
        assert_eq!(targets, [format!("[{}]:{}", env.host6, env.postfix_port)]);
        let port = w.conns.opened()[0].local_port.unwrap();
        let stats = postfix_disconnect_stats(env, &env.host6, port).await;
        assert!(stats.contains(" mail=1 "), "{stats}");
        // Without the AAAA: the dead A first, then Postfix's.
        let w4 = World::with_zone(|env| {
            Zone::new()
                .mx(&env.domain, &[(10, MX)])
                .a(MX, &[DEAD_IP, &env.host])
        })
        .await;
        let t = token("mx-addresses-v4");
        let msg = message(&t, &ok, b"addresses in order\r\n");
        let report = w4
            .delivery(DeliveryPolicy::default())
            .deliver(&Envelope::new(SENDER, [&ok]).unwrap(), &msg)
            .await
            .unwrap();
        let d = only_domain(&report);
        assert!(d.all_delivered(), "{d:#?}");
        assert_eq!(d.attempts().len(), 1, "{d:#?}");
        assert_eq!(d.attempts()[0].host(), MX);
        assert_eq!(d.attempts()[0].address(), Some(w4.dead_addr()));
        assert_eq!(d.address(), Some(w4.postfix_addr()));
        w4.assert_dialled_dead_then_postfix();
        postfix_one(env, &t).await;
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn implicit_mx_is_the_domain_itself() {
    // No MX records, an A record: the domain is its own host (RFC 5321 §5.1), verified
    // (for the report, trusting the test CA) under the domain's name, which the
    // certificate (mx.test.example) lacks.
    let w = World::with_zone(|env| Zone::new().a(&env.domain, &[&env.host])).await;
    let env = &w.env;
    let t = token("mx-implicit");
    let ok = env.ok_rcpt("mx-implicit");
    let msg = message(&t, &ok, b"implicit MX\r\n");
    let report = w
        .delivery(trusting_ca(env, Level::May))
        .deliver(&Envelope::new(SENDER, [&ok]).unwrap(), &msg)
        .await
        .unwrap();
    let d = only_domain(&report);
    assert!(d.all_delivered(), "{d:#?}");
    assert_eq!(d.host(), Some(env.domain.as_str()));
    assert_eq!(d.address(), Some(w.postfix_addr()));
    assert!(d.attempts().is_empty(), "{d:#?}");
    let c = d.connection().unwrap();
    assert_eq!(c.security(), SecurityLevel::TlsUnverified);
    eprintln!("implicit MX: {:?}", c.verify_error());
    assert!(w.dns.asked(&env.domain, RecordType::MX));
    assert!(w.dns.asked(&env.domain, RecordType::A));
    let (_, stored) = postfix_stored(env, &t).await;
    assert_bytes_eq(&stored, &as_stored(&msg), "Postfix maildir copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn send_example_in_mx_mode() {
    // `send` without --server: the loopback DNS server as --resolver, Postfix's port as
    // --mx-port (examples/SEND.md "MX delivery").
    let w = World::start(MX).await;
    let env = w.env.clone();
    let t = token("send-mx");
    let ok = env.ok_rcpt("send-mx");
    let data = crate::send_example::data_file(&env, &t, &ok);
    let null = format!("someone@{NULL_MX}");
    let args: Vec<String> = [
        "--resolver",
        &w.dns.addr.to_string(),
        "--mx-port",
        &env.postfix_port.to_string(),
        "--timeout",
        "10",
        "--helo",
        "client.test.example",
        "--json",
        "--from",
        SENDER,
        "--to",
        &ok,
        "--to",
        &env.reject_rcpt,
        "--to",
        &null,
        "--data",
        data.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The DNS server runs on this runtime's workers while `send` runs.
    let (code, json, stderr) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::send_example::run_send(&args)
    })
    .await
    .unwrap();
    assert_eq!(code, 69, "a permanent failure: {json:#}\n{stderr}");
    for top in ["server", "greeting", "tls", "auth", "error"] {
        assert!(json[top].is_null(), "{top}: {json:#}");
    }
    let txs = json["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), 2, "{json:#}");

    let tx = &txs[0];
    assert_eq!(tx["domain"], env.domain.as_str());
    assert_eq!(tx["host"], MX);
    assert_eq!(tx["address"], w.postfix_addr().to_string());
    let attempts = tx["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{tx:#}");
    assert_eq!(attempts[0]["host"], DEAD);
    assert_eq!(attempts[0]["address"], w.dead_addr().to_string());
    assert_eq!(attempts[0]["error"]["kind"], "io", "{tx:#}");
    assert_eq!(attempts[0]["error"]["permanent"], false, "{tx:#}");
    assert_eq!(tx["tls"]["version"], "TLSv1.3", "{tx:#}");
    assert_eq!(
        tx["tls"]["verified"], false,
        "--level may by default: {tx:#}"
    );
    assert!(tx["tls"]["verify_error"].is_string(), "{tx:#}");
    assert_eq!(tx["greeting"]["message"], "mx.test.example ESMTP Postfix");
    let rs = tx["recipients"].as_array().unwrap();
    assert_eq!(rs[0]["address"], ok.as_str());
    assert_eq!(rs[0]["status"], "delivered", "{tx:#}");
    assert_eq!(rs[0]["command"], "BDAT");
    assert_eq!(rs[1]["address"], env.reject_rcpt.as_str());
    assert_eq!(rs[1]["status"], "permanent");
    assert_eq!(rs[1]["command"], "RCPT");
    assert_eq!(rs[1]["code"], 550);
    assert_eq!(rs[1]["enhanced_code"], "5.1.1");
    assert!(tx["error"].is_null(), "{tx:#}");

    let tx = &txs[1];
    assert_eq!(tx["domain"], NULL_MX);
    assert!(tx["host"].is_null() && tx["address"].is_null(), "{tx:#}");
    assert_eq!(tx["attempts"], serde_json::json!([]));
    assert_eq!(tx["error"]["kind"], "dns", "{tx:#}");
    assert_eq!(tx["error"]["permanent"], true);
    assert_eq!(tx["error"]["message"], "nullmx.example: null MX (RFC 7505)");
    assert_eq!(tx["recipients"][0]["status"], "permanent");
    assert!(!w.dns.asked(NULL_MX, RecordType::A));

    // LF line endings in the file, LF in the maildir: stored exactly as in the file.
    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &std::fs::read(&data).unwrap(),
        "Postfix maildir copy",
    );
    let _ = std::fs::remove_file(&data);
}
