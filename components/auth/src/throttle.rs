//! Login throttling against password guessing, in the component's SQL database (Postgres when
//! configured, so every replica counts the same attempts).
//!
//! Every attempt is counted *before* its password is checked, with a compare-and-set on the
//! stored count, so parallel guesses cannot all slip past one read. Attempts are counted in
//! three scopes: per username from one client (the tight one), per client across usernames
//! (one machine trying many accounts), and per username across clients (a botnet against one
//! account, with a much larger allowance). Past a scope's allowance the next attempt must wait
//! a backoff that doubles up to a cap — never a lock that lasts while an attacker keeps trying:
//! refused attempts are not counted, and a stranger's failures against `alice` from their own
//! address do not slow `alice` down at hers. Rows expire `WINDOW_MS` after their last attempt
//! and are pruned as attempts fail.

use spin_sdk::sqlite::{Connection, Value};

use crate::accounts::{Unavailable, connect, sql};

/// The table of attempt counters (created with the component's other tables).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS login_attempts (
    scope TEXT PRIMARY KEY,
    attempts BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
)";

/// A counter is forgotten this long after its last attempt.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Attempts per username from one client before backoff.
pub const PER_PAIR: i64 = 5;
/// Attempts per client, across usernames, before backoff.
pub const PER_CLIENT: i64 = 50;
/// Attempts per username, across clients, before backoff.
pub const PER_NAME: i64 = 100;
/// The first wait past an allowance; each further attempt doubles it.
const FIRST_BACKOFF_MS: i64 = 10_000;
/// The longest wait.
const MAX_BACKOFF_MS: i64 = WINDOW_MS;
/// Compare-and-set retries before an attempt is refused as contended.
const CAS_TRIES: usize = 16;

/// Why an attempt may not go ahead.
pub enum Refused {
    /// Wait this many seconds.
    Wait(u64),
    /// The store failed.
    Unavailable(Unavailable),
}

impl From<Unavailable> for Refused {
    fn from(e: Unavailable) -> Self {
        Refused::Unavailable(e)
    }
}

fn scopes(username: &str, client: &str) -> [(String, i64); 3] {
    // Usernames are case-sensitive accounts, but a scope must not be split by case variants
    // of one name that all miss.
    let name = username.to_ascii_lowercase();
    [
        (format!("pair:{name}|{client}"), PER_PAIR),
        (format!("client:{client}"), PER_CLIENT),
        (format!("name:{name}"), PER_NAME),
    ]
}

/// The wait after `count` attempts against an allowance of `free`.
fn backoff_ms(count: i64, free: i64) -> i64 {
    let over = (count - free).clamp(0, 20) as u32;
    FIRST_BACKOFF_MS
        .saturating_mul(1 << over)
        .min(MAX_BACKOFF_MS)
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(i)) => Some(*i),
        _ => None,
    }
}

/// Counts one attempt in `scope`, unless it is in backoff.
fn count(conn: &Connection, scope: &str, free: i64, now: i64) -> Result<(), Refused> {
    for _ in 0..CAS_TRIES {
        let rows = conn
            .execute(
                "SELECT attempts, last_ms, expires_ms FROM login_attempts WHERE scope = ?",
                &[Value::Text(scope.to_string())],
            )
            .map_err(sql)?;
        let current = rows.rows.first().map(|r| {
            (
                integer(r.values.first()).unwrap_or(0),
                integer(r.values.get(1)).unwrap_or(0),
                integer(r.values.get(2)).unwrap_or(0),
            )
        });
        let written = match current {
            Some((count, last, expires)) => {
                let live = if expires > now { count } else { 0 };
                if live >= free {
                    let until = last + backoff_ms(live, free);
                    if now < until {
                        return Err(Refused::Wait(((until - now) as u64).div_ceil(1000)));
                    }
                }
                conn.execute(
                    "UPDATE login_attempts SET attempts = ?, last_ms = ?, expires_ms = ?
                     WHERE scope = ? AND attempts = ? AND last_ms = ? RETURNING scope",
                    &[
                        Value::Integer(live + 1),
                        Value::Integer(now),
                        Value::Integer(now + WINDOW_MS),
                        Value::Text(scope.to_string()),
                        Value::Integer(count),
                        Value::Integer(last),
                    ],
                )
                .map_err(sql)?
            }
            None => conn
                .execute(
                    "INSERT INTO login_attempts (scope, attempts, last_ms, expires_ms)
                     VALUES (?, 1, ?, ?) ON CONFLICT (scope) DO NOTHING RETURNING scope",
                    &[
                        Value::Text(scope.to_string()),
                        Value::Integer(now),
                        Value::Integer(now + WINDOW_MS),
                    ],
                )
                .map_err(sql)?,
        };
        if !written.rows.is_empty() {
            return Ok(());
        }
    }
    // Lost every race: as many attempts as that at once are themselves a reason to wait.
    Err(Refused::Wait(1))
}

/// Counts a sign-in attempt for `username` from `client`, or says how long to wait first.
pub fn attempt(username: &str, client: &str, now_ms: u64) -> Result<(), Refused> {
    let conn = connect()?;
    let now = now_ms as i64;
    for (scope, free) in scopes(username, client) {
        count(&conn, &scope, free, now)?;
    }
    Ok(())
}

/// After a failed attempt: drops counters whose window has passed.
pub fn failed(now_ms: u64) {
    if let Ok(conn) = connect() {
        let _ = conn.execute(
            "DELETE FROM login_attempts WHERE expires_ms < ?",
            &[Value::Integer(now_ms as i64)],
        );
    }
}

/// After a successful sign-in: the pair starts over, and the wider scopes forget this attempt
/// (a user signing in often does not use up their address's allowance).
pub fn succeeded(username: &str, client: &str) {
    let Ok(conn) = connect() else { return };
    let [(pair, _), (client_scope, _), (name, _)] = scopes(username, client);
    let _ = conn.execute(
        "DELETE FROM login_attempts WHERE scope = ?",
        &[Value::Text(pair)],
    );
    for scope in [client_scope, name] {
        let _ = conn.execute(
            "UPDATE login_attempts SET attempts = attempts - 1 WHERE scope = ? AND attempts > 0",
            &[Value::Text(scope)],
        );
    }
}
