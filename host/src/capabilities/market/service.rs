//! The host side of the market: the native matching core (`bourse-matching`) behind the
//! `market` interface's integer types.
//!
//! Symbols are split into shards; each shard's books belong to one matching thread that owns
//! its `Engine` outright and takes commands from a bounded channel, so request handlers never
//! hold a lock on a book and a burst queues instead of piling up. Order ids, account ids and
//! client order ids are assigned in front of the shards. Prices cross the boundary in ticks
//! and quantities in lots, so the engines run with tick = lot = 1 and the symbol table keeps
//! the decimal scale.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bourse_matching::{
    AccountId, Command, Engine, EngineConfig, Event, EventKind, OrderId, OrderState, OrderType,
    RejectReason, StpMode, SymbolConfig, SymbolId,
};
use tokio::sync::{mpsc, oneshot};

use crate::bindings::bourse::platform::market::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, Level, OrderKind, OrderRequest, OrderResult, OrderStatus, RejectCode, Side,
    SymbolInfo, TimeInForce, Trade,
};
use crate::manifest::SymbolDecl;

/// Commands that may wait for one shard before senders are made to wait.
const SHARD_QUEUE: usize = 4096;

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

fn stopped() -> Reject {
    reject(
        RejectCode::UnknownSymbol,
        "the matching engine is shutting down",
    )
}

/// A new order, resolved to engine ids.
struct NewOrder {
    symbol: SymbolId,
    order_id: OrderId,
    account: AccountId,
    side: bourse_matching::Side,
    order_type: OrderType,
    quantity: u64,
}

/// Work for a shard thread.
enum Job {
    Submit(
        Vec<NewOrder>,
        oneshot::Sender<Vec<Result<OrderResult, Reject>>>,
    ),
    Change {
        account: AccountId,
        symbol: SymbolId,
        order_id: OrderId,
        amend: Option<(Option<i64>, Option<u64>)>,
        reply: oneshot::Sender<Result<OrderResult, Reject>>,
    },
    Depth {
        symbol: SymbolId,
        name: String,
        levels: usize,
        reply: oneshot::Sender<Result<BookDepth, Reject>>,
    },
}

/// The market: symbols, the shards' queues, and the ids assigned in front of them.
pub struct Market {
    symbols: Vec<SymbolInfo>,
    shards: Vec<mpsc::Sender<Job>>,
    next_order_id: AtomicU64,
    accounts: Mutex<HashMap<String, AccountId>>,
    client_orders: Mutex<HashMap<(AccountId, String), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // These maps are updated by single inserts/removes, so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Market {
    /// A market trading `symbols` (decimal tick and lot sizes) on `shards` matching threads.
    pub fn new(symbols: &[SymbolDecl], shards: usize) -> Result<Market, SymbolTableError> {
        let shards = shards.clamp(1, 64);
        let mut engines: Vec<Engine> = (0..shards)
            .map(|_| Engine::new(EngineConfig::default()))
            .collect();
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
            engines[i % shards]
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
        let senders = engines
            .into_iter()
            .enumerate()
            .map(|(i, engine)| {
                let (tx, rx) = mpsc::channel(SHARD_QUEUE);
                std::thread::Builder::new()
                    .name(format!("bourse-match-{i}"))
                    .spawn(move || run_shard(engine, rx))
                    .map(|_| tx)
                    .map_err(|e| SymbolTableError {
                        symbol: "*".into(),
                        problem: format!("cannot start matching thread {i}: {e}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Market {
            symbols: infos,
            shards: senders,
            next_order_id: AtomicU64::new(1),
            accounts: Mutex::new(HashMap::new()),
            client_orders: Mutex::new(HashMap::new()),
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

    fn shard(&self, symbol: SymbolId) -> &mpsc::Sender<Job> {
        &self.shards[symbol.0 as usize % self.shards.len()]
    }

    fn account(&self, name: &str) -> AccountId {
        let mut accounts = lock(&self.accounts);
        let next = AccountId(accounts.len() as u64 + 1);
        *accounts.entry(name.to_string()).or_insert(next)
    }

    /// Resolves `order` to engine ids, reserving its client order id.
    fn resolve(&self, order: &OrderRequest) -> Result<NewOrder, Reject> {
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
        let account = self.account(&order.account);
        let order_id = self.next_order_id.fetch_add(1, Ordering::Relaxed);
        if let Some(client_id) = &order.client_order_id {
            let mut used = lock(&self.client_orders);
            if used.contains_key(&(account, client_id.clone())) {
                return Err(reject(
                    RejectCode::DuplicateClientOrderId,
                    format!("client order id {client_id:?} was already used by this account"),
                ));
            }
            used.insert((account, client_id.clone()), order_id);
        }
        Ok(NewOrder {
            symbol,
            order_id: OrderId(order_id),
            account,
            side: match order.side {
                Side::Buy => bourse_matching::Side::Buy,
                Side::Sell => bourse_matching::Side::Sell,
            },
            order_type,
            quantity: order.quantity,
        })
    }

    /// A client order id whose order the engine refused may be used again.
    fn release(&self, order: &OrderRequest, result: &Result<OrderResult, Reject>) {
        if let (Some(client_id), Err(_)) = (&order.client_order_id, result) {
            let account = self.account(&order.account);
            lock(&self.client_orders).remove(&(account, client_id.clone()));
        }
    }

    /// Submits an order.
    pub async fn submit(&self, order: &OrderRequest) -> Result<OrderResult, Reject> {
        let mut results = self.submit_batch(std::slice::from_ref(order)).await;
        results.pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Submits orders in order; one result each. Orders for one shard travel together.
    pub async fn submit_batch(&self, orders: &[OrderRequest]) -> Vec<Result<OrderResult, Reject>> {
        let mut results: Vec<Option<Result<OrderResult, Reject>>> =
            (0..orders.len()).map(|_| None).collect();
        let mut per_shard: Vec<(Vec<usize>, Vec<NewOrder>)> = (0..self.shards.len())
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        for (i, order) in orders.iter().enumerate() {
            match self.resolve(order) {
                Ok(resolved) => {
                    let shard = resolved.symbol.0 as usize % self.shards.len();
                    per_shard[shard].0.push(i);
                    per_shard[shard].1.push(resolved);
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let mut waiting = Vec::new();
        for (shard, (indices, batch)) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            let (tx, rx) = oneshot::channel();
            if self.shards[shard]
                .send(Job::Submit(batch, tx))
                .await
                .is_ok()
            {
                waiting.push((indices, Some(rx)));
            } else {
                waiting.push((indices, None));
            }
        }
        for (indices, rx) in waiting {
            let answers = match rx {
                Some(rx) => rx.await.unwrap_or_default(),
                None => Vec::new(),
            };
            let mut answers = answers.into_iter();
            for i in indices {
                results[i] = Some(answers.next().unwrap_or_else(|| Err(stopped())));
            }
        }
        orders
            .iter()
            .zip(results)
            .map(|(order, r)| {
                let r = r.unwrap_or_else(|| Err(stopped()));
                self.release(order, &r);
                r
            })
            .collect()
    }

    async fn change(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
        amend: Option<(Option<i64>, Option<u64>)>,
    ) -> Result<OrderResult, Reject> {
        let symbol_id = self.symbol_id(symbol)?;
        let unknown = || {
            reject(
                RejectCode::UnknownOrder,
                format!("no open order {order_id} of yours on {symbol}"),
            )
        };
        let account = lock(&self.accounts)
            .get(account)
            .copied()
            .ok_or_else(unknown)?;
        let (tx, rx) = oneshot::channel();
        let job = Job::Change {
            account,
            symbol: symbol_id,
            order_id: OrderId(order_id),
            amend,
            reply: tx,
        };
        self.shard(symbol_id)
            .send(job)
            .await
            .map_err(|_| stopped())?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Cancels `order_id` if `account` owns it and it trades `symbol`.
    pub async fn cancel(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
    ) -> Result<OrderResult, Reject> {
        self.change(account, symbol, order_id, None).await
    }

    /// Amends `order_id`'s price and/or open quantity.
    pub async fn amend(
        &self,
        account: &str,
        symbol: &str,
        order_id: u64,
        price: Option<i64>,
        quantity: Option<u64>,
    ) -> Result<OrderResult, Reject> {
        self.change(account, symbol, order_id, Some((price, quantity)))
            .await
    }

    /// Aggregated depth of `symbol`, `levels` per side.
    pub async fn depth(&self, symbol: &str, levels: u32) -> Result<BookDepth, Reject> {
        let id = self.symbol_id(symbol)?;
        let (tx, rx) = oneshot::channel();
        let job = Job::Depth {
            symbol: id,
            name: symbol.to_string(),
            levels: levels as usize,
            reply: tx,
        };
        self.shard(id).send(job).await.map_err(|_| stopped())?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// A shard's matching loop: the only code that touches its engine.
fn run_shard(mut engine: Engine, mut jobs: mpsc::Receiver<Job>) {
    let mut events: Vec<Event> = Vec::with_capacity(256);
    while let Some(job) = jobs.blocking_recv() {
        match job {
            Job::Submit(batch, reply) => {
                let results = batch
                    .into_iter()
                    .map(|o| {
                        events.clear();
                        let command = Command::Submit {
                            symbol: o.symbol,
                            order_id: o.order_id,
                            account: o.account,
                            side: o.side,
                            order_type: o.order_type,
                            quantity: o.quantity,
                            stp: StpMode::CancelNewest,
                        };
                        engine
                            .execute(&command, &mut events)
                            .map_err(from_engine)
                            .map(|report| OrderResult {
                                order_id: o.order_id.0,
                                status: status(report.state),
                                filled_quantity: report.filled,
                                remaining_quantity: report.remaining,
                                trades: trades(&events),
                                reject_reason: None,
                            })
                    })
                    .collect();
                let _ = reply.send(results);
            }
            Job::Change {
                account,
                symbol,
                order_id,
                amend,
                reply,
            } => {
                let result = (|| {
                    let before = engine
                        .order_status(order_id)
                        .filter(|s| s.account == account && s.symbol == symbol)
                        .ok_or_else(|| {
                            reject(
                                RejectCode::UnknownOrder,
                                format!("no open order {} of yours", order_id.0),
                            )
                        })?;
                    let command = match amend {
                        None => Command::Cancel { order_id },
                        Some((price, quantity)) => Command::Amend {
                            order_id,
                            price,
                            quantity: quantity.unwrap_or(before.remaining),
                        },
                    };
                    events.clear();
                    let report = engine.execute(&command, &mut events).map_err(from_engine)?;
                    let after = engine.order_status(order_id);
                    Ok(OrderResult {
                        order_id: order_id.0,
                        status: status(report.state),
                        filled_quantity: after.map_or(before.filled, |s| s.filled),
                        remaining_quantity: report.remaining,
                        trades: trades(&events),
                        reject_reason: None,
                    })
                })();
                let _ = reply.send(result);
            }
            Job::Depth {
                symbol,
                name,
                levels,
                reply,
            } => {
                let result = engine
                    .depth(symbol, levels)
                    .map_err(from_engine)
                    .map(|depth| {
                        let convert = |side: &[bourse_matching::LevelView]| {
                            side.iter()
                                .map(|l| Level {
                                    price: l.price,
                                    quantity: l.quantity,
                                })
                                .collect()
                        };
                        BookDepth {
                            symbol: name,
                            sequence: engine.last_seq(),
                            bids: convert(&depth.bids),
                            asks: convert(&depth.asks),
                        }
                    });
                let _ = reply.send(result);
            }
        }
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

    fn order(symbol: &str, side: Side, price: i64, quantity: u64, account: &str) -> OrderRequest {
        OrderRequest {
            symbol: symbol.into(),
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

    #[tokio::test]
    async fn crossing_orders_trade_at_the_makers_price() {
        let market = Market::new(&default_symbols(), 2).expect("default symbols are valid");
        let maker = market
            .submit(&order("AAPL", Side::Sell, 10_000, 5, "a"))
            .await
            .expect("rests");
        assert_eq!(maker.status, OrderStatus::Accepted);
        let taker = market
            .submit(&order("AAPL", Side::Buy, 10_100, 3, "b"))
            .await
            .expect("trades");
        assert_eq!(taker.status, OrderStatus::Filled);
        assert_eq!(taker.trades.len(), 1);
        assert_eq!(
            (taker.trades[0].price, taker.trades[0].quantity),
            (10_000, 3)
        );
        let depth = market.depth("AAPL", 5).await.expect("known symbol");
        assert_eq!(depth.asks.len(), 1);
        assert_eq!((depth.asks[0].price, depth.asks[0].quantity), (10_000, 2));
    }

    #[tokio::test]
    async fn only_the_owner_can_cancel_or_amend() {
        let market = Market::new(&default_symbols(), 2).expect("default symbols are valid");
        let resting = market
            .submit(&order("MSFT", Side::Buy, 9_000, 4, "a"))
            .await
            .expect("rests");
        let stranger = market
            .cancel("b", "MSFT", resting.order_id)
            .await
            .unwrap_err();
        assert_eq!(stranger.code, RejectCode::UnknownOrder);
        let wrong_symbol = market
            .cancel("a", "AAPL", resting.order_id)
            .await
            .unwrap_err();
        assert_eq!(wrong_symbol.code, RejectCode::UnknownOrder);
        let amended = market
            .amend("a", "MSFT", resting.order_id, None, Some(2))
            .await
            .expect("owner amends");
        assert_eq!(amended.remaining_quantity, 2);
        let owner = market
            .cancel("a", "MSFT", resting.order_id)
            .await
            .expect("owner cancels");
        assert_eq!(owner.status, OrderStatus::Cancelled);
    }

    #[tokio::test]
    async fn a_batch_across_shards_answers_in_order() {
        let market = Market::new(&default_symbols(), 3).expect("default symbols are valid");
        let mut with_id = order("SPY", Side::Buy, 100, 1, "a");
        with_id.client_order_id = Some("dup".into());
        let batch = vec![
            order("AAPL", Side::Buy, 100, 1, "a"),
            order("NOPE", Side::Buy, 100, 1, "a"),
            with_id.clone(),
            with_id,
            order("MSFT", Side::Sell, 100, 1, "a"),
        ];
        let results = market.submit_batch(&batch).await;
        let codes: Vec<Option<RejectCode>> = results
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.code))
            .collect();
        assert_eq!(
            codes,
            [
                None,
                Some(RejectCode::UnknownSymbol),
                None,
                Some(RejectCode::DuplicateClientOrderId),
                None
            ]
        );
        let ids: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|o| o.order_id))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids follow submission order: {ids:?}"
        );
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
        assert!(Market::new(&bad, 1).is_err());
    }
}
