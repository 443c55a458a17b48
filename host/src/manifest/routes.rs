//! Spin's HTTP route syntax: exact paths (`/api/symbols`), trailing wildcards
//! (`/api/book/...`) and named segments (`/api/book/:symbol`). The most specific route wins,
//! as in Spin: exact before parameterised before wildcard, longer before shorter.

/// One `[[trigger.http]]` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route as written.
    pub pattern: String,
    /// The component that serves it.
    pub component: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// What a route took from a path, as Spin hands it to the component in `spin-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captures<'a> {
    /// The path after the route's wildcard prefix (`spin-path-info`): `""` for an exact
    /// route, and for `/api/...` `""` on `/api`, `/` on `/api/`, `/x/` on `/api/x/`.
    pub path_info: &'a str,
    /// Each `:name` segment and the path segment it matched, in route order.
    pub params: Vec<(&'a str, &'a str)>,
}

impl Route {
    /// Parses `pattern` for `component`.
    pub fn parse(pattern: &str, component: &str) -> Result<Route, String> {
        if !pattern.starts_with('/') {
            return Err("a route must start with '/'".into());
        }
        let mut segments = Vec::new();
        let mut wildcard = false;
        let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            if *part == "..." {
                if i + 1 != parts.len() {
                    return Err("'...' may only end a route".into());
                }
                wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err("a ':' segment needs a name".into());
                }
                segments.push(Segment::Param(name.to_string()));
            } else {
                segments.push(Segment::Literal((*part).to_string()));
            }
        }
        Ok(Route {
            pattern: pattern.to_string(),
            component: component.to_string(),
            segments,
            wildcard,
        })
    }

    fn matches(&self, path: &[&str]) -> bool {
        if path.len() < self.segments.len() || (!self.wildcard && path.len() != self.segments.len())
        {
            return false;
        }
        self.segments.iter().zip(path).all(|(s, p)| match s {
            Segment::Literal(l) => l == p,
            Segment::Param(_) => true,
        })
    }

    /// What this route takes from `path`, which it matches: its parameters and the tail
    /// its wildcard covers. Empty segments (`//`) are skipped as in matching.
    pub fn captures<'a>(&'a self, path: &'a str) -> Captures<'a> {
        let mut params = Vec::new();
        let mut end = 0;
        let mut rest = self.segments.iter();
        let mut offset = 0;
        for part in path.split('/') {
            let start = offset;
            offset += part.len() + 1;
            if part.is_empty() {
                continue;
            }
            let Some(segment) = rest.next() else { break };
            if let Segment::Param(name) = segment {
                params.push((name.as_str(), part));
            }
            end = start + part.len();
        }
        let path_info = if self.wildcard {
            &path[end.min(path.len())..]
        } else {
            ""
        };
        Captures { path_info, params }
    }

    /// The route with one trailing `/` taken off (`spin-matched-route`; `""` for `/`).
    pub fn matched_route(&self) -> &str {
        self.pattern.strip_suffix('/').unwrap_or(&self.pattern)
    }

    /// The route without its trailing `/...` (`spin-component-route`; `""` for `/...`).
    pub fn prefix(&self) -> &str {
        self.pattern.strip_suffix("/...").unwrap_or(&self.pattern)
    }

    /// Whether every literal segment of `other` is the same literal here: `/:a/:b` counts as
    /// specific as `/api/orders/...` by length, but names no part of it.
    fn refines(&self, other: &Route) -> bool {
        self.segments.len() >= other.segments.len()
            && other
                .segments
                .iter()
                .zip(&self.segments)
                .all(|(theirs, ours)| match theirs {
                    Segment::Literal(l) => matches!(ours, Segment::Literal(o) if o == l),
                    Segment::Param(_) => true,
                })
    }

    /// Sort key: higher is more specific.
    fn specificity(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (!self.wildcard, self.segments.len(), literals)
    }
}

/// All routes, most specific first.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Orders `routes` by specificity (stable, so manifest order breaks ties).
    pub fn new(mut routes: Vec<Route>) -> RouteTable {
        routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        RouteTable { routes }
    }

    /// The route serving `path`, if any.
    pub fn find(&self, path: &str) -> Option<&Route> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes.iter().find(|r| r.matches(&parts))
    }

    /// Whether this table (the manifest's `public_routes`) opens `path`, which `serving`
    /// serves: only a pattern at least as specific as the serving route counts. A public
    /// catch-all (`/...`) thus opens what the catch-all route serves and nothing a more
    /// specific route serves; matching the raw path alone would make `/...` open every route.
    pub fn covers(&self, path: &str, serving: &Route) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.routes.iter().any(|public| {
            public.matches(&parts)
                && public.specificity() >= serving.specificity()
                && public.refines(serving)
        })
    }

    /// Every route.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        RouteTable::new(
            routes
                .iter()
                .map(|(p, c)| Route::parse(p, c).expect("valid route"))
                .collect(),
        )
    }

    #[test]
    fn most_specific_route_wins() {
        let t = table(&[
            ("/...", "fallback"),
            ("/api/book/...", "book"),
            ("/api/book/:s/stats", "stats"),
            ("/api/symbols", "sym"),
        ]);
        assert_eq!(
            t.find("/api/symbols").map(|r| r.component.as_str()),
            Some("sym")
        );
        assert_eq!(
            t.find("/api/book/AAPL").map(|r| r.component.as_str()),
            Some("book")
        );
        assert_eq!(
            t.find("/api/book/AAPL/stats").map(|r| r.component.as_str()),
            Some("stats")
        );
        assert_eq!(
            t.find("/other").map(|r| r.component.as_str()),
            Some("fallback")
        );
    }

    #[test]
    fn exact_route_does_not_match_longer_paths() {
        let t = table(&[("/api/orders", "orders")]);
        assert!(t.find("/api/orders").is_some());
        assert!(t.find("/api/orders/1").is_none());
        assert!(t.find("/api").is_none());
    }

    #[test]
    fn wildcard_matches_its_own_prefix() {
        let t = table(&[("/api/orders/...", "orders")]);
        assert!(t.find("/api/orders").is_some());
        assert!(t.find("/api/orders/7").is_some());
    }

    #[test]
    fn a_public_pattern_opens_only_paths_served_by_routes_no_more_specific_than_itself() {
        let routes = table(&[
            ("/...", "dashboard"),
            ("/api/orders/...", "orders"),
            ("/api/auth/...", "auth"),
            ("/api/book/...", "book"),
            ("/api/symbols", "sym"),
        ]);
        let public = table(&[
            ("/...", ""),
            ("/api/auth/login", ""),
            ("/api/book/...", ""),
            ("/api/symbols", ""),
        ]);
        let open = |path: &str| {
            let serving = routes.find(path).expect("a route serves it");
            public.covers(path, serving)
        };
        // The catch-all's own paths.
        for path in [
            "/",
            "/index.html",
            "/assets/index-1.js",
            "/api/no-such-route",
        ] {
            assert!(open(path), "{path}");
        }
        // A more specific public pattern than its route (exact inside a wildcard).
        assert!(open("/api/auth/login"));
        // Equal patterns; an exact public route.
        assert!(open("/api/book/AAPL"));
        assert!(open("/api/symbols"));
        // `/...` matches these paths, but their routes are more specific than it.
        for path in [
            "/api/orders",
            "/api/orders/7",
            "/api/auth/me",
            "/api/auth/login/x",
        ] {
            assert!(!open(path), "{path}");
        }
        // A parameter is less specific than a literal: `/api/:x/...` does not open `/api/book/...`.
        let params = table(&[("/api/:x/...", "")]);
        let serving = routes.find("/api/book/AAPL").expect("book");
        assert!(!params.covers("/api/book/AAPL", serving));
        // Parameters as long as a literal route do not name it, so they do not open it.
        let vague = table(&[("/:a/:b", "")]);
        let serving = routes.find("/api/orders").expect("orders");
        assert!(!vague.covers("/api/orders", serving));
        // An empty table opens nothing.
        assert!(!table(&[]).covers("/", routes.find("/").expect("dashboard")));
    }

    #[test]
    fn captures_are_what_spin_puts_in_its_headers() {
        let route = |p: &str| Route::parse(p, "c").expect("valid route");
        let wild = route("/test/...");
        for (path, info) in [
            ("/test", ""),
            ("/test/", "/"),
            ("/test/hello", "/hello"),
            ("/test/hello/", "/hello/"),
            ("/test/a/b", "/a/b"),
        ] {
            assert_eq!(wild.captures(path).path_info, info, "{path}");
        }
        let all = route("/...");
        assert_eq!(all.captures("/").path_info, "/");
        assert_eq!(all.captures("/1/2/3").path_info, "/1/2/3");
        assert_eq!(all.prefix(), "");
        assert_eq!(route("/").matched_route(), "");
        let named = route("/foo/:user_id/...");
        let c = named.captures("/foo/42/bar");
        assert_eq!(c.params, vec![("user_id", "42")]);
        assert_eq!(c.path_info, "/bar");
        assert_eq!(named.prefix(), "/foo/:user_id");
        assert_eq!(named.matched_route(), "/foo/:user_id/...");
        let exact = route("/1/:two/3");
        assert_eq!(exact.captures("/1/2/3").params, vec![("two", "2")]);
        assert_eq!(exact.captures("/1/2/3").path_info, "");
    }

    #[test]
    fn bad_routes_are_refused() {
        assert!(Route::parse("api", "x").is_err());
        assert!(Route::parse("/a/.../b", "x").is_err());
        assert!(Route::parse("/a/:", "x").is_err());
    }
}
