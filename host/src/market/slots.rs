//! The shard slots: which shards run on this replica, each as the queue of its matching task,
//! and where a call on a shard goes: to its task here, or through Redis to the replica that
//! runs it ([`remote`](super::remote)). Starting a shard here is [`recovery`](super::recovery);
//! which shards a replica starts is [`ownership`](super::ownership) in a cluster (all of them
//! otherwise).
//!
//! Invariant: a slot is `Some` from the moment its shard's task is spawned here until the
//! shard is given up; a task that ended (taken over) leaves its closed queue in the slot
//! until ownership notices, so [`Inner::holds`] and [`Inner::runs`] differ only then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bourse_matching::venue;
use tokio::sync::mpsc;

use super::call::{Answer, Call};
use super::client_ids::ClientIds;
use super::config::{MarketConfig, MarketError};
use super::convert::{fenced, stopped};
use super::open_orders::OpenOrders;
use super::ownership::Shards;
use super::remote::LocalShards;
use super::shard::{BookCounters, Job, NO_PRICE, ShardCounters, execute};
use super::types::SymbolInfo;

/// What the market shares with its shards' tasks, the lease keeper and the inbox servers.
pub(super) struct Inner {
    pub(super) symbols: Vec<SymbolInfo>,
    pub(super) specs: Vec<venue::SymbolSpec>,
    /// The queue of each shard running here.
    pub(super) slots: Vec<RwLock<Option<mpsc::Sender<Job>>>>,
    pub(super) client_ids: ClientIds,
    pub(super) open_orders: Arc<OpenOrders>,
    pub(super) counters: Arc<Vec<ShardCounters>>,
    /// Each symbol's book counters, in symbol table order.
    pub(super) books: Arc<Vec<BookCounters>>,
    /// Commands per second over the last second, updated by a ticker.
    pub(super) rate: Arc<AtomicU64>,
    pub(super) config: MarketConfig,
}

impl Inner {
    /// Shards in all.
    pub(super) fn shards(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, k: usize) -> std::sync::RwLockReadGuard<'_, Option<mpsc::Sender<Job>>> {
        self.slots[k]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The queue of shard `k` if it runs here and has not stopped.
    pub(super) fn local(&self, k: usize) -> Option<mpsc::Sender<Job>> {
        self.slot(k).as_ref().filter(|tx| !tx.is_closed()).cloned()
    }

    /// Whether shard `k` was started here (it may have stopped since).
    pub(super) fn holds(&self, k: usize) -> bool {
        self.slot(k).is_some()
    }

    /// Whether shard `k` runs here.
    pub(super) fn runs(&self, k: usize) -> bool {
        self.local(k).is_some()
    }

    /// Forgets shard `k`: its task ends once its queue is empty, and new calls go elsewhere.
    pub(super) fn drop_shard(&self, k: usize) {
        *self.slots[k]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The shards running here.
    pub(super) fn running(&self) -> Vec<usize> {
        (0..self.shards()).filter(|&k| self.runs(k)).collect()
    }

    /// Puts shard `k`'s queue in its slot: calls on the shard run here from now on.
    pub(super) fn fill_slot(&self, k: usize, tx: mpsc::Sender<Job>) {
        *self.slots[k]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
    }

    /// How long a call forwarded to another replica may wait: long enough for a dead owner's
    /// lease to expire and a new owner to rebuild the shard and answer.
    fn forward_timeout(&self) -> Duration {
        self.config
            .cluster
            .as_ref()
            .map_or(Duration::ZERO, |c| c.lease * 2 + Duration::from_secs(3))
    }

    /// Shard `k`'s open orders, journal position, fencing token and book sizes, from the
    /// counters its task keeps: read without queueing behind its commands.
    fn state_of(&self, k: usize) -> serde_json::Value {
        let books: serde_json::Map<String, serde_json::Value> = self
            .symbols
            .iter()
            .zip(self.books.iter())
            .enumerate()
            .filter(|(i, _)| i % self.shards() == k)
            .map(|(_, (symbol, book))| {
                let last = book.last_price.load(Ordering::Relaxed);
                (
                    symbol.symbol.clone(),
                    serde_json::json!({
                        "bid_levels": book.bid_levels.load(Ordering::Relaxed),
                        "ask_levels": book.ask_levels.load(Ordering::Relaxed),
                        "last_price_ticks": (last != NO_PRICE).then_some(last),
                    }),
                )
            })
            .collect();
        let c = &self.counters[k];
        serde_json::json!({
            "open_orders": c.open_orders.load(Ordering::Relaxed),
            "durable_seq": c.durable_seq.load(Ordering::Relaxed),
            "fencing_token": c.fencing_token.load(Ordering::Relaxed),
            "books": books,
        })
    }

    /// Runs `call` on shard `k`, here or on its owner.
    pub(super) async fn call(&self, k: usize, call: Call) -> Answer {
        self.call_within(k, call, self.forward_timeout()).await
    }

    pub(super) async fn call_within(&self, k: usize, call: Call, timeout: Duration) -> Answer {
        if let Call::State { .. } = call
            && self.runs(k)
        {
            return Answer::State(self.state_of(k));
        }
        if let Some(tx) = self.local(k) {
            return execute(&tx, call).await;
        }
        match &self.config.cluster {
            Some(cluster) => super::remote::forward(cluster, k, &call, timeout).await,
            None => Answer::Failed(stopped()),
        }
    }

    /// Runs `call` on shard `k` only if it runs here (a call forwarded by another replica).
    async fn call_here(&self, k: usize, call: Call) -> Answer {
        if let Call::State { .. } = call
            && self.runs(k)
        {
            return Answer::State(self.state_of(k));
        }
        match self.local(k) {
            Some(tx) => execute(&tx, call).await,
            None => Answer::Failed(fenced()),
        }
    }
}

impl LocalShards for Inner {
    fn holds(&self, k: usize) -> bool {
        Inner::holds(self, k)
    }

    fn runs(&self, k: usize) -> bool {
        Inner::runs(self, k)
    }

    async fn call_here(&self, k: usize, call: Call) -> Answer {
        Inner::call_here(self, k, call).await
    }
}

impl Shards for Inner {
    fn shards(&self) -> usize {
        Inner::shards(self)
    }

    fn drop_shard(&self, k: usize) {
        Inner::drop_shard(self, k)
    }

    async fn open_shard(&self, k: usize) -> Result<(), MarketError> {
        Inner::open_shard(self, k).await
    }
}
