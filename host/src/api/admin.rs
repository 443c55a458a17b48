//! `/admin`: hot swap for ops. Every route needs `ADMIN_TOKEN` or a principal with the `ops`
//! or `admin` role (the token works even when the auth component itself is broken — that is
//! when it is needed most).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::runtime::{DeployError, MAX_COMPONENT_BYTES};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/components", get(list))
        .route("/admin/components/{name}", post(upload))
        .route("/admin/components/{name}/rollback", post(rollback))
        .route("/admin/components/{name}/history", get(history))
}

/// Who is calling, if they may administer components.
pub(super) async fn operator(
    app: &AppState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
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
        return Ok("admin-token".to_string());
    }
    let denied = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admin routes need the ops or admin role",
            request_id,
        )
    };
    let Some(auth) = app
        .runtime
        .manifest()
        .application
        .tool
        .bourse
        .auth_component
        .clone()
    else {
        return Err(denied());
    };
    let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
    match app.runtime.authenticate(&auth, headers).await {
        Ok(Ok(p)) if p.roles.iter().any(|r| r == "ops" || r == "admin") => Ok(p.id),
        Ok(Ok(_)) => Err(denied()),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the bearer token is not valid",
            request_id,
        )),
        Err(e) => Err(ApiError::from_call(&e, request_id)),
    }
}

fn deploy_error(e: &DeployError, request_id: &str) -> ApiError {
    let status = match e {
        DeployError::UnknownComponent(_) | DeployError::UnknownVersion { .. } => {
            StatusCode::NOT_FOUND
        }
        DeployError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DeployError::NotWasm | DeployError::CoreModule => StatusCode::BAD_REQUEST,
        DeployError::Contract(_)
        | DeployError::Compile(_)
        | DeployError::Link(_)
        | DeployError::Smoke(_)
        | DeployError::Outbound(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.code(), e.to_string(), request_id)
}

async fn list(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let request_id = super::request_id();
    if let Err(e) = operator(&app, &headers, &request_id).await {
        return e.into_response();
    }
    let components: Vec<serde_json::Value> = app
        .runtime
        .components()
        .into_iter()
        .map(|c| {
            let versions = app.runtime.versions(&c.name).unwrap_or_default();
            serde_json::json!({"component": c, "versions": versions})
        })
        .collect();
    Json(components).into_response()
}

async fn upload(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = super::request_id();
    let actor = match operator(&app, &headers, &request_id).await {
        Ok(actor) => actor,
        Err(e) => return e.into_response(),
    };
    let bytes = match axum::body::to_bytes(body, MAX_COMPONENT_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return deploy_error(
                &DeployError::TooLarge {
                    size: MAX_COMPONENT_BYTES + 1,
                    limit: MAX_COMPONENT_BYTES,
                },
                &request_id,
            )
            .into_response();
        }
    };
    match app
        .runtime
        .deploy(&name, bytes.to_vec(), &actor, "upload")
        .await
    {
        Ok(report) => (StatusCode::OK, Json(report)).into_response(),
        Err(e) => deploy_error(&e, &request_id).into_response(),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    digest: Option<String>,
}

async fn rollback(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request_id = super::request_id();
    let actor = match operator(&app, &headers, &request_id).await {
        Ok(actor) => actor,
        Err(e) => return e.into_response(),
    };
    let parsed: RollbackBody = if body.is_empty() {
        RollbackBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("request body: {e}"),
                    &request_id,
                )
                .into_response();
            }
        }
    };
    match app
        .runtime
        .rollback(&name, parsed.digest.as_deref(), &actor)
        .await
    {
        Ok(report) => (StatusCode::OK, Json(report)).into_response(),
        Err(e) => deploy_error(&e, &request_id).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct HistoryQuery {
    limit: Option<i64>,
}

async fn history(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<HistoryQuery>,
    headers: HeaderMap,
) -> Response {
    let request_id = super::request_id();
    if let Err(e) = operator(&app, &headers, &request_id).await {
        return e.into_response();
    }
    match app.runtime.history(&name, q.limit.unwrap_or(50)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => deploy_error(&e, &request_id).into_response(),
    }
}
