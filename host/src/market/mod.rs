//! The market: the native matching core's [`Venue`]s behind the market's own types
//! ([`types`]), journaled and replayed. The component-facing `bourse:platform/market`
//! interface is a thin adapter over it ([`crate::capabilities::market`]); the HTTP API and
//! live simulations use it directly.
//!
//! Symbols are split into shards. Each shard's books belong to one single-writer matching task
//! ([`shard`]) that journals each batch of commands in one commit before it executes them and
//! answers, so an acknowledged command is always durable. Shard `k` of `n` assigns order ids
//! `k+1, k+1+n, …`, so an id names its shard, and symbol `i` of the table trades on shard
//! `i % n`.
//!
//! Every operation on a shard is a [`Call`](call::Call). On one replica every shard runs here.
//! In a cluster ([`MarketConfig::cluster`]) each shard runs on the one replica holding its
//! lease ([`ownership`]); the others send it their calls through Redis ([`remote`]) and relay
//! the answers. Whoever starts a shard ([`recovery`]) takes the next fencing token of its
//! journal, so a replica that lost a shard can no longer write to it. Which shards run here,
//! and where a call goes, is [`slots`].
//!
//! Client order ids are unique per account across shards ([`client_ids`]): a repeat on any
//! symbol gets the earlier order; in a cluster the id is taken in Redis by the first shard to
//! ask, and a repeat on another shard's symbol gets that order, or, while it is not on the
//! books, a `duplicate-client-order-id` refusal (it cannot be waited for).
//!
//! This facade owns the routing: a symbol or an order id to its shard, a batch split per
//! shard, and the answers put back in order.

mod call;
mod client_ids;
mod config;
mod convert;
pub mod journal;
mod open_orders;
mod ownership;
mod publish;
mod recovery;
mod remote;
mod shard;
mod slots;
pub mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bourse_matching::venue::{self, Venue};

pub use config::{MarketConfig, MarketError, SymbolTableError, default_symbols};
pub use publish::{price_text, quantity_text};
pub use types::{
    BookDepth, Level, OrderInfo, OrderKind, OrderRequest, OrderResult, OrderStatus, Quote, Reject,
    RejectCode, Side, SymbolInfo, TimeInForce, Trade,
};

use crate::manifest::SymbolDecl;
use call::{Answer, Call};
use client_ids::{Claim, PendingId, claim_shared, in_use, refused};
use convert::{journal_command, stopped};
use journal::Command;
use open_orders::OpenOrders;
use shard::{BookCounters, ShardCounters};
use slots::Inner;

/// The market: symbols, the shards this replica runs, and where each client order id was
/// first seen.
pub struct Market {
    inner: Arc<Inner>,
}

impl Market {
    /// A market trading `symbols` (decimal tick and lot sizes) on `config.shards` matching
    /// tasks spawned on the current tokio runtime, each rebuilt from its latest journal
    /// snapshot plus the journal after it. In a cluster this replica runs the shards whose
    /// leases it holds (none, if its role does not match orders).
    pub async fn start(
        symbols: &[SymbolDecl],
        config: MarketConfig,
    ) -> Result<Market, MarketError> {
        let shards = config.shards.clamp(1, 64);
        let specs: Vec<venue::SymbolSpec> = symbols
            .iter()
            .map(|s| venue::SymbolSpec {
                symbol: s.symbol.clone(),
                tick_size: s.tick_size.clone(),
                lot_size: s.lot_size.clone(),
            })
            .collect();
        let infos = Venue::new(&specs)?
            .symbols()
            .iter()
            .map(|s| SymbolInfo {
                symbol: s.symbol.clone(),
                price_scale: s.price_scale,
                tick: s.tick,
                quantity_scale: s.quantity_scale,
                lot: s.lot,
            })
            .collect();
        let counters: Arc<Vec<ShardCounters>> =
            Arc::new((0..shards).map(|_| ShardCounters::default()).collect());
        let infos_len = specs.len();
        let rate = Arc::new(AtomicU64::new(0));
        let inner = Arc::new(Inner {
            symbols: infos,
            specs,
            slots: (0..shards).map(|_| std::sync::RwLock::new(None)).collect(),
            client_ids: client_ids::ClientIds::new(config.client_ids),
            open_orders: Arc::new(OpenOrders::new(config.max_open_orders)),
            counters: counters.clone(),
            books: Arc::new((0..infos_len).map(|_| BookCounters::default()).collect()),
            rate: rate.clone(),
            config,
        });
        match inner.config.cluster.clone() {
            None => {
                for k in 0..shards {
                    inner.open_shard(k).await?;
                }
            }
            Some(cluster) => {
                if cluster.role.matches_orders() {
                    ownership::start(&inner, cluster).await;
                }
            }
        }
        spawn_rate_ticker(counters, rate);
        Ok(Market { inner })
    }

    /// The symbol table.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.inner.symbols
    }

    /// The shards running on this replica.
    pub fn running_shards(&self) -> Vec<usize> {
        self.inner.running()
    }

    /// Gives up this replica's shards (at shutdown), so another replica takes them at once
    /// rather than after their leases expire.
    pub async fn release(&self) {
        if let Some(cluster) = &self.inner.config.cluster {
            ownership::release_all(self.inner.as_ref(), cluster).await;
        }
    }

    fn shards(&self) -> usize {
        self.inner.shards()
    }

    /// The shard of `symbol`; unknown symbols go to shard 0, whose venue rejects them.
    fn shard_of(&self, symbol: &str) -> usize {
        self.inner
            .symbols
            .iter()
            .position(|s| s.symbol == symbol)
            .map_or(0, |i| i % self.shards())
    }

    /// The shard that assigned `order_id`.
    fn shard_of_order(&self, order_id: u64) -> usize {
        (order_id.saturating_sub(1) % self.shards() as u64) as usize
    }

    /// What `order` may do with its client order id on `shard` (see [`Claim`]).
    async fn claim(&self, order: &OrderRequest, shard: usize) -> Claim<'_> {
        let Some(id) = &order.client_order_id else {
            return Claim::Free;
        };
        if let Some(cluster) = &self.inner.config.cluster {
            return claim_shared(cluster, order, id, shard, self.inner.config.client_ids).await;
        }
        self.inner
            .client_ids
            .claim((order.account.clone(), id.clone()), shard)
    }

    /// Moves a client order id that `from` never used to `shard`, unless someone else did
    /// first (then `None`: look again).
    fn take_over(&self, order: &OrderRequest, from: usize, shard: usize) -> Option<PendingId<'_>> {
        let key = (order.account.clone(), order.client_order_id.clone()?);
        self.inner.client_ids.take_over(key, from, shard)
    }

    /// Submits an order.
    pub async fn submit(&self, order: &OrderRequest) -> Result<OrderResult, Reject> {
        let mut results = self.submit_batch(std::slice::from_ref(order)).await;
        results.pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Submits orders in order; one result each. Orders for one shard travel together.
    pub async fn submit_batch(&self, orders: &[OrderRequest]) -> Vec<Result<OrderResult, Reject>> {
        let mut results: Vec<Option<Result<OrderResult, Reject>>> = vec![None; orders.len()];
        let mut per_shard: Vec<(Vec<usize>, Vec<Command>)> =
            vec![(Vec::new(), Vec::new()); self.shards()];
        // Orders whose client order id is used on another shard or by an order under way
        // (maybe in this batch): answered after this batch, one by one.
        let mut repeats = Vec::new();
        let mut firsts = Vec::new();
        let mut shared = Vec::new();
        for (i, order) in orders.iter().enumerate() {
            let shard = self.shard_of(&order.symbol);
            match self.claim(order, shard).await {
                Claim::Free => {}
                Claim::Failed(reject) => {
                    results[i] = Some(Err(reject));
                    continue;
                }
                Claim::First(pending) => firsts.push((i, pending)),
                Claim::Shared(key) => shared.push((i, key)),
                // Its own shard answers a repeat itself, in order.
                Claim::Seen(s) if s == shard => {}
                Claim::Seen(_) | Claim::Wait(_) => {
                    repeats.push(i);
                    continue;
                }
            }
            per_shard[shard].0.push(i);
            per_shard[shard].1.push(journal_command(order));
        }
        let calls = per_shard
            .into_iter()
            .enumerate()
            .filter(|(_, (_, batch))| !batch.is_empty())
            .map(|(shard, (indices, batch))| async move {
                (indices, self.inner.call(shard, Call::Commands(batch)).await)
            });
        for (indices, answer) in futures_util::future::join_all(calls).await {
            let answers = answer.results(indices.len());
            for (i, r) in indices.into_iter().zip(answers) {
                results[i] = Some(r);
            }
        }
        for (i, pending) in firsts {
            if let Some(result) = &results[i] {
                pending.settle(result);
            }
        }
        for (i, key) in shared {
            if let Some(result) = &results[i] {
                self.settle_shared(key, result).await;
            }
        }
        for i in repeats {
            results[i] = Some(self.submit_repeat(&orders[i]).await);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(stopped())))
            .collect()
    }

    /// Submits `order`, whose client order id is used on another shard or by an order under
    /// way: it waits for that order, answers with it if one was made, and otherwise takes the
    /// id to its own shard.
    async fn submit_repeat(&self, order: &OrderRequest) -> Result<OrderResult, Reject> {
        let shard = self.shard_of(&order.symbol);
        loop {
            let pending = match self.claim(order, shard).await {
                Claim::Free => return self.command(shard, journal_command(order)).await,
                Claim::Failed(reject) => return Err(reject),
                Claim::Shared(key) => {
                    let result = self.command(shard, journal_command(order)).await;
                    self.settle_shared(key, &result).await;
                    return result;
                }
                Claim::Seen(s) if s == shard => {
                    return self.command(shard, journal_command(order)).await;
                }
                Claim::First(pending) => pending,
                Claim::Seen(s) => {
                    if let Some(earlier) = self.earlier_order(s, order).await? {
                        return Ok(earlier);
                    }
                    // Another replica may be placing it right now: it cannot be waited for.
                    if self.inner.config.cluster.is_some() {
                        return Err(in_use(order));
                    }
                    match self.take_over(order, s, shard) {
                        Some(pending) => pending,
                        None => continue,
                    }
                }
                Claim::Wait(mut under_way) => {
                    // Never sent on: it ends when the order under way is settled.
                    let _ = under_way.changed().await;
                    continue;
                }
            };
            let result = self.command(shard, journal_command(order)).await;
            pending.settle(&result);
            return result;
        }
    }

    /// Frees a client order id taken in the cluster if its order was refused.
    async fn settle_shared(&self, key: String, result: &Result<OrderResult, Reject>) {
        if !refused(result) {
            return;
        }
        if let Some(cluster) = &self.inner.config.cluster {
            let mut conn = cluster.redis.clone();
            let freed: redis::RedisResult<i64> =
                redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
            if let Err(e) = freed {
                tracing::warn!(error = %e, "could not free a refused order's client order id");
            }
        }
    }

    /// The order `account` made with `order`'s client order id on `shard`, if any.
    async fn earlier_order(
        &self,
        shard: usize,
        order: &OrderRequest,
    ) -> Result<Option<OrderResult>, Reject> {
        let call = Call::ClientOrder {
            account: order.account.clone(),
            client_order_id: order.client_order_id.clone().unwrap_or_default(),
        };
        match self.inner.call(shard, call).await {
            Answer::Earlier(earlier) => Ok(earlier),
            other => Err(other.failure()),
        }
    }

    async fn command(&self, shard: usize, command: Command) -> Result<OrderResult, Reject> {
        let answer = self.inner.call(shard, Call::Commands(vec![command])).await;
        answer.results(1).pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Cancels `order_id` if `account` owns it and it trades `symbol`.
    pub async fn cancel(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
    ) -> Result<OrderResult, Reject> {
        let command = Command::Cancel {
            account: account.to_string(),
            symbol: symbol.to_string(),
            order_id,
        };
        self.command(self.shard_of_order(order_id), command).await
    }

    /// Amends `order_id`'s price and/or open quantity.
    pub async fn amend(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> Result<OrderResult, Reject> {
        let command = Command::Amend {
            account: account.to_string(),
            symbol: symbol.to_string(),
            order_id,
            price,
            quantity,
        };
        self.command(self.shard_of_order(order_id), command).await
    }

    /// Aggregated depth of `symbol`, `levels` per side.
    pub async fn depth(&self, symbol: &str, levels: u32) -> Result<BookDepth, Reject> {
        self.book(symbol, levels).await.map(|(_, depth)| depth)
    }

    /// Depth of `symbol` and the sequence number of the last change published on its
    /// `book:<symbol>` room, taken together so a subscriber can join the change stream.
    pub async fn book(&self, symbol: &str, levels: u32) -> Result<(u64, BookDepth), Reject> {
        let call = Call::Book {
            symbol: symbol.to_string(),
            levels,
        };
        match self.inner.call(self.shard_of(symbol), call).await {
            Answer::Book(book) => book,
            other => Err(other.failure()),
        }
    }

    /// Best prices and last trade of `symbol`.
    pub async fn quote(&self, symbol: &str) -> Result<Quote, Reject> {
        let call = Call::Quote {
            symbol: symbol.to_string(),
        };
        match self.inner.call(self.shard_of(symbol), call).await {
            Answer::Quote(quote) => quote,
            other => Err(other.failure()),
        }
    }

    /// `account`'s order `order_id`.
    pub async fn order(&self, account: &str, order_id: u64) -> Result<OrderInfo, Reject> {
        let call = Call::Order {
            account: account.to_string(),
            order_id,
        };
        match self.inner.call(self.shard_of_order(order_id), call).await {
            Answer::Order(order) => order,
            other => Err(other.failure()),
        }
    }

    /// `account`'s latest orders across all shards, newest (highest id) first.
    pub async fn orders(&self, account: &str, open_only: bool, limit: u32) -> Vec<OrderInfo> {
        let limit = limit.min(1000);
        let calls = (0..self.shards()).map(|shard| {
            let call = Call::Orders {
                account: account.to_string(),
                open_only,
                limit,
            };
            self.inner.call(shard, call)
        });
        let mut all = Vec::new();
        for answer in futures_util::future::join_all(calls).await {
            if let Answer::Orders(orders) = answer {
                all.extend(orders);
            }
        }
        all.sort_unstable_by_key(|o| std::cmp::Reverse(o.order_id));
        all.truncate(limit as usize);
        all
    }

    /// `symbol`'s latest trades, newest first.
    pub async fn trades(&self, symbol: &str, limit: u32) -> Result<Vec<Trade>, Reject> {
        let call = Call::Trades {
            symbol: symbol.to_string(),
            limit: limit.min(1000),
        };
        match self.inner.call(self.shard_of(symbol), call).await {
            Answer::Trades(trades) => trades,
            other => Err(other.failure()),
        }
    }

    /// What `/api/engine/stats` shows: rates, queue and journal positions, book sizes and
    /// each shard's state hash; in a cluster also which replica runs each shard (a shard
    /// running elsewhere reports its state from there).
    pub async fn stats(&self, with_state_hash: bool) -> serde_json::Value {
        let mut shards = Vec::new();
        let mut queued_total = 0;
        for k in 0..self.shards() {
            let symbols: Vec<String> = self
                .inner
                .symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| i % self.shards() == k)
                .map(|(_, s)| s.symbol.clone())
                .collect();
            let owner = match &self.inner.config.cluster {
                Some(cluster) => ownership::owner(cluster, k).await,
                None => None,
            };
            let here = self.inner.runs(k);
            let mut state = match self
                .inner
                .call_within(k, Call::State { symbols }, Duration::from_secs(2))
                .await
            {
                Answer::State(state) => state,
                _ => serde_json::Value::Null,
            };
            if with_state_hash && !state.is_null() {
                state["state_hash"] = match self
                    .inner
                    .call_within(k, Call::StateHash, Duration::from_secs(2))
                    .await
                {
                    Answer::State(hash) => hash,
                    _ => serde_json::Value::Null,
                };
            }
            let mut entry = serde_json::json!({
                "shard": k,
                "runs_here": here,
                "owner": owner,
                "state": state,
            });
            if here {
                let c = &self.inner.counters[k];
                let queued = self
                    .inner
                    .local(k)
                    .map_or(0, |tx| tx.max_capacity() - tx.capacity());
                queued_total += queued;
                entry["commands"] = c.commands.load(Ordering::Relaxed).into();
                entry["durable_seq"] = c.durable_seq.load(Ordering::Relaxed).into();
                entry["journal_batches"] = c.batches.load(Ordering::Relaxed).into();
                entry["journal_errors"] = c.journal_errors.load(Ordering::Relaxed).into();
                entry["queued_jobs"] = queued.into();
            }
            shards.push(entry);
        }
        let mut stats = serde_json::json!({
            "orders_per_second": self.inner.rate.load(Ordering::Relaxed),
            "journal": {
                "enabled": self.inner.config.journal.is_some(),
                // Jobs waiting for a shard are not yet journaled: this is the journal's lag.
                "lag_jobs": queued_total,
            },
            "shards": shards,
        });
        if let Some(cluster) = &self.inner.config.cluster {
            stats["replica"] = cluster.describe(&self.inner.running());
        }
        stats
    }
}

fn spawn_rate_ticker(counters: Arc<Vec<ShardCounters>>, rate: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let total = || -> u64 {
            counters
                .iter()
                .map(|c| c.commands.load(Ordering::Relaxed))
                .sum()
        };
        let mut last = total();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = total();
            rate.store(now - last, Ordering::Relaxed);
            last = now;
            // The ticker outlives nothing: it stops with the runtime.
            if Arc::strong_count(&counters) == 1 {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests;
