//! The host side of the market: the native matching core's [`Venue`] behind the `market`
//! interface's types, journaled and replayed.
//!
//! Symbols are split into shards. Each shard's books belong to one single-writer matching task
//! that owns its `Venue` outright and takes jobs from a bounded channel, so request handlers
//! never hold a lock on a book. The task drains whatever has queued, writes the batch's
//! commands to the journal in one commit (group commit: the busier the shard, the bigger the
//! batch), executes them, publishes what changed and only then answers, so an acknowledged
//! command is always durable. Shard `k` of `n` assigns order ids `k+1, k+1+n, …`, so an id
//! names its shard. Client order ids are unique per account across shards: each is
//! reserved to the shard that first saw it, and that shard's venue answers a repeat with the
//! earlier order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bourse_matching::venue::{self, Venue};
use tokio::sync::{mpsc, oneshot};

use super::convert::{info, journal_command, quote, reject, result, stopped, trade, unavailable};
use super::journal::{Batch, Command, Journal, JournalError};
use super::publish::Publisher;
use crate::bindings::bourse::platform::types::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, Level, OrderInfo, OrderRequest, OrderResult, Quote, SymbolInfo, Trade,
};
use crate::capabilities::events::EventHub;
use crate::manifest::SymbolDecl;

/// Jobs that may wait for one shard before senders are made to wait.
const SHARD_QUEUE: usize = 4096;
/// Most jobs one batch (one journal commit) takes.
const MAX_BATCH_JOBS: usize = 1024;

pub use venue::SymbolTableError;

/// The symbols used when the manifest configures none (AAPL, MSFT, SPY; tick 0.01, lot 1).
pub fn default_symbols() -> Vec<SymbolDecl> {
    venue::default_symbols()
        .into_iter()
        .map(|s| SymbolDecl {
            symbol: s.symbol,
            tick_size: s.tick_size,
            lot_size: s.lot_size,
        })
        .collect()
}

/// Why the market could not start.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// Bad symbol table.
    #[error(transparent)]
    Symbols(#[from] SymbolTableError),
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A snapshot could not be restored.
    #[error("journal snapshot of shard {shard}: {source}")]
    Restore {
        shard: usize,
        source: venue::RestoreError,
    },
}

/// How the market runs.
#[derive(Clone)]
pub struct MarketConfig {
    /// Matching shards (tasks).
    pub shards: usize,
    /// Snapshot a shard after this many journaled commands (0: never).
    pub snapshot_every: u64,
    /// Where commands are made durable; `None` keeps the market in memory only (tests).
    pub journal: Option<Arc<Journal>>,
    /// Where book changes, trades and order updates are published.
    pub events: Option<Arc<EventHub>>,
}

/// A shard's answer to a command.
enum Outcome {
    Done(Result<venue::OrderResult, venue::Reject>),
    /// The journal did not confirm the batch.
    Unavailable,
}

/// Work for a shard.
enum Job {
    Commands(Vec<Command>, oneshot::Sender<Vec<Outcome>>),
    /// A read of the shard's state, answered between batches.
    Read(Box<dyn FnOnce(&Shard) + Send>),
}

/// Counters one shard keeps for `/api/engine/stats`.
#[derive(Default)]
struct ShardCounters {
    /// Commands executed.
    commands: AtomicU64,
    /// Sequence number of the last durable command.
    durable_seq: AtomicU64,
    /// Journal commits.
    batches: AtomicU64,
    /// Journal writes that failed.
    journal_errors: AtomicU64,
}

/// The market: symbols, the shards' queues, and where each client order id was first seen.
pub struct Market {
    symbols: Vec<SymbolInfo>,
    shards: Vec<mpsc::Sender<Job>>,
    client_orders: Mutex<HashMap<(String, String), usize>>,
    counters: Arc<Vec<ShardCounters>>,
    /// Commands per second over the last second, updated by a ticker.
    rate: Arc<AtomicU64>,
    journaled: bool,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Market {
    /// A market trading `symbols` (decimal tick and lot sizes) on `config.shards` matching
    /// tasks spawned on the current tokio runtime, each rebuilt from its latest journal
    /// snapshot plus the journal after it.
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
        let counters: Arc<Vec<ShardCounters>> =
            Arc::new((0..shards).map(|_| ShardCounters::default()).collect());
        let mut infos = Vec::new();
        let mut senders = Vec::with_capacity(shards);
        let mut client_orders = HashMap::new();
        let started = Instant::now();
        let mut replayed = 0u64;
        for k in 0..shards {
            // Every shard registers every symbol (an unused book costs a few KB) so that its
            // venue validates names the same way; it only ever sees its own symbols' orders.
            let mut venue = Venue::new(&specs)?.with_order_ids(k as u64 + 1, shards as u64);
            let mut seq = 0;
            if let Some(journal) = &config.journal {
                if let Some((at, snapshot)) = journal.snapshot(k).await? {
                    venue = Venue::restore(&specs, &snapshot)
                        .map_err(|source| MarketError::Restore { shard: k, source })?;
                    seq = at;
                }
                for batch in journal.tail(k, seq).await? {
                    venue.set_time(batch.at_ms);
                    for (i, command) in batch.commands.iter().enumerate() {
                        let s = batch.first_seq + i as u64;
                        if s > seq {
                            // Refusals replay as refusals; nothing to do with either.
                            let _ = command.apply(&mut venue);
                            seq = s;
                            replayed += 1;
                        }
                    }
                }
            }
            for (account, client_id) in venue.client_order_ids() {
                client_orders.insert((account.to_string(), client_id.to_string()), k);
            }
            if infos.is_empty() {
                infos = venue
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
            }
            counters[k].durable_seq.store(seq, Ordering::Relaxed);
            let (tx, rx) = mpsc::channel(SHARD_QUEUE);
            let shard = Shard {
                index: k,
                publisher: Publisher::new(config.events.clone(), venue.symbols().to_vec()),
                venue,
                seq,
                journal: config.journal.clone(),
                counters: counters.clone(),
                snapshot_every: config.snapshot_every,
                since_snapshot: 0,
                uncertain: None,
            };
            // A task, not an OS thread: handing a job over and the answer back are wake-ups
            // inside the runtime, where waking a parked thread costs tens of microseconds.
            tokio::spawn(shard.run(rx));
            senders.push(tx);
        }
        if config.journal.is_some() {
            tracing::info!(
                shards,
                replayed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "market rebuilt from the journal"
            );
        }
        let rate = Arc::new(AtomicU64::new(0));
        spawn_rate_ticker(counters.clone(), rate.clone());
        Ok(Market {
            symbols: infos,
            shards: senders,
            client_orders: Mutex::new(client_orders),
            counters,
            rate,
            journaled: config.journal.is_some(),
        })
    }

    /// The symbol table.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.symbols
    }

    /// The shard of `symbol`; unknown symbols go to shard 0, whose venue rejects them.
    fn shard_of(&self, symbol: &str) -> usize {
        self.symbols
            .iter()
            .position(|s| s.symbol == symbol)
            .map_or(0, |i| i % self.shards.len())
    }

    /// The shard that assigned `order_id`.
    fn shard_of_order(&self, order_id: u64) -> usize {
        (order_id.saturating_sub(1) % self.shards.len() as u64) as usize
    }

    fn client_ids(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), usize>> {
        // Updated by single inserts, so a poisoned lock is still consistent.
        self.client_orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where `order`'s client order id was first seen, reserving it for `shard` if nowhere.
    fn reserve(&self, order: &OrderRequest, shard: usize) -> usize {
        let Some(id) = &order.client_order_id else {
            return shard;
        };
        *self
            .client_ids()
            .entry((order.account.clone(), id.clone()))
            .or_insert(shard)
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
            vec![(Vec::new(), Vec::new()); self.shards.len()];
        // Orders whose client order id was first seen on another shard's symbol: answered
        // after this batch, which may hold the order that first used the id.
        let mut elsewhere = Vec::new();
        for (i, order) in orders.iter().enumerate() {
            let shard = self.shard_of(&order.symbol);
            let first_seen = self.reserve(order, shard);
            if first_seen != shard {
                elsewhere.push((i, first_seen));
                continue;
            }
            per_shard[shard].0.push(i);
            per_shard[shard].1.push(journal_command(order));
        }
        let mut waiting = Vec::new();
        for (shard, (indices, batch)) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            let sent = self.shards[shard]
                .send(Job::Commands(batch, tx))
                .await
                .is_ok();
            waiting.push((indices, sent.then_some(rx)));
        }
        for (indices, rx) in waiting {
            let answers = match rx {
                Some(rx) => rx.await.unwrap_or_default(),
                None => Vec::new(),
            };
            let mut answers = answers.into_iter();
            for i in indices {
                results[i] = Some(outcome(answers.next()));
            }
        }
        for (i, first_seen) in elsewhere {
            let order = &orders[i];
            results[i] = Some(match self.earlier_order(first_seen, order).await {
                Some(earlier) => Ok(earlier),
                None => {
                    let shard = self.shard_of(&order.symbol);
                    self.command(shard, journal_command(order)).await
                }
            });
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(stopped())))
            .collect()
    }

    /// The order `order` repeats, if the shard where its client order id was first seen
    /// accepted one; `None` moves the id to the order's own shard.
    async fn earlier_order(&self, shard: usize, order: &OrderRequest) -> Option<OrderResult> {
        let (account, client_id) = (order.account.clone(), order.client_order_id.clone()?);
        let earlier = self
            .read(shard, move |s| s.venue.client_order(&account, &client_id))
            .await
            .ok()
            .flatten();
        if earlier.is_none() {
            self.client_ids().insert(
                (order.account.clone(), order.client_order_id.clone()?),
                self.shard_of(&order.symbol),
            );
        }
        earlier.map(result)
    }

    async fn command(&self, shard: usize, command: Command) -> Result<OrderResult, Reject> {
        let (tx, rx) = oneshot::channel();
        self.shards[shard]
            .send(Job::Commands(vec![command], tx))
            .await
            .map_err(|_| stopped())?;
        outcome(rx.await.ok().and_then(|mut v| v.pop()))
    }

    /// Runs `f` on shard `shard`'s state between batches.
    async fn read<T: Send + 'static>(
        &self,
        shard: usize,
        f: impl FnOnce(&Shard) -> T + Send + 'static,
    ) -> Result<T, Reject> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Read(Box::new(move |s| {
            let _ = tx.send(f(s));
        }));
        self.shards[shard].send(job).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
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
        let name = symbol.to_string();
        self.read(self.shard_of(symbol), move |s| {
            let room_seq = s.publisher.book_seq(&name);
            s.venue.depth(&name, levels).map(|d| {
                let levels = |side: Vec<(i64, u64)>| {
                    side.into_iter()
                        .map(|(price, quantity)| Level { price, quantity })
                        .collect()
                };
                (
                    room_seq,
                    BookDepth {
                        symbol: d.symbol,
                        sequence: d.sequence,
                        bids: levels(d.bids),
                        asks: levels(d.asks),
                    },
                )
            })
        })
        .await?
        .map_err(reject)
    }

    /// Best prices and last trade of `symbol`.
    pub async fn quote(&self, symbol: &str) -> Result<Quote, Reject> {
        let name = symbol.to_string();
        self.read(self.shard_of(symbol), move |s| s.venue.quote(&name))
            .await?
            .map(quote)
            .map_err(reject)
    }

    /// `account`'s order `order_id`.
    pub async fn order(&self, account: &str, order_id: u64) -> Result<OrderInfo, Reject> {
        let account = account.to_string();
        self.read(self.shard_of_order(order_id), move |s| {
            s.venue.order(&account, order_id)
        })
        .await?
        .map(info)
        .map_err(reject)
    }

    /// `account`'s latest orders across all shards, newest (highest id) first.
    pub async fn orders(&self, account: &str, open_only: bool, limit: u32) -> Vec<OrderInfo> {
        let limit = limit.min(1000) as usize;
        let mut all = Vec::new();
        for shard in 0..self.shards.len() {
            let account = account.to_string();
            if let Ok(orders) = self
                .read(shard, move |s| {
                    s.venue.orders_of(&account, open_only, limit)
                })
                .await
            {
                all.extend(orders);
            }
        }
        all.sort_unstable_by_key(|o| std::cmp::Reverse(o.order_id));
        all.truncate(limit);
        all.into_iter().map(info).collect()
    }

    /// `symbol`'s latest trades, newest first.
    pub async fn trades(&self, symbol: &str, limit: u32) -> Result<Vec<Trade>, Reject> {
        let name = symbol.to_string();
        let limit = limit.min(1000) as usize;
        self.read(self.shard_of(symbol), move |s| {
            s.venue.trades_of(&name, limit)
        })
        .await?
        .map(|t| t.into_iter().map(trade).collect())
        .map_err(reject)
    }

    /// What `/api/engine/stats` shows: rates, queue and journal positions, book sizes and
    /// each shard's state hash.
    pub async fn stats(&self) -> serde_json::Value {
        let mut shards = Vec::new();
        let mut queued_total = 0;
        for (k, sender) in self.shards.iter().enumerate() {
            let queued = sender.max_capacity() - sender.capacity();
            queued_total += queued;
            let c = &self.counters[k];
            let symbols: Vec<String> = self
                .symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| i % self.shards.len() == k)
                .map(|(_, s)| s.symbol.clone())
                .collect();
            let state = self
                .read(k, move |s| {
                    let books: serde_json::Map<String, serde_json::Value> = symbols
                        .iter()
                        .filter_map(|sym| {
                            let d = s.venue.depth(sym, u32::MAX).ok()?;
                            let q = s.venue.quote(sym).ok()?;
                            Some((
                                sym.clone(),
                                serde_json::json!({
                                    "bid_levels": d.bids.len(),
                                    "ask_levels": d.asks.len(),
                                    "last_price_ticks": q.last_price,
                                }),
                            ))
                        })
                        .collect();
                    serde_json::json!({
                        "open_orders": s.venue.engine().open_orders(),
                        "state_hash": format!("{:016x}", s.venue.engine().state_hash()),
                        "books": books,
                    })
                })
                .await
                .unwrap_or(serde_json::Value::Null);
            shards.push(serde_json::json!({
                "shard": k,
                "commands": c.commands.load(Ordering::Relaxed),
                "durable_seq": c.durable_seq.load(Ordering::Relaxed),
                "journal_batches": c.batches.load(Ordering::Relaxed),
                "journal_errors": c.journal_errors.load(Ordering::Relaxed),
                "queued_jobs": queued,
                "state": state,
            }));
        }
        serde_json::json!({
            "orders_per_second": self.rate.load(Ordering::Relaxed),
            "journal": {
                "enabled": self.journaled,
                // Jobs waiting for a shard are not yet journaled: this is the journal's lag.
                "lag_jobs": queued_total,
            },
            "shards": shards,
        })
    }
}

fn outcome(answer: Option<Outcome>) -> Result<OrderResult, Reject> {
    match answer {
        Some(Outcome::Done(r)) => r.map(result).map_err(reject),
        Some(Outcome::Unavailable) => Err(unavailable()),
        None => Err(stopped()),
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

/// One matching shard: the only code that touches its venue.
struct Shard {
    index: usize,
    venue: Venue,
    /// Sequence number of the last command executed (= journaled).
    seq: u64,
    journal: Option<Arc<Journal>>,
    publisher: Publisher,
    counters: Arc<Vec<ShardCounters>>,
    snapshot_every: u64,
    since_snapshot: u64,
    /// A batch whose journal write failed without saying whether it committed.
    uncertain: Option<Batch>,
}

impl Shard {
    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH_JOBS);
        while let Some(first) = jobs.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH_JOBS {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.process(&mut batch).await;
        }
    }

    /// Journals the batch's commands in one commit, then executes and answers every job in
    /// arrival order.
    async fn process(&mut self, jobs: &mut Vec<Job>) {
        let at_ms = now_ms();
        // References, not copies: the batch is only serialised; it is cloned only when a
        // write fails and must be kept.
        let commands: Vec<&Command> = jobs
            .iter()
            .filter_map(|j| match j {
                Job::Commands(c, _) => Some(c.iter()),
                Job::Read(_) => None,
            })
            .flatten()
            .collect();
        let durable = commands.is_empty() || self.make_durable(at_ms, &commands).await;
        drop(commands);
        self.venue.set_time(at_ms);
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            match job {
                Job::Read(f) => f(self),
                Job::Commands(commands, reply) if durable => {
                    let answers: Vec<Outcome> = commands
                        .iter()
                        .map(|c| {
                            let r = c.apply(&mut self.venue);
                            self.publisher.collect(&self.venue, c, &r);
                            Outcome::Done(r)
                        })
                        .collect();
                    replies.push((reply, answers));
                }
                Job::Commands(commands, reply) => {
                    let _ = reply.send(commands.iter().map(|_| Outcome::Unavailable).collect());
                }
            }
        }
        // Published before anyone is answered: a client that gets its fill over HTTP finds
        // the same fill already on its WebSocket rooms.
        self.publisher.flush();
        for (reply, answers) in replies {
            let _ = reply.send(answers);
        }
        self.maybe_snapshot(at_ms).await;
    }

    /// Writes the batch; false if it is not known to be on disk.
    async fn make_durable(&mut self, at_ms: u64, commands: &[&Command]) -> bool {
        let counters = self.counters.clone();
        let counters = &counters[self.index];
        let n = commands.len() as u64;
        let Some(journal) = self.journal.clone() else {
            self.seq += n;
            counters.commands.fetch_add(n, Ordering::Relaxed);
            return true;
        };
        if !self.resolve_uncertain(&journal).await {
            return false;
        }
        let first_seq = self.seq + 1;
        let started = Instant::now();
        match journal.append(self.index, first_seq, at_ms, commands).await {
            Ok(()) => {
                metrics::histogram!("journal_commit_seconds").record(started.elapsed());
                metrics::histogram!("journal_batch_commands").record(n as f64);
                self.seq += n;
                self.since_snapshot += n;
                counters.commands.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("matching_commands_total").increment(n);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.durable_seq.store(self.seq, Ordering::Relaxed);
                true
            }
            Err(e) => {
                counters.journal_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(shard = self.index, error = %e, "journal write failed; the batch is refused");
                self.uncertain = Some(Batch {
                    first_seq,
                    at_ms,
                    commands: commands.iter().map(|c| (*c).clone()).collect(),
                });
                false
            }
        }
    }

    /// After a failed write, finds out whether it committed anyway: if it did, its commands
    /// are part of history and are executed now (their callers were told the outcome is
    /// unknown). Until the database answers, the shard takes no new commands.
    async fn resolve_uncertain(&mut self, journal: &Journal) -> bool {
        let Some(batch) = self.uncertain.take() else {
            return true;
        };
        match journal.contains(self.index, batch.first_seq).await {
            Ok(true) => {
                self.venue.set_time(batch.at_ms);
                for c in &batch.commands {
                    let _ = c.apply(&mut self.venue);
                }
                self.seq += batch.commands.len() as u64;
                tracing::warn!(
                    shard = self.index,
                    first_seq = batch.first_seq,
                    "an unconfirmed journal write had committed; its commands are executed"
                );
                true
            }
            Ok(false) => true,
            Err(_) => {
                self.uncertain = Some(batch);
                false
            }
        }
    }

    async fn maybe_snapshot(&mut self, at_ms: u64) {
        let Some(journal) = &self.journal else { return };
        if self.snapshot_every == 0 || self.since_snapshot < self.snapshot_every {
            return;
        }
        let started = Instant::now();
        let snapshot = self.venue.snapshot();
        match journal
            .save_snapshot(self.index, self.seq, at_ms, &snapshot)
            .await
        {
            Ok(()) => {
                self.since_snapshot = 0;
                tracing::info!(
                    shard = self.index,
                    seq = self.seq,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "journal snapshot"
                );
            }
            Err(e) => tracing::warn!(shard = self.index, error = %e, "journal snapshot failed"),
        }
    }
}

#[cfg(test)]
mod tests;
