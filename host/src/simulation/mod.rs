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
//!
//! Layout: `request` is what a client asks and its bounds, `run` a run's kept state and the
//! slots that cap runs, `driver` the loop of one local run, [`delegate`] the Redis queue to
//! simulation instances; this module is the registry that starts, finds and stops runs.

mod delegate;
mod driver;
mod request;
mod run;
mod session;

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bourse_matching::EngineConfig;
use bourse_matching::venue::Venue;

use crate::capabilities::Shared;
use crate::events::EventHub;
use crate::market::Market;
use crate::runtime::{CallError, Runtime};

use delegate::Queue;
use driver::Driver;
pub use driver::{sandbox_symbols, venue_order};
use request::DEFAULT_MAX_OPEN;
pub use request::{
    AgentsJson, MAX_BATCH, MAX_DURATION_MS, MAX_MID, MAX_OPEN_ORDERS, MAX_ORDERS, MAX_QUANTITY,
    MAX_RATE, MAX_SPREAD, MAX_SYMBOL_LEN, MAX_SYMBOLS, MIN_RATE, RunError, RunRequest,
    ScenarioJson,
};
use run::{Active, KEEP_TRADES, RunState, lock};
pub use run::{Bar, Entry, Progress, Run, RunLimits, Slot, Status, Summary, SymbolSummary};
pub use session::Session;

/// The component that generates the flow.
pub const COMPONENT: &str = "simulation";
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
    /// Where the [`COMPONENT`] that generates the flow runs.
    runtime: Arc<Runtime>,
    /// The live market, for runs that trade on it.
    market: Shared<Market>,
    /// Where progress is published.
    events: Arc<EventHub>,
    runs: Mutex<VecDeque<Entry>>,
    active: Arc<Mutex<Active>>,
    queue: Option<Queue>,
    delegation: Delegation,
}

impl Simulations {
    /// A registry running flows from `runtime`'s [`COMPONENT`] against `market`, publishing
    /// progress on `events`; `redis` and `stream` enable delegation.
    pub fn new(
        runtime: Arc<Runtime>,
        market: Shared<Market>,
        events: Arc<EventHub>,
        redis: Option<redis::aio::ConnectionManager>,
        stream: String,
        delegation: Delegation,
    ) -> Simulations {
        Simulations {
            runtime,
            market,
            events,
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
        if runs.len() >= self.delegation.limits.kept.max(1)
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
                .start_local(owner, request, id, false, slot)
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
                .start_local(owner, request, id, true, slot)
                .await
                .map(Entry::Local);
        }
        let deadline = tokio::time::Instant::now() + self.delegation.handoff;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(ran_on)) = queue.claimant(&id).await {
                return Ok(self.remote(id, owner, request, ran_on, queue.clone(), slot));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let me = format!("fallback:{}", crate::instance::id());
        match queue.claim(&id, &me).await {
            Ok(false) => {
                let ran_on = queue.claimant(&id).await.ok().flatten().unwrap_or_default();
                Ok(self.remote(id, owner, request, ran_on, queue.clone(), slot))
            }
            // Claimed by us, or Redis is gone: either way nobody else will run it.
            _ => self
                .start_local(owner, request, id, true, slot)
                .await
                .map(Entry::Local),
        }
    }

    /// Records a run another instance took, and relays its progress to this host's room; its
    /// slot is held until the run ends there (or could no longer be running).
    fn remote(
        &self,
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
        let events = self.events.clone();
        let relay = events.transport().is_none();
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
                    events.publish_value(
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
    pub fn spawn_worker(self: &Arc<Self>) {
        let Some(queue) = self.queue.clone().filter(|_| self.delegation.worker) else {
            return;
        };
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let me = crate::instance::id();
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
                            .start_local(&job.owner, request, job.id.clone(), false, slot)
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

    async fn start_local(
        &self,
        owner: &str,
        request: RunRequest,
        id: String,
        fell_back: bool,
        slot: Slot,
    ) -> Result<Arc<Run>, StartFailure> {
        let scenario = request.scenario.to_wit();
        let session = Session::start(&self.runtime, request.generator(), &scenario)
            .await
            .map_err(|e| match e {
                // The client named the generator: one that is not there, or generates
                // nothing, is a bad request rather than the host's failure.
                e @ (CallError::UnknownComponent(_) | CallError::MissingExport { .. }) => {
                    StartFailure::Invalid(format!("generator: {e}"))
                }
                e => StartFailure::Call(e),
            })?
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
            runtime: self.runtime.clone(),
            market: self.market.clone(),
            events: self.events.clone(),
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
