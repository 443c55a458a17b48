//! The JSON shapes of the order API: decimals as strings, names as lower-case words.

use bourse_guest::bourse::platform::types::{
    BookDepth, OrderInfo, OrderResult, OrderStatus, RejectCode, Side, SymbolInfo, Trade,
};
use bourse_guest::decimal;
use serde::{Deserialize, Serialize};

use crate::exports::bourse::platform::order_handling::NewOrder;

/// The principal the host passes in its header.
#[derive(Deserialize)]
pub struct PrincipalJson {
    pub id: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `POST /api/orders` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderJson {
    symbol: String,
    side: String,
    #[serde(rename = "type", default = "default_kind")]
    kind: String,
    price: Option<String>,
    quantity: String,
    time_in_force: Option<String>,
    #[serde(default)]
    post_only: bool,
    client_order_id: Option<String>,
}

fn default_kind() -> String {
    "limit".to_string()
}

impl From<NewOrderJson> for NewOrder {
    fn from(j: NewOrderJson) -> NewOrder {
        NewOrder {
            symbol: j.symbol,
            side: j.side,
            kind: j.kind,
            price: j.price,
            quantity: j.quantity,
            time_in_force: j.time_in_force,
            post_only: j.post_only,
            client_order_id: j.client_order_id,
        }
    }
}

pub fn price(ticks: i64, spec: &SymbolInfo) -> String {
    decimal::price_text(ticks, spec.tick, spec.price_scale)
}

pub fn quantity(lots: u64, spec: &SymbolInfo) -> String {
    decimal::quantity_text(lots, spec.lot, spec.quantity_scale)
}

/// `PATCH /api/orders/{id}` body: the new price and/or quantity.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendJson {
    pub price: Option<String>,
    pub quantity: Option<String>,
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The API's name of an order status.
pub fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::Accepted => "accepted",
        OrderStatus::PartiallyFilled => "partially_filled",
        OrderStatus::Filled => "filled",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Rejected => "rejected",
    }
}

#[derive(Serialize)]
pub struct TradeJson {
    price: String,
    quantity: String,
    aggressor: &'static str,
    maker_order_id: String,
    taker_order_id: String,
    sequence: u64,
    timestamp_ms: u64,
}

impl TradeJson {
    pub fn new(t: &Trade, spec: &SymbolInfo) -> TradeJson {
        TradeJson {
            price: price(t.price, spec),
            quantity: quantity(t.quantity, spec),
            aggressor: side(t.aggressor),
            maker_order_id: t.maker_order_id.to_string(),
            taker_order_id: t.taker_order_id.to_string(),
            sequence: t.sequence,
            timestamp_ms: t.timestamp_ms,
        }
    }
}

#[derive(Serialize)]
pub struct OrderResultJson {
    order_id: String,
    symbol: String,
    status: &'static str,
    filled_quantity: String,
    remaining_quantity: String,
    trades: Vec<TradeJson>,
    /// Present (true) when a repeated client order id returned the earlier order.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

impl OrderResultJson {
    pub fn new(r: &OrderResult, spec: &SymbolInfo) -> OrderResultJson {
        OrderResultJson {
            order_id: r.order_id.to_string(),
            symbol: spec.symbol.clone(),
            status: status(r.status),
            filled_quantity: quantity(r.filled_quantity, spec),
            remaining_quantity: quantity(r.remaining_quantity, spec),
            trades: r.trades.iter().map(|t| TradeJson::new(t, spec)).collect(),
            duplicate: r.duplicate,
        }
    }
}

#[derive(Serialize)]
pub struct OrderInfoJson {
    order_id: String,
    symbol: String,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<String>,
    status: &'static str,
    filled_quantity: String,
    remaining_quantity: String,
}

impl OrderInfoJson {
    pub fn new(o: &OrderInfo, spec: &SymbolInfo) -> OrderInfoJson {
        OrderInfoJson {
            order_id: o.order_id.to_string(),
            symbol: o.symbol.clone(),
            side: side(o.side),
            kind: if o.price.is_some() { "limit" } else { "market" },
            price: o.price.map(|p| price(p, spec)),
            status: status(o.status),
            filled_quantity: quantity(o.filled_quantity, spec),
            remaining_quantity: quantity(o.remaining_quantity, spec),
        }
    }
}

#[derive(Serialize)]
pub struct BookJson {
    symbol: String,
    sequence: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

impl BookJson {
    pub fn new(book: &BookDepth, spec: &SymbolInfo) -> BookJson {
        let levels = |side: &[bourse_guest::bourse::platform::types::Level]| {
            side.iter()
                .map(|l| [price(l.price, spec), quantity(l.quantity, spec)])
                .collect()
        };
        BookJson {
            symbol: book.symbol.clone(),
            sequence: book.sequence,
            bids: levels(&book.bids),
            asks: levels(&book.asks),
        }
    }
}

#[derive(Serialize)]
pub struct SymbolJson {
    symbol: String,
    tick_size: String,
    lot_size: String,
}

impl From<&SymbolInfo> for SymbolJson {
    fn from(s: &SymbolInfo) -> SymbolJson {
        SymbolJson {
            symbol: s.symbol.clone(),
            tick_size: decimal::price_text(1, s.tick, s.price_scale),
            lot_size: decimal::quantity_text(1, s.lot, s.quantity_scale),
        }
    }
}

pub fn reject_code(code: RejectCode) -> &'static str {
    match code {
        RejectCode::UnknownSymbol => "unknown_symbol",
        RejectCode::UnknownOrder => "unknown_order",
        RejectCode::InvalidQuantity => "invalid_quantity",
        RejectCode::PriceOffTick => "price_off_tick",
        RejectCode::PostOnlyWouldCross => "post_only_would_cross",
        RejectCode::FokCannotFill => "fok_cannot_fill",
        RejectCode::DuplicateClientOrderId => "duplicate_client_order_id",
        RejectCode::NoLiquidity => "no_liquidity",
        RejectCode::Unavailable => "unavailable",
        RejectCode::TooManyOpenOrders => "too_many_open_orders",
    }
}

/// The HTTP status of a market refusal.
pub fn reject_status(code: RejectCode) -> u16 {
    match code {
        RejectCode::UnknownOrder => 404,
        RejectCode::DuplicateClientOrderId => 409,
        RejectCode::Unavailable => 503,
        _ => 422,
    }
}
