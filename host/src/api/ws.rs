//! `/ws`: real-time rooms over one WebSocket.
//!
//! Client messages: `{"op":"subscribe","room":"book:AAPL"}`, `{"op":"unsubscribe",...}`,
//! `{"op":"snapshot","room":"book:AAPL"}` and `{"op":"ping"}`. Events arrive as
//! `{"room":"trades:AAPL","seq":7,"data":{...}}`, numbered per room so a gap is visible.
//! A `book:<symbol>` subscription starts with a snapshot carrying the sequence number of the
//! last change it includes; later changes give each touched level's new total (0: gone), so a
//! client that sees a gap asks for a new snapshot. The room `orders` is the caller's own order
//! updates and fills and needs credentials (`Authorization: Bearer` on the upgrade request,
//! or `?token=` where a browser cannot set headers).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::AppState;
use super::error::ApiError;
use crate::bindings::bourse::platform::types::Principal;
use crate::capabilities::events::{HOST_ROOMS, Subscription};
use crate::capabilities::market::{price_text, quantity_text};

/// Rooms one connection may hold.
const MAX_ROOMS: usize = 64;
/// Largest client message.
const MAX_MESSAGE: usize = 16 * 1024;
/// Book levels per side in a snapshot unless the client asks otherwise.
const SNAPSHOT_DEPTH: u32 = 50;

#[derive(serde::Deserialize)]
pub(super) struct Params {
    token: Option<String>,
}

#[derive(serde::Deserialize)]
struct ClientMessage {
    op: String,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    depth: Option<u32>,
}

/// Authenticates (if credentials are presented) and upgrades.
pub(super) async fn upgrade(
    State(app): State<Arc<AppState>>,
    Query(params): Query<Params>,
    mut headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let request_id = super::request_id();
    if let Some(token) = params.token
        && !headers.contains_key(header::AUTHORIZATION)
    {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(v) => {
                headers.insert(header::AUTHORIZATION, v);
            }
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_token",
                    "the token query parameter has characters a token cannot have",
                    &request_id,
                )
                .into_response();
            }
        }
    }
    let principal = match super::dispatch::authenticate(&app, &headers, &request_id).await {
        Ok(p) => p,
        Err(response) => return *response,
    };
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| Session::run(app, principal, socket))
}

struct Session {
    app: Arc<AppState>,
    principal: Option<Principal>,
    /// Hub room → the task forwarding its events to this socket.
    rooms: HashMap<String, tokio::task::JoinHandle<()>>,
    outbox: mpsc::Sender<Value>,
}

fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"type": "error", "error": {"code": code, "message": message.into()}})
}

/// Events a socket may have queued before its room forwarders wait for it.
const OUTBOX: usize = 1024;

impl Session {
    async fn run(app: Arc<AppState>, principal: Option<Principal>, mut socket: WebSocket) {
        metrics::gauge!("websocket_sessions").increment(1.0);
        let (outbox, mut events) = mpsc::channel(OUTBOX);
        let mut closing = app.closing.clone();
        let mut session = Session {
            app,
            principal,
            rooms: HashMap::new(),
            outbox,
        };
        loop {
            let out: Option<Value> = tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => Some(session.handle(text.as_str()).await),
                    Some(Ok(Message::Binary(_))) => Some(error("invalid_message", "messages are JSON text")),
                    Some(Ok(_)) => None,
                    Some(Err(_)) | None => break,
                },
                event = events.recv() => event,
                _ = closing.changed() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            };
            if let Some(out) = out
                && socket
                    .send(Message::Text(out.to_string().into()))
                    .await
                    .is_err()
            {
                break;
            }
        }
        for (_, task) in session.rooms.drain() {
            task.abort();
        }
        metrics::gauge!("websocket_sessions").decrement(1.0);
    }

    /// Forwards `room`'s events after sequence number `floor` to this socket, under the name
    /// the client used.
    fn forward(&mut self, hub_room: String, name: String, mut events: Subscription, floor: u64) {
        let outbox = self.outbox.clone();
        let task = tokio::spawn(async move {
            loop {
                let out = match events.recv().await {
                    Ok(e) if e.seq > floor => json!({"room": name, "seq": e.seq, "data": &*e.data}),
                    Ok(_) => continue,
                    // The client sees the gap in the sequence numbers and re-snapshots.
                    Err(RecvError::Lagged(missed)) => {
                        json!({"type": "lagged", "room": name, "missed": missed})
                    }
                    Err(RecvError::Closed) => break,
                };
                if outbox.send(out).await.is_err() {
                    break;
                }
            }
        });
        if let Some(old) = self.rooms.insert(hub_room, task) {
            old.abort();
        }
    }

    async fn handle(&mut self, text: &str) -> Value {
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                return error(
                    "invalid_message",
                    format!("expected {{\"op\": ..., \"room\": ...}}: {e}"),
                );
            }
        };
        let room = message.room.unwrap_or_default();
        match message.op.as_str() {
            "ping" => json!({"type": "pong"}),
            "subscribe" | "snapshot" => {
                let hub_room = match self.resolve(&room) {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                if !self.rooms.contains_key(&hub_room) && self.rooms.len() >= MAX_ROOMS {
                    return error(
                        "too_many_rooms",
                        format!("a connection may hold {MAX_ROOMS} rooms"),
                    );
                }
                let is_book = room.starts_with("book:");
                if message.op == "snapshot" && !is_book {
                    return error("invalid_room", "snapshots exist for book:<symbol> rooms");
                }
                // Subscribe before the snapshot, so no change between the two is missed.
                let events = self.app.runtime.platform().events.subscribe(&hub_room);
                if let Some(symbol) = room.strip_prefix("book:") {
                    match self
                        .book(symbol, message.depth.unwrap_or(SNAPSHOT_DEPTH))
                        .await
                    {
                        Ok((seq, data)) => {
                            self.forward(hub_room, room.clone(), events, seq);
                            json!({"type": "snapshot", "room": room, "seq": seq, "data": data})
                        }
                        Err(e) => e,
                    }
                } else {
                    self.forward(hub_room, room.clone(), events, 0);
                    json!({"type": "subscribed", "room": room})
                }
            }
            "unsubscribe" => match self.resolve(&room) {
                Ok(hub_room) => {
                    if let Some(task) = self.rooms.remove(&hub_room) {
                        task.abort();
                    }
                    json!({"type": "unsubscribed", "room": room})
                }
                Err(e) => e,
            },
            other => error(
                "invalid_op",
                format!("op {other:?} is not subscribe, unsubscribe, snapshot or ping"),
            ),
        }
    }

    /// The hub room behind a client's room name, or why it may not have it.
    fn resolve(&self, room: &str) -> Result<String, Value> {
        if room == "orders" {
            return match &self.principal {
                Some(p) => Ok(format!("orders:{}", p.id)),
                None => Err(error(
                    "unauthenticated",
                    "the orders room needs credentials: Authorization: Bearer on the upgrade, or ?token=",
                )),
            };
        }
        let market = &self.app.runtime.platform().market;
        for prefix in ["book:", "trades:"] {
            if let Some(symbol) = room.strip_prefix(prefix) {
                if market.symbols().iter().any(|s| s.symbol == symbol) {
                    return Ok(room.to_string());
                }
                return Err(error(
                    "unknown_symbol",
                    format!("symbol {symbol:?} is not traded here"),
                ));
            }
        }
        let valid = !room.is_empty()
            && room.len() <= crate::capabilities::events::MAX_ROOM_LEN
            && room
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'))
            && !HOST_ROOMS.iter().any(|p| room.starts_with(p));
        if valid {
            Ok(room.to_string())
        } else {
            Err(error(
                "invalid_room",
                format!(
                    "room {room:?} is not book:<symbol>, trades:<symbol>, orders, or a name of [a-zA-Z0-9:_.-]"
                ),
            ))
        }
    }

    async fn book(&self, symbol: &str, depth: u32) -> Result<(u64, Value), Value> {
        let market = &self.app.runtime.platform().market;
        let Some(spec) = market.symbols().iter().find(|s| s.symbol == symbol) else {
            return Err(error(
                "unknown_symbol",
                format!("symbol {symbol:?} is not traded here"),
            ));
        };
        let spec = bourse_matching::venue::SymbolInfo {
            symbol: spec.symbol.clone(),
            price_scale: spec.price_scale,
            tick: spec.tick,
            quantity_scale: spec.quantity_scale,
            lot: spec.lot,
        };
        let (seq, depth) = market
            .book(symbol, depth.clamp(1, 1000))
            .await
            .map_err(|r| error("unavailable", r.message))?;
        let side =
            |levels: &[crate::bindings::bourse::platform::types::Level]| -> Vec<[String; 2]> {
                levels
                    .iter()
                    .map(|l| [price_text(&spec, l.price), quantity_text(&spec, l.quantity)])
                    .collect()
            };
        Ok((
            seq,
            json!({"symbol": symbol, "bids": side(&depth.bids), "asks": side(&depth.asks)}),
        ))
    }
}
