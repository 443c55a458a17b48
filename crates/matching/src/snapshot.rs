//! Serialisable engine state. Restoring a snapshot and replaying the commands journaled
//! after it reproduces the same events and state hash as the original engine.

use serde::{Deserialize, Serialize};

use crate::book::Resting;
use crate::engine::Engine;
use crate::matching::Loc;
use crate::query::OrderStatus;
use crate::reject::SymbolError;
use crate::types::{
    AccountId, EngineConfig, OrderId, Price, Quantity, Side, StpMode, SymbolConfig,
};

/// Bumped on any incompatible change to the snapshot layout.
pub const SNAPSHOT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub version: u32,
    pub config: EngineConfig,
    pub last_seq: u64,
    pub commands: u64,
    pub books: Vec<BookSnapshot>,
    /// Finished orders, oldest first.
    pub closed: Vec<OrderStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookSnapshot {
    pub symbol: SymbolConfig,
    /// Best level first, time priority within a level.
    pub bids: Vec<RestingOrder>,
    /// Best level first, time priority within a level.
    pub asks: Vec<RestingOrder>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestingOrder {
    pub order_id: OrderId,
    pub account: AccountId,
    pub price: Price,
    pub remaining: Quantity,
    pub filled: Quantity,
    pub post_only: bool,
    pub stp: StpMode,
}

#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("unsupported snapshot version {0}")]
    Version(u32),
    #[error(transparent)]
    Symbol(#[from] SymbolError),
    #[error("order {0} appears more than once")]
    DuplicateOrder(u64),
    #[error("order {0} has an invalid price or quantity")]
    InvalidOrder(u64),
}

impl Engine {
    pub fn snapshot(&self) -> EngineSnapshot {
        let side = |book: &crate::book::Book, side| {
            book.levels_from_best(side)
                .flat_map(|l| self.orders.level_orders(l).map(move |o| (l.price, o)))
                .map(|(price, o)| RestingOrder {
                    order_id: o.id,
                    account: o.account,
                    price,
                    remaining: o.remaining,
                    filled: o.filled,
                    post_only: o.post_only,
                    stp: o.stp,
                })
                .collect()
        };
        EngineSnapshot {
            version: SNAPSHOT_VERSION,
            config: self.config,
            last_seq: self.seq,
            commands: self.commands,
            books: self
                .books
                .iter()
                .map(|b| BookSnapshot {
                    symbol: b.config.clone(),
                    bids: side(b, Side::Buy),
                    asks: side(b, Side::Sell),
                })
                .collect(),
            closed: self.index.history().copied().collect(),
        }
    }

    pub fn restore(snapshot: &EngineSnapshot) -> Result<Engine, SnapshotError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snapshot.version));
        }
        let mut engine = Engine::new(snapshot.config);
        // History first: an id that is both finished and (reused) open must resolve to the
        // open order, and inserting it last overwrites the finished entry.
        for s in &snapshot.closed {
            engine.index.close(*s);
        }
        for (book_idx, b) in snapshot.books.iter().enumerate() {
            engine.add_symbol(b.symbol.clone())?;
            let book = &mut engine.books[book_idx];
            for (side, orders) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                for o in orders {
                    if o.remaining == 0
                        || o.price <= 0
                        || o.price % book.config.tick_size != 0
                        || !o.remaining.is_multiple_of(book.config.lot_size)
                    {
                        return Err(SnapshotError::InvalidOrder(o.order_id.0));
                    }
                    if engine.index.is_open(o.order_id) {
                        return Err(SnapshotError::DuplicateOrder(o.order_id.0));
                    }
                    let slot = book.insert(
                        &mut engine.orders,
                        Resting {
                            id: o.order_id,
                            account: o.account,
                            side,
                            price: o.price,
                            remaining: o.remaining,
                            filled: o.filled,
                            post_only: o.post_only,
                            stp: o.stp,
                        },
                    );
                    engine.index.insert_open(
                        o.order_id,
                        Loc {
                            book: book_idx as u32,
                            slot,
                        },
                    );
                }
            }
        }
        engine.seq = snapshot.last_seq;
        engine.commands = snapshot.commands;
        Ok(engine)
    }
}
