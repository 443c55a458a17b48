//! `bourse:platform/events` for runtimes without Bourse's event hub (Spin, `bourse up
//! --spin-compat`), composed into the components that import it. Spin has no WebSocket rooms,
//! so there is no one to deliver to: each event is checked exactly as the hub checks it (a bad
//! room or payload is the same error in both runtimes) and written to the component's log,
//! one JSON line per event, where `spin up` shows it. Delivery is best-effort by contract.

wit_bindgen::generate!({
    path: "../../wit",
    world: "bourse:platform/events-log",
    generate_all,
});

use exports::bourse::platform::events::{Guest, PublishError};

/// The hub's limits (`host/src/capabilities/events.rs`).
const MAX_ROOM_LEN: usize = 128;
const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Prefixes only the market publishes to.
const MARKET_ROOMS: [&str; 3] = ["book:", "trades:", "orders:"];

struct Component;

impl Guest for Component {
    fn publish(room: String, payload: String) -> Result<(), PublishError> {
        let well_formed = (1..=MAX_ROOM_LEN).contains(&room.len())
            && room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":_.-".contains(&b));
        if !well_formed {
            return Err(PublishError::InvalidRoom(format!(
                "room {room:?} must be 1-{MAX_ROOM_LEN} characters of [a-zA-Z0-9:_.-]"
            )));
        }
        if let Some(prefix) = MARKET_ROOMS.iter().find(|p| room.starts_with(*p)) {
            return Err(PublishError::InvalidRoom(format!(
                "rooms starting with {prefix:?} are published by the market itself"
            )));
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(PublishError::InvalidPayload(format!(
                "payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        let data: serde_json::Value = serde_json::from_str(&payload)
            .map_err(|e| PublishError::InvalidPayload(format!("payload is not JSON: {e}")))?;
        println!(
            "{}",
            serde_json::json!({"event": {"room": room, "data": data}})
        );
        Ok(())
    }
}

export!(Component);
