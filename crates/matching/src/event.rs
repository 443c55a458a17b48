//! Events describe every state change; their `seq` is gapless and engine-wide.

use serde::{Deserialize, Serialize};

use crate::reject::RejectReason;
use crate::types::{AccountId, OrderId, OrderType, Price, Quantity, Side, SymbolId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Liquidity {
    Maker,
    Taker,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelReason {
    /// Cancel command from the owner.
    Requested,
    /// Self-trade prevention removed (part of) the order.
    SelfTrade,
    /// Market/IOC/FOK remainder that could not match.
    Unfilled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Accepted {
        order_id: OrderId,
        symbol: SymbolId,
        account: AccountId,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
    },
    Rejected {
        order_id: OrderId,
        reason: RejectReason,
    },
    /// One per match; followed by the maker's and the taker's `Fill`.
    Trade {
        symbol: SymbolId,
        price: Price,
        quantity: Quantity,
        aggressor: Side,
        maker_order_id: OrderId,
        taker_order_id: OrderId,
        maker_account: AccountId,
        taker_account: AccountId,
    },
    Fill {
        order_id: OrderId,
        account: AccountId,
        side: Side,
        price: Price,
        quantity: Quantity,
        remaining: Quantity,
        liquidity: Liquidity,
    },
    /// `cancelled` was removed; `remaining` is still open afterwards (non-zero only for a
    /// decrement-both self-trade reduction).
    Cancelled {
        order_id: OrderId,
        cancelled: Quantity,
        remaining: Quantity,
        reason: CancelReason,
    },
    Amended {
        order_id: OrderId,
        price: Price,
        quantity: Quantity,
        priority_kept: bool,
    },
    /// Aggregated level after the change; `quantity == 0` means the level is gone.
    BookChanged {
        symbol: SymbolId,
        side: Side,
        price: Price,
        quantity: Quantity,
        orders: u32,
    },
}

/// Receives events as they happen. Implementations must not assume one command's
/// events arrive in one call; the engine pushes them one at a time.
pub trait EventSink {
    fn emit(&mut self, event: Event);
}

/// Reusing one `Vec` (clear it between commands) keeps event delivery allocation-free.
impl EventSink for Vec<Event> {
    #[inline]
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}

/// Discards events, for callers that only need the command result.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    #[inline]
    fn emit(&mut self, _event: Event) {}
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    #[inline]
    fn emit(&mut self, event: Event) {
        (**self).emit(event);
    }
}
