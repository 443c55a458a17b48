//! The price-time matching walk, shared by new orders and price-changing amends.

use crate::book::{Book, NIL, Orders, Resting, crosses};
use crate::event::{CancelReason, Event, EventKind, EventSink, Liquidity};
use crate::index::OrderIndex;
use crate::query::{OrderState, OrderStatus, Report};
use crate::types::{AccountId, OrderId, Price, Quantity, Side, StpMode};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Loc {
    pub book: u32,
    pub slot: u32,
}

/// Engine state that matching touches besides the book itself, borrowed disjointly.
pub(crate) struct Ctx<'a, S: EventSink> {
    pub seq: &'a mut u64,
    pub sink: &'a mut S,
    pub index: &'a mut OrderIndex,
    pub orders: &'a mut Orders,
}

impl<S: EventSink> Ctx<'_, S> {
    #[inline]
    pub(crate) fn emit(&mut self, kind: EventKind) {
        *self.seq += 1;
        self.sink.emit(Event {
            seq: *self.seq,
            kind,
        });
    }
}

/// The incoming order while it is off the book.
pub(crate) struct Taker {
    pub id: OrderId,
    pub account: AccountId,
    pub side: Side,
    pub limit: Option<Price>,
    pub remaining: Quantity,
    pub filled: Quantity,
    pub stp: StpMode,
    pub post_only: bool,
    /// Filled before this command (an amended order carries its history).
    pub filled_before: Quantity,
    /// Whether the latest reduction was a fill; decides Filled vs Cancelled at zero.
    pub ended_by_fill: bool,
}

pub(crate) fn emit_level<S: EventSink>(book: &Book, ctx: &mut Ctx<'_, S>, side: Side, level: u32) {
    let l = &book.levels[level as usize];
    ctx.emit(EventKind::BookChanged {
        symbol: book.config.id,
        side,
        price: l.price,
        quantity: l.reported_quantity(),
        orders: l.orders,
    });
}

/// Takes a finished resting order off the book and records its final status.
fn close_maker<S: EventSink>(book: &mut Book, ctx: &mut Ctx<'_, S>, slot: u32, state: OrderState) {
    let n = &ctx.orders[slot as usize];
    ctx.index.close(OrderStatus {
        order_id: n.id,
        symbol: book.config.id,
        account: n.account,
        side: n.side,
        price: Some(book.levels[n.level as usize].price),
        state,
        filled: n.filled,
        remaining: 0,
    });
    book.remove(ctx.orders, slot);
}

/// Dry run of `match_taker` for fill-or-kill: mirrors its self-trade handling exactly, so an
/// accepted FOK order never ends up partially executed.
pub(crate) fn fok_fillable(book: &Book, orders: &Orders, t: &Taker) -> bool {
    let mut need = t.remaining;
    for level in book.levels_from_best(t.side.opposite()) {
        if !crosses(t.side, t.limit, level.price) {
            break;
        }
        for m in orders.level_orders(level) {
            if m.account == t.account {
                match t.stp {
                    StpMode::CancelNewest => return false,
                    StpMode::CancelOldest => continue,
                    StpMode::DecrementBoth => {}
                }
            }
            need = need.saturating_sub(m.remaining);
            if need == 0 {
                return true;
            }
        }
    }
    false
}

pub(crate) fn would_cross(book: &Book, side: Side, price: Price) -> bool {
    book.best(side.opposite())
        .is_some_and(|l| crosses(side, Some(price), book.levels[l as usize].price))
}

/// Matches `t` against the opposite side in price-time priority. Returns true if
/// self-trade prevention (cancel newest) killed the taker's remainder.
pub(crate) fn match_taker<S: EventSink>(
    book: &mut Book,
    ctx: &mut Ctx<'_, S>,
    t: &mut Taker,
) -> bool {
    let symbol = book.config.id;
    let opp = t.side.opposite();
    while t.remaining > 0 {
        let Some(level) = book.best(opp) else { break };
        let price = book.levels[level as usize].price;
        if !crosses(t.side, t.limit, price) {
            break;
        }
        let mut cur = book.levels[level as usize].head;
        let mut touched = false;
        let mut killed = false;
        while cur != NIL && t.remaining > 0 {
            let m = &mut ctx.orders[cur as usize];
            let next = m.next;
            if m.account == t.account {
                match t.stp {
                    StpMode::CancelNewest => {
                        killed = true;
                        break;
                    }
                    StpMode::CancelOldest => {
                        let (id, cancelled) = (m.id, m.remaining);
                        ctx.emit(EventKind::Cancelled {
                            order_id: id,
                            cancelled,
                            remaining: 0,
                            reason: CancelReason::SelfTrade,
                        });
                        close_maker(book, ctx, cur, OrderState::Cancelled);
                    }
                    StpMode::DecrementBoth => {
                        let d = m.remaining.min(t.remaining);
                        m.remaining -= d;
                        t.remaining -= d;
                        t.ended_by_fill = false;
                        let (id, left) = (m.id, m.remaining);
                        book.levels[level as usize].sub_quantity(d);
                        ctx.emit(EventKind::Cancelled {
                            order_id: id,
                            cancelled: d,
                            remaining: left,
                            reason: CancelReason::SelfTrade,
                        });
                        ctx.emit(EventKind::Cancelled {
                            order_id: t.id,
                            cancelled: d,
                            remaining: t.remaining,
                            reason: CancelReason::SelfTrade,
                        });
                        if left == 0 {
                            close_maker(book, ctx, cur, OrderState::Cancelled);
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
                let (id, account, left) = (m.id, m.account, m.remaining);
                book.levels[level as usize].sub_quantity(q);
                ctx.emit(EventKind::Trade {
                    symbol,
                    price,
                    quantity: q,
                    aggressor: t.side,
                    maker_order_id: id,
                    taker_order_id: t.id,
                    maker_account: account,
                    taker_account: t.account,
                });
                ctx.emit(EventKind::Fill {
                    order_id: id,
                    account,
                    side: opp,
                    price,
                    quantity: q,
                    remaining: left,
                    liquidity: Liquidity::Maker,
                });
                ctx.emit(EventKind::Fill {
                    order_id: t.id,
                    account: t.account,
                    side: t.side,
                    price,
                    quantity: q,
                    remaining: t.remaining,
                    liquidity: Liquidity::Taker,
                });
                if left == 0 {
                    close_maker(book, ctx, cur, OrderState::Filled);
                }
            }
            touched = true;
            cur = next;
        }
        if touched {
            emit_level(book, ctx, opp, level);
            book.drop_level_if_empty(opp, level);
        }
        if killed {
            return true;
        }
    }
    false
}

/// Settles the taker after matching: rest, cancel the remainder, or record completion.
pub(crate) fn finish_taker<S: EventSink>(
    book: &mut Book,
    ctx: &mut Ctx<'_, S>,
    book_idx: u32,
    t: &Taker,
    rests: bool,
    killed: bool,
) -> Report {
    let mut status = OrderStatus {
        order_id: t.id,
        symbol: book.config.id,
        account: t.account,
        side: t.side,
        price: t.limit,
        state: OrderState::Filled,
        filled: t.filled,
        remaining: 0,
    };
    let filled = t.filled - t.filled_before;
    if t.remaining == 0 {
        if !t.ended_by_fill {
            status.state = OrderState::Cancelled;
        }
    } else if let Some(price) = t.limit.filter(|_| rests && !killed) {
        let slot = book.insert(
            ctx.orders,
            Resting {
                id: t.id,
                account: t.account,
                side: t.side,
                price,
                remaining: t.remaining,
                filled: t.filled,
                post_only: t.post_only,
                stp: t.stp,
            },
        );
        ctx.index.insert_open(
            t.id,
            Loc {
                book: book_idx,
                slot,
            },
        );
        let level = ctx.orders[slot as usize].level;
        emit_level(book, ctx, t.side, level);
        return Report {
            order_id: t.id,
            state: OrderState::live(t.filled),
            filled,
            remaining: t.remaining,
        };
    } else {
        ctx.emit(EventKind::Cancelled {
            order_id: t.id,
            cancelled: t.remaining,
            remaining: 0,
            reason: if killed {
                CancelReason::SelfTrade
            } else {
                CancelReason::Unfilled
            },
        });
        status.state = OrderState::Cancelled;
    }
    ctx.index.close(status);
    Report {
        order_id: t.id,
        state: status.state,
        filled,
        remaining: 0,
    }
}
