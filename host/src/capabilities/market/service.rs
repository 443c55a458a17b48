//! The host side of the market: the native matching core (`bourse-matching`) behind the
//! `market` interface's integer types. Prices cross the boundary in ticks and quantities in
//! lots, so the engine runs with tick = lot = 1 and the symbol table keeps the decimal scale.

use std::collections::HashMap;
use std::sync::Mutex;

use bourse_matching::{
    AccountId, Command, Engine, EngineConfig, Event, EventKind, OrderId, OrderState, OrderType,
    RejectReason, StpMode, SymbolConfig, SymbolId,
};

use crate::bindings::bourse::platform::market::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, Level, OrderKind, OrderRequest, OrderResult, OrderStatus, RejectCode, Side,
    SymbolInfo, TimeInForce, Trade,
};
use crate::manifest::SymbolDecl;

/// A symbol table entry that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("symbol {symbol}: {problem}")]
pub struct SymbolTableError {
    symbol: String,
    problem: String,
}

/// The symbols used when the manifest configures none.
pub fn default_symbols() -> Vec<SymbolDecl> {
    ["AAPL", "MSFT", "SPY"]
        .into_iter()
        .map(|s| SymbolDecl {
            symbol: s.to_string(),
            tick_size: "0.01".to_string(),
            lot_size: "1".to_string(),
        })
        .collect()
}

/// `"0.01"` → (scale 2, units 1).
fn scaled(text: &str) -> Option<(u8, u64)> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = frac.trim_end_matches('0');
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
    {
        return None;
    }
    let units: u64 = format!("{whole}{frac}").parse().ok()?;
    (units > 0).then_some((frac.len() as u8, units))
}

struct Book {
    engine: Engine,
    next_order_id: u64,
    accounts: HashMap<String, AccountId>,
    client_orders: HashMap<(AccountId, String), OrderId>,
    events: Vec<Event>,
}

/// The market: symbols plus the engine.
pub struct Market {
    symbols: Vec<SymbolInfo>,
    book: Mutex<Book>,
}

fn reject(code: RejectCode, message: impl Into<String>) -> Reject {
    Reject {
        code,
        message: message.into(),
    }
}

fn from_engine(reason: RejectReason) -> Reject {
    let code = match reason {
        RejectReason::UnknownSymbol => RejectCode::UnknownSymbol,
        RejectReason::UnknownOrder => RejectCode::UnknownOrder,
        RejectReason::ZeroQuantity | RejectReason::QuantityOffLot => RejectCode::InvalidQuantity,
        RejectReason::NonPositivePrice | RejectReason::PriceOffTick => RejectCode::PriceOffTick,
        RejectReason::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
        RejectReason::FokCannotFill => RejectCode::FokCannotFill,
        RejectReason::DuplicateOrderId => RejectCode::DuplicateClientOrderId,
    };
    reject(code, reason.to_string())
}

impl Market {
    /// A market trading `symbols` (decimal tick and lot sizes).
    pub fn new(symbols: &[SymbolDecl]) -> Result<Market, SymbolTableError> {
        let mut engine = Engine::new(EngineConfig::default());
        let mut infos = Vec::new();
        for (i, s) in symbols.iter().enumerate() {
            let bad = |problem: String| SymbolTableError {
                symbol: s.symbol.clone(),
                problem,
            };
            let (price_scale, tick) = scaled(&s.tick_size).ok_or_else(|| {
                bad(format!(
                    "tick_size {:?} is not a positive decimal",
                    s.tick_size
                ))
            })?;
            let (quantity_scale, lot) = scaled(&s.lot_size).ok_or_else(|| {
                bad(format!(
                    "lot_size {:?} is not a positive decimal",
                    s.lot_size
                ))
            })?;
            if infos.iter().any(|x: &SymbolInfo| x.symbol == s.symbol) {
                return Err(bad("is listed twice".into()));
            }
            engine
                .add_symbol(SymbolConfig {
                    id: SymbolId(i as u32),
                    name: s.symbol.clone(),
                    tick_size: 1,
                    lot_size: 1,
                })
                .map_err(|e| bad(e.to_string()))?;
            infos.push(SymbolInfo {
                symbol: s.symbol.clone(),
                price_scale,
                tick,
                quantity_scale,
                lot,
            });
        }
        Ok(Market {
            symbols: infos,
            book: Mutex::new(Book {
                engine,
                next_order_id: 1,
                accounts: HashMap::new(),
                client_orders: HashMap::new(),
                events: Vec::with_capacity(256),
            }),
        })
    }

    /// The symbol table.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.symbols
    }

    fn symbol_id(&self, symbol: &str) -> Result<SymbolId, Reject> {
        self.symbols
            .iter()
            .position(|s| s.symbol == symbol)
            .map(|i| SymbolId(i as u32))
            .ok_or_else(|| {
                reject(
                    RejectCode::UnknownSymbol,
                    format!("symbol {symbol:?} is not traded here"),
                )
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        // The engine validates before it mutates, so a panic mid-command cannot leave a book
        // half-updated in a way later commands could observe inconsistently.
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Submits an order.
    pub fn submit(&self, order: &OrderRequest) -> Result<OrderResult, Reject> {
        let symbol = self.symbol_id(&order.symbol)?;
        let order_type = match (order.kind, order.time_in_force, order.post_only) {
            (OrderKind::Market, _, false) => OrderType::Market,
            (OrderKind::Market, _, true) => {
                return Err(reject(
                    RejectCode::PostOnlyWouldCross,
                    "a market order cannot be post-only",
                ));
            }
            (OrderKind::Limit, TimeInForce::Gtc, true) => {
                OrderType::PostOnly { price: order.price }
            }
            (OrderKind::Limit, TimeInForce::Gtc, false) => OrderType::Limit { price: order.price },
            (OrderKind::Limit, TimeInForce::Ioc, _) => OrderType::Ioc { price: order.price },
            (OrderKind::Limit, TimeInForce::Fok, _) => OrderType::Fok { price: order.price },
        };
        let mut guard = self.lock();
        let book = &mut *guard;
        let next = AccountId(book.accounts.len() as u64 + 1);
        let account = *book.accounts.entry(order.account.clone()).or_insert(next);
        if let Some(client_id) = &order.client_order_id
            && book
                .client_orders
                .contains_key(&(account, client_id.clone()))
        {
            return Err(reject(
                RejectCode::DuplicateClientOrderId,
                format!("client order id {client_id:?} was already used by this account"),
            ));
        }
        let order_id = OrderId(book.next_order_id);
        book.events.clear();
        let command = Command::Submit {
            symbol,
            order_id,
            account,
            side: match order.side {
                Side::Buy => bourse_matching::Side::Buy,
                Side::Sell => bourse_matching::Side::Sell,
            },
            order_type,
            quantity: order.quantity,
            stp: StpMode::CancelNewest,
        };
        let report = book
            .engine
            .execute(&command, &mut book.events)
            .map_err(from_engine)?;
        book.next_order_id += 1;
        if let Some(client_id) = &order.client_order_id {
            book.client_orders
                .insert((account, client_id.clone()), order_id);
        }
        Ok(OrderResult {
            order_id: order_id.0,
            status: status(report.state),
            filled_quantity: report.filled,
            remaining_quantity: report.remaining,
            trades: trades(&book.events),
            reject_reason: None,
        })
    }

    /// Cancels `order_id` if `account` owns it and it trades `symbol`.
    pub fn cancel(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
    ) -> Result<OrderResult, Reject> {
        self.change(account, symbol, order_id, |_| Command::Cancel {
            order_id: OrderId(order_id),
        })
    }

    /// Amends `order_id`'s price and/or open quantity.
    pub fn amend(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> Result<OrderResult, Reject> {
        self.change(account, symbol, order_id, |remaining| Command::Amend {
            order_id: OrderId(order_id),
            price,
            quantity: quantity.unwrap_or(remaining),
        })
    }

    fn change(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
        command: impl FnOnce(u64) -> Command,
    ) -> Result<OrderResult, Reject> {
        let symbol_id = self.symbol_id(symbol)?;
        let mut guard = self.lock();
        let book = &mut *guard;
        let unknown = || {
            reject(
                RejectCode::UnknownOrder,
                format!("no open order {order_id} of yours on {symbol}"),
            )
        };
        let owner = book.accounts.get(account).copied().ok_or_else(unknown)?;
        let status_before = book
            .engine
            .order_status(OrderId(order_id))
            .ok_or_else(unknown)?;
        if status_before.account != owner || status_before.symbol != symbol_id {
            return Err(unknown());
        }
        book.events.clear();
        let report = book
            .engine
            .execute(&command(status_before.remaining), &mut book.events)
            .map_err(from_engine)?;
        let after = book.engine.order_status(OrderId(order_id));
        Ok(OrderResult {
            order_id,
            status: status(report.state),
            filled_quantity: after.map_or(report.filled, |s| s.filled),
            remaining_quantity: report.remaining,
            trades: trades(&book.events),
            reject_reason: None,
        })
    }

    /// Aggregated depth of `symbol`, `levels` per side.
    pub fn depth(&self, symbol: &str, levels: u32) -> Result<BookDepth, Reject> {
        let id = self.symbol_id(symbol)?;
        let book = self.lock();
        let depth = book
            .engine
            .depth(id, levels as usize)
            .map_err(from_engine)?;
        let convert = |side: &[bourse_matching::LevelView]| {
            side.iter()
                .map(|l| Level {
                    price: l.price,
                    quantity: l.quantity,
                })
                .collect()
        };
        Ok(BookDepth {
            symbol: symbol.to_string(),
            sequence: book.engine.last_seq(),
            bids: convert(&depth.bids),
            asks: convert(&depth.asks),
        })
    }
}

fn status(state: OrderState) -> OrderStatus {
    match state {
        OrderState::Open => OrderStatus::Accepted,
        OrderState::PartiallyFilled => OrderStatus::PartiallyFilled,
        OrderState::Filled => OrderStatus::Filled,
        OrderState::Cancelled => OrderStatus::Cancelled,
    }
}

fn trades(events: &[Event]) -> Vec<Trade> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Trade {
                price,
                quantity,
                maker_order_id,
                taker_order_id,
                ..
            } => Some(Trade {
                price,
                quantity,
                maker_order_id: maker_order_id.0,
                taker_order_id: taker_order_id.0,
                sequence: e.seq,
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(side: Side, price: i64, quantity: u64, account: &str) -> OrderRequest {
        OrderRequest {
            symbol: "AAPL".into(),
            side,
            kind: OrderKind::Limit,
            price,
            quantity,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            client_order_id: None,
            account: account.into(),
        }
    }

    #[test]
    fn crossing_orders_trade_at_the_makers_price() {
        let market = Market::new(&default_symbols()).expect("default symbols are valid");
        let maker = market
            .submit(&order(Side::Sell, 10_000, 5, "a"))
            .expect("rests");
        assert_eq!(maker.status, OrderStatus::Accepted);
        let taker = market
            .submit(&order(Side::Buy, 10_100, 3, "b"))
            .expect("trades");
        assert_eq!(taker.status, OrderStatus::Filled);
        assert_eq!(taker.trades.len(), 1);
        assert_eq!(
            (taker.trades[0].price, taker.trades[0].quantity),
            (10_000, 3)
        );
        let depth = market.depth("AAPL", 5).expect("known symbol");
        assert_eq!(depth.asks.len(), 1);
        assert_eq!((depth.asks[0].price, depth.asks[0].quantity), (10_000, 2));
    }

    #[test]
    fn only_the_owner_can_cancel() {
        let market = Market::new(&default_symbols()).expect("default symbols are valid");
        let resting = market
            .submit(&order(Side::Buy, 9_000, 1, "a"))
            .expect("rests");
        let stranger = market.cancel("b", "AAPL", resting.order_id).unwrap_err();
        assert_eq!(stranger.code, RejectCode::UnknownOrder);
        let owner = market
            .cancel("a", "AAPL", resting.order_id)
            .expect("owner cancels");
        assert_eq!(owner.status, OrderStatus::Cancelled);
    }

    #[test]
    fn symbol_table_is_checked() {
        assert_eq!(scaled("0.01"), Some((2, 1)));
        assert_eq!(scaled("0.25"), Some((2, 25)));
        assert_eq!(scaled("1"), Some((0, 1)));
        assert_eq!(scaled("0"), None);
        assert_eq!(scaled("x"), None);
        let bad = [SymbolDecl {
            symbol: "X".into(),
            tick_size: "-1".into(),
            lot_size: "1".into(),
        }];
        assert!(Market::new(&bad).is_err());
    }
}
