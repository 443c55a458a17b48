//! The syntax of `allowed_outbound_hosts` entries, Spin's: `scheme://host[:port]`, where the
//! scheme is `http`, `https`, `redis`, `postgres`, `mysql` or `*`, the host `*` or
//! `*.example.com`, and the port `*`, a number or a range `8000..8010`; without a port, the
//! scheme's default (80, 443, 6379, 5432, 3306) is the only one allowed.
//!
//! The manifest owns the syntax so that a bad entry is refused when the manifest is read;
//! the outbound capabilities (`capabilities::outbound_http`, Spin's Redis and Postgres)
//! resolve a component's entries into an [`AllowedHosts`] grant and check destinations
//! against it.

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
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
        _ => None,
    }
}

impl AllowedHosts {
    /// Parses the entries; an error names the bad entry and why.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts, String> {
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
        // The user-info part (credentials) is not part of the destination.
        let Some((scheme, rest)) = address.split_once("://") else {
            return false;
        };
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        match format!("{scheme}://{authority}/").parse::<http::Uri>() {
            Ok(uri) => self.allows(&uri),
            Err(_) => false,
        }
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
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or("needs a scheme, e.g. https://api.example.com")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            "postgresql" => Some("postgres".to_string()),
            s if default_port(s).is_some() => Some(s.to_string()),
            other => {
                return Err(format!(
                    "scheme {other:?} is not http, https, redis, rediss, postgres, mysql or *"
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err("must not have a path".into());
        }
        let (host, port) = match rest.rsplit_once(':') {
            // An IPv6 literal without a port, e.g. [::1], has colons only inside brackets.
            Some((h, p)) if !p.ends_with(']') => (h, Some(p)),
            _ => (rest, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("has no host".into());
        }
        if host.eq_ignore_ascii_case("self") {
            return Err("\"self\" is not supported: name the host".into());
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostPattern::Subdomains(domain.to_ascii_lowercase())
        } else if host.contains('*') {
            return Err("a host wildcard must be `*` or a leading `*.`".into());
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let parse_port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("port {p:?} is not a number from 0 to 65535"))
        };
        let ports = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
                    if lo > hi {
                        return Err(format!("port range {p:?} is empty"));
                    }
                    PortPattern::Range(lo, hi)
                }
                None => {
                    let n = parse_port(p)?;
                    PortPattern::Range(n, n)
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(n) => PortPattern::Range(n, n),
                None => return Err("with scheme `*`, give a port (or `*`)".into()),
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
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Subdomains(domain) => {
                let host = host.to_ascii_lowercase();
                host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
        };
        let port_ok = match self.ports {
            PortPattern::Any => true,
            PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
        };
        scheme_ok && host_ok && port_ok
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
            "http://a.example.com:8011/"
        ));
        assert!(allows(&["https://*:*"], "https://anything:1/"));
        assert!(!allows(&[], "https://api.tiingo.com/"));
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
            ("api.tiingo.com", "needs a scheme"),
            ("ftp://x.com", "not http, https"),
            ("mqtt://x.com", "not http, https"),
            ("https://x.com/path", "path"),
            ("*://x.com", "give a port"),
            ("https://x.com:99999", "not a number"),
            ("https://x.com:10..1", "empty"),
            ("https://a*b.com", "wildcard"),
            ("http://self", "self"),
        ] {
            let err = AllowedHosts::parse(&[entry]).expect_err(entry);
            assert!(err.contains(why) && err.contains(entry), "{entry}: {err}");
        }
    }
}
