//! `bourse:platform/events`: components publish JSON to named rooms; the hub fans it out to
//! in-process subscribers (the WebSocket hub and, later, other replicas through Redis).
//!
//! Every room numbers its events 1, 2, 3, … so a subscriber can tell when it missed one. The
//! market's rooms (`book:`, `trades:`, `orders:`) are published by the host alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::bindings::bourse::platform::events::{Host, PublishError};
use crate::runtime::HostState;

/// Largest payload a component may publish.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest room name.
pub const MAX_ROOM_LEN: usize = 128;

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

/// The in-process event hub: one broadcast channel per room, made when the room gets its first
/// subscriber, so a subscriber only ever sees its own rooms' events.
pub struct EventHub {
    rooms: Mutex<HashMap<String, Room>>,
    capacity: usize,
    subscriptions: Arc<AtomicUsize>,
}

struct Room {
    /// Last sequence number published.
    seq: u64,
    sender: Option<broadcast::Sender<Event>>,
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
        EventHub::new(4096)
    }
}

impl EventHub {
    /// A hub whose rooms each buffer up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventHub {
        EventHub {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            subscriptions: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        self.rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Receives `room`'s events published from now on.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_string()).or_insert(Room {
            seq: 0,
            sender: None,
        });
        let receiver = match &entry.sender {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = broadcast::channel(self.capacity);
                entry.sender = Some(sender);
                receiver
            }
        };
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        Subscription {
            receiver,
            count: self.subscriptions.clone(),
        }
    }

    /// Whether anyone is listening to any room (publishers may skip building events
    /// otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed) > 0
    }

    /// Publishes `data` to `room` from the host itself; returns the room's sequence number.
    pub fn publish_value(&self, source: &str, room: &str, data: &serde_json::Value) -> u64 {
        match serde_json::value::to_raw_value(data) {
            Ok(raw) => self.send(source, room, Arc::from(raw)),
            Err(_) => 0,
        }
    }

    fn send(&self, source: &str, room: &str, data: Arc<serde_json::value::RawValue>) -> u64 {
        // The lock spans the send so that a room's events enter its channel in sequence order.
        let mut rooms = self.lock();
        let entry = match rooms.get_mut(room) {
            Some(entry) => entry,
            None => rooms.entry(room.to_string()).or_insert(Room {
                seq: 0,
                sender: None,
            }),
        };
        entry.seq += 1;
        if let Some(sender) = &entry.sender
            && sender.receiver_count() > 0
        {
            // Best-effort: a room nobody listens to any more just drops the event.
            let _ = sender.send(Event {
                room: room.to_string(),
                seq: entry.seq,
                source: source.to_string(),
                data,
            });
        }
        entry.seq
    }

    /// Checks and publishes an event.
    pub fn publish(&self, source: &str, room: &str, payload: &str) -> Result<u64, PublishError> {
        let room_ok = !room.is_empty()
            && room.len() <= MAX_ROOM_LEN
            && room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'));
        if !room_ok {
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
        Ok(self.send(source, room, Arc::from(data)))
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
            .map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_valid_events_and_refuses_bad_ones() {
        let hub = EventHub::new(8);
        let mut rx = hub.subscribe("signals");
        assert_eq!(hub.publish("c", "signals", r#"{"p":1}"#), Ok(1));
        assert_eq!(hub.publish("c", "signals", r#"{"p":2}"#), Ok(2));
        assert_eq!(
            hub.publish("c", "other", r#"{"p":3}"#),
            Ok(1),
            "per-room numbering"
        );
        let event = rx.try_recv().expect("event delivered");
        assert_eq!(event.room, "signals");
        assert_eq!(event.data.get(), r#"{"p":1}"#);
        assert!(matches!(
            hub.publish("c", "trades:AAPL", "{}"),
            Err(PublishError::InvalidRoom(_))
        ));
        assert!(matches!(
            hub.publish("c", "bad room", "{}"),
            Err(PublishError::InvalidRoom(_))
        ));
        assert!(matches!(
            hub.publish("c", "r", "{nope"),
            Err(PublishError::InvalidPayload(_))
        ));
    }
}
