//! The host side of the market: the native matching core's [`Venue`] behind the `market`
//! interface's types.
//!
//! Symbols are split into shards. Each shard's books belong to one single-writer matching task
//! that owns its `Venue` outright and takes commands from a bounded channel, so request
//! handlers never hold a lock on a book and a burst queues instead of piling up. Shard `k` of `n` assigns
//! order ids `k+1, k+1+n, …`, so ids stay unique across shards; client order ids are
//! reserved in front of the shards so they are unique per account across all symbols. The
//! `market` wasm component wraps the same `Venue`, so both paths behave alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bourse_matching::venue::{self, Venue};
use tokio::sync::{mpsc, oneshot};

use crate::bindings::bourse::platform::market::Reject;
use crate::bindings::bourse::platform::types::{
    BookDepth, Level, OrderKind, OrderRequest, OrderResult, OrderStatus, RejectCode, Side,
    SymbolInfo, TimeInForce, Trade,
};
use crate::capabilities::events::EventHub;
use crate::manifest::SymbolDecl;

/// Commands that may wait for one shard before senders are made to wait.
const SHARD_QUEUE: usize = 4096;

pub use venue::SymbolTableError;

/// The symbols used when the manifest configures none (AAPL, MSFT, SPY; tick 0.01, lot 1).
pub fn default_symbols() -> Vec<SymbolDecl> {
    venue::default_symbols()
        .into_iter()
        .map(|s| SymbolDecl {
            symbol: s.symbol,
            tick_size: s.tick_size,
            lot_size: s.lot_size,
        })
        .collect()
}

fn stopped() -> Reject {
    Reject {
        code: RejectCode::UnknownSymbol,
        message: "the matching engine is shutting down".into(),
    }
}

fn reject(r: venue::Reject) -> Reject {
    use venue::RejectCode as V;
    let code = match r.code {
        V::UnknownSymbol => RejectCode::UnknownSymbol,
        V::UnknownOrder => RejectCode::UnknownOrder,
        V::InvalidQuantity => RejectCode::InvalidQuantity,
        V::PriceOffTick => RejectCode::PriceOffTick,
        V::PostOnlyWouldCross => RejectCode::PostOnlyWouldCross,
        V::FokCannotFill => RejectCode::FokCannotFill,
        V::DuplicateClientOrderId => RejectCode::DuplicateClientOrderId,
        V::NoLiquidity => RejectCode::NoLiquidity,
    };
    Reject {
        code,
        message: r.message,
    }
}

fn result(r: venue::OrderResult) -> OrderResult {
    OrderResult {
        order_id: r.order_id,
        status: match r.status {
            venue::Status::Accepted => OrderStatus::Accepted,
            venue::Status::PartiallyFilled => OrderStatus::PartiallyFilled,
            venue::Status::Filled => OrderStatus::Filled,
            venue::Status::Cancelled => OrderStatus::Cancelled,
        },
        filled_quantity: r.filled_quantity,
        remaining_quantity: r.remaining_quantity,
        trades: r
            .trades
            .into_iter()
            .map(|t| Trade {
                price: t.price,
                quantity: t.quantity,
                maker_order_id: t.maker_order_id,
                taker_order_id: t.taker_order_id,
                sequence: t.sequence,
            })
            .collect(),
        reject_reason: None,
    }
}

/// Work for a shard thread.
enum Job {
    Submit(
        Vec<OrderRequest>,
        oneshot::Sender<Vec<Result<OrderResult, Reject>>>,
    ),
    Change {
        account: String,
        symbol: String,
        order_id: u64,
        amend: Option<(Option<i64>, Option<u64>)>,
        reply: oneshot::Sender<Result<OrderResult, Reject>>,
    },
    Depth {
        symbol: String,
        levels: u32,
        reply: oneshot::Sender<Result<BookDepth, Reject>>,
    },
}

/// The market: symbols, the shards' queues, and client order ids reserved in front of them.
pub struct Market {
    symbols: Vec<SymbolInfo>,
    shards: Vec<mpsc::Sender<Job>>,
    client_orders: Mutex<HashMap<(String, String), ()>>,
    events: Option<Arc<EventHub>>,
}

impl Market {
    /// A market trading `symbols` (decimal tick and lot sizes) on `shards` matching tasks
    /// (spawned on the current tokio runtime),
    /// publishing its trades to `events` (rooms `trades:<symbol>`) when given.
    pub fn new(
        symbols: &[SymbolDecl],
        shards: usize,
        events: Option<Arc<EventHub>>,
    ) -> Result<Market, SymbolTableError> {
        let shards = shards.clamp(1, 64);
        let specs: Vec<venue::SymbolSpec> = symbols
            .iter()
            .map(|s| venue::SymbolSpec {
                symbol: s.symbol.clone(),
                tick_size: s.tick_size.clone(),
                lot_size: s.lot_size.clone(),
            })
            .collect();
        let mut infos = Vec::new();
        let mut senders = Vec::with_capacity(shards);
        for k in 0..shards {
            // Every shard registers every symbol (an unused book costs a few KB) so that its
            // venue validates names the same way; it only ever sees its own symbols' orders.
            let venue = Venue::new(&specs)?.with_order_ids(k as u64 + 1, shards as u64);
            if infos.is_empty() {
                infos = venue
                    .symbols()
                    .iter()
                    .map(|s| SymbolInfo {
                        symbol: s.symbol.clone(),
                        price_scale: s.price_scale,
                        tick: s.tick,
                        quantity_scale: s.quantity_scale,
                        lot: s.lot,
                    })
                    .collect();
            }
            let (tx, rx) = mpsc::channel(SHARD_QUEUE);
            // A task, not an OS thread: handing a command to it and the answer back are
            // wake-ups inside the runtime (a few microseconds), where waking a parked thread
            // costs tens. Matching an order takes well under a microsecond, so the task never
            // holds a worker for long; it is still the only code that touches these books.
            tokio::spawn(run_shard(venue, rx));
            senders.push(tx);
        }
        Ok(Market {
            symbols: infos,
            shards: senders,
            client_orders: Mutex::new(HashMap::new()),
            events,
        })
    }

    /// The symbol table.
    pub fn symbols(&self) -> &[SymbolInfo] {
        &self.symbols
    }

    /// The shard of `symbol`; unknown symbols go to shard 0, whose venue rejects them.
    fn shard_of(&self, symbol: &str) -> usize {
        self.symbols
            .iter()
            .position(|s| s.symbol == symbol)
            .map_or(0, |i| i % self.shards.len())
    }

    fn client_ids(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), ()>> {
        // Updated by single inserts/removes, so a poisoned lock is still consistent.
        self.client_orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves `order`'s client order id; an error if this account already used it.
    fn reserve(&self, order: &OrderRequest) -> Result<(), Reject> {
        let Some(id) = &order.client_order_id else {
            return Ok(());
        };
        let key = (order.account.clone(), id.clone());
        let mut used = self.client_ids();
        if used.contains_key(&key) {
            return Err(Reject {
                code: RejectCode::DuplicateClientOrderId,
                message: format!("client order id {id:?} was already used by this account"),
            });
        }
        used.insert(key, ());
        Ok(())
    }

    /// Submits an order.
    pub async fn submit(&self, order: &OrderRequest) -> Result<OrderResult, Reject> {
        let mut results = self.submit_batch(std::slice::from_ref(order)).await;
        results.pop().unwrap_or_else(|| Err(stopped()))
    }

    /// Submits orders in order; one result each. Orders for one shard travel together.
    pub async fn submit_batch(&self, orders: &[OrderRequest]) -> Vec<Result<OrderResult, Reject>> {
        let mut results: Vec<Option<Result<OrderResult, Reject>>> = vec![None; orders.len()];
        let mut per_shard: Vec<(Vec<usize>, Vec<OrderRequest>)> =
            vec![(Vec::new(), Vec::new()); self.shards.len()];
        for (i, order) in orders.iter().enumerate() {
            match self.reserve(order) {
                Ok(()) => {
                    let shard = self.shard_of(&order.symbol);
                    per_shard[shard].0.push(i);
                    per_shard[shard].1.push(order.clone());
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
            let sent = self.shards[shard]
                .send(Job::Submit(batch, tx))
                .await
                .is_ok();
            waiting.push((indices, sent.then_some(rx)));
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
                if let (Ok(result), Some(events)) = (&r, &self.events)
                    && !result.trades.is_empty()
                {
                    self.publish_trades(events, &order.symbol, result);
                }
                // An order the market refused does not use up its client order id.
                if let (Err(e), Some(id)) = (&r, &order.client_order_id)
                    && e.code != RejectCode::DuplicateClientOrderId
                {
                    self.client_ids()
                        .remove(&(order.account.clone(), id.clone()));
                }
                r
            })
            .collect()
    }

    /// Trades in integer ticks and lots, as the engine made them; components that want
    /// decimals publish their own views (the order handler does, per account).
    fn publish_trades(&self, events: &EventHub, symbol: &str, result: &OrderResult) {
        let trades: Vec<serde_json::Value> = result
            .trades
            .iter()
            .map(|t| {
                serde_json::json!({
                    "price_ticks": t.price, "quantity_lots": t.quantity,
                    "maker_order_id": t.maker_order_id, "taker_order_id": t.taker_order_id,
                    "sequence": t.sequence,
                })
            })
            .collect();
        let payload = serde_json::json!({ "symbol": symbol, "trades": trades }).to_string();
        if let Err(e) = events.publish("market", &format!("trades:{symbol}"), &payload) {
            tracing::warn!(%symbol, error = ?e, "trade event not published");
        }
    }

    async fn ask<T>(
        &self,
        symbol: &str,
        job: impl FnOnce(oneshot::Sender<Result<T, Reject>>) -> Job,
    ) -> Result<T, Reject> {
        let (tx, rx) = oneshot::channel();
        self.shards[self.shard_of(symbol)]
            .send(job(tx))
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
        self.ask(symbol, |reply| Job::Change {
            account: account.to_string(),
            symbol: symbol.to_string(),
            order_id,
            amend: None,
            reply,
        })
        .await
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
        self.ask(symbol, |reply| Job::Change {
            account: account.to_string(),
            symbol: symbol.to_string(),
            order_id,
            amend: Some((price, quantity)),
            reply,
        })
        .await
    }

    /// Aggregated depth of `symbol`, `levels` per side.
    pub async fn depth(&self, symbol: &str, levels: u32) -> Result<BookDepth, Reject> {
        self.ask(symbol, |reply| Job::Depth {
            symbol: symbol.to_string(),
            levels,
            reply,
        })
        .await
    }
}

/// A shard's matching loop: the only code that touches its venue.
async fn run_shard(mut venue: Venue, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Submit(batch, reply) => {
                metrics::counter!("matching_commands_total", "kind" => "submit")
                    .increment(batch.len() as u64);
                let results = batch
                    .iter()
                    .map(|o| {
                        let order = venue::OrderRequest {
                            symbol: &o.symbol,
                            side: match o.side {
                                Side::Buy => bourse_matching::Side::Buy,
                                Side::Sell => bourse_matching::Side::Sell,
                            },
                            kind: match o.kind {
                                OrderKind::Limit => venue::OrderKind::Limit,
                                OrderKind::Market => venue::OrderKind::Market,
                            },
                            price: o.price,
                            quantity: o.quantity,
                            time_in_force: match o.time_in_force {
                                TimeInForce::Gtc => venue::TimeInForce::Gtc,
                                TimeInForce::Ioc => venue::TimeInForce::Ioc,
                                TimeInForce::Fok => venue::TimeInForce::Fok,
                            },
                            post_only: o.post_only,
                            // Reserved in front of the shards, across all of them.
                            client_order_id: None,
                            account: &o.account,
                        };
                        venue.submit(&order).map(result).map_err(reject)
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
                metrics::counter!("matching_commands_total", "kind" => if amend.is_some() { "amend" } else { "cancel" }).increment(1);
                let r = match amend {
                    None => venue.cancel(&account, &symbol, order_id),
                    Some((price, quantity)) => {
                        venue.amend(&account, &symbol, order_id, price, quantity)
                    }
                };
                let _ = reply.send(r.map(result).map_err(reject));
            }
            Job::Depth {
                symbol,
                levels,
                reply,
            } => {
                let r = venue.depth(&symbol, levels).map_err(reject).map(|d| {
                    let levels = |side: Vec<(i64, u64)>| {
                        side.into_iter()
                            .map(|(price, quantity)| Level { price, quantity })
                            .collect()
                    };
                    BookDepth {
                        symbol: d.symbol,
                        sequence: d.sequence,
                        bids: levels(d.bids),
                        asks: levels(d.asks),
                    }
                });
                let _ = reply.send(r);
            }
        }
    }
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
        let market = Market::new(&default_symbols(), 2, None).expect("default symbols are valid");
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
        let market = Market::new(&default_symbols(), 2, None).expect("default symbols are valid");
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
    async fn a_batch_across_shards_answers_in_order_with_unique_ids() {
        let market = Market::new(&default_symbols(), 3, None).expect("default symbols are valid");
        let mut with_id = order("SPY", Side::Buy, 100, 1, "a");
        with_id.client_order_id = Some("dup".into());
        let mut same_id_other_symbol = order("AAPL", Side::Buy, 100, 1, "a");
        same_id_other_symbol.client_order_id = Some("dup".into());
        let batch = vec![
            order("AAPL", Side::Buy, 100, 1, "a"),
            order("NOPE", Side::Buy, 100, 1, "a"),
            with_id,
            same_id_other_symbol,
            order("MSFT", Side::Sell, 100, 1, "a"),
            order("AAPL", Side::Buy, 101, 1, "a"),
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
                None,
                None
            ]
        );
        let mut ids: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|o| o.order_id))
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "order ids are unique across shards");
    }

    #[tokio::test]
    async fn a_refused_order_frees_its_client_order_id() {
        let market = Market::new(&default_symbols(), 1, None).expect("default symbols are valid");
        let mut fok = order("SPY", Side::Buy, 100, 5, "a");
        fok.time_in_force = TimeInForce::Fok;
        fok.client_order_id = Some("c-1".into());
        assert_eq!(
            market.submit(&fok).await.unwrap_err().code,
            RejectCode::FokCannotFill
        );
        let mut plain = order("SPY", Side::Buy, 100, 5, "a");
        plain.client_order_id = Some("c-1".into());
        assert!(market.submit(&plain).await.is_ok());
    }
}
