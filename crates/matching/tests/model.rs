//! Property test: random command sequences against an obviously-correct reference model
//! (a flat Vec of resting orders scanned linearly), comparing every non-book event, every
//! result, every order status and the aggregated book after each command.

mod common;

use std::collections::{BTreeMap, HashMap};

use bourse_matching::*;
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct MOrder {
    id: OrderId,
    symbol: SymbolId,
    account: AccountId,
    side: Side,
    price: i64,
    remaining: u64,
    filled: u64,
    time: u64,
    post_only: bool,
    stp: StpMode,
}

struct Taker {
    id: OrderId,
    symbol: SymbolId,
    account: AccountId,
    side: Side,
    limit: Option<i64>,
    remaining: u64,
    filled: u64,
    filled_before: u64,
    stp: StpMode,
    post_only: bool,
    ended_by_fill: bool,
}

#[derive(Default)]
struct Model {
    resting: Vec<MOrder>,
    clock: u64,
    closed: HashMap<OrderId, OrderStatus>,
}

fn crosses(side: Side, limit: Option<i64>, price: i64) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => price <= l,
        (Side::Sell, Some(l)) => price >= l,
    }
}

fn config(symbol: SymbolId) -> Option<(i64, u64)> {
    match symbol {
        SYM_A => Some((1, 1)),
        SYM_B => Some((5, 2)),
        _ => None,
    }
}

fn check_qty(q: u64, lot: u64) -> Result<(), RejectReason> {
    if q == 0 {
        Err(RejectReason::ZeroQuantity)
    } else if !q.is_multiple_of(lot) {
        Err(RejectReason::QuantityOffLot)
    } else {
        Ok(())
    }
}

fn check_price(p: i64, tick: i64) -> Result<(), RejectReason> {
    if p <= 0 {
        Err(RejectReason::NonPositivePrice)
    } else if p % tick != 0 {
        Err(RejectReason::PriceOffTick)
    } else {
        Ok(())
    }
}

impl Model {
    /// Priority order over all resting orders: better price, then earlier time.
    fn ranked(&self, symbol: SymbolId, taker: Side, limit: Option<i64>) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.resting.len())
            .filter(|&i| {
                let o = &self.resting[i];
                o.symbol == symbol && o.side != taker && crosses(taker, limit, o.price)
            })
            .collect();
        v.sort_by_key(|&i| {
            let o = &self.resting[i];
            (
                if o.side == Side::Sell {
                    o.price
                } else {
                    -o.price
                },
                o.time,
            )
        });
        v
    }

    fn close(&mut self, i: usize, state: OrderState) {
        let o = self.resting.remove(i);
        self.closed.insert(
            o.id,
            OrderStatus {
                order_id: o.id,
                symbol: o.symbol,
                account: o.account,
                side: o.side,
                price: Some(o.price),
                state,
                filled: o.filled,
                remaining: 0,
            },
        );
    }

    fn status(&self, id: OrderId) -> Option<OrderStatus> {
        if let Some(o) = self.resting.iter().find(|o| o.id == id) {
            return Some(OrderStatus {
                order_id: id,
                symbol: o.symbol,
                account: o.account,
                side: o.side,
                price: Some(o.price),
                state: if o.filled == 0 {
                    OrderState::Open
                } else {
                    OrderState::PartiallyFilled
                },
                filled: o.filled,
                remaining: o.remaining,
            });
        }
        self.closed.get(&id).copied()
    }

    fn match_taker(&mut self, t: &mut Taker, out: &mut Vec<EventKind>) -> bool {
        while t.remaining > 0 {
            let Some(&i) = self.ranked(t.symbol, t.side, t.limit).first() else {
                return false;
            };
            let m = &mut self.resting[i];
            if m.account == t.account {
                match t.stp {
                    StpMode::CancelNewest => return true,
                    StpMode::CancelOldest => {
                        out.push(EventKind::Cancelled {
                            order_id: m.id,
                            cancelled: m.remaining,
                            remaining: 0,
                            reason: CancelReason::SelfTrade,
                        });
                        self.close(i, OrderState::Cancelled);
                    }
                    StpMode::DecrementBoth => {
                        let d = m.remaining.min(t.remaining);
                        m.remaining -= d;
                        t.remaining -= d;
                        t.ended_by_fill = false;
                        out.push(EventKind::Cancelled {
                            order_id: m.id,
                            cancelled: d,
                            remaining: m.remaining,
                            reason: CancelReason::SelfTrade,
                        });
                        out.push(EventKind::Cancelled {
                            order_id: t.id,
                            cancelled: d,
                            remaining: t.remaining,
                            reason: CancelReason::SelfTrade,
                        });
                        if m.remaining == 0 {
                            self.close(i, OrderState::Cancelled);
                        }
                    }
                }
            } else {
                let q = m.remaining.min(t.remaining);
                m.remaining -= q;
                m.filled += q;
                t.remaining -= q;
                t.filled += q;
                t.ended_by_fill = true;
                out.push(EventKind::Trade {
                    symbol: t.symbol,
                    price: m.price,
                    quantity: q,
                    aggressor: t.side,
                    maker_order_id: m.id,
                    taker_order_id: t.id,
                    maker_account: m.account,
                    taker_account: t.account,
                });
                out.push(EventKind::Fill {
                    order_id: m.id,
                    account: m.account,
                    side: m.side,
                    price: m.price,
                    quantity: q,
                    remaining: m.remaining,
                    liquidity: Liquidity::Maker,
                });
                out.push(EventKind::Fill {
                    order_id: t.id,
                    account: t.account,
                    side: t.side,
                    price: m.price,
                    quantity: q,
                    remaining: t.remaining,
                    liquidity: Liquidity::Taker,
                });
                if m.remaining == 0 {
                    self.close(i, OrderState::Filled);
                }
            }
        }
        false
    }

    fn finish(&mut self, t: Taker, rests: bool, killed: bool, out: &mut Vec<EventKind>) -> Report {
        let filled = t.filled - t.filled_before;
        let mut state = OrderState::Filled;
        if t.remaining > 0 && rests && !killed {
            self.clock += 1;
            self.resting.push(MOrder {
                id: t.id,
                symbol: t.symbol,
                account: t.account,
                side: t.side,
                price: t.limit.expect("resting orders have a price"),
                remaining: t.remaining,
                filled: t.filled,
                time: self.clock,
                post_only: t.post_only,
                stp: t.stp,
            });
            let state = if t.filled == 0 {
                OrderState::Open
            } else {
                OrderState::PartiallyFilled
            };
            return Report {
                order_id: t.id,
                state,
                filled,
                remaining: t.remaining,
            };
        }
        if t.remaining > 0 {
            out.push(EventKind::Cancelled {
                order_id: t.id,
                cancelled: t.remaining,
                remaining: 0,
                reason: if killed {
                    CancelReason::SelfTrade
                } else {
                    CancelReason::Unfilled
                },
            });
            state = OrderState::Cancelled;
        } else if !t.ended_by_fill {
            state = OrderState::Cancelled;
        }
        self.closed.insert(
            t.id,
            OrderStatus {
                order_id: t.id,
                symbol: t.symbol,
                account: t.account,
                side: t.side,
                price: t.limit,
                state,
                filled: t.filled,
                remaining: 0,
            },
        );
        Report {
            order_id: t.id,
            state,
            filled,
            remaining: 0,
        }
    }

    fn execute(&mut self, c: &Command, out: &mut Vec<EventKind>) -> Result<Report, RejectReason> {
        let r = self.apply(c, out);
        if let Err(reason) = r {
            out.push(EventKind::Rejected {
                order_id: c.order_id(),
                reason,
            });
        }
        r
    }

    fn apply(&mut self, c: &Command, out: &mut Vec<EventKind>) -> Result<Report, RejectReason> {
        match *c {
            Command::Submit {
                symbol,
                order_id,
                account,
                side,
                order_type,
                quantity,
                stp,
            } => {
                let (tick, lot) = config(symbol).ok_or(RejectReason::UnknownSymbol)?;
                check_qty(quantity, lot)?;
                if let Some(p) = order_type.price() {
                    check_price(p, tick)?;
                }
                if self.resting.iter().any(|o| o.id == order_id) {
                    return Err(RejectReason::DuplicateOrderId);
                }
                let limit = order_type.price();
                let post_only = matches!(order_type, OrderType::PostOnly { .. });
                if post_only && !self.ranked(symbol, side, limit).is_empty() {
                    return Err(RejectReason::PostOnlyWouldCross);
                }
                if let OrderType::Fok { .. } = order_type {
                    // FOK: simulate on a copy; all-or-nothing by construction.
                    let mut sim = Model {
                        resting: self.resting.clone(),
                        clock: self.clock,
                        closed: HashMap::new(),
                    };
                    let mut t = Taker {
                        id: order_id,
                        symbol,
                        account,
                        side,
                        limit,
                        remaining: quantity,
                        filled: 0,
                        filled_before: 0,
                        stp,
                        post_only,
                        ended_by_fill: true,
                    };
                    if sim.match_taker(&mut t, &mut Vec::new()) || t.remaining > 0 {
                        return Err(RejectReason::FokCannotFill);
                    }
                }
                out.push(EventKind::Accepted {
                    order_id,
                    symbol,
                    account,
                    side,
                    order_type,
                    quantity,
                });
                let mut t = Taker {
                    id: order_id,
                    symbol,
                    account,
                    side,
                    limit,
                    remaining: quantity,
                    filled: 0,
                    filled_before: 0,
                    stp,
                    post_only,
                    ended_by_fill: true,
                };
                let killed = !post_only && self.match_taker(&mut t, out);
                let rests = matches!(
                    order_type,
                    OrderType::Limit { .. } | OrderType::PostOnly { .. }
                );
                Ok(self.finish(t, rests, killed, out))
            }
            Command::Cancel { order_id } => {
                let i = self
                    .resting
                    .iter()
                    .position(|o| o.id == order_id)
                    .ok_or(RejectReason::UnknownOrder)?;
                out.push(EventKind::Cancelled {
                    order_id,
                    cancelled: self.resting[i].remaining,
                    remaining: 0,
                    reason: CancelReason::Requested,
                });
                self.close(i, OrderState::Cancelled);
                Ok(Report {
                    order_id,
                    state: OrderState::Cancelled,
                    filled: 0,
                    remaining: 0,
                })
            }
            Command::Amend {
                order_id,
                price,
                quantity,
            } => {
                let i = self
                    .resting
                    .iter()
                    .position(|o| o.id == order_id)
                    .ok_or(RejectReason::UnknownOrder)?;
                let o = self.resting[i].clone();
                let (tick, lot) = config(o.symbol).ok_or(RejectReason::UnknownSymbol)?;
                check_qty(quantity, lot)?;
                if let Some(p) = price {
                    check_price(p, tick)?;
                }
                if o.filled.checked_add(quantity).is_none() {
                    return Err(RejectReason::QuantityTooLarge);
                }
                let new_price = price.unwrap_or(o.price);
                if new_price == o.price && quantity <= o.remaining {
                    self.resting[i].remaining = quantity;
                    out.push(EventKind::Amended {
                        order_id,
                        price: new_price,
                        quantity,
                        priority_kept: true,
                    });
                    let state = if o.filled == 0 {
                        OrderState::Open
                    } else {
                        OrderState::PartiallyFilled
                    };
                    return Ok(Report {
                        order_id,
                        state,
                        filled: 0,
                        remaining: quantity,
                    });
                }
                if o.post_only && !self.ranked(o.symbol, o.side, Some(new_price)).is_empty() {
                    return Err(RejectReason::PostOnlyWouldCross);
                }
                out.push(EventKind::Amended {
                    order_id,
                    price: new_price,
                    quantity,
                    priority_kept: false,
                });
                self.resting.remove(i);
                let mut t = Taker {
                    id: order_id,
                    symbol: o.symbol,
                    account: o.account,
                    side: o.side,
                    limit: Some(new_price),
                    remaining: quantity,
                    filled: o.filled,
                    filled_before: o.filled,
                    stp: o.stp,
                    post_only: o.post_only,
                    ended_by_fill: true,
                };
                let killed = !o.post_only && self.match_taker(&mut t, out);
                Ok(self.finish(t, true, killed, out))
            }
        }
    }

    fn depth(&self, symbol: SymbolId, side: Side) -> Vec<LevelView> {
        let mut levels: BTreeMap<i64, LevelView> = BTreeMap::new();
        for o in self
            .resting
            .iter()
            .filter(|o| o.symbol == symbol && o.side == side)
        {
            let l = levels.entry(o.price).or_insert(LevelView {
                price: o.price,
                quantity: 0,
                orders: 0,
            });
            l.quantity += o.remaining;
            l.orders += 1;
        }
        let v: Vec<LevelView> = levels.into_values().collect();
        if side == Side::Buy {
            v.into_iter().rev().collect()
        } else {
            v
        }
    }
}

fn check_sequence(commands: &[Command]) -> Result<(), TestCaseError> {
    let mut engine = engine();
    let mut model = Model::default();
    let mut events = Vec::new();
    let mut expected = Vec::new();
    // Level view rebuilt purely from BookChanged events, as a market-data consumer would.
    let mut feed: HashMap<(SymbolId, Side, i64), (u64, u32)> = HashMap::new();
    // Open quantity per order derived from events alone: conservation check.
    let mut ledger: HashMap<OrderId, u64> = HashMap::new();
    for (step, c) in commands.iter().enumerate() {
        events.clear();
        expected.clear();
        let got = engine.execute(c, &mut events);
        let want = model.execute(c, &mut expected);
        prop_assert_eq!(got, want, "result of step {} {:?}", step, c);
        let kinds: Vec<EventKind> = events
            .iter()
            .map(|e| e.kind)
            .filter(|k| !matches!(k, EventKind::BookChanged { .. }))
            .collect();
        prop_assert_eq!(&kinds, &expected, "events of step {} {:?}", step, c);
        let (mut bought, mut sold) = (0u64, 0u64);
        for e in &events {
            match e.kind {
                EventKind::BookChanged {
                    symbol,
                    side,
                    price,
                    quantity,
                    orders,
                } => {
                    if quantity == 0 {
                        prop_assert_eq!(orders, 0);
                        feed.remove(&(symbol, side, price));
                    } else {
                        feed.insert((symbol, side, price), (quantity, orders));
                    }
                }
                EventKind::Accepted {
                    order_id, quantity, ..
                } => {
                    ledger.insert(order_id, quantity);
                }
                EventKind::Amended {
                    order_id, quantity, ..
                } => {
                    ledger.insert(order_id, quantity);
                }
                EventKind::Fill {
                    order_id,
                    quantity,
                    side,
                    ..
                } => {
                    let open = ledger.get_mut(&order_id).expect("fill of a known order");
                    *open = open.checked_sub(quantity).expect("overfill");
                    if side == Side::Buy {
                        bought += quantity
                    } else {
                        sold += quantity
                    }
                }
                EventKind::Cancelled {
                    order_id,
                    cancelled,
                    ..
                } => {
                    let open = ledger.get_mut(&order_id).expect("cancel of a known order");
                    *open = open.checked_sub(cancelled).expect("over-cancel");
                }
                _ => {}
            }
        }
        prop_assert_eq!(bought, sold, "both sides of every trade filled equally");
        prop_assert!(engine.is_uncrossed(), "crossed book after step {}", step);
        for (&id, &open) in &ledger {
            let remaining = engine.order_status(id).map_or(0, |s| {
                if matches!(s.state, OrderState::Open | OrderState::PartiallyFilled) {
                    s.remaining
                } else {
                    0
                }
            });
            prop_assert_eq!(open, remaining, "quantity conservation for {:?}", id);
        }
        for id in 0..48 {
            prop_assert_eq!(
                engine.order_status(OrderId(id)),
                model.status(OrderId(id)),
                "status of {}",
                id
            );
        }
        for sym in [SYM_A, SYM_B] {
            let depth = engine.depth(sym, usize::MAX).expect("known symbol");
            prop_assert_eq!(&depth.bids, &model.depth(sym, Side::Buy));
            prop_assert_eq!(&depth.asks, &model.depth(sym, Side::Sell));
            for (side, levels) in [(Side::Buy, &depth.bids), (Side::Sell, &depth.asks)] {
                for l in levels.iter() {
                    prop_assert_eq!(
                        feed.get(&(sym, side, l.price)),
                        Some(&(l.quantity, l.orders))
                    );
                }
            }
        }
        prop_assert_eq!(
            feed.len(),
            engine
                .depth(SYM_A, usize::MAX)
                .map(|d| d.bids.len() + d.asks.len())
                .unwrap_or(0)
                + engine
                    .depth(SYM_B, usize::MAX)
                    .map(|d| d.bids.len() + d.asks.len())
                    .unwrap_or(0)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(192))]

    #[test]
    fn engine_matches_reference_model(commands in proptest::collection::vec(command(), 1..250)) {
        check_sequence(&commands)?;
    }
}
