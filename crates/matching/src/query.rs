//! Read-side views returned by engine queries and command results.

use serde::{Deserialize, Serialize};

use crate::types::{AccountId, OrderId, Price, Quantity, Side, SymbolId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderState {
    Open,
    PartiallyFilled,
    Filled,
    Cancelled,
}

impl OrderState {
    pub(crate) fn live(filled: Quantity) -> Self {
        if filled == 0 {
            OrderState::Open
        } else {
            OrderState::PartiallyFilled
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    pub order_id: OrderId,
    pub symbol: SymbolId,
    pub account: AccountId,
    pub side: Side,
    /// `None` for market orders.
    pub price: Option<Price>,
    pub state: OrderState,
    pub filled: Quantity,
    pub remaining: Quantity,
}

/// Outcome of an accepted command, for the order it addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub order_id: OrderId,
    pub state: OrderState,
    /// Quantity filled by this command alone.
    pub filled: Quantity,
    /// Quantity still open on the book after the command.
    pub remaining: Quantity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelView {
    pub price: Price,
    pub quantity: Quantity,
    pub orders: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopOfBook {
    pub bid: Option<LevelView>,
    pub ask: Option<LevelView>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depth {
    /// Best (highest) first.
    pub bids: Vec<LevelView>,
    /// Best (lowest) first.
    pub asks: Vec<LevelView>,
}
