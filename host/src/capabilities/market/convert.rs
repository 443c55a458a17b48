//! Between the `bourse:platform/types` records components see and the market's own types
//! ([`crate::market::types`]): field for field, with exhaustive matches and full struct
//! literals, so a change on either side fails to compile here rather than drifting.

use crate::bindings::bourse::platform::types as wit;
use crate::market::types as market;

impl From<wit::Side> for market::Side {
    fn from(s: wit::Side) -> Self {
        match s {
            wit::Side::Buy => market::Side::Buy,
            wit::Side::Sell => market::Side::Sell,
        }
    }
}

impl From<market::Side> for wit::Side {
    fn from(s: market::Side) -> Self {
        match s {
            market::Side::Buy => wit::Side::Buy,
            market::Side::Sell => wit::Side::Sell,
        }
    }
}

impl From<wit::OrderKind> for market::OrderKind {
    fn from(k: wit::OrderKind) -> Self {
        match k {
            wit::OrderKind::Limit => market::OrderKind::Limit,
            wit::OrderKind::Market => market::OrderKind::Market,
        }
    }
}

impl From<wit::TimeInForce> for market::TimeInForce {
    fn from(t: wit::TimeInForce) -> Self {
        match t {
            wit::TimeInForce::Gtc => market::TimeInForce::Gtc,
            wit::TimeInForce::Ioc => market::TimeInForce::Ioc,
            wit::TimeInForce::Fok => market::TimeInForce::Fok,
        }
    }
}

impl From<wit::OrderRequest> for market::OrderRequest {
    fn from(o: wit::OrderRequest) -> Self {
        market::OrderRequest {
            symbol: o.symbol,
            side: o.side.into(),
            kind: o.kind.into(),
            price: o.price,
            quantity: o.quantity,
            time_in_force: o.time_in_force.into(),
            post_only: o.post_only,
            client_order_id: o.client_order_id,
            account: o.account,
        }
    }
}

impl From<&wit::OrderRequest> for market::OrderRequest {
    fn from(o: &wit::OrderRequest) -> Self {
        o.clone().into()
    }
}

impl From<market::OrderStatus> for wit::OrderStatus {
    fn from(s: market::OrderStatus) -> Self {
        match s {
            market::OrderStatus::Accepted => wit::OrderStatus::Accepted,
            market::OrderStatus::PartiallyFilled => wit::OrderStatus::PartiallyFilled,
            market::OrderStatus::Filled => wit::OrderStatus::Filled,
            market::OrderStatus::Cancelled => wit::OrderStatus::Cancelled,
            market::OrderStatus::Rejected => wit::OrderStatus::Rejected,
        }
    }
}

impl From<market::RejectCode> for wit::RejectCode {
    fn from(c: market::RejectCode) -> Self {
        use market::RejectCode as M;
        match c {
            M::UnknownSymbol => wit::RejectCode::UnknownSymbol,
            M::UnknownOrder => wit::RejectCode::UnknownOrder,
            M::InvalidQuantity => wit::RejectCode::InvalidQuantity,
            M::PriceOffTick => wit::RejectCode::PriceOffTick,
            M::PostOnlyWouldCross => wit::RejectCode::PostOnlyWouldCross,
            M::FokCannotFill => wit::RejectCode::FokCannotFill,
            M::DuplicateClientOrderId => wit::RejectCode::DuplicateClientOrderId,
            M::NoLiquidity => wit::RejectCode::NoLiquidity,
            M::Unavailable => wit::RejectCode::Unavailable,
            M::TooManyOpenOrders => wit::RejectCode::TooManyOpenOrders,
        }
    }
}

impl From<market::Reject> for wit::Reject {
    fn from(r: market::Reject) -> Self {
        wit::Reject {
            code: r.code.into(),
            message: r.message,
        }
    }
}

impl From<market::Trade> for wit::Trade {
    fn from(t: market::Trade) -> Self {
        wit::Trade {
            price: t.price,
            quantity: t.quantity,
            maker_order_id: t.maker_order_id,
            taker_order_id: t.taker_order_id,
            sequence: t.sequence,
            aggressor: t.aggressor.into(),
            timestamp_ms: t.timestamp_ms,
        }
    }
}

impl From<market::OrderResult> for wit::OrderResult {
    fn from(r: market::OrderResult) -> Self {
        wit::OrderResult {
            order_id: r.order_id,
            status: r.status.into(),
            filled_quantity: r.filled_quantity,
            remaining_quantity: r.remaining_quantity,
            trades: r.trades.into_iter().map(Into::into).collect(),
            reject_reason: r.reject_reason.map(Into::into),
            duplicate: r.duplicate,
        }
    }
}

impl From<market::OrderInfo> for wit::OrderInfo {
    fn from(o: market::OrderInfo) -> Self {
        wit::OrderInfo {
            order_id: o.order_id,
            symbol: o.symbol,
            side: o.side.into(),
            price: o.price,
            status: o.status.into(),
            filled_quantity: o.filled_quantity,
            remaining_quantity: o.remaining_quantity,
        }
    }
}

impl From<market::Level> for wit::Level {
    fn from(l: market::Level) -> Self {
        wit::Level {
            price: l.price,
            quantity: l.quantity,
        }
    }
}

impl From<market::Quote> for wit::Quote {
    fn from(q: market::Quote) -> Self {
        wit::Quote {
            symbol: q.symbol,
            bid: q.bid.map(Into::into),
            ask: q.ask.map(Into::into),
            last_price: q.last_price,
        }
    }
}

impl From<market::BookDepth> for wit::BookDepth {
    fn from(d: market::BookDepth) -> Self {
        wit::BookDepth {
            symbol: d.symbol,
            sequence: d.sequence,
            bids: d.bids.into_iter().map(Into::into).collect(),
            asks: d.asks.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&market::SymbolInfo> for wit::SymbolInfo {
    fn from(s: &market::SymbolInfo) -> Self {
        wit::SymbolInfo {
            symbol: s.symbol.clone(),
            price_scale: s.price_scale,
            tick: s.tick,
            quantity_scale: s.quantity_scale,
            lot: s.lot,
        }
    }
}

/// A market answer as the interface returns it.
pub(super) fn answer<T: Into<W>, W>(r: Result<T, market::Reject>) -> Result<W, wit::Reject> {
    r.map(Into::into).map_err(Into::into)
}
