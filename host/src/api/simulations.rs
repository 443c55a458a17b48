//! `/api/simulations`: start, watch, stop and read simulation runs. `POST
//! /api/simulations/preview` stays with the simulation component's own routes.
//!
//! Every route here, the fallback to the component included, reads at most the body limit
//! of application routes: an unsupported method is no way around it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::principal::{Caller, is_operator};
use super::request_id::RequestId;
use crate::bindings::bourse::platform::types::Principal;
use crate::simulation::{Entry, RunRequest, StartFailure};

/// What the 401 of an anonymous caller says needs credentials.
const NEEDS: &str = "simulations need";

pub fn routes(body_limit: usize) -> OpenApiRouter<Arc<AppState>> {
    // Other methods on `/api/simulations/{id}` (`POST /api/simulations/preview`) go on to the
    // simulation component, which describes them itself.
    let (schemas, paths, by_id) = routes!(status, stop);
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes((schemas, paths, by_id.fallback(super::dispatch::dispatch)))
        .routes(routes!(bars))
        .routes(routes!(trades))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
}

/// Ops and admin see every run, may run live, and are held only by the instance's run cap.
fn privileged(who: &Principal) -> bool {
    is_operator(who)
}

/// The run `id`, if the caller may see it (its owner, or ops/admin).
fn visible(app: &AppState, caller: Caller, id: &str, request_id: &str) -> Result<Entry, ApiError> {
    let who = caller.signed_in(NEEDS, request_id)?;
    match app.simulations.get(id) {
        Some(run) if privileged(&who) || run.owner() == who.id => Ok(run),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_simulation",
            format!("no simulation {id} of yours"),
            request_id,
        )),
    }
}

/// Starts a run; it goes on in the background and streams on `/ws`.
#[utoipa::path(post, path = "/api/simulations", tag = "simulations", summary = "Start a simulation run",
    request_body = RunRequest,
    responses(
        (status = 202, description = "Started: the run's id and state", body = Object),
        (status = 400, description = "The body or the scenario is not valid (the message names the field)", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "A live run without the admin or ops role", body = ErrorBody),
        (status = 413, description = "The body is larger than the application's body limit", body = ErrorBody),
        (status = 429, description = "Too many runs for this caller or instance", body = ErrorBody),
        (status = 503, description = "The generator component is not available", body = ErrorBody)),
    security(("bearer" = [])))]
async fn start(
    State(app): State<Arc<AppState>>,
    request_id: RequestId,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id.as_str();
    // Authenticated here rather than by an extractor: the body is read first, as it always
    // was, so an oversized body is refused before the auth component is asked.
    let who = match Caller::from_headers(&app, &headers, request_id).await {
        Ok(caller) => match caller.signed_in(NEEDS, request_id) {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        },
        Err(r) => return r,
    };
    // Through axum's JSON reader so a type error names the field's path (`scenario.seed`).
    let request: RunRequest = match Json::<RunRequest>::from_bytes(&body) {
        Ok(Json(r)) => r,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("simulation request: {}", e.body_text()),
                request_id,
            )
            .into_response();
        }
    };
    let privileged = privileged(&who);
    if request.live && !privileged {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a live run trades on the real books and needs the admin or ops role",
            request_id,
        )
        .into_response();
    }
    match app.simulations.start(&who.id, privileged, request).await {
        Ok(run) => (StatusCode::ACCEPTED, Json(app.simulations.view(&run).await)).into_response(),
        Err(StartFailure::Invalid(message)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scenario",
            message,
            request_id,
        )
        .into_response(),
        Err(StartFailure::TooMany(message)) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_runs",
            message,
            request_id,
        )
        .into_response(),
        Err(StartFailure::Call(e)) => ApiError::from_call(&e, request_id).into_response(),
    }
}

/// A run's state and figures.
#[utoipa::path(get, path = "/api/simulations/{id}", tag = "simulations", summary = "A run's state",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run's state and figures", body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such run of the caller's", body = ErrorBody)),
    security(("bearer" = [])))]
async fn status(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    request_id: RequestId,
    caller: Caller,
) -> Response {
    let request_id = request_id.as_str();
    let run = match visible(&app, caller, &id, request_id) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    Json(app.simulations.view(&run).await).into_response()
}

/// Stops a run; its results stay readable.
#[utoipa::path(delete, path = "/api/simulations/{id}", tag = "simulations", summary = "Stop a run",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "Stopping: the run's state", body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such run of the caller's", body = ErrorBody)),
    security(("bearer" = [])))]
async fn stop(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    request_id: RequestId,
    caller: Caller,
) -> Response {
    let request_id = request_id.as_str();
    let run = match visible(&app, caller, &id, request_id) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    app.simulations.stop(&run).await;
    (StatusCode::ACCEPTED, Json(app.simulations.view(&run).await)).into_response()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BarsQuery {
    /// One of the scenario's symbols (its first when absent).
    symbol: Option<String>,
}

/// A run's price bars for one symbol.
#[utoipa::path(get, path = "/api/simulations/{id}/bars", tag = "simulations", summary = "A run's bars",
    params(("id" = String, Path, description = "The run's id"), BarsQuery),
    responses(
        (status = 200, description = "The symbol and its bars, oldest first", body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such run of the caller's, or the symbol is not in it", body = ErrorBody)),
    security(("bearer" = [])))]
async fn bars(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<BarsQuery>,
    request_id: RequestId,
    caller: Caller,
) -> Response {
    let request_id = request_id.as_str();
    let run = match visible(&app, caller, &id, request_id) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    let symbol = q
        .symbol
        .or_else(|| run.request().scenario.symbols.first().cloned())
        .unwrap_or_default();
    match app.simulations.bars(&run, &symbol).await {
        Some(bars) => Json(bars).into_response(),
        None if run.request().scenario.symbols.contains(&symbol) => Json(serde_json::json!({
            "symbol": symbol, "bars": [],
        }))
        .into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_symbol",
            format!("symbol {symbol:?} is not in this simulation"),
            request_id,
        )
        .into_response(),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TradesQuery {
    /// Most trades, newest first: 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A run's latest trades.
#[utoipa::path(get, path = "/api/simulations/{id}/trades", tag = "simulations", summary = "A run's trades",
    params(("id" = String, Path, description = "The run's id"), TradesQuery),
    responses(
        (status = 200, description = "The latest trades, newest first", body = Object),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 404, description = "No such run of the caller's", body = ErrorBody)),
    security(("bearer" = [])))]
async fn trades(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<TradesQuery>,
    request_id: RequestId,
    caller: Caller,
) -> Response {
    let request_id = request_id.as_str();
    let run = match visible(&app, caller, &id, request_id) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Json(serde_json::json!({"trades": app.simulations.trades(&run, limit).await})).into_response()
}
