//! Single-use tickets onto `/ws`, so a browser never puts a bearer token in a URL (where
//! proxies and access logs keep it): `POST /api/ws/ticket` with the bearer credentials gives
//! `{ticket, expires_in}`, and `/ws?ticket=` redeems it once.
//!
//! Invariants: a ticket opens at most one connection, within [`TICKET_TTL`] of its issue, on
//! any replica (kept in Redis when configured, else in process); only its SHA-256 is stored,
//! so the store never holds a ticket that still works. A ticket carries the principal, the
//! hash of the credential it was issued for and that credential's expiry, so the connection
//! closes when the credential expires or is revoked, as one opened with the credential would.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::bindings::bourse::platform::types::Principal;
use crate::cluster::bus::HubBus;
use crate::events::EventHub;

/// How long a ticket can be redeemed after it was issued.
pub const TICKET_TTL: Duration = Duration::from_secs(30);
/// Tickets kept in process at most (expired ones are swept first, then the oldest go).
const MAX_LOCAL: usize = 100_000;

/// What a connection opened with credentials knows of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    /// Who they authenticate.
    pub principal: String,
    /// The principal's roles.
    pub roles: Vec<String>,
    /// SHA-256 of the bearer token, hex: the hash `auth:revoked` announces.
    pub token_sha256: String,
    /// When the token expires, seconds since the Unix epoch (`None`: an API key or the
    /// operator token, valid until revoked).
    pub expires_at: Option<u64>,
}

impl Credential {
    /// The credential `token` authenticated as `principal`.
    pub fn new(principal: &Principal, token: &str) -> Credential {
        Credential {
            principal: principal.id.clone(),
            roles: principal.roles.clone(),
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            expires_at: jwt_expiry(token),
        }
    }

    /// The principal as the rest of the host sees it.
    pub fn principal(&self) -> Principal {
        Principal {
            id: self.principal.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// The `exp` claim of a JWT, read without checking the signature: only ever called on a
/// token the auth component has just accepted.
fn jwt_expiry(token: &str) -> Option<u64> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_u64()
}

/// Where tickets are kept until redeemed.
#[derive(Default)]
pub struct Tickets {
    local: Mutex<HashMap<String, (Instant, Credential)>>,
}

/// Why a ticket could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Redis did not take it.
    #[error("the ticket store is unavailable: {0}")]
    Store(String),
}

/// Whether `ticket` has the shape of one this host issues.
pub fn valid(ticket: &str) -> bool {
    ticket.len() == 64 && ticket.bytes().all(|b| b.is_ascii_hexdigit())
}

fn key(ticket: &str) -> String {
    format!(
        "ws:ticket:{}",
        hex::encode(Sha256::digest(ticket.as_bytes()))
    )
}

impl Tickets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Credential)>> {
        // Single inserts and removes: a poisoned map is still consistent.
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new ticket for `credential`.
    pub async fn issue(
        &self,
        hub: &EventHub,
        credential: &Credential,
    ) -> Result<String, TicketError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| TicketError::Store(e.to_string()))?;
        let ticket = hex::encode(bytes);
        if let Some(bus) = hub.bus() {
            let cluster = bus.cluster();
            let mut conn = cluster.redis.clone();
            let text =
                serde_json::to_string(credential).map_err(|e| TicketError::Store(e.to_string()))?;
            let _: () = redis::cmd("SET")
                .arg(cluster.key(&key(&ticket)))
                .arg(text)
                .arg("PX")
                .arg(TICKET_TTL.as_millis() as u64)
                .query_async(&mut conn)
                .await
                .map_err(|e| TicketError::Store(e.to_string()))?;
            return Ok(ticket);
        }
        let mut local = self.lock();
        super::sessions::make_room(&mut local, MAX_LOCAL, TICKET_TTL);
        local.insert(key(&ticket), (Instant::now(), credential.clone()));
        Ok(ticket)
    }

    /// The credential behind `ticket`, once: a second redemption finds nothing.
    pub async fn redeem(&self, hub: &EventHub, ticket: &str) -> Option<Credential> {
        if !valid(ticket) {
            return None;
        }
        if let Some(bus) = hub.bus() {
            let cluster = bus.cluster();
            let mut conn = cluster.redis.clone();
            let text: Option<String> = redis::cmd("GETDEL")
                .arg(cluster.key(&key(ticket)))
                .query_async(&mut conn)
                .await
                .ok()
                .flatten();
            return text.and_then(|t| serde_json::from_str(&t).ok());
        }
        self.lock()
            .remove(&key(ticket))
            .filter(|(at, _)| at.elapsed() < TICKET_TTL)
            .map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_expiry_of_a_jwt_only() {
        use base64::Engine;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sub":"a","exp":1700000000}"#);
        assert_eq!(jwt_expiry(&format!("h.{claims}.s")), Some(1_700_000_000));
        assert_eq!(jwt_expiry("bk_0123456789abcdef"), None, "an API key");
        assert_eq!(jwt_expiry(&format!("h.{claims}.s.x")), None);
    }
}
