//! Bounded record of finished orders so `order_status` can answer for filled and cancelled
//! orders without the engine's memory growing with its lifetime.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use crate::hash::{FastMap, fast_map};
use crate::query::OrderStatus;
use crate::types::OrderId;

pub(crate) struct ClosedOrders {
    ring: VecDeque<OrderStatus>,
    /// Order id -> stamp of its latest record; a reused id simply gets a newer stamp.
    index: FastMap<OrderId, u64>,
    /// Records ever pushed; the ring holds stamps `pushed - ring.len() .. pushed`.
    pushed: u64,
    capacity: usize,
}

impl ClosedOrders {
    pub(crate) fn new(capacity: usize) -> Self {
        ClosedOrders {
            ring: VecDeque::with_capacity(capacity),
            index: fast_map(capacity),
            pushed: 0,
            capacity,
        }
    }

    pub(crate) fn push(&mut self, status: OrderStatus) {
        if self.capacity == 0 {
            return;
        }
        if self.ring.len() == self.capacity
            && let Some(old) = self.ring.pop_front()
        {
            let old_stamp = self.pushed - self.capacity as u64;
            // One probe; a newer record for a reused id must survive the eviction.
            if let Entry::Occupied(e) = self.index.entry(old.order_id)
                && *e.get() == old_stamp
            {
                e.remove();
            }
        }
        self.index.insert(status.order_id, self.pushed);
        self.ring.push_back(status);
        self.pushed += 1;
    }

    pub(crate) fn get(&self, id: OrderId) -> Option<&OrderStatus> {
        let stamp = *self.index.get(&id)?;
        let first = self.pushed - self.ring.len() as u64;
        self.ring
            .get(usize::try_from(stamp.checked_sub(first)?).ok()?)
    }

    /// Oldest first; replaying these through `push` rebuilds an identical history.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &OrderStatus> {
        self.ring.iter()
    }
}
