//! Identifiers and value types shared by commands, events and queries.

use serde::{Deserialize, Serialize};

/// Price in the symbol's integer price units; must be a positive multiple of the tick size.
pub type Price = i64;
/// Quantity in integer units; must be a positive multiple of the lot size.
pub type Quantity = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SymbolId(pub u32);

/// Client-chosen order id, unique among the engine's open orders (the host namespaces it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub u64);

/// Self-trade prevention groups orders by account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// What happens when an incoming order would trade against a resting order of the same account.
/// The incoming (taker) order's mode governs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StpMode {
    /// Cancel the incoming order's remaining quantity; the resting order stays.
    #[default]
    CancelNewest,
    /// Cancel the resting order and keep matching.
    CancelOldest,
    /// Reduce both by the smaller remaining quantity without a trade.
    DecrementBoth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    /// Good till cancelled: matches, then rests.
    Limit { price: Price },
    /// Matches at any price; the remainder is cancelled.
    Market,
    /// Immediate or cancel: matches up to `price`; the remainder is cancelled.
    Ioc { price: Price },
    /// Fill or kill: rejected unless it can complete in full up to `price`.
    Fok { price: Price },
    /// Rests without matching; rejected if it would cross.
    PostOnly { price: Price },
}

impl OrderType {
    pub fn price(self) -> Option<Price> {
        match self {
            OrderType::Market => None,
            OrderType::Limit { price }
            | OrderType::Ioc { price }
            | OrderType::Fok { price }
            | OrderType::PostOnly { price } => Some(price),
        }
    }

    pub(crate) fn rests(self) -> bool {
        matches!(self, OrderType::Limit { .. } | OrderType::PostOnly { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolConfig {
    pub id: SymbolId,
    pub name: String,
    pub tick_size: Price,
    pub lot_size: Quantity,
}

/// Capacities are hints used to pre-size slabs and maps so that steady-state
/// matching does not allocate; exceeding them only costs an amortised regrowth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Open orders across all symbols.
    pub max_open_orders: usize,
    /// Open orders per symbol book. Kept for compatibility (and snapshots): orders of all
    /// symbols share one slab sized from `max_open_orders`, so this no longer sizes anything.
    pub orders_per_symbol: usize,
    /// Distinct price levels per symbol book.
    pub levels_per_symbol: usize,
    /// How many finished (filled/cancelled) orders stay queryable by `order_status`.
    pub closed_history: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_open_orders: 1 << 16,
            orders_per_symbol: 1 << 12,
            levels_per_symbol: 1 << 10,
            closed_history: 1 << 16,
        }
    }
}
