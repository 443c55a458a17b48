//! What a client asks of a simulation run (`POST /api/simulations`) and the bounds the host
//! holds it to: every number that sizes the work, the memory or the time of a run is checked
//! here before anything starts.

use serde::{Deserialize, Serialize};

use crate::bindings::exports::bourse::platform::generator::{AgentMix, Scenario};

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
pub(super) const DEFAULT_MAX_OPEN: usize = 200_000;
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
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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
    /// The component that generates the flow: any exporting `bourse:platform/generator`,
    /// such as a `simulation-agent` made with `bourse new python-agent` (default
    /// `simulation`).
    #[serde(default)]
    pub generator: Option<String>,
}

/// Longest component id `generator` may name (the manifest's ids are shorter).
const MAX_GENERATOR: usize = 64;

/// A scenario as clients write it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioJson {
    /// The symbols to trade (sandbox symbols, or the market's own for a live run).
    pub symbols: Vec<String>,
    /// Starting mid, in ticks of 0.01.
    pub mid: i64,
    /// Half-width in ticks of the band limit prices are drawn from.
    #[serde(default = "default_spread")]
    pub spread: u32,
    /// Largest order quantity in lots (at least 1).
    #[serde(default = "default_max_quantity")]
    pub max_quantity: u64,
    /// Share of market orders, in percent (0-100).
    #[serde(default)]
    pub market_percent: u8,
    /// Number of simulated accounts (at least 1).
    #[serde(default = "default_accounts")]
    pub accounts: u32,
    /// Seed of the generator: the same seed gives the same flow.
    pub seed: u64,
    /// The chance per order, in basis points, that the mid moves by one tick.
    #[serde(default)]
    pub volatility_bp: u32,
    /// Shares of the flow by agent kind, adding up to 100 (all noise when absent).
    #[serde(default)]
    pub agents: Option<AgentsJson>,
}

/// Shares of the flow by agent kind, in percent.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentsJson {
    /// Random limit orders within `spread` of the mid, and market orders at `market_percent`.
    #[serde(default)]
    pub noise: u8,
    /// Limit orders one to three ticks either side of the mid, keeping the book quoted.
    #[serde(default)]
    pub market_maker: u8,
    /// Market orders in the direction of the mid's recent move.
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

impl RunRequest {
    /// The component generating the flow.
    pub fn generator(&self) -> &str {
        self.generator.as_deref().unwrap_or(super::COMPONENT)
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
        if let Some(g) = &self.generator
            && (g.is_empty()
                || g.len() > MAX_GENERATOR
                || !g
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return bad(format!(
                "generator {g:?} is not a component id (1 to {MAX_GENERATOR} lower-case letters, digits and dashes)"
            ));
        }
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
