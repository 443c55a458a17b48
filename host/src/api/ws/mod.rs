//! `/ws`: real-time rooms over one WebSocket.
//!
//! Client messages: `{"op":"subscribe","room":"book:AAPL"}`, `{"op":"unsubscribe",...}`,
//! `{"op":"snapshot","room":"book:AAPL"}` and `{"op":"ping"}`. Events arrive as
//! `{"room":"trades:AAPL","seq":7,"data":{...}}`, numbered per room so a gap is visible.
//! A `book:<symbol>` subscription starts with a snapshot carrying the sequence number of the
//! last change it includes; later changes give each touched level's new total (0: gone), so a
//! client that sees a gap asks for a new snapshot. The room `orders` is the caller's own order
//! updates and fills.
//!
//! Credentials: `Authorization: Bearer` on the upgrade request; from a browser, which cannot
//! set headers, a single-use `?ticket=` from `POST /api/ws/ticket` ([`tickets`]); `?token=`
//! still works for clients that send no `Origin` (bots), and is refused from browsers so that
//! no page puts a token in a URL. A connection holding credentials closes with 4401 when its
//! access token expires and 4403 when its credential is revoked (`auth:revoked`).
//!
//! Who may hold which room: anyone the market rooms (`book:<symbol>`, `trades:<symbol>`) and
//! `signals`/`signals:*`; a signed-in caller also `orders` (their own), the runs they own
//! (`simulations:<id>`) and the rooms components publish to; ops/admin also `components`,
//! `auth:*` and every run. Connections per client IP and per principal are bounded
//! ([`limits`]); so are frames and messages (at the protocol level), rooms per connection and
//! snapshot depth.
//!
//! Every connection is a session (its id comes with each `subscribed` or `snapshot`). A client
//! that reconnects, to this replica or another, with `?session=<id>` gets its rooms back and
//! every event it was not sent while away, as far back as the rooms keep them; a `subscribe`
//! with `"after": N` does the same for one room.

mod limits;
mod sessions;
mod tickets;

pub use limits::{ConnectionLimits, Connections};
pub use sessions::Sessions;
pub use tickets::Tickets;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::AppState;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::principal::{Caller, bearer, is_operator, needs_credentials};
use super::request_id::RequestId;
use crate::bindings::bourse::platform::types::Principal;
use crate::events::{Event, HOST_ROOMS, Subscription};
use crate::market::{price_text, quantity_text};
use sessions::Record;
use tickets::Credential;

/// Rooms one connection may hold.
const MAX_ROOMS: usize = 64;
/// Largest client message, and largest frame (enforced by the protocol layer as it reads a
/// frame's header, before any of it is buffered).
const MAX_MESSAGE: usize = 16 * 1024;
/// Book levels per side in a snapshot unless the client asks otherwise.
const SNAPSHOT_DEPTH: u32 = 50;
/// Most book levels per side a snapshot may ask for (as `GET /api/book/{symbol}?depth=`):
/// the matching shard builds a snapshot between orders.
const MAX_SNAPSHOT_DEPTH: u32 = 1000;
/// Close code: the access token expired (get a new one and reconnect).
const CLOSE_EXPIRED: u16 = 4401;
/// Close code: the credential was revoked.
const CLOSE_REVOKED: u16 = 4403;
/// Rooms anyone may hold, besides the market's `book:` and `trades:` rooms.
const PUBLIC_ROOMS: [&str; 1] = ["signals"];
/// Rooms for ops/admin only (exactly, or as `<name>:…`).
const OPERATOR_ROOMS: [&str; 2] = ["components", "auth"];
/// Prefix of a simulation run's room; its owner and ops/admin may hold it.
const SIMULATION_ROOM: &str = "simulations:";

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Params {
    /// A bearer token, for clients that cannot set headers (a ticket is better: it is single-use).
    token: Option<String>,
    /// A single-use ticket from `POST /api/ws/ticket`.
    ticket: Option<String>,
    /// A session to resume: the rooms it had are joined again.
    session: Option<String>,
}

#[derive(serde::Deserialize)]
struct ClientMessage {
    op: String,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    depth: Option<u32>,
    /// Replay the room's kept events after this sequence number first.
    #[serde(default)]
    after: Option<u64>,
}

/// The caller's credential: from a ticket, the bearer header or `?token=`.
async fn credential(
    app: &AppState,
    params: &Params,
    headers: &mut HeaderMap,
    request_id: &str,
) -> Result<Option<Credential>, Response> {
    if let Some(ticket) = &params.ticket {
        return match app.tickets.redeem(app.events(), ticket).await {
            Some(credential) => Ok(Some(credential)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_ticket",
                "the ticket is unknown, already used or expired: ask POST /api/ws/ticket for a new one",
                request_id,
            )
            .into_response()),
        };
    }
    if let Some(token) = &params.token
        && !headers.contains_key(header::AUTHORIZATION)
    {
        // A browser always sends Origin: its page should use a ticket, so that no token
        // ends up in a URL (proxies and access logs keep those).
        if headers.contains_key(header::ORIGIN) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "token_in_url",
                "browsers connect with ?ticket= from POST /api/ws/ticket, not ?token=",
                request_id,
            )
            .into_response());
        }
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "the token query parameter has characters a token cannot have",
                request_id,
            )
            .into_response()
        })?;
        headers.insert(header::AUTHORIZATION, value);
    }
    let Caller(principal) = Caller::from_headers(app, headers, request_id).await?;
    Ok(principal
        .zip(bearer(headers))
        .map(|(p, t)| Credential::new(&p, t)))
}

/// The answer of `POST /api/ws/ticket`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Ticket {
    /// Single use: `/ws?ticket=<ticket>`.
    ticket: String,
    /// Seconds it stays valid.
    expires_in: u64,
}

/// `POST /api/ws/ticket`: a single-use ticket onto `/ws` for the bearer credentials.
#[utoipa::path(post, path = "/api/ws/ticket", tag = "events", summary = "A single-use ticket onto /ws",
    responses(
        (status = 200, description = "The ticket and its lifetime in seconds", body = Ticket),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 503, description = "Tickets cannot be issued right now", body = ErrorBody)),
    security(("bearer" = [])))]
pub(super) async fn ticket(
    State(app): State<Arc<AppState>>,
    request_id: RequestId,
    Caller(principal): Caller,
    headers: HeaderMap,
) -> Response {
    let request_id = request_id.as_str();
    let Some(credential) = principal
        .zip(bearer(&headers))
        .map(|(p, t)| Credential::new(&p, t))
    else {
        return needs_credentials("a ticket needs", request_id).into_response();
    };
    match app.tickets.issue(app.events(), &credential).await {
        Ok(ticket) => axum::Json(Ticket {
            ticket,
            expires_in: tickets::TICKET_TTL.as_secs(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(request_id, error = %e, "could not issue a WebSocket ticket");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "tickets cannot be issued right now; try again",
                request_id,
            )
            .into_response()
        }
    }
}

/// Authenticates (if credentials are presented) and upgrades.
#[utoipa::path(get, path = "/ws", tag = "events", summary = "The WebSocket hub",
    description = "Upgrades to a WebSocket: subscribe to rooms (books, trades, the caller's \
        orders, simulation runs) with {\"op\": \"subscribe\", \"room\": ...}. Anonymous \
        callers get the public rooms; a ticket, a token or a bearer header adds the caller's own.",
    params(Params),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, description = "A ticket, token or session that is not valid", body = ErrorBody),
        (status = 429, description = "Too many connections from this client", body = ErrorBody)),
    security((), ("bearer" = [])))]
pub(super) async fn upgrade(
    State(app): State<Arc<AppState>>,
    request_id: RequestId,
    Query(params): Query<Params>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    mut headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let request_id = request_id.as_str();
    let credential = match credential(&app, &params, &mut headers, request_id).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let ip = super::access::client_ip(
        &headers,
        peer.map(|Extension(ConnectInfo(addr))| addr.ip()),
        app.config.trusted_proxies,
    );
    let place = match app
        .connections
        .admit(ip, credential.as_ref().map(|c| c.principal.as_str()))
    {
        Ok(place) => place,
        Err(refused) => {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections",
                format!("{refused}; close one first"),
                request_id,
            )
            .into_response();
        }
    };
    let resume = params.session;
    if let Some(id) = &resume
        && !sessions::valid_id(id)
    {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_session",
            "session must be 8-64 characters of [a-zA-Z0-9-], as a `session` message gave it",
            request_id,
        )
        .into_response();
    }
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            Session::run(app, credential, resume, socket).await;
            drop(place);
        })
}

/// A room this connection holds.
struct Held {
    /// The name the client uses.
    name: String,
    /// The task forwarding its events.
    task: tokio::task::JoinHandle<()>,
    /// The last sequence number sent.
    last: Arc<std::sync::atomic::AtomicU64>,
}

struct Session {
    app: Arc<AppState>,
    id: String,
    principal: Option<Principal>,
    credential: Option<Credential>,
    /// Hub room → what this connection holds of it.
    rooms: HashMap<String, Held>,
    /// Events for the socket, with the room and number they advance once written.
    outbox: mpsc::Sender<(Option<(String, u64)>, String)>,
    /// What was last written to the session store, and when.
    saved: Record,
    saved_at: std::time::Instant,
}

/// How often a session's positions are written to the session store.
const SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"type": "error", "error": {"code": code, "message": message.into()}})
}

/// Waits until `credential` can no longer be trusted, and says why as a close frame: its
/// expiry, or its hash announced on `auth:revoked`. Never returns for a connection without
/// credentials, or with an API key nobody revokes.
async fn lapse(
    credential: Option<Credential>,
    mut revocations: Option<Subscription>,
) -> CloseFrame {
    let Some(credential) = credential else {
        return std::future::pending().await;
    };
    let expiry = async {
        match credential.expires_at {
            Some(at) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                tokio::time::sleep(std::time::Duration::from_secs(at.saturating_sub(now))).await;
            }
            None => std::future::pending().await,
        }
    };
    let revoked = async {
        let Some(events) = revocations.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            match events.recv().await {
                Ok(e) => {
                    let data: Value = serde_json::from_str(e.data.get()).unwrap_or_default();
                    if data["token_sha256"].as_str() == Some(credential.token_sha256.as_str()) {
                        return "credentials revoked";
                    }
                }
                // A missed event may have been this revocation: the client proves again.
                Err(RecvError::Lagged(_)) => {
                    return "credentials revoked or not: reconnect to check them again";
                }
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    };
    tokio::select! {
        () = expiry => CloseFrame {
            code: CLOSE_EXPIRED,
            reason: "access token expired: reconnect with a fresh token or ticket".into(),
        },
        reason = revoked => CloseFrame {
            code: CLOSE_REVOKED,
            reason: reason.into(),
        },
    }
}

/// Events a socket may have queued before its room forwarders wait for it.
const OUTBOX: usize = 1024;

impl Session {
    async fn run(
        app: Arc<AppState>,
        credential: Option<Credential>,
        resume: Option<String>,
        mut socket: WebSocket,
    ) {
        metrics::gauge!("websocket_sessions").increment(1.0);
        let (outbox, mut events) = mpsc::channel(OUTBOX);
        let mut closing = app.closing.clone();
        // Subscribed before anything is sent, so a revocation from now on is seen.
        let revocations = credential
            .as_ref()
            .map(|_| app.events().subscribe("auth:revoked"));
        let lapsed = lapse(credential.clone(), revocations);
        tokio::pin!(lapsed);
        let mut session = Session {
            app,
            id: sessions::new_id(),
            principal: credential.as_ref().map(Credential::principal),
            credential,
            rooms: HashMap::new(),
            outbox,
            saved: Record::default(),
            saved_at: std::time::Instant::now(),
        };
        if let Some(id) = resume {
            for message in session.resume(id).await {
                if socket
                    .send(Message::Text(message.to_string().into()))
                    .await
                    .is_err()
                {
                    session.close().await;
                    return;
                }
            }
        }
        let mut save = tokio::time::interval(SAVE_EVERY);
        save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let out: Option<Value> = tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => Some(session.handle(text.as_str()).await),
                    Some(Ok(Message::Binary(_))) => Some(error("invalid_message", "messages are JSON text")),
                    Some(Ok(_)) => None,
                    Some(Err(_)) | None => break,
                },
                event = events.recv() => match event {
                    Some((position, out)) => {
                        if socket.send(Message::Text(out.into())).await.is_err() {
                            break;
                        }
                        // Counted as sent only once written: a resumed session may see an
                        // event twice (numbers tell), never miss one.
                        if let Some((room, seq)) = position
                            && let Some(held) = session.rooms.get(&room)
                        {
                            held.last.store(seq, std::sync::atomic::Ordering::Relaxed);
                        }
                        None
                    }
                    None => None,
                },
                _ = save.tick() => {
                    session.save().await;
                    None
                }
                _ = closing.changed() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                frame = &mut lapsed => {
                    tracing::info!(
                        session = %session.id,
                        principal = session.credential.as_ref().map_or("", |c| c.principal.as_str()),
                        reason = %frame.reason,
                        "closing a WebSocket whose credentials lapsed"
                    );
                    let _ = socket.send(Message::Close(Some(frame))).await;
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
        session.close().await;
    }

    async fn close(&mut self) {
        self.save().await;
        for (_, held) in self.rooms.drain() {
            held.task.abort();
        }
        metrics::gauge!("websocket_sessions").decrement(1.0);
    }

    fn record(&self) -> Record {
        Record {
            principal: self.principal.as_ref().map(|p| p.id.clone()),
            rooms: self
                .rooms
                .values()
                .map(|h| {
                    (
                        h.name.clone(),
                        h.last.load(std::sync::atomic::Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }

    /// Writes the session's rooms and positions if they changed.
    /// Writes the session's rooms and positions if they changed, and now and then anyway so
    /// that a quiet connection's session does not expire under it.
    async fn save(&mut self) {
        let record = self.record();
        let stale = self.saved_at.elapsed() > sessions::SESSION_TTL / 3;
        if record != self.saved || (stale && !record.rooms.is_empty()) {
            let hub = self.app.events();
            self.app.sessions.save(hub, &self.id, &record).await;
            self.saved = record;
            self.saved_at = std::time::Instant::now();
        }
    }

    /// Takes session `id` over: its rooms, each caught up from where it was left.
    async fn resume(&mut self, id: String) -> Vec<Value> {
        let hub = self.app.events();
        let me = self.principal.as_ref().map(|p| p.id.clone());
        let Some(record) = self
            .app
            .sessions
            .load(hub, &id)
            .await
            .filter(|r| r.principal == me)
        else {
            return vec![json!({"type": "session", "session": self.id, "resumed": false})];
        };
        self.id = id;
        let mut out = vec![json!({
            "type": "session",
            "session": self.id,
            "resumed": true,
            "rooms": record.rooms,
        })];
        for (room, last) in &record.rooms {
            out.push(self.join(room, "subscribe", Some(*last), None).await);
        }
        self.save().await;
        out
    }

    /// Forwards `room`'s events after sequence number `floor` to this socket, under the name
    /// the client used: first `backlog` (kept events it missed), then live ones.
    fn forward(
        &mut self,
        hub_room: String,
        name: String,
        mut events: Subscription,
        floor: u64,
        backlog: Vec<Event>,
    ) {
        let outbox = self.outbox.clone();
        let last = Arc::new(std::sync::atomic::AtomicU64::new(floor));
        let room = name.clone();
        let key = hub_room.clone();
        // Written as text around the payload as published: no parse and re-serialise of
        // every event for every subscriber.
        let room_json = Value::from(name.as_str()).to_string();
        let task = tokio::spawn(async move {
            let mut floor = floor;
            let mut backlog = backlog.into_iter();
            loop {
                let next = match backlog.next() {
                    Some(e) => Ok(e),
                    None => events.recv().await,
                };
                let out = match next {
                    // The room's numbering started again: the client sees the number fall
                    // and starts over (a book room from a new snapshot).
                    Ok(e) if e.seq > floor || (e.seq == 1 && floor > 1) => {
                        floor = e.seq;
                        (
                            Some((key.clone(), e.seq)),
                            format!(
                                r#"{{"room":{room_json},"seq":{},"data":{}}}"#,
                                e.seq,
                                e.data.get()
                            ),
                        )
                    }
                    Ok(_) => continue,
                    // The client sees the gap in the sequence numbers and re-snapshots.
                    Err(RecvError::Lagged(missed)) => (
                        None,
                        json!({"type": "lagged", "room": room, "missed": missed}).to_string(),
                    ),
                    Err(RecvError::Closed) => break,
                };
                if outbox.send(out).await.is_err() {
                    break;
                }
            }
        });
        if let Some(old) = self.rooms.insert(hub_room, Held { name, task, last }) {
            old.task.abort();
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
            op @ ("subscribe" | "snapshot") => {
                let reply = self.join(&room, op, message.after, message.depth).await;
                self.save().await;
                reply
            }
            "unsubscribe" => match self.resolve(&room) {
                Ok(hub_room) => {
                    if let Some(held) = self.rooms.remove(&hub_room) {
                        held.task.abort();
                    }
                    self.save().await;
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

    /// Subscribes to `room` (`op` subscribe or snapshot), replaying its kept events after
    /// `after` if given. A book room whose missed changes are no longer all kept starts again
    /// from a snapshot.
    async fn join(
        &mut self,
        room: &str,
        op: &str,
        after: Option<u64>,
        depth: Option<u32>,
    ) -> Value {
        let hub_room = match self.resolve(room) {
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
        if op == "snapshot" && !is_book {
            return error("invalid_room", "snapshots exist for book:<symbol> rooms");
        }
        let depth = depth.unwrap_or(SNAPSHOT_DEPTH);
        if !(1..=MAX_SNAPSHOT_DEPTH).contains(&depth) {
            return error(
                "invalid_depth",
                format!("depth must be a whole number from 1 to {MAX_SNAPSHOT_DEPTH}, not {depth}"),
            );
        }
        // Subscribe before reading history or the snapshot, so no event between is missed.
        let hub = self.app.events().clone();
        let events = hub.subscribe(&hub_room);
        if let (Some(after), "subscribe") = (after, op) {
            let history = hub.history(&hub_room, after).await;
            if !(is_book && history.missed > 0) {
                let replayed = history.events.len();
                self.forward(hub_room, room.to_string(), events, after, history.events);
                return json!({
                    "type": "subscribed", "room": room, "session": self.id,
                    "after": after, "replayed": replayed, "missed": history.missed,
                });
            }
        }
        if let Some(symbol) = room.strip_prefix("book:") {
            match self.book(symbol, depth).await {
                Ok((seq, data)) => {
                    self.forward(hub_room, room.to_string(), events, seq, Vec::new());
                    json!({"type": "snapshot", "room": room, "seq": seq, "data": data, "session": self.id})
                }
                Err(e) => e,
            }
        } else {
            self.forward(hub_room, room.to_string(), events, 0, Vec::new());
            json!({"type": "subscribed", "room": room, "session": self.id})
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
        let market = self.app.market();
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
        let valid =
            crate::events::valid_room(room) && !HOST_ROOMS.iter().any(|p| room.starts_with(p));
        if !valid {
            return Err(error(
                "invalid_room",
                format!(
                    "room {room:?} is not book:<symbol>, trades:<symbol>, orders, or a name of [a-zA-Z0-9:_.-]"
                ),
            ));
        }
        let within = |name: &str| {
            room == name
                || room
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(':'))
        };
        if PUBLIC_ROOMS.iter().any(|name| within(name)) {
            return Ok(room.to_string());
        }
        let Some(principal) = &self.principal else {
            return Err(error(
                "unauthenticated",
                format!(
                    "room {room:?} needs credentials; without them a connection may hold book:<symbol>, trades:<symbol> and signals"
                ),
            ));
        };
        let operator = is_operator(principal);
        if OPERATOR_ROOMS.iter().any(|name| within(name)) && !operator {
            return Err(error(
                "forbidden",
                format!("room {room:?} is for the ops or admin role"),
            ));
        }
        if let Some(id) = room.strip_prefix(SIMULATION_ROOM)
            && !operator
            && self
                .app
                .simulations
                .get(id)
                .is_none_or(|run| run.owner() != principal.id)
        {
            return Err(error("forbidden", format!("no simulation {id} of yours")));
        }
        Ok(room.to_string())
    }

    async fn book(&self, symbol: &str, depth: u32) -> Result<(u64, Value), Value> {
        let market = self.app.market();
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
            .book(symbol, depth)
            .await
            .map_err(|r| error("unavailable", r.message))?;
        let side = |levels: &[crate::market::Level]| -> Vec<[String; 2]> {
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
