//! Which shard holds each client order id, on this replica and across a cluster.
//!
//! Client order ids are unique per account across shards: each is held by the shard that
//! first saw it, and that shard's venue answers a repeat with the earlier order. While the
//! first order with an id is under way, a repeat on any symbol waits for its answer (so two
//! shards can never both make an order with one id); a refused order frees the id. In a
//! cluster the shards live on different replicas, so the id is taken in Redis (`SET NX`) by
//! the first shard to ask ([`claim_shared`]).
//!
//! Invariant: an id in [`ClientIds`] is either settled on one shard or pending with exactly
//! one [`PendingId`] alive for it; dropping that settles it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bourse_matching::venue::{ClientIdRetention, Venue};
use tokio::sync::watch;

use super::types::{OrderRequest, OrderResult, Reject, RejectCode};
use crate::cluster::Cluster;

/// An account and one of its client order ids.
type Key = (String, String);

/// The client order ids of the shards running here (see the module docs), each settled one
/// kept as long as the venues keep theirs ([`ClientIdRetention`], counted here from when it
/// settled), so the table is bounded like the venues' own.
pub(super) struct ClientIds {
    ids: Mutex<Table>,
    retain: Duration,
    max: usize,
}

#[derive(Default)]
struct Table {
    map: HashMap<Key, ClientOrderId>,
    /// Settled ids, oldest first, with when they settled.
    settled: VecDeque<(Instant, Key)>,
}

impl Table {
    fn settle(&mut self, key: Key, shard: usize) {
        let at = Instant::now();
        self.map.insert(
            key.clone(),
            ClientOrderId {
                shard,
                pending: None,
                settled_at: Some(at),
            },
        );
        self.settled.push_back((at, key));
    }
}

impl ClientIds {
    pub(super) fn new(retention: ClientIdRetention) -> ClientIds {
        ClientIds {
            ids: Mutex::default(),
            retain: Duration::from_millis(retention.ms),
            max: retention.max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // Updated by single inserts, so a poisoned lock is still consistent.
        let mut table = self
            .ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((at, _)) = table.settled.front() {
            if table.settled.len() <= self.max && at.elapsed() < self.retain {
                break;
            }
            if let Some((at, key)) = table.settled.pop_front()
                && table
                    .map
                    .get(&key)
                    .is_some_and(|id| id.settled_at == Some(at))
            {
                table.map.remove(&key);
            }
        }
        table
    }

    /// Records the ids `venue` (shard `shard`, just rebuilt) has seen.
    pub(super) fn recover(&self, shard: usize, venue: &Venue) {
        let mut ids = self.lock();
        for (account, client_id) in venue.client_order_ids() {
            ids.settle((account.to_string(), client_id.to_string()), shard);
        }
    }

    /// What an order with `key` may do on `shard`, on one replica (see [`Claim`]).
    pub(super) fn claim(&self, key: Key, shard: usize) -> Claim<'_> {
        let mut ids = self.lock();
        match ids.map.get(&key) {
            Some(ClientOrderId {
                pending: Some(under_way),
                ..
            }) => Claim::Wait(under_way.clone()),
            Some(ClientOrderId { shard, .. }) => Claim::Seen(*shard),
            None => Claim::First(self.pending(&mut ids, key, shard)),
        }
    }

    /// Moves `key`, which `from` never used, to `shard`, unless someone else did first
    /// (then `None`: look again).
    pub(super) fn take_over(&self, key: Key, from: usize, shard: usize) -> Option<PendingId<'_>> {
        let mut ids = self.lock();
        match ids.map.get(&key) {
            Some(ClientOrderId {
                shard: s,
                pending: None,
                ..
            }) if *s == from => Some(self.pending(&mut ids, key, shard)),
            _ => None,
        }
    }

    fn pending(&self, ids: &mut Table, key: Key, shard: usize) -> PendingId<'_> {
        let (done, under_way) = watch::channel(());
        ids.map.insert(
            key.clone(),
            ClientOrderId {
                shard,
                pending: Some(under_way),
                settled_at: None,
            },
        );
        PendingId {
            ids: self,
            key,
            shard,
            refused: false,
            _done: done,
        }
    }
}

/// Which shard holds an account's client order id.
struct ClientOrderId {
    /// The shard that executed (or executes) the order made with it.
    shard: usize,
    /// Set while the first order with the id is on its way to `shard`; repeats wait for it.
    pending: Option<watch::Receiver<()>>,
    /// When it settled (its place in [`Table::settled`]).
    settled_at: Option<Instant>,
}

/// What an order with a client order id may do.
pub(super) enum Claim<'a> {
    /// No client order id to look after.
    Free,
    /// The id is new: the order goes to its shard, and the id is settled with its answer.
    First(PendingId<'a>),
    /// The id was used on this shard.
    Seen(usize),
    /// An order with the id is under way: wait for it, then look again.
    Wait(watch::Receiver<()>),
    /// In a cluster: the id is new and taken in Redis under this key; freed if refused.
    Shared(String),
    /// The id could not be checked.
    Failed(Reject),
}

/// A client order id taken by an order under way. Dropping it settles the id: freed if the
/// order was refused, kept on its shard otherwise (also when the outcome is unknown, or the
/// caller went away: the shard knows), and the orders waiting on it look again.
pub(super) struct PendingId<'a> {
    ids: &'a ClientIds,
    key: Key,
    shard: usize,
    refused: bool,
    _done: watch::Sender<()>,
}

impl PendingId<'_> {
    pub(super) fn settle(mut self, result: &Result<OrderResult, Reject>) {
        self.refused = refused(result);
    }
}

/// Whether `result` says for sure that no order was made (so its client order id is free).
pub(super) fn refused(result: &Result<OrderResult, Reject>) -> bool {
    result.as_ref().is_err_and(|e| {
        !matches!(
            e.code,
            RejectCode::Unavailable | RejectCode::DuplicateClientOrderId
        )
    })
}

/// Takes `id` for `shard` in the cluster's Redis, or says which shard took it first. The key
/// lives as long as the venues keep their ids (`retention`).
pub(super) async fn claim_shared(
    cluster: &Cluster,
    order: &OrderRequest,
    id: &str,
    shard: usize,
    retention: ClientIdRetention,
) -> Claim<'static> {
    let key = cluster.key(&format!(
        "client-order:{}",
        serde_json::json!([order.account, id])
    ));
    let mut conn = cluster.redis.clone();
    let earlier: redis::RedisResult<Option<usize>> = redis::cmd("SET")
        .arg(&key)
        .arg(shard)
        .arg("NX")
        .arg("GET")
        .arg("PX")
        .arg(retention.ms.max(1))
        .query_async(&mut conn)
        .await;
    match earlier {
        Ok(None) => Claim::Shared(key),
        Ok(Some(s)) => Claim::Seen(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a client order id in the cluster");
            Claim::Failed(Reject {
                code: RejectCode::Unavailable,
                message: "client order ids cannot be checked right now (the cluster's Redis \
                          did not answer); nothing was done, retry"
                    .into(),
            })
        }
    }
}

/// A repeat of a client order id whose first order, on another symbol, is not on the books.
pub(super) fn in_use(order: &OrderRequest) -> Reject {
    Reject {
        code: RejectCode::DuplicateClientOrderId,
        message: format!(
            "client order id {:?} is taken by an order of this account on another symbol that \
             is not on the books (it may be under way); retry to get it, or use a new id",
            order.client_order_id.as_deref().unwrap_or_default()
        ),
    }
}

impl Drop for PendingId<'_> {
    fn drop(&mut self) {
        let mut ids = self.ids.lock();
        if self.refused {
            ids.map.remove(&self.key);
        } else {
            ids.settle(self.key.clone(), self.shard);
        }
        // `_done` is dropped after this body: the waiters wake to the settled entry.
    }
}
