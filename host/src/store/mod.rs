//! Storage backends: SQL (Postgres or embedded SQLite, through sqlx) and key-value (Redis or
//! in-process). Each is chosen once at start from the configuration.

pub mod kv;
pub mod rate;
pub mod sql;
mod sql_roles;
mod sqlite_confine;

use std::time::Duration;

/// A backend operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQL failure.
    #[error("sql: {0}")]
    Sql(#[from] sqlx::Error),
    /// SQL migration failure.
    #[error("sql migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Redis failure.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Local file-system failure (embedded database directory).
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A value or statement the backend cannot take.
    #[error("{0}")]
    Invalid(String),
    /// The host's database role lacks a right that isolating components needs.
    #[error("{0}")]
    Privilege(String),
}

/// Result of a health probe.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Probe {
    /// `ok` or `down`.
    pub status: &'static str,
    /// Which backend answered.
    pub backend: &'static str,
    /// Round-trip time of the probe in milliseconds.
    pub latency_ms: f64,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    pub(crate) fn from_result(
        backend: &'static str,
        elapsed: Duration,
        result: Result<(), StoreError>,
    ) -> Probe {
        let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
        match result {
            Ok(()) => Probe {
                status: "ok",
                backend,
                latency_ms,
                error: None,
            },
            Err(e) => Probe {
                status: "down",
                backend,
                latency_ms,
                error: Some(e.to_string()),
            },
        }
    }
}
