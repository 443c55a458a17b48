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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bourse_matching::venue::Venue;
use tokio::sync::watch;

use super::types::{OrderRequest, OrderResult, Reject, RejectCode};
use crate::cluster::Cluster;

/// An account and one of its client order ids.
type Key = (String, String);

/// The client order ids of the shards running here (see the module docs).
#[derive(Default)]
pub(super) struct ClientIds {
    ids: Mutex<HashMap<Key, ClientOrderId>>,
}

impl ClientIds {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, ClientOrderId>> {
        // Updated by single inserts, so a poisoned lock is still consistent.
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the ids `venue` (shard `shard`, just rebuilt) has seen.
    pub(super) fn recover(&self, shard: usize, venue: &Venue) {
        let mut ids = self.lock();
        for (account, client_id) in venue.client_order_ids() {
            ids.insert(
                (account.to_string(), client_id.to_string()),
                ClientOrderId {
                    shard,
                    pending: None,
                },
            );
        }
    }

    /// What an order with `key` may do on `shard`, on one replica (see [`Claim`]).
    pub(super) fn claim(&self, key: Key, shard: usize) -> Claim<'_> {
        let mut ids = self.lock();
        match ids.get(&key) {
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
        match ids.get(&key) {
            Some(ClientOrderId {
                shard: s,
                pending: None,
            }) if *s == from => Some(self.pending(&mut ids, key, shard)),
            _ => None,
        }
    }

    fn pending(
        &self,
        ids: &mut HashMap<Key, ClientOrderId>,
        key: Key,
        shard: usize,
    ) -> PendingId<'_> {
        let (done, under_way) = watch::channel(());
        ids.insert(
            key.clone(),
            ClientOrderId {
                shard,
                pending: Some(under_way),
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

/// How long a cluster remembers which shard holds a client order id (each shard's venue
/// remembers its own for good; this only matters for a repeat on another symbol).
const SHARED_CLIENT_ID_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Takes `id` for `shard` in the cluster's Redis, or says which shard took it first.
pub(super) async fn claim_shared(
    cluster: &Cluster,
    order: &OrderRequest,
    id: &str,
    shard: usize,
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
        .arg(SHARED_CLIENT_ID_TTL.as_millis() as u64)
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
            ids.remove(&self.key);
        } else {
            ids.insert(
                self.key.clone(),
                ClientOrderId {
                    shard: self.shard,
                    pending: None,
                },
            );
        }
        // `_done` is dropped after this body: the waiters wake to the settled entry.
    }
}
