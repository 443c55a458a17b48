//! A WebSocket client of `/ws` for tests: send a message, read the next JSON one.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A client connection.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to `/ws?query` of the host at `http_url`.
pub async fn connect(http_url: &str, query: &str) -> Ws {
    let url = format!("{}/ws?{query}", http_url.replacen("http://", "ws://", 1));
    tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket upgrade")
        .0
}

/// Sends `message` as JSON text.
pub async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next JSON message (within 15 s).
pub async fn next(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message within 15 s")
            .expect("socket open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON message");
        }
    }
}

/// Reads until `pick` accepts a message (other messages are skipped).
pub async fn until(ws: &mut Ws, pick: impl Fn(&Value) -> bool) -> Value {
    loop {
        let m = next(ws).await;
        if pick(&m) {
            return m;
        }
    }
}
