//! Spin's HTTP trigger, as Bourse serves it: the `spin-*` headers every component request
//! carries, and the front door of a Spin-dialect application (`--spin-compat`, or a manifest
//! without `[application.tool.bourse]`).
//!
//! In the Spin dialect a request an application route matches is served the way Spin's
//! trigger serves it: the client's headers plus Spin's, the component's answer as written
//! (the server adds only `date` and the framing), an empty 500 when the component fails, an
//! empty 404 where no route and no host route matches, and `GET /.well-known/spin/health`
//! answering `OK`. None of the platform's layers (request ids, security headers, compression,
//! JSON errors, credentials) touch those requests. The host's own routes answer only paths
//! no application route matches, and always under `/.well-known/bourse/`.
//!
//! Invariants: an application with `[application.tool.bourse]` never sees a `spin-*` header
//! its client chose: [`Mode::Replace`] and [`Mode::Remove`] (its `spin_headers = false`) take
//! them out first; a Spin-dialect application gets Spin's appended after the client's, as
//! Spin appends them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use super::AppState;
use crate::manifest::Route;

/// Spin's reserved prefix: its health (and info) endpoints, never an application route.
const SPIN_RESERVED: &str = "/.well-known/spin/";
/// The host's own routes in the Spin dialect, where an application route may take the plain
/// paths (`/health`, `/metrics`, ...).
pub const BOURSE_RESERVED: &str = "/.well-known/bourse/";

/// How Spin's headers meet those the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Spin's behaviour: the client's `spin-*` headers stay, Spin's come after them.
    Append,
    /// Bourse's own application: the client's `spin-*` headers are taken out first.
    Replace,
    /// Bourse's own application with `spin_headers = false`: the client's are taken out, and
    /// none are added.
    Remove,
}

/// Adds Spin's request headers for `route` to `parts`: `spin-path-info`, `spin-full-url`,
/// `spin-matched-route`, `spin-base-path`, `spin-raw-component-route`,
/// `spin-component-route`, `spin-client-addr` and a `spin-path-match-<name>` per route
/// parameter, in Spin's order and with Spin's values.
pub fn add_headers(parts: &mut Parts, route: &Route, mode: Mode) {
    if mode != Mode::Append
        && parts
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("spin-"))
    {
        let theirs: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|k| k.as_str().starts_with("spin-"))
            .cloned()
            .collect();
        for name in theirs {
            parts.headers.remove(name);
        }
    }
    if mode == Mode::Remove {
        return;
    }
    let path = parts.uri.path();
    let captures = route.captures(path);
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    // Bourse serves plain HTTP (TLS ends in front of it), so the scheme is always http.
    let full_url = format!("http://{host}{path_and_query}");
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string());
    let mut ours: Vec<(HeaderName, String)> = vec![
        (name("spin-path-info"), captures.path_info.to_string()),
        (name("spin-full-url"), full_url),
        (
            name("spin-matched-route"),
            route.matched_route().to_string(),
        ),
        (name("spin-base-path"), "/".to_string()),
        (name("spin-raw-component-route"), route.pattern.clone()),
        (name("spin-component-route"), route.prefix().to_string()),
    ];
    if let Some(client) = client {
        ours.push((name("spin-client-addr"), client));
    }
    for (param, value) in &captures.params {
        let key = format!(
            "spin-path-match-{}",
            param.to_ascii_lowercase().replace('_', "-")
        );
        if let Ok(key) = HeaderName::try_from(key) {
            ours.push((key, (*value).to_string()));
        }
    }
    for (key, value) in ours {
        // Every value comes from the URI, the Host header, the manifest or a socket
        // address; one that is still not a valid header value is left out, not guessed.
        if let Ok(value) = HeaderValue::try_from(value) {
            parts.headers.append(key, value);
        }
    }
}

fn name(static_name: &'static str) -> HeaderName {
    HeaderName::from_static(static_name)
}

/// Marks the platform's "no route" answer, which the Spin front door turns into Spin's.
#[derive(Debug, Clone, Copy)]
pub struct NoRoute;

/// The Spin dialect's front door, outside every platform layer.
pub async fn front(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path();
    if path.starts_with(BOURSE_RESERVED) {
        return next.run(request).await;
    }
    if let Some(rest) = path.strip_prefix(SPIN_RESERVED) {
        return if rest == "health" {
            Response::new(Body::from("OK"))
        } else {
            empty(StatusCode::NOT_FOUND)
        };
    }
    let Some(route) = app.runtime.manifest().routes.find(path).cloned() else {
        let response = next.run(request).await;
        return if response.extensions().get::<NoRoute>().is_some() {
            empty(StatusCode::NOT_FOUND)
        } else {
            response
        };
    };
    if !app.runtime.spin_compat() {
        // The operator's bound on each client, as for every route of the host; `--spin-compat`
        // (local development) has none, as Spin has none.
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(refused) = app.limiter.check_ip(request.headers(), peer, "-").await {
            return refused;
        }
    }
    let method = request.method().clone();
    let response = serve(&app, request, &route).await;
    crate::telemetry::record_request(&method, route.pattern.clone(), response.status(), started);
    response
}

/// Serves `request` with `route`'s component as Spin would.
async fn serve(app: &AppState, request: Request, route: &Route) -> Response {
    let component = route.component.as_str();
    if !app.runtime.runs_roles(&app.runtime.roles_of(component)) {
        return empty(StatusCode::NOT_FOUND);
    }
    let (mut parts, body) = request.into_parts();
    add_headers(&mut parts, route, Mode::Append);
    // The operator's bound on a body (`BOURSE_BODY_LIMIT_MB`): past it the component's read
    // of the body fails, as a broken upload would.
    let body = http_body_util::Limited::new(body, app.config.body_limit)
        .map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())));
    match app
        .runtime
        .handle_http(component, axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response.map(Body::new),
        Err(e) => {
            tracing::error!(component, error = %e, "component request failed");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// An answer with `status` and no body, as Spin gives for its own errors.
fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
