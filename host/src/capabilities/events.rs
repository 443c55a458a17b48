//! `bourse:platform/events`: components publish JSON to named rooms; the hub fans it out to
//! subscribers (the WebSocket hub, the credential cache).
//!
//! Every room numbers its events 1, 2, 3, … so a subscriber can tell when it missed one, and
//! keeps its latest events (`BOURSE_EVENT_RETAIN`) so a client that reconnects can catch up.
//! On one replica the numbering and the history are in process. With Redis configured they
//! are in Redis ([`crate::cluster::bus`]): every event is numbered, kept and published by one
//! script, every replica hears it on one channel and delivers it to its own subscribers, so a
//! room has one numbering whichever replica published to it or serves its subscribers. The
//! market's rooms (`book:`, `trades:`, `orders:`) are published by the host alone.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;

use crate::bindings::bourse::platform::events::{Host, PublishError};
use crate::cluster::bus::Bus;
use crate::runtime::HostState;

/// Largest payload a component may publish.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest room name.
pub const MAX_ROOM_LEN: usize = 128;
/// Longest a publish waits for its events to reach this replica's own subscribers.
const DELIVERY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(250);
/// Events each room keeps for reconnecting clients unless configured otherwise.
pub const DEFAULT_RETAIN: usize = 1000;

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

/// The event hub: one broadcast channel per room, made when the room gets its first
/// subscriber, so a subscriber only ever sees its own rooms' events.
pub struct EventHub {
    rooms: Mutex<HashMap<String, Room>>,
    capacity: usize,
    retain: usize,
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
    sender: Option<broadcast::Sender<Event>>,
    /// The latest events, in process only (Redis keeps them otherwise).
    history: VecDeque<Event>,
}

impl Room {
    fn new() -> Room {
        Room {
            seq: 0,
            sender: None,
            history: VecDeque::new(),
        }
    }
}

/// A subscription to one room; events published after it was made.
pub struct Subscription {
    receiver: broadcast::Receiver<Event>,
    count: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next event; `Lagged` when this subscriber fell more than the room's buffer behind.
    pub async fn recv(&mut self) -> Result<Event, broadcast::error::RecvError> {
        self.receiver.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Event, broadcast::error::TryRecvError> {
        self.receiver.try_recv()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Room prefixes only the host publishes to.
pub const HOST_ROOMS: [&str; 3] = ["book:", "trades:", "orders:"];

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(4096, DEFAULT_RETAIN)
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
    /// A hub whose rooms each buffer up to `capacity` events for slow subscribers and keep
    /// their latest `retain` events for reconnecting ones.
    pub fn new(capacity: usize, retain: usize) -> EventHub {
        EventHub {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            retain,
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
        let entry = rooms.entry(room.to_string()).or_insert_with(Room::new);
        let receiver = match &entry.sender {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(self.capacity);
                entry.sender = Some(sender);
                receiver
            }
        };
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.followed.store(true, Ordering::Relaxed);
        Subscription {
            receiver,
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
    /// either), so that clients subscribing to ever new room names cannot grow the hub
    /// without bound. Through Redis the numbering and history live there, not here.
    pub fn prune(&self) -> usize {
        let shared = self.bus.get().is_some();
        let mut rooms = self.lock();
        let before = rooms.len();
        rooms.retain(|_, r| {
            r.sender.as_ref().is_some_and(|s| s.receiver_count() > 0)
                || (!shared && !r.history.is_empty())
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
            .filter(|(_, r)| r.sender.as_ref().is_some_and(|s| s.receiver_count() > 0))
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
        let entry = match rooms.get_mut(room) {
            Some(entry) => entry,
            None => rooms.entry(room.to_string()).or_insert_with(Room::new),
        };
        entry.seq += 1;
        let event = Event {
            room: room.to_string(),
            seq: entry.seq,
            source: source.to_string(),
            data,
        };
        if self.retain > 0 && self.followed.load(Ordering::Relaxed) {
            if entry.history.len() >= self.retain {
                entry.history.pop_front();
            }
            entry.history.push_back(event.clone());
        }
        if let Some(sender) = &entry.sender
            && sender.receiver_count() > 0
        {
            // Best-effort: a room nobody listens to any more just drops the event.
            let _ = sender.send(event);
        }
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
        if let Some(sender) = &entry.sender
            && sender.receiver_count() > 0
        {
            let _ = sender.send(event);
        }
        drop(rooms);
        self.delivered.notify_waiters();
    }

    /// Waits until event `seq` of `room` has reached this replica's subscribers (if it has
    /// any).
    async fn wait_delivered(&self, room: &str, seq: u64) {
        loop {
            let woken = self.delivered.notified();
            let done = match self.lock().get(room) {
                Some(r) => {
                    r.seq >= seq || r.sender.as_ref().is_none_or(|s| s.receiver_count() == 0)
                }
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
            .filter(|e| e.seq > after)
            .cloned()
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

impl Host for HostState {
    async fn publish(
        &mut self,
        room: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), PublishError>> {
        Ok(self
            .platform
            .events
            .publish(&self.component.name, &room, &payload)
            .await
            .map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn publishes_valid_events_and_refuses_bad_ones() {
        let hub = EventHub::new(8, 4);
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
        let hub = EventHub::new(8, 3);
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
        let hub = EventHub::new(8, 3);
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
}
