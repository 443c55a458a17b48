//! The host side of the market: the native matching core's [`Venue`] behind the `market`
//! interface's types, journaled and replayed.
//!
//! Symbols are split into shards. Each shard's books belong to one single-writer matching task
//! that owns its `Venue` outright and takes jobs from a bounded channel, so request handlers
//! never hold a lock on a book. The task drains whatever has queued, writes the batch's
//! commands to the journal in one commit (group commit: the busier the shard, the bigger the
//! batch), executes them, publishes what changed and only then answers, so an acknowledged
//! command is always durable. Shard `k` of `n` assigns order ids `k+1, k+1+n, …`, so an id
//! names its shard.
//!
//! Every operation on a shard is a [`Call`]. On one replica every shard runs here. In a
//! cluster ([`MarketConfig::cluster`]) each shard runs on the one replica holding its lease
//! ([`ownership`](super::ownership)); the others send it their calls through Redis
//! ([`remote`](super::remote)) and relay the answers. Whoever starts a shard takes the next
//! fencing token of its journal, so a replica that lost a shard can no longer write to it.
//!
//! Client order ids are unique per account across shards: each is held by the shard that
//! first saw it, and that shard's venue answers a repeat with the earlier order. While the
//! first order with an id is under way, a repeat on any symbol waits for its answer (so two
//! shards can never both make an order with one id); a refused order frees the id. In a
//! cluster the shards live on different replicas, so the id is taken in Redis (`SET NX`) by
//! the first shard to ask; a repeat on another shard's symbol gets that order, or, while it
//! is not on the books, a `duplicate-client-order-id` refusal (it cannot be waited for).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bourse_matching::venue::{self, Venue};
use tokio::sync::{mpsc, oneshot, watch};

use super::call::{Answer, Call};
use super::convert::{
    fenced, info, journal_command, quote, reject, result, stopped, trade, unavailable,
};
use super::journal::{Batch, Command, Journal, JournalError, Kind, Tif};
use super::open_orders::OpenOrders;
use super::publish::Publisher;
use crate::bindings::bourse::platform::types::{
    BookDepth, Level, OrderInfo, OrderRequest, OrderResult, Quote, SymbolInfo, Trade,
};
use crate::bindings::bourse::platform::types::{Reject, RejectCode};
use crate::capabilities::events::EventHub;
use crate::cluster::Cluster;
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

/// Why the market (or one of its shards) could not start.
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
    /// The replicas sharing the journal; `None` runs every shard here.
    pub cluster: Option<Arc<Cluster>>,
    /// Orders one account may have resting at once (0: no limit).
    pub max_open_orders: u64,
}

/// A shard's answer to a command.
pub(super) enum Outcome {
    Done(Result<venue::OrderResult, venue::Reject>),
    /// Refused before it was journaled (a risk rule of the shard).
    Refused(Reject),
    /// The journal did not confirm the batch.
    Unavailable,
    /// The shard was taken over: the batch was not written, and this replica stops it.
    Fenced,
}

/// Which shard holds an account's client order id.
pub(super) struct ClientOrderId {
    /// The shard that executed (or executes) the order made with it.
    shard: usize,
    /// Set while the first order with the id is on its way to `shard`; repeats wait for it.
    pending: Option<watch::Receiver<()>>,
}

/// What an order with a client order id may do.
enum Claim<'a> {
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
struct PendingId<'a> {
    inner: &'a Inner,
    key: (String, String),
    shard: usize,
    refused: bool,
    _done: watch::Sender<()>,
}

impl PendingId<'_> {
    fn settle(mut self, result: &Result<OrderResult, Reject>) {
        self.refused = refused(result);
    }
}

/// Whether `result` says for sure that no order was made (so its client order id is free).
fn refused(result: &Result<OrderResult, Reject>) -> bool {
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
async fn claim_shared(
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
fn in_use(order: &OrderRequest) -> Reject {
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
        let mut ids = self.inner.client_ids();
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

/// Work for a shard.
pub(super) enum Job {
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
    /// Orders resting on the shard's books.
    open_orders: AtomicU64,
    /// The fencing token of the shard's current run here.
    fencing_token: AtomicU64,
}

/// What `/api/engine/stats` shows of one symbol's book, kept by its shard as orders flow.
struct BookCounters {
    bid_levels: AtomicU64,
    ask_levels: AtomicU64,
    /// The last trade price in ticks; [`NO_PRICE`] before any.
    last_price: AtomicI64,
}

const NO_PRICE: i64 = i64::MIN;

impl Default for BookCounters {
    fn default() -> Self {
        BookCounters {
            bid_levels: AtomicU64::new(0),
            ask_levels: AtomicU64::new(0),
            last_price: AtomicI64::new(NO_PRICE),
        }
    }
}

/// The market: symbols, the shards this replica runs, and where each client order id was
/// first seen.
pub struct Market {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    symbols: Vec<SymbolInfo>,
    specs: Vec<venue::SymbolSpec>,
    /// The queue of each shard running here.
    slots: Vec<RwLock<Option<mpsc::Sender<Job>>>>,
    client_orders: Mutex<HashMap<(String, String), ClientOrderId>>,
    open_orders: Arc<OpenOrders>,
    counters: Arc<Vec<ShardCounters>>,
    /// Each symbol's book counters, in symbol table order.
    books: Arc<Vec<BookCounters>>,
    /// Commands per second over the last second, updated by a ticker.
    rate: Arc<AtomicU64>,
    pub(super) config: MarketConfig,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
    fn local(&self, k: usize) -> Option<mpsc::Sender<Job>> {
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

    /// Starts shard `k` here: takes its next fencing token, rebuilds its venue from the latest
    /// snapshot plus the journal after it, and spawns its matching task.
    pub(super) async fn open_shard(&self, k: usize) -> Result<(), MarketError> {
        let shards = self.shards();
        let started = Instant::now();
        // Every shard registers every symbol (an unused book costs a few KB) so that its
        // venue validates names the same way; it only ever sees its own symbols' orders.
        let mut venue = Venue::new(&self.specs)?.with_order_ids(k as u64 + 1, shards as u64);
        let mut seq = 0;
        let mut token = 0;
        let mut replayed = 0u64;
        if let Some(journal) = &self.config.journal {
            token = journal.fence(k).await?;
            if let Some((at, snapshot)) = journal.snapshot(k).await? {
                venue = Venue::restore(&self.specs, &snapshot)
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
        {
            let mut ids = self.client_ids();
            for (account, client_id) in venue.client_order_ids() {
                ids.insert(
                    (account.to_string(), client_id.to_string()),
                    ClientOrderId {
                        shard: k,
                        pending: None,
                    },
                );
            }
        }
        self.counters[k].durable_seq.store(seq, Ordering::Relaxed);
        self.counters[k]
            .fencing_token
            .store(token, Ordering::Relaxed);
        self.open_orders.count_resting(&venue, 1);
        let mut publisher = Publisher::new(self.config.events.clone(), venue.symbols().to_vec());
        if self.config.cluster.is_some() {
            publisher.announce(&venue, |i| i % shards == k).await;
        }
        let (tx, rx) = mpsc::channel(SHARD_QUEUE);
        let shard = Shard {
            index: k,
            publisher,
            venue,
            seq,
            token,
            journal: self.config.journal.clone(),
            counters: self.counters.clone(),
            open_orders: self.open_orders.clone(),
            books: self.books.clone(),
            symbol_index: self
                .symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| i % shards == k)
                .map(|(i, s)| (s.symbol.clone(), i))
                .collect(),
            snapshot_every: self.config.snapshot_every,
            since_snapshot: 0,
            uncertain: None,
        };
        for symbol in shard.symbol_index.keys() {
            shard.count_book(symbol);
        }
        // A task, not an OS thread: handing a job over and the answer back are wake-ups
        // inside the runtime, where waking a parked thread costs tens of microseconds.
        tokio::spawn(shard.run(rx));
        *self.slots[k]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
        if self.config.journal.is_some() {
            tracing::info!(
                shard = k,
                token,
                replayed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "shard rebuilt from the journal"
            );
        }
        Ok(())
    }

    fn client_ids(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), ClientOrderId>> {
        // Updated by single inserts, so a poisoned lock is still consistent.
        self.client_orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    async fn call_within(&self, k: usize, call: Call, timeout: Duration) -> Answer {
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
    pub(super) async fn call_here(&self, k: usize, call: Call) -> Answer {
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

/// Hands `call` to a shard's task and waits for its answer.
async fn execute(tx: &mpsc::Sender<Job>, call: Call) -> Answer {
    match call {
        Call::Commands(commands) => {
            let (reply, answer) = oneshot::channel();
            if tx.send(Job::Commands(commands, reply)).await.is_err() {
                return Answer::Failed(stopped());
            }
            match answer.await {
                Ok(outcomes) => {
                    Answer::Results(outcomes.into_iter().map(|o| outcome(Some(o))).collect())
                }
                Err(_) => Answer::Failed(stopped()),
            }
        }
        read => {
            let (reply, answer) = oneshot::channel();
            let job = Job::Read(Box::new(move |s| {
                let _ = reply.send(s.answer(read));
            }));
            if tx.send(job).await.is_err() {
                return Answer::Failed(stopped());
            }
            answer.await.unwrap_or(Answer::Failed(stopped()))
        }
    }
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
            slots: (0..shards).map(|_| RwLock::new(None)).collect(),
            client_orders: Mutex::new(HashMap::new()),
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
                    super::ownership::start(&inner, cluster).await;
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
            super::ownership::release_all(&self.inner, cluster).await;
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
            return claim_shared(cluster, order, id, shard).await;
        }
        let key = (order.account.clone(), id.clone());
        let mut ids = self.inner.client_ids();
        match ids.get(&key) {
            Some(ClientOrderId {
                pending: Some(under_way),
                ..
            }) => Claim::Wait(under_way.clone()),
            Some(ClientOrderId { shard, .. }) => Claim::Seen(*shard),
            None => Claim::First(self.pending(&mut ids, key, shard)),
        }
    }

    /// Moves a client order id that `from` never used to `shard`, unless someone else did
    /// first (then `None`: look again).
    fn take_over(&self, order: &OrderRequest, from: usize, shard: usize) -> Option<PendingId<'_>> {
        let key = (order.account.clone(), order.client_order_id.clone()?);
        let mut ids = self.inner.client_ids();
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
        ids: &mut HashMap<(String, String), ClientOrderId>,
        key: (String, String),
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
            inner: &self.inner,
            key,
            shard,
            refused: false,
            _done: done,
        }
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
                Some(cluster) => super::ownership::owner(cluster, k).await,
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

fn outcome(answer: Option<Outcome>) -> Result<OrderResult, Reject> {
    match answer {
        Some(Outcome::Done(r)) => r.map(result).map_err(reject),
        Some(Outcome::Refused(r)) => Err(r),
        Some(Outcome::Unavailable) => Err(unavailable()),
        Some(Outcome::Fenced) => Err(fenced()),
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
pub(super) struct Shard {
    index: usize,
    venue: Venue,
    /// Sequence number of the last command executed (= journaled).
    seq: u64,
    /// This run's fencing token: journal writes carrying an older one are refused.
    token: u64,
    journal: Option<Arc<Journal>>,
    publisher: Publisher,
    counters: Arc<Vec<ShardCounters>>,
    open_orders: Arc<OpenOrders>,
    books: Arc<Vec<BookCounters>>,
    /// The shard's symbols → their index in `books`.
    symbol_index: HashMap<String, usize>,
    snapshot_every: u64,
    since_snapshot: u64,
    /// A batch whose journal write failed without saying whether it committed.
    uncertain: Option<Batch>,
}

/// Whether a command of a batch runs.
#[derive(Clone, Copy)]
enum Admission {
    /// Journaled and executed; `reserved`: a place among its account's open orders is held
    /// for it.
    Run { reserved: bool },
    /// Refused: its account has no place left for another resting order.
    Refused,
}

fn too_many_open_orders(cap: u64) -> Reject {
    Reject {
        code: RejectCode::TooManyOpenOrders,
        message: format!(
            "this account already has {cap} open orders, the most one account may have \
             (BOURSE_MAX_OPEN_ORDERS); cancel one before placing another order that rests"
        ),
    }
}

/// What a batch's journal write came to.
enum Durability {
    Written,
    /// Not known to be on disk: the batch is refused.
    Unknown,
    /// Another replica holds the shard now: the batch is refused and this run ends.
    Fenced,
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
            if !self.process(&mut batch).await {
                tracing::warn!(
                    shard = self.index,
                    token = self.token,
                    "another replica took this shard over; it stops here"
                );
                jobs.close();
                while let Ok(job) = jobs.try_recv() {
                    if let Job::Commands(commands, reply) = job {
                        let _ = reply.send(commands.iter().map(|_| Outcome::Fenced).collect());
                    }
                }
                break;
            }
        }
        // Its orders now count on the replica that runs it next.
        self.open_orders.count_resting(&self.venue, -1);
    }

    /// Journals the batch's commands in one commit, then executes and answers every job in
    /// arrival order; false once the shard has been taken over.
    async fn process(&mut self, jobs: &mut Vec<Job>) -> bool {
        let at_ms = now_ms();
        // Per job, per command: whether it runs, and with a place reserved for it.
        let admissions: Vec<Vec<Admission>> = jobs
            .iter()
            .map(|j| match j {
                Job::Commands(c, _) => c.iter().map(|c| self.admit(c)).collect(),
                Job::Read(_) => Vec::new(),
            })
            .collect();
        // References, not copies: the batch is only serialised; it is cloned only when a
        // write fails and must be kept.
        let commands: Vec<&Command> = jobs
            .iter()
            .zip(&admissions)
            .filter_map(|(j, admitted)| match j {
                Job::Commands(c, _) => Some(c.iter().zip(admitted)),
                Job::Read(_) => None,
            })
            .flatten()
            .filter(|(_, a)| !matches!(a, Admission::Refused))
            .map(|(c, _)| c)
            .collect();
        let durability = if commands.is_empty() {
            Durability::Written
        } else {
            self.make_durable(at_ms, &commands).await
        };
        drop(commands);
        self.venue.set_time(at_ms);
        let mut replies = Vec::with_capacity(jobs.len());
        for (job, admitted) in jobs.drain(..).zip(admissions) {
            let (commands, reply) = match job {
                Job::Read(f) => {
                    f(self);
                    continue;
                }
                Job::Commands(commands, reply) => (commands, reply),
            };
            let answers: Vec<Outcome> = commands
                .iter()
                .zip(admitted)
                .map(|(c, admission)| match (admission, &durability) {
                    (Admission::Refused, _) => {
                        Outcome::Refused(too_many_open_orders(self.open_orders.cap()))
                    }
                    (Admission::Run { reserved }, Durability::Written) => {
                        Outcome::Done(self.execute(c, reserved))
                    }
                    (Admission::Run { reserved }, refused) => {
                        if reserved {
                            self.open_orders.change(c.account(), -1);
                        }
                        match refused {
                            Durability::Fenced => Outcome::Fenced,
                            _ => Outcome::Unavailable,
                        }
                    }
                })
                .collect();
            replies.push((reply, answers));
        }
        // Published before anyone is answered: a client that gets its fill over HTTP finds
        // the same fill already on its WebSocket rooms.
        self.publisher.flush().await;
        for (reply, answers) in replies {
            let _ = reply.send(answers);
        }
        if matches!(durability, Durability::Fenced) {
            return false;
        }
        self.maybe_snapshot(at_ms).await
    }

    /// Whether `command` may run: a limit order that could rest needs a free place among its
    /// account's open orders, taken now so that racing shards cannot both take the last one.
    fn admit(&self, command: &Command) -> Admission {
        let Command::Submit {
            kind: Kind::Limit,
            tif: Tif::Gtc,
            account,
            client_order_id,
            ..
        } = command
        else {
            return Admission::Run { reserved: false };
        };
        // A repeated client order id makes no order: it answers with the earlier one.
        if let Some(id) = client_order_id
            && self.venue.client_order(account, id).is_some()
        {
            return Admission::Run { reserved: false };
        }
        if self.open_orders.reserve(account) {
            Admission::Run { reserved: true }
        } else {
            Admission::Refused
        }
    }

    /// Executes a journaled command: on the venue, in the events to publish, and in its
    /// account's count of open orders (`reserved`: a place was taken for it by [`Self::admit`]).
    fn execute(
        &mut self,
        command: &Command,
        reserved: bool,
    ) -> Result<venue::OrderResult, venue::Reject> {
        let r = command.apply(&mut self.venue);
        self.publisher.collect(&self.venue, command, &r);
        let account = command.account();
        let mut kept = false;
        if r.as_ref().is_ok_and(|r| !r.duplicate) {
            let open_orders = &self.open_orders;
            self.venue.open_order_changes(|who, delta| {
                if reserved && delta == 1 && who == account {
                    // The new order rests: its reserved place is its count.
                    kept = true;
                } else {
                    open_orders.change(who, delta);
                }
            });
        }
        if reserved && !kept {
            self.open_orders.change(account, -1);
        }
        if r.is_ok() {
            self.count_book(command.symbol());
        }
        r
    }

    /// Updates what `/api/engine/stats` shows of `symbol`'s book and the shard's open
    /// orders: constant time, so the stats never make the shard walk its books.
    fn count_book(&self, symbol: &str) {
        self.counters[self.index]
            .open_orders
            .store(self.venue.engine().open_orders() as u64, Ordering::Relaxed);
        let Some(book) = self.symbol_index.get(symbol).map(|&i| &self.books[i]) else {
            return;
        };
        if let Ok((bids, asks)) = self.venue.level_counts(symbol) {
            book.bid_levels.store(bids as u64, Ordering::Relaxed);
            book.ask_levels.store(asks as u64, Ordering::Relaxed);
        }
        let last = self.venue.last_price(symbol).unwrap_or(NO_PRICE);
        book.last_price.store(last, Ordering::Relaxed);
    }

    /// Answers a read (any call but commands).
    fn answer(&self, call: Call) -> Answer {
        match call {
            Call::Commands(_) => Answer::Failed(stopped()),
            Call::ClientOrder {
                account,
                client_order_id,
            } => Answer::Earlier(
                self.venue
                    .client_order(&account, &client_order_id)
                    .map(result),
            ),
            Call::Book { symbol, levels } => {
                let room_seq = self.publisher.book_seq(&symbol);
                Answer::Book(
                    self.venue
                        .depth(&symbol, levels)
                        .map(|d| {
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
                        .map_err(reject),
                )
            }
            Call::Quote { symbol } => {
                Answer::Quote(self.venue.quote(&symbol).map(quote).map_err(reject))
            }
            Call::Order { account, order_id } => Answer::Order(
                self.venue
                    .order(&account, order_id)
                    .map(info)
                    .map_err(reject),
            ),
            Call::Orders {
                account,
                open_only,
                limit,
            } => Answer::Orders(
                self.venue
                    .orders_of(&account, open_only, limit as usize)
                    .into_iter()
                    .map(info)
                    .collect(),
            ),
            Call::Trades { symbol, limit } => Answer::Trades(
                self.venue
                    .trades_of(&symbol, limit as usize)
                    .map(|t| t.into_iter().map(trade).collect())
                    .map_err(reject),
            ),
            // Answered from counters before it reaches a shard (see `Inner::state_of`).
            Call::State { .. } => Answer::Failed(stopped()),
            Call::StateHash => Answer::State(serde_json::Value::String(format!(
                "{:016x}",
                self.venue.engine().state_hash()
            ))),
        }
    }

    /// Writes the batch and says whether it is known to be on disk.
    async fn make_durable(&mut self, at_ms: u64, commands: &[&Command]) -> Durability {
        let counters = self.counters.clone();
        let counters = &counters[self.index];
        let n = commands.len() as u64;
        let Some(journal) = self.journal.clone() else {
            self.seq += n;
            counters.commands.fetch_add(n, Ordering::Relaxed);
            return Durability::Written;
        };
        if !self.resolve_uncertain(&journal).await {
            return Durability::Unknown;
        }
        let first_seq = self.seq + 1;
        let started = Instant::now();
        match journal
            .append(self.index, self.token, first_seq, at_ms, commands)
            .await
        {
            Ok(()) => {
                metrics::histogram!("journal_commit_seconds").record(started.elapsed());
                metrics::histogram!("journal_batch_commands").record(n as f64);
                self.seq += n;
                self.since_snapshot += n;
                counters.commands.fetch_add(n, Ordering::Relaxed);
                metrics::counter!("matching_commands_total").increment(n);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.durable_seq.store(self.seq, Ordering::Relaxed);
                Durability::Written
            }
            Err(JournalError::Fenced { .. }) => Durability::Fenced,
            Err(e) => {
                counters.journal_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(shard = self.index, error = %e, "journal write failed; the batch is refused");
                self.uncertain = Some(Batch {
                    first_seq,
                    at_ms,
                    commands: commands.iter().map(|c| (*c).clone()).collect(),
                });
                Durability::Unknown
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
                // Exactly as a confirmed batch: executed, counted and published (with the
                // batch that follows), though its callers were told the outcome is unknown.
                self.venue.set_time(batch.at_ms);
                for c in &batch.commands {
                    let _ = self.execute(c, false);
                }
                let n = batch.commands.len() as u64;
                self.seq += n;
                self.since_snapshot += n;
                let counters = &self.counters[self.index];
                counters.commands.fetch_add(n, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters.durable_seq.store(self.seq, Ordering::Relaxed);
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

    /// Snapshots the shard when due; false if it turned out to be taken over.
    async fn maybe_snapshot(&mut self, at_ms: u64) -> bool {
        let Some(journal) = &self.journal else {
            return true;
        };
        if self.snapshot_every == 0 || self.since_snapshot < self.snapshot_every {
            return true;
        }
        let started = Instant::now();
        let snapshot = self.venue.snapshot();
        match journal
            .save_snapshot(self.index, self.token, self.seq, at_ms, &snapshot)
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
                true
            }
            Err(JournalError::Fenced { .. }) => false,
            Err(e) => {
                tracing::warn!(shard = self.index, error = %e, "journal snapshot failed");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests;
