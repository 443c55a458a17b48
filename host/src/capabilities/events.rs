//! `bourse:platform/events`: components publish JSON to named rooms; the hub fans it out to
//! subscribers (the WebSocket hub, the credential cache).
//!
//! Every room numbers its events 1, 2, 3, … so a subscriber can tell when it missed one, and
//! keeps its latest events (`BOURSE_EVENT_RETAIN`, for at most `BOURSE_EVENT_RETAIN_SECS`) so
//! a client that reconnects can catch up.
//! On one replica the numbering and the history are in process. With Redis configured they
//! are in Redis ([`crate::cluster::bus`]): every event is numbered, kept and published by one
//! script, every replica hears it on one channel and delivers it to its own subscribers, so a
//! room has one numbering whichever replica published to it or serves its subscribers. The
//! market's rooms (`book:`, `trades:`, `orders:`) are published by the host alone.
//!
//! Invariants: a room costs a few words until events wait in it (its queue of unread events
//! grows with what its slowest subscriber has not read, up to the hub's capacity, and shrinks
//! back); a room nobody listens to is forgotten once it keeps no history younger than the
//! retention age, so neither subscribing nor publishing to ever new names grows the hub for
//! long.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::bindings::bourse::platform::events::{Host, PublishError};
use crate::capabilities::domain::EventsState;
use crate::cluster::bus::Bus;

/// Largest payload a component may publish.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest room name.
pub const MAX_ROOM_LEN: usize = 128;
/// Longest a publish waits for its events to reach this replica's own subscribers.
const DELIVERY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);
/// Events each room keeps for reconnecting clients unless configured otherwise.
pub const DEFAULT_RETAIN: usize = 1000;
/// How long a room keeps its events unless configured otherwise: well past the time a
/// WebSocket session can be resumed.
pub const DEFAULT_RETAIN_FOR: Duration = Duration::from_secs(900);
/// Unread events a room queues for its slowest subscriber before that one lags.
pub const DEFAULT_CAPACITY: usize = 4096;
/// A drained queue that had grown beyond this many slots gives its memory back.
const SHRINK_ABOVE: usize = 64;

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

/// A room's kept events after some sequence number.
#[derive(Debug, Default)]
pub struct History {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Events that were asked for but are no longer kept (the retention window passed).
    pub missed: u64,
}

/// The event hub: one feed per room, so a subscriber only ever sees its own rooms' events.
pub struct EventHub {
    rooms: Mutex<HashMap<String, Room>>,
    capacity: usize,
    retain: usize,
    retain_for: Duration,
    subscriptions: Arc<AtomicUsize>,
    /// Whether any room ever had a subscriber (until then nobody can be catching up).
    followed: AtomicBool,
    /// Redis, when events are shared between replicas.
    bus: OnceLock<Arc<Bus>>,
    /// Woken whenever an event heard from Redis is delivered.
    delivered: tokio::sync::Notify,
}

struct Room {
    /// Last sequence number published (in process) or delivered (through Redis).
    seq: u64,
    feed: Arc<Feed>,
    /// The latest events with when they were kept, in process only (Redis keeps them
    /// otherwise).
    history: VecDeque<(Instant, Event)>,
}

impl Room {
    fn new(capacity: usize) -> Room {
        Room {
            seq: 0,
            feed: Arc::new(Feed {
                state: Mutex::new(Queue::default()),
                wake: tokio::sync::Notify::new(),
                capacity,
            }),
            history: VecDeque::new(),
        }
    }

    /// Drops kept events beyond `retain` or older than `retain_for`.
    fn trim_history(&mut self, retain: usize, retain_for: Duration) {
        while self.history.len() > retain
            || self
                .history
                .front()
                .is_some_and(|(at, _)| at.elapsed() >= retain_for)
        {
            self.history.pop_front();
        }
    }
}

/// One room's events on their way to its subscribers here: a broadcast queue that holds only
/// what some subscriber has yet to read (a quiet room holds nothing, and allocates nothing).
struct Feed {
    state: Mutex<Queue>,
    /// Woken when an event is queued.
    wake: tokio::sync::Notify,
    /// Unread events kept for the slowest subscriber; older ones are dropped (it lags).
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    /// Events some subscriber has not read, each with how many have yet to read it.
    events: VecDeque<(Event, usize)>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Each change leaves the queue consistent: a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn receivers(&self) -> usize {
        self.lock().receivers
    }

    /// Queues `event` for every current subscriber; nobody listening drops it.
    fn send(&self, event: Event) {
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

/// Room prefixes only the host publishes to.
pub const HOST_ROOMS: [&str; 3] = ["book:", "trades:", "orders:"];

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(DEFAULT_CAPACITY, DEFAULT_RETAIN, DEFAULT_RETAIN_FOR)
    }
}

/// Whether `room` is a name a room may have.
pub fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM_LEN
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'))
}

impl EventHub {
    /// A hub whose rooms each queue up to `capacity` events for slow subscribers and keep
    /// their latest `retain` events, for `retain_for` at most, for reconnecting ones.
    pub fn new(capacity: usize, retain: usize, retain_for: Duration) -> EventHub {
        EventHub {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            retain,
            retain_for,
            subscriptions: Arc::new(AtomicUsize::new(0)),
            followed: AtomicBool::new(false),
            bus: OnceLock::new(),
            delivered: tokio::sync::Notify::new(),
        }
    }

    /// Shares events with other replicas through `bus` from now on.
    pub fn attach(&self, bus: Arc<Bus>) {
        let _ = self.bus.set(bus);
    }

    /// The Redis bus, if events are shared between replicas.
    pub fn bus(&self) -> Option<&Arc<Bus>> {
        self.bus.get()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Receives `room`'s events published from now on.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let mut rooms = self.lock();
        let capacity = self.capacity;
        let entry = rooms
            .entry(room.to_string())
            .or_insert_with(|| Room::new(capacity));
        let feed = entry.feed.clone();
        let next = {
            let mut queue = feed.lock();
            queue.receivers += 1;
            queue.tail()
        };
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.followed.store(true, Ordering::Relaxed);
        Subscription {
            feed,
            next,
            count: self.subscriptions.clone(),
        }
    }

    /// Whether anyone may want events: a subscriber here, one that may come back for the
    /// history, or other replicas. Publishers may skip building events otherwise.
    pub fn has_subscribers(&self) -> bool {
        self.bus.get().is_some()
            || self.subscriptions.load(Ordering::Relaxed) > 0
            || self.followed.load(Ordering::Relaxed)
    }

    /// Forgets rooms nobody here listens to any more (and, in process, that keep no history
    /// younger than the retention age either), so that clients subscribing, or components
    /// publishing, to ever new room names cannot grow the hub without bound. Through Redis the
    /// numbering and history live there, not here.
    pub fn prune(&self) -> usize {
        let shared = self.bus.get().is_some();
        let (retain, retain_for) = (self.retain, self.retain_for);
        let mut rooms = self.lock();
        let before = rooms.len();
        rooms.retain(|_, r| {
            r.trim_history(retain, retain_for);
            r.feed.receivers() > 0 || (!shared && !r.history.is_empty())
        });
        before - rooms.len()
    }

    /// Prunes the hub every minute for as long as it lives.
    pub fn spawn_pruner(self: &Arc<Self>) {
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(hub) = hub.upgrade() else { break };
                let pruned = hub.prune();
                if pruned > 0 {
                    tracing::debug!(pruned, "forgot rooms nobody listens to");
                }
            }
        });
    }

    /// Rooms somebody here listens to, with the last sequence number delivered to them.
    pub(crate) fn listened_rooms(&self) -> Vec<(String, u64)> {
        self.lock()
            .iter()
            .filter(|(_, r)| r.feed.receivers() > 0)
            .map(|(name, r)| (name.clone(), r.seq))
            .collect()
    }

    /// Publishes `data` to `room` from the host itself, without waiting for its number.
    pub fn publish_value(&self, source: &str, room: &str, data: &serde_json::Value) {
        if let Ok(raw) = serde_json::value::to_raw_value(data) {
            match self.bus.get() {
                Some(bus) => bus.send(source, room, Arc::from(raw), None),
                None => {
                    self.send_local(source, room, Arc::from(raw));
                }
            }
        }
    }

    /// Publishes several events from `source` and returns their sequence numbers (0 for one
    /// that could not be published).
    pub async fn publish_batch(
        &self,
        source: &str,
        events: Vec<(String, Arc<serde_json::value::RawValue>)>,
    ) -> Vec<u64> {
        match self.bus.get() {
            Some(bus) => {
                let rooms: Vec<String> = events.iter().map(|(room, _)| room.clone()).collect();
                let seqs = bus.publish_all(source, events).await;
                // Answered only once this replica's own subscribers have the events, as
                // without Redis: a client told "done" finds the event already on its socket.
                // Bounded as a whole: a listener that is reconnecting holds nobody up long.
                let _ = tokio::time::timeout(DELIVERY_PATIENCE, async {
                    for (room, &seq) in rooms.iter().zip(&seqs) {
                        self.wait_delivered(room, seq).await;
                    }
                })
                .await;
                seqs
            }
            None => events
                .into_iter()
                .map(|(room, data)| self.send_local(source, &room, data))
                .collect(),
        }
    }

    fn send_local(&self, source: &str, room: &str, data: Arc<serde_json::value::RawValue>) -> u64 {
        // The lock spans the send so that a room's events enter its channel in sequence order.
        let mut rooms = self.lock();
        let capacity = self.capacity;
        let entry = match rooms.get_mut(room) {
            Some(entry) => entry,
            None => rooms
                .entry(room.to_string())
                .or_insert_with(|| Room::new(capacity)),
        };
        entry.seq += 1;
        let event = Event {
            room: room.to_string(),
            seq: entry.seq,
            source: source.to_string(),
            data,
        };
        if self.retain > 0 && self.followed.load(Ordering::Relaxed) {
            entry.history.push_back((Instant::now(), event.clone()));
            entry.trim_history(self.retain, self.retain_for);
        }
        // Best-effort: a room nobody listens to any more just drops the event.
        entry.feed.send(event);
        entry.seq
    }

    /// Hands an event heard from Redis to this replica's subscribers of its room. Events of
    /// one room arrive in sequence order; one at or below the last delivered is a repeat
    /// (from a catch-up read) and is dropped.
    pub(crate) fn deliver(&self, event: Event) {
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(&event.room) else {
            return;
        };
        // A 1 after a higher number is a room whose numbering started again (its keys expired
        // or Redis lost them); anything else at or below the last delivered is a repeat.
        let restarted = event.seq == 1 && entry.seq > 1;
        if event.seq <= entry.seq && event.seq != 0 && !restarted {
            return;
        }
        entry.seq = event.seq;
        entry.feed.send(event);
        drop(rooms);
        self.delivered.notify_waiters();
    }

    /// Waits until event `seq` of `room` has reached this replica's subscribers (if it has
    /// any).
    async fn wait_delivered(&self, room: &str, seq: u64) {
        loop {
            let woken = self.delivered.notified();
            let done = match self.lock().get(room) {
                Some(r) => r.seq >= seq || r.feed.receivers() == 0,
                None => true,
            };
            if done || seq == 0 {
                return;
            }
            woken.await;
        }
    }

    /// The last number given in `room`, cluster-wide when events are shared.
    pub async fn last_seq(&self, room: &str) -> u64 {
        match self.bus.get() {
            Some(bus) => bus.last_seq(room).await,
            None => self.lock().get(room).map_or(0, |r| r.seq),
        }
    }

    /// The last sequence number delivered in `room` here (0: none yet).
    pub(crate) fn delivered(&self, room: &str) -> u64 {
        self.lock().get(room).map_or(0, |r| r.seq)
    }

    /// `room`'s kept events after sequence number `after`.
    pub async fn history(&self, room: &str, after: u64) -> History {
        if let Some(bus) = self.bus.get() {
            return bus.history(room, after).await;
        }
        let rooms = self.lock();
        let Some(entry) = rooms.get(room) else {
            return History::default();
        };
        let events: Vec<Event> = entry
            .history
            .iter()
            .filter(|(at, e)| e.seq > after && at.elapsed() < self.retain_for)
            .map(|(_, e)| e.clone())
            .collect();
        let first = events.first().map_or(entry.seq + 1, |e| e.seq);
        History {
            missed: first.saturating_sub(after + 1),
            events,
        }
    }

    /// Checks and publishes an event; returns its sequence number.
    pub async fn publish(
        &self,
        source: &str,
        room: &str,
        payload: &str,
    ) -> Result<u64, PublishError> {
        if !valid_room(room) {
            return Err(PublishError::InvalidRoom(format!(
                "room {room:?} must be 1-{MAX_ROOM_LEN} characters of [a-zA-Z0-9:_.-]"
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PublishError::InvalidPayload(format!(
                "payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        if let Some(prefix) = HOST_ROOMS.iter().find(|p| room.starts_with(*p)) {
            return Err(PublishError::InvalidRoom(format!(
                "rooms starting with {prefix:?} are published by the market itself"
            )));
        }
        let data = serde_json::value::RawValue::from_string(payload.to_string())
            .map_err(|e| PublishError::InvalidPayload(format!("payload is not JSON: {e}")))?;
        let seqs = self
            .publish_batch(source, vec![(room.to_string(), Arc::from(data))])
            .await;
        Ok(seqs.first().copied().unwrap_or(0))
    }
}

impl Host for EventsState {
    async fn publish(
        &mut self,
        room: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), PublishError>> {
        Ok(self
            .events
            .publish(&self.component, &room, &payload)
            .await
            .map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_valid_events_and_refuses_bad_ones() {
        let hub = EventHub::new(8, 4, DEFAULT_RETAIN_FOR);
        let mut rx = hub.subscribe("signals");
        assert_eq!(hub.publish("c", "signals", r#"{"p":1}"#).await, Ok(1));
        assert_eq!(hub.publish("c", "signals", r#"{"p":2}"#).await, Ok(2));
        assert_eq!(
            hub.publish("c", "other", r#"{"p":3}"#).await,
            Ok(1),
            "per-room numbering"
        );
        let event = rx.try_recv().expect("event delivered");
        assert_eq!(event.room, "signals");
        assert_eq!(event.data.get(), r#"{"p":1}"#);
        assert!(matches!(
            hub.publish("c", "trades:AAPL", "{}").await,
            Err(PublishError::InvalidRoom(_))
        ));
        assert!(matches!(
            hub.publish("c", "bad room", "{}").await,
            Err(PublishError::InvalidRoom(_))
        ));
        assert!(matches!(
            hub.publish("c", "r", "{nope").await,
            Err(PublishError::InvalidPayload(_))
        ));
    }

    #[tokio::test]
    async fn rooms_nobody_listens_to_are_forgotten() {
        let hub = EventHub::new(8, 3, DEFAULT_RETAIN_FOR);
        let kept = hub.subscribe("watched");
        for room in ["a", "b", "c"] {
            drop(hub.subscribe(room));
        }
        hub.publish("c", "a", "{}").await.expect("published");
        // "a" keeps its history for clients that come back; "b" and "c" have nothing.
        assert_eq!(hub.prune(), 2);
        assert_eq!(hub.lock().len(), 2);
        drop(kept);
        assert_eq!(hub.prune(), 1, "the watched room once its subscriber left");
    }

    #[tokio::test]
    async fn keeps_the_latest_events_for_catching_up() {
        let hub = EventHub::new(8, 3, DEFAULT_RETAIN_FOR);
        drop(hub.subscribe("signals"));
        for p in 1..=5 {
            hub.publish("c", "signals", &format!(r#"{{"p":{p}}}"#))
                .await
                .expect("published");
        }
        let h = hub.history("signals", 3).await;
        assert_eq!(h.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(h.missed, 0);
        let h = hub.history("signals", 0).await;
        assert_eq!(
            h.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(h.missed, 2, "events 1 and 2 fell out of the window");
        assert!(hub.history("signals", 5).await.events.is_empty());
    }

    #[tokio::test]
    async fn a_quiet_room_costs_no_event_buffer() {
        // Full-size hub: each room may queue as many events as in production.
        let hub = EventHub::default();
        let before = crate::telemetry::resident_bytes();
        let held: Vec<Subscription> = (0..500)
            .map(|i| hub.subscribe(&format!("quiet-{i}")))
            .collect();
        let grown = crate::telemetry::resident_bytes().saturating_sub(before);
        assert!(grown < 32 << 20, "500 quiet rooms took {} MiB", grown >> 20);
        drop(held);
    }

    #[tokio::test]
    async fn kept_events_age_out_and_their_room_is_forgotten() {
        let hub = EventHub::new(8, 100, Duration::from_millis(50));
        drop(hub.subscribe("signals"));
        hub.publish("c", "signals", "{}").await.expect("published");
        assert_eq!(hub.history("signals", 0).await.events.len(), 1);
        tokio::time::sleep(Duration::from_millis(120)).await;
        let h = hub.history("signals", 0).await;
        assert!(h.events.is_empty(), "older than the retention age");
        assert_eq!(h.missed, 1);
        assert_eq!(hub.prune(), 1, "nobody listens and nothing is kept");
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_and_the_queue_empties_once_read() {
        let hub = EventHub::new(4, 0, DEFAULT_RETAIN_FOR);
        let mut slow = hub.subscribe("r");
        let mut quick = hub.subscribe("r");
        for p in 0..6 {
            hub.publish("c", "r", &format!("{p}"))
                .await
                .expect("published");
            assert!(quick.try_recv().is_ok());
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(2))));
        let seqs: Vec<u64> = std::iter::from_fn(|| slow.try_recv().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [3, 4, 5, 6]);
        let feed = hub.lock().get("r").map(|r| r.feed.clone()).expect("room");
        assert!(feed.lock().events.is_empty(), "read by everyone");
        hub.publish("c", "r", "7").await.expect("published");
        drop(slow);
        assert_eq!(feed.lock().events.len(), 1, "still unread by one");
        drop(quick);
        assert!(feed.lock().events.is_empty(), "nobody left to read it");
    }
}
