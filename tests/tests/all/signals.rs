//! The signals over stored bars: CSV and JSON import (validated whole, nothing half-written),
//! the latest signals and consensus, a signal's history, and a backtest — through the
//! component, on the real Postgres.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn import(host: &TestHost, symbol: &str, body: String, content_type: &str) -> (u16, Value) {
    let response = host
        .client
        .post(format!("{}/api/bars/import?symbol={symbol}", host.url))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_bars_give_signals_a_consensus_and_a_backtest() {
    let _keys = bourse_tests::signals_keys(Backend::Services).await;
    // An import is announced when it changes the stored latest state; a previous run's
    // state in the shared Redis would make the first imports here change nothing.
    bourse_tests::clear_redis_keys("bourse:kv:signals:default:signals:latest").await;
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(host.ws_url())
        .await
        .expect("WebSocket");
    ws.send(Message::Text(
        json!({"op": "subscribe", "room": "signals"})
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    for (i, symbol) in ["SPY", "XLU", "WOOD", "GLD", "TLT", "IEF"]
        .iter()
        .enumerate()
    {
        let (status, body) = import(
            &host,
            symbol,
            bourse_tests::bars::csv(i as u64 + 1, 0.0005),
            "text/csv",
        )
        .await;
        assert_eq!(status, 201, "{symbol}: {body}");
        assert_eq!(body["imported"], 400);
    }
    // VIX as JSON.
    let vix: Vec<Value> = bourse_tests::bars::csv(99, 0.0)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            json!({"date": f[0], "close": f[4].parse::<f64>().expect("close") / 8.0})
        })
        .collect();
    let (status, body) = import(
        &host,
        "^VIX",
        json!({"bars": vix}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!((status, &body["symbol"]), (201, &json!("VIX")), "{body}");

    // Imports that change a state are announced on the `signals` room.
    let mut announced = Vec::new();
    while announced.is_empty() {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a message")
            .expect("open")
            .expect("frame");
        let Message::Text(text) = m else { continue };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if v["room"] == "signals" && v["seq"].is_u64() {
            announced.push(v["data"]["changed"].clone());
        }
    }
    assert!(
        announced[0].as_array().is_some_and(|a| !a.is_empty()),
        "{announced:?}"
    );
    let (status, latest) = host.get("/api/signals", None).await;
    assert_eq!(status, 200, "{latest}");
    // What the import stored equals what a fresh computation gives.
    let (_, computed) = host.get("/api/signals?vix=threshold&trend=200", None).await;
    assert_eq!(latest["signals"], computed["signals"]);
    assert_eq!(latest["consensus"], computed["consensus"]);
    for name in ["utilities", "lumber_gold", "treasury", "vix", "trend"] {
        let s = &latest["signals"][name];
        assert!(
            s["regime"].is_string() && s["value"].is_f64(),
            "{name}: {latest}"
        );
    }
    assert!(latest["consensus"]["state"].is_string(), "{latest}");

    let (status, history) = host
        .get(
            "/api/signals/utilities/history?from=2023-06-01&to=2023-06-30",
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let points = history["points"].as_array().expect("points");
    assert!(
        (20..=22).contains(&points.len()),
        "June's trading days: {}",
        points.len()
    );
    assert_eq!(host.get("/api/signals/nope/history", None).await.0, 404);

    let (status, result) = host
        .post(
            "/api/backtests",
            Some(ADMIN_TOKEN),
            &json!({"signal": "consensus", "risk_off": "TLT", "rebalance": "weekly", "cost_bps": 5}).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    for field in ["cagr", "volatility", "sharpe", "max_drawdown"] {
        assert!(result["strategy"][field].is_f64(), "{field}: {result}");
        assert!(result["benchmark"][field].is_f64(), "{field}: {result}");
    }
    assert_eq!(result["curve"].as_array().map(Vec::len), Some(400));
    let chart = result["chart"].as_str().expect("chart link").to_string();
    let response = host
        .client
        .get(format!("{}{chart}", host.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    let svg = response.text().await.expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.ends_with("</svg>"),
        "{svg:.200}"
    );
    assert_eq!(
        svg.matches("<polyline").count(),
        2,
        "strategy and buy-and-hold"
    );
    assert!(svg.contains("fill-opacity=\"0.09\""), "regimes shaded");
    if let Ok(dir) = std::env::var("BOURSE_SCREENSHOTS") {
        let _ = std::fs::write(std::path::Path::new(&dir).join("backtest.svg"), &svg);
    }
    // The body's `params` take the query string's short forms, to the same result as the
    // long ones they stand for.
    let backtest = |params: serde_json::Value| {
        let host = &host;
        async move {
            let body = json!({"signal": "vix", "risk_off": "TLT", "params": params});
            host.post("/api/backtests", Some(ADMIN_TOKEN), &body.to_string())
                .await
        }
    };
    let (status, short) = backtest(json!({"vix": "percentile", "trend": "50_200"})).await;
    assert_eq!(status, 200, "{short}");
    let (status, long) = backtest(json!({
        "vix": {"mode": "percentile", "window": 252, "low": 0.25, "high": 0.75},
        "trend": "50_200"
    }))
    .await;
    assert_eq!(status, 200, "{long}");
    assert_eq!(short["strategy"], long["strategy"]);
    assert_eq!(short["switches"], long["switches"]);
    let (status, refused) = backtest(json!({"vix": "median"})).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("median"), "{refused}");
    let (status, _) = host
        .get("/api/backtests/0123456789abcdef", Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 404);
    let (status, _) = host
        .post("/api/backtests", None, &json!({}).to_string())
        .await;
    assert_eq!(status, 401, "backtests need credentials");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_import_names_its_lines_and_writes_nothing() {
    let host = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let mut text = bourse_tests::bars::csv(5, 0.0);
    text.push_str("2030-01-02,1,1,1,1,-4,1\n2030-01-03,1,1,1,1,abc,1\nnot-a-date,1,1,1,1,1,1\n");
    let first_date = text
        .lines()
        .nth(1)
        .and_then(|l| l.split(',').next())
        .expect("row")
        .to_string();
    text.push_str(&format!("{first_date},1,1,1,1,2,1\n"));
    let (status, body) = import(&host, "XLU", text, "text/csv").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_bars")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for needle in [
        "line 402",
        "not positive",
        "line 403",
        "line 404",
        "line 405",
        "appears again",
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let (_, history) = host.get("/api/signals/utilities/history", None).await;
    assert_eq!(history["points"], json!([]), "nothing was imported");
    let (status, body) = import(&host, "XLU", "date,close\n".into(), "text/csv").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = import(
        &host,
        "bad symbol!",
        bourse_tests::bars::csv(1, 0.0),
        "text/csv",
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_symbol")),
        "{body}"
    );
    host.stop().await;
}
