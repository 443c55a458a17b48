//! Who is calling: the one path from a request's `Authorization: Bearer` to a principal.
//!
//! A token is looked up by its digest in the [`AuthCache`], else verified by the manifest's
//! auth component (and cached). Two extractors read that path:
//! - [`Caller`]: the principal behind the credentials, or nobody when none were presented.
//!   Application routes, `/ws`, tickets and simulations take it; a known principal draws a
//!   token from its rate bucket here, once per request, whichever route asked.
//! - [`Operator`]: `ADMIN_TOKEN` or a principal with the `ops` or `admin` role, for `/admin`
//!   and operator-only figures. The admin token is compared first, so it works even when the
//!   auth component itself is broken (when it is needed most); operators draw no rate token.
//!
//! Invariants: the principal is only ever what the auth component returned for this token
//! (cached at most `BOURSE_AUTH_CACHE_MS`, evicted at once on `auth:revoked`); a credential
//! that is present but refused is an error, never an anonymous call.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::access::AuthCache;
use super::error::ApiError;
use super::request_id::RequestId;
use crate::bindings::bourse::platform::types::Principal;
use crate::bindings::exports::bourse::platform::authenticator::{self, AuthError};
use crate::runtime::{CallError, Hold, Runtime};

/// Asks auth component `name` who presents `headers` (a fresh instance, under the
/// component's limits): `Ok(Err(..))` when it refuses them.
pub async fn authenticate(
    runtime: &Runtime,
    name: &str,
    headers: Vec<(String, String)>,
) -> Result<Result<Principal, AuthError>, CallError> {
    let component = runtime.component(name)?;
    let indices = authenticator::GuestIndices::new(component.pre()).map_err(|_| {
        CallError::MissingExport {
            name: name.to_string(),
            export: "bourse:platform/authenticator",
        }
    })?;
    // Its output is not tied to one HTTP request: it is tagged `typed-call`.
    let mut instance = component.instantiate("typed-call", Hold::Call).await?;
    let answer = async {
        let (store, handle) = instance.parts();
        let guest = indices.load(&mut *store, handle)?;
        guest.call_authenticate(store, &headers).await
    }
    .await;
    answer.map_err(|e| instance.classify(e))
}

/// The token of `headers`' `Authorization: Bearer`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Why a bearer token was not taken.
enum Refusal {
    /// The auth component says it cannot verify tokens now.
    Unavailable(String),
    /// The auth component refused the token.
    Invalid,
    /// The auth component could not be called.
    Failed(CallError),
}

/// The manifest's auth component, if it names one.
fn auth_component(app: &AppState) -> Option<String> {
    app.runtime
        .manifest()
        .application
        .tool
        .bourse()
        .auth_component
        .clone()
}

/// The principal `auth` vouches for behind `token` (one of `headers`), from the cache when
/// it was verified lately.
async fn verify(
    app: &AppState,
    auth: &str,
    token: &str,
    headers: &HeaderMap,
) -> Result<Principal, Refusal> {
    let digest = AuthCache::digest(token);
    if let Some(principal) = app.auth_cache.get(&digest) {
        return Ok(principal);
    }
    let pairs = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    match authenticate(&app.runtime, auth, pairs).await {
        Ok(Ok(principal)) => {
            app.auth_cache.put(digest, &principal);
            Ok(principal)
        }
        Ok(Err(AuthError::Unavailable(reason))) => Err(Refusal::Unavailable(reason)),
        Ok(Err(_)) => Err(Refusal::Invalid),
        Err(e) => Err(Refusal::Failed(e)),
    }
}

fn invalid_token(request_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the bearer token is not valid",
        request_id,
    )
}

/// The caller: the principal behind the request's credentials, or `None` when it presented
/// none (or no auth component is configured).
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Principal>);

impl Caller {
    /// The caller of a request with `headers`.
    pub async fn from_headers(
        app: &AppState,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Result<Caller, Response> {
        let principal = Self::verified(app, headers, request_id)
            .await
            .map_err(IntoResponse::into_response)?;
        if let Some(p) = &principal
            && let Some(response) = app.limiter.check_principal(p, request_id).await
        {
            return Err(response);
        }
        Ok(Caller(principal))
    }

    async fn verified(
        app: &AppState,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Result<Option<Principal>, ApiError> {
        let Some(auth) = auth_component(app) else {
            return Ok(None);
        };
        let Some(token) = bearer(headers) else {
            if headers.contains_key(header::AUTHORIZATION) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "the Authorization header must be `Bearer <token>`",
                    request_id,
                ));
            }
            return Ok(None);
        };
        match verify(app, &auth, token, headers).await {
            Ok(principal) => Ok(Some(principal)),
            Err(Refusal::Unavailable(reason)) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_unavailable",
                reason,
                request_id,
            )),
            Err(Refusal::Invalid) => Err(invalid_token(request_id)),
            Err(Refusal::Failed(e)) => {
                tracing::error!(request_id, component = %auth, error = %e, "auth component failed");
                Err(ApiError::from_call(&e, request_id))
            }
        }
    }

    /// The principal, or a 401 whose message begins with `needs` ("simulations need") and
    /// ends with how to present credentials.
    pub fn signed_in(self, needs: &str, request_id: &str) -> Result<Principal, ApiError> {
        self.0.ok_or_else(|| needs_credentials(needs, request_id))
    }
}

/// The 401 for a route that needs credentials none were presented for; the message begins
/// with `needs` ("simulations need").
pub fn needs_credentials(needs: &str, request_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        format!("{needs} credentials: Authorization: Bearer <access token or API key>"),
        request_id,
    )
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Caller, Response> {
        let id = RequestId::of(parts);
        Caller::from_headers(app, &parts.headers, id.as_str()).await
    }
}

/// Whether `principal` is an operator (ops or admin role).
pub fn is_operator(principal: &Principal) -> bool {
    principal.roles.iter().any(|r| r == "ops" || r == "admin")
}

/// An operator: who is calling, if they may administer the host (`admin-token` for the
/// admin token, else the principal's id).
#[derive(Debug, Clone)]
pub struct Operator(pub String);

impl Operator {
    /// The operator behind `headers`, or the error saying why there is none.
    pub async fn from_headers(
        app: &AppState,
        headers: &HeaderMap,
        request_id: &str,
    ) -> Result<Operator, ApiError> {
        let Some(token) = bearer(headers).filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "admin routes need Authorization: Bearer <ADMIN_TOKEN or an ops/admin key>",
                request_id,
            ));
        };
        if let Some(admin) = &app.config.admin_token
            && bool::from(admin.as_bytes().ct_eq(token.as_bytes()))
        {
            return Ok(Operator("admin-token".to_string()));
        }
        let denied = || {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "admin routes need the ops or admin role",
                request_id,
            )
        };
        let Some(auth) = auth_component(app) else {
            return Err(denied());
        };
        match verify(app, &auth, token, headers).await {
            Ok(p) if is_operator(&p) => Ok(Operator(p.id)),
            Ok(_) => Err(denied()),
            // An operator route says no more than that the token did not open it.
            Err(Refusal::Invalid | Refusal::Unavailable(_)) => Err(invalid_token(request_id)),
            Err(Refusal::Failed(e)) => Err(ApiError::from_call(&e, request_id)),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Operator, ApiError> {
        let id = RequestId::of(parts);
        Operator::from_headers(app, &parts.headers, id.as_str()).await
    }
}
