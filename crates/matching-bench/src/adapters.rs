//! One adapter per engine under test, all driven by the same `Op` stream. Each returns the
//! taker quantity filled by the op so results can be checked against the naive model.

use bourse_matching::{
    AccountId, Command, Engine, EngineConfig, Event, OrderId, OrderType, Side, StpMode,
    SymbolConfig, SymbolId,
};

use crate::naive::Naive;
use crate::workload::Op;

pub trait Harness {
    fn new(symbols: u32, max_id: u64) -> Self;
    fn apply(&mut self, op: &Op) -> u64;

    /// Applies every op, writing each one's taker fill to the matching slot. Engines that
    /// can batch (the wasm component) override it.
    fn apply_all(&mut self, ops: &[Op], fills: &mut [u64]) {
        for (slot, op) in fills.iter_mut().zip(ops) {
            *slot = self.apply(op);
        }
    }
}

pub struct Bourse {
    engine: Engine,
    events: Vec<Event>,
    /// Consumed so the event stream cannot be optimised away.
    pub event_count: u64,
}

impl Harness for Bourse {
    fn new(symbols: u32, _max_id: u64) -> Self {
        let mut engine = Engine::new(EngineConfig {
            // Sized for the workload's live set: an oversized index only adds cache misses.
            max_open_orders: 1 << 18,
            orders_per_symbol: ((1 << 18) / symbols as usize).max(1 << 10),
            levels_per_symbol: 1 << 8,
            closed_history: 1 << 12,
        });
        for s in 0..symbols {
            engine
                .add_symbol(SymbolConfig {
                    id: SymbolId(s),
                    name: format!("S{s}"),
                    tick_size: 1,
                    lot_size: 1,
                })
                .expect("fresh symbol ids");
        }
        Bourse {
            engine,
            events: Vec::with_capacity(4096),
            event_count: 0,
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) -> u64 {
        let side = |buy| if buy { Side::Buy } else { Side::Sell };
        let cmd = match *op {
            Op::Limit {
                sym,
                id,
                buy,
                price,
                qty,
            } => Command::Submit {
                symbol: SymbolId(sym),
                order_id: OrderId(id),
                // One account per order: the peers have no self-trade prevention.
                account: AccountId(id),
                side: side(buy),
                order_type: OrderType::Limit { price },
                quantity: qty,
                stp: StpMode::CancelNewest,
            },
            Op::Market { sym, id, buy, qty } => Command::Submit {
                symbol: SymbolId(sym),
                order_id: OrderId(id),
                account: AccountId(id),
                side: side(buy),
                order_type: OrderType::Market,
                quantity: qty,
                stp: StpMode::CancelNewest,
            },
            Op::Cancel { id, .. } => Command::Cancel {
                order_id: OrderId(id),
            },
        };
        self.events.clear();
        let filled = self
            .engine
            .execute(&cmd, &mut self.events)
            .map_or(0, |r| r.filled);
        self.event_count += self.events.len() as u64;
        filled
    }
}

pub struct NaiveHarness {
    naive: Naive,
    done: Vec<u64>,
}

impl Harness for NaiveHarness {
    fn new(symbols: u32, _max_id: u64) -> Self {
        NaiveHarness {
            naive: Naive::new(symbols),
            done: Vec::with_capacity(4096),
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) -> u64 {
        self.done.clear();
        self.naive.apply(op, &mut self.done)
    }
}

pub struct Lobster {
    books: Vec<lobster::OrderBook>,
}

impl Harness for Lobster {
    fn new(symbols: u32, _max_id: u64) -> Self {
        let per = ((1 << 20) / symbols as usize).max(1 << 12);
        Lobster {
            books: (0..symbols)
                .map(|_| lobster::OrderBook::new(per, 64, false))
                .collect(),
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) -> u64 {
        use lobster::{OrderEvent, OrderType as L, Side as S};
        let side = |buy| if buy { S::Bid } else { S::Ask };
        let (sym, order) = match *op {
            Op::Limit {
                sym,
                id,
                buy,
                price,
                qty,
            } => (
                sym,
                L::Limit {
                    id: u128::from(id),
                    side: side(buy),
                    qty,
                    price: price as u64,
                },
            ),
            Op::Market { sym, id, buy, qty } => (
                sym,
                L::Market {
                    id: u128::from(id),
                    side: side(buy),
                    qty,
                },
            ),
            Op::Cancel { sym, id } => (sym, L::Cancel { id: u128::from(id) }),
        };
        match self.books[sym as usize].execute(order) {
            OrderEvent::Filled { filled_qty, .. }
            | OrderEvent::PartiallyFilled { filled_qty, .. } => filled_qty,
            _ => 0,
        }
    }
}

pub struct Matchcore {
    books: Vec<matchcore::OrderBook>,
    /// matchcore numbers commands per book and derives order ids from that number.
    next_seq: Vec<u64>,
    seq_of: Vec<u64>,
}

impl Harness for Matchcore {
    fn new(symbols: u32, max_id: u64) -> Self {
        Matchcore {
            books: (0..symbols)
                .map(|s| matchcore::OrderBook::new(&format!("S{s}")))
                .collect(),
            next_seq: vec![0; symbols as usize],
            seq_of: vec![0; max_id as usize + 1],
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) -> u64 {
        use matchcore::{
            CancelCmd, Command as C, CommandKind, CommandMeta, CommandOutcome, CommandReport,
            LimitOrder, MarketOrder, NewOrder, OrderFlags, OrderKind, Price, Quantity,
            QuantityPolicy, SequenceNumber, Side as S, SubmitCmd, TimeInForce, Timestamp,
        };
        let side = |buy| if buy { S::Buy } else { S::Sell };
        let sym = match *op {
            Op::Limit { sym, .. } | Op::Market { sym, .. } | Op::Cancel { sym, .. } => sym as usize,
        };
        let seq = self.next_seq[sym];
        self.next_seq[sym] += 1;
        let kind = match *op {
            Op::Limit {
                id,
                buy,
                price,
                qty,
                ..
            } => {
                self.seq_of[id as usize] = seq;
                CommandKind::Submit(SubmitCmd {
                    order: NewOrder::Limit(LimitOrder::new(
                        Price(price as u64),
                        QuantityPolicy::Standard {
                            quantity: Quantity(qty),
                        },
                        OrderFlags::new(side(buy), false, TimeInForce::Gtc),
                    )),
                })
            }
            Op::Market { id, buy, qty, .. } => {
                self.seq_of[id as usize] = seq;
                CommandKind::Submit(SubmitCmd {
                    order: NewOrder::Market(MarketOrder::new(Quantity(qty), side(buy), false)),
                })
            }
            Op::Cancel { id, .. } => CommandKind::Cancel(CancelCmd {
                order_id: matchcore::OrderId(self.seq_of[id as usize]),
                order_kind: OrderKind::Limit,
            }),
        };
        let cmd = C {
            meta: CommandMeta {
                sequence_number: SequenceNumber(seq),
                timestamp: Timestamp(seq),
            },
            kind,
        };
        match self.books[sym].execute(&cmd) {
            CommandOutcome::Applied(CommandReport::Submit(effects)) => effects
                .target_order()
                .match_result()
                .map_or(0, |m| m.executed_quantity().0),
            _ => 0,
        }
    }
}

pub struct OrderbookRs {
    books: Vec<orderbook_rs::OrderBook<()>>,
}

impl Harness for OrderbookRs {
    fn new(symbols: u32, _max_id: u64) -> Self {
        OrderbookRs {
            books: (0..symbols)
                .map(|s| orderbook_rs::OrderBook::new(&format!("S{s}")))
                .collect(),
        }
    }

    #[inline]
    fn apply(&mut self, op: &Op) -> u64 {
        use orderbook_rs::prelude::{Id, Side as S, TimeInForce};
        let side = |buy| if buy { S::Buy } else { S::Sell };
        match *op {
            Op::Limit {
                sym,
                id,
                buy,
                price,
                qty,
            } => self.books[sym as usize]
                .add_limit_order_with_result(
                    Id::Sequential(id),
                    price as u128,
                    qty,
                    side(buy),
                    TimeInForce::Gtc,
                    None,
                )
                .ok()
                .and_then(|(_, trades)| trades)
                .and_then(|t| t.match_result.executed_quantity().ok())
                .map_or(0, |q| q.as_u64()),
            Op::Market { sym, id, buy, qty } => self.books[sym as usize]
                .submit_market_order(Id::Sequential(id), qty, side(buy))
                .ok()
                .and_then(|m| m.executed_quantity().ok())
                .map_or(0, |q| q.as_u64()),
            Op::Cancel { sym, id } => {
                let _ = self.books[sym as usize].cancel_order(Id::Sequential(id));
                0
            }
        }
    }
}
