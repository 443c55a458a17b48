//! The order flow a trader, bot or UI uses: REST through the auth and order-handler
//! components into the native matching core, idempotent client order ids, clear 4xx errors,
//! and the WebSocket rooms that stream books, trades and the caller's own fills.

use bourse_tests::ws::{next, send, until};
use bourse_tests::{Backend, TestHost, app_manifest};
use reqwest::Method;
use serde_json::{Value, json};

async fn place(host: &TestHost, key: &str, order: Value) -> (u16, Value) {
    host.post("/api/orders", Some(key), &order.to_string())
        .await
}

fn limit(symbol: &str, side: &str, price: &str, quantity: &str) -> Value {
    json!({"symbol": symbol, "side": side, "type": "limit", "price": price, "quantity": quantity})
}

#[tokio::test]
async fn orders_are_placed_amended_listed_and_cancelled_over_rest() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let alice = host.api_key("alice", &["trader"]).await;
    let bob = host.api_key("bob", &["trader"]).await;

    let (status, resting) = place(&host, &alice, limit("AAPL", "sell", "101.50", "10")).await;
    assert_eq!(status, 201, "{resting}");
    assert_eq!(resting["status"], "accepted");
    let id = resting["order_id"].as_str().expect("order id").to_string();

    let (status, amended) = host
        .call(
            Method::PATCH,
            &format!("/api/orders/{id}"),
            Some(&alice),
            Some(r#"{"quantity":"6"}"#),
        )
        .await;
    assert_eq!(status, 200, "{amended}");
    assert_eq!(amended["remaining_quantity"], "6");

    let (status, taker) = place(&host, &bob, limit("AAPL", "buy", "102", "4")).await;
    assert_eq!(status, 201, "{taker}");
    assert_eq!(taker["status"], "filled");
    assert_eq!(taker["trades"][0]["price"], "101.5", "the maker's price");
    assert_eq!(taker["trades"][0]["aggressor"], "buy");

    let (status, mine) = host.get(&format!("/api/orders/{id}"), Some(&alice)).await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        (
            &mine["status"],
            &mine["filled_quantity"],
            &mine["remaining_quantity"]
        ),
        (&json!("partially_filled"), &json!("4"), &json!("2"))
    );
    let (status, theirs) = host.get(&format!("/api/orders/{id}"), Some(&bob)).await;
    assert_eq!(
        status, 404,
        "another account's order is invisible: {theirs}"
    );

    let (_, open) = host.get("/api/orders?status=open", Some(&alice)).await;
    assert_eq!(open["orders"].as_array().map(Vec::len), Some(1), "{open}");
    let (_, filled) = host.get("/api/orders?status=filled", Some(&bob)).await;
    assert_eq!(
        filled["orders"].as_array().map(Vec::len),
        Some(1),
        "{filled}"
    );

    let (status, trades) = host.get("/api/trades/AAPL?limit=5", None).await;
    assert_eq!(status, 200, "{trades}");
    assert_eq!(trades["trades"][0]["quantity"], "4");
    let (_, book) = host.get("/api/book/AAPL?depth=5", None).await;
    assert_eq!(book["asks"], json!([["101.5", "2"]]), "{book}");

    let (status, cancelled) = host
        .call(
            Method::DELETE,
            &format!("/api/orders/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, again) = host
        .call(
            Method::DELETE,
            &format!("/api/orders/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 404, "{again}");
    assert_eq!(again["error"]["code"], "unknown_order");

    let (status, stats) = host.get("/api/engine/stats", None).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["journal"]["enabled"], true);
    let durable: u64 = stats["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["durable_seq"].as_u64().expect("durable_seq"))
        .sum();
    assert_eq!(
        durable, 5,
        "place, amend, place, cancel and the refused cancel: {stats}"
    );
    host.stop().await;
}

#[tokio::test]
async fn a_repeated_client_order_id_returns_the_first_order_and_makes_no_second() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let key = host.api_key("carol", &["trader"]).await;
    let mut order = limit("MSFT", "buy", "300", "5");
    order["client_order_id"] = json!("carol-1");
    let (status, first) = place(&host, &key, order.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, repeat) = place(&host, &key, order.clone()).await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["order_id"], first["order_id"]);
    assert_eq!(repeat["duplicate"], true);
    // The same id on another symbol is still the same order.
    order["symbol"] = json!("SPY");
    let (status, other_symbol) = place(&host, &key, order).await;
    assert_eq!(status, 200, "{other_symbol}");
    assert_eq!(other_symbol["order_id"], first["order_id"]);
    let (_, open) = host.get("/api/orders?status=open", Some(&key)).await;
    assert_eq!(open["orders"].as_array().map(Vec::len), Some(1), "{open}");
    host.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_4xx_naming_the_field_and_the_rule() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let key = host.api_key("dave", &["trader"]).await;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", "{\"symbol\":".into(), 400, ""),
        (
            "unknown symbol",
            limit("NOPE", "buy", "1", "1").to_string(),
            400,
            "invalid_symbol",
        ),
        (
            "price off tick",
            limit("AAPL", "buy", "101.255", "1").to_string(),
            400,
            "invalid_price",
        ),
        (
            "negative quantity",
            limit("AAPL", "buy", "101", "-3").to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "zero quantity",
            limit("AAPL", "buy", "101", "0").to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "bad side",
            limit("AAPL", "hold", "101", "1").to_string(),
            400,
            "invalid_side",
        ),
        (
            "above max quantity",
            limit("AAPL", "buy", "1", "100001").to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "above max notional",
            limit("AAPL", "buy", "1000", "20000").to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "unknown field",
            json!({"symbol":"AAPL","side":"buy","price":"1","quantity":"1","colour":"red"})
                .to_string(),
            400,
            "",
        ),
    ];
    for (what, body, want, code) in cases {
        let (status, json) = host.post("/api/orders", Some(&key), &body).await;
        assert_eq!(status, want, "{what}: {json}");
        if !code.is_empty() {
            assert_eq!(json["error"]["code"], code, "{what}: {json}");
        }
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{what}: the error says what is wrong: {json}"
        );
    }
    let (_, notional) = host
        .post(
            "/api/orders",
            Some(&key),
            &limit("AAPL", "buy", "1000", "20000").to_string(),
        )
        .await;
    assert!(
        notional["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("max_order_notional"),
        "the rule is named: {notional}"
    );
    for (method, path, body, want, code) in [
        (
            Method::GET,
            "/api/orders/abc",
            None,
            400,
            "invalid_order_id",
        ),
        (
            Method::GET,
            "/api/orders/999999",
            None,
            404,
            "unknown_order",
        ),
        (
            Method::DELETE,
            "/api/orders/999999",
            None,
            404,
            "unknown_order",
        ),
        (
            Method::PATCH,
            "/api/orders/1",
            Some("{}"),
            400,
            "invalid_body",
        ),
        (
            Method::GET,
            "/api/orders?status=lost",
            None,
            400,
            "invalid_status",
        ),
        (Method::GET, "/api/trades/NOPE", None, 404, "unknown_symbol"),
    ] {
        let (status, json) = host.call(method.clone(), path, Some(&key), body).await;
        assert_eq!(status, want, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], code, "{method} {path}: {json}");
    }
    let (status, json) = host.get("/api/orders", None).await;
    assert_eq!(status, 401, "{json}");
    let huge = format!("{{\"symbol\":\"{}\"}}", "A".repeat(11 << 20));
    let response = host
        .client
        .post(format!("{}/api/orders", host.url))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 413, "oversized body");
    let (_, stats) = host.get("/api/engine/stats", None).await;
    let commands: u64 = stats["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["commands"].as_u64().expect("commands"))
        .sum();
    assert_eq!(
        commands, 0,
        "nothing half-written reached the market: {stats}"
    );
    host.stop().await;
}

#[tokio::test]
async fn a_websocket_client_gets_book_changes_trades_and_its_own_fills_in_order() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let maker = host.api_key("erin", &["trader"]).await;
    let taker = host.api_key("frank", &["trader"]).await;
    let (status, _) = place(&host, &maker, limit("SPY", "sell", "450", "3")).await;
    assert_eq!(status, 201);

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}?token={maker}", host.ws_url()))
        .await
        .expect("WebSocket upgrade");
    send(&mut ws, json!({"op": "subscribe", "room": "book:SPY"})).await;
    let snapshot = next(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(
        snapshot["data"]["asks"],
        json!([["450", "3"]]),
        "{snapshot}"
    );
    let floor = snapshot["seq"].as_u64().expect("snapshot seq");
    for room in ["trades:SPY", "orders"] {
        send(&mut ws, json!({"op": "subscribe", "room": room})).await;
        let ack = next(&mut ws).await;
        assert_eq!(ack["type"], "subscribed", "{ack}");
    }
    send(&mut ws, json!({"op": "subscribe", "room": "book:NOPE"})).await;
    assert_eq!(next(&mut ws).await["error"]["code"], "unknown_symbol");
    send(&mut ws, json!({"op": "subscribe", "room": "orders:frank"})).await;
    assert_eq!(
        next(&mut ws).await["error"]["code"],
        "invalid_room",
        "no peeking"
    );

    let (status, resting) = place(&host, &maker, limit("SPY", "sell", "451", "2")).await;
    assert_eq!(status, 201, "{resting}");
    let (status, fill) = place(&host, &taker, limit("SPY", "buy", "451", "4")).await;
    assert_eq!(status, 201, "{fill}");
    assert_eq!(fill["status"], "filled");

    let mut book_seq = floor;
    let mut asks = std::collections::BTreeMap::from([("450".to_string(), "3".to_string())]);
    let mut trades = Vec::new();
    let mut fills = Vec::new();
    while trades.len() < 2 || fills.len() < 2 || asks.len() != 1 {
        let m = next(&mut ws).await;
        match m["room"].as_str() {
            Some("book:SPY") => {
                let seq = m["seq"].as_u64().expect("seq");
                assert_eq!(seq, book_seq + 1, "book changes arrive without gaps: {m}");
                book_seq = seq;
                for level in m["data"]["asks"].as_array().expect("asks") {
                    let (p, q) = (level[0].as_str().expect("p"), level[1].as_str().expect("q"));
                    if q == "0" {
                        asks.remove(p);
                    } else {
                        asks.insert(p.to_string(), q.to_string());
                    }
                }
            }
            Some("trades:SPY") => trades.extend(
                m["data"]["trades"]
                    .as_array()
                    .expect("trades")
                    .iter()
                    .cloned(),
            ),
            Some("orders") => fills.extend(
                m["data"]["updates"]
                    .as_array()
                    .expect("updates")
                    .iter()
                    .filter(|u| u["type"] == "fill")
                    .cloned(),
            ),
            _ => panic!("unexpected message {m}"),
        }
    }
    let prices: Vec<&str> = trades
        .iter()
        .map(|t| t["price"].as_str().expect("price"))
        .collect();
    assert_eq!(prices, ["450", "451"], "price-time order");
    assert_eq!(
        asks,
        std::collections::BTreeMap::from([("451".into(), "1".into())])
    );
    assert!(fills.iter().all(|f| f["liquidity"] == "maker"), "{fills:?}");
    assert_eq!(
        fills
            .iter()
            .map(|f| f["quantity"].as_str().expect("q"))
            .collect::<Vec<_>>(),
        ["3", "1"]
    );

    // A fresh snapshot agrees with the changes applied so far.
    send(&mut ws, json!({"op": "snapshot", "room": "book:SPY"})).await;
    let again = until(&mut ws, |m| m["type"] == "snapshot").await;
    assert_eq!(again["seq"].as_u64(), Some(book_seq));
    assert_eq!(again["data"]["asks"], json!([["451", "1"]]));

    // Without credentials the own-orders room is refused, public rooms are not.
    let (mut anonymous, _) = tokio_tungstenite::connect_async(host.ws_url())
        .await
        .expect("anonymous upgrade");
    send(&mut anonymous, json!({"op": "subscribe", "room": "orders"})).await;
    assert_eq!(
        next(&mut anonymous).await["error"]["code"],
        "unauthenticated"
    );
    send(
        &mut anonymous,
        json!({"op": "subscribe", "room": "trades:SPY"}),
    )
    .await;
    assert_eq!(next(&mut anonymous).await["type"], "subscribed");
    let refused =
        tokio_tungstenite::connect_async(format!("{}?token=wrong-token", host.ws_url())).await;
    assert!(
        refused.is_err(),
        "bad credentials are refused at the upgrade"
    );
    host.stop().await;
}
