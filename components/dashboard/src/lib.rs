//! The dashboard component: the web UI's files (`dashboard/dist`, compiled in by `build.rs`)
//! served at `/`, the manifest's catch-all route. Being a component rather than part of the
//! host, the UI runs under Spin from the same manifest, and each UI version is one digest that
//! hot swap, rollback and the audit trail handle like any other.

use bourse_guest::http::{Request, Response};

/// One file of the front end's build.
struct Asset {
    /// URL path, e.g. `/assets/index-Blbe_Jou.js`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// A quoted prefix of the bytes' SHA-256: equal bytes, equal tag, in every build.
    etag: &'static str,
}

// `static ASSETS: &[Asset]`, one entry per file of dashboard/dist.
include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The page may load scripts, styles and images from its own origin only (inline styles: the
/// charts library adds a `<style>` element for its attribution; `data:`: the empty favicon),
/// open the API and `/ws` (ws:/wss:), and may not be framed or have its base URL or form
/// targets redirected.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// How long a browser may keep a file without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caching {
    /// `index.html` names the current build's assets, so it is asked for on every load; an
    /// unchanged page costs a 304 (ETag), a new UI version is seen at once.
    Revalidate,
    /// `/assets/*` names carry a hash of their content: a new build writes new names, so a
    /// name's bytes never change.
    Immutable,
    /// Other files keep their names across builds: a short lifetime.
    Short,
}

impl Caching {
    fn of(path: &str) -> Caching {
        if path == "/index.html" {
            Caching::Revalidate
        } else if path.starts_with("/assets/") {
            Caching::Immutable
        } else {
            Caching::Short
        }
    }

    fn header(self) -> &'static str {
        match self {
            Caching::Revalidate => "no-cache",
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Short => "public, max-age=300",
        }
    }
}

// The description of the routes below, in /api/openapi.json (kept in ../openapi.json).
bourse_guest::openapi!("../openapi.json");

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, serve)
}

fn serve(request: &Request) -> Response {
    let path = match request.path.as_str() {
        "/" => "/index.html",
        other => other,
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        // `/...` catches every path no other route serves (a mistyped `/api/...` included), so
        // this answer must be the host's own 404: same code, same message.
        return Response::not_found(request);
    };
    let head = match request.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => {
            return Response::error(
                request,
                405,
                "method_not_allowed",
                &format!(
                    "{} {path}: the dashboard answers GET and HEAD only",
                    request.method
                ),
            )
            .with_header("allow", "GET, HEAD");
        }
    };
    let (status, body) = if fresh(request.header("if-none-match"), asset.etag) {
        (304, Vec::new())
    } else if head {
        (200, Vec::new())
    } else {
        (200, asset.body.to_vec())
    };
    let response = Response::content(status, asset.content_type, body)
        .with_header("etag", asset.etag)
        .with_header("cache-control", Caching::of(asset.path).header());
    if asset.content_type.starts_with("text/html") {
        response.with_header("content-security-policy", CONTENT_SECURITY_POLICY)
    } else {
        response
    }
}

/// Whether the browser's copy is current: `If-None-Match` lists `etag` (weak comparison, as
/// RFC 9110 asks for this header; a proxy or compressor may have weakened the tag) or is `*`.
fn fresh(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|value| {
        value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}
