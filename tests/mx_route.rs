//! Routing rules over the in-memory `MockResolver`: shuffling, the address filter, and the
//! corners the loopback DNS tests (tests/mx_dns.rs) do not reach.

#![cfg(feature = "mx")]

use std::net::IpAddr;
use std::sync::Arc;

use smtp_courier::delivery::{
    DnsErrorKind, LookupError, MockResolver, QueryType, RouteDomain, RouteKind, Router, XorShift64,
    is_public_unicast,
};

fn domain(s: &str) -> RouteDomain {
    RouteDomain::parse(s).unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn equal_prefs() -> MockResolver {
    let mut dns = MockResolver::new().mx(
        "eq.test",
        &[
            (10, "a.eq.test"),
            (10, "b.eq.test"),
            (10, "c.eq.test"),
            (10, "d.eq.test"),
        ],
    );
    for h in ["a", "b", "c", "d"] {
        dns = dns.a(&format!("{h}.eq.test"), &["192.0.2.1"]);
    }
    dns
}

async fn orders(router: &Router<MockResolver>, n: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = router.route(&domain("eq.test")).await.unwrap();
        out.push(r.hosts.into_iter().map(|h| h.name).collect());
    }
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_orders_and_each_route_draws_afresh() {
    let one = orders(&Router::new(equal_prefs()).rng(XorShift64::new(7)), 20).await;
    let two = orders(&Router::new(equal_prefs()).rng(XorShift64::new(7)), 20).await;
    assert_eq!(one, two);
    // Drawn afresh: 20 routes of 4 equal hosts are not all in one order.
    assert!(one.iter().any(|o| o != &one[0]), "{one:?}");
    let other = orders(&Router::new(equal_prefs()).rng(XorShift64::new(8)), 20).await;
    assert_ne!(one, other);
    // The default generator shuffles too.
    let default = orders(&Router::new(equal_prefs()), 20).await;
    assert!(default.iter().any(|o| o != &default[0]), "{default:?}");
}

#[tokio::test]
async fn a_host_listed_twice_keeps_its_best_preference() {
    let dns = MockResolver::new()
        .mx(
            "dup.test",
            &[(30, "x.dup.test"), (10, "x.dup.test"), (20, "y.dup.test")],
        )
        .a("x.dup.test", &["192.0.2.1"])
        .a("y.dup.test", &["192.0.2.2"]);
    let r = Router::new(dns).route(&domain("dup.test")).await.unwrap();
    let got: Vec<(&str, Option<u16>)> = r
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.preference))
        .collect();
    assert_eq!(got, [("x.dup.test", Some(10)), ("y.dup.test", Some(20))]);
}

#[tokio::test]
async fn only_root_exchanges_is_a_null_mx_at_any_preference() {
    let dns = Arc::new(
        MockResolver::new()
            .mx("null0.test", &[(0, ".")])
            .mx("null10.test", &[(10, ".")])
            .mx("nulls.test", &[(0, "."), (5, ".")])
            .mx("ok.test", &[(0, "mx.ok.test")])
            .a("mx.ok.test", &["192.0.2.3"]),
    );
    let router = Router::new(dns.clone());
    for d in ["null0.test", "null10.test", "nulls.test"] {
        let err = router.route(&domain(d)).await.unwrap_err();
        assert_eq!(err.kind, DnsErrorKind::NullMx, "{d}");
        assert!(err.is_permanent());
    }
    // Nothing but MX lookups so far: no host was looked up.
    assert!(dns.queries().iter().all(|(t, _)| *t == QueryType::Mx));
    // Positive twin: preference 0 with a real exchange is an ordinary MX.
    let r = router.route(&domain("ok.test")).await.unwrap();
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["192.0.2.3"])));
}

#[tokio::test]
async fn one_family_failing_does_not_hide_the_other() {
    let dns = MockResolver::new()
        .mx(
            "fam.test",
            &[
                (10, "v6only.fam.test"),
                (20, "broken.fam.test"),
                (30, "both.fam.test"),
            ],
        )
        .a_error("v6only.fam.test", LookupError::Timeout)
        .aaaa("v6only.fam.test", &["2001:db8::6"])
        .a("broken.fam.test", &[])
        .aaaa_error("broken.fam.test", LookupError::Refused)
        .a("both.fam.test", &["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        .aaaa("both.fam.test", &["2001:db8::1", "2001:db8::2"]);
    let r = Router::new(dns).route(&domain("fam.test")).await.unwrap();
    assert_eq!(r.hosts[0].addresses, Ok(ips(&["2001:db8::6"])));
    let err = r.hosts[1].addresses.clone().unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::Refused));
    assert!(err.is_transient());
    assert_eq!(
        r.hosts[2].addresses,
        Ok(ips(&[
            "2001:db8::1",
            "192.0.2.1",
            "2001:db8::2",
            "192.0.2.2",
            "192.0.2.3"
        ]))
    );
}

#[tokio::test]
async fn implicit_mx_lookup_failures_are_transient_for_the_domain() {
    let dns = MockResolver::new()
        .mx("imp.test", &[])
        .ip_error("imp.test", LookupError::ServFail)
        .mx_error("slow.test", LookupError::Timeout);
    let router = Router::new(dns);
    let err = router.route(&domain("imp.test")).await.unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::Lookup(LookupError::ServFail));
    assert!(err.is_transient());
    let err = router.route(&domain("slow.test")).await.unwrap_err();
    assert!(err.is_timeout() && err.is_transient());
}

#[tokio::test]
async fn the_address_filter_refuses_local_addresses_when_asked() {
    let dns = || {
        MockResolver::new()
            .mx("f.test", &[(10, "local.f.test"), (20, "mixed.f.test")])
            .a("local.f.test", &["127.0.0.1", "10.1.2.3"])
            .aaaa("local.f.test", &["::1"])
            .a("mixed.f.test", &["192.168.1.1", "9.9.9.9"])
    };
    // Off by default: loopback is kept (tests and `send` depend on it).
    let r = Router::new(dns()).route(&domain("f.test")).await.unwrap();
    assert_eq!(
        r.hosts[0].addresses,
        Ok(ips(&["::1", "127.0.0.1", "10.1.2.3"]))
    );
    let r = Router::new(dns())
        .address_filter(is_public_unicast)
        .route(&domain("f.test"))
        .await
        .unwrap();
    let err = r.hosts[0].addresses.clone().unwrap_err();
    assert_eq!(err.kind, DnsErrorKind::AddressesRefused);
    assert!(err.is_permanent());
    assert_eq!(r.hosts[1].addresses, Ok(ips(&["9.9.9.9"])));
    // Literals go through the filter too.
    let r = Router::new(MockResolver::new())
        .address_filter(is_public_unicast)
        .route(&domain("[127.0.0.1]"))
        .await
        .unwrap();
    assert_eq!(r.kind, RouteKind::Literal);
    assert!(r.hosts[0].addresses.is_err());
}

#[test]
fn is_public_unicast_refuses_local_ranges() {
    for local in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
    ] {
        assert!(!is_public_unicast(local.parse().unwrap()), "{local}");
    }
    for public in [
        "8.8.8.8",
        "100.128.0.1",
        "172.32.0.1",
        "2a00:1450::1",
        "::ffff:8.8.8.8",
    ] {
        assert!(is_public_unicast(public.parse().unwrap()), "{public}");
    }
}

#[test]
fn routing_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let router = Router::new(MockResolver::new());
    let d = domain("x.test");
    let fut = router.route(&d);
    send(&fut);
    drop(fut);
}
