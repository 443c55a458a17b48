//! `/admin`: hot swap for ops. Every route takes an [`Operator`]: `ADMIN_TOKEN` or a
//! principal with the `ops` or `admin` role (the token works even when the auth component
//! itself is broken — that is when it is needed most).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::principal::Operator;
use super::request_id::RequestId;
use crate::runtime::{
    ComponentInfo, DeployError, DeployReport, HistoryEntry, MAX_COMPONENT_BYTES, VersionInfo,
};

pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(upload))
        .routes(routes!(rollback))
        .routes(routes!(history))
}

fn deploy_error(e: &DeployError, request_id: &str) -> ApiError {
    let status = match e {
        DeployError::UnknownComponent(_) | DeployError::UnknownVersion { .. } => {
            StatusCode::NOT_FOUND
        }
        DeployError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        DeployError::NotWasm | DeployError::CoreModule(_) => StatusCode::BAD_REQUEST,
        DeployError::Contract(_)
        | DeployError::Description(_)
        | DeployError::Compile(_)
        | DeployError::Link(_)
        | DeployError::Smoke(_)
        | DeployError::Outbound(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DeployError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        DeployError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, e.code(), e.to_string(), request_id)
}

/// A component and the versions kept for rollback.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ComponentVersions {
    component: ComponentInfo,
    /// Newest first, the live one included.
    versions: Vec<VersionInfo>,
}

/// Each component with its retained versions.
#[utoipa::path(get, path = "/admin/components", tag = "admin", summary = "Components and their retained versions",
    responses(
        (status = 200, description = "Each component's state and its versions, newest first", body = [ComponentVersions]),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not ADMIN_TOKEN, ops or admin", body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(State(app): State<Arc<AppState>>, _: Operator) -> Response {
    let components: Vec<ComponentVersions> = app
        .runtime
        .components()
        .into_iter()
        .map(|component| ComponentVersions {
            versions: app.runtime.versions(&component.name).unwrap_or_default(),
            component,
        })
        .collect();
    Json(components).into_response()
}

/// Hot swap: the body is the new `.wasm`; it is checked, compiled, linked and smoke-tested
/// before new requests go to it, and requests in flight finish on the old version.
#[utoipa::path(post, path = "/admin/components/{name}", tag = "admin", summary = "Hot-swap a component",
    params(("name" = String, Path, description = "The component's id in the manifest")),
    request_body(content_type = "application/wasm",
        description = "The component's .wasm (a component, or a core module Bourse makes into one)"),
    responses(
        (status = 200, description = "Deployed: the version now live and the one it replaced", body = DeployReport),
        (status = 400, description = "Not WebAssembly, or a core module that cannot be made a component", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not ADMIN_TOKEN, ops or admin", body = ErrorBody),
        (status = 404, description = "No such component in the manifest", body = ErrorBody),
        (status = 413, description = "Larger than the largest component taken", body = ErrorBody),
        (status = 422, description = "Refused: its world's contract, compile, link, grants or smoke test", body = ErrorBody),
        (status = 503, description = "This instance cannot deploy right now", body = ErrorBody)),
    security(("bearer" = [])))]
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

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The retained version to go back to (`sha256:<hex>`); the previous one when absent.
    digest: Option<String>,
}

/// Back to a retained version (the previous one, or the digest named).
#[utoipa::path(post, path = "/admin/components/{name}/rollback", tag = "admin", summary = "Roll a component back",
    params(("name" = String, Path, description = "The component's id in the manifest")),
    request_body(content = Option<RollbackBody>, description = "Optional: the version to go back to"),
    responses(
        (status = 200, description = "Rolled back: the version now live", body = DeployReport),
        (status = 400, description = "The body is not the JSON above", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not ADMIN_TOKEN, ops or admin", body = ErrorBody),
        (status = 404, description = "No such component, or no such retained version", body = ErrorBody),
        (status = 422, description = "The version no longer loads", body = ErrorBody)),
    security(("bearer" = [])))]
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

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Most entries, newest first (default 50).
    limit: Option<i64>,
}

/// Who deployed or rolled back what, and when.
#[utoipa::path(get, path = "/admin/components/{name}/history", tag = "admin", summary = "A component's deploy history",
    params(("name" = String, Path, description = "The component's id in the manifest"), HistoryQuery),
    responses(
        (status = 200, description = "Deploys, rollbacks and refusals, newest first", body = [HistoryEntry]),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not ADMIN_TOKEN, ops or admin", body = ErrorBody),
        (status = 404, description = "No such component", body = ErrorBody)),
    security(("bearer" = [])))]
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
