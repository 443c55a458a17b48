//! Who may call what, cheaply: a short-lived cache of verified credentials in front of the
//! auth component, and per-principal and per-client-IP rate limits.
//!
//! The cache maps SHA-256(token) to the principal the auth component returned, for
//! `BOURSE_AUTH_CACHE_MS`. The auth component publishes `auth:revoked` with a revoked
//! credential's hash and the cache drops it at once, so a revoked API key stops working
//! immediately rather than when its entry expires.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::bindings::bourse::platform::types::Principal;
use crate::capabilities::events::EventHub;
use crate::store::rate::Limit;

/// Entries kept at most; beyond this the cache starts over (a burst of distinct tokens costs
/// re-verification, never memory).
const MAX_ENTRIES: usize = 100_000;

/// Verified credentials, by token hash.
pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl AuthCache {
    /// A cache keeping entries for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Principal, Instant)>> {
        // Single inserts and removes: a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The hash a token is cached under.
    pub fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The cached principal of `digest`, if still fresh.
    pub fn get(&self, digest: &[u8; 32]) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.lock();
        match entries.get(digest) {
            Some((p, at)) if at.elapsed() < self.ttl => Some(p.clone()),
            Some(_) => {
                entries.remove(digest);
                None
            }
            None => None,
        }
    }

    /// Remembers that `digest` authenticated as `principal`.
    pub fn put(&self, digest: [u8; 32], principal: &Principal) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(digest, (principal.clone(), Instant::now()));
    }

    /// Drops the entry whose hash is `hex`.
    pub fn evict_hex(&self, hex: &str) {
        let mut digest = [0u8; 32];
        if hex::decode_to_slice(hex, &mut digest).is_ok() {
            self.lock().remove(&digest);
        }
    }

    /// Evicts credentials the auth component announces as revoked on `auth:revoked`.
    pub fn follow_revocations(self: &Arc<Self>, hub: &EventHub) {
        let mut events = hub.subscribe("auth:revoked");
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        let Some(cache) = cache.upgrade() else { break };
                        let data: serde_json::Value =
                            serde_json::from_str(e.data.get()).unwrap_or_default();
                        if let Some(hex) = data["token_sha256"].as_str() {
                            cache.evict_hex(hex);
                        }
                    }
                    // Missed events may have been revocations: forget everything.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let Some(cache) = cache.upgrade() else { break };
                        cache.lock().clear();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}

/// Rate limits; `None` switches one off.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimits {
    /// Per authenticated principal.
    pub principal: Option<Limit>,
    /// Per client IP.
    pub ip: Option<Limit>,
}

/// A limit of `per_second` with a burst of twice that; `None` for 0.
pub fn limit(per_second: u64) -> Option<Limit> {
    (per_second > 0).then(|| Limit {
        rate: per_second as f64,
        burst: (per_second * 2) as f64,
    })
}

/// The client's address: the first `X-Forwarded-For` hop when the host sits behind a trusted
/// proxy (Railway's edge), else the TCP peer.
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
    trust_forwarded: bool,
) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(ip);
    }
    peer
}
