//! `/ws` and the event hub: who may hold which room, how many connections a client may open,
//! what a connection may send, how long private rooms outlive their credentials, and how a
//! browser gets onto the socket without putting a token in a URL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bourse_tests::ws::{Ws, next, send};
use bourse_tests::{ADMIN_TOKEN, Backend, JWT_SECRET, TestHost, app_manifest};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::common::{access, code};

/// Opens `/ws?query`, or gives the HTTP status and JSON body of the refusal.
async fn try_connect(host: &TestHost, query: &str) -> Result<Ws, (u16, Value)> {
    let url = format!("{}?{query}", host.ws_url());
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Err(e) => panic!("WebSocket upgrade failed outright: {e}"),
    }
}

/// The HTTP status and JSON body refusing `/ws?query`; panics with `why` if it opens.
async fn refused(host: &TestHost, query: &str, why: &str) -> (u16, Value) {
    match try_connect(host, query).await {
        Ok(_) => panic!("{why}: the upgrade went through"),
        Err(refusal) => refusal,
    }
}

async fn connect(host: &TestHost, query: &str) -> Ws {
    match try_connect(host, query).await {
        Ok(ws) => ws,
        Err((status, body)) => panic!("upgrade refused with {status}: {body}"),
    }
}

/// The reply to subscribing to `room`.
async fn subscribe(ws: &mut Ws, room: &str) -> Value {
    send(ws, json!({"op": "subscribe", "room": room})).await;
    next(ws).await
}

/// The close frame the server ends the connection with; panics if it keeps it open 10 s.
async fn closed(ws: &mut Ws) -> Option<CloseFrame> {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closes the connection within 10 s")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `token` (an access token of the auth component) with its expiry moved to `exp`, signed
/// again with the test secret: same principal, same claims otherwise.
fn expiring(token: &str, exp: u64) -> String {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url claims"))
            .expect("JSON claims");
    claims["exp"] = json!(exp);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(JWT_SECRET.as_bytes()).expect("any key");
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_clients_hold_only_public_rooms() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let mut ws = connect(&host, "").await;
        assert_eq!(subscribe(&mut ws, "book:AAPL").await["type"], "snapshot");
        for room in ["trades:AAPL", "signals"] {
            let reply = subscribe(&mut ws, room).await;
            assert_eq!(reply["type"], "subscribed", "{room}: {reply}");
        }
        for room in [
            "components",
            "auth:revoked",
            "simulations:0123456789abcdef",
            "chat:lobby",
            "anything-else",
        ] {
            let reply = subscribe(&mut ws, room).await;
            assert_eq!(
                reply["error"]["code"], "unauthenticated",
                "{backend:?}: an anonymous client may not hold {room}: {reply}"
            );
        }
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_components_room_is_for_operators_and_a_run_for_its_owner() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let owner = access(&host.sign_up(&bourse_tests::unique("own")).await);
        let other = access(&host.sign_up(&bourse_tests::unique("oth")).await);
        let body = json!({
            "scenario": {
                "symbols": ["AAPL"], "mid": 10000, "spread": 20, "max_quantity": 50,
                "market_percent": 10, "accounts": 5, "seed": 7, "volatility_bp": 300,
                "agents": {"noise": 60, "market_maker": 30, "momentum": 10},
            },
            "duration_ms": 60_000, "rate": 50,
        });
        let (status, run) = host
            .post("/api/simulations", Some(&owner), &body.to_string())
            .await;
        assert_eq!(status, 202, "{run}");
        let room = format!("simulations:{}", run["id"].as_str().expect("run id"));

        let mut trader = connect(&host, &format!("token={other}")).await;
        let reply = subscribe(&mut trader, "components").await;
        assert_eq!(reply["error"]["code"], "forbidden", "{backend:?}: {reply}");
        let reply = subscribe(&mut trader, &room).await;
        assert_eq!(
            reply["error"]["code"], "forbidden",
            "{backend:?}: another trader's run: {reply}"
        );

        let mut mine = connect(&host, &format!("token={owner}")).await;
        assert_eq!(subscribe(&mut mine, &room).await["type"], "subscribed");
        let mut ops = connect(&host, &format!("token={ADMIN_TOKEN}")).await;
        assert_eq!(
            subscribe(&mut ops, "components").await["type"],
            "subscribed"
        );
        assert_eq!(subscribe(&mut ops, &room).await["type"], "subscribed");
        let (status, _) = host
            .call(
                Method::DELETE,
                &format!("/api/simulations/{}", run["id"].as_str().unwrap_or("")),
                Some(&owner),
                None,
            )
            .await;
        assert!((200..300).contains(&status), "the run stops: {status}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_ip_and_per_principal() {
    for backend in Backend::ALL {
        let host = TestHost::start_custom(app_manifest(), backend, |c| {
            c.ws_max_per_ip = 3;
            c.ws_max_per_principal = 2;
        })
        .await;
        let token = access(&host.sign_up(&bourse_tests::unique("conn")).await);
        let mut held = vec![
            connect(&host, &format!("token={token}")).await,
            connect(&host, &format!("token={token}")).await,
        ];
        let (status, body) = refused(
            &host,
            &format!("token={token}"),
            "a third connection of one principal is refused",
        )
        .await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(code(&body), "too_many_connections", "{body}");

        held.push(connect(&host, "").await);
        let (status, body) =
            refused(&host, "", "a fourth connection from one address is refused").await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(code(&body), "too_many_connections", "{body}");

        // A closed connection gives its place back.
        drop(held.pop());
        let mut again = None;
        for _ in 0..100 {
            if let Ok(ws) = try_connect(&host, "").await {
                again = Some(ws);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(again.is_some(), "{backend:?}: the place was given back");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_is_refused_from_its_header() {
    use tokio::io::AsyncWriteExt;
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let mut ws = connect(&host, "").await;
    // A masked text frame announcing 8 MiB, of which only the start is sent: a server that
    // bounds frames refuses it from the header; one that does not waits for the rest.
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(8u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[b'x'; 1024]);
    match ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => {
            tcp.write_all(&frame).await.expect("write the frame start");
        }
        _ => panic!("plain TCP to the test host"),
    }
    closed(&mut ws).await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_deeper_than_the_limit_is_an_error() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let mut ws = connect(&host, "").await;
    for depth in [0u64, 1_000_000, u64::from(u32::MAX)] {
        send(
            &mut ws,
            json!({"op": "snapshot", "room": "book:AAPL", "depth": depth}),
        )
        .await;
        let reply = next(&mut ws).await;
        assert_eq!(reply["error"]["code"], "invalid_depth", "{depth}: {reply}");
    }
    send(
        &mut ws,
        json!({"op": "snapshot", "room": "book:AAPL", "depth": 20}),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "snapshot");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rooms_close_when_the_key_is_revoked() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let session = host.sign_up(&bourse_tests::unique("rev")).await;
        let (status, created) = host
            .post("/api/auth/api-keys", Some(&access(&session)), "{}")
            .await;
        assert_eq!(status, 201, "{created}");
        let key = created["api_key"].as_str().expect("key").to_string();
        let (_, listed) = host.get("/api/auth/api-keys", Some(&key)).await;
        let id = listed["api_keys"][0]["id"].as_str().expect("key id");

        let mut ws = connect(&host, &format!("token={key}")).await;
        assert_eq!(subscribe(&mut ws, "orders").await["type"], "subscribed");
        let (status, revoked) = host
            .call(
                Method::DELETE,
                &format!("/api/auth/api-keys/{id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(status, 200, "{revoked}");
        let frame = closed(&mut ws).await.expect("a close frame");
        assert_eq!(u16::from(frame.code), 4403, "{backend:?}: {frame:?}");
        assert!(frame.reason.contains("revoked"), "{frame:?}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_rooms_close_when_the_access_token_expires() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let session = host.sign_up(&bourse_tests::unique("exp")).await;
        let short = expiring(&access(&session), now() + 3);
        let mut ws = connect(&host, &format!("token={short}")).await;
        assert_eq!(subscribe(&mut ws, "orders").await["type"], "subscribed");
        let frame = closed(&mut ws).await.expect("a close frame");
        assert_eq!(u16::from(frame.code), 4401, "{backend:?}: {frame:?}");
        assert!(frame.reason.contains("expired"), "{frame:?}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_ticket_is_short_lived_single_use_and_keeps_tokens_out_of_urls() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let token = access(&host.sign_up(&bourse_tests::unique("tkt")).await);
        let (status, body) = host.post("/api/ws/ticket", None, "").await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(code(&body), "unauthenticated", "{body}");

        let (status, issued) = host.post("/api/ws/ticket", Some(&token), "").await;
        assert_eq!(status, 200, "{backend:?}: {issued}");
        let ticket = issued["ticket"].as_str().expect("ticket").to_string();
        assert!(!ticket.contains(&token) && ticket.len() >= 32, "{issued}");
        assert!(
            (1..=60).contains(&issued["expires_in"].as_u64().unwrap_or(0)),
            "{issued}"
        );
        let mut ws = connect(&host, &format!("ticket={ticket}")).await;
        assert_eq!(
            subscribe(&mut ws, "orders").await["type"],
            "subscribed",
            "the ticket carries its principal"
        );
        let (status, body) = refused(
            &host,
            &format!("ticket={ticket}"),
            "a ticket opens one connection",
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(code(&body), "invalid_ticket", "{body}");
        let (status, body) = refused(
            &host,
            "ticket=not-a-ticket-at-all",
            "an unknown ticket is refused",
        )
        .await;
        assert_eq!(status, 401, "{body}");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_may_open_websockets_to_its_own_origin_only() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let response = host
        .client
        .get(format!("{}/", host.url))
        .send()
        .await
        .expect("the page");
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let connect_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .unwrap_or_default();
    assert_eq!(connect_src, "connect-src 'self'", "{csp}");
    host.stop().await;
}
