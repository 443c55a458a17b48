//! The front server: native platform routes plus dispatch of application routes to
//! components.

mod admin;
mod dispatch;
pub mod error;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub use dispatch::PRINCIPAL_HEADER;

use crate::runtime::Runtime;

/// State shared by handlers.
pub struct AppState {
    /// The component runtime.
    pub runtime: Arc<Runtime>,
    /// `ADMIN_TOKEN`, accepted on `/admin` even when the auth component is down.
    pub admin_token: Option<String>,
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
pub fn router(runtime: Arc<Runtime>, admin_token: Option<String>) -> Router {
    let state = Arc::new(AppState {
        runtime,
        admin_token,
    });
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(health))
        .route("/api/components", get(components))
        .merge(admin::routes())
        .fallback(dispatch::dispatch)
        .with_state(state)
}

async fn health(State(app): State<Arc<AppState>>) -> Response {
    let platform = app.runtime.platform();
    let (sql, kv) = tokio::join!(platform.sql.probe(), platform.kv.probe());
    let components = app.runtime.components();
    let failed: Vec<&str> = components
        .iter()
        .filter(|c| c.status != "loaded")
        .map(|c| c.name.as_str())
        .collect();
    let stores_ok = sql.status == "ok" && kv.status == "ok";
    let status = if !stores_ok {
        "down"
    } else if failed.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    let body = serde_json::json!({
        "status": status,
        "checks": {"sql": sql, "kv": kv},
        "components": {"loaded": components.len() - failed.len(), "failed": failed},
    });
    let code = if stores_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn components(State(app): State<Arc<AppState>>) -> Response {
    Json(app.runtime.components()).into_response()
}
