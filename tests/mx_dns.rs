//! MX routing end to end: `HickoryResolver` against a scripted DNS server on loopback
//! (tests/dns_support). Never the real internet.

#![cfg(feature = "mx")]

mod dns_support;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dns_support::{Behaviour, DnsServer, Zone};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::proto::rr::rdata::MX;
use hickory_resolver::proto::rr::{Name, RData};
use smtp_courier::delivery::{
    DnsError, DnsErrorKind, HickoryResolver, LookupError, Route, RouteDomain, RouteKind, Router,
    XorShift64,
};

const DEADLINE: Duration = Duration::from_millis(400);

async fn router(zone: Zone) -> (Router<HickoryResolver>, DnsServer) {
    let server = DnsServer::start(zone).await;
    let resolver = HickoryResolver::with_nameserver(server.addr, DEADLINE).unwrap();
    (Router::new(resolver), server)
}

async fn route(router: &Router<HickoryResolver>, domain: &str) -> Result<Route, DnsError> {
    router.route(&RouteDomain::parse(domain).unwrap()).await
}

fn names(route: &Route) -> Vec<&str> {
    route.hosts.iter().map(|h| h.name.as_str()).collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn pref_zone() -> Zone {
    Zone::new()
        .mx(
            "pref.test",
            &[
                (30, "mx3.pref.test"),
                (20, "mx2a.pref.test"),
                (10, "mx1.pref.test"),
                (20, "mx2b.pref.test"),
                (20, "mx2c.pref.test"),
            ],
        )
        .a("mx1.pref.test", &["127.0.0.1"])
        .a("mx2a.pref.test", &["127.0.0.2"])
        .a("mx2b.pref.test", &["127.0.0.3"])
        .a("mx2c.pref.test", &["127.0.0.4"])
        .a("mx3.pref.test", &["127.0.0.5"])
}

#[tokio::test]
async fn mx_hosts_in_preference_order_equal_preferences_shuffled() {
    let (router, _server) = router(pref_zone()).await;
    // Seeded so the bound below cannot flake; the order is still drawn afresh per route.
    let router = router.rng(XorShift64::new(0x00C0_FFEE));
    let mut first: HashMap<String, u32> = HashMap::new();
    for _ in 0..200 {
        let r = route(&router, "pref.test").await.unwrap();
        assert_eq!(r.kind, RouteKind::Mx);
        let n = names(&r);
        assert_eq!(n.len(), 5);
        assert_eq!(n[0], "mx1.pref.test");
        assert_eq!(n[4], "mx3.pref.test");
        let mut middle = n[1..4].to_vec();
        middle.sort_unstable();
        assert_eq!(
            middle,
            ["mx2a.pref.test", "mx2b.pref.test", "mx2c.pref.test"]
        );
        assert_eq!(r.hosts[0].preference, Some(10));
        assert_eq!(r.hosts[0].addresses, Ok(ips(&["127.0.0.1"])));
        *first.entry(n[1].to_owned()).or_default() += 1;
    }
    // Each of the three comes first among the 20s at least 20% of the time (expected 33%).
    assert_eq!(first.len(), 3, "{first:?}");
    for (host, count) in &first {
        assert!(*count >= 40, "{host} first {count} times of 200: {first:?}");
    }
}

#[tokio::test]
async fn null_mx_is_permanent_and_nothing_is_looked_up() {
    let zone = Zone::new()
        .mx("nullmx.test", &[(0, ".")])
        .a("nullmx.test", &["127.0.0.1"]);
    let (router, server) = router(zone).await;
    let err = route(&router, "nullmx.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::NullMx);
    assert!(err.is_permanent());
    assert_eq!(err.to_string(), "nullmx.test: null MX (RFC 7505)");
    assert!(server.asked("nullmx.test", RecordType::MX));
    assert!(!server.asked("nullmx.test", RecordType::A));
    assert!(!server.asked("nullmx.test", RecordType::AAAA));
}

#[tokio::test]
async fn null_mx_mixed_with_real_hosts_uses_the_real_hosts() {
    let zone = Zone::new()
        .mx("mixed.test", &[(0, "."), (10, "mx.mixed.test")])
        .a("mx.mixed.test", &["127.0.0.7"]);
    let (router, _server) = router(zone).await;
    let r = route(&router, "mixed.test").await.unwrap();
    assert_eq!(names(&r), ["mx.mixed.test"]);
}

#[tokio::test]
async fn no_mx_with_an_address_is_an_implicit_mx() {
    let zone = Zone::new()
        .a("implicit.test", &["127.0.0.9"])
        .aaaa("implicit.test", &["::1"]);
    let (router, _server) = router(zone).await;
    let r = route(&router, "implicit.test").await.unwrap();
    assert_eq!(r.kind, RouteKind::ImplicitMx);
    assert_eq!(names(&r), ["implicit.test"]);
    assert_eq!(r.hosts[0].preference, None);
    // Interleaved, IPv6 first.
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["::1", "127.0.0.9"])));
}

#[tokio::test]
async fn no_mx_and_no_address_is_permanent() {
    // The name exists (it has a TXT-like entry of another type), so MX and A are NODATA.
    let zone = Zone::new().set("bare.test", RecordType::TXT, Behaviour::Records(vec![]));
    let (router, server) = router(zone).await;
    let err = route(&router, "bare.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::NoMailHost);
    assert!(err.is_permanent());
    assert!(server.asked("bare.test", RecordType::A));
}

#[tokio::test]
async fn nxdomain_is_permanent() {
    let (router, server) = router(pref_zone()).await;
    let err = route(&router, "nowhere.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::NxDomain);
    assert!(err.is_permanent());
    assert!(!server.asked("nowhere.test", RecordType::A));
    // Positive twin: the same server routes a domain it has.
    assert!(route(&router, "pref.test").await.is_ok());
}

#[tokio::test]
async fn servfail_and_refused_are_transient() {
    let zone = pref_zone()
        .set(
            "fail.test",
            RecordType::MX,
            Behaviour::Rcode(ResponseCode::ServFail),
        )
        .set(
            "refused.test",
            RecordType::MX,
            Behaviour::Rcode(ResponseCode::Refused),
        )
        .set(
            "notimp.test",
            RecordType::MX,
            Behaviour::Rcode(ResponseCode::NotImp),
        );
    let (router, _server) = router(zone).await;
    let err = route(&router, "fail.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::ServFail));
    assert!(err.is_transient());
    let err = route(&router, "refused.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::Refused));
    assert!(err.is_transient());
    let err = route(&router, "notimp.test").await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::Rcode(4)));
    assert!(err.is_transient());
    assert!(route(&router, "pref.test").await.is_ok());
}

#[tokio::test]
async fn a_silent_server_is_a_transient_timeout_within_the_deadline() {
    let zone = pref_zone().set("silent.test", RecordType::MX, Behaviour::Silent);
    let (router, _server) = router(zone).await;
    let start = Instant::now();
    let err = route(&router, "silent.test").await.unwrap_err();
    let took = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_transient());
    assert!(took >= DEADLINE / 2, "gave up too early: {took:?}");
    assert!(took < DEADLINE * 3, "not bounded by the deadline: {took:?}");
    assert!(route(&router, "pref.test").await.is_ok());
}

#[tokio::test]
async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let rdata = vec![RData::MX(MX::new(
        10,
        Name::from_ascii("mx.big.test.").unwrap(),
    ))];
    let zone = Zone::new()
        .set("big.test", RecordType::MX, Behaviour::TruncatedUdp(rdata))
        .a("mx.big.test", &["127.0.0.8"]);
    let (router, server) = router(zone).await;
    let r = route(&router, "big.test").await.unwrap();
    assert_eq!(names(&r), ["mx.big.test"]);
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["127.0.0.8"])));
    let mx: Vec<bool> = server
        .seen()
        .iter()
        .filter(|s| s.name == "big.test" && s.rtype == RecordType::MX)
        .map(|s| s.tcp)
        .collect();
    assert_eq!(mx, [false, true], "UDP first, then TCP");
}

#[tokio::test]
async fn cname_chains_are_followed_for_mx_targets_and_domains() {
    let zone = Zone::new()
        .mx(
            "cname.test",
            &[(10, "alias.cname.test"), (20, "hop.cname.test")],
        )
        // Chased by the server: CNAME, CNAME and A in one answer.
        .cname("alias.cname.test", "alias2.cname.test", true)
        .cname("alias2.cname.test", "real.cname.test", true)
        .a("real.cname.test", &["127.0.0.10"])
        // Not chased: the resolver must ask for the target itself.
        .cname("hop.cname.test", "far.cname.test", false)
        .a("far.cname.test", &["127.0.0.11"])
        // The domain itself an alias of a domain with MX records.
        .cname("alias-domain.test", "cname.test", false);
    let (router, _server) = router(zone).await;
    let r = route(&router, "cname.test").await.unwrap();
    assert_eq!(names(&r), ["alias.cname.test", "hop.cname.test"]);
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["127.0.0.10"])));
    assert_eq!(r.hosts[1].addresses, Ok(ips(&["127.0.0.11"])));
    let r = route(&router, "alias-domain.test").await.unwrap();
    assert_eq!(names(&r), ["alias.cname.test", "hop.cname.test"]);
}

#[tokio::test]
async fn at_most_five_hosts_by_default_and_configurable() {
    let hosts: Vec<String> = (1..=7).map(|i| format!("mx{i}.many.test")).collect();
    let records: Vec<(u16, &str)> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| ((i as u16 + 1) * 10, h.as_str()))
        .collect();
    let mut zone = Zone::new().mx("many.test", &records);
    for h in &hosts {
        zone = zone.a(h, &["127.0.0.1"]);
    }
    let server = DnsServer::start(zone).await;
    let resolver = HickoryResolver::with_nameserver(server.addr, DEADLINE).unwrap();
    let router = Router::new(resolver.clone());
    let r = route(&router, "many.test").await.unwrap();
    assert_eq!(
        names(&r),
        hosts[..5].iter().map(String::as_str).collect::<Vec<_>>()
    );
    // The sixth and seventh are not even looked up.
    assert!(!server.asked("mx6.many.test", RecordType::A));
    let router = Router::new(resolver).max_hosts(7);
    assert_eq!(route(&router, "many.test").await.unwrap().hosts.len(), 7);
}

#[tokio::test]
async fn mx_hosts_without_addresses_never_fall_back_to_the_domain() {
    let zone = Zone::new()
        .mx(
            "noaddr.test",
            &[(10, "gone.noaddr.test"), (20, "empty.noaddr.test")],
        )
        .mx(
            "half.test",
            &[(10, "empty.noaddr.test"), (20, "ok.half.test")],
        )
        .set(
            "empty.noaddr.test",
            RecordType::TXT,
            Behaviour::Records(vec![]),
        )
        .a("noaddr.test", &["127.0.0.99"])
        .a("ok.half.test", &["127.0.0.12"]);
    let (router, server) = router(zone).await;
    let r = route(&router, "noaddr.test").await.unwrap();
    assert_eq!(names(&r), ["gone.noaddr.test", "empty.noaddr.test"]);
    let gone = r.hosts[0].addresses.clone().unwrap_err();
    assert_eq!(gone.kind, DnsErrorKind::NxDomain);
    assert_eq!(gone.name, "gone.noaddr.test");
    let empty = r.hosts[1].addresses.clone().unwrap_err();
    assert_eq!(empty.kind, DnsErrorKind::NoAddresses);
    assert!(gone.is_permanent() && empty.is_permanent());
    // RFC 5321 §5.1: the domain's own A record is never used, nor asked for.
    assert!(!server.asked("noaddr.test", RecordType::A));
    // Positive twin: a host without addresses beside one with.
    let r = route(&router, "half.test").await.unwrap();
    assert!(r.hosts[0].addresses.is_err());
    assert_eq!(r.hosts[1].addresses, Ok(ips(&["127.0.0.12"])));
}

#[tokio::test]
async fn a_host_whose_address_lookup_fails_is_transient() {
    let zone = Zone::new()
        .mx("flaky.test", &[(10, "mx.flaky.test")])
        .set(
            "mx.flaky.test",
            RecordType::A,
            Behaviour::Rcode(ResponseCode::ServFail),
        )
        .set(
            "mx.flaky.test",
            RecordType::AAAA,
            Behaviour::Rcode(ResponseCode::ServFail),
        );
    let (router, _server) = router(zone).await;
    let r = route(&router, "flaky.test").await.unwrap();
    let err = r.hosts[0].addresses.clone().unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::ServFail));
    assert!(err.is_transient());
}

#[tokio::test]
async fn idna_domains_are_asked_in_a_labels() {
    let zone = Zone::new()
        .mx("xn--bcher-kva.test", &[(10, "mx.xn--bcher-kva.test")])
        .a("mx.xn--bcher-kva.test", &["127.0.0.13"]);
    let (router, server) = router(zone).await;
    let r = route(&router, "Bücher.test").await.unwrap();
    assert_eq!(r.domain, RouteDomain::Name("xn--bcher-kva.test".into()));
    assert_eq!(names(&r), ["mx.xn--bcher-kva.test"]);
    assert!(server.asked("xn--bcher-kva.test", RecordType::MX));
}

#[tokio::test]
async fn an_address_literal_needs_no_dns() {
    let (router, server) = router(Zone::new()).await;
    let r = route(&router, "[127.0.0.1]").await.unwrap();
    assert_eq!(r.kind, RouteKind::Literal);
    assert_eq!(names(&r), ["[127.0.0.1]"]);
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["127.0.0.1"])));
    assert!(server.seen().is_empty());
}
