//! End to end through the HTTP front: every component's routes, good and bad input, on both
//! storage backends.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, unique};
use serde_json::Value;

async fn host(backend: Backend) -> TestHost {
    TestHost::start(app_manifest(), backend, 10_000).await
}

fn code(json: &Value) -> &str {
    json["error"]["code"].as_str().unwrap_or("<no error code>")
}

async fn platform_routes(h: &TestHost, backend: Backend) {
    let (status, health) = h.get("/health", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let (sql, kv) = match backend {
        Backend::Embedded => ("sqlite", "memory"),
        Backend::Services => ("postgres", "redis"),
    };
    assert_eq!(health["checks"]["sql"]["backend"], sql);
    assert_eq!(health["checks"]["sql"]["status"], "ok");
    assert_eq!(health["checks"]["kv"]["backend"], kv);
    assert!(health["checks"]["kv"]["latency_ms"].is_number());

    let (status, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = components
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "auth",
            "dashboard",
            "order-handler",
            "signals",
            "simulation"
        ]
    );
    for c in components.as_array().expect("a list") {
        assert_eq!(c["status"], "loaded", "{c}");
        assert!(
            c["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
            "{c}"
        );
        assert!(
            c["world"]
                .as_str()
                .is_some_and(|w| w.starts_with("bourse:platform/")),
            "{c}"
        );
    }

    let (status, json) = h.get("/no/such/route", None).await;
    assert_eq!((status, code(&json)), (404, "not_found"));
    assert!(
        json["error"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
}

async fn auth_routes(h: &TestHost) -> String {
    let (status, me) = h.get("/api/auth/me", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], "operator");

    let alice = unique("alice-");
    let key = h.api_key(&alice, &["trader"]).await;
    assert!(key.starts_with("bk_"));
    let (status, me) = h.get("/api/auth/me", Some(&key)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], format!("user:{alice}"));
    assert_eq!(me["roles"], serde_json::json!(["trader"]));
    // A second request is served from the key-value cache and must give the same answer.
    let (status, again) = h.get("/api/auth/me", Some(&key)).await;
    assert_eq!((status, &again), (200, &me));

    let cases: &[(&str, Option<&str>, &str, u16, &str)] = &[
        ("me without a token", None, "", 401, "unauthenticated"),
        (
            "unknown API key",
            Some("bk_0000"),
            "",
            401,
            "invalid_credentials",
        ),
        (
            "not a bourse key",
            Some("hello"),
            "",
            401,
            "invalid_credentials",
        ),
    ];
    for (what, token, _, want_status, want_code) in cases {
        let (status, json) = h.get("/api/auth/me", *token).await;
        assert_eq!(
            (status, code(&json)),
            (*want_status, *want_code),
            "{what}: {json}"
        );
    }
    let key_cases: &[(&str, Option<&str>, &str, u16, &str)] = &[
        (
            "trader cannot mint keys",
            Some(key.as_str()),
            r#"{"principal":"x"}"#,
            403,
            "forbidden",
        ),
        (
            "anonymous cannot mint keys",
            None,
            r#"{"principal":"x"}"#,
            401,
            "unauthenticated",
        ),
        (
            "unknown role",
            Some(ADMIN_TOKEN),
            r#"{"principal":"x","roles":["king"]}"#,
            400,
            "invalid_roles",
        ),
        (
            "bad principal",
            Some(ADMIN_TOKEN),
            r#"{"principal":"a b"}"#,
            400,
            "invalid_principal",
        ),
        (
            "unknown field",
            Some(ADMIN_TOKEN),
            r#"{"principal":"x","extra":1}"#,
            400,
            "invalid_json",
        ),
        ("not JSON", Some(ADMIN_TOKEN), "{", 400, "invalid_json"),
    ];
    for (what, token, body, want_status, want_code) in key_cases {
        let (status, json) = h.post("/api/auth/api-keys", *token, body).await;
        assert_eq!(
            (status, code(&json)),
            (*want_status, *want_code),
            "{what}: {json}"
        );
    }
    key
}

async fn order_routes(h: &TestHost, alice: &str) {
    let bob = h.api_key(&unique("bob-"), &["trader"]).await;
    let (status, symbols) = h.get("/api/symbols", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        symbols[0],
        serde_json::json!({"symbol": "AAPL", "tick_size": "0.01", "lot_size": "1"})
    );

    let sell = r#"{"symbol":"MSFT","side":"sell","type":"limit","price":"101.25","quantity":"10","client_order_id":"s-1"}"#;
    let (status, rest) = h.post("/api/orders", Some(alice), sell).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(rest["status"], "accepted");
    assert_eq!(rest["remaining_quantity"], "10");

    let buy = r#"{"symbol":"MSFT","side":"buy","type":"limit","price":"101.30","quantity":"4"}"#;
    let (status, fill) = h.post("/api/orders", Some(&bob), buy).await;
    assert_eq!(status, 201, "{fill}");
    assert_eq!(fill["status"], "filled");
    assert_eq!(
        fill["trades"][0]["price"], "101.25",
        "trades at the maker's price"
    );
    assert_eq!(fill["trades"][0]["quantity"], "4");
    assert_eq!(fill["trades"][0]["maker_order_id"], rest["order_id"]);

    let (status, book) = h.get("/api/book/MSFT?depth=5", None).await;
    assert_eq!(status, 200, "{book}");
    assert_eq!(book["asks"], serde_json::json!([["101.25", "6"]]));
    assert_eq!(book["bids"], serde_json::json!([]));
    assert!(book["sequence"].as_u64().is_some_and(|s| s > 0));

    // A client cannot claim a principal by sending the host's internal header.
    let forged = h
        .client
        .post(format!("{}/api/orders", h.url))
        .header(
            "x-bourse-principal",
            r#"{"id":"mallory","roles":["admin"]}"#,
        )
        .body(buy)
        .send()
        .await
        .expect("request reaches the host");
    assert_eq!(
        forged.status().as_u16(),
        401,
        "forged principal header must be ignored"
    );

    let cases: &[(&str, Option<&str>, &str, u16, &str)] = &[
        ("no token", None, buy, 401, "unauthenticated"),
        (
            "bad token",
            Some("bk_nope"),
            buy,
            401,
            "invalid_credentials",
        ),
        ("not JSON", Some(alice), "{", 400, "invalid_json"),
        (
            "unknown field",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1","quantity":"1","colour":"red"}"#,
            400,
            "invalid_json",
        ),
        (
            "unknown symbol",
            Some(alice),
            r#"{"symbol":"ZZZ","side":"buy","price":"1","quantity":"1"}"#,
            400,
            "invalid_symbol",
        ),
        (
            "bad side",
            Some(alice),
            r#"{"symbol":"MSFT","side":"up","price":"1","quantity":"1"}"#,
            400,
            "invalid_side",
        ),
        (
            "bad type",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","type":"stop","price":"1","quantity":"1"}"#,
            400,
            "invalid_type",
        ),
        (
            "price off tick",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"101.253","quantity":"1"}"#,
            400,
            "invalid_price",
        ),
        (
            "negative price",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"-1","quantity":"1"}"#,
            400,
            "invalid_price",
        ),
        (
            "price not a number",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1e3","quantity":"1"}"#,
            400,
            "invalid_price",
        ),
        (
            "limit without price",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","quantity":"1"}"#,
            400,
            "invalid_price",
        ),
        (
            "market with price",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","type":"market","price":"1","quantity":"1"}"#,
            400,
            "invalid_price",
        ),
        (
            "zero quantity",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1","quantity":"0"}"#,
            400,
            "invalid_quantity",
        ),
        (
            "fractional lot",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1","quantity":"1.5"}"#,
            400,
            "invalid_quantity",
        ),
        (
            "above risk limit",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1","quantity":"100001"}"#,
            400,
            "invalid_quantity",
        ),
        (
            "bad time in force",
            Some(alice),
            r#"{"symbol":"MSFT","side":"buy","price":"1","quantity":"1","time_in_force":"day"}"#,
            400,
            "invalid_time_in_force",
        ),
        (
            "post-only would cross",
            Some(&bob),
            r#"{"symbol":"MSFT","side":"buy","price":"101.25","quantity":"1","post_only":true}"#,
            422,
            "post_only_would_cross",
        ),
        (
            "fok cannot fill",
            Some(&bob),
            r#"{"symbol":"MSFT","side":"buy","price":"101.25","quantity":"7","time_in_force":"fok"}"#,
            422,
            "fok_cannot_fill",
        ),
    ];
    let (status, repeat) = h.post("/api/orders", Some(alice), sell).await;
    assert_eq!(
        (status, &repeat["duplicate"]),
        (200, &serde_json::json!(true)),
        "a reused client order id returns the earlier order: {repeat}"
    );
    for (what, token, body, want_status, want_code) in cases {
        let (status, json) = h.post("/api/orders", *token, body).await;
        assert_eq!(
            (status, code(&json)),
            (*want_status, *want_code),
            "{what}: {json}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {json}"
        );
    }
    let (status, json) = h.get("/api/book/ZZZ", None).await;
    assert_eq!((status, code(&json)), (404, "unknown_symbol"));
    let (status, json) = h.get("/api/book/MSFT?depth=0", None).await;
    assert_eq!((status, code(&json)), (400, "invalid_depth"));
    // Nothing above may have changed the book.
    let (_, after) = h.get("/api/book/MSFT?depth=5", None).await;
    assert_eq!(after["asks"], book["asks"]);
    assert_eq!(after["bids"], book["bids"]);
}

async fn signal_routes(h: &TestHost) {
    let name = unique("xlu-spy-");
    let body = serde_json::json!({
        "name": name, "numerator": [10.0, 10.5, 11.0], "denominator": [20.0, 20.0, 20.5], "lookback": 2
    });
    let (status, value) = h
        .post("/api/signals/ratio", Some(ADMIN_TOKEN), &body.to_string())
        .await;
    assert_eq!(status, 200, "{value}");
    let expected = (11.0 / 10.0) / (20.5 / 20.0);
    assert!(
        (value["ratio"].as_f64().unwrap_or(0.0) - expected).abs() < 1e-12,
        "{value}"
    );
    assert_eq!(
        value["regime"], "risk_off",
        "ratio above 1 with the default `above: risk_off`"
    );
    let (status, stored) = h.get(&format!("/api/signals/{name}"), None).await;
    assert_eq!((status, &stored), (200, &value));
    // `above` in the same spelling, and the earlier `risk-on` still taken.
    for above in ["risk_on", "risk-on"] {
        let body = serde_json::json!({
            "name": name, "numerator": [10.0, 10.5, 11.0], "denominator": [20.0, 20.0, 20.5],
            "lookback": 2, "above": above
        });
        let (status, value) = h
            .post("/api/signals/ratio", Some(ADMIN_TOKEN), &body.to_string())
            .await;
        assert_eq!(
            (status, &value["regime"]),
            (200, &serde_json::json!("risk_on")),
            "{above}: {value}"
        );
    }

    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "lengths differ",
            r#"{"name":"s","numerator":[1,2],"denominator":[1],"lookback":1}"#,
            400,
            "invalid_input",
        ),
        (
            "non-positive close",
            r#"{"name":"s","numerator":[1,0],"denominator":[1,1],"lookback":1}"#,
            400,
            "invalid_input",
        ),
        (
            "too few closes",
            r#"{"name":"s","numerator":[1,2],"denominator":[1,2],"lookback":5}"#,
            422,
            "insufficient_data",
        ),
        (
            "zero lookback",
            r#"{"name":"s","numerator":[1,2],"denominator":[1,2],"lookback":0}"#,
            400,
            "invalid_input",
        ),
        (
            "bad regime",
            r#"{"name":"s","numerator":[1,2],"denominator":[1,2],"lookback":1,"above":"up"}"#,
            400,
            "invalid_above",
        ),
        (
            "bad name",
            r#"{"name":"a b","numerator":[1,2],"denominator":[1,2],"lookback":1}"#,
            400,
            "invalid_name",
        ),
    ];
    for (what, body, want_status, want_code) in cases {
        let (status, json) = h.post("/api/signals/ratio", Some(ADMIN_TOKEN), body).await;
        assert_eq!(
            (status, code(&json)),
            (*want_status, *want_code),
            "{what}: {json}"
        );
    }
    let (status, json) = h
        .get(&format!("/api/signals/{}", unique("never-")), None)
        .await;
    assert_eq!((status, code(&json)), (404, "unknown_signal"));
}

async fn simulation_routes(h: &TestHost) {
    let body = r#"{"symbols":["AAPL","SPY"],"mid":10000,"seed":42,"count":50,"market_percent":20}"#;
    let (status, first) = h
        .post("/api/simulations/preview", Some(ADMIN_TOKEN), body)
        .await;
    assert_eq!(status, 200, "{first}");
    let orders = first["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 50);
    assert!(orders.iter().any(|o| o["type"] == "market"));
    assert!(orders.iter().all(|o| {
        o["quantity_lots"]
            .as_u64()
            .is_some_and(|q| (1..=100).contains(&q))
    }));
    let (_, second) = h
        .post("/api/simulations/preview", Some(ADMIN_TOKEN), body)
        .await;
    assert_eq!(first, second, "the same seed gives the same flow");
    let (_, other) = h
        .post(
            "/api/simulations/preview",
            Some(ADMIN_TOKEN),
            &body.replace("42", "43"),
        )
        .await;
    assert_ne!(first, other, "another seed gives another flow");

    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "no symbols",
            r#"{"symbols":[],"mid":10000,"seed":1,"count":1}"#,
            400,
            "invalid_scenario",
        ),
        (
            "mid inside spread",
            r#"{"symbols":["AAPL"],"mid":10,"spread":50,"seed":1,"count":1}"#,
            400,
            "invalid_scenario",
        ),
        (
            "count zero",
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"count":0}"#,
            400,
            "invalid_count",
        ),
        (
            "count too big",
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"count":10001}"#,
            400,
            "invalid_count",
        ),
        (
            "percent over 100",
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"count":1,"market_percent":101}"#,
            400,
            "invalid_scenario",
        ),
        (
            "missing seed",
            r#"{"symbols":["AAPL"],"mid":10000,"count":1}"#,
            400,
            "invalid_json",
        ),
    ];
    for (what, body, want_status, want_code) in cases {
        let (status, json) = h
            .post("/api/simulations/preview", Some(ADMIN_TOKEN), body)
            .await;
        assert_eq!(
            (status, code(&json)),
            (*want_status, *want_code),
            "{what}: {json}"
        );
    }
}

async fn full_api(backend: Backend) {
    let h = host(backend).await;
    platform_routes(&h, backend).await;
    let alice = auth_routes(&h).await;
    order_routes(&h, &alice).await;
    signal_routes(&h).await;
    simulation_routes(&h).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_embedded_stores() {
    full_api(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres_and_redis() {
    full_api(Backend::Services).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_lists_the_same_components() {
    let mut seen = Vec::new();
    for backend in Backend::ALL {
        let h = host(backend).await;
        let (_, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
        seen.push(components);
        h.stop().await;
    }
    assert_eq!(seen[0], seen[1]);
}
