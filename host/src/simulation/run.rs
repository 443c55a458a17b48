//! One run's state as the host keeps it (status, progress, bars, trades, summary), the runs
//! this host knows of (its own and those a simulation instance runs for it), and the slots
//! that cap runs in progress.
//!
//! A run's state sits behind one mutex written by its driver and read by the API; a slot is
//! given back when dropped, so a run that ends any way at all frees its place.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::request::RunRequest;

/// Trades kept per run.
pub(super) const KEEP_TRADES: usize = 1000;
/// Bars kept per symbol; beyond this neighbouring bars are merged.
pub(super) const MAX_BARS: usize = 500;

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
    pub(super) stop: AtomicBool,
    /// Wakes a pacer sleeping between batches when `stop` is set.
    pub(super) wake: tokio::sync::Notify,
    pub(super) state: Mutex<RunState>,
}

#[derive(Default)]
pub(super) struct RunState {
    pub(super) status: Option<Status>,
    pub(super) reason: Option<String>,
    pub(super) progress: Progress,
    pub(super) summary: Option<Summary>,
    pub(super) bars: HashMap<String, Vec<Bar>>,
    pub(super) bar_width: u64,
    pub(super) trades: VecDeque<serde_json::Value>,
}

impl Run {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    /// Status, progress and (when finished) the summary, as JSON.
    pub fn view(&self) -> serde_json::Value {
        let s = self.state();
        serde_json::json!({
            "id": self.id,
            "status": s.status.unwrap_or(Status::Running),
            "reason": s.reason,
            "ran_on": crate::instance::id(),
            "fell_back": self.fell_back,
            "scenario": self.request.scenario,
            "generator": self.request.generator(),
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
    pub(super) fn all_bars(&self) -> serde_json::Value {
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

    pub(super) fn finished(&self) -> bool {
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

    pub(super) fn finished(&self) -> bool {
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
    /// Finished runs kept for reading (each holds its bars and latest trades, up to about a
    /// megabyte); beyond it the oldest finished one is forgotten.
    pub kept: usize,
}

/// Runs in progress, by owner.
#[derive(Default)]
pub(super) struct Active {
    pub(super) total: usize,
    pub(super) by_owner: HashMap<String, usize>,
}

/// A run's place among the runs in progress; given back when dropped.
pub struct Slot {
    pub(super) active: Arc<Mutex<Active>>,
    pub(super) owner: Option<String>,
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

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
