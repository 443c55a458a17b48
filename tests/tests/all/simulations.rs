//! Simulation runs through the API: seeded flow from the simulation component into a sandbox
//! venue, progress on the WebSocket, results, reproducibility, stopping and the memory bound.

use std::time::Duration;

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn scenario(seed: u64) -> Value {
    json!({
        "symbols": ["AAPL", "MSFT"], "mid": 10000, "spread": 20, "max_quantity": 50,
        "market_percent": 10, "accounts": 50, "seed": seed, "volatility_bp": 300,
        "agents": {"noise": 60, "market_maker": 30, "momentum": 10},
    })
}

async fn start(host: &TestHost, body: Value) -> Value {
    let (status, run) = host
        .post("/api/simulations", Some(ADMIN_TOKEN), &body.to_string())
        .await;
    assert_eq!(status, 202, "{run}");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_with_results_and_the_same_seed_gives_the_same_market() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let body = |seed| json!({"scenario": scenario(seed), "orders": 50_000});
    let first = start(&host, body(7)).await;
    let id = first["id"].as_str().expect("id").to_string();
    let done = host.finish_run(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let progress = &done["progress"];
    assert_eq!(progress["generated"], 50_000, "{done}");
    assert!(progress["trades"].as_u64().unwrap_or(0) > 1000, "{done}");
    let hash = done["summary"]["book_hash"]
        .as_str()
        .expect("hash")
        .to_string();

    let (status, bars) = host
        .get(
            &format!("/api/simulations/{id}/bars?symbol=MSFT"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{bars}");
    let bars = bars["bars"].as_array().expect("bars").clone();
    assert!(
        bars.len() > 50,
        "about 200 bars for a bounded run: {}",
        bars.len()
    );
    for b in &bars {
        let (o, h, l, c) = (
            b["open"].as_i64(),
            b["high"].as_i64(),
            b["low"].as_i64(),
            b["close"].as_i64(),
        );
        assert!(l <= o && o <= h && l <= c && c <= h, "OHLC consistent: {b}");
    }
    let (_, trades) = host
        .get(
            &format!("/api/simulations/{id}/trades?limit=10"),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(trades["trades"].as_array().map(Vec::len), Some(10));

    let again = host
        .finish_run(start(&host, body(7)).await["id"].as_str().expect("id"))
        .await;
    assert_eq!(
        again["summary"]["book_hash"],
        hash.as_str(),
        "same scenario and seed, same book"
    );
    assert_eq!(again["progress"]["trades"], progress["trades"]);
    let other = host
        .finish_run(start(&host, body(8)).await["id"].as_str().expect("id"))
        .await;
    assert_ne!(
        other["summary"]["book_hash"],
        hash.as_str(),
        "another seed, another market"
    );
    // The live market was never touched.
    let (_, book) = host.get("/api/book/AAPL", None).await;
    assert_eq!(
        (
            book["bids"].as_array().map(Vec::len),
            book["asks"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_streams_on_the_websocket_and_a_run_can_be_stopped() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let run = start(
        &host,
        json!({"scenario": scenario(1), "duration_ms": 60_000, "rate": 20_000}),
    )
    .await;
    let id = run["id"].as_str().expect("id").to_string();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token={ADMIN_TOKEN}", host.ws_url()))
            .await
            .expect("WebSocket");
    let room = format!("simulations:{id}");
    ws.send(Message::Text(
        json!({"op": "subscribe", "room": room}).to_string().into(),
    ))
    .await
    .expect("send");
    let mut generated = Vec::new();
    while generated.len() < 3 {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("progress within 10 s")
            .expect("open")
            .expect("frame");
        let Message::Text(text) = m else { continue };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if v["room"] == room.as_str() && v["seq"].is_u64() {
            generated.push(
                v["data"]["progress"]["generated"]
                    .as_u64()
                    .expect("generated"),
            );
        }
    }
    assert!(generated.windows(2).all(|w| w[0] <= w[1]), "{generated:?}");
    let (status, _) = host
        .call(
            Method::DELETE,
            &format!("/api/simulations/{id}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let done = host.finish_run(&id).await;
    assert_eq!(done["status"], "stopped", "{done}");
    let rate = done["progress"]["orders_per_second"]
        .as_f64()
        .expect("rate");
    assert!(rate < 25_000.0, "the target rate is kept: {rate}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_memory_budget_stops_with_a_clear_status_and_bad_requests_are_named() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let run = start(
        &host,
        json!({"scenario": scenario(3), "orders": 1_000_000, "max_open_orders": 500}),
    )
    .await;
    let done = host.finish_run(run["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "stopped_memory_bound", "{done}");
    assert!(
        done["reason"]
            .as_str()
            .unwrap_or("")
            .contains("max_open_orders"),
        "{done}"
    );
    assert_eq!(
        host.get("/health", None).await.0,
        200,
        "the host keeps serving"
    );

    for (body, code, needle) in [
        (
            json!({"scenario": scenario(1)}),
            "invalid_scenario",
            "duration_ms",
        ),
        (
            json!({"scenario": {"symbols": ["AAPL"], "mid": 10000, "seed": 1,
                   "agents": {"noise": 50, "market_maker": 10, "momentum": 10}}, "orders": 10}),
            "invalid_scenario",
            "agents",
        ),
        (
            json!({"scenario": scenario(1), "orders": 10, "batch": 0}),
            "invalid_scenario",
            "batch",
        ),
        (
            json!({"scenario": scenario(1), "orders": 10, "colour": 1}),
            "invalid_body",
            "colour",
        ),
    ] {
        let (status, json) = host
            .post("/api/simulations", Some(ADMIN_TOKEN), &body.to_string())
            .await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (400, Some(code)),
            "{json}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(needle),
            "{json}"
        );
    }
    let (status, _) = host
        .post(
            "/api/simulations",
            None,
            &json!({"scenario": scenario(1), "orders": 10}).to_string(),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = host
        .get("/api/simulations/sim-nope", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 404);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admin_can_run_a_simulation_on_the_live_books() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let trader = host.api_key("ivy", &["trader"]).await;
    let live = json!({"scenario": scenario(5), "orders": 2_000, "live": true});
    let (status, json) = host
        .post("/api/simulations", Some(&trader), &live.to_string())
        .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{json}"
    );
    let run = start(&host, live).await;
    let done = host.finish_run(run["id"].as_str().expect("id")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["summary"]["book_hash"], "live");
    let (_, book) = host.get("/api/book/AAPL?depth=50", None).await;
    let resting =
        book["bids"].as_array().map_or(0, Vec::len) + book["asks"].as_array().map_or(0, Vec::len);
    assert!(resting > 0, "the live books hold the run's orders: {book}");
    let (_, stats) = host.get("/api/engine/stats", None).await;
    let durable: u64 = stats["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["durable_seq"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(durable, 2_000, "every live order was journaled: {stats}");
    host.stop().await;
}
