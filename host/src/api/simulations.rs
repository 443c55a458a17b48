//! `/api/simulations`: start, watch, stop and read simulation runs. `POST
//! /api/simulations/preview` stays with the simulation component's own routes.
//!
//! Every route here, the fallback to the component included, reads at most the body limit
//! of application routes: an unsupported method is no way around it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::principal::{Caller, is_operator};
use super::request_id::RequestId;
use crate::bindings::bourse::platform::types::Principal;
use crate::simulation::{Entry, RunRequest, StartFailure};

/// What the 401 of an anonymous caller says needs credentials.
const NEEDS: &str = "simulations need";

pub fn routes(body_limit: usize) -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/simulations", post(start))
        .route(
            "/api/simulations/{id}",
            get(status).delete(stop).fallback(super::dispatch::dispatch),
        )
        .route("/api/simulations/{id}/bars", get(bars))
        .route("/api/simulations/{id}/trades", get(trades))
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

#[derive(serde::Deserialize)]
struct BarsQuery {
    symbol: Option<String>,
}

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

#[derive(serde::Deserialize)]
struct TradesQuery {
    limit: Option<usize>,
}

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
