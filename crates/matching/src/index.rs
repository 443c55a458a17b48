//! Where every known order id lives: on a book (open) or in the bounded history of finished
//! orders (closed).
//!
//! Hosts hand out order ids sequentially, so the index is a sliding window of slots addressed
//! by `id - base` (no hashing, and the newest ids share cache lines) with a hash map only for
//! ids that fall outside it: far older than the window, or far beyond its newest id. One slot
//! answers both "is it open, and where" and "where is its final status", so closing an order
//! rewrites one slot instead of touching two hash maps.

use std::collections::VecDeque;

use crate::hash::{FastMap, fast_map};
use crate::matching::Loc;
use crate::query::OrderStatus;
use crate::types::OrderId;

/// Slot value of an id the index does not know.
const EMPTY: u64 = u64::MAX;
/// Tag of a closed entry; the low bits hold the history stamp. Open entries are
/// `book << 32 | slot` with `book < 2^31`, so the tag bit is free.
const CLOSED: u64 = 1 << 63;
/// A new id at most this far beyond the window's newest id extends the window (filling the
/// gap with empty slots); further away it goes to the sparse map, so one stray huge id
/// cannot allocate gigabytes.
const MAX_GAP: u64 = 1 << 16;
/// Dead slots dropped from the window's front per new id: enough to keep up (one id is
/// appended per new id) while bounding the work any single command does.
const TRIM_PER_APPEND: usize = 8;

#[inline]
fn open_entry(loc: Loc) -> u64 {
    (u64::from(loc.book) << 32) | u64::from(loc.slot)
}

#[inline]
fn is_open(v: u64) -> bool {
    v & CLOSED == 0
}

#[inline]
fn is_closed(v: u64) -> bool {
    v != EMPTY && v & CLOSED != 0
}

pub(crate) struct OrderIndex {
    /// Id of `window[0]`; only ever increases.
    base: u64,
    window: VecDeque<u64>,
    /// Past this many slots the front is evicted (live entries move to `sparse`), bounding
    /// memory when a long-lived order pins the front.
    window_cap: usize,
    /// Ids outside `[base, base + window.len())`; never holds an id inside it.
    sparse: FastMap<OrderId, u64>,
    /// Upper bound of the sparse ids at or above `base`, if any: extending the window over
    /// them must first move them in.
    sparse_high: Option<u64>,
    open: usize,
    /// Final statuses, oldest first; holds stamps `pushed - history.len() .. pushed`.
    history: VecDeque<OrderStatus>,
    history_cap: usize,
    pushed: u64,
}

impl OrderIndex {
    pub(crate) fn new(max_open_orders: usize, closed_history: usize) -> Self {
        let window_cap = max_open_orders
            .saturating_add(closed_history)
            .saturating_mul(4)
            .max(1 << 16);
        OrderIndex::with_window(window_cap, closed_history)
    }

    pub(crate) fn with_window(window_cap: usize, closed_history: usize) -> Self {
        OrderIndex {
            base: 0,
            // Grown on demand: sizing the window up front costs memory the workload may
            // never touch (and across many engines, cache).
            window: VecDeque::new(),
            window_cap: window_cap.max(1),
            sparse: fast_map(0),
            sparse_high: None,
            open: 0,
            history: VecDeque::with_capacity(closed_history.min(1 << 12)),
            history_cap: closed_history,
            pushed: 0,
        }
    }

    #[inline]
    fn in_window(&self, id: OrderId) -> bool {
        id.0 >= self.base && id.0 - self.base < self.window.len() as u64
    }

    #[inline]
    fn get(&self, id: OrderId) -> u64 {
        let off = id.0.wrapping_sub(self.base);
        if id.0 >= self.base && off < self.window.len() as u64 {
            self.window[off as usize]
        } else if self.sparse.is_empty() {
            EMPTY
        } else {
            self.sparse.get(&id).copied().unwrap_or(EMPTY)
        }
    }

    /// Whether a closed entry's record has been evicted from the history.
    #[inline]
    fn stale(&self, v: u64) -> bool {
        is_closed(v) && (v & !CLOSED) < self.pushed - self.history.len() as u64
    }

    /// Sets `id`'s entry and returns the previous one.
    fn set(&mut self, id: OrderId, v: u64) -> u64 {
        let len = self.window.len() as u64;
        let off = id.0.wrapping_sub(self.base);
        if id.0 >= self.base && off < len {
            return std::mem::replace(&mut self.window[off as usize], v);
        }
        let extends = id.0 >= self.base && (len == 0 || off - len < MAX_GAP);
        if v == EMPTY || !extends {
            return self.set_sparse(id, v);
        }
        if len == 0 {
            self.base = id.0;
        }
        let (from, to) = (self.base + self.window.len() as u64, id.0 + 1);
        if self.sparse_high.is_some_and(|h| h >= from) {
            self.absorb_sparse(from, to);
        }
        // The absorbed range may have held `id` itself.
        let prev = self.window_take(id);
        let end = self.base + self.window.len() as u64;
        for _ in end..id.0 {
            self.window.push_back(EMPTY);
        }
        if end <= id.0 {
            self.window.push_back(v);
        } else {
            let off = (id.0 - self.base) as usize;
            self.window[off] = v;
        }
        self.trim();
        prev
    }

    fn set_sparse(&mut self, id: OrderId, v: u64) -> u64 {
        if v == EMPTY {
            return self.sparse.remove(&id).unwrap_or(EMPTY);
        }
        if id.0 >= self.base {
            self.sparse_high = Some(self.sparse_high.map_or(id.0, |h| h.max(id.0)));
        }
        self.sparse.insert(id, v).unwrap_or(EMPTY)
    }

    /// Moves sparse entries with ids in `[from, to)` into the window, which is extended to
    /// cover them. Rare: only after ids far beyond the window were used.
    fn absorb_sparse(&mut self, from: u64, to: u64) {
        let moved: Vec<(OrderId, u64)> = self
            .sparse
            .extract_if(|id, _| id.0 >= from && id.0 < to)
            .collect();
        for (id, v) in moved {
            while self.base + (self.window.len() as u64) <= id.0 {
                self.window.push_back(EMPTY);
            }
            self.window[(id.0 - self.base) as usize] = v;
        }
        let base = self.base;
        self.sparse_high = self
            .sparse
            .keys()
            .map(|id| id.0)
            .filter(|&id| id >= base)
            .max();
    }

    /// The window entry of `id` if the window covers it, emptied.
    fn window_take(&mut self, id: OrderId) -> u64 {
        let off = id.0.wrapping_sub(self.base);
        if id.0 >= self.base && off < self.window.len() as u64 {
            std::mem::replace(&mut self.window[off as usize], EMPTY)
        } else {
            EMPTY
        }
    }

    /// Drops dead slots from the front, and evicts live ones to `sparse` past the cap.
    fn trim(&mut self) {
        for _ in 0..TRIM_PER_APPEND {
            match self.window.front() {
                Some(&v) if v == EMPTY || self.stale(v) => {
                    self.window.pop_front();
                    self.base += 1;
                }
                _ => break,
            }
        }
        while self.window.len() > self.window_cap {
            let Some(v) = self.window.pop_front() else {
                break;
            };
            if v != EMPTY && !self.stale(v) {
                // Below the new base, so `sparse_high` is unaffected.
                self.sparse.insert(OrderId(self.base), v);
            }
            self.base += 1;
        }
    }

    /// Where an open order rests.
    #[inline]
    pub(crate) fn open(&self, id: OrderId) -> Option<Loc> {
        let v = self.get(id);
        is_open(v).then_some(Loc {
            book: (v >> 32) as u32,
            slot: v as u32,
        })
    }

    #[inline]
    pub(crate) fn is_open(&self, id: OrderId) -> bool {
        is_open(self.get(id))
    }

    /// Records that `id` rests at `loc` (replacing any finished record's entry: an open
    /// order takes precedence in `order_status`).
    #[inline]
    pub(crate) fn insert_open(&mut self, id: OrderId, loc: Loc) {
        let prev = self.set(id, open_entry(loc));
        if !is_open(prev) {
            self.open += 1;
        }
    }

    /// Forgets an open order that is taken off the book without finishing (re-queued by an
    /// amend).
    #[inline]
    pub(crate) fn remove_open(&mut self, id: OrderId) {
        if is_open(self.get(id)) {
            self.set(id, EMPTY);
            self.open -= 1;
        }
    }

    /// Records a finished order's final status; it stays queryable until `closed_history`
    /// newer ones push it out.
    pub(crate) fn close(&mut self, status: OrderStatus) {
        let id = status.order_id;
        if self.history_cap == 0 {
            self.remove_open(id);
            return;
        }
        if self.history.len() == self.history_cap
            && let Some(old) = self.history.pop_front()
        {
            // A window entry of an evicted record is left in place: its stamp marks it stale
            // (and `trim` drops it), while clearing it would touch a cold line on every
            // close. Sparse entries are removed so the map cannot grow without bound.
            if !self.sparse.is_empty() && !self.in_window(old.order_id) {
                let old_entry = CLOSED | (self.pushed - self.history_cap as u64);
                // A reused id may have a newer entry; only the evicted record's own goes.
                if self.sparse.get(&old.order_id) == Some(&old_entry) {
                    self.sparse.remove(&old.order_id);
                }
            }
        }
        self.history.push_back(status);
        let stamp = self.pushed;
        // Counted before `set` so its front trimming sees the history's true range.
        self.pushed += 1;
        let prev = self.set(id, CLOSED | stamp);
        if is_open(prev) {
            self.open -= 1;
        }
    }

    /// The final status of a finished order still in the history.
    pub(crate) fn closed(&self, id: OrderId) -> Option<&OrderStatus> {
        let v = self.get(id);
        if !is_closed(v) {
            return None;
        }
        let first = self.pushed - self.history.len() as u64;
        let at = (v & !CLOSED).checked_sub(first)?;
        self.history
            .get(usize::try_from(at).ok()?)
            .filter(|s| s.order_id == id)
    }

    /// Finished orders, oldest first; replaying them through `close` (before inserting the
    /// open orders) rebuilds an identical history.
    pub(crate) fn history(&self) -> impl Iterator<Item = &OrderStatus> {
        self.history.iter()
    }

    /// Number of open orders.
    pub(crate) fn open_count(&self) -> usize {
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::OrderState;
    use crate::types::{AccountId, Side, SymbolId};

    fn status(id: u64) -> OrderStatus {
        OrderStatus {
            order_id: OrderId(id),
            symbol: SymbolId(0),
            account: AccountId(1),
            side: Side::Buy,
            price: Some(1),
            state: OrderState::Filled,
            filled: 1,
            remaining: 0,
        }
    }

    fn loc(slot: u32) -> Loc {
        Loc { book: 3, slot }
    }

    #[test]
    fn sequential_ids_open_and_close() {
        let mut ix = OrderIndex::with_window(16, 4);
        for id in 1..=100 {
            ix.insert_open(OrderId(id), loc(id as u32));
        }
        assert_eq!(ix.open_count(), 100);
        // The window is capped: old ids moved to the sparse map but stay findable.
        assert!(ix.window.len() <= 16);
        for id in 1..=100 {
            assert_eq!(ix.open(OrderId(id)).map(|l| l.slot), Some(id as u32));
        }
        for id in 1..=100 {
            ix.close(status(id));
        }
        assert_eq!(ix.open_count(), 0);
        // Only the last four records are kept.
        assert!(ix.closed(OrderId(96)).is_none());
        for id in 97..=100 {
            assert_eq!(
                ix.closed(OrderId(id)).map(|s| s.order_id),
                Some(OrderId(id))
            );
            assert!(ix.open(OrderId(id)).is_none());
        }
        // Evicted entries left the sparse map too.
        assert!(ix.sparse.len() <= 4);
    }

    #[test]
    fn far_and_old_ids_use_the_sparse_map() {
        let mut ix = OrderIndex::with_window(1 << 10, 8);
        ix.insert_open(OrderId(1_000), loc(1));
        ix.insert_open(OrderId(5), loc(2)); // below the window
        ix.insert_open(OrderId(u64::MAX - 1), loc(3)); // far beyond it
        ix.insert_open(OrderId(1_000 + MAX_GAP * 2), loc(4)); // beyond the gap
        // Walk the window up to and past the far id: it must be absorbed, not duplicated.
        let mut id = 1_000;
        while id < 1_000 + MAX_GAP * 2 + 10 {
            id += MAX_GAP / 2 + 1; // never lands on the ids checked below
            ix.insert_open(OrderId(id), loc(9));
            ix.remove_open(OrderId(id));
        }
        for (id, slot) in [
            (1_000, 1),
            (5, 2),
            (u64::MAX - 1, 3),
            (1_000 + MAX_GAP * 2, 4),
        ] {
            assert_eq!(ix.open(OrderId(id)).map(|l| l.slot), Some(slot), "id {id}");
        }
        assert_eq!(ix.open_count(), 4);
        ix.close(status(1_000 + MAX_GAP * 2));
        assert_eq!(ix.open_count(), 3);
        assert!(ix.closed(OrderId(1_000 + MAX_GAP * 2)).is_some());
    }

    #[test]
    fn reused_id_prefers_the_open_order() {
        let mut ix = OrderIndex::with_window(64, 8);
        ix.insert_open(OrderId(7), loc(1));
        ix.close(status(7));
        ix.insert_open(OrderId(7), loc(2));
        assert_eq!(ix.open(OrderId(7)).map(|l| l.slot), Some(2));
        assert!(ix.closed(OrderId(7)).is_none());
        assert_eq!(ix.open_count(), 1);
    }
}
