//! Application routes: find the manifest route, authenticate the caller with the auth
//! component, and hand the request to the component's `wasi:http` handler.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::AppState;
use super::error::ApiError;
use super::principal::{Caller, needs_credentials};
use super::request_id::RequestId;
use crate::manifest::Route;

/// Header carrying the authenticated principal to components (JSON); never taken from clients.
pub const PRINCIPAL_HEADER: &str = "x-bourse-principal";
/// Header carrying the client's address as the host resolved it (behind its trusted
/// proxies), for components that count per client (sign-in throttling); never taken from
/// clients.
pub const CLIENT_IP_HEADER: &str = "x-bourse-client-ip";

/// Serves every path that is not a platform route.
pub async fn dispatch(
    State(app): State<Arc<AppState>>,
    request_id: RequestId,
    request: Request,
) -> Response {
    let app = app.as_ref();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let Some(route) = app.runtime.manifest().routes.find(&path) else {
        if app.runtime.spin_dialect() {
            let mut response = StatusCode::NOT_FOUND.into_response();
            response.extensions_mut().insert(super::spin::NoRoute);
            return response;
        }
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {method} {path}"),
            request_id.as_str(),
        )
        .into_response();
    };
    let label = crate::telemetry::RouteLabel(route.pattern.clone());
    let mut response = serve(app, request, route, request_id.as_str()).await;
    super::request_id::stamp(&mut response, &request_id);
    response.extensions_mut().insert(label);
    response
}

/// Serves `request` with `route`'s component, after the role and credential checks (and the
/// principal's rate, in [`Caller`]; the IP's was taken in front of every route).
async fn serve(app: &AppState, request: Request, route: &Route, request_id: &str) -> Response {
    let component = &route.component;
    let path = request.uri().path().to_string();
    let roles = app.runtime.roles_of(component);
    if roles.iter().any(|r| r == "simulation")
        && let Err(e) = app.runtime.check_memory()
    {
        return ApiError::from_call(&e, request_id).into_response();
    }
    if !app.runtime.runs_roles(&roles) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_served_here",
            format!(
                "{path} is served by instances with role {} (this one runs {})",
                roles.join(" or "),
                app.config.role.as_str()
            ),
            request_id,
        )
        .into_response();
    }
    let (mut parts, body) = request.into_parts();
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let spin = if app
        .runtime
        .manifest()
        .application
        .tool
        .bourse()
        .spin_headers
    {
        super::spin::Mode::Replace
    } else {
        super::spin::Mode::Remove
    };
    super::spin::add_headers(&mut parts, route, spin);
    parts.headers.remove(PRINCIPAL_HEADER);
    parts.headers.remove(CLIENT_IP_HEADER);
    let principal = match Caller::from_headers(app, &parts.headers, request_id).await {
        Ok(Caller(p)) => p,
        Err(response) => return response,
    };
    // A public pattern opens `path` only if it is at least as specific as the route serving
    // it: the dashboard's public `/...` must not open `/api/orders/...`.
    let public = app
        .runtime
        .manifest()
        .public
        .as_ref()
        .is_none_or(|p| p.covers(&path, route));
    if principal.is_none() && !public {
        return needs_credentials(&format!("{path} needs"), request_id).into_response();
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = super::access::client_ip(&parts.headers, peer, app.config.trusted_proxies)
        && let Ok(value) = HeaderValue::from_str(&ip.to_string())
    {
        parts.headers.insert(CLIENT_IP_HEADER, value);
    }
    if let Some(principal) = principal {
        let json = serde_json::json!({"id": principal.id, "roles": principal.roles}).to_string();
        if let Ok(value) = HeaderValue::from_str(&json) {
            parts.headers.insert(PRINCIPAL_HEADER, value);
        }
    }
    call_component(app, component, parts, body, request_id).await
}

async fn call_component(
    app: &AppState,
    component: &str,
    parts: axum::http::request::Parts,
    body: Body,
    request_id: &str,
) -> Response {
    let body = body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())));
    match app
        .runtime
        .handle_http(component, axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            let mut response = response.map(Body::new);
            // A component's own answer reaches the client as written, whatever its type.
            response
                .extensions_mut()
                .insert(super::hardening::ComponentAnswer);
            response
        }
        Err(e) => {
            tracing::error!(request_id, component = %component, error = %e, "component request failed");
            ApiError::from_call(&e, request_id).into_response()
        }
    }
}
