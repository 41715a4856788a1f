//! The forms a [`Target`] can be given in: `"host:port"`, `(host, port)`, a socket
//! address, or a `Target` itself.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Host, Target};
use crate::proto::address::AddressError;

impl Target {
    /// Parses `host:port`: a name or IPv4 address before the last colon
    /// (`smtp.example.org:587`, `192.0.2.1:25`), an IPv6 address in brackets (`[::1]:25`,
    /// `[IPv6:2001:db8::1]:25`). There is no default port: submission (587), implicit TLS
    /// (465) and relay (25) differ, so the caller says which.
    ///
    /// ```
    /// use smtp_courier::connect::{Host, Target};
    /// let t = Target::parse("[::1]:2525").unwrap();
    /// assert_eq!((t.host(), t.port()), (&Host::Ip("::1".parse().unwrap()), 2525));
    /// assert_eq!(Target::parse("smtp.example.org:587").unwrap().to_string(), "smtp.example.org:587");
    /// assert!(Target::parse("smtp.example.org").is_err()); // no port
    /// assert!(Target::parse("::1:25").is_err()); // IPv6 needs brackets
    /// ```
    ///
    /// # Errors
    /// [`AddressError::Malformed`] (`"port"`) without a port or with one that is not a
    /// number from 0 to 65535, (`"host"`) for an IPv6 address without brackets; otherwise
    /// as [`Host::parse`].
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let (host, port) = s.rsplit_once(':').ok_or(AddressError::Malformed("port"))?;
        // An unbracketed colon in the host is an IPv6 address whose port cannot be told
        // from its last group.
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(AddressError::Malformed("host"));
        }
        // Digits only: `u16::from_str` would also take a leading `+`.
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::Malformed("port"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| AddressError::Malformed("port"))?;
        Self::new(host, port)
    }
}

/// What [`Client::connect`](crate::Client::connect) and
/// [`Client::connect_with`](crate::Client::connect_with) accept as where to connect.
///
/// A [`Target`] (or `&Target`) keeps its own connect timeout; the other forms (`"host:port"`
/// as [`Target::parse`] reads it, `(host, port)`, a [`SocketAddr`]) get the timeout the
/// caller passes, the client's [`Timeouts::connect`](crate::proto::Timeouts::connect).
pub trait IntoTarget {
    /// The target, with `connect_timeout` unless it carries its own.
    ///
    /// # Errors
    /// [`AddressError`] when the host or port is malformed.
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError>;
}

impl IntoTarget for Target {
    fn into_target(self, _: Duration) -> Result<Target, AddressError> {
        Ok(self)
    }
}

impl IntoTarget for &Target {
    fn into_target(self, _: Duration) -> Result<Target, AddressError> {
        Ok(self.clone())
    }
}

impl IntoTarget for &str {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        Ok(Target::parse(self)?.connect_timeout(connect_timeout))
    }
}

impl IntoTarget for String {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        self.as_str().into_target(connect_timeout)
    }
}

impl IntoTarget for &String {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        self.as_str().into_target(connect_timeout)
    }
}

impl IntoTarget for (&str, u16) {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        Ok(Target::new(self.0, self.1)?.connect_timeout(connect_timeout))
    }
}

impl IntoTarget for (Host, u16) {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        Ok(Target::from_host(self.0, self.1).connect_timeout(connect_timeout))
    }
}

impl IntoTarget for SocketAddr {
    fn into_target(self, connect_timeout: Duration) -> Result<Target, AddressError> {
        Ok(Target::from(self).connect_timeout(connect_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let v6: std::net::IpAddr = "::1".parse().unwrap();
        for (s, host, port) in [
            (
                "smtp.example.org:587",
                Host::Name("smtp.example.org".into()),
                587,
            ),
            ("192.0.2.1:25", Host::Ip("192.0.2.1".parse().unwrap()), 25),
            ("[::1]:2525", Host::Ip(v6), 2525),
            ("[IPv6:::1]:25", Host::Ip(v6), 25),
            ("localhost:0", Host::Name("localhost".into()), 0),
            ("localhost:65535", Host::Name("localhost".into()), 65535),
        ] {
            let t = Target::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((t.host(), t.port()), (&host, port), "{s}");
        }
    }

    #[test]
    fn parse_refusals() {
        for (s, want) in [
            ("smtp.example.org", AddressError::Malformed("port")),
            ("smtp.example.org:", AddressError::Malformed("port")),
            ("smtp.example.org:+25", AddressError::Malformed("port")),
            ("smtp.example.org:65536", AddressError::Malformed("port")),
            ("smtp.example.org:2 5", AddressError::Malformed("port")),
            ("::1:25", AddressError::Malformed("host")),
            ("[::1:25", AddressError::Malformed("host")),
            (":25", AddressError::Empty("host")),
            (
                "mx\r\n.example:25",
                AddressError::ForbiddenCharacter("host"),
            ),
        ] {
            assert_eq!(Target::parse(s), Err(want), "{s:?}");
        }
    }

    #[test]
    fn timeouts_come_from_the_caller_unless_the_target_has_one() {
        let given = Duration::from_secs(7);
        let own = Target::new("mx.example", 25)
            .unwrap()
            .connect_timeout(Duration::from_secs(3));
        assert_eq!(own.clone().into_target(given).unwrap(), own);
        assert_eq!((&own).into_target(given).unwrap(), own);
        let addr: SocketAddr = "192.0.2.1:25".parse().unwrap();
        for t in [
            "mx.example:25".into_target(given),
            String::from("mx.example:25").into_target(given),
            ("mx.example", 25).into_target(given),
            (Host::Name("mx.example".into()), 25).into_target(given),
            addr.into_target(given),
        ] {
            assert_eq!(t.unwrap().get_connect_timeout(), given);
        }
    }
}
