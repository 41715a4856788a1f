//! An in-memory [`Resolver`] for tests of routing and delivery.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use super::resolver::{Answer, IpLookup, Lookup, LookupError, MxRecord, Resolver};

/// Which lookup a [`MockResolver`] answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// An MX lookup.
    Mx,
    /// An A lookup.
    A,
    /// An AAAA lookup.
    Aaaa,
}

/// A [`Resolver`] answering from tables, for tests: nothing leaves the process.
///
/// A name with no entry for a type answers NODATA if the name has an entry of another
/// type, NXDOMAIN otherwise, as a real zone would. Every lookup is logged
/// ([`MockResolver::queries`]), so a test can check that nothing was looked up after a null
/// MX. Names are matched without regard to case.
///
/// ```
/// use smtp_courier::delivery::{LookupError, MockResolver};
/// let dns = MockResolver::new()
///     .mx("example.test", &[(10, "mx.example.test")])
///     .a("mx.example.test", &["192.0.2.1"])
///     .aaaa("mx.example.test", &["2001:db8::1"])
///     .mx_error("broken.test", LookupError::ServFail);
/// ```
#[derive(Debug, Default)]
pub struct MockResolver {
    mx: HashMap<String, Lookup<MxRecord>>,
    a: HashMap<String, Lookup<Ipv4Addr>>,
    aaaa: HashMap<String, Lookup<Ipv6Addr>>,
    log: Mutex<Vec<(QueryType, String)>>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn records<T>(v: Vec<T>) -> Lookup<T> {
    if v.is_empty() {
        Ok(Answer::NoData)
    } else {
        Ok(Answer::Records(v))
    }
}

impl MockResolver {
    /// An empty resolver: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// MX records for `domain`, as `(preference, exchange)`; `"."` is the null MX's
    /// exchange. An empty slice is NODATA.
    pub fn mx(mut self, domain: &str, records: &[(u16, &str)]) -> Self {
        let v = records.iter().map(|(p, x)| MxRecord::new(*p, x)).collect();
        self.mx.insert(key(domain), self::records(v));
        self
    }

    /// A records for `host`. An empty slice is NODATA.
    ///
    /// # Panics
    ///
    /// When an address does not parse: this is a test fixture.
    pub fn a(mut self, host: &str, addresses: &[&str]) -> Self {
        #[allow(clippy::unwrap_used)] // test fixture: a typo should fail loudly
        let v = addresses.iter().map(|a| a.parse().unwrap()).collect();
        self.a.insert(key(host), records(v));
        self
    }

    /// AAAA records for `host`. An empty slice is NODATA.
    ///
    /// # Panics
    ///
    /// When an address does not parse: this is a test fixture.
    pub fn aaaa(mut self, host: &str, addresses: &[&str]) -> Self {
        #[allow(clippy::unwrap_used)] // test fixture: a typo should fail loudly
        let v = addresses.iter().map(|a| a.parse().unwrap()).collect();
        self.aaaa.insert(key(host), records(v));
        self
    }

    /// The MX lookup of `domain` fails with `error`.
    pub fn mx_error(mut self, domain: &str, error: LookupError) -> Self {
        self.mx.insert(key(domain), Err(error));
        self
    }

    /// The A and AAAA lookups of `host` fail with `error`.
    pub fn ip_error(self, host: &str, error: LookupError) -> Self {
        self.a_error(host, error.clone()).aaaa_error(host, error)
    }

    /// The A lookup of `host` fails with `error`.
    pub fn a_error(mut self, host: &str, error: LookupError) -> Self {
        self.a.insert(key(host), Err(error));
        self
    }

    /// The AAAA lookup of `host` fails with `error`.
    pub fn aaaa_error(mut self, host: &str, error: LookupError) -> Self {
        self.aaaa.insert(key(host), Err(error));
        self
    }

    /// Every lookup made so far, in order.
    pub fn queries(&self) -> Vec<(QueryType, String)> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn exists(&self, name: &str) -> bool {
        self.mx.contains_key(name) || self.a.contains_key(name) || self.aaaa.contains_key(name)
    }

    fn answer<T: Clone>(
        &self,
        t: QueryType,
        table: &HashMap<String, Lookup<T>>,
        name: &str,
    ) -> Lookup<T> {
        let name = key(name);
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((t, name.clone()));
        match table.get(&name) {
            Some(answer) => answer.clone(),
            None if self.exists(&name) => Ok(Answer::NoData),
            None => Ok(Answer::NxDomain),
        }
    }
}

impl Resolver for MockResolver {
    async fn lookup_mx(&self, domain: &str) -> Lookup<MxRecord> {
        self.answer(QueryType::Mx, &self.mx, domain)
    }

    async fn lookup_ip(&self, host: &str) -> IpLookup {
        IpLookup {
            a: self.answer(QueryType::A, &self.a, host),
            aaaa: self.answer(QueryType::Aaaa, &self.aaaa, host),
        }
    }
}
