//! Who may call what, cheaply: a short-lived cache of verified credentials in front of the
//! auth component, and per-principal and per-client-IP rate limits.
//!
//! Every request draws a token from its client IP's bucket before anything else is done for
//! it (a refused credential costs a token too), and one from its principal's bucket once the
//! credential is verified. The client IP is the TCP peer, or, behind `trusted_proxies`
//! proxies, the `X-Forwarded-For` hop the outermost trusted proxy wrote: hops to the left of
//! it are the client's own words.
//!
//! The cache maps SHA-256(token) to the principal the auth component returned, for
//! `BOURSE_AUTH_CACHE_MS`. The auth component publishes `auth:revoked` with a revoked
//! credential's hash and the cache drops it at once, so a revoked API key stops working
//! immediately rather than when its entry expires.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::request_id::RequestId;
use crate::bindings::bourse::platform::types::Principal;
use crate::events::EventHub;
use crate::store::kv::KeyValue;
use crate::store::rate::{Limit, RateBuckets};

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

/// The client's address. Each trusted proxy appends the address it was reached from to
/// `X-Forwarded-For` (across one or several header lines), so with `trusted_proxies` of them
/// the client is that many hops from the right. A header too short to hold that many hops was
/// not written by them: the TCP peer is used then.
pub fn client_ip(
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
    trusted_proxies: usize,
) -> Option<IpAddr> {
    if trusted_proxies == 0 {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    hops.len()
        .checked_sub(trusted_proxies)
        .and_then(|i| hops.get(i))
        .and_then(|hop| hop.parse().ok())
        .or(peer)
}

/// The rate limiter: the limits and where their buckets are.
pub struct Limiter {
    limits: RateLimits,
    trusted_proxies: usize,
    buckets: RateBuckets,
}

impl Limiter {
    /// Buckets in `kv`'s backend (Redis, shared by replicas, or this process).
    pub fn new(limits: RateLimits, trusted_proxies: usize, kv: &KeyValue) -> Limiter {
        Limiter {
            limits,
            trusted_proxies,
            buckets: RateBuckets::new(kv),
        }
    }

    /// A 429 if the client IP of a request with `headers` from `peer` has used up its rate.
    pub async fn check_ip(
        &self,
        headers: &axum::http::HeaderMap,
        peer: Option<IpAddr>,
        request_id: &str,
    ) -> Option<Response> {
        let limit = self.limits.ip?;
        let ip = client_ip(headers, peer, self.trusted_proxies)?;
        self.take(&format!("ip:{ip}"), "client IP", limit, request_id)
            .await
    }

    /// A 429 if `principal` has used up its rate.
    pub async fn check_principal(
        &self,
        principal: &Principal,
        request_id: &str,
    ) -> Option<Response> {
        let limit = self.limits.principal?;
        self.take(
            &format!("principal:{}", principal.id),
            "principal",
            limit,
            request_id,
        )
        .await
    }

    /// Redis trouble lets the request through: a limiter outage must not become an API outage.
    async fn take(
        &self,
        key: &str,
        what: &str,
        limit: Limit,
        request_id: &str,
    ) -> Option<Response> {
        let wait = match self.buckets.take(key, limit).await {
            Ok(wait) => wait?,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; request let through");
                return None;
            }
        };
        metrics::counter!("rate_limited_total").increment(1);
        let seconds = wait.as_millis().div_ceil(1000).max(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests per second for this {what}; retry in {seconds} s",
                limit.rate
            ),
            request_id,
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        Some(response)
    }
}

/// The layer in front of every route: the client IP's token first (spin-compat mode has no
/// limits, as Spin has none).
pub async fn limit_requests(
    State(app): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !app.runtime.spin_compat() {
        let peer = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let id = RequestId::of_request(&request);
        if let Some(response) = app
            .limiter
            .check_ip(request.headers(), peer, id.as_str())
            .await
        {
            return response;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::client_ip;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn the_client_is_as_many_hops_from_the_right_as_there_are_proxies() {
        let peer = ip("192.0.2.1");
        let headers = forwarded(&["6.6.6.6, 203.0.113.7", "198.51.100.2"]);
        assert_eq!(client_ip(&headers, peer, 0), peer, "no proxy: the peer");
        assert_eq!(client_ip(&headers, peer, 1), ip("198.51.100.2"));
        assert_eq!(client_ip(&headers, peer, 2), ip("203.0.113.7"));
        assert_eq!(client_ip(&headers, peer, 4), peer, "too few hops: the peer");
        assert_eq!(client_ip(&HeaderMap::new(), peer, 1), peer);
    }
}
