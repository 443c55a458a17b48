//! Stored backtest results, for `GET /api/backtests/{id}` and its chart.
//!
//! Invariants: a result is served for at most `backtest_ttl_seconds` after it was stored
//! (default [`DEFAULT_TTL_SECONDS`]): a read never returns an older one, and every write
//! deletes all older ones, whoever stored them. Each principal keeps at most `backtest_quota`
//! results (default [`DEFAULT_QUOTA`]): storing one more drops that principal's oldest, so a
//! trader running backtests from the dashboard never hits a wall, and nobody can fill the
//! store. Results live in SQL, where both prunings are one `DELETE` each.

use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::variables;

use crate::bars;

/// How long a stored result is served unless `backtest_ttl_seconds` says otherwise: 7 days.
pub const DEFAULT_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Longest `backtest_ttl_seconds` accepted: a year.
pub const MAX_TTL_SECONDS: i64 = 365 * 24 * 3600;
/// Results kept per principal unless `backtest_quota` says otherwise.
pub const DEFAULT_QUOTA: i64 = 50;
/// Largest `backtest_quota` accepted (each result is a few hundred kilobytes).
pub const MAX_QUOTA: i64 = 1000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS backtests (
    id TEXT PRIMARY KEY,
    principal TEXT NOT NULL,
    created BIGINT NOT NULL,
    body TEXT NOT NULL
)";

/// The lifetime and the per-principal quota, from the component's variables.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    ttl_micros: i64,
    quota: i64,
}

/// Reads variable `name` as an integer in `1..=max`, `default` when unset or empty; an error
/// names the variable, since a wrong value is the operator's to fix.
fn variable(name: &str, default: i64, max: i64) -> Result<i64, String> {
    let text = variables::get(name).unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(default);
    }
    text.trim()
        .parse()
        .ok()
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| format!("variable {name} = {text:?} is not a whole number from 1 to {max}"))
}

/// The configured limits, or a message naming the variable that is wrong.
pub fn limits() -> Result<Limits, String> {
    let ttl = variable("backtest_ttl_seconds", DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS)?;
    let quota = variable("backtest_quota", DEFAULT_QUOTA, MAX_QUOTA)?;
    Ok(Limits {
        ttl_micros: ttl * 1_000_000,
        quota,
    })
}

/// Microseconds since 1970: fine enough that one principal's results never share a time, so
/// "oldest" is well defined.
fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn connect() -> Result<Connection, String> {
    bars::open(SCHEMA)
}

fn run(conn: &Connection, statement: &str, params: &[Value]) -> Result<(), String> {
    conn.execute(statement, params)
        .map(|_| ())
        .map_err(|e| format!("sql: {e:?}"))
}

/// Stores `body` as result `id` of `principal`, after dropping every expired result, and then
/// drops `principal`'s oldest beyond the quota.
pub fn save(id: &str, principal: &str, body: String, limits: &Limits) -> Result<(), String> {
    let conn = connect()?;
    let now = now_micros();
    run(
        &conn,
        "DELETE FROM backtests WHERE created < ?",
        &[Value::Integer(now - limits.ttl_micros)],
    )?;
    run(
        &conn,
        "INSERT INTO backtests (id, principal, created, body) VALUES (?, ?, ?, ?)",
        &[
            Value::Text(id.to_string()),
            Value::Text(principal.to_string()),
            Value::Integer(now),
            Value::Text(body),
        ],
    )?;
    run(
        &conn,
        "DELETE FROM backtests WHERE principal = ? AND id NOT IN \
         (SELECT id FROM backtests WHERE principal = ? ORDER BY created DESC, id DESC LIMIT ?)",
        &[
            Value::Text(principal.to_string()),
            Value::Text(principal.to_string()),
            Value::Integer(limits.quota),
        ],
    )
}

/// Result `id`, unless it is unknown or expired.
pub fn load(id: &str, limits: &Limits) -> Result<Option<String>, String> {
    let conn = connect()?;
    let rows = conn
        .execute(
            "SELECT body FROM backtests WHERE id = ? AND created >= ?",
            &[
                Value::Text(id.to_string()),
                Value::Integer(now_micros() - limits.ttl_micros),
            ],
        )
        .map_err(|e| format!("sql: {e:?}"))?;
    Ok(rows.rows.first().and_then(|r| match r.values.first() {
        Some(Value::Text(body)) => Some(body.clone()),
        _ => None,
    }))
}
