//! Key-value storage: Redis when `REDIS_URL` is set, else an in-process map. Keys arrive
//! already namespaced by the capability layer (`bourse:kv:<component>:<label>:<key>`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Probe, StoreError};

/// A key-value backend.
pub enum KeyValue {
    /// In-process; lost on restart.
    Memory(Mutex<HashMap<String, Vec<u8>>>),
    /// Redis, shared by every replica.
    Redis(ConnectionManager),
}

/// How every long-lived Redis connection of the host reconnects: attempts a second apart at
/// most, so a restarted Redis is in use again within about a second of coming back. (The
/// client's default multiplies each wait by its `factor`, 100: after one failed attempt the
/// next comes a minute later, and a cluster sat that minute with its shards stalled.)
pub fn reconnecting(connect: Duration, response: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_factor(100)
        .set_exponent_base(2)
        .set_max_delay(1_000)
        .set_number_of_retries(4)
        .set_connection_timeout(connect)
        .set_response_timeout(response)
}

/// Longest a health probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest one Redis operation waits: while Redis is away, callers get an error quickly
/// instead of hanging until their own deadline (the connection manager keeps reconnecting).
const OP_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn bounded<T>(
    op: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Invalid("redis did not answer within 2s".into())),
    }
}

impl KeyValue {
    /// Connects to `url`, or makes an in-process store when there is none.
    pub async fn connect(url: Option<&str>) -> Result<KeyValue, StoreError> {
        match url {
            None => Ok(KeyValue::Memory(Mutex::new(HashMap::new()))),
            Some(url) => {
                let client = redis::Client::open(url)?;
                let config = reconnecting(Duration::from_secs(1), OP_TIMEOUT);
                let manager = tokio::time::timeout(
                    PROBE_TIMEOUT * 5,
                    ConnectionManager::new_with_config(client, config),
                )
                .await
                .map_err(|_| {
                    StoreError::Invalid(format!("redis at {url}: no answer within 10s"))
                })??;
                Ok(KeyValue::Redis(manager))
            }
        }
    }

    /// The Redis connection, when the store is Redis (for queues and streams).
    pub fn redis(&self) -> Option<ConnectionManager> {
        match self {
            KeyValue::Redis(conn) => Some(conn.clone()),
            KeyValue::Memory(_) => None,
        }
    }

    /// `redis` or `memory`.
    pub fn backend(&self) -> &'static str {
        match self {
            KeyValue::Memory(_) => "memory",
            KeyValue::Redis(_) => "redis",
        }
    }

    pub(super) fn memory(
        map: &Mutex<HashMap<String, Vec<u8>>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding this lock cannot leave the map half-updated (every operation
        // is a single insert/remove), so a poisoned lock is still safe to use.
        map.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            KeyValue::Memory(map) => Ok(Self::memory(map).get(key).cloned()),
            KeyValue::Redis(conn) => bounded(conn.clone().get(key)).await,
        }
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match self {
            KeyValue::Memory(map) => {
                Self::memory(map).insert(key.to_string(), value.to_vec());
                Ok(())
            }
            KeyValue::Redis(conn) => bounded(conn.clone().set(key, value)).await,
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            KeyValue::Memory(map) => {
                Self::memory(map).remove(key);
                Ok(())
            }
            KeyValue::Redis(conn) => bounded(conn.clone().del(key)).await,
        }
    }

    /// Whether `key` holds a value.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            KeyValue::Memory(map) => Ok(Self::memory(map).contains_key(key)),
            KeyValue::Redis(conn) => bounded(conn.clone().exists(key)).await,
        }
    }

    /// Adds `delta` to the integer under `key` (absent: 0) and returns the sum; the value is
    /// kept as decimal text, as Redis keeps it.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match self {
            KeyValue::Memory(map) => {
                let mut map = Self::memory(map);
                let now = match map.get(key) {
                    None => 0,
                    Some(v) => std::str::from_utf8(v)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .ok_or_else(|| {
                            StoreError::Invalid(format!("the value of {key} is not an integer"))
                        })?,
                };
                let sum = now.checked_add(delta).ok_or_else(|| {
                    StoreError::Invalid(format!("{now} + {delta} overflows a 64-bit integer"))
                })?;
                map.insert(key.to_string(), sum.to_string().into_bytes());
                Ok(sum)
            }
            KeyValue::Redis(conn) => bounded(conn.clone().incr(key, delta)).await,
        }
    }

    /// Stores `value` under `key` if it still holds `expected` (`None`: absent), atomically;
    /// whether it did.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        match self {
            KeyValue::Memory(map) => {
                let mut map = Self::memory(map);
                if map.get(key).map(Vec::as_slice) != expected {
                    return Ok(false);
                }
                map.insert(key.to_string(), value.to_vec());
                Ok(true)
            }
            KeyValue::Redis(conn) => {
                // One script, so no other client can write between the compare and the set.
                let script = redis::Script::new(
                    "local v = redis.call('GET', KEYS[1])
                     if (ARGV[1] == '0' and v == false) or (ARGV[1] == '1' and v == ARGV[2]) then
                       redis.call('SET', KEYS[1], ARGV[3])
                       return 1
                     end
                     return 0",
                );
                let mut invocation = script.key(key);
                invocation
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value);
                let mut conn = conn.clone();
                let swapped: i64 = bounded(invocation.invoke_async(&mut conn)).await?;
                Ok(swapped == 1)
            }
        }
    }

    /// Every key starting with `prefix` (which holds no glob characters: the capability layer
    /// builds it from validated names).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            KeyValue::Memory(map) => Ok(Self::memory(map)
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()),
            KeyValue::Redis(conn) => {
                let mut conn = conn.clone();
                let mut iter = conn.scan_match::<_, String>(format!("{prefix}*")).await?;
                let mut keys = Vec::new();
                while let Some(key) = iter.next_item().await {
                    keys.push(key);
                }
                Ok(keys)
            }
        }
    }

    /// Round-trips the backend.
    pub async fn probe(&self) -> Probe {
        let start = Instant::now();
        let result = match self {
            KeyValue::Memory(_) => Ok(()),
            KeyValue::Redis(conn) => {
                let mut conn = conn.clone();
                match tokio::time::timeout(
                    PROBE_TIMEOUT,
                    redis::cmd("PING").query_async::<String>(&mut conn),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(StoreError::Redis(e)),
                    Err(_) => Err(StoreError::Invalid("no answer within 2s".into())),
                }
            }
        };
        Probe::from_result(self.backend(), start.elapsed(), result)
    }
}
