//! `bourse:platform/events`: components publish JSON to named rooms; the hub fans it out to
//! in-process subscribers (the WebSocket hub and, later, other replicas through Redis).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Hub-wide sequence number.
    pub seq: u64,
    /// The component that published it.
    pub source: String,
    /// JSON payload.
    pub data: Arc<serde_json::value::RawValue>,
}

/// The in-process event hub.
pub struct EventHub {
    sender: broadcast::Sender<Event>,
    seq: AtomicU64,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(4096)
    }
}

impl EventHub {
    /// A hub that buffers up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventHub {
        let (sender, _) = broadcast::channel(capacity);
        EventHub {
            sender,
            seq: AtomicU64::new(0),
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
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
        let data = serde_json::value::RawValue::from_string(payload.to_string())
            .map_err(|e| PublishError::InvalidPayload(format!("payload is not JSON: {e}")))?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // No subscriber is not an error: events are best-effort.
        let _ = self.sender.send(Event {
            room: room.to_string(),
            seq,
            source: source.to_string(),
            data: Arc::from(data),
        });
        Ok(seq)
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
        let mut rx = hub.subscribe();
        assert_eq!(hub.publish("c", "trades:AAPL", r#"{"p":1}"#), Ok(1));
        let event = rx.try_recv().expect("event delivered");
        assert_eq!(event.room, "trades:AAPL");
        assert_eq!(event.data.get(), r#"{"p":1}"#);
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
