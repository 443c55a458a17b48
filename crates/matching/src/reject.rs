//! Typed rejection reasons; a rejected command leaves the engine state untouched
//! except for the event sequence number.

use serde::{Deserialize, Serialize};

#[derive(thiserror::Error, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RejectReason {
    #[error("unknown symbol")]
    UnknownSymbol,
    #[error("unknown or no longer open order")]
    UnknownOrder,
    #[error("quantity must be greater than zero")]
    ZeroQuantity,
    #[error("quantity is not a multiple of the lot size")]
    QuantityOffLot,
    /// An amend whose new open quantity plus what already filled would not fit a
    /// [`Quantity`](crate::Quantity): refused so that filled + remaining stays exact.
    #[error("filled and open quantity together would exceed the largest quantity")]
    QuantityTooLarge,
    #[error("price must be greater than zero")]
    NonPositivePrice,
    #[error("price is not a multiple of the tick size")]
    PriceOffTick,
    #[error("post-only order would cross the book")]
    PostOnlyWouldCross,
    #[error("fill-or-kill order cannot be filled in full")]
    FokCannotFill,
    #[error("an open order with this client order id already exists")]
    DuplicateOrderId,
}

#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum SymbolError {
    #[error("symbol {0} is already registered")]
    Duplicate(u32),
    #[error("tick size must be greater than zero")]
    InvalidTickSize,
    #[error("lot size must be greater than zero")]
    InvalidLotSize,
}
