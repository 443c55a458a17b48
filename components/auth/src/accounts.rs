//! Users (argon2id password hashes and roles) and refresh tokens in the component's SQL
//! database. Refresh tokens rotate: each use returns a new one and marks the old one used; a
//! used one presented again means it was copied, so its whole family (every token descended
//! from the same login) is revoked.

use sha2::{Digest, Sha256};
use spin_sdk::sqlite::{Connection, Value};

const SCHEMA: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        roles TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        family TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS api_keys (
        key_hash TEXT PRIMARY KEY,
        principal TEXT NOT NULL,
        roles TEXT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )",
    // Keys were once issued to bare names: `ops` meant the operator (unless a user had taken
    // that name), any other name a user. Ids now name their kind (see `identity`).
    "UPDATE api_keys SET principal = CASE
        WHEN principal = 'ops' AND NOT EXISTS (SELECT 1 FROM users WHERE username = 'ops')
        THEN 'operator' ELSE 'user:' || principal END
     WHERE principal NOT LIKE '%:%' AND principal <> 'operator'",
    crate::throttle::SCHEMA,
];

/// How long a refresh token lives.
pub const REFRESH_TTL_MS: u64 = 30 * 24 * 3600 * 1000;
/// Refresh tokens start with this.
const REFRESH_PREFIX: &str = "br_";

/// A store failure (the detail is logged, not shown).
pub struct Unavailable(pub String);

pub fn sql<E: std::fmt::Debug>(e: E) -> Unavailable {
    Unavailable(format!("sql: {e:?}"))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection to the component's database, with its tables in place.
pub fn connect() -> Result<Connection, Unavailable> {
    let conn = Connection::open("default").map_err(sql)?;
    for statement in SCHEMA {
        conn.execute(statement, &[]).map_err(sql)?;
    }
    Ok(conn)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Integer(i)) => Some(*i),
        _ => None,
    }
}

/// Splits a stored role list.
pub fn roles_of(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect()
}

/// A stored user.
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
}

/// Creates a user; `Ok(false)` if the name is taken.
pub fn create_user(
    username: &str,
    password_hash: &str,
    roles: &[String],
) -> Result<bool, Unavailable> {
    let conn = connect()?;
    if find_user(username)?.is_some() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO users (username, password_hash, roles, created_ms) VALUES (?, ?, ?, ?)",
        &[
            Value::Text(username.to_string()),
            Value::Text(password_hash.to_string()),
            Value::Text(roles.join(",")),
            Value::Integer(now_ms() as i64),
        ],
    )
    // Two registrations racing for one name: the primary key lets one win.
    .map(|_| true)
    .or_else(|_| find_user(username).map(|u| u.is_none()))
}

/// The user called `username`.
pub fn find_user(username: &str) -> Result<Option<User>, Unavailable> {
    let rows = connect()?
        .execute(
            "SELECT username, password_hash, roles FROM users WHERE username = ?",
            &[Value::Text(username.to_string())],
        )
        .map_err(sql)?;
    Ok(rows.rows.first().and_then(|row| {
        Some(User {
            username: text(row.values.first())?,
            password_hash: text(row.values.get(1))?,
            roles: roles_of(&text(row.values.get(2))?),
        })
    }))
}

/// Replaces `username`'s roles; `Ok(false)` if there is no such user.
pub fn set_roles(username: &str, roles: &[String]) -> Result<bool, Unavailable> {
    if find_user(username)?.is_none() {
        return Ok(false);
    }
    connect()?
        .execute(
            "UPDATE users SET roles = ? WHERE username = ?",
            &[
                Value::Text(roles.join(",")),
                Value::Text(username.to_string()),
            ],
        )
        .map_err(sql)?;
    Ok(true)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String, Unavailable> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Unavailable(format!("random: {e}")))?;
    Ok(hex::encode(buf))
}

/// Issues a refresh token for `username` in `family` (a new family for a fresh login);
/// `None` if the family was revoked meanwhile (a reuse detected while this one was issued).
pub fn issue_refresh(username: &str, family: Option<&str>) -> Result<Option<String>, Unavailable> {
    let token = format!("{REFRESH_PREFIX}{}", random_hex(32)?);
    let family = match family {
        Some(f) => f.to_string(),
        None => random_hex(16)?,
    };
    let conn = connect()?;
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, username, family, expires_ms) VALUES (?, ?, ?, ?)",
        &[
            Value::Text(digest(&token)),
            Value::Text(username.to_string()),
            Value::Text(family.clone()),
            Value::Integer((now_ms() + REFRESH_TTL_MS) as i64),
        ],
    )
    .map_err(sql)?;
    // A reuse revoking the family between the spend and the insert above would miss this
    // token: look again now that it is stored, and revoke it with its family.
    let revoked = conn
        .execute(
            "SELECT 1 FROM refresh_tokens WHERE family = ? AND revoked = 1 LIMIT 1",
            &[Value::Text(family.clone())],
        )
        .map_err(sql)?;
    if revoked.rows.is_empty() {
        Ok(Some(token))
    } else {
        revoke_family(&family)?;
        Ok(None)
    }
}

/// What presenting a refresh token found.
pub enum Refresh {
    /// Valid and now used: the user and the family to continue.
    Valid { username: String, family: String },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already used: the family has been revoked.
    Reused,
}

/// Consumes `token`: one conditional update spends it, so of two requests presenting the same
/// token at once exactly one gets `Valid`.
pub fn use_refresh(token: &str) -> Result<Refresh, Unavailable> {
    if !token.starts_with(REFRESH_PREFIX) {
        return Ok(Refresh::Invalid);
    }
    let conn = connect()?;
    let hash = digest(token);
    let spent = conn
        .execute(
            "UPDATE refresh_tokens SET used = 1
             WHERE token_hash = ? AND used = 0 AND revoked = 0 AND expires_ms > ?
             RETURNING username, family",
            &[Value::Text(hash.clone()), Value::Integer(now_ms() as i64)],
        )
        .map_err(sql)?;
    if let Some(row) = spent.rows.first() {
        let (Some(username), Some(family)) = (text(row.values.first()), text(row.values.get(1)))
        else {
            return Err(Unavailable(
                "refresh_tokens row has unexpected types".into(),
            ));
        };
        return Ok(Refresh::Valid { username, family });
    }
    // Not spent: unknown, expired, revoked, or used before (a copy: revoke its family).
    let rows = conn
        .execute(
            "SELECT family, used, revoked FROM refresh_tokens WHERE token_hash = ?",
            &[Value::Text(hash)],
        )
        .map_err(sql)?;
    let Some(row) = rows.rows.first() else {
        return Ok(Refresh::Invalid);
    };
    match (
        text(row.values.first()),
        integer(row.values.get(1)),
        integer(row.values.get(2)),
    ) {
        (Some(family), Some(used), Some(0)) if used != 0 => {
            revoke_family(&family)?;
            Ok(Refresh::Reused)
        }
        (Some(_), Some(_), Some(_)) => Ok(Refresh::Invalid),
        _ => Err(Unavailable(
            "refresh_tokens row has unexpected types".into(),
        )),
    }
}

/// Revokes the family `token` belongs to (logout); false if the token is unknown.
pub fn logout(token: &str) -> Result<bool, Unavailable> {
    let rows = connect()?
        .execute(
            "SELECT family FROM refresh_tokens WHERE token_hash = ?",
            &[Value::Text(digest(token))],
        )
        .map_err(sql)?;
    match rows.rows.first().and_then(|r| text(r.values.first())) {
        Some(family) => revoke_family(&family).map(|()| true),
        None => Ok(false),
    }
}

fn revoke_family(family: &str) -> Result<(), Unavailable> {
    connect()?
        .execute(
            "UPDATE refresh_tokens SET revoked = 1 WHERE family = ?",
            &[Value::Text(family.to_string())],
        )
        .map_err(sql)?;
    Ok(())
}
