//! One symbol's order book: slab-allocated orders in intrusive FIFO lists per price level,
//! and per side a sorted ladder of levels with the best price at the end so that the
//! common operations (touching the top of book) pop/push/shift near the tail.

use crate::types::{AccountId, OrderId, Price, Quantity, Side, StpMode, SymbolConfig};

pub(crate) const NIL: u32 = u32::MAX;
/// Most order slots the shared slab reserves up front, whatever the configured hint.
const PRESIZE_ORDERS: usize = 1 << 16;
/// Most level slots a book reserves up front.
const PRESIZE_LEVELS: usize = 1 << 7;

/// 48 bytes: the price lives on the level only, so the slab (the largest table the hot
/// path touches at random) stays small.
#[derive(Clone, Debug)]
pub(crate) struct OrderNode {
    pub id: OrderId,
    pub account: AccountId,
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

/// 32 bytes, so two share a line: levels are looked up on every insert and cancel, and the
/// smaller they are the more of the busy books' levels stay cached.
#[derive(Clone, Debug)]
pub(crate) struct Level {
    pub price: Price,
    /// Aggregate quantity as `quantity_hi << 64 | quantity_lo`: 96 bits, so 2^32 maximal
    /// orders at one price cannot overflow the sum.
    quantity_lo: u64,
    quantity_hi: u32,
    pub orders: u32,
    pub head: u32,
    /// Doubles as the free-list link while the slot is vacant.
    pub tail: u32,
}

const _: () = assert!(std::mem::size_of::<Level>() == 32);

/// Ladder entry; `key` is the price for bids and the negated price for asks so both
/// sides sort ascending with the best level last.
#[derive(Clone, Copy, Debug)]
struct Rung {
    key: i64,
    level: u32,
}

/// Order slots of every book. One slab with one LIFO free list: a slot freed by a cancel or
/// fill on any symbol is reused by the next insert on any symbol while its line is still
/// hot, where per-book free lists would hand out a slot freed many commands earlier.
pub(crate) struct Orders {
    nodes: Vec<OrderNode>,
    free: u32,
}

const _: () = assert!(std::mem::size_of::<OrderNode>() == 48);

impl Orders {
    pub(crate) fn new(hint: usize) -> Self {
        Orders {
            nodes: Vec::with_capacity(hint.min(PRESIZE_ORDERS)),
            free: NIL,
        }
    }

    #[inline]
    fn alloc(&mut self, node: OrderNode) -> u32 {
        if self.free != NIL {
            let idx = self.free;
            self.free = self.nodes[idx as usize].next;
            self.nodes[idx as usize] = node;
            idx
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    #[inline]
    fn release(&mut self, slot: u32) {
        self.nodes[slot as usize].next = self.free;
        self.free = slot;
    }

    /// Orders of a level in time priority.
    pub(crate) fn level_orders(&self, level: &Level) -> LevelIter<'_> {
        LevelIter {
            orders: &self.nodes,
            cur: level.head,
        }
    }
}

impl std::ops::Index<usize> for Orders {
    type Output = OrderNode;

    #[inline]
    fn index(&self, i: usize) -> &OrderNode {
        &self.nodes[i]
    }
}

impl std::ops::IndexMut<usize> for Orders {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut OrderNode {
        &mut self.nodes[i]
    }
}

pub(crate) struct Book {
    pub config: SymbolConfig,
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
        if self.quantity_hi == 0 {
            self.quantity_lo
        } else {
            Quantity::MAX
        }
    }

    /// The exact aggregate quantity.
    pub(crate) fn quantity(&self) -> u128 {
        (u128::from(self.quantity_hi) << 64) | u128::from(self.quantity_lo)
    }

    #[inline]
    pub(crate) fn add_quantity(&mut self, q: Quantity) {
        let (lo, carry) = self.quantity_lo.overflowing_add(q);
        self.quantity_lo = lo;
        self.quantity_hi += u32::from(carry);
    }

    #[inline]
    pub(crate) fn sub_quantity(&mut self, q: Quantity) {
        let (lo, borrow) = self.quantity_lo.overflowing_sub(q);
        self.quantity_lo = lo;
        self.quantity_hi -= u32::from(borrow);
    }
}

impl Book {
    pub(crate) fn new(config: SymbolConfig, levels: usize) -> Self {
        // Capped so that many symbols do not each start with large, freshly mapped tables:
        // first-touch page faults and cold lines then dominate. Busy books grow by doubling.
        let levels = levels.min(PRESIZE_LEVELS);
        Book {
            config,
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

    /// Price levels on `side`.
    pub(crate) fn level_count(&self, side: Side) -> usize {
        self.ladder(side).len()
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

    fn alloc_level(&mut self, price: Price) -> u32 {
        let level = Level {
            price,
            quantity_lo: 0,
            quantity_hi: 0,
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
    pub(crate) fn insert(&mut self, orders: &mut Orders, r: Resting) -> u32 {
        let level = self.level_for(r.side, r.price);
        let tail = self.levels[level as usize].tail;
        let node = OrderNode {
            id: r.id,
            account: r.account,
            remaining: r.remaining,
            filled: r.filled,
            prev: tail,
            next: NIL,
            level,
            side: r.side,
            post_only: r.post_only,
            stp: r.stp,
        };
        let slot = orders.alloc(node);
        if tail != NIL {
            orders[tail as usize].next = slot;
        }
        let lvl = &mut self.levels[level as usize];
        if lvl.head == NIL {
            lvl.head = slot;
        }
        lvl.tail = slot;
        lvl.orders += 1;
        lvl.add_quantity(r.remaining);
        slot
    }

    /// Unlinks an order from its level and frees the slot. The level is left in place
    /// (possibly empty) so the caller can report it; see `drop_level_if_empty`.
    pub(crate) fn remove(&mut self, orders: &mut Orders, slot: u32) {
        let (prev, next, level, remaining) = {
            let n = &orders[slot as usize];
            (n.prev, n.next, n.level, n.remaining)
        };
        if prev != NIL {
            orders[prev as usize].next = next;
        }
        if next != NIL {
            orders[next as usize].prev = prev;
        }
        let lvl = &mut self.levels[level as usize];
        if lvl.head == slot {
            lvl.head = next;
        }
        if lvl.tail == slot {
            lvl.tail = prev;
        }
        lvl.orders -= 1;
        lvl.sub_quantity(remaining);
        orders.release(slot);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_quantity_carries_past_u64() {
        let mut l = Level {
            price: 1,
            quantity_lo: 0,
            quantity_hi: 0,
            orders: 0,
            head: NIL,
            tail: NIL,
        };
        for _ in 0..3 {
            l.add_quantity(Quantity::MAX);
        }
        assert_eq!(l.quantity(), 3 * u128::from(Quantity::MAX));
        assert_eq!(l.reported_quantity(), Quantity::MAX);
        l.sub_quantity(Quantity::MAX);
        l.sub_quantity(Quantity::MAX);
        assert_eq!(l.quantity(), u128::from(Quantity::MAX));
        assert_eq!(l.reported_quantity(), Quantity::MAX);
        l.sub_quantity(5);
        assert_eq!(l.reported_quantity(), Quantity::MAX - 5);
        l.sub_quantity(Quantity::MAX - 5);
        assert_eq!(l.quantity(), 0);
    }
}
