//! The front server: native platform routes, `/admin`, and dispatch of application routes to
//! components, behind tower-http's hardening layers.
//!
//! The API builds no service: `server.rs` hands it [`Services`] and it serves from
//! them. Who is calling is decided in one place, [`principal`] (the [`principal::Caller`]
//! and [`principal::Operator`] extractors); every request gets its id from the outermost
//! layer, [`request_id`].

mod access;
mod admin;
mod dispatch;
pub mod error;
mod hardening;
pub mod indicators;
pub mod openapi;
pub mod principal;
pub mod request_id;
mod simulations;
mod spin;
mod ws;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use dispatch::PRINCIPAL_HEADER;

use crate::cluster::bus::HubBus;
use crate::config::Role;
use crate::events::EventHub;
use crate::market::Market;
use crate::runtime::{Platform, Runtime};
use crate::simulation::Simulations;
use crate::store::kv::KeyValue;
use crate::store::sql::Sql;
use openapi::ErrorBody;
use principal::Operator;
use request_id::RequestId;

/// Settings of the front server.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `ADMIN_TOKEN`, accepted on `/admin` even when the auth component is down.
    pub admin_token: Option<String>,
    /// Origins allowed by CORS.
    pub allowed_origins: Vec<String>,
    /// Largest request body on application routes, bytes.
    pub body_limit: usize,
    /// Backstop deadline for a whole request, above the component deadline.
    pub request_timeout: std::time::Duration,
    /// What this instance runs.
    pub role: Role,
    /// Proxies in front of the host that append to `X-Forwarded-For` (0: use the TCP peer).
    pub trusted_proxies: usize,
    /// WebSocket connections per client IP and per principal.
    pub ws_limits: ws::ConnectionLimits,
}

pub use access::{AuthCache, Limiter, RateLimits, limit as rate_limit};
pub use ws::ConnectionLimits;

/// What the API serves from: built once by `server.rs`, handed over whole.
pub struct Services {
    /// The component runtime: routes, typed calls, deploys.
    pub runtime: Arc<Runtime>,
    /// Simulation runs (their worker, on a simulation instance, already started).
    pub simulations: Arc<Simulations>,
    /// Verified credentials, briefly (already following `auth:revoked`).
    pub auth_cache: Arc<AuthCache>,
    /// Per-IP and per-principal rate limits.
    pub limiter: Limiter,
    /// The stores, the market and the event hub the runtime's components share.
    pub shared: Arc<Platform>,
}

/// State shared by handlers.
pub struct AppState {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// Front-server settings.
    pub config: ApiConfig,
    /// Changes when the server begins to shut down (WebSocket sessions close then).
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Verified credentials, briefly.
    pub auth_cache: Arc<AuthCache>,
    /// Simulation runs.
    pub simulations: Arc<Simulations>,
    /// WebSocket sessions clients may resume.
    pub sessions: ws::Sessions,
    /// WebSocket connections held, per client.
    pub connections: ws::Connections,
    /// Single-use tickets onto `/ws`.
    pub tickets: ws::Tickets,
    /// Per-IP and per-principal rate limits.
    pub limiter: Limiter,
    /// The OpenAPI description: the host's part, and its last merge with the components'.
    pub openapi: openapi::Description,
    shared: Arc<Platform>,
}

impl AppState {
    /// The event hub: rooms, tickets, sessions.
    pub fn events(&self) -> &Arc<EventHub> {
        &self.shared.events
    }

    /// The market: symbols, snapshots, engine figures.
    pub fn market(&self) -> &Market {
        &self.shared.market
    }

    /// The SQL backend, for probes and pool figures.
    pub fn sql(&self) -> &Sql {
        &self.shared.sql
    }

    /// The key-value backend, for probes.
    pub fn kv(&self) -> &KeyValue {
        &self.shared.kv
    }
}

/// The router over `services`.
pub fn router(
    services: Services,
    config: ApiConfig,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    // Installed before the first request so nothing is recorded into the no-op recorder.
    crate::telemetry::prometheus();
    let Services {
        runtime,
        simulations,
        auth_cache,
        limiter,
        shared,
    } = services;
    // Every host route is registered with its description (utoipa-axum's `routes!` reads the
    // path and method from the handler's `#[utoipa::path]`), so the two cannot drift apart.
    let (platform, description) = OpenApiRouter::with_openapi(openapi::HostApi::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        // The same three where a Spin-dialect application may have taken the plain paths.
        .routes(routes!(well_known_health))
        .routes(routes!(well_known_ready))
        .routes(routes!(well_known_metrics))
        .routes(routes!(components))
        .routes(routes!(engine_stats))
        .routes(routes!(openapi::serve))
        .routes(routes!(ws::upgrade))
        .routes(routes!(ws::ticket))
        .merge(admin::routes())
        .merge(simulations::routes(config.body_limit))
        .merge(indicators::routes(config.body_limit))
        .split_for_parts();
    let state = Arc::new(AppState {
        runtime,
        config: config.clone(),
        closing,
        auth_cache,
        simulations,
        sessions: ws::Sessions::default(),
        connections: ws::Connections::new(config.ws_limits),
        tickets: ws::Tickets::default(),
        limiter,
        openapi: openapi::Description::new(description),
        shared,
    });
    let application = Router::new().fallback(dispatch::dispatch).layer(
        tower_http::limit::RequestBodyLimitLayer::new(config.body_limit),
    );
    let routes = platform
        .merge(application)
        .layer(crate::telemetry::MatchedRouteLayer)
        .with_state(state.clone());
    let platform = hardening::harden(routes, &config, state.clone());
    if !state.runtime.spin_dialect() {
        return platform;
    }
    // A Spin-dialect application's routes are served in front of all of that, as Spin would.
    Router::new()
        .fallback_service(platform)
        .layer(axum::middleware::from_fn_with_state(state, spin::front))
}

/// `/health` where a Spin-dialect application may have taken the plain path.
#[utoipa::path(get, path = "/.well-known/bourse/health", tag = "platform", summary = "Liveness (as /health)",
    responses((status = 200, description = "The host's state", body = Object)))]
async fn well_known_health(state: State<Arc<AppState>>) -> Response {
    health(state).await
}

/// `/ready` where a Spin-dialect application may have taken the plain path.
#[utoipa::path(get, path = "/.well-known/bourse/ready", tag = "platform", summary = "Readiness (as /ready)",
    responses(
        (status = 200, description = "Stores reachable and every component loaded", body = Object),
        (status = 503, description = "What is down", body = Object)))]
async fn well_known_ready(state: State<Arc<AppState>>) -> Response {
    ready(state).await
}

/// `/metrics` where a Spin-dialect application may have taken the plain path.
#[utoipa::path(get, path = "/.well-known/bourse/metrics", tag = "platform", summary = "Prometheus metrics (as /metrics)",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        body = String, content_type = "text/plain")))]
async fn well_known_metrics(state: State<Arc<AppState>>) -> Response {
    metrics(state).await
}

struct Probes {
    body: serde_json::Value,
    stores_ok: bool,
    components_ok: bool,
}

async fn probe(app: &AppState) -> Probes {
    let (sql, kv) = tokio::join!(app.sql().probe(), app.kv().probe());
    let components = app.runtime.components();
    let failed: Vec<&str> = components
        .iter()
        .filter(|c| c.status != "loaded")
        .map(|c| c.name.as_str())
        .collect();
    let stores_ok = sql.status == "ok" && kv.status == "ok";
    let status = match (stores_ok, failed.is_empty()) {
        (true, true) => "ok",
        (true, false) => "degraded",
        (false, _) => "down",
    };
    let body = serde_json::json!({
        "status": status,
        "role": app.config.role.as_str(),
        "checks": {"sql": sql, "kv": kv},
        "components": {"loaded": components.len() - failed.len(), "failed": failed},
        "replica": app.events().bus().map_or_else(
            || serde_json::json!({"id": null, "role": app.config.role.as_str(), "cluster": null,
                "owned_shards": app.market().running_shards(), "redis": "not configured"}),
            |bus| bus.cluster().describe(&app.market().running_shards()),
        ),
    });
    Probes {
        stores_ok,
        components_ok: failed.is_empty(),
        body,
    }
}

/// Liveness: the process answers. The body says how its dependencies are.
#[utoipa::path(get, path = "/health", tag = "platform", summary = "Liveness",
    description = "Always 200 while the process answers; the body says how the stores, the \
        components and this replica are (status ok, degraded or down).",
    responses((status = 200, description = "The host's state", body = Object)))]
async fn health(State(app): State<Arc<AppState>>) -> Response {
    (StatusCode::OK, Json(probe(&app).await.body)).into_response()
}

/// Readiness: 503 naming what is down while a store is unreachable or a component failed.
#[utoipa::path(get, path = "/ready", tag = "platform", summary = "Readiness",
    responses(
        (status = 200, description = "Stores reachable and every component loaded", body = Object),
        (status = 503, description = "What is down: the same body as /health", body = Object)))]
async fn ready(State(app): State<Arc<AppState>>) -> Response {
    let p = probe(&app).await;
    let code = if p.stores_ok && p.components_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(p.body)).into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "platform", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        body = String, content_type = "text/plain")))]
async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    metrics::gauge!("process_resident_memory_bytes").set(crate::telemetry::resident_bytes() as f64);
    if let Some((used, free)) = crate::telemetry::heap_bytes() {
        metrics::gauge!("process_heap_in_use_bytes").set(used as f64);
        metrics::gauge!("process_heap_free_bytes").set(free as f64);
    }
    let pool = app.sql().main();
    let idle = pool.num_idle() as f64;
    metrics::gauge!("sql_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("sql_pool_connections", "state" => "busy").set(f64::from(pool.size()) - idle);
    let components = app.runtime.components();
    metrics::gauge!("components_loaded")
        .set(components.iter().filter(|c| c.status == "loaded").count() as f64);
    let text = crate::telemetry::prometheus().render();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}

/// Matching engine figures: commands per second, journal position and lag, book sizes.
/// Engine counters for anyone; `?state_hash=true` (operators only) adds each shard's state
/// hash, which makes every shard walk its books.
#[utoipa::path(get, path = "/api/engine/stats", tag = "platform", summary = "Matching engine figures",
    params(("state_hash" = Option<bool>, Query,
        description = "Add each shard's state hash (ops or admin only: every shard walks its books)")),
    responses(
        (status = 200, description = "Commands per second, journal position and lag, book sizes", body = Object),
        (status = 400, description = "A parameter other than state_hash", body = ErrorBody),
        (status = 401, description = "state_hash=true without credentials", body = ErrorBody),
        (status = 403, description = "state_hash=true without the ops or admin role", body = ErrorBody)),
    security((), ("bearer" = [])))]
async fn engine_stats(
    State(app): State<Arc<AppState>>,
    id: RequestId,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let bad = |message: String| {
        error::ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_parameter",
            message,
            id.as_str(),
        )
        .into_response()
    };
    let mut with_state_hash = false;
    for pair in query.as_deref().unwrap_or_default().split('&') {
        match pair {
            "" | "state_hash=false" => {}
            "state_hash=true" => with_state_hash = true,
            other => {
                return bad(format!(
                    "{other:?} is not a parameter of /api/engine/stats (only state_hash=true|false)"
                ));
            }
        }
    }
    if with_state_hash && let Err(e) = Operator::from_headers(&app, &headers, id.as_str()).await {
        return e.into_response();
    }
    Json(app.market().stats(with_state_hash).await).into_response()
}

/// Components with their sources and digests: for operators (ops or admin role).
#[utoipa::path(get, path = "/api/components", tag = "platform", summary = "Components, their state and digests",
    responses(
        (status = 200, description = "Each component: loaded or failed (and why), world, digest, limits", body = [crate::runtime::ComponentInfo]),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "Not ops or admin", body = ErrorBody)),
    security(("bearer" = [])))]
async fn components(State(app): State<Arc<AppState>>, _: Operator) -> Response {
    Json(app.runtime.components()).into_response()
}
