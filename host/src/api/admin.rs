//! `/admin`: hot swap for ops. Every route takes an [`Operator`]: `ADMIN_TOKEN` or a
//! principal with the `ops` or `admin` role (the token works even when the auth component
//! itself is broken — that is when it is needed most).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::principal::Operator;
use super::request_id::RequestId;
use crate::runtime::{DeployError, MAX_COMPONENT_BYTES};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/components", get(list))
        .route("/admin/components/{name}", post(upload))
        .route("/admin/components/{name}/rollback", post(rollback))
        .route("/admin/components/{name}/history", get(history))
}

fn deploy_error(e: &DeployError, request_id: &str) -> ApiError {
    let status = match e {
        DeployError::UnknownComponent(_) | DeployError::UnknownVersion { .. } => {
            StatusCode::NOT_FOUND
        }
        DeployError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DeployError::NotWasm | DeployError::CoreModule(_) => StatusCode::BAD_REQUEST,
        DeployError::Contract(_)
        | DeployError::Compile(_)
        | DeployError::Link(_)
        | DeployError::Smoke(_)
        | DeployError::Outbound(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        DeployError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, e.code(), e.to_string(), request_id)
}

async fn list(State(app): State<Arc<AppState>>, _: Operator) -> Response {
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
    request_id: RequestId,
    Operator(actor): Operator,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, MAX_COMPONENT_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return deploy_error(
                &DeployError::TooLarge {
                    size: MAX_COMPONENT_BYTES + 1,
                    limit: MAX_COMPONENT_BYTES,
                },
                request_id.as_str(),
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
        Err(e) => deploy_error(&e, request_id.as_str()).into_response(),
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
    request_id: RequestId,
    Operator(actor): Operator,
    body: axum::body::Bytes,
) -> Response {
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
                    request_id.as_str(),
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
        Err(e) => deploy_error(&e, request_id.as_str()).into_response(),
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
    request_id: RequestId,
    _: Operator,
) -> Response {
    match app.runtime.history(&name, q.limit.unwrap_or(50)).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => deploy_error(&e, request_id.as_str()).into_response(),
    }
}
