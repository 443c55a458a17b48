//! Token buckets in the key-value store: in Redis (one Lua script per take, so every replica
//! draws from the same bucket and the check-and-take is atomic), or in process.

use std::time::Duration;

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

impl KeyValue {
    /// Takes a token from bucket `key`: `None` if one was free, else how long until one is.
    pub async fn take_token(
        &self,
        key: &str,
        limit: Limit,
    ) -> Result<Option<Duration>, StoreError> {
        let key = format!("bourse:rate:{key}");
        let wait_ms: u64 = match self {
            KeyValue::Redis(conn) => {
                let mut conn = conn.clone();
                let script = redis::Script::new(TAKE);
                let mut invocation = script.key(&key);
                invocation.arg(limit.rate).arg(limit.burst);
                super::kv::bounded(invocation.invoke_async(&mut conn)).await?
            }
            KeyValue::Memory(map) => {
                let now = now_ms();
                let mut map = KeyValue::memory(map);
                let (mut tokens, at) = map
                    .get(&key)
                    .and_then(|v| {
                        let tokens = f64::from_le_bytes(v.get(0..8)?.try_into().ok()?);
                        let at = u64::from_le_bytes(v.get(8..16)?.try_into().ok()?);
                        Some((tokens, at))
                    })
                    .unwrap_or((limit.burst, now));
                tokens =
                    (tokens + now.saturating_sub(at) as f64 * limit.rate / 1000.0).min(limit.burst);
                let wait = if tokens >= 1.0 {
                    tokens -= 1.0;
                    0
                } else {
                    ((1.0 - tokens) * 1000.0 / limit.rate).ceil() as u64
                };
                let mut value = tokens.to_le_bytes().to_vec();
                value.extend_from_slice(&now.to_le_bytes());
                map.insert(key, value);
                wait
            }
        };
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }
}
