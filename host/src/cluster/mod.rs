//! Several replicas as one platform, through Redis: who this replica is, the channel every
//! replica listens on (events for the WebSocket rooms, and answers to commands it forwarded
//! to a shard's owner), and the names of the keys they share. The event hub's Redis
//! transport, and the listener that hands every replica's events to the local hub and
//! answers to their waiting callers ([`Cluster::listen`]), are [`bus`].
//!
//! A cluster is the set of replicas that share one journal, so its name defaults to a digest
//! of the database address: replicas pointed at the same Postgres find each other, and
//! unrelated deployments sharing one Redis never do. `BOURSE_CLUSTER` overrides it.

pub mod bus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use sha2::Digest;
use tokio::sync::oneshot;

use crate::config::Role;

/// This replica's place in the cluster.
pub struct Cluster {
    /// This replica's id (`BOURSE_REPLICA_ID`, else host name, process id and a random part).
    pub replica: String,
    /// Prefix of every shared key: `bourse:<cluster>:`.
    pub prefix: String,
    /// What this replica runs.
    pub role: Role,
    /// How long a shard lease lasts without renewal.
    pub lease: Duration,
    pub(crate) redis: ConnectionManager,
    client: redis::Client,
    /// Whether the listening connection is up.
    link: AtomicBool,
    /// Forwarded commands waiting for their answer, by request id.
    replies: Mutex<HashMap<u64, oneshot::Sender<String>>>,
    next_request: AtomicU64,
}

/// Why the cluster could not be joined.
#[derive(Debug, thiserror::Error)]
#[error("cluster Redis: {0}")]
pub struct ClusterError(#[from] pub redis::RedisError);

/// The cluster name for replicas sharing `database_url` (or, without one, `data_dir`).
pub fn default_name(database_url: Option<&str>, data_dir: &std::path::Path) -> String {
    let identity = match database_url {
        // Credentials and options do not change which database it is.
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            rest.split('?').next().unwrap_or(rest).to_string()
        }
        None => std::fs::canonicalize(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .display()
            .to_string(),
    };
    hex::encode(&sha2::Sha256::digest(identity.as_bytes())[..6])
}

/// The host name (where the platform gives one) and this process's id, as simulation
/// claims already name it.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "replica" } else { &host };
    format!("{host}-{}", crate::instance::id())
}

impl Cluster {
    /// Joins cluster `name` through `redis_url` as `replica` (generated when `None`).
    pub async fn join(
        redis_url: &str,
        name: &str,
        replica: Option<String>,
        role: Role,
        lease: Duration,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let client = redis::Client::open(redis_url)?;
        let config = crate::store::kv::reconnecting(Duration::from_secs(2), Duration::from_secs(5));
        let redis = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Arc::new(Cluster {
            replica: replica.unwrap_or_else(default_replica_id),
            prefix: format!("bourse:{name}:"),
            role,
            lease,
            redis,
            client,
            link: AtomicBool::new(false),
            replies: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
        }))
    }

    /// A shared key: `bourse:<cluster>:<suffix>`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// The channel every replica hears events on.
    pub(crate) fn events_channel(&self) -> String {
        self.key("events")
    }

    /// The channel this replica hears answers to its forwarded commands on.
    pub(crate) fn reply_channel(&self) -> String {
        self.key(&format!("reply:{}", self.replica))
    }

    /// Whether the listening connection to Redis is up.
    pub fn linked(&self) -> bool {
        self.link.load(Ordering::Relaxed)
    }

    /// A connection of its own, for blocking commands that would stall the shared one.
    pub(crate) async fn dedicated(
        &self,
    ) -> Result<redis::aio::MultiplexedConnection, ClusterError> {
        Ok(self.client.get_multiplexed_async_connection().await?)
    }

    /// Registers a forwarded command; its answer arrives on the returned receiver.
    pub(crate) fn expect_reply(&self) -> (u64, oneshot::Receiver<String>) {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock_replies().insert(id, tx);
        (id, rx)
    }

    /// Forgets a forwarded command that will not be waited for any more.
    pub(crate) fn forget_reply(&self, id: u64) {
        self.lock_replies().remove(&id);
    }

    fn lock_replies(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<String>>> {
        self.replies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands an answer (`<id>\t<json>`) to the forwarded command waiting for it.
    pub(crate) fn answer(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let Some((id, body)) = text.split_once('\t') else {
            return;
        };
        let Ok(id) = id.parse::<u64>() else { return };
        if let Some(waiting) = self.lock_replies().remove(&id) {
            let _ = waiting.send(body.to_string());
        }
    }

    /// What `/ready` and `/api/engine/stats` say about this replica.
    pub fn describe(&self, owned: &[usize]) -> serde_json::Value {
        serde_json::json!({
            "id": self.replica,
            "role": self.role.as_str(),
            "cluster": self.prefix.trim_end_matches(':'),
            "owned_shards": owned,
            "redis": if self.linked() { "ok" } else { "down" },
        })
    }
}
