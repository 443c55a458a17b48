//! The market's own types: what it is asked and what it answers, in integers (ticks and
//! lots). They mirror the `bourse:platform/types` records the component-facing adapter
//! ([`crate::capabilities::market`]) converts them to and from, field for field, but belong
//! to the market: calls and answers forwarded between replicas ([`super::call`]) carry these,
//! so their JSON changes only when the market changes it, never with the WIT.
//!
//! Invariant: the serde form of every type here is part of the wire format between replicas
//! (pinned by `call`'s tests); renaming a field or a variant changes it.

use serde::{Deserialize, Serialize};

/// Which side of the book an order is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKind {
    Limit,
    Market,
}

/// How long an order may stay on the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
}

/// An order as the market receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    /// Limit price in ticks; ignored for market orders.
    pub price: i64,
    /// Quantity in lots.
    pub quantity: u64,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    /// The client's own id, unique per account, for idempotency.
    pub client_order_id: Option<String>,
    /// The account (principal id) that owns the order.
    pub account: String,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    Accepted,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

/// One execution between a resting (maker) and an incoming (taker) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub price: i64,
    pub quantity: u64,
    pub maker_order_id: u64,
    pub taker_order_id: u64,
    pub sequence: u64,
    pub aggressor: Side,
    pub timestamp_ms: u64,
}

/// Why the market refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectCode {
    UnknownSymbol,
    UnknownOrder,
    InvalidQuantity,
    PriceOffTick,
    PostOnlyWouldCross,
    FokCannotFill,
    DuplicateClientOrderId,
    NoLiquidity,
    /// The outcome is unknown or the market cannot be reached; nothing is known to be done.
    Unavailable,
    TooManyOpenOrders,
}

/// A refused command: a code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub code: RejectCode,
    pub message: String,
}

/// What happened to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderResult {
    pub order_id: u64,
    pub status: OrderStatus,
    pub filled_quantity: u64,
    pub remaining_quantity: u64,
    pub trades: Vec<Trade>,
    pub reject_reason: Option<RejectCode>,
    /// The client order id was used before: this is that earlier order, and no new one was
    /// made.
    pub duplicate: bool,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInfo {
    pub order_id: u64,
    pub symbol: String,
    pub side: Side,
    /// Limit price in ticks; none for market orders.
    pub price: Option<i64>,
    pub status: OrderStatus,
    pub filled_quantity: u64,
    pub remaining_quantity: u64,
}

/// One aggregated price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub price: i64,
    pub quantity: u64,
}

/// Best prices and the last trade of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub symbol: String,
    pub bid: Option<Level>,
    pub ask: Option<Level>,
    pub last_price: Option<i64>,
}

/// Aggregated depth of one symbol's book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookDepth {
    pub symbol: String,
    /// Book sequence number the depth was taken at.
    pub sequence: u64,
    /// Best (highest) first.
    pub bids: Vec<Level>,
    /// Best (lowest) first.
    pub asks: Vec<Level>,
}

/// A tradable symbol and how its integers map to decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub symbol: String,
    /// A price of `p` ticks is `p * tick / 10^price_scale`.
    pub price_scale: u8,
    pub tick: u64,
    pub quantity_scale: u8,
    pub lot: u64,
}
