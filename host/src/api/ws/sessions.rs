//! WebSocket sessions that outlive their connection: the rooms a client holds and the last
//! number it was sent in each, kept for [`SESSION_TTL`] after it was last written, in Redis
//! when configured (so a client may come back through any replica) or in process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cluster::bus::HubBus;
use crate::events::EventHub;

/// How long a session can be resumed after its connection was last heard from.
pub const SESSION_TTL: Duration = Duration::from_secs(300);
/// Sessions kept in process at most (the oldest go first).
const MAX_LOCAL: usize = 100_000;

/// A session as stored.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Who opened it (`None`: no credentials); only they may resume it.
    pub principal: Option<String>,
    /// Room (as the client names it) → last sequence number sent.
    pub rooms: BTreeMap<String, u64>,
}

/// Where sessions are kept.
#[derive(Default)]
pub struct Sessions {
    local: Mutex<HashMap<String, (Instant, Record)>>,
}

/// Whether `id` has the shape of a session id (so it can be part of a key).
pub fn valid_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A new session id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&getrandom::u64().unwrap_or(0).to_le_bytes());
    }
    hex::encode(bytes)
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Record)>> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session `id`, if it is still kept.
    pub async fn load(&self, hub: &EventHub, id: &str) -> Option<Record> {
        if let Some(bus) = hub.bus() {
            let cluster = bus.cluster();
            let mut conn = cluster.redis.clone();
            let text: Option<String> = redis::cmd("GET")
                .arg(cluster.key(&format!("ws:session:{id}")))
                .query_async(&mut conn)
                .await
                .ok()
                .flatten();
            return text.and_then(|t| serde_json::from_str(&t).ok());
        }
        let local = self.lock();
        local
            .get(id)
            .filter(|(at, _)| at.elapsed() < SESSION_TTL)
            .map(|(_, r)| r.clone())
    }

    /// Keeps `record` as session `id` for another [`SESSION_TTL`].
    pub async fn save(&self, hub: &EventHub, id: &str, record: &Record) {
        if let Some(bus) = hub.bus() {
            let cluster = bus.cluster();
            let mut conn = cluster.redis.clone();
            let Ok(text) = serde_json::to_string(record) else {
                return;
            };
            let saved: redis::RedisResult<()> = redis::cmd("SET")
                .arg(cluster.key(&format!("ws:session:{id}")))
                .arg(text)
                .arg("PX")
                .arg(SESSION_TTL.as_millis() as u64)
                .query_async(&mut conn)
                .await;
            if let Err(e) = saved {
                tracing::debug!(error = %e, "could not keep a WebSocket session");
            }
            return;
        }
        let mut local = self.lock();
        if !local.contains_key(id) {
            make_room(&mut local, MAX_LOCAL, SESSION_TTL);
        }
        local.insert(id.to_string(), (Instant::now(), record.clone()));
    }
}

/// Makes room for one more entry in an in-process map bounded to `max` entries that live for
/// `ttl`: expired entries go first, then the oldest.
pub(super) fn make_room<V>(map: &mut HashMap<String, (Instant, V)>, max: usize, ttl: Duration) {
    if map.len() < max {
        return;
    }
    map.retain(|_, (at, _)| at.elapsed() < ttl);
    if map.len() >= max
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}
