//! The whole venue as data: the engine's snapshot plus the venue's own bookkeeping (accounts,
//! client order ids, order-id sequence, recent trades, clock). Restoring it and replaying the
//! commands journaled after it gives the same venue as never stopping.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{SymbolSpec, SymbolTableError, Trade, Venue};
use crate::engine::Engine;
use crate::snapshot::{EngineSnapshot, SnapshotError};
use crate::types::{AccountId, OrderId};

/// Serialisable venue state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueSnapshot {
    /// The books and the engine's counters.
    pub engine: EngineSnapshot,
    /// Next order id this venue assigns, and the distance between its ids.
    pub next_order_id: u64,
    /// See [`Venue::with_order_ids`].
    pub id_step: u64,
    /// Account names in id order (id = index + 1).
    pub accounts: Vec<String>,
    /// (venue time taken, account id, client order id, order id), oldest first.
    #[serde(default)]
    pub client_order_log: Vec<(u64, u64, String, u64)>,
    /// (account id, client order id, order id): how snapshots held client order ids before
    /// they were forgotten after a while; read (as taken at the snapshot's time), not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_orders: Vec<(u64, String, u64)>,
    /// (account id, its latest order ids, oldest first).
    pub account_orders: Vec<(u64, Vec<u64>)>,
    /// Recent trades per symbol, in symbol-table order, oldest first.
    pub recent_trades: Vec<Vec<Trade>>,
    /// Last trade price per symbol.
    pub last_price: Vec<Option<i64>>,
    /// The venue clock.
    pub now_ms: u64,
}

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The symbol table itself is invalid.
    #[error(transparent)]
    Symbols(#[from] SymbolTableError),
    /// The engine part is inconsistent.
    #[error(transparent)]
    Engine(#[from] SnapshotError),
    /// The snapshot was taken with another symbol table.
    #[error("the snapshot's symbols ({found}) differ from the configured ones ({configured})")]
    SymbolsChanged { found: String, configured: String },
}

impl Venue {
    /// Everything needed to rebuild this venue.
    pub fn snapshot(&self) -> VenueSnapshot {
        let client_order_log: Vec<(u64, u64, String, u64)> = self
            .client_order_log
            .iter()
            .filter_map(|(at, a, c)| {
                let order = self.client_orders.get(&(*a, c.clone()))?;
                Some((*at, a.0, c.clone(), order.0))
            })
            .collect();
        let mut account_orders: Vec<(u64, Vec<u64>)> = self
            .account_orders
            .iter()
            .map(|(a, ids)| (a.0, ids.iter().copied().collect()))
            .collect();
        account_orders.sort_unstable();
        VenueSnapshot {
            engine: self.engine.snapshot(),
            next_order_id: self.next_order_id,
            id_step: self.id_step,
            accounts: self.account_names.clone(),
            client_order_log,
            client_orders: Vec::new(),
            account_orders,
            recent_trades: self
                .recent_trades
                .iter()
                .map(|t| t.iter().copied().collect())
                .collect(),
            last_price: self.last_price.clone(),
            now_ms: self.now_ms,
        }
    }

    /// A venue trading `symbols`, in the state `snapshot` recorded.
    pub fn restore(
        symbols: &[SymbolSpec],
        snapshot: &VenueSnapshot,
    ) -> Result<Venue, RestoreError> {
        let mut venue = Venue::with_config(symbols, snapshot.engine.config)?;
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(",");
        let found = names(&mut snapshot.engine.books.iter().map(|b| b.symbol.name.as_str()));
        let configured = names(&mut venue.symbols.iter().map(|s| s.symbol.as_str()));
        if found != configured
            || snapshot.recent_trades.len() != venue.symbols.len()
            || snapshot.last_price.len() != venue.symbols.len()
        {
            return Err(RestoreError::SymbolsChanged { found, configured });
        }
        venue.engine = Engine::restore(&snapshot.engine)?;
        venue.next_order_id = snapshot.next_order_id;
        venue.id_step = snapshot.id_step.max(1);
        venue.account_names = snapshot.accounts.clone();
        venue.accounts = snapshot
            .accounts
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), AccountId(i as u64 + 1)))
            .collect();
        let log: Vec<(u64, u64, String, u64)> = if snapshot.client_order_log.is_empty() {
            snapshot
                .client_orders
                .iter()
                .map(|(a, c, o)| (snapshot.now_ms, *a, c.clone(), *o))
                .collect()
        } else {
            snapshot.client_order_log.clone()
        };
        venue.client_orders = log
            .iter()
            .map(|(_, a, c, o)| ((AccountId(*a), c.clone()), OrderId(*o)))
            .collect::<HashMap<_, _>>();
        venue.client_order_log = log
            .into_iter()
            .map(|(at, a, c, _)| (at, AccountId(a), c))
            .collect();
        venue.account_orders = snapshot
            .account_orders
            .iter()
            .map(|(a, ids)| (AccountId(*a), ids.iter().copied().collect::<VecDeque<_>>()))
            .collect();
        venue.recent_trades = snapshot
            .recent_trades
            .iter()
            .map(|t| t.iter().copied().collect())
            .collect();
        venue.last_price = snapshot.last_price.clone();
        venue.now_ms = snapshot.now_ms;
        Ok(venue)
    }
}
