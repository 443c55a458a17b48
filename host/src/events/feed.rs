//! One room's queue of events on their way to this replica's subscribers: a broadcast queue
//! that holds only what some subscriber has yet to read, and the subscriptions reading it.
//!
//! Invariant: each queued event carries how many current subscriptions have yet to read it;
//! an event read by all (or whose last reader went away) leaves the queue at once, so a
//! quiet room holds nothing and allocates nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// One published event.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Room, e.g. `trades:AAPL`.
    pub room: String,
    /// The room's sequence number.
    pub seq: u64,
    /// The component that published it.
    pub source: String,
    /// JSON payload.
    pub data: Arc<serde_json::value::RawValue>,
}

/// A drained queue that had grown beyond this many slots gives its memory back.
const SHRINK_ABOVE: usize = 64;

/// One room's events on their way to its subscribers here: a broadcast queue that holds only
/// what some subscriber has yet to read (a quiet room holds nothing, and allocates nothing).
pub(super) struct Feed {
    state: Mutex<Queue>,
    /// Woken when an event is queued.
    wake: tokio::sync::Notify,
    /// Unread events kept for the slowest subscriber; older ones are dropped (it lags).
    capacity: usize,
}

#[derive(Default)]
pub(super) struct Queue {
    /// Events some subscriber has not read, each with how many have yet to read it.
    pub(super) events: VecDeque<(Event, usize)>,
    /// Position of the first queued event in the feed (positions count events queued).
    head: u64,
    /// Subscriptions reading this feed.
    receivers: usize,
}

impl Queue {
    fn tail(&self) -> u64 {
        self.head + self.events.len() as u64
    }

    /// Drops events everyone has read.
    fn trim(&mut self) {
        while self.events.front().is_some_and(|(_, unread)| *unread == 0) {
            self.events.pop_front();
            self.head += 1;
        }
        if self.events.is_empty() && self.events.capacity() > SHRINK_ABOVE {
            self.events = VecDeque::new();
        }
    }

    /// The event at `*next` for a reader there, moving it on.
    fn take(&mut self, next: &mut u64) -> Result<Event, TryRecvError> {
        if *next < self.head {
            let missed = self.head - *next;
            *next = self.head;
            return Err(TryRecvError::Lagged(missed));
        }
        let Some((event, unread)) = self.events.get_mut((*next - self.head) as usize) else {
            return Err(TryRecvError::Empty);
        };
        *unread -= 1;
        let event = event.clone();
        *next += 1;
        self.trim();
        Ok(event)
    }
}

impl Feed {
    pub(super) fn new(capacity: usize) -> Feed {
        Feed {
            state: Mutex::new(Queue::default()),
            wake: tokio::sync::Notify::new(),
            capacity,
        }
    }

    /// A subscription to this feed, reading what is queued from now on; `count` counts the
    /// hub's subscriptions.
    pub(super) fn subscribe(self: &Arc<Self>, count: Arc<AtomicUsize>) -> Subscription {
        let next = {
            let mut queue = self.lock();
            queue.receivers += 1;
            queue.tail()
        };
        count.fetch_add(1, Ordering::Relaxed);
        Subscription {
            feed: self.clone(),
            next,
            count,
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Each change leaves the queue consistent: a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn receivers(&self) -> usize {
        self.lock().receivers
    }

    /// Queues `event` for every current subscriber; nobody listening drops it.
    pub(super) fn send(&self, event: Event) {
        {
            let mut queue = self.lock();
            if queue.receivers == 0 {
                return;
            }
            if queue.events.len() >= self.capacity {
                queue.events.pop_front();
                queue.head += 1;
            }
            let receivers = queue.receivers;
            queue.events.push_back((event, receivers));
        }
        self.wake.notify_waiters();
    }
}

/// A subscription to one room; events published after it was made.
pub struct Subscription {
    feed: Arc<Feed>,
    /// Position of the next event to read.
    next: u64,
    count: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next event; `Lagged` when this subscriber fell more than the room's capacity
    /// behind. Cancel-safe: an event is taken only when it is returned.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            // Registered before looking, so an event queued in between still wakes us.
            let feed = self.feed.clone();
            let woken = feed.wake.notified();
            let taken = feed.lock().take(&mut self.next);
            match taken {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Lagged(missed)) => return Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => woken.await,
            }
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.feed.lock().take(&mut self.next)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut queue = self.feed.lock();
        let from = self.next.saturating_sub(queue.head) as usize;
        for (_, unread) in queue.events.iter_mut().skip(from) {
            *unread -= 1;
        }
        queue.receivers -= 1;
        queue.trim();
        drop(queue);
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}
