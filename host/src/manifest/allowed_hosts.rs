//! The syntax of `allowed_outbound_hosts` entries, Spin's: `scheme://host[:port]`.
//!
//! - scheme: `*` or any word of letters (`http`, `https`, `redis`, `postgres`, `mysql`,
//!   `mqtt`, `tcp`, `udp`, ...);
//! - host: `*`, `*.example.com` (subdomains, not the domain itself), a name, an IP address
//!   (`[::1]` for IPv6) or an address range (`127.0.0.0/24`, `ff00::/8`; host bits are
//!   dropped); `self` (the application itself) parses but reaches nothing here;
//! - port: `*`, a number, or a range `8000..8010` whose end is excluded (Rust's range, as in
//!   Spin); without a port, the scheme's default (80, 443, 6379, 5432, 3306, 1883) is the
//!   only one allowed, and a scheme without a default needs one.
//!
//! `wasi:sockets` connections are checked as `tcp://ip:port` / `udp://ip:port`: an entry with
//! scheme `*`, `tcp` or `udp` whose host is `*`, an IP address or a range allows them.
//!
//! The manifest owns the syntax so that a bad entry is refused when the manifest is read;
//! the outbound capabilities (`capabilities::outbound_http`, Spin's Redis and Postgres, the
//! sockets) resolve a component's entries into an [`AllowedHosts`] grant and check
//! destinations against it.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `None` = any scheme.
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: any subdomain, not the domain itself (as in Spin).
    Subdomains(String),
    Exact(String),
    /// An address range; matches IP addresses only.
    Range(IpNet),
    /// `self`: the application itself, which Bourse does not route requests to.
    App,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// Inclusive bounds (a manifest's `a..b` is `a..=b-1`).
    Range(u16, u16),
}

/// The destinations one component may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<Pattern>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" | "rediss" => Some(6379),
        "postgres" | "postgresql" => Some(5432),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses the entries; an error names the bad entry and why.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts, String> {
        if entries
            .iter()
            .any(|e| e.as_ref().trim() == "insecure:allow-all")
        {
            return Err(
                "'insecure:allow-all' is not allowed: use '*://*:*' to allow all outbound traffic"
                    .into(),
            );
        }
        let patterns = entries
            .iter()
            .map(|e| Pattern::parse(e.as_ref()).map_err(|why| format!("{:?}: {why}", e.as_ref())))
            .collect::<Result<_, _>>()?;
        Ok(AllowedHosts { patterns })
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether a connection to `address` (`redis://host:port/…`, `postgres://user@host/db`)
    /// is allowed.
    pub fn allows_address(&self, address: &str) -> bool {
        let Some((scheme, authority)) = destination(address) else {
            return false;
        };
        match format!("{scheme}://{authority}/").parse::<http::Uri>() {
            Ok(uri) => self.allows(&uri),
            Err(_) => false,
        }
    }

    /// Whether any entry can allow a `wasi:sockets` connection (scheme `*`, `tcp` or `udp`).
    pub fn allows_sockets(&self) -> bool {
        self.patterns
            .iter()
            .any(|p| p.scheme.as_deref().is_none_or(|s| s == "tcp" || s == "udp"))
    }

    /// Whether a `wasi:sockets` connection over `protocol` (`tcp` or `udp`) to `addr` is
    /// allowed.
    pub fn allows_socket(&self, protocol: &str, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        self.patterns.iter().any(|p| {
            p.scheme.as_deref().is_none_or(|s| s == protocol)
                && p.ports.contains(addr.port())
                && p.host.matches_ip(ip)
        })
    }

    /// Whether a request to `uri` is allowed.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "postgresql" => "postgres".to_string(),
            s => s.to_string(),
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.patterns.iter().any(|p| p.matches(&scheme, host, port))
    }
}

impl Pattern {
    fn parse(entry: &str) -> Result<Pattern, String> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            return Err(if ["*", ":", "", "?"].contains(&entry) {
                "is not an allowed outbound host: write <scheme>://<host>[:<port>], with `*` allowed for each (`*://*:*` allows everything)".into()
            } else {
                "has no scheme (e.g. 'https://' or '*://')".into()
            });
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            "postgresql" => Some("postgres".to_string()),
            s if s.starts_with('{') => return Err("scheme lists are not supported".into()),
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic()) => Some(s.to_string()),
            other => {
                return Err(format!(
                    "scheme {other:?} must be `*` or letters only (http, https, redis, postgres, mysql, mqtt, tcp, ...)"
                ));
            }
        };
        let (host, port) = split_port(rest);
        let port = match port {
            Some(p) => {
                let p = p.strip_suffix('/').unwrap_or(p);
                if p.contains('/') {
                    return Err("must not have a path".into());
                }
                Some(p)
            }
            None => None,
        };
        let host = parse_host(host.strip_suffix('/').unwrap_or(host))?;
        let ports = match port {
            Some(p) => parse_ports(p)?,
            None => match scheme.as_deref().and_then(default_port) {
                Some(n) => PortPattern::Range(n, n),
                None => {
                    return Err(format!(
                        "has no port, and scheme {:?} has no default port: give one (or `*`)",
                        scheme.as_deref().unwrap_or("*")
                    ));
                }
            },
        };
        Ok(Pattern {
            scheme,
            host,
            ports,
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => match (h.parse::<IpAddr>(), host.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a.to_canonical() == b.to_canonical(),
                _ => host.eq_ignore_ascii_case(h),
            },
            HostPattern::Subdomains(domain) => {
                let host = host.to_ascii_lowercase();
                host.parse::<IpAddr>().is_err()
                    && host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            HostPattern::Range(net) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip.to_canonical())),
            HostPattern::App => false,
        };
        scheme_ok && host_ok && self.ports.contains(port)
    }
}

/// The scheme and `host[:port]` of a connection address (`postgres://user:pw@host:5432/db`),
/// without the credentials (the user-info part is not part of the destination), the path or
/// the options.
pub fn destination(address: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = address.split_once("://")?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    Some((scheme, rest.split(['/', '?']).next().unwrap_or_default()))
}

/// Splits `host[:port]` at the last colon, keeping an IPv6 literal (`[::1]`) or range
/// (`ff00::/8`, which has a port after it in a valid entry) whole.
fn split_port(rest: &str) -> (&str, Option<&str>) {
    match rest.rsplit_once(':') {
        // `[::1` before the last colon: that colon is inside the brackets.
        Some((h, p)) if !p.ends_with(']') && (!h.starts_with('[') || h.contains(']')) => {
            (h, Some(p))
        }
        _ => (rest, None),
    }
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("has no host".into());
    }
    if host.starts_with('{') {
        return Err("host lists are not supported".into());
    }
    if host.contains('/') {
        return host
            .parse::<IpNet>()
            .map(|net| HostPattern::Range(net.trunc()))
            .map_err(|_| "must not have a path".into());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(if host == "*" {
        HostPattern::Any
    } else if host.eq_ignore_ascii_case("self") || host.eq_ignore_ascii_case("self.alt") {
        HostPattern::App
    } else if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err("a host wildcard is allowed only as a prefix".into());
        }
        HostPattern::Subdomains(domain.to_ascii_lowercase())
    } else if host.contains('*') {
        return Err("a host wildcard must be `*` or a leading `*.`".into());
    } else if let Ok(ip) = bare.parse::<IpAddr>() {
        HostPattern::Exact(ip.to_string())
    } else if host.starts_with('[') || host.contains(':') {
        return Err(format!("{host:?} is not an IP address"));
    } else {
        HostPattern::Exact(host.to_ascii_lowercase())
    })
}

fn parse_ports(port: &str) -> Result<PortPattern, String> {
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if port.starts_with('{') {
        return Err("port lists are not supported".into());
    }
    let number = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("port {p:?} is not a number from 0 to 65535"))
    };
    match port.split_once("..") {
        // `a..b` excludes `b`, as Rust's (and Spin's) ranges do.
        Some((lo, hi)) => {
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo >= hi {
                return Err(format!("port range {port:?} is empty"));
            }
            Ok(PortPattern::Range(lo, hi - 1))
        }
        None => number(port).map(|n| PortPattern::Range(n, n)),
    }
}

impl PortPattern {
    fn contains(&self, port: u16) -> bool {
        match *self {
            PortPattern::Any => true,
            PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
        }
    }
}

impl HostPattern {
    fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.parse::<IpAddr>().is_ok_and(|a| a.to_canonical() == ip),
            HostPattern::Range(net) => net.contains(&ip),
            HostPattern::Subdomains(_) | HostPattern::App => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entries: &[&str], uri: &str) -> bool {
        AllowedHosts::parse(entries)
            .expect("valid")
            .allows(&uri.parse().expect("uri"))
    }

    #[test]
    fn exact_hosts_take_the_scheme_default_port_only() {
        let grant = ["https://api.tiingo.com"];
        assert!(allows(
            &grant,
            "https://api.tiingo.com/tiingo/daily/spy/prices"
        ));
        assert!(allows(&grant, "https://API.tiingo.com:443/x"));
        assert!(!allows(&grant, "http://api.tiingo.com/x"));
        assert!(!allows(&grant, "https://api.tiingo.com:8443/x"));
        assert!(!allows(&grant, "https://evil.com/api.tiingo.com"));
        assert!(!allows(&grant, "https://api.tiingo.com.evil.com/"));
    }

    #[test]
    fn wildcards_and_ranges() {
        assert!(allows(&["http://127.0.0.1:*"], "http://127.0.0.1:39123/"));
        assert!(!allows(&["http://127.0.0.1:*"], "http://127.0.0.2:39123/"));
        assert!(allows(
            &["*://*.example.com:8000..8010"],
            "http://a.b.example.com:8005/"
        ));
        assert!(!allows(
            &["*://*.example.com:8000..8010"],
            "http://example.com:8005/"
        ));
        assert!(!allows(
            &["*://*.example.com:8000..8010"],
            "http://xexample.com:8005/"
        ));
        assert!(!allows(
            &["*://*.example.com:8000..8010"],
            "http://a.example.com:8010/"
        ));
        assert!(allows(&["https://*:*"], "https://anything:1/"));
        assert!(!allows(&[], "https://api.tiingo.com/"));
    }

    #[test]
    fn spin_s_accepted_entries_parse() {
        for entry in [
            "http://spin.fermyon.dev",
            "http://spin.fermyon.dev/",
            "https://spin.fermyon.dev:5555",
            "http://spin.fermyon.dev:4444/",
            "http://spin.fermyon.dev:4444..5555",
            "*://spin.fermyon.dev:7777",
            "http://self",
            "http://localhost:3001",
            "http://*.example.com",
            "http://192.168.1.1:3002",
            "http://[::1]:8001",
            "*://127.0.0.0/24:80",
            "*://ff00::/8:80",
            "*://*:*",
            "mqtt://broker.local",
            "tcp://127.0.0.1:*",
        ] {
            AllowedHosts::parse(&[entry]).unwrap_or_else(|e| panic!("{entry}: {e}"));
        }
        assert!(allows(
            &["http://spin.fermyon.dev:4444..5555"],
            "http://spin.fermyon.dev:5554/"
        ));
        assert!(!allows(
            &["http://spin.fermyon.dev:4444..5555"],
            "http://spin.fermyon.dev:5555/"
        ));
        assert!(allows(&["*://127.0.0.1/24:63551"], "tcp://127.0.0.9:63551"));
        assert!(!allows(&["*://127.0.0.0/24:80"], "http://127.0.1.1/"));
        assert!(allows(&["http://[::1]:8001"], "http://[::1]:8001/"));
        assert!(!allows(&["http://self"], "http://self/"));
        assert!(!allows(&["http://*.example.com"], "http://myexample.com/"));
        assert!(!allows(
            &["http://*.example2.com:8383"],
            "http://a.b.example2.com/"
        ));
        let mixed = ["*://spin.fermyon.dev:443", "http://example.com:8383"];
        assert!(allows(&mixed, "http://example.com:8383/foo/bar"));
        assert!(allows(&mixed, "https://spin.fermyon.dev/"));
        assert!(!allows(&mixed, "http://example.com/"));
        assert!(!allows(&mixed, "http://google.com/"));
    }

    #[test]
    fn sockets_need_a_tcp_udp_or_any_scheme_and_an_address() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("socket address");
        let grant =
            AllowedHosts::parse(&["tcp://127.0.0.0/8:5432", "udp://10.0.0.1:53"]).expect("valid");
        assert!(grant.allows_sockets());
        assert!(grant.allows_socket("tcp", addr("127.0.0.1:5432")));
        assert!(!grant.allows_socket("udp", addr("127.0.0.1:5432")));
        assert!(!grant.allows_socket("tcp", addr("127.0.0.1:5433")));
        assert!(grant.allows_socket("udp", addr("10.0.0.1:53")));
        assert!(grant.allows_socket("tcp", addr("[::ffff:127.0.0.1]:5432")));
        let names =
            AllowedHosts::parse(&["*://db.internal:5432", "postgres://127.0.0.1"]).expect("valid");
        assert!(names.allows_sockets());
        assert!(
            !names.allows_socket("tcp", addr("127.0.0.1:5432")),
            "names and other schemes never match a socket"
        );
        assert!(
            !AllowedHosts::parse(&["https://*:*"])
                .expect("valid")
                .allows_sockets()
        );
    }

    #[test]
    fn database_addresses_are_checked_without_their_credentials() {
        let grant = AllowedHosts::parse(&["redis://127.0.0.1", "postgres://db.internal:5433"])
            .expect("valid");
        assert!(grant.allows_address("redis://127.0.0.1:6379"));
        assert!(grant.allows_address("redis://127.0.0.1/2"));
        assert!(!grant.allows_address("redis://127.0.0.1:6380"));
        assert!(grant.allows_address("postgres://u:p@db.internal:5433/test"));
        assert!(grant.allows_address("postgresql://u@db.internal:5433/test?sslmode=disable"));
        assert!(!grant.allows_address("postgres://u:p@db.internal/test"));
        assert!(!grant.allows_address("postgres://db.internal:5433@evil.com/test"));
        assert!(!grant.allows_address("not an address"));
    }

    #[test]
    fn bad_entries_are_named() {
        for (entry, why) in [
            ("api.tiingo.com", "no scheme"),
            ("localhost:3001", "no scheme"),
            ("*", "<scheme>://<host>"),
            ("ftp://x.com", "no default port"),
            ("h2c://x.com", "letters only"),
            ("{http,https}://x.com", "scheme lists"),
            ("https://x.com/path", "path"),
            ("https://x.com:6666/a/b", "path"),
            ("http://*.fermyon.dev/a", "path"),
            ("*://x.com", "no default port"),
            ("*://127.0.0.0/24", "no default port"),
            ("https://x.com:99999", "not a number"),
            ("https://x.com:10..1", "empty"),
            ("https://x.com:10..10", "empty"),
            ("https://a*b.com", "wildcard"),
            ("https://*.a.*.com", "prefix"),
            ("https://{a,b}.com", "host lists"),
            ("insecure:allow-all", "*://*:*"),
        ] {
            let err = AllowedHosts::parse(&[entry]).expect_err(entry);
            assert!(err.contains(why) && err.contains(entry), "{entry}: {err}");
        }
    }
}
