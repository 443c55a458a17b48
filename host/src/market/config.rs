//! How the market is set up, and why it may fail to start: its configuration, its error, and
//! the default symbol table.

use std::sync::Arc;

use bourse_matching::venue;

use super::journal::{Journal, JournalError};
use crate::cluster::Cluster;
use crate::events::EventHub;
use crate::manifest::SymbolDecl;

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
    /// How long client order ids answer repeats with their order.
    pub client_ids: venue::ClientIdRetention,
}
