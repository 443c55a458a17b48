//! The multi-symbol engine: validates commands, routes them to books and owns the
//! engine-wide order index, event sequence and finished-order history.

use crate::book::{Book, Orders, crosses};
use crate::command::Command;
use crate::event::{CancelReason, Event, EventKind, EventSink};
use crate::hash::{FastMap, Fnv64, fast_map};
use crate::index::OrderIndex;
use crate::matching::{
    Ctx, Taker, emit_level, finish_taker, fok_fillable, match_taker, would_cross,
};
use crate::query::{Depth, LevelView, OrderState, OrderStatus, Report, TopOfBook};
use crate::reject::{RejectReason, SymbolError};
use crate::types::{
    AccountId, EngineConfig, OrderId, OrderType, Price, Quantity, Side, StpMode, SymbolConfig,
    SymbolId,
};

/// The matching engine: every configured symbol's book plus the engine-wide order index.
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) books: Vec<Book>,
    /// Order slots shared by every book.
    pub(crate) orders: Orders,
    /// Book index by symbol id for small ids (the common case: hosts number symbols
    /// densely), so routing a command is one load instead of a hash probe.
    pub(crate) symbol_table: Vec<u32>,
    /// Book index for symbol ids too large for `symbol_table`.
    pub(crate) symbols: FastMap<SymbolId, u32>,
    pub(crate) index: OrderIndex,
    pub(crate) seq: u64,
    pub(crate) commands: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineConfig::default())
    }
}

/// Splits the engine into the book a command targets and the shared context, so the
/// matching code can mutate both without aliasing.
macro_rules! split {
    ($self:ident, $book:expr, $sink:expr) => {{
        let Engine {
            books,
            index,
            seq,
            orders,
            ..
        } = $self;
        (
            &mut books[$book as usize],
            Ctx {
                seq,
                sink: $sink,
                index,
                orders,
            },
        )
    }};
}

fn check_price(price: Price, tick: Price) -> Result<(), RejectReason> {
    if price <= 0 {
        Err(RejectReason::NonPositivePrice)
    } else if price % tick != 0 {
        Err(RejectReason::PriceOffTick)
    } else {
        Ok(())
    }
}

fn check_quantity(quantity: Quantity, lot: Quantity) -> Result<(), RejectReason> {
    if quantity == 0 {
        Err(RejectReason::ZeroQuantity)
    } else if !quantity.is_multiple_of(lot) {
        Err(RejectReason::QuantityOffLot)
    } else {
        Ok(())
    }
}

/// Symbol ids below this are routed through `symbol_table`.
const SYMBOL_TABLE_LIMIT: u32 = 1 << 12;
/// `symbol_table` entry of an unused id.
const NO_BOOK: u32 = u32::MAX;

impl Engine {
    /// An engine with no symbols; `config` sizes its tables.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            books: Vec::new(),
            orders: Orders::new(config.max_open_orders),
            symbol_table: Vec::new(),
            symbols: fast_map(0),
            index: OrderIndex::new(config.max_open_orders, config.closed_history),
            seq: 0,
            commands: 0,
        }
    }

    /// The configuration the engine was created with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Registers a symbol. Not a journaled command: the host re-registers symbols from its
    /// configuration at start-up (or restores them from a snapshot).
    pub fn add_symbol(&mut self, config: SymbolConfig) -> Result<(), SymbolError> {
        if self.book_index(config.id).is_some() {
            return Err(SymbolError::Duplicate(config.id.0));
        }
        if config.tick_size <= 0 {
            return Err(SymbolError::InvalidTickSize);
        }
        if config.lot_size == 0 {
            return Err(SymbolError::InvalidLotSize);
        }
        let book = self.books.len() as u32;
        if config.id.0 < SYMBOL_TABLE_LIMIT {
            let at = config.id.0 as usize;
            if self.symbol_table.len() <= at {
                self.symbol_table.resize(at + 1, NO_BOOK);
            }
            self.symbol_table[at] = book;
        } else {
            self.symbols.insert(config.id, book);
        }
        self.books
            .push(Book::new(config, self.config.levels_per_symbol));
        Ok(())
    }

    /// Book position of `symbol`.
    #[inline]
    fn book_index(&self, symbol: SymbolId) -> Option<u32> {
        if symbol.0 < SYMBOL_TABLE_LIMIT {
            self.symbol_table
                .get(symbol.0 as usize)
                .copied()
                .filter(|&b| b != NO_BOOK)
        } else {
            self.symbols.get(&symbol).copied()
        }
    }

    /// Configured symbols in registration order.
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolConfig> {
        self.books.iter().map(|b| &b.config)
    }

    /// Sequence number of the last emitted event (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// Commands executed so far, rejected ones included.
    pub fn commands_executed(&self) -> u64 {
        self.commands
    }

    /// Executes one command. Events go to `sink` in order; a rejection is both returned
    /// and emitted as `EventKind::Rejected`.
    pub fn execute<S: EventSink>(
        &mut self,
        command: &Command,
        sink: &mut S,
    ) -> Result<Report, RejectReason> {
        self.commands += 1;
        let result = match *command {
            Command::Submit {
                symbol,
                order_id,
                account,
                side,
                order_type,
                quantity,
                stp,
            } => self.submit(
                symbol, order_id, account, side, order_type, quantity, stp, sink,
            ),
            Command::Cancel { order_id } => self.cancel(order_id, sink),
            Command::Amend {
                order_id,
                price,
                quantity,
            } => self.amend(order_id, price, quantity, sink),
        };
        if let Err(reason) = result {
            self.seq += 1;
            sink.emit(Event {
                seq: self.seq,
                kind: EventKind::Rejected {
                    order_id: command.order_id(),
                    reason,
                },
            });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn submit<S: EventSink>(
        &mut self,
        symbol: SymbolId,
        order_id: OrderId,
        account: AccountId,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        stp: StpMode,
        sink: &mut S,
    ) -> Result<Report, RejectReason> {
        let book_idx = self.book_index(symbol).ok_or(RejectReason::UnknownSymbol)?;
        let (book, mut ctx) = split!(self, book_idx, sink);
        check_quantity(quantity, book.config.lot_size)?;
        if let Some(price) = order_type.price() {
            check_price(price, book.config.tick_size)?;
        }
        if ctx.index.is_open(order_id) {
            return Err(RejectReason::DuplicateOrderId);
        }
        let mut taker = Taker {
            id: order_id,
            account,
            side,
            limit: order_type.price(),
            remaining: quantity,
            filled: 0,
            stp,
            post_only: matches!(order_type, OrderType::PostOnly { .. }),
            filled_before: 0,
            ended_by_fill: true,
        };
        match order_type {
            OrderType::PostOnly { price } if would_cross(book, side, price) => {
                return Err(RejectReason::PostOnlyWouldCross);
            }
            OrderType::Fok { .. } if !fok_fillable(book, ctx.orders, &taker) => {
                return Err(RejectReason::FokCannotFill);
            }
            _ => {}
        }
        ctx.emit(EventKind::Accepted {
            order_id,
            symbol,
            account,
            side,
            order_type,
            quantity,
        });
        let killed = !taker.post_only && match_taker(book, &mut ctx, &mut taker);
        Ok(finish_taker(
            book,
            &mut ctx,
            book_idx,
            &taker,
            order_type.rests(),
            killed,
        ))
    }

    fn cancel<S: EventSink>(
        &mut self,
        order_id: OrderId,
        sink: &mut S,
    ) -> Result<Report, RejectReason> {
        let loc = self
            .index
            .open(order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        let (book, mut ctx) = split!(self, loc.book, sink);
        let n = &ctx.orders[loc.slot as usize];
        let (side, level, account, price, remaining, filled) = (
            n.side,
            n.level,
            n.account,
            book.levels[n.level as usize].price,
            n.remaining,
            n.filled,
        );
        ctx.emit(EventKind::Cancelled {
            order_id,
            cancelled: remaining,
            remaining: 0,
            reason: CancelReason::Requested,
        });
        ctx.index.close(OrderStatus {
            order_id,
            symbol: book.config.id,
            account,
            side,
            price: Some(price),
            state: OrderState::Cancelled,
            filled,
            remaining: 0,
        });
        book.remove(ctx.orders, loc.slot);
        emit_level(book, &mut ctx, side, level);
        book.drop_level_if_empty(side, level);
        Ok(Report {
            order_id,
            state: OrderState::Cancelled,
            filled: 0,
            remaining: 0,
        })
    }

    fn amend<S: EventSink>(
        &mut self,
        order_id: OrderId,
        price: Option<Price>,
        quantity: Quantity,
        sink: &mut S,
    ) -> Result<Report, RejectReason> {
        let loc = self
            .index
            .open(order_id)
            .ok_or(RejectReason::UnknownOrder)?;
        let (book, mut ctx) = split!(self, loc.book, sink);
        check_quantity(quantity, book.config.lot_size)?;
        if let Some(p) = price {
            check_price(p, book.config.tick_size)?;
        }
        let n = &ctx.orders[loc.slot as usize];
        let (side, level, old_price, remaining, filled) = (
            n.side,
            n.level,
            book.levels[n.level as usize].price,
            n.remaining,
            n.filled,
        );
        if filled.checked_add(quantity).is_none() {
            return Err(RejectReason::QuantityTooLarge);
        }
        let new_price = price.unwrap_or(old_price);
        if new_price == old_price && quantity <= remaining {
            let cut = remaining - quantity;
            ctx.orders[loc.slot as usize].remaining = quantity;
            book.levels[level as usize].sub_quantity(cut);
            ctx.emit(EventKind::Amended {
                order_id,
                price: new_price,
                quantity,
                priority_kept: true,
            });
            if cut > 0 {
                emit_level(book, &mut ctx, side, level);
            }
            return Ok(Report {
                order_id,
                state: OrderState::live(filled),
                filled: 0,
                remaining: quantity,
            });
        }
        let n = &ctx.orders[loc.slot as usize];
        if n.post_only && would_cross(book, side, new_price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        let mut taker = Taker {
            id: order_id,
            account: n.account,
            side,
            limit: Some(new_price),
            remaining: quantity,
            filled,
            stp: n.stp,
            post_only: n.post_only,
            filled_before: filled,
            ended_by_fill: true,
        };
        ctx.emit(EventKind::Amended {
            order_id,
            price: new_price,
            quantity,
            priority_kept: false,
        });
        ctx.index.remove_open(order_id);
        book.remove(ctx.orders, loc.slot);
        emit_level(book, &mut ctx, side, level);
        book.drop_level_if_empty(side, level);
        let killed = !taker.post_only && match_taker(book, &mut ctx, &mut taker);
        Ok(finish_taker(book, &mut ctx, loc.book, &taker, true, killed))
    }

    fn book(&self, symbol: SymbolId) -> Result<&Book, RejectReason> {
        self.book_index(symbol)
            .map(|i| &self.books[i as usize])
            .ok_or(RejectReason::UnknownSymbol)
    }

    /// Best bid and ask of `symbol`.
    pub fn top_of_book(&self, symbol: SymbolId) -> Result<TopOfBook, RejectReason> {
        let book = self.book(symbol)?;
        let view = |side| {
            book.levels_from_best(side).next().map(|l| LevelView {
                price: l.price,
                quantity: l.reported_quantity(),
                orders: l.orders,
            })
        };
        Ok(TopOfBook {
            bid: view(Side::Buy),
            ask: view(Side::Sell),
        })
    }

    /// Up to `levels` aggregated levels of one side into a caller-owned buffer (cleared
    /// first), so market-data publishing can reuse it.
    pub fn depth_into(
        &self,
        symbol: SymbolId,
        side: Side,
        levels: usize,
        out: &mut Vec<LevelView>,
    ) -> Result<(), RejectReason> {
        let book = self.book(symbol)?;
        out.clear();
        out.extend(book.levels_from_best(side).take(levels).map(|l| LevelView {
            price: l.price,
            quantity: l.reported_quantity(),
            orders: l.orders,
        }));
        Ok(())
    }

    /// Up to `levels` aggregated levels per side of `symbol`, best first.
    pub fn depth(&self, symbol: SymbolId, levels: usize) -> Result<Depth, RejectReason> {
        let mut depth = Depth::default();
        self.depth_into(symbol, Side::Buy, levels, &mut depth.bids)?;
        self.depth_into(symbol, Side::Sell, levels, &mut depth.asks)?;
        Ok(depth)
    }

    /// Open orders, then finished ones still in the bounded history.
    pub fn order_status(&self, order_id: OrderId) -> Option<OrderStatus> {
        if let Some(loc) = self.index.open(order_id) {
            let book = &self.books[loc.book as usize];
            let n = &self.orders[loc.slot as usize];
            return Some(OrderStatus {
                order_id,
                symbol: book.config.id,
                account: n.account,
                side: n.side,
                price: Some(book.levels[n.level as usize].price),
                state: OrderState::live(n.filled),
                filled: n.filled,
                remaining: n.remaining,
            });
        }
        self.index.closed(order_id).copied()
    }

    /// Number of open orders across all symbols.
    pub fn open_orders(&self) -> usize {
        self.index.open_count()
    }

    /// Price levels of `symbol`'s book: (bids, asks). Constant time.
    pub fn level_counts(&self, symbol: SymbolId) -> Option<(usize, usize)> {
        let book = &self.books[self.book_index(symbol)? as usize];
        Some((book.level_count(Side::Buy), book.level_count(Side::Sell)))
    }

    /// The owner of every resting order, one item per order (an account with three resting
    /// orders appears three times). Walks every book: for rebuilding counts, not per order.
    pub fn open_order_accounts(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.books.iter().flat_map(move |book| {
            [Side::Buy, Side::Sell].into_iter().flat_map(move |side| {
                book.levels_from_best(side)
                    .flat_map(move |level| self.orders.level_orders(level).map(|o| o.account))
            })
        })
    }

    /// Whether the best bid is below the best ask on every symbol (a matching invariant).
    pub fn is_uncrossed(&self) -> bool {
        self.books
            .iter()
            .all(|b| match (b.best(Side::Buy), b.best(Side::Sell)) {
                (Some(bid), Some(ask)) => !crosses(
                    Side::Buy,
                    Some(b.levels[bid as usize].price),
                    b.levels[ask as usize].price,
                ),
                _ => true,
            })
    }

    /// FNV-1a over the logical state (sequence counters, symbols and every resting order in
    /// priority order). Independent of slab layout, so a restored engine hashes the same.
    pub fn state_hash(&self) -> u64 {
        let mut h = Fnv64::new();
        h.u64(self.seq);
        h.u64(self.commands);
        for book in &self.books {
            h.u64(u64::from(book.config.id.0));
            h.bytes(book.config.name.as_bytes());
            h.i64(book.config.tick_size);
            h.u64(book.config.lot_size);
            for side in [Side::Buy, Side::Sell] {
                h.u64(side as u64);
                for level in book.levels_from_best(side) {
                    h.i64(level.price);
                    h.bytes(&level.quantity().to_le_bytes());
                    h.u64(u64::from(level.orders));
                    for o in self.orders.level_orders(level) {
                        h.u64(o.id.0);
                        h.u64(o.account.0);
                        h.u64(o.remaining);
                        h.u64(o.filled);
                        h.u64(u64::from(o.post_only));
                        h.u64(o.stp as u64);
                    }
                }
                h.u64(u64::MAX);
            }
        }
        for s in self.index.history() {
            h.u64(s.order_id.0);
            h.u64(s.state as u64);
            h.u64(s.filled);
        }
        h.finish()
    }
}
