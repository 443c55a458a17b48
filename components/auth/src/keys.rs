//! API keys: random, shown once, stored as a SHA-256 hash in SQL; verified principals are
//! cached in the key-value store so the common path is one cache read.

use bourse_guest::bourse::platform::types::Principal;
use sha2::{Digest, Sha256};
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};

use crate::accounts;
use crate::identity;

use crate::exports::bourse::platform::authenticator::AuthError;

/// Keys issued by Bourse start with this, so a leaked one is easy to recognise in logs.
const KEY_PREFIX: &str = "bk_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn connect() -> Result<Connection, String> {
    crate::accounts::connect().map_err(|e| e.0)
}

/// Issues a new key for `principal` with `roles`; returns the key itself.
pub fn create(principal: &str, roles: &[String]) -> Result<String, String> {
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).map_err(|e| format!("random: {e}"))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    connect()?
        .execute(
            "INSERT INTO api_keys (key_hash, principal, roles) VALUES (?, ?, ?)",
            &[
                Value::Text(hash(&key)),
                Value::Text(principal.to_string()),
                Value::Text(roles.join(",")),
            ],
        )
        .map_err(|e| format!("sql: {e:?}"))?;
    Ok(key)
}

/// The principal behind `token`, from the cache or from SQL.
pub fn lookup(token: &str) -> Result<Principal, AuthError> {
    if !token.starts_with(KEY_PREFIX) {
        return Err(AuthError::InvalidCredentials);
    }
    let digest = hash(token);
    let cache_key = format!("apikey:{digest}");
    let cache = Store::open("default").ok();
    if let Some(cached) = cache
        .as_ref()
        .and_then(|c| c.get(&cache_key).ok().flatten())
        && let Some(principal) = decode(&cached)
    {
        return Ok(principal);
    }
    let conn = connect().map_err(AuthError::Unavailable)?;
    let rows = conn
        .execute(
            "SELECT principal, roles FROM api_keys WHERE key_hash = ? AND revoked = 0",
            &[Value::Text(digest)],
        )
        .map_err(|e| AuthError::Unavailable(format!("sql: {e:?}")))?;
    let row = rows.rows.first().ok_or(AuthError::InvalidCredentials)?;
    let (Some(Value::Text(id)), Some(Value::Text(roles))) = (row.values.first(), row.values.get(1))
    else {
        return Err(AuthError::Unavailable(
            "api_keys row has unexpected types".into(),
        ));
    };
    let granted = accounts::roles_of(roles);
    // A key never does more than its owner may do now: demoting or deleting the owner takes
    // the key down with them.
    let owner_roles: Vec<String> = if id == identity::OPERATOR {
        identity::OPERATOR_ROLES
            .iter()
            .map(|r| r.to_string())
            .collect()
    } else {
        let user = identity::username_of(id)
            .map(accounts::find_user)
            .transpose()
            .map_err(|e| AuthError::Unavailable(e.0))?
            .flatten()
            .ok_or(AuthError::InvalidCredentials)?;
        user.roles
    };
    let principal = Principal {
        id: id.clone(),
        roles: granted
            .into_iter()
            .filter(|r| owner_roles.contains(r))
            .collect(),
    };
    if let Some(cache) = cache {
        // A failed cache write only costs the next request a SQL read.
        let _ = cache.set(&cache_key, &encode(&principal));
    }
    Ok(principal)
}

/// How long a verified key is trusted from the cache, so a revocation in SQL takes effect
/// within this time.
const CACHE_SECONDS: u64 = 30;

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn encode(p: &Principal) -> Vec<u8> {
    let expires = now_seconds() + CACHE_SECONDS;
    format!("{expires}\n{}\n{}", p.id, p.roles.join(",")).into_bytes()
}

fn decode(bytes: &[u8]) -> Option<Principal> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (expires, rest) = text.split_once('\n')?;
    if expires.parse::<u64>().ok()? < now_seconds() {
        return None;
    }
    let (id, roles) = rest.split_once('\n')?;
    Some(Principal {
        id: id.to_string(),
        roles: accounts::roles_of(roles),
    })
}

/// A key as its owner sees it: an id (the start of its hash), never the key.
#[derive(serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub roles: Vec<String>,
    pub revoked: bool,
}

/// Length of a key id: enough hex of the hash to be unique among any realistic number of keys.
const ID_LEN: usize = 16;

/// `principal`'s keys.
pub fn list(principal: &str) -> Result<Vec<KeyInfo>, String> {
    let rows = connect()?
        .execute(
            "SELECT key_hash, roles, revoked FROM api_keys WHERE principal = ? ORDER BY key_hash",
            &[Value::Text(principal.to_string())],
        )
        .map_err(|e| format!("sql: {e:?}"))?;
    Ok(rows
        .rows
        .iter()
        .filter_map(
            |row| match (row.values.first(), row.values.get(1), row.values.get(2)) {
                (Some(Value::Text(h)), Some(Value::Text(r)), Some(Value::Integer(x))) => {
                    Some(KeyInfo {
                        id: h.chars().take(ID_LEN).collect(),
                        roles: accounts::roles_of(r),
                        revoked: *x != 0,
                    })
                }
                _ => None,
            },
        )
        .collect())
}

/// Revokes `principal`'s key `id` (any principal's when `principal` is `None`); returns the
/// revoked key's full hash, or `None` if there is no such key.
pub fn revoke(principal: Option<&str>, id: &str) -> Result<Option<String>, String> {
    if id.len() != ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let conn = connect()?;
    let rows = conn
        .execute(
            "SELECT key_hash, principal FROM api_keys WHERE key_hash LIKE ?",
            &[Value::Text(format!("{}%", id.to_ascii_lowercase()))],
        )
        .map_err(|e| format!("sql: {e:?}"))?;
    let Some((hash, owner)) =
        rows.rows
            .first()
            .and_then(|row| match (row.values.first(), row.values.get(1)) {
                (Some(Value::Text(h)), Some(Value::Text(p))) => Some((h.clone(), p.clone())),
                _ => None,
            })
    else {
        return Ok(None);
    };
    if principal.is_some_and(|p| p != owner) {
        return Ok(None);
    }
    conn.execute(
        "UPDATE api_keys SET revoked = 1 WHERE key_hash = ?",
        &[Value::Text(hash.clone())],
    )
    .map_err(|e| format!("sql: {e:?}"))?;
    if let Ok(cache) = Store::open("default") {
        let _ = cache.delete(&format!("apikey:{hash}"));
    }
    Ok(Some(hash))
}

/// Forgets the cached verification of every key of `principal` (after its roles changed);
/// returns their hashes, for the host to evict too.
pub fn forget_cached(principal: &str) -> Result<Vec<String>, String> {
    let rows = connect()?
        .execute(
            "SELECT key_hash FROM api_keys WHERE principal = ? AND revoked = 0",
            &[Value::Text(principal.to_string())],
        )
        .map_err(|e| format!("sql: {e:?}"))?;
    let hashes: Vec<String> = rows
        .rows
        .iter()
        .filter_map(|row| match row.values.first() {
            Some(Value::Text(h)) => Some(h.clone()),
            _ => None,
        })
        .collect();
    if let Ok(cache) = Store::open("default") {
        for hash in &hashes {
            let _ = cache.delete(&format!("apikey:{hash}"));
        }
    }
    Ok(hashes)
}
