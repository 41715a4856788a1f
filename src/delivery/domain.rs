//! Recipient domains: conversion to A-labels and grouping of recipients by domain.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Where the recipients of one domain are routed: a DNS name or an address literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RouteDomain {
    /// A domain in A-labels, lower case, without a final dot: `xn--bcher-kva.test`.
    Name(String),
    /// An address literal (RFC 5321 §4.1.3), `[192.0.2.1]` or `[IPv6:2001:db8::1]`: its own
    /// route, no DNS involved.
    Literal(IpAddr),
}

/// A recipient domain that cannot be routed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {reason}")]
pub struct DomainError {
    /// The domain (or address) as given.
    pub input: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl RouteDomain {
    /// The route domain of `domain`, the part of an address after the `@`.
    ///
    /// Names are mapped with UTS #46 (non-transitional, so `ß` stays `ß`), converted to
    /// A-labels (IDNA 2008, RFC 5891 §5) and so lower-cased; STD3 rules apply (letters,
    /// digits and hyphens only) and the DNS length limits (63 per label, 253 in all) are
    /// checked. `[…]` is an address literal: `[IPv4]` or `[IPv6:addr]`.
    ///
    /// # Errors
    ///
    /// [`DomainError`] when the name has no A-label form, is empty, ends in a dot, or is a
    /// literal that is not an IPv4 or IPv6 address.
    pub fn parse(domain: &str) -> Result<Self, DomainError> {
        let err = |reason| DomainError {
            input: domain.to_owned(),
            reason,
        };
        if let Some(inner) = domain.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| err("unterminated address literal"))?;
            // RFC 5321 §4.1.3: IPv6 literals carry the "IPv6:" tag (case-insensitive);
            // IPv4 ones have none.
            let ip = match inner.get(..5) {
                Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => inner
                    .get(5..)
                    .and_then(|a| a.parse::<Ipv6Addr>().ok())
                    .map(IpAddr::V6),
                _ => inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            };
            return ip
                .map(Self::Literal)
                .ok_or_else(|| err("not an IPv4 or IPv6 address literal"));
        }
        if domain.is_empty() {
            return Err(err("empty domain"));
        }
        if domain.ends_with('.') {
            return Err(err("domain ends with a dot"));
        }
        let ascii = Uts46::new()
            .to_ascii(
                domain.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Allow,
                DnsLength::Verify,
            )
            .map_err(|_| err("no A-label form (IDNA 2008 / UTS #46)"))?;
        Ok(Self::Name(ascii.into_owned()))
    }

    /// The domain part of `address` (after the last `@`) as a route domain.
    ///
    /// # Errors
    ///
    /// [`DomainError`] when there is no `@` or the domain is refused by [`Self::parse`].
    pub fn of_address(address: &str) -> Result<Self, DomainError> {
        let (_, domain) = address.rsplit_once('@').ok_or_else(|| DomainError {
            input: address.to_owned(),
            reason: "no @ in the address",
        })?;
        Self::parse(domain)
    }
}

impl fmt::Display for RouteDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Literal(IpAddr::V4(a)) => write!(f, "[{a}]"),
            Self::Literal(IpAddr::V6(a)) => write!(f, "[IPv6:{a}]"),
        }
    }
}

/// The recipients of one domain, in the caller's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainGroup<T> {
    /// The domain.
    pub domain: RouteDomain,
    /// Its recipients, as given.
    pub recipients: Vec<T>,
}

/// Groups recipient addresses by [`RouteDomain`]: one group per domain, in the order the
/// domains first appear, each with its recipients in the order given. `a@Bücher.test` and
/// `b@xn--bcher-kva.test` are one group.
///
/// # Errors
///
/// The first recipient whose domain [`RouteDomain::of_address`] refuses.
pub fn group_by_domain<T: AsRef<str>>(
    recipients: impl IntoIterator<Item = T>,
) -> Result<Vec<DomainGroup<T>>, DomainError> {
    let mut groups: Vec<DomainGroup<T>> = Vec::new();
    for rcpt in recipients {
        let domain = RouteDomain::of_address(rcpt.as_ref())?;
        match groups.iter_mut().find(|g| g.domain == domain) {
            Some(g) => g.recipients.push(rcpt),
            None => groups.push(DomainGroup {
                domain,
                recipients: vec![rcpt],
            }),
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> RouteDomain {
        RouteDomain::Name(s.to_owned())
    }

    #[test]
    fn names_become_lower_case_a_labels() {
        assert_eq!(RouteDomain::parse("Example.ORG"), Ok(name("example.org")));
        assert_eq!(
            RouteDomain::parse("bücher.test"),
            Ok(name("xn--bcher-kva.test"))
        );
        assert_eq!(
            RouteDomain::parse("BÜCHER.test"),
            Ok(name("xn--bcher-kva.test"))
        );
        assert_eq!(
            RouteDomain::parse("xn--bcher-kva.test"),
            Ok(name("xn--bcher-kva.test"))
        );
        // Non-transitional UTS #46: ß is kept (IDNA 2008), not mapped to "ss".
        assert_eq!(RouteDomain::parse("faß.de"), Ok(name("xn--fa-hia.de")));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "a..b",
            "exa mple.org",
            "a_b.test",
            "example.org.",
            "[1.2.3]",
        ] {
            assert!(RouteDomain::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RouteDomain::parse(&format!("{}.test", "a".repeat(64))).is_err());
        // Positive twin: 63 octets is the limit, not over it.
        assert!(RouteDomain::parse(&format!("{}.test", "a".repeat(63))).is_ok());
    }

    #[test]
    fn address_literals_are_their_own_route() {
        let v4 = RouteDomain::parse("[192.0.2.1]").unwrap();
        assert_eq!(v4, RouteDomain::Literal("192.0.2.1".parse().unwrap()));
        assert_eq!(v4.to_string(), "[192.0.2.1]");
        let v6 = RouteDomain::parse("[IPv6:2001:DB8::1]").unwrap();
        assert_eq!(v6, RouteDomain::Literal("2001:db8::1".parse().unwrap()));
        assert_eq!(v6.to_string(), "[IPv6:2001:db8::1]");
        assert!(RouteDomain::parse("[2001:db8::1]").is_err());
        assert!(RouteDomain::parse("[192.0.2.1").is_err());
    }

    #[test]
    fn grouping_keeps_first_appearance_and_caller_order() {
        let rcpts = [
            "a@one.test",
            "b@Bücher.test",
            "c@ONE.test",
            "d@[192.0.2.1]",
            "e@xn--bcher-kva.test",
            "f@one.test",
        ];
        let groups = group_by_domain(rcpts).unwrap();
        let got: Vec<(String, Vec<&str>)> = groups
            .iter()
            .map(|g| (g.domain.to_string(), g.recipients.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "one.test".into(),
                    vec!["a@one.test", "c@ONE.test", "f@one.test"]
                ),
                (
                    "xn--bcher-kva.test".into(),
                    vec!["b@Bücher.test", "e@xn--bcher-kva.test"]
                ),
                ("[192.0.2.1]".into(), vec!["d@[192.0.2.1]"]),
            ]
        );
    }

    #[test]
    fn grouping_splits_at_the_last_at_and_refuses_bad_domains() {
        let groups = group_by_domain(["\"a@b\"@c.test"]).unwrap();
        assert_eq!(groups[0].domain, name("c.test"));
        let err = group_by_domain(["ok@c.test", "bad@exa mple.test"]).unwrap_err();
        assert_eq!(err.input, "exa mple.test");
        assert!(group_by_domain(["nobody"]).is_err());
    }
}
