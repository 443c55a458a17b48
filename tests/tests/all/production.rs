//! Production hardening: readiness, security headers, CORS, body limits, one JSON error shape
//! from the framework's own errors, no internal error text for clients, metrics, and roles.

use bourse::config::Role;
use bourse_tests::typed::TypedCalls;
use bourse_tests::{
    ADMIN_TOKEN, Backend, TestHost, app_manifest, app_manifest_with, app_text, manifest_from,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_headers_limits_and_error_shape() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let r = h
        .client
        .get(format!("{}/api/symbols", h.url))
        .send()
        .await
        .expect("request");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "frame-ancestors 'none'"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
    ] {
        assert_eq!(
            r.headers().get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }

    // CORS: the configured origin is allowed, another is not.
    let preflight = |origin: &'static str| {
        h.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/orders", h.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let other = preflight("https://evil.example.net")
        .await
        .expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Body over the limit on an application route: 413 in the JSON shape. Only the headers
    // are sent: the host must refuse on the declared length without reading the body.
    let answer = h
        .announce_body("POST", "/api/orders", None, 11u64 << 20)
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"body_too_large""#), "{answer}");

    // A framework error (wrong method on a platform route) is JSON too.
    let (status, json) = h.post("/health", None, "{}").await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_do_not_leak_guest_details_and_metrics_count_them() {
    let manifest = app_manifest_with(
        "[[trigger.http]]\nroute = \"/faulty/...\"\ncomponent = \"faulty\"\n\n[component.faulty]\nsource = \"target/wasm32-wasip2/release/faulty.wasm\"\n",
    );
    let h = TestHost::start(manifest, Backend::Embedded, 1_000).await;
    let (status, json) = h.get("/faulty/panic", None).await;
    assert_eq!(status, 500);
    let message = json["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("component faulty failed"), "{message}");
    for leak in ["panic", "backtrace", "wasm", "deliberate", ".rs"] {
        assert!(
            !message.contains(leak),
            "client saw internal detail {leak:?}: {message}"
        );
    }
    let (status, _) = h.get("/faulty/spin", None).await;
    assert_eq!(status, 504);
    let (status, _) = h.get("/api/symbols", None).await;
    assert_eq!(status, 200);

    let text = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let has = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        has(r#"component_calls_total{component="faulty",outcome="trap"}"#),
        "{text}"
    );
    assert!(
        has(r#"component_calls_total{component="faulty",outcome="timeout"}"#),
        "{text}"
    );
    assert!(
        has(r#"http_requests_total{method="GET",route="/api/symbols",status="200"}"#),
        "{text}"
    );
    assert!(
        has(
            r#"http_request_duration_seconds_bucket{method="GET",route="/faulty/...",status="500""#
        ),
        "{text}"
    );
    assert!(has("process_resident_memory_bytes"), "{text}");
    assert!(
        has(r#"component_instantiations_total{component="order-handler"}"#),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_runs_only_its_components() {
    let h = TestHost::start_as(
        app_manifest(),
        Backend::Embedded,
        10_000,
        false,
        Role::Simulation,
    )
    .await;
    let (status, components) = h.get("/api/components", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = components
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    // The simulation role's own component, the auth it needs, and the dashboard, which every
    // role serves.
    assert_eq!(names, ["auth", "dashboard", "simulation"]);
    let (status, json) = h.post("/api/orders", Some(ADMIN_TOKEN), "{}").await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (404, Some("not_served_here")),
        "{json}"
    );
    let message = json["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("role api or matching") && message.contains("runs simulation"),
        "{message}"
    );
    let (status, _) = h
        .post(
            "/api/simulations/preview",
            Some(ADMIN_TOKEN),
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"count":2}"#,
        )
        .await;
    assert_eq!(status, 200);
    let (status, ready) = h.get("/ready", None).await;
    assert_eq!((status, ready["role"].as_str()), (200, Some("simulation")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_naming_a_failed_component_while_health_stays_200() {
    let manifest =
        manifest_from(&app_text().replace("release/signals.wasm", "release/missing_signals.wasm"));
    let h = TestHost::start(manifest, Backend::Embedded, 10_000).await;
    let (status, health) = h.get("/health", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("degraded")));
    let (status, ready) = h.get("/ready", None).await;
    assert_eq!(status, 503);
    assert_eq!(
        ready["components"]["failed"],
        serde_json::json!(["signals"])
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_memory_bound_new_simulation_work_is_refused() {
    // A 1 MB bound: every real process is above it.
    let h =
        TestHost::start_custom(app_manifest(), Backend::Embedded, |c| c.memory_limit_mb = 1).await;
    let (status, json) = h
        .post(
            "/api/simulations/preview",
            Some(ADMIN_TOKEN),
            r#"{"symbols":["AAPL"],"mid":10000,"seed":1,"count":2}"#,
        )
        .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (503, Some("overloaded")),
        "{json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("above its bound of 1 MB"))
    );
    let scenario = bourse::bindings::exports::bourse::platform::generator::Scenario {
        symbols: vec!["AAPL".into()],
        mid: 10_000,
        spread: 10,
        max_quantity: 10,
        market_percent: 0,
        accounts: 1,
        seed: 1,
        volatility_bp: 0,
        agents: bourse::bindings::exports::bourse::platform::generator::AgentMix {
            noise: 100,
            market_maker: 0,
            momentum: 0,
        },
    };
    assert!(matches!(
        h.runtime.start_simulation("simulation", &scenario).await,
        Err(bourse::runtime::CallError::Overloaded(_))
    ));
    // Everything else keeps serving.
    let (status, _) = h.get("/api/book/AAPL", None).await;
    assert_eq!(status, 200);
    h.stop().await;
}
