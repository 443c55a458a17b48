//! Simulations: seeded order flow from a `simulation` component, driven in a tight loop into
//! a sandbox matching venue with its own books (never the live market), with progress
//! published on the `simulations:<id>` room and the results — summary, trades and OHLC bars —
//! kept for querying.
//!
//! A run is bounded twice: by the sandbox's open-order budget (its books are the run's
//! memory) and by the host's resident-memory bound; crossing either stops the run with a
//! status saying which, and the host goes on serving.
//!
//! Invariants a caller cannot break:
//! - every field of a request is within a named bound (checked before anything starts);
//! - no run outlives [`MAX_DURATION_MS`], and a stop request or deadline ends a paced run at
//!   once (the pacer sleeps on the stop signal, never past the deadline);
//! - runs in progress are capped per principal and per instance ([`RunLimits`]): a slot is
//!   taken before a run starts and given back when it ends, wherever it ran;
//! - run ids carry 128 random bits: knowing one run's id tells nothing about another's.

pub(crate) mod delegate;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bourse_matching::EngineConfig;
use bourse_matching::venue::{self, Venue};
use serde::{Deserialize, Serialize};

use crate::bindings::bourse::platform::types::{OrderKind, OrderRequest, Side, TimeInForce};
use crate::bindings::exports::bourse::platform::generator::{AgentMix, Scenario};
use crate::runtime::Runtime;

use delegate::Queue;
pub use delegate::instance_id;

/// Runs remembered; the oldest finished one is forgotten beyond this.
const KEEP_RUNS: usize = 100;
/// Trades kept per run.
const KEEP_TRADES: usize = 1000;
/// Bars kept per symbol; beyond this neighbouring bars are merged.
const MAX_BARS: usize = 500;
/// Largest run, in orders.
pub const MAX_ORDERS: u64 = 1_000_000_000;
/// Longest run, whether it asked for a duration or not: past it, a run stops.
pub const MAX_DURATION_MS: u64 = 3_600_000;
/// Slowest pace, orders per second: slower runs would hold an instance for hours per batch.
pub const MIN_RATE: f64 = 1.0;
/// Fastest pace asked for, orders per second (omit `rate` for as fast as possible).
pub const MAX_RATE: f64 = 10_000_000.0;
/// Largest `next-batch` call (the component caps it there too).
pub const MAX_BATCH: u32 = 65_536;
/// Default open-order budget of a sandbox.
const DEFAULT_MAX_OPEN: usize = 200_000;
/// Largest open-order budget of a sandbox: its books are held in this host's memory.
pub const MAX_OPEN_ORDERS: usize = 1 << 20;
/// Most symbols in one scenario (each is a book in the sandbox).
pub const MAX_SYMBOLS: usize = 1000;
/// Longest symbol name, bytes.
pub const MAX_SYMBOL_LEN: usize = 32;
/// Highest starting mid, ticks (10 million at a tick of 0.01): prices stay far from overflow.
pub const MAX_MID: i64 = 1_000_000_000;
/// Widest spread, ticks.
pub const MAX_SPREAD: u32 = 1_000_000;
/// Largest order quantity, lots: volumes summed over a run stay far from overflow.
pub const MAX_QUANTITY: u64 = 1_000_000;
/// A paced run asks for at most this share of a second's orders per batch, so it stays close
/// to its rate and notices a stop between batches.
const PACED_BATCHES_PER_SECOND: f64 = 10.0;

fn default_batch() -> u32 {
    1024
}
fn default_spread() -> u32 {
    50
}
fn default_max_quantity() -> u64 {
    100
}
fn default_accounts() -> u32 {
    10
}

/// `POST /api/simulations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// What to simulate.
    pub scenario: ScenarioJson,
    /// Orders per second to generate; as fast as possible when absent.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Stop after this many orders (one of `orders` and `duration_ms` is required).
    #[serde(default)]
    pub orders: Option<u64>,
    /// Stop after this long.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Orders per `next-batch` call.
    #[serde(default = "default_batch")]
    pub batch: u32,
    /// Open orders the sandbox may hold (its memory budget).
    #[serde(default)]
    pub max_open_orders: Option<usize>,
    /// Trade on the live books instead of a sandbox (admins only; journaled like any order,
    /// always run on the instance that received it).
    #[serde(default)]
    pub live: bool,
}

/// A scenario as clients write it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioJson {
    pub symbols: Vec<String>,
    /// Starting mid, in ticks of 0.01.
    pub mid: i64,
    #[serde(default = "default_spread")]
    pub spread: u32,
    #[serde(default = "default_max_quantity")]
    pub max_quantity: u64,
    #[serde(default)]
    pub market_percent: u8,
    #[serde(default = "default_accounts")]
    pub accounts: u32,
    pub seed: u64,
    #[serde(default)]
    pub volatility_bp: u32,
    #[serde(default)]
    pub agents: Option<AgentsJson>,
}

/// Shares of the flow by agent kind, in percent.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsJson {
    #[serde(default)]
    pub noise: u8,
    #[serde(default)]
    pub market_maker: u8,
    #[serde(default)]
    pub momentum: u8,
}

impl ScenarioJson {
    /// The generator's scenario.
    pub fn to_wit(&self) -> Scenario {
        let agents = self.agents.map_or(
            AgentMix {
                noise: 100,
                market_maker: 0,
                momentum: 0,
            },
            |a| AgentMix {
                noise: a.noise,
                market_maker: a.market_maker,
                momentum: a.momentum,
            },
        );
        Scenario {
            symbols: self.symbols.clone(),
            mid: self.mid,
            spread: self.spread,
            max_quantity: self.max_quantity,
            market_percent: self.market_percent,
            accounts: self.accounts,
            seed: self.seed,
            volatility_bp: self.volatility_bp,
            agents,
        }
    }
}

/// Why a run request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A field is out of range; the message names it and its bounds.
    #[error("{0}")]
    Invalid(String),
}

impl RunRequest {
    /// Checks the limits the host owns: every number that sizes the work, the memory or the
    /// time of a run (the component checks the scenario's shape — agents, percentages).
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Invalid(m));
        if self.orders.is_none() && self.duration_ms.is_none() {
            return bad("give `orders` or `duration_ms` (or both)".into());
        }
        if let Some(n) = self.orders
            && !(1..=MAX_ORDERS).contains(&n)
        {
            return bad(format!("orders {n} must be from 1 to {MAX_ORDERS}"));
        }
        if let Some(ms) = self.duration_ms
            && !(1..=MAX_DURATION_MS).contains(&ms)
        {
            return bad(format!(
                "duration_ms {ms} must be from 1 to {MAX_DURATION_MS}"
            ));
        }
        if let Some(rate) = self.rate {
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return bad(format!(
                    "rate {rate} must be from {MIN_RATE} to {MAX_RATE} orders per second (omit it for as fast as possible)"
                ));
            }
            if let (Some(n), None) = (self.orders, self.duration_ms)
                && n as f64 / rate * 1000.0 > MAX_DURATION_MS as f64
            {
                return bad(format!(
                    "orders {n} at rate {rate} per second take longer than the longest run ({MAX_DURATION_MS} ms): lower orders, raise rate or give duration_ms"
                ));
            }
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return bad(format!(
                "batch {} must be from 1 to {MAX_BATCH}",
                self.batch
            ));
        }
        if let Some(n) = self.max_open_orders
            && !(1..=MAX_OPEN_ORDERS).contains(&n)
        {
            return bad(format!(
                "max_open_orders {n} must be from 1 to {MAX_OPEN_ORDERS}"
            ));
        }
        self.scenario.validate()
    }
}

impl ScenarioJson {
    fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Invalid(m));
        if !(1..=MAX_SYMBOLS).contains(&self.symbols.len()) {
            return bad(format!(
                "scenario.symbols must name 1 to {MAX_SYMBOLS} symbols (it names {})",
                self.symbols.len()
            ));
        }
        if let Some(s) = self.symbols.iter().find(|s| {
            s.is_empty() || s.len() > MAX_SYMBOL_LEN || !s.bytes().all(|b| b.is_ascii_graphic())
        }) {
            return bad(format!(
                "scenario.symbols: {:?} must be 1 to {MAX_SYMBOL_LEN} printable ASCII characters",
                s.chars().take(MAX_SYMBOL_LEN + 1).collect::<String>()
            ));
        }
        if !(1..=MAX_MID).contains(&self.mid) {
            return bad(format!(
                "scenario.mid {} must be from 1 to {MAX_MID} ticks",
                self.mid
            ));
        }
        if self.spread > MAX_SPREAD {
            return bad(format!(
                "scenario.spread {} must be from 0 to {MAX_SPREAD} ticks",
                self.spread
            ));
        }
        if !(1..=MAX_QUANTITY).contains(&self.max_quantity) {
            return bad(format!(
                "scenario.max_quantity {} must be from 1 to {MAX_QUANTITY} lots",
                self.max_quantity
            ));
        }
        Ok(())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Completed,
    /// Stopped by a client.
    Stopped,
    /// Stopped at its memory budget or the host's memory bound.
    StoppedMemoryBound,
    Failed,
}

/// Live figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub generated: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub trades: u64,
    pub volume: u64,
    pub open_orders: usize,
    pub elapsed_ms: u64,
    pub orders_per_second: f64,
    /// Share done, when the run is bounded by orders or time.
    pub done: f64,
    pub resident_mb: u64,
}

/// One OHLC bar of one symbol: `orders` generated orders wide.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    /// Index of the first generated order the bar covers.
    pub start: u64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: u64,
    pub trades: u64,
}

/// What a finished run leaves.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The sandbox's state hash per its books: equal for equal scenarios and seeds.
    pub book_hash: String,
    pub symbols: HashMap<String, SymbolSummary>,
}

/// Per-symbol results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SymbolSummary {
    pub trades: u64,
    pub volume: u64,
    /// Volume-weighted average price, ticks.
    pub vwap: f64,
    pub last: Option<i64>,
    pub high: Option<i64>,
    pub low: Option<i64>,
}

/// One simulation run.
pub struct Run {
    pub id: String,
    pub request: RunRequest,
    pub owner: String,
    /// Ran here because no simulation instance took it in time.
    pub fell_back: bool,
    stop: AtomicBool,
    /// Wakes a pacer sleeping between batches when `stop` is set.
    wake: tokio::sync::Notify,
    state: Mutex<RunState>,
}

#[derive(Default)]
struct RunState {
    status: Option<Status>,
    reason: Option<String>,
    progress: Progress,
    summary: Option<Summary>,
    bars: HashMap<String, Vec<Bar>>,
    bar_width: u64,
    trades: VecDeque<serde_json::Value>,
}

impl Run {
    fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    /// Status, progress and (when finished) the summary, as JSON.
    pub fn view(&self) -> serde_json::Value {
        let s = self.state();
        serde_json::json!({
            "id": self.id,
            "status": s.status.unwrap_or(Status::Running),
            "reason": s.reason,
            "ran_on": instance_id(),
            "fell_back": self.fell_back,
            "scenario": self.request.scenario,
            "progress": s.progress,
            "summary": s.summary,
        })
    }

    /// `symbol`'s bars.
    pub fn bars(&self, symbol: &str) -> Option<(u64, Vec<Bar>)> {
        let s = self.state();
        s.bars.get(symbol).map(|b| (s.bar_width, b.clone()))
    }

    /// Every symbol's bars, for mirroring.
    fn all_bars(&self) -> serde_json::Value {
        let s = self.state();
        let bars: serde_json::Map<String, serde_json::Value> = s
            .bars
            .iter()
            .map(|(symbol, b)| {
                (
                    symbol.clone(),
                    serde_json::json!({"symbol": symbol, "orders_per_bar": s.bar_width, "prices": "ticks", "bars": b}),
                )
            })
            .collect();
        serde_json::Value::Object(bars)
    }

    /// The latest trades, newest first.
    pub fn trades(&self, limit: usize) -> Vec<serde_json::Value> {
        self.state()
            .trades
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Asks the run to stop after its current batch; a run waiting for its pace wakes now.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // A stored permit: a pacer that starts waiting just after this still wakes at once.
        self.wake.notify_one();
    }

    fn finished(&self) -> bool {
        self.state().status.is_some_and(|s| s != Status::Running)
    }
}

/// A run this host knows: its own, or one a simulation instance runs for it.
#[derive(Clone)]
pub enum Entry {
    Local(Arc<Run>),
    Remote {
        id: String,
        owner: String,
        request: Box<RunRequest>,
        ran_on: String,
    },
}

impl Entry {
    pub fn id(&self) -> &str {
        match self {
            Entry::Local(r) => &r.id,
            Entry::Remote { id, .. } => id,
        }
    }

    pub fn owner(&self) -> &str {
        match self {
            Entry::Local(r) => &r.owner,
            Entry::Remote { owner, .. } => owner,
        }
    }

    pub fn request(&self) -> &RunRequest {
        match self {
            Entry::Local(r) => &r.request,
            Entry::Remote { request, .. } => request,
        }
    }

    fn finished(&self) -> bool {
        match self {
            Entry::Local(r) => r.finished(),
            Entry::Remote { .. } => false,
        }
    }
}

/// How many runs may be in progress at once on the instance that received them (runs it
/// handed to a simulation instance count until they end there).
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// Per principal; ops and admin are held only by `total`.
    pub per_principal: usize,
    /// All principals together; a simulation instance also takes no more delegated runs.
    pub total: usize,
}

/// Runs in progress, by owner.
#[derive(Default)]
struct Active {
    total: usize,
    by_owner: HashMap<String, usize>,
}

/// A run's place among the runs in progress; given back when dropped.
pub struct Slot {
    active: Arc<Mutex<Active>>,
    owner: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut active = lock(&self.active);
        active.total = active.total.saturating_sub(1);
        if let Some(owner) = &self.owner
            && let Some(n) = active.by_owner.get_mut(owner)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                active.by_owner.remove(owner);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A new run id: 128 random bits, so ids cannot be guessed from one another.
fn run_id() -> Result<String, StartFailure> {
    let mut bytes = [0u8; 16];
    // Never a guessable fallback: without randomness, no run.
    getrandom::fill(&mut bytes).map_err(|e| {
        StartFailure::Call(crate::runtime::CallError::Overloaded(format!(
            "no randomness for a run id: {e}"
        )))
    })?;
    Ok(format!(
        "sim-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Where and how big runs are delegated.
#[derive(Debug, Clone)]
pub struct Delegation {
    /// Runs at or under this rate (orders/s) stay on the instance that received them.
    pub local_max_rate: f64,
    /// How long to wait for a simulation instance before running locally.
    pub handoff: Duration,
    /// Whether this instance takes delegated runs (role `simulation`).
    pub worker: bool,
    /// Runs in progress at once.
    pub limits: RunLimits,
}

/// The runs of this host.
pub struct Simulations {
    runs: Mutex<VecDeque<Entry>>,
    active: Arc<Mutex<Active>>,
    queue: Option<Queue>,
    delegation: Delegation,
}

impl Simulations {
    /// A registry; `redis` and `stream` enable delegation.
    pub fn new(
        redis: Option<redis::aio::ConnectionManager>,
        stream: String,
        delegation: Delegation,
    ) -> Simulations {
        Simulations {
            runs: Mutex::new(VecDeque::new()),
            active: Arc::default(),
            queue: redis.map(|conn| Queue::new(conn, stream)),
            delegation,
        }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        lock(&self.runs)
    }

    fn remember(&self, entry: Entry) {
        let mut runs = self.runs();
        if runs.len() >= KEEP_RUNS
            && let Some(i) = runs.iter().position(Entry::finished)
        {
            runs.remove(i);
        }
        runs.push_back(entry);
    }

    /// Takes a slot for a run of `owner` (`None`: a run delegated here, already counted
    /// against its owner where it was received); `privileged` owners are held only by the
    /// total.
    fn reserve(&self, owner: Option<&str>, privileged: bool) -> Result<Slot, StartFailure> {
        let limits = self.delegation.limits;
        let mut active = lock(&self.active);
        if active.total >= limits.total {
            metrics::counter!("simulation_refused_total", "reason" => "instance_runs").increment(1);
            return Err(StartFailure::TooMany(format!(
                "this instance already runs {} simulations, its limit (BOURSE_SIM_MAX_RUNS); retry when one has finished",
                active.total
            )));
        }
        if let Some(owner) = owner {
            let mine = active.by_owner.get(owner).copied().unwrap_or(0);
            if !privileged && mine >= limits.per_principal {
                metrics::counter!("simulation_refused_total", "reason" => "principal_runs")
                    .increment(1);
                return Err(StartFailure::TooMany(format!(
                    "you already have {mine} simulations running, the most one caller may run at once (BOURSE_SIM_MAX_RUNS_PER_PRINCIPAL); stop one or wait for it to finish"
                )));
            }
            *active.by_owner.entry(owner.to_string()).or_default() += 1;
        }
        active.total += 1;
        Ok(Slot {
            active: self.active.clone(),
            owner: owner.map(str::to_string),
        })
    }

    /// The run `id`.
    pub fn get(&self, id: &str) -> Option<Entry> {
        self.runs().iter().find(|r| r.id() == id).cloned()
    }

    /// Starts `request` for `owner`: here when it is small (or nobody else can take it), on
    /// a simulation instance when it is big. A `privileged` owner (ops, admin) is not held
    /// by the per-principal cap.
    pub async fn start(
        &self,
        runtime: Arc<Runtime>,
        component: &str,
        owner: &str,
        privileged: bool,
        request: RunRequest,
    ) -> Result<Entry, StartFailure> {
        request
            .validate()
            .map_err(|e| StartFailure::Invalid(e.to_string()))?;
        let slot = self.reserve(Some(owner), privileged)?;
        let big = !request.live
            && request
                .rate
                .is_none_or(|r| r > self.delegation.local_max_rate);
        let id = run_id()?;
        let Some(queue) = self
            .queue
            .as_ref()
            .filter(|_| big && !self.delegation.worker)
        else {
            return self
                .start_local(runtime, component, owner, request, id, false, slot)
                .await
                .map(Entry::Local);
        };
        let text = serde_json::to_string(&serde_json::json!({
            "scenario": request.scenario, "rate": request.rate, "orders": request.orders,
            "duration_ms": request.duration_ms, "batch": request.batch,
            "max_open_orders": request.max_open_orders,
        }))
        .unwrap_or_default();
        if let Err(e) = queue.offer(&id, owner, &text).await {
            tracing::warn!(error = %e, "simulation queue unavailable; running here");
            return self
                .start_local(runtime, component, owner, request, id, true, slot)
                .await
                .map(Entry::Local);
        }
        let deadline = tokio::time::Instant::now() + self.delegation.handoff;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(ran_on)) = queue.claimant(&id).await {
                return Ok(self.remote(runtime, id, owner, request, ran_on, queue.clone(), slot));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let me = format!("fallback:{}", instance_id());
        match queue.claim(&id, &me).await {
            Ok(false) => {
                let ran_on = queue.claimant(&id).await.ok().flatten().unwrap_or_default();
                Ok(self.remote(runtime, id, owner, request, ran_on, queue.clone(), slot))
            }
            // Claimed by us, or Redis is gone: either way nobody else will run it.
            _ => self
                .start_local(runtime, component, owner, request, id, true, slot)
                .await
                .map(Entry::Local),
        }
    }

    /// Records a run another instance took, and relays its progress to this host's room; its
    /// slot is held until the run ends there (or could no longer be running).
    #[allow(clippy::too_many_arguments)]
    fn remote(
        &self,
        runtime: Arc<Runtime>,
        id: String,
        owner: &str,
        request: RunRequest,
        ran_on: String,
        queue: Queue,
        slot: Slot,
    ) -> Entry {
        let entry = Entry::Remote {
            id: id.clone(),
            owner: owner.to_string(),
            request: Box::new(request),
            ran_on,
        };
        self.remember(entry.clone());
        // With the event bus, the instance running it publishes progress to every replica.
        let relay = runtime.platform().events.bus().is_none();
        // No run outlives MAX_DURATION_MS: past it (and a margin for a mirror that is late or
        // a runner that died), the slot is given back whatever the mirror says.
        let give_up = tokio::time::Instant::now()
            + Duration::from_millis(MAX_DURATION_MS)
            + self.delegation.handoff
            + Duration::from_secs(60);
        tokio::spawn(async move {
            let _slot = slot;
            let room = format!("simulations:{id}");
            while tokio::time::Instant::now() < give_up {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let Ok(Some(doc)) = queue.mirrored(&id).await else {
                    continue;
                };
                let view = &doc["view"];
                if relay {
                    runtime.platform().events.publish_value(
                        "simulation",
                        &room,
                        &serde_json::json!({"status": view["status"], "progress": view["progress"]}),
                    );
                }
                if view["status"] != "running" {
                    break;
                }
            }
        });
        entry
    }

    /// The run's view (status, progress, summary).
    pub async fn view(&self, entry: &Entry) -> serde_json::Value {
        match entry {
            Entry::Local(run) => run.view(),
            Entry::Remote { id, ran_on, .. } => match self.mirror(id).await {
                Some(doc) => doc["view"].clone(),
                None => {
                    serde_json::json!({"id": id, "status": "running", "ran_on": ran_on, "fell_back": false})
                }
            },
        }
    }

    async fn mirror(&self, id: &str) -> Option<serde_json::Value> {
        self.queue.as_ref()?.mirrored(id).await.ok().flatten()
    }

    /// Asks the run to stop.
    pub async fn stop(&self, entry: &Entry) {
        match entry {
            Entry::Local(run) => run.stop(),
            Entry::Remote { id, .. } => {
                if let Some(q) = &self.queue
                    && let Err(e) = q.request_stop(id).await
                {
                    tracing::warn!(error = %e, %id, "stop request not delivered");
                }
            }
        }
    }

    /// `symbol`'s bars.
    pub async fn bars(&self, entry: &Entry, symbol: &str) -> Option<serde_json::Value> {
        match entry {
            Entry::Local(run) => run.bars(symbol).map(|(width, bars)| {
                serde_json::json!({"symbol": symbol, "orders_per_bar": width, "prices": "ticks", "bars": bars})
            }),
            Entry::Remote { id, .. } => {
                let doc = self.mirror(id).await?;
                doc["bars"].get(symbol).cloned()
            }
        }
    }

    /// The latest trades.
    pub async fn trades(&self, entry: &Entry, limit: usize) -> Vec<serde_json::Value> {
        match entry {
            Entry::Local(run) => run.trades(limit),
            Entry::Remote { id, .. } => self
                .mirror(id)
                .await
                .and_then(|d| d["trades"].as_array().cloned())
                .map(|t| t.into_iter().take(limit).collect())
                .unwrap_or_default(),
        }
    }

    /// On a simulation instance: takes delegated runs from the queue until the process ends.
    pub fn spawn_worker(self: &Arc<Self>, runtime: Arc<Runtime>, component: &'static str) {
        let Some(queue) = self.queue.clone().filter(|_| self.delegation.worker) else {
            return;
        };
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let me = instance_id();
            loop {
                // Reads a job only with a slot free: a full instance leaves it to another (or
                // to the receiving instance's fallback).
                let slot = loop {
                    let Some(simulations) = this.upgrade() else {
                        return;
                    };
                    match simulations.reserve(None, true) {
                        Ok(slot) => break slot,
                        Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
                    }
                };
                if let Err(e) = queue.join().await {
                    tracing::warn!(error = %e, "simulation queue unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                let job = match queue.next(&me, Duration::from_millis(1000)).await {
                    Ok(Some(job)) => job,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "simulation queue read failed");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let Some(simulations) = this.upgrade() else {
                    break;
                };
                if !queue.claim(&job.id, &me).await.unwrap_or(false) {
                    continue;
                }
                let request: RunRequest = match serde_json::from_str(&job.request) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, id = %job.id, "unreadable delegated run");
                        continue;
                    }
                };
                // The receiving instance checked it; the bounds are checked again where the
                // run would hold memory and time.
                let started = match request.validate() {
                    Err(e) => Err(StartFailure::Invalid(e.to_string())),
                    Ok(()) => {
                        simulations
                            .start_local(
                                runtime.clone(),
                                component,
                                &job.owner,
                                request,
                                job.id.clone(),
                                false,
                                slot,
                            )
                            .await
                    }
                };
                match started {
                    Ok(run) => {
                        tracing::info!(id = %run.id, owner = %run.owner, "took a delegated simulation");
                        tokio::spawn(mirror(run, queue.clone()));
                    }
                    Err(e) => {
                        let reason = match e {
                            StartFailure::Invalid(m) | StartFailure::TooMany(m) => m,
                            StartFailure::Call(c) => c.to_string(),
                        };
                        let _ = queue
                            .mirror(
                                &job.id,
                                &serde_json::json!({"view": {"id": job.id, "status": "failed", "reason": reason, "ran_on": me}}),
                            )
                            .await;
                    }
                }
            }
        });
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_local(
        &self,
        runtime: Arc<Runtime>,
        component: &str,
        owner: &str,
        request: RunRequest,
        id: String,
        fell_back: bool,
        slot: Slot,
    ) -> Result<Arc<Run>, StartFailure> {
        let scenario = request.scenario.to_wit();
        let session = runtime
            .start_simulation(component, &scenario)
            .await
            .map_err(StartFailure::Call)?
            .map_err(StartFailure::Invalid)?;
        let specs = sandbox_symbols(&request.scenario.symbols);
        let max_open = request.max_open_orders.unwrap_or(DEFAULT_MAX_OPEN);
        let sandbox = Venue::with_config(
            &specs,
            EngineConfig {
                max_open_orders: max_open,
                closed_history: 0,
                ..EngineConfig::default()
            },
        )
        .map_err(|e| StartFailure::Invalid(format!("scenario.symbols: {e}")))?;
        let run = Arc::new(Run {
            id,
            owner: owner.to_string(),
            request,
            fell_back,
            stop: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            state: Mutex::new(RunState::default()),
        });
        self.remember(Entry::Local(run.clone()));
        let driver = Driver {
            runtime,
            run: run.clone(),
            sandbox,
            max_open,
            slot: Some(slot),
        };
        tokio::spawn(driver.drive(session));
        Ok(run)
    }
}

/// Copies a delegated run's state to Redis every 250 ms, and passes on stop requests.
async fn mirror(run: Arc<Run>, queue: Queue) {
    loop {
        let finished = run.finished();
        let doc = serde_json::json!({
            "view": run.view(), "bars": run.all_bars(), "trades": run.trades(KEEP_TRADES),
        });
        if let Err(e) = queue.mirror(&run.id, &doc).await {
            tracing::warn!(error = %e, id = %run.id, "simulation mirror not written");
        }
        if finished {
            break;
        }
        if queue.stop_requested(&run.id).await {
            run.stop();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Why a run did not start.
#[derive(Debug)]
pub enum StartFailure {
    /// The request or the scenario is invalid; the message names the field.
    Invalid(String),
    /// The caller, or this instance, has as many runs in progress as it may; the message
    /// names the limit.
    TooMany(String),
    /// The simulation component could not be called (missing, overloaded, trapped).
    Call(crate::runtime::CallError),
}

struct Driver {
    runtime: Arc<Runtime>,
    run: Arc<Run>,
    sandbox: Venue,
    max_open: usize,
    /// Given back as the run ends, before its final status is visible: a client that sees
    /// the run finished may start the next one at once.
    slot: Option<Slot>,
}

/// A sandbox's symbol table: the scenario's symbols with tick 0.01 and lot 1 (scenario prices
/// are in ticks).
pub fn sandbox_symbols(symbols: &[String]) -> Vec<venue::SymbolSpec> {
    symbols
        .iter()
        .map(|s| venue::SymbolSpec {
            symbol: s.clone(),
            tick_size: "0.01".into(),
            lot_size: "1".into(),
        })
        .collect()
}

/// The generator's order, borrowed for the venue.
pub fn venue_order(o: &OrderRequest) -> venue::OrderRequest<'_> {
    venue::OrderRequest {
        symbol: &o.symbol,
        side: match o.side {
            Side::Buy => bourse_matching::Side::Buy,
            Side::Sell => bourse_matching::Side::Sell,
        },
        kind: match o.kind {
            OrderKind::Limit => venue::OrderKind::Limit,
            OrderKind::Market => venue::OrderKind::Market,
        },
        price: o.price,
        quantity: o.quantity,
        time_in_force: match o.time_in_force {
            TimeInForce::Gtc => venue::TimeInForce::Gtc,
            TimeInForce::Ioc => venue::TimeInForce::Ioc,
            TimeInForce::Fok => venue::TimeInForce::Fok,
        },
        post_only: o.post_only,
        client_order_id: None,
        account: &o.account,
    }
}

impl Driver {
    async fn drive(mut self, mut session: crate::runtime::Simulation) {
        let request = self.run.request.clone();
        let started = Instant::now();
        let deadline = Duration::from_millis(request.duration_ms.unwrap_or(MAX_DURATION_MS));
        let limit = request.orders.unwrap_or(u64::MAX);
        // The generator's sequence does not depend on how it is cut into batches, so smaller
        // paced batches change nothing but the smoothness of the pace.
        let batch = request.rate.map_or(request.batch, |rate| {
            let per_wake = (rate / PACED_BATCHES_PER_SECOND).ceil() as u32;
            request.batch.min(per_wake.max(1))
        });
        // Bars sized so a bounded run has about 200 of them; timed runs use 10 000 orders.
        let bar_width = request.orders.map_or(10_000, |n| (n / 200).max(1));
        self.run.state().bar_width = bar_width;
        let room = format!("simulations:{}", self.run.id);
        let mut last_report = Instant::now();
        let mut progress = Progress::default();
        let mut summaries: HashMap<String, SymbolSummary> = HashMap::new();
        let mut notional: HashMap<String, f64> = HashMap::new();
        let outcome: (Status, Option<String>) = loop {
            if self.run.stop.load(Ordering::Relaxed) {
                break (Status::Stopped, Some("stopped on request".into()));
            }
            if progress.generated >= limit {
                break (Status::Completed, None);
            }
            if started.elapsed() >= deadline {
                break match request.duration_ms {
                    Some(_) => (Status::Completed, None),
                    None => (
                        Status::Stopped,
                        Some(format!(
                            "stopped at the longest run time ({MAX_DURATION_MS} ms)"
                        )),
                    ),
                };
            }
            if self.sandbox.engine().open_orders() >= self.max_open {
                break (
                    Status::StoppedMemoryBound,
                    Some(format!(
                        "the sandbox reached its budget of {} open orders (max_open_orders)",
                        self.max_open
                    )),
                );
            }
            if let Err(e) = self.runtime.check_memory() {
                break (Status::StoppedMemoryBound, Some(e.to_string()));
            }
            let n = (limit - progress.generated).min(u64::from(batch)) as u32;
            let batch = match session.next_batch(n).await {
                Ok(b) if b.is_empty() => {
                    break (Status::Completed, Some("the generator ran dry".into()));
                }
                Ok(b) => b,
                Err(e) => break (Status::Failed, Some(e.to_string())),
            };
            let outcomes = self.execute(&batch, request.live).await;
            let mut state_trades = Vec::new();
            for (order, outcome) in batch.iter().zip(outcomes) {
                let index = progress.generated;
                progress.generated += 1;
                match outcome {
                    Some(trades) => {
                        progress.accepted += 1;
                        for t in trades {
                            progress.trades += 1;
                            progress.volume += t.quantity;
                            let s = summaries.entry(order.symbol.clone()).or_default();
                            s.trades += 1;
                            s.volume += t.quantity;
                            s.last = Some(t.price);
                            s.high = Some(s.high.map_or(t.price, |h| h.max(t.price)));
                            s.low = Some(s.low.map_or(t.price, |l| l.min(t.price)));
                            *notional.entry(order.symbol.clone()).or_default() +=
                                t.price as f64 * t.quantity as f64;
                            state_trades.push((order.symbol.clone(), index, t));
                        }
                    }
                    None => progress.rejected += 1,
                }
            }
            self.record(&state_trades, bar_width);
            if let Some(rate) = request.rate {
                let due = Duration::try_from_secs_f64(progress.generated as f64 / rate)
                    .unwrap_or(Duration::MAX)
                    .min(deadline);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    // Sleeps until the next batch is due, the deadline, or a stop request,
                    // whichever comes first.
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.run.wake.notified() => {}
                    }
                }
            } else {
                // A tight loop still lets the worker's other tasks run between batches.
                tokio::task::yield_now().await;
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                self.report(&mut progress, started, &room, Status::Running);
            }
        };
        for (symbol, s) in summaries.iter_mut() {
            if s.volume > 0 {
                s.vwap = notional.get(symbol).copied().unwrap_or(0.0) / s.volume as f64;
            }
        }
        let summary = Summary {
            // A live run's books are the market's: there is no sandbox to fingerprint.
            book_hash: if request.live {
                "live".into()
            } else {
                format!("{:016x}", self.sandbox.engine().state_hash())
            },
            symbols: summaries,
        };
        {
            let mut state = self.run.state();
            state.summary = Some(summary);
            state.reason = outcome.1.clone();
        }
        self.slot.take();
        self.report(&mut progress, started, &room, outcome.0);
        tracing::info!(id = %self.run.id, status = ?outcome.0, reason = ?outcome.1, generated = progress.generated, trades = progress.trades, "simulation finished");
    }

    /// Matches `batch` in the sandbox, or on the live market for a live run; per order, its
    /// trades, or `None` if it was refused.
    async fn execute(
        &mut self,
        batch: &[OrderRequest],
        live: bool,
    ) -> Vec<Option<Vec<venue::Trade>>> {
        if !live {
            return batch
                .iter()
                .map(|o| self.sandbox.submit(&venue_order(o)).ok().map(|r| r.trades))
                .collect();
        }
        let results = self.runtime.platform().market.submit_batch(batch).await;
        results
            .into_iter()
            .map(|r| {
                r.ok().map(|r| {
                    r.trades
                        .iter()
                        .map(|t| venue::Trade {
                            price: t.price,
                            quantity: t.quantity,
                            maker_order_id: t.maker_order_id,
                            taker_order_id: t.taker_order_id,
                            sequence: t.sequence,
                            aggressor: match t.aggressor {
                                Side::Buy => bourse_matching::Side::Buy,
                                Side::Sell => bourse_matching::Side::Sell,
                            },
                            timestamp_ms: t.timestamp_ms,
                        })
                        .collect()
                })
            })
            .collect()
    }

    /// Adds trades to the bars and the kept trades.
    fn record(&self, trades: &[(String, u64, venue::Trade)], bar_width: u64) {
        if trades.is_empty() {
            return;
        }
        let mut state = self.run.state();
        for (symbol, index, t) in trades {
            let start = index / bar_width * bar_width;
            let bars = state.bars.entry(symbol.clone()).or_default();
            match bars.last_mut() {
                Some(bar) if bar.start == start => {
                    bar.high = bar.high.max(t.price);
                    bar.low = bar.low.min(t.price);
                    bar.close = t.price;
                    bar.volume += t.quantity;
                    bar.trades += 1;
                }
                _ => bars.push(Bar {
                    start,
                    open: t.price,
                    high: t.price,
                    low: t.price,
                    close: t.price,
                    volume: t.quantity,
                    trades: 1,
                }),
            }
            if bars.len() > MAX_BARS {
                // Too many for a timed run: keep them by merging neighbours.
                let merged = bars
                    .chunks(2)
                    .map(|pair| {
                        let (a, b) = (&pair[0], pair.last().unwrap_or(&pair[0]));
                        Bar {
                            start: a.start,
                            open: a.open,
                            high: pair.iter().map(|x| x.high).max().unwrap_or(a.high),
                            low: pair.iter().map(|x| x.low).min().unwrap_or(a.low),
                            close: b.close,
                            volume: pair.iter().map(|x| x.volume).sum(),
                            trades: pair.iter().map(|x| x.trades).sum(),
                        }
                    })
                    .collect();
                *bars = merged;
            }
            if state.trades.len() == KEEP_TRADES {
                state.trades.pop_front();
            }
            state.trades.push_back(serde_json::json!({
                "symbol": symbol, "order_index": index, "price_ticks": t.price,
                "quantity": t.quantity, "maker_order_id": t.maker_order_id.to_string(),
                "taker_order_id": t.taker_order_id.to_string(),
                "aggressor": if t.aggressor == bourse_matching::Side::Buy { "buy" } else { "sell" },
            }));
        }
    }

    fn report(&self, progress: &mut Progress, started: Instant, room: &str, status: Status) {
        let elapsed = started.elapsed();
        progress.elapsed_ms = elapsed.as_millis() as u64;
        progress.orders_per_second = progress.generated as f64 / elapsed.as_secs_f64().max(1e-9);
        progress.open_orders = self.sandbox.engine().open_orders();
        progress.resident_mb = crate::telemetry::resident_bytes() >> 20;
        let request = &self.run.request;
        progress.done = match (request.orders, request.duration_ms) {
            _ if status != Status::Running => 1.0,
            (Some(n), _) => progress.generated as f64 / n as f64,
            (None, Some(ms)) => (elapsed.as_millis() as f64 / ms as f64).min(1.0),
            (None, None) => 0.0,
        };
        {
            let mut state = self.run.state();
            state.progress = progress.clone();
            if status != Status::Running {
                state.status = Some(status);
            }
        }
        let platform = self.runtime.platform();
        platform.events.publish_value(
            "simulation",
            room,
            &serde_json::json!({"status": status, "progress": progress}),
        );
    }
}
