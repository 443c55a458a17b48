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
use crate::bindings::bourse::platform::types::Principal;
use crate::bindings::exports::bourse::platform::authenticator::AuthError;
use crate::manifest::Route;

/// Header carrying the authenticated principal to components (JSON); never taken from clients.
pub const PRINCIPAL_HEADER: &str = "x-bourse-principal";
/// Header carrying the client's address as the host resolved it (behind its trusted
/// proxies), for components that count per client (sign-in throttling); never taken from
/// clients.
pub const CLIENT_IP_HEADER: &str = "x-bourse-client-ip";

/// Serves every path that is not a platform route.
pub async fn dispatch(State(app): State<Arc<AppState>>, request: Request) -> Response {
    let app = app.as_ref();
    let request_id = super::request_id();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let Some(route) = app.runtime.manifest().routes.find(&path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {method} {path}"),
            &request_id,
        )
        .into_response();
    };
    let label = crate::telemetry::RouteLabel(route.pattern.clone());
    let mut response = serve(app, request, route, request_id).await;
    response.extensions_mut().insert(label);
    response
}

/// The principal behind `headers`' credentials, through the manifest's auth component;
/// `None` when no credentials were presented or no auth component is configured. A known
/// principal draws a token from its rate bucket here, once per request, whichever route asked.
pub(super) async fn authenticate(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    request_id: &str,
) -> Result<Option<Principal>, Box<Response>> {
    let principal = verify(app, headers, request_id).await?;
    if let Some(p) = &principal
        && let Some(response) = app.limiter.check_principal(p, request_id).await
    {
        return Err(Box::new(response));
    }
    Ok(principal)
}

/// The token of `headers`' `Authorization: Bearer`, if any.
pub(super) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

async fn verify(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    request_id: &str,
) -> Result<Option<Principal>, Box<Response>> {
    let auth_component = app
        .runtime
        .manifest()
        .application
        .tool
        .bourse
        .auth_component
        .clone();
    let Some(auth) = auth_component else {
        return Ok(None);
    };
    let Some(token) = bearer(headers) else {
        if headers.contains_key(header::AUTHORIZATION) {
            return Err(Box::new(
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "the Authorization header must be `Bearer <token>`",
                    request_id,
                )
                .into_response(),
            ));
        }
        return Ok(None);
    };
    let digest = super::access::AuthCache::digest(token);
    if let Some(principal) = app.auth_cache.get(&digest) {
        return Ok(Some(principal));
    }
    let pairs = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    let status = |code, kind: &'static str, message: String| {
        Err(Box::new(
            ApiError::new(code, kind, message, request_id).into_response(),
        ))
    };
    match app.runtime.authenticate(&auth, pairs).await {
        Ok(Ok(principal)) => {
            app.auth_cache.put(digest, &principal);
            Ok(Some(principal))
        }
        Ok(Err(AuthError::Unavailable(reason))) => {
            status(StatusCode::SERVICE_UNAVAILABLE, "auth_unavailable", reason)
        }
        Ok(Err(_)) => status(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the bearer token is not valid".into(),
        ),
        Err(e) => {
            tracing::error!(request_id, component = %auth, error = %e, "auth component failed");
            Err(Box::new(
                ApiError::from_call(&e, request_id).into_response(),
            ))
        }
    }
}

/// Serves `request` with `route`'s component, after the role and credential checks (and the
/// principal's rate, in [`authenticate`]; the IP's was taken in front of every route).
async fn serve(app: &AppState, request: Request, route: &Route, request_id: String) -> Response {
    let component = &route.component;
    let path = request.uri().path().to_string();
    let roles = app.runtime.roles_of(component);
    if roles.iter().any(|r| r == "simulation")
        && let Err(e) = app.runtime.check_memory()
    {
        return ApiError::from_call(&e, &request_id).into_response();
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
            &request_id,
        )
        .into_response();
    }
    let (mut parts, body) = request.into_parts();
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        parts.headers.insert("x-request-id", id);
    }
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    if app.runtime.spin_compat() {
        // Spin has no auth layer and no rate limits: the request reaches the component as the
        // client sent it, `x-bourse-principal` included (which is why this mode is for local
        // development only).
        return call_component(app, component, parts, body, request_id).await;
    }
    parts.headers.remove(PRINCIPAL_HEADER);
    parts.headers.remove(CLIENT_IP_HEADER);
    let principal = match authenticate(app, &parts.headers, &request_id).await {
        Ok(p) => p,
        Err(response) => return *response,
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
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("{path} needs credentials: Authorization: Bearer <access token or API key>"),
            &request_id,
        )
        .into_response();
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
    request_id: String,
) -> Response {
    let body = body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())));
    match app
        .runtime
        .handle_http(component, axum::http::Request::from_parts(parts, body))
        .await
    {
        Ok(response) => {
            let mut response = response.map(Body::new);
            if let Ok(id) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", id);
            }
            // A component's own answer reaches the client as written, whatever its type.
            response
                .extensions_mut()
                .insert(super::hardening::ComponentAnswer);
            response
        }
        Err(e) => {
            tracing::error!(request_id, component = %component, error = %e, "component request failed");
            ApiError::from_call(&e, &request_id).into_response()
        }
    }
}
