//! `bourse up --spin-compat`: the application's manifest run as Spin would run it. Only Spin's
//! platform interfaces are linked; the order handler's declared dependency (the matching
//! core's wasm build) is composed into it and keeps the books in the key-value store between
//! requests, each of which gets fresh instances. The same orders give the same trades as the
//! native market.

use bourse_tests::{Backend, TestHost, app_manifest};
use serde_json::{Value, json};

/// The orders of both runs: a resting sell, a crossing buy, a resting bid, a crossing sell.
fn orders() -> Vec<(&'static str, Value)> {
    let order = |side: &str, price: &str, qty: &str, id: &str| {
        json!({"symbol": "AAPL", "side": side, "type": "limit", "price": price,
               "quantity": qty, "time_in_force": "gtc", "client_order_id": id})
    };
    vec![
        ("alice", order("sell", "101.5", "6", "a-1")),
        ("bob", order("buy", "101.75", "4", "b-1")),
        ("bob", order("buy", "100.25", "3", "b-2")),
        ("alice", order("sell", "100", "5", "a-2")),
    ]
}

/// Places the orders with `auth(account)` headers; returns (price, quantity) of every trade,
/// in order, and the book afterwards.
async fn run(
    host: &TestHost,
    auth: impl Fn(&str) -> (String, String),
) -> (Vec<(Value, Value)>, Value) {
    let mut trades = Vec::new();
    for (account, body) in orders() {
        let (name, value) = auth(account);
        let response = host
            .client
            .post(format!("{}/api/orders", host.url))
            .header(name, value)
            .json(&body)
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(status, 201, "{body}: {answer}");
        for t in answer["trades"].as_array().expect("trades") {
            trades.push((t["price"].clone(), t["quantity"].clone()));
        }
    }
    let (status, book) = host.get("/api/book/AAPL?depth=5", None).await;
    assert_eq!(status, 200, "{book}");
    (trades, json!({"bids": book["bids"], "asks": book["asks"]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composed_market_trades_as_the_native_one_across_requests() {
    let native = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let mut keys = std::collections::HashMap::new();
    for account in ["alice", "bob"] {
        keys.insert(account, native.api_key(account, &["trader"]).await);
    }
    let (native_trades, native_book) = run(&native, |account| {
        ("authorization".into(), format!("Bearer {}", keys[account]))
    })
    .await;
    native.stop().await;

    let spin =
        TestHost::start_custom(app_manifest(), Backend::Embedded, |c| c.spin_compat = true).await;
    // As under Spin there is no auth layer: the caller's identity is whatever it sends.
    let (spin_trades, spin_book) = run(&spin, |account| {
        (
            "x-bourse-principal".into(),
            json!({"id": account, "roles": ["trader"]}).to_string(),
        )
    })
    .await;
    assert_eq!(
        native_trades,
        vec![(json!("101.5"), json!("4")), (json!("100.25"), json!("3")),],
        "native trades"
    );
    assert_eq!(spin_trades, native_trades, "the composed market agrees");
    assert_eq!(spin_book, native_book);
    // Every component loads: those importing the event hub get its stand-in composed in. (The
    // application's `/...` route takes `/health`, as under Spin; the host's stays reachable
    // under its reserved prefix.)
    let (status, health) = spin.get("/.well-known/bourse/health", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["components"]["failed"], json!([]), "{health}");
    // Auth works as an ordinary HTTP component (its events go to the log).
    let account = json!({"username": "spin-user", "password": "correct horse battery"}).to_string();
    let (status, body) = spin.post("/api/auth/register", None, &account).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = spin.post("/api/auth/login", None, &account).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    // Signals: an import recomputes and publishes (to the log), then the signals read.
    let csv = "date,close\n2024-01-02,100\n2024-01-03,101\n";
    let response = spin
        .client
        .post(format!("{}/api/bars/import?symbol=SPY", spin.url))
        // Bars are shared data: only ops may import them, and here ops is whoever says so.
        .header(
            "x-bourse-principal",
            json!({"id": "ops", "roles": ["ops"]}).to_string(),
        )
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.status().as_u16(),
        201,
        "{:?}",
        response.text().await
    );
    let (status, body) = spin.get("/api/signals", None).await;
    assert_eq!(status, 200, "{body}");
    spin.stop().await;
}
