//! The front server: native platform routes, `/admin`, and dispatch of application routes to
//! components, behind tower-http's hardening layers.

mod access;
mod admin;
mod dispatch;
pub mod error;
mod hardening;
mod simulations;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub use dispatch::PRINCIPAL_HEADER;

use crate::cluster::bus::HubBus;
use crate::config::Role;
use crate::runtime::Runtime;

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
    /// How long verified credentials are cached.
    pub auth_cache_ttl: std::time::Duration,
    /// Requests per second per principal and per client IP (`None`: no limit).
    pub rate_limits: access::RateLimits,
    /// Proxies in front of the host that append to `X-Forwarded-For` (0: use the TCP peer).
    pub trusted_proxies: usize,
    /// Where big simulation runs go.
    pub delegation: crate::simulation::Delegation,
    /// Redis stream of delegated runs.
    pub sim_queue: String,
    /// WebSocket connections per client IP and per principal.
    pub ws_limits: ws::ConnectionLimits,
}

pub use access::{AuthCache, RateLimits, limit as rate_limit};
pub use ws::ConnectionLimits;

/// State shared by handlers.
pub struct AppState {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// Front-server settings.
    pub config: ApiConfig,
    /// Changes when the server begins to shut down (WebSocket sessions close then).
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Verified credentials, briefly.
    pub auth_cache: Arc<access::AuthCache>,
    /// Simulation runs.
    pub simulations: Arc<crate::simulation::Simulations>,
    /// WebSocket sessions clients may resume.
    pub sessions: ws::Sessions,
    /// WebSocket connections held, per client.
    pub connections: ws::Connections,
    /// Single-use tickets onto `/ws`.
    pub tickets: ws::Tickets,
    /// Per-IP and per-principal rate limits.
    pub limiter: access::Limiter,
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A request id unique within the process and unlikely to repeat across restarts.
pub fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| getrandom::u32().unwrap_or(0));
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:08x}-{n:x}")
}

/// The router.
pub fn router(
    runtime: Arc<Runtime>,
    config: ApiConfig,
    closing: tokio::sync::watch::Receiver<bool>,
) -> Router {
    // Installed before the first request so nothing is recorded into the no-op recorder.
    crate::telemetry::prometheus();
    let auth_cache = Arc::new(access::AuthCache::new(config.auth_cache_ttl));
    auth_cache.follow_revocations(&runtime.platform().events);
    let simulations = Arc::new(crate::simulation::Simulations::new(
        runtime.platform().kv.redis(),
        config.sim_queue.clone(),
        config.delegation.clone(),
    ));
    simulations.spawn_worker(runtime.clone(), simulations::COMPONENT);
    let limiter = access::Limiter::new(
        config.rate_limits,
        config.trusted_proxies,
        &runtime.platform().kv,
    );
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
    });
    let platform = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/components", get(components))
        .route("/api/engine/stats", get(engine_stats))
        .route("/ws", get(ws::upgrade))
        .route("/api/ws/ticket", axum::routing::post(ws::ticket))
        .merge(admin::routes())
        .merge(simulations::routes(config.body_limit));
    let application = Router::new().fallback(dispatch::dispatch).layer(
        tower_http::limit::RequestBodyLimitLayer::new(config.body_limit),
    );
    // Inside the hardening layers, so a 429 gets the security headers and CORS like any answer.
    let routes = platform
        .merge(application)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::limit_requests,
        ));
    hardening::harden(routes, &config).with_state(state)
}

struct Probes {
    body: serde_json::Value,
    stores_ok: bool,
    components_ok: bool,
}

async fn probe(app: &AppState) -> Probes {
    let platform = app.runtime.platform();
    let (sql, kv) = tokio::join!(platform.sql.probe(), platform.kv.probe());
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
        "replica": platform.events.bus().map_or_else(
            || serde_json::json!({"id": null, "role": app.config.role.as_str(), "cluster": null,
                "owned_shards": platform.market.running_shards(), "redis": "not configured"}),
            |bus| bus.cluster().describe(&platform.market.running_shards()),
        ),
    });
    Probes {
        stores_ok,
        components_ok: failed.is_empty(),
        body,
    }
}

/// Liveness: the process answers. The body says how its dependencies are.
async fn health(State(app): State<Arc<AppState>>) -> Response {
    (StatusCode::OK, Json(probe(&app).await.body)).into_response()
}

/// Readiness: 503 naming what is down while a store is unreachable or a component failed.
async fn ready(State(app): State<Arc<AppState>>) -> Response {
    let p = probe(&app).await;
    let code = if p.stores_ok && p.components_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(p.body)).into_response()
}

async fn metrics(State(app): State<Arc<AppState>>) -> Response {
    metrics::gauge!("process_resident_memory_bytes").set(crate::telemetry::resident_bytes() as f64);
    let pool = app.runtime.platform().sql.main();
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

/// Matching engine figures: commands per second, journal position and lag, book sizes and
/// each shard's state hash.
/// Engine counters for anyone; `?state_hash=true` (operators only) adds each shard's state
/// hash, which makes every shard walk its books.
async fn engine_stats(
    State(app): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let id = request_id();
    let bad = |message: String| {
        error::ApiError::new(StatusCode::BAD_REQUEST, "unknown_parameter", message, &id)
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
    if with_state_hash && let Err(e) = admin::operator(&app, &headers, &id).await {
        return e.into_response();
    }
    Json(app.runtime.platform().market.stats(with_state_hash).await).into_response()
}

/// Components with their sources and digests: for operators (ops or admin role).
async fn components(State(app): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    if let Err(e) = admin::operator(&app, &headers, &request_id()).await {
        return e.into_response();
    }
    Json(app.runtime.components()).into_response()
}
