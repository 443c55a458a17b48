//! One symbol's order book: slab-allocated orders in intrusive FIFO lists per price level,
//! and per side a sorted ladder of levels with the best price at the end so that the
//! common operations (touching the top of book) pop/push/shift near the tail.

use crate::types::{AccountId, OrderId, Price, Quantity, Side, StpMode, SymbolConfig};

pub(crate) const NIL: u32 = u32::MAX;
/// Most order slots a book reserves up front, whatever the configured hint.
const PRESIZE_ORDERS: usize = 1 << 10;
/// Most level slots a book reserves up front.
const PRESIZE_LEVELS: usize = 1 << 7;

/// One cache line each: a 56-byte stride would split most nodes across two lines, and a
/// cancel or fill of a cold order would then pay two misses instead of one.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct OrderNode {
    pub id: OrderId,
    pub account: AccountId,
    pub price: Price,
    pub remaining: Quantity,
    pub filled: Quantity,
    pub prev: u32,
    /// Doubles as the free-list link while the slot is vacant.
    pub next: u32,
    pub level: u32,
    pub side: Side,
    pub post_only: bool,
    pub stp: StpMode,
}

/// Aligned to a cache line for the same reason as `OrderNode` (it is 48 bytes).
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct Level {
    pub price: Price,
    /// Wider than `Quantity` so many maximal orders at one price cannot overflow the sum.
    pub quantity: u128,
    pub orders: u32,
    pub head: u32,
    /// Doubles as the free-list link while the slot is vacant.
    pub tail: u32,
}

/// Ladder entry; `key` is the price for bids and the negated price for asks so both
/// sides sort ascending with the best level last.
#[derive(Clone, Copy, Debug)]
struct Rung {
    key: i64,
    level: u32,
}

pub(crate) struct Book {
    pub config: SymbolConfig,
    pub orders: Vec<OrderNode>,
    free_order: u32,
    pub levels: Vec<Level>,
    free_level: u32,
    bids: Vec<Rung>,
    asks: Vec<Rung>,
}

/// Fields of a new resting order.
pub(crate) struct Resting {
    pub id: OrderId,
    pub account: AccountId,
    pub side: Side,
    pub price: Price,
    pub remaining: Quantity,
    pub filled: Quantity,
    pub post_only: bool,
    pub stp: StpMode,
}

#[inline]
fn key(side: Side, price: Price) -> i64 {
    // Prices are validated positive, so negation cannot overflow.
    match side {
        Side::Buy => price,
        Side::Sell => -price,
    }
}

/// Whether an order on `taker` side limited at `limit` trades against a resting `price`.
#[inline]
pub(crate) fn crosses(taker: Side, limit: Option<Price>, price: Price) -> bool {
    match (taker, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => price <= l,
        (Side::Sell, Some(l)) => price >= l,
    }
}

impl Level {
    /// Aggregate as reported to callers, saturating in the (absurd) case it exceeds u64.
    pub(crate) fn reported_quantity(&self) -> Quantity {
        Quantity::try_from(self.quantity).unwrap_or(Quantity::MAX)
    }
}

impl Book {
    pub(crate) fn new(config: SymbolConfig, orders: usize, levels: usize) -> Self {
        // Capped so that many symbols do not each start with a large, freshly mapped slab:
        // first-touch page faults and cold lines then dominate. Busy books grow by doubling.
        let (orders, levels) = (orders.min(PRESIZE_ORDERS), levels.min(PRESIZE_LEVELS));
        Book {
            config,
            orders: Vec::with_capacity(orders),
            free_order: NIL,
            levels: Vec::with_capacity(levels),
            free_level: NIL,
            bids: Vec::with_capacity(levels / 2 + 1),
            asks: Vec::with_capacity(levels / 2 + 1),
        }
    }

    #[inline]
    fn ladder(&self, side: Side) -> &Vec<Rung> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    #[inline]
    fn ladder_mut(&mut self, side: Side) -> &mut Vec<Rung> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    #[inline]
    pub(crate) fn best(&self, side: Side) -> Option<u32> {
        self.ladder(side).last().map(|r| r.level)
    }

    /// Levels from best to worst.
    pub(crate) fn levels_from_best(&self, side: Side) -> impl Iterator<Item = &Level> + '_ {
        self.ladder(side)
            .iter()
            .rev()
            .map(|r| &self.levels[r.level as usize])
    }

    /// Orders of a level in time priority.
    pub(crate) fn level_orders(&self, level: &Level) -> LevelIter<'_> {
        LevelIter {
            orders: &self.orders,
            cur: level.head,
        }
    }

    fn alloc_level(&mut self, price: Price) -> u32 {
        let level = Level {
            price,
            quantity: 0,
            orders: 0,
            head: NIL,
            tail: NIL,
        };
        if self.free_level != NIL {
            let idx = self.free_level;
            self.free_level = self.levels[idx as usize].tail;
            self.levels[idx as usize] = level;
            idx
        } else {
            self.levels.push(level);
            (self.levels.len() - 1) as u32
        }
    }

    /// Finds or creates the level for `price` on `side`.
    fn level_for(&mut self, side: Side, price: Price) -> u32 {
        let k = key(side, price);
        let ladder = self.ladder(side);
        // Most inserts land at or near the top of book, i.e. the tail.
        let pos = match ladder.last() {
            Some(r) if r.key == k => return r.level,
            Some(r) if r.key < k => Ok(ladder.len()),
            Some(r) => {
                // Keys are distinct multiples of the tick, so at most `gap` rungs lie above
                // `k`: that bounds its position from below, and is exact when every tick in
                // between is occupied (usual near the top of a busy book). One probe then
                // replaces a binary search over cold rungs.
                let gap = (r.key - k) / self.config.tick_size;
                let lo = usize::try_from(gap)
                    .ok()
                    .and_then(|g| ladder.len().checked_sub(g.saturating_add(1)))
                    .unwrap_or(0);
                match ladder.get(lo) {
                    Some(g) if g.key == k => Ok(lo),
                    _ => ladder[lo..]
                        .binary_search_by_key(&k, |r| r.key)
                        .map(|p| p + lo)
                        .map_err(|p| p + lo),
                }
            }
            None => Err(0),
        };
        match pos {
            Ok(p) if p < ladder.len() => ladder[p].level,
            Ok(p) | Err(p) => {
                let level = self.alloc_level(price);
                self.ladder_mut(side).insert(p, Rung { key: k, level });
                level
            }
        }
    }

    /// Appends an order at the back of its price level and returns its slot.
    pub(crate) fn insert(&mut self, r: Resting) -> u32 {
        let level = self.level_for(r.side, r.price);
        let tail = self.levels[level as usize].tail;
        let node = OrderNode {
            id: r.id,
            account: r.account,
            price: r.price,
            remaining: r.remaining,
            filled: r.filled,
            prev: tail,
            next: NIL,
            level,
            side: r.side,
            post_only: r.post_only,
            stp: r.stp,
        };
        let slot = if self.free_order != NIL {
            let idx = self.free_order;
            self.free_order = self.orders[idx as usize].next;
            self.orders[idx as usize] = node;
            idx
        } else {
            self.orders.push(node);
            (self.orders.len() - 1) as u32
        };
        if tail != NIL {
            self.orders[tail as usize].next = slot;
        }
        let lvl = &mut self.levels[level as usize];
        if lvl.head == NIL {
            lvl.head = slot;
        }
        lvl.tail = slot;
        lvl.orders += 1;
        lvl.quantity += u128::from(r.remaining);
        slot
    }

    /// Unlinks an order from its level and frees the slot. The level is left in place
    /// (possibly empty) so the caller can report it; see `drop_level_if_empty`.
    pub(crate) fn remove(&mut self, slot: u32) {
        let (prev, next, level, remaining) = {
            let n = &self.orders[slot as usize];
            (n.prev, n.next, n.level, n.remaining)
        };
        if prev != NIL {
            self.orders[prev as usize].next = next;
        }
        if next != NIL {
            self.orders[next as usize].prev = prev;
        }
        let lvl = &mut self.levels[level as usize];
        if lvl.head == slot {
            lvl.head = next;
        }
        if lvl.tail == slot {
            lvl.tail = prev;
        }
        lvl.orders -= 1;
        lvl.quantity -= u128::from(remaining);
        self.orders[slot as usize].next = self.free_order;
        self.free_order = slot;
    }

    /// Removes `level` from the ladder if it has no orders; returns whether it did.
    pub(crate) fn drop_level_if_empty(&mut self, side: Side, level: u32) -> bool {
        if self.levels[level as usize].orders != 0 {
            return false;
        }
        let k = key(side, self.levels[level as usize].price);
        let ladder = self.ladder_mut(side);
        if ladder.last().is_some_and(|r| r.key == k) {
            ladder.pop();
        } else if let Ok(p) = ladder.binary_search_by_key(&k, |r| r.key) {
            ladder.remove(p);
        }
        self.levels[level as usize].tail = self.free_level;
        self.free_level = level;
        true
    }
}

pub(crate) struct LevelIter<'a> {
    orders: &'a [OrderNode],
    cur: u32,
}

impl<'a> Iterator for LevelIter<'a> {
    type Item = &'a OrderNode;

    fn next(&mut self) -> Option<&'a OrderNode> {
        if self.cur == NIL {
            return None;
        }
        let n = &self.orders[self.cur as usize];
        self.cur = n.next;
        Some(n)
    }
}
