//! What the venue remembers beyond the books, for clients asking about their orders and the
//! tape: order lookups by id and by account, recent trades, last prices and the clock.

use std::collections::{HashMap, VecDeque};

use super::{ACCOUNT_ORDERS, OrderResult, Reject, RejectCode, Status, Trade, Venue};
use crate::event::EventKind;
use crate::query::OrderState;
use crate::types::{AccountId, OrderId, Side};

/// An order as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderInfo {
    /// Venue-assigned id.
    pub order_id: u64,
    /// Symbol name.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Limit price in ticks; `None` for market orders.
    pub price: Option<i64>,
    /// Where it stands.
    pub status: Status,
    /// Lots filled so far.
    pub filled_quantity: u64,
    /// Lots still open.
    pub remaining_quantity: u64,
}

/// Best prices and the last trade of one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Symbol name.
    pub symbol: String,
    /// Best bid (price, lots).
    pub bid: Option<(i64, u64)>,
    /// Best ask (price, lots).
    pub ask: Option<(i64, u64)>,
    /// Price of the last trade.
    pub last_price: Option<i64>,
}

impl Venue {
    /// Sets the clock stamped on trades from now on. Callers pass wall-clock time when they
    /// execute and the journaled time when they replay, so replays stamp the same times.
    pub fn set_time(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// The clock last set.
    pub fn time(&self) -> u64 {
        self.now_ms
    }

    /// The account name behind an id the engine reports (in trades and fills).
    pub fn account_name(&self, id: AccountId) -> Option<&str> {
        let index = usize::try_from(id.0.checked_sub(1)?).ok()?;
        self.account_names.get(index).map(String::as_str)
    }

    /// The symbol name behind an engine symbol id.
    pub fn symbol_name(&self, id: crate::types::SymbolId) -> Option<&str> {
        self.symbols.get(id.0 as usize).map(|s| s.symbol.as_str())
    }

    /// Every (account, client order id) this venue has accepted.
    pub fn client_order_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.client_orders
            .keys()
            .filter_map(|(account, client_id)| {
                Some((self.account_name(*account)?, client_id.as_str()))
            })
    }

    pub(super) fn remember_order(&mut self, account: AccountId, order_id: u64) {
        let ids = self.account_orders.entry(account).or_default();
        if ids.len() == ACCOUNT_ORDERS {
            ids.pop_front();
        }
        ids.push_back(order_id);
    }

    /// The answer to a repeated client order id: the earlier order as it stands now.
    pub(super) fn earlier_order(
        &self,
        earlier: OrderId,
        client_id: &str,
    ) -> Result<OrderResult, Reject> {
        match self.engine.order_status(earlier) {
            Some(s) => Ok(OrderResult {
                order_id: earlier.0,
                status: s.state.into(),
                filled_quantity: s.filled,
                remaining_quantity: s.remaining,
                trades: Vec::new(),
                duplicate: true,
            }),
            // Finished so long ago that the engine's history no longer holds it.
            None => Err(Reject::new(
                RejectCode::DuplicateClientOrderId,
                format!(
                    "client order id {client_id:?} was used by order {} of this account",
                    earlier.0
                ),
            )),
        }
    }

    fn info(&self, order_id: u64) -> Option<(AccountId, OrderInfo)> {
        let s = self.engine.order_status(OrderId(order_id))?;
        Some((
            s.account,
            OrderInfo {
                order_id,
                symbol: self.symbol_name(s.symbol)?.to_string(),
                side: s.side,
                price: s.price,
                status: s.state.into(),
                filled_quantity: s.filled,
                remaining_quantity: s.remaining,
            },
        ))
    }

    /// `account`'s order `order_id`, open or recently finished.
    pub fn order(&self, account: &str, order_id: u64) -> Result<OrderInfo, Reject> {
        let unknown = || {
            Reject::new(
                RejectCode::UnknownOrder,
                format!("no order {order_id} of yours"),
            )
        };
        let owner = self.accounts.get(account).copied().ok_or_else(unknown)?;
        match self.info(order_id) {
            Some((who, info)) if who == owner => Ok(info),
            _ => Err(unknown()),
        }
    }

    /// `account`'s latest orders, newest first, at most `limit`; only open ones when
    /// `open_only`.
    pub fn orders_of(&self, account: &str, open_only: bool, limit: usize) -> Vec<OrderInfo> {
        let Some(ids) = self
            .accounts
            .get(account)
            .and_then(|a| self.account_orders.get(a))
        else {
            return Vec::new();
        };
        ids.iter()
            .rev()
            .filter_map(|&id| self.info(id).map(|(_, info)| info))
            .filter(|o| {
                !open_only || matches!(o.status, Status::Accepted | Status::PartiallyFilled)
            })
            .take(limit)
            .collect()
    }

    /// `symbol`'s latest trades, newest first, at most `limit`.
    pub fn trades_of(&self, symbol: &str, limit: usize) -> Result<Vec<Trade>, Reject> {
        let id = self.symbol_id(symbol)?;
        let recent: &VecDeque<Trade> = &self.recent_trades[id.0 as usize];
        Ok(recent.iter().rev().take(limit).copied().collect())
    }

    /// `symbol`'s last trade price, if it traded (unknown symbols: `None`).
    pub fn last_price(&self, symbol: &str) -> Option<i64> {
        let id = self.symbol_id(symbol).ok()?;
        self.last_price.get(id.0 as usize).copied().flatten()
    }

    /// Price levels of `symbol`'s book, (bids, asks); constant time.
    pub fn level_counts(&self, symbol: &str) -> Result<(usize, usize), Reject> {
        let id = self.symbol_id(symbol)?;
        self.engine.level_counts(id).ok_or_else(|| {
            Reject::new(
                RejectCode::UnknownSymbol,
                format!("symbol {symbol:?} has no book"),
            )
        })
    }

    /// Best bid and ask and the last trade price of `symbol`.
    pub fn quote(&self, symbol: &str) -> Result<Quote, Reject> {
        let id = self.symbol_id(symbol)?;
        let top = self.engine.top_of_book(id)?;
        Ok(Quote {
            symbol: symbol.to_string(),
            bid: top.bid.map(|l| (l.price, l.quantity)),
            ask: top.ask.map(|l| (l.price, l.quantity)),
            last_price: self.last_price[id.0 as usize],
        })
    }
}

impl Venue {
    /// The order `account` placed with `client_id`, as it stands now (`duplicate` set), if
    /// this venue accepted one.
    pub fn client_order(&self, account: &str, client_id: &str) -> Option<OrderResult> {
        let account = *self.accounts.get(account)?;
        let earlier = *self.client_orders.get(&(account, client_id.to_string()))?;
        self.earlier_order(earlier, client_id).ok()
    }
}

impl Venue {
    /// How many orders each account has resting on the books. Walks every book: for
    /// rebuilding a count after a restart, not per order.
    pub fn open_orders_per_account(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for account in self.engine.open_order_accounts() {
            if let Some(name) = self.account_name(account) {
                *counts.entry(name).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Reports how the last command changed accounts' counts of resting orders: `+1` for the
    /// new order if it rests, `-1` for each resting order it filled or cancelled completely.
    /// Call it only after a command that succeeded and was not a repeat: a refusal leaves an
    /// earlier command's events behind.
    pub fn open_order_changes(&self, mut change: impl FnMut(&str, i64)) {
        let open = |id: OrderId| {
            self.engine
                .order_status(id)
                .is_some_and(|s| matches!(s.state, OrderState::Open | OrderState::PartiallyFilled))
        };
        // The new order's own fills and cancels are not closures: it was not counted yet.
        let mut new = None;
        for event in &self.events {
            let (account, delta) = match event.kind {
                EventKind::Accepted {
                    order_id, account, ..
                } => {
                    new = Some(order_id);
                    if !open(order_id) {
                        continue;
                    }
                    (Some(account), 1)
                }
                EventKind::Fill {
                    order_id,
                    account,
                    remaining: 0,
                    ..
                } if new != Some(order_id) => (Some(account), -1),
                EventKind::Cancelled {
                    order_id,
                    remaining: 0,
                    ..
                } if new != Some(order_id) => {
                    (self.engine.order_status(order_id).map(|s| s.account), -1)
                }
                _ => continue,
            };
            if let Some(name) = account.and_then(|a| self.account_name(a)) {
                change(name, delta);
            }
        }
    }
}
