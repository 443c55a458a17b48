//! Each account's count of resting orders, shared by every shard running on this replica, so
//! the cap on open orders holds across symbols that live in different shards.
//!
//! Invariant: an account's count is the number of its orders resting on the shards running
//! here plus the number of its orders a shard has admitted but not yet executed. A shard
//! reserves a place (under the lock, so racing shards cannot both take the last one) before it
//! journals a limit order that could rest, keeps it if the order rests and gives it back if
//! the order fills at once, is refused, or is never written; every later fill or cancel that
//! closes a resting order gives its place back. Accounts at zero are forgotten, so the map
//! holds only accounts with resting orders.

use std::collections::HashMap;
use std::sync::Mutex;

use bourse_matching::venue::Venue;

/// Resting orders per account (see the module docs).
pub(super) struct OpenOrders {
    /// The most one account may have; 0 is no limit.
    cap: u64,
    counts: Mutex<HashMap<String, u64>>,
}

impl OpenOrders {
    pub(super) fn new(cap: u64) -> OpenOrders {
        OpenOrders {
            cap,
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn cap(&self) -> u64 {
        self.cap
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // Every update is a single change of one entry, so a poisoned map is still consistent.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a place for one more resting order of `account`; false when it has none left.
    pub(super) fn reserve(&self, account: &str) -> bool {
        let mut counts = self.counts();
        let count = counts.get(account).copied().unwrap_or(0);
        if self.cap != 0 && count >= self.cap {
            return false;
        }
        counts.insert(account.to_string(), count + 1);
        true
    }

    /// Adds `delta` to `account`'s count (never below zero).
    pub(super) fn change(&self, account: &str, delta: i64) {
        let mut counts = self.counts();
        let count = counts.get(account).copied().unwrap_or(0);
        let count = count.saturating_add_signed(delta);
        if count == 0 {
            counts.remove(account);
        } else {
            counts.insert(account.to_string(), count);
        }
    }

    /// Adds (`sign` 1: a shard rebuilt here) or removes (`sign` -1: a shard stopped here) the
    /// orders resting in `venue`.
    pub(super) fn count_resting(&self, venue: &Venue, sign: i64) {
        for (account, n) in venue.open_orders_per_account() {
            self.change(account, sign * n as i64);
        }
    }

    /// `account`'s count.
    #[cfg(test)]
    pub(super) fn of(&self, account: &str) -> u64 {
        self.counts().get(account).copied().unwrap_or(0)
    }
}
