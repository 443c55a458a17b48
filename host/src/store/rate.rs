//! Token buckets: in Redis (one Lua script per take, so every replica draws from the same
//! bucket and the check-and-take is atomic), or in process.
//!
//! Invariants: a bucket left alone until it is full again is the same as no bucket, so idle
//! buckets are dropped (Redis by `PEXPIRE`, the in-process map by a sweep at most every
//! [`SWEEP_EVERY`]); the in-process map never holds more than [`MAX_LOCAL_BUCKETS`]: past
//! that, after dropping what is idle, it forgets arbitrary buckets, which hands their callers a
//! fresh burst but never costs memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::StoreError;
use super::kv::KeyValue;

/// Refills at `rate` per second up to `burst`; takes one token or says how long until one is
/// free. Redis's own clock (`TIME`) is used, so replicas with skewed clocks agree.
const TAKE: &str = r#"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"#;

/// Most buckets kept in process (one per client IP and per principal seen lately).
pub const MAX_LOCAL_BUCKETS: usize = 100_000;

/// How often, at most, the in-process map is swept of buckets that have refilled.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// A bucket's refill rate (per second) and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where the buckets live.
pub enum RateBuckets {
    /// Shared by every replica.
    Redis(ConnectionManager),
    /// This process only.
    Local(LocalBuckets),
}

impl RateBuckets {
    /// In Redis when `kv` is Redis, else in process.
    pub fn new(kv: &KeyValue) -> RateBuckets {
        match kv.redis() {
            Some(conn) => RateBuckets::Redis(conn),
            None => RateBuckets::Local(LocalBuckets::default()),
        }
    }

    /// Takes a token from bucket `key`: `None` if one was free, else how long until one is.
    pub async fn take(&self, key: &str, limit: Limit) -> Result<Option<Duration>, StoreError> {
        let wait_ms: u64 = match self {
            RateBuckets::Redis(conn) => {
                let key = format!("bourse:rate:{key}");
                let mut conn = conn.clone();
                let script = redis::Script::new(TAKE);
                let mut invocation = script.key(&key);
                invocation.arg(limit.rate).arg(limit.burst);
                super::kv::bounded(invocation.invoke_async(&mut conn)).await?
            }
            RateBuckets::Local(local) => local.take_at(key, limit, now_ms()),
        };
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }
}

/// One in-process bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// When `tokens` was worked out, ms since the epoch.
    at: u64,
    /// From when on the bucket is full again (and so may be forgotten).
    full_at: u64,
}

#[derive(Default)]
struct Map {
    buckets: HashMap<String, Bucket>,
    swept_at: u64,
}

/// In-process buckets, bounded and expiring (see the module invariants).
#[derive(Default)]
pub struct LocalBuckets {
    map: Mutex<Map>,
}

impl LocalBuckets {
    /// How many buckets are held.
    pub fn len(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // Every change is one insert or a retain: a poisoned map is still consistent.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a token from `key` at time `now` (ms); the wait in ms, 0 if one was free.
    pub fn take_at(&self, key: &str, limit: Limit, now: u64) -> u64 {
        let mut map = self.lock();
        let due = now.saturating_sub(map.swept_at) >= SWEEP_EVERY.as_millis() as u64;
        if due || (map.buckets.len() >= MAX_LOCAL_BUCKETS && !map.buckets.contains_key(key)) {
            map.buckets.retain(|_, b| b.full_at > now);
            map.swept_at = now;
            if map.buckets.len() >= MAX_LOCAL_BUCKETS {
                // Every bucket is busy: forget a tenth rather than grow.
                let keep = MAX_LOCAL_BUCKETS - MAX_LOCAL_BUCKETS / 10;
                let mut seen = 0;
                map.buckets.retain(|_, _| {
                    seen += 1;
                    seen <= keep
                });
                tracing::warn!(
                    kept = keep,
                    "rate limiter: more active clients than buckets; some were forgotten"
                );
            }
        }
        let (mut tokens, at) = map
            .buckets
            .get(key)
            .map_or((limit.burst, now), |b| (b.tokens, b.at));
        tokens = (tokens + now.saturating_sub(at) as f64 * limit.rate / 1000.0).min(limit.burst);
        let wait = if tokens >= 1.0 {
            tokens -= 1.0;
            0
        } else {
            ((1.0 - tokens) * 1000.0 / limit.rate).ceil() as u64
        };
        let refill_ms = ((limit.burst - tokens) * 1000.0 / limit.rate).ceil() as u64;
        map.buckets.insert(
            key.to_string(),
            Bucket {
                tokens,
                at: now,
                full_at: now.saturating_add(refill_ms),
            },
        );
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Limit = Limit {
        rate: 1.0,
        burst: 2.0,
    };

    #[test]
    fn a_bucket_limits_and_refills() {
        let buckets = LocalBuckets::default();
        assert_eq!(buckets.take_at("ip:a", LIMIT, 1_000), 0);
        assert_eq!(buckets.take_at("ip:a", LIMIT, 1_000), 0);
        assert_eq!(buckets.take_at("ip:a", LIMIT, 1_000), 1_000);
        assert_eq!(
            buckets.take_at("ip:a", LIMIT, 2_000),
            0,
            "one token a second"
        );
    }

    #[test]
    fn idle_buckets_are_forgotten() {
        let buckets = LocalBuckets::default();
        for i in 0..1_000 {
            buckets.take_at(&format!("ip:{i}"), LIMIT, 1_000);
        }
        // A bucket still refilling is kept; the others are full again by now and go.
        let later = 1_000 + SWEEP_EVERY.as_millis() as u64;
        buckets.take_at("ip:busy", LIMIT, later - 500);
        buckets.take_at("ip:busy", LIMIT, later - 500);
        assert_eq!(buckets.take_at("ip:new", LIMIT, later), 0);
        assert_eq!(
            buckets.len(),
            2,
            "only the busy bucket and the new one are left"
        );
    }

    #[test]
    fn the_map_is_bounded_by_busy_clients() {
        let buckets = LocalBuckets::default();
        // Every client is still refilling when the next arrives: nothing is idle to drop.
        for i in 0..MAX_LOCAL_BUCKETS + 5_000 {
            buckets.take_at(&format!("ip:{i}"), LIMIT, 1_000);
            buckets.take_at(&format!("ip:{i}"), LIMIT, 1_000);
        }
        assert!(buckets.len() <= MAX_LOCAL_BUCKETS, "{}", buckets.len());
        // A limited client that stays is still limited.
        let last = format!("ip:{}", MAX_LOCAL_BUCKETS + 4_999);
        assert!(buckets.take_at(&last, LIMIT, 1_000) > 0);
    }
}
