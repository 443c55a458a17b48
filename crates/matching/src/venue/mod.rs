//! The trading venue around the engine, as the `bourse:platform/market` interface sees it,
//! without depending on any WIT bindings: symbols by name with decimal tick and lot sizes,
//! account strings interned to [`AccountId`]s, order ids assigned sequentially, client order
//! ids deduplicated per account, and cancel/amend restricted to the owning account.
//!
//! Both the host's native market and the `market` wasm component wrap a [`Venue`] and only
//! convert types, so the fast and the slow path cannot drift apart.

mod records;
mod snapshot;

use std::collections::{HashMap, VecDeque};

pub use records::{OrderInfo, Quote};
pub use snapshot::{RestoreError, VenueSnapshot};

use crate::command::Command;
use crate::engine::Engine;
use crate::event::{Event, EventKind};
use crate::hash::{FastMap, fast_map};
use crate::query::OrderState;
use crate::reject::RejectReason;
use crate::types::{
    AccountId, EngineConfig, OrderId, OrderType, Side, StpMode, SymbolConfig, SymbolId,
};

/// How an order is priced (the interface's `order-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    /// Executes at its limit price or better.
    Limit,
    /// Executes against the best available prices; never rests.
    Market,
}

/// How long an order may stay on the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// A new order, borrowed from the caller's request (prices in ticks, quantities in lots).
#[derive(Clone, Copy, Debug)]
pub struct OrderRequest<'a> {
    /// Symbol name, e.g. `AAPL`.
    pub symbol: &'a str,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub kind: OrderKind,
    /// Limit price in ticks; ignored for market orders.
    pub price: i64,
    /// Quantity in lots.
    pub quantity: u64,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Reject instead of taking liquidity.
    pub post_only: bool,
    /// The client's own id, unique per account.
    pub client_order_id: Option<&'a str>,
    /// The owning account (principal id).
    pub account: &'a str,
}

/// Why the venue refused a command (the interface's `reject-code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectCode {
    /// The symbol is not configured.
    UnknownSymbol,
    /// No open order with that id for this account.
    UnknownOrder,
    /// Quantity is zero or not a multiple of the lot size.
    InvalidQuantity,
    /// Price is not positive or not a multiple of the tick size.
    PriceOffTick,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldCross,
    /// A fill-or-kill order could not fill completely.
    FokCannotFill,
    /// The client order id was already used by this account.
    DuplicateClientOrderId,
    /// A market order found no liquidity.
    NoLiquidity,
}

/// A refused command: a code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// What kind of refusal.
    pub code: RejectCode,
    /// Human-readable detail.
    pub message: String,
}

impl Reject {
    fn new(code: RejectCode, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }
}

impl From<RejectReason> for Reject {
    fn from(reason: RejectReason) -> Reject {
        let code = match reason {
            RejectReason::UnknownSymbol => RejectCode::UnknownSymbol,
            RejectReason::UnknownOrder => RejectCode::UnknownOrder,
            RejectReason::ZeroQuantity
            | RejectReason::QuantityOffLot
            | RejectReason::QuantityTooLarge => RejectCode::InvalidQuantity,
            RejectReason::NonPositivePrice | RejectReason::PriceOffTick => RejectCode::PriceOffTick,
            RejectReason::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
            RejectReason::FokCannotFill => RejectCode::FokCannotFill,
            RejectReason::DuplicateOrderId => RejectCode::DuplicateClientOrderId,
        };
        Reject::new(code, reason.to_string())
    }
}

/// Where an order stands after a command (the interface's `order-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// Resting, nothing filled.
    Accepted,
    /// Partly filled; the remainder rests.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Cancelled,
}

impl From<OrderState> for Status {
    fn from(state: OrderState) -> Status {
        match state {
            OrderState::Open => Status::Accepted,
            OrderState::PartiallyFilled => Status::PartiallyFilled,
            OrderState::Filled => Status::Filled,
            OrderState::Cancelled => Status::Cancelled,
        }
    }
}

/// One execution caused by a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trade {
    /// Execution price in ticks (the maker's).
    pub price: i64,
    /// Executed lots.
    pub quantity: u64,
    /// The resting order.
    pub maker_order_id: u64,
    /// The incoming order.
    pub taker_order_id: u64,
    /// Engine sequence number of the trade event.
    pub sequence: u64,
    /// The incoming order's side.
    pub aggressor: Side,
    /// The venue's clock when it matched (milliseconds since the Unix epoch; see
    /// [`Venue::set_time`]).
    pub timestamp_ms: u64,
}

/// What happened to an accepted command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderResult {
    /// The venue-assigned order id.
    pub order_id: u64,
    /// Status after the command.
    pub status: Status,
    /// Lots filled (by this command for a submit; in total for cancel/amend).
    pub filled_quantity: u64,
    /// Lots still open.
    pub remaining_quantity: u64,
    /// Trades the command caused.
    pub trades: Vec<Trade>,
    /// The client order id was used before: this is that earlier order as it stands now, and
    /// no new order was made.
    pub duplicate: bool,
}

/// A symbol as configured: decimal tick and lot sizes as text, e.g. `"0.01"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Symbol name.
    pub symbol: String,
    /// Tick size as a positive decimal.
    pub tick_size: String,
    /// Lot size as a positive decimal.
    pub lot_size: String,
}

/// A tradable symbol and how its integers map to decimals (the interface's `symbol-info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolInfo {
    /// Symbol name.
    pub symbol: String,
    /// Decimal places of prices.
    pub price_scale: u8,
    /// Tick size in units of 10^-price_scale.
    pub tick: u64,
    /// Decimal places of quantities.
    pub quantity_scale: u8,
    /// Lot size in units of 10^-quantity_scale.
    pub lot: u64,
}

/// Aggregated depth of one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookDepth {
    /// Symbol name.
    pub symbol: String,
    /// Engine sequence number the snapshot was taken at.
    pub sequence: u64,
    /// (price, quantity) bids, best first.
    pub bids: Vec<(i64, u64)>,
    /// (price, quantity) asks, best first.
    pub asks: Vec<(i64, u64)>,
}

/// A symbol table entry that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("symbol {symbol}: {problem}")]
pub struct SymbolTableError {
    /// The offending symbol.
    pub symbol: String,
    /// What is wrong with it.
    pub problem: String,
}

/// AAPL, MSFT and SPY with tick 0.01 and lot 1: the symbols used when none are configured.
pub fn default_symbols() -> Vec<SymbolSpec> {
    ["AAPL", "MSFT", "SPY"]
        .into_iter()
        .map(|s| SymbolSpec {
            symbol: s.to_string(),
            tick_size: "0.01".to_string(),
            lot_size: "1".to_string(),
        })
        .collect()
}

/// `"0.01"` → (scale 2, units 1); `None` unless a positive decimal with at most 9 places.
pub fn parse_scaled(text: &str) -> Option<(u8, u64)> {
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

/// The venue: an [`Engine`] whose symbols run with tick = lot = 1 (prices and quantities
/// arrive already in ticks and lots), plus the account, order-id and client-order-id
/// bookkeeping the interface promises.
pub struct Venue {
    engine: Engine,
    symbols: Vec<SymbolInfo>,
    /// Name → id; a linear scan of names costs more than the matching with many symbols.
    /// The keys are configuration, so a seedless hash is safe here.
    by_name: FastMap<String, SymbolId>,
    next_order_id: u64,
    /// Distance between consecutive order ids of this venue.
    id_step: u64,
    /// Std's keyed hasher for the maps keyed by caller-chosen strings (principal ids, client
    /// order ids): a seedless hash would let clients craft colliding keys.
    accounts: HashMap<String, AccountId>,
    client_orders: HashMap<(AccountId, String), OrderId>,
    /// The keys of `client_orders` with the venue time each was taken, oldest first: ids are
    /// forgotten once older than `client_id_retention` (see [`ClientIdRetention`]).
    client_order_log: VecDeque<(u64, AccountId, String)>,
    client_id_retention: ClientIdRetention,
    /// Account names by `AccountId - 1`, for reporting who traded.
    account_names: Vec<String>,
    /// Each account's latest order ids, oldest first, bounded by [`ACCOUNT_ORDERS`].
    account_orders: HashMap<AccountId, VecDeque<u64>>,
    /// Each symbol's latest trades, oldest first, bounded by [`RECENT_TRADES`].
    recent_trades: Vec<VecDeque<Trade>>,
    /// Each symbol's last trade price.
    last_price: Vec<Option<i64>>,
    /// The clock stamped on trades; set by the caller so replaying a journal reproduces it.
    now_ms: u64,
    /// Reused between commands so event delivery does not allocate.
    events: Vec<Event>,
}

/// How long a client order id keeps answering repeats with its order. Without a bound the
/// venue would remember every id it was ever given (and the memory with it); with one, a
/// repeat within the window finds the earlier order, and after it the id may be used again.
/// Forgetting follows the venue clock (the journal's), so a replay forgets exactly as the
/// live venue did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIdRetention {
    /// Ids younger than this (venue time, ms) are kept.
    pub ms: u64,
    /// At most this many ids are kept; the oldest go first.
    pub max: usize,
}

impl Default for ClientIdRetention {
    fn default() -> Self {
        ClientIdRetention {
            ms: 10 * 60 * 1000,
            max: 1_000_000,
        }
    }
}

/// Order ids remembered per account for listing (older ones are still found by id while the
/// engine's history holds them).
pub const ACCOUNT_ORDERS: usize = 1024;
/// Trades remembered per symbol.
pub const RECENT_TRADES: usize = 1000;

impl Venue {
    /// A venue trading `symbols`, with the default engine configuration.
    pub fn new(symbols: &[SymbolSpec]) -> Result<Venue, SymbolTableError> {
        Venue::with_config(symbols, EngineConfig::default())
    }

    /// A venue trading `symbols` with an explicit engine configuration.
    pub fn with_config(
        symbols: &[SymbolSpec],
        config: EngineConfig,
    ) -> Result<Venue, SymbolTableError> {
        let mut engine = Engine::new(config);
        let mut infos: Vec<SymbolInfo> = Vec::with_capacity(symbols.len());
        let mut by_name = fast_map(symbols.len());
        for (i, s) in symbols.iter().enumerate() {
            let bad = |problem: String| SymbolTableError {
                symbol: s.symbol.clone(),
                problem,
            };
            let (price_scale, tick) = parse_scaled(&s.tick_size).ok_or_else(|| {
                bad(format!(
                    "tick_size {:?} is not a positive decimal",
                    s.tick_size
                ))
            })?;
            let (quantity_scale, lot) = parse_scaled(&s.lot_size).ok_or_else(|| {
                bad(format!(
                    "lot_size {:?} is not a positive decimal",
                    s.lot_size
                ))
            })?;
            if infos.iter().any(|x| x.symbol == s.symbol) {
                return Err(bad("is listed twice".into()));
            }
            let id = u32::try_from(i).map_err(|_| bad("too many symbols".into()))?;
            engine
                .add_symbol(SymbolConfig {
                    id: SymbolId(id),
                    name: s.symbol.clone(),
                    tick_size: 1,
                    lot_size: 1,
                })
                .map_err(|e| bad(e.to_string()))?;
            by_name.insert(s.symbol.clone(), SymbolId(id));
            infos.push(SymbolInfo {
                symbol: s.symbol.clone(),
                price_scale,
                tick,
                quantity_scale,
                lot,
            });
        }
        Ok(Venue {
            engine,
            symbols: infos,
            by_name,
            next_order_id: 1,
            id_step: 1,
            accounts: HashMap::new(),
            client_orders: HashMap::new(),
            client_order_log: VecDeque::new(),
            client_id_retention: ClientIdRetention::default(),
            account_names: Vec::new(),
            account_orders: HashMap::new(),
            recent_trades: vec![VecDeque::new(); symbols.len()],
            last_price: vec![None; symbols.len()],
            now_ms: 0,
            events: Vec::with_capacity(256),
        })
    }

    /// The symbol table, in configuration order.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.symbols
    }

    /// The engine, for queries (order status, snapshots, state hash).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Events of the last accepted or engine-rejected command, in order.
    pub fn last_events(&self) -> &[Event] {
        &self.events
    }

    fn symbol_id(&self, symbol: &str) -> Result<SymbolId, Reject> {
        self.by_name.get(symbol).copied().ok_or_else(|| {
            Reject::new(
                RejectCode::UnknownSymbol,
                format!("symbol {symbol:?} is not traded here"),
            )
        })
    }

    /// Makes this venue assign order ids `first, first + step, first + 2·step, …`, so several
    /// venues (one per matching shard) hand out ids that never collide.
    pub fn with_order_ids(mut self, first: u64, step: u64) -> Venue {
        self.next_order_id = first.max(1);
        self.id_step = step.max(1);
        self
    }

    /// Keeps client order ids as `retention` says (the default: 10 minutes, a million ids).
    pub fn with_client_id_retention(mut self, retention: ClientIdRetention) -> Venue {
        self.client_id_retention = ClientIdRetention {
            ms: retention.ms,
            max: retention.max.max(1),
        };
        self.forget_client_ids();
        self
    }

    /// Forgets the client order ids past their retention.
    fn forget_client_ids(&mut self) {
        let ClientIdRetention { ms, max } = self.client_id_retention;
        while let Some((at, _, _)) = self.client_order_log.front() {
            if self.client_order_log.len() <= max && at.saturating_add(ms) > self.now_ms {
                break;
            }
            if let Some((_, account, client_id)) = self.client_order_log.pop_front() {
                self.client_orders.remove(&(account, client_id));
            }
        }
    }

    /// Submits a new order and assigns it the next order id (ids are consumed only by
    /// accepted orders).
    pub fn submit(&mut self, order: &OrderRequest<'_>) -> Result<OrderResult, Reject> {
        let symbol = self.symbol_id(order.symbol)?;
        let order_type = match (order.kind, order.time_in_force, order.post_only) {
            (OrderKind::Market, _, false) => OrderType::Market,
            (OrderKind::Market, _, true) => {
                return Err(Reject::new(
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
        let account = self.intern(order.account);
        if let Some(client_id) = order.client_order_id
            && let Some(&earlier) = self.client_orders.get(&(account, client_id.to_string()))
        {
            return self.earlier_order(earlier, client_id);
        }
        let order_id = OrderId(self.next_order_id);
        self.events.clear();
        let command = Command::Submit {
            symbol,
            order_id,
            account,
            side: order.side,
            order_type,
            quantity: order.quantity,
            stp: StpMode::CancelNewest,
        };
        let report = self.engine.execute(&command, &mut self.events)?;
        self.next_order_id += self.id_step;
        if let Some(client_id) = order.client_order_id {
            self.client_orders
                .insert((account, client_id.to_string()), order_id);
            self.client_order_log
                .push_back((self.now_ms, account, client_id.to_string()));
            self.forget_client_ids();
        }
        self.remember_order(account, order_id.0);
        Ok(OrderResult {
            order_id: order_id.0,
            status: report.state.into(),
            filled_quantity: report.filled,
            remaining_quantity: report.remaining,
            trades: self.record_trades(symbol),
            duplicate: false,
        })
    }

    /// Cancels `order_id` if `account` owns it and it trades `symbol`.
    pub fn cancel(
        &mut self,
        account: &str,
        symbol: &str,
        order_id: u64,
    ) -> Result<OrderResult, Reject> {
        self.change(account, symbol, order_id, |_| Command::Cancel {
            order_id: OrderId(order_id),
        })
    }

    /// Changes `order_id`'s price and/or open quantity (unchanged when `None`).
    pub fn amend(
        &mut self,
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

    /// Aggregated depth of `symbol`, `levels` per side.
    pub fn depth(&self, symbol: &str, levels: u32) -> Result<BookDepth, Reject> {
        let id = self.symbol_id(symbol)?;
        let depth = self.engine.depth(id, levels as usize)?;
        let convert =
            |side: &[crate::query::LevelView]| side.iter().map(|l| (l.price, l.quantity)).collect();
        Ok(BookDepth {
            symbol: symbol.to_string(),
            sequence: self.engine.last_seq(),
            bids: convert(&depth.bids),
            asks: convert(&depth.asks),
        })
    }

    fn intern(&mut self, account: &str) -> AccountId {
        if let Some(&id) = self.accounts.get(account) {
            return id;
        }
        let id = AccountId(self.accounts.len() as u64 + 1);
        self.accounts.insert(account.to_string(), id);
        self.account_names.push(account.to_string());
        id
    }

    fn change(
        &mut self,
        account: &str,
        symbol: &str,
        order_id: u64,
        command: impl FnOnce(u64) -> Command,
    ) -> Result<OrderResult, Reject> {
        let symbol_id = self.symbol_id(symbol)?;
        // One answer for "not yours" and "does not exist", so ids of other accounts'
        // orders cannot be probed.
        let unknown = || {
            Reject::new(
                RejectCode::UnknownOrder,
                format!("no open order {order_id} of yours on {symbol}"),
            )
        };
        let owner = self.accounts.get(account).copied().ok_or_else(unknown)?;
        let before = self
            .engine
            .order_status(OrderId(order_id))
            .ok_or_else(unknown)?;
        if before.account != owner || before.symbol != symbol_id {
            return Err(unknown());
        }
        self.events.clear();
        let report = self
            .engine
            .execute(&command(before.remaining), &mut self.events)?;
        let after = self.engine.order_status(OrderId(order_id));
        Ok(OrderResult {
            order_id,
            status: report.state.into(),
            filled_quantity: after.map_or(report.filled, |s| s.filled),
            remaining_quantity: report.remaining,
            trades: self.record_trades(symbol_id),
            duplicate: false,
        })
    }

    /// The last command's trades, also kept as the symbol's recent trades and last price.
    fn record_trades(&mut self, symbol: SymbolId) -> Vec<Trade> {
        let now_ms = self.now_ms;
        let trades: Vec<Trade> = self
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Trade {
                    price,
                    quantity,
                    aggressor,
                    maker_order_id,
                    taker_order_id,
                    ..
                } => Some(Trade {
                    price,
                    quantity,
                    maker_order_id: maker_order_id.0,
                    taker_order_id: taker_order_id.0,
                    sequence: e.seq,
                    aggressor,
                    timestamp_ms: now_ms,
                }),
                _ => None,
            })
            .collect();
        if let Some(last) = trades.last() {
            let i = symbol.0 as usize;
            self.last_price[i] = Some(last.price);
            let recent = &mut self.recent_trades[i];
            for t in &trades {
                if recent.len() == RECENT_TRADES {
                    recent.pop_front();
                }
                recent.push_back(*t);
            }
        }
        trades
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order<'a>(side: Side, price: i64, quantity: u64, account: &'a str) -> OrderRequest<'a> {
        OrderRequest {
            symbol: "AAPL",
            side,
            kind: OrderKind::Limit,
            price,
            quantity,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            client_order_id: None,
            account,
        }
    }

    #[test]
    fn client_order_ids_are_kept_for_their_retention_then_forgotten() {
        let retention = ClientIdRetention { ms: 1_000, max: 3 };
        let mut v = Venue::new(&default_symbols())
            .expect("default symbols are valid")
            .with_client_id_retention(retention);
        let with_id = |id: &'static str| OrderRequest {
            client_order_id: Some(id),
            ..order(Side::Buy, 9_000, 1, "a")
        };
        v.set_time(10_000);
        let first = v.submit(&with_id("x")).expect("placed");
        v.set_time(10_999);
        let repeat = v.submit(&with_id("x")).expect("answered");
        assert_eq!((repeat.order_id, repeat.duplicate), (first.order_id, true));
        // Another id taken after the window forgets "x": the id makes a new order again.
        v.set_time(11_000);
        v.submit(&with_id("y")).expect("placed");
        let again = v.submit(&with_id("x")).expect("placed");
        assert!(!again.duplicate && again.order_id != first.order_id);
        // At most `max` ids, oldest first, whatever their age.
        for id in ["p", "q", "r"] {
            v.submit(&with_id(id)).expect("placed");
        }
        assert_eq!(v.client_order_ids().count(), 3);
        assert!(!v.submit(&with_id("y")).expect("placed").duplicate);

        // A restored venue forgets exactly as the original one does.
        let mut restored = Venue::restore(&default_symbols(), &v.snapshot())
            .expect("restores")
            .with_client_id_retention(retention);
        for venue in [&mut v, &mut restored] {
            venue.set_time(11_500);
            venue.submit(&with_id("z")).expect("placed");
        }
        let ids = |v: &Venue| {
            let mut ids: Vec<String> = v.client_order_ids().map(|(_, c)| c.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&v), ids(&restored));
        assert_eq!(v.snapshot(), restored.snapshot());
    }

    #[test]
    fn crossing_orders_trade_at_the_makers_price() {
        let mut v = Venue::new(&default_symbols()).expect("default symbols are valid");
        let maker = v.submit(&order(Side::Sell, 10_000, 5, "a")).expect("rests");
        assert_eq!((maker.order_id, maker.status), (1, Status::Accepted));
        let taker = v.submit(&order(Side::Buy, 10_100, 3, "b")).expect("trades");
        assert_eq!((taker.order_id, taker.status), (2, Status::Filled));
        assert_eq!(taker.trades.len(), 1);
        assert_eq!(
            (taker.trades[0].price, taker.trades[0].quantity),
            (10_000, 3)
        );
        let depth = v.depth("AAPL", 5).expect("known symbol");
        assert_eq!(depth.asks, vec![(10_000, 2)]);
        assert!(depth.bids.is_empty());
    }

    #[test]
    fn only_the_owner_can_cancel_or_amend() {
        let mut v = Venue::new(&default_symbols()).expect("default symbols are valid");
        let resting = v.submit(&order(Side::Buy, 9_000, 4, "a")).expect("rests");
        let id = resting.order_id;
        for who in ["b", "nobody"] {
            assert_eq!(
                v.cancel(who, "AAPL", id).map_err(|r| r.code),
                Err(RejectCode::UnknownOrder)
            );
        }
        assert_eq!(
            v.cancel("a", "MSFT", id).map_err(|r| r.code),
            Err(RejectCode::UnknownOrder)
        );
        let amended = v
            .amend("a", "AAPL", id, None, Some(2))
            .expect("owner amends");
        assert_eq!(
            (amended.status, amended.remaining_quantity),
            (Status::Accepted, 2)
        );
        let cancelled = v.cancel("a", "AAPL", id).expect("owner cancels");
        assert_eq!(cancelled.status, Status::Cancelled);
        assert_eq!(
            v.cancel("a", "AAPL", id).map_err(|r| r.code),
            Err(RejectCode::UnknownOrder)
        );
    }

    #[test]
    fn a_repeated_client_order_id_returns_the_earlier_order_and_rejects_keep_ids() {
        let mut v = Venue::new(&default_symbols()).expect("default symbols are valid");
        let mut o = order(Side::Buy, 100, 1, "a");
        o.client_order_id = Some("c1");
        assert_eq!(v.submit(&o).map(|r| r.order_id), Ok(1));
        let again = v.submit(&o).expect("a repeat is answered, not refused");
        assert_eq!((again.order_id, again.duplicate), (1, true));
        assert_eq!(v.engine().open_orders(), 1, "the repeat made no order");
        o.account = "b";
        assert_eq!(v.submit(&o).map(|r| r.order_id), Ok(2));
        let mut bad = order(Side::Buy, 0, 1, "a");
        assert_eq!(
            v.submit(&bad).map_err(|r| r.code),
            Err(RejectCode::PriceOffTick)
        );
        bad.price = 100;
        bad.quantity = 0;
        assert_eq!(
            v.submit(&bad).map_err(|r| r.code),
            Err(RejectCode::InvalidQuantity)
        );
        bad.symbol = "XYZ";
        assert_eq!(
            v.submit(&bad).map_err(|r| r.code),
            Err(RejectCode::UnknownSymbol)
        );
        // Rejected orders consumed no id.
        assert_eq!(
            v.submit(&order(Side::Buy, 100, 1, "a")).map(|r| r.order_id),
            Ok(3)
        );
    }

    #[test]
    fn orders_trades_and_quotes_are_remembered_per_account_and_symbol() {
        let mut v = Venue::new(&default_symbols()).expect("default symbols are valid");
        v.set_time(1_700_000_000_000);
        let maker = v.submit(&order(Side::Sell, 10_000, 5, "a")).expect("rests");
        let taker = v.submit(&order(Side::Buy, 10_000, 2, "b")).expect("trades");
        let trade = taker.trades[0];
        assert_eq!(
            (trade.aggressor, trade.timestamp_ms),
            (Side::Buy, 1_700_000_000_000)
        );
        let mine = v.order("a", maker.order_id).expect("own order");
        assert_eq!(
            (mine.status, mine.filled_quantity, mine.remaining_quantity),
            (Status::PartiallyFilled, 2, 3)
        );
        assert_eq!(
            v.order("b", maker.order_id).map_err(|r| r.code),
            Err(RejectCode::UnknownOrder),
            "another account's order is not visible"
        );
        assert_eq!(v.orders_of("a", true, 10).len(), 1);
        assert_eq!(v.orders_of("b", true, 10).len(), 0, "b's order filled");
        assert_eq!(v.orders_of("b", false, 10).len(), 1);
        assert_eq!(v.trades_of("AAPL", 10).expect("known symbol"), vec![trade]);
        let quote = v.quote("AAPL").expect("known symbol");
        assert_eq!(
            (quote.bid, quote.ask, quote.last_price),
            (None, Some((10_000, 3)), Some(10_000))
        );
    }

    #[test]
    fn a_restored_snapshot_plus_the_tail_equals_the_uninterrupted_venue() {
        let symbols = default_symbols();
        let mut live = Venue::new(&symbols).expect("valid").with_order_ids(2, 3);
        let mut copy: Option<Venue> = None;
        for i in 0..400u64 {
            if i == 200 {
                let snap = live.snapshot();
                let json = serde_json::to_string(&snap).expect("serialises");
                let back: VenueSnapshot = serde_json::from_str(&json).expect("parses");
                copy = Some(Venue::restore(&symbols, &back).expect("restores"));
            }
            let account = ["a", "b", "c"][(i % 3) as usize];
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let client = format!("c{}", i % 50);
            let mut o = order(side, 9_990 + (i * 7 % 21) as i64, 1 + i % 4, account);
            o.client_order_id = Some(&client);
            let a = live.submit(&o);
            if let Some(c) = copy.as_mut() {
                assert_eq!(c.submit(&o), a, "command {i}");
            }
        }
        let copy = copy.expect("snapshot taken");
        assert_eq!(copy.engine().state_hash(), live.engine().state_hash());
        assert_eq!(copy.snapshot(), live.snapshot());
    }

    #[test]
    fn symbol_table_is_checked() {
        assert_eq!(parse_scaled("0.01"), Some((2, 1)));
        assert_eq!(parse_scaled("0.25"), Some((2, 25)));
        assert_eq!(parse_scaled("1"), Some((0, 1)));
        assert_eq!(parse_scaled("0"), None);
        assert_eq!(parse_scaled("x"), None);
        let bad = [SymbolSpec {
            symbol: "X".into(),
            tick_size: "-1".into(),
            lot_size: "1".into(),
        }];
        assert!(Venue::new(&bad).is_err());
        let twice = [default_symbols()[0].clone(), default_symbols()[0].clone()];
        assert!(Venue::new(&twice).is_err());
    }
}
